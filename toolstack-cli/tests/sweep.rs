//! `vsched sweep`: the product of values, deterministic whatever the thread
//! count, shards that add up to the whole, and bad values refused up front.

mod common;

use std::process::Output;

use common::scenario;

fn vsched(args: &[&str], threads: &str) -> Output {
    common::run(args, &[("RAYON_NUM_THREADS", threads)])
}

fn sweep(extra: &[&str], threads: &str) -> Output {
    common::sweep("2s", extra, &[("RAYON_NUM_THREADS", threads)])
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

/// Runs `vsched sweep` on the EDF scenario with `extra`, expecting one line
/// on stderr, nothing on stdout and exit 2; returns the line.
fn refused(extra: &[&str]) -> String {
    let f = scenario("edf-aperiodic-ping.toml");
    let mut args = vec!["sweep", f.as_str()];
    args.extend_from_slice(extra);
    let out = vsched(&args, "1");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
    assert!(out.stdout.is_empty(), "{extra:?}");
    assert_eq!(err.lines().count(), 1, "{extra:?}: {err:?}");
    err
}

#[test]
fn sweeps_over_the_point_limit_are_refused_before_they_are_built() {
    // Counted, not expanded: 10^10 values would not fit in memory.
    let err = refused(&["--vary", "seed=0..10000000000"]);
    assert!(err.starts_with("--vary seed: 10000000001 values"), "{err}");
    assert!(err.contains("1000000"), "{err}");
    let err = refused(&["--vary", "duration=1ns..1000s/1ns"]);
    assert!(err.starts_with("--vary duration: "), "{err}");
    let err = refused(&["--vary", "seed=-9223372036854775808..9223372036854775807/1"]);
    assert!(err.starts_with("--vary seed: "), "{err}");
    // The product wraps to 230 in 64 bits: it must not run 230 points.
    let err = refused(&[
        "--vary",
        "seed=1..82609",
        "--vary",
        "domain.busy1.weight=1..69341",
        "--vary",
        "domain.busy2.weight=1..42618",
        "--vary",
        "domain.busy3.weight=1..75563",
    ]);
    assert!(err.starts_with("--vary: "), "{err}");
    assert!(err.contains("1000000"), "{err}");
    let err = refused(&[
        "--vary",
        "seed=1..1001",
        "--vary",
        "domain.busy1.weight=1..1000",
    ]);
    assert!(err.starts_with("--vary: "), "{err}");
}

#[test]
fn a_key_varied_twice_or_also_overridden_is_refused() {
    let err = refused(&["--vary", "seed=1,2", "--vary", "seed=3"]);
    assert!(err.starts_with("--vary seed: given twice"), "{err}");
    let err = refused(&["--vary", "seed=1,2", "--seed", "7"]);
    assert!(err.starts_with("--seed: "), "{err}");
    let err = refused(&["--vary", "duration=1s,2s", "--duration", "1s"]);
    assert!(err.starts_with("--duration: "), "{err}");
}

/// The sweep's JSON rows as (point, report) pairs, sorted, so sweeps whose
/// points come in another order compare equal.
fn points_and_reports(extra: &[&str]) -> Vec<String> {
    let f = scenario("edf-aperiodic-ping.toml");
    let mut args = vec![
        "sweep",
        f.as_str(),
        "--policy",
        "credit",
        "--duration",
        "300ms",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = vsched(&args, "2");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{extra:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut rows: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::json!([r["point"], r["report"]]).to_string())
        .collect();
    rows.sort();
    rows
}

#[test]
fn the_order_of_the_vary_flags_does_not_change_the_results() {
    let count = ["--vary", "domain.busy1.count=0,2"];
    let weight = ["--vary", "domain.busy1.weight=128,1024"];
    let other = ["--vary", "domain.busy2.count=1,2"];
    let a = points_and_reports(&[&count[..], &weight, &other].concat());
    let b = points_and_reports(&[&weight[..], &other, &count].concat());
    assert_eq!(a.len(), 8);
    assert_eq!(a, b);
    // Replicas copy the domain as the point configured it.
    let f = scenario("edf-aperiodic-ping.toml");
    let out = vsched(
        &[
            "sweep",
            f.as_str(),
            "--policy",
            "credit",
            "--duration",
            "3s",
            "--vary",
            "domain.busy1.count=3",
            "--vary",
            "domain.busy1.weight=1024",
            "--json",
        ],
        "1",
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r: sched_sim::Report = serde_json::from_value(v[0]["report"].clone()).unwrap();
    let share = |n: &str| r.domains.iter().find(|d| d.name == n).unwrap().cpu_share;
    assert!(share("busy1-3") > 2.0 * share("busy2"), "{r:?}");
}

#[test]
fn help_states_the_point_limit_and_how_to_join_shards() {
    let out = vsched(&["sweep", "--help"], "1");
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("at most 1000000 points"), "{help}");
    assert!(help.contains("tail -n +2"), "{help}");
}

#[test]
fn sweeps_vary_domains_given_as_an_inline_array() {
    let dir = std::env::temp_dir().join(format!("vsched-sweep-inline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("inline.toml");
    std::fs::write(
        &f,
        "name = \"inline\"\nduration = \"1s\"\nhost = { pcpus = 1 }\n\
         domain = [\n  { name = \"a\", workloads = [{ kind = \"cpu\", load = 1.0 }] },\n  \
         { name = \"b\", workloads = [{ kind = \"cpu\", load = 1.0 }] },\n]\n",
    )
    .unwrap();
    let out = vsched(
        &[
            "sweep",
            f.to_str().unwrap(),
            "--policy",
            "credit",
            "--vary",
            "domain.a.weight=256,512",
            "--vary",
            "domain.b.count=1,2",
            "--vary",
            "host.pcpus=1,2",
        ],
        "1",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    // 8 points, 2 or 3 domains each.
    assert_eq!(csv.lines().count() - 1, 4 * 2 + 4 * 3, "{csv}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_shard_with_no_points_prints_the_empty_output_and_says_so() {
    let whole = String::from_utf8(sweep(&[], "1").stdout).unwrap();
    // Nine points: shard 10 of 10 has none.
    let out = sweep(&["--shard", "10/10"], "1");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [whole.lines().next().unwrap()]
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        "--shard 10/10: no points in this shard (the sweep has 9)\n"
    );
    let out = sweep(&["--shard", "10/10", "--json"], "1");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "[]\n");
}

#[test]
fn an_empty_vary_key_or_value_is_named_as_such() {
    for (vary, starts) in [
        ("=1", "--vary \"=1\": the key is empty"),
        (" =1", "--vary \" =1\": the key is empty"),
        (
            "host.=1",
            "--vary \"host.=1\": key \"host.\" has an empty part",
        ),
        (
            "domain..weight=1",
            "--vary \"domain..weight=1\": key \"domain..weight\" has an empty part",
        ),
        ("seed=", "--vary seed: an empty value"),
        ("seed=1,,2", "--vary seed: an empty value"),
    ] {
        let err = refused(&["--vary", vary]);
        assert!(err.starts_with(starts), "{vary}: {err}");
    }
}

/// `sweep` reads its scenario through the simulator's capped reader, as
/// `simulate` does: an endless file is refused once the cap is passed, not
/// read until memory runs out. The child is killed after `LIMIT`, so a
/// reader without the cap fails here instead of hanging the suite.
#[test]
fn an_endless_scenario_file_is_refused_quickly() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    const LIMIT: Duration = Duration::from_secs(10);
    let mut child = Command::new(env!("CARGO_BIN_EXE_vsched"))
        .args(["sweep", "/dev/zero", "--vary", "seed=1,2"])
        .env_remove("VSCHED_HOST")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vsched");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("vsched sweep /dev/zero still running after {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    common::refused(&out, "/dev/zero: file: file is larger than");
}
