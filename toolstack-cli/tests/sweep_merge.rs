//! `vsched sweep --jsonl` split into shards, by `--shard` or by a Slurm job
//! array's variables, and joined by `vsched sweep-merge` into exactly what
//! the sweep run on one machine prints; shards that do not make one whole
//! are refused, each with one line.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::{ok, refused, scenario};

/// `vsched ARGS` with `env` (the caller's Slurm variables are cleared by
/// `common::run`, so a test run inside an array job does not shard).
fn vsched(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut env = env.to_vec();
    env.push(("RAYON_NUM_THREADS", "2"));
    common::run(args, &env)
}

/// The sweep split here: 3 × 3 points, two policies, 5 to 7 domains, short
/// runs (108 records).
fn sweep(extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut env = env.to_vec();
    env.push(("RAYON_NUM_THREADS", "2"));
    common::sweep("300ms", extra, &env)
}

/// A scratch directory, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("vsched-merge-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    /// Writes `text` to `name`; its path.
    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `vsched sweep-merge FILES` (and `extra`).
fn merge(files: &[&str], extra: &[&str]) -> Output {
    let mut args = vec!["sweep-merge"];
    args.extend_from_slice(extra);
    args.extend_from_slice(files);
    vsched(&args, &[])
}

/// The four shards of `sweep`, as files in `dir`: 1/4 and 2/4 by
/// `--shard`, 3/4 and 4/4 from a Slurm array `--array=1-4`.
fn four_shards(dir: &Dir) -> Vec<String> {
    let mut files = Vec::new();
    for i in 1..=4 {
        let (id, shard) = (i.to_string(), format!("{i}/4"));
        let out = if i <= 2 {
            sweep(&["--jsonl", "--shard", &shard], &[])
        } else {
            let env = [
                ("SLURM_ARRAY_TASK_ID", id.as_str()),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_MAX", "4"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
                ("SLURM_ARRAY_TASK_STEP", "1"),
            ];
            let out = sweep(&["--jsonl"], &env);
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                format!(
                    "--shard {i}/4 from Slurm (SLURM_ARRAY_TASK_ID={i}, \
                     SLURM_ARRAY_TASK_MIN=1, SLURM_ARRAY_TASK_COUNT=4)\n"
                )
            );
            out
        };
        files.push(dir.file(&format!("part{i}.jsonl"), &ok(&out)));
    }
    files
}

#[test]
fn four_shards_merge_to_the_one_machine_run_byte_for_byte() {
    let dir = Dir::new("four");
    let whole = ok(&sweep(&["--jsonl"], &[]));
    let lines: Vec<&str> = whole.lines().collect();
    // A header, then 3 deadlines × 2 policies × (5 + 6 + 7) domains.
    assert_eq!(lines.len(), 1 + 3 * 2 * (5 + 6 + 7));
    assert!(lines[0].contains(r#""shard":"1/1","points":9,"records":108,"#));
    let files = four_shards(&dir);
    let text: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    // Each shard ran its points only (3, 2, 2, 2 of the 9).
    for (t, points) in text.iter().zip([&[0, 4, 8][..], &[1, 5], &[2, 6], &[3, 7]]) {
        assert!(t.lines().count() > 1, "{t}");
        for l in t.lines().skip(1) {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(points.contains(&v["point"].as_u64().unwrap()), "{l}");
        }
    }
    // Given in any order.
    let order = [&files[2], &files[0], &files[3], &files[1]].map(String::as_str);
    assert_eq!(ok(&merge(&order, &[])), whole);
    // The CSV is the unsharded sweep's CSV, byte for byte.
    assert_eq!(ok(&merge(&order, &["--csv"])), ok(&sweep(&[], &[])));
    // Slurm's --array=0-3 numbers the same shards from 0.
    let zero = [
        ("SLURM_ARRAY_TASK_ID", "2"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ];
    assert_eq!(ok(&sweep(&["--jsonl"], &zero)), text[2]);
    // A merged sweep is the whole sweep: it merges to itself.
    let merged = dir.file("merged.jsonl", &whole);
    assert_eq!(ok(&merge(&[&merged], &[])), whole);
}

#[test]
fn a_shard_with_no_points_is_still_a_shard() {
    let dir = Dir::new("empty");
    let f = scenario("edf-aperiodic-ping.toml");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            f.as_str(),
            "--vary",
            "domain.busy1.count=0..2",
            "--policy",
            "credit",
            "--duration",
            "200ms",
            "--jsonl",
        ];
        args.extend_from_slice(extra);
        vsched(&args, &[])
    };
    let whole = ok(&run(&[]));
    let files: Vec<String> = (1..=4)
        .map(|i| {
            let out = run(&["--shard", &format!("{i}/4")]);
            dir.file(&format!("p{i}.jsonl"), &ok(&out))
        })
        .collect();
    // Three points: shard 4 has none, but says which sweep it is.
    let last = std::fs::read_to_string(&files[3]).unwrap();
    assert_eq!(last.lines().count(), 1, "{last}");
    assert!(
        last.contains(r#""shard":"4/4","points":3,"records":0,"#),
        "{last}"
    );
    let all: Vec<&str> = files.iter().map(String::as_str).collect();
    assert_eq!(ok(&merge(&all, &[])), whole);
    refused(&merge(&all[..3], &[]), "missing shard 4/4: ");
}

#[test]
fn shards_that_do_not_make_one_sweep_are_refused() {
    let dir = Dir::new("refused");
    let p = four_shards(&dir);
    let other = ok(&sweep(&["--jsonl", "--shard", "2/4", "--seed", "9"], &[]));
    let other = dir.file("other2.jsonl", &other);
    let halves = ok(&sweep(&["--jsonl", "--shard", "1/2"], &[]));
    let half = dir.file("half1.jsonl", &halves);
    let again = dir.file("again2.jsonl", &std::fs::read_to_string(&p[1]).unwrap());
    let (p1, p2, p3, p4) = (&*p[0], &*p[1], &*p[2], &*p[3]);
    let cases: [(Vec<&str>, String); 5] = [
        (vec![p1, &other, p3, p4], format!("{other}:1: sweep_hash: ")),
        (vec![p1, p2, p4], "missing shard 3/4: ".into()),
        (vec![p1, p3], "missing shards 2/4, 4/4: ".into()),
        (
            vec![p1, p2, &again, p3, p4],
            format!("{again}: shard 2/4 again (also {p2})"),
        ),
        (
            vec![&half, p2],
            format!("{p2}:1: shard: 2/4, but {half} is 1/2"),
        ),
    ];
    for (files, starts) in cases {
        refused(&merge(&files, &[]), &starts);
        refused(&merge(&files, &["--csv"]), &starts);
    }
}

#[test]
fn a_shard_cut_short_or_garbled_is_named_by_file_and_line() {
    let dir = Dir::new("cut");
    let p = four_shards(&dir);
    let text = std::fs::read_to_string(&p[1]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len() - 1;
    // Cut at a line boundary: only the header's count tells.
    let cut = dir.file("cut.jsonl", &(lines[..n].join("\n") + "\n"));
    // Cut inside line 5.
    let half = &lines[4][..lines[4].len() / 2];
    let garbled = dir.file("garbled.jsonl", &(lines[..4].join("\n") + "\n" + half));
    let empty = dir.file("empty.jsonl", "");
    let csv = dir.file("sweep.csv", &ok(&sweep(&["--shard", "2/4"], &[])));
    let cases = [
        (
            &cut,
            format!(
                "{cut}: {} records, but its header says {}: cut short",
                n - 1,
                n
            ),
        ),
        (&garbled, format!("{garbled}:5: record: not JSON")),
        (
            &empty,
            format!("{empty}: empty, not a vsched sweep --jsonl output"),
        ),
        (&csv, format!("{csv}:1: header: not JSON")),
    ];
    for (bad, starts) in cases {
        refused(&merge(&[&p[0], bad, &p[2], &p[3]], &[]), &starts);
    }
}

#[test]
fn bad_slurm_variables_are_refused_and_shard_wins() {
    let array = |id: &'static str, min: &'static str, count: &'static str| {
        vec![
            ("SLURM_ARRAY_TASK_ID", id),
            ("SLURM_ARRAY_TASK_MIN", min),
            ("SLURM_ARRAY_TASK_COUNT", count),
        ]
    };
    let with = |mut v: Vec<(&'static str, &'static str)>, k, x| {
        v.push((k, x));
        v
    };
    let cases = [
        (
            array("x", "1", "4"),
            "SLURM_ARRAY_TASK_ID: \"x\" is not a number",
        ),
        (
            array("5", "1", "4"),
            "SLURM_ARRAY_TASK_ID: 5 is not in the array 1..4 ",
        ),
        (
            array("0", "1", "4"),
            "SLURM_ARRAY_TASK_ID: 0 is not in the array 1..4 ",
        ),
        (
            with(array("1", "1", "4"), "SLURM_ARRAY_TASK_STEP", "2"),
            "SLURM_ARRAY_TASK_STEP: 2; the shards need a contiguous array",
        ),
        (
            with(array("1", "1", "3"), "SLURM_ARRAY_TASK_MAX", "5"),
            "SLURM_ARRAY_TASK_MAX: 5, but 3 tasks from SLURM_ARRAY_TASK_MIN=1 end at 3",
        ),
        (
            vec![
                ("SLURM_ARRAY_TASK_ID", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ],
            "SLURM_ARRAY_TASK_MIN: not set",
        ),
        (
            vec![("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_MIN", "1")],
            "SLURM_ARRAY_TASK_COUNT: not set",
        ),
    ];
    for (env, starts) in cases {
        refused(&sweep(&["--jsonl"], &env), starts);
        refused(&sweep(&[], &env), starts);
    }
    // --shard wins, without a word about Slurm.
    let given = sweep(&["--jsonl", "--shard", "2/4"], &array("x", "1", "4"));
    assert!(given.stderr.is_empty());
    assert_eq!(ok(&given), ok(&sweep(&["--jsonl", "--shard", "2/4"], &[])));
}

/// The `sweep_hash` of a sweep of `file` with `args`, from the header of
/// its last shard of 100 (empty: nothing runs).
fn hash(file: &str, args: &[&str]) -> String {
    let mut a = vec!["sweep", file, "--jsonl", "--shard", "100/100"];
    a.extend_from_slice(args);
    let out = ok(&vsched(&a, &[]));
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    v["sweep_hash"].as_str().unwrap().to_string()
}

#[test]
fn the_sweep_hash_covers_what_defines_the_sweep() {
    let dir = Dir::new("hash");
    let f = scenario("edf-aperiodic-ping.toml");
    let text = std::fs::read_to_string(&f).unwrap();
    let copy = dir.file("copy.toml", &text);
    let edited = dir.file("edited.toml", &format!("{text}\n# edited\n"));
    let base = hash(&f, &["--vary", "seed=1..3"]);
    assert_eq!(base.len(), 64);
    // The file's text, not its path; the values, not how they were written.
    assert_eq!(hash(&copy, &["--vary", "seed=1..3"]), base);
    assert_eq!(hash(&f, &["--vary", "seed=1,2,3"]), base);
    // Each of these changes it, and no two give one hash.
    let variants: [(&str, &[&str]); 8] = [
        (&edited, &["--vary", "seed=1..3"]),
        (&f, &["--vary", "seed=1..4"]),
        (&f, &["--vary", "seed=1..3", "--policy", "credit"]),
        (&f, &["--vary", "seed=1..3", "--duration", "1s"]),
        (&f, &["--vary", "domain.busy1.weight=1..3"]),
        (&f, &["--vary", "domain.busy1.weight=1..3", "--seed", "5"]),
        (
            &f,
            &["--vary", "seed=1..3", "--vary", "domain.busy1.count=1,2"],
        ),
        (
            &f,
            &["--vary", "domain.busy1.count=1,2", "--vary", "seed=1..3"],
        ),
    ];
    let mut seen = std::collections::HashSet::from([base]);
    for (file, args) in variants {
        assert!(seen.insert(hash(file, args)), "{args:?}");
    }
}
