//! Listing, inspecting and killing processes, links/monitors graphs and supervision trees, against real
//! clusters.

use beam::cluster::NodeUnavailable;
use beam::processes::{
    self, EdgeKind, Fetched, InfoOptions, KillOutcome, ProcessError, ProcessQuery, ProcessSpec, SortBy,
};
use orbit_test_harness::TestCluster;
use std::collections::BTreeSet;
use std::time::Duration;
mod common;
use common::join;

const T: Duration = Duration::from_secs(15);

fn query() -> ProcessQuery {
    ProcessQuery { limit: 20, ..ProcessQuery::default() }
}

/// Opens `n` accounts from node 0; they land on their owner nodes.
fn open_accounts(nodes: &TestCluster, n: usize) {
    for i in 0..n {
        let out = nodes.eval(0, &format!("'Elixir.Bank':open_account(<<\"acc-{i}\">>, <<\"Owner {i}\">>, 100)."));
        assert!(out.as_deref().is_ok_and(|o| o.starts_with("{ok,")), "open_account: {out:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_inspecting_and_killing_on_the_demo_cluster() {
    let nodes = TestCluster::demo(3);
    let cluster = join(&nodes, 0).await;
    open_accounts(&nodes, 6);

    // Top 10 by memory across the three nodes.
    let page = processes::list(&cluster, &ProcessQuery { limit: 10, ..query() }, T).await.unwrap();
    assert_eq!(page.processes.len(), 10);
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    assert_eq!(page.per_node.len(), 3, "every node answered");
    assert!(page.per_node.values().all(|n| *n > 50), "{:?}", page.per_node);
    assert_eq!(page.total, page.per_node.values().sum::<u64>());
    assert!(page.processes.windows(2).all(|w| w[0].memory >= w[1].memory), "most memory first");
    for p in &page.processes {
        assert!(nodes.names().contains(&p.node));
        assert!(p.pid.starts_with("#PID<0."), "{}", p.pid);
    }
    // the largest process of each node is no larger than the cluster-wide first
    for name in nodes.names() {
        let one = processes::list(&cluster, &ProcessQuery { nodes: vec![name.clone()], limit: 1, ..query() }, T)
            .await
            .unwrap();
        assert_eq!(one.per_node.keys().collect::<Vec<_>>(), vec![&name]);
        assert!(one.processes[0].node == name);
    }
    // the next page continues the listing
    let next = processes::list(&cluster, &ProcessQuery { limit: 10, offset: 10, ..query() }, T).await.unwrap();
    assert_eq!(next.processes.len(), 10);
    assert_eq!(next.offset, 10);
    let first: BTreeSet<(String, String)> = page.processes.iter().map(|p| (p.node.clone(), p.pid.clone())).collect();
    let second: BTreeSet<(String, String)> = next.processes.iter().map(|p| (p.node.clone(), p.pid.clone())).collect();
    assert_ne!(first, second);

    // Filters: a registered name, an initial call, a module, a status.
    let mailboxes =
        processes::list(&cluster, &ProcessQuery { name: Some("^Bank.Mailbox$".into()), ..query() }, T).await.unwrap();
    assert_eq!(mailboxes.processes.len(), 3, "one per node");
    assert!(mailboxes.processes.iter().all(|p| p.registered_name.as_deref() == Some("Bank.Mailbox")));
    let accounts = processes::list(
        &cluster,
        &ProcessQuery { initial_call: Some("Bank.Account.init/1".into()), sort: SortBy::Reductions, ..query() },
        T,
    )
    .await
    .unwrap();
    assert_eq!(accounts.total, 6, "{:?}", accounts.processes);
    assert!(accounts.processes.iter().all(|p| p.initial_call.as_ref().unwrap().elixir() == "Bank.Account.init/1"));
    assert!(accounts.processes.windows(2).all(|w| w[0].reductions >= w[1].reductions));
    let by_module =
        processes::list(&cluster, &ProcessQuery { module: Some("^Elixir.Bank.Ledger$".into()), ..query() }, T)
            .await
            .unwrap();
    assert_eq!(by_module.total, 3);
    let waiting =
        processes::list(&cluster, &ProcessQuery { status: Some("waiting".into()), ..query() }, T).await.unwrap();
    assert!(waiting.processes.iter().all(|p| p.status == "waiting"));

    // The longest queue, by minimum queue length and sorted by it.
    let flooded = nodes.name(2).to_string();
    assert_eq!(nodes.eval(2, "'Elixir.Bank.Mailbox':flood(300).").as_deref(), Ok("300"));
    let queued = processes::list(&cluster, &ProcessQuery { min_queue: 100, sort: SortBy::MessageQueue, ..query() }, T)
        .await
        .unwrap();
    assert_eq!(queued.processes.len(), 1, "{:?}", queued.processes);
    assert_eq!(queued.processes[0].node, flooded);
    assert_eq!(queued.processes[0].registered_name.as_deref(), Some("Bank.Mailbox"));
    assert!(queued.processes[0].message_queue_len >= 100);
    assert_eq!(nodes.eval(2, "'Elixir.Bank.Mailbox':drain().").as_deref(), Ok("ok"));

    // Inspect an account: info, stacktrace with files and lines, state, links.
    let account = &accounts.processes[0];
    let spec = ProcessSpec::parse(&account.pid).unwrap();
    let info = processes::info(&cluster, &account.node, &spec, InfoOptions::default(), T).await.unwrap();
    assert_eq!(info.pid, account.pid);
    assert!(info.otp);
    assert_eq!(info.initial_call.as_ref().unwrap().elixir(), "Bank.Account.init/1");
    let top = &info.stacktrace[0];
    // gen_server:loop/7 up to OTP 26, loop/5 from OTP 27 on.
    assert!(top.function.elixir().starts_with(":gen_server.loop/"), "{}", top.function.elixir());
    assert_eq!(top.file.as_deref(), Some("gen_server.erl"));
    assert!(top.line.unwrap() > 0);
    let Fetched::Value { value: state, .. } = &info.state else { panic!("no state: {:?}", info.state) };
    assert!(state.starts_with("%Bank.Account{"), "{state}");
    assert!(state.contains("balance: 100"), "{state}");
    assert!(state.contains("owner: \"Owner "), "{state}");
    assert!(matches!(info.messages, Fetched::Value { .. }), "{:?}", info.messages);
    assert!(info.links.iter().any(|l| l.node == account.node), "linked to its supervisor: {:?}", info.links);
    assert!(!info.ancestors.is_empty());
    // by registered name too
    let mailbox =
        processes::info(&cluster, &flooded, &ProcessSpec::parse("Bank.Mailbox").unwrap(), InfoOptions::default(), T)
            .await
            .unwrap();
    assert_eq!(mailbox.registered_name.as_deref(), Some("Bank.Mailbox"));

    // The links/monitors graph around the account reaches its supervisor and beyond.
    let graph = processes::graph(&cluster, &account.node, &spec, 2, 100, T).await.unwrap();
    assert_eq!(graph.root.id, account.pid);
    let sup = graph
        .vertices
        .iter()
        .find(|v| v.registered_name.as_deref() == Some("Bank.AccountSupervisor"))
        .expect("the account supervisor is in the graph");
    assert_eq!(sup.distance, 1);
    assert!(graph.edges.iter().any(|e| e.kind == EdgeKind::Link
        && [&e.from, &e.to].contains(&&graph.root)
        && [&e.from, &e.to].contains(&&sup.process)));

    // The supervision tree of the bank application, on every node.
    let trees = processes::supervision_tree(&cluster, "bank", &[], 5, T).await.unwrap();
    assert_eq!(trees.len(), 3);
    for tree in &trees {
        assert_eq!(tree.registered_name.as_deref(), Some("Bank.Supervisor"));
        assert_eq!(tree.application.as_deref(), Some("bank"));
        let names: Vec<&str> = tree.children.iter().filter_map(|c| c.registered_name.as_deref()).collect();
        for want in ["Bank.AccountSupervisor", "Bank.Ledger", "Bank.Mailbox"] {
            assert!(names.contains(&want), "{want} in {names:?}");
        }
    }
    let total_accounts: usize = trees
        .iter()
        .flat_map(|t| t.children.iter())
        .filter(|c| c.registered_name.as_deref() == Some("Bank.AccountSupervisor"))
        .map(|c| c.children.len())
        .sum();
    assert_eq!(total_accounts, 6);
    let by_sup = processes::supervision_tree(&cluster, "Bank.AccountSupervisor", std::slice::from_ref(&flooded), 3, T)
        .await
        .unwrap();
    assert_eq!(by_sup.len(), 1);
    assert_eq!(by_sup[0].node, flooded);

    // Kill with a reason: a transient account that shuts down is not restarted.
    let outcome = processes::kill(
        &cluster,
        &account.node,
        &spec,
        processes::parse_reason("{:shutdown, :test}").unwrap(),
        Duration::from_secs(5),
        T,
    )
    .await
    .unwrap();
    assert_eq!(outcome, KillOutcome::Exited { reason: "{:shutdown, :test}".into() });
    let gone = processes::info(&cluster, &account.node, &spec, InfoOptions::default(), T).await.unwrap_err();
    assert!(matches!(gone, ProcessError::NoProcess { .. }), "{gone}");
    assert!(gone.to_string().contains(&account.pid.trim_start_matches("#PID").to_string()), "{gone}");
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pids_patterns_and_nodes_give_clear_errors() {
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let node = nodes.name(0).to_string();

    let e = processes::list(&cluster, &ProcessQuery { name: Some("Bank.(".into()), ..query() }, T).await.unwrap_err();
    assert!(matches!(e, ProcessError::BadPattern { .. }), "{e:?}");
    // The node's regex library words it: "missing )" (PCRE, OTP ≤ 27), "missing closing parenthesis" (PCRE2).
    let text = e.to_string();
    assert!(text.starts_with("bad name pattern \"Bank.(\": missing ") && text.ends_with(" at position 6"), "{text}");
    let e = processes::list(&cluster, &ProcessQuery { module: Some("[".into()), ..query() }, T).await.unwrap_err();
    assert!(e.to_string().starts_with("bad module pattern \"[\""), "{e}");
    let e =
        processes::list(&cluster, &ProcessQuery { status: Some("sleeping".into()), ..query() }, T).await.unwrap_err();
    assert!(e.to_string().contains("unknown process status \"sleeping\""), "{e}");

    let e = processes::list(&cluster, &ProcessQuery { nodes: vec!["nope@nowhere".into()], ..query() }, T)
        .await
        .unwrap_err();
    assert!(matches!(e, ProcessError::Unavailable(NodeUnavailable::Unknown { .. })));
    assert!(e.to_string().starts_with("nope@nowhere is not a node of this cluster (known: "), "{e}");
    assert!(e.to_string().contains(&node), "{e}");
    let e =
        processes::info(&cluster, "nope@nowhere", &ProcessSpec::parse("<0.1.0>").unwrap(), InfoOptions::default(), T)
            .await
            .unwrap_err();
    assert!(matches!(e, ProcessError::Unavailable(NodeUnavailable::Unknown { .. })), "{e}");

    for bad in ["<0.1>", "#PID<0.x.0>", "<1.2.3 >"] {
        let e = ProcessSpec::parse(bad).unwrap_err();
        assert!(e.to_string().contains("is not a pid"), "{bad}: {e}");
    }
    let e = ProcessSpec::parse("<5.80.0>").unwrap_err();
    assert!(e.to_string().contains("another node's point of view"), "{e}");
    let missing = ProcessSpec::parse("<0.30000.0>").unwrap();
    let e = processes::info(&cluster, &node, &missing, InfoOptions::default(), T).await.unwrap_err();
    assert_eq!(e.to_string(), format!("no process #PID<0.30000.0> on {node} (it may have exited)"));
    let e = processes::kill(&cluster, &node, &missing, beam::term::atom("kill"), Duration::from_secs(1), T)
        .await
        .unwrap_err();
    assert!(matches!(e, ProcessError::NoProcess { .. }), "{e}");
    let e = processes::info(&cluster, &node, &ProcessSpec::parse("No.Such.Name").unwrap(), InfoOptions::default(), T)
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), format!("no process is registered as No.Such.Name on {node}"));
    let e = processes::supervision_tree(&cluster, "no_such_app", &[], 3, T).await.unwrap_err();
    assert!(e.to_string().starts_with("no_such_app is neither a running application nor a registered process"), "{e}");
    assert!(processes::parse_reason("two words").is_err());

    // A plain process has no :sys state, and says so rather than hanging.
    let spec = ProcessSpec::parse(":erts_code_purger").unwrap();
    let info = processes::info(&cluster, &node, &spec, InfoOptions::default(), T).await.unwrap();
    assert!(!info.otp);
    assert_eq!(info.state, Fetched::Unavailable { reason: "not an OTP process (no :sys.get_state)".into() });
    // kernel's own tree
    let trees = processes::supervision_tree(&cluster, ":kernel", std::slice::from_ref(&node), 1, T).await.unwrap();
    assert_eq!(trees[0].registered_name.as_deref(), Some(":kernel_sup"));
    assert!(trees[0].children.iter().any(|c| c.registered_name.as_deref() == Some(":code_server")));
    cluster.disconnect().await;
}

/// Killing by registered name: a process that traps exits outlives `:shutdown` (StillAlive, and it is still
/// there), then `:kill` ends it and the outcome names the reason. A page beyond the window is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_by_name_a_process_that_traps_exits_and_a_page_too_far() {
    let nodes = TestCluster::erlang(1);
    let cluster = join(&nodes, 0).await;
    let node = nodes.name(0).to_string();
    let started = nodes.eval(
        0,
        "Loop = fun L() -> receive _ -> L() end end, \
         register(orbit_survivor, spawn(fun() -> process_flag(trap_exit, true), Loop() end)), ok.",
    );
    assert_eq!(started.as_deref(), Ok("ok"));
    let spec = ProcessSpec::parse(":orbit_survivor").unwrap();
    let out = processes::kill(&cluster, &node, &spec, beam::term::atom("shutdown"), Duration::from_millis(500), T)
        .await
        .unwrap();
    assert_eq!(out, KillOutcome::StillAlive);
    assert!(processes::resolve(&cluster, &node, &spec, T).await.is_ok(), "still registered");
    let out =
        processes::kill(&cluster, &node, &spec, beam::term::atom("kill"), Duration::from_secs(5), T).await.unwrap();
    assert_eq!(out, KillOutcome::Exited { reason: ":killed".into() });
    assert_eq!(nodes.eval(0, "whereis(orbit_survivor).").as_deref(), Ok("undefined"));
    let e =
        processes::kill(&cluster, &node, &spec, beam::term::atom("kill"), Duration::from_secs(1), T).await.unwrap_err();
    assert_eq!(e.to_string(), format!("no process is registered as orbit_survivor on {node}"));

    let far = ProcessQuery { offset: processes::MAX_WINDOW, limit: 10, ..query() };
    let e = processes::list(&cluster, &far, T).await.unwrap_err();
    assert!(matches!(e, ProcessError::Invalid(_)) && e.to_string().contains("page too far"), "{e}");
    cluster.disconnect().await;
}

/// A process linked to a port and monitoring a registered name on another node: its info names the port
/// (from its own node's point of view) and the monitored name with that node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_names_a_linked_port_and_a_name_monitored_on_another_node() {
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let (here, there) = (nodes.name(0).to_string(), nodes.name(1).to_string());
    let started = nodes.eval(
        0,
        &format!(
            "Self = self(), \
             P = spawn(fun() -> open_port({{spawn, \"cat\"}}, []), monitor(process, {{rex, '{there}'}}), \
                                Self ! ready, receive stop -> ok end end), \
             register(orbit_port_owner, P), receive ready -> ok after 5000 -> timeout end."
        ),
    );
    assert_eq!(started.as_deref(), Ok("ok"));
    let spec = ProcessSpec::parse(":orbit_port_owner").unwrap();
    let info = processes::info(&cluster, &here, &spec, InfoOptions::default(), T).await.unwrap();
    assert!(
        info.links.iter().any(|l| l.node == here && l.id.starts_with("#Port<0.")),
        "the port, as its node writes it: {:?}",
        info.links
    );
    assert!(
        info.monitors.iter().any(|m| m.node == there && m.id == ":rex"),
        "rex on the other node: {:?}",
        info.monitors
    );
    nodes.eval(0, "orbit_port_owner ! stop.").unwrap();
    cluster.disconnect().await;
}

/// A supervisor whose children live on another node (started there by their start functions, as
/// distributed supervisors do): its tree shows them as their own node sees them, the remote supervisor
/// with its own child, each under the id its supervisor gives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisors_children_on_another_node_are_expanded_there() {
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let (home, away) = (nodes.name(0).to_string(), nodes.name(1).to_string());
    let src = r#"-module(orbit_remote_sup).
-behaviour(supervisor).
-export([start/1, init/1, remote_worker/1, remote_sup/1, sub/0, leaf/0, worker/0]).
start(Node) ->
    {ok, P} = supervisor:start_link({local, orbit_remote_sup}, orbit_remote_sup, {top, Node}),
    unlink(P),
    ok.
init({top, Node}) ->
    {ok, {#{strategy => one_for_one, intensity => 0},
          [#{id => remote_worker, start => {orbit_remote_sup, remote_worker, [Node]}, restart => temporary},
           #{id => remote_sup, start => {orbit_remote_sup, remote_sup, [Node]}, type => supervisor}]}};
init(sub) ->
    {ok, {#{strategy => one_for_one}, [#{id => leaf, start => {orbit_remote_sup, leaf, []}}]}}.
remote_worker(Node) -> {ok, spawn_link(Node, orbit_remote_sup, worker, [])}.
remote_sup(Node) ->
    {ok, P} = erpc:call(Node, orbit_remote_sup, sub, []),
    link(P),
    {ok, P}.
sub() ->
    {ok, P} = supervisor:start_link(orbit_remote_sup, sub),
    unlink(P),
    {ok, P}.
leaf() -> {ok, spawn_link(orbit_remote_sup, worker, [])}.
worker() -> receive stop -> ok end.
"#;
    for n in [&home, &away] {
        beam::agent::load_from_source(&cluster.link(n).unwrap(), "orbit_remote_sup", src).await.unwrap();
    }
    assert_eq!(nodes.eval(0, &format!("orbit_remote_sup:start('{away}').")).as_deref(), Ok("ok"));

    let trees =
        processes::supervision_tree(&cluster, ":orbit_remote_sup", std::slice::from_ref(&home), 5, T).await.unwrap();
    assert_eq!(trees.len(), 1);
    let top = &trees[0];
    assert_eq!((top.node.as_str(), top.registered_name.as_deref()), (home.as_str(), Some(":orbit_remote_sup")));
    let child = |id: &str| {
        top.children.iter().find(|c| c.id.as_deref() == Some(id)).unwrap_or_else(|| panic!("{id} in {top:?}"))
    };
    let worker = child(":remote_worker");
    assert_eq!((worker.node.as_str(), worker.kind.as_str()), (away.as_str(), "worker"), "{worker:?}");
    assert!(worker.error.is_none() && worker.children.is_empty(), "{worker:?}");
    let sub = child(":remote_sup");
    assert_eq!((sub.node.as_str(), sub.kind.as_str()), (away.as_str(), "supervisor"), "{sub:?}");
    assert_eq!(sub.modules, vec![":orbit_remote_sup".to_string()], "{sub:?}");
    assert_eq!(sub.children.len(), 1, "the remote supervisor's own child: {sub:?}");
    let leaf = &sub.children[0];
    assert_eq!((leaf.node.as_str(), leaf.id.as_deref()), (away.as_str(), Some(":leaf")), "{leaf:?}");

    cluster.disconnect().await;
}

/// The links/monitors graph stops at its vertex limit and says it was cut; a monitor is drawn from the
/// watcher to the watched, whichever of them the walk starts from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_cut_at_its_vertex_limit_and_monitors_drawn_from_the_watcher() {
    let nodes = TestCluster::erlang(1);
    let cluster = join(&nodes, 0).await;
    let node = nodes.name(0).to_string();
    let made = nodes.eval(
        0,
        "Hub = spawn(fun() -> receive stop -> ok end end), register(orbit_hub, Hub), \
         [spawn(fun() -> link(Hub), receive stop -> ok end end) || _ <- lists:seq(1, 5)], \
         register(orbit_watcher, spawn(fun() -> erlang:monitor(process, Hub), receive stop -> ok end end)), \
         timer:sleep(200), ok.",
    );
    assert_eq!(made.as_deref(), Ok("ok"));
    let hub = ProcessSpec::parse(":orbit_hub").unwrap();
    let cut = processes::graph(&cluster, &node, &hub, 1, 3, T).await.unwrap();
    assert!(cut.truncated, "{cut:?}");
    assert_eq!(cut.vertices.len(), 3, "{cut:?}");
    let full = processes::graph(&cluster, &node, &hub, 1, 100, T).await.unwrap();
    assert!(!full.truncated, "{full:?}");
    assert_eq!(full.vertices.len(), 7, "the hub, its 5 links and its watcher: {full:?}");
    assert_eq!(full.edges.iter().filter(|e| e.kind == EdgeKind::Link).count(), 5, "{full:?}");
    let watcher = full.vertices.iter().find(|v| v.registered_name.as_deref() == Some(":orbit_watcher")).unwrap();
    let monitor = |g: &processes::ProcessGraph| {
        g.edges.iter().any(|e| e.kind == EdgeKind::Monitor && e.from == watcher.process && e.to == full.root)
    };
    assert!(monitor(&full), "from the hub's side: {full:?}");
    let from_watcher =
        processes::graph(&cluster, &node, &ProcessSpec::parse(":orbit_watcher").unwrap(), 1, 100, T).await.unwrap();
    assert!(monitor(&from_watcher), "from the watcher's side: {from_watcher:?}");

    cluster.disconnect().await;
}
