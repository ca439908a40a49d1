//! The monitor: samples every node on an interval, keeps a bounded history, raises and clears alerts as
//! they happen, reports `NodeDown` at once and follows partitions.

use super::alerts::{not_answering_reading, readings, trend_readings, Alert, Change, NodeHealth, Status, Thresholds};
use super::ops::sample;
use super::partition::{partition, Partition};
use super::placement::placement_score;
use super::sample::{now_ms, NodeSample, NodeSnapshot, SampleOptions};
use crate::cluster::{Cluster, ClusterEvent, NodeState};
use crate::term::{atom, int, tuple};
use eetf::Term;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

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
pub struct NodeHealthReport {
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
    pub nodes: Vec<NodeHealthReport>,
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
            nodes.push(NodeHealthReport {
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
            // The channel cannot close while `self` holds its sender: only the deadline ends the wait.
            if tokio::time::timeout_at(deadline, events.recv()).await.is_err() {
                return self.rounds();
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
                events.extend(h.judge(&node, rs, &options.thresholds, now).into_iter().map(change_event));
            }
            Err(e) => {
                // A node that went down is reported by the membership loop.
                if h.down.is_some() || cluster.link(&node).is_none() {
                    continue;
                }
                let reason = e.to_string();
                events.extend(h.judge_no_answer(&node, &reason, &options.thresholds, now).map(change_event));
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
