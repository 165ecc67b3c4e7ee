//! The mini core's C interface (`c/oracle_api.h`), declared for Rust.

use core::ffi::{c_char, c_int, c_uint, c_void};

/// An opaque C object.
#[repr(C)]
pub(crate) struct Opaque {
    _p: [u8; 0],
}

/// `struct oc_cb`: what the core asks of the host.
#[repr(C)]
pub(crate) struct Cb {
    pub ctx: *const c_void,
    pub now: extern "C" fn(*const c_void) -> i64,
    pub softirq: extern "C" fn(*const c_void, c_uint),
    pub set_timer: extern "C" fn(*const c_void, c_uint, i64),
    pub stop_timer: extern "C" fn(*const c_void, c_uint),
    pub pause: extern "C" fn(*const c_void, usize),
    pub unpause: extern "C" fn(*const c_void, usize),
    pub migrate: extern "C" fn(*const c_void, usize),
    pub has_work: extern "C" fn(*const c_void, usize) -> bool,
}

/// `struct oc_decision`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct RawDecision {
    pub token: usize,
    pub idle: bool,
    pub migrated: bool,
    pub slice: i64,
}

/// Words of a C `cpumask_t` (`NR_CPUS` = 256, as `sched_core::MAX_CPUS`).
pub(crate) const MASK_WORDS: usize = 4;

/// The mini core's entry points (`c/oracle_api.h`), listed once: with Xen's
/// source they are the C functions; in a build without it (no source, or a
/// target other than the host: dom0's static `vsched`) they are stubs that
/// panic with how to get them, and no C is compiled at all.
macro_rules! entry_points {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?;)*) => {
        #[cfg(not(oracle_missing))]
        extern "C-unwind" {
            $(pub(crate) fn $name($($arg: $ty),*) $(-> $ret)?;)*
        }
        $(
            #[cfg(oracle_missing)]
            #[allow(unused_variables)]
            pub(crate) unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
                panic!("{}", crate::missing())
            }
        )*
    };
}

entry_points! {
    fn oc_sched_credit() -> *const Opaque;

    fn oc_new(tmpl: *const Opaque, cb: *const Cb, err: *mut c_int) -> *mut Opaque;
    fn oc_free(i: *mut Opaque);
    fn oc_abandon(i: *mut Opaque);
    fn oc_add_pcpu(i: *mut Opaque, cpu: c_uint) -> c_int;
    fn oc_remove_pcpu(i: *mut Opaque, cpu: c_uint) -> c_int;
    fn oc_dom_new(i: *mut Opaque, id: c_uint, err: *mut c_int) -> *mut Opaque;
    fn oc_dom_free(i: *mut Opaque, d: *mut Opaque);
    fn oc_vcpu_new(
        i: *mut Opaque,
        d: *mut Opaque,
        id: c_uint,
        token: usize,
        cpu: c_uint,
        hard: *const u64,
        err: *mut c_int,
    ) -> *mut Opaque;
    fn oc_vcpu_free(i: *mut Opaque, u: *mut Opaque);
    fn oc_sleep(i: *mut Opaque, u: *mut Opaque);
    fn oc_wake(i: *mut Opaque, u: *mut Opaque);
    fn oc_yield(i: *mut Opaque, u: *mut Opaque);
    fn oc_context_saved(i: *mut Opaque, u: *mut Opaque);
    fn oc_do_schedule(
        i: *mut Opaque,
        cpu: c_uint,
        now: i64,
        prev_runnable: bool,
        tasklet: bool,
        out: *mut RawDecision,
    );
    fn oc_pick_cpu(i: *mut Opaque, u: *mut Opaque) -> c_uint;
    fn oc_migrate(i: *mut Opaque, u: *mut Opaque, cpu: c_uint);
    fn oc_set_affinity(
        i: *mut Opaque,
        u: *mut Opaque,
        hard: *const u64,
        soft: *const u64,
    );
    fn oc_timer_fired(i: *mut Opaque, cpu: c_uint);
    fn oc_dom_params(i: *mut Opaque, d: *mut Opaque, put: bool, p: *mut u32) -> c_int;
    fn oc_pool_params(i: *mut Opaque, put: bool, p: *mut u32) -> c_int;
    fn oc_processor(u: *const Opaque) -> c_uint;
    fn oc_hard_affinity(u: *const Opaque) -> *const u64;
    fn oc_soft_affinity(u: *const Opaque) -> *const u64;
    fn oc_running_on(i: *mut Opaque, cpu: c_uint, token: *mut usize) -> bool;
    fn oc_dump(i: *mut Opaque, cpu: c_int) -> *const c_char;
}

/// Xen's `ASSERT`/`BUG_ON` failing in the scheduler or the core: a panic
/// naming the place (the C is built with unwind tables, so the panic
/// unwinds through it to the test that drove it).
#[no_mangle]
pub extern "C-unwind" fn oc_fail(what: *const c_char, file: *const c_char, line: c_int) -> ! {
    // SAFETY: the C side passes string literals (`#p`, `__FILE__`).
    let (what, file) = unsafe {
        (
            core::ffi::CStr::from_ptr(what).to_string_lossy(),
            core::ffi::CStr::from_ptr(file).to_string_lossy(),
        )
    };
    panic!("Xen {what} failed at {file}:{line}");
}
