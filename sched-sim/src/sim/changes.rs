//! Changes a scenario makes while it runs: a domain's parameters, and
//! pCPUs leaving the pool and coming back (Xen breaks a pinned vCPU's
//! affinity when its pCPU goes, and restores it when it returns).

use sched_core::{CpuId, SchedOps};

use super::{Sched, Sim};
use crate::policy::SimPolicy;
use crate::scenario::ChangeKind;
use crate::SimError;

impl<'a, H: SimPolicy> Sim<'a, H> {
    /// A `[[change]]`: an administrator's parameter change to a running
    /// domain, or a pCPU leaving or rejoining the pool.
    pub(super) fn change(&mut self, i: usize) -> Result<(), SimError> {
        let c = match &self.sc.changes[i].what {
            ChangeKind::Domain(c) => c,
            &ChangeKind::Pcpu { pcpu, online } => {
                if online {
                    self.pcpu_online(usize::from(pcpu));
                } else {
                    self.pcpu_offline(usize::from(pcpu));
                }
                return Ok(());
            }
        };
        let bad = |message: String| SimError::BadInput {
            field: format!("change[{i}]"),
            message,
        };
        let d = self
            .sc
            .domains
            .iter()
            .position(|d| d.name == c.domain)
            .ok_or_else(|| bad("names no domain".into()))?;
        let rec = &self.drec[d];
        let mut p = self.eng.dom_params(rec);
        H::change(&mut p, c);
        self.eng
            .set_dom_params(rec, p)
            .map_err(|e| bad(e.to_string()))?;
        if let Some(w) = H::weight(&p) {
            self.d[d].weight = w;
        }
        Ok(())
    }

    /// pCPU `c` leaves the pool, the way Xen's `cpu_disable_scheduler` and
    /// `schedule_cpu_rm` take a CPU out (offline, suspend): the vCPU running
    /// there is descheduled (the idle vCPU runs, as with tasklet work), the
    /// vCPUs queued there are put to sleep, the scheduler lets go of the pCPU
    /// (its timers, the accounting master's among them, move to a pCPU that
    /// stays), then every vCPU placed there is placed anew, its affinity
    /// broken first if no pCPU of it is left, and woken if it was runnable.
    pub(super) fn pcpu_offline(&mut self, c: usize) {
        let cpu = CpuId(c as u16);
        if !self.online.contains(cpu) {
            return;
        }
        if self.c[c].running.is_some() {
            self.schedule(cpu, true);
            self.drain_requests();
        }
        self.online.clear(cpu);
        self.fewest_online = self.fewest_online.min(i64::from(self.online.count()));
        let placed: Vec<usize> = (0..self.v.len())
            .filter(|&k| {
                self.eng.processor_of(&self.vrec[k]) == cpu
                    && !matches!(self.v[k].sched, Sched::Offline | Sched::Removed)
            })
            .collect();
        for &k in &placed {
            if self.v[k].sched == Sched::Queued {
                self.v[k].sched = Sched::Idle;
                self.v[k].wake_at = None;
                self.v[k].queued_at = None;
                self.eng.sleep(&self.vrec[k]);
            }
        }
        self.eng.remove_pcpu(cpu);
        let online = self.online;
        for k in placed {
            if !self.v[k].hard.intersects(&online) {
                let old = self.v[k].hard;
                self.v[k].broken.get_or_insert(old);
                self.set_hard(k, online);
            }
            self.place(k);
        }
    }

    /// pCPU `c` rejoins the pool (online, resume): the scheduler takes it
    /// back idle, and affinities broken when their pCPUs left are restored
    /// once one of them is back (Xen restores them on resume).
    pub(super) fn pcpu_online(&mut self, c: usize) {
        let cpu = CpuId(c as u16);
        if self.online.contains(cpu) {
            return;
        }
        self.online.set(cpu);
        self.eng.add_pcpu(cpu);
        let online = self.online;
        for k in 0..self.v.len() {
            let Some(old) = self.v[k].broken.filter(|old| old.intersects(&online)) else {
                continue;
            };
            self.v[k].broken = None;
            self.set_hard(k, old);
            match self.v[k].sched {
                Sched::Running(r) if !old.contains(CpuId(r)) => {
                    self.v[k].migrate = true;
                    self.plat_raise(r);
                }
                Sched::Idle | Sched::Queued
                    if !old.contains(self.eng.processor_of(&self.vrec[k])) =>
                {
                    if self.v[k].sched == Sched::Queued {
                        self.v[k].sched = Sched::Idle;
                        self.v[k].wake_at = None;
                        self.v[k].queued_at = None;
                        self.eng.sleep(&self.vrec[k]);
                    }
                    self.place(k);
                }
                _ => {}
            }
        }
        self.plat_raise(cpu.0);
    }
}
