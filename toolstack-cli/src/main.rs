//! `vsched`: the toolstack's command line.
//!
//! One subcommand per task, as `xl` has (`xl sched-credit`, ...): today
//! `simulate`, `repro`, and the xl-style `sched-credit`, `sched-vslicer` and
//! `sched-edf` that change a simulated host file (`host.rs`), and `sweep`. Exit codes are the contract of
//! `DESIGN.md`: 0 ok, 2 bad input (exactly one line on stderr naming the file,
//! line and field; nothing on stdout), 1 internal error.
//!
//! `unsafe` is denied except in `xen.rs`, which makes Xen's hypercalls.
#![deny(unsafe_code)]

mod cpupool;
mod docs;
mod domains;
mod host;
mod net_cmd;
mod outputs;
mod plot;
mod repro;
mod sched_credit;
mod sched_edf;
mod sched_vslicer;
mod simulate;
mod sweep;
mod sweep_format;
mod sweep_merge;
mod sweep_shard;
mod table;
#[allow(unsafe_code)]
mod xen;
mod xenstore;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Xen scheduler toolstack: simulate and compare scheduling policies.
#[derive(Parser)]
#[command(
    name = "vsched",
    version,
    about,
    after_help = "\
A session, from nothing to a mixed host:
  vsched host-create --pcpus 2
  vsched create web --workload '{ kind = \"ping\", interval = \"20ms\", service = \"50us\" }'
  vsched create batch --workload '{ kind = \"cpu\", load = 1.0 }'
  vsched sched-vslicer -d web -m 5ms
  vsched sched-edf -d web -t aperiodic -D 5ms
  vsched sched-credit -d batch -w 512
  vsched simulate host.toml --policy all

The host file is --host FILE, else $VSCHED_HOST, else ./host.toml."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario file under one or more policies and report.
    Simulate(simulate::SimulateArgs),
    /// Reproduce a paper's results on the simulator: tables, claims, plots.
    Repro(repro::ReproArgs),
    /// Show or set credit weights and caps, or the pool's timeslice (xl sched-credit).
    SchedCredit(sched_credit::SchedCreditArgs),
    /// Mark domains latency-sensitive (vSlicer microslices) and show each pCPU's round.
    SchedVslicer(sched_vslicer::SchedVslicerArgs),
    /// Make domains real-time (EDF+credit deadlines), set credit reserves and the poll.
    SchedEdf(sched_edf::SchedEdfArgs),
    /// Set a domain's network limit and shaper (token bucket or smooth window).
    Net(net_cmd::NetArgs),
    /// Run a scenario over the product of parameter values, in parallel.
    Sweep(sweep::SweepArgs),
    /// Join the shards of a sweep (its --jsonl files) into the whole sweep's output.
    SweepMerge(sweep_merge::SweepMergeArgs),
    /// Create a simulated host file with its driver domain (Domain-0).
    HostCreate(domains::HostCreateArgs),
    /// Add a domain to the host (xl create).
    Create(domains::CreateArgs),
    /// Remove a domain from the host (xl destroy).
    Destroy(domains::DestroyArgs),
    /// List the host's domains and their scheduling roles (xl list).
    List(domains::ListArgs),
    /// Send debug keys to the running Xen (xl debug-keys): `r` dumps the runqueues.
    DebugKeys(DebugKeysArgs),
    /// List cpupools: name, pCPUs, scheduler, domains (xl cpupool-list).
    CpupoolList(cpupool::ListArgs),
    /// Create a cpupool run by one of the schedulers on a running Xen.
    CpupoolCreate(cpupool::CreateArgs),
    /// Destroy an empty cpupool on a running Xen.
    CpupoolDestroy(cpupool::DestroyArgs),
    /// Move a free pCPU into a cpupool on a running Xen.
    CpupoolCpuAdd(cpupool::CpuArgs),
    /// Take a pCPU out of a cpupool on a running Xen.
    CpupoolCpuRemove(cpupool::CpuArgs),
    /// Print shell completions.
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff).
    Man,
}

#[derive(clap::Args)]
#[command(after_help = "\
Only for a real Xen (in dom0). Examples:
  vsched debug-keys r --host xen     the scheduler's dump_settings and each pCPU's runqueue
  VSCHED_HOST=xen vsched debug-keys r")]
struct DebugKeysArgs {
    /// The keys, as on Xen's console (see `h`).
    keys: String,
    /// `xen` (default: $VSCHED_HOST).
    #[arg(long, value_name = "xen")]
    host: Option<std::path::PathBuf>,
}

fn debug_keys(a: &DebugKeysArgs) -> Result<(), Failure> {
    if !xen::is_xen(&host::path(a.host.as_deref())) {
        return Err(Failure::BadInput(
            "debug-keys talks to a running Xen: give --host xen".into(),
        ));
    }
    xen::Xen::open()?.debug_keys(&a.keys)
}

/// Parses `--seed` (simulate, sweep, repro): a scenario's `seed` is a TOML
/// integer, so a seed is 0..=i64::MAX, and one given on the command line is
/// one a scenario file can hold.
pub(crate) fn parse_seed(s: &str) -> Result<u64, String> {
    s.parse::<i64>()
        .ok()
        .filter(|&n| n >= 0)
        .map(i64::unsigned_abs)
        .ok_or_else(|| format!("a seed is an integer 0..={}", i64::MAX))
}

pub(crate) use toolstack_cli::{hostdoc, Failure};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            {
                let _ = e.print();
                return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
            }
            // Bad input is one line (the contract): clap's first line names
            // the flag or value; `--help` has the rest.
            let text = e.render().to_string();
            let first: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let first = first.join(" ");
            eprintln!("{} (see --help)", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Simulate(args) => simulate::run(&args),
        Command::Repro(args) => repro::run(&args),
        Command::SchedCredit(args) => sched_credit::run(&args),
        Command::SchedVslicer(args) => sched_vslicer::run(&args),
        Command::SchedEdf(args) => sched_edf::run(&args),
        Command::Net(args) => net_cmd::run(&args),
        Command::Sweep(args) => sweep::run(&args),
        Command::SweepMerge(args) => sweep_merge::run(&args),
        Command::HostCreate(args) => domains::host_create(&args),
        Command::Create(args) => domains::create(&args),
        Command::Destroy(args) => domains::destroy(&args),
        Command::List(args) => domains::list(&args),
        Command::DebugKeys(args) => debug_keys(&args),
        Command::CpupoolList(args) => cpupool::list(&args),
        Command::CpupoolCreate(args) => cpupool::create(&args),
        Command::CpupoolDestroy(args) => cpupool::destroy(&args),
        Command::CpupoolCpuAdd(args) => cpupool::cpu_add(&args),
        Command::CpupoolCpuRemove(args) => cpupool::cpu_remove(&args),
        Command::Completions(args) => docs::completions(&args),
        Command::Man => docs::man(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BadInput(line)) => {
            eprintln!("{}", line.replace('\n', " "));
            ExitCode::from(2)
        }
        Err(Failure::Internal(msg)) => {
            eprintln!("vsched: {msg}");
            ExitCode::from(1)
        }
    }
}
