//! Tracing against real clusters: calls on every node, limits that trip, nodes that die, clean-up when
//! Orbit goes (politely or not), messages paired across nodes, diagrams, and refusals.

use beam::agent;
use beam::cluster::{Cluster, NodeUnavailable};
use beam::term::{atom, binary, int, tuple};
use beam::trace::{
    self, render, CallTrace, EventKind, Limit, MatchSpec, MessageTrace, ProcessSelector, TraceError, TraceSession,
    TraceSpec, TraceStopReason, TraceUpdate,
};
use orbit_test_harness::TestCluster;
use std::time::Duration;
mod common;
use common::join;

const T: Duration = Duration::from_secs(20);

/// Test helper loaded on the nodes: a hot function, and a ping/pong pair of registered processes.
const HELPER: &str = r#"
-module(tracetest_helper).
-export([hot/1, loop/2, start_pong/0, pong_init/0, pong/0, start_ping/0, ping_init/0, ping/0]).

hot(X) -> X + 1.

loop(0, Acc) -> Acc;
loop(N, Acc) -> loop(N - 1, tracetest_helper:hot(Acc)).

start_pong() -> spawn(tracetest_helper, pong_init, []), wait_registered(tt_pong).
pong_init() -> register(tt_pong, self()), tracetest_helper:pong().
pong() ->
    receive {ping, From, N} -> From ! {pong, N}, tracetest_helper:pong() end.

start_ping() -> spawn(tracetest_helper, ping_init, []), wait_registered(tt_ping).
ping_init() -> register(tt_ping, self()), tracetest_helper:ping().
ping() ->
    receive
        {go, Node, N} ->
            {tt_pong, Node} ! {ping, self(), N},
            receive {pong, N} -> ok after 5000 -> ok end,
            tracetest_helper:ping()
    end.

wait_registered(Name) ->
    case whereis(Name) of
        undefined -> timer:sleep(10), wait_registered(Name);
        Pid -> Pid
    end.
"#;

async fn install_helper(cluster: &Cluster) {
    for n in cluster.up_nodes() {
        agent::load_from_source(&cluster.link(&n).unwrap(), "tracetest_helper", HELPER).await.expect("helper loads");
    }
}

async fn hot_loop(cluster: &Cluster, node: &str, n: i64) {
    cluster.call(node, "tracetest_helper", "loop", vec![int(n), int(0)], T).await.expect("loop runs");
}

/// Polls `cond` every 50 ms for at most `secs` seconds.
async fn eventually(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..secs * 20 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// What a node says about traces: the trace state of `mfa`, processes with trace flags, the flags new
/// processes get, and how many trace sessions of Orbit's tracer the node has. Where the node has trace
/// sessions (OTP 27+) the tracer traces in one of its own, whose state is shown while it exists; else, as
/// on OTP 25/26, the node's legacy session. `{{all,false},[],{flags,[]},0}` is a clean node.
fn trace_state(nodes: &TestCluster, i: usize, mfa: &str) -> String {
    let expr = format!(
        "Ss = case code:ensure_loaded(trace) of {{module, trace}} -> [S || {{orbit_trace, _}} = S <- trace:session_info(all)]; _ -> [] end, \
         Info = fun(What, Item) -> case Ss of [S | _] -> trace:info(S, What, Item); [] -> erlang:trace_info(What, Item) end end, \
         {{Info({mfa}, all), \
           [P || P <- processes(), case Info(P, flags) of {{flags, []}} -> false; undefined -> false; _ -> true end], \
           Info(new_processes, flags), length(Ss)}}."
    );
    nodes.eval(i, &expr).map(|s| s.split_whitespace().collect()).unwrap_or_else(|e| format!("eval failed: {e}"))
}

const CLEAN: &str = "{{all,false},[],{flags,[]},0}";

async fn eventually_clean(nodes: &TestCluster, i: usize, mfa: &str) {
    let mut last = String::new();
    for _ in 0..150 {
        last = trace_state(nodes, i, mfa);
        if last == CLEAN {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} still has trace state for {mfa}: {last}", nodes.name(i));
}

async fn wait_stopped(session: &mut TraceSession) -> TraceStopReason {
    tokio::time::timeout(Duration::from_secs(60), session.wait()).await.expect("the session ends")
}

fn calls_of<'a>(session: &'a [trace::TraceEvent], function: &'a str) -> impl Iterator<Item = &'a trace::TraceEvent> {
    session.iter().filter(move |e| matches!(&e.kind, EventKind::Call { function: f, .. } if f == function))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_traced_on_every_node_of_the_demo() {
    let nodes = TestCluster::demo(3);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    // Six accounts spread over the nodes, and random transfers from every node.
    for i in 0..6 {
        let id = binary(format!("acct{i}"));
        let r =
            cluster.call(&names[0], "Elixir.Bank", "open_account", vec![id, binary("owner"), int(100_000)], T).await;
        r.expect("account opens");
    }
    for n in &names {
        cluster.call(n, "Elixir.Bank.LoadGen", "start", vec![int(40)], T).await.expect("load starts");
    }
    // Every node has done a transfer (so the modules are loaded everywhere) before tracing starts.
    for n in &names {
        let mut ok = false;
        for _ in 0..200 {
            let stats = cluster.call(n, "Elixir.Bank.LoadGen", "stats", vec![], T).await.unwrap();
            if beam::term::map_get_atom(&stats, "ok").and_then(beam::term::as_integer).unwrap_or(0) > 0 {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ok, "{n} makes transfers");
    }

    let deposit = CallTrace::parse("Bank.Account.deposit/_")
        .unwrap()
        .with_match_spec(MatchSpec::Fun("fun([_, Amount]) when Amount > 10 -> true end".into()))
        .with_return_values();
    let append = CallTrace::parse("bank_ledger:append/3").unwrap();
    let spec = TraceSpec::calls(vec![deposit, append], Limit::Count(100_000));
    let mut session = trace::start(&cluster, spec).await.expect("trace starts");
    let status = session.nodes();
    assert_eq!(status.len(), 3);
    for (node, s) in &status {
        assert!(s.running, "{node}");
        assert_eq!(s.matched.len(), 2, "{node}: {s:?}");
        assert_eq!(s.matched[0], ("Bank.Account.deposit/_".to_string(), 1), "{node}");
    }
    // The live stream starts with one NodeStarted per node.
    for _ in 0..3 {
        let u = tokio::time::timeout(T, session.next()).await.unwrap().unwrap();
        assert!(matches!(u, TraceUpdate::NodeStarted { .. }), "{u:?}");
    }
    eventually(40, "deposit and append calls on every node", || {
        let h = session.history();
        names
            .iter()
            .all(|n| calls_of(&h, "deposit").any(|e| e.node == *n) && calls_of(&h, "append").any(|e| e.node == *n))
    })
    .await;
    let reason = session.stop().await;
    assert_eq!(reason, TraceStopReason::Stopped);
    for n in &names {
        cluster.call(n, "Elixir.Bank.LoadGen", "stop", vec![], T).await.unwrap();
    }

    let history = session.history();
    for e in calls_of(&history, "deposit") {
        let EventKind::Call { args, module, .. } = &e.kind else { unreachable!() };
        assert_eq!(module, "Elixir.Bank.Account");
        assert_eq!(args.len(), 2);
        let amount = beam::term::as_integer(&args[1]).expect("an integer amount");
        assert!(amount > 10, "the match spec lets only amounts above 10 through: {amount}");
    }
    assert!(
        history
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Return { function, arity: 2, .. } if function == "deposit")),
        "return values are traced"
    );
    let summary = session.summary();
    assert!(summary.calls.iter().any(|c| c.name == "Bank.Account.deposit/2"), "{summary:?}");
    assert!(summary.calls.iter().any(|c| c.name == ":bank_ledger.append/3"), "{summary:?}");
    let line = render::event_line(calls_of(&history, "deposit").next().unwrap(), session.syntax());
    assert!(line.contains("call Bank.Account.deposit(#PID<"), "{line}");
    assert!(session.next().await.is_some(), "the stream holds what happened");

    for i in 0..3 {
        eventually_clean(&nodes, i, "{'Elixir.Bank.Account', deposit, 2}").await;
        eventually_clean(&nodes, i, "{bank_ledger, append, 3}").await;
    }
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_limit_and_a_rate_limit_trip_and_say_so() {
    let nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, 0).await;
    install_helper(&cluster).await;
    let names = nodes.names();

    // Count: 30 events overall, while every node calls the function 200 times.
    let spec = TraceSpec::calls(vec![CallTrace::parse("tracetest_helper:hot/1").unwrap()], Limit::Count(30));
    let mut session = trace::start(&cluster, spec).await.expect("trace starts");
    for n in &names {
        hot_loop(&cluster, n, 200).await;
    }
    let reason = wait_stopped(&mut session).await;
    assert!(matches!(reason, TraceStopReason::CountLimit { limit: 30, .. }), "{reason}");
    assert!(reason.to_string().contains("limit reached"), "{reason}");
    assert_eq!(session.history().len(), 30, "exactly the limit is kept");
    let mut saw_stop = false;
    while let Some(u) = session.next().await {
        if let TraceUpdate::Stopped(r) = u {
            assert_eq!(r, reason);
            saw_stop = true;
        }
    }
    assert!(saw_stop, "the stream ends saying why");
    for i in 0..3 {
        eventually_clean(&nodes, i, "{tracetest_helper, hot, 1}").await;
    }

    // Rate: at most 20 events per second; one node calls it 500 times at once.
    let spec = TraceSpec::calls(
        vec![CallTrace::parse("tracetest_helper:hot/1").unwrap()],
        Limit::Rate { max: 20, per: Duration::from_secs(1) },
    );
    let mut session = trace::start(&cluster, spec).await.expect("trace starts");
    hot_loop(&cluster, &names[1], 500).await;
    let reason = wait_stopped(&mut session).await;
    assert!(matches!(reason, TraceStopReason::RateLimit { max: 20, per_ms: 1000, .. }), "{reason}");
    assert!(reason.to_string().contains("rate limit"), "{reason}");
    assert!(session.history().len() <= 20, "{}", session.history().len());
    for i in 0..3 {
        eventually_clean(&nodes, i, "{tracetest_helper, hot, 1}").await;
    }
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_a_trace_leaves_the_others_tracing() {
    let mut nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, 0).await;
    install_helper(&cluster).await;
    let names = nodes.names();
    let mut spec = TraceSpec::calls(vec![CallTrace::parse("tracetest_helper:hot/1").unwrap()], Limit::Count(100_000));
    spec.follow_new_nodes = false;
    let mut session = trace::start(&cluster, spec).await.expect("trace starts");
    for n in &names {
        hot_loop(&cluster, n, 5).await;
    }
    eventually(20, "events from all three", || {
        let h = session.history();
        names.iter().all(|n| h.iter().any(|e| e.node == *n))
    })
    .await;

    nodes.nodes[2].kill();
    eventually(30, "the dead node is reported", || {
        session.nodes().get(&names[2]).is_some_and(|s| matches!(s.stopped, Some(TraceStopReason::NodeDown { .. })))
    })
    .await;
    assert!(session.is_running(), "the others go on");
    let before = session.history().len();
    for n in &names[..2] {
        hot_loop(&cluster, n, 5).await;
    }
    eventually(20, "new events from the survivors", || {
        let h = session.history();
        names[..2].iter().all(|n| h[before..].iter().any(|e| e.node == *n))
    })
    .await;
    let mut saw_down = false;
    while let Ok(Some(u)) = tokio::time::timeout(Duration::from_millis(200), session.next()).await {
        if matches!(&u, TraceUpdate::NodeStopped { node, reason: TraceStopReason::NodeDown { .. }, .. } if *node == names[2])
        {
            saw_down = true;
        }
    }
    assert!(saw_down, "the stream reports the node that went down");
    assert_eq!(session.stop().await, TraceStopReason::Stopped);
    for i in 0..2 {
        eventually_clean(&nodes, i, "{tracetest_helper, hot, 1}").await;
    }
    cluster.disconnect().await;
}

fn both_specs() -> TraceSpec {
    let mut spec = TraceSpec::calls(vec![CallTrace::parse("tracetest_helper:hot/1").unwrap()], Limit::Count(100_000));
    spec.messages = Some(MessageTrace::new(vec![ProcessSelector::All]));
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_stays_traced_after_orbit_disconnects() {
    let nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, 0).await;
    install_helper(&cluster).await;
    let session = trace::start(&cluster, both_specs()).await.expect("trace starts");
    for i in 0..3 {
        let state = trace_state(&nodes, i, "{tracetest_helper, hot, 1}");
        assert_ne!(state, CLEAN, "traced while the session runs");
        assert!(state.contains("traced,local"), "{state}");
    }
    // The session is left running: disconnecting must end it on every node.
    cluster.disconnect().await;
    for i in 0..3 {
        eventually_clean(&nodes, i, "{tracetest_helper, hot, 1}").await;
    }
    drop(session);
}

#[test]
fn nothing_stays_traced_after_orbit_vanishes_without_a_word() {
    let nodes = TestCluster::erlang(3);
    // Orbit runs on its own runtime, which is then torn down: its sockets close with nothing said.
    let orbit = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (cluster, session) = orbit.block_on(async {
        let cluster = join(&nodes, 0).await;
        install_helper(&cluster).await;
        let session = trace::start(&cluster, both_specs()).await.expect("trace starts");
        (cluster, session)
    });
    for i in 0..3 {
        assert_ne!(trace_state(&nodes, i, "{tracetest_helper, hot, 1}"), CLEAN, "traced while Orbit is there");
    }
    orbit.shutdown_background();
    std::mem::forget(session);
    std::mem::forget(cluster);
    let check = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    check.block_on(async {
        for i in 0..3 {
            eventually_clean(&nodes, i, "{tracetest_helper, hot, 1}").await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_paired_across_nodes_and_drawn() {
    let nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, 0).await;
    install_helper(&cluster).await;
    let names = nodes.names();
    cluster.call(&names[1], "tracetest_helper", "start_pong", vec![], T).await.unwrap();
    cluster.call(&names[0], "tracetest_helper", "start_ping", vec![], T).await.unwrap();

    let procs = vec![ProcessSelector::parse("tt_ping").unwrap(), ProcessSelector::parse(":tt_pong").unwrap()];
    let mut session = trace::start(&cluster, TraceSpec::messages(MessageTrace::new(procs), Limit::Count(1000)))
        .await
        .expect("starts");
    let status = session.nodes();
    assert_eq!(status[&names[0]].processes, 1, "tt_ping lives on the first node");
    assert_eq!(status[&names[1]].processes, 1, "tt_pong on the second");
    assert_eq!(status[&names[2]].processes, 0);
    for n in 1..=5 {
        let go = tuple(vec![atom("go"), atom(&names[1]), int(n)]);
        cluster.call(&names[0], "erlang", "send", vec![atom("tt_ping"), go], T).await.unwrap();
    }
    let paired = |session: &TraceSession, tag: &str| {
        session
            .flows()
            .iter()
            .filter(|f| {
                f.is_matched()
                    && matches!(beam::term::as_tuple(&f.message), Some([t, ..]) if beam::term::is_atom(t, tag))
            })
            .count()
    };
    eventually(20, "five pings and five pongs paired", || {
        paired(&session, "ping") == 5 && paired(&session, "pong") == 5
    })
    .await;
    let flows = session.flows();
    let ping = flows.iter().find(|f| f.is_matched() && format!("{:?}", f.message).contains("ping")).unwrap();
    let (from, to) = (ping.from.as_ref().unwrap(), ping.to.as_ref().unwrap());
    assert_eq!((from.node.as_str(), from.name.as_deref()), (names[0].as_str(), Some("tt_ping")));
    assert_eq!((to.node.as_str(), to.name.as_deref()), (names[1].as_str(), Some("tt_pong")));

    let summary = session.summary();
    assert!(summary.matched_messages >= 10, "{summary:?}");
    let pair = summary.pairs.iter().find(|p| p.from.starts_with(":tt_ping") && p.to.starts_with(":tt_pong")).unwrap();
    assert_eq!(pair.count, 5);
    assert!(summary.top_talkers.iter().take(2).any(|c| c.name.starts_with(":tt_p")), "{summary:?}");

    let mermaid = session.mermaid();
    render::check_mermaid(&mermaid).unwrap_or_else(|e| panic!("{e}\n{mermaid}"));
    assert!(mermaid.contains(&format!("as :tt_ping ({})", names[0])), "{mermaid}");
    assert!(mermaid.contains("->>"), "{mermaid}");
    let dot = session.dot();
    render::check_dot(&dot).unwrap_or_else(|e| panic!("{e}\n{dot}"));
    assert!(dot.contains("5 × e.g. {:ping, "), "{dot}");
    assert_eq!(session.stop().await, TraceStopReason::Stopped);
    for i in 0..3 {
        eventually_clean(&nodes, i, "{tracetest_helper, hot, 1}").await;
    }
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_patterns_unknown_nodes_and_busy_nodes_are_refused() {
    let nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, 0).await;
    install_helper(&cluster).await;
    let count = Limit::Count(10);
    let calls = |p: &str| TraceSpec::calls(vec![CallTrace::parse(p).unwrap()], count);
    let refused = |r: Result<TraceSession, TraceError>| match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    };

    for p in ["lists:_", "lists:map/_", "Enum.map", "_:_/2", "io:_/_"] {
        let e = refused(trace::start(&cluster, calls(p)).await);
        assert!(matches!(e, TraceError::Pattern(_)) && e.to_string().contains("dangerous"), "{p}: {e}");
    }
    let e = refused(trace::start(&cluster, calls("nosuchmod:f/1")).await);
    assert!(
        matches!(e, TraceError::NoMatch { .. }) && e.to_string().contains("neither loaded nor in the code path"),
        "{e}"
    );
    let e = refused(trace::start(&cluster, calls("tracetest_helper:hot/7")).await);
    assert!(e.to_string().contains("has hot/1 only"), "{e}");
    let bad_ms = |ms: MatchSpec| {
        TraceSpec::calls(vec![CallTrace::parse("tracetest_helper:hot/1").unwrap().with_match_spec(ms)], count)
    };
    let e = refused(trace::start(&cluster, bad_ms(MatchSpec::Fun("fun([X]) when X > -> true end".into()))).await);
    assert!(matches!(e, TraceError::MatchSpec { .. }), "{e}");
    let e = refused(trace::start(&cluster, bad_ms(MatchSpec::Fun("fun([X, Y]) -> true end".into()))).await);
    assert!(e.to_string().contains("takes 2 arguments but the function takes 1"), "{e}");
    let e = refused(trace::start(&cluster, bad_ms(MatchSpec::Text("[{['$1'], [{nonsense, '$1'}], []}]".into()))).await);
    assert!(matches!(e, TraceError::MatchSpec { .. }), "{e}");

    let mut spec = calls("tracetest_helper:hot/1");
    spec.nodes = Some(vec!["nope@nowhere".into()]);
    let e = refused(trace::start(&cluster, spec).await);
    assert!(matches!(&e, TraceError::Unavailable(NodeUnavailable::Unknown { known, .. }) if known.len() == 3), "{e}");
    assert!(e.to_string().contains(nodes.name(1)), "lists the known nodes: {e}");
    let procs = MessageTrace::new(vec![ProcessSelector::Name("no_such_process".into())]);
    let e = refused(trace::start(&cluster, TraceSpec::messages(procs, count)).await);
    assert!(matches!(e, TraceError::NoProcess { .. }), "{e}");
    let e = refused(trace::start(&cluster, calls("tracetest_helper:hot/1").tap_limit(Limit::Count(0))).await);
    assert!(matches!(e, TraceError::Limit(_)), "{e}");
    for i in 0..3 {
        assert_eq!(trace_state(&nodes, i, "{tracetest_helper, hot, 1}"), CLEAN, "refusals change nothing");
    }

    // One session per owner: a second one from this Orbit replaces the first …
    let mut first =
        trace::start(&cluster, calls("tracetest_helper:hot/1").tap_limit(Limit::Count(1000))).await.unwrap();
    let mut second =
        trace::start(&cluster, calls("tracetest_helper:hot/1").tap_limit(Limit::Count(1000))).await.unwrap();
    let reason = wait_stopped(&mut first).await;
    assert!(matches!(reason, TraceStopReason::Replaced { .. }), "{reason}");
    assert!(second.is_running());
    // … and another Orbit is refused while it runs.
    let other = join(&nodes, 1).await;
    let e = refused(trace::start(&other, calls("tracetest_helper:hot/1")).await);
    assert!(matches!(&e, TraceError::Busy { owner, .. } if owner == cluster.local_name()), "{e}");
    other.disconnect().await;
    assert!(second.is_running(), "the refused Orbit left the running session alone");
    second.stop().await;
    for i in 0..3 {
        eventually_clean(&nodes, i, "{tracetest_helper, hot, 1}").await;
    }
    // A pid given as text is looked up on its node.
    let pid = trace::pid_on(&cluster, nodes.name(0), "<0.1.0>").await.unwrap();
    assert_eq!(pid.node.name, nodes.name(0));
    assert!(trace::pid_on(&cluster, nodes.name(0), "<0.x.0>").await.is_err());
    cluster.disconnect().await;
}

trait TapLimit {
    fn tap_limit(self, l: Limit) -> Self;
}

impl TapLimit for TraceSpec {
    fn tap_limit(mut self, l: Limit) -> Self {
        self.limit = l;
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_mid_trace_is_traced_too() {
    let mut nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    // lists is loaded on every node from boot, so the newcomer has the function before it is traced.
    let mut session =
        trace::start(&cluster, TraceSpec::calls(vec![CallTrace::parse("lists:seq/2").unwrap()], Limit::Count(10_000)))
            .await
            .expect("trace starts");
    let i = nodes.add_node();
    let newcomer = nodes.name(i).to_string();
    let started = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(u) = session.next().await {
            if let TraceUpdate::NodeStarted { node, matched, .. } = u {
                if node == newcomer {
                    return matched;
                }
            }
        }
        panic!("the stream ended");
    })
    .await
    .expect("the newcomer is traced");
    assert_eq!(started, vec![("lists:seq/2".to_string(), 1)]);
    cluster.call(&newcomer, "lists", "seq", vec![int(1), int(3)], T).await.unwrap();
    eventually(20, "a call on the newcomer", || calls_of(&session.history(), "seq").any(|e| e.node == newcomer)).await;
    session.stop().await;
    eventually_clean(&nodes, i, "{lists, seq, 2}").await;
    cluster.disconnect().await;
}

/// On node `i`: a module compiled into a directory added to the code path, never called, so not loaded
/// (interactive mode loads a module on its first call). Returns the directory.
fn lazy_module(nodes: &TestCluster, i: usize) -> String {
    let dir = std::env::temp_dir().join(format!("orbit_lazy_{}_{i}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("tracetest_lazy.erl");
    std::fs::write(&src, "-module(tracetest_lazy).\n-export([work/1]).\nwork(X) -> X * 2.\n").unwrap();
    let d = dir.display();
    let r = nodes.eval(i, &format!("{{ok, _}} = compile:file(\"{d}/tracetest_lazy.erl\", [{{outdir, \"{d}\"}}]), true = code:add_patha(\"{d}\"), code:is_loaded(tracetest_lazy).")).expect("compiled");
    assert_eq!(r.trim(), "false", "node {i}: the module is not loaded yet");
    d.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_in_the_code_path_not_loaded_yet_is_loaded_and_traced() {
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let dirs: Vec<String> = (0..2).map(|i| lazy_module(&nodes, i)).collect();
    let names = nodes.names();

    let call = CallTrace::parse("tracetest_lazy:work/1").unwrap().with_return_values();
    let mut session = trace::start(&cluster, TraceSpec::calls(vec![call], Limit::Count(100))).await.expect("traced");
    for (node, s) in session.nodes() {
        assert_eq!(s.matched, vec![("tracetest_lazy:work/1".to_string(), 1)], "{node}: loaded and traced");
    }
    for (i, n) in names.iter().enumerate() {
        let r = cluster.call(n, "tracetest_lazy", "work", vec![int(21 + i as i64)], T).await.unwrap();
        assert_eq!(beam::term::as_integer(&r), Some(42 + 2 * i as i64));
    }
    eventually(20, "a call and a return on each node", || {
        let h = session.history();
        names.iter().all(|n| {
            calls_of(&h, "work").any(|e| e.node == *n)
                && h.iter().any(|e| {
                    e.node == *n && matches!(&e.kind, EventKind::Return { function, .. } if function == "work")
                })
        })
    })
    .await;
    session.stop().await;
    for i in 0..2 {
        eventually_clean(&nodes, i, "{tracetest_lazy, work, 1}").await;
    }
    // A module that is neither loaded nor in the code path is still refused, and says so.
    let e = match trace::start(
        &cluster,
        TraceSpec::calls(vec![CallTrace::parse("tracetest_nowhere:f/1").unwrap()], Limit::Count(5)),
    )
    .await
    {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    };
    assert!(e.to_string().contains("neither loaded nor in the code path"), "{e}");
    cluster.disconnect().await;
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_conditions_written_in_elixir_become_match_specs() {
    let nodes = TestCluster::demo(2);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();

    // The arguments and the guard of a function head: only even amounts above 100.
    let call = CallTrace::parse("Bank.Fees.fee_for(amount) when amount > 100 and rem(amount, 2) == 0").unwrap();
    assert!(matches!(call.match_spec, Some(MatchSpec::Elixir(_))));
    let erl = CallTrace::parse("bank_ledger:fee(A) when A >= 5000").unwrap();
    assert_eq!(erl.pattern.arity, Some(1));
    let mut session =
        trace::start(&cluster, TraceSpec::calls(vec![call, erl], Limit::Count(1000))).await.expect("traced");
    for (node, s) in session.nodes() {
        assert_eq!(s.matched[0], ("Bank.Fees.fee_for/1".to_string(), 1), "{node}: the arity comes from the head");
    }
    for n in &names {
        for amount in [50, 150, 151, 300, 4999, 6000] {
            cluster.call(n, "Elixir.Bank.Fees", "fee_for", vec![int(amount)], T).await.unwrap();
            cluster.call(n, "bank_ledger", "fee", vec![int(amount)], T).await.unwrap();
        }
    }
    eventually(20, "the matching calls on both nodes", || {
        let h = session.history();
        names.iter().all(|n| calls_of(&h, "fee_for").filter(|e| e.node == *n).count() == 3)
            && names.iter().all(|n| calls_of(&h, "fee").filter(|e| e.node == *n).count() == 1)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    session.stop().await;
    let h = session.history();
    let amounts: Vec<i64> = calls_of(&h, "fee_for")
        .filter_map(|e| match &e.kind {
            EventKind::Call { args, .. } => beam::term::as_integer(&args[0]),
            _ => None,
        })
        .collect();
    assert_eq!(amounts.len(), 6, "{amounts:?}");
    assert!(amounts.iter().all(|a| [150, 300, 6000].contains(a)), "only even amounts above 100: {amounts:?}");

    // What a match spec cannot express is refused with the expression, before anything is traced.
    let refused = |text: &'static str| {
        let spec = TraceSpec::calls(vec![CallTrace::parse(text).unwrap()], Limit::Count(5));
        let cluster = cluster.clone();
        async move {
            match trace::start(&cluster, spec).await {
                Ok(_) => panic!("{text} accepted"),
                Err(e) => e,
            }
        }
    };
    let e = refused("Bank.Fees.fee_for(amount) when String.length(amount) > 3").await;
    assert!(matches!(e, TraceError::Condition { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("`String.length(amount)` cannot be part of a match spec"), "{text}");
    let e = refused("Bank.Fees.fee_for(<<a::8, _::binary>>)").await;
    assert!(e.to_string().contains("binary patterns cannot be matched by a match spec"), "{e}");
    let e = refused("Bank.Fees.fee_for(amount) when total > amount").await;
    assert!(e.to_string().contains("`total` is not bound by the arguments"), "{e}");
    let e = refused("Bank.Fees.fee_for(amount) when amount >").await;
    assert!(matches!(e, TraceError::Condition { .. }), "a parse error: {e}");
    assert!(CallTrace::parse("Bank.Fees.fee_for(amount when").is_err(), "unbalanced parentheses");
    for i in 0..2 {
        eventually_clean(&nodes, i, "{'Elixir.Bank.Fees', fee_for, 1}").await;
    }
    cluster.disconnect().await;
}

/// With return values, a call that returns and one that raises are traced as such, and read the same in the
/// text line and in JSON: `return m:f/1 -> value`, `raise m:f/1 error: reason`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_and_exceptions_are_traced_and_rendered() {
    let nodes = TestCluster::erlang(1);
    let cluster = join(&nodes, 0).await;
    let node = nodes.name(0).to_string();
    let src = "-module(tracetest_returns).\n-export([half/1, try_half/1]).\n\
               half(X) -> 10 div X.\n\
               try_half(X) -> try tracetest_returns:half(X) catch error:R -> {caught, R} end.\n";
    agent::load_from_source(&cluster.link(&node).unwrap(), "tracetest_returns", src).await.unwrap();
    let half = CallTrace::parse("tracetest_returns:half/1").unwrap().with_return_values();
    let mut session = trace::start(&cluster, TraceSpec::calls(vec![half], Limit::Count(100))).await.unwrap();
    let r = cluster.call(&node, "tracetest_returns", "try_half", vec![int(2)], T).await.unwrap();
    assert_eq!(r, int(5));
    let r = cluster.call(&node, "tracetest_returns", "try_half", vec![int(0)], T).await.unwrap();
    assert_eq!(r, tuple(vec![atom("caught"), atom("badarith")]));
    eventually(20, "a return and an exception", || {
        let h = session.history();
        h.iter().any(|e| matches!(e.kind, EventKind::Return { .. }))
            && h.iter().any(|e| matches!(e.kind, EventKind::Exception { .. }))
    })
    .await;
    assert_eq!(session.stop().await, TraceStopReason::Stopped);
    let history = session.history();
    let syntax = session.syntax();
    let lines: Vec<String> = history.iter().map(|e| render::event_line(e, syntax)).collect();
    assert!(lines.iter().any(|l| l.contains("return tracetest_returns:half/1 -> 5")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("raise tracetest_returns:half/1 error: badarith")), "{lines:#?}");
    let json: Vec<serde_json::Value> = history.iter().map(|e| render::event_json(e, syntax)).collect();
    let ret = json.iter().find(|j| j["kind"] == "return").expect("a return in JSON");
    assert_eq!(
        (&ret["module"], &ret["function"], &ret["arity"], &ret["value"]),
        (
            &serde_json::json!("tracetest_returns"),
            &serde_json::json!("half"),
            &serde_json::json!(1),
            &serde_json::json!("5")
        )
    );
    let raised = json.iter().find(|j| j["kind"] == "exception").expect("an exception in JSON");
    assert_eq!((&raised["class"], &raised["reason"]), (&serde_json::json!("error"), &serde_json::json!("badarith")));
    cluster.disconnect().await;
}

/// A trace limited to some nodes traces nothing elsewhere, and a match spec given as a term filters the
/// calls there; a term that is not a match spec, and a trace of nothing, are refused with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_of_one_node_with_a_match_spec_term_and_what_is_refused() {
    use beam::term::list;
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    let src = "-module(tracetest_scope).\n-export([f/1, run/1]).\nf(X) -> X.\n\
               run(N) -> [tracetest_scope:f(I) || I <- lists:seq(1, N)], ok.\n";
    for n in &names {
        agent::load_from_source(&cluster.link(n).unwrap(), "tracetest_scope", src).await.unwrap();
    }
    // [{['$1'], [{'>', '$1', 5}], []}]: calls whose argument is above 5.
    let above_5 = list(vec![tuple(vec![
        list(vec![atom("$1")]),
        list(vec![tuple(vec![atom(">"), atom("$1"), int(5)])]),
        list(vec![]),
    ])]);
    let call = CallTrace::parse("tracetest_scope:f/1").unwrap().with_match_spec(MatchSpec::Term(above_5));
    let mut spec = TraceSpec::calls(vec![call], Limit::Count(1000));
    spec.nodes = Some(vec![names[0].clone()]);
    let mut session = trace::start(&cluster, spec).await.expect("trace starts");
    assert_eq!(session.nodes().keys().cloned().collect::<Vec<_>>(), vec![names[0].clone()]);
    for n in &names {
        cluster.call(n, "tracetest_scope", "run", vec![int(8)], T).await.unwrap();
    }
    eventually(20, "the three calls above 5", || calls_of(&session.history(), "f").count() >= 3).await;
    // More calls on the other node, then one on the traced node: only the latter arrives.
    cluster.call(&names[1], "tracetest_scope", "run", vec![int(8)], T).await.unwrap();
    cluster.call(&names[0], "tracetest_scope", "run", vec![int(6)], T).await.unwrap();
    eventually(20, "the fourth call", || calls_of(&session.history(), "f").count() >= 4).await;
    assert_eq!(session.stop().await, TraceStopReason::Stopped);
    let history = session.history();
    let args: Vec<i64> = calls_of(&history, "f")
        .map(|e| {
            assert_eq!(e.node, names[0], "only the named node is traced");
            let EventKind::Call { args, .. } = &e.kind else { unreachable!() };
            beam::term::as_integer(&args[0]).unwrap()
        })
        .collect();
    assert_eq!(args, vec![6, 7, 8, 6]);

    for (bad, says) in [
        (atom("x"), "a match spec is a list of clauses"),
        (list(vec![atom("x")]), "each clause is {Head, Guards, Body}"),
    ] {
        let call = CallTrace::parse("tracetest_scope:f/1").unwrap().with_match_spec(MatchSpec::Term(bad));
        let e = trace::start(&cluster, TraceSpec::calls(vec![call], Limit::Count(10))).await.map(|_| ()).unwrap_err();
        assert!(matches!(e, TraceError::MatchSpec { .. }) && e.to_string().contains(says), "{e}");
    }
    let e = trace::start(&cluster, TraceSpec::calls(vec![], Limit::Count(10))).await.map(|_| ()).unwrap_err();
    assert!(matches!(e, TraceError::Empty), "{e}");
    for i in 0..2 {
        eventually_clean(&nodes, i, "{tracetest_scope, f, 1}").await;
    }
    cluster.disconnect().await;
}

/// A trace of some nodes only: calls there are counted, the others' are not, and when every traced
/// node has gone the session ends by itself and says so, though the cluster lives on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_of_some_nodes_ends_when_they_are_all_gone() {
    let mut nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    install_helper(&cluster).await;
    let names = nodes.names();
    let mut spec = TraceSpec::calls(vec![CallTrace::parse("tracetest_helper:hot/1").unwrap()], Limit::Count(100_000));
    spec.nodes = Some(vec![names[1].clone()]);
    let mut session = trace::start(&cluster, spec).await.expect("starts");
    assert_eq!(session.nodes().keys().cloned().collect::<Vec<_>>(), vec![names[1].clone()]);
    hot_loop(&cluster, &names[0], 10).await;
    hot_loop(&cluster, &names[1], 7).await;
    eventually(20, "the traced node's calls", || orbit_calls_of(&session) >= 7).await;
    nodes.nodes[1].kill();
    let why = tokio::time::timeout(Duration::from_secs(60), session.wait()).await.expect("the session ends");
    assert_eq!(why, TraceStopReason::NodesGone);
    assert_eq!(why.to_string(), "every traced node went away");
    assert_eq!(orbit_calls_of(&session), 7, "node 0's calls were not traced");
    cluster.disconnect().await;
}

fn orbit_calls_of(session: &TraceSession) -> usize {
    session.summary().calls.iter().map(|c| c.count as usize).sum()
}
