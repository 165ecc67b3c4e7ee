//! What a traced run records: who ran where and when (Perfetto), and the
//! scheduling events the xentrace writer needs.

use sched_core::SchedOps;

use super::Sim;
use crate::policy::SimPolicy;
use crate::{TraceEvent, TraceKind, TraceRun};

impl<'a, H: SimPolicy> Sim<'a, H> {
    /// Records that vCPU `k` ran on `c` from its switch-in until `end`.
    pub(super) fn trace_run(&mut self, c: usize, k: u32, end: i64) {
        if !self.trace {
            return;
        }
        let k = k as usize;
        self.stats.trace.push(TraceRun {
            cpu: c as u16,
            domain: self.v[k].dom,
            vcpu: self.v[k].id,
            start_ns: self.c[c].since,
            end_ns: end,
        });
    }

    /// Records an event about vCPU `k` (with `trace`); `kind` gets the
    /// vCPU and the pCPU it is placed on now.
    pub(super) fn note_vcpu(&mut self, k: usize, kind: impl FnOnce((u16, u16), u16) -> TraceKind) {
        if self.trace {
            let r = &self.vrec[k];
            let kind = kind((self.v[k].dom, self.v[k].id), self.eng.processor_of(r).0);
            let at_ns = self.now();
            self.stats.sched_events.push(TraceEvent { at_ns, kind });
        }
    }
}
