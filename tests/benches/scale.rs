//! The simulator at scale (issue 15): generated hosts of 16, 64 and 256
//! pCPUs with 16 vCPUs per pCPU, in domains of 4 vCPUs: a quarter CPU hogs,
//! a quarter half-busy, a quarter pinged (every other one an LSVM with a
//! 1 ms microslice), a quarter periodic (1 ms every 20 ms: 5 % of a vCPU, within
//! the 6.25 % a vCPU's fair share is, so no backlog grows); 60 s simulated.
//!
//! Each size runs in a process of its own (this binary re-runs itself with
//! `--one`), so the peak memory it reports (`VmHWM`, the process's
//! high-water resident set) is that run's alone. Wall time is measured, not
//! asserted: this is a benchmark, read by a person or by `cargo xtask
//! bench-scale --check`.
//!
//!     cargo bench -p tests --bench scale [-- --policy P] [-- --secs N] [-- --pcpus 16,64]

use std::process::Command;
use std::time::Instant;

use sched_core::Policy;
use sched_sim::{Arrival, Domain, Host, Scenario, SimOptions, Span, Workload};

/// vCPUs per pCPU, and per domain.
const VCPUS_PER_PCPU: u16 = 16;
const VCPUS_PER_DOMAIN: u16 = 4;

/// The host of `pcpus` pCPUs described in the module doc, `secs` long.
fn scenario(pcpus: u16, secs: i64) -> Scenario {
    let domains = u32::from(pcpus) * u32::from(VCPUS_PER_PCPU / VCPUS_PER_DOMAIN);
    let domains = (0..domains)
        .map(|i| {
            let mut d = Domain::new(&format!("d{i}"));
            d.vcpus = VCPUS_PER_DOMAIN;
            let work = match i % 4 {
                0 => Workload::Cpu {
                    load: 1.0,
                    period: Span::ms(100),
                },
                1 => Workload::Cpu {
                    load: 0.5,
                    period: Span::ms(100),
                },
                2 => {
                    if i % 8 == 2 {
                        d.microslice = Some(Span::ms(1));
                    }
                    Workload::Ping {
                        interval: Span::ms(10),
                        service: Span::us(100),
                        arrival: Arrival::Poisson,
                    }
                }
                _ => Workload::Periodic {
                    period: Span::ms(20),
                    work: Span::ms(1),
                },
            };
            d.workloads = vec![work];
            d
        })
        .collect();
    Scenario::new(
        "scale",
        Span::secs(secs),
        1,
        Host::new(pcpus, Span::us(5)),
        domains,
    )
}

/// One run, printed as one line of `key=value` fields for the parent.
fn one(pcpus: u16, secs: i64, policy: &str) {
    let sc = scenario(pcpus, secs);
    let t = Instant::now();
    let (rep, st) = sched_sim::simulate_with_stats(&sc, policy, &SimOptions::default())
        .unwrap_or_else(|e| panic!("{policy} at {pcpus} pCPUs: {e}"));
    let wall = t.elapsed().as_secs_f64();
    let switches: u64 = rep.domains.iter().map(|d| d.switches).sum();
    println!(
        "pcpus={pcpus} vcpus={} wall_s={wall:.3} peak_kib={} decisions={} switches={switches} events={}",
        u32::from(pcpus) * u32::from(VCPUS_PER_PCPU),
        tests::peak_rss_kib(),
        st.decisions,
        st.events,
    );
}

fn field(line: &str, key: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let policy = opt("--policy").unwrap_or_else(|| sched_core::Credit1::INFO.name.into());
    let secs: i64 = opt("--secs").map_or(60, |s| s.parse().expect("--secs N"));
    if let Some(p) = opt("--one") {
        one(p.parse().expect("--one PCPUS"), secs, &policy);
        return;
    }
    let sizes: Vec<u16> = opt("--pcpus")
        .unwrap_or_else(|| "16,64,256".into())
        .split(',')
        .map(|p| p.parse().expect("--pcpus N,M,..."))
        .collect();
    let exe = std::env::current_exe().expect("own path");
    println!("scale: {policy}, {secs} s simulated, {VCPUS_PER_PCPU} vCPUs per pCPU\n");
    println!(
        "{:>6} {:>7} {:>8} {:>11} {:>12} {:>11} {:>14} {:>11}",
        "pCPUs",
        "vCPUs",
        "wall s",
        "peak MiB",
        "KiB/vCPU",
        "switches",
        "decisions/s",
        "ns/decision"
    );
    for p in sizes {
        let out = Command::new(&exe)
            .args(["--one", &p.to_string(), "--secs", &secs.to_string()])
            .args(["--policy", &policy])
            .output()
            .expect("re-run self");
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find(|l| l.starts_with("pcpus=")) else {
            panic!(
                "the run at {p} pCPUs failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let (wall, kib, dec) = (
            field(line, "wall_s"),
            field(line, "peak_kib"),
            field(line, "decisions"),
        );
        let vcpus = field(line, "vcpus");
        println!(
            "{p:>6} {vcpus:>7} {wall:>8.2} {:>11.1} {:>12.2} {:>11} {:>14.0} {:>11.0}",
            kib / 1024.0,
            kib / vcpus,
            field(line, "switches"),
            dec / wall,
            wall * 1e9 / dec,
        );
    }
}
