//! Each scheduler op for one policy: the typed side of the entry points.
//!
//! The entry points in `lib.rs` turn Xen's `void *` back into these records
//! and pick the policy; here every op is one call into the core.

use core::fmt::{self, Write};
use core::sync::atomic::Ordering::{Acquire, Release};

use sched_core::{Affinity, CpuId, CpuMask, SchedOps, Time, VcpuToken, MAX_CPUS};

use crate::abi::{self, RsDecision, RsDomParams, RsGlobalParams};
use crate::instance::{Instance, Unit};
use crate::platform::{timer_kind, UnitHead};
use crate::policy::XenPolicy;

/// A pCPU number from Xen, if this scheduler can hold it.
pub fn cpu_id(cpu: u32) -> Option<CpuId> {
    u16::try_from(cpu)
        .ok()
        .filter(|&c| usize::from(c) < MAX_CPUS)
        .map(CpuId)
}

/// The unit Xen runs for a core decision.
fn xen_unit(t: VcpuToken) -> *mut core::ffi::c_void {
    // SAFETY: a decision names only inserted vCPUs, and every vCPU record's
    // token is the address of its live unit head.
    unsafe { UnitHead::from_token(t).unit }
}

/// Places a new unit; returns its pCPU.
pub fn insert<H: XenPolicy>(i: &'static Instance<H>, u: &'static Unit<H>) -> u32 {
    i.engine.insert_vcpu(&u.data);
    u32::from(i.engine.processor_of(&u.data).0)
}

/// Removes a unit, then carries out the parking requests that produced.
pub fn remove<H: XenPolicy>(i: &'static Instance<H>, u: &'static Unit<H>) {
    if u.head.removed.swap(true, Release) {
        return;
    }
    i.engine.remove_vcpu(&u.data);
    i.platform.parks.drain();
}

/// Whether Xen may still name `u` to the core.
fn live<H: XenPolicy>(u: &Unit<H>) -> bool {
    !u.head.removed.load(Acquire)
}

/// `sleep`.
pub fn sleep<H: XenPolicy>(i: &'static Instance<H>, u: &'static Unit<H>) {
    if live(u) {
        i.engine.sleep(&u.data);
    }
}

/// `wake`; `is_event`: an event woke it from blocked (told first, as
/// [`event`] tells of one reaching a runnable or running unit).
pub fn wake<H: XenPolicy>(i: &'static Instance<H>, u: &'static Unit<H>, is_event: bool) {
    if is_event {
        event(i, u);
    }
    if live(u) {
        i.engine.wake(&u.data);
    }
}

/// `unit_event`: an event reached `u`.
pub fn event<H: XenPolicy>(i: &'static Instance<H>, u: &'static Unit<H>) {
    if live(u) {
        i.engine.event(&u.data);
    }
}

/// `yield`.
pub fn yield_unit<H: XenPolicy>(i: &'static Instance<H>, u: &'static Unit<H>) {
    if live(u) {
        i.engine.yield_vcpu(&u.data);
    }
}

/// `context_saved`.
pub fn context_saved<H: XenPolicy>(i: &'static Instance<H>, u: &'static Unit<H>) {
    i.engine.context_saved(&u.data);
}

/// `do_schedule`.
pub fn do_schedule<H: XenPolicy>(
    i: &'static Instance<H>,
    cpu: u32,
    now: i64,
    prev_runnable: bool,
    tasklet_work: bool,
) -> RsDecision {
    let mut out = RsDecision {
        unit: core::ptr::null_mut(),
        next_time: -1,
        migrated: 0,
        pad: [0; 7],
    };
    if let Some(cpu) = cpu_id(cpu) {
        let d = i
            .engine
            .do_schedule(cpu, Time(now), prev_runnable, tasklet_work);
        out.unit = d.next.map_or(core::ptr::null_mut(), xen_unit);
        out.next_time = d.slice.map_or(-1, |s| s.as_ns().max(0));
        out.migrated = u8::from(d.migrated);
    }
    out
}

/// `pick_resource`.
pub fn pick_cpu<H: XenPolicy>(i: &'static Instance<H>, u: &'static Unit<H>) -> u32 {
    let cpu = if live(u) {
        i.engine.pick_cpu(&u.data)
    } else {
        i.engine.processor_of(&u.data)
    };
    u32::from(cpu.0)
}

/// `migrate`.
pub fn migrate<H: XenPolicy>(i: &'static Instance<H>, u: &'static Unit<H>, cpu: u32) {
    if let Some(cpu) = cpu_id(cpu).filter(|_| live(u)) {
        i.engine.migrate(&u.data, cpu);
    }
}

/// `adjust_affinity`; `None` = that mask is unchanged.
pub fn adjust_affinity<H: XenPolicy>(
    i: &'static Instance<H>,
    u: &'static Unit<H>,
    hard: Option<CpuMask>,
    soft: Option<CpuMask>,
) {
    let cur = i.engine.affinity_of(&u.data);
    let hard = hard.unwrap_or(cur.hard);
    let soft = match soft {
        // Xen's `has_soft_affinity`: useful only if it narrows the hard one.
        Some(s) => {
            let s = s.and(&hard);
            (!s.is_empty() && !hard.and_not(&s).is_empty()).then_some(s)
        }
        None => cur.soft.map(|s| s.and(&hard)).filter(|s| !s.is_empty()),
    };
    i.engine.set_affinity(&u.data, Affinity { hard, soft });
}

/// `adjust` (domctl): 0 or `-EINVAL`, and a refused change changes nothing.
pub fn adjust<H: XenPolicy>(
    i: &'static Instance<H>,
    dom: &'static H::Dom<'static>,
    cmd: u32,
    p: &mut RsDomParams,
) -> i32 {
    let cur = i.engine.dom_params(dom);
    let new = match cmd {
        abi::CMD_GETINFO => {
            *p = H::dom_to_c(&cur, dom);
            return 0;
        }
        abi::CMD_PUTINFO => H::dom_from_c(p, &cur),
        abi::CMD_PUTINFO_CREDIT => H::dom_from_credit_c(p, &cur),
        _ => None,
    };
    match new.map(|new| i.engine.set_dom_params(dom, new)) {
        Some(Ok(())) => 0,
        _ => -abi::EINVAL,
    }
}

/// `adjust_global` (sysctl): 0 or `-EINVAL`, and a refused change changes nothing.
pub fn adjust_global<H: XenPolicy>(
    i: &'static Instance<H>,
    cmd: u32,
    p: &mut RsGlobalParams,
) -> i32 {
    let new = match cmd {
        abi::CMD_GETINFO => {
            *p = H::global_to_c(&i.engine.global_params());
            return 0;
        }
        abi::CMD_PUTINFO => H::global_from_c(p),
        abi::CMD_PUTINFO_CREDIT => H::global_from_credit_c(p, &i.engine.global_params()),
        _ => None,
    };
    match new.map(|new| i.engine.set_global_params(new)) {
        // Credit1's putinfo answers with the values now in force.
        Some(Ok(())) if cmd == abi::CMD_PUTINFO_CREDIT => {
            *p = H::global_to_c(&i.engine.global_params());
            0
        }
        Some(Ok(())) => 0,
        _ => -abi::EINVAL,
    }
}

/// A timer fired; then the parking requests it produced are carried out.
pub fn timer_fired<H: XenPolicy>(i: &'static Instance<H>, cpu: u32, kind: u32) {
    if let (Some(cpu), Some(kind)) = (cpu_id(cpu), timer_kind(kind)) {
        i.engine.timer_fired(cpu, kind);
    }
    i.platform.parks.drain();
}

/// `dump_settings`: the whole instance.
pub fn dump_settings<H: XenPolicy>(i: &'static Instance<H>) {
    let mut out = Printk::default();
    let _ = i.engine.dump(&mut out);
    out.flush();
}

/// `dump_cpu_state`: one pCPU's runqueue.
pub fn dump_cpu<H: XenPolicy>(i: &'static Instance<H>, cpu: u32) {
    let Some(c) = cpu_id(cpu) else { return };
    let mut out = Printk::default();
    let _ = i.engine.dump_cpu(c, &mut out);
    out.flush();
}

/// `fmt::Write` onto Xen's console, a line (or a full buffer) at a time.
struct Printk {
    buf: [u8; 128],
    len: usize,
}

impl Default for Printk {
    fn default() -> Self {
        Printk {
            buf: [0; 128],
            len: 0,
        }
    }
}

impl Printk {
    fn flush(&mut self) {
        if self.len > 0 {
            // SAFETY: `buf[..len]` is initialised; printk copies it.
            unsafe { abi::rs_xen_print(self.buf.as_ptr(), self.len) };
            self.len = 0;
        }
    }
}

impl Write for Printk {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
            if b == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}
