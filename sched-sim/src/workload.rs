//! Guest models: what a vCPU has to do, and how much of it is done.
//!
//! Each vCPU runs its own instance of every workload of its domain. When it
//! runs, the guest serves pending `ping` requests first (FIFO), then released
//! `periodic` work, then `cpu` work; a newly arrived request preempts lower
//! classes inside the guest at once (an interrupt), but an event reaching a
//! vCPU that waits on a runqueue does nothing for its scheduling - which is
//! exactly the effect the papers study. Instances are kept in that class
//! order, so "the current item" is the first instance with pending work.
//!
//! Work is in nanoseconds of CPU progress. The simulator tells the guest how
//! much progress it made between two instants ([`Guest::progress`]); the
//! guest completes jobs and records their latencies at the exact instant they
//! finished inside that interval.

use std::collections::VecDeque;

use crate::metrics::DomMetrics;
use crate::rng::SplitMix64;
use crate::scenario::{Arrival, Workload};

/// Backlog of a `load = 1.0` cpu workload: never runs out.
const ENDLESS: i64 = i64::MAX;

enum Source {
    Ping {
        interval: i64,
        service: i64,
        poisson: bool,
        rng: SplitMix64,
    },
    Periodic {
        period: i64,
        work: i64,
    },
    Stream {
        period: i64,
        work: i64,
        deadline: i64,
        buffer: u32,
    },
    Cpu {
        period: i64,
        /// Work released per period; `ENDLESS` for load 1.0.
        per_period: i64,
    },
}

struct Instance {
    src: Source,
    /// Bytes each completed job sends, and the flow they belong to
    /// (`None`: a plain workload sends nothing).
    sends: Option<(u32, u16)>,
    /// Release (arrival) instants of pending jobs, oldest first (ping, periodic).
    jobs: VecDeque<i64>,
    /// Work left of the oldest job (ping, periodic) or the backlog (cpu).
    left: i64,
}

impl Instance {
    fn has_work(&self) -> bool {
        match self.src {
            Source::Cpu { .. } => self.left > 0,
            _ => !self.jobs.is_empty(),
        }
    }
    fn class(&self) -> u8 {
        match self.src {
            Source::Ping { .. } => 0,
            Source::Periodic { .. } | Source::Stream { .. } => 1,
            Source::Cpu { .. } => 2,
        }
    }
}

/// The guest of one vCPU.
pub(crate) struct Guest {
    inst: Vec<Instance>,
    /// Indices into `inst` in the order their original workloads were given,
    /// so arrival events keep naming a workload stably.
    order: Vec<u16>,
}

impl Guest {
    /// Instances of `workloads`; random streams are seeded from `seed` and `ids`.
    #[cfg(test)]
    pub(crate) fn new(workloads: &[Workload], seed: u64, ids: &[u64]) -> Guest {
        let tagged: Vec<(Workload, Option<(u32, u16)>)> =
            workloads.iter().map(|w| (*w, None)).collect();
        Guest::with_sends(&tagged, seed, ids)
    }

    /// Instances of `workloads`, each with the bytes its completed jobs send
    /// and their flow (network flows become workloads of the guest).
    pub(crate) fn with_sends(
        workloads: &[(Workload, Option<(u32, u16)>)],
        seed: u64,
        ids: &[u64],
    ) -> Guest {
        let mut inst: Vec<(usize, Instance)> = workloads
            .iter()
            .enumerate()
            .map(|(j, &(ref w, sends))| {
                let src = match *w {
                    Workload::Cpu { load, period } => {
                        let p = period.as_ns();
                        Source::Cpu {
                            period: p,
                            per_period: if load >= 1.0 {
                                ENDLESS
                            } else {
                                ((load * p as f64).round() as i64).max(1)
                            },
                        }
                    }
                    Workload::Ping {
                        interval,
                        service,
                        arrival,
                    } => {
                        let mut id = ids.to_vec();
                        id.push(j as u64);
                        Source::Ping {
                            interval: interval.as_ns(),
                            service: service.as_ns(),
                            poisson: arrival == Arrival::Poisson,
                            rng: SplitMix64::new(seed, &id),
                        }
                    }
                    Workload::Periodic { period, work } => Source::Periodic {
                        period: period.as_ns(),
                        work: work.as_ns(),
                    },
                    Workload::Stream {
                        period,
                        work,
                        deadline,
                        buffer,
                    } => Source::Stream {
                        period: period.as_ns(),
                        work: work.as_ns(),
                        deadline: deadline.as_ns(),
                        buffer,
                    },
                };
                (
                    j,
                    Instance {
                        src,
                        sends,
                        jobs: VecDeque::new(),
                        left: 0,
                    },
                )
            })
            .collect();
        // Stable: same-class workloads keep their file order.
        inst.sort_by_key(|(_, i)| i.class());
        let mut order = vec![0u16; inst.len()];
        for (pos, (j, _)) in inst.iter().enumerate() {
            order[*j] = pos as u16;
        }
        Guest {
            inst: inst.into_iter().map(|(_, i)| i).collect(),
            order,
        }
    }

    /// Number of workloads (arrival events name them `0..len`).
    pub(crate) fn len(&self) -> usize {
        self.inst.len()
    }

    /// Whether workload `w`'s arrivals are external events (I/O reaching the
    /// guest: ping requests) rather than work the guest gives itself.
    pub(crate) fn is_event(&self, w: usize) -> bool {
        matches!(
            self.inst[self.order[w] as usize].src,
            Source::Ping { .. } | Source::Stream { .. }
        )
    }

    /// Forgets all pending work (the domain is gone).
    pub(crate) fn clear(&mut self) {
        for i in &mut self.inst {
            i.jobs.clear();
            i.left = 0;
        }
    }

    /// Requests (pings, periodic releases, stream batches) released and not
    /// yet answered, and the release of the oldest of them.
    pub(crate) fn unanswered(&self) -> (u64, Option<i64>) {
        self.inst
            .iter()
            .filter(|i| !matches!(i.src, Source::Cpu { .. }))
            .fold((0, None), |(n, oldest), i| {
                let first = i.jobs.front().copied();
                let oldest = match (oldest, first) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                (n + i.jobs.len() as u64, oldest)
            })
    }

    /// When workload `w` first delivers work for a guest started at `start`.
    pub(crate) fn first_arrival(&mut self, w: usize, start: i64) -> i64 {
        let i = &mut self.inst[self.order[w] as usize];
        match &mut i.src {
            Source::Ping {
                interval,
                poisson,
                rng,
                ..
            } => {
                if *poisson {
                    start + rng.exp_ns(*interval)
                } else {
                    start + *interval
                }
            }
            Source::Periodic { .. } | Source::Stream { .. } | Source::Cpu { .. } => start,
        }
    }

    /// Workload `w` delivers work at `now`; returns when it next does
    /// (`None` = never again: an endless cpu workload is released once).
    pub(crate) fn arrive(&mut self, w: usize, now: i64, m: &mut DomMetrics) -> Option<i64> {
        let i = &mut self.inst[self.order[w] as usize];
        match &mut i.src {
            Source::Ping {
                interval,
                service,
                poisson,
                rng,
            } => {
                if i.jobs.is_empty() {
                    i.left = *service;
                }
                i.jobs.push_back(now);
                Some(if *poisson {
                    now + rng.exp_ns(*interval)
                } else {
                    now + *interval
                })
            }
            Source::Periodic { period, work } => {
                // The most recent release is still pending: it missed the
                // deadline that is now (older ones were counted before).
                if !i.jobs.is_empty() {
                    m.deadline_misses += 1;
                } else {
                    i.left = *work;
                }
                i.jobs.push_back(now);
                Some(now + *period)
            }
            Source::Stream {
                period,
                work,
                buffer,
                ..
            } => {
                if i.jobs.len() >= *buffer as usize {
                    m.lost += 1;
                } else {
                    if i.jobs.is_empty() {
                        i.left = *work;
                    }
                    i.jobs.push_back(now);
                }
                Some(now + *period)
            }
            Source::Cpu { period, per_period } => {
                if *per_period == ENDLESS {
                    i.left = ENDLESS;
                    None
                } else {
                    i.left = i.left.saturating_add(*per_period);
                    Some(now + *period)
                }
            }
        }
    }

    /// Whether anything is pending.
    pub(crate) fn has_work(&self) -> bool {
        self.inst.iter().any(Instance::has_work)
    }

    /// CPU time until the current item completes (`None` = no work, or
    /// endless cpu work that never completes).
    pub(crate) fn until_next_completion(&self) -> Option<i64> {
        let i = self.inst.iter().find(|i| i.has_work())?;
        (i.left != ENDLESS).then_some(i.left)
    }

    /// The guest made `amount` ns of progress starting at instant `t0`:
    /// completes items in order and records response latencies.
    pub(crate) fn progress(&mut self, t0: i64, amount: i64, m: &mut DomMetrics) {
        let mut t = t0;
        let mut left = amount;
        while left > 0 {
            let Some(i) = self.inst.iter_mut().find(|i| i.has_work()) else {
                return;
            };
            if i.left == ENDLESS {
                return;
            }
            let step = left.min(i.left);
            i.left -= step;
            left -= step;
            t += step;
            if i.left > 0 {
                continue;
            }
            let (next_work, deadline) = match i.src {
                Source::Ping { service, .. } => (service, i64::MAX),
                Source::Periodic { work, .. } => (work, i64::MAX),
                Source::Stream { work, deadline, .. } => (work, deadline),
                Source::Cpu { .. } => continue,
            };
            if let Some(release) = i.jobs.pop_front() {
                m.record(crate::metrics::Kind::Latency, t, t - release);
                if t - release > deadline {
                    m.deadline_misses += 1;
                }
                if let Some((bytes, flow)) = i.sends {
                    m.sent.push(crate::metrics::Sent { at: t, bytes, flow });
                }
            }
            if !i.jobs.is_empty() {
                i.left = next_work;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sched_core::Span;

    #[test]
    fn ping_is_served_before_cpu_work() {
        let w = [
            Workload::Cpu {
                load: 0.5,
                period: Span::ms(10),
            },
            Workload::Ping {
                interval: Span::ms(1),
                service: Span::us(100),
                arrival: Arrival::Fixed,
            },
        ];
        let mut g = Guest::new(&w, 0, &[]);
        let mut m = DomMetrics::default();
        assert!(!g.has_work());
        assert_eq!(g.arrive(0, 0, &mut m), Some(10_000_000));
        assert_eq!(g.until_next_completion(), Some(5_000_000));
        assert_eq!(g.first_arrival(1, 0), 1_000_000);
        assert_eq!(g.arrive(1, 1_000_000, &mut m), Some(2_000_000));
        assert_eq!(g.until_next_completion(), Some(100_000));
        // 50 us of progress, then 100 us more: the ping completes 50 us in.
        g.progress(1_000_000, 50_000, &mut m);
        g.progress(1_050_000, 100_000, &mut m);
        assert_eq!(m.latency.summary().max_ns, 100_000);
        assert_eq!(g.until_next_completion(), Some(5_000_000 - 50_000));
    }

    #[test]
    fn a_stream_counts_late_batches_and_loses_what_the_buffer_cannot_hold() {
        let w = [Workload::Stream {
            period: Span::secs(1),
            work: Span::ms(300),
            deadline: Span::ms(500),
            buffer: 2,
        }];
        let mut g = Guest::new(&w, 0, &[]);
        let mut m = DomMetrics::default();
        assert!(g.is_event(0));
        assert_eq!(g.arrive(0, 0, &mut m), Some(1_000_000_000));
        g.arrive(0, 1_000_000_000, &mut m);
        g.arrive(0, 2_000_000_000, &mut m);
        assert_eq!(m.lost, 1, "the third batch finds two waiting");
        // Served from 0.9 s: the first batch 1.2 s after it came (a miss),
        // the second exactly at its 0.5 s deadline (not a miss).
        g.progress(900_000_000, 600_000_000, &mut m);
        assert!(!g.has_work());
        assert_eq!(m.deadline_misses, 1);
        assert_eq!(m.latency.summary().max_ns, 1_200_000_000);
    }

    #[test]
    fn periodic_counts_misses_once_per_late_release() {
        let w = [Workload::Periodic {
            period: Span::ms(10),
            work: Span::ms(4),
        }];
        let mut g = Guest::new(&w, 0, &[]);
        let mut m = DomMetrics::default();
        g.arrive(0, 0, &mut m);
        g.arrive(0, 10_000_000, &mut m);
        g.arrive(0, 20_000_000, &mut m);
        assert_eq!(m.deadline_misses, 2);
        g.progress(20_000_000, 12_000_000, &mut m);
        assert!(!g.has_work());
        let d = m.latency.summary();
        assert_eq!(d.count, 3);
        assert_eq!(d.max_ns, 24_000_000);
    }
}
