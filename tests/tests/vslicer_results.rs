//! vSlicer's results (seed 002), reproduced: every claim of
//! `sched_sim::repro::vslicer` holds with the tolerance stated beside the
//! paper's number (`vsched repro vslicer` prints the same table).

use sched_sim::repro::{vslicer, ReproOptions};

#[test]
fn every_vslicer_claim_is_reproduced_within_its_tolerance() {
    let r = vslicer::run_all(&ReproOptions::default()).expect("experiments run");
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
    // Every figure the issue names is among the claims.
    for fig in [
        "Fig. 6a", "Fig. 6b", "Fig. 7b", "Fig. 10", "Fig. 4", "Fig. 11", "§3.1",
    ] {
        assert!(r.checks.iter().any(|c| c.figure == fig), "{fig} missing");
    }
    // One CDF per VM count, one curve per configuration, a sample per ping.
    assert_eq!(r.cdfs.len(), 3);
    for cdf in &r.cdfs {
        assert_eq!(cdf.curves.len(), 3, "{}", cdf.id);
        assert!(cdf.curves.iter().all(|c| c.samples_ns.len() > 2000));
    }
}

#[test]
fn reproductions_are_deterministic_and_seeded() {
    let a = vslicer::run_all(&ReproOptions::default()).unwrap();
    let b = vslicer::run_all(&ReproOptions::default()).unwrap();
    assert_eq!(a, b);
    let c = vslicer::run_all(&ReproOptions {
        seed: 7,
        ..ReproOptions::default()
    })
    .unwrap();
    assert_ne!(a.cdfs, c.cdfs, "the seed reaches the Poisson pings");
}
