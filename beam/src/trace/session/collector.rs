//! The task that runs a session: takes in the tracers' batches, enforces the limit overall, follows nodes
//! that join or go, and stops every tracer at the end.

use super::model::{NodeStatus, SessionLimit, TraceStopReason, TraceUpdate, HISTORY_MAX};
use super::ops::{start_on_node, stop_on_node};
use super::wire::{node_stop_reason, Plan};
use crate::cluster::{Cluster, ClusterEvent};
use crate::link::{Delivery, Mailbox};
use crate::term::{as_atom, as_integer, as_list, as_tuple, map_get_atom};
use crate::trace::event::{decode_event, TraceEvent};
use eetf::Term;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, watch};

#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) history: VecDeque<TraceEvent>,
    /// Events forgotten because the history was full.
    pub(super) forgotten: u64,
    /// Events that arrived after the session's count limit was reached.
    pub(super) dropped: u64,
    pub(super) nodes: BTreeMap<String, NodeStatus>,
}

#[derive(Debug)]
pub(super) enum Control {
    Stop,
}

pub(super) enum Scope {
    AllNodes,
    Only(Vec<String>),
}

impl Scope {
    pub(super) fn contains(&self, node: &str) -> bool {
        match self {
            Scope::AllNodes => true,
            Scope::Only(v) => v.iter().any(|n| n == node),
        }
    }
}

pub(super) struct Collector {
    pub(super) cluster: Cluster,
    pub(super) plan: Arc<Plan>,
    pub(super) events: broadcast::Receiver<ClusterEvent>,
    pub(super) mailbox: Mailbox,
    pub(super) scope: Scope,
    pub(super) active: std::collections::BTreeSet<String>,
    pub(super) shared: Arc<Mutex<Shared>>,
    pub(super) updates: mpsc::Sender<TraceUpdate>,
    pub(super) control: mpsc::UnboundedReceiver<Control>,
    pub(super) done: watch::Sender<Option<TraceStopReason>>,
    /// The session-wide limit, over every node's events.
    pub(super) limit: SessionLimit,
    pub(super) pending_stop: Option<TraceStopReason>,
    pub(super) deadline: Option<tokio::time::Instant>,
}

impl Collector {
    pub(super) async fn run(mut self) {
        loop {
            if let Some(reason) = self.pending_stop.clone() {
                self.finish(reason).await;
                return;
            }
            let deadline = self.deadline;
            tokio::select! {
                d = self.mailbox.recv() => match d {
                    Some(d) => self.delivery(d),
                    None => self.pending_stop = Some(TraceStopReason::Stopped),
                },
                e = self.events.recv() => match e {
                    Ok(ClusterEvent::NodeUp { node }) => self.node_up(node).await,
                    Ok(ClusterEvent::NodeDown { node, reason }) => self.node_down(node, reason),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        self.pending_stop = Some(TraceStopReason::Stopped)
                    }
                },
                c = self.control.recv() => match c {
                    Some(Control::Stop) | None => self.pending_stop = Some(TraceStopReason::Stopped),
                },
                _ = async { tokio::time::sleep_until(deadline.unwrap()).await }, if deadline.is_some() => {
                    self.pending_stop = Some(TraceStopReason::Duration);
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
        if self.pending_stop.as_ref().is_some_and(TraceStopReason::is_limit) {
            self.shared.lock().unwrap().dropped += received;
            return;
        }
        if let Some(tripped) = self.limit.admit(&mut events) {
            self.pending_stop = Some(tripped);
        }
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
        let ends_session =
            reason.is_limit() || matches!(reason, TraceStopReason::Duration | TraceStopReason::Replaced { .. });
        if ends_session || self.active.is_empty() {
            self.pending_stop.get_or_insert(reason);
        }
    }

    fn node_down(&mut self, node: String, reason: String) {
        if !self.active.remove(&node) {
            return;
        }
        let why = TraceStopReason::NodeDown { node: node.clone(), reason };
        if let Some(st) = self.shared.lock().unwrap().nodes.get_mut(&node) {
            st.running = false;
            st.stopped = Some(why.clone());
        }
        self.update(TraceUpdate::NodeStopped { node, reason: why, events: 0, dropped: 0 });
        if self.active.is_empty() && !matches!(self.scope, Scope::AllNodes) {
            self.pending_stop.get_or_insert(TraceStopReason::NodesGone);
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
    async fn finish(mut self, reason: TraceStopReason) {
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
