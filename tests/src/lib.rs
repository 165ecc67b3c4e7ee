//! Cross-crate tests live in tests/tests/; this library holds what they
//! share with each other and with the fuzz targets in `fuzz/`.

#![forbid(unsafe_code)]

pub mod differential;
pub mod fifo;
pub mod gen;
pub mod opseq;

use sched_sim::{simulate_with_stats, Report, Scenario, SimOptions, SimStats};

/// `name` from the environment as a number (a test's case count or seed),
/// or `default`; a value that is not a number stops the test.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        })
        .unwrap_or(default)
}

/// This process's peak resident set, KiB (`VmHWM` in `/proc/self/status`;
/// 0 where there is none): what a long run or a large host cost in memory.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs `sc` under `policy` with `opts` and panics, naming the policy, if
/// the simulator's invariant checker found any violation.
pub fn run_checked(sc: &Scenario, policy: &str, opts: &SimOptions) -> (Report, SimStats) {
    let (r, stats) = simulate_with_stats(sc, policy, opts)
        .unwrap_or_else(|e| panic!("{policy}: the scenario does not run: {e}"));
    assert!(
        stats.violations.is_empty(),
        "{policy}: {} violations: {:?}",
        stats.violation_count,
        stats.violations
    );
    (r, stats)
}

/// Whether Xen's own schedulers are in this build (`xen-oracle` found
/// Debian's Xen source, fetched by `cargo xtask xen-source`). Without them a
/// test that needs them says so and passes, unless `XEN_ORACLE_REQUIRED`
/// is set (CI sets it, after fetching the source): then it fails.
pub fn xen_oracle_or_skip() -> bool {
    if xen_oracle::AVAILABLE {
        return true;
    }
    assert!(
        std::env::var_os("XEN_ORACLE_REQUIRED").is_none(),
        "XEN_ORACLE_REQUIRED is set: {}",
        xen_oracle::missing()
    );
    eprintln!("skipped: {}", xen_oracle::missing());
    false
}
