//! Op sequences under VSlicer (see `tests/src/opseq.rs`).
#![no_main]

mod ops;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ops::fuzz(data, tests::opseq::run::<sched_core::VSlicer>);
});
