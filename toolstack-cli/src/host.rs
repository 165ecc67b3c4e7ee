//! A simulated host: a scenario file (DESIGN.md's format) that the xl-style
//! commands read and change, as `xl` reads and changes a live Xen.
//!
//! Where the file is: `--host FILE`, else `$VSCHED_HOST`, else `./host.toml`.
//! (`--host xen` is the running Xen instead: see `xen.rs`.)
//!
//! A change is all or nothing. Under an exclusive lock on `FILE.lock` (an
//! advisory `flock`, released by the kernel even if we die, so no stale locks)
//! the file is read, edited as a TOML document (comments and layout are kept),
//! and the *whole* result is validated by the simulator's own parser, the
//! same checks a run would make, including the scheduler's bounds. Only then
//! is it written to a temporary file beside it, synced, and renamed over it.
//! A rejected change never touches the file; a crash leaves the old file or
//! the new one, never half of either; concurrent invocations queue on the lock.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use sched_sim::Scenario;
use toml_edit::DocumentMut;

use crate::Failure;

/// The environment variable naming the default host file.
pub(crate) const HOST_ENV: &str = "VSCHED_HOST";

/// The host file a command works on.
pub(crate) fn path(flag: Option<&Path>) -> PathBuf {
    match flag {
        Some(p) => p.to_path_buf(),
        None => std::env::var_os(HOST_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("host.toml")),
    }
}

/// `--host xen` names the Xen this runs on, not a file: the commands that
/// reach it (`sched-credit`, `sched-vslicer`, `sched-edf`, `debug-keys`)
/// branch off before they read a host file; every other one says so.
fn reject_xen(path: &Path) -> Result<(), Failure> {
    if crate::xen::is_xen(path) {
        return Err(Failure::BadInput(
            "--host xen: this command works on simulated host files; sched-credit, sched-vslicer, sched-edf and debug-keys reach a running Xen".into(),
        ));
    }
    Ok(())
}

/// Reads and validates the host file.
pub(crate) fn load(path: &Path) -> Result<Scenario, Failure> {
    reject_xen(path)?;
    if !path.exists() {
        return Err(Failure::BadInput(format!(
            "{}: no such host file (give --host FILE or set {HOST_ENV})",
            path.display()
        )));
    }
    Scenario::from_file(path).map_err(|e| Failure::BadInput(e.to_string()))
}

/// The lock serialising changes to `path`, held while the guard lives.
struct Lock(File);

impl Lock {
    fn take(path: &Path) -> Result<Lock, Failure> {
        let lp = sibling(path, ".lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lp)
            .map_err(|e| Failure::BadInput(format!("{}: cannot open lock: {e}", lp.display())))?;
        f.lock()
            .map_err(|e| Failure::Internal(format!("{}: cannot lock: {e}", lp.display())))?;
        Ok(Lock(f))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// `dir/.name<suffix>`-style sibling of `path` (same directory, so a rename
/// is atomic).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Applies `edit` to the host file under the lock; the result must parse as
/// a valid scenario or nothing is written. Returns the new scenario.
pub(crate) fn change(
    path: &Path,
    edit: impl FnOnce(&Scenario, &mut DocumentMut) -> Result<(), Failure>,
) -> Result<Scenario, Failure> {
    reject_xen(path)?;
    let _lock = Lock::take(path)?;
    let before = load(path)?;
    let text = fs::read_to_string(path)
        .map_err(|e| Failure::BadInput(format!("{}: {e}", path.display())))?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| Failure::BadInput(format!("{}: {e}", path.display())))?;
    edit(&before, &mut doc)?;
    let new_text = doc.to_string();
    let after = Scenario::parse(&new_text, &path.display().to_string())
        .map_err(|e| Failure::BadInput(format!("change refused, host file unchanged: {e}")))?;
    if new_text != text {
        write_atomically(path, &new_text)?;
    }
    Ok(after)
}

fn write_atomically(path: &Path, text: &str) -> Result<(), Failure> {
    let tmp = sibling(path, &format!(".tmp.{}", std::process::id()));
    let io = |e: std::io::Error| Failure::Internal(format!("{}: {e}", tmp.display()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// The index of the domain `-d` names: by name first, then by ID (the
/// domain's position in the file, as the simulator numbers them).
pub(crate) fn domain(sc: &Scenario, which: &str) -> Result<usize, Failure> {
    if let Some(i) = sc.domains.iter().position(|d| d.name == which) {
        return Ok(i);
    }
    which
        .parse::<usize>()
        .ok()
        .filter(|&i| i < sc.domains.len())
        .ok_or_else(|| Failure::BadInput(format!("-d: no domain named or numbered {which:?}")))
}

/// The table of `[[domain]]` number `i` in the document.
pub(crate) fn domain_table(
    doc: &mut DocumentMut,
    i: usize,
) -> Result<&mut toml_edit::Table, Failure> {
    doc.get_mut("domain")
        .and_then(|d| d.as_array_of_tables_mut())
        .and_then(|a| a.get_mut(i))
        .ok_or_else(|| Failure::Internal(format!("domain {i} not found in the document")))
}

/// The `[pool]` table, created if absent.
pub(crate) fn pool_table(doc: &mut DocumentMut) -> Result<&mut toml_edit::Table, Failure> {
    let item = doc
        .entry("pool")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    item.as_table_mut()
        .ok_or_else(|| Failure::BadInput("pool: must be a table".into()))
}

/// The only cpupool a simulated host has, as `xl` names the first one.
pub(crate) const POOL: &str = "Pool-0";

/// Checks a `-p POOL` argument.
pub(crate) fn check_pool(p: Option<&str>) -> Result<(), Failure> {
    match p {
        Some(p) if p != POOL && p != "0" => Err(Failure::BadInput(format!(
            "-p: no cpupool {p:?} (a simulated host has one: {POOL})"
        ))),
        _ => Ok(()),
    }
}
