//! How bytes become each policy's parameters (in bounds and out of them:
//! a refused change must change nothing), and the one placement rule a
//! policy declares that the checker must know about.

use sched_core::{
    Credit1, CreditDomParams, CreditGlobalParams, DomParams, EdfCredit, EdfDomParams,
    EdfGlobalParams, GlobalParams, Hooks, PolicyKind, RtMode, Span, VSlicer, VSlicerDomParams,
    VSlicerGlobalParams,
};

/// What a domain is to the placement rules, as the host set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// No rule applies.
    Plain,
    /// EDF+credit's driver domain: its pinned vCPUs keep real-time domains off their pCPU.
    Driver,
    /// EDF+credit's real-time domain: kept off the driver domain's pinned pCPUs.
    RealTime,
}

/// A policy the harness drives: its parameters from bytes, and what the
/// harness must know of them. The harness is generic over this and names
/// neither the policy's records nor its parameters' fields.
pub trait OpPolicy: PolicyKind {
    /// What a domain is created with (its role; weight and cap at their
    /// defaults: the toolstack sets them once the vCPUs exist), from the
    /// layer's two bytes.
    fn created(b: [u8; 2]) -> Self::DomParams;
    /// `p` with weight and cap from two bytes (possibly out of bounds).
    fn with_weight_cap(p: &Self::DomParams, w: u8, c: u8) -> Self::DomParams;
    /// Pool parameters from five bytes (possibly out of bounds).
    fn global_params(b: [u8; 5]) -> Self::GlobalParams;
    /// The migration delay in force under `p`, ns (the checker excuses a
    /// cache-hot vCPU for that long).
    fn migration_delay(p: &Self::GlobalParams) -> i64;
    /// The domain's role under the policy's declared placement rules.
    fn role_of(p: &Self::DomParams) -> Role;
}

impl<H: OpLayer> OpPolicy for H {
    fn created(b: [u8; 2]) -> DomParams<H::DomParams> {
        DomParams {
            credit: CreditDomParams::default(),
            policy: H::dom_params_from(b),
        }
    }
    fn with_weight_cap(p: &DomParams<H::DomParams>, w: u8, c: u8) -> DomParams<H::DomParams> {
        DomParams {
            credit: credit_dom_params(w, c),
            policy: p.policy,
        }
    }
    fn global_params(b: [u8; 5]) -> GlobalParams<H::GlobalParams> {
        GlobalParams {
            credit: credit_global_params(b[0], b[1], b[2]),
            policy: H::global_params_from([b[3], b[4]]),
        }
    }
    fn migration_delay(p: &GlobalParams<H::GlobalParams>) -> i64 {
        p.credit.migration_delay.as_ns()
    }
    fn role_of(p: &DomParams<H::DomParams>) -> Role {
        H::role(&p.policy)
    }
}

/// A credit layer the harness drives: its own parameters from bytes
/// (credit's weight, cap and timeslices are added by [`OpPolicy`]'s impl).
pub trait OpLayer: Hooks {
    /// The layer's domain parameters (possibly out of bounds).
    fn dom_params_from(b: [u8; 2]) -> Self::DomParams;
    /// The layer's pool parameters (possibly out of bounds).
    fn global_params_from(b: [u8; 2]) -> Self::GlobalParams;
    /// The domain's role under the policy's declared placement rules
    /// (EDF+credit §III-B), from parameters the host set.
    fn role(p: &Self::DomParams) -> Role {
        let _ = p;
        Role::Plain
    }
}

impl OpLayer for Credit1 {
    fn dom_params_from(_: [u8; 2]) {}
    fn global_params_from(_: [u8; 2]) {}
}

impl OpLayer for VSlicer {
    fn dom_params_from(b: [u8; 2]) -> VSlicerDomParams {
        let microslice = match b[0] % 6 {
            0..=2 => Span::ZERO,
            3 => Span::ms(1 + i64::from(b[1] % 30)),
            4 => Span::us(1000 + 100 * i64::from(b[1])),
            // Out of bounds: under 1 ms, over 1 s, or not whole µs.
            _ => [Span::us(999), Span::ms(1001), Span::ns(1_000_001)][usize::from(b[1] % 3)],
        };
        VSlicerDomParams { microslice }
    }
    fn global_params_from(b: [u8; 2]) -> VSlicerGlobalParams {
        VSlicerGlobalParams {
            auto_lsvm: b[0] & 1 == 1,
        }
    }
}

impl OpLayer for EdfCredit {
    fn dom_params_from(b: [u8; 2]) -> EdfDomParams {
        let mode = [RtMode::None, RtMode::Periodic, RtMode::Aperiodic][usize::from(b[0] % 3)];
        let deadline = match (b[0] >> 2) % 8 {
            0 => Span::ZERO,
            1 => Span::us(99),
            2 => Span::us(4_000_001),
            3 => Span::ns(1_500),
            k => Span::ms(i64::from(k) * i64::from(1 + b[1] % 16)),
        };
        let reserve = match (b[0] >> 5) % 4 {
            0 | 1 => Span::ZERO,
            2 => Span::us(100 * i64::from(b[1] % 40)),
            _ => [Span::ns(-1_000), Span::ns(1_000_001)][usize::from(b[1] & 1)],
        };
        EdfDomParams {
            mode,
            deadline,
            reserve,
            driver: b[1] & 0xc0 == 0xc0,
        }
    }
    fn global_params_from(b: [u8; 2]) -> EdfGlobalParams {
        let poll = match b[0] % 4 {
            0 | 1 => Span::us(500),
            2 => Span::us(100 * (1 + i64::from(b[0] >> 2))),
            _ => [Span::us(99), Span::us(100_001), Span::ns(500_500)][usize::from(b[0] >> 2) % 3],
        };
        let edf_slice = match b[1] % 4 {
            0 | 1 => Span::us(500),
            2 => Span::us(100 * (1 + i64::from(b[1] >> 2))),
            _ => [Span::us(99), Span::secs(2), Span::ns(100_100)][usize::from(b[1] >> 2) % 3],
        };
        EdfGlobalParams { poll, edf_slice }
    }
    fn role(p: &EdfDomParams) -> Role {
        if p.driver {
            Role::Driver
        } else if p.mode != RtMode::None {
            Role::RealTime
        } else {
            Role::Plain
        }
    }
}

/// Weight and cap from two bytes: a zero weight or a cap above 100 per
/// vCPU now and then.
fn credit_dom_params(w: u8, c: u8) -> CreditDomParams {
    let weight = match w % 8 {
        0 => 0,
        1 => u16::MAX,
        _ => 1 + 4 * u16::from(w),
    };
    let cap = match c % 4 {
        0 | 1 => 0,
        2 => u16::from(c % 101),
        _ => 2 * u16::from(c),
    };
    CreditDomParams { weight, cap }
}

/// Timeslice, ratelimit and migration delay from three bytes, in and out
/// of Xen's bounds.
fn credit_global_params(t: u8, r: u8, m: u8) -> CreditGlobalParams {
    let tslice = match t % 8 {
        0 => Span::ZERO,
        1 => Span::ms(1001),
        2 => Span::us(1500),
        3 | 4 => Span::ms(30),
        _ => Span::ms(1 + i64::from(t >> 3)),
    };
    let ratelimit = match r % 8 {
        0 | 1 => Span::ZERO,
        2 => Span::us(99),
        3 | 4 => Span::us(1000),
        5 => Span::us(100 * (1 + i64::from(r >> 3))),
        6 => Span::us(500_001),
        _ => Span::ns(1_000_001),
    };
    let migration_delay = match m % 8 {
        0..=4 => Span::ZERO,
        5 => Span::us(1000 * i64::from(m >> 3)),
        6 => Span::us(100_001),
        _ => Span::ns(-1),
    };
    // Not `exact`: Xen's credit1 is not work-conserving, which the
    // harness checks strictly.
    CreditGlobalParams {
        tslice,
        ratelimit,
        migration_delay,
        exact: false,
    }
}
