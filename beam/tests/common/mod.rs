//! What the integration tests share: cluster options with short timers, and joining a test cluster.
#![allow(dead_code)] // each test binary uses its own part of this

use beam::cluster::{Cluster, ClusterOptions};
use beam::link::{Cookie, LinkOptions, NodeName};
use orbit_test_harness::TestCluster;
use std::time::Duration;

/// Short tick and discovery intervals, so tests notice changes quickly.
pub fn options() -> ClusterOptions {
    ClusterOptions {
        link: LinkOptions { tick_time: Duration::from_secs(4), ..LinkOptions::default() },
        discovery_interval: Duration::from_secs(2),
        ..ClusterOptions::default()
    }
}

/// Connects through node `seed` and waits until every node of the test cluster is up with its agent.
pub async fn join(nodes: &TestCluster, seed: usize) -> Cluster {
    let seeds = vec![NodeName::parse(nodes.name(seed)).unwrap()];
    let cluster = Cluster::connect(&seeds, Cookie::new(nodes.cookie.clone()), options()).await.expect("connect");
    let want = nodes.nodes.len();
    for _ in 0..600 {
        let up = cluster.up_nodes();
        if up.len() == want && up.iter().all(|n| cluster.session(n).is_some()) {
            return cluster;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not every node came up with Orbit's agent: {:?}", cluster.nodes());
}
