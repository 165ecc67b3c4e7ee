//! vSlicer: differentiated-frequency microslicing (seed 002), as a layer on
//! the credit engine.
//!
//! A latency-sensitive domain (LSVM) has a microslice `T_m > 0`; everyone
//! else is an NLSVM. They share credit1's runqueue and credit1's accounting,
//! so weights, caps and CPU shares are credit1's own (eq. 1 holds because the
//! credits are the same). What vSlicer changes is *when* an LSVM runs: its
//! fair share of a round is handed out in microslices, before each NLSVM
//! instead of once per round (Section 3.1, Algorithm 1):
//!
//! - Per pCPU, with `m` runnable LSVMs and `n` runnable NLSVMs, each LSVM may
//!   run `T_n = T_NLSVM / n` between two NLSVM slices, so one such micro-round
//!   lasts `T_S = m · T_NLSVM / n` (eq. 12). `T_NLSVM` is the credit timeslice.
//!   `m` and `n` are counted as vCPUs become runnable on, or leave, the pCPU
//!   (wake, block, steal, migration, removal), so `T_n` is derived afresh at
//!   every pick from the counts of that instant: no stored value can go stale.
//! - Micro credits: when an LSVM is picked it may run `min(T_m, left)` where
//!   `left` is what remains of its `T_n` in this micro-round. When its slice
//!   ends it goes back *before the next NLSVM* while micro credits remain,
//!   *right behind the next NLSVM* when they are spent (Algorithm 1 l. 7-10),
//!   and where credit1 puts it (the tail) when its credits are spent (l. 13).
//!   An NLSVM is queued as credit1 queues it and runs the full timeslice.
//! - A micro-round ends when an NLSVM is picked in queue order (not when a
//!   boosted one jumps the queue: the LSVMs were queued before the NLSVM that
//!   waits, and refilling them at every boosted run of a pinged NLSVM kept
//!   that one waiting for ever); an LSVM's micro credits are
//!   refilled to `T_n` at its first pick in a later micro-round (or on
//!   another pCPU, or when they ran out with no NLSVM to yield to), and cut
//!   to the current `T_n` at every pick, as NLSVMs may have woken meanwhile.
//!
//! Where the paper is silent (each case has a unit test below):
//! - **No NLSVM on the pCPU** (`n = 0`): `T_n` is unbounded, so LSVMs simply
//!   round-robin in microslices; credit1's priorities still order them.
//! - **Fewer than 3 VMs** (Algorithm 1 requires `m + n ≥ 3`): nothing special
//!   is needed. One LSVM and one NLSVM alternate `T_n = T_NLSVM` of LSVM time,
//!   in microslices, with one NLSVM slice; an LSVM alone runs back to back.
//! - **`T_m` not dividing `T_n`**: the last microslice of a micro-round is the
//!   remainder, so an LSVM gets exactly `T_n` per micro-round (eq. 4 with a
//!   fractional `r`); a `T_m` above `T_n` is in effect `T_n` (`r = 1`). A
//!   remainder shorter than the ratelimit (which would stretch it) is run
//!   with the microslice before it. Microslices (and a `T_n`) shorter than
//!   the ratelimit are stretched to it: the ratelimit is the floor of any run.
//! - **An LSVM that blocks mid-round** keeps the micro credits it has left;
//!   if an NLSVM ran meanwhile it gets a fresh `T_n` at its next pick. Its
//!   wake is credit1's (a blocked UNDER vCPU is boosted).
//! - **Different microslices on one pCPU** (Section 6): the frequency rule.
//!   Every LSVM gets the same `T_n` per micro-round (fairness is not the
//!   microslice's business) and runs it in its own `T_m`, so within `T_S` it
//!   is scheduled `⌈T_n / T_m⌉` times: inversely proportional to `T_m`. It
//!   needs no structure beyond the shared runqueue, and an LSVM's wait inside
//!   `T_S` stays bounded by the other LSVMs' microslices; across an NLSVM
//!   slice it may also wait for what a smaller-microslice LSVM has left of
//!   its `T_n` (the bound is [`worst_wait`]).
//!   EDF inside `T_S` would need a deadline per LSVM, which is per-VM tuning
//!   of the kind the paper argues against (Section 2.2); deadlines are the
//!   EDF+credit policy's job.
//! - **Switching class at run time**: a parameter change is seen by a
//!   runnable vCPU at its next pick or deschedule (within one slice), when
//!   the pCPU's counts move it from one class to the other.
//! - **Which VMs are LSVMs** is the administrator's call in the paper; with
//!   the pool's `auto_lsvm` on, domains without an explicit microslice are
//!   classified from their event rate and run bursts ([`auto`]).
//!
//! Cost: a requeue walks the vCPU's priority band up to the second NLSVM,
//! i.e. past at most `m + 1` vCPUs; picks and counts are O(1).

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicUsize, Ordering::Relaxed};

use crate::hooks::{Hooks, PoolInfo, Requeue};
use crate::params::{ParamError, CREDITS_PER_MSEC, MICROSLICE_MAX, MICROSLICE_MIN};
use crate::records::{DomData, PcpuData, Pri, VcpuData};
use crate::registry::{Policy, PolicyInfo};
use crate::time::{Span, Time};

pub mod auto;

use auto::{AutoClass, AutoLsvm};

/// Micro credits below this count as spent: a microslice shorter than Xen's
/// smallest ratelimit would cost a context switch for almost no work.
pub const MICRO_CREDIT_FLOOR: Span = Span::us(100);

/// The vSlicer policy layer.
#[derive(Clone, Copy, Debug, Default)]
pub struct VSlicer;

/// vSlicer's per-domain parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VSlicerDomParams {
    /// `T_m`; zero makes the domain an NLSVM.
    pub microslice: Span,
}

impl VSlicerDomParams {
    /// Checks the bounds: 0, or [`MICROSLICE_MIN`]..=[`MICROSLICE_MAX`] in
    /// whole microseconds (what a domctl carries).
    pub fn validate(&self) -> Result<(), ParamError> {
        let t = self.microslice;
        if t == Span::ZERO {
            return Ok(());
        }
        if t < MICROSLICE_MIN || t > MICROSLICE_MAX || t.as_ns() % 1_000 != 0 {
            return Err(ParamError::Microslice);
        }
        Ok(())
    }
}

/// vSlicer's pool-wide parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VSlicerGlobalParams {
    /// Classify domains without an explicit microslice from their event
    /// rate and run bursts ([`auto`]); off by default, as in the paper.
    pub auto_lsvm: bool,
}

/// Pool-wide state.
#[derive(Debug, Default)]
pub struct VsGlobal {
    auto_lsvm: AtomicBool,
}

/// Per-domain state: the administrator's microslice, in ns, and the
/// classifier's.
#[derive(Debug, Default)]
pub struct VsDom {
    microslice: AtomicI64,
    auto: AutoLsvm,
}

impl VsDom {
    /// The microslice it runs with: the administrator's, else the one the
    /// classifier gave (zero while `auto_lsvm` is off).
    fn microslice(&self) -> Span {
        match self.explicit() {
            Span::ZERO => self.auto.microslice(),
            t => t,
        }
    }

    /// The administrator's microslice (zero: none).
    fn explicit(&self) -> Span {
        Span(self.microslice.load(Relaxed))
    }
}

/// What automatic detection decided for `dom` and the rates it saw; `None`
/// when an explicit microslice makes it an LSVM regardless.
pub fn auto_class(dom: &DomData<'_, VSlicer>) -> Option<AutoClass> {
    (dom.ext.explicit() == Span::ZERO).then(|| dom.ext.auto.class())
}

/// Per-vCPU state, touched only under the runqueue lock of its pCPU.
#[derive(Debug, Default)]
pub struct VsVcpu {
    /// Counted in its pCPU's LSVMs (the class it had when last counted).
    lsvm: AtomicBool,
    /// Micro credits: ns of `T_n` left in the micro-round of (`home`, `round`).
    micro: AtomicI64,
    /// The pCPU record (its address) the micro credits were given on.
    home: AtomicUsize,
    /// That pCPU's micro-round when they were given.
    round: AtomicU32,
    /// The micro credits last given (`T_n` then), in ns.
    grant: AtomicI64,
    /// When it was last picked.
    picked_at: AtomicI64,
}

/// Per-pCPU state, under its runqueue lock.
#[derive(Debug, Default)]
pub struct VsPcpu {
    /// Runnable (queued or running) vCPUs counted as LSVMs: `m`.
    lsvms: u32,
    /// Micro-rounds begun: bumped whenever an NLSVM is picked.
    round: u32,
}

/// `T_S` and `T_n` for `m` LSVMs and `n` NLSVMs on a pCPU with timeslice
/// `t_nlsvm` (eq. 12); `None` when `n = 0`, where there is no NLSVM slice to
/// alternate with and LSVMs just round-robin.
pub fn round_lengths(m: u32, n: u32, t_nlsvm: Span) -> Option<(Span, Span)> {
    if n == 0 {
        return None;
    }
    let t_n = Span(t_nlsvm.as_ns() / i64::from(n));
    Some((Span(t_n.as_ns().saturating_mul(i64::from(m))), t_n))
}

/// The longest an LSVM with microslice `mine` that stays runnable waits
/// between two of its runs, beside LSVMs with microslices `others`, when
/// each gets `t_n` per micro-round between NLSVM slices of `t_nlsvm`.
///
/// Like the paper's model, this assumes CPU-bound NLSVMs: a co-tenant that
/// wakes from blocked while UNDER is boosted by credit1 and may run first
/// (measured: 34.7 ms against a 30 ms bound beside 40%-busy VMs).
///
/// With equal microslices this is the paper's wave crest `T_NLSVM + (m-1)·T_m`
/// (Section 3.1). In general (the frequency rule), LSVM `i` is picked
/// `r_i = ⌈T_n / T_m,i⌉` times per micro-round, alternating with the others;
/// another LSVM `j` delays it across the NLSVM slice either by what `j` has
/// left after `i`'s last pick, `T_n − (r_i − 1)·T_m,j` (if `j` spends last),
/// or by one microslice at the start of the next micro-round (if `j` spent
/// first and so queues first behind the NLSVM), never both:
/// `T_NLSVM + Σ_{j≠i} max(T_m,j, T_n − (r_i − 1)·T_m,j)`, microslices taken
/// as at most `T_n`.
pub fn worst_wait(
    t_nlsvm: Span,
    t_n: Span,
    mine: Span,
    others: impl IntoIterator<Item = Span>,
) -> Span {
    let mine = mine.min(t_n).max(Span(1));
    let r = t_n.as_ns().saturating_add(mine.as_ns() - 1) / mine.as_ns();
    others.into_iter().fold(t_nlsvm, |acc, t_m| {
        let t_m = t_m.min(t_n);
        acc + t_m.max(t_n - Span(t_m.as_ns().saturating_mul(r.saturating_sub(1))))
    })
}

fn id_of<H: Hooks>(pc: &PcpuData<'_, H>) -> usize {
    core::ptr::from_ref(pc) as usize
}

fn is_lsvm(dom: &DomData<'_, VSlicer>) -> bool {
    dom.ext.microslice() > Span::ZERO
}

impl VSlicer {
    /// `n`: the runnable NLSVMs of `pc`.
    fn nlsvms(pc: &PcpuData<'_, Self>, x: &VsPcpu) -> u32 {
        pc.nr_runnable().saturating_sub(x.lsvms)
    }

    /// The micro credits an LSVM gets per micro-round on `pc`.
    fn t_n(pc: &PcpuData<'_, Self>, x: &VsPcpu, tslice: Span) -> Span {
        round_lengths(x.lsvms, Self::nlsvms(pc, x), tslice).map_or(Span::MAX, |(_, t_n)| t_n)
    }

    fn count(x: &mut VsPcpu, lsvm: bool, up: bool) {
        if lsvm && up {
            x.lsvms = x.lsvms.wrapping_add(1);
        } else if lsvm {
            x.lsvms = x.lsvms.saturating_sub(1);
        }
    }

    /// Moves the running `v` to the class its domain now has (after a
    /// parameter change); its micro credits start afresh.
    fn reclassify(x: &mut VsPcpu, v: &VcpuData<'_, Self>) {
        let want = is_lsvm(v.dom());
        if v.ext.lsvm.swap(want, Relaxed) != want {
            Self::count(x, true, want);
            v.ext.micro.store(0, Relaxed);
        }
    }
}

impl Policy for VSlicer {
    const INFO: PolicyInfo = PolicyInfo {
        name: "vslicer",
        xen_name: "vslicer",
        display: "vSlicer",
        xen_id: 11,
    };
}

impl Hooks for VSlicer {
    type VcpuExt = VsVcpu;
    type DomExt = VsDom;
    type PcpuExt<'a> = VsPcpu;
    type GlobalExt = VsGlobal;
    type DomParams = VSlicerDomParams;
    type GlobalParams = VSlicerGlobalParams;
    const USES_EVENTS: bool = true;

    fn runnable_changed<'a>(
        _: &PcpuData<'a, Self>,
        x: &mut VsPcpu,
        v: &'a VcpuData<'a, Self>,
        up: bool,
    ) {
        if up {
            let l = is_lsvm(v.dom());
            v.ext.lsvm.store(l, Relaxed);
            Self::count(x, l, true);
        } else {
            let l = v.ext.lsvm.swap(false, Relaxed);
            Self::count(x, l, false);
        }
    }

    fn picked<'a>(
        pc: &PcpuData<'a, Self>,
        x: &mut VsPcpu,
        v: &'a VcpuData<'a, Self>,
        now: Time,
        tslice: Span,
        ratelimit: Span,
    ) -> Span {
        Self::reclassify(x, v);
        let e = &v.ext;
        e.picked_at.store(now.ns(), Relaxed);
        if !e.lsvm.load(Relaxed) {
            // An NLSVM slice: the LSVMs' next micro-round starts after it,
            // unless it jumped the queue by a boost: the LSVMs were queued
            // before the NLSVM that waits, and refilling them on every boosted
            // run of another one would keep that one waiting for ever.
            if v.pri() != Pri::Boost {
                x.round = x.round.wrapping_add(1);
            }
            return tslice;
        }
        let t_n = Self::t_n(pc, x, tslice);
        let mut left = Span(e.micro.load(Relaxed));
        let stale = e.home.load(Relaxed) != id_of(pc) || e.round.load(Relaxed) != x.round;
        if stale || left < MICRO_CREDIT_FLOOR {
            left = t_n;
            e.grant.store(t_n.as_ns(), Relaxed);
            e.home.store(id_of(pc), Relaxed);
            e.round.store(x.round, Relaxed);
        }
        // NLSVMs may have arrived since the credits were given: never more
        // than a micro-round's worth under the current counts.
        left = left.min(t_n);
        e.micro.store(left.as_ns(), Relaxed);
        // Read again after `reclassify`: under Xen the classifier (another
        // pCPU) may have made the domain an NLSVM in between; never a
        // zero slice.
        let slice = v.dom().ext.microslice().max(MICRO_CREDIT_FLOOR).min(left);
        // A remainder shorter than the ratelimit would be stretched to it
        // (and overrun T_n): run it with this microslice instead.
        let rest = left - slice;
        if rest > Span::ZERO && rest < ratelimit.max(MICRO_CREDIT_FLOOR) {
            left
        } else {
            slice
        }
    }

    fn descheduled<'a>(
        _: &PcpuData<'a, Self>,
        x: &mut VsPcpu,
        g: &VsGlobal,
        v: &'a VcpuData<'a, Self>,
        now: Time,
        runnable: bool,
    ) -> Requeue {
        let e = &v.ext;
        let ran = || (now - Time(e.picked_at.load(Relaxed))).max(Span::ZERO);
        let auto = &v.dom().ext.auto;
        if g.auto_lsvm.load(Relaxed) || auto.started() {
            auto.ran(ran(), &g.auto_lsvm, now);
        }
        Self::reclassify(x, v);
        if !e.lsvm.load(Relaxed) {
            return Requeue::Credit;
        }
        let ran = ran();
        let left = Span(e.micro.load(Relaxed)) - ran;
        e.micro.store(left.as_ns(), Relaxed);
        if !runnable || v.pri() == Pri::Over {
            return Requeue::Credit;
        }
        if left >= MICRO_CREDIT_FLOOR {
            Requeue::BeforeBoundary(1)
        } else {
            Requeue::BeforeBoundary(2)
        }
    }

    fn debt_tolerated(v: &VcpuData<'_, Self>, credit: i32, per_tslice: i64) -> bool {
        if !is_lsvm(v.dom()) {
            return false;
        }
        // One micro-round's worth of credit, at most one timeslice's.
        let grant = v.ext.grant.load(Relaxed).max(0);
        let line = (grant / 1_000_000)
            .saturating_mul(CREDITS_PER_MSEC)
            .min(per_tslice);
        -i64::from(credit) <= line
    }

    fn boundary(v: &VcpuData<'_, Self>) -> bool {
        !v.ext.lsvm.load(Relaxed)
    }

    /// The administrator's microslice, never the classifier's: a
    /// read-modify-write of the parameters must not make a classification
    /// an explicit setting.
    fn dom_params(dom: &DomData<'_, Self>) -> VSlicerDomParams {
        VSlicerDomParams {
            microslice: dom.ext.explicit(),
        }
    }

    fn validate_dom_params(
        _: &VsGlobal,
        _: &DomData<'_, Self>,
        p: &VSlicerDomParams,
        _: PoolInfo,
    ) -> Result<(), ParamError> {
        p.validate()
    }

    fn set_dom_params(_: &VsGlobal, dom: &DomData<'_, Self>, p: &VSlicerDomParams) -> bool {
        dom.ext.microslice.store(p.microslice.as_ns(), Relaxed);
        false
    }

    fn event<'a>(_: &mut VsPcpu, g: &VsGlobal, v: &'a VcpuData<'a, Self>, _: bool, now: Time) {
        v.dom().ext.auto.event(&g.auto_lsvm, now);
    }

    fn global_params(g: &VsGlobal) -> VSlicerGlobalParams {
        VSlicerGlobalParams {
            auto_lsvm: g.auto_lsvm.load(Relaxed),
        }
    }

    fn set_global_params(g: &VsGlobal, p: &VSlicerGlobalParams) {
        g.auto_lsvm.store(p.auto_lsvm, Relaxed);
    }

    fn dump_pcpu(
        pc: &PcpuData<'_, Self>,
        x: &VsPcpu,
        tslice: Span,
        out: &mut dyn fmt::Write,
    ) -> fmt::Result {
        let (m, n) = (x.lsvms, Self::nlsvms(pc, x));
        write!(out, " lsvm={m} nlsvm={n}")?;
        match round_lengths(m, n, tslice) {
            Some((t_s, t_n)) => write!(out, " T_S={t_s} T_n={t_n}"),
            None => write!(out, " T_S=- T_n=-"),
        }
    }
}

#[cfg(test)]
mod tests;
