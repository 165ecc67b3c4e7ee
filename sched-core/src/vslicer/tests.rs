//! vSlicer against Section 3.1 and Algorithm 1 of seed 002, driven by hand.

extern crate std;
use std::vec::Vec;

use super::*;
use crate::cpumask::{CpuId, CpuMask};
use crate::ops::SchedOps;
use crate::params::{CreditDomParams, DomParams};
use crate::testworld::{self, Run, World, V};

fn world(ncpus: u16) -> World<VSlicer> {
    testworld::world(ncpus)
}

/// Domain `id` on pCPU 0 with microslice `t_m` ms (0 = NLSVM), woken.
fn vm(w: &World<VSlicer>, id: u16, t_m: i64) -> &'static V<VSlicer> {
    let (_, v) = w.dom_with(id, 1, CpuMask::single(CpuId(0)), |_| DomParams {
        credit: CreditDomParams::default(),
        policy: VSlicerDomParams {
            microslice: Span::ms(t_m),
        },
    });
    w.s.wake(v[0]);
    v[0]
}

/// Always-busy VMs on pCPU 0 with these microslices (ms), driven for
/// `total` ms with accounting at `phase` ms into each period.
fn busy(t_ms: &[i64], total: i64, phase: i64) -> Vec<Run> {
    let w = world(1);
    let vs: Vec<_> = t_ms
        .iter()
        .enumerate()
        .map(|(i, &t)| vm(&w, i as u16 + 1, t))
        .collect();
    testworld::run_busy(&w, &vs, total, phase)
}

/// Where the accounting pass falls against slice ends changes credit1's
/// order; every property below must hold for each of these.
const PHASES: [i64; 4] = [0, 5, 15, 25];
/// Runs starting before this are warm-up (credit levels settling).
const WARM: i64 = 600;

fn steady(runs: &[Run]) -> &[Run] {
    let i = runs.iter().position(|r| r.start >= WARM * 1000).unwrap();
    &runs[i..runs.len() - 1]
}

/// The runs of LSVMs (vCPUs 0 and 1) between NLSVM slices in steady state,
/// from the first NLSVM slice on; a gap cut off by the end is left out.
fn lsvm_gaps(runs: &[Run]) -> Vec<&[Run]> {
    let s = steady(runs);
    let first_n = s.iter().position(|r| r.vcpu >= 2).unwrap();
    s[first_n..]
        .split(|r| r.vcpu >= 2)
        .filter(|g| !g.is_empty() && !core::ptr::eq(g.last().unwrap(), s.last().unwrap()))
        .collect()
}

#[test]
fn fig6a_one_lsvm_runs_10ms_before_every_nlsvm_slice() {
    // Paper, Fig. 6a: VM1 (LSVM) runs 3 × 10 ms per 120 ms round, once
    // before each 30 ms NLSVM slice: latency 30 ms instead of credit's 90.
    for phase in PHASES {
        let runs = busy(&[10, 0, 0, 0], 1500, phase);
        for pair in steady(&runs).windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert_ne!(a.vcpu == 0, b.vcpu == 0, "phase {phase}: {runs:?}");
            let want = if a.vcpu == 0 { 10_000 } else { 30_000 };
            assert_eq!(a.len(), want, "phase {phase}: {a:?}");
        }
        assert_eq!(testworld::worst_wait(&runs, |k| k == 0, WARM), 30_000);
    }
}

#[test]
fn fig6b_two_lsvms_share_each_gap_in_5ms_microslices() {
    // Paper, Fig. 6b: 2 LSVMs + 2 NLSVMs, T_m = 5 ms: T_n = 15 ms, T_S = 30 ms;
    // after each NLSVM slice the LSVMs alternate 3 microslices each;
    // best-case latency 5 ms, worst case 35 ms.
    for phase in PHASES {
        let runs = busy(&[5, 5, 0, 0], 1500, phase);
        let s = steady(&runs);
        for gap in lsvm_gaps(&runs) {
            assert_eq!(gap.len(), 6, "phase {phase}: {gap:?}");
            for (i, r) in gap.iter().enumerate() {
                assert_eq!((r.len(), r.picks), (5_000, 1), "phase {phase}: {r:?}");
                if i > 0 {
                    assert_ne!(r.vcpu, gap[i - 1].vcpu, "phase {phase}: {gap:?}");
                }
            }
        }
        for r in s.iter().filter(|r| r.vcpu >= 2) {
            assert_eq!(r.len(), 30_000, "phase {phase}: {r:?}");
        }
        assert_eq!(testworld::worst_wait(&runs, |k| k < 2, WARM), 35_000);
    }
}

#[test]
fn the_wave_crest_bounds_every_lsvm_wait_and_shares_stay_equal() {
    // Section 3.1: an LSVM waits at most T_NLSVM + (m-1)·T_m; eq. 1: every
    // VM gets the same CPU time (checked to ±1% of the steady window).
    for (m, n, t_m) in [
        (1, 1, 10),
        (1, 2, 5),
        (1, 3, 10),
        (1, 4, 3),
        (2, 1, 10),
        (2, 2, 5),
        (2, 3, 5),
        (3, 1, 10),
        (3, 2, 3),
        (2, 2, 1),
    ] {
        let t: Vec<i64> = (0..m + n).map(|i| if i < m { t_m } else { 0 }).collect();
        for phase in PHASES {
            let runs = busy(&t, 30_000, phase);
            let bound = (30 + (m as i64 - 1) * t_m) * 1000;
            let worst = testworld::worst_wait(&runs, |k| k < m, WARM);
            assert!(
                worst <= bound,
                "m={m} n={n} T_m={t_m} phase {phase}: {worst} > {bound}"
            );
            let s = steady(&runs);
            let span = s.last().unwrap().end - s[0].start;
            let fair = span / (m + n) as i64;
            for k in 0..m + n {
                let got: i64 = s.iter().filter(|r| r.vcpu == k).map(Run::len).sum();
                assert!(
                    (got - fair).abs() * 100 <= span,
                    "m={m} n={n} T_m={t_m} phase {phase}: vm{k} ran {got} of {span}, fair {fair}"
                );
            }
        }
    }
}

/// (m, n) as pCPU `cpu` counts them now.
fn counts(w: &World<VSlicer>, cpu: u16) -> (u32, u32) {
    let pc = w.s.pcpu(CpuId(cpu)).unwrap();
    let q = pc.locked.lock();
    (q.ext.lsvms, VSlicer::nlsvms(pc, &q.ext))
}

fn set_microslice(w: &World<VSlicer>, v: &V<VSlicer>, t_m: Span) -> Result<(), ParamError> {
    let mut p = w.s.dom_params(v.dom());
    p.policy.microslice = t_m;
    w.s.set_dom_params(v.dom(), p)
}

#[test]
fn without_nlsvms_lsvms_round_robin_in_microslices() {
    for phase in PHASES {
        let runs = busy(&[5, 5, 5], 3000, phase);
        for pair in steady(&runs).windows(2) {
            assert_eq!(pair[0].len(), 5_000, "phase {phase}: {pair:?}");
            assert_ne!(pair[0].vcpu, pair[1].vcpu, "phase {phase}: {pair:?}");
        }
        // (m-1)·T_m, no NLSVM slice in between.
        assert_eq!(testworld::worst_wait(&runs, |_| true, WARM), 10_000);
    }
}

#[test]
fn with_two_vms_the_lsvm_takes_its_whole_slice_in_microslices() {
    // m + n = 2 < 3 (outside Algorithm 1's precondition): T_n = T_NLSVM.
    for phase in PHASES {
        let runs = busy(&[10, 0], 3000, phase);
        for r in steady(&runs) {
            let want = if r.vcpu == 0 {
                (30_000, 3)
            } else {
                (30_000, 1)
            };
            assert_eq!((r.len(), r.picks), want, "phase {phase}: {r:?}");
        }
    }
}

#[test]
fn a_microslice_not_dividing_t_n_ends_the_round_with_the_remainder() {
    // 1 LSVM + 3 NLSVMs: T_n = 10 ms. T_m = 4 ms runs 4 + 4 + 2; T_m = 20 ms
    // (above T_n) runs T_n in one go.
    for (t_m, picks) in [(4, 3), (20, 1), (3, 4)] {
        let runs = busy(&[t_m, 0, 0, 0], 3000, 5);
        for r in steady(&runs).iter().filter(|r| r.vcpu == 0) {
            assert_eq!((r.len(), r.picks), (10_000, picks), "T_m={t_m}: {r:?}");
        }
    }
}

#[test]
fn different_microslices_follow_the_frequency_rule() {
    // Section 6: LSVMs with T_m = 2 and 5 ms beside 2 NLSVMs. Both get
    // T_n = 15 ms per micro-round; the 2 ms one is picked 8 times (7 × 2 +
    // 1), the 5 ms one 3 times: frequency inversely proportional to T_m.
    for phase in PHASES {
        let runs = busy(&[2, 5, 0, 0], 6000, phase);
        let mut gaps = 0;
        for gap in lsvm_gaps(&runs) {
            for (k, picks) in [(0, 8), (1, 3)] {
                let mine = gap.iter().filter(|r| r.vcpu == k);
                let time: i64 = mine.clone().map(Run::len).sum();
                let n: u32 = mine.map(|r| r.picks).sum();
                assert_eq!((time, n), (15_000, picks), "phase {phase} vm{k}: {gap:?}");
            }
            gaps += 1;
        }
        assert!(gaps > 50);
        let bound = |mine: i64, other: i64| {
            worst_wait(
                Span::ms(30),
                Span::ms(15),
                Span::ms(mine),
                [Span::ms(other)],
            )
            .as_us()
        };
        // 30 + max(5, 15 - 7·5) = 35 ms; 30 + max(2, 15 - 2·2) = 41 ms.
        assert_eq!((bound(2, 5), bound(5, 2)), (35_000, 41_000));
        let w0 = testworld::worst_wait(&runs, |k| k == 0, WARM);
        let w1 = testworld::worst_wait(&runs, |k| k == 1, WARM);
        assert!(
            w0 <= bound(2, 5) && w1 <= bound(5, 2),
            "phase {phase}: {w0} {w1}"
        );
    }
}

#[test]
fn an_lsvm_blocking_mid_round_keeps_its_micro_credits_until_an_nlsvm_runs() {
    // 2 LSVMs (5 ms) + 2 NLSVMs: T_n = 15 ms. L1 runs 2 ms and blocks; L2
    // runs; L1 wakes (boosted) before any NLSVM ran: 13 ms are left.
    let w = world(1);
    let (l1, l2) = (vm(&w, 1, 5), vm(&w, 2, 5));
    let _n: Vec<_> = (3..5).map(|i| vm(&w, i, 0)).collect();
    assert!(testworld::same(w.sched(0, w.at(0), true), l1));
    assert!(testworld::same(w.sched(0, w.at(2), false), l2));
    w.s.context_saved(l1);
    w.at(3);
    w.s.wake(l1);
    let d = w.s.decide(CpuId(0), w.at(3), true, false);
    assert!(testworld::same(d.next, l1));
    assert_eq!(d.slice, Some(Span::ms(5)));
    assert_eq!(Span(l1.ext.micro.load(Relaxed)), Span::ms(13));

    // 1 LSVM + 3 NLSVMs: T_n = 10 ms. The LSVM runs 2 ms and blocks; an
    // NLSVM is picked, which starts a new micro-round: it wakes to a fresh T_n.
    let w = world(1);
    let l = vm(&w, 1, 5);
    let _n: Vec<_> = (2..5).map(|i| vm(&w, i, 0)).collect();
    assert!(testworld::same(w.sched(0, w.at(0), true), l));
    let nlsvm = w.sched(0, w.at(2), false).unwrap();
    assert!(!core::ptr::eq(nlsvm, l));
    w.s.context_saved(l);
    w.at(3);
    w.s.wake(l);
    assert!(testworld::same(w.sched(0, w.at(3), true), l));
    assert_eq!(Span(l.ext.micro.load(Relaxed)), Span::ms(10));
}

#[test]
fn switching_class_at_run_time_takes_effect_within_one_slice() {
    let w = world(1);
    let vs: Vec<_> = (0..4)
        .map(|i| vm(&w, i + 1, if i == 0 { 10 } else { 0 }))
        .collect();
    let runs = testworld::run_busy(&w, &vs, 1500, 5);
    assert!(runs
        .iter()
        .rev()
        .take(6)
        .any(|r| r.vcpu == 0 && r.len() == 10_000));
    assert_eq!(counts(&w, 0), (1, 3));
    // The LSVM becomes an NLSVM and NLSVM 3 an LSVM with a 5 ms microslice.
    set_microslice(&w, vs[0], Span::ZERO).unwrap();
    set_microslice(&w, vs[3], Span::ms(5)).unwrap();
    let mut tail = testworld::run_busy(&w, &vs, 3000, 5);
    tail.retain(|r| r.start >= 1_600_000);
    assert_eq!(counts(&w, 0), (1, 3));
    for r in &tail {
        match r.vcpu {
            3 => assert_eq!((r.len(), r.picks), (10_000, 2), "{r:?}"),
            _ => assert_eq!(r.len(), 30_000, "{r:?}"),
        }
    }
    let mut dump = std::string::String::new();
    w.s.dump(&mut dump).unwrap();
    assert!(dump.contains("lsvm=1 nlsvm=3 T_S=10ms T_n=10ms"), "{dump}");
}

#[test]
fn counts_follow_vcpus_across_pcpus_and_out_of_the_scheduler() {
    let w = world(2);
    let both = CpuMask::first_n(2);
    let mk = |id, t_m| {
        w.dom_with(id, 1, both, |_| DomParams {
            credit: CreditDomParams::default(),
            policy: VSlicerDomParams {
                microslice: Span::ms(t_m),
            },
        })
        .1[0]
    };
    let l = mk(1, 5);
    let n = mk(2, 0);
    for v in [l, n] {
        w.s.migrate(v, CpuId(0));
        w.s.wake(v);
    }
    assert_eq!(counts(&w, 0), (1, 1));
    // pCPU 0 runs the NLSVM... (either may be first; find out)
    let first = w.sched(0, w.at(0), true).unwrap();
    let queued = if core::ptr::eq(first, l) { n } else { l };
    // ...and idle pCPU 1 steals the queued one: the counts move with it.
    let stolen = w.sched(1, w.at(0), true).unwrap();
    assert!(core::ptr::eq(stolen, queued));
    let lsvm_on_1 = u32::from(core::ptr::eq(stolen, l));
    assert_eq!(counts(&w, 1), (lsvm_on_1, 1 - lsvm_on_1));
    assert_eq!(counts(&w, 0), (1 - lsvm_on_1, lsvm_on_1));
    // Blocking and removal uncount.
    w.sched(1, w.at(1), false);
    w.s.context_saved(stolen);
    assert_eq!(counts(&w, 1), (0, 0));
    w.sched(0, w.at(1), false);
    w.s.context_saved(first);
    w.s.remove_vcpu(first);
    assert_eq!(counts(&w, 0), (0, 0));
}

#[test]
fn microslices_outside_bounds_are_rejected_and_change_nothing() {
    let w = world(1);
    let l = vm(&w, 1, 10);
    for bad in [Span::us(999), Span::ms(1001), Span(1_500_500), Span(-5)] {
        assert_eq!(
            set_microslice(&w, l, bad),
            Err(ParamError::Microslice),
            "{bad}"
        );
    }
    // A bad weight beside a good microslice: neither changes.
    let mut p = w.s.dom_params(l.dom());
    p.credit.weight = 0;
    p.policy.microslice = Span::ms(2);
    assert_eq!(w.s.set_dom_params(l.dom(), p), Err(ParamError::Weight));
    assert_eq!(w.s.dom_params(l.dom()).policy.microslice, Span::ms(10));
    for good in [Span::ms(1), Span::us(1500), Span::ms(1000), Span::ZERO] {
        assert_eq!(set_microslice(&w, l, good), Ok(()));
        assert_eq!(w.s.dom_params(l.dom()).policy.microslice, good);
    }
}

#[test]
fn round_lengths_follow_eq_12() {
    let t = Span::ms(30);
    assert_eq!(round_lengths(1, 3, t), Some((Span::ms(10), Span::ms(10))));
    assert_eq!(round_lengths(2, 2, t), Some((Span::ms(30), Span::ms(15))));
    assert_eq!(
        round_lengths(3, 4, t),
        Some((Span::us(22_500), Span::us(7_500)))
    );
    assert_eq!(round_lengths(2, 0, t), None);
    // Equal microslices: the paper's crest T_NLSVM + (m-1)·T_m.
    let five = Span::ms(5);
    assert_eq!(worst_wait(t, Span::ms(15), five, [five]), Span::ms(35));
    assert_eq!(
        worst_wait(t, Span::ms(10), five, [five, five]),
        Span::ms(40)
    );
    // A microslice above T_n counts as T_n.
    assert_eq!(
        worst_wait(t, Span::ms(10), Span::ms(20), [Span::ms(20)]),
        Span::ms(40)
    );
}

#[test]
fn an_lsvm_picked_alone_yields_once_nlsvms_arrive() {
    // Picked with no NLSVM around, its micro-round is unbounded; NLSVMs that
    // wake meanwhile cut it to the new T_n (here 10 ms), so it does not keep
    // the pCPU for good.
    let w = world(1);
    let l = vm(&w, 1, 5);
    assert!(testworld::same(w.sched(0, w.at(0), true), l));
    for i in 2..5 {
        vm(&w, i, 0);
    }
    assert!(testworld::same(w.sched(0, w.at(5), true), l));
    assert_eq!(Span(l.ext.micro.load(Relaxed)), Span::ms(10));
    assert!(testworld::same(w.sched(0, w.at(10), true), l));
    let next = w.sched(0, w.at(15), true);
    assert!(next.is_some() && !testworld::same(next, l));
}

#[test]
fn a_remainder_shorter_than_the_ratelimit_runs_with_the_microslice_before_it() {
    // 2 LSVMs with T_m = 1.4 ms beside 4 NLSVMs: T_n = 7.5 ms = 5 × 1.4 +
    // 0.5. A 0.5 ms remainder would be stretched to the 1 ms ratelimit (8 ms
    // per micro-round); it is run with the fifth microslice (1.9 ms).
    let w = world(1);
    let vs: Vec<_> = (0..6u16)
        .map(|i| {
            let t_m = if i < 2 { Span::us(1400) } else { Span::ZERO };
            let (_, v) = w.dom_with(i + 1, 1, CpuMask::single(CpuId(0)), |_| DomParams {
                credit: CreditDomParams::default(),
                policy: VSlicerDomParams { microslice: t_m },
            });
            w.s.wake(v[0]);
            v[0]
        })
        .collect();
    let runs = testworld::run_busy(&w, &vs, 6000, 5);
    let mut gaps = 0;
    for gap in lsvm_gaps(&runs) {
        for k in 0..2 {
            let time: i64 = gap.iter().filter(|r| r.vcpu == k).map(Run::len).sum();
            assert_eq!(time, 7_500, "vm{k}: {gap:?}");
        }
        gaps += 1;
    }
    assert!(gaps > 100);
}

#[test]
fn worst_wait_saturates_without_nlsvms() {
    let t = worst_wait(Span::ms(30), Span::MAX, Span::ms(5), [Span::ms(5)]);
    assert!(t >= Span::ms(35));
}
