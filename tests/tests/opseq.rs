//! The op-sequence harness (`tests/src/opseq.rs`) on stable Rust: every
//! policy over pseudo-random inputs from a fixed seed, and the shrunk
//! inputs of the defects it found, with the host's invariants as oracle.
//! `OPSEQ_CASES` sets the number of random inputs per policy, `OPSEQ_SEED`
//! the seed. The fuzz targets in `fuzz/` run the same harness guided by
//! coverage (`cargo xtask fuzz`).

use sched_core::{Credit1, EdfCredit, VSlicer};
use sched_sim::SplitMix64;
use tests::opseq::{self, Failure, OpPolicy, Stats, Tolerate};

/// Random inputs per policy when `OPSEQ_CASES` is not set: about 10 s in
/// release for the three policies on a 2-core machine.
const DEFAULT_CASES: u64 = 3000;

/// Input `i` of the run: 16..2048 bytes.
fn input(seed: u64, i: u64) -> Vec<u8> {
    let mut r = SplitMix64::new(seed ^ i.wrapping_mul(0xa076_1d64_78bd_642f), &[]);
    let len = 16 + (r.next_u64() % 2032) as usize;
    (0..len).map(|_| r.next_u64() as u8).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn random<H: OpPolicy>() -> Stats {
    let cases = tests::env_u64("OPSEQ_CASES", DEFAULT_CASES);
    let seed = tests::env_u64("OPSEQ_SEED", 14);
    let mut total = Stats::default();
    for i in 0..cases {
        let data = input(seed, i);
        match opseq::run::<H>(&data) {
            Ok(s) => total.add(&s),
            Err(_) => {
                let small = opseq::shrink(&data, opseq::run::<H>);
                let g = opseq::run::<H>(&small).expect_err("shrunk input fails");
                panic!(
                    "input {i} of seed {seed} fails; shrunk to {}:\n{g}",
                    hex(&small)
                )
            }
        }
    }
    assert!(
        total.ops > cases,
        "inputs too short to apply operations: {total:?}"
    );
    assert!(
        total.decisions > total.ops / 4,
        "little scheduling: {total:?}"
    );
    total
}

#[test]
fn credit_keeps_the_invariants_over_random_op_sequences() {
    eprintln!("{:?}", random::<Credit1>());
}

#[test]
fn vslicer_keeps_the_invariants_over_random_op_sequences() {
    eprintln!("{:?}", random::<VSlicer>());
}

#[test]
fn edf_credit_keeps_the_invariants_over_random_op_sequences() {
    eprintln!("{:?}", random::<EdfCredit>());
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A defect the fuzzer found (fixed): credit on 7 pCPUs, late
/// `context_saved`. A yield requeues d3v0 on cpu2 and tickles idle cpu5,
/// which cannot steal it (its context is not saved yet) and idles;
/// `context_saved` tickled nobody, so d3v0 waited beside idle pCPUs until
/// cpu2's next switch (up to a timeslice). It now offers it again.
const LATE_SAVE: &str =
    "9eb14dd3b535c28643e955301a2c74ad0b3f8769bab364e3c8594e3517cf3cc61a1dfc439ff30181";

#[test]
fn a_context_saved_late_leaves_no_idle_pcpu_beside_queued_work() {
    if let Err(f) = opseq::run_with::<Credit1>(&unhex(LATE_SAVE), Tolerate::NONE) {
        panic!("{f}");
    }
}

/// A defect the fuzzer found (fixed): EDF+credit on 2 pCPUs. A real-time
/// vCPU allowed on [0, 1] while a driver vCPU is pinned to cpu1 and cpu0
/// has left the pool: the placement rule narrowed it to [0] without
/// looking at the pool, so `pick_cpu` placed it on cpu0, outside the
/// pool, where it never runs.
const OFFLINE_PICK: &str = "b9d10e37ff040c2f83e5a85b0871541d67feaf81e8947c35f5d32816270e1d85b6d9cd7612709437aab7ee2e99fd53ed833ac046eaa84c342430a1931711edb6eb8a29ea26614db955d102e94bced441ed05d35f1dae4f5050218d774e51b40027a529e20acbb97ed3a234d7706cf2ee88b9c99ca49cf54abaf69c6bec0b15da520126184ccc8d604f6ad31234e8591b7e04c03e3adf345936789e08b2852e1ad609173820c59dd66258ba32a36b8283d05c3dce92a682d799816a30ab85196b2f0002369cf7421f6bf2e505191cb3";

/// A defect the long fuzzing run found (fixed): EDF+credit on 7 pCPUs. A
/// real-time domain made plain again may use the driver's pCPUs, but
/// nothing offered its queued vCPUs to the idle one: d3v2 waited on cpu1
/// beside idle cpu6. `set_dom_params` now offers queued work when the
/// layer's placement rule widens.
const RT_MADE_PLAIN: &str =
    "b6b7ffbab6b7ffba00c8fa00c87ffafafafafa00bf2e00f76400001b1b3a6bdf7f2d1b1b3a6b";

#[test]
fn a_domain_made_plain_again_may_use_the_drivers_idle_pcpu_at_once() {
    if let Err(f) = opseq::run_with::<EdfCredit>(&unhex(RT_MADE_PLAIN), Tolerate::NONE) {
        panic!("{f}");
    }
}

/// A defect the long fuzzing run found (fixed): EDF+credit on 4 pCPUs,
/// cpu2 out of the pool, driver vCPUs pinned to cpu1 and cpu3, so a
/// real-time domain may use cpu0 only. Re-pinning a driver vCPU from cpu1
/// to cpu0 leaves real-time work no pCPU of the pool, so the rule gives way
/// and it may run anywhere; but only a pin lifted from a pCPU counted as
/// widening, so nothing offered d1v1 (queued on cpu0) to idle cpu3. Any
/// change to the driver's pCPUs now offers queued work.
const DRIVER_REPIN: &str = "ab00060600dd5dbebe0015bebebebe173232170200014932323201493232";

#[test]
fn a_driver_pin_that_leaves_real_time_work_nowhere_opens_every_pcpu_at_once() {
    if let Err(f) = opseq::run_with::<EdfCredit>(&unhex(DRIVER_REPIN), Tolerate::NONE) {
        panic!("{f}");
    }
}

/// A defect the second long fuzzing run found (fixed): EDF+credit on 6
/// pCPUs. A driver domain's new vCPU pinned to a pCPU can leave real-time
/// work no pCPU of the pool, so the rule gives way and it may run anywhere;
/// `insert_vcpu` took a new pin to only ever narrow and offered nothing, so
/// real-time vCPUs queued behind a busy pCPU waited beside an idle one.
/// `insert_vcpu` now offers queued work when the rule widens.
const DRIVER_INSERTED: &str = "5d010385b800abe23f00000000000000ab00ffab03ffe20100ffabe23001b800d9d9ab00abab00ffab3001abab00ffab03ffffe294ab1dff0600001b1b2fffdfab03ffffe2e2ff0129ff03ffffe2000095959595959595b6b7fafafad4ff493636363636ff";

#[test]
fn a_new_driver_vcpu_that_leaves_real_time_work_nowhere_opens_every_pcpu() {
    if let Err(f) = opseq::run_with::<EdfCredit>(&unhex(DRIVER_INSERTED), Tolerate::NONE) {
        panic!("{f}");
    }
}

/// A false report the fuzzer found in the oracle, not the engine: vSlicer
/// on 6 pCPUs. d8v0 is requeued on cpu1 while cache-hot (migration delay
/// 5 ms), so no idler may take it at cpu1's switch, and nothing looks at
/// cpu1's queue again until cpu1 decides (credit1's migration delay, by
/// design). When d8v0 had cooled, cpu0 switched: the
/// oracle counted that as a look at every queue, but a switch tickles idlers
/// only for work queued on its own pCPU (cpu0's d15v0 may not run on cpu3).
/// The oracle now counts a pCPU's own switch and any pCPU's idle decision.
const HOT_AT_ITS_LAST_LOOK: &str = "fdffc0010069002e2effffffffadadad190efd17ef010000190101000e0e0100ef7d7d007d00000300037d7d0101000000ef00410000030603fb0efbadadadadadadffffff412eadad190e020301900303fb0000001d002300064100000603fb002303030306230303310375fb002303630003030303fb0000001d037d7d0101ff010000ff00060103630003030303fb0000001d037d7d0101ff7d06010000ff00060100000603fb0006040000000375fb00230303030303fb020317caf8fd20ef01000187000000ffffffff412eadadadad0203019017ca0efb2dfbfbfbfbfbfb00ad";

#[test]
fn a_vcpu_hot_at_its_pcpus_last_switch_waits_for_its_next_one() {
    if let Err(f) = opseq::run_with::<VSlicer>(&unhex(HOT_AT_ITS_LAST_LOOK), Tolerate::NONE) {
        panic!("{f}");
    }
}

#[test]
fn a_real_time_vcpu_is_never_placed_outside_the_pool() {
    if let Err(f) = opseq::run_with::<EdfCredit>(&unhex(OFFLINE_PICK), Tolerate::NONE) {
        panic!("{f}");
    }
}

/// A failure names the policy, the machine and the operations applied.
#[test]
fn a_failure_lists_the_operations_applied() {
    let f = Failure {
        policy: "credit",
        pcpus: 2,
        lazy_save: false,
        message: "broken".into(),
        ops: vec![opseq::Op::Schedule { cpu: 1 }],
    };
    assert_eq!(
        f.to_string(),
        "credit on 2 pCPUs: broken\n     0: Schedule { cpu: 1 }\n"
    );
}
