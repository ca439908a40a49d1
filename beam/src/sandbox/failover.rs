//! Failover driven by Orbit: for sandboxes the cluster could not restart on its own, now or as nodes go.

use super::model::{DecidedBy, FailoverReport, LostChild, Sandbox, SandboxError, SandboxStatus};
use super::ops::{ensure_started, list, place, refuse};
use super::wire::{bin, child_id, child_ids, event_from, expect_ok_value, show_mfa};
use crate::cluster::{Cluster, ClusterEvent};
use crate::term::{as_atom, as_integer, as_list, atom, is_atom, map_get_atom};
use std::time::Duration;
use tokio::sync::mpsc;

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
            // Orbit can hear of the node's end before the survivors do (they still list the sandbox as
            // running): failover_one waits until they have noticed.
            let orphaned =
                s.status == SandboxStatus::Orphaned || (survivors_first && s.status == SandboxStatus::Running);
            if s.node == down_node && orphaned {
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

pub(super) async fn failover_one(cluster: &Cluster, sb: &Sandbox, timeout: Duration) -> FailoverReport {
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

/// Each sandbox's id and the node it runs on (empty where the cluster cannot be asked now).
async fn where_they_run(cluster: &Cluster, timeout: Duration) -> Vec<(String, String)> {
    list(cluster, timeout).await.map(|l| l.into_iter().map(|s| (s.id, s.node)).collect()).unwrap_or_default()
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
        // Where each sandbox ran when last seen: when a node goes, its sandboxes are followed until each is
        // reported, whoever fails it over (the survivors may be doing it while Orbit looks).
        let mut known = where_they_run(&cluster, timeout).await;
        loop {
            let event = tokio::select! {
                e = events.recv() => e,
                _ = tx.closed() => return,
            };
            match event {
                Ok(ClusterEvent::NodeDown { node, .. }) => {
                    let expected: Vec<String> =
                        known.iter().filter(|(_, n)| **n == node).map(|(id, _)| id.clone()).collect();
                    let deadline = tokio::time::Instant::now() + timeout;
                    let mut reported: Vec<String> = Vec::new();
                    loop {
                        // An error (the cluster answering while it changes) is asked again until the deadline.
                        let answered = failover_of(&cluster, &node, timeout, true).await;
                        let failed = answered.is_err();
                        match answered {
                            Ok(reports) => {
                                for r in reports {
                                    if reported.contains(&r.id) {
                                        continue;
                                    }
                                    reported.push(r.id.clone());
                                    if tx.send(r).is_err() {
                                        return;
                                    }
                                }
                            }
                            Err(e) => tracing::warn!("failover of the sandboxes of {node}: {e}"),
                        }
                        let missing = expected.iter().any(|id| !reported.contains(id));
                        if !(missing || failed) || tokio::time::Instant::now() >= deadline {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    known = where_they_run(&cluster, timeout).await;
                }
                Ok(_) => known = where_they_run(&cluster, timeout).await,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    Ok(rx)
}
