//! A trace session across the cluster: checks, starts a tracer on every chosen node (after registering
//! its clean-up with the agent), collects the batches the tracers send, enforces the limit overall,
//! follows nodes that join, and stops everything when asked, when a limit trips, or when dropped.

use super::event::{decode_event, TraceEvent};
use super::flow::{match_messages, summarize, MessageFlow, Summary};
use super::pattern::{CallForm, CallPattern, Limit, PatternError, ProcessSpec, Syntax};
use super::render;
use crate::cluster::{Cluster, ClusterEvent, NodeState};
use crate::link::{Delivery, Mailbox};
use crate::rpc::RpcError;
use crate::term::{
    as_atom, as_integer, as_list, as_str, as_tuple, atom, binary, int, list, map, map_get_atom, render_erlang, tuple,
    Limits,
};
use eetf::{Pid, Term};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// Events a session keeps for [`TraceSession::history`]; older ones are forgotten past this.
pub const HISTORY_MAX: usize = 200_000;
/// Updates waiting for [`TraceSession::next`]; past this, event batches are not queued (they stay in the
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
            Syntax::Elixir => MatchSpec::Elixir(text.trim().to_string()),
            Syntax::Erlang => {
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
    pub processes: Vec<ProcessSpec>,
    pub send: bool,
    pub receive: bool,
}

impl MessageTrace {
    /// Sends and receives of `processes`.
    pub fn new(processes: Vec<ProcessSpec>) -> MessageTrace {
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
    pub fn syntax(&self) -> Syntax {
        if !self.calls.is_empty() && self.calls.iter().all(|c| c.pattern.syntax == Syntax::Erlang) {
            Syntax::Erlang
        } else {
            Syntax::Elixir
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
    #[error("unknown node {node}; the cluster has: {}", if .known.is_empty() { "no nodes".to_string() } else { .known.join(", ") })]
    UnknownNode { node: String, known: Vec<String> },
    #[error("{node} is not up ({state})")]
    NodeNotUp { node: String, state: String },
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
pub enum StopReason {
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

impl StopReason {
    /// A safety limit tripped (count, rate or overload).
    pub fn is_limit(&self) -> bool {
        matches!(self, StopReason::CountLimit { .. } | StopReason::RateLimit { .. } | StopReason::Overloaded { .. })
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::CountLimit { limit, node: None } => write!(f, "limit reached: {limit} events"),
            StopReason::CountLimit { limit, node: Some(n) } => write!(f, "limit reached on {n}: {limit} events"),
            StopReason::RateLimit { max, per_ms, node: None } => {
                write!(f, "rate limit tripped: more than {max} events within {per_ms} ms across the cluster")
            }
            StopReason::RateLimit { max, per_ms, node: Some(n) } => {
                write!(f, "rate limit tripped on {n}: more than {max} events within {per_ms} ms")
            }
            StopReason::Overloaded { node, queued } => {
                write!(f, "{node}: the tracer fell behind ({queued} trace messages queued) and stopped")
            }
            StopReason::Duration => write!(f, "duration ended"),
            StopReason::Stopped => write!(f, "stopped"),
            StopReason::Replaced { node } => write!(f, "{node}: replaced by a newer trace session of this Orbit"),
            StopReason::NodeDown { node, reason } => write!(f, "{node} went down: {reason}"),
            StopReason::NodesGone => write!(f, "every traced node went away"),
            StopReason::Other { node, detail } => write!(f, "{node}: {detail}"),
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
    pub stopped: Option<StopReason>,
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
        reason: StopReason,
        events: u64,
        dropped: u64,
    },
    /// The session is over; the last update.
    Stopped(StopReason),
}

/// What `start` settled before touching any node.
#[derive(Debug)]
struct Plan {
    id: Pid,
    owner: String,
    /// Pattern as written, `{M,F,A}`, match spec (`true` for none).
    calls: Vec<(String, Term, Term)>,
    procs: Vec<Term>,
    msg_flags: Vec<Term>,
    limit: Limit,
    duration: Option<Duration>,
    timeout: Duration,
}

impl Plan {
    fn opts(&self) -> Term {
        let calls = self
            .calls
            .iter()
            .map(|(_, mfa, ms)| {
                let e = as_tuple(mfa).unwrap_or(&[]);
                tuple(vec![e[0].clone(), e[1].clone(), e[2].clone(), ms.clone()])
            })
            .collect();
        let limit = match self.limit {
            Limit::Count(n) => tuple(vec![atom("count"), int(n as i64)]),
            Limit::Rate { max, per } => tuple(vec![atom("rate"), int(max as i64), int(per.as_millis() as i64)]),
        };
        // The node's own deadline is a backstop: Orbit normally stops the session itself.
        let duration = self.duration.map(|d| int(d.as_millis() as i64 + 2000)).unwrap_or_else(|| atom("infinity"));
        map(vec![
            (atom("id"), Term::from(self.id.clone())),
            (atom("owner"), atom(&self.owner)),
            (atom("dest"), Term::from(self.id.clone())),
            (atom("calls"), list(calls)),
            (atom("procs"), list(self.procs.clone())),
            (atom("msg_flags"), list(self.msg_flags.clone())),
            (atom("limit"), limit),
            (atom("duration_ms"), duration),
            (atom("batch_ms"), int(100)),
            (atom("batch_max"), int(500)),
            (atom("max_queue"), int(50_000)),
        ])
    }

    fn patterns(&self) -> Term {
        list(self.calls.iter().map(|(_, mfa, _)| mfa.clone()).collect())
    }

    fn cleanup_key(&self) -> Term {
        tuple(vec![atom("orbit_trace"), Term::from(self.id.clone())])
    }
}

/// Resolves node names as given (`name@host`, or `name` when one node has that short name) against the
/// cluster; every one must be a member that is up.
pub fn resolve_nodes(cluster: &Cluster, names: &[String]) -> Result<Vec<String>, TraceError> {
    let members = cluster.nodes();
    let known: Vec<String> = members.iter().map(|(n, _)| n.clone()).collect();
    let mut out = Vec::new();
    for want in names {
        let want = want.trim();
        let found: Vec<&(String, NodeState)> = members
            .iter()
            .filter(|(n, _)| n == want || (!want.contains('@') && n.split('@').next() == Some(want)))
            .collect();
        let (node, state) = match found.as_slice() {
            [one] => (&one.0, &one.1),
            _ => return Err(TraceError::UnknownNode { node: want.to_string(), known }),
        };
        match state {
            NodeState::Up => {}
            NodeState::Connecting => {
                return Err(TraceError::NodeNotUp { node: node.clone(), state: "connecting".into() })
            }
            NodeState::Down { reason } => {
                return Err(TraceError::NodeNotUp { node: node.clone(), state: format!("down: {reason}") })
            }
        }
        if !out.contains(node) {
            out.push(node.clone());
        }
    }
    Ok(out)
}

/// The pid `text` (`<0.123.0>`) names on `node`.
pub async fn pid_on(cluster: &Cluster, node: &str, text: &str) -> Result<Pid, TraceError> {
    let bad = || TraceError::Pattern(PatternError { text: text.into(), reason: "not a pid such as <0.123.0>".into() });
    let t = ProcessSpec::pid_text(text).ok_or_else(bad)?;
    let r = cluster
        .call(node, "erlang", "list_to_pid", vec![Term::from(eetf::ByteList::from(t.as_str()))], cluster.call_timeout())
        .await;
    match r {
        Ok(Term::Pid(p)) => Ok(p),
        Ok(_) => Err(bad()),
        Err(e) if e.exception_reason().is_some() => Err(bad()),
        Err(e) => Err(e.into()),
    }
}

/// Starts a trace session: checks the spec and every node first (nothing changes on any node when a
/// check fails), then starts a tracer on each chosen node.
pub async fn start(cluster: &Cluster, spec: TraceSpec) -> Result<TraceSession, TraceError> {
    spec.limit.validate().map_err(TraceError::Limit)?;
    cluster.refuse_unbounded_trace(&spec.limit)?;
    let messages = spec.messages.clone().filter(|m| !m.processes.is_empty() && (m.send || m.receive));
    if spec.calls.is_empty() && messages.is_none() {
        return Err(TraceError::Empty);
    }
    for c in &spec.calls {
        c.pattern.check_safety(c.match_spec.is_some())?;
    }
    let nodes = match &spec.nodes {
        Some(names) if !names.is_empty() => resolve_nodes(cluster, names)?,
        _ => cluster.up_nodes(),
    };
    if nodes.is_empty() {
        return Err(TraceError::NoNodes);
    }
    for n in &nodes {
        if cluster.session(n).is_none() {
            return Err(TraceError::NoAgent { node: n.clone() });
        }
    }
    let timeout = cluster.call_timeout();
    let mut calls = Vec::with_capacity(spec.calls.len());
    for c in &spec.calls {
        let (ms, arity) = compile_match_spec(cluster, &nodes[0], c, timeout).await?;
        let mut pattern = c.pattern.clone();
        if pattern.arity.is_none() {
            pattern.arity = arity;
        }
        calls.push((pattern.to_string(), pattern.mfa_term(), ms));
    }
    let mut msg_flags = Vec::new();
    let mut procs = Vec::new();
    if let Some(m) = &messages {
        if m.send {
            msg_flags.push(atom("send"));
        }
        if m.receive {
            msg_flags.push(atom("receive"));
        }
        for p in &m.processes {
            procs.push(match p {
                ProcessSpec::All => atom("all"),
                ProcessSpec::New => atom("new"),
                ProcessSpec::Name(n) => tuple(vec![atom("name"), atom(n)]),
                ProcessSpec::Pid(pid) => tuple(vec![atom("pid"), Term::from(pid.clone())]),
            });
        }
    }
    let mailbox = cluster.open_mailbox();
    let plan = Arc::new(Plan {
        id: mailbox.pid().clone(),
        owner: cluster.local_name().to_string(),
        calls,
        procs,
        msg_flags,
        limit: spec.limit,
        duration: spec.duration,
        timeout,
    });
    check_nodes(cluster, &plan, &nodes, messages.as_ref()).await?;

    let started = futures::future::join_all(nodes.iter().map(|n| start_on_node(cluster, &plan, n))).await;
    let mut statuses = BTreeMap::new();
    let mut failure = None;
    for (node, r) in nodes.iter().zip(started) {
        match r {
            Ok(s) => {
                statuses.insert(node.clone(), s);
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        futures::future::join_all(statuses.keys().map(|n| stop_on_node(cluster, &plan, n))).await;
        return Err(e);
    }

    let (updates_tx, updates_rx) = mpsc::channel(UPDATES_MAX);
    for (node, s) in &statuses {
        let _ = updates_tx.try_send(TraceUpdate::NodeStarted {
            node: node.clone(),
            matched: s.matched.clone(),
            processes: s.processes,
        });
    }
    let shared = Arc::new(Mutex::new(Shared { nodes: statuses, ..Shared::default() }));
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = watch::channel(None);
    let scope = match &spec.nodes {
        Some(names) if !names.is_empty() => Scope::Only(nodes.clone()),
        _ if spec.follow_new_nodes => Scope::AllNodes,
        _ => Scope::Only(nodes.clone()),
    };
    let collector = Collector {
        cluster: cluster.clone(),
        plan: plan.clone(),
        events: cluster.subscribe(),
        mailbox,
        scope,
        active: nodes.iter().cloned().collect(),
        shared: shared.clone(),
        updates: updates_tx,
        control: control_rx,
        done: done_tx,
        total: 0,
        buckets: BTreeMap::new(),
        pending_stop: None,
        deadline: spec.duration.map(|d| tokio::time::Instant::now() + d),
    };
    let task = tokio::spawn(collector.run());
    Ok(TraceSession {
        id: plan.id.clone(),
        syntax: spec.syntax(),
        updates: updates_rx,
        shared,
        control: control_tx,
        done: done_rx,
        task: Some(task),
    })
}

/// `true`, or the match spec (compiled on `node` when written as text), with `{exception_trace}` added
/// to each clause when return values are wanted; and the arity an Elixir call form fixes.
async fn compile_match_spec(
    cluster: &Cluster,
    node: &str,
    c: &CallTrace,
    timeout: Duration,
) -> Result<(Term, Option<u8>), TraceError> {
    let mut shown = c.pattern.to_string();
    let mut arity = None;
    let ms = match &c.match_spec {
        None => None,
        Some(MatchSpec::Term(t)) => Some(t.clone()),
        Some(MatchSpec::Elixir(text)) => {
            shown = text.clone();
            let r = cluster.call(node, "orbit_trace", "elixir_ms", vec![binary(text.as_bytes())], timeout).await?;
            match as_tuple(&r) {
                Some([ok, n, ms]) if as_atom(ok) == Some("ok") => {
                    arity = as_integer(n).and_then(|n| u8::try_from(n).ok());
                    Some(ms.clone())
                }
                Some([_, why]) => {
                    let detail =
                        as_str(why).map(str::to_string).unwrap_or_else(|| render_erlang(why, &Limits::default()));
                    return Err(TraceError::Condition { pattern: shown, detail });
                }
                _ => {
                    return Err(TraceError::Condition { pattern: shown, detail: render_erlang(&r, &Limits::default()) })
                }
            }
        }
        Some(MatchSpec::Fun(text)) | Some(MatchSpec::Text(text)) => {
            let f = if matches!(c.match_spec, Some(MatchSpec::Fun(_))) { "fun_to_ms" } else { "parse_ms" };
            let r = cluster.call(node, "orbit_trace", f, vec![binary(text.as_bytes())], timeout).await?;
            match as_tuple(&r) {
                Some([ok, ms]) if as_atom(ok) == Some("ok") => Some(ms.clone()),
                Some([_, why]) => {
                    let detail =
                        as_str(why).map(str::to_string).unwrap_or_else(|| render_erlang(why, &Limits::default()));
                    return Err(TraceError::MatchSpec { pattern: shown, detail });
                }
                _ => {
                    return Err(TraceError::MatchSpec { pattern: shown, detail: render_erlang(&r, &Limits::default()) })
                }
            }
        }
    };
    let Some(ms) = ms else {
        return Ok((
            if c.return_values {
                list(vec![tuple(vec![atom("_"), list(vec![]), list(vec![tuple(vec![atom("exception_trace")])])])])
            } else {
                atom("true")
            },
            None,
        ));
    };
    let clauses = as_list(&ms).ok_or_else(|| TraceError::MatchSpec {
        pattern: shown.clone(),
        detail: "a match spec is a list of clauses".into(),
    })?;
    let mut out = Vec::with_capacity(clauses.len());
    for clause in clauses.iter() {
        let Some([head, guards, body]) = as_tuple(clause) else {
            return Err(TraceError::MatchSpec { pattern: shown, detail: "each clause is {Head, Guards, Body}".into() });
        };
        if let (Some(n), Some(args)) = (c.pattern.arity, as_list(head)) {
            if args.len() != usize::from(n) {
                return Err(TraceError::MatchSpec {
                    pattern: shown,
                    detail: format!("its head takes {} arguments but the function takes {n}", args.len()),
                });
            }
        }
        let mut body: Vec<Term> = as_list(body).map(|b| b.into_owned()).unwrap_or_default();
        let traces_returns = body.iter().any(
            |b| matches!(as_tuple(b), Some([a]) if matches!(as_atom(a), Some("return_trace" | "exception_trace"))),
        );
        if c.return_values && !traces_returns {
            body.push(tuple(vec![atom("exception_trace")]));
        }
        out.push(tuple(vec![head.clone(), guards.clone(), list(body)]));
    }
    Ok((list(out), arity))
}

/// Runs `orbit_trace:check/1` on every node: refuses busy nodes, bad match specs, patterns that match
/// nothing anywhere and named processes that exist nowhere.
async fn check_nodes(
    cluster: &Cluster,
    plan: &Plan,
    nodes: &[String],
    messages: Option<&MessageTrace>,
) -> Result<(), TraceError> {
    let opts = plan.opts();
    let answers = futures::future::join_all(
        nodes.iter().map(|n| cluster.call(n, "orbit_trace", "check", vec![opts.clone()], plan.timeout)),
    )
    .await;
    let mut matched = vec![0u64; plan.calls.len()];
    let mut hints: Vec<Option<String>> = vec![None; plan.calls.len()];
    let mut found = vec![false; plan.procs.len()];
    for (node, answer) in nodes.iter().zip(answers) {
        let answer = answer?;
        let info = match as_tuple(&answer) {
            Some([ok, info]) if as_atom(ok) == Some("ok") => info.clone(),
            Some([_, reason]) => return Err(node_error(node, reason, plan)),
            _ => {
                return Err(TraceError::Node { node: node.clone(), detail: render_erlang(&answer, &Limits::default()) })
            }
        };
        if let Some(calls) = map_get_atom(&info, "calls").and_then(as_list) {
            for (i, c) in calls.iter().enumerate().take(matched.len()) {
                let Some([m, f, _, count, near]) = as_tuple(c) else { continue };
                matched[i] += as_integer(count).unwrap_or(0) as u64;
                if hints[i].is_none() {
                    hints[i] = near_hint(m, f, near);
                }
            }
        }
        if let Some(procs) = map_get_atom(&info, "procs").and_then(as_list) {
            for (i, p) in procs.iter().enumerate().take(found.len()) {
                if matches!(as_tuple(p), Some([_, yes]) if as_atom(yes) == Some("true")) {
                    found[i] = true;
                }
            }
        }
    }
    for (i, (pattern, _, _)) in plan.calls.iter().enumerate() {
        if matched[i] == 0 {
            let hint = hints[i].clone().unwrap_or_default();
            return Err(TraceError::NoMatch { pattern: pattern.clone(), hint });
        }
    }
    if let Some(m) = messages {
        for (i, p) in m.processes.iter().enumerate() {
            if !found.get(i).copied().unwrap_or(true) {
                return Err(TraceError::NoProcess { process: p.to_string() });
            }
        }
    }
    Ok(())
}

fn near_hint(module: &Term, function: &Term, near: &Term) -> Option<String> {
    let m = as_atom(module)?;
    let shown = super::pattern::module_text(m, if m.starts_with("Elixir.") { Syntax::Elixir } else { Syntax::Erlang });
    if as_atom(near) == Some("not_loaded") {
        return Some(format!(" ({shown} is neither loaded nor in the code path)"));
    }
    let arities: Vec<String> = as_list(near)?
        .iter()
        .filter_map(|t| match as_tuple(t) {
            Some([_, a]) => as_integer(a).map(|a| a.to_string()),
            _ => None,
        })
        .collect();
    if arities.is_empty() {
        return None;
    }
    Some(format!(" ({shown} has {}/{} only)", as_atom(function).unwrap_or("?"), arities.join(", /")))
}

fn node_error(node: &str, reason: &Term, plan: &Plan) -> TraceError {
    let shown = |t: &Term| render_erlang(t, &Limits::default());
    if as_atom(reason) == Some("orbit_profile_running") {
        return TraceError::ProfileRunning { node: node.into() };
    }
    match as_tuple(reason) {
        Some([tag, owner]) if as_atom(tag) == Some("busy") => TraceError::Busy {
            node: node.into(),
            owner: as_atom(owner).map(str::to_string).unwrap_or_else(|| shown(owner)),
        },
        Some([tag, tracer]) if as_atom(tag) == Some("other_tracer") => {
            TraceError::OtherTracer { node: node.into(), tracer: shown(tracer) }
        }
        Some([tag, mfa, errors]) if as_atom(tag) == Some("bad_match_spec") => {
            let pattern =
                plan.calls.iter().find(|(_, m, _)| m == mfa).map(|(p, _, _)| p.clone()).unwrap_or_else(|| shown(mfa));
            let detail = as_list(errors)
                .map(|l| {
                    l.iter()
                        .map(|e| as_str(e).map(str::to_string).unwrap_or_else(|| shown(e)))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_else(|| shown(errors));
            TraceError::MatchSpec { pattern, detail }
        }
        _ => TraceError::Node { node: node.into(), detail: shown(reason) },
    }
}

/// Registers the clean-up, then starts the node's tracer; undoes both when the start fails.
async fn start_on_node(cluster: &Cluster, plan: &Plan, node: &str) -> Result<NodeStatus, TraceError> {
    let args = vec![Term::from(plan.id.clone()), plan.patterns()];
    cluster.register_cleanup(node, plan.cleanup_key(), "orbit_trace", "stop", args).await?;
    let reply = cluster.call(node, "orbit_trace", "start", vec![plan.opts()], plan.timeout).await;
    let result = match reply {
        Ok(r) => match as_tuple(&r) {
            Some([ok, info]) if as_atom(ok) == Some("ok") => Ok(started_status(plan, info)),
            Some([_, reason]) => Err(node_error(node, reason, plan)),
            _ => Err(TraceError::Node { node: node.into(), detail: render_erlang(&r, &Limits::default()) }),
        },
        Err(e) => Err(e.into()),
    };
    if result.is_err() {
        stop_on_node(cluster, plan, node).await;
    }
    result
}

fn started_status(plan: &Plan, info: &Term) -> NodeStatus {
    let matched = map_get_atom(info, "calls")
        .and_then(as_list)
        .map(|l| {
            l.iter()
                .zip(plan.calls.iter())
                .map(|(t, (p, _, _))| {
                    let n = as_tuple(t).and_then(|e| e.get(3)).and_then(as_integer).unwrap_or(0);
                    (p.clone(), n.max(0) as u64)
                })
                .collect()
        })
        .unwrap_or_default();
    let processes = map_get_atom(info, "procs").and_then(as_integer).unwrap_or(0).max(0) as u64;
    NodeStatus { running: true, matched, processes, events: 0, dropped: 0, stopped: None, error: None }
}

/// Stops the node's tracer of this session (its own clean-up: flags and patterns go) and drops the
/// registered clean-up. Errors are logged: the agent runs the clean-up anyway when Orbit goes.
async fn stop_on_node(cluster: &Cluster, plan: &Plan, node: &str) {
    let args = vec![Term::from(plan.id.clone()), plan.patterns()];
    if let Err(e) = cluster.call(node, "orbit_trace", "stop", args, plan.timeout.max(Duration::from_secs(15))).await {
        tracing::warn!("stopping the trace on {node}: {e}");
        return;
    }
    if let Err(e) = cluster.unregister_cleanup(node, plan.cleanup_key()).await {
        tracing::debug!("unregistering the trace clean-up on {node}: {e}");
    }
}

#[derive(Debug, Default)]
struct Shared {
    history: VecDeque<TraceEvent>,
    /// Events forgotten because the history was full.
    forgotten: u64,
    /// Events that arrived after the session's count limit was reached.
    dropped: u64,
    nodes: BTreeMap<String, NodeStatus>,
}

#[derive(Debug)]
enum Control {
    Stop,
}

enum Scope {
    AllNodes,
    Only(Vec<String>),
}

impl Scope {
    fn contains(&self, node: &str) -> bool {
        match self {
            Scope::AllNodes => true,
            Scope::Only(v) => v.iter().any(|n| n == node),
        }
    }
}

struct Collector {
    cluster: Cluster,
    plan: Arc<Plan>,
    events: broadcast::Receiver<ClusterEvent>,
    mailbox: Mailbox,
    scope: Scope,
    active: std::collections::BTreeSet<String>,
    shared: Arc<Mutex<Shared>>,
    updates: mpsc::Sender<TraceUpdate>,
    control: mpsc::UnboundedReceiver<Control>,
    done: watch::Sender<Option<StopReason>>,
    total: u64,
    /// Events per rate window (by event time), for the session-wide rate limit.
    buckets: BTreeMap<i64, u64>,
    pending_stop: Option<StopReason>,
    deadline: Option<tokio::time::Instant>,
}

impl Collector {
    async fn run(mut self) {
        loop {
            if let Some(reason) = self.pending_stop.clone() {
                self.finish(reason).await;
                return;
            }
            let deadline = self.deadline;
            tokio::select! {
                d = self.mailbox.recv() => match d {
                    Some(d) => self.delivery(d),
                    None => self.pending_stop = Some(StopReason::Stopped),
                },
                e = self.events.recv() => match e {
                    Ok(ClusterEvent::NodeUp { node }) => self.node_up(node).await,
                    Ok(ClusterEvent::NodeDown { node, reason }) => self.node_down(node, reason),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        self.pending_stop = Some(StopReason::Stopped)
                    }
                },
                c = self.control.recv() => match c {
                    Some(Control::Stop) | None => self.pending_stop = Some(StopReason::Stopped),
                },
                _ = async { tokio::time::sleep_until(deadline.unwrap()).await }, if deadline.is_some() => {
                    self.pending_stop = Some(StopReason::Duration);
                }
            }
        }
    }

    fn update(&self, u: TraceUpdate) {
        // A reader that fell behind loses queued batches, never the final word (it is also in `done`).
        let _ = self.updates.try_send(u);
    }

    fn delivery(&mut self, d: Delivery) {
        let Delivery::Message { body, .. } = d else { return };
        let Some(parts) = as_tuple(&body) else { return };
        match parts {
            [tag, id, node, _tracer, kind, rest @ ..] if as_atom(tag) == Some("orbit_trace") => {
                if *id != Term::from(self.plan.id.clone()) {
                    return;
                }
                let Some(node) = as_atom(node).map(str::to_string) else { return };
                match (as_atom(kind), rest) {
                    (Some("events"), [batch]) => self.batch(&node, batch),
                    (Some("stopped"), [reason, stats]) => self.node_stopped(&node, reason, stats),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn batch(&mut self, node: &str, batch: &Term) {
        let Some(items) = as_list(batch) else { return };
        let mut events: Vec<TraceEvent> = items.iter().filter_map(|t| decode_event(node, t)).collect();
        let received = events.len() as u64;
        if self.pending_stop.as_ref().is_some_and(StopReason::is_limit) {
            self.shared.lock().unwrap().dropped += received;
            return;
        }
        match self.plan.limit {
            Limit::Count(limit) => {
                let room = limit.saturating_sub(self.total) as usize;
                if events.len() >= room {
                    events.truncate(room);
                    self.pending_stop = Some(StopReason::CountLimit { limit, node: None });
                }
            }
            Limit::Rate { max, per } => {
                let window = (per.as_micros() as i64).max(1);
                for (i, e) in events.iter().enumerate() {
                    let n = self.buckets.entry(e.ts_us.div_euclid(window)).or_default();
                    *n += 1;
                    if *n > max {
                        self.pending_stop =
                            Some(StopReason::RateLimit { max, per_ms: per.as_millis() as u64, node: None });
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
        {
            let mut s = self.shared.lock().unwrap();
            s.dropped += received - events.len() as u64;
            if let Some(st) = s.nodes.get_mut(node) {
                st.events += events.len() as u64;
            }
            for e in &events {
                if s.history.len() >= HISTORY_MAX {
                    s.history.pop_front();
                    s.forgotten += 1;
                }
                s.history.push_back(e.clone());
            }
        }
        if !events.is_empty() {
            self.update(TraceUpdate::Events(events));
        }
    }

    fn node_stopped(&mut self, node: &str, reason: &Term, stats: &Term) {
        let reason = node_stop_reason(node, reason);
        let events = map_get_atom(stats, "events").and_then(as_integer).unwrap_or(0).max(0) as u64;
        let dropped = map_get_atom(stats, "dropped").and_then(as_integer).unwrap_or(0).max(0) as u64;
        let was_active = self.active.remove(node);
        {
            let mut s = self.shared.lock().unwrap();
            if let Some(st) = s.nodes.get_mut(node) {
                st.running = false;
                st.dropped = dropped;
                st.stopped = Some(reason.clone());
            }
        }
        if !was_active {
            return;
        }
        // The tracer cleaned up after itself; the agent's clean-up is no longer needed.
        let (cluster, plan, n) = (self.cluster.clone(), self.plan.clone(), node.to_string());
        tokio::spawn(async move {
            let _ = cluster.unregister_cleanup(&n, plan.cleanup_key()).await;
        });
        self.update(TraceUpdate::NodeStopped { node: node.into(), reason: reason.clone(), events, dropped });
        // A limit or the duration ends the whole session; so does a newer session of this Orbit taking
        // over; otherwise the session ends with its last tracer.
        let ends_session = reason.is_limit() || matches!(reason, StopReason::Duration | StopReason::Replaced { .. });
        if ends_session || self.active.is_empty() {
            self.pending_stop.get_or_insert(reason);
        }
    }

    fn node_down(&mut self, node: String, reason: String) {
        if !self.active.remove(&node) {
            return;
        }
        let why = StopReason::NodeDown { node: node.clone(), reason };
        if let Some(st) = self.shared.lock().unwrap().nodes.get_mut(&node) {
            st.running = false;
            st.stopped = Some(why.clone());
        }
        self.update(TraceUpdate::NodeStopped { node, reason: why, events: 0, dropped: 0 });
        if self.active.is_empty() && !matches!(self.scope, Scope::AllNodes) {
            self.pending_stop.get_or_insert(StopReason::NodesGone);
        }
    }

    async fn node_up(&mut self, node: String) {
        if self.pending_stop.is_some() || self.active.contains(&node) || !self.scope.contains(&node) {
            return;
        }
        match start_on_node(&self.cluster, &self.plan, &node).await {
            Ok(status) => {
                self.active.insert(node.clone());
                self.update(TraceUpdate::NodeStarted {
                    node: node.clone(),
                    matched: status.matched.clone(),
                    processes: status.processes,
                });
                self.shared.lock().unwrap().nodes.insert(node, status);
            }
            Err(e) => {
                let error = e.to_string();
                self.shared.lock().unwrap().nodes.insert(
                    node.clone(),
                    NodeStatus {
                        running: false,
                        matched: Vec::new(),
                        processes: 0,
                        events: 0,
                        dropped: 0,
                        stopped: None,
                        error: Some(error.clone()),
                    },
                );
                self.update(TraceUpdate::NodeFailed { node, error });
            }
        }
    }

    /// Stops every tracer still running, takes in what they sent last, and reports the end.
    async fn finish(mut self, reason: StopReason) {
        let active: Vec<String> = self.active.iter().cloned().collect();
        futures::future::join_all(active.iter().map(|n| stop_on_node(&self.cluster, &self.plan, n))).await;
        // Each tracer's last batch and its `stopped` came over the same connection before the reply to
        // `stop`, so they are in the mailbox now.
        while let Some(d) = self.mailbox.try_recv() {
            self.delivery(d);
        }
        {
            let mut s = self.shared.lock().unwrap();
            for n in &active {
                if let Some(st) = s.nodes.get_mut(n) {
                    st.running = false;
                    st.stopped.get_or_insert(reason.clone());
                }
            }
        }
        self.update(TraceUpdate::Stopped(reason.clone()));
        let _ = self.done.send(Some(reason));
    }
}

fn node_stop_reason(node: &str, reason: &Term) -> StopReason {
    let n = Some(node.to_string());
    match (as_atom(reason), as_tuple(reason)) {
        (Some("stopped"), _) | (Some("owner_down"), _) => StopReason::Stopped,
        (Some("duration"), _) => StopReason::Duration,
        (Some("replaced"), _) => StopReason::Replaced { node: node.into() },
        (_, Some([tag, limit])) if as_atom(tag) == Some("count") => {
            StopReason::CountLimit { limit: as_integer(limit).unwrap_or(0) as u64, node: n }
        }
        (_, Some([tag, max, ms])) if as_atom(tag) == Some("rate") => StopReason::RateLimit {
            max: as_integer(max).unwrap_or(0) as u64,
            per_ms: as_integer(ms).unwrap_or(0) as u64,
            node: n,
        },
        (_, Some([tag, q])) if as_atom(tag) == Some("overloaded") => {
            StopReason::Overloaded { node: node.into(), queued: as_integer(q).unwrap_or(0) as u64 }
        }
        _ => StopReason::Other { node: node.into(), detail: render_erlang(reason, &Limits::default()) },
    }
}

/// A running (or finished) trace session. Dropping it stops the trace on every node.
#[derive(Debug)]
pub struct TraceSession {
    id: Pid,
    syntax: Syntax,
    updates: mpsc::Receiver<TraceUpdate>,
    shared: Arc<Mutex<Shared>>,
    control: mpsc::UnboundedSender<Control>,
    done: watch::Receiver<Option<StopReason>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TraceSession {
    /// The session's id: the Orbit pid its tracers send to.
    pub fn id(&self) -> &Pid {
        &self.id
    }

    /// The syntax the patterns were written in, for rendering.
    pub fn syntax(&self) -> Syntax {
        self.syntax
    }

    /// The next update, live; `None` once [`TraceUpdate::Stopped`] was delivered.
    pub async fn next(&mut self) -> Option<TraceUpdate> {
        self.updates.recv().await
    }

    /// Stops the trace on every node (flags and patterns removed) and returns why the session ended
    /// (`Stopped`, or an earlier reason if it had ended already).
    pub async fn stop(&mut self) -> StopReason {
        let _ = self.control.send(Control::Stop);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.stop_reason().unwrap_or(StopReason::Stopped)
    }

    /// Waits until the session ends by itself (limit, duration, nodes gone) and returns why.
    pub async fn wait(&mut self) -> StopReason {
        loop {
            if let Some(r) = self.done.borrow_and_update().clone() {
                return r;
            }
            if self.done.changed().await.is_err() {
                return self.done.borrow().clone().unwrap_or(StopReason::Stopped);
            }
        }
    }

    pub fn is_running(&self) -> bool {
        self.done.borrow().is_none()
    }

    /// Why the session ended, once it has.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.done.borrow().clone()
    }

    /// Every node's part so far.
    pub fn nodes(&self) -> BTreeMap<String, NodeStatus> {
        self.shared.lock().unwrap().nodes.clone()
    }

    /// The events so far, in arrival order (per node, in the order its tracer saw them). At most
    /// [`HISTORY_MAX`]; see [`TraceSession::forgotten`].
    pub fn history(&self) -> Vec<TraceEvent> {
        self.shared.lock().unwrap().history.iter().cloned().collect()
    }

    /// Events the history no longer holds, and events dropped past the session's limit.
    pub fn forgotten(&self) -> (u64, u64) {
        let s = self.shared.lock().unwrap();
        (s.forgotten, s.dropped)
    }

    pub fn summary(&self) -> Summary {
        summarize(&self.history(), self.syntax)
    }

    pub fn flows(&self) -> Vec<MessageFlow> {
        match_messages(&self.history())
    }

    pub fn mermaid(&self) -> String {
        render::mermaid(&self.history(), self.syntax)
    }

    pub fn dot(&self) -> String {
        render::dot(&self.history(), self.syntax)
    }
}

impl Drop for TraceSession {
    fn drop(&mut self) {
        // The collector stops every tracer when its control channel closes.
        let _ = self.control.send(Control::Stop);
    }
}
