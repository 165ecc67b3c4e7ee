//! What a policy asks of the world: the host (Xen's glue, or the simulator).
//!
//! The calls mirror the few Xen services credit1 uses: `NOW()`,
//! `cpu_raise_softirq(cpu, SCHEDULE_SOFTIRQ)`, `set_timer`/`stop_timer`, and the
//! vCPU pause and migrate requests behind parking and `_VPF_migrating`.

use crate::cpumask::CpuId;
use crate::time::Time;

/// The host's handle of a vCPU, stored in its record and handed back verbatim.
/// Xen's glue stores a `struct sched_unit *`; the simulator an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VcpuToken(pub usize);

/// The per-pCPU timers a policy may arm. When one fires the host calls
/// [`crate::SchedOps::timer_fired`] on that pCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// The 10 ms credit tick (Xen: `spc->ticker`), armed only while the pCPU
    /// runs a guest.
    Tick,
    /// The accounting timer on the master pCPU (Xen: `prv->master_ticker`).
    Acct,
    /// A timer private to a policy layer (for example an EDF poll timer).
    Policy(u8),
}

impl TimerKind {
    /// A dense number for hosts that keep timers in tables or pass them
    /// across an ABI: `Tick` 0, `Acct` 1, `Policy(n)` 2 + n.
    pub const fn index(self) -> u16 {
        match self {
            TimerKind::Tick => 0,
            TimerKind::Acct => 1,
            TimerKind::Policy(n) => 2 + n as u16,
        }
    }

    /// The timer numbered `i` by [`Self::index`].
    pub const fn from_index(i: u16) -> Option<TimerKind> {
        match i {
            0 => Some(TimerKind::Tick),
            1 => Some(TimerKind::Acct),
            n => match n.checked_sub(2) {
                Some(p) if p <= u8::MAX as u16 => Some(TimerKind::Policy(p as u8)),
                _ => None,
            },
        }
    }
}

/// Services a policy needs from its host. Every call must be cheap and must not
/// call back into the scheduler synchronously: the scheduler may hold its locks.
/// A platform that is `Sync` makes the engine `Sync` (Xen); the simulator's is not.
pub trait Platform {
    /// The current time (Xen: `NOW()`).
    fn now(&self) -> Time;

    /// Asks `cpu` to run `do_schedule` soon (Xen: `SCHEDULE_SOFTIRQ`).
    fn raise_softirq(&self, cpu: CpuId);

    /// Arms (or re-arms) `timer` on `cpu` to fire at `at`.
    fn set_timer(&self, cpu: CpuId, timer: TimerKind, at: Time);

    /// Disarms `timer` on `cpu`; a no-op when it is not armed.
    fn stop_timer(&self, cpu: CpuId, timer: TimerKind);

    /// Parks a vCPU of a capped domain (Xen: `sched_unit_pause_nosync`): the
    /// host stops treating it as runnable and calls `sleep` for it.
    fn pause_vcpu(&self, vcpu: VcpuToken);

    /// Ends a park (Xen: `sched_unit_unpause`): the host then calls `wake`
    /// for the vCPU if it is otherwise runnable, or `sleep` if it is not, so
    /// that the scheduler knows the unpark's wake (which must not boost) is over.
    fn unpause_vcpu(&self, vcpu: VcpuToken);

    /// Whether the host would run `vcpu` but for a pause: it has work (Xen:
    /// `VPF_blocked` is clear). Only Xen-exact parking asks, when it
    /// unparks a vCPU: Xen's `vcpu_unpause` wakes it there and then if so
    /// (without a boost), and a wake that comes later boosts as any wake
    /// does. A host that cannot tell says no.
    fn has_work(&self, vcpu: VcpuToken) -> bool {
        let _ = vcpu;
        false
    }

    /// Asks the host to move a running vCPU elsewhere (Xen: `_VPF_migrating`):
    /// at its next deschedule the host calls `pick_cpu`, `migrate` and `wake`.
    fn migrate_vcpu(&self, vcpu: VcpuToken);

    /// Work stealing is about to look at `peer`'s runqueue (from
    /// `do_schedule`, with this pCPU's locks held): try-locks the host's own
    /// lock of `peer`, if it has one (Xen: `pcpu_schedule_trylock`, because
    /// a unit's `res` changes only under its old pCPU's schedule lock).
    /// `false` skips the peer. Never spins: two pCPUs stealing from each
    /// other must not deadlock.
    fn try_lock_peer(&self, peer: CpuId) -> bool {
        let _ = peer;
        true
    }

    /// Releases what a successful [`Self::try_lock_peer`] took.
    fn unlock_peer(&self, peer: CpuId) {
        let _ = peer;
    }

    /// `vcpu` was stolen by `cpu`, with `peer`'s lock still held (Xen:
    /// `sched_set_res`).
    fn stolen(&self, vcpu: VcpuToken, cpu: CpuId) {
        let _ = (vcpu, cpu);
    }
}

impl<T: Platform + ?Sized> Platform for &T {
    fn now(&self) -> Time {
        (**self).now()
    }
    fn raise_softirq(&self, cpu: CpuId) {
        (**self).raise_softirq(cpu)
    }
    fn set_timer(&self, cpu: CpuId, timer: TimerKind, at: Time) {
        (**self).set_timer(cpu, timer, at)
    }
    fn stop_timer(&self, cpu: CpuId, timer: TimerKind) {
        (**self).stop_timer(cpu, timer)
    }
    fn pause_vcpu(&self, vcpu: VcpuToken) {
        (**self).pause_vcpu(vcpu)
    }
    fn unpause_vcpu(&self, vcpu: VcpuToken) {
        (**self).unpause_vcpu(vcpu)
    }
    fn migrate_vcpu(&self, vcpu: VcpuToken) {
        (**self).migrate_vcpu(vcpu)
    }
    fn has_work(&self, vcpu: VcpuToken) -> bool {
        (**self).has_work(vcpu)
    }
    fn try_lock_peer(&self, peer: CpuId) -> bool {
        (**self).try_lock_peer(peer)
    }
    fn unlock_peer(&self, peer: CpuId) {
        (**self).unlock_peer(peer)
    }
    fn stolen(&self, vcpu: VcpuToken, cpu: CpuId) {
        (**self).stolen(vcpu, cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::TimerKind;

    #[test]
    fn timer_numbers_round_trip_and_stop_at_the_last_policy_timer() {
        for t in [
            TimerKind::Tick,
            TimerKind::Acct,
            TimerKind::Policy(0),
            TimerKind::Policy(255),
        ] {
            assert_eq!(TimerKind::from_index(t.index()), Some(t));
        }
        assert_eq!(TimerKind::Policy(255).index(), 257);
        assert_eq!(TimerKind::from_index(258), None);
    }
}
