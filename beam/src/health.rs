//! A node's vital figures, sampled with one call to the agent's `orbit_health:snapshot/0`, and what the
//! nodes of a cluster disagree on about who is connected.

use crate::cluster::Cluster;
use crate::rpc::RpcError;
use eetf::Term;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

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
    Rpc(#[from] RpcError),
    #[error("{node}: unexpected health snapshot: {detail}")]
    Shape { node: String, detail: String },
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
}
