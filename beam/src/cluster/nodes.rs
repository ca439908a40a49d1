//! Which nodes an operation may work on: one node that must be up, node names resolved, one error that
//! says why a node cannot be used (in the same words for every operation and every front end), and waiting
//! for the nodes still connecting to settle.

use super::{Cluster, NodeState};
use std::time::Duration;

/// Why a node cannot be worked on now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeUnavailable {
    #[error("{node} is not a node of this cluster{}", known_text(.known))]
    Unknown { node: String, known: Vec<String> },
    #[error("{node} is still connecting")]
    Connecting { node: String },
    #[error("{node} is down ({reason})")]
    Down { node: String, reason: String },
}

fn known_text(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (known: {})", known.join(", "))
    }
}

impl NodeUnavailable {
    /// The node it is about.
    pub fn node(&self) -> &str {
        match self {
            NodeUnavailable::Unknown { node, .. }
            | NodeUnavailable::Connecting { node }
            | NodeUnavailable::Down { node, .. } => node,
        }
    }
}

impl Cluster {
    /// `Ok` when `node` (its full name) is a member that is up.
    pub fn require_up(&self, node: &str) -> Result<(), NodeUnavailable> {
        let nodes = self.nodes();
        match nodes.iter().find(|(n, _)| n == node) {
            Some((_, state)) => state_up(node, state),
            None => Err(NodeUnavailable::Unknown {
                node: node.to_string(),
                known: nodes.into_iter().map(|(n, _)| n).collect(),
            }),
        }
    }

    /// Waits until no node is still connecting, or `limit` passes, so that what comes next sees the whole
    /// cluster. Follows the members' states as they change (a failed attempt to connect counts), without
    /// polling.
    pub async fn settle(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut changes = self.inner.states.subscribe();
        loop {
            changes.borrow_and_update();
            if !self.nodes().iter().any(|(_, s)| *s == NodeState::Connecting) {
                return;
            }
            tokio::select! {
                r = changes.changed() => if r.is_err() { return },
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    /// Node names as given (`name@host`, or `name` when one node has that short name), resolved against
    /// the cluster, each a member that is up; in the order given, each once.
    pub fn resolve_nodes(&self, names: &[String]) -> Result<Vec<String>, NodeUnavailable> {
        let members = self.nodes();
        let known: Vec<String> = members.iter().map(|(n, _)| n.clone()).collect();
        let mut out = Vec::new();
        for want in names {
            let want = want.trim();
            let found: Vec<&(String, NodeState)> = members
                .iter()
                .filter(|(n, _)| n == want || (!want.contains('@') && n.split('@').next() == Some(want)))
                .collect();
            let (node, state) = match found.as_slice() {
                [one] => (&one.0, &one.1),
                _ => return Err(NodeUnavailable::Unknown { node: want.to_string(), known }),
            };
            state_up(node, state)?;
            if !out.contains(node) {
                out.push(node.clone());
            }
        }
        Ok(out)
    }
}

fn state_up(node: &str, state: &NodeState) -> Result<(), NodeUnavailable> {
    match state {
        NodeState::Up => Ok(()),
        NodeState::Connecting => Err(NodeUnavailable::Connecting { node: node.to_string() }),
        NodeState::Down { reason } => Err(NodeUnavailable::Down { node: node.to_string(), reason: reason.clone() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one error for a node that cannot be used, in the words every front end shows, per state.
    #[test]
    fn a_node_that_cannot_be_used_says_why_in_one_wording() {
        assert_eq!(state_up("a@h", &NodeState::Up), Ok(()));
        let connecting = state_up("a@h", &NodeState::Connecting).unwrap_err();
        assert_eq!((connecting.node(), connecting.to_string().as_str()), ("a@h", "a@h is still connecting"));
        let down = state_up("a@h", &NodeState::Down { reason: "noconnection".into() }).unwrap_err();
        assert_eq!((down.node(), down.to_string().as_str()), ("a@h", "a@h is down (noconnection)"));
        let unknown = NodeUnavailable::Unknown { node: "x@h".into(), known: vec![] };
        assert_eq!((unknown.node(), unknown.to_string().as_str()), ("x@h", "x@h is not a node of this cluster"));
    }
}
