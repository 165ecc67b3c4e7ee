//! pCPUs going away and coming back (issue 14): `[[change]] pcpu = N,
//! online = false|true`, as Xen's CPU offline/online and suspend/resume.
//! Under every policy, with the invariant checker on: nothing is lost, a
//! vCPU pinned to a leaving pCPU has its affinity broken and restored, the
//! accounting master can leave, all pCPUs but one can leave and return, and
//! shares recover once the pCPUs are back.

use sched_sim::{Scenario, SimOptions, TraceRun};

/// Every policy's pCPUs leave and return (also the host of
/// `second_policy.rs`).
const LEAVE_AND_RETURN: &str = include_str!("hosts/pcpus-leave-and-return.toml");
/// CPU time per domain from `t0` to `t1`, from the trace.
fn cpu_between(trace: &[TraceRun], doms: usize, t0: i64, t1: i64) -> Vec<i64> {
    let mut v = vec![0; doms];
    for r in trace {
        let (s, e) = (r.start_ns.max(t0), r.end_ns.min(t1));
        if e > s {
            v[usize::from(r.domain)] += e - s;
        }
    }
    v
}

#[test]
fn pcpus_leave_and_return_under_every_policy() {
    let sc = Scenario::parse(LEAVE_AND_RETURN, "leave.toml").unwrap();
    let opts = SimOptions {
        check_invariants: true,
        trace: true,
        ..SimOptions::default()
    };
    let s = 1_000_000_000i64;
    for policy in sched_sim::policies() {
        let (r, stats) = tests::run_checked(&sc, policy, &opts);
        let n = sc.domains.len();
        // Only pCPU 3 runs from 15 s to 20 s; pCPUs that are out run nothing.
        for t in &stats.trace {
            let out = match t.cpu {
                1 => (5 * s, 20 * s),
                0 => (10 * s, 20 * s),
                2 => (15 * s, 20 * s),
                _ => (0, 0),
            };
            assert!(
                t.end_ns <= out.0 || t.start_ns >= out.1,
                "{policy}: cpu{} ran {}..{} while out of the pool",
                t.cpu,
                t.start_ns,
                t.end_ns
            );
        }
        // Every domain keeps running while the pool shrinks to one pCPU
        // (the pinned vCPU's affinity broken) ...
        let alone = cpu_between(&stats.trace, n, 16 * s, 20 * s);
        for (d, t) in alone.iter().enumerate() {
            if sc.domains[d].name != "half" {
                assert!(
                    *t > 0,
                    "{policy}: {} got nothing on one pCPU",
                    sc.domains[d].name
                );
            }
        }
        // ... the pinned vCPU is back on pCPU 1 alone once it returns ...
        let back: Vec<&TraceRun> = stats
            .trace
            .iter()
            .filter(|t| t.domain == 0 && t.start_ns >= 21 * s)
            .collect();
        assert!(
            !back.is_empty() && back.iter().all(|t| t.cpu == 1),
            "{policy}: pinned1 after the return"
        );
        // ... and the shares recover: in 30..40 s each domain gets what it
        // got in 0..5 s, before anything left (per second, ±5 points of a
        // pCPU).
        let before = cpu_between(&stats.trace, n, 0, 5 * s);
        let after = cpu_between(&stats.trace, n, 30 * s, 40 * s);
        for d in 0..n {
            let (b, a) = (before[d] / 5, after[d] / 10);
            assert!(
                (a - b).abs() <= s / 20,
                "{policy}: {} {b} ns/s before, {a} ns/s after ({before:?} / {after:?})",
                sc.domains[d].name
            );
        }
        // Nothing lost: every ping answered or counted.
        let p = &r.domains[1];
        assert!(p.latency.count + p.unanswered >= 1900, "{policy}: {p:?}");
    }
}
