//! A scheduler instance and the records Xen asks it to allocate, all in
//! memory from Xen's allocator.
//!
//! Xen hands the records back as `void *` on every call (`ops->sched_data`,
//! `unit->priv`, `d->sched_priv`). The core borrows them for `'static`: Xen's
//! core keeps each one alive from its `alloc_*` to its `free_*`, and the
//! core drops every reference to a record when it is removed, before Xen
//! frees it. Records are freed without running their destructors, as
//! `sched_core::PolicyKind` says a host does.

use core::ffi::c_void;
use core::mem::{align_of, size_of};
use core::ptr::{self, addr_of_mut};

use sched_core::{CpuMask, DomId, NewVcpu, SchedOps, MAX_CPUS};

use crate::abi;
use crate::platform::{UnitHead, XenPlatform};
use crate::policy::XenPolicy;

/// One scheduler instance (Xen makes one per cpupool).
#[repr(C)]
pub struct Instance<H: XenPolicy> {
    /// `H`'s Xen scheduler id, first so that an entry point can tell the policy of an
    /// instance from its address alone.
    pub policy: u32,
    /// The policy's scheduler. Fields are dropped in declaration order: the
    /// engine goes before the platform and pCPU records it borrows.
    pub engine: H::Engine<'static, &'static XenPlatform>,
    /// What the engine asks of Xen; never moved.
    pub platform: XenPlatform,
    /// Its pCPU records, indexed by pCPU number; never moved, never dropped.
    pcpus: [H::Pcpu<'static>; MAX_CPUS],
}

/// A unit's record (`unit->priv`).
#[repr(C)]
pub struct Unit<H: XenPolicy> {
    /// First, so that the core's token (its address) is also the head's.
    pub head: UnitHead,
    /// The policy's vCPU record.
    pub data: H::Vcpu<'static>,
}

/// Xen-allocated, uninitialised memory for a `T`.
fn alloc<T>() -> *mut T {
    // SAFETY: `_xzalloc` accepts any size and power-of-two alignment and
    // returns null or a block of that size and alignment.
    unsafe { abi::rs_xen_alloc(size_of::<T>(), align_of::<T>()).cast::<T>() }
}

/// Gives the memory at `p` back to Xen, without dropping what it holds
/// (a policy's records own nothing: `PolicyKind`).
///
/// # Safety
/// `p` came from [`alloc`] and nothing refers to it any more.
unsafe fn free<T>(p: *mut T) {
    // SAFETY: by the caller's promise.
    unsafe { abi::rs_xen_free(p.cast::<c_void>()) }
}

/// A new instance, or null when Xen is out of memory.
pub fn create<H: XenPolicy>(host: *mut c_void) -> *mut c_void {
    let p = alloc::<Instance<H>>();
    if p.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `p` is a fresh block for an `Instance<H>`; each field is
    // written in place before anything reads it, the platform and the pCPU
    // array before the engine that borrows them. Neither moves (the
    // instance is freed, never moved) and both outlive the engine, which is
    // dropped first in `destroy`.
    unsafe {
        addr_of_mut!((*p).policy).write(H::INFO.xen_id);
        let platform = addr_of_mut!((*p).platform);
        platform.write(XenPlatform::new(host));
        let pcpus = addr_of_mut!((*p).pcpus).cast::<H::Pcpu<'static>>();
        for i in 0..MAX_CPUS {
            pcpus.add(i).write(H::new_pcpu());
        }
        let pcpus: &'static [H::Pcpu<'static>] = core::slice::from_raw_parts(pcpus, MAX_CPUS);
        addr_of_mut!((*p).engine).write(H::engine(&*platform, pcpus));
    }
    p.cast()
}

/// Frees an instance whose pCPUs, domains and units are all gone.
///
/// # Safety
/// `inst` came from [`create`] with the same `H`, and Xen makes no further
/// call with it.
pub unsafe fn destroy<H: XenPolicy>(inst: *mut c_void) {
    let p = inst.cast::<Instance<H>>();
    // SAFETY: by the caller's promise; the engine is dropped before the
    // platform it borrows, the pCPU records are not dropped (`free`).
    unsafe {
        ptr::drop_in_place(addr_of_mut!((*p).engine));
        ptr::drop_in_place(addr_of_mut!((*p).platform));
        free(p);
    }
}

/// A domain record with the policy's initial parameters, or null.
pub fn create_dom<H: XenPolicy>(inst: &Instance<H>, domid: u16) -> *mut H::Dom<'static> {
    let p = alloc::<H::Dom<'static>>();
    if p.is_null() {
        return p;
    }
    // SAFETY: a fresh block, written before use; it lives until
    // `rs_sched_free_domdata`, after Xen removed every unit of the domain.
    let dom: &'static H::Dom<'static> = unsafe {
        p.write(H::new_dom(DomId(domid)));
        &*p
    };
    inst.engine.insert_domain(dom);
    if let Some(params) = H::new_domain(domid, &inst.engine.dom_params(dom)) {
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
pub unsafe fn destroy_dom<H: XenPolicy>(inst: &Instance<H>, dom: *mut H::Dom<'static>) {
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
    dom: *mut H::Dom<'static>,
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
        let v = NewVcpu {
            token,
            vcpu_id: unit_id,
            hard,
            cpu: None,
        };
        addr_of_mut!((*p).data).write(H::new_vcpu(v, &*dom));
    }
    p
}

/// Frees a unit record once no parking request for it is in flight.
///
/// # Safety
/// `u` came from [`create_unit`] and was removed (or never inserted).
pub unsafe fn destroy_unit<H: XenPolicy>(inst: &Instance<H>, u: *mut Unit<H>) {
    inst.platform.parks.drain();
    // SAFETY: `u` is live until the `free` below.
    let head = unsafe { &(*u).head };
    while !head.settled() {
        // Another pCPU is carrying out this unit's last request.
        core::hint::spin_loop();
    }
    // SAFETY: removed, settled, and Xen makes no further call with it.
    unsafe { free(u) }
}
