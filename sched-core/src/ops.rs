//! What the world asks of a policy: the mirror of Xen's `struct scheduler`.
//!
//! The host (Xen's glue or the simulator) calls these with the same meaning
//! and under the same conditions as Xen's core calls the scheduler ops
//! (`xen/common/sched/private.h`, `core.c`). Records are the host's; the
//! lifetime `'a` is the promise that they outlive their use by the scheduler.

use core::fmt;

use crate::cpumask::CpuId;
use crate::hooks::Hooks;
use crate::params::ParamError;
use crate::platform::{TimerKind, VcpuToken};
use crate::records::{Affinity, DomData, VcpuData};
use crate::registry::PolicyInfo;
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
    /// The policy layer, which fixes the record types.
    type Hooks: Hooks;
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
    fn insert_domain(&self, dom: &'a DomData<'a, Self::Hooks>);
    /// A domain going away (`remove_domain`); its vCPUs are removed first.
    fn remove_domain(&self, dom: &'a DomData<'a, Self::Hooks>);

    /// A new vCPU, not yet runnable (`insert_unit`): placed with `pick_cpu`.
    fn insert_vcpu(&self, v: &'a VcpuData<'a, Self::Hooks>);
    /// A vCPU going away (`remove_unit`).
    fn remove_vcpu(&self, v: &'a VcpuData<'a, Self::Hooks>);

    /// `v` stops being runnable while queued or running (`sleep`).
    fn sleep(&self, v: &'a VcpuData<'a, Self::Hooks>);
    /// `v` becomes runnable (`wake`).
    fn wake(&self, v: &'a VcpuData<'a, Self::Hooks>);
    /// An event (I/O: an event channel notification, a packet) reached `v`,
    /// whatever its state. Xen's core has no such op (it only wakes blocked
    /// vCPUs); the glue calls it where events are delivered. Hosts call it
    /// *before* the `wake` the event may cause.
    fn event(&self, v: &'a VcpuData<'a, Self::Hooks>) {
        let _ = v;
    }
    /// The running `v` asks to yield (`yield`); the host then reschedules.
    fn yield_vcpu(&self, v: &'a VcpuData<'a, Self::Hooks>);
    /// `v`'s context is saved after a switch away (`context_saved`); until
    /// then it may not be moved to another pCPU.
    fn context_saved(&self, v: &'a VcpuData<'a, Self::Hooks>) {
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
    fn pick_cpu(&self, v: &'a VcpuData<'a, Self::Hooks>) -> CpuId;
    /// Moves a non-runnable `v` to `cpu` (`migrate`).
    fn migrate(&self, v: &'a VcpuData<'a, Self::Hooks>, cpu: CpuId);
    /// New hard/soft affinity for `v` (`adjust_affinity`).
    fn set_affinity(&self, v: &'a VcpuData<'a, Self::Hooks>, affinity: Affinity);

    /// A domain's parameters (`adjust`, getinfo).
    fn dom_params(&self, dom: &'a DomData<'a, Self::Hooks>) -> Self::DomParams;
    /// Sets a domain's parameters (`adjust`, putinfo); invalid values change nothing.
    fn set_dom_params(
        &self,
        dom: &'a DomData<'a, Self::Hooks>,
        p: Self::DomParams,
    ) -> Result<(), ParamError>;
    /// Pool-wide parameters (`adjust_global`, getinfo).
    fn global_params(&self) -> Self::GlobalParams;
    /// Sets pool-wide parameters (`adjust_global`, putinfo); invalid values change nothing.
    fn set_global_params(&self, p: Self::GlobalParams) -> Result<(), ParamError>;

    /// A timer the policy armed on `cpu` has fired.
    fn timer_fired(&self, cpu: CpuId, timer: TimerKind);

    /// What the host may read: the pCPU `v` is on or queued for (Xen's core
    /// keeps this itself: `sched_unit_master`).
    fn processor_of(&self, v: &'a VcpuData<'a, Self::Hooks>) -> CpuId;
    /// `v`'s hard and soft affinity (`unit->cpu_{hard,soft}_affinity`).
    fn affinity_of(&self, v: &'a VcpuData<'a, Self::Hooks>) -> Affinity;
    /// The vCPU `cpu` runs, `None` for idle (`curr_on_cpu`).
    fn running_on(&self, cpu: CpuId) -> Option<VcpuToken>;
    /// How many vCPUs wait on the pool's runqueues, if the policy can count
    /// them (a checker compares it with the host's own count).
    fn waiting(&self) -> Option<u32> {
        None
    }

    /// Writes the scheduler's settings (`dump_settings`).
    fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result;
    /// Writes one pCPU's state (`dump_cpu_state`).
    fn dump_cpu(&self, cpu: CpuId, out: &mut dyn fmt::Write) -> fmt::Result;
}
