//! Supervision trees asked for in ways that go wrong: by the pid of a supervisor, by the pid of a process
//! that has exited since it was seen, with no target at all, and with children on a node Orbit cannot
//! reach or that does not answer.

use beam::cluster::{Cluster, NodeState};
use beam::link::{Cookie, Link, LinkOptions, LocalNode, NodeName};
use beam::processes::{self, ProcessError};
use beam::term::{atom, list};
use eetf::Term;
use orbit_test_harness::TestCluster;
use std::time::Duration;
mod common;

const T: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervision_tree_by_pid_and_by_a_pid_that_has_exited() {
    let nodes = TestCluster::erlang(1);
    let cluster = common::join(&nodes, 0).await;
    let node = nodes.name(0).to_string();
    let call = |m: &'static str, f: &'static str, args: Vec<Term>| {
        let (cluster, node) = (cluster.clone(), node.clone());
        async move { cluster.call(&node, m, f, args, T).await.unwrap() }
    };

    // By the pid of kernel's top supervisor, as a listing shows it.
    let Term::Pid(sup) = call("erlang", "whereis", vec![atom("kernel_sup")]).await else { panic!("no kernel_sup") };
    let text = processes::local_pid_text(&sup);
    let trees = processes::supervision_tree(&cluster, &text, std::slice::from_ref(&node), 1, T).await.unwrap();
    assert_eq!(trees.len(), 1);
    assert_eq!((trees[0].pid.as_str(), trees[0].registered_name.as_deref()), (text.as_str(), Some(":kernel_sup")));
    assert!(trees[0].children.iter().any(|c| c.registered_name.as_deref() == Some(":code_server")));

    // A process seen, then gone before its tree is asked for.
    let Term::Pid(gone) = call("erlang", "spawn", vec![atom("erlang"), atom("is_atom"), list(vec![atom("x")])]).await
    else {
        panic!("no pid")
    };
    while call("erlang", "is_process_alive", vec![Term::from(gone.clone())]).await == atom("true") {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let text = processes::local_pid_text(&gone);
    let err = processes::supervision_tree(&cluster, &text, &[], 1, T).await.unwrap_err();
    assert!(matches!(&err, ProcessError::NoProcess { node: n, pid } if *n == node && pid.contains(&text)), "{err:?}");
    assert!(err.to_string().contains("it may have exited"), "{err}");

    let err = processes::supervision_tree(&cluster, "  ", &[], 1, T).await.unwrap_err();
    assert!(matches!(&err, ProcessError::Invalid(why) if why == "name an application or a supervisor"), "{err:?}");
    cluster.disconnect().await;
}

/// A supervisor on node 0 whose children live on node 1 (one worker, one supervisor).
const REMOTE_SUP: &str = r#"-module(orbit_faulty_sup).
-behaviour(supervisor).
-export([start/1, init/1, remote_worker/1, remote_sup/1, sub/0, worker/0]).
start(Node) ->
    {ok, P} = supervisor:start_link({local, orbit_faulty_sup}, orbit_faulty_sup, {top, Node}),
    unlink(P),
    ok.
init({top, Node}) ->
    {ok, {#{strategy => one_for_one, intensity => 0},
          [#{id => remote_worker, start => {orbit_faulty_sup, remote_worker, [Node]}, restart => temporary},
           #{id => remote_sup, start => {orbit_faulty_sup, remote_sup, [Node]}, type => supervisor}]}};
init(sub) ->
    {ok, {#{strategy => one_for_one}, []}}.
remote_worker(Node) -> {ok, spawn_link(Node, orbit_faulty_sup, worker, [])}.
remote_sup(Node) ->
    {ok, P} = erpc:call(Node, orbit_faulty_sup, sub, []),
    link(P),
    {ok, P}.
sub() ->
    {ok, P} = supervisor:start_link(orbit_faulty_sup, sub),
    unlink(P),
    {ok, P}.
worker() -> receive stop -> ok end.
"#;

/// Loads [`REMOTE_SUP`] on both nodes of `nodes` (over links of their own) and starts it on node 0.
async fn start_remote_sup(nodes: &TestCluster) {
    for i in 0..2 {
        let peer = NodeName::parse(nodes.name(i)).unwrap();
        let local = LocalNode::new(format!("{}@{}", orbit_test_harness::unique_name("orbit_s"), peer.host()));
        let link =
            Link::connect(local, &peer, &Cookie::new(nodes.cookie.clone()), &LinkOptions::default()).await.unwrap();
        beam::agent::load_from_source(&link, "orbit_faulty_sup", REMOTE_SUP).await.unwrap();
        link.close();
    }
    let started = nodes.eval(0, &format!("orbit_faulty_sup:start('{}').", nodes.name(1)));
    assert_eq!(started.as_deref(), Ok("ok"));
}

async fn tree_children(cluster: &Cluster, home: &str, timeout: Duration) -> Vec<processes::SupervisionNode> {
    let trees = processes::supervision_tree(cluster, ":orbit_faulty_sup", &[home.to_string()], 5, timeout).await;
    let trees = trees.unwrap();
    assert_eq!(trees.len(), 1);
    trees[0].children.clone()
}

/// Children on a node that refuses Orbit (`net_kernel:allow/1` lets only its peer in) are listed with why
/// they are not expanded: that node is not reachable from Orbit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_on_a_node_that_refuses_orbit_say_it_is_not_reachable() {
    let nodes = TestCluster::erlang(2);
    start_remote_sup(&nodes).await;
    let (home, away) = (nodes.name(0).to_string(), nodes.name(1).to_string());
    assert_eq!(nodes.eval(1, &format!("net_kernel:allow(['{home}']).")).as_deref(), Ok("ok"));
    let seeds = vec![NodeName::parse(&home).unwrap()];
    let cluster = Cluster::connect(&seeds, Cookie::new(nodes.cookie.clone()), common::options()).await.unwrap();
    let refused = |c: &Cluster| matches!(c.nodes().iter().find(|(n, _)| *n == away), Some((_, NodeState::Down { .. })));
    for _ in 0..600 {
        if refused(&cluster) && cluster.session(&home).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused(&cluster), "{:?}", cluster.nodes());
    let children = tree_children(&cluster, &home, T).await;
    assert_eq!(children.len(), 2, "{children:?}");
    for c in &children {
        assert_eq!(c.node, away);
        assert_eq!(c.error.as_deref(), Some(format!("{away} is not reachable from Orbit").as_str()), "{c:?}");
    }
    cluster.disconnect().await;
}

/// Children on a node that is frozen are listed with the timeout their own node gave, while the tree on
/// the supervisor's node is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_on_a_frozen_node_carry_the_timeout() {
    let nodes = TestCluster::erlang(2);
    start_remote_sup(&nodes).await;
    let cluster = common::join(&nodes, 0).await;
    let (home, away) = (nodes.name(0).to_string(), nodes.name(1).to_string());
    nodes.nodes[1].freeze();
    let short = Duration::from_millis(800);
    let children = tree_children(&cluster, &home, short).await;
    nodes.nodes[1].thaw();
    assert_eq!(children.len(), 2, "{children:?}");
    for c in &children {
        assert_eq!(c.node, away);
        let error = c.error.as_deref().unwrap_or_else(|| panic!("{c:?}"));
        assert!(error.contains(&away) && error.contains("did not answer within"), "{error}");
    }
    cluster.disconnect().await;
}
