//! The link of the accounting lists (active vCPUs of a domain, active
//! domains): an `AtomicLink` whose insertion has no panic path.
//!
//! `intrusive-collections` asserts on every insertion that the element is not
//! linked yet, and panics otherwise. On the runqueue's plain links the
//! compiler folds that assertion into the engine's own check just before;
//! on an atomic link it cannot (two atomic loads are never merged), so a
//! panic path would stay in the hypervisor build, whose audit forbids any.
//! The engine inserts into these lists only under the accounting lock and
//! only after checking, under that lock, that the element is unlinked; so
//! acquiring the link cannot fail, and this link says so to the list.

use core::ptr::NonNull;

use intrusive_collections::linked_list::{AtomicLinkOps, LinkedListOps};
use intrusive_collections::{DefaultLinkOps, LinkOps, LinkedListAtomicLink};

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
