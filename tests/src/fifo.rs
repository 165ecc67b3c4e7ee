//! A second kind of policy, to show that one fits behind the hosts' traits
//! without the credit engine: one global first-in-first-out runqueue,
//! round robin in fixed slices, no weights, no parameters. It is a test
//! fixture, not a policy anyone should run: it lives here, outside the
//! registry, and is driven through `sched_sim::simulate_kind`.
//!
//! `TICKLE = false` makes it forget to wake idle pCPUs for queued work, a
//! defect the simulator's checker must catch.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;

use sched_core::{
    Affinity, CpuId, CpuMask, Decision, DomId, NewVcpu, ParamError, Platform, Policy, PolicyInfo,
    PolicyKind, SchedOps, Span, Time, TimerKind, VcpuToken,
};
use sched_sim::report::AutoLsvmReport;
use sched_sim::scenario::{Domain, DomainChange, Pool, Scenario};
use sched_sim::SimPolicy;

/// How long a vCPU runs before the next in line gets the pCPU.
pub const SLICE: Span = Span::ms(10);

/// The policy; `TICKLE`: whether a wake looks for an idle pCPU.
pub struct Fifo<const TICKLE: bool = true>;

/// A vCPU's record.
pub struct FifoVcpu {
    token: VcpuToken,
    cpu: Cell<CpuId>,
    hard: Cell<CpuMask>,
    /// Its context is saved (it may run elsewhere).
    saved: Cell<bool>,
}

/// A domain's record: nothing to keep.
pub struct FifoDom;

/// A pCPU's record.
#[derive(Default)]
pub struct FifoPcpu<'a> {
    online: Cell<bool>,
    curr: Cell<Option<&'a FifoVcpu>>,
}

/// One pool.
pub struct FifoEngine<'a, P, const TICKLE: bool> {
    platform: P,
    pcpus: &'a [FifoPcpu<'a>],
    /// Runnable vCPUs not running, oldest first.
    queue: RefCell<VecDeque<&'a FifoVcpu>>,
}

impl<const TICKLE: bool> Policy for Fifo<TICKLE> {
    const INFO: PolicyInfo = PolicyInfo {
        name: "fifo",
        xen_name: "fifo",
        display: "FIFO (test fixture)",
        xen_id: 0,
    };
}

impl<const TICKLE: bool> PolicyKind for Fifo<TICKLE> {
    type Vcpu<'a> = FifoVcpu;
    type Dom<'a> = FifoDom;
    type Pcpu<'a> = FifoPcpu<'a>;
    type DomParams = ();
    type GlobalParams = ();
    type Engine<'a, P: Platform + 'a> = FifoEngine<'a, P, TICKLE>;

    fn new_pcpu<'a>() -> Self::Pcpu<'a> {
        FifoPcpu::default()
    }
    fn new_dom<'a>(_: DomId) -> Self::Dom<'a> {
        FifoDom
    }
    fn new_vcpu<'a>(v: NewVcpu, _: &'a Self::Dom<'a>) -> Self::Vcpu<'a> {
        FifoVcpu {
            token: v.token,
            cpu: Cell::new(v.cpu.or(v.hard.first()).unwrap_or(CpuId(0))),
            hard: Cell::new(v.hard),
            saved: Cell::new(true),
        }
    }
    fn engine<'a, P: Platform + 'a>(
        platform: P,
        pcpus: &'a [FifoPcpu<'a>],
    ) -> FifoEngine<'a, P, TICKLE> {
        FifoEngine {
            platform,
            pcpus,
            queue: RefCell::new(VecDeque::new()),
        }
    }
}

impl<P: Platform, const TICKLE: bool> FifoEngine<'_, P, TICKLE> {
    fn online(&self, cpu: CpuId) -> bool {
        self.pcpus.get(cpu.index()).is_some_and(|p| p.online.get())
    }

    /// Asks every online idle pCPU that some queued vCPU may use to decide.
    fn kick(&self) {
        let q = self.queue.borrow();
        for (i, p) in self.pcpus.iter().enumerate() {
            let cpu = CpuId(i as u16);
            if p.online.get()
                && p.curr.get().is_none()
                && q.iter()
                    .any(|v| v.saved.get() && v.hard.get().contains(cpu))
            {
                self.platform.raise_softirq(cpu);
            }
        }
    }

    fn dequeue(&self, v: &FifoVcpu) -> bool {
        let mut q = self.queue.borrow_mut();
        let before = q.len();
        q.retain(|w| !std::ptr::eq(*w, v));
        q.len() != before
    }
}

impl<'a, P: Platform, const TICKLE: bool> SchedOps<'a> for FifoEngine<'a, P, TICKLE> {
    type Vcpu = FifoVcpu;
    type Dom = FifoDom;
    type DomParams = ();
    type GlobalParams = ();

    fn info(&self) -> &'static PolicyInfo {
        &Fifo::<TICKLE>::INFO
    }
    fn add_pcpu(&self, cpu: CpuId) {
        if let Some(p) = self.pcpus.get(cpu.index()) {
            p.online.set(true);
            self.platform.raise_softirq(cpu);
        }
    }
    fn remove_pcpu(&self, cpu: CpuId) {
        if let Some(p) = self.pcpus.get(cpu.index()) {
            p.online.set(false);
        }
    }
    fn insert_domain(&self, _: &'a FifoDom) {}
    fn remove_domain(&self, _: &'a FifoDom) {}
    fn insert_vcpu(&self, v: &'a FifoVcpu) {
        v.cpu.set(self.pick_cpu(v));
    }
    fn remove_vcpu(&self, v: &'a FifoVcpu) {
        self.dequeue(v);
    }
    fn sleep(&self, v: &'a FifoVcpu) {
        if !self.dequeue(v) {
            for (i, p) in self.pcpus.iter().enumerate() {
                if p.curr.get().is_some_and(|c| std::ptr::eq(c, v)) {
                    self.platform.raise_softirq(CpuId(i as u16));
                }
            }
        }
    }
    fn wake(&self, v: &'a FifoVcpu) {
        let running = self
            .pcpus
            .iter()
            .any(|p| p.curr.get().is_some_and(|c| std::ptr::eq(c, v)));
        if running || self.queue.borrow().iter().any(|w| std::ptr::eq(*w, v)) {
            return;
        }
        self.queue.borrow_mut().push_back(v);
        if TICKLE {
            self.kick();
        }
    }
    fn yield_vcpu(&self, _: &'a FifoVcpu) {}
    fn context_saved(&self, v: &'a FifoVcpu) {
        v.saved.set(true);
        self.kick();
    }
    fn do_schedule(&self, cpu: CpuId, _: Time, prev_runnable: bool, tasklet: bool) -> Decision {
        let idle = Decision {
            next: None,
            slice: None,
            migrated: false,
        };
        let Some(pc) = self.pcpus.get(cpu.index()) else {
            return idle;
        };
        let prev = pc.curr.take();
        if let Some(p) = prev.filter(|_| prev_runnable) {
            // Round robin: the outgoing vCPU goes to the back.
            self.queue.borrow_mut().push_back(p);
        }
        let next = if tasklet {
            None
        } else {
            let mut q = self.queue.borrow_mut();
            // The oldest that may run here and is not still being saved
            // elsewhere (the outgoing vCPU itself is saved here).
            let pos = q.iter().position(|v| {
                v.hard.get().contains(cpu)
                    && (v.saved.get() || prev.is_some_and(|p| std::ptr::eq(p, *v)))
            });
            pos.and_then(|i| q.remove(i))
        };
        if let Some(p) = prev.filter(|p| !next.is_some_and(|n| std::ptr::eq(n, *p))) {
            p.saved.set(false);
        }
        pc.curr.set(next);
        self.kick();
        match next {
            None => idle,
            Some(n) => {
                let migrated = n.cpu.replace(cpu) != cpu;
                Decision {
                    next: Some(n.token),
                    slice: Some(SLICE),
                    migrated,
                }
            }
        }
    }
    fn pick_cpu(&self, v: &'a FifoVcpu) -> CpuId {
        let hard = v.hard.get();
        if hard.contains(v.cpu.get()) && self.online(v.cpu.get()) {
            return v.cpu.get();
        }
        let online = hard.iter().find(|&c| self.online(c));
        online.unwrap_or(v.cpu.get())
    }
    fn migrate(&self, v: &'a FifoVcpu, cpu: CpuId) {
        v.cpu.set(cpu);
    }
    fn set_affinity(&self, v: &'a FifoVcpu, a: Affinity) {
        v.hard.set(a.hard);
        self.kick();
    }
    fn timer_fired(&self, _: CpuId, _: TimerKind) {}
    fn dom_params(&self, _: &'a FifoDom) {}
    fn set_dom_params(&self, _: &'a FifoDom, _: ()) -> Result<(), ParamError> {
        Ok(())
    }
    fn global_params(&self) {}
    fn set_global_params(&self, _: ()) -> Result<(), ParamError> {
        Ok(())
    }
    fn processor_of(&self, v: &'a FifoVcpu) -> CpuId {
        v.cpu.get()
    }
    fn affinity_of(&self, v: &'a FifoVcpu) -> Affinity {
        Affinity {
            hard: v.hard.get(),
            soft: None,
        }
    }
    fn running_on(&self, cpu: CpuId) -> Option<VcpuToken> {
        self.pcpus
            .get(cpu.index())
            .and_then(|p| p.curr.get())
            .map(|v| v.token)
    }
    fn waiting(&self) -> Option<u32> {
        Some(self.queue.borrow().len() as u32)
    }
    fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(out, "sched=fifo queued={}", self.queue.borrow().len())
    }
    fn dump_cpu(&self, cpu: CpuId, out: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(out, "fifo: CPU[{:02}] {:?}", cpu.0, self.running_on(cpu))
    }
}

/// No scenario key is the FIFO's: weights, caps and every layer's keys are
/// out of its reach (a scenario using them is not a FIFO scenario).
impl<const TICKLE: bool> SimPolicy for Fifo<TICKLE> {
    fn dom_params(_: &Domain, _: bool) {}
    fn change(_: &mut (), _: &DomainChange) {}
    fn weight(_: &()) -> Option<u16> {
        None
    }
    fn global(_: &Pool) {}
    fn kept_off(_: &Scenario, _: usize, _: &dyn Fn(usize) -> bool) -> CpuMask {
        CpuMask::EMPTY
    }
    fn auto_lsvm(_: &Scenario, _: &FifoDom) -> Option<AutoLsvmReport> {
        None
    }
    fn runs_unbounded(_: &Scenario, _: usize) -> bool {
        false
    }
}

/// The op-sequence harness drives it too: no parameters to make from bytes.
impl<const TICKLE: bool> crate::opseq::OpPolicy for Fifo<TICKLE> {
    fn created(_: [u8; 2]) {}
    fn with_weight_cap(_: &(), _: u8, _: u8) {}
    fn global_params(_: [u8; 5]) {}
    fn migration_delay(_: &()) -> i64 {
        0
    }
    fn role_of(_: &()) -> crate::opseq::Role {
        crate::opseq::Role::Plain
    }
}
