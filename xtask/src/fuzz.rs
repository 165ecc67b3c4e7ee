//! `cargo xtask fuzz`: every cargo-fuzz target in `fuzz/` for a bounded
//! time (nightly), one process each (`-jobs` would compete for the two
//! cores), reporting operations per second from the op-sequence targets'
//! `opseq:` exit line and failing on the first crash. Crashes are kept in
//! `fuzz/artifacts/<target>/`; the corpus grows in `fuzz/corpus/<target>/`.

use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{root, status, Result};

/// The targets, op sequences first.
const TARGETS: &[&str] = &[
    "ops_credit",
    "ops_vslicer",
    "ops_edf",
    "scenario_parse",
    "host_edit",
];
/// Seconds per target unless `--seconds` says otherwise.
const DEFAULT_SECONDS: u64 = 60;

fn cargo_fuzz(args: &[&str]) -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(root().join("fuzz"))
        .arg("+nightly")
        .arg("fuzz")
        .args(args);
    c
}

pub(crate) fn fuzz(args: &[String]) -> Result {
    let mut seconds = DEFAULT_SECONDS;
    // libFuzzer's seed: fixed by default so that CI's bounded run explores
    // the same inputs every time (a red CI must not be luck); 0 = random.
    let mut seed = 1u64;
    let mut only: Option<&str> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|&s| s > 0)
                    .ok_or("--seconds takes a positive number")?
            }
            "--target" => {
                let t = it.next().ok_or("--target takes a target name")?;
                only = Some(TARGETS.iter().find(|&&k| k == t).ok_or_else(|| {
                    format!("unknown target {t:?}; known: {}", TARGETS.join(", "))
                })?);
            }
            "--seed" => {
                seed = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seed takes a number (0: random)")?
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    status(cargo_fuzz(&["build"]))?;
    let mut total_ops = 0u64;
    for t in TARGETS.iter().filter(|t| only.is_none_or(|o| o == **t)) {
        if *t == "host_edit" {
            seed_host_edit()?;
        }
        let max = format!("-max_total_time={seconds}");
        let seed_arg = format!("-seed={seed}");
        let start = Instant::now();
        let out = cargo_fuzz(&[
            "run",
            t,
            "--",
            &max,
            &seed_arg,
            "-timeout=10",
            "-print_final_stats=1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let wall = start.elapsed().as_secs_f64();
        let ops = log.lines().rev().find_map(|l| l.strip_prefix("opseq: "));
        let runs = log
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"));
        if !out.status.success() {
            // From the panic (the broken invariant and its operations), or
            // libFuzzer's own last words.
            let lines: Vec<&str> = log.lines().collect();
            let from = lines
                .iter()
                .position(|l| l.contains("panicked at") || l.contains("ERROR: libFuzzer"))
                .unwrap_or(lines.len().saturating_sub(40));
            let tail: Vec<&str> = lines[from..].iter().take(80).copied().collect();
            return Err(format!(
                "{t} crashed after {wall:.0} s:\n{}",
                tail.join("\n")
            ));
        }
        if let Some(n) = ops.and_then(|o| {
            o.split_whitespace()
                .next()?
                .strip_prefix("ops=")?
                .parse::<u64>()
                .ok()
        }) {
            total_ops += n;
        }
        println!(
            "{t}: ok in {wall:.0} s; runs {}; {}",
            runs.map_or("?", str::trim),
            ops.unwrap_or("(no op count)")
        );
    }
    println!("total operations: {total_ops}, 0 violations");
    Ok(())
}

/// `host_edit` finds valid host files slowly from nothing: an empty corpus
/// starts from the bundled scenarios, each behind the three bytes that
/// choose every kind of edit (`fuzz/fuzz_targets/host_edit.rs`).
fn seed_host_edit() -> Result {
    let dir = root().join("fuzz/corpus/host_edit");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let empty = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .next()
        .is_none();
    if !empty {
        return Ok(());
    }
    let scenarios = root().join("scenarios");
    let files =
        std::fs::read_dir(&scenarios).map_err(|e| format!("{}: {e}", scenarios.display()))?;
    for f in files.flatten() {
        let path = f.path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let stem = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        for op in 0u8..5 {
            let mut seed = vec![op, 1, 0x20];
            seed.extend_from_slice(&text);
            let out = dir.join(format!("seed-{stem}-{op}"));
            std::fs::write(&out, seed).map_err(|e| format!("{}: {e}", out.display()))?;
        }
    }
    Ok(())
}
