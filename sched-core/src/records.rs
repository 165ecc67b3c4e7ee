//! Scheduler records owned by the host.
//!
//! Xen allocates a scheduler's per-vCPU, per-domain and per-pCPU data through
//! `alloc_udata` / `alloc_domdata` / `alloc_pdata` and hands the pointers back on
//! every call. Here the host owns [`VcpuData`], [`DomData`] and [`PcpuData`] for
//! the lifetime `'a` of the scheduler instance, and the core links them into its
//! runqueues and accounting lists with intrusive links: no allocator, and an
//! insertion can never fail.
//!
//! Fields that several pCPUs touch (credit, priority, flags) are atomics, as in
//! credit1 where `svc->credit` is an `atomic_t` and flags use `set_bit`. The
//! rest is touched only by the pCPU that owns the vCPU (under its runqueue
//! lock) and uses relaxed atomics, which compile to plain moves on x86.

use core::mem::ManuallyDrop;
use core::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicI8, AtomicU16, AtomicU32, AtomicU8, Ordering::Relaxed,
};

use bitflags::bitflags;
use intrusive_collections::intrusive_adapter;
use intrusive_collections::linked_list::Link;
use intrusive_collections::RBTreeLink;

use crate::cpumask::AtomicOptCpu;
use crate::cpumask::{CpuId, CpuMask};
use crate::hooks::Hooks;
use crate::links::active::ActiveVcpus;
use crate::links::runq::Runq;
use crate::links::{ActiveLink, Tag};
use crate::platform::VcpuToken;
use crate::time::Time;

/// A domain id (Xen: `domid_t`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomId(pub u16);

/// Credit1 priorities (`credit.c:61-64`); a larger value runs first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i8)]
pub enum Pri {
    /// The idle vCPU.
    Idle = -64,
    /// Credit exhausted in this accounting period.
    Over = -2,
    /// Credit left.
    Under = -1,
    /// Woken from blocked while UNDER: runs ahead of everyone until its next tick.
    Boost = 0,
}

impl Pri {
    fn from_i8(v: i8) -> Pri {
        match v {
            0 => Pri::Boost,
            -1 => Pri::Under,
            -2 => Pri::Over,
            _ => Pri::Idle,
        }
    }
}

bitflags! {
    /// Per-vCPU scheduler flags (credit1's `CSCHED_FLAG_UNIT_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct VcpuFlags: u8 {
        /// Parked by its domain's cap until credit goes positive again.
        const PARKED = 1 << 0;
        /// Asked to yield: skips the ratelimit once and queues behind one lower-priority vCPU.
        const YIELD = 1 << 1;
        /// Just placed by `pick_cpu`: its next wake must not boost.
        const MIGRATING = 1 << 2;
        /// Unparked by accounting; the wake the host performs for it must not
        /// boost. (Xen unpauses synchronously while PARKED is still set; a
        /// host that defers the wake needs this separate mark.)
        const UNPARKED = 1 << 3;
        /// Hard affinity is exactly one pCPU.
        const PINNED = 1 << 4;
        /// An event reached it while blocked: the next wake is an event's.
        const EVENT = 1 << 5;
    }
}

/// Per-vCPU scheduler record (Xen: `struct csched_unit`).
pub struct VcpuData<'a, H: Hooks> {
    token: VcpuToken,
    vcpu_id: u16,
    dom: &'a DomData<'a, H>,
    /// Only ever touched with the runqueue lock of `processor` held (the
    /// runqueue the vCPU is on, or is about to join): a plain link, so that
    /// queueing costs no locked instruction. See the `Sync` impl below.
    pub(crate) runq_link: Link,
    /// The runqueue holding it (see [`crate::links::Tag`]).
    pub(crate) runq_tag: Tag,
    /// A policy layer's ordered queue of this pCPU (EDF+credit's deadline
    /// tree); under the same lock as `runq_link`.
    #[allow(dead_code)] // read through the layer's adapter (EDF+credit's)
    pub(crate) order_link: RBTreeLink,
    /// The layer's queue holding it.
    pub(crate) order_tag: Tag,
    pub(crate) active_link: ActiveLink,
    /// The accounting list holding it.
    pub(crate) active_tag: Tag,
    processor: AtomicU16,
    pri: AtomicI8,
    flags: AtomicU8,
    pub(crate) band: AtomicU8,
    credit: AtomicI32,
    /// When its current burn interval started (absolute while running).
    pub(crate) start_time: AtomicI64,
    /// Sub-credit nanoseconds carried between burns (`svc->residual`).
    pub(crate) residual: AtomicI64,
    /// When it was last descheduled (for the cache-hot migration delay).
    pub(crate) last_sched_time: AtomicI64,
    /// When it last started running (Xen: `state_entry_time`, for the ratelimit).
    pub(crate) running_since: AtomicI64,
    /// Picked to run and its context not yet saved (Xen: `unit->is_running`):
    /// a vCPU requeued by `do_schedule` is still on its pCPU until the host's
    /// `context_saved`, and must not be stolen before then.
    pub(crate) is_running: AtomicBool,
    /// Xen-exact: the pCPU running its next wake, when not its own. Xen's
    /// tickle steers by the waking pCPU's `last_tickle_cpu`, and the wake
    /// that ends a migration runs on the pCPU it left.
    pub(crate) waker: AtomicOptCpu,
    affinity: spin::Mutex<Affinity>,
    /// Policy-layer data (for example a vSlicer microslice).
    pub ext: H::VcpuExt,
}

/// Hard and soft affinity of a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Affinity {
    /// pCPUs the vCPU may run on.
    pub hard: CpuMask,
    /// pCPUs it prefers; `None` when it has no useful soft affinity.
    pub soft: Option<CpuMask>,
}

impl<'a, H: Hooks> VcpuData<'a, H> {
    /// A fresh record for vCPU `vcpu_id` of `dom`, allowed on `hard` pCPUs.
    pub fn new(token: VcpuToken, dom: &'a DomData<'a, H>, vcpu_id: u16, hard: CpuMask) -> Self {
        let v = VcpuData {
            token,
            vcpu_id,
            dom,
            runq_link: Link::new(),
            runq_tag: Tag::none(),
            order_link: RBTreeLink::new(),
            order_tag: Tag::none(),
            active_link: ActiveLink::new(),
            active_tag: Tag::none(),
            processor: AtomicU16::new(hard.first().unwrap_or_default().0),
            pri: AtomicI8::new(Pri::Under as i8),
            flags: AtomicU8::new(0),
            band: AtomicU8::new(0),
            credit: AtomicI32::new(0),
            start_time: AtomicI64::new(0),
            residual: AtomicI64::new(0),
            last_sched_time: AtomicI64::new(0),
            running_since: AtomicI64::new(0),
            is_running: AtomicBool::new(false),
            waker: AtomicOptCpu::none(),
            affinity: spin::Mutex::new(Affinity { hard, soft: None }),
            ext: H::VcpuExt::default(),
        };
        v.update_pinned(&hard);
        v
    }

    /// The record placed on `cpu` before it is inserted, as Xen's core
    /// places a new vCPU (`sched_select_initial_cpu`: vCPU 0 on the pool's
    /// first pCPU, each next one on the pCPU after its predecessor's) before
    /// `insert_unit` lets the scheduler pick again.
    #[must_use]
    pub fn placed_on(self, cpu: CpuId) -> Self {
        self.set_processor(cpu);
        self
    }

    /// The host's handle.
    pub fn token(&self) -> VcpuToken {
        self.token
    }
    /// The vCPU's index inside its domain.
    pub fn vcpu_id(&self) -> u16 {
        self.vcpu_id
    }
    /// The owning domain.
    pub fn dom(&self) -> &'a DomData<'a, H> {
        self.dom
    }
    /// The pCPU whose runqueue owns the vCPU (Xen: `sched_unit_master`).
    pub fn processor(&self) -> CpuId {
        CpuId(self.processor.load(Relaxed))
    }
    pub(crate) fn set_processor(&self, cpu: CpuId) {
        self.processor.store(cpu.0, Relaxed)
    }
    /// Current priority.
    pub fn pri(&self) -> Pri {
        Pri::from_i8(self.pri.load(Relaxed))
    }
    pub(crate) fn set_pri(&self, p: Pri) {
        self.pri.store(p as i8, Relaxed)
    }
    /// Current credit.
    pub fn credit(&self) -> i32 {
        self.credit.load(Relaxed)
    }
    pub(crate) fn set_credit(&self, c: i32) {
        self.credit.store(c, Relaxed)
    }
    pub(crate) fn add_credit(&self, c: i32) -> i32 {
        self.credit.fetch_add(c, Relaxed).wrapping_add(c)
    }
    /// Current flags.
    pub fn flags(&self) -> VcpuFlags {
        VcpuFlags::from_bits_truncate(self.flags.load(Relaxed))
    }
    pub(crate) fn set_flag(&self, f: VcpuFlags) -> bool {
        self.flags.fetch_or(f.bits(), Relaxed) & f.bits() != 0
    }
    /// Clears the flags of `mask`, returning which of them were set (one
    /// load when none is, as is usual).
    pub(crate) fn take_flags(&self, mask: VcpuFlags) -> VcpuFlags {
        if self.flags.load(Relaxed) & mask.bits() == 0 {
            return VcpuFlags::empty();
        }
        VcpuFlags::from_bits_truncate(self.flags.fetch_and(!mask.bits(), Relaxed) & mask.bits())
    }
    /// Clears `f`, returning whether it was set.
    pub(crate) fn clear_flag(&self, f: VcpuFlags) -> bool {
        if self.flags.load(Relaxed) & f.bits() == 0 {
            return false;
        }
        self.flags.fetch_and(!f.bits(), Relaxed) & f.bits() != 0
    }
    /// Whether the vCPU sits on a runqueue. Callers hold the runqueue lock
    /// of the vCPU's processor.
    pub(crate) fn on_runq(&self) -> bool {
        self.runq_link.is_linked()
    }
    /// Whether the vCPU is on its domain's active (credit-earning) list.
    pub fn is_active(&self) -> bool {
        self.active_link.is_linked()
    }
    /// Hard and soft affinity.
    pub fn affinity(&self) -> Affinity {
        *self.affinity.lock()
    }
    pub(crate) fn set_affinity(&self, a: Affinity) {
        *self.affinity.lock() = a;
        self.update_pinned(&a.hard);
    }
    fn update_pinned(&self, hard: &CpuMask) {
        if hard.count() == 1 {
            self.set_flag(VcpuFlags::PINNED);
        } else {
            self.clear_flag(VcpuFlags::PINNED);
        }
    }
    pub(crate) fn time(a: &AtomicI64) -> Time {
        Time(a.load(Relaxed))
    }
}

intrusive_adapter!(pub(crate) RunqAdapter<'a, H> = &'a VcpuData<'a, H>: VcpuData<'a, H> { runq_link => Link } where H: Hooks + 'a);
intrusive_adapter!(pub(crate) ActiveVcpuAdapter<'a, H> = &'a VcpuData<'a, H>: VcpuData<'a, H> { active_link => ActiveLink } where H: Hooks + 'a);
intrusive_adapter!(pub(crate) ActiveDomAdapter<'a, H> = &'a DomData<'a, H>: DomData<'a, H> { active_link => ActiveLink } where H: Hooks + 'a);

/// The part of a domain record that changes under the accounting lock.
pub(crate) struct DomActive<'a, H: Hooks> {
    /// Its vCPUs that earn credit.
    pub(crate) vcpus: ActiveVcpus<'a, H>,
    pub(crate) count: u16,
}

/// Per-domain scheduler record (Xen: `struct csched_dom`).
pub struct DomData<'a, H: Hooks> {
    id: DomId,
    weight: AtomicU16,
    cap: AtomicU16,
    nr_vcpus: AtomicU16,
    pub(crate) active_link: ActiveLink,
    /// The engine's active-domain list holding it.
    pub(crate) active_tag: Tag,
    /// Taken only with the accounting lock held, so never contended; it is a
    /// lock only so that the list can live in a shared record safely.
    pub(crate) active: spin::Mutex<DomActive<'a, H>>,
    /// Policy-layer data (for example a deadline or a credit reservation).
    pub ext: H::DomExt,
}

impl<'a, H: Hooks> DomData<'a, H> {
    /// A fresh record: weight 256, no cap (Xen's defaults).
    pub fn new(id: DomId) -> Self {
        DomData {
            id,
            weight: AtomicU16::new(crate::params::DEFAULT_WEIGHT),
            cap: AtomicU16::new(0),
            nr_vcpus: AtomicU16::new(0),
            active_link: ActiveLink::new(),
            active_tag: Tag::none(),
            active: spin::Mutex::new(DomActive {
                vcpus: ActiveVcpus::new(),
                count: 0,
            }),
            ext: H::DomExt::default(),
        }
    }
    /// The domain id.
    pub fn id(&self) -> DomId {
        self.id
    }
    /// Credit weight.
    pub fn weight(&self) -> u16 {
        self.weight.load(Relaxed)
    }
    pub(crate) fn set_weight(&self, w: u16) {
        self.weight.store(w, Relaxed)
    }
    /// Cap in percent of one pCPU (0 = none).
    pub fn cap(&self) -> u16 {
        self.cap.load(Relaxed)
    }
    pub(crate) fn set_cap(&self, c: u16) {
        self.cap.store(c, Relaxed)
    }
    /// How many vCPUs the scheduler holds for the domain.
    pub fn nr_vcpus(&self) -> u16 {
        self.nr_vcpus.load(Relaxed)
    }
    pub(crate) fn add_vcpus(&self, delta: i32) {
        let n = (self.nr_vcpus() as i32 + delta).clamp(0, u16::MAX as i32);
        self.nr_vcpus.store(n as u16, Relaxed)
    }
    /// How many of its vCPUs are earning credit.
    pub fn active_vcpus(&self) -> u16 {
        self.active.lock().count
    }
}

/// What a pCPU's runqueue lock protects (Xen: the per-pCPU `schedule_lock`).
pub(crate) struct PcpuLocked<'a, H: Hooks> {
    pub(crate) runq: Runq<'a, H>,
    /// The vCPU running there; `None` = the idle vCPU (Xen: `curr_on_cpu`).
    pub(crate) curr: Option<&'a VcpuData<'a, H>>,
    /// The policy layer's per-pCPU data. `ManuallyDrop` for the reason the
    /// runqueue is (see `Runq`): it may link records that point back here.
    pub(crate) ext: ManuallyDrop<H::PcpuExt<'a>>,
    /// When the layer's timer is armed for (`None`: stopped).
    pub(crate) policy_timer: Option<Time>,
    /// The vCPU that followed the one the layer picked out of turn, in its
    /// band (see `Requeue::Resume`).
    pub(crate) resume_before: Option<&'a VcpuData<'a, H>>,
    /// What the engine last published of this runqueue to stealers (see
    /// `CreditEngine::note_runq`), so that an unchanged head costs no write.
    pub(crate) offers: Offer,
}

/// What a runqueue offers a stealer, judged from its head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Empty.
    #[default]
    Nothing,
    /// Headed by an OVER vCPU: only an idle pCPU takes it.
    Queued,
    /// Headed by an UNDER or BOOST vCPU.
    Urgent,
}

impl<'a, H: Hooks> PcpuLocked<'a, H> {
    /// `v` leaves this runqueue: it can no longer be a place to resume
    /// before (and the host may free it once removed).
    pub(crate) fn forget_successor(&mut self, v: &VcpuData<'a, H>) {
        if self.resume_before.is_some_and(|s| core::ptr::eq(s, v)) {
            self.resume_before = None;
        }
    }
}

/// Per-pCPU scheduler record (Xen: `struct csched_pcpu`).
pub struct PcpuData<'a, H: Hooks> {
    pub(crate) locked: spin::Mutex<PcpuLocked<'a, H>>,
    /// Queued vCPUs plus the running non-idle one, read without the lock by
    /// work stealing exactly as credit1 does (`credit.c:1761`).
    pub(crate) nr_runnable: AtomicU32,
    pub(crate) online: AtomicBool,
    pub(crate) idle_bias: AtomicU16,
    pub(crate) last_tickle: AtomicU16,
    pub(crate) sort_epoch: AtomicU32,
    pub(crate) tick_armed: AtomicBool,
    /// The peer queue balancing looks at next.
    pub(crate) balance_next: AtomicU16,
    /// The pCPU whose queued work it was last tickled for, while idle:
    /// its number plus one, 0 for none (see [`Self::take_tickled_by`]).
    tickled_by: AtomicU32,
}

impl<H: Hooks> Default for PcpuData<'_, H> {
    fn default() -> Self {
        PcpuData {
            locked: spin::Mutex::new(PcpuLocked {
                runq: Runq::new(),
                curr: None,
                ext: ManuallyDrop::new(H::PcpuExt::default()),
                policy_timer: None,
                resume_before: None,
                offers: Offer::Nothing,
            }),
            nr_runnable: AtomicU32::new(0),
            online: AtomicBool::new(false),
            idle_bias: AtomicU16::new(0),
            last_tickle: AtomicU16::new(0),
            sort_epoch: AtomicU32::new(0),
            tick_armed: AtomicBool::new(false),
            balance_next: AtomicU16::new(0),
            tickled_by: AtomicU32::new(0),
        }
    }
}

impl<'a, H: Hooks> PcpuData<'a, H> {
    /// A record for a pCPU not yet in the pool.
    pub fn new() -> Self {
        Self::default()
    }
    /// Notes that this idle pCPU was tickled for work queued on `by`.
    pub(crate) fn set_tickled_by(&self, by: CpuId) {
        self.tickled_by.store(u32::from(by.0) + 1, Relaxed);
    }
    /// The pCPU it was last tickled for, forgetting it.
    pub(crate) fn take_tickled_by(&self) -> Option<CpuId> {
        // Read first: the swap (a locked instruction) only when one is set.
        if self.tickled_by.load(Relaxed) == 0 {
            return None;
        }
        match self.tickled_by.swap(0, Relaxed) {
            0 => None,
            n => u16::try_from(n - 1).ok().map(CpuId),
        }
    }
    /// Whether the pCPU belongs to the pool.
    pub fn is_online(&self) -> bool {
        self.online.load(Relaxed)
    }
    /// Queued plus running guest vCPUs.
    pub fn nr_runnable(&self) -> u32 {
        self.nr_runnable.load(Relaxed)
    }
    /// Counts `v` runnable here. Only called with this pCPU's runqueue
    /// lock held, so a plain load and store suffice (no locked instruction).
    pub(crate) fn inc_runnable(&self, x: &mut H::PcpuExt<'a>, v: &'a VcpuData<'a, H>) {
        self.nr_runnable
            .store(self.nr_runnable().wrapping_add(1), Relaxed);
        H::runnable_changed(self, x, v, true);
    }
    /// Counts `v` runnable here no more; same locking as [`Self::inc_runnable`].
    pub(crate) fn dec_runnable(&self, x: &mut H::PcpuExt<'a>, v: &'a VcpuData<'a, H>) {
        self.nr_runnable
            .store(self.nr_runnable().saturating_sub(1), Relaxed);
        H::runnable_changed(self, x, v, false);
    }
}
