//! A hand-driven engine for unit tests of any policy layer: records leaked
//! to `'static` (they outlive the engine, as Xen's do), a [`MockPlatform`]
//! clock, and helpers to create domains and take decisions.

extern crate std;
use std::boxed::Box;
use std::vec::Vec;

use crate::cpumask::{CpuId, CpuMask};
use crate::credit::CreditEngine;
use crate::hooks::Hooks;
use crate::mock::MockPlatform;
use crate::ops::SchedOps;
use crate::params::{CreditDomParams, DomParams};
use crate::platform::VcpuToken;
use crate::records::{DomData, DomId, PcpuData, VcpuData};
use crate::time::{Span, Time};

/// A vCPU record of the test world.
pub(crate) type V<H> = VcpuData<'static, H>;

/// An engine over 256 leaked pCPU records, `ncpus` of them online.
pub(crate) struct World<H: Hooks> {
    pub(crate) p: &'static MockPlatform,
    pub(crate) s: CreditEngine<'static, &'static MockPlatform, H>,
}

pub(crate) fn world<H: Hooks>(ncpus: u16) -> World<H> {
    let p: &'static MockPlatform = Box::leak(Box::new(MockPlatform::new()));
    let pcpus: &'static [PcpuData<'static, H>] = Box::leak(
        (0..256)
            .map(|_| PcpuData::new())
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let s = CreditEngine::new(p, pcpus);
    for c in 0..ncpus {
        s.add_pcpu(CpuId(c));
    }
    World { p, s }
}

impl<H: Hooks> World<H> {
    /// Domain `id` with `vcpus` vCPUs allowed on `hard`; tokens are `id*100+i`.
    pub(crate) fn dom(
        &self,
        id: u16,
        weight: u16,
        cap: u16,
        vcpus: u16,
        hard: CpuMask,
    ) -> (&'static DomData<'static, H>, Vec<&'static V<H>>) {
        self.dom_with(id, vcpus, hard, |_| {
            DomParams::from(CreditDomParams { weight, cap })
        })
    }

    /// [`Self::dom`] with the domain's parameters built by `params`.
    pub(crate) fn dom_with(
        &self,
        id: u16,
        vcpus: u16,
        hard: CpuMask,
        params: impl FnOnce(&DomData<'static, H>) -> DomParams<H::DomParams>,
    ) -> (&'static DomData<'static, H>, Vec<&'static V<H>>) {
        let d: &'static DomData<'static, H> = Box::leak(Box::new(DomData::new(DomId(id))));
        self.s.insert_domain(d);
        // The layer's part first, as a domain is created with its role
        // (EDF+credit's driver role is fixed once it has vCPUs); weight and
        // cap after the vCPUs, as a cap is checked against their number.
        let p = params(d);
        self.s
            .set_dom_params(
                d,
                DomParams {
                    credit: CreditDomParams::default(),
                    policy: p.policy,
                },
            )
            .unwrap();
        let vs: Vec<&'static V<H>> = (0..vcpus)
            .map(|i| {
                let v: &'static V<H> = Box::leak(Box::new(VcpuData::new(
                    VcpuToken(usize::from(id) * 100 + usize::from(i)),
                    d,
                    i,
                    hard,
                )));
                self.s.insert_vcpu(v);
                v
            })
            .collect();
        self.s.set_dom_params(d, p).unwrap();
        (d, vs)
    }

    /// Sets the clock to `ms` and returns it.
    pub(crate) fn at(&self, ms: i64) -> Time {
        self.at_ns(ms * 1_000_000)
    }

    /// Sets the clock to `ns` and returns it.
    pub(crate) fn at_ns(&self, ns: i64) -> Time {
        let t = Time(0) + Span(ns);
        self.p.set_now(t);
        t
    }

    /// `do_schedule` on `cpu`; the vCPU picked.
    pub(crate) fn sched(&self, cpu: u16, now: Time, runnable: bool) -> Option<&'static V<H>> {
        self.s.decide(CpuId(cpu), now, runnable, false).next
    }
}

/// Whether `a` is `b`.
pub(crate) fn same<H: Hooks>(a: Option<&V<H>>, b: &V<H>) -> bool {
    a.is_some_and(|a| core::ptr::eq(a, b))
}

/// One stretch of a vCPU running: index into the driven vCPUs, [start, end) µs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) vcpu: usize,
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// Consecutive decisions that picked it (its slices in this stretch).
    pub(crate) picks: u32,
}

impl Run {
    /// How long it ran, in µs.
    pub(crate) fn len(&self) -> i64 {
        self.end - self.start
    }
}

/// The longest any of `who` waited between two of its runs that started
/// after `from_ms`, in µs.
pub(crate) fn worst_wait(runs: &[Run], who: impl Fn(usize) -> bool, from_ms: i64) -> i64 {
    let mut worst = 0;
    for (i, r) in runs.iter().enumerate().filter(|(_, r)| who(r.vcpu)) {
        if let Some(prev) = runs[..i].iter().rev().find(|p| p.vcpu == r.vcpu) {
            if r.start > from_ms * 1000 {
                worst = worst.max(r.start - prev.end);
            }
        }
    }
    worst
}

/// Drives pCPU 0 with always-runnable `vs` (already woken) for `total_ms`,
/// as Xen's timers would: accounting every 30 ms at `phase_ms` into the
/// period, the tick every 10 ms, a decision at every slice end (to the
/// nanosecond; at an instant where several fall, accounting, then the tick,
/// then the decision). Returns who ran when, merging consecutive picks.
pub(crate) fn run_busy<H: Hooks>(
    w: &World<H>,
    vs: &[&'static V<H>],
    total_ms: i64,
    phase_ms: i64,
) -> Vec<Run> {
    const MS: i64 = 1_000_000;
    let mut runs: Vec<Run> = Vec::new();
    let (mut acct, mut tick, mut slice_end) = (phase_ms * MS, 10 * MS, 0i64);
    if acct == 0 {
        acct = 30 * MS;
    }
    loop {
        let t = acct.min(tick).min(slice_end);
        if t >= total_ms * MS {
            break;
        }
        let now = w.at_ns(t);
        if t == acct {
            w.s.account();
            acct += 30 * MS;
        }
        if t == tick {
            w.s.tick(CpuId(0));
            tick += 10 * MS;
        }
        if t == slice_end {
            let prev = runs.last().map(|r| r.vcpu);
            let d = w.s.decide(CpuId(0), now, true, false);
            slice_end = t + d.slice.map_or(30 * MS, |s| s.as_ns().max(1));
            let next = vs.iter().position(|v| same(d.next, v));
            if next != prev {
                if let Some(p) = prev {
                    w.s.context_saved(vs[p]);
                }
            }
            let (start, end) = (t / 1000, slice_end / 1000);
            match (runs.last_mut(), next) {
                (Some(r), Some(k)) if r.vcpu == k => {
                    r.end = end;
                    r.picks += 1;
                }
                (_, Some(k)) => runs.push(Run {
                    vcpu: k,
                    start,
                    end,
                    picks: 1,
                }),
                _ => {}
            }
        }
    }
    runs
}
