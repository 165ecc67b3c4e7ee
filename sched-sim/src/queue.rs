//! The event queue: a calendar (Brown's calendar queue) of short buckets
//! over the next second, each sorted only when the clock reaches it.
//!
//! Why not one binary heap: on a host of 256 pCPUs a few thousand events
//! are queued at once, and a pop walked a dozen levels of a heap too large
//! for the L1 cache, each a dependent load: a quarter of the run's time.
//! Most events fall a few milliseconds ahead, so they are dropped unsorted
//! into the bucket of their instant (O(1)); when the clock reaches a bucket,
//! its few dozen events become a small heap. Events more than a second ahead
//! wait in a heap of their own and join their bucket when it comes round.
//!
//! Items come out in the order of their `u128` keys, exactly as from one
//! heap. The simulator's keys are `(time << 64) | sequence`: unique, and
//! never below the key last popped (nothing is posted in the past).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A bucket spans 2^18 ns (262 µs): a few dozen events on a large host.
const BUCKET_BITS: u32 = 18;
/// Buckets ahead of the current one: 4,096 reach 1.07 s.
const RING: usize = 1024;
/// Items a bucket keeps room for once emptied.
const KEEP: usize = 16;

/// An item in a heap, smallest key first.
#[derive(Debug)]
struct Item<T> {
    key: u128,
    item: T,
}

impl<T> PartialEq for Item<T> {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl<T> Eq for Item<T> {}
impl<T> PartialOrd for Item<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Item<T> {
    /// Reversed: `BinaryHeap` pops its largest.
    fn cmp(&self, o: &Self) -> Ordering {
        o.key.cmp(&self.key)
    }
}

/// Items ordered by their `u128` key (its high 64 bits an instant in ns),
/// smallest first.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    /// The current bucket's items, and any pushed at or before it.
    now: BinaryHeap<Item<T>>,
    /// The current bucket's number (instant >> BUCKET_BITS).
    cur: u64,
    /// Buckets `cur + 1 .. cur + RING`, at their number modulo RING, unsorted.
    ring: Vec<Vec<Item<T>>>,
    /// Items in `ring`.
    in_ring: usize,
    /// Items of buckets `cur + RING` and later.
    far: BinaryHeap<Item<T>>,
}

fn bucket(key: u128) -> u64 {
    ((key >> 64) as u64) >> BUCKET_BITS
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        Queue {
            now: BinaryHeap::new(),
            cur: 0,
            ring: (0..RING).map(|_| Vec::new()).collect(),
            in_ring: 0,
            far: BinaryHeap::new(),
        }
    }

    pub(crate) fn push(&mut self, key: u128, item: T) {
        let b = bucket(key);
        let it = Item { key, item };
        if b <= self.cur {
            self.now.push(it);
        } else if b - self.cur < RING as u64 {
            self.ring[b as usize % RING].push(it);
            self.in_ring += 1;
        } else {
            self.far.push(it);
        }
    }

    /// The item of the smallest key, and its key, left queued.
    pub(crate) fn peek(&mut self) -> Option<(u128, &T)> {
        while self.now.is_empty() {
            if !self.advance() {
                return None;
            }
        }
        self.now.peek().map(|it| (it.key, &it.item))
    }

    /// The item of the smallest key, and its key.
    pub(crate) fn pop(&mut self) -> Option<(u128, T)> {
        loop {
            if let Some(Item { key, item }) = self.now.pop() {
                return Some((key, item));
            }
            if !self.advance() {
                return None;
            }
        }
    }

    /// Moves to the next bucket holding anything, and sorts it into `now`
    /// (empty on entry); false when nothing is queued at all.
    fn advance(&mut self) -> bool {
        if self.in_ring == 0 {
            // Nothing within a second: jump to the first far item's bucket.
            match self.far.peek() {
                Some(first) => self.cur = bucket(first.key),
                None => return false,
            }
        } else {
            self.cur += 1;
            while self.ring[self.cur as usize % RING].is_empty() && !self.far_is_due() {
                self.cur += 1;
            }
        }
        let mut next = std::mem::take(&mut self.now).into_vec();
        let slot = &mut self.ring[self.cur as usize % RING];
        self.in_ring -= slot.len();
        next.append(slot);
        if slot.capacity() > KEEP {
            // A burst (periodic work released in step) passed through this
            // bucket: give the memory back rather than hold the burst's size
            // in every bucket it ever visits.
            *slot = Vec::new();
        }
        while self.far_is_due() {
            next.extend(self.far.pop());
        }
        self.now = BinaryHeap::from(next);
        true
    }

    /// Whether the first far item belongs to the current bucket (it came
    /// within the ring's reach while the clock moved).
    fn far_is_due(&self) -> bool {
        self.far.peek().is_some_and(|f| bucket(f.key) <= self.cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;

    /// Random pushes (at the last popped instant or later: mostly near,
    /// sometimes seconds ahead) and pops come out as from one heap.
    #[test]
    fn pops_in_the_order_of_one_heap() {
        let mut q = Queue::new();
        let mut reference = BinaryHeap::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut now = 0u64;
        for seq in 0..300_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x % 5 < 3 {
                let ahead = match x % 100 {
                    0..=9 => 0,
                    10..=89 => x % (1 << 22),
                    90..=97 => x % (3 << 30),
                    _ => x % (1 << 40),
                };
                let key = (u128::from(now + ahead) << 64) | u128::from(seq);
                q.push(key, seq);
                reference.push(Reverse((key, seq)));
            } else {
                let got = q.pop();
                assert_eq!(got, reference.pop().map(|Reverse(e)| e));
                if let Some((key, _)) = got {
                    now = (key >> 64) as u64;
                }
            }
        }
        while let Some(Reverse(e)) = reference.pop() {
            assert_eq!(q.pop(), Some(e));
        }
        assert_eq!(q.pop(), None);
    }
}
