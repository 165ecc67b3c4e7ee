//! The seams where policy layers extend the credit engine.
//!
//! vSlicer and EDF+credit are not copies of credit1: they are credit1 plus a
//! few decisions made differently. Each such decision is a method here with
//! credit1's behaviour as the default, so [`Credit1`] is simply the empty impl.

use crate::records::VcpuData;
use crate::time::Span;

/// Policy-specific data and decisions layered on the credit engine.
pub trait Hooks: Sized + Sync + Send + 'static {
    /// Extra per-vCPU data the layer keeps in the host-owned record.
    type VcpuExt: Default + Sync + Send;
    /// Extra per-domain data the layer keeps in the host-owned record.
    type DomExt: Default + Sync + Send;
    /// The policy's name as `sched=` and reports spell it.
    const NAME: &'static str;

    /// How long `v`, just picked from the credit queue, may run before the
    /// next scheduling decision. Credit1 gives everyone the global timeslice.
    fn slice(v: &VcpuData<'_, Self>, tslice: Span) -> Span {
        let _ = v;
        tslice
    }
}

/// Xen's credit1, unmodified.
#[derive(Clone, Copy, Debug, Default)]
pub struct Credit1;

impl Hooks for Credit1 {
    type VcpuExt = ();
    type DomExt = ();
    const NAME: &'static str = "credit";
}
