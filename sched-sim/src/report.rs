//! The JSON report: the contract of `DESIGN.md` ("Contracts").
//!
//! Field names and order are the contract; external tools and tests parse
//! them, so these structs are both `Serialize` and `Deserialize`. Integers are
//! nanoseconds. A field that does not apply to a domain is present with count 0.

use serde::{Deserialize, Serialize};

/// One policy run of one scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The scenario's `name`.
    pub scenario: String,
    /// The policy that ran.
    pub policy: String,
    /// Simulated time.
    pub duration_ns: i64,
    /// Per domain, in scenario order.
    pub domains: Vec<DomainReport>,
    /// Per pCPU, by id.
    pub pcpus: Vec<PcpuReport>,
    /// The largest relative error of a percentile in a [`Dist`] (above
    /// the exact sample, never below): 1/128.
    #[serde(default)]
    pub percentile_error: f64,
}

/// What one domain got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DomainReport {
    /// The domain's name.
    pub name: String,
    /// `cpu_ns / (pcpus × duration)`.
    pub cpu_share: f64,
    /// pCPU time its vCPUs held, switch overheads included.
    pub cpu_ns: i64,
    /// The part of `cpu_ns` its guests made progress in: without the
    /// context-switch and cache-refill time (its throughput).
    pub work_ns: i64,
    /// Times one of its vCPUs was switched in.
    pub switches: u64,
    /// Times one of its vCPUs moved pCPU (stolen, or moved by a migrate request).
    pub migrations: u64,
    /// Response latency: ping reply − arrival and periodic completion − release.
    pub latency: Dist,
    /// Scheduling latency: `wake()` to running.
    pub sched_latency: Dist,
    /// Runqueue wait: joining a runqueue (woken, or preempted while still
    /// runnable) to running.
    pub wait: Dist,
    /// Mean absolute difference of consecutive response latencies.
    pub jitter_ns: u64,
    /// Periodic works not done by the next release, and stream batches
    /// answered after their deadline.
    pub deadline_misses: u64,
    /// Stream batches lost to a full buffer.
    pub lost: u64,
    /// Requests (pings, HTTP requests, periodic releases, stream batches)
    /// released but still unanswered when the run or the domain ended: not
    /// in `latency`, whose samples are answered requests only.
    #[serde(default)]
    pub unanswered: u64,
    /// How long the oldest of them had waited by then: a lower bound on its
    /// latency (censored at the end), 0 when none is unanswered.
    #[serde(default)]
    pub unanswered_max_ns: i64,
    /// What its shaper did, when it has a `net` limit (else null).
    #[serde(default)]
    pub net: Option<NetReport>,
    /// What vSlicer's automatic LSVM detection decided, in a pool with
    /// `auto_lsvm` for a domain without an explicit microslice (else null).
    #[serde(default)]
    pub auto_lsvm: Option<AutoLsvmReport>,
}

/// Automatic LSVM detection's verdict on a domain at the end of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoLsvmReport {
    /// The microslice it gave the domain; 0: an NLSVM.
    pub microslice_ns: i64,
    /// When the domain last changed class (null: never).
    pub since_ns: Option<i64>,
    /// Times it changed class.
    pub changes: u32,
    /// Events per second in the last window it measured.
    pub events_per_sec: u64,
    /// Mean run burst in that window.
    pub burst_ns: i64,
}

/// A shaped domain's network (see `net.rs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetReport {
    /// `token-bucket` or `smooth-window`.
    pub shaper: String,
    /// The allocation, bits per second.
    pub limit_bps: u64,
    /// Per flow, in the order of `flows`.
    pub flows: Vec<FlowReport>,
    /// The smooth window at each adjust interval (empty for the bucket).
    pub window: Vec<WindowSample>,
}

/// One flow's packets through the shaper.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowReport {
    /// `cbr`, `http` or `bulk`.
    pub kind: String,
    /// Packets sent (≤ 1460 bytes each).
    pub packets: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Achieved rate over the domain's lifetime, bits per second.
    pub rate_bps: u64,
    /// Time each packet spent in the shaper.
    pub delay: Dist,
    /// RFC 3550 interarrival jitter of those delays, averaged over the flow.
    pub jitter_ns: u64,
}

/// The smooth window's position at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSample {
    /// When.
    pub at_ns: i64,
    /// The window's low end.
    pub d_min_ns: i64,
    /// Its high end.
    pub d_max_ns: i64,
}

/// A latency distribution. `count`, `mean_ns`, `min_ns` and `max_ns` are
/// exact; the percentiles are nearest-rank, taken from an HDR histogram of
/// 2 significant digits: each is at most 1/128 (0.78 %) above the exact
/// sample, never below it (values under 256 ns are exact).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dist {
    /// Samples.
    pub count: u64,
    /// Integer mean.
    pub mean_ns: u64,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest sample.
    pub max_ns: u64,
    /// Smallest sample.
    #[serde(default)]
    pub min_ns: u64,
}

/// What one pCPU did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PcpuReport {
    /// pCPU id.
    pub id: u16,
    /// Fraction of the run spent running a guest (switch overheads included).
    pub busy: f64,
    /// Times a vCPU was switched in on it.
    pub switches: u64,
}
