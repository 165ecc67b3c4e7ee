//! Wall time of one scheduling decision (`do_schedule` + `wake`, see
//! `common/mod.rs`) with 8, 64 and 1024 runnable vCPUs on one pCPU, for the
//! credit engine, vSlicer and EDF+credit on it, and a model of Xen's
//! sorted-list runqueue.
//!
//! `cargo bench -p sched-core --features mock --bench decision`
//! (or `cargo xtask bench`). Instruction counts: `cargo xtask bench-icount`.

mod common;

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};

use common::{EngineLoop, Loop, SortedList, SIZES};
use sched_core::{Credit1, EdfCredit, VSlicer};

/// Times `l.decide()`; generic so that the call is direct, as a host's is.
fn run<L: Loop>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, n: usize, mut l: L) {
    g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
        b.iter(|| black_box(l.decide()))
    });
}

fn decision(c: &mut Criterion) {
    // Every structure must make the same (expected) picks before we time them.
    for n in SIZES {
        common::cross_check::<Credit1>(n, 4 * (n + 1));
        common::cross_check::<VSlicer>(n, 4 * (n + 1));
        common::cross_check::<EdfCredit>(n, 4 * (n + 1));
    }
    let mut g = c.benchmark_group("decision");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        run(&mut g, "credit-engine", n, EngineLoop::<Credit1>::new(n));
        run(&mut g, "vslicer-engine", n, EngineLoop::<VSlicer>::new(n));
        run(&mut g, "edf-engine", n, EngineLoop::<EdfCredit>::new(n));
        run(&mut g, "xen-sorted-list", n, SortedList::new(n));
    }
    g.finish();
}

criterion_group!(benches, decision);
criterion_main!(benches);
