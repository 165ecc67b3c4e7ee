//! Project automation: `cargo xtask <command>` (the alias lives in
//! `.cargo/config.toml`). A plain std binary: each command is a function in
//! [`COMMANDS`], so adding one (`ci`, `xen-build`, `qemu-boot`, ...) is adding
//! a row and a function.

#![forbid(unsafe_code)]

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

mod fuzz;
mod scale;
mod xen;
mod xenalyze;

type Result<T = ()> = std::result::Result<T, String>;

/// A command: name, usage line, one-line summary, entry point.
struct Cmd {
    name: &'static str,
    usage: &'static str,
    about: &'static str,
    run: fn(&[String]) -> Result,
}

const COMMANDS: &[Cmd] = &[
    Cmd {
        name: "help",
        usage: "help",
        about: "list the commands",
        run: help,
    },
    Cmd {
        name: "bench",
        usage: "bench [ARGS...]",
        about: "criterion benchmark of a scheduling decision (ARGS go to criterion, e.g. `--quick` or a filter)",
        run: bench,
    },
    Cmd {
        name: "bench-icount",
        usage: "bench-icount [--check] [--decisions K]",
        about: "instructions per decision under callgrind, credit engine vs Xen's sorted list; \
                --check fails if the engine's cost grows more than 1.5x from 8 to 1024 runnable",
        run: bench_icount,
    },
    Cmd {
        name: "bench-scale",
        usage: "bench-scale [--check] [--policy P]",
        about: "the simulator on generated hosts of 16, 64 and 256 pCPUs (16 vCPUs each): \
                instructions per decision under callgrind, wall time and peak memory; --check \
                fails if the cost per decision grows more than 1.5x from 16 to 256 pCPUs",
        run: scale::bench_scale,
    },
    Cmd {
        name: "xen-source",
        usage: "xen-source",
        about: "fetch Debian's Xen 4.17 source (the pinned version, else a 4.17.x fallback) into \
                target/xen/src, as xen-build does: what xen-oracle compiles Xen's own schedulers \
                from (run it before the tests on a fresh machine)",
        run: xen::xen_source,
    },
    Cmd {
        name: "xen-build",
        usage: "xen-build [--debug] [--jobs N] [--rust-obj A] [--allow-audit-failure]",
        about: "Xen 4.17 (Debian's source) with the Rust schedulers linked in, into target/xen/out/xen; \
                audits the Rust object for panic/float paths first",
        run: xen::xen_build,
    },
    Cmd {
        name: "xen-audit",
        usage: "xen-audit [OBJ_OR_ARCHIVE]",
        about: "build xen-glue for x86_64-unknown-none (or take OBJ), link it from the rs_sched_* \
                entries and list undefined symbols, panic and float paths (target/xen/out/audit.txt)",
        run: xen::xen_audit,
    },
    Cmd {
        name: "xen-smoke",
        usage: "xen-smoke [--policy P|all] [--vsched PATH] [--no-dump] [--timeout S]",
        about: "boot target/xen/out/xen under QEMU (TCG, 2 pCPUs) with a busybox dom0, once per \
                policy: scheduler in use, 2 vCPUs, 10 s of load without stalls, run-queue dump, \
                and a static vsched (built for musl unless --vsched) setting, reading back and \
                being refused dom0's parameters through /dev/xen/privcmd",
        run: xen::xen_smoke,
    },
    Cmd {
        name: "xen-guests",
        usage: "xen-guests [--policy credit,rcredit,...|all] [--pings N] [--boots N] [--out FILE] [--vsched PATH] [--timeout S]",
        about: "boot target/xen/out/xen under QEMU with a dom0 running Debian's own toolstack \
                (fetched, not installed) once per scheduler (Xen's credit, then ours): xl create, \
                list, vcpu-list, vcpu-pin, pause/unpause, sched-credit, destroy of PV guests, and \
                the vSlicer paper's ping experiment (a busy guest alone, then beside 3 busy guests \
                on pCPU 1, the pinged guest 100 % then 40 % busy), --boots N times per scheduler; \
                writes target/xen/guests/results.json (or --out FILE)",
        run: xen::xen_guests,
    },
    Cmd {
        name: "xenalyze",
        usage: "xenalyze [--test]",
        about: "Xen's trace analyser from the source xen-build used, into target/xen/out/xenalyze; \
                --test runs the test comparing its summary of a simulated run (vsched simulate \
                --trace-format xentrace) with the JSON report",
        run: xenalyze::xenalyze,
    },
    Cmd {
        name: "fuzz",
        usage: "fuzz [--seconds N] [--target T] [--seed S]",
        about: "each cargo-fuzz target in fuzz/ for N s (default 60; nightly, one process): \
                op sequences through every policy with the host's invariants as oracle, and the \
                scenario parser; libFuzzer seed S (default 1, so CI repeats itself; 0: random); \
                prints operations per second, fails on a crash",
        run: fuzz::fuzz,
    },
];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let name = args.first().map(String::as_str).unwrap_or("help");
    let name = match name {
        "-h" | "--help" => "help",
        n => n,
    };
    let Some(cmd) = COMMANDS.iter().find(|c| c.name == name) else {
        eprintln!("xtask: unknown command `{name}`\n");
        print_help();
        return ExitCode::from(2);
    };
    match (cmd.run)(args.get(1..).unwrap_or(&[])) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {}: {e}", cmd.name);
            ExitCode::FAILURE
        }
    }
}

fn print_help() {
    println!("usage: cargo xtask <command> [options]\n\ncommands:");
    for c in COMMANDS {
        println!("  {:<40} {}", c.usage, c.about);
    }
}

fn help(_: &[String]) -> Result {
    print_help();
    Ok(())
}

/// The workspace root (this crate sits one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs `c` with inherited stdio; an error unless it exits 0.
fn status(mut c: Command) -> Result {
    let what = format!("{c:?}");
    let s = c.status().map_err(|e| format!("cannot run {what}: {e}"))?;
    if s.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({s})"))
    }
}

/// `cargo bench` of one of sched-core's benches (they need the `mock` feature).
fn cargo_bench(name: &str) -> Command {
    let mut c = cargo();
    c.args([
        "bench",
        "-p",
        "sched-core",
        "--features",
        "mock",
        "--bench",
        name,
    ]);
    c
}

fn bench(args: &[String]) -> Result {
    let mut c = cargo_bench("decision");
    if !args.is_empty() {
        c.arg("--").args(args);
    }
    status(c)
}

/// Runnable vCPUs per pCPU measured (the bench binary's `SIZES`).
const SIZES: [usize; 3] = [8, 64, 1024];
/// The structures the bench binary knows: one engine per policy of the
/// registry (`NAME-engine`), then Xen's sorted-list model.
fn structures() -> Vec<String> {
    let mut s: Vec<String> = sched_core::POLICIES
        .iter()
        .map(|p| format!("{}-engine", p.name))
        .collect();
    s.push("xen-sorted-list".into());
    s
}
/// The engines (the structures of this project, whose growth is checked;
/// EDF+credit's O(log n) deadline tree stays within the limit too).
fn engines() -> usize {
    sched_core::POLICIES.len()
}
/// Allowed growth of the engine's instructions per decision from 8 to 1024.
const MAX_GROWTH: f64 = 1.5;

fn bench_icount(args: &[String]) -> Result {
    let mut check = false;
    let mut k: u64 = 100_000;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--check" => check = true,
            "--decisions" => {
                k = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&v| v > 0)
                    .ok_or("--decisions needs a positive number")?
            }
            other => return Err(format!("unknown option `{other}`")),
        }
    }

    let valgrind_ok = Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !valgrind_ok {
        return Err("valgrind not found (Debian/Ubuntu: apt-get install valgrind)".into());
    }

    let exe = build_icount_binary()?;
    let out_dir = root().join("target").join("icount");
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;

    // per[structure][size] = instructions per decision
    let structures = structures();
    let mut per = vec![[0f64; SIZES.len()]; structures.len()];
    for (si, s) in structures.iter().enumerate() {
        for (ni, n) in SIZES.iter().enumerate() {
            let base = callgrind(&exe, &out_dir, s, *n, 0)?;
            let full = callgrind(&exe, &out_dir, s, *n, k)?;
            per[si][ni] = full.saturating_sub(base) as f64 / k as f64;
        }
    }

    println!("\ninstructions per decision (do_schedule + wake), callgrind, K = {k}:\n");
    print!("{:<18}", "structure");
    for n in SIZES {
        print!("{:>12}", format!("N={n}"));
    }
    println!("{:>16}", "growth 8->1024");
    for (si, s) in structures.iter().enumerate() {
        print!("{s:<18}");
        for v in per[si] {
            print!("{v:>12.1}");
        }
        println!("{:>15.2}x", growth(&per[si]));
    }
    println!();
    for (si, s) in structures.iter().enumerate().take(engines()) {
        let g = growth(&per[si]);
        if g > MAX_GROWTH {
            let msg = format!("{s} grows {g:.2}x from N=8 to N=1024 (limit {MAX_GROWTH}x)");
            if check {
                return Err(msg);
            }
            println!("warning: {msg}");
        } else {
            println!("{s} growth {g:.2}x <= {MAX_GROWTH}x: ok");
        }
    }
    Ok(())
}

fn growth(row: &[f64; SIZES.len()]) -> f64 {
    row[SIZES.len() - 1] / row[0]
}

/// Builds the `decision_icount` bench binary (bench profile = release with
/// debug info) and returns its path, as cargo reports it.
fn build_icount_binary() -> Result<PathBuf> {
    bench_executable(cargo_bench("decision_icount"), "decision_icount")
}

/// Builds the bench `c` names (without running it) and returns the path of
/// its executable `name`.
fn bench_executable(mut c: Command, name: &str) -> Result<PathBuf> {
    c.args(["--no-run", "--message-format=json-render-diagnostics"])
        .stderr(Stdio::inherit());
    let out = c.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("building {name} failed ({})", out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\"") && l.contains(name))
        .find_map(|l| json_str(l, "executable"))
        .map(PathBuf::from)
        .ok_or_else(|| format!("cargo reported no {name} executable"))
}

/// The string value of `"key":"..."` in one line of cargo's JSON (paths
/// only need `\\` and `\"` unescaped).
fn json_str(line: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\":\"");
    let rest = &line[line.find(&pat)? + pat.len()..];
    let mut s = String::new();
    let mut chars = rest.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '"' => return Some(s),
            '\\' => s.push(chars.next()?),
            c => s.push(c),
        }
    }
    None
}

/// Runs `exe s n k` under callgrind and returns the instructions executed.
fn callgrind(exe: &Path, out_dir: &Path, s: &str, n: usize, k: u64) -> Result<u64> {
    let file = out_dir.join(format!("callgrind.{s}.{n}.{k}.out"));
    callgrind_run(exe, &file, &[s, &n.to_string(), &k.to_string()]).map(|(ir, _)| ir)
}

/// Runs `exe args` under callgrind, profile in `file`: the instructions
/// executed and what the program printed.
fn callgrind_run(exe: &Path, file: &Path, args: &[&str]) -> Result<(u64, String)> {
    let out = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", file.display()))
        .arg(exe)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run valgrind: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} {} under callgrind failed ({}):\n{}",
            exe.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let ir = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("{}: no instruction total", file.display()))?;
    Ok((ir, String::from_utf8_lossy(&out.stdout).into_owned()))
}
