//! From the file layer to the model: values parsed, defaults applied, and
//! every error located at its field's line.

use std::io::Read;
use std::ops::{Range, RangeInclusive};
use std::path::Path;

use sched_core::{Span, MAX_CPUS};
use toml::Spanned;

use super::raw::*;
use super::*;
/// Error-building context: the file name and its text (for line numbers).
pub(super) struct Ctx<'t> {
    pub(super) file: &'t str,
    pub(super) text: &'t str,
}

impl Ctx<'_> {
    pub(super) fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    pub(super) fn err(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        msg: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            file: self.file.to_string(),
            line: Some(self.line_of(span.start)),
            field: field.into(),
            message: msg.into(),
        }
    }

    pub(super) fn duration(&self, v: &Spanned<String>, field: &str) -> Result<Span, ScenarioError> {
        parse_duration(v.get_ref()).map_err(|m| self.err(v.span(), field, m))
    }

    pub(super) fn opt_duration(
        &self,
        v: &Option<Spanned<String>>,
        field: &str,
    ) -> Result<Option<Span>, ScenarioError> {
        v.as_ref().map(|v| self.duration(v, field)).transpose()
    }

    pub(super) fn int<T: TryFrom<i64>>(
        &self,
        v: &Spanned<i64>,
        field: &str,
        range: RangeInclusive<i64>,
        what: &str,
    ) -> Result<T, ScenarioError> {
        let x = *v.get_ref();
        if !range.contains(&x) {
            return Err(self.err(v.span(), field, format!("must be {what}")));
        }
        T::try_from(x).map_err(|_| self.err(v.span(), field, format!("must be {what}")))
    }

    /// A `toml`/`serde` error: its span gives the line; the field path is
    /// reconstructed from the table headers and `key =` lines above it.
    pub(super) fn toml_error(&self, e: &toml::de::Error) -> ScenarioError {
        let offset = e.span().map_or(0, |s| s.start);
        let line = self.line_of(offset);
        ScenarioError {
            file: self.file.to_string(),
            line: Some(line),
            field: field_path_at(self.text, line),
            message: e.message().trim().replace('\n', " "),
        }
    }
}

/// The text of scenario file `path`, read through the [`MAX_FILE_BYTES`] cap
/// (a larger file, `/dev/zero` or an endless pipe is refused once the cap is
/// passed, never read whole). Everything that reads a scenario file reads it
/// here.
pub fn read_text(path: &Path) -> Result<String, ScenarioError> {
    let refuse = |message: String| ScenarioError {
        file: path.display().to_string(),
        line: None,
        field: "file".into(),
        message,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes))
        .map_err(|e| refuse(format!("cannot read: {e}")))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(refuse(format!(
            "file is larger than {} MiB",
            MAX_FILE_BYTES >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|_| refuse("cannot read: not UTF-8 text".into()))
}

/// Parses `"30ms"`, `"500us"`, `"60s"` (any unit `humantime` knows) into nanoseconds.
pub fn parse_duration(s: &str) -> Result<Span, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        format!("bad duration {s:?} ({e}); use a number with a unit, like \"30ms\"")
    })?;
    i64::try_from(d.as_nanos())
        .map(Span::ns)
        .map_err(|_| format!("duration {s:?} is too long"))
}

/// Best-effort field path for a 1-based `line`: the enclosing table
/// (`host`, `domain[k]`) and the nearest `key =` at or above the line.
pub(super) fn field_path_at(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let upto = line.min(lines.len());
    let mut table = String::new();
    let mut domains = 0usize;
    let mut key: Option<&str> = None;
    for l in &lines[..upto] {
        let t = l.trim();
        if let Some(h) = t.strip_prefix("[[").and_then(|h| h.split("]]").next()) {
            let h = h.trim();
            if h == "domain" {
                table = format!("domain[{domains}]");
                domains += 1;
            } else {
                table = h.to_string();
            }
            key = None;
        } else if let Some(h) = t.strip_prefix('[').and_then(|h| h.split(']').next()) {
            table = h.trim().to_string();
            key = None;
        } else if let Some((k, _)) = t.split_once('=') {
            let k = k.trim();
            if !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                key = Some(k);
            }
        }
    }
    match (table.is_empty(), key) {
        (true, Some(k)) => k.to_string(),
        (true, None) => "scenario".to_string(),
        (false, Some(k)) => format!("{table}.{k}"),
        (false, None) => table,
    }
}

pub(super) fn convert(cx: &Ctx<'_>, raw: RawScenario) -> Result<Scenario, ScenarioError> {
    let name = raw.name.map_or_else(String::new, |n| n.into_inner());
    let duration = cx.duration(&raw.duration, "duration")?;
    let seed = match &raw.seed {
        Some(s) => cx.int::<u64>(s, "seed", 0..=i64::MAX, "a non-negative integer")?,
        None => 0,
    };
    let policy = raw
        .policy
        .map_or_else(|| DEFAULT_POLICY.to_string(), |p| p.into_inner());
    let host = match &raw.host {
        Some(h) => {
            let h = h.get_ref();
            Host {
                pcpus: match &h.pcpus {
                    Some(p) => cx.int(p, "host.pcpus", 1..=MAX_CPUS as i64, "1..256")?,
                    None => 1,
                },
                context_switch: cx
                    .opt_duration(&h.context_switch, "host.context_switch")?
                    .unwrap_or(Span::ZERO),
                cache_refill: cx
                    .opt_duration(&h.cache_refill, "host.cache_refill")?
                    .unwrap_or(Span::ZERO),
                timer_granularity: cx
                    .opt_duration(&h.timer_granularity, "host.timer_granularity")?
                    .unwrap_or(Span::ZERO),
            }
        }
        None => Host {
            pcpus: 1,
            context_switch: Span::ZERO,
            cache_refill: Span::ZERO,
            timer_granularity: Span::ZERO,
        },
    };

    let mut domains = Vec::with_capacity(raw.domain.len());
    for (i, rd) in raw.domain.iter().enumerate() {
        domains.push(convert_domain(cx, i, rd.get_ref(), host.pcpus)?);
    }
    let pool = match &raw.pool {
        Some(rp) => {
            let r = rp.get_ref();
            Pool {
                tslice: cx.opt_duration(&r.tslice, "pool.tslice")?,
                ratelimit: cx.opt_duration(&r.ratelimit, "pool.ratelimit")?,
                migration_delay: cx.opt_duration(&r.migration_delay, "pool.migration_delay")?,
                poll: cx.opt_duration(&r.poll, "pool.poll")?,
                edf_slice: cx.opt_duration(&r.edf_slice, "pool.edf_slice")?,
                auto_lsvm: r.auto_lsvm,
                xen_exact: r.xen_exact,
            }
        }
        None => Pool::default(),
    };
    let mut changes = Vec::with_capacity(raw.change.len());
    for (i, rc) in raw.change.iter().enumerate() {
        let c = rc.get_ref();
        let p = |k: &str| format!("change[{i}].{k}");
        let at = cx.duration(&c.at, &p("at"))?;
        let domain_keys = c.weight.is_some() || c.cap.is_some() || c.microslice.is_some();
        let what = match (&c.domain, &c.pcpu) {
            (Some(_), Some(pc)) => {
                return Err(cx.err(
                    pc.span(),
                    p("pcpu"),
                    "a change names a domain or a pCPU, not both",
                ))
            }
            (None, Some(pc)) => {
                if domain_keys {
                    return Err(cx.err(
                        rc.span(),
                        format!("change[{i}]"),
                        "a pCPU change takes only `online`",
                    ));
                }
                let Some(online) = &c.online else {
                    return Err(cx.err(
                        rc.span(),
                        p("online"),
                        "a pCPU change needs online = true|false",
                    ));
                };
                ChangeKind::Pcpu {
                    pcpu: cx.int(pc, &p("pcpu"), 0..=255, "0..255")?,
                    online: *online.get_ref(),
                }
            }
            (Some(d), None) => {
                if let Some(o) = &c.online {
                    return Err(cx.err(
                        o.span(),
                        p("online"),
                        "`online` goes with `pcpu`, not a domain",
                    ));
                }
                ChangeKind::Domain(DomainChange {
                    domain: d.get_ref().clone(),
                    weight: c
                        .weight
                        .as_ref()
                        .map(|w| cx.int(w, &p("weight"), 1..=65535, "1..65535"))
                        .transpose()?,
                    cap: c
                        .cap
                        .as_ref()
                        .map(|w| cx.int(w, &p("cap"), 0..=25600, "0..25600"))
                        .transpose()?,
                    microslice: cx.opt_duration(&c.microslice, &p("microslice"))?,
                })
            }
            (None, None) => {
                return Err(cx.err(
                    rc.span(),
                    format!("change[{i}]"),
                    "a change names a domain or a pCPU",
                ))
            }
        };
        changes.push(Change { at, what });
    }
    let s = Scenario {
        name,
        duration,
        seed,
        policy,
        host,
        pool,
        domains,
        changes,
    };
    check(&s)
        .map_err(|(field, message)| ScenarioError::locate(cx.text, cx.file, field, message))?;
    Ok(s)
}

/// The byte span of `field` (`domain[1].workloads[0].interval`) in scenario
/// `text`: that key's, or else the nearest enclosing key's or array
/// element's the text has (a `[[domain]]` header when the domain's key is
/// absent and its default is at fault); the start of the text when none.
pub(super) fn place_of(text: &str, field: &str) -> Range<usize> {
    use toml::de::{DeTable, DeValue};
    let Ok(root) = DeTable::parse(text) else {
        return 0..0;
    };
    let mut at = 0..0;
    let mut node = &DeValue::Table(root.into_inner());
    for step in field.split('.') {
        let mut parts = step.split('[');
        let key = parts.next().unwrap_or_default();
        let DeValue::Table(t) = node else { break };
        let Some((k, v)) = t.iter().find(|(k, _)| k.get_ref() == key) else {
            break;
        };
        (at, node) = (k.span(), v.get_ref());
        for index in parts.map(|p| p.trim_end_matches(']').parse::<usize>()) {
            let (DeValue::Array(a), Ok(i)) = (node, index) else {
                break;
            };
            let Some(v) = a.get(i) else { break };
            (at, node) = (v.span(), v.get_ref());
        }
    }
    at
}

pub(super) fn convert_domain(
    cx: &Ctx<'_>,
    i: usize,
    d: &RawDomain,
    pcpus: u16,
) -> Result<Domain, ScenarioError> {
    let p = |k: &str| format!("domain[{i}].{k}");
    let vcpus = match &d.vcpus {
        Some(v) => cx.int(v, &p("vcpus"), 1..=MAX_CPUS as i64, "1..256")?,
        None => 1u16,
    };
    let pin = match &d.pin {
        Some(list) => {
            if list.get_ref().is_empty() {
                return Err(cx.err(list.span(), p("pin"), "must name at least one pCPU"));
            }
            let mut out = Vec::with_capacity(list.get_ref().len());
            for c in list.get_ref() {
                let what = format!("a pCPU id in 0..{}", pcpus - 1);
                out.push(cx.int(c, &p("pin"), 0..=i64::from(pcpus) - 1, &what)?);
            }
            Some(out)
        }
        None => None,
    };
    let weight = match &d.weight {
        Some(w) => cx.int(w, &p("weight"), 1..=65535, "1..65535")?,
        None => 256,
    };
    let cap = match &d.cap {
        Some(c) => {
            let max = 100 * i64::from(vcpus);
            cx.int(
                c,
                &p("cap"),
                0..=max,
                &format!("0..{max} (percent of one pCPU, 100 per vCPU; 0 = none)"),
            )?
        }
        None => 0,
    };
    let rt = match &d.rt {
        Some(r) => {
            let r = r.get_ref();
            let mode = match r.mode.get_ref().as_str() {
                "periodic" => RtMode::Periodic,
                "aperiodic" => RtMode::Aperiodic,
                other => {
                    return Err(cx.err(
                        r.mode.span(),
                        p("rt.mode"),
                        format!("unknown mode {other:?}; use \"periodic\" or \"aperiodic\""),
                    ))
                }
            };
            Some(Rt {
                mode,
                deadline: cx.opt_duration(&r.deadline, &p("rt.deadline"))?,
            })
        }
        None => None,
    };
    let mut workloads = Vec::with_capacity(d.workloads.len());
    for (j, w) in d.workloads.iter().enumerate() {
        workloads.push(convert_workload(
            cx,
            &format!("domain[{i}].workloads[{j}]"),
            w,
        )?);
    }
    let net = match &d.net {
        Some(n) => Some(convert_net(cx, &p("net"), n)?),
        None => None,
    };
    let mut flows = Vec::with_capacity(d.flows.len());
    for (j, fl) in d.flows.iter().enumerate() {
        flows.push(convert_flow(cx, &format!("domain[{i}].flows[{j}]"), fl)?);
    }
    if !flows.is_empty() && net.is_none() {
        let span = d.flows[0].span();
        return Err(cx.err(
            span,
            p("flows"),
            "flows need a net = { limit = ... } on the domain",
        ));
    }
    Ok(Domain {
        name: d.name.get_ref().clone(),
        net,
        flows,
        vcpus,
        pin,
        weight,
        cap,
        microslice: cx.opt_duration(&d.microslice, &p("microslice"))?,
        rt,
        reserve: cx.opt_duration(&d.reserve, &p("reserve"))?,
        driver: d.driver.unwrap_or(false),
        start: cx
            .opt_duration(&d.start, &p("start"))?
            .unwrap_or(Span::ZERO),
        stop: cx.opt_duration(&d.stop, &p("stop"))?,
        workloads,
    })
}

pub(super) fn convert_workload(
    cx: &Ctx<'_>,
    path: &str,
    w: &Spanned<RawWorkload>,
) -> Result<Workload, ScenarioError> {
    let span = w.span();
    let w = w.get_ref();
    let f = |k: &str| format!("{path}.{k}");
    let kind = w.kind.get_ref().as_str();
    // Which optional keys each kind accepts.
    let allowed: &[&str] = match kind {
        "cpu" => &["load", "period"],
        "ping" => &["interval", "service", "arrival"],
        "periodic" => &["period", "work"],
        "stream" => &["period", "work", "deadline", "buffer"],
        other => {
            return Err(cx.err(
                w.kind.span(),
                f("kind"),
                format!(
                    "unknown kind {other:?}; use \"cpu\", \"ping\", \"periodic\" or \"stream\""
                ),
            ))
        }
    };
    let present: [(&str, Option<Range<usize>>); 8] = [
        ("load", w.load.as_ref().map(|v| v.span())),
        ("period", w.period.as_ref().map(|v| v.span())),
        ("interval", w.interval.as_ref().map(|v| v.span())),
        ("service", w.service.as_ref().map(|v| v.span())),
        ("arrival", w.arrival.as_ref().map(|v| v.span())),
        ("work", w.work.as_ref().map(|v| v.span())),
        ("deadline", w.deadline.as_ref().map(|v| v.span())),
        ("buffer", w.buffer.as_ref().map(|v| v.span())),
    ];
    for (k, s) in present {
        if let Some(s) = s {
            if !allowed.contains(&k) {
                return Err(cx.err(s, f(k), format!("not a key of kind {kind}")));
            }
        }
    }
    let need = |v: &Option<Spanned<String>>, k: &str| -> Result<Span, ScenarioError> {
        match v {
            Some(v) => cx.duration(v, &f(k)),
            None => Err(cx.err(span.clone(), f(k), format!("required for kind {kind}"))),
        }
    };
    Ok(match kind {
        "cpu" => Workload::Cpu {
            load: match &w.load {
                Some(l) => *l.get_ref(),
                None => return Err(cx.err(span.clone(), f("load"), "required for kind cpu")),
            },
            period: cx
                .opt_duration(&w.period, &f("period"))?
                .unwrap_or(DEFAULT_CPU_PERIOD),
        },
        "ping" => Workload::Ping {
            interval: need(&w.interval, "interval")?,
            service: need(&w.service, "service")?,
            arrival: match w.arrival.as_ref().map(|a| (a.get_ref().as_str(), a.span())) {
                None | Some(("fixed", _)) => Arrival::Fixed,
                Some(("poisson", _)) => Arrival::Poisson,
                Some((other, s)) => {
                    return Err(cx.err(
                        s,
                        f("arrival"),
                        format!("unknown arrival {other:?}; use \"fixed\" or \"poisson\""),
                    ))
                }
            },
        },
        "stream" => {
            let period = need(&w.period, "period")?;
            Workload::Stream {
                period,
                work: need(&w.work, "work")?,
                deadline: cx
                    .opt_duration(&w.deadline, &f("deadline"))?
                    .unwrap_or(period),
                buffer: match &w.buffer {
                    Some(b) => cx.int(b, &f("buffer"), 1..=1_000_000, "1..1000000")?,
                    None => 1,
                },
            }
        }
        _ => Workload::Periodic {
            period: need(&w.period, "period")?,
            work: need(&w.work, "work")?,
        },
    })
}

/// Bits per second from `"2.2Mbit"`, `"500kbit"`, `"1Gbit"`, `"64000bit"`.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("Gbit") {
        (n, 1e9)
    } else if let Some(n) = t.strip_suffix("Mbit") {
        (n, 1e6)
    } else if let Some(n) = t.strip_suffix("kbit") {
        (n, 1e3)
    } else if let Some(n) = t.strip_suffix("bit") {
        (n, 1.0)
    } else {
        return Err(format!(
            "{s:?}: a rate with a unit, like \"2Mbit\" (kbit, Mbit, Gbit)"
        ));
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: not a number before the unit"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("{s:?}: must be positive"));
    }
    Ok((v * mult).round() as u64)
}

pub(super) fn convert_net(
    cx: &Ctx<'_>,
    path: &str,
    n: &Spanned<RawNet>,
) -> Result<Net, ScenarioError> {
    let r = n.get_ref();
    let f = |k: &str| format!("{path}.{k}");
    let limit_bps =
        parse_rate(r.limit.get_ref()).map_err(|m| cx.err(r.limit.span(), f("limit"), m))?;
    let shaper = match r.shaper.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("smooth-window", _)) => ShaperKind::SmoothWindow,
        Some(("token-bucket", _)) => ShaperKind::TokenBucket,
        Some((other, sp)) => {
            return Err(cx.err(
                sp,
                f("shaper"),
                format!("unknown shaper {other:?}; use \"token-bucket\" or \"smooth-window\""),
            ))
        }
    };
    let d = sched_shaper::ShaperParams::new(limit_bps);
    let net = Net {
        limit_bps,
        shaper,
        period: cx
            .opt_duration(&r.period, &f("period"))?
            .unwrap_or(d.period),
        window: cx
            .opt_duration(&r.window, &f("window"))?
            .unwrap_or(d.window),
        interval: cx
            .opt_duration(&r.interval, &f("interval"))?
            .unwrap_or(d.interval),
    };
    net.params()
        .validate()
        .map_err(|e| cx.err(n.span(), path.to_string(), e.to_string()))?;
    Ok(net)
}

pub(super) fn convert_flow(
    cx: &Ctx<'_>,
    path: &str,
    fl: &Spanned<RawFlow>,
) -> Result<Flow, ScenarioError> {
    let span = fl.span();
    let r = fl.get_ref();
    let f = |k: &str| format!("{path}.{k}");
    let kind = r.kind.get_ref().as_str();
    // A packet is at most an IP packet (netback never sees a bigger one);
    // an HTTP reply, split into packets, at most 1 MiB.
    let bytes = |v: &Option<Spanned<i64>>,
                 k: &str,
                 default: Option<u32>|
     -> Result<u32, ScenarioError> {
        match (v, default) {
            (Some(v), _) if k == "reply" => cx.int(v, &f(k), 1..=1_048_576, "1..1048576 bytes"),
            (Some(v), _) => cx.int(v, &f(k), 1..=MAX_PACKET, "1..65535 bytes"),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(cx.err(span.clone(), f(k), format!("required for kind {kind}"))),
        }
    };
    let service = cx
        .opt_duration(&r.service, &f("service"))?
        .unwrap_or(Span::us(50));
    Ok(match kind {
        "cbr" => {
            let rate = r
                .rate
                .as_ref()
                .ok_or_else(|| cx.err(span.clone(), f("rate"), "required for kind cbr"))?;
            Flow::Cbr {
                rate_bps: parse_rate(rate.get_ref())
                    .map_err(|m| cx.err(rate.span(), f("rate"), m))?,
                size: bytes(&r.size, "size", Some(1400))?,
                service,
            }
        }
        "http" => Flow::Http {
            interval: match &r.interval {
                Some(v) => cx.duration(v, &f("interval"))?,
                None => return Err(cx.err(span, f("interval"), "required for kind http")),
            },
            reply: bytes(&r.reply, "reply", Some(8192))?,
            service,
            arrival: match r.arrival.as_ref().map(|a| a.get_ref().as_str()) {
                None | Some("poisson") => Arrival::Poisson,
                Some("fixed") => Arrival::Fixed,
                Some(other) => {
                    return Err(cx.err(span, f("arrival"), format!("unknown arrival {other:?}")))
                }
            },
        },
        "udp" => {
            let rate = r
                .rate
                .as_ref()
                .ok_or_else(|| cx.err(span.clone(), f("rate"), "required for kind udp"))?;
            Flow::Udp {
                rate_bps: parse_rate(rate.get_ref())
                    .map_err(|m| cx.err(rate.span(), f("rate"), m))?,
                size: bytes(&r.size, "size", Some(1460))?,
            }
        }
        "bulk" => Flow::Bulk {
            size: bytes(&r.size, "size", Some(1460))?,
            window: match &r.window {
                Some(v) => cx.int(v, &f("window"), 1..=1024, "1..1024 packets")?,
                None => 8,
            },
        },
        other => {
            return Err(cx.err(
                r.kind.span(),
                f("kind"),
                format!("unknown flow kind {other:?}; use \"cbr\", \"http\", \"bulk\" or \"udp\""),
            ))
        }
    })
}

/// The time between `size`-byte packets sent at `rate_bps` (at least 1 ns):
/// a CBR stream's period, a UDP-like sender's pacing.
pub(crate) fn packet_gap(size: u32, rate_bps: u64) -> Span {
    let ns = u128::from(size) * 8 * 1_000_000_000 / u128::from(rate_bps.max(1));
    Span(i64::try_from(ns).unwrap_or(i64::MAX).max(1))
}

/// The largest packet a flow sends (an IP packet).
pub(super) const MAX_PACKET: i64 = 65_535;
/// Flows a domain may have.
pub(super) const MAX_FLOWS: usize = 64;

/// A flow's bounds: `(field, message)` when one is out. They keep a run
/// finite and its memory bounded: at most a million packets a second per
/// flow, rates of 1 kbit/s..10 Gbit/s, requests [`MIN_ARRIVAL_GAP`] apart.
pub(super) fn flow_ok(fl: &Flow) -> Result<(), (&'static str, String)> {
    let rate_ok = |bps: u64, size: u32| {
        if !(1_000..=10_000_000_000).contains(&bps) {
            Err(("rate", "must be 1kbit..10Gbit".into()))
        } else if u128::from(bps) > u128::from(size) * 8 * 1_000_000 {
            Err((
                "rate",
                "at most a million packets a second (raise size or lower rate)".into(),
            ))
        } else {
            Ok(())
        }
    };
    let size_ok = |size: u32| {
        if size == 0 || i64::from(size) > MAX_PACKET {
            Err(("size", "must be 1..65535 bytes".into()))
        } else {
            Ok(())
        }
    };
    let service_ok = |t: Span| {
        if t <= Span::ZERO || t > Span::secs(1) {
            Err(("service", "must be positive and at most 1s".into()))
        } else {
            Ok(())
        }
    };
    match *fl {
        Flow::Cbr {
            rate_bps,
            size,
            service,
        } => {
            size_ok(size)?;
            rate_ok(rate_bps, size)?;
            service_ok(service)
        }
        Flow::Http {
            interval,
            reply,
            service,
            ..
        } => {
            spacing_ok(interval).map_err(|m| ("interval", m))?;
            if reply == 0 || reply > 1 << 20 {
                return Err(("reply", "must be 1..1048576 bytes".into()));
            }
            service_ok(service)
        }
        Flow::Udp { rate_bps, size } => {
            size_ok(size)?;
            rate_ok(rate_bps, size)
        }
        Flow::Bulk { size, window } => {
            size_ok(size)?;
            if !(1..=1024).contains(&window) {
                return Err(("window", "must be 1..1024 packets".into()));
            }
            Ok(())
        }
    }
}
