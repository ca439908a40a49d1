//! RPC round trip: Orbit (Rust, hidden node) against Erlang's own `erpc:call` between two nodes on this
//! machine, measured in the same run; and one call fanned out to 10 nodes against a single call.
//!
//! Run with `scripts/bench` (or `cargo bench -p orbit-beam --bench rpc`). Prints p50/p99 and ratios.

use beam::agent;
use beam::cluster::ClusterOptions;
use beam::rpc;
use beam::term::atom;
use eetf::{FixInteger, Term};
use orbit_test_harness::TestCluster;
use std::time::{Duration, Instant};
mod common;
use common::{join, summary};

const CALLS: usize = 10_000;
const FANOUT_ROUNDS: usize = 1_000;
const T: Duration = Duration::from_secs(30);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let nodes = TestCluster::erlang(10);
    let cluster = join(&nodes, ClusterOptions { install_agent: false, ..ClusterOptions::default() }).await;
    let a = nodes.name(0).to_string();
    let b = nodes.name(1).to_string();
    let link_a = cluster.link(&a).unwrap();

    // Native: node A calls node B with erpc:call, timed inside A.
    agent::load_from_source(&link_a, "orbit_bench", include_str!("orbit_bench.erl")).await.expect("load bench module");
    let native = rpc::call(
        &link_a,
        "orbit_bench",
        "erpc_latency",
        vec![atom(&b), Term::from(FixInteger::from(CALLS as i32))],
        Duration::from_secs(300),
    )
    .await
    .expect("native run");
    let native: Vec<f64> = match native {
        Term::List(l) => l
            .elements
            .iter()
            .map(|t| match t {
                Term::FixInteger(i) => i.value as f64,
                _ => 0.0,
            })
            .collect(),
        _ => panic!("unexpected native result"),
    };

    // Orbit: Rust calls node B.
    let link_b = cluster.link(&b).unwrap();
    for _ in 0..200 {
        rpc::call(&link_b, "erlang", "node", vec![], T).await.unwrap();
    }
    let mut orbit = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t0 = Instant::now();
        rpc::call(&link_b, "erlang", "node", vec![], T).await.unwrap();
        orbit.push(t0.elapsed().as_nanos() as f64 / 1000.0);
    }

    // Fan-out to 10 nodes against one call.
    let mut single = Vec::with_capacity(FANOUT_ROUNDS);
    let mut fan = Vec::with_capacity(FANOUT_ROUNDS);
    for _ in 0..FANOUT_ROUNDS {
        let t0 = Instant::now();
        cluster.call(&b, "erlang", "node", vec![], T).await.unwrap();
        single.push(t0.elapsed().as_nanos() as f64 / 1000.0);
        let t0 = Instant::now();
        let all = cluster.call_all("erlang", "node", vec![], T).await;
        fan.push(t0.elapsed().as_nanos() as f64 / 1000.0);
        assert_eq!(all.len(), 10);
    }

    let (n50, n99) = summary(native);
    let (o50, o99) = summary(orbit);
    let (s50, s99) = summary(single);
    let (f50, f99) = summary(fan);
    println!("RPC round trip, {CALLS} sequential calls of erlang:node/0 (µs):");
    println!("  native erpc:call node→node   p50 {n50:8.1}   p99 {n99:8.1}");
    println!("  orbit rpc::call rust→node    p50 {o50:8.1}   p99 {o99:8.1}");
    println!("  ratio orbit/native           p50 {:8.2}x  p99 {:8.2}x", o50 / n50, o99 / n99);
    println!("Fan-out, {FANOUT_ROUNDS} rounds (µs):");
    println!("  one node                     p50 {s50:8.1}   p99 {s99:8.1}");
    println!("  all 10 nodes in parallel     p50 {f50:8.1}   p99 {f99:8.1}");
    println!("  ratio 10 nodes/1 node        p50 {:8.2}x  p99 {:8.2}x", f50 / s50, f99 / s99);
    cluster.disconnect().await;
}
