//! What the world asks of a policy: the mirror of Xen's `struct scheduler`.
//!
//! The host (Xen's glue or the simulator) calls these with the same meaning
//! and under the same conditions as Xen's core calls the scheduler ops
//! (`xen/common/sched/private.h`, `core.c`). Records are the host's; the
//! lifetime `'a` is the promise that they outlive their use by the scheduler.
//!
//! Two traits, so that a policy need not be the credit engine: a
//! [`PolicyKind`] is what a host builds (record types and their
//! constructors, parameter types, an engine over a platform), a
//! [`SchedOps`] is the engine the host then drives. Neither names the
//! credit engine's records: a decision names the host's [`VcpuToken`], and
//! what a host may read of a vCPU or a pCPU it asks the engine. The credit
//! engine with its layers is one implementation (every `Hooks` layer is a
//! kind, by a blanket impl in `credit/mod.rs`); a test
//! fixture with one global FIFO queue is another (`tests/src/fifo.rs`).

use core::fmt;

use crate::cpumask::CpuId;
use crate::cpumask::CpuMask;
use crate::params::ParamError;
use crate::platform::Platform;
use crate::platform::{TimerKind, VcpuToken};
use crate::records::{Affinity, DomId};
use crate::registry::{Policy, PolicyInfo};
use crate::time::{Span, Time};

/// The outcome of `do_schedule` (Xen: `prev->next_task`, `next_time`,
/// `next_task->migrated`). It names the vCPU by the host's own token, not by
/// a policy's record, so that every policy answers in the same words.
#[must_use = "the host must switch to `next` and arm the slice timer"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The vCPU to run, or `None` for the idle vCPU.
    pub next: Option<VcpuToken>,
    /// How long until the next decision; `None` = until something wakes the
    /// pCPU (Xen: `next_time = -1`).
    pub slice: Option<Span>,
    /// Whether `next` was stolen from another pCPU's runqueue.
    pub migrated: bool,
}

/// A scheduling policy as Xen's core sees it.
///
/// Preconditions the host keeps, as Xen's core does: a vCPU is inserted
/// before any other call names it, runs on at most one pCPU, is only woken
/// when it was not runnable, and is removed only when it is neither running
/// nor runnable. Calls that break them are ignored, never a panic.
pub trait SchedOps<'a> {
    /// The policy's per-vCPU record (Xen: `alloc_udata`). The host owns its
    /// memory and keeps it at one address from `insert_vcpu` until
    /// `remove_vcpu` returns; the policy owns its contents and keeps no
    /// reference to it after `remove_vcpu`.
    type Vcpu: 'a;
    /// The policy's per-domain record (`alloc_domdata`), on the same terms
    /// from `insert_domain` to `remove_domain`.
    type Dom: 'a;
    /// Per-domain parameters (`adjust`).
    type DomParams: Copy + fmt::Debug;
    /// Pool-wide parameters (`adjust_global`).
    type GlobalParams: Copy + fmt::Debug;

    /// The policy's registry entry (names, Xen id).
    fn info(&self) -> &'static PolicyInfo;

    /// Adds pCPU `cpu` to the pool (`init_pdata` / `switch_sched`).
    fn add_pcpu(&self, cpu: CpuId);
    /// Takes pCPU `cpu` out of the pool (`deinit_pdata`). Its runqueue must be
    /// empty and it must be running idle.
    fn remove_pcpu(&self, cpu: CpuId);

    /// A new domain (`insert_domain` after `alloc_domdata`).
    fn insert_domain(&self, dom: &'a Self::Dom);
    /// A domain going away (`remove_domain`); its vCPUs are removed first.
    fn remove_domain(&self, dom: &'a Self::Dom);

    /// A new vCPU, not yet runnable (`insert_unit`): placed with `pick_cpu`.
    fn insert_vcpu(&self, v: &'a Self::Vcpu);
    /// A vCPU going away (`remove_unit`).
    fn remove_vcpu(&self, v: &'a Self::Vcpu);

    /// `v` stops being runnable while queued or running (`sleep`).
    fn sleep(&self, v: &'a Self::Vcpu);
    /// `v` becomes runnable (`wake`).
    fn wake(&self, v: &'a Self::Vcpu);
    /// An event (I/O: an event channel notification, a packet) reached `v`,
    /// whatever its state. Xen's core has no such op (it only wakes blocked
    /// vCPUs); the glue calls it where events are delivered. Hosts call it
    /// *before* the `wake` the event may cause.
    fn event(&self, v: &'a Self::Vcpu) {
        let _ = v;
    }
    /// The running `v` asks to yield (`yield`); the host then reschedules.
    fn yield_vcpu(&self, v: &'a Self::Vcpu);
    /// `v`'s context is saved after a switch away (`context_saved`); until
    /// then it may not be moved to another pCPU.
    fn context_saved(&self, v: &'a Self::Vcpu) {
        let _ = v;
    }

    /// Picks what `cpu` runs next (`do_schedule`). `prev_runnable` says
    /// whether the vCPU running until now may keep running.
    fn do_schedule(
        &self,
        cpu: CpuId,
        now: Time,
        prev_runnable: bool,
        tasklet_work: bool,
    ) -> Decision;

    /// The pCPU `v` should run on (`pick_resource`).
    fn pick_cpu(&self, v: &'a Self::Vcpu) -> CpuId;
    /// Moves a non-runnable `v` to `cpu` (`migrate`).
    fn migrate(&self, v: &'a Self::Vcpu, cpu: CpuId);
    /// New hard/soft affinity for `v` (`adjust_affinity`).
    fn set_affinity(&self, v: &'a Self::Vcpu, affinity: Affinity);

    /// A domain's parameters (`adjust`, getinfo).
    fn dom_params(&self, dom: &'a Self::Dom) -> Self::DomParams;
    /// Sets a domain's parameters (`adjust`, putinfo); invalid values change nothing.
    fn set_dom_params(&self, dom: &'a Self::Dom, p: Self::DomParams) -> Result<(), ParamError>;
    /// Pool-wide parameters (`adjust_global`, getinfo).
    fn global_params(&self) -> Self::GlobalParams;
    /// Sets pool-wide parameters (`adjust_global`, putinfo); invalid values change nothing.
    fn set_global_params(&self, p: Self::GlobalParams) -> Result<(), ParamError>;

    /// A timer the policy armed on `cpu` has fired.
    fn timer_fired(&self, cpu: CpuId, timer: TimerKind);

    /// What the host may read: the pCPU `v` is on or queued for (Xen's core
    /// keeps this itself: `sched_unit_master`).
    fn processor_of(&self, v: &'a Self::Vcpu) -> CpuId;
    /// `v`'s hard and soft affinity (`unit->cpu_{hard,soft}_affinity`).
    fn affinity_of(&self, v: &'a Self::Vcpu) -> Affinity;
    /// The vCPU `cpu` runs, `None` for idle (`curr_on_cpu`).
    fn running_on(&self, cpu: CpuId) -> Option<VcpuToken>;
    /// How many vCPUs wait on the pool's runqueues, if the policy can count
    /// them (a checker compares it with the host's own count).
    fn waiting(&self) -> Option<u32> {
        None
    }
    /// How many wait on `cpu`'s own runqueue, if the policy has per-pCPU
    /// runqueues (`remove_pcpu` requires it empty).
    fn waiting_on(&self, cpu: CpuId) -> Option<u32> {
        let _ = cpu;
        None
    }

    /// Writes the scheduler's settings (`dump_settings`).
    fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result;
    /// Writes one pCPU's state (`dump_cpu_state`).
    fn dump_cpu(&self, cpu: CpuId, out: &mut dyn fmt::Write) -> fmt::Result;
}

/// A policy as a host builds it: its records, its parameters and the
/// scheduler it makes over a platform. Hosts are generic over this trait and
/// never name a policy's records; each registry entry implements it (the
/// credit engine's layers by a blanket impl over [`crate::Hooks`]), and so
/// may a policy that is not built on the credit engine at all.
///
/// Records are built by value before the scheduler sees them (the host may
/// build them all up front, or in place in its own memory) and are then kept
/// at one address, as [`SchedOps`] says. A host never runs a record's
/// destructor (it frees the memory: an arena, Xen's `xfree`): a record owns
/// nothing, and whatever a policy must release it releases in `remove_*` or
/// when its engine is dropped. This is what lets a host hold records that
/// borrow each other without knowing their types.
pub trait PolicyKind: Policy + Sized + 'static {
    /// Per-vCPU record.
    type Vcpu<'a>: 'a;
    /// Per-domain record.
    type Dom<'a>: 'a;
    /// Per-pCPU record (`alloc_pdata`), one per possible pCPU, lent to the
    /// scheduler for its whole life.
    type Pcpu<'a>: 'a;
    /// Per-domain parameters (`adjust`), whole: setting them replaces all.
    type DomParams: Copy + PartialEq + fmt::Debug;
    /// Pool-wide parameters (`adjust_global`).
    type GlobalParams: Copy + PartialEq + fmt::Debug;
    /// One scheduler instance (a cpupool) over platform `P`.
    type Engine<'a, P: Platform + 'a>: SchedOps<
        'a,
        Vcpu = Self::Vcpu<'a>,
        Dom = Self::Dom<'a>,
        DomParams = Self::DomParams,
        GlobalParams = Self::GlobalParams,
    >;

    /// A pCPU record, not yet in any pool.
    fn new_pcpu<'a>() -> Self::Pcpu<'a>;
    /// A domain record for domain `id`, with the policy's default parameters.
    fn new_dom<'a>(id: DomId) -> Self::Dom<'a>;
    /// A vCPU record of `dom`, not yet inserted.
    fn new_vcpu<'a>(v: NewVcpu, dom: &'a Self::Dom<'a>) -> Self::Vcpu<'a>;
    /// A scheduler over `pcpus` (indexed by pCPU number, none of them added
    /// yet) with the policy's default pool parameters.
    fn engine<'a, P: Platform + 'a>(
        platform: P,
        pcpus: &'a [Self::Pcpu<'a>],
    ) -> Self::Engine<'a, P>;
}

/// What the host knows of a new vCPU (Xen: what `alloc_udata` is given,
/// with the core's initial placement, `sched_select_initial_cpu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewVcpu {
    /// The host's name for it, in decisions and platform calls.
    pub token: VcpuToken,
    /// Its number within its domain.
    pub vcpu_id: u16,
    /// Its hard affinity.
    pub hard: CpuMask,
    /// The pCPU the host placed it on; `None`: the first of `hard`.
    pub cpu: Option<CpuId>,
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::boxed::Box;
    use std::vec::Vec;

    use super::*;
    use crate::mock::MockPlatform;
    use crate::time::Time;

    /// Builds one pool through [`PolicyKind`] alone, as a host does, and
    /// checks that a woken vCPU is picked and a blocked one is not. The
    /// records are leaked: a host never runs their destructors.
    fn a_host_drives_it_through_the_kind<K: PolicyKind>() {
        let p: &'static MockPlatform = Box::leak(Box::new(MockPlatform::new()));
        let pcpus: &'static [K::Pcpu<'static>] = Box::leak(
            (0..2)
                .map(|_| K::new_pcpu())
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let dom: &'static K::Dom<'static> = Box::leak(Box::new(K::new_dom(DomId(1))));
        let new = |k: usize| NewVcpu {
            token: VcpuToken(k),
            vcpu_id: k as u16,
            hard: CpuMask::first_n(2),
            cpu: Some(CpuId(k as u16)),
        };
        let vs: &'static [K::Vcpu<'static>; 2] = Box::leak(Box::new([
            K::new_vcpu(new(0), dom),
            K::new_vcpu(new(1), dom),
        ]));
        let e = K::engine(p, pcpus);
        assert_eq!(e.info().name, K::INFO.name);
        e.add_pcpu(CpuId(0));
        e.add_pcpu(CpuId(1));
        e.insert_domain(dom);
        for v in vs {
            e.insert_vcpu(v);
        }
        e.wake(&vs[1]);
        let on = e.processor_of(&vs[1]);
        let d = e.do_schedule(on, Time(1_000), false, false);
        assert_eq!(d.next, Some(VcpuToken(1)), "{}", K::INFO.name);
        assert_eq!(e.running_on(on), Some(VcpuToken(1)));
        let other = CpuId(1 - on.0);
        assert_eq!(e.do_schedule(other, Time(1_000), false, false).next, None);
        assert_eq!(e.waiting(), Some(0));
        e.sleep(&vs[1]);
        assert_eq!(e.do_schedule(on, Time(2_000), false, false).next, None);
        e.context_saved(&vs[1]);
        for v in vs {
            e.remove_vcpu(v);
        }
        e.remove_domain(dom);
    }

    #[test]
    fn every_registry_entry_is_a_kind_a_host_can_drive() {
        macro_rules! each {
            ([$($t:ty),*]) => { $(a_host_drives_it_through_the_kind::<$t>();)* };
        }
        crate::with_policies!(each);
    }
}
