//! The Xen side of the project: build Xen 4.17 with the Rust schedulers
//! linked in (`xen-build`), audit the Rust object for panic and float paths
//! (`xen-audit`), and boot the result under QEMU with a busybox dom0
//! (`xen-smoke`).
//!
//! Everything lives under `target/xen/`:
//! - `src/<version>/`: Debian's Xen source, fetched once per version
//!   (`apt-get source xen=<version>`: the pinned `XEN_PINNED`, or a 4.17.x
//!   fallback the patch applies to when apt cannot fetch that);
//! - `build/`: a fresh copy per build, patched, with the shim and the object;
//! - `rust/`: the nightly, build-std cargo target directory of xen-glue;
//! - `out/`: `xen` (what QEMU boots), `xen-syms`, `xen.config`, `rs_glue.o`,
//!   `audit.txt`, `rs_glue.symmap` (short name -> Rust name),
//!   `xen-version.txt` (the Xen version built: pinned or fallback, and why);
//! - `linux/`: Debian's Linux image (`apt-get download` + `dpkg -x`);
//! - `initramfs/`: the dom0 initramfs; `logs/`: build and serial logs.
//!
//! Plain std, like the rest of xtask: tools are run as commands. Files:
//! `source.rs` (Debian's Xen source), `rust_obj.rs` (the Rust object),
//! `audit.rs` (its panic/float audit), `build.rs` (`xen-build`), `smoke.rs`
//! (`xen-smoke`); this file: what they share.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::env;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{root, Result};

mod audit;
mod build;
mod guests;
mod rust_obj;
mod smoke;
mod source;

pub use audit::xen_audit;
use audit::*;
pub use build::xen_build;
use build::*;
pub use guests::xen_guests;
use rust_obj::*;
pub use smoke::xen_smoke;
pub use source::xen_source;
use source::*;

const HEADER: &str = "xen-glue/c/rs_sched.h";
fn xen_dir() -> PathBuf {
    root().join("target").join("xen")
}

// ---------------------------------------------------------------------------
// Small helpers: stages with timings, commands with logs.

/// Stages run so far, with their durations, for the closing table.
struct Stages {
    start: Instant,
    done: Vec<(String, Duration, bool)>,
}

impl Stages {
    fn new() -> Stages {
        Stages {
            start: Instant::now(),
            done: Vec::new(),
        }
    }

    fn run<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        println!("==> {name}");
        let t = Instant::now();
        let r = f();
        let d = t.elapsed();
        let ok = r.is_ok();
        println!(
            "    {name}: {} in {:.1} s",
            if ok { "ok" } else { "FAILED" },
            d.as_secs_f64()
        );
        self.done.push((name.to_string(), d, ok));
        r
    }

    fn summary(&self, title: &str) {
        println!("\n{title}:");
        for (n, d, ok) in &self.done {
            println!(
                "  {n:<28} {:>7.1} s{}",
                d.as_secs_f64(),
                if *ok { "" } else { "  FAILED" }
            );
        }
        println!(
            "  {:<28} {:>7.1} s",
            "total",
            self.start.elapsed().as_secs_f64()
        );
    }
}

/// Runs `c`, its output appended to `log`; on failure the error carries the
/// log's last lines.
fn run_logged(mut c: Command, log: &Path) -> Result {
    let what = format!("{c:?}");
    if let Some(d) = log.parent() {
        fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let _ = writeln!(f, "\n$ {what}");
    let f2 = f.try_clone().map_err(|e| e.to_string())?;
    let s = c
        .stdin(Stdio::null())
        .stdout(f)
        .stderr(f2)
        .status()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if s.success() {
        return Ok(());
    }
    let text = fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "{what} failed ({s}); last lines of {}:\n{}",
        log.display(),
        tail.join("\n")
    ))
}

/// Runs `c` and returns its stdout; an error (with stderr) unless it exits 0.
fn output(mut c: Command) -> Result<String> {
    let what = format!("{c:?}");
    let o = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "{what} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// `prog` with `args` (strings or paths), cleaned like [`cmd`].
fn command<S: AsRef<std::ffi::OsStr>>(prog: &str, args: &[S]) -> Command {
    let mut c = cmd(prog);
    c.args(args);
    c
}

fn cmd(prog: &str) -> Command {
    let mut c = Command::new(prog);
    // Nothing of the outer cargo leaks into the tools (toolchain choice,
    // jobserver, flags meant for the host build).
    for v in [
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO",
    ] {
        c.env_remove(v);
    }
    c
}

/// Whether `prog` can be run (found on PATH).
fn have(prog: &str) -> bool {
    env::var_os("PATH").is_some_and(|p| env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

/// One line per missing tool, with the Debian package that has it.
fn require(tools: &[(&str, &str)]) -> Result {
    let missing: Vec<String> = tools
        .iter()
        .filter(|(t, _)| !have(t))
        .map(|(t, p)| format!("`{t}` (apt-get install {p})"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("missing tools: {}", missing.join(", ")))
    }
}

fn is_root() -> bool {
    output(command("id", &["-u"])).is_ok_and(|s| s.trim() == "0")
}

fn copy(from: &Path, to: &Path) -> Result {
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copy {} -> {}: {e}", from.display(), to.display()))
}

fn mkdirs(d: &Path) -> Result {
    fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))
}

/// Parsed options: `--key value` pairs, value-less flags, the rest.
type Opts = (HashMap<String, String>, BTreeSet<String>, Vec<String>);

/// Parses `--flag value` options; `flags` are the value-less ones.
fn parse_opts(args: &[String], with_value: &[&str], flags: &[&str]) -> Result<Opts> {
    let mut vals = HashMap::new();
    let mut set = BTreeSet::new();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some((k, v)) = a.split_once('=').filter(|(k, _)| with_value.contains(k)) {
            vals.insert(k.to_string(), v.to_string());
        } else if with_value.contains(&a.as_str()) {
            let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
            vals.insert(a.clone(), v.clone());
        } else if flags.contains(&a.as_str()) {
            set.insert(a.clone());
        } else if a.starts_with('-') {
            return Err(format!("unknown option `{a}`"));
        } else {
            rest.push(a.clone());
        }
    }
    Ok((vals, set, rest))
}

/// The hypervisor a boot runs: `--xen PATH`, else the one `xen-build` made.
fn hypervisor(vals: &HashMap<String, String>) -> Result<PathBuf> {
    let xen = vals
        .get("--xen")
        .map(PathBuf::from)
        .unwrap_or_else(|| xen_dir().join("out").join("xen"));
    if !xen.is_file() {
        return Err(format!(
            "{}: no hypervisor (cargo xtask xen-build first)",
            xen.display()
        ));
    }
    fs::canonicalize(&xen).map_err(|e| e.to_string())
}

/// Option `k` as a number, or `d` when not given.
fn num_opt(vals: &HashMap<String, String>, k: &str, d: u64) -> Result<u64> {
    vals.get(k)
        .map(|v| v.parse().map_err(|_| format!("{k} {v}: not a number")))
        .unwrap_or(Ok(d))
}

// ---------------------------------------------------------------------------
// Xen source: Debian's package, which needs a deb-src entry.
