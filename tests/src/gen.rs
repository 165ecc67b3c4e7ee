//! Random scenarios for property tests (`proptest` strategies): the shapes
//! the invariant tests and the differential test against Xen's own credit1
//! draw from.

use proptest::prelude::*;
use sched_core::Span;
use sched_sim::{
    Arrival, Change, ChangeKind, Domain, DomainChange, Host, Rt, RtMode, Scenario, Workload,
};

/// One guest workload: a CPU duty cycle, pings (fixed or Poisson, so
/// wakes fall off the tick grid), or a periodic task.
pub fn workload() -> impl Strategy<Value = Workload> {
    prop_oneof![
        (1u32..=10, 20i64..200).prop_map(|(l, p)| Workload::Cpu {
            load: f64::from(l) / 10.0,
            period: Span::ms(p)
        }),
        (1i64..50, 10i64..2000, any::<bool>()).prop_map(|(i, s, poisson)| Workload::Ping {
            interval: Span::ms(i),
            service: Span::us(s),
            arrival: if poisson {
                Arrival::Poisson
            } else {
                Arrival::Fixed
            },
        }),
        (5i64..100, 100i64..3000).prop_map(|(p, w)| Workload::Periodic {
            period: Span::ms(p),
            work: Span::us(w)
        }),
    ]
}

/// One domain of a scenario on `pcpus` pCPUs; `vcpus` bounds its vCPUs and
/// `rt_ok` whether it may be real-time (edf-credit's admission control
/// refuses what cannot fit, so wide scenarios keep real-time domains few).
pub fn domain(pcpus: u16, idx: usize, vcpus: u16, rt_ok: bool) -> impl Strategy<Value = Domain> {
    (
        1u16..=vcpus,
        prop::option::of(prop::collection::btree_set(
            0..pcpus,
            1..=usize::from(pcpus),
        )),
        prop_oneof![Just(256u16), 1u16..=1024],
        prop_oneof![3 => Just(0u16), 1 => 5u16..=100],
        0i64..1500,
        prop::option::of(1500i64..3000),
        prop::collection::vec(workload(), 1..=3),
        prop_oneof![2 => Just(0i64), 1 => 1i64..=30],
        (
            prop_oneof![2 => Just(0u8), 1 => 1u8..=2],
            10i64..=200,
            0i64..=5,
        ),
    )
        .prop_map(
            move |(vcpus, pin, weight, cap, start, stop, workloads, micro, (rt, dl, res))| {
                let mut d = Domain::new(&format!("d{idx}"));
                d.vcpus = vcpus;
                d.pin = pin.map(|p| p.into_iter().collect());
                d.weight = weight;
                d.cap = cap;
                d.start = Span::ms(start);
                d.stop = stop.map(Span::ms);
                d.workloads = workloads;
                d.microslice = (micro > 0).then(|| Span::ms(micro));
                // edf-credit: real-time modes with deadlines of 10 ms or more
                // (6 domains × 2 vCPUs × 0.5 ms / 10 ms stays admissible on
                // one pCPU), and credit reserves.
                let deadline = Some(Span::ms(dl));
                d.rt = match rt {
                    1 if rt_ok => Some(Rt {
                        mode: RtMode::Periodic,
                        deadline,
                    }),
                    2 if rt_ok => Some(Rt {
                        mode: RtMode::Aperiodic,
                        deadline,
                    }),
                    _ => None,
                };
                d.reserve = (res > 0).then(|| Span::ms(res));
                d
            },
        )
}

/// A random scenario: mostly small hosts (1-4 pCPUs, up to 6 domains of 1-2
/// vCPUs), and one case in four wide (1-16 pCPUs, up to 40 domains of up to
/// 16 vCPUs, or a few domains of up to 64 vCPUs: the shapes where credit1's
/// fairness and the checks were never exercised). The first six domains of
/// at most two vCPUs may be real-time.
pub fn scenario() -> impl Strategy<Value = Scenario> {
    let shape = prop_oneof![
        3 => (1u16..=4, 1usize..=6, Just(2u16)),
        1 => (1u16..=16, 7usize..=40, 1u16..=16),
        1 => (1u16..=16, 1usize..=4, 17u16..=64),
    ];
    // Seeds a scenario file can hold (TOML integers are i64).
    (shape, 0..=i64::MAX as u64)
        .prop_flat_map(|((pcpus, ndoms, vcpus), seed)| {
            let doms: Vec<_> = (0..ndoms)
                .map(|i| domain(pcpus, i, vcpus, i < 6 && vcpus <= 2))
                .collect();
            // A pCPU that leaves the pool and comes back (none when the
            // host has one): which, when, for how long.
            let outage = prop::option::of((0..pcpus, 1i64..2900, 1i64..2900));
            (Just(pcpus), doms, Just(seed), 0i64..20, outage)
        })
        .prop_map(|(pcpus, domains, seed, cs, outage)| {
            // Flip the first domain between LSVM and NLSVM mid-run, as an
            // administrator may.
            let d0 = &domains[0];
            let mut changes = vec![Change {
                at: d0.start + Span((d0.stop.unwrap_or(Span::secs(3)) - d0.start).as_ns() / 2),
                what: ChangeKind::Domain(DomainChange {
                    domain: d0.name.clone(),
                    weight: None,
                    cap: None,
                    microslice: Some(if d0.microslice.is_some() {
                        Span::ZERO
                    } else {
                        Span::ms(3)
                    }),
                }),
            }];
            if let Some((pcpu, a, b)) = outage.filter(|_| pcpus > 1) {
                for (at, online) in [(a.min(b), false), (a.max(b) + 1, true)] {
                    changes.push(Change {
                        at: Span::ms(at),
                        what: ChangeKind::Pcpu { pcpu, online },
                    });
                }
            }
            Scenario {
                changes,
                ..Scenario::new(
                    "random",
                    Span::secs(3),
                    seed,
                    Host::new(pcpus, Span::us(cs)),
                    domains,
                )
            }
        })
}
