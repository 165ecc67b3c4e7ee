//! `vsched host-create`, `vsched create`, `vsched destroy`, `vsched list`:
//! a simulated host from nothing, as an administrator builds one with `xl`.
//! Every change goes through `host::change` (validated whole, written
//! atomically under the lock); `host-create` writes through `host::create`
//! (the same lock and atomic write) and refuses to overwrite a host unless
//! `--force`.

use std::path::PathBuf;

use clap::Args;
use toml_edit::{value, Array, ArrayOfTables, DocumentMut, Table};

use crate::host;
use crate::Failure;

#[derive(Args)]
#[command(after_help = "\
Creates a host with the driver domain, Domain-0 (pinned to pCPU 0 when
there are several pCPUs, as dom0_vcpus_pin does), and nothing else.

Example:
  vsched host-create --host host.toml --pcpus 2")]
pub(crate) struct HostCreateArgs {
    /// pCPUs of the host, 1..256.
    #[arg(long, default_value_t = 1)]
    pcpus: u16,
    /// Simulated time of a run of this host.
    #[arg(long, default_value = "60s")]
    duration: String,
    /// Context-switch cost.
    #[arg(long, default_value = "5us")]
    context_switch: String,
    /// Replace an existing host file.
    #[arg(long)]
    force: bool,
    /// The host file (default: $VSCHED_HOST, then ./host.toml).
    #[arg(long, value_name = "FILE")]
    host: Option<PathBuf>,
}

pub(crate) fn host_create(a: &HostCreateArgs) -> Result<(), Failure> {
    let path = host::path(a.host.as_deref());
    let name = path
        .file_stem()
        .map_or("host".into(), |s| s.to_string_lossy().into_owned());
    // TOML strings, quoted and escaped by toml_edit.
    let s = |v: &str| toml_edit::Value::from(v).to_string();
    let pin = if a.pcpus > 1 { "pin = [0]\n" } else { "" };
    let text = format!(
        "# A simulated host, made by `vsched host-create`; change it with the\n\
         # vsched commands (or by hand: it is a scenario file).\n\
         name = {}\nduration = {}\nseed = 1\n\n[host]\npcpus = {}\ncontext_switch = {}\n\n\
         [[domain]]\nname = \"Domain-0\"\ndriver = true\n{pin}",
        s(&name),
        s(&a.duration),
        a.pcpus,
        s(&a.context_switch)
    );
    sched_sim::Scenario::parse(&text, &path.display().to_string()).map_err(|e| {
        // The one-line error names the flag that set the field.
        let flag = match e.field.as_str() {
            "host.pcpus" => "--pcpus",
            "duration" => "--duration",
            "host.context_switch" => "--context-switch",
            other => other,
        };
        Failure::BadInput(format!("{flag}: {}", e.message))
    })?;
    host::create(&path, &text, a.force)
}

#[derive(Args)]
#[command(after_help = "\
Workloads are the scenario format's inline tables, e.g.
  --workload '{ kind = \"cpu\", load = 0.4 }'
  --workload '{ kind = \"ping\", interval = \"20ms\", service = \"50us\" }'

Examples:
  vsched create web --vcpus 2 --weight 512 --workload '{ kind = \"cpu\", load = 1.0 }'
  vsched create rtp --limit 2.2Mbit --flow '{ kind = \"cbr\", rate = \"2Mbit\", size = 1400 }'")]
pub(crate) struct CreateArgs {
    /// The new domain's name (not all digits: a number is a domain ID).
    name: String,
    /// vCPUs, 1..256.
    #[arg(long, default_value_t = 1)]
    vcpus: u16,
    /// pCPUs it may run on, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pin: Vec<u16>,
    /// Credit weight.
    #[arg(long)]
    weight: Option<u16>,
    /// Cap, percent of one pCPU.
    #[arg(long)]
    cap: Option<u16>,
    /// A workload, as an inline table (repeatable).
    #[arg(long = "workload", value_name = "TABLE")]
    workloads: Vec<String>,
    /// A network flow, as an inline table (repeatable; needs --limit).
    #[arg(long = "flow", value_name = "TABLE")]
    flows: Vec<String>,
    /// Its network limit (e.g. 2Mbit; `vsched net` tunes the shaper later).
    #[arg(long)]
    limit: Option<String>,
    /// The shaper for --limit: token-bucket or smooth-window (default).
    #[arg(long, requires = "limit")]
    shaper: Option<crate::net_cmd::ShaperArg>,
    /// When it is created in a run (e.g. 10s).
    #[arg(long)]
    start: Option<String>,
    /// When it is destroyed in a run.
    #[arg(long)]
    stop: Option<String>,
    /// The host file (default: $VSCHED_HOST, then ./host.toml).
    #[arg(long, value_name = "FILE")]
    host: Option<PathBuf>,
}

/// Inline tables given on the command line, as a TOML array.
fn inline_tables(flag: &str, items: &[String]) -> Result<Array, Failure> {
    let mut out = Array::new();
    for w in items {
        let doc: DocumentMut = format!("w = {w}")
            .parse()
            .map_err(|e| Failure::BadInput(format!("{flag} {w:?}: {e}")))?;
        let v = doc["w"]
            .as_value()
            .cloned()
            .ok_or_else(|| Failure::BadInput(format!("{flag} {w:?}: not a value")))?;
        out.push(v);
    }
    out.fmt();
    Ok(out)
}

pub(crate) fn create(a: &CreateArgs) -> Result<(), Failure> {
    let path = host::path(a.host.as_deref());
    let workloads = inline_tables("--workload", &a.workloads)?;
    let flows = inline_tables("--flow", &a.flows)?;
    host::check_name(&a.name)?;
    host::change(&path, |sc, doc| {
        if sc.domains.iter().any(|d| d.name == a.name) {
            return Err(Failure::BadInput(format!(
                "{}: a domain has that name",
                a.name
            )));
        }
        let mut t = Table::new();
        t["name"] = value(a.name.clone());
        if a.vcpus != 1 {
            t["vcpus"] = value(i64::from(a.vcpus));
        }
        if !a.pin.is_empty() {
            t["pin"] = value(a.pin.iter().map(|&c| i64::from(c)).collect::<Array>());
        }
        if let Some(w) = a.weight {
            t["weight"] = value(i64::from(w));
        }
        if let Some(c) = a.cap {
            t["cap"] = value(i64::from(c));
        }
        if let Some(s) = &a.start {
            t["start"] = value(s.clone());
        }
        if let Some(s) = &a.stop {
            t["stop"] = value(s.clone());
        }
        t["workloads"] = value(workloads.clone());
        if let Some(l) = &a.limit {
            let mut net = toml_edit::InlineTable::new();
            net.insert("limit", l.as_str().into());
            let shaper = match a.shaper {
                Some(crate::net_cmd::ShaperArg::TokenBucket) => "token-bucket",
                _ => "smooth-window",
            };
            net.insert("shaper", shaper.into());
            t["net"] = value(net);
        }
        if !flows.is_empty() {
            t["flows"] = value(flows.clone());
        }
        // `host::change` has made an inline `domain = [...]` tables.
        let domains = doc
            .entry("domain")
            .or_insert_with(|| toml_edit::Item::ArrayOfTables(ArrayOfTables::new()));
        domains
            .as_array_of_tables_mut()
            .ok_or_else(|| Failure::Internal("domain: not an array of tables".into()))?
            .push(t);
        Ok(())
    })?;
    Ok(())
}

#[derive(Args)]
pub(crate) struct DestroyArgs {
    /// The domain, by name or ID (not the driver domain).
    domain: String,
    /// The host file (default: $VSCHED_HOST, then ./host.toml).
    #[arg(long, value_name = "FILE")]
    host: Option<PathBuf>,
}

pub(crate) fn destroy(a: &DestroyArgs) -> Result<(), Failure> {
    let path = host::path(a.host.as_deref());
    host::change(&path, |sc, doc| {
        let i = host::domain(sc, &a.domain)?;
        let name = sc.domains[i].name.clone();
        if sc.domains[i].driver {
            // As xl refuses to destroy domain 0.
            return Err(Failure::BadInput(format!(
                "{name}: the driver domain cannot be destroyed"
            )));
        }
        doc.get_mut("domain")
            .and_then(|d| d.as_array_of_tables_mut())
            .filter(|arr| i < arr.len())
            .ok_or_else(|| Failure::Internal(format!("domain {i} not found in the document")))?
            .remove(i);
        // Its run-time changes go with it.
        if let Some(arr) = doc
            .get_mut("change")
            .and_then(|d| d.as_array_of_tables_mut())
        {
            arr.retain(|t| t.get("domain").and_then(|d| d.as_str()) != Some(name.as_str()));
        }
        Ok(())
    })?;
    Ok(())
}

#[derive(Args)]
pub(crate) struct ListArgs {
    /// The host file (default: $VSCHED_HOST, then ./host.toml).
    #[arg(long, value_name = "FILE")]
    host: Option<PathBuf>,
}

/// `xl list`-like: one row per domain with its scheduling roles.
pub(crate) fn list(a: &ListArgs) -> Result<(), Failure> {
    let sc = host::load(&host::path(a.host.as_deref()))?;
    println!(
        "{:<33} {:>4} {:>5} {:>8} {:>6} {:>4} {:>10} {:>16}",
        "Name", "ID", "VCPUs", "Pin", "Weight", "Cap", "Microslice", "Real-time"
    );
    for (i, d) in sc.domains.iter().enumerate() {
        let pin = d.pin.as_ref().map_or("all".to_string(), |p| {
            p.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
        });
        let micro = d.microslice.map_or("-".to_string(), |m| m.to_string());
        let rt = match (d.driver, d.rt) {
            (true, _) => "driver".to_string(),
            (false, Some(r)) => format!(
                "{}/{}",
                match r.mode {
                    sched_sim::RtMode::Periodic => "periodic",
                    sched_sim::RtMode::Aperiodic => "aperiodic",
                },
                r.deadline.map_or("-".into(), |x| x.to_string())
            ),
            (false, None) => "-".to_string(),
        };
        println!(
            "{:<33} {:>4} {:>5} {:>8} {:>6} {:>4} {:>10} {:>16}",
            d.name, i, d.vcpus, pin, d.weight, d.cap, micro, rt
        );
    }
    Ok(())
}
