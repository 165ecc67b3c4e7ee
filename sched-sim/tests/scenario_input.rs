//! Scenario input that looks valid but would cost absurd time or memory is
//! refused, and every class of error keeps the `file:line: field: what`
//! contract, naming the line of the offending key (or of its `[[domain]]`
//! or `[[change]]` header when the key is absent).

use std::path::PathBuf;

use sched_sim::scenario::{read_text, MAX_FILE_BYTES};
use sched_sim::{simulate, Scenario, ScenarioError, SimError};

/// A 10 s run with domain `a`, whose `[[domain]]` header is line 2.
const HEAD: &str = "duration = \"10s\"\n[[domain]]\nname = \"a\"\n";

fn refused(text: &str) -> String {
    Scenario::parse(text, "x.toml").unwrap_err().to_string()
}

/// A file in the temp dir, named for the test (tests run in parallel).
fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("scenario-input-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn every_toml_integer_that_is_not_negative_is_a_seed() {
    let s = Scenario::parse(&format!("seed = 9223372036854775807\n{HEAD}"), "x").unwrap();
    assert_eq!(s.seed, i64::MAX as u64);
    assert_eq!(
        refused(&format!("seed = -1\n{HEAD}")),
        "x.toml:1: seed: must be a non-negative integer"
    );
}

#[test]
fn workload_arrivals_and_periods_keep_the_flows_spacing() {
    for (w, key, bad) in [
        (
            r#"{ kind = "ping", interval = "GAP", service = "1ns" }"#,
            "interval",
            "1ns",
        ),
        (
            r#"{ kind = "ping", interval = "GAP", service = "1ns", arrival = "poisson" }"#,
            "interval",
            "9us",
        ),
        (
            r#"{ kind = "periodic", period = "GAP", work = "1ns" }"#,
            "period",
            "9999ns",
        ),
        (
            r#"{ kind = "stream", period = "GAP", work = "1ns" }"#,
            "period",
            "1ns",
        ),
        // A duty cycle releases its share every period: 1 ns is 10^9 events a second.
        (
            r#"{ kind = "cpu", load = 0.5, period = "GAP" }"#,
            "period",
            "1ns",
        ),
    ] {
        let with = |gap: &str| format!("{HEAD}workloads = [\n  {},\n]\n", w.replace("GAP", gap));
        assert_eq!(
            refused(&with(bad)),
            format!("x.toml:5: domain[0].workloads[0].{key}: must be at least 10us"),
        );
        Scenario::parse(&with("10us"), "x").unwrap();
    }
    // The same bound, in the same words, as an HTTP flow's.
    let http = format!(
        "{HEAD}net = {{ limit = \"10Mbit\" }}\nflows = [{{ kind = \"http\", interval = \"9us\" }}]\n"
    );
    assert_eq!(
        refused(&http),
        "x.toml:5: domain[0].flows[0].interval: must be at least 10us"
    );
}

#[test]
fn a_run_may_last_a_month_but_not_longer() {
    let body = "[[domain]]\nname = \"a\"\n";
    Scenario::parse(&format!("duration = \"30days\"\n{body}"), "x").unwrap();
    for d in ["31days", "1000000h"] {
        assert_eq!(
            refused(&format!("name = \"n\"\nduration = \"{d}\"\n{body}")),
            "x.toml:2: duration: must be positive and at most 30days"
        );
    }
}

#[test]
fn domains_and_changes_must_fall_inside_the_run() {
    let end = "must be before the end of the run (duration 10s)";
    for start in ["10s", "9000000000s"] {
        assert_eq!(
            refused(&format!("{HEAD}weight = 3\nstart = \"{start}\"\n")),
            format!("x.toml:5: domain[0].start: {end}")
        );
    }
    // Stopping at the end is running to the end; after it is a mistake.
    Scenario::parse(&format!("{HEAD}stop = \"10s\"\n"), "x").unwrap();
    assert_eq!(
        refused(&format!("{HEAD}stop = \"11s\"\n")),
        "x.toml:4: domain[0].stop: must be at most the end of the run (duration 10s)"
    );
    assert_eq!(
        refused(&format!(
            "{HEAD}[[change]]\ndomain = \"a\"\nat = \"10s\"\nweight = 3\n"
        )),
        format!("x.toml:6: change[0].at: {end}")
    );
}

#[test]
fn scenario_files_are_read_through_a_size_cap() {
    assert_eq!(MAX_FILE_BYTES, 8 << 20);
    let scenario = format!("{HEAD}#");
    // Exactly the cap: read and parsed (the padding is a comment).
    let mut bytes = scenario.clone().into_bytes();
    bytes.resize(MAX_FILE_BYTES, b'x');
    let at_cap = temp_file("at-cap.toml", &bytes);
    assert_eq!(Scenario::from_file(&at_cap).unwrap().domains.len(), 1);
    // One byte more: refused before anything is parsed.
    bytes.push(b'x');
    let over = temp_file("over-cap.toml", &bytes);
    let e = Scenario::from_file(&over).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: file: file is larger than 8 MiB", over.display())
    );
    assert_eq!(read_text(&over).unwrap_err(), e);
    for p in [at_cap, over] {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn an_endless_file_stops_at_the_cap() {
    let e = Scenario::from_file("/dev/zero").unwrap_err();
    assert_eq!(e.to_string(), "/dev/zero: file: file is larger than 8 MiB");
}

/// One test per class of error: the exact line of the key at fault.
#[test]
fn every_class_of_error_names_the_line_of_its_key() {
    let cases: &[(&str, &str)] = &[
        // The run's own keys, checked after conversion.
        ("name = \"n\"\n\nduration = \"0s\"\n[[domain]]\nname = \"a\"\n", "x.toml:3: duration: must be positive and at most 30days"),
        ("duration = \"1s\"\n[host]\npcpus = 1\ncontext_switch = \"2s\"\n[[domain]]\nname = \"a\"\n", "x.toml:4: host.context_switch: must be 0..1s"),
        // Pool parameters: the key, not the `[pool]` header.
        ("duration = \"1s\"\n[pool]\ntslice = \"5ms\"\nratelimit = \"6ms\"\n[[domain]]\nname = \"a\"\n", "x.toml:4: pool.ratelimit: ratelimit must not exceed tslice"),
        ("duration = \"1s\"\n[pool]\n\npoll = \"1s\"\n[[domain]]\nname = \"a\"\n", "x.toml:4: pool.poll: poll period must be 100us..100ms in whole microseconds"),
        // A domain's keys.
        ("duration = \"1s\"\n[[domain]]\nname = \"a\"\n[[domain]]\n\nname = \"a\"\n", "x.toml:6: domain[1].name: names must be unique"),
        ("duration = \"1s\"\n[[domain]]\nname = \"a\"\nmicroslice = \"500us\"\n", "x.toml:4: domain[0].microslice: microslice must be 0 (not latency-sensitive) or 1..1000 ms in whole microseconds"),
        // EDF+credit's own bounds: the key at fault...
        ("duration = \"1s\"\n[[domain]]\nname = \"a\"\nrt = { mode = \"aperiodic\", deadline = \"1ms\" }\nreserve = \"31ms\"\n", "x.toml:5: domain[0].reserve: reserve must be 0..the timeslice in whole microseconds"),
        ("duration = \"1s\"\n[[domain]]\nname = \"a\"\nrt = { mode = \"periodic\",\n  deadline = \"5s\" }\n", "x.toml:5: domain[0].rt.deadline: deadline must be 100us..4s in whole microseconds (and set for a real-time domain)"),
        // ... or the table it is missing from.
        ("duration = \"1s\"\n[[domain]]\nname = \"a\"\nrt = { mode = \"periodic\" }\n", "x.toml:4: domain[0].rt.deadline: deadline must be 100us..4s in whole microseconds (and set for a real-time domain)"),
        // A workload's key, or the workload when the key is a default.
        ("duration = \"1s\"\n[[domain]]\nname = \"a\"\nworkloads = [\n  { kind = \"cpu\", load = 0.5 },\n  { kind = \"cpu\",\n    load = 1.5 },\n]\n", "x.toml:7: domain[0].workloads[1].load: must be in (0, 1]"),
        ("duration = \"1s\"\n[[domain]]\nname = \"a\"\nworkloads = [\n  { kind = \"stream\", period = \"1ms\", work = \"1ms\", deadline = \"0s\" },\n]\n", "x.toml:5: domain[0].workloads[0].deadline: must be positive"),
        // A flow's.
        ("duration = \"1s\"\n[[domain]]\nname = \"a\"\nnet = { limit = \"1Mbit\" }\nflows = [\n  { kind = \"udp\", rate = \"1Gbit\", size = 1 },\n]\n", "x.toml:6: domain[0].flows[0].rate: at most a million packets a second (raise size or lower rate)"),
        // A change's key, or its `[[change]]` header for a rule over several.
        ("duration = \"1s\"\n[[domain]]\nname = \"a\"\n[[change]]\nat = \"0.5s\"\ndomain = \"b\"\nweight = 3\n", "x.toml:6: change[0].domain: names no domain of the scenario"),
        ("duration = \"1s\"\n[[domain]]\nname = \"a\"\nstart = \"0.6s\"\n[[change]]\nat = \"0.5s\"\ndomain = \"a\"\nweight = 3\n", "x.toml:6: change[0].at: must fall while the domain runs"),
        ("duration = \"1s\"\n[[domain]]\nname = \"a\"\n[[change]]\nat = \"0.5s\"\ndomain = \"a\"\n", "x.toml:4: change[0]: a change needs weight, cap or microslice"),
    ];
    for (text, want) in cases {
        assert_eq!(&refused(text), want, "{text}");
    }
}

/// What the scheduler refuses at run time (EDF+credit admission) is
/// bad input too: located in the file, at the `[[domain]]` it concerns.
#[test]
fn an_admission_refusal_points_at_the_domain_refused() {
    let rt = "rt = { mode = \"periodic\", deadline = \"1ms\" }\n";
    let text = format!(
        "duration = \"1s\"\n[[domain]]\nname = \"a\"\n{rt}[[domain]]\nname = \"b\"\n{rt}\n[[domain]]\nname = \"c\"\n{rt}"
    );
    let sc = Scenario::parse(&text, "x.toml").unwrap();
    let Err(SimError::BadInput { field, message }) =
        simulate(&sc, "edf-credit", &Default::default())
    else {
        panic!("three deadline-1ms domains fit on one pCPU");
    };
    assert_eq!(
        ScenarioError::locate(&text, "x.toml", field, message).to_string(),
        "x.toml:9: domain[2]: infeasible: real-time vCPUs would need 1.500 pCPUs \
         (EDF slice / deadline each), only 1 available to them"
    );
}

/// The rule for domain names lives in the parser, so a file edited by hand
/// is held to what `vsched create` enforces: no name that reads as a domain
/// ID, none that breaks a table cell or a command line, none too long.
#[test]
fn domain_names_are_not_ids_nor_blank_nor_too_long() {
    let cases = [
        ("0", "must not be all digits (a number is a domain ID)"),
        ("42", "must not be all digits (a number is a domain ID)"),
        ("a\\nb", "must not contain spaces or control characters"),
        (
            "tab\\there",
            "must not contain spaces or control characters",
        ),
        ("a b", "must not contain spaces or control characters"),
        ("  ", "must not contain spaces or control characters"),
        (
            "bell\\u0007",
            "must not contain spaces or control characters",
        ),
        ("", "must not be empty"),
    ];
    let long = "é".repeat(65);
    let cases = cases
        .iter()
        .copied()
        .chain([(long.as_str(), "must be at most 64 characters")]);
    for (name, why) in cases {
        let text = format!(
            "duration = \"1s\"\n[[domain]]\nname = \"ok\"\n[[domain]]\nname = \"{name}\"\n"
        );
        assert_eq!(
            refused(&text),
            format!("x.toml:5: domain[1].name: {why}"),
            "{name:?}"
        );
    }
    // 64 characters (not bytes), digits among letters, punctuation: names.
    for name in [
        "é".repeat(64),
        "web-1.a_b".into(),
        "0x1".into(),
        "+1".into(),
    ] {
        let text = format!("duration = \"1s\"\n[[domain]]\nname = \"{name}\"\n");
        assert!(Scenario::parse(&text, "x.toml").is_ok(), "{name:?}");
    }
}
