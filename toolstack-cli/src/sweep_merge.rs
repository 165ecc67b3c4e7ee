//! `vsched sweep-merge FILE... [--csv]`: the shards of a sweep
//! (`vsched sweep --jsonl --shard I/N`, one file each) joined into what
//! the sweep run whole prints, byte for byte; or its CSV.
//!
//! Everything is checked before a line is printed (a refusal leaves stdout
//! empty): each file is a `--jsonl` output with as many records as its
//! header says, all files have one sweep hash and one N, and each shard
//! 1..N is given once. Then the files are read again and their lines
//! interleaved in point order (point p is in shard p mod N), so a merge
//! holds one line per file in memory, not the sweep: the merged output may
//! be larger than the memory of the machine that merges.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use crate::sweep_format::{csv_header, Header, Record};
use crate::sweep_shard::Shard;
use crate::Failure;

#[derive(Args)]
#[command(after_help = "\
Refused (exit 2, nothing printed): a file that is not a vsched sweep --jsonl
output, a line that is cut short or garbled (FILE:LINE), fewer records than
the file's header says (a shard that did not finish), shards of different
sweeps (another sweep_hash: the scenario file's text, --vary, --policy,
--seed or --duration differ), shards of different splits (another N), a
shard given twice, and a missing shard.

Examples:
  vsched sweep-merge part-*.jsonl > sweep.jsonl
  vsched sweep-merge --csv part-*.jsonl > sweep.csv")]
pub(crate) struct SweepMergeArgs {
    /// The shards' files, written by `vsched sweep --jsonl` (in any order).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print the CSV that `vsched sweep` prints without --jsonl.
    #[arg(long)]
    csv: bool,
}

fn bad(m: String) -> Failure {
    Failure::BadInput(m)
}

/// The lines of `path`, numbered from 1.
fn numbered_lines(
    path: &Path,
    name: &str,
) -> Result<impl Iterator<Item = Result<(usize, String), Failure>>, Failure> {
    let f = File::open(path).map_err(|e| bad(format!("{name}: cannot read: {e}")))?;
    let name = name.to_string();
    Ok(BufReader::new(f).lines().enumerate().map(move |(k, l)| {
        l.map(|l| (k + 1, l))
            .map_err(|e| bad(format!("{name}:{}: cannot read: {e}", k + 1)))
    }))
}

/// A shard's file, read through once and found whole.
struct Part {
    path: PathBuf,
    name: String,
    header: Header,
}

/// Reads `path` through: its header, then every record, each in its
/// place (point, then policy order) and as many as the header says.
fn check(path: &Path) -> Result<Part, Failure> {
    let name = path.display().to_string();
    let mut lines = numbered_lines(path, &name)?;
    let (_, first) = lines.next().transpose()?.ok_or_else(|| {
        bad(format!(
            "{name}: empty, not a vsched sweep --jsonl output (did the shard finish?)"
        ))
    })?;
    let header = Header::parse(&first, &name)?;
    let mut last = None;
    let mut records = 0u64;
    for l in lines {
        let (n, line) = l?;
        let r = Record::parse(&line, &name, n, &header)?;
        let at = (r.point, r.policy);
        if last.is_some_and(|l| at < l) {
            return Err(bad(format!(
                "{name}:{n}: point: {} under {} comes after a later record (the lines were reordered)",
                r.point, header.policies[r.policy]
            )));
        }
        last = Some(at);
        records += 1;
    }
    if records != header.records {
        return Err(bad(format!(
            "{name}: {records} records, but its header says {}: cut short (did the shard finish?)",
            header.records
        )));
    }
    Ok(Part {
        path: path.to_path_buf(),
        name,
        header,
    })
}

/// The start of a hash, enough to tell two apart in a message.
fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

/// Checks that `parts` are the shards 1..N of one sweep, each once, and
/// sorts them by shard.
fn check_set(parts: &mut [Part]) -> Result<(), Failure> {
    let (first, rest) = parts.split_first().ok_or_else(|| bad("no files".into()))?;
    let h0 = &first.header;
    for p in rest {
        let h = &p.header;
        if h.sweep_hash != h0.sweep_hash {
            return Err(bad(format!(
                "{}:1: sweep_hash: {}… but {}'s is {}…: shards of different sweeps (the scenario \
                 file's text, --vary, --policy, --seed or --duration differ)",
                p.name,
                short(&h.sweep_hash),
                first.name,
                short(&h0.sweep_hash)
            )));
        }
        if h.shard.count != h0.shard.count {
            return Err(bad(format!(
                "{}:1: shard: {}, but {} is {}: shards of one sweep split it in N alike",
                p.name, h.shard, first.name, h0.shard
            )));
        }
        if (h.points, &h.vary, &h.policies) != (h0.points, &h0.vary, &h0.policies) {
            return Err(bad(format!(
                "{}:1: header: the sweep_hash of {} but not its points, vary or policies (edited?)",
                p.name, first.name
            )));
        }
    }
    parts.sort_by_key(|p| p.header.shard.index);
    if let Some(w) = parts
        .windows(2)
        .find(|w| w[0].header.shard == w[1].header.shard)
    {
        return Err(bad(format!(
            "{}: shard {} again (also {})",
            w[1].name, w[1].header.shard, w[0].name
        )));
    }
    let n = parts[0].header.shard.count;
    if parts.len() < n {
        let missing: Vec<String> = (0..n)
            .filter(|&i| !parts.iter().any(|p| p.header.shard.index == i))
            .map(|index| Shard { index, count: n }.to_string())
            .collect();
        let shown = missing.len().min(8);
        let more = if missing.len() > shown {
            format!(" and {} more", missing.len() - shown)
        } else {
            String::new()
        };
        return Err(bad(format!(
            "missing shard{} {}{more}: give every shard's file ({} of {n} given)",
            if missing.len() > 1 { "s" } else { "" },
            missing[..shown].join(", "),
            parts.len()
        )));
    }
    Ok(())
}

/// Why printing stopped early.
enum Stop {
    Failed(Failure),
    Out(io::Error),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Stop {
        Stop::Failed(f)
    }
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Out(e)
    }
}

/// A shard's records, read a second time, one ahead.
struct Reader<I> {
    lines: I,
    ahead: Option<(String, Record)>,
}

/// A file that changed between the two readings: it can no longer be
/// refused cleanly (some lines are out), so that is an internal error.
fn changed(name: &str, why: String) -> Failure {
    Failure::Internal(format!("{name} changed during the merge: {why}"))
}

impl<I: Iterator<Item = Result<(usize, String), Failure>>> Reader<I> {
    /// Reads the next record of `p`, this reader's file.
    fn advance(&mut self, p: &Part) -> Result<(), Failure> {
        let read = |l: Result<(usize, String), Failure>| {
            let (n, line) = l?;
            let rec = Record::parse(&line, &p.name, n, &p.header)?;
            Ok((line, rec))
        };
        self.ahead = self
            .lines
            .next()
            .map(read)
            .transpose()
            .map_err(|e| match e {
                Failure::BadInput(m) | Failure::Internal(m) => changed(&p.name, m),
            })?;
        Ok(())
    }
}

/// Prints the merged sweep: point p comes from shard p mod N, whose
/// records are already in (point, policy, domain) order.
fn print(parts: &[Part], csv: bool, w: &mut impl Write) -> Result<(), Stop> {
    let h0 = &parts[0].header;
    let mut readers = Vec::new();
    for p in parts {
        let mut lines = numbered_lines(&p.path, &p.name)?;
        match lines.next().transpose()? {
            Some((_, l)) if Header::parse(&l, &p.name).is_ok_and(|h| h == p.header) => {}
            _ => return Err(changed(&p.name, "another header".into()).into()),
        }
        let mut r = Reader { lines, ahead: None };
        r.advance(p)?;
        readers.push(r);
    }
    let header = Header {
        shard: Shard::WHOLE,
        records: parts.iter().map(|p| p.header.records).sum(),
        ..h0.clone()
    };
    if csv {
        let keys: Vec<&str> = header.vary.iter().map(String::as_str).collect();
        w.write_all(csv_header(&keys).as_bytes())?;
    } else {
        writeln!(w, "{}", header.line())?;
    }
    let mut row = String::new();
    for point in 0..header.points {
        let k = (point % parts.len() as u64) as usize;
        while let Some((line, rec)) = readers[k].ahead.take_if(|(_, r)| r.point == point) {
            if csv {
                row.clear();
                rec.csv_rows(&mut row, &header);
                w.write_all(row.as_bytes())?;
            } else {
                writeln!(w, "{line}")?;
            }
            readers[k].advance(&parts[k])?;
        }
    }
    if let Some((r, p)) = readers.iter().zip(parts).find(|(r, _)| r.ahead.is_some()) {
        let at = r.ahead.as_ref().map_or(0, |(_, rec)| rec.point);
        return Err(changed(&p.name, format!("point {at} out of place")).into());
    }
    w.flush()?;
    Ok(())
}

pub(crate) fn run(a: &SweepMergeArgs) -> Result<(), Failure> {
    let mut parts = a
        .files
        .iter()
        .map(|f| check(f))
        .collect::<Result<Vec<Part>, Failure>>()?;
    check_set(&mut parts)?;
    let mut w = BufWriter::new(io::stdout().lock());
    match print(&parts, a.csv, &mut w) {
        Ok(()) => Ok(()),
        Err(Stop::Failed(f)) => Err(f),
        // The reader left (`| head`): not a failure of the merge.
        Err(Stop::Out(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(Stop::Out(e)) => Err(Failure::Internal(format!("stdout: {e}"))),
    }
}
