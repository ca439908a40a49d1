//! What a debug session may interpret: modules excluded by a glob in the attach configuration get no
//! breakpoint (the reason names the glob) and stay as they were on every node, while the others do.

mod common;

use beam::cluster::ClusterOptions;
use beam::debugger::{AttachConfig, Engine, IntEngine, LineBreakpoint, SourceMap};
use beam::link::{Cookie, NodeName};
use orbit_test_harness::{demo_dir, TestCluster};

/// `int:interpreted/0` on node `i`, as erl_call prints it.
fn interpreted(nodes: &TestCluster, i: usize) -> String {
    nodes.eval(i, "case code:is_loaded(int) of false -> []; _ -> int:interpreted() end.").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_excluded_module_gets_no_breakpoint_and_is_not_interpreted() {
    let nodes = TestCluster::demo(2);
    let config = AttachConfig {
        seeds: vec![NodeName::parse(nodes.name(0)).unwrap()],
        cookie: Cookie::new(nodes.cookie.clone()),
        cluster: ClusterOptions::default(),
        project_dir: Some(demo_dir()),
        source_map: SourceMap::default(),
        interpret: vec![],
        exclude: vec!["Bank.F*".into()],
        hold_callers: true,
    };
    let mut engine = IntEngine::attach(config).await.expect("attach");
    let fees = demo_dir().join("lib/bank/fees.ex");
    let bps = engine.set_breakpoints(&fees, vec![LineBreakpoint { line: 10, ..Default::default() }]).await;
    assert!(!bps[0].verified, "{bps:?}");
    let why = bps[0].message.clone().unwrap_or_default();
    assert!(why.contains("Bank.Fees is excluded from debugging by `exclude: Bank.F*`"), "{why}");
    for i in 0..2 {
        assert!(!interpreted(&nodes, i).contains("Elixir.Bank.Fees"), "node {i}: {}", interpreted(&nodes, i));
    }
    // A module the glob does not match is interpreted as usual.
    let account = demo_dir().join("lib/bank/account.ex");
    let bps = engine.set_breakpoints(&account, vec![LineBreakpoint { line: 74, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    assert!(interpreted(&nodes, 0).contains("Elixir.Bank.Account"), "{}", interpreted(&nodes, 0));
    let left = engine.end().await;
    assert!(left.is_empty(), "{left:?}");
}
