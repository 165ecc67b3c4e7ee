//! Latency distributions and their summaries, in bounded memory.
//!
//! A distribution keeps its count, sum, minimum, maximum and jitter
//! exactly, and its samples in an HDR histogram ([`crate::hist`]: 2
//! significant digits, values below 256 ns exact). Its memory grows with the
//! logarithm of the largest sample, not with the number of samples: a
//! day-long run costs what a minute costs. Percentiles use the **nearest-rank** method: `pN` is
//! the sample at 1-based rank `ceil(N/100 × count)`, reported as the top of
//! its histogram bucket (clamped to the exact maximum), so it is at most
//! [`PERCENTILE_ERROR`] above the exact sample and never below it. The mean
//! is the integer mean, rounded down.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::rc::Rc;

use crate::hist::Hist;
use crate::report::Dist;

/// The largest relative error of a reported percentile (above the exact
/// sample, never below).
pub const PERCENTILE_ERROR: f64 = crate::hist::BUCKET_ERROR;

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
    /// Every response latency with the instant it completed, in completion
    /// order, when the run keeps them in memory (`SimOptions::samples`:
    /// plots, the reproductions).
    pub(crate) kept: Option<Vec<(i64, i64)>>,
    /// Where every sample is also written, and this domain's index there.
    pub(crate) log: Option<(Log, u16)>,
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
    /// Takes a sample of distribution `kind` at instant `at`.
    pub(crate) fn record(&mut self, kind: Kind, at: i64, ns: i64) {
        match kind {
            Kind::Latency => {
                self.latency.push(ns);
                if let Some(k) = &mut self.kept {
                    k.push((at, ns.max(0)));
                }
            }
            Kind::Sched => self.sched.push(ns),
            Kind::Wait => self.wait.push(ns),
        }
        if let Some((log, dom)) = &self.log {
            log.borrow_mut().row(*dom, kind, at, ns.max(0));
        }
    }

    /// The domain has ended: its distributions are final.
    pub(crate) fn seal(&mut self) {
        for s in [&mut self.latency, &mut self.sched, &mut self.wait] {
            s.seal();
        }
    }

    /// Counts what `guest` leaves unanswered as it ends at `now`.
    pub(crate) fn censor(&mut self, guest: &crate::workload::Guest, now: i64) {
        let (n, oldest) = guest.unanswered();
        self.unanswered += n;
        if let Some(t) = oldest {
            self.unanswered_max_ns = self.unanswered_max_ns.max(now - t);
        }
    }
}

/// The distributions a domain keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Response latency.
    Latency,
    /// `wake()` to running.
    Sched,
    /// Runqueue wait.
    Wait,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Latency => "latency",
            Kind::Sched => "sched_latency",
            Kind::Wait => "wait",
        }
    }
}

/// A run's sample log, shared by its domains' metrics.
pub(crate) type Log = Rc<RefCell<SampleLog>>;

/// Every sample of a run as a CSV row (`domain,kind,at_ns,value_ns`),
/// streamed to a file as it is taken, so a user who wants the raw data gets
/// all of it without the run holding it in memory.
pub(crate) struct SampleLog {
    out: BufWriter<File>,
    names: Vec<String>,
    /// The first write error; later rows are dropped and the run fails.
    err: Option<io::Error>,
}

impl std::fmt::Debug for SampleLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleLog").finish_non_exhaustive()
    }
}

impl SampleLog {
    /// Creates (or truncates) `path` and writes the header.
    pub(crate) fn create(path: &Path, names: Vec<String>) -> io::Result<Log> {
        let mut out = BufWriter::with_capacity(1 << 16, File::create(path)?);
        out.write_all(b"domain,kind,at_ns,value_ns\n")?;
        Ok(Rc::new(RefCell::new(SampleLog {
            out,
            names,
            err: None,
        })))
    }

    fn row(&mut self, dom: u16, kind: Kind, at: i64, ns: i64) {
        if self.err.is_none() {
            let name = &self.names[usize::from(dom)];
            if let Err(e) = writeln!(self.out, "{name},{},{at},{ns}", kind.name()) {
                self.err = Some(e);
            }
        }
    }

    /// Flushes what is buffered; the first error of the run, if any.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        match self.err.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
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

/// One distribution: exact count, sum, extremes and successive
/// differences, and a histogram for its percentiles (allocated with the
/// first sample, so a distribution a domain never feeds costs no histogram).
#[derive(Clone, Debug, Default)]
pub(crate) struct Samples {
    count: u64,
    sum: i128,
    min: i64,
    max: i64,
    /// The latest sample and the sum of absolute differences between
    /// consecutive ones (for [`Samples::jitter`]).
    last: i64,
    diff_sum: i128,
    hist: Hist,
    /// The summary, once [`Samples::seal`] has freed the histogram.
    sealed: Option<Dist>,
}

impl Samples {
    pub(crate) fn push(&mut self, ns: i64) {
        debug_assert!(self.sealed.is_none(), "a sample after its domain ended");
        let ns = ns.max(0);
        if self.count == 0 {
            self.min = ns;
            self.max = ns;
        } else {
            self.min = self.min.min(ns);
            self.max = self.max.max(ns);
            self.diff_sum += i128::from((ns - self.last).abs());
        }
        self.count += 1;
        self.sum += i128::from(ns);
        self.last = ns;
        self.hist.record(ns as u64);
    }

    /// Count, mean, p50, p99, p99.9 and max (all 0 when empty).
    pub(crate) fn summary(&self) -> Dist {
        if let Some(d) = self.sealed {
            return d;
        }
        if self.count == 0 {
            return Dist::default();
        }
        let n = self.count;
        let ranks = [500, 990, 999].map(|permille: u64| (permille * n).div_ceil(1000).clamp(1, n));
        let tops = self.hist.nearest_ranks(ranks);
        // The first and last ranks are the exact extremes.
        let [p50, p99, p999] = [0, 1, 2].map(|i| match ranks[i] {
            1 => self.min as u64,
            r if r == n => self.max as u64,
            _ => tops[i].min(self.max as u64),
        });
        Dist {
            count: n,
            mean_ns: (self.sum / i128::from(n)) as u64,
            p50_ns: p50,
            p99_ns: p99,
            p999_ns: p999,
            max_ns: self.max as u64,
            min_ns: self.min as u64,
        }
    }

    /// Keeps the summary and frees the histogram: an ended domain takes no
    /// more samples, and a long run that creates and destroys domains must
    /// not hold a histogram for every domain it ever had.
    pub(crate) fn seal(&mut self) {
        if self.sealed.is_some() {
            return;
        }
        self.hist.flush();
        self.sealed = Some(self.summary());
        self.hist = Hist::default();
    }

    /// Jitter: the mean absolute difference between consecutive samples, in
    /// the order they were taken (for response latency: completion order),
    /// rounded down; 0 with fewer than two samples. This is the RFC 3550
    /// inter-arrival-jitter idea without its exponential smoothing: how much
    /// one response's latency differs from the previous one's, on average.
    pub(crate) fn jitter(&self) -> u64 {
        if self.count < 2 {
            return 0;
        }
        (self.diff_sum / i128::from(self.count - 1)) as u64
    }
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
        // Exact below 256 ns; above, the top of a bucket 2 ns wide (the
        // ranks' samples are 500 and 990; 999 is clamped to the maximum).
        let s = of(&(1..=200).collect::<Vec<_>>());
        let d = s.summary();
        assert_eq!((d.p50_ns, d.p99_ns, d.p999_ns), (100, 198, 200));
        let s = of(&(1..=1000).collect::<Vec<_>>());
        let d = s.summary();
        assert_eq!((d.p50_ns, d.p99_ns, d.p999_ns), (501, 991, 999));
        assert_eq!(Samples::default().summary(), Dist::default());
    }

    /// Against the exact nearest-rank sample of sorted values, over spreads
    /// from nanoseconds to seconds: never below it, at most 1/128 above.
    #[test]
    fn percentiles_are_within_the_stated_error_of_the_exact_ones() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for spread in [300, 40_000, 5_000_000, 2_000_000_000] {
            let v: Vec<i64> = (0..20_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % spread) as i64
                })
                .collect();
            let d = of(&v).summary();
            let mut sorted = v.clone();
            sorted.sort_unstable();
            for (got, permille) in [(d.p50_ns, 500), (d.p99_ns, 990), (d.p999_ns, 999)] {
                let exact = sorted[(permille * sorted.len()).div_ceil(1000) - 1] as u64;
                assert!(
                    got >= exact,
                    "spread {spread}: p{permille}‰ {got} < exact {exact}"
                );
                let err = (got - exact) as f64 / exact.max(1) as f64;
                assert!(
                    err <= PERCENTILE_ERROR,
                    "spread {spread}: p{permille}‰ {got} vs {exact}"
                );
            }
            assert_eq!(d.max_ns, *sorted.last().unwrap() as u64);
            assert_eq!(d.min_ns, sorted[0] as u64);
            let sum: i64 = v.iter().sum();
            assert_eq!(d.mean_ns, (sum / v.len() as i64) as u64);
        }
    }

    #[test]
    fn jitter_is_mean_absolute_successive_difference() {
        assert_eq!(of(&[10, 20, 10, 40]).jitter(), (10 + 10 + 30) / 3);
        assert_eq!(of(&[5]).jitter(), 0);
    }
}
