//! Each policy's parameters as Xen's domctl and sysctl carry them.
//!
//! One `struct rs_dom_params` serves all three schedulers; a field the
//! booted policy does not have must be 0, so a toolstack that confuses the
//! schedulers is refused rather than half-obeyed.

use sched_core::edf::{EdfDomParams, EdfGlobalParams, RtMode};
use sched_core::vslicer::VSlicerDomParams;
use sched_core::{
    Credit1, CreditDomParams, CreditGlobalParams, DomData, DomParams, EdfCredit, GlobalParams,
    Hooks, PolicyKind, Span, VSlicer, VSlicerGlobalParams,
};

use crate::abi::{self, RsDomParams, RsGlobalParams};

/// A policy the glue registers with Xen: a [`PolicyKind`] whose parameters
/// travel in the domctl and sysctl records. The glue is generic over this
/// and never names a policy's records or its parameters' fields.
pub trait XenPolicy: PolicyKind {
    /// A domain's parameters in the domctl record, with what the policy
    /// knows of `dom` beyond them (read-only fields).
    fn dom_to_c(p: &Self::DomParams, dom: &Self::Dom<'_>) -> RsDomParams;
    /// A domain's new parameters from a putinfo record, over `cur`; `None`
    /// when a field cannot be represented (refused as a whole).
    fn dom_from_c(c: &RsDomParams, cur: &Self::DomParams) -> Option<Self::DomParams>;
    /// The same from Xen's own credit putinfo (`xl sched-credit`): weight 0
    /// and cap 0xFFFF keep theirs.
    fn dom_from_credit_c(c: &RsDomParams, cur: &Self::DomParams) -> Option<Self::DomParams>;
    /// Pool-wide parameters in the sysctl record.
    fn global_to_c(p: &Self::GlobalParams) -> RsGlobalParams;
    /// Pool-wide parameters from a putinfo record.
    fn global_from_c(c: &RsGlobalParams) -> Option<Self::GlobalParams>;
    /// The same from Xen's credit sysctl, over `cur` (its first three fields).
    fn global_from_credit_c(
        c: &RsGlobalParams,
        cur: &Self::GlobalParams,
    ) -> Option<Self::GlobalParams>;
    /// A new domain's parameters (before it has vCPUs), over the defaults
    /// `cur`; `None`: the defaults.
    fn new_domain(domid: u16, cur: &Self::DomParams) -> Option<Self::DomParams>;
}

/// A layer on the credit engine as the glue sees it: its own fields beside
/// credit's weight, cap and timeslices, which the blanket [`XenPolicy`] impl adds.
trait XenLayer: Hooks {
    /// The layer's parameters in the domctl record.
    fn dom_to_c(p: &Self::DomParams, c: &mut RsDomParams);
    /// The layer's parameters from the domctl record; `None` when a field
    /// cannot be represented (it is then refused as a whole).
    fn dom_from_c(c: &RsDomParams, cur: &Self::DomParams) -> Option<Self::DomParams>;
    /// The layer's pool-wide parameters in the sysctl record.
    fn global_to_c(p: &Self::GlobalParams, c: &mut RsGlobalParams);
    /// The layer's pool-wide parameters from the sysctl record.
    fn global_from_c(c: &RsGlobalParams) -> Option<Self::GlobalParams>;
    /// What the layer knows of `dom` beyond its parameters (read-only
    /// fields of the domctl record).
    fn dom_state_to_c(dom: &DomData<'_, Self>, c: &mut RsDomParams) {
        let _ = (dom, c);
    }
    /// A new domain's layer parameters (before it has vCPUs).
    fn new_domain(domid: u16) -> Option<Self::DomParams> {
        let _ = domid;
        None
    }
}

/// Every credit layer is a [`XenPolicy`]: credit's fields, then the layer's.
impl<H: XenLayer> XenPolicy for H {
    fn dom_to_c(p: &DomParams<<H as Hooks>::DomParams>, dom: &DomData<'_, H>) -> RsDomParams {
        let mut c = RsDomParams {
            weight: p.credit.weight,
            cap: p.credit.cap,
            ..RsDomParams::default()
        };
        <H as XenLayer>::dom_to_c(&p.policy, &mut c);
        <H as XenLayer>::dom_state_to_c(dom, &mut c);
        c
    }
    fn dom_from_c(
        c: &RsDomParams,
        cur: &DomParams<<H as Hooks>::DomParams>,
    ) -> Option<DomParams<<H as Hooks>::DomParams>> {
        if c.pad != 0 {
            return None;
        }
        let weight = if c.weight == 0 {
            cur.credit.weight
        } else {
            c.weight
        };
        Some(DomParams {
            credit: CreditDomParams { weight, cap: c.cap },
            policy: <H as XenLayer>::dom_from_c(c, &cur.policy)?,
        })
    }
    fn dom_from_credit_c(
        c: &RsDomParams,
        cur: &DomParams<<H as Hooks>::DomParams>,
    ) -> Option<DomParams<<H as Hooks>::DomParams>> {
        let mut new = *cur;
        if c.weight != 0 {
            new.credit.weight = c.weight;
        }
        if c.cap != abi::CAP_KEEP {
            new.credit.cap = c.cap;
        }
        Some(new)
    }
    fn global_to_c(p: &GlobalParams<<H as Hooks>::GlobalParams>) -> RsGlobalParams {
        let mut c = RsGlobalParams {
            tslice_ms: to_us(p.credit.tslice) / 1_000,
            ratelimit_us: to_us(p.credit.ratelimit),
            vcpu_migr_delay_us: to_us(p.credit.migration_delay),
            ..RsGlobalParams::default()
        };
        <H as XenLayer>::global_to_c(&p.policy, &mut c);
        c
    }
    fn global_from_c(c: &RsGlobalParams) -> Option<GlobalParams<<H as Hooks>::GlobalParams>> {
        Some(GlobalParams {
            credit: credit_globals_from_c(c),
            policy: <H as XenLayer>::global_from_c(c)?,
        })
    }
    fn global_from_credit_c(
        c: &RsGlobalParams,
        cur: &GlobalParams<<H as Hooks>::GlobalParams>,
    ) -> Option<GlobalParams<<H as Hooks>::GlobalParams>> {
        Some(GlobalParams {
            credit: credit_globals_from_c(c),
            policy: cur.policy,
        })
    }
    fn new_domain(
        domid: u16,
        cur: &DomParams<<H as Hooks>::DomParams>,
    ) -> Option<DomParams<<H as Hooks>::DomParams>> {
        let policy = <H as XenLayer>::new_domain(domid)?;
        Some(DomParams { policy, ..*cur })
    }
}

fn us(v: u32) -> Span {
    Span::us(i64::from(v))
}

/// Whole microseconds of `s`, saturated into the field.
fn to_us(s: Span) -> u32 {
    u32::try_from(s.as_ns() / 1_000).unwrap_or(u32::MAX)
}

/// Credit1 has no pool-wide parameters of a layer: it refuses EDF's and
/// vSlicer's.
fn no_layer_globals(c: &RsGlobalParams) -> Option<()> {
    (c.poll_us == 0 && c.edf_slice_us == 0 && c.flags == 0).then_some(())
}

impl XenLayer for Credit1 {
    fn dom_to_c(_: &(), _: &mut RsDomParams) {}
    fn dom_from_c(c: &RsDomParams, _: &()) -> Option<()> {
        let none = c.microslice_us == 0
            && c.deadline_us == 0
            && c.reserve_us == 0
            && c.rt_mode == 0
            && c.driver == 0;
        none.then_some(())
    }
    fn global_to_c(_: &(), _: &mut RsGlobalParams) {}
    fn global_from_c(c: &RsGlobalParams) -> Option<()> {
        no_layer_globals(c)
    }
}

impl XenLayer for VSlicer {
    fn dom_to_c(p: &VSlicerDomParams, c: &mut RsDomParams) {
        c.microslice_us = to_us(p.microslice);
    }
    fn dom_from_c(c: &RsDomParams, _: &VSlicerDomParams) -> Option<VSlicerDomParams> {
        let none = c.deadline_us == 0 && c.reserve_us == 0 && c.rt_mode == 0 && c.driver == 0;
        none.then_some(VSlicerDomParams {
            microslice: us(c.microslice_us),
        })
    }
    fn global_to_c(p: &VSlicerGlobalParams, c: &mut RsGlobalParams) {
        c.flags = if p.auto_lsvm {
            abi::GLOBAL_AUTO_LSVM
        } else {
            0
        };
    }
    fn global_from_c(c: &RsGlobalParams) -> Option<VSlicerGlobalParams> {
        let known = c.poll_us == 0 && c.edf_slice_us == 0 && c.flags & !abi::GLOBAL_AUTO_LSVM == 0;
        known.then_some(VSlicerGlobalParams {
            auto_lsvm: c.flags & abi::GLOBAL_AUTO_LSVM != 0,
        })
    }
    fn dom_state_to_c(dom: &DomData<'_, Self>, c: &mut RsDomParams) {
        if let Some(a) = sched_core::vslicer::auto_class(dom) {
            c.auto_microslice_us = to_us(a.microslice);
            c.auto_events = u32::try_from(a.events_per_sec).unwrap_or(u32::MAX);
            c.auto_burst_us = to_us(a.burst);
            c.auto_changes = a.changes;
        }
    }
}

impl XenLayer for EdfCredit {
    fn dom_to_c(p: &EdfDomParams, c: &mut RsDomParams) {
        c.deadline_us = to_us(p.deadline);
        c.reserve_us = to_us(p.reserve);
        c.rt_mode = match p.mode {
            RtMode::None => 0,
            RtMode::Periodic => 1,
            RtMode::Aperiodic => 2,
        };
        c.driver = u8::from(p.driver);
    }
    fn dom_from_c(c: &RsDomParams, cur: &EdfDomParams) -> Option<EdfDomParams> {
        let mode = match c.rt_mode {
            0 => RtMode::None,
            1 => RtMode::Periodic,
            2 => RtMode::Aperiodic,
            _ => return None,
        };
        // The driver role is read-only here: it is dom0's from creation.
        if c.microslice_us != 0 || c.driver != u8::from(cur.driver) {
            return None;
        }
        Some(EdfDomParams {
            mode,
            deadline: us(c.deadline_us),
            reserve: us(c.reserve_us),
            driver: cur.driver,
        })
    }
    fn global_to_c(p: &EdfGlobalParams, c: &mut RsGlobalParams) {
        c.poll_us = to_us(p.poll);
        c.edf_slice_us = to_us(p.edf_slice);
    }
    fn global_from_c(c: &RsGlobalParams) -> Option<EdfGlobalParams> {
        if c.flags != 0 {
            return None;
        }
        Some(EdfGlobalParams {
            poll: us(c.poll_us),
            edf_slice: us(c.edf_slice_us),
        })
    }
    /// Dom0 is the driver domain (the seed's placement of netback/blkback).
    fn new_domain(domid: u16) -> Option<EdfDomParams> {
        (domid == 0).then_some(EdfDomParams {
            driver: true,
            ..EdfDomParams::default()
        })
    }
}

/// The credit engine's pool-wide parameters from the record's first three
/// fields (`struct xen_sysctl_credit_schedule`'s layout).
fn credit_globals_from_c(c: &RsGlobalParams) -> CreditGlobalParams {
    CreditGlobalParams {
        tslice: Span::ms(i64::from(c.tslice_ms)),
        ratelimit: us(c.ratelimit_us),
        migration_delay: us(c.vcpu_migr_delay_us),
        // Xen's sysctl has no such field: in a hypervisor the engine is ours.
        exact: false,
    }
}
