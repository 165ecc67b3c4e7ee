//! `cargo xtask bench-scale`: how the simulator's cost per scheduling
//! decision grows with the host (issue 15). The `scale` bench of the tests crate
//! builds the hosts; this runs it under callgrind, one process per size,
//! for a simulated time T that gives each size about the same number of
//! decisions, and again for 2T, and divides the difference in instructions
//! by the difference in decisions: the cost of running, without the setup
//! and the report (which grow with the host, not with its decisions). Instruction
//! counts do not move on a noisy machine. The bench's own run follows: its
//! wall time is printed for a person to read, its peak memory per vCPU at
//! 256 pCPUs is checked (a resident set does not move with load).

use std::fs;

use crate::{bench_executable, callgrind_run, cargo, root, Result};
use sched_core::Policy;

/// pCPUs of the hosts measured, and the simulated seconds at 16 pCPUs
/// (a host 4x the size simulates a quarter of that).
const SIZES: [u16; 3] = [16, 64, 256];
const BASE_SECS: u32 = 32;
/// Allowed growth of instructions per decision from 16 to 256 pCPUs.
const MAX_GROWTH: f64 = 1.5;
/// Allowed peak memory per vCPU at 256 pCPUs, KiB (issue 15). Unlike wall
/// time, a process's peak resident set hardly moves with other load.
const MAX_KIB_PER_VCPU: f64 = 4.0;

pub(crate) fn bench_scale(args: &[String]) -> Result {
    let mut check = false;
    let mut policy = sched_core::Credit1::INFO.name.to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--check" => check = true,
            "--policy" => policy = it.next().ok_or("--policy needs a name")?.clone(),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    let mut c = cargo();
    c.args(["bench", "-p", "tests", "--bench", "scale"]);
    let exe = bench_executable(c, "scale")?;
    let out_dir = root().join("target").join("icount");
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;

    println!(
        "instructions per decision, whole simulator ({policy}), callgrind; the run of T \
         subtracted from the run of 2T, so setup and the report do not count:\n"
    );
    println!(
        "{:>6} {:>8} {:>12} {:>16}",
        "pCPUs", "T s", "decisions", "instr/decision"
    );
    let mut per = Vec::new();
    for p in SIZES {
        let secs = (BASE_SECS * 16 / u32::from(p)).max(1);
        let run = |secs: u32| -> Result<(u64, u64)> {
            let file = out_dir.join(format!("callgrind.scale.{policy}.{p}.{secs}.out"));
            let (ir, stdout) = callgrind_run(
                &exe,
                &file,
                &[
                    "--one",
                    &p.to_string(),
                    "--secs",
                    &secs.to_string(),
                    "--policy",
                    &policy,
                ],
            )?;
            let decisions = stdout
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix("decisions="))
                .and_then(|v| v.parse().ok())
                .filter(|&d| d > 0)
                .ok_or_else(|| format!("no decision count in {stdout:?}"))?;
            Ok((ir, decisions))
        };
        let (ir1, d1) = run(secs)?;
        let (ir2, d2) = run(2 * secs)?;
        if d2 <= d1 || ir2 <= ir1 {
            return Err(format!("{p} pCPUs: the longer run did no more work"));
        }
        let v = (ir2 - ir1) as f64 / (d2 - d1) as f64;
        println!("{p:>6} {secs:>8} {:>12} {v:>16.0}", d2 - d1);
        per.push(v);
    }
    let growth = per[per.len() - 1] / per[0];
    println!("\ngrowth 16 -> 256 pCPUs: {growth:.2}x (limit {MAX_GROWTH}x)\n");
    // The bench's own run: wall time (for the record) and peak memory.
    let run = std::process::Command::new(&exe)
        .args(["--policy", &policy])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let table = String::from_utf8_lossy(&run.stdout);
    print!("{table}");
    if !run.status.success() {
        return Err(format!(
            "the bench's run failed ({}):\n{}",
            run.status,
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    let largest = SIZES[SIZES.len() - 1];
    let kib = kib_per_vcpu(&table, largest)
        .ok_or_else(|| format!("no row for {largest} pCPUs in the bench's table"))?;
    let mut problems = Vec::new();
    if growth > MAX_GROWTH {
        problems.push(format!(
            "cost per decision grows {growth:.2}x from 16 to 256 pCPUs (limit {MAX_GROWTH}x)"
        ));
    }
    if kib > MAX_KIB_PER_VCPU {
        problems.push(format!(
            "peak memory is {kib:.2} KiB per vCPU at {largest} pCPUs (limit {MAX_KIB_PER_VCPU})"
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    if check {
        return Err(problems.join("; "));
    }
    for p in problems {
        eprintln!("warning: {p}");
    }
    Ok(())
}

/// The KiB/vCPU column of the bench table's row for `pcpus`.
fn kib_per_vcpu(table: &str, pcpus: u16) -> Option<f64> {
    table.lines().find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        if cols.first()?.parse::<u16>().ok()? != pcpus {
            return None;
        }
        cols.get(4)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::kib_per_vcpu;

    #[test]
    fn reads_the_memory_column_of_the_right_row() {
        let table = " pCPUs   vCPUs   wall s    peak MiB     KiB/vCPU    switches
    16     256     0.20         4.1        16.25      836751
   256    4096     4.52        15.3         3.81    13280348
";
        assert_eq!(kib_per_vcpu(table, 256), Some(3.81));
        assert_eq!(kib_per_vcpu(table, 16), Some(16.25));
        assert_eq!(kib_per_vcpu(table, 64), None);
    }
}
