//! The interpreter engine where something else has a say: another debugger attached to a process, the
//! node's shell continuing a stopped process, a crash after the process left interpreted code, builds that
//! differ between nodes, OTP's own breakpoints, crash reports of servers that stop on purpose.

mod common;

use common::{output_until, spawn_eval, until};

use beam::debugger::{Engine, EngineEvent, IntEngine, LineBreakpoint, Resume, StopReason};
use orbit_test_harness::TestCluster;
use std::path::{Path, PathBuf};

/// `name.erl` holding `text`, in a fresh directory (which can serve as the nodes' code path).
fn module_file(tag: &str, name: &str, text: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(orbit_test_harness::unique_name(tag));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join(format!("{name}.erl"));
    std::fs::write(&source, text).unwrap();
    (dir, source)
}

/// Compiles `source` into `ebin` on node `i`, with the given compiler options (`debug_info` or none).
fn build_on(nodes: &TestCluster, i: usize, source: &Path, ebin: &Path, options: &str) {
    let built = nodes
        .eval(i, &format!("compile:file(\"{}\", [{options}{{outdir, \"{}\"}}]).", source.display(), ebin.display()));
    let module = source.file_stem().unwrap().to_string_lossy();
    assert_eq!(built.map(|b| b.replace(' ', "")), Ok(format!("{{ok,{module}}}")));
}

fn add_path(nodes: &TestCluster, i: usize, dir: &Path) {
    assert_eq!(nodes.eval(i, &format!("code:add_patha(\"{}\").", dir.display())).as_deref(), Ok("true"));
}

/// An attach to bare Erlang nodes through node 0, with no project.
async fn attach_erlang(nodes: &TestCluster) -> IntEngine {
    use beam::cluster::ClusterOptions;
    use beam::debugger::{AttachConfig, SourceMap};
    use beam::link::{Cookie, NodeName};
    let config = AttachConfig {
        seeds: vec![NodeName::parse(nodes.name(0)).unwrap()],
        cookie: Cookie::new(nodes.cookie.clone()),
        cluster: ClusterOptions::default(),
        project_dir: None,
        source_map: SourceMap::default(),
        interpret: vec![],
        exclude: vec![],
        hold_callers: true,
    };
    IntEngine::attach(config).await.expect("attach")
}

/// The next stop: its thread, reason and text.
async fn next_stop(engine: &mut IntEngine) -> (i64, StopReason, Option<String>) {
    match until(engine, "a stop", |e| matches!(e, EngineEvent::Stopped { .. })).await {
        EngineEvent::Stopped { thread, reason, text, .. } => (thread, reason, text),
        _ => unreachable!(),
    }
}

/// Every event the engine makes of what the nodes send, until `done` holds for one (30 s at most).
async fn events_until(engine: &mut IntEngine, done: impl Fn(&EngineEvent) -> bool) -> Vec<EngineEvent> {
    let mut seen = Vec::new();
    let fut = async {
        loop {
            let raw = engine.next_raw().await.expect("raw events");
            for e in engine.handle_raw(raw).await {
                let last = done(&e);
                seen.push(e);
                if last {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), fut).await.unwrap_or_else(|_| panic!("{seen:?}"));
    seen
}

/// Every event the engine makes of what the nodes send within `ms`.
async fn events_within(engine: &mut IntEngine, ms: u64) -> Vec<EngineEvent> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(ms);
    while let Ok(Some(raw)) = tokio::time::timeout_at(deadline, engine.next_raw()).await {
        seen.extend(engine.handle_raw(raw).await);
    }
    seen
}

/// The console text among `events`.
fn console_of(events: &[EngineEvent]) -> String {
    events
        .iter()
        .filter_map(|e| if let EngineEvent::Output { text, .. } = e { Some(text.as_str()) } else { None })
        .collect()
}

/// Ends the session, which must leave nothing to report, and removes the test's directories.
async fn end_clean(mut engine: IntEngine, dirs: &[&Path]) {
    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Polls node `i` until `expr` prints `want` (10 s at most).
fn wait_for(nodes: &TestCluster, i: usize, expr: &str, want: &str) {
    for _ in 0..100 {
        if nodes.eval(i, expr).as_deref() == Ok(want) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{expr} never gave {want}: {:?}", nodes.eval(i, expr));
}

const OTHER: &str = "-module(orbit_other).\n-export([run/0, crash/0]).\n\
run() ->\n    receive go -> ok end,\n    ran.\n\
crash() ->\n    receive go -> ok end,\n    1 + list_to_atom(\"a\").\n";

/// A process that OTP's own debugger front end (`int:attached/1`, what `:debugger` does) is attached to:
/// its stop at Orbit's breakpoint, and its crash with the `crashes` filter, are not Orbit's to show; the
/// console says another debugger holds it, and the session goes on (and ends clean) all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_another_debugger_is_attached_to_is_named_and_left_to_it() {
    let (dir, source) = module_file("other", "orbit_other", OTHER);
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir, "debug_info, ");
    let mut engine = attach_erlang(&nodes).await;
    engine.set_exception_filters(&["crashes".to_string()]).await.unwrap();
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line: 5, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    // Both processes wait in interpreted code (so the interpreter knows them) when the other tool attaches.
    for (name, f) in [("orbit_other_run", "run"), ("orbit_other_crash", "crash")] {
        let spawned = nodes.eval(0, &format!("register({name}, spawn(orbit_other, {f}, [])), ok."));
        assert_eq!(spawned.as_deref(), Ok("ok"));
        wait_for(&nodes, 0, &format!("lists:keymember(whereis({name}), 1, int:snapshot())."), "true");
        let attached = nodes.eval(
            0,
            &format!(
                "Self = self(), spawn(fun() -> Self ! int:attached(whereis({name})), receive never -> ok end end), \
                 receive {{ok, _}} -> ok after 5000 -> timeout end."
            ),
        );
        assert_eq!(attached.as_deref(), Ok("ok"));
    }
    let another = "another debugger is attached to this process (e.g. :debugger or another Orbit)";

    assert_eq!(nodes.eval(0, "orbit_other_run ! go, ok.").as_deref(), Ok("ok"));
    let console = output_until(&mut engine, 15_000, |t| t.contains(another)).await;
    assert!(console.contains(another), "{console}");
    assert!(engine.threads().is_empty(), "no thread of Orbit's: {:?}", engine.threads());
    let status = "element(3, lists:keyfind(whereis(orbit_other_run), 1, int:snapshot())).";
    assert_eq!(nodes.eval(0, status).as_deref(), Ok("break"), "held at the breakpoint, for the other debugger");

    assert_eq!(nodes.eval(0, "orbit_other_crash ! go, ok.").as_deref(), Ok("ok"));
    let console = output_until(&mut engine, 15_000, |t| t.contains(another)).await;
    assert!(console.contains(another), "the crash too: {console}");
    assert!(engine.threads().is_empty(), "{:?}", engine.threads());

    end_clean(engine, &[&dir]).await;
    wait_for(&nodes, 0, "whereis(orbit_other_run).", "undefined");
}

const DEEP: &str = "-module(orbit_deep).\n-export([outer/1, pos/1]).\n\
outer(X) ->\n    Y = inner(X),\n    element(1, Y) + 1.\n\
inner(X) ->\n    Z = {X, [X]},\n    Z.\n\
pos(X) when X > 0 ->\n    X.\n";

/// What the node's shell does to a process stopped in Orbit: continued there (`int:continue/1`), the
/// editor is told it runs; once it has exited, a value read at the stop is gone and says so. Only the
/// top frame's variables can be set, and a breakpoint OTP's debugger already holds at a line is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_process_continued_from_the_node_shell_runs_on_in_the_editor() {
    let (dir, source) = module_file("deep", "orbit_deep", DEEP);
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir, "debug_info, ");
    let mut engine = attach_erlang(&nodes).await;
    // A breakpoint someone set with OTP's `int:break/2` (the server is the cluster's own).
    assert_eq!(nodes.eval(0, "int:i(orbit_deep), int:break(orbit_deep, 5).").as_deref(), Ok("ok"));
    let at = |line| LineBreakpoint { line, ..Default::default() };
    let bps = engine.set_breakpoints(&source, vec![at(8), at(5), at(99)]).await;
    assert!(bps[0].verified, "{bps:?}");
    assert_eq!(bps[1].message.as_deref(), Some("another breakpoint already holds at orbit_deep:5"));
    assert_eq!(bps[2].message.as_deref(), Some("no code at or after line 99 in this file"));
    assert_eq!(nodes.eval(0, "int:delete_break(orbit_deep, 5).").as_deref(), Ok("ok"));

    // It waits in native code once its interpreted call is done.
    let spawned =
        nodes.eval(0, "register(orbit_deep_p, spawn(fun() -> orbit_deep:outer(7), receive stop -> ok end end)), ok.");
    assert_eq!(spawned.as_deref(), Ok("ok"));
    let (thread, reason, _) = next_stop(&mut engine).await;
    assert_eq!(reason, StopReason::Breakpoint);
    let frames = engine.stack_trace(thread).await.unwrap();
    let names: Vec<&str> = frames.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["orbit_deep:inner/1", "orbit_deep:outer/1"]);
    let scopes = engine.scopes(frames[0].id).await.unwrap();
    let locals = engine.variables(scopes[0].variables_reference, None, None).await.unwrap();
    let z = locals.iter().find(|v| v.name == "Z").unwrap_or_else(|| panic!("Z in {locals:?}"));
    assert_eq!(z.value, "{7,[7]}");
    let below = engine.scopes(frames[1].id).await.unwrap();
    let e = engine.set_variable(below[0].variables_reference, "X", "1").await.unwrap_err();
    assert_eq!(e.0, "only variables of the top frame can be set (the interpreter's rule)");
    // Messages that came while it is stopped show in its Process scope (small integers too, which the
    // node sends as a string of bytes).
    assert_eq!(nodes.eval(0, "orbit_deep_p ! 1, orbit_deep_p ! 2, ok.").as_deref(), Ok("ok"));
    let process = engine.variables(scopes[1].variables_reference, None, None).await.unwrap();
    let messages = process.iter().find(|v| v.name == "messages").unwrap_or_else(|| panic!("{process:?}"));
    assert!(messages.variables_reference > 0, "{messages:?}");
    let queued = engine.variables(messages.variables_reference, None, None).await.unwrap();
    let values: Vec<&str> = queued.iter().map(|v| v.value.as_str()).collect();
    assert_eq!(values, ["1", "2"], "{queued:?}");

    assert_eq!(nodes.eval(0, "int:continue(whereis(orbit_deep_p)).").as_deref(), Ok("ok"));
    let events = events_until(&mut engine, |e| matches!(e, EngineEvent::Continued { .. })).await;
    assert!(events.iter().any(|e| matches!(e, EngineEvent::Continued { thread: t } if *t == thread)), "{events:?}");
    let e = engine.resume(thread, Resume::Continue).await.unwrap_err();
    assert_eq!(e.0, format!("thread {thread} is not stopped"));
    let e = engine.stack_trace(thread).await.unwrap_err();
    assert_eq!(e.0, format!("thread {thread} is running: pause it to see its stack"));
    let e = engine.variables(z.variables_reference, None, None).await.unwrap_err();
    assert!(e.0.starts_with("the value is gone (") && e.0.ends_with("); the process may have moved on"), "{e:?}");
    assert_eq!(nodes.eval(0, "orbit_deep_p ! stop, ok.").as_deref(), Ok("ok"));
    end_clean(engine, &[&dir]).await;
}

/// With the `crashes` filter: a process that crashes after its interpreted call returned stops post
/// mortem with its reason though the interpreter knows no place of it; one that crashes in interpreted
/// code shows its frames, whose variables can be read but not set; one whose argument no clause takes
/// stops at the function's head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_after_interpreted_code_and_in_it_stop_post_mortem() {
    let (dir, source) = module_file("deep", "orbit_deep", DEEP);
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir, "debug_info, ");
    let mut engine = attach_erlang(&nodes).await;
    engine.set_exception_filters(&["crashes".to_string()]).await.unwrap();
    // A function breakpoint interprets the module; set twice, the first one is replaced.
    let f = engine.set_function_breakpoints(vec![("orbit_deep:outer/1".into(), Some("X =:= none".into()), None)]).await;
    assert!(f[0].verified, "{f:?}");
    let f = engine
        .set_function_breakpoints(vec![("orbit_deep:outer/1".into(), Some("X =:= a orelse X =:= 2".into()), None)])
        .await;
    assert!(f[0].verified, "{f:?}");

    let after = nodes.eval(0, "spawn(fun() -> orbit_deep:outer(1), exit(orbit_after) end), ok.");
    assert_eq!(after.as_deref(), Ok("ok"));
    let (thread, reason, text) = next_stop(&mut engine).await;
    assert_eq!(reason, StopReason::Exception);
    assert!(text.as_deref().unwrap_or_default().ends_with("crashed: :orbit_after"), "{text:?}");
    // Nothing interpreted is left of it to show (the process is gone).
    let frames = engine.stack_trace(thread).await.unwrap();
    assert!(frames.is_empty(), "{frames:?}");
    let gone = engine.resume(thread, Resume::Continue).await.unwrap();
    assert!(matches!(gone.as_slice(), [EngineEvent::ThreadExited { thread: t }] if *t == thread), "{gone:?}");

    // A thread stopped, then continued, that ends normally: gone, not a crash.
    assert_eq!(nodes.eval(0, "spawn(fun() -> orbit_deep:outer(2) end), ok.").as_deref(), Ok("ok"));
    let (normal, reason, _) = next_stop(&mut engine).await;
    assert_eq!(reason, StopReason::FunctionBreakpoint);
    engine.resume(normal, Resume::Continue).await.unwrap();
    let events =
        events_until(&mut engine, |e| matches!(e, EngineEvent::ThreadExited { thread } if *thread == normal)).await;
    assert!(!events.iter().any(|e| matches!(e, EngineEvent::Stopped { .. })), "{events:?}");

    // Stopped first by the function breakpoint, then continued: its crash stops it as the same thread.
    let inside = nodes.eval(0, "spawn(fun() -> orbit_deep:outer(a) end), ok.");
    assert_eq!(inside.as_deref(), Ok("ok"));
    let (first, reason, _) = next_stop(&mut engine).await;
    assert_eq!(reason, StopReason::FunctionBreakpoint);
    engine.resume(first, Resume::Continue).await.unwrap();
    let (thread, reason, text) = next_stop(&mut engine).await;
    assert_eq!((thread, reason), (first, StopReason::Exception));
    assert!(text.as_deref().unwrap_or_default().contains("badarith"), "{text:?}");
    let frames = engine.stack_trace(thread).await.unwrap();
    assert_eq!((frames[0].name.as_str(), frames[0].line), ("orbit_deep:outer/1", 5), "{frames:?}");
    let scopes = engine.scopes(frames[0].id).await.unwrap();
    let locals = engine.variables(scopes[0].variables_reference, None, None).await.unwrap();
    assert!(locals.iter().any(|v| v.name == "X" && v.value == "a"), "{locals:?}");
    let e = engine.set_variable(scopes[0].variables_reference, "X", "1").await.unwrap_err();
    assert_eq!(e.0, "the process is not stopped at a breakpoint");
    engine.resume(thread, Resume::Continue).await.unwrap();

    // No clause of the interpreted function takes the argument.
    assert_eq!(nodes.eval(0, "spawn(fun() -> orbit_deep:pos(-1) end), ok.").as_deref(), Ok("ok"));
    let (thread, reason, text) = next_stop(&mut engine).await;
    assert_eq!(reason, StopReason::Exception);
    assert!(text.as_deref().unwrap_or_default().contains("function_clause"), "{text:?}");
    let frames = engine.stack_trace(thread).await.unwrap();
    assert_eq!((frames[0].name.as_str(), frames[0].line), ("orbit_deep:pos/1", 9), "{frames:?}");
    engine.resume(thread, Resume::Continue).await.unwrap();
    end_clean(engine, &[&dir]).await;
}

const SRV: &str = "-module(orbit_srv).\n-behaviour(gen_server).\n\
-export([start/0, init/1, handle_call/3, handle_cast/2]).\n\
start() -> gen_server:start({local, orbit_srv}, orbit_srv, [], []).\n\
init([]) -> {ok, 0}.\n\
handle_call(ask, _From, S) ->\n    {reply, S + STEP, S + STEP}.\n\
handle_cast(_, S) -> {noreply, S}.\n";

const ASK: &str = "-module(orbit_ask).\n-export([ask/1]).\n\
ask(N) ->\n    R = gen_server:call({orbit_srv, N}, ask),\n    {asked, R}.\n";

/// `stepIn` on a `gen_server:call` to a server on a node whose build of the server differs: without
/// debug info there it cannot be interpreted, and once the module is interpreted from another node's
/// build that node runs another version; each time the step goes over the line and the console says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_in_to_a_server_whose_node_has_another_build_steps_over_and_says_why() {
    let (dir_a, ask) = module_file("ask", "orbit_ask", ASK);
    let srv_a = dir_a.join("orbit_srv.erl");
    std::fs::write(&srv_a, SRV.replace("STEP", "1")).unwrap();
    let (dir_b, srv_b) = module_file("srv", "orbit_srv", &SRV.replace("STEP", "10"));
    let nodes = TestCluster::erlang(2);
    add_path(&nodes, 0, &dir_a);
    add_path(&nodes, 1, &dir_b);
    build_on(&nodes, 0, &ask, &dir_a, "debug_info, ");
    build_on(&nodes, 0, &srv_a, &dir_a, "debug_info, ");
    build_on(&nodes, 1, &srv_b, &dir_b, "");
    assert_eq!(nodes.eval(1, "element(1, orbit_srv:start()).").as_deref(), Ok("ok"));
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&ask, vec![LineBreakpoint { line: 4, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let server_node = nodes.name(1).to_string();

    let ask_server = || spawn_eval(&nodes, 0, format!("orbit_ask:ask('{server_node}')."));
    let call = ask_server();
    let (thread, _, _) = next_stop(&mut engine).await;
    let mut events = engine.resume(thread, Resume::StepIn).await.unwrap();
    events.extend(events_until(&mut engine, |e| matches!(e, EngineEvent::Stopped { .. })).await);
    let console = console_of(&events);
    let why = format!("stepIn steps over the line: cannot interpret orbit_srv on {server_node}: ");
    assert!(console.contains(&why) && console.contains("no_debug_info"), "{console}");
    assert_eq!(engine.stack_trace(thread).await.unwrap()[0].line, 5);
    engine.resume(thread, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "{asked,10}");

    // A log point on the clause's head is a tracepoint: it cannot hold where the build has no debug info.
    let log = LineBreakpoint { line: 6, log_message: Some("asked at {S}".into()), ..Default::default() };
    let bps = engine.set_breakpoints(&srv_a, vec![log]).await;
    assert!(bps[0].verified, "{bps:?}");
    let no_debug_info = format!(
        "{server_node}: the tracepoint on orbit_srv:handle_call/3 does not hold there: the module has no debug info there"
    );
    let mut console = console_of(&engine.drain_events());
    if !console.contains(&no_debug_info) {
        console.push_str(&output_until(&mut engine, 10_000, |t| t.contains(&no_debug_info)).await);
    }
    assert!(console.contains(&no_debug_info), "{console}");

    // Interpreted now from node 0's build (the console names node 1 as running another version).
    let bps = engine.set_breakpoints(&srv_a, vec![LineBreakpoint { line: 7, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let call = ask_server();
    let (thread, _, _) = next_stop(&mut engine).await;
    let mut events = engine.resume(thread, Resume::StepIn).await.unwrap();
    events.extend(events_until(&mut engine, |e| matches!(e, EngineEvent::Stopped { .. })).await);
    let console = console_of(&events);
    let other = format!("{why}it runs another version of it than {}", nodes.name(0));
    assert!(console.contains(&other), "{console}");
    engine.resume(thread, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "{asked,20}");
    end_clean(engine, &[&dir_a, &dir_b]).await;
}

const GS: &str = "-module(orbit_gs).\n-behaviour(gen_server).\n\
-export([start/0, init/1, handle_call/3, handle_cast/2, twice/1]).\n\
start() -> gen_server:start({local, orbit_gs}, orbit_gs, [], []).\n\
init([]) -> {ok, 0}.\n\
handle_call(stop, _From, S) -> {stop, orbit_stopped, ok, S};\n\
handle_call(ask, _From, S) ->\n    {reply, S + 1, S + 1}.\n\
handle_cast(_, S) -> {noreply, S}.\n\
twice(X) ->\n    X * 2.\n";

/// With the `crash_reports` filter: a crash's frames name the local file and line of a module Orbit
/// knows the source of, and nothing for an operator's frame; a server that stops with a reason of its own
/// (no stack) shows OTP's report; a node that joins the session later reports its crashes too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_reports_name_local_files_show_reports_without_frames_and_come_from_new_nodes() {
    let (dir, source) = module_file("gs", "orbit_gs", GS);
    let mut nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir, "debug_info, ");
    assert_eq!(nodes.eval(0, "element(1, orbit_gs:start()).").as_deref(), Ok("ok"));
    let mut engine = attach_erlang(&nodes).await;
    engine.set_exception_filters(&["crash_reports".to_string()]).await.unwrap();
    let node = nodes.name(0).to_string();

    assert_eq!(nodes.eval(0, "proc_lib:spawn(fun() -> orbit_gs:twice(a) end), ok.").as_deref(), Ok("ok"));
    let console = output_until(&mut engine, 15_000, |t| t.contains("orbit_gs:twice/1")).await;
    assert!(console.contains(&format!("    orbit_gs:twice/1 {}:11\n", source.display())), "{console}");
    assert!(console.contains("    erlang:'*'/2 \n"), "an operator's frame has no place: {console}");

    assert_eq!(nodes.eval(0, "gen_server:call(orbit_gs, stop).").as_deref(), Ok("ok"));
    let console = output_until(&mut engine, 15_000, |t| t.contains("terminating")).await;
    assert!(console.contains(&format!("crash on {node}: #PID<0.")), "{console}");
    assert!(console.contains("exited: :orbit_stopped\n"), "{console}");
    assert!(console.contains("orbit_gs terminating"), "OTP's report, as there are no frames: {console}");

    let i = nodes.add_node();
    let late = nodes.name(i).to_string();
    let want = format!("crash on {late}: ");
    let mut console = String::new();
    for n in 0..20 {
        // Until the session has prepared the node (crashes before that are not forwarded).
        let crash = nodes.eval(i, &format!("proc_lib:spawn(fun() -> exit({{orbit_late_crash, {n}}}) end), ok."));
        assert_eq!(crash.as_deref(), Ok("ok"));
        console.push_str(&output_until(&mut engine, 1_000, |t| t.contains(&want)).await);
        if console.contains(&want) {
            break;
        }
    }
    assert!(console.contains(&want) && console.contains("orbit_late_crash"), "{console}");
    end_clean(engine, &[&dir]).await;
}

/// A server process stopped at a breakpoint, continued, leaves interpreted code and is gone for the
/// editor; its next stop brings it back as the same thread, announced again before the stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_again_after_it_left_comes_back_as_the_same_thread() {
    let (dir, source) = module_file("gs", "orbit_gs", GS);
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir, "debug_info, ");
    assert_eq!(nodes.eval(0, "element(1, orbit_gs:start()).").as_deref(), Ok("ok"));
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line: 8, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let call = spawn_eval(&nodes, 0, "gen_server:call(orbit_gs, ask).".into());
    let (thread, _, _) = next_stop(&mut engine).await;
    engine.resume(thread, Resume::Continue).await.unwrap();
    until(&mut engine, "the thread to go", |e| matches!(e, EngineEvent::ThreadExited { thread: t } if *t == thread))
        .await;
    assert_eq!(call.join().unwrap().unwrap(), "1");
    assert!(engine.threads().iter().all(|t| t.id != thread), "{:?}", engine.threads());

    let call = spawn_eval(&nodes, 0, "gen_server:call(orbit_gs, ask).".into());
    let events = events_until(&mut engine, |e| matches!(e, EngineEvent::Stopped { .. })).await;
    let started = events.iter().position(|e| matches!(e, EngineEvent::ThreadStarted { thread: t } if *t == thread));
    let stopped = events.iter().position(|e| matches!(e, EngineEvent::Stopped { thread: t, .. } if *t == thread));
    assert!(started.is_some() && started < stopped, "{events:?}");
    assert!(engine.threads().iter().any(|t| t.id == thread), "{:?}", engine.threads());
    engine.resume(thread, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap(), "2");
    end_clean(engine, &[&dir]).await;
}

const TP: &str = "-module(orbit_tp).\n-export([f/1, g/1]).\nf(X) ->\n    X + 1.\ng(X) ->\n    X * 2.\n";

/// A log point on a clause's head is a tracepoint (the rate limit changes with it set); once a function
/// breakpoint makes the module interpreted, it becomes an interpreted log point, reported as such, and
/// still prints. A function log point on a function the module lacks says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracepoint_becomes_an_interpreted_log_point_when_its_module_is_interpreted() {
    let (dir, source) = module_file("tp", "orbit_tp", TP);
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir, "debug_info, ");
    assert_eq!(nodes.eval(0, "orbit_tp:f(0).").as_deref(), Ok("1"));
    let mut engine = attach_erlang(&nodes).await;
    let log = LineBreakpoint { line: 3, log_message: Some("f of {X}".into()), ..Default::default() };
    let bps = engine.set_breakpoints(&source, vec![log]).await;
    assert!(bps[0].verified, "{bps:?}");
    engine.set_log_point_rate(20).await;
    assert_eq!(nodes.eval(0, "orbit_tp:f(1).").as_deref(), Ok("2"));
    let console = output_until(&mut engine, 10_000, |t| t.contains("f of 1")).await;
    assert!(console.contains("f of 1"), "the tracepoint prints: {console}");
    assert_eq!(nodes.eval(0, "orbit_dbg:interpreted_here([orbit_tp]).").as_deref(), Ok("[]"));

    let f = engine
        .set_function_breakpoints(vec![
            ("orbit_tp:nope/1 log never {X}".into(), None, None),
            ("orbit_tp:g/1".into(), None, None),
        ])
        .await;
    assert!(!f[0].verified && f[0].message.as_deref().unwrap_or_default().starts_with("orbit_tp:nope/1: "), "{f:?}");
    assert!(f[1].verified, "{f:?}");
    assert_eq!(nodes.eval(0, "orbit_dbg:interpreted_here([orbit_tp]).").as_deref(), Ok("[orbit_tp]"));
    let changed: Vec<_> = engine
        .drain_events()
        .into_iter()
        .filter_map(|e| match e {
            EngineEvent::Breakpoint(s) if s.id == bps[0].id => Some(s),
            _ => None,
        })
        .collect();
    assert!(changed.iter().any(|s| s.verified), "the log point, reported again: {changed:?}");
    assert_eq!(nodes.eval(0, "orbit_tp:f(2).").as_deref(), Ok("3"));
    let console = output_until(&mut engine, 10_000, |t| t.contains("f of 2")).await;
    assert!(console.contains("f of 2"), "the interpreted log point prints: {console}");

    // A function log point in the module now interpreted is an interpreted one too (in place of the
    // line's).
    assert!(engine.set_breakpoints(&source, vec![]).await.is_empty());
    let f = engine
        .set_function_breakpoints(vec![
            ("orbit_tp:g/1".into(), None, None),
            ("orbit_tp:f/1 log f fn {X}".into(), None, None),
        ])
        .await;
    assert!(f.iter().all(|b| b.verified), "{f:?}");
    assert_eq!(nodes.eval(0, "orbit_tp:f(3).").as_deref(), Ok("4"));
    let console = output_until(&mut engine, 10_000, |t| t.contains("f fn 3")).await;
    assert!(console.contains("f fn 3"), "{console}");
    end_clean(engine, &[&dir]).await;
}

/// A log point on a clause's head in a module only another node than the entry has: planned there, it
/// prints there, and the entry node is named as lacking the module. A function log point in a module no
/// node has says the code cannot be read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracepoint_in_a_module_only_another_node_has_is_planned_there() {
    let (dir, source) = module_file("tp_other", "orbit_tp", TP);
    let nodes = TestCluster::erlang(2);
    add_path(&nodes, 1, &dir);
    build_on(&nodes, 1, &source, &dir, "debug_info, ");
    let mut engine = attach_erlang(&nodes).await;
    let log = LineBreakpoint { line: 3, log_message: Some("f of {X}".into()), ..Default::default() };
    let bps = engine.set_breakpoints(&source, vec![log]).await;
    assert!(bps[0].verified, "{bps:?}");
    let not_there =
        format!("{}: the tracepoint on orbit_tp:f/1 does not hold there: the module is not there", nodes.name(0));
    let mut console = console_of(&engine.drain_events());
    if !console.contains(&not_there) {
        console.push_str(&output_until(&mut engine, 10_000, |t| t.contains(&not_there)).await);
    }
    assert!(console.contains(&not_there), "{console}");
    assert_eq!(nodes.eval(1, "orbit_tp:f(1).").as_deref(), Ok("2"));
    let console = output_until(&mut engine, 10_000, |t| t.contains("f of 1")).await;
    assert!(console.contains(&format!("[{} #PID<0.", nodes.name(1))) && console.contains("f of 1"), "{console}");

    let f = engine.set_function_breakpoints(vec![("orbit_nobody:f/1 log {X}".into(), None, None)]).await;
    assert!(!f[0].verified, "{f:?}");
    let why = f[0].message.as_deref().unwrap_or_default();
    assert!(why.starts_with("cannot read the code of orbit_nobody: "), "{f:?}");
    end_clean(engine, &[&dir]).await;
}

/// A process stopped while a process of another node waits for it through `erpc:call`: the console
/// names that caller and how it waits (held on OTP 29+, else left to its own timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_awaited_over_erpc_names_the_caller_on_the_other_node() {
    let (dir, source) = module_file("tp", "orbit_tp", TP);
    let nodes = TestCluster::erlang_with_code_path(2, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir, "debug_info, ");
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line: 4, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let spawned = nodes.eval(
        1,
        &format!(
            "register(orbit_rpc_caller, spawn(fun() -> R = erpc:call('{}', orbit_tp, f, [1], 60000), \
             receive {{From, get}} -> From ! R end end)), ok.",
            nodes.name(0)
        ),
    );
    assert_eq!(spawned.as_deref(), Ok("ok"));
    let (thread, _, _) = next_stop(&mut engine).await;
    // OTP 29+ holds it (a thread of its own, on its node), earlier releases name it and leave it.
    let how = "(an :erpc/:rpc call";
    let console = output_until(&mut engine, 10_000, |t| t.contains(how)).await;
    assert!(console.contains(how) && console.contains(nodes.name(1)), "{console}");
    let frames = engine.stack_trace(thread).await.unwrap();
    assert!(frames.iter().any(|f| f.name.starts_with("← called over :erpc by")), "{frames:?}");
    // Where the caller is held (OTP 29+), continuing it by hand lets it wait on its own: no longer held.
    if let Some(held) = engine.threads().into_iter().find(|t| t.id != thread) {
        let events = engine.resume(held.id, Resume::Continue).await.unwrap();
        assert!(
            events.iter().any(|e| matches!(e, EngineEvent::ThreadExited { thread: t } if *t == held.id)),
            "{events:?}"
        );
    }
    engine.resume(thread, Resume::Continue).await.unwrap();
    let got = nodes.eval(1, "orbit_rpc_caller ! {self(), get}, receive R -> R after 10000 -> timeout end.");
    assert_eq!(got.as_deref(), Ok("2"));
    end_clean(engine, &[&dir]).await;
}

/// `orbit_gl.erl` whose `f/1` multiplies by `k`.
fn gl_source(k: u32) -> String {
    format!("-module(orbit_gl).\n-export([f/1]).\nf(X) ->\n    X * {k}.\n")
}

/// Modules an `interpret` glob names that cannot be interpreted everywhere: the console says why (one
/// without debug info; one another node runs another version of), and the others are interpreted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_an_interpret_glob_names_that_cannot_be_interpreted_say_why() {
    let (dir_a, nd) = module_file("glob", "orbit_gnd", "-module(orbit_gnd).\n-export([g/0]).\ng() ->\n    ok.\n");
    let gl_a = dir_a.join("orbit_gl.erl");
    std::fs::write(&gl_a, gl_source(2)).unwrap();
    let (dir_b, gl_b) = module_file("glob", "orbit_gl", &gl_source(3));
    let nodes = TestCluster::erlang(2);
    add_path(&nodes, 0, &dir_a);
    add_path(&nodes, 1, &dir_b);
    build_on(&nodes, 0, &nd, &dir_a, "");
    build_on(&nodes, 0, &gl_a, &dir_a, "debug_info, ");
    build_on(&nodes, 1, &gl_b, &dir_b, "debug_info, ");
    let config = beam::debugger::AttachConfig {
        seeds: vec![beam::link::NodeName::parse(nodes.name(0)).unwrap()],
        cookie: beam::link::Cookie::new(nodes.cookie.clone()),
        cluster: beam::cluster::ClusterOptions::default(),
        project_dir: None,
        source_map: beam::debugger::SourceMap::default(),
        interpret: vec!["orbit_g*".into()],
        exclude: vec![],
        hold_callers: true,
    };
    let mut engine = IntEngine::attach(config).await.expect("attach");
    let console = console_of(&engine.drain_events());
    let no_debug_info = format!("cannot interpret orbit_gnd on {}: ", nodes.name(0));
    assert!(console.contains(&no_debug_info) && console.contains("no_debug_info"), "{console}");
    let other = format!(
        "{}: breakpoints in orbit_gl do not hold there: it runs another version of it than {}\n",
        nodes.name(1),
        nodes.name(0)
    );
    assert!(console.contains(&other), "{console}");
    assert_eq!(nodes.eval(0, "orbit_dbg:interpreted_here([orbit_gl, orbit_gnd]).").as_deref(), Ok("[orbit_gl]"));
    assert_eq!(nodes.eval(1, "orbit_dbg:interpreted_here([orbit_gl]).").as_deref(), Ok("[]"));
    assert!(engine.breakpoint_locations(&nd, 1, Some(9)).await.is_empty(), "no lines known without debug info");
    end_clean(engine, &[&dir_a, &dir_b]).await;
}

/// A breakpoint's module that a node could not load at first, and then loads in another version: the
/// console says the breakpoint does not hold there, and why, and a call there does not stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_loads_another_version_later_is_named_on_the_console() {
    let (dir_a, gl_a) = module_file("late_other", "orbit_gl", &gl_source(2));
    let (dir_b, gl_b) = module_file("late_other", "orbit_gl", &gl_source(3));
    let nodes = TestCluster::erlang(2);
    add_path(&nodes, 0, &dir_a);
    build_on(&nodes, 0, &gl_a, &dir_a, "debug_info, ");
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&gl_a, vec![LineBreakpoint { line: 4, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    build_on(&nodes, 1, &gl_b, &dir_b, "debug_info, ");
    add_path(&nodes, 1, &dir_b);
    let want = format!(
        "{}: breakpoints in orbit_gl do not hold there: it runs another version of it than {}\n",
        nodes.name(1),
        nodes.name(0)
    );
    let console = output_until(&mut engine, 30_000, |t| t.contains(&want)).await;
    assert!(console.contains(&want), "{console}");
    assert_eq!(nodes.eval(1, "orbit_gl:f(2).").as_deref(), Ok("6"), "node 1 runs on, unstopped");
    end_clean(engine, &[&dir_a, &dir_b]).await;
}

/// Elixir gives a two-element tuple written as a literal no line: a `next` that meets one (the fun's
/// result, `{amount, fee}`) does not stop where the editor cannot show it, and steps on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_elixir_step_goes_on_over_an_expression_without_a_line() {
    let nodes = TestCluster::demo(1);
    let mut engine = common::attach_demo(&nodes, 0).await;
    let fees = orbit_test_harness::demo_dir().join("lib/bank/fees.ex");
    // `fee = fee_for(amount)`, in the fun Bank.Fees.quotes/1 gives Enum.map/2; `{amount, fee}` follows.
    let bps = engine.set_breakpoints(&fees, vec![LineBreakpoint { line: 47, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let call = spawn_eval(&nodes, 0, "'Elixir.Bank.Fees':quotes([250, 300]).".into());
    let (thread, _, _) = next_stop(&mut engine).await;
    engine.resume(thread, Resume::Next).await.unwrap();
    // The next stop is the breakpoint again, for the next amount: nothing stopped in between.
    let (t, reason, _) = next_stop(&mut engine).await;
    assert_eq!((t, reason), (thread, StopReason::Breakpoint));
    let frames = engine.stack_trace(thread).await.unwrap();
    assert_eq!(frames[0].line, 47, "{frames:?}");
    let scopes = engine.scopes(frames[0].id).await.unwrap();
    let locals = engine.variables(scopes[0].variables_reference, None, None).await.unwrap();
    assert!(locals.iter().any(|v| v.name == "amount" && v.value == "300"), "{locals:?}");
    engine.resume(thread, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "[{250,2},{300,3}]");
    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
}

const LOOP: &str = "-module(orbit_loop).\n-export([one/1]).\none(X) ->\n    Y = X + 1,\n    Y.\n";

/// `next` from the last line of a function that native code calls again and again (`lists:map/2`): the
/// step ends as the process leaves interpreted code, and the next call, which finds the step still armed
/// in the interpreter, does not stop on its first line (no breakpoint there): it stops at the breakpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_left_interpreted_code_does_not_stop_the_next_call_on_its_first_line() {
    let (dir, source) = module_file("loop", "orbit_loop", LOOP);
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir, "debug_info, ");
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line: 5, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let call = spawn_eval(&nodes, 0, "lists:map(fun orbit_loop:one/1, [100, 200, 300]).".into());
    for x in 1..=3 {
        let (thread, reason, _) = next_stop(&mut engine).await;
        let frames = engine.stack_trace(thread).await.unwrap();
        assert_eq!((reason, frames[0].line), (StopReason::Breakpoint, 5), "call {x}: {frames:?}");
        let scopes = engine.scopes(frames[0].id).await.unwrap();
        let locals = engine.variables(scopes[0].variables_reference, None, None).await.unwrap();
        assert!(locals.iter().any(|v| v.name == "X" && v.value == (100 * x).to_string()), "{locals:?}");
        let how = if x < 3 { Resume::Next } else { Resume::Continue };
        engine.resume(thread, how).await.unwrap();
    }
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "[101,201,301]");
    end_clean(engine, &[&dir]).await;
}

const ASK_GS: &str =
    "-module(orbit_ask).\n-export([ask/0]).\nask() ->\n    R = gen_server:call(orbit_gs, ask),\n    {asked, R}.\n";

/// A server stopped while its caller is a thread of Orbit's own (stopped there before, then continued):
/// the caller is left as it is, not held. `stepIn` into the server where a breakpoint of the user's
/// already stands stops there once, and both go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_is_a_thread_of_its_own_is_not_held_and_step_in_meets_a_users_breakpoint() {
    let (dir, gs) = module_file("gs", "orbit_gs", GS);
    let ask = dir.join("orbit_ask.erl");
    std::fs::write(&ask, ASK_GS).unwrap();
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &gs, &dir, "debug_info, ");
    build_on(&nodes, 0, &ask, &dir, "debug_info, ");
    assert_eq!(nodes.eval(0, "element(1, orbit_gs:start()).").as_deref(), Ok("ok"));
    let mut engine = attach_erlang(&nodes).await;
    assert_eq!(engine.entry_node(), nodes.name(0));
    let at = |line| vec![LineBreakpoint { line, ..Default::default() }];
    assert!(engine.set_breakpoints(&gs, at(8)).await[0].verified);
    assert!(engine.set_breakpoints(&ask, at(4)).await[0].verified);

    let spawned = nodes.eval(
        0,
        "register(orbit_asker, spawn(fun() -> R = orbit_ask:ask(), receive {From, get} -> From ! R end end)), ok.",
    );
    assert_eq!(spawned.as_deref(), Ok("ok"));
    let (caller, _, _) = next_stop(&mut engine).await;
    engine.resume(caller, Resume::Continue).await.unwrap();
    let (server, _, _) = next_stop(&mut engine).await;
    assert_ne!(server, caller);
    // Past the moment the callers of a stop are looked for.
    let console = output_until(&mut engine, 1_000, |_| false).await;
    assert!(!console.contains("waits for") && !console.contains("callers wait"), "{console}");
    engine.resume(server, Resume::Continue).await.unwrap();
    let got = nodes.eval(0, "orbit_asker ! {self(), get}, receive R -> R after 10000 -> timeout end.");
    assert_eq!(got.map(|g| g.replace(' ', "")).as_deref(), Ok("{asked,1}"));

    let call = spawn_eval(&nodes, 0, "orbit_ask:ask().".into());
    let (caller, _, _) = next_stop(&mut engine).await;
    engine.resume(caller, Resume::StepIn).await.unwrap();
    let stopped = until(
        &mut engine,
        "the server's stop",
        |e| matches!(e, EngineEvent::Stopped { thread, .. } if *thread != caller),
    )
    .await;
    let EngineEvent::Stopped { thread: server, .. } = stopped else { unreachable!() };
    let frames = engine.stack_trace(server).await.unwrap();
    assert_eq!((frames[0].name.as_str(), frames[0].line), ("orbit_gs:handle_call/3", 8));
    engine.resume(server, Resume::Continue).await.unwrap();
    let (t, reason, _) = next_stop(&mut engine).await;
    assert_eq!((t, reason), (caller, StopReason::Step), "the caller's step ends on its next line");
    engine.resume(caller, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "{asked,2}");
    end_clean(engine, &[&dir]).await;
}

const LATE: &str = "-module(orbit_late).\n-export([twice/1]).\ntwice(X) ->\n    Y = X * 2,\n    Y.\n";

/// A node that joins the session before its code path has the interpreted module (a node still
/// starting): the console says its breakpoints will hold there once it can load it, and they do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_before_it_can_load_an_interpreted_module_holds_its_breakpoints_later() {
    let (dir, source) = module_file("joins", "orbit_late", LATE);
    let mut nodes = TestCluster::erlang(1);
    add_path(&nodes, 0, &dir);
    build_on(&nodes, 0, &source, &dir, "debug_info, ");
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line: 4, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let i = nodes.add_node();
    let late = nodes.name(i).to_string();
    let joined = format!(
        "{late} joined; its application's code is not loadable yet: 1 interpreted module(s) and 1 breakpoint(s) \
         will hold there as soon as it is\n"
    );
    let console = output_until(&mut engine, 30_000, |t| t.contains(&joined)).await;
    assert!(console.contains(&joined), "{console}");
    add_path(&nodes, i, &dir);
    let holds = format!("{late}: breakpoints in orbit_late now hold there too");
    let console = output_until(&mut engine, 30_000, |t| t.contains(&holds)).await;
    assert!(console.contains(&holds), "{console}");
    let call = spawn_eval(&nodes, i, "orbit_late:twice(4).".into());
    let (thread, _, text) = next_stop(&mut engine).await;
    assert!(text.as_deref().is_some_and(|t| t.contains(&late)), "{text:?}");
    engine.resume(thread, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap(), "8");
    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
    assert!(engine.end().await.is_empty(), "a second end has nothing left to undo");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The node that runs OTP's interpreter server for the session goes down (a process of the other node is
/// stopped in the interpreter meanwhile): the session ends, saying which node went and that it ran the
/// server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_running_the_interpreter_server_going_down_ends_the_session() {
    let (dir, source) = module_file("server_down", "orbit_late", LATE);
    let mut nodes = TestCluster::erlang_with_code_path(2, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir, "debug_info, ");
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line: 4, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    assert_eq!(nodes.eval(1, "spawn(orbit_late, twice, [5]), ok.").as_deref(), Ok("ok"));
    next_stop(&mut engine).await;
    let server_node = nodes.name(0).to_string();
    nodes.nodes[0].kill();
    let left = format!("{server_node} left the cluster");
    let gone = format!("{server_node}, which ran OTP's interpreter server for this session, is gone");
    let events =
        events_until(&mut engine, |e| matches!(e, EngineEvent::Terminated { reason } if *reason == gone)).await;
    assert!(console_of(&events).contains(&left), "{events:?}");
    let _ = engine.end().await;
    let _ = std::fs::remove_dir_all(&dir);
}

const TAIL: &str = "-module(orbit_tail).\n-behaviour(gen_server).\n\
-export([start/0, poke/0, ask/0, count/0, init/1, handle_call/3, handle_cast/2]).\n\
start() -> gen_server:start({local, orbit_tail_srv}, orbit_tail, [], []).\n\
init([]) -> {ok, 0}.\n\
handle_call(block, _From, S) -> receive go_on -> {reply, ok, S} end;\n\
handle_call(count, _From, S) -> {reply, S, S};\n\
handle_call(ask, _From, S) -> {reply, asked, S}.\n\
handle_cast(poke, S) -> {noreply, S + 1}.\n\
poke() ->\n    gen_server:cast(orbit_tail_srv, poke).\n\
ask() ->\n    gen_server:call(orbit_tail_srv, ask, 1000).\n\
count() -> gen_server:call(orbit_tail_srv, count).\n";

/// `stepIn` on a call that is the function's last act, to a server that is busy: a cast's caller leaves
/// interpreted code at once and the step into the server is given up (the console says so); a call's
/// caller waits natively, and when it gives up waiting (its timeout) and exits, so does the step. Either
/// way the server, free again, takes the message without stopping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_in_on_a_last_call_to_a_busy_server_is_given_up_when_the_caller_goes() {
    let (dir, source) = module_file("tail", "orbit_tail", TAIL);
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir, "debug_info, ");
    let mut engine = attach_erlang(&nodes).await;
    let at = |line| LineBreakpoint { line, ..Default::default() };
    let bps = engine.set_breakpoints(&source, vec![at(11), at(13)]).await;
    assert!(bps.iter().all(|b| b.verified), "{bps:?}");
    assert_eq!(nodes.eval(0, "element(1, orbit_tail:start()).").as_deref(), Ok("ok"));
    let block = "spawn(fun() -> gen_server:call(orbit_tail_srv, block, infinity) end), ok.";

    assert_eq!(nodes.eval(0, block).as_deref(), Ok("ok"));
    assert_eq!(nodes.eval(0, "spawn(orbit_tail, poke, []), ok.").as_deref(), Ok("ok"));
    let (thread, _, _) = next_stop(&mut engine).await;
    let mut console = console_of(&engine.resume(thread, Resume::StepIn).await.unwrap());
    let given_up = "had not taken the message when";
    console.push_str(&output_until(&mut engine, 10_000, |t| t.contains(given_up)).await);
    assert!(console.contains(given_up) && console.contains("the step into it is given up\n"), "{console}");
    assert_eq!(nodes.eval(0, "orbit_tail_srv ! go_on, ok.").as_deref(), Ok("ok"));
    assert_eq!(nodes.eval(0, "orbit_tail:count().").as_deref(), Ok("1"), "the server took the cast, unstopped");

    assert_eq!(nodes.eval(0, block).as_deref(), Ok("ok"));
    assert_eq!(nodes.eval(0, "register(orbit_tail_asker, spawn(orbit_tail, ask, [])), ok.").as_deref(), Ok("ok"));
    let (thread, _, _) = next_stop(&mut engine).await;
    engine.resume(thread, Resume::StepIn).await.unwrap();
    // Its call times out after a second and it exits; the session hears of it.
    wait_for(&nodes, 0, "whereis(orbit_tail_asker).", "undefined");
    let console = output_until(&mut engine, 10_000, |t| t.contains(given_up)).await;
    assert!(console.contains(given_up) && console.contains("the step into it is given up\n"), "{console}");
    assert_eq!(nodes.eval(0, "orbit_tail_srv ! go_on, ok.").as_deref(), Ok("ok"));
    assert_eq!(
        nodes.eval(0, "orbit_tail:count().").as_deref(),
        Ok("1"),
        "the server answered the stale call, unstopped"
    );
    end_clean(engine, &[&dir]).await;
}

/// `pause` on a thread whose process ended a moment ago (the editor has not heard yet): refused, saying
/// it has exited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_a_process_that_just_exited_says_so() {
    let (dir, source) = module_file("quick", "orbit_late", LATE);
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir, "debug_info, ");
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine.set_breakpoints(&source, vec![LineBreakpoint { line: 4, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    assert_eq!(nodes.eval(0, "register(orbit_quick, spawn(orbit_late, twice, [1])), ok.").as_deref(), Ok("ok"));
    let (thread, _, _) = next_stop(&mut engine).await;
    engine.resume(thread, Resume::Continue).await.unwrap();
    wait_for(&nodes, 0, "whereis(orbit_quick).", "undefined");
    let e = engine.pause(thread).await.unwrap_err();
    assert_eq!(e.0, format!("{}: cannot pause the process: it has exited", nodes.name(0)));
    end_clean(engine, &[&dir]).await;
}

const COUNT: &str = "-module(orbit_count).\n-export([count/1]).\ncount(0) -> done;\ncount(N) -> count(N - 1).\n";

/// `next` on a tail-recursive clause written on one line lands on that same line, one call further:
/// a stop of its own (the argument changed), not a nested part of the line it started from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_on_a_one_line_tail_call_stops_on_the_same_line_one_call_further() {
    let (dir, source) = module_file("count", "orbit_count", COUNT);
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir, "debug_info, ");
    let mut engine = attach_erlang(&nodes).await;
    let bps = engine
        .set_breakpoints(
            &source,
            vec![LineBreakpoint { line: 4, condition: Some("N =:= 3".into()), ..Default::default() }],
        )
        .await;
    assert!(bps[0].verified, "{bps:?}");
    let call = spawn_eval(&nodes, 0, "orbit_count:count(3).".into());
    let (thread, _, _) = next_stop(&mut engine).await;
    for n in [2, 1] {
        engine.resume(thread, Resume::Next).await.unwrap();
        let (t, reason, _) = next_stop(&mut engine).await;
        assert_eq!((t, reason), (thread, StopReason::Step));
        let frames = engine.stack_trace(thread).await.unwrap();
        assert_eq!(frames[0].line, 4, "{frames:?}");
        let scopes = engine.scopes(frames[0].id).await.unwrap();
        let locals = engine.variables(scopes[0].variables_reference, None, None).await.unwrap();
        assert!(locals.iter().any(|v| v.name == "N" && v.value == n.to_string()), "{locals:?}");
    }
    engine.resume(thread, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap(), "done");
    end_clean(engine, &[&dir]).await;
}

/// A crash the interpreter has already forgotten when the session hears of it (someone ran `int:clear/0`
/// on the node meanwhile): nothing to show, and no thread is left behind for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_cleared_from_the_interpreter_before_the_session_attaches_leaves_no_thread() {
    let (dir, source) = module_file("cleared", "orbit_late", LATE);
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    build_on(&nodes, 0, &source, &dir, "debug_info, ");
    let mut engine = attach_erlang(&nodes).await;
    engine.set_exception_filters(&["crashes".to_string()]).await.unwrap();
    let never = LineBreakpoint { line: 4, condition: Some("X =:= never".into()), ..Default::default() };
    assert!(engine.set_breakpoints(&source, vec![never]).await[0].verified);
    assert_eq!(nodes.eval(0, "register(orbit_crasher, spawn(orbit_late, twice, [a])), ok.").as_deref(), Ok("ok"));
    wait_for(&nodes, 0, "whereis(orbit_crasher).", "undefined");
    // The session has not handled the interpreter's news of the crash yet.
    wait_for(&nodes, 0, "lists:any(fun({_, _, S, _}) -> S =:= exit end, int:snapshot()).", "true");
    assert_eq!(nodes.eval(0, "int:clear().").as_deref(), Ok("ok"));
    let events = events_within(&mut engine, 1_500).await;
    assert!(!events.iter().any(|e| matches!(e, EngineEvent::ThreadStarted { .. })), "{events:?}");
    assert!(engine.threads().is_empty(), "{:?} after {events:?}", engine.threads());
    end_clean(engine, &[&dir]).await;
}

/// `stepIn` when the session's 256 breakpoint slots are all taken (255 conditional breakpoints and the
/// caller's): the trap for the step cannot be set, so the step goes over the line and says why, and the server module it
/// interpreted for the step runs native again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_in_with_every_condition_slot_taken_steps_over_and_undoes_its_interpretation() {
    let (dir, gs) = module_file("slots", "orbit_gs", GS);
    let ask = dir.join("orbit_ask.erl");
    std::fs::write(&ask, ASK_GS).unwrap();
    let many = dir.join("orbit_many.erl");
    let mut text = String::from("-module(orbit_many).\n-export([run/1]).\nrun(X0) ->\n");
    for i in 1..=256 {
        text.push_str(&format!("    X{i} = X{} + 1,\n", i - 1));
    }
    text.push_str("    X256.\n");
    std::fs::write(&many, text).unwrap();
    let nodes = TestCluster::erlang_with_code_path(1, std::slice::from_ref(&dir));
    for source in [&gs, &ask, &many] {
        build_on(&nodes, 0, source, &dir, "debug_info, ");
    }
    assert_eq!(nodes.eval(0, "element(1, orbit_gs:start()).").as_deref(), Ok("ok"));
    let mut engine = attach_erlang(&nodes).await;
    let conditional: Vec<LineBreakpoint> = (4..259)
        .map(|line| LineBreakpoint { line, condition: Some("X0 =:= never".into()), ..Default::default() })
        .collect();
    let bps = engine.set_breakpoints(&many, conditional).await;
    assert!(bps.iter().all(|b| b.verified), "{:?}", bps.iter().find(|b| !b.verified));
    assert!(engine.set_breakpoints(&ask, vec![LineBreakpoint { line: 4, ..Default::default() }]).await[0].verified);

    let call = spawn_eval(&nodes, 0, "orbit_ask:ask().".into());
    let (thread, _, _) = next_stop(&mut engine).await;
    let mut events = engine.resume(thread, Resume::StepIn).await.unwrap();
    events.extend(events_until(&mut engine, |e| matches!(e, EngineEvent::Stopped { .. })).await);
    let console = console_of(&events);
    assert!(
        console.contains("stepIn steps over the line: too many breakpoints in one session (256 at most)\n"),
        "{console}"
    );
    assert_eq!(nodes.eval(0, "orbit_dbg:interpreted_here([orbit_gs]).").as_deref(), Ok("[]"));
    assert_eq!(engine.stack_trace(thread).await.unwrap()[0].line, 5);
    engine.resume(thread, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "{asked,1}");
    end_clean(engine, &[&dir]).await;
}
