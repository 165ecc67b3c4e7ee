//! The simulator's [`Platform`]: the clock, the event queue, softirqs, timers
//! and the scheduler's requests (pause, unpause, migrate).
//!
//! Why it only records: a platform call happens while the scheduler may hold
//! its locks, so it must never call back into the scheduler. Softirqs are a
//! pending-pCPU mask, timers become events in the queue, and requests are
//! queued for the event loop to act on once the scheduler call has returned.
//!
//! Timers are *lazy* ([`Lazy`]): a timer keeps its deadline and the instant of
//! one queued event at or before it. Re-arming it later (the common case: a
//! slice or tick pushed back on every decision) queues nothing; the queued
//! event, when it pops early, re-queues itself at the deadline. Only arming
//! it earlier (or again for the same instant) queues a new event. This keeps
//! the heap small and is what makes the simulator fast; stale events are
//! recognised and dropped. A timer's events carry the sequence number of
//! the call that last set it, so that timers due at one instant fire in the
//! order they were set, as from Xen's timer heap.
//!
//! The event queue ([`crate::queue`]) is ordered by (time, sequence number),
//! so events at the same instant run in the order they were posted: the run
//! is deterministic.

use std::cell::{Cell, RefCell};

use crate::queue::Queue;
use sched_core::{CpuId, CpuMask, Platform, Time, TimerKind, VcpuToken};

/// What happens at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// A scheduler timer on a pCPU.
    Timer { cpu: u16, slot: u16 },
    /// The slice timer of a pCPU.
    Slice { cpu: u16 },
    /// A vCPU's current guest item completes.
    Complete { vcpu: u32 },
    /// A workload of a vCPU delivers work.
    Arrival { vcpu: u32, workload: u16 },
    /// A domain is created.
    DomStart(u16),
    /// A domain is destroyed.
    DomStop(u16),
    /// A `[[change]]` of the scenario is made.
    Change(u16),
    /// A reporting window ends ([`crate::SimOptions::window`]).
    Window,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    /// `(time << 64) | sequence`: one integer comparison orders events.
    key: u128,
    pub(crate) kind: EventKind,
}

impl Event {
    /// When it happens (never negative: the run starts at 0).
    pub(crate) fn at(&self) -> i64 {
        (self.key >> 64) as i64
    }

    /// Its sequence number (for a timer's, that of the call that set it).
    pub(crate) fn seq(&self) -> u64 {
        (self.key as u64) & SEQ_MASK
    }
}

/// The bits of an event's sequence number in its key (below the pCPU's):
/// 1.4 × 10^14 events, far beyond any run.
const SEQ_MASK: u64 = (1 << 47) - 1;

impl EventKind {
    /// A timer of Xen's: a scheduler's own or the slice timer (`s_timer`).
    pub(crate) fn is_timer(&self) -> bool {
        matches!(self, EventKind::Timer { .. } | EventKind::Slice { .. })
    }
}

/// A request the scheduler made of the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    Pause(VcpuToken),
    Unpause(VcpuToken),
    Migrate(VcpuToken),
}

/// A lazily queued timer: its deadline, and the instant of one queued event
/// at or before the deadline (the invariant that makes it fire on time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lazy {
    deadline: Option<i64>,
    posted: Option<i64>,
    /// The sequence number of the queued event at `posted`.
    posted_seq: u64,
    /// The sequence number of the call that last armed it.
    seq: u64,
}

impl Lazy {
    /// Disarmed, nothing queued.
    pub(crate) const IDLE: Lazy = Lazy {
        deadline: None,
        posted: None,
        posted_seq: 0,
        seq: 0,
    };

    /// Disarms it; a queued event will be dropped when it pops.
    pub(crate) fn cancel(&mut self) {
        self.deadline = None;
    }
}

/// The simulated world as the scheduler sees it.
pub(crate) struct SimPlatform {
    now: Cell<i64>,
    /// Events at or after this instant are never run, so never queued.
    end: i64,
    /// Timers fire at the next multiple of this (0 = exact).
    granularity: i64,
    softirqs: Cell<CpuMask>,
    events: RefCell<Queue<EventKind>>,
    seq: Cell<u64>,
    pcpus: usize,
    /// Each pCPU's timer of each kind, by [`TimerKind::index`] then pCPU; a
    /// kind's row exists once one of its timers is armed (policies use one
    /// or two of the 256 kinds `Policy(n)` could name).
    timers: RefCell<Vec<Vec<Lazy>>>,
    requests: RefCell<Vec<Request>>,
    /// Whether each vCPU's guest has work, as the host last saw it
    /// ([`Platform::has_work`]; grown on first use).
    work: RefCell<Vec<bool>>,
}

impl SimPlatform {
    /// Records whether vCPU `k`'s guest has work.
    pub(crate) fn set_has_work(&self, k: usize, yes: bool) {
        let mut w = self.work.borrow_mut();
        if w.len() <= k {
            w.resize(k + 1, false);
        }
        w[k] = yes;
    }

    pub(crate) fn new(pcpus: usize, end: i64, granularity: i64) -> Self {
        SimPlatform {
            now: Cell::new(0),
            end,
            granularity,
            softirqs: Cell::new(CpuMask::EMPTY),
            events: RefCell::new(Queue::new()),
            seq: Cell::new(0),
            pcpus,
            timers: RefCell::new(Vec::new()),
            requests: RefCell::new(Vec::with_capacity(64)),
            work: RefCell::new(Vec::new()),
        }
    }

    pub(crate) fn now_ns(&self) -> i64 {
        self.now.get()
    }
    pub(crate) fn set_now(&self, t: i64) {
        self.now.set(t)
    }

    /// `at` rounded up to the timer granularity.
    pub(crate) fn round_timer(&self, at: i64) -> i64 {
        let g = self.granularity;
        if g <= 0 {
            at
        } else {
            at.saturating_add(g - 1) / g * g
        }
    }

    /// Queues `kind` at `at` unless that is past the end of the run. At one
    /// instant timers come first, then the rest: Xen's timer softirq runs
    /// every due timer before the schedule softirq they raise, and before
    /// what the guests do next. Timers of one instant run pCPU by pCPU in
    /// ascending order (on a real machine the pCPUs race; this is the one
    /// order both schedulers of a comparison see), and on one pCPU in the
    /// order they were set (Xen's heap pops equal deadlines so).
    pub(crate) fn post(&self, at: i64, kind: EventKind) {
        let seq = self.next_seq();
        self.post_seq(at, kind, seq);
    }

    fn next_seq(&self) -> u64 {
        let seq = self.seq.get();
        self.seq.set(seq + 1);
        seq
    }

    /// [`Self::post`] with sequence number `seq`.
    fn post_seq(&self, at: i64, kind: EventKind, seq: u64) {
        if at >= self.end || at < 0 {
            return;
        }
        let class = match kind {
            EventKind::Timer { cpu, .. } | EventKind::Slice { cpu } => u128::from(cpu) << 47,
            _ => 1u128 << 63,
        };
        let key = (u128::from(at as u64) << 64) | class | u128::from(seq & SEQ_MASK);
        self.events.borrow_mut().push(key, kind);
    }

    /// Arms `t` to fire at `at` with event `kind` (queued only if no
    /// earlier event is queued for it: one at the same instant is queued
    /// anew, behind what was set since).
    pub(crate) fn arm(&self, t: &mut Lazy, at: i64, kind: EventKind) {
        t.deadline = Some(at);
        t.seq = self.next_seq();
        if t.posted.is_none_or(|p| at <= p) && at < self.end {
            self.post_seq(at, kind, t.seq);
            t.posted = Some(at);
            t.posted_seq = t.seq;
        }
    }

    /// `t`'s event `ev` popped now: whether the timer fires. An early
    /// event re-queues itself at the deadline (in the order the timer was
    /// set); a stale one is dropped.
    pub(crate) fn due(&self, t: &mut Lazy, ev: &Event) -> bool {
        if t.posted != Some(ev.at()) || t.posted_seq != ev.seq() {
            return false;
        }
        t.posted = None;
        let now = ev.at();
        match t.deadline {
            Some(d) if d == now => {
                t.deadline = None;
                true
            }
            Some(d) if d > now => {
                if d < self.end {
                    self.post_seq(d, ev.kind, t.seq);
                    t.posted = Some(d);
                    t.posted_seq = t.seq;
                }
                false
            }
            _ => false,
        }
    }

    /// The next event, if any (the borrow ends before it is handled).
    pub(crate) fn pop(&self) -> Option<Event> {
        let (key, kind) = self.events.borrow_mut().pop()?;
        Some(Event { key, kind })
    }

    /// Whether the next event is a timer (a scheduler's or a slice) due at `at`.
    pub(crate) fn timer_next_at(&self, at: i64) -> bool {
        self.events
            .borrow_mut()
            .peek()
            .is_some_and(|(key, kind)| (key >> 64) as i64 == at && kind.is_timer())
    }

    /// Takes the pending softirq mask.
    pub(crate) fn take_softirqs(&self) -> CpuMask {
        self.softirqs.replace(CpuMask::EMPTY)
    }

    /// Moves the queued requests into `out` (which must be empty), keeping
    /// both buffers' capacity. Returns whether there were any.
    pub(crate) fn take_requests(&self, out: &mut Vec<Request>) -> bool {
        let mut r = self.requests.borrow_mut();
        if r.is_empty() {
            return false;
        }
        std::mem::swap(&mut *r, out);
        true
    }

    /// A scheduler-timer event `ev` popped: the timer kind if it fires now.
    pub(crate) fn timer_due(&self, ev: &Event, cpu: u16, slot: u16) -> Option<TimerKind> {
        let mut t = self.timers.borrow_mut();
        let s = t.get_mut(usize::from(slot))?.get_mut(usize::from(cpu))?;
        if !self.due(s, ev) {
            return None;
        }
        TimerKind::from_index(slot)
    }
}

impl Platform for SimPlatform {
    fn now(&self) -> Time {
        Time(self.now.get())
    }

    fn raise_softirq(&self, cpu: CpuId) {
        let mut m = self.softirqs.get();
        m.set(cpu);
        self.softirqs.set(m);
    }

    fn set_timer(&self, cpu: CpuId, timer: TimerKind, at: Time) {
        let slot = timer.index();
        let mut t = self.timers.borrow_mut();
        let row = usize::from(slot);
        if row >= t.len() {
            t.resize_with(row + 1, Vec::new);
        }
        if t[row].is_empty() {
            t[row] = vec![Lazy::IDLE; self.pcpus];
        }
        let Some(s) = t[row].get_mut(cpu.index()) else {
            return;
        };
        // A timer in the past fires now, as Xen's does.
        let at = self.round_timer(at.ns().max(self.now.get()));
        self.arm(s, at, EventKind::Timer { cpu: cpu.0, slot });
    }

    fn stop_timer(&self, cpu: CpuId, timer: TimerKind) {
        let mut t = self.timers.borrow_mut();
        let row = t.get_mut(usize::from(timer.index()));
        if let Some(s) = row.and_then(|r| r.get_mut(cpu.index())) {
            s.cancel();
        }
    }

    fn pause_vcpu(&self, vcpu: VcpuToken) {
        self.requests.borrow_mut().push(Request::Pause(vcpu));
    }

    fn unpause_vcpu(&self, vcpu: VcpuToken) {
        self.requests.borrow_mut().push(Request::Unpause(vcpu));
    }

    fn migrate_vcpu(&self, vcpu: VcpuToken) {
        self.requests.borrow_mut().push(Request::Migrate(vcpu));
    }
    fn has_work(&self, vcpu: VcpuToken) -> bool {
        self.work.borrow().get(vcpu.0).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_pop_in_time_then_post_order() {
        let p = SimPlatform::new(1, 100, 0);
        p.post(5, EventKind::DomStart(1));
        p.post(3, EventKind::DomStart(2));
        p.post(5, EventKind::DomStart(3));
        p.post(100, EventKind::DomStart(4)); // past the end: dropped
        let order: Vec<_> = std::iter::from_fn(|| p.pop()).map(|e| e.kind).collect();
        assert_eq!(
            order,
            [
                EventKind::DomStart(2),
                EventKind::DomStart(1),
                EventKind::DomStart(3)
            ]
        );
    }

    /// Pops the next event, sets the clock to it, and says whether it is a
    /// scheduler timer that fires.
    fn step(p: &SimPlatform) -> Option<(i64, Option<TimerKind>)> {
        let e = p.pop()?;
        p.set_now(e.at());
        Some((
            e.at(),
            match e.kind {
                EventKind::Timer { cpu, slot } => p.timer_due(&e, cpu, slot),
                _ => None,
            },
        ))
    }

    #[test]
    fn a_later_rearm_queues_nothing_and_fires_at_the_new_deadline() {
        let p = SimPlatform::new(2, 1_000, 10);
        p.set_timer(CpuId(1), TimerKind::Tick, Time(15));
        p.set_timer(CpuId(1), TimerKind::Tick, Time(31));
        // One event at 20 (rounded), which re-queues itself at 40.
        assert_eq!(step(&p), Some((20, None)));
        assert_eq!(step(&p), Some((40, Some(TimerKind::Tick))));
        assert_eq!(step(&p), None, "a timer fires once");
    }

    #[test]
    fn an_earlier_rearm_or_a_stop_wins() {
        let p = SimPlatform::new(1, 1_000, 0);
        p.set_timer(CpuId(0), TimerKind::Acct, Time(50));
        p.set_timer(CpuId(0), TimerKind::Acct, Time(30));
        assert_eq!(step(&p), Some((30, Some(TimerKind::Acct))));
        assert_eq!(step(&p), Some((50, None)), "the stale event is dropped");
        p.set_timer(CpuId(0), TimerKind::Tick, Time(60));
        p.stop_timer(CpuId(0), TimerKind::Tick);
        assert_eq!(step(&p), Some((60, None)));
        assert_eq!(step(&p), None);
    }

    /// What fires at one instant, in order: `(cpu, timer)` or `None` for
    /// any other event.
    fn instant(p: &SimPlatform) -> Vec<Option<(u16, TimerKind)>> {
        let mut out = Vec::new();
        while let Some(e) = p.pop() {
            p.set_now(e.at());
            match e.kind {
                EventKind::Timer { cpu, slot } => {
                    if let Some(k) = p.timer_due(&e, cpu, slot) {
                        out.push(Some((cpu, k)));
                    }
                }
                _ => out.push(None),
            }
        }
        out
    }

    /// Xen's order at one instant: every timer before anything else,
    /// pCPU by pCPU, and on a pCPU in the order they were set (a timer
    /// stopped and set again for the same instant goes behind the others,
    /// as it leaves and re-enters Xen's heap).
    #[test]
    fn timers_of_an_instant_fire_first_by_pcpu_then_in_the_order_set() {
        let p = SimPlatform::new(2, 1_000, 0);
        p.post(50, EventKind::DomStart(0));
        p.set_timer(CpuId(1), TimerKind::Tick, Time(50));
        p.set_timer(CpuId(0), TimerKind::Tick, Time(50));
        p.set_timer(CpuId(0), TimerKind::Acct, Time(50));
        p.stop_timer(CpuId(0), TimerKind::Tick);
        p.set_timer(CpuId(0), TimerKind::Tick, Time(50));
        assert_eq!(
            instant(&p),
            [
                Some((0, TimerKind::Acct)),
                Some((0, TimerKind::Tick)),
                Some((1, TimerKind::Tick)),
                None
            ]
        );
    }
}
