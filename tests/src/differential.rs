//! Two policies on one scenario, compared decision by decision: what each
//! `do_schedule` chose, on which pCPU, when (the simulator's trace). Used
//! to hold this project's credit engine against Xen's own `credit.c`
//! (`xen-credit`, compiled from Xen's source by `xen-oracle`).

use std::fmt::Write as _;

use sched_sim::{simulate_with_stats, Scenario, SimOptions, TraceEvent, TraceKind, TraceVcpu};

/// One decision that changed what a pCPU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switch {
    /// When, ns.
    pub at_ns: i64,
    /// The pCPU.
    pub cpu: u16,
    /// What it runs from then on (`None`: idle).
    pub next: Option<TraceVcpu>,
}

/// What two runs of one scenario did alike, and where they first differed.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Switches both runs made identically, from the start.
    pub same: usize,
    /// Switches in each run.
    pub total: (usize, usize),
    /// The first difference, with what led to it on both sides; `None`:
    /// the traces are identical.
    pub divergence: Option<String>,
}

/// The switches (decisions with `prev != next`) of `sc` under `policy`, and
/// the full event trace they came from.
pub fn switches(sc: &Scenario, policy: &str) -> (Vec<Switch>, Vec<TraceEvent>) {
    let opts = SimOptions {
        trace: true,
        ..Default::default()
    };
    let (_, st) =
        simulate_with_stats(sc, policy, &opts).unwrap_or_else(|e| panic!("{policy}: {e}"));
    let sw = st
        .sched_events
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::Schedule {
                cpu, prev, next, ..
            } if prev != next => Some(Switch {
                at_ns: e.at_ns,
                cpu,
                next,
            }),
            _ => None,
        })
        .collect();
    (sw, st.sched_events)
}

/// Compares `sc` under policies `a` and `b`.
pub fn compare(sc: &Scenario, a: &str, b: &str) -> Comparison {
    let (sa, ea) = switches(sc, a);
    let (sb, eb) = switches(sc, b);
    let same = sa.iter().zip(&sb).take_while(|(x, y)| x == y).count();
    let total = (sa.len(), sb.len());
    let divergence = (same < sa.len().max(sb.len())).then(|| {
        let at = [sa.get(same), sb.get(same)]
            .into_iter()
            .flatten()
            .map(|s| s.at_ns)
            .min()
            .unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "after {same} identical switches, at t={at} ns:\n  {a}: {:?}\n  {b}: {:?}",
            sa.get(same),
            sb.get(same)
        );
        for (name, ev) in [(a, &ea), (b, &eb)] {
            let _ = writeln!(out, "  {name}, the events up to then:");
            let upto: Vec<_> = ev.iter().filter(|e| e.at_ns <= at).collect();
            for e in &upto[upto.len().saturating_sub(12)..] {
                let _ = writeln!(out, "    {:>12} {:?}", e.at_ns, e.kind);
            }
            // The scheduler's own view at the decisions of that instant.
            let opts = SimOptions {
                dumps: Some((at, at)),
                ..Default::default()
            };
            if let Ok((_, st)) = simulate_with_stats(sc, name, &opts) {
                for (t, cpu, text) in &st.dumps {
                    let _ = writeln!(out, "  {name}'s dump at {t} ns, deciding on cpu{cpu}:");
                    for l in text.lines() {
                        let _ = writeln!(out, "    | {l}");
                    }
                }
            }
        }
        out
    });
    Comparison {
        same,
        total,
        divergence,
    }
}

/// One way of making a domain simpler.
type Simplify = Box<dyn Fn(&mut sched_sim::Domain)>;

/// Whether `sc` is a valid scenario that still makes `a` and `b` differ.
fn differs(sc: &Scenario, a: &str, b: &str) -> bool {
    sc.validate().is_ok() && compare(sc, a, b).divergence.is_some()
}

/// A smaller scenario on which `a` and `b` still differ: greedy passes
/// (cut the run just after the first difference, drop domains, changes and
/// workloads, halve vCPU counts, clear pins, caps, weights and start and
/// stop times) until none helps. Proptest's own shrinking gives up on the
/// wide scenarios where differences tend to be found; this one needs only
/// that a smaller scenario is still a scenario.
pub fn shrink(sc: &Scenario, a: &str, b: &str) -> Scenario {
    let mut best = sc.clone();
    // Cut the run 1 ms after the difference.
    if let Some(at) = first_difference_at(&best, a, b) {
        let mut s = best.clone();
        s.duration = sched_sim::Span::ns(at + 1_000_000).min(s.duration);
        let end = s.duration;
        s.domains.retain(|d| d.start < end);
        for d in &mut s.domains {
            d.stop = d.stop.filter(|&t| t <= end);
        }
        let names: Vec<String> = s.domains.iter().map(|d| d.name.clone()).collect();
        s.changes.retain(|c| {
            c.at < end
                && !matches!(&c.what, sched_sim::ChangeKind::Domain(d) if !names.contains(&d.domain))
        });
        if differs(&s, a, b) {
            best = s;
        }
    }
    loop {
        let before = best.clone();
        let mut i = 0;
        while i < best.domains.len() && best.domains.len() > 1 {
            let mut s = best.clone();
            let gone = s.domains.remove(i).name;
            s.changes.retain(
                |c| !matches!(&c.what, sched_sim::ChangeKind::Domain(d) if d.domain == gone),
            );
            if differs(&s, a, b) {
                best = s;
            } else {
                i += 1;
            }
        }
        let mut i = 0;
        while i < best.changes.len() {
            let mut s = best.clone();
            s.changes.remove(i);
            if differs(&s, a, b) {
                best = s;
            } else {
                i += 1;
            }
        }
        for d in 0..best.domains.len() {
            let simpler: Vec<Simplify> = vec![
                Box::new(|x| x.vcpus = (x.vcpus / 2).max(1)),
                Box::new(|x| x.pin = None),
                Box::new(|x| x.cap = 0),
                Box::new(|x| x.weight = 256),
                Box::new(|x| x.start = sched_sim::Span::ZERO),
                Box::new(|x| x.stop = None),
                Box::new(|x| {
                    x.microslice = None;
                    x.rt = None;
                    x.reserve = None;
                }),
            ];
            for f in &simpler {
                let mut s = best.clone();
                f(&mut s.domains[d]);
                if s.domains[d] != best.domains[d] && differs(&s, a, b) {
                    best = s;
                }
            }
            let mut w = 0;
            while w < best.domains[d].workloads.len() && best.domains[d].workloads.len() > 1 {
                let mut s = best.clone();
                s.domains[d].workloads.remove(w);
                if differs(&s, a, b) {
                    best = s;
                } else {
                    w += 1;
                }
            }
        }
        if best.host.pcpus > 1 {
            let mut s = best.clone();
            s.host.pcpus -= 1;
            let n = s.host.pcpus;
            let fits = s
                .domains
                .iter()
                .all(|d| d.pin.as_ref().is_none_or(|p| p.iter().all(|&c| c < n)))
                && s.changes.iter().all(
                    |c| !matches!(c.what, sched_sim::ChangeKind::Pcpu { pcpu, .. } if pcpu >= n),
                );
            if fits && s.validate().is_ok() && differs(&s, a, b) {
                best = s;
            }
        }
        if best == before {
            return best;
        }
    }
}

/// When `a` and `b` first decide differently on `sc`, ns.
fn first_difference_at(sc: &Scenario, a: &str, b: &str) -> Option<i64> {
    let (sa, _) = switches(sc, a);
    let (sb, _) = switches(sc, b);
    let same = sa.iter().zip(&sb).take_while(|(x, y)| x == y).count();
    [sa.get(same), sb.get(same)]
        .into_iter()
        .flatten()
        .map(|s| s.at_ns)
        .min()
}

/// `sc` as a scenario file (the keys the property tests' scenarios use),
/// for `vsched simulate`: a difference found at random, written down.
pub fn to_toml(sc: &Scenario) -> String {
    use sched_sim::{Arrival, ChangeKind, RtMode, Workload};
    let ns = |s: sched_sim::Span| format!("\"{}ns\"", s.as_ns());
    let mut o = String::new();
    let _ = writeln!(
        o,
        "name = {:?}\nduration = {}\nseed = {}",
        sc.name,
        ns(sc.duration),
        sc.seed
    );
    let _ = writeln!(
        o,
        "[host]\npcpus = {}\ncontext_switch = {}\ncache_refill = {}\ntimer_granularity = {}",
        sc.host.pcpus,
        ns(sc.host.context_switch),
        ns(sc.host.cache_refill),
        ns(sc.host.timer_granularity)
    );
    if let Some(x) = sc.pool.xen_exact {
        let _ = writeln!(o, "[pool]\nxen_exact = {x}");
    }
    for d in &sc.domains {
        let _ = writeln!(
            o,
            "\n[[domain]]\nname = {:?}\nvcpus = {}\nweight = {}\ncap = {}",
            d.name, d.vcpus, d.weight, d.cap
        );
        if let Some(p) = &d.pin {
            let _ = writeln!(o, "pin = {p:?}");
        }
        if let Some(m) = d.microslice {
            let _ = writeln!(o, "microslice = {}", ns(m));
        }
        if let Some(rt) = &d.rt {
            let mode = match rt.mode {
                RtMode::Periodic => "periodic",
                RtMode::Aperiodic => "aperiodic",
            };
            match rt.deadline {
                Some(dl) => _ = writeln!(o, "rt = {{ mode = \"{mode}\", deadline = {} }}", ns(dl)),
                None => _ = writeln!(o, "rt = {{ mode = \"{mode}\" }}"),
            }
        }
        if let Some(r) = d.reserve {
            let _ = writeln!(o, "reserve = {}", ns(r));
        }
        let _ = writeln!(o, "start = {}", ns(d.start));
        if let Some(s) = d.stop {
            let _ = writeln!(o, "stop = {}", ns(s));
        }
        let w: Vec<String> = d
            .workloads
            .iter()
            .map(|w| match *w {
                Workload::Cpu { load, period } => {
                    format!("{{ kind = \"cpu\", load = {load}, period = {} }}", ns(period))
                }
                Workload::Ping { interval, service, arrival } => format!(
                    "{{ kind = \"ping\", interval = {}, service = {}, arrival = \"{}\" }}",
                    ns(interval),
                    ns(service),
                    if arrival == Arrival::Poisson { "poisson" } else { "fixed" }
                ),
                Workload::Periodic { period, work } => format!(
                    "{{ kind = \"periodic\", period = {}, work = {} }}",
                    ns(period),
                    ns(work)
                ),
                Workload::Stream { period, work, deadline, buffer } => format!(
                    "{{ kind = \"stream\", period = {}, work = {}, deadline = {}, buffer = {buffer} }}",
                    ns(period),
                    ns(work),
                    ns(deadline)
                ),
            })
            .collect();
        let _ = writeln!(o, "workloads = [{}]", w.join(", "));
    }
    for c in &sc.changes {
        let _ = writeln!(o, "\n[[change]]\nat = {}", ns(c.at));
        match &c.what {
            ChangeKind::Domain(d) => {
                let _ = writeln!(o, "domain = {:?}", d.domain);
                if let Some(w) = d.weight {
                    let _ = writeln!(o, "weight = {w}");
                }
                if let Some(cap) = d.cap {
                    let _ = writeln!(o, "cap = {cap}");
                }
                if let Some(m) = d.microslice {
                    let _ = writeln!(o, "microslice = {}", ns(m));
                }
            }
            ChangeKind::Pcpu { pcpu, online } => {
                let _ = writeln!(o, "pcpu = {pcpu}\nonline = {online}");
            }
        }
    }
    o
}
