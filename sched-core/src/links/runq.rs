//! A pCPU's credit runqueue as per-priority FIFO bands.
//!
//! Credit1 keeps one list sorted by priority and inserts with a linear scan
//! (`__runq_insert`, `credit.c:276-305`): O(n) per wake. Priorities are only
//! BOOST, UNDER and OVER (the idle vCPU is implicit here), so one FIFO per
//! priority gives the same order with O(1) insertion: "insert before the first
//! element of lower priority" is "append to my band".
//!
//! Two credit1 behaviours need care to stay order-identical:
//! - **Yield.** A yielding vCPU goes behind *one* lower-priority vCPU. It is
//!   placed in that lower band right after its head, which is where Xen's list
//!   puts it; its recorded band (not its priority) says which list holds it.
//! - **Priority changes while queued.** Accounting rewrites priorities without
//!   touching runqueues; credit1 fixes the order once per accounting period
//!   from the tick (`csched_runq_sort`: a stable pass moving BOOST/UNDER ahead
//!   of OVER). [`Runq::sort`] does the same pass over the bands. Until then,
//!   like Xen, a vCPU keeps its place and the pick tests its *current* priority.
//!
//! The bands are not quite Xen's list in one case: between an accounting
//! that changes a queued vCPU's priority and the next sort, Xen's insertion
//! scan compares with the *current* priorities of the vCPUs it walks past
//! (an UNDER vCPU woken then goes ahead of one demoted to OVER that still
//! sits among the UNDER ones), while a band appends behind the demoted one
//! (the oracle notes' U2); and Xen's sort keeps BOOST and UNDER in one
//! class (U2b). In Xen-exact mode ([`Runq::set_single`], the pool's
//! `exact`) the runqueue is that one list, with Xen's O(n) scan and sort.

use core::mem::ManuallyDrop;
use core::sync::atomic::Ordering::Relaxed;

use intrusive_collections::LinkedList;

use super::ListId;
use crate::hooks::Hooks;
use crate::records::{Pri, RunqAdapter, VcpuData};

const BANDS: usize = 3;

fn band_of(p: Pri) -> usize {
    match p {
        Pri::Boost => 0,
        Pri::Under => 1,
        Pri::Over | Pri::Idle => 2,
    }
}

/// One pCPU's queued (runnable, not running) vCPUs.
pub(crate) struct Runq<'a, H: Hooks> {
    /// `ManuallyDrop` so that host-owned pCPU and vCPU records may be dropped
    /// in any order (see `DomActive::vcpus`).
    bands: ManuallyDrop<[LinkedList<RunqAdapter<'a, H>>; BANDS]>,
    len: u32,
    /// Its name in its vCPUs' `runq_tag`.
    id: ListId,
    /// Xen-exact mode: every vCPU in band 0, in the order of credit1's list.
    single: bool,
}

impl<'a, H: Hooks> Runq<'a, H> {
    pub(crate) fn new() -> Self {
        Runq {
            bands: ManuallyDrop::new(core::array::from_fn(
                |_| LinkedList::new(RunqAdapter::new()),
            )),
            len: 0,
            id: ListId::new(),
            single: false,
        }
    }

    /// Switches between per-priority bands and Xen's single list (exact
    /// mode), keeping the queued vCPUs in pick order. O(n), on a change of
    /// the pool's parameters only.
    pub(crate) fn set_single(&mut self, single: bool) {
        if single == self.single {
            return;
        }
        self.single = single;
        let old = core::mem::replace(
            &mut *self.bands,
            core::array::from_fn(|_| LinkedList::new(RunqAdapter::new())),
        );
        for mut band in old {
            while let Some(v) = band.pop_front() {
                let b = if single { 0 } else { band_of(v.pri()) };
                self.bands[b].push_back(v);
                v.band.store(b as u8, Relaxed);
            }
        }
    }

    /// `__runq_insert` on credit1's one list (`credit.c:276-305`): before
    /// the first vCPU whose *current* priority is lower; a yielding vCPU one
    /// further, behind that lower one. O(n). Cold: only Xen-exact mode.
    #[cold]
    #[inline(never)]
    fn insert_single(&mut self, v: &'a VcpuData<'a, H>, yielding: bool) -> bool {
        let pri = v.pri();
        let mut cur = self.bands[0].front_mut();
        while cur.get().is_some_and(|w| pri <= w.pri()) {
            cur.move_next();
        }
        // Xen's list ends with the idle vCPU (priority IDLE), which the
        // yield test never passes: at the end there is nothing to go behind.
        if yielding && cur.get().is_some() {
            cur.move_next();
        }
        // Checked next to the insertion, where the list's own
        // already-linked assertion can see it: no panic path.
        if v.on_runq() {
            return false;
        }
        // At the null position this appends at the tail.
        cur.insert_before(v);
        true
    }

    /// Whether `v` is queued here (not on another runqueue): its tag names
    /// this runqueue exactly while it is linked into one of its bands.
    fn holds(&self, v: &VcpuData<'a, H>) -> bool {
        v.runq_tag.is(&self.id)
    }

    /// How many vCPUs are queued.
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// Queues `v` where credit1's `__runq_insert` would. Returns false (and
    /// does nothing) when `v` is already on a runqueue.
    pub(crate) fn insert(&mut self, v: &'a VcpuData<'a, H>, yielding: bool) -> bool {
        if v.on_runq() {
            return false;
        }
        if self.single {
            if !self.insert_single(v, yielding) {
                return false;
            }
            v.band.store(0, Relaxed);
            v.runq_tag.set(&self.id);
            self.len += 1;
            return true;
        }
        let own = band_of(v.pri());
        if yielding {
            if let Some(lower) = (own + 1..BANDS).find(|&b| !self.bands[b].is_empty()) {
                let mut cur = self.bands[lower].front_mut();
                cur.insert_after(v);
                v.band.store(lower as u8, Relaxed);
                v.runq_tag.set(&self.id);
                self.len += 1;
                return true;
            }
        }
        self.bands[own].push_back(v);
        v.band.store(own as u8, Relaxed);
        v.runq_tag.set(&self.id);
        self.len += 1;
        true
    }

    /// Queues `v` in its priority band just before the `n`-th vCPU there for
    /// which [`Hooks::boundary`] holds, or at the band's tail when there are
    /// fewer (vSlicer's "before/after the next NLSVM"); `n = 0` is the head.
    /// O(k) for the k vCPUs walked past. Returns false (and does nothing)
    /// when `v` is queued.
    pub(crate) fn insert_before_boundary(&mut self, v: &'a VcpuData<'a, H>, n: u8) -> bool {
        if self.single {
            return self.insert(v, false);
        }
        if v.on_runq() {
            return false;
        }
        let own = band_of(v.pri());
        let mut seen = 0u8;
        let mut cur = self.bands[own].front_mut();
        while let Some(w) = cur.get().filter(|_| n > 0) {
            if H::boundary(w) {
                seen += 1;
                if seen >= n {
                    break;
                }
            }
            cur.move_next();
        }
        // `boundary` cannot link `v`, but say so where the list's own
        // already-linked assertion can see it, so that no panic path is left.
        if v.on_runq() {
            return false;
        }
        // At the null position (walked off the end) this appends at the tail.
        cur.insert_before(v);
        v.band.store(own as u8, Relaxed);
        v.runq_tag.set(&self.id);
        self.len += 1;
        true
    }

    /// The vCPU after queued `v` in its band, if any. O(1).
    pub(crate) fn next_in_band(&self, v: &'a VcpuData<'a, H>) -> Option<&'a VcpuData<'a, H>> {
        if !self.holds(v) {
            return None;
        }
        let b = (v.band.load(Relaxed) as usize).min(BANDS - 1);
        // SAFETY: `v` is queued here (its tag, checked above) in the band
        // recorded in `v.band`, and `self` is borrowed, so no one changes it.
        let mut c = unsafe { self.bands[b].cursor_from_ptr(v) };
        c.move_next();
        c.clone_pointer()
    }

    /// Queues `v` just before `succ` if `succ` is still queued in `v`'s band
    /// here, else at the tail of that band (credit1's place). O(1).
    pub(crate) fn insert_before(
        &mut self,
        v: &'a VcpuData<'a, H>,
        succ: Option<&'a VcpuData<'a, H>>,
    ) -> bool {
        if self.single {
            return self.insert(v, false);
        }
        let own = band_of(v.pri());
        let succ = succ.filter(|s| self.holds(s) && s.band.load(Relaxed) as usize == own);
        // Checked after the tag loads, next to the insertion, where the
        // list's own already-linked assertion can see it: no panic path.
        if v.on_runq() {
            return false;
        }
        match succ {
            Some(s) => {
                // SAFETY: `s` is queued here (its tag, checked above) in
                // band `own`, and `self` is borrowed mutably.
                let mut c = unsafe { self.bands[own].cursor_mut_from_ptr(s) };
                c.insert_before(v);
            }
            None => self.bands[own].push_back(v),
        }
        v.band.store(own as u8, Relaxed);
        v.runq_tag.set(&self.id);
        self.len += 1;
        true
    }

    /// Removes `v` if it is queued here. O(1).
    pub(crate) fn remove(&mut self, v: &'a VcpuData<'a, H>) -> bool {
        if !self.holds(v) {
            return false;
        }
        let b = (v.band.load(Relaxed) as usize).min(BANDS - 1);
        // SAFETY: `v` is queued here (its tag, checked above) in the band
        // recorded in `v.band`, and `self` is borrowed mutably.
        let mut cur = unsafe { self.bands[b].cursor_mut_from_ptr(v) };
        if cur.remove().is_some() {
            v.runq_tag.clear();
            self.len -= 1;
            true
        } else {
            false
        }
    }

    /// The vCPU credit1 would find at the head of its list.
    pub(crate) fn head(&self) -> Option<&'a VcpuData<'a, H>> {
        self.bands.iter().find_map(|b| b.front().clone_pointer())
    }

    /// Queued vCPUs in pick order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'a VcpuData<'a, H>> + '_ {
        self.bands.iter().flat_map(|b| {
            let mut c = b.front();
            core::iter::from_fn(move || {
                let v = c.clone_pointer()?;
                c.move_next();
                Some(v)
            })
        })
    }

    /// Queued vCPUs from the last to be picked to the first.
    pub(crate) fn iter_rev(&self) -> impl Iterator<Item = &'a VcpuData<'a, H>> + '_ {
        self.bands.iter().rev().flat_map(|b| {
            let mut c = b.back();
            core::iter::from_fn(move || {
                let v = c.clone_pointer()?;
                c.move_prev();
                Some(v)
            })
        })
    }

    /// Credit1's `csched_runq_sort`: a stable partition putting every vCPU
    /// whose priority is now BOOST or UNDER ahead of every OVER one. O(n),
    /// at most once per accounting period per pCPU.
    pub(crate) fn sort(&mut self) {
        if self.single {
            // Xen's pass: BOOST and UNDER (one class) ahead of OVER, stable.
            let mut list =
                core::mem::replace(&mut self.bands[0], LinkedList::new(RunqAdapter::new()));
            let mut over = LinkedList::new(RunqAdapter::new());
            while let Some(v) = list.pop_front() {
                if v.pri() > Pri::Over {
                    self.bands[0].push_back(v);
                } else {
                    over.push_back(v);
                }
            }
            while let Some(v) = over.pop_front() {
                self.bands[0].push_back(v);
            }
            return;
        }
        let old = core::mem::replace(
            &mut *self.bands,
            core::array::from_fn(|_| LinkedList::new(RunqAdapter::new())),
        );
        // Visiting the old bands in order and appending keeps the partition stable.
        for mut band in old {
            while let Some(v) = band.pop_front() {
                let dst = match v.pri() {
                    // A BOOST vCPU found behind others (it yielded) keeps its
                    // relative place among the UNDER ones, as in Xen's pass.
                    Pri::Boost if v.band.load(Relaxed) == 0 => 0,
                    Pri::Boost | Pri::Under => 1,
                    Pri::Over | Pri::Idle => 2,
                };
                self.bands[dst].push_back(v);
                v.band.store(dst as u8, Relaxed);
            }
        }
    }
}
