//! The policies, listed once.
//!
//! A policy is its module (its layer over the credit engine, or a
//! [`crate::PolicyKind`] and [`crate::SchedOps`] of its own; its parameters;
//! its [`PolicyInfo`] in an `impl Policy`) and one line in
//! [`with_policies!`]. Every host derives what it needs from that line
//! rather than keeping a list of its own:
//! - the simulator's policy table (`sched-sim`'s `policy.rs`);
//! - xen-glue's dispatch and `rs_sched_init`;
//! - the C registrations: `cargo xtask xen-build` writes `rs_policies.h`,
//!   one `RS_POLICY(opt_name, "display", id)` line per entry, which the
//!   shim turns into one `struct scheduler` each;
//! - `vsched`'s policy and scheduler names, the smoke boot's list, the
//!   benches and the fuzzing and op-sequence harnesses.

/// What a host needs to know of a policy besides its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyInfo {
    /// The canonical name: scenario files, `vsched --policy`, reports.
    pub name: &'static str,
    /// Xen's `opt_name`: `sched=`, `xl`-style tools, `vsched --host xen`.
    pub xen_name: &'static str,
    /// The human name: Xen's `struct scheduler.name`, tables and plots.
    pub display: &'static str,
    /// Xen's scheduler id (`XEN_SCHEDULER_*`, `struct scheduler.sched_id`):
    /// an ABI number, so it is written down rather than derived from the
    /// entry's place. Xen's own schedulers use 5 to 9.
    pub xen_id: u32,
}

/// A policy's identity, declared in its own module.
pub trait Policy {
    /// Its names and Xen scheduler id.
    const INFO: PolicyInfo;
}

/// Calls macro `$m` with every policy type, in registry order, followed by
/// whatever else was passed: `with_policies!(m)` expands to
/// `m!([Credit1, VSlicer, EdfCredit])`, and `with_policies!(m, x y)` to
/// `m!([Credit1, VSlicer, EdfCredit] x y)`. This is the registry: a new
/// policy is one more type here.
#[macro_export]
macro_rules! with_policies {
    ($m:ident $(, $($extra:tt)*)?) => {
        $m! { [$crate::Credit1, $crate::VSlicer, $crate::EdfCredit] $($($extra)*)? }
    };
}

macro_rules! infos {
    ([$($t:ty),*]) => {
        [$(<$t as Policy>::INFO),*]
    };
}

/// Every policy's [`PolicyInfo`], in registry order.
pub const POLICIES: &[PolicyInfo] = &with_policies!(infos);

/// The policy named `name` (canonical name or Xen `opt_name`).
pub fn by_name(name: &str) -> Option<&'static PolicyInfo> {
    POLICIES
        .iter()
        .find(|p| p.name == name || p.xen_name == name)
}

/// The policy Xen knows by scheduler id `id`.
pub fn by_xen_id(id: u32) -> Option<&'static PolicyInfo> {
    POLICIES.iter().find(|p| p.xen_id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_unique() {
        for (i, a) in POLICIES.iter().enumerate() {
            for b in &POLICIES[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.xen_name, b.xen_name);
                assert_ne!(a.display, b.display);
                assert_ne!(a.xen_id, b.xen_id);
                // A name of one may not be the other's other name.
                assert_ne!(a.name, b.xen_name);
                assert_ne!(a.xen_name, b.name);
            }
        }
    }

    #[test]
    fn names_fit_where_hosts_put_them() {
        for p in POLICIES {
            // `xen_name` becomes a C identifier in the shim (`sched_NAME_def`)
            // and, like `name`, a word on command lines and in file names.
            let word = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            };
            assert!(word(p.name), "{:?}", p.name);
            assert!(
                word(p.xen_name) && !p.xen_name.contains('-'),
                "{:?}",
                p.xen_name
            );
            // `display` is a C string literal.
            assert!(!p.display.contains(['"', '\\']), "{:?}", p.display);
        }
    }

    #[test]
    fn ids_stay_clear_of_xens_own_schedulers() {
        // credit 5, credit2 6, arinc653 7, rtds 8, null 9 (public/domctl.h).
        assert!(POLICIES.iter().all(|p| p.xen_id >= 10));
    }

    #[test]
    fn lookups_find_each_entry_by_every_name() {
        for p in POLICIES {
            assert_eq!(by_name(p.name), Some(p));
            assert_eq!(by_name(p.xen_name), Some(p));
            assert_eq!(by_xen_id(p.xen_id), Some(p));
        }
        assert_eq!(by_name("credit2"), None);
        assert_eq!(by_xen_id(5), None);
    }
}
