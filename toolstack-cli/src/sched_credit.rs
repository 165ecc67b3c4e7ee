//! `vsched sched-credit`: `xl sched-credit` on a simulated host file, with
//! xl's option letters, rules and table layout (`tools/xl/xl_sched.c`).

use std::path::PathBuf;

use clap::Args;
use sched_sim::{CreditDomParams, CreditGlobalParams, Scenario, Span};
use toml_edit::value;

use crate::host::{self, POOL};
use crate::xen::{self, Xen};
use crate::Failure;

#[derive(Args)]
#[command(after_help = "\
Rules (xl's): -w/-c need -d; -t/-r/-m need -s; -s and -p exclude -d/-w/-c.

Examples:
  vsched sched-credit                      list the pool and every domain
  vsched sched-credit -d web -w 512 -c 50  weight 512, cap 50% of one pCPU
  vsched sched-credit -s -t 10 -r 500      timeslice 10 ms, ratelimit 500 us")]
pub(crate) struct SchedCreditArgs {
    /// Domain, by name or ID.
    #[arg(short = 'd', long = "domain")]
    domain: Option<String>,
    /// Weight, 1..65535.
    #[arg(short = 'w', long)]
    weight: Option<i64>,
    /// Cap in percent of one pCPU, 0 = none (at most 100 per vCPU).
    #[arg(short = 'c', long)]
    cap: Option<i64>,
    /// Cpupool (a simulated host has one, Pool-0).
    #[arg(short = 'p', long = "cpupool")]
    cpupool: Option<String>,
    /// Show or set the pool's scheduler parameters.
    #[arg(short = 's', long = "schedparam")]
    schedparam: bool,
    /// Timeslice in ms, 1..1000.
    #[arg(short = 't', long = "tslice_ms")]
    tslice_ms: Option<i64>,
    /// Ratelimit in us: 0 (off) or 100..500000, at most the timeslice.
    #[arg(short = 'r', long = "ratelimit_us")]
    ratelimit_us: Option<i64>,
    /// Cache-hot migration delay in us, 0..100000.
    #[arg(short = 'm', long = "migration_delay_us")]
    migration_delay_us: Option<i64>,
    /// The host file (default: $VSCHED_HOST, then ./host.toml).
    #[arg(long, value_name = "FILE")]
    host: Option<PathBuf>,
}

pub(crate) fn run(a: &SchedCreditArgs) -> Result<(), Failure> {
    let dom_opts = a.domain.is_some() || a.weight.is_some() || a.cap.is_some();
    if (a.schedparam || a.cpupool.is_some()) && dom_opts {
        return Err(bad("-s and -p cannot be combined with -d, -w or -c"));
    }
    if a.domain.is_none() && (a.weight.is_some() || a.cap.is_some()) {
        return Err(bad("-w and -c need -d DOMAIN"));
    }
    let pool_set =
        a.tslice_ms.is_some() || a.ratelimit_us.is_some() || a.migration_delay_us.is_some();
    if pool_set && !a.schedparam {
        return Err(bad("-t, -r and -m need -s"));
    }
    let path = host::path(a.host.as_deref());
    if xen::is_xen(&path) {
        return run_xen(a, pool_set);
    }
    host::check_pool(a.cpupool.as_deref())?;

    if a.schedparam {
        if pool_set {
            host::change(&path, |sc, doc| {
                let mut p = sc.pool.credit_params();
                if let Some(t) = a.tslice_ms {
                    p.tslice = Span::ms(t);
                }
                if let Some(r) = a.ratelimit_us {
                    p.ratelimit = Span::us(r);
                }
                if let Some(m) = a.migration_delay_us {
                    p.migration_delay = Span::us(m);
                }
                p.validate().map_err(|e| {
                    let flag = match e {
                        sched_sim::ParamError::Tslice => "-t",
                        sched_sim::ParamError::MigrationDelay => "-m",
                        _ => "-r",
                    };
                    bad(&format!("{flag}: {e}"))
                })?;
                let t = host::pool_table(doc)?;
                if a.tslice_ms.is_some() {
                    t["tslice"] = value(format!("{}ms", p.tslice.as_ms()));
                }
                if a.ratelimit_us.is_some() {
                    t["ratelimit"] = value(format!("{}us", p.ratelimit.as_us()));
                }
                if a.migration_delay_us.is_some() {
                    t["migration_delay"] = value(format!("{}us", p.migration_delay.as_us()));
                }
                Ok(())
            })?;
            return Ok(());
        }
        let sc = host::load(&path)?;
        println!("{}", pool_line(&sc.pool.credit_params()));
        return Ok(());
    }

    if let Some(which) = &a.domain {
        if a.weight.is_some() || a.cap.is_some() {
            host::change(&path, |sc, doc| {
                let i = host::domain(sc, which)?;
                let d = &sc.domains[i];
                let w = a.weight.unwrap_or(i64::from(d.weight));
                let weight = u16::try_from(w)
                    .ok()
                    .filter(|&w| w > 0)
                    .ok_or_else(|| bad("-w: weight must be 1..65535"))?;
                let c = a.cap.unwrap_or(i64::from(d.cap));
                let max = 100 * i64::from(d.vcpus);
                let cap = u16::try_from(c)
                    .ok()
                    .filter(|&c| i64::from(c) <= max)
                    .ok_or_else(|| {
                        bad(&format!(
                            "-c: cap must be 0..{max} (100 per vCPU; 0 = none)"
                        ))
                    })?;
                CreditDomParams { weight, cap }
                    .validate(d.vcpus)
                    .map_err(|e| bad(&e.to_string()))?;
                let t = host::domain_table(doc, i)?;
                if a.weight.is_some() {
                    t["weight"] = value(i64::from(weight));
                }
                if a.cap.is_some() {
                    t["cap"] = value(i64::from(cap));
                }
                Ok(())
            })?;
            return Ok(());
        }
        let sc = host::load(&path)?;
        let i = host::domain(&sc, which)?;
        print!("{}", header());
        print!("{}", row(&sc, i));
        return Ok(());
    }

    let sc = host::load(&path)?;
    println!("{}", pool_line(&sc.pool.credit_params()));
    print!("{}", header());
    for i in 0..sc.domains.len() {
        print!("{}", row(&sc, i));
    }
    Ok(())
}

fn bad(msg: &str) -> Failure {
    Failure::BadInput(msg.to_string())
}

/// `xl`'s pool line (`xl_sched.c:165-183`).
pub(crate) fn pool_line(p: &CreditGlobalParams) -> String {
    pool_line_of(POOL, p)
}

fn pool_line_of(pool: &str, p: &CreditGlobalParams) -> String {
    format!(
        "Cpupool {pool}: tslice={}ms ratelimit={}us migration-delay={}us",
        p.tslice.as_ms(),
        p.ratelimit.as_us(),
        p.migration_delay.as_us()
    )
}

/// `xl`'s domain table header: `%-33s %4s %6s %4s`.
fn header() -> String {
    format!("{:<33} {:>4} {:>6} {:>4}\n", "Name", "ID", "Weight", "Cap")
}

fn row(sc: &Scenario, i: usize) -> String {
    let d = &sc.domains[i];
    row_of(&d.name, i, d.weight, d.cap)
}

fn row_of(name: &str, id: usize, weight: u16, cap: u16) -> String {
    format!("{name:<33} {id:>4} {weight:>6} {cap:>4}\n")
}

/// The same command on the running Xen (`--host xen`).
fn run_xen(a: &SchedCreditArgs, pool_set: bool) -> Result<(), Failure> {
    let x = Xen::open()?;
    let pool = a
        .cpupool
        .as_deref()
        .map(xen::pool_id)
        .transpose()?
        .unwrap_or(0);
    let line =
        |p: &xen_glue::abi::RsGlobalParams| pool_line_of(&xen::pool_name(pool), &xen_pool(p));
    let field = |flag: &str, v: i64| {
        u32::try_from(v).map_err(|_| bad(&format!("{flag}: {v} is out of the field's range")))
    };
    if a.schedparam {
        if pool_set {
            return x.change_pool(pool, |p| {
                if let Some(t) = a.tslice_ms {
                    p.tslice_ms = field("-t", t)?;
                }
                if let Some(r) = a.ratelimit_us {
                    p.ratelimit_us = field("-r", r)?;
                }
                if let Some(m) = a.migration_delay_us {
                    p.vcpu_migr_delay_us = field("-m", m)?;
                }
                Ok(())
            });
        }
        println!("{}", line(&x.pool(pool)?));
        return Ok(());
    }
    if let Some(which) = &a.domain {
        let id = xen::domid(which)?;
        if a.weight.is_some() || a.cap.is_some() {
            return x.change_dom(id, |p| {
                if let Some(w) = a.weight {
                    // 0 means "unchanged" in the domctl: refuse it here.
                    p.weight = u16::try_from(w)
                        .ok()
                        .filter(|&w| w > 0)
                        .ok_or_else(|| bad("-w: weight must be 1..65535"))?;
                }
                if let Some(c) = a.cap {
                    p.cap = u16::try_from(c)
                        .map_err(|_| bad(&format!("-c: {c} is out of the field's range")))?;
                }
                Ok(())
            });
        }
        let p = x.dom(id)?;
        print!(
            "{}{}",
            header(),
            row_of(&xen::dom_name(id), id.into(), p.weight, p.cap)
        );
        return Ok(());
    }
    println!("{}", line(&x.pool(pool)?));
    print!("{}", header());
    for (id, p) in x.domains()? {
        print!("{}", row_of(&xen::dom_name(id), id.into(), p.weight, p.cap));
    }
    Ok(())
}

fn xen_pool(p: &xen_glue::abi::RsGlobalParams) -> CreditGlobalParams {
    CreditGlobalParams {
        tslice: Span::ms(i64::from(p.tslice_ms)),
        ratelimit: Span::us(i64::from(p.ratelimit_us)),
        migration_delay: Span::us(i64::from(p.vcpu_migr_delay_us)),
        exact: false,
    }
}
