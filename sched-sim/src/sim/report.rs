//! What a run reports: each domain's metrics (kept in memory or streamed
//! to a file, as asked) and, at the end, the report and the counters.

use super::{Sched, Sim};
use crate::metrics::{DomMetrics, SampleLog};
use crate::policy::SimPolicy;
use crate::report::{DomainReport, PcpuReport, Report};
use crate::scenario::Scenario;
use crate::{SimError, SimOptions, SimStats};

/// Each domain's metrics, keeping latencies in memory or writing every
/// sample to a file when `opts` asks.
pub(super) fn metrics_for(sc: &Scenario, opts: &SimOptions) -> Result<Vec<DomMetrics>, SimError> {
    let log = match &opts.samples_csv {
        Some(path) => {
            let names = sc.domains.iter().map(|d| d.name.clone()).collect();
            Some(
                SampleLog::create(path, names).map_err(|e| SimError::Output {
                    path: path.clone(),
                    message: e.to_string(),
                })?,
            )
        }
        None => None,
    };
    Ok((0..sc.domains.len())
        .map(|i| DomMetrics {
            kept: opts.samples.then(Vec::new),
            log: log.as_ref().map(|l| (l.clone(), i as u16)),
            ..DomMetrics::default()
        })
        .collect())
}

impl<'a, H: SimPolicy> Sim<'a, H> {
    pub(super) fn report(mut self, policy: &str, duration: i64) -> (Report, SimStats) {
        self.plat.set_now(duration);
        for c in 0..self.c.len() {
            self.account(c, duration);
            if let Some(k) = self.c[c].running {
                self.progress(k as usize);
                self.trace_run(c, k, duration);
            }
        }
        for v in &self.v {
            if !matches!(v.sched, Sched::Offline | Sched::Removed) {
                self.m[usize::from(v.dom)].censor(&v.guest, duration);
            }
        }
        if self.m.first().is_some_and(|m| m.kept.is_some()) {
            let kept: Vec<Vec<(i64, i64)>> =
                self.m.iter_mut().filter_map(|m| m.kept.take()).collect();
            self.stats.latency_at = kept
                .iter()
                .map(|k| k.iter().map(|s| s.0).collect())
                .collect();
            self.stats.latencies = kept
                .iter()
                .map(|k| k.iter().map(|s| s.1).collect())
                .collect();
        }
        let total = duration as f64 * self.c.len() as f64;
        let domains = self
            .sc
            .domains
            .iter()
            .zip(&mut self.m)
            .zip(self.drec)
            .map(|((d, m), rec)| {
                // Its histograms are freed as its summaries are taken, so
                // the report does not add to a large run's peak memory.
                m.seal();
                DomainReport {
                    name: d.name.clone(),
                    cpu_share: m.cpu_ns as f64 / total,
                    cpu_ns: m.cpu_ns,
                    work_ns: m.work_ns,
                    switches: m.switches,
                    migrations: m.migrations,
                    latency: m.latency.summary(),
                    sched_latency: m.sched.summary(),
                    wait: m.wait.summary(),
                    jitter_ns: m.latency.jitter(),
                    deadline_misses: m.deadline_misses,
                    lost: m.lost,
                    unanswered: m.unanswered,
                    unanswered_max_ns: m.unanswered_max_ns,
                    net: crate::net::shape(
                        d,
                        &m.sent,
                        d.start.as_ns(),
                        d.stop.map_or(duration, |s| s.as_ns()).min(duration),
                    ),
                    auto_lsvm: H::auto_lsvm(self.sc, rec),
                }
            })
            .collect();
        let pcpus = self
            .c
            .iter()
            .enumerate()
            .map(|(i, c)| PcpuReport {
                id: i as u16,
                busy: c.busy_ns as f64 / duration as f64,
                switches: c.switches,
            })
            .collect();
        let report = Report {
            scenario: self.sc.name.clone(),
            policy: policy.to_string(),
            duration_ns: duration,
            domains,
            pcpus,
            percentile_error: crate::metrics::PERCENTILE_ERROR,
        };
        (report, std::mem::take(&mut self.stats))
    }
}
