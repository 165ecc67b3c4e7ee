//! `sched-sim`: a deterministic discrete-event simulator that drives the
//! `sched-core` policies through the very trait Xen's glue uses.
//!
//! Same input, same output, bit for bit: events are ordered by (time,
//! sequence number), nothing depends on hash-map order, and every random
//! stream is a seeded SplitMix64.
//!
//! Files, one concern each:
//! - [`scenario`]: the TOML scenario contract (`scenario/`: the model, the
//!   file layer, conversion with file:line errors, validation);
//! - `workload`: the guest models (`cpu`, `ping`, `periodic`);
//! - `metrics`: what is measured per domain, and the sample log;
//! - `hist`: a distribution's HDR histogram in the memory its data needs;
//! - `net`: the shaper pass over what the guests sent (flows, jitter, rates);
//! - [`report`]: the JSON report contract;
//! - `platform`: the simulated `Platform` (clock, events, timers, requests);
//! - `sim`: the event loop speaking Xen's scheduler protocol (`sim/`: the
//!   loop, the invariant checker, changes, the report, the trace records);
//! - `policy`: the policy registry and how scenario keys become parameters;
//! - this file: the public entry points and the policy registry.
//!
//! ```no_run
//! let sc = sched_sim::Scenario::from_file("scenarios/four-vms-one-pinged.toml").unwrap();
//! let report = sched_sim::simulate(&sc, "credit", &Default::default()).unwrap();
//! println!("{}", serde_json::to_string(&report).unwrap());
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod hist;
mod metrics;
mod net;
mod platform;
mod policy;
mod queue;
pub mod report;
mod rng;

pub use policy::SimPolicy;
pub use rng::SplitMix64;
pub mod scenario;
mod sim;
mod workload;

use std::fmt;

pub use sched_core::edf::{admit as edf_admit, demand_rate as edf_demand_rate};
pub use sched_core::vslicer::round_lengths;
pub use sched_core::{CreditDomParams, CreditGlobalParams, ParamError, Span, VSlicerDomParams};
pub use sched_core::{EdfDomParams, RtMode as EdfMode};

pub use report::{
    AutoLsvmReport, Dist, DomainReport, FlowReport, NetReport, PcpuReport, Report, WindowSample,
};
pub use scenario::{
    Arrival, Change, ChangeKind, Domain, DomainChange, Flow, Host, Net, Pool, Rt, RtMode, Scenario,
    ScenarioError, ShaperKind, Workload,
};

/// Overrides and checks for one run.
#[derive(Clone, Debug, Default)]
pub struct SimOptions {
    /// Replaces the scenario's seed.
    pub seed: Option<u64>,
    /// Replaces the scenario's duration.
    pub duration: Option<Span>,
    /// Check the scheduler invariants at every quiescent instant (slower);
    /// violations are returned in [`SimStats::violations`].
    pub check_invariants: bool,
    /// Record what ran where and when in [`SimStats::trace`].
    pub trace: bool,
    /// Keep every response-latency sample in [`SimStats::latencies`] (in
    /// memory: for plots and short runs).
    pub samples: bool,
    /// Also write every sample (response latency, scheduling latency,
    /// runqueue wait) to this file as CSV rows `domain,kind,at_ns,value_ns`,
    /// streamed as they are taken (memory stays bounded).
    pub samples_csv: Option<std::path::PathBuf>,
    /// Also count each domain's CPU time per window of this length, in
    /// [`SimStats::windows`] (long runs: shares over time, in bounded memory).
    pub window: Option<Span>,
    /// Check the invariants at the end of each window only (long runs, where
    /// checking at every instant would cost more than the run).
    pub check_at_windows: bool,
    /// Keep the scheduler's own dump (`dump_settings`, then `dump_cpu_state`
    /// of that pCPU) after every decision and every scheduler timer in
    /// `[from, to]` ns, in [`SimStats::dumps`]: the queue states behind a
    /// difference.
    pub dumps: Option<(i64, i64)>,
}

/// The CPU time domains got in one window ([`SimOptions::window`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowCpu {
    /// When the window ended, ns.
    pub end_ns: i64,
    /// `(domain index, CPU ns)` for the domains that ran in it.
    pub cpu: Vec<(u16, i64)>,
}

/// One stretch of a vCPU running on a pCPU (with [`SimOptions::trace`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceRun {
    /// The pCPU.
    pub cpu: u16,
    /// The domain's index in the scenario.
    pub domain: u16,
    /// The vCPU's index in its domain.
    pub vcpu: u16,
    /// When it was switched in, ns.
    pub start_ns: i64,
    /// When it was switched out (or the run ended), ns.
    pub end_ns: i64,
}

/// A vCPU in a [`TraceEvent`]: (domain index in the scenario, vCPU index).
pub type TraceVcpu = (u16, u16);

/// One scheduling event of the host (with [`SimOptions::trace`]): what a
/// trace in Xen's own format (`xentrace`) needs beyond [`TraceRun`], namely
/// every decision, wake and sleep, and how a vCPU left its pCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// When, ns.
    pub at_ns: i64,
    /// What.
    pub kind: TraceKind,
}

/// What a [`TraceEvent`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceKind {
    /// `do_schedule` on `cpu` (`None` = the idle vCPU). `prev == next`: it
    /// kept running.
    Schedule {
        /// The pCPU.
        cpu: u16,
        /// What ran before.
        prev: Option<TraceVcpu>,
        /// What runs now.
        next: Option<TraceVcpu>,
        /// How `prev` left, when it was switched out.
        left: Left,
        /// The host asked for the idle vCPU (Xen's tasklet work).
        tasklet: bool,
        /// The slice the scheduler gave, ns (-1: none).
        slice_ns: i64,
    },
    /// Woken (blocked or offline before) onto `cpu`'s runqueue.
    Wake {
        /// The vCPU.
        vcpu: TraceVcpu,
        /// Where it was placed.
        cpu: u16,
    },
    /// A queued vCPU put to sleep (paused, stopping).
    Sleep {
        /// The vCPU.
        vcpu: TraceVcpu,
        /// Where it was queued.
        cpu: u16,
    },
    /// The host asked the scheduler where the vCPU goes (`pick_resource`).
    Picked {
        /// The vCPU.
        vcpu: TraceVcpu,
        /// The answer.
        cpu: u16,
    },
    /// The vCPU left the scheduler for good (its domain stopped).
    Removed {
        /// The vCPU.
        vcpu: TraceVcpu,
    },
}

/// The state a switched-out vCPU is left in (Xen's runstates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Left {
    /// Still runnable: preempted, back on a runqueue.
    Runnable,
    /// Nothing to do: waits for an event.
    Blocked,
    /// Paused, stopping or being migrated.
    Offline,
}

/// Counters of one run, for benchmarks and property tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// `do_schedule` calls.
    pub decisions: u64,
    /// Events handled (stale timer and completion events included).
    pub events: u64,
    /// Invariant violations found (only with `check_invariants`).
    pub violation_count: u64,
    /// The first few violations, described.
    pub violations: Vec<String>,
    /// Who ran where and when, in switch-out order (only with `trace`).
    pub trace: Vec<TraceRun>,
    /// Every scheduling event, in order (only with `trace`).
    pub sched_events: Vec<TraceEvent>,
    /// Per domain, response-latency samples in ns, in completion order
    /// (only with `samples`).
    pub latencies: Vec<Vec<i64>>,
    /// When each of those responses completed, ns (only with `samples`).
    pub latency_at: Vec<Vec<i64>>,
    /// Each whole window's CPU time per domain (only with `window`).
    pub windows: Vec<WindowCpu>,
    /// `(ns, pCPU, text)` per decision or timer in [`SimOptions::dumps`]' window.
    pub dumps: Vec<(i64, u16, String)>,
}

/// Why a run did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    /// No policy of that name.
    UnknownPolicy {
        /// The name asked for.
        name: String,
    },
    /// The scenario is not acceptable (a code-built one failing validation,
    /// or parameters the scheduler refused).
    BadInput {
        /// The field path, such as `domain[1].cap`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// An output file could not be written.
    Output {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        message: String,
    },
    /// The simulator or the scheduler misbehaved.
    Internal(String),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::UnknownPolicy { name } => {
                write!(f, "unknown policy {name:?}; known: {}", known_policies())
            }
            SimError::BadInput { field, message } => write!(f, "{field}: {message}"),
            SimError::Output { path, message } => write!(f, "{}: {message}", path.display()),
            SimError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for SimError {}

/// The names of this project's policies (what `all` means).
pub fn policies() -> &'static [&'static str] {
    policy::POLICIES
}

/// The names of Xen 4.17's own schedulers the simulator runs from Xen's
/// source (`xen-oracle`), beside ours when asked for by name.
pub fn xen_policies() -> &'static [&'static str] {
    policy::XEN_POLICIES
}

/// Whether `name` is a policy the simulator can run (ours or Xen's).
pub fn is_policy(name: &str) -> bool {
    policies().contains(&name) || xen_policies().contains(&name)
}

/// "credit, vslicer, edf-credit; Xen's own: xen-credit": for errors.
pub fn known_policies() -> String {
    format!(
        "{}; Xen's own: {}",
        policies().join(", "),
        xen_policies().join(", ")
    )
}

/// Runs `scenario` under `policy` and reports.
pub fn simulate(scenario: &Scenario, policy: &str, opts: &SimOptions) -> Result<Report, SimError> {
    simulate_with_stats(scenario, policy, opts).map(|(r, _)| r)
}

/// [`simulate`], also returning counters and invariant violations.
pub fn simulate_with_stats(
    scenario: &Scenario,
    policy: &str,
    opts: &SimOptions,
) -> Result<(Report, SimStats), SimError> {
    let run = policy::runner(policy).ok_or_else(|| SimError::UnknownPolicy {
        name: policy.to_string(),
    })?;
    if xen_policies().contains(&policy) && !xen_oracle::AVAILABLE {
        return Err(SimError::BadInput {
            field: "policy".into(),
            message: format!("{policy}: {}", xen_oracle::missing()),
        });
    }
    scenario.validate().map_err(|e| SimError::BadInput {
        field: e.field,
        message: e.message,
    })?;
    run(scenario, opts)
}

/// [`simulate_with_stats`] under a policy of the caller's that is not in
/// the registry (a test's, or one wrapping foreign code): anything that
/// implements [`SimPolicy`] runs here exactly as the registry's do.
pub fn simulate_kind<K: SimPolicy>(
    scenario: &Scenario,
    opts: &SimOptions,
) -> Result<(Report, SimStats), SimError> {
    scenario.validate().map_err(|e| SimError::BadInput {
        field: e.field,
        message: e.message,
    })?;
    sim::run::<K>(scenario, opts)
}
