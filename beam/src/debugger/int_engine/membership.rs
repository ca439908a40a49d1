//! Nodes joining and leaving: preparing a node (its keeper, its clean-up, crash reports), bringing a node
//! that joined up to date (conditions, interpreted modules), and letting go of the threads of a node that
//! left. Owns the set of nodes that are ready (their keeper runs).

use super::util::{ok_value, output, text};
use super::{IntEngine, CALL};
use crate::cluster::ClusterEvent;
use crate::debugger::EngineEvent;
use crate::term::atom;
use eetf::Term;
use std::collections::BTreeSet;

/// The nodes whose keeper runs: they take conditions and clean-up registrations.
#[derive(Default)]
pub(super) struct ReadyNodes {
    nodes: BTreeSet<String>,
}

impl ReadyNodes {
    pub(super) fn list(&self) -> Vec<String> {
        self.nodes.iter().cloned().collect()
    }

    pub(super) fn remove(&mut self, node: &str) {
        self.nodes.remove(node);
    }
}

impl IntEngine {
    /// Starts the keeper on a node and registers the clean-up there. Returns console lines.
    pub(super) async fn prepare_node(&mut self, node: &str) -> Vec<String> {
        let mut out = Vec::new();
        let me = atom(self.cluster.local_name());
        match self
            .cluster
            .call(node, "orbit_dbg", "start_keeper", vec![me, Term::from(self.events_pid.clone())], CALL)
            .await
        {
            Ok(r) if ok_value(&r).is_some() => {
                self.ready_nodes.nodes.insert(node.to_string());
            }
            Ok(r) => out.push(format!("{node}: the debugger helper did not start: {}", text(&r))),
            Err(e) => out.push(format!("{node}: the debugger helper did not start: {e}")),
        }
        self.register_cleanup(node).await;
        self.forward_crash_reports_from(node).await;
        out
    }

    pub(super) async fn on_cluster_event(&mut self, e: ClusterEvent) -> Vec<EngineEvent> {
        match e {
            ClusterEvent::NodeUp { node } => {
                if self.ended {
                    return Vec::new();
                }
                // Prepare it off the loop, then report.
                let mut lines = self.prepare_node(&node).await;
                lines.extend(self.start_native(&node).await);
                // Conditions live per node: give the newcomer the current ones before its calls go through
                // the interpreter (a breakpoint without its condition on a node does not stop there).
                self.push_conditions_to(&node).await;
                lines.extend(self.push_tracepoints_to(&node).await);
                let (modules, notes) = self.interpret_all_on(&node).await;
                lines.extend(notes);
                if self.is_native_node(&node) {
                    lines.extend(self.place_all_native_on(&node).await);
                }
                self.register_cleanup(&node).await;
                let n = self.breakpoints.holding();
                let joined = if self.waits_on(&node) {
                    format!(
                        "{node} joined; its application's code is not loadable yet: {modules} interpreted module(s) \
                         and {n} breakpoint(s) will hold there as soon as it is\n"
                    )
                } else {
                    format!("{node} joined: {modules} interpreted module(s) and {n} breakpoint(s) now hold there too\n")
                };
                let mut out = vec![output(joined)];
                out.extend(lines.into_iter().map(|l| output(format!("{l}\n"))));
                out
            }
            ClusterEvent::NodeDown { node, reason } => {
                self.ready_nodes.nodes.remove(&node);
                let mut out = vec![output(format!(
                    "{node} left the cluster ({reason}); the session goes on with the other nodes\n"
                ))];
                out.extend(self.native.lose_node(&node));
                for id in self.threads.lose_node(&node) {
                    self.frames.invalidate(id);
                    out.extend(self.forget_crossings_of(id).await);
                    out.push(EngineEvent::ThreadExited { thread: id });
                }
                if self.server.as_ref().is_some_and(|s| s.node == node) {
                    out.push(EngineEvent::Terminated {
                        reason: format!("{node}, which ran OTP's interpreter server for this session, is gone"),
                    });
                }
                out
            }
        }
    }
}
