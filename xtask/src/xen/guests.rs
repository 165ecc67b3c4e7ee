//! `cargo xtask xen-guests`: real PV guests under each scheduler, created
//! by Debian's own Xen toolstack (`xl`, libxl, xenstored, xenconsoled) in a
//! busybox dom0, and the vSlicer paper's Fig. 7b ping experiment in Xen.
//!
//! Nothing is installed on this machine: the toolstack's packages are
//! fetched with `apt-get download` and unpacked with `dpkg -x` under
//! `target/xen/guests/`, with the host libraries they link (found by
//! `ldd`). Guests boot the same Debian kernel as dom0, uncompressed (libxc
//! decompresses a bzImage slowly under TCG), with a busybox initramfs, a
//! netfront and a load program (`xen-glue/guests/`). dom0's `/init`
//! (`xen-glue/guests/init`) prints `GUESTS:` lines: checks of the
//! administrator's commands (`ok NAME` / `fail NAME: ...`) and the ping
//! round trips of each phase (`rtt PHASE ms...`). This file turns them into
//! `target/xen/guests/results.json` and a table.

use super::smoke::{boot, build_vsched, fetch_linux, is_static_elf, Qemu, XEN_FAILURES};
use super::*;

use sched_core::POLICIES;

/// Debian's toolstack: `xl`, libxl and its libraries, xenstored,
/// xenconsoled, xen-init-dom0, the xenstore tools and xentrace.
const PACKAGES: &[&str] = &[
    "xen-utils-4.17",
    "xen-utils-common",
    "xenstore-utils",
    "libxenmisc4.17",
    "libxenstore4",
    "libxencall1",
    "libxendevicemodel1",
    "libxenevtchn1",
    "libxenforeignmemory1",
    "libxengnttab1",
    "libxenhypfs1",
    "libxentoolcore1",
    "libxentoollog1",
    "libyajl2",
];

/// The toolstack's binaries dom0 runs (their libraries come along).
const BINARIES: &[&str] = &[
    "usr/lib/xen-4.17/bin/xl",
    "usr/lib/xen-4.17/bin/xenstored",
    "usr/lib/xen-4.17/bin/xenconsoled",
    "usr/lib/xen-4.17/bin/xen-init-dom0",
    "usr/lib/xen-4.17/bin/xentrace",
    "usr/lib/xen-4.17/bin/xen-hptool",
    "usr/bin/xenalyze",
    "usr/lib/xen-4.17/bin/libxl-save-helper",
    "usr/bin/xenstore",
];

/// dom0's kernel modules, in load order.
const DOM0_MODULES: &[&str] = &[
    "kernel/drivers/xen/xen-evtchn.ko",
    "kernel/drivers/xen/xen-privcmd.ko",
    "kernel/drivers/xen/xenfs/xenfs.ko",
    "kernel/drivers/xen/xen-gntdev.ko",
    "kernel/drivers/xen/xen-gntalloc.ko",
    "kernel/drivers/net/xen-netback/xen-netback.ko",
    "kernel/net/llc/llc.ko",
    "kernel/net/802/stp.ko",
    "kernel/net/bridge/bridge.ko",
];

const INIT: &str = "xen-glue/guests/init";
const GUEST_INIT: &str = "xen-glue/guests/guest-init";
const VIF_BRIDGE: &str = "xen-glue/guests/vif-bridge";
const BUSY_C: &str = "xen-glue/guests/busy.c";

fn guests_dir() -> PathBuf {
    xen_dir().join("guests")
}

/// Debian's toolstack unpacked (fetched once): its root.
fn fetch_toolstack(log: &Path) -> Result<PathBuf> {
    let dir = guests_dir();
    let debs = dir.join("debs");
    let tree = dir.join("toolstack");
    if tree.join(BINARIES[0]).is_file() {
        println!("    cached: {}", tree.display());
        return Ok(tree);
    }
    require(&[("apt-get", "apt"), ("dpkg", "dpkg")])?;
    mkdirs(&debs)?;
    let mut c = cmd("apt-get");
    c.arg("download").args(PACKAGES).current_dir(&debs);
    run_logged(c, log).map_err(|e| format!("{e}\n(run apt-get update?)"))?;
    let tmp = dir.join("toolstack.tmp");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| e.to_string())?;
    }
    mkdirs(&tmp)?;
    for e in fs::read_dir(&debs).map_err(|e| e.to_string())? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.extension().is_some_and(|x| x == "deb") {
            run_logged(command("dpkg", &[Path::new("-x"), &p, &tmp]), log)?;
        }
    }
    if tree.exists() {
        fs::remove_dir_all(&tree).map_err(|e| e.to_string())?;
    }
    fs::rename(&tmp, &tree).map_err(|e| e.to_string())?;
    let ver = output(command(
        "dpkg-deb",
        &[
            Path::new("-f"),
            &first_deb(&debs, "xen-utils-4.17_")?,
            Path::new("Version"),
        ],
    ))?;
    println!("    fetched: Debian's xen-utils-4.17 {}", ver.trim());
    Ok(tree)
}

fn first_deb(dir: &Path, prefix: &str) -> Result<PathBuf> {
    fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".deb"))
        })
        .ok_or_else(|| format!("{}: no {prefix}*.deb", dir.display()))
}

/// Copies `src` to `dst` (parents made), following symlinks.
fn put(src: &Path, dst: &Path) -> Result {
    if let Some(d) = dst.parent() {
        mkdirs(d)?;
    }
    fs::copy(src, dst)
        .map(|_| ())
        .map_err(|e| format!("{} -> {}: {e}", src.display(), dst.display()))
}

/// The host libraries (outside `tree`) that `tree`'s binaries load, as
/// `ldd` resolves them with `tree`'s own libraries first.
fn host_libraries(tree: &Path) -> Result<BTreeSet<PathBuf>> {
    let libpath = format!(
        "{}:{}",
        tree.join("usr/lib/x86_64-linux-gnu").display(),
        tree.join("lib/x86_64-linux-gnu").display()
    );
    let mut libs = BTreeSet::new();
    for b in BINARIES {
        let mut c = cmd("ldd");
        c.arg(tree.join(b)).env("LD_LIBRARY_PATH", &libpath);
        let out = output(c)?;
        for l in out.lines() {
            if l.contains("not found") {
                return Err(format!("ldd {b}: {}", l.trim()));
            }
            // `libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)` or
            // `/lib64/ld-linux-x86-64.so.2 (0x...)`.
            let path = l
                .split("=>")
                .last()
                .and_then(|r| r.split_whitespace().next())
                .filter(|p| p.starts_with('/'));
            if let Some(p) = path {
                if !Path::new(p).starts_with(tree) {
                    libs.insert(PathBuf::from(p));
                }
            }
        }
    }
    Ok(libs)
}

/// The guest kernel uncompressed: the xz payload of the bzImage.
fn vmlinux(vmlinuz: &Path, out: &Path, log: &Path) -> Result {
    let b = fs::read(vmlinuz).map_err(|e| format!("{}: {e}", vmlinuz.display()))?;
    let magic = b"\xfd7zXZ\x00";
    let at = b
        .windows(magic.len())
        .position(|w| w == magic)
        .ok_or_else(|| format!("{}: no xz payload", vmlinuz.display()))?;
    let mut c = cmd("sh");
    c.arg("-c").arg(format!(
        "tail -c +{} '{}' | xz -dc --single-stream > '{}'",
        at + 1,
        vmlinuz.display(),
        out.display()
    ));
    run_logged(c, log)
}

/// `dir` as a gzipped newc cpio archive at `out`.
fn cpio(dir: &Path, out: &Path, log: &Path) -> Result {
    let mut c = cmd("sh");
    c.arg("-c").arg(format!(
        "cd '{}' && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -3 > '{}'",
        dir.display(),
        out.display()
    ));
    run_logged(c, log)
}

fn executable(p: &Path) -> Result {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", p.display()))
}

fn fresh(dir: &Path) -> Result {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    mkdirs(dir)
}

fn busybox() -> Result<PathBuf> {
    let b = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file() && is_static_elf(p))
        .ok_or("no static busybox (apt-get install busybox-static)")?;
    Ok(b)
}

/// The guests' initramfs: busybox, netfront, the load program, `/init`.
fn guest_initramfs(modules: &Path, log: &Path) -> Result<PathBuf> {
    let r = guests_dir().join("guest-root");
    fresh(&r)?;
    for d in ["bin", "dev", "proc", "sys", "lib"] {
        mkdirs(&r.join(d))?;
    }
    put(&busybox()?, &r.join("bin/busybox"))?;
    std::os::unix::fs::symlink("busybox", r.join("bin/sh")).map_err(|e| e.to_string())?;
    put(&root().join(GUEST_INIT), &r.join("init"))?;
    executable(&r.join("init"))?;
    put(
        &modules.join("kernel/drivers/net/xen-netfront.ko"),
        &r.join("lib/xen-netfront.ko"),
    )?;
    let busy = r.join("bin/busy");
    let mut c = cmd("gcc");
    c.args(["-static", "-O2", "-o"])
        .arg(&busy)
        .arg(root().join(BUSY_C));
    run_logged(c, log).map_err(|e| format!("{e}\n(apt-get install gcc libc6-dev)"))?;
    let out = guests_dir().join("guest.img");
    cpio(&r, &out, log)?;
    Ok(out)
}

/// What every dom0 initramfs is made of.
struct Inputs {
    /// Debian's kernel (also the guests').
    kernel: PathBuf,
    /// Its modules directory.
    modules: PathBuf,
    /// The toolstack, unpacked.
    tree: PathBuf,
    /// A static `vsched`.
    vsched: PathBuf,
    /// The guests' initramfs.
    guest_img: PathBuf,
}

/// dom0's initramfs for one policy.
fn dom0_initramfs(o: &GuestOpts, policy: &str, inp: &Inputs, log: &Path) -> Result<PathBuf> {
    let Inputs {
        kernel,
        modules,
        tree,
        vsched,
        guest_img,
    } = inp;
    let r = guests_dir().join("dom0-root");
    fresh(&r)?;
    for d in [
        "bin",
        "dev",
        "proc",
        "sys",
        "tmp",
        "lib/modules",
        "etc/guests",
        "boot",
    ] {
        mkdirs(&r.join(d))?;
    }
    // The toolstack first; our files replace its where they overlap.
    let mut c = cmd("cp");
    c.arg("-a").arg(format!("{}/.", tree.display())).arg(&r);
    run_logged(c, log)?;
    // libgcc_s is loaded with dlopen (pthread_cancel), unseen by ldd.
    let mut libs = host_libraries(tree)?;
    libs.insert(PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"));
    for lib in libs {
        put(
            &lib,
            &r.join(lib.strip_prefix("/").map_err(|e| e.to_string())?),
        )?;
    }
    put(&busybox()?, &r.join("bin/busybox"))?;
    std::os::unix::fs::symlink("busybox", r.join("bin/sh")).map_err(|e| e.to_string())?;
    put(&root().join(INIT), &r.join("init"))?;
    executable(&r.join("init"))?;
    let vif = r.join("etc/xen/scripts/vif-bridge");
    let _ = fs::remove_file(&vif);
    put(&root().join(VIF_BRIDGE), &vif)?;
    executable(&vif)?;
    for m in DOM0_MODULES {
        let name = Path::new(m).file_name().unwrap_or_default();
        put(&modules.join(m), &r.join("lib/modules").join(name))?;
    }
    let dst = r.join("bin/vsched");
    let stripped = have("strip")
        && command("strip", &[Path::new("-o"), &dst, vsched.as_path()])
            .status()
            .is_ok_and(|s| s.success());
    if !stripped {
        put(vsched, &dst)?;
    }
    executable(&dst)?;
    vmlinux(kernel, &r.join("boot/vmlinux"), log)?;
    put(guest_img, &r.join("boot/guest.img"))?;
    fs::write(r.join("etc/guests/policy"), format!("{policy}\n")).map_err(|e| e.to_string())?;
    fs::write(r.join("etc/guests/pings"), format!("{}\n", o.pings)).map_err(|e| e.to_string())?;
    let out = guests_dir().join(format!("dom0-{policy}.img"));
    cpio(&r, &out, log)?;
    Ok(out)
}

struct GuestOpts {
    policies: Vec<String>,
    /// Boots per policy.
    boots: u32,
    xen: PathBuf,
    vsched: Option<PathBuf>,
    timeout: Duration,
    pings: u32,
}

/// Round-trip statistics of one phase, ms.
#[derive(Clone, Debug, Default)]
struct Rtt {
    n: usize,
    mean: f64,
    p99: f64,
    max: f64,
}

fn rtt(samples: &[f64]) -> Rtt {
    if samples.is_empty() {
        return Rtt::default();
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (v.len() * 99).div_ceil(100).max(1);
    Rtt {
        n: v.len(),
        mean: v.iter().sum::<f64>() / v.len() as f64,
        p99: v[rank - 1],
        max: v[v.len() - 1],
    }
}

/// The shares experiment's guests: name, xl weight, xl cap (% of a pCPU).
/// Weights 1:2:4:1, the weight-4 one capped at 20 %, all busy on pCPU 1
/// (`xen-glue/guests/init`).
const SHARES: [(&str, u16, u16); 4] = [
    ("busy1", 256, 0),
    ("busy2", 512, 0),
    ("busy3", 1024, 20),
    ("busy4", 256, 0),
];
/// Seconds the shares are measured over.
const SHARES_SECS: i64 = 30;
/// Allowed distance of a measured share from the simulator's, in points
/// of pCPU 1 (the issue's ±5 %).
const SHARES_TOLERANCE: f64 = 0.05;

/// One guest's share of pCPU 1 in Xen and in the simulator.
#[derive(Clone, Debug)]
struct Share {
    guest: String,
    xen: f64,
    sim: f64,
}

/// What one boot showed.
struct Outcome {
    policy: String,
    boot: u32,
    ok: Vec<String>,
    failed: Vec<String>,
    phases: Vec<(String, Rtt)>,
    /// `cputime` snapshots: dom0's uptime, then (guest, CPU seconds).
    cputimes: Vec<(f64, Vec<(String, f64)>)>,
    shares: Vec<Share>,
    done: bool,
    secs: f64,
}

/// The shares of pCPU 1 the simulator predicts for [`SHARES`] under
/// `policy` (a Xen scheduler name: Xen's own credit is predicted by our
/// credit engine), on the host the boot has: 2 pCPUs, dom0 alone and
/// nearly idle on pCPU 0, the guests pinned to pCPU 1. (The pool's credit is
/// handed out for both pCPUs, so the guests never run out of it and credit1
/// takes them in turn: weights do not show, the cap does.)
fn predicted_shares(policy: &str) -> Result<Vec<f64>> {
    use sched_sim::{Domain, Host, Scenario, SimOptions, Span, Workload};
    let name = POLICIES.iter().find(|p| p.xen_name == policy).map_or(
        <sched_core::Credit1 as sched_core::Policy>::INFO.name,
        |p| p.name,
    );
    let mut dom0 = Domain::new("Domain-0");
    dom0.pin = Some(vec![0]);
    let guests = SHARES.iter().map(|&(g, weight, cap)| {
        let mut d = Domain::new(g);
        d.pin = Some(vec![1]);
        d.weight = weight;
        d.cap = cap;
        d.workloads = vec![Workload::Cpu {
            load: 1.0,
            period: Span::ms(100),
        }];
        d
    });
    let sc = Scenario::new(
        "xen-guests-shares",
        Span::secs(SHARES_SECS),
        1,
        Host::new(2, Span::us(5)),
        std::iter::once(dom0).chain(guests).collect(),
    );
    let rep = sched_sim::simulate(&sc, name, &SimOptions::default())
        .map_err(|e| format!("simulating the shares under {name}: {e}"))?;
    let pcpu_ns = (SHARES_SECS * 1_000_000_000) as f64;
    Ok(rep.domains[1..]
        .iter()
        .map(|d| d.cpu_ns as f64 / pcpu_ns)
        .collect())
}

/// Each guest's share of pCPU 1 between the first and last `cputime`
/// snapshot, beside the simulator's.
fn shares(o: &Outcome) -> Result<Vec<Share>> {
    let (Some((t0, a)), Some((t1, b))) = (o.cputimes.first(), o.cputimes.last()) else {
        return Ok(Vec::new());
    };
    let secs = t1 - t0;
    if secs <= 0.0 {
        return Ok(Vec::new());
    }
    let sim = predicted_shares(&o.policy)?;
    let cpu = |v: &[(String, f64)], g: &str| v.iter().find(|(n, _)| n == g).map(|(_, s)| *s);
    Ok(SHARES
        .iter()
        .zip(sim)
        .filter_map(|(&(g, _, _), sim)| {
            Some(Share {
                guest: g.to_string(),
                xen: (cpu(b, g)? - cpu(a, g)?) / secs,
                sim,
            })
        })
        .collect())
}

fn outcome(policy: &str, boot: u32, lines: &[(f64, String)], pings: u32) -> Outcome {
    let mut o = Outcome {
        policy: policy.to_string(),
        boot,
        ok: Vec::new(),
        failed: Vec::new(),
        phases: Vec::new(),
        cputimes: Vec::new(),
        shares: Vec::new(),
        done: false,
        secs: lines.last().map_or(0.0, |l| l.0),
    };
    for (_, l) in lines {
        if let Some(bad) = XEN_FAILURES.iter().find(|b| l.contains(*b)) {
            o.failed.push(format!("Xen reported `{bad}`: {}", l.trim()));
        }
        let Some(g) = l.split("GUESTS: ").nth(1) else {
            continue;
        };
        if let Some(n) = g.strip_prefix("ok ") {
            o.ok.push(n.trim().to_string());
        } else if let Some(f) = g.strip_prefix("fail ") {
            o.failed.push(f.trim().to_string());
        } else if let Some(r) = g.strip_prefix("rtt ") {
            let mut w = r.split_whitespace();
            let phase = w.next().unwrap_or("?").to_string();
            let v: Vec<f64> = w.filter_map(|x| x.parse().ok()).collect();
            let s = rtt(&v);
            if s.n < pings as usize {
                o.failed
                    .push(format!("rtt {phase}: {} of {pings} pings answered", s.n));
            }
            o.phases.push((phase, s));
        } else if let Some(c) = g.strip_prefix("cputime ") {
            let mut w = c.split_whitespace();
            let at = w.next().and_then(|t| t.parse().ok()).unwrap_or(0.0);
            let mut v = Vec::new();
            while let (Some(n), Some(s)) = (w.next(), w.next()) {
                if let Ok(s) = s.parse() {
                    v.push((n.to_string(), s));
                }
            }
            o.cputimes.push((at, v));
        } else if g.starts_with("done") {
            o.done = true;
        }
    }
    match shares(&o) {
        Ok(s) if s.len() == SHARES.len() => {
            for x in &s {
                if (x.xen - x.sim).abs() > SHARES_TOLERANCE {
                    o.failed.push(format!(
                        "share {}: {:.1} % in Xen, {:.1} % in the simulator (tolerance {:.0} points)",
                        x.guest,
                        100.0 * x.xen,
                        100.0 * x.sim,
                        100.0 * SHARES_TOLERANCE
                    ));
                }
            }
            o.shares = s;
        }
        Ok(_) => o
            .failed
            .push("shares: no CPU times for all four guests".into()),
        Err(e) => o.failed.push(e),
    }
    if !o.done {
        o.failed.push("dom0 never said done".into());
    }
    o
}

fn json(outs: &[Outcome], pings: u32) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut j = format!(
        "{{\n  \"format\": \"vsched-xen-guests/1\",\n  \"pings\": {pings},\n  \"runs\": [\n"
    );
    for (i, o) in outs.iter().enumerate() {
        let phases: Vec<String> = o
            .phases
            .iter()
            .map(|(p, r)| {
                format!(
                    "{}: {{\"answered\": {}, \"mean_ms\": {:.3}, \"p99_ms\": {:.3}, \"max_ms\": {:.3}}}",
                    q(p),
                    r.n,
                    r.mean,
                    r.p99,
                    r.max
                )
            })
            .collect();
        let list = |v: &[String]| v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ");
        let shares: Vec<String> = o
            .shares
            .iter()
            .map(|s| {
                format!(
                    "{}: {{\"xen\": {:.4}, \"simulator\": {:.4}}}",
                    q(&s.guest),
                    s.xen,
                    s.sim
                )
            })
            .collect();
        j.push_str(&format!(
            "    {{\"policy\": {}, \"boot\": {}, \"boot_s\": {:.1}, \"checks_ok\": [{}], \"checks_failed\": [{}], \"rtt\": {{{}}}, \"shares\": {{{}}}}}{}\n",
            q(&o.policy),
            o.boot,
            o.secs,
            list(&o.ok),
            list(&o.failed),
            phases.join(", "),
            shares.join(", "),
            if i + 1 < outs.len() { "," } else { "" }
        ));
    }
    j.push_str("  ]\n}\n");
    j
}

/// `cargo xtask xen-guests`.
pub fn xen_guests(args: &[String]) -> Result {
    let (vals, _flags, rest) = parse_opts(
        args,
        &[
            "--policy",
            "--xen",
            "--vsched",
            "--timeout",
            "--pings",
            "--boots",
            "--out",
        ],
        &[],
    )?;
    if let Some(r) = rest.first() {
        return Err(format!("unexpected argument `{r}`"));
    }
    // Xen's own credit first, as the baseline; then ours.
    let mut known: Vec<&str> = vec!["credit"];
    known.extend(POLICIES.iter().map(|p| p.xen_name));
    let policies: Vec<String> = match vals.get("--policy").map(String::as_str).unwrap_or("all") {
        "all" => known.iter().map(|s| s.to_string()).collect(),
        list => {
            let v: Vec<String> = list.split(',').map(str::to_string).collect();
            if let Some(p) = v.iter().find(|p| !known.contains(&p.as_str())) {
                return Err(format!("--policy {p}: one of {}, all", known.join(", ")));
            }
            v
        }
    };
    let num = |k: &str, d: u64| num_opt(&vals, k, d);
    let o = GuestOpts {
        policies,
        xen: hypervisor(&vals)?,
        vsched: vals.get("--vsched").map(PathBuf::from),
        timeout: Duration::from_secs(num("--timeout", 420)?),
        pings: u32::try_from(num("--pings", 100)?)
            .ok()
            .filter(|&n| n > 0)
            .ok_or("--pings: a positive number")?,
        boots: u32::try_from(num("--boots", 1)?)
            .ok()
            .filter(|&n| n > 0)
            .ok_or("--boots: a positive number")?,
    };
    require(&[
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("cpio", "cpio"),
        ("gzip", "gzip"),
        ("xz", "xz-utils"),
        ("ldd", "libc-bin"),
        ("gcc", "gcc"),
    ])?;
    let log = xen_dir().join("logs").join("xen-guests.log");
    let mut st = Stages::new();
    let mut outs = Vec::new();
    let r = (|| -> Result {
        let (kernel, modules) = st.run("linux (apt-get download)", || fetch_linux(&log))?;
        let tree = st.run("toolstack (apt-get download)", || fetch_toolstack(&log))?;
        let vsched = match &o.vsched {
            Some(v) => v.clone(),
            None => st.run("static vsched", || build_vsched(&log))?,
        };
        let guest_img = st.run("guest initramfs", || guest_initramfs(&modules, &log))?;
        let inp = Inputs {
            kernel,
            modules,
            tree,
            vsched,
            guest_img,
        };
        for p in &o.policies {
            let img = st.run(&format!("dom0 initramfs ({p})"), || {
                dom0_initramfs(&o, p, &inp, &log)
            })?;
            let q = Qemu {
                xen: &o.xen,
                timeout: o.timeout,
                dump: false,
                mem_mb: 3072,
                xen_args: "dom0_mem=768M,max:768M dom0_max_vcpus=1 dom0_vcpus_pin",
                what: "guests",
            };
            for n in 1..=o.boots {
                let b = st.run(&format!("boot sched={p} ({n}/{})", o.boots), || {
                    boot(&q, p, &inp.kernel, &img)
                })?;
                let out = outcome(p, n, &b.lines, o.pings);
                println!(
                    "    sched={p}: {} checks ok, {} failed{}",
                    out.ok.len(),
                    out.failed.len(),
                    if b.timed_out { " (timed out)" } else { "" }
                );
                for f in &out.failed {
                    println!("    FAIL {f}");
                }
                println!("    serial log: {}", b.log.display());
                outs.push(out);
            }
        }
        Ok(())
    })();
    st.summary("xen-guests");
    r?;
    let file = vals
        .get("--out")
        .map(PathBuf::from)
        .unwrap_or_else(|| guests_dir().join("results.json"));
    fs::write(&file, json(&outs, o.pings)).map_err(|e| format!("{}: {e}", file.display()))?;
    println!(
        "\nping RTT from dom0 (pCPU 0) to a guest on pCPU 1, ms (mean / p99 / max): \
         alone (100 % busy), beside 3 busy guests (pinged guest 100 % busy, then 40 %)"
    );
    println!(
        "{:<10} {:>4} {:>22} {:>22} {:>22}",
        "sched", "boot", "alone", "+3 busy", "+3 busy, 40 %"
    );
    for out in &outs {
        let cell = |ph: &str| {
            out.phases
                .iter()
                .find(|(p, _)| p == ph)
                .map_or("-".to_string(), |(_, r)| {
                    format!("{:.1} / {:.1} / {:.1}", r.mean, r.p99, r.max)
                })
        };
        println!(
            "{:<10} {:>4} {:>22} {:>22} {:>22}",
            out.policy,
            out.boot,
            cell("alone"),
            cell("busy3"),
            cell("busy3-40")
        );
    }
    println!(
        "\nshares of pCPU 1 over {SHARES_SECS} s, 4 busy guests, weights 1:2:4:1, the weight-4 \
         one capped at 20 %: Xen (simulator), %"
    );
    println!(
        "{:<10} {:>4} {:>15} {:>15} {:>15} {:>15}",
        "sched", "boot", "w1", "w2", "w4 cap 20", "w1"
    );
    for out in &outs {
        let cells: Vec<String> = out
            .shares
            .iter()
            .map(|s| format!("{:.1} ({:.1})", 100.0 * s.xen, 100.0 * s.sim))
            .collect();
        println!(
            "{:<10} {:>4} {}",
            out.policy,
            out.boot,
            cells
                .iter()
                .map(|c| format!("{c:>15}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    println!("results: {}", file.display());
    let failed: Vec<String> = outs
        .iter()
        .filter(|o| !o.failed.is_empty())
        .map(|o| {
            format!(
                "sched={} boot {}: {}",
                o.policy,
                o.boot,
                o.failed.join("; ")
            )
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<(f64, String)> {
        v.iter()
            .map(|l| (0.0, format!("(XEN) GUESTS: {l}")))
            .collect()
    }

    /// The shares come from the first and last CPU-time snapshots, and one
    /// far from the simulator's fails the boot.
    #[test]
    fn shares_are_read_and_held_to_the_simulator() {
        // The simulator's credit gives 26.7 / 26.7 / 20 (capped) / 26.7 %.
        let good = lines(&[
            "cputime 100.0 busy1 10.0 busy2 20.0 busy3 5.0 busy4 10.0",
            "cputime 130.0 busy1 18.0 busy2 28.0 busy3 11.0 busy4 18.0",
            "done at 140",
        ]);
        let o = outcome("rcredit", 1, &good, 1);
        assert_eq!(o.shares.len(), 4);
        assert!((o.shares[1].xen - 8.0 / 30.0).abs() < 1e-9);
        assert!(o.failed.is_empty(), "{:?}", o.failed);
        // The capped guest at 40 %: its cap was not held.
        let bad = lines(&[
            "cputime 100.0 busy1 10.0 busy2 20.0 busy3 5.0 busy4 10.0",
            "cputime 130.0 busy1 13.0 busy2 29.0 busy3 17.0 busy4 13.0",
            "done at 140",
        ]);
        let o = outcome("rcredit", 1, &bad, 1);
        assert!(
            o.failed.iter().any(|f| f.starts_with("share busy3")),
            "{:?}",
            o.failed
        );
        // Xen's own failures fail the boot whatever dom0 says.
        let mut trap = good.clone();
        trap.insert(1, (0.0, "(XEN) Assertion 'x' failed at core.c:1".into()));
        assert!(outcome("rcredit", 1, &trap, 1).failed[0].starts_with("Xen reported"));
        // No snapshots: said, not silently passed.
        let o = outcome("rcredit", 1, &lines(&["done at 1"]), 1);
        assert!(o.failed.iter().any(|f| f.starts_with("shares:")));
    }
}
