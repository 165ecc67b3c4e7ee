//! The core driven from several threads at once, one per pCPU, the way Xen
//! calls it: `do_schedule` on each pCPU concurrently with wakes, sleeps and
//! the tick/accounting timers. Checks that a vCPU is never running on two
//! pCPUs at once and that nothing deadlocks (every thread finishes).

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

use sched_core::cpumask::AtomicCpuMask;
use sched_core::{
    CpuId, CpuMask, Credit, Credit1, DomData, DomId, PcpuData, Platform, SchedOps, Time, TimerKind,
    VcpuData, VcpuToken,
};

const CPUS: u16 = 4;
const VCPUS: usize = 12;
const ROUNDS: usize = 20_000;
const NOBODY: usize = usize::MAX;

#[derive(Default)]
struct ThreadedPlatform {
    now: AtomicI64,
    softirqs: AtomicCpuMask,
    requests: Mutex<Vec<VcpuToken>>,
}

impl Platform for ThreadedPlatform {
    fn now(&self) -> Time {
        Time(self.now.load(SeqCst))
    }
    fn raise_softirq(&self, cpu: CpuId) {
        self.softirqs.set(cpu);
    }
    fn set_timer(&self, _: CpuId, _: TimerKind, _: Time) {}
    fn stop_timer(&self, _: CpuId, _: TimerKind) {}
    fn pause_vcpu(&self, v: VcpuToken) {
        self.requests.lock().unwrap().push(v);
    }
    fn unpause_vcpu(&self, v: VcpuToken) {
        self.requests.lock().unwrap().push(v);
    }
    fn migrate_vcpu(&self, _: VcpuToken) {}
}

/// A tiny deterministic generator per thread (the interleaving is not
/// deterministic; the checks hold for every interleaving).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn a_vcpu_never_runs_on_two_pcpus_under_concurrent_calls() {
    let platform = ThreadedPlatform::default();
    let pcpus: Vec<PcpuData<Credit1>> = (0..CPUS).map(|_| PcpuData::new()).collect();
    let doms: Vec<DomData<Credit1>> = (0..VCPUS)
        .map(|d| DomData::new(DomId(d as u16 + 1)))
        .collect();
    let all = CpuMask::first_n(usize::from(CPUS));
    let vcpus: Vec<VcpuData<Credit1>> = doms
        .iter()
        .enumerate()
        .map(|(i, d)| VcpuData::new(VcpuToken(i), d, 0, all))
        .collect();
    let owner: Vec<AtomicUsize> = (0..VCPUS).map(|_| AtomicUsize::new(NOBODY)).collect();
    let double_runs = AtomicUsize::new(0);
    let decisions = AtomicUsize::new(0);

    let s = Credit::new(&platform, &pcpus);
    for c in 0..CPUS {
        s.add_pcpu(CpuId(c));
    }
    for (d, v) in doms.iter().zip(&vcpus) {
        s.insert_domain(d);
        s.insert_vcpu(v);
        s.wake(v);
    }

    std::thread::scope(|scope| {
        for cpu in 0..CPUS {
            let (s, vcpus, owner, double_runs, decisions, platform) =
                (&s, &vcpus, &owner, &double_runs, &decisions, &platform);
            scope.spawn(move || {
                let me = CpuId(cpu);
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (u64::from(cpu) + 1);
                let mut running: Option<usize> = None;
                for round in 0..ROUNDS {
                    let now = platform.now.fetch_add(7_000, SeqCst) + 7_000;
                    // The running guest sometimes blocks.
                    let blocks = next(&mut rng).is_multiple_of(4);
                    let d = s.do_schedule(me, Time(now), !blocks, false);
                    decisions.fetch_add(1, SeqCst);
                    let picked = d.next.map(|t| t.0);
                    if picked != running {
                        if let Some(prev) = running {
                            owner[prev].store(NOBODY, SeqCst);
                            s.context_saved(&vcpus[prev]);
                        }
                        if let Some(n) = picked {
                            if owner[n].swap(usize::from(cpu), SeqCst) != NOBODY {
                                double_runs.fetch_add(1, SeqCst);
                            }
                        }
                    }
                    if blocks {
                        if let Some(prev) = running.filter(|&p| picked != Some(p)) {
                            // It blocked: wake it again later from this thread.
                            s.wake(&vcpus[prev]);
                        }
                    }
                    running = picked;
                    // Wake someone at random (a no-op if runnable), fire timers.
                    s.wake(&vcpus[(next(&mut rng) % VCPUS as u64) as usize]);
                    if round.is_multiple_of(13) {
                        s.timer_fired(me, TimerKind::Tick);
                    }
                    if cpu == 0 && round.is_multiple_of(37) {
                        s.timer_fired(me, TimerKind::Acct);
                    }
                }
                if let Some(prev) = running {
                    owner[prev].store(NOBODY, SeqCst);
                }
            });
        }
    });

    assert_eq!(
        double_runs.load(SeqCst),
        0,
        "a vCPU was picked while running elsewhere"
    );
    assert_eq!(decisions.load(SeqCst), ROUNDS * usize::from(CPUS));
    let mut dump = String::new();
    s.dump(&mut dump).unwrap();
    assert!(dump.contains("ncpus=4"), "{dump}");
}
