//! One distribution's HDR histogram, in the memory its data needs.
//!
//! Two significant digits: 256 exact counters for values below 256 ns, then
//! 128 per doubling, so a bucket spans less than 1/128 of its values. The
//! histogram reaches only as far as the largest sample so far (it is
//! replaced by one reaching twice as far, or to the new sample, when one
//! goes past it), and its counters are as narrow as the sample count
//! allows: `u16` until 65,535 samples, then `u32`, then `u64` (no bucket can
//! hold more samples than the whole, so none saturates). Most of a large
//! simulated host's distributions hold a few thousand samples over a range
//! of a second: 3,000 counters of 2 bytes.

use hdrhistogram::{Counter, Histogram};

/// Significant decimal digits kept.
const SIGFIG: u8 = 2;

/// The first histogram's reach, ns: the 256 exact counters and one doubling.
const FIRST_HIGH: u64 = 512;

/// The relative error of a value read back as the top of its bucket
/// (above the value, never below): 1/128 at 2 significant digits.
pub const BUCKET_ERROR: f64 = 1.0 / 128.0;

#[derive(Clone, Debug)]
enum Counts {
    U16(Histogram<u16>),
    U32(Histogram<u32>),
    U64(Histogram<u64>),
}

/// A histogram of non-negative nanosecond values.
#[derive(Clone, Debug)]
pub(crate) struct Hist(Counts);

impl Hist {
    /// A histogram holding `v`.
    pub(crate) fn new(v: u64) -> Hist {
        let mut h = Hist(Counts::U16(empty(FIRST_HIGH.max(v))));
        h.record(v, 1);
        h
    }

    /// Records `v`, the distribution's `n`th sample.
    pub(crate) fn record(&mut self, v: u64, n: u64) {
        // Wider counters first, once the count needs them.
        match &self.0 {
            Counts::U16(h) if n > u64::from(u16::MAX) => {
                self.0 = Counts::U32(copy(h, h.high()));
            }
            Counts::U32(h) if n > u64::from(u32::MAX) => {
                self.0 = Counts::U64(copy(h, h.high()));
            }
            _ => {}
        }
        match &mut self.0 {
            Counts::U16(h) => put(h, v),
            Counts::U32(h) => put(h, v),
            Counts::U64(h) => put(h, v),
        }
    }

    /// The top of the bucket holding the sample at each 1-based rank
    /// (ascending, each at most the count), in one walk.
    pub(crate) fn nearest_ranks<const N: usize>(&self, ranks: [u64; N]) -> [u64; N] {
        match &self.0 {
            Counts::U16(h) => ranked(h, ranks),
            Counts::U32(h) => ranked(h, ranks),
            Counts::U64(h) => ranked(h, ranks),
        }
    }
}

/// An empty histogram reaching `high`.
fn empty<T: Counter>(high: u64) -> Histogram<T> {
    // Bounds 1..=high (512 ≤ high ≤ 2^63) at 2 digits are always valid.
    Histogram::new_with_bounds(1, high, SIGFIG).expect("valid bounds")
}

/// `h`'s counts in a histogram of counters `U` reaching `high` (≥ h's
/// reach, or twice it when that is further). Bucket bounds depend only on
/// the lowest value and the digits, so every count lands in its own bucket.
fn copy<T: Counter, U: Counter>(h: &Histogram<T>, high: u64) -> Histogram<U> {
    let mut next = empty::<U>(high.max(h.high()));
    for b in h.iter_recorded() {
        let n = U::from_u64(b.count_at_value().as_u64()).expect("counters only widen");
        next.record_n(b.value_iterated_to(), n)
            .expect("within the new reach");
    }
    next
}

/// Records `v` into `h`, first replacing `h` by one reaching twice as far
/// (or to `v`) when `v` is past it. Growing by hand rather than with the
/// library's auto-resize, which grows its counts the way a `Vec` grows (up to
/// twice what is needed), keeps the memory at 128 counters per doubling.
fn put<T: Counter>(h: &mut Histogram<T>, v: u64) {
    if v > h.high() {
        *h = copy(h, h.high().saturating_mul(2).max(v));
    }
    h.saturating_record(v);
}

fn ranked<T: Counter, const N: usize>(h: &Histogram<T>, ranks: [u64; N]) -> [u64; N] {
    let mut tops = [h.max(); N];
    let (mut i, mut seen) = (0, 0);
    for b in h.iter_recorded() {
        seen += b.count_since_last_iteration();
        while i < N && seen >= ranks[i] {
            tops[i] = h.highest_equivalent(b.value_iterated_to());
            i += 1;
        }
        if i == N {
            break;
        }
    }
    tops
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Widening and growing keep every count in its bucket: the ranks read
    /// the same as from one wide histogram fed the same values.
    #[test]
    fn widening_and_growing_lose_nothing() {
        let mut h = Hist::new(3);
        let mut wide = empty::<u64>(1 << 40);
        wide.record(3).unwrap();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for n in 2..=70_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly small values, now and then a far larger one.
            let v = if n % 1000 == 0 {
                x % (1 << 36)
            } else {
                x % 50_000
            };
            h.record(v, n);
            wide.record(v).unwrap();
        }
        assert!(matches!(h.0, Counts::U32(_)), "widened past 65,535 samples");
        let ranks = [1, 35_000, 69_300, 69_930, 70_000];
        assert_eq!(h.nearest_ranks(ranks), ranked(&wide, ranks));
    }
}
