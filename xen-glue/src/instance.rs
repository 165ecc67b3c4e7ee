//! A scheduler instance and the records Xen asks it to allocate, all in
//! memory from Xen's allocator.
//!
//! Xen hands the records back as `void *` on every call (`ops->sched_data`,
//! `unit->priv`, `d->sched_priv`). The core borrows them for `'static`: Xen's
//! core keeps each one alive from its `alloc_*` to its `free_*`, and the
//! core drops every reference to a record when it is removed, before Xen
//! frees it.

use core::ffi::c_void;
use core::mem::{align_of, size_of};
use core::ptr::{self, addr_of_mut};

use sched_core::{CpuMask, CreditEngine, DomData, DomId, PcpuData, VcpuData, MAX_CPUS};

use crate::abi;
use crate::platform::{UnitHead, XenPlatform};
use crate::policy::XenPolicy;

/// One scheduler instance (Xen makes one per cpupool).
#[repr(C)]
pub struct Instance<H: XenPolicy> {
    /// `H`'s Xen scheduler id, first so that an entry point can tell the policy of an
    /// instance from its address alone.
    pub policy: u32,
    /// The credit engine with the policy layer.
    pub engine: CreditEngine<'static, XenPlatform, H>,
    /// Its pCPU records, indexed by pCPU number; never moved.
    pcpus: [PcpuData<'static, H>; MAX_CPUS],
}

/// A unit's record (`unit->priv`).
#[repr(C)]
pub struct Unit<H: XenPolicy> {
    /// First, so that the core's token (its address) is also the head's.
    pub head: UnitHead,
    /// The core's vCPU record.
    pub data: VcpuData<'static, H>,
}

/// Xen-allocated, uninitialised memory for a `T`.
fn alloc<T>() -> *mut T {
    // SAFETY: `_xzalloc` accepts any size and power-of-two alignment and
    // returns null or a block of that size and alignment.
    unsafe { abi::rs_xen_alloc(size_of::<T>(), align_of::<T>()).cast::<T>() }
}

/// Drops the `T` at `p` and gives its memory back to Xen.
///
/// # Safety
/// `p` came from [`alloc`], holds an initialised `T`, and nothing refers
/// to it any more.
unsafe fn free<T>(p: *mut T) {
    // SAFETY: by the caller's promise.
    unsafe {
        ptr::drop_in_place(p);
        abi::rs_xen_free(p.cast::<c_void>());
    }
}

/// A new instance, or null when Xen is out of memory.
pub fn create<H: XenPolicy>(host: *mut c_void) -> *mut c_void {
    let p = alloc::<Instance<H>>();
    if p.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `p` is a fresh block for an `Instance<H>`; each field is
    // written in place before anything reads it, the pCPU array first
    // because the engine borrows it. The array never moves (the instance is
    // freed, never moved) and outlives the engine, which is dropped first in
    // `destroy`.
    unsafe {
        addr_of_mut!((*p).policy).write(H::INFO.xen_id);
        let pcpus = addr_of_mut!((*p).pcpus).cast::<PcpuData<'static, H>>();
        for i in 0..MAX_CPUS {
            pcpus.add(i).write(PcpuData::new());
        }
        let pcpus: &'static [PcpuData<'static, H>] = core::slice::from_raw_parts(pcpus, MAX_CPUS);
        addr_of_mut!((*p).engine).write(CreditEngine::new(XenPlatform::new(host), pcpus));
    }
    p.cast()
}

/// Frees an instance whose pCPUs, domains and units are all gone.
///
/// # Safety
/// `inst` came from [`create`] with the same `H`, and Xen makes no further
/// call with it.
pub unsafe fn destroy<H: XenPolicy>(inst: *mut c_void) {
    // SAFETY: by the caller's promise; `free` drops the engine before the
    // pCPU array it borrows (field order).
    unsafe { free(inst.cast::<Instance<H>>()) }
}

/// A domain record with the policy's initial parameters, or null.
pub fn create_dom<H: XenPolicy>(inst: &Instance<H>, domid: u16) -> *mut DomData<'static, H> {
    use sched_core::SchedOps;
    let p = alloc::<DomData<'static, H>>();
    if p.is_null() {
        return p;
    }
    // SAFETY: a fresh block, written before use; it lives until
    // `rs_sched_free_domdata`, after Xen removed every unit of the domain.
    let dom: &'static DomData<'static, H> = unsafe {
        p.write(DomData::new(DomId(domid)));
        &*p
    };
    inst.engine.insert_domain(dom);
    if let Some(policy) = H::new_domain(domid) {
        let mut params = inst.engine.dom_params(dom);
        params.policy = policy;
        // A fresh domain has no vCPUs, so the driver role can still be
        // given; should the policy refuse, the domain keeps the defaults.
        let _ = inst.engine.set_dom_params(dom, params);
    }
    p
}

/// Frees a domain record.
///
/// # Safety
/// `dom` came from [`create_dom`] and no unit of it remains.
pub unsafe fn destroy_dom<H: XenPolicy>(inst: &Instance<H>, dom: *mut DomData<'static, H>) {
    use sched_core::SchedOps;
    // SAFETY: by the caller's promise the record is live until here.
    unsafe {
        inst.engine.remove_domain(&*dom);
        free(dom);
    }
}

/// A unit record, or null.
///
/// # Safety
/// `dom` came from [`create_dom`] and outlives the unit.
pub unsafe fn create_unit<H: XenPolicy>(
    unit: *mut c_void,
    dom: *mut DomData<'static, H>,
    unit_id: u16,
    hard: CpuMask,
) -> *mut Unit<H> {
    let p = alloc::<Unit<H>>();
    if p.is_null() {
        return p;
    }
    // SAFETY: a fresh block; the head is written first because the vCPU
    // record's token is its address. `dom` is live by the caller's promise.
    unsafe {
        addr_of_mut!((*p).head).write(UnitHead::new(unit));
        let token = (*p).head.token();
        addr_of_mut!((*p).data).write(VcpuData::new(token, &*dom, unit_id, hard));
    }
    p
}

/// Frees a unit record once no parking request for it is in flight.
///
/// # Safety
/// `u` came from [`create_unit`] and was removed (or never inserted).
pub unsafe fn destroy_unit<H: XenPolicy>(inst: &Instance<H>, u: *mut Unit<H>) {
    inst.engine.platform().parks.drain();
    // SAFETY: `u` is live until the `free` below.
    let head = unsafe { &(*u).head };
    while !head.settled() {
        // Another pCPU is carrying out this unit's last request.
        core::hint::spin_loop();
    }
    // SAFETY: removed, settled, and Xen makes no further call with it.
    unsafe { free(u) }
}
