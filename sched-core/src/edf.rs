//! EDF+credit (seed 001, §III-A/B and §IV): a per-pCPU EDF queue beside the
//! credit queue, as a layer on the credit engine.
//!
//! - **Two queues per pCPU.** The EDF queue is an intrusive red-black tree
//!   ordered by absolute deadline, FIFO among equal deadlines (a per-pCPU
//!   sequence number breaks ties). Every vCPU in it is also on the pCPU's
//!   credit queue, so credit1's accounting, weights and caps keep the shares
//!   (§III-A: "credit runqueue takes the role to maintain CPU time
//!   proportionality").
//! - **Periodic** domains (self-initiated I/O) are in both queues whenever
//!   runnable: each time one is descheduled, or wakes, it gets the deadline
//!   `now + D`. **Aperiodic** domains (event-triggered I/O) enter the EDF
//!   queue only when an event reaches them, with deadline `arrival + D`,
//!   whether they were blocked or already queued, and leave it once they
//!   have run. An event reaching a running vCPU is taken as served if the
//!   vCPU blocks; if it is descheduled still runnable, it is queued with
//!   that event's deadline (the hypervisor cannot tell whether the guest
//!   handled it).
//! - **Poll**: the EDF head preempts the running vCPU at the first poll
//!   instant (multiples of the poll period, 0.5 ms by default) at or after
//!   its deadline; a vCPU picked from the EDF queue runs the EDF slice
//!   (0.5 ms), one picked from the credit queue the timeslice (§IV). Both
//!   burn credits. Credit1's ratelimit (Xen 4.2+, after the paper's 4.1)
//!   neither delays a due deadline nor stretches an EDF slice. Polling is done by a timer armed only for the head's
//!   poll instant (not 2000 times a second), which preempts at the same
//!   instants a free-running poll would.
//! - **Credit reservation** (§III-A): each accounting period a vCPU of a
//!   domain with a reserve sets that much of its fair share aside; it is
//!   spent only when an event wakes the vCPU from blocked while it is short
//!   of credit: it moves into the credit and the vCPU counts as UNDER until
//!   the next accounting, so credit1 boosts it and it serves the event at
//!   once. What is left at the next accounting goes back into its credit:
//!   nothing is created or lost.
//! - **Placement** (§III-B): the driver domain's vCPUs run before everyone
//!   when runnable and are never preempted (by a wake or by the poll); real-
//!   time domains are not placed on, or stolen to, the pCPUs a driver-domain
//!   vCPU is pinned to (unless their affinity leaves nothing else). The
//!   driver role is fixed once a domain has vCPUs (Xen: dom0 at creation).
//! - **Admission control**: an EDF pick of a vCPU with deadline `D` can
//!   occur once per `D`, so it demands `slice / D` of a pCPU. A change is
//!   refused when the real-time vCPUs' total demand `Σ slice / D` would
//!   exceed the pCPUs real-time domains may use (the pool minus the driver
//!   domain's pinned pCPUs, or the whole pool if that leaves none): EDF's
//!   utilisation bound `U ≤ 1` per pCPU, summed over the pool. Only changes
//!   that add demand are checked; vCPUs joining an admitted domain are not. Deadlines are 100 µs..4 s (SCHED_DEADLINE's
//!   range), reserves 0..one timeslice; the poll period 100 µs..100 ms and
//!   the EDF slice 100 µs..the timeslice.

use core::fmt;
use core::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicU16, AtomicU64, AtomicU8, Ordering::Relaxed,
};

use intrusive_collections::KeyAdapter;

use crate::cpumask::{AtomicCpuMask, AtomicOptCpu, CpuMask, MAX_CPUS};
use crate::hooks::{Hooks, PoolInfo, Requeue};
use crate::links::deadline::{DeadlineQueue, EdfAdapter};
use crate::params::{ParamError, CREDITS_PER_MSEC};
use crate::records::{DomData, PcpuData, Pri, VcpuData};
use crate::registry::{Policy, PolicyInfo};
use crate::time::{AtomicOptTime, Span, Time};

/// Shortest relative deadline (SCHED_DEADLINE's order of magnitude).
pub const DEADLINE_MIN: Span = Span::us(100);
/// Longest relative deadline (SCHED_DEADLINE's ~2^32 ns).
pub const DEADLINE_MAX: Span = Span::secs(4);
/// Default poll period and EDF slice (§IV).
pub const DEFAULT_POLL: Span = Span::us(500);
/// Default EDF slice.
pub const DEFAULT_EDF_SLICE: Span = Span::us(500);
/// Poll period bounds.
pub const POLL_MIN: Span = Span::us(100);
/// Upper poll period bound.
pub const POLL_MAX: Span = Span::ms(100);
/// Shortest EDF slice.
pub const EDF_SLICE_MIN: Span = Span::us(100);

/// The driver domain's EDF key: before every real deadline (real ones are
/// instants of the run, never negative).
const DRIVER_DEADLINE: i64 = i64::MIN;

/// The EDF+credit policy layer.
#[derive(Clone, Copy, Debug, Default)]
pub struct EdfCredit;

/// How a domain's I/O is scheduled in real time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RtMode {
    /// Not real-time: credit only.
    #[default]
    None,
    /// Self-initiated I/O: in the EDF queue whenever runnable.
    Periodic,
    /// Event-triggered I/O: in the EDF queue when an event reaches it.
    Aperiodic,
}

/// EDF+credit's per-domain parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdfDomParams {
    /// Real-time mode.
    pub mode: RtMode,
    /// Relative deadline `D` (zero when not real-time).
    pub deadline: Span,
    /// CPU time reserved per vCPU per accounting period for event wakes.
    pub reserve: Span,
    /// The driver domain (dom0): runs first, never preempted.
    pub driver: bool,
}

/// EDF+credit's pool-wide parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdfGlobalParams {
    /// How often the EDF head's deadline is checked.
    pub poll: Span,
    /// How long an EDF pick runs.
    pub edf_slice: Span,
}

impl Default for EdfGlobalParams {
    fn default() -> Self {
        EdfGlobalParams {
            poll: DEFAULT_POLL,
            edf_slice: DEFAULT_EDF_SLICE,
        }
    }
}

/// Per-domain state.
#[derive(Debug, Default)]
pub struct EdfDom {
    mode: AtomicU8,
    deadline: AtomicI64,
    reserve: AtomicI64,
    driver: AtomicBool,
}

impl EdfDom {
    fn mode(&self) -> RtMode {
        match self.mode.load(Relaxed) {
            1 => RtMode::Periodic,
            2 => RtMode::Aperiodic,
            _ => RtMode::None,
        }
    }
    fn deadline(&self) -> i64 {
        self.deadline.load(Relaxed)
    }
    fn driver(&self) -> bool {
        self.driver.load(Relaxed)
    }
    fn params(&self) -> EdfDomParams {
        EdfDomParams {
            mode: self.mode(),
            deadline: Span(self.deadline()),
            reserve: Span(self.reserve.load(Relaxed)),
            driver: self.driver(),
        }
    }
}

/// Per-vCPU state, touched under the runqueue lock of its pCPU (the reserve
/// also under the accounting lock).
#[derive(Debug)]
pub struct EdfVcpu {
    /// Absolute deadline of its EDF entry (while linked, and of its last
    /// EDF pick after it).
    deadline: AtomicI64,
    /// FIFO order among equal deadlines.
    seq: AtomicU64,
    /// Deadline of an event that reached it while blocked.
    pending: AtomicOptTime,
    /// Credits set aside for event wakes.
    reserve: AtomicI32,
    /// The pCPU it is registered on as a pinned driver vCPU.
    driver_pin: AtomicOptCpu,
}

impl Default for EdfVcpu {
    fn default() -> Self {
        EdfVcpu {
            deadline: AtomicI64::new(0),
            seq: AtomicU64::new(0),
            pending: AtomicOptTime::none(),
            reserve: AtomicI32::new(0),
            driver_pin: AtomicOptCpu::none(),
        }
    }
}

type V<'a> = VcpuData<'a, EdfCredit>;

impl<'x, 'a> KeyAdapter<'x> for EdfAdapter<'a> {
    type Key = (i64, u64);
    fn get_key(&self, v: &'x V<'a>) -> (i64, u64) {
        (v.ext.deadline.load(Relaxed), v.ext.seq.load(Relaxed))
    }
}

/// Per-pCPU state: the EDF queue, under the runqueue lock.
#[derive(Default)]
pub struct EdfPcpu<'a> {
    tree: DeadlineQueue<'a>,
    seq: u64,
    /// The running vCPU was picked from the EDF queue (its slice is the EDF
    /// slice, which credit1's ratelimit must not stretch).
    edf_running: bool,
    /// When that EDF pick started.
    edf_since: i64,
}

impl<'a> EdfPcpu<'a> {
    /// Queues `v` with `deadline`, or keeps its entry if that is earlier.
    fn enqueue(&mut self, v: &'a V<'a>, deadline: i64) {
        if v.order_link.is_linked() {
            if v.ext.deadline.load(Relaxed) <= deadline {
                return;
            }
            self.dequeue(v);
            if v.order_link.is_linked() {
                return; // not ours to requeue; also lets the compiler drop the tree's panic path
            }
        }
        self.seq = self.seq.wrapping_add(1);
        v.ext.deadline.store(deadline, Relaxed);
        v.ext.seq.store(self.seq, Relaxed);
        let _ = self.tree.insert(v);
    }

    /// Takes `v` out of the EDF queue if it is in it.
    fn dequeue(&mut self, v: &'a V<'a>) {
        self.tree.remove(v);
    }

    /// The earliest entry and its deadline.
    fn head(&self) -> Option<(&'a V<'a>, i64)> {
        let v = self.tree.front()?;
        Some((v, v.ext.deadline.load(Relaxed)))
    }

    /// The earliest real-time entry (after any driver entries) and its deadline.
    fn first_rt(&self) -> Option<(&'a V<'a>, i64)> {
        for v in self.tree.iter() {
            let d = v.ext.deadline.load(Relaxed);
            if d != DRIVER_DEADLINE {
                return Some((v, d));
            }
        }
        None
    }
}

/// Pool-wide state.
pub struct EdfGlobal {
    poll: AtomicI64,
    edf_slice: AtomicI64,
    /// Pinned driver-domain vCPUs per pCPU.
    driver_pins: [AtomicU16; MAX_CPUS],
    /// pCPUs with at least one.
    driver_cpus: AtomicCpuMask,
    /// Σ over real-time vCPUs of `1e12 / D_ns` (EDF picks per 1000 s).
    rt_rate: AtomicU64,
}

impl Default for EdfGlobal {
    fn default() -> Self {
        EdfGlobal {
            poll: AtomicI64::new(DEFAULT_POLL.as_ns()),
            edf_slice: AtomicI64::new(DEFAULT_EDF_SLICE.as_ns()),
            driver_pins: core::array::from_fn(|_| AtomicU16::new(0)),
            driver_cpus: AtomicCpuMask::new(),
            rt_rate: AtomicU64::new(0),
        }
    }
}

impl EdfGlobal {
    fn poll(&self) -> i64 {
        self.poll.load(Relaxed).max(1)
    }
    fn edf_slice(&self) -> Span {
        Span(self.edf_slice.load(Relaxed))
    }

    /// Replaces `old` demand by `new` in one atomic step (the engine calls
    /// this under the accounting lock; atomic all the same).
    fn add_rate(&self, old: u64, new: u64) {
        let _ = self.rt_rate.fetch_update(Relaxed, Relaxed, |r| {
            Some(r.saturating_sub(old).saturating_add(new))
        });
    }

    /// Whether real-time vCPUs picked `rate` times per 1000 s for `slice`
    /// each fit on the pCPUs they may use.
    fn admits(&self, rate: u64, slice: Span, pool: PoolInfo) -> Result<(), ParamError> {
        admit(rate, slice, pool.pcpus, self.driver_cpus.snapshot().count())
    }
}

/// EDF+credit's admission test, for the engine and for tools that check a
/// configuration before applying it: real-time vCPUs whose [`demand_rate`]s
/// sum to `rate`, each EDF pick running `slice`, fit on `pcpus` minus the
/// `driver_pcpus` (or on all `pcpus` if that leaves none, as placement
/// falls back): `Σ slice / D ≤ capacity`.
pub fn admit(rate: u64, slice: Span, pcpus: u32, driver_pcpus: u32) -> Result<(), ParamError> {
    let free = pcpus.saturating_sub(driver_pcpus);
    let capacity = u64::from(if free == 0 { pcpus } else { free });
    // demand (in pCPUs) = rate × slice / 1e12; compare without dividing.
    let demand = u128::from(rate) * slice.as_ns().max(0) as u128;
    if demand > u128::from(capacity) * 1_000_000_000_000 {
        let per_mille = demand / 1_000_000_000;
        return Err(ParamError::Infeasible {
            demand_per_mille: per_mille.min(u128::from(u32::MAX)) as u32,
            capacity: capacity as u32,
        });
    }
    Ok(())
}

/// What a domain with `p` and `vcpus` vCPUs adds to [`admit`]'s `rate`.
pub fn demand_rate(p: &EdfDomParams, vcpus: u16) -> u64 {
    dom_rate(p, vcpus)
}

/// EDF picks per 1000 s of one vCPU with relative deadline `d_ns`.
fn rate(d_ns: i64) -> u64 {
    if d_ns <= 0 {
        0
    } else {
        (1_000_000_000_000 / d_ns) as u64
    }
}

/// The demand rate of `dom` with `p` and `vcpus` vCPUs.
fn dom_rate(p: &EdfDomParams, vcpus: u16) -> u64 {
    if p.mode == RtMode::None {
        return 0;
    }
    rate(p.deadline.as_ns()).saturating_mul(u64::from(vcpus))
}

fn is_rt(v: &V<'_>) -> bool {
    v.dom().ext.mode() != RtMode::None && !v.dom().ext.driver()
}

fn whole_us(t: Span) -> bool {
    t.as_ns() % 1_000 == 0
}

impl EdfDomParams {
    /// Checks the bounds of each value (admission is the engine's part).
    pub fn validate(&self, tslice: Span) -> Result<(), ParamError> {
        let d = self.deadline;
        if d != Span::ZERO && (d < DEADLINE_MIN || d > DEADLINE_MAX || !whole_us(d)) {
            return Err(ParamError::Deadline);
        }
        if self.mode != RtMode::None && d == Span::ZERO {
            return Err(ParamError::Deadline);
        }
        if self.reserve < Span::ZERO || self.reserve > tslice || !whole_us(self.reserve) {
            return Err(ParamError::Reserve);
        }
        if self.driver && self.mode != RtMode::None {
            return Err(ParamError::DriverRealtime);
        }
        Ok(())
    }
}

impl EdfGlobalParams {
    /// Checks the bounds against the pool's timeslice.
    pub fn validate(&self, tslice: Span) -> Result<(), ParamError> {
        if self.poll < POLL_MIN || self.poll > POLL_MAX || !whole_us(self.poll) {
            return Err(ParamError::PollPeriod);
        }
        let s = self.edf_slice;
        if s < EDF_SLICE_MIN || s > tslice || !whole_us(s) {
            return Err(ParamError::EdfSlice);
        }
        Ok(())
    }
}

impl Policy for EdfCredit {
    const INFO: PolicyInfo = PolicyInfo {
        name: "edf-credit",
        xen_name: "edfcredit",
        display: "EDF+credit",
        xen_id: 12,
    };
}

impl Hooks for EdfCredit {
    type VcpuExt = EdfVcpu;
    type DomExt = EdfDom;
    type PcpuExt<'a> = EdfPcpu<'a>;
    type GlobalExt = EdfGlobal;
    type DomParams = EdfDomParams;
    type GlobalParams = EdfGlobalParams;
    const USES_TIMER: bool = true;
    const USES_EVENTS: bool = true;

    /// A vCPU in this pCPU's deadline tree keeps its deadline only here.
    fn balanceable(v: &V<'_>) -> bool {
        !v.order_link.is_linked()
    }

    fn runnable_changed<'a>(_: &PcpuData<'a, Self>, x: &mut EdfPcpu<'a>, v: &'a V<'a>, up: bool) {
        if !up {
            x.dequeue(v);
        }
    }

    fn pick<'a>(
        x: &mut Self::PcpuExt<'a>,
        g: &EdfGlobal,
        now: Time,
        tslice: Span,
    ) -> Option<(&'a V<'a>, Span)> {
        let (v, deadline) = x.head()?;
        if deadline > now.ns() {
            return None;
        }
        x.dequeue(v);
        v.ext.pending.store(None);
        let driver = v.dom().ext.driver();
        x.edf_running = !driver;
        x.edf_since = now.ns();
        Some((v, if driver { tslice } else { g.edf_slice() }))
    }

    fn overrides_ratelimit(x: &EdfPcpu<'_>, _: &EdfGlobal, now: Time) -> bool {
        // An EDF pick's slice is short on purpose; a due deadline cannot wait.
        x.edf_running || x.head().is_some_and(|(_, d)| d <= now.ns())
    }

    fn picked<'a>(
        _: &PcpuData<'a, Self>,
        x: &mut EdfPcpu<'a>,
        v: &'a V<'a>,
        _: Time,
        tslice: Span,
        _: Span,
    ) -> Span {
        // It runs now: an aperiodic entry is served, a periodic one renewed
        // when it stops; events so far are this run's to serve.
        x.dequeue(v);
        v.ext.pending.store(None);
        x.edf_running = false;
        tslice
    }

    fn descheduled<'a>(
        _: &PcpuData<'a, Self>,
        x: &mut EdfPcpu<'a>,
        g: &EdfGlobal,
        v: &'a V<'a>,
        now: Time,
        runnable: bool,
    ) -> Requeue {
        // An EDF slice is an extra, short turn: back to its place in the
        // credit queue (at the tail, as credit1 requeues, it would lose its
        // credit turn at every EDF pick, and its share with it).
        let extra = core::mem::replace(&mut x.edf_running, false);
        // An event that reached it during this run may not have been served
        // yet (the hypervisor cannot tell): if it stays runnable, the event
        // keeps its deadline. If it blocks, it has served everything.
        let pending = v.ext.pending.take();
        // An EDF pick cut short (a driver or boosted wake preempted it)
        // has not had its turn: it keeps the deadline it was picked for.
        let short = extra && now.ns().saturating_sub(x.edf_since) < g.edf_slice().as_ns();
        if runnable {
            let d = &v.dom().ext;
            if short {
                x.enqueue(v, v.ext.deadline.load(Relaxed));
            }
            if d.driver() {
                x.enqueue(v, DRIVER_DEADLINE);
            } else if d.mode() == RtMode::Periodic {
                x.enqueue(v, now.ns().saturating_add(d.deadline()));
            } else if let Some(p) = pending {
                x.enqueue(v, p.ns());
            }
        }
        if extra {
            Requeue::Resume
        } else {
            Requeue::Credit
        }
    }

    fn waking(_: &EdfGlobal, v: &V<'_>, event: bool) {
        // Credit reservation: an event finding the vCPU short of credit is
        // served from its reserve: the reserve moves into its credit and it
        // counts as UNDER, so credit1 boosts it. Accounting corrects its
        // priority if it is still in debt; nothing is created or lost.
        if !event || (v.credit() > 0 && v.pri() != Pri::Over) {
            return;
        }
        let r = v.ext.reserve.swap(0, Relaxed);
        if r > 0 {
            v.add_credit(r);
            v.set_pri(Pri::Under);
        }
    }

    fn woken<'a>(x: &mut EdfPcpu<'a>, _: &EdfGlobal, v: &'a V<'a>, now: impl FnOnce() -> Time) {
        let d = &v.dom().ext;
        let pending = v.ext.pending.take();
        if d.driver() {
            x.enqueue(v, DRIVER_DEADLINE);
        } else {
            match d.mode() {
                RtMode::Periodic => x.enqueue(v, now().ns().saturating_add(d.deadline())),
                RtMode::Aperiodic => {
                    if let Some(p) = pending {
                        x.enqueue(v, p.ns());
                    }
                }
                _ => {}
            }
        }
    }

    fn event<'a>(x: &mut EdfPcpu<'a>, _: &EdfGlobal, v: &'a V<'a>, queued: bool, now: Time) {
        let d = &v.dom().ext;
        if d.mode() != RtMode::Aperiodic || d.driver() {
            return;
        }
        let deadline = now.ns().saturating_add(d.deadline());
        if queued {
            x.enqueue(v, deadline);
        } else {
            // Blocked (the wake that follows queues it with this deadline)
            // or running (if it is descheduled still runnable, it is queued
            // with this deadline: the event may not have been served).
            v.ext.pending.lower_to(Time(deadline));
        }
    }

    fn policy_timer<'a>(
        x: &mut EdfPcpu<'a>,
        _: &EdfGlobal,
        curr: Option<&'a V<'a>>,
        now: Time,
    ) -> bool {
        // A running EDF pick keeps its (short) slice; the next due entry
        // runs when it ends. The driver is never preempted.
        let due = x.first_rt().is_some_and(|(_, d)| d <= now.ns());
        due && !x.edf_running && !curr.is_some_and(|c| c.dom().ext.driver())
    }

    fn next_timer(x: &EdfPcpu<'_>, g: &EdfGlobal, now: Time) -> Option<Time> {
        // Driver entries need no poll: a driver wake preempts at once.
        let (_, deadline) = x.first_rt()?;
        // The first poll instant at or after the deadline, and after now (a
        // deadline that is due but could not preempt - a driver or an EDF
        // pick is running - is looked at again at the next poll instant).
        let p = g.poll();
        let at = deadline.max(now.ns().saturating_add(1)).max(0);
        Some(Time(at.saturating_add(p - 1) / p * p))
    }

    fn outranks(new: &V<'_>, cur: Option<&V<'_>>, cur_pri: Pri) -> bool {
        if cur.is_some_and(|c| c.dom().ext.driver()) {
            return false;
        }
        new.dom().ext.driver() || new.pri() > cur_pri
    }

    fn allowed(g: &EdfGlobal, v: &V<'_>) -> Option<CpuMask> {
        if !is_rt(v) {
            return None;
        }
        let drivers = g.driver_cpus.snapshot();
        if drivers.is_empty() {
            return None;
        }
        Some(CpuMask::first_n(MAX_CPUS).and_not(&drivers))
    }

    fn affinity_changed(
        g: &EdfGlobal,
        v: &V<'_>,
        _: Option<&CpuMask>,
        new: Option<&CpuMask>,
    ) -> bool {
        let before = g.driver_cpus.snapshot();
        if let Some(old) = v.ext.driver_pin.swap(None, Relaxed) {
            let c = g.driver_pins.get(old.index());
            if c.is_some_and(|c| c.fetch_sub(1, Relaxed) == 1) {
                g.driver_cpus.clear(old);
            }
        }
        let pin = new
            .filter(|m| m.count() == 1 && v.dom().ext.driver())
            .and_then(|m| m.first());
        if let Some((cpu, c)) = pin.and_then(|cpu| Some((cpu, g.driver_pins.get(cpu.index())?))) {
            c.fetch_add(1, Relaxed);
            g.driver_cpus.set(cpu);
            v.ext.driver_pin.swap(Some(cpu), Relaxed);
        }
        // Any change to the driver's pCPUs may widen where real-time vCPUs
        // run: a pCPU no driver vCPU is pinned to any more is open to them
        // again, and a new pin that leaves them no pCPU of the pool lets
        // them run anywhere (the narrowing never empties an affinity; found
        // by the long fuzzing run: a driver vCPU re-pinned onto the last pCPU
        // open to real-time work left one queued beside an idle pCPU).
        g.driver_cpus.snapshot() != before
    }

    fn grant(v: &V<'_>, fair: i32, _: i64) -> i32 {
        let r = v.dom().ext.reserve.load(Relaxed);
        let want = i32::try_from(r / 1_000_000 * CREDITS_PER_MSEC).unwrap_or(i32::MAX);
        let keep = want.min(fair.max(0));
        let leftover = v.ext.reserve.swap(keep, Relaxed);
        fair - keep + leftover
    }

    fn dom_params(dom: &DomData<'_, Self>) -> EdfDomParams {
        dom.ext.params()
    }

    fn validate_dom_params(
        g: &EdfGlobal,
        dom: &DomData<'_, Self>,
        p: &EdfDomParams,
        pool: PoolInfo,
    ) -> Result<(), ParamError> {
        p.validate(pool.tslice)?;
        if p.driver != dom.ext.driver() && dom.nr_vcpus() > 0 {
            return Err(ParamError::DriverFixed);
        }
        // A change that adds no real-time demand is never refused for the
        // demand already there (one vCPU counts for a domain yet to get any).
        let old = dom_rate(&dom.ext.params(), dom.nr_vcpus());
        let new = dom_rate(p, dom.nr_vcpus().max(1));
        if new <= old {
            return Ok(());
        }
        let total = g.rt_rate.load(Relaxed).saturating_sub(old) + new;
        g.admits(total, g.edf_slice(), pool)
    }

    fn set_dom_params(g: &EdfGlobal, dom: &DomData<'_, Self>, p: &EdfDomParams) -> bool {
        let was_rt = dom.ext.mode() != RtMode::None && !dom.ext.driver();
        let n = dom.nr_vcpus();
        let old = dom_rate(&dom.ext.params(), n);
        g.rt_rate.store(
            g.rt_rate.load(Relaxed).saturating_sub(old) + dom_rate(p, n),
            Relaxed,
        );
        let e = &dom.ext;
        e.mode.store(
            match p.mode {
                RtMode::None => 0,
                RtMode::Periodic => 1,
                RtMode::Aperiodic => 2,
            },
            Relaxed,
        );
        e.deadline.store(p.deadline.as_ns(), Relaxed);
        e.reserve.store(p.reserve.as_ns(), Relaxed);
        e.driver.store(p.driver, Relaxed);
        // No longer real-time: the driver's pCPUs are open to it again.
        was_rt && p.mode == RtMode::None
    }

    fn vcpus_changed(g: &EdfGlobal, dom: &DomData<'_, Self>, delta: i32) {
        let r = dom_rate(&dom.ext.params(), 1);
        if delta > 0 {
            g.add_rate(0, r);
        } else {
            g.add_rate(r, 0);
        }
    }

    fn global_params(g: &EdfGlobal) -> EdfGlobalParams {
        EdfGlobalParams {
            poll: Span(g.poll()),
            edf_slice: g.edf_slice(),
        }
    }

    fn validate_global_params(
        g: &EdfGlobal,
        p: &EdfGlobalParams,
        pool: PoolInfo,
    ) -> Result<(), ParamError> {
        p.validate(pool.tslice)?;
        g.admits(g.rt_rate.load(Relaxed), p.edf_slice, pool)
    }

    fn set_global_params(g: &EdfGlobal, p: &EdfGlobalParams) {
        g.poll.store(p.poll.as_ns(), Relaxed);
        g.edf_slice.store(p.edf_slice.as_ns(), Relaxed);
    }

    fn dump_pcpu(
        _: &PcpuData<'_, Self>,
        x: &EdfPcpu<'_>,
        _: Span,
        out: &mut dyn fmt::Write,
    ) -> fmt::Result {
        write!(out, " edf:")?;
        for (shown, v) in x.tree.iter().enumerate() {
            if shown == 8 {
                return write!(out, " ...");
            }
            let d = v.ext.deadline.load(Relaxed);
            if d == DRIVER_DEADLINE {
                write!(out, " d{}v{}@driver", v.dom().id().0, v.vcpu_id())?;
            } else {
                write!(out, " d{}v{}@{}", v.dom().id().0, v.vcpu_id(), Span(d))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
