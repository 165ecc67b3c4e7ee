//! A second kind of policy behind the hosts' traits (issue 11): the test
//! fixture [`tests::fifo::Fifo`], one global FIFO runqueue with its own
//! records and no credit engine, runs through the simulator exactly as the
//! registry's policies do, with the invariant checker on; and the checker
//! catches it when it is broken.

use sched_sim::{simulate_kind, Report, Scenario, SimOptions, SimPolicy, SimStats};
use tests::fifo::Fifo;

/// Busy, half-busy and pinged domains on 4 pCPUs; a domain comes and goes;
/// a pCPU with a vCPU pinned to it alone leaves, then the accounting
/// master, then all but one (the suspend path), and all return.
const HOST: &str = include_str!("hosts/pcpus-leave-and-return.toml");

fn run<K: SimPolicy>() -> (Report, SimStats) {
    let sc = Scenario::parse(HOST, "pcpus-leave-and-return.toml").expect("the scenario parses");
    let opts = SimOptions {
        check_invariants: true,
        ..SimOptions::default()
    };
    simulate_kind::<K>(&sc, &opts).expect("the run completes")
}

#[test]
fn a_policy_that_is_not_the_credit_engine_runs_in_the_simulator() {
    let (r, st) = run::<Fifo>();
    assert_eq!(st.violation_count, 0, "{:#?}", st.violations);
    assert_eq!(r.policy, "fifo");
    // 40 s on 4 pCPUs in 10 ms slices, less the pCPUs away: about 13,500.
    assert!(st.decisions > 10_000, "{} decisions", st.decisions);
    let dom = |n: &str| r.domains.iter().find(|d| d.name == n).expect(n);
    // Round robin over one queue: each always-busy vCPU of `wide` (4) and
    // `busy` (2) gets the same CPU time, within 5 %.
    let (w, b) = (
        dom("wide").cpu_ns as f64 / 4.0,
        dom("busy").cpu_ns as f64 / 2.0,
    );
    assert!((w / b - 1.0).abs() < 0.05, "wide {w} busy {b} per vCPU");
    // Every domain ran, the late one too; the pinged one answered.
    assert!(r.domains.iter().all(|d| d.cpu_ns > 0), "{r:#?}");
    let pinged = dom("pinged");
    assert!(pinged.latency.count > 500, "{:?}", pinged.latency);
    // At most the ping in flight when the run ends.
    assert!(pinged.unanswered <= 1, "{} unanswered", pinged.unanswered);
    // A vCPU pinned to a pCPU that left ran elsewhere meanwhile.
    assert!(dom("pinned1").cpu_ns > 4_000_000_000);
}

#[test]
fn the_checker_catches_a_fifo_that_forgets_idle_pcpus() {
    let (_, st) = run::<Fifo<false>>();
    assert!(
        st.violation_count > 0,
        "a wake left beside an idle pCPU went unseen"
    );
    assert!(
        st.violations
            .iter()
            .any(|v| v.contains("(work conservation)")),
        "{:#?}",
        st.violations
    );
}

/// Input `i`: 16..2048 pseudo-random bytes (as `tests/tests/opseq.rs`).
fn input(i: u64) -> Vec<u8> {
    let mut r = sched_sim::SplitMix64::new(21 ^ i.wrapping_mul(0xa076_1d64_78bd_642f), &[]);
    let len = 16 + (r.next_u64() % 2032) as usize;
    (0..len).map(|_| r.next_u64() as u8).collect()
}

#[test]
fn the_op_sequence_fuzzer_drives_it_with_its_checks() {
    let mut ops = 0;
    for i in 0..500 {
        match tests::opseq::run::<Fifo>(&input(i)) {
            Ok(s) => ops += s.ops,
            Err(f) => panic!("input {i}: {f}"),
        }
    }
    assert!(ops > 10_000, "{ops} operations");
}

#[test]
fn the_op_sequence_fuzzer_catches_a_fifo_that_forgets_idle_pcpus() {
    let failed = (0..500).any(|i| tests::opseq::run::<Fifo<false>>(&input(i)).is_err());
    assert!(failed, "no input showed the missing tickle");
}
