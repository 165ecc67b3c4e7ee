//! Fairness at scale (issue 14): equal-weight busy domains get equal shares
//! also with many vCPUs per domain and many domains per pCPU, where Xen's
//! credit1 does not (measured by the issue with Xen 4.17's own `credit.c`
//! run in userspace: 62/18/8/6/3/2/0/0 % for 8 × 64 vCPUs on 8 pCPUs, and
//! 0.14..1.48 % for 256 single-vCPU domains on 4 pCPUs, where 0.39 % is
//! fair). Two things make ours fair: the simulator places a new domain's
//! vCPUs round-robin over the pool as Xen's core does
//! (`sched_select_initial_cpu`), and the engine evens out runqueue lengths
//! at the tick (`credit/balance.rs`, a declared departure). Weights and caps
//! still hold. Tolerances are the issue's.

use sched_sim::{simulate, Domain, Host, Scenario, Span, Workload};

fn busy_domains(n: usize, vcpus: u16, weights: &[u16]) -> Vec<Domain> {
    (0..n)
        .map(|i| {
            let mut d = Domain::new(&format!("d{i}"));
            d.vcpus = vcpus;
            d.weight = weights.get(i).copied().unwrap_or(256);
            d.workloads = vec![Workload::Cpu {
                load: 1.0,
                period: Span::ms(100),
            }];
            d
        })
        .collect()
}

fn shares(pcpus: u16, secs: i64, domains: Vec<Domain>, policy: &str) -> Vec<f64> {
    let sc = Scenario::new(
        "fairness",
        Span::secs(secs),
        1,
        Host::new(pcpus, Span::ZERO),
        domains,
    );
    let r = simulate(&sc, policy, &Default::default()).expect("runs");
    r.domains.iter().map(|d| d.cpu_share).collect()
}

fn max_over_min(s: &[f64]) -> f64 {
    let max = s.iter().cloned().fold(f64::MIN, f64::max);
    let min = s.iter().cloned().fold(f64::MAX, f64::min);
    max / min
}

/// 8 equal domains × 64 always-busy vCPUs on 8 pCPUs, 10 s: each within
/// ±2 points of 12.5 % (credit1: 62 % down to 0 %). What is left is the
/// round-robin's granularity: 64 vCPUs per pCPU take 1.92 s a round, so in
/// 10 s the vCPUs queued first get six 30 ms slices and the others five.
#[test]
fn many_vcpus_per_domain_share_equally() {
    for policy in sched_sim::policies() {
        let s = shares(8, 10, busy_domains(8, 64, &[]), policy);
        for (i, x) in s.iter().enumerate() {
            assert!(
                (x - 0.125).abs() <= 0.02,
                "{policy}: d{i} got {:.2} % of 12.5 % ({s:?})",
                x * 100.0
            );
        }
    }
}

/// 256 single-vCPU busy domains on 4 pCPUs, 60 s: every vCPU 0 starts on
/// the pool's first pCPU, as in Xen; max/min share ≤ 1.5 (credit1: 10.6).
#[test]
fn many_domains_on_few_pcpus_share_equally() {
    for policy in sched_sim::policies() {
        let s = shares(4, 60, busy_domains(256, 1, &[]), policy);
        let r = max_over_min(&s);
        assert!(r <= 1.5, "{policy}: max/min share {r:.2}");
    }
}

/// The same 256 domains under Xen 4.17's own credit1 (`xen-credit`, its
/// `credit.c` compiled unmodified): the failure our engine fixes, beside
/// it. Measured here: max/min 17.6 (0.112 % .. 1.975 %), ours 1.28.
#[test]
fn xens_own_credit1_fails_where_ours_holds() {
    if !tests::xen_oracle_or_skip() {
        return;
    }
    let ours = max_over_min(&shares(4, 60, busy_domains(256, 1, &[]), "credit"));
    let xen = max_over_min(&shares(4, 60, busy_domains(256, 1, &[]), "xen-credit"));
    eprintln!(
        "256 busy domains on 4 pCPUs, 60 s: max/min share credit {ours:.2}, xen-credit {xen:.2}"
    );
    assert!(ours <= 1.5, "credit: {ours:.2}");
    assert!(
        xen > 3.0,
        "Xen's credit1 was expected to fail here: {xen:.2}"
    );
}

/// 8 domains × 256 busy vCPUs on 256 pCPUs, 60 s: max/min share ≤ 1.5.
#[test]
fn a_large_host_shares_equally() {
    let s = shares(256, 60, busy_domains(8, 256, &[]), "credit");
    let r = max_over_min(&s);
    assert!(r <= 1.5, "max/min share {r:.2}: {s:?}");
}

/// Weights 1:2:4 on 4 pCPUs, 4 busy vCPUs each, 60 s: each share within
/// ±3 points of its weight's (1/7, 2/7, 4/7 of the host).
#[test]
fn weights_still_decide_the_shares() {
    for policy in sched_sim::policies() {
        let s = shares(4, 60, busy_domains(3, 4, &[256, 512, 1024]), policy);
        for (x, w) in s.iter().zip([1.0, 2.0, 4.0]) {
            let want = w / 7.0;
            assert!(
                (x - want).abs() <= 0.03,
                "{policy}: {:.2} % where the weights give {:.2} % ({s:?})",
                x * 100.0,
                want * 100.0
            );
        }
    }
}

/// A capped domain among busy ones on 4 pCPUs stays under its cap (30 % of
/// one pCPU = 7.5 % of the host) while the queues are balanced around it,
/// and the others share the rest equally.
#[test]
fn caps_still_hold_beside_balancing() {
    let mut doms = busy_domains(16, 2, &[]);
    doms[0].cap = 30;
    doms[0].weight = 4096;
    for policy in sched_sim::policies() {
        let s = shares(4, 30, doms.clone(), policy);
        assert!(
            s[0] <= 0.075 + 0.005,
            "{policy}: the capped domain got {:.2} %",
            s[0] * 100.0
        );
        let r = max_over_min(&s[1..]);
        assert!(r <= 1.5, "{policy}: the uncapped ones: max/min {r:.2}");
    }
}
