//! `vsched sweep FILE --vary KEY=VALUES ... [--policy P,..] [--shard I/N]`:
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
//! Every point is built and validated before anything runs, so a bad value
//! is reported (exit 2) without partial output. Output is CSV (one row per
//! point, policy and domain) or `--json`; it does not depend on the number
//! of threads: results are put back in point order. `--shard I/N` runs the
//! points whose index is I-1 modulo N, so a sweep splits across machines
//! and the shards' rows concatenate to the whole.

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use sched_sim::{policies, simulate, Report, Scenario, SimOptions, Span};
use toml_edit::{DocumentMut, Item, Value};

use crate::Failure;

#[derive(Args)]
#[command(after_help = "\
Examples:
  vsched sweep scenarios/lsvm-ping-4vm.toml --vary domain.vm1.microslice=1ms..30ms/1ms --policy vslicer
  vsched sweep scenarios/edf-aperiodic-ping.toml --vary domain.pinged.rt.deadline=3ms,5ms,8ms \\
      --vary domain.busy1.count=0..5 --policy credit,edf-credit --shard 1/4 > part1.csv")]
pub(crate) struct SweepArgs {
    /// The scenario file (TOML).
    file: PathBuf,
    /// KEY=VALUES to vary (repeatable; the points are their product).
    #[arg(long = "vary", required = true, value_name = "KEY=VALUES")]
    vary: Vec<String>,
    /// Policies to run at every point, comma-separated, or `all`
    /// (default: the scenario's `policy`).
    #[arg(long, value_delimiter = ',')]
    policy: Vec<String>,
    /// Override the seed of every point.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the duration of every point (e.g. "10s").
    #[arg(long)]
    duration: Option<String>,
    /// Run only shard I of N (1-based): the points with index ≡ I-1 mod N.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Print a JSON array of {point, report} instead of CSV.
    #[arg(long)]
    json: bool,
}

/// One varied key and its values, as TOML values.
struct Axis {
    key: String,
    values: Vec<Value>,
}

fn bad(m: String) -> Failure {
    Failure::BadInput(m)
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
            return Ok((a..=b).step_by(s as usize).map(Value::from).collect());
        }
        let dur = |v: &str| sched_sim::scenario::parse_duration(v.trim()).map_err(&err);
        let (a, b) = (dur(lo)?, dur(hi)?);
        let s = dur(step.ok_or_else(|| err("a duration range needs a step: A..B/STEP".into()))?)?;
        if s <= Span::ZERO || b < a {
            return Err(err("need start <= end and a positive step".into()));
        }
        let mut out = Vec::new();
        let mut t = a;
        while t <= b {
            out.push(Value::from(t.to_string()));
            t = t + s;
            if out.len() > 100_000 {
                return Err(err("more than 100000 values".into()));
            }
        }
        return Ok(out);
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

/// Parses `I/N` (1-based I).
fn parse_shard(s: &str) -> Result<(usize, usize), Failure> {
    let e = || bad(format!("--shard: {s:?} is not I/N with 1 <= I <= N"));
    let (i, n) = s.split_once('/').ok_or_else(e)?;
    let (i, n) = (
        i.trim().parse::<usize>().map_err(|_| e())?,
        n.trim().parse::<usize>().map_err(|_| e())?,
    );
    if n == 0 || i == 0 || i > n {
        return Err(e());
    }
    Ok((i - 1, n))
}

pub(crate) fn run(a: &SweepArgs) -> Result<(), Failure> {
    let file = a.file.display().to_string();
    let text = std::fs::read_to_string(&a.file).map_err(|e| bad(format!("{file}: {e}")))?;
    let base = Scenario::parse(&text, &file).map_err(|e| bad(e.to_string()))?;
    let doc: DocumentMut = text.parse().map_err(|e| bad(format!("{file}: {e}")))?;
    let mut axes = Vec::new();
    for v in &a.vary {
        let (k, spec) = v
            .split_once('=')
            .ok_or_else(|| bad(format!("--vary {v:?}: use KEY=VALUES")))?;
        let values = parse_values(k, spec)?;
        axes.push(Axis {
            key: k.trim().to_string(),
            values,
        });
    }
    let total: usize = axes.iter().map(|x| x.values.len()).product();
    if total == 0 || total > 1_000_000 {
        return Err(bad(format!("--vary: {total} points; 1..1000000 allowed")));
    }
    let (shard, shards) = a
        .shard
        .as_deref()
        .map(parse_shard)
        .transpose()?
        .unwrap_or((0, 1));
    let names: Vec<String> = match a.policy.as_slice() {
        [] => vec![base.policy.clone()],
        [p] if p.trim() == "all" => policies().iter().map(|p| p.to_string()).collect(),
        ps => ps.iter().map(|p| p.trim().to_string()).collect(),
    };
    if let Some(n) = names.iter().find(|n| !policies().contains(&n.as_str())) {
        return Err(bad(format!(
            "--policy: unknown policy {n:?}; known: {}",
            policies().join(", ")
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
    for idx in (shard..total).step_by(shards) {
        let mut rem = idx;
        let mut d = doc.clone();
        let mut chosen = Vec::new();
        for ax in axes.iter().rev() {
            let v = &ax.values[rem % ax.values.len()];
            rem /= ax.values.len();
            apply(&mut d, &ax.key, v).map_err(|e| bad(format!("--vary {}: {e}", ax.key)))?;
            chosen.push((
                ax.key.clone(),
                v.to_string().trim().trim_matches('"').to_string(),
            ));
        }
        chosen.reverse();
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
    if a.json {
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
        for (i, ((p, _), r)) in results.iter().enumerate() {
            let r = r.as_ref().map_err(|e| Failure::Internal(e.clone()))?;
            let body = crate::outputs::csv(std::slice::from_ref(r));
            let mut lines = body.lines();
            let header = lines.next().unwrap_or_default();
            if i == 0 {
                out += &format!("index,{},{header}\n", keys.join(","));
            }
            let vals: Vec<&str> = points[*p].1.iter().map(|(_, v)| v.as_str()).collect();
            for l in lines {
                out += &format!("{},{},{l}\n", points[*p].0, vals.join(","));
            }
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(())
}
