//! What `vsched sweep` writes and `vsched sweep-merge` reads: the CSV rows,
//! the sweep hash, and the `--jsonl` format.
//!
//! `--jsonl` is a header line, then one record per (point, policy, domain)
//! in point order, then policy order, then the domains' order in the
//! point's scenario:
//!
//! ```text
//! {"format":"vsched-sweep/1","sweep_hash":"…","shard":"2/4","points":9,"records":36,"vary":["seed"],"policies":["credit"]}
//! {"sweep_hash":"…","point":1,"values":{"seed":"2"},"seed":2,"policy":"credit","scenario":"s","domain":{…}}
//! ```
//!
//! The header is what makes a shard checkable on its own: which sweep and
//! which shard it is (even one with no points), and how many records must
//! follow, so a file cut short at a line boundary is caught. A record does
//! not say its shard: the same point gives the same line however the sweep
//! was split, so merging the shards reorders lines without rewriting them,
//! and merging equals the unsharded run byte for byte (whose header says
//! shard 1/1, as the merged one does). Keys are written in a fixed order
//! (not serde_json's map order, which a crate feature can change).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use sched_sim::{DomainReport, Report, Span};

use crate::sweep_shard::Shard;
use crate::Failure;

/// The `format` field of a `--jsonl` header: bumped when a line changes.
pub(crate) const FORMAT: &str = "vsched-sweep/1";

/// The CSV header of a sweep: `index`, the varied keys, the report columns.
pub(crate) fn csv_header(keys: &[&str]) -> String {
    // The report columns' header, from the CSV of no reports.
    format!("index,{},{}", keys.join(","), crate::outputs::csv(&[]))
}

/// Appends the CSV rows of point `index` (its values `vals`) under report `r`.
pub(crate) fn csv_rows(out: &mut String, index: u64, vals: &[&str], r: &Report) {
    let body = crate::outputs::csv(std::slice::from_ref(r));
    for l in body.lines().skip(1) {
        let _ = writeln!(out, "{index},{},{l}", vals.join(","));
    }
}

/// What defines a sweep, hashed (SHA-256, hex): the scenario file's text,
/// the varied keys in the order given with their values (expanded, so
/// `1..3` and `1,2,3` are one sweep), the policies in order, the `--seed`
/// and `--duration` overrides, the format and vsched's version. Not the
/// file's path (shards run on machines that keep it elsewhere), nor the
/// shard. Two shards with one hash ran the same points the same way.
pub(crate) fn sweep_hash(
    scenario_text: &str,
    axes: &[(&str, Vec<String>)],
    policies: &[String],
    seed: Option<u64>,
    duration: Option<Span>,
) -> String {
    // An array, not an object: its order is fixed whatever serde_json's
    // map order is.
    let def = serde_json::json!([
        FORMAT,
        env!("CARGO_PKG_VERSION"),
        scenario_text,
        axes,
        policies,
        seed,
        duration.map(|d| d.0),
    ]);
    Sha256::digest(def.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A JSON string.
fn js(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The first line of a `--jsonl` output.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Header {
    pub(crate) sweep_hash: String,
    pub(crate) shard: Shard,
    /// Points in the whole sweep (not only this shard).
    pub(crate) points: u64,
    /// Record lines after this one.
    pub(crate) records: u64,
    /// The varied keys, in the order given.
    pub(crate) vary: Vec<String>,
    pub(crate) policies: Vec<String>,
}

impl Header {
    pub(crate) fn line(&self) -> String {
        let list = |v: &[String]| serde_json::Value::from(v.to_vec()).to_string();
        format!(
            "{{\"format\":{},\"sweep_hash\":{},\"shard\":\"{}\",\"points\":{},\"records\":{},\"vary\":{},\"policies\":{}}}",
            js(FORMAT),
            js(&self.sweep_hash),
            self.shard,
            self.points,
            self.records,
            list(&self.vary),
            list(&self.policies)
        )
    }

    /// Reads line 1 of `file`.
    pub(crate) fn parse(line: &str, file: &str) -> Result<Header, Failure> {
        let at =
            |field: &str, what: String| Failure::BadInput(format!("{file}:1: {field}: {what}"));
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            at(
                "header",
                format!("not JSON ({e}); not the output of vsched sweep --jsonl"),
            )
        })?;
        match v.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            other => {
                return Err(at(
                    "format",
                    format!(
                        "{}, not {FORMAT:?}: not the output of this vsched's sweep --jsonl",
                        other.map_or("missing".into(), |f| format!("{f:?}"))
                    ),
                ))
            }
        }
        let text = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .ok_or_else(|| at(k, "missing or not a string".into()))
        };
        let number = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_u64())
                .ok_or_else(|| at(k, "missing or not a whole number".into()))
        };
        let list = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_array())
                .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_string)).collect())
                .ok_or_else(|| at(k, "missing or not a list of strings".into()))
        };
        let shard = text("shard")?;
        Ok(Header {
            sweep_hash: text("sweep_hash")?.to_string(),
            shard: Shard::parse(shard)
                .ok_or_else(|| at("shard", format!("{shard:?} is not I/N")))?,
            points: number("points")?,
            records: number("records")?,
            vary: list("vary")?,
            policies: list("policies")?,
        })
    }
}

/// One record line: point `point` (its `values`, in the order of the
/// header's `vary`), run with `seed` under `policy`; domain `d` of its
/// report on scenario `scenario`.
pub(crate) fn record_line(
    hash: &str,
    point: u64,
    values: &[(String, String)],
    seed: u64,
    policy: &str,
    scenario: &str,
    d: &DomainReport,
) -> Result<String, Failure> {
    let values: Vec<String> = values
        .iter()
        .map(|(k, v)| format!("{}:{}", js(k), js(v)))
        .collect();
    let domain = serde_json::to_string(d)
        .map_err(|e| Failure::Internal(format!("domain report to JSON: {e}")))?;
    Ok(format!(
        "{{\"sweep_hash\":{},\"point\":{point},\"values\":{{{}}},\"seed\":{seed},\"policy\":{},\"scenario\":{},\"domain\":{domain}}}",
        js(hash),
        values.join(","),
        js(policy),
        js(scenario)
    ))
}

/// A record line read back, checked against its file's header.
pub(crate) struct Record {
    pub(crate) point: u64,
    /// Index into the header's `policies`.
    pub(crate) policy: usize,
    /// In the order of the header's `vary`.
    pub(crate) values: Vec<String>,
    pub(crate) scenario: String,
    pub(crate) domain: DomainReport,
}

impl Record {
    /// Reads line `n` of `file`, whose header is `h`.
    pub(crate) fn parse(line: &str, file: &str, n: usize, h: &Header) -> Result<Record, Failure> {
        let at =
            |field: &str, what: String| Failure::BadInput(format!("{file}:{n}: {field}: {what}"));
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| at("record", format!("not JSON ({e}): cut short or garbled")))?;
        let field = |k: &str| v.get(k).ok_or_else(|| at(k, "missing".into()));
        if field("sweep_hash")?.as_str() != Some(h.sweep_hash.as_str()) {
            return Err(at(
                "sweep_hash",
                "not the header's: lines of another sweep".into(),
            ));
        }
        let point = field("point")?
            .as_u64()
            .ok_or_else(|| at("point", "not a whole number".into()))?;
        if point >= h.points || !h.shard.holds(point) {
            return Err(at(
                "point",
                format!(
                    "{point} is not a point of shard {} of a sweep of {}",
                    h.shard, h.points
                ),
            ));
        }
        let name = field("policy")?.as_str().unwrap_or_default();
        let policy = h.policies.iter().position(|p| p == name).ok_or_else(|| {
            at(
                "policy",
                format!("{name:?} is not in the header's policies"),
            )
        })?;
        let given = field("values")?
            .as_object()
            .ok_or_else(|| at("values", "not an object".into()))?;
        if given.len() != h.vary.len() {
            return Err(at("values", "not the header's vary keys".into()));
        }
        let values = h
            .vary
            .iter()
            .map(|k| given.get(k).and_then(|x| x.as_str()).map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| at("values", "not the header's vary keys".into()))?;
        field("seed")?
            .as_u64()
            .ok_or_else(|| at("seed", "not a whole number".into()))?;
        let scenario = field("scenario")?
            .as_str()
            .ok_or_else(|| at("scenario", "not a string".into()))?
            .to_string();
        let domain = serde_json::from_value(field("domain")?.clone())
            .map_err(|e| at("domain", format!("not a domain report ({e})")))?;
        Ok(Record {
            point,
            policy,
            values,
            scenario,
            domain,
        })
    }

    /// Its CSV rows, as `vsched sweep` without `--jsonl` prints them.
    pub(crate) fn csv_rows(self, out: &mut String, h: &Header) {
        let vals: Vec<&str> = self.values.iter().map(String::as_str).collect();
        let report = Report {
            scenario: self.scenario,
            policy: h.policies[self.policy].clone(),
            duration_ns: 0,
            domains: vec![self.domain],
            pcpus: Vec::new(),
            percentile_error: 0.0,
        };
        csv_rows(out, self.point, &vals, &report);
    }
}
