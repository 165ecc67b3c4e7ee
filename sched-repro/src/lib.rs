//! The papers' experiments, as code: scenarios built to each figure's setup,
//! run on the simulator, and the paper's claims checked against what we
//! measure, each with its tolerance stated beside it.
//!
//! Results are plain data ([`Repro`]): the cross-crate tests assert that every
//! [`Check`] passes, and `vsched repro` prints the tables and draws the CDFs.
//! Nothing here prints or writes files. A crate of its own: the simulator
//! knows nothing of the papers, and the papers only use its public API.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod auto_lsvm;
pub mod edf;
pub mod shaper;
pub mod vslicer;

use sched_core::{Credit1, EdfCredit, Policy, Span, VSlicer};

use sched_sim::scenario::{Domain, Host, Scenario, Workload};
use sched_sim::{simulate_with_stats, Report, SimError, SimOptions, SimStats, TraceRun};

/// One claim of a paper, reproduced.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// Which figure (or section) the claim comes from.
    pub figure: String,
    /// What is claimed.
    pub claim: String,
    /// The paper's number or behaviour.
    pub paper: String,
    /// Ours.
    pub ours: String,
    /// How far ours may be from the paper's and still count.
    pub tolerance: String,
    /// Whether ours is within it.
    pub pass: bool,
}

/// Measured values, as a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// What the table shows.
    pub title: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Rows of cells, as many as columns.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with its title and column headings.
    pub fn new(title: impl Into<String>, columns: &[&str]) -> Table {
        Table {
            title: title.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }
}

/// One configuration's latency samples, for a CDF.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// Legend label.
    pub label: String,
    /// Samples, ns.
    pub samples_ns: Vec<i64>,
}

/// A CDF plot: several configurations of one experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct Cdf {
    /// File-name-safe id (`fig7-4vms`).
    pub id: String,
    /// Plot title.
    pub title: String,
    /// One curve per configuration.
    pub curves: Vec<Curve>,
}

/// A line plot: curves of `(x, y)` points.
#[derive(Clone, Debug, PartialEq)]
pub struct Lines {
    /// File-name-safe id.
    pub id: String,
    /// Plot title.
    pub title: String,
    /// X axis label.
    pub x: String,
    /// Y axis label.
    pub y: String,
    /// `(label, points)` per curve.
    pub curves: Vec<(String, Vec<(f64, f64)>)>,
}

/// Everything one paper's reproduction produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Repro {
    /// The paper, as cited.
    pub paper: String,
    /// Measured values.
    pub tables: Vec<Table>,
    /// The claims and how they fared.
    pub checks: Vec<Check>,
    /// Latency CDFs.
    pub cdfs: Vec<Cdf>,
    /// Other plots.
    pub lines: Vec<Lines>,
}

impl Repro {
    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.pass)
    }

    /// The failed claims, one line each with paper, ours and tolerance;
    /// `None` when every claim holds.
    pub fn failure_report(&self) -> Option<String> {
        let lines: Vec<String> = self
            .failures()
            .map(|c| {
                format!(
                    "{} {}: paper {}, ours {} (tolerance {})",
                    c.figure, c.claim, c.paper, c.ours, c.tolerance
                )
            })
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

/// Knobs shared by every reproduction.
#[derive(Clone, Copy, Debug)]
pub struct ReproOptions {
    /// Seeds every run.
    pub seed: u64,
    /// Simulated time of each latency experiment.
    pub duration: Span,
}

impl Default for ReproOptions {
    fn default() -> Self {
        ReproOptions {
            seed: 1,
            duration: Span::secs(60),
        }
    }
}

/// One pCPU, 5 µs per switch, no cache model: the papers' single shared core.
pub(crate) fn one_core(name: &str, duration: Span, seed: u64, domains: Vec<Domain>) -> Scenario {
    Scenario::new(name, duration, seed, Host::new(1, Span::us(5)), domains)
}

/// A CPU-bound domain (always runnable).
pub(crate) fn busy(name: &str) -> Domain {
    let mut d = Domain::new(name);
    d.workloads.push(Workload::Cpu {
        load: 1.0,
        period: Span::ms(100),
    });
    d
}

/// The policies' names, from the registry.
pub(crate) const CREDIT: &str = Credit1::INFO.name;
pub(crate) const VSLICER: &str = VSlicer::INFO.name;
pub(crate) const EDF_CREDIT: &str = EdfCredit::INFO.name;

/// One run, with the trace and latency samples kept.
pub(crate) fn run(sc: &Scenario, policy: &str) -> Result<(Report, SimStats), SimError> {
    let opts = SimOptions {
        trace: true,
        samples: true,
        ..SimOptions::default()
    };
    simulate_with_stats(sc, policy, &opts)
}

/// The runs of pCPU 0 that start at or after `from`, in time order.
pub(crate) fn runs_from(stats: &SimStats, from: Span) -> Vec<TraceRun> {
    let mut v: Vec<TraceRun> = stats
        .trace
        .iter()
        .filter(|t| t.cpu == 0 && t.start_ns >= from.as_ns())
        .copied()
        .collect();
    v.sort_by_key(|t| t.start_ns);
    v
}

/// The shortest and longest gaps between two consecutive runs of `domain`.
pub(crate) fn gaps(runs: &[TraceRun], domain: u16) -> (Span, Span) {
    let mine: Vec<&TraceRun> = runs.iter().filter(|t| t.domain == domain).collect();
    let gaps = mine.windows(2).map(|w| w[1].start_ns - w[0].end_ns);
    let (lo, hi) = gaps.fold((i64::MAX, 0), |(lo, hi), g| (lo.min(g), hi.max(g)));
    (Span(lo.min(hi)), Span(hi))
}

/// Milliseconds with two decimals.
pub(crate) fn ms(ns: impl Into<i128>) -> String {
    let ns: i128 = ns.into();
    format!("{:.2}", ns as f64 / 1e6)
}

/// A check from its parts.
pub(crate) fn check(
    figure: &str,
    claim: impl Into<String>,
    paper: impl Into<String>,
    ours: impl Into<String>,
    tolerance: impl Into<String>,
    pass: bool,
) -> Check {
    Check {
        figure: figure.to_string(),
        claim: claim.into(),
        paper: paper.into(),
        ours: ours.into(),
        tolerance: tolerance.into(),
        pass,
    }
}
