//! `--host xen`: the Xen this runs on, reached from dom0 the way libxc
//! reaches it: a `domctl` or `sysctl` hypercall through
//! `/dev/xen/privcmd`'s `IOCTL_PRIVCMD_HYPERCALL`.
//!
//! The parameter records are xen-glue's (`rs_dom_params`,
//! `rs_global_params`), which its public-header patch adds to the
//! `scheduler_op` unions of `xen_domctl` and `xen_sysctl` (interface
//! version 0x15, Xen 4.17). Xen is the authority on values here: they are
//! passed as given, and a value the scheduler refuses comes back as
//! `EINVAL` with nothing changed.

use std::fs::{File, OpenOptions};
use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::AsRawFd;
use std::path::Path;

use sched_core::registry;
use sched_sim::Span;
use xen_glue::abi::{RsDomParams, RsGlobalParams, CMD_GETINFO, CMD_PUTINFO};

use crate::Failure;

/// Whether `--host` names the running Xen rather than a file.
pub(crate) fn is_xen(path: &Path) -> bool {
    path == Path::new("xen")
}

const PRIVCMD: &str = "/dev/xen/privcmd";
/// `_IOC(_IOC_NONE, 'P', 0, sizeof(privcmd_hypercall_t))`.
const IOCTL_PRIVCMD_HYPERCALL: u64 = (size_of::<Hypercall>() as u64) << 16 | (b'P' as u64) << 8;
const HYPERVISOR_SYSCTL: u64 = 35;
const HYPERVISOR_DOMCTL: u64 = 36;
const DOMCTL_INTERFACE_VERSION: u32 = 0x15;
const SYSCTL_INTERFACE_VERSION: u32 = 0x15;
const DOMCTL_SCHEDULER_OP: u32 = 16;
const SYSCTL_SCHED_ID: u32 = 4;
const SYSCTL_DEBUG_KEYS: u32 = 7;
const SYSCTL_CPUPOOL_OP: u32 = 18;
const SYSCTL_SCHEDULER_OP: u32 = 19;
const CPUPOOL_CREATE: u32 = 1;
const CPUPOOL_DESTROY: u32 = 2;
const CPUPOOL_INFO: u32 = 3;
const CPUPOOL_ADDCPU: u32 = 4;
const CPUPOOL_RMCPU: u32 = 5;
/// `XEN_SYSCTL_CPUPOOL_PAR_ANY`: any free pool id, or any pCPU.
const CPUPOOL_PAR_ANY: u32 = u32::MAX;
const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const EAGAIN: i32 = 11;
const EBUSY: i32 = 16;
const ENODEV: i32 = 19;
const EADDRNOTAVAIL: i32 = 99;
const EINVAL: i32 = 22;

/// The `sched=` names of the schedulers xen-glue registers (the registry's).
pub(crate) fn xen_names() -> Vec<&'static str> {
    registry::POLICIES.iter().map(|p| p.xen_name).collect()
}

/// `privcmd_hypercall_t`.
#[repr(C)]
struct Hypercall {
    op: u64,
    arg: [u64; 5],
}

/// `struct xen_domctl` carrying `XEN_DOMCTL_scheduler_op`.
#[repr(C, align(8))]
struct Domctl {
    cmd: u32,
    interface_version: u32,
    domain: u16,
    _pad: [u16; 3],
    sched_id: u32,
    sched_cmd: u32,
    params: RsDomParams,
    _rest: [u8; 84],
}

/// `struct xen_sysctl` carrying `XEN_SYSCTL_scheduler_op`.
#[repr(C, align(8))]
struct SysctlSchedOp {
    cmd: u32,
    interface_version: u32,
    cpupool_id: u32,
    sched_id: u32,
    sched_cmd: u32,
    _pad: u32,
    params: RsGlobalParams,
    _rest: [u8; 88],
}

/// `struct xen_sysctl` carrying `XEN_SYSCTL_cpupool_op`.
#[repr(C, align(8))]
struct SysctlCpupoolOp {
    cmd: u32,
    interface_version: u32,
    op: u32,
    cpupool_id: u32,
    sched_id: u32,
    domid: u32,
    cpu: u32,
    n_dom: u32,
    /// `cpumap.bitmap`, a guest handle.
    bitmap: u64,
    /// `cpumap.nr_bits`.
    nr_bits: u32,
    _rest: [u8; 92],
}

/// `struct xen_sysctl` carrying `XEN_SYSCTL_sched_id` or `debug_keys`.
#[repr(C, align(8))]
struct SysctlSmall {
    cmd: u32,
    interface_version: u32,
    /// `sched_id.sched_id`, or `debug_keys.keys` (a guest handle).
    word: u64,
    /// `debug_keys.nr_keys`.
    nr: u32,
    _rest: [u8; 116],
}

// The public headers' layout (xen_domctl: 16 + a 128-byte union; xen_sysctl:
// 8 + a 128-byte union; the scheduler_op inner unions 8-aligned).
const _: () = assert!(size_of::<Domctl>() == 144);
const _: () = assert!(offset_of!(Domctl, sched_id) == 16 && offset_of!(Domctl, params) == 24);
const _: () = assert!(size_of::<SysctlSchedOp>() == 136);
const _: () = assert!(offset_of!(SysctlSchedOp, params) == 24);
const _: () = assert!(size_of::<SysctlSmall>() == 136 && offset_of!(SysctlSmall, nr) == 16);
const _: () = assert!(size_of::<SysctlCpupoolOp>() == 136);
const _: () = assert!(offset_of!(SysctlCpupoolOp, bitmap) == 32);

/// A cpupool as Xen reports it.
pub(crate) struct Pool {
    /// Its id (Pool-0 is 0).
    pub(crate) id: u32,
    /// Its scheduler's `sched_id`.
    pub(crate) sched_id: u32,
    /// Domains in it.
    pub(crate) n_dom: u32,
    /// Its pCPUs.
    pub(crate) cpus: Vec<u32>,
}

/// The Xen this runs on, with one of xen-glue's schedulers in Pool-0.
pub(crate) struct Xen {
    fd: File,
    /// The scheduler's `sched_id`.
    pub(crate) sched_id: u32,
}

impl Xen {
    /// Opens privcmd and checks that Pool-0 runs one of our schedulers.
    pub(crate) fn open() -> Result<Xen, Failure> {
        let xen = Xen::open_any()?;
        if xen.name().is_none() {
            return Err(Failure::BadInput(format!(
                "--host xen: Xen runs scheduler id {}, not one of vsched's (boot Xen with sched={})",
                xen.sched_id,
                xen_names().join(", sched=")
            )));
        }
        Ok(xen)
    }

    /// Opens privcmd, whatever scheduler Pool-0 runs (for cpupools).
    pub(crate) fn open_any() -> Result<Xen, Failure> {
        let fd = OpenOptions::new()
            .read(true)
            .write(true)
            .open(PRIVCMD)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => Failure::BadInput(format!(
                    "--host xen: no Xen here ({PRIVCMD} not found; run in dom0 of a Xen host)"
                )),
                _ => Failure::Internal(format!("--host xen: {PRIVCMD}: {e}")),
            })?;
        let mut xen = Xen { fd, sched_id: 0 };
        let mut op = SysctlSmall {
            cmd: SYSCTL_SCHED_ID,
            interface_version: SYSCTL_INTERFACE_VERSION,
            word: 0,
            nr: 0,
            _rest: [0; 116],
        };
        xen.hypercall(HYPERVISOR_SYSCTL, &mut op)
            .map_err(|e| Failure::Internal(format!("--host xen: sysctl sched_id: {e}")))?;
        xen.sched_id = xen.real_sched_id(0, op.word as u32);
        Ok(xen)
    }

    /// The id of the scheduler that runs pool `pool`, which Xen reported as
    /// `reported`. xen-glue's schedulers tell the toolstack they are credit
    /// (so that stock libxl and `xl` work), and answer a scheduler op
    /// naming their own id too: the one of the registry's ids the pool
    /// answers is the real one. A pool that answers none keeps `reported`.
    fn real_sched_id(&self, pool: u32, reported: u32) -> u32 {
        if registry::by_xen_id(reported).is_some() {
            return reported;
        }
        registry::POLICIES
            .iter()
            .map(|p| p.xen_id)
            .find(|&id| {
                self.sysctl_as(pool, id, CMD_GETINFO, &mut RsGlobalParams::default())
                    .is_ok()
            })
            .unwrap_or(reported)
    }

    /// The booted scheduler's `sched=` name.
    pub(crate) fn name(&self) -> Option<&'static str> {
        registry::by_xen_id(self.sched_id).map(|p| p.xen_name)
    }

    /// Refuses a command meant for another of the schedulers.
    pub(crate) fn expect(&self, name: &str, what: &str) -> Result<(), Failure> {
        match self.name() {
            Some(n) if n == name => Ok(()),
            n => Err(Failure::BadInput(format!(
                "--host xen: {what} needs Xen booted with sched={name}; it runs {}",
                n.unwrap_or("another scheduler")
            ))),
        }
    }

    fn hypercall<T>(&self, op: u64, arg: &mut T) -> io::Result<()> {
        let p = (arg as *mut T).cast::<libc::c_void>();
        let mut call = Hypercall {
            op,
            arg: [p as u64, 0, 0, 0, 0],
        };
        // SAFETY: `arg` is a live, exclusively borrowed buffer of
        // `size_of::<T>()` bytes. It is locked in memory so that Xen's
        // copy from and back to it cannot fault, then unlocked.
        let rc = unsafe {
            libc::mlock(p, size_of::<T>());
            let rc = libc::ioctl(
                self.fd.as_raw_fd(),
                IOCTL_PRIVCMD_HYPERCALL as _, // c_ulong on glibc, c_int on musl
                &mut call,
            );
            libc::munlock(p, size_of::<T>());
            rc
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn domctl(&self, domid: u16, cmd: u32, p: &mut RsDomParams) -> io::Result<()> {
        let mut op = Domctl {
            cmd: DOMCTL_SCHEDULER_OP,
            interface_version: DOMCTL_INTERFACE_VERSION,
            domain: domid,
            _pad: [0; 3],
            sched_id: self.sched_id,
            sched_cmd: cmd,
            params: *p,
            _rest: [0; 84],
        };
        self.hypercall(HYPERVISOR_DOMCTL, &mut op)?;
        *p = op.params;
        Ok(())
    }

    /// A domain's parameters, or `None` when there is no such domain.
    /// On a getinfo, Xen answers `EINVAL` only when the domain's cpupool
    /// runs another scheduler than Pool-0's (the `sched_id` differs).
    pub(crate) fn try_dom(&self, domid: u16) -> Result<Option<RsDomParams>, Failure> {
        let mut p = RsDomParams::default();
        match self.domctl(domid, CMD_GETINFO, &mut p) {
            Ok(()) => Ok(Some(p)),
            Err(e) if e.raw_os_error() == Some(ESRCH) => Ok(None),
            Err(e) if e.raw_os_error() == Some(EINVAL) => Err(Failure::BadInput(format!(
                "--host xen: domain {domid} is in a cpupool run by another scheduler than Pool-0's"
            ))),
            Err(e) => Err(refused(e, &format!("domain {domid}"))),
        }
    }

    /// A domain's parameters.
    pub(crate) fn dom(&self, domid: u16) -> Result<RsDomParams, Failure> {
        self.try_dom(domid)?
            .ok_or_else(|| Failure::BadInput(format!("-d {domid}: no such domain")))
    }

    /// Changes a domain's parameters from what `edit` makes of the current
    /// ones; prints nothing. Xen refuses a bad value as a whole.
    pub(crate) fn change_dom(
        &self,
        domid: u16,
        edit: impl FnOnce(&mut RsDomParams) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let mut p = self.dom(domid)?;
        edit(&mut p)?;
        self.domctl(domid, CMD_PUTINFO, &mut p)
            .map_err(|e| refused(e, &format!("domain {domid}")))
    }

    /// The domains of Pool-0's scheduler, by probing IDs 0..=255 (names and
    /// a full list would need xenstore or `getdomaininfolist`); domains in
    /// pools run by another scheduler are left out.
    pub(crate) fn domains(&self) -> Result<Vec<(u16, RsDomParams)>, Failure> {
        let mut v = Vec::new();
        for id in 0..=255u16 {
            let mut p = RsDomParams::default();
            match self.domctl(id, CMD_GETINFO, &mut p) {
                Ok(()) => v.push((id, p)),
                Err(e) if matches!(e.raw_os_error(), Some(ESRCH | EINVAL)) => {}
                Err(e) => return Err(refused(e, &format!("domain {id}"))),
            }
        }
        Ok(v)
    }

    fn sysctl(&self, pool: u32, cmd: u32, p: &mut RsGlobalParams) -> Result<(), Failure> {
        let sched_id = if pool == 0 {
            self.sched_id
        } else {
            let info = self.cpupool(pool)?;
            if registry::by_xen_id(info.sched_id).is_none() {
                return Err(Failure::BadInput(format!(
                    "-p {pool}: the pool runs scheduler id {}, not one of vsched's",
                    info.sched_id
                )));
            }
            info.sched_id
        };
        self.sysctl_as(pool, sched_id, cmd, p)
            .map_err(|e| refused(e, &pool_name(pool)))
    }

    /// A scheduler op on pool `pool`, naming scheduler `sched_id`.
    fn sysctl_as(
        &self,
        pool: u32,
        sched_id: u32,
        cmd: u32,
        p: &mut RsGlobalParams,
    ) -> io::Result<()> {
        let mut op = SysctlSchedOp {
            cmd: SYSCTL_SCHEDULER_OP,
            interface_version: SYSCTL_INTERFACE_VERSION,
            cpupool_id: pool,
            sched_id,
            sched_cmd: cmd,
            _pad: 0,
            params: *p,
            _rest: [0; 88],
        };
        self.hypercall(HYPERVISOR_SYSCTL, &mut op)?;
        *p = op.params;
        Ok(())
    }

    /// Pool `pool`'s parameters.
    pub(crate) fn pool(&self, pool: u32) -> Result<RsGlobalParams, Failure> {
        let mut p = RsGlobalParams::default();
        self.sysctl(pool, CMD_GETINFO, &mut p)?;
        Ok(p)
    }

    /// Changes pool `pool`'s parameters from what `edit` makes of the
    /// current ones.
    pub(crate) fn change_pool(
        &self,
        pool: u32,
        edit: impl FnOnce(&mut RsGlobalParams) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let mut p = self.pool(pool)?;
        edit(&mut p)?;
        self.sysctl(pool, CMD_PUTINFO, &mut p)
    }

    /// A cpupool operation: Xen's answer and the pCPU map it wrote.
    fn cpupool_op(
        &self,
        op: u32,
        pool: u32,
        sched_id: u32,
        cpu: u32,
    ) -> io::Result<(SysctlCpupoolOp, [u8; 32])> {
        let mut map = [0u8; 32];
        let mut o = SysctlCpupoolOp {
            cmd: SYSCTL_CPUPOOL_OP,
            interface_version: SYSCTL_INTERFACE_VERSION,
            op,
            cpupool_id: pool,
            sched_id,
            domid: 0,
            cpu,
            n_dom: 0,
            bitmap: map.as_mut_ptr() as u64,
            nr_bits: (map.len() * 8) as u32,
            _rest: [0; 92],
        };
        // SAFETY: `map` is live for the call; locked so Xen's copy to it
        // cannot fault.
        unsafe { libc::mlock(map.as_ptr().cast(), map.len()) };
        // Xen answers EAGAIN while a unit still runs on a pCPU it is moving,
        // and then accepts only the same request until it completes: retry
        // it, as libxc's `do_sysctl_save` does (for up to 10 s here).
        let start = std::time::Instant::now();
        let r = loop {
            let r = self.hypercall(HYPERVISOR_SYSCTL, &mut o);
            match &r {
                Err(e)
                    if e.raw_os_error() == Some(EAGAIN)
                        && start.elapsed() < std::time::Duration::from_secs(10) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                _ => break r,
            }
        };
        // SAFETY: as above.
        unsafe { libc::munlock(map.as_ptr().cast(), map.len()) };
        r?;
        Ok((o, map))
    }

    /// The first pool with an id at or above `from` (Xen's INFO), if any.
    fn pool_from(&self, from: u32) -> Result<Option<Pool>, Failure> {
        match self.cpupool_op(CPUPOOL_INFO, from, 0, 0) {
            Ok((o, map)) => Ok(Some(Pool {
                id: o.cpupool_id,
                sched_id: self.real_sched_id(o.cpupool_id, o.sched_id),
                n_dom: o.n_dom,
                cpus: (0..256u32)
                    .filter(|&c| map[(c / 8) as usize] & (1 << (c % 8)) != 0)
                    .collect(),
            })),
            Err(e) if e.raw_os_error() == Some(ENOENT) => Ok(None),
            Err(e) => Err(Failure::Internal(format!("--host xen: cpupool info: {e}"))),
        }
    }

    /// Pool `pool`.
    pub(crate) fn cpupool(&self, pool: u32) -> Result<Pool, Failure> {
        match self.pool_from(pool)? {
            Some(p) if p.id == pool => Ok(p),
            _ => Err(Failure::BadInput(format!("-p {pool}: no such cpupool"))),
        }
    }

    /// Every cpupool, by id.
    pub(crate) fn cpupools(&self) -> Result<Vec<Pool>, Failure> {
        let mut v = Vec::new();
        let mut next = 0;
        while let Some(p) = self.pool_from(next)? {
            next = p.id.saturating_add(1);
            v.push(p);
            if next == u32::MAX {
                break;
            }
        }
        Ok(v)
    }

    /// A new, empty cpupool run by scheduler `sched_id`: its id.
    pub(crate) fn cpupool_create(&self, sched_id: u32) -> Result<u32, Failure> {
        self.cpupool_op(CPUPOOL_CREATE, CPUPOOL_PAR_ANY, sched_id, 0)
            .map(|(o, _)| o.cpupool_id)
            .map_err(|e| Failure::Internal(format!("--host xen: cpupool create: {e}")))
    }

    /// Destroys an empty cpupool.
    pub(crate) fn cpupool_destroy(&self, pool: u32) -> Result<(), Failure> {
        self.cpupool_op(CPUPOOL_DESTROY, pool, 0, 0)
            .map(drop)
            .map_err(|e| pool_failure(e, pool, "destroy"))
    }

    /// Moves free pCPU `cpu` into `pool`.
    pub(crate) fn cpupool_add_cpu(&self, pool: u32, cpu: u32) -> Result<(), Failure> {
        self.cpupool_op(CPUPOOL_ADDCPU, pool, 0, cpu)
            .map(drop)
            .map_err(|e| pool_failure(e, pool, &format!("add pCPU {cpu}")))
    }

    /// Takes pCPU `cpu` out of `pool` (it becomes free).
    pub(crate) fn cpupool_remove_cpu(&self, pool: u32, cpu: u32) -> Result<(), Failure> {
        self.cpupool_op(CPUPOOL_RMCPU, pool, 0, cpu)
            .map(drop)
            .map_err(|e| pool_failure(e, pool, &format!("remove pCPU {cpu}")))
    }

    /// Sends debug keys to Xen (`xl debug-keys`): `r` dumps the runqueues.
    pub(crate) fn debug_keys(&self, keys: &str) -> Result<(), Failure> {
        let mut buf = keys.as_bytes().to_vec();
        let mut op = SysctlSmall {
            cmd: SYSCTL_DEBUG_KEYS,
            interface_version: SYSCTL_INTERFACE_VERSION,
            word: buf.as_mut_ptr() as u64,
            nr: buf.len() as u32,
            _rest: [0; 116],
        };
        // The keys buffer must not fault either.
        // SAFETY: `buf` is live for the call.
        unsafe { libc::mlock(buf.as_ptr().cast(), buf.len()) };
        let r = self.hypercall(HYPERVISOR_SYSCTL, &mut op);
        // SAFETY: as above.
        unsafe { libc::munlock(buf.as_ptr().cast(), buf.len()) };
        r.map_err(|e| Failure::Internal(format!("--host xen: debug keys: {e}")))
    }
}

/// A pool's name as `xl` prints Pool-0 (other names live in xenstore).
pub(crate) fn pool_name(id: u32) -> String {
    if id == 0 {
        "Pool-0".into()
    } else {
        format!("pool{id}")
    }
}

/// `-p` on a real Xen: `Pool-0`, `poolN` or an id.
pub(crate) fn pool_id(which: &str) -> Result<u32, Failure> {
    let n = which.strip_prefix("pool").unwrap_or(which);
    if which == "Pool-0" {
        return Ok(0);
    }
    n.parse().map_err(|_| {
        Failure::BadInput(format!(
            "-p {which}: give a cpupool id on --host xen (or Pool-0)"
        ))
    })
}

/// A failed cpupool operation as the command's error.
fn pool_failure(e: io::Error, pool: u32, what: &str) -> Failure {
    let why = match e.raw_os_error() {
        Some(ENOENT) => "no such cpupool or pCPU",
        Some(EBUSY) => {
            "busy (a pool with domains or pCPUs, or the last pCPU of a pool with domains)"
        }
        Some(ENODEV) => "the pCPU is not in that pool (or not free, to be added)",
        Some(EADDRNOTAVAIL) => "another pCPU move is still in progress",
        Some(EAGAIN) => "a unit kept running on the pCPU for 10 s; try again",
        Some(EINVAL) => "invalid request",
        _ => return Failure::Internal(format!("--host xen: {} {what}: {e}", pool_name(pool))),
    };
    Failure::BadInput(format!("--host xen: {} {what}: {why}", pool_name(pool)))
}

/// A refused hypercall as the command's error.
fn refused(e: io::Error, what: &str) -> Failure {
    match e.raw_os_error() {
        Some(EINVAL) => Failure::BadInput(format!(
            "--host xen: Xen refused the change to {what} (EINVAL: a value out of the scheduler's bounds; nothing changed)"
        )),
        Some(ESRCH) => Failure::BadInput(format!("--host xen: {what}: no such domain")),
        _ => Failure::Internal(format!("--host xen: {what}: {e}")),
    }
}

/// `-d` on a real Xen: a domain ID or a name, as `xl` resolves them (a
/// number is an ID first; a name is looked up in xenstore).
pub(crate) fn domid(which: &str) -> Result<u16, Failure> {
    if let Ok(id) = which.parse::<u16>() {
        return Ok(id);
    }
    match crate::xenstore::names() {
        Ok(m) => m
            .iter()
            .find(|(_, n)| n.as_str() == which)
            .map(|(&id, _)| id)
            .ok_or_else(|| Failure::BadInput(format!("-d {which}: no domain of that name"))),
        Err(_) if which == "Domain-0" => Ok(0),
        Err(e) => Err(Failure::BadInput(format!(
            "-d {which}: names need xenstore, which could not be read ({e}); give a domain ID"
        ))),
    }
}

/// A duration flag in whole microseconds, as the domctl carries it.
pub(crate) fn us(flag: &str, v: &str) -> Result<u32, Failure> {
    let t = if v.trim() == "0" {
        Span::ZERO
    } else {
        sched_sim::scenario::parse_duration(v)
            .map_err(|e| Failure::BadInput(format!("{flag}: {e}")))?
    };
    let n = t.as_ns();
    if n % 1_000 != 0 || n < 0 || n / 1_000 > i64::from(u32::MAX) {
        return Err(Failure::BadInput(format!(
            "{flag}: {v}: the domctl carries whole microseconds up to {}s",
            u32::MAX / 1_000_000
        )));
    }
    Ok((n / 1_000) as u32)
}

/// A domain's name on a real Xen: xenstore's, else `Domain-0` or `domID`.
pub(crate) fn dom_name(id: u16) -> String {
    if let Some(n) = crate::xenstore::names()
        .as_ref()
        .ok()
        .and_then(|m| m.get(&id))
    {
        return n.clone();
    }
    if id == 0 {
        "Domain-0".into()
    } else {
        format!("dom{id}")
    }
}

/// Microseconds as a duration (`5ms`, `500us`, `-` for 0).
pub(crate) fn show_us(v: u32) -> String {
    if v == 0 {
        "-".into()
    } else {
        Span::us(i64::from(v)).to_string()
    }
}
