//! Op sequences: a byte string decodes into host operations on a small
//! machine, applied to a policy through [`SchedOps`] exactly as Xen's core
//! would issue them, with the host's own view as the oracle.
//!
//! Why it looks the way it does:
//! - The host keeps the preconditions Xen's core keeps (`ops.rs`): an
//!   operation that would break them is skipped, as Xen never issues it
//!   (a queued vCPU cannot block; only a blocked one is woken; a vCPU is
//!   removed only once its context is saved; an affinity with no pCPU of the
//!   pool is refused, as `vcpu_set_affinity` returns `-EINVAL`).
//! - Records are the host's: slots for every domain and vCPU the input may
//!   create are allocated up front, each filled once when created (a
//!   destroyed domain's records are never reused, as Xen frees them).
//! - After every operation the host processes all pending softirqs and
//!   then checks, from its own view only (its state of each vCPU, the hard
//!   affinity it set, which pCPUs it sees idle, the roles it gave domains):
//!   see [`Host::check`]. Any violation ends the run with the operations
//!   applied so far, for a report that names the failing sequence.
//! - Context switches may be completed late (`context_saved` deferred to a
//!   later operation, never across time passing), to exercise the window
//!   in which a switched-out vCPU must not be moved.

mod ops;
mod platform;
mod policy;

use std::cell::OnceCell;
use std::fmt;

use sched_core::{Affinity, CpuId, CpuMask, DomId, NewVcpu, SchedOps, Time, TimerKind, VcpuToken};

pub use ops::Op;
use ops::{advance_ns, Bytes};
use platform::{Due, Plat, Request};
pub use policy::{OpLayer, OpPolicy, Role};

/// pCPUs of the machine, at most.
pub const MAX_PCPUS: usize = 8;
/// Domains alive at once, at most.
pub const MAX_DOMS: usize = 8;
/// vCPUs per domain, at most.
pub const MAX_VCPUS: usize = 4;
/// Domains one input may create (record slots allocated up front).
pub const DOM_RECORDS: usize = 32;
/// Operations decoded from one input, at most.
pub const MAX_OPS: usize = 4096;
/// Scheduling rounds at one instant before the scheduler is declared not
/// to settle.
const MAX_ROUNDS: u32 = 10_000;
/// Timers fired by one [`Op::Advance`] (the rest fire at the next one).
const MAX_FIRES: u32 = 4096;

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Operations applied.
    pub ops: u64,
    /// Operations skipped because they would break a precondition.
    pub skipped: u64,
    /// `do_schedule` calls.
    pub decisions: u64,
    /// Policy timers fired.
    pub timers: u64,
}

impl Stats {
    /// Adds `o`'s counts.
    pub fn add(&mut self, o: &Stats) {
        self.ops += o.ops;
        self.skipped += o.skipped;
        self.decisions += o.decisions;
        self.timers += o.timers;
    }
}

/// A broken invariant, with the operations that led to it.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The policy's name.
    pub policy: &'static str,
    /// pCPUs of the machine.
    pub pcpus: usize,
    /// Whether context switches completed late.
    pub lazy_save: bool,
    /// What broke.
    pub message: String,
    /// The operations applied, the failing one last.
    pub ops: Vec<Op>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} on {} pCPUs{}: {}",
            self.policy,
            self.pcpus,
            if self.lazy_save {
                ", late context_saved"
            } else {
                ""
            },
            self.message
        )?;
        for (i, op) in self.ops.iter().enumerate() {
            writeln!(f, "  {i:4}: {op:?}")?;
        }
        Ok(())
    }
}

/// Defects found by this harness, reported and not fixed yet, that the
/// oracle tolerates so that fuzzing can find others ([`run_with`] with
/// [`Tolerate::NONE`] is the strict oracle).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tolerate {
    /// A vCPU requeued on a busy pCPU, whose context is saved only after
    /// the idlers looked, and which is cache-hot (a migration delay) when
    /// `context_saved` offers it again, waits beside an idle pCPU once it
    /// cools if every idler has taken other work meanwhile: nothing looks
    /// again until a pCPU's next decision (at most a timeslice). Known and
    /// left: it needs a per-pCPU timer for the instant the vCPU cools.
    pub late_save: bool,
    /// EDF+credit used to narrow a real-time vCPU's pCPUs to those no
    /// driver vCPU is pinned to without looking at the pool (fixed: the
    /// narrowing keeps a pCPU of the pool). Tolerating it keeps driver pins
    /// and pCPUs out of the pool apart.
    pub offline_pick: bool,
    /// EDF+credit used not to offer queued work again when a driver vCPU's
    /// pin was lifted (fixed: the engine offers it to the idlers).
    pub driver_unpin: bool,
}

impl Tolerate {
    /// The strict oracle.
    pub const NONE: Tolerate = Tolerate {
        late_save: false,
        offline_pick: false,
        driver_unpin: false,
    };
    /// What [`run`] tolerates today: the one known gap.
    pub const REPORTED: Tolerate = Tolerate {
        late_save: true,
        offline_pick: false,
        driver_unpin: false,
    };
}

/// Runs `data` under policy `H` with the oracle of [`Tolerate::REPORTED`].
pub fn run<H: OpPolicy>(data: &[u8]) -> Result<Stats, Failure> {
    run_with::<H>(data, Tolerate::REPORTED)
}

/// Runs `data` under policy `H`: the first byte sets the machine (pCPUs,
/// late context switches), the rest is operations.
pub fn run_with<H: OpPolicy>(data: &[u8], tolerate: Tolerate) -> Result<Stats, Failure> {
    let mut b = Bytes::new(data);
    let head = b.u8();
    let npc = 1 + usize::from(head) % MAX_PCPUS;
    let lazy_save = head & 0x80 != 0;
    let plat = Plat::default();
    // Records in an arena, never dropped one by one (`PolicyKind`'s
    // contract); a domain's and a vCPU's are made when the host creates them.
    let arena = bumpalo::Bump::new();
    let pcpus: &[H::Pcpu<'_>] = arena.alloc_slice_fill_with(npc, |_| H::new_pcpu());
    let drec: &[OnceCell<H::Dom<'_>>] =
        arena.alloc_slice_fill_with(DOM_RECORDS, |_| OnceCell::new());
    let vrec: &[OnceCell<H::Vcpu<'_>>] =
        arena.alloc_slice_fill_with(DOM_RECORDS * MAX_VCPUS, |_| OnceCell::new());
    let mut host: Host<'_, H> = Host {
        eng: H::engine(&plat, pcpus),
        plat: &plat,
        drec,
        vrec,
        all: CpuMask::first_n(npc),
        online: CpuMask::first_n(npc),
        running: [None; MAX_PCPUS],
        unsaved: [None; MAX_PCPUS],
        slice: [None; MAX_PCPUS],
        lazy_save,
        v: vec![None; DOM_RECORDS * MAX_VCPUS],
        d: Vec::with_capacity(DOM_RECORDS),
        migration_delay: 0,
        stats: Stats::default(),
        req_buf: Vec::new(),
        trace: std::env::var_os("OPSEQ_TRACE").is_some(),
        tolerate,
        decided: [(0, 0); MAX_PCPUS],
        scanned: (0, 0),
        offered: [(0, 0); MAX_PCPUS],
        unpinned_at: [i64::MIN; MAX_PCPUS],
    };
    for c in 0..npc {
        host.eng.add_pcpu(CpuId(c as u16));
    }
    let mut applied = Vec::new();
    while !b.done() && applied.len() < MAX_OPS {
        let op = Op::decode(&mut b);
        host.log(|| format!("op {op:?}"));
        match host.apply(op) {
            Ok(true) => {
                host.stats.ops += 1;
                applied.push(op);
            }
            Ok(false) => host.stats.skipped += 1,
            Err(mut message) => {
                applied.push(op);
                message.push_str("\nscheduler state:\n");
                let _ = host.eng.dump(&mut message);
                message.push_str(&host.describe());
                return Err(Failure {
                    policy: H::INFO.name,
                    pcpus: npc,
                    lazy_save,
                    message,
                    ops: applied,
                });
            }
        }
    }
    Ok(host.stats)
}

/// Where a vCPU is, as the host sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sched {
    /// Known to the scheduler, neither queued nor running.
    Idle,
    /// Waiting on a runqueue.
    Queued,
    /// Running on this pCPU.
    Running(usize),
    /// Removed; must never run again.
    Removed,
}

/// The host's record of an inserted vCPU.
#[derive(Clone, Copy, Debug)]
struct VState {
    sched: Sched,
    /// The guest blocked (and has not been woken since).
    blocked: bool,
    /// Parked by the policy (a cap).
    parked: bool,
    /// Paused by the administrator.
    paused: bool,
    /// Its domain is being destroyed.
    dying: bool,
    /// To be moved at its next deschedule (`_VPF_migrating`).
    migrate: bool,
    /// The hard affinity the host set.
    hard: CpuMask,
    /// When it was last switched out.
    desched_at: i64,
    /// Its context was saved late, after this many switches on its pCPU
    /// (see [`Tolerate::late_save`]).
    saved_late: Option<u64>,
}

/// The host's record of a created domain.
struct DState<P> {
    alive: bool,
    vcpus: usize,
    /// The parameters the scheduler last accepted.
    params: P,
}

type R<T = ()> = Result<T, String>;

struct Host<'a, H: OpPolicy> {
    eng: H::Engine<'a, &'a Plat>,
    plat: &'a Plat,
    drec: &'a [OnceCell<H::Dom<'a>>],
    vrec: &'a [OnceCell<H::Vcpu<'a>>],
    all: CpuMask,
    online: CpuMask,
    running: [Option<usize>; MAX_PCPUS],
    /// The vCPU switched out on each pCPU whose context is not saved yet.
    unsaved: [Option<usize>; MAX_PCPUS],
    /// When each pCPU's slice timer (`s_timer`) fires.
    slice: [Option<i64>; MAX_PCPUS],
    lazy_save: bool,
    v: Vec<Option<VState>>,
    d: Vec<DState<H::DomParams>>,
    /// The migration delay the host last set.
    migration_delay: i64,
    stats: Stats,
    req_buf: Vec<Request>,
    /// Print every step on stderr (`OPSEQ_TRACE` set), to debug a failure.
    trace: bool,
    tolerate: Tolerate,
    /// Per pCPU: decisions that switched, and when the last one was.
    decided: [(u64, i64); MAX_PCPUS],
    /// When a pCPU last decided to idle (it looked at every peer's queue
    /// to steal), and the migration delay then.
    scanned: (i64, i64),
    /// Per pCPU: when its last switch was (it offered the work left in its
    /// own queue to the idlers), and the migration delay then.
    offered: [(i64, i64); MAX_PCPUS],
    /// When a driver vCPU's pin on each pCPU was last lifted.
    unpinned_at: [i64; MAX_PCPUS],
}

impl<'a, H: OpPolicy> Host<'a, H> {
    fn now(&self) -> i64 {
        self.plat.now_ns()
    }

    fn log(&self, what: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("t={} {}", self.now(), what());
        }
    }

    fn rec(&self, k: usize) -> &'a H::Vcpu<'a> {
        self.vrec[k].get().expect("an inserted vCPU has a record")
    }

    fn vs(&mut self, k: usize) -> &mut VState {
        self.v[k].as_mut().expect("an inserted vCPU has a state")
    }

    fn name(&self, k: usize) -> String {
        format!("d{}v{}", k / MAX_VCPUS, k % MAX_VCPUS)
    }

    fn raise(&self, c: usize) {
        sched_core::Platform::raise_softirq(&self.plat, CpuId(c as u16));
    }

    /// Whether `k` may run, as far as the host knows.
    fn runnable(&self, k: usize) -> bool {
        self.v[k].is_some_and(|v| {
            v.sched != Sched::Removed
                && !(v.blocked || v.parked || v.paused || v.dying || v.migrate)
        })
    }

    /// A live domain chosen by `b`.
    fn live_dom(&self, b: u8) -> Option<usize> {
        let live: Vec<usize> = (0..self.d.len()).filter(|&i| self.d[i].alive).collect();
        (!live.is_empty()).then(|| live[usize::from(b) % live.len()])
    }

    /// An inserted vCPU of a live domain chosen by `b`.
    fn live_vcpu(&self, b: u8) -> Option<usize> {
        let d = self.live_dom(b)?;
        let n = self.d[d].vcpus;
        (n > 0).then(|| d * MAX_VCPUS + usize::from(b >> 3) % n)
    }

    /// A mask of the machine's pCPUs from one byte: mostly all of them,
    /// else one pCPU or a pattern.
    fn mask(&self, b: u8) -> CpuMask {
        let n = self.all.count() as usize;
        match b % 4 {
            0 | 1 => self.all,
            2 => CpuMask::single(CpuId((usize::from(b >> 2) % n) as u16)),
            _ => {
                CpuMask::from_words([u64::from(b >> 2) | u64::from(b) << 6, 0, 0, 0]).and(&self.all)
            }
        }
    }

    fn apply(&mut self, op: Op) -> R<bool> {
        let pins = self.driver_pins();
        let applied = self.apply_op(op)?;
        if applied {
            for c in pins.and_not(&self.driver_pins()).iter() {
                self.unpinned_at[c.index()] = self.now();
            }
            self.quiesce()?;
            self.check()?;
        }
        Ok(applied)
    }

    fn apply_op(&mut self, op: Op) -> R<bool> {
        Ok(match op {
            Op::CreateDomain { vcpus, pin, params } => self.create_domain(vcpus, pin, params)?,
            Op::AddVcpu { dom, pin } => match self.live_dom(dom) {
                Some(d) => self.add_vcpu(d, pin)?,
                None => false,
            },
            Op::DestroyDomain { dom } => match self.live_dom(dom) {
                Some(d) => self.destroy_domain(d)?,
                None => false,
            },
            Op::Wake { vcpu } => self.on_vcpu(vcpu, Self::wake)?,
            Op::Block { vcpu } => self.on_vcpu(vcpu, Self::block)?,
            Op::Yield { vcpu } => self.on_vcpu(vcpu, Self::yield_vcpu)?,
            Op::Event { vcpu, wake } => self.on_vcpu(vcpu, |h, k| h.event(k, wake))?,
            Op::Pause { vcpu } => self.on_vcpu(vcpu, |h, k| h.pause(k, true))?,
            Op::Unpause { vcpu } => self.on_vcpu(vcpu, |h, k| h.pause(k, false))?,
            Op::Advance { code } => self.advance(advance_ns(code))?,
            Op::Schedule { cpu } => {
                let c = usize::from(cpu) % MAX_PCPUS;
                let up = self.online.contains(CpuId(c as u16));
                if up {
                    self.raise(c);
                }
                up
            }
            Op::SetDomParams { dom, params } => match self.live_dom(dom) {
                Some(d) => {
                    let p = H::created([params[0], params[1]]);
                    let p = H::with_weight_cap(&p, params[2], params[3]);
                    self.set_dom_params(d, p)?;
                    true
                }
                None => false,
            },
            Op::SetGlobalParams { params: p } => {
                self.set_global_params(H::global_params([p[0], p[1], p[2], p[3], p[4]]))?;
                true
            }
            Op::SetAffinity { vcpu, hard, soft } => {
                self.on_vcpu(vcpu, |h, k| h.set_affinity(k, hard, soft))?
            }
            Op::RemovePcpu { cpu } => self.remove_pcpu(usize::from(cpu) % MAX_PCPUS)?,
            Op::AddPcpu { cpu } => self.add_pcpu(usize::from(cpu) % MAX_PCPUS),
            Op::SaveContexts => {
                let any = self.unsaved.iter().any(Option::is_some);
                self.flush_saves()?;
                any
            }
        })
    }

    fn on_vcpu(&mut self, b: u8, f: impl FnOnce(&mut Self, usize) -> R<bool>) -> R<bool> {
        match self.live_vcpu(b) {
            Some(k) => f(self, k),
            None => Ok(false),
        }
    }

    fn create_domain(&mut self, vcpus: u8, pin: u8, p: [u8; 4]) -> R<bool> {
        let live = self.d.iter().filter(|d| d.alive).count();
        let i = self.d.len();
        if live >= MAX_DOMS || i >= DOM_RECORDS {
            return Ok(false);
        }
        let created = H::created([p[0], p[1]]);
        if self.tolerate.offline_pick
            && H::role_of(&created) == Role::Driver
            && self.online != self.all
        {
            return Ok(false);
        }
        let _ = self.drec[i].set(H::new_dom(DomId(i as u16)));
        let dom = &self.drec[i].get().expect("just set");
        self.eng.insert_domain(dom);
        self.d.push(DState {
            alive: true,
            vcpus: 0,
            params: self.eng.dom_params(dom),
        });
        // The layer's role first, as Xen creates a domain with it (the
        // driver role is fixed once vCPUs exist); weight and cap after the
        // vCPUs, as the toolstack sets them (a cap is checked against them).
        self.set_dom_params(i, created)?;
        for _ in 0..=vcpus % MAX_VCPUS as u8 {
            self.add_vcpu(i, pin)?;
        }
        let p = H::with_weight_cap(&self.d[i].params, p[2], p[3]);
        self.set_dom_params(i, p)?;
        Ok(true)
    }

    /// `insert_unit` of domain `d`'s next vCPU, runnable at once.
    fn add_vcpu(&mut self, d: usize, pin: u8) -> R<bool> {
        let n = self.d[d].vcpus;
        if n >= MAX_VCPUS {
            return Ok(false);
        }
        let mut hard = self.mask(pin);
        if !hard.intersects(&self.online) {
            hard = self.all;
        }
        let k = d * MAX_VCPUS + n;
        let dom = self.drec[d].get().expect("a live domain has a record");
        let v = NewVcpu {
            token: VcpuToken(k),
            vcpu_id: n as u16,
            hard,
            cpu: None,
        };
        let _ = self.vrec[k].set(H::new_vcpu(v, dom));
        self.d[d].vcpus += 1;
        self.v[k] = Some(VState {
            sched: Sched::Idle,
            blocked: false,
            parked: false,
            paused: false,
            dying: false,
            migrate: false,
            hard,
            desched_at: 0,
            saved_late: None,
        });
        self.eng.insert_vcpu(self.rec(k));
        self.check_placed(k, self.eng.processor_of(self.rec(k)), "insert_vcpu")?;
        self.update(k);
        Ok(true)
    }

    /// `domain_destroy`: pause every vCPU, wait until none runs and every
    /// context is saved, then remove them and the domain.
    fn destroy_domain(&mut self, d: usize) -> R<bool> {
        let ks: Vec<usize> = (0..self.d[d].vcpus).map(|i| d * MAX_VCPUS + i).collect();
        for &k in &ks {
            self.vs(k).dying = true;
            self.update(k);
        }
        self.settle()?;
        for &k in &ks {
            let s = self.vs(k).sched;
            if s != Sched::Idle {
                return Err(format!(
                    "{} is {s:?} after its domain was paused and every softirq processed",
                    self.name(k)
                ));
            }
            self.eng.remove_vcpu(self.rec(k));
            self.vs(k).sched = Sched::Removed;
            self.drain_requests();
        }
        self.eng.remove_domain(self.drec[d].get().expect("live"));
        self.d[d].alive = false;
        Ok(true)
    }

    fn wake(&mut self, k: usize) -> R<bool> {
        if !self.vs(k).blocked {
            return Ok(false);
        }
        self.vs(k).blocked = false;
        self.update(k);
        Ok(true)
    }

    /// Only the running vCPU blocks (the guest halts); Xen then raises the
    /// softirq itself.
    fn block(&mut self, k: usize) -> R<bool> {
        let v = self.vs(k);
        let Sched::Running(c) = v.sched else {
            return Ok(false);
        };
        if v.blocked {
            return Ok(false);
        }
        v.blocked = true;
        self.raise(c);
        Ok(true)
    }

    fn yield_vcpu(&mut self, k: usize) -> R<bool> {
        let Sched::Running(c) = self.vs(k).sched else {
            return Ok(false);
        };
        self.eng.yield_vcpu(self.rec(k));
        self.raise(c);
        Ok(true)
    }

    fn event(&mut self, k: usize, wake: bool) -> R<bool> {
        self.eng.event(self.rec(k));
        if wake {
            self.wake(k)?;
        }
        Ok(true)
    }

    fn pause(&mut self, k: usize, pause: bool) -> R<bool> {
        if self.vs(k).paused == pause {
            return Ok(false);
        }
        self.vs(k).paused = pause;
        self.update(k);
        Ok(true)
    }

    /// Brings the scheduler's view of `k` in line with the host's: `wake`
    /// on becoming runnable, `sleep` on ceasing to be (Xen's
    /// `vcpu_sleep_nosync`, which for a running vCPU raises the softirq).
    fn update(&mut self, k: usize) {
        let runnable = self.runnable(k);
        let v = self.vs(k);
        match v.sched {
            Sched::Idle if runnable => {
                v.sched = Sched::Queued;
                self.eng.wake(self.rec(k));
            }
            Sched::Queued if !runnable => {
                v.sched = Sched::Idle;
                self.eng.sleep(self.rec(k));
            }
            Sched::Running(_) if !runnable => self.eng.sleep(self.rec(k)),
            _ => {}
        }
    }

    /// Xen's `vcpu_migrate_start`/`_finish`: take `k` off where it is and
    /// place it with `pick_cpu` once its context is saved.
    fn start_migrate(&mut self, k: usize) -> R {
        self.vs(k).migrate = true;
        self.update(k);
        let off = self.vs(k).sched == Sched::Idle && !self.unsaved.contains(&Some(k));
        if off {
            self.finish_migrate(k)?;
        }
        Ok(())
    }

    fn finish_migrate(&mut self, k: usize) -> R {
        self.vs(k).migrate = false;
        let r = self.rec(k);
        let to = self.eng.pick_cpu(r);
        self.check_placed(k, to, "pick_cpu")?;
        self.eng.migrate(r, to);
        self.update(k);
        Ok(())
    }

    /// A pCPU the scheduler chose for `k` must be in the pool and allowed
    /// by the hard affinity the host set.
    fn check_placed(&self, k: usize, to: CpuId, by: &str) -> R {
        let hard = self.v[k].expect("inserted").hard;
        if !self.online.contains(to) || !hard.contains(to) {
            return Err(format!(
                "{by} placed {} on cpu{} (pool {:?}, hard affinity {:?})",
                self.name(k),
                to.0,
                ids(&self.online),
                ids(&hard)
            ));
        }
        Ok(())
    }

    fn set_affinity(&mut self, k: usize, hard: u8, soft: u8) -> R<bool> {
        let hard = self.mask(hard);
        if !hard.intersects(&self.online) {
            return Ok(false);
        }
        let soft = (soft & 1 == 1).then(|| self.mask(soft >> 1));
        self.eng.set_affinity(self.rec(k), Affinity { hard, soft });
        self.vs(k).hard = hard;
        // Xen re-evaluates placement after every affinity change
        // (`vcpu_set_affinity` → `sched_unit_migrate_start`), allowed
        // where it is or not.
        self.start_migrate(k)?;
        Ok(true)
    }

    fn set_dom_params(&mut self, d: usize, p: H::DomParams) -> R {
        let dom = self.drec[d].get().expect("created");
        let before = self.eng.dom_params(dom);
        let r = self.eng.set_dom_params(dom, p);
        let after = self.eng.dom_params(dom);
        match r {
            Ok(()) if after == p => self.d[d].params = p,
            Ok(()) => {
                return Err(format!(
                    "set_dom_params({p:?}) accepted, reads back {after:?}"
                ))
            }
            Err(e) if after != before => {
                return Err(format!(
                    "set_dom_params({p:?}) refused ({e}) but changed {before:?} to {after:?}"
                ))
            }
            Err(_) => {}
        }
        Ok(())
    }

    fn set_global_params(&mut self, p: H::GlobalParams) -> R {
        let before = self.eng.global_params();
        let r = self.eng.set_global_params(p);
        let after = self.eng.global_params();
        match r {
            Ok(()) if after == p => self.migration_delay = H::migration_delay(&p),
            Ok(()) => {
                return Err(format!(
                    "set_global_params({p:?}) accepted, reads back {after:?}"
                ))
            }
            Err(e) if after != before => {
                return Err(format!(
                    "set_global_params({p:?}) refused ({e}) but changed {before:?} to {after:?}"
                ))
            }
            Err(_) => {}
        }
        Ok(())
    }

    /// A pCPU leaves the pool the way Xen's `cpu_disable_scheduler` does
    /// it: affinities left without a pCPU are broken (reset to all), the
    /// pCPU's work is taken off (queued vCPUs slept, the running one
    /// descheduled by the idle vCPU running the removal as tasklet work),
    /// and every vCPU placed there is moved with `pick_cpu` + `migrate`.
    /// The engine learns of the removal only from `remove_pcpu` (Xen clears
    /// the cpupool's mask first, which `pick_resource` reads), so the pCPU,
    /// idle with an empty runqueue, is removed before its vCPUs are placed.
    fn remove_pcpu(&mut self, c: usize) -> R<bool> {
        let cpu = CpuId(c as u16);
        let driver_lives = self
            .d
            .iter()
            .any(|d| d.alive && H::role_of(&d.params) == Role::Driver);
        if !self.online.contains(cpu)
            || self.online.count() == 1
            || (self.tolerate.offline_pick && driver_lives)
        {
            return Ok(false);
        }
        self.settle()?;
        self.online.clear(cpu);
        let inserted: Vec<usize> = (0..self.v.len())
            .filter(|&k| self.v[k].is_some_and(|v| v.sched != Sched::Removed))
            .collect();
        for &k in &inserted {
            if !self.v[k].is_some_and(|v| v.hard.intersects(&self.online)) {
                let a = Affinity {
                    hard: self.all,
                    soft: None,
                };
                self.eng.set_affinity(self.rec(k), a);
                self.vs(k).hard = self.all;
            }
        }
        let mut moving = Vec::new();
        for &k in &inserted {
            if self.eng.processor_of(self.rec(k)) == cpu && self.vs(k).sched == Sched::Queued {
                self.vs(k).sched = Sched::Idle;
                self.eng.sleep(self.rec(k));
                moving.push(k);
            }
        }
        if let Some(k) = self.running[c] {
            let d = self.eng.do_schedule(cpu, Time(self.now()), false, true);
            self.stats.decisions += 1;
            if let Some(n) = d.next {
                return Err(format!(
                    "cpu{c} picked {} while running tasklet work",
                    self.name(n.0)
                ));
            }
            self.running[c] = None;
            self.eng.context_saved(self.rec(k));
            let now = self.now();
            let v = self.vs(k);
            v.sched = Sched::Idle;
            v.desched_at = now;
            moving.push(k);
        }
        self.slice[c] = None;
        let queued = self.eng.waiting_on(cpu).unwrap_or(0);
        if queued != 0 {
            return Err(format!(
                "cpu{c} still has {queued} queued before remove_pcpu"
            ));
        }
        self.eng.remove_pcpu(cpu);
        for &k in &inserted {
            if self.eng.processor_of(self.rec(k)) == cpu && !moving.contains(&k) {
                moving.push(k);
            }
        }
        for k in moving {
            self.finish_migrate(k)?;
        }
        Ok(true)
    }

    /// A pCPU joins the pool and enters its idle loop, which schedules.
    fn add_pcpu(&mut self, c: usize) -> bool {
        let cpu = CpuId(c as u16);
        if c >= self.all.count() as usize || self.online.contains(cpu) {
            return false;
        }
        self.eng.add_pcpu(cpu);
        self.online.set(cpu);
        self.raise(c);
        true
    }

    /// Time passes: contexts are saved and softirqs processed first, then
    /// due timers (the policy's, and each pCPU's slice timer, which raises
    /// its softirq) fire in order, each followed by its softirqs, and by a
    /// check once no other timer is due at that instant.
    fn advance(&mut self, delta: i64) -> R<bool> {
        self.settle()?;
        let target = self.now().saturating_add(delta);
        for _ in 0..MAX_FIRES {
            let slice = (0..MAX_PCPUS)
                .filter_map(|c| self.slice[c].map(|t| (t, c)))
                .filter(|&(t, _)| t <= target)
                .min();
            let policy = self.plat.due(target);
            let at = match (slice, policy) {
                (Some((t, c)), p) if p.is_none_or(|(pt, _)| t <= pt) => {
                    self.slice[c] = None;
                    self.raise(c);
                    t
                }
                (_, Some((t, due))) => {
                    self.plat.disarm(due);
                    self.plat.set_now(t.max(self.now()));
                    let (c, kind) = match due {
                        Due::Tick(c) => (c, TimerKind::Tick),
                        Due::Acct(c) => (c, TimerKind::Acct),
                        Due::Policy(c, n) => (c, TimerKind::Policy(n)),
                    };
                    self.eng.timer_fired(CpuId(c as u16), kind);
                    t
                }
                _ => {
                    self.plat.set_now(target);
                    return Ok(true);
                }
            };
            self.plat.set_now(at.max(self.now()));
            self.log(|| format!("timer {slice:?} {policy:?}"));
            self.stats.timers += 1;
            self.settle()?;
            // Checked at quiescent instants only, as the simulator checks:
            // timers due at this same instant fire first.
            let more_now = (0..MAX_PCPUS).any(|c| self.slice[c].is_some_and(|t| t <= at))
                || self.plat.due(at).is_some();
            if !more_now {
                self.check()?;
            }
        }
        Ok(true)
    }

    /// Processes requests and softirqs until none is left at this instant.
    fn quiesce(&mut self) -> R {
        for _ in 0..MAX_ROUNDS {
            self.drain_requests();
            let pending = self.plat.take_softirqs().and(&self.online);
            if pending.is_empty() {
                return Ok(());
            }
            for cpu in pending.iter() {
                self.schedule(cpu.index())?;
                self.drain_requests();
            }
        }
        Err(format!(
            "softirqs still raised after {MAX_ROUNDS} rounds at one instant: the scheduler does not settle"
        ))
    }

    /// Saves every context in flight and processes softirqs, without
    /// leaving new contexts unsaved (before time passes or a removal).
    fn settle(&mut self) -> R {
        let lazy = std::mem::replace(&mut self.lazy_save, false);
        let r = self.flush_saves().and_then(|()| self.quiesce());
        self.lazy_save = lazy;
        r
    }

    fn flush_saves(&mut self) -> R {
        for c in 0..MAX_PCPUS {
            if let Some(k) = self.unsaved[c].take() {
                let on = self.eng.processor_of(self.rec(k)).index();
                self.vs(k).saved_late = self.decided.get(on).map(|d| d.0);
                self.save(k)?;
            }
        }
        Ok(())
    }

    /// `context_saved`, then a pending migration (Xen:
    /// `sched_context_switched` → `vcpu_migrate_finish`).
    fn save(&mut self, k: usize) -> R {
        self.eng.context_saved(self.rec(k));
        if self.vs(k).migrate {
            self.finish_migrate(k)?;
        }
        Ok(())
    }

    fn drain_requests(&mut self) {
        let mut buf = std::mem::take(&mut self.req_buf);
        while self.plat.take_requests(&mut buf) {
            for r in buf.drain(..) {
                self.log(|| format!("request {r:?}"));
                let (Request::Pause(t) | Request::Unpause(t) | Request::Migrate(t)) = r;
                let k = t.0;
                if !self
                    .v
                    .get(k)
                    .is_some_and(|v| v.is_some_and(|v| v.sched != Sched::Removed))
                {
                    continue;
                }
                match r {
                    Request::Pause(_) => {
                        self.vs(k).parked = true;
                        self.update(k);
                    }
                    Request::Unpause(_) => {
                        self.vs(k).parked = false;
                        self.update(k);
                        // Not woken: say so, as the platform contract asks.
                        if self.vs(k).sched == Sched::Idle {
                            self.eng.sleep(self.rec(k));
                        }
                    }
                    Request::Migrate(_) => {
                        if let Sched::Running(c) = self.vs(k).sched {
                            self.vs(k).migrate = true;
                            self.raise(c);
                        }
                    }
                }
            }
        }
        self.req_buf = buf;
    }

    /// `do_schedule` on pCPU `c` and the context switch it asks for.
    fn schedule(&mut self, c: usize) -> R {
        if let Some(k) = self.unsaved[c].take() {
            // This pCPU's previous switch completes before it schedules again.
            self.save(k)?;
        }
        let now = self.now();
        let prev = self.running[c];
        let prev_runnable = prev.is_some_and(|k| self.runnable(k));
        let d = self
            .eng
            .do_schedule(CpuId(c as u16), Time(now), prev_runnable, false);
        self.stats.decisions += 1;
        let next = d.next.map(|t| t.0);
        // An idle decision tries to steal from every peer; a switch tickles
        // idlers for the work queued on its own pCPU only (a ratelimited
        // decision does neither).
        if next.is_none() {
            self.scanned = (now, self.migration_delay);
        }
        if next != prev {
            self.offered[c] = (now, self.migration_delay);
        }
        self.log(|| {
            format!(
                "cpu{c}: {prev:?} (runnable {prev_runnable}) -> {next:?} for {:?}",
                d.slice
            )
        });
        self.slice[c] = d.slice.map(|s| now.saturating_add(s.as_ns()));
        if next == prev {
            if let (Some(k), false) = (next, prev_runnable) {
                return Err(format!(
                    "cpu{c} kept running {} though it is not runnable",
                    self.name(k)
                ));
            }
            return Ok(());
        }
        // Only a switch surely offered the queued work to idlers (a
        // ratelimited decision keeps the vCPU without doing so).
        self.decided[c] = (self.decided[c].0 + 1, now);
        if let Some(n) = next {
            self.check_pick(c, n)?;
        }
        if let Some(p) = prev {
            let v = self.vs(p);
            v.sched = if prev_runnable {
                Sched::Queued
            } else {
                Sched::Idle
            };
            v.desched_at = now;
        }
        self.running[c] = next;
        if let Some(n) = next {
            self.vs(n).sched = Sched::Running(c);
        }
        if let Some(p) = prev {
            if self.lazy_save {
                self.unsaved[c] = Some(p);
            } else {
                self.save(p)?;
            }
        }
        Ok(())
    }

    /// What `c` picked must be queued (runnable, inserted, not removed, not
    /// running elsewhere), allowed there, and not in the middle of a switch
    /// on another pCPU.
    fn check_pick(&self, c: usize, n: usize) -> R {
        let Some(v) = self.v.get(n).copied().flatten() else {
            return Err(format!("cpu{c} picked unknown vCPU {n}"));
        };
        if v.sched != Sched::Queued {
            return Err(format!(
                "cpu{c} picked {} in state {:?}",
                self.name(n),
                v.sched
            ));
        }
        if !v.hard.contains(CpuId(c as u16)) {
            return Err(format!(
                "cpu{c} picked {}, whose hard affinity is {:?}",
                self.name(n),
                ids(&v.hard)
            ));
        }
        if let Some(o) = self.unsaved.iter().position(|&u| u == Some(n)) {
            return Err(format!(
                "cpu{c} picked {} while its context on cpu{o} is not saved",
                self.name(n)
            ));
        }
        Ok(())
    }

    /// The pCPUs a policy rule declares domain `d`'s vCPUs kept off
    /// (EDF+credit: real-time domains off the pCPUs a live driver-domain
    /// vCPU is pinned to), from the roles and affinities the host set.
    fn kept_off(&self, d: usize) -> CpuMask {
        if H::role_of(&self.d[d].params) != Role::RealTime {
            return CpuMask::EMPTY;
        }
        self.driver_pins()
    }

    /// The pCPUs a vCPU of a live driver domain is pinned to.
    fn driver_pins(&self) -> CpuMask {
        let mut off = CpuMask::EMPTY;
        for (e, dom) in self.d.iter().enumerate() {
            if !dom.alive || H::role_of(&dom.params) != Role::Driver {
                continue;
            }
            for k in e * MAX_VCPUS..e * MAX_VCPUS + dom.vcpus {
                let v = self.v[k].expect("inserted");
                if v.sched != Sched::Removed && v.hard.count() == 1 {
                    off.set(v.hard.first().expect("one pCPU"));
                }
            }
        }
        off
    }

    /// Whether queued `k` is excused from work conservation: idlers are
    /// tickled for it only when its pCPU switches (a ratelimited decision
    /// keeps its vCPU without tickling), and steal it only when its context
    /// is saved and it is not cache-hot (credit1's migration delay, by
    /// design: nobody looks again when it cools). So it is excused while
    /// its context is unsaved, while it was cache-hot at the last look at
    /// it (its own pCPU's last switch, or any pCPU's last idle decision,
    /// whichever came later), and (a reported defect, see [`Tolerate`])
    /// until its pCPU's next switch if its context was saved after the
    /// last one.
    fn cannot_be_stolen(&self, k: usize) -> bool {
        let v = self.v[k].expect("queued");
        let on = self.eng.processor_of(self.rec(k)).index() % MAX_PCPUS;
        let (n, _) = self.decided[on];
        let (last, delay) = self.scanned.max(self.offered[on]);
        let hot_then = last - v.desched_at < delay;
        let hot_now = self.now() - v.desched_at < self.migration_delay;
        let late = self.tolerate.late_save && v.saved_late == Some(n);
        self.unsaved.contains(&Some(k)) || hot_then || hot_now || late
    }

    /// The host's view, for a failure report.
    fn describe(&self) -> String {
        let mut out = format!(
            "host: pool {:?}, running {:?}\n",
            ids(&self.online),
            self.running
        );
        for (k, v) in self.v.iter().enumerate() {
            if let Some(v) = v.filter(|v| v.sched != Sched::Removed) {
                let a = self.eng.affinity_of(self.rec(k));
                out.push_str(&format!(
                    "  {} {:?} on cpu{} hard {:?} soft {:?} desched_at {}{}{}{}{}\n",
                    self.name(k),
                    v.sched,
                    self.eng.processor_of(self.rec(k)).0,
                    ids(&v.hard),
                    a.soft.as_ref().map(ids),
                    v.desched_at,
                    if v.blocked { " blocked" } else { "" },
                    if v.parked { " parked" } else { "" },
                    if v.paused { " paused" } else { "" },
                    if v.migrate { " migrating" } else { "" },
                ));
            }
        }
        out
    }

    /// The invariants, from the host's view, at a quiescent instant.
    fn check(&self) -> R {
        let now = self.now();
        let mut idle = CpuMask::EMPTY;
        for c in 0..self.all.count() as usize {
            let cpu = CpuId(c as u16);
            let cur = self.eng.running_on(cpu).map(|t| t.0);
            if cur != self.running[c] {
                return Err(format!(
                    "cpu{c}: scheduler runs {cur:?}, host runs {:?}",
                    self.running[c]
                ));
            }
            match self.running[c] {
                None if self.online.contains(cpu) => idle.set(cpu),
                None => {}
                Some(k) => {
                    if !self.runnable(k) {
                        return Err(format!(
                            "{} still runs on cpu{c} though not runnable ({:?})",
                            self.name(k),
                            self.v[k]
                        ));
                    }
                    if !self.v[k].expect("runs").hard.contains(cpu) {
                        return Err(format!(
                            "{} runs on cpu{c} outside its hard affinity",
                            self.name(k)
                        ));
                    }
                }
            }
        }
        let queued: Vec<usize> = (0..self.v.len())
            .filter(|&k| self.v[k].is_some_and(|v| v.sched == Sched::Queued))
            .collect();
        let waiting = self.eng.waiting().map(u64::from);
        if let Some(queued_core) = waiting.filter(|&w| w != queued.len() as u64) {
            return Err(format!(
                "{queued_core} vCPUs on runqueues, host counts {} queued",
                queued.len()
            ));
        }
        for k in queued {
            if self.cannot_be_stolen(k) {
                continue;
            }
            let v = self.v[k].expect("queued");
            let hard = v.hard.and(&self.online);
            let allowed = match hard.and_not(&self.kept_off(k / MAX_VCPUS)) {
                m if m.is_empty() => hard,
                m => m,
            };
            let mut idle = idle;
            let rt = H::role_of(&self.d[k / MAX_VCPUS].params) == Role::RealTime;
            if self.tolerate.driver_unpin && rt {
                let since = self.decided[self.eng.processor_of(self.rec(k)).index() % MAX_PCPUS].1;
                for c in 0..MAX_PCPUS {
                    if self.unpinned_at[c] >= since {
                        idle.clear(CpuId(c as u16));
                    }
                }
            }
            if let Some(c) = allowed.and(&idle).first() {
                return Err(format!(
                    "t={now}ns: cpu{} idles while {} waits on cpu{} (work conservation)",
                    c.0,
                    self.name(k),
                    self.eng.processor_of(self.rec(k)).0
                ));
            }
        }
        Ok(())
    }
}

/// The pCPU numbers of `m`, for messages.
fn ids(m: &CpuMask) -> Vec<u16> {
    m.iter().map(|c| c.0).collect()
}

/// A smaller input that still fails the same way (the same message up to
/// its first digit, so times and names may change): greedy removal of
/// byte chunks, largest first. For reports; libFuzzer has its own
/// (`-minimize_crash=1`).
pub fn shrink(data: &[u8], run: impl Fn(&[u8]) -> Result<Stats, Failure>) -> Vec<u8> {
    fn kind(f: &Failure) -> String {
        let m = &f.message;
        let at = m.find(|c: char| c.is_ascii_digit()).unwrap_or(m.len());
        let tail = m.rfind('(').map_or("", |i| &m[i..]);
        format!("{}{}", &m[..at], tail)
    }
    let Err(f) = run(data) else {
        return data.to_vec();
    };
    let want = kind(&f);
    let mut best = data.to_vec();
    for chunk in [256, 64, 16, 4, 2, 1] {
        let mut i = 1;
        while i < best.len() {
            let mut t = best.clone();
            t.drain(i..(i + chunk).min(best.len()));
            match run(&t) {
                Err(g) if kind(&g) == want => best = t,
                _ => i += chunk,
            }
        }
    }
    best
}
