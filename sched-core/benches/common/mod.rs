//! The decision loops shared by `decision` (criterion, wall time) and
//! `decision_icount` (callgrind, instructions).
//!
//! One *decision* is the operation pair a busy pCPU performs over and over:
//! the running vCPU blocks and `do_schedule` picks the next one, then the
//! vCPU that blocked wakes again (`wake`, which queues it). With `N + 1`
//! vCPUs on one pCPU the runqueue holds exactly `N` between decisions.
//!
//! The priority mix is half and half, so that an insertion into a sorted
//! list stops in the middle rather than at either end:
//! - domain 1, `N/2 + 1` "I/O-bound" vCPUs: each has run and blocked once, so
//!   every wake finds it UNDER and boosts it (`csched_unit_wake`); they
//!   round-robin among themselves through the BOOST band;
//! - domain 2, `N/2` "CPU hogs": each ran 50 ms and the accounting pass then
//!   made them OVER; they stay queued behind the BOOST vCPUs.
//!
//! The clock advances by [`STEP`] per decision, so `do_schedule` really burns
//! credit. No timer fires inside the measured loop (no tick, no accounting
//! pass), so priorities stay as set up: BOOST never decays to UNDER. That
//! keeps a decision a pure `do_schedule` + `wake` and the workload stationary.
//!
//! [`SortedList`] is a model of the structure Xen 4.17 uses instead (one
//! doubly linked list per pCPU, kept sorted by a linear scan on insertion,
//! FIFO among equal priorities; the pick takes the head) driven through the
//! same pair of operations on the same state. It models the runqueue only,
//! not the rest of `csched_schedule`, so it is a lower bound for Xen.

#![allow(dead_code)] // each bench binary uses a different part

use std::boxed::Box;
use std::vec::Vec;

use sched_core::mock::MockPlatform;
use sched_core::{
    CpuId, CpuMask, Credit1, CreditDomParams, CreditEngine, DomData, DomId, DomParams, EdfCredit,
    EdfDomParams, Hooks, PcpuData, Pri, RtMode, SchedOps, Span, Time, TimerKind, VSlicer,
    VSlicerDomParams, VcpuData, VcpuToken, MAX_CPUS,
};

/// Runnable vCPUs (queued between decisions) the benchmarks use.
pub const SIZES: [usize; 3] = [8, 64, 1024];

/// Mock time that passes per decision.
pub const STEP: Span = Span::us(100);

const CPU: CpuId = CpuId(0);

type V<H> = VcpuData<'static, H>;
type Engine<H> = CreditEngine<'static, &'static MockPlatform, H>;

/// How many vCPUs of each kind for `n` queued: `(boosted, over)`; one of the
/// boosted ones is running at any time.
fn split(n: usize) -> (usize, usize) {
    assert!(n >= 2 && n & 1 == 0, "N must be even and at least 2");
    (n / 2 + 1, n / 2)
}

/// A decision loop: one call to [`Loop::decide`] is one decision.
pub trait Loop {
    /// Performs one decision; returns the token of the vCPU picked.
    fn decide(&mut self) -> usize;
    /// How many vCPUs are queued (not running).
    fn queued(&self) -> usize;
}

/// A policy of this crate on one pCPU of a mock platform: credit1, or a
/// layer with the I/O-bound domain's parameters set by [`LoopPolicy`].
pub struct EngineLoop<H: Hooks = Credit1> {
    p: &'static MockPlatform,
    s: &'static Engine<H>,
    now: Time,
    running: &'static V<H>,
    /// Every vCPU, indexed by its token (a decision names the token).
    by_token: Vec<&'static V<H>>,
}

/// How a policy's loop is set up.
pub trait LoopPolicy: Hooks {
    /// The I/O-bound domain's layer parameters.
    fn io_params() -> Self::DomParams;
}

impl LoopPolicy for Credit1 {
    fn io_params() {}
}

/// vSlicer: the I/O-bound domain is latency-sensitive (1 ms microslices),
/// so every decision also runs the layer's counting and pick hooks.
impl LoopPolicy for VSlicer {
    fn io_params() -> VSlicerDomParams {
        VSlicerDomParams {
            microslice: Span::ms(1),
        }
    }
}

fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

impl<H: LoopPolicy> EngineLoop<H> {
    /// Sets up `n` queued vCPUs (plus one running) as described in the module
    /// docs, and runs the loop until it is in its steady state.
    pub fn new(n: usize) -> Self {
        let (nb, no) = split(n);
        let p: &'static MockPlatform = leak(MockPlatform::new());
        let pcpus: &'static [PcpuData<'static, H>] = leak([PcpuData::new()]);
        let s: &'static Engine<H> = leak(CreditEngine::new(p, pcpus));
        s.add_pcpu(CPU);
        let all = CpuMask::first_n(MAX_CPUS);
        let io = leak(DomData::new(DomId(1)));
        let hogs = leak(DomData::new(DomId(2)));
        s.insert_domain(io);
        s.insert_domain(hogs);
        // Tokens 0..nb are the boosted vCPUs, nb..nb+no the hogs.
        let boosted: Vec<&'static V<H>> = (0..nb)
            .map(|i| leak(VcpuData::new(VcpuToken(i), io, i as u16, all)))
            .collect();
        let over: Vec<&'static V<H>> = (0..no)
            .map(|i| leak(VcpuData::new(VcpuToken(nb + i), hogs, i as u16, all)))
            .collect();
        for v in boosted.iter().chain(&over) {
            s.insert_vcpu(v);
        }
        let io_params = DomParams {
            credit: CreditDomParams::default(),
            policy: H::io_params(),
        };
        s.set_dom_params(io, io_params).expect("valid parameters");

        // Run every vCPU once: its first wake (right after placement) does
        // not boost. The hogs run 50 ms each and are ticked, which charges
        // them and puts them on the accounting lists.
        let mut now = Time::ZERO;
        let mut prev: Option<&'static V<H>> = None;
        for (i, &v) in over.iter().chain(&boosted).enumerate() {
            p.set_now(now);
            s.wake(v);
            let d = s.do_schedule(CPU, now, false, false);
            assert_eq!(d.next, Some(v.token()), "setup pick");
            if let Some(pv) = prev {
                s.context_saved(pv);
            }
            prev = Some(v);
            if i < no {
                now += Span::ms(50);
                p.set_now(now);
                s.timer_fired(CPU, TimerKind::Tick);
            } else {
                now += STEP;
            }
        }
        p.set_now(now);
        let d = s.do_schedule(CPU, now, false, false);
        assert!(d.next.is_none(), "setup: nothing should be runnable");
        if let Some(pv) = prev {
            s.context_saved(pv);
        }
        // The accounting pass makes the hogs OVER; the others never earned
        // or burnt enough to be accounted and stay UNDER.
        s.timer_fired(CPU, TimerKind::Acct);
        assert!(over.iter().all(|v| v.pri() == Pri::Over), "hogs not OVER");
        assert!(
            boosted.iter().all(|v| v.pri() == Pri::Under),
            "io not UNDER"
        );

        for &v in over.iter().chain(&boosted) {
            s.wake(v);
        }
        assert!(
            boosted.iter().all(|v| v.pri() == Pri::Boost),
            "io not BOOST"
        );
        now += STEP;
        p.set_now(now);
        let first = s.do_schedule(CPU, now, false, false).next.expect("a pick");
        assert_eq!(first, boosted[0].token(), "first pick");
        let by_token: Vec<&'static V<H>> = boosted.iter().chain(&over).copied().collect();

        let mut l = EngineLoop {
            p,
            s,
            now,
            running: by_token[first.0],
            by_token,
        };
        for _ in 0..2 * (n + 1) {
            l.decide();
        }
        assert_eq!(l.queued(), n);
        l
    }
}

impl<H: LoopPolicy> Loop for EngineLoop<H> {
    #[inline]
    fn decide(&mut self) -> usize {
        let now = self.now + STEP;
        self.now = now;
        self.p.set_now(now);
        let prev = self.running;
        let next = match self.s.do_schedule(CPU, now, false, false).next {
            Some(t) => self.by_token[t.0],
            None => panic!("idle with {} queued", self.queued()),
        };
        if !core::ptr::eq(next, prev) {
            self.s.context_saved(prev);
        }
        self.s.wake(prev);
        self.running = next;
        next.token().0
    }

    fn queued(&self) -> usize {
        self.s.queued(CPU) as usize
    }
}

/// Xen's per-pCPU runqueue structure, modelled: an intrusive circular doubly
/// linked list with a sentinel, sorted by priority, FIFO within a priority.
/// Nodes are a cache line each, as Xen's per-vCPU records are at least that.
pub struct SortedList {
    nodes: Vec<Node>,
    running: u32,
    len: usize,
}

#[repr(align(64))]
#[derive(Clone, Copy)]
struct Node {
    prev: u32,
    next: u32,
    pri: i8,
}

/// The sentinel is the last node; vCPU `i` is node `i` (its token).
impl SortedList {
    /// The same state as [`EngineLoop::new`] builds, in steady state.
    pub fn new(n: usize) -> Self {
        let (nb, no) = split(n);
        let total = nb + no;
        let head = total as u32;
        let mut nodes = vec![
            Node {
                prev: head,
                next: head,
                pri: Pri::Idle as i8,
            };
            total + 1
        ];
        for (i, node) in nodes.iter_mut().enumerate().take(total) {
            node.pri = if i < nb {
                Pri::Boost as i8
            } else {
                Pri::Over as i8
            };
        }
        let mut l = SortedList {
            nodes,
            running: 0,
            len: 0,
        };
        // vCPU 0 runs; the others are queued in wake order (hogs, then I/O).
        for i in (nb..total).chain(1..nb) {
            l.insert(i as u32);
        }
        for _ in 0..2 * (n + 1) {
            l.decide();
        }
        assert_eq!(l.len, n);
        l
    }

    fn head(&self) -> u32 {
        (self.nodes.len() - 1) as u32
    }

    /// Insertion as credit1 does it: walk from the head past every entry of
    /// equal or higher priority, link in front of the first lower one.
    #[inline]
    fn insert(&mut self, i: u32) {
        let head = self.head();
        let pri = self.nodes[i as usize].pri;
        let mut it = self.nodes[head as usize].next;
        while it != head && self.nodes[it as usize].pri >= pri {
            it = self.nodes[it as usize].next;
        }
        let before = self.nodes[it as usize].prev;
        self.nodes[i as usize].prev = before;
        self.nodes[i as usize].next = it;
        self.nodes[before as usize].next = i;
        self.nodes[it as usize].prev = i;
        self.len += 1;
    }

    #[inline]
    fn pop_front(&mut self) -> Option<u32> {
        let head = self.head();
        let first = self.nodes[head as usize].next;
        if first == head {
            return None;
        }
        let after = self.nodes[first as usize].next;
        self.nodes[head as usize].next = after;
        self.nodes[after as usize].prev = head;
        self.len -= 1;
        Some(first)
    }
}

impl Loop for SortedList {
    #[inline]
    fn decide(&mut self) -> usize {
        // Pick: the head (on one pCPU there is nothing to steal, so an OVER
        // head is taken as it is).
        let prev = self.running;
        let next = match self.pop_front() {
            Some(v) => v,
            None => panic!("empty list"),
        };
        // Wake: an UNDER vCPU is boosted, then inserted in order.
        let p = &mut self.nodes[prev as usize].pri;
        if *p == Pri::Under as i8 {
            *p = Pri::Boost as i8;
        }
        self.insert(prev);
        self.running = next;
        next as usize
    }

    fn queued(&self) -> usize {
        self.len
    }
}

/// EDF+credit: the I/O-bound domain is periodic real-time with a deadline
/// far enough away never to fall due, so every wake queues it in the EDF
/// tree (O(log n)) and every pick takes it out, on top of credit's work.
impl LoopPolicy for EdfCredit {
    fn io_params() -> EdfDomParams {
        EdfDomParams {
            mode: RtMode::Periodic,
            deadline: Span::secs(4),
            ..EdfDomParams::default()
        }
    }
}

/// The name the benchmarks report for policy `H`'s engine.
pub fn engine_name<H: Hooks>() -> String {
    format!("{}-engine", H::INFO.name)
}

/// Xen's sorted-list model, by the name the benchmarks report.
pub const XEN_LIST: &str = "xen-sorted-list";

/// Checks that both loops make the same picks: the I/O-bound vCPUs in
/// round-robin order, never a hog. Panics with the first difference.
pub fn cross_check<H: LoopPolicy>(n: usize, decisions: usize) {
    let mut e = EngineLoop::<H>::new(n);
    let mut x = SortedList::new(n);
    let (nb, _) = split(n);
    for i in 0..decisions {
        let a = e.decide();
        let b = x.decide();
        assert_eq!(
            a, b,
            "N={n}: decision {i}: engine picked {a}, Xen's list {b}"
        );
        assert!(a < nb, "N={n}: decision {i}: picked an OVER vCPU ({a})");
        assert_eq!(e.queued(), n);
    }
}
