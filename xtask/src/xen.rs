//! The Xen side of the project: build Xen 4.17 with the Rust schedulers
//! linked in (`xen-build`), audit the Rust object for panic and float paths
//! (`xen-audit`), and boot the result under QEMU with a busybox dom0
//! (`xen-smoke`).
//!
//! Everything lives under `target/xen/`:
//! - `src/`: Debian's Xen source (`apt-get source xen`), fetched once;
//! - `build/`: a fresh copy per build, patched, with the shim and the object;
//! - `rust/`: the nightly, build-std cargo target directory of xen-glue;
//! - `out/`: `xen` (what QEMU boots), `xen-syms`, `xen.config`, `rs_glue.o`,
//!   `audit.txt`, `rs_glue.symmap` (short name -> Rust name);
//! - `linux/`: Debian's Linux image (`apt-get download` + `dpkg -x`);
//! - `initramfs/`: the dom0 initramfs; `logs/`: build and serial logs.
//!
//! Plain std, like the rest of xtask: tools are run as commands.

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

/// The repository's Xen-side inputs.
const PATCH: &str = "xen-glue/xen/xen-4.17-rsched.patch";
const SHIM_DIR: &str = "xen-glue/c";
const HEADER: &str = "xen-glue/c/rs_sched.h";
const INIT: &str = "xen-glue/smoke/init";
const TOOLSTACK: &str = "xen-glue/smoke/toolstack.sh";
/// Checks `toolstack.sh` runs for each policy, at the least.
const TOOLSTACK_CHECKS: usize = 7;
/// Where the shim and the object go in Xen's tree.
const SCHED_DIR: &str = "xen/common/sched";
/// The object name the patched Makefile lists.
const GLUE_OBJ: &str = "rs_glue.o";

/// The three schedulers: policy name (`sched=`), the name Xen prints, and
/// the name the Rust core uses in its dump.
const POLICIES: [(&str, &str, &str); 3] = [
    ("rcredit", "Rust credit", "credit"),
    ("vslicer", "vSlicer", "vslicer"),
    ("edfcredit", "EDF+credit", "edf-credit"),
];

/// Rust flags for code that Xen links at 0xffff82d040000000 with no GOT and
/// no dynamic relocations (see shared/research/xen-in-qemu.md).
const RUSTFLAGS: &str = "-C relocation-model=pie -C code-model=kernel -C relro-level=off \
     -Z relax-elf-relocations=yes -Z direct-access-external-data=yes -C panic=abort";

/// Symbols Xen provides that the Rust object may leave undefined besides
/// the `rs_xen_*` services of the header.
const XEN_PROVIDES: [&str; 5] = ["memcpy", "memset", "memmove", "memcmp", "strlen"];

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

// ---------------------------------------------------------------------------
// Xen source: Debian's package, which needs a deb-src entry.

/// The unpacked source tree in `cache`, if there is one.
fn find_source(cache: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("xen-4.17"))
                && p.join("xen").join("Makefile").is_file()
        })
        .collect();
    dirs.sort();
    dirs.pop()
}

/// APT source files: (path, contents).
fn apt_sources() -> Vec<(PathBuf, String)> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    files
        .into_iter()
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".list") || n.ends_with(".sources")
        })
        .filter_map(|p| fs::read_to_string(&p).ok().map(|s| (p, s)))
        .collect()
}

/// The deb822 stanzas of a `.sources` file, as field maps (lower-case keys).
fn stanzas(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut cur = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            last = None;
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(k) = &last {
                let v: &mut String = cur.entry(k.clone()).or_default();
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            cur.insert(k.clone(), v.trim().to_string());
            last = Some(k);
        }
    }
    out
}

fn words(s: Option<&String>) -> Vec<&str> {
    s.map(|s| s.split_whitespace().collect())
        .unwrap_or_default()
}

/// Whether a stanza / list line of `kind` (deb or deb-src) serves bookworm main.
fn stanza_is(st: &BTreeMap<String, String>, kind: &str) -> bool {
    words(st.get("types")).contains(&kind)
        && words(st.get("suites")).contains(&"bookworm")
        && words(st.get("components")).contains(&"main")
        && st.get("enabled").is_none_or(|e| e.trim() != "no")
}

fn list_line_is(line: &str, kind: &str) -> bool {
    let l = line.trim();
    let mut w = l.split_whitespace();
    if w.next() != Some(kind) {
        return false;
    }
    // deb [opts] URI suite components...
    let rest: Vec<&str> = if l.contains('[') {
        l.split_once(']')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default()
    } else {
        w.collect()
    };
    rest.get(1) == Some(&"bookworm") && rest.iter().skip(2).any(|c| *c == "main")
}

fn has_deb_src() -> bool {
    apt_sources().iter().any(|(p, text)| {
        if p.to_string_lossy().ends_with(".sources") {
            stanzas(text).iter().any(|s| stanza_is(s, "deb-src"))
        } else {
            text.lines().any(|l| list_line_is(l, "deb-src"))
        }
    })
}

/// A deb-src twin of the machine's own bookworm main `deb` entry (same
/// mirror, same key): (file name, contents).
fn deb_src_twin() -> Option<(&'static str, String)> {
    for (p, text) in apt_sources() {
        if p.to_string_lossy().ends_with(".sources") {
            if let Some(s) = stanzas(&text).into_iter().find(|s| stanza_is(s, "deb")) {
                let mut t =
                    String::from("# Added by `cargo xtask xen-build` (apt-get source xen).\n");
                t.push_str("Types: deb-src\n");
                t.push_str(&format!("URIs: {}\n", s.get("uris")?));
                t.push_str("Suites: bookworm\nComponents: main\n");
                if let Some(k) = s.get("signed-by") {
                    t.push_str(&format!("Signed-By: {}\n", k.replace('\n', "\n ")));
                }
                return Some(("xtask-xen-src.sources", t));
            }
        } else if let Some(l) = text.lines().find(|l| list_line_is(l, "deb")) {
            let l = l.trim().replacen("deb", "deb-src", 1);
            return Some((
                "xtask-xen-src.list",
                format!("# Added by `cargo xtask xen-build` (apt-get source xen).\n{l}\n"),
            ));
        }
    }
    None
}

const DEB_SRC_HELP: &str = "no deb-src entry for Debian bookworm main: add a `deb-src` twin of \
     the bookworm `deb` entry in /etc/apt/sources.list.d/ (in a .sources file: `Types: deb-src`, \
     same URIs, `Suites: bookworm`, `Components: main`), then `apt-get update` \
     (as root, xen-build adds it itself)";

/// Makes sure `apt-get source` can work: adds the deb-src entry when root.
fn ensure_deb_src(log: &Path) -> Result {
    if has_deb_src() {
        return Ok(());
    }
    if !is_root() {
        return Err(DEB_SRC_HELP.into());
    }
    let (name, text) = deb_src_twin().ok_or(DEB_SRC_HELP)?;
    let path = Path::new("/etc/apt/sources.list.d").join(name);
    fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!(
        "    added {} (deb-src for bookworm main); running apt-get update",
        path.display()
    );
    run_logged(command("apt-get", &["update"]), log)
}

/// The unpacked Xen 4.17 source in the cache, fetched if needed.
fn fetch_source(log: &Path) -> Result<PathBuf> {
    let cache = xen_dir().join("src");
    if let Some(d) = find_source(&cache) {
        println!("    cached: {}", d.display());
        return Ok(d);
    }
    require(&[("apt-get", "apt"), ("dpkg-source", "dpkg-dev")])?;
    ensure_deb_src(log)?;
    mkdirs(&cache)?;
    let get = || {
        let mut c = cmd("apt-get");
        c.args(["source", "xen"]).current_dir(&cache);
        run_logged(c, log)
    };
    if let Err(e) = get() {
        // A deb-src entry whose index was never fetched: update once.
        if !is_root() {
            return Err(format!(
                "{e}\n(if the deb-src entry is new: apt-get update)"
            ));
        }
        run_logged(command("apt-get", &["update"]), log)?;
        get()?;
    }
    let d = find_source(&cache).ok_or("apt-get source xen left no xen-4.17* tree")?;
    println!("    fetched: {}", d.display());
    Ok(d)
}

// ---------------------------------------------------------------------------
// The Rust object.

/// The `rs_sched_*` entry points the header declares (the link roots).
fn entries() -> Result<Vec<String>> {
    let h = root().join(HEADER);
    let text = fs::read_to_string(&h).map_err(|e| format!("{}: {e}", h.display()))?;
    let mut set = BTreeSet::new();
    for (i, _) in text.match_indices("rs_sched_") {
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if text[i + name.len()..].starts_with('(') {
            set.insert(name);
        }
    }
    if set.is_empty() {
        return Err(format!("{}: no rs_sched_* entry points", h.display()));
    }
    Ok(set.into_iter().collect())
}

/// The `rs_xen_*` services the header declares (allowed undefined symbols).
fn services() -> Result<BTreeSet<String>> {
    let h = root().join(HEADER);
    let text = fs::read_to_string(&h).map_err(|e| format!("{}: {e}", h.display()))?;
    Ok(text
        .match_indices("rs_xen_")
        .map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect())
}

/// Builds xen-glue (or the crate at `manifest`) as a staticlib for
/// x86_64-unknown-none with nightly build-std; returns the archive.
fn build_rust(manifest: Option<&Path>, log: &Path) -> Result<PathBuf> {
    require(&[("rustup", "rustup (https://rustup.rs)")])?;
    let installed = output(command(
        "rustup",
        &["component", "list", "--toolchain", "nightly", "--installed"],
    ))
    .map_err(|e| format!("{e}\n(needs a nightly toolchain: rustup toolchain install nightly)"))?;
    if !installed.lines().any(|l| l.starts_with("rust-src")) {
        return Err(
            "nightly has no rust-src: rustup component add rust-src --toolchain nightly".into(),
        );
    }
    let target_dir = xen_dir().join("rust");
    let mut c = cmd("rustup");
    c.args(["run", "nightly", "cargo", "rustc"]);
    match manifest {
        Some(m) => {
            c.arg("--manifest-path").arg(m);
        }
        None => {
            c.args(["-p", "xen-glue"]);
        }
    }
    c.args([
        "--release",
        "--target",
        "x86_64-unknown-none",
        "-Z",
        "build-std=core,compiler_builtins",
        "--crate-type",
        "staticlib",
    ])
    .env("CARGO_TARGET_DIR", &target_dir)
    .env("RUSTFLAGS", RUSTFLAGS)
    .current_dir(root());
    run_logged(c, log)?;
    let a = target_dir
        .join("x86_64-unknown-none")
        .join("release")
        .join(format!("lib{}.a", lib_name(manifest)?));
    if a.is_file() {
        Ok(a)
    } else {
        Err(format!("cargo left no {}", a.display()))
    }
}

/// The library name of xen-glue, or of the crate at `manifest`.
fn lib_name(manifest: Option<&Path>) -> Result<String> {
    let Some(m) = manifest else {
        return Ok("xen_glue".into());
    };
    let text = fs::read_to_string(m).map_err(|e| format!("{}: {e}", m.display()))?;
    let mut section = String::new();
    let mut names: HashMap<String, String> = HashMap::new();
    for l in text.lines() {
        let l = l.trim();
        if l.starts_with('[') {
            section = l.to_string();
        } else if let Some(v) = l.strip_prefix("name").map(str::trim_start) {
            if let Some(v) = v.strip_prefix('=') {
                names.insert(section.clone(), v.trim().trim_matches('"').to_string());
            }
        }
    }
    names
        .get("[lib]")
        .or_else(|| names.get("[package]"))
        .map(|n| n.replace('-', "_"))
        .ok_or_else(|| format!("{}: no package name", m.display()))
}

/// `ld -r --gc-sections` of `input` (archive or object) from the entry
/// points: one object holding exactly the code they reach.
fn prelink(input: &Path, out: &Path, log: &Path) -> Result {
    let mut c = cmd("ld");
    c.args(["-r", "--gc-sections"]);
    for e in entries()? {
        c.arg("-u").arg(e);
    }
    c.arg("-o").arg(out).arg(input);
    run_logged(c, log)
}

/// A name Xen's symbol tools and `%ps` can take (they assume < 128 bytes
/// and plain characters): `rs.<demangled path, shortened>.<n>`. Generic
/// arguments go; of `<T as Trait>::f` the qualified self stays (its own
/// generic arguments go too).
fn short_name(demangled: &str, n: usize) -> String {
    let d = pretty(demangled);
    let mut s = String::new();
    let mut depth = 0usize;
    let mut qual = false;
    for (i, c) in d.char_indices() {
        match c {
            '<' => {
                if i == 0 {
                    qual = true;
                }
                depth += 1;
            }
            '>' => {
                depth = depth.saturating_sub(1);
                if depth == 0 && qual {
                    qual = false;
                    s.push('.');
                }
            }
            _ if depth == 0 || (qual && depth == 1) => s.push(c),
            _ => {}
        }
    }
    let clean: String = s
        .replace(" as ", ".as.")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Keep the end of the path (the function), at most 90 characters.
    let v: Vec<char> = clean.chars().collect();
    let tail: String = v[v.len().saturating_sub(90)..].iter().collect();
    format!("rs.{tail}.{n}")
}

/// The linked object: Rust symbols localised (only `rs_sched_*` stay
/// global), Rust names shortened (a map is kept), compiler_builtins' copies
/// of Xen's string functions localised, non-loadable compiler sections gone.
fn finish_object(gc: &Path, out: &Path, symmap: &Path) -> Result {
    let syms = read_symbols(gc)?;
    let mut redefine = String::new();
    let mut map = String::new();
    let mut n = 0usize;
    let mut seen = BTreeSet::new();
    for s in syms
        .iter()
        .filter(|s| s.ndx.is_some() && !s.name.is_empty())
    {
        if (s.name.starts_with("_R") || s.name.starts_with("_ZN")) && seen.insert(s.name.clone()) {
            n += 1;
            let new = short_name(&s.demangled, n);
            redefine.push_str(&format!("{} {new}\n", s.name));
            map.push_str(&format!("{new} {}\n", s.demangled));
        }
    }
    let redef = out.with_extension("redefine");
    fs::write(&redef, redefine).map_err(|e| format!("{}: {e}", redef.display()))?;
    fs::write(symmap, map).map_err(|e| format!("{}: {e}", symmap.display()))?;
    let mut c = cmd("objcopy");
    c.arg("--wildcard").arg("--keep-global-symbol=rs_sched_*");
    for s in XEN_PROVIDES {
        c.arg("-L").arg(s);
    }
    c.args(["-R", ".comment", "-R", ".llvmbc", "-R", ".llvmcmd"])
        .arg(format!("--redefine-syms={}", redef.display()))
        .arg(gc)
        .arg(out);
    output(c)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// The audit: what the linked object can reach.

#[derive(Debug, Clone)]
struct Sym {
    name: String,
    demangled: String,
    kind: String,
    /// Section index; None = undefined.
    ndx: Option<usize>,
}

/// The byte offset of whitespace-separated field `n` (0-based) of `l`.
fn field_start(l: &str, n: usize) -> Option<usize> {
    let mut count = 0;
    let mut in_field = false;
    for (i, c) in l.char_indices() {
        if c.is_whitespace() {
            in_field = false;
        } else if !in_field {
            if count == n {
                return Some(i);
            }
            count += 1;
            in_field = true;
        }
    }
    None
}

/// `readelf -sW` (plain and demangled), index for index.
fn read_symbols(obj: &Path) -> Result<Vec<Sym>> {
    let plain = output(command("readelf", &[Path::new("-sW"), obj]))?;
    let dem = output(command(
        "readelf",
        &[Path::new("-sW"), Path::new("-C"), obj],
    ))?;
    let parse = |text: &str| -> BTreeMap<usize, (String, String, Option<usize>)> {
        let mut m = BTreeMap::new();
        for l in text.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            // Num: Value Size Type Bind Vis Ndx [Name...]
            if f.len() < 7 || !f[0].ends_with(':') {
                continue;
            }
            let Ok(num) = f[0].trim_end_matches(':').parse::<usize>() else {
                continue;
            };
            let ndx = f[6].parse::<usize>().ok();
            // Demangled names may hold spaces: everything from field 8 on.
            let name = field_start(l, 7)
                .map(|i| l[i..].trim().to_string())
                .unwrap_or_default();
            m.insert(num, (f[3].to_string(), name, ndx));
        }
        m
    };
    let p = parse(&plain);
    let d = parse(&dem);
    Ok(p.into_iter()
        .map(|(num, (kind, name, ndx))| Sym {
            demangled: d
                .get(&num)
                .map(|x| x.1.clone())
                .unwrap_or_else(|| name.clone()),
            name,
            kind,
            ndx,
        })
        .collect())
}

/// Section headers: index -> (name, type, info).
fn read_sections(obj: &Path) -> Result<BTreeMap<usize, (String, String, usize)>> {
    let text = output(command("readelf", &[Path::new("-SW"), obj]))?;
    let mut m = BTreeMap::new();
    for l in text.lines() {
        let l = l.trim_start();
        let Some(rest) = l.strip_prefix('[') else {
            continue;
        };
        let Some((num, rest)) = rest.split_once(']') else {
            continue;
        };
        let Ok(num) = num.trim().parse::<usize>() else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        // Name Type Address Off Size ES [Flg] Lk Inf Al
        let info = f[f.len() - 2].parse().unwrap_or(0);
        m.insert(num, (f[0].to_string(), f[1].to_string(), info));
    }
    Ok(m)
}

/// Relocations: target section name (the part after `.rela`) -> symbol indices.
fn read_relocs(obj: &Path) -> Result<Vec<(String, Vec<usize>)>> {
    let text = output(command("readelf", &[Path::new("-rW"), obj]))?;
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("Relocation section '") {
            let name = rest.split('\'').next().unwrap_or("");
            out.push((name.to_string(), Vec::new()));
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 3 && f[2].starts_with("R_X86_64_") {
            if let (Some(cur), Ok(info)) = (out.last_mut(), u64::from_str_radix(f[1], 16)) {
                cur.1.push((info >> 32) as usize);
            }
        }
    }
    Ok(out)
}

fn is_panic_name(d: &str) -> bool {
    const PATS: [&str; 16] = [
        "core::panicking",
        "panic_fmt",
        "panic_bounds_check",
        "rust_begin_unwind",
        "panic_nounwind",
        "panic_const",
        "unwrap_failed",
        "expect_failed",
        "slice_start_index_len_fail",
        "slice_end_index_len_fail",
        "slice_index_order_fail",
        "str_index_overflow_fail",
        "assert_failed",
        "core::panic::",
        "panic_in_cleanup",
        "panic_misaligned",
    ];
    PATS.iter().any(|p| d.contains(p)) || d == "rs_xen_panic"
}

fn is_float_name(d: &str) -> bool {
    const PRE: [&str; 17] = [
        "__add", "__sub", "__mul", "__div", "__neg", "__pow", "__cmp", "__eq", "__ne", "__lt",
        "__le", "__gt", "__ge", "__unord", "__fix", "__float", "__extend",
    ];
    const LIBM: [&str; 14] = [
        "sqrt", "sqrtf", "floor", "floorf", "ceil", "ceilf", "fmod", "fmodf", "fma", "fmaf", "pow",
        "powf", "exp", "log",
    ];
    let soft = (PRE.iter().any(|p| d.starts_with(p)) || d.starts_with("__trunc"))
        && ["sf", "df", "tf", "xf", "hf"].iter().any(|t| d.contains(t));
    soft || LIBM.contains(&d)
        || d.contains("core::fmt::float")
        || d.contains("flt2dec")
        || d.contains("dec2flt")
        || d.contains("<f64")
        || d.contains("<f32")
        || d.contains("core::f64")
        || d.contains("core::f32")
}

/// Short display of a demangled name (no crate hashes).
fn pretty(d: &str) -> String {
    let mut s = String::new();
    let mut chars = d.chars();
    while let Some(c) = chars.next() {
        if c == '[' {
            for c2 in chars.by_ref() {
                if c2 == ']' {
                    break;
                }
            }
        } else {
            s.push(c);
        }
    }
    s
}

/// Audits `obj` (the gc-linked object before renaming). Writes the report to
/// `report` and fails on any reachable panic or float path, any undefined
/// symbol Xen does not provide, or any SSE/x87 instruction.
fn audit(obj: &Path, report: &Path) -> Result {
    let syms = read_symbols(obj)?;
    let secs = read_sections(obj)?;
    let relocs = read_relocs(obj)?;
    let allowed: BTreeSet<String> = services()?
        .into_iter()
        .chain(XEN_PROVIDES.iter().map(|s| s.to_string()))
        .collect();
    let entry_names: BTreeSet<String> = entries()?.into_iter().collect();

    // Graph: node = section index (defined code/data) or undefined symbol.
    #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
    enum Node {
        Sec(usize),
        Und(String),
    }
    let name_to_sec: HashMap<&str, usize> =
        secs.iter().map(|(i, (n, _, _))| (n.as_str(), *i)).collect();
    let mut edges: BTreeMap<usize, BTreeSet<Node>> = BTreeMap::new();
    for (rela, targets) in &relocs {
        // `.rela<target>`; the section table's Inf field is authoritative.
        let src = name_to_sec
            .get(rela.as_str())
            .and_then(|i| secs.get(i))
            .map(|x| x.2)
            .or_else(|| {
                rela.strip_prefix(".rela")
                    .and_then(|t| name_to_sec.get(t).copied())
            });
        let Some(src) = src else { continue };
        let src_name = &secs.get(&src).map(|x| x.0.clone()).unwrap_or_default();
        if src_name.starts_with(".debug") {
            continue;
        }
        for &si in targets {
            let Some(s) = syms.get(si) else { continue };
            let node = match s.ndx {
                Some(n) => Node::Sec(n),
                None => Node::Und(s.name.clone()),
            };
            edges.entry(src).or_default().insert(node);
        }
    }
    // Functions / objects per section, for naming.
    let mut in_sec: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for s in &syms {
        if let Some(n) = s.ndx {
            if (s.kind == "FUNC" || s.kind == "OBJECT") && !s.name.is_empty() {
                in_sec.entry(n).or_default().push(pretty(&s.demangled));
            }
        }
    }
    let node_name = |n: &Node| -> String {
        match n {
            Node::Und(s) => format!("{} (undefined)", pretty(s)),
            Node::Sec(i) => in_sec
                .get(i)
                .and_then(|v| v.first().cloned())
                .unwrap_or_else(|| secs.get(i).map(|x| x.0.clone()).unwrap_or_default()),
        }
    };
    // BFS from the entry points.
    let mut parent: BTreeMap<Node, Option<Node>> = BTreeMap::new();
    let mut q = VecDeque::new();
    for s in syms.iter().filter(|s| entry_names.contains(&s.name)) {
        if let Some(n) = s.ndx {
            let node = Node::Sec(n);
            if !parent.contains_key(&node) {
                parent.insert(node.clone(), None);
                q.push_back(node);
            }
        }
    }
    let found_entries: BTreeSet<&String> = syms
        .iter()
        .filter(|s| s.ndx.is_some() && entry_names.contains(&s.name))
        .map(|s| &s.name)
        .collect();
    let missing_entries: Vec<&String> = entry_names
        .iter()
        .filter(|e| !found_entries.contains(e))
        .collect();
    while let Some(n) = q.pop_front() {
        if let Node::Sec(i) = n {
            for m in edges.get(&i).into_iter().flatten() {
                if !parent.contains_key(m) {
                    parent.insert(m.clone(), Some(n.clone()));
                    q.push_back(m.clone());
                }
            }
        }
    }
    let path_to = |n: &Node| -> String {
        let mut chain = vec![node_name(n)];
        let mut cur = n.clone();
        while let Some(Some(p)) = parent.get(&cur) {
            chain.push(node_name(p));
            cur = p.clone();
        }
        chain.reverse();
        chain.join("\n        -> ")
    };
    // Who references a node directly.
    let referrers = |n: &Node| -> Vec<String> {
        let mut v: Vec<String> = edges
            .iter()
            .filter(|(s, ts)| ts.contains(n) && parent.contains_key(&Node::Sec(**s)))
            .map(|(s, _)| node_name(&Node::Sec(*s)))
            .collect();
        v.sort();
        v.dedup();
        v
    };

    // Classify every reachable node.
    let mut undefined = Vec::new();
    let mut bad_und = Vec::new();
    let mut panics = Vec::new();
    let mut floats = Vec::new();
    for n in parent.keys() {
        let names: Vec<String> = match n {
            Node::Und(s) => vec![s.clone()],
            Node::Sec(i) => {
                let mut v: Vec<String> = syms
                    .iter()
                    .filter(|s| s.ndx == Some(*i) && !s.name.is_empty())
                    .map(|s| s.demangled.clone())
                    .collect();
                v.extend(secs.get(i).map(|x| x.0.clone()));
                v
            }
        };
        if let Node::Und(s) = n {
            undefined.push(s.clone());
            if !allowed.contains(s) {
                bad_und.push(n.clone());
            }
        }
        if names.iter().any(|d| is_panic_name(d)) {
            panics.push(n.clone());
        }
        if names.iter().any(|d| is_float_name(d)) {
            floats.push(n.clone());
        }
    }
    // SSE / x87 / MMX instructions in the code (Xen does not save that state).
    let dis = output(command(
        "objdump",
        &[Path::new("-d"), Path::new("--no-show-raw-insn"), obj],
    ))?;
    let mut fpu_insns = Vec::new();
    let mut cur_fn = String::new();
    for l in dis.lines() {
        if l.ends_with(">:") {
            cur_fn = l
                .split('<')
                .nth(1)
                .unwrap_or("")
                .trim_end_matches(">:")
                .to_string();
        } else if ["%xmm", "%ymm", "%zmm", "%st", "%mm"]
            .iter()
            .any(|r| l.contains(r))
        {
            fpu_insns.push(format!("{cur_fn}: {}", l.trim()));
        }
    }

    let text_bytes: u64 = {
        let size = output(command("size", &[obj])).unwrap_or_default();
        size.lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let nfuncs = syms
        .iter()
        .filter(|s| s.kind == "FUNC" && s.ndx.is_some())
        .count();
    let mut r = String::new();
    r.push_str(&format!(
        "Rust object audit: {}\n{} functions, {} bytes of text, {} reachable sections/symbols from {} entry points\n\n",
        obj.display(),
        nfuncs,
        text_bytes,
        parent.len(),
        found_entries.len()
    ));
    r.push_str("undefined symbols referenced:\n");
    for u in &undefined {
        let ok = allowed.contains(u);
        r.push_str(&format!(
            "  {u}{}\n",
            if ok { "" } else { "   <-- not provided by Xen" }
        ));
    }
    if !missing_entries.is_empty() {
        r.push_str(&format!(
            "\nentry points missing from the object: {missing_entries:?}\n"
        ));
    }
    let section = |title: &str, v: &[Node], r: &mut String| {
        r.push_str(&format!(
            "\n{title}: {}\n",
            if v.is_empty() { "none" } else { "" }
        ));
        for n in v {
            r.push_str(&format!("  {}\n", node_name(n)));
            for f in referrers(n) {
                r.push_str(&format!("      referenced by {f}\n"));
            }
            r.push_str(&format!("      path: {}\n", path_to(n)));
        }
    };
    section("reachable panic paths", &panics, &mut r);
    section("reachable float symbols", &floats, &mut r);
    section("undefined symbols Xen does not provide", &bad_und, &mut r);
    r.push_str(&format!(
        "\nSSE/x87/MMX instructions: {}\n",
        if fpu_insns.is_empty() {
            "none".to_string()
        } else {
            fpu_insns.len().to_string()
        }
    ));
    for l in fpu_insns.iter().take(50) {
        r.push_str(&format!("  {l}\n"));
    }
    fs::write(report, &r).map_err(|e| format!("{}: {e}", report.display()))?;

    let fail = !panics.is_empty()
        || !floats.is_empty()
        || !bad_und.is_empty()
        || !fpu_insns.is_empty()
        || !missing_entries.is_empty();
    // Short form on the terminal; the whole report is in the file.
    println!(
        "    {nfuncs} functions, {text_bytes} bytes of text; undefined: {}",
        undefined.join(" ")
    );
    println!(
        "    panic paths: {}, float symbols: {}, foreign undefined: {}, FPU instructions: {}, missing entries: {}",
        panics.len(),
        floats.len(),
        bad_und.len(),
        fpu_insns.len(),
        missing_entries.len()
    );
    if fail {
        let mut lines: Vec<&str> = r.lines().collect();
        lines.truncate(120);
        println!("{}", lines.join("\n"));
        return Err(format!("audit failed; report: {}", report.display()));
    }
    println!("    report: {}", report.display());
    Ok(())
}

/// After the final link: the entry points are in xen-syms and nothing there
/// is a Rust panic path.
fn check_xen_syms(syms: &Path) -> Result {
    let text = output(command("nm", &[syms]))?;
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let missing: Vec<String> = entries()?
        .into_iter()
        .filter(|e| !names.contains(&e.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(format!("xen-syms lacks {missing:?}"));
    }
    let bad: Vec<&&str> = names
        .iter()
        .filter(|n| {
            n.starts_with("rs.") && (n.contains("panicking") || n.contains("unwrap_failed"))
        })
        .collect();
    if !bad.is_empty() {
        return Err(format!("xen-syms holds Rust panic code: {bad:?}"));
    }
    let long = names.iter().filter(|n| n.len() >= 128).count();
    let rust = names.iter().filter(|n| n.starts_with("rs.")).count();
    println!(
        "    xen-syms: {} rs_sched_* entries, {rust} Rust symbols, {long} names >= 128 bytes",
        entries()?.len()
    );
    if long > 0 {
        return Err(format!(
            "{long} symbol names of 128 bytes or more in xen-syms (Xen's %ps buffer)"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// xen-build, xen-audit

struct BuildOpts {
    rust_obj: Option<PathBuf>,
    glue_manifest: Option<PathBuf>,
    debug: bool,
    jobs: String,
    allow_audit_failure: bool,
}

/// The Rust object: built (or given), gc-linked, audited, finished.
/// Returns the finished object in `out/`.
fn rust_stages(st: &mut Stages, o: &BuildOpts, logs: &Path) -> Result<PathBuf> {
    let out = xen_dir().join("out");
    mkdirs(&out)?;
    let archive = match &o.rust_obj {
        Some(p) => {
            println!("==> rust object: given {}", p.display());
            p.clone()
        }
        None => st.run("rust (nightly, build-std)", || {
            build_rust(o.glue_manifest.as_deref(), &logs.join("rust.log"))
        })?,
    };
    let gc = out.join("rs_glue.gc.o");
    st.run("prelink (ld -r --gc-sections)", || {
        prelink(&archive, &gc, &logs.join("rust.log"))
    })?;
    let audited = st.run("audit (panic/float paths)", || {
        audit(&gc, &out.join("audit.txt"))
    });
    if let Err(e) = audited {
        if !o.allow_audit_failure {
            return Err(e);
        }
        println!("    (--allow-audit-failure: going on)");
    }
    let obj = out.join(GLUE_OBJ);
    st.run("objcopy (localise, rename)", || {
        finish_object(&gc, &obj, &out.join("rs_glue.symmap"))
    })?;
    Ok(obj)
}

fn build_opts(args: &[String]) -> Result<BuildOpts> {
    let (vals, flags, rest) = parse_opts(
        args,
        &["--rust-obj", "--glue-manifest", "--jobs"],
        &["--debug", "--allow-audit-failure"],
    )?;
    if let Some(r) = rest.first() {
        return Err(format!("unexpected argument `{r}`"));
    }
    let path = |k: &str| -> Result<Option<PathBuf>> {
        match vals.get(k) {
            None => Ok(None),
            Some(v) => fs::canonicalize(v)
                .map(Some)
                .map_err(|e| format!("{k} {v}: {e}")),
        }
    };
    Ok(BuildOpts {
        rust_obj: path("--rust-obj")?,
        glue_manifest: path("--glue-manifest")?,
        debug: flags.contains("--debug"),
        jobs: vals.get("--jobs").cloned().unwrap_or_else(|| {
            thread::available_parallelism()
                .map(|n| n.get().to_string())
                .unwrap_or_else(|_| "2".into())
        }),
        allow_audit_failure: flags.contains("--allow-audit-failure"),
    })
}

/// `cargo xtask xen-build`.
pub fn xen_build(args: &[String]) -> Result {
    let o = build_opts(args)?;
    require(&[
        ("make", "make"),
        ("gcc", "gcc"),
        ("bison", "bison"),
        ("flex", "flex"),
        ("patch", "patch"),
        ("python3", "python3"),
        ("ld", "binutils"),
        ("objcopy", "binutils"),
        ("readelf", "binutils"),
        ("objdump", "binutils"),
        ("nm", "binutils"),
    ])?;
    let dir = xen_dir();
    let logs = dir.join("logs");
    mkdirs(&logs)?;
    for f in ["xen-build.log", "rust.log"] {
        let _ = fs::remove_file(logs.join(f));
    }
    let log = logs.join("xen-build.log");
    let mut st = Stages::new();

    let r = (|| -> Result {
        let src = st.run("source (apt-get source xen)", || fetch_source(&log))?;
        let obj = rust_stages(&mut st, &o, &logs)?;
        let build = dir.join("build");
        st.run("tree (copy, patch, shim)", || {
            if build.exists() {
                fs::remove_dir_all(&build).map_err(|e| format!("{}: {e}", build.display()))?;
            }
            let mut c = cmd("cp");
            c.arg("-a").arg(&src).arg(&build);
            run_logged(c, &log)?;
            let mut c = cmd("patch");
            c.args([
                "-p1",
                "--forward",
                "--batch",
                "--no-backup-if-mismatch",
                "-i",
            ])
            .arg(root().join(PATCH))
            .current_dir(&build);
            run_logged(c, &log)?;
            let sched = build.join(SCHED_DIR);
            for e in fs::read_dir(root().join(SHIM_DIR)).map_err(|e| e.to_string())? {
                let p = e.map_err(|e| e.to_string())?.path();
                if p.extension().is_some_and(|x| x == "c" || x == "h") {
                    copy(&p, &sched.join(p.file_name().unwrap_or_default()))?;
                }
            }
            copy(&obj, &sched.join(GLUE_OBJ))
        })?;
        st.run("config (defconfig + ours)", || {
            let mut c = cmd("make");
            c.args(["-C", "xen", "defconfig"]).current_dir(&build);
            run_logged(c, &log)?;
            let cfg = build.join("xen").join(".config");
            let mut text =
                fs::read_to_string(&cfg).map_err(|e| format!("{}: {e}", cfg.display()))?;
            let mut want = vec![
                "CONFIG_EXPERT=y",
                "CONFIG_SCHED_RCREDIT=y",
                "CONFIG_SCHED_VSLICER=y",
                "CONFIG_SCHED_EDFCREDIT=y",
            ];
            if o.debug {
                want.push("CONFIG_DEBUG=y");
            }
            for w in &want {
                text.push_str(w);
                text.push('\n');
            }
            fs::write(&cfg, text).map_err(|e| format!("{}: {e}", cfg.display()))?;
            let mut c = cmd("make");
            c.args(["-C", "xen", "olddefconfig"]).current_dir(&build);
            run_logged(c, &log)?;
            let text = fs::read_to_string(&cfg).map_err(|e| format!("{}: {e}", cfg.display()))?;
            let lost: Vec<&&str> = want
                .iter()
                .filter(|w| !text.lines().any(|l| l == **w))
                .collect();
            if !lost.is_empty() {
                return Err(format!("Kconfig dropped {lost:?} (see {})", cfg.display()));
            }
            Ok(())
        })?;
        st.run(&format!("make -C xen -j{}", o.jobs), || {
            let mut c = cmd("make");
            c.args(["-C", "xen", &format!("-j{}", o.jobs)])
                .current_dir(&build);
            run_logged(c, &log)
        })?;
        st.run("out (copy, check xen-syms)", || {
            let out = dir.join("out");
            let x = build.join("xen");
            copy(&x.join("xen"), &out.join("xen"))?;
            copy(&x.join("xen-syms"), &out.join("xen-syms"))?;
            copy(&x.join(".config"), &out.join("xen.config"))?;
            check_xen_syms(&out.join("xen-syms"))
        })?;
        Ok(())
    })();
    st.summary("xen-build");
    match r {
        Ok(()) => {
            println!(
                "\nhypervisor: {}\nbuild log: {}",
                dir.join("out").join("xen").display(),
                log.display()
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// `cargo xtask xen-audit [OBJ]`: the Rust stages only (no Xen tree).
pub fn xen_audit(args: &[String]) -> Result {
    let (vals, flags, rest) = parse_opts(args, &["--glue-manifest"], &[])?;
    let _ = flags;
    let mut o = build_opts(&[])?;
    if let Some(p) = rest.first() {
        o.rust_obj = Some(fs::canonicalize(p).map_err(|e| format!("{p}: {e}"))?);
    }
    if let Some(m) = vals.get("--glue-manifest") {
        o.glue_manifest = Some(fs::canonicalize(m).map_err(|e| format!("{m}: {e}"))?);
    }
    require(&[
        ("ld", "binutils"),
        ("objcopy", "binutils"),
        ("readelf", "binutils"),
        ("objdump", "binutils"),
    ])?;
    let logs = xen_dir().join("logs");
    mkdirs(&logs)?;
    let _ = fs::remove_file(logs.join("rust.log"));
    let mut st = Stages::new();
    let r = rust_stages(&mut st, &o, &logs);
    st.summary("xen-audit");
    r.map(|obj| println!("\nlinked object: {}", obj.display()))
}

// ---------------------------------------------------------------------------
// xen-smoke

/// Debian's Linux 6.1 amd64 image, unpacked: (vmlinuz, modules dir).
fn fetch_linux(log: &Path) -> Result<(PathBuf, PathBuf)> {
    let dir = xen_dir().join("linux");
    let unpacked = dir.join("root");
    let find = || -> Option<(PathBuf, PathBuf)> {
        let boot = unpacked.join("boot");
        let mut k: Vec<PathBuf> = fs::read_dir(&boot)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("vmlinuz-6.1"))
            })
            .collect();
        k.sort();
        let k = k.pop()?;
        let ver = k
            .file_name()?
            .to_str()?
            .strip_prefix("vmlinuz-")?
            .to_string();
        Some((k, unpacked.join("lib").join("modules").join(ver)))
    };
    if let Some(r) = find() {
        println!("    cached: {}", r.0.display());
        return Ok(r);
    }
    require(&[("apt-get", "apt"), ("apt-cache", "apt"), ("dpkg", "dpkg")])?;
    // The package the metapackage points at (linux-image-6.1.0-N-amd64).
    let deps = output(command("apt-cache", &["depends", "linux-image-amd64"]))?;
    let pkg = deps
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-6.1"))
        .ok_or("apt-cache knows no linux-image-6.1*-amd64 (run apt-get update)")?
        .to_string();
    mkdirs(&dir)?;
    let mut c = cmd("apt-get");
    c.args(["download", &pkg]).current_dir(&dir);
    run_logged(c, log)?;
    let deb = fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{pkg}_")) && n.ends_with(".deb"))
        })
        .ok_or_else(|| format!("apt-get download {pkg} left no .deb"))?;
    let mut c = cmd("dpkg");
    c.arg("-x").arg(&deb).arg(&unpacked);
    run_logged(c, log)?;
    let r = find().ok_or_else(|| format!("{} holds no boot/vmlinuz-6.1*", deb.display()))?;
    println!("    fetched: {} ({pkg})", r.0.display());
    Ok(r)
}

/// Whether the ELF file at `p` is statically linked (no PT_INTERP).
fn is_static_elf(p: &Path) -> bool {
    let Ok(b) = fs::read(p) else { return false };
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 {
        return false;
    }
    let u16at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u64at = |o: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[o..o + 8]);
        u64::from_le_bytes(a) as usize
    };
    let (phoff, phentsize, phnum) = (u64at(32), u16at(54), u16at(56));
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        o + 4 <= b.len() && u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) != 3
    })
}

struct SmokeOpts {
    policies: Vec<(&'static str, &'static str, &'static str)>,
    xen: PathBuf,
    vsched: Option<PathBuf>,
    timeout: Duration,
    load_secs: u32,
    dump: bool,
}

/// Builds the dom0 initramfs (busybox-static + our /init).
fn build_initramfs(o: &SmokeOpts, modules: &Path, log: &Path) -> Result<PathBuf> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or("no busybox (apt-get install busybox-static)")?;
    if !is_static_elf(&busybox) {
        return Err(format!(
            "{} is dynamically linked (apt-get install busybox-static)",
            busybox.display()
        ));
    }
    let base = xen_dir().join("initramfs");
    let r = base.join("root");
    if r.exists() {
        fs::remove_dir_all(&r).map_err(|e| format!("{}: {e}", r.display()))?;
    }
    for d in ["bin", "dev", "proc", "sys", "etc", "tmp", "lib/modules"] {
        mkdirs(&r.join(d))?;
    }
    copy(&busybox, &r.join("bin/busybox"))?;
    std::os::unix::fs::symlink("busybox", r.join("bin/sh")).map_err(|e| e.to_string())?;
    let init = r.join("init");
    copy(&root().join(INIT), &init)?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&init, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    for (m, rel) in [
        ("xen-privcmd.ko", "kernel/drivers/xen/xen-privcmd.ko"),
        ("xenfs.ko", "kernel/drivers/xen/xenfs/xenfs.ko"),
    ] {
        let p = modules.join(rel);
        if p.is_file() {
            copy(&p, &r.join("lib/modules").join(m))?;
        }
    }
    fs::write(r.join("etc/smoke.load_secs"), format!("{}\n", o.load_secs))
        .map_err(|e| e.to_string())?;
    fs::write(
        r.join("etc/smoke.dump_at"),
        if o.dump { "5\n" } else { "-1\n" },
    )
    .map_err(|e| e.to_string())?;
    let vsched = match &o.vsched {
        Some(v) => v.clone(),
        None => build_vsched(log)?,
    };
    if vsched.is_file() {
        copy(&root().join(TOOLSTACK), &r.join("etc/toolstack.sh"))?;
        // Stripped: the debug info would make the initramfs ~4x larger.
        let dst = r.join("bin/vsched");
        let stripped = have("strip")
            && command("strip", &[Path::new("-o"), &dst, &vsched])
                .status()
                .is_ok_and(|s| s.success());
        if !stripped {
            copy(&vsched, &dst)?;
        }
        fs::set_permissions(r.join("bin/vsched"), fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        println!("    vsched: {}", vsched.display());
    } else {
        return Err(format!("--vsched {}: no such file", vsched.display()));
    }
    let out = base.join("initramfs.gz");
    let mut c = cmd("sh");
    c.arg("-c").arg(format!(
        "cd '{}' && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6 > '{}'",
        r.display(),
        out.display()
    ));
    run_logged(c, log)?;
    Ok(out)
}

/// A static `vsched` for dom0: the toolstack built for musl.
fn build_vsched(log: &Path) -> Result<PathBuf> {
    let target = "x86_64-unknown-linux-musl";
    let mut c = cmd("cargo");
    c.args([
        "build",
        "--release",
        "-p",
        "toolstack-cli",
        "--target",
        target,
    ])
    .current_dir(root());
    run_logged(c, log).map_err(|e| {
        format!("static vsched: {e} (rustup target add {target}, or give --vsched PATH)")
    })?;
    Ok(root().join("target").join(target).join("release/vsched"))
}

/// What one boot showed.
struct Boot {
    log: PathBuf,
    lines: Vec<(f64, String)>,
    exited: bool,
    timed_out: bool,
}

/// Boots Xen + dom0 under QEMU with the serial port on a socket; answers
/// `SMOKE: dump-request` with Ctrl-A x3 (input to Xen) and `r`.
fn boot(o: &SmokeOpts, policy: &str, kernel: &Path, initrd: &Path) -> Result<Boot> {
    let logs = xen_dir().join("logs");
    mkdirs(&logs)?;
    let log = logs.join(format!("serial-{policy}.log"));
    let sock = env::temp_dir().join(format!("xtask-xen-{}-{policy}.sock", std::process::id()));
    let _ = fs::remove_file(&sock);
    for p in [&o.xen, kernel, initrd] {
        let s = p.to_string_lossy();
        if s.contains(',') || s.contains(' ') {
            return Err(format!(
                "{s}: QEMU's multiboot module list cannot take commas or spaces"
            ));
        }
    }
    let append = format!(
        "console=com1 com1=115200,8n1 dom0_mem=512M sched={policy} loglvl=all guest_loglvl=all \
         noreboot console_timestamps=boot"
    );
    let modules = format!(
        "{} console=hvc0 earlyprintk=xen smoke_policy={policy},{}",
        kernel.display(),
        initrd.display()
    );
    let mut c = cmd("qemu-system-x86_64");
    c.args([
        "-machine",
        "q35",
        "-accel",
        "tcg",
        "-m",
        "2048",
        "-smp",
        "2",
        "-display",
        "none",
        "-vga",
        "none",
        "-monitor",
        "none",
        "-no-reboot",
        "-net",
        "none",
    ])
    .arg("-chardev")
    .arg(format!(
        "socket,id=ser0,path={},server=on,wait=on",
        sock.display()
    ))
    .args(["-serial", "chardev:ser0"])
    .arg("-kernel")
    .arg(&o.xen)
    .arg("-append")
    .arg(&append)
    .arg("-initrd")
    .arg(&modules);
    let qlog = logs.join(format!("qemu-{policy}.log"));
    let qerr = fs::File::create(&qlog).map_err(|e| format!("{}: {e}", qlog.display()))?;
    let qerr2 = qerr.try_clone().map_err(|e| e.to_string())?;
    let mut child: Child = c
        .stdin(Stdio::null())
        .stdout(qerr)
        .stderr(qerr2)
        .spawn()
        .map_err(|e| format!("cannot run qemu-system-x86_64: {e}"))?;
    let start = Instant::now();
    let mut stream = loop {
        match UnixStream::connect(&sock) {
            Ok(s) => break s,
            Err(_) if start.elapsed() < Duration::from_secs(30) => {
                if let Ok(Some(s)) = child.try_wait() {
                    let e = fs::read_to_string(&qlog).unwrap_or_default();
                    return Err(format!("qemu exited early ({s}): {}", e.trim()));
                }
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "cannot connect to QEMU's serial socket {}: {e}",
                    sock.display()
                ));
            }
        }
    };
    let _ = fs::remove_file(&sock);
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let mut file = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut lines: Vec<(f64, String)> = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    let mut dump_sent = false;
    let mut timed_out = false;
    let mut exited = false;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                // QEMU closed the port: it is exiting.
                let _ = child.wait();
                exited = true;
                break;
            }
            Ok(n) => {
                let _ = file.write_all(&buf[..n]);
                partial.extend_from_slice(&buf[..n]);
                while let Some(i) = partial.iter().position(|&b| b == b'\n') {
                    let raw: Vec<u8> = partial.drain(..=i).collect();
                    let l = String::from_utf8_lossy(&raw)
                        .trim_end_matches(['\r', '\n'])
                        .replace('\r', "");
                    let t = start.elapsed().as_secs_f64();
                    if l.contains("SMOKE: dump-request") && o.dump && !dump_sent {
                        dump_sent = true;
                        // Three Ctrl-A switch Xen's serial input to Xen;
                        // then debug key 'r' dumps the run queues.
                        let _ = stream.write_all(b"\x01");
                        let _ = stream.write_all(b"\x01");
                        let _ = stream.write_all(b"\x01");
                        thread::sleep(Duration::from_millis(300));
                        let _ = stream.write_all(b"r");
                    }
                    lines.push((t, l));
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                let _ = child.wait();
                exited = true;
                break;
            }
        }
        if let Ok(Some(_)) = child.try_wait() {
            exited = true;
            // Drain what is left.
            let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let _ = file.write_all(&buf[..n]);
                partial.extend_from_slice(&buf[..n]);
            }
            break;
        }
        if start.elapsed() > o.timeout {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
    }
    if !partial.is_empty() {
        lines.push((
            start.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&partial).trim().to_string(),
        ));
    }
    Ok(Boot {
        log,
        lines,
        exited,
        timed_out,
    })
}

/// Checks one boot's serial log; prints the proof lines and timings.
fn check_boot(o: &SmokeOpts, policy: (&str, &str, &str), b: &Boot) -> Result {
    let (opt, xen_name, core_name) = policy;
    let find = |pat: &str| b.lines.iter().find(|(_, l)| l.contains(pat));
    let mut errs: Vec<String> = Vec::new();
    let mut proof: Vec<String> = Vec::new();
    let mut timing: Vec<String> = Vec::new();
    // The toolstack: every check passed, and enough of them ran.
    let toolstack: Vec<&String> = b
        .lines
        .iter()
        .map(|(_, l)| l)
        .filter(|l| l.contains("SMOKE: toolstack "))
        .collect();
    match toolstack
        .iter()
        .find_map(|l| l.split("SMOKE: toolstack done ok=").nth(1))
        .and_then(|r| {
            let (ok, fail) = r.trim().split_once(" fail=")?;
            Some((ok.parse::<usize>().ok()?, fail.parse::<usize>().ok()?))
        }) {
        Some((ok, 0)) if ok >= TOOLSTACK_CHECKS => {}
        Some((ok, fail)) => errs.push(format!(
            "toolstack: {ok} checks passed, {fail} failed (want >= {TOOLSTACK_CHECKS}, 0 failed)"
        )),
        None => errs.push("no `SMOKE: toolstack done` (vsched did not run)".into()),
    }
    proof.extend(toolstack.iter().map(|l| l.to_string()));
    let mut want = |what: &str, pat: &str, errs: &mut Vec<String>| -> Option<f64> {
        match find(pat) {
            Some((t, l)) => {
                proof.push(l.clone());
                timing.push(format!("{what} {t:.1} s"));
                Some(*t)
            }
            None => {
                errs.push(format!("no `{pat}`"));
                None
            }
        }
    };
    want(
        "scheduler",
        &format!("Using scheduler: {xen_name} ({opt})"),
        &mut errs,
    );
    want("dom0", "SMOKE: dom0 init started", &mut errs);
    want("vCPUs", "SMOKE: nproc=2 cpuinfo=2", &mut errs);
    want("load done", "SMOKE: load done", &mut errs);
    // The per-second timestamps.
    let ticks: Vec<f64> = b
        .lines
        .iter()
        .filter_map(|(_, l)| {
            let r = l.split("SMOKE: tick ").nth(1)?;
            r.split_whitespace().nth(1)?.parse().ok()
        })
        .collect();
    let span = match (ticks.first(), ticks.last()) {
        (Some(a), Some(z)) => z - a,
        _ => 0.0,
    };
    let gap = ticks.windows(2).map(|w| w[1] - w[0]).fold(0.0f64, f64::max);
    proof.push(format!(
        "load: {} timestamps over {span:.2} s, largest gap {gap:.2} s",
        ticks.len()
    ));
    if span < 10.0 || ticks.len() < 11 {
        errs.push(format!(
            "load ran {span:.2} s ({} timestamps), want >= 10 s",
            ticks.len()
        ));
    }
    if gap > 2.0 {
        errs.push(format!(
            "a {gap:.2} s gap between per-second timestamps (> 2 s)"
        ));
    }
    if o.dump {
        let sched_line = format!("Scheduler: {xen_name} ({opt})");
        let shim = find("rs_shim: policy");
        let settings = b
            .lines
            .iter()
            .find(|(_, l)| l.contains(&format!("sched={core_name} ")) && l.contains("tslice="));
        let cpus: Vec<&(f64, String)> = b
            .lines
            .iter()
            .filter(|(_, l)| l.contains(&format!("{core_name}: CPU[")))
            .collect();
        match (find(&sched_line), shim, settings, cpus.is_empty()) {
            (Some(s), Some(h), Some(r), false) => {
                proof.push(s.1.clone());
                proof.push(h.1.clone());
                proof.push(r.1.clone());
                proof.extend(cpus.iter().map(|c| c.1.clone()));
                // The per-pCPU lines of the Rust dump_settings.
                proof.extend(
                    b.lines
                        .iter()
                        .filter(|(_, l)| l.contains("nr_runnable="))
                        .map(|(_, l)| l.clone()),
                );
            }
            _ => errs.push(format!(
                "no run-queue dump (`{sched_line}`, `rs_shim: policy`, `sched={core_name} ... tslice=`, \
                 `{core_name}: CPU[`)"
            )),
        }
    }
    for bad in [
        "Panic on CPU",
        "FATAL TRAP",
        "Xen BUG at",
        "Assertion '",
        "Xen call trace",
    ] {
        if let Some((_, l)) = find(bad) {
            errs.push(format!("Xen reported: {l}"));
        }
    }
    if b.timed_out {
        errs.push(format!("timed out after {} s", o.timeout.as_secs()));
    } else if !b.exited {
        errs.push("QEMU did not exit".into());
    } else if find("SMOKE: poweroff").is_none() {
        errs.push("QEMU exited before dom0's poweroff".into());
    }
    let total = b.lines.last().map(|x| x.0).unwrap_or(0.0);
    println!("    serial log: {}", b.log.display());
    for p in &proof {
        println!("    | {}", p.trim());
    }
    println!("    timings: {}, end {total:.1} s", timing.join(", "));
    if errs.is_empty() {
        Ok(())
    } else {
        Err(format!("sched={opt}: {}", errs.join("; ")))
    }
}

/// `cargo xtask xen-smoke`.
pub fn xen_smoke(args: &[String]) -> Result {
    let (vals, flags, rest) = parse_opts(
        args,
        &["--policy", "--xen", "--vsched", "--timeout", "--load-secs"],
        &["--no-dump"],
    )?;
    if let Some(r) = rest.first() {
        return Err(format!("unexpected argument `{r}`"));
    }
    let policies: Vec<_> = match vals.get("--policy").map(String::as_str).unwrap_or("all") {
        "all" => POLICIES.to_vec(),
        p => vec![*POLICIES
            .iter()
            .find(|x| x.0 == p)
            .ok_or_else(|| format!("--policy {p}: one of rcredit, vslicer, edfcredit, all"))?],
    };
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
    let num = |k: &str, d: u64| -> Result<u64> {
        vals.get(k)
            .map(|v| v.parse().map_err(|_| format!("{k} {v}: not a number")))
            .unwrap_or(Ok(d))
    };
    let o = SmokeOpts {
        policies,
        xen: fs::canonicalize(&xen).map_err(|e| e.to_string())?,
        vsched: vals.get("--vsched").map(PathBuf::from),
        timeout: Duration::from_secs(num("--timeout", 300)?),
        load_secs: u32::try_from(num("--load-secs", 12)?).map_err(|e| e.to_string())?,
        dump: !flags.contains("--no-dump"),
    };
    require(&[
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("cpio", "cpio"),
        ("gzip", "gzip"),
    ])?;
    let logs = xen_dir().join("logs");
    mkdirs(&logs)?;
    let log = logs.join("xen-smoke.log");
    let _ = fs::remove_file(&log);
    let mut st = Stages::new();
    let mut failures = Vec::new();
    let r = (|| -> Result {
        let (kernel, modules) = st.run("linux (apt-get download)", || fetch_linux(&log))?;
        let initrd = st.run("initramfs (busybox-static)", || {
            build_initramfs(&o, &modules, &log)
        })?;
        for &p in &o.policies {
            let res = st.run(&format!("boot sched={}", p.0), || {
                let b = boot(&o, p.0, &kernel, &initrd)?;
                check_boot(&o, p, &b)
            });
            if let Err(e) = res {
                println!("    {e}");
                failures.push(e);
            }
        }
        Ok(())
    })();
    st.summary("xen-smoke");
    r?;
    let n = o.policies.len();
    println!("\n{} passed, {} failed", n - failures.len(), failures.len());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}
