//! `vsched simulate --trace-format xentrace`: the file holds Xen's trace
//! records (read back here by a decoder of its own, written from Xen's
//! trace.h and xentrace.c, not from the writer), and Xen's own `xenalyze`
//! summarises it as the JSON report does (ignored in the default run: it
//! needs xenalyze, built from Xen's source by `cargo xtask xenalyze --test`,
//! which runs it; CI does after `xen-build`).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ok, refused, scenario};
use sched_sim::Report;

/// The trace's TSC rate, cycles per ns (`--cpu-hz 2G`).
const CYCLES_PER_NS: u64 = 2;
const DOMID_IDLE: u32 = 0x7fff;
const TRC_TRACE_CPU_CHANGE: u32 = 0x0001_f003;
const TRC_SCHED_RUNSTATE_CHANGE: u32 = 0x0002_1001;
const TRC_SCHED_CONTINUE_RUNNING: u32 = 0x0002_1002;
const TRC_SCHED_DOM_ADD: u32 = 0x0002_8001;
const RUNNING: u32 = 0;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vsched-xentrace-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `vsched simulate FILE --json --trace OUT --trace-format xentrace ARGS`.
fn simulate(file: &str, out: &Path, args: &[&str]) -> Vec<Report> {
    let mut a = vec![
        "simulate",
        file,
        "--json",
        "--policy",
        "all",
        "--trace",
        out.to_str().unwrap(),
        "--trace-format",
        "xentrace",
    ];
    a.extend_from_slice(args);
    serde_json::from_str(&ok(&common::run(&a, &[]))).unwrap()
}

/// `run.xt` for policy `p`: `run-P.xt`.
fn per_policy(out: &Path, p: &str) -> PathBuf {
    out.with_file_name(format!("run-{p}.xt"))
}

/// One record: the pCPU whose window holds it, its position in the file.
#[derive(Debug)]
struct Rec {
    cpu: u32,
    event: u32,
    tsc: u64,
    data: Vec<u32>,
}

/// The records of a xentrace file, checking its framing: windows that each
/// open with `TRC_TRACE_CPU_CHANGE` (no TSC; pCPU, byte size) and hold
/// whole records (header: event in bits 0-27, data words in 28-30, TSC
/// flag in 31; then TSC low and high words, then the data).
fn decode(bytes: &[u8]) -> Vec<Rec> {
    let words: Vec<u32> = bytes
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("whole words")))
        .collect();
    let mut recs = Vec::new();
    let mut i = 0;
    while i < words.len() {
        assert_eq!(
            words[i],
            TRC_TRACE_CPU_CHANGE | 2 << 28,
            "word {i}: a window"
        );
        let (cpu, size) = (words[i + 1], words[i + 2] as usize);
        assert!(size > 0 && size % 4 == 0, "window size {size}");
        let end = i + 3 + size / 4;
        i += 3;
        while i < end {
            let h = words[i];
            let n = (h >> 28 & 7) as usize;
            assert!(h >> 31 == 1, "word {i}: every record has a TSC");
            let tsc = u64::from(words[i + 1]) | u64::from(words[i + 2]) << 32;
            recs.push(Rec {
                cpu,
                event: h & 0x0fff_ffff,
                tsc,
                data: words[i + 3..i + 3 + n].to_vec(),
            });
            i += 3 + n;
        }
        assert_eq!(i, end, "records end where their window does");
    }
    recs
}

/// Replays the runstate changes in TSC order: per domain id, (cycles
/// running, times switched to running).
fn running_per_domain(recs: &[Rec]) -> BTreeMap<u32, (u64, u64)> {
    let mut order: Vec<&Rec> = recs.iter().collect();
    // Stable: one pCPU's records of one TSC keep their order.
    order.sort_by_key(|r| r.tsc);
    let mut since: BTreeMap<u32, u64> = BTreeMap::new();
    let mut out: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for r in order {
        let base = r.event & !0x0000_0ff0;
        if base != TRC_SCHED_RUNSTATE_CHANGE && r.event != TRC_SCHED_CONTINUE_RUNNING {
            continue;
        }
        let who = r.data[0];
        let dom = who >> 16;
        if dom == DOMID_IDLE {
            continue;
        }
        let (old, new) = if r.event == TRC_SCHED_CONTINUE_RUNNING {
            (RUNNING, RUNNING)
        } else {
            (r.event >> 8 & 3, r.event >> 4 & 3)
        };
        let e = out.entry(dom).or_default();
        if old == RUNNING {
            let from = since
                .remove(&who)
                .expect("a vCPU stops running after it started");
            e.0 += r.tsc - from;
        } else if new == RUNNING {
            e.1 += 1;
        }
        if new == RUNNING {
            since.insert(who, r.tsc);
        }
    }
    out
}

/// Records of one instant on different pCPUs are one cycle apart, which
/// moves each running stretch's ends by about a cycle: allowed, per
/// stretch, 2 cycles (1 ns). A stretch lost or misplaced costs the length
/// of a stretch, microseconds at least.
const SHIFT_NS_PER_STRETCH: f64 = 1.0;

#[test]
fn the_records_hold_every_stretch_the_report_counts() {
    let dir = temp_dir("decode");
    let out = dir.join("run.xt");
    for name in [
        "weights-and-cap-smp.toml",
        "start-stop.toml",
        "edf-driver-smp.toml",
    ] {
        let reports = simulate(&scenario(name), &out, &["--duration", "10s"]);
        for r in &reports {
            let bytes = std::fs::read(per_policy(&out, &r.policy)).unwrap();
            let recs = decode(&bytes);
            // Each pCPU's TSC goes forward; two pCPUs never share a TSC
            // value, so that merging by TSC keeps the simulator's order.
            let mut last: BTreeMap<u32, u64> = BTreeMap::new();
            let mut owner: BTreeMap<u64, u32> = BTreeMap::new();
            for rec in &recs {
                let l = last.entry(rec.cpu).or_default();
                assert!(*l <= rec.tsc, "{name}: pCPU {}'s TSC goes back", rec.cpu);
                *l = rec.tsc;
                let o = *owner.entry(rec.tsc).or_insert(rec.cpu);
                assert_eq!(o, rec.cpu, "{name}: TSC {} on two pCPUs", rec.tsc);
            }
            // Every domain is created (all start before 10 s), as d1, d2,
            // ... in the scenario's order.
            let added: Vec<u32> = recs
                .iter()
                .filter(|r| r.event == TRC_SCHED_DOM_ADD)
                .map(|r| r.data[0])
                .collect();
            let mut sorted = added.clone();
            sorted.sort();
            assert_eq!(sorted, (1..=r.domains.len() as u32).collect::<Vec<_>>());
            let run = running_per_domain(&recs);
            for (i, d) in r.domains.iter().enumerate() {
                let (cycles, switches) = run.get(&(i as u32 + 1)).copied().unwrap_or_default();
                assert_eq!(
                    switches, d.switches,
                    "{name} {} {}: switches",
                    r.policy, d.name
                );
                let ns = cycles as f64 / CYCLES_PER_NS as f64;
                let diff = (ns - d.cpu_ns as f64).abs();
                println!(
                    "{name} {} {}: report {} ns, records {ns} ns ({diff} ns apart, {switches} stretches)",
                    r.policy, d.name, d.cpu_ns
                );
                assert!(
                    diff <= SHIFT_NS_PER_STRETCH * switches.max(1) as f64,
                    "{name} {} {}: report {} ns, records {ns} ns",
                    r.policy,
                    d.name,
                    d.cpu_ns
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_format_needs_a_trace_file_and_is_one_of_two() {
    let f = scenario("start-stop.toml");
    let out = common::run(&["simulate", &f, "--trace-format", "xentrace"], &[]);
    refused(
        &out,
        "the following required arguments were not provided: --trace",
    );
    let out = common::run(
        &["simulate", &f, "--trace", "/tmp/x", "--trace-format", "ctf"],
        &[],
    );
    refused(&out, "invalid value 'ctf' for '--trace-format <FORMAT>'");
}

/// One domain of `xenalyze --summary`: the sum over its vCPUs of the
/// `running:` lines' (segments, seconds as printed, segments x average
/// cycles), and its vCPU count.
#[derive(Debug, Default)]
struct Summary {
    segments: u64,
    seconds: f64,
    cycles: u64,
    vcpus: u32,
}

/// `|-- Domain N --|` blocks, then per vCPU ` Runstates:` and
/// `   running:  COUNT  SECONDSs  AVG_CYCLES {...}`.
fn parse_summary(text: &str) -> BTreeMap<u32, Summary> {
    let mut out: BTreeMap<u32, Summary> = BTreeMap::new();
    let mut dom = None;
    for line in text.lines() {
        if let Some(d) = line
            .strip_prefix("|-- Domain ")
            .and_then(|r| r.strip_suffix(" --|"))
        {
            dom = Some(d.parse().unwrap());
            continue;
        }
        let Some(rest) = line.trim_start().strip_prefix("running:") else {
            continue;
        };
        let Some(d) = dom else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let s = out.entry(d).or_default();
        let count: u64 = f[0].parse().unwrap();
        s.segments += count;
        s.seconds += f[1].strip_suffix('s').unwrap().parse::<f64>().unwrap();
        s.cycles += count * f[2].parse::<u64>().unwrap();
        s.vcpus += 1;
    }
    out
}

/// xenalyze: `$XENALYZE` (what `cargo xtask xenalyze --test` built), else
/// target/xen/out/xenalyze, else built now by the same xtask step.
fn xenalyze() -> PathBuf {
    if let Some(p) = std::env::var_os("XENALYZE") {
        return p.into();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let exe = root.join("target/xen/out/xenalyze");
    if exe.is_file() {
        return exe;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args(["xtask", "xenalyze"])
        .current_dir(root)
        .status()
        .expect("run cargo xtask xenalyze");
    assert!(
        built.success() && exe.is_file(),
        "NO XENALYZE: `cargo xtask xenalyze` could not build it (see above); it needs the \
         Xen source `cargo xtask xen-build` fetches"
    );
    exe
}

#[test]
#[ignore = "needs xenalyze from Xen's source: cargo xtask xenalyze --test"]
fn xenalyze_summarises_a_simulated_run_as_the_report_does() {
    let exe = xenalyze();
    let dir = temp_dir("xenalyze");
    let out = dir.join("run.xt");
    for name in [
        "weights-and-cap-smp.toml",
        "start-stop.toml",
        "edf-driver-smp.toml",
    ] {
        for r in simulate(&scenario(name), &out, &[]) {
            let file = per_policy(&out, &r.policy);
            let x = Command::new(&exe)
                .args(["--summary", "--cpu-hz", "2G"])
                .arg(&file)
                .output()
                .expect("run xenalyze");
            let text = String::from_utf8_lossy(&x.stdout);
            let log = String::from_utf8_lossy(&x.stderr);
            assert!(
                x.status.success(),
                "{}: xenalyze failed: {log}",
                file.display()
            );
            for bad in ["FATAL", "Strange", "skew", "WARNING"] {
                assert!(!log.contains(bad), "{name} {}: xenalyze: {log}", r.policy);
            }
            let secs = r.duration_ns as f64 / 1e9;
            assert!(
                text.starts_with(&format!(
                    "Total time: {secs:.2} seconds (using cpu speed 2.00 GHz)"
                )),
                "{text}"
            );
            let sum = parse_summary(&text);
            for (i, d) in r.domains.iter().enumerate() {
                let s = sum.get(&(i as u32 + 1)).unwrap_or_else(|| {
                    panic!(
                        "{name} {}: no d{} ({}) in the summary",
                        r.policy,
                        i + 1,
                        d.name
                    )
                });
                // xenalyze prints each vCPU's average segment in whole
                // cycles (the sum loses under a cycle per segment) and may
                // cut a stretch into several segments (at each
                // TRC_SCHED_CONTINUE_RUNNING): 1 cycle per segment more.
                let ns = s.cycles as f64 / CYCLES_PER_NS as f64;
                let tol = SHIFT_NS_PER_STRETCH * d.switches.max(1) as f64 + 0.5 * s.segments as f64;
                let diff = (ns - d.cpu_ns as f64).abs();
                println!(
                    "{name} {} d{} {}: report {} ns, xenalyze {ns} ns ({diff} ns apart, \
                     tolerance {tol} ns); printed {:.2} s",
                    r.policy,
                    i + 1,
                    d.name,
                    d.cpu_ns,
                    s.seconds
                );
                assert!(
                    diff <= tol,
                    "{name} {} {}: {diff} ns apart",
                    r.policy,
                    d.name
                );
                // The printed seconds: each vCPU's rounded to 0.01 s.
                let printed = (s.seconds - d.cpu_ns as f64 / 1e9).abs();
                assert!(
                    printed <= 0.005 * f64::from(s.vcpus) + 1e-9,
                    "{name} {}: {printed} s",
                    d.name
                );
            }
            if name == "weights-and-cap-smp.toml" && r.policy == "credit" {
                println!(
                    "xenalyze --summary --cpu-hz 2G ({name}, {}):\n{text}",
                    r.policy
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
