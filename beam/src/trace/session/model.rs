//! What a trace session is asked to do and what it reports, and the session-wide limit (pure).

use crate::cluster::NodeUnavailable;
use crate::names::Lang;
use crate::rpc::RpcError;
use crate::trace::event::TraceEvent;
use crate::trace::pattern::{CallForm, CallPattern, Limit, PatternError, ProcessSelector};
use eetf::Term;
use std::collections::BTreeMap;
use std::time::Duration;

/// Events a session keeps for [`TraceSession::history`](super::TraceSession::history); older ones are forgotten past this.
pub const HISTORY_MAX: usize = 200_000;
/// Updates waiting for [`TraceSession::next`](super::TraceSession::next); past this, event batches are not queued (they stay in the
/// history) so a reader that falls behind never makes Orbit's memory grow without bound.
pub const UPDATES_MAX: usize = 4096;

/// A restriction on a call pattern's arguments, compiled on a node.
#[derive(Debug, Clone, PartialEq)]
pub enum MatchSpec {
    /// A fun in `dbg:fun2ms/1` style, Erlang syntax: `fun([_, Amount]) when Amount > 100 -> true end`.
    Fun(String),
    /// A match spec as an Erlang term: `[{['_', '$1'], [{'>', '$1', 100}], []}]`.
    Text(String),
    /// A match spec term as is.
    Term(Term),
    /// An Elixir call with a condition, as a function head reads: `Bank.Account.deposit(_, amount) when
    /// amount > 100`. Translated on a node (Elixir's parser) into a match spec with the same guards;
    /// it fixes the arity. What a match spec cannot express (calls other than guards, binary patterns,
    /// pins) is refused with the expression.
    Elixir(String),
}

/// One call pattern to trace.
#[derive(Debug, Clone, PartialEq)]
pub struct CallTrace {
    pub pattern: CallPattern,
    pub match_spec: Option<MatchSpec>,
    /// Also trace what each call returns (or raises).
    pub return_values: bool,
}

impl CallTrace {
    pub fn new(pattern: CallPattern) -> CallTrace {
        CallTrace { pattern, match_spec: None, return_values: false }
    }

    /// A pattern (`Bank.Account.deposit/2`), or a call with a condition written as a function head:
    /// `Bank.Account.deposit(_, amount) when amount > 100` (Elixir, see [`MatchSpec::Elixir`]) or
    /// `bank_ledger:fee(A) when A > 100` (Erlang, a [`MatchSpec::Fun`]).
    pub fn parse(text: &str) -> Result<CallTrace, PatternError> {
        let Some(call) = CallForm::split(text)? else { return Ok(CallTrace::new(CallPattern::parse(text)?)) };
        let mut pattern = CallPattern::parse(&call.name)?;
        if pattern.function.is_none() {
            return Err(PatternError {
                text: text.into(),
                reason: "name the function whose arguments these are, e.g. Bank.Account.deposit(_, amount)".into(),
            });
        }
        let ms = match pattern.syntax {
            Lang::Elixir => MatchSpec::Elixir(text.trim().to_string()),
            Lang::Erlang => {
                pattern.arity = Some(
                    u8::try_from(call.arity())
                        .map_err(|_| PatternError { text: text.into(), reason: "more than 255 arguments".into() })?,
                );
                MatchSpec::Fun(call.erlang_fun())
            }
        };
        Ok(CallTrace::new(pattern).with_match_spec(ms))
    }

    pub fn with_match_spec(mut self, ms: MatchSpec) -> CallTrace {
        self.match_spec = Some(ms);
        self
    }

    pub fn with_return_values(mut self) -> CallTrace {
        self.return_values = true;
        self
    }
}

/// Message tracing of chosen processes.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageTrace {
    pub processes: Vec<ProcessSelector>,
    pub send: bool,
    pub receive: bool,
}

impl MessageTrace {
    /// Sends and receives of `processes`.
    pub fn new(processes: Vec<ProcessSelector>) -> MessageTrace {
        MessageTrace { processes, send: true, receive: true }
    }
}

/// What to trace, where, and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSpec {
    pub calls: Vec<CallTrace>,
    pub messages: Option<MessageTrace>,
    /// Mandatory: applied by each node's tracer and to the whole session.
    pub limit: Limit,
    /// Node names (`name@host`, or `name` when unambiguous); `None` for every node that is up.
    pub nodes: Option<Vec<String>>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Start tracing on nodes that join (or come back) while the session runs. Named nodes that come
    /// back are traced again either way.
    pub follow_new_nodes: bool,
}

impl TraceSpec {
    pub fn calls(calls: Vec<CallTrace>, limit: Limit) -> TraceSpec {
        TraceSpec { calls, messages: None, limit, nodes: None, duration: None, follow_new_nodes: true }
    }

    pub fn messages(messages: MessageTrace, limit: Limit) -> TraceSpec {
        TraceSpec {
            calls: Vec::new(),
            messages: Some(messages),
            limit,
            nodes: None,
            duration: None,
            follow_new_nodes: true,
        }
    }

    /// Erlang when every call pattern was written in Erlang form, else Elixir.
    pub fn syntax(&self) -> Lang {
        if !self.calls.is_empty() && self.calls.iter().all(|c| c.pattern.syntax == Lang::Erlang) {
            Lang::Erlang
        } else {
            Lang::Elixir
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("bad pattern {0}")]
    Pattern(PatternError),
    #[error("invalid limit: {0}")]
    Limit(String),
    #[error("nothing to trace: give at least one function pattern, or processes and send and/or receive")]
    Empty,
    /// The node is not a member, is still connecting, or is down.
    #[error(transparent)]
    Unavailable(#[from] NodeUnavailable),
    #[error("no node to trace: none is up")]
    NoNodes,
    #[error("{node}: Orbit's agent does not run there, and a trace needs it to guarantee clean-up")]
    NoAgent { node: String },
    #[error("{node} is already traced by another Orbit ({owner}); a node has one trace session at a time")]
    Busy { node: String, owner: String },
    #[error("{node}: another tracer (dbg, recon_trace, …) is active there ({tracer}); stop it first")]
    OtherTracer { node: String, tracer: String },
    #[error("{node}: an Orbit profile runs there, and on this OTP release (before 27) a trace would clobber its flags; wait for its end")]
    ProfileRunning { node: String },
    #[error("{pattern}: bad match spec: {detail}")]
    MatchSpec { pattern: String, detail: String },
    #[error("{pattern}: {detail}")]
    Condition { pattern: String, detail: String },
    #[error("{pattern} matches no loaded function on any traced node{hint}")]
    NoMatch { pattern: String, hint: String },
    #[error("no process {process} on any traced node")]
    NoProcess { process: String },
    #[error("{node}: {detail}")]
    Node { node: String, detail: String },
    #[error(transparent)]
    Rpc(Box<RpcError>),
    #[error(transparent)]
    ReadOnly(#[from] crate::read_only::Refused),
}

impl From<PatternError> for TraceError {
    fn from(e: PatternError) -> Self {
        TraceError::Pattern(e)
    }
}

impl From<RpcError> for TraceError {
    fn from(e: RpcError) -> Self {
        TraceError::Rpc(Box::new(e))
    }
}

/// Why a node's tracer, or the whole session, stopped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraceStopReason {
    /// `node` is `None` when the limit tripped for the session as a whole.
    CountLimit {
        limit: u64,
        node: Option<String>,
    },
    RateLimit {
        max: u64,
        per_ms: u64,
        node: Option<String>,
    },
    /// A tracer fell behind (its mailbox passed the bound) and stopped to protect its node.
    Overloaded {
        node: String,
        queued: u64,
    },
    Duration,
    Stopped,
    /// A newer session of the same Orbit took the node over.
    Replaced {
        node: String,
    },
    NodeDown {
        node: String,
        reason: String,
    },
    /// Every traced node went away.
    NodesGone,
    Other {
        node: String,
        detail: String,
    },
}

impl TraceStopReason {
    /// A safety limit tripped (count, rate or overload).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            TraceStopReason::CountLimit { .. } | TraceStopReason::RateLimit { .. } | TraceStopReason::Overloaded { .. }
        )
    }
}

impl std::fmt::Display for TraceStopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TraceStopReason::CountLimit { limit, node: None } => write!(f, "limit reached: {limit} events"),
            TraceStopReason::CountLimit { limit, node: Some(n) } => write!(f, "limit reached on {n}: {limit} events"),
            TraceStopReason::RateLimit { max, per_ms, node: None } => {
                write!(f, "rate limit tripped: more than {max} events within {per_ms} ms across the cluster")
            }
            TraceStopReason::RateLimit { max, per_ms, node: Some(n) } => {
                write!(f, "rate limit tripped on {n}: more than {max} events within {per_ms} ms")
            }
            TraceStopReason::Overloaded { node, queued } => {
                write!(f, "{node}: the tracer fell behind ({queued} trace messages queued) and stopped")
            }
            TraceStopReason::Duration => write!(f, "duration ended"),
            TraceStopReason::Stopped => write!(f, "stopped"),
            TraceStopReason::Replaced { node } => write!(f, "{node}: replaced by a newer trace session of this Orbit"),
            TraceStopReason::NodeDown { node, reason } => write!(f, "{node} went down: {reason}"),
            TraceStopReason::NodesGone => write!(f, "every traced node went away"),
            TraceStopReason::Other { node, detail } => write!(f, "{node}: {detail}"),
        }
    }
}

/// One node's part in a session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeStatus {
    pub running: bool,
    /// Functions each call pattern matched on this node (pattern as written → count).
    pub matched: Vec<(String, u64)>,
    /// Processes whose messages are traced (`all`/`new` count what the BIF reported).
    pub processes: u64,
    /// Events the node's tracer reported, and those it dropped (past a limit, or on overload).
    pub events: u64,
    pub dropped: u64,
    pub stopped: Option<TraceStopReason>,
    pub error: Option<String>,
}

/// What a session reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceUpdate {
    /// A node's tracer runs (at the start, or when a node joined).
    NodeStarted {
        node: String,
        matched: Vec<(String, u64)>,
        processes: u64,
    },
    /// A node that joined could not be traced.
    NodeFailed {
        node: String,
        error: String,
    },
    /// A batch from one node, in the order its tracer saw them.
    Events(Vec<TraceEvent>),
    NodeStopped {
        node: String,
        reason: TraceStopReason,
        events: u64,
        dropped: u64,
    },
    /// The session is over; the last update.
    Stopped(TraceStopReason),
}

/// The session's limit over the events of every node together: a count, or a rate by event time.
#[derive(Debug)]
pub(super) struct SessionLimit {
    limit: Limit,
    /// Events let through so far.
    total: u64,
    /// Events per rate window (by event time), for a rate limit.
    buckets: BTreeMap<i64, u64>,
}

impl SessionLimit {
    pub(super) fn new(limit: Limit) -> SessionLimit {
        SessionLimit { limit, total: 0, buckets: BTreeMap::new() }
    }

    /// Cuts `events` where the limit trips and counts what stays; says why when it tripped (the session
    /// then stops).
    pub(super) fn admit(&mut self, events: &mut Vec<TraceEvent>) -> Option<TraceStopReason> {
        let mut tripped = None;
        match self.limit {
            Limit::Count(limit) => {
                let room = limit.saturating_sub(self.total) as usize;
                if events.len() >= room {
                    events.truncate(room);
                    tripped = Some(TraceStopReason::CountLimit { limit, node: None });
                }
            }
            Limit::Rate { max, per } => {
                let window = (per.as_micros() as i64).max(1);
                for (i, e) in events.iter().enumerate() {
                    let n = self.buckets.entry(e.ts_us.div_euclid(window)).or_default();
                    *n += 1;
                    if *n > max {
                        tripped = Some(TraceStopReason::RateLimit { max, per_ms: per.as_millis() as u64, node: None });
                        events.truncate(i);
                        break;
                    }
                }
                if let Some(newest) = self.buckets.keys().next_back().copied() {
                    self.buckets = self.buckets.split_off(&(newest - 16));
                }
            }
        }
        self.total += events.len() as u64;
        tripped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::event::{EventKind, TracedProcess};

    fn events(at_us: &[i64]) -> Vec<TraceEvent> {
        at_us
            .iter()
            .map(|&ts_us| TraceEvent {
                node: "a@h".into(),
                ts_us,
                process: TracedProcess { pid: eetf::Pid::new("a@h", 90, 0, 1), name: None },
                kind: EventKind::Other { detail: crate::term::atom("x") },
            })
            .collect()
    }

    /// Why a session or a node's tracer stopped, as the front ends print it: per node or for the session.
    #[test]
    fn stop_reasons_in_words() {
        let n = || Some("a@h".to_string());
        let cases = [
            (TraceStopReason::CountLimit { limit: 5, node: None }, "limit reached: 5 events"),
            (TraceStopReason::CountLimit { limit: 5, node: n() }, "limit reached on a@h: 5 events"),
            (
                TraceStopReason::RateLimit { max: 9, per_ms: 10, node: None },
                "rate limit tripped: more than 9 events within 10 ms across the cluster",
            ),
            (
                TraceStopReason::RateLimit { max: 9, per_ms: 10, node: n() },
                "rate limit tripped on a@h: more than 9 events within 10 ms",
            ),
            (
                TraceStopReason::Overloaded { node: "a@h".into(), queued: 7 },
                "a@h: the tracer fell behind (7 trace messages queued) and stopped",
            ),
            (TraceStopReason::Replaced { node: "a@h".into() }, "a@h: replaced by a newer trace session of this Orbit"),
            (
                TraceStopReason::NodeDown { node: "a@h".into(), reason: "noconnection".into() },
                "a@h went down: noconnection",
            ),
            (TraceStopReason::NodesGone, "every traced node went away"),
            (TraceStopReason::Other { node: "a@h".into(), detail: "x".into() }, "a@h: x"),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
        }
    }

    /// A condition written on a module alone names no function: refused with an example.
    #[test]
    fn a_call_form_without_a_function_is_refused() {
        let e = CallTrace::parse("Bank.Account(_, amount) when amount > 1").unwrap_err();
        assert!(e.reason.starts_with("name the function whose arguments these are"), "{e:?}");
        assert!(CallTrace::parse("bank_ledger:fee(A) when A > 1").is_ok());
    }

    #[test]
    fn a_count_limit_lets_through_what_is_left_then_trips() {
        let mut limit = SessionLimit::new(Limit::Count(5));
        let mut first = events(&[1, 2, 3]);
        assert_eq!(limit.admit(&mut first), None);
        assert_eq!(first.len(), 3);
        let mut second = events(&[4, 5, 6, 7]);
        assert_eq!(limit.admit(&mut second), Some(TraceStopReason::CountLimit { limit: 5, node: None }));
        assert_eq!(second.len(), 2, "two were left of five");
    }

    #[test]
    fn a_rate_limit_trips_on_the_event_past_max_in_one_window() {
        let mut limit = SessionLimit::new(Limit::Rate { max: 2, per: Duration::from_millis(1) });
        // Two events in each of two windows (0 and 1 ms): within the rate.
        let mut calm = events(&[0, 500, 1_000, 1_999]);
        assert_eq!(limit.admit(&mut calm), None);
        assert_eq!(calm.len(), 4);
        // A third in the second window trips it; what came before it stays.
        let mut burst = events(&[1_500, 2_000]);
        let tripped = limit.admit(&mut burst);
        assert_eq!(tripped, Some(TraceStopReason::RateLimit { max: 2, per_ms: 1, node: None }));
        assert!(burst.is_empty());
    }
}
