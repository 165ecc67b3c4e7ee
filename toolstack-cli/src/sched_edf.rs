//! `vsched sched-edf`: make a domain periodic or aperiodic real-time with a
//! deadline, or not real-time, set its credit reservation, and show or set
//! the pool's poll period and EDF slice (seed 001), on a simulated host
//! file. Modelled on `xl sched-rtds`: a domain table, a pool line, `-s`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use sched_core::{EdfCredit, Policy};
use sched_sim::{ParamError, Scenario, Span};
use toml_edit::{value, InlineTable};

use crate::host::{self, POOL};
use crate::xen::{self, Xen};
use crate::Failure;

/// A domain's real-time type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum RtType {
    /// Not real-time (credit only).
    None,
    /// Self-initiated I/O: always in the EDF queue when runnable.
    Periodic,
    /// Event-triggered I/O: in the EDF queue when an event reaches it.
    Aperiodic,
}

#[derive(Args)]
#[command(after_help = "\
Deadlines are 100us..4s; a reserve is 0..the timeslice (CPU time set aside
per accounting period for event wakes); the poll period is 100us..100ms and
the EDF slice 100us..the timeslice. A change that would give the real-time
domains more demand (EDF slice / deadline per vCPU) than the pCPUs they may
use is refused, as the scheduler refuses it.

Examples:
  vsched sched-edf                             list domains and the pool
  vsched sched-edf -d web -t aperiodic -D 5ms  events get a 5 ms deadline
  vsched sched-edf -d web -r 2ms               reserve 2 ms of credit for I/O
  vsched sched-edf -d web -t none              credit only again
  vsched sched-edf -s -P 250us -e 500us        poll every 250 us")]
pub(crate) struct SchedEdfArgs {
    /// Domain, by name or ID.
    #[arg(short = 'd', long = "domain")]
    domain: Option<String>,
    /// Real-time type.
    #[arg(short = 't', long = "type", value_enum)]
    rt_type: Option<RtType>,
    /// Relative deadline (e.g. 5ms).
    #[arg(short = 'D', long)]
    deadline: Option<String>,
    /// Credit reserved per accounting period for event wakes (e.g. 2ms; 0 = none).
    #[arg(short = 'r', long)]
    reserve: Option<String>,
    /// Show or set the pool's EDF parameters.
    #[arg(short = 's', long = "schedparam")]
    schedparam: bool,
    /// Poll period (e.g. 500us).
    #[arg(short = 'P', long)]
    poll: Option<String>,
    /// EDF slice (e.g. 500us).
    #[arg(short = 'e', long = "edf-slice")]
    edf_slice: Option<String>,
    /// The host file (default: $VSCHED_HOST, then ./host.toml).
    #[arg(long, value_name = "FILE")]
    host: Option<PathBuf>,
}

fn bad(msg: String) -> Failure {
    Failure::BadInput(msg)
}

/// A duration flag: `0` or a number with a unit.
fn span(flag: &str, v: &str) -> Result<Span, Failure> {
    if v.trim() == "0" {
        return Ok(Span::ZERO);
    }
    sched_sim::scenario::parse_duration(v).map_err(|e| bad(format!("{flag}: {e}")))
}

pub(crate) fn run(a: &SchedEdfArgs) -> Result<(), Failure> {
    let dom_set = a.rt_type.is_some() || a.deadline.is_some() || a.reserve.is_some();
    let pool_set = a.poll.is_some() || a.edf_slice.is_some();
    if a.schedparam && (a.domain.is_some() || dom_set) {
        return Err(bad("-s cannot be combined with -d, -t, -D or -r".into()));
    }
    if dom_set && a.domain.is_none() {
        return Err(bad("-t, -D and -r need -d DOMAIN".into()));
    }
    if pool_set && !a.schedparam {
        return Err(bad("-P and -e need -s".into()));
    }
    if a.rt_type == Some(RtType::None) && a.deadline.is_some() {
        return Err(bad(
            "-D: a deadline needs -t periodic or -t aperiodic (-t none drops it)".into(),
        ));
    }
    let path = host::path(a.host.as_deref());
    if xen::is_xen(&path) {
        return run_xen(a, pool_set, dom_set);
    }

    if a.schedparam {
        if !pool_set {
            let sc = host::load(&path)?;
            println!("{}", pool_line(&sc));
            return Ok(());
        }
        let poll = a.poll.as_deref().map(|v| span("-P", v)).transpose()?;
        let slice = a.edf_slice.as_deref().map(|v| span("-e", v)).transpose()?;
        host::change(&path, |sc, doc| {
            let mut p = sc.pool.edf_params();
            p.poll = poll.unwrap_or(p.poll);
            p.edf_slice = slice.unwrap_or(p.edf_slice);
            p.validate(sc.pool.credit_params().tslice).map_err(|e| {
                let flag = if e == ParamError::PollPeriod {
                    "-P"
                } else {
                    "-e"
                };
                bad(format!("{flag}: {e}"))
            })?;
            admission(sc, p.edf_slice, None)?;
            let t = host::pool_table(doc)?;
            if poll.is_some() {
                t["poll"] = value(p.poll.to_string());
            }
            if slice.is_some() {
                t["edf_slice"] = value(p.edf_slice.to_string());
            }
            Ok(())
        })?;
        return Ok(());
    }

    let Some(which) = &a.domain else {
        let sc = host::load(&path)?;
        println!("{}", pool_line(&sc));
        print!("{}", header());
        for i in 0..sc.domains.len() {
            print!("{}", row(&sc, i));
        }
        return Ok(());
    };
    if !dom_set {
        let sc = host::load(&path)?;
        let i = host::domain(&sc, which)?;
        print!("{}{}", header(), row(&sc, i));
        return Ok(());
    }
    let deadline = a.deadline.as_deref().map(|v| span("-D", v)).transpose()?;
    let reserve = a.reserve.as_deref().map(|v| span("-r", v)).transpose()?;
    host::change(&path, |sc, doc| {
        let i = host::domain(sc, which)?;
        let mut p = sc.domains[i].edf_params();
        if let Some(t) = a.rt_type {
            p.mode = match t {
                RtType::None => sched_sim::EdfMode::None,
                RtType::Periodic => sched_sim::EdfMode::Periodic,
                RtType::Aperiodic => sched_sim::EdfMode::Aperiodic,
            };
        }
        p.deadline = deadline.unwrap_or(p.deadline);
        p.reserve = reserve.unwrap_or(p.reserve);
        p.validate(sc.pool.credit_params().tslice).map_err(|e| {
            let flag = match e {
                ParamError::Reserve => "-r",
                ParamError::DriverRealtime => "-t",
                _ => "-D",
            };
            bad(format!("{flag}: {e}"))
        })?;
        admission(sc, sc.pool.edf_params().edf_slice, Some((i, p)))?;
        let t = host::domain_table(doc, i)?;
        if p.mode == sched_sim::EdfMode::None {
            t.remove("rt");
        } else {
            let mut rt = InlineTable::new();
            let mode = if p.mode == sched_sim::EdfMode::Periodic {
                "periodic"
            } else {
                "aperiodic"
            };
            rt.insert("mode", mode.into());
            rt.insert("deadline", p.deadline.to_string().into());
            t["rt"] = value(rt);
        }
        if p.reserve == Span::ZERO {
            t.remove("reserve");
        } else {
            t["reserve"] = value(p.reserve.to_string());
        }
        Ok(())
    })?;
    Ok(())
}

/// EDF+credit's admission test over the whole host, with domain `i` given
/// `p` if any: every real-time domain counted, as if all ran at once.
fn admission(
    sc: &Scenario,
    slice: Span,
    change: Option<(usize, sched_sim::EdfDomParams)>,
) -> Result<(), Failure> {
    let rate: u64 = sc
        .domains
        .iter()
        .enumerate()
        .map(|(j, d)| {
            let p = match change {
                Some((i, p)) if i == j => p,
                _ => d.edf_params(),
            };
            sched_sim::edf_demand_rate(&p, d.vcpus)
        })
        .sum();
    let drivers = sc
        .domains
        .iter()
        .filter(|d| d.driver)
        .filter_map(|d| d.pin.as_ref().filter(|p| p.len() == 1).map(|p| p[0]))
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u32;
    sched_sim::edf_admit(rate, slice, u32::from(sc.host.pcpus), drivers)
        .map_err(|e| bad(format!("change refused: {e}")))
}

fn pool_line(sc: &Scenario) -> String {
    let p = sc.pool.edf_params();
    pool_line_of(p.poll.as_us(), p.edf_slice.as_us())
}

fn pool_line_of(poll_us: i64, slice_us: i64) -> String {
    format!(
        "Cpupool {POOL}: sched={} poll={poll_us}us edf-slice={slice_us}us",
        EdfCredit::INFO.name
    )
}

fn header() -> String {
    format!(
        "{:<33} {:>4} {:>9} {:>9} {:>9} {:>6}\n",
        "Name", "ID", "Type", "Deadline", "Reserve", "Driver"
    )
}

fn row(sc: &Scenario, i: usize) -> String {
    let p = sc.domains[i].edf_params();
    let (t, d) = match p.mode {
        sched_sim::EdfMode::None => ("-", "-".to_string()),
        sched_sim::EdfMode::Periodic => ("periodic", p.deadline.to_string()),
        sched_sim::EdfMode::Aperiodic => ("aperiodic", p.deadline.to_string()),
    };
    let r = if p.reserve == Span::ZERO {
        "-".to_string()
    } else {
        p.reserve.to_string()
    };
    row_of(&sc.domains[i].name, i, t, &d, &r, p.driver)
}

fn row_of(name: &str, id: usize, t: &str, d: &str, r: &str, driver: bool) -> String {
    let driver = if driver { "yes" } else { "no" };
    format!("{name:<33} {id:>4} {t:>9} {d:>9} {r:>9} {driver:>6}\n")
}

/// The same command on the running Xen (`--host xen`). Xen's scheduler
/// runs the admission test.
fn run_xen(a: &SchedEdfArgs, pool_set: bool, dom_set: bool) -> Result<(), Failure> {
    let x = Xen::open()?;
    x.expect(EdfCredit::INFO.xen_name, "sched-edf")?;
    let pool = |p: &xen_glue::abi::RsGlobalParams| {
        pool_line_of(i64::from(p.poll_us), i64::from(p.edf_slice_us))
    };
    let row = |id: u16, p: &xen_glue::abi::RsDomParams| {
        let t = match p.rt_mode {
            0 => "-",
            1 => "periodic",
            _ => "aperiodic",
        };
        let d = if p.rt_mode == 0 {
            "-".into()
        } else {
            xen::show_us(p.deadline_us)
        };
        row_of(
            &xen::dom_name(id),
            id.into(),
            t,
            &d,
            &xen::show_us(p.reserve_us),
            p.driver != 0,
        )
    };
    if a.schedparam {
        if pool_set {
            let poll = a.poll.as_deref().map(|v| xen::us("-P", v)).transpose()?;
            let slice = a
                .edf_slice
                .as_deref()
                .map(|v| xen::us("-e", v))
                .transpose()?;
            return x.change_pool(0, |p| {
                p.poll_us = poll.unwrap_or(p.poll_us);
                p.edf_slice_us = slice.unwrap_or(p.edf_slice_us);
                Ok(())
            });
        }
        println!("{}", pool(&x.pool(0)?));
        return Ok(());
    }
    let Some(which) = &a.domain else {
        println!("{}", pool(&x.pool(0)?));
        print!("{}", header());
        for (id, p) in x.domains()? {
            print!("{}", row(id, &p));
        }
        return Ok(());
    };
    let id = xen::domid(which)?;
    if !dom_set {
        print!("{}{}", header(), row(id, &x.dom(id)?));
        return Ok(());
    }
    let deadline = a
        .deadline
        .as_deref()
        .map(|v| xen::us("-D", v))
        .transpose()?;
    let reserve = a.reserve.as_deref().map(|v| xen::us("-r", v)).transpose()?;
    x.change_dom(id, |p| {
        if let Some(t) = a.rt_type {
            p.rt_mode = match t {
                RtType::None => 0,
                RtType::Periodic => 1,
                RtType::Aperiodic => 2,
            };
        }
        if p.rt_mode == 0 {
            p.deadline_us = 0;
        }
        p.deadline_us = deadline.unwrap_or(p.deadline_us);
        p.reserve_us = reserve.unwrap_or(p.reserve_us);
        Ok(())
    })
}
