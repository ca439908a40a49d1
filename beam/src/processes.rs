//! Processes across the cluster: listing with filters, sorting and pages (the work is done on each node
//! by the agent's `orbit_procs`, which returns only the head of its own sorted list), one process in
//! detail (stacktrace, `:sys.get_state`, links and monitors), killing one, the graph of links and
//! monitors across nodes, and supervision trees.
//!
//! Pids are node-local: `#PID<0.123.0>` is shown from the point of view of the node the process lives on,
//! and the node is always given beside it.

use crate::cluster::{Cluster, NodeState};
use crate::rpc::RpcError;
use crate::term::{
    as_atom, as_integer, as_list, as_str, as_tuple, atom, binary, int, is_atom, map, map_get_atom, render_elixir,
    render_elixir_with, tuple, Limits, RenderContext,
};
use eetf::{Pid, Term};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

/// What processes are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    #[default]
    Memory,
    Reductions,
    MessageQueue,
}

impl SortBy {
    fn agent_key(self) -> &'static str {
        match self {
            SortBy::Memory => "memory",
            SortBy::Reductions => "reductions",
            SortBy::MessageQueue => "message_queue_len",
        }
    }

    fn key_of(self, p: &ProcessSummary) -> u64 {
        match self {
            SortBy::Memory => p.memory,
            SortBy::Reductions => p.reductions,
            SortBy::MessageQueue => p.message_queue_len,
        }
    }
}

impl std::str::FromStr for SortBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "memory" | "mem" => Ok(SortBy::Memory),
            "reductions" | "reds" => Ok(SortBy::Reductions),
            "queue" | "message_queue" | "message_queue_len" | "mailbox" => Ok(SortBy::MessageQueue),
            _ => Err(format!("unknown sort key {s:?}: use memory, reductions or queue")),
        }
    }
}

/// The process states `process_info(Pid, status)` reports.
pub const STATUSES: &[&str] = &["running", "runnable", "waiting", "suspended", "garbage_collecting", "exiting"];

/// A cluster-wide listing. Patterns are regular expressions (Erlang's `re`, unanchored).
#[derive(Debug, Clone, Default)]
pub struct ProcessQuery {
    /// Only these nodes; empty means every node that is up.
    pub nodes: Vec<String>,
    /// Matched against the registered name, as written in Erlang (`Elixir.Bank.Mailbox`) or Elixir
    /// (`Bank.Mailbox`); processes without a name never match.
    pub name: Option<String>,
    /// Matched against the module of the current function and of the initial call.
    pub module: Option<String>,
    /// Matched against the initial call as `mod:fun/arity` and `Mod.fun/arity` (for GenServers and other
    /// `proc_lib` processes, the call they were started with).
    pub initial_call: Option<String>,
    /// One of [`STATUSES`].
    pub status: Option<String>,
    pub min_queue: u64,
    pub sort: SortBy,
    /// Page size.
    pub limit: usize,
    /// Processes skipped before the page (page × limit).
    pub offset: usize,
}

/// The most that one listing may ask each node for (offset + limit).
pub const MAX_WINDOW: usize = 10_000;

/// `Mod.fun/arity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mfa {
    pub module: String,
    pub function: String,
    pub arity: u32,
}

impl Mfa {
    fn from_term(t: &Term) -> Option<Mfa> {
        match as_tuple(t)? {
            [m, f, a] => Some(Mfa {
                module: as_atom(m)?.to_string(),
                function: as_atom(f)?.to_string(),
                arity: match as_integer(a) {
                    Some(n) => u32::try_from(n).ok()?,
                    // {M, F, Args}
                    None => as_list(a)?.len() as u32,
                },
            }),
            _ => None,
        }
    }

    /// In Elixir syntax: `Bank.Account.handle_call/3`, `:gen_server.loop/7`.
    pub fn elixir(&self) -> String {
        let f = Term::from(eetf::ExternalFun::from((self.module.as_str(), self.function.as_str(), self.arity as u8)));
        let s = render_elixir(&f, &Limits::default());
        s.strip_prefix('&').unwrap_or(&s).to_string()
    }
}

impl std::fmt::Display for Mfa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.elixir())
    }
}

/// One process in brief.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessSummary {
    pub node: String,
    /// `#PID<0.123.0>`, from the point of view of `node`.
    pub pid: String,
    #[serde(skip)]
    pub pid_term: Option<Pid>,
    /// In Elixir syntax: `Bank.Mailbox`, `:code_server`.
    pub registered_name: Option<String>,
    /// Its process label (`:proc_lib.set_label/1`, `Process.set_label/1`; OTP 27+) in Elixir syntax:
    /// `{Bank.Account, "acc-1"}`. `label` in JSON.
    #[serde(rename = "label")]
    pub process_label: Option<String>,
    pub memory: u64,
    pub reductions: u64,
    pub message_queue_len: u64,
    pub status: String,
    pub current_function: Option<Mfa>,
    pub initial_call: Option<Mfa>,
}

impl ProcessSummary {
    /// From the map `orbit_procs:summary/1` returns.
    pub(crate) fn from_term(node: &str, t: &Term) -> Option<ProcessSummary> {
        let pid = match map_get_atom(t, "pid")? {
            Term::Pid(p) => p.clone(),
            _ => return None,
        };
        let u = |k: &str| map_get_atom(t, k).and_then(as_integer).map(|v| v.max(0) as u64).unwrap_or(0);
        Some(ProcessSummary {
            node: node.to_string(),
            pid: local_pid_text(&pid),
            pid_term: Some(pid),
            registered_name: map_get_atom(t, "registered_name").and_then(name_text),
            process_label: map_get_atom(t, "label").and_then(label_text),
            memory: u("memory"),
            reductions: u("reductions"),
            message_queue_len: u("message_queue_len"),
            status: map_get_atom(t, "status").and_then(as_atom).unwrap_or("unknown").to_string(),
            current_function: map_get_atom(t, "current_function").and_then(Mfa::from_term),
            initial_call: map_get_atom(t, "initial_call").and_then(Mfa::from_term),
        })
    }

    /// The name and process label if it has either (see [`process_name`]), else the initial call, else
    /// the pid.
    pub fn label(&self) -> String {
        if let Some(n) = process_name(self.registered_name.as_deref(), self.process_label.as_deref()) {
            return n;
        }
        match &self.initial_call {
            Some(m) => m.elixir(),
            None => self.pid.clone(),
        }
    }
}

/// How Orbit names a process besides its pid: its registered name, its process label (OTP 27+), both
/// (`Bank.Mailbox {:worker, 3}`), or `None`.
pub fn process_name(registered_name: Option<&str>, label: Option<&str>) -> Option<String> {
    match (registered_name, label) {
        (Some(n), Some(l)) => Some(format!("{n} {l}")),
        (Some(n), None) => Some(n.to_string()),
        (None, Some(l)) => Some(l.to_string()),
        (None, None) => None,
    }
}

/// A registered name in Elixir syntax; `undefined` (no name) gives `None`.
fn name_text(t: &Term) -> Option<String> {
    match as_atom(t)? {
        "undefined" => None,
        _ => Some(render_elixir(t, &Limits::default())),
    }
}

/// A process label (any term) in Elixir syntax, cut as other terms are; `undefined` (none) gives `None`.
pub fn label_text(t: &Term) -> Option<String> {
    if is_atom(t, "undefined") {
        return None;
    }
    Some(render_elixir(t, &Limits::default()))
}

/// `#PID<0.123.0>`: a pid as its own node prints it.
pub fn local_pid_text(pid: &Pid) -> String {
    let ctx = RenderContext { local_node: Some(pid.node.name.clone()), ..RenderContext::new(Limits::default()) };
    render_elixir_with(&Term::from(pid.clone()), &ctx)
}

/// A process, port or name that something refers to, with its node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ProcessRef {
    pub node: String,
    /// `#PID<0.123.0>`, `#Port<0.5>` or a registered name, from the point of view of `node`.
    pub id: String,
}

impl ProcessRef {
    fn from_term(t: &Term) -> Option<ProcessRef> {
        match t {
            Term::Pid(p) => Some(ProcessRef { node: p.node.name.clone(), id: local_pid_text(p) }),
            Term::Port(p) => {
                let ctx =
                    RenderContext { local_node: Some(p.node.name.clone()), ..RenderContext::new(Limits::default()) };
                Some(ProcessRef { node: p.node.name.clone(), id: render_elixir_with(t, &ctx) })
            }
            // {Name, Node} of a monitor by name
            Term::Tuple(tu) => match tu.elements.as_slice() {
                [name, node] => {
                    Some(ProcessRef { node: as_atom(node)?.to_string(), id: render_elixir(name, &Limits::default()) })
                }
                _ => None,
            },
            _ => None,
        }
    }
}

impl std::fmt::Display for ProcessRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.id, self.node)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProcessError {
    #[error("{node} is not a node of this cluster{}", known_text(.known))]
    UnknownNode { node: String, known: Vec<String> },
    #[error("{node} is down: {reason}")]
    NodeDown { node: String, reason: String },
    #[error("bad {which} pattern {pattern:?}: {reason}")]
    BadPattern { which: String, pattern: String, reason: String },
    #[error("unknown process status {status:?}: use one of {}", STATUSES.join(", "))]
    BadStatus { status: String },
    #[error("{0}")]
    BadPid(String),
    #[error("no process {pid} on {node} (it may have exited)")]
    NoProcess { node: String, pid: String },
    #[error("no process is registered as {name} on {node}")]
    NotRegistered { node: String, name: String },
    #[error("{target} is neither a running application nor a registered process on {}", .nodes.join(", "))]
    UnknownTarget { target: String, nodes: Vec<String> },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Rpc(Box<RpcError>),
    #[error("{node}: unexpected answer from orbit_procs: {detail}")]
    Shape { node: String, detail: String },
    #[error(transparent)]
    ReadOnly(#[from] crate::read_only::Refused),
}

impl From<RpcError> for ProcessError {
    fn from(e: RpcError) -> Self {
        ProcessError::Rpc(Box::new(e))
    }
}

fn known_text(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (known: {})", known.join(", "))
    }
}

fn shape(node: &str, t: &Term) -> ProcessError {
    ProcessError::Shape { node: node.to_string(), detail: crate::term::render_erlang(t, &Limits::default()) }
}

/// Checks that `node` is a member that is up.
pub fn check_node(cluster: &Cluster, node: &str) -> Result<(), ProcessError> {
    let nodes = cluster.nodes();
    match nodes.iter().find(|(n, _)| n == node) {
        Some((_, NodeState::Up)) => Ok(()),
        Some((_, NodeState::Down { reason })) => {
            Err(ProcessError::NodeDown { node: node.to_string(), reason: reason.clone() })
        }
        Some((_, NodeState::Connecting)) => {
            Err(ProcessError::NodeDown { node: node.to_string(), reason: "not connected yet".into() })
        }
        None => Err(ProcessError::UnknownNode {
            node: node.to_string(),
            known: nodes.into_iter().map(|(n, _)| n).collect(),
        }),
    }
}

/// One page of a cluster-wide listing.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessPage {
    pub processes: Vec<ProcessSummary>,
    /// Processes that matched, on the nodes that answered.
    pub total: u64,
    pub offset: usize,
    pub limit: usize,
    pub sort: SortBy,
    /// Matching processes per node.
    pub per_node: BTreeMap<String, u64>,
    /// Nodes that did not answer, and why.
    pub errors: BTreeMap<String, String>,
}

/// Lists processes across the cluster. Each node sorts its own processes and sends the first
/// `offset + limit`; Orbit merges those and cuts the page.
pub async fn list(cluster: &Cluster, query: &ProcessQuery, timeout: Duration) -> Result<ProcessPage, ProcessError> {
    if let Some(s) = &query.status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ProcessError::BadStatus { status: s.clone() });
        }
    }
    let limit = query.limit.max(1);
    let window = query.offset.saturating_add(limit);
    if window > MAX_WINDOW {
        return Err(ProcessError::Invalid(format!(
            "page too far: offset {} + limit {limit} exceeds {MAX_WINDOW}; narrow the filters instead",
            query.offset
        )));
    }
    let nodes = if query.nodes.is_empty() {
        cluster.up_nodes()
    } else {
        for n in &query.nodes {
            check_node(cluster, n)?;
        }
        query.nodes.clone()
    };
    let mut opts = vec![
        (atom("sort"), atom(query.sort.agent_key())),
        (atom("limit"), int(window as i64)),
        (atom("min_queue"), int(query.min_queue.min(i64::MAX as u64) as i64)),
    ];
    for (key, value) in [
        ("name", &query.name),
        ("module", &query.module),
        ("initial_call", &query.initial_call),
        ("status", &query.status),
    ] {
        if let Some(v) = value {
            opts.push((atom(key), binary(v.as_bytes())));
        }
    }
    let opts = map(opts);
    let answers = futures::future::join_all(nodes.iter().map(|n| {
        let opts = opts.clone();
        async move { (n.clone(), cluster.call(n, "orbit_procs", "list", vec![opts], timeout).await) }
    }))
    .await;

    let mut all = Vec::new();
    let mut per_node = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for (node, answer) in answers {
        let t = match answer {
            Ok(t) => t,
            Err(e) => {
                errors.insert(node, e.to_string());
                continue;
            }
        };
        match as_tuple(&t) {
            Some([ok, m]) if is_atom(ok, "ok") => {
                let total = map_get_atom(m, "total").and_then(as_integer).unwrap_or(0).max(0) as u64;
                per_node.insert(node.clone(), total);
                let procs = map_get_atom(m, "processes").and_then(as_list).ok_or_else(|| shape(&node, &t))?;
                for p in procs.iter() {
                    all.push(ProcessSummary::from_term(&node, p).ok_or_else(|| shape(&node, p))?);
                }
            }
            Some([err, reason]) if is_atom(err, "error") => return Err(list_error(&node, reason)),
            _ => return Err(shape(&node, &t)),
        }
    }
    if per_node.is_empty() && !errors.is_empty() {
        let (node, e) = errors.into_iter().next().unwrap();
        return Err(ProcessError::Invalid(format!("no node answered; {node}: {e}")));
    }
    sort_merged(&mut all, query.sort);
    let processes = all.into_iter().skip(query.offset).take(limit).collect();
    Ok(ProcessPage {
        processes,
        total: per_node.values().sum(),
        offset: query.offset,
        limit,
        sort: query.sort,
        per_node,
        errors,
    })
}

/// Descending by the key; ties by node, then pid, so pages are stable.
fn sort_merged(all: &mut [ProcessSummary], sort: SortBy) {
    all.sort_by(|a, b| {
        sort.key_of(b).cmp(&sort.key_of(a)).then_with(|| a.node.cmp(&b.node)).then_with(|| {
            let k = |p: &ProcessSummary| p.pid_term.as_ref().map(|p| (p.serial, p.id));
            k(a).cmp(&k(b))
        })
    });
}

fn list_error(node: &str, reason: &Term) -> ProcessError {
    match as_tuple(reason) {
        Some([tag, which, pattern, why]) if is_atom(tag, "bad_pattern") => {
            let why = match as_tuple(why) {
                Some([text, pos]) => format!(
                    "{} at position {}",
                    as_str(text).unwrap_or("invalid"),
                    as_integer(pos).map(|p| p.to_string()).unwrap_or_default()
                ),
                _ => render_elixir(why, &Limits::default()),
            };
            ProcessError::BadPattern {
                which: as_atom(which).unwrap_or("?").replace('_', " "),
                pattern: as_str(pattern).unwrap_or("?").to_string(),
                reason: why,
            }
        }
        Some([tag, status]) if is_atom(tag, "bad_status") => {
            ProcessError::BadStatus { status: as_str(status).unwrap_or("?").to_string() }
        }
        _ => shape(node, reason),
    }
}

/// How a process is named on the command line: a node-local pid or a registered name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessSpec {
    /// `<0.123.0>`
    Pid(String),
    /// A registered name as the user wrote it (`Bank.Mailbox`, `rex`; a leading `:` is dropped).
    Name(String),
}

impl ProcessSpec {
    /// Accepts `#PID<0.123.0>`, `<0.123.0>`, `0.123.0`, or a registered name.
    pub fn parse(text: &str) -> Result<ProcessSpec, ProcessError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(ProcessError::BadPid(
                "no process given: use a pid such as <0.123.0> or a registered name".into(),
            ));
        }
        let inner = t.strip_prefix("#PID").unwrap_or(t);
        let looks_like_pid =
            inner.starts_with('<') || inner.chars().next().is_some_and(|c| c.is_ascii_digit()) || t.starts_with("#PID");
        if !looks_like_pid {
            let name = t.strip_prefix(':').unwrap_or(t);
            let valid = !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '<' || c == '>');
            if !valid {
                return Err(ProcessError::BadPid(format!(
                    "{text:?} is neither a pid (<0.123.0>) nor a registered name"
                )));
            }
            return Ok(ProcessSpec::Name(name.to_string()));
        }
        let body = inner.strip_prefix('<').map(|s| s.strip_suffix('>')).unwrap_or(Some(inner));
        let bad = || {
            ProcessError::BadPid(format!("{text:?} is not a pid: write it as <0.123.0> (node-local) and name the node"))
        };
        let body = body.ok_or_else(bad)?;
        let parts: Vec<&str> = body.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
            return Err(bad());
        }
        let nums: Vec<u64> = parts.iter().map(|p| p.parse::<u64>()).collect::<Result<_, _>>().map_err(|_| bad())?;
        if nums[0] != 0 {
            return Err(ProcessError::BadPid(format!(
                "{text:?} is numbered from another node's point of view ({} is that node's index there); give the \
                 pid as its own node shows it, <0.{}.{}>, with that node",
                nums[0], nums[1], nums[2]
            )));
        }
        if nums[1] > 0x7fff || nums[2] > 0x1fff {
            return Err(ProcessError::BadPid(format!("{text:?} is out of range for a pid")));
        }
        Ok(ProcessSpec::Pid(format!("<0.{}.{}>", nums[1], nums[2])))
    }

    fn text(&self) -> &str {
        match self {
            ProcessSpec::Pid(p) | ProcessSpec::Name(p) => p,
        }
    }
}

/// Finds the process on `node`.
pub async fn resolve(
    cluster: &Cluster,
    node: &str,
    spec: &ProcessSpec,
    timeout: Duration,
) -> Result<Pid, ProcessError> {
    check_node(cluster, node)?;
    let t = cluster.call(node, "orbit_procs", "resolve", vec![binary(spec.text().as_bytes())], timeout).await?;
    match as_tuple(&t) {
        Some([ok, Term::Pid(p)]) if is_atom(ok, "ok") => Ok(p.clone()),
        Some([err, reason]) if is_atom(err, "error") => Err(match as_tuple(reason) {
            Some([tag, _]) if is_atom(tag, "noproc") => {
                ProcessError::NoProcess { node: node.to_string(), pid: format!("#PID{}", spec.text()) }
            }
            Some([tag, _]) if is_atom(tag, "not_registered") => {
                ProcessError::NotRegistered { node: node.to_string(), name: spec.text().to_string() }
            }
            Some([tag, _]) if is_atom(tag, "bad_pid") || is_atom(tag, "not_local") => {
                ProcessError::BadPid(format!("{} is not a pid on {node}", spec.text()))
            }
            _ => shape(node, &t),
        }),
        _ => Err(shape(node, &t)),
    }
}

/// One frame of a stacktrace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackFrame {
    pub function: Mfa,
    pub file: Option<String>,
    pub line: Option<u32>,
}

impl std::fmt::Display for StackFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.function)?;
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, " ({file}:{line})"),
            (Some(file), None) => write!(f, " ({file})"),
            _ => Ok(()),
        }
    }
}

/// What came of asking for the state or the queued messages.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Fetched {
    /// Rendered in Elixir syntax.
    Value {
        value: String,
        #[serde(skip)]
        term: Option<Term>,
    },
    Skipped,
    Unavailable {
        reason: String,
    },
}

/// One process in detail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessInfo {
    pub node: String,
    pub pid: String,
    #[serde(skip)]
    pub pid_term: Option<Pid>,
    pub registered_name: Option<String>,
    /// Its process label (OTP 27+) in Elixir syntax; `label` in JSON.
    #[serde(rename = "label")]
    pub process_label: Option<String>,
    pub status: String,
    pub message_queue_len: u64,
    pub memory: u64,
    pub heap_size: u64,
    pub total_heap_size: u64,
    pub stack_size: u64,
    pub reductions: u64,
    pub trap_exit: bool,
    pub priority: String,
    pub group_leader: Option<ProcessRef>,
    pub current_function: Option<Mfa>,
    pub initial_call: Option<Mfa>,
    pub stacktrace: Vec<StackFrame>,
    pub links: Vec<ProcessRef>,
    pub monitors: Vec<ProcessRef>,
    pub monitored_by: Vec<ProcessRef>,
    pub ancestors: Vec<String>,
    /// Started through `proc_lib` (GenServer, Supervisor, Task…), so `:sys.get_state` applies.
    pub otp: bool,
    pub messages: Fetched,
    pub state: Fetched,
}

/// How much `info` fetches.
#[derive(Debug, Clone, Copy)]
pub struct InfoOptions {
    /// `:sys.get_state` bound; zero skips the state.
    pub state_timeout: Duration,
    /// Show the queued messages when there are at most this many (zero: never).
    pub max_messages: usize,
}

impl Default for InfoOptions {
    fn default() -> Self {
        InfoOptions { state_timeout: Duration::from_secs(5), max_messages: 20 }
    }
}

/// Everything about one process: info, stacktrace with files and lines, state, links and monitors.
pub async fn info(
    cluster: &Cluster,
    node: &str,
    spec: &ProcessSpec,
    options: InfoOptions,
    timeout: Duration,
) -> Result<ProcessInfo, ProcessError> {
    let pid = resolve(cluster, node, spec, timeout).await?;
    let opts = map(vec![
        (atom("state_timeout"), int(options.state_timeout.as_millis().min(600_000) as i64)),
        (atom("messages"), int(options.max_messages.min(10_000) as i64)),
    ]);
    let t = cluster
        .call(node, "orbit_procs", "info", vec![Term::from(pid.clone()), opts], timeout + options.state_timeout)
        .await?;
    match as_tuple(&t) {
        Some([ok, m]) if is_atom(ok, "ok") => parse_info(node, &pid, m).ok_or_else(|| shape(node, &t)),
        Some([err, _]) if is_atom(err, "error") => {
            Err(ProcessError::NoProcess { node: node.to_string(), pid: local_pid_text(&pid) })
        }
        _ => Err(shape(node, &t)),
    }
}

fn parse_info(node: &str, pid: &Pid, m: &Term) -> Option<ProcessInfo> {
    let u = |k: &str| map_get_atom(m, k).and_then(as_integer).map(|v| v.max(0) as u64).unwrap_or(0);
    let refs = |k: &str| -> Vec<ProcessRef> {
        map_get_atom(m, k)
            .and_then(as_list)
            .map(|l| {
                l.iter()
                    .filter_map(|t| match as_tuple(t) {
                        // monitors as process_info gives them: {process, Pid} / {port, Port}
                        Some([kind, inner]) if is_atom(kind, "process") || is_atom(kind, "port") => {
                            ProcessRef::from_term(inner)
                        }
                        _ => ProcessRef::from_term(t),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let stacktrace = map_get_atom(m, "current_stacktrace")
        .and_then(as_list)
        .map(|l| l.iter().filter_map(stack_frame).collect())
        .unwrap_or_default();
    Some(ProcessInfo {
        node: node.to_string(),
        pid: local_pid_text(pid),
        pid_term: Some(pid.clone()),
        registered_name: map_get_atom(m, "registered_name").and_then(name_text),
        process_label: map_get_atom(m, "label").and_then(label_text),
        status: map_get_atom(m, "status").and_then(as_atom).unwrap_or("unknown").to_string(),
        message_queue_len: u("message_queue_len"),
        memory: u("memory"),
        heap_size: u("heap_size"),
        total_heap_size: u("total_heap_size"),
        stack_size: u("stack_size"),
        reductions: u("reductions"),
        trap_exit: map_get_atom(m, "trap_exit").is_some_and(|t| is_atom(t, "true")),
        priority: map_get_atom(m, "priority").and_then(as_atom).unwrap_or("normal").to_string(),
        group_leader: map_get_atom(m, "group_leader").and_then(ProcessRef::from_term),
        current_function: map_get_atom(m, "current_function").and_then(Mfa::from_term),
        initial_call: map_get_atom(m, "initial_call").and_then(Mfa::from_term),
        stacktrace,
        links: refs("links"),
        monitors: refs("monitors"),
        monitored_by: refs("monitored_by"),
        ancestors: map_get_atom(m, "ancestors")
            .and_then(as_list)
            .map(|l| {
                l.iter()
                    .map(|a| match a {
                        Term::Pid(p) => local_pid_text(p),
                        other => render_elixir(other, &Limits::default()),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        otp: map_get_atom(m, "otp").is_some_and(|t| is_atom(t, "true")),
        messages: fetched(map_get_atom(m, "messages"), node),
        state: fetched(map_get_atom(m, "state"), node),
    })
}

fn stack_frame(t: &Term) -> Option<StackFrame> {
    let [m, f, a, loc] = as_tuple(t)? else { return None };
    let function = Mfa::from_term(&tuple(vec![m.clone(), f.clone(), a.clone()]))?;
    let file = crate::term::proplist_get(loc, "file").and_then(|f| match f {
        Term::ByteList(b) => Some(String::from_utf8_lossy(&b.bytes).into_owned()),
        other => as_str(other).map(str::to_string).or_else(|| {
            as_list(other)
                .map(|l| l.iter().filter_map(|c| as_integer(c).and_then(|c| char::from_u32(c as u32))).collect())
        }),
    });
    let line = crate::term::proplist_get(loc, "line").and_then(as_integer).and_then(|l| u32::try_from(l).ok());
    Some(StackFrame { function, file, line })
}

/// `{ok, Term}` / `skipped` / `{error, Reason}` / `{too_many, N}`, rendered from the process's node.
fn fetched(t: Option<&Term>, node: &str) -> Fetched {
    let Some(t) = t else { return Fetched::Skipped };
    if is_atom(t, "skipped") {
        return Fetched::Skipped;
    }
    let ctx = RenderContext { local_node: Some(node.to_string()), ..RenderContext::new(Limits::default()) };
    match as_tuple(t) {
        Some([ok, v]) if is_atom(ok, "ok") => {
            Fetched::Value { value: render_elixir_with(v, &ctx), term: Some(v.clone()) }
        }
        Some([tag, n]) if is_atom(tag, "too_many") => {
            Fetched::Unavailable { reason: format!("{} messages queued; not copied", as_integer(n).unwrap_or(0)) }
        }
        Some([err, reason]) if is_atom(err, "error") => Fetched::Unavailable {
            reason: match as_atom(reason) {
                Some("timeout") => "the process did not answer :sys.get_state in time".into(),
                Some("not_otp") => "not an OTP process (no :sys.get_state)".into(),
                Some("noproc") => "the process exited".into(),
                _ => render_elixir_with(reason, &ctx),
            },
        },
        _ => Fetched::Unavailable { reason: render_elixir_with(t, &ctx) },
    }
}

/// What became of a process that was sent an exit signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum KillOutcome {
    /// It exited, with this reason (Elixir syntax).
    Exited { reason: String },
    /// Still alive after the wait: it traps exits, or the reason was `:normal`.
    StillAlive,
}

/// `Process.exit(pid, reason)` on the process's node, then waits up to `wait` for it to go.
pub async fn kill(
    cluster: &Cluster,
    node: &str,
    spec: &ProcessSpec,
    reason: Term,
    wait: Duration,
    timeout: Duration,
) -> Result<KillOutcome, ProcessError> {
    let target = match spec {
        ProcessSpec::Pid(p) => format!("{p} on {node}"),
        ProcessSpec::Name(n) => format!("{n} on {node}"),
    };
    cluster.refuse(crate::read_only::Change::Kill { process: &target })?;
    let pid = resolve(cluster, node, spec, timeout).await?;
    let args = vec![Term::from(pid.clone()), reason, int(wait.as_millis().min(600_000) as i64)];
    let t = cluster.call(node, "orbit_procs", "kill", args, timeout + wait).await?;
    match as_tuple(&t) {
        Some([ok, outcome]) if is_atom(ok, "ok") => match as_tuple(outcome) {
            Some([tag, why]) if is_atom(tag, "exited") => {
                Ok(KillOutcome::Exited { reason: render_elixir(why, &Limits::default()) })
            }
            _ if is_atom(outcome, "still_alive") => Ok(KillOutcome::StillAlive),
            _ => Err(shape(node, &t)),
        },
        Some([err, _]) if is_atom(err, "error") => {
            Err(ProcessError::NoProcess { node: node.to_string(), pid: local_pid_text(&pid) })
        }
        _ => Err(shape(node, &t)),
    }
}

/// Parses an exit reason as written on the command line: an atom (`kill`, `:shutdown`, `normal`) or
/// `{:shutdown, atom}`.
pub fn parse_reason(text: &str) -> Result<Term, ProcessError> {
    let t = text.trim();
    let atom_of = |s: &str| -> Option<Term> {
        let s = s.trim().strip_prefix(':').unwrap_or(s.trim());
        let ok = !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '@');
        ok.then(|| atom(s))
    };
    if let Some(inner) = t.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        let parts: Vec<Term> = inner.split(',').map(atom_of).collect::<Option<_>>().ok_or_else(|| bad_reason(text))?;
        return Ok(tuple(parts));
    }
    atom_of(t).ok_or_else(|| bad_reason(text))
}

fn bad_reason(text: &str) -> ProcessError {
    ProcessError::Invalid(format!(
        "bad exit reason {text:?}: give an atom such as kill, shutdown or {{:shutdown, :why}}"
    ))
}

/// How one process is tied to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// Undirected.
    Link,
    /// `from` monitors `to`.
    Monitor,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct GraphEdge {
    pub from: ProcessRef,
    pub to: ProcessRef,
    pub kind: EdgeKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphVertex {
    #[serde(flatten)]
    pub process: ProcessRef,
    pub registered_name: Option<String>,
    /// Hops from the root.
    pub distance: usize,
    /// Its neighbours were not looked up (depth or size limit, a port, a node Orbit cannot reach).
    pub unexpanded: bool,
}

/// Links and monitors around one process, followed across nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessGraph {
    pub root: ProcessRef,
    pub vertices: Vec<GraphVertex>,
    pub edges: Vec<GraphEdge>,
    /// The size limit cut the walk short.
    pub truncated: bool,
}

/// Walks links and monitors from a process up to `depth` hops, asking each process's own node about it,
/// and stops after `max_vertices` processes.
pub async fn graph(
    cluster: &Cluster,
    node: &str,
    spec: &ProcessSpec,
    depth: usize,
    max_vertices: usize,
    timeout: Duration,
) -> Result<ProcessGraph, ProcessError> {
    let root_pid = resolve(cluster, node, spec, timeout).await?;
    let root = ProcessRef::from_term(&Term::from(root_pid.clone())).expect("a pid");
    let up: BTreeSet<String> = cluster.up_nodes().into_iter().collect();
    let mut vertices: BTreeMap<ProcessRef, GraphVertex> = BTreeMap::new();
    let mut edges: BTreeSet<GraphEdge> = BTreeSet::new();
    let mut truncated = false;
    vertices.insert(
        root.clone(),
        GraphVertex { process: root.clone(), registered_name: None, distance: 0, unexpanded: true },
    );
    let mut frontier: VecDeque<(Pid, usize)> = VecDeque::from([(root_pid, 0)]);
    while !frontier.is_empty() {
        // One round per distance: every pid at this distance, grouped by node, one call per node.
        let dist = frontier.front().map(|(_, d)| *d).unwrap_or(0);
        let mut by_node: HashMap<String, Vec<Pid>> = HashMap::new();
        while frontier.front().is_some_and(|(_, d)| *d == dist) {
            let (p, _) = frontier.pop_front().unwrap();
            by_node.entry(p.node.name.clone()).or_default().push(p);
        }
        let answers = futures::future::join_all(by_node.into_iter().map(|(n, pids)| async move {
            let arg = crate::term::list(pids.into_iter().map(Term::from).collect());
            let r = cluster.call(&n, "orbit_procs", "neighbours", vec![arg], timeout).await;
            (n, r)
        }))
        .await;
        for (n, answer) in answers {
            let answer = answer?;
            for entry in as_list(&answer).ok_or_else(|| shape(&n, &answer))?.iter() {
                let Some([Term::Pid(p), info]) = as_tuple(entry) else { continue };
                let me = ProcessRef::from_term(&Term::from(p.clone())).expect("a pid");
                if let Some(v) = vertices.get_mut(&me) {
                    v.unexpanded = false;
                    v.registered_name = map_get_atom(info, "registered_name").and_then(name_text);
                }
                let mut add = |other: &Term, kind: EdgeKind, outgoing: bool| {
                    let Some(o) = ProcessRef::from_term(other) else { return };
                    // Past the depth, only ties between processes already in the graph are kept.
                    if dist >= depth && !vertices.contains_key(&o) {
                        return;
                    }
                    let edge = match (kind, outgoing) {
                        (EdgeKind::Link, _) => {
                            let (a, b) = if me <= o { (me.clone(), o.clone()) } else { (o.clone(), me.clone()) };
                            GraphEdge { from: a, to: b, kind }
                        }
                        (_, true) => GraphEdge { from: me.clone(), to: o.clone(), kind },
                        (_, false) => GraphEdge { from: o.clone(), to: me.clone(), kind },
                    };
                    edges.insert(edge);
                    if vertices.contains_key(&o) {
                        return;
                    }
                    if vertices.len() >= max_vertices {
                        truncated = true;
                        return;
                    }
                    vertices.insert(
                        o.clone(),
                        GraphVertex { process: o.clone(), registered_name: None, distance: dist + 1, unexpanded: true },
                    );
                    if let Term::Pid(op) = other {
                        if dist < depth && up.contains(&op.node.name) {
                            frontier.push_back((op.clone(), dist + 1));
                        }
                    }
                };
                for l in map_get_atom(info, "links").and_then(as_list).unwrap_or_default().iter() {
                    add(l, EdgeKind::Link, true);
                }
                for l in map_get_atom(info, "monitors").and_then(as_list).unwrap_or_default().iter() {
                    add(l, EdgeKind::Monitor, true);
                }
                for l in map_get_atom(info, "monitored_by").and_then(as_list).unwrap_or_default().iter() {
                    add(l, EdgeKind::Monitor, false);
                }
            }
        }
        if dist >= depth {
            break;
        }
    }
    // Edges only between kept vertices.
    let edges: Vec<GraphEdge> =
        edges.into_iter().filter(|e| vertices.contains_key(&e.from) && vertices.contains_key(&e.to)).collect();
    let mut vertices: Vec<GraphVertex> = vertices.into_values().collect();
    vertices.sort_by(|a, b| a.distance.cmp(&b.distance).then_with(|| a.process.cmp(&b.process)));
    Ok(ProcessGraph { root, vertices, edges, truncated })
}

/// One supervisor or worker in a supervision tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupervisionNode {
    pub node: String,
    /// `#PID<0.1.0>`, or `:restarting` / `:undefined` for a child that is not running.
    pub pid: String,
    pub registered_name: Option<String>,
    /// The child id in its supervisor, Elixir syntax.
    pub id: Option<String>,
    /// `supervisor` or `worker`.
    pub kind: String,
    pub modules: Vec<String>,
    pub children: Vec<SupervisionNode>,
    /// Children not shown (a supervisor with very many).
    pub more: u64,
    pub application: Option<String>,
    /// Why the children could not be listed.
    pub error: Option<String>,
    #[serde(skip)]
    pub pid_term: Option<Pid>,
    /// Lives on another node than its supervisor, and was not looked at there yet.
    #[serde(skip)]
    remote: bool,
}

/// The supervision tree of an application (`bank`, `:bank`) or of a registered supervisor
/// (`Bank.Supervisor`), on each of `nodes` (every node that is up when empty). A child that lives on
/// another node is expanded there. Nodes where the target does not exist are left out; when it exists
/// nowhere, that is an error.
pub async fn supervision_tree(
    cluster: &Cluster,
    target: &str,
    nodes: &[String],
    depth: usize,
    timeout: Duration,
) -> Result<Vec<SupervisionNode>, ProcessError> {
    let target = target.trim();
    if target.is_empty() {
        return Err(ProcessError::Invalid("name an application or a supervisor".into()));
    }
    let nodes = if nodes.is_empty() {
        cluster.up_nodes()
    } else {
        for n in nodes {
            check_node(cluster, n)?;
        }
        nodes.to_vec()
    };
    let spec = match ProcessSpec::parse(target)? {
        ProcessSpec::Pid(p) => p,
        ProcessSpec::Name(n) => n,
    };
    let depth_term = int(depth.min(1000) as i64);
    let answers = futures::future::join_all(nodes.iter().map(|n| {
        let arg = if spec.starts_with('<') { None } else { Some(tuple(vec![atom("name"), binary(spec.as_bytes())])) };
        let depth_term = depth_term.clone();
        let spec = spec.clone();
        async move {
            let arg = match arg {
                Some(a) => a,
                None => {
                    let pid = resolve(cluster, n, &ProcessSpec::Pid(spec), timeout).await?;
                    tuple(vec![atom("pid"), Term::from(pid)])
                }
            };
            let t = cluster.call(n, "orbit_procs", "sup_tree", vec![arg, depth_term], timeout).await?;
            Ok::<_, ProcessError>((n.clone(), t))
        }
    }))
    .await;
    let mut trees = Vec::new();
    let mut first_error = None;
    for answer in answers {
        let (node, t) = match answer {
            Ok(x) => x,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        match as_tuple(&t) {
            Some([ok, tree]) if is_atom(ok, "ok") => {
                let mut tree = parse_sup(&node, tree).ok_or_else(|| shape(&node, &t))?;
                expand_remote(cluster, &mut tree, depth, timeout).await;
                trees.push(tree);
            }
            Some([err, _]) if is_atom(err, "error") => {}
            _ => return Err(shape(&node, &t)),
        }
    }
    if trees.is_empty() {
        return Err(first_error.unwrap_or(ProcessError::UnknownTarget { target: target.to_string(), nodes }));
    }
    Ok(trees)
}

fn parse_sup(node: &str, t: &Term) -> Option<SupervisionNode> {
    let pid_t = map_get_atom(t, "pid")?;
    let (node, pid, pid_term) = match pid_t {
        Term::Pid(p) => (p.node.name.clone(), local_pid_text(p), Some(p.clone())),
        other => (node.to_string(), render_elixir(other, &Limits::default()), None),
    };
    let id = map_get_atom(t, "id").filter(|i| !is_atom(i, "undefined")).map(|i| render_elixir(i, &Limits::default()));
    let modules = match map_get_atom(t, "modules") {
        Some(m) if is_atom(m, "dynamic") => vec!["dynamic".to_string()],
        Some(m) => {
            as_list(m).map(|l| l.iter().map(|x| render_elixir(x, &Limits::default())).collect()).unwrap_or_default()
        }
        None => vec![],
    };
    let children = map_get_atom(t, "children")
        .and_then(as_list)
        .map(|l| l.iter().filter_map(|c| parse_sup(&node, c)).collect())
        .unwrap_or_default();
    Some(SupervisionNode {
        node,
        pid,
        registered_name: map_get_atom(t, "name").and_then(name_text),
        id,
        kind: map_get_atom(t, "type").and_then(as_atom).unwrap_or("worker").to_string(),
        modules,
        children,
        more: map_get_atom(t, "more").and_then(as_integer).unwrap_or(0).max(0) as u64,
        application: map_get_atom(t, "application").and_then(as_atom).map(str::to_string),
        error: map_get_atom(t, "error").map(|e| render_elixir(e, &Limits::default())),
        pid_term,
        remote: map_get_atom(t, "remote").is_some_and(|r| is_atom(r, "true")),
    })
}

/// Children that live on another node than their supervisor are listed on their own node. Their own
/// remote children are not followed again: one hop covers what supervisors do in practice.
async fn expand_remote(cluster: &Cluster, tree: &mut SupervisionNode, depth: usize, timeout: Duration) {
    let mut stack: Vec<&mut SupervisionNode> = vec![tree];
    let mut remote: Vec<&mut SupervisionNode> = Vec::new();
    while let Some(n) = stack.pop() {
        if n.remote {
            remote.push(n);
        } else {
            stack.extend(n.children.iter_mut());
        }
    }
    for n in remote {
        n.remote = false;
        let Some(pid) = n.pid_term.clone() else { continue };
        let node = pid.node.name.clone();
        if check_node(cluster, &node).is_err() {
            n.error = Some(format!("{node} is not reachable from Orbit"));
            continue;
        }
        let arg = tuple(vec![atom("pid"), Term::from(pid)]);
        let depth = if n.kind == "supervisor" { depth.min(1000) as i64 } else { 0 };
        match cluster.call(&node, "orbit_procs", "sup_tree", vec![arg, int(depth)], timeout).await {
            Ok(t) => match as_tuple(&t) {
                Some([ok, sub]) if is_atom(ok, "ok") => {
                    if let Some(mut sub) = parse_sup(&node, sub) {
                        sub.id = n.id.take();
                        sub.kind = n.kind.clone();
                        sub.modules = std::mem::take(&mut n.modules);
                        *n = sub;
                    }
                }
                _ => n.error = Some(render_elixir(&t, &Limits::default())),
            },
            Err(e) => n.error = Some(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_specs() {
        assert_eq!(ProcessSpec::parse("<0.123.0>").unwrap(), ProcessSpec::Pid("<0.123.0>".into()));
        assert_eq!(ProcessSpec::parse("#PID<0.123.0>").unwrap(), ProcessSpec::Pid("<0.123.0>".into()));
        assert_eq!(ProcessSpec::parse(" 0.5.1 ").unwrap(), ProcessSpec::Pid("<0.5.1>".into()));
        assert_eq!(ProcessSpec::parse("Bank.Mailbox").unwrap(), ProcessSpec::Name("Bank.Mailbox".into()));
        assert_eq!(ProcessSpec::parse(":rex").unwrap(), ProcessSpec::Name("rex".into()));
        let e = ProcessSpec::parse("<12.123.0>").unwrap_err().to_string();
        assert!(e.contains("another node's point of view") && e.contains("<0.123.0>"), "{e}");
        for bad in ["<0.1>", "<0.x.0>", "#PID<0.1.0", "0.1.2.3", "", "a b", "<0.99999999.0>"] {
            assert!(ProcessSpec::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn reasons() {
        assert_eq!(parse_reason("kill").unwrap(), atom("kill"));
        assert_eq!(parse_reason(":shutdown").unwrap(), atom("shutdown"));
        assert_eq!(
            parse_reason("{:shutdown, :maintenance}").unwrap(),
            tuple(vec![atom("shutdown"), atom("maintenance")])
        );
        assert!(parse_reason("not an atom").is_err());
        assert!(parse_reason("{:a, 1 2}").is_err());
    }

    #[test]
    fn mfa_in_elixir_syntax() {
        let m = |m: &str, f: &str, a| Mfa { module: m.into(), function: f.into(), arity: a };
        assert_eq!(m("Elixir.Bank.Account", "handle_call", 3).elixir(), "Bank.Account.handle_call/3");
        assert_eq!(m("gen_server", "loop", 7).elixir(), ":gen_server.loop/7");
        assert_eq!(m("Elixir.Bank", "-run/1-fun-0-", 1).elixir(), "Bank.\"-run/1-fun-0-\"/1");
    }

    fn summary(node: &str, id: u32, memory: u64) -> ProcessSummary {
        let pid = Pid::new(node, id, 0, 1);
        ProcessSummary {
            node: node.into(),
            pid: local_pid_text(&pid),
            pid_term: Some(pid),
            registered_name: None,
            process_label: None,
            memory,
            reductions: 0,
            message_queue_len: 0,
            status: "waiting".into(),
            current_function: None,
            initial_call: None,
        }
    }

    #[test]
    fn merge_is_descending_and_stable() {
        let mut v = vec![summary("b@h", 1, 10), summary("a@h", 2, 30), summary("a@h", 1, 10), summary("c@h", 9, 20)];
        sort_merged(&mut v, SortBy::Memory);
        let got: Vec<(String, u64)> = v.iter().map(|p| (p.node.clone(), p.memory)).collect();
        assert_eq!(got, vec![("a@h".into(), 30), ("c@h".into(), 20), ("a@h".into(), 10), ("b@h".into(), 10)]);
        assert_eq!(v[0].pid, "#PID<0.2.0>");
    }

    #[test]
    fn summary_from_agent_map() {
        let pid = Pid::new("a@h", 77, 0, 3);
        let t = map(vec![
            (atom("pid"), Term::from(pid)),
            (atom("registered_name"), atom("Elixir.Bank.Mailbox")),
            (atom("memory"), int(1000)),
            (atom("reductions"), int(5)),
            (atom("message_queue_len"), int(2)),
            (atom("status"), atom("waiting")),
            (atom("current_function"), tuple(vec![atom("gen_server"), atom("loop"), int(7)])),
            (atom("initial_call"), tuple(vec![atom("Elixir.Bank.Mailbox"), atom("init"), int(1)])),
        ]);
        let s = ProcessSummary::from_term("a@h", &t).unwrap();
        assert_eq!(s.pid, "#PID<0.77.0>");
        assert_eq!(s.registered_name.as_deref(), Some("Bank.Mailbox"));
        assert_eq!(s.current_function.as_ref().unwrap().elixir(), ":gen_server.loop/7");
        assert_eq!(s.label(), "Bank.Mailbox");
        assert_eq!(s.process_label, None);
    }

    #[test]
    fn a_process_label_names_the_process() {
        let pid = Pid::new("a@h", 78, 0, 3);
        let mut entries = vec![
            (atom("pid"), Term::from(pid)),
            (atom("registered_name"), atom("undefined")),
            (atom("label"), tuple(vec![atom("Elixir.Bank.Account"), binary("acc-1")])),
            (atom("initial_call"), tuple(vec![atom("Elixir.Bank.Account"), atom("init"), int(1)])),
        ];
        let s = ProcessSummary::from_term("a@h", &map(entries.clone())).unwrap();
        assert_eq!(s.process_label.as_deref(), Some("{Bank.Account, \"acc-1\"}"));
        assert_eq!(s.label(), "{Bank.Account, \"acc-1\"}", "the label before the initial call");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["label"], "{Bank.Account, \"acc-1\"}");
        entries[1] = (atom("registered_name"), atom("Elixir.Bank.Mailbox"));
        let s = ProcessSummary::from_term("a@h", &map(entries.clone())).unwrap();
        assert_eq!(s.label(), "Bank.Mailbox {Bank.Account, \"acc-1\"}");
        entries[2] = (atom("label"), atom("undefined"));
        let s = ProcessSummary::from_term("a@h", &map(entries)).unwrap();
        assert_eq!((s.label(), s.process_label), ("Bank.Mailbox".to_string(), None));
    }
}
