//! Queue balancing: a declared departure from credit1, for fairness at
//! scale.
//!
//! Credit1 moves queued work between pCPUs only to run something of higher
//! priority: an idle pCPU, or one whose next vCPU is OVER, steals
//! (`csched_load_balance`). Queue lengths are never evened out, so vCPUs
//! that start or end up together stay together, and a domain's share
//! follows how crowded its vCPUs' pCPUs are rather than its weight. Xen
//! 4.17's own credit1 shows it (issue 14, run in userspace): 8 equal
//! domains of 64 busy vCPUs on 8 pCPUs got 62/18/8/6/3/2/0/0 %, and 256
//! single-vCPU busy domains on 4 pCPUs (every vCPU 0 starts on the pool's
//! first pCPU) 0.14..1.48 % where 0.39 % is fair.
//!
//! Here each pCPU, at its tick, looks at one peer (the next online one in
//! turn) and, when that peer has at least two runnable vCPUs more than it
//! has, moves the peer's last queued vCPU that may run here (hard affinity
//! as the layer narrows it, not cache-hot, not running, movable by the
//! layer) to its own queue. One peer per tick keeps it O(1) per tick and
//! try-locks only, as stealing does; the queues of a pool even out within
//! about as many ticks as vCPUs are in excess. Where queues are already
//! even (every bundled scenario, every reproduction) it never moves
//! anything, so credit1's behaviour is kept where it is already fair.

use core::sync::atomic::Ordering::Relaxed;

use super::CreditEngine;
use crate::cpumask::CpuId;
use crate::hooks::Hooks;
use crate::platform::Platform;
use crate::records::VcpuData;
use crate::time::{Span, Time};

impl<'a, P: Platform, H: Hooks> CreditEngine<'a, P, H> {
    /// One balancing step on `cpu` (called from its tick).
    pub(crate) fn balance_queues(&self, cpu: CpuId, now: Time) {
        let Some(pc) = self.pcpu(cpu) else { return };
        let online = self.online.snapshot();
        if !online.contains(cpu) {
            return;
        }
        let from = CpuId(pc.balance_next.load(Relaxed));
        let Some(peer) = online
            .cycle(from)
            .filter(|&p| p != cpu)
            .or_else(|| online.cycle(cpu).filter(|&p| p != cpu))
        else {
            return;
        };
        pc.balance_next.store(peer.0, Relaxed);
        let Some(pp) = self.pcpu(peer) else { return };
        if pp.nr_runnable() < pc.nr_runnable().saturating_add(2) {
            return;
        }
        let mut q = pc.locked.lock();
        if !self.platform.try_lock_peer(peer) {
            return;
        }
        let moved = pp.locked.try_lock().and_then(|mut pq| {
            let delay = Span(self.migration_delay.load(Relaxed));
            let v = pq.runq.iter_rev().find(|v| {
                let cache_hot = now - VcpuData::<H>::time(&v.last_sched_time) < delay;
                !v.is_running.load(Relaxed)
                    && !cache_hot
                    && H::balanceable(v)
                    && self.allowed_cpus(v).contains(cpu)
            })?;
            self.runq_remove(peer, &mut pq, pp, v);
            v.set_processor(cpu);
            self.platform.stolen(v.token(), cpu);
            Some(v)
        });
        self.platform.unlock_peer(peer);
        if let Some(v) = moved {
            self.runq_insert(cpu, &mut q, pc, v);
            self.tickle(cpu, &q, v);
        }
    }
}
