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
use std::io::Read;
use std::ops::{Range, RangeInclusive};
use std::path::Path;

use sched_core::{Span, MAX_CPUS};
use serde::Deserialize;
use toml::Spanned;

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
}

impl Pool {
    /// These values over Xen's defaults, as the scheduler takes them.
    pub fn credit_params(&self) -> sched_core::CreditGlobalParams {
        let d = sched_core::CreditGlobalParams::default();
        sched_core::CreditGlobalParams {
            tslice: self.tslice.unwrap_or(d.tslice),
            ratelimit: self.ratelimit.unwrap_or(d.ratelimit),
            migration_delay: self.migration_delay.unwrap_or(d.migration_delay),
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
    pub fn params(&self) -> sched_core::shaper::ShaperParams {
        sched_core::shaper::ShaperParams {
            limit_bps: self.limit_bps,
            period: self.period,
            window: self.window,
            interval: self.interval,
            gains: sched_core::shaper::Gains::default(),
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

// ---------------------------------------------------------------------------
// Raw file layer.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<Spanned<String>>,
    duration: Spanned<String>,
    seed: Option<Spanned<i64>>,
    policy: Option<Spanned<String>>,
    host: Option<Spanned<RawHost>>,
    pool: Option<Spanned<RawPool>>,
    #[serde(default)]
    domain: Vec<Spanned<RawDomain>>,
    #[serde(default)]
    change: Vec<Spanned<RawChange>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    tslice: Option<Spanned<String>>,
    ratelimit: Option<Spanned<String>>,
    migration_delay: Option<Spanned<String>>,
    poll: Option<Spanned<String>>,
    edf_slice: Option<Spanned<String>>,
    auto_lsvm: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChange {
    at: Spanned<String>,
    domain: Option<Spanned<String>>,
    weight: Option<Spanned<i64>>,
    cap: Option<Spanned<i64>>,
    microslice: Option<Spanned<String>>,
    pcpu: Option<Spanned<i64>>,
    online: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    pcpus: Option<Spanned<i64>>,
    context_switch: Option<Spanned<String>>,
    cache_refill: Option<Spanned<String>>,
    timer_granularity: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomain {
    name: Spanned<String>,
    vcpus: Option<Spanned<i64>>,
    pin: Option<Spanned<Vec<Spanned<i64>>>>,
    weight: Option<Spanned<i64>>,
    cap: Option<Spanned<i64>>,
    microslice: Option<Spanned<String>>,
    rt: Option<Spanned<RawRt>>,
    reserve: Option<Spanned<String>>,
    driver: Option<bool>,
    start: Option<Spanned<String>>,
    stop: Option<Spanned<String>>,
    #[serde(default)]
    workloads: Vec<Spanned<RawWorkload>>,
    net: Option<Spanned<RawNet>>,
    #[serde(default)]
    flows: Vec<Spanned<RawFlow>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNet {
    limit: Spanned<String>,
    shaper: Option<Spanned<String>>,
    period: Option<Spanned<String>>,
    window: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    kind: Spanned<String>,
    rate: Option<Spanned<String>>,
    size: Option<Spanned<i64>>,
    service: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    reply: Option<Spanned<i64>>,
    arrival: Option<Spanned<String>>,
    window: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRt {
    mode: Spanned<String>,
    deadline: Option<Spanned<String>>,
}

/// Flat on purpose: which keys belong to which `kind` is checked by hand so
/// the error names the key ("`interval` is not a key of kind cpu").
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    kind: Spanned<String>,
    load: Option<Spanned<f64>>,
    period: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    service: Option<Spanned<String>>,
    arrival: Option<Spanned<String>>,
    work: Option<Spanned<String>>,
    deadline: Option<Spanned<String>>,
    buffer: Option<Spanned<i64>>,
}

/// Error-building context: the file name and its text (for line numbers).
struct Ctx<'t> {
    file: &'t str,
    text: &'t str,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn err(
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

    fn duration(&self, v: &Spanned<String>, field: &str) -> Result<Span, ScenarioError> {
        parse_duration(v.get_ref()).map_err(|m| self.err(v.span(), field, m))
    }

    fn opt_duration(
        &self,
        v: &Option<Spanned<String>>,
        field: &str,
    ) -> Result<Option<Span>, ScenarioError> {
        v.as_ref().map(|v| self.duration(v, field)).transpose()
    }

    fn int<T: TryFrom<i64>>(
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
    fn toml_error(&self, e: &toml::de::Error) -> ScenarioError {
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
fn field_path_at(text: &str, line: usize) -> String {
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
            policy: "credit".into(),
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

fn convert(cx: &Ctx<'_>, raw: RawScenario) -> Result<Scenario, ScenarioError> {
    let name = raw.name.map_or_else(String::new, |n| n.into_inner());
    let duration = cx.duration(&raw.duration, "duration")?;
    let seed = match &raw.seed {
        Some(s) => cx.int::<u64>(s, "seed", 0..=i64::MAX, "a non-negative integer")?,
        None => 0,
    };
    let policy = raw
        .policy
        .map_or_else(|| "credit".to_string(), |p| p.into_inner());
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
fn place_of(text: &str, field: &str) -> Range<usize> {
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

fn convert_domain(
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

fn convert_workload(
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

fn convert_net(cx: &Ctx<'_>, path: &str, n: &Spanned<RawNet>) -> Result<Net, ScenarioError> {
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
    let d = sched_core::shaper::ShaperParams::new(limit_bps);
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

fn convert_flow(cx: &Ctx<'_>, path: &str, fl: &Spanned<RawFlow>) -> Result<Flow, ScenarioError> {
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
const MAX_PACKET: i64 = 65_535;
/// Flows a domain may have.
const MAX_FLOWS: usize = 64;

/// A flow's bounds: `(field, message)` when one is out. They keep a run
/// finite and its memory bounded: at most a million packets a second per
/// flow, rates of 1 kbit/s..10 Gbit/s, requests [`MIN_ARRIVAL_GAP`] apart.
fn flow_ok(fl: &Flow) -> Result<(), (&'static str, String)> {
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

/// Semantic checks shared by files and code-built scenarios: `(field, message)`.
fn check(s: &Scenario) -> Result<(), (String, String)> {
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
fn spacing_ok(t: Span) -> Result<(), String> {
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
fn human(t: Span) -> String {
    let ns = u64::try_from(t.as_ns()).unwrap_or(0);
    humantime::format_duration(std::time::Duration::from_nanos(ns)).to_string()
}

/// A microslice as vSlicer accepts it (one set of bounds, the scheduler's).
fn microslice_ok(m: Span) -> Result<(), String> {
    sched_core::VSlicerDomParams { microslice: m }
        .validate()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
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
        let t = "duration = \"1s\"\n[host]\npcpus = 2\ncontext_swich = \"1us\"\n[[domain]]\nname = \"a\"\n";
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
        let t =
            "duration = \"1s\"\n[[domain]]\nname = \"a\"\n[[domain]]\nname = \"b\"\nweight = 0\n";
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
}
