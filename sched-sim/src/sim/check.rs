//! The invariant checker: what a host can see of DESIGN.md's invariants,
//! judged from the host's own view (what is runnable, where it may run,
//! what is idle), never from the policy's.

use sched_core::{CpuId, CpuMask, SchedOps};

use super::{Sched, Sim};
use crate::policy::SimPolicy;

/// The most invariant violations kept as text (all are counted).
const MAX_VIOLATIONS: usize = 16;

/// The longest a runnable vCPU may wait on a runqueue before the checker
/// calls it starved, from what the host knows (ns): `tslice` (also the
/// accounting period), the runnable vCPUs, the weights of live domains, and
/// the waiting vCPU's domain (its vCPUs, its weight) and pCPUs it may use.
///
/// Credit1's argument: a vCPU in debt (at most one timeslice of credit, the
/// clip) gets at least `tslice · pCPUs · weight / weights / vcpus` of credit
/// per accounting period, so it is UNDER again within
/// `weights · vcpus / (pCPUs · weight) + 1` periods; once UNDER it waits at
/// most one slice for each runnable vCPU (vSlicer's micro-round `T_S` and
/// EDF's short picks fit in that too). Twice that, plus 100 ms, leaves room
/// for ratelimits, ticks and boosts: it catches waits without end, not
/// credit1's ordinary unfairness.
fn starvation_bound(
    tslice: i64,
    runnable: i64,
    weights: i64,
    vcpus: i64,
    weight: i64,
    pcpus: i64,
) -> i64 {
    let periods = (weights * vcpus + pcpus * weight - 1) / (pcpus * weight).max(1) + 1;
    2 * tslice * (periods + runnable + 1) + 100_000_000
}

impl<'a, H: SimPolicy> Sim<'a, H> {
    pub(super) fn violation(&mut self, msg: String) {
        self.stats.violation_count += 1;
        if self.stats.violations.len() < MAX_VIOLATIONS {
            self.stats.violations.push(msg);
        }
    }

    pub(super) fn vname(&self, k: usize) -> String {
        format!(
            "{}.v{}",
            self.sc.domains[usize::from(self.v[k].dom)].name,
            self.v[k].id
        )
    }

    /// The invariants of DESIGN.md that a host can see, at a quiescent instant.
    pub(super) fn check_invariants(&mut self) {
        let now = self.now();
        self.seen.iter_mut().for_each(|s| *s = false);
        let mut idle = CpuMask::EMPTY;
        for c in 0..self.c.len() {
            let cpu = CpuId(c as u16);
            let cur = self.eng.running_on(cpu).map(|t| t.0);
            let host = self.c[c].running.map(|k| k as usize);
            if cur != host {
                self.violation(format!(
                    "t={now}ns: cpu{c}: scheduler runs {cur:?}, host runs {host:?}"
                ));
            }
            match cur {
                Some(k) if k < self.seen.len() => {
                    if std::mem::replace(&mut self.seen[k], true) {
                        self.violation(format!(
                            "t={now}ns: {} is current on two pCPUs",
                            self.vname(k)
                        ));
                    }
                    if self.v[k].sched == Sched::Removed {
                        self.violation(format!(
                            "t={now}ns: removed {} runs on cpu{c}",
                            self.vname(k)
                        ));
                    }
                }
                Some(k) => self.violation(format!("t={now}ns: cpu{c} runs unknown vCPU {k}")),
                None if self.online.contains(cpu) => idle.set(cpu),
                None => {}
            }
        }
        let queued_host = self.v.iter().filter(|v| v.sched == Sched::Queued).count() as u64;
        if let Some(queued_core) = self
            .eng
            .waiting()
            .map(u64::from)
            .filter(|&q| q != queued_host)
        {
            self.violation(format!(
                "t={now}ns: {queued_core} vCPUs on runqueues, host counts {queued_host} queued"
            ));
        }
        self.check_waits(now, &idle);
    }

    /// Work conservation and starvation, judged from the host's view alone:
    /// which vCPUs are queued (runnable, not parked), their hard affinity
    /// less what a declared policy rule keeps them off ([`SimPolicy::kept_off`]),
    /// which pCPUs idle, and how long each has waited.
    fn check_waits(&mut self, now: i64, idle: &CpuMask) {
        let alive: Vec<bool> = self.d.iter().map(|d| d.alive > 0).collect();
        let runnable_now = self
            .v
            .iter()
            .filter(|v| matches!(v.sched, Sched::Queued | Sched::Running(_)))
            .count() as i64;
        let weights_now: i64 = self
            .d
            .iter()
            .filter(|d| d.alive > 0)
            .map(|d| i64::from(d.weight))
            .sum();
        self.peak = (self.peak.0.max(runnable_now), self.peak.1.max(weights_now));
        let (runnable, weights) = self.peak;
        let tslice = self.sc.pool.credit_params().tslice.as_ns();
        let unbounded_runner = self.v.iter().any(|v| {
            matches!(v.sched, Sched::Queued | Sched::Running(_))
                && H::runs_unbounded(self.sc, usize::from(v.dom))
        });
        for k in 0..self.v.len() {
            let (sched, paused, hard, queued_at) = {
                let v = &self.v[k];
                (v.sched, v.paused, v.hard, v.queued_at)
            };
            if sched != Sched::Queued || paused {
                continue;
            }
            let d = usize::from(self.v[k].dom);
            let off = H::kept_off(self.sc, d, &|e| alive[e]);
            let allowed = match hard.and_not(&off) {
                m if m.is_empty() => hard,
                m => m,
            };
            if let Some(c) = allowed.and(idle).first() {
                let on = self.eng.processor_of(&self.vrec[k]).0;
                self.violation(format!(
                    "t={now}ns: cpu{} idles while {} waits on cpu{on} (work conservation)",
                    c.0,
                    self.vname(k)
                ));
            }
            let waited = queued_at.map_or(0, |t| now - t);
            let bound = starvation_bound(
                tslice,
                runnable,
                weights,
                i64::from(self.sc.domains[d].vcpus),
                i64::from(self.d[d].weight),
                self.fewest_online,
            );
            if queued_at.is_some() && waited > bound && !unbounded_runner {
                self.violation(format!(
                    "t={now}ns: {} has waited {waited}ns on a runqueue, over the bound of {bound}ns (starvation)",
                    self.vname(k)
                ));
            }
        }
    }
}
