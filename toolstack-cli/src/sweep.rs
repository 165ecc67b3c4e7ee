//! `vsched sweep FILE --vary KEY=VALUES ... [--policy P,..] [--shard I/N] [--jsonl]`:
//! the cartesian product of parameter values, each point a scenario run
//! under each policy, in parallel (rayon), with a progress bar on a
//! terminal (indicatif draws nothing when stderr is not one).
//!
//! Keys are paths into the scenario file: `seed`, `duration`, `host.KEY`,
//! `pool.KEY`, `domain.NAME.KEY` (`domain.web.microslice`,
//! `domain.web.rt.deadline`), and `domain.NAME.count`, which replicates a
//! domain (`NAME`, `NAME-2`, ...; 0 removes it): the number of busy VMs.
//! Values are a list (`3ms,5ms,8ms`) or an inclusive range with a step
//! (`1ms..30ms/5ms`, `1..6`, step 1 by default for integers).
//!
//! At each point the keys are set in the order given, except that every
//! `domain.NAME.count` comes last (in the order of the domains in the file):
//! the replicas are copies of the domain as that point configured it, a count
//! of 0 removes a domain whose other keys were set, and the results do not
//! depend on the order of the `--vary` flags. A key may be varied once.
//!
//! Every point is built and validated before anything runs, so a bad value
//! is reported (exit 2) without partial output; so is a sweep of more than
//! `MAX_POINTS` points, counted (without overflow) before any list of values
//! is built. Output is CSV (one row per point, policy and domain) or
//! `--json`; it does not depend on the number of threads: results are put
//! back in point order. `--shard I/N` runs the points whose index is I-1
//! modulo N, so a sweep splits across machines; inside a Slurm job array,
//! without `--shard`, the array task picks the shard (`sweep_shard.rs`).
//! Each shard's output stands alone (a CSV with its header, a JSON array),
//! even a shard with no points (said on stderr), so the shards' data rows,
//! without the repeated headers, concatenate to the whole. `--jsonl` writes
//! the records `vsched sweep-merge` joins (`sweep_format.rs`): a header
//! naming the sweep (a hash of what defines it) and the shard, then a line
//! per point, policy and domain.

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use sched_sim::scenario::read_text;
use sched_sim::{policies, simulate, Report, Scenario, SimOptions, Span};
use toml_edit::{DocumentMut, Item, Value};

use crate::sweep_format::{csv_header, csv_rows, record_line, sweep_hash, Header};
use crate::Failure;

#[derive(Args)]
#[command(after_help = "\
A sweep has at most 1000000 points (the product of the numbers of values);
a bigger one is refused before anything runs. Each key may be varied once.
Keys are set in the order given, except domain.NAME.count, which is set
last, so replicas copy the domain as configured at that point.

Each shard's output is a standalone CSV with its own header line (with
--json, its own array). To join shards, keep the first file's header and
drop the others': { cat part1.csv; for f in part2.csv part3.csv; do tail -n +2 \"$f\"; done; }

With --jsonl, each shard says which sweep it belongs to (sweep_hash: a
SHA-256 of the scenario file's text, the --vary keys and values, the
policies, --seed and --duration) and which shard it is; `vsched sweep-merge
part*.jsonl` checks the shards and prints what the whole sweep prints, byte
for byte (--csv: its CSV). Without --shard, inside a Slurm job array
(sbatch --array=1-N; SLURM_ARRAY_TASK_ID, _MIN, _COUNT), the array task
picks the shard; --shard wins over the environment.

Examples:
  vsched sweep scenarios/lsvm-ping-4vm.toml --vary domain.vm1.microslice=1ms..30ms/1ms --policy vslicer
  vsched sweep scenarios/edf-aperiodic-ping.toml --vary domain.pinged.rt.deadline=3ms,5ms,8ms \\
      --vary domain.busy1.count=0..5 --policy credit,edf-credit --shard 1/4 > part1.csv
  vsched sweep scenarios/lsvm-ping-4vm.toml --vary seed=1..64 --jsonl --shard 2/4 > part2.jsonl")]
pub(crate) struct SweepArgs {
    /// The scenario file (TOML).
    file: PathBuf,
    /// KEY=VALUES to vary (repeatable, once per key; the points are their
    /// product, at most 1000000).
    #[arg(long = "vary", required = true, value_name = "KEY=VALUES")]
    vary: Vec<String>,
    /// Policies to run at every point, comma-separated, or `all`
    /// (default: the scenario's `policy`).
    #[arg(long, value_delimiter = ',')]
    policy: Vec<String>,
    /// Override the seed of every point.
    #[arg(long, value_parser = crate::parse_seed)]
    seed: Option<u64>,
    /// Override the duration of every point (e.g. "10s").
    #[arg(long)]
    duration: Option<String>,
    /// Run only shard I of N (1-based): the points with index ≡ I-1 mod N
    /// (each shard prints its own CSV header). Default: the Slurm array
    /// task's shard inside a job array, else the whole sweep.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Print a JSON array of {point, report} instead of CSV.
    #[arg(long, conflicts_with = "jsonl")]
    json: bool,
    /// Print JSON lines for `vsched sweep-merge`: a header, then one record
    /// per point, policy and domain.
    #[arg(long)]
    jsonl: bool,
}

/// One varied key and its values, as TOML values.
struct Axis {
    key: String,
    values: Vec<Value>,
}

fn bad(m: String) -> Failure {
    Failure::BadInput(m)
}

/// The most points a sweep may have.
const MAX_POINTS: usize = 1_000_000;

/// The values of the range `a..=b` by `step` (`a <= b`, `step > 0`), or
/// an error when there are more than `MAX_POINTS`: counted before built.
fn range(a: i64, b: i64, step: i64) -> Result<Vec<i64>, String> {
    let (a, step) = (i128::from(a), i128::from(step));
    let n = (i128::from(b) - a) / step + 1;
    if n > MAX_POINTS as i128 {
        return Err(format!(
            "{n} values; a sweep has at most {MAX_POINTS} points"
        ));
    }
    // Each value is in a..=b, so it fits in an i64.
    Ok((0..n).map(|k| (a + k * step) as i64).collect())
}

/// `1ms..30ms/5ms`, `1..6`, `0.5..1.0/0.25`, or `a,b,c`.
fn parse_values(key: &str, spec: &str) -> Result<Vec<Value>, Failure> {
    let err = |why: String| bad(format!("--vary {key}: {why}"));
    if let Some((lo, rest)) = spec.split_once("..") {
        let (hi, step) = match rest.split_once('/') {
            Some((h, s)) => (h, Some(s)),
            None => (rest, None),
        };
        if let (Ok(a), Ok(b)) = (lo.trim().parse::<i64>(), hi.trim().parse::<i64>()) {
            let s = match step {
                Some(s) => s
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| err(format!("bad step {s:?}")))?,
                None => 1,
            };
            if s <= 0 || b < a {
                return Err(err("need start <= end and a positive step".into()));
            }
            return Ok(range(a, b, s)
                .map_err(err)?
                .into_iter()
                .map(Value::from)
                .collect());
        }
        let dur = |v: &str| sched_sim::scenario::parse_duration(v.trim()).map_err(&err);
        let (a, b) = (dur(lo)?, dur(hi)?);
        let s = dur(step.ok_or_else(|| err("a duration range needs a step: A..B/STEP".into()))?)?;
        if s <= Span::ZERO || b < a {
            return Err(err("need start <= end and a positive step".into()));
        }
        return Ok(range(a.0, b.0, s.0)
            .map_err(err)?
            .into_iter()
            .map(|t| Value::from(Span(t).to_string()))
            .collect());
    }
    if spec.split(',').any(|v| v.trim().is_empty()) {
        return Err(err(
            "an empty value; give a list (a,b,c) or a range (A..B/STEP)".into(),
        ));
    }
    let n = spec.split(',').count();
    if n > MAX_POINTS {
        return Err(err(format!(
            "{n} values; a sweep has at most {MAX_POINTS} points"
        )));
    }
    Ok(spec
        .split(',')
        .map(|v| {
            let v = v.trim();
            match (v.parse::<i64>(), v.parse::<f64>()) {
                (Ok(i), _) => Value::from(i),
                (_, Ok(f)) if v.contains('.') => Value::from(f),
                _ => Value::from(v),
            }
        })
        .collect())
}

/// Sets `key` to `v` in the scenario document.
fn apply(doc: &mut DocumentMut, key: &str, v: &Value) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    match parts.as_slice() {
        [top] => {
            doc[*top] = Item::Value(v.clone());
            Ok(())
        }
        ["host" | "pool", k] => {
            let t = doc
                .entry(parts[0])
                .or_insert_with(|| Item::Table(toml_edit::Table::new()));
            let t = t
                .as_table_mut()
                .ok_or(format!("{} is not a table", parts[0]))?;
            t[*k] = Item::Value(v.clone());
            Ok(())
        }
        ["domain", name, "count"] => {
            let n = v.as_integer().filter(|&n| (0..=256).contains(&n));
            let n = n.ok_or("count must be an integer 0..256")? as usize;
            let arr = doc
                .get_mut("domain")
                .and_then(Item::as_array_of_tables_mut)
                .ok_or("no [[domain]]")?;
            let i = arr
                .iter()
                .position(|t| t.get("name").and_then(|x| x.as_str()) == Some(name))
                .ok_or(format!("no domain named {name:?}"))?;
            let proto = arr.get(i).cloned().ok_or("no domain")?;
            // Keep the first copy in place, add the others at the end.
            if n == 0 {
                arr.remove(i);
            }
            for c in 2..=n {
                let mut t = proto.clone();
                t["name"] = toml_edit::value(format!("{name}-{c}"));
                arr.push(t);
            }
            Ok(())
        }
        ["domain", name, rest @ ..] if !rest.is_empty() => {
            let arr = doc
                .get_mut("domain")
                .and_then(Item::as_array_of_tables_mut)
                .ok_or("no [[domain]]")?;
            let t = arr
                .iter_mut()
                .find(|t| t.get("name").and_then(|x| x.as_str()) == Some(name))
                .ok_or(format!("no domain named {name:?}"))?;
            match rest {
                [k] => {
                    t[*k] = Item::Value(v.clone());
                }
                [outer, inner] => {
                    let entry = t
                        .entry(outer)
                        .or_insert_with(|| Item::Value(Value::InlineTable(Default::default())));
                    let it = entry
                        .as_inline_table_mut()
                        .ok_or(format!("{outer} is not an inline table"))?;
                    it.insert(*inner, v.clone());
                }
                _ => return Err("too deep".into()),
            }
            Ok(())
        }
        _ => Err("use seed, duration, host.KEY, pool.KEY or domain.NAME.KEY".into()),
    }
}

/// The order in which the axes are set at a point (indices into `axes`):
/// the order given, except that `domain.NAME.count` axes come after all the
/// others, ordered by where NAME is in the file (names not in it last).
fn application_order(axes: &[Axis], doc: &DocumentMut) -> Vec<usize> {
    let names: Vec<&str> = doc
        .get("domain")
        .and_then(Item::as_array_of_tables)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.get("name").and_then(|n| n.as_str()))
                .collect()
        })
        .unwrap_or_default();
    // The same reading of the key as `apply`'s.
    let count_of = |key: &str| match key.split('.').collect::<Vec<_>>().as_slice() {
        ["domain", name, "count"] => {
            Some(names.iter().position(|n| n == name).unwrap_or(usize::MAX))
        }
        _ => None,
    };
    let mut order: Vec<usize> = (0..axes.len()).collect();
    // Stable: keys that are not counts keep the order given.
    order.sort_by_key(|&k| match count_of(&axes[k].key) {
        None => (0, 0),
        Some(pos) => (1, pos),
    });
    order
}

pub(crate) fn run(a: &SweepArgs) -> Result<(), Failure> {
    let file = a.file.display().to_string();
    let text = read_text(&a.file).map_err(|e| bad(e.to_string()))?;
    let base = Scenario::parse(&text, &file).map_err(|e| bad(e.to_string()))?;
    let mut doc: DocumentMut = text.parse().map_err(|e| bad(format!("{file}: {e}")))?;
    // `domain = [{...}]` and `[[domain]]` alike: `apply` edits tables.
    crate::hostdoc::normalise(&mut doc);
    let mut axes: Vec<Axis> = Vec::new();
    for v in &a.vary {
        let (k, spec) = v
            .split_once('=')
            .ok_or_else(|| bad(format!("--vary {v:?}: use KEY=VALUES")))?;
        let key = k.trim().to_string();
        if key.split('.').any(str::is_empty) {
            let why = if key.is_empty() {
                "the key is empty; use KEY=VALUES".to_string()
            } else {
                format!("key {key:?} has an empty part")
            };
            return Err(bad(format!("--vary {v:?}: {why}")));
        }
        if axes.iter().any(|x| x.key == key) {
            return Err(bad(format!(
                "--vary {key}: given twice; vary each key once (list all its values)"
            )));
        }
        let values = parse_values(&key, spec)?;
        axes.push(Axis { key, values });
    }
    for (flag, key, set) in [
        ("--seed", "seed", a.seed.is_some()),
        ("--duration", "duration", a.duration.is_some()),
    ] {
        if set && axes.iter().any(|x| x.key == key) {
            return Err(bad(format!(
                "{flag}: it would override --vary {key} at every point; give one of them"
            )));
        }
    }
    let total = axes
        .iter()
        .try_fold(1usize, |n, x| n.checked_mul(x.values.len()))
        .filter(|&n| n <= MAX_POINTS)
        .ok_or_else(|| {
            let sizes: Vec<String> = axes.iter().map(|x| x.values.len().to_string()).collect();
            bad(format!(
                "--vary: {} points is more than the {MAX_POINTS} a sweep may have",
                sizes.join("×")
            ))
        })?;
    // The order keys are set in at each point: as given, but the counts
    // last, in the order of their domains in the file (see the module doc).
    let order = application_order(&axes, &doc);
    let (shard, from_slurm) = crate::sweep_shard::choose(a.shard.as_deref(), |k| {
        std::env::var_os(k).map(|v| v.to_string_lossy().into_owned())
    })?;
    let names: Vec<String> = match a.policy.as_slice() {
        [] => vec![base.policy.clone()],
        [p] if p.trim() == "all" => policies().iter().map(|p| p.to_string()).collect(),
        ps => ps.iter().map(|p| p.trim().to_string()).collect(),
    };
    if let Some(n) = names.iter().find(|n| !sched_sim::is_policy(n)) {
        return Err(bad(format!(
            "--policy: unknown policy {n:?}; known: {}",
            sched_sim::known_policies()
        )));
    }
    let opts = SimOptions {
        seed: a.seed,
        duration: a
            .duration
            .as_deref()
            .map(crate::simulate::parse_positive_duration)
            .transpose()?,
        ..SimOptions::default()
    };

    // Build and validate this shard's points before running any.
    let mut points = Vec::new();
    for idx in (shard.index..total).step_by(shard.count) {
        // The first axis varies slowest.
        let mut rem = idx;
        let mut at = vec![0; axes.len()];
        for (k, ax) in axes.iter().enumerate().rev() {
            at[k] = rem % ax.values.len();
            rem /= ax.values.len();
        }
        let mut d = doc.clone();
        for &k in &order {
            let ax = &axes[k];
            apply(&mut d, &ax.key, &ax.values[at[k]])
                .map_err(|e| bad(format!("--vary {}: {e}", ax.key)))?;
        }
        let chosen: Vec<(String, String)> = axes
            .iter()
            .zip(&at)
            .map(|(ax, &i)| {
                let v = ax.values[i].to_string();
                (ax.key.clone(), v.trim().trim_matches('"').to_string())
            })
            .collect();
        let sc = Scenario::parse(&d.to_string(), &file).map_err(|e| {
            let at: Vec<String> = chosen.iter().map(|(k, v)| format!("{k}={v}")).collect();
            bad(format!(
                "point {} ({}): {}: {}",
                idx,
                at.join(" "),
                e.field,
                e.message
            ))
        })?;
        points.push((idx, chosen, sc));
    }

    if let Some(note) = from_slurm {
        eprintln!("{note}");
    }
    if points.is_empty() {
        // Still a standalone output (a header, an empty array), so that
        // joining shards never has to special-case this one.
        eprintln!("--shard {shard}: no points in this shard (the sweep has {total})");
    }

    let jobs: Vec<(usize, usize)> = (0..points.len())
        .flat_map(|p| (0..names.len()).map(move |n| (p, n)))
        .collect();
    let bar = ProgressBar::new(jobs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut results: Vec<((usize, usize), Result<Report, String>)> = jobs
        .par_iter()
        .map(|&(p, n)| {
            let r = simulate(&points[p].2, &names[n], &opts).map_err(|e| e.to_string());
            bar.inc(1);
            ((p, n), r)
        })
        .collect();
    bar.finish_and_clear();
    results.sort_by_key(|(k, _)| *k);

    let mut out = String::new();
    if a.jsonl {
        let values: Vec<(&str, Vec<String>)> = axes
            .iter()
            .map(|x| {
                let vs = x.values.iter().map(|v| v.to_string().trim().to_string());
                (x.key.as_str(), vs.collect())
            })
            .collect();
        let hash = sweep_hash(&text, &values, &names, a.seed, opts.duration);
        let header = Header {
            sweep_hash: hash.clone(),
            shard,
            points: total as u64,
            records: results
                .iter()
                .map(|(_, r)| r.as_ref().map_or(0, |r| r.domains.len() as u64))
                .sum(),
            vary: axes.iter().map(|x| x.key.clone()).collect(),
            policies: names.clone(),
        };
        out += &header.line();
        out.push('\n');
        for ((p, n), r) in &results {
            let r = r.as_ref().map_err(|e| Failure::Internal(e.clone()))?;
            let (idx, chosen, sc) = &points[*p];
            let seed = opts.seed.unwrap_or(sc.seed);
            for d in &r.domains {
                out += &record_line(&hash, *idx as u64, chosen, seed, &names[*n], &r.scenario, d)?;
                out.push('\n');
            }
        }
    } else if a.json {
        let mut rows = Vec::new();
        for ((p, _), r) in &results {
            let r = r.as_ref().map_err(|e| Failure::Internal(e.clone()))?;
            let point: serde_json::Map<String, serde_json::Value> = points[*p]
                .1
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone())))
                .collect();
            rows.push(serde_json::json!({ "index": points[*p].0, "point": point, "report": r }));
        }
        out = serde_json::Value::from(rows).to_string() + "\n";
    } else {
        let keys: Vec<&str> = axes.iter().map(|x| x.key.as_str()).collect();
        out += &csv_header(&keys);
        for ((p, _), r) in &results {
            let r = r.as_ref().map_err(|e| Failure::Internal(e.clone()))?;
            let vals: Vec<&str> = points[*p].1.iter().map(|(_, v)| v.as_str()).collect();
            csv_rows(&mut out, points[*p].0 as u64, &vals, r);
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(())
}
