//! Traffic shaping of a domain's packets (seed 001, §II-C and §III-C): Xen
//! netback's token bucket, and the smooth window with PID feedback that
//! replaces it.
//!
//! Both take packets in arrival order (`send(now, size)`) and say when each
//! may leave; packets leave in order. Integer arithmetic only (bytes, ns,
//! parts per million), no allocation, no panics.
//!
//! - [`TokenBucket`] (netback's `tx_add_credit`): `credit_bytes` per
//!   `period`; a packet leaves at once if the remaining credit covers it,
//!   else at the replenish that covers it. Credit accumulates up to
//!   `credit_bytes` (or one packet of up to 128 KiB, so a big packet cannot
//!   stall; a packet bigger still, which netback never sees, waits for its
//!   whole size of credit). Good at
//!   holding the rate, blind to the delay of each packet: from 0 to a whole
//!   period (50 ms by default) - jitter.
//! - [`SmoothWindow`]: every packet gets a delay inside a window
//!   `w = [d_min, d_max]` (3 ms wide by default) and packets are serialized:
//!   a packet leaves `d` after the previous one left or after it arrived,
//!   whichever is later, so `size / d` is the rate it uses. Inside an adjust
//!   interval (1 s), a proportional rule picks `d_max` while the bytes sent
//!   so far in the interval are ahead of the allocation (limit × time), else
//!   `d_min` (§III-C's raw P controller). At each interval's end a PID
//!   controller on the relative error `e = (consumed − allocated) /
//!   allocated` slides the window: its centre is scaled by
//!   `1 + Kp·e + Ki·Σe + Kd·Δe`. Defaults Kp = 0.5, Ki = 0.1, Kd = 0.05:
//!   the proportional term alone moves the window halfway to where the last
//!   interval's error says it should be (a full step would overshoot with
//!   the next interval's noise), the integral term removes a standing error
//!   within about ten intervals, and the small derivative term damps the
//!   oscillation the raw P rule inside the interval causes. The integral is
//!   bounded and does not grow while the window is pinned at its floor by a
//!   flow under its limit (anti-windup: otherwise an idle minute would hold
//!   the window down through the next burst). The seed's window (3 ms) and
//!   interval (1 s) are the defaults.
//!
//!   The window starts where a backlogged sender of full-size (1460-byte)
//!   packets would hold the limit, `1460 × 8 / limit` (never below half the
//!   width), rather than at zero: started at zero, a bulk sender at a low
//!   limit got 120× its allocation in the first interval, and the error
//!   clamp let the PID climb only ×1.8 per interval, so the excess was
//!   never paid back (64 kbit/s measured 257 kbit/s over a minute). A flow
//!   under its limit slides the window down to zero within a few intervals
//!   instead. The centre may reach 60 s (a full-size packet at 1 kbit/s
//!   needs 11.7 s), and an interval over its allocation counts up to 4×
//!   its error.

#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use core::fmt;

use sched_core::{Span, Time};

/// A shaper parameter out of bounds (see [`ShaperParams::validate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShaperError;

impl fmt::Display for ShaperError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shaper: limit 1kbit..100Gbit/s, period 1ms..10s, window 100us..1s, interval 10ms..60s, gains 0..10000 (thousandths)"
        )
    }
}

/// Netback's burst allowance: one packet of up to 128 KiB.
const MAX_PACKET_BURST: u64 = 131_072;
/// A full-size packet (the window's starting position is its time at the limit).
const FULL_PACKET: u64 = 1460;
/// The highest the window's centre goes.
const MAX_CENTRE: Span = Span::secs(60);
const NS_PER_S: u128 = 1_000_000_000;
const PPM: i64 = 1_000_000;

/// Bytes a rate of `bps` bits per second allows in `t`.
fn bytes_in(bps: u64, t: Span) -> u64 {
    (u128::from(bps) * t.as_ns().max(0) as u128 / 8 / NS_PER_S) as u64
}

/// Validated shaper parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShaperParams {
    /// The rate limit, bits per second (1 kbit/s..100 Gbit/s).
    pub limit_bps: u64,
    /// Token bucket: replenish period (1 ms..10 s; netback's `credit_usec`).
    pub period: Span,
    /// Smooth window: width `d_max − d_min` (100 µs..1 s).
    pub window: Span,
    /// Smooth window: PID adjust interval (10 ms..60 s).
    pub interval: Span,
    /// PID gains in thousandths (0..10000 each).
    pub gains: Gains,
}

/// PID gains, in thousandths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gains {
    /// Proportional.
    pub kp: u32,
    /// Integral.
    pub ki: u32,
    /// Derivative.
    pub kd: u32,
}

impl Default for Gains {
    fn default() -> Self {
        Gains {
            kp: 500,
            ki: 100,
            kd: 50,
        }
    }
}

impl ShaperParams {
    /// The seed's defaults for a limit: 50 ms period, 3 ms window, 1 s interval.
    pub fn new(limit_bps: u64) -> Self {
        ShaperParams {
            limit_bps,
            period: Span::ms(50),
            window: Span::ms(3),
            interval: Span::secs(1),
            gains: Gains::default(),
        }
    }

    /// Checks every bound; an error names what is wrong.
    pub fn validate(&self) -> Result<(), ShaperError> {
        let in_range = |t: Span, lo: Span, hi: Span| t >= lo && t <= hi;
        if !(1_000..=100_000_000_000).contains(&self.limit_bps)
            || !in_range(self.period, Span::ms(1), Span::secs(10))
            || !in_range(self.window, Span::us(100), Span::secs(1))
            || !in_range(self.interval, Span::ms(10), Span::secs(60))
            || self.gains.kp > 10_000
            || self.gains.ki > 10_000
            || self.gains.kd > 10_000
        {
            return Err(ShaperError);
        }
        Ok(())
    }
}

/// Xen netback's token bucket.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    credit_bytes: u64,
    period: Span,
    remaining: u64,
    window_start: Time,
    last_departure: Time,
}

impl TokenBucket {
    /// A full bucket at time 0.
    pub fn new(p: &ShaperParams) -> Self {
        Self::starting(p, Time::ZERO)
    }

    /// A full bucket at `start` (when its domain starts).
    pub fn starting(p: &ShaperParams, start: Time) -> Self {
        let credit = bytes_in(p.limit_bps, p.period).max(1);
        TokenBucket {
            credit_bytes: credit,
            period: p.period,
            remaining: credit,
            window_start: start,
            last_departure: start,
        }
    }

    /// The most credit the bucket holds for a packet of `size` bytes.
    fn max_burst(&self, size: u64) -> u64 {
        size.min(MAX_PACKET_BURST).max(self.credit_bytes)
    }

    /// A packet of `size` bytes arrives at `now`: when it leaves.
    pub fn send(&mut self, now: Time, size: u32) -> Time {
        let size = u64::from(size);
        let mut t = now.max(self.last_departure);
        if t >= self.window_start + self.period {
            self.remaining = self
                .remaining
                .saturating_add(self.credit_bytes)
                .min(self.max_burst(size));
            self.window_start = t;
        }
        if self.remaining < size {
            // The replenish timer fires every period until the credit
            // covers the packet: `k` periods, computed at once. (Each adds
            // `credit_bytes` up to the burst cap, which is at least `size`
            // except for packets beyond netback's range: those wait for
            // their whole size.)
            let k = (size - self.remaining).div_ceil(self.credit_bytes);
            let wait = i64::try_from(k)
                .unwrap_or(i64::MAX)
                .saturating_mul(self.period.as_ns());
            t = self.window_start + Span(wait);
            self.window_start = t;
            let cap = self.max_burst(size).max(size);
            self.remaining = self
                .remaining
                .saturating_add(k.saturating_mul(self.credit_bytes))
                .min(cap);
        }
        self.remaining = self.remaining.saturating_sub(size);
        self.last_departure = t;
        t
    }
}

/// The smooth window with PID feedback.
#[derive(Clone, Debug)]
pub struct SmoothWindow {
    p: ShaperParams,
    /// Window centre, ns.
    centre: i64,
    interval_start: Time,
    /// Bytes given a departure in the current interval.
    consumed: u64,
    integral: i64,
    prev_error: i64,
    last_departure: Time,
    intervals: u64,
}

impl SmoothWindow {
    /// A window at time 0 (see the module doc for where it starts).
    pub fn new(p: &ShaperParams) -> Self {
        Self::starting(p, Time::ZERO)
    }

    /// A window whose first adjust interval begins at `start` (when its
    /// domain starts).
    pub fn starting(p: &ShaperParams, start: Time) -> Self {
        let half = p.window.as_ns() / 2;
        let full = Span::secs(1).as_ns() as u128 * u128::from(FULL_PACKET) * 8
            / u128::from(p.limit_bps.max(1));
        let centre = i64::try_from(full).unwrap_or(i64::MAX);
        SmoothWindow {
            p: *p,
            centre: centre.clamp(half.max(1), MAX_CENTRE.as_ns()),
            interval_start: start,
            consumed: 0,
            integral: 0,
            prev_error: 0,
            last_departure: start,
            intervals: 0,
        }
    }

    /// The current window `[d_min, d_max]`.
    pub fn window(&self) -> (Span, Span) {
        let half = self.p.window.as_ns() / 2;
        (
            Span(self.centre - half),
            Span(self.centre - half + self.p.window.as_ns()),
        )
    }

    /// Adjust intervals completed so far.
    pub fn intervals(&self) -> u64 {
        self.intervals
    }

    /// Closes every adjust interval that ended by `now` (the PID step).
    /// Once an idle interval leaves the controller where it was, the rest
    /// of an idle stretch is skipped at once, so a long gap costs O(1).
    fn roll(&mut self, now: Time) {
        let interval = self.p.interval;
        loop {
            let next = self.interval_start + interval;
            if now < next || next <= self.interval_start {
                return;
            }
            let before = (self.centre, self.integral, self.prev_error);
            let idle = self.consumed == 0;
            self.pid_step();
            if idle && before == (self.centre, self.integral, self.prev_error) {
                let n = (now - self.interval_start).as_ns() / interval.as_ns().max(1);
                self.interval_start += Span(n.saturating_mul(interval.as_ns()));
                self.intervals = self.intervals.saturating_add(n as u64);
            }
        }
    }

    /// One adjust interval's PID step.
    fn pid_step(&mut self) {
        let interval = self.p.interval;
        {
            let allocated = bytes_in(self.p.limit_bps, interval).max(1);
            let diff = self.consumed as i128 - allocated as i128;
            let e = (diff * i128::from(PPM) / allocated as i128)
                .clamp(-PPM as i128, 4 * PPM as i128) as i64;
            // Anti-windup: no integration while the window is pinned at its
            // floor by an idle flow (or at its ceiling by an unstoppable
            // one): a quiet minute must not stall the next burst's slide.
            let half = self.p.window.as_ns() / 2;
            let floor = self.centre <= half.max(1);
            let ceiling = self.centre >= MAX_CENTRE.as_ns();
            if !(floor && e < 0 || ceiling && e > 0) {
                self.integral = (self.integral + e).clamp(-2 * PPM, 2 * PPM);
            }
            let d = e - self.prev_error;
            self.prev_error = e;
            let g = self.p.gains;
            let adj = (i64::from(g.kp) * e + i64::from(g.ki) * self.integral + i64::from(g.kd) * d)
                / 1000;
            let adj = adj.clamp(-PPM / 2, 4 * PPM);
            let centre = i128::from(self.centre) * i128::from(PPM + adj) / i128::from(PPM);
            let centre = i64::try_from(centre).unwrap_or(i64::MAX);
            self.centre = centre.clamp(half.max(1), MAX_CENTRE.as_ns());
            self.consumed = 0;
            self.interval_start += interval;
            self.intervals += 1;
        }
    }

    /// A packet of `size` bytes arrives at `now`: when it leaves.
    pub fn send(&mut self, now: Time, size: u32) -> Time {
        // Accounting runs in departure time: a packet queued behind others
        // starts when the one before it has left, and counts against the
        // interval it leaves in (counting it at its arrival would charge a
        // queue's worth of future traffic to the present and starve it).
        let start = now.max(self.last_departure);
        self.roll(start);
        let (d_min, d_max) = self.window();
        let allowed = bytes_in(self.p.limit_bps, start - self.interval_start);
        let d = if self.consumed >= allowed {
            d_max
        } else {
            d_min
        };
        let t = start + d.max(Span::ZERO);
        self.consumed = self.consumed.saturating_add(u64::from(size));
        self.last_departure = t;
        t
    }
}

/// Either shaper, for callers that choose at run time.
#[derive(Clone, Debug)]
pub enum Shaper {
    /// Xen netback's token bucket.
    TokenBucket(TokenBucket),
    /// The smooth window with PID feedback.
    SmoothWindow(SmoothWindow),
}

impl Shaper {
    /// A packet of `size` bytes arrives at `now`: when it leaves.
    pub fn send(&mut self, now: Time, size: u32) -> Time {
        match self {
            Shaper::TokenBucket(b) => b.send(now, size),
            Shaper::SmoothWindow(w) => w.send(now, size),
        }
    }
}

#[cfg(test)]
mod tests;
