//! The core's `Platform` over Xen's services, and the units' common head.
//!
//! Parking is the one service that cannot be called where the core asks for
//! it: `sched_unit_pause_nosync` / `sched_unit_unpause` take the unit's
//! schedule lock and call back into the scheduler (`sleep`, `wake`), while
//! the core asks from its accounting pass with its accounting lock held, and
//! `do_schedule` takes that lock under the schedule lock. Calling Xen there
//! would order the two locks both ways. So parking requests are queued on the
//! unit's head and carried out when the entry point that produced them
//! returns (the timer and `remove_unit`), with no scheduler lock held.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering::*};

use sched_core::platform::{Platform, TimerKind, VcpuToken};
use sched_core::{CpuId, Time};

use crate::abi;

/// The part of a unit's record every policy shares; first in the record, so
/// the core's `VcpuToken` (its address) leads here whatever the policy.
#[repr(C)]
pub struct UnitHead {
    /// Xen's `struct sched_unit *`.
    pub unit: *mut c_void,
    /// Net pause requests not yet carried out (+1 park, −1 unpark).
    park_delta: AtomicI32,
    /// On the instance's parking queue.
    queued: AtomicBool,
    /// A drain is carrying out its requests.
    busy: AtomicBool,
    next: AtomicPtr<UnitHead>,
    /// Removed from the scheduler: Xen may still wake it (credit1's
    /// `remove_unit` unpauses a parked unit, and the unpause wakes it), and
    /// such calls must not put it back on a runqueue.
    pub removed: AtomicBool,
}

impl UnitHead {
    /// The head of Xen's `unit`.
    pub fn new(unit: *mut c_void) -> UnitHead {
        UnitHead {
            unit,
            park_delta: AtomicI32::new(0),
            queued: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            next: AtomicPtr::new(ptr::null_mut()),
            removed: AtomicBool::new(false),
        }
    }

    /// The head behind a core token.
    ///
    /// # Safety
    /// `t` must be a token the glue made from a live `UnitHead`.
    pub unsafe fn from_token<'x>(t: VcpuToken) -> &'x UnitHead {
        // SAFETY: by the caller's promise `t.0` is the address of a live head.
        unsafe { &*(t.0 as *const UnitHead) }
    }

    /// The token naming this head.
    pub fn token(&self) -> VcpuToken {
        VcpuToken(self as *const UnitHead as usize)
    }

    /// Whether no parking request for it is pending or being carried out:
    /// its record may then be freed.
    pub fn settled(&self) -> bool {
        !self.queued.load(Acquire) && !self.busy.load(Acquire)
    }
}

/// A lock-free stack of unit heads with pending parking requests. Pushes
/// come from any pCPU; one drain runs at a time (a drain that finds another
/// running leaves the work to it), so one unit's pause and unpause are never
/// carried out out of order on two pCPUs.
pub struct ParkQueue {
    top: AtomicPtr<UnitHead>,
    draining: AtomicBool,
}

impl ParkQueue {
    const fn new() -> ParkQueue {
        ParkQueue {
            top: AtomicPtr::new(ptr::null_mut()),
            draining: AtomicBool::new(false),
        }
    }

    fn push(&self, h: &UnitHead, delta: i32) {
        h.park_delta.fetch_add(delta, AcqRel);
        if h.queued.swap(true, AcqRel) {
            return; // already queued: the drain will see the new delta
        }
        let me = h as *const UnitHead as *mut UnitHead;
        let mut top = self.top.load(Acquire);
        loop {
            h.next.store(top, Relaxed);
            match self.top.compare_exchange_weak(top, me, AcqRel, Acquire) {
                Ok(_) => return,
                Err(t) => top = t,
            }
        }
    }

    /// Carries out every pending request, or leaves them to the drain
    /// running on another pCPU, which looks again before it stops. Call
    /// with no scheduler lock held.
    pub fn drain(&self) {
        loop {
            if self.draining.swap(true, Acquire) {
                return;
            }
            self.drain_once();
            self.draining.store(false, Release);
            // A push that came after the swap in `drain_once` and saw the
            // flag still set is ours to carry out.
            if self.top.load(Acquire).is_null() {
                return;
            }
        }
    }

    fn drain_once(&self) {
        let mut p = self.top.swap(ptr::null_mut(), AcqRel);
        while !p.is_null() {
            // SAFETY: a queued head is live: `free_udata` drains and then
            // waits for `settled()` (which covers `queued` and `busy`)
            // before freeing, and both stay set until the last touch below.
            let h = unsafe { &*p };
            h.busy.store(true, Release);
            p = h.next.load(Acquire);
            // Cleared before the delta is read, so a push racing with this
            // drain either lands in the delta read here or queues again.
            h.queued.store(false, Release);
            let delta = h.park_delta.swap(0, AcqRel);
            for _ in 0..delta.max(0) {
                // SAFETY: `unit` is Xen's live unit (its record outlives
                // the head), and no scheduler lock is held here.
                unsafe { abi::rs_xen_pause_unit(h.unit) };
            }
            for _ in 0..(-delta).max(0) {
                // SAFETY: as above.
                unsafe { abi::rs_xen_unpause_unit(h.unit) };
            }
            h.busy.store(false, Release);
        }
    }
}

/// Xen's services for one scheduler instance.
pub struct XenPlatform {
    /// The shim's per-instance data (its timers).
    host: *mut c_void,
    /// Parking requests waiting for the entry point to return.
    pub parks: ParkQueue,
}

impl XenPlatform {
    /// Services for the instance whose shim data is `host`.
    pub const fn new(host: *mut c_void) -> XenPlatform {
        XenPlatform {
            host,
            parks: ParkQueue::new(),
        }
    }
}

/// The shim's code for a timer (`RS_TIMER_*`: the core's dense index).
pub fn timer_code(t: TimerKind) -> u32 {
    u32::from(t.index())
}

/// The timer a shim code names, if any.
pub fn timer_kind(code: u32) -> Option<TimerKind> {
    u16::try_from(code).ok().and_then(TimerKind::from_index)
}

impl Platform for XenPlatform {
    fn now(&self) -> Time {
        // SAFETY: NOW() has no preconditions.
        Time(unsafe { abi::rs_xen_now() })
    }

    fn raise_softirq(&self, cpu: CpuId) {
        // SAFETY: raising a softirq is allowed in any context.
        unsafe { abi::rs_xen_raise_softirq(u32::from(cpu.0)) }
    }

    fn set_timer(&self, cpu: CpuId, timer: TimerKind, at: Time) {
        // SAFETY: `host` is the shim's data for this instance, live as long
        // as the instance; set_timer may be called under any lock.
        unsafe { abi::rs_xen_set_timer(self.host, u32::from(cpu.0), timer_code(timer), at.0) }
    }

    fn stop_timer(&self, cpu: CpuId, timer: TimerKind) {
        // SAFETY: as for `set_timer`.
        unsafe { abi::rs_xen_stop_timer(self.host, u32::from(cpu.0), timer_code(timer)) }
    }

    fn pause_vcpu(&self, vcpu: VcpuToken) {
        // SAFETY: the core only names vCPUs the glue made tokens for.
        self.parks.push(unsafe { UnitHead::from_token(vcpu) }, 1);
    }

    fn unpause_vcpu(&self, vcpu: VcpuToken) {
        // SAFETY: as for `pause_vcpu`.
        self.parks.push(unsafe { UnitHead::from_token(vcpu) }, -1);
    }

    fn migrate_vcpu(&self, vcpu: VcpuToken) {
        // SAFETY: as for `pause_vcpu`; setting `_VPF_migrating` is a bit
        // operation allowed under the schedule locks.
        unsafe { abi::rs_xen_migrate_unit(UnitHead::from_token(vcpu).unit) }
    }

    fn try_lock_peer(&self, peer: CpuId) -> bool {
        // SAFETY: a try-lock; the core calls it from `do_schedule` on a
        // pCPU of this instance, interrupts off.
        unsafe { abi::rs_xen_trylock_peer(u32::from(peer.0)) != 0 }
    }

    fn unlock_peer(&self, peer: CpuId) {
        // SAFETY: pairs with a successful `try_lock_peer` on the same pCPU.
        unsafe { abi::rs_xen_unlock_peer(u32::from(peer.0)) }
    }

    fn stolen(&self, vcpu: VcpuToken, cpu: CpuId) {
        // SAFETY: the unit is live (the core names only vCPUs the glue made
        // tokens for) and its old pCPU's lock is held (`try_lock_peer`).
        unsafe { abi::rs_xen_set_res(UnitHead::from_token(vcpu).unit, u32::from(cpu.0)) }
    }
}
