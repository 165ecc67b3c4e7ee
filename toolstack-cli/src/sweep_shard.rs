//! Which part of a sweep one run computes: `--shard I/N`, or, when no
//! `--shard` is given inside a Slurm job array, the array task's place in
//! the array, so that `sbatch --array=1-N` needs no arithmetic in the
//! batch script.
//!
//! Slurm sets `SLURM_ARRAY_TASK_ID` and, for the whole array,
//! `SLURM_ARRAY_TASK_MIN`, `_MAX`, `_COUNT` and `_STEP` (`--array=1-8`:
//! MIN 1, MAX 8, COUNT 8, STEP 1; `--array=0-7`: MIN 0). Shard I of N is
//! task MIN+I-1 of a contiguous array of N tasks. An array with a step
//! (`--array=0-15:4`) or gaps (`--array=1,3,5`) has task IDs that are not
//! MIN..MIN+COUNT, and is refused rather than guessed at: a wrong guess
//! would run some points twice and others never.

use std::fmt;

use crate::Failure;

/// Shard `index + 1` of `count`: the points whose index is `index` modulo
/// `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shard {
    /// 0-based.
    pub(crate) index: usize,
    pub(crate) count: usize,
}

impl Shard {
    /// The whole sweep.
    pub(crate) const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Parses `I/N` (1-based I, 1 <= I <= N), the form of `--shard` and of
    /// the `shard` field of a `--jsonl` header.
    pub(crate) fn parse(s: &str) -> Option<Shard> {
        let (i, n) = s.split_once('/')?;
        let (i, n) = (
            i.trim().parse::<usize>().ok()?,
            n.trim().parse::<usize>().ok()?,
        );
        (i >= 1 && i <= n).then_some(Shard {
            index: i - 1,
            count: n,
        })
    }

    /// Whether point `p` is in this shard.
    pub(crate) fn holds(&self, p: u64) -> bool {
        p % self.count as u64 == self.index as u64
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

/// The shard to run: `--shard` when given (it wins over the environment,
/// so `--shard 1/1` runs the whole sweep inside an array job), else the
/// Slurm array task's, else the whole sweep. `var` reads the environment.
/// With the shard, the line to print on stderr once the sweep is known to
/// be good (a refusal must stay the only line).
pub(crate) fn choose(
    flag: Option<&str>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<(Shard, Option<String>), Failure> {
    if let Some(s) = flag {
        let shard = Shard::parse(s).ok_or_else(|| {
            Failure::BadInput(format!("--shard: {s:?} is not I/N with 1 <= I <= N"))
        })?;
        return Ok((shard, None));
    }
    let Some(id) = var("SLURM_ARRAY_TASK_ID") else {
        return Ok((Shard::WHOLE, None));
    };
    let bad = |m: String| Failure::BadInput(m);
    let number = |name: &str, v: &str| {
        v.trim().parse::<u64>().map_err(|_| {
            bad(format!(
                "{name}: {v:?} is not a number (a Slurm array task's variable; or give --shard I/N)"
            ))
        })
    };
    let id = number("SLURM_ARRAY_TASK_ID", &id)?;
    let needed = |name: &str| {
        let v = var(name).ok_or_else(|| {
            bad(format!(
                "{name}: not set, but SLURM_ARRAY_TASK_ID is: cannot tell the shard; give --shard I/N"
            ))
        })?;
        number(name, &v)
    };
    let min = needed("SLURM_ARRAY_TASK_MIN")?;
    let count = needed("SLURM_ARRAY_TASK_COUNT")?;
    let contiguous = "the shards need a contiguous array (sbatch --array=1-N), or give --shard I/N";
    if count == 0 {
        return Err(bad(format!("SLURM_ARRAY_TASK_COUNT: 0; {contiguous}")));
    }
    if let Some(step) = var("SLURM_ARRAY_TASK_STEP") {
        let step = number("SLURM_ARRAY_TASK_STEP", &step)?;
        if step != 1 {
            return Err(bad(format!("SLURM_ARRAY_TASK_STEP: {step}; {contiguous}")));
        }
    }
    let last = min.checked_add(count - 1).ok_or_else(|| {
        bad(format!(
            "SLURM_ARRAY_TASK_COUNT: {count} tasks from SLURM_ARRAY_TASK_MIN={min} pass the largest ID"
        ))
    })?;
    if let Some(max) = var("SLURM_ARRAY_TASK_MAX") {
        let max = number("SLURM_ARRAY_TASK_MAX", &max)?;
        if max != last {
            return Err(bad(format!(
                "SLURM_ARRAY_TASK_MAX: {max}, but {count} tasks from SLURM_ARRAY_TASK_MIN={min} \
                 end at {last}: the array has gaps; {contiguous}"
            )));
        }
    }
    if id < min || id > last {
        return Err(bad(format!(
            "SLURM_ARRAY_TASK_ID: {id} is not in the array {min}..{last} \
             (SLURM_ARRAY_TASK_MIN={min}, SLURM_ARRAY_TASK_COUNT={count})"
        )));
    }
    let too_many = || {
        bad(format!(
            "SLURM_ARRAY_TASK_COUNT: {count} shards is too many"
        ))
    };
    let shard = Shard {
        index: usize::try_from(id - min).map_err(|_| too_many())?,
        count: usize::try_from(count).map_err(|_| too_many())?,
    };
    let note = format!(
        "--shard {shard} from Slurm (SLURM_ARRAY_TASK_ID={id}, SLURM_ARRAY_TASK_MIN={min}, \
         SLURM_ARRAY_TASK_COUNT={count})"
    );
    Ok((shard, Some(note)))
}
