//! The file layer: the TOML as serde reads it, every value with its byte
//! span so that an error can name its line.

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) name: Option<Spanned<String>>,
    pub(super) duration: Spanned<String>,
    pub(super) seed: Option<Spanned<i64>>,
    pub(super) policy: Option<Spanned<String>>,
    pub(super) host: Option<Spanned<RawHost>>,
    pub(super) pool: Option<Spanned<RawPool>>,
    #[serde(default)]
    pub(super) domain: Vec<Spanned<RawDomain>>,
    #[serde(default)]
    pub(super) change: Vec<Spanned<RawChange>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPool {
    pub(super) tslice: Option<Spanned<String>>,
    pub(super) ratelimit: Option<Spanned<String>>,
    pub(super) migration_delay: Option<Spanned<String>>,
    pub(super) poll: Option<Spanned<String>>,
    pub(super) edf_slice: Option<Spanned<String>>,
    pub(super) auto_lsvm: Option<bool>,
    pub(super) xen_exact: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChange {
    pub(super) at: Spanned<String>,
    pub(super) domain: Option<Spanned<String>>,
    pub(super) weight: Option<Spanned<i64>>,
    pub(super) cap: Option<Spanned<i64>>,
    pub(super) microslice: Option<Spanned<String>>,
    pub(super) pcpu: Option<Spanned<i64>>,
    pub(super) online: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHost {
    pub(super) pcpus: Option<Spanned<i64>>,
    pub(super) context_switch: Option<Spanned<String>>,
    pub(super) cache_refill: Option<Spanned<String>>,
    pub(super) timer_granularity: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDomain {
    pub(super) name: Spanned<String>,
    pub(super) vcpus: Option<Spanned<i64>>,
    pub(super) pin: Option<Spanned<Vec<Spanned<i64>>>>,
    pub(super) weight: Option<Spanned<i64>>,
    pub(super) cap: Option<Spanned<i64>>,
    pub(super) microslice: Option<Spanned<String>>,
    pub(super) rt: Option<Spanned<RawRt>>,
    pub(super) reserve: Option<Spanned<String>>,
    pub(super) driver: Option<bool>,
    pub(super) start: Option<Spanned<String>>,
    pub(super) stop: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) workloads: Vec<Spanned<RawWorkload>>,
    pub(super) net: Option<Spanned<RawNet>>,
    #[serde(default)]
    pub(super) flows: Vec<Spanned<RawFlow>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNet {
    pub(super) limit: Spanned<String>,
    pub(super) shaper: Option<Spanned<String>>,
    pub(super) period: Option<Spanned<String>>,
    pub(super) window: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFlow {
    pub(super) kind: Spanned<String>,
    pub(super) rate: Option<Spanned<String>>,
    pub(super) size: Option<Spanned<i64>>,
    pub(super) service: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) reply: Option<Spanned<i64>>,
    pub(super) arrival: Option<Spanned<String>>,
    pub(super) window: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRt {
    pub(super) mode: Spanned<String>,
    pub(super) deadline: Option<Spanned<String>>,
}

/// Flat on purpose: which keys belong to which `kind` is checked by hand so
/// the error names the key ("`interval` is not a key of kind cpu").
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkload {
    pub(super) kind: Spanned<String>,
    pub(super) load: Option<Spanned<f64>>,
    pub(super) period: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) service: Option<Spanned<String>>,
    pub(super) arrival: Option<Spanned<String>>,
    pub(super) work: Option<Spanned<String>>,
    pub(super) deadline: Option<Spanned<String>>,
    pub(super) buffer: Option<Spanned<i64>>,
}
