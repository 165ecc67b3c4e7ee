//! The traffic shaper's results (seed 001 §III-C, §V-B/C), reproduced:
//! every claim of `sched_repro::shaper` holds with its stated
//! tolerance (`vsched repro shaper` prints the same table).

use sched_repro::{shaper, ReproOptions};

#[test]
fn every_shaper_claim_is_reproduced_within_its_tolerance() {
    let r = shaper::run_all(&ReproOptions::default()).expect("experiments run");
    if let Some(f) = r.failure_report() {
        panic!(
            "not reproduced:
{f}"
        );
    }
    for fig in ["Fig. 8", "Fig. 9", "Fig. 10", "Fig. 11", "§II/III"] {
        assert!(r.checks.iter().any(|c| c.figure == fig), "{fig} missing");
    }
    assert_eq!(r.cdfs.len(), 3);
    assert_eq!(r.lines.len(), 1);
    let n: Vec<usize> = r.lines[0].curves.iter().map(|(_, p)| p.len()).collect();
    assert!(
        n.iter().all(|&n| n >= 50),
        "a point per adjust interval: {n:?}"
    );
}

#[test]
fn shaper_reproductions_are_deterministic() {
    assert_eq!(
        shaper::run_all(&ReproOptions::default()).unwrap(),
        shaper::run_all(&ReproOptions::default()).unwrap()
    );
}
