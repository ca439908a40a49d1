//! The debugger, against OTP's own int driven by a plain Erlang client, measured in the same run:
//! - breakpoint hit → `stopped` latency (target p50 ≤ 2 ms), for a fresh process per hit and for 200
//!   consecutive passes of one long-lived process (target ≤ 2× the native client);
//! - setBreakpoints reaching 10 nodes (first time: interpreting the module everywhere; then a change);
//! - the slowdown of code in modules without breakpoints while a session is attached (target ≤ 5%);
//! - stepIn across nodes: from the request to the `stopped` event of the process on the other node that
//!   takes the call, 50 steps (target p50 ≤ 20 ms);
//! - a function called 1,000,000 times in a loop with a tracepoint on it (rate-limited output) against
//!   no session (target ≤ 1.5×), and with an interpreted log point on it.
//!
//! Bare Erlang nodes with the demo's `bank_ledger` on their code path. Run with `scripts/bench`.

use beam::agent;
use beam::cluster::ClusterOptions;
use beam::debugger::{AttachConfig, Engine, EngineEvent, IntEngine, LineBreakpoint, Resume, SourceMap};
use beam::link::{Cookie, NodeName};
use beam::term::{as_integer, as_list, atom, int, tuple};
use eetf::Term;
use orbit_test_harness::{build_demo_fixture, repo_root, TestCluster};
use std::time::{Duration, Instant};
mod common;
use common::{join, summary};

const HITS: usize = 200;
const LINE: u32 = 70; // bank_ledger:fee/1, `Fee0 = Amount div 100`
const T: Duration = Duration::from_secs(60);

fn micros(t: &eetf::Term) -> Vec<f64> {
    as_list(t).map(|l| l.iter().filter_map(as_integer).map(|x| x as f64).collect()).unwrap_or_default()
}

/// A plain cluster connection (with the agent) for the native phases, so that no Orbit session is
/// subscribed to the interpreter while OTP's own client runs.
async fn cluster_for(nodes: &TestCluster) -> beam::cluster::Cluster {
    join(nodes, ClusterOptions::default()).await
}

async fn engine_on(cluster: beam::cluster::Cluster, nodes: &TestCluster) -> IntEngine {
    let config = AttachConfig {
        seeds: vec![NodeName::parse(nodes.name(0)).unwrap()],
        cookie: Cookie::new(nodes.cookie.clone()),
        cluster: ClusterOptions::default(),
        project_dir: Some(repo_root().join("fixtures/demo")),
        source_map: SourceMap::default(),
        interpret: vec![],
        exclude: vec![],
        hold_callers: true,
    };
    IntEngine::with_cluster(cluster, config).await.expect("attach")
}

async fn wait_event(engine: &mut IntEngine, pred: impl Fn(&EngineEvent) -> bool) -> EngineEvent {
    loop {
        let raw = tokio::time::timeout(T, engine.next_raw()).await.expect("event").expect("stream");
        for e in engine.handle_raw(raw).await {
            if pred(&e) {
                return e;
            }
        }
    }
}

/// Times of `runs` runs of 200,000 rounds of work in a module that is never interpreted.
async fn hot_loop(cluster: &beam::cluster::Cluster, node: &str, runs: usize) -> Vec<f64> {
    let mut v = Vec::new();
    for _ in 0..runs {
        let t = cluster.call(node, "orbit_bench_dbg", "hot_loop", vec![int(200_000)], T).await.unwrap();
        v.push(as_integer(&t).unwrap() as f64);
    }
    v
}

const STEPS: usize = 50;
const CALLS: usize = 1_000_000;
const DEF_LINE: u32 = 69; // bank_ledger:fee/1, `fee(Amount) when is_integer(Amount), Amount >= 0 ->`

/// Microseconds for `CALLS` calls of `bank_ledger:fee/1` in a loop on `node`, and the console lines the
/// session printed meanwhile (its events are handled as they come, as the adapter does).
/// With `counted`, the loop runs with OTP's `call_count` on the function instead (no session).
async fn timed_calls(
    cluster: &beam::cluster::Cluster,
    node: &str,
    engine: Option<&mut IntEngine>,
    counted: bool,
) -> (f64, usize) {
    let args = vec![atom("bank_ledger"), atom("fee"), int(2500), int(CALLS as i64)];
    let f = if counted { "call_loop_counted" } else { "call_loop" };
    let call = cluster.call(node, "orbit_bench_dbg", f, args, T * 20);
    tokio::pin!(call);
    let Some(engine) = engine else {
        return (as_integer(&call.await.unwrap()).unwrap() as f64, 0);
    };
    let mut lines = 0;
    loop {
        tokio::select! {
            r = &mut call => return (as_integer(&r.unwrap()).unwrap() as f64, lines),
            raw = engine.next_raw() => {
                let Some(raw) = raw else { continue };
                lines += engine.handle_raw(raw).await.iter().filter(|e| matches!(e, EngineEvent::Output { .. })).count();
            }
        }
    }
}

/// `CALLS` calls of a function: without a session, with only OTP's `call_count` on it, with a tracepoint
/// on it (alternating, median of 3 each), then with an interpreted log point on it (one run).
/// Microseconds, and the lines printed.
async fn tracepoint_slowdown(cluster: &beam::cluster::Cluster, nodes: &TestCluster, node: &str) -> [(f64, usize); 4] {
    let ledger = repo_root().join("fixtures/demo/src/bank_ledger.erl");
    let log = |line: u32| LineBreakpoint { line, log_message: Some("fee of {Amount}".into()), ..Default::default() };
    let (mut without, mut counted, mut traced, mut lines) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..3 {
        without.push(timed_calls(cluster, node, None, false).await.0);
        counted.push(timed_calls(cluster, node, None, true).await.0);
        let mut session = engine_on(cluster.clone(), nodes).await;
        let bps = session.set_breakpoints(&ledger, vec![log(DEF_LINE)]).await;
        assert_eq!(bps[0].message.as_deref(), Some("traced, not interpreted"), "{bps:?}");
        let (t, n) = timed_calls(cluster, node, Some(&mut session), false).await;
        traced.push(t);
        lines = lines.max(n);
        let _ = session.end().await;
    }
    let mut session = engine_on(cluster.clone(), nodes).await;
    let bps = session.set_breakpoints(&ledger, vec![log(LINE)]).await;
    assert!(bps[0].verified && bps[0].message.is_none(), "an interpreted log point: {bps:?}");
    let interpreted = timed_calls(cluster, node, Some(&mut session), false).await;
    let _ = session.end().await;
    [(summary(without).0, 0), (summary(counted).0, 0), (summary(traced).0, lines), interpreted]
}

/// Microseconds from `stepIn` on `Bank.Remote.ledger_total_on/1`'s call line (a process on node a) to
/// the stop of node b's ledger in its `handle_call/3`, `STEPS` times; each step is then stepped out of,
/// and the caller continued.
async fn step_into_latency() -> Vec<f64> {
    let nodes = TestCluster::demo(2);
    let (a, b) = (nodes.name(0).to_string(), nodes.name(1).to_string());
    let cluster = join(&nodes, ClusterOptions::default()).await;
    let link = cluster.link(&a).unwrap();
    agent::load_from_source(&link, "orbit_bench_dbg", include_str!("orbit_bench_dbg.erl")).await.unwrap();
    let mut engine = engine_on(cluster, &nodes).await;
    let remote = repo_root().join("fixtures/demo/lib/bank/remote.ex");
    let bps = engine.set_breakpoints(&remote, vec![LineBreakpoint { line: 16, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let args = beam::term::list(vec![atom(&b)]);
    let caller = engine
        .cluster()
        .call(&a, "orbit_bench_dbg", "start_caller", vec![atom("Elixir.Bank.Remote"), atom("ledger_total_on"), args], T)
        .await
        .unwrap();
    let stopped_thread = |e: &EngineEvent| match e {
        EngineEvent::Stopped { thread, .. } => Some(*thread),
        _ => None,
    };
    let mut out = Vec::with_capacity(STEPS);
    for _ in 0..STEPS {
        engine.cluster().call(&a, "orbit_bench_dbg", "poke", vec![caller.clone()], T).await.unwrap();
        let at = wait_event(&mut engine, |e| matches!(e, EngineEvent::Stopped { .. })).await;
        let from = stopped_thread(&at).unwrap();
        let t0 = Instant::now();
        engine.resume(from, Resume::StepIn).await.unwrap();
        let into = wait_event(&mut engine, |e| stopped_thread(e).is_some_and(|t| t != from)).await;
        out.push(t0.elapsed().as_secs_f64() * 1e6);
        engine.resume(stopped_thread(&into).unwrap(), Resume::StepOut).await.unwrap();
        wait_event(&mut engine, |e| stopped_thread(e) == Some(from)).await;
        engine.resume(from, Resume::Continue).await.unwrap();
        wait_event(&mut engine, |e| matches!(e, EngineEvent::ThreadExited { thread } if *thread == from)).await;
    }
    let _ = engine.end().await;
    engine.cluster().clone().disconnect().await;
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    build_demo_fixture();
    let ebin = repo_root().join("fixtures/demo/_build/dev/lib/bank/ebin");
    let ledger = repo_root().join("fixtures/demo/src/bank_ledger.erl");

    // 1. Latency, 2 nodes.
    let nodes = TestCluster::erlang_with_code_path(2, std::slice::from_ref(&ebin));
    let cluster = cluster_for(&nodes).await;
    let a = nodes.name(0).to_string();
    let link = cluster.link(&a).unwrap();
    agent::load_from_source(&link, "orbit_bench_dbg", include_str!("orbit_bench_dbg.erl")).await.unwrap();
    eprintln!("bench: native breakpoint latency ({HITS} hits)");
    let native = cluster
        .call(
            &a,
            "orbit_bench_dbg",
            "native_break_latency",
            vec![atom("bank_ledger"), int(LINE as i64), int(HITS as i64)],
            T * 5,
        )
        .await
        .expect("native run");
    cluster.call(&a, "orbit_bench_dbg", "native_cleanup", vec![atom("bank_ledger")], T).await.unwrap();
    eprintln!("bench: native breakpoint latency, {HITS} passes of one long-lived process");
    // The native client runs on the other node, as Orbit runs on another machine than the process.
    let b = nodes.name(1).to_string();
    let link_b = cluster.link(&b).unwrap();
    agent::load_from_source(&link_b, "orbit_bench_dbg", include_str!("orbit_bench_dbg.erl")).await.unwrap();
    let native_passes = cluster
        .call(
            &b,
            "orbit_bench_dbg",
            "native_pass_latency",
            vec![atom("bank_ledger"), int(LINE as i64), int(HITS as i64), atom(&a)],
            T * 5,
        )
        .await
        .expect("native run");
    cluster.call(&b, "orbit_bench_dbg", "native_cleanup", vec![atom("bank_ledger")], T).await.unwrap();
    let mut engine = engine_on(cluster, &nodes).await;
    let bps = engine.set_breakpoints(&ledger, vec![LineBreakpoint { line: LINE, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    eprintln!("bench: orbit breakpoint latency ({HITS} hits)");
    let mut orbit = Vec::with_capacity(HITS);
    for _ in 0..HITS {
        let t0 = Instant::now();
        engine
            .cluster()
            .call(&a, "erlang", "spawn", vec![atom("bank_ledger"), atom("fee"), beam::term::list(vec![int(100)])], T)
            .await
            .unwrap();
        let stopped = wait_event(&mut engine, |e| matches!(e, EngineEvent::Stopped { .. })).await;
        orbit.push(t0.elapsed().as_secs_f64() * 1e6);
        let EngineEvent::Stopped { thread, .. } = stopped else { unreachable!() };
        engine.resume(thread, Resume::Continue).await.unwrap();
        wait_event(&mut engine, |e| matches!(e, EngineEvent::ThreadExited { thread: t } if *t == thread)).await;
    }
    eprintln!("bench: orbit breakpoint latency, {HITS} passes of one long-lived process");
    let server =
        engine.cluster().call(&a, "orbit_bench_dbg", "start_server", vec![atom("bank_ledger")], T).await.unwrap();
    let Term::Pid(server_pid) = server.clone() else { panic!("start_server: {server:?}") };
    let mut passes = Vec::with_capacity(HITS);
    for i in 0..=HITS {
        // One message to the process, as the native client sends it (an RPC would add its round trip).
        let t0 = Instant::now();
        engine.cluster().send(&a, &server_pid, tuple(vec![atom("go"), atom("none")])).unwrap();
        let stopped = wait_event(&mut engine, |e| matches!(e, EngineEvent::Stopped { .. })).await;
        if i > 0 {
            // The first pass is the process's first stop (attach); the others are the passes measured.
            passes.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        let EngineEvent::Stopped { thread, .. } = stopped else { unreachable!() };
        engine.resume(thread, Resume::Continue).await.unwrap();
        wait_event(&mut engine, |e| matches!(e, EngineEvent::ThreadExited { thread: t } if *t == thread)).await;
    }
    let _ = engine.cluster().call(&a, "erlang", "exit", vec![server, atom("kill")], T).await;
    let _ = engine.set_breakpoints(&ledger, vec![]).await;

    eprintln!("bench: slowdown of code without breakpoints");
    // 3. Slowdown of code without breakpoints while a session is attached (same 2 nodes). Sessions come
    // and go in alternation with the runs without one, so that load from elsewhere falls on both alike.
    let _ = engine.end().await;
    let cluster = engine.cluster().clone();
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..6 {
        without.extend(hot_loop(&cluster, &a, 3).await);
        let mut session = engine_on(cluster.clone(), &nodes).await;
        let _ = session.set_breakpoints(&ledger, vec![LineBreakpoint { line: LINE, ..Default::default() }]).await;
        with.extend(hot_loop(&cluster, &a, 3).await);
        let _ = session.end().await;
    }
    let (with_session, without) = (summary(with).0, summary(without).0);

    eprintln!("bench: {CALLS} calls with a tracepoint, with an interpreted log point");
    let [(plain, _), (counted, _), (traced, traced_lines), (interpreted, interpreted_lines)] =
        tracepoint_slowdown(&cluster, &nodes, &a).await;
    cluster.disconnect().await;
    drop(nodes);

    eprintln!("bench: setBreakpoints on 10 nodes");
    // 2. setBreakpoints on 10 nodes.
    let nodes = TestCluster::erlang_with_code_path(10, std::slice::from_ref(&ebin));
    let cluster = cluster_for(&nodes).await;
    let a = nodes.name(0).to_string();
    let link = cluster.link(&a).unwrap();
    agent::load_from_source(&link, "orbit_bench_dbg", include_str!("orbit_bench_dbg.erl")).await.unwrap();
    let native_set = cluster
        .call(&a, "orbit_bench_dbg", "native_set_break", vec![atom("bank_ledger"), int(LINE as i64)], T)
        .await
        .ok()
        .and_then(|t| as_integer(&t))
        .unwrap_or(0) as f64;
    cluster.call(&a, "orbit_bench_dbg", "native_cleanup", vec![atom("bank_ledger")], T).await.unwrap();
    let mut engine = engine_on(cluster, &nodes).await;
    let t0 = Instant::now();
    let bps = engine.set_breakpoints(&ledger, vec![LineBreakpoint { line: LINE, ..Default::default() }]).await;
    let first = t0.elapsed().as_secs_f64() * 1e6;
    assert!(bps[0].verified);
    let mut changes = Vec::new();
    for i in 0..20 {
        let line = if i % 2 == 0 { 71 } else { LINE };
        let t0 = Instant::now();
        engine.set_breakpoints(&ledger, vec![LineBreakpoint { line, ..Default::default() }]).await;
        changes.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    let _ = engine.end().await;
    engine.cluster().clone().disconnect().await;
    drop(nodes);

    eprintln!("bench: stepIn across nodes ({STEPS} steps)");
    let steps = step_into_latency().await;

    let (n50, n99) = summary(micros(&native));
    let (o50, o99) = summary(orbit);
    let (c50, _) = summary(changes);
    let (np50, np99) = summary(micros(&native_passes));
    let (op50, op99) = summary(passes);
    println!("Breakpoint hit -> stopped, {HITS} hits of bank_ledger:fee/1 (µs):");
    println!("  native Erlang client on the node (int)   p50 {n50:8.1}   p99 {n99:8.1}");
    println!("  orbit engine, Rust, remote               p50 {o50:8.1}   p99 {o99:8.1}");
    println!("  ratio orbit/native                       p50 {:8.2}x  p99 {:8.2}x", o50 / n50, o99 / n99);
    println!("Breakpoint hit -> stopped, {HITS} consecutive passes of one long-lived process (µs):");
    println!("  native Erlang client on another node     p50 {np50:8.1}   p99 {np99:8.1}");
    println!("  orbit engine, Rust, remote               p50 {op50:8.1}   p99 {op99:8.1}");
    println!("  ratio orbit/native                       p50 {:8.2}x  p99 {:8.2}x", op50 / np50, op99 / np99);
    println!("setBreakpoints reaching 10 nodes (µs):");
    println!("  native int:ni + int:break                    {native_set:10.0}");
    println!("  orbit, first (interpret on 10 nodes + break) {first:10.0}   ratio {:6.2}x", first / native_set);
    println!("  orbit, moving the breakpoint (p50)           {c50:10.0}");
    let (s50, s99) = summary(steps);
    println!("stepIn into a GenServer.call to another node -> stopped there, {STEPS} steps (ms):");
    println!("  orbit engine                             p50 {:8.2}   p99 {:8.2}", s50 / 1e3, s99 / 1e3);
    println!("Code without breakpoints while a session is attached (200,000 rounds, median of 18, alternating, µs):");
    println!(
        "  without session {without:10.0}   with session {with_session:10.0}   slowdown {:+.1}%",
        (with_session / without - 1.0) * 100.0
    );
    println!("{CALLS} calls of bank_ledger:fee/1 in a loop (ms; lines printed by the session):");
    println!("  no session                                {:10.0}", plain / 1e3);
    println!("  native: only call_count on it, no session {:10.0}   slowdown {:6.2}x", counted / 1e3, counted / plain);
    println!(
        "  tracepoint on it (100 lines/s per node)   {:10.0}   slowdown {:6.2}x   {traced_lines} lines",
        traced / 1e3,
        traced / plain
    );
    println!(
        "  interpreted log point on it               {:10.0}   slowdown {:6.2}x   {interpreted_lines} lines",
        interpreted / 1e3,
        interpreted / plain
    );
}
