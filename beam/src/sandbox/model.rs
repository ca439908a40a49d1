//! What sandboxes are and what their operations report; the balance plan and the summaries (pure).

use super::DEFAULT_TIMEOUT;
use crate::cluster::NodeUnavailable;
use crate::rpc::RpcError;
use eetf::Term;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// What a sandbox runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Children {
    /// `Module.child_spec(arg)` (the module must export `child_spec/1`). `module` is an atom name:
    /// `Elixir.Bank.Account` (see [`crate::names::module_atom`]).
    Module { module: String, arg: Term },
    /// Child specs as terms: maps, 6-tuples, or Elixir's `{Module, arg}` / `Module` shorthands.
    Specs(Vec<Term>),
    /// Elixir expressions evaluated on the sandbox's node, each giving a child spec (or a list of them),
    /// e.g. `{Agent, fn -> 0 end}`.
    Elixir(Vec<String>),
    /// The same in Erlang syntax, e.g. `#{id => c, start => {my_server, start_link, []}}`.
    Erlang(Vec<String>),
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
        self.history.iter().find(|e| e.kind == SandboxEventKind::Failover)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxEventKind {
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
    pub kind: SandboxEventKind,
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
            SandboxEventKind::Failover => {
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
            SandboxEventKind::FailoverFailed => format!(
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
    /// The node is not a member, is still connecting, or is down.
    #[error(transparent)]
    Unavailable(#[from] NodeUnavailable),
    #[error("no node is available for a sandbox")]
    NoNodes,
    #[error("no sandbox named {0:?} (orbit sandbox list, or the orbit.sandbox.list command, shows them)")]
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

impl From<RpcError> for SandboxError {
    fn from(e: RpcError) -> Self {
        SandboxError::Rpc(Box::new(e))
    }
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

pub(super) fn before_counts(counts: &BTreeMap<String, Vec<(String, u64)>>) -> BTreeMap<String, usize> {
    counts.iter().map(|(n, v)| (n.clone(), v.len())).collect()
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
    fn utc_times() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_time(1_796_397_731_000), "2026-12-04 15:22:11 UTC");
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
}
