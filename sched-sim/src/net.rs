//! The network half of a run (seed 001's path: a VM's scheduling delay,
//! then the shaper): the bytes a domain's guest sent, at the instants its
//! jobs completed, go through the domain's shaper (`sched_shaper`)
//! together with its bulk senders, after the run. The shaper is causal and
//! the guest does not wait for it, so doing this afterwards is exact.
//!
//! Per flow: packets (≤ 1460 bytes each), bytes, achieved rate, the delay
//! each packet spent in the shaper, RFC 3550 interarrival jitter of those
//! delays (the running estimate `J += (|D| − J) / 16`, averaged over the
//! flow); for the smooth window, its position at each adjust interval.

use sched_core::Time;
use sched_shaper::{Shaper, SmoothWindow, TokenBucket};

use crate::metrics::{Samples, Sent};
use crate::report::{FlowReport, NetReport, WindowSample};
use crate::scenario::{Domain, Flow, ShaperKind};

/// The largest packet payload.
const MTU: u32 = 1460;

struct FlowAcc {
    delays: Samples,
    bytes: u64,
    packets: u64,
    jitter_sum: f64,
    jitter: f64,
    last: Option<i64>,
    first: i64,
    last_out: i64,
}

impl FlowAcc {
    fn new() -> Self {
        FlowAcc {
            delays: Samples::default(),
            bytes: 0,
            packets: 0,
            jitter_sum: 0.0,
            jitter: 0.0,
            last: None,
            first: i64::MAX,
            last_out: 0,
        }
    }
    fn packet(&mut self, at: i64, out: i64, bytes: u32) {
        let d = out - at;
        self.delays.push(d);
        if let Some(prev) = self.last {
            self.jitter += ((d - prev).abs() as f64 - self.jitter) / 16.0;
            self.jitter_sum += self.jitter;
        }
        self.last = Some(d);
        self.bytes += u64::from(bytes);
        self.packets += 1;
        self.first = self.first.min(at);
        self.last_out = self.last_out.max(out);
    }
}

/// Runs `sent` (and the bulk flows, from `start` to `end`) through `d`'s
/// shaper; `None` when the domain is not shaped. A packet counts as sent
/// only if it leaves the shaper before `end`: what is still queued then
/// was not sent, whichever kind of flow offered it.
pub(crate) fn shape(d: &Domain, sent: &[Sent], start: i64, end: i64) -> Option<NetReport> {
    let net = d.net?;
    let p = net.params();
    // The shaper starts with its domain: a late domain gets no burst from
    // intervals that passed before it existed.
    let mut shaper = match net.shaper {
        ShaperKind::TokenBucket => Shaper::TokenBucket(TokenBucket::starting(&p, Time(start))),
        ShaperKind::SmoothWindow => Shaper::SmoothWindow(SmoothWindow::starting(&p, Time(start))),
    };
    let mut sent: Vec<Sent> = sent.to_vec();
    sent.sort_by_key(|s| s.at);
    let mut accs: Vec<FlowAcc> = d.flows.iter().map(|_| FlowAcc::new()).collect();
    // Bulk senders: `window` packets in flight each, offered at `start`;
    // UDP-like senders: the next paced offer.
    let mut bulk: Vec<(usize, u32, std::collections::VecDeque<i64>)> = d
        .flows
        .iter()
        .enumerate()
        .filter_map(|(f, fl)| match *fl {
            Flow::Bulk { size, window } => Some((f, size, (0..window).map(|_| start).collect())),
            _ => None,
        })
        .collect();
    let mut udp: Vec<(usize, u32, i64, i64)> = d
        .flows
        .iter()
        .enumerate()
        .filter_map(|(f, fl)| match *fl {
            Flow::Udp { rate_bps, size } => {
                let gap = crate::scenario::packet_gap(size, rate_bps).as_ns();
                Some((f, size, start, gap))
            }
            _ => None,
        })
        .collect();
    let mut window = Vec::new();
    let mut next_sample = start;
    let mut i = 0;
    loop {
        // The earliest offer: a guest send, or a bulk sender's next packet.
        let guest = sent.get(i).map(|s| s.at);
        let b = bulk
            .iter()
            .enumerate()
            .filter_map(|(k, (_, _, q))| q.front().map(|&t| (t, k)))
            .min();
        let u = udp.iter().enumerate().map(|(k, x)| (x.2, k)).min();
        let t = [guest, b.map(|x| x.0), u.map(|x| x.0)]
            .into_iter()
            .flatten()
            .min();
        let Some(t) = t else { break };
        if t >= end {
            break;
        }
        if let Shaper::SmoothWindow(w) = &shaper {
            while next_sample <= t {
                let (lo, hi) = w.window();
                window.push(WindowSample {
                    at_ns: next_sample,
                    d_min_ns: lo.as_ns(),
                    d_max_ns: hi.as_ns(),
                });
                next_sample += p.interval.as_ns();
            }
        }
        if guest == Some(t) {
            let s = sent[i];
            i += 1;
            let mut left = s.bytes;
            while left > 0 {
                let n = left.min(MTU);
                left -= n;
                let out = shaper.send(Time(t), n).ns();
                if let Some(a) = accs.get_mut(usize::from(s.flow)).filter(|_| out < end) {
                    a.packet(t, out, n);
                }
            }
        } else if let Some((_, k)) = b.filter(|x| x.0 == t) {
            let (f, size, q) = &mut bulk[k];
            q.pop_front();
            let out = shaper.send(Time(t), *size).ns();
            q.push_back(out);
            if out < end {
                accs[*f].packet(t, out, *size);
            }
        } else if let Some((_, k)) = u {
            let (f, size, next, gap) = &mut udp[k];
            let out = shaper.send(Time(t), *size).ns();
            *next += *gap;
            if out < end {
                accs[*f].packet(t, out, *size);
            }
        }
    }
    let flows = d
        .flows
        .iter()
        .zip(accs)
        .map(|(fl, a)| {
            let secs = (end - start).max(1) as f64 / 1e9;
            FlowReport {
                kind: match fl {
                    Flow::Cbr { .. } => "cbr",
                    Flow::Http { .. } => "http",
                    Flow::Bulk { .. } => "bulk",
                    Flow::Udp { .. } => "udp",
                }
                .to_string(),
                packets: a.packets,
                bytes: a.bytes,
                rate_bps: (a.bytes as f64 * 8.0 / secs) as u64,
                delay: a.delays.summary(),
                jitter_ns: (a.jitter_sum / a.packets.saturating_sub(1).max(1) as f64) as u64,
            }
        })
        .collect();
    Some(NetReport {
        shaper: match net.shaper {
            ShaperKind::TokenBucket => "token-bucket",
            ShaperKind::SmoothWindow => "smooth-window",
        }
        .to_string(),
        limit_bps: net.limit_bps,
        flows,
        window,
    })
}
