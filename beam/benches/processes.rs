//! Listing processes across a cluster: 10 nodes × 10,000 processes, top 50 by memory, through Orbit
//! (`processes::list`: each node sorts its own and sends its first 50, Orbit merges) against the same
//! query run natively on each node (`orbit_procs:native_top/2`, timed inside the node), in the same run.
//!
//! Run with `scripts/bench` (or `cargo bench -p orbit-beam --bench processes`). Prints p50/p99 and ratios.

use beam::agent;
use beam::cluster::ClusterOptions;
use beam::processes::{self, ProcessQuery, SortBy};
use beam::term::{atom, int};
use eetf::Term;
use orbit_test_harness::TestCluster;
use std::time::{Duration, Instant};
mod common;
use common::{join, summary};

const NODES: usize = 10;
const PROCESSES: i64 = 10_000;
const TOP: usize = 50;
const ROUNDS: usize = 30;
const T: Duration = Duration::from_secs(120);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let nodes = TestCluster::erlang(NODES);
    let cluster = join(&nodes, ClusterOptions::default()).await;
    for n in cluster.up_nodes() {
        let link = cluster.link(&n).unwrap();
        agent::load_from_source(&link, "orbit_bench_procs", include_str!("orbit_bench_procs.erl"))
            .await
            .expect("load bench module");
        cluster.call(&n, "orbit_bench_procs", "spawn_idle", vec![int(PROCESSES)], T).await.expect("spawn");
    }
    let query = ProcessQuery { limit: TOP, sort: SortBy::Memory, ..ProcessQuery::default() };
    let first = processes::list(&cluster, &query, T).await.expect("list");
    assert_eq!(first.processes.len(), TOP);
    assert!(first.total >= (NODES as u64) * PROCESSES as u64, "{} processes", first.total);

    // Native: the same query inside each node, one node after another (this machine has 2 cores, so the
    // nodes could not all run it at once anyway), each run timed by the node itself.
    let mut native_per_node: Vec<Vec<f64>> = Vec::new();
    for n in cluster.up_nodes() {
        let args = vec![atom("memory"), int(TOP as i64), int(ROUNDS as i64)];
        let times = cluster.call(&n, "orbit_bench_procs", "native", args, T).await.expect("native run");
        let Term::List(l) = times else { panic!("unexpected native result") };
        native_per_node.push(l.elements.iter().map(|t| beam::term::as_integer(t).unwrap_or(0) as f64).collect());
    }
    // One native "cluster-wide" run = the same round on every node, added up.
    let native_sum: Vec<f64> = (0..ROUNDS).map(|r| native_per_node.iter().map(|v| v[r]).sum()).collect();
    let native_one: Vec<f64> = native_per_node.iter().flatten().copied().collect();

    let mut orbit = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t0 = Instant::now();
        let page = processes::list(&cluster, &query, T).await.expect("list");
        orbit.push(t0.elapsed().as_nanos() as f64 / 1000.0);
        assert_eq!(page.processes.len(), TOP);
    }

    let (one50, one99) = summary(native_one);
    let (sum50, sum99) = summary(native_sum);
    let (o50, o99) = summary(orbit);
    println!("Process listing, {NODES} nodes × {PROCESSES} processes, top {TOP} by memory, {ROUNDS} rounds (ms):");
    println!("  native, one node                       p50 {:8.1}   p99 {:8.1}", one50 / 1e3, one99 / 1e3);
    println!("  native, all {NODES} nodes one after another p50 {:8.1}   p99 {:8.1}", sum50 / 1e3, sum99 / 1e3);
    println!("  orbit processes::list, whole cluster   p50 {:8.1}   p99 {:8.1}", o50 / 1e3, o99 / 1e3);
    println!("  ratio orbit / native all nodes         p50 {:8.2}x  p99 {:8.2}x", o50 / sum50, o99 / sum99);
    println!("  ratio orbit / native one node          p50 {:8.2}x  p99 {:8.2}x", o50 / one50, o99 / one99);
    cluster.disconnect().await;
}
