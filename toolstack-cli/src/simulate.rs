//! `vsched simulate FILE [--policy P[,P...]|all] [--json|--csv] [--seed N]
//! [--duration D] [--trace FILE] [--plot DIR]`.
//!
//! Everything is checked before anything runs or prints (the scenario, every
//! policy name, the overrides), so bad input leaves stdout empty. With several
//! policies the same scenario and seed run once per policy; the text output
//! puts them side by side, `--json` prints one report object for one policy
//! and an array for several, `--csv` a row per policy and domain.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use sched_sim::{policies, simulate_with_stats, Report, Scenario, SimError, SimOptions};

use crate::Failure;

#[derive(Args)]
#[command(after_help = "\
Examples:
  vsched simulate scenarios/lsvm-ping-4vm.toml --policy all
  vsched simulate host.toml --policy credit,edf-credit --json
  vsched simulate host.toml --duration 5s --trace run.json --plot plots/")]
pub(crate) struct SimulateArgs {
    /// The scenario file (TOML).
    file: PathBuf,
    /// Policies to run, comma-separated, or `all` for every policy there is
    /// (default: the scenario's `policy`).
    #[arg(long, value_delimiter = ',')]
    policy: Vec<String>,
    /// Print the JSON report instead of a table.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV (a row per policy and domain) instead of a table.
    #[arg(long)]
    csv: bool,
    /// Also write a Chrome/Perfetto trace of what ran on each pCPU (open
    /// it in ui.perfetto.dev).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Also write SVG plots to DIR: latency CDFs per policy, CPU shares.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Override the scenario's seed.
    #[arg(long, value_parser = crate::parse_seed)]
    seed: Option<u64>,
    /// Override the scenario's duration (e.g. "10s").
    #[arg(long)]
    duration: Option<String>,
}

/// A `--duration` value: a positive number with a unit.
pub(crate) fn parse_positive_duration(d: &str) -> Result<sched_sim::Span, Failure> {
    sched_sim::scenario::parse_duration(d)
        .ok()
        .filter(|d| d.as_ns() > 0)
        .ok_or_else(|| {
            Failure::BadInput(format!(
                "--duration: bad duration {d:?}; use a positive number with a unit, like \"10s\""
            ))
        })
}

pub(crate) fn run(args: &SimulateArgs) -> Result<(), Failure> {
    let file = args.file.display().to_string();
    let sc = Scenario::from_file(&args.file).map_err(|e| Failure::BadInput(e.to_string()))?;
    let duration = args
        .duration
        .as_deref()
        .map(parse_positive_duration)
        .transpose()?;
    // `all` asks for a list of policies, so its JSON is an array even while
    // only one policy exists: scripts need not change as policies are added.
    let all = args.policy.len() == 1 && args.policy[0].trim() == "all";
    let names: Vec<String> = if args.policy.is_empty() {
        vec![sc.policy.clone()]
    } else if all {
        policies().iter().map(|p| p.to_string()).collect()
    } else {
        args.policy.iter().map(|p| p.trim().to_string()).collect()
    };
    for n in &names {
        if !policies().contains(&n.as_str()) {
            let origin = if args.policy.is_empty() {
                match policy_line(&args.file) {
                    Some(l) => format!("{file}:{l}: policy"),
                    None => format!("{file}: policy"),
                }
            } else {
                "--policy".to_string()
            };
            return Err(Failure::BadInput(format!(
                "{origin}: unknown policy {n:?}; known: {}",
                policies().join(", ")
            )));
        }
    }
    if let Some(dir) = &args.plot {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::BadInput(format!("--plot: cannot create {}: {e}", dir.display()))
        })?;
    }
    if let Some(t) = &args.trace {
        let parent = t.parent().filter(|p| !p.as_os_str().is_empty());
        if parent.is_some_and(|p| !p.is_dir()) {
            return Err(Failure::BadInput(format!(
                "--trace: no directory for {}",
                t.display()
            )));
        }
    }
    let opts = SimOptions {
        seed: args.seed,
        duration,
        trace: args.trace.is_some(),
        samples: args.plot.is_some(),
        ..SimOptions::default()
    };
    let mut runs = Vec::with_capacity(names.len());
    for n in &names {
        let run = simulate_with_stats(&sc, n, &opts).map_err(|e| match e {
            SimError::Internal(m) => Failure::Internal(m),
            other => Failure::BadInput(format!("{file}: {other}")),
        })?;
        runs.push(run);
    }
    if let Some(t) = &args.trace {
        crate::outputs::write_whole(t, &crate::outputs::trace(&sc, &runs))
            .map_err(|e| prefix("--trace", e))?;
    }
    if let Some(dir) = &args.plot {
        crate::outputs::plots(dir, &sc, &runs).map_err(|e| prefix("--plot", e))?;
    }
    let reports: Vec<Report> = runs.into_iter().map(|(r, _)| r).collect();

    let out = if args.json {
        let j = if reports.len() == 1 && !all {
            serde_json::to_string(&reports[0])
        } else {
            serde_json::to_string(&reports)
        };
        j.map_err(|e| Failure::Internal(format!("cannot write JSON: {e}")))? + "\n"
    } else if args.csv {
        crate::outputs::csv(&reports)
    } else {
        crate::table::render(&sc, &reports)
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a non-zero exit.
    let _ = stdout.write_all(out.as_bytes());
    Ok(())
}

/// Names the flag in a failure about its file.
fn prefix(flag: &str, f: Failure) -> Failure {
    match f {
        Failure::BadInput(m) => Failure::BadInput(format!("{flag}: {m}")),
        Failure::Internal(m) => Failure::Internal(format!("{flag}: {m}")),
    }
}

/// The line of the top-level `policy = ...` key in a scenario file (the
/// scenario keeps values, not positions).
fn policy_line(path: &std::path::Path) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_start();
        if t.starts_with('[') {
            return None;
        }
        if let Some(rest) = t.strip_prefix("policy") {
            if rest.trim_start().starts_with('=') {
                return Some(i + 1);
            }
        }
    }
    None
}
