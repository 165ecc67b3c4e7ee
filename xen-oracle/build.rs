//! Compiles Xen 4.17's `credit.c`, `credit2.c`, `rt.c` and `null.c`,
//! unmodified, from the Debian source tree `cargo xtask xen-source` (or
//! `xen-build`) fetched into `target/xen/src/`, with the stub headers and
//! the mini core in `c/`. Nothing of Xen is copied into this repository.
//!
//! The tree: `$XEN_SRC` (a `xen-<version>` directory) if set, else the
//! pinned version (`xen-glue/xen/pinned-version`), else the newest other
//! 4.17.x there (what `xen-build` falls back to). Without one, or when
//! building for another target than the host, the crate builds without
//! the schedulers and without any C (`cfg(oracle_missing)`): every engine
//! then refuses to start with the command that fetches them.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    let pinned_file = root.join("xen-glue/xen/pinned-version");
    println!("cargo:rerun-if-changed={}", pinned_file.display());
    println!("cargo:rerun-if-changed=c");
    println!("cargo:rerun-if-env-changed=XEN_SRC");
    println!("cargo::rustc-check-cfg=cfg(oracle_missing)");
    let pinned = fs::read_to_string(&pinned_file).unwrap();
    let pinned = pinned.trim();
    let cache = root.join("target/xen/src");
    println!("cargo:rerun-if-changed={}", cache.display());
    // (`target/xen/src` is scanned whole: a tree fetched after a build made
    // without it, say `cargo xtask xen-source`'s own build of xtask, makes
    // the next build compile the schedulers, as the tree's directories are
    // new even where its files keep the tarball's dates.)
    let found = match env::var_os("XEN_SRC") {
        Some(d) => Some((PathBuf::from(d), "XEN_SRC".to_string())),
        None => tree(&cache, pinned)
            .map(|d| (d, pinned.to_string()))
            .or_else(|| newest_other(&cache, pinned)),
    };
    // Xen's schedulers run on the host only (a cross build, such as dom0's
    // static `vsched` for musl, needs no C compiler for its target).
    let cross = env::var("TARGET").ok() != env::var("HOST").ok();
    let found = found.filter(|_| !cross);
    let Some((tree, version)) = found else {
        if !cross {
            println!(
                "cargo:warning=xen-oracle: no Xen 4.17 source in {} (run `cargo xtask xen-source`); \
                 building without Xen's schedulers",
                cache.display()
            );
        }
        println!("cargo:rustc-cfg=oracle_missing");
        println!("cargo:rustc-env=XEN_ORACLE_VERSION=none");
        return;
    };
    let xen = tree.join("xen");
    let sched = xen.join("common/sched");
    for f in ["credit.c", "credit2.c", "rt.c", "null.c", "private.h"] {
        println!("cargo:rerun-if-changed={}", sched.join(f).display());
    }
    println!("cargo:rustc-env=XEN_ORACLE_VERSION={version}");
    let mut b = cc::Build::new();
    b.std("gnu11")
        .include(manifest.join("c/include"))
        .include(xen.join("include"))
        .include(&xen)
        .include(manifest.join("c"))
        // Xen's own optimisation level (its Makefile: -O2), and unwind
        // tables so that a failed ASSERT's panic crosses the C frames.
        .opt_level(2)
        .flag("-fexceptions")
        .flag("-fno-strict-aliasing")
        .warnings(true)
        .extra_warnings(false)
        .warnings_into_errors(true);
    for f in [
        "core.c",
        "sched_credit.c",
        "sched_credit2.c",
        "sched_rt.c",
        "sched_null.c",
    ] {
        b.file(manifest.join("c").join(f));
    }
    b.compile("xen_oracle");
}

/// Where `apt-get source` leaves `version`: `cache/<version>/xen-<upstream>`.
fn pinned_tree_path(cache: &Path, version: &str) -> PathBuf {
    let upstream = version.rsplit_once('-').map_or(version, |(u, _)| u);
    let upstream = upstream.split_once(':').map_or(upstream, |(_, u)| u);
    cache.join(version).join(format!("xen-{upstream}"))
}

/// The tree of `version` in `cache`, if it holds the scheduler sources.
fn tree(cache: &Path, version: &str) -> Option<PathBuf> {
    let d = pinned_tree_path(cache, version);
    d.join("xen/common/sched/credit.c").is_file().then_some(d)
}

/// Another 4.17.x tree in the cache (xen-build's fallback), newest by name.
fn newest_other(cache: &Path, pinned: &str) -> Option<(PathBuf, String)> {
    let mut v: Vec<String> = fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n != pinned && n.starts_with("4.17.") && !n.ends_with(".part"))
        .collect();
    v.sort();
    v.into_iter()
        .rev()
        .find_map(|n| tree(cache, &n).map(|d| (d, n)))
}
