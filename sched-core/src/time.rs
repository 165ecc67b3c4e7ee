//! Time as Xen keeps it: signed 64-bit nanoseconds (`s_time_t`).
//!
//! Two newtypes keep instants and spans apart so that `now - start` is a [`Span`]
//! and `now + slice` is a [`Time`]. All arithmetic saturates: the scheduling path
//! must never panic, and `i64::MAX` doubles as "never" (an idle pCPU's slice, an
//! absent deadline), so saturation keeps "never" stable under addition.

use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};
use core::sync::atomic::Ordering::Relaxed;

/// An instant, in nanoseconds since the host's epoch (Xen: `NOW()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub i64);

/// A signed span of time in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub i64);

impl Time {
    /// The host's epoch.
    pub const ZERO: Time = Time(0);
    /// "Never": later than every real instant.
    pub const NEVER: Time = Time(i64::MAX);

    /// Nanoseconds since the epoch.
    pub const fn ns(self) -> i64 {
        self.0
    }
}

impl Span {
    /// No time at all.
    pub const ZERO: Span = Span(0);
    /// An unbounded span ("forever").
    pub const MAX: Span = Span(i64::MAX);

    /// `n` nanoseconds.
    pub const fn ns(n: i64) -> Span {
        Span(n)
    }
    /// `n` microseconds (Xen: `MICROSECS`).
    pub const fn us(n: i64) -> Span {
        Span(n.saturating_mul(1_000))
    }
    /// `n` milliseconds (Xen: `MILLISECS`).
    pub const fn ms(n: i64) -> Span {
        Span(n.saturating_mul(1_000_000))
    }
    /// `n` seconds.
    pub const fn secs(n: i64) -> Span {
        Span(n.saturating_mul(1_000_000_000))
    }
    /// The span in nanoseconds.
    pub const fn as_ns(self) -> i64 {
        self.0
    }
    /// The span in whole microseconds (rounded toward zero).
    pub const fn as_us(self) -> i64 {
        self.0 / 1_000
    }
    /// The span in whole milliseconds (rounded toward zero).
    pub const fn as_ms(self) -> i64 {
        self.0 / 1_000_000
    }
    /// The length without its sign (saturating at `i64::MAX`).
    pub const fn abs(self) -> Span {
        Span(self.0.saturating_abs())
    }
    /// The larger of two spans.
    pub fn max(self, other: Span) -> Span {
        if self >= other {
            self
        } else {
            other
        }
    }
    /// The smaller of two spans.
    pub fn min(self, other: Span) -> Span {
        if self <= other {
            self
        } else {
            other
        }
    }
}

impl Add<Span> for Time {
    type Output = Time;
    fn add(self, rhs: Span) -> Time {
        Time(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign<Span> for Time {
    fn add_assign(&mut self, rhs: Span) {
        *self = *self + rhs;
    }
}

impl Sub<Span> for Time {
    type Output = Time;
    fn sub(self, rhs: Span) -> Time {
        Time(self.0.saturating_sub(rhs.0))
    }
}

impl SubAssign<Span> for Time {
    fn sub_assign(&mut self, rhs: Span) {
        *self = *self - rhs;
    }
}

impl Sub for Time {
    type Output = Span;
    fn sub(self, rhs: Time) -> Span {
        Span(self.0.saturating_sub(rhs.0))
    }
}

impl Add for Span {
    type Output = Span;
    fn add(self, rhs: Span) -> Span {
        Span(self.0.saturating_add(rhs.0))
    }
}

impl Sub for Span {
    type Output = Span;
    fn sub(self, rhs: Span) -> Span {
        Span(self.0.saturating_sub(rhs.0))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns != 0 && ns % 1_000_000 == 0 {
            write!(f, "{}ms", ns / 1_000_000)
        } else if ns != 0 && ns % 1_000 == 0 {
            write!(f, "{}us", ns / 1_000)
        } else {
            write!(f, "{}ns", ns)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        assert_eq!(Time::NEVER + Span::ms(1), Time::NEVER);
        assert_eq!(Time(i64::MIN) - Span::ms(1), Time(i64::MIN));
        assert_eq!(Time(5) - Time(2), Span(3));
        assert_eq!(Span::ms(30).as_us(), 30_000);
    }

    #[test]
    fn display_picks_the_largest_exact_unit() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(Span::ms(30).to_string(), "30ms");
        assert_eq!(Span::us(500).to_string(), "500us");
        assert_eq!(Span::ns(7).to_string(), "7ns");
    }
}

/// An `Option<Time>` read and changed atomically (relaxed: each is one
/// record's field under the locks its users hold). "None" is an instant no
/// run reaches (stored times are saturated below it) and never leaves this
/// type.
#[derive(Debug)]
pub(crate) struct AtomicOptTime(core::sync::atomic::AtomicI64);

impl AtomicOptTime {
    const NONE: i64 = i64::MAX;

    /// Holding `None`.
    pub(crate) const fn none() -> Self {
        AtomicOptTime(core::sync::atomic::AtomicI64::new(Self::NONE))
    }

    fn enc(t: Option<Time>) -> i64 {
        t.map_or(Self::NONE, |t| t.0.min(Self::NONE - 1))
    }

    fn dec(v: i64) -> Option<Time> {
        (v != Self::NONE).then_some(Time(v))
    }

    pub(crate) fn load(&self) -> Option<Time> {
        Self::dec(self.0.load(Relaxed))
    }

    pub(crate) fn store(&self, t: Option<Time>) {
        self.0.store(Self::enc(t), Relaxed);
    }

    /// Takes it, leaving `None`.
    pub(crate) fn take(&self) -> Option<Time> {
        Self::dec(self.0.swap(Self::NONE, Relaxed))
    }

    /// Sets it to `new` if it holds `current`; whether it did.
    pub(crate) fn replace_if(&self, current: Option<Time>, new: Option<Time>) -> bool {
        self.0
            .compare_exchange(Self::enc(current), Self::enc(new), Relaxed, Relaxed)
            .is_ok()
    }

    /// Keeps the earlier of what it holds and `t` (`None` is later than any).
    pub(crate) fn lower_to(&self, t: Time) {
        self.0.fetch_min(Self::enc(Some(t)), Relaxed);
    }
}
