//! `vsched sched-vslicer`: mark a domain latency-sensitive (an LSVM with a
//! microslice) or back to normal, and list LSVMs and NLSVMs per pCPU with
//! the micro-round they get (seed 002, eq. 12), on a simulated host file.

use std::path::PathBuf;

use clap::Args;
use sched_sim::{Scenario, Span, VSlicerDomParams};
use toml_edit::value;

use crate::host::{self, POOL};
use crate::xen::{self, Xen};
use crate::Failure;

#[derive(Args)]
#[command(after_help = "\
A microslice is 0 (not latency-sensitive) or 1ms..1000ms, with a unit.
T_S and T_n (eq. 12) are shown per pCPU for the vCPUs that can only run
there (pinned to it, or on a one-pCPU host); others float between pCPUs and
are listed apart: the scheduler counts them where they run.

Examples:
  vsched sched-vslicer                    list domains and each pCPU's round
  vsched sched-vslicer -d web -m 5ms      make web an LSVM, 5 ms microslices
  vsched sched-vslicer -d web -m 0        make web an NLSVM again")]
pub(crate) struct SchedVslicerArgs {
    /// Domain, by name or ID.
    #[arg(short = 'd', long = "domain")]
    domain: Option<String>,
    /// Microslice (e.g. 5ms); 0 makes the domain an NLSVM.
    #[arg(short = 'm', long)]
    microslice: Option<String>,
    /// The host file (default: $VSCHED_HOST, then ./host.toml).
    #[arg(long, value_name = "FILE")]
    host: Option<PathBuf>,
}

pub(crate) fn run(a: &SchedVslicerArgs) -> Result<(), Failure> {
    let path = host::path(a.host.as_deref());
    if xen::is_xen(&path) {
        return run_xen(a);
    }
    let Some(which) = &a.domain else {
        if a.microslice.is_some() {
            return Err(Failure::BadInput("-m needs -d DOMAIN".into()));
        }
        let sc = host::load(&path)?;
        print!("{}", header());
        for i in 0..sc.domains.len() {
            print!("{}", row(&sc, i));
        }
        print!("{}", rounds(&sc));
        return Ok(());
    };
    let Some(m) = &a.microslice else {
        let sc = host::load(&path)?;
        let i = host::domain(&sc, which)?;
        print!("{}{}", header(), row(&sc, i));
        return Ok(());
    };
    let t_m = parse_microslice(m)?;
    host::change(&path, |sc, doc| {
        let i = host::domain(sc, which)?;
        let t = host::domain_table(doc, i)?;
        if t_m == Span::ZERO {
            t.remove("microslice");
        } else {
            t["microslice"] = value(t_m.to_string());
        }
        Ok(())
    })?;
    Ok(())
}

/// `0`, or a duration with a unit inside vSlicer's bounds.
fn parse_microslice(m: &str) -> Result<Span, Failure> {
    let bad = |why: String| Failure::BadInput(format!("-m: {why}"));
    let t = if m.trim() == "0" {
        Span::ZERO
    } else {
        sched_sim::scenario::parse_duration(m).map_err(bad)?
    };
    VSlicerDomParams { microslice: t }
        .validate()
        .map_err(|e| bad(e.to_string()))?;
    Ok(t)
}

fn header() -> String {
    format!(
        "{:<33} {:>4} {:>10} {:>5}\n",
        "Name", "ID", "Microslice", "Class"
    )
}

fn microslice(sc: &Scenario, i: usize) -> Span {
    sc.domains[i].microslice.unwrap_or(Span::ZERO)
}

fn row(sc: &Scenario, i: usize) -> String {
    row_of(&sc.domains[i].name, i, microslice(sc, i))
}

fn row_of(name: &str, id: usize, t: Span) -> String {
    let (ms, class) = if t > Span::ZERO {
        (t.to_string(), "LSVM")
    } else {
        ("-".to_string(), "NLSVM")
    };
    format!("{name:<33} {id:>4} {ms:>10} {class:>5}\n")
}

/// The same command on the running Xen (`--host xen`): the domain rows
/// (each pCPU's round needs the placement, which the domctl does not carry).
fn run_xen(a: &SchedVslicerArgs) -> Result<(), Failure> {
    let x = Xen::open()?;
    x.expect("vslicer", "sched-vslicer")?;
    let row = |id: u16, p: &xen_glue::abi::RsDomParams| {
        row_of(
            &xen::dom_name(id),
            id.into(),
            Span::us(i64::from(p.microslice_us)),
        )
    };
    let Some(which) = &a.domain else {
        if a.microslice.is_some() {
            return Err(Failure::BadInput("-m needs -d DOMAIN".into()));
        }
        print!("{}", header());
        for (id, p) in x.domains()? {
            print!("{}", row(id, &p));
        }
        return Ok(());
    };
    let id = xen::domid(which)?;
    match &a.microslice {
        Some(m) => {
            let us = xen::us("-m", m)?;
            x.change_dom(id, |p| {
                p.microslice_us = us;
                Ok(())
            })
        }
        None => {
            print!("{}{}", header(), row(id, &x.dom(id)?));
            Ok(())
        }
    }
}

/// Per pCPU, the vCPUs pinned there: m, n, and eq. 12's T_S and T_n.
fn rounds(sc: &Scenario) -> String {
    let tslice = sc.pool.credit_params().tslice;
    let mut s = format!("Cpupool {POOL}: T_NLSVM (tslice) = {tslice}\n");
    // A domain's vCPUs can only be on one pCPU when its affinity (its pin,
    // or the whole host) names exactly one.
    let pinned = |i: usize| match &sc.domains[i].pin {
        Some(p) if p.len() == 1 => Some(p[0]),
        None if sc.host.pcpus == 1 => Some(0),
        _ => None,
    };
    for cpu in 0..sc.host.pcpus {
        let (mut m, mut n) = (0u32, 0u32);
        for i in (0..sc.domains.len()).filter(|&i| pinned(i) == Some(cpu)) {
            let v = u32::from(sc.domains[i].vcpus);
            if microslice(sc, i) > Span::ZERO {
                m += v;
            } else {
                n += v;
            }
        }
        let round = match sched_sim::round_lengths(m, n, tslice) {
            Some((t_s, t_n)) => format!("T_S={} T_n={}", ms(t_s), ms(t_n)),
            None if m > 0 => "no NLSVM: LSVMs round-robin in microslices".to_string(),
            None => "-".to_string(),
        };
        s += &format!("pCPU {cpu}: m={m} LSVM vCPU(s), n={n} NLSVM vCPU(s); {round}\n");
    }
    let floating: Vec<&str> = (0..sc.domains.len())
        .filter(|&i| pinned(i).is_none())
        .map(|i| sc.domains[i].name.as_str())
        .collect();
    if !floating.is_empty() {
        s += &format!(
            "floating (placed by the scheduler, counted where they run): {}\n",
            floating.join(", ")
        );
    }
    s
}

/// A span in ms, three decimals at most (`3.333ms`, `10ms`).
fn ms(t: Span) -> String {
    let s = format!("{:.3}", t.as_ns() as f64 / 1e6);
    format!("{}ms", s.trim_end_matches('0').trim_end_matches('.'))
}
