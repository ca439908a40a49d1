//! Overhead of Orbit's rate-limited call trace on a hot function, timed inside the node: rounds of N
//! sequential calls of `tracebench_hot:work/1` with no trace, against the same rounds while an Orbit
//! trace session (rate limit, never tripped) traces that function, measured in the same run.
//!
//! Each is also compared with a native `erlang:trace` whose tracer drops every message, so the ratio
//! shows what Orbit adds over the BEAM's own tracing cost. Two traced cases: a match spec that lets one call in 1000 through (what a narrowed production trace
//! costs every call), and every call traced (each call makes a trace message, shipped to Orbit).
//!
//! Run with `scripts/bench` (or `cargo bench -p orbit-beam --bench trace`). Prints ns per call (p50,
//! p99 over rounds) and the ratios.

use beam::agent;
use beam::cluster::{Cluster, ClusterOptions};
use beam::link::{Cookie, NodeName};
use beam::term::{as_integer, as_list, int};
use beam::trace::{self, CallTrace, Limit, MatchSpec, TraceSpec};
use eetf::Term;
use orbit_test_harness::TestCluster;
use std::time::Duration;
mod common;
use common::summary;

const ROUNDS: i64 = 30;

/// Per-call ns (p50, p99) over `ROUNDS` rounds of `n` calls, timed on the node.
async fn measure(cluster: &Cluster, node: &str, n: i64) -> (f64, f64) {
    per_call(cluster, node, n, "rounds", vec![int(n), int(ROUNDS)]).await
}

/// The same under a bare `erlang:trace` whose tracer drops everything (`narrow` or `all`).
async fn native(cluster: &Cluster, node: &str, n: i64, which: &str) -> (f64, f64) {
    per_call(cluster, node, n, "native_rounds", vec![int(n), int(ROUNDS), beam::term::atom(which)]).await
}

async fn per_call(cluster: &Cluster, node: &str, n: i64, f: &str, args: Vec<Term>) -> (f64, f64) {
    let r = cluster.call(node, "tracebench_hot", f, args, Duration::from_secs(600)).await.expect("bench rounds");
    let per_call: Vec<f64> =
        as_list(&r).expect("a list").iter().map(|t| as_integer(t).unwrap_or(0) as f64 / n as f64).collect();
    summary(per_call)
}

async fn traced(
    cluster: &Cluster,
    node: &str,
    n: i64,
    match_spec: Option<&str>,
    limit: Limit,
) -> ((f64, f64), u64, Option<String>) {
    let mut call = CallTrace::parse("tracebench_hot:work/1").unwrap();
    if let Some(ms) = match_spec {
        call = call.with_match_spec(MatchSpec::Fun(ms.into()));
    }
    let mut session = trace::start(cluster, TraceSpec::calls(vec![call], limit)).await.expect("trace starts");
    let timing = measure(cluster, node, n).await;
    // Let the last batches arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tripped = session.stop_reason().map(|r| r.to_string());
    session.stop().await;
    (timing, session.history().len() as u64, tripped)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let nodes = TestCluster::erlang(1);
    let seeds = vec![NodeName::parse(nodes.name(0)).unwrap()];
    let cluster =
        Cluster::connect(&seeds, Cookie::new(nodes.cookie.clone()), ClusterOptions::default()).await.expect("connect");
    let node = nodes.name(0).to_string();
    while cluster.session(&node).is_none() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let link = cluster.link(&node).unwrap();
    agent::load_from_source(&link, "tracebench_hot", include_str!("tracebench_hot.erl")).await.expect("load bench");

    // Narrowed: 1 call in 1000 matches; 100 000 calls a round make 100 events, far below the rate.
    const N_NARROW: i64 = 100_000;
    let base_narrow = measure(&cluster, &node, N_NARROW).await;
    let native_narrow = native(&cluster, &node, N_NARROW, "narrow").await;
    let (narrow, narrow_events, narrow_tripped) = traced(
        &cluster,
        &node,
        N_NARROW,
        Some("fun([X]) when X rem 1000 =:= 0 -> true end"),
        Limit::Rate { max: 100_000, per: Duration::from_secs(1) },
    )
    .await;

    // Every call traced: 2 000 calls a round, every one an event shipped to Orbit.
    const N_ALL: i64 = 2_000;
    let base_all = measure(&cluster, &node, N_ALL).await;
    let native_all = native(&cluster, &node, N_ALL, "all").await;
    let (all, all_events, all_tripped) =
        traced(&cluster, &node, N_ALL, None, Limit::Rate { max: 1_000_000, per: Duration::from_secs(1) }).await;

    println!("Call trace overhead on a hot function, ns per call timed on the node ({ROUNDS} rounds each):");
    let row = |what: &str, (p50, p99): (f64, f64), extra: String| {
        println!("  {what:<46} p50 {p50:8.1}   p99 {p99:8.1}{extra}");
    };
    let ratio = |what: &str, a: (f64, f64), b: (f64, f64)| {
        println!("  {what:<46} p50 {:8.2}x  p99 {:8.2}x", a.0 / b.0, a.1 / b.1);
    };
    println!("{N_NARROW} calls a round, a match spec lets 1 call in 1000 through:");
    row("no trace", base_narrow, String::new());
    row("native erlang:trace, dropping tracer", native_narrow, String::new());
    row("Orbit rate-limited trace", narrow, format!("   ({narrow_events} events)"));
    ratio("ratio Orbit/untraced", narrow, base_narrow);
    ratio("ratio Orbit/native trace", narrow, native_narrow);
    println!("{N_ALL} calls a round, every call traced:");
    row("no trace", base_all, String::new());
    row("native erlang:trace, dropping tracer", native_all, String::new());
    row("Orbit rate-limited trace", all, format!("   ({all_events} events)"));
    ratio("ratio Orbit/untraced", all, base_all);
    ratio("ratio Orbit/native trace", all, native_all);
    for (what, t) in [("narrowed", narrow_tripped), ("every call", all_tripped)] {
        if let Some(r) = t {
            println!("  note: the {what} trace stopped during the run ({r}); its timing is partly untraced");
        }
    }
    cluster.disconnect().await;
}
