//! EDF+credit (seed 001, §V-A/C) and the stream monitor of seed 000: a
//! self-initiated sender's lateness (Fig. 6), an event-triggered VM's ping
//! latency (Fig. 7), CPU shares while VMs come and go (Fig. 12), a stream
//! monitor among a growing number of busy VMs (seed 000), and the credit
//! reservation for I/O (§III-A).
//!
//! Choices where the papers leave knobs open, stated once here:
//! - Fig. 6: VM1 holds 60% of the pCPU by weight (768 against 256 and 256)
//!   and is an encoder with a sender thread (seed 001 §II-B): 50% CPU in
//!   100 ms bursts every 200 ms, and 300 µs of sending every 10 ms. Lateness
//!   is a send's completion minus its release; a miss is a send still
//!   pending at the next release.
//! - Fig. 7: the pinged VM is CPU-bound and answers Poisson pings every
//!   100 ms (the paper's ping interval) taking 50 µs; 5 busy VMs beside it.
//! - Seed 000: every second a batch of ECG records arrives (an I/O event)
//!   needing 300 ms of CPU, answered within 1 s or counted late; the guest
//!   holds 2 batches, a third is lost. The deadline that suits it follows
//!   from EDF+credit's rate: a periodic domain gets an EDF slice `s` at
//!   least every `D + s`, so `D ≤ s·(1/u − 1)` guarantees a share `u`: with
//!   `u` = 0.3 and `s` = 0.5 ms, `D` = 1 ms.
//! - Reservation: a VM computes 100 ms every 400 ms (25%, under its 33%
//!   share, but in bursts that exhaust its credit) and answers pings; 1 ms
//!   of credit reserved per accounting period.

use sched_core::Span;

use super::{
    busy, check, ms, one_core, run, Cdf, Curve, Repro, ReproOptions, Table, CREDIT, EDF_CREDIT,
};
use sched_sim::scenario::{Arrival, Domain, Rt, RtMode, Scenario, Workload};
use sched_sim::{SimError, SimStats};

/// The default poll period and EDF slice (seed 001 §IV).
const POLL: Span = Span::us(500);
/// Context switch cost of the one-core host (`super::one_core`).
const SWITCH: Span = Span::us(5);
/// The deadlines the paper tries (Fig. 6 and 7).
const DEADLINES: [i64; 3] = [3, 5, 8];

fn rt(mode: RtMode, d: Span) -> Option<Rt> {
    Some(Rt {
        mode,
        deadline: Some(d),
    })
}

/// Runs every EDF+credit experiment.
pub fn run_all(opts: &ReproOptions) -> Result<Repro, SimError> {
    let mut r = Repro {
        paper: "EDF+credit: real-time I/O scheduling in the VMM, with credit reservation and \
                driver placement (seed 001), and the stream monitor of seed 000"
            .into(),
        tables: Vec::new(),
        checks: Vec::new(),
        cdfs: Vec::new(),
        lines: Vec::new(),
    };
    fig6(&mut r, opts)?;
    fig7(&mut r, opts)?;
    fig12(&mut r, opts)?;
    stream(&mut r, opts)?;
    reservation(&mut r, opts)?;
    Ok(r)
}

/// Fig. 6: a self-initiated sender with 60% of the pCPU beside two busy VMs.
fn fig6(r: &mut Repro, opts: &ReproOptions) -> Result<(), SimError> {
    let sender = |mode: Option<Rt>| {
        let mut d = Domain::new("vm1");
        d.weight = 768;
        d.rt = mode;
        d.workloads = vec![
            Workload::Cpu {
                load: 0.5,
                period: Span::ms(200),
            },
            Workload::Periodic {
                period: Span::ms(10),
                work: Span::us(300),
            },
        ];
        d
    };
    let scenario = |mode| {
        let mut b2 = busy("vm2");
        let mut b3 = busy("vm3");
        b2.weight = 256;
        b3.weight = 256;
        one_core("fig6", opts.duration, opts.seed, vec![sender(mode), b2, b3])
    };
    let mut t = Table::new(
        "Fig. 6: periodic sender (60% by weight) beside two busy VMs: send lateness (ms)",
        &[
            "policy",
            "mean",
            "p99",
            "max",
            "missed periods",
            "vm1 share %",
        ],
    );
    let row = |t: &mut Table, label: String, rep: &sched_sim::Report| {
        let d = &rep.domains[0];
        t.rows.push(vec![
            label,
            ms(d.latency.mean_ns),
            ms(d.latency.p99_ns),
            ms(d.latency.max_ns),
            d.deadline_misses.to_string(),
            format!("{:.1}", d.cpu_share * 100.0),
        ]);
    };
    let (credit, _) = run(&scenario(None), CREDIT)?;
    row(&mut t, CREDIT.into(), &credit);
    let cm = credit.domains[0].deadline_misses;
    let mut worst = Vec::new();
    for d in DEADLINES {
        let dl = Span::ms(d);
        let (rep, _) = run(&scenario(rt(RtMode::Periodic, dl)), EDF_CREDIT)?;
        row(&mut t, format!("edf-credit, periodic D={d}ms"), &rep);
        let v = &rep.domains[0];
        let bound = dl + POLL + SWITCH + Span::us(300);
        worst.push((d, Span(v.latency.max_ns as i64), bound, v.deadline_misses));
    }
    r.tables.push(t);
    let ok = worst.iter().all(|&(_, w, b, m)| w <= b && m == 0);
    r.checks.push(check(
        "Fig. 6",
        "a periodic sender's lateness stays under D (+ poll + its work) and it misses no period, where credit misses",
        "RTP quality depends only on D, not on co-located VMs; credit degrades",
        format!(
            "max {} ms for D = 3/5/8 ms, 0 misses; credit: {cm} missed periods, max {} ms",
            worst
                .iter()
                .map(|(_, w, _, _)| ms(w.as_ns()))
                .collect::<Vec<_>>()
                .join(" / "),
            ms(credit.domains[0].latency.max_ns)
        ),
        "max ≤ D + 0.5 ms poll + 5 µs switch + 0.3 ms work; credit misses > 0",
        ok && cm > 0,
    ));
    Ok(())
}

/// The CPU-bound pinged VM of Fig. 7.
fn pinged(mode: Option<Rt>) -> Domain {
    let mut d = busy("vm1");
    d.rt = mode;
    d.workloads.push(Workload::Ping {
        interval: Span::ms(100),
        service: Span::us(50),
        arrival: Arrival::Poisson,
    });
    d
}

fn with_busy(name: &str, first: Domain, n: usize, opts: &ReproOptions) -> Scenario {
    let mut doms = vec![first];
    doms.extend((0..n).map(|i| busy(&format!("vm{}", i + 2))));
    one_core(name, opts.duration, opts.seed, doms)
}

/// Fig. 7: an event-triggered VM answering pings among 1, 3, 5 busy VMs.
fn fig7(r: &mut Repro, opts: &ReproOptions) -> Result<(), SimError> {
    let mut t = Table::new(
        "Fig. 7: ping latency of a CPU-bound VM (ms)",
        &[
            "busy VMs beside it",
            "policy",
            "mean",
            "p99",
            "max",
            "pings",
        ],
    );
    let row = |t: &mut Table, n: usize, label: String, d: &sched_sim::DomainReport| {
        t.rows.push(vec![
            n.to_string(),
            label,
            ms(d.latency.mean_ns),
            ms(d.latency.p99_ns),
            ms(d.latency.max_ns),
            d.latency.count.to_string(),
        ]);
    };
    let mut credit_max = Vec::new();
    for n in [1, 3] {
        let (rep, _) = run(&with_busy("fig7", pinged(None), n, opts), CREDIT)?;
        row(&mut t, n, CREDIT.into(), &rep.domains[0]);
        credit_max.push(rep.domains[0].latency.max_ns);
    }
    let mut cdf = Cdf {
        id: "fig7-edf".into(),
        title: "Ping latency beside 5 busy VMs (seed 001 Fig. 7)".into(),
        curves: Vec::new(),
    };
    let (c5, st) = run(&with_busy("fig7", pinged(None), 5, opts), CREDIT)?;
    row(&mut t, 5, CREDIT.into(), &c5.domains[0]);
    credit_max.push(c5.domains[0].latency.max_ns);
    cdf.curves.push(curve(CREDIT, &st));
    let mut results = Vec::new();
    for d in DEADLINES {
        let dl = Span::ms(d);
        let sc = with_busy("fig7", pinged(rt(RtMode::Aperiodic, dl)), 5, opts);
        let (rep, st) = run(&sc, EDF_CREDIT)?;
        row(
            &mut t,
            5,
            format!("edf-credit, aperiodic D={d}ms"),
            &rep.domains[0],
        );
        cdf.curves.push(curve(&format!("edf-credit D={d}ms"), &st));
        let bound = dl + POLL + SWITCH + Span::us(50);
        results.push((Span(rep.domains[0].latency.max_ns as i64), bound));
    }
    r.tables.push(t);
    r.cdfs.push(cdf);
    let grows = credit_max.windows(2).all(|w| w[1] > w[0]);
    r.checks.push(check(
        "Fig. 7a",
        "credit: ping latency grows with the co-located VMs, up to ~150 ms beside 5",
        "as high as 150 ms (5 × 30 ms)",
        format!(
            "max {} ms beside 1 / 3 / 5 VMs",
            credit_max
                .iter()
                .map(|&x| ms(x))
                .collect::<Vec<_>>()
                .join(" / ")
        ),
        "growing; ≥ 120 ms beside 5",
        grows && credit_max[2] >= 120_000_000,
    ));
    let ok = results.iter().all(|(w, b)| w <= b);
    r.checks.push(check(
        "Fig. 7b",
        "aperiodic D = 3, 5, 8 ms beside 5 busy VMs: ping latency controlled by D",
        "under the user-defined deadline, not affected by co-located VMs",
        format!(
            "max {} ms",
            results
                .iter()
                .map(|(w, _)| ms(w.as_ns()))
                .collect::<Vec<_>>()
                .join(" / ")
        ),
        "max ≤ D + 0.5 ms poll + 5 µs switch + 50 µs service",
        ok,
    ));
    Ok(())
}

fn curve(label: &str, st: &SimStats) -> Curve {
    Curve {
        label: label.to_string(),
        samples_ns: st.latencies.first().cloned().unwrap_or_default(),
    }
}

/// Fig. 12: five equal CPU-bound VMs started and stopped at different times.
fn fig12(r: &mut Repro, opts: &ReproOptions) -> Result<(), SimError> {
    let s = Span::secs;
    // (start, stop) per VM; intervals between the changes.
    let life = [(0, 40), (0, 50), (0, 60), (10, 60), (20, 60)];
    let cuts = [0, 10, 20, 40, 50, 60];
    let mut worst = 0f64;
    let mut t = Table::new(
        "Fig. 12: CPU share (%) of each running VM per interval, equal weights",
        &["policy", "interval", "vm1", "vm2", "vm3", "vm4", "vm5"],
    );
    for (label, with_rt) in [
        (EDF_CREDIT, false),
        ("edf-credit, vm3 aperiodic + vm4 periodic D=10ms", true),
    ] {
        let doms = life
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| {
                let mut d = busy(&format!("vm{}", i + 1));
                d.start = s(a);
                d.stop = (b < 60).then(|| s(b));
                if with_rt && i == 2 {
                    d.rt = rt(RtMode::Aperiodic, Span::ms(10));
                }
                if with_rt && i == 3 {
                    d.rt = rt(RtMode::Periodic, Span::ms(10));
                }
                d
            })
            .collect();
        let sc = one_core("fig12", s(60), opts.seed, doms);
        let (_, st) = run(&sc, EDF_CREDIT)?;
        for w in cuts.windows(2) {
            // Skip the first second after a change: credit settles in one or
            // two accounting periods.
            let (a, b) = (s(w[0]) + s(1), s(w[1]));
            let running: Vec<usize> = (0..5)
                .filter(|&i| life[i].0 <= w[0] && life[i].1 >= w[1])
                .collect();
            let mut cells = vec![label.to_string(), format!("{}-{} s", w[0], w[1])];
            for i in 0..5 {
                if running.contains(&i) {
                    let share = cpu_in(&st, i as u16, a, b) * 100.0;
                    worst = worst.max((share - 100.0 / running.len() as f64).abs());
                    cells.push(format!("{share:.1}"));
                } else {
                    cells.push("-".into());
                }
            }
            t.rows.push(cells);
        }
    }
    r.tables.push(t);
    r.checks.push(check(
        "Fig. 12",
        "equal-weight VMs started and stopped at different times share the pCPU equally in every interval",
        "fair allocation of CPU time",
        format!("largest deviation from 1/running: {worst:.2} points"),
        "±2 points",
        worst <= 2.0,
    ));
    Ok(())
}

/// Domain `d`'s CPU time in `[a, b)` over the length of it, from the trace.
fn cpu_in(st: &SimStats, d: u16, a: Span, b: Span) -> f64 {
    let (a, b) = (a.as_ns(), b.as_ns());
    let ran: i64 = st
        .trace
        .iter()
        .filter(|t| t.domain == d)
        .map(|t| (t.end_ns.min(b) - t.start_ns.max(a)).max(0))
        .sum();
    ran as f64 / (b - a) as f64
}

/// Seed 000: a stream monitor beside 1..6 busy VMs.
fn stream(r: &mut Repro, opts: &ReproOptions) -> Result<(), SimError> {
    let monitor = |mode: Option<Rt>| {
        let mut d = Domain::new("monitor");
        d.rt = mode;
        d.workloads = vec![Workload::Stream {
            period: Span::secs(1),
            work: Span::ms(300),
            deadline: Span::secs(1),
            buffer: 2,
        }];
        d
    };
    let mut t = Table::new(
        "Seed 000: stream monitor (300 ms CPU per 1 s batch, 1 s deadline, 2-batch buffer)",
        &[
            "busy VMs",
            "policy",
            "late",
            "lost",
            "max response (ms)",
            "monitor share %",
        ],
    );
    let mut credit_bad_from = None;
    let mut edf_bad = 0u64;
    for n in 1..=6 {
        for (label, mode, policy) in [
            (CREDIT, None, CREDIT),
            (
                "edf-credit, periodic D=1ms",
                rt(RtMode::Periodic, Span::ms(1)),
                EDF_CREDIT,
            ),
        ] {
            let (rep, _) = run(&with_busy("stream", monitor(mode), n, opts), policy)?;
            let d = &rep.domains[0];
            let bad = d.deadline_misses + d.lost;
            if policy == CREDIT && bad > 0 && credit_bad_from.is_none() {
                credit_bad_from = Some(n);
            }
            if policy == EDF_CREDIT {
                edf_bad += bad;
            }
            t.rows.push(vec![
                n.to_string(),
                label.to_string(),
                d.deadline_misses.to_string(),
                d.lost.to_string(),
                ms(d.latency.max_ns),
                format!("{:.1}", d.cpu_share * 100.0),
            ]);
        }
    }
    r.tables.push(t);
    r.checks.push(check(
        "Seed 000",
        "a stream monitor loses or delays batches under credit once co-tenants grow, none under edf-credit with a suitable deadline",
        "failures and overflow when the monitor is not served in time",
        format!(
            "credit: late or lost from {} busy VMs on; edf-credit D=1ms: {edf_bad} late or lost with 1..6",
            credit_bad_from.map_or("no".into(), |n| n.to_string())
        ),
        "credit fails at some count; edf-credit never",
        credit_bad_from.is_some() && edf_bad == 0,
    ));
    Ok(())
}

/// §III-A: credit reserved for I/O lets a VM that spent its credit in a CPU
/// burst answer an event promptly once it has blocked.
fn reservation(r: &mut Repro, opts: &ReproOptions) -> Result<(), SimError> {
    let io = |reserve: Option<Span>| {
        let mut d = Domain::new("io");
        d.reserve = reserve;
        // A CPU phase every 401 ms, not 400: bursts that all begin on a
        // 10 ms tick instant would make the result hinge on which of two
        // simultaneous events the simulator takes first (with Xen's order,
        // the tick before the wake, credit then never leaves the VM
        // waiting in this set-up); off the grid they begin at every phase
        // of the tick, as on a real machine.
        d.workloads = vec![
            Workload::Cpu {
                load: 0.25,
                period: Span::ms(401),
            },
            Workload::Ping {
                interval: Span::ms(20),
                service: Span::us(50),
                arrival: Arrival::Poisson,
            },
        ];
        d
    };
    let mut t = Table::new(
        "Credit reservation: a bursty VM's wake-to-run latency after blocking (ms)",
        &[
            "policy",
            "wakes",
            "mean",
            "p99",
            "max",
            "io share %",
            "others %",
        ],
    );
    let mut res = Vec::new();
    for (label, reserve, policy) in [
        (CREDIT, None, CREDIT),
        ("edf-credit, reserve 1 ms", Some(Span::ms(1)), EDF_CREDIT),
    ] {
        let (rep, _) = run(&with_busy("reserve", io(reserve), 2, opts), policy)?;
        let d = &rep.domains[0];
        t.rows.push(vec![
            label.to_string(),
            d.sched_latency.count.to_string(),
            ms(d.sched_latency.mean_ns),
            ms(d.sched_latency.p99_ns),
            ms(d.sched_latency.max_ns),
            format!("{:.1}", d.cpu_share * 100.0),
            format!(
                "{:.1} / {:.1}",
                rep.domains[1].cpu_share * 100.0,
                rep.domains[2].cpu_share * 100.0
            ),
        ]);
        res.push((d.sched_latency.max_ns, d.cpu_share));
    }
    r.tables.push(t);
    let (credit, edf) = (res[0], res[1]);
    r.checks.push(check(
        "§III-A",
        "with credit reserved for I/O, a VM that burnt its credit in a CPU phase answers an event promptly after blocking; credit leaves it waiting",
        "reserved credits serve events that arrive in block state",
        format!(
            "max wake-to-run {} ms with a 1 ms reserve, {} ms under credit; share {:.1}% vs {:.1}%",
            ms(edf.0),
            ms(credit.0),
            edf.1 * 100.0,
            credit.1 * 100.0
        ),
        "≤ 1 ms (the ratelimit) vs ≥ 30 ms; share within 1 point",
        edf.0 <= 1_000_000 && credit.0 >= 30_000_000 && (edf.1 - credit.1).abs() <= 0.01,
    ));
    Ok(())
}
