//! Discovery, membership, fan-out and the agent, against real clusters.

use beam::agent::{self, InstallOutcome, Session};
use beam::cluster::{ClusterEvent, NodeState};
use beam::health;
use beam::link::{Cookie, Link, LinkOptions, LocalNode, NodeName};
use beam::rpc;
use beam::term::atom;
use eetf::{Term, Tuple};
use orbit_test_harness::TestCluster;
use std::time::Duration;
mod common;
use common::join;

const T: Duration = Duration::from_secs(10);

async fn next_event(
    rx: &mut tokio::sync::broadcast::Receiver<ClusterEvent>,
    pred: impl Fn(&ClusterEvent) -> bool,
) -> ClusterEvent {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let e = rx.recv().await.expect("event stream open");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("event arrives")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovers_every_node_from_one_seed_and_fans_out() {
    let nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, 1).await;
    let mut expected = nodes.names();
    expected.sort();
    assert_eq!(cluster.up_nodes(), expected);
    let results = cluster.call_all("erlang", "node", vec![], T).await;
    assert_eq!(results.len(), 3);
    for (node, r) in results {
        assert_eq!(r.unwrap(), atom(&node), "each node answers for itself");
    }
    // health snapshots from the agent
    let snaps = health::snapshot_all(&cluster, T).await;
    for (node, s) in &snaps {
        let s = s.as_ref().unwrap();
        assert_eq!(&s.node, node);
        assert_eq!(s.otp_release, orbit_test_harness::otp_release());
        assert!(s.process_count > 10 && s.process_limit > s.process_count);
        assert_eq!(s.visible_nodes.len(), 2);
        assert!(s.hidden_nodes.iter().any(|h| h == cluster.local_name()), "Orbit is a hidden node");
    }
    let ok: Vec<_> = snaps.into_iter().map(|(_, s)| s.unwrap()).collect();
    assert!(health::disagreements(&ok).is_empty());
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_later_is_discovered_and_one_that_leaves_is_reported() {
    let mut nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let mut events = cluster.subscribe();
    let i = nodes.add_node();
    let newcomer = nodes.name(i).to_string();
    let e = next_event(&mut events, |e| matches!(e, ClusterEvent::NodeUp { node } if *node == newcomer)).await;
    assert_eq!(e, ClusterEvent::NodeUp { node: newcomer.clone() });
    assert!(cluster.up_nodes().contains(&newcomer));

    nodes.nodes[i].kill();
    let e = next_event(&mut events, |e| matches!(e, ClusterEvent::NodeDown { node, .. } if *node == newcomer)).await;
    let ClusterEvent::NodeDown { reason, .. } = e else { unreachable!() };
    assert!(reason.contains("closed"), "{reason}");
    assert!(matches!(cluster.nodes().iter().find(|(n, _)| *n == newcomer).unwrap().1, NodeState::Down { .. }));
    // calls to it fail clearly, the others go on
    let err = cluster.call(&newcomer, "erlang", "node", vec![], T).await.unwrap_err();
    assert!(err.to_string().contains(&newcomer), "{err}");
    assert_eq!(cluster.call_all("erlang", "node", vec![], T).await.len(), 2);
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_between_two_nodes_shows_as_disagreement() {
    let nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, 0).await;
    nodes.cut(0, 1);
    let snaps: Vec<_> = health::snapshot_all(&cluster, T).await.into_iter().map(|(_, s)| s.unwrap()).collect();
    let d = health::disagreements(&snaps);
    // OTP 25's global (prevent_overlapping_partitions) may cut node 1 from node 2 as well; the pair that
    // was cut must be among those reported.
    let names = [nodes.name(0), nodes.name(1)];
    assert!(
        d.iter().any(|x| names.contains(&x.node.as_str())
            && names.contains(&x.peer.as_str())
            && !x.node_sees_peer
            && !x.peer_sees_node),
        "{d:?}"
    );
    // Orbit stays connected to both sides.
    assert_eq!(cluster.up_nodes().len(), 3);
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_link_drops() {
    let nodes = TestCluster::erlang(1);
    let cluster = join(&nodes, 0).await;
    let mut events = cluster.subscribe();
    let node = nodes.name(0).to_string();
    // The node drops Orbit's connection; Orbit comes back by itself.
    let hidden = cluster.local_name().to_string();
    nodes.eval(0, &format!("erlang:disconnect_node('{hidden}').")).unwrap();
    next_event(&mut events, |e| matches!(e, ClusterEvent::NodeDown { .. })).await;
    next_event(&mut events, |e| matches!(e, ClusterEvent::NodeUp { node: n } if *n == node)).await;
    assert_eq!(cluster.call(&node, "erlang", "node", vec![], T).await.unwrap(), atom(&node));
    cluster.disconnect().await;
}

async fn bare_link(nodes: &TestCluster, i: usize) -> Link {
    let peer = NodeName::parse(nodes.name(i)).unwrap();
    let local = LocalNode::new(format!("{}@{}", orbit_test_harness::unique_name("orbit_a"), peer.host()));
    Link::connect(local, &peer, &Cookie::new(nodes.cookie.clone()), &LinkOptions::default()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_installs_once_and_upgrades_an_older_version() {
    let nodes = TestCluster::erlang(1);
    let link = bare_link(&nodes, 0).await;
    let first = agent::install(&link).await.unwrap();
    assert!(first.iter().all(|(_, o)| *o == InstallOutcome::Installed), "{first:?}");
    let again = agent::install(&link).await.unwrap();
    assert!(again.iter().all(|(_, o)| *o == InstallOutcome::Current), "idempotent: {again:?}");

    // An "older" orbit_agent: same module, another hash.
    let old = include_str!("../agent/orbit_agent.erl")
        .replace("-module(orbit_agent).", "-module(orbit_agent). -orbit_source_hash(\"0000000000000000\").");
    agent::load_from_source(&link, "orbit_agent", &old).await.unwrap();
    assert_eq!(agent::installed_hash(&link, "orbit_agent").await.unwrap().as_deref(), Some("0000000000000000"));
    let upgraded = agent::install(&link).await.unwrap();
    assert_eq!(upgraded[0], ("orbit_agent", InstallOutcome::Upgraded));
    assert_eq!(
        agent::installed_hash(&link, "orbit_agent").await.unwrap(),
        Some(agent::source_hash(agent::MODULES[0].source))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_error_is_reported_with_the_module() {
    let nodes = TestCluster::erlang(1);
    let link = bare_link(&nodes, 0).await;
    let err = agent::load_from_source(&link, "orbit_broken", "-module(orbit_broken).\nf() -> .\n").await.unwrap_err();
    assert!(err.to_string().contains("orbit_broken"), "{err}");
    // A source the scanner refuses (an unterminated string) names the module and the scanner.
    let err = agent::load_from_source(&link, "orbit_unscanned", "-module(orbit_unscanned).\nf() -> \"abc.\n")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, agent::AgentError::Compile { module: "orbit_unscanned", detail, .. } if detail.starts_with("scan failed: ")),
        "{err:?}"
    );
    // Text beyond ASCII reaches the node as the characters it is.
    agent::load_from_source(&link, "orbit_unicode", "-module(orbit_unicode).\n-export([f/0]).\nf() -> \"héllo ✓\".\n")
        .await
        .unwrap();
    let back = rpc::call(&link, "orbit_unicode", "f", vec![], T).await.unwrap();
    let code_points: Vec<i64> = "héllo ✓".chars().map(|c| c as i64).collect();
    let got: Vec<i64> = beam::term::as_list(&back).unwrap().iter().filter_map(beam::term::as_integer).collect();
    assert_eq!(got, code_points);
}

/// Reads `persistent_term:get({orbit_test, Key}, undefined)` on the node.
async fn marker(link: &Link, key: &str) -> Term {
    let k = Term::from(Tuple::from(vec![atom("orbit_test"), atom(key)]));
    rpc::call(link, "persistent_term", "get", vec![k, atom("undefined")], T).await.unwrap()
}

fn set_marker_args(key: &str) -> Vec<Term> {
    vec![Term::from(Tuple::from(vec![atom("orbit_test"), atom(key)])), atom("cleaned")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanups_run_when_orbit_vanishes_and_on_stop() {
    let nodes = TestCluster::erlang(1);
    let observer = bare_link(&nodes, 0).await;

    // Vanishing: the link is dropped without a word.
    let link = bare_link(&nodes, 0).await;
    agent::install(&link).await.unwrap();
    let mut mb = link.local().open_mailbox();
    let session = Session::start(&link, mb.pid()).await.unwrap();
    session.register_cleanup(&link, atom("a"), "persistent_term", "put", set_marker_args("vanish")).await.unwrap();
    // A clean-up that fails does not stop the others.
    session.register_cleanup(&link, atom("b"), "erlang", "error", vec![atom("boom")]).await.unwrap();
    assert_eq!(marker(&observer, "vanish").await, atom("undefined"));
    link.close();
    drop(link);
    let mut done = false;
    for _ in 0..100 {
        if marker(&observer, "vanish").await == atom("cleaned") {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(done, "the clean-up ran when Orbit's node went away");
    let _ = mb.try_recv();

    // Stop: clean-ups run before the call returns; an unregistered one does not run.
    let link = bare_link(&nodes, 0).await;
    let mb = link.local().open_mailbox();
    let session = Session::start(&link, mb.pid()).await.unwrap();
    session.register_cleanup(&link, atom("c"), "persistent_term", "put", set_marker_args("stop")).await.unwrap();
    session.register_cleanup(&link, atom("d"), "persistent_term", "put", set_marker_args("never")).await.unwrap();
    session.unregister_cleanup(&link, atom("d")).await.unwrap();
    session.stop(&link).await.unwrap();
    assert_eq!(marker(&observer, "stop").await, atom("cleaned"));
    assert_eq!(marker(&observer, "never").await, atom("undefined"));
}

/// Sending to, or registering a clean-up on, a node that is not a member, or one that went down, fails at
/// once with an error naming the node and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_and_clean_ups_on_a_node_that_is_not_there_name_it_and_why() {
    let mut nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let mailbox = cluster.open_mailbox();
    let pid = mailbox.pid().clone();
    let err = cluster.send("nobody@nowhere", &pid, atom("hi")).unwrap_err();
    assert!(matches!(&err, rpc::RpcError::NodeDown { node, .. } if node == "nobody@nowhere"), "{err:?}");
    assert!(err.to_string().contains("not a member of this cluster"), "{err}");
    let cleanup = |node: String| {
        let cluster = cluster.clone();
        async move { cluster.register_cleanup(&node, atom("k"), "erlang", "display", vec![atom("x")]).await }
    };
    let err = cleanup("nobody@nowhere".into()).await.unwrap_err();
    assert!(err.to_string().contains("not a member of this cluster"), "{err}");
    let gone = nodes.name(1).to_string();
    nodes.nodes[1].kill();
    for _ in 0..200 {
        if !cluster.up_nodes().contains(&gone) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = cluster.send(&gone, &pid, atom("hi")).unwrap_err();
    assert!(matches!(&err, rpc::RpcError::NodeDown { node, .. } if *node == gone), "{err:?}");
    assert!(cleanup(gone.clone()).await.is_err());
    cluster.disconnect().await;
}
