//! Profiling against real clusters of `fixtures/demo` under load: the hot function with its calls on
//! each node, stacks merged into a flame graph, the window that ends on the nodes by itself, refusals,
//! and nothing left on any node after a normal end, a disconnect, or Orbit vanishing without a word.
//! (Orbit killed with SIGKILL mid-profile: `cli/tests/profile.rs`.) Runs on OTP 27+ nodes too
//! (`ORBIT_OTP=otp29`), where the profile lives in a trace session of its own.

use beam::agent;
use beam::cluster::Cluster;
use beam::profile::{self, ProfileError, ProfileSpec, Target};
use beam::term::int;
use orbit_test_harness::TestCluster;
use std::time::Duration;
mod common;
use common::join;

const T: Duration = Duration::from_secs(20);

/// Load on the nodes: processes that call Bank.Fees.fee_for/1 (mostly) and describe/1 until a deadline,
/// on the CPU about a quarter of the time. Each burst must be long beside the pause: `timer:sleep(1)` lasts
/// about 2 ms (the timer wheel rounds up), and 3,000 calls took only ~0.1 ms, so the load was asleep 95%
/// of the time and the sampler, every 50 ms on OTP 27+, rightly found it on the CPU in almost no tick.
const HELPER: &str = r#"
-module(profiletest_helper).
-export([start_load/2, load/1]).

start_load(Procs, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    [spawn(profiletest_helper, load, [Deadline]) || _ <- lists:seq(1, Procs)],
    ok.

load(Deadline) ->
    case erlang:monotonic_time(millisecond) > Deadline of
        true -> ok;
        false ->
            burst(15000),
            timer:sleep(1),
            profiletest_helper:load(Deadline)
    end.

burst(0) -> ok;
burst(N) ->
    _ = 'Elixir.Bank.Fees':fee_for(N * 7),
    _ = case N rem 10 of 0 -> 'Elixir.Bank.Fees':describe(N); _ -> ok end,
    burst(N - 1).
"#;

async fn load(cluster: &Cluster, ms: i64) {
    for n in cluster.up_nodes() {
        agent::load_from_source(&cluster.link(&n).unwrap(), "profiletest_helper", HELPER).await.expect("helper loads");
        cluster.call(&n, "profiletest_helper", "start_load", vec![int(1), int(ms)], T).await.expect("load starts");
    }
}

/// What a node still holds of a profile: the profiler, Bank.Fees.fee_for/1's call_time pattern in the
/// legacy session, processes with trace flags, the flags new processes get, and trace sessions named
/// orbit_profile (OTP 27+). `{undefined,{call_time,false},[],{flags,[]},[]}` is a clean node.
fn profile_state(nodes: &TestCluster, i: usize) -> String {
    let expr = "{whereis(orbit_profiler), \
                 erlang:trace_info({'Elixir.Bank.Fees', fee_for, 1}, call_time), \
                 [P || P <- processes(), case erlang:trace_info(P, flags) of {flags, []} -> false; undefined -> false; _ -> true end], \
                 erlang:trace_info(new_processes, flags), \
                 case code:ensure_loaded(trace) of \
                     {module, trace} -> [S || {orbit_profile, _} = S <- trace:session_info(all)]; \
                     _ -> [] \
                 end}.";
    nodes.eval(i, expr).map(|s| s.split_whitespace().collect()).unwrap_or_else(|e| format!("eval failed: {e}"))
}

const CLEAN: &str = "{undefined,{call_time,false},[],{flags,[]},[]}";

async fn eventually_clean(nodes: &TestCluster, i: usize) {
    let mut last = String::new();
    for _ in 0..150 {
        last = profile_state(nodes, i);
        if last == CLEAN {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} still holds part of a profile: {last}", nodes.name(i));
}

fn fees() -> ProfileSpec {
    ProfileSpec::new(vec![Target::Module("Bank.Fees".into())])
}

fn sessions(nodes: &TestCluster) -> bool {
    nodes.eval(0, "erlang:system_info(otp_release).").unwrap().trim_matches('"').parse::<u32>().unwrap() >= 27
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hot_function_is_named_with_its_calls_on_each_node_and_nothing_stays() {
    let nodes = TestCluster::demo(3);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    load(&cluster, 60_000).await;

    // 5 s: the load is on the CPU only part of the time, and the sampler must catch it there at least once
    // on some node, however few ticks a busy 2-core machine lets it make.
    let run = profile::start(&cluster, fees().with_duration(Duration::from_secs(5))).await.expect("profile starts");
    assert_eq!(run.nodes().len(), 3);
    for (node, s) in run.nodes() {
        assert_eq!(s.modules, ["Elixir.Bank.Fees"], "{node}");
        assert!(s.functions >= 5, "{node}: {s:?}");
    }
    // While it runs, the node shows it.
    for i in 0..3 {
        let state = profile_state(&nodes, i);
        assert_ne!(state, CLEAN, "profiled while the window is open");
        if !sessions(&nodes) {
            assert!(!state.contains("{call_time,false}"), "{state}");
        }
    }
    let p = run.finish().await;
    assert!(p.failed.is_empty(), "{:?}", p.failed);
    assert_eq!(p.nodes.len(), 3);
    let hot = &p.functions[0];
    assert_eq!(hot.name, "Bank.Fees.fee_for/1", "{}", p.table(10));
    assert_eq!(hot.nodes.len(), 3, "called on every node: {}", p.table(10));
    for share in &hot.nodes {
        assert!(names.contains(&share.node));
        assert!(share.counters.calls > 1000, "{}: {:?}", share.node, share.counters);
        assert!(share.counters.time_us > 0, "{}: {:?}", share.node, share.counters);
    }
    assert!(hot.percent > 50.0, "{}", p.table(10));
    assert!(p.function("Elixir.Bank.Fees", "describe", 1).is_some(), "{}", p.table(10));
    for n in &p.nodes {
        assert!(n.window_us >= 4_900_000 && n.window_us < 6_000_000, "{}: window {} µs", n.node, n.window_us);
        assert!(n.ticks > 20, "{}: the sampler ticked {} times", n.node, n.ticks);
        assert_eq!(n.sample_ms, if n.session { 50 } else { 10 }, "{}: the default rate", n.node);
        assert_eq!(n.call_memory, n.otp_release.parse::<u32>().unwrap() >= 26, "{}", n.node);
        assert_eq!(n.session, n.otp_release.parse::<u32>().unwrap() >= 27, "{}", n.node);
    }
    // The load's stacks were sampled on the CPU, on every node, and merged.
    assert!(p.samples > 0);
    let folded = p.folded();
    assert!(folded.contains("profiletest_helper:"), "{folded}");
    let svg = p.flamegraph_svg("Bank.Fees");
    assert!(svg.contains("profiletest_helper:"), "{svg}");
    let speedscope = p.speedscope("Bank.Fees");
    assert_eq!(speedscope["profiles"].as_array().unwrap().len(), 4, "the cluster and each node");
    let lens = hot.lens_text();
    assert!(lens.contains("of cluster time") && lens.contains("hottest on "), "{lens}");

    for i in 0..3 {
        eventually_clean(&nodes, i).await;
    }
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_ends_on_the_nodes_by_itself_and_a_profile_stopped_early_counts_what_ran() {
    let nodes = TestCluster::demo(2);
    let cluster = join(&nodes, 0).await;
    load(&cluster, 60_000).await;

    // Orbit asks for nothing after the start: each node ends its window at the duration, alone.
    let run = profile::start(&cluster, fees().with_duration(Duration::from_secs(1))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    for i in 0..2 {
        let state = profile_state(&nodes, i);
        // The profiler keeps the result for Orbit; nothing else of the profile is left.
        assert!(state.ends_with(",{call_time,false},[],{flags,[]},[]}"), "{state}");
        assert!(state.starts_with("{<"), "the profiler holds the result: {state}");
    }
    let p = run.finish().await;
    assert!(p.nodes.iter().all(|n| n.window_us >= 900_000 && n.window_us < 1_300_000), "{:?}", p.nodes);
    assert_eq!(p.functions[0].name, "Bank.Fees.fee_for/1");
    for i in 0..2 {
        eventually_clean(&nodes, i).await;
    }

    // Stopped early: the window is what ran.
    let run = profile::start(&cluster, fees().with_duration(Duration::from_secs(60))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let p = run.stop().await;
    assert!(p.nodes.iter().all(|n| n.window_us < 5_000_000), "{:?}", p.nodes);
    assert!(p.functions[0].counters.calls > 0);
    for i in 0..2 {
        eventually_clean(&nodes, i).await;
    }

    // Dropped: ended on every node.
    let run = profile::start(&cluster, fees().with_duration(Duration::from_secs(60))).await.unwrap();
    drop(run);
    for i in 0..2 {
        eventually_clean(&nodes, i).await;
    }
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_stays_after_orbit_disconnects() {
    let nodes = TestCluster::demo(3);
    let cluster = join(&nodes, 0).await;
    load(&cluster, 60_000).await;
    let run = profile::start(&cluster, fees().with_duration(Duration::from_secs(120))).await.unwrap();
    for i in 0..3 {
        assert_ne!(profile_state(&nodes, i), CLEAN);
    }
    // The profile is left running: disconnecting must end it on every node.
    cluster.disconnect().await;
    for i in 0..3 {
        eventually_clean(&nodes, i).await;
    }
    std::mem::forget(run);
}

#[test]
fn nothing_stays_after_orbit_vanishes_without_a_word() {
    let nodes = TestCluster::demo(3);
    // Orbit runs on its own runtime, which is then torn down: its sockets close with nothing said.
    let orbit = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (cluster, run) = orbit.block_on(async {
        let cluster = join(&nodes, 0).await;
        load(&cluster, 60_000).await;
        let run = profile::start(&cluster, fees().with_duration(Duration::from_secs(120))).await.unwrap();
        (cluster, run)
    });
    for i in 0..3 {
        assert_ne!(profile_state(&nodes, i), CLEAN, "profiled while Orbit is there");
    }
    orbit.shutdown_background();
    std::mem::forget(run);
    std::mem::forget(cluster);
    let check = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    check.block_on(async {
        for i in 0..3 {
            eventually_clean(&nodes, i).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_change_nothing() {
    let nodes = TestCluster::demo(2);
    let cluster = join(&nodes, 0).await;
    load(&cluster, 60_000).await;

    let err = |r: Result<profile::ProfileRun, ProfileError>| match r {
        Ok(run) => panic!("not refused: {:?}", run.nodes()),
        Err(e) => e,
    };
    let e = err(profile::start(&cluster, ProfileSpec::new(vec![Target::Module("Bank.Nope".into())])).await);
    assert!(matches!(e, ProfileError::NothingToProfile { .. }), "{e}");
    assert!(e.to_string().contains("Bank.Nope: not loaded on any profiled node"), "{e}");
    let e = err(profile::start(&cluster, ProfileSpec::new(vec![Target::Match("(".into())])).await);
    assert!(matches!(e, ProfileError::BadPattern { .. }), "{e}");
    let e = err(profile::start(&cluster, ProfileSpec::new(vec![Target::App("nope_app".into())])).await);
    assert!(e.to_string().contains("no profiled node knows this application"), "{e}");
    let e = err(profile::start(&cluster, fees().with_duration(Duration::from_secs(3600))).await);
    assert!(matches!(e, ProfileError::Duration(_)), "{e}");
    let e = err(profile::start(&cluster, ProfileSpec::new(vec![Target::Module("orbit_agent".into())])).await);
    assert!(matches!(e, ProfileError::Excluded { .. }), "{e}");
    let e = err(profile::start(&cluster, ProfileSpec::new(vec![Target::Module("erlang".into())])).await);
    assert!(matches!(e, ProfileError::Excluded { .. }), "{e}");
    let mut spec = fees();
    spec.nodes = Some(vec!["nope@nowhere".into()]);
    assert!(matches!(err(profile::start(&cluster, spec).await), ProfileError::Nodes(_)));
    // An application: the bank's modules that are loaded.
    let run = profile::start(&cluster, ProfileSpec::new(vec![Target::App("bank".into())])).await.unwrap();
    for s in run.nodes().values() {
        for m in ["Elixir.Bank.Fees", "Elixir.Bank.LoadGen", "bank_ledger"] {
            assert!(s.modules.contains(&m.to_string()), "{m}: {:?}", run.nodes());
        }
    }
    // Another Orbit is refused while this one profiles, on every OTP.
    let other = join(&nodes, 1).await;
    let e = err(profile::start(&other, fees()).await);
    assert!(matches!(e, ProfileError::Busy { .. }), "{e}");
    // And on OTP ≤ 26 a trace is refused while a profile runs (it would clobber the profile's flags).
    if !sessions(&nodes) {
        let call = beam::trace::CallTrace::parse("Bank.Fees.compound/3").unwrap();
        let spec = beam::trace::TraceSpec::calls(vec![call], beam::trace::Limit::Count(10));
        let e = beam::trace::start(&cluster, spec).await.map(|_| ()).unwrap_err();
        assert!(matches!(e, beam::trace::TraceError::ProfileRunning { .. }), "{e}");
    }
    let _ = run.stop().await;
    for i in 0..2 {
        eventually_clean(&nodes, i).await;
    }

    // Orbit's own trace (of a function the load does not call, so that its limit does not end it): on OTP ≤ 26 the profile would clobber its flags and is refused; on 27+ each has
    // a trace session of its own and both run.
    let call = beam::trace::CallTrace::parse("Bank.Fees.compound/3").unwrap();
    let mut trace =
        beam::trace::start(&cluster, beam::trace::TraceSpec::calls(vec![call], beam::trace::Limit::Count(10)))
            .await
            .expect("trace starts");
    let r = profile::start(&cluster, fees().with_duration(Duration::from_secs(1))).await;
    if sessions(&nodes) {
        let p = r.expect("a profile runs beside a trace on OTP 27+").finish().await;
        assert!(p.failed.is_empty());
    } else {
        let e = err(r);
        assert!(matches!(e, ProfileError::TraceRunning { .. }), "{e}");
    }
    trace.stop().await;
    for i in 0..2 {
        eventually_clean(&nodes, i).await;
    }
    other.disconnect().await;
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debug_console_profiles_and_prints_the_table_and_ending_the_session_ends_a_profile() {
    use beam::debugger::Engine;
    let nodes = TestCluster::demo(3);
    let helper = join(&nodes, 0).await;
    load(&helper, 60_000).await;
    let mut engine = common::attach_demo(&nodes, 0).await;

    let answer = engine.evaluate("/profile Bank.Fees 2s", None).await.expect("the profile starts");
    assert!(answer.value.starts_with("profiling Bank.Fees on 3 node(s) for 2 s"), "{}", answer.value);
    let text = common::output_until(&mut engine, 30_000, |t| t.contains("function(s) called on")).await;
    assert!(text.contains("profile of Bank.Fees, 3 node(s)"), "{text}");
    let first = text.lines().find(|l| l.starts_with("Bank.Fees.")).unwrap_or_default();
    assert!(first.starts_with("Bank.Fees.fee_for/1 "), "{text}");
    for n in nodes.names() {
        assert!(first.contains(&n), "{n}: {text}");
    }
    for i in 0..3 {
        eventually_clean(&nodes, i).await;
    }
    assert!(engine.evaluate("/profile", None).await.unwrap_err().0.starts_with("usage: /profile"));

    // A profile still running when the session ends is ended on every node.
    engine.evaluate("/profile Bank.Fees 60s", None).await.expect("the profile starts");
    for i in 0..3 {
        assert_ne!(profile_state(&nodes, i), CLEAN);
    }
    engine.end().await;
    for i in 0..3 {
        eventually_clean(&nodes, i).await;
    }
    helper.disconnect().await;
}

/// What cannot be profiled is refused before anything changes: no target, an empty name, a pattern or an
/// application with nothing loaded; and on OTP ≤ 26 (one set of trace flags per node) a node where another
/// tracer (dbg) traces a process, or where another profiler (cprof) counts a target's function, says which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_to_profile_and_other_tools_holding_the_trace_flags_are_refused() {
    let nodes = TestCluster::erlang(1);
    let cluster = join(&nodes, 0).await;
    let node = nodes.name(0).to_string();
    let src = "-module(profiletest_target).\n-export([f/1]).\nf(X) -> X + 1.\n";
    agent::load_from_source(&cluster.link(&node).unwrap(), "profiletest_target", src).await.unwrap();
    let target = || ProfileSpec::new(vec![Target::Module("profiletest_target".into())]);
    let refused = |r: Result<profile::ProfileRun, ProfileError>| match r {
        Ok(run) => panic!("not refused: {:?}", run.nodes()),
        Err(e) => e,
    };

    let e = refused(profile::start(&cluster, ProfileSpec::new(vec![])).await);
    assert!(matches!(e, ProfileError::NoTargets), "{e}");
    let e = refused(profile::start(&cluster, ProfileSpec::new(vec![Target::Module(" ".into())])).await);
    assert!(matches!(e, ProfileError::NothingToProfile { .. }) && e.to_string().contains("empty name"), "{e}");
    let e = refused(profile::start(&cluster, ProfileSpec::new(vec![Target::Match("^no_such_prefix_".into())])).await);
    assert!(e.to_string().contains("matches no loaded module"), "{e}");
    // An application the node knows (loaded, not started) none of whose modules is loaded.
    assert_eq!(nodes.eval(0, "application:load(tools).").as_deref(), Ok("ok"));
    let e = refused(profile::start(&cluster, ProfileSpec::new(vec![Target::App("tools".into())])).await);
    assert!(e.to_string().contains("none of its modules is loaded"), "{e}");

    let sessions =
        nodes.eval(0, "erlang:system_info(otp_release).").unwrap().trim_matches('"').parse::<u32>().unwrap() >= 27;
    if !sessions {
        let traced = nodes.eval(
            0,
            "P = spawn(fun() -> receive stop -> ok end end), register(profiletest_traced, P), \
             {ok, _} = dbg:tracer(), {ok, _} = dbg:p(P, [m]), ok.",
        );
        assert_eq!(traced.as_deref(), Ok("ok"));
        let e = refused(profile::start(&cluster, target()).await);
        assert!(matches!(e, ProfileError::OtherTracer { .. }), "{e}");
        assert!(e.to_string().contains(&node), "{e}");
        assert_eq!(nodes.eval(0, "dbg:stop_clear(), profiletest_traced ! stop, ok.").as_deref(), Ok("ok"));

        // f/1 and the two module_info functions.
        assert_eq!(nodes.eval(0, "cprof:start(profiletest_target).").as_deref(), Ok("3"));
        let e = refused(profile::start(&cluster, target()).await);
        assert!(matches!(e, ProfileError::AlreadyProfiled { .. }), "{e}");
        assert!(e.to_string().contains("profiletest_target") && e.to_string().contains("already profiled"), "{e}");
        nodes.eval(0, "cprof:stop().").unwrap();
    }
    // With those tools gone, the same profile runs.
    let p = profile::start(&cluster, target().with_duration(Duration::from_millis(300))).await.unwrap().finish().await;
    assert!(p.failed.is_empty(), "{:?}", p.failed);
    cluster.disconnect().await;
}

/// A profile whose profiler was stopped on its node behind Orbit's back (the node restarted, another
/// Orbit collected it): collecting names the node and says its profiler was gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_whose_profiler_is_gone_names_the_node_at_collection() {
    let nodes = TestCluster::erlang(1);
    let cluster = join(&nodes, 0).await;
    let node = nodes.name(0).to_string();
    let src = "-module(profiletest_gone).\n-export([f/1]).\nf(X) -> X + 1.\n";
    agent::load_from_source(&cluster.link(&node).unwrap(), "profiletest_gone", src).await.unwrap();
    let run =
        profile::start(&cluster, ProfileSpec::new(vec![Target::Module("profiletest_gone".into())])).await.unwrap();
    let stop = vec![eetf::Term::from(run.id().clone()), beam::term::list(vec![beam::term::atom("profiletest_gone")])];
    cluster.call(&node, "orbit_profile", "stop", stop, Duration::from_secs(10)).await.unwrap();
    let profile = run.stop().await;
    assert_eq!(profile.failed.len(), 1, "{:?}", profile.failed);
    assert_eq!(profile.failed[0].node, node);
    assert_eq!(
        profile.failed[0].reason,
        "its profiler was gone (the node restarted, or the profile was collected already)"
    );
    cluster.disconnect().await;
}
