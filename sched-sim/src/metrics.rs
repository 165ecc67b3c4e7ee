//! Latency distributions and their summaries.
//!
//! Samples are kept (one `i64` each) and sorted once at report time: exact
//! percentiles are worth a few megabytes, and runs are bounded. Percentiles
//! use the **nearest-rank** method: `pN` is the sample at 1-based rank
//! `ceil(N/100 × count)` of the sorted samples (so p50 of 1..=4 is 2, and
//! p100 would be the max). The mean is the integer mean, rounded down.

use crate::report::Dist;

/// Everything measured for one domain during a run.
#[derive(Clone, Debug, Default)]
pub(crate) struct DomMetrics {
    pub(crate) cpu_ns: i64,
    /// CPU time its guests made progress in (switch overheads excluded).
    pub(crate) work_ns: i64,
    pub(crate) switches: u64,
    pub(crate) migrations: u64,
    /// Response latency (ping and periodic), in completion order.
    pub(crate) latency: Samples,
    /// `wake()` to running.
    pub(crate) sched: Samples,
    /// Joining a runqueue (woken or preempted) to running.
    pub(crate) wait: Samples,
    pub(crate) deadline_misses: u64,
    /// Stream batches lost to a full buffer.
    pub(crate) lost: u64,
    /// Requests still unanswered when the run (or the domain) ended.
    pub(crate) unanswered: u64,
    /// The longest any of them had waited by then.
    pub(crate) unanswered_max_ns: i64,
    /// What its guest sent on the network, in completion order.
    pub(crate) sent: Vec<Sent>,
}

impl DomMetrics {
    /// Counts what `guest` leaves unanswered as it ends at `now`.
    pub(crate) fn censor(&mut self, guest: &crate::workload::Guest, now: i64) {
        let (n, oldest) = guest.unanswered();
        self.unanswered += n;
        if let Some(t) = oldest {
            self.unanswered_max_ns = self.unanswered_max_ns.max(now - t);
        }
    }
}

/// Bytes a guest job handed to the network at an instant, for a flow.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sent {
    pub(crate) at: i64,
    pub(crate) bytes: u32,
    pub(crate) flow: u16,
}

/// Samples of one distribution, in the order they were taken.
#[derive(Clone, Debug, Default)]
pub(crate) struct Samples(Vec<i64>);

impl Samples {
    pub(crate) fn push(&mut self, ns: i64) {
        self.0.push(ns.max(0));
    }

    /// The samples, in the order they were taken.
    pub(crate) fn to_vec(&self) -> Vec<i64> {
        self.0.clone()
    }

    /// Count, mean, p50, p99, p99.9 and max (all 0 when empty).
    pub(crate) fn summary(&self) -> Dist {
        let n = self.0.len();
        if n == 0 {
            return Dist::default();
        }
        let mut v = self.0.clone();
        v.sort_unstable();
        let sum: i128 = v.iter().map(|&x| i128::from(x)).sum();
        Dist {
            count: n as u64,
            mean_ns: (sum / n as i128) as u64,
            p50_ns: nearest_rank(&v, 500) as u64,
            p99_ns: nearest_rank(&v, 990) as u64,
            p999_ns: nearest_rank(&v, 999) as u64,
            max_ns: v[n - 1] as u64,
        }
    }

    /// Jitter: the mean absolute difference between consecutive samples, in
    /// the order they were taken (for response latency: completion order),
    /// rounded down; 0 with fewer than two samples. This is the RFC 3550
    /// inter-arrival-jitter idea without its exponential smoothing: how much
    /// one response's latency differs from the previous one's, on average.
    pub(crate) fn jitter(&self) -> u64 {
        if self.0.len() < 2 {
            return 0;
        }
        let sum: i128 = self
            .0
            .windows(2)
            .map(|w| i128::from((w[1] - w[0]).abs()))
            .sum();
        (sum / (self.0.len() as i128 - 1)) as u64
    }
}

/// The sample at 1-based rank `ceil(permille/1000 × n)` of sorted `v` (non-empty).
fn nearest_rank(v: &[i64], permille: usize) -> i64 {
    let n = v.len();
    let rank = (permille * n).div_ceil(1000).clamp(1, n);
    v[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(xs: &[i64]) -> Samples {
        let mut s = Samples::default();
        for &x in xs {
            s.push(x);
        }
        s
    }

    #[test]
    fn nearest_rank_percentiles() {
        let s = of(&[4, 1, 3, 2]);
        let d = s.summary();
        assert_eq!(
            (d.count, d.mean_ns, d.p50_ns, d.p99_ns, d.max_ns),
            (4, 2, 2, 4, 4)
        );
        let s = of(&(1..=1000).collect::<Vec<_>>());
        let d = s.summary();
        assert_eq!((d.p50_ns, d.p99_ns, d.p999_ns), (500, 990, 999));
        assert_eq!(Samples::default().summary(), Dist::default());
    }

    #[test]
    fn jitter_is_mean_absolute_successive_difference() {
        assert_eq!(of(&[10, 20, 10, 40]).jitter(), (10 + 10 + 30) / 3);
        assert_eq!(of(&[5]).jitter(), 0);
    }
}
