//! The policies the simulator runs, and how a scenario's domain keys become
//! each policy's parameters.

use sched_core::{
    CpuId, CpuMask, Credit1, CreditDomParams, DomData, DomParams, EdfCredit, EdfDomParams,
    EdfGlobalParams, GlobalParams, Hooks, Policy, PolicyKind, Span, VSlicer, VSlicerDomParams,
    VSlicerGlobalParams,
};

use crate::report::{AutoLsvmReport, Report};
use crate::scenario::{Domain, DomainChange, Pool, Scenario};
use crate::{sim, SimError, SimOptions, SimStats};

/// A policy as the simulator sees it: a [`PolicyKind`], plus its scenario
/// keys. The simulator is generic over this and never names a policy's
/// records or the fields of its parameters.
pub trait SimPolicy: PolicyKind {
    /// Domain `d`'s parameters as the scenario declares them. With `full`
    /// false, only what a domain is created with (its role), the rest at
    /// the policy's defaults: Xen's toolstack sets weight and cap after the
    /// vCPUs exist, as a cap is checked against them.
    fn dom_params(d: &Domain, full: bool) -> Self::DomParams;
    /// Applies a `[[change]]` to a domain's parameters.
    fn change(p: &mut Self::DomParams, c: &DomainChange);
    /// The weight the host judges shares and waits by, if the policy has one.
    fn weight(p: &Self::DomParams) -> Option<u16>;
    /// The pool-wide parameters from `[pool]`.
    fn global(pool: &Pool) -> Self::GlobalParams;
    /// The pCPUs a rule the policy declares keeps domain `d` off, worked
    /// out from the scenario alone (`alive` says which domains exist now).
    /// The invariant checker judges work conservation from this and the
    /// hard affinity, never from what the engine says a vCPU may use.
    fn kept_off(sc: &Scenario, d: usize, alive: &dyn Fn(usize) -> bool) -> CpuMask;
    /// What automatic LSVM detection decided for `dom` (vSlicer in a pool
    /// with `auto_lsvm`).
    fn auto_lsvm(sc: &Scenario, dom: &Self::Dom<'_>) -> Option<AutoLsvmReport>;
    /// Whether the policy declares that a runnable vCPU of domain `d` (a
    /// domain with runnable vCPUs) may hold a pCPU for as long as it likes,
    /// so that waiting behind it is not starvation.
    fn runs_unbounded(sc: &Scenario, d: usize) -> bool;
}

/// A layer on the credit engine as the simulator sees it: its own keys
/// beside credit's weight and cap, which the blanket [`SimPolicy`] impl adds.
trait SimLayer: Hooks {
    /// The layer's parameters of a domain as the scenario declares them.
    fn params(d: &Domain) -> Self::DomParams;
    /// Applies a `[[change]]` to the layer's parameters.
    fn change(p: &mut Self::DomParams, c: &DomainChange);
    /// The layer's pool-wide parameters from `[pool]`.
    fn global(pool: &Pool) -> Self::GlobalParams;
    /// See [`SimPolicy::kept_off`].
    fn kept_off(sc: &Scenario, d: usize, alive: &dyn Fn(usize) -> bool) -> CpuMask {
        let _ = (sc, d, alive);
        CpuMask::EMPTY
    }
    /// See [`SimPolicy::auto_lsvm`].
    fn auto_lsvm(sc: &Scenario, dom: &DomData<'_, Self>) -> Option<AutoLsvmReport> {
        let _ = (sc, dom);
        None
    }
    /// See [`SimPolicy::runs_unbounded`].
    fn runs_unbounded(sc: &Scenario, d: usize) -> bool {
        let _ = (sc, d);
        false
    }
}

/// Every credit layer is a [`SimPolicy`]: credit's weight and cap, then the
/// layer's own keys.
impl<H: SimLayer> SimPolicy for H {
    fn dom_params(d: &Domain, full: bool) -> DomParams<<H as Hooks>::DomParams> {
        DomParams {
            credit: if full {
                CreditDomParams {
                    weight: d.weight,
                    cap: d.cap,
                }
            } else {
                CreditDomParams::default()
            },
            policy: <H as SimLayer>::params(d),
        }
    }
    fn change(p: &mut DomParams<<H as Hooks>::DomParams>, c: &DomainChange) {
        if let Some(w) = c.weight {
            p.credit.weight = w;
        }
        if let Some(cap) = c.cap {
            p.credit.cap = cap;
        }
        <H as SimLayer>::change(&mut p.policy, c);
    }
    fn weight(p: &DomParams<<H as Hooks>::DomParams>) -> Option<u16> {
        Some(p.credit.weight)
    }
    fn global(pool: &Pool) -> GlobalParams<<H as Hooks>::GlobalParams> {
        GlobalParams {
            credit: pool.credit_params(),
            policy: <H as SimLayer>::global(pool),
        }
    }
    fn kept_off(sc: &Scenario, d: usize, alive: &dyn Fn(usize) -> bool) -> CpuMask {
        <H as SimLayer>::kept_off(sc, d, alive)
    }
    fn auto_lsvm(sc: &Scenario, dom: &DomData<'_, H>) -> Option<AutoLsvmReport> {
        <H as SimLayer>::auto_lsvm(sc, dom)
    }
    fn runs_unbounded(sc: &Scenario, d: usize) -> bool {
        <H as SimLayer>::runs_unbounded(sc, d)
    }
}

impl SimLayer for Credit1 {
    fn params(_: &Domain) {}
    fn change(_: &mut (), _: &DomainChange) {}
    fn global(_: &Pool) {}
}

impl SimLayer for VSlicer {
    fn params(d: &Domain) -> VSlicerDomParams {
        VSlicerDomParams {
            microslice: d.microslice.unwrap_or(Span::ZERO),
        }
    }
    fn change(p: &mut VSlicerDomParams, c: &DomainChange) {
        if let Some(m) = c.microslice {
            p.microslice = m;
        }
    }
    fn global(pool: &Pool) -> VSlicerGlobalParams {
        VSlicerGlobalParams {
            auto_lsvm: pool.auto_lsvm.unwrap_or(false),
        }
    }
    fn auto_lsvm(sc: &Scenario, dom: &DomData<'_, Self>) -> Option<AutoLsvmReport> {
        if sc.pool.auto_lsvm != Some(true) {
            return None;
        }
        let c = sched_core::vslicer::auto_class(dom)?;
        Some(AutoLsvmReport {
            microslice_ns: c.microslice.as_ns(),
            since_ns: c.since.map(|t| t.ns()),
            changes: c.changes,
            events_per_sec: c.events_per_sec,
            burst_ns: c.burst.as_ns(),
        })
    }
}

impl SimLayer for EdfCredit {
    fn params(d: &Domain) -> EdfDomParams {
        d.edf_params()
    }
    fn change(_: &mut EdfDomParams, _: &DomainChange) {}
    fn global(pool: &Pool) -> EdfGlobalParams {
        pool.edf_params()
    }
    /// §III-B: real-time domains stay off the pCPUs a driver-domain vCPU is
    /// pinned to (a pin of exactly one pCPU).
    fn kept_off(sc: &Scenario, d: usize, alive: &dyn Fn(usize) -> bool) -> CpuMask {
        let mut off = CpuMask::EMPTY;
        let dom = &sc.domains[d];
        if dom.rt.is_none() || dom.driver {
            return off;
        }
        for (e, drv) in sc.domains.iter().enumerate() {
            if let (true, Some(&[cpu])) = (drv.driver && alive(e), drv.pin.as_deref()) {
                if cpu < sc.host.pcpus {
                    off.set(CpuId(cpu));
                }
            }
        }
        off
    }
    /// §III-B: the driver domain runs first and is never preempted, so a
    /// busy one keeps its pCPU.
    fn runs_unbounded(sc: &Scenario, d: usize) -> bool {
        sc.domains[d].driver
    }
}

/// Xen 4.17's own credit1 (`xen-oracle`): weight and cap, and the pool's
/// timeslice, ratelimit and migration delay, as `credit` reads them.
impl SimPolicy for xen_oracle::XenCredit {
    fn dom_params(d: &Domain, full: bool) -> CreditDomParams {
        if full {
            CreditDomParams {
                weight: d.weight,
                cap: d.cap,
            }
        } else {
            CreditDomParams::default()
        }
    }
    fn change(p: &mut CreditDomParams, c: &DomainChange) {
        if let Some(w) = c.weight {
            p.weight = w;
        }
        if let Some(cap) = c.cap {
            p.cap = cap;
        }
    }
    fn weight(p: &CreditDomParams) -> Option<u16> {
        Some(p.weight)
    }
    fn global(pool: &Pool) -> sched_core::CreditGlobalParams {
        pool.credit_params()
    }
    fn kept_off(_: &Scenario, _: usize, _: &dyn Fn(usize) -> bool) -> CpuMask {
        CpuMask::EMPTY
    }
    fn auto_lsvm(_: &Scenario, _: &xen_oracle::Dom) -> Option<AutoLsvmReport> {
        None
    }
    fn runs_unbounded(_: &Scenario, _: usize) -> bool {
        false
    }
}

pub(crate) type Runner = fn(&Scenario, &SimOptions) -> Result<(Report, SimStats), SimError>;

/// The policy table, derived from `sched_core`'s registry: every policy
/// runs here once it implements [`SimPolicy`].
macro_rules! table {
    ([$($t:ty),*] [$($x:ty),*]) => {
        /// The canonical names, in registry order.
        pub(crate) const POLICIES: &[&str] = &[$(<$t as Policy>::INFO.name),*];

        /// Xen's own schedulers, compiled from its source (`xen-oracle`):
        /// run by name, not by `all`.
        pub(crate) const XEN_POLICIES: &[&str] = &[$(<$x as Policy>::INFO.name),*];

        /// The run function of the policy called `name`.
        pub(crate) fn runner(name: &str) -> Option<Runner> {
            $(if name == <$t as Policy>::INFO.name {
                return Some(sim::run::<$t>);
            })*
            $(if name == <$x as Policy>::INFO.name {
                return Some(sim::run::<$x>);
            })*
            None
        }
    };
}

sched_core::with_policies!(table, [xen_oracle::XenCredit]);
