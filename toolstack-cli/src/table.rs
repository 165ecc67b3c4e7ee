//! The human-readable report: one row per domain, one column group per
//! policy (CPU share, response latency mean / p99 / max in milliseconds,
//! deadline misses), so policies compare side by side. A latency with no
//! samples prints as `-`; requests still unanswered at the end are listed
//! under the table.

use std::fmt::Write;

use sched_sim::{Dist, Report, Scenario};

const NAME_W: usize = 16;
const GROUP_W: usize = 7 + 3 * 10 + 8;

fn ms(d: &Dist, v: u64) -> String {
    if d.count == 0 {
        "-".to_string()
    } else {
        format!("{:.3}", v as f64 / 1e6)
    }
}

pub(crate) fn render(sc: &Scenario, reports: &[Report]) -> String {
    let mut s = String::new();
    let secs = reports.first().map_or(0.0, |r| r.duration_ns as f64 / 1e9);
    let _ = writeln!(
        s,
        "{}: {} pCPU(s), {} domain(s), {secs} s simulated",
        sc.name,
        sc.host.pcpus,
        sc.domains.len()
    );
    let _ = write!(s, "{:NAME_W$}", "");
    for r in reports {
        let _ = write!(s, " | {:<GROUP_W$}", r.policy);
    }
    s.push('\n');
    let _ = write!(s, "{:<NAME_W$}", "domain");
    for _ in reports {
        let _ = write!(
            s,
            " | {:>7}{:>10}{:>10}{:>10}{:>8}",
            "share%", "lat mean", "p99", "max", "misses"
        );
    }
    s.push('\n');
    let rows = reports.first().map_or(0, |r| r.domains.len());
    for i in 0..rows {
        let name = &reports[0].domains[i].name;
        let _ = write!(s, "{name:<NAME_W$}");
        for r in reports {
            let d = &r.domains[i];
            let l = &d.latency;
            let _ = write!(
                s,
                " | {:>7.2}{:>10}{:>10}{:>10}{:>8}",
                d.cpu_share * 100.0,
                ms(l, l.mean_ns),
                ms(l, l.p99_ns),
                ms(l, l.max_ns),
                d.deadline_misses
            );
        }
        s.push('\n');
    }
    let _ = write!(s, "{:<NAME_W$}", "pCPU busy%");
    for r in reports {
        let busy: Vec<String> = r
            .pcpus
            .iter()
            .map(|p| format!("{:.1}", p.busy * 100.0))
            .collect();
        let _ = write!(s, " | {:<GROUP_W$}", busy.join(" "));
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "(latency in ms: ping reply - arrival, periodic completion - release)"
    );
    // Requests never answered are not latency samples: say so, never hide them.
    for r in reports {
        for d in r.domains.iter().filter(|d| d.unanswered > 0) {
            let _ = writeln!(
                s,
                "{}: {} has {} request(s) unanswered at its end, the oldest waiting {:.3} ms",
                r.policy,
                d.name,
                d.unanswered,
                d.unanswered_max_ns as f64 / 1e6
            );
        }
    }
    // What automatic LSVM detection decided, and from what.
    for r in reports {
        for d in &r.domains {
            let Some(a) = d.auto_lsvm else { continue };
            let seen = format!(
                "last window: {} events/s, mean burst {:.2} ms",
                a.events_per_sec,
                a.burst_ns as f64 / 1e6
            );
            let _ = match (a.microslice_ns > 0, a.since_ns) {
                (true, since) => writeln!(
                    s,
                    "{}: auto_lsvm made {} an LSVM at {:.2} s (microslice {:.0} ms; {} change(s); {seen})",
                    r.policy,
                    d.name,
                    since.unwrap_or(0) as f64 / 1e9,
                    a.microslice_ns as f64 / 1e6,
                    a.changes,
                ),
                (false, Some(t)) => writeln!(
                    s,
                    "{}: auto_lsvm made {} an NLSVM again at {:.2} s ({} change(s); {seen})",
                    r.policy,
                    d.name,
                    t as f64 / 1e9,
                    a.changes
                ),
                (false, None) => Ok(()),
            };
        }
    }
    net_section(&mut s, reports);
    // Column padding leaves trailing blanks; drop them.
    s.lines().map(|l| l.trim_end().to_string() + "\n").collect()
}

/// A titled table with columns as wide as their widest cell.
pub(crate) fn grid(t: &sched_repro::Table) -> String {
    let mut w: Vec<usize> = t.columns.iter().map(|c| c.chars().count()).collect();
    for row in &t.rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = w
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(c.chars().count());
            l += c;
            if i + 1 < cells.len() {
                l += &" ".repeat(pad);
                l += " | ";
            }
        }
        l.trim_end().to_string() + "\n"
    };
    let mut s = format!("{}\n", t.title);
    s += &line(&t.columns);
    s += &(w
        .iter()
        .map(|&n| "-".repeat(n))
        .collect::<Vec<_>>()
        .join("-+-")
        + "\n");
    for row in &t.rows {
        s += &line(row);
    }
    s
}

/// The shaped domains' flows: rate against the allocation, the delay each
/// packet spent in the shaper, and its RFC 3550 jitter (ms).
fn net_section(s: &mut String, reports: &[Report]) {
    if !reports
        .iter()
        .any(|r| r.domains.iter().any(|d| d.net.is_some()))
    {
        return;
    }
    let _ = writeln!(
        s,
        "\n(shaped flows: rate against the allocation; the delay packets spent in the shaper and its jitter, ms)\n{:<12} {:<12} {:<14} {:<5} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "policy", "domain", "shaper", "flow", "Mbit/s", "of", "delay", "max", "jitter"
    );
    for r in reports {
        for d in &r.domains {
            let Some(n) = &d.net else { continue };
            for f in &n.flows {
                let _ = writeln!(
                    s,
                    "{:<12} {:<12} {:<14} {:<5} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                    r.policy,
                    d.name,
                    n.shaper,
                    f.kind,
                    f.rate_bps as f64 / 1e6,
                    n.limit_bps as f64 / 1e6,
                    f.delay.mean_ns as f64 / 1e6,
                    f.delay.max_ns as f64 / 1e6,
                    f.jitter_ns as f64 / 1e6
                );
            }
        }
    }
}
