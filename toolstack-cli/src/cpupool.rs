//! `vsched cpupool-*`: Xen's cpupools (`xl cpupool-list`, `-create`,
//! `-destroy`, `-cpu-add`, `-cpu-remove`), so that one of the Rust
//! schedulers can run a pool beside another scheduler's: `xl` cannot name
//! them (libxl's scheduler enum stops at `null`). Each pool is its own
//! scheduler instance in the hypervisor. A simulated host has one pool,
//! Pool-0, and only `cpupool-list` applies to it.

use std::path::PathBuf;

use clap::Args;

use crate::host;
use crate::xen::{self, Xen};
use crate::xenstore;
use crate::Failure;

/// Xen's own schedulers' ids and `sched=` names (`public/domctl.h`); ours
/// are the registry's.
const XEN_OWN: [(u32, &str); 5] = [
    (5, "credit"),
    (6, "credit2"),
    (7, "arinc653"),
    (8, "rtds"),
    (9, "null"),
];

/// The id of the scheduler Xen calls `name`, ours first.
fn sched_id(name: &str) -> Option<u32> {
    let ours = sched_core::POLICIES.iter().find(|p| p.xen_name == name);
    ours.map(|p| p.xen_id)
        .or_else(|| XEN_OWN.iter().find(|s| s.1 == name).map(|s| s.0))
}

fn sched_name(id: u32) -> String {
    match sched_core::registry::by_xen_id(id) {
        Some(p) => p.xen_name.to_string(),
        None => XEN_OWN
            .iter()
            .find(|s| s.0 == id)
            .map_or_else(|| format!("id {id}"), |s| s.1.to_string()),
    }
}

/// Where the command runs: `--host` (only `xen` for all but the listing).
#[derive(Args)]
pub(crate) struct HostArg {
    /// `xen` (default: $VSCHED_HOST, then ./host.toml).
    #[arg(long, value_name = "xen|FILE")]
    host: Option<PathBuf>,
}

impl HostArg {
    fn xen(&self) -> Result<Xen, Failure> {
        if !xen::is_xen(&host::path(self.host.as_deref())) {
            return Err(Failure::BadInput(
                "cpupools other than Pool-0 exist on a running Xen only: give --host xen".into(),
            ));
        }
        // Pools of ours may be made on a Xen booted with any scheduler.
        Xen::open_any()
    }
}

#[derive(Args)]
#[command(after_help = "\
Examples:
  vsched cpupool-list --host xen
  vsched cpupool-list                       a simulated host: Pool-0")]
pub(crate) struct ListArgs {
    #[command(flatten)]
    host: HostArg,
}

#[derive(Args)]
#[command(after_help = "\
The pCPUs are taken from the pools they are in (as xl cpupool-cpu-remove
then cpupool-cpu-add). Prints the new pool's name.

Examples:
  vsched cpupool-create --host xen --sched vslicer --cpus 1
  vsched sched-credit --host xen -p pool1 -s -t 10")]
pub(crate) struct CreateArgs {
    /// Its scheduler: rcredit, vslicer, edfcredit (or one of Xen's own).
    #[arg(long)]
    sched: String,
    /// pCPUs to move into it (e.g. 1,3).
    #[arg(long, value_delimiter = ',')]
    cpus: Vec<u32>,
    #[command(flatten)]
    host: HostArg,
}

#[derive(Args)]
#[command(after_help = "\
Example:
  vsched cpupool-destroy --host xen pool1   (its pCPUs must have been removed)")]
pub(crate) struct DestroyArgs {
    /// The pool: poolN or its id.
    pool: String,
    #[command(flatten)]
    host: HostArg,
}

#[derive(Args)]
#[command(after_help = "\
Examples:
  vsched cpupool-cpu-remove --host xen Pool-0 1
  vsched cpupool-cpu-add --host xen pool1 1")]
pub(crate) struct CpuArgs {
    /// The pool: Pool-0, poolN or its id.
    pool: String,
    /// The pCPU.
    cpu: u32,
    #[command(flatten)]
    host: HostArg,
}

/// `cpupool-list`.
pub(crate) fn list(a: &ListArgs) -> Result<(), Failure> {
    let path = host::path(a.host.host.as_deref());
    // (name, pCPUs, scheduler, domains), gathered before anything is printed.
    let rows: Vec<(String, Vec<u32>, String, usize)> = if xen::is_xen(&path) {
        Xen::open()?
            .cpupools()?
            .into_iter()
            .map(|p| {
                (
                    xen::pool_name(p.id),
                    p.cpus,
                    sched_name(p.sched_id),
                    p.n_dom as usize,
                )
            })
            .collect()
    } else {
        let sc = host::load(&path)?;
        let cpus = (0..u32::from(sc.host.pcpus)).collect();
        vec![(host::POOL.to_string(), cpus, "-".into(), sc.domains.len())]
    };
    println!(
        "{:<16} {:>4} {:<10} {:>7}  CPU list",
        "Name", "CPUs", "Sched", "Domains"
    );
    for (name, cpus, sched, doms) in rows {
        println!(
            "{name:<16} {:>4} {sched:<10} {doms:>7}  {}",
            cpus.len(),
            cpu_list(&cpus)
        );
    }
    Ok(())
}

fn cpu_list(cpus: &[u32]) -> String {
    let v: Vec<String> = cpus.iter().map(u32::to_string).collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}

/// `cpupool-create`.
pub(crate) fn create(a: &CreateArgs) -> Result<(), Failure> {
    let Some(sched_id) = sched_id(&a.sched) else {
        let xen_own: Vec<&str> = XEN_OWN.iter().map(|s| s.1).collect();
        return Err(Failure::BadInput(format!(
            "--sched {}: one of {} (or {})",
            a.sched,
            xen::xen_names().join(", "),
            xen_own.join(", ")
        )));
    };
    let mut seen = std::collections::BTreeSet::new();
    if let Some(c) = a.cpus.iter().find(|&&c| !seen.insert(c)) {
        return Err(Failure::BadInput(format!("--cpus: pCPU {c} given twice")));
    }
    let x = a.host.xen()?;
    let pools = x.cpupools()?;
    // Every pCPU must be in a pool (or free) before anything changes.
    let from: Vec<Option<u32>> = a
        .cpus
        .iter()
        .map(|&c| pools.iter().find(|p| p.cpus.contains(&c)).map(|p| p.id))
        .collect();
    let id = x.cpupool_create(sched_id)?;
    // All or nothing: a move that fails puts back what was moved and
    // destroys the new pool before reporting.
    let mut moved: Vec<(u32, Option<u32>)> = Vec::new();
    for (&cpu, from) in a.cpus.iter().zip(from) {
        let step = (|| {
            if let Some(old) = from {
                x.cpupool_remove_cpu(old, cpu)?;
            }
            x.cpupool_add_cpu(id, cpu)
        })();
        if let Err(e) = step {
            for &(c, old) in moved.iter().rev() {
                let _ = x.cpupool_remove_cpu(id, c);
                if let Some(old) = old {
                    let _ = x.cpupool_add_cpu(old, c);
                }
            }
            if let Some(old) = from {
                let _ = x.cpupool_add_cpu(old, cpu);
            }
            let _ = x.cpupool_destroy(id);
            return Err(e);
        }
        moved.push((cpu, from));
    }
    // libxl finds a pool by its xenstore name (`xl create pool=`,
    // `cpupool-migrate`, `cpupool-list`), as `xl cpupool-create` writes it.
    let name = xen::pool_name(id);
    if let Err(e) =
        xenstore::open().and_then(|mut s| s.write(&format!("/local/pool/{id}/name"), &name))
    {
        eprintln!("vsched: {name}: not named in xenstore ({e}); xl will not find it by name");
    }
    println!("{name}");
    Ok(())
}

/// `cpupool-destroy`.
pub(crate) fn destroy(a: &DestroyArgs) -> Result<(), Failure> {
    let x = a.host.xen()?;
    let id = xen::pool_id(&a.pool)?;
    if id == 0 {
        return Err(Failure::BadInput("Pool-0 cannot be destroyed".into()));
    }
    x.cpupool_destroy(id)?;
    // What cpupool-create wrote for libxl; gone with the pool.
    let _ = xenstore::open().and_then(|mut s| s.rm(&format!("/local/pool/{id}")));
    Ok(())
}

/// `cpupool-cpu-add`.
pub(crate) fn cpu_add(a: &CpuArgs) -> Result<(), Failure> {
    a.host.xen()?.cpupool_add_cpu(xen::pool_id(&a.pool)?, a.cpu)
}

/// `cpupool-cpu-remove`.
pub(crate) fn cpu_remove(a: &CpuArgs) -> Result<(), Failure> {
    a.host
        .xen()?
        .cpupool_remove_cpu(xen::pool_id(&a.pool)?, a.cpu)
}
