//! Cluster operations where a node misbehaves or the user asks for something wrong, on real nodes:
//! sandboxes whose node hangs or whose code lived only on the node that died, profiles and trace sessions
//! refused on one node or started while a node hangs, reloads that meet a node that goes away.

use beam::agent;
use beam::cluster::Cluster;
use beam::sandbox::{self, Children, CreateOptions, DecidedBy, SandboxError, SandboxEventKind, SandboxStatus};
use orbit_test_harness::TestCluster;
use std::time::{Duration, Instant};
mod common;
use common::{eventually, join};

const T: Duration = Duration::from_secs(30);

fn on(node: &str) -> CreateOptions {
    CreateOptions { node: Some(node.to_string()), ..CreateOptions::default() }
}

/// How many copies of sandbox `id` run on node `i` (asked of the node, not of the registry).
fn copies_on(nodes: &TestCluster, i: usize, id: &str) -> usize {
    common::sandbox_copies(nodes, i, id).unwrap_or(0)
}

/// A worker whose code Orbit loads on one node only: the other nodes cannot start it.
const LONE: &str = r#"
-module(opsfault_lone).
-export([start_link/0, init/0]).

start_link() -> {ok, proc_lib:spawn_link(opsfault_lone, init, [])}.

init() -> receive stop -> ok end.
"#;

async fn load_lone(cluster: &Cluster, node: &str) {
    agent::load_from_source(&cluster.link(node).unwrap(), "opsfault_lone", LONE).await.expect("opsfault_lone loads");
}

fn lone() -> Children {
    Children::Erlang(vec!["#{id => w, start => {opsfault_lone, start_link, []}}".into()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_whose_code_died_with_its_node_is_restarted_by_orbit_once_the_code_is_back() {
    let mut nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    load_lone(&cluster, &names[2]).await;
    sandbox::create(&cluster, "lone", &lone(), &on(&names[2])).await.expect("created where its code is");
    sandbox::create(&cluster, "lone-2", &lone(), &on(&names[2])).await.expect("created where its code is");
    nodes.nodes[2].kill();

    // The survivors try on their own and cannot: the module is nowhere else. Both record it.
    let mut tried = Vec::new();
    let recorded = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(l) = sandbox::list(&cluster, T).await {
                tried = l;
                let failed = |id: &str| {
                    tried.iter().find(|s| s.id == id).is_some_and(|s| {
                        s.history.iter().filter(|e| e.kind == SandboxEventKind::FailoverFailed).count() >= 2
                    })
                };
                if failed("lone") && failed("lone-2") {
                    break true;
                }
            }
            if Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    assert!(recorded, "both survivors tried: {tried:#?}");
    let sb = tried.iter().find(|s| s.id == "lone").unwrap();
    assert_eq!((sb.node.as_str(), sb.status), (names[2].as_str(), SandboxStatus::Orphaned));
    assert_eq!(sb.status.to_string(), "orphaned", "as the list shows it");
    let attempt = &sb.history[0];
    assert_eq!((attempt.by, attempt.from.as_str()), (DecidedBy::Cluster, names[2].as_str()));
    assert!(attempt.summary().contains("could not start it on"), "{}", attempt.summary());

    // Moving it is refused: its node is down, failover is the way.
    let moved = sandbox::migrate(&cluster, "lone", &names[0], false, T).await;
    assert!(
        matches!(&moved, Err(SandboxError::SourceDown { id, node }) if id == "lone" && *node == names[2]),
        "{moved:?}"
    );

    // Orbit's recovery meets the same wall, and says so per sandbox.
    let reports = sandbox::recover(&cluster, T).await.expect("the survivors answer");
    assert_eq!(reports.len(), 2, "{reports:?}");
    for r in &reports {
        assert!(r.to.is_none(), "{r:?}");
        let error = r.error.as_deref().unwrap_or_default();
        assert!(error.contains("opsfault_lone"), "{r:?}");
        assert!(r.summary().contains("failover failed"), "{}", r.summary());
    }

    // An orphan can be destroyed from a survivor.
    sandbox::destroy(&cluster, "lone-2", T).await.expect("destroyed from a survivor");
    assert!(sandbox::list(&cluster, T).await.unwrap().iter().all(|s| s.id != "lone-2"));

    // The code is back on the survivors: Orbit restarts it, and says what was lost.
    for n in &names[..2] {
        load_lone(&cluster, n).await;
    }
    let reports = sandbox::recover(&cluster, T).await.expect("the survivors answer");
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!((r.by, r.already), (Some(DecidedBy::Orbit), false));
    let to = r.to.clone().expect("restarted somewhere");
    assert!(to == names[0] || to == names[1], "{r:?}");
    assert!(r.restored.is_empty() && r.handoff_ms.is_none(), "{r:?}");
    assert_eq!(r.lost.len(), 1, "{r:?}");
    assert_eq!(r.lost[0].id, ":w");
    assert!(r.lost[0].start.contains("opsfault_lone"), "{r:?}");
    let summary = r.summary();
    assert!(summary.starts_with(&format!("sandbox lone restarted on {to} after {}", names[2])), "{summary}");

    let sb = sandbox::get(&cluster, "lone", T).await.unwrap();
    assert_eq!((sb.node.as_str(), sb.status, sb.failovers), (to.as_str(), SandboxStatus::Running, 1));
    let event = sb.last_failover().expect("the failover is in the history");
    assert_eq!(event.by, DecidedBy::Orbit);
    assert!(event.summary().ends_with("(by Orbit); :w started afresh"), "{}", event.summary());
    assert_eq!(copies_on(&nodes, 0, "lone") + copies_on(&nodes, 1, "lone"), 1);
    // Nothing left to recover.
    assert!(sandbox::recover(&cluster, T).await.unwrap().is_empty());
    sandbox::destroy(&cluster, "lone", T).await.unwrap();
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_hangs_is_gone_for_orbit_but_not_for_the_cluster_and_its_sandbox_is_not_started_twice() {
    let nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    load_lone(&cluster, &names[2]).await;
    sandbox::create(&cluster, "hang", &lone(), &on(&names[2])).await.unwrap();

    // Orbit drops a silent node after its own tick time (4 s here); the nodes keep it for their
    // net_ticktime (60 s), and will not restart its sandboxes while it may still run them.
    let mut reports = sandbox::watch_failover(&cluster, Duration::from_secs(3)).expect("not read-only");
    nodes.nodes[2].freeze();
    let report = tokio::time::timeout(Duration::from_secs(60), reports.recv())
        .await
        .expect("a failover report")
        .expect("watch running");
    assert_eq!((report.id.as_str(), report.from.as_str()), ("hang", names[2].as_str()));
    assert!(report.to.is_none(), "{report:?}");
    // The survivor asked waits for the sandbox's cluster-wide lock, which the hung node holds a part of.
    assert!(report.error.as_deref().is_some_and(|e| e.contains("did not answer")), "{report:?}");
    assert!(report.summary().contains("failover failed"), "{}", report.summary());
    assert_eq!(copies_on(&nodes, 0, "hang") + copies_on(&nodes, 1, "hang"), 0, "no second copy");

    // Back: the node still runs its one copy, and the registry still places it there.
    nodes.nodes[2].thaw();
    drop(reports);
    let back = eventually(Duration::from_secs(30), || copies_on(&nodes, 2, "hang") == 1).await;
    assert!(back, "node 2 runs it");
    let settled = eventually(Duration::from_secs(30), || {
        copies_on(&nodes, 0, "hang") + copies_on(&nodes, 1, "hang") == 0 && cluster.up_nodes().len() == 3
    })
    .await;
    assert!(settled, "one copy, on node 2; up: {:?}", cluster.up_nodes());
    let sb = sandbox::get(&cluster, "hang", T).await.unwrap();
    assert_eq!((sb.node.as_str(), sb.failovers), (names[2].as_str(), 0), "{sb:?}");
    sandbox::destroy(&cluster, "hang", T).await.unwrap();
    cluster.disconnect().await;
}

// ---------------------------------------------------------------------------------------------------
// Profiles

/// A module with work in it, and a process per node that calls it until told to stop.
const SPIN: &str = r#"
-module(opsfault_spin).
-export([start/0, loop/0, work/1]).

start() -> register(opsfault_spinner, spawn(opsfault_spin, loop, [])), ok.

loop() ->
    _ = work(2000),
    receive stop -> ok after 1 -> opsfault_spin:loop() end.

work(0) -> ok;
work(N) -> _ = erlang:phash2(N), work(N - 1).
"#;

async fn spin_everywhere(cluster: &Cluster) {
    for n in cluster.up_nodes() {
        agent::load_from_source(&cluster.link(&n).unwrap(), "opsfault_spin", SPIN).await.expect("opsfault_spin loads");
        cluster.call(&n, "opsfault_spin", "start", vec![], T).await.expect("spinner starts");
    }
}

fn spin_profile(window: Duration) -> beam::profile::ProfileSpec {
    beam::profile::ProfileSpec::new(vec![beam::profile::Target::Module("opsfault_spin".into())]).with_duration(window)
}

/// Node `i` holds no profiler, no call-time pattern on the spin module and no trace session of a profile.
async fn no_profile_left(nodes: &TestCluster, i: usize) {
    let expr = "{whereis(orbit_profiler), erlang:trace_info({opsfault_spin, work, 1}, call_time), \
                case code:ensure_loaded(trace) of {module, trace} -> [S || {orbit_profile, _} = S <- trace:session_info(all)]; \
                _ -> [] end}.";
    let clean = "{undefined,{call_time,false},[]}";
    let mut last = String::new();
    for _ in 0..150 {
        last = nodes.eval(i, expr).map(|s| s.split_whitespace().collect()).unwrap_or_default();
        if last == clean {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} still holds part of a profile: {last}", nodes.name(i));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_profile_is_named_and_what_the_others_counted_is_kept() {
    let mut nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    spin_everywhere(&cluster).await;

    let run = beam::profile::start(&cluster, spin_profile(Duration::from_secs(30))).await.expect("profile starts");
    assert_eq!(run.nodes().len(), 3);
    tokio::time::sleep(Duration::from_millis(500)).await;
    nodes.nodes[2].kill();
    let p = run.stop().await;
    assert_eq!(p.failed.len(), 1, "{:?}", p.failed);
    assert_eq!(p.failed[0].node, names[2]);
    assert!(!p.failed[0].reason.is_empty());
    assert_eq!(p.nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(), [names[0].as_str(), names[1].as_str()]);
    let work = p.function("opsfault_spin", "work", 1).expect("work/1 was counted");
    assert_eq!(work.nodes.len(), 2, "{}", p.table(5));
    for i in 0..2 {
        no_profile_left(&nodes, i).await;
    }

    // The survivors profile again, start to finish in one call.
    let p =
        beam::profile::run(&cluster, spin_profile(Duration::from_millis(400))).await.expect("a profile of the rest");
    assert!(p.failed.is_empty(), "{:?}", p.failed);
    assert_eq!(p.nodes.len(), 2);
    assert!(p.function("opsfault_spin", "work", 1).is_some_and(|f| f.nodes.len() == 2), "{}", p.table(5));
    for i in 0..2 {
        no_profile_left(&nodes, i).await;
    }
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_orbits_profiling_at_once_never_share_a_node_and_the_refused_one_leaves_nothing() {
    let nodes = TestCluster::erlang(2);
    let a = join(&nodes, 0).await;
    let b = join(&nodes, 1).await;
    spin_everywhere(&a).await;

    // Both check at the same moment (the nodes are free), then both start: a node's profiler is one
    // Orbit's, so at most one of them profiles, and a refusal on any node undoes its start everywhere.
    let window = Duration::from_secs(20);
    let (ra, rb) =
        tokio::join!(beam::profile::start(&a, spin_profile(window)), beam::profile::start(&b, spin_profile(window)));
    let mut running = Vec::new();
    for r in [ra, rb] {
        match r {
            Ok(run) => running.push(run),
            Err(e) => assert!(matches!(e, beam::profile::ProfileError::Busy { .. }), "{e}"),
        }
    }
    assert!(running.len() <= 1, "two profiles at once");
    if let Some(run) = running.pop() {
        assert_eq!(run.nodes().len(), 2, "the winner has every node");
        let p = run.stop().await;
        assert!(p.failed.is_empty(), "{:?}", p.failed);
        assert!(p.function("opsfault_spin", "work", 1).is_some(), "{}", p.table(5));
    }
    for i in 0..2 {
        no_profile_left(&nodes, i).await;
    }
    // Free again: the other Orbit may profile now.
    let p = beam::profile::run(&b, spin_profile(Duration::from_millis(300))).await.expect("free again");
    assert_eq!(p.nodes.len(), 2);
    a.disconnect().await;
    b.disconnect().await;
}

// ---------------------------------------------------------------------------------------------------
// Reloads

/// `opsfault_rl` answering `version()` with `v`.
fn rl_source(v: u32) -> String {
    format!("-module(opsfault_rl).\n-export([version/0]).\nversion() -> {v}.\n")
}

/// `n` nodes joined by Orbit, with `opsfault_rl` version 1 loaded on each from a source file of the test's
/// own (in `dir`, to be removed at the end).
async fn rl_cluster(n: usize) -> (std::sync::Arc<TestCluster>, Cluster, std::path::PathBuf, std::path::PathBuf) {
    use beam::reload::{self, ReloadOptions, ReloadOutcome};
    let nodes = std::sync::Arc::new(TestCluster::erlang(n));
    let cluster = join(&nodes, 0).await;
    let dir = std::env::temp_dir().join(orbit_test_harness::unique_name("opsfault_rl"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("opsfault_rl.erl");
    std::fs::write(&file, rl_source(1)).unwrap();
    let report =
        reload::reload(&cluster, std::slice::from_ref(&file), &ReloadOptions::default()).await.expect("version 1");
    assert_eq!(report.outcome, ReloadOutcome::Loaded, "{report:#?}");
    (nodes, cluster, dir, file)
}

fn rl_version(nodes: &TestCluster, i: usize) -> String {
    nodes.eval(i, "opsfault_rl:version().").unwrap_or_else(|e| e)
}

/// A progress hook that freezes node `i` when the reload reaches `step` (`Compiled`, `Staged` or
/// `Verifying`).
fn freeze_at(nodes: std::sync::Arc<TestCluster>, i: usize, step: &'static str) -> beam::reload::ProgressFn {
    std::sync::Arc::new(move |p: &beam::reload::ReloadProgress| {
        let at = match p {
            beam::reload::ReloadProgress::Compiled { .. } => "Compiled",
            beam::reload::ReloadProgress::Staged { .. } => "Staged",
            beam::reload::ReloadProgress::Verifying { .. } => "Verifying",
            _ => "",
        };
        if at == step {
            nodes.nodes[i].freeze();
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_hangs_while_staging_or_loading_is_named_and_no_node_is_left_on_the_new_version() {
    use beam::reload::{self, NodeOutcome, ReloadOptions, ReloadOutcome};
    let (nodes, cluster, dir, file) = rl_cluster(2).await;
    let names = nodes.names();
    // A bound on each step well under Orbit's tick time (4 s): a hung node is late, not yet gone.
    let opts =
        |hook| ReloadOptions { timeout: Duration::from_millis(1500), progress: hook, ..ReloadOptions::default() };

    // Node 1 hangs before it stages: nothing loads anywhere.
    std::fs::write(&file, rl_source(2)).unwrap();
    let report =
        reload::reload(&cluster, std::slice::from_ref(&file), &opts(Some(freeze_at(nodes.clone(), 1, "Compiled"))))
            .await
            .unwrap();
    nodes.nodes[1].thaw();
    assert_eq!(report.outcome, ReloadOutcome::Aborted, "{report:#?}");
    let hung = report.node(&names[1]).unwrap();
    assert_eq!(hung.outcome, NodeOutcome::Failed, "{hung:?}");
    assert!(hung.error.as_deref().unwrap_or("").contains("did not answer"), "{hung:?}");
    assert_eq!(report.node(&names[0]).unwrap().outcome, NodeOutcome::NotLoaded);
    assert_eq!(rl_version(&nodes, 0), "1");
    assert_eq!(rl_version(&nodes, 1), "1");

    // Node 1 hangs once staged: its load is late, so node 0 goes back to version 1, and node 1 is told
    // to go back too.
    let back = eventually(Duration::from_secs(30), || cluster.up_nodes().len() == 2).await;
    assert!(back, "node 1 is up again for Orbit");
    std::fs::write(&file, rl_source(3)).unwrap();
    let report =
        reload::reload(&cluster, std::slice::from_ref(&file), &opts(Some(freeze_at(nodes.clone(), 1, "Staged"))))
            .await
            .unwrap();
    nodes.nodes[1].thaw();
    assert_eq!(report.outcome, ReloadOutcome::RolledBack, "{report:#?}");
    let hung = report.node(&names[1]).unwrap();
    assert!(matches!(hung.outcome, NodeOutcome::Failed | NodeOutcome::Down), "{hung:?}");
    assert!(hung.error.as_deref().unwrap_or("").contains("rollback"), "{hung:?}");
    let n0 = report.node(&names[0]).unwrap();
    assert_eq!(n0.outcome, NodeOutcome::RolledBack, "{n0:?}");
    assert!(n0.modules[0].rollback.as_deref().unwrap_or("").starts_with("restored"), "{n0:?}");
    assert!(report.consistent, "{report:#?}");
    assert_eq!(rl_version(&nodes, 0), "1");
    // The hung node, back, ran the load and then the rollback it was sent.
    let settled = eventually(Duration::from_secs(20), || rl_version(&nodes, 1) == "1").await;
    assert!(settled, "node 1 runs version {}", rl_version(&nodes, 1));

    // Node 1 hangs once it has loaded: both run the new version, but Orbit could not check node 1's.
    let back = eventually(Duration::from_secs(30), || cluster.up_nodes().len() == 2).await;
    assert!(back, "node 1 is up again for Orbit");
    std::fs::write(&file, rl_source(4)).unwrap();
    let report =
        reload::reload(&cluster, std::slice::from_ref(&file), &opts(Some(freeze_at(nodes.clone(), 1, "Verifying"))))
            .await
            .unwrap();
    nodes.nodes[1].thaw();
    assert_eq!(report.outcome, ReloadOutcome::Loaded, "{report:#?}");
    assert!(!report.consistent, "unverified is not consistent: {report:#?}");
    let hung = report.node(&names[1]).unwrap();
    assert!(hung.error.as_deref().unwrap_or("").starts_with("could not verify"), "{hung:?}");
    assert_eq!(rl_version(&nodes, 0), "4");
    assert_eq!(rl_version(&nodes, 1), "4");
    let _ = std::fs::remove_dir_all(&dir);
    cluster.disconnect().await;
}

// ---------------------------------------------------------------------------------------------------
// Trace sessions

/// An echo server (registered opsfault_echo) and a client that talks to it from another node, sends to a
/// process that is gone, and makes the echo raise.
const TALK: &str = r#"
-module(opsfault_talk).
-export([start_echo/0, echo/0, boom/1, go/2, chat/3]).

start_echo() ->
    Pid = spawn(opsfault_talk, echo, []),
    register(opsfault_echo, Pid),
    Pid.

echo() ->
    receive
        {From, {raise, X}} ->
            R = (catch opsfault_talk:boom(X)),
            From ! {raised, R},
            opsfault_talk:echo();
        {From, Msg} ->
            From ! {echoed, Msg},
            opsfault_talk:echo()
    end.

boom(X) -> erlang:error({boom, X}).

%% Runs the client in a process spawned now, and waits for it.
go(EchoNode, N) ->
    Self = self(),
    spawn(opsfault_talk, chat, [EchoNode, N, Self]),
    receive done -> ok after 20000 -> timeout end.

chat(EchoNode, N, Reply) ->
    Dead = spawn(fun() -> ok end),
    Ref = monitor(process, Dead),
    receive {'DOWN', Ref, _, _, _} -> ok end,
    Dead ! <<"to nobody">>,
    {opsfault_echo, EchoNode} ! {self(), {raise, 1}},
    receive {raised, _} -> ok after 2000 -> ok end,
    lists:foreach(fun(_) ->
                          {opsfault_echo, EchoNode} ! {self(), <<"50% done\nnext;\tagain">>},
                          receive {echoed, _} -> ok after 2000 -> ok end
                  end, lists:seq(1, N)),
    Reply ! done.
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_a_pid_and_of_new_processes_across_nodes_with_a_dead_end_and_an_exception_are_drawn() {
    use beam::term::{atom, int};
    use beam::trace::{self, render, CallTrace, EventKind, Limit, MessageTrace, ProcessSelector, TraceSpec};
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    for n in &names {
        agent::load_from_source(&cluster.link(n).unwrap(), "opsfault_talk", TALK).await.expect("opsfault_talk loads");
    }
    let echo = cluster.call(&names[1], "opsfault_talk", "start_echo", vec![], T).await.unwrap();
    let eetf::Term::Pid(echo) = echo else { panic!("{echo:?}") };
    // The user names the echo by the pid they see, and asks for every process spawned from now on.
    let shown = format!("<0.{}.{}>", echo.id, echo.serial);
    // A pid the node cannot make: refused as not a pid, not as a failed call.
    let e = trace::pid_on(&cluster, &names[1], "<0.99999999999999999999.0>").await.unwrap_err();
    assert!(e.to_string().contains("not a pid such as <0.123.0>"), "{e}");
    let pid = trace::pid_on(&cluster, &names[1], &shown).await.expect("a pid of node 1");
    assert_eq!(pid, echo);
    let selector = ProcessSelector::Pid(pid);
    assert_eq!(selector.to_string(), format!("{shown} on {}", names[1]));
    let mut spec = TraceSpec::messages(MessageTrace::new(vec![selector, ProcessSelector::New]), Limit::Count(20_000));
    spec.calls = vec![CallTrace::parse("opsfault_talk:boom/1").unwrap().with_return_values()];
    let mut session = trace::start(&cluster, spec).await.expect("starts");

    // 210 round trips: more arrows than a diagram draws.
    let r = cluster.call(&names[0], "opsfault_talk", "go", vec![atom(&names[1]), int(210)], T).await.unwrap();
    assert_eq!(r, atom("ok"));
    let exception = |h: &[trace::TraceEvent]| h.iter().any(|e| matches!(e.kind, EventKind::Exception { .. }));
    let settled = eventually(Duration::from_secs(20), || {
        let h = session.history();
        exception(&h) && session.flows().iter().filter(|f| f.is_matched()).count() >= 420
    })
    .await;
    assert!(settled, "{} events, {} flows", session.history().len(), session.flows().len());
    session.stop().await;

    let history = session.history();
    let syntax = session.syntax();
    // The send to the process that was gone is kept, undelivered, and drawn as such.
    let flows = session.flows();
    let nobody = beam::term::binary(b"to nobody".to_vec());
    assert!(flows.iter().any(|f| !f.delivered && f.message == nobody), "{} flows", flows.len());
    let lines: Vec<String> = history.iter().map(|e| render::event_line(e, syntax)).collect();
    // The echo's replies go to a process on the other node, and say so.
    let on_other = format!(" on {}", names[0]);
    assert!(lines.iter().any(|l| l.contains("send") && l.contains(&on_other)), "{:#?}", &lines[..20.min(lines.len())]);
    let summary = session.summary();
    assert_eq!(summary.exceptions, 1, "{summary:?}");
    assert!(summary.matched_messages >= 420, "{summary:?}");

    let mermaid = session.mermaid();
    render::check_mermaid(&mermaid).unwrap_or_else(|e| panic!("{e}\n{mermaid}"));
    assert!(mermaid.contains("-x"), "the dead end: {}", &mermaid[..2000.min(mermaid.len())]);
    assert!(mermaid.contains(": opsfault_talk:boom/1 raised error"), "{}", &mermaid[..2000.min(mermaid.len())]);
    assert!(mermaid.contains(" more not drawn"), "{}", &mermaid[mermaid.len().saturating_sub(500)..]);
    // Labels keep no line break (the term says \n), and Mermaid's own characters are written as entities.
    assert!(mermaid.contains(r"50#37; done\nnext#59;\tagain"), "{}", &mermaid[..3000.min(mermaid.len())]);
    let dot = session.dot();
    render::check_dot(&dot).unwrap_or_else(|e| panic!("{e}\n{dot}"));
    cluster.disconnect().await;
}

/// Node `i` holds no tracer of Orbit, no trace session of one, and no trace on lists:seq/2.
async fn no_tracer_left(nodes: &TestCluster, i: usize) {
    let expr = "{whereis(orbit_tracer), erlang:trace_info({lists, seq, 2}, traced), \
                case code:ensure_loaded(trace) of {module, trace} -> [S || {orbit_trace, _} = S <- trace:session_info(all)]; \
                _ -> [] end}.";
    let clean = "{undefined,{traced,false},[]}";
    let mut last = String::new();
    for _ in 0..150 {
        last = nodes.eval(i, expr).map(|s| s.split_whitespace().collect()).unwrap_or_default();
        if last == clean {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} still traces: {last}", nodes.name(i));
}

fn seq_trace() -> beam::trace::TraceSpec {
    beam::trace::TraceSpec::calls(
        vec![beam::trace::CallTrace::parse("lists:seq/2").unwrap()],
        beam::trace::Limit::Count(10_000),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_orbits_tracing_at_once_never_share_a_node_and_the_refused_one_leaves_nothing() {
    let nodes = TestCluster::erlang(2);
    let a = join(&nodes, 0).await;
    let b = join(&nodes, 1).await;
    // Both check at the same moment (no tracer yet), then both start: a node's tracer is one Orbit's, and
    // a refusal on any node undoes the start on the others.
    let (ra, rb) = tokio::join!(beam::trace::start(&a, seq_trace()), beam::trace::start(&b, seq_trace()));
    let mut running = Vec::new();
    for r in [ra, rb] {
        match r {
            Ok(session) => running.push(session),
            Err(e) => assert!(matches!(e, beam::trace::TraceError::Busy { .. }), "{e}"),
        }
    }
    assert!(running.len() <= 1, "two sessions at once");
    if let Some(mut session) = running.pop() {
        assert_eq!(session.nodes().len(), 2, "the winner traces every node");
        session.stop().await;
    }
    for i in 0..2 {
        no_tracer_left(&nodes, i).await;
    }
    let mut session = beam::trace::start(&b, seq_trace()).await.expect("free again");
    session.stop().await;
    a.disconnect().await;
    b.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_of_named_nodes_leaves_a_node_that_joins_alone() {
    use beam::term::int;
    let mut nodes = TestCluster::erlang(1);
    let cluster = join(&nodes, 0).await;
    let first = nodes.name(0).to_string();
    let mut spec = seq_trace();
    spec.nodes = Some(vec![first.clone()]);
    let mut session = beam::trace::start(&cluster, spec).await.expect("starts");
    let i = nodes.add_node();
    let newcomer = nodes.name(i).to_string();
    let up = eventually(Duration::from_secs(30), || {
        cluster.up_nodes().contains(&newcomer) && cluster.session(&newcomer).is_some()
    })
    .await;
    assert!(up, "Orbit sees the newcomer");
    cluster.call(&newcomer, "lists", "seq", vec![int(1), int(3)], T).await.unwrap();
    cluster.call(&first, "lists", "seq", vec![int(1), int(4)], T).await.unwrap();
    let seen = eventually(Duration::from_secs(20), || session.history().iter().any(|e| e.node == first)).await;
    assert!(seen, "the named node's call");
    assert!(session.history().iter().all(|e| e.node == first), "nothing from the newcomer");
    assert_eq!(session.nodes().keys().cloned().collect::<Vec<_>>(), vec![first.clone()]);
    assert_eq!(nodes.eval(i, "whereis(orbit_tracer).").unwrap(), "undefined");
    session.stop().await;
    no_tracer_left(&nodes, 0).await;
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_balance_that_cannot_move_a_sandbox_says_why_and_leaves_it_running_where_it_was() {
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    // The worker's code is on node 0 only: node 1 cannot run it.
    load_lone(&cluster, &names[0]).await;
    for id in ["bal-1", "bal-2"] {
        sandbox::create(&cluster, id, &lone(), &on(&names[0])).await.unwrap();
    }
    let report = sandbox::balance(&cluster, false, false, T).await.expect("a balance report");
    assert_eq!(report.moves.len(), 1, "{report:?}");
    let m = &report.moves[0];
    assert_eq!((m.from.as_str(), m.to.as_str()), (names[0].as_str(), names[1].as_str()));
    assert!(m.error.as_deref().is_some_and(|e| e.contains("opsfault_lone")), "{m:?}");
    assert_eq!(report.after.get(&names[0]).copied(), Some(2), "{report:?}");
    for id in ["bal-1", "bal-2"] {
        let sb = sandbox::get(&cluster, id, T).await.unwrap();
        assert_eq!((sb.node.as_str(), sb.status, sb.moves), (names[0].as_str(), SandboxStatus::Running, 0), "{sb:?}");
        assert_eq!(copies_on(&nodes, 0, id), 1);
        assert_eq!(copies_on(&nodes, 1, id), 0);
        sandbox::destroy(&cluster, id, T).await.unwrap();
    }
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_lost_while_staging_stops_a_reload_that_must_roll_back_on_node_loss() {
    use beam::reload::{self, NodeOutcome, OnNodeDown, ReloadOptions, ReloadOutcome};
    let (nodes, cluster, dir, file) = rl_cluster(2).await;
    let names = nodes.names();

    // Node 1 hangs before staging, and the bound on each step outlasts Orbit's tick time: Orbit takes it
    // for gone while it stages. With RollBack nothing may load unless every node can.
    std::fs::write(&file, rl_source(2)).unwrap();
    let opts = ReloadOptions {
        timeout: Duration::from_secs(30),
        on_node_down: OnNodeDown::RollBack,
        progress: Some(freeze_at(nodes.clone(), 1, "Compiled")),
        ..ReloadOptions::default()
    };
    let report = reload::reload(&cluster, std::slice::from_ref(&file), &opts).await.unwrap();
    nodes.nodes[1].thaw();
    assert_eq!(report.outcome, ReloadOutcome::Aborted, "{report:#?}");
    let lost = report.node(&names[1]).unwrap();
    assert_eq!(lost.outcome, NodeOutcome::Down, "{lost:?}");
    assert_eq!(report.node(&names[0]).unwrap().outcome, NodeOutcome::NotLoaded);
    assert_eq!(rl_version(&nodes, 0), "1");
    // Awake, node 1 stages what it was sent, and loads none of it.
    let back = eventually(Duration::from_secs(30), || cluster.up_nodes().len() == 2).await;
    assert!(back, "node 1 is back for Orbit");
    assert_eq!(rl_version(&nodes, 1), "1");
    let _ = std::fs::remove_dir_all(&dir);
    cluster.disconnect().await;
}

/// The node that node `i`'s registry says runs sandbox `id`.
fn registry_node(nodes: &TestCluster, i: usize, id: &str) -> String {
    common::sandbox_registry_node(nodes, i, id).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_the_cluster_before_orbit_loses_it_is_reported_as_failed_over_by_the_cluster() {
    // Two nodes: with a third, OTP's global may also part the two survivors while the cut settles (it
    // prevents overlapping partitions), and each would restart the sandbox.
    let mut nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    for n in &names {
        load_lone(&cluster, n).await;
    }
    sandbox::create(&cluster, "cut", &lone(), &on(&names[1])).await.unwrap();
    let mut reports = sandbox::watch_failover(&cluster, T).expect("not read-only");

    // Node 0 loses node 1 (it expects another cookie from it now); Orbit still reaches it.
    let out = nodes
        .eval(0, &format!("erlang:set_cookie('{}', orbit_cut), erlang:disconnect_node('{}').", names[1], names[1]));
    assert!(out.is_ok(), "{out:?}");
    let moved = eventually(Duration::from_secs(30), || {
        registry_node(&nodes, 0, "cut") == names[0] && copies_on(&nodes, 0, "cut") == 1
    })
    .await;
    assert!(
        moved,
        "the survivor failed it over: registry says {}, {} copies",
        registry_node(&nodes, 0, "cut"),
        copies_on(&nodes, 0, "cut")
    );
    let to = names[0].clone();

    // Then Orbit loses node 1 too: its watch finds the failover done and reports it as the cluster's.
    nodes.nodes[1].kill();
    let report = tokio::time::timeout(Duration::from_secs(60), reports.recv())
        .await
        .expect("a failover report")
        .expect("watch running");
    assert_eq!((report.id.as_str(), report.from.as_str()), ("cut", names[1].as_str()));
    assert!(report.error.is_none(), "{report:?}");
    assert_eq!((report.to.as_deref(), report.already, report.by), (Some(to.as_str()), true, Some(DecidedBy::Cluster)));
    assert_eq!(report.lost.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(), [":w"], "{report:?}");
    assert!(report.lost[0].start.contains("opsfault_lone"), "{report:?}");
    let summary = report.summary();
    assert!(summary.contains("by the cluster (without Orbit)"), "{summary}");
    assert_eq!(copies_on(&nodes, 0, "cut"), 1, "one copy");
    drop(reports);
    sandbox::destroy(&cluster, "cut", T).await.unwrap();
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_dropped_after_a_node_died_is_ended_on_the_others() {
    let mut nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, 0).await;
    spin_everywhere(&cluster).await;
    let run = beam::profile::start(&cluster, spin_profile(Duration::from_secs(60))).await.expect("profile starts");
    nodes.nodes[2].kill();
    // The caller gives up on it (a cancelled command, a closed editor): the live nodes end their window
    // now, not in a minute.
    drop(run);
    for i in 0..2 {
        no_profile_left(&nodes, i).await;
    }
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_only_orbit_lost_keeps_its_sandbox_and_the_watch_says_the_cluster_still_has_it() {
    let nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    for n in &names {
        load_lone(&cluster, n).await;
    }
    sandbox::create(&cluster, "kept", &lone(), &on(&names[2])).await.unwrap();
    let mut reports = sandbox::watch_failover(&cluster, Duration::from_secs(2)).expect("not read-only");

    // Node 2 drops Orbit (and will not take it back): Orbit sees it go, the other nodes do not.
    let orbit = cluster.local_name().to_string();
    let out = nodes.eval(2, &format!("erlang:set_cookie('{orbit}', orbit_cut), erlang:disconnect_node('{orbit}')."));
    assert!(out.is_ok(), "{out:?}");
    let report = tokio::time::timeout(Duration::from_secs(60), reports.recv())
        .await
        .expect("a failover report")
        .expect("watch running");
    assert_eq!((report.id.as_str(), report.from.as_str(), report.to.as_deref()), ("kept", names[2].as_str(), None));
    // The survivors refuse while they are still connected to it, until the watch gives up.
    let error = report.error.clone().unwrap_or_default();
    assert!(error.contains("still connected"), "{report:?}");
    assert!(report.summary().contains("failover failed"), "{}", report.summary());
    // Nothing moved: one copy, on node 2, where the registry still places it.
    assert_eq!(copies_on(&nodes, 2, "kept"), 1);
    assert_eq!(copies_on(&nodes, 0, "kept") + copies_on(&nodes, 1, "kept"), 0);
    assert_eq!(registry_node(&nodes, 0, "kept"), names[2]);
    drop(reports);
    sandbox::destroy(&cluster, "kept", T).await.unwrap();
    cluster.disconnect().await;
}

async fn next_update(session: &mut beam::trace::TraceSession) -> beam::trace::TraceUpdate {
    tokio::time::timeout(Duration::from_secs(60), session.next()).await.expect("an update").expect("running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_comes_back_to_a_trace_with_another_tracer_on_it_is_named_and_the_trace_goes_on() {
    use beam::trace::{TraceStopReason, TraceUpdate};
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    let sessions =
        nodes.eval(0, "erlang:system_info(otp_release).").unwrap().trim_matches('"').parse::<u32>().unwrap() >= 27;
    let mut session = beam::trace::start(&cluster, seq_trace()).await.expect("starts");
    let orbit = cluster.local_name().to_string();

    // Node 1 drops Orbit for a while; meanwhile someone traces new processes there with dbg.
    let out = nodes.eval(1, &format!("erlang:set_cookie('{orbit}', orbit_cut), erlang:disconnect_node('{orbit}')."));
    assert!(out.is_ok(), "{out:?}");
    loop {
        if let TraceUpdate::NodeStopped { node, reason, .. } = next_update(&mut session).await {
            assert_eq!(node, names[1]);
            assert!(matches!(reason, TraceStopReason::NodeDown { .. }), "{reason:?}");
            break;
        }
    }
    let dbg = nodes.eval(1, "{ok, _} = dbg:tracer(), {ok, _} = dbg:p(new, [c]), ok.");
    assert_eq!(dbg.as_deref(), Ok("ok"));
    // Orbit may connect again (its discovery does, every 2 s here).
    let out = nodes.eval(1, &format!("erlang:set_cookie('{orbit}', erlang:get_cookie())."));
    assert_eq!(out.as_deref(), Ok("true"));

    // Back: Orbit starts its tracer there again, which the other tracer forbids where the node has no
    // trace sessions (OTP 25/26); with sessions (OTP 27+) both trace.
    let outcome = loop {
        match next_update(&mut session).await {
            TraceUpdate::NodeFailed { node, error } => break Err((node, error)),
            TraceUpdate::NodeStarted { node, .. } => break Ok(node),
            _ => {}
        }
    };
    if sessions {
        assert_eq!(outcome, Ok(names[1].clone()));
    } else {
        let (node, error) = outcome.unwrap_err();
        assert_eq!(node, names[1]);
        assert!(error.contains("dbg") || error.contains("tracer"), "{error}");
        let status = session.nodes();
        assert!(!status[&names[1]].running && status[&names[1]].error.is_some(), "{status:?}");
    }
    // The session goes on on node 0.
    assert!(session.is_running());
    cluster.call(&names[0], "lists", "seq", vec![beam::term::int(1), beam::term::int(2)], T).await.unwrap();
    let seen = eventually(Duration::from_secs(20), || session.history().iter().any(|e| e.node == names[0])).await;
    assert!(seen, "node 0 still traced");
    session.stop().await;
    let _ = nodes.eval(1, "dbg:stop().");
    for i in 0..2 {
        no_tracer_left(&nodes, i).await;
    }
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_dies_during_a_rollback_is_named_and_the_others_go_back() {
    use beam::reload::{self, NodeOutcome, ReloadOptions, ReloadOutcome, ReloadProgress};
    let (nodes, cluster, dir, file) = rl_cluster(3).await;
    let names = nodes.names();

    // Node 1 hangs once staged (its load is late: every node must go back), and node 2 dies as the
    // rollback begins.
    let freeze = freeze_at(nodes.clone(), 1, "Staged");
    let doomed = nodes.nodes[2].os_pid();
    let hook: reload::ProgressFn = std::sync::Arc::new(move |p: &ReloadProgress| {
        freeze(p);
        if let ReloadProgress::RollingBack { .. } = p {
            let killed = std::process::Command::new("kill").args(["-KILL", &doomed.to_string()]).status();
            assert!(killed.is_ok_and(|s| s.success()), "node 2 killed");
        }
    });
    std::fs::write(&file, rl_source(2)).unwrap();
    let opts = ReloadOptions { timeout: Duration::from_millis(1500), progress: Some(hook), ..ReloadOptions::default() };
    let report = reload::reload(&cluster, std::slice::from_ref(&file), &opts).await.unwrap();
    nodes.nodes[1].thaw();
    assert_eq!(report.outcome, ReloadOutcome::RolledBack, "{report:#?}");
    let dead = report.node(&names[2]).unwrap();
    assert_eq!(dead.outcome, NodeOutcome::Down, "{dead:?}");
    assert!(dead.error.as_deref().unwrap_or("").starts_with("went down during the rollback"), "{dead:?}");
    assert_eq!(report.node(&names[0]).unwrap().outcome, NodeOutcome::RolledBack);
    assert_eq!(rl_version(&nodes, 0), "1");
    let _ = std::fs::remove_dir_all(&dir);
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_orbits_moving_one_sandbox_at_once_move_it_once() {
    let nodes = TestCluster::erlang(2);
    let a = join(&nodes, 0).await;
    let b = join(&nodes, 1).await;
    let names = nodes.names();
    for n in &names {
        load_lone(&a, n).await;
    }
    sandbox::create(&a, "mv", &lone(), &on(&names[0])).await.unwrap();
    // Both see it on node 0 and ask node 1 to take it; the sandbox's lock lets one move it, and the other
    // is told where it is now.
    let (ra, rb) =
        tokio::join!(sandbox::migrate(&a, "mv", &names[1], false, T), sandbox::migrate(&b, "mv", &names[1], false, T));
    let mut moved = 0;
    for r in [ra, rb] {
        match r {
            Ok(m) => {
                moved += 1;
                assert_eq!((m.from.as_str(), m.to.as_str()), (names[0].as_str(), names[1].as_str()));
            }
            Err(SandboxError::AlreadyOn { id, node }) => {
                assert_eq!((id.as_str(), node.as_str()), ("mv", names[1].as_str()))
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(moved, 1);
    let sb = sandbox::get(&a, "mv", T).await.unwrap();
    assert_eq!((sb.node.as_str(), sb.status, sb.moves), (names[1].as_str(), SandboxStatus::Running, 1), "{sb:?}");
    assert_eq!((copies_on(&nodes, 0, "mv"), copies_on(&nodes, 1, "mv")), (0, 1));
    sandbox::destroy(&a, "mv", T).await.unwrap();
    a.disconnect().await;
    b.disconnect().await;
}
