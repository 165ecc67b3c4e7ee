//! The xl-style commands on a simulated host file: xl's table layouts and
//! option rules, changes that land whole or not at all, and concurrent
//! invocations that never lose or corrupt a change.

use std::path::{Path, PathBuf};
mod common;

use std::process::{Command, Output};

use common::{ok, refused};

fn vsched_at(host: &Path, args: &[&str]) -> Output {
    let host = host.to_str().unwrap();
    common::run(&[args, &["--host", host]].concat(), &[])
}

/// A fresh copy of a bundled scenario as a host file, in its own directory.
fn host(tag: &str, scenario: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vsched-host-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let src = common::scenario(scenario);
    let p = dir.join("host.toml");
    std::fs::copy(src, &p).unwrap();
    p
}

#[test]
fn sched_credit_lists_like_xl_and_sets_weight_cap_and_pool_params() {
    let h = host("credit", "lsvm-ping-4vm.toml");
    let out = ok(&vsched_at(&h, &["sched-credit"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "Cpupool Pool-0: tslice=30ms ratelimit=1000us migration-delay=0us"
    );
    // xl: "%-33s %4s %6s %4s" and rows "%-33s %4d %6d %4d".
    assert_eq!(
        lines[1],
        format!("{:<33} {:>4} {:>6} {:>4}", "Name", "ID", "Weight", "Cap")
    );
    assert_eq!(
        lines[3],
        format!("{:<33} {:>4} {:>6} {:>4}", "vm2", 1, 256, 0)
    );
    assert_eq!(lines.len(), 6);

    assert_eq!(
        ok(&vsched_at(
            &h,
            &["sched-credit", "-d", "vm2", "-w", "512", "-c", "50"]
        )),
        ""
    );
    let one = ok(&vsched_at(&h, &["sched-credit", "-d", "1"]));
    assert_eq!(
        one.lines().nth(1).unwrap(),
        format!("{:<33} {:>4} {:>6} {:>4}", "vm2", 1, 512, 50)
    );
    ok(&vsched_at(
        &h,
        &["sched-credit", "-s", "-t", "10", "-r", "500", "-m", "100"],
    ));
    let pool = ok(&vsched_at(&h, &["sched-credit", "-s", "-p", "Pool-0"]));
    assert_eq!(
        pool.trim(),
        "Cpupool Pool-0: tslice=10ms ratelimit=500us migration-delay=100us"
    );
    // The file is still a valid scenario with the new values in it, and the
    // admin's comments survive.
    let text = std::fs::read_to_string(&h).unwrap();
    assert!(text.starts_with("# vSlicer's headline case"));
    let sc = sched_sim::Scenario::parse(&text, "h").unwrap();
    assert_eq!((sc.domains[1].weight, sc.domains[1].cap), (512, 50));
    assert_eq!(sc.pool.tslice, Some(sched_sim::Span::ms(10)));
}

#[test]
fn xl_option_rules_and_bad_values_are_refused_and_change_nothing() {
    let h = host("rules", "lsvm-ping-4vm.toml");
    let before = std::fs::read(&h).unwrap();
    refused(
        &vsched_at(&h, &["sched-credit", "-w", "5"]),
        "-w and -c need -d",
    );
    refused(
        &vsched_at(&h, &["sched-credit", "-s", "-d", "vm1"]),
        "-s and -p cannot",
    );
    refused(
        &vsched_at(&h, &["sched-credit", "-t", "5"]),
        "-t, -r and -m need -s",
    );
    refused(
        &vsched_at(&h, &["sched-credit", "-p", "Pool-9"]),
        "-p: no cpupool",
    );
    refused(
        &vsched_at(&h, &["sched-credit", "-d", "nope", "-w", "5"]),
        "domain \"nope\": no domain has that name",
    );
    refused(
        &vsched_at(&h, &["sched-credit", "-d", "vm1", "-w", "0"]),
        "-w: weight must be",
    );
    refused(
        &vsched_at(&h, &["sched-credit", "-d", "vm1", "-c", "101"]),
        "-c: cap must be 0..100",
    );
    refused(
        &vsched_at(&h, &["sched-credit", "-s", "-t", "1001"]),
        "-t: tslice",
    );
    refused(
        &vsched_at(&h, &["sched-credit", "-s", "-t", "1", "-r", "2000"]),
        "-r: ratelimit",
    );
    refused(
        &vsched_at(&h, &["sched-vslicer", "-d", "vm1", "-m", "500us"]),
        "-m: microslice",
    );
    refused(
        &vsched_at(&h, &["sched-vslicer", "-d", "vm1", "-m", "fast"]),
        "-m:",
    );
    refused(
        &vsched_at(&h, &["sched-vslicer", "-m", "5ms"]),
        "-m needs -d",
    );
    assert_eq!(
        std::fs::read(&h).unwrap(),
        before,
        "byte-identical after refusals"
    );
    // No temporary files are left behind, only the lock.
    let names: Vec<String> = std::fs::read_dir(h.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n == "host.toml" || n == "host.toml.lock"),
        "{names:?}"
    );

    let missing = h.with_file_name("absent.toml");
    refused(
        &vsched_at(&missing, &["sched-credit"]),
        &format!("{}: no such host file", missing.display()),
    );
    // A host file that is not a valid scenario is refused with its line.
    std::fs::write(
        &missing,
        "duration = \"1s\"\n[[domain]]\nname = \"a\"\nweight = 0\n",
    )
    .unwrap();
    refused(
        &vsched_at(&missing, &["sched-credit", "-d", "a", "-w", "3"]),
        &format!("{}:4: domain[0].weight", missing.display()),
    );
}

#[test]
fn sched_vslicer_switches_a_domain_and_shows_each_pcpus_round() {
    let h = host("vslicer", "lsvm-ping-4vm.toml");
    let out = ok(&vsched_at(&h, &["sched-vslicer"]));
    assert!(
        out.contains(&format!(
            "{:<33} {:>4} {:>10} {:>5}",
            "vm1", 0, "5ms", "LSVM"
        )),
        "{out}"
    );
    assert!(
        out.contains("pCPU 0: m=1 LSVM vCPU(s), n=3 NLSVM vCPU(s); T_S=10ms T_n=10ms"),
        "{out}"
    );
    ok(&vsched_at(
        &h,
        &["sched-vslicer", "-d", "vm2", "-m", "10ms"],
    ));
    ok(&vsched_at(&h, &["sched-vslicer", "-d", "0", "-m", "0"]));
    let out = ok(&vsched_at(&h, &["sched-vslicer"]));
    assert!(
        out.contains(&format!(
            "{:<33} {:>4} {:>10} {:>5}",
            "vm1", 0, "-", "NLSVM"
        )),
        "{out}"
    );
    assert!(out.contains("T_S=10ms T_n=10ms"), "{out}");
    let sc = sched_sim::Scenario::from_file(&h).unwrap();
    assert_eq!(sc.domains[0].microslice, None);
    assert_eq!(sc.domains[1].microslice, Some(sched_sim::Span::ms(10)));
    // The changed host simulates: vm2 is now the one with short waits (its
    // runqueue waits are a third of an NLSVM's).
    let sim = Command::new(env!("CARGO_BIN_EXE_vsched"))
        .args([
            "simulate",
            h.to_str().unwrap(),
            "--json",
            "--duration",
            "5s",
        ])
        .output()
        .unwrap();
    let r: sched_sim::Report = serde_json::from_slice(&sim.stdout).unwrap();
    let (l, n) = (r.domains[1].wait, r.domains[2].wait);
    assert!(l.mean_ns * 2 < n.mean_ns, "{l:?} vs {n:?}");
}

#[test]
fn concurrent_changes_queue_on_the_lock_and_none_is_lost() {
    let h = host("race", "six-vms-one-pinged.toml");
    let sc = sched_sim::Scenario::from_file(&h).unwrap();
    let n = sc.domains.len();
    // Every domain gets a different weight, from its own process, twice over.
    let children: Vec<_> = (0..2 * n)
        .map(|k| {
            let i = k % n;
            Command::new(env!("CARGO_BIN_EXE_vsched"))
                .args([
                    "sched-credit",
                    "-d",
                    &i.to_string(),
                    "-w",
                    &(100 + i).to_string(),
                ])
                .arg("--host")
                .arg(&h)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let sc = sched_sim::Scenario::from_file(&h).unwrap();
    for (i, d) in sc.domains.iter().enumerate() {
        assert_eq!(usize::from(d.weight), 100 + i, "{}", d.name);
    }
}

#[test]
fn sched_edf_sets_real_time_types_deadlines_reserves_and_the_poll() {
    let h = host("edf", "edf-driver-smp.toml");
    let out = ok(&vsched_at(&h, &["sched-edf"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "Cpupool Pool-0: sched=edf-credit poll=500us edf-slice=500us"
    );
    let row = |n: &str, id: usize, t: &str, d: &str, r: &str, drv: &str| {
        format!("{n:<33} {id:>4} {t:>9} {d:>9} {r:>9} {drv:>6}")
    };
    assert_eq!(lines[3], row("web", 1, "aperiodic", "4ms", "2ms", "no"));
    assert_eq!(lines[2], row("dom0", 0, "-", "-", "-", "yes"));
    ok(&vsched_at(
        &h,
        &[
            "sched-edf",
            "-d",
            "batch1",
            "-t",
            "periodic",
            "-D",
            "5ms",
            "-r",
            "1ms",
        ],
    ));
    ok(&vsched_at(&h, &["sched-edf", "-d", "web", "-t", "none"]));
    ok(&vsched_at(&h, &["sched-edf", "-s", "-P", "250us"]));
    let out = ok(&vsched_at(&h, &["sched-edf"]));
    assert!(
        out.contains(&row("batch1", 2, "periodic", "5ms", "1ms", "no")),
        "{out}"
    );
    assert!(out.contains(&row("web", 1, "-", "-", "2ms", "no")), "{out}");
    assert!(out.starts_with("Cpupool Pool-0: sched=edf-credit poll=250us"));
    let sc = sched_sim::Scenario::from_file(&h).unwrap();
    assert_eq!(sc.domains[1].rt, None);
    assert_eq!(sc.pool.poll, Some(sched_sim::Span::us(250)));

    let before = std::fs::read(&h).unwrap();
    // Admission control: 0.5 ms / 200 us = 2.5 pCPUs, one available (dom0
    // is pinned to the other).
    refused(
        &vsched_at(
            &h,
            &[
                "sched-edf",
                "-d",
                "batch2",
                "-t",
                "aperiodic",
                "-D",
                "200us",
            ],
        ),
        "change refused: infeasible: real-time vCPUs would need 2.600 pCPUs",
    );
    refused(
        &vsched_at(&h, &["sched-edf", "-d", "batch2", "-t", "aperiodic"]),
        "-D: deadline",
    );
    // `-t none` drops the deadline: giving one with it is a mistake, not
    // something to ignore.
    refused(
        &vsched_at(
            &h,
            &["sched-edf", "-d", "batch2", "-t", "none", "-D", "5ms"],
        ),
        "-D: a deadline needs -t periodic or -t aperiodic",
    );
    refused(
        &vsched_at(
            &h,
            &["sched-edf", "-d", "batch2", "-t", "periodic", "-D", "5s"],
        ),
        "-D: deadline",
    );
    refused(
        &vsched_at(
            &h,
            &["sched-edf", "-d", "dom0", "-t", "periodic", "-D", "5ms"],
        ),
        "-t: the driver",
    );
    refused(
        &vsched_at(&h, &["sched-edf", "-d", "web", "-r", "31ms"]),
        "-r: reserve",
    );
    refused(
        &vsched_at(&h, &["sched-edf", "-s", "-e", "40ms"]),
        "-e: EDF slice",
    );
    refused(
        &vsched_at(&h, &["sched-edf", "-s", "-P", "50us"]),
        "-P: poll period",
    );
    refused(
        &vsched_at(&h, &["sched-edf", "-D", "5ms"]),
        "-t, -D and -r need -d",
    );
    refused(
        &vsched_at(&h, &["sched-edf", "-P", "1ms"]),
        "-P and -e need -s",
    );
    refused(
        &vsched_at(&h, &["sched-edf", "-s", "-d", "web"]),
        "-s cannot be combined",
    );
    assert_eq!(
        std::fs::read(&h).unwrap(),
        before,
        "byte-identical after refusals"
    );
}

#[test]
fn a_host_goes_from_nothing_to_a_mixed_setup_with_commands_alone() {
    let dir = std::env::temp_dir().join(format!("vsched-host-new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let h = dir.join("host.toml");
    ok(&vsched_at(&h, &["host-create", "--pcpus", "2"]));
    refused(
        &vsched_at(&h, &["host-create"]),
        &format!("{}: exists", h.display()),
    );
    let cpu = "{ kind = \"cpu\", load = 1.0 }";
    let ping = "{ kind = \"ping\", interval = \"20ms\", service = \"50us\" }";
    ok(&vsched_at(
        &h,
        &["create", "web", "--workload", ping, "--pin", "1"],
    ));
    ok(&vsched_at(
        &h,
        &["create", "batch", "--workload", cpu, "--vcpus", "2"],
    ));
    ok(&vsched_at(&h, &["create", "gone", "--workload", cpu]));
    ok(&vsched_at(&h, &["sched-vslicer", "-d", "web", "-m", "5ms"]));
    ok(&vsched_at(
        &h,
        &["sched-edf", "-d", "web", "-t", "aperiodic", "-D", "5ms"],
    ));
    ok(&vsched_at(
        &h,
        &["sched-credit", "-d", "batch", "-w", "512", "-c", "150"],
    ));
    ok(&vsched_at(&h, &["destroy", "gone"]));
    refused(
        &vsched_at(&h, &["create", "web"]),
        "web: a domain has that name",
    );
    refused(
        &vsched_at(&h, &["create", "x", "--workload", "{ kind = \"cpu\" }"]),
        "change refused, host file unchanged:",
    );
    let list = ok(&vsched_at(&h, &["list"]));
    let rows: Vec<&str> = list.lines().collect();
    assert_eq!(rows.len(), 4, "{list}");
    assert!(rows[1].starts_with("Domain-0") && rows[1].ends_with("driver"));
    assert!(
        rows[2].contains("5ms") && rows[2].ends_with("aperiodic/5ms"),
        "{}",
        rows[2]
    );
    assert!(
        rows[3].contains("512") && rows[3].contains("150"),
        "{}",
        rows[3]
    );
    let sim = Command::new(env!("CARGO_BIN_EXE_vsched"))
        .args([
            "simulate",
            h.to_str().unwrap(),
            "--policy",
            "all",
            "--json",
            "--duration",
            "3s",
        ])
        .output()
        .unwrap();
    assert_eq!(
        sim.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let v: Vec<sched_sim::Report> = serde_json::from_slice(&sim.stdout).unwrap();
    assert_eq!(v.len(), sched_sim::policies().len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `vsched ARGS` and returns (exit code, stdout, stderr).
fn vsched(args: &[&str]) -> (Option<i32>, String, String) {
    let out = common::run(args, &[]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn host_xen_fails_with_one_line_where_there_is_no_xen() {
    // CI machines have no Xen; in dom0 of a Xen host this is the smoke
    // test's job (`cargo xtask xen-smoke`).
    if std::path::Path::new("/dev/xen/privcmd").exists() {
        return;
    }
    for args in [
        &["sched-credit", "--host", "xen"][..],
        &["sched-credit", "--host", "xen", "-d", "0", "-w", "512"],
        &["sched-vslicer", "--host", "xen", "-d", "0", "-m", "5ms"],
        &["sched-edf", "--host", "xen", "-s"],
        &["debug-keys", "r", "--host", "xen"],
        &["cpupool-list", "--host", "xen"],
        &["cpupool-create", "--host", "xen", "--sched", "vslicer"],
    ] {
        let (code, out, err) = vsched(args);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("--host xen: no Xen here"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn commands_without_a_xen_side_refuse_host_xen_in_one_line() {
    for args in [&["list", "--host", "xen"][..], &["debug-keys", "r"]] {
        let (code, out, err) = vsched(args);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    let (_, _, err) = vsched(&["list", "--host", "xen"]);
    assert!(
        err.contains("sched-credit, sched-vslicer, sched-edf, cpupool-* and debug-keys"),
        "{err}"
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_cli_definition() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vsched"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    let bash = run(&["completions", "bash"]);
    assert!(bash.contains("sched-vslicer") && bash.contains("--microslice"));
    let man = run(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH vsched"),
        "{}",
        &man[..80.min(man.len())]
    );
    assert!(man.contains("sched\\-edf") || man.contains("sched-edf"));
    // Every command has help with examples.
    for cmd in [
        "simulate",
        "repro",
        "sched-credit",
        "sched-vslicer",
        "sched-edf",
        "sweep",
        "create",
    ] {
        let help = run(&[cmd, "--help"]);
        assert!(help.contains("Example"), "{cmd} --help has no example");
    }
}

#[test]
fn vsched_net_sets_a_limit_and_shaper_and_create_takes_flows() {
    let h = host("net", "edf-driver-smp.toml");
    ok(&vsched_at(
        &h,
        &[
            "net",
            "-d",
            "web",
            "--limit",
            "2Mbit",
            "--shaper",
            "token-bucket",
            "--period",
            "20ms",
        ],
    ));
    let out = ok(&vsched_at(&h, &["net", "-d", "web"]));
    let row = out.lines().nth(1).unwrap();
    assert!(
        row.contains("2.000Mbit") && row.contains("token-bucket") && row.contains("20ms"),
        "{row}"
    );
    ok(&vsched_at(&h, &["net", "-d", "web", "--window", "5ms"]));
    let sc = sched_sim::Scenario::from_file(&h).unwrap();
    let n = sc.domains[1].net.unwrap();
    assert_eq!((n.limit_bps, n.window), (2_000_000, sched_sim::Span::ms(5)));
    assert_eq!(n.shaper, sched_sim::ShaperKind::TokenBucket);
    ok(&vsched_at(
        &h,
        &[
            "create",
            "rtp",
            "--limit",
            "2.2Mbit",
            "--flow",
            "{ kind = \"cbr\", rate = \"2Mbit\", size = 1400 }",
        ],
    ));
    let before = std::fs::read(&h).unwrap();
    refused(
        &vsched_at(&h, &["net", "-d", "rtp", "--off"]),
        "change refused, host file unchanged:",
    );
    refused(
        &vsched_at(&h, &["net", "-d", "web", "--limit", "fast"]),
        "--limit:",
    );
    refused(
        &vsched_at(&h, &["net", "-d", "web", "--window", "10us"]),
        "change refused, host file unchanged:",
    );
    refused(
        &vsched_at(&h, &["net", "--limit", "1Mbit"]),
        "--limit, --shaper",
    );
    refused(
        &vsched_at(&h, &["net", "-d", "batch1", "--window", "3ms"]),
        "--limit: the domain has no limit yet",
    );
    assert_eq!(std::fs::read(&h).unwrap(), before);
    ok(&vsched_at(&h, &["net", "-d", "web", "--off"]));
    assert!(sched_sim::Scenario::from_file(&h).unwrap().domains[1]
        .net
        .is_none());
}

/// A new, empty directory for a test's host files.
fn fresh_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vsched-host-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn host_create_force_queues_on_the_lock_with_a_concurrent_create() {
    let dir = fresh_dir("force-race");
    let h = dir.join("host.toml");
    let cpu = "{ kind = \"cpu\", load = 1.0 }";
    for trial in 0..20 {
        ok(&vsched_at(&h, &["host-create", "--force", "--pcpus", "2"]));
        // A `create` that has read the old host must not rename it back
        // over the new one: host-create takes the same lock.
        let name = format!("vm{trial}");
        let mut create = Command::new(env!("CARGO_BIN_EXE_vsched"))
            .args(["create", &name, "--workload", cpu, "--host"])
            .arg(&h)
            .spawn()
            .unwrap();
        ok(&vsched_at(&h, &["host-create", "--force", "--pcpus", "3"]));
        assert!(create.wait().unwrap().success());
        let sc = sched_sim::Scenario::from_file(&h).unwrap();
        assert_eq!(sc.host.pcpus, 3, "trial {trial}: the old host came back");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn host_create_errors_name_the_flag() {
    let dir = fresh_dir("create-flags");
    let h = dir.join("host.toml");
    for (args, flag) in [
        (&["--pcpus", "0"][..], "--pcpus: "),
        (&["--pcpus", "300"][..], "--pcpus: "),
        (&["--duration", "5"][..], "--duration: "),
        (&["--duration", "0s"][..], "--duration: "),
        (&["--context-switch", "xx"][..], "--context-switch: "),
    ] {
        let mut all = vec!["host-create"];
        all.extend_from_slice(args);
        refused(&vsched_at(&h, &all), flag);
        assert!(!h.exists(), "{args:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn inline_domain_arrays_are_edited_like_domain_tables() {
    let dir = fresh_dir("inline");
    let h = dir.join("host.toml");
    std::fs::write(
        &h,
        "# kept\nname = \"inline\"\nduration = \"1s\"\n\
         host = { pcpus = 2 }\npool = { tslice = \"30ms\" }\n\
         domain = [\n  { name = \"a\", workloads = [{ kind = \"cpu\", load = 1.0 }] },\n  \
         { name = \"b\", weight = 512, workloads = [{ kind = \"cpu\", load = 0.5 }] },\n]\n\
         change = [{ at = \"500ms\", domain = \"a\", weight = 128 }]\n",
    )
    .unwrap();
    let names = |h: &Path| -> Vec<String> {
        let sc = sched_sim::Scenario::from_file(h).unwrap();
        sc.domains.iter().map(|d| d.name.clone()).collect()
    };
    let cpu = "{ kind = \"cpu\", load = 1.0 }";
    ok(&vsched_at(&h, &["create", "c", "--workload", cpu]));
    assert_eq!(names(&h), ["a", "b", "c"]);
    ok(&vsched_at(&h, &["sched-credit", "-d", "a", "-w", "5"]));
    ok(&vsched_at(&h, &["sched-vslicer", "-d", "b", "-m", "5ms"]));
    ok(&vsched_at(&h, &["sched-credit", "-s", "-t", "10"]));
    let sc = sched_sim::Scenario::from_file(&h).unwrap();
    assert_eq!(sc.domains[0].weight, 5);
    assert_eq!(sc.domains[1].weight, 512);
    assert!(sc.domains[1].microslice.is_some());
    assert_eq!(sc.pool.credit_params().tslice.as_ms(), 10);
    assert_eq!(sc.changes.len(), 1);
    // Destroying a domain takes its run-time changes with it.
    ok(&vsched_at(&h, &["destroy", "a"]));
    assert_eq!(names(&h), ["b", "c"]);
    let sc = sched_sim::Scenario::from_file(&h).unwrap();
    assert!(sc.changes.is_empty());
    let text = std::fs::read_to_string(&h).unwrap();
    assert!(text.starts_with("# kept\n"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn changes_keep_the_files_permissions_and_go_through_symlinks() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let dir = fresh_dir("perms");
    let h = dir.join("real.toml");
    ok(&vsched_at(&h, &["host-create", "--pcpus", "2"]));
    std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.join("link.toml");
    symlink("real.toml", &link).unwrap();
    let cpu = "{ kind = \"cpu\", load = 1.0 }";
    ok(&vsched_at(&link, &["create", "web", "--workload", cpu]));
    ok(&vsched_at(
        &link,
        &["sched-credit", "-d", "web", "-w", "512"],
    ));
    ok(&vsched_at(
        &link,
        &["host-create", "--force", "--pcpus", "3"],
    ));
    ok(&vsched_at(&link, &["create", "db", "--workload", cpu]));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let mode = std::fs::metadata(&h).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let sc = sched_sim::Scenario::from_file(&h).unwrap();
    assert_eq!(sc.host.pcpus, 3);
    assert_eq!(sc.domains.last().unwrap().name, "db");
    // One lock for the file, whichever name reaches it.
    assert!(dir.join("real.toml.lock").exists());
    assert!(!dir.join("link.toml.lock").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cpupools_a_simulated_host_has_one_and_the_rest_need_xen() {
    let h = host("pools", "edf-driver-smp.toml");
    let out = ok(&vsched_at(&h, &["cpupool-list"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "Name             CPUs Sched      Domains  CPU list"
    );
    let sc = sched_sim::Scenario::from_file(&h).unwrap();
    let n = sc.host.pcpus;
    let cpus: Vec<String> = (0..n).map(|c| c.to_string()).collect();
    assert_eq!(
        lines[1],
        format!(
            "{:<16} {n:>4} {:<10} {:>7}  {}",
            "Pool-0",
            "-",
            sc.domains.len(),
            cpus.join(",")
        )
    );
    for args in [
        &["cpupool-create", "--sched", "vslicer"][..],
        &["cpupool-destroy", "pool1"],
        &["cpupool-cpu-add", "pool1", "1"],
        &["cpupool-cpu-remove", "Pool-0", "1"],
    ] {
        let out = vsched_at(&h, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("give --host xen"), "{args:?}: {err}");
    }
    let (code, _, err) = vsched(&["cpupool-create", "--host", "xen", "--sched", "bfs"]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("--sched bfs: one of rcredit, vslicer, edfcredit"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_read_only_host_file_is_refused_and_a_written_one_keeps_its_owner() {
    use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
    let dir = fresh_dir("readonly");
    let h = dir.join("host.toml");
    ok(&vsched_at(&h, &["host-create", "--pcpus", "2"]));
    let cpu = "{ kind = \"cpu\", load = 1.0 }";
    ok(&vsched_at(&h, &["create", "vm1", "--workload", cpu]));
    // Another owner: only root may give a file away (we run as root in CI).
    let other_owner = chown(&h, Some(1000), Some(1000)).is_ok();
    let set_mode = |m| std::fs::set_permissions(&h, std::fs::Permissions::from_mode(m)).unwrap();
    set_mode(0o444);
    let before = std::fs::read(&h).unwrap();
    refused(
        &vsched_at(&h, &["sched-credit", "-d", "vm1", "-w", "512"]),
        &format!("{}: read-only (mode 0444)", h.display()),
    );
    refused(
        &vsched_at(&h, &["destroy", "vm1"]),
        &h.display().to_string(),
    );
    assert_eq!(std::fs::read(&h).unwrap(), before, "untouched");
    let meta = std::fs::metadata(&h).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o444);
    // Writable again: the change lands, and the file keeps owner and mode.
    set_mode(0o640);
    ok(&vsched_at(&h, &["sched-credit", "-d", "vm1", "-w", "512"]));
    let sc = sched_sim::Scenario::from_file(&h).unwrap();
    assert_eq!(sc.domains[1].weight, 512);
    let meta = std::fs::metadata(&h).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    if other_owner {
        assert_eq!((meta.uid(), meta.gid()), (1000, 1000), "owner kept");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stale_temporary_files_of_killed_writers_are_removed_by_the_next_change() {
    let dir = fresh_dir("stale-tmp");
    let h = dir.join("host.toml");
    ok(&vsched_at(&h, &["host-create", "--pcpus", "2"]));
    // What `kill -9` during a write leaves: a temporary file named after
    // the dead writer's process ID. Names not of that pattern stay.
    let stale = dir.join("host.toml.tmp.4194304");
    let kept = [
        "host.toml.tmp.notapid",
        "other.toml.tmp.123",
        "host.toml.tmp.",
    ];
    std::fs::write(&stale, "half a host").unwrap();
    for k in kept {
        std::fs::write(dir.join(k), "not ours").unwrap();
    }
    let cpu = "{ kind = \"cpu\", load = 1.0 }";
    ok(&vsched_at(&h, &["create", "vm1", "--workload", cpu]));
    assert!(!stale.exists(), "the stale temporary file is gone");
    for k in kept {
        assert!(dir.join(k).exists(), "{k} kept");
    }
    let sc = sched_sim::Scenario::from_file(&h).unwrap();
    assert_eq!(sc.domains.last().unwrap().name, "vm1", "the change applied");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_driver_domain_cannot_be_destroyed_and_errors_name_the_domain_as_given() {
    let dir = fresh_dir("destroy");
    let h = dir.join("host.toml");
    ok(&vsched_at(&h, &["host-create", "--pcpus", "2"]));
    // Not the last domain, which the scenario format would keep anyway.
    ok(&vsched_at(&h, &["create", "vm1"]));
    let before = std::fs::read(&h).unwrap();
    for which in ["Domain-0", "0"] {
        refused(
            &vsched_at(&h, &["destroy", which]),
            "Domain-0: the driver domain cannot be destroyed",
        );
    }
    // `destroy` takes the domain without a flag, and its error says so.
    refused(
        &vsched_at(&h, &["destroy", "nope"]),
        "domain \"nope\": no domain has that name",
    );
    refused(
        &vsched_at(&h, &["destroy", "7"]),
        "domain 7: no domain has that ID (IDs are 0..1)",
    );
    assert_eq!(std::fs::read(&h).unwrap(), before, "unchanged");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn names_are_never_ids_and_a_number_is_a_domain_id_first() {
    let dir = fresh_dir("names");
    let h = dir.join("host.toml");
    ok(&vsched_at(&h, &["host-create", "--pcpus", "2"]));
    let before = std::fs::read(&h).unwrap();
    let long = "a".repeat(65);
    for bad in [
        "0",
        "42",
        "a\nb",
        "tab\there",
        "a b",
        "  ",
        "",
        long.as_str(),
    ] {
        refused(
            &vsched_at(&h, &["create", bad]),
            &format!("{bad:?}: a domain name must "),
        );
    }
    assert_eq!(std::fs::read(&h).unwrap(), before, "unchanged");
    ok(&vsched_at(&h, &["create", &"a".repeat(64)]));
    ok(&vsched_at(&h, &["create", "web-1.a_b"]));
    // `-d 0` is domain ID 0 (Domain-0), as in xl, and `+1` is a name, not ID 1.
    ok(&vsched_at(&h, &["sched-credit", "-d", "0", "-w", "300"]));
    refused(
        &vsched_at(&h, &["sched-credit", "-d", "+1", "-w", "5"]),
        "domain \"+1\": no domain has that name",
    );
    let sc = sched_sim::Scenario::from_file(&h).unwrap();
    assert_eq!(sc.domains[0].name, "Domain-0");
    assert_eq!(sc.domains[0].weight, 300);
    // A name written by hand is held to the same rule: the file is refused,
    // at the name, so a number can never mean two domains.
    let text = std::fs::read_to_string(&h).unwrap();
    let line = text.lines().count() + 3;
    std::fs::write(&h, format!("{text}\n[[domain]]\nname = \"0\"\n")).unwrap();
    refused(
        &vsched_at(&h, &["list"]),
        &format!(
            "{}:{line}: domain[3].name: must not be all digits",
            h.display()
        ),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
