//! One distribution's HDR histogram, in the memory its samples need.
//!
//! The buckets are HdrHistogram's at two significant digits (lowest value
//! 1, the layout of the `hdrhistogram` crate's `Histogram::new(2)`): 256
//! exact counters for values below 256 ns, then 128 per doubling, so a bucket
//! spans less than 1/128 of its values. A test feeds the same samples to
//! this store and to the crate and reads the same percentiles from both.
//!
//! The store is this module's own because the crate keeps every counter
//! from 0 to the largest sample in one array of one width: about 3,000
//! two-byte counters for a distribution reaching a second, two thirds of
//! them zero, which made the histograms three quarters of a large host's
//! memory (issue 15). Here the counters live in pages of 128 (a doubling),
//! allocated when a sample first lands in them, each as narrow as its own
//! largest count allows: `u8`, widened to `u16`, `u32`, `u64` when one of its
//! counters is full. A distribution of a few thousand samples over a second
//! keeps ~18 pages, most of them of one byte per counter.

/// Counters per page: one doubling's sub-buckets.
const PAGE: usize = 128;
const PAGE_BITS: u32 = PAGE.trailing_zeros();

/// The relative error of a value read back as the top of its bucket
/// (above the value, never below): 1/128 at 2 significant digits.
pub const BUCKET_ERROR: f64 = 1.0 / PAGE as f64;

/// One page's counters, as wide as its fullest one needs.
#[derive(Clone, Debug)]
enum Page {
    U8(Box<[u8; PAGE]>),
    U16(Box<[u16; PAGE]>),
    U32(Box<[u32; PAGE]>),
    U64(Box<[u64; PAGE]>),
}

impl Page {
    fn get(&self, slot: usize) -> u64 {
        match self {
            Page::U8(c) => c[slot].into(),
            Page::U16(c) => c[slot].into(),
            Page::U32(c) => c[slot].into(),
            Page::U64(c) => c[slot],
        }
    }

    /// Adds one to `slot`, first widening the page if that counter is full.
    fn bump(&mut self, slot: usize) {
        let full = match self {
            Page::U8(c) => c[slot] == u8::MAX,
            Page::U16(c) => c[slot] == u16::MAX,
            Page::U32(c) => c[slot] == u32::MAX,
            // A count of 2^64 samples is out of any run's reach.
            Page::U64(_) => false,
        };
        if full {
            *self = match self {
                Page::U8(c) => Page::U16(Box::new(c.map(u16::from))),
                Page::U16(c) => Page::U32(Box::new(c.map(u32::from))),
                Page::U32(c) => Page::U64(Box::new(c.map(u64::from))),
                Page::U64(_) => unreachable!("a u64 page never widens"),
            };
        }
        match self {
            Page::U8(c) => c[slot] += 1,
            Page::U16(c) => c[slot] += 1,
            Page::U32(c) => c[slot] += 1,
            Page::U64(c) => c[slot] = c[slot].saturating_add(1),
        }
    }
}

/// Samples held back and counted together.
const BATCH: usize = 16;

/// A histogram of non-negative nanosecond values.
#[derive(Clone, Debug, Default)]
pub(crate) struct Hist {
    /// Page `p` holds counters `128·p ..` of HdrHistogram's counts array;
    /// `None` until a sample lands in it. As long as the highest page used.
    pages: Vec<Option<Page>>,
    /// The latest samples, not yet counted. On a large host a histogram's
    /// page is rarely in the cache when a sample comes, and counting one
    /// sample at a time waited for memory on each (a third of the run's
    /// time at 256 pCPUs); counted in a batch, their misses overlap.
    held: [u64; BATCH],
    n_held: u8,
}

/// The page and slot of `v`'s bucket. Values below 256 are their own
/// buckets (pages 0 and 1); a value with `8 + b` significant bits (b ≥ 1)
/// lies in doubling `b`, page `b + 1`, whose 128 buckets are `2^b` wide.
fn locate(v: u64) -> (usize, usize) {
    let b = (u64::BITS - (v | 0xff).leading_zeros()) - (PAGE_BITS + 1);
    if b == 0 {
        ((v >> PAGE_BITS) as usize, (v as usize) & (PAGE - 1))
    } else {
        (b as usize + 1, ((v >> b) as usize) - PAGE)
    }
}

/// The largest value in the bucket at `page`, `slot`.
fn top(page: usize, slot: usize) -> u64 {
    if page <= 1 {
        (page * PAGE + slot) as u64
    } else {
        let b = page as u32 - 1;
        (((slot + PAGE) as u64) << b) + ((1u64 << b) - 1)
    }
}

impl Hist {
    /// Records `v`.
    pub(crate) fn record(&mut self, v: u64) {
        self.held[usize::from(self.n_held)] = v;
        self.n_held += 1;
        if usize::from(self.n_held) == BATCH {
            self.flush();
        }
    }

    /// Counts the samples held back.
    pub(crate) fn flush(&mut self) {
        let n = usize::from(std::mem::take(&mut self.n_held));
        for i in 0..n {
            self.count(self.held[i]);
        }
    }

    fn count(&mut self, v: u64) {
        let (page, slot) = locate(v);
        if page >= self.pages.len() {
            // Exactly as long as needed: a histogram grows a page at a time
            // and rarely (once per doubling of its largest sample).
            self.pages.reserve_exact(page + 1 - self.pages.len());
            self.pages.resize_with(page + 1, || None);
        }
        self.pages[page]
            .get_or_insert_with(|| Page::U8(Box::new([0; PAGE])))
            .bump(slot);
    }

    /// The top of the bucket holding the sample at each 1-based rank
    /// (ascending), in one walk; `u64::MAX` for a rank past the count.
    pub(crate) fn nearest_ranks<const N: usize>(&self, ranks: [u64; N]) -> [u64; N] {
        if self.n_held > 0 {
            let mut all = self.clone();
            all.flush();
            return all.nearest_ranks(ranks);
        }
        let mut tops = [u64::MAX; N];
        let (mut i, mut seen) = (0, 0u64);
        for (p, page) in self.pages.iter().enumerate() {
            let Some(page) = page else { continue };
            for slot in 0..PAGE {
                seen += page.get(slot);
                while i < N && seen >= ranks[i] {
                    tops[i] = top(p, slot);
                    i += 1;
                }
                if i == N {
                    return tops;
                }
            }
        }
        tops
    }

    /// Bytes of heap this histogram holds (its page table and pages).
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        let pages: usize = self
            .pages
            .iter()
            .flatten()
            .map(|p| match p {
                Page::U8(_) => PAGE,
                Page::U16(_) => 2 * PAGE,
                Page::U32(_) => 4 * PAGE,
                Page::U64(_) => 8 * PAGE,
            })
            .sum();
        pages + self.pages.capacity() * std::mem::size_of::<Option<Page>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;

    /// The crate's histogram at the same precision: the reference.
    fn reference() -> Histogram<u64> {
        Histogram::new(2).expect("2 significant digits")
    }

    /// The crate's nearest-rank bucket tops, the way `nearest_ranks` reads them.
    fn reference_ranks<const N: usize>(h: &Histogram<u64>, ranks: [u64; N]) -> [u64; N] {
        let mut tops = [u64::MAX; N];
        let (mut i, mut seen) = (0, 0);
        for b in h.iter_recorded() {
            seen += b.count_since_last_iteration();
            while i < N && seen >= ranks[i] {
                tops[i] = h.highest_equivalent(b.value_iterated_to());
                i += 1;
            }
        }
        tops
    }

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// Every bucket boundary agrees with the crate's: each value's bucket
    /// top here is the crate's `highest_equivalent`, from 0 to 2^63.
    #[test]
    fn buckets_are_hdrhistograms() {
        let h = reference();
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let edges = (0..63).flat_map(|k| {
            let p = 1u64 << k;
            [p - 1, p, p + 1]
        });
        let random = (0..20_000).map(|_| {
            let v = xorshift(&mut x);
            v >> (v % 63)
        });
        for v in edges.chain(random).map(|v| v & (u64::MAX >> 1)) {
            let (p, s) = locate(v);
            assert!(s < PAGE, "{v}: slot {s}");
            assert_eq!(top(p, s), h.highest_equivalent(v), "value {v}");
        }
    }

    /// Widening pages and adding them lose nothing: the same samples give
    /// the crate's percentiles, and the memory is a fraction of the crate's.
    #[test]
    fn ranks_match_hdrhistogram() {
        let mut h = Hist::default();
        let mut wide = reference();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let n = 300_000u64;
        for i in 0..n {
            // Mostly small values in a few hot buckets (counters past 255
            // and 65,535 widen), now and then a far larger one.
            let r = xorshift(&mut x);
            let v = match i % 1000 {
                0 => r % (1 << 40),
                1..=600 => 5_000 + r % 4,
                _ => r % 50_000,
            };
            h.record(v);
            wide.record(v).unwrap();
        }
        assert!(
            h.pages.iter().flatten().any(|p| matches!(p, Page::U32(_))),
            "a counter past 65,535 widened its page"
        );
        let ranks = [1, 2, n / 2, n * 99 / 100, n * 999 / 1000, n - 1, n, n + 1];
        assert_eq!(h.nearest_ranks(ranks), reference_ranks(&wide, ranks));
        let crate_bytes = wide.distinct_values() * 2;
        assert!(
            h.heap_bytes() < crate_bytes / 2,
            "{} bytes here, {crate_bytes} in the crate's u16 counters",
            h.heap_bytes()
        );
    }

    /// A histogram fed nothing answers every rank as past its count.
    #[test]
    fn empty_has_no_ranks() {
        assert_eq!(Hist::default().nearest_ranks([1, 2]), [u64::MAX; 2]);
    }
}
