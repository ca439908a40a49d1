//! The cluster side, on a tokio runtime: joins the cluster (retrying in the background), watches its
//! health, and builds a [`ClusterModel`] every refresh; everything it learns goes to the main loop as an
//! [`Event`] over a crossbeam channel. What it needs of the main loop's state (the open documents'
//! modules, what this server reloaded) and when to refresh come to it as [`ToWorker`] messages: it shares
//! no state with the main loop.

use crate::config::Config;
use crate::main_loop::{ClusterMsg, Event};
use crate::model::{disconnected_health, now_ms, ClusterModel, Hotspot, ModuleProcs};
use beam::cluster::{Cluster, ClusterOptions, NodeState};
use beam::health::{HealthEvent, HealthMonitor, HealthOptions, HealthReport, Level, Status};
use beam::link::{Cookie, NodeName};
use beam::processes::{self, InfoOptions, ProcessQuery, ProcessSpec, SortBy};
use beam::reload::{self, DriftFilter};
use beam::term::{as_binary, atom};
use crossbeam_channel::Sender;
use futures::future::join_all;
use lsp_types::MessageType;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch};

/// How long to wait before trying an unreachable cluster again.
pub const RETRY: Duration = Duration::from_secs(5);
/// Bound on each call the refresh makes.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What the main loop tells the worker.
#[derive(Debug)]
pub enum ToWorker {
    /// The module atoms of open documents (their versions and load times are fetched on every refresh),
    /// and the source file of an open document that defines each (where its `_build` is looked for).
    Interest { modules: BTreeSet<String>, sources: BTreeMap<String, PathBuf> },
    /// Module atom → the md5 this server last loaded from its source file, with the file's modification
    /// time then: while the file is unchanged, nodes running that md5 run fresh code.
    Reloaded(HashMap<String, (String, Option<SystemTime>)>),
    /// Refresh the model now (after a reload, when files changed on disk, when the modules changed).
    Refresh,
}

/// The last the worker was told of the main loop's state.
#[derive(Debug, Default)]
struct Inputs {
    interest: BTreeSet<String>,
    sources: BTreeMap<String, PathBuf>,
    reloaded: HashMap<String, (String, Option<SystemTime>)>,
}

impl Inputs {
    /// Takes in one message; true when it asks for a refresh.
    fn take(&mut self, msg: ToWorker) -> bool {
        match msg {
            ToWorker::Interest { modules, sources } => {
                self.interest = modules;
                self.sources = sources;
                false
            }
            ToWorker::Reloaded(reloaded) => {
                self.reloaded = reloaded;
                false
            }
            ToWorker::Refresh => true,
        }
    }
}

/// Runs until the main loop goes away (its channels close).
pub async fn run(mut config: watch::Receiver<Config>, mut inbox: mpsc::UnboundedReceiver<ToWorker>, tx: Sender<Event>) {
    let mut inputs = Inputs::default();
    loop {
        let cfg = config.borrow_and_update().clone();
        if cfg.nodes.is_empty() {
            let msg = "Orbit: no cluster configured: set `nodes` (initializationOptions, workspace settings \
                       `orbit.nodes`, .orbit.toml or ORBIT_NODE)";
            if !send(&tx, ClusterMsg::Connection { connected: false, message: msg.into() }) {
                return;
            }
            if !wait_for_settings(&mut config, &mut inbox, &mut inputs, None).await {
                return;
            }
            continue;
        }
        let cluster = match connect(&cfg).await {
            Ok(c) => c,
            Err(e) => {
                let msg = format!("Orbit: cannot reach the cluster ({e}); retrying in the background");
                if !send(&tx, ClusterMsg::Connection { connected: false, message: msg }) {
                    return;
                }
                if !wait_for_settings(&mut config, &mut inbox, &mut inputs, Some(RETRY)).await {
                    return;
                }
                continue;
            }
        };
        if !send(&tx, ClusterMsg::Cluster(Some(cluster.clone()))) {
            return;
        }
        let up = cluster.up_nodes().len();
        let msg = format!("Orbit: connected to the cluster ({up} node{} up)", if up == 1 { "" } else { "s" });
        if !send(&tx, ClusterMsg::Connection { connected: true, message: msg }) {
            return;
        }
        let keep = watch_cluster(&cluster, &cfg, &mut config, &mut inbox, &mut inputs, &tx).await;
        // Commands no longer get this connection; the main loop lets go of it.
        let _ = send(&tx, ClusterMsg::Cluster(None));
        drop(cluster);
        if !keep {
            return;
        }
    }
}

/// Waits until the settings change (or, with `retry`, until it has passed), taking in the main loop's
/// messages meanwhile; false when the main loop is gone.
async fn wait_for_settings(
    config: &mut watch::Receiver<Config>,
    inbox: &mut mpsc::UnboundedReceiver<ToWorker>,
    inputs: &mut Inputs,
    retry: Option<Duration>,
) -> bool {
    let retry = async {
        match retry {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(retry);
    loop {
        tokio::select! {
            _ = &mut retry => return true,
            r = config.changed() => return r.is_ok(),
            m = inbox.recv() => match m {
                Some(m) => {
                    inputs.take(m);
                }
                None => return false,
            },
        }
    }
}

fn send(tx: &Sender<Event>, msg: ClusterMsg) -> bool {
    tx.send(Event::Cluster(Box::new(msg))).is_ok()
}

async fn connect(cfg: &Config) -> anyhow::Result<Cluster> {
    let seeds = cfg.nodes.iter().map(|n| NodeName::parse(n.trim())).collect::<Result<Vec<_>, _>>()?;
    let cookie = match (&cfg.cookie, &cfg.cookie_file) {
        (Some(c), _) => Cookie::new(c.clone()),
        (None, Some(f)) => Cookie::from_file(f).map_err(anyhow::Error::msg)?,
        (None, None) => Cookie::from_environment().map_err(anyhow::Error::msg)?,
    };
    // Health and drift on every refresh: the core and the reload group at connect; tracing and sandboxes
    // are installed on a node at their first use.
    let mut options = ClusterOptions { call_timeout: CALL_TIMEOUT, ..ClusterOptions::default() }
        .with_group(beam::agent::Group::Reload);
    options.link.connect_timeout = CALL_TIMEOUT;
    options.link.tls = cfg.tls.resolve()?;
    options.read_only = cfg.read_only;
    let cluster = Cluster::connect(&seeds, cookie, options).await?;
    // Discovered nodes get the call timeout to connect, so that the first model covers the whole cluster.
    cluster.settle(CALL_TIMEOUT).await;
    Ok(cluster)
}

/// Refreshes the model until the connection settings change (returns true) or the main loop is gone
/// (false).
async fn watch_cluster(
    cluster: &Cluster,
    cfg: &Config,
    config: &mut watch::Receiver<Config>,
    inbox: &mut mpsc::UnboundedReceiver<ToWorker>,
    inputs: &mut Inputs,
    tx: &Sender<Event>,
) -> bool {
    let mut cfg = cfg.clone();
    let mut options = HealthOptions { interval: cfg.refresh_interval, history: 30, top_n: 5, ..Default::default() };
    options.thresholds.mailbox_degraded = cfg.mailbox_warning;
    options.thresholds.mailbox_critical = cfg.mailbox_critical;
    let monitor = HealthMonitor::start(cluster, options);
    let mut events = monitor.subscribe();
    let mut previous: HashMap<(String, String), (u64, Instant)> = HashMap::new();
    let mut last_model: Option<ClusterModel> = None;
    let mut md5s = Md5Cache::default();
    let mut next = tokio::time::Instant::now();
    // What the main loop said while there was no connection is in the first model.
    while let Ok(m) = inbox.try_recv() {
        inputs.take(m);
    }
    let keep = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            m = inbox.recv() => {
                let Some(m) = m else { break false };
                // A burst of messages is one refresh at most.
                let mut refresh = inputs.take(m);
                while let Ok(m) = inbox.try_recv() {
                    refresh |= inputs.take(m);
                }
                if !refresh { continue; }
            }
            ev = events.recv() => {
                match ev {
                    Ok(ev) => {
                        let urgent = matches!(ev, HealthEvent::NodeDown { .. } | HealthEvent::NodeUp { .. });
                        if let Some((kind, text)) = notice(&ev) {
                            if !send(tx, ClusterMsg::Notice(kind, text)) { break false; }
                        }
                        if !urgent { continue; }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => {}
                }
            }
            r = config.changed() => {
                if r.is_err() { break false; }
                let new = config.borrow_and_update().clone();
                if new.connection_key() != cfg.connection_key() { break true; }
                cfg = new;
            }
        }
        let model = build_model(cluster, &monitor, &cfg, inputs, &mut previous, &mut md5s).await;
        next = tokio::time::Instant::now() + cfg.refresh_interval;
        // Only what changed goes to the main loop (the health object's figures move on every sample).
        let same = last_model.as_ref().is_some_and(|last| {
            let strip = |m: &ClusterModel| ClusterModel { health: crate::model::health_key(&m.health), ..m.clone() };
            strip(last) == strip(&model)
        });
        if !same {
            last_model = Some(model.clone());
            if !send(tx, ClusterMsg::Model(model)) {
                break false;
            }
        } else if last_model.as_ref().is_some_and(|last| last.health != model.health) {
            // Fresh figures still reach `orbit/clusterStatus`, without recomputing diagnostics and lenses.
            if let Some(last) = last_model.as_mut() {
                last.health = model.health.clone();
            }
            if !send(tx, ClusterMsg::Figures(model.health)) {
                break false;
            }
        }
    };
    monitor.stop().await;
    keep
}

/// What a health event tells the user, once, when it happens.
pub fn notice(ev: &HealthEvent) -> Option<(MessageType, String)> {
    match ev {
        HealthEvent::NodeDown { node, reason } => {
            Some((MessageType::WARNING, format!("Orbit: node {node} is down ({reason})")))
        }
        HealthEvent::NodeUp { node } => Some((MessageType::INFO, format!("Orbit: node {node} is up"))),
        HealthEvent::PartitionDetected(p) | HealthEvent::PartitionChanged(p) => {
            Some((MessageType::ERROR, format!("Orbit: the cluster is partitioned: {p}")))
        }
        HealthEvent::PartitionHealed { .. } => Some((MessageType::INFO, "Orbit: the partition healed".into())),
        HealthEvent::AlertRaised(a) | HealthEvent::AlertChanged(a) if a.level == Level::Critical => {
            Some((MessageType::ERROR, format!("Orbit: {}: {}", a.node, a.message)))
        }
        _ => None,
    }
}

async fn build_model(
    cluster: &Cluster,
    monitor: &HealthMonitor,
    cfg: &Config,
    inputs: &Inputs,
    previous: &mut HashMap<(String, String), (u64, Instant)>,
    md5s: &mut Md5Cache,
) -> ClusterModel {
    let nodes: Vec<(String, bool)> = cluster.nodes().into_iter().map(|(n, s)| (n, s == NodeState::Up)).collect();
    let up: Vec<String> = nodes.iter().filter(|(_, u)| *u).map(|(n, _)| n.clone()).collect();
    let report = monitor.report();
    let health = health_object(&report, &nodes);

    // The drift report, every open module's md5 on every node and the processes, asked for all at once.
    let query = ProcessQuery { sort: SortBy::MessageQueue, limit: 5000, ..Default::default() };
    let up = &up;
    let versions = join_all(inputs.interest.iter().map(|m| async move {
        let answers = join_all(up.iter().map(|n| module_md5(cluster, n, m))).await;
        (m.clone(), up.iter().cloned().zip(answers).collect::<BTreeMap<String, Option<String>>>())
    }));
    let (drift, versions, page) = tokio::join!(
        reload::drift(cluster, &DriftFilter::All, None, CALL_TIMEOUT),
        versions,
        processes::list(cluster, &query, CALL_TIMEOUT)
    );
    let mut drift: Vec<crate::model::Drift> =
        drift.map(|r| r.modules.into_iter().map(Into::into).collect()).unwrap_or_default();
    let versions: BTreeMap<String, BTreeMap<String, Option<String>>> = versions.into_iter().collect();
    let mut built = BTreeMap::new();
    for m in versions.keys() {
        if let Some(src) = inputs.sources.get(m) {
            if let Some(mut b) = project_build(src, m, md5s) {
                let now = std::fs::metadata(src).and_then(|x| x.modified()).ok();
                b.reloaded = inputs.reloaded.get(m).filter(|(_, then)| *then == now).map(|(md5, _)| md5.clone());
                built.insert(m.clone(), b);
            }
        }
    }

    // Open documents' modules that the drift report left out (e.g. loaded from a binary with no file,
    // which `drift` counts as platform code): compare the versions fetched above.
    for (m, per_node) in &versions {
        if drift.iter().any(|d| &d.module == m) || per_node.len() < 2 {
            continue;
        }
        let loaded: BTreeSet<&String> = per_node.values().flatten().collect();
        let kind = match loaded.len() {
            0 => continue,
            1 if per_node.values().all(Option::is_some) => continue,
            1 => reload::DriftKind::NotLoadedEverywhere,
            _ => reload::DriftKind::Different,
        };
        let versions = per_node
            .iter()
            .map(|(n, v)| {
                let v = match v {
                    Some(md5) => reload::ModuleVersion::Loaded { md5: md5.clone() },
                    None => reload::ModuleVersion::NotLoaded { on_disk: None },
                };
                (n.clone(), v)
            })
            .collect();
        drift.push(crate::model::Drift { module: m.clone(), kind, versions });
    }

    let mut procs: BTreeMap<String, ModuleProcs> = BTreeMap::new();
    let mut hot = Vec::new();
    if let Ok(page) = page {
        for p in &page.processes {
            let mut mods = BTreeSet::new();
            for mfa in [&p.current_function, &p.initial_call].into_iter().flatten() {
                mods.insert(mfa.module.clone());
            }
            for m in mods {
                let e = procs.entry(m).or_default();
                e.count += 1;
                if e.longest.as_ref().is_none_or(|(_, _, q)| p.message_queue_len > *q) {
                    e.longest = Some((p.node.clone(), p.pid.clone(), p.message_queue_len));
                }
            }
            if p.message_queue_len >= cfg.mailbox_warning || p.memory >= cfg.memory_warning {
                hot.push(p.clone());
            }
        }
    }
    hot.sort_by(|a, b| b.message_queue_len.cmp(&a.message_queue_len).then(b.memory.cmp(&a.memory)));
    hot.truncate(5);
    let now = Instant::now();
    let mut seen = HashMap::new();
    // Where each hot process sits: their stacks, asked for all at once.
    let opts = InfoOptions { state_timeout: Duration::ZERO, max_messages: 0 };
    let stacks = join_all(hot.iter().map(|p| async move {
        match ProcessSpec::parse(&p.pid) {
            Ok(spec) => match processes::info(cluster, &p.node, &spec, opts, CALL_TIMEOUT).await {
                Ok(info) => info
                    .stacktrace
                    .iter()
                    .map(|f| (f.function.module.clone(), f.function.function.clone(), f.function.arity, f.line))
                    .collect(),
                Err(e) => {
                    tracing::debug!("stacktrace of {} on {}: {e}", p.pid, p.node);
                    Vec::new()
                }
            },
            Err(_) => Vec::new(),
        }
    }))
    .await;
    let mut hotspots = Vec::new();
    for (p, mut frames) in hot.into_iter().zip(stacks) {
        let key = (p.node.clone(), p.pid.clone());
        let rate = previous.get(&key).and_then(|(q, at)| {
            let secs = now.duration_since(*at).as_secs_f64();
            (secs > 0.05).then(|| (p.message_queue_len as f64 - *q as f64) / secs)
        });
        seen.insert(key, (p.message_queue_len, now));
        // Without a stack (the process moved on, or exited), its current function still places it.
        if let Some(f) = &p.current_function {
            frames.push((f.module.clone(), f.function.clone(), f.arity, None));
        }
        hotspots.push(Hotspot {
            node: p.node.clone(),
            pid: p.pid.clone(),
            registered_name: p.registered_name.clone(),
            label: p.process_label.clone(),
            queue: p.message_queue_len,
            rate,
            memory: p.memory,
            frames,
            initial_module: p.initial_call.as_ref().map(|m| m.module.clone()),
        });
    }
    *previous = seen;
    ClusterModel { connected: true, nodes, drift, versions, built, procs, hotspots, health }
}

/// The loaded md5 of `module` on `node`, without loading it (`erlang:get_module_info/2`).
async fn module_md5(cluster: &Cluster, node: &str, module: &str) -> Option<String> {
    match cluster.call(node, "erlang", "get_module_info", vec![atom(module), atom("md5")], CALL_TIMEOUT).await {
        Ok(t) => as_binary(&t).map(hex),
        Err(_) => None,
    }
}

/// md5s of beam files, by path, valid while the file's modification time and size stay the same: a beam
/// is read again only when it changed.
#[derive(Default)]
pub struct Md5Cache(HashMap<PathBuf, (std::time::SystemTime, u64, Option<String>)>);

impl Md5Cache {
    pub fn md5(&mut self, path: &Path) -> Option<String> {
        let meta = std::fs::metadata(path).ok()?;
        let key = (meta.modified().ok()?, meta.len());
        if let Some((t, n, md5)) = self.0.get(path) {
            if (*t, *n) == key {
                return md5.clone();
            }
        }
        // A beam is small; anything huge is not one.
        let md5 =
            (meta.len() < 64 << 20).then(|| std::fs::read(path).ok()).flatten().and_then(|b| reload::beam_md5(&b));
        self.0.insert(path.to_path_buf(), (key.0, key.1, md5.clone()));
        md5
    }
}

/// The project's build of `module` for the source file `source`: the newest `<module>.beam` of the
/// source's app in the nearest `_build` above it (`beam::reload::newest_beam`, the finder reload uses:
/// the app the nearest `mix.exs` names, every app when there is none, as with rebar3).
pub fn project_build(source: &Path, module: &str, md5s: &mut Md5Cache) -> Option<crate::model::Built> {
    let (beam, beam_time) = reload::newest_beam(source, module)?;
    let md5 = md5s.md5(&beam)?;
    let source_time = std::fs::metadata(source).and_then(|m| m.modified()).ok();
    let source_newer = source_time.is_some_and(|s| s > beam_time + Duration::from_secs(1));
    Some(crate::model::Built { md5, beam, reloaded: None, source_newer })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `orbit/clusterHealth` object.
pub fn health_object(report: &HealthReport, nodes: &[(String, bool)]) -> serde_json::Value {
    let mut worst = Status::Healthy;
    let mut out_nodes = Vec::new();
    for (name, up) in nodes {
        let r = report.nodes.iter().find(|n| &n.node == name);
        let status = if !up { Status::Down } else { r.map(|r| r.status).unwrap_or(Status::Healthy) };
        worst = worst.max(status);
        let sample = r.and_then(|r| r.sample.as_ref());
        out_nodes.push(json!({
            "node": name,
            "up": up,
            "status": status,
            "reason": r.and_then(|r| r.reason.clone()),
            "processes": sample.map(|s| s.snapshot.process_count),
            "memory": sample.map(|s| s.snapshot.memory.total),
            "longestQueue": sample.and_then(|s| s.longest_queue()).map(|p| json!({"pid": p.pid, "len": p.message_queue_len})),
        }));
    }
    let up = nodes.iter().filter(|(_, u)| *u).count();
    let alerts: Vec<_> = report
        .alerts
        .iter()
        .map(|a| json!({"node": a.node, "level": a.level, "key": a.key, "message": a.message}))
        .collect();
    let mut message = format!("{up}/{} nodes up", nodes.len());
    if let Some(p) = &report.partition {
        message.push_str(&format!(", partitioned: {p}"));
    }
    json!({
        "connected": true,
        "status": worst,
        "message": message,
        "nodes": out_nodes,
        "alerts": alerts,
        "partition": report.partition.as_ref().map(|p| json!({"groups": p.groups})),
        "updatedMs": now_ms(),
    })
}

/// The health object when there is no cluster (re-exported for the main loop).
pub fn no_cluster(message: &str) -> serde_json::Value {
    disconnected_health(message)
}
