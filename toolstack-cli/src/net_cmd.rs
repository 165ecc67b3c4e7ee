//! `vsched net`: a domain's network limit and shaper (seed 001 §III-C) on a
//! simulated host file: netback's token bucket or the smooth window, with
//! its window, adjust interval and (for the bucket) replenish period.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use toml_edit::{value, InlineTable};

use crate::host;
use crate::Failure;

/// The shaper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ShaperArg {
    /// Xen netback's token bucket.
    TokenBucket,
    /// The smooth window with PID feedback.
    SmoothWindow,
}

#[derive(Args)]
#[command(after_help = "\
Limits are rates with a unit (500kbit, 2Mbit, 1Gbit). Defaults: smooth
window, 3ms window, 1s adjust interval, 50ms bucket period. Flows are added
with `vsched create NAME --flow '{ kind = \"cbr\", rate = \"2Mbit\" }'` or by hand.

Examples:
  vsched net                                         list limits and shapers
  vsched net -d rtp --limit 2.2Mbit --shaper smooth-window --window 3ms
  vsched net -d web --limit 2Mbit --shaper token-bucket --period 50ms
  vsched net -d web --off                            unshaped again")]
pub(crate) struct NetArgs {
    /// Domain, by name or ID.
    #[arg(short = 'd', long = "domain")]
    domain: Option<String>,
    /// The rate limit (e.g. 2Mbit).
    #[arg(long)]
    limit: Option<String>,
    /// The shaper.
    #[arg(long, value_enum)]
    shaper: Option<ShaperArg>,
    /// Token bucket replenish period (e.g. 50ms).
    #[arg(long)]
    period: Option<String>,
    /// Smooth window width (e.g. 3ms).
    #[arg(long)]
    window: Option<String>,
    /// Smooth window adjust interval (e.g. 1s).
    #[arg(long)]
    interval: Option<String>,
    /// Remove the domain's limit.
    #[arg(long, conflicts_with_all = ["limit", "shaper", "period", "window", "interval"])]
    off: bool,
    /// The host file (default: $VSCHED_HOST, then ./host.toml).
    #[arg(long, value_name = "FILE")]
    host: Option<PathBuf>,
}

fn bad(m: String) -> Failure {
    Failure::BadInput(m)
}

pub(crate) fn run(a: &NetArgs) -> Result<(), Failure> {
    let path = host::path(a.host.as_deref());
    let set = a.limit.is_some()
        || a.shaper.is_some()
        || a.period.is_some()
        || a.window.is_some()
        || a.interval.is_some()
        || a.off;
    let Some(which) = &a.domain else {
        if set {
            return Err(bad(
                "--limit, --shaper, --period, --window, --interval and --off need -d".into(),
            ));
        }
        let sc = host::load(&path)?;
        print!("{}", header());
        for (i, d) in sc.domains.iter().enumerate() {
            print!("{}", row(i, d));
        }
        return Ok(());
    };
    if !set {
        let sc = host::load(&path)?;
        let i = host::domain(&sc, which)?;
        print!("{}{}", header(), row(i, &sc.domains[i]));
        return Ok(());
    }
    let dur = |flag: &str, v: &Option<String>| -> Result<Option<String>, Failure> {
        v.as_deref()
            .map(|x| {
                sched_sim::scenario::parse_duration(x)
                    .map(|s| s.to_string())
                    .map_err(|e| bad(format!("{flag}: {e}")))
            })
            .transpose()
    };
    let (period, window, interval) = (
        dur("--period", &a.period)?,
        dur("--window", &a.window)?,
        dur("--interval", &a.interval)?,
    );
    if let Some(l) = &a.limit {
        sched_sim::scenario::parse_rate(l).map_err(|e| bad(format!("--limit: {e}")))?;
    }
    host::change(&path, |sc, doc| {
        let i = host::domain(sc, which)?;
        let cur = sc.domains[i].net;
        let t = host::domain_table(doc, i)?;
        if a.off {
            t.remove("net");
            return Ok(());
        }
        let limit = match (&a.limit, cur) {
            (Some(l), _) => l.clone(),
            (None, Some(n)) => format!("{}bit", n.limit_bps),
            (None, None) => {
                return Err(bad("--limit: the domain has no limit yet; give one".into()))
            }
        };
        let shaper = match (a.shaper, cur.map(|n| n.shaper)) {
            (Some(ShaperArg::TokenBucket), _)
            | (None, Some(sched_sim::ShaperKind::TokenBucket)) => "token-bucket",
            _ => "smooth-window",
        };
        let mut net = InlineTable::new();
        net.insert("limit", limit.into());
        net.insert("shaper", shaper.into());
        let keep =
            |new: Option<String>, old: Option<sched_sim::Span>| new.or(old.map(|s| s.to_string()));
        for (k, v) in [
            ("period", keep(period.clone(), cur.map(|n| n.period))),
            ("window", keep(window.clone(), cur.map(|n| n.window))),
            ("interval", keep(interval.clone(), cur.map(|n| n.interval))),
        ] {
            if let Some(v) = v {
                net.insert(k, v.into());
            }
        }
        t["net"] = value(net);
        Ok(())
    })?;
    Ok(())
}

fn header() -> String {
    format!(
        "{:<33} {:>4} {:>10} {:>14} {:>8} {:>9} {:>7} {:>5}\n",
        "Name", "ID", "Limit", "Shaper", "Window", "Interval", "Period", "Flows"
    )
}

fn row(i: usize, d: &sched_sim::Domain) -> String {
    match d.net {
        Some(n) => format!(
            "{:<33} {:>4} {:>10} {:>14} {:>8} {:>9} {:>7} {:>5}\n",
            d.name,
            i,
            format!("{:.3}Mbit", n.limit_bps as f64 / 1e6),
            match n.shaper {
                sched_sim::ShaperKind::TokenBucket => "token-bucket",
                sched_sim::ShaperKind::SmoothWindow => "smooth-window",
            },
            n.window.to_string(),
            n.interval.to_string(),
            n.period.to_string(),
            d.flows.len()
        ),
        None => format!(
            "{:<33} {:>4} {:>10} {:>14} {:>8} {:>9} {:>7} {:>5}\n",
            d.name,
            i,
            "-",
            "-",
            "-",
            "-",
            "-",
            d.flows.len()
        ),
    }
}
