//! Sandboxes against real 3-node clusters of the demo bank: create, list, migrate with handoff, destroy,
//! failover (by Orbit, and by the cluster without Orbit), balance, a reconnecting Orbit, a cut that
//! heals, and bad inputs.

use beam::cluster::{Cluster, NodeUnavailable};
use beam::link::{Cookie, NodeName};
use beam::sandbox::{self, Children, CreateOptions, DecidedBy, SandboxError, SandboxEventKind, SandboxStatus};
use beam::term::{atom, binary, int, tuple};
use orbit_test_harness::TestCluster;
use std::time::Duration;
mod common;
use common::{eventually, join};

const T: Duration = Duration::from_secs(30);

/// A `Bank.Account` child: `{Bank.Account, {id, owner, initial}}` through `Bank.Account.child_spec/1`.
fn account(id: &str, owner: &str, initial: i64) -> Children {
    Children::Module {
        module: "Elixir.Bank.Account".into(),
        arg: tuple(vec![binary(id.as_bytes().to_vec()), binary(owner.as_bytes().to_vec()), int(initial)]),
    }
}

/// `Bank.Account.balance(id)` evaluated on node `i` (finds the account wherever it runs).
fn balance(nodes: &TestCluster, i: usize, id: &str) -> String {
    nodes.eval(i, &format!("'Elixir.Bank.Account':balance(<<\"{id}\">>).")).unwrap()
}

/// The node the account process runs on, asked from node `i`.
fn account_node(nodes: &TestCluster, i: usize, id: &str) -> String {
    nodes.eval(i, &format!("node('Elixir.Bank':whereis(<<\"{id}\">>)).")).unwrap().trim_matches('\'').to_string()
}

fn on(node: &str) -> CreateOptions {
    CreateOptions { node: Some(node.to_string()), ..CreateOptions::default() }
}

/// Connects through node `seed` and waits until the nodes `alive` (indexes) are up with the agent: for
/// clusters where some nodes were stopped.
async fn join_alive(nodes: &TestCluster, seed: usize, alive: &[usize]) -> Cluster {
    let seeds = vec![NodeName::parse(nodes.name(seed)).unwrap()];
    let cluster = Cluster::connect(&seeds, Cookie::new(nodes.cookie.clone()), common::options()).await.unwrap();
    for _ in 0..600 {
        let up = cluster.up_nodes();
        if alive.iter().all(|&i| up.iter().any(|n| n == nodes.name(i)) && cluster.session(nodes.name(i)).is_some()) {
            return cluster;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nodes {alive:?} did not come up: {:?}", cluster.nodes());
}

/// How many copies of sandbox `id` run on node `i` (asked of the node, not of the registry).
fn copies_on(nodes: &TestCluster, i: usize, id: &str) -> usize {
    common::sandbox_copies(nodes, i, id).unwrap()
}

/// The node that node `i`'s registry says runs sandbox `id`.
fn registry_node(nodes: &TestCluster, i: usize, id: &str) -> String {
    common::sandbox_registry_node(nodes, i, id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_is_created_listed_migrated_with_its_state_and_destroyed() {
    let nodes = TestCluster::demo(3);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();

    let sb = sandbox::create(&cluster, "acct", &account("sbx-1", "alice", 100), &on(&names[0])).await.unwrap();
    assert_eq!(sb.id, "acct");
    assert_eq!(sb.node, names[0]);
    assert_eq!(sb.status, SandboxStatus::Running);
    assert_eq!(sb.children.len(), 1);
    assert_eq!(sb.children[0].id, "Bank.Account");
    assert!(sb.children[0].pid.is_some());
    assert!(sb.memory.unwrap() > 0);
    assert_eq!(sb.restarts, Some(0));
    assert_eq!(account_node(&nodes, 1, "sbx-1"), names[0]);
    // The sandbox supervisor hangs under kernel_sup, not under anything of Orbit's.
    let under_kernel = nodes.eval(0, "lists:keymember(orbit_sandbox_sup, 1, supervisor:which_children(kernel_sup)).");
    assert_eq!(under_kernel.as_deref(), Ok("true"));

    // An Agent from an Elixir expression, placed by the health score.
    let counter = sandbox::create(
        &cluster,
        "counter",
        &Children::Elixir(vec!["%{id: :counter, start: {Agent, :start_link, [fn -> 41 end]}}".into()]),
        &CreateOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(counter.status, SandboxStatus::Running);
    assert!(names.contains(&counter.node));

    // Both are listed, from the registry every node holds.
    let all = sandbox::list(&cluster, T).await.unwrap();
    assert_eq!(all.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec!["acct", "counter"]);

    // A child that dies is restarted by the sandbox's supervisor, and counted.
    nodes.eval(0, "exit('Elixir.Bank':whereis(<<\"sbx-1\">>), kill).").unwrap();
    let mut restarted = None;
    for _ in 0..100 {
        let s = sandbox::get(&cluster, "acct", T).await.unwrap();
        if s.restarts == Some(1) && s.children[0].pid.is_some() {
            restarted = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(restarted.is_some(), "restart not counted");

    // State, then a move with handoff: the balance travels with it.
    assert_eq!(balance(&nodes, 2, "sbx-1"), "{ok, 100}");
    nodes.eval(1, "'Elixir.Bank.Account':deposit(<<\"sbx-1\">>, 50).").unwrap();
    assert_eq!(balance(&nodes, 2, "sbx-1"), "{ok, 150}");
    let moved = sandbox::migrate(&cluster, "acct", &names[1], true, T).await.unwrap();
    assert_eq!(moved.from, names[0]);
    assert_eq!(moved.to, names[1]);
    assert_eq!(moved.handed_off, vec!["Bank.Account".to_string()]);
    assert!(moved.not_handed_off.is_empty(), "{moved:?}");
    assert_eq!(moved.sandbox.node, names[1]);
    assert_eq!(moved.sandbox.status, SandboxStatus::Running);
    assert_eq!(moved.sandbox.moves, 1);
    assert_eq!(account_node(&nodes, 2, "sbx-1"), names[1]);
    assert_eq!(balance(&nodes, 2, "sbx-1"), "{ok, 150}");
    assert_eq!(
        nodes.eval(0, "'Elixir.Bank':lookup_on(node(), <<\"sbx-1\">>).").unwrap(),
        "nil",
        "gone from the source"
    );

    // Without handoff the children start afresh.
    let moved = sandbox::migrate(&cluster, "acct", &names[2], false, T).await.unwrap();
    assert!(moved.handed_off.is_empty());
    assert_eq!(balance(&nodes, 0, "sbx-1"), "{ok, 100}");

    // A reconnecting Orbit finds the sandboxes where they run.
    cluster.disconnect().await;
    let cluster = join(&nodes, 0).await;
    let all = sandbox::list(&cluster, T).await.unwrap();
    let acct = all.iter().find(|s| s.id == "acct").expect("acct survives Orbit's disconnect");
    assert_eq!((acct.node.as_str(), acct.status), (names[2].as_str(), SandboxStatus::Running));
    assert!(all.iter().any(|s| s.id == "counter" && s.status == SandboxStatus::Running));

    sandbox::destroy(&cluster, "acct", T).await.unwrap();
    sandbox::destroy(&cluster, "counter", T).await.unwrap();
    assert!(sandbox::list(&cluster, T).await.unwrap().is_empty());
    assert_eq!(balance(&nodes, 0, "sbx-1"), "{error, not_found}");
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_fails_over_when_its_node_is_killed_and_the_lost_state_is_reported() {
    let mut nodes = TestCluster::demo(3);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    sandbox::create(&cluster, "fo", &account("fo-1", "bob", 10), &on(&names[2])).await.unwrap();
    nodes.eval(0, "'Elixir.Bank.Account':deposit(<<\"fo-1\">>, 5).").unwrap();
    assert_eq!(balance(&nodes, 0, "fo-1"), "{ok, 15}");

    let mut reports = sandbox::watch_failover(&cluster, T).expect("not read-only");
    nodes.nodes[2].kill();
    let report = tokio::time::timeout(Duration::from_secs(60), reports.recv())
        .await
        .expect("a failover report")
        .expect("watch running");
    assert_eq!(report.id, "fo");
    assert_eq!(report.from, names[2]);
    assert!(report.error.is_none(), "{report:?}");
    let to = report.to.clone().unwrap();
    assert!(to == names[0] || to == names[1], "{report:?}");
    assert_eq!(report.lost.len(), 1);
    assert_eq!(report.lost[0].id, "Bank.Account");
    assert!(report.lost[0].start.contains("Bank.Account.start_link"), "{report:?}");
    // The survivors restart it on their own; Orbit's watch may have come first. Either way, once.
    assert!(report.by.is_some(), "{report:?}");
    let summary = report.summary();
    assert!(summary.contains("state lost") && summary.contains(&names[2]), "{summary}");

    let sb = sandbox::get(&cluster, "fo", T).await.unwrap();
    assert_eq!((sb.node.as_str(), sb.status, sb.failovers), (to.as_str(), SandboxStatus::Running, 1));
    // The deposit lived only in the dead node's memory.
    assert_eq!(balance(&nodes, 0, "fo-1"), "{ok, 10}");

    // A second failover of the same node finds nothing left to do.
    assert!(sandbox::failover(&cluster, &names[2], T).await.unwrap().is_empty());
    assert_eq!(copies_on(&nodes, 0, "fo") + copies_on(&nodes, 1, "fo"), 1);
    assert_eq!(sb.history.iter().filter(|e| e.kind == SandboxEventKind::Failover).count(), 1, "{:?}", sb.history);
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_orbit_the_survivors_fail_sandboxes_over_once_with_the_handoff_state() {
    let mut nodes = TestCluster::demo(3);
    let names = nodes.names();
    let cluster = join(&nodes, 0).await;
    // An account created on node 1, then moved with handoff to node 2: the registry keeps that state.
    sandbox::create(&cluster, "wo", &account("wo-1", "carol", 10), &on(&names[1])).await.unwrap();
    nodes.eval(0, "'Elixir.Bank.Account':deposit(<<\"wo-1\">>, 5).").unwrap();
    let moved = sandbox::migrate(&cluster, "wo", &names[2], true, T).await.unwrap();
    assert_eq!(moved.handed_off, vec!["Bank.Account".to_string()]);
    let wo = sandbox::get(&cluster, "wo", T).await.unwrap();
    assert!(wo.handoff_ms.is_some(), "{wo:?}");
    assert_eq!(wo.handoff_children, vec!["Bank.Account".to_string()]);
    // A change after the handoff lives only in node 2's memory.
    nodes.eval(0, "'Elixir.Bank.Account':deposit(<<\"wo-1\">>, 7).").unwrap();
    assert_eq!(balance(&nodes, 0, "wo-1"), "{ok, 22}");
    // A second sandbox on node 2, never handed off.
    let agent =
        Children::Erlang(vec!["#{id => counter, start => {'Elixir.Agent', start_link, [fun() -> 41 end]}}".into()]);
    sandbox::create(&cluster, "wo-agent", &agent, &on(&names[2])).await.unwrap();

    // Orbit goes away; then node 2 is stopped.
    cluster.disconnect().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    nodes.nodes[2].kill();

    // The survivors restart both by themselves: the same plan on each (by id, fewest sandboxes first,
    // then the lowest name), so one on each survivor.
    let mut survivors = vec![names[0].clone(), names[1].clone()];
    survivors.sort();
    let placed = eventually(Duration::from_secs(30), || {
        registry_node(&nodes, 0, "wo") == survivors[0] && registry_node(&nodes, 0, "wo-agent") == survivors[1]
    })
    .await;
    assert!(
        placed,
        "wo on {}, wo-agent on {} (expected {survivors:?})",
        registry_node(&nodes, 0, "wo"),
        registry_node(&nodes, 0, "wo-agent")
    );

    // Orbit connects again and finds what happened.
    let cluster = join_alive(&nodes, 0, &[0, 1]).await;
    let all = sandbox::list(&cluster, T).await.unwrap();
    let wo = all.iter().find(|s| s.id == "wo").unwrap();
    assert_eq!((wo.node.as_str(), wo.status, wo.failovers), (survivors[0].as_str(), SandboxStatus::Running, 1));
    let event = wo.last_failover().expect("the failover is in the history");
    assert_eq!(
        (event.by, event.from.as_str(), event.to.as_str()),
        (DecidedBy::Cluster, names[2].as_str(), wo.node.as_str())
    );
    assert_eq!(event.restored, vec!["Bank.Account".to_string()]);
    assert!(event.lost.is_empty(), "{event:?}");
    let summary = event.summary();
    assert!(summary.starts_with(&format!("failed over from {} to {} at ", names[2], wo.node)), "{summary}");
    assert!(summary.contains("(without Orbit)") && summary.contains("restored from the handoff"), "{summary}");
    // The state of the handoff came back; the later deposit was lost with node 2.
    assert_eq!(balance(&nodes, 0, "wo-1"), "{ok, 15}");

    let counter = all.iter().find(|s| s.id == "wo-agent").unwrap();
    assert_eq!((counter.node.as_str(), counter.status), (survivors[1].as_str(), SandboxStatus::Running));
    let event = counter.last_failover().unwrap();
    assert_eq!((event.by, event.lost.clone()), (DecidedBy::Cluster, vec![":counter".to_string()]));
    assert!(event.restored.is_empty());

    // Exactly once: one copy of each, one failover in each history, and nothing left for Orbit to do.
    for id in ["wo", "wo-agent"] {
        assert_eq!(copies_on(&nodes, 0, id) + copies_on(&nodes, 1, id), 1, "{id}");
        let sb = all.iter().find(|s| s.id == id).unwrap();
        assert_eq!(sb.history.len(), 1, "{id}: {:?}", sb.history);
    }
    assert!(sandbox::recover(&cluster, T).await.unwrap().is_empty());
    for id in ["wo", "wo-agent"] {
        sandbox::destroy(&cluster, id, T).await.unwrap();
    }
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_cut_heals_one_copy_of_a_failed_over_sandbox_runs() {
    let nodes = TestCluster::demo(3);
    let names = nodes.names();
    let cluster = join(&nodes, 0).await;
    let agent = Children::Erlang(vec!["#{id => c, start => {'Elixir.Agent', start_link, [fun() -> 1 end]}}".into()]);
    sandbox::create(&cluster, "cut", &agent, &on(&names[2])).await.unwrap();
    cluster.disconnect().await;

    // Cut node 2 off: nodes 0 and 1 expect another cookie from it, so the cut holds until healed.
    for i in [0, 1] {
        let out = nodes
            .eval(i, &format!("erlang:set_cookie('{}', orbit_cut), erlang:disconnect_node('{}').", names[2], names[2]));
        assert!(out.is_ok(), "{out:?}");
    }
    let moved = eventually(Duration::from_secs(30), || {
        let on = registry_node(&nodes, 0, "cut");
        on != names[2] && copies_on(&nodes, if on == names[0] { 0 } else { 1 }, "cut") == 1
    })
    .await;
    assert!(moved, "the survivors failed it over: registry says {}", registry_node(&nodes, 0, "cut"));
    // Node 2, cut off, still runs its copy: two copies while the cut lasts (a known limit).
    assert_eq!(copies_on(&nodes, 2, "cut"), 1);

    // Healed: node 2 learns where the sandbox runs now and stops its copy.
    for i in [0, 1] {
        let out = nodes.eval(
            i,
            &format!(
                "erlang:set_cookie('{}', erlang:get_cookie()), net_kernel:connect_node('{}').",
                names[2], names[2]
            ),
        );
        assert_eq!(out.as_deref(), Ok("true"), "heal {i}");
    }
    // Healed means every node reaches every other: OTP's global may drop the connection between nodes 0
    // and 1 while node 2 comes back (it prevents overlapping partitions), and a network that heals lets
    // them connect again, as the probe's calls do here.
    let mesh = |nodes: &TestCluster| {
        for (a, b) in [(0, 1), (1, 2), (0, 2)] {
            let _ = nodes.eval(a, &format!("net_kernel:connect_node('{}').", nodes.names()[b]));
        }
    };
    let one = eventually(Duration::from_secs(30), || {
        mesh(&nodes);
        (0..3).map(|i| copies_on(&nodes, i, "cut")).sum::<usize>() == 1 && copies_on(&nodes, 2, "cut") == 0
    })
    .await;
    assert!(one, "copies per node: {:?}", (0..3).map(|i| copies_on(&nodes, i, "cut")).collect::<Vec<_>>());
    let on = registry_node(&nodes, 0, "cut");
    assert_eq!(registry_node(&nodes, 2, "cut"), on, "node 2's registry agrees");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failover_plan_is_the_same_everywhere_and_spreads_the_load() {
    let nodes = TestCluster::erlang(1);
    let cluster = join(&nodes, 0).await;
    sandbox::ensure_started(&cluster, T).await.unwrap();
    cluster.disconnect().await;
    // `a:w@h,y@h` for [{<<"a">>, ['w@h', 'y@h']}].
    let plan = |entries: &str, holders: &str| {
        nodes
            .eval(
                0,
                &format!(
                    "string:join([binary_to_list(Id) ++ \":\" ++ string:join([atom_to_list(N) || N <- Ns], \",\") \
                     || {{Id, Ns}} <- orbit_sandbox:plan_failover('d@h', {entries}, {holders})], \";\")."
                ),
            )
            .unwrap()
    };
    // d@h went down holding b and a, f (failed: left alone) and z (destroyed); x@h runs a sandbox already.
    let entries = "[#{id => <<\"b\">>, node => 'd@h', status => running}, \
                    #{id => <<\"a\">>, node => 'd@h', status => running}, \
                    #{id => <<\"f\">>, node => 'd@h', status => failed}, \
                    #{id => <<\"z\">>, node => 'd@h', status => destroyed}, \
                    #{id => <<\"w\">>, node => 'x@h', status => running}]";
    // By id; the fewest sandboxes first, then the lowest name; each one planned counts for the next.
    assert_eq!(plan(entries, "['y@h', 'x@h', 'd@h', 'w@h']"), "\"a:w@h,y@h,x@h;b:y@h,w@h,x@h\"");
    // The same plan whatever order the membership comes in.
    assert_eq!(plan(entries, "['w@h', 'd@h', 'x@h', 'y@h', 'w@h']"), "\"a:w@h,y@h,x@h;b:y@h,w@h,x@h\"");
    // No survivor: no one to start it.
    assert_eq!(plan(entries, "['d@h']"), "\"a:;b:\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_evens_out_sandboxes_and_bad_inputs_give_clear_errors() {
    let nodes = TestCluster::demo(3);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    let agent = |n: i64| {
        Children::Erlang(vec![format!("#{{id => c, start => {{'Elixir.Agent', start_link, [fun() -> {n} end]}}}}")])
    };
    for i in 0..4 {
        sandbox::create(&cluster, &format!("b{i}"), &agent(i), &on(&names[0])).await.unwrap();
    }
    let plan = sandbox::balance(&cluster, true, true, T).await.unwrap();
    assert_eq!(plan.moves.len(), 2, "{plan:?}");
    assert_eq!(sandbox::list(&cluster, T).await.unwrap().iter().filter(|s| s.node == names[0]).count(), 4);
    let done = sandbox::balance(&cluster, true, false, T).await.unwrap();
    assert!(done.moves.iter().all(|m| m.error.is_none()), "{done:?}");
    assert_eq!(done.after.values().copied().collect::<Vec<_>>(), vec![2, 1, 1], "{done:?}");
    for s in sandbox::list(&cluster, T).await.unwrap() {
        assert_eq!(s.status, SandboxStatus::Running);
        let pid = s.children[0].pid_term.clone().unwrap();
        let node = names.iter().position(|n| *n == s.node).unwrap();
        let v = nodes.eval(
            node,
            &format!("'Elixir.Agent':get(list_to_pid(\"<0.{}.{}>\"), fun(X) -> X end).", pid.id, pid.serial),
        );
        assert_eq!(v.unwrap(), s.id[1..], "the Agent's state moved with it");
    }

    // Bad inputs.
    let err = sandbox::create(
        &cluster,
        "x",
        &Children::Module { module: "Elixir.Nope.Missing".into(), arg: atom("nil") },
        &on(&names[1]),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SandboxError::UnknownModule { .. }), "{err}");
    assert!(err.to_string().contains("Nope.Missing"), "{err}");
    let err = sandbox::create(
        &cluster,
        "x",
        &Children::Module { module: "Elixir.Bank.Fees".into(), arg: atom("nil") },
        &on(&names[1]),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SandboxError::NoChildSpec { .. }), "{err}");
    let err = sandbox::create(&cluster, "x", &agent(1), &on("nobody@nowhere")).await.unwrap_err();
    assert!(
        matches!(err, SandboxError::Unavailable(NodeUnavailable::Unknown { .. }))
            && err.to_string().contains("nobody@nowhere"),
        "{err}"
    );
    let err = sandbox::create(&cluster, "b0", &agent(1), &on(&names[1])).await.unwrap_err();
    assert!(matches!(err, SandboxError::AlreadyExists { .. }), "{err}");
    let failing = Children::Elixir(vec!["{Agent, fn -> raise \"no\" end}".into()]);
    let err = sandbox::create(&cluster, "x", &failing, &on(&names[1])).await.unwrap_err();
    assert!(matches!(err, SandboxError::StartFailed { .. }), "{err}");
    let err =
        sandbox::create(&cluster, "x", &Children::Elixir(vec!["{Agent,".into()]), &on(&names[1])).await.unwrap_err();
    assert!(matches!(err, SandboxError::Eval { .. }), "{err}");
    assert!(sandbox::list(&cluster, T).await.unwrap().iter().all(|s| s.id != "x"), "nothing half-made");

    let err = sandbox::destroy(&cluster, "nope", T).await.unwrap_err();
    assert!(matches!(err, SandboxError::UnknownSandbox(_)) && err.to_string().contains("nope"), "{err}");
    let err = sandbox::migrate(&cluster, "nope", &names[1], true, T).await.unwrap_err();
    assert!(matches!(err, SandboxError::UnknownSandbox(_)), "{err}");
    let b0 = sandbox::get(&cluster, "b0", T).await.unwrap();
    let err = sandbox::migrate(&cluster, "b0", &b0.node, true, T).await.unwrap_err();
    assert!(matches!(err, SandboxError::AlreadyOn { .. }), "{err}");
    let err = sandbox::migrate(&cluster, "b0", "nobody@nowhere", true, T).await.unwrap_err();
    assert!(matches!(err, SandboxError::Unavailable(NodeUnavailable::Unknown { .. })), "{err}");

    // A sandbox whose child keeps crashing: its supervisor gives up, and the registry says so.
    let crashy = Children::Elixir(vec![
        "%{id: :t, restart: :permanent, start: {Task, :start_link, [fn -> Process.sleep(50); exit(:boom) end]}}".into(),
    ]);
    sandbox::create(&cluster, "crashy", &crashy, &on(&names[2])).await.unwrap();
    let mut failed = None;
    for _ in 0..200 {
        let s = sandbox::get(&cluster, "crashy", T).await.unwrap();
        if s.status == SandboxStatus::Failed {
            failed = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed = failed.expect("the sandbox is marked failed");
    assert!(failed.reason.is_some(), "{failed:?}");

    for s in sandbox::list(&cluster, T).await.unwrap() {
        sandbox::destroy(&cluster, &s.id, T).await.unwrap();
    }
    assert!(sandbox::list(&cluster, T).await.unwrap().is_empty());
    cluster.disconnect().await;
}

/// On bare Erlang nodes: sandboxes of child specs given as terms, with the one-for-all and rest-for-one
/// strategies, run their children and say their strategy; a migration to where a sandbox already runs is
/// refused, a plain one moves it; children written in Elixir are refused where Elixir is not available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_terms_strategies_and_refusals_on_erlang_nodes() {
    use beam::sandbox::Strategy;
    use beam::term::map;
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    let spec = |id: &str| {
        map(vec![
            (atom("id"), atom(id)),
            (atom("start"), tuple(vec![atom("gen_event"), atom("start_link"), beam::term::list(vec![])])),
        ])
    };
    let children = Children::Specs(vec![spec("first"), spec("second")]);
    for (id, strategy, says) in
        [("all", Strategy::OneForAll, "one_for_all"), ("rest", Strategy::RestForOne, "rest_for_one")]
    {
        let options = CreateOptions { strategy, ..on(&names[0]) };
        let sb = sandbox::create(&cluster, id, &children, &options).await.expect("created");
        assert_eq!(
            (sb.node.as_str(), sb.status, sb.strategy.as_str()),
            (names[0].as_str(), SandboxStatus::Running, says)
        );
        let mut ids: Vec<&str> = sb.children.iter().map(|c| c.id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, [":first", ":second"], "{sb:?}");
        assert!(sb.children.iter().all(|c| c.pid.is_some()), "{sb:?}");
        assert_eq!(copies_on(&nodes, 0, id), 1);
    }
    let e = sandbox::migrate(&cluster, "all", &names[0], false, T).await.unwrap_err();
    assert!(matches!(e, SandboxError::AlreadyOn { .. }), "{e}");
    let moved = sandbox::migrate(&cluster, "all", &names[1], false, T).await.expect("moved");
    assert_eq!((moved.from.as_str(), moved.sandbox.node.as_str()), (names[0].as_str(), names[1].as_str()));
    assert_eq!((copies_on(&nodes, 0, "all"), copies_on(&nodes, 1, "all")), (0, 1));

    let elixir = Children::Elixir(vec!["{Agent, fn -> 0 end}".into()]);
    let e = sandbox::create(&cluster, "ex", &elixir, &on(&names[0])).await.unwrap_err();
    assert!(e.to_string().contains("Elixir is not available"), "{e}");
    for id in ["all", "rest"] {
        sandbox::destroy(&cluster, id, T).await.unwrap();
    }
    assert!(sandbox::list(&cluster, T).await.unwrap().is_empty());
    cluster.disconnect().await;
}

/// On bare Erlang nodes: child specs the node refuses say what is wrong with them (a term that is no spec,
/// a spec `supervisor` rejects, a module whose `child_spec/1` raises or answers something else), and a
/// migration with handoff of a child that is no OTP process moves it, restarted from its spec, and says
/// why its state did not travel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_child_specs_and_a_child_that_cannot_hand_off_its_state() {
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    let src = "-module(orbit_sb_specs).\n-export([child_spec/1, plain/0]).\n\
               child_spec(raise) -> error(no_spec_today);\nchild_spec(_) -> not_a_map.\n\
               plain() -> {ok, spawn_link(fun() -> receive stop -> ok end end)}.\n";
    for n in &names {
        beam::agent::load_from_source(&cluster.link(n).unwrap(), "orbit_sb_specs", src).await.unwrap();
    }
    let refused = |children: Children| {
        let cluster = &cluster;
        let node = names[0].clone();
        async move {
            let err = sandbox::create(cluster, "s", &children, &on(&node)).await.unwrap_err();
            assert!(matches!(err, SandboxError::BadChildSpec { .. }), "{err:?}");
            let text = err.to_string();
            assert!(text.starts_with(&format!("{node}: not a valid child spec: ")), "{text}");
            text
        }
    };
    let module = |arg: &str| Children::Module { module: "orbit_sb_specs".into(), arg: atom(arg) };
    let text = refused(module("raise")).await;
    assert!(text.contains("child_spec/1 raised {error,no_spec_today}"), "{text}");
    assert!(refused(module("other")).await.ends_with("not_a_map"));
    assert!(refused(Children::Specs(vec![int(42)])).await.ends_with(": 42"));
    let text =
        refused(Children::Erlang(vec!["#{id => x, start => {timer, sleep, [1]}, restart => sometimes}".into()])).await;
    assert!(text.contains("sometimes"), "{text}");
    assert!(sandbox::list(&cluster, T).await.unwrap().is_empty(), "nothing half-made");

    let plain = Children::Erlang(vec!["#{id => plain, start => {orbit_sb_specs, plain, []}}".into()]);
    sandbox::create(&cluster, "plain", &plain, &on(&names[0])).await.unwrap();
    let moved = sandbox::migrate(&cluster, "plain", &names[1], true, T).await.expect("moved");
    assert_eq!((moved.from.as_str(), moved.sandbox.node.as_str()), (names[0].as_str(), names[1].as_str()));
    assert!(moved.handed_off.is_empty(), "{moved:?}");
    assert_eq!(
        moved.not_handed_off,
        vec![(":plain".to_string(), "could not be suspended (not an OTP process?)".to_string())]
    );
    assert_eq!(moved.sandbox.status, SandboxStatus::Running);
    assert!(moved.sandbox.children.iter().all(|c| c.pid.is_some()), "restarted on the target: {moved:?}");
    sandbox::destroy(&cluster, "plain", T).await.unwrap();
    cluster.disconnect().await;
}

/// Two survivors of a cut that fail a sandbox over in the same millisecond each make the same version on
/// their own node (seen in a full run: both at 05:33:24.633). Every registry must keep the same entry, the
/// greater node name's, and the other copy stops; before, each node kept its own and both copies ran on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_failovers_of_one_version_end_with_the_same_entry_everywhere() {
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    assert!(names[1] > names[0]);
    let children = Children::Erlang(vec!["#{id => c, start => {gen_event, start_link, []}}".into()]);
    sandbox::create(&cluster, "tie", &children, &on(&names[0])).await.unwrap();
    assert_eq!(copies_on(&nodes, 0, "tie"), 1);

    // Node 1 makes the entry its own failover would: the same version, on itself, and tells everyone.
    let out = nodes.eval(
        1,
        "[{_, E}] = ets:lookup(orbit_sandbox_table, {entry, <<\"tie\">>}), E1 = E#{node => node()}, \
         true = ets:insert(orbit_sandbox_table, {{entry, <<\"tie\">>}, E1}), \
         {_, []} = gen_server:multi_call([node() | nodes()], orbit_sandbox_registry, {put, E1}, 5000), ok.",
    );
    assert_eq!(out.as_deref(), Ok("ok"));
    // Node 0 tells everyone of its own (what a sync after the cut does): it changes nothing.
    let out = nodes.eval(
        0,
        "[{_, E}] = ets:lookup(orbit_sandbox_table, {entry, <<\"tie\">>}), \
         {_, []} = gen_server:multi_call([node() | nodes()], orbit_sandbox_registry, {put, E}, 5000), ok.",
    );
    assert_eq!(out.as_deref(), Ok("ok"));
    let agreed = eventually(Duration::from_secs(10), || {
        registry_node(&nodes, 0, "tie") == names[1]
            && registry_node(&nodes, 1, "tie") == names[1]
            && copies_on(&nodes, 0, "tie") == 0
    })
    .await;
    assert!(
        agreed,
        "registries: {} / {}, copies on node 0: {}",
        registry_node(&nodes, 0, "tie"),
        registry_node(&nodes, 1, "tie"),
        copies_on(&nodes, 0, "tie")
    );
    let _ = sandbox::destroy(&cluster, "tie", T).await;
    cluster.disconnect().await;
}
