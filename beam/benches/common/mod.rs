//! What the benchmarks share.
#![allow(dead_code)] // each bench uses its own part of this

/// The value at fraction `p` (0..=1) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// p50 and p99 of the samples.
pub fn summary(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (percentile(&v, 0.50), percentile(&v, 0.99))
}

/// Connects through the first node and waits until every node of `nodes` is up (and, when the agent is
/// installed, has its session).
pub async fn join(
    nodes: &orbit_test_harness::TestCluster,
    options: beam::cluster::ClusterOptions,
) -> beam::cluster::Cluster {
    let seeds = vec![beam::link::NodeName::parse(nodes.name(0)).unwrap()];
    let with_agent = options.install_agent;
    let cookie = beam::link::Cookie::new(nodes.cookie.clone());
    let cluster = beam::cluster::Cluster::connect(&seeds, cookie, options).await.expect("connect");
    while cluster.up_nodes().len() < nodes.nodes.len()
        || (with_agent && nodes.names().iter().any(|n| cluster.session(n).is_none()))
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    cluster
}
