//! What the three op-sequence targets share: run the harness, crash on a
//! broken invariant, and count operations for `cargo xtask fuzz`, which
//! reads the `opseq:` line printed at exit.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Once;
use std::time::Instant;

use tests::opseq::{Failure, Stats};

static OPS: AtomicU64 = AtomicU64::new(0);
static DECISIONS: AtomicU64 = AtomicU64::new(0);
static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
static AT_EXIT: Once = Once::new();

extern "C" {
    fn atexit(f: extern "C" fn()) -> i32;
}

/// libFuzzer ends a timed run with `exit`, which runs this.
extern "C" fn report() {
    let secs = START.get().map_or(0.0, |s| s.elapsed().as_secs_f64());
    let ops = OPS.load(Relaxed);
    eprintln!(
        "opseq: ops={ops} decisions={} secs={secs:.1} ops_per_sec={:.0}",
        DECISIONS.load(Relaxed),
        ops as f64 / secs.max(1e-9)
    );
}

/// Runs one input; a failure is a crash with the operations that led to it.
pub fn fuzz(data: &[u8], run: fn(&[u8]) -> Result<Stats, Failure>) {
    AT_EXIT.call_once(|| {
        START.get_or_init(Instant::now);
        // SAFETY: registers a plain function with no captured state.
        unsafe { atexit(report) };
    });
    match run(data) {
        Ok(s) => {
            OPS.fetch_add(s.ops, Relaxed);
            DECISIONS.fetch_add(s.decisions, Relaxed);
        }
        Err(f) => {
            // A crash skips the exit report: say how far the run got first.
            report();
            panic!("invariant broken:\n{f}")
        }
    }
}
