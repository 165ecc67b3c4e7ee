//! `cargo xtask xenalyze [--test]`: Xen's trace analyser, built from the
//! Xen source `xen-build` built Xen from, into `target/xen/out/xenalyze`.
//!
//! Debian ships `xentrace` but not `xenalyze`, and Xen's tools build wants
//! the whole of `tools/` configured; xenalyze itself is two C files
//! (`tools/xentrace/xenalyze.c`, `mread.c`) over libc, argp and two
//! headers (`xen/trace.h` from the public headers, `xen-tools/libs.h`), so
//! it is compiled alone with gcc and the flags Xen's tools get.
//!
//! `--test` then runs the test that reads a simulated run with it
//! (toolstack-cli/tests/xentrace.rs, ignored in the default `cargo test`
//! because the Xen source is only there once `xen-build` has fetched it).

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::{cargo, root, status, Result};

/// Where xen-build records the version it built from (xen/build.rs's
/// `VERSION_FILE`: `<debian version> (<why that one>)`).
const VERSION_FILE: &str = "target/xen/out/xen-version.txt";
/// The binary, and the include directory made for it.
const OUT: &str = "target/xen/out/xenalyze";
const INCLUDE: &str = "target/xen/out/xenalyze-include";

/// The flags tools/xentrace gets from Xen's make files: Config.mk:174-178
/// (`-fno-strict-aliasing -std=gnu99 -Wall -Wstrict-prototypes`),
/// config/x86_64.mk:10 (`-m64`), tools/Rules.mk:149-174 (`-Werror`, `-O2
/// -fomit-frame-pointer`, the interface version, large files).
const CFLAGS: &[&str] = &[
    "-m64",
    "-O2",
    "-fomit-frame-pointer",
    "-fno-strict-aliasing",
    "-std=gnu99",
    "-Wall",
    "-Wstrict-prototypes",
    "-Werror",
    "-D__XEN_INTERFACE_VERSION__=__XEN_LATEST_INTERFACE_VERSION__",
    "-D_FILE_OFFSET_BITS=64",
    "-D_LARGEFILE_SOURCE",
    "-D_LARGEFILE64_SOURCE",
];

pub(crate) fn xenalyze(args: &[String]) -> Result {
    let mut test = false;
    for a in args {
        match a.as_str() {
            "--test" => test = true,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    let exe = build()?;
    println!("built {}", exe.display());
    if test {
        let mut c = cargo();
        c.args([
            "test",
            "--release",
            "-p",
            "toolstack-cli",
            "--test",
            "xentrace",
            "--",
            "--ignored",
            "--nocapture",
        ])
        .env("XENALYZE", &exe);
        status(c)?;
    }
    Ok(())
}

/// The Xen tree xen-build built from: `target/xen/src/<version>/xen-*/`.
fn source_tree() -> Result<PathBuf> {
    let file = root().join(VERSION_FILE);
    let text = fs::read_to_string(&file).map_err(|e| {
        format!(
            "{}: {e}; `cargo xtask xen-build` fetches Debian's Xen 4.17 source and builds Xen \
             from it, and xenalyze is built from that same tree",
            file.display()
        )
    })?;
    let version = text
        .split_whitespace()
        .next()
        .ok_or_else(|| format!("{}: empty", file.display()))?;
    let dir = root().join("target/xen/src").join(version);
    let trees: Vec<PathBuf> = fs::read_dir(&dir)
        .map_err(|e| {
            format!(
                "{}: {e} (the source of {version}, named in {})",
                dir.display(),
                file.display()
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("tools/xentrace/xenalyze.c").is_file())
        .collect();
    match &trees[..] {
        [t] => Ok(t.clone()),
        [] => Err(format!(
            "no tools/xentrace/xenalyze.c in a tree under {}",
            dir.display()
        )),
        _ => Err(format!("several Xen trees under {}", dir.display())),
    }
}

/// Compiles xenalyze from the tree into [`OUT`] (through `OUT.part`, so a
/// failed build leaves no binary that looks good); returns its path.
fn build() -> Result<PathBuf> {
    let tree = source_tree()?;
    println!("xenalyze from {}", tree.display());
    // `#include <xen/trace.h>`: Xen's public headers, which the tools
    // build links to tools/include/xen; here a directory of our own.
    let inc = root().join(INCLUDE);
    fs::create_dir_all(&inc).map_err(|e| format!("{}: {e}", inc.display()))?;
    let link = inc.join("xen");
    let _ = fs::remove_file(&link);
    let public = tree.join("xen/include/public");
    std::os::unix::fs::symlink(&public, &link)
        .map_err(|e| format!("{} -> {}: {e}", link.display(), public.display()))?;
    let out = root().join(OUT);
    let part = out.with_extension("part");
    let src = tree.join("tools/xentrace");
    let mut c = Command::new("gcc");
    c.args(CFLAGS)
        .arg("-I")
        .arg(&inc)
        .arg("-I")
        .arg(tree.join("tools/include"))
        .arg(src.join("xenalyze.c"))
        .arg(src.join("mread.c"))
        .arg("-o")
        .arg(&part);
    status(c).map_err(|e| format!("{e} (gcc: apt-get install gcc)"))?;
    fs::rename(&part, &out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out)
}
