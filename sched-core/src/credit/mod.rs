//! The credit1 engine, faithful to Xen 4.17's `xen/common/sched/credit.c`.
//!
//! One engine, parameterised by [`Hooks`], serves credit1 itself
//! ([`Credit`]) and the policy layers built on it. Files:
//! - `schedule.rs`: `do_schedule`, work stealing (`csched_schedule`,
//!   `csched_load_balance`, `csched_runq_steal`);
//! - `acct.rs`: credit burning, the tick and the accounting pass
//!   (`burn_credits`, `csched_tick`, `csched_acct`);
//! - `placement.rs`: `pick_cpu` and tickling (`_csched_cpu_pick`, `__runq_tickle`);
//! - this file: state, lifecycle and parameter ops.
//!
//! Locking follows credit1 (`credit.c:29-44`): each pCPU's runqueue has its
//! own lock; pool-wide accounting has another (`acct`), always taken *before*
//! a runqueue lock and never while one is held. Work stealing only try-locks
//! peers. Tunables read on the scheduling path are atomics, as Xen reads
//! `prv->tslice` and friends without the private lock.
//!
//! Topology is flat: every pCPU is its own core on one socket and one NUMA
//! node, so `_csched_cpu_pick`'s sibling/core comparisons reduce to "stay if
//! idle, else the next idle pCPU".

mod acct;
mod balance;
mod placement;
mod schedule;

pub use schedule::Pick;
#[cfg(test)]
mod tests;

use core::fmt;
use core::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicU16, AtomicU32, Ordering::Relaxed,
};

use crate::cpumask::{AtomicCpuMask, CpuId};
use crate::hooks::{Credit1, Hooks, PoolInfo};
use crate::links::active::ActiveDoms;
use crate::ops::{Decision, NewVcpu, PolicyKind, SchedOps};
use crate::params::{CreditDomParams, CreditGlobalParams, DomParams, GlobalParams, ParamError};
use crate::platform::{Platform, TimerKind, VcpuToken};
use crate::records::{
    Affinity, DomData, DomId, Offer, PcpuData, PcpuLocked, Pri, VcpuData, VcpuFlags,
};
use crate::registry::PolicyInfo;
use crate::time::{Span, Time};

/// A vCPU's processor, its record and its runqueue, locked (`lock_vcpu`).
pub(crate) type LockedVcpu<'a, H> = (
    CpuId,
    &'a PcpuData<'a, H>,
    spin::MutexGuard<'a, PcpuLocked<'a, H>>,
);

/// How often `lock_vcpu` chases a vCPU that keeps moving.
const LOCK_RETRIES: u32 = 8;

/// Xen's credit1.
pub type Credit<'a, P> = CreditEngine<'a, P, Credit1>;

/// Pool-wide accounting state, under the accounting lock (Xen: the parts of
/// `csched_private` guarded by `prv->lock`).
pub(crate) struct Acct<'a, H: Hooks> {
    /// Domains with at least one vCPU earning credit.
    pub(crate) active_doms: ActiveDoms<'a, H>,
    /// Σ weight × active vCPUs over active domains.
    pub(crate) weight: u64,
    /// Credit handed out per accounting period: 300 per pCPU.
    pub(crate) credit: i64,
    /// Σ credit over active vCPUs after the last pass.
    pub(crate) credit_balance: i64,
    pub(crate) ncpus: u32,
    pub(crate) master: Option<CpuId>,
}

/// The credit engine over host-owned pCPU records.
pub struct CreditEngine<'a, P: Platform, H: Hooks = Credit1> {
    pub(crate) platform: P,
    pub(crate) pcpus: &'a [PcpuData<'a, H>],
    pub(crate) acct: spin::Mutex<Acct<'a, H>>,
    /// pCPUs in the pool (Xen: `prv->cpus` / the pool's `res_valid`).
    pub(crate) online: AtomicCpuMask,
    /// Idle pCPUs (Xen: `prv->idlers`).
    pub(crate) idlers: AtomicCpuMask,
    pub(crate) tslice: AtomicI64,
    pub(crate) ratelimit: AtomicI64,
    pub(crate) migration_delay: AtomicI64,
    pub(crate) tick_period: AtomicI64,
    pub(crate) credits_per_tslice: AtomicI32,
    /// Bumped by every accounting pass; pCPUs re-sort when theirs differs.
    pub(crate) sort_epoch: AtomicU32,
    /// pCPUs whose runqueue holds a vCPU, and those whose runqueue head
    /// outranks OVER: work stealing visits only peers that can give it
    /// something, so a steal costs the candidates, not the pool's size
    /// (Xen walks every non-idle peer). Kept by [`Self::note_runq`].
    pub(crate) queued: AtomicCpuMask,
    pub(crate) urgent: AtomicCpuMask,
    /// vCPUs given a soft affinity (and not since cleared): with none, the
    /// soft-affinity pass of a steal cannot find anything and is skipped.
    pub(crate) soft_affine: AtomicU32,
    /// Where the next steal search starts (Xen: `balance_bias[node]`).
    pub(crate) balance_bias: AtomicU16,
    /// Whether the master accounting timer has been armed.
    acct_armed: AtomicBool,
    /// When it next fires, ns: a master pCPU leaving the pool hands the
    /// timer on at the same instant (Xen's `migrate_timer`).
    acct_at: AtomicI64,
    /// Xen-exact mode (the pool's `exact`): every declared departure off.
    pub(crate) exact: AtomicBool,
    /// The policy layer's pool-wide data.
    pub(crate) ext: H::GlobalExt,
}

impl<'a, P: Platform, H: Hooks> CreditEngine<'a, P, H> {
    /// A scheduler over `pcpus` (indexed by pCPU id; pCPUs join the pool
    /// with `add_pcpu`), with Xen's default parameters.
    pub fn new(platform: P, pcpus: &'a [PcpuData<'a, H>]) -> Self {
        let e = CreditEngine {
            platform,
            pcpus,
            acct: spin::Mutex::new(Acct {
                active_doms: ActiveDoms::new(),
                weight: 0,
                credit: 0,
                credit_balance: 0,
                ncpus: 0,
                master: None,
            }),
            online: AtomicCpuMask::new(),
            idlers: AtomicCpuMask::new(),
            queued: AtomicCpuMask::new(),
            urgent: AtomicCpuMask::new(),
            soft_affine: AtomicU32::new(0),
            tslice: AtomicI64::new(0),
            ratelimit: AtomicI64::new(0),
            migration_delay: AtomicI64::new(0),
            tick_period: AtomicI64::new(0),
            credits_per_tslice: AtomicI32::new(0),
            sort_epoch: AtomicU32::new(0),
            balance_bias: AtomicU16::new(0),
            acct_armed: AtomicBool::new(false),
            acct_at: AtomicI64::new(0),
            exact: AtomicBool::new(false),
            ext: H::GlobalExt::default(),
        };
        e.store_params(&CreditGlobalParams::default());
        e
    }

    /// The host services this engine uses.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    pub(crate) fn pcpu(&self, cpu: CpuId) -> Option<&'a PcpuData<'a, H>> {
        self.pcpus.get(cpu.index())
    }

    pub(crate) fn tslice(&self) -> Span {
        Span(self.tslice.load(Relaxed))
    }

    /// Arms the accounting timer on `master` for `at`.
    pub(crate) fn arm_acct(&self, master: CpuId, at: Time) {
        self.acct_at.store(at.ns(), Relaxed);
        self.platform.set_timer(master, TimerKind::Acct, at);
    }

    /// Whether the engine behaves exactly as Xen 4.17's credit1 (the
    /// pool's `exact`): each declared departure tests this first.
    #[inline]
    pub(crate) fn exact(&self) -> bool {
        self.exact.load(Relaxed)
    }

    fn store_params(&self, p: &CreditGlobalParams) {
        let d = p.derived();
        self.tslice.store(p.tslice.as_ns(), Relaxed);
        self.ratelimit.store(p.ratelimit.as_ns(), Relaxed);
        self.migration_delay
            .store(p.migration_delay.as_ns(), Relaxed);
        self.tick_period.store(d.tick.as_ns(), Relaxed);
        self.credits_per_tslice.store(d.credits_per_tslice, Relaxed);
    }

    /// Queues `v` on its processor's runqueue (Xen: `runq_insert`, which
    /// also counts it runnable there).
    pub(crate) fn runq_insert(
        &self,
        cpu: CpuId,
        q: &mut PcpuLocked<'a, H>,
        pc: &PcpuData<'a, H>,
        v: &'a VcpuData<'a, H>,
    ) {
        let yielding = v.flags().contains(VcpuFlags::YIELD);
        if q.runq.insert(v, yielding) {
            pc.inc_runnable(&mut q.ext, v);
        }
        self.note_runq(cpu, q);
    }

    /// Dequeues `v` (Xen: `runq_remove`).
    pub(crate) fn runq_remove(
        &self,
        cpu: CpuId,
        q: &mut PcpuLocked<'a, H>,
        pc: &PcpuData<'a, H>,
        v: &'a VcpuData<'a, H>,
    ) {
        if q.runq.remove(v) {
            pc.dec_runnable(&mut q.ext, v);
        }
        q.forget_successor(v);
        self.note_runq(cpu, q);
    }

    /// Publishes what `cpu`'s runqueue offers a stealer (`queued`,
    /// `urgent`), from its head; called with its lock held after every
    /// change to it. A priority raised while queued (accounting) sets
    /// `urgent` at once ([`Self::note_raised`]); one lowered leaves it set
    /// until the next change, which costs a stealer a look, as before. Read
    /// without the lock, like `nr_runnable`: a stealer racing a change may
    /// miss work that is a moment old, as in Xen.
    pub(crate) fn note_runq(&self, cpu: CpuId, q: &mut PcpuLocked<'a, H>) {
        let offers = match q.runq.head() {
            None => Offer::Nothing,
            Some(v) if v.pri() > Pri::Over => Offer::Urgent,
            Some(_) => Offer::Queued,
        };
        if offers != q.offers {
            q.offers = offers;
            self.queued.assign(cpu, offers != Offer::Nothing);
            self.urgent.assign(cpu, offers == Offer::Urgent);
            // A raise by accounting (without this lock) racing a clear here
            // can be lost until this runqueue next changes: a stealer then
            // passes this peer by, as it does when its try-lock fails, and
            // the vCPU runs at this pCPU's next decision. Closing it would
            // cost a fence on every decision for a moment's delay.
        }
    }

    /// `v`'s priority rose from OVER outside its runqueue's lock: if it is
    /// queued it may now head its runqueue above OVER (whether it is queued
    /// cannot be read without that lock; a bit set for nothing costs one
    /// look).
    pub(crate) fn note_raised(&self, v: &VcpuData<'a, H>) {
        self.urgent.set(v.processor());
    }

    /// Arms, moves or stops the layer's timer on `cpu` to where the layer
    /// wants it (only calling the platform when that changes).
    pub(crate) fn sync_policy_timer(&self, cpu: CpuId, q: &mut PcpuLocked<'a, H>) {
        if !H::USES_TIMER {
            return;
        }
        let now = self.platform.now();
        let want = H::next_timer(&q.ext, &self.ext, now).filter(|&t| t > now);
        if want != q.policy_timer {
            match want {
                Some(t) => self.platform.set_timer(cpu, TimerKind::Policy(0), t),
                None => self.platform.stop_timer(cpu, TimerKind::Policy(0)),
            }
            q.policy_timer = want;
        }
    }

    /// The pool as the layer's parameter checks see it.
    fn pool_info(&self, tslice: Span) -> PoolInfo {
        PoolInfo {
            pcpus: self.online.snapshot().count(),
            tslice,
        }
    }

    /// Locks the runqueue `v` belongs to (Xen: `unit_schedule_lock`). The
    /// vCPU's processor only changes with its current runqueue locked, so
    /// once the lock is held and the processor still matches, `v` is ours;
    /// a vCPU being moved meanwhile is retried a few times, then the call
    /// is dropped rather than spin without bound.
    #[inline]
    pub(crate) fn lock_vcpu(&self, v: &VcpuData<'a, H>) -> Option<LockedVcpu<'a, H>> {
        for _ in 0..LOCK_RETRIES {
            let cpu = v.processor();
            let pc = self.pcpu(cpu)?;
            let q = pc.locked.lock();
            if v.processor() == cpu {
                return Some((cpu, pc, q));
            }
        }
        None
    }

    /// How many vCPUs wait on `cpu`'s runqueue (for tests and tools).
    pub fn queued(&self, cpu: CpuId) -> u32 {
        self.pcpu(cpu).map_or(0, |pc| pc.locked.lock().runq.len())
    }

    /// The queued vCPUs of `cpu` in pick order (for tests and tools).
    #[cfg(test)]
    pub(crate) fn queue_tokens(&self, cpu: CpuId) -> heapless::Vec<crate::platform::VcpuToken, 64> {
        let mut out = heapless::Vec::new();
        if let Some(pc) = self.pcpu(cpu) {
            for v in pc.locked.lock().runq.iter() {
                let _ = out.push(v.token());
            }
        }
        out
    }

    /// Runs `cpu`'s runqueue sort now (tests).
    #[cfg(test)]
    pub(crate) fn runq_sort_for_test(&self, cpu: CpuId) {
        if let Some(pc) = self.pcpu(cpu) {
            pc.locked.lock().runq.sort();
        }
    }

    /// The layer's timer fired on `cpu`: preempt if the layer says so.
    fn policy_timer(&self, cpu: CpuId) {
        let Some(pc) = self.pcpu(cpu) else { return };
        let now = self.platform.now();
        let mut q = pc.locked.lock();
        q.policy_timer = None;
        let curr = q.curr;
        if H::policy_timer(&mut q.ext, &self.ext, curr, now) {
            self.platform.raise_softirq(cpu);
        }
        self.sync_policy_timer(cpu, &mut q);
    }

    /// The vCPU running on `cpu`, as the scheduler believes (`None` = idle).
    pub fn current(&self, cpu: CpuId) -> Option<&'a VcpuData<'a, H>> {
        self.pcpu(cpu).and_then(|pc| pc.locked.lock().curr)
    }
}

/// Every credit layer is a [`PolicyKind`]: its records are the engine's,
/// its parameters the engine's credit part beside the layer's own.
impl<H: Hooks> PolicyKind for H {
    type Vcpu<'a> = VcpuData<'a, H>;
    type Dom<'a> = DomData<'a, H>;
    type Pcpu<'a> = PcpuData<'a, H>;
    type DomParams = DomParams<<H as Hooks>::DomParams>;
    type GlobalParams = GlobalParams<<H as Hooks>::GlobalParams>;
    type Engine<'a, P: Platform + 'a> = CreditEngine<'a, P, H>;

    fn new_pcpu<'a>() -> PcpuData<'a, H> {
        PcpuData::new()
    }
    fn new_dom<'a>(id: DomId) -> DomData<'a, H> {
        DomData::new(id)
    }
    fn new_vcpu<'a>(v: NewVcpu, dom: &'a DomData<'a, H>) -> VcpuData<'a, H> {
        let r = VcpuData::new(v.token, dom, v.vcpu_id, v.hard);
        match v.cpu {
            Some(c) => r.placed_on(c),
            None => r,
        }
    }
    fn engine<'a, P: Platform + 'a>(
        platform: P,
        pcpus: &'a [PcpuData<'a, H>],
    ) -> CreditEngine<'a, P, H> {
        CreditEngine::new(platform, pcpus)
    }
}

impl<'a, P: Platform, H: Hooks> SchedOps<'a> for CreditEngine<'a, P, H> {
    type Vcpu = VcpuData<'a, H>;
    type Dom = DomData<'a, H>;
    type DomParams = DomParams<H::DomParams>;
    type GlobalParams = GlobalParams<H::GlobalParams>;

    fn add_pcpu(&self, cpu: CpuId) {
        let Some(pc) = self.pcpu(cpu) else { return };
        if pc.online.swap(true, Relaxed) {
            return;
        }
        let arm_master = {
            let mut a = self.acct.lock();
            a.ncpus += 1;
            a.credit += i64::from(self.credits_per_tslice.load(Relaxed));
            let first = a.master.is_none();
            if first {
                a.master = Some(cpu);
            }
            first
        };
        pc.sort_epoch.store(self.sort_epoch.load(Relaxed), Relaxed);
        self.online.set(cpu);
        // A pCPU joins the pool idle (`csched_init_pdata`).
        self.idlers.set(cpu);
        if arm_master && !self.acct_armed.swap(true, Relaxed) {
            let now = self.platform.now();
            self.arm_acct(cpu, now + self.tslice());
        }
    }

    fn remove_pcpu(&self, cpu: CpuId) {
        let Some(pc) = self.pcpu(cpu) else { return };
        if !pc.online.swap(false, Relaxed) {
            return;
        }
        self.online.clear(cpu);
        self.idlers.clear(cpu);
        self.platform.stop_timer(cpu, TimerKind::Tick);
        pc.tick_armed.store(false, Relaxed);
        let mut a = self.acct.lock();
        a.ncpus = a.ncpus.saturating_sub(1);
        a.credit -= i64::from(self.credits_per_tslice.load(Relaxed));
        if a.master == Some(cpu) {
            // Xen moves the master ticker to the first remaining pCPU,
            // keeping its deadline (`migrate_timer`, `credit.c:551-555`).
            self.platform.stop_timer(cpu, TimerKind::Acct);
            a.master = self.online.snapshot().first();
            match a.master {
                Some(m) => self.arm_acct(m, Time(self.acct_at.load(Relaxed))),
                None => self.acct_armed.store(false, Relaxed),
            }
        }
        // A steal search never starts at a pCPU out of the pool
        // (`csched_deinit_pdata`, `credit.c:556-561`).
        if self.balance_bias.load(Relaxed) == cpu.0 {
            if let Some(f) = self.online.snapshot().first() {
                self.balance_bias.store(f.0, Relaxed);
            }
        }
    }

    fn insert_domain(&self, dom: &'a DomData<'a, H>) {
        let _ = dom;
    }

    fn remove_domain(&self, dom: &'a DomData<'a, H>) {
        let mut a = self.acct.lock();
        a.active_doms.remove(dom);
    }

    fn insert_vcpu(&self, v: &'a VcpuData<'a, H>) {
        {
            // With parameter changes (under the same lock), the vCPU count
            // and what the layer derives from it move together.
            let _a = self.acct.lock();
            v.dom().add_vcpus(1);
            H::vcpus_changed(&self.ext, v.dom(), 1);
        }
        // A vCPU coming in may widen where others run too: a new driver pin
        // that leaves real-time work no pCPU of the pool lets it run
        // anywhere (found by the long fuzzing run).
        let widened = H::affinity_changed(&self.ext, v, None, Some(&v.affinity().hard));
        // Placed by the host on a pCPU out of the pool (its placement
        // predates the pCPU leaving): the next one of the pool its
        // affinity allows, as Xen's core places a new unit on a pCPU of the
        // pool before the scheduler's own pick starts from there.
        let online = self.online.snapshot();
        let here = v.processor();
        if !online.contains(here) {
            let hard = v.affinity().hard.and(&online);
            let allowed = if hard.is_empty() { online } else { hard };
            if let Some(c) = allowed.cycle(here) {
                v.set_processor(c);
            }
        }
        let cpu = self.res_pick(v);
        v.set_processor(cpu);
        if widened {
            self.offer_queued_work();
        }
    }

    fn remove_vcpu(&self, v: &'a VcpuData<'a, H>) {
        if v.clear_flag(VcpuFlags::PARKED) {
            self.platform.unpause_vcpu(v.token());
        }
        {
            let mut a = self.acct.lock();
            self.acct_stop_locked(&mut a, v);
        }
        if let Some((cpu, pc, mut q)) = self.lock_vcpu(v) {
            self.runq_remove(cpu, &mut q, pc, v);
            if q.curr.is_some_and(|c| core::ptr::eq(c, v)) {
                // The host broke the precondition; forget the vCPU rather
                // than keep a reference the host is about to free.
                q.curr = None;
                pc.dec_runnable(&mut q.ext, v);
                self.platform.raise_softirq(cpu);
            }
            q.forget_successor(v);
            self.sync_policy_timer(cpu, &mut q);
        }
        let widened = H::affinity_changed(&self.ext, v, Some(&v.affinity().hard), None);
        {
            let _a = self.acct.lock();
            H::vcpus_changed(&self.ext, v.dom(), -1);
            v.dom().add_vcpus(-1);
        }
        if widened {
            self.offer_queued_work();
        }
    }

    fn sleep(&self, v: &'a VcpuData<'a, H>) {
        v.clear_flag(VcpuFlags::UNPARKED);
        let Some((cpu, pc, mut q)) = self.lock_vcpu(v) else {
            return;
        };
        if q.curr.is_some_and(|c| core::ptr::eq(c, v)) {
            self.platform.raise_softirq(cpu);
        } else {
            self.runq_remove(cpu, &mut q, pc, v);
            self.sync_policy_timer(cpu, &mut q);
        }
    }

    fn wake(&self, v: &'a VcpuData<'a, H>) {
        // Only Xen-exact mode sets it: no locked swap on every wake.
        let waker = if self.exact() {
            v.waker.swap(None, Relaxed)
        } else {
            None
        };
        let Some((cpu, pc, mut q)) = self.lock_vcpu(v) else {
            return;
        };
        if q.curr.is_some_and(|c| core::ptr::eq(c, v)) || v.on_runq() {
            return;
        }
        // A vCPU waking right after being placed elsewhere is not boosted;
        // nor is one coming out of a cap park (`credit.c:1130-1160`).
        let marks = v.take_flags(VcpuFlags::MIGRATING | VcpuFlags::UNPARKED | VcpuFlags::EVENT);
        let migrating = marks.contains(VcpuFlags::MIGRATING);
        let unparked = marks.contains(VcpuFlags::UNPARKED);
        let event = marks.contains(VcpuFlags::EVENT);
        H::waking(&self.ext, v, event);
        if !migrating
            && !unparked
            && v.pri() == Pri::Under
            && !v.flags().contains(VcpuFlags::PARKED)
        {
            v.set_pri(Pri::Boost);
        }
        self.runq_insert(cpu, &mut q, pc, v);
        H::woken(&mut q.ext, &self.ext, v, || self.platform.now());
        self.sync_policy_timer(cpu, &mut q);
        self.tickle_from(cpu, waker.unwrap_or(cpu), &q, v);
    }

    fn event(&self, v: &'a VcpuData<'a, H>) {
        if !H::USES_EVENTS {
            return;
        }
        let Some((cpu, _, mut q)) = self.lock_vcpu(v) else {
            return;
        };
        let queued = v.on_runq();
        let running = q.curr.is_some_and(|c| core::ptr::eq(c, v));
        if !queued && !running {
            // Blocked: the wake that follows was caused by this event.
            v.set_flag(VcpuFlags::EVENT);
        }
        H::event(&mut q.ext, &self.ext, v, queued, self.platform.now());
        self.sync_policy_timer(cpu, &mut q);
    }

    fn context_saved(&self, v: &'a VcpuData<'a, H>) {
        v.is_running.store(false, Relaxed);
        // Until now no idler could steal it: if it waits queued beside one,
        // offer it again (a departure from Xen, whose idlers tickled while
        // its context was still loaded go back to sleep; for work
        // conservation, found by the op-sequence fuzzer).
        if v.on_runq() && !self.idlers.is_empty() {
            if let Some((cpu, _, q)) = self.lock_vcpu(v) {
                self.tickle_for_queued(cpu, &q);
            }
        }
    }

    fn yield_vcpu(&self, v: &'a VcpuData<'a, H>) {
        v.set_flag(VcpuFlags::YIELD);
    }

    fn do_schedule(
        &self,
        cpu: CpuId,
        now: Time,
        prev_runnable: bool,
        tasklet_work: bool,
    ) -> Decision {
        let p = self.decide(cpu, now, prev_runnable, tasklet_work);
        Decision {
            next: p.next.map(VcpuData::token),
            slice: p.slice,
            migrated: p.migrated,
        }
    }

    fn pick_cpu(&self, v: &'a VcpuData<'a, H>) -> CpuId {
        self.res_pick(v)
    }

    fn migrate(&self, v: &'a VcpuData<'a, H>, cpu: CpuId) {
        if self.pcpu(cpu).is_none() {
            return;
        }
        if let Some((old, pc, mut q)) = self.lock_vcpu(v) {
            self.runq_remove(old, &mut q, pc, v);
            // Changed under the old runqueue's lock, as `lock_vcpu` expects.
            v.set_processor(cpu);
            if self.exact() && old != cpu {
                v.waker.swap(Some(old), Relaxed);
            }
        }
    }

    fn set_affinity(&self, v: &'a VcpuData<'a, H>, affinity: Affinity) {
        let old = v.affinity();
        let widened = H::affinity_changed(&self.ext, v, Some(&old.hard), Some(&affinity.hard));
        match (old.soft.is_some(), affinity.soft.is_some()) {
            (false, true) => {
                self.soft_affine.fetch_add(1, Relaxed);
            }
            (true, false) => {
                self.soft_affine.fetch_sub(1, Relaxed);
            }
            _ => {}
        }
        v.set_affinity(affinity);
        if widened {
            self.offer_queued_work();
        }
    }

    fn dom_params(&self, dom: &'a DomData<'a, H>) -> DomParams<H::DomParams> {
        DomParams {
            credit: CreditDomParams {
                weight: dom.weight(),
                cap: dom.cap(),
            },
            policy: H::dom_params(dom),
        }
    }

    fn set_dom_params(
        &self,
        dom: &'a DomData<'a, H>,
        p: DomParams<H::DomParams>,
    ) -> Result<(), ParamError> {
        p.credit.validate(dom.nr_vcpus())?;
        H::validate_dom_params(&self.ext, dom, &p.policy, self.pool_info(self.tslice()))?;
        let mut a = self.acct.lock();
        if dom.active_link.is_linked() {
            let n = u64::from(dom.active.lock().count);
            a.weight = a.weight - u64::from(dom.weight()) * n + u64::from(p.credit.weight) * n;
        }
        dom.set_weight(p.credit.weight);
        dom.set_cap(p.credit.cap);
        let widened = H::set_dom_params(&self.ext, dom, &p.policy);
        drop(a);
        if widened {
            self.offer_queued_work();
        }
        Ok(())
    }

    fn global_params(&self) -> GlobalParams<H::GlobalParams> {
        GlobalParams {
            credit: CreditGlobalParams {
                tslice: self.tslice(),
                ratelimit: Span(self.ratelimit.load(Relaxed)),
                migration_delay: Span(self.migration_delay.load(Relaxed)),
                exact: self.exact(),
            },
            policy: H::global_params(&self.ext),
        }
    }

    fn set_global_params(&self, p: GlobalParams<H::GlobalParams>) -> Result<(), ParamError> {
        p.credit.validate()?;
        if p.credit.exact && !H::ALLOWS_EXACT {
            return Err(ParamError::ExactCreditOnly);
        }
        H::validate_global_params(&self.ext, &p.policy, self.pool_info(p.credit.tslice))?;
        let cooler = p.credit.migration_delay < Span(self.migration_delay.load(Relaxed));
        {
            let mut a = self.acct.lock();
            self.store_params(&p.credit);
            H::set_global_params(&self.ext, &p.policy);
            a.credit = i64::from(p.credit.derived().credits_per_tslice) * i64::from(a.ncpus);
        }
        if self.exact.swap(p.credit.exact, Relaxed) != p.credit.exact {
            // One list in Xen's order, or the bands: every runqueue, in use or not.
            for (i, pc) in self.pcpus.iter().enumerate() {
                let mut q = pc.locked.lock();
                q.runq.set_single(p.credit.exact);
                self.note_runq(CpuId(i as u16), &mut q);
            }
        }
        // A shorter migration delay makes queued vCPUs stealable at once:
        // offer them to the idlers, which otherwise wait for the instant
        // they would have cooled under the old delay.
        if cooler {
            self.offer_queued_work();
        }
        Ok(())
    }

    fn timer_fired(&self, cpu: CpuId, timer: TimerKind) {
        match timer {
            TimerKind::Tick => self.tick(cpu),
            TimerKind::Acct => self.account(),
            TimerKind::Policy(_) => self.policy_timer(cpu),
        }
    }

    fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let p = self.global_params().credit;
        {
            let a = self.acct.lock();
            writeln!(
                out,
                "sched={} tslice={} ratelimit={} migration-delay={} ncpus={} weight={} credit={} balance={}",
                H::INFO.name,
                p.tslice,
                p.ratelimit,
                p.migration_delay,
                a.ncpus,
                a.weight,
                a.credit,
                a.credit_balance
            )?;
            // Xen's "active units", in accounting order.
            write!(out, "active:")?;
            for dom in a.active_doms.iter() {
                for v in dom.active.lock().vcpus.iter() {
                    write!(
                        out,
                        " d{}v{}[pri={:?} credit={}]",
                        dom.id().0,
                        v.vcpu_id(),
                        v.pri(),
                        v.credit()
                    )?;
                }
            }
            writeln!(out)?;
        }
        for cpu in self.online.snapshot().iter() {
            let Some(pc) = self.pcpu(cpu) else { continue };
            let q = pc.locked.lock();
            write!(out, "cpu{} nr_runnable={} curr=", cpu.0, pc.nr_runnable())?;
            match q.curr {
                Some(v) => write!(out, "d{}v{}", v.dom().id().0, v.vcpu_id())?,
                None => write!(out, "idle")?,
            }
            H::dump_pcpu(pc, &q.ext, p.tslice, out)?;
            write!(out, " runq:")?;
            for v in q.runq.iter() {
                write!(
                    out,
                    " d{}v{}[pri={:?} credit={}]",
                    v.dom().id().0,
                    v.vcpu_id(),
                    v.pri(),
                    v.credit()
                )?;
            }
            writeln!(out)?;
        }
        Ok(())
    }

    fn dump_cpu(&self, cpu: CpuId, out: &mut dyn fmt::Write) -> fmt::Result {
        let name = H::INFO.name;
        let queued = self.queued(cpu);
        match self.current(cpu) {
            Some(v) => writeln!(
                out,
                "{name}: CPU[{:02}] running d{}v{} pri {:?} credit {}, {queued} queued",
                cpu.0,
                v.dom().id().0,
                v.vcpu_id(),
                v.pri(),
                v.credit(),
            ),
            None => writeln!(out, "{name}: CPU[{:02}] idle, {queued} queued", cpu.0),
        }
    }

    fn info(&self) -> &'static PolicyInfo {
        &H::INFO
    }

    fn processor_of(&self, v: &'a VcpuData<'a, H>) -> CpuId {
        v.processor()
    }

    fn affinity_of(&self, v: &'a VcpuData<'a, H>) -> Affinity {
        v.affinity()
    }

    fn running_on(&self, cpu: CpuId) -> Option<VcpuToken> {
        self.current(cpu).map(VcpuData::token)
    }

    fn waiting(&self) -> Option<u32> {
        Some(
            (0..self.pcpus.len())
                .map(|c| self.queued(CpuId(c as u16)))
                .sum(),
        )
    }

    fn waiting_on(&self, cpu: CpuId) -> Option<u32> {
        Some(self.queued(cpu))
    }
}
