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

/// `name.erl` holding `text`, in a fresh directory (which can serve as the nodes' code path).
fn module_file(tag: &str, name: &str, text: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(orbit_test_harness::unique_name(tag));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join(format!("{name}.erl"));
    std::fs::write(&source, text).unwrap();
    (dir, source)
}

/// `orbit_late.erl` (`twice/1`, with code on line 4) in a fresh directory, and the `ebin` beside it.
fn late_module() -> (PathBuf, PathBuf, PathBuf) {
    let (dir, source) = module_file(
        "late",
        "orbit_late",
        "-module(orbit_late).\n-export([twice/1]).\ntwice(X) ->\n    Y = X * 2,\n    Y.\n",
    );
    let ebin = dir.join("ebin");
    std::fs::create_dir_all(&ebin).unwrap();
    (dir, source, ebin)
}

/// A one-node cluster of bare Erlang with `orbit_late` built in its code path, a session attached, and
/// a breakpoint at `line` that holds. Returns the module's directory too.
async fn late_session(line: u32) -> (TestCluster, IntEngine, PathBuf) {
    let (dir, source, ebin) = late_module();
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&ebin));
    build_on(&nodes, 0, &source, &ebin);
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    (nodes, engine, dir)
}

/// Ends the session, which must leave nothing to report, and removes the test's module directory.
async fn end_clean(mut engine: IntEngine, dir: &std::path::Path) {
    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The next stop: its thread, reason and text.
async fn next_stop(engine: &mut IntEngine) -> (i64, StopReason, Option<String>) {
    match until(engine, "a stop", |e| matches!(e, EngineEvent::Stopped { .. })).await {
        EngineEvent::Stopped { thread, reason, text, .. } => (thread, reason, text),
        _ => unreachable!(),
    }
}

/// Handles what the nodes send until the next stop; returns it with the console text printed meanwhile.
async fn stop_and_console(engine: &mut IntEngine, mut console: String) -> (EngineEvent, String) {
    let stop = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let raw = engine.next_raw().await.expect("raw events");
            for e in engine.handle_raw(raw).await {
                match e {
                    EngineEvent::Output { text, .. } => console.push_str(&text),
                    e @ EngineEvent::Stopped { .. } => return e,
                    _ => {}
                }
            }
        }
    })
    .await
    .expect("a stop");
    (stop, console)
}

/// The console text among `events`.
fn console_of(events: Vec<EngineEvent>) -> String {
    events
        .into_iter()
        .filter_map(|e| if let EngineEvent::Output { text, .. } = e { Some(text) } else { None })
        .collect()
}

/// Compiles `source` with debug info into `ebin` on node `i`.
fn build_on(nodes: &TestCluster, i: usize, source: &std::path::Path, ebin: &std::path::Path) {
    let built = nodes
        .eval(i, &format!("compile:file(\"{}\", [debug_info, {{outdir, \"{}\"}}]).", source.display(), ebin.display()));
    let module = source.file_stem().unwrap().to_string_lossy();
    assert_eq!(built.map(|b| b.replace(' ', "")), Ok(format!("{{ok,{module}}}")));
}

/// An attach to bare Erlang nodes, with no project.
async fn attach_erlang(nodes: &TestCluster) -> IntEngine {
    attach_erlang_interpreting(nodes, vec![]).await
}

/// The same, interpreting the modules `interpret` (globs) names up front.
async fn attach_erlang_interpreting(nodes: &TestCluster, interpret: Vec<String>) -> IntEngine {
    use beam::cluster::ClusterOptions;
    use beam::debugger::{AttachConfig, SourceMap};
    use beam::link::{Cookie, NodeName};
    let config = AttachConfig {
        seeds: vec![NodeName::parse(nodes.name(0)).unwrap()],
        cookie: Cookie::new(nodes.cookie.clone()),
        cluster: ClusterOptions::default(),
        project_dir: None,
        source_map: SourceMap::default(),
        interpret,
        exclude: vec![],
        hold_callers: true,
    };
    IntEngine::attach(config).await.expect("attach")
}

/// A breakpoint in a file no node has a module of yet stays unverified and says why; once the module is
/// compiled into the nodes' code path, the breakpoint holds by itself (an event says so, within a few
/// ticks) and a call on another node stops there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breakpoint_in_a_module_not_built_yet_holds_once_a_node_can_load_it() {
    let (dir, source, ebin) = late_module();
    let nodes = TestCluster::erlang_with_code_path(2, std::slice::from_ref(&ebin));
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line: 4, ..Default::default() }]).await;
    assert!(!bps[0].verified, "{bps:?}");
    let why = bps[0].message.clone().unwrap_or_default();
    assert_eq!(
        why,
        format!(
            "no module compiled from {} is loaded on any node yet; the breakpoint will hold when one is",
            source.display()
        )
    );

    // Built on node 0 into the directory both nodes have in their code path; loaded nowhere.
    build_on(&nodes, 0, &source, &ebin);
    let held = until(
        &mut engine,
        "the breakpoint to hold",
        |e| matches!(e, EngineEvent::Breakpoint(s) if s.id == bps[0].id && s.verified),
    )
    .await;
    let EngineEvent::Breakpoint(status) = held else { unreachable!() };
    assert_eq!(status.line, Some(4));

    let call = spawn_eval(&nodes, 1, "orbit_late:twice(21).".into());
    let (thread, reason, _) = next_stop(&mut engine).await;
    assert_eq!(reason, StopReason::Breakpoint);
    let frames = engine.stack_trace(thread).await.unwrap();
    assert_eq!((frames[0].name.as_str(), frames[0].line), ("orbit_late:twice/1", 4));
    engine.resume(thread, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap(), "42");
    end_clean(engine, &dir).await;
}

/// OTP's interpreter server killed under the session (by someone on a node): the session ends, and says
/// which node's server went and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interpreter_server_killed_under_the_session_ends_it_with_the_reason() {
    let (nodes, mut engine, dir) = late_session(4).await;
    let killed = nodes.eval(0, "exit(global:whereis_name(dbg_iserver), kill).");
    assert_eq!(killed.as_deref(), Ok("true"));
    let ended = until(&mut engine, "the end", |e| matches!(e, EngineEvent::Terminated { .. })).await;
    let EngineEvent::Terminated { reason } = ended else { unreachable!() };
    assert_eq!(reason, format!("OTP's interpreter server on {} stopped (killed)", nodes.name(0)));
    let _ = engine.end().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `stepIn` on a `gen_server:cast` to a server that is busy (blocked in a call): the caller's step ends on
/// its next line at once, and when the server has not taken the message within a few seconds the caller's
/// stop is shown alone, the console saying so. The server takes it later, as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_in_on_a_cast_the_server_does_not_take_shows_the_callers_stop_alone() {
    let (dir, source) = module_file(
        "cast",
        "orbit_cast",
        "-module(orbit_cast).\n-behaviour(gen_server).\n\
         -export([start/0, poke/1, count/0, init/1, handle_call/3, handle_cast/2]).\n\
         start() -> gen_server:start({local, orbit_cast_srv}, orbit_cast, [], []).\n\
         init([]) -> {ok, 0}.\n\
         handle_call(block, _From, S) -> receive go_on -> {reply, ok, S} end;\n\
         handle_call(count, _From, S) -> {reply, S, S}.\n\
         handle_cast(poke, S) -> {noreply, S + 1}.\n\
         poke(P) ->\n    gen_server:cast(P, poke),\n    poked.\n\
         count() -> gen_server:call(orbit_cast_srv, count).\n",
    );
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir);
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line: 10, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let started = nodes.eval(0, "element(1, orbit_cast:start()).");
    assert_eq!(started.as_deref(), Ok("ok"));
    let blocked = nodes.eval(0, "spawn(fun() -> gen_server:call(orbit_cast_srv, block, infinity) end), ok.");
    assert_eq!(blocked.as_deref(), Ok("ok"));

    let call = spawn_eval(&nodes, 0, "orbit_cast:poke(orbit_cast_srv).".into());
    let (thread, reason, _) = next_stop(&mut engine).await;
    assert_eq!(reason, StopReason::Breakpoint);
    engine.resume(thread, Resume::StepIn).await.unwrap();
    let (step, console) = stop_and_console(&mut engine, String::new()).await;
    assert!(
        matches!(step, EngineEvent::Stopped { thread: t, reason: StopReason::Step, .. } if t == thread),
        "{step:?}"
    );
    assert!(console.contains("did not take the message within 3 s: the step stays in"), "{console}");
    let frames = engine.stack_trace(thread).await.unwrap();
    assert_eq!((frames[0].name.as_str(), frames[0].line), ("orbit_cast:poke/1", 11));
    engine.resume(thread, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap(), "poked");

    // Unblocked, the server takes the cast.
    assert_eq!(nodes.eval(0, "orbit_cast_srv ! go_on, ok.").as_deref(), Ok("ok"));
    assert_eq!(nodes.eval(0, "orbit_cast:count().").as_deref(), Ok("1"));
    end_clean(engine, &dir).await;
}

/// A module only one node can load at first: its breakpoint holds there, and on the other node as soon as
/// that node can load it (the console says so), where a call then stops too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breakpoint_holds_on_a_node_once_it_can_load_the_module() {
    let (dir, source, ebin) = late_module();
    let nodes = TestCluster::erlang(2);
    let add_path = |i: usize| {
        let added = nodes.eval(i, &format!("code:add_patha(\"{}\").", ebin.display()));
        assert_eq!(added.as_deref(), Ok("true"));
    };
    add_path(0);
    build_on(&nodes, 0, &source, &ebin);
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line: 4, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");

    add_path(1);
    let want = format!("{}: breakpoints in orbit_late now hold there too", nodes.name(1));
    let console = common::output_until(&mut engine, 30_000, |t| t.contains(&want)).await;
    assert!(console.contains(&want), "{console}");
    let call = spawn_eval(&nodes, 1, "orbit_late:twice(5).".into());
    let (thread, _, text) = next_stop(&mut engine).await;
    assert!(text.as_deref().is_some_and(|t| t.contains(nodes.name(1))), "{text:?}");
    engine.resume(thread, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap(), "10");
    end_clean(engine, &dir).await;
}

/// A module built without debug info cannot be interpreted: its breakpoint stays unverified, and the
/// reason names the module and the node, and how a release keeps debug info.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breakpoint_in_a_module_without_debug_info_names_the_module_and_the_node() {
    let (dir, source, ebin) = late_module();
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&ebin));
    let built =
        nodes.eval(0, &format!("compile:file(\"{}\", [{{outdir, \"{}\"}}]).", source.display(), ebin.display()));
    assert_eq!(built.map(|b| b.replace(' ', "")).as_deref(), Ok("{ok,orbit_late}"));
    assert_eq!(nodes.eval(0, "orbit_late:twice(1).").as_deref(), Ok("2"));
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line: 4, ..Default::default() }]).await;
    assert!(!bps[0].verified, "{bps:?}");
    let why = bps[0].message.clone().unwrap_or_default();
    assert_eq!(
        why,
        format!(
            "cannot read the code of orbit_late: {}: {{error,no_debug_info}} (compiled without debug info: \
             releases strip it by default, set `strip_beams: false`)",
            nodes.name(0)
        )
    );
    end_clean(engine, &dir).await;
}

/// With the `crash_reports` filter, a crash of any process (nothing interpreted) prints its report on
/// the console: who and why, then the frames where OTP names them (a module Orbit has no source of shows
/// the file the node names), else the report itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_reports_of_processes_that_are_not_interpreted() {
    let nodes = TestCluster::erlang(1);
    let mut engine = attach_erlang(&nodes).await;
    engine.set_exception_filters(&["crash_reports".to_string()]).await.unwrap();
    let node = nodes.name(0).to_string();
    assert_eq!(nodes.eval(0, "proc_lib:spawn(fun() -> exit(orbit_boom) end), ok.").as_deref(), Ok("ok"));
    let exited = format!("crash on {node}: #PID<0.");
    let console = common::output_until(&mut engine, 15_000, |t| t.contains(":orbit_boom")).await;
    assert!(console.contains(&exited) && console.contains("exited: :orbit_boom\n"), "{console}");

    let crash = "proc_lib:spawn(fun() -> lists:nth(0, [orbit_crash]) end), ok.";
    assert_eq!(nodes.eval(0, crash).as_deref(), Ok("ok"));
    let console = common::output_until(&mut engine, 15_000, |t| t.contains("lists:nth/2")).await;
    assert!(console.contains(&exited) && console.contains(":function_clause"), "{console}");
    assert!(console.contains("    lists:nth/2 lists.erl:"), "the frame in OTP's file: {console}");
    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
}

/// Modules an `interpret` glob names are interpreted from the start, on every node, with no breakpoint
/// in them yet, and their sources are listed for the editor; the session's end makes them native again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_an_interpret_glob_names_are_interpreted_up_front() {
    let (dir, source, ebin) = late_module();
    let nodes = TestCluster::erlang_with_code_path(2, std::slice::from_ref(&ebin));
    build_on(&nodes, 0, &source, &ebin);
    let interpreted = |i: usize| nodes.eval(i, "orbit_dbg:interpreted_here([orbit_late]).").unwrap();
    let engine = attach_erlang_interpreting(&nodes, vec!["orbit_l*".into()]).await;
    for i in 0..2 {
        assert_eq!(interpreted(i), "[orbit_late]", "node {i}");
    }
    assert!(engine.loaded_sources().contains(&source), "the editor's list of sources: {:?}", engine.loaded_sources());
    let mut engine = engine;
    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
    for i in 0..2 {
        assert_eq!(interpreted(i), "[]", "node {i}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// At a stop in Erlang code: values open level by level (a tuple's elements by index, a map's keys as
/// Erlang terms, an improper list's tail); a variable set to an expression that does not parse, a
/// variable the frame lacks and a part of a value are refused with the reason, and the frame is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_open_by_level_and_bad_sets_are_refused_with_the_reason() {
    let (dir, source) = module_file(
        "vars",
        "orbit_vars",
        "-module(orbit_vars).\n-export([run/1]).\nrun(X) ->\n    Y = {#{\"k\" => X}, [1 | X]},\n    Y.\n",
    );
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir);
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line: 5, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let call = spawn_eval(&nodes, 0, "orbit_vars:run(7).".into());
    let (thread, _, _) = next_stop(&mut engine).await;
    let frames = engine.stack_trace(thread).await.unwrap();
    let scopes = engine.scopes(frames[0].id).await.unwrap();
    let locals = engine.variables(scopes[0].variables_reference, None, None).await.unwrap();
    let y = locals.iter().find(|v| v.name == "Y").unwrap_or_else(|| panic!("Y in {locals:?}"));
    assert_eq!(y.value, "{#{\"k\" => 7},[1|7]}");
    let parts = engine.variables(y.variables_reference, None, None).await.unwrap();
    let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["0", "1"], "{parts:?}");
    let map = engine.variables(parts[0].variables_reference, None, None).await.unwrap();
    assert_eq!((map[0].name.as_str(), map[0].value.as_str()), ("\"k\"", "7"), "{map:?}");
    let improper = engine.variables(parts[1].variables_reference, None, None).await.unwrap();
    let pairs: Vec<(&str, &str)> = improper.iter().map(|p| (p.name.as_str(), p.value.as_str())).collect();
    assert_eq!(pairs, [("0", "1"), ("tail", "7")], "{improper:?}");

    let e = engine.set_variable(scopes[0].variables_reference, "X", "1 +").await.unwrap_err();
    assert!(e.0.contains("syntax error"), "{e:?}");
    let e = engine.set_variable(scopes[0].variables_reference, "Nope", "1").await.unwrap_err();
    assert_eq!(e.0, "no variable 'Nope' in this frame");
    let e = engine.set_variable(y.variables_reference, "1", "2").await.unwrap_err();
    assert_eq!(e.0, "only variables of a frame can be set (not parts of a value)");
    let e = engine.evaluate("X +", Some(frames[0].id)).await.unwrap_err();
    assert!(e.0.contains("syntax error"), "{e:?}");
    engine.resume(thread, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "{#{\"k\"=>7},[1|7]}");
    end_clean(engine, &dir).await;
}

/// Two nodes run different versions of a module (drift): a breakpoint set in the entry node's version
/// holds there, and the console says the other node runs another version, where a call does not stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_running_another_version_of_the_module_is_named_on_the_console() {
    let (dir_a, source_a, ebin_a) = late_module();
    let (dir_b, source_b, ebin_b) = late_module();
    std::fs::write(&source_b, "-module(orbit_late).\n-export([twice/1]).\ntwice(X) ->\n    Y = X * 3,\n    Y.\n")
        .unwrap();
    let nodes = TestCluster::erlang(2);
    for (i, ebin, source) in [(0, &ebin_a, &source_a), (1, &ebin_b, &source_b)] {
        let added = nodes.eval(i, &format!("code:add_patha(\"{}\").", ebin.display()));
        assert_eq!(added.as_deref(), Ok("true"));
        build_on(&nodes, i, source, ebin);
    }
    assert_eq!(nodes.eval(1, "orbit_late:twice(2).").as_deref(), Ok("6"));
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source_a, vec![LineBreakpoint { line: 4, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let want = format!(
        "{}: breakpoints in orbit_late do not hold there: it runs another version of it than {}",
        nodes.name(1),
        nodes.name(0)
    );
    let mut console = console_of(engine.drain_events());
    if !console.contains(&want) {
        console.push_str(&common::output_until(&mut engine, 10_000, |t| t.contains(&want)).await);
    }
    assert!(console.contains(&want), "{console}");
    assert_eq!(nodes.eval(1, "orbit_late:twice(2).").as_deref(), Ok("6"), "node 1 runs on, unstopped");
    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

/// `stepIn` on an `rpc:call` to a node that is not part of the session steps over the line, and the
/// console says why; the step then stops on the next line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_in_on_an_rpc_to_a_node_outside_the_session_steps_over_and_says_why() {
    let (dir, source) = module_file(
        "hop",
        "orbit_hop",
        "-module(orbit_hop).\n-export([hop/1, here/0]).\nhop(N) ->\n    R = rpc:call(N, orbit_hop, here, [], 1000),\n    \
         {hopped, R}.\nhere() -> node().\n",
    );
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir);
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line: 4, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let call = spawn_eval(&nodes, 0, "orbit_hop:hop('nobody@nowhere').".into());
    let (thread, _, _) = next_stop(&mut engine).await;
    let console = console_of(engine.resume(thread, Resume::StepIn).await.unwrap());
    let (step, console) = stop_and_console(&mut engine, console).await;
    assert!(matches!(step, EngineEvent::Stopped { reason: StopReason::Step, .. }), "{step:?}");
    assert!(
        console.contains(": stepIn steps over the line: nobody@nowhere is not a node of this session\n"),
        "{console}"
    );
    let frames = engine.stack_trace(thread).await.unwrap();
    assert_eq!(frames[0].line, 5);
    engine.resume(thread, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "{hopped,{badrpc,nodedown}}");
    end_clean(engine, &dir).await;
}

/// `stepIn` on a `gen_server:call` stops in the server's `handle_call/3` as a thread of its own; a
/// `continue` of the waiting caller then lets it go on once the answer is back, without a stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_continued_while_its_step_waits_in_the_server_goes_on_with_the_answer() {
    let (dir, source) = module_file(
        "sync",
        "orbit_sync",
        "-module(orbit_sync).\n-behaviour(gen_server).\n\
         -export([start/0, ask/1, init/1, handle_call/3, handle_cast/2]).\n\
         start() -> gen_server:start({local, orbit_sync_srv}, orbit_sync, [], []).\n\
         init([]) -> {ok, 0}.\n\
         handle_call(ask, _From, S) ->\n    {reply, S + 1, S + 1}.\n\
         handle_cast(_, S) -> {noreply, S}.\n\
         ask(P) ->\n    R = gen_server:call(P, ask),\n    {asked, R}.\n",
    );
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir);
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line: 10, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    assert_eq!(nodes.eval(0, "element(1, orbit_sync:start()).").as_deref(), Ok("ok"));
    let call = spawn_eval(&nodes, 0, "orbit_sync:ask(orbit_sync_srv).".into());
    let (caller, _, _) = next_stop(&mut engine).await;
    engine.resume(caller, Resume::StepIn).await.unwrap();
    let server = until(
        &mut engine,
        "the server's stop",
        |e| matches!(e, EngineEvent::Stopped { thread, .. } if *thread != caller),
    )
    .await;
    let EngineEvent::Stopped { thread: server, .. } = server else { unreachable!() };
    let frames = engine.stack_trace(server).await.unwrap();
    assert_eq!((frames[0].name.as_str(), frames[0].line), ("orbit_sync:handle_call/3", 7));
    engine.resume(caller, Resume::Continue).await.unwrap();
    engine.resume(server, Resume::Continue).await.unwrap();
    // The engine follows the answer and the caller's step as it handles what the nodes send.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !call.is_finished() {
        let Ok(Some(raw)) = tokio::time::timeout_at(deadline, engine.next_raw()).await else { break };
        for e in engine.handle_raw(raw).await {
            assert!(!matches!(e, EngineEvent::Stopped { thread, .. } if thread == caller), "the caller stopped: {e:?}");
        }
    }
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "{asked,1}", "the caller went on without a stop");
    end_clean(engine, &dir).await;
}

/// An interpreted process that crashes passes unnoticed without the `crashes` filter; with it, it stops
/// post mortem where it crashed, with the reason and its frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_interpreted_code_stops_post_mortem_only_with_the_crashes_filter() {
    let (nodes, mut engine, dir) = late_session(5).await;
    let crash = |arg: &str| {
        let spawned = nodes.eval(0, &format!("spawn(fun() -> orbit_late:twice({arg}) end), ok."));
        assert_eq!(spawned.as_deref(), Ok("ok"));
    };
    crash("a");
    let quiet = common::output_until(&mut engine, 2_000, |_| false).await;
    assert!(!quiet.contains("crash"), "{quiet}");

    engine.set_exception_filters(&["crashes".to_string()]).await.unwrap();
    crash("b");
    let (thread, reason, text) = next_stop(&mut engine).await;
    assert_eq!(reason, StopReason::Exception);
    let text = text.unwrap_or_default();
    assert!(text.contains("crashed: ") && text.contains("badarith"), "{text}");
    let frames = engine.stack_trace(thread).await.unwrap();
    assert_eq!((frames[0].name.as_str(), frames[0].line), ("orbit_late:twice/1", 4), "{frames:?}");
    engine.resume(thread, Resume::Continue).await.unwrap();
    end_clean(engine, &dir).await;
}

/// Log points on a clause's head line are tracepoints (nothing is interpreted): with hit conditions they
/// print only the hits that count; a message that does not parse, and a function log point whose message
/// does not parse, are refused with the parser's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracepoint_hit_conditions_rate_and_messages_that_do_not_parse() {
    let (dir, source, ebin) = late_module();
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&ebin));
    build_on(&nodes, 0, &source, &ebin);
    assert_eq!(nodes.eval(0, "orbit_late:twice(0).").as_deref(), Ok("0"));
    let mut engine = attach_erlang(&nodes).await;
    engine.set_log_point_rate(50).await;
    // On the clause's head line a log point is a tracepoint: nothing is interpreted.
    let log = |hit: &str, msg: &str| LineBreakpoint {
        line: 3,
        hit_condition: Some(hit.into()),
        log_message: Some(msg.into()),
        ..Default::default()
    };
    let bps = engine.set_breakpoints(&source, vec![log(">= 2", "ge {X}")]).await;
    assert!(bps[0].verified, "{bps:?}");
    assert_eq!(nodes.eval(0, "orbit_dbg:interpreted_here([orbit_late]).").as_deref(), Ok("[]"), "nothing interpreted");
    for x in 1..=3 {
        assert_eq!(nodes.eval(0, &format!("orbit_late:twice({x}).")).unwrap(), (2 * x).to_string());
    }
    let console = common::output_until(&mut engine, 10_000, |t| t.contains("ge 3")).await;
    assert!(console.contains("ge 2") && console.contains("ge 3") && !console.contains("ge 1"), "{console}");
    let bps = engine.set_breakpoints(&source, vec![log("> 2", "gt {X}")]).await;
    assert!(bps[0].verified, "{bps:?}");
    for x in 1..=3 {
        nodes.eval(0, &format!("orbit_late:twice({x}).")).unwrap();
    }
    let console = common::output_until(&mut engine, 10_000, |t| t.contains("gt 3")).await;
    assert!(console.contains("gt 3") && !console.contains("gt 2"), "{console}");

    let bps = engine.set_breakpoints(&source, vec![log("1", "bad {X +}")]).await;
    assert!(!bps[0].verified, "{bps:?}");
    let why = bps[0].message.clone().unwrap_or_default();
    assert!(why.starts_with("Erlang: "), "{why}");
    let f = engine.set_function_breakpoints(vec![("orbit_late:twice/1 log fn {X +}".into(), None, None)]).await;
    assert!(!f[0].verified, "{f:?}");
    assert!(f[0].message.as_deref().unwrap_or_default().starts_with("Erlang: "), "{f:?}");
    end_clean(engine, &dir).await;
}

/// `/pause` from the debug console: a process of plain Erlang code by its registered name (a paused
/// thread whose stack shows, where evaluation runs on its node; continued by `continue`), and what is not
/// a process says why; evaluation on a node named in the expression, and on one that is not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_from_the_console_by_erlang_name_and_what_is_not_a_process() {
    let nodes = TestCluster::erlang(1);
    let node = nodes.name(0).to_string();
    let mut engine = attach_erlang(&nodes).await;
    let made = nodes.eval(0, "register(orbit_sleeper, spawn(fun() -> receive stop -> ok end end)), ok.");
    assert_eq!(made.as_deref(), Ok("ok"));
    let refused = |e: Result<beam::debugger::VariableInfo, beam::debugger::DebugError>| e.unwrap_err().0;
    let usage = "usage: /pause <pid | registered name> [on node@host]";
    assert_eq!(refused(engine.evaluate("/pause", None).await), usage);
    assert_eq!(refused(engine.evaluate("/pause orbit_sleeper at here", None).await), usage);
    assert_eq!(refused(engine.evaluate("/pause <0.1>", None).await), "'<0.1>' is not a pid (#PID<0.123.0>)");
    assert_eq!(
        refused(engine.evaluate("/pause orbit_nobody", None).await),
        format!("no process is registered as orbit_nobody on {node}")
    );
    let paused = engine.evaluate(&format!("/pause orbit_sleeper on {node}"), None).await.unwrap();
    assert!(paused.value.starts_with("paused "), "{paused:?}");
    let events = engine.drain_events();
    let Some(EngineEvent::Stopped { thread, reason, .. }) =
        events.iter().find(|e| matches!(e, EngineEvent::Stopped { .. })).cloned()
    else {
        panic!("the pause's stop in {events:?}")
    };
    assert_eq!(reason, StopReason::Pause);
    assert_eq!(nodes.eval(0, "element(2, process_info(whereis(orbit_sleeper), status)).").as_deref(), Ok("suspended"));
    // Its frames are native code: evaluation there runs on its node, without bindings.
    let frames = engine.stack_trace(thread).await.unwrap();
    let v = engine.evaluate("node()", Some(frames[0].id)).await.unwrap();
    assert!(v.value.contains(&node), "{v:?}");
    let v = engine.evaluate(&format!("{node}> 6 * 7"), None).await.unwrap();
    assert_eq!(v.value, "42");
    assert_eq!(refused(engine.evaluate("  ", None).await), "nothing to evaluate");
    let e = refused(engine.evaluate("nobody@nowhere> 1", None).await);
    assert_eq!(e, format!("nobody@nowhere is not a node of this cluster (nodes: {node})"));
    engine.resume(thread, Resume::Continue).await.unwrap();
    assert_ne!(nodes.eval(0, "element(2, process_info(whereis(orbit_sleeper), status)).").as_deref(), Ok("suspended"));
    let e = engine.stack_trace(thread).await.unwrap_err();
    assert_eq!(e.0, format!("no thread {thread}"), "a native process continued is no thread any more");
    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
}

/// The lines of a file where a breakpoint can stand, for the editor; function breakpoints that name no
/// function, or whose log message is empty, say how to write them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakpoint_locations_and_function_breakpoints_written_wrong() {
    let (dir, source, ebin) = late_module();
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&ebin));
    build_on(&nodes, 0, &source, &ebin);
    let mut engine = attach_erlang(&nodes).await;
    assert_eq!(engine.breakpoint_locations(&source, 1, Some(20)).await, vec![4, 5]);
    assert_eq!(engine.breakpoint_locations(&source, 5, None).await, vec![5]);
    assert!(engine.breakpoint_locations(&dir.join("nowhere.erl"), 1, Some(9)).await.is_empty());
    let f = engine
        .set_function_breakpoints(vec![
            ("not a function".into(), None, None),
            ("orbit_late:twice/1 log".into(), None, None),
        ])
        .await;
    assert!(f.iter().all(|b| !b.verified), "{f:?}");
    assert!(!f[0].message.as_deref().unwrap_or_default().is_empty(), "{f:?}");
    assert_eq!(
        f[1].message.as_deref(),
        Some("write the message after `log`: orbit_late:twice/1 log deposit of {amount}")
    );
    end_clean(engine, &dir).await;
}

/// A log point on a clause's head (a tracepoint) in a module one node lacks: it prints on the node that
/// has it, and the console says why it does not hold on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracepoint_in_a_module_one_node_lacks_prints_where_it_is_and_says_why_not_elsewhere() {
    let (dir, source, ebin) = late_module();
    let nodes = TestCluster::erlang(2);
    let added = nodes.eval(0, &format!("code:add_patha(\"{}\").", ebin.display()));
    assert_eq!(added.as_deref(), Ok("true"));
    build_on(&nodes, 0, &source, &ebin);
    assert_eq!(nodes.eval(0, "orbit_late:twice(0).").as_deref(), Ok("0"), "loaded on node 0");
    let mut engine = attach_erlang(&nodes).await;
    let log = LineBreakpoint { line: 3, log_message: Some("twice {X}".into()), ..Default::default() };
    let bps = engine.set_breakpoints(&source, vec![log]).await;
    assert!(bps[0].verified, "{bps:?}");
    let not_there =
        format!("{}: the tracepoint on orbit_late:twice/1 does not hold there: the module is not there", nodes.name(1));
    let mut console = console_of(engine.drain_events());
    if !console.contains(&not_there) {
        console.push_str(&common::output_until(&mut engine, 10_000, |t| t.contains(&not_there)).await);
    }
    assert!(console.contains(&not_there), "{console}");
    assert_eq!(nodes.eval(0, "orbit_late:twice(21).").as_deref(), Ok("42"));
    let console = common::output_until(&mut engine, 15_000, |t| t.contains("twice 21")).await;
    assert!(console.contains(&format!("[{} #PID<0.", nodes.name(0))) && console.contains("twice 21"), "{console}");
    assert_eq!(nodes.eval(0, "orbit_dbg:interpreted_here([orbit_late]).").as_deref(), Ok("[]"), "nothing interpreted");
    end_clean(engine, &dir).await;
}
