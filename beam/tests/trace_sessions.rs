//! Orbit's tracing next to a user's own trace on the same node (`dbg`, `recon_trace`: the node's legacy trace
//! session). Where the node has trace sessions (OTP 27+, the `trace` module), `orbit trace` and tracepoints
//! trace in sessions of their own: the user's tracer keeps receiving its messages while Orbit traces the same
//! function and after, and Orbit's clean-up — stopping, or Orbit going away — leaves the user's trace patterns
//! and flags as they were. On OTP 25/26 (no sessions) these tests check what happens there instead and say so.

mod common;

use beam::agent;
use beam::debugger::{Engine, LineBreakpoint};
use beam::trace::{self, CallTrace, EventKind, Limit, MessageTrace, ProcessSelector, TraceError, TraceSpec};
use common::join;
use orbit_test_harness::{demo_dir, TestCluster};
use std::time::Duration;

/// The user's side, loaded on the nodes: two functions to trace, and a trace set up as `dbg:tracer()`,
/// `dbg:p(all, c)` and `dbg:tpl(MFA, [])` set it up underneath (plain `erlang:trace/3` and
/// `erlang:trace_pattern/3`: `dbg` lives in runtime_tools, which a pruned `mix run` node may not have), plus a
/// call counter on the function as `cprof` keeps one.
const USER: &str = r#"
-module(tracetest_user).
-export([hot/1, other/1, loop/2, start/1, add/1, collector/1, count/1, legacy/1]).

hot(X) -> X + 1.
other(X) -> X - 1.

loop(0, Acc) -> Acc;
loop(N, Acc) -> loop(N - 1, tracetest_user:hot(Acc)).

start({M, _, _} = MFA) ->
    {module, M} = code:ensure_loaded(M),
    T = spawn(tracetest_user, collector, [#{}]),
    register(tt_user_tracer, T),
    1 = erlang:trace_pattern(MFA, true, [local]),
    1 = erlang:trace_pattern(MFA, true, [call_count]),
    erlang:trace(all, true, [call, {tracer, T}]),
    erlang:trace(T, false, [all]),
    ok.

%% While Orbit traces: one more pattern, and the call flag on every process again.
add({M, _, _} = MFA) ->
    {module, M} = code:ensure_loaded(M),
    T = whereis(tt_user_tracer),
    1 = erlang:trace_pattern(MFA, true, [local]),
    erlang:trace(all, true, [call, {tracer, T}]),
    erlang:trace(T, false, [all]),
    ok.

collector(Counts) ->
    receive
        {trace, _Pid, call, {M, F, Args}} ->
            K = {M, F, length(Args)},
            tracetest_user:collector(Counts#{K => maps:get(K, Counts, 0) + 1});
        {count, From, K} ->
            From ! {tt_count, maps:get(K, Counts, 0)},
            tracetest_user:collector(Counts)
    end.

%% The calls of MFA the user's tracer has received.
count(MFA) ->
    tt_user_tracer ! {count, self(), MFA},
    receive {tt_count, N} -> N after 5000 -> timeout end.

%% The user's settings in the node's legacy session: {Traced, MatchSpec, CallCount, NewProcessesTracer,
%% InitFlags, InitTracer}, each tracer as user (the user's tracer) or what it is.
legacy(MFA) ->
    T = whereis(tt_user_tracer),
    Who = fun({tracer, P}) when P =:= T -> user; (Other) -> Other end,
    {erlang:trace_info(MFA, traced), erlang:trace_info(MFA, match_spec), erlang:trace_info(MFA, call_count),
     Who(erlang:trace_info(new_processes, tracer)), erlang:trace_info(whereis(init), flags),
     Who(erlang:trace_info(whereis(init), tracer))}.
"#;

const HOT: &str = "{tracetest_user, hot, 1}";
const OTHER: &str = "{tracetest_user, other, 1}";
const FEES: &str = "{'Elixir.Bank.Fees', fee_for, 1}";

async fn load_user_helper(nodes: &TestCluster) {
    let cluster = join(nodes, 0).await;
    for n in cluster.up_nodes() {
        agent::load_from_source(&cluster.link(&n).unwrap(), "tracetest_user", USER).await.expect("helper loads");
    }
    cluster.disconnect().await;
}

fn eval(nodes: &TestCluster, expr: &str) -> String {
    nodes.eval(0, expr).unwrap_or_else(|e| panic!("{expr}: {e}")).split_whitespace().collect()
}

/// Whether the node has trace sessions (the `trace` module, OTP 27+).
fn has_sessions(nodes: &TestCluster) -> bool {
    let r = eval(nodes, "code:ensure_loaded(trace), erlang:function_exported(trace, session_create, 3).");
    r == "true"
}

/// The trace sessions named `name` on the node (Orbit's: `orbit_trace`, `orbit_dbg_trace`).
fn sessions_named(nodes: &TestCluster, name: &str) -> usize {
    let r = eval(
        nodes,
        &format!(
            "case code:ensure_loaded(trace) of {{module, trace}} -> length([S || {{{name}, _}} = S <- trace:session_info(all)]); _ -> 0 end."
        ),
    );
    r.parse().unwrap_or_else(|_| panic!("{r}"))
}

fn user_count(nodes: &TestCluster, mfa: &str) -> i64 {
    let r = eval(nodes, &format!("tracetest_user:count({mfa})."));
    r.parse().unwrap_or_else(|_| panic!("the user's tracer answers: {r}"))
}

/// The user's tracer has received exactly `n` calls of `mfa` (its messages arrive asynchronously).
async fn user_count_reaches(nodes: &TestCluster, mfa: &str, n: i64, when: &str) {
    let mut last = 0;
    for _ in 0..100 {
        last = user_count(nodes, mfa);
        if last == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{when}: the user's tracer received {last} calls of {mfa}, not {n}");
}

fn legacy(nodes: &TestCluster, mfa: &str) -> String {
    eval(nodes, &format!("tracetest_user:legacy({mfa})."))
}

/// The user's pattern on `mfa` and its flags, as the user set them: a local call pattern, the call flag on
/// every process with the user's tracer, and a call counter that has counted `count` calls.
fn assert_users_trace_intact(nodes: &TestCluster, mfa: &str, count: Option<i64>, when: &str) {
    let l = legacy(nodes, mfa);
    assert!(l.starts_with("{{traced,local},{match_spec,[]},{call_count,"), "{when}: the user's pattern on {mfa}: {l}");
    assert!(l.ends_with(",user,{flags,[call]},user}"), "{when}: the user's flags and tracer: {l}");
    if let Some(n) = count {
        assert!(l.contains(&format!("{{call_count,{n}}}")), "{when}: the user's call counter counted {n} calls: {l}");
    }
}

fn hot_loop(nodes: &TestCluster, n: u32) {
    eval(nodes, &format!("tracetest_user:loop({n}, 0)."));
}

async fn eventually(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..secs * 20 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn orbit_calls(session: &trace::TraceSession, function: &str) -> usize {
    session.history().iter().filter(|e| matches!(&e.kind, EventKind::Call { function: f, .. } if f == function)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orbit_trace_leaves_a_users_own_trace_alone() {
    let nodes = TestCluster::erlang(1);
    load_user_helper(&nodes).await;
    let sessions = has_sessions(&nodes);
    // Before: the user traces hot/1.
    assert_eq!(eval(&nodes, &format!("tracetest_user:start({HOT}).")), "ok");
    hot_loop(&nodes, 10);
    user_count_reaches(&nodes, HOT, 10, "before Orbit").await;

    let cluster = join(&nodes, 0).await;
    let spec = || {
        let mut spec =
            TraceSpec::calls(vec![CallTrace::parse("tracetest_user:hot/1").unwrap()], Limit::Count(1_000_000));
        spec.messages = Some(MessageTrace::new(vec![ProcessSelector::All]));
        spec
    };
    if !sessions {
        // OTP 25/26: one legacy session per node, where a process has one tracer; Orbit refuses to trace
        // beside a tracer of new processes rather than take them over, and changes nothing.
        let e = match trace::start(&cluster, spec()).await {
            Ok(_) => panic!("traced beside the user's tracer without trace sessions"),
            Err(e) => e,
        };
        assert!(matches!(e, TraceError::OtherTracer { .. }), "{e}");
        println!(
            "no trace sessions on this node (OTP {}): `orbit trace` is refused beside the user's tracer ({e}); \
             the coexistence checks need OTP 27+ and are skipped",
            orbit_test_harness::otp_release()
        );
        cluster.disconnect().await;
        assert_users_trace_intact(&nodes, HOT, Some(10), "after the refusal");
        hot_loop(&nodes, 5);
        user_count_reaches(&nodes, HOT, 15, "after the refusal").await;
        return;
    }

    // During: Orbit traces the same function (and every process's messages) in its own session.
    let mut session = trace::start(&cluster, spec()).await.expect("Orbit traces beside the user");
    assert_eq!(sessions_named(&nodes, "orbit_trace"), 1);
    hot_loop(&nodes, 10);
    eventually(20, "Orbit sees the 10 calls", || orbit_calls(&session, "hot") == 10).await;
    user_count_reaches(&nodes, HOT, 20, "while Orbit traces").await;
    // The user sets one more pattern, and the call flag on every process again, while Orbit traces.
    assert_eq!(eval(&nodes, &format!("tracetest_user:add({OTHER}).")), "ok");
    hot_loop(&nodes, 5);
    eval(&nodes, "[tracetest_user:other(X) || X <- [1, 2, 3]].");
    eventually(20, "Orbit sees the next 5 calls", || orbit_calls(&session, "hot") == 15).await;
    user_count_reaches(&nodes, HOT, 25, "while Orbit traces").await;
    user_count_reaches(&nodes, OTHER, 3, "a pattern the user set while Orbit traces").await;
    assert_eq!(orbit_calls(&session, "other"), 0, "Orbit sees only what it traces");
    session.stop().await;

    // After Orbit's clean-up: its session is gone, the user's patterns, counter and flags are as they were.
    eventually(20, "Orbit's trace session ends", || sessions_named(&nodes, "orbit_trace") == 0).await;
    assert_users_trace_intact(&nodes, HOT, Some(25), "after `orbit trace` stopped");
    assert_users_trace_intact(&nodes, OTHER, None, "after `orbit trace` stopped");
    hot_loop(&nodes, 5);
    user_count_reaches(&nodes, HOT, 30, "after `orbit trace` stopped").await;

    // Orbit going away mid-trace: the clean-up it registered on the node runs there, and leaves the user's alone.
    let session = trace::start(&cluster, spec()).await.expect("Orbit traces again");
    hot_loop(&nodes, 5);
    user_count_reaches(&nodes, HOT, 35, "while Orbit traces again").await;
    cluster.disconnect().await;
    drop(session);
    eventually(20, "Orbit's trace session ends with Orbit", || sessions_named(&nodes, "orbit_trace") == 0).await;
    assert_users_trace_intact(&nodes, HOT, Some(35), "after Orbit went away");
    hot_loop(&nodes, 5);
    user_count_reaches(&nodes, HOT, 40, "after Orbit went away").await;
}

fn fee_for(nodes: &TestCluster, amounts: &[i64]) {
    let list = amounts.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
    eval(nodes, &format!("[ 'Elixir.Bank.Fees':fee_for(A) || A <- [{list}] ]."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracepoints_leave_a_users_own_trace_alone() {
    let nodes = TestCluster::demo(1);
    load_user_helper(&nodes).await;
    let sessions = has_sessions(&nodes);
    // Before: the user traces Bank.Fees.fee_for/1 and counts its calls.
    assert_eq!(eval(&nodes, &format!("tracetest_user:start({FEES}).")), "ok");
    fee_for(&nodes, &[10, 20]);
    user_count_reaches(&nodes, FEES, 2, "before Orbit").await;

    // During: a tracepoint on the same function (meta and call_count patterns of its own).
    let mut engine = common::attach_demo(&nodes, 0).await;
    let log = LineBreakpoint { line: 12, log_message: Some("fee for {amount}".into()), ..Default::default() };
    let fees = demo_dir().join("lib/bank/fees.ex");
    let bps = engine.set_breakpoints(&fees, vec![log]).await;
    assert!(bps[0].verified, "{bps:?}");
    assert_eq!(bps[0].message.as_deref(), Some("traced, not interpreted"));
    assert_eq!(sessions_named(&nodes, "orbit_dbg_trace"), usize::from(sessions));
    fee_for(&nodes, &[1001, 1002, 1003]);
    let text = common::output_until(&mut engine, 10_000, |t| t.contains("fee for 1003")).await;
    for a in [1001, 1002, 1003] {
        assert!(text.contains(&format!("fee for {a}")), "{text}");
    }
    user_count_reaches(&nodes, FEES, 5, "while the tracepoint is set").await;
    if sessions {
        // The user's counter counts on: the tracepoint's call counter is its session's own.
        assert!(legacy(&nodes, FEES).contains("{call_count,5}"), "{}", legacy(&nodes, FEES));
    }

    // After the tracepoint is removed.
    assert!(engine.set_breakpoints(&fees, vec![]).await.is_empty());
    eventually(20, "the tracepoint's tracer and session end", || {
        sessions_named(&nodes, "orbit_dbg_trace") == 0 && eval(&nodes, "whereis(orbit_dbg_tracer).") == "undefined"
    })
    .await;
    if sessions {
        assert_users_trace_intact(&nodes, FEES, Some(5), "after the tracepoint was removed");
    } else {
        // OTP 25/26: meta and call_count patterns are node-wide. The tracepoint's meta pattern is its own,
        // but its call counter is the user's: setting it started the user's count again, and removing it
        // removed the user's (the user's call pattern and flags stay).
        let l = legacy(&nodes, FEES);
        assert!(l.starts_with("{{traced,local},{match_spec,[]},{call_count,false},user,"), "{l}");
        println!(
            "no trace sessions on this node (OTP {}): the tracepoint left the user's call pattern and flags \
             but removed the user's call_count on the function ({l}); the coexistence checks need OTP 27+",
            orbit_test_harness::otp_release()
        );
    }
    fee_for(&nodes, &[7]);
    user_count_reaches(&nodes, FEES, 6, "after the tracepoint was removed").await;
    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
    if sessions {
        assert_users_trace_intact(&nodes, FEES, Some(6), "after the debug session ended");
    }
    fee_for(&nodes, &[8]);
    user_count_reaches(&nodes, FEES, 7, "after the debug session ended").await;
}
