//! Profiling across the cluster: where every node spends its time in chosen code, for a bounded window,
//! merged.
//!
//! - Call time: on each node, `orbit_profile` (the agent's `Profiler` group) sets `call_time` trace
//!   patterns (and `call_memory`, OTP 26+) on every function of the profiled modules and the `call`
//!   process flag on every process — in a trace session of its own on OTP 27+, so that nothing else on
//!   the node sees or clobbers them — and reads the counters at the end of the window: calls, own time
//!   and words allocated per function.
//! - Stacks: the same process samples the stacks of the processes on the CPU at a bounded rate and folds
//!   them into counts; merged across nodes they make the flame graph ([`flame`]).
//! - Safety: a profile has a duration, at most [`MAX_DURATION`], and each node ends its own window at it
//!   whatever Orbit does. Before a node's profiler starts, its clean-up is registered with Orbit's agent,
//!   so patterns, flags and the sampler go when the profile ends, when Orbit disconnects and when Orbit
//!   is killed. Where the node has no trace sessions (OTP ≤ 26), a profile is refused beside Orbit's
//!   tracer, another tracer or another profile. It changes no code and no process state, so read-only
//!   mode allows it.
//!
//! `model` merges and ranks (pure); `wire` turns terms into structs; `ops` talks to the nodes.

mod flame;
mod model;
mod ops;
mod wire;

pub use flame::{speedscope, svg as flamegraph_svg, Stacks};
pub use model::{
    parse_folded, per_call, percent, thousands, time, Counters, FunctionRow, Mfa, NodeFailure, NodeProfile, NodeShare,
    Profile,
};
pub use ops::{run, start, ProfileRun};
pub use wire::NodeStart;

use std::time::Duration;

/// A profile's default window.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// The longest window a profile may have.
pub const MAX_DURATION: Duration = Duration::from_secs(300);
/// How often a node samples stacks, by default, on OTP 25 and 26.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_millis(10);
/// … and on OTP 27+, where asking a process on the CPU for its status or stack costs that process more
/// (measured: every 10 ms slowed a CPU-bound process by 9–35% on OTP 29, against ~1% on OTP 25).
pub const DEFAULT_SAMPLE_INTERVAL_OTP27: Duration = Duration::from_millis(50);
/// How many processes a node looks at per tick, by default (the stacks of those on the CPU are taken):
/// every process of most nodes, a bounded part of the sweep on big ones.
pub const DEFAULT_SAMPLE_MAX: u32 = 200;

/// What to profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A module: `Bank.Fees`, `bank_ledger`, `:bank_ledger`, `Elixir.Bank.Fees`.
    Module(String),
    /// Every module of an application (`bank`, `:bank`).
    App(String),
    /// Every loaded module whose name matches this regular expression (Erlang's `re`), tried on the
    /// Erlang name (`Elixir.Bank.Fees`) and the Elixir one (`Bank.Fees`).
    Match(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Module(m) => write!(f, "{}", crate::names::module_display(&crate::names::module_atom(m))),
            Target::App(a) => write!(f, "application {}", a.trim_start_matches(':')),
            Target::Match(p) => write!(f, "modules matching /{p}/"),
        }
    }
}

/// Which stacks each node samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sampling {
    /// No stack sampling.
    Off,
    /// Every process on the CPU (running or runnable).
    #[default]
    Running,
    /// Processes on the CPU whose stack has a frame in a profiled module.
    Profiled,
}

/// What to profile, where, for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileSpec {
    pub targets: Vec<Target>,
    /// Node names (`name@host`, or `name` when unambiguous); `None`: every node that is up.
    pub nodes: Option<Vec<String>>,
    pub duration: Duration,
    /// Also count memory per function where the node's OTP has `call_memory` (26+).
    pub memory: bool,
    pub sampling: Sampling,
    /// `None`: each node's default ([`DEFAULT_SAMPLE_INTERVAL`], [`DEFAULT_SAMPLE_INTERVAL_OTP27`]).
    pub sample_interval: Option<Duration>,
    pub sample_max: u32,
}

impl ProfileSpec {
    pub fn new(targets: Vec<Target>) -> ProfileSpec {
        ProfileSpec {
            targets,
            nodes: None,
            duration: DEFAULT_DURATION,
            memory: true,
            sampling: Sampling::default(),
            sample_interval: None,
            sample_max: DEFAULT_SAMPLE_MAX,
        }
    }

    pub fn with_duration(mut self, d: Duration) -> ProfileSpec {
        self.duration = d;
        self
    }

    /// `Bank.Fees`, `application bank`, `modules matching /^Bank\./`, joined.
    pub fn describe(&self) -> String {
        self.targets.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
    }
}

/// A duration as people write it: `10s`, `500ms`, `2m`, `1.5s`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let v: f64 = num.parse().map_err(|_| format!("{text:?} is not a duration such as 10s, 500ms or 2m"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" | "sec" | "secs" => v,
        "m" | "min" => v * 60.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s or m)")),
    };
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!("{text:?}: a duration must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("nothing to profile: name a module (--module), an application (--app) or a pattern (--match)")]
    NoTargets,
    #[error("a profile lasts more than 0 and at most {} s, not {:.3} s", MAX_DURATION.as_secs(), .0.as_secs_f64())]
    Duration(Duration),
    #[error("{0}")]
    Nodes(String),
    #[error("no node to profile: none is up")]
    NoNodes,
    #[error("{node}: Orbit's agent does not run there, and a profile needs it to guarantee clean-up")]
    NoAgent { node: String },
    #[error("{node} is already profiled by another Orbit ({owner}); a node has one profile at a time")]
    Busy { node: String, owner: String },
    #[error("{node}: Orbit is tracing there (orbit trace, or an editor's trace); on OTP {otp} a profile would clobber the trace's flags: stop the trace first, or profile on OTP 27+, where each has its own trace session")]
    TraceRunning { node: String, otp: String },
    #[error("{node}: another tracer (dbg, recon_trace, …) is active there ({tracer}); on OTP {otp} a profile would clobber it: stop it first")]
    OtherTracer { node: String, tracer: String, otp: String },
    #[error("{node}: {function} is already profiled there (eprof, tprof, cprof?); on OTP {otp} two profiles would count into the same counters")]
    AlreadyProfiled { node: String, function: String, otp: String },
    #[error(
        "{node}: {functions} functions match, more than {max}: narrow the profile (fewer modules, a tighter --match)"
    )]
    TooManyFunctions { node: String, functions: u64, max: u64 },
    #[error("bad pattern {pattern:?}: {detail}")]
    BadPattern { pattern: String, detail: String },
    #[error("{module} is not profiled: Orbit's own modules and the emulator's preloaded ones (erlang, prim_*, init…) cannot be")]
    Excluded { module: String },
    #[error("{target}: {why}")]
    NothingToProfile { target: String, why: String },
    #[error("{node}: {detail}")]
    Node { node: String, detail: String },
    #[error(transparent)]
    Rpc(Box<crate::rpc::RpcError>),
}

impl From<crate::rpc::RpcError> for ProfileError {
    fn from(e: crate::rpc::RpcError) -> Self {
        ProfileError::Rpc(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration(" 3 s ").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5h").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn targets_read_as_written() {
        assert_eq!(Target::Module("Bank.Fees".into()).to_string(), "Bank.Fees");
        assert_eq!(Target::Module(":bank_ledger".into()).to_string(), "bank_ledger");
        assert_eq!(Target::App(":bank".into()).to_string(), "application bank");
        let spec = ProfileSpec::new(vec![Target::Module("Bank.Fees".into()), Target::Match("^Bank\\.".into())]);
        assert_eq!(spec.describe(), "Bank.Fees, modules matching /^Bank\\./");
        assert_eq!(spec.duration, DEFAULT_DURATION);
    }
}
