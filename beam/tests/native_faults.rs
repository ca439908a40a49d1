//! Native breakpoints (OTP 28+, `+D`) where something goes wrong on a real cluster of `fixtures/demo`: a
//! line the VM has no breakpoint for, a node that runs a hot fix of a module (not the code on its disk), a
//! node that dies while one of its processes is stopped (or before Orbit heard it go), a process killed
//! while stopped, Orbit's native server killed on its node, a step that runs when it is asked what only a
//! stopped process can answer, expressions that fail, steps into calls that land nowhere Orbit can stop.
//! Skipped (with a line saying why) where the nodes' OTP is older than 28: run with `ORBIT_OTP=otp29`.

mod common;

use common::{spawn_eval, until};

use beam::debugger::native_engine::BASE;
use beam::debugger::{AttachConfig, Engine, EngineEvent, IntEngine, LineBreakpoint, Resume, SourceMap, StopReason};
use beam::link::{Cookie, NodeName};
use orbit_test_harness::{demo_dir, TestCluster};

fn native_otp() -> bool {
    let release: u32 = orbit_test_harness::otp_release().parse().unwrap_or(0);
    if release < 28 {
        println!("skipped: native breakpoints need OTP 28+ (erl_debugger); the nodes run OTP {release}");
    }
    release >= 28
}

/// The console text among `events`.
fn console(events: &[EngineEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Output { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Feeds events through the engine until a stop; returns it (thread, reason) with the console text seen
/// on the way.
async fn next_stop(engine: &mut IntEngine) -> (i64, StopReason, String) {
    let mut text = String::new();
    let fut = async {
        loop {
            let raw = engine.next_raw().await.expect("raw events");
            for e in engine.handle_raw(raw).await {
                if let EngineEvent::Output { text: t, .. } = &e {
                    text.push_str(t);
                }
                if let EngineEvent::Stopped { thread, reason, .. } = e {
                    return (thread, reason);
                }
            }
        }
    };
    let (thread, reason) =
        tokio::time::timeout(std::time::Duration::from_secs(30), fut).await.expect("timed out waiting for a stop");
    (thread, reason, text)
}

/// An account opened on node `i` itself (not on the node its id hashes to).
fn open_on(nodes: &TestCluster, i: usize, id: &str) {
    let open = format!("'Elixir.Bank.AccountSupervisor':start_account(<<\"{id}\">>, <<\"ann\">>, 100).");
    assert!(nodes.eval(i, &open).unwrap().starts_with("{ok,"), "open {id} on node {i}");
}

const ACCOUNT: &str = "lib/bank/account.ex";
/// `use GenServer`: the interpreter takes a breakpoint there (the callbacks it defines), the VM none.
const USE_GENSERVER: u32 = 10;
const DEPOSIT: u32 = 74;

/// A line the interpreter can stop at but the VM has no breakpoint for is refused with the node's reason
/// (the other breakpoint of the file holds); at a native stop, an expression that does not parse, or
/// raises, answers the node's message as an error, and a variable cannot be set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_line_without_a_vm_breakpoint_is_refused_and_failing_expressions_answer_errors() {
    if !native_otp() {
        return;
    }
    let nodes = TestCluster::demo_native(1);
    nodes.eval(0, "'Elixir.Bank':open_account(<<\"nf1\">>, <<\"ann\">>, 100).").unwrap();
    let mut engine = common::attach_demo(&nodes, 0).await;
    let file = demo_dir().join(ACCOUNT);
    let bps = engine
        .set_breakpoints(
            &file,
            vec![
                LineBreakpoint { line: USE_GENSERVER, ..Default::default() },
                LineBreakpoint { line: DEPOSIT, ..Default::default() },
            ],
        )
        .await;
    assert!(!bps[0].verified, "{bps:?}");
    assert_eq!(bps[0].message.as_deref(), Some("it holds on no node (see the console)"), "{bps:?}");
    assert!(bps[1].verified, "{bps:?}");
    let text = console(&engine.drain_events());
    let expected = format!(
        "{}: the breakpoint at Bank.Account:{USE_GENSERVER} does not hold there: OTP's erl_debugger has no \
         breakpoint on that line",
        nodes.name(0)
    );
    assert!(text.contains(&expected), "{text}");

    let call = spawn_eval(&nodes, 0, "'Elixir.Bank.Account':deposit(<<\"nf1\">>, 5).".into());
    let (thread, reason, _) = next_stop(&mut engine).await;
    assert_eq!(reason, StopReason::Breakpoint);
    let frames = engine.stack_trace(thread).await.expect("stack");
    assert_eq!(frames[0].line, DEPOSIT);
    let frame = Some(frames[0].id);
    assert_eq!(engine.evaluate("amount * 2", frame).await.expect("evaluate").value, "10");
    for (expression, error) in
        [("amount +", "syntax"), ("amount / 0", "arithmetic"), ("nobody_here + 1", "nobody_here")]
    {
        let e = engine.evaluate(expression, frame).await.expect_err(expression);
        assert!(e.0.contains(error), "{expression}: {e:?}");
    }
    let scopes = engine.scopes(frames[0].id).await.expect("scopes");
    let e = engine.set_variable(scopes[0].variables_reference, "amount", "6").await.expect_err("set_variable");
    assert!(e.0.contains("not possible at a native breakpoint"), "{e:?}");
    engine.resume(thread, Resume::Continue).await.expect("continue");
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "{ok,105}", "the deposit as if never stopped");
    assert!(engine.end().await.is_empty());
}

/// Loads on node `i` a hot fix of `module`: the same code built without line numbers, loaded over the
/// running one and not written to the node's disk.
fn hot_fix(nodes: &TestCluster, i: usize, module: &str) {
    let fix = format!(
        "M = '{module}', {{ok, {{M, [{{debug_info, {{debug_info_v1, B, D}}}}]}}}} = \
         beam_lib:chunks(code:which(M), [debug_info]), {{ok, Fs}} = B:debug_info(erlang_v1, M, D, []), \
         {{ok, M, Bin}} = compile:forms(Fs, [binary, no_line_info]), \
         {{module, M}} = code:load_binary(M, code:which(M), Bin), ok."
    );
    assert_eq!(nodes.eval(i, &fix).unwrap(), "ok");
}

/// A node that runs a hot fix of Bank.Account (code not on its disk) cannot recompile it for
/// breakpoints: the console says so for that node (when the session readies the module for steps, when a
/// breakpoint is set, when a step into a process there needs it), its accounts run on without stopping,
/// and the other node's breakpoint holds; the step into that node steps over the call instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_hot_fixed_module_on_one_node_is_left_alone_and_the_others_stop() {
    if !native_otp() {
        return;
    }
    let nodes = TestCluster::demo_native(2);
    open_on(&nodes, 0, "nf_a0");
    open_on(&nodes, 1, "nf_a1");
    hot_fix(&nodes, 1, "Elixir.Bank.Account");
    let md5 = "'Elixir.Bank.Account':module_info(md5).";
    let fixed = nodes.eval(1, md5).unwrap();
    let config = AttachConfig {
        seeds: vec![NodeName::parse(nodes.name(0)).unwrap()],
        cookie: Cookie::new(nodes.cookie.clone()),
        cluster: Default::default(),
        project_dir: Some(demo_dir()),
        source_map: SourceMap::default(),
        interpret: vec!["Bank.Account".into()],
        exclude: vec![],
        hold_callers: true,
    };
    let mut engine = IntEngine::attach(config).await.expect("attach");
    let refused = format!(
        "{}: native breakpoints in Bank.Account are not possible: the beam on its disk is not the code it runs",
        nodes.name(1)
    );
    let text = console(&engine.drain_events());
    assert!(text.contains(&refused), "readied for steps at attach: {text}");
    assert!(!text.contains(&format!("{}: native breakpoints", nodes.name(0))), "{text}");

    let bps = engine
        .set_breakpoints(&demo_dir().join(ACCOUNT), vec![LineBreakpoint { line: DEPOSIT, ..Default::default() }])
        .await;
    assert!(bps[0].verified, "it holds on node 0: {bps:?}");
    let text = console(&engine.drain_events());
    assert!(text.contains(&refused), "{text}");
    // Node 1's account runs its hot fix, untouched, and does not stop.
    let direct = nodes.eval(1, "'Elixir.Bank.Account':deposit(<<\"nf_a1\">>, 1).").unwrap();
    assert_eq!(direct.replace(' ', ""), "{ok,101}");
    assert_eq!(nodes.eval(1, md5).unwrap(), fixed);
    let call = spawn_eval(&nodes, 0, "'Elixir.Bank.Account':deposit(<<\"nf_a0\">>, 2).".into());
    let (thread, reason, _) = next_stop(&mut engine).await;
    assert_eq!(reason, StopReason::Breakpoint);
    assert!(thread >= BASE);
    engine.resume(thread, Resume::Continue).await.expect("continue");
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "{ok,102}");

    // A step from node 0 into the account on node 1 cannot stop there: it steps over the call.
    let bps = engine
        .set_breakpoints(
            &demo_dir().join("lib/bank/remote.ex"),
            vec![LineBreakpoint { line: 10, ..Default::default() }],
        )
        .await;
    assert!(bps[0].verified, "{bps:?}");
    let call =
        spawn_eval(&nodes, 0, "'Elixir.Bank.Remote':deposit_via_pid('Elixir.Bank':whereis(<<\"nf_a1\">>), 3).".into());
    let (caller, _, _) = next_stop(&mut engine).await;
    let mut events = engine.resume(caller, Resume::StepIn).await.expect("stepIn");
    let (thread, reason, more) = next_stop(&mut engine).await;
    events.extend(engine.drain_events());
    let text = console(&events) + &more;
    assert!(text.contains(&format!("stepIn steps over the line: {refused}")), "{text}");
    assert_eq!((thread, reason), (caller, StopReason::Step));
    assert_eq!(engine.stack_trace(caller).await.expect("stack")[0].line, 11);
    engine.resume(caller, Resume::Continue).await.expect("continue");
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "{deposited,{ok,104},3}");
    assert!(engine.end().await.is_empty());
    assert_eq!(nodes.eval(1, md5).unwrap(), fixed, "the hot fix is still what node 1 runs");
}

/// A node that dies while one of its processes is stopped natively takes its thread with it: a step asked
/// before Orbit heard it go fails naming the node, then the thread exits, requests about it are refused as
/// about no thread, and the session ends cleanly on the node left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_node_dying_with_a_stopped_process_takes_its_thread_away() {
    if !native_otp() {
        return;
    }
    let mut nodes = TestCluster::demo_native(2);
    open_on(&nodes, 1, "nf_d1");
    let mut engine = common::attach_demo(&nodes, 0).await;
    let bps = engine
        .set_breakpoints(&demo_dir().join(ACCOUNT), vec![LineBreakpoint { line: DEPOSIT, ..Default::default() }])
        .await;
    assert!(bps[0].verified, "{bps:?}");
    let call = spawn_eval(&nodes, 1, "'Elixir.Bank.Account':deposit(<<\"nf_d1\">>, 5).".into());
    let (thread, _, _) = next_stop(&mut engine).await;
    assert!(engine.threads().iter().any(|t| t.id == thread));
    let gone = nodes.name(1).to_string();
    nodes.nodes[1].kill();
    // Asked before Orbit heard the node go: the step fails with the node named.
    let e = engine.resume(thread, Resume::StepIn).await.expect_err("stepIn on a dead node");
    assert!(e.0.starts_with(&gone), "{e:?}");
    until(&mut engine, "the thread's exit", |e| matches!(e, EngineEvent::ThreadExited { thread: t } if *t == thread))
        .await;
    assert!(call.join().unwrap().is_err(), "the caller died with its node");
    assert!(engine.threads().iter().all(|t| t.id != thread));
    let e = engine.stack_trace(thread).await.expect_err("stack of a gone thread");
    assert_eq!(e.0, format!("no thread {thread}"));
    // The editor may still send a step for it: refused the same way.
    let e = engine.resume(thread, Resume::StepIn).await.expect_err("stepIn of a gone thread");
    assert_eq!(e.0, format!("no thread {thread}"));
    assert!(engine.end().await.is_empty());
    assert_eq!(nodes.eval(0, "erl_debugger:whereis().").unwrap(), "undefined");
}

const MAILBOX: &str = "lib/bank/mailbox.ex";

/// A thread that runs a step (over a long sleep) is no stopped thread: its stack, another step are refused
/// with that reason; once its process is killed, a pause is refused as of a process no longer alive and
/// the thread goes; the session still ends cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_thread_running_a_step_refuses_stack_and_steps_and_a_dead_one_cannot_be_paused() {
    if !native_otp() {
        return;
    }
    let nodes = TestCluster::demo_native(1);
    // Bank.Mailbox sleeps delay_ms on each message (line 75): longer than the test.
    nodes.eval(0, "sys:replace_state('Elixir.Bank.Mailbox', fun(S) -> S#{delay_ms => 120000} end), ok.").unwrap();
    let mut engine = common::attach_demo(&nodes, 0).await;
    let bps = engine
        .set_breakpoints(&demo_dir().join(MAILBOX), vec![LineBreakpoint { line: 74, ..Default::default() }])
        .await;
    assert!(bps[0].verified, "{bps:?}");
    nodes.eval(0, "'Elixir.Bank.Mailbox':flood(1).").unwrap();
    let (thread, reason, _) = next_stop(&mut engine).await;
    assert_eq!(reason, StopReason::Breakpoint);
    engine.resume(thread, Resume::Next).await.expect("next");
    let (stepped, reason, _) = next_stop(&mut engine).await;
    assert_eq!((stepped, reason), (thread, StopReason::Step));
    assert_eq!(engine.stack_trace(thread).await.expect("stack")[0].line, 75);
    // Over the sleep: the step runs on.
    let events = engine.resume(thread, Resume::Next).await.expect("next over the sleep");
    assert!(events.iter().any(|e| matches!(e, EngineEvent::Continued { thread: t } if *t == thread)), "{events:?}");
    assert!(engine.threads().iter().any(|t| t.id == thread), "a stepping thread stays");
    let runs = "the process runs (it is not stopped at a breakpoint)";
    assert_eq!(engine.stack_trace(thread).await.expect_err("stack of a running thread").0, runs);
    for how in [Resume::Next, Resume::StepIn] {
        let e = engine.resume(thread, how).await.expect_err("a step of a running thread");
        assert_eq!(e.0, format!("{}: {runs}", nodes.name(0)), "{how:?}");
    }
    // Someone kills the process in its sleep (its supervisor starts another).
    let old = nodes.eval(0, "P = whereis('Elixir.Bank.Mailbox'), exit(P, kill), pid_to_list(P).").unwrap();
    let e = engine.pause(thread).await.expect_err("pause of a dead process");
    assert_eq!(e.0, format!("{}: cannot pause the process: the process is no longer alive", nodes.name(0)));
    // Its node says it left: the thread goes.
    until(&mut engine, "the thread's exit", |e| matches!(e, EngineEvent::ThreadExited { thread: t } if *t == thread))
        .await;
    assert!(engine.threads().is_empty(), "{:?}", engine.threads());
    assert!(engine.end().await.is_empty());
    let left = format!("{{is_process_alive(list_to_pid({old})), erl_debugger:whereis()}}.");
    assert_eq!(nodes.eval(0, &left).unwrap().replace(' ', ""), "{false,undefined}");
}

const REMOTE: &str = "lib/bank/remote.ex";

/// stepIn on a native thread: into a function of the project that the line calls (the same process),
/// and over a line whose message lands nowhere Orbit can stop: a name no process holds, a GenServer whose
/// `handle_info/2` is the one `use GenServer` generates (no VM breakpoint there); the console says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_step_in_enters_a_called_function_and_steps_over_sends_it_cannot_follow() {
    if !native_otp() {
        return;
    }
    let nodes = TestCluster::demo_native(1);
    open_on(&nodes, 0, "nf_s0");
    let mut engine = common::attach_demo(&nodes, 0).await;
    let bps = engine
        .set_breakpoints(&demo_dir().join("lib/bank/fees.ex"), vec![LineBreakpoint { line: 47, ..Default::default() }])
        .await;
    assert!(bps[0].verified, "{bps:?}");
    let bps = engine
        .set_breakpoints(
            &demo_dir().join(REMOTE),
            vec![LineBreakpoint { line: 28, ..Default::default() }, LineBreakpoint { line: 34, ..Default::default() }],
        )
        .await;
    assert!(bps.iter().all(|b| b.verified), "{bps:?}");

    // `fee = fee_for(amount)` in the fun of Bank.Fees.quotes/1: into fee_for/1.
    let call = spawn_eval(&nodes, 0, "'Elixir.Bank.Fees':quotes([500]).".into());
    let (thread, _, _) = next_stop(&mut engine).await;
    let events = engine.resume(thread, Resume::StepIn).await.expect("stepIn");
    assert_eq!(console(&events), "", "nothing to say: {events:?}");
    let (stepped, reason, _) = next_stop(&mut engine).await;
    assert_eq!((stepped, reason), (thread, StopReason::Step));
    let frames = engine.stack_trace(thread).await.expect("stack");
    assert_eq!(frames[0].name, "Bank.Fees.fee_for/1", "{frames:?}");
    engine.resume(thread, Resume::Continue).await.expect("continue");
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "[{500,5}]");

    let node = nodes.name(0).to_string();
    for (call, line, why, result) in [
        (
            format!("'Elixir.Bank.Remote':shout('{node}')."),
            34,
            format!("no process is registered as nobody_here on {node}"),
            format!("{{sent,hello,{node}}}"),
        ),
        (
            "'Elixir.Bank.Remote':note('Elixir.Bank':whereis(<<\"nf_s0\">>), hi).".to_string(),
            28,
            // The first line of the generated handle_info/2's clause (a line of GenServer's macro).
            format!("{node}: the breakpoint at Bank.Account:"),
            "{sent,{note,hi},hi}".to_string(),
        ),
    ] {
        let pending = spawn_eval(&nodes, 0, call.clone());
        let (thread, _, _) = next_stop(&mut engine).await;
        assert_eq!(engine.stack_trace(thread).await.expect("stack")[0].line, line);
        let events = engine.resume(thread, Resume::StepIn).await.expect("stepIn");
        let text = console(&events);
        assert!(text.contains(&format!("stepIn steps over the line: {why}")), "{call}: {text}");
        if line == 28 {
            assert!(text.contains("does not hold there: OTP's erl_debugger has no breakpoint on that line"), "{text}");
        }
        let (stepped, reason, _) = next_stop(&mut engine).await;
        assert_eq!((stepped, reason), (thread, StopReason::Step));
        assert_eq!(engine.stack_trace(thread).await.expect("stack")[0].line, line + 1, "{call}");
        engine.resume(thread, Resume::Continue).await.expect("continue");
        assert_eq!(pending.join().unwrap().unwrap().replace(' ', ""), result.replace(' ', ""), "{call}");
    }
    // The failed trap left nothing armed: the account takes a message and answers as ever.
    let balance = nodes.eval(0, "'Elixir.Bank.Account':balance(<<\"nf_s0\">>).").unwrap();
    assert_eq!(balance.replace(' ', ""), "{ok,100}");
    assert!(engine.end().await.is_empty());
}

/// A process killed while it is stopped natively (from a shell, by its supervisor) leaves the threads at
/// once, its caller gets the exit, and the breakpoint stops the next process that reaches it as ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_process_killed_while_stopped_leaves_the_threads() {
    if !native_otp() {
        return;
    }
    let nodes = TestCluster::demo_native(1);
    open_on(&nodes, 0, "nf_k0");
    open_on(&nodes, 0, "nf_k1");
    let mut engine = common::attach_demo(&nodes, 0).await;
    let bps = engine
        .set_breakpoints(&demo_dir().join(ACCOUNT), vec![LineBreakpoint { line: DEPOSIT, ..Default::default() }])
        .await;
    assert!(bps[0].verified, "{bps:?}");
    let deposit = "catch 'Elixir.Bank.Account':deposit(<<\"nf_k0\">>, 5).";
    let call = spawn_eval(&nodes, 0, deposit.into());
    let (thread, _, _) = next_stop(&mut engine).await;
    let frames = engine.stack_trace(thread).await.expect("stack");
    let scopes = engine.scopes(frames[0].id).await.expect("scopes");
    let killed = "exit('Elixir.Bank':whereis(<<\"nf_k0\">>), kill).";
    assert_eq!(nodes.eval(0, killed).unwrap(), "true");
    until(&mut engine, "the thread's exit", |e| matches!(e, EngineEvent::ThreadExited { thread: t } if *t == thread))
        .await;
    assert!(engine.threads().is_empty(), "{:?}", engine.threads());
    let e = engine.variables(scopes[0].variables_reference, None, None).await.expect_err("variables of the dead");
    assert!(e.0.contains("no variables reference"), "{e:?}");
    let exit = call.join().unwrap().unwrap();
    assert!(exit.contains("EXIT") && exit.contains("killed"), "the caller gets the exit: {exit}");
    // The breakpoint holds for the next process.
    let call = spawn_eval(&nodes, 0, "'Elixir.Bank.Account':deposit(<<\"nf_k1\">>, 1).".into());
    let (next, reason, _) = next_stop(&mut engine).await;
    assert_eq!(reason, StopReason::Breakpoint);
    engine.resume(next, Resume::Continue).await.expect("continue");
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "{ok,101}");
    assert!(engine.end().await.is_empty());
}

/// Orbit's native debugger server killed on a node under a session (from a shell, by a tool that kills
/// processes): erl_debugger lets go with it, so the breakpoint stops nothing there any more, and ending the
/// session says that node could not be restored, and what is left on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_server_killed_under_the_session_is_reported_when_it_ends() {
    if !native_otp() {
        return;
    }
    let nodes = TestCluster::demo_native(1);
    open_on(&nodes, 0, "nf_x0");
    let mut engine = common::attach_demo(&nodes, 0).await;
    let bps = engine
        .set_breakpoints(&demo_dir().join(ACCOUNT), vec![LineBreakpoint { line: DEPOSIT, ..Default::default() }])
        .await;
    assert!(bps[0].verified, "{bps:?}");
    let kill = "P = whereis(orbit_native), Ref = monitor(process, P), exit(P, kill), \
                receive {'DOWN', Ref, _, _, _} -> erl_debugger:whereis() end.";
    assert_eq!(nodes.eval(0, kill).unwrap(), "undefined");
    let deposit = nodes.eval(0, "'Elixir.Bank.Account':deposit(<<\"nf_x0\">>, 5).").unwrap();
    assert_eq!(deposit.replace(' ', ""), "{ok,105}", "no stop: no debugger is registered");
    let notes = engine.end().await;
    assert_eq!(
        notes,
        vec![format!(
            "{}: the native debugger did not stop cleanly: Orbit's native debugger there is no longer running (its \
             breakpoints stop nothing; the modules it recompiled for them stay loaded as they are)",
            nodes.name(0)
        )]
    );
}

/// A node that dies late in the session (before Orbit heard it go): a breakpoint set then holds on the
/// other node and the console names the one gone, the end names it as not restored, and the node left has
/// its original code back and no debugger registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_node_dying_unheard_is_named_by_breakpoints_and_the_end_and_the_other_is_restored() {
    if !native_otp() {
        return;
    }
    let mut nodes = TestCluster::demo_native(2);
    let md5 = "'Elixir.Bank.Account':module_info(md5).";
    let before = nodes.eval(0, md5).unwrap();
    let mut engine = common::attach_demo(&nodes, 0).await;
    let bps = engine
        .set_breakpoints(&demo_dir().join(ACCOUNT), vec![LineBreakpoint { line: DEPOSIT, ..Default::default() }])
        .await;
    assert!(bps[0].verified, "{bps:?}");
    assert_ne!(nodes.eval(0, md5).unwrap(), before, "recompiled for breakpoints");
    let gone = nodes.name(1).to_string();
    nodes.nodes[1].kill();
    // A breakpoint set meanwhile holds on node 0; the console says why not on the node that went.
    let fees = demo_dir().join("lib/bank/fees.ex");
    let bps = engine.set_breakpoints(&fees, vec![LineBreakpoint { line: 13, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let text = console(&engine.drain_events());
    assert!(text.contains(&format!("{gone} is down")) && text.contains("orbit_native:prepare/1"), "{text}");
    let notes = engine.end().await;
    // Named once (the error of the call to it names it): `{gone} is down (…) so orbit_native:stop/0 …`.
    assert!(notes.iter().any(|n| n.contains("orbit_native:stop/0")), "{notes:?}");
    assert!(notes.iter().all(|n| n.starts_with(&gone) && !n.contains(&format!("{gone}: {gone}"))), "{notes:?}");
    assert_eq!(nodes.eval(0, md5).unwrap(), before, "node 0 runs its original code");
    assert_eq!(nodes.eval(0, "erl_debugger:whereis().").unwrap(), "undefined");
}
