//! Simulator throughput: scheduling decisions per second of wall time.
//!
//! `cargo run --release -p sched-sim --example throughput [SCENARIO.toml...]`
//! With no argument it runs two synthetic scenarios: `wake-block` (1 pCPU,
//! four VMs that only answer Poisson pings, so every request is a wake, a
//! decision and a block: the simplest decision-dominated load) and `mixed`
//! (4 pCPUs, 6 busy VMs also pinged, 6 ping-only VMs).

use std::time::Instant;

use sched_core::Span;
use sched_sim::{simulate_with_stats, Arrival, Domain, Host, Scenario, SimOptions, Workload};

fn wake_block() -> Scenario {
    let domains = (0..4)
        .map(|i| {
            let mut d = Domain::new(&format!("io{i}"));
            d.workloads = vec![Workload::Ping {
                interval: Span::us(200),
                service: Span::us(10),
                arrival: Arrival::Poisson,
            }];
            d
        })
        .collect();
    Scenario::new(
        "wake-block",
        Span::secs(60),
        1,
        Host::new(1, Span::ZERO),
        domains,
    )
}

fn mixed() -> Scenario {
    let domains = (0..6)
        .map(|i| {
            let mut d = Domain::new(&format!("vm{i}"));
            d.workloads = vec![
                Workload::Cpu {
                    load: 1.0,
                    period: Span::ms(100),
                },
                Workload::Ping {
                    interval: Span::us(500),
                    service: Span::us(20),
                    arrival: Arrival::Poisson,
                },
            ];
            d
        })
        .chain((0..6).map(|i| {
            let mut d = Domain::new(&format!("io{i}"));
            d.workloads = vec![Workload::Ping {
                interval: Span::us(300),
                service: Span::us(30),
                arrival: Arrival::Poisson,
            }];
            d
        }))
        .collect();
    Scenario::new(
        "mixed",
        Span::secs(60),
        1,
        Host::new(4, Span::us(2)),
        domains,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scenarios: Vec<Scenario> = if args.is_empty() {
        vec![wake_block(), mixed()]
    } else {
        args.iter()
            .map(|p| Scenario::from_file(p).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    };
    for sc in &scenarios {
        let t = Instant::now();
        let (_, stats) = simulate_with_stats(sc, "credit", &SimOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{:<28} {:>10} decisions {:>10} events in {:.3} s: {:.2} M decisions/s",
            sc.name,
            stats.decisions,
            stats.events,
            secs,
            stats.decisions as f64 / secs / 1e6
        );
    }
}
