//! `cargo xtask xen-smoke`: Debian's Linux as dom0 with a busybox
//! initramfs and a static `vsched`, Xen booted under QEMU once per policy,
//! and the serial log checked.

use super::*;

use sched_core::{PolicyInfo, POLICIES};

pub(super) const INIT: &str = "xen-glue/smoke/init";
pub(super) const TOOLSTACK: &str = "xen-glue/smoke/toolstack.sh";
/// Checks `toolstack.sh` runs for each policy, at the least.
pub(super) const TOOLSTACK_CHECKS: usize = 15;

/// Debian's Linux 6.1 amd64 image, unpacked: (vmlinuz, modules dir).
pub(super) fn fetch_linux(log: &Path) -> Result<(PathBuf, PathBuf)> {
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
pub(super) fn is_static_elf(p: &Path) -> bool {
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

pub(super) struct SmokeOpts {
    pub(super) policies: Vec<&'static PolicyInfo>,
    pub(super) xen: PathBuf,
    pub(super) vsched: Option<PathBuf>,
    pub(super) timeout: Duration,
    pub(super) load_secs: u32,
    pub(super) dump: bool,
}

/// Builds the dom0 initramfs (busybox-static + our /init).
pub(super) fn build_initramfs(o: &SmokeOpts, modules: &Path, log: &Path) -> Result<PathBuf> {
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
pub(super) fn build_vsched(log: &Path) -> Result<PathBuf> {
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
/// What Xen prints on the console when it panics, traps, hits a BUG or an
/// ASSERT (a debug hypervisor's), or dumps a call trace: any of them fails a
/// boot.
pub(super) const XEN_FAILURES: [&str; 5] = [
    "Panic on CPU",
    "FATAL TRAP",
    "Xen BUG at",
    "Assertion '",
    "Xen call trace",
];

pub(super) struct Boot {
    pub(super) log: PathBuf,
    pub(super) lines: Vec<(f64, String)>,
    pub(super) exited: bool,
    pub(super) timed_out: bool,
}

/// How a boot runs: the machine and Xen's command line beyond `sched=`.
pub(super) struct Qemu<'a> {
    pub(super) xen: &'a Path,
    pub(super) timeout: Duration,
    /// Answer `SMOKE: dump-request` with debug key `r`.
    pub(super) dump: bool,
    /// QEMU's memory.
    pub(super) mem_mb: u32,
    /// Xen's options besides the console, `sched=` and logging.
    pub(super) xen_args: &'a str,
    /// Names the logs: `logs/serial-{what}-{policy}.log`.
    pub(super) what: &'a str,
}

/// Boots Xen + dom0 under QEMU with the serial port on a socket; answers
/// `SMOKE: dump-request` with Ctrl-A x3 (input to Xen) and `r`.
pub(super) fn boot(o: &Qemu, policy: &str, kernel: &Path, initrd: &Path) -> Result<Boot> {
    let logs = xen_dir().join("logs");
    mkdirs(&logs)?;
    let log = logs.join(format!("serial-{}-{policy}.log", o.what));
    let sock = env::temp_dir().join(format!(
        "xtask-xen-{}-{}-{policy}.sock",
        std::process::id(),
        o.what
    ));
    let _ = fs::remove_file(&sock);
    for p in [o.xen, kernel, initrd] {
        let s = p.to_string_lossy();
        if s.contains(',') || s.contains(' ') {
            return Err(format!(
                "{s}: QEMU's multiboot module list cannot take commas or spaces"
            ));
        }
    }
    let append = format!(
        "console=com1 com1=115200,8n1 {} sched={policy} loglvl=all guest_loglvl=all \
         noreboot console_timestamps=boot watchdog",
        o.xen_args
    );
    let modules = format!(
        "{} console=hvc0 earlyprintk=xen {}_policy={policy},{}",
        kernel.display(),
        o.what,
        initrd.display()
    );
    let mut c = cmd("qemu-system-x86_64");
    c.args([
        "-machine",
        "q35",
        "-accel",
        "tcg",
        "-m",
        &o.mem_mb.to_string(),
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
    .arg(o.xen)
    .arg("-append")
    .arg(&append)
    .arg("-initrd")
    .arg(&modules);
    let qlog = logs.join(format!("qemu-{}-{policy}.log", o.what));
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
pub(super) fn check_boot(o: &SmokeOpts, policy: &PolicyInfo, b: &Boot) -> Result {
    // `sched=`, the name Xen prints, and the name the core uses in its dump.
    let (opt, xen_name, core_name) = (policy.xen_name, policy.display, policy.name);
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
    for bad in XEN_FAILURES {
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
        "all" => POLICIES.iter().collect(),
        p => vec![POLICIES.iter().find(|x| x.xen_name == p).ok_or_else(|| {
            let names: Vec<&str> = POLICIES.iter().map(|x| x.xen_name).collect();
            format!("--policy {p}: one of {}, all", names.join(", "))
        })?],
    };
    let num = |k: &str, d: u64| num_opt(&vals, k, d);
    let o = SmokeOpts {
        policies,
        xen: hypervisor(&vals)?,
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
            let q = Qemu {
                xen: &o.xen,
                timeout: o.timeout,
                dump: o.dump,
                mem_mb: 2048,
                xen_args: "dom0_mem=512M",
                what: "smoke",
            };
            let res = st.run(&format!("boot sched={}", p.xen_name), || {
                let b = boot(&q, p.xen_name, &kernel, &initrd)?;
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
