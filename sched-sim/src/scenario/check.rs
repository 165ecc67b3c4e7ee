//! Validation of a whole scenario (code-built ones too), with the
//! scheduler's own bounds where it has them.

use sched_core::{Span, MAX_CPUS};

use super::*;
/// Semantic checks shared by files and code-built scenarios: `(field, message)`.
pub(super) fn check(s: &Scenario) -> Result<(), (String, String)> {
    let e = |f: String, m: &str| Err((f, m.to_string()));
    if let Err(m) = duration_ok(s.duration) {
        return e("duration".into(), &m);
    }
    // Nothing may begin at or after the end of the run: it would never be seen.
    let before_end = format!(
        "must be before the end of the run (duration {})",
        human(s.duration)
    );
    if s.host.pcpus == 0 || usize::from(s.host.pcpus) > MAX_CPUS {
        return e("host.pcpus".into(), "must be 1..256");
    }
    for (k, v) in [
        ("context_switch", s.host.context_switch),
        ("cache_refill", s.host.cache_refill),
        ("timer_granularity", s.host.timer_granularity),
    ] {
        if v < Span::ZERO || v > Span::secs(1) {
            return e(format!("host.{k}"), "must be 0..1s");
        }
    }
    // The scheduler's own bounds, in the file's terms.
    if let Err(err) = s.pool.credit_params().validate() {
        let k = match err {
            sched_core::ParamError::Tslice => "tslice",
            sched_core::ParamError::MigrationDelay => "migration_delay",
            _ => "ratelimit",
        };
        return e(format!("pool.{k}"), &err.to_string());
    }
    let tslice = s.pool.credit_params().tslice;
    if let Err(err) = s.pool.edf_params().validate(tslice) {
        let k = match err {
            sched_core::ParamError::PollPeriod => "poll",
            _ => "edf_slice",
        };
        return e(format!("pool.{k}"), &err.to_string());
    }
    if s.domains.is_empty() {
        return e("domain".into(), "at least one [[domain]] is needed");
    }
    for (i, d) in s.domains.iter().enumerate() {
        let p = |k: &str| format!("domain[{i}].{k}");
        if let Err(m) = check_name(&d.name) {
            return e(p("name"), &m);
        }
        if s.domains[..i].iter().any(|o| o.name == d.name) {
            return e(p("name"), "names must be unique");
        }
        if d.vcpus == 0 || usize::from(d.vcpus) > MAX_CPUS {
            return e(p("vcpus"), "must be 1..256");
        }
        if let Some(pin) = &d.pin {
            if pin.is_empty() || pin.iter().any(|&c| c >= s.host.pcpus) {
                return e(p("pin"), "must name pCPUs of the host");
            }
        }
        if d.weight == 0 {
            return e(p("weight"), "must be 1..65535");
        }
        if u32::from(d.cap) > 100 * u32::from(d.vcpus) {
            return e(p("cap"), "must be at most 100 per vCPU");
        }
        if let Some(m) = d.microslice {
            if let Err(err) = microslice_ok(m) {
                return e(p("microslice"), &err);
            }
        }
        // edf-credit's own bounds, in the file's terms.
        if let Err(err) = d.edf_params().validate(tslice) {
            let field = match err {
                sched_core::ParamError::Reserve => p("reserve"),
                sched_core::ParamError::DriverRealtime => p("driver"),
                _ => p("rt.deadline"),
            };
            return e(field, &err.to_string());
        }
        if d.start < Span::ZERO {
            return e(p("start"), "must not be negative");
        }
        if d.start >= s.duration {
            return e(p("start"), &before_end);
        }
        if d.stop.is_some_and(|st| st <= d.start) {
            return e(p("stop"), "must be after start");
        }
        // Stopping at the end is running to the end.
        if d.stop.is_some_and(|st| st > s.duration) {
            let m = format!(
                "must be at most the end of the run (duration {})",
                human(s.duration)
            );
            return e(p("stop"), &m);
        }
        if !d.flows.is_empty() && d.net.is_none() {
            return e(p("flows"), "flows need a net limit on the domain");
        }
        if let Some(n) = &d.net {
            if let Err(err) = n.params().validate() {
                return e(p("net"), &err.to_string());
            }
        }
        if d.flows.len() > MAX_FLOWS {
            return e(p("flows"), "at most 64 flows per domain");
        }
        for (j, fl) in d.flows.iter().enumerate() {
            if let Err((k, m)) = flow_ok(fl) {
                return e(format!("domain[{i}].flows[{j}].{k}"), &m);
            }
        }
        for (j, w) in d.workloads.iter().enumerate() {
            let q = |k: &str| format!("domain[{i}].workloads[{j}].{k}");
            let (gap, gap_key) = w.spacing();
            if let Err(m) = spacing_ok(gap) {
                return e(q(gap_key), &m);
            }
            match *w {
                Workload::Cpu { load, .. } => {
                    if !(load > 0.0 && load <= 1.0) {
                        return e(q("load"), "must be in (0, 1]");
                    }
                }
                Workload::Ping { service, .. } => {
                    if service <= Span::ZERO {
                        return e(q("service"), "must be positive");
                    }
                }
                Workload::Periodic { work, .. } => {
                    if work <= Span::ZERO {
                        return e(q("work"), "must be positive");
                    }
                }
                Workload::Stream {
                    work,
                    deadline,
                    buffer,
                    ..
                } => {
                    if work <= Span::ZERO {
                        return e(q("work"), "must be positive");
                    }
                    if deadline <= Span::ZERO {
                        return e(q("deadline"), "must be positive");
                    }
                    if buffer == 0 {
                        return e(q("buffer"), "must be at least 1");
                    }
                }
            }
        }
    }
    // pCPUs in the pool over time: a change must leave at least one.
    let mut pcpu_changes: Vec<(Span, usize, u16, bool)> = Vec::new();
    for (i, c) in s.changes.iter().enumerate() {
        let p = |k: &str| format!("change[{i}].{k}");
        if c.at >= s.duration {
            return e(p("at"), &before_end);
        }
        let dc = match &c.what {
            ChangeKind::Pcpu { pcpu, online } => {
                if *pcpu >= s.host.pcpus {
                    return e(
                        p("pcpu"),
                        &format!("the host has pCPUs 0..{}", s.host.pcpus - 1),
                    );
                }
                pcpu_changes.push((c.at, i, *pcpu, *online));
                continue;
            }
            ChangeKind::Domain(dc) => dc,
        };
        let Some(d) = s.domains.iter().find(|d| d.name == dc.domain) else {
            return e(p("domain"), "names no domain of the scenario");
        };
        if c.at < d.start || d.stop.is_some_and(|st| c.at >= st) {
            return e(p("at"), "must fall while the domain runs");
        }
        if dc.weight == Some(0) {
            return e(p("weight"), "must be 1..65535");
        }
        if dc
            .cap
            .is_some_and(|cap| u32::from(cap) > 100 * u32::from(d.vcpus))
        {
            return e(p("cap"), "must be at most 100 per vCPU");
        }
        if let Some(m) = dc.microslice {
            if let Err(err) = microslice_ok(m) {
                return e(p("microslice"), &err);
            }
        }
        if dc.weight.is_none() && dc.cap.is_none() && dc.microslice.is_none() {
            return e(
                format!("change[{i}]"),
                "a change needs weight, cap or microslice",
            );
        }
    }
    // Applied in time order (file order at one instant), as the run does.
    pcpu_changes.sort_by_key(|&(at, i, ..)| (at, i));
    let mut online = vec![true; usize::from(s.host.pcpus)];
    for (_, i, pcpu, up) in pcpu_changes {
        online[usize::from(pcpu)] = up;
        if !online.iter().any(|&o| o) {
            return e(
                format!("change[{i}].online"),
                "would leave no pCPU in the pool",
            );
        }
    }
    Ok(())
}

/// Arrivals or releases `t` apart, as [`MIN_ARRIVAL_GAP`] allows.
pub(super) fn spacing_ok(t: Span) -> Result<(), String> {
    if t < MIN_ARRIVAL_GAP {
        return Err(format!("must be at least {MIN_ARRIVAL_GAP}"));
    }
    Ok(())
}

/// A run's duration as the file's `duration` and the CLI's `--duration`
/// may give it: positive and at most [`MAX_DURATION`].
pub fn duration_ok(d: Span) -> Result<(), String> {
    if d <= Span::ZERO || d > MAX_DURATION {
        return Err(format!(
            "must be positive and at most {}",
            human(MAX_DURATION)
        ));
    }
    Ok(())
}

/// `t` as a person writes it, and as [`parse_duration`] reads it back (`1m 30s`).
pub(super) fn human(t: Span) -> String {
    let ns = u64::try_from(t.as_ns()).unwrap_or(0);
    humantime::format_duration(std::time::Duration::from_nanos(ns)).to_string()
}

/// A microslice as vSlicer accepts it (one set of bounds, the scheduler's).
pub(super) fn microslice_ok(m: Span) -> Result<(), String> {
    sched_core::VSlicerDomParams { microslice: m }
        .validate()
        .map_err(|e| e.to_string())
}
