//! Xen 4.17's own schedulers, compiled unmodified from Debian's source
//! (never copied here: `build.rs` compiles them where `cargo xtask
//! xen-source` fetched them), behind `sched-core`'s [`PolicyKind`]: the
//! outside reference this project's engine is measured against.
//!
//! The C side (`c/`) is a stub of the hypervisor headers the schedulers
//! include (`c/include/oracle.h`) and a mini core (`c/core.c`) that calls
//! their ops as Xen's `core.c` does. A host drives it like any policy: the
//! simulator runs `xen-credit` beside `credit`.
//!
//! Limits, by construction: one engine per thread at a time (Xen's per-CPU
//! data and `current` are thread-local arrays in the stub; a second engine
//! on a thread that has one panics); granularity 1; a flat topology (every
//! pCPU a core of its own in one socket, one NUMA node); traces off;
//! parking's pause and `_VPF_migrating` are the host's to act on, after the
//! call that asked (as for this project's engine).

mod ffi;

use core::cell::Cell;
use core::ffi::{c_int, c_uint, c_void};
use core::fmt;
use core::marker::PhantomData;
use core::ptr;

use sched_core::{
    Affinity, CpuId, CpuMask, CreditDomParams, CreditGlobalParams, Decision, DomId, NewVcpu,
    ParamError, Platform, Policy, PolicyInfo, PolicyKind, SchedOps, Span, Time, TimerKind,
    VcpuToken, MAX_CPUS,
};

use ffi::{Opaque, MASK_WORDS};

/// The Debian version of Xen whose schedulers were compiled, or `none`.
pub const XEN_VERSION: &str = env!("XEN_ORACLE_VERSION");

/// Whether Xen's schedulers were compiled into this build (`cargo xtask
/// xen-source` fetches their source; the build finds it).
pub const AVAILABLE: bool = !cfg!(oracle_missing);

/// The one timer a pCPU's Xen timers share on the host: the earliest of
/// their deadlines (Xen's timer list is the core's, `c/core.c`).
pub const TIMER: TimerKind = TimerKind::Policy(0);

/// Xen 4.17's credit scheduler (`xen/common/sched/credit.c`).
pub struct XenCredit;

impl Policy for XenCredit {
    const INFO: PolicyInfo = PolicyInfo {
        name: "xen-credit",
        xen_name: "credit",
        display: "Xen credit (4.17, C)",
        xen_id: 5,
    };
}

/// A domain's record: Xen's `struct domain`, made at `insert_domain`.
pub struct Dom {
    id: DomId,
    c: Cell<*mut Opaque>,
}

/// A vCPU's record: Xen's `struct vcpu` and unit, made at `insert_vcpu`
/// and freed at `remove_vcpu` (null outside: calls on it are then ignored,
/// as `SchedOps` promises, and it reads as where it last was).
pub struct Vcpu<'a> {
    new: NewVcpu,
    dom: &'a Dom,
    c: Cell<*mut Opaque>,
    /// Where it was when removed (a host may still ask).
    last: Cell<Option<(CpuId, Affinity)>>,
}

/// A pCPU's record: Xen's per-pCPU data is the core's.
pub struct Pcpu;

/// One scheduler instance (a cpupool) over platform `P`.
pub struct Engine<'a, P> {
    inst: *mut Opaque,
    /// Boxed: the C side keeps its address as the callbacks' context
    /// (read only through it).
    _platform: Box<P>,
    _records: PhantomData<&'a ()>,
}

impl PolicyKind for XenCredit {
    type Vcpu<'a> = Vcpu<'a>;
    type Dom<'a> = Dom;
    type Pcpu<'a> = Pcpu;
    type DomParams = CreditDomParams;
    type GlobalParams = CreditGlobalParams;
    type Engine<'a, P: Platform + 'a> = Engine<'a, P>;

    fn new_pcpu<'a>() -> Self::Pcpu<'a> {
        Pcpu
    }
    fn new_dom<'a>(id: DomId) -> Self::Dom<'a> {
        Dom {
            id,
            c: Cell::new(ptr::null_mut()),
        }
    }
    fn new_vcpu<'a>(new: NewVcpu, dom: &'a Dom) -> Vcpu<'a> {
        Vcpu {
            new,
            dom,
            c: Cell::new(ptr::null_mut()),
            last: Cell::new(None),
        }
    }
    fn engine<'a, P: Platform + 'a>(platform: P, _: &'a [Pcpu]) -> Engine<'a, P> {
        Engine::new(credit_template(), platform)
    }
}

fn credit_template() -> *const Opaque {
    if !AVAILABLE {
        panic!("{}", missing());
    }
    // SAFETY: returns the address of credit.c's static ops table.
    unsafe { ffi::oc_sched_credit() }
}

/// Why an engine cannot start in a build without Xen's source.
pub fn missing() -> String {
    "Xen's schedulers are not in this build: run `cargo xtask xen-source` \
     (fetches Debian's Xen 4.17 source into target/xen/src), then build again"
        .to_string()
}

fn mask_words(m: &CpuMask) -> [u64; MASK_WORDS] {
    let mut w = [0u64; MASK_WORDS];
    for c in m.iter() {
        w[usize::from(c.0) / 64] |= 1 << (c.0 % 64);
    }
    w
}

/// A C mask of `MASK_WORDS` words at `p`.
///
/// # Safety
/// `p` points to a live `cpumask_t`.
unsafe fn mask_from(p: *const u64) -> CpuMask {
    let mut m = CpuMask::EMPTY;
    for w in 0..MASK_WORDS {
        // SAFETY: the caller's promise.
        let bits = unsafe { *p.add(w) };
        for b in 0..64 {
            let cpu = w * 64 + b;
            if bits >> b & 1 == 1 && cpu < MAX_CPUS {
                m.set(CpuId(cpu as u16));
            }
        }
    }
    m
}

fn cpu(c: CpuId) -> c_uint {
    c_uint::from(c.0)
}

extern "C" fn cb_now<P: Platform>(ctx: *const c_void) -> i64 {
    // SAFETY: `ctx` is the engine's boxed platform, alive while the engine is.
    unsafe { &*(ctx as *const P) }.now().ns()
}
extern "C" fn cb_softirq<P: Platform>(ctx: *const c_void, c: c_uint) {
    // SAFETY: as in `cb_now`.
    unsafe { &*(ctx as *const P) }.raise_softirq(CpuId(c as u16))
}
extern "C" fn cb_set_timer<P: Platform>(ctx: *const c_void, c: c_uint, at: i64) {
    // SAFETY: as in `cb_now`.
    unsafe { &*(ctx as *const P) }.set_timer(CpuId(c as u16), TIMER, Time(at))
}
extern "C" fn cb_stop_timer<P: Platform>(ctx: *const c_void, c: c_uint) {
    // SAFETY: as in `cb_now`.
    unsafe { &*(ctx as *const P) }.stop_timer(CpuId(c as u16), TIMER)
}
extern "C" fn cb_pause<P: Platform>(ctx: *const c_void, t: usize) {
    // SAFETY: as in `cb_now`.
    unsafe { &*(ctx as *const P) }.pause_vcpu(VcpuToken(t))
}
extern "C" fn cb_unpause<P: Platform>(ctx: *const c_void, t: usize) {
    // SAFETY: as in `cb_now`.
    unsafe { &*(ctx as *const P) }.unpause_vcpu(VcpuToken(t))
}
extern "C" fn cb_migrate<P: Platform>(ctx: *const c_void, t: usize) {
    // SAFETY: as in `cb_now`.
    unsafe { &*(ctx as *const P) }.migrate_vcpu(VcpuToken(t))
}
extern "C" fn cb_has_work<P: Platform>(ctx: *const c_void, t: usize) -> bool {
    // SAFETY: as in `cb_now`.
    unsafe { &*(ctx as *const P) }.has_work(VcpuToken(t))
}

impl<'a, P: Platform + 'a> Engine<'a, P> {
    fn new(template: *const Opaque, platform: P) -> Self {
        let platform = Box::new(platform);
        let cb = ffi::Cb {
            ctx: &*platform as *const P as *const c_void,
            now: cb_now::<P>,
            softirq: cb_softirq::<P>,
            set_timer: cb_set_timer::<P>,
            stop_timer: cb_stop_timer::<P>,
            pause: cb_pause::<P>,
            unpause: cb_unpause::<P>,
            migrate: cb_migrate::<P>,
            has_work: cb_has_work::<P>,
        };
        let mut err: c_int = 0;
        // SAFETY: `template` is a scheduler's static ops table; `cb` is
        // copied; its context outlives the instance (dropped after it).
        let inst = unsafe { ffi::oc_new(template, &cb, &mut err) };
        assert!(
            !inst.is_null(),
            "Xen's scheduler could not start (error {err}{})",
            if err == -16 {
                ": this thread already runs one; the oracle keeps Xen's per-CPU data per thread"
            } else {
                ""
            }
        );
        Engine {
            inst,
            _platform: platform,
            _records: PhantomData,
        }
    }

    /// `v`'s unit, if it is in the scheduler.
    fn unit(&self, v: &Vcpu<'_>) -> Option<*mut Opaque> {
        let u = v.c.get();
        (!u.is_null()).then_some(u)
    }
}

impl<P> Drop for Engine<'_, P> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failed Xen ASSERT (or the host's panic) left the instance
            // midway: leak it rather than tear it down.
            // SAFETY: only forgets the thread's instance.
            unsafe { ffi::oc_abandon(self.inst) }
            return;
        }
        // SAFETY: the instance is ours; what the host left in it is torn
        // down as Xen destroys domains, then freed.
        unsafe { ffi::oc_free(self.inst) }
    }
}

impl<'a, P: Platform + 'a> SchedOps<'a> for Engine<'a, P> {
    type Vcpu = Vcpu<'a>;
    type Dom = Dom;
    type DomParams = CreditDomParams;
    type GlobalParams = CreditGlobalParams;

    fn info(&self) -> &'static PolicyInfo {
        &XenCredit::INFO
    }

    fn add_pcpu(&self, c: CpuId) {
        // SAFETY: a live instance; the core checks the number.
        let rc = unsafe { ffi::oc_add_pcpu(self.inst, cpu(c)) };
        debug_assert!(rc == 0, "add_pcpu({c:?}): {rc}");
    }

    fn remove_pcpu(&self, c: CpuId) {
        // SAFETY: as above; the core refuses a pCPU that runs a vCPU.
        let rc = unsafe { ffi::oc_remove_pcpu(self.inst, cpu(c)) };
        debug_assert!(rc == 0, "remove_pcpu({c:?}): {rc}");
    }

    fn insert_domain(&self, dom: &'a Dom) {
        if !dom.c.get().is_null() {
            return;
        }
        let mut err = 0;
        // SAFETY: a live instance.
        let d = unsafe { ffi::oc_dom_new(self.inst, c_uint::from(dom.id.0), &mut err) };
        assert!(!d.is_null(), "alloc_domdata: {err}");
        dom.c.set(d);
    }

    fn remove_domain(&self, dom: &'a Dom) {
        let d = dom.c.replace(ptr::null_mut());
        if !d.is_null() {
            // SAFETY: made by `oc_dom_new` on this instance; its vCPUs are gone.
            unsafe { ffi::oc_dom_free(self.inst, d) }
        }
    }

    fn insert_vcpu(&self, v: &'a Vcpu<'a>) {
        if self.unit(v).is_some() || v.dom.c.get().is_null() {
            return;
        }
        let hard = mask_words(&v.new.hard);
        let on = v.new.cpu.or_else(|| v.new.hard.first()).unwrap_or(CpuId(0));
        let mut err = 0;
        // SAFETY: a live instance and domain; `hard` outlives the call.
        let u = unsafe {
            ffi::oc_vcpu_new(
                self.inst,
                v.dom.c.get(),
                c_uint::from(v.new.vcpu_id),
                v.new.token.0,
                cpu(on),
                hard.as_ptr(),
                &mut err,
            )
        };
        assert!(!u.is_null(), "insert_vcpu: {err}");
        v.c.set(u);
    }

    fn remove_vcpu(&self, v: &'a Vcpu<'a>) {
        if self.unit(v).is_some() {
            v.last
                .set(Some((self.processor_of(v), self.affinity_of(v))));
        }
        let u = v.c.replace(ptr::null_mut());
        if !u.is_null() {
            // SAFETY: made by `oc_vcpu_new`; the host has it neither running nor runnable.
            unsafe { ffi::oc_vcpu_free(self.inst, u) }
        }
    }

    fn sleep(&self, v: &'a Vcpu<'a>) {
        if let Some(u) = self.unit(v) {
            // SAFETY: a live unit of this instance.
            unsafe { ffi::oc_sleep(self.inst, u) }
        }
    }

    fn wake(&self, v: &'a Vcpu<'a>) {
        if let Some(u) = self.unit(v) {
            // SAFETY: as above.
            unsafe { ffi::oc_wake(self.inst, u) }
        }
    }

    fn yield_vcpu(&self, v: &'a Vcpu<'a>) {
        if let Some(u) = self.unit(v) {
            // SAFETY: as above.
            unsafe { ffi::oc_yield(self.inst, u) }
        }
    }

    fn context_saved(&self, v: &'a Vcpu<'a>) {
        if let Some(u) = self.unit(v) {
            // SAFETY: as above.
            unsafe { ffi::oc_context_saved(self.inst, u) }
        }
    }

    fn do_schedule(&self, c: CpuId, now: Time, prev_runnable: bool, tasklet: bool) -> Decision {
        let mut d = ffi::RawDecision::default();
        // SAFETY: a live instance; the core checks the pCPU is in the pool.
        unsafe { ffi::oc_do_schedule(self.inst, cpu(c), now.ns(), prev_runnable, tasklet, &mut d) };
        Decision {
            next: (!d.idle).then_some(VcpuToken(d.token)),
            slice: (d.slice >= 0).then(|| Span::ns(d.slice)),
            migrated: d.migrated,
        }
    }

    fn pick_cpu(&self, v: &'a Vcpu<'a>) -> CpuId {
        match self.unit(v) {
            // SAFETY: a live unit of this instance.
            Some(u) => CpuId(unsafe { ffi::oc_pick_cpu(self.inst, u) } as u16),
            None => self.processor_of(v),
        }
    }

    fn migrate(&self, v: &'a Vcpu<'a>, to: CpuId) {
        if let Some(u) = self.unit(v) {
            // SAFETY: a live unit of this instance.
            unsafe { ffi::oc_migrate(self.inst, u, cpu(to)) }
        }
    }

    fn set_affinity(&self, v: &'a Vcpu<'a>, a: Affinity) {
        let hard = mask_words(&a.hard);
        let soft = mask_words(&a.soft.unwrap_or(CpuMask::first_n(MAX_CPUS)));
        if let Some(u) = self.unit(v) {
            // SAFETY: a live unit; the masks outlive the call.
            unsafe { ffi::oc_set_affinity(self.inst, u, hard.as_ptr(), soft.as_ptr()) }
        }
    }

    fn dom_params(&self, dom: &'a Dom) -> CreditDomParams {
        let mut p = [0u32; 3];
        // SAFETY: a live domain of this instance; `p` holds three numbers.
        let rc = unsafe { ffi::oc_dom_params(self.inst, dom.c.get(), false, p.as_mut_ptr()) };
        debug_assert_eq!(rc, 0);
        CreditDomParams {
            weight: p[0] as u16,
            cap: p[1] as u16,
        }
    }

    /// Xen's `putinfo` reads weight 0 as "leave it" and a cap of 65535 as
    /// "leave it": neither can be asked for here (whole parameters), so
    /// both are refused as libxl refuses them. Xen itself bounds nothing
    /// else (libxl checks the cap against the vCPU count; Xen does not).
    fn set_dom_params(&self, dom: &'a Dom, p: CreditDomParams) -> Result<(), ParamError> {
        if p.weight == 0 {
            return Err(ParamError::Weight);
        }
        if p.cap == u16::MAX {
            return Err(ParamError::Cap {
                max: u32::from(u16::MAX - 1),
            });
        }
        let mut raw = [u32::from(p.weight), u32::from(p.cap), 0];
        // SAFETY: as in `dom_params`.
        let rc = unsafe { ffi::oc_dom_params(self.inst, dom.c.get(), true, raw.as_mut_ptr()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(ParamError::Unknown)
        }
    }

    fn global_params(&self) -> CreditGlobalParams {
        let mut p = [0u32; 3];
        // SAFETY: a live instance; `p` holds three numbers.
        let rc = unsafe { ffi::oc_pool_params(self.inst, false, p.as_mut_ptr()) };
        debug_assert_eq!(rc, 0);
        CreditGlobalParams {
            tslice: Span::ms(i64::from(p[0])),
            ratelimit: Span::us(i64::from(p[1])),
            migration_delay: Span::us(i64::from(p[2])),
            // Xen's credit1 is what `exact` asks the engine to be.
            exact: true,
        }
    }

    /// Xen's sysctl counts in whole milliseconds and microseconds; a value
    /// between them is refused rather than rounded. What Xen refuses is
    /// named by the first of its own tests (`csched_sys_cntl`) it fails.
    fn set_global_params(&self, g: CreditGlobalParams) -> Result<(), ParamError> {
        let whole = |s: Span, unit: i64| s.as_ns() % unit == 0 && s.as_ns() >= 0;
        if !whole(g.tslice, 1_000_000) {
            return Err(ParamError::Tslice);
        }
        if !whole(g.ratelimit, 1_000) {
            return Err(ParamError::Ratelimit);
        }
        if !whole(g.migration_delay, 1_000) {
            return Err(ParamError::MigrationDelay);
        }
        let n = |s: Span, unit: i64| u32::try_from(s.as_ns() / unit).unwrap_or(u32::MAX);
        let mut raw = [
            n(g.tslice, 1_000_000),
            n(g.ratelimit, 1_000),
            n(g.migration_delay, 1_000),
        ];
        // SAFETY: as in `global_params`.
        let rc = unsafe { ffi::oc_pool_params(self.inst, true, raw.as_mut_ptr()) };
        if rc == 0 {
            return Ok(());
        }
        Err(if !(1..=1000).contains(&raw[0]) {
            ParamError::Tslice
        } else if raw[1] != 0 && !(100..=500_000).contains(&raw[1]) {
            ParamError::Ratelimit
        } else if u64::from(raw[1]) * 1000 > u64::from(raw[0]) * 1_000_000 {
            ParamError::RatelimitAboveTslice
        } else {
            ParamError::MigrationDelay
        })
    }

    fn timer_fired(&self, c: CpuId, timer: TimerKind) {
        if timer == TIMER {
            // SAFETY: a live instance.
            unsafe { ffi::oc_timer_fired(self.inst, cpu(c)) }
        }
    }

    fn processor_of(&self, v: &'a Vcpu<'a>) -> CpuId {
        match (self.unit(v), v.last.get()) {
            // SAFETY: a live unit.
            (Some(u), _) => CpuId(unsafe { ffi::oc_processor(u) } as u16),
            (None, Some((c, _))) => c,
            (None, None) => v.new.cpu.or_else(|| v.new.hard.first()).unwrap_or(CpuId(0)),
        }
    }

    fn affinity_of(&self, v: &'a Vcpu<'a>) -> Affinity {
        let Some(u) = self.unit(v) else {
            return v.last.get().map_or(
                Affinity {
                    hard: v.new.hard,
                    soft: None,
                },
                |(_, a)| a,
            );
        };
        // SAFETY: a live unit; its masks are NR_CPUS bits.
        let (hard, soft) = unsafe {
            (
                mask_from(ffi::oc_hard_affinity(u)),
                mask_from(ffi::oc_soft_affinity(u)),
            )
        };
        let useful = !soft.is_empty() && soft.intersects(&hard) && !hard.and_not(&soft).is_empty();
        Affinity {
            hard,
            soft: useful.then_some(soft),
        }
    }

    fn running_on(&self, c: CpuId) -> Option<VcpuToken> {
        let mut t = 0usize;
        // SAFETY: a live instance.
        unsafe { ffi::oc_running_on(self.inst, cpu(c), &mut t) }.then_some(VcpuToken(t))
    }

    fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        self.dump_text(-1, out)
    }

    fn dump_cpu(&self, c: CpuId, out: &mut dyn fmt::Write) -> fmt::Result {
        self.dump_text(c_int::from(c.0), out)
    }
}

impl<P> Engine<'_, P> {
    fn dump_text(&self, c: c_int, out: &mut dyn fmt::Write) -> fmt::Result {
        // SAFETY: a live instance; the text stays valid until the next dump.
        let s = unsafe { core::ffi::CStr::from_ptr(ffi::oc_dump(self.inst, c)) };
        out.write_str(&s.to_string_lossy())
    }
}
