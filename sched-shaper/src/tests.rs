//! The shapers against seed 001 §II-C/III-C: both hold a bulk sender to its
//! limit; the token bucket delays packets from 0 to a whole period, the
//! smooth window keeps each delay inside its window.

extern crate std;
use std::vec::Vec;

use super::*;

const MBIT: u64 = 1_000_000;

/// A backlogged sender of `size`-byte packets with `window` packets in
/// flight (a packet is offered when one leaves) for `secs`: bytes sent.
fn bulk(s: &mut Shaper, size: u32, window: usize, secs: i64) -> u64 {
    let end = Time(0) + Span::secs(secs);
    let mut in_flight: std::collections::VecDeque<Time> = (0..window).map(|_| Time(0)).collect();
    let mut bytes = 0;
    while let Some(offer) = in_flight.pop_front() {
        let dep = s.send(offer, size);
        if dep >= end {
            break;
        }
        bytes += u64::from(size);
        in_flight.push_back(dep);
    }
    bytes
}

#[test]
fn both_shapers_hold_a_bulk_sender_to_its_limit() {
    for mbit in [4, 8, 16, 32] {
        let p = ShaperParams::new(mbit * MBIT);
        for mut s in [
            Shaper::TokenBucket(TokenBucket::new(&p)),
            Shaper::SmoothWindow(SmoothWindow::new(&p)),
        ] {
            let bytes = bulk(&mut s, 1460, 8, 60);
            let rate = bytes * 8 / 60;
            let err = (rate as f64 / (mbit * MBIT) as f64 - 1.0).abs();
            assert!(err <= 0.03, "{mbit} Mbit/s: {rate} bit/s ({s:?})");
        }
    }
}

#[test]
fn the_token_bucket_delays_a_burst_by_up_to_a_period() {
    // 2 Mbit/s, 50 ms: 12500 bytes per period. A burst of 20 × 1400 bytes
    // at t = 100 ms: the first 8 leave at once, the next at 150 ms, ...
    let p = ShaperParams::new(2 * MBIT);
    let mut b = TokenBucket::new(&p);
    let t0 = Time(0) + Span::ms(100);
    let deps: Vec<Time> = (0..20).map(|_| b.send(t0, 1400)).collect();
    assert!(deps[..8].iter().all(|&d| d == t0));
    assert_eq!(deps[8], t0 + Span::ms(50));
    assert_eq!(*deps.last().unwrap(), t0 + Span::ms(100));
}

#[test]
fn the_smooth_window_keeps_every_delay_inside_its_window() {
    let p = ShaperParams::new(2 * MBIT);
    let mut w = SmoothWindow::new(&p);
    // A paced stream just under the limit: each packet's own delay (after
    // the one before it left) is d_min or d_max.
    let mut t = Time(0);
    let mut prev = Time(0);
    for _ in 0..5_000 {
        let dep = w.send(t, 1000);
        // The window this packet got (after any interval end it closed).
        let (lo, hi) = w.window();
        let d = dep - t.max(prev);
        prev = dep;
        assert!(d >= lo && d <= hi.max(lo), "{d:?} outside [{lo:?}, {hi:?}]");
        assert_eq!(hi - lo, Span::ms(3));
        t += Span::us(4_100);
    }
    assert!(w.intervals() >= 20);
}

#[test]
fn the_window_slides_up_under_sustained_overload_and_back_down_when_it_ends() {
    // 1 Mbit/s, 1250-byte packets: the delay that holds the limit is 10 ms.
    let p = ShaperParams::new(MBIT);
    let mut s = Shaper::SmoothWindow(SmoothWindow::new(&p));
    bulk(&mut s, 1250, 4, 20);
    let Shaper::SmoothWindow(w) = &mut s else {
        unreachable!()
    };
    let (lo, hi) = w.window();
    // Around the 10 ms that holds the limit (within one window width).
    assert!(
        lo <= Span::us(10_500) && hi >= Span::ms(10),
        "window [{lo:?}, {hi:?}]"
    );
    assert!(lo > Span::ms(5), "it slid up: {lo:?}");
    // A sparse flow afterwards (a packet every 100 ms) under-consumes: the
    // window slides back down to its floor, d_min = 0.
    let mut t = Time(0) + Span::secs(25);
    for _ in 0..300 {
        w.send(t, 1250);
        t += Span::ms(100);
    }
    assert_eq!(w.window().0, Span::ZERO);
}

#[test]
fn bad_parameters_are_refused() {
    let ok = ShaperParams::new(MBIT);
    assert_eq!(ok.validate(), Ok(()));
    for bad in [
        ShaperParams {
            limit_bps: 10,
            ..ok
        },
        ShaperParams {
            period: Span::us(10),
            ..ok
        },
        ShaperParams {
            window: Span::ZERO,
            ..ok
        },
        ShaperParams {
            interval: Span::ms(1),
            ..ok
        },
        ShaperParams {
            gains: Gains {
                kp: 20_000,
                ..Gains::default()
            },
            ..ok
        },
    ] {
        assert_eq!(bad.validate(), Err(ShaperError), "{bad:?}");
    }
}

#[test]
fn an_overloading_open_loop_sender_still_gets_its_allocation() {
    // Paced at 1.5× the 4 Mbit/s limit: the excess queues; what leaves in
    // 60 s is the allocation (counting a queued packet when it leaves, not
    // when it arrives, is what keeps the window from starving the queue).
    for mut s in [
        Shaper::TokenBucket(TokenBucket::new(&ShaperParams::new(4 * MBIT))),
        Shaper::SmoothWindow(SmoothWindow::new(&ShaperParams::new(4 * MBIT))),
    ] {
        let end = Time(0) + Span::secs(60);
        let mut t = Time(0);
        let mut bytes = 0u64;
        while t < end {
            if s.send(t, 1460) < end {
                bytes += 1460;
            }
            t += Span::ns(1_946_667);
        }
        let rate = bytes * 8 / 60;
        assert!((rate as f64 / 4e6 - 1.0).abs() <= 0.02, "{rate} ({s:?})");
    }
}

#[test]
fn the_smooth_window_holds_low_limits_too() {
    // Started at zero, the window let a bulk sender at 64 kbit/s through at
    // 257 kbit/s over a minute; it now starts at the full-packet spacing.
    for kbit in [8u64, 64, 256, 1000] {
        let p = ShaperParams::new(kbit * 1000);
        let mut s = Shaper::SmoothWindow(SmoothWindow::new(&p));
        let rate = bulk(&mut s, 1460, 8, 60) * 8 / 60;
        let err = (rate as f64 / (kbit * 1000) as f64 - 1.0).abs();
        assert!(err <= 0.03, "{kbit} kbit/s: {rate} bit/s");
    }
}

#[test]
fn a_long_idle_gap_costs_no_more_than_a_short_one() {
    let p = ShaperParams {
        interval: Span::ms(10),
        ..ShaperParams::new(4 * MBIT)
    };
    for at in [
        Time(0) + Span::secs(30 * 86_400),
        Time(i64::MAX - 1_000_000_000_000),
        Time::NEVER,
    ] {
        let mut w = SmoothWindow::new(&p);
        w.send(Time(0), 1460);
        // Before the fix, each of these closed one 10 ms interval per loop
        // pass (2.1 s for 30 days; forever for NEVER).
        let t = w.send(at, 1460);
        assert!(t >= at);
        let mut b = TokenBucket::new(&p);
        assert!(b.send(at, 1460) >= at);
    }
}

#[test]
fn a_packet_beyond_any_burst_waits_for_its_whole_size_of_credit() {
    // 1 Mbit/s, 50 ms: 6250 bytes a period. 1 MiB needs 168 periods of
    // credit; the first is in the bucket, so it leaves 167 periods later.
    let p = ShaperParams::new(MBIT);
    let mut b = TokenBucket::new(&p);
    let t0 = Time(0) + Span::ms(10);
    assert_eq!(b.send(t0, 1 << 20), Time(0) + Span::ms(167 * 50));
    // And the bucket is empty after it: the next packet waits a period.
    assert_eq!(b.send(t0, 1000), Time(0) + Span::ms(168 * 50));
}
