//! The decision loop of `decision.rs` without criterion, for counting
//! instructions under callgrind (`cargo xtask bench-icount` runs it).
//!
//! `decision_icount STRUCTURE N K`: sets up STRUCTURE (`NAME-engine` for a
//! policy of the registry, or `xen-sorted-list`) with N queued vCPUs, runs
//! it to its steady state, then
//! performs K decisions. The instructions of one decision are
//! `(Ir(K) - Ir(0)) / K`: the difference removes setup and warm-up.
//!
//! Without arguments (as `cargo bench` and `cargo test --benches` run it) it
//! checks that the engine and the model of Xen's list make the same picks.

mod common;

use std::hint::black_box;
use std::process::ExitCode;

use common::{engine_name, EngineLoop, Loop, SortedList, SIZES, XEN_LIST};

/// Checks every policy's engine against the model at `n`.
macro_rules! cross_check_all {
    ([$($t:ty),*] $n:expr) => {
        $(common::cross_check::<$t>($n, 4 * ($n + 1));)*
    };
}

/// Drives structure `$s` for `$k` decisions at `$n`, if it is an engine.
macro_rules! drive_engine {
    ([$($t:ty),*] $s:expr, $n:expr, $k:expr) => {{
        let mut sum = None;
        $(if $s == engine_name::<$t>() {
            sum = Some(drive(EngineLoop::<$t>::new($n), $k));
        })*
        sum
    }};
}

fn drive<L: Loop>(mut l: L, k: u64) -> usize {
    let mut sum = 0usize;
    for _ in 0..black_box(k) {
        sum = sum.wrapping_add(black_box(l.decide()));
    }
    sum
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let positional: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match positional.as_slice() {
        [] => {
            for n in SIZES {
                sched_core::with_policies!(cross_check_all, n);
            }
            println!("decision_icount: engines and Xen-list model agree for N in {SIZES:?}");
            ExitCode::SUCCESS
        }
        [s, n, k] => {
            let (Ok(n), Ok(k)) = (n.parse::<usize>(), k.parse::<u64>()) else {
                eprintln!("decision_icount: N and K must be numbers");
                return ExitCode::from(2);
            };
            let engine = sched_core::with_policies!(drive_engine, *s, n, k);
            let sum = match engine {
                Some(sum) => sum,
                None if *s == XEN_LIST => drive(SortedList::new(n), k),
                None => {
                    eprintln!(
                        "decision_icount: structure must be NAME-engine for a policy of {:?}, or {XEN_LIST}",
                        sched_core::POLICIES.iter().map(|p| p.name).collect::<Vec<_>>()
                    );
                    return ExitCode::from(2);
                }
            };
            println!("{s} N={n} K={k} checksum={sum}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: decision_icount [STRUCTURE N K]");
            ExitCode::from(2)
        }
    }
}
