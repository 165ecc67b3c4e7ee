//! `vsched simulate FILE [--policy P[,P...]|all] [--json|--csv] [--seed N]
//! [--duration D] [--trace FILE [--trace-format perfetto|xentrace]]
//! [--plot DIR] [--samples FILE]`.
//!
//! Everything is checked before anything runs or prints (the scenario, every
//! policy name, the overrides), so bad input leaves stdout empty. With several
//! policies the same scenario and seed run once per policy; the text output
//! puts them side by side, `--json` prints one report object for one policy
//! and an array for several, `--csv` a row per policy and domain.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use sched_sim::scenario::{duration_ok, parse_duration, read_text};
use sched_sim::{
    policies, simulate_with_stats, Report, Scenario, ScenarioError, SimError, SimOptions,
};

use crate::Failure;

#[derive(Args)]
#[command(after_help = "\
Examples:
  vsched simulate scenarios/lsvm-ping-4vm.toml --policy all
  vsched simulate host.toml --policy credit,edf-credit --json
  vsched simulate host.toml --duration 5s --trace run.json --plot plots/
  vsched simulate host.toml --trace run.xentrace --trace-format xentrace
  xenalyze --summary --cpu-hz 2G run.xentrace                           # d1 = the first domain
  vsched simulate host.toml --policy credit,vslicer --samples run.csv   # run-credit.csv, run-vslicer.csv")]
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
    /// Also write a trace of what ran on each pCPU: a Chrome/Perfetto
    /// trace (open it in ui.perfetto.dev), or with `--trace-format
    /// xentrace` Xen's binary trace (one file per policy, named as for
    /// `--samples`).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// The `--trace` format: `perfetto`, or `xentrace`, the records Xen's
    /// xentrace writes (read it with `xenalyze --summary --cpu-hz 2G FILE`;
    /// domain i of the scenario is domain i+1 there).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = TraceFormat::Perfetto, requires = "trace")]
    trace_format: TraceFormat,
    /// Also write SVG plots to DIR: latency CDFs per policy, CPU shares.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Also write every sample (response latency, scheduling latency,
    /// runqueue wait) to FILE as CSV rows `domain,kind,at_ns,value_ns`,
    /// streamed as the run goes. With several policies, one file each:
    /// `-POLICY` goes before the extension (run.csv: run-credit.csv, ...).
    #[arg(long, value_name = "FILE")]
    samples: Option<PathBuf>,
    /// Override the scenario's seed.
    #[arg(long, value_parser = crate::parse_seed)]
    seed: Option<u64>,
    /// Override the scenario's duration (e.g. "10s").
    #[arg(long)]
    duration: Option<String>,
}

/// What `--trace` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TraceFormat {
    /// Chrome trace-event JSON, every policy in one file.
    Perfetto,
    /// Xen's xentrace binary records, one file per policy.
    Xentrace,
}

/// A `--duration` value: a number with a unit, within the bounds of a
/// scenario's `duration`.
pub(crate) fn parse_positive_duration(d: &str) -> Result<sched_sim::Span, Failure> {
    let bad = |m: String| Failure::BadInput(format!("--duration: {m}"));
    let t = parse_duration(d).map_err(|_| {
        bad(format!(
            "bad duration {d:?}; use a positive number with a unit, like \"10s\""
        ))
    })?;
    duration_ok(t).map_err(bad)?;
    Ok(t)
}

pub(crate) fn run(args: &SimulateArgs) -> Result<(), Failure> {
    let file = args.file.display().to_string();
    // Read once, through the size cap; the text stays to locate what is
    // found wrong later (a policy name, a refusal by the scheduler).
    let text = read_text(&args.file).map_err(|e| Failure::BadInput(e.to_string()))?;
    let sc = Scenario::parse(&text, &file).map_err(|e| Failure::BadInput(e.to_string()))?;
    let located = |field: &str, message: String| {
        Failure::BadInput(ScenarioError::locate(&text, &file, field, message).to_string())
    };
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
        if !sched_sim::is_policy(n) {
            let what = format!(
                "unknown policy {n:?}; known: {}",
                sched_sim::known_policies()
            );
            return Err(if args.policy.is_empty() {
                located("policy", what)
            } else {
                Failure::BadInput(format!("--policy: {what}"))
            });
        }
    }
    if let Some(dir) = &args.plot {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::BadInput(format!("--plot: cannot create {}: {e}", dir.display()))
        })?;
    }
    let max = crate::outputs::xentrace::MAX_DOMAINS;
    if args.trace_format == TraceFormat::Xentrace && sc.domains.len() > max {
        return Err(Failure::BadInput(format!(
            "--trace-format: xentrace names domains 1..={max} (Xen's domain ids); {file} has {}",
            sc.domains.len()
        )));
    }
    for (flag, path) in [("--trace", &args.trace), ("--samples", &args.samples)] {
        let Some(t) = path else { continue };
        let parent = t.parent().filter(|p| !p.as_os_str().is_empty());
        if parent.is_some_and(|p| !p.is_dir()) {
            return Err(Failure::BadInput(format!(
                "{flag}: no directory for {}",
                t.display()
            )));
        }
    }
    let mut runs = Vec::with_capacity(names.len());
    for n in &names {
        // Samples go to a temporary name, renamed once the run succeeded:
        // a failed run leaves no half-written file.
        let samples = args
            .samples
            .as_ref()
            .map(|f| per_policy_path(f, n, names.len() > 1));
        let part = samples.as_ref().map(|f| {
            let mut p = f.clone().into_os_string();
            p.push(".part");
            PathBuf::from(p)
        });
        let opts = SimOptions {
            seed: args.seed,
            duration,
            trace: args.trace.is_some(),
            samples: args.plot.is_some(),
            samples_csv: part.clone(),
            ..SimOptions::default()
        };
        let run = simulate_with_stats(&sc, n, &opts).map_err(|e| {
            if let Some(p) = &part {
                let _ = std::fs::remove_file(p);
            }
            match e {
                SimError::Internal(m) => Failure::Internal(m),
                SimError::BadInput { field, message } => located(&field, message),
                e @ SimError::Output { .. } => Failure::BadInput(format!("--samples: {e}")),
                other => Failure::BadInput(format!("{file}: {other}")),
            }
        })?;
        if let (Some(part), Some(to)) = (part, samples) {
            std::fs::rename(&part, &to).map_err(|e| {
                Failure::BadInput(format!("--samples: cannot write {}: {e}", to.display()))
            })?;
        }
        runs.push(run);
    }
    if let Some(t) = &args.trace {
        match args.trace_format {
            TraceFormat::Perfetto => {
                crate::outputs::write_whole(t, crate::outputs::trace(&sc, &runs))
                    .map_err(|e| prefix("--trace", e))?
            }
            TraceFormat::Xentrace => {
                for (r, st) in &runs {
                    let f = per_policy_path(t, &r.policy, runs.len() > 1);
                    let bytes =
                        crate::outputs::xentrace::trace(&sc, &st.sched_events, r.duration_ns);
                    crate::outputs::write_whole(&f, bytes).map_err(|e| prefix("--trace", e))?;
                }
            }
        }
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

/// Where `--samples FILE` (and `--trace FILE --trace-format xentrace`)
/// puts policy `policy`'s file: FILE itself for one policy, else FILE with
/// `-POLICY` before its extension.
fn per_policy_path(file: &std::path::Path, policy: &str, several: bool) -> PathBuf {
    if !several {
        return file.to_path_buf();
    }
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    let name = match file.extension() {
        Some(ext) => format!("{stem}-{policy}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{policy}"),
    };
    file.with_file_name(name)
}

/// Names the flag in a failure about its file.
fn prefix(flag: &str, f: Failure) -> Failure {
    match f {
        Failure::BadInput(m) => Failure::BadInput(format!("{flag}: {m}")),
        Failure::Internal(m) => Failure::Internal(format!("{flag}: {m}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(file: &str) -> SimulateArgs {
        SimulateArgs {
            file: file.into(),
            policy: Vec::new(),
            json: true,
            csv: false,
            trace: None,
            trace_format: TraceFormat::Perfetto,
            plot: None,
            samples: None,
            seed: None,
            duration: None,
        }
    }

    fn refused(a: &SimulateArgs) -> String {
        match run(a) {
            Err(Failure::BadInput(m)) => m,
            other => panic!("not bad input: {other:?}"),
        }
    }

    #[test]
    fn an_endless_file_is_bad_input_at_the_size_cap() {
        assert_eq!(
            refused(&args("/dev/zero")),
            "/dev/zero: file: file is larger than 8 MiB"
        );
    }

    #[test]
    fn a_refusal_by_the_scheduler_names_the_line_of_its_domain() {
        let rt = "rt = { mode = \"periodic\", deadline = \"1ms\" }\n";
        let text = format!(
            "duration = \"1s\"\npolicy = \"edf-credit\"\n[[domain]]\nname = \"a\"\n{rt}\
             [[domain]]\nname = \"b\"\n{rt}[[domain]]\nname = \"c\"\n{rt}"
        );
        let p = std::env::temp_dir().join(format!("vsched-admission-{}.toml", std::process::id()));
        std::fs::write(&p, text).unwrap();
        let f = p.display().to_string();
        let err = refused(&args(&f));
        std::fs::remove_file(&p).unwrap();
        assert!(
            err.starts_with(&format!("{f}:9: domain[2]: infeasible: ")),
            "{err}"
        );
    }

    #[test]
    fn duration_overrides_have_the_files_bounds() {
        let f = format!(
            "{}/../scenarios/start-stop.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut a = args(&f);
        a.duration = Some("31days".into());
        assert_eq!(
            refused(&a),
            "--duration: must be positive and at most 30days"
        );
    }
}
