use super::*;

const MIN: &str = "duration = \"1s\"\n[[domain]]\nname = \"a\"\n";

#[test]
fn defaults_match_the_contract() {
    let s = Scenario::parse(MIN, "t.toml").unwrap();
    assert_eq!(s.seed, 0);
    assert_eq!(s.policy, "credit");
    assert_eq!(s.host.pcpus, 1);
    assert_eq!(s.host.context_switch, Span::ZERO);
    assert_eq!(s.host.cache_refill, Span::ZERO);
    assert_eq!(s.host.timer_granularity, Span::ZERO);
    let d = &s.domains[0];
    assert_eq!((d.weight, d.cap, d.vcpus, d.driver), (256, 0, 1, false));
    assert_eq!(
        (d.microslice, d.rt, d.reserve, d.stop),
        (None, None, None, None)
    );
    assert_eq!(d.start, Span::ZERO);
    assert_eq!(d, &Domain::new("a"));
}

#[test]
fn full_contract_example_parses() {
    let text = r#"
name = "lsvm-ping-4vm"
duration = "60s"
seed = 1
policy = "vslicer"

[host]
pcpus = 1
context_switch = "5us"

[[domain]]
name = "web"
vcpus = 1
pin = [0]
weight = 256
cap = 0
microslice = "10ms"
rt = { mode = "aperiodic", deadline = "5ms" }
reserve = "2ms"
driver = false
start = "0s"
stop = "50s"
workloads = [
  { kind = "cpu", load = 0.4, period = "100ms" },
  { kind = "ping", interval = "100ms", service = "50us", arrival = "fixed" },
  { kind = "periodic", period = "10ms", work = "300us" },
]
"#;
    let s = Scenario::parse(text, "t.toml").unwrap();
    assert_eq!(s.duration, Span::secs(60));
    assert_eq!(s.host.context_switch, Span::us(5));
    let d = &s.domains[0];
    assert_eq!(d.pin, Some(vec![0]));
    assert_eq!(d.microslice, Some(Span::ms(10)));
    assert_eq!(
        d.rt,
        Some(Rt {
            mode: RtMode::Aperiodic,
            deadline: Some(Span::ms(5))
        })
    );
    assert_eq!(d.stop, Some(Span::secs(50)));
    assert_eq!(
        d.workloads[1],
        Workload::Ping {
            interval: Span::ms(100),
            service: Span::us(50),
            arrival: Arrival::Fixed
        }
    );
    assert_eq!(
        d.workloads[2],
        Workload::Periodic {
            period: Span::ms(10),
            work: Span::us(300)
        }
    );
}

#[test]
fn cpu_period_defaults_to_100ms() {
    let t = format!("{MIN}workloads = [{{ kind = \"cpu\", load = 1.0 }}]\n");
    let s = Scenario::parse(&t, "t.toml").unwrap();
    assert_eq!(
        s.domains[0].workloads[0],
        Workload::Cpu {
            load: 1.0,
            period: Span::ms(100)
        }
    );
}

#[test]
fn unknown_key_is_rejected_with_its_line() {
    let t =
        "duration = \"1s\"\n[host]\npcpus = 2\ncontext_swich = \"1us\"\n[[domain]]\nname = \"a\"\n";
    let e = Scenario::parse(t, "x.toml").unwrap_err();
    assert_eq!(e.line, Some(4), "{e}");
    assert_eq!(e.field, "host.context_swich");
    assert!(e.message.contains("unknown field"), "{e}");
    let one_line = e.to_string();
    assert!(
        one_line.starts_with("x.toml:4: host.context_swich: "),
        "{one_line}"
    );
    assert!(!one_line.contains('\n'));
}

#[test]
fn unknown_workload_key_names_the_domain() {
    let t = format!("{MIN}weight = 5\nworkloads = [{{ kind = \"cpu\", lod = 1.0 }}]\n");
    let e = Scenario::parse(&t, "x.toml").unwrap_err();
    assert_eq!(e.line, Some(5), "{e}");
    assert_eq!(e.field, "domain[0].workloads");
    let t = format!("{MIN}workloads = [{{ kind = \"cpu\", load = 1.0, work = \"1ms\" }}]\n");
    let e = Scenario::parse(&t, "x.toml").unwrap_err();
    assert_eq!(e.field, "domain[0].workloads[0].work");
}

#[test]
fn bad_duration_is_rejected() {
    let t = "duration = \"10 parsecs\"\n[[domain]]\nname = \"a\"\n";
    let e = Scenario::parse(t, "x.toml").unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (Some(1), "duration"));
    let t = format!("{MIN}start = \"5\"\n");
    let e = Scenario::parse(&t, "x.toml").unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (Some(4), "domain[0].start"));
}

#[test]
fn ranges_are_checked() {
    let t = "duration = \"1s\"\n[[domain]]\nname = \"a\"\n[[domain]]\nname = \"b\"\nweight = 0\n";
    let e = Scenario::parse(t, "x.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.toml:6: domain[1].weight: must be 1..65535"
    );
    let t = format!("{MIN}cap = 101\n");
    assert_eq!(Scenario::parse(&t, "x").unwrap_err().field, "domain[0].cap");
    let t = format!("{MIN}workloads = [{{ kind = \"cpu\", load = 1.5 }}]\n");
    let e = Scenario::parse(&t, "x").unwrap_err();
    assert_eq!(e.field, "domain[0].workloads[0].load");
    assert_eq!(e.line, Some(4), "the line of the workload");
    let t = format!("{MIN}pin = [1]\n");
    assert_eq!(Scenario::parse(&t, "x").unwrap_err().field, "domain[0].pin");
    let t = format!("{MIN}stop = \"0s\"\n");
    assert_eq!(
        Scenario::parse(&t, "x").unwrap_err().field,
        "domain[0].stop"
    );
    let t = format!("{MIN}[[domain]]\nname = \"a\"\n");
    assert_eq!(
        Scenario::parse(&t, "x").unwrap_err().field,
        "domain[1].name"
    );
}

#[test]
fn changes_parse_and_are_checked_against_the_domain_and_the_policy() {
    let ok = format!("{MIN}microslice = \"5ms\"\n[[change]]\nat = \"0.5s\"\ndomain = \"a\"\nmicroslice = \"0ms\"\nweight = 512\n");
    let s = Scenario::parse(&ok, "x").unwrap();
    assert_eq!(
        s.changes,
        vec![Change {
            at: Span::ms(500),
            what: ChangeKind::Domain(DomainChange {
                domain: "a".into(),
                weight: Some(512),
                cap: None,
                microslice: Some(Span::ZERO),
            }),
        }]
    );
    let bad = |tail: &str| Scenario::parse(&format!("{MIN}{tail}"), "x").unwrap_err();
    let t = format!("{MIN}[pool]\ntslice = \"5ms\"\nratelimit = \"0ms\"\n");
    let pool = Scenario::parse(&t, "x").unwrap().pool;
    assert_eq!(
        (pool.tslice, pool.ratelimit),
        (Some(Span::ms(5)), Some(Span::ZERO))
    );
    let t = format!("{MIN}[pool]\ntslice = \"500us\"\n");
    let e = Scenario::parse(&t, "x").unwrap_err();
    assert_eq!((e.field.as_str(), e.line), ("pool.tslice", Some(5)));
    let t = format!("{MIN}[pool]\ntslice = \"1ms\"\nratelimit = \"2ms\"\n");
    assert_eq!(
        Scenario::parse(&t, "x").unwrap_err().field,
        "pool.ratelimit"
    );
    let e = bad("[[change]]\nat = \"0.5s\"\ndomain = \"zz\"\nweight = 2\n");
    assert_eq!((e.field.as_str(), e.line), ("change[0].domain", Some(6)));
    let e = bad("stop = \"0.4s\"\n[[change]]\nat = \"0.5s\"\ndomain = \"a\"\ncap = 2\n");
    assert_eq!(e.field, "change[0].at");
    let e = bad("[[change]]\nat = \"0.5s\"\ndomain = \"a\"\n");
    assert_eq!(e.message, "a change needs weight, cap or microslice");
    // The scheduler's own bounds, in the file's terms.
    let e = bad("microslice = \"500us\"\n");
    assert_eq!(e.field, "domain[0].microslice");
    assert!(e.message.contains("1..1000 ms"), "{}", e.message);
    let e = bad("[[change]]\nat = \"0.5s\"\ndomain = \"a\"\nmicroslice = \"2s\"\n");
    assert_eq!(e.field, "change[0].microslice");
}

#[test]
fn pcpu_changes_parse_and_keep_a_pcpu_in_the_pool() {
    let two = MIN.replace("[[domain]]", "[host]\npcpus = 2\n[[domain]]");
    let ok = format!("{two}[[change]]\nat = \"0.2s\"\npcpu = 1\nonline = false\n[[change]]\nat = \"0.4s\"\npcpu = 1\nonline = true\n");
    let s = Scenario::parse(&ok, "x").unwrap();
    assert_eq!(
        s.changes[0].what,
        ChangeKind::Pcpu {
            pcpu: 1,
            online: false
        }
    );
    let bad = |tail: &str| Scenario::parse(&format!("{two}{tail}"), "x").unwrap_err();
    let e = bad("[[change]]\nat = \"0.2s\"\npcpu = 2\nonline = false\n");
    assert_eq!(
        (e.field.as_str(), e.message.as_str()),
        ("change[0].pcpu", "the host has pCPUs 0..1")
    );
    let e = bad("[[change]]\nat = \"0.2s\"\npcpu = 1\n");
    assert_eq!(e.field, "change[0].online");
    let e = bad("[[change]]\nat = \"0.2s\"\npcpu = 1\ndomain = \"a\"\nonline = false\n");
    assert_eq!(e.field, "change[0].pcpu");
    let e = bad("[[change]]\nat = \"0.2s\"\npcpu = 1\nonline = false\nweight = 3\n");
    assert_eq!(e.message, "a pCPU change takes only `online`");
    let e = bad("[[change]]\nat = \"0.2s\"\npcpu = 0\nonline = false\n[[change]]\nat = \"0.3s\"\npcpu = 1\nonline = false\n");
    assert_eq!(
        (e.field.as_str(), e.message.as_str()),
        ("change[1].online", "would leave no pCPU in the pool")
    );
}

#[test]
fn code_built_scenarios_are_validated() {
    let mut s = Scenario::parse(MIN, "t.toml").unwrap();
    assert!(s.validate().is_ok());
    s.domains[0].weight = 0;
    assert_eq!(s.validate().unwrap_err().field, "domain[0].weight");
}
