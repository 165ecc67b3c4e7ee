//! EDF+credit against §III-A/B and §IV of seed 001, driven by hand.

extern crate std;
use std::vec::Vec;

use super::*;
use crate::cpumask::{CpuId, CpuMask};
use crate::ops::SchedOps;
use crate::params::{CreditDomParams, DomParams, GlobalParams};
use crate::platform::TimerKind;
use crate::testworld::{self, same, World};

fn world(ncpus: u16) -> World<EdfCredit> {
    testworld::world(ncpus)
}

fn rt(mode: RtMode, d_us: i64) -> EdfDomParams {
    EdfDomParams {
        mode,
        deadline: Span::us(d_us),
        ..EdfDomParams::default()
    }
}

/// Domain `id` with one vCPU allowed on `hard` and parameters `p`.
fn vm(w: &World<EdfCredit>, id: u16, hard: CpuMask, p: EdfDomParams) -> &'static V<'static> {
    w.dom_with(id, 1, hard, |_| DomParams {
        credit: CreditDomParams::default(),
        policy: p,
    })
    .1[0]
}

fn cpu0() -> CpuMask {
    CpuMask::single(CpuId(0))
}

/// A driver domain (dom0) with one vCPU allowed on `hard`.
fn driver(w: &World<EdfCredit>, id: u16, hard: CpuMask) -> &'static V<'static> {
    let p = EdfDomParams {
        driver: true,
        ..EdfDomParams::default()
    };
    vm(w, id, hard, p)
}

/// Two busy credit VMs and one aperiodic real-time VM on pCPU 0, all
/// queued, the first busy one running.
fn three(w: &World<EdfCredit>, mode: RtMode) -> (&'static V<'static>, [&'static V<'static>; 2]) {
    let b1 = vm(w, 1, cpu0(), EdfDomParams::default());
    let b2 = vm(w, 2, cpu0(), EdfDomParams::default());
    let r = vm(w, 3, cpu0(), rt(mode, 3_000));
    for v in [b1, b2, r] {
        w.s.wake(v);
    }
    assert!(same(w.sched(0, w.at(0), true), b1));
    (r, [b1, b2])
}

/// Fires pCPU 0's policy timer at the instant it is armed for.
fn fire_poll(w: &World<EdfCredit>) -> Time {
    let at = w.p.policy_at(CpuId(0)).expect("poll timer armed");
    w.p.set_now(at);
    w.p.take_softirqs();
    w.s.timer_fired(CpuId(0), TimerKind::Policy(0));
    at
}

#[test]
fn an_event_gives_an_aperiodic_vcpu_a_deadline_and_the_poll_preempts_for_it() {
    let w = world(1);
    let (r, [b1, _]) = three(&w, RtMode::Aperiodic);
    // Not real-time until an event arrives: no poll timer.
    assert_eq!(w.p.policy_at(CpuId(0)), None);
    w.at_ns(1_200_000);
    w.s.event(r);
    // Deadline 1.2 + 3 = 4.2 ms; the first poll instant at or after it: 4.5 ms.
    assert_eq!(w.p.policy_at(CpuId(0)), Some(Time(4_500_000)));
    let at = fire_poll(&w);
    assert!(w.p.take_softirqs().contains(CpuId(0)), "preempts at {at:?}");
    let d = w.s.decide(CpuId(0), at, true, false);
    assert!(same(d.next, r));
    assert_eq!(d.slice, Some(DEFAULT_EDF_SLICE));
    // It has run: out of the EDF queue, no timer; it stays on the credit queue.
    assert_eq!(w.p.policy_at(CpuId(0)), None);
    let d = w.s.decide(CpuId(0), at + DEFAULT_EDF_SLICE, true, false);
    assert!(!same(d.next, r));
    assert!(d.next.is_some() && !same(d.next, b1) || same(d.next, b1));
    assert_eq!(w.p.policy_at(CpuId(0)), None);
}

#[test]
fn an_event_reaching_a_blocked_vcpu_applies_at_its_wake() {
    let w = world(1);
    let b = vm(&w, 1, cpu0(), EdfDomParams::default());
    let r = vm(&w, 2, cpu0(), rt(RtMode::Aperiodic, 2_000));
    w.s.wake(b);
    assert!(same(w.sched(0, w.at(0), true), b));
    w.at(1);
    w.s.event(r);
    w.s.wake(r);
    assert_eq!(w.p.policy_at(CpuId(0)), Some(Time(3_000_000)));
}

#[test]
fn a_periodic_vcpu_gets_a_fresh_deadline_each_time_it_stops_running() {
    let w = world(1);
    let (r, [b1, b2]) = three(&w, RtMode::Periodic);
    // Woken runnable: deadline 0 + 3 ms, already in the EDF queue.
    assert_eq!(w.p.policy_at(CpuId(0)), Some(Time(3_000_000)));
    let at = fire_poll(&w);
    assert!(same(w.sched(0, at, true), r));
    // Descheduled after its EDF slice: a new deadline 3.5 + 3 = 6.5 ms.
    let t = at + DEFAULT_EDF_SLICE;
    let next = w.sched(0, t, true);
    assert!(same(next, b2) || same(next, b1));
    assert_eq!(w.p.policy_at(CpuId(0)), Some(Time(6_500_000)));
}

#[test]
fn equal_deadlines_are_served_first_come_first_served() {
    let w = world(1);
    let b = vm(&w, 1, cpu0(), EdfDomParams::default());
    let rs: Vec<_> = (2..5)
        .map(|i| vm(&w, i, cpu0(), rt(RtMode::Aperiodic, 2_000)))
        .collect();
    for v in rs.iter().chain([&b]) {
        w.s.wake(v);
    }
    // b is not first in the credit queue; make it run to leave the others queued.
    let first = w.sched(0, w.at(0), true).unwrap();
    for v in rs.iter().rev() {
        if !core::ptr::eq(*v, first) {
            w.s.event(v);
        }
    }
    let order: Vec<_> = (0..2)
        .map(|k| {
            let t = Time(2_000_000 + k * 500_000);
            w.sched(0, t, true).unwrap()
        })
        .collect();
    let expect: Vec<_> = rs
        .iter()
        .rev()
        .filter(|v| !core::ptr::eq(**v, first))
        .collect();
    assert!(core::ptr::eq(order[0], *expect[0]) && core::ptr::eq(order[1], *expect[1]));
}

#[test]
fn the_driver_domain_preempts_everyone_and_is_never_preempted() {
    let w = world(1);
    let b = vm(&w, 1, cpu0(), EdfDomParams::default());
    let r = vm(&w, 2, cpu0(), rt(RtMode::Aperiodic, 1_000));
    let d0 = driver(&w, 3, cpu0());
    w.s.wake(b);
    w.s.wake(r);
    assert!(same(w.sched(0, w.at(0), true), b));
    w.p.take_softirqs();
    w.at(1);
    w.s.wake(d0);
    assert!(
        w.p.take_softirqs().contains(CpuId(0)),
        "the driver preempts"
    );
    assert!(same(w.sched(0, w.at(1), true), d0));
    // An event for the real-time VM: its deadline passes, the poll does not
    // preempt the driver, and neither does a boosted wake.
    w.s.event(r);
    let at = fire_poll(&w);
    assert!(at >= Time(2_000_000));
    assert!(!w.p.take_softirqs().contains(CpuId(0)));
    // At the end of its slice the driver, still runnable, goes on.
    assert!(same(w.sched(0, w.at(31), true), d0));
    // Once it blocks, the overdue real-time vCPU runs first.
    assert!(same(w.sched(0, w.at(32), false), r));
}

#[test]
fn real_time_domains_avoid_the_driver_domains_pinned_pcpu() {
    let w = world(2);
    let _d0 = driver(&w, 1, cpu0());
    let all = CpuMask::first_n(2);
    for i in 0..8 {
        let r = vm(&w, 10 + i, all, rt(RtMode::Periodic, 10_000));
        assert_eq!(w.s.pick_cpu(r), CpuId(1), "vm {i}");
    }
    // A credit domain may stay on the driver's pCPU.
    let b = vm(&w, 30, all, EdfDomParams::default());
    w.s.migrate(b, CpuId(0));
    assert_eq!(w.s.pick_cpu(b), CpuId(0));
    // A real-time VM queued on pCPU 1 is not stolen by pCPU 0.
    let r = vm(&w, 40, all, rt(RtMode::Periodic, 10_000));
    let b2 = vm(&w, 41, CpuMask::single(CpuId(1)), EdfDomParams::default());
    w.s.migrate(r, CpuId(1));
    w.s.wake(b2);
    w.s.wake(r);
    let on1 = w.sched(1, w.at(0), true);
    assert!(on1.is_some());
    let on0 = w.sched(0, w.at(0), true);
    assert!(!same(on0, r), "stolen onto the driver's pCPU");
}

/// An I/O domain reserving `reserve` and a CPU hog on pCPU 0, both woken.
fn io_beside_hog(
    w: &World<EdfCredit>,
    reserve: Span,
) -> (&'static V<'static>, &'static V<'static>) {
    let p = EdfDomParams {
        reserve,
        ..EdfDomParams::default()
    };
    let io = vm(w, 1, cpu0(), p);
    let hog = vm(w, 2, cpu0(), EdfDomParams::default());
    w.s.wake(io);
    w.s.wake(hog);
    (io, hog)
}

#[test]
fn the_reserve_is_spent_only_on_an_event_wake_short_of_credit_and_never_lost() {
    let w = world(1);
    let (io, hog) = io_beside_hog(&w, Span::ms(2));
    // io burns 40 ms (400 credits), blocks, and is accounted: debt, OVER.
    assert!(same(w.sched(0, w.at(0), true), io));
    w.at(10);
    w.s.timer_fired(CpuId(0), TimerKind::Tick);
    assert!(same(w.sched(0, w.at(40), false), hog));
    w.s.context_saved(io);
    w.s.timer_fired(CpuId(0), TimerKind::Acct);
    let before = io.credit() + io.ext.reserve.load(Relaxed);
    assert_eq!(io.ext.reserve.load(Relaxed), 20, "2 ms of credit set aside");
    assert_eq!(io.pri(), Pri::Over);
    // A plain wake does not touch the reserve...
    w.s.wake(io);
    assert_eq!(io.ext.reserve.load(Relaxed), 20);
    assert_eq!(io.pri(), Pri::Over);
    // ...an event wake while short of credit spends it: boosted, conserved.
    w.s.sleep(io);
    w.s.event(io);
    w.s.wake(io);
    assert_eq!(io.pri(), Pri::Boost);
    assert_eq!(io.ext.reserve.load(Relaxed), 0);
    assert_eq!(io.credit(), before, "conserved");
    // At the next accounting a new reserve is set aside from its share.
    w.s.sleep(io);
    w.at(70);
    w.s.timer_fired(CpuId(0), TimerKind::Acct);
    assert_eq!(io.ext.reserve.load(Relaxed), 20);
}

#[test]
fn an_unspent_reserve_goes_back_into_the_credit() {
    let w = world(1);
    let p = EdfDomParams {
        reserve: Span::ms(2),
        ..EdfDomParams::default()
    };
    let io = vm(&w, 1, cpu0(), p);
    w.s.wake(io);
    assert!(same(w.sched(0, w.at(0), true), io));
    w.at(10);
    w.s.timer_fired(CpuId(0), TimerKind::Tick);
    w.at(30);
    w.s.timer_fired(CpuId(0), TimerKind::Acct);
    let (c1, r1) = (io.credit(), io.ext.reserve.load(Relaxed));
    assert_eq!(r1, 20);
    w.at(60);
    w.s.timer_fired(CpuId(0), TimerKind::Acct);
    let (c2, r2) = (io.credit(), io.ext.reserve.load(Relaxed));
    // Granted its fair share f again: 20 of it kept aside, the 20 left from
    // before returned, so credit + reserve grew by exactly f.
    assert_eq!(r2, 20);
    assert!(c2 + r2 > c1 + r1);
    assert_eq!(c2 - c1, (c2 + r2) - (c1 + r1));
}

#[test]
fn an_event_wake_with_enough_reserve_is_boosted() {
    let w = world(1);
    let (io, hog) = io_beside_hog(&w, Span::ms(30));
    assert!(same(w.sched(0, w.at(0), true), io));
    w.at(10);
    w.s.timer_fired(CpuId(0), TimerKind::Tick);
    w.at(12);
    // Blocks having burnt 120 credits; accounting sets 150 aside (its share
    // is 150: it keeps all of it), leaving it at -120: OVER.
    assert!(same(w.sched(0, w.at(12), false), hog));
    w.s.context_saved(io);
    w.at(30);
    w.s.timer_fired(CpuId(0), TimerKind::Acct);
    assert_eq!(io.pri(), Pri::Over);
    let r = io.ext.reserve.load(Relaxed);
    assert!(
        r > 0 && io.credit() + r >= 0,
        "credit {} reserve {r}",
        io.credit()
    );
    w.p.take_softirqs();
    w.s.event(io);
    w.s.wake(io);
    assert_eq!(io.pri(), Pri::Boost);
    assert!(w.p.take_softirqs().contains(CpuId(0)), "preempts the hog");
}

#[test]
fn bad_parameters_and_infeasible_demand_are_refused_and_change_nothing() {
    let w = world(2);
    let (d, _) = w.dom(1, 256, 0, 1, CpuMask::first_n(2));
    let set = |p: EdfDomParams| {
        w.s.set_dom_params(
            d,
            DomParams {
                credit: CreditDomParams::default(),
                policy: p,
            },
        )
    };
    for bad in [50, 4_000_001, 1_500] {
        let p = EdfDomParams {
            mode: RtMode::Aperiodic,
            deadline: Span::us(bad) + Span(if bad == 1_500 { 1 } else { 0 }),
            ..EdfDomParams::default()
        };
        assert_eq!(set(p), Err(ParamError::Deadline), "{bad}");
    }
    assert_eq!(set(rt(RtMode::Periodic, 0)), Err(ParamError::Deadline));
    let res = EdfDomParams {
        reserve: Span::ms(31),
        ..EdfDomParams::default()
    };
    assert_eq!(set(res), Err(ParamError::Reserve));
    let drv_rt = EdfDomParams {
        driver: true,
        ..rt(RtMode::Periodic, 1_000)
    };
    assert_eq!(set(drv_rt), Err(ParamError::DriverRealtime));
    let drv = EdfDomParams {
        driver: true,
        ..EdfDomParams::default()
    };
    assert_eq!(set(drv), Err(ParamError::DriverFixed));
    assert_eq!(w.s.dom_params(d).policy, EdfDomParams::default());

    // Admission: each vCPU with D demands 0.5 ms / D of a pCPU. Two pCPUs
    // take 3 vCPUs at D = 1 ms (1.5), then not one at 0.5 ms (2.5), but one
    // more at 1 ms (2.0).
    for i in 0..3 {
        let v = vm(
            &w,
            10 + i,
            CpuMask::first_n(2),
            rt(RtMode::Aperiodic, 1_000),
        );
        assert_eq!(w.s.dom_params(v.dom()).policy.deadline, Span::ms(1));
    }
    let (d5, _) = w.dom(20, 256, 0, 1, CpuMask::first_n(2));
    let r = w.s.set_dom_params(
        d5,
        DomParams {
            credit: CreditDomParams::default(),
            policy: rt(RtMode::Aperiodic, 500),
        },
    );
    assert_eq!(
        r,
        Err(ParamError::Infeasible {
            demand_per_mille: 2_500,
            capacity: 2
        })
    );
    assert_eq!(w.s.dom_params(d5).policy.mode, RtMode::None);
    // A longer deadline fits; a longer EDF slice for all then does not.
    let ok = w.s.set_dom_params(
        d5,
        DomParams {
            credit: CreditDomParams::default(),
            policy: rt(RtMode::Aperiodic, 1_000),
        },
    );
    assert_eq!(ok, Ok(()));
    let mut g = w.s.global_params();
    g.policy.edf_slice = Span::ms(1);
    assert!(matches!(
        w.s.set_global_params(g),
        Err(ParamError::Infeasible { .. })
    ));
    g.policy.edf_slice = Span::us(400);
    g.policy.poll = Span::us(50);
    assert_eq!(w.s.set_global_params(g), Err(ParamError::PollPeriod));
    g.policy.poll = Span::us(250);
    assert_eq!(w.s.set_global_params(g), Ok(()));
    assert_eq!(w.s.global_params().policy.poll, Span::us(250));
    let too_long = GlobalParams {
        policy: EdfGlobalParams {
            edf_slice: Span::ms(31),
            poll: Span::us(500),
        },
        ..g
    };
    assert_eq!(w.s.set_global_params(too_long), Err(ParamError::EdfSlice));
}

#[test]
fn an_edf_pick_is_an_extra_turn_that_keeps_the_vcpus_place_in_the_credit_queue() {
    // b1 runs; the queue is b2, r, b3. r's deadline comes (b1 goes to the
    // tail): r runs its EDF slice and goes back before b3, where it was,
    // not behind b1 as a plain credit1 requeue would put it.
    let w = world(1);
    let b1 = vm(&w, 1, cpu0(), EdfDomParams::default());
    let b2 = vm(&w, 2, cpu0(), EdfDomParams::default());
    let r = vm(&w, 3, cpu0(), rt(RtMode::Aperiodic, 1_000));
    let b3 = vm(&w, 4, cpu0(), EdfDomParams::default());
    for v in [b1, b2, r, b3] {
        w.s.wake(v);
    }
    assert!(same(w.sched(0, w.at(0), true), b1));
    w.at(2);
    w.s.event(r);
    let at = fire_poll(&w);
    assert!(same(w.sched(0, at, true), r));
    assert!(same(w.sched(0, at + DEFAULT_EDF_SLICE, true), b2));
    let order: Vec<usize> = w.s.queue_tokens(CpuId(0)).iter().map(|t| t.0).collect();
    assert_eq!(order, [r.token().0, b3.token().0, b1.token().0]);
}

#[test]
fn an_event_reaching_a_running_vcpu_keeps_its_deadline_if_the_vcpu_is_preempted() {
    // The event arrives while r runs; r's slice ends (still runnable)
    // before it could block: the hypervisor cannot tell whether the event
    // was handled, so r is queued with that event's deadline.
    let w = world(1);
    let r = vm(&w, 1, cpu0(), rt(RtMode::Aperiodic, 2_000));
    let b = vm(&w, 2, cpu0(), EdfDomParams::default());
    w.s.wake(r);
    w.s.wake(b);
    assert!(same(w.sched(0, w.at(0), true), r));
    w.at(29);
    w.s.event(r);
    assert_eq!(w.p.policy_at(CpuId(0)), None, "running: nothing queued yet");
    assert!(same(w.sched(0, w.at(30), true), b));
    assert_eq!(w.p.policy_at(CpuId(0)), Some(Time(31_000_000)));
    // Had it blocked instead, the event would count as served.
    let w = world(1);
    let r = vm(&w, 1, cpu0(), rt(RtMode::Aperiodic, 2_000));
    w.s.wake(r);
    assert!(same(w.sched(0, w.at(0), true), r));
    w.at(29);
    w.s.event(r);
    w.sched(0, w.at(30), false);
    w.s.context_saved(r);
    w.s.wake(r);
    assert_eq!(w.p.policy_at(CpuId(0)), None);
}

#[test]
fn a_due_deadline_that_cannot_preempt_never_rearms_the_poll_in_the_past() {
    // A CPU-bound driver domain runs; a periodic real-time vCPU's deadline
    // passes. The poll cannot preempt the driver: it looks again at the next
    // poll instant, never at the same one.
    let w = world(1);
    let d0 = driver(&w, 1, cpu0());
    let r = vm(&w, 2, cpu0(), rt(RtMode::Periodic, 1_000));
    w.s.wake(d0);
    w.s.wake(r);
    assert!(same(w.sched(0, w.at(0), true), d0));
    let mut last = Time(0);
    for _ in 0..10 {
        let at = fire_poll(&w);
        assert!(at > last, "re-armed at {at:?} after {last:?}");
        assert!(!w.p.take_softirqs().contains(CpuId(0)));
        last = at;
    }
    assert_eq!(
        last,
        Time(5_500_000),
        "every 0.5 ms from the 1 ms deadline on"
    );
}

#[test]
fn two_deadlines_due_together_run_one_edf_slice_each() {
    // Two aperiodic vCPUs get events at the same instant: the first runs its
    // whole EDF slice (the poll does not cut it for the second), then the
    // second runs.
    let w = world(1);
    let b = vm(&w, 1, cpu0(), EdfDomParams::default());
    let a1 = vm(&w, 2, cpu0(), rt(RtMode::Aperiodic, 2_000));
    let a2 = vm(&w, 3, cpu0(), rt(RtMode::Aperiodic, 2_000));
    for v in [b, a1, a2] {
        w.s.wake(v);
    }
    let first = w.sched(0, w.at(0), true).unwrap();
    w.at(1);
    for v in [a1, a2] {
        if !core::ptr::eq(v, first) {
            w.s.event(v);
        }
    }
    let at = fire_poll(&w);
    let x = w.sched(0, at, true).unwrap();
    // The poll stays quiet while x runs its slice.
    if let Some(t) = w.p.policy_at(CpuId(0)) {
        assert!(
            t >= at + DEFAULT_EDF_SLICE,
            "poll at {t:?} would cut the EDF slice"
        );
    }
    let y = w.sched(0, at + DEFAULT_EDF_SLICE, true).unwrap();
    let rts: Vec<_> = [a1, a2]
        .into_iter()
        .filter(|v| !core::ptr::eq(*v, first))
        .collect();
    assert!(rts.iter().any(|v| core::ptr::eq(*v, x)));
    if rts.len() == 2 {
        assert!(rts.iter().any(|v| core::ptr::eq(*v, y)) && !core::ptr::eq(x, y));
    }
}

#[test]
fn an_edf_pick_cut_short_keeps_its_deadline() {
    // The driver wakes during an EDF pick and preempts it: the real-time
    // vCPU is due again as soon as the driver is done.
    let w = world(1);
    let b = vm(&w, 1, cpu0(), EdfDomParams::default());
    let r = vm(&w, 2, cpu0(), rt(RtMode::Aperiodic, 1_000));
    let d0 = driver(&w, 3, cpu0());
    w.s.wake(b);
    w.s.wake(r);
    assert!(same(w.sched(0, w.at(0), true), b));
    w.at(1);
    w.s.event(r);
    let at = fire_poll(&w);
    assert!(same(w.sched(0, at, true), r));
    let t = at + Span::us(100);
    w.p.set_now(t);
    w.s.wake(d0);
    assert!(same(w.sched(0, t, true), d0));
    assert!(
        same(w.sched(0, t + Span::ms(1), false), r),
        "due again, first"
    );
}
