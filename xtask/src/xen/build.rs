//! `cargo xtask xen-build`: the stages from Debian's source to
//! `target/xen/out/xen`.

use super::*;

/// The repository's Xen-side inputs.
pub(super) const PATCH: &str = "xen-glue/xen/xen-4.17-rsched.patch";
pub(super) const SHIM_DIR: &str = "xen-glue/c";
/// Where the shim and the object go in Xen's tree.
pub(super) const SCHED_DIR: &str = "xen/common/sched";
/// The object name the patched Makefile lists.
pub(super) const GLUE_OBJ: &str = "rs_glue.o";
/// In `out/`: the Xen version built and why that one (`XenSource::describe`).
pub(super) const VERSION_FILE: &str = "xen-version.txt";

/// The header the shim includes for its registrations.
const POLICIES_HEADER: &str = "rs_policies.h";

/// [`POLICIES_HEADER`]: one `RS_POLICY(opt_name, "name", sched_id)` line per
/// policy of sched-core's registry, from which the shim makes one `struct
/// scheduler` each.
fn policies_header() -> String {
    let mut h =
        String::from("/* Written by `cargo xtask xen-build` from sched_core::registry. */\n");
    for p in sched_core::POLICIES {
        h.push_str(&format!(
            "RS_POLICY({}, \"{}\", {})\n",
            p.xen_name, p.display, p.xen_id
        ));
    }
    h
}

/// `patch` applying [`PATCH`] in `tree`, strictly (`--forward --batch
/// --fuzz=0`): the build and the fallback's `--dry-run` check both use it,
/// so a source accepted by the check is one the build patches cleanly.
pub(super) fn patch_command(tree: &Path) -> Command {
    let mut c = cmd("patch");
    c.args([
        "-p1",
        "--forward",
        "--batch",
        "--fuzz=0",
        "--no-backup-if-mismatch",
        "-i",
    ])
    .arg(root().join(PATCH))
    .current_dir(tree);
    c
}

pub(super) struct BuildOpts {
    pub(super) rust_obj: Option<PathBuf>,
    pub(super) glue_manifest: Option<PathBuf>,
    pub(super) debug: bool,
    pub(super) jobs: String,
    pub(super) allow_audit_failure: bool,
}

/// The Rust object: built (or given), gc-linked, audited, finished.
/// Returns the finished object in `out/`.
pub(super) fn rust_stages(st: &mut Stages, o: &BuildOpts, logs: &Path) -> Result<PathBuf> {
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

pub(super) fn build_opts(args: &[String]) -> Result<BuildOpts> {
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

    let r = (|| -> Result<XenSource> {
        let src = st.run("source (apt-get source xen)", || {
            let s = fetch_source(&log)?;
            println!("    building Xen {}", s.describe());
            Ok(s)
        })?;
        let obj = rust_stages(&mut st, &o, &logs)?;
        let build = dir.join("build");
        st.run("tree (copy, patch, shim)", || {
            if build.exists() {
                fs::remove_dir_all(&build).map_err(|e| format!("{}: {e}", build.display()))?;
            }
            let mut c = cmd("cp");
            c.arg("-a").arg(&src.dir).arg(&build);
            run_logged(c, &log)?;
            run_logged(patch_command(&build), &log)?;
            let sched = build.join(SCHED_DIR);
            for e in fs::read_dir(root().join(SHIM_DIR)).map_err(|e| e.to_string())? {
                let p = e.map_err(|e| e.to_string())?.path();
                if p.extension().is_some_and(|x| x == "c" || x == "h") {
                    copy(&p, &sched.join(p.file_name().unwrap_or_default()))?;
                }
            }
            let h = sched.join(POLICIES_HEADER);
            fs::write(&h, policies_header()).map_err(|e| format!("{}: {e}", h.display()))?;
            copy(&obj, &sched.join(GLUE_OBJ))
        })?;
        st.run("config (defconfig + ours)", || {
            let mut c = cmd("make");
            c.args(["-C", "xen", "defconfig"]).current_dir(&build);
            run_logged(c, &log)?;
            let cfg = build.join("xen").join(".config");
            let mut text =
                fs::read_to_string(&cfg).map_err(|e| format!("{}: {e}", cfg.display()))?;
            let mut want = vec!["CONFIG_EXPERT=y", "CONFIG_SCHED_RUST=y"];
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
            let v = out.join(VERSION_FILE);
            fs::write(&v, format!("{}\n", src.describe()))
                .map_err(|e| format!("{}: {e}", v.display()))?;
            check_xen_syms(&out.join("xen-syms"))
        })?;
        Ok(src)
    })();
    st.summary("xen-build");
    let src = r?;
    println!(
        "\nhypervisor: {}\nXen: {}\nbuild log: {}",
        dir.join("out").join("xen").display(),
        src.describe(),
        log.display()
    );
    Ok(())
}
