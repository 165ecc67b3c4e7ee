//! Where a vCPU runs: `pick_cpu` (`_csched_cpu_pick`, `credit.c:722-877`) and
//! tickling pCPUs when a vCPU becomes runnable (`__runq_tickle`, `:353-508`).

use core::sync::atomic::Ordering::Relaxed;

use super::CreditEngine;
use crate::cpumask::{CpuId, CpuMask};
use crate::hooks::Hooks;
use crate::platform::Platform;
use crate::records::{Affinity, PcpuLocked, Pri, VcpuData, VcpuFlags};

impl<'a, P: Platform, H: Hooks> CreditEngine<'a, P, H> {
    /// `csched_res_pick`: picks and marks the vCPU as migrating so that the
    /// wake which follows a placement does not boost it.
    pub(crate) fn res_pick(&self, v: &'a VcpuData<'a, H>) -> CpuId {
        v.set_flag(VcpuFlags::MIGRATING);
        self.cpu_pick(v, true)
    }

    /// The mask of the soft-affinity balancing step for `aff` (hard already
    /// narrowed), if that step is useful: Xen's `has_soft_affinity`
    /// (`private.h:599-604`). The host gives a soft mask only when it
    /// overlaps the hard one and narrows it; a soft mask holding every pCPU
    /// of the pool is no preference either, judged here at each use since
    /// the pool changes.
    pub(crate) fn soft_step(&self, aff: &Affinity) -> Option<CpuMask> {
        let s = aff.soft?;
        let narrows_pool = !self.online.snapshot().and_not(&s).is_empty();
        narrows_pool.then(|| s.and(&aff.hard))
    }

    /// `_csched_cpu_pick` on a flat topology: soft affinity then hard; stay
    /// on the current pCPU if it is idle (or would be, but for `v`), else
    /// move to the next idle pCPU; with no idle pCPU, stay.
    pub(crate) fn cpu_pick(&self, v: &'a VcpuData<'a, H>, commit: bool) -> CpuId {
        let mut aff = v.affinity();
        aff.hard = self.narrow(v, aff.hard);
        let online = self.online.snapshot();
        // Pinned only to pCPUs out of the pool (a host inserting a vCPU
        // whose pin it is about to break): anywhere in the pool, as Xen,
        // which refuses such a pin, would have it.
        if !aff.hard.intersects(&online) {
            aff.hard = online;
        }
        let here = v.processor();
        let mut chosen = None;
        for soft in [true, false] {
            let mask = match (soft, self.soft_step(&aff)) {
                (true, Some(s)) => s,
                (true, None) => continue,
                (false, _) => aff.hard,
            };
            let cpus = mask.and(&online);
            let Some(fallback) = (if cpus.contains(here) {
                Some(here)
            } else {
                cpus.cycle(here)
            }) else {
                continue;
            };
            let mut idlers = self.idlers.snapshot().and(&online);
            if fallback == here && self.idle_but_for(here, v) {
                idlers.set(here);
            }
            let idle_cpus = idlers.and(&cpus);
            let cpu = if idle_cpus.contains(fallback) || idle_cpus.is_empty() {
                fallback
            } else {
                idle_cpus.cycle(fallback).unwrap_or(fallback)
            };
            chosen = Some(cpu);
            if idle_cpus.contains(cpu) {
                break;
            }
        }
        let cpu = chosen.unwrap_or(here);
        if commit {
            if let Some(pc) = self.pcpu(cpu) {
                pc.idle_bias.store(cpu.0, Relaxed);
            }
        }
        cpu
    }

    /// The pCPUs `v` may be placed on or stolen to: its hard affinity,
    /// narrowed by the policy layer's placement rule unless that would
    /// leave nowhere to run.
    pub fn allowed_cpus(&self, v: &VcpuData<'a, H>) -> CpuMask {
        self.narrow(v, v.affinity().hard)
    }

    /// `mask` narrowed by the layer's rule for `v` (unless that empties it).
    pub(crate) fn narrow(&self, v: &VcpuData<'a, H>, mask: CpuMask) -> CpuMask {
        // "Somewhere to run" means a pCPU of the pool: narrowing hard [0, 1]
        // to [0] while cpu0 is out of the pool would place `v` where it
        // never runs (found by the op-sequence fuzzer).
        match H::allowed(&self.ext, v) {
            Some(a) if a.and(&self.online.snapshot()).intersects(&mask) => mask.and(&a),
            _ => mask,
        }
    }

    /// Whether `cpu` would be idle but for `v`: `v` (or nobody) runs there
    /// and nothing is queued. Xen's `is_runq_idle` checks only the queue,
    /// which is the same test on its main path (the tick, where `v` is the
    /// running vCPU) but keeps a vCPU being pushed off a busy pCPU right
    /// where it is; checking who runs sends it to a real idler instead.
    fn idle_but_for(&self, cpu: CpuId, v: &VcpuData<'a, H>) -> bool {
        let Some(pc) = self.pcpu(cpu) else {
            return false;
        };
        // Xen peeks without the lock; a busy lock means "not idle".
        match pc.locked.try_lock() {
            Some(q) => {
                q.runq.len() == 0 && (self.exact() || q.curr.is_none_or(|c| core::ptr::eq(c, v)))
            }
            None => false,
        }
    }

    /// `__runq_tickle`: `new` was queued on `cpu` (whose lock the caller
    /// holds as `q`). Preempt `cpu` if it idles or `new` outranks its vCPU
    /// and nobody idles; otherwise wake one idle pCPU `new` may run on.
    #[inline]
    pub(crate) fn tickle(&self, cpu: CpuId, q: &PcpuLocked<'a, H>, new: &'a VcpuData<'a, H>) {
        self.tickle_from(cpu, cpu, q, new)
    }

    /// [`Self::tickle`] run on pCPU `waker`, whose round-robin pointer
    /// picks the idler (Xen: `this_cpu(last_tickle_cpu)`, the oracle notes'
    /// U5). Only Xen-exact mode passes another pCPU than `cpu`.
    #[inline]
    pub(crate) fn tickle_from(
        &self,
        cpu: CpuId,
        waker: CpuId,
        q: &PcpuLocked<'a, H>,
        new: &'a VcpuData<'a, H>,
    ) {
        let cur_pri = q.curr.map_or(Pri::Idle, |c| c.pri());
        let outranks = H::outranks(new, q.curr, cur_pri);
        // Fast path: a busy pCPU whose vCPU `new` does not outrank and no
        // idler anywhere: nothing to tickle (the common case when loaded).
        if cur_pri != Pri::Idle && !outranks && self.idlers.is_empty() {
            return;
        }
        let idle_mask = self.idlers.snapshot().and(&self.online.snapshot());
        let idlers_empty = idle_mask.is_empty();
        let mut mask = CpuMask::EMPTY;

        let pinned_here = new.flags().contains(VcpuFlags::PINNED) && idle_mask.contains(cpu);
        // An idle pCPU already tickled for another vCPU has left the idlers
        // and will run that one; Xen tickles it again and the second vCPU
        // waits beside idle peers. Treating it as busy sends the tickle to an
        // idler that can steal one of the two (a departure, for work
        // conservation; a still-idle pCPU is tickled exactly as in Xen).
        let here_idle = cur_pri == Pri::Idle && (idle_mask.contains(cpu) || self.exact());
        if pinned_here || here_idle || (idlers_empty && outranks) {
            mask.set(cpu);
        } else if !idlers_empty {
            let mut aff = new.affinity();
            aff.hard = self.narrow(new, aff.hard);
            for soft in [true, false] {
                let step_mask = match (soft, self.soft_step(&aff)) {
                    (true, Some(s)) => s,
                    (true, None) => continue,
                    (false, _) => aff.hard,
                };
                let candidates = step_mask.and(&idle_mask);
                if candidates.is_empty() && soft {
                    continue;
                }
                if candidates.is_empty() {
                    // No idler suits `new`: let it preempt if it outranks,
                    // and push the preempted vCPU to an idler it may use.
                    // Xen 4.17 tests `new`'s affinity here (`credit.c:451`),
                    // which cannot meet the idlers in this step, so its
                    // kick-away never fires and the preempted vCPU waits
                    // beside an idle pCPU. We test `cur`'s, as the comment
                    // there intends: this keeps the pool work-conserving.
                    if let Some(cur) = q.curr.filter(|_| outranks && !self.exact()) {
                        if cur.affinity().hard.intersects(&idle_mask) {
                            self.platform.migrate_vcpu(cur.token());
                        }
                    }
                    if outranks {
                        mask.set(cpu);
                    }
                } else {
                    // Tickle one idler, round-robin (`tickle_one_idle_cpu`).
                    let pc = self.pcpu(waker);
                    let last = CpuId(pc.map_or(0, |p| p.last_tickle.load(Relaxed)));
                    if let Some(t) = candidates.cycle(last) {
                        if let Some(p) = pc {
                            p.last_tickle.store(t.0, Relaxed);
                        }
                        mask.set(t);
                    }
                }
                if !mask.is_empty() {
                    break;
                }
            }
        }

        // Re-tickling an idle pCPU that was already tickled for another vCPU
        // takes it away from that vCPU: hand the earlier job to another idler,
        // which will steal that vCPU if it still waits.
        if cur_pri == Pri::Idle && !idle_mask.contains(cpu) && mask.contains(cpu) && !self.exact() {
            if let Some(other) = idle_mask.cycle(cpu) {
                mask.set(other);
            }
        }

        for t in mask.iter() {
            self.idlers.clear(t);
            // An idler woken for work queued here looks here first when it
            // steals (`load_balance`).
            if t != cpu {
                if let Some(p) = self.pcpu(t) {
                    p.set_tickled_by(cpu);
                }
            }
            self.platform.raise_softirq(t);
        }
    }

    /// [`Self::tickle_for_queued`] on every pCPU of the pool: after a change
    /// that lets idlers take work they could not before (a shorter migration
    /// delay, a pCPU the layer's placement rule opened). O(pCPUs), on such
    /// changes only.
    pub(crate) fn offer_queued_work(&self) {
        if self.idlers.is_empty() {
            return;
        }
        for cpu in self.online.snapshot().iter() {
            if let Some(pc) = self.pcpu(cpu) {
                self.tickle_for_queued(cpu, &pc.locked.lock());
            }
        }
    }

    /// Work left queued on `cpu` after a decision while some pCPU idles:
    /// tickle an idler for each queued vCPU allowed on one, in queue order,
    /// until the idlers run out. Credit1 tickles only on wake, so a vCPU
    /// requeued at the end of its slice (or the second of two wakes onto one
    /// idle pCPU) can wait beside an idle pCPU, which never runs a tick, for
    /// as long as this pCPU stays busy. This departure from Xen keeps the
    /// pool work-conserving (DESIGN.md). One tickle per decision was not
    /// enough: three wakes onto one idle pCPU at an accounting instant left
    /// the third queued beside an idler whose earlier tickle had found
    /// nothing to steal (a peer's queue is stolen from only while it runs).
    /// The walk happens only while an idler exists, which is rare under load.
    #[inline]
    pub(crate) fn tickle_for_queued(&self, cpu: CpuId, q: &PcpuLocked<'a, H>) {
        // Inlined to this test, the common case under load.
        if !self.idlers.is_empty() && !self.exact() {
            self.tickle_queued_to_idlers(cpu, q);
        }
    }

    fn tickle_queued_to_idlers(&self, cpu: CpuId, q: &PcpuLocked<'a, H>) {
        let mut idle = self.idlers.snapshot();
        for v in q.runq.iter() {
            if idle.is_empty() {
                return;
            }
            if self.allowed_cpus(v).intersects(&idle) {
                self.tickle(cpu, q, v);
                idle = self.idlers.snapshot();
            }
        }
    }
}
