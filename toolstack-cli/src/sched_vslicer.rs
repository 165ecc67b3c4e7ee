//! `vsched sched-vslicer`: mark a domain latency-sensitive (an LSVM with a
//! microslice) or back to normal, turn the pool's automatic LSVM detection
//! on or off, and list LSVMs and NLSVMs per pCPU with the micro-round they
//! get (seed 002, eq. 12), on a simulated host file or the running Xen
//! (where each domain's automatic classification is shown too).

use std::path::PathBuf;

use clap::Args;
use sched_core::{Policy, VSlicer};
use sched_sim::{Scenario, Span, VSlicerDomParams};
use toml_edit::value;

use xen_glue::abi::{RsDomParams, GLOBAL_AUTO_LSVM};

use crate::host::{self, POOL};
use crate::xen::{self, Xen};
use crate::Failure;

#[derive(Args)]
#[command(after_help = "\
A microslice is 0 (not latency-sensitive) or 1ms..1000ms, with a unit.
T_S and T_n (eq. 12) are shown per pCPU for the vCPUs that can only run
there (pinned to it, or on a one-pCPU host); others float between pCPUs and
are listed apart: the scheduler counts them where they run.

With --auto-lsvm on, a domain without a microslice becomes an LSVM while it
receives 20 or more events a second (two 1 s windows in a row; an NLSVM
again after three under 10/s), with its mean run burst (1..10 ms) as its
microslice. An explicit microslice always wins. Under Xen the listing shows
what the classifier decided for each domain and from what.

Examples:
  vsched sched-vslicer                    list domains and each pCPU's round
  vsched sched-vslicer -d web -m 5ms      make web an LSVM, 5 ms microslices
  vsched sched-vslicer -d web -m 0        make web an NLSVM again
  vsched sched-vslicer --auto-lsvm on     classify the other domains automatically")]
pub(crate) struct SchedVslicerArgs {
    /// Domain, by name or ID.
    #[arg(short = 'd', long = "domain")]
    domain: Option<String>,
    /// Microslice (e.g. 5ms); 0 makes the domain an NLSVM.
    #[arg(short = 'm', long)]
    microslice: Option<String>,
    /// Automatic LSVM detection for the pool: on or off.
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"], conflicts_with_all = ["domain", "microslice"])]
    auto_lsvm: Option<String>,
    /// The host file (default: $VSCHED_HOST, then ./host.toml).
    #[arg(long, value_name = "FILE")]
    host: Option<PathBuf>,
}

pub(crate) fn run(a: &SchedVslicerArgs) -> Result<(), Failure> {
    let path = host::path(a.host.as_deref());
    if xen::is_xen(&path) {
        return run_xen(a);
    }
    if let Some(on) = &a.auto_lsvm {
        let on = on == "on";
        host::change(&path, |_, doc| {
            let t = host::pool_table(doc)?;
            if on {
                t["auto_lsvm"] = value(true);
            } else {
                t.remove("auto_lsvm");
            }
            Ok(())
        })?;
        return Ok(());
    }
    let Some(which) = &a.domain else {
        if a.microslice.is_some() {
            return Err(Failure::BadInput("-m needs -d DOMAIN".into()));
        }
        let sc = host::load(&path)?;
        println!("{}", auto_line(sc.pool.auto_lsvm == Some(true)));
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

/// The pool line: whether automatic detection is on.
fn auto_line(on: bool) -> String {
    format!(
        "Cpupool {POOL}: auto_lsvm={}",
        if on { "on" } else { "off" }
    )
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

/// Why automatic detection gave a domain without a microslice its class
/// (Xen's read-only fields); nothing for one with a microslice.
fn auto_of(p: &RsDomParams) -> String {
    if p.microslice_us != 0 {
        return String::new();
    }
    format!(
        "  auto: {} events/s, burst {}, {} change(s)",
        p.auto_events,
        xen::show_us(p.auto_burst_us),
        p.auto_changes
    )
}

/// The same command on the running Xen (`--host xen`): the pool line and
/// the domain rows with what automatic detection decided (each pCPU's round
/// needs the placement, which the domctl does not carry).
fn run_xen(a: &SchedVslicerArgs) -> Result<(), Failure> {
    let x = Xen::open()?;
    x.expect(VSlicer::INFO.xen_name, "sched-vslicer")?;
    if let Some(on) = &a.auto_lsvm {
        let flag = if on == "on" { GLOBAL_AUTO_LSVM } else { 0 };
        return x.change_pool(0, |p| {
            p.flags = (p.flags & !GLOBAL_AUTO_LSVM) | flag;
            Ok(())
        });
    }
    let auto = x.pool(0)?.flags & GLOBAL_AUTO_LSVM != 0;
    let row = |id: u16, p: &RsDomParams| {
        // The microslice it runs with: its own, else the classifier's.
        let t = match p.microslice_us {
            0 if auto => p.auto_microslice_us,
            t => t,
        };
        let r = row_of(&xen::dom_name(id), id.into(), Span::us(i64::from(t)));
        if auto {
            format!("{}{}\n", r.trim_end(), auto_of(p))
        } else {
            r
        }
    };
    let Some(which) = &a.domain else {
        if a.microslice.is_some() {
            return Err(Failure::BadInput("-m needs -d DOMAIN".into()));
        }
        println!("{}", auto_line(auto));
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
