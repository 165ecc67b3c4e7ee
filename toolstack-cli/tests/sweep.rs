//! `vsched sweep`: the product of values, deterministic whatever the thread
//! count, shards that add up to the whole, and bad values refused up front.

use std::process::{Command, Output};

fn vsched(args: &[&str], threads: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vsched"))
        .args(args)
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .expect("run vsched")
}

fn scenario(name: &str) -> String {
    format!("{}/../scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn sweep(extra: &[&str], threads: &str) -> Output {
    let f = scenario("edf-aperiodic-ping.toml");
    let mut args = vec![
        "sweep",
        f.as_str(),
        "--vary",
        "domain.pinged.rt.deadline=3ms..9ms/3ms",
        "--vary",
        "domain.busy1.count=0..2",
        "--policy",
        "credit,edf-credit",
        "--duration",
        "2s",
    ];
    args.extend_from_slice(extra);
    vsched(&args, threads)
}

#[test]
fn a_sweep_is_the_product_of_its_values_and_deterministic() {
    let one = sweep(&[], "1");
    let two = sweep(&[], "2");
    assert_eq!(
        one.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    assert_eq!(
        one.stdout, two.stdout,
        "same rows whatever the thread count"
    );
    let csv = String::from_utf8(one.stdout).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0]
        .starts_with("index,domain.pinged.rt.deadline,domain.busy1.count,scenario,policy,domain,"));
    // 3 deadlines × 3 counts = 9 points; 2 policies; 5, 6 and 7 domains.
    assert_eq!(rows.len() - 1, 3 * 2 * (5 + 6 + 7));
    assert!(rows
        .iter()
        .any(|r| r.starts_with("8,9ms,2,edf-aperiodic-ping,edf-credit,busy1-2,")));
    assert!(!rows
        .iter()
        .any(|r| r.contains(",0,edf-aperiodic-ping,credit,busy1,")));
}

#[test]
fn shards_add_up_to_the_whole_sweep() {
    let whole = String::from_utf8(sweep(&[], "2").stdout).unwrap();
    let mut parts: Vec<String> = Vec::new();
    for s in ["1/3", "2/3", "3/3"] {
        let out = sweep(&["--shard", s], "2");
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        parts.extend(text.lines().skip(1).map(str::to_string));
    }
    let mut whole_rows: Vec<String> = whole.lines().skip(1).map(str::to_string).collect();
    whole_rows.sort();
    parts.sort();
    assert_eq!(parts, whole_rows);
}

#[test]
fn json_points_carry_their_values_and_reports() {
    let out = sweep(&["--json", "--shard", "1/9"], "1");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2, "one point, two policies");
    assert_eq!(rows[0]["point"]["domain.pinged.rt.deadline"], "3ms");
    assert_eq!(rows[0]["point"]["domain.busy1.count"], "0");
    let r: sched_sim::Report = serde_json::from_value(rows[1]["report"].clone()).unwrap();
    assert_eq!(r.policy, "edf-credit");
}

#[test]
fn bad_sweeps_are_refused_before_anything_runs() {
    let f = scenario("edf-aperiodic-ping.toml");
    let cases: [(&[&str], &str); 5] = [
        (
            &["--vary", "domain.nope.weight=1,2"],
            "--vary domain.nope.weight: no domain named",
        ),
        (
            &["--vary", "domain.busy1.weight=5..1"],
            "--vary domain.busy1.weight: need start <= end",
        ),
        (
            &["--vary", "domain.pinged.rt.deadline=1ms..2ms"],
            "--vary domain.pinged.rt.deadline: a duration range needs a step",
        ),
        (
            &["--vary", "domain.busy1.weight=1,0"],
            "point 1 (domain.busy1.weight=0): domain[1].weight",
        ),
        (&["--vary", "seed=1,2", "--shard", "3/2"], "--shard"),
    ];
    for (extra, starts) in cases {
        let mut args = vec!["sweep", f.as_str()];
        args.extend_from_slice(extra);
        let out = vsched(&args, "1");
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with(starts), "{extra:?}: {err}");
    }
}
