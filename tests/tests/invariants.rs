//! DESIGN.md's invariants, checked by property tests over random scenarios
//! (see `tests::gen::scenario()` for the shapes: small hosts, and wide ones with dozens
//! of domains, many vCPUs per domain and up to 16 pCPUs; weights, caps,
//! pins, start/stop times, class changes, a pCPU out and back). The
//! simulator's checker looks at every quiescent instant from the host's
//! view: a vCPU current on two pCPUs, a removed vCPU picked, the core's
//! queues against the host's, an idle pCPU beside a queued vCPU its hard
//! affinity allows (work conservation), and a wait over the starvation
//! bound. The reports are checked for caps, starvation and sums.

use proptest::prelude::*;
use sched_core::Span;
use sched_sim::{simulate_with_stats, Scenario, SimOptions};
use tests::gen::scenario;

/// Every invariant on random scenarios, under every policy.
///
/// `INVARIANT_CASES` (default 1300) cases for each of `INVARIANT_SEEDS`
/// (default 4) fixed seeds, `INVARIANT_SEED` (default 0x5eed_2026) the first:
/// reproducible in CI like the simulator itself, and as wide as a long run
/// by hand wants (`INVARIANT_CASES=20000 INVARIANT_SEED=7 cargo test
/// --release -p tests --test invariants`). A failing case is shrunk and
/// printed, with the seed that found it.
#[test]
fn every_invariant_holds_on_random_scenarios() {
    let cases = tests::env_u64("INVARIANT_CASES", 1300) as u32;
    let seeds = tests::env_u64("INVARIANT_SEEDS", 4);
    let first = tests::env_u64("INVARIANT_SEED", 0x5eed_2026);
    for seed in first..first + seeds {
        let config = ProptestConfig {
            cases,
            rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        let mut runner = proptest::test_runner::TestRunner::new(config);
        let result = runner.run(&scenario(), |s| {
            for policy in sched_sim::policies() {
                check_run(&s, policy)
                    .map_err(|e| TestCaseError::fail(format!("under {policy}: {e}")))?;
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("seed {seed:#x}: {e}");
        }
    }
}

/// Runs `s` under `policy` and checks every invariant on the outcome.
fn check_run(s: &Scenario, policy: &str) -> Result<(), TestCaseError> {
    let opts = SimOptions {
        check_invariants: true,
        ..SimOptions::default()
    };
    let (r, stats) = simulate_with_stats(s, policy, &opts).expect("valid scenario runs");
    // Every invariant holds at every quiescent instant: no vCPU current
    // on two pCPUs, no removed vCPU picked, the core's view equal to the
    // host's, and no pCPU idle while a vCPU allowed on it waits.
    prop_assert!(
        stats.violations.is_empty(),
        "{} violations: {:?}",
        stats.violation_count,
        stats.violations
    );
    prop_assert!(stats.decisions > 0);

    let total: f64 = r.domains.iter().map(|d| d.cpu_share).sum();
    prop_assert!(total <= 1.0 + 1e-9, "shares sum to {}", total);
    for (d, cfg) in r.domains.iter().zip(&s.domains) {
        let pcpus = f64::from(s.host.pcpus);
        // A cap is a percentage of one pCPU; allow one 30 ms slice of
        // overshoot per vCPU per second-long window (credit1 parks only at
        // accounting, so a capped vCPU can run one slice past its budget).
        if cfg.cap > 0 {
            let cap_share = f64::from(cfg.cap) / 100.0 / pcpus;
            let slack = 0.03 * f64::from(cfg.vcpus) / pcpus + 0.01;
            prop_assert!(
                d.cpu_share <= cap_share + slack,
                "{} share {} over cap {}",
                d.name,
                d.cpu_share,
                cfg.cap
            );
        }
        // Nothing starves: a domain alive long enough for every vCPU of the
        // scenario to have had two 30 ms slices on its pCPUs (300 ms at
        // least) gets CPU. The checker bounds each wait more finely.
        let alive = cfg.stop.unwrap_or(s.duration) - cfg.start;
        let vcpus: i64 = s.domains.iter().map(|d| i64::from(d.vcpus)).sum();
        let pcpus = i64::from(cfg.pin.as_ref().map_or(s.host.pcpus, |p| p.len() as u16));
        if alive >= Span::ms(300).max(Span::ms(60 * (vcpus / pcpus + 1))) {
            prop_assert!(d.cpu_ns > 0, "{} starved", d.name);
        }
    }
    Ok(())
}
