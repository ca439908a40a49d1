//! Tracepoints (log points served by tracing, not by the interpreter) against a real cluster of
//! `fixtures/demo`, driving the engine directly. The DAP tests (tests/dap/test/tracepoints.test.js) drive
//! the same through `orbit dap`.

mod common;

use beam::debugger::{Engine, EngineEvent, IntEngine, LineBreakpoint};
use orbit_test_harness::{demo_dir, TestCluster};
use std::path::PathBuf;
use std::time::Duration;

fn fees_ex() -> PathBuf {
    demo_dir().join("lib/bank/fees.ex")
}

async fn attach(nodes: &TestCluster, seed: usize) -> IntEngine {
    common::attach_demo(nodes, seed).await
}

const MFA: &str = "{'Elixir.Bank.Fees', fee_for, 1}";

/// `{Meta, CallCount, Tracer, Interpreted, Sessions}` on node `i`: the trace patterns on
/// Bank.Fees.fee_for/1, the session's tracer, whether calls into Bank.Fees go through the interpreter, and
/// how many trace sessions of tracepoints the node has. Where the node has trace sessions (OTP 27+) the
/// patterns are those of the tracer's own session while it exists; else, as on OTP 25/26, the node's
/// legacy session's.
fn state(nodes: &TestCluster, i: usize) -> String {
    let expr = format!(
        "Ss = case code:ensure_loaded(trace) of {{module, trace}} -> [S || {{orbit_dbg_trace, _}} = S <- trace:session_info(all)]; _ -> [] end, \
         Info = fun(Item) -> case Ss of [S | _] -> trace:info(S, {MFA}, Item); [] -> erlang:trace_info({MFA}, Item) end end, \
         {{Info(meta), Info(call_count), whereis(orbit_dbg_tracer), \
           orbit_dbg:interpreted_here(['Elixir.Bank.Fees']), length(Ss)}}."
    );
    nodes.eval(i, &expr).map(|s| s.split_whitespace().collect()).unwrap_or_else(|e| format!("eval failed: {e}"))
}

const CLEAN: &str = "{{meta,false},{call_count,false},undefined,[],0}";

async fn eventually_clean(nodes: &TestCluster, i: usize) {
    let mut last = String::new();
    for _ in 0..100 {
        last = state(nodes, i);
        if last == CLEAN {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} keeps trace state: {last}", nodes.name(i));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracepoint_on_a_hot_function_interprets_nothing_and_keeps_its_rate() {
    let nodes = TestCluster::demo(2);
    let mut engine = attach(&nodes, 0).await;
    engine.set_log_point_rate(20).await;
    let log = |line: u32, msg: &str| LineBreakpoint { line, log_message: Some(msg.into()), ..Default::default() };
    // Line 12 is `def fee_for(amount) when is_integer(amount) and amount > 0 do`.
    let bps = engine.set_breakpoints(&fees_ex(), vec![log(12, "fee for {amount} is {return}")]).await;
    assert!(bps[0].verified, "{bps:?}");
    assert_eq!(bps[0].line, Some(12));
    assert_eq!(bps[0].message.as_deref(), Some("traced, not interpreted"));
    for i in 0..2 {
        let s = state(&nodes, i);
        assert!(s.starts_with("{{meta,<") && s.contains(",[],"), "node {i}: traced, not interpreted: {s}");
    }

    // One call: one line, with its return value, naming the node and the process.
    nodes.eval(1, "'Elixir.Bank.Fees':fee_for(2500).").unwrap();
    let text = common::output_until(&mut engine, 10_000, |t| t.contains("fee for 2500")).await;
    let line = text.lines().find(|l| l.contains("fee for 2500")).expect("a line");
    assert!(line.starts_with(&format!("[{} #PID<0.", nodes.name(1))), "{line}");
    assert!(line.ends_with("fee for 2500 is 26"), "{line}");

    // The second clause (`fee_for(_amount)`) is not this tracepoint's: no line.
    nodes.eval(1, "'Elixir.Bank.Fees':fee_for(-5).").unwrap();

    // A hot loop: at most 20 lines a second on that node, then one line with how many were dropped.
    const N: u64 = 50_000;
    nodes.eval(1, &format!("lists:foreach(fun(X) -> 'Elixir.Bank.Fees':fee_for(X) end, lists:seq(1, {N})).")).unwrap();
    // The loop may span several seconds: each has at most 20 lines, then a line with what it dropped.
    let counted = |t: &str| {
        let lines = t.lines().filter(|l| l.contains("] fee for ")).count() as u64;
        let dropped: u64 =
            t.lines().filter_map(|l| l.split("tracepoints: ").nth(1)?.split(' ').next()?.parse::<u64>().ok()).sum();
        (lines, dropped)
    };
    let text = common::output_until(&mut engine, 30_000, |t| {
        let (lines, dropped) = counted(t);
        lines + dropped >= N - N / 100
    })
    .await;
    let (lines, dropped) = counted(&text);
    assert!(dropped > 0, "{text}");
    assert!(lines + dropped <= N && lines + dropped >= N - N / 100, "{lines} lines and {dropped} dropped of {N} calls");
    assert!(!text.contains("fee for -5"), "{text}");
    let notes: Vec<&str> = text.lines().filter(|l| l.contains("calls dropped")).collect();
    for note in &notes {
        assert!(note.starts_with(&format!("[{}] tracepoints: ", nodes.name(1))), "{note}");
        assert!(note.contains("Bank.Fees.fee_for/1") && note.contains("20 lines per second per node"), "{note}");
    }
    for (k, second) in text.split("calls dropped").enumerate() {
        let n = second.lines().filter(|l| l.contains("] fee for ")).count();
        assert!(n <= 20, "second {k}: {n} lines:\n{text}");
    }
    for i in 0..2 {
        assert!(state(&nodes, i).contains(",[],"), "node {i}: never interpreted");
    }

    // Removed: no trace pattern and no tracer anywhere.
    let bps = engine.set_breakpoints(&fees_ex(), vec![]).await;
    assert!(bps.is_empty());
    for i in 0..2 {
        eventually_clean(&nodes, i).await;
    }

    // A log point that uses a variable the clause head does not bind is interpreted, as before.
    let bps = engine.set_breakpoints(&fees_ex(), vec![log(12, "fee {fee}")]).await;
    assert!(bps[0].verified, "{bps:?}");
    assert_ne!(bps[0].message.as_deref(), Some("traced, not interpreted"));
    assert_eq!(bps[0].line, Some(13), "moved to the first line with code, as an interpreted log point is");
    assert!(state(&nodes, 0).contains(",['Elixir.Bank.Fees'],"), "{}", state(&nodes, 0));
    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
    for i in 0..2 {
        eventually_clean(&nodes, i).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_log_points_are_tracepoints_until_their_module_is_interpreted() {
    let nodes = TestCluster::demo(2);
    let mut engine = attach(&nodes, 0).await;
    let bps = engine
        .set_function_breakpoints(vec![("Bank.Fees.fee_for/1 log \"fee_for -> {return}\"".into(), None, None)])
        .await;
    assert!(bps[0].verified, "{bps:?}");
    assert_eq!(bps[0].message.as_deref(), Some("traced, not interpreted"));
    assert_eq!(bps[0].line, Some(12));
    nodes.eval(1, "'Elixir.Bank.Fees':fee_for(-5).").unwrap();
    nodes.eval(0, "'Elixir.Bank.Fees':fee_for(2500).").unwrap();
    let text =
        common::output_until(&mut engine, 10_000, |t| t.contains("fee_for -> 26") && t.contains("fee_for -> 0")).await;
    assert!(text.contains(&format!("[{} #PID<0.", nodes.name(1))), "every clause: {text}");

    // A breakpoint in the same module interprets it: the tracepoint becomes an interpreted log point.
    let bp = engine.set_breakpoints(&fees_ex(), vec![LineBreakpoint { line: 14, ..Default::default() }]).await;
    assert!(bp[0].verified, "{bp:?}");
    let changed = engine.drain_events();
    let status = changed
        .iter()
        .find_map(|e| match e {
            EngineEvent::Breakpoint(s) if s.id == bps[0].id => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a breakpoint event for the function log point: {changed:?}"));
    assert!(status.verified && status.message.as_deref() != Some("traced, not interpreted"), "{status:?}");
    for i in 0..2 {
        let s = state(&nodes, i);
        assert!(s.starts_with("{{meta,false}"), "node {i}: no trace pattern left: {s}");
    }
    engine.end().await;
    for i in 0..2 {
        eventually_clean(&nodes, i).await;
    }
}
