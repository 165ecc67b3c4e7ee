//! Tunables with Xen's bounds, and the errors for values outside them.
//!
//! Bounds come from `xen/include/public/sysctl.h:625-638` and libxl's checks
//! (`libxl_sched.c:215-351`); Xen's own `csched_dom_cntl` does no range checks,
//! so the toolstack's are applied here, in the one place every caller shares.
//! A rejected call changes nothing.

use core::fmt;

use crate::time::Span;

/// Default domain weight (`CSCHED_DEFAULT_WEIGHT`).
pub const DEFAULT_WEIGHT: u16 = 256;
/// Default timeslice (`CSCHED_DEFAULT_TSLICE_MS`).
pub const DEFAULT_TSLICE: Span = Span::ms(30);
/// Default ratelimit (`SCHED_DEFAULT_RATELIMIT_US`).
pub const DEFAULT_RATELIMIT: Span = Span::us(1000);
/// Timeslice bounds (`XEN_SYSCTL_CSCHED_TSLICE_MIN/MAX`).
pub const TSLICE_MIN: Span = Span::ms(1);
/// Upper timeslice bound.
pub const TSLICE_MAX: Span = Span::ms(1000);
/// Ratelimit bounds when not 0 (`XEN_SYSCTL_SCHED_RATELIMIT_MIN/MAX`).
pub const RATELIMIT_MIN: Span = Span::us(100);
/// Upper ratelimit bound.
pub const RATELIMIT_MAX: Span = Span::us(500_000);
/// Upper bound on the cache-hot migration delay (`XEN_SYSCTL_CSCHED_MGR_DLY_MAX_US`).
pub const MIGR_DELAY_MAX: Span = Span::us(100_000);
/// Credits earned per millisecond of CPU (`CSCHED_CREDITS_PER_MSEC`).
pub const CREDITS_PER_MSEC: i64 = 10;
/// Ticks per timeslice (`CSCHED_TICKS_PER_TSLICE`).
pub const TICKS_PER_TSLICE: i64 = 3;
/// The shortest timer credit1 arms (`CSCHED_MIN_TIMER`, 100 used as ns).
pub const MIN_TIMER: Span = Span::ns(100);

/// vSlicer microslice bounds when not 0: the timeslice bounds, because a
/// microslice is a timeslice (Xen refuses a timeslice outside 1..=1000 ms,
/// and under the default 1 ms ratelimit a shorter one could not be honoured).
pub const MICROSLICE_MIN: Span = TSLICE_MIN;
/// Upper microslice bound.
pub const MICROSLICE_MAX: Span = TSLICE_MAX;

/// Why a parameter change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamError {
    /// Weight outside 1..=65535.
    Weight,
    /// Cap above 100 × the domain's vCPUs.
    Cap {
        /// The largest cap the domain accepts.
        max: u32,
    },
    /// Timeslice outside 1..=1000 ms.
    Tslice,
    /// Ratelimit not 0 and outside 100 µs..=500 ms.
    Ratelimit,
    /// Ratelimit longer than the timeslice.
    RatelimitAboveTslice,
    /// Migration delay above 100 ms or negative.
    MigrationDelay,
    /// Microslice not 0 and outside 1..=1000 ms, or not whole microseconds.
    Microslice,
    /// Deadline outside 100 µs..=4 s or not whole µs, or missing for a
    /// real-time domain.
    Deadline,
    /// Credit reserve negative, above the timeslice, or not whole µs.
    Reserve,
    /// The driver domain cannot also be a real-time domain.
    DriverRealtime,
    /// The driver role is fixed once the domain has vCPUs.
    DriverFixed,
    /// EDF poll period outside 100 µs..=100 ms or not whole µs.
    PollPeriod,
    /// EDF slice outside 100 µs..=the timeslice or not whole µs.
    EdfSlice,
    /// The real-time vCPUs would demand more than the pCPUs they may use.
    Infeasible {
        /// Their demand, in thousandths of a pCPU.
        demand_per_mille: u32,
        /// pCPUs real-time domains may use.
        capacity: u32,
    },
    /// `exact` asked of a policy other than credit.
    ExactCreditOnly,
    /// The domain or vCPU is not known to this scheduler.
    Unknown,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::Weight => write!(f, "weight must be 1..65535"),
            ParamError::Cap { max } => write!(f, "cap must be 0..{max} (100 per vCPU; 0 = none)"),
            ParamError::Tslice => write!(f, "tslice must be 1..1000 ms"),
            ParamError::Ratelimit => write!(f, "ratelimit must be 0 or 100..500000 us"),
            ParamError::RatelimitAboveTslice => write!(f, "ratelimit must not exceed tslice"),
            ParamError::MigrationDelay => write!(f, "migration delay must be 0..100000 us"),
            ParamError::Microslice => write!(
                f,
                "microslice must be 0 (not latency-sensitive) or 1..1000 ms in whole microseconds"
            ),
            ParamError::Deadline => write!(
                f,
                "deadline must be 100us..4s in whole microseconds (and set for a real-time domain)"
            ),
            ParamError::Reserve => write!(
                f,
                "reserve must be 0..the timeslice in whole microseconds"
            ),
            ParamError::DriverRealtime => {
                write!(f, "the driver domain cannot also be real-time")
            }
            ParamError::DriverFixed => write!(
                f,
                "the driver role can only change before the domain has vCPUs"
            ),
            ParamError::PollPeriod => {
                write!(f, "poll period must be 100us..100ms in whole microseconds")
            }
            ParamError::EdfSlice => write!(
                f,
                "EDF slice must be 100us..the timeslice in whole microseconds"
            ),
            ParamError::Infeasible {
                demand_per_mille,
                capacity,
            } => write!(
                f,
                "infeasible: real-time vCPUs would need {}.{:03} pCPUs (EDF slice / deadline each), only {capacity} available to them",
                demand_per_mille / 1000,
                demand_per_mille % 1000
            ),
            ParamError::ExactCreditOnly => write!(
                f,
                "exact (Xen's credit1 without departures) applies to credit only"
            ),
            ParamError::Unknown => write!(f, "no such domain or vCPU"),
        }
    }
}

/// Per-domain credit parameters (Xen: `struct xen_domctl_sched_credit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditDomParams {
    /// Relative CPU share, 1..=65535.
    pub weight: u16,
    /// Percent of one pCPU the domain may use at most; 0 = no cap.
    pub cap: u16,
}

impl Default for CreditDomParams {
    fn default() -> Self {
        CreditDomParams {
            weight: DEFAULT_WEIGHT,
            cap: 0,
        }
    }
}

impl CreditDomParams {
    /// Checks the values for a domain with `nr_vcpus` vCPUs.
    pub fn validate(&self, nr_vcpus: u16) -> Result<(), ParamError> {
        if self.weight == 0 {
            return Err(ParamError::Weight);
        }
        let max = 100 * u32::from(nr_vcpus.max(1));
        if u32::from(self.cap) > max {
            return Err(ParamError::Cap { max });
        }
        Ok(())
    }
}

/// A domain's parameters under a policy layer: credit's weight and cap, and
/// the layer's own (`()` for plain credit1). One value so that a change to
/// both is validated as a whole and applied all or nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomParams<X> {
    /// Weight and cap.
    pub credit: CreditDomParams,
    /// The policy layer's parameters.
    pub policy: X,
}

impl<X: Default> From<CreditDomParams> for DomParams<X> {
    fn from(credit: CreditDomParams) -> Self {
        DomParams {
            credit,
            policy: X::default(),
        }
    }
}

/// Pool-wide parameters under a policy layer: credit's, and the layer's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalParams<X> {
    /// Timeslice, ratelimit, migration delay.
    pub credit: CreditGlobalParams,
    /// The policy layer's parameters.
    pub policy: X,
}

impl<X: Default> From<CreditGlobalParams> for GlobalParams<X> {
    fn from(credit: CreditGlobalParams) -> Self {
        GlobalParams {
            credit,
            policy: X::default(),
        }
    }
}

/// Pool-wide credit parameters (Xen: `struct xen_sysctl_credit_schedule`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditGlobalParams {
    /// The timeslice, which is also the accounting period.
    pub tslice: Span,
    /// Minimum run time before a preemption; 0 = off.
    pub ratelimit: Span,
    /// A vCPU descheduled less than this ago is cache-hot and not stolen.
    pub migration_delay: Span,
    /// Behave exactly as Xen 4.17's credit1: every declared departure off
    /// (README, "Departures") and one runqueue list in Xen's order instead
    /// of per-priority bands. For comparing with Xen's own `credit.c`
    /// (`xen-credit`); credit only (a layer's own decisions are departures
    /// by nature).
    pub exact: bool,
}

impl Default for CreditGlobalParams {
    fn default() -> Self {
        CreditGlobalParams {
            tslice: DEFAULT_TSLICE,
            ratelimit: DEFAULT_RATELIMIT,
            migration_delay: Span::ZERO,
            exact: false,
        }
    }
}

impl CreditGlobalParams {
    /// Checks Xen's bounds. The timeslice must be whole milliseconds and the
    /// ratelimit whole microseconds, as the sysctl carries them.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.tslice < TSLICE_MIN
            || self.tslice > TSLICE_MAX
            || self.tslice.as_ns() % 1_000_000 != 0
        {
            return Err(ParamError::Tslice);
        }
        let r = self.ratelimit;
        if r != Span::ZERO && (r < RATELIMIT_MIN || r > RATELIMIT_MAX || r.as_ns() % 1_000 != 0) {
            return Err(ParamError::Ratelimit);
        }
        if r > self.tslice {
            return Err(ParamError::RatelimitAboveTslice);
        }
        if self.migration_delay < Span::ZERO || self.migration_delay > MIGR_DELAY_MAX {
            return Err(ParamError::MigrationDelay);
        }
        Ok(())
    }

    /// Derived per-period constants (`csched_sys_cntl`/`init`: `credit.c:1240-1250`).
    pub(crate) fn derived(&self) -> Derived {
        let tslice_ms = self.tslice.as_ms().max(1);
        let ticks = if tslice_ms < TICKS_PER_TSLICE {
            1
        } else {
            TICKS_PER_TSLICE
        };
        Derived {
            tick: Span::us(tslice_ms * 1000 / ticks),
            credits_per_tslice: (CREDITS_PER_MSEC * tslice_ms) as i32,
        }
    }
}

/// Constants that follow from the global parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Derived {
    pub(crate) tick: Span,
    pub(crate) credits_per_tslice: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xen_bounds() {
        let ok = CreditGlobalParams::default();
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(
            ok.derived(),
            Derived {
                tick: Span::ms(10),
                credits_per_tslice: 300
            }
        );
        let two = CreditGlobalParams {
            tslice: Span::ms(2),
            ratelimit: Span::ZERO,
            ..ok
        };
        assert_eq!(
            two.derived().tick,
            Span::ms(2),
            "tslice < 3 ms uses one tick per slice"
        );
        for (p, e) in [
            (
                CreditGlobalParams {
                    tslice: Span::ms(0),
                    ..ok
                },
                ParamError::Tslice,
            ),
            (
                CreditGlobalParams {
                    tslice: Span::ms(1001),
                    ..ok
                },
                ParamError::Tslice,
            ),
            (
                CreditGlobalParams {
                    ratelimit: Span::us(99),
                    ..ok
                },
                ParamError::Ratelimit,
            ),
            (
                CreditGlobalParams {
                    tslice: Span::ms(1),
                    ratelimit: Span::ms(2),
                    ..ok
                },
                ParamError::RatelimitAboveTslice,
            ),
            (
                CreditGlobalParams {
                    migration_delay: Span::ms(101),
                    ..ok
                },
                ParamError::MigrationDelay,
            ),
        ] {
            assert_eq!(p.validate(), Err(e), "{p:?}");
        }
        assert_eq!(
            CreditGlobalParams {
                ratelimit: Span::ZERO,
                ..ok
            }
            .validate(),
            Ok(())
        );
    }

    #[test]
    fn domain_bounds() {
        assert_eq!(
            CreditDomParams { weight: 0, cap: 0 }.validate(1),
            Err(ParamError::Weight)
        );
        assert_eq!(
            CreditDomParams {
                weight: 1,
                cap: 201
            }
            .validate(2),
            Err(ParamError::Cap { max: 200 })
        );
        assert_eq!(
            CreditDomParams {
                weight: 65535,
                cap: 200
            }
            .validate(2),
            Ok(())
        );
    }
}
