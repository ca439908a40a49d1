//! Native breakpoints (OTP 28+, nodes started with `+D`) against a real cluster of `fixtures/demo`: the
//! same engine as ever, with breakpoints on erl_debugger instead of the interpreter. Skipped (with a line
//! saying why) where the nodes' OTP is older than 28: run with `ORBIT_OTP=otp29`.

mod common;

use common::{spawn_eval, until};

use beam::debugger::native_engine::BASE;
use beam::debugger::{Engine, EngineEvent, IntEngine, LineBreakpoint, Resume, StopReason};
use orbit_test_harness::{demo_dir, TestCluster};

const DEPOSIT: u32 = 74;

fn native_otp() -> bool {
    let release: u32 = orbit_test_harness::otp_release().parse().unwrap_or(0);
    if release < 28 {
        println!("skipped: native breakpoints need OTP 28+ (erl_debugger); the nodes run OTP {release}");
    }
    release >= 28
}

/// Stops at the deposit line; returns the thread.
async fn stop_at_deposit(engine: &mut IntEngine) -> i64 {
    let e = until(engine, "a stop", |e| matches!(e, EngineEvent::Stopped { .. })).await;
    let EngineEvent::Stopped { thread, reason, .. } = e else { unreachable!() };
    assert_eq!(reason, StopReason::Breakpoint);
    assert!(thread >= BASE, "a native thread id: {thread}");
    thread
}

const MD5: &str = "'Elixir.Bank.Account':module_info(md5).";
const LEFT: &str = "{erl_debugger:whereis(), orbit_dbg:interpreted_here(['Elixir.Bank.Account'])}.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_breakpoint_every_pass_variables_evaluate_next_and_cleanup() {
    if !native_otp() {
        return;
    }
    let nodes = TestCluster::demo_native(2);
    nodes.eval(0, "'Elixir.Bank':open_account(<<\"nat1\">>, <<\"ann\">>, 100).").unwrap();
    let md5_before: Vec<String> = (0..2).map(|i| nodes.eval(i, MD5).unwrap()).collect();
    let mut engine = common::attach_demo(&nodes, 0).await;
    let file = demo_dir().join("lib/bank/account.ex");
    let bps = engine.set_breakpoints(&file, vec![LineBreakpoint { line: DEPOSIT, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    // The nodes run Orbit's build of Bank.Account (the same code with debug info for breakpoints), which
    // version checks (drift, the language server's stale modules) count as the code it replaced.
    let filter = beam::reload::DriftFilter::App("bank".into());
    let drift = beam::reload::drift(engine.cluster(), &filter, None, std::time::Duration::from_secs(30)).await.unwrap();
    assert!(drift.module("Elixir.Bank.Account").is_none(), "{drift:#?}");
    for (i, before) in md5_before.iter().enumerate() {
        assert_ne!(&nodes.eval(i, MD5).unwrap(), before, "node {i} runs Orbit's build for breakpoints");
        let versions = nodes.eval(i, "orbit_reload:loaded_md5s({prefix, <<\"Elixir.Bank.Account\">>}).").unwrap();
        let versions = versions.replace([' ', '\n'], "");
        assert!(versions.contains(&format!("{{'Elixir.Bank.Account',{before}}}")), "node {i}: {versions}");
    }

    for (pass, amount) in [(1, 5), (2, 6)] {
        let call = spawn_eval(&nodes, 1, format!("'Elixir.Bank.Account':deposit(<<\"nat1\">>, {amount})."));
        let thread = stop_at_deposit(&mut engine).await;
        let name = engine.threads().into_iter().find(|t| t.id == thread).expect("the thread").name;
        assert!(name.contains("[native]"), "pass {pass}: {name}");
        let frames = engine.stack_trace(thread).await.expect("stack");
        assert_eq!(frames[0].line, DEPOSIT);
        assert!(frames[0].source.as_ref().is_some_and(|p| p.ends_with("lib/bank/account.ex")), "{:?}", frames[0]);
        let scopes = engine.scopes(frames[0].id).await.expect("scopes");
        let vars = engine.variables(scopes[0].variables_reference, None, None).await.expect("variables");
        let value = |n: &str| vars.iter().find(|v| v.name == n).map(|v| v.value.clone());
        assert_eq!(value("amount").as_deref(), Some(amount.to_string().as_str()), "{vars:?}");
        assert!(value("state").is_some_and(|s| s.starts_with("%Bank.Account{")), "{vars:?}");
        let sum = engine.evaluate("state.balance + amount", Some(frames[0].id)).await.expect("evaluate");
        let expected = if pass == 1 { 105 } else { 111 };
        assert_eq!(sum.value, expected.to_string());
        assert!(engine.set_variable(scopes[0].variables_reference, "amount", "1").await.is_err());
        if pass == 2 {
            engine.resume(thread, Resume::Next).await.expect("next");
            let e = until(&mut engine, "the step", |e| matches!(e, EngineEvent::Stopped { .. })).await;
            assert!(matches!(e, EngineEvent::Stopped { reason: StopReason::Step, .. }), "{e:?}");
            let frames = engine.stack_trace(thread).await.expect("stack after next");
            assert_eq!(frames[0].line, DEPOSIT + 1);
        }
        engine.resume(thread, Resume::Continue).await.expect("continue");
        assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), format!("{{ok,{expected}}}"));
        // Nothing is interpreted anywhere, ever.
        for i in 0..2 {
            let left = nodes.eval(i, LEFT).unwrap();
            assert!(left.replace(' ', "").ends_with(",[]}"), "node {i}: {left}");
        }
    }

    // Paused at the end of the session: the call completes and the node is as it was.
    let call = spawn_eval(&nodes, 1, "'Elixir.Bank.Account':deposit(<<\"nat1\">>, 1).".into());
    stop_at_deposit(&mut engine).await;
    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "{ok,112}");
    for (i, before) in md5_before.iter().enumerate() {
        assert_eq!(&nodes.eval(i, MD5).unwrap(), before, "node {i} runs its original code");
        assert_eq!(nodes.eval(i, LEFT).unwrap().replace(' ', ""), "{undefined,[]}", "node {i}");
    }
}

/// A release's beams carry no debug info (`strip_beams`) and its Erlang installation no OTP debugger
/// application: with `+D` its breakpoints are native, from the project's build of the same code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_breakpoints_in_a_stripped_release_from_the_projects_build() {
    if !native_otp() {
        return;
    }
    let nodes = TestCluster::demo_release_native(1);
    let facts =
        "{erl_debugger:supported(), element(1, beam_lib:chunks(code:which('Elixir.Bank.Fees'), [debug_info]))}.";
    assert_eq!(nodes.eval(0, facts).unwrap().replace(' ', ""), "{true,error}");
    let md5 = "'Elixir.Bank.Fees':module_info(md5).";
    let before = nodes.eval(0, md5).unwrap();
    let mut engine = common::attach_demo(&nodes, 0).await;
    let fees = demo_dir().join("lib/bank/fees.ex");
    let bps = engine.set_breakpoints(&fees, vec![LineBreakpoint { line: 14, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let call = spawn_eval(&nodes, 0, "'Elixir.Bank.Fees':fee_for(500).".into());
    let e = until(&mut engine, "a stop", |e| matches!(e, EngineEvent::Stopped { .. })).await;
    let EngineEvent::Stopped { thread, .. } = e else { unreachable!() };
    let frames = engine.stack_trace(thread).await.expect("stack");
    assert_eq!(frames[0].line, 14);
    let scopes = engine.scopes(frames[0].id).await.expect("scopes");
    let vars = engine.variables(scopes[0].variables_reference, None, None).await.expect("variables");
    let fee = vars.iter().find(|v| v.name == "fee").map(|v| v.value.clone());
    assert_eq!(fee.as_deref(), Some("5"), "{vars:?}");
    engine.resume(thread, Resume::Continue).await.expect("continue");
    assert_eq!(call.join().unwrap().unwrap(), "5");
    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(nodes.eval(0, md5).unwrap(), before, "the release's own code is back");
    assert_eq!(nodes.eval(0, "erl_debugger:whereis().").unwrap(), "undefined");
}
