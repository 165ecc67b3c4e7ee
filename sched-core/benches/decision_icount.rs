//! The decision loop of `decision.rs` without criterion, for counting
//! instructions under callgrind (`cargo xtask bench-icount` runs it).
//!
//! `decision_icount STRUCTURE N K`: sets up STRUCTURE (`credit-engine`,
//! `vslicer-engine`, `edf-engine` or `xen-sorted-list`) with N queued vCPUs, runs it to its steady state, then
//! performs K decisions. The instructions of one decision are
//! `(Ir(K) - Ir(0)) / K`: the difference removes setup and warm-up.
//!
//! Without arguments (as `cargo bench` and `cargo test --benches` run it) it
//! checks that the engine and the model of Xen's list make the same picks.

mod common;

use std::hint::black_box;
use std::process::ExitCode;

use common::{EngineLoop, Loop, SortedList, SIZES, STRUCTURES};
use sched_core::{Credit1, EdfCredit, VSlicer};

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
                common::cross_check::<Credit1>(n, 4 * (n + 1));
                common::cross_check::<VSlicer>(n, 4 * (n + 1));
                common::cross_check::<EdfCredit>(n, 4 * (n + 1));
            }
            println!("decision_icount: engines and Xen-list model agree for N in {SIZES:?}");
            ExitCode::SUCCESS
        }
        [s, n, k] => {
            let (Ok(n), Ok(k)) = (n.parse::<usize>(), k.parse::<u64>()) else {
                eprintln!("decision_icount: N and K must be numbers");
                return ExitCode::from(2);
            };
            let sum = match *s {
                "credit-engine" => drive(EngineLoop::<Credit1>::new(n), k),
                "vslicer-engine" => drive(EngineLoop::<VSlicer>::new(n), k),
                "edf-engine" => drive(EngineLoop::<EdfCredit>::new(n), k),
                "xen-sorted-list" => drive(SortedList::new(n), k),
                _ => {
                    eprintln!("decision_icount: structure must be one of {STRUCTURES:?}");
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
