//! Sandboxes: isolated supervision trees that Orbit starts under its sandbox supervisor on one node, and
//! that outlive Orbit's connection.
//!
//! The node side (`orbit_sandbox`) keeps the registry: one entry per sandbox (its child specs, node and
//! status), replicated to every node, so a reconnecting Orbit finds the sandboxes that exist and the
//! survivors of a node that went down know what it ran. Every change to a sandbox runs on a node under a
//! cluster-wide lock on its id (`global:trans`), so two Orbits cannot move or restart it twice.
//!
//! This module decides (placement, balance) and reports; the nodes do the work. Failover is decided on
//! the nodes too: when a node that held sandboxes goes down, the survivors restart them without Orbit
//! (one survivor per sandbox, chosen the same way by all of them; see `orbit_sandbox.erl`), and each
//! sandbox's [`Sandbox::history`] says what happened, for the next Orbit that connects.
//! [`failover`] / [`watch_failover`] remain for sandboxes the cluster could not restart.

use crate::cluster::{Cluster, ClusterEvent, NodeState};
use crate::reload::display_module;
use crate::rpc::RpcError;
use crate::term::{self, as_atom, as_binary, as_integer, as_list, as_tuple, atom, binary, is_atom, map, map_get_atom};
use crate::term::{render_elixir, render_erlang, tuple, Limits};
use eetf::Term;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// Default bound on each call of a sandbox operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a sandbox runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Children {
    /// `Module.child_spec(arg)` (the module must export `child_spec/1`). `module` is an atom name:
    /// `Elixir.Bank.Account` (see [`crate::reload::module_atom`]).
    Module { module: String, arg: Term },
    /// Child specs as terms: maps, 6-tuples, or Elixir's `{Module, arg}` / `Module` shorthands.
    Specs(Vec<Term>),
    /// Elixir expressions evaluated on the sandbox's node, each giving a child spec (or a list of them),
    /// e.g. `{Agent, fn -> 0 end}`.
    Elixir(Vec<String>),
    /// The same in Erlang syntax, e.g. `#{id => c, start => {my_server, start_link, []}}`.
    Erlang(Vec<String>),
}

impl Children {
    fn to_term(&self) -> Term {
        match self {
            Children::Module { module, arg } => tuple(vec![atom("module"), atom(module), arg.clone()]),
            Children::Specs(specs) => tuple(vec![atom("specs"), term::list(specs.clone())]),
            Children::Elixir(exprs) => tuple(vec![atom("elixir"), term::list(exprs.iter().map(|e| bin(e)).collect())]),
            Children::Erlang(exprs) => tuple(vec![atom("erlang"), term::list(exprs.iter().map(|e| bin(e)).collect())]),
        }
    }
}

/// The sandbox supervisor's restart strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    #[default]
    OneForOne,
    OneForAll,
    RestForOne,
}

impl Strategy {
    fn atom(self) -> Term {
        atom(match self {
            Strategy::OneForOne => "one_for_one",
            Strategy::OneForAll => "one_for_all",
            Strategy::RestForOne => "rest_for_one",
        })
    }
}

#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Where to start it; default the node with the best placement score.
    pub node: Option<String>,
    pub strategy: Strategy,
    pub timeout: Duration,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions { node: None, strategy: Strategy::OneForOne, timeout: DEFAULT_TIMEOUT }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxStatus {
    Running,
    /// Its supervisor gave up restarting its children (see `reason`).
    Failed,
    /// Registered on a node that is up, but not running there.
    Stopped,
    /// Its node is down: `failover` starts it elsewhere.
    Orphaned,
}

impl std::fmt::Display for SandboxStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SandboxStatus::Running => "running",
            SandboxStatus::Failed => "failed",
            SandboxStatus::Stopped => "stopped",
            SandboxStatus::Orphaned => "orphaned",
        })
    }
}

/// One child of a sandbox.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxChild {
    /// The child id, in Elixir syntax.
    pub id: String,
    /// `#PID<0.N.S>` as seen on the sandbox's node, when running.
    pub pid: Option<String>,
    #[serde(skip)]
    pub pid_term: Option<eetf::Pid>,
    /// `worker` or `supervisor`.
    pub kind: String,
    pub modules: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sandbox {
    pub id: String,
    pub node: String,
    pub status: SandboxStatus,
    /// Running children (or, when not running, the children of its specs without pids).
    pub children: Vec<SandboxChild>,
    /// Bytes used by the processes of its tree, when running.
    pub memory: Option<u64>,
    /// Child restarts since it started on this node, when running.
    pub restarts: Option<u64>,
    pub strategy: String,
    pub moves: u64,
    pub failovers: u64,
    /// Unix milliseconds.
    pub created_ms: Option<i64>,
    pub started_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the states that the last migration with handoff carried were taken (Unix ms): a failover
    /// restores them. `None` when no handoff state is kept.
    pub handoff_ms: Option<i64>,
    /// The children whose state is kept.
    pub handoff_children: Vec<String>,
    /// What happened to it, newest first (at most 10): failovers, and failovers that failed.
    pub history: Vec<SandboxEvent>,
}

impl Sandbox {
    /// The latest failover, if any.
    pub fn last_failover(&self) -> Option<&SandboxEvent> {
        self.history.iter().find(|e| e.kind == EventKind::Failover)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Restarted on `to` after `from` went down.
    Failover,
    /// A survivor (`to`) could not start it (see `reason`); another may have.
    FailoverFailed,
}

/// Who decided a failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// The surviving nodes, on their own (no Orbit needed).
    Cluster,
    /// An Orbit (`orbit sandbox failover` / `watch`).
    Orbit,
}

/// One entry of a sandbox's history, as the nodes recorded it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SandboxEvent {
    pub kind: EventKind,
    /// The node that went down.
    pub from: String,
    /// Where it was restarted (or, for a failed attempt, where that was tried).
    pub to: String,
    /// Unix milliseconds.
    pub at_ms: i64,
    pub by: DecidedBy,
    /// Children whose state came back from the last handoff.
    pub restored: Vec<String>,
    /// Children that started afresh from their child spec.
    pub lost: Vec<String>,
    /// When the restored states were taken (Unix ms).
    pub handoff_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl SandboxEvent {
    /// `failed over from a@h to b@h at 2026-05-01 12:03:04 UTC (without Orbit)`, and what state it kept.
    pub fn summary(&self) -> String {
        let by = match self.by {
            DecidedBy::Cluster => "without Orbit",
            DecidedBy::Orbit => "by Orbit",
        };
        match self.kind {
            EventKind::Failover => {
                let mut s = format!("failed over from {} to {} at {} ({by})", self.from, self.to, utc_time(self.at_ms));
                if !self.restored.is_empty() {
                    s.push_str(&format!(
                        "; state of {} restored from the handoff of {}",
                        self.restored.join(", "),
                        self.handoff_ms.map(utc_time).unwrap_or_else(|| "?".into())
                    ));
                }
                if !self.lost.is_empty() {
                    s.push_str(&format!("; {} started afresh", self.lost.join(", ")));
                }
                s
            }
            EventKind::FailoverFailed => format!(
                "failover from {} could not start it on {} at {} ({by}): {}",
                self.from,
                self.to,
                utc_time(self.at_ms),
                self.reason.as_deref().unwrap_or("?")
            ),
        }
    }
}

/// `2026-05-01 12:03:04 UTC` from Unix milliseconds.
pub fn utc_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, (rem / 60) % 60, rem % 60)
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{node} is not a node of this cluster (nodes: {known})")]
    UnknownNode { node: String, known: String },
    #[error("{node} is down ({reason})")]
    NodeDown { node: String, reason: String },
    #[error("no node is available for a sandbox")]
    NoNodes,
    #[error("no sandbox named {0:?} (orbit sandbox list shows them)")]
    UnknownSandbox(String),
    #[error("a sandbox named {id:?} exists already, on {node}")]
    AlreadyExists { id: String, node: String },
    #[error("{node}: no module {module} (is it in the node's code path?)")]
    UnknownModule { node: String, module: String },
    #[error("{node}: {module} has no child_spec/1; give child specs instead")]
    NoChildSpec { node: String, module: String },
    #[error("{node}: not a valid child spec: {detail}")]
    BadChildSpec { node: String, detail: String },
    #[error("{node}: could not evaluate {expr:?}: {detail}")]
    Eval { node: String, expr: String, detail: String },
    #[error("{node}: the sandbox did not start: {detail}")]
    StartFailed { node: String, detail: String },
    #[error("sandbox {id:?} runs on {node} already")]
    AlreadyOn { id: String, node: String },
    #[error("sandbox {id:?} is on {node}, which is down: fail it over instead")]
    SourceDown { id: String, node: String },
    #[error("{node}: sandbox {id:?} is not running there")]
    NotRunning { id: String, node: String },
    #[error("{node}: {detail}")]
    Refused { node: String, detail: String },
    #[error(transparent)]
    Rpc(Box<RpcError>),
    #[error("{node}: unexpected answer from {what}: {detail}")]
    Shape { node: String, what: String, detail: String },
    #[error(transparent)]
    ReadOnly(#[from] crate::read_only::Refused),
}

/// Refuses sandbox `operation` in read-only mode.
fn refuse(cluster: &Cluster, operation: &str) -> Result<(), SandboxError> {
    Ok(cluster.refuse(crate::read_only::Change::Sandbox { operation })?)
}

impl From<RpcError> for SandboxError {
    fn from(e: RpcError) -> Self {
        SandboxError::Rpc(Box::new(e))
    }
}

/// Starts the sandbox supervisor (and its registry) on every node that is up, where it is not running.
pub async fn ensure_started(cluster: &Cluster, timeout: Duration) -> Result<(), SandboxError> {
    refuse(cluster, "supervisor start")?;
    let results = cluster.call_all("orbit_sandbox", "ensure_started", vec![], timeout).await;
    for (node, r) in results {
        let t = r?;
        if !is_atom(&t, "ok") {
            return Err(SandboxError::Refused { node, detail: format!("sandbox supervisor: {}", show(&t)) });
        }
    }
    Ok(())
}

/// Where a new sandbox goes when no node is named: the best placement score, `exclude` left out.
async fn place(cluster: &Cluster, exclude: &[String]) -> Option<String> {
    crate::health::best_node(cluster, exclude).await
}

/// Starts sandbox `id` running `children`.
pub async fn create(
    cluster: &Cluster,
    id: &str,
    children: &Children,
    options: &CreateOptions,
) -> Result<Sandbox, SandboxError> {
    refuse(cluster, "create")?;
    let node = match &options.node {
        Some(n) => {
            check_up(cluster, n)?;
            n.clone()
        }
        None => place(cluster, &[]).await.ok_or(SandboxError::NoNodes)?,
    };
    ensure_started(cluster, options.timeout).await?;
    let opts = map(vec![(atom("strategy"), options.strategy.atom())]);
    let reply = cluster
        .call(&node, "orbit_sandbox", "create", vec![bin(id), children.to_term(), opts], options.timeout)
        .await?;
    expect_ok(&node, "create", &reply)?;
    get(cluster, id, options.timeout).await
}

/// Every sandbox of the cluster, sorted by id. Starts nothing on the nodes.
pub async fn list(cluster: &Cluster, timeout: Duration) -> Result<Vec<Sandbox>, SandboxError> {
    let up = cluster.up_nodes();
    let answers = cluster.call_all("orbit_sandbox", "list", vec![], timeout).await;
    // Newest entry per id, from whichever node; live figures from the node that runs it.
    let mut newest: BTreeMap<String, (Version, Term)> = BTreeMap::new();
    let mut live: BTreeMap<(String, String), Term> = BTreeMap::new();
    for (node, r) in answers {
        let reply = r?;
        let items = match as_tuple(&reply) {
            Some([tag, items]) if is_atom(tag, "ok") => as_list(items).map(|l| l.into_owned()),
            _ => None,
        }
        .ok_or_else(|| SandboxError::Shape {
            node: node.clone(),
            what: "list".into(),
            detail: show(&reply),
        })?;
        for e in items {
            let Some(id) = map_get_atom(&e, "id").and_then(as_binary) else { continue };
            let id = String::from_utf8_lossy(id).into_owned();
            if let Some(l) = map_get_atom(&e, "live") {
                live.insert((id.clone(), node.clone()), l.clone());
            }
            let v = version(&e);
            if newest.get(&id).is_none_or(|(old, _)| v > *old) {
                newest.insert(id, (v, e));
            }
        }
    }
    Ok(newest
        .into_iter()
        .map(|(id, (_, e))| {
            let node = map_get_atom(&e, "node").and_then(as_atom).unwrap_or("").to_string();
            let l = live.get(&(id, node)).cloned();
            sandbox_from(&e, l.as_ref(), &up)
        })
        .collect())
}

/// One sandbox.
pub async fn get(cluster: &Cluster, id: &str, timeout: Duration) -> Result<Sandbox, SandboxError> {
    list(cluster, timeout)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| SandboxError::UnknownSandbox(id.to_string()))
}

/// Stops sandbox `id` and forgets it (a sandbox whose node is down is only forgotten).
pub async fn destroy(cluster: &Cluster, id: &str, timeout: Duration) -> Result<(), SandboxError> {
    refuse(cluster, "destroy")?;
    let sb = get(cluster, id, timeout).await?;
    let node = if cluster.up_nodes().contains(&sb.node) {
        sb.node.clone()
    } else {
        cluster.up_nodes().into_iter().next().ok_or(SandboxError::NoNodes)?
    };
    let reply = cluster.call(&node, "orbit_sandbox", "destroy", vec![bin(id)], timeout).await?;
    expect_ok(&node, "destroy", &reply)
}

/// What a migration did.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub sandbox: Sandbox,
    pub from: String,
    pub to: String,
    /// Children whose state was carried over.
    pub handed_off: Vec<String>,
    /// Children whose state was not carried over, with why (restarted from their child spec).
    pub not_handed_off: Vec<(String, String)>,
    /// Messages still in the mailboxes of the handed-off children when they were frozen (lost).
    pub dropped_messages: u64,
}

/// Starts sandbox `id` on `to`, then stops it where it ran. With `handoff`, the state of each child that
/// answers `:sys.get_state` (GenServer, Agent, gen_statem…) is carried over with `:sys.replace_state`.
pub async fn migrate(
    cluster: &Cluster,
    id: &str,
    to: &str,
    handoff: bool,
    timeout: Duration,
) -> Result<MigrateReport, SandboxError> {
    refuse(cluster, "migrate")?;
    check_up(cluster, to)?;
    let before = get(cluster, id, timeout).await?;
    if before.node == to {
        return Err(SandboxError::AlreadyOn { id: id.to_string(), node: to.to_string() });
    }
    if before.status == SandboxStatus::Orphaned {
        return Err(SandboxError::SourceDown { id: id.to_string(), node: before.node });
    }
    ensure_started(cluster, timeout).await?;
    let handoff_term = atom(if handoff { "true" } else { "false" });
    let reply =
        cluster.call(to, "orbit_sandbox", "migrate", vec![bin(id), handoff_term, map(vec![])], timeout * 2).await?;
    let result = expect_ok_value(to, "migrate", &reply).map_err(|e| match e {
        SandboxError::AlreadyOn { node, .. } => SandboxError::AlreadyOn { id: id.to_string(), node },
        SandboxError::SourceDown { node, .. } => SandboxError::SourceDown { id: id.to_string(), node },
        e => e,
    })?;
    let from = map_get_atom(&result, "from").and_then(as_atom).unwrap_or(&before.node).to_string();
    let handed_off = map_get_atom(&result, "handed_off")
        .and_then(as_list)
        .map(|l| l.iter().map(child_id).collect())
        .unwrap_or_default();
    let not_handed_off = map_get_atom(&result, "not_handed_off")
        .and_then(as_list)
        .map(|l| {
            l.iter()
                .filter_map(|x| match as_tuple(x) {
                    Some([cid, why]) => Some((child_id(cid), describe_handoff(why))),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let dropped_messages =
        map_get_atom(&result, "dropped_messages").and_then(as_integer).and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
    let sandbox = get(cluster, id, timeout).await?;
    Ok(MigrateReport { sandbox, from, to: to.to_string(), handed_off, not_handed_off, dropped_messages })
}

fn describe_handoff(why: &Term) -> String {
    match as_tuple(why) {
        Some([tag, _]) if is_atom(tag, "no_state") => "does not answer :sys.get_state (not a GenServer?)".into(),
        Some([tag, _]) if is_atom(tag, "not_suspendable") => "could not be suspended (not an OTP process?)".into(),
        Some([tag, r]) if is_atom(tag, "replace_failed") => format!(":sys.replace_state failed: {}", show(r)),
        _ if is_atom(why, "not_running") => "did not start on the target".into(),
        _ => show(why),
    }
}

/// One planned or made move of `balance`.
#[derive(Debug, Clone, Serialize)]
pub struct BalanceMove {
    pub id: String,
    pub from: String,
    pub to: String,
    /// `None` when planned only (dry run) or done; the error otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BalanceReport {
    /// Running sandboxes per node before and after.
    pub before: BTreeMap<String, usize>,
    pub after: BTreeMap<String, usize>,
    pub moves: Vec<BalanceMove>,
    pub dry_run: bool,
}

/// The moves that even out the number of running sandboxes per node (to within one), each from the
/// busiest node to the least busy, the smallest sandbox first. Pure, for tests and dry runs.
pub fn plan_balance(counts: &BTreeMap<String, Vec<(String, u64)>>) -> Vec<BalanceMove> {
    let mut load: BTreeMap<String, Vec<(String, u64)>> = counts.clone();
    for v in load.values_mut() {
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    }
    let mut moves = Vec::new();
    let busiest = |l: &BTreeMap<String, Vec<(String, u64)>>| {
        l.iter().map(|(n, v)| (n.clone(), v.len())).max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
    };
    let idlest = |l: &BTreeMap<String, Vec<(String, u64)>>| {
        l.iter().map(|(n, v)| (n.clone(), v.len())).min_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)))
    };
    while let (Some((max_node, max_n)), Some((min_node, min_n))) = (busiest(&load), idlest(&load)) {
        if max_n <= min_n + 1 {
            break;
        }
        let (id, mem) = load.get_mut(&max_node).and_then(|v| v.pop()).expect("busiest node has sandboxes");
        load.get_mut(&min_node).expect("node").push((id.clone(), mem));
        moves.push(BalanceMove { id, from: max_node, to: min_node, error: None });
    }
    moves
}

/// Evens out the running sandboxes across the nodes that are up, moving them with `handoff`.
pub async fn balance(
    cluster: &Cluster,
    handoff: bool,
    dry_run: bool,
    timeout: Duration,
) -> Result<BalanceReport, SandboxError> {
    if !dry_run {
        refuse(cluster, "balance")?;
    }
    let sandboxes = list(cluster, timeout).await?;
    let counts = running_by_node(cluster, &sandboxes);
    let before = counts.iter().map(|(n, v)| (n.clone(), v.len())).collect();
    let mut moves = plan_balance(&counts);
    if !dry_run {
        for m in &mut moves {
            if let Err(e) = migrate(cluster, &m.id, &m.to, handoff, timeout).await {
                m.error = Some(e.to_string());
            }
        }
    }
    let after = if dry_run {
        let mut a: BTreeMap<String, usize> = before_counts(&counts);
        for m in &moves {
            *a.entry(m.from.clone()).or_default() -= 1;
            *a.entry(m.to.clone()).or_default() += 1;
        }
        a
    } else {
        before_counts(&running_by_node(cluster, &list(cluster, timeout).await?))
    };
    Ok(BalanceReport { before, after, moves, dry_run })
}

fn before_counts(counts: &BTreeMap<String, Vec<(String, u64)>>) -> BTreeMap<String, usize> {
    counts.iter().map(|(n, v)| (n.clone(), v.len())).collect()
}

fn running_by_node(cluster: &Cluster, sandboxes: &[Sandbox]) -> BTreeMap<String, Vec<(String, u64)>> {
    let mut counts: BTreeMap<String, Vec<(String, u64)>> =
        cluster.up_nodes().into_iter().map(|n| (n, vec![])).collect();
    for s in sandboxes.iter().filter(|s| s.status == SandboxStatus::Running) {
        if let Some(v) = counts.get_mut(&s.node) {
            v.push((s.id.clone(), s.memory.unwrap_or(0)));
        }
    }
    counts
}

/// A child whose in-memory state a failover lost.
#[derive(Debug, Clone, Serialize)]
pub struct LostChild {
    pub id: String,
    /// How it was restarted: `{M, F, A}` of its child spec.
    pub start: String,
}

/// What a failover did for one sandbox.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    pub id: String,
    pub from: String,
    /// Where it runs now (when it could be started).
    pub to: Option<String>,
    /// Children restarted from their child spec: their state on `from` is lost.
    pub lost: Vec<LostChild>,
    /// Children whose state came back from the last handoff (taken at `handoff_ms`); what changed
    /// since then is lost.
    pub restored: Vec<String>,
    pub handoff_ms: Option<i64>,
    /// Someone else had failed it over already: the cluster on its own (`by` is `cluster`), or another
    /// Orbit.
    pub already: bool,
    /// Who restarted it, when known.
    pub by: Option<DecidedBy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FailoverReport {
    /// In words, for the user: where it went, who moved it, and what state was kept and lost.
    pub fn summary(&self) -> String {
        let to = match (&self.to, &self.error) {
            (_, Some(e)) => return format!("sandbox {} of {}: failover failed: {e}", self.id, self.from),
            (None, None) => return format!("sandbox {} of {}: not restarted", self.id, self.from),
            (Some(to), None) => to,
        };
        if self.already && self.by.is_none() {
            return format!("sandbox {} of {} runs on {to} already", self.id, self.from);
        }
        let who = match (self.already, self.by) {
            (true, Some(DecidedBy::Cluster)) => " by the cluster (without Orbit)",
            (true, _) => " by another Orbit",
            (false, _) => "",
        };
        let mut s = format!("sandbox {} restarted on {to}{who} after {} went down", self.id, self.from);
        if !self.restored.is_empty() {
            s.push_str(&format!(
                "; state of {} restored as the last handoff left it ({}) — what changed since is lost",
                self.restored.join(", "),
                self.handoff_ms.map(utc_time).unwrap_or_else(|| "?".into())
            ));
        }
        if !self.lost.is_empty() {
            let lost: Vec<&str> = self.lost.iter().map(|c| c.id.as_str()).collect();
            s.push_str(&format!(
                "; state lost: everything its children ({}) held in memory and in their mailboxes on {} — they \
                 started afresh from their child specs",
                lost.join(", "),
                self.from
            ));
        }
        s
    }
}

/// Restarts on the best remaining node every sandbox that ran on `down_node`. Waits (up to `timeout`)
/// for the other nodes to notice that `down_node` is gone.
pub async fn failover(
    cluster: &Cluster,
    down_node: &str,
    timeout: Duration,
) -> Result<Vec<FailoverReport>, SandboxError> {
    failover_of(cluster, down_node, timeout, false).await
}

/// [`failover`], and with `survivors_first` also the sandboxes the survivors failed over before Orbit
/// looked (they watch the node too; what a watch reports when the node goes down): their failover is
/// reported as it happened (the nodes answer with the record of it).
async fn failover_of(
    cluster: &Cluster,
    down_node: &str,
    timeout: Duration,
    survivors_first: bool,
) -> Result<Vec<FailoverReport>, SandboxError> {
    refuse(cluster, "failover")?;
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let orphans: Vec<Sandbox> = list(cluster, timeout)
        .await?
        .into_iter()
        .filter_map(|s| {
            if s.node == down_node && s.status == SandboxStatus::Orphaned {
                Some(s)
            } else if survivors_first
                && s.node != down_node
                && s.last_failover().is_some_and(|e| e.from == down_node && now_ms - e.at_ms < 60_000)
            {
                Some(Sandbox { node: down_node.to_string(), ..s })
            } else {
                None
            }
        })
        .collect();
    let mut reports = Vec::new();
    for sb in orphans {
        reports.push(failover_one(cluster, &sb, timeout).await);
    }
    Ok(reports)
}

/// Fails over every sandbox whose node is down (e.g. after Orbit reconnects).
pub async fn recover(cluster: &Cluster, timeout: Duration) -> Result<Vec<FailoverReport>, SandboxError> {
    refuse(cluster, "failover")?;
    let orphans: Vec<Sandbox> =
        list(cluster, timeout).await?.into_iter().filter(|s| s.status == SandboxStatus::Orphaned).collect();
    let mut reports = Vec::new();
    for sb in orphans {
        reports.push(failover_one(cluster, &sb, timeout).await);
    }
    Ok(reports)
}

async fn failover_one(cluster: &Cluster, sb: &Sandbox, timeout: Duration) -> FailoverReport {
    let mut report = FailoverReport {
        id: sb.id.clone(),
        from: sb.node.clone(),
        to: None,
        lost: vec![],
        restored: vec![],
        handoff_ms: None,
        already: false,
        by: None,
        error: None,
    };
    if let Err(e) = ensure_started(cluster, timeout).await {
        report.error = Some(e.to_string());
        return report;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut wait = Duration::from_millis(100);
    loop {
        let Some(target) = place(cluster, std::slice::from_ref(&sb.node)).await else {
            report.error = Some("no node left to run it".into());
            return report;
        };
        let call = cluster.call(&target, "orbit_sandbox", "failover", vec![bin(&sb.id), atom(&sb.node)], timeout).await;
        let value = match call.map_err(SandboxError::from).and_then(|r| expect_ok_value(&target, "failover", &r)) {
            Ok(v) => v,
            // The survivors have not noticed yet that the node is gone: wait a little.
            Err(SandboxError::Refused { detail, .. })
                if detail.starts_with("node_up") && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
                continue;
            }
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        };
        let entry = map_get_atom(&value, "entry");
        report.to = entry.and_then(|e| map_get_atom(e, "node")).and_then(as_atom).map(str::to_string);
        report.already = map_get_atom(&value, "already").is_some_and(|a| is_atom(a, "true"));
        if report.already {
            // Failed over before this call (by the cluster, or another Orbit): what the record says.
            if let Some(ev) = map_get_atom(&value, "record").and_then(event_from) {
                report.by = Some(ev.by);
                report.restored = ev.restored;
                report.handoff_ms = ev.handoff_ms;
                let specs = entry.and_then(|e| map_get_atom(e, "children")).and_then(as_list);
                report.lost = ev
                    .lost
                    .into_iter()
                    .map(|id| {
                        let start = specs
                            .iter()
                            .flat_map(|l| l.iter())
                            .find(|s| map_get_atom(s, "id").map(child_id).as_deref() == Some(id.as_str()))
                            .and_then(|s| map_get_atom(s, "start"))
                            .map(show_mfa)
                            .unwrap_or_default();
                        LostChild { id, start }
                    })
                    .collect();
            }
            return report;
        }
        report.by = Some(DecidedBy::Orbit);
        report.restored = child_ids(map_get_atom(&value, "restored"));
        report.handoff_ms = map_get_atom(&value, "handoff_at").and_then(as_integer);
        report.lost = map_get_atom(&value, "lost")
            .and_then(as_list)
            .map(|l| {
                l.iter()
                    .map(|c| LostChild {
                        id: map_get_atom(c, "id").map(child_id).unwrap_or_default(),
                        start: map_get_atom(c, "start").map(show_mfa).unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        return report;
    }
}

/// Keeps watching the cluster: when a node goes down, its sandboxes are failed over, and a report per
/// sandbox arrives on the returned channel. Sandboxes already orphaned when it starts are failed over
/// first. Stops when the receiver is dropped or the cluster disconnects. Refused in read-only mode.
pub fn watch_failover(
    cluster: &Cluster,
    timeout: Duration,
) -> Result<mpsc::UnboundedReceiver<FailoverReport>, SandboxError> {
    refuse(cluster, "watch (failover)")?;
    let (tx, rx) = mpsc::unbounded_channel();
    let cluster = cluster.clone();
    let mut events = cluster.subscribe();
    tokio::spawn(async move {
        if let Ok(reports) = recover(&cluster, timeout).await {
            for r in reports {
                if tx.send(r).is_err() {
                    return;
                }
            }
        }
        loop {
            let event = tokio::select! {
                e = events.recv() => e,
                _ = tx.closed() => return,
            };
            match event {
                Ok(ClusterEvent::NodeDown { node, .. }) => match failover_of(&cluster, &node, timeout, true).await {
                    Ok(reports) => {
                        for r in reports {
                            if tx.send(r).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => tracing::warn!("failover of the sandboxes of {node}: {e}"),
                },
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    Ok(rx)
}

// ---------------------------------------------------------------------------------------------------
// Terms.

type Version = (i64, i64);

fn version(entry: &Term) -> Version {
    match map_get_atom(entry, "version").and_then(as_tuple) {
        Some([n, t]) => (as_integer(n).unwrap_or(0), as_integer(t).unwrap_or(0)),
        _ => (0, 0),
    }
}

fn sandbox_from(entry: &Term, live: Option<&Term>, up: &[String]) -> Sandbox {
    let get = |k: &str| map_get_atom(entry, k);
    let int = |k: &str| get(k).and_then(as_integer);
    let id = get("id").and_then(as_binary).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    let node = get("node").and_then(as_atom).unwrap_or("").to_string();
    let running = live.and_then(|l| map_get_atom(l, "running")).is_some_and(|r| is_atom(r, "true"));
    let failed = get("status").is_some_and(|s| is_atom(s, "failed"));
    let status = if !up.contains(&node) {
        SandboxStatus::Orphaned
    } else if running {
        SandboxStatus::Running
    } else if failed {
        SandboxStatus::Failed
    } else {
        SandboxStatus::Stopped
    };
    let children = match live.filter(|_| running).and_then(|l| map_get_atom(l, "children")).and_then(as_list) {
        Some(kids) => kids
            .iter()
            .map(|c| {
                let pid_term = match map_get_atom(c, "pid") {
                    Some(Term::Pid(p)) => Some(p.clone()),
                    _ => None,
                };
                SandboxChild {
                    id: map_get_atom(c, "id").map(child_id).unwrap_or_default(),
                    pid: pid_term.as_ref().map(|p| format!("#PID<0.{}.{}>", p.id, p.serial)),
                    pid_term,
                    kind: map_get_atom(c, "type").and_then(as_atom).unwrap_or("worker").to_string(),
                    modules: modules(map_get_atom(c, "modules")),
                }
            })
            .collect(),
        None => get("children")
            .and_then(as_list)
            .map(|specs| {
                specs
                    .iter()
                    .map(|s| SandboxChild {
                        id: map_get_atom(s, "id").map(child_id).unwrap_or_default(),
                        pid: None,
                        pid_term: None,
                        kind: map_get_atom(s, "type").and_then(as_atom).unwrap_or("worker").to_string(),
                        modules: modules(map_get_atom(s, "modules")),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    let live_u64 = |k: &str| {
        live.filter(|_| running)
            .and_then(|l| map_get_atom(l, k))
            .and_then(as_integer)
            .and_then(|n| u64::try_from(n).ok())
    };
    Sandbox {
        id,
        node,
        status,
        children,
        memory: live_u64("memory"),
        restarts: live_u64("restarts"),
        strategy: get("strategy").and_then(as_atom).unwrap_or("one_for_one").to_string(),
        moves: int("moves").and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        failovers: int("failovers").and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        created_ms: int("created"),
        started_ms: int("started"),
        reason: if failed { get("reason").map(show) } else { None },
        handoff_ms: get("handoff").and_then(|h| map_get_atom(h, "at")).and_then(as_integer),
        handoff_children: get("handoff")
            .and_then(|h| map_get_atom(h, "children").or_else(|| map_get_atom(h, "states")))
            .and_then(as_list)
            .map(|l| {
                l.iter()
                    .map(|c| match as_tuple(c) {
                        Some([cid, _]) => child_id(cid),
                        _ => child_id(c),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        history: get("history")
            .and_then(as_list)
            .map(|l| l.iter().filter_map(event_from).collect())
            .unwrap_or_default(),
    }
}

/// One history entry of the agent: `#{event, from, to | on, at, by, restored, lost, handoff_at, reason}`.
fn event_from(t: &Term) -> Option<SandboxEvent> {
    let get = |k: &str| map_get_atom(t, k);
    let node = |k: &str| get(k).and_then(as_atom).map(str::to_string);
    let kind = match get("event").and_then(as_atom)? {
        "failover" => EventKind::Failover,
        "failover_failed" => EventKind::FailoverFailed,
        _ => return None,
    };
    Some(SandboxEvent {
        kind,
        from: node("from")?,
        to: node("to").or_else(|| node("on")).unwrap_or_default(),
        at_ms: get("at").and_then(as_integer).unwrap_or(0),
        by: if get("by").is_some_and(|b| is_atom(b, "cluster")) { DecidedBy::Cluster } else { DecidedBy::Orbit },
        restored: child_ids(get("restored")),
        lost: child_ids(get("lost")),
        handoff_ms: get("handoff_at").and_then(as_integer),
        reason: get("reason").map(|r| match as_tuple(r) {
            Some([tag, d]) if is_atom(tag, "start_failed") => show(d),
            _ => show(r),
        }),
    })
}

fn child_ids(t: Option<&Term>) -> Vec<String> {
    t.and_then(as_list).map(|l| l.iter().map(child_id).collect()).unwrap_or_default()
}

fn modules(t: Option<&Term>) -> Vec<String> {
    match t {
        Some(t) if is_atom(t, "dynamic") => vec!["dynamic".into()],
        Some(t) => {
            as_list(t).map(|l| l.iter().filter_map(|m| as_atom(m).map(display_module)).collect()).unwrap_or_default()
        }
        None => vec![],
    }
}

fn child_id(t: &Term) -> String {
    match as_atom(t) {
        Some(a) if a.starts_with("Elixir.") => display_module(a),
        Some(a) => format!(":{a}"),
        None => render_elixir(t, &Limits::default()),
    }
}

fn show_mfa(t: &Term) -> String {
    match as_tuple(t) {
        Some([m, f, a]) => {
            let args = as_list(a).map(|l| l.len()).unwrap_or(0);
            let m = as_atom(m).map(display_module).unwrap_or_else(|| show(m));
            format!("{m}.{}/{args}", as_atom(f).unwrap_or("?"))
        }
        _ => show(t),
    }
}

fn check_up(cluster: &Cluster, node: &str) -> Result<(), SandboxError> {
    let all = cluster.nodes();
    match all.iter().find(|(n, _)| n == node) {
        None => Err(SandboxError::UnknownNode {
            node: node.to_string(),
            known: all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
        }),
        Some((_, NodeState::Up)) => Ok(()),
        Some((_, NodeState::Down { reason })) => {
            Err(SandboxError::NodeDown { node: node.to_string(), reason: reason.clone() })
        }
        Some((_, NodeState::Connecting)) => {
            Err(SandboxError::NodeDown { node: node.to_string(), reason: "still connecting".into() })
        }
    }
}

fn expect_ok(node: &str, what: &str, reply: &Term) -> Result<(), SandboxError> {
    if is_atom(reply, "ok") {
        return Ok(());
    }
    expect_ok_value(node, what, reply).map(|_| ())
}

/// `{ok, Value}` → Value; `{error, Reason}` → the matching error.
fn expect_ok_value(node: &str, what: &str, reply: &Term) -> Result<Term, SandboxError> {
    match as_tuple(reply) {
        Some([tag, v]) if is_atom(tag, "ok") => Ok(v.clone()),
        Some([tag, why]) if is_atom(tag, "error") => Err(agent_error(node, why)),
        _ => Err(SandboxError::Shape { node: node.to_string(), what: what.to_string(), detail: show(reply) }),
    }
}

fn agent_error(node: &str, why: &Term) -> SandboxError {
    let node_s = node.to_string();
    let text = |t: &Term| as_binary(t).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_else(|| show(t));
    let module = |t: &Term| as_atom(t).map(display_module).unwrap_or_else(|| show(t));
    match as_tuple(why) {
        Some([tag, id, n]) if is_atom(tag, "already_exists") => {
            SandboxError::AlreadyExists { id: text(id), node: as_atom(n).unwrap_or("?").to_string() }
        }
        Some([tag, m]) if is_atom(tag, "unknown_module") => {
            SandboxError::UnknownModule { node: node_s, module: module(m) }
        }
        Some([tag, m]) if is_atom(tag, "no_child_spec") => {
            SandboxError::NoChildSpec { node: node_s, module: module(m) }
        }
        Some([tag, d]) if is_atom(tag, "bad_child_spec") => {
            SandboxError::BadChildSpec { node: node_s, detail: show(d) }
        }
        Some([tag, m, d]) if is_atom(tag, "child_spec_failed") => SandboxError::BadChildSpec {
            node: node_s,
            detail: format!("{}.child_spec/1 raised {}", module(m), show(d)),
        },
        Some([tag, src, d]) if is_atom(tag, "eval_failed") => {
            SandboxError::Eval { node: node_s, expr: text(src), detail: show(d) }
        }
        Some([tag, d]) if is_atom(tag, "start_failed") => {
            let detail = match as_tuple(d) {
                Some([t, cid, r]) if is_atom(t, "child_failed") => {
                    format!("child {} failed to start: {}", child_id(cid), show(r))
                }
                _ => show(d),
            };
            SandboxError::StartFailed { node: node_s, detail }
        }
        Some([tag, id]) if is_atom(tag, "unknown_sandbox") => SandboxError::UnknownSandbox(text(id)),
        Some([tag, n]) if is_atom(tag, "already_on") => {
            SandboxError::AlreadyOn { id: String::new(), node: as_atom(n).unwrap_or("?").to_string() }
        }
        Some([tag, n]) if is_atom(tag, "node_down") => {
            SandboxError::SourceDown { id: String::new(), node: as_atom(n).unwrap_or("?").to_string() }
        }
        Some([tag, id, n]) if is_atom(tag, "not_running_here") => {
            SandboxError::NotRunning { id: text(id), node: as_atom(n).unwrap_or("?").to_string() }
        }
        Some([tag, n]) if is_atom(tag, "node_up") => {
            SandboxError::Refused { node: node_s, detail: format!("node_up: {} is still connected", show(n)) }
        }
        Some([tag, n]) if is_atom(tag, "no_elixir") => {
            SandboxError::Refused { node: node_s, detail: format!("Elixir is not available on {}", show(n)) }
        }
        _ => SandboxError::Refused { node: node_s, detail: show(why) },
    }
}

fn bin(s: &str) -> Term {
    binary(s.as_bytes().to_vec())
}

fn show(t: &Term) -> String {
    render_erlang(t, &Limits::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(spec: &[(&str, &[(&str, u64)])]) -> BTreeMap<String, Vec<(String, u64)>> {
        spec.iter().map(|(n, v)| (n.to_string(), v.iter().map(|(id, m)| (id.to_string(), *m)).collect())).collect()
    }

    #[test]
    fn balance_evens_out_to_within_one_moving_small_ones_first() {
        let c = counts(&[("a", &[("x", 10), ("y", 1), ("z", 5), ("w", 7)]), ("b", &[]), ("c", &[("v", 1)])]);
        let moves = plan_balance(&c);
        assert_eq!(moves.len(), 2, "{moves:?}");
        assert_eq!((moves[0].id.as_str(), moves[0].from.as_str(), moves[0].to.as_str()), ("y", "a", "b"));
        assert_eq!((moves[1].id.as_str(), moves[1].to.as_str()), ("z", "b"));
        assert!(plan_balance(&counts(&[("a", &[("x", 1)]), ("b", &[])])).is_empty());
        assert!(plan_balance(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn entries_become_sandboxes() {
        let entry = map(vec![
            (atom("id"), bin("s1")),
            (atom("node"), atom("a@h")),
            (atom("status"), atom("running")),
            (atom("version"), tuple(vec![crate::term::int(3), crate::term::int(99)])),
            (
                atom("children"),
                term::list(vec![map(vec![(atom("id"), atom("Elixir.Bank.Account")), (atom("start"), atom("x"))])]),
            ),
        ]);
        let s = sandbox_from(&entry, None, &["b@h".to_string()]);
        assert_eq!(s.status, SandboxStatus::Orphaned);
        assert_eq!(s.children[0].id, "Bank.Account");
        assert_eq!(version(&entry), (3, 99));
        let live = map(vec![
            (atom("running"), atom("true")),
            (atom("memory"), crate::term::int(2048)),
            (atom("restarts"), crate::term::int(1)),
            (
                atom("children"),
                term::list(vec![map(vec![
                    (atom("id"), atom("counter")),
                    (atom("pid"), Term::from(eetf::Pid::new("a@h", 90, 0, 1))),
                    (atom("type"), atom("worker")),
                    (atom("modules"), term::list(vec![atom("Elixir.Agent")])),
                ])]),
            ),
        ]);
        let s = sandbox_from(&entry, Some(&live), &["a@h".to_string()]);
        assert_eq!(s.status, SandboxStatus::Running);
        assert_eq!((s.memory, s.restarts), (Some(2048), Some(1)));
        assert_eq!(s.children[0].id, ":counter");
        assert_eq!(s.children[0].pid.as_deref(), Some("#PID<0.90.0>"));
        assert_eq!(s.children[0].modules, vec!["Agent"]);
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_time(1_796_397_731_000), "2026-12-04 15:22:11 UTC");
    }

    #[test]
    fn history_and_handoff_come_from_the_entry() {
        let event = map(vec![
            (atom("event"), atom("failover")),
            (atom("from"), atom("c@h")),
            (atom("to"), atom("a@h")),
            (atom("at"), crate::term::int(1_796_397_731_000)),
            (atom("by"), atom("cluster")),
            (atom("restored"), term::list(vec![atom("Elixir.Bank.Account")])),
            (atom("lost"), term::list(vec![atom("counter")])),
            (atom("handoff_at"), crate::term::int(1_796_397_700_000)),
        ]);
        let failed = map(vec![
            (atom("event"), atom("failover_failed")),
            (atom("from"), atom("c@h")),
            (atom("on"), atom("b@h")),
            (atom("at"), crate::term::int(1_796_397_730_000)),
            (atom("by"), atom("cluster")),
            (atom("reason"), tuple(vec![atom("start_failed"), atom("nope")])),
        ]);
        let entry = map(vec![
            (atom("id"), bin("s")),
            (atom("node"), atom("a@h")),
            (atom("status"), atom("running")),
            (
                atom("handoff"),
                map(vec![
                    (atom("at"), crate::term::int(1_796_397_700_000)),
                    (atom("children"), term::list(vec![atom("Elixir.Bank.Account")])),
                ]),
            ),
            (atom("history"), term::list(vec![event, failed, atom("something_newer")])),
        ]);
        let s = sandbox_from(&entry, None, &["a@h".to_string()]);
        assert_eq!(s.handoff_ms, Some(1_796_397_700_000));
        assert_eq!(s.handoff_children, vec!["Bank.Account"]);
        assert_eq!(s.history.len(), 2, "unknown events are skipped");
        let last = s.last_failover().unwrap();
        assert_eq!((last.by, last.from.as_str(), last.to.as_str()), (DecidedBy::Cluster, "c@h", "a@h"));
        assert_eq!(
            last.summary(),
            "failed over from c@h to a@h at 2026-12-04 15:22:11 UTC (without Orbit); state of Bank.Account \
             restored from the handoff of 2026-12-04 15:21:40 UTC; :counter started afresh"
        );
        assert_eq!(s.history[1].kind, EventKind::FailoverFailed);
        assert_eq!(s.history[1].to, "b@h");
        assert!(
            s.history[1].summary().contains("could not start it on b@h") && s.history[1].summary().contains("nope")
        );
    }

    #[test]
    fn failover_reports_say_who_restarted_it_and_what_state_came_back() {
        let mut r = FailoverReport {
            id: "acct".into(),
            from: "c@h".into(),
            to: Some("a@h".into()),
            lost: vec![LostChild { id: ":counter".into(), start: "Agent.start_link/1".into() }],
            restored: vec!["Bank.Account".into()],
            handoff_ms: Some(0),
            already: true,
            by: Some(DecidedBy::Cluster),
            error: None,
        };
        let s = r.summary();
        assert!(
            s.starts_with("sandbox acct restarted on a@h by the cluster (without Orbit) after c@h went down"),
            "{s}"
        );
        assert!(
            s.contains("state of Bank.Account restored as the last handoff left it (1970-01-01 00:00:00 UTC)"),
            "{s}"
        );
        assert!(s.contains("state lost: everything its children (:counter) held"), "{s}");
        r.by = None;
        assert_eq!(r.summary(), "sandbox acct of c@h runs on a@h already");
        r.error = Some("boom".into());
        assert_eq!(r.summary(), "sandbox acct of c@h: failover failed: boom");
    }

    #[test]
    fn agent_errors_are_named() {
        let e = agent_error("n@h", &tuple(vec![atom("unknown_module"), atom("Elixir.Nope")]));
        assert_eq!(e.to_string(), "n@h: no module Nope (is it in the node's code path?)");
        let e = agent_error("n@h", &tuple(vec![atom("unknown_sandbox"), bin("zz")]));
        assert!(matches!(e, SandboxError::UnknownSandbox(ref s) if s == "zz"));
        let e = agent_error("n@h", &tuple(vec![atom("already_exists"), bin("a"), atom("m@h")]));
        assert_eq!(e.to_string(), "a sandbox named \"a\" exists already, on m@h");
    }
}
