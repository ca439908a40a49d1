//! A cluster of `mix release` builds of `fixtures/demo` (MIX_ENV=prod, bundled ERTS, beams stripped of
//! debug info, no OTP debugger application), started with the release's own script: what Orbit does there,
//! and the debugger's one-sentence answer instead of a raw `undef`.

mod common;

use beam::debugger::{Engine, EngineEvent, IntEngine, LineBreakpoint};
use beam::processes::{self, ProcessQuery};
use beam::reload::{self, DriftFilter, NodeOutcome, ReloadOptions, ReloadOutcome};
use beam::{health, term::atom};
use common::join;
use orbit_test_harness::{demo_dir, unique_name, TestCluster};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// Console text: the events produced while attaching first, then as common::output_until.
async fn output_until(engine: &mut IntEngine, ms: u64, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for e in engine.drain_events() {
        if let EngineEvent::Output { text: t, .. } = e {
            text.push_str(&t);
        }
    }
    if done(&text) {
        return text;
    }
    text + &common::output_until(engine, ms, done).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_cluster_status_processes_drift_reload_and_the_debuggers_answer() {
    let nodes = TestCluster::demo_release(2);
    // What makes it a release: no OTP debugger application on disk, no debug info in the beams.
    for i in 0..2 {
        let facts = nodes
            .eval(
                i,
                "{code:lib_dir(debugger), filelib:wildcard(filename:join([code:root_dir(), \"lib\", \"debugger-*\"])), \
                 element(1, beam_lib:chunks(code:which('Elixir.Bank.Fees'), [debug_info]))}.",
            )
            .unwrap();
        assert_eq!(facts.replace(' ', ""), "{{error,bad_name},[],error}", "node {i}");
    }
    let cluster = join(&nodes, 0).await;

    // Status.
    for (node, s) in health::snapshot_all(&cluster, T).await {
        let s = s.unwrap_or_else(|e| panic!("{node}: {e}"));
        assert_eq!(s.otp_release, orbit_test_harness::otp_release());
        assert!(s.elixir_version.is_some(), "{s:?}");
    }

    // Processes.
    let page = processes::list(
        &cluster,
        &ProcessQuery { limit: 50, name: Some("Bank.".into()), ..ProcessQuery::default() },
        T,
    )
    .await
    .unwrap();
    assert!(page.processes.iter().any(|p| format!("{p:?}").contains("Bank.Ledger")), "{page:?}");
    assert_eq!(page.per_node.len(), 2, "{page:?}");

    // The debugger: one sentence at attach, line breakpoints refused with it, tracepoints still hold.
    let mut engine = common::attach_demo(&nodes, 0).await;
    let text = output_until(&mut engine, 2_000, |t| t.contains("no OTP debugger application")).await;
    assert!(text.contains("no OTP debugger application"), "{text}");
    assert!(text.contains("tracepoints (log points") && text.contains("+D"), "{text}");
    assert!(!text.contains("undef"), "{text}");
    let fees = demo_dir().join("lib/bank/fees.ex");
    let bps = engine.set_breakpoints(&fees, vec![LineBreakpoint { line: 13, ..Default::default() }]).await;
    assert!(!bps[0].verified, "{bps:?}");
    let why = bps[0].message.clone().unwrap_or_default();
    assert!(why.contains("no OTP debugger application"), "{why}");
    // A log point is a tracepoint where debug info says which clause the line is in: a release strips it
    // from its beams, so every node's tracer reads the clauses from the project's own build of the module,
    // which is the same code (md5) as the release's.
    let log = LineBreakpoint { line: 12, log_message: Some("fee for {amount}".into()), ..Default::default() };
    let bps = engine.set_breakpoints(&fees, vec![log]).await;
    assert!(bps[0].verified, "{bps:?}");
    for i in 0..2 {
        let answer = nodes.eval(i, &format!("'Elixir.Bank.Fees':fee_for({}).", 700 + i)).unwrap();
        assert_eq!(answer, "7", "node {i}");
        let text = common::output_until(&mut engine, 10_000, |t| t.contains(&format!("fee for {}", 700 + i))).await;
        assert!(text.contains(&format!("fee for {}", 700 + i)), "node {i}: {text}");
    }
    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
    for i in 0..2 {
        let left = nodes.eval(i, "{whereis(orbit_dbg_tracer), code:lib_dir(debugger)}.").unwrap();
        assert_eq!(left.replace(' ', ""), "{undefined,{error,bad_name}}", "node {i}");
    }

    // Drift: none, then a reload of one node (compiled on the node from the source: a release's beams
    // have no debug info to read the code from), then drift shows it, then a reload of all fixes it.
    let app = DriftFilter::App("bank".into());
    let before = reload::drift(&cluster, &app, None, T).await.unwrap();
    assert!(before.module("Elixir.Bank.Fees").is_none(), "{before:#?}");
    let dir = std::env::temp_dir().join(unique_name("orbit_release_test"));
    std::fs::create_dir_all(&dir).unwrap();
    let original = std::fs::read_to_string(demo_dir().join("lib/bank/fees.ex")).unwrap();
    let changed = original.replacen("    fee\n  end", "    fee + 9\n  end", 1);
    assert_ne!(original, changed, "fees.ex changed shape: update this test");
    let file = dir.join("fees.ex");
    std::fs::write(&file, &changed).unwrap();
    let opts = ReloadOptions { nodes: Some(vec![nodes.name(0).to_string()]), timeout: T, ..ReloadOptions::default() };
    let report = reload::reload(&cluster, std::slice::from_ref(&file), &opts).await.unwrap();
    assert_eq!(report.outcome, ReloadOutcome::Loaded, "{report:#?}");
    assert_eq!(nodes.eval(0, "'Elixir.Bank.Fees':fee_for(500).").unwrap(), "14");
    assert_eq!(nodes.eval(1, "'Elixir.Bank.Fees':fee_for(500).").unwrap(), "5");
    let drift = reload::drift(&cluster, &app, None, T).await.unwrap();
    assert!(drift.module("Elixir.Bank.Fees").is_some(), "{drift:#?}");
    let opts = ReloadOptions { timeout: T, ..ReloadOptions::default() };
    let report = reload::reload(&cluster, std::slice::from_ref(&file), &opts).await.unwrap();
    assert!(report.nodes.iter().all(|n| n.outcome == NodeOutcome::Loaded), "{report:#?}");
    assert_eq!(nodes.eval(1, "'Elixir.Bank.Fees':fee_for(500).").unwrap(), "14");
    let _ = std::fs::remove_dir_all(&dir);
    let r = cluster.call(nodes.name(1), "erlang", "node", vec![], T).await.unwrap();
    assert_eq!(r, atom(nodes.name(1)));
}
