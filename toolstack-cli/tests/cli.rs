//! `vsched simulate` as a user and a script see it: output shapes and the
//! exit-code contract (0 ok, 2 bad input with one stderr line, 1 internal).

mod common;

use std::process::Output;

use common::{refused, scenario};

fn vsched(args: &[&str]) -> Output {
    common::run(args, &[])
}

fn temp_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("vsched-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn json_is_one_object_for_one_policy_and_an_array_for_several() {
    let f = scenario("four-vms-one-pinged.toml");
    let out = vsched(&["simulate", &f, "--json", "--duration", "2s"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["policy"], "credit");
    assert_eq!(v["duration_ns"], 2_000_000_000i64);
    let r: sched_sim::Report = serde_json::from_value(v).unwrap();
    assert_eq!(r.domains.len(), 4);

    let out = vsched(&[
        "simulate",
        &f,
        "--json",
        "--duration",
        "1s",
        "--policy",
        "credit,credit",
    ]);
    let v: Vec<sched_sim::Report> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0], v[1], "same seed, same run");
}

#[test]
fn policy_all_runs_every_policy_there_is() {
    let f = scenario("four-vms-one-pinged.toml");
    let out = vsched(&[
        "simulate",
        &f,
        "--json",
        "--duration",
        "1s",
        "--policy",
        "all",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: Vec<sched_sim::Report> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v.iter().map(|r| r.policy.as_str()).collect();
    assert_eq!(names, sched_sim::policies());
}

#[test]
fn the_table_has_a_row_per_domain() {
    let out = vsched(&[
        "simulate",
        &scenario("six-vms-one-pinged.toml"),
        "--duration",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for name in ["lsvm", "cpu1", "cpu5"] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{text}");
    }
    assert!(text.contains("share%"));
    // cpu-only domains have no latency samples.
    let cpu1 = text.lines().find(|l| l.starts_with("cpu1")).unwrap();
    assert!(cpu1.contains(" - "), "{cpu1}");
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let f = temp_file(
        "w.toml",
        "duration = \"1s\"\n[[domain]]\nname = \"a\"\n[[domain]]\nname = \"b\"\nweight = 0\n",
    );
    let out = vsched(&["simulate", &f]);
    refused(&out, &format!("{f}:6: domain[1].weight: must be 1..65535"));

    let f = temp_file(
        "k.toml",
        "duration = \"1s\"\nsede = 3\n[[domain]]\nname = \"a\"\n",
    );
    refused(
        &vsched(&["simulate", &f]),
        &format!("{f}:2: sede: unknown field"),
    );

    let f = scenario("four-vms-one-pinged.toml");
    refused(
        &vsched(&["simulate", &f, "--policy", "credit,nope"]),
        "--policy: unknown policy \"nope\"; known: credit",
    );
    refused(
        &vsched(&["simulate", &f, "--duration", "soon"]),
        "--duration:",
    );
    refused(
        &vsched(&["simulate", "/nonexistent.toml"]),
        "/nonexistent.toml:",
    );

    let f = temp_file(
        "p.toml",
        "duration = \"1s\"\npolicy = \"edf\"\n[[domain]]\nname = \"a\"\n",
    );
    refused(
        &vsched(&["simulate", &f]),
        &format!("{f}:2: policy: unknown policy"),
    );
}

#[test]
fn repro_vslicer_prints_every_claim_and_writes_parseable_cdfs() {
    let dir = std::env::temp_dir().join(format!("vsched-plots-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.join("nested");
    let out = vsched(&["repro", "vslicer", "--plot", d.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for needle in [
        "Fig. 6a",
        "Fig. 6b",
        "Fig. 7b",
        "Fig. 10",
        "Fig. 11",
        "claims reproduced",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert!(!text.contains("FAIL"));
    for n in 3..=5 {
        let path = d.join(format!("fig7-{n}vms.svg"));
        let svg = std::fs::read_to_string(&path).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("SVG is well-formed XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let texts: Vec<&str> = doc
            .descendants()
            .filter_map(|n| n.text())
            .map(str::trim)
            .collect();
        for label in ["credit", "vSlicer 1 LSVM", "vSlicer 2 LSVMs", "CDF"] {
            assert!(texts.contains(&label), "{label} not in {path:?}");
        }
        // One polyline per curve at least (plus the legend's).
        let lines = doc
            .descendants()
            .filter(|n| n.has_tag_name("polyline"))
            .count();
        assert!(lines >= 3, "{lines} polylines in {path:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn repro_rejects_bad_input_with_one_line() {
    let out = vsched(&["repro", "vslicer", "--duration", "0s"]);
    refused(&out, "--duration");
    let file = temp_file("not-a-dir", "x");
    let out = vsched(&["repro", "vslicer", "--plot", &format!("{file}/sub")]);
    refused(&out, "--plot");
    let out = vsched(&["repro", "nosuchpaper"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn the_main_jobs_scenario_shows_the_lsvm_latency_drop_at_equal_shares() {
    let f = scenario("lsvm-ping-4vm.toml");
    let out = vsched(&["simulate", &f, "--json", "--policy", "credit,vslicer"]);
    assert_eq!(out.status.code(), Some(0));
    let v: Vec<sched_sim::Report> = serde_json::from_slice(&out.stdout).unwrap();
    let (credit, vs) = (&v[0].domains[0], &v[1].domains[0]);
    assert!(
        vs.latency.mean_ns * 2 < credit.latency.mean_ns,
        "{vs:?} vs {credit:?}"
    );
    assert!(vs.latency.max_ns <= 30_100_000, "the wave crest: {vs:?}");
    for (a, b) in v[0].domains.iter().zip(&v[1].domains) {
        assert!((a.cpu_share - b.cpu_share).abs() < 0.005, "{a:?} {b:?}");
    }
}

#[test]
fn repro_edf_credit_prints_every_claim_and_its_cdf() {
    let dir = std::env::temp_dir().join(format!("vsched-edf-plots-{}", std::process::id()));
    let out = vsched(&["repro", "edf-credit", "--plot", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for needle in [
        "Fig. 6",
        "Fig. 7b",
        "Fig. 12",
        "Seed 000",
        "§III-A",
        "6 of 6 claims reproduced",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    let svg = std::fs::read_to_string(dir.join("fig7-edf.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("SVG is well-formed XML");
    let texts: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for label in ["credit", "edf-credit D=3ms", "edf-credit D=8ms"] {
        assert!(texts.contains(&label), "{label}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulate_writes_csv_a_perfetto_trace_and_plots() {
    let dir = std::env::temp_dir().join(format!("vsched-sim-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("run.json");
    let plots = dir.join("plots");
    let f = scenario("edf-driver-smp.toml");
    let out = vsched(&[
        "simulate",
        &f,
        "--policy",
        "credit,edf-credit",
        "--duration",
        "2s",
        "--csv",
        "--trace",
        trace.to_str().unwrap(),
        "--plot",
        plots.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows.len(),
        1 + 2 * 4,
        "a header and a row per policy and domain"
    );
    let cols = rows[0].split(',').count();
    assert!(rows.iter().all(|r| r.split(',').count() == cols));
    assert!(rows[1].starts_with("edf-driver-smp,credit,dom0,"));
    // The trace is JSON with named pCPU threads and a run event per stretch.
    let t: serde_json::Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let ev = t["traceEvents"].as_array().unwrap();
    assert!(ev
        .iter()
        .any(|e| e["ph"] == "M" && e["args"]["name"] == "pCPU 1"));
    let runs: Vec<_> = ev.iter().filter(|e| e["ph"] == "X").collect();
    assert!(runs.len() > 100);
    assert!(runs
        .iter()
        .all(|e| e["dur"].as_f64().unwrap() >= 0.0 && e["name"].is_string()));
    assert!(runs.iter().any(|e| e["name"] == "web.v0" && e["pid"] == 1));
    // Plots parse as SVG and name what they show.
    for (file, label) in [
        ("latency-credit.svg", "dom0"),
        ("latency-edf-credit.svg", "web"),
        ("cpu-share.svg", "edf-credit"),
    ] {
        let svg = std::fs::read_to_string(plots.join(file)).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        assert!(
            doc.descendants()
                .any(|n| n.text().is_some_and(|t| t.trim() == label)),
            "{file}"
        );
    }
    // Bad output paths are bad input, named by flag, with nothing written.
    let out = vsched(&[
        "simulate",
        &f,
        "--duration",
        "1s",
        "--trace",
        "/nonexistent-dir/x.json",
    ]);
    refused(&out, "--trace");
    let out = vsched(&["simulate", &f, "--json", "--csv"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn argument_errors_are_one_line_and_exit_2() {
    for args in [
        &["simulate", "x.toml", "--bogus"][..],
        &["sweep"][..],
        &["repro", "nope"][..],
        &["sched-edf", "-t", "sometimes"][..],
    ] {
        let out = vsched(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.trim_end().ends_with("(see --help)"), "{err}");
    }
}

#[test]
fn repro_shaper_prints_every_claim_and_draws_the_window() {
    let dir = std::env::temp_dir().join(format!("vsched-shaper-plots-{}", std::process::id()));
    let out = vsched(&["repro", "shaper", "--plot", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("5 of 5 claims reproduced"), "{text}");
    for f in [
        "fig8-rtp.svg",
        "fig9-http.svg",
        "end-to-end.svg",
        "fig10-window.svg",
    ] {
        let svg = std::fs::read_to_string(dir.join(f)).unwrap();
        roxmltree::Document::parse(&svg).expect("well-formed SVG");
    }
    let svg = std::fs::read_to_string(dir.join("fig10-window.svg")).unwrap();
    assert!(svg.contains("d_min") && svg.contains("d_max"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn seeds_are_what_a_scenario_file_can_hold() {
    let f = scenario("lsvm-ping-4vm.toml");
    let max = i64::MAX.to_string();
    for seed in ["9223372036854775808", "18446744073709551615"] {
        for args in [
            &["simulate", f.as_str(), "--seed", seed][..],
            &["sweep", f.as_str(), "--vary", "duration=1s", "--seed", seed][..],
            &["repro", "vslicer", "--seed", seed][..],
        ] {
            refused(
                &vsched(args),
                &format!(
                    "invalid value '{seed}' for '--seed <SEED>': a seed is an integer 0..={max}"
                ),
            );
        }
    }
    let out = vsched(&["simulate", f.as_str(), "--seed", &max, "--duration", "10ms"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// `--samples` writes every sample the report's distributions summarise,
/// one file per policy when there are several, and its extremes and mean
/// agree with the report's exact ones.
#[test]
fn samples_are_streamed_to_a_csv_per_policy_and_agree_with_the_report() {
    let f = scenario("four-vms-one-pinged.toml");
    let dir = std::env::temp_dir().join(format!("vsched-samples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("run.csv");
    let out = vsched(&[
        "simulate",
        &f,
        "--json",
        "--duration",
        "3s",
        "--policy",
        "credit,vslicer",
        "--samples",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !csv.exists(),
        "several policies: one file each, not FILE itself"
    );
    let reports: Vec<sched_sim::Report> = serde_json::from_slice(&out.stdout).unwrap();
    for r in &reports {
        let path = dir.join(format!("run-{}.csv", r.policy));
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("domain,kind,at_ns,value_ns"));
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        for d in &r.domains {
            for (kind, dist) in [
                ("latency", &d.latency),
                ("sched_latency", &d.sched_latency),
                ("wait", &d.wait),
            ] {
                let v: Vec<u64> = rows
                    .iter()
                    .filter(|c| c[0] == d.name && c[1] == kind)
                    .map(|c| c[3].parse().unwrap())
                    .collect();
                let what = format!("{} {} {kind}", r.policy, d.name);
                assert_eq!(v.len() as u64, dist.count, "{what}");
                if v.is_empty() {
                    continue;
                }
                assert_eq!(*v.iter().max().unwrap(), dist.max_ns, "{what}");
                assert_eq!(*v.iter().min().unwrap(), dist.min_ns, "{what}");
                assert_eq!(
                    v.iter().sum::<u64>() / v.len() as u64,
                    dist.mean_ns,
                    "{what}"
                );
            }
        }
        assert!(
            !dir.join(format!("run-{}.csv.part", r.policy)).exists(),
            "no partial file left"
        );
    }
    assert!(
        reports[0].domains[0].latency.count > 100,
        "the pinged VM's replies are there"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
