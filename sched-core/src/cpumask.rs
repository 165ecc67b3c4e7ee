//! pCPU ids and fixed-size pCPU masks.
//!
//! Xen's `cpumask_t` is `NR_CPUS` bits (256 by default on x86). The core keeps the
//! same bound so a mask is a plain 32-byte value: cheap to copy, no allocation,
//! and small enough for Xen's 8 KiB primary stack.

use core::sync::atomic::{AtomicU64, Ordering};

/// The most pCPUs a scheduler instance handles (Xen's default `NR_CPUS` on x86).
pub const MAX_CPUS: usize = 256;
/// 64-bit words in a [`CpuMask`].
pub const WORDS: usize = MAX_CPUS / 64;

/// A physical CPU number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuId(pub u16);

impl CpuId {
    /// The id as an index into per-pCPU arrays.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A set of pCPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CpuMask([u64; WORDS]);

impl CpuMask {
    /// The empty set.
    pub const EMPTY: CpuMask = CpuMask([0; WORDS]);

    /// Every pCPU id below `n` (clamped to [`MAX_CPUS`]).
    pub fn first_n(n: usize) -> CpuMask {
        let mut m = CpuMask::EMPTY;
        for c in 0..n.min(MAX_CPUS) {
            m.set(CpuId(c as u16));
        }
        m
    }

    /// A mask from its 64-bit words, lowest pCPUs first (Xen's
    /// `cpumask_t` bitmap layout).
    pub const fn from_words(w: [u64; WORDS]) -> CpuMask {
        CpuMask(w)
    }

    /// The mask's 64-bit words, lowest pCPUs first.
    pub const fn words(&self) -> [u64; WORDS] {
        self.0
    }

    /// A mask holding exactly `cpu`.
    pub fn single(cpu: CpuId) -> CpuMask {
        let mut m = CpuMask::EMPTY;
        m.set(cpu);
        m
    }

    /// Adds `cpu` (ids at or above [`MAX_CPUS`] are ignored).
    pub fn set(&mut self, cpu: CpuId) {
        if let Some(w) = self.0.get_mut(cpu.index() / 64) {
            *w |= 1 << (cpu.index() % 64);
        }
    }

    /// Removes `cpu`.
    pub fn clear(&mut self, cpu: CpuId) {
        if let Some(w) = self.0.get_mut(cpu.index() / 64) {
            *w &= !(1 << (cpu.index() % 64));
        }
    }

    /// Whether `cpu` is in the set.
    pub fn contains(&self, cpu: CpuId) -> bool {
        self.0
            .get(cpu.index() / 64)
            .is_some_and(|w| w & (1 << (cpu.index() % 64)) != 0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// How many pCPUs are in the set.
    pub fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    /// Intersection.
    #[must_use]
    pub fn and(&self, other: &CpuMask) -> CpuMask {
        let mut out = *self;
        for (a, b) in out.0.iter_mut().zip(other.0.iter()) {
            *a &= *b;
        }
        out
    }

    /// `self` minus `other`.
    #[must_use]
    pub fn and_not(&self, other: &CpuMask) -> CpuMask {
        let mut out = *self;
        for (a, b) in out.0.iter_mut().zip(other.0.iter()) {
            *a &= !*b;
        }
        out
    }

    /// Whether the two sets share a pCPU.
    pub fn intersects(&self, other: &CpuMask) -> bool {
        !self.and(other).is_empty()
    }

    /// The lowest pCPU id at or above `from`, if any.
    pub fn next_from(&self, from: usize) -> Option<CpuId> {
        let mut word = from / 64;
        if word >= WORDS {
            return None;
        }
        let mut bits = self.0[word] & (!0u64 << (from % 64));
        loop {
            if bits != 0 {
                return Some(CpuId((word * 64 + bits.trailing_zeros() as usize) as u16));
            }
            word += 1;
            if word >= WORDS {
                return None;
            }
            bits = self.0[word];
        }
    }

    /// The lowest pCPU id in the set.
    pub fn first(&self) -> Option<CpuId> {
        self.next_from(0)
    }

    /// Xen's `cpumask_cycle`: the next pCPU after `after`, wrapping around;
    /// `after` itself is returned only when it is the sole member.
    pub fn cycle(&self, after: CpuId) -> Option<CpuId> {
        self.next_from(after.index() + 1).or_else(|| self.first())
    }

    /// The members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = CpuId> + '_ {
        let mut next = 0usize;
        core::iter::from_fn(move || {
            let c = self.next_from(next)?;
            next = c.index() + 1;
            Some(c)
        })
    }
}

/// A pCPU mask updated with atomic bit operations (Xen's `prv->idlers`).
#[derive(Debug, Default)]
pub struct AtomicCpuMask([AtomicU64; WORDS]);

impl AtomicCpuMask {
    /// An empty mask.
    pub const fn new() -> AtomicCpuMask {
        AtomicCpuMask([const { AtomicU64::new(0) }; WORDS])
    }

    /// Adds `cpu`.
    pub fn set(&self, cpu: CpuId) {
        if let Some(w) = self.0.get(cpu.index() / 64) {
            w.fetch_or(1 << (cpu.index() % 64), Ordering::AcqRel);
        }
    }

    /// Removes `cpu`.
    pub fn clear(&self, cpu: CpuId) {
        if let Some(w) = self.0.get(cpu.index() / 64) {
            w.fetch_and(!(1 << (cpu.index() % 64)), Ordering::AcqRel);
        }
    }

    /// Sets `cpu` when `on`, else clears it, writing only when that changes
    /// the set (a read is cheaper than a locked write to a shared line).
    pub fn assign(&self, cpu: CpuId, on: bool) {
        if self.contains(cpu) != on {
            if on {
                self.set(cpu)
            } else {
                self.clear(cpu)
            }
        }
    }

    /// Whether `cpu` is in the set (one word read).
    pub fn contains(&self, cpu: CpuId) -> bool {
        self.0
            .get(cpu.index() / 64)
            .is_some_and(|w| w.load(Ordering::Acquire) & (1 << (cpu.index() % 64)) != 0)
    }

    /// Whether the set is empty (the hot paths ask this before anything).
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| w.load(Ordering::Acquire) == 0)
    }

    /// A consistent-enough copy (each word is read atomically, as Xen's
    /// `cpumask_and` over `prv->idlers` does).
    pub fn snapshot(&self) -> CpuMask {
        let mut m = CpuMask::EMPTY;
        for (dst, src) in m.0.iter_mut().zip(self.0.iter()) {
            *dst = src.load(Ordering::Acquire);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_wraps_like_xen() {
        let mut m = CpuMask::EMPTY;
        m.set(CpuId(3));
        m.set(CpuId(70));
        assert_eq!(m.cycle(CpuId(3)), Some(CpuId(70)));
        assert_eq!(m.cycle(CpuId(70)), Some(CpuId(3)));
        assert_eq!(m.cycle(CpuId(0)), Some(CpuId(3)));
        assert_eq!(CpuMask::single(CpuId(5)).cycle(CpuId(5)), Some(CpuId(5)));
        assert_eq!(CpuMask::EMPTY.cycle(CpuId(0)), None);
    }

    #[test]
    fn set_algebra() {
        let a = CpuMask::first_n(4);
        let b = CpuMask::single(CpuId(2));
        assert_eq!(a.and(&b), b);
        assert_eq!(a.and_not(&b).count(), 3);
        assert!(a.intersects(&b));
        assert_eq!(a.iter().count(), 4);
        let mut out_of_range = CpuMask::EMPTY;
        out_of_range.set(CpuId(MAX_CPUS as u16));
        assert!(out_of_range.is_empty());
    }
}

/// An `Option<CpuId>` that can be swapped atomically. "None" is a value
/// no `CpuId` can take, and it never leaves this type.
#[derive(Debug)]
pub(crate) struct AtomicOptCpu(core::sync::atomic::AtomicU32);

impl AtomicOptCpu {
    const NONE: u32 = u32::MAX;

    /// Holding `None`.
    pub const fn none() -> Self {
        AtomicOptCpu(core::sync::atomic::AtomicU32::new(Self::NONE))
    }

    /// Stores `cpu`, returning what it held.
    pub fn swap(&self, cpu: Option<CpuId>, order: Ordering) -> Option<CpuId> {
        let new = cpu.map_or(Self::NONE, |c| u32::from(c.0));
        let old = self.0.swap(new, order);
        u16::try_from(old).ok().map(CpuId)
    }
}

impl Default for AtomicOptCpu {
    fn default() -> Self {
        Self::none()
    }
}
