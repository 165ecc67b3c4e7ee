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

use common::{engine_name, EngineLoop, Loop, SortedList, SIZES, XEN_LIST};

/// Checks every policy's engine against the model at `n`.
macro_rules! cross_check_all {
    ([$($t:ty),*] $n:expr) => {
        $(common::cross_check::<$t>($n, 4 * ($n + 1));)*
    };
}

/// Times every policy's engine at `n`.
macro_rules! run_all {
    ([$($t:ty),*] $g:expr, $n:expr) => {
        $(run($g, &engine_name::<$t>(), $n, EngineLoop::<$t>::new($n));)*
    };
}

/// Times `l.decide()`; generic so that the call is direct, as a host's is.
fn run<L: Loop>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, n: usize, mut l: L) {
    g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
        b.iter(|| black_box(l.decide()))
    });
}

fn decision(c: &mut Criterion) {
    // Every structure must make the same (expected) picks before we time them.
    for n in SIZES {
        sched_core::with_policies!(cross_check_all, n);
    }
    let mut g = c.benchmark_group("decision");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        sched_core::with_policies!(run_all, &mut g, n);
        run(&mut g, XEN_LIST, n, SortedList::new(n));
    }
    g.finish();
}

criterion_group!(benches, decision);
criterion_main!(benches);
