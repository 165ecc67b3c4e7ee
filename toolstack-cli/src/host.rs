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
//! `host-create` writes through the same lock and the same temporary file.
//!
//! A symlinked host file is resolved first: the lock is taken on, and the
//! file written in place of, its target, so every name for a host shares one
//! lock and the link stays a link. The new file gets the old one's
//! permissions, owner and group. A file whose mode gives no one write access
//! is not changed (root too is refused: it would pass access(2), and a
//! rename replaces a file whatever its mode). A writer killed mid-write
//! leaves its temporary file behind; since every writer writes only under
//! the lock, the next one to take the lock removes them. The scenario format lets domains be `[[domain]]` tables or one
//! inline array (`domain = [{ ... }, { ... }]`), and `host`/`pool` be inline
//! tables; a change first turns those into `[[domain]]`/`[[change]]` and
//! `[host]`/`[pool]` tables (`hostdoc::normalise`), so every edit sees one
//! shape. The document side of a change, with no files, is `hostdoc`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{fchown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sched_sim::scenario::{self, read_text};
use sched_sim::Scenario;
use toml_edit::DocumentMut;

pub(crate) use crate::hostdoc::{domain_table, pool_table};
use crate::{hostdoc, Failure};

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
/// reach it (`sched-credit`, `sched-vslicer`, `sched-edf`, `cpupool-*`,
/// `debug-keys`)
/// branch off before they read a host file; every other one says so.
fn reject_xen(path: &Path) -> Result<(), Failure> {
    if crate::xen::is_xen(path) {
        return Err(Failure::BadInput(
            "--host xen: this command works on simulated host files; sched-credit, sched-vslicer, sched-edf, cpupool-* and debug-keys reach a running Xen".into(),
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
    /// Takes the lock of `path` and removes the temporary files that
    /// writers killed mid-write left beside it: no writer is writing now.
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
        remove_stale_temporaries(path);
        Ok(Lock(f))
    }
}

/// What a host file's temporary files add to its name, before the writer's
/// process ID.
const TMP: &str = ".tmp.";

/// The temporary file this process writes `path`'s new text to.
fn temporary(path: &Path) -> PathBuf {
    sibling(path, &format!("{TMP}{}", std::process::id()))
}

/// Removes `path`'s temporary files (`temporary`'s names, for any process
/// ID); only to be called under `path`'s lock. Best effort: one that cannot
/// be removed is left for the next writer, and the change goes on.
fn remove_stale_temporaries(path: &Path) {
    let prefix = sibling(path, TMP);
    let Some(prefix) = prefix.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let stale = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if stale {
            let _ = fs::remove_file(entry.path());
        }
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

/// The file a host path stands for: a symlink's target (so the lock and
/// the new file land beside the real file, and the link is kept), or the
/// path itself.
fn target(path: &Path) -> PathBuf {
    if let Ok(real) = fs::canonicalize(path) {
        return real;
    }
    // A dangling link (host-create through it): follow it by hand.
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::read_link(&p) {
            Ok(next) => p = p.parent().unwrap_or(Path::new("")).join(next),
            Err(_) => break,
        }
    }
    p
}

/// Applies `edit` to the host file under the lock; the result must parse as
/// a valid scenario or nothing is written. Returns the new scenario.
pub(crate) fn change(
    path: &Path,
    edit: impl FnOnce(&Scenario, &mut DocumentMut) -> Result<(), Failure>,
) -> Result<Scenario, Failure> {
    reject_xen(path)?;
    let file = target(path);
    let _lock = Lock::take(&file)?;
    let before = load(path)?;
    let text = read_text(&file).map_err(|e| Failure::BadInput(e.to_string()))?;
    let (new_text, after) = hostdoc::edit(&before, &text, &path.display().to_string(), edit)?;
    if let Some(new_text) = new_text {
        check_writable(path, &file)?;
        write_atomically(&file, &new_text)?;
    }
    Ok(after)
}

/// Writes a new host file (already validated) under the lock, the way
/// `change` writes; an existing one is replaced only when `replace`.
pub(crate) fn create(path: &Path, text: &str, replace: bool) -> Result<(), Failure> {
    reject_xen(path)?;
    let file = target(path);
    let _lock = Lock::take(&file)?;
    if !replace && fs::symlink_metadata(&file).is_ok() {
        return Err(Failure::BadInput(format!(
            "{}: exists (use --force to replace it)",
            path.display()
        )));
    }
    write_atomically(&file, text)
}

/// Refuses a change to a host file whose mode bits give no one write access,
/// as an editor's "readonly" does: judged from the mode, not access(2), which
/// root always passes. `shown` is the path as the user gave it.
fn check_writable(shown: &Path, file: &Path) -> Result<(), Failure> {
    match fs::metadata(file).map(|m| m.permissions().mode()) {
        Ok(mode) if mode & 0o222 == 0 => Err(Failure::BadInput(format!(
            "{}: read-only (mode {:04o}); make it writable (chmod u+w) to change it",
            shown.display(),
            mode & 0o7777
        ))),
        _ => Ok(()),
    }
}

/// Writes `text` to `path` whole: a temporary file beside it (with the old
/// file's owner, group and permissions, when there is one), synced, then
/// renamed over it. Only a privileged caller may give a file away, so the
/// owner is kept as far as the caller may (EPERM is not an error).
fn write_atomically(path: &Path, text: &str) -> Result<(), Failure> {
    let tmp = temporary(path);
    let io = |e: std::io::Error| Failure::Internal(format!("{}: {e}", tmp.display()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        if let Ok(old) = fs::metadata(path) {
            match fchown(&f, Some(old.uid()), Some(old.gid())) {
                Err(e) if e.raw_os_error() != Some(libc::EPERM) => return Err(e),
                _ => {}
            }
            // After the chown, which may clear set-ID bits.
            f.set_permissions(old.permissions())?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// The index of the domain `which` names, resolved as xl resolves one: all
/// digits is a domain ID (the domain's position in the file, as the
/// simulator numbers them), anything else a name. A name is never all digits
/// ([`scenario::check_name`]), so a number cannot mean two domains. The error names the
/// domain as given, not a flag: `destroy` takes it without one.
pub(crate) fn domain(sc: &Scenario, which: &str) -> Result<usize, Failure> {
    if scenario::is_domain_id(which) {
        let n = sc.domains.len();
        return which
            .parse::<usize>()
            .ok()
            .filter(|&i| i < n)
            .ok_or_else(|| {
                Failure::BadInput(format!(
                    "domain {which}: no domain has that ID (IDs are 0..{})",
                    n.saturating_sub(1)
                ))
            });
    }
    sc.domains
        .iter()
        .position(|d| d.name == which)
        .ok_or_else(|| Failure::BadInput(format!("domain {which:?}: no domain has that name")))
}

/// Checks the name `vsched create` is given by the scenario parser's rule
/// ([`scenario::check_name`]), up front so the error names the name rather
/// than the edited file.
pub(crate) fn check_name(name: &str) -> Result<(), Failure> {
    scenario::check_name(name)
        .map_err(|m| Failure::BadInput(format!("{name:?}: a domain name {m}")))
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
