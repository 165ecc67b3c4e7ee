//! The seams where policy layers extend the credit engine.
//!
//! vSlicer and EDF+credit are not copies of credit1: they are credit1 plus a
//! few decisions made differently. Each such decision is a method here with
//! credit1's behaviour as the default, so [`Credit1`] is simply the empty impl.
//!
//! Data a layer keeps: per vCPU and per domain in the host-owned records
//! (`ext` fields, atomics), per pCPU in [`Hooks::PcpuExt`], which lives
//! *inside* the pCPU's runqueue lock (plain fields; may link vCPUs with the
//! lifetime `'a` of the records), and pool-wide in [`Hooks::GlobalExt`]
//! (atomics, read without locks on the scheduling path as Xen reads
//! `prv->tslice`). Methods given a `PcpuExt` are called with that pCPU's
//! runqueue lock held.

use core::fmt;

use crate::cpumask::CpuMask;
use crate::params::ParamError;
use crate::records::{DomData, PcpuData, Pri, VcpuData};
use crate::registry::{Policy, PolicyInfo};
use crate::time::{Span, Time};

/// Where a vCPU descheduled while still runnable goes back on its runqueue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the engine queues the vCPU where this says"]
pub enum Requeue {
    /// Where credit1 puts it: the tail of its priority band.
    Credit,
    /// Just before the `n`-th (1-based) vCPU of its priority band for which
    /// [`Hooks::boundary`] holds; at the band's tail when there are fewer.
    BeforeBoundary(u8),
    /// Back where it was taken out of the credit queue when the layer's
    /// [`Hooks::pick`] chose it: that run was an extra turn, which must not
    /// cost the vCPU its place (the tail of its band if the place is gone).
    Resume,
}

/// What the engine knows when a layer validates parameters.
#[derive(Clone, Copy, Debug)]
pub struct PoolInfo {
    /// pCPUs in the pool.
    pub pcpus: u32,
    /// The timeslice in force (or about to be, for a global change).
    pub tslice: Span,
}

/// Policy-specific data and decisions layered on the credit engine.
pub trait Hooks: Policy + Sized + Sync + Send + 'static {
    /// Extra per-vCPU data the layer keeps in the host-owned record.
    type VcpuExt: Default + Sync + Send;
    /// Extra per-domain data the layer keeps in the host-owned record.
    type DomExt: Default + Sync + Send;
    /// Per-pCPU data, under the pCPU's runqueue lock.
    type PcpuExt<'a>: Default + Send
    where
        Self: 'a;
    /// Pool-wide data.
    type GlobalExt: Default + Sync + Send;
    /// The layer's per-domain parameters (beside weight and cap).
    type DomParams: Copy + Default + PartialEq + fmt::Debug + Send + Sync;
    /// The layer's pool-wide parameters (beside timeslice and ratelimit).
    type GlobalParams: Copy + Default + PartialEq + fmt::Debug + Send + Sync;
    /// Whether the layer uses its timer ([`Self::next_timer`]); when not,
    /// the engine skips the bookkeeping on its hot paths.
    const USES_TIMER: bool = false;
    /// Whether the layer looks at events ([`Self::event`], and the `event`
    /// flag [`Self::waking`] gets); when not, `SchedOps::event` returns at
    /// once instead of taking the vCPU's runqueue lock (Xen's glue calls it
    /// on every event-channel notification).
    const USES_EVENTS: bool = false;
    /// Whether the pool's `exact` (Xen 4.17's credit1 without departures)
    /// may be set: credit only, as a layer's own decisions depart by nature.
    const ALLOWS_EXACT: bool = false;

    /// `v` joins (`up`) or leaves the runnable vCPUs of `pc` (queued or
    /// running there); `pc.nr_runnable()` already counts the change.
    fn runnable_changed<'a>(
        pc: &PcpuData<'a, Self>,
        x: &mut Self::PcpuExt<'a>,
        v: &'a VcpuData<'a, Self>,
        up: bool,
    ) {
        let _ = (pc, x, v, up);
    }

    /// Lets the layer run something ahead of the credit queue: `(vCPU, slice)`.
    /// The vCPU must be queued on this pCPU; the engine dequeues it.
    fn pick<'a>(
        x: &mut Self::PcpuExt<'a>,
        g: &Self::GlobalExt,
        now: Time,
        tslice: Span,
    ) -> Option<(&'a VcpuData<'a, Self>, Span)> {
        let _ = (x, g, now, tslice);
        None
    }

    /// Whether the vCPU running on this pCPU must stop even though it ran
    /// less than the ratelimit (credit1: never, except for a yield).
    fn overrides_ratelimit(x: &Self::PcpuExt<'_>, g: &Self::GlobalExt, now: Time) -> bool {
        let _ = (x, g, now);
        false
    }

    /// `v` was picked from the credit queue to run on `pc` at `now`: how long
    /// it may run before the next decision (a run shorter than `ratelimit`
    /// is stretched to it by the engine). Credit1 gives everyone the global
    /// timeslice.
    fn picked<'a>(
        pc: &PcpuData<'a, Self>,
        x: &mut Self::PcpuExt<'a>,
        v: &'a VcpuData<'a, Self>,
        now: Time,
        tslice: Span,
        ratelimit: Span,
    ) -> Span {
        let _ = (pc, x, v, now, ratelimit);
        tslice
    }

    /// `v` stops running on `pc` at `now` (`runnable`: it stays runnable and
    /// is requeued, unless it yields, which credit1 handles). Says where it
    /// goes; called before it is requeued.
    fn descheduled<'a>(
        pc: &PcpuData<'a, Self>,
        x: &mut Self::PcpuExt<'a>,
        g: &Self::GlobalExt,
        v: &'a VcpuData<'a, Self>,
        now: Time,
        runnable: bool,
    ) -> Requeue {
        let _ = (pc, x, g, v, now, runnable);
        Requeue::Credit
    }

    /// Whether queued `v` counts as a boundary for [`Requeue::BeforeBoundary`].
    fn boundary(v: &VcpuData<'_, Self>) -> bool {
        let _ = v;
        false
    }

    /// `v` is waking from blocked, before credit1 decides on a boost;
    /// `event` says an event (I/O) woke it.
    fn waking(g: &Self::GlobalExt, v: &VcpuData<'_, Self>, event: bool) {
        let _ = (g, v, event);
    }

    /// `v` woke and was queued on this pCPU; `now` reads the clock (only
    /// call it if needed: credit1's wake path never reads it).
    fn woken<'a>(
        x: &mut Self::PcpuExt<'a>,
        g: &Self::GlobalExt,
        v: &'a VcpuData<'a, Self>,
        now: impl FnOnce() -> Time,
    ) {
        let _ = (x, g, v, now);
    }

    /// An event (I/O) reached `v`, which is `queued` on this pCPU or not
    /// (running, or blocked: a wake follows).
    fn event<'a>(
        x: &mut Self::PcpuExt<'a>,
        g: &Self::GlobalExt,
        v: &'a VcpuData<'a, Self>,
        queued: bool,
        now: Time,
    ) {
        let _ = (x, g, v, queued, now);
    }

    /// The layer's timer ([`crate::TimerKind::Policy`]) fired on this pCPU,
    /// which runs `curr`: whether to reschedule now.
    fn policy_timer<'a>(
        x: &mut Self::PcpuExt<'a>,
        g: &Self::GlobalExt,
        curr: Option<&'a VcpuData<'a, Self>>,
        now: Time,
    ) -> bool {
        let _ = (x, g, curr, now);
        false
    }

    /// When the layer's timer should next fire on this pCPU, if at all;
    /// strictly after `now` (the engine arms nothing in the past, so a timer
    /// that could not act now cannot fire again at once).
    fn next_timer(x: &Self::PcpuExt<'_>, g: &Self::GlobalExt, now: Time) -> Option<Time> {
        let _ = (x, g, now);
        None
    }

    /// Whether a woken `new` should preempt `cur` (`None`: idle), whose
    /// priority is `cur_pri`. Credit1: a strictly higher priority.
    fn outranks(new: &VcpuData<'_, Self>, cur: Option<&VcpuData<'_, Self>>, cur_pri: Pri) -> bool {
        let _ = cur;
        new.pri() > cur_pri
    }

    /// pCPUs the layer allows `v` on (within its hard affinity); `None` =
    /// no restriction. Placement and stealing honour it.
    fn allowed(g: &Self::GlobalExt, v: &VcpuData<'_, Self>) -> Option<CpuMask> {
        let _ = (g, v);
        None
    }

    /// Whether the queued `v` may be moved to another pCPU's runqueue by
    /// queue balancing (its per-pCPU layer state would not survive the
    /// move otherwise). Stealing, which runs `v` at once, does not ask.
    fn balanceable(v: &VcpuData<'_, Self>) -> bool {
        let _ = v;
        true
    }

    /// `v`'s hard affinity changes from `old` to `new` (`None`: `v` enters
    /// or leaves the scheduler). Returns whether [`Self::allowed`] may now
    /// allow some vCPUs pCPUs it kept them off before, so that queued work
    /// is offered to idlers again (saying so when unsure costs one offer).
    #[must_use]
    fn affinity_changed(
        g: &Self::GlobalExt,
        v: &VcpuData<'_, Self>,
        old: Option<&CpuMask>,
        new: Option<&CpuMask>,
    ) -> bool {
        let _ = (g, v, old, new);
        false
    }

    /// Whether `v`, found by accounting with `credit < 0`, stays UNDER
    /// anyway (credit1: never). Called under the accounting lock;
    /// `per_tslice` is the credit one timeslice of running costs.
    fn debt_tolerated(v: &VcpuData<'_, Self>, credit: i32, per_tslice: i64) -> bool {
        let _ = (v, credit, per_tslice);
        false
    }

    /// Accounting gives `v` its `fair` share of this period: how much of it
    /// to add to its credit now (the rest the layer keeps; credit1: all).
    fn grant(v: &VcpuData<'_, Self>, fair: i32, per_tslice: i64) -> i32 {
        let _ = (v, per_tslice);
        fair
    }

    /// The layer's parameters of `dom`.
    fn dom_params(dom: &DomData<'_, Self>) -> Self::DomParams {
        let _ = dom;
        Self::DomParams::default()
    }

    /// Checks `p` for `dom`; an error means nothing will change.
    fn validate_dom_params(
        g: &Self::GlobalExt,
        dom: &DomData<'_, Self>,
        p: &Self::DomParams,
        pool: PoolInfo,
    ) -> Result<(), ParamError> {
        let _ = (g, dom, p, pool);
        Ok(())
    }

    /// Applies validated `p` to `dom`. Runnable vCPUs see the change at their
    /// next scheduling decision, which is the next time a lock is held for them.
    /// Returns whether [`Self::allowed`] now lets `dom`'s vCPUs on pCPUs it
    /// kept them off, so that queued work is offered to idlers again.
    #[must_use]
    fn set_dom_params(g: &Self::GlobalExt, dom: &DomData<'_, Self>, p: &Self::DomParams) -> bool {
        let _ = (g, dom, p);
        false
    }

    /// `dom` gains (`+1`) or loses (`-1`) a vCPU.
    fn vcpus_changed(g: &Self::GlobalExt, dom: &DomData<'_, Self>, delta: i32) {
        let _ = (g, dom, delta);
    }

    /// The layer's pool-wide parameters.
    fn global_params(g: &Self::GlobalExt) -> Self::GlobalParams {
        let _ = g;
        Self::GlobalParams::default()
    }

    /// Checks pool-wide `p`; an error means nothing will change.
    fn validate_global_params(
        g: &Self::GlobalExt,
        p: &Self::GlobalParams,
        pool: PoolInfo,
    ) -> Result<(), ParamError> {
        let _ = (g, p, pool);
        Ok(())
    }

    /// Applies validated pool-wide `p`.
    fn set_global_params(g: &Self::GlobalExt, p: &Self::GlobalParams) {
        let _ = (g, p);
    }

    /// Appends the layer's view of `pc` to a `dump` line.
    fn dump_pcpu(
        pc: &PcpuData<'_, Self>,
        x: &Self::PcpuExt<'_>,
        tslice: Span,
        out: &mut dyn fmt::Write,
    ) -> fmt::Result {
        let _ = (pc, x, tslice, out);
        Ok(())
    }
}

/// Xen's credit1, unmodified.
#[derive(Clone, Copy, Debug, Default)]
pub struct Credit1;

impl Hooks for Credit1 {
    type VcpuExt = ();
    type DomExt = ();
    type PcpuExt<'a> = ();
    type GlobalExt = ();
    type DomParams = ();
    type GlobalParams = ();
    const ALLOWS_EXACT: bool = true;
}

impl Policy for Credit1 {
    const INFO: PolicyInfo = PolicyInfo {
        name: "credit",
        xen_name: "rcredit",
        display: "Rust credit",
        xen_id: 10,
    };
}
