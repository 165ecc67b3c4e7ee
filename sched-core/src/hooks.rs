//! The seams where policy layers extend the credit engine.
//!
//! vSlicer and EDF+credit are not copies of credit1: they are credit1 plus a
//! few decisions made differently. Each such decision is a method here with
//! credit1's behaviour as the default, so [`Credit1`] is simply the empty impl.
//! Every method is called with the runqueue lock of the pCPU concerned held,
//! so a layer's per-pCPU data needs no locking of its own beyond relaxed
//! atomics (which keep the records `Sync`).

use core::fmt;

use crate::params::ParamError;
use crate::records::{DomData, PcpuData, VcpuData};
use crate::time::{Span, Time};

/// Where a vCPU descheduled while still runnable goes back on its runqueue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the engine queues the vCPU where this says"]
pub enum Requeue {
    /// Where credit1 puts it: the tail of its priority band.
    Credit,
    /// Just before the `n`-th (1-based) vCPU of its priority band for which
    /// [`Hooks::boundary`] holds; at the band's tail when there are fewer.
    BeforeBoundary(u8),
}

/// Policy-specific data and decisions layered on the credit engine.
pub trait Hooks: Sized + Sync + Send + 'static {
    /// Extra per-vCPU data the layer keeps in the host-owned record.
    type VcpuExt: Default + Sync + Send;
    /// Extra per-domain data the layer keeps in the host-owned record.
    type DomExt: Default + Sync + Send;
    /// Extra per-pCPU data the layer keeps in the host-owned record.
    type PcpuExt: Default + Sync + Send;
    /// The layer's per-domain parameters (beside weight and cap).
    type DomParams: Copy + Default + PartialEq + fmt::Debug + Send + Sync;
    /// The policy's name as `sched=` and reports spell it.
    const NAME: &'static str;

    /// `v` joins (`up`) or leaves the runnable vCPUs of `pc` (queued or
    /// running there); `pc.nr_runnable()` already counts the change.
    fn runnable_changed(pc: &PcpuData<'_, Self>, v: &VcpuData<'_, Self>, up: bool) {
        let _ = (pc, v, up);
    }

    /// `v` was picked to run on `pc` at `now`: how long it may run before the
    /// next decision. Credit1 gives everyone the global timeslice.
    fn picked(pc: &PcpuData<'_, Self>, v: &VcpuData<'_, Self>, now: Time, tslice: Span) -> Span {
        let _ = (pc, v, now);
        tslice
    }

    /// `v` stops running on `pc` at `now` (`runnable`: it stays runnable and
    /// is requeued, unless it yields, which credit1 handles). Says where it goes.
    fn descheduled(
        pc: &PcpuData<'_, Self>,
        v: &VcpuData<'_, Self>,
        now: Time,
        runnable: bool,
    ) -> Requeue {
        let _ = (pc, v, now, runnable);
        Requeue::Credit
    }

    /// Whether `v`, found by accounting with `credit < 0`, stays UNDER
    /// anyway (credit1: never). Called under the accounting lock;
    /// `per_tslice` is the credit one timeslice of running costs.
    fn debt_tolerated(v: &VcpuData<'_, Self>, credit: i32, per_tslice: i64) -> bool {
        let _ = (v, credit, per_tslice);
        false
    }

    /// Whether queued `v` counts as a boundary for [`Requeue::BeforeBoundary`].
    fn boundary(v: &VcpuData<'_, Self>) -> bool {
        let _ = v;
        false
    }

    /// The layer's parameters of `dom`.
    fn dom_params(dom: &DomData<'_, Self>) -> Self::DomParams {
        let _ = dom;
        Self::DomParams::default()
    }

    /// Checks `p` for `dom`; an error means nothing will change.
    fn validate_dom_params(dom: &DomData<'_, Self>, p: &Self::DomParams) -> Result<(), ParamError> {
        let _ = (dom, p);
        Ok(())
    }

    /// Applies validated `p` to `dom`. Runnable vCPUs see the change at their
    /// next scheduling decision, which is the next time a lock is held for them.
    fn set_dom_params(dom: &DomData<'_, Self>, p: &Self::DomParams) {
        let _ = (dom, p);
    }

    /// Appends the layer's view of `pc` to a `dump` line.
    fn dump_pcpu(pc: &PcpuData<'_, Self>, tslice: Span, out: &mut dyn fmt::Write) -> fmt::Result {
        let _ = (pc, tslice, out);
        Ok(())
    }
}

/// Xen's credit1, unmodified.
#[derive(Clone, Copy, Debug, Default)]
pub struct Credit1;

impl Hooks for Credit1 {
    type VcpuExt = ();
    type DomExt = ();
    type PcpuExt = ();
    type DomParams = ();
    const NAME: &'static str = "credit";
}
