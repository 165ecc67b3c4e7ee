//! Xen 4.17's own credit1 (`xen-oracle`: `credit.c` compiled unmodified
//! from Debian's source) run by the simulator as `xen-credit`, beside this
//! project's `credit`.

use sched_sim::{simulate_with_stats, Scenario, SimOptions};

fn checked() -> SimOptions {
    SimOptions {
        check_invariants: true,
        ..Default::default()
    }
}

/// Every bundled scenario runs under Xen's credit1 with the checker on.
/// Ours passes every check; Xen's breaks only work conservation (a pCPU
/// idles while a vCPU it may run waits elsewhere: the credit1 gaps our
/// declared departures close, README "Departures"), never the others
/// (starvation, a vCPU run twice or lost, affinity).
#[test]
fn xens_credit1_runs_every_bundled_scenario() {
    if !tests::xen_oracle_or_skip() {
        return;
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for f in &files {
        let sc =
            Scenario::parse(&std::fs::read_to_string(f).unwrap(), &f.to_string_lossy()).unwrap();
        for policy in ["credit", "xen-credit"] {
            let (r, st) = simulate_with_stats(&sc, policy, &checked()).unwrap();
            let busy: f64 = r.domains.iter().map(|d| d.cpu_share).sum();
            eprintln!(
                "{:<28} {policy:<10} decisions {:>7} violations {:>4} shares {:?}",
                f.file_name().unwrap().to_string_lossy(),
                st.decisions,
                st.violation_count,
                r.domains
                    .iter()
                    .map(|d| (d.cpu_share * 1e4).round() / 1e2)
                    .collect::<Vec<_>>()
            );
            if let Some(v) = st.violations.first() {
                eprintln!("    first: {v}");
            }
            assert!(st.decisions > 0 && busy > 0.0, "{f:?} {policy}");
            match policy {
                "credit" => assert_eq!(st.violations, Vec::<String>::new(), "{f:?}"),
                _ => {
                    let other = st
                        .violations
                        .iter()
                        .find(|v| !v.ends_with("(work conservation)"));
                    assert!(other.is_none(), "{f:?} {policy}: {other:?}");
                }
            }
        }
    }
}
