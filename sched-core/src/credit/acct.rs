//! Credit burning, the per-pCPU tick and the accounting pass
//! (`burn_credits` `credit.c:328-346`, `csched_unit_acct` `:932-998`,
//! `csched_tick` `:1576-1601`, `csched_acct` `:1370-1574`).

use core::sync::atomic::Ordering::Relaxed;

use super::{Acct, CreditEngine};
use crate::cpumask::CpuId;
use crate::hooks::Hooks;
use crate::links::active::Visit;
use crate::ops::SchedOps;
use crate::params::CREDITS_PER_MSEC;
use crate::platform::{Platform, TimerKind};
use crate::records::{DomActive, Pri, VcpuData, VcpuFlags};
use crate::time::{Span, Time};

const NS_PER_MS: i64 = 1_000_000;

/// `ceil(a / b)` for the non-negative operands credit1 uses; 0 when `b` is 0.
fn div_ceil(a: i64, b: i64) -> i64 {
    if b <= 0 {
        0
    } else {
        (a + b - 1).div_euclid(b)
    }
}

impl<'a, P: Platform, H: Hooks> CreditEngine<'a, P, H> {
    /// Charges the running `v` for the time since its start time, exactly as
    /// credit1 does: 10 credits per ms with a sub-credit residual, and the
    /// start time advanced by the time the whole credits stand for. (Xen keeps
    /// the remainder in both the residual and the un-advanced start time;
    /// that slight over-charge is reproduced, not fixed.)
    pub(crate) fn burn_credits(&self, v: &VcpuData<'a, H>, now: Time) {
        let start = VcpuData::<H>::time(&v.start_time);
        let delta = (now - start).as_ns();
        if delta <= 0 {
            return;
        }
        let val = delta
            .saturating_mul(CREDITS_PER_MSEC)
            .saturating_add(v.residual.load(Relaxed));
        v.residual.store(val % NS_PER_MS, Relaxed);
        let credits = val / NS_PER_MS;
        v.add_credit(-(credits.min(i32::MAX as i64) as i32));
        v.start_time
            .store(start.ns() + credits * NS_PER_MS / CREDITS_PER_MSEC, Relaxed);
    }

    /// Puts `v` (and its domain) on the active lists so it earns credit
    /// (`__csched_unit_acct_start`). At the head, newest first, as Xen's
    /// `list_add` does (`credit.c:893, 898`): the order decides which domain
    /// the accounting pass offers surplus credit to first.
    pub(crate) fn acct_start_locked(&self, a: &mut Acct<'a, H>, v: &'a VcpuData<'a, H>) {
        if v.is_active() {
            return;
        }
        let dom = v.dom();
        let mut da = dom.active.lock();
        // Checked again under the domain's lock (by `push_front`), where
        // the list's already-linked assertion can see it: no panic path.
        if !da.vcpus.push_front(v) {
            return;
        }
        da.count += 1;
        a.weight += u64::from(dom.weight());
        a.active_doms.push_front(dom);
    }

    /// Takes `v` off the active lists (`__csched_unit_acct_stop_locked`).
    pub(crate) fn acct_stop_locked(&self, a: &mut Acct<'a, H>, v: &'a VcpuData<'a, H>) {
        if !v.is_active() {
            return;
        }
        let dom = v.dom();
        let mut da = dom.active.lock();
        if !da.vcpus.remove(v) {
            return;
        }
        da.count = da.count.saturating_sub(1);
        a.weight = a.weight.saturating_sub(u64::from(dom.weight()));
        if da.count == 0 {
            a.active_doms.remove(dom);
        }
    }

    /// Xen-exact parking: Xen's `vcpu_pause_nosync` takes the vCPU off its
    /// runqueue (or asks its pCPU to deschedule it) here, mid-pass, and its
    /// `vcpu_unpause` wakes it again mid-pass (the oracle notes' U4). The
    /// host's own sleep that follows the pause request finds it done; its
    /// wake after the unpause request finds it queued.
    fn park_now(&self, v: &'a VcpuData<'a, H>) {
        let runnable = match self.lock_vcpu(v) {
            Some((_, _, q)) => v.on_runq() || q.curr.is_some_and(|c| core::ptr::eq(c, v)),
            None => false,
        };
        if runnable {
            SchedOps::sleep(self, v);
        }
    }

    /// The per-pCPU tick: ends a boost, charges the running vCPU, brings it
    /// back into accounting, checks whether it would be better elsewhere,
    /// and sorts the runqueue once per accounting period.
    pub(crate) fn tick(&self, cpu: CpuId) {
        let Some(pc) = self.pcpu(cpu) else { return };
        let now = self.platform.now();
        let curr = {
            let q = pc.locked.lock();
            if let Some(v) = q.curr {
                if v.pri() == Pri::Boost {
                    v.set_pri(Pri::Under);
                }
                self.burn_credits(v, now);
            }
            q.curr
        };
        if !self.exact() {
            self.balance_queues(cpu, now);
        }
        if let Some(v) = curr {
            let newly_active = {
                let mut a = self.acct.lock();
                let inactive = !v.is_active();
                self.acct_start_locked(&mut a, v);
                inactive
            };
            if !newly_active && self.cpu_pick(v, false) != cpu {
                v.set_flag(VcpuFlags::MIGRATING);
                self.platform.migrate_vcpu(v.token());
                self.platform.raise_softirq(cpu);
            }
        }
        let epoch = self.sort_epoch.load(Relaxed);
        if pc.sort_epoch.load(Relaxed) != epoch {
            let mut q = pc.locked.lock();
            q.runq.sort();
            self.note_runq(cpu, &mut q);
            pc.sort_epoch.store(epoch, Relaxed);
        }
        if pc.tick_armed.load(Relaxed) && pc.is_online() {
            let period = Span(self.tick_period.load(Relaxed));
            self.platform.set_timer(cpu, TimerKind::Tick, now + period);
        }
    }

    /// The accounting pass on the master pCPU, every timeslice: hands out
    /// `300 × pCPUs` credits by weight among active domains, honouring caps,
    /// recomputes priorities, parks and unparks capped vCPUs, and retires
    /// vCPUs that stopped consuming.
    ///
    /// Runs wherever the timer fired and re-arms it on the master, as
    /// credit1 re-arms `prv->master_ticker`: a host may deliver the timer
    /// on another pCPU (Xen moves a dead pCPU's timers to a live one until
    /// it comes back), and returning without re-arming would stop
    /// accounting for good.
    pub(crate) fn account(&self) {
        let now = self.platform.now();
        let (master, accounted) = {
            let mut a = self.acct.lock();
            let Some(master) = a.master else {
                return; // no pCPU left: `add_pcpu` arms it again
            };
            (master, self.account_locked(&mut a))
        };
        // Runqueues are re-sorted only after a pass that accounted
        // someone (`csched_acct` skips `runq_sort++` otherwise,
        // `credit.c:1406`).
        if accounted {
            self.sort_epoch.fetch_add(1, Relaxed);
        }
        self.arm_acct(master, now + self.tslice());
    }

    /// One pass; whether there was anyone to account.
    fn account_locked(&self, a: &mut Acct<'a, H>) -> bool {
        let per_tslice = i64::from(self.credits_per_tslice.load(Relaxed));
        let weight_total = a.weight as i64;
        let mut credit_total = a.credit;
        // Converge the balance towards 0 when it goes negative.
        if a.credit_balance < 0 {
            credit_total -= a.credit_balance;
        }
        if weight_total == 0 {
            a.credit_balance = 0;
            return false;
        }
        let mut weight_left = weight_total;
        let mut credit_balance = 0i64;
        let mut credit_xtra = false;
        let prev_balance = a.credit_balance;
        let master = a.master;

        let total_weight = &mut a.weight;
        a.active_doms.walk(|dom| {
            let active = i64::from(dom.active.lock().count).max(1);
            let weight = i64::from(dom.weight());
            let cap = i64::from(dom.cap());
            weight_left -= weight * active;

            // At most enough credit to run every active vCPU for the whole
            // period, more only while the pool-wide balance is negative.
            let mut credit_peak = active * per_tslice;
            if prev_balance < 0 {
                credit_peak += div_ceil(-prev_balance * weight * active, weight_total);
            }
            let mut credit_cap = 0i64;
            if cap != 0 {
                credit_cap = div_ceil(cap * per_tslice, 100);
                credit_peak = credit_peak.min(credit_cap);
                credit_cap = div_ceil(credit_cap, active);
            }
            let mut credit_fair = div_ceil(credit_total * weight * active, weight_total);

            let mut move_to_front = false;
            if credit_fair < credit_peak {
                credit_xtra = true;
            } else {
                if weight_left != 0 {
                    // Give other domains a chance at the unused credits.
                    credit_total +=
                        div_ceil((credit_fair - credit_peak) * weight_total, weight_left);
                }
                move_to_front = credit_xtra;
                credit_fair = credit_peak;
            }
            let fair_per_vcpu = div_ceil(credit_fair, active) as i32;

            {
                let mut guard = dom.active.lock();
                let DomActive { vcpus, count } = &mut *guard;
                vcpus.retain(|v| {
                    let mut credit = v.add_credit(H::grant(v, fair_per_vcpu, per_tslice));
                    let mut retire = false;
                    let was = v.pri();
                    if credit < 0 {
                        v.set_pri(if H::debt_tolerated(v, credit, per_tslice) {
                            Pri::Under
                        } else {
                            Pri::Over
                        });
                        if cap != 0
                            && i64::from(credit) < -credit_cap
                            && !v.set_flag(VcpuFlags::PARKED)
                        {
                            if self.exact() {
                                self.park_now(v);
                            }
                            self.platform.pause_vcpu(v.token());
                        }
                        if i64::from(credit) < -per_tslice {
                            credit = -per_tslice as i32;
                            v.set_credit(credit);
                        }
                    } else {
                        v.set_pri(Pri::Under);
                        if v.flags().contains(VcpuFlags::PARKED) {
                            if !self.exact() {
                                // The wake this unpause causes must not boost
                                // (`credit.c:1536-1546`); UNPARKED marks it
                                // until the host's wake or sleep consumes it.
                                v.set_flag(VcpuFlags::UNPARKED);
                            } else if self.platform.has_work(v.token()) {
                                // Xen-exact: woken here, mid-pass, on the
                                // master pCPU, with PARKED still set so that
                                // it is not boosted; one with nothing to do
                                // is left for a later, ordinary wake.
                                if let Some(m) = master {
                                    v.waker.swap(Some(m), Relaxed);
                                }
                                SchedOps::wake(self, v);
                            }
                            v.clear_flag(VcpuFlags::PARKED);
                            self.platform.unpause_vcpu(v.token());
                        }
                        if i64::from(credit) > per_tslice {
                            // Stops earning; halved so it restarts a little ahead.
                            retire = true;
                            credit /= 2;
                            v.set_credit(credit);
                        }
                    }
                    if was == Pri::Over && v.pri() == Pri::Under {
                        self.note_raised(v);
                    }
                    credit_balance += i64::from(credit);
                    if retire {
                        *count = count.saturating_sub(1);
                        *total_weight = total_weight.saturating_sub(dom.weight() as u64);
                    }
                    !retire
                });
                if *count == 0 {
                    return Visit::Remove;
                }
            }
            if move_to_front {
                // Lazily keep domains with extra credit at the head so that
                // others get a chance at it in later periods; the walk goes
                // on from the domain that followed it.
                return Visit::ToFront;
            }
            Visit::Keep
        });
        a.credit_balance = credit_balance;
        true
    }
}
