//! Hot code reload of one module on 10 bare Erlang nodes: Orbit's whole reload (compile on a node, stage
//! everywhere, load everywhere, verify the md5 everywhere) against the native baseline measured in the same
//! run — `code:load_binary/3` on every node, fanned out with `erpc:multicall` and timed inside a node.
//!
//! Run with `scripts/bench` (or `cargo bench -p orbit-beam --bench reload`). Prints p50/p99 and ratios.

use beam::agent;
use beam::cluster::ClusterOptions;
use beam::reload::{self, ReloadOptions, ReloadOutcome, ReloadProgress};
use beam::term::{atom, binary, int, list, tuple};
use eetf::Term;
use orbit_test_harness::{unique_name, TestCluster};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
mod common;
use common::{join, summary};

const NODES: usize = 10;
const ROUNDS: usize = 40;
const NATIVE_ROUNDS: usize = 400;
const T: Duration = Duration::from_secs(60);

/// The native baseline, run inside one node.
const NATIVE: &str = r#"-module(orbit_reload_bench).
-export([native/3, load/2]).

%% Rounds times: load one of Bins (alternately) on every node of Nodes at once; microseconds per round.
native(Nodes, Bins, Rounds) ->
    [one(Nodes, lists:nth((I rem length(Bins)) + 1, Bins)) || I <- lists:seq(1, Rounds)].

one(Nodes, {M, Bin}) ->
    T0 = erlang:monotonic_time(nanosecond),
    Rs = erpc:multicall(Nodes, orbit_reload_bench, load, [M, Bin]),
    true = lists:all(fun(R) -> R =:= {ok, ok} end, Rs),
    (erlang:monotonic_time(nanosecond) - T0) div 1000.

%% What a plain hot load does: drop the old version if nobody runs it, load the new one.
load(M, Bin) ->
    code:soft_purge(M),
    {module, M} = code:load_binary(M, "orbit_bench_mod.erl", Bin),
    ok.
"#;

/// The module reloaded: a few functions, with a version so every round loads a different binary.
fn bench_module(version: usize) -> String {
    format!(
        "-module(orbit_bench_mod).\n-export([version/0, fee/1, classify/1]).\n\
         version() -> {version}.\n\
         fee(A) when is_integer(A), A >= 0 -> min(max(A div 100, 1), 50).\n\
         classify(A) when A < 100 -> small;\nclassify(A) when A < 1000 -> medium;\nclassify(_) -> large.\n"
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let nodes = TestCluster::erlang(NODES);
    let cluster = join(&nodes, ClusterOptions::default()).await;
    let names = cluster.up_nodes();

    // Two sources (so that every round loads a binary that differs from the one running).
    let dir = std::env::temp_dir().join(unique_name("orbit_reload_bench"));
    let files: Vec<PathBuf> = (0..2)
        .map(|v| {
            let d = dir.join(format!("v{v}"));
            std::fs::create_dir_all(&d).unwrap();
            let f = d.join("orbit_bench_mod.erl");
            std::fs::write(&f, bench_module(v)).unwrap();
            f
        })
        .collect();

    // Orbit: the whole reload, and the part after compiling (stage + load + verify).
    let compiled_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let mark = compiled_at.clone();
    let options = ReloadOptions {
        timeout: T,
        progress: Some(Arc::new(move |p: &ReloadProgress| {
            if let ReloadProgress::Compiled { .. } = p {
                *mark.lock().unwrap() = Some(Instant::now());
            }
        })),
        ..ReloadOptions::default()
    };
    for i in 0..4 {
        let r = reload::reload(&cluster, &[files[i % 2].clone()], &options).await.expect("warm-up reload");
        assert_eq!(r.outcome, ReloadOutcome::Loaded);
    }
    let mut whole = Vec::with_capacity(ROUNDS);
    let mut load = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let t0 = Instant::now();
        let r = reload::reload(&cluster, &[files[i % 2].clone()], &options).await.expect("reload");
        let end = Instant::now();
        assert!(r.outcome == ReloadOutcome::Loaded && r.consistent && r.nodes.len() == NODES, "{r:?}");
        whole.push(end.duration_since(t0).as_nanos() as f64 / 1000.0);
        let c = compiled_at.lock().unwrap().take().expect("compiled");
        load.push(end.duration_since(c).as_nanos() as f64 / 1000.0);
    }

    // Native: node A loads the same two binaries on all 10 nodes with erpc:multicall.
    for n in &names {
        agent::load_from_source(&cluster.link(n).unwrap(), "orbit_reload_bench", NATIVE).await.expect("bench module");
    }
    let mut bins = Vec::new();
    for v in 0..2 {
        let src = binary(bench_module(v).into_bytes());
        let file = binary(b"orbit_bench_mod.erl".to_vec());
        let out = cluster.call(&names[0], "orbit_reload", "compile", vec![atom("erlang"), src, file], T).await.unwrap();
        let Term::Tuple(t) = out else { panic!("compile") };
        let Term::List(mods) = &t.elements[1] else { panic!("compile") };
        let Term::Tuple(m) = &mods.elements[0] else { panic!("compile") };
        bins.push(tuple(vec![atom("orbit_bench_mod"), m.elements[1].clone()]));
    }
    let node_list = list(names.iter().map(atom).collect());
    let native = cluster
        .call(
            &names[0],
            "orbit_reload_bench",
            "native",
            vec![node_list, list(bins), int(NATIVE_ROUNDS as i64)],
            Duration::from_secs(600),
        )
        .await
        .expect("native run");
    let native: Vec<f64> = match native {
        Term::List(l) => l.elements.iter().map(|t| beam::term::as_integer(t).unwrap_or(0) as f64).collect(),
        other => panic!("unexpected native result {other:?}"),
    };

    let (n50, n99) = summary(native);
    let (w50, w99) = summary(whole);
    let (l50, l99) = summary(load);
    println!("Hot reload of one module on {NODES} nodes (µs):");
    println!("  native code:load_binary, erpc:multicall   p50 {n50:9.1}   p99 {n99:9.1}   ({NATIVE_ROUNDS} rounds)");
    println!("  orbit stage+load+verify (after compile)   p50 {l50:9.1}   p99 {l99:9.1}   ({ROUNDS} rounds)");
    println!("  orbit whole reload (compile on a node)    p50 {w50:9.1}   p99 {w99:9.1}");
    println!("  ratio orbit load/native                   p50 {:9.2}x  p99 {:9.2}x", l50 / n50, l99 / n99);
    println!("  ratio orbit whole/native                  p50 {:9.2}x  p99 {:9.2}x", w50 / n50, w99 / n99);
    let _ = std::fs::remove_dir_all(&dir);
    cluster.disconnect().await;
}
