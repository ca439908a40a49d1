//! Sandboxes against real 3-node clusters of the demo bank: create, list, migrate with handoff, destroy,
//! failover, balance, a reconnecting Orbit, and bad inputs.

use beam::sandbox::{self, Children, CreateOptions, SandboxError, SandboxStatus};
use beam::term::{atom, binary, int, tuple};
use orbit_test_harness::TestCluster;
use std::time::Duration;
mod common;
use common::join;

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

    let mut reports = sandbox::watch_failover(&cluster, T);
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
    let summary = report.summary();
    assert!(summary.contains("state lost") && summary.contains(&names[2]), "{summary}");

    let sb = sandbox::get(&cluster, "fo", T).await.unwrap();
    assert_eq!((sb.node.as_str(), sb.status, sb.failovers), (to.as_str(), SandboxStatus::Running, 1));
    // The deposit lived only in the dead node's memory.
    assert_eq!(balance(&nodes, 0, "fo-1"), "{ok, 10}");

    // A second failover of the same node finds nothing left to do.
    assert!(sandbox::failover(&cluster, &names[2], T).await.unwrap().is_empty());
    cluster.disconnect().await;
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
    assert!(matches!(err, SandboxError::UnknownNode { .. }) && err.to_string().contains("nobody@nowhere"), "{err}");
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
    assert!(matches!(err, SandboxError::UnknownNode { .. }), "{err}");

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
