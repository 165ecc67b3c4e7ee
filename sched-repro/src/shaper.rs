//! The traffic shaper (seed 001, §II-C, §III-C, §V-B/C): RTP jitter under
//! the token bucket and the smooth window (Fig. 8), HTTP waiting time
//! (Fig. 9), the window sliding (Fig. 10), bulk rates at 4-32 Mbit/s
//! (Fig. 11), and the seed's whole path: a VM's scheduling delay, then the
//! shaper.
//!
//! The shapers are `sched_shaper`'s, fed packet by packet. Choices:
//! - RTP: 1400-byte packets every 5.6 ms (2 Mbit/s) through a 2.2 Mbit/s
//!   limit: netback's bucket holds at most one period's credit and drops
//!   what a whole packet cannot use, so at exactly 2 Mbit/s (12500 bytes per
//!   50 ms: 8 packets and 1300 bytes lost) it would carry 1.79 Mbit/s and
//!   queue without end; 2.2 Mbit/s carries the stream's 2 Mbit/s;
//! - HTTP: Poisson requests every 200 ms (ApacheBench-like, one at a time
//!   on average), each answered with 8 KB (five 1460-byte packets and the
//!   rest) through a 2 Mbit/s limit (a reply fits one period's credit);
//!   waiting time = last reply byte out − request;
//! - bulk: 1460-byte packets for 60 s, TCP-like (8 in flight, a new one
//!   offered as one leaves) or UDP-like (paced at 1.5× the allocation);
//! - jitter is RFC 3550's interarrival jitter `J += (|D| − J) / 16` over the
//!   packets' transit times (departure − send), averaged over the stream.

use sched_core::{Span, Time};
use sched_shaper::{Shaper, ShaperParams, SmoothWindow, TokenBucket};

use super::{
    busy, check, ms, one_core, run, Cdf, Curve, Lines, Repro, ReproOptions, Table, CREDIT,
    EDF_CREDIT,
};
use sched_sim::scenario::{Rt, RtMode, Workload};
use sched_sim::SimError;

const MBIT: u64 = 1_000_000;

fn both(limit_bps: u64) -> [(&'static str, Shaper); 2] {
    let p = ShaperParams::new(limit_bps);
    [
        ("token bucket", Shaper::TokenBucket(TokenBucket::new(&p))),
        ("smooth window", Shaper::SmoothWindow(SmoothWindow::new(&p))),
    ]
}

/// Transit times (departure − send) of packets sent at `sends` (ns, in
/// order) with sizes `size`, through `s`.
fn transits(s: &mut Shaper, sends: &[(i64, u32)]) -> Vec<i64> {
    sends
        .iter()
        .map(|&(t, size)| (s.send(Time(t), size) - Time(t)).as_ns())
        .collect()
}

/// RFC 3550's interarrival jitter estimate over transit times, averaged
/// over the stream (the estimate itself is a running value; its mean is
/// what a receiver's reports add up to), ns.
fn jitter(transit: &[i64]) -> f64 {
    let mut j = 0f64;
    let mut sum = 0f64;
    for w in transit.windows(2) {
        let d = (w[1] - w[0]).abs() as f64;
        j += (d - j) / 16.0;
        sum += j;
    }
    sum / transit.len().saturating_sub(1).max(1) as f64
}

fn mean(v: &[i64]) -> f64 {
    v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64
}

fn pct(v: &[i64], p: f64) -> i64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    s.get(((s.len() as f64 * p) as usize).min(s.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0)
}

/// Runs every shaper experiment.
pub fn run_all(opts: &ReproOptions) -> Result<Repro, SimError> {
    let mut r = Repro {
        paper: "Latency smoothing in network traffic shaping: token bucket vs smooth window with \
                PID feedback (seed 001 §III-C, §V-B/C)"
            .into(),
        tables: Vec::new(),
        checks: Vec::new(),
        cdfs: Vec::new(),
        lines: Vec::new(),
    };
    fig8(&mut r, opts)?;
    fig9(&mut r, opts);
    fig10(&mut r);
    fig11(&mut r);
    end_to_end(&mut r, opts)?;
    Ok(r)
}

/// An RTP sender's job latencies and its packets' send times and sizes.
type RtpRun = (Vec<i64>, Vec<(i64, u32)>);

/// The RTP sender VM of the seed (an encoder that sends every 5.6 ms)
/// beside three busy VMs on one pCPU: its scheduling latencies and the
/// times its packets reach the shaper.
fn rtp_sends(opts: &ReproOptions, rt: Option<Rt>, policy: &str) -> Result<RtpRun, SimError> {
    let period = Span::us(5_600);
    let mut d = busy("rtp");
    d.rt = rt;
    d.workloads = vec![
        Workload::Cpu {
            load: 0.5,
            period: Span::ms(200),
        },
        Workload::Periodic {
            period,
            work: Span::us(100),
        },
    ];
    let doms = vec![d, busy("b1"), busy("b2"), busy("b3")];
    let sc = one_core("rtp", opts.duration, opts.seed, doms);
    let (_, st) = run(&sc, policy)?;
    // Job k is released at k × period and done (its packet sent) after
    // its latency.
    let lat = st.latencies.first().cloned().unwrap_or_default();
    let sends = lat
        .iter()
        .enumerate()
        .map(|(k, &l)| (k as i64 * period.as_ns() + l, 1400))
        .collect();
    Ok((lat, sends))
}

/// Fig. 8: RTP jitter at the same average rate. The packets reach the
/// shaper as the seed's VM sends them under credit (in bursts after each
/// wait behind the busy VMs); the same sequence goes through each shaper.
fn fig8(r: &mut Repro, opts: &ReproOptions) -> Result<(), SimError> {
    let (_, sends) = rtp_sends(opts, None, CREDIT)?;
    let mut t = Table::new("Fig. 8: an RTP sender's packets (2 Mbit/s, bursty from scheduling) through a 2.2 Mbit/s limit: delay added by the shaper", &["shaper", "delay mean (ms)", "p99", "max", "RFC 3550 jitter (ms)", "rate (Mbit/s)"]);
    let mut cdf = Cdf {
        id: "fig8-rtp".into(),
        title: "RTP packet delay in the shaper (Fig. 8)".into(),
        curves: Vec::new(),
    };
    let mut js = Vec::new();
    for (name, mut s) in both(2_200_000) {
        let tr = transits(&mut s, &sends);
        let last = sends.last().map_or(0, |x| x.0) + tr.last().copied().unwrap_or(0);
        let rate = (sends.len() as f64 * 1400.0 * 8.0) / (last as f64 / 1e9) / 1e6;
        let j = jitter(&tr);
        js.push((j, rate));
        t.rows.push(vec![
            name.to_string(),
            format!("{:.2}", mean(&tr) / 1e6),
            ms(pct(&tr, 0.99)),
            ms(tr.iter().copied().max().unwrap_or(0)),
            format!("{:.3}", j / 1e6),
            format!("{rate:.3}"),
        ]);
        cdf.curves.push(Curve {
            label: name.to_string(),
            samples_ns: tr,
        });
    }
    r.tables.push(t);
    r.cdfs.push(cdf);
    let ((jt, rt), (jw, rw)) = (js[0], js[1]);
    r.checks.push(check(
        "Fig. 8",
        "RTP jitter at the same average rate: the smooth window's is much lower than the token bucket's",
        "jitter much lower with the window",
        format!("{:.3} ms vs {:.3} ms; {rw:.3} vs {rt:.3} Mbit/s", jw / 1e6, jt / 1e6),
        "≥ 3× lower; rates within 3% of each other",
        jt >= 3.0 * jw && (rw / rt - 1.0).abs() <= 0.03,
    ));
    Ok(())
}

/// Fig. 9: HTTP waiting time.
fn fig9(r: &mut Repro, opts: &ReproOptions) {
    // Poisson requests, deterministic from the seed (SplitMix64).
    let mut rng = sched_sim::SplitMix64::new(opts.seed, &[9]);
    let mut t = 0i64;
    let mut requests = Vec::new();
    while t < opts.duration.as_ns() {
        t += rng.exp_ns(200_000_000);
        requests.push(t);
    }
    let reply: Vec<u32> = vec![1460, 1460, 1460, 1460, 1460, 892];
    let mut table = Table::new(
        "Fig. 9: HTTP 8 KB replies through a 2 Mbit/s limit: waiting time (ms)",
        &["shaper", "min", "p10", "p50", "p90", "max", "p90 − p10"],
    );
    let mut cdf = Cdf {
        id: "fig9-http".into(),
        title: "HTTP waiting time in the shaper (Fig. 9)".into(),
        curves: Vec::new(),
    };
    let mut spreads = Vec::new();
    for (name, mut s) in both(2 * MBIT) {
        let waits: Vec<i64> = requests
            .iter()
            .map(|&q| {
                let mut last = Time(q);
                for &b in &reply {
                    last = s.send(Time(q), b);
                }
                (last - Time(q)).as_ns()
            })
            .collect();
        let (p10, p90) = (pct(&waits, 0.10), pct(&waits, 0.90));
        spreads.push((p90 - p10, pct(&waits, 0.0), pct(&waits, 1.0)));
        table.rows.push(vec![
            name.to_string(),
            ms(pct(&waits, 0.0)),
            ms(p10),
            ms(pct(&waits, 0.5)),
            ms(p90),
            ms(pct(&waits, 1.0)),
            ms(p90 - p10),
        ]);
        cdf.curves.push(Curve {
            label: name.to_string(),
            samples_ns: waits,
        });
    }
    r.tables.push(table);
    r.cdfs.push(cdf);
    let (tb, sw) = (spreads[0], spreads[1]);
    r.checks.push(check(
        "Fig. 9",
        "HTTP waiting time ranges over about a replenish period under the token bucket and is smoothed by the window",
        "0-50 ms under the token bucket; smoothed by the window",
        format!(
            "token bucket {}..{} ms (p10-p90 {} ms); window p10-p90 {} ms",
            ms(tb.1),
            ms(tb.2),
            ms(tb.0),
            ms(sw.0)
        ),
        "token bucket range ≥ 40 ms; window p10-p90 ≤ half the bucket's",
        tb.2 - tb.1 >= 40_000_000 && sw.0 * 2 <= tb.0,
    ));
}

/// Fig. 10: the window slides with the load, 2 Mbit/s limit: a bulk sender
/// for 20 s (needs 5.84 ms per 1460-byte packet), a 1 Mbit/s stream for
/// 20 s (under the limit), bulk again for 20 s.
fn fig10(r: &mut Repro) {
    let p = ShaperParams::new(2 * MBIT);
    let mut w = SmoothWindow::new(&p);
    let mut lo_pts = Vec::new();
    let mut hi_pts = Vec::new();
    let mut next_sample = 0i64;
    // Records the window as it stands at each whole second up to `t`.
    let mut sample = |w: &SmoothWindow, t: i64| {
        while next_sample <= t {
            let (lo, hi) = w.window();
            let x = next_sample as f64 / 1e9;
            lo_pts.push((x, lo.as_ns() as f64 / 1e6));
            hi_pts.push((x, hi.as_ns() as f64 / 1e6));
            next_sample += 1_000_000_000;
        }
    };
    let s = |x: i64| Span::secs(x).as_ns();
    for (from, to, bulk) in [(0, 20, true), (20, 40, false), (40, 60, true)] {
        if bulk {
            // 8 packets in flight: one offered as one leaves.
            let mut in_flight: std::collections::VecDeque<i64> = (0..8).map(|_| s(from)).collect();
            while let Some(t) = in_flight.pop_front() {
                if t >= s(to) {
                    break;
                }
                sample(&w, t);
                in_flight.push_back(w.send(Time(t), 1460).ns());
            }
        } else {
            // A paced 1 Mbit/s stream: 1460 bytes every 11.68 ms.
            let mut t = s(from);
            while t < s(to) {
                sample(&w, t);
                w.send(Time(t), 1460);
                t += 11_680_000;
            }
        }
    }
    sample(&w, s(60) - 1);
    let at = |s: f64| lo_pts.iter().find(|q| q.0 >= s).map_or(0.0, |q| q.1);
    let (bulk1, stream, bulk2) = (at(19.0), at(39.0), at(59.0));
    r.lines.push(Lines {
        id: "fig10-window".into(),
        title: "Smooth window position over time, 2 Mbit/s limit (Fig. 10)".into(),
        x: "time (s)".into(),
        y: "delay (ms)".into(),
        curves: vec![("d_min".into(), lo_pts), ("d_max".into(), hi_pts)],
    });
    r.checks.push(check(
        "Fig. 10",
        "the smooth window slides as the load changes (bulk, a stream under the limit, bulk)",
        "the window position moves over time",
        format!("d_min {bulk1:.2} ms after bulk, {stream:.2} ms after the stream, {bulk2:.2} ms after bulk again"),
        "up near 5.84 ms (±1.5) in bulk, down ≥ 2 ms under the stream",
        (bulk1 - 5.84).abs() <= 1.5 && (bulk2 - 5.84).abs() <= 1.5 && bulk1 - stream >= 2.0,
    ));
}

/// Bytes a sender gets through `s` in 60 s: TCP-like (8 packets in
/// flight, a new one offered as one leaves) or UDP-like (paced at 1.5× the
/// allocation, whatever leaves; the excess queues).
fn sent_in_60s(s: &mut Shaper, tcp: bool, limit_bps: u64) -> u64 {
    let end = Time(0) + Span::secs(60);
    let mut bytes = 0u64;
    if tcp {
        let mut in_flight: std::collections::VecDeque<Time> = (0..8).map(|_| Time(0)).collect();
        while let Some(offer) = in_flight.pop_front() {
            let dep = s.send(offer, 1460);
            if dep >= end {
                break;
            }
            bytes += 1460;
            in_flight.push_back(dep);
        }
    } else {
        let gap = (1460u128 * 8 * 1_000_000_000 * 2 / (3 * u128::from(limit_bps))) as i64;
        let mut t = 0i64;
        while Time(t) < end {
            if s.send(Time(t), 1460) < end {
                bytes += 1460;
            }
            t += gap.max(1);
        }
    }
    bytes
}

/// Fig. 11: TCP- and UDP-like bulk senders at 4, 8, 16, 32 Mbit/s.
fn fig11(r: &mut Repro) {
    let mut t = Table::new(
        "Fig. 11: bulk senders (1460 B, 60 s): achieved Mbit/s vs allocated",
        &[
            "allocated",
            "TCP-like, bucket",
            "TCP-like, window",
            "UDP-like, bucket",
            "UDP-like, window",
        ],
    );
    let mut worst = 0f64;
    for mbit in [4u64, 8, 16, 32] {
        let mut row = vec![mbit.to_string()];
        for tcp in [true, false] {
            for (_, mut s) in both(mbit * MBIT) {
                let rate = sent_in_60s(&mut s, tcp, mbit * MBIT) as f64 * 8.0 / 60.0 / 1e6;
                worst = worst.max((rate / mbit as f64 - 1.0).abs());
                row.push(format!("{rate:.3}"));
            }
        }
        t.rows.push(row);
    }
    r.tables.push(t);
    r.checks.push(check(
        "Fig. 11",
        "TCP- and UDP-like bulk senders at 4, 8, 16, 32 Mbit/s get their allocation under both shapers",
        "measured ≈ allocated (TCP and UDP)",
        format!("largest deviation {:.2}%", worst * 100.0),
        "±3%",
        worst <= 0.03,
    ));
}

/// The seed's whole path: the RTP sender VM (its sends delayed by
/// scheduling), then the shaper at 2.2 Mbit/s.
fn end_to_end(r: &mut Repro, opts: &ReproOptions) -> Result<(), SimError> {
    let mut t = Table::new(
        "End to end: RTP sender VM (scheduling) then the shaper, 2.2 Mbit/s",
        &[
            "path",
            "delay mean (ms)",
            "p99",
            "max",
            "RFC 3550 jitter (ms)",
        ],
    );
    let mut cdf = Cdf {
        id: "end-to-end".into(),
        title: "RTP packet delay, VM scheduling + shaper".into(),
        curves: Vec::new(),
    };
    let mut jit = Vec::new();
    let edf = Rt {
        mode: RtMode::Periodic,
        deadline: Some(Span::ms(3)),
    };
    for (label, mode, policy, shaper) in [
        ("credit + token bucket", None, CREDIT, 0),
        (
            "edf-credit (periodic, D = 3 ms) + smooth window",
            Some(edf),
            EDF_CREDIT,
            1,
        ),
    ] {
        let (lat, sends) = rtp_sends(opts, mode, policy)?;
        let [tb, sw] = both(2_200_000);
        let mut s = if shaper == 0 { tb.1 } else { sw.1 };
        let out = transits(&mut s, &sends);
        let total: Vec<i64> = lat.iter().zip(&out).map(|(a, b)| a + b).collect();
        let j = jitter(&total);
        jit.push(j);
        t.rows.push(vec![
            label.to_string(),
            format!("{:.2}", mean(&total) / 1e6),
            ms(pct(&total, 0.99)),
            ms(pct(&total, 1.0)),
            format!("{:.3}", j / 1e6),
        ]);
        cdf.curves.push(Curve {
            label: label.to_string(),
            samples_ns: total,
        });
    }
    r.tables.push(t);
    r.cdfs.push(cdf);
    r.checks.push(check(
        "§II/III",
        "the seed's whole path: credit + token bucket vs edf-credit + smooth window for an RTP sender",
        "both halves of the delay are controlled by the proposed design",
        format!("jitter {:.3} ms vs {:.3} ms", jit[1] / 1e6, jit[0] / 1e6),
        "≥ 3× lower",
        jit[0] >= 3.0 * jit[1],
    ));
    Ok(())
}
