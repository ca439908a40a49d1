//! Nodes that stop answering (SIGSTOPped, a long GC, an overloaded VM): the session's calls to a node
//! that concern that node alone wait at most [`NODE_CALL`]; a node that lets one time out is *asleep*:
//! it leaves the ready set, every later fan-out skips it at once, and the console names it once. A probe
//! on every tick notices when it answers again; then it is prepared as a node that joined (its keeper,
//! conditions, tracepoints, interpreted modules), so the breakpoints follow it.

use super::util::output;
use super::{IntEngine, Raw};
use crate::debugger::EngineEvent;
use crate::rpc::RpcError;
use eetf::Term;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// What a call that concerns one node may cost the session when that node does not answer.
pub(super) const NODE_CALL: Duration = Duration::from_secs(5);

/// How long the wake-up probe waits for an asleep node.
const PROBE: Duration = Duration::from_secs(1);

/// The asleep nodes, and whether the console was told.
#[derive(Default)]
pub(super) struct Silence {
    asleep: Mutex<BTreeMap<String, bool>>,
}

impl Silence {
    pub(super) fn is_asleep(&self, node: &str) -> bool {
        self.asleep.lock().unwrap().contains_key(node)
    }

    fn fall_asleep(&self, node: &str) {
        self.asleep.lock().unwrap().entry(node.to_string()).or_insert(false);
    }

    fn wake(&self, node: &str) -> bool {
        self.asleep.lock().unwrap().remove(node).is_some()
    }

    fn nodes(&self) -> Vec<String> {
        self.asleep.lock().unwrap().keys().cloned().collect()
    }

    /// Console lines for nodes that fell asleep since the last call.
    fn news(&self) -> Vec<String> {
        let mut asleep = self.asleep.lock().unwrap();
        asleep
            .iter_mut()
            .filter(|(_, told)| !**told)
            .map(|(node, told)| {
                *told = true;
                format!(
                    "{node} does not answer (nothing within {} s): the session goes on without it, and its \
                     breakpoints follow it when it answers again",
                    NODE_CALL.as_secs()
                )
            })
            .collect()
    }
}

impl IntEngine {
    /// `m:f(args)` on `node` for the session's per-node work: at once an error for an asleep node, at most
    /// [`NODE_CALL`] otherwise; a timeout puts the node to sleep.
    pub(super) async fn node_call(&self, node: &str, m: &str, f: &str, args: Vec<Term>) -> Result<Term, RpcError> {
        if self.silence.is_asleep(node) {
            return Err(RpcError::Timeout { node: node.to_string(), mfa: format!("{m}:{f}"), after: Duration::ZERO });
        }
        let r = self.cluster.call(node, m, f, args, NODE_CALL).await;
        if let Err(RpcError::Timeout { .. }) = &r {
            self.silence.fall_asleep(node);
        }
        r
    }

    /// Nodes of `nodes` that are not asleep.
    pub(super) fn awake(&self, nodes: Vec<String>) -> Vec<String> {
        nodes.into_iter().filter(|n| !self.silence.is_asleep(n)).collect()
    }

    /// The console lines for nodes that fell asleep; they leave the ready set.
    pub(super) fn silence_news(&mut self) -> Vec<EngineEvent> {
        let lines = self.silence.news();
        for node in self.silence.nodes() {
            self.ready_nodes.remove(&node);
        }
        lines.into_iter().map(|l| output(format!("{l}\n"))).collect()
    }

    /// On every tick: asks each asleep node, off the loop, whether it answers again.
    pub(super) fn probe_asleep(&self) {
        for node in self.silence.nodes() {
            let cluster = self.cluster.clone();
            let tx = self.raw_tx.clone();
            tokio::spawn(async move {
                if cluster.call(&node, "erlang", "node", vec![], PROBE).await.is_ok() {
                    let _ = tx.send(Raw::Awake(node));
                }
            });
        }
    }

    /// An asleep node answered: prepared again as a node that joined.
    pub(super) async fn on_awake(&mut self, node: String) -> Vec<EngineEvent> {
        if !self.silence.wake(&node) || !self.cluster.up_nodes().contains(&node) {
            return Vec::new();
        }
        let mut lines = self.prepare_node(&node).await;
        self.push_conditions_to(&node).await;
        lines.extend(self.push_tracepoints_to(&node).await);
        let (_, notes) = self.interpret_all_on(&node).await;
        lines.extend(notes);
        self.register_cleanup(&node).await;
        let n = self.breakpoints.holding();
        let mut out = vec![output(format!("{node} answers again: {n} breakpoint(s) now hold there too\n"))];
        out.extend(lines.into_iter().map(|l| output(format!("{l}\n"))));
        out
    }
}
