//! The event loop: drives one policy through Xen's scheduler protocol over a
//! simulated machine.
//!
//! Why it looks the way it does:
//! - All scheduler records are allocated up front for the whole scenario
//!   (domains that start later too) and outlive the engine, as Xen's
//!   `alloc_*data` records do; a vCPU is named by its index (`VcpuToken`).
//! - The host keeps its own view of every vCPU ([`Sched`]) and only calls
//!   `wake` on a blocked→runnable edge and `sleep` on a queued vCPU, which are
//!   the preconditions Xen's core keeps.
//! - Platform requests and softirqs are acted on after the scheduler call
//!   that made them returns; after every event (after the last of the
//!   timers due at one instant, as Xen's timer softirq runs them all before
//!   the schedule softirq) all pending softirqs at that instant are processed (ascending pCPU order, repeated until none is
//!   pending) before time advances. Invariants are checked at those quiescent
//!   points when asked.
//! - Costs: after a switch the vCPU makes no progress for `context_switch`
//!   (plus `cache_refill` when it was not the last vCPU on that pCPU); that
//!   time is still its own CPU time, charged by the scheduler and counted busy.

use sched_core::{Affinity, CpuId, CpuMask, DomId, NewVcpu, SchedOps, Time, VcpuToken};

use crate::metrics::{DomMetrics, Kind};
use crate::platform::{EventKind, Lazy, Request, SimPlatform};
use crate::policy::SimPolicy;
use crate::report::Report;
use crate::scenario::Scenario;
use crate::workload::Guest;

mod changes;
mod check;
mod report;
mod trace;

use crate::{Left, SimError, SimOptions, SimStats, TraceEvent, TraceKind};
use report::metrics_for;

/// Scheduling rounds at one instant before the loop is declared stuck.
const MAX_ROUNDS_PER_INSTANT: u32 = 100_000;

/// Where a vCPU is, as the host sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sched {
    /// Its domain has not started.
    Offline,
    /// Known to the scheduler, neither queued nor running (blocked, paused).
    Idle,
    /// Woken (or preempted) and waiting on a runqueue.
    Queued,
    /// Running on this pCPU.
    Running(u16),
    /// Removed from the scheduler; must never run again.
    Removed,
}

struct VState {
    dom: u16,
    /// Its vCPU number within the domain.
    id: u16,
    sched: Sched,
    paused: bool,
    stopping: bool,
    migrate: bool,
    /// When `wake()` was called for it, if it has not run since.
    wake_at: Option<i64>,
    /// When it joined a runqueue (woken or preempted), if it has not run since.
    queued_at: Option<i64>,
    /// Its hard affinity, as the host set it.
    hard: CpuMask,
    /// The affinity it had before the host broke it (every pCPU it allowed
    /// left the pool), to restore when one of them is back.
    broken: Option<CpuMask>,
    /// Progress is accounted up to here while it runs.
    progress_from: i64,
    /// The completion of its current guest item.
    comp: Lazy,
    guest: Guest,
}

struct CState {
    running: Option<u32>,
    /// When `running` was switched in (for the trace).
    since: i64,
    last_ran: Option<u32>,
    last_acct: i64,
    /// The vCPU switched in makes no progress before this instant.
    overhead_until: i64,
    slice: Lazy,
    busy_ns: i64,
    switches: u64,
}

struct DState {
    first: u32,
    count: u32,
    /// vCPUs inserted and not yet removed.
    alive: u32,
    /// Its weight as the administrator last set it.
    weight: u16,
}

/// The guest work of vCPU `vcpu` of `d`: the domain's workloads (each vCPU
/// runs them), and on vCPU 0 its network flows as the jobs that send them (a
/// CBR packet every `size × 8 / rate`, an HTTP reply per request; bulk
/// senders need no CPU and are not guest work). A flow is the domain's, so
/// one vCPU sends it: a 2 Mbit/s stream of a 2-vCPU domain is 2 Mbit/s.
fn guest_work(
    d: &crate::scenario::Domain,
    vcpu: u16,
) -> Vec<(crate::scenario::Workload, Option<(u32, u16)>)> {
    use crate::scenario::{Flow, Workload};
    let mut v: Vec<_> = d.workloads.iter().map(|w| (*w, None)).collect();
    let flows = if vcpu == 0 { &d.flows[..] } else { &[] };
    for (f, fl) in flows.iter().enumerate() {
        match *fl {
            Flow::Cbr {
                rate_bps,
                size,
                service,
            } => {
                v.push((
                    Workload::Periodic {
                        period: crate::scenario::packet_gap(size, rate_bps),
                        work: service,
                    },
                    Some((size, f as u16)),
                ));
            }
            Flow::Http {
                interval,
                reply,
                service,
                arrival,
            } => v.push((
                Workload::Ping {
                    interval,
                    service,
                    arrival,
                },
                Some((reply, f as u16)),
            )),
            Flow::Bulk { .. } | Flow::Udp { .. } => {}
        }
    }
    v
}

/// Runs `sc` under the policy `H` and reports.
pub(crate) fn run<H: SimPolicy>(
    sc: &Scenario,
    opts: &SimOptions,
) -> Result<(Report, SimStats), SimError> {
    let duration = opts.duration.unwrap_or(sc.duration).as_ns();
    if duration <= 0 {
        return Err(SimError::BadInput {
            field: "duration".into(),
            message: "must be positive".into(),
        });
    }
    if sc.domains.len() > usize::from(u16::MAX) {
        return Err(SimError::BadInput {
            field: "domain".into(),
            message: "at most 65535 domains".into(),
        });
    }
    let npc = usize::from(sc.host.pcpus);
    let plat = SimPlatform::new(npc, duration, sc.host.timer_granularity.as_ns());
    // The records live in one arena sized for them, freed with it and never
    // dropped one by one (`PolicyKind`'s contract), so that records that
    // borrow each other need not be known to the simulator.
    let nv: usize = sc.domains.iter().map(|d| usize::from(d.vcpus)).sum();
    let arena = bumpalo::Bump::with_capacity(
        npc * size_of::<H::Pcpu<'_>>()
            + sc.domains.len() * size_of::<H::Dom<'_>>()
            + nv * size_of::<H::Vcpu<'_>>()
            + 3 * 64,
    );
    let pcpus: &[H::Pcpu<'_>] = arena.alloc_slice_fill_with(npc, |_| H::new_pcpu());
    let doms: &[H::Dom<'_>] =
        arena.alloc_slice_fill_with(sc.domains.len(), |i| H::new_dom(DomId(i as u16)));
    let all = CpuMask::first_n(npc);
    let mut meta = Vec::new();
    let mut dstate = Vec::with_capacity(sc.domains.len());
    for (d, dom) in sc.domains.iter().enumerate() {
        let mask = match &dom.pin {
            Some(pin) => {
                let mut m = CpuMask::EMPTY;
                for &c in pin {
                    m.set(CpuId(c));
                }
                m.and(&all)
            }
            None => all,
        };
        dstate.push(DState {
            first: meta.len() as u32,
            count: u32::from(dom.vcpus),
            alive: 0,
            weight: dom.weight,
        });
        for id in 0..dom.vcpus {
            meta.push((d, id, mask));
        }
    }
    // Xen's core places a domain's vCPUs round-robin over the pool before
    // the scheduler sees them (`sched_select_initial_cpu`).
    let vrec: &[H::Vcpu<'_>] = arena.alloc_slice_fill_with(meta.len(), |k| {
        let (d, id, hard) = meta[k];
        let v = NewVcpu {
            token: VcpuToken(k),
            vcpu_id: id,
            hard,
            cpu: Some(CpuId((id as usize % npc) as u16)),
        };
        H::new_vcpu(v, &doms[d])
    });
    let seed = opts.seed.unwrap_or(sc.seed);
    let vstate = meta
        .iter()
        .map(|&(d, id, hard)| VState {
            dom: d as u16,
            id,
            sched: Sched::Offline,
            paused: false,
            stopping: false,
            migrate: false,
            wake_at: None,
            queued_at: None,
            hard,
            broken: None,
            progress_from: 0,
            comp: Lazy::IDLE,
            guest: Guest::with_sends(
                &guest_work(&sc.domains[d], id),
                seed,
                &[d as u64, u64::from(id)],
            ),
        })
        .collect();

    let mut sim: Sim<'_, H> = Sim {
        eng: H::engine(&plat, pcpus),
        plat: &plat,
        sc,
        vrec,
        drec: doms,
        v: vstate,
        c: (0..npc)
            .map(|_| CState {
                running: None,
                since: 0,
                last_ran: None,
                last_acct: 0,
                overhead_until: 0,
                slice: Lazy::IDLE,
                busy_ns: 0,
                switches: 0,
            })
            .collect(),
        d: dstate,
        m: metrics_for(sc, opts)?,
        stats: SimStats::default(),
        check: opts.check_invariants,
        trace: opts.trace,
        req_buf: Vec::with_capacity(64),
        seen: vec![false; vrec.len()],
        peak: (0, 0),
        online: all,
        window: opts.window.map(|w| w.as_ns()).filter(|&w| w > 0),
        window_start_cpu: vec![0; sc.domains.len()],
        check_at_windows: opts.check_at_windows,
        fewest_online: npc as i64,
        dumps: opts.dumps,
    };
    sim.run()?;
    let log = sim.m.first().and_then(|m| m.log.clone());
    let out = sim.report(H::INFO.name, duration);
    if let (Some((log, _)), Some(path)) = (log, &opts.samples_csv) {
        log.borrow_mut().finish().map_err(|e| SimError::Output {
            path: path.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(out)
}

struct Sim<'a, H: SimPolicy> {
    eng: H::Engine<'a, &'a SimPlatform>,
    plat: &'a SimPlatform,
    sc: &'a Scenario,
    vrec: &'a [H::Vcpu<'a>],
    drec: &'a [H::Dom<'a>],
    v: Vec<VState>,
    c: Vec<CState>,
    d: Vec<DState>,
    m: Vec<DomMetrics>,
    stats: SimStats,
    check: bool,
    trace: bool,
    req_buf: Vec<Request>,
    /// Scratch for the invariant check.
    seen: Vec<bool>,
    /// The most runnable vCPUs and the largest sum of live domains'
    /// weights seen so far: a wait is judged against the worst the run has
    /// had, not the load of the instant it is looked at.
    peak: (i64, i64),
    /// The pCPUs in the pool (a `[[change]]` may take one out and back).
    online: CpuMask,
    /// The reporting window, ns, and each domain's CPU time when the
    /// current one began.
    window: Option<i64>,
    window_start_cpu: Vec<i64>,
    check_at_windows: bool,
    /// The fewest pCPUs the pool has had so far (for the wait bound).
    fewest_online: i64,
    /// [`SimOptions::dumps`].
    dumps: Option<(i64, i64)>,
}

impl<'a, H: SimPolicy> Sim<'a, H> {
    fn run(&mut self) -> Result<(), SimError> {
        self.eng
            .set_global_params(H::global(&self.sc.pool))
            .map_err(|e| SimError::BadInput {
                field: match e {
                    sched_core::ParamError::ExactCreditOnly => "pool.xen_exact".into(),
                    _ => "pool".into(),
                },
                message: e.to_string(),
            })?;
        for c in 0..self.c.len() {
            self.eng.add_pcpu(CpuId(c as u16));
        }
        for (i, d) in self.sc.domains.iter().enumerate() {
            self.plat
                .post(d.start.as_ns(), EventKind::DomStart(i as u16));
            if let Some(stop) = d.stop {
                self.plat.post(stop.as_ns(), EventKind::DomStop(i as u16));
            }
        }
        for (i, c) in self.sc.changes.iter().enumerate() {
            self.plat.post(c.at.as_ns(), EventKind::Change(i as u16));
        }
        if let Some(w) = self.window {
            self.plat.post(w, EventKind::Window);
        }
        self.quiesce()?;
        while let Some(ev) = self.plat.pop() {
            if ev.at() != self.plat.now_ns() {
                if self.check {
                    self.check_invariants();
                }
                self.plat.set_now(ev.at());
            }
            self.stats.events += 1;
            self.handle(&ev)?;
            // Xen runs every timer due at an instant (the slice timer too)
            // in its timer softirq before the schedule softirq they raise.
            if ev.kind.is_timer() && self.plat.timer_next_at(ev.at()) {
                continue;
            }
            self.quiesce()?;
        }
        if self.check {
            self.check_invariants();
        }
        Ok(())
    }

    fn now(&self) -> i64 {
        self.plat.now_ns()
    }

    fn handle(&mut self, ev: &crate::platform::Event) -> Result<(), SimError> {
        match ev.kind {
            EventKind::Timer { cpu, slot } => {
                if let Some(kind) = self.plat.timer_due(ev, cpu, slot) {
                    self.eng.timer_fired(CpuId(cpu), kind);
                    self.dump(CpuId(cpu));
                }
            }
            EventKind::Slice { cpu } => {
                if self.plat.due(&mut self.c[usize::from(cpu)].slice, ev) {
                    self.plat_raise(cpu);
                }
            }
            EventKind::Complete { vcpu } => {
                let k = vcpu as usize;
                if self.plat.due(&mut self.v[k].comp, ev)
                    && matches!(self.v[k].sched, Sched::Running(_))
                {
                    self.progress(k);
                    self.arm(k);
                }
            }
            EventKind::Arrival { vcpu, workload } => self.arrival(vcpu as usize, workload),
            EventKind::DomStart(d) => self.start_domain(usize::from(d))?,
            EventKind::DomStop(d) => self.stop_domain(usize::from(d)),
            EventKind::Change(i) => self.change(usize::from(i))?,
            EventKind::Window => self.end_window(),
        }
        Ok(())
    }

    /// With [`SimOptions::dumps`], keeps the scheduler's dump after a
    /// decision or a timer on `cpu`.
    fn dump(&mut self, cpu: CpuId) {
        let now = self.now();
        if self.dumps.is_some_and(|(a, b)| (a..=b).contains(&now)) {
            let mut text = String::new();
            let _ = self.eng.dump(&mut text);
            let _ = self.eng.dump_cpu(cpu, &mut text);
            self.stats.dumps.push((now, cpu.0, text));
        }
    }

    fn plat_raise(&self, cpu: u16) {
        sched_core::Platform::raise_softirq(&self.plat, CpuId(cpu));
    }

    /// Acts on requests and pending softirqs until none is left at this instant.
    fn quiesce(&mut self) -> Result<(), SimError> {
        let mut rounds = 0u32;
        loop {
            self.drain_requests();
            // An offline pCPU runs nothing: its softirqs are dropped.
            let pending = self.plat.take_softirqs().and(&self.online);
            if pending.is_empty() {
                return Ok(());
            }
            for cpu in pending.iter() {
                self.schedule(cpu, false);
                self.drain_requests();
            }
            rounds += 1;
            if rounds > MAX_ROUNDS_PER_INSTANT {
                return Err(SimError::Internal(format!(
                    "t={}ns: softirqs keep being raised; the scheduler does not settle",
                    self.now()
                )));
            }
        }
    }

    fn drain_requests(&mut self) {
        loop {
            let mut buf = std::mem::take(&mut self.req_buf);
            if !self.plat.take_requests(&mut buf) {
                self.req_buf = buf;
                return;
            }
            for r in buf.drain(..) {
                match r {
                    Request::Pause(t) => {
                        if let Some(v) = self.v.get_mut(t.0) {
                            v.paused = true;
                            self.update(t.0);
                        }
                    }
                    Request::Unpause(t) => {
                        if let Some(v) = self.v.get_mut(t.0) {
                            v.paused = false;
                            self.update(t.0);
                            // Not woken (nothing to do): say so, as the
                            // platform contract asks, so the no-boost mark
                            // of the unpark does not outlive it.
                            if self.v[t.0].sched == Sched::Idle {
                                self.eng.sleep(&self.vrec[t.0]);
                            }
                        }
                    }
                    Request::Migrate(t) => {
                        if let Some(v) = self.v.get_mut(t.0) {
                            if let Sched::Running(c) = v.sched {
                                v.migrate = true;
                                self.plat_raise(c);
                            }
                        }
                    }
                }
            }
            self.req_buf = buf;
        }
    }

    /// Brings the scheduler's view of `k` in line with the guest: wake on
    /// blocked→runnable, sleep a queued vCPU that may no longer run, make a
    /// running one's pCPU reschedule, remove a stopping one once it is off.
    fn update(&mut self, k: usize) {
        let now = self.now();
        let v = &mut self.v[k];
        self.plat.set_has_work(k, v.guest.has_work());
        let runnable = v.guest.has_work() && !v.paused && !v.stopping;
        match v.sched {
            Sched::Idle => {
                if v.stopping {
                    self.remove(k);
                } else if runnable {
                    v.sched = Sched::Queued;
                    v.wake_at = Some(now);
                    v.queued_at = Some(now);
                    self.eng.wake(&self.vrec[k]);
                    self.note_vcpu(k, |vcpu, cpu| TraceKind::Wake { vcpu, cpu });
                }
            }
            Sched::Queued => {
                if !runnable {
                    v.sched = Sched::Idle;
                    v.wake_at = None;
                    v.queued_at = None;
                    self.eng.sleep(&self.vrec[k]);
                    self.note_vcpu(k, |vcpu, cpu| TraceKind::Sleep { vcpu, cpu });
                    if self.v[k].stopping {
                        self.remove(k);
                    }
                }
            }
            Sched::Running(c) => {
                if !runnable || v.migrate {
                    self.plat_raise(c);
                }
            }
            Sched::Offline | Sched::Removed => {}
        }
    }

    fn remove(&mut self, k: usize) {
        let now = self.now();
        let v = &mut self.v[k];
        v.sched = Sched::Removed;
        v.comp.cancel();
        self.m[usize::from(v.dom)].censor(&v.guest, now);
        v.guest.clear();
        let d = usize::from(v.dom);
        self.eng.remove_vcpu(&self.vrec[k]);
        self.note_vcpu(k, |vcpu, _| TraceKind::Removed { vcpu });
        self.d[d].alive = self.d[d].alive.saturating_sub(1);
        if self.d[d].alive == 0 {
            self.eng.remove_domain(&self.drec[d]);
            self.m[d].seal();
        }
    }

    fn start_domain(&mut self, d: usize) -> Result<(), SimError> {
        let now = self.now();
        let dom = &self.sc.domains[d];
        self.eng.insert_domain(&self.drec[d]);
        let bad = |e: sched_core::ParamError| SimError::BadInput {
            field: format!("domain[{d}]"),
            message: e.to_string(),
        };
        // The layer's role first, as Xen creates a domain with it (the
        // driver role is fixed once vCPUs exist); weight and cap after the
        // vCPUs, as the toolstack sets them (a cap is checked against them).
        self.eng
            .set_dom_params(&self.drec[d], H::dom_params(dom, false))
            .map_err(bad)?;
        let (first, count) = (self.d[d].first as usize, self.d[d].count as usize);
        for k in first..first + count {
            self.eng.insert_vcpu(&self.vrec[k]);
            self.v[k].sched = Sched::Idle;
            self.d[d].alive += 1;
            // Pinned only to pCPUs out of the pool: broken as if it had been
            // running when they left, restored when one is back.
            if !self.v[k].hard.intersects(&self.online) {
                let old = self.v[k].hard;
                self.v[k].broken = Some(old);
                self.set_hard(k, self.online);
                self.place(k);
            }
        }
        // After the vCPUs, as Xen's toolstack does: a cap is checked against
        // the domain's vCPU count.
        self.eng
            .set_dom_params(&self.drec[d], H::dom_params(dom, true))
            .map_err(bad)?;
        for k in first..first + count {
            for w in 0..self.v[k].guest.len() {
                let t = self.v[k].guest.first_arrival(w, now);
                self.plat.post(
                    t,
                    EventKind::Arrival {
                        vcpu: k as u32,
                        workload: w as u16,
                    },
                );
            }
        }
        Ok(())
    }

    /// A reporting window ends: each domain's CPU time in it, then the next.
    fn end_window(&mut self) {
        let now = self.now();
        for c in 0..self.c.len() {
            self.account(c, now);
        }
        let cpu = self
            .m
            .iter()
            .zip(&mut self.window_start_cpu)
            .enumerate()
            .filter_map(|(d, (m, start))| {
                let got = m.cpu_ns - std::mem::replace(start, m.cpu_ns);
                (got > 0).then_some((d as u16, got))
            })
            .collect();
        self.stats
            .windows
            .push(crate::WindowCpu { end_ns: now, cpu });
        if self.check_at_windows {
            self.check_invariants();
        }
        if let Some(w) = self.window {
            self.plat.post(now.saturating_add(w), EventKind::Window);
        }
    }

    /// Sets `k`'s hard affinity, in the host's view and the scheduler's.
    fn set_hard(&mut self, k: usize, hard: CpuMask) {
        self.v[k].hard = hard;
        self.eng
            .set_affinity(&self.vrec[k], Affinity { hard, soft: None });
    }

    /// Places the not running `k` anew (`pick_resource`, `migrate`) and wakes
    /// it if it is runnable.
    fn place(&mut self, k: usize) {
        let r = &self.vrec[k];
        let to = self.eng.pick_cpu(r);
        self.eng.migrate(r, to);
        self.note_vcpu(k, |vcpu, cpu| TraceKind::Picked { vcpu, cpu });
        self.update(k);
    }

    fn stop_domain(&mut self, d: usize) {
        let (first, count) = (self.d[d].first as usize, self.d[d].count as usize);
        for k in first..first + count {
            if matches!(self.v[k].sched, Sched::Offline | Sched::Removed) {
                continue;
            }
            self.v[k].stopping = true;
            self.update(k);
        }
    }

    fn arrival(&mut self, k: usize, w: u16) {
        let now = self.now();
        let v = &self.v[k];
        if v.stopping || matches!(v.sched, Sched::Offline | Sched::Removed) {
            return;
        }
        let running = matches!(v.sched, Sched::Running(_));
        if running {
            self.progress(k);
        }
        // I/O reaching the guest is an event for the scheduler, whatever
        // the vCPU's state (before the wake it may cause).
        if self.v[k].guest.is_event(usize::from(w)) {
            self.eng.event(&self.vrec[k]);
        }
        let v = &mut self.v[k];
        let next = v
            .guest
            .arrive(usize::from(w), now, &mut self.m[usize::from(v.dom)]);
        if let Some(t) = next {
            self.plat.post(
                t,
                EventKind::Arrival {
                    vcpu: k as u32,
                    workload: w,
                },
            );
        }
        if running {
            self.arm(k);
        } else {
            self.update(k);
        }
    }

    /// Credits the running `k` with the progress it made up to now.
    fn progress(&mut self, k: usize) {
        let now = self.now();
        let v = &mut self.v[k];
        let Sched::Running(c) = v.sched else { return };
        let from = v.progress_from.max(self.c[usize::from(c)].overhead_until);
        if now > from {
            let m = &mut self.m[usize::from(v.dom)];
            m.work_ns += now - from;
            v.guest.progress(from, now - from, m);
        }
        v.progress_from = now;
    }

    /// Queues the completion of the running `k`'s current item (making any
    /// earlier one stale), or blocks it when it has nothing left to do.
    fn arm(&mut self, k: usize) {
        let now = self.now();
        let v = &mut self.v[k];
        v.comp.cancel();
        let Sched::Running(c) = v.sched else { return };
        if !v.guest.has_work() {
            self.update(k);
            return;
        }
        if let Some(rem) = v.guest.until_next_completion() {
            let start = now.max(self.c[usize::from(c)].overhead_until);
            self.plat.arm(
                &mut v.comp,
                start.saturating_add(rem),
                EventKind::Complete { vcpu: k as u32 },
            );
        }
    }

    /// Adds the time since the last accounting to `c`'s running vCPU.
    fn account(&mut self, c: usize, now: i64) {
        let cs = &mut self.c[c];
        if let Some(k) = cs.running {
            let dt = now - cs.last_acct;
            cs.busy_ns += dt;
            self.m[usize::from(self.v[k as usize].dom)].cpu_ns += dt;
        }
        cs.last_acct = now;
    }

    /// `do_schedule` on `cpu` and the context switch it asks for.
    fn schedule(&mut self, cpu: CpuId, tasklet_work: bool) {
        let now = self.now();
        let c = cpu.index();
        let prev = self.c[c].running;
        let mut prev_runnable = false;
        if let Some(p) = prev {
            let p = p as usize;
            self.progress(p);
            self.account(c, now);
            let v = &self.v[p];
            prev_runnable = v.guest.has_work() && !v.paused && !v.stopping && !v.migrate;
        }
        let d = self
            .eng
            .do_schedule(cpu, Time(now), prev_runnable, tasklet_work);
        self.stats.decisions += 1;
        self.dump(cpu);
        let next = d.next.map(|t| t.0 as u32);
        if self.trace {
            let who = |k: u32| (self.v[k as usize].dom, self.v[k as usize].id);
            let left = match prev.map(|p| &self.v[p as usize]) {
                Some(v) if !v.guest.has_work() => Left::Blocked,
                Some(_) if !prev_runnable => Left::Offline,
                _ => Left::Runnable,
            };
            let kind = TraceKind::Schedule {
                cpu: cpu.0,
                prev: prev.map(who),
                next: next.map(who),
                left,
                tasklet: tasklet_work,
                slice_ns: d.slice.map_or(-1, |s| s.as_ns()),
            };
            self.stats
                .sched_events
                .push(TraceEvent { at_ns: now, kind });
        }

        let cs = &mut self.c[c];
        cs.slice.cancel();
        if let Some(s) = d.slice {
            let at = self.plat.round_timer(now.saturating_add(s.as_ns()));
            self.plat
                .arm(&mut cs.slice, at, EventKind::Slice { cpu: cpu.0 });
        }

        if next == prev {
            if let Some(n) = next {
                if !prev_runnable {
                    self.violation(format!(
                        "t={now}ns: cpu{c} kept running {} though it was not runnable",
                        self.vname(n as usize)
                    ));
                }
                self.arm(n as usize);
            }
            return;
        }

        if let Some(p) = prev {
            self.trace_run(c, p, now);
            let p = p as usize;
            let v = &mut self.v[p];
            v.comp.cancel();
            v.sched = if prev_runnable {
                Sched::Queued
            } else {
                Sched::Idle
            };
            v.wake_at = None;
            v.queued_at = prev_runnable.then_some(now);
            self.eng.context_saved(&self.vrec[p]);
            if std::mem::take(&mut self.v[p].migrate) && !self.v[p].stopping {
                let r = &self.vrec[p];
                let to = self.eng.pick_cpu(r);
                self.eng.migrate(r, to);
                self.note_vcpu(p, |vcpu, cpu| TraceKind::Picked { vcpu, cpu });
                if to != cpu {
                    self.m[usize::from(self.v[p].dom)].migrations += 1;
                }
            }
            self.update(p);
        }

        self.c[c].running = next;
        if let Some(n) = next {
            let k = n as usize;
            match self.v[k].sched {
                Sched::Queued => {}
                other => {
                    let what = match other {
                        Sched::Removed => "a removed vCPU",
                        Sched::Offline => "a vCPU of a domain not started",
                        Sched::Running(_) => "a vCPU running elsewhere",
                        _ => "a vCPU that is not runnable",
                    };
                    self.violation(format!(
                        "t={now}ns: cpu{c} picked {what}: {}",
                        self.vname(k)
                    ));
                }
            }
            let was_removed = self.v[k].sched == Sched::Removed;
            let refill = self.c[c].last_ran != Some(n);
            let cost = self.sc.host.context_switch.as_ns()
                + if refill {
                    self.sc.host.cache_refill.as_ns()
                } else {
                    0
                };
            let cs = &mut self.c[c];
            cs.since = now;
            cs.overhead_until = now + cost;
            cs.last_ran = Some(n);
            cs.last_acct = now;
            cs.switches += 1;
            let v = &mut self.v[k];
            v.sched = Sched::Running(cpu.0);
            v.progress_from = now;
            let m = &mut self.m[usize::from(v.dom)];
            m.switches += 1;
            if d.migrated {
                m.migrations += 1;
            }
            if let Some(at) = v.wake_at.take() {
                m.record(Kind::Sched, now, now - at);
            }
            if let Some(at) = v.queued_at.take() {
                m.record(Kind::Wait, now, now - at);
            }
            if was_removed {
                // Never let it run: deschedule it again at once.
                self.v[k].stopping = true;
            }
            self.arm(k);
        }
    }
}
