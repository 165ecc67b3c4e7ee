//! `vsched repro PAPER [--plot DIR] [--seed N] [--duration D]`: runs a
//! paper's experiments on the simulator and prints what was measured, then
//! each claim with the paper's number, ours and the tolerance. Exit 0 when
//! every claim holds, 1 when one does not (the output says which), 2 for bad
//! input. With `--plot DIR`, the latency CDFs are also written as SVG files.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use sched_repro::{Repro, ReproOptions, Table};

use crate::{plot, table, Failure};

/// The papers there are experiments for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Paper {
    /// vSlicer (seed 002): Fig. 6, 2/7, 10, 4/11 and the wave-crest bound.
    Vslicer,
    /// EDF+credit (seed 001): Fig. 6, 7, 12, the credit reservation, and
    /// the stream monitor of seed 000.
    EdfCredit,
    /// The traffic shaper (seed 001 §III-C): Fig. 8-11 and the whole path.
    Shaper,
}

#[derive(Args)]
#[command(
    after_help = "Examples:\n  vsched repro vslicer\n  vsched repro vslicer --plot plots/ --duration 20s"
)]
pub(crate) struct ReproArgs {
    /// Which paper's experiments to run.
    paper: Paper,
    /// Also write each latency CDF as DIR/<figure>.svg (DIR is created).
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Seed of every run (default 1).
    #[arg(long, value_parser = crate::parse_seed)]
    seed: Option<u64>,
    /// Simulated time of each latency experiment (default 60s).
    #[arg(long)]
    duration: Option<String>,
}

pub(crate) fn run(args: &ReproArgs) -> Result<(), Failure> {
    let mut opts = ReproOptions::default();
    if let Some(s) = args.seed {
        opts.seed = s;
    }
    if let Some(d) = &args.duration {
        opts.duration = crate::simulate::parse_positive_duration(d)?;
    }
    if let Some(dir) = &args.plot {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::BadInput(format!("--plot: cannot create {}: {e}", dir.display()))
        })?;
    }
    let r = match args.paper {
        Paper::Vslicer => sched_repro::vslicer::run_all(&opts),
        Paper::EdfCredit => sched_repro::edf::run_all(&opts),
        Paper::Shaper => sched_repro::shaper::run_all(&opts),
    }
    .map_err(|e| Failure::Internal(e.to_string()))?;
    print!("{}", render(&r));
    if let Some(dir) = &args.plot {
        for c in &r.cdfs {
            let path = plot::cdf(dir, c).map_err(Failure::Internal)?;
            println!("wrote {}", path.display());
        }
        for l in &r.lines {
            let path = plot::lines(dir, l).map_err(Failure::Internal)?;
            println!("wrote {}", path.display());
        }
    }
    let failed = r.failures().count();
    if failed > 0 {
        return Err(Failure::Internal(format!(
            "{failed} of {} claims not reproduced (marked FAIL above)",
            r.checks.len()
        )));
    }
    Ok(())
}

/// The tables, then the claims.
fn render(r: &Repro) -> String {
    let mut s = format!("{}\n\n", r.paper);
    for t in &r.tables {
        s += &table::grid(t);
        s.push('\n');
    }
    let claims = Table {
        title: "Claims: paper vs ours".into(),
        columns: ["figure", "claim", "paper", "ours", "tolerance", ""]
            .map(String::from)
            .to_vec(),
        rows: r
            .checks
            .iter()
            .map(|c| {
                vec![
                    c.figure.clone(),
                    c.claim.clone(),
                    c.paper.clone(),
                    c.ours.clone(),
                    c.tolerance.clone(),
                    if c.pass { "ok" } else { "FAIL" }.to_string(),
                ]
            })
            .collect(),
    };
    s += &table::grid(&claims);
    s += &format!(
        "{} of {} claims reproduced\n",
        r.checks.len() - r.failures().count(),
        r.checks.len()
    );
    s
}
