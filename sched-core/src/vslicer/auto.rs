//! Automatic LSVM detection: vSlicer beyond the paper.
//!
//! The paper leaves the LSVM/NLSVM decision to the administrator and names
//! inferring it "using virtual interrupt counters" as future work (seed 002,
//! Sections 4 and 7). With the pool's `auto_lsvm` on, a domain without an
//! explicit microslice is classified from what the scheduler sees of it:
//!
//! - **Events**: I/O notifications reaching its vCPUs (the `event` op, which
//!   the host calls for every event, whatever the vCPU's state). A domain
//!   that receives at least [`EVENTS_ON`] a second is latency-sensitive: it
//!   has requests waiting on it. One that receives none (a CPU hog, a batch
//!   job) never is, however it runs.
//! - **Run bursts**: how long it runs per pick, while still an NLSVM. The
//!   microslice it gets is its mean burst rounded up to a whole millisecond,
//!   within [`MICROSLICE_MIN`]..[`MICROSLICE_MAX`]: long enough to finish a
//!   typical burst in one turn, short enough to come back several times per
//!   NLSVM slice. Bursts measured once it is an LSVM are cut by its own
//!   microslice, so the microslice is set when it is classified and kept.
//!
//! Measured over windows of [`WINDOW`], evaluated by the first event or
//! deschedule after a window ends. **Hysteresis**: it takes
//! [`WINDOWS_ON`] windows in a row at or over [`EVENTS_ON`] to become an LSVM,
//! and [`WINDOWS_OFF`] in a row under [`EVENTS_OFF`] (half of it) to become an
//! NLSVM again, so a domain near the line does not flap. An explicit
//! microslice always wins; turning `auto_lsvm` off returns every
//! classified domain to NLSVM at its next evaluation point (its next event
//! or deschedule). Like a parameter change, a new class is seen by a vCPU at
//! its next pick or deschedule.
//!
//! Everything is per domain, in atomics (events arrive under different
//! pCPUs' locks); a window is evaluated once, by whoever moves its start.

use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering::Relaxed};

use crate::time::{AtomicOptTime, Span, Time};

/// Length of one measurement window.
pub const WINDOW: Span = Span::secs(1);
/// Events per second at or over which a window says "latency-sensitive".
pub const EVENTS_ON: u64 = 20;
/// Events per second under which a window says "not latency-sensitive"
/// (between the two, a window agrees with the current class).
pub const EVENTS_OFF: u64 = EVENTS_ON / 2;
/// Windows in a row it takes to become an LSVM.
pub const WINDOWS_ON: u32 = 2;
/// Windows in a row it takes to become an NLSVM again.
pub const WINDOWS_OFF: u32 = 3;
/// The shortest derived microslice (vSlicer's floor, Xen's shortest slice).
pub const MICROSLICE_MIN: Span = Span::ms(1);
/// The longest: a third of the default timeslice, so an LSVM still comes
/// back several times per NLSVM slice.
pub const MICROSLICE_MAX: Span = Span::ms(10);

/// What the classifier last saw of a domain and what it decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutoClass {
    /// The microslice it gave the domain; zero: an NLSVM.
    pub microslice: Span,
    /// When the domain last changed class (`None`: never).
    pub since: Option<Time>,
    /// Times it changed class.
    pub changes: u32,
    /// Events per second in the last window evaluated.
    pub events_per_sec: u64,
    /// Mean run burst in the last window evaluated.
    pub burst: Span,
}

/// A domain's classifier state.
#[derive(Debug)]
pub struct AutoLsvm {
    /// When the current window began; -1: no activity seen yet.
    window_start: AtomicOptTime,
    events: AtomicU32,
    runs: AtomicU32,
    run_ns: AtomicI64,
    /// Windows in a row that disagreed with the current class.
    streak: AtomicU32,
    microslice: AtomicI64,
    since: AtomicOptTime,
    changes: AtomicU32,
    last_rate: AtomicI64,
    last_burst: AtomicI64,
}

impl Default for AutoLsvm {
    fn default() -> Self {
        AutoLsvm {
            window_start: AtomicOptTime::none(),
            events: AtomicU32::new(0),
            runs: AtomicU32::new(0),
            run_ns: AtomicI64::new(0),
            streak: AtomicU32::new(0),
            microslice: AtomicI64::new(0),
            since: AtomicOptTime::none(),
            changes: AtomicU32::new(0),
            last_rate: AtomicI64::new(0),
            last_burst: AtomicI64::new(0),
        }
    }
}

impl AutoLsvm {
    /// The microslice the classifier gave (zero: NLSVM).
    pub fn microslice(&self) -> Span {
        Span(self.microslice.load(Relaxed))
    }

    /// What it decided and saw, for display.
    pub fn class(&self) -> AutoClass {
        AutoClass {
            microslice: self.microslice(),
            since: self.since.load(),
            changes: self.changes.load(Relaxed),
            events_per_sec: self.last_rate.load(Relaxed) as u64,
            burst: Span(self.last_burst.load(Relaxed)),
        }
    }

    /// Whether it has measured anything since `auto_lsvm` was last off (if
    /// not, and it is off, there is nothing to count or forget).
    #[inline]
    pub(crate) fn started(&self) -> bool {
        self.window_start.load().is_some()
    }

    /// An event reached one of the domain's vCPUs at `now`.
    pub(crate) fn event(&self, auto: &AtomicBool, now: Time) {
        if auto.load(Relaxed) {
            self.events.fetch_add(1, Relaxed);
        }
        self.evaluate(auto, now);
    }

    /// One of its vCPUs ran `ran` since it was picked, ending at `now`.
    pub(crate) fn ran(&self, ran: Span, auto: &AtomicBool, now: Time) {
        if auto.load(Relaxed) {
            self.runs.fetch_add(1, Relaxed);
            self.run_ns.fetch_add(ran.as_ns().max(0), Relaxed);
        }
        self.evaluate(auto, now);
    }

    /// Closes the window if it has ended (`auto`: the pool's `auto_lsvm`).
    fn evaluate(&self, auto: &AtomicBool, now: Time) {
        if !auto.load(Relaxed) {
            // Off: forget the class (at this domain's next activity) and
            // start afresh if it is turned on again; while off, one read.
            if self.window_start.load().is_none() {
                return;
            }
            if self.microslice.swap(0, Relaxed) != 0 {
                self.since.store(Some(now));
                self.changes.fetch_add(1, Relaxed);
            }
            self.window_start.store(None);
            self.events.store(0, Relaxed);
            self.runs.store(0, Relaxed);
            self.run_ns.store(0, Relaxed);
            self.streak.store(0, Relaxed);
            return;
        }
        let Some(start) = self.window_start.load() else {
            let _ = self.window_start.replace_if(None, Some(now));
            return;
        };
        let elapsed = now.ns() - start.ns();
        if elapsed < WINDOW.as_ns() || !self.window_start.replace_if(Some(start), Some(now)) {
            return;
        }
        let events = u64::from(self.events.swap(0, Relaxed));
        let runs = i64::from(self.runs.swap(0, Relaxed));
        let run_ns = self.run_ns.swap(0, Relaxed);
        let rate = events.saturating_mul(1_000_000_000) / elapsed.max(1) as u64;
        let burst = if runs > 0 { run_ns / runs } else { 0 };
        self.last_rate
            .store(rate.min(i64::MAX as u64) as i64, Relaxed);
        self.last_burst.store(burst, Relaxed);
        let lsvm = self.microslice.load(Relaxed) > 0;
        let says_lsvm = if lsvm {
            rate >= EVENTS_OFF
        } else {
            rate >= EVENTS_ON
        };
        if says_lsvm == lsvm {
            self.streak.store(0, Relaxed);
            return;
        }
        let need = if lsvm { WINDOWS_OFF } else { WINDOWS_ON };
        if self.streak.fetch_add(1, Relaxed) + 1 < need {
            return;
        }
        self.streak.store(0, Relaxed);
        let t_m = if says_lsvm {
            derived_microslice(Span(burst))
        } else {
            Span::ZERO
        };
        self.microslice.store(t_m.as_ns(), Relaxed);
        self.since.store(Some(now));
        self.changes.fetch_add(1, Relaxed);
        // Turned off on another pCPU while this window was judged: its
        // reset may have come before this store, so forget the class again
        // (otherwise it would stay until `auto_lsvm` is turned back on).
        if !auto.load(Relaxed) {
            self.evaluate(auto, now);
        }
    }
}

/// The microslice for a domain whose mean run burst is `burst`: rounded up
/// to a whole millisecond, within [`MICROSLICE_MIN`]..=[`MICROSLICE_MAX`].
pub fn derived_microslice(burst: Span) -> Span {
    let ms = 1_000_000;
    let up = burst.as_ns().saturating_add(ms - 1) / ms * ms;
    Span(up).max(MICROSLICE_MIN).min(MICROSLICE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    static ON: AtomicBool = AtomicBool::new(true);

    /// Drives one window: `events` events and runs of `burst` spread over
    /// it, then the evaluation at its end.
    fn window(a: &AutoLsvm, t: &mut i64, events: u32, burst: Span) {
        for _ in 0..events {
            a.event(&ON, Time(*t));
        }
        for _ in 0..10 {
            a.ran(burst, &ON, Time(*t));
        }
        *t += WINDOW.as_ns();
        a.ran(burst, &ON, Time(*t));
    }

    #[test]
    fn a_busy_event_stream_makes_an_lsvm_after_two_windows_and_keeps_it() {
        let a = AutoLsvm::default();
        let mut t = 0;
        a.ran(Span::ms(3), &ON, Time(t)); // starts the window
        window(&a, &mut t, 50, Span::us(3_400));
        assert_eq!(a.microslice(), Span::ZERO, "one window is not enough");
        window(&a, &mut t, 50, Span::us(3_400));
        assert_eq!(a.microslice(), Span::ms(4), "burst 3.4 ms rounded up");
        assert_eq!(a.class().changes, 1);
        // Between the thresholds a window agrees with the class it has.
        for _ in 0..5 {
            window(&a, &mut t, 15, Span::ms(1));
        }
        assert_eq!(a.microslice(), Span::ms(4), "no flapping at 15 events/s");
    }

    #[test]
    fn no_events_never_make_an_lsvm_and_quiet_windows_end_one() {
        let a = AutoLsvm::default();
        let mut t = 0;
        a.ran(Span::ms(30), &ON, Time(t));
        for _ in 0..10 {
            window(&a, &mut t, 0, Span::ms(30));
        }
        assert_eq!(a.microslice(), Span::ZERO, "a CPU hog stays an NLSVM");
        for _ in 0..2 {
            window(&a, &mut t, 100, Span::ms(30));
        }
        assert_eq!(a.microslice(), MICROSLICE_MAX, "a long burst is capped");
        window(&a, &mut t, 5, Span::ms(30));
        window(&a, &mut t, 5, Span::ms(30));
        assert_eq!(
            a.microslice(),
            MICROSLICE_MAX,
            "two quiet windows are not enough"
        );
        window(&a, &mut t, 5, Span::ms(30));
        assert_eq!(a.microslice(), Span::ZERO, "three are");
        assert_eq!(a.class().changes, 2);
    }

    #[test]
    fn turning_it_off_forgets_the_class() {
        let a = AutoLsvm::default();
        let mut t = 0;
        a.ran(Span::ms(1), &ON, Time(t));
        window(&a, &mut t, 100, Span::us(200));
        window(&a, &mut t, 100, Span::us(200));
        assert_eq!(
            a.microslice(),
            MICROSLICE_MIN,
            "a short burst gets the floor"
        );
        a.event(&AtomicBool::new(false), Time(t));
        assert_eq!(a.microslice(), Span::ZERO);
    }
}
