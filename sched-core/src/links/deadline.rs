//! EDF+credit's per-pCPU deadline queue (§III of the seed): an ordered tree
//! of vCPU records keyed by (deadline, arrival), under the runqueue lock of
//! its pCPU. The key is read through `crate::edf`'s `KeyAdapter`.

use intrusive_collections::{intrusive_adapter, RBTree, RBTreeLink};

use super::ListId;
use crate::edf::EdfCredit;
use crate::records::VcpuData;

type V<'a> = VcpuData<'a, EdfCredit>;

intrusive_adapter!(pub(crate) EdfAdapter<'a> = &'a V<'a>: V<'a> { order_link => RBTreeLink });

/// One pCPU's deadline queue.
pub(crate) struct DeadlineQueue<'a> {
    tree: RBTree<EdfAdapter<'a>>,
    id: ListId,
}

impl Default for DeadlineQueue<'_> {
    fn default() -> Self {
        DeadlineQueue {
            tree: RBTree::new(EdfAdapter::new()),
            id: ListId::new(),
        }
    }
}

impl<'a> DeadlineQueue<'a> {
    /// Whether `v` is in this queue.
    pub(crate) fn holds(&self, v: &V<'a>) -> bool {
        v.order_tag.is(&self.id) && v.order_link.is_linked()
    }

    /// Inserts `v` by its current key; false (and nothing done) if it is in
    /// a deadline queue already.
    pub(crate) fn insert(&mut self, v: &'a V<'a>) -> bool {
        if v.order_link.is_linked() {
            return false;
        }
        self.tree.insert(v);
        v.order_tag.set(&self.id);
        true
    }

    /// Takes `v` out if it is in this queue.
    pub(crate) fn remove(&mut self, v: &'a V<'a>) -> bool {
        if !self.holds(v) {
            return false;
        }
        // SAFETY: `v` is in this tree (its tag, checked above), which is
        // borrowed mutably.
        let mut c = unsafe { self.tree.cursor_mut_from_ptr(v) };
        c.remove();
        v.order_tag.clear();
        true
    }

    /// The earliest entry.
    pub(crate) fn front(&self) -> Option<&'a V<'a>> {
        self.tree.front().clone_pointer()
    }

    /// The entries, earliest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'a V<'a>> + '_ {
        let mut c = self.tree.front();
        core::iter::from_fn(move || {
            let v = c.clone_pointer()?;
            c.move_next();
            Some(v)
        })
    }
}
