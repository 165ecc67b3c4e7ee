//! A recording [`Platform`] for unit tests and benchmarks of the core alone
//! (enabled by the `mock` feature, and in this crate's own tests).
//!
//! It does nothing by itself: time moves only when the test sets it, and
//! softirqs, timers and pause/unpause/migrate requests are recorded for the
//! test to inspect and act on.

use core::cell::{Cell, RefCell};

use crate::cpumask::{CpuId, CpuMask, MAX_CPUS};
use crate::platform::{Platform, TimerKind, VcpuToken};
use crate::time::Time;

/// Requests of one kind the mock records (the oldest are kept if it fills).
pub type Requests = heapless::Vec<VcpuToken, 256>;

/// A platform whose clock and timers the test drives.
pub struct MockPlatform {
    now: Cell<i64>,
    softirqs: Cell<CpuMask>,
    ticks: RefCell<[Option<Time>; MAX_CPUS]>,
    policy: RefCell<[Option<Time>; MAX_CPUS]>,
    acct: Cell<Option<(CpuId, Time)>>,
    /// vCPUs the scheduler asked to park.
    pub paused: RefCell<Requests>,
    /// vCPUs the scheduler asked to unpark.
    pub unpaused: RefCell<Requests>,
    /// vCPUs the scheduler asked to move.
    pub migrations: RefCell<Requests>,
}

impl Default for MockPlatform {
    fn default() -> Self {
        MockPlatform {
            now: Cell::new(0),
            softirqs: Cell::new(CpuMask::EMPTY),
            ticks: RefCell::new([None; MAX_CPUS]),
            policy: RefCell::new([None; MAX_CPUS]),
            acct: Cell::new(None),
            paused: RefCell::new(Requests::new()),
            unpaused: RefCell::new(Requests::new()),
            migrations: RefCell::new(Requests::new()),
        }
    }
}

impl MockPlatform {
    /// A platform at time 0.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the clock.
    pub fn set_now(&self, t: Time) {
        self.now.set(t.ns())
    }
    /// Takes and clears the set of pCPUs asked to reschedule.
    pub fn take_softirqs(&self) -> CpuMask {
        self.softirqs.replace(CpuMask::EMPTY)
    }
    /// When `cpu`'s tick timer is armed for, if it is.
    pub fn tick_at(&self, cpu: CpuId) -> Option<Time> {
        self.ticks.borrow().get(cpu.index()).copied().flatten()
    }
    /// When `cpu`'s policy-layer timer is armed for, if it is.
    pub fn policy_at(&self, cpu: CpuId) -> Option<Time> {
        self.policy.borrow().get(cpu.index()).copied().flatten()
    }
    /// Where and when the accounting timer is armed, if it is.
    pub fn acct_at(&self) -> Option<(CpuId, Time)> {
        self.acct.get()
    }
}

impl Platform for MockPlatform {
    fn now(&self) -> Time {
        Time(self.now.get())
    }
    fn raise_softirq(&self, cpu: CpuId) {
        let mut m = self.softirqs.get();
        m.set(cpu);
        self.softirqs.set(m);
    }
    fn set_timer(&self, cpu: CpuId, timer: TimerKind, at: Time) {
        match timer {
            TimerKind::Tick => {
                if let Some(slot) = self.ticks.borrow_mut().get_mut(cpu.index()) {
                    *slot = Some(at);
                }
            }
            TimerKind::Acct => self.acct.set(Some((cpu, at))),
            TimerKind::Policy(_) => {
                if let Some(slot) = self.policy.borrow_mut().get_mut(cpu.index()) {
                    *slot = Some(at);
                }
            }
        }
    }
    fn stop_timer(&self, cpu: CpuId, timer: TimerKind) {
        match timer {
            TimerKind::Tick => {
                if let Some(slot) = self.ticks.borrow_mut().get_mut(cpu.index()) {
                    *slot = None;
                }
            }
            TimerKind::Acct => self.acct.set(None),
            TimerKind::Policy(_) => {
                if let Some(slot) = self.policy.borrow_mut().get_mut(cpu.index()) {
                    *slot = None;
                }
            }
        }
    }
    fn pause_vcpu(&self, vcpu: VcpuToken) {
        let _ = self.paused.borrow_mut().push(vcpu);
    }
    fn unpause_vcpu(&self, vcpu: VcpuToken) {
        let _ = self.unpaused.borrow_mut().push(vcpu);
    }
    fn migrate_vcpu(&self, vcpu: VcpuToken) {
        let _ = self.migrations.borrow_mut().push(vcpu);
    }
}
