//! The C ABI through which Xen's scheduler ops reach `sched-core`.
//!
//! Xen 4.17 calls a scheduler through `struct scheduler` function pointers.
//! Those targets live in the C shim (`c/rs_shim.c`), because only C can give
//! them the CET and retpoline treatment Xen's indirect calls need; each one
//! calls an `rs_sched_*` entry point here directly. The contract is
//! `c/rs_sched.h`: what each side implements, and the calling rules the shim
//! keeps (interrupts off around every call into Rust).
//!
//! One instance per cpupool, all of its state behind the pointer
//! `rs_sched_init` returns: the registry's policies (`sched_core::registry`)
//! share these entry points, and the first word of an instance, the Xen
//! scheduler id, says which one it is. Files:
//! - `abi.rs`: the records and services of the C header;
//! - `platform.rs`: the core's `Platform` over Xen, with deferred parking;
//! - `policy.rs`: each policy's parameters in the domctl/sysctl records;
//! - `instance.rs`: instances and records in Xen-allocated memory;
//! - `ops.rs`: each op, typed;
//! - this file: the `extern "C"` entry points.
//!
//! Nothing here allocates except through Xen's `_xzalloc`, uses floating
//! point, or panics on a path the core does not already rule out; the
//! hypervisor build audits the linked object for panic and float symbols.
#![no_std]
#![forbid(clippy::float_arithmetic)]
#![deny(missing_docs)]

pub mod abi;
pub mod instance;
pub mod ops;
pub mod platform;
pub mod policy;

use core::ffi::c_void;

use sched_core::{CpuMask, Policy};

use abi::{RsDecision, RsDomParams, RsGlobalParams, MASK_WORDS};
use instance::{Instance, Unit};
use policy::XenPolicy;

/// The policy of an instance: its first word.
///
/// # Safety
/// `inst` is null or came from `rs_sched_init`.
unsafe fn policy_of(inst: *const c_void) -> Option<u32> {
    // SAFETY: every instance starts with its `u32` policy (`Instance` is
    // `repr(C)` with `policy` first).
    (!inst.is_null()).then(|| unsafe { *inst.cast::<u32>() })
}

/// Runs `$f::<H>(args)` for the policy of `$inst`, or yields `$none` for a
/// null or unknown instance. The policies are the registry's
/// (`sched_core::with_policies!`).
macro_rules! dispatch {
    ($inst:expr, $none:expr, $f:ident($($arg:expr),*)) => {
        sched_core::with_policies!(dispatch_to, $inst, $none, $f($inst $(, $arg)*))
    };
}

/// [`dispatch!`] over the registry's list of policy types.
macro_rules! dispatch_to {
    ([$($t:ty),*] $inst:expr, $none:expr, $f:ident $args:tt) => {{
        // SAFETY: the shim passes the pointer `rs_sched_init` returned.
        let id = unsafe { policy_of($inst) };
        $(if id == Some(<$t as Policy>::INFO.xen_id) {
            $f::<$t> $args
        } else)* {
            $none
        }
    }};
}

/// An instance of the policy Xen knows by `sched_id`, or null.
macro_rules! create_for {
    ([$($t:ty),*] $id:expr, $host:expr) => {{
        $(if $id == <$t as Policy>::INFO.xen_id {
            return instance::create::<$t>($host);
        })*
        core::ptr::null_mut()
    }};
}

/// The instance behind Xen's `ops->sched_data`.
///
/// # Safety
/// `inst` came from `rs_sched_init` for policy `H` and is not yet deinit.
unsafe fn instance_at<H: XenPolicy>(inst: *mut c_void) -> &'static Instance<H> {
    // SAFETY: by the caller's promise; Xen keeps the instance until deinit.
    unsafe { &*inst.cast::<Instance<H>>() }
}

/// The unit record behind Xen's `unit->priv`.
///
/// # Safety
/// `v` came from `rs_sched_alloc_udata` of this instance and is not freed.
unsafe fn unit_at<H: XenPolicy>(v: *mut c_void) -> &'static Unit<H> {
    // SAFETY: by the caller's promise; Xen frees it only after removal.
    unsafe { &*v.cast::<Unit<H>>() }
}

/// A cpumask from the shim (`RS_MASK_WORDS` words), if given.
///
/// # Safety
/// `m` is null or points at `MASK_WORDS` readable words.
unsafe fn mask(m: *const u64) -> Option<CpuMask> {
    // SAFETY: by the caller's promise.
    (!m.is_null()).then(|| CpuMask::from_words(unsafe { *m.cast::<[u64; MASK_WORDS]>() }))
}

/// Makes a scheduler instance for the policy Xen registered under
/// `sched_id` (`struct scheduler.sched_id`, from the registry); null when
/// out of memory or the id is not a policy's.
#[no_mangle]
pub extern "C" fn rs_sched_init(sched_id: u32, host: *mut c_void) -> *mut c_void {
    sched_core::with_policies!(create_for, sched_id, host)
}

/// Frees an instance (`deinit`).
///
/// # Safety
/// `inst` came from `rs_sched_init`, its pCPUs, domains and units are gone,
/// and it is not used again.
#[no_mangle]
pub unsafe extern "C" fn rs_sched_deinit(inst: *mut c_void) {
    // SAFETY: by the caller's promise.
    dispatch!(inst, (), deinit())
}
unsafe fn deinit<H: XenPolicy>(i: *mut c_void) {
    // SAFETY: by `rs_sched_deinit`'s promise.
    unsafe { instance::destroy::<H>(i) }
}

/// pCPU `cpu` joins the instance (`switch_sched`).
///
/// # Safety
/// `inst` came from `rs_sched_init`.
#[no_mangle]
pub unsafe extern "C" fn rs_sched_add_pcpu(inst: *mut c_void, cpu: u32) {
    dispatch!(inst, (), add_pcpu(cpu))
}
fn add_pcpu<H: XenPolicy>(i: *mut c_void, cpu: u32) {
    use sched_core::SchedOps;
    if let Some(c) = ops::cpu_id(cpu) {
        // SAFETY: `rs_sched_add_pcpu`'s promise.
        unsafe { instance_at::<H>(i) }.engine.add_pcpu(c);
    }
}

/// pCPU `cpu` leaves the instance (`deinit_pdata`).
///
/// # Safety
/// `inst` came from `rs_sched_init`.
#[no_mangle]
pub unsafe extern "C" fn rs_sched_remove_pcpu(inst: *mut c_void, cpu: u32) {
    dispatch!(inst, (), remove_pcpu(cpu))
}
fn remove_pcpu<H: XenPolicy>(i: *mut c_void, cpu: u32) {
    use sched_core::SchedOps;
    if let Some(c) = ops::cpu_id(cpu) {
        // SAFETY: `rs_sched_remove_pcpu`'s promise.
        unsafe { instance_at::<H>(i) }.engine.remove_pcpu(c);
    }
}

/// A domain record (`alloc_domdata`); null when out of memory.
///
/// # Safety
/// `inst` came from `rs_sched_init`.
#[no_mangle]
pub unsafe extern "C" fn rs_sched_alloc_domdata(inst: *mut c_void, domid: u16) -> *mut c_void {
    dispatch!(inst, core::ptr::null_mut(), alloc_domdata(domid))
}
fn alloc_domdata<H: XenPolicy>(i: *mut c_void, domid: u16) -> *mut c_void {
    // SAFETY: `rs_sched_alloc_domdata`'s promise.
    instance::create_dom(unsafe { instance_at::<H>(i) }, domid).cast()
}

/// Frees a domain record (`free_domdata`); null is ignored.
///
/// # Safety
/// `dom` is null or came from `rs_sched_alloc_domdata` of `inst`, and none
/// of its units remains.
#[no_mangle]
pub unsafe extern "C" fn rs_sched_free_domdata(inst: *mut c_void, dom: *mut c_void) {
    if !dom.is_null() {
        dispatch!(inst, (), free_domdata(dom))
    }
}
fn free_domdata<H: XenPolicy>(i: *mut c_void, dom: *mut c_void) {
    // SAFETY: `rs_sched_free_domdata`'s promise.
    unsafe { instance::destroy_dom(instance_at::<H>(i), dom.cast::<H::Dom<'static>>()) }
}

/// A unit record (`alloc_udata`) for Xen's `unit` of domain record `dom`,
/// allowed on the `hard` pCPUs; null when out of memory.
///
/// # Safety
/// `inst` came from `rs_sched_init`, `dom` from its `rs_sched_alloc_domdata`,
/// `hard` points at `RS_MASK_WORDS` words, and `unit` outlives the record.
#[no_mangle]
pub unsafe extern "C" fn rs_sched_alloc_udata(
    inst: *mut c_void,
    unit: *mut c_void,
    dom: *mut c_void,
    unit_id: u16,
    hard: *const u64,
) -> *mut c_void {
    if dom.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: by the caller's promise.
    let hard = unsafe { mask(hard) }.unwrap_or(CpuMask::EMPTY);
    dispatch!(
        inst,
        core::ptr::null_mut(),
        alloc_udata(unit, dom, unit_id, hard)
    )
}
fn alloc_udata<H: XenPolicy>(
    _: *mut c_void,
    unit: *mut c_void,
    dom: *mut c_void,
    unit_id: u16,
    hard: CpuMask,
) -> *mut c_void {
    // SAFETY: `rs_sched_alloc_udata`'s promise on `dom`.
    unsafe { instance::create_unit::<H>(unit, dom.cast(), unit_id, hard) }.cast()
}

/// Frees a unit record (`free_udata`); null is ignored.
///
/// # Safety
/// `v` is null or came from `rs_sched_alloc_udata` of `inst` and was
/// removed (or never inserted).
#[no_mangle]
pub unsafe extern "C" fn rs_sched_free_udata(inst: *mut c_void, v: *mut c_void) {
    if !v.is_null() {
        dispatch!(inst, (), free_udata(v))
    }
}
fn free_udata<H: XenPolicy>(i: *mut c_void, v: *mut c_void) {
    // SAFETY: `rs_sched_free_udata`'s promise.
    unsafe { instance::destroy_unit(instance_at::<H>(i), v.cast::<Unit<H>>()) }
}

/// Declares a `(inst, v, extra...)` entry point that forwards to `ops::$op`.
macro_rules! unit_entry {
    ($(#[$doc:meta])* $name:ident => $op:ident($($arg:ident: $ty:ty => $conv:expr),*)) => {
        unit_entry!($(#[$doc])* $name => $op($($arg: $ty => $conv),*) -> () = ());
    };
    ($(#[$doc:meta])* $name:ident => $op:ident($($arg:ident: $ty:ty => $conv:expr),*) -> $ret:ty = $none:expr) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `inst` came from `rs_sched_init` and `v` from its
        /// `rs_sched_alloc_udata`, not yet freed.
        #[no_mangle]
        pub unsafe extern "C" fn $name(this: *mut c_void, rec: *mut c_void $(, $arg: $ty)*) -> $ret {
            fn typed<H: XenPolicy>(i: *mut c_void, v: *mut c_void $(, $arg: $ty)*) -> $ret {
                // SAFETY: the entry point's promise.
                let (i, u) = unsafe { (instance_at::<H>(i), unit_at::<H>(v)) };
                ops::$op(i, u $(, $conv)*)
            }
            if rec.is_null() {
                return $none;
            }
            dispatch!(this, $none, typed(rec $(, $arg)*))
        }
    };
}

unit_entry!(
    /// Places a new unit (`insert_unit`) and returns its pCPU.
    rs_sched_insert_unit => insert() -> u32 = 0
);
unit_entry!(
    /// Takes a unit out of the scheduler (`remove_unit`).
    rs_sched_remove_unit => remove()
);
unit_entry!(
    /// The unit stops being runnable (`sleep`).
    rs_sched_sleep => sleep()
);
unit_entry!(
    /// The unit becomes runnable (`wake`); `event` when it was blocked.
    rs_sched_wake => wake(event: u8 => event != 0)
);
unit_entry!(
    /// An event reached the unit while it was runnable or running
    /// (`unit_event`, the patch's hook where Xen marks events pending).
    rs_sched_event => event()
);
unit_entry!(
    /// The running unit yields (`yield`).
    rs_sched_yield => yield_unit()
);
unit_entry!(
    /// The unit's context is saved after a switch (`context_saved`).
    rs_sched_context_saved => context_saved()
);
unit_entry!(
    /// The pCPU the unit should run on (`pick_resource`).
    rs_sched_pick_cpu => pick_cpu() -> u32 = 0
);
unit_entry!(
    /// Moves a non-running unit to `cpu` (`migrate`).
    rs_sched_migrate => migrate(cpu: u32 => cpu)
);
unit_entry!(
    /// New hard and/or soft affinity (`adjust_affinity`); null = unchanged.
    /// The masks point at `RS_MASK_WORDS` words.
    rs_sched_adjust_affinity => adjust_affinity(
        hard: *const u64 => unsafe { mask(hard) },
        soft: *const u64 => unsafe { mask(soft) }
    )
);

/// Picks what `cpu` runs next (`do_schedule`) into `*out`.
///
/// # Safety
/// `inst` came from `rs_sched_init`; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn rs_sched_do_schedule(
    inst: *mut c_void,
    cpu: u32,
    now: i64,
    prev_runnable: u8,
    tasklet_work: u8,
    out: *mut RsDecision,
) {
    fn typed<H: XenPolicy>(
        i: *mut c_void,
        cpu: u32,
        now: i64,
        prev: bool,
        tasklet: bool,
    ) -> RsDecision {
        // SAFETY: `rs_sched_do_schedule`'s promise.
        ops::do_schedule(unsafe { instance_at::<H>(i) }, cpu, now, prev, tasklet)
    }
    let idle = RsDecision {
        unit: core::ptr::null_mut(),
        next_time: -1,
        migrated: 0,
        pad: [0; 7],
    };
    let d = dispatch!(
        inst,
        idle,
        typed(cpu, now, prev_runnable != 0, tasklet_work != 0)
    );
    if !out.is_null() {
        // SAFETY: the caller's promise.
        unsafe { out.write(d) };
    }
}

/// A domain's parameters (`adjust`): `RS_CMD_GETINFO` fills `*p`,
/// `RS_CMD_PUTINFO` applies it whole or not at all. 0 or `-EINVAL`.
///
/// # Safety
/// `inst` came from `rs_sched_init`, `dom` from its `rs_sched_alloc_domdata`,
/// and `p` is readable and writable.
#[no_mangle]
pub unsafe extern "C" fn rs_sched_adjust(
    inst: *mut c_void,
    dom: *mut c_void,
    cmd: u32,
    p: *mut RsDomParams,
) -> i32 {
    fn typed<H: XenPolicy>(i: *mut c_void, dom: *mut c_void, cmd: u32, p: *mut RsDomParams) -> i32 {
        // SAFETY: `rs_sched_adjust`'s promise.
        let (i, dom, p) = unsafe {
            (
                instance_at::<H>(i),
                &*dom.cast::<H::Dom<'static>>(),
                &mut *p,
            )
        };
        ops::adjust(i, dom, cmd, p)
    }
    if dom.is_null() || p.is_null() {
        return -abi::EINVAL;
    }
    dispatch!(inst, -abi::EINVAL, typed(dom, cmd, p))
}

/// Pool-wide parameters (`adjust_global`), as [`rs_sched_adjust`].
///
/// # Safety
/// `inst` came from `rs_sched_init`; `p` is readable and writable.
#[no_mangle]
pub unsafe extern "C" fn rs_sched_adjust_global(
    inst: *mut c_void,
    cmd: u32,
    p: *mut RsGlobalParams,
) -> i32 {
    fn typed<H: XenPolicy>(i: *mut c_void, cmd: u32, p: *mut RsGlobalParams) -> i32 {
        // SAFETY: `rs_sched_adjust_global`'s promise.
        let (i, p) = unsafe { (instance_at::<H>(i), &mut *p) };
        ops::adjust_global(i, cmd, p)
    }
    if p.is_null() {
        return -abi::EINVAL;
    }
    dispatch!(inst, -abi::EINVAL, typed(cmd, p))
}

/// A timer the instance armed on `cpu` fired (`RS_TIMER_*`).
///
/// # Safety
/// `inst` came from `rs_sched_init`.
#[no_mangle]
pub unsafe extern "C" fn rs_sched_timer_fired(inst: *mut c_void, cpu: u32, kind: u32) {
    fn typed<H: XenPolicy>(i: *mut c_void, cpu: u32, kind: u32) {
        // SAFETY: `rs_sched_timer_fired`'s promise.
        ops::timer_fired(unsafe { instance_at::<H>(i) }, cpu, kind)
    }
    dispatch!(inst, (), typed(cpu, kind))
}

/// Prints the instance's state (`dump_settings`).
///
/// # Safety
/// `inst` came from `rs_sched_init`.
#[no_mangle]
pub unsafe extern "C" fn rs_sched_dump_settings(inst: *mut c_void) {
    fn typed<H: XenPolicy>(i: *mut c_void) {
        // SAFETY: `rs_sched_dump_settings`'s promise.
        ops::dump_settings(unsafe { instance_at::<H>(i) })
    }
    dispatch!(inst, (), typed())
}

/// Prints one pCPU's state (`dump_cpu_state`).
///
/// # Safety
/// `inst` came from `rs_sched_init`.
#[no_mangle]
pub unsafe extern "C" fn rs_sched_dump_cpu(inst: *mut c_void, cpu: u32) {
    fn typed<H: XenPolicy>(i: *mut c_void, cpu: u32) {
        // SAFETY: `rs_sched_dump_cpu`'s promise.
        ops::dump_cpu(unsafe { instance_at::<H>(i) }, cpu)
    }
    dispatch!(inst, (), typed(cpu))
}

/// In the hypervisor a panic takes the host down with Xen's `panic()`; the
/// build audits that no panic path is reachable.
#[cfg(all(target_os = "none", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    const MSG: &str = "xen-glue: panic in the Rust scheduler";
    // SAFETY: Xen's panic() prints and halts; it does not return.
    unsafe { abi::rs_xen_panic(MSG.as_ptr(), MSG.len()) };
    loop {
        core::hint::spin_loop();
    }
}
