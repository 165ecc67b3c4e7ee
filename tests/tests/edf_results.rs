//! EDF+credit's results (seed 001) and seed 000's stream monitor,
//! reproduced: every claim of `sched_sim::repro::edf` holds with the
//! tolerance stated beside the paper's behaviour (`vsched repro edf-credit`
//! prints the same table).

use sched_sim::repro::{edf, ReproOptions};

#[test]
fn every_edf_credit_claim_is_reproduced_within_its_tolerance() {
    let r = edf::run_all(&ReproOptions::default()).expect("experiments run");
    let failed: Vec<String> = r
        .failures()
        .map(|c| {
            format!(
                "{} {}: paper {}, ours {} (tolerance {})",
                c.figure, c.claim, c.paper, c.ours, c.tolerance
            )
        })
        .collect();
    assert!(failed.is_empty(), "not reproduced:\n{}", failed.join("\n"));
    for fig in [
        "Fig. 6", "Fig. 7a", "Fig. 7b", "Fig. 12", "Seed 000", "§III-A",
    ] {
        assert!(r.checks.iter().any(|c| c.figure == fig), "{fig} missing");
    }
    assert_eq!(r.cdfs.len(), 1);
    assert_eq!(r.cdfs[0].curves.len(), 4);
}

#[test]
fn edf_reproductions_are_deterministic() {
    let a = edf::run_all(&ReproOptions::default()).unwrap();
    let b = edf::run_all(&ReproOptions::default()).unwrap();
    assert_eq!(a, b);
}

/// §III-B on two pCPUs (the bundled `edf-driver-smp` scenario): the
/// real-time VM never runs on the driver domain's pCPU, and the driver
/// domain, run first and never preempted, answers within a millisecond.
#[test]
fn real_time_vms_stay_off_the_driver_pcpu_and_the_driver_is_served_first() {
    use sched_sim::{simulate_with_stats, Scenario, SimOptions};
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/edf-driver-smp.toml"
    );
    let sc = Scenario::from_file(path).unwrap();
    let opts = SimOptions {
        trace: true,
        check_invariants: true,
        ..SimOptions::default()
    };
    let (r, st) = simulate_with_stats(&sc, "edf-credit", &opts).unwrap();
    assert!(st.violations.is_empty(), "{:?}", st.violations);
    let web = sc.domains.iter().position(|d| d.name == "web").unwrap() as u16;
    let on0 = st
        .trace
        .iter()
        .filter(|t| t.domain == web && t.cpu == 0)
        .count();
    let on1 = st
        .trace
        .iter()
        .filter(|t| t.domain == web && t.cpu == 1)
        .count();
    assert_eq!(on0, 0, "web ran on the driver's pCPU");
    assert!(on1 > 100);
    // The credit VMs use both pCPUs.
    let batch = sc.domains.iter().position(|d| d.name == "batch1").unwrap() as u16;
    assert!(st.trace.iter().any(|t| t.domain == batch && t.cpu == 0));
    let dom0 = &r.domains[0];
    assert!(dom0.latency.max_ns <= 1_000_000, "{:?}", dom0.latency);
    let (credit, _) = simulate_with_stats(&sc, "credit", &opts).unwrap();
    assert!(
        credit.domains[0].latency.max_ns > 10_000_000,
        "credit keeps dom0 waiting"
    );
}
