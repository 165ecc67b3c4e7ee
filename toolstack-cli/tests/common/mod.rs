//! What the CLI tests share: running `vsched`, the bundled scenarios, and
//! the exit-code contract (0 with the output on stdout; 2 with one line on
//! stderr and nothing on stdout).
#![allow(dead_code)] // each test binary uses part of it

use std::process::{Command, Output};

/// `vsched ARGS` with `env` set, and `VSCHED_HOST` unset so that the
/// machine's environment cannot pick the host.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vsched"));
    c.args(args).env_remove("VSCHED_HOST");
    // Run inside a Slurm job array, `vsched sweep` would take its shard from
    // these: the tests give them only where they mean to.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SLURM_ARRAY_")) {
        c.env_remove(k);
    }
    c.envs(env.iter().copied()).output().expect("run vsched")
}

/// The sweeps the sweep tests run: the bundled EDF ping scenario over 3
/// deadlines × 0..2 extra busy domains, under credit and edf-credit,
/// `duration` a point, with `extra` flags and `env`.
pub fn sweep(duration: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let f = scenario("edf-aperiodic-ping.toml");
    let mut args = vec![
        "sweep",
        f.as_str(),
        "--vary",
        "domain.pinged.rt.deadline=3ms..9ms/3ms",
        "--vary",
        "domain.busy1.count=0..2",
        "--policy",
        "credit,edf-credit",
        "--duration",
        duration,
    ];
    args.extend_from_slice(extra);
    run(&args, env)
}

/// The path of a bundled scenario.
pub fn scenario(name: &str) -> String {
    format!("{}/../scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Asserts success; the standard output.
pub fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Asserts bad input: exit 2, nothing on stdout, one stderr line starting
/// with `starts_with`.
pub fn refused(out: &Output, starts_with: &str) {
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with(starts_with), "{err:?}");
}
