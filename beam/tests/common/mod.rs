//! What the integration tests share: cluster options with short timers, joining a test cluster, and a debug
//! session attached to a cluster of `fixtures/demo`.
#![allow(dead_code)] // each test binary uses its own part of this

use beam::cluster::{Cluster, ClusterOptions};
use beam::debugger::{AttachConfig, Engine, EngineEvent, IntEngine, SourceMap};
use beam::link::{Cookie, LinkOptions, NodeName};
use orbit_test_harness::{demo_dir, TestCluster};
use std::time::{Duration, Instant};

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

/// A debug session attached through node `seed` of a `fixtures/demo` cluster, with the default options.
pub async fn attach_demo(nodes: &TestCluster, seed: usize) -> IntEngine {
    let config = AttachConfig {
        seeds: vec![NodeName::parse(nodes.name(seed)).unwrap()],
        cookie: Cookie::new(nodes.cookie.clone()),
        cluster: ClusterOptions::default(),
        project_dir: Some(demo_dir()),
        source_map: SourceMap::default(),
        interpret: vec![],
        exclude: vec![],
        hold_callers: true,
    };
    IntEngine::attach(config).await.expect("attach")
}

/// Console text the engine produces within `ms`, or until `done` holds for what came so far.
pub async fn output_until(engine: &mut IntEngine, ms: u64, done: impl Fn(&str) -> bool) -> String {
    use beam::debugger::{Engine, EngineEvent};
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    while !done(&text) {
        let Ok(Some(raw)) = tokio::time::timeout_at(deadline, engine.next_raw()).await else { break };
        for e in engine.handle_raw(raw).await {
            if let EngineEvent::Output { text: t, .. } = e {
                text.push_str(&t);
            }
        }
    }
    text
}

/// Feeds raw events through the engine until `pred` matches one of the events it produces.
pub async fn until(engine: &mut IntEngine, what: &str, pred: impl Fn(&EngineEvent) -> bool) -> EngineEvent {
    let fut = async {
        loop {
            let raw = engine.next_raw().await.expect("raw events");
            for e in engine.handle_raw(raw).await {
                if pred(&e) {
                    return e;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), fut).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Runs an Erlang expression on node `i` in a thread (it may block while a process is paused).
pub fn spawn_eval(nodes: &TestCluster, i: usize, expr: String) -> std::thread::JoinHandle<Result<String, String>> {
    let (node, cookie) = (nodes.name(i).to_string(), nodes.cookie.clone());
    std::thread::spawn(move || orbit_test_harness::erl_call(&node, &cookie, &expr))
}

/// Polls `check` every 100 ms until it holds or `limit` passes.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check()
}

/// How many copies of sandbox `id` run on node `i` (asked of the node, not of the registry).
pub fn sandbox_copies(nodes: &TestCluster, i: usize, id: &str) -> Result<usize, String> {
    let expr = format!(
        "case whereis(orbit_sandbox_sup) of undefined -> 0; _ -> length([P || {{{{sandbox, <<\"{id}\">>}}, P, _, _}} \
         <- supervisor:which_children(orbit_sandbox_sup), is_pid(P)]) end."
    );
    nodes.eval(i, &expr).and_then(|s| s.parse().map_err(|e| format!("{s}: {e}")))
}

/// The node that node `i`'s registry says runs sandbox `id` (`none` when it has no entry).
pub fn sandbox_registry_node(nodes: &TestCluster, i: usize, id: &str) -> Result<String, String> {
    let expr = format!(
        "case ets:lookup(orbit_sandbox_table, {{entry, <<\"{id}\">>}}) of [{{_, E}}] -> maps:get(node, E); [] -> none end."
    );
    nodes.eval(i, &expr).map(|s| s.trim_matches('\'').to_string())
}
