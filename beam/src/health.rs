//! A node's vital figures, and the cluster's health over time.
//!
//! - [`snapshot`]: one call to the agent's `orbit_health:snapshot/0`, the plain picture of a node.
//! - [`sample`]: the same plus what rates are made of (reductions, IO, scheduler wall time), the memory
//!   limit and the processes with the most memory and the longest queues, chosen on the node.
//! - [`HealthMonitor`]: samples every node on an interval, keeps a bounded history per node, turns
//!   readings into alerts against [`Thresholds`] with hysteresis (so they do not flap), warns when a
//!   resource's trend would reach its limit soon, reports `NodeDown` the moment a connection closes,
//!   and compares what each node sees (`nodes()`) to report partitions and their healing.
//! - [`placement_score`] / [`best_node`]: where to put new work (used by sandboxes).

use crate::cluster::{Cluster, ClusterEvent, NodeOutcome, NodeState};
use crate::processes::ProcessSummary;
use crate::rpc::RpcError;
use crate::term::{atom, int, map, tuple};
use eetf::Term;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Memory in bytes, by kind (`erlang:memory/0`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Memory {
    pub total: u64,
    pub processes: u64,
    pub binary: u64,
    pub ets: u64,
    pub atom: u64,
    pub code: u64,
    pub system: u64,
}

/// One node at one moment.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeSnapshot {
    pub node: String,
    pub otp_release: String,
    pub erts_version: String,
    pub elixir_version: Option<String>,
    pub uptime_ms: u64,
    pub process_count: u64,
    pub process_limit: u64,
    pub port_count: u64,
    pub port_limit: u64,
    pub atom_count: u64,
    pub atom_limit: u64,
    pub memory: Memory,
    pub run_queue: u64,
    pub schedulers: u64,
    pub schedulers_online: u64,
    /// `nodes()` on that node, sorted.
    pub visible_nodes: Vec<String>,
    pub hidden_nodes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error(transparent)]
    Rpc(Box<RpcError>),
    #[error("{node}: unexpected health snapshot: {detail}")]
    Shape { node: String, detail: String },
}

impl From<RpcError> for HealthError {
    fn from(e: RpcError) -> Self {
        HealthError::Rpc(Box::new(e))
    }
}

/// Samples one node.
pub async fn snapshot(cluster: &Cluster, node: &str, timeout: Duration) -> Result<NodeSnapshot, HealthError> {
    let term = cluster.call(node, "orbit_health", "snapshot", vec![], timeout).await?;
    parse_snapshot(&term).ok_or_else(|| HealthError::Shape {
        node: node.to_string(),
        detail: crate::term::render_erlang(&term, &crate::term::Limits::default()),
    })
}

/// Samples every node that is up, in parallel.
pub async fn snapshot_all(cluster: &Cluster, timeout: Duration) -> Vec<(String, Result<NodeSnapshot, HealthError>)> {
    let nodes = cluster.up_nodes();
    futures::future::join_all(nodes.into_iter().map(|n| async move {
        let r = snapshot(cluster, &n, timeout).await;
        (n, r)
    }))
    .await
}

fn parse_snapshot(t: &Term) -> Option<NodeSnapshot> {
    let m = as_map(t)?;
    let mem = as_map(m.get("memory")?)?;
    let mem_u = |k: &str| mem.get(k).and_then(as_u64).unwrap_or(0);
    let u = |k: &str| m.get(k).and_then(as_u64);
    Some(NodeSnapshot {
        node: m.get("node").and_then(as_text)?,
        otp_release: m.get("otp_release").and_then(as_text)?,
        erts_version: m.get("erts_version").and_then(as_text)?,
        elixir_version: m.get("elixir_version").and_then(as_text).filter(|v| v != "undefined"),
        uptime_ms: u("uptime_ms")?,
        process_count: u("process_count")?,
        process_limit: u("process_limit")?,
        port_count: u("port_count")?,
        port_limit: u("port_limit")?,
        atom_count: u("atom_count")?,
        atom_limit: u("atom_limit")?,
        memory: Memory {
            total: mem_u("total"),
            processes: mem_u("processes"),
            binary: mem_u("binary"),
            ets: mem_u("ets"),
            atom: mem_u("atom"),
            code: mem_u("code"),
            system: mem_u("system"),
        },
        run_queue: u("run_queue")?,
        schedulers: u("schedulers")?,
        schedulers_online: u("schedulers_online")?,
        visible_nodes: atoms(m.get("visible_nodes")?),
        hidden_nodes: atoms(m.get("hidden_nodes")?),
    })
}

/// A map with atom keys, keyed by the atom's name.
fn as_map(t: &Term) -> Option<BTreeMap<String, &Term>> {
    let Term::Map(m) = t else { return None };
    Some(
        m.map
            .iter()
            .filter_map(|(k, v)| match k {
                Term::Atom(a) => Some((a.name.clone(), v)),
                _ => None,
            })
            .collect(),
    )
}

fn as_u64(t: &&Term) -> Option<u64> {
    match t {
        Term::FixInteger(i) => u64::try_from(i.value).ok(),
        Term::BigInteger(b) => u64::try_from(&b.value).ok(),
        _ => None,
    }
}

fn as_f64(t: &Term) -> Option<f64> {
    match t {
        Term::Float(f) => Some(f.value),
        Term::FixInteger(i) => Some(i.value as f64),
        Term::BigInteger(b) => b.value.to_string().parse().ok(),
        _ => None,
    }
}

fn as_text(t: &&Term) -> Option<String> {
    match t {
        Term::Binary(b) => Some(String::from_utf8_lossy(&b.bytes).into_owned()),
        Term::Atom(a) => Some(a.name.clone()),
        Term::ByteList(b) => Some(String::from_utf8_lossy(&b.bytes).into_owned()),
        _ => None,
    }
}

fn atoms(t: &Term) -> Vec<String> {
    match t {
        Term::List(l) => l
            .elements
            .iter()
            .filter_map(|e| match e {
                Term::Atom(a) => Some(a.name.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Pairs of nodes whose views of the connection between them differ, or that cannot see each other.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConnectionDisagreement {
    pub node: String,
    pub peer: String,
    /// `node` sees `peer` …
    pub node_sees_peer: bool,
    /// … and `peer` sees `node`.
    pub peer_sees_node: bool,
}

impl std::fmt::Display for ConnectionDisagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.node_sees_peer, self.peer_sees_node) {
            (true, false) => write!(f, "{} sees {} but {} does not see {}", self.node, self.peer, self.peer, self.node),
            (false, true) => write!(f, "{} sees {} but {} does not see {}", self.peer, self.node, self.node, self.peer),
            _ => write!(f, "{} and {} cannot see each other", self.node, self.peer),
        }
    }
}

/// Compares what each sampled node sees with what the others see.
pub fn disagreements(snapshots: &[NodeSnapshot]) -> Vec<ConnectionDisagreement> {
    let mut out = Vec::new();
    for (i, a) in snapshots.iter().enumerate() {
        for b in &snapshots[i + 1..] {
            let ab = a.visible_nodes.contains(&b.node);
            let ba = b.visible_nodes.contains(&a.node);
            if !(ab && ba) {
                out.push(ConnectionDisagreement {
                    node: a.node.clone(),
                    peer: b.node.clone(),
                    node_sees_peer: ab,
                    peer_sees_node: ba,
                });
            }
        }
    }
    out
}

// ─────────────────────────────────────────────────────────────────────────────────────────────────────────
// Samples

/// One node at one moment, with rates against the sample before it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeSample {
    #[serde(flatten)]
    pub snapshot: NodeSnapshot,
    /// When the answer arrived, in milliseconds since the Unix epoch (Orbit's clock).
    pub taken_at_ms: u64,
    /// The machine's or the cgroup's memory, whichever is smaller, when the node can tell.
    pub memory_limit: Option<u64>,
    pub ets_count: u64,
    pub ets_limit: u64,
    /// Share of time the normal schedulers were busy since the previous sample, 0.0–1.0.
    pub scheduler_utilisation: Option<f64>,
    pub reductions_per_sec: Option<f64>,
    /// Bytes per second through ports (sockets, files).
    pub io_input_per_sec: Option<f64>,
    pub io_output_per_sec: Option<f64>,
    /// The window the node measured the rates over itself (a one-off sample with a window); `None` when
    /// they come from the sample before.
    pub rates_window_ms: Option<u64>,
    /// The processes with the most memory, most first.
    pub top_memory: Vec<ProcessSummary>,
    /// The processes with the longest message queues (non-empty ones only), longest first.
    pub top_queue: Vec<ProcessSummary>,
    #[serde(skip)]
    counters: Counters,
}

/// Cumulative figures rates are made from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counters {
    node_time_ms: i64,
    reductions: u64,
    io_input: u64,
    io_output: u64,
    scheduler_wall: Option<(u64, u64)>,
}

impl NodeSample {
    pub fn node(&self) -> &str {
        &self.snapshot.node
    }

    /// The longest message queue on the node, if any process has one.
    pub fn longest_queue(&self) -> Option<&ProcessSummary> {
        self.top_queue.iter().max_by_key(|p| p.message_queue_len)
    }

    /// Fills in the rates from the previous sample of the same node.
    fn with_rates(mut self, prev: Option<&NodeSample>) -> NodeSample {
        let Some(prev) = prev else { return self };
        if self.rates_window_ms.is_some() {
            return self;
        }
        let (a, b) = (prev.counters, self.counters);
        let dt = (b.node_time_ms - a.node_time_ms) as f64 / 1000.0;
        if dt <= 0.0 {
            return self;
        }
        let rate = |x: u64, y: u64| y.checked_sub(x).map(|d| d as f64 / dt);
        self.reductions_per_sec = rate(a.reductions, b.reductions);
        self.io_input_per_sec = rate(a.io_input, b.io_input);
        self.io_output_per_sec = rate(a.io_output, b.io_output);
        if self.scheduler_utilisation.is_none() {
            if let (Some((a0, t0)), Some((a1, t1))) = (a.scheduler_wall, b.scheduler_wall) {
                if t1 > t0 && a1 >= a0 {
                    self.scheduler_utilisation = Some(((a1 - a0) as f64 / (t1 - t0) as f64).clamp(0.0, 1.0));
                }
            }
        }
        self
    }

    /// `count / limit` of processes, ports, atoms, ETS tables and memory, where the limit is known.
    pub fn usage(&self) -> Vec<(Resource, u64, u64)> {
        let s = &self.snapshot;
        let mut v = vec![
            (Resource::Processes, s.process_count, s.process_limit),
            (Resource::Ports, s.port_count, s.port_limit),
            (Resource::Atoms, s.atom_count, s.atom_limit),
            (Resource::EtsTables, self.ets_count, self.ets_limit),
        ];
        if let Some(limit) = self.memory_limit {
            v.push((Resource::Memory, s.memory.total, limit));
        }
        v.retain(|(_, _, limit)| *limit > 0);
        v
    }
}

/// A resource with a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Processes,
    Ports,
    Atoms,
    EtsTables,
    Memory,
}

impl Resource {
    pub fn name(self) -> &'static str {
        match self {
            Resource::Processes => "processes",
            Resource::Ports => "ports",
            Resource::Atoms => "atoms",
            Resource::EtsTables => "ets_tables",
            Resource::Memory => "memory",
        }
    }

    fn amount(self, n: f64) -> String {
        match self {
            Resource::Memory => human_bytes(n),
            _ => group_digits(n.round() as u64),
        }
    }
}

/// What to ask a node for.
#[derive(Debug, Clone, Copy)]
pub struct SampleOptions {
    /// How many processes to report by memory and by queue length.
    pub top_n: usize,
    /// Measure scheduler utilisation over this window during the call (for a one-off sample; a
    /// [`HealthMonitor`] measures between its samples instead).
    pub window: Option<Duration>,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions { top_n: 5, window: None }
    }
}

/// Samples one node (no rates: those need a previous sample, see [`HealthMonitor`]).
pub async fn sample(
    cluster: &Cluster,
    node: &str,
    options: SampleOptions,
    timeout: Duration,
) -> Result<NodeSample, HealthError> {
    let mut opts = vec![(atom("top_n"), int(options.top_n.min(1000) as i64))];
    if let Some(w) = options.window {
        opts.push((atom("window_ms"), int(w.as_millis().clamp(1, 60_000) as i64)));
    }
    let timeout = timeout + options.window.unwrap_or_default();
    let term = cluster.call(node, "orbit_health", "sample", vec![map(opts)], timeout).await?;
    parse_sample(node, &term).ok_or_else(|| HealthError::Shape {
        node: node.to_string(),
        detail: crate::term::render_erlang(&term, &crate::term::Limits::default()),
    })
}

fn parse_sample(node: &str, t: &Term) -> Option<NodeSample> {
    let snapshot = parse_snapshot(t)?;
    let m = as_map(t)?;
    let u = |k: &str| m.get(k).and_then(as_u64);
    let procs = |k: &str| -> Vec<ProcessSummary> {
        match m.get(k) {
            Some(Term::List(l)) => l.elements.iter().filter_map(|p| ProcessSummary::from_term(node, p)).collect(),
            _ => Vec::new(),
        }
    };
    let scheduler_wall = match m.get("scheduler_wall_time") {
        Some(Term::Tuple(tu)) if tu.elements.len() == 2 => Some((as_u64(&&tu.elements[0])?, as_u64(&&tu.elements[1])?)),
        _ => None,
    };
    let node_time_ms = m.get("time_ms").and_then(|t| crate::term::as_integer(t))?;
    let utilisation = match m.get("scheduler_utilisation") {
        Some(Term::Float(f)) => Some(f.value.clamp(0.0, 1.0)),
        _ => None,
    };
    // Rates the node measured itself over the sample's window, if it was given one.
    let rates = m.get("rates").and_then(|r| as_map(r));
    let rate = |k: &str| rates.as_ref().and_then(|r| r.get(k)).and_then(|t| as_f64(t));
    Some(NodeSample {
        snapshot,
        taken_at_ms: now_ms(),
        memory_limit: u("memory_limit"),
        ets_count: u("ets_count").unwrap_or(0),
        ets_limit: u("ets_limit").unwrap_or(0),
        scheduler_utilisation: utilisation,
        reductions_per_sec: rate("reductions_per_sec"),
        io_input_per_sec: rate("io_input_per_sec"),
        io_output_per_sec: rate("io_output_per_sec"),
        rates_window_ms: rates.as_ref().and_then(|r| r.get("window_ms")).and_then(as_u64),
        top_memory: procs("top_memory"),
        top_queue: procs("top_queue"),
        counters: Counters {
            node_time_ms,
            reductions: u("reductions").unwrap_or(0),
            io_input: u("io_input").unwrap_or(0),
            io_output: u("io_output").unwrap_or(0),
            scheduler_wall,
        },
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

// ─────────────────────────────────────────────────────────────────────────────────────────────────────────
// Placement

/// How suitable a node is for new work, from 0.0 (do not use) to 1.0 (idle): free scheduler time, free
/// memory, free process slots and a short run queue, weighted 35/30/15/20. A node past a critical
/// threshold of the default [`Thresholds`] scores 0.
pub fn placement_score(sample: &NodeSample) -> f64 {
    let t = Thresholds::default();
    if sample.usage().iter().any(|(_, n, limit)| *n as f64 / *limit as f64 > t.limit_critical) {
        return 0.0;
    }
    let s = &sample.snapshot;
    let online = s.schedulers_online.max(1) as f64;
    let queue_per_scheduler = s.run_queue as f64 / online;
    let busy = sample.scheduler_utilisation.unwrap_or_else(|| (queue_per_scheduler / 2.0).min(1.0));
    let memory_free = match sample.memory_limit {
        Some(limit) if limit > 0 => 1.0 - (s.memory.total as f64 / limit as f64).min(1.0),
        _ => 0.5,
    };
    let process_free =
        if s.process_limit > 0 { 1.0 - (s.process_count as f64 / s.process_limit as f64).min(1.0) } else { 0.5 };
    let queue_free = 1.0 / (1.0 + queue_per_scheduler);
    let score = 0.35 * (1.0 - busy) + 0.30 * memory_free + 0.15 * process_free + 0.20 * queue_free;
    score.clamp(0.0, 1.0)
}

/// The node with the best [`placement_score`] among those that are up and not in `exclude`; ties go to
/// the first by name. Samples each candidate once, measuring scheduler use over 100 ms.
pub async fn best_node(cluster: &Cluster, exclude: &[String]) -> Option<String> {
    let candidates: Vec<String> = cluster.up_nodes().into_iter().filter(|n| !exclude.contains(n)).collect();
    let options = SampleOptions { top_n: 0, window: Some(Duration::from_millis(100)) };
    let timeout = cluster.call_timeout();
    let scored = futures::future::join_all(candidates.iter().map(|n| async move {
        sample(cluster, n, options, timeout).await.ok().map(|s| (placement_score(&s), n.clone()))
    }))
    .await;
    let mut best: Option<(f64, String)> = None;
    for (score, node) in scored.into_iter().flatten() {
        if best.as_ref().is_none_or(|(b, _)| score > *b) {
            best = Some((score, node));
        }
    }
    best.map(|(_, n)| n)
}

// ─────────────────────────────────────────────────────────────────────────────────────────────────────────
// Thresholds, alerts and hysteresis

/// When a node stops being healthy. An alert is raised after `raise_after` consecutive samples past a
/// threshold and cleared after `clear_after` consecutive samples below `clear_ratio` × that threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thresholds {
    /// Process, port, atom and ETS table counts as a share of their limits: degraded above this.
    pub limit_degraded: f64,
    /// … critical above this.
    pub limit_critical: f64,
    /// Memory in use as a share of the machine's (or cgroup's) memory: degraded above this.
    pub memory_degraded: f64,
    pub memory_critical: f64,
    /// A process's message queue: degraded above this many messages.
    pub mailbox_degraded: u64,
    pub mailbox_critical: u64,
    /// Run queue per online scheduler: degraded above this.
    pub run_queue_degraded: f64,
    pub run_queue_critical: f64,
    pub raise_after: u32,
    pub clear_after: u32,
    pub clear_ratio: f64,
    /// Warn when a resource would reach its limit within this time at its current rate.
    #[serde(serialize_with = "as_secs")]
    pub trend_horizon: Duration,
    /// How many recent samples the trend is fitted over (at least 5 are needed).
    pub trend_window: usize,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            limit_degraded: 0.85,
            limit_critical: 0.95,
            memory_degraded: 0.85,
            memory_critical: 0.95,
            mailbox_degraded: 10_000,
            mailbox_critical: 100_000,
            run_queue_degraded: 4.0,
            run_queue_critical: 16.0,
            raise_after: 2,
            clear_after: 3,
            clear_ratio: 0.8,
            trend_horizon: Duration::from_secs(30 * 60),
            trend_window: 60,
        }
    }
}

/// How serious an alert is. Warnings (trends) do not change a node's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Warning,
    Degraded,
    Critical,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Warning => "warning",
            Level::Degraded => "degraded",
            Level::Critical => "critical",
        })
    }
}

/// A node's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Healthy,
    Degraded,
    Critical,
    Down,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Critical => "critical",
            Status::Down => "down",
        })
    }
}

/// Something wrong on a node, active from `since_ms` until cleared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub node: String,
    /// `processes`, `ports`, `atoms`, `ets_tables`, `memory`, `mailbox`, `run_queue`, `not_answering`,
    /// or `trend:<resource>`.
    pub key: String,
    pub level: Level,
    pub message: String,
    /// The reading and the threshold it crossed (shares for limits, counts for queues).
    pub value: f64,
    pub threshold: f64,
    pub since_ms: u64,
}

/// One reading checked against its thresholds.
#[derive(Debug, Clone, PartialEq)]
struct Reading {
    key: String,
    value: f64,
    /// Thresholds by level, lowest first; a level is reached when `value` is above its threshold.
    levels: Vec<(Level, f64)>,
    message: String,
}

impl Reading {
    /// The highest level whose threshold × `ratio` the value is above.
    fn level(&self, ratio: f64) -> Option<(Level, f64)> {
        self.levels.iter().rev().find(|(_, t)| self.value > t * ratio).copied()
    }
}

/// The readings of one sample (trends come from the history, see `trend_readings`).
fn readings(s: &NodeSample, t: &Thresholds) -> Vec<Reading> {
    let node = s.node();
    let mut out = Vec::new();
    for (resource, n, limit) in s.usage() {
        let share = n as f64 / limit as f64;
        let (d, c) = match resource {
            Resource::Memory => (t.memory_degraded, t.memory_critical),
            _ => (t.limit_degraded, t.limit_critical),
        };
        out.push(Reading {
            key: resource.name().into(),
            value: share,
            levels: vec![(Level::Degraded, d), (Level::Critical, c)],
            message: format!(
                "{} on {node}: {} of {} ({:.0}%, threshold {:.0}%)",
                resource.name().replace('_', " "),
                resource.amount(n as f64),
                resource.amount(limit as f64),
                share * 100.0,
                d * 100.0
            ),
        });
    }
    let longest = s.longest_queue();
    out.push(Reading {
        key: "mailbox".into(),
        value: longest.map(|p| p.message_queue_len as f64).unwrap_or(0.0),
        levels: vec![(Level::Degraded, t.mailbox_degraded as f64), (Level::Critical, t.mailbox_critical as f64)],
        message: match longest {
            Some(p) => format!(
                "{} {} on {node} has {} messages queued (threshold {})",
                p.registered_name.as_deref().unwrap_or("process"),
                p.pid,
                group_digits(p.message_queue_len),
                group_digits(t.mailbox_degraded)
            ),
            None => format!("no message queue on {node}"),
        },
    });
    let online = s.snapshot.schedulers_online.max(1);
    let per = s.snapshot.run_queue as f64 / online as f64;
    out.push(Reading {
        key: "run_queue".into(),
        value: per,
        levels: vec![(Level::Degraded, t.run_queue_degraded), (Level::Critical, t.run_queue_critical)],
        message: format!(
            "run queue on {node}: {} for {online} schedulers ({per:.1} each, threshold {})",
            s.snapshot.run_queue, t.run_queue_degraded
        ),
    });
    out
}

/// Least-squares slope (units per second) and the last value of `points` `(seconds, value)`.
fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 5 {
        return None;
    }
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in points {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
    }
    if sxx <= 0.0 {
        return None;
    }
    Some((sxy / sxx, points.last()?.1))
}

/// Seconds until a resource growing at `slope` per second from `current` reaches `limit`.
fn eta_secs(current: f64, slope: f64, limit: f64) -> Option<f64> {
    (slope > 0.0 && current < limit).then(|| (limit - current) / slope)
}

/// Trend readings over the recent history: the value is the time to the limit, in seconds, turned into
/// "how far inside the horizon" so that a higher value is worse, like every other reading.
fn trend_readings(history: &VecDeque<NodeSample>, t: &Thresholds) -> Vec<Reading> {
    let Some(last) = history.back() else { return Vec::new() };
    let window: Vec<&NodeSample> = history.iter().rev().take(t.trend_window.max(5)).rev().collect();
    let t0 = window.first().map(|s| s.counters.node_time_ms).unwrap_or(0);
    let horizon = t.trend_horizon.as_secs_f64().max(1.0);
    let mut out = Vec::new();
    for (resource, _, limit) in last.usage() {
        let points: Vec<(f64, f64)> = window
            .iter()
            .filter_map(|s| {
                let (_, n, _) = s.usage().into_iter().find(|(r, _, _)| *r == resource)?;
                Some(((s.counters.node_time_ms - t0) as f64 / 1000.0, n as f64))
            })
            .collect();
        let Some((slope, current)) = fit(&points) else { continue };
        let Some(eta) = eta_secs(current, slope, limit as f64) else {
            out.push(Reading {
                key: format!("trend:{}", resource.name()),
                value: 0.0,
                levels: vec![(Level::Warning, 1.0)],
                message: String::new(),
            });
            continue;
        };
        out.push(Reading {
            key: format!("trend:{}", resource.name()),
            // 1.0 at the horizon, larger the sooner; clears once the limit is 1.25 × the horizon away.
            value: horizon / eta.max(0.001),
            levels: vec![(Level::Warning, 1.0)],
            message: format!(
                "{} on {} reaches the limit in {} at the current rate ({} of {}, +{}/s)",
                resource.name().replace('_', " "),
                last.node(),
                approx_duration(eta),
                resource.amount(current),
                resource.amount(limit as f64),
                resource.amount(slope)
            ),
        });
    }
    out
}

/// "~40 s", "~12 min", "~3 h".
pub fn approx_duration(secs: f64) -> String {
    if secs < 90.0 {
        format!("~{} s", secs.round().max(1.0) as u64)
    } else if secs < 2.0 * 3600.0 {
        format!("~{} min", (secs / 60.0).round() as u64)
    } else {
        format!("~{} h", (secs / 3600.0).round() as u64)
    }
}

/// `12,345`: digits in groups of three, as Orbit prints counts everywhere.
pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut u = 0;
    while v.abs() >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{} B", v.round())
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// One alert's state across samples.
#[derive(Debug, Clone, Default)]
struct Track {
    active: Option<Level>,
    /// Consecutive samples asking for a higher level, and which.
    up: u32,
    up_to: Option<Level>,
    /// Consecutive samples below the clearing threshold of the active level.
    down: u32,
    since_ms: u64,
    alert: Option<Alert>,
}

/// What one sample did to an alert.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    Raised(Alert),
    /// Went up or down a level while staying active.
    Changed(Alert),
    Cleared(Alert),
}

impl Track {
    /// Feeds one reading through the hysteresis.
    fn update(&mut self, node: &str, r: &Reading, t: &Thresholds, now_ms: u64) -> Option<Change> {
        self.update_with(node, r, t.raise_after.max(1), t.clear_after.max(1), t.clear_ratio, now_ms)
    }

    fn update_with(
        &mut self,
        node: &str,
        r: &Reading,
        raise_after: u32,
        clear_after: u32,
        clear_ratio: f64,
        now_ms: u64,
    ) -> Option<Change> {
        let raw = r.level(1.0);
        let holding = r.level(clear_ratio).map(|(l, _)| l);
        let make = |level: Level, threshold: f64, since_ms: u64| Alert {
            node: node.to_string(),
            key: r.key.clone(),
            level,
            message: r.message.clone(),
            value: r.value,
            threshold,
            since_ms,
        };
        match (raw, self.active) {
            (Some((level, _)), active) if active.is_none_or(|a| level > a) => {
                // A streak of samples above the active level raises to the lowest level of the streak.
                self.down = 0;
                self.up += 1;
                let streak = self.up_to.map_or(level, |u| u.min(level));
                self.up_to = Some(streak);
                if self.up < raise_after {
                    self.refresh(r);
                    return None;
                }
                self.up = 0;
                self.up_to = None;
                let threshold = r.levels.iter().find(|(l, _)| *l == streak).map(|(_, t)| *t).unwrap_or(0.0);
                let was = self.active.replace(streak);
                if was.is_none() {
                    self.since_ms = now_ms;
                }
                let alert = make(streak, threshold, self.since_ms);
                self.alert = Some(alert.clone());
                Some(if was.is_none() { Change::Raised(alert) } else { Change::Changed(alert) })
            }
            (_, Some(active)) if holding.is_none_or(|h| h < active) => {
                self.up = 0;
                self.up_to = None;
                self.down += 1;
                if self.down < clear_after {
                    self.refresh(r);
                    return None;
                }
                self.down = 0;
                match holding {
                    None => {
                        self.active = None;
                        let mut alert = self.alert.take().unwrap_or_else(|| make(active, 0.0, self.since_ms));
                        alert.value = r.value;
                        Some(Change::Cleared(alert))
                    }
                    Some(lower) => {
                        self.active = Some(lower);
                        let threshold = r.levels.iter().find(|(l, _)| *l == lower).map(|(_, t)| *t).unwrap_or(0.0);
                        let alert = make(lower, threshold, self.since_ms);
                        self.alert = Some(alert.clone());
                        Some(Change::Changed(alert))
                    }
                }
            }
            _ => {
                self.up = 0;
                self.up_to = None;
                self.down = 0;
                self.refresh(r);
                None
            }
        }
    }

    /// Keeps the active alert's message and value current.
    fn refresh(&mut self, r: &Reading) {
        if let Some(a) = self.alert.as_mut() {
            a.value = r.value;
            if !r.message.is_empty() {
                a.message = r.message.clone();
            }
        }
    }
}

// ─────────────────────────────────────────────────────────────────────────────────────────────────────────
// Partitions

/// Nodes that cannot all see each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// Largest sets of nodes that all see each other (they may overlap when a cut is not clean), sorted.
    pub groups: Vec<Vec<String>>,
    /// The pairs that do not see each other both ways.
    pub cuts: Vec<ConnectionDisagreement>,
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let groups: Vec<String> = self.groups.iter().map(|g| format!("[{}]", g.join(", "))).collect();
        write!(f, "partitioned into {}", groups.join(" "))?;
        for c in &self.cuts {
            write!(f, "; {c}")?;
        }
        Ok(())
    }
}

/// What the nodes see of each other, or `None` when every pair sees each other.
pub fn partition(snapshots: &[&NodeSnapshot]) -> Option<Partition> {
    let mut sorted: Vec<&NodeSnapshot> = snapshots.to_vec();
    sorted.sort_by(|a, b| a.node.cmp(&b.node));
    sorted.dedup_by(|a, b| a.node == b.node);
    let owned: Vec<NodeSnapshot> = sorted.iter().map(|s| (*s).clone()).collect();
    let cuts = disagreements(&owned);
    if cuts.is_empty() {
        return None;
    }
    let names: Vec<&str> = sorted.iter().map(|s| s.node.as_str()).collect();
    let n = names.len();
    let mut adj = vec![vec![false; n]; n];
    for i in 0..n {
        for j in 0..n {
            adj[i][j] = i != j
                && sorted[i].visible_nodes.iter().any(|v| v == names[j])
                && sorted[j].visible_nodes.iter().any(|v| v == names[i]);
        }
    }
    let mut cliques = Vec::new();
    bron_kerbosch(&adj, Vec::new(), (0..n).collect(), Vec::new(), &mut cliques);
    let mut groups: Vec<Vec<String>> =
        cliques.into_iter().map(|c| c.into_iter().map(|i| names[i].to_string()).collect()).collect();
    for g in groups.iter_mut() {
        g.sort();
    }
    groups.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    Some(Partition { groups, cuts })
}

/// Maximal cliques, with pivoting; clusters are small enough for this to be instant.
fn bron_kerbosch(adj: &[Vec<bool>], r: Vec<usize>, mut p: Vec<usize>, mut x: Vec<usize>, out: &mut Vec<Vec<usize>>) {
    if p.is_empty() && x.is_empty() {
        out.push(r);
        return;
    }
    let pivot = p.iter().chain(x.iter()).copied().max_by_key(|&u| p.iter().filter(|&&v| adj[u][v]).count());
    let candidates: Vec<usize> = match pivot {
        Some(u) => p.iter().copied().filter(|&v| !adj[u][v]).collect(),
        None => p.clone(),
    };
    for v in candidates {
        let mut r2 = r.clone();
        r2.push(v);
        let p2 = p.iter().copied().filter(|&w| adj[v][w]).collect();
        let x2 = x.iter().copied().filter(|&w| adj[v][w]).collect();
        bron_kerbosch(adj, r2, p2, x2, out);
        p.retain(|&w| w != v);
        x.push(v);
    }
}

// ─────────────────────────────────────────────────────────────────────────────────────────────────────────
// The monitor

/// How a [`HealthMonitor`] samples.
#[derive(Debug, Clone)]
pub struct HealthOptions {
    /// Time between samples of each node.
    pub interval: Duration,
    /// Samples kept per node.
    pub history: usize,
    /// Processes reported per node by memory and by queue length.
    pub top_n: usize,
    pub thresholds: Thresholds,
    /// Bound on one node's answer.
    pub sample_timeout: Duration,
}

impl Default for HealthOptions {
    fn default() -> Self {
        HealthOptions {
            interval: Duration::from_secs(1),
            history: 600,
            top_n: 5,
            thresholds: Thresholds::default(),
            sample_timeout: Duration::from_secs(5),
        }
    }
}

/// What a [`HealthMonitor`] reports as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthEvent {
    /// A round of samples is in; `round` counts from 1.
    Sampled {
        round: u64,
    },
    StatusChanged {
        node: String,
        from: Status,
        to: Status,
    },
    AlertRaised(Alert),
    /// An active alert moved to another level.
    AlertChanged(Alert),
    AlertCleared(Alert),
    /// The connection to the node closed (reported as soon as it does, not at the next sample).
    NodeDown {
        node: String,
        reason: String,
    },
    NodeUp {
        node: String,
    },
    PartitionDetected(Partition),
    /// The groups changed while the cluster stayed partitioned.
    PartitionChanged(Partition),
    PartitionHealed {
        was: Partition,
    },
}

/// One node in a [`HealthReport`].
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub node: String,
    pub status: Status,
    /// Why the node is down or not answering.
    pub reason: Option<String>,
    pub sample: Option<NodeSample>,
    pub alerts: Vec<Alert>,
    pub placement_score: Option<f64>,
    /// The node is connected (or connecting) but gave no answer in time.
    pub no_answer: bool,
}

/// The cluster's health at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    pub nodes: Vec<NodeReport>,
    /// Every active alert, most serious first.
    pub alerts: Vec<Alert>,
    pub partition: Option<Partition>,
    /// Rounds of samples taken so far.
    pub rounds: u64,
    pub thresholds: Thresholds,
}

impl HealthReport {
    pub fn status(&self, node: &str) -> Option<Status> {
        self.nodes.iter().find(|n| n.node == node).map(|n| n.status)
    }
}

#[derive(Debug, Default)]
struct NodeHealth {
    history: VecDeque<NodeSample>,
    tracks: BTreeMap<String, Track>,
    down: Option<String>,
    not_answering: Option<String>,
    status: Option<Status>,
    /// The agent process that keeps scheduler wall time counted, and the session it was started in.
    sampler: Option<(eetf::Pid, eetf::Pid)>,
}

impl NodeHealth {
    fn status(&self) -> Status {
        if self.down.is_some() {
            return Status::Down;
        }
        match self.tracks.values().filter_map(|t| t.active).max() {
            Some(Level::Critical) => Status::Critical,
            Some(Level::Degraded) => Status::Degraded,
            _ => Status::Healthy,
        }
    }

    fn alerts(&self) -> Vec<Alert> {
        self.tracks.values().filter_map(|t| t.alert.clone()).collect()
    }
}

#[derive(Debug, Default)]
struct State {
    nodes: BTreeMap<String, NodeHealth>,
    partition: Option<Partition>,
    rounds: u64,
}

#[derive(Debug)]
struct Shared {
    cluster: Cluster,
    options: HealthOptions,
    state: Mutex<State>,
    events: broadcast::Sender<HealthEvent>,
    /// Tells this monitor's clean-ups apart from another monitor's on the same nodes.
    id: u32,
}

/// Samples every node of a cluster on an interval; see the module documentation. Stops when dropped
/// (the node-side sampler processes then stop with Orbit's session) or, cleanly, with [`stop`](Self::stop).
#[derive(Debug)]
pub struct HealthMonitor {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for HealthMonitor {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl HealthMonitor {
    /// Starts sampling at once.
    pub fn start(cluster: &Cluster, options: HealthOptions) -> HealthMonitor {
        let (events, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            cluster: cluster.clone(),
            options,
            state: Mutex::new(State::default()),
            events,
            id: rand::random(),
        });
        let (stop, _) = watch::channel(false);
        // Subscribe before the first await so no membership change is missed.
        let membership = cluster.subscribe();
        {
            let mut st = shared.state.lock().unwrap();
            for (node, state) in cluster.nodes() {
                let h = st.nodes.entry(node).or_default();
                if let NodeState::Down { reason } = state {
                    h.down = Some(reason);
                }
            }
        }
        let tasks = vec![
            tokio::spawn(sample_loop(shared.clone(), stop.subscribe())),
            tokio::spawn(membership_loop(shared.clone(), membership, stop.subscribe())),
        ];
        HealthMonitor { shared, stop, tasks }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HealthEvent> {
        self.shared.events.subscribe()
    }

    pub fn options(&self) -> &HealthOptions {
        &self.shared.options
    }

    /// Every node Orbit knows, its status, latest sample and active alerts; the partition if any.
    pub fn report(&self) -> HealthReport {
        let st = self.shared.state.lock().unwrap();
        let mut nodes = Vec::new();
        let mut alerts = Vec::new();
        let known: BTreeMap<String, NodeState> = self.shared.cluster.nodes().into_iter().collect();
        let names: BTreeSet<&String> = st.nodes.keys().chain(known.keys()).collect();
        for name in names {
            let h = st.nodes.get(name);
            let sample = h.and_then(|h| h.history.back().cloned());
            let node_alerts = h.map(|h| h.alerts()).unwrap_or_default();
            let (status, reason) = match (h, known.get(name)) {
                (Some(h), _) if h.down.is_some() => (Status::Down, h.down.clone()),
                (_, Some(NodeState::Connecting)) => (Status::Down, Some("connecting".to_string())),
                (_, Some(NodeState::Down { reason })) => (Status::Down, Some(reason.clone())),
                (Some(h), _) => (h.status(), h.not_answering.clone()),
                (None, _) => (Status::Healthy, None),
            };
            alerts.extend(node_alerts.iter().cloned());
            nodes.push(NodeReport {
                node: name.clone(),
                status,
                reason,
                placement_score: sample.as_ref().filter(|_| status != Status::Down).map(placement_score),
                sample,
                alerts: node_alerts,
                no_answer: status != Status::Down && h.is_some_and(|h| h.not_answering.is_some()),
            });
        }
        alerts.sort_by(|a, b| b.level.cmp(&a.level).then_with(|| a.node.cmp(&b.node)).then_with(|| a.key.cmp(&b.key)));
        HealthReport {
            nodes,
            alerts,
            partition: st.partition.clone(),
            rounds: st.rounds,
            thresholds: self.shared.options.thresholds.clone(),
        }
    }

    /// The samples kept for `node`, oldest first.
    pub fn history(&self, node: &str) -> Vec<NodeSample> {
        let st = self.shared.state.lock().unwrap();
        st.nodes.get(node).map(|h| h.history.iter().cloned().collect()).unwrap_or_default()
    }

    /// Rounds of samples taken so far.
    pub fn rounds(&self) -> u64 {
        self.shared.state.lock().unwrap().rounds
    }

    /// Waits until at least `n` rounds of samples are in (or `limit` passes); returns the rounds done.
    pub async fn wait_rounds(&self, n: u64, limit: Duration) -> u64 {
        let mut events = self.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let done = self.rounds();
            if done >= n {
                return done;
            }
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) => return self.rounds(),
                Ok(Err(broadcast::error::RecvError::Closed)) => return self.rounds(),
                Ok(_) => {}
            }
        }
    }

    /// Stops sampling and ends the node-side sampler processes (undoing what the monitor turned on).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
        let samplers: Vec<(String, eetf::Pid)> = {
            let mut st = self.shared.state.lock().unwrap();
            st.nodes.iter_mut().filter_map(|(n, h)| h.sampler.take().map(|(p, _)| (n.clone(), p))).collect()
        };
        let cluster = &self.shared.cluster;
        let key = sampler_key(self.shared.id);
        futures::future::join_all(samplers.into_iter().map(|(node, pid)| {
            let key = key.clone();
            async move {
                let t = Duration::from_secs(5);
                let _ = cluster.call(&node, "orbit_health", "stop_sampler", vec![Term::from(pid)], t).await;
                let _ = cluster.unregister_cleanup(&node, key).await;
            }
        }))
        .await;
    }
}

/// Samples `rounds` times (at least 2 gives rates and scheduler utilisation), then reports. Alerts are
/// raised within those rounds: `raise_after` is capped at `rounds`.
pub async fn check(cluster: &Cluster, mut options: HealthOptions, rounds: u64) -> HealthReport {
    let rounds = rounds.max(1);
    options.thresholds.raise_after = options.thresholds.raise_after.min(rounds as u32).max(1);
    let limit = (options.interval + options.sample_timeout) * (rounds as u32 + 1);
    let monitor = HealthMonitor::start(cluster, options);
    monitor.wait_rounds(rounds, limit).await;
    let report = monitor.report();
    monitor.stop().await;
    report
}

/// One sample of every node, judged at once (no hysteresis: an alert needs one sample past its
/// threshold). Each node measures its own rates over `window` within the one call (see
/// [`SampleOptions::window`]), so nothing waits between two rounds. Nodes are sampled as soon as they are
/// up, each on its own; a node with nothing to show by `deadline` (still connecting, or not answering) is
/// reported `no_answer` without holding up the others.
pub async fn check_once(
    cluster: &Cluster,
    options: &HealthOptions,
    window: Duration,
    deadline: tokio::time::Instant,
) -> HealthReport {
    let started = tokio::time::Instant::now();
    let sample_options = SampleOptions { top_n: options.top_n, window: Some(window) };
    let outcomes = cluster
        .each_node(deadline, |node| async move {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            sample(cluster, &node, sample_options, left.saturating_sub(window)).await
        })
        .await;
    let now = now_ms();
    let t = &options.thresholds;
    let mut nodes = Vec::new();
    let mut alerts = Vec::new();
    let mut answered: Vec<NodeSnapshot> = Vec::new();
    for (node, outcome) in outcomes {
        let mut report = NodeReport {
            node: node.clone(),
            status: Status::Healthy,
            reason: None,
            sample: None,
            alerts: Vec::new(),
            placement_score: None,
            no_answer: false,
        };
        let mut health = NodeHealth::default();
        match outcome {
            NodeOutcome::Answered(Ok(s)) => {
                for r in readings(&s, t) {
                    let track = health.tracks.entry(r.key.clone()).or_default();
                    let _ = track.update_with(&node, &r, 1, t.clear_after.max(1), t.clear_ratio, now);
                }
                answered.push(s.snapshot.clone());
                report.placement_score = Some(placement_score(&s));
                report.sample = Some(s);
            }
            NodeOutcome::Answered(Err(e)) => {
                let timed_out = matches!(&e, HealthError::Rpc(r) if matches!(**r, RpcError::Timeout { .. }));
                let reason = if timed_out { format!("no answer: {e}") } else { e.to_string() };
                let r = not_answering_reading(&node, Some(&reason));
                let _ = health.tracks.entry(r.key.clone()).or_default().update_with(&node, &r, 1, 1, 1.0, now);
                report.reason = Some(reason);
                report.no_answer = timed_out;
            }
            NodeOutcome::NoAnswer => {
                let left = deadline.saturating_duration_since(started);
                let reason = match cluster.nodes().into_iter().find(|(n, _)| *n == node).map(|(_, s)| s) {
                    Some(NodeState::Up) => format!("no answer within {:.1} s", left.as_secs_f64()),
                    _ => format!("no answer within {:.1} s (still connecting)", left.as_secs_f64()),
                };
                let r = not_answering_reading(&node, Some(&reason));
                let _ = health.tracks.entry(r.key.clone()).or_default().update_with(&node, &r, 1, 1, 1.0, now);
                report.reason = Some(reason);
                report.no_answer = true;
            }
            NodeOutcome::Down(reason) => {
                health.down = Some(reason.clone());
                report.reason = Some(reason);
            }
        }
        report.status = health.status();
        report.alerts = health.alerts();
        alerts.extend(report.alerts.iter().cloned());
        nodes.push(report);
    }
    alerts.sort_by(|a, b| b.level.cmp(&a.level).then_with(|| a.node.cmp(&b.node)).then_with(|| a.key.cmp(&b.key)));
    let views: Vec<&NodeSnapshot> = answered.iter().collect();
    HealthReport { nodes, alerts, partition: partition(&views), rounds: 1, thresholds: t.clone() }
}

fn sampler_key(id: u32) -> Term {
    tuple(vec![atom("orbit_health_sampler"), int(id as i64)])
}

async fn sample_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(shared.options.interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
        }
        tokio::select! {
            _ = round(&shared) => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
        }
    }
}

/// Starts the node-side sampler on `node` unless one runs for the current agent session.
async fn ensure_sampler(shared: &Shared, node: &str) {
    let cluster = &shared.cluster;
    let Some(session) = cluster.session(node) else { return };
    let current = shared.state.lock().unwrap().nodes.get(node).and_then(|h| h.sampler.clone());
    if current.is_some_and(|(_, s)| s == session.pid) {
        return;
    }
    let t = shared.options.sample_timeout;
    let me = atom(cluster.local_name());
    let Ok(reply) = cluster.call(node, "orbit_health", "start_sampler", vec![me], t).await else { return };
    let Some([_, Term::Pid(pid)]) = crate::term::as_tuple(&reply) else { return };
    let stop = vec![Term::from(pid.clone())];
    if cluster.register_cleanup(node, sampler_key(shared.id), "orbit_health", "stop_sampler", stop).await.is_err() {
        // Without a clean-up it must not stay: stop it now.
        let _ = cluster.call(node, "orbit_health", "stop_sampler", vec![Term::from(pid.clone())], t).await;
        return;
    }
    let mut st = shared.state.lock().unwrap();
    st.nodes.entry(node.to_string()).or_default().sampler = Some((pid.clone(), session.pid));
}

/// Samples every node that is up, updates alerts and the partition, and reports what changed.
async fn round(shared: &Shared) {
    let cluster = &shared.cluster;
    let options = &shared.options;
    let nodes = cluster.up_nodes();
    let sample_options = SampleOptions { top_n: options.top_n, window: None };
    let results = futures::future::join_all(nodes.iter().map(|n| async move {
        ensure_sampler(shared, n).await;
        (n.clone(), sample(cluster, n, sample_options, options.sample_timeout).await)
    }))
    .await;

    let now = now_ms();
    let mut events = Vec::new();
    let mut st = shared.state.lock().unwrap();
    let mut answered: Vec<NodeSnapshot> = Vec::new();
    for (node, result) in results {
        let h = st.nodes.entry(node.clone()).or_default();
        let before = h.status();
        match result {
            Ok(s) => {
                h.not_answering = None;
                let s = s.with_rates(h.history.back());
                answered.push(s.snapshot.clone());
                h.history.push_back(s);
                while h.history.len() > options.history.max(1) {
                    h.history.pop_front();
                }
                let latest = h.history.back().unwrap();
                let mut rs = readings(latest, &options.thresholds);
                rs.push(not_answering_reading(&node, None));
                rs.extend(trend_readings(&h.history, &options.thresholds));
                for r in rs {
                    let track = h.tracks.entry(r.key.clone()).or_default();
                    let change = if r.key == "not_answering" {
                        track.update_with(&node, &r, 1, 1, 1.0, now)
                    } else {
                        track.update(&node, &r, &options.thresholds, now)
                    };
                    events.extend(change.map(change_event));
                }
            }
            Err(e) => {
                // A node that went down is reported by the membership loop.
                if h.down.is_some() || cluster.link(&node).is_none() {
                    continue;
                }
                let reason = e.to_string();
                h.not_answering = Some(reason.clone());
                let r = not_answering_reading(&node, Some(&reason));
                let track = h.tracks.entry(r.key.clone()).or_default();
                let change = track.update(&node, &r, &options.thresholds, now);
                events.extend(change.map(change_event));
            }
        }
        let after = h.status();
        if h.status.is_some_and(|s| s != after) || (h.status.is_none() && after != Status::Healthy) {
            events.push(HealthEvent::StatusChanged { node: node.clone(), from: h.status.unwrap_or(before), to: after });
        }
        h.status = Some(after);
    }
    // Partitions are judged only on the nodes that answered this round.
    let views: Vec<&NodeSnapshot> = answered.iter().collect();
    let now_partition = partition(&views);
    match (&st.partition, &now_partition) {
        (None, Some(p)) => events.push(HealthEvent::PartitionDetected(p.clone())),
        (Some(was), None) => events.push(HealthEvent::PartitionHealed { was: was.clone() }),
        (Some(a), Some(b)) if a != b => events.push(HealthEvent::PartitionChanged(b.clone())),
        _ => {}
    }
    st.partition = now_partition;
    st.rounds += 1;
    events.push(HealthEvent::Sampled { round: st.rounds });
    drop(st);
    for e in events {
        let _ = shared.events.send(e);
    }
}

fn not_answering_reading(node: &str, error: Option<&str>) -> Reading {
    Reading {
        key: "not_answering".into(),
        value: if error.is_some() { 1.0 } else { 0.0 },
        levels: vec![(Level::Critical, 0.5)],
        message: format!("{node} does not answer: {}", error.unwrap_or("")),
    }
}

fn change_event(c: Change) -> HealthEvent {
    match c {
        Change::Raised(a) => HealthEvent::AlertRaised(a),
        Change::Changed(a) => HealthEvent::AlertChanged(a),
        Change::Cleared(a) => HealthEvent::AlertCleared(a),
    }
}

/// Reports `NodeDown` as soon as the cluster sees a connection close, without waiting for a sample.
async fn membership_loop(
    shared: Arc<Shared>,
    mut membership: broadcast::Receiver<ClusterEvent>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let event = tokio::select! {
            e = membership.recv() => e,
            r = stop.changed() => if r.is_err() || *stop.borrow() { return } else { continue },
        };
        let event = match event {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let mut events = Vec::new();
        {
            let mut st = shared.state.lock().unwrap();
            match &event {
                ClusterEvent::NodeDown { node, reason } => {
                    let h = st.nodes.entry(node.clone()).or_default();
                    let from = h.status.unwrap_or(Status::Healthy);
                    h.down = Some(reason.clone());
                    h.not_answering = None;
                    h.sampler = None;
                    h.status = Some(Status::Down);
                    events.push(HealthEvent::NodeDown { node: node.clone(), reason: reason.clone() });
                    if from != Status::Down {
                        events.push(HealthEvent::StatusChanged { node: node.clone(), from, to: Status::Down });
                    }
                }
                ClusterEvent::NodeUp { node } => {
                    let h = st.nodes.entry(node.clone()).or_default();
                    let was_down = h.down.take().is_some();
                    // What was true before the node went away says nothing about it now.
                    h.tracks.clear();
                    let to = h.status();
                    events.push(HealthEvent::NodeUp { node: node.clone() });
                    if was_down {
                        events.push(HealthEvent::StatusChanged { node: node.clone(), from: Status::Down, to });
                    }
                    h.status = Some(to);
                }
            }
        }
        for e in events {
            let _ = shared.events.send(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(node: &str, sees: &[&str]) -> NodeSnapshot {
        NodeSnapshot {
            node: node.into(),
            otp_release: "25".into(),
            erts_version: "13".into(),
            elixir_version: None,
            uptime_ms: 0,
            process_count: 0,
            process_limit: 0,
            port_count: 0,
            port_limit: 0,
            atom_count: 0,
            atom_limit: 0,
            memory: Memory::default(),
            run_queue: 0,
            schedulers: 1,
            schedulers_online: 1,
            visible_nodes: sees.iter().map(|s| s.to_string()).collect(),
            hidden_nodes: vec![],
        }
    }

    #[test]
    fn full_mesh_has_no_disagreement() {
        let s = [snap("a", &["b", "c"]), snap("b", &["a", "c"]), snap("c", &["a", "b"])];
        assert!(disagreements(&s).is_empty());
    }

    #[test]
    fn one_sided_and_mutual_cuts_are_reported() {
        let s = [snap("a", &["b"]), snap("b", &["c"]), snap("c", &["b"])];
        let d = disagreements(&s);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].to_string(), "a sees b but b does not see a");
        assert_eq!(d[1].to_string(), "a and c cannot see each other");
    }

    fn sample_of(node: &str, time_s: i64) -> NodeSample {
        NodeSample {
            snapshot: snap(node, &[]),
            taken_at_ms: 0,
            memory_limit: Some(1000),
            ets_count: 10,
            ets_limit: 8192,
            scheduler_utilisation: None,
            reductions_per_sec: None,
            io_input_per_sec: None,
            io_output_per_sec: None,
            rates_window_ms: None,
            top_memory: vec![],
            top_queue: vec![],
            counters: Counters { node_time_ms: time_s * 1000, ..Counters::default() },
        }
    }

    fn queue(node: &str, len: u64) -> ProcessSummary {
        let pid = eetf::Pid::new(node, 250, 0, 1);
        ProcessSummary {
            node: node.into(),
            pid: crate::processes::local_pid_text(&pid),
            pid_term: Some(pid),
            registered_name: Some("Bank.Mailbox".into()),
            process_label: None,
            memory: 0,
            reductions: 0,
            message_queue_len: len,
            status: "waiting".into(),
            current_function: None,
            initial_call: None,
        }
    }

    fn mailbox_reading(len: u64, t: &Thresholds) -> Reading {
        let mut s = sample_of("a@h", 0);
        s.snapshot.process_limit = 100;
        s.top_queue = vec![queue("a@h", len)];
        readings(&s, t).into_iter().find(|r| r.key == "mailbox").unwrap()
    }

    #[test]
    fn mailbox_alert_has_hysteresis() {
        let t = Thresholds { mailbox_degraded: 500, mailbox_critical: 5000, ..Thresholds::default() };
        let mut track = Track::default();
        let mut feed = |len| track.update("a@h", &mailbox_reading(len, &t), &t, 1);
        // one sample above is not enough (raise_after = 2)
        assert_eq!(feed(600), None);
        let raised = feed(700).expect("raised on the second sample");
        let Change::Raised(a) = raised else { panic!("{raised:?}") };
        assert_eq!(a.level, Level::Degraded);
        assert!(a.message.contains("Bank.Mailbox #PID<0.250.0> on a@h has 700 messages queued"), "{}", a.message);
        // dipping just under the threshold (but above 80% of it) does not clear: no flapping
        for len in [490, 510, 450, 499, 520] {
            assert_eq!(feed(len), None, "{len}");
        }
        // escalation: a streak above the critical threshold
        assert_eq!(feed(6000), None);
        assert!(matches!(feed(7000), Some(Change::Changed(Alert { level: Level::Critical, .. }))));
        // below 80% of critical but above 80% of degraded for clear_after samples: back to degraded
        assert_eq!(feed(1000), None);
        assert_eq!(feed(1000), None);
        assert!(matches!(feed(1000), Some(Change::Changed(Alert { level: Level::Degraded, .. }))));
        // below 80% of degraded (400) for 3 samples clears
        assert_eq!(feed(100), None);
        assert_eq!(feed(100), None);
        assert!(matches!(feed(100), Some(Change::Cleared(_))));
        assert_eq!(feed(100), None);
    }

    #[test]
    fn limits_memory_and_run_queue_readings() {
        let t = Thresholds::default();
        let mut s = sample_of("a@h", 0);
        s.snapshot.process_count = 90;
        s.snapshot.process_limit = 100;
        s.snapshot.run_queue = 40;
        s.snapshot.schedulers_online = 2;
        s.snapshot.memory.total = 960;
        let rs = readings(&s, &t);
        let level = |k: &str| rs.iter().find(|r| r.key == k).and_then(|r| r.level(1.0)).map(|(l, _)| l);
        assert_eq!(level("processes"), Some(Level::Degraded));
        assert_eq!(level("memory"), Some(Level::Critical));
        assert_eq!(level("run_queue"), Some(Level::Critical));
        assert_eq!(level("atoms"), None);
        assert_eq!(level("mailbox"), None);
        let p = rs.iter().find(|r| r.key == "processes").unwrap();
        assert_eq!(p.message, "processes on a@h: 90 of 100 (90%, threshold 85%)");
    }

    #[test]
    fn trend_warns_before_the_limit() {
        let t = Thresholds::default();
        let mut h = VecDeque::new();
        // memory grows 1 unit per second from 100 towards the limit of 1000: ~15 min left
        for i in 0..20 {
            let mut s = sample_of("b@host", i);
            s.snapshot.memory.total = 100 + i as u64;
            h.push_back(s);
        }
        let rs = trend_readings(&h, &t);
        let m = rs.iter().find(|r| r.key == "trend:memory").unwrap();
        assert!(m.level(1.0).is_some(), "{m:?}");
        assert!(
            m.message.starts_with("memory on b@host reaches the limit in ~15 min at the current rate"),
            "{}",
            m.message
        );
        // flat: nothing to warn about
        let flat: VecDeque<NodeSample> = (0..20).map(|i| sample_of("b@host", i)).collect();
        assert!(trend_readings(&flat, &t).iter().all(|r| r.level(1.0).is_none()));
        assert_eq!(approx_duration(30.0), "~30 s");
        assert_eq!(approx_duration(12.0 * 60.0), "~12 min");
        assert_eq!(approx_duration(5.0 * 3600.0), "~5 h");
    }

    #[test]
    fn rates_come_from_the_previous_sample() {
        let mut a = sample_of("a@h", 10);
        a.counters.reductions = 1_000;
        a.counters.io_input = 0;
        a.counters.scheduler_wall = Some((100, 1000));
        let mut b = sample_of("a@h", 12);
        b.counters.reductions = 5_000;
        b.counters.io_input = 4_096;
        b.counters.scheduler_wall = Some((600, 2000));
        let b = b.with_rates(Some(&a));
        assert_eq!(b.reductions_per_sec, Some(2_000.0));
        assert_eq!(b.io_input_per_sec, Some(2_048.0));
        assert_eq!(b.scheduler_utilisation, Some(0.5));
        assert_eq!(sample_of("a@h", 1).with_rates(None).reductions_per_sec, None);
    }

    #[test]
    fn partition_groups_and_cuts() {
        let a = snap("a", &["b", "c"]);
        let b = snap("b", &["a", "c"]);
        let c = snap("c", &["a", "b"]);
        assert_eq!(partition(&[&a, &b, &c]), None);
        // a–b cut; c still sees both: two overlapping groups
        let a = snap("a", &["c"]);
        let b = snap("b", &["c"]);
        let p = partition(&[&a, &b, &c]).unwrap();
        assert_eq!(p.groups, vec![vec!["a".to_string(), "c".into()], vec!["b".to_string(), "c".into()]]);
        assert_eq!(p.cuts.len(), 1);
        // a clean split
        let c = snap("c", &["b"]);
        let b = snap("b", &["c"]);
        let a = snap("a", &[]);
        let p = partition(&[&a, &b, &c]).unwrap();
        assert_eq!(p.groups, vec![vec!["b".to_string(), "c".into()], vec!["a".to_string()]]);
        assert_eq!(
            p.to_string(),
            "partitioned into [b, c] [a]; a and b cannot see each other; a and c cannot see each other"
        );
    }

    #[test]
    fn placement_prefers_idle_nodes() {
        let mut idle = sample_of("a@h", 0);
        idle.snapshot.process_count = 100;
        idle.snapshot.process_limit = 1000;
        idle.snapshot.schedulers_online = 2;
        idle.scheduler_utilisation = Some(0.05);
        idle.snapshot.memory.total = 100;
        let mut busy = idle.clone();
        busy.scheduler_utilisation = Some(0.9);
        busy.snapshot.run_queue = 10;
        busy.snapshot.memory.total = 700;
        assert!(placement_score(&idle) > placement_score(&busy));
        let mut full = idle.clone();
        full.snapshot.process_count = 990;
        assert_eq!(placement_score(&full), 0.0);
        assert!((0.0..=1.0).contains(&placement_score(&idle)));
    }

    #[test]
    fn digits_and_bytes() {
        assert_eq!(group_digits(1234567), "1,234,567");
        assert_eq!(group_digits(12), "12");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
    }
}
