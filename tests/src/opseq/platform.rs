//! The harness's [`Platform`]: a clock the host moves, the timers the
//! policy arms (fired by the host when due), softirqs and requests that the
//! host acts on after the scheduler call that made them returns.

use std::cell::{Cell, RefCell};

use sched_core::{CpuId, CpuMask, Platform, Time, TimerKind, VcpuToken};

use super::MAX_PCPUS;

/// A request the policy made of the host.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Request {
    /// Park a capped vCPU (`sched_unit_pause_nosync`).
    Pause(VcpuToken),
    /// End a park.
    Unpause(VcpuToken),
    /// Move a running vCPU at its next deschedule (`_VPF_migrating`).
    Migrate(VcpuToken),
}

/// A policy timer that is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    Tick(usize),
    Acct(usize),
    Policy(usize, u8),
}

#[derive(Default)]
pub(crate) struct Plat {
    now: Cell<i64>,
    softirqs: Cell<CpuMask>,
    tick: [Cell<Option<i64>>; MAX_PCPUS],
    policy: [Cell<Option<(u8, i64)>>; MAX_PCPUS],
    acct: Cell<Option<(usize, i64)>>,
    requests: RefCell<Vec<Request>>,
}

impl Plat {
    pub(crate) fn now_ns(&self) -> i64 {
        self.now.get()
    }
    pub(crate) fn set_now(&self, t: i64) {
        self.now.set(t)
    }
    /// Takes the pCPUs asked to reschedule.
    pub(crate) fn take_softirqs(&self) -> CpuMask {
        self.softirqs.replace(CpuMask::EMPTY)
    }
    /// Moves the pending requests into `buf` (empty); whether there were any.
    pub(crate) fn take_requests(&self, buf: &mut Vec<Request>) -> bool {
        std::mem::swap(&mut *self.requests.borrow_mut(), buf);
        !buf.is_empty()
    }
    /// The earliest armed policy timer due at or before `by`.
    pub(crate) fn due(&self, by: i64) -> Option<(i64, Due)> {
        let mut best: Option<(i64, Due)> = None;
        let mut consider = |at: i64, d: Due| {
            if at <= by && best.is_none_or(|(b, _)| at < b) {
                best = Some((at, d));
            }
        };
        for c in 0..MAX_PCPUS {
            if let Some(at) = self.tick[c].get() {
                consider(at, Due::Tick(c));
            }
            if let Some((n, at)) = self.policy[c].get() {
                consider(at, Due::Policy(c, n));
            }
        }
        if let Some((c, at)) = self.acct.get() {
            consider(at, Due::Acct(c));
        }
        best
    }
    /// Disarms `d` (it is firing).
    pub(crate) fn disarm(&self, d: Due) {
        match d {
            Due::Tick(c) => self.tick[c].set(None),
            Due::Policy(c, _) => self.policy[c].set(None),
            Due::Acct(_) => self.acct.set(None),
        }
    }
}

impl Platform for Plat {
    fn now(&self) -> Time {
        Time(self.now.get())
    }
    fn raise_softirq(&self, cpu: CpuId) {
        let mut m = self.softirqs.get();
        m.set(cpu);
        self.softirqs.set(m);
    }
    fn set_timer(&self, cpu: CpuId, timer: TimerKind, at: Time) {
        let c = cpu.index();
        match timer {
            TimerKind::Tick => set(&self.tick, c, Some(at.ns())),
            TimerKind::Policy(n) => set(&self.policy, c, Some((n, at.ns()))),
            TimerKind::Acct => self.acct.set(Some((c, at.ns()))),
        }
    }
    fn stop_timer(&self, cpu: CpuId, timer: TimerKind) {
        let c = cpu.index();
        match timer {
            TimerKind::Tick => set(&self.tick, c, None),
            TimerKind::Policy(_) => set(&self.policy, c, None),
            TimerKind::Acct => self.acct.set(None),
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
}

/// Sets pCPU `c`'s timer in `slots`, if the machine has that pCPU.
fn set<T: Copy>(slots: &[Cell<T>], c: usize, v: T) {
    if let Some(t) = slots.get(c) {
        t.set(v);
    }
}
