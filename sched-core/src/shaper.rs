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
//!   else at the next replenish. Credit accumulates up to `credit_bytes`
//!   (or one packet of up to 128 KiB, so a big packet cannot stall). Good at
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

use crate::params::ParamError;
use crate::time::{Span, Time};

/// Netback's burst allowance: one packet of up to 128 KiB.
const MAX_PACKET_BURST: u64 = 131_072;
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
    pub fn validate(&self) -> Result<(), ParamError> {
        let in_range = |t: Span, lo: Span, hi: Span| t >= lo && t <= hi;
        if !(1_000..=100_000_000_000).contains(&self.limit_bps)
            || !in_range(self.period, Span::ms(1), Span::secs(10))
            || !in_range(self.window, Span::us(100), Span::secs(1))
            || !in_range(self.interval, Span::ms(10), Span::secs(60))
            || self.gains.kp > 10_000
            || self.gains.ki > 10_000
            || self.gains.kd > 10_000
        {
            return Err(ParamError::Shaper);
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
        let credit = bytes_in(p.limit_bps, p.period).max(1);
        TokenBucket {
            credit_bytes: credit,
            period: p.period,
            remaining: credit,
            window_start: Time::ZERO,
            last_departure: Time::ZERO,
        }
    }

    fn replenish(&mut self, at: Time, size: u64) {
        let max_burst = size.min(MAX_PACKET_BURST).max(self.credit_bytes);
        self.remaining = self
            .remaining
            .saturating_add(self.credit_bytes)
            .min(max_burst);
        self.window_start = at;
    }

    /// A packet of `size` bytes arrives at `now`: when it leaves.
    pub fn send(&mut self, now: Time, size: u32) -> Time {
        let size = u64::from(size);
        let mut t = now.max(self.last_departure);
        if t >= self.window_start + self.period {
            self.replenish(t, size);
        }
        // At most a few rounds: after one replenish the bucket holds at
        // least this packet (up to 128 KiB) or `credit_bytes`.
        let mut rounds = 0;
        while self.remaining < size && rounds < 1_000_000 {
            t = self.window_start + self.period;
            self.replenish(t, size);
            rounds += 1;
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
    /// A window at its lowest position (`d_min = 0`) at time 0.
    pub fn new(p: &ShaperParams) -> Self {
        SmoothWindow {
            p: *p,
            centre: p.window.as_ns() / 2,
            interval_start: Time::ZERO,
            consumed: 0,
            integral: 0,
            prev_error: 0,
            last_departure: Time::ZERO,
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
    fn roll(&mut self, now: Time) {
        let interval = self.p.interval;
        while now >= self.interval_start + interval {
            let allocated = bytes_in(self.p.limit_bps, interval).max(1);
            let diff = self.consumed as i128 - allocated as i128;
            let e = (diff * i128::from(PPM) / allocated as i128).clamp(-PPM as i128, PPM as i128)
                as i64;
            // Anti-windup: no integration while the window is pinned at its
            // floor by an idle flow (or at its ceiling by an unstoppable
            // one): a quiet minute must not stall the next burst's slide.
            let half = self.p.window.as_ns() / 2;
            let floor = self.centre <= half.max(1);
            let ceiling = self.centre >= Span::secs(1).as_ns();
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
            self.centre = (centre as i64).clamp(half.max(1), Span::secs(1).as_ns());
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
