//! The policies the simulator runs, and how a scenario's domain keys become
//! each policy's parameters.

use sched_core::{
    Credit1, EdfCredit, EdfDomParams, EdfGlobalParams, Hooks, Span, VSlicer, VSlicerDomParams,
};

use crate::report::Report;
use crate::scenario::{Change, Domain, Pool, Scenario};
use crate::{sim, SimError, SimOptions, SimStats};

/// A policy as the simulator sees it: `Hooks`, plus its scenario keys.
pub(crate) trait SimPolicy: Hooks {
    /// The layer's parameters of a domain as the scenario declares it.
    fn params(d: &Domain) -> Self::DomParams;
    /// Applies a `[[change]]` to the layer's parameters.
    fn change(p: &mut Self::DomParams, c: &Change);
    /// The layer's pool-wide parameters from `[pool]`.
    fn global(pool: &Pool) -> Self::GlobalParams;
}

impl SimPolicy for Credit1 {
    fn params(_: &Domain) {}
    fn change(_: &mut (), _: &Change) {}
    fn global(_: &Pool) {}
}

impl SimPolicy for VSlicer {
    fn params(d: &Domain) -> VSlicerDomParams {
        VSlicerDomParams {
            microslice: d.microslice.unwrap_or(Span::ZERO),
        }
    }
    fn change(p: &mut VSlicerDomParams, c: &Change) {
        if let Some(m) = c.microslice {
            p.microslice = m;
        }
    }
    fn global(_: &Pool) {}
}

impl SimPolicy for EdfCredit {
    fn params(d: &Domain) -> EdfDomParams {
        d.edf_params()
    }
    fn change(_: &mut EdfDomParams, _: &Change) {}
    fn global(pool: &Pool) -> EdfGlobalParams {
        pool.edf_params()
    }
}

pub(crate) type Runner = fn(&Scenario, &SimOptions) -> Result<(Report, SimStats), SimError>;

/// The policy registry: one line per policy, `"name" => HooksType`.
macro_rules! registry {
    ($($name:literal => $hooks:ty),* $(,)?) => {
        pub(crate) const POLICIES: &[&str] = &[$($name),*];
        pub(crate) fn runner(name: &str) -> Option<Runner> {
            match name {
                $($name => Some(sim::run::<$hooks>),)*
                _ => None,
            }
        }
    };
}

registry! {
    "credit" => Credit1,
    "vslicer" => VSlicer,
    "edf-credit" => EdfCredit,
}
