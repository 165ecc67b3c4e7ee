//! `vsched simulate --trace FILE --trace-format xentrace`: a simulated run
//! as the binary file Xen's `xentrace` writes, so that Xen's `xenalyze`
//! (`xenalyze --summary --cpu-hz 2G FILE`) reads it as it reads a real host.
//!
//! The file, as `tools/xentrace/xentrace.c` writes it (Xen 4.17): per-pCPU
//! windows, each a `TRC_TRACE_CPU_CHANGE` record (pCPU, window size in
//! bytes) followed by that pCPU's records. Every record is a header word
//! (event id in bits 0-27, count of data words in 28-30, TSC present in
//! 31), then the 64-bit TSC (low word first), then the data words
//! (`struct t_rec`, xen/include/public/trace.h:271). xentrace copies each
//! pCPU's buffer every 100 ms (`POLL_SLEEP_MILLIS`, xentrace.c:49); here a
//! window holds one pCPU's records of 100 ms of simulated time.
//!
//! Mapping (stated in the README):
//! - TSC = 2^32 + 2 x ns: a 2 GHz TSC ([`TSC_HZ`]), never 0 (xenalyze takes
//!   TSC 0 for "none"). Records of one instant get consecutive values (one
//!   cycle apart), so that xenalyze, which merges the pCPUs' streams by
//!   TSC, replays them in the simulator's order;
//! - domain ids: the scenario's domain `i` is domain `i + 1` (`d1` is the
//!   first domain, so none is mistaken for dom0); the idle vCPUs are Xen's
//!   (`DOMID_IDLE`, vCPU id = pCPU);
//! - records: Xen's core's at a decision (`TRC_SCHED_SWITCH_INFPREV`,
//!   `_INFNEXT`, `_SWITCH` and both runstate changes; `_SWITCH_INFCONT` and
//!   `TRC_SCHED_CONTINUE_RUNNING` when it keeps what runs), wakes, sleeps,
//!   blocks, domains' creation and destruction; credit1's
//!   `TRC_CSCHED_SCHEDULE` per decision, `_SCHED_TASKLET` when the idle vCPU
//!   is asked for and `_PICKED_CPU` where the host asks the scheduler
//!   (`pick_resource`). Not the ones only the scheduler's inside knows
//!   (tickles, steals, boosts, ratelimits, accounting);
//! - the end: a `TRC_SCHED_CONTINUE_RUNNING` for what each pCPU in the pool
//!   runs at the end of the run, time-stamped there, the one record the
//!   simulator adds: xenalyze closes a running stretch only at a record,
//!   and the JSON report counts CPU time up to the end.

use std::collections::VecDeque;

use sched_sim::{ChangeKind, Left, Scenario, TraceEvent, TraceKind, TraceVcpu};

/// The TSC frequency of the trace (`xenalyze --cpu-hz 2G`).
pub(crate) const TSC_HZ: u64 = 2_000_000_000;
/// TSC ticks per simulated ns.
const TSC_PER_NS: u64 = TSC_HZ / 1_000_000_000;
/// The TSC at simulated time 0.
const TSC_BASE: u64 = 1 << 32;
/// Simulated time per window (xentrace's poll interval).
const WINDOW_NS: i64 = 100_000_000;

// xen/include/public/trace.h (Xen 4.17), by line.
/// trace.h:13
const TRACE_EXTRA_SHIFT: u32 = 28;
/// trace.h:28
const TRC_HD_CYCLE_FLAG: u32 = 1 << 31;
/// trace.h:17, :82 (TRC_GEN + 3)
const TRC_TRACE_CPU_CHANGE: u32 = 0x0001_f000 + 3;
/// trace.h:40
const TRC_SCHED_MIN: u32 = 0x0002_1000;
/// trace.h:41
const TRC_SCHED_CLASS: u32 = 0x0002_2000;
/// trace.h:42
const TRC_SCHED_VERBOSE: u32 = 0x0002_8000;
/// trace.h:84; the old and new runstates go in bits 8-9 and 4-5
/// (`trace_runstate_change`, xen/common/sched/core.c:217-219).
const TRC_SCHED_RUNSTATE_CHANGE: u32 = TRC_SCHED_MIN + 1;
/// trace.h:85
const TRC_SCHED_CONTINUE_RUNNING: u32 = TRC_SCHED_MIN + 2;
/// trace.h:86
const TRC_SCHED_DOM_ADD: u32 = TRC_SCHED_VERBOSE + 1;
/// trace.h:87
const TRC_SCHED_DOM_REM: u32 = TRC_SCHED_VERBOSE + 2;
/// trace.h:88
const TRC_SCHED_SLEEP: u32 = TRC_SCHED_VERBOSE + 3;
/// trace.h:89
const TRC_SCHED_WAKE: u32 = TRC_SCHED_VERBOSE + 4;
/// trace.h:91
const TRC_SCHED_BLOCK: u32 = TRC_SCHED_VERBOSE + 6;
/// trace.h:95
const TRC_SCHED_SWITCH: u32 = TRC_SCHED_VERBOSE + 10;
/// trace.h:99
const TRC_SCHED_SWITCH_INFPREV: u32 = TRC_SCHED_VERBOSE + 14;
/// trace.h:100
const TRC_SCHED_SWITCH_INFNEXT: u32 = TRC_SCHED_VERBOSE + 15;
/// trace.h:102
const TRC_SCHED_SWITCH_INFCONT: u32 = TRC_SCHED_VERBOSE + 17;
/// credit1's events, `TRC_SCHED_CLASS_EVT(CSCHED, n)` (trace.h:67, scheduler
/// id `TRC_SCHED_CSCHED` = 0 at trace.h:59; the numbers are
/// xen/common/sched/credit.c:129-139).
const fn csched(n: u32) -> u32 {
    TRC_SCHED_CLASS + n
}
const TRC_CSCHED_SCHED_TASKLET: u32 = csched(1);
const TRC_CSCHED_PICKED_CPU: u32 = csched(5);
const TRC_CSCHED_SCHEDULE: u32 = csched(9);

// xen/include/public/vcpu.h:85-99: the runstates.
const RUNSTATE_RUNNING: u32 = 0;
const RUNSTATE_RUNNABLE: u32 = 1;
const RUNSTATE_BLOCKED: u32 = 2;
const RUNSTATE_OFFLINE: u32 = 3;

/// xen/include/public/xen.h:599
const DOMID_IDLE: u32 = 0x7fff;
/// xen/include/public/xen.h:562: ordinary domain ids are below this.
const DOMID_FIRST_RESERVED: usize = 0x7ff0;

/// The most domains a trace can name (ids 1 ..= 32751).
pub(crate) const MAX_DOMAINS: usize = DOMID_FIRST_RESERVED - 1;

/// One vCPU as the trace sees it.
#[derive(Clone, Copy)]
struct VcpuState {
    runstate: u32,
    /// When it last stopped running (its unit's `state_entry_time` in Xen,
    /// for `TRC_SCHED_SWITCH_INFNEXT`'s "runnable for").
    stopped_ns: i64,
}

/// One pCPU: what runs (`None`: its idle vCPU), since when, and the
/// records of the current window.
struct Pcpu {
    current: Option<TraceVcpu>,
    since_ns: i64,
    window: Vec<u8>,
}

struct Writer {
    out: Vec<u8>,
    pcpus: Vec<Pcpu>,
    vcpus: Vec<Vec<VcpuState>>,
    /// Per domain, vCPUs not yet removed.
    alive: Vec<u32>,
    /// The TSC and pCPU of the last record.
    last_tsc: u64,
    last_cpu: Option<u16>,
    window_end: i64,
}

/// The trace of one run: `events` as the simulator recorded them for
/// `sc` ([`sched_sim::SimStats::sched_events`]), `duration_ns` long.
/// The caller checks the domain count against [`MAX_DOMAINS`].
pub(crate) fn trace(sc: &Scenario, events: &[TraceEvent], duration_ns: i64) -> Vec<u8> {
    let mut w = Writer {
        out: Vec::new(),
        pcpus: (0..sc.host.pcpus)
            .map(|_| Pcpu {
                current: None,
                since_ns: 0,
                window: Vec::new(),
            })
            .collect(),
        vcpus: sc
            .domains
            .iter()
            .map(|d| {
                let start = d.start.as_ns();
                let v = VcpuState {
                    runstate: RUNSTATE_BLOCKED,
                    stopped_ns: start,
                };
                vec![v; usize::from(d.vcpus)]
            })
            .collect(),
        alive: sc.domains.iter().map(|d| u32::from(d.vcpus)).collect(),
        last_tsc: 0,
        last_cpu: None,
        window_end: WINDOW_NS,
    };
    // Domains are created at their start, before anything else of that
    // instant (the simulator's start events come first).
    let mut starts: Vec<(i64, usize)> = sc
        .domains
        .iter()
        .enumerate()
        .map(|(i, d)| (d.start.as_ns(), i))
        .filter(|&(t, _)| t < duration_ns)
        .collect();
    starts.sort();
    let mut starts = VecDeque::from(starts);
    for e in events {
        while let Some(&(t, d)) = starts.front().filter(|(t, _)| *t <= e.at_ns) {
            starts.pop_front();
            w.record(0, t, TRC_SCHED_DOM_ADD, &[domid(d as u16)]);
        }
        w.event(e);
    }
    for (t, d) in starts {
        w.record(0, t, TRC_SCHED_DOM_ADD, &[domid(d as u16)]);
    }
    for cpu in online_at_end(sc, duration_ns) {
        let v = w.pcpus[usize::from(cpu)].current;
        let (dom, vcpu) = ids(cpu, v);
        w.record(
            cpu,
            duration_ns,
            TRC_SCHED_CONTINUE_RUNNING,
            &[vcpu | dom << 16],
        );
    }
    w.flush();
    w.out
}

/// The trace's domain id of scenario domain `d`.
fn domid(d: u16) -> u32 {
    u32::from(d) + 1
}

/// (domain id, vCPU id) of `v` on `cpu` (`None`: the idle vCPU).
fn ids(cpu: u16, v: Option<TraceVcpu>) -> (u32, u32) {
    match v {
        Some((d, k)) => (domid(d), u32::from(k)),
        None => (DOMID_IDLE, u32::from(cpu)),
    }
}

/// The pCPUs in the pool at the end: all, less those `[[change]]`s took
/// out (applied in time order, as the simulator does) and did not bring back.
fn online_at_end(sc: &Scenario, duration_ns: i64) -> Vec<u16> {
    let mut online = vec![true; usize::from(sc.host.pcpus)];
    let mut changes: Vec<(i64, usize)> = sc
        .changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.at.as_ns(), i))
        .filter(|&(t, _)| t < duration_ns)
        .collect();
    changes.sort();
    for (_, i) in changes {
        if let ChangeKind::Pcpu { pcpu, online: on } = sc.changes[i].what {
            if let Some(o) = online.get_mut(usize::from(pcpu)) {
                *o = on;
            }
        }
    }
    (0..sc.host.pcpus)
        .filter(|&c| online[usize::from(c)])
        .collect()
}

impl Writer {
    fn event(&mut self, e: &TraceEvent) {
        let now = e.at_ns;
        match e.kind {
            TraceKind::Schedule {
                cpu,
                prev,
                next,
                left,
                tasklet,
                slice_ns,
            } => self.schedule(now, cpu, prev, next, left, tasklet, slice_ns),
            TraceKind::Wake { vcpu, cpu } => {
                let (d, k) = ids(cpu, Some(vcpu));
                self.record(cpu, now, TRC_SCHED_WAKE, &[d, k]);
                if self.vcpu(vcpu).runstate >= RUNSTATE_BLOCKED {
                    self.runstate(cpu, now, vcpu, RUNSTATE_RUNNABLE);
                }
            }
            TraceKind::Sleep { vcpu, cpu } => {
                let (d, k) = ids(cpu, Some(vcpu));
                self.record(cpu, now, TRC_SCHED_SLEEP, &[d, k]);
                if self.vcpu(vcpu).runstate == RUNSTATE_RUNNABLE {
                    self.runstate(cpu, now, vcpu, RUNSTATE_OFFLINE);
                }
            }
            TraceKind::Picked { vcpu, cpu } => {
                let (d, k) = ids(cpu, Some(vcpu));
                self.record(cpu, now, TRC_CSCHED_PICKED_CPU, &[d, k, u32::from(cpu)]);
            }
            TraceKind::Removed { vcpu: (d, _) } => {
                let alive = &mut self.alive[usize::from(d)];
                *alive = alive.saturating_sub(1);
                if *alive == 0 {
                    self.record(0, now, TRC_SCHED_DOM_REM, &[domid(d)]);
                }
            }
        }
    }

    /// A decision on `cpu`, recorded as credit1 and Xen's core record it
    /// (`csched_schedule`, `sched_switch_units`, `sched_context_switch`).
    #[allow(clippy::too_many_arguments)]
    fn schedule(
        &mut self,
        now: i64,
        cpu: u16,
        prev: Option<TraceVcpu>,
        next: Option<TraceVcpu>,
        left: Left,
        tasklet: bool,
        slice_ns: i64,
    ) {
        // Xen's records hold the slice as a 32-bit word (-1: none).
        let slice = slice_ns as u32;
        let (pd, pk) = ids(cpu, prev);
        let (nd, nk) = ids(cpu, next);
        // A vCPU that blocks or is put to sleep says so before its pCPU
        // reschedules (vcpu_block, vcpu_sleep_nosync).
        if prev.is_some() && prev != next {
            match left {
                Left::Blocked => self.record(cpu, now, TRC_SCHED_BLOCK, &[pd, pk]),
                Left::Offline => self.record(cpu, now, TRC_SCHED_SLEEP, &[pd, pk]),
                Left::Runnable => {}
            }
        }
        let d = u32::from(cpu) | u32::from(tasklet) << 16 | u32::from(prev.is_none()) << 24;
        self.record(cpu, now, TRC_CSCHED_SCHEDULE, &[d]);
        if tasklet {
            self.record(cpu, now, TRC_CSCHED_SCHED_TASKLET, &[]);
        }
        let since = self.pcpus[usize::from(cpu)].since_ns;
        let ran = (now - since) as u32;
        if prev == next {
            self.record(cpu, now, TRC_SCHED_SWITCH_INFCONT, &[pd, pk, ran, slice]);
            self.record(cpu, now, TRC_SCHED_CONTINUE_RUNNING, &[pk | pd << 16]);
            return;
        }
        let waited = match next {
            Some(v) if self.vcpu(v).runstate == RUNSTATE_RUNNABLE => {
                (now - self.vcpu(v).stopped_ns) as u32
            }
            _ => 0,
        };
        self.record(cpu, now, TRC_SCHED_SWITCH_INFPREV, &[pd, pk, ran]);
        self.record(cpu, now, TRC_SCHED_SWITCH_INFNEXT, &[nd, nk, waited, slice]);
        self.record(cpu, now, TRC_SCHED_SWITCH, &[pd, pk, nd, nk]);
        match prev {
            Some(v) => {
                let to = match left {
                    Left::Runnable => RUNSTATE_RUNNABLE,
                    Left::Blocked => RUNSTATE_BLOCKED,
                    Left::Offline => RUNSTATE_OFFLINE,
                };
                self.runstate(cpu, now, v, to);
                self.vcpu_mut(v).stopped_ns = now;
            }
            None => self.idle_runstate(cpu, now, RUNSTATE_RUNNING, RUNSTATE_RUNNABLE),
        }
        match next {
            Some(v) => self.runstate(cpu, now, v, RUNSTATE_RUNNING),
            None => self.idle_runstate(cpu, now, RUNSTATE_RUNNABLE, RUNSTATE_RUNNING),
        }
        let p = &mut self.pcpus[usize::from(cpu)];
        p.current = next;
        p.since_ns = now;
    }

    fn vcpu(&self, (d, k): TraceVcpu) -> VcpuState {
        self.vcpus[usize::from(d)][usize::from(k)]
    }

    fn vcpu_mut(&mut self, (d, k): TraceVcpu) -> &mut VcpuState {
        &mut self.vcpus[usize::from(d)][usize::from(k)]
    }

    /// `trace_runstate_change` (core.c:206): vCPU `v` goes to `to`.
    fn runstate(&mut self, cpu: u16, now: i64, v: TraceVcpu, to: u32) {
        let from = std::mem::replace(&mut self.vcpu_mut(v).runstate, to);
        let (d, k) = ids(cpu, Some(v));
        self.runstate_record(cpu, now, d, k, from, to);
    }

    fn idle_runstate(&mut self, cpu: u16, now: i64, from: u32, to: u32) {
        let (d, k) = ids(cpu, None);
        self.runstate_record(cpu, now, d, k, from, to);
    }

    fn runstate_record(&mut self, cpu: u16, now: i64, d: u32, k: u32, from: u32, to: u32) {
        let event = TRC_SCHED_RUNSTATE_CHANGE | (from & 3) << 8 | (to & 3) << 4;
        self.record(cpu, now, event, &[k | d << 16]);
    }

    /// Appends one record with a TSC to `cpu`'s window, closing the
    /// windows first when `now` is past the current one's end.
    fn record(&mut self, cpu: u16, now: i64, event: u32, data: &[u32]) {
        if now >= self.window_end {
            self.flush();
            self.window_end = (now / WINDOW_NS)
                .saturating_add(1)
                .saturating_mul(WINDOW_NS);
        }
        let after = self.last_tsc + u64::from(self.last_cpu != Some(cpu));
        let tsc = (TSC_BASE + now.max(0) as u64 * TSC_PER_NS).max(after);
        self.last_tsc = tsc;
        self.last_cpu = Some(cpu);
        let buf = &mut self.pcpus[usize::from(cpu)].window;
        encode(buf, event, Some(tsc), data);
    }

    /// Writes each pCPU's window that holds records, in pCPU order, as
    /// xentrace does at each poll.
    fn flush(&mut self) {
        for (cpu, p) in self.pcpus.iter_mut().enumerate() {
            if p.window.is_empty() {
                continue;
            }
            // A window is at most 100 ms of one pCPU's records: far below
            // 4 GiB (a record every 2 cycles would be 3.2 GB).
            let size = u32::try_from(p.window.len()).unwrap_or(u32::MAX);
            encode(
                &mut self.out,
                TRC_TRACE_CPU_CHANGE,
                None,
                &[cpu as u32, size],
            );
            self.out.append(&mut p.window);
        }
    }
}

/// One `struct t_rec` (trace.h:271-284), little-endian as on x86.
fn encode(buf: &mut Vec<u8>, event: u32, tsc: Option<u64>, data: &[u32]) {
    debug_assert!(data.len() <= 7 && event < 1 << TRACE_EXTRA_SHIFT);
    let mut header = event | (data.len() as u32) << TRACE_EXTRA_SHIFT;
    if tsc.is_some() {
        header |= TRC_HD_CYCLE_FLAG;
    }
    buf.extend_from_slice(&header.to_le_bytes());
    if let Some(t) = tsc {
        buf.extend_from_slice(&(t as u32).to_le_bytes());
        buf.extend_from_slice(&((t >> 32) as u32).to_le_bytes());
    }
    for w in data {
        buf.extend_from_slice(&w.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event ids, as Xen's headers spell them out in hex.
    #[test]
    fn event_ids_are_xens() {
        assert_eq!(TRC_TRACE_CPU_CHANGE, 0x0001_f003);
        assert_eq!(TRC_SCHED_RUNSTATE_CHANGE, 0x0002_1001);
        assert_eq!(TRC_SCHED_SWITCH, 0x0002_800a);
        assert_eq!(TRC_SCHED_SWITCH_INFPREV, 0x0002_800e);
        assert_eq!(TRC_SCHED_SWITCH_INFCONT, 0x0002_8011);
        assert_eq!(TRC_CSCHED_SCHEDULE, 0x0002_2009);
    }

    /// A record with a TSC and two data words, byte by byte.
    #[test]
    fn a_record_is_header_tsc_and_data() {
        let mut b = Vec::new();
        encode(&mut b, TRC_SCHED_WAKE, Some(0x1_2345_6789), &[3, 1]);
        let header: u32 = 0x8000_0000 | 2 << 28 | 0x0002_8004;
        let mut want = header.to_le_bytes().to_vec();
        want.extend_from_slice(&0x2345_6789u32.to_le_bytes());
        want.extend_from_slice(&1u32.to_le_bytes());
        want.extend_from_slice(&3u32.to_le_bytes());
        want.extend_from_slice(&1u32.to_le_bytes());
        assert_eq!(b, want);
    }

    /// xentrace's `CPU_CHANGE_HEADER` (xentrace.c:127-130): no TSC, two words.
    #[test]
    fn a_cpu_change_has_no_tsc() {
        let mut b = Vec::new();
        encode(&mut b, TRC_TRACE_CPU_CHANGE, None, &[1, 40]);
        assert_eq!(&b[..4], &0x2001_f003u32.to_le_bytes());
        assert_eq!(b.len(), 12);
    }
}
