//! The host operations a byte string decodes into. Arguments stay raw
//! bytes: the host maps them onto what exists when the operation is applied
//! (a live domain, an inserted vCPU, a pCPU of the machine), so that every
//! input means something and mutations of one byte change one thing.

/// Reads an input one byte at a time; zeros once it is used up.
pub(crate) struct Bytes<'d> {
    data: &'d [u8],
    pos: usize,
}

impl<'d> Bytes<'d> {
    pub(crate) fn new(data: &'d [u8]) -> Self {
        Bytes { data, pos: 0 }
    }
    pub(crate) fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    pub(crate) fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    pub(crate) fn array<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.u8())
    }
}

/// One host operation, as Xen's core (or its toolstack) would issue it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `domain_create`: the policy's role, then 1–4 vCPUs (runnable at
    /// once, as after the first unpause), then weight and cap.
    CreateDomain { vcpus: u8, pin: u8, params: [u8; 4] },
    /// Another vCPU for a live domain (at most 4).
    AddVcpu { dom: u8, pin: u8 },
    /// `domain_destroy`: pause every vCPU, wait until none runs, remove.
    DestroyDomain { dom: u8 },
    /// A blocked vCPU becomes runnable (`vcpu_wake`).
    Wake { vcpu: u8 },
    /// The running vCPU blocks (`vcpu_block`: the host raises the softirq).
    Block { vcpu: u8 },
    /// The running vCPU yields (`vcpu_yield`).
    Yield { vcpu: u8 },
    /// An event reaches a vCPU; `wake` also unblocks it if blocked.
    Event { vcpu: u8, wake: bool },
    /// `vcpu_pause` (the `sleep` op when it was runnable).
    Pause { vcpu: u8 },
    /// `vcpu_unpause`.
    Unpause { vcpu: u8 },
    /// Time passes; due timers fire in order (`code` encodes how long).
    Advance { code: u8 },
    /// A spurious `SCHEDULE_SOFTIRQ` on a pCPU.
    Schedule { cpu: u8 },
    /// `adjust` putinfo with values that may be out of bounds.
    SetDomParams { dom: u8, params: [u8; 4] },
    /// `adjust_global` putinfo with values that may be out of bounds.
    SetGlobalParams { params: [u8; 5] },
    /// `vcpu_set_affinity` (hard, and soft when `soft` is odd).
    SetAffinity { vcpu: u8, hard: u8, soft: u8 },
    /// A pCPU leaves the pool (cpu offline / cpupool removal).
    RemovePcpu { cpu: u8 },
    /// A pCPU (back) into the pool.
    AddPcpu { cpu: u8 },
    /// Context switches in flight complete (`context_saved`); only matters
    /// when the run defers them.
    SaveContexts,
}

impl Op {
    /// The next operation of `b`; frequent ones take more opcodes.
    pub(crate) fn decode(b: &mut Bytes) -> Op {
        match b.u8() % 26 {
            0 | 1 => Op::CreateDomain {
                vcpus: b.u8(),
                pin: b.u8(),
                params: b.array(),
            },
            2 => Op::AddVcpu {
                dom: b.u8(),
                pin: b.u8(),
            },
            3 => Op::DestroyDomain { dom: b.u8() },
            4..=6 => Op::Wake { vcpu: b.u8() },
            7 | 8 => Op::Block { vcpu: b.u8() },
            9 => Op::Yield { vcpu: b.u8() },
            10 | 11 => {
                let vcpu = b.u8();
                Op::Event {
                    vcpu,
                    wake: vcpu & 0x80 != 0,
                }
            }
            12 => Op::Pause { vcpu: b.u8() },
            13 => Op::Unpause { vcpu: b.u8() },
            14..=17 => Op::Advance { code: b.u8() },
            18 => Op::Schedule { cpu: b.u8() },
            19 => Op::SetDomParams {
                dom: b.u8(),
                params: b.array(),
            },
            20 => Op::SetGlobalParams { params: b.array() },
            21 | 22 => Op::SetAffinity {
                vcpu: b.u8(),
                hard: b.u8(),
                soft: b.u8(),
            },
            23 => Op::RemovePcpu { cpu: b.u8() },
            24 => Op::AddPcpu { cpu: b.u8() },
            _ => Op::SaveContexts,
        }
    }
}

/// How long an [`Op::Advance`] lasts: 0–63 units of 10 µs, 100 µs, 1 ms or
/// 10 ms (the top two bits choose), so that slices, ticks (10 ms) and
/// accounting periods (30 ms) are all reached.
pub(crate) fn advance_ns(code: u8) -> i64 {
    let unit = [10_000, 100_000, 1_000_000, 10_000_000][usize::from(code >> 6)];
    i64::from(code & 63) * unit
}
