//! The debugger engine against a real cluster of `fixtures/demo`.

mod common;

use common::{spawn_eval, until};

use beam::debugger::{Engine, EngineEvent, IntEngine, LineBreakpoint, Resume, StopReason};
use orbit_test_harness::{demo_dir, TestCluster};
use std::path::PathBuf;

fn account_ex() -> PathBuf {
    demo_dir().join("lib/bank/account.ex")
}

async fn attach(nodes: &TestCluster, seed: usize) -> IntEngine {
    common::attach_demo(nodes, seed).await
}

fn owner_index(nodes: &TestCluster, id: &str) -> usize {
    let owner = nodes.eval(0, &format!("'Elixir.Bank':owner_node(<<\"{id}\">>).")).unwrap();
    let owner = owner.trim_matches('\'');
    nodes.names().iter().position(|n| n == owner).expect("owner is a node")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakpoint_on_another_node_stack_variables_step_and_cleanup() {
    let nodes = TestCluster::demo(2);
    nodes.eval(0, "'Elixir.Bank':open_account(<<\"acc1\">>, <<\"ann\">>, 100).").unwrap();
    let owner = owner_index(&nodes, "acc1");
    let caller = 1 - owner;
    // Attach through the node that does not own the account: the stop happens on the other one.
    // Elixir 1.15+ prunes a `mix run` node's code path to the project's applications: OTP's debugger is
    // then not loadable until Orbit makes it so for the session, and the path is as it was afterwards.
    let debugger_path = |i: usize| nodes.eval(i, "code:lib_dir(debugger).").unwrap();
    let paths_before: Vec<String> = (0..2).map(debugger_path).collect();
    let mut engine = attach(&nodes, caller).await;
    let bps = engine.set_breakpoints(&account_ex(), vec![LineBreakpoint { line: 74, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    assert_eq!(bps[0].line, Some(74));

    let call = spawn_eval(
        &nodes,
        caller,
        "gen_server:call('Elixir.Bank':whereis(<<\"acc1\">>), {deposit, 5}, 60000).".to_string(),
    );
    let stopped = until(&mut engine, "stopped", |e| matches!(e, EngineEvent::Stopped { .. })).await;
    let EngineEvent::Stopped { thread, reason, text, .. } = stopped else { unreachable!() };
    assert_eq!(reason, StopReason::Breakpoint);
    assert!(text.as_deref().unwrap().contains(nodes.name(owner)), "{text:?}");
    let threads = engine.threads();
    assert!(threads.iter().any(|t| t.id == thread && t.name.contains("Bank.Account.handle_call/3")), "{threads:?}");

    let frames = engine.stack_trace(thread).await.unwrap();
    assert_eq!(frames[0].name, "Bank.Account.handle_call/3");
    assert_eq!(frames[0].line, 74);
    assert!(frames[0].source.as_ref().unwrap().ends_with("lib/bank/account.ex"));

    let scopes = engine.scopes(frames[0].id).await.unwrap();
    assert_eq!(scopes[0].name, "Locals");
    let locals = engine.variables(scopes[0].variables_reference, None, None).await.unwrap();
    let amount = locals.iter().find(|v| v.name == "amount").unwrap_or_else(|| panic!("amount in {locals:?}"));
    assert_eq!(amount.value, "5");
    let state = locals.iter().find(|v| v.name == "state").expect("state");
    assert_eq!(
        state.value, r#"%Bank.Account{id: "acc1", owner: "ann", balance: 100, history: []}"#,
        "Elixir syntax, fields in their defstruct order"
    );
    assert!(state.variables_reference > 0);
    let fields = engine.variables(state.variables_reference, None, None).await.unwrap();
    assert!(fields.iter().any(|f| f.name == "balance" && f.value == "100"), "{fields:?}");

    let process = engine.variables(scopes[1].variables_reference, None, None).await.unwrap();
    assert!(process.iter().any(|v| v.name == "node" && v.value.contains(nodes.name(owner))), "{process:?}");

    let v = engine.evaluate("state.balance + amount", Some(frames[0].id)).await.unwrap();
    assert_eq!(v.value, "105");
    let v = engine.evaluate("node()", Some(frames[0].id)).await.unwrap();
    assert_eq!(v.value, format!(":{}", nodes.name(owner)), "evaluated on the process's node");

    // setVariable changes what the function computes.
    let set = engine.set_variable(scopes[0].variables_reference, "amount", "10").await.unwrap();
    assert_eq!(set.value, "10");

    engine.resume(thread, Resume::Next).await.unwrap();
    let stepped = until(&mut engine, "step", |e| matches!(e, EngineEvent::Stopped { .. })).await;
    assert!(matches!(stepped, EngineEvent::Stopped { reason: StopReason::Step, .. }), "{stepped:?}");
    let frames = engine.stack_trace(thread).await.unwrap();
    assert_eq!(frames[0].line, 75);

    engine.resume(thread, Resume::Continue).await.unwrap();
    let result = call.join().unwrap().unwrap();
    assert_eq!(result.replace(' ', ""), "{ok,110}", "the call completes with the changed amount");

    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
    for i in 0..2 {
        let interpreted = nodes.eval(i, "orbit_dbg:interpreted_here(['Elixir.Bank.Account']).").unwrap();
        assert_eq!(interpreted, "[]", "native again on node {i}");
    }
    // The interpreter server Orbit started is gone, with its breakpoints and processes.
    for i in 0..2 {
        let servers = nodes.eval(i, "{whereis(dbg_iserver), global:whereis_name(dbg_iserver)}.").unwrap();
        assert_eq!(servers.replace(' ', ""), "{undefined,undefined}", "no interpreter server on node {i}");
    }
    let paths_after: Vec<String> = (0..2).map(debugger_path).collect();
    assert_eq!(paths_after, paths_before, "each node's code path as it was before the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_breakpoint_stops_in_every_clause() {
    let nodes = TestCluster::demo(1);
    let mut engine = attach(&nodes, 0).await;
    let bps = engine.set_function_breakpoints(vec![("Bank.Fees.fee_for/1".into(), None, None)]).await;
    assert!(bps[0].verified, "{bps:?}");
    assert_eq!(bps[0].line, Some(13), "the first clause's first line");
    // The second clause (`def fee_for(_amount), do: 0`) stops too.
    let call = spawn_eval(&nodes, 0, "'Elixir.Bank.Fees':fee_for(0).".to_string());
    let stopped = until(&mut engine, "stopped", |e| matches!(e, EngineEvent::Stopped { .. })).await;
    let EngineEvent::Stopped { thread, reason, breakpoints, .. } = stopped else { unreachable!() };
    assert_eq!(reason, StopReason::FunctionBreakpoint);
    assert_eq!(breakpoints, vec![bps[0].id]);
    assert_eq!(engine.stack_trace(thread).await.unwrap()[0].line, 20);
    engine.resume(thread, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap(), "0");
    assert!(engine.end().await.is_empty());
}
