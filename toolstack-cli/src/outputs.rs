//! What `vsched simulate` can write besides its table: CSV rows, a
//! Chrome/Perfetto trace of who ran where, the same run as Xen's `xentrace`
//! would have recorded it (`xentrace.rs`), and SVG plots. Files are written
//! whole (a temporary file renamed into place), so a reader never sees half.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sched_repro::{Cdf, Curve};
use sched_sim::{Dist, Report, Scenario, SimStats};

use crate::{plot, Failure};

pub(crate) mod xentrace;

/// Writes `contents` to `path` through a temporary file beside it.
pub(crate) fn write_whole(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), Failure> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let r = std::fs::write(&tmp, contents).and_then(|_| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.map_err(|e| Failure::BadInput(format!("{}: cannot write: {e}", path.display())))
}

const DIST_COLS: [&str; 7] = [
    "count", "mean_ns", "p50_ns", "p99_ns", "p999_ns", "max_ns", "min_ns",
];

fn dist(out: &mut String, d: &Dist) {
    for v in [
        d.count, d.mean_ns, d.p50_ns, d.p99_ns, d.p999_ns, d.max_ns, d.min_ns,
    ] {
        let _ = write!(out, ",{v}");
    }
}

/// One row per policy and domain: the JSON report's fields, flattened.
pub(crate) fn csv(reports: &[Report]) -> String {
    let mut s = String::from("scenario,policy,domain,cpu_share,cpu_ns,work_ns,switches,migrations");
    for prefix in ["latency", "sched_latency", "wait"] {
        for c in DIST_COLS {
            let _ = write!(s, ",{prefix}_{c}");
        }
    }
    s.push_str(",jitter_ns,deadline_misses,lost,unanswered,unanswered_max_ns\n");
    for r in reports {
        for d in &r.domains {
            let _ = write!(
                s,
                "{},{},{},{},{},{},{},{}",
                csv_field(&r.scenario),
                r.policy,
                csv_field(&d.name),
                d.cpu_share,
                d.cpu_ns,
                d.work_ns,
                d.switches,
                d.migrations
            );
            for x in [&d.latency, &d.sched_latency, &d.wait] {
                dist(&mut s, x);
            }
            let _ = writeln!(
                s,
                ",{},{},{},{},{}",
                d.jitter_ns, d.deadline_misses, d.lost, d.unanswered, d.unanswered_max_ns
            );
        }
    }
    s
}

/// RFC 4180 quoting when needed.
fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// A Chrome trace-event JSON (ui.perfetto.dev, chrome://tracing): one
/// process per policy, one thread per pCPU, a complete ("X") event per
/// stretch a vCPU ran, named `domain.vN`; times in microseconds.
pub(crate) fn trace(sc: &Scenario, runs: &[(Report, SimStats)]) -> String {
    let mut events = Vec::new();
    for (pid, (r, st)) in runs.iter().enumerate() {
        events.push(serde_json::json!({
            "name": "process_name", "ph": "M", "pid": pid, "tid": 0,
            "args": { "name": format!("{} ({})", r.policy, r.scenario) }
        }));
        for cpu in 0..sc.host.pcpus {
            events.push(serde_json::json!({
                "name": "thread_name", "ph": "M", "pid": pid, "tid": cpu,
                "args": { "name": format!("pCPU {cpu}") }
            }));
        }
        for t in &st.trace {
            let dom = &sc.domains[usize::from(t.domain)].name;
            events.push(serde_json::json!({
                "name": format!("{dom}.v{}", t.vcpu),
                "cat": "run",
                "ph": "X",
                "pid": pid,
                "tid": t.cpu,
                "ts": t.start_ns as f64 / 1e3,
                "dur": (t.end_ns - t.start_ns) as f64 / 1e3,
                "args": { "domain": dom, "vcpu": t.vcpu },
            }));
        }
    }
    serde_json::json!({ "traceEvents": events, "displayTimeUnit": "ms" }).to_string()
}

/// `DIR/latency-<policy>.svg` (a CDF per domain with samples) and
/// `DIR/cpu-share.svg` (each domain's share under each policy).
pub(crate) fn plots(
    dir: &Path,
    sc: &Scenario,
    runs: &[(Report, SimStats)],
) -> Result<Vec<PathBuf>, Failure> {
    let mut written = Vec::new();
    for (r, st) in runs {
        let curves: Vec<Curve> = sc
            .domains
            .iter()
            .zip(&st.latencies)
            .filter(|(_, s)| !s.is_empty())
            .map(|(d, s)| Curve {
                label: d.name.clone(),
                samples_ns: s.clone(),
            })
            .collect();
        if curves.is_empty() {
            continue;
        }
        let cdf = Cdf {
            id: format!("latency-{}", r.policy),
            title: format!("{}: response latency under {}", sc.name, r.policy),
            curves,
        };
        written.push(plot::cdf(dir, &cdf).map_err(Failure::Internal)?);
    }
    let groups: Vec<String> = sc.domains.iter().map(|d| d.name.clone()).collect();
    let series: Vec<(String, Vec<f64>)> = runs
        .iter()
        .map(|(r, _)| {
            (
                r.policy.clone(),
                r.domains.iter().map(|d| d.cpu_share * 100.0).collect(),
            )
        })
        .collect();
    let title = format!("{}: CPU share per domain (%)", sc.name);
    written
        .push(plot::bars(dir, "cpu-share", &title, &groups, &series).map_err(Failure::Internal)?);
    Ok(written)
}
