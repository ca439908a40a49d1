//! Who sees whom: disagreements between the nodes' views and the partition they make (pure).

use super::sample::NodeSnapshot;
use serde::Serialize;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::sample::fixtures::snap;
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
}
