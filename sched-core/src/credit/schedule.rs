//! `do_schedule` and work stealing (`csched_schedule`, `credit.c:1823-2007`;
//! `csched_load_balance` / `csched_runq_steal`, `credit.c:1603-1817`).

use core::sync::atomic::Ordering::Relaxed;

use super::CreditEngine;
use crate::cpumask::CpuId;
use crate::hooks::{Hooks, Requeue};
use crate::params::MIN_TIMER;
use crate::platform::{Platform, TimerKind};
use crate::records::{PcpuData, PcpuLocked, Pri, VcpuData, VcpuFlags};
use crate::time::{Span, Time};

/// The two passes of credit1's balancing: soft affinity first, then hard.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Soft,
    Hard,
}

/// What [`CreditEngine::decide`] picked: [`crate::Decision`] with the
/// record itself, for the engine's own tests and benchmarks.
#[must_use = "the host must switch to `next` and arm the slice timer"]
pub struct Pick<'a, H: Hooks> {
    /// The vCPU to run, or `None` for the idle vCPU.
    pub next: Option<&'a VcpuData<'a, H>>,
    /// How long until the next decision; `None` = until something wakes the pCPU.
    pub slice: Option<Span>,
    /// Whether `next` was stolen from another pCPU's runqueue.
    pub migrated: bool,
}

impl<'a, P: Platform, H: Hooks> CreditEngine<'a, P, H> {
    /// `do_schedule`, answering with the picked record.
    pub fn decide(
        &self,
        cpu: CpuId,
        now: Time,
        prev_runnable: bool,
        tasklet_work: bool,
    ) -> Pick<'a, H> {
        let Some(pc) = self.pcpu(cpu) else {
            return Pick {
                next: None,
                slice: None,
                migrated: false,
            };
        };
        let mut q = pc.locked.lock();
        let prev = q.curr;
        let d = self.schedule_locked(cpu, pc, &mut q, now, prev_runnable, tasklet_work);
        self.note_runq(cpu, &mut q);
        drop(q);
        // Credit1 brings a vCPU into accounting only when a tick finds it
        // running, so one whose runs never span a tick boundary is never
        // accounted: it earns nothing, is never parked, and escapes its cap.
        // A vCPU that ends a run in debt while outside accounting joins it
        // here instead (after the runqueue lock is dropped: the accounting
        // lock is never taken under it). A departure from Xen, for caps.
        if let Some(p) = prev.filter(|p| !p.is_active() && p.credit() < 0 && !self.exact()) {
            let mut a = self.acct.lock();
            self.acct_start_locked(&mut a, p);
        }
        d
    }

    /// `csched_schedule` proper, with `cpu`'s runqueue lock held as `q`.
    fn schedule_locked(
        &self,
        cpu: CpuId,
        pc: &'a PcpuData<'a, H>,
        q: &mut PcpuLocked<'a, H>,
        now: Time,
        prev_runnable: bool,
        tasklet_work: bool,
    ) -> Pick<'a, H> {
        let scurr = q.curr;
        let tickled = pc.take_tickled_by();
        // When the first vCPU a steal passed over only for being cache-hot
        // stops being so.
        let mut cools = None;

        // Charge the outgoing vCPU and make its start time relative, so the
        // unburnt remainder carries over to its next run (`credit.c:1861-1872`).
        let mut runtime = Span::ZERO;
        if let Some(c) = scurr {
            runtime = (now - VcpuData::<H>::time(&c.running_since)).max(Span::ZERO);
            self.burn_credits(c, now);
            let st = c.start_time.load(Relaxed);
            c.start_time.store(st - now.ns(), Relaxed);
            c.last_sched_time.store(now.ns(), Relaxed);
        }

        // Ratelimit: a vCPU that ran less than `ratelimit` keeps the pCPU,
        // unless the policy layer has something that cannot wait.
        let ratelimit = Span(self.ratelimit.load(Relaxed));
        if let Some(c) = scurr {
            if !c.flags().contains(VcpuFlags::YIELD)
                && !tasklet_work
                && ratelimit != Span::ZERO
                && prev_runnable
                && runtime < ratelimit
                && !H::overrides_ratelimit(&q.ext, &self.ext, now)
            {
                c.start_time.fetch_add(now.ns(), Relaxed);
                // Xen's test is on the runtime, not the slice (`credit.c:1911-1912`).
                let slice = if runtime < MIN_TIMER {
                    MIN_TIMER
                } else {
                    ratelimit - runtime
                };
                return Pick {
                    next: Some(c),
                    slice: Some(slice),
                    migrated: false,
                };
            }
        }

        // Requeue the outgoing vCPU where the policy says (a yield is
        // credit1's), or stop counting it runnable.
        if let Some(c) = scurr {
            let yielding = c.flags().contains(VcpuFlags::YIELD);
            let place = H::descheduled(pc, &mut q.ext, &self.ext, c, now, prev_runnable);
            // Only a successor still on this pCPU can be ours; a place is
            // kept for one deschedule at most.
            let succ = q.resume_before.take().filter(|s| s.processor() == cpu);
            if prev_runnable {
                match place {
                    Requeue::BeforeBoundary(n) if !yielding => {
                        q.runq.insert_before_boundary(c, n);
                    }
                    Requeue::Resume if !yielding => {
                        q.runq.insert_before(c, succ);
                    }
                    _ => {
                        q.runq.insert(c, yielding);
                    }
                }
            } else {
                pc.dec_runnable(&mut q.ext, c);
            }
            c.clear_flag(VcpuFlags::YIELD);
        }

        // Pick: what the policy layer runs first, else the head if it is
        // BOOST or UNDER, else better work on peers. Tasklet work runs in the
        // idle vCPU and overrides all.
        let mut layer_slice = None;
        let (snext, migrated) = if tasklet_work {
            (None, false)
        } else if let Some((v, slice)) = H::pick(&mut q.ext, &self.ext, now, self.tslice()) {
            // Still runnable here: out of the queue, not out of the count;
            // remember its place in case it is to resume it.
            q.resume_before = q.runq.next_in_band(v);
            q.runq.remove(v);
            q.forget_successor(v);
            layer_slice = Some(slice);
            (Some(v), false)
        } else {
            match q.runq.head() {
                Some(h) if h.pri() > Pri::Over => {
                    q.runq.remove(h);
                    q.forget_successor(h);
                    (Some(h), false)
                }
                head => self.load_balance(cpu, q, head, tickled, now, &mut cools),
            }
        };

        let idle = !tasklet_work && snext.is_none();
        if idle != self.idlers.contains(cpu) {
            if idle {
                self.idlers.set(cpu);
            } else {
                self.idlers.clear(cpu);
            }
        }

        let slice = match snext {
            Some(n) => {
                let st = n.start_time.load(Relaxed);
                n.start_time.store(st + now.ns(), Relaxed);
                n.is_running.store(true, Relaxed);
                if !scurr.is_some_and(|c| core::ptr::eq(c, n)) {
                    n.running_since.store(now.ns(), Relaxed);
                }
                Some(match layer_slice {
                    Some(slice) => slice,
                    None => H::picked(pc, &mut q.ext, n, now, self.tslice(), ratelimit),
                })
            }
            // Idle beside work that was only too cache-hot to steal: look
            // again when it cools (Xen's idler sleeps until tickled, and
            // nothing tickles when a vCPU cools: a departure, for work
            // conservation with a migration delay; found by the fuzzer).
            None => cools
                .filter(|_| !self.exact())
                .map(|t: Time| (t - now).max(MIN_TIMER)),
        };

        // The tick runs only while a guest does (`credit.c:2000-2004`).
        if !tasklet_work {
            let tick = Span(self.tick_period.load(Relaxed));
            match (scurr.is_some(), snext.is_some()) {
                (true, false) => {
                    self.platform.stop_timer(cpu, TimerKind::Tick);
                    pc.tick_armed.store(false, Relaxed);
                }
                (false, true) if tick > Span::ZERO => {
                    let next_tick = now + tick - Span(now.ns().rem_euclid(tick.as_ns()));
                    self.platform.set_timer(cpu, TimerKind::Tick, next_tick);
                    pc.tick_armed.store(true, Relaxed);
                }
                _ => {}
            }
        }

        q.curr = snext;
        self.sync_policy_timer(cpu, q);
        if snext.is_some() {
            self.tickle_for_queued(cpu, q);
        }
        // Tickled for a peer's queued work, this pCPU may have found work of
        // its own (a wake queued here after the tickle) or stolen other work:
        // whatever the peer still has queued gets the remaining idlers. Only
        // a pCPU that stops idling passes a tickle on, so the chain ends.
        if let Some(x) = tickled.filter(|&x| x != cpu && snext.is_some() && !self.exact()) {
            if let Some(qx) = self.pcpu(x).and_then(|px| px.locked.try_lock()) {
                self.tickle_for_queued(x, &qx);
            }
        }
        Pick {
            next: snext,
            slice,
            migrated,
        }
    }

    /// Looks for work on peers that outranks `local` (the local head, BOOST
    /// or UNDER excluded); takes the local head when nothing better is found.
    /// An idler `tickled` for a vCPU queued on a peer looks there first, so
    /// that the steal takes the work the tickle was for rather than another
    /// peer's (which left it beside idle pCPUs: a departure from Xen's
    /// rotating start, for work conservation).
    fn load_balance(
        &self,
        cpu: CpuId,
        q: &mut PcpuLocked<'a, H>,
        local: Option<&'a VcpuData<'a, H>>,
        tickled: Option<CpuId>,
        now: Time,
        cools: &mut Option<Time>,
    ) -> (Option<&'a VcpuData<'a, H>>, bool) {
        let pri = local.map_or(Pri::Idle, |v| v.pri());
        if self.online.contains(cpu) {
            // Only a peer whose head outranks `pri` has anything to give.
            // (Xen-exact: every worker, in Xen's order; the masks can be a
            // moment stale after accounting, which only costs a look here.)
            let offering = if pri == Pri::Idle {
                self.queued.snapshot()
            } else {
                self.urgent.snapshot()
            };
            let offering = if self.exact() {
                self.online.snapshot()
            } else {
                offering
            };
            for step in [Step::Soft, Step::Hard] {
                if step == Step::Soft && self.soft_affine.load(Relaxed) == 0 {
                    continue;
                }
                let mut workers = self.online.snapshot().and_not(&self.idlers.snapshot());
                workers.clear(cpu);
                let bias = CpuId(self.balance_bias.load(Relaxed));
                let first = tickled.filter(|t| workers.contains(*t) && !self.exact());
                let Some(first) = first.or_else(|| workers.cycle(bias)) else {
                    break;
                };
                // The peers worth a look, in the order all workers would be
                // visited: cyclically from `first`.
                let peers = workers.and(&offering);
                let start = if peers.contains(first) {
                    first
                } else {
                    match peers.cycle(first) {
                        Some(p) => p,
                        None => continue,
                    }
                };
                let mut peer = start;
                loop {
                    if let Some(v) = self.try_steal_from(peer, cpu, pri, step, now, cools) {
                        self.balance_bias.store(peer.0, Relaxed);
                        if let Some(pc) = self.pcpu(cpu) {
                            pc.inc_runnable(&mut q.ext, v);
                        }
                        return (Some(v), true);
                    }
                    match peers.cycle(peer) {
                        Some(n) if n != start => peer = n,
                        _ => break,
                    }
                }
            }
        }
        if let Some(l) = local {
            q.runq.remove(l);
            q.forget_successor(l);
        }
        (local, false)
    }

    /// `csched_runq_steal` on one peer, try-locking it (never spinning on a
    /// peer's lock: two pCPUs balancing toward each other must not deadlock):
    /// the host's lock of the peer first, as credit1 holds the peer's
    /// schedule lock, then its runqueue.
    fn try_steal_from(
        &self,
        peer: CpuId,
        cpu: CpuId,
        pri: Pri,
        step: Step,
        now: Time,
        cools: &mut Option<Time>,
    ) -> Option<&'a VcpuData<'a, H>> {
        let pp = self.pcpu(peer)?;
        // Racy by design, like Xen: one runnable there is the one running.
        if pp.nr_runnable() <= 1 || !self.platform.try_lock_peer(peer) {
            return None;
        }
        let v = self.steal_locked(peer, cpu, pri, step, now, cools);
        if let Some(v) = v {
            self.platform.stolen(v.token(), cpu);
        }
        self.platform.unlock_peer(peer);
        v
    }

    /// The steal itself, with the host's lock of `peer` held.
    fn steal_locked(
        &self,
        peer: CpuId,
        cpu: CpuId,
        pri: Pri,
        step: Step,
        now: Time,
        cools: &mut Option<Time>,
    ) -> Option<&'a VcpuData<'a, H>> {
        let pp = self.pcpu(peer)?;
        let mut pq = pp.locked.try_lock()?;
        if !self.online.contains(peer) || pq.curr.is_none() {
            return None;
        }
        let delay = Span(self.migration_delay.load(Relaxed));
        let found = pq.runq.iter().take_while(|v| v.pri() > pri).find(|v| {
            let aff = v.affinity();
            let mask = match step {
                Step::Soft => match self.soft_step(&aff) {
                    Some(s) => s,
                    None => return false,
                },
                Step::Hard => aff.hard,
            };
            let mask = self.narrow(v, mask);
            let cold_at = VcpuData::<H>::time(&v.last_sched_time) + delay;
            let eligible = !v.is_running.load(Relaxed) && mask.contains(cpu);
            if eligible && cold_at > now {
                *cools = Some(cools.map_or(cold_at, |c: Time| c.min(cold_at)));
            }
            eligible && cold_at <= now
        })?;
        self.runq_remove(peer, &mut pq, pp, found);
        found.set_processor(cpu);
        Some(found)
    }
}
