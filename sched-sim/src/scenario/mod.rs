//! Scenario files: the TOML contract of `DESIGN.md` ("Contracts"), parsed
//! into plain public structs that tests may also build in code.
//!
//! Why two layers: the file is read into private `Raw*` structs whose fields
//! carry their byte span ([`toml::Spanned`]), so every error can name the file,
//! the line and the field (`x.toml:12: domain[1].weight: must be 1..65535`),
//! which is the CLI's bad-input contract. The public [`Scenario`] holds checked,
//! typed values only (durations as [`Span`] nanoseconds). Every struct denies
//! unknown keys: a typo must be an error, never a silently ignored setting.
//!
//! Durations are strings with units, parsed by `humantime` (`"30ms"`,
//! `"500us"`, `"60s"`).
//!
//! What a run costs is bounded by its input, so input that looks valid can
//! never take hours or gigabytes: files are read through [`MAX_FILE_BYTES`],
//! a run lasts at most [`MAX_DURATION`], arrivals and releases of a workload
//! or flow are [`MIN_ARRIVAL_GAP`] apart at least, and nothing starts or
//! changes at or after the end of the run.
//!
//! Keys beyond the contract, all optional under `[host]` (both default 0):
//! - `cache_refill`: extra no-progress time charged after a switch to a vCPU
//!   that was not the last one to run on that pCPU (its cache is cold);
//! - `timer_granularity`: scheduler timers (slice end, tick, accounting)
//!   fire at the next multiple of it; 0 = exact.
//!
//! A `[pool]` table sets pool-wide scheduler parameters (`tslice`,
//! `ratelimit`, `migration_delay`, as `xl sched-credit -s -t/-r/-m` does;
//! edf-credit's `poll` and `edf_slice`; vslicer's `auto_lsvm`, a boolean);
//! absent keys keep the defaults (30 ms, 1 ms, 0; 0.5 ms, 0.5 ms; false).
//!
//! A domain may be shaped: `net = { limit = "2Mbit", shaper = "smooth-window" }`
//! (or `"token-bucket"`; optional `period` 50 ms, `window` 3 ms, `interval`
//! 1 s) with `flows = [...]`: `{ kind = "cbr", rate = "2Mbit", size = 1400 }`
//! (media: a packet per `size × 8 / rate`, sent by the guest after
//! `service`, 50 µs), `{ kind = "http", interval = "100ms", reply = 8192 }`
//! (requests are events; the guest answers after `service`), `{ kind =
//! "bulk", size = 1460, window = 8 }` (a backlogged TCP-like sender, no
//! CPU), `{ kind = "udp", rate = "6Mbit", size = 1460 }` (paced, open loop).
//!
//! And at top level, `[[change]]` tables: an administrator's parameter change
//! during the run (`at`, `domain` by name, then any of `weight`, `cap`,
//! `microslice`; `microslice = "0ms"` makes the domain an NLSVM again). The
//! domain must be running at `at`. Values are checked by the same code the
//! scheduler uses, so a file the simulator accepts is one the policy accepts.

use std::fmt;
use std::path::Path;

use sched_core::{Credit1, Policy, Span};

/// A scenario: the host, its domains and their workloads.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Shown in reports.
    pub name: String,
    /// Simulated time.
    pub duration: Span,
    /// Seeds every random stream of the run.
    pub seed: u64,
    /// The policy run when none is asked for.
    pub policy: String,
    /// The machine.
    pub host: Host,
    /// Pool-wide scheduler parameters.
    pub pool: Pool,
    /// The domains, in report order.
    pub domains: Vec<Domain>,
    /// Parameter changes during the run, in file order.
    pub changes: Vec<Change>,
}

/// Pool-wide scheduler parameters (`[pool]`); `None` keeps the default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pool {
    /// The credit timeslice (vSlicer's `T_NLSVM`).
    pub tslice: Option<Span>,
    /// The ratelimit; zero turns it off.
    pub ratelimit: Option<Span>,
    /// How long after running a vCPU counts as cache-hot (not stolen).
    pub migration_delay: Option<Span>,
    /// edf-credit: how often the EDF head's deadline is checked.
    pub poll: Option<Span>,
    /// edf-credit: how long an EDF pick runs.
    pub edf_slice: Option<Span>,
    /// vslicer: classify domains without a microslice from their event rate
    /// and run bursts (off when absent).
    pub auto_lsvm: Option<bool>,
    /// credit: behave exactly as Xen 4.17's credit1 (every declared
    /// departure off), to compare with `xen-credit` decision by decision.
    pub xen_exact: Option<bool>,
}

impl Pool {
    /// These values over Xen's defaults, as the scheduler takes them.
    pub fn credit_params(&self) -> sched_core::CreditGlobalParams {
        let d = sched_core::CreditGlobalParams::default();
        sched_core::CreditGlobalParams {
            tslice: self.tslice.unwrap_or(d.tslice),
            ratelimit: self.ratelimit.unwrap_or(d.ratelimit),
            migration_delay: self.migration_delay.unwrap_or(d.migration_delay),
            exact: self.xen_exact.unwrap_or(d.exact),
        }
    }

    /// The edf-credit values over its defaults (0.5 ms and 0.5 ms).
    pub fn edf_params(&self) -> sched_core::EdfGlobalParams {
        let d = sched_core::EdfGlobalParams::default();
        sched_core::EdfGlobalParams {
            poll: self.poll.unwrap_or(d.poll),
            edf_slice: self.edf_slice.unwrap_or(d.edf_slice),
        }
    }
}

impl Domain {
    /// The edf-credit parameters the domain's keys give.
    pub fn edf_params(&self) -> sched_core::EdfDomParams {
        sched_core::EdfDomParams {
            mode: match self.rt.map(|r| r.mode) {
                None => sched_core::RtMode::None,
                Some(RtMode::Periodic) => sched_core::RtMode::Periodic,
                Some(RtMode::Aperiodic) => sched_core::RtMode::Aperiodic,
            },
            deadline: self.rt.and_then(|r| r.deadline).unwrap_or(Span::ZERO),
            reserve: self.reserve.unwrap_or(Span::ZERO),
            driver: self.driver,
        }
    }
}

/// A parameter change made while the scenario runs (`[[change]]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// When it is made.
    pub at: Span,
    /// What changes.
    pub what: ChangeKind,
}

/// What a `[[change]]` changes: a running domain's parameters, or whether
/// a pCPU is in the pool.
#[derive(Clone, Debug, PartialEq)]
pub enum ChangeKind {
    /// An administrator's parameter change (`domain = NAME` and keys).
    Domain(DomainChange),
    /// A pCPU leaving or rejoining the pool (`pcpu = N`, `online = bool`),
    /// as Xen's CPU offline/online and suspend/resume do: its vCPUs move to
    /// the others (a vCPU pinned to it alone has its affinity broken, and
    /// restored when the pCPU is back).
    Pcpu {
        /// The pCPU.
        pcpu: u16,
        /// Whether it is in the pool from `at` on.
        online: bool,
    },
}

/// New parameters for a running domain; `None` leaves one as it is.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainChange {
    /// The domain's name.
    pub domain: String,
    /// New weight, if changed.
    pub weight: Option<u16>,
    /// New cap, if changed.
    pub cap: Option<u16>,
    /// New microslice, if changed (zero: not latency-sensitive).
    pub microslice: Option<Span>,
}

/// The simulated machine and its costs.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    /// Number of pCPUs, 1..=256.
    pub pcpus: u16,
    /// No-progress time at the start of a run after any switch.
    pub context_switch: Span,
    /// Extra no-progress time when the vCPU switched in is not the last one
    /// that ran on this pCPU.
    pub cache_refill: Span,
    /// Scheduler timers fire at the next multiple of this; 0 = exact.
    pub timer_granularity: Span,
}

impl Host {
    /// `pcpus` pCPUs paying `context_switch` per switch, with no cache model
    /// and exact timers (what code-built scenarios use).
    pub fn new(pcpus: u16, context_switch: Span) -> Host {
        Host {
            pcpus,
            context_switch,
            cache_refill: Span::ZERO,
            timer_granularity: Span::ZERO,
        }
    }
}

/// One domain (VM).
#[derive(Clone, Debug, PartialEq)]
pub struct Domain {
    /// Unique within the scenario.
    pub name: String,
    /// Number of vCPUs, 1..=MAX_CPUS.
    pub vcpus: u16,
    /// Hard affinity of every vCPU; `None` = all pCPUs.
    pub pin: Option<Vec<u16>>,
    /// Credit weight, 1..=65535.
    pub weight: u16,
    /// Percent of one pCPU, 0 = none, at most 100 × vCPUs.
    pub cap: u16,
    /// vSlicer microslice; `None` = not latency-sensitive.
    pub microslice: Option<Span>,
    /// EDF+credit real-time class.
    pub rt: Option<Rt>,
    /// EDF+credit credit reservation per accounting period.
    pub reserve: Option<Span>,
    /// Whether this is the driver domain (dom0).
    pub driver: bool,
    /// When the domain is created.
    pub start: Span,
    /// When it is destroyed; `None` = runs to the end.
    pub stop: Option<Span>,
    /// What each of its vCPUs runs (every vCPU runs its own instance of each).
    pub workloads: Vec<Workload>,
    /// Its network limit and shaper (`net`), if shaped.
    pub net: Option<Net>,
    /// Its network flows (`flows`); they need `net`.
    pub flows: Vec<Flow>,
}

/// Which shaper holds a domain to its network limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShaperKind {
    /// Xen netback's token bucket.
    TokenBucket,
    /// The smooth window with PID feedback (seed 001 §III-C).
    SmoothWindow,
}

/// A domain's network limit (`net = { limit = "4Mbit", shaper = ... }`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Net {
    /// Bits per second.
    pub limit_bps: u64,
    /// The shaper.
    pub shaper: ShaperKind,
    /// Token bucket replenish period (default 50 ms).
    pub period: Span,
    /// Smooth window width (default 3 ms).
    pub window: Span,
    /// Smooth window adjust interval (default 1 s).
    pub interval: Span,
}

impl Net {
    /// The core shaper's parameters.
    pub fn params(&self) -> sched_shaper::ShaperParams {
        sched_shaper::ShaperParams {
            limit_bps: self.limit_bps,
            period: self.period,
            window: self.window,
            interval: self.interval,
            gains: sched_shaper::Gains::default(),
        }
    }
}

/// A network flow of a domain (`flows = [ ... ]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Flow {
    /// Constant bit rate media (RTP-like): a `size`-byte packet every
    /// `size × 8 / rate`, each sent by the guest after `service` of CPU.
    Cbr {
        /// Bits per second.
        rate_bps: u64,
        /// Packet size, bytes.
        size: u32,
        /// CPU time to send one packet.
        service: Span,
    },
    /// Request/response (HTTP-like): requests arrive (events) every
    /// `interval`, each answered with `reply` bytes after `service` of CPU.
    Http {
        /// (Mean) time between requests.
        interval: Span,
        /// Reply size, bytes.
        reply: u32,
        /// CPU time per request.
        service: Span,
        /// Fixed or Poisson arrivals.
        arrival: Arrival,
    },
    /// A bulk sender (TCP-like): `size`-byte packets, `window` in flight,
    /// a new one offered as one leaves the shaper (no CPU modelled).
    Bulk {
        /// Packet size, bytes.
        size: u32,
        /// Packets in flight.
        window: u32,
    },
    /// A UDP-like sender: `size`-byte packets paced at `rate`, whatever
    /// the shaper lets out (the excess queues; no CPU modelled).
    Udp {
        /// Offered bits per second.
        rate_bps: u64,
        /// Packet size, bytes.
        size: u32,
    },
}

impl Domain {
    /// A domain with the contract's defaults and no workload.
    pub fn new(name: &str) -> Domain {
        Domain {
            name: name.to_string(),
            vcpus: 1,
            pin: None,
            weight: 256,
            cap: 0,
            microslice: None,
            rt: None,
            reserve: None,
            driver: false,
            start: Span::ZERO,
            stop: None,
            workloads: Vec::new(),
            net: None,
            flows: Vec::new(),
        }
    }
}

/// EDF+credit real-time parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rt {
    /// Periodic or aperiodic.
    pub mode: RtMode,
    /// Relative deadline, if given.
    pub deadline: Option<Span>,
}

/// The EDF+credit real-time class of a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtMode {
    /// Fresh deadline each time it is descheduled.
    Periodic,
    /// Enters the EDF queue when an event reaches it.
    Aperiodic,
}

/// How ping requests arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Exactly every `interval`.
    Fixed,
    /// Exponential inter-arrival times with mean `interval`.
    Poisson,
}

/// A guest workload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Workload {
    /// Busy work: `load × period` released at each period start.
    Cpu {
        /// Duty cycle, 0 < load <= 1; 1.0 = always runnable.
        load: f64,
        /// Release period (default 100 ms).
        period: Span,
    },
    /// Requests needing `service` CPU each.
    Ping {
        /// (Mean) time between requests.
        interval: Span,
        /// CPU time per request.
        service: Span,
        /// Fixed or Poisson arrivals.
        arrival: Arrival,
    },
    /// `work` released every `period`, due by the next release.
    Periodic {
        /// Release period.
        period: Span,
        /// CPU time per release.
        work: Span,
    },
    /// Seed 000's stream monitor: a batch of records arrives (an I/O event)
    /// every `period` and needs `work` CPU within `deadline`; at most
    /// `buffer` batches wait (the one in progress included), a batch
    /// arriving to a full buffer is lost.
    Stream {
        /// Time between batches.
        period: Span,
        /// CPU time per batch.
        work: Span,
        /// Response time beyond which a batch counts as a deadline miss.
        deadline: Span,
        /// Batches the guest can hold.
        buffer: u32,
    },
}

impl Workload {
    /// The time between its arrivals or releases, and the key that sets it
    /// (what [`MIN_ARRIVAL_GAP`] bounds).
    fn spacing(&self) -> (Span, &'static str) {
        match *self {
            Workload::Ping { interval, .. } => (interval, "interval"),
            Workload::Cpu { period, .. }
            | Workload::Periodic { period, .. }
            | Workload::Stream { period, .. } => (period, "period"),
        }
    }
}

/// Default period of a `cpu` workload.
pub const DEFAULT_CPU_PERIOD: Span = Span::ms(100);

/// The shortest time between two arrivals or releases of one workload or
/// flow: a ping's or an HTTP flow's `interval`, a `periodic`, `stream` or
/// `cpu` workload's `period` (a duty cycle releases its share every period).
/// Each is an event, so this, with [`MAX_DURATION`], bounds what a run costs.
pub const MIN_ARRIVAL_GAP: Span = Span::us(10);

/// The longest run: a month-long soak is fine, `"9000000h"` is a typo.
pub const MAX_DURATION: Span = Span::secs(30 * 86_400);

/// The largest scenario file read. Real ones are a few KiB; the cap bounds
/// what a mistaken path (`/dev/zero`, a pipe, a log) costs before the error.
pub const MAX_FILE_BYTES: usize = 8 << 20;

/// The longest domain name, in characters.
pub const NAME_MAX: usize = 64;

/// Whether `s` is all ASCII digits: a domain ID to the toolstack (as to xl),
/// so never a domain's name ([`check_name`]) and a number cannot mean two
/// domains.
pub fn is_domain_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a domain's name, the one rule for files and for `vsched create`:
/// 1..[`NAME_MAX`] characters, not a domain ID ([`is_domain_id`]), and
/// without whitespace or control characters (a name is one cell of a table
/// and one word on a command line). The error says which part is broken.
pub fn check_name(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if len == 0 {
        return Err("must not be empty".into());
    }
    if len > NAME_MAX {
        return Err(format!("must be at most {NAME_MAX} characters"));
    }
    if is_domain_id(name) {
        return Err("must not be all digits (a number is a domain ID)".into());
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    Ok(())
}

/// Why a scenario was refused: bad input (the CLI exits 2 with [`fmt::Display`]'s one line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file (as given), or `<scenario>` for one built in code.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The field path, such as `domain[1].weight`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}: {}", self.file, l, self.field, self.message),
            None => write!(f, "{}: {}: {}", self.file, self.field, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

impl ScenarioError {
    /// An error about `field` of scenario `text` read from `file`, at the
    /// line of that key (or of its table or array element when the key is
    /// absent): for what is found wrong after parsing, by
    /// [`Scenario::parse`]'s checks or by the scheduler at run time
    /// (`domain[2]`: an EDF+credit admission refusal).
    pub fn locate(
        text: &str,
        file: &str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        let field = field.into();
        let cx = Ctx { file, text };
        cx.err(place_of(text, &field), field, message)
    }
}

impl Scenario {
    /// A code-built scenario: `domains` on `host` for `duration`, the default
    /// pool, no run-time changes, credit as its `policy`. Validated when run.
    pub fn new(
        name: &str,
        duration: Span,
        seed: u64,
        host: Host,
        domains: Vec<Domain>,
    ) -> Scenario {
        Scenario {
            name: name.to_string(),
            duration,
            seed,
            policy: DEFAULT_POLICY.into(),
            host,
            pool: Pool::default(),
            domains,
            changes: Vec::new(),
        }
    }

    /// Reads (see [`read_text`]) and checks a scenario file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        Scenario::parse(&read_text(path)?, &path.display().to_string())
    }

    /// Parses and checks scenario `text`; `file_name` is used in errors.
    pub fn parse(text: &str, file_name: &str) -> Result<Scenario, ScenarioError> {
        let cx = Ctx {
            file: file_name,
            text,
        };
        let raw: RawScenario = toml::from_str(text).map_err(|e| cx.toml_error(&e))?;
        let s = convert(&cx, raw)?;
        Ok(s)
    }

    /// Checks a scenario built in code (the same rules as a file, without lines).
    pub fn validate(&self) -> Result<(), ScenarioError> {
        check(self).map_err(|(field, message)| ScenarioError {
            file: "<scenario>".into(),
            line: None,
            field,
            message,
        })
    }
}

mod check;
mod convert;
mod raw;
#[cfg(test)]
mod tests;

pub use check::duration_ok;
use check::*;
pub(crate) use convert::packet_gap;
use convert::*;
pub use convert::{parse_duration, parse_rate, read_text};
use raw::RawScenario;

/// The policy a scenario runs when it names none: credit1.
pub(crate) const DEFAULT_POLICY: &str = Credit1::INFO.name;
