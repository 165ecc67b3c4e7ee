//! Everything that links host-owned records into the engine's lists, and
//! the only place in `sched-core` with `unsafe` code (the crate denies it
//! elsewhere): intrusive lists hand out a cursor at an element only on the
//! promise that the element is in that list, and the vCPU record is shared
//! across pCPUs although its runqueue links are plain cells.
//! - `runq`: a pCPU's credit runqueue (per-priority bands);
//! - here: the link of the accounting lists and why `VcpuData` is `Sync`.
//!
//! The link of the accounting lists (active vCPUs of a domain, active
//! domains) is an `AtomicLink` whose insertion has no panic path.
//! `intrusive-collections` asserts on every insertion that the element is not
//! linked yet, and panics otherwise. On the runqueue's plain links the
//! compiler folds that assertion into the engine's own check just before;
//! on an atomic link it cannot (two atomic loads are never merged), so a
//! panic path would stay in the hypervisor build, whose audit forbids any.
//! The engine inserts into these lists only under the accounting lock and
//! only after checking, under that lock, that the element is unlinked; so
//! acquiring the link cannot fail, and this link says so to the list.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub(crate) mod active;
pub(crate) mod deadline;
pub(crate) mod runq;

use intrusive_collections::linked_list::{AtomicLinkOps, LinkedListOps};
use intrusive_collections::{DefaultLinkOps, LinkOps, LinkedListAtomicLink};

use crate::hooks::Hooks;
use crate::records::VcpuData;

/// The name of one list, unique among every list of every engine in the
/// address space (a 64-bit counter, never reused).
#[derive(Debug)]
pub(crate) struct ListId(u64);

static NEXT_LIST: AtomicU64 = AtomicU64::new(1);

impl ListId {
    pub(crate) fn new() -> ListId {
        ListId(NEXT_LIST.fetch_add(1, Relaxed))
    }
}

/// Which list holds an element, written only by this module's lists, under
/// the lock of the list it names. A cursor at an element is made only when
/// its tag names the list at hand, so an element of another list (of this
/// engine or another one, passed by a confused host) is refused rather than
/// trusted: holding a list's lock, a tag naming that list cannot change
/// under the reader, and it names the list only while the element is in it.
#[derive(Debug, Default)]
pub(crate) struct Tag(AtomicU64);

impl Tag {
    /// In no list.
    pub(crate) const fn none() -> Tag {
        Tag(AtomicU64::new(0))
    }
    /// Whether the element is in `list`.
    pub(crate) fn is(&self, list: &ListId) -> bool {
        self.0.load(Relaxed) == list.0
    }
    fn set(&self, list: &ListId) {
        self.0.store(list.0, Relaxed);
    }
    fn clear(&self) {
        self.0.store(0, Relaxed);
    }
}

/// A list link for elements shared across pCPUs, inserted only when known
/// to be unlinked.
#[repr(transparent)]
#[derive(Default)]
pub(crate) struct ActiveLink(LinkedListAtomicLink);

impl ActiveLink {
    #[inline]
    pub(crate) const fn new() -> ActiveLink {
        ActiveLink(LinkedListAtomicLink::new())
    }
    /// Whether the element is on a list.
    #[inline]
    pub(crate) fn is_linked(&self) -> bool {
        self.0.is_linked()
    }
}

impl DefaultLinkOps for ActiveLink {
    type Ops = ActiveLinkOps;
    const NEW: ActiveLinkOps = ActiveLinkOps;
}

/// [`AtomicLinkOps`] whose acquire reports success.
#[derive(Clone, Copy, Default)]
pub(crate) struct ActiveLinkOps;

/// The `AtomicLink` inside an `ActiveLink` (`repr(transparent)`).
#[inline]
fn inner(p: NonNull<ActiveLink>) -> NonNull<LinkedListAtomicLink> {
    p.cast()
}

// SAFETY: every operation is `AtomicLinkOps`'s on the wrapped link (same
// address, `repr(transparent)`). `acquire_link` performs the same
// compare-exchange and reports success: the engine only inserts an element
// it found unlinked under the lock that guards the list (see the module
// comment), so the exchange cannot fail there.
unsafe impl LinkOps for ActiveLinkOps {
    type LinkPtr = NonNull<ActiveLink>;

    #[inline]
    unsafe fn acquire_link(&mut self, ptr: Self::LinkPtr) -> bool {
        // SAFETY: `ptr` is a live link (the list's contract).
        let _ = unsafe { AtomicLinkOps.acquire_link(inner(ptr)) };
        true
    }

    #[inline]
    unsafe fn release_link(&mut self, ptr: Self::LinkPtr) {
        // SAFETY: as above.
        unsafe { AtomicLinkOps.release_link(inner(ptr)) }
    }
}

// SAFETY: delegates to `AtomicLinkOps` on the same addresses.
unsafe impl LinkedListOps for ActiveLinkOps {
    #[inline]
    unsafe fn next(&self, ptr: Self::LinkPtr) -> Option<Self::LinkPtr> {
        // SAFETY: the list's contract, forwarded.
        unsafe { LinkedListOps::next(&AtomicLinkOps, inner(ptr)).map(NonNull::cast) }
    }

    #[inline]
    unsafe fn prev(&self, ptr: Self::LinkPtr) -> Option<Self::LinkPtr> {
        // SAFETY: the list's contract, forwarded.
        unsafe { LinkedListOps::prev(&AtomicLinkOps, inner(ptr)).map(NonNull::cast) }
    }

    #[inline]
    unsafe fn set_next(&mut self, ptr: Self::LinkPtr, next: Option<Self::LinkPtr>) {
        // SAFETY: the list's contract, forwarded.
        unsafe { LinkedListOps::set_next(&mut AtomicLinkOps, inner(ptr), next.map(inner)) }
    }

    #[inline]
    unsafe fn set_prev(&mut self, ptr: Self::LinkPtr, prev: Option<Self::LinkPtr>) {
        // SAFETY: the list's contract, forwarded.
        unsafe { LinkedListOps::set_prev(&mut AtomicLinkOps, inner(ptr), prev.map(inner)) }
    }
}

// SAFETY: every field of `VcpuData` is `Sync` except `runq_link` and
// `order_link`, whose cells are read and written only by `Runq` methods,
// `on_runq` and a layer's per-pCPU queue (which lives inside
// `PcpuData::locked`), always with the runqueue lock of the vCPU's processor
// held (`PcpuData::locked`):
// wake, sleep, remove and migrate take it through `lock_vcpu`, which
// re-checks the processor under the lock; `do_schedule` touches only its own
// queue and its own current vCPU; work stealing holds the peer's lock. The
// processor itself changes only with the old runqueue's lock held (migrate,
// steal), so that lock orders every access to the link and no two threads
// touch it at once. `ext` is `Sync` by the `Hooks` bounds.
unsafe impl<H: Hooks> Sync for VcpuData<'_, H> {}
