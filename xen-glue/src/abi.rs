//! The C side of the boundary, mirrored from `c/rs_sched.h` field for field:
//! the records the shim and Rust exchange, and the services the shim provides.

use core::ffi::c_void;

/// `RS_TIMER_TICK`: the per-pCPU credit tick.
pub const TIMER_TICK: u32 = 0;
/// `RS_TIMER_ACCT`: the instance's accounting timer on its master pCPU.
pub const TIMER_ACCT: u32 = 1;
/// `RS_TIMER_POLICY`: a policy layer's per-pCPU timer (EDF's poll).
pub const TIMER_POLICY: u32 = 2;

// The header's timer codes are the core's dense timer numbers.
const _: () = assert!(
    sched_core::TimerKind::Tick.index() as u32 == TIMER_TICK
        && sched_core::TimerKind::Acct.index() as u32 == TIMER_ACCT
        && sched_core::TimerKind::Policy(0).index() as u32 == TIMER_POLICY
);

/// `RS_CMD_PUTINFO` (`XEN_DOMCTL_SCHEDOP_putinfo`, `XEN_SYSCTL_SCHEDOP_putinfo`).
pub const CMD_PUTINFO: u32 = 0;
/// `RS_CMD_GETINFO`.
pub const CMD_GETINFO: u32 = 1;
/// `RS_CMD_PUTINFO_CREDIT`: credit1's putinfo, from a toolstack that takes
/// these schedulers for credit (libxl, `xl sched-credit`): only the fields
/// of credit1's records (weight and cap; timeslice, ratelimit and migration
/// delay), the layer's parameters kept as they are.
pub const CMD_PUTINFO_CREDIT: u32 = 2;
/// Credit1's putinfo value for "keep the cap" (`credit.c`).
pub const CAP_KEEP: u16 = u16::MAX;

/// Xen's `EINVAL`: a refused parameter change is `-EINVAL`.
pub const EINVAL: i32 = 22;

/// 64-bit words in a cpumask (`RS_MASK_WORDS`, NR_CPUS = 256).
pub const MASK_WORDS: usize = sched_core::cpumask::WORDS;

/// `struct rs_decision`: what `do_schedule` decided.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RsDecision {
    /// The `struct sched_unit *` to run; null = the idle unit.
    pub unit: *mut c_void,
    /// Nanoseconds until the next decision; negative = none.
    pub next_time: i64,
    /// Taken from another pCPU's runqueue.
    pub migrated: u8,
    /// Zero.
    pub pad: [u8; 7],
}

/// `struct rs_dom_params`: a domain's parameters as the domctl carries them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RsDomParams {
    /// Credit weight, 1..=65535 (0 on putinfo: unchanged).
    pub weight: u16,
    /// Cap in % of one pCPU, 0 = none.
    pub cap: u16,
    /// vSlicer's microslice in µs, 0 = not latency-sensitive.
    pub microslice_us: u32,
    /// EDF+credit's relative deadline in µs, 0 when not real-time.
    pub deadline_us: u32,
    /// EDF+credit's credit reservation in µs per accounting period.
    pub reserve_us: u32,
    /// EDF+credit's mode: 0 none, 1 periodic, 2 aperiodic.
    pub rt_mode: u8,
    /// EDF+credit's driver domain (read-only).
    pub driver: u8,
    /// Zero.
    pub pad: u16,
    /// vSlicer, read-only (ignored on putinfo): the microslice automatic
    /// LSVM detection gave, in µs, 0 = NLSVM.
    pub auto_microslice_us: u32,
    /// vSlicer, read-only: events per second in its last window.
    pub auto_events: u32,
    /// vSlicer, read-only: mean run burst in that window, µs.
    pub auto_burst_us: u32,
    /// vSlicer, read-only: class changes so far.
    pub auto_changes: u32,
}

/// `struct rs_global_params`: pool-wide parameters as the sysctl carries them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RsGlobalParams {
    /// Timeslice (and accounting period) in ms.
    pub tslice_ms: u32,
    /// Ratelimit in µs, 0 = off.
    pub ratelimit_us: u32,
    /// Cache-hot migration delay in µs.
    pub vcpu_migr_delay_us: u32,
    /// EDF+credit's poll period in µs (0 for the other policies).
    pub poll_us: u32,
    /// EDF+credit's EDF slice in µs (0 for the other policies).
    pub edf_slice_us: u32,
    /// vSlicer: [`GLOBAL_AUTO_LSVM`]; 0 for the other policies.
    pub flags: u32,
}

/// `RS_GLOBAL_AUTO_LSVM`: vSlicer classifies domains without a microslice.
pub const GLOBAL_AUTO_LSVM: u32 = 1;

// The C header fixes these sizes; a change here is an ABI break.
const _: () = assert!(core::mem::size_of::<RsDecision>() == 24);
const _: () = assert!(core::mem::size_of::<RsDomParams>() == 36);
const _: () = assert!(core::mem::size_of::<RsGlobalParams>() == 24);

extern "C" {
    /// `NOW()`.
    pub fn rs_xen_now() -> i64;
    /// `cpu_raise_softirq(cpu, SCHEDULE_SOFTIRQ)`.
    pub fn rs_xen_raise_softirq(cpu: u32);
    /// Arms the instance's timer `kind` on `cpu` for absolute time `at`.
    pub fn rs_xen_set_timer(host: *mut c_void, cpu: u32, kind: u32, at: i64);
    /// Disarms it.
    pub fn rs_xen_stop_timer(host: *mut c_void, cpu: u32, kind: u32);
    /// `sched_unit_pause_nosync(unit)`; only outside every scheduler lock.
    pub fn rs_xen_pause_unit(unit: *mut c_void);
    /// `sched_unit_unpause(unit)`; only outside every scheduler lock.
    pub fn rs_xen_unpause_unit(unit: *mut c_void);
    /// Sets `_VPF_migrating` on a running unit.
    pub fn rs_xen_migrate_unit(unit: *mut c_void);
    /// Try-locks pCPU `cpu`'s schedule lock (work stealing); 1 if taken.
    pub fn rs_xen_trylock_peer(cpu: u32) -> u8;
    /// Releases it.
    pub fn rs_xen_unlock_peer(cpu: u32);
    /// `sched_set_res(unit, get_sched_res(cpu))`, with the old pCPU's
    /// schedule lock held.
    pub fn rs_xen_set_res(unit: *mut c_void, cpu: u32);
    /// `_xzalloc(size, align)`: zeroed memory, or null.
    pub fn rs_xen_alloc(size: usize, align: usize) -> *mut c_void;
    /// `xfree(p)`.
    pub fn rs_xen_free(p: *mut c_void);
    /// `printk("%.*s", len, s)`.
    pub fn rs_xen_print(s: *const u8, len: usize);
    /// `panic("%.*s", len, s)`; does not return.
    pub fn rs_xen_panic(s: *const u8, len: usize);
}
