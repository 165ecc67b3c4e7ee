//! Xen 4.17's own credit1 (`xen-oracle`: `credit.c` compiled unmodified
//! from Debian's source) run by the simulator as `xen-credit`, beside this
//! project's `credit`.

use sched_sim::{simulate_with_stats, Scenario, SimOptions};

/// The bundled scenarios (`scenarios/*.toml`), by file name.
fn bundled() -> Vec<(std::path::PathBuf, Scenario)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let sc = Scenario::parse(&text, &f.to_string_lossy()).unwrap();
            (f, sc)
        })
        .collect()
}

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
    for (f, sc) in bundled() {
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

/// `scenario` with the pool's `xen_exact` on.
fn exact(mut sc: Scenario) -> Scenario {
    sc.pool.xen_exact = Some(true);
    sc
}

/// Every bundled scenario under `credit` in Xen-exact mode and under Xen's
/// own credit1: the same decisions, switch by switch.
#[test]
fn exact_credit_decides_as_xens_credit1_on_every_bundled_scenario() {
    if !tests::xen_oracle_or_skip() {
        return;
    }
    let mut bad = Vec::new();
    for (f, sc) in bundled() {
        let c = tests::differential::compare(&exact(sc), "credit", "xen-credit");
        eprintln!(
            "{:<28} {} of {:?} switches identical",
            f.file_name().unwrap().to_string_lossy(),
            c.same,
            c.total
        );
        if let Some(d) = c.divergence {
            bad.push(format!("{}: {d}", f.display()));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Random scenarios (`tests::gen::scenario`: 1-16 pCPUs, weights, caps,
/// pins, busy, duty-cycle and pinged vCPUs waking off the tick grid,
/// domains starting and stopping, a pCPU leaving and coming back, 3 s
/// each) under `credit` in Xen-exact mode and under Xen's own credit1:
/// identical decisions, switch by switch. A difference is shrunk
/// (`differential::shrink`) and printed as a scenario file, with both
/// sides' events and the schedulers' own dumps at that instant.
///
/// `DIFF_CASES` (default 1000) cases for each of `DIFF_SEEDS` (default 1)
/// seeds from `DIFF_SEED`.
#[test]
fn exact_credit_decides_as_xens_credit1_on_random_scenarios() {
    use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
    use std::cell::Cell;
    if !tests::xen_oracle_or_skip() {
        return;
    }
    let cases = tests::env_u64("DIFF_CASES", 1000) as u32;
    let seeds = tests::env_u64("DIFF_SEEDS", 1);
    let first = tests::env_u64("DIFF_SEED", 0xd1ff_2026);
    let (runs, switches) = (Cell::new(0u64), Cell::new(0u64));
    for seed in first..first + seeds {
        let mut runner = TestRunner::new(Config {
            cases,
            rng_seed: RngSeed::Fixed(seed),
            failure_persistence: None,
            // Our own shrinker does better on these (see below).
            max_shrink_iters: 0,
            ..Config::default()
        });
        let result = runner.run(&tests::gen::scenario(), |s| {
            let c = tests::differential::compare(&exact(s), "credit", "xen-credit");
            runs.set(runs.get() + 1);
            switches.set(switches.get() + c.total.0 as u64);
            match c.divergence {
                Some(_) => Err(TestCaseError::fail("decisions differ")),
                None => Ok(()),
            }
        });
        match result {
            Ok(()) => {}
            Err(TestError::Fail(_, sc)) => {
                let small = tests::differential::shrink(&exact(sc), "credit", "xen-credit");
                let c = tests::differential::compare(&small, "credit", "xen-credit");
                panic!(
                    "seed {seed:#x}, case {}: credit (exact) and xen-credit differ; shrunk to:\n{}\n{}",
                    runs.get(),
                    tests::differential::to_toml(&small),
                    c.divergence.unwrap_or_default()
                );
            }
            Err(e) => panic!("seed {seed:#x}: {e}"),
        }
    }
    eprintln!(
        "{} random scenarios, {} switches, identical under credit (exact) and xen-credit",
        runs.get(),
        switches.get()
    );
}
