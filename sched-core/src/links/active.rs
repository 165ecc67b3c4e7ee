//! The accounting lists (`csched_dom.active_unit`, `prv->active_sdom`): a
//! domain's vCPUs that earn credit, and the engine's domains that have any.
//! Both are newest first, as credit1's `list_add` keeps them.

use core::mem::ManuallyDrop;

use intrusive_collections::LinkedList;

use super::ListId;
use crate::hooks::Hooks;
use crate::records::{ActiveDomAdapter, ActiveVcpuAdapter, DomData, VcpuData};

/// A domain's credit-earning vCPUs, under the domain's `active` lock.
pub(crate) struct ActiveVcpus<'a, H: Hooks> {
    /// `ManuallyDrop` because the records point at each other (vCPU → domain,
    /// domain list → vCPU): a list with drop glue would make the borrow checker
    /// demand that each outlive the other. Dropping a list only unlinks its
    /// elements, which are being dropped with it anyway.
    list: ManuallyDrop<LinkedList<ActiveVcpuAdapter<'a, H>>>,
    id: ListId,
}

impl<'a, H: Hooks> ActiveVcpus<'a, H> {
    pub(crate) fn new() -> Self {
        ActiveVcpus {
            list: ManuallyDrop::new(LinkedList::new(ActiveVcpuAdapter::new())),
            id: ListId::new(),
        }
    }

    /// Adds `v` at the head; false (and nothing done) if it is on an
    /// accounting list already.
    pub(crate) fn push_front(&mut self, v: &'a VcpuData<'a, H>) -> bool {
        if v.is_active() {
            return false;
        }
        self.list.push_front(v);
        v.active_tag.set(&self.id);
        true
    }

    /// Takes `v` off if it is on this list.
    pub(crate) fn remove(&mut self, v: &'a VcpuData<'a, H>) -> bool {
        if !v.active_tag.is(&self.id) || !v.is_active() {
            return false;
        }
        // SAFETY: `v` is on this list (its tag, checked above), which is
        // borrowed mutably.
        let mut c = unsafe { self.list.cursor_mut_from_ptr(v) };
        c.remove();
        v.active_tag.clear();
        true
    }

    /// Visits every vCPU from the head, taking off those for which `keep`
    /// says false.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&'a VcpuData<'a, H>) -> bool) {
        let mut c = self.list.front_mut();
        while let Some(v) = c.as_cursor().clone_pointer() {
            if keep(v) {
                c.move_next();
            } else {
                c.remove();
                v.active_tag.clear();
            }
        }
    }

    /// The vCPUs from the head (tests, dumps).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &VcpuData<'a, H>> + '_ {
        self.list.iter()
    }
}

/// What [`ActiveDoms::walk`] does with the domain it visited.
pub(crate) enum Visit {
    /// Keeps it where it is.
    Keep,
    /// Takes it off the list.
    Remove,
    /// Moves it to the head; the walk goes on from the one after it.
    ToFront,
}

/// The engine's domains with credit-earning vCPUs, under the accounting lock.
pub(crate) struct ActiveDoms<'a, H: Hooks> {
    list: LinkedList<ActiveDomAdapter<'a, H>>,
    id: ListId,
}

impl<'a, H: Hooks> ActiveDoms<'a, H> {
    pub(crate) fn new() -> Self {
        ActiveDoms {
            list: LinkedList::new(ActiveDomAdapter::new()),
            id: ListId::new(),
        }
    }

    /// Adds `dom` at the head unless it is on an active list already.
    pub(crate) fn push_front(&mut self, dom: &'a DomData<'a, H>) {
        if !dom.active_link.is_linked() {
            self.list.push_front(dom);
            dom.active_tag.set(&self.id);
        }
    }

    /// Takes `dom` off if it is on this list.
    pub(crate) fn remove(&mut self, dom: &'a DomData<'a, H>) -> bool {
        if !dom.active_tag.is(&self.id) || !dom.active_link.is_linked() {
            return false;
        }
        // SAFETY: `dom` is on this list (its tag, checked above), which is
        // borrowed mutably.
        let mut c = unsafe { self.list.cursor_mut_from_ptr(dom) };
        c.remove();
        dom.active_tag.clear();
        true
    }

    /// Visits every domain from the head once, doing what `visit` says.
    pub(crate) fn walk(&mut self, mut visit: impl FnMut(&'a DomData<'a, H>) -> Visit) {
        let mut cur = self.list.front_mut();
        while let Some(dom) = cur.as_cursor().clone_pointer() {
            match visit(dom) {
                Visit::Keep => cur.move_next(),
                Visit::Remove => {
                    cur.remove();
                    dom.active_tag.clear();
                }
                Visit::ToFront => {
                    cur.remove();
                    let next = cur.as_cursor().clone_pointer();
                    self.list.push_front(dom);
                    cur = match next {
                        // SAFETY: `n` was just read from this list, which is
                        // borrowed mutably (its tag names it too).
                        Some(n) => unsafe { self.list.cursor_mut_from_ptr(n) },
                        None => self.list.cursor_mut(),
                    };
                }
            }
        }
    }

    /// The domains from the head (tests, dumps).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &DomData<'a, H>> + '_ {
        self.list.iter()
    }
}
