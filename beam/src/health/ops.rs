//! Calls that sample nodes: one snapshot or sample, the best node for new work, and a one-off check.

use super::alerts::{readings, NodeHealth, Status, Thresholds};
use super::monitor::{HealthOptions, HealthReport, NodeHealthReport};
use super::partition::partition;
use super::placement::placement_score;
use super::sample::{now_ms, NodeSample, NodeSnapshot, SampleOptions};
use super::wire::{parse_sample, parse_snapshot};
use crate::cluster::{Cluster, NodeAnswer, NodeState};
use crate::rpc::RpcError;
use crate::term::{atom, int, map};
use std::time::Duration;

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

/// Samples one node (no rates: those need a previous sample, see [`HealthMonitor`](super::HealthMonitor)).
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
    // One sample decides: an alert is raised on the first sample past its threshold.
    let once = Thresholds { raise_after: 1, ..t.clone() };
    let mut nodes = Vec::new();
    let mut alerts = Vec::new();
    let mut answered: Vec<NodeSnapshot> = Vec::new();
    for (node, outcome) in outcomes {
        let mut report = NodeHealthReport {
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
            NodeAnswer::Answered(Ok(s)) => {
                let _ = health.judge(&node, readings(&s, t), &once, now);
                answered.push(s.snapshot.clone());
                report.placement_score = Some(placement_score(&s));
                report.sample = Some(s);
            }
            NodeAnswer::Answered(Err(e)) => {
                let timed_out = matches!(&e, HealthError::Rpc(r) if matches!(**r, RpcError::Timeout { .. }));
                let reason = if timed_out { format!("no answer: {e}") } else { e.to_string() };
                let _ = health.judge_no_answer(&node, &reason, &once, now);
                report.reason = Some(reason);
                report.no_answer = timed_out;
            }
            NodeAnswer::NoAnswer => {
                let left = deadline.saturating_duration_since(started);
                let reason = match cluster.nodes().into_iter().find(|(n, _)| *n == node).map(|(_, s)| s) {
                    Some(NodeState::Up) => format!("no answer within {:.1} s", left.as_secs_f64()),
                    _ => format!("no answer within {:.1} s (still connecting)", left.as_secs_f64()),
                };
                let _ = health.judge_no_answer(&node, &reason, &once, now);
                report.reason = Some(reason);
                report.no_answer = true;
            }
            NodeAnswer::Down(reason) => {
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
