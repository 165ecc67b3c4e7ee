//! Xen's credit scheduler and the policies built on it, as a `no_std` core.
//!
//! The host owns every record (see [`records`]); the core links them into
//! runqueues, decides, and asks the host for services through [`Platform`].
//! Nothing here allocates, panics on the scheduling path, or uses floating
//! point (Xen does not save FPU state around its own code).
//!
//! Layout, one concern a file:
//! - [`time`], [`cpumask`]: Xen's `s_time_t` and `cpumask_t`.
//! - [`platform`]: what a policy asks of the world.
//! - [`ops`]: what the world asks of a policy (Xen's `struct scheduler`).
//! - [`records`]: host-owned per-vCPU/domain/pCPU data.
//! - [`params`]: tunables and their bounds.
//! - [`hooks`]: where policy layers extend the engine.
//! - [`credit`]: the credit1 engine.
//! - [`vslicer`]: vSlicer's microslicing for latency-sensitive domains.
//! - [`edf`]: EDF+credit's double runqueue for real-time domains.
//! - [`registry`]: the list of policies, once; every host derives its own.
#![no_std]
#![forbid(clippy::float_arithmetic)]
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod cpumask;
pub mod credit;
pub mod edf;
pub mod hooks;
#[allow(unsafe_code)]
mod links;
#[cfg(any(test, feature = "mock"))]
pub mod mock;
pub mod ops;
pub mod params;
pub mod platform;
pub mod records;
pub mod registry;
#[cfg(test)]
mod testworld;
pub mod time;
pub mod vslicer;

pub use cpumask::{CpuId, CpuMask, MAX_CPUS};
pub use credit::{Credit, CreditEngine, Pick};
pub use edf::{EdfCredit, EdfDomParams, EdfGlobalParams, RtMode};
pub use hooks::{Credit1, Hooks, Requeue};
pub use ops::{Decision, NewVcpu, PolicyKind, SchedOps};
pub use params::{CreditDomParams, CreditGlobalParams, DomParams, GlobalParams, ParamError};
pub use platform::{Platform, TimerKind, VcpuToken};
pub use records::{Affinity, DomData, DomId, PcpuData, Pri, VcpuData, VcpuFlags};
pub use registry::{Policy, PolicyInfo, POLICIES};
pub use time::{Span, Time};
pub use vslicer::{VSlicer, VSlicerDomParams, VSlicerGlobalParams};
