//! xen-glue as one object Xen can link: the nightly build-std build for
//! `x86_64-unknown-none`, the `ld -r` from the `rs_sched_*` entries, and the
//! `objcopy` that localises and renames its symbols.

use super::*;

/// Rust flags for code that Xen links at 0xffff82d040000000 with no GOT and
/// no dynamic relocations (see shared/research/xen-in-qemu.md).
pub(super) const RUSTFLAGS: &str =
    "-C relocation-model=pie -C code-model=kernel -C relro-level=off \
     -Z relax-elf-relocations=yes -Z direct-access-external-data=yes -C panic=abort";

/// Symbols Xen provides that the Rust object may leave undefined besides
/// the `rs_xen_*` services of the header.
pub(super) const XEN_PROVIDES: [&str; 5] = ["memcpy", "memset", "memmove", "memcmp", "strlen"];

/// The `rs_sched_*` entry points the header declares (the link roots).
pub(super) fn entries() -> Result<Vec<String>> {
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
pub(super) fn services() -> Result<BTreeSet<String>> {
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
pub(super) fn build_rust(manifest: Option<&Path>, log: &Path) -> Result<PathBuf> {
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
pub(super) fn lib_name(manifest: Option<&Path>) -> Result<String> {
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
pub(super) fn prelink(input: &Path, out: &Path, log: &Path) -> Result {
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
pub(super) fn short_name(demangled: &str, n: usize) -> String {
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
pub(super) fn finish_object(gc: &Path, out: &Path, symmap: &Path) -> Result {
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
