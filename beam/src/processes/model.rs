//! What process listings, details, graphs and trees are, and how people name processes (pure).

use crate::cluster::NodeUnavailable;
use crate::rpc::RpcError;
use crate::term::{atom, render_elixir, tuple, Limits};
use eetf::{Pid, Term};
use serde::Serialize;
use std::collections::BTreeMap;
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
    pub(super) fn agent_key(self) -> &'static str {
        match self {
            SortBy::Memory => "memory",
            SortBy::Reductions => "reductions",
            SortBy::MessageQueue => "message_queue_len",
        }
    }

    pub(super) fn key_of(self, p: &ProcessSummary) -> u64 {
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

/// A process, port or name that something refers to, with its node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ProcessRef {
    pub node: String,
    /// `#PID<0.123.0>`, `#Port<0.5>` or a registered name, from the point of view of `node`.
    pub id: String,
}

impl std::fmt::Display for ProcessRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.id, self.node)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProcessError {
    /// The node is not a member, is still connecting, or is down.
    #[error(transparent)]
    Unavailable(#[from] NodeUnavailable),
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

/// Descending by the key; ties by node, then pid, so pages are stable.
pub(super) fn sort_merged(all: &mut [ProcessSummary], sort: SortBy) {
    all.sort_by(|a, b| {
        sort.key_of(b).cmp(&sort.key_of(a)).then_with(|| a.node.cmp(&b.node)).then_with(|| {
            let k = |p: &ProcessSummary| p.pid_term.as_ref().map(|p| (p.serial, p.id));
            k(a).cmp(&k(b))
        })
    });
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

    pub(super) fn text(&self) -> &str {
        match self {
            ProcessSpec::Pid(p) | ProcessSpec::Name(p) => p,
        }
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

/// What became of a process that was sent an exit signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum KillOutcome {
    /// It exited, with this reason (Elixir syntax).
    Exited { reason: String },
    /// Still alive after the wait: it traps exits, or the reason was `:normal`.
    StillAlive,
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

pub(super) fn bad_reason(text: &str) -> ProcessError {
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
    pub(super) remote: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processes::wire::local_pid_text;
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
}
