//! The cluster and its agent when nodes misbehave: a node where Orbit's modules cannot be loaded, a node
//! frozen while its agent is installed or a call needs it, a frozen seed, a node too slow to install within
//! the call timeout, someone else's `orbit_agent` with a process still in its old code, and a cluster
//! connected without the agent.

use beam::agent::{self, AgentError, Group, Groups, InstallOutcome};
use beam::cluster::{Cluster, ClusterOptions, NodeState};
use beam::health::{self, HealthMonitor, HealthOptions, Status};
use beam::link::{Cookie, Link, LinkOptions, LocalNode, NodeName};
use beam::rpc::{self, RpcError};
use beam::term::atom;
use eetf::Term;
use orbit_test_harness::TestCluster;
use std::time::Duration;
mod common;

const T: Duration = Duration::from_secs(10);

async fn connect(nodes: &TestCluster, seeds: &[usize], options: ClusterOptions) -> Cluster {
    let seeds: Vec<NodeName> = seeds.iter().map(|i| NodeName::parse(nodes.name(*i)).unwrap()).collect();
    Cluster::connect(&seeds, Cookie::new(nodes.cookie.clone()), options).await.expect("connect")
}

/// Waits until `pred` holds for the cluster (30 s at most).
async fn wait_for(cluster: &Cluster, what: &str, pred: impl Fn(&Cluster) -> bool) {
    for _ in 0..600 {
        if pred(cluster) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: {:?}", cluster.nodes());
}

/// Loads, on node `i`, a module `name` of someone else's (no Orbit hash) and makes it sticky, as a module of
/// a sticky directory is: the code server then refuses to load any other version of it.
fn foreign_sticky_module(nodes: &TestCluster, i: usize, name: &str) {
    let expr = format!(
        "{{ok, M, B}} = compile:forms([{{attribute, 1, module, {name}}}, {{attribute, 2, export, []}}], [binary]), \
         {{module, M}} = code:load_binary(M, \"{name}.erl\", B), code:stick_mod(M)."
    );
    assert_eq!(nodes.eval(i, &expr).as_deref(), Ok("true"));
}

/// A node where one of Orbit's core modules cannot be loaded (someone else's module of that name, sticky)
/// is up without the agent: calls that need it fail at once naming why, on that node only, and are not
/// retried for the same groups until a moment has passed; a group not tried yet is tried at once, and
/// once the module is let go the agent is installed and a session started there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_where_the_agent_cannot_load_is_up_without_it_and_calls_needing_it_say_why() {
    let nodes = TestCluster::erlang(2);
    foreign_sticky_module(&nodes, 1, "orbit_health");
    let cluster = connect(&nodes, &[0], common::options()).await;
    let (n0, n1) = (nodes.name(0).to_string(), nodes.name(1).to_string());
    wait_for(&cluster, "both up", |c| c.up_nodes().len() == 2 && c.session(&n0).is_some()).await;
    assert!(cluster.session(&n1).is_none(), "no agent session where it could not be installed");
    assert_eq!(cluster.groups(&n1), Groups::NONE);

    // Asked again at once: the failure is given back without trying again.
    let err = cluster.ensure(&n1, Group::Core.into()).await.unwrap_err();
    let AgentError::Load { node, .. } = &err else { panic!("{err:?}") };
    assert_eq!(*node, n1);
    let text = err.to_string();
    assert!(text.contains("orbit_health") && text.contains("sticky_directory"), "{text}");

    // A call into the agent, and a clean-up, name the node, the call and why.
    let err = cluster.call(&n1, "orbit_health", "module_info", vec![atom("module")], T).await.unwrap_err();
    let RpcError::Agent { node, mfa, detail } = &err else { panic!("{err:?}") };
    assert_eq!((node.as_str(), mfa.as_str()), (n1.as_str(), "orbit_health:module_info/1"));
    assert!(detail.contains("sticky_directory"), "{detail}");
    assert!(err.to_string().contains("could not be installed"), "{err}");
    let err = cluster.register_cleanup(&n1, atom("k"), "erlang", "display", vec![atom("x")]).await.unwrap_err();
    assert!(
        matches!(&err, RpcError::Agent { node, mfa, .. } if *node == n1 && mfa == "orbit_agent:register_cleanup/3"),
        "{err:?}"
    );
    // Plain calls still work there.
    assert_eq!(cluster.call(&n1, "erlang", "node", vec![], T).await.unwrap(), atom(&n1));

    // A group not tried yet is tried at once: it fails there again, and is installed on the other node.
    let failed = cluster.require(Group::Tracer).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, n1);
    assert!(failed[0].1.to_string().contains("sticky_directory"), "{}", failed[0].1);
    assert!(cluster.groups(&n0).contains(Group::Tracer));
    // A node Orbit does not know is named as such.
    let err = cluster.ensure("nobody@nowhere", Group::Core.into()).await.unwrap_err();
    assert!(err.to_string().contains("not a member of this cluster"), "{err}");

    // The owner lets go of its module: the next group asked for installs the agent there.
    assert_eq!(nodes.eval(1, "code:unstick_mod(orbit_health).").as_deref(), Ok("true"));
    let r = cluster.call(&n1, "orbit_reload", "module_info", vec![atom("module")], T).await.unwrap();
    assert_eq!(r, atom("orbit_reload"));
    assert!(cluster.session(&n1).is_some(), "a session once the agent is there");
    assert!(cluster.groups(&n1).contains(Group::Core) && cluster.groups(&n1).contains(Group::Reload));
    let hash = nodes.eval(1, "proplists:get_value(orbit_source_hash, orbit_health:module_info(attributes)).").unwrap();
    assert_eq!(hash.trim_matches('"'), agent::source_hash(include_str!("../agent/orbit_health.erl")));
    cluster.register_cleanup(&n1, atom("k"), "erlang", "display", vec![atom("x")]).await.unwrap();
    cluster.disconnect().await;
}

/// A node frozen after it joined: installing a group there and a call that needs it give up at the call
/// timeout, naming the node and what was being done, while the other node gets the group; thawed, the
/// same call installs the group and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_times_out_installs_and_calls_needing_them_and_is_served_once_thawed() {
    let nodes = TestCluster::erlang(2);
    // A long tick: the frozen node stays connected (up) for this test.
    let options = ClusterOptions { call_timeout: Duration::from_secs(3), ..ClusterOptions::default() };
    let cluster = connect(&nodes, &[0], options).await;
    let (n0, n1) = (nodes.name(0).to_string(), nodes.name(1).to_string());
    wait_for(&cluster, "both up", |c| c.up_nodes().len() == 2).await;
    for n in [&n0, &n1] {
        cluster.ensure(n, Group::Core.into()).await.unwrap();
    }

    nodes.nodes[1].freeze();
    // Four groups asked for at once: each gives up on the frozen node at the call timeout, naming itself.
    let asked = [Group::Tracer, Group::Reload, Group::Sandbox, Group::Profiler];
    let (a, b, c, d) = tokio::join!(
        cluster.require(asked[0]),
        cluster.require(asked[1]),
        cluster.require(asked[2]),
        cluster.require(asked[3])
    );
    for (group, failed) in asked.iter().zip([a, b, c, d]) {
        let (node, err) = failed.iter().find(|(n, _)| *n == n1).unwrap_or_else(|| panic!("{failed:?}"));
        let AgentError::Rpc(RpcError::Timeout { node: named, mfa, after }) = err else { panic!("{node}: {err:?}") };
        assert_eq!(*named, n1);
        assert_eq!(*mfa, format!("installing Orbit's {} modules", group.name()));
        assert_eq!(*after, cluster.call_timeout());
    }
    assert!(cluster.groups(&n0).contains(Group::Tracer), "the other node got it");

    let short = Duration::from_millis(500);
    let err = cluster.call(&n1, "orbit_trace", "module_info", vec![atom("module")], short).await.unwrap_err();
    assert!(
        matches!(&err, RpcError::Timeout { node, mfa, after } if *node == n1 && mfa == "orbit_trace:module_info/1" && *after == short),
        "{err:?}"
    );
    assert_eq!(
        cluster.call(&n0, "orbit_trace", "module_info", vec![atom("module")], T).await.unwrap(),
        atom("orbit_trace")
    );

    nodes.nodes[1].thaw();
    let r = cluster.call(&n1, "orbit_trace", "module_info", vec![atom("module")], T).await.unwrap();
    assert_eq!(r, atom("orbit_trace"));
    assert!(cluster.groups(&n1).contains(Group::Tracer));
    cluster.disconnect().await;
}

/// A seed that is frozen does not hold up `connect` once another seed is up: it is left connecting in the
/// background, and comes up with its agent once it answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_seed_is_left_to_connect_in_the_background() {
    let nodes = TestCluster::erlang(2);
    let (n0, n1) = (nodes.name(0).to_string(), nodes.name(1).to_string());
    nodes.nodes[1].freeze();
    let options = ClusterOptions {
        link: LinkOptions { connect_timeout: Duration::from_secs(60), ..LinkOptions::default() },
        ..ClusterOptions::default()
    };
    let cluster = connect(&nodes, &[0, 1], options).await;
    assert_eq!(cluster.up_nodes(), vec![n0.clone()]);
    let state = cluster.nodes().into_iter().find(|(n, _)| *n == n1).map(|(_, s)| s);
    assert_eq!(state, Some(NodeState::Connecting));
    // A health report made meanwhile says so.
    let monitor = HealthMonitor::start(&cluster, HealthOptions::default());
    let report = monitor.report();
    let still = report.nodes.iter().find(|r| r.node == n1).unwrap();
    assert_eq!((still.status, still.reason.as_deref()), (Status::Down, Some("connecting")));
    monitor.stop().await;

    nodes.nodes[1].thaw();
    wait_for(&cluster, "the thawed seed comes up with its agent", |c| c.session(&n1).is_some()).await;
    assert_eq!(cluster.up_nodes().len(), 2);
    assert_eq!(cluster.call(&n1, "erlang", "node", vec![], T).await.unwrap(), atom(&n1));
    cluster.disconnect().await;
}

/// A node that does not finish installing the agent within the call timeout is up without it; the first
/// calls into the agent install it there once (with their own timeout) and start a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_not_installed_in_time_gets_the_agent_at_the_first_call_needing_it() {
    let nodes = TestCluster::erlang(1);
    let n0 = nodes.name(0).to_string();
    let options = ClusterOptions { call_timeout: Duration::from_millis(1), ..ClusterOptions::default() };
    let cluster = connect(&nodes, &[0], options).await;
    assert_eq!(cluster.up_nodes(), vec![n0.clone()]);
    assert!(cluster.session(&n0).is_none() && cluster.groups(&n0) == Groups::NONE);
    assert_eq!(cluster.otp_release(&n0), None);

    // Two calls at once: one installs, the other waits for it and finds the agent there.
    let (a, b) = tokio::join!(
        cluster.call(&n0, "orbit_procs", "module_info", vec![atom("module")], T),
        cluster.call(&n0, "orbit_health", "module_info", vec![atom("module")], T)
    );
    assert_eq!((a.unwrap(), b.unwrap()), (atom("orbit_procs"), atom("orbit_health")));
    assert!(cluster.session(&n0).is_some());
    assert_eq!(cluster.otp_release(&n0), Some(orbit_test_harness::otp_release()));
    cluster.disconnect().await;
}

/// Connected without the agent, Orbit installs nothing, asked or not, and a clean-up (which needs the
/// agent) is refused naming the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_agent_nothing_is_installed_and_clean_ups_are_refused() {
    let nodes = TestCluster::erlang(1);
    let n0 = nodes.name(0).to_string();
    let options = ClusterOptions { install_agent: false, ..common::options() };
    let cluster = connect(&nodes, &[0], options).await;
    assert!(cluster.session(&n0).is_none() && cluster.groups(&n0) == Groups::NONE);
    assert!(cluster.require(Group::Tracer).await.is_empty());
    cluster.ensure(&n0, Group::Debugger.into()).await.unwrap();
    let err = cluster.register_cleanup(&n0, atom("k"), "erlang", "display", vec![atom("x")]).await.unwrap_err();
    assert!(
        matches!(&err, RpcError::BadRpc { node, reason, .. } if *node == n0 && *reason == atom("orbit_agent_not_running")),
        "{err:?}"
    );
    assert_eq!(
        nodes.eval(0, "[M || M <- [orbit_agent, orbit_trace], code:is_loaded(M) =/= false].").as_deref(),
        Ok("[]")
    );
    cluster.disconnect().await;
}

/// Loads someone else's `orbit_agent` on node `i` twice, with a process left running the first version
/// (old code, which a soft purge will not remove); returns the link used and that process.
async fn foreign_agent_in_use(nodes: &TestCluster, i: usize) -> (Link, Term) {
    let peer = NodeName::parse(nodes.name(i)).unwrap();
    let local = LocalNode::new(format!("{}@{}", orbit_test_harness::unique_name("orbit_p"), peer.host()));
    let link = Link::connect(local, &peer, &Cookie::new(nodes.cookie.clone()), &LinkOptions::default()).await.unwrap();
    let theirs = "-module(orbit_agent).\n-export([loop/0]).\nloop() -> receive _ -> loop() end.\n";
    agent::load_from_source(&link, "orbit_agent", theirs).await.unwrap();
    let pid = rpc::call(&link, "erlang", "spawn", vec![atom("orbit_agent"), atom("loop"), beam::term::list(vec![])], T)
        .await
        .unwrap();
    // A new version of theirs: the process stays in the old one.
    agent::load_from_source(&link, "orbit_agent", theirs).await.unwrap();
    let in_old = rpc::call(&link, "erlang", "check_process_code", vec![pid.clone(), atom("orbit_agent")], T).await;
    assert_eq!(in_old.unwrap(), atom("true"));
    (link, pid)
}

/// Someone else's `orbit_agent`, with a process still running its old code: Orbit waits a moment for it
/// to leave, then purges that code (ending the process, as Erlang's own purge does) and installs its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_elses_orbit_agent_still_running_old_code_is_purged_and_replaced() {
    let nodes = TestCluster::erlang(1);
    let (link, pid) = foreign_agent_in_use(&nodes, 0).await;
    assert_eq!(agent::installed_hash(&link, "orbit_agent").await.unwrap(), None, "theirs carries no hash");
    assert_eq!(agent::installed_hash(&link, "orbit_nothing_here").await.unwrap(), None, "not loaded");

    let outcomes = agent::install(&link).await.unwrap();
    assert_eq!(outcomes[0], ("orbit_agent", InstallOutcome::Installed), "theirs had no hash: {outcomes:?}");
    assert_eq!(rpc::call(&link, "erlang", "is_process_alive", vec![pid], T).await.unwrap(), atom("false"));
    assert_eq!(
        agent::installed_hash(&link, "orbit_agent").await.unwrap(),
        Some(agent::source_hash(agent::MODULES[0].source))
    );
    link.close();
    let err = agent::installed_hash(&link, "orbit_agent").await.unwrap_err();
    assert!(matches!(err, RpcError::NodeDown { .. }), "asked over a closed link: {err:?}");
}

/// A node running an older version of one of Orbit's modules (another hash) gets that module upgraded
/// and the others left as they are; a cache directory that cannot be written (a file is in its place)
/// does not stop the install, and nothing is written there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_agent_module_is_upgraded_and_an_unwritable_cache_does_not_stop_the_install() {
    let nodes = TestCluster::erlang(1);
    let peer = NodeName::parse(nodes.name(0)).unwrap();
    let local = LocalNode::new(format!("{}@{}", orbit_test_harness::unique_name("orbit_u"), peer.host()));
    let link = Link::connect(local, &peer, &Cookie::new(nodes.cookie.clone()), &LinkOptions::default()).await.unwrap();
    let blocked = std::env::temp_dir().join(orbit_test_harness::unique_name("not_a_dir"));
    std::fs::write(&blocked, "a file where the cache directory would go").unwrap();
    let cache = agent::BinaryCache::new(Some(blocked.join("agent")));
    let (_, first) = agent::install_groups(&link, Group::Core.into(), &cache).await.unwrap();
    assert!(first.iter().all(|(_, o)| *o == InstallOutcome::Installed), "{first:?}");
    assert!(cache.compiles() >= 1 && blocked.is_file(), "compiled, kept in memory only");

    let older = include_str!("../agent/orbit_health.erl")
        .replace("-module(orbit_health).", "-module(orbit_health). -orbit_source_hash(\"0000000000000000\").");
    agent::load_from_source(&link, "orbit_health", &older).await.unwrap();
    let (_, again) = agent::install_groups(&link, Group::Core.into(), &cache).await.unwrap();
    for (module, outcome) in &again {
        let want = if *module == "orbit_health" { InstallOutcome::Upgraded } else { InstallOutcome::Current };
        assert_eq!(*outcome, want, "{module}");
    }
    let hash = agent::installed_hash(&link, "orbit_health").await.unwrap();
    assert_eq!(hash, Some(agent::source_hash(include_str!("../agent/orbit_health.erl"))));
    link.close();
    std::fs::remove_file(&blocked).unwrap();
}

/// A group asked for while a discovered node is being installed (slowly: someone else's `orbit_agent` is
/// still in use there, and Orbit waits for it before purging it) is on that node by the time it is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_asked_for_while_a_node_is_being_installed_is_there_when_it_is_up() {
    let nodes = TestCluster::erlang(2);
    let (link, theirs) = foreign_agent_in_use(&nodes, 1).await;
    let n1 = nodes.name(1).to_string();
    let cluster = connect(&nodes, &[0], common::options()).await;
    let mut events = cluster.subscribe();
    // Node 1 was found when joining; once Orbit is connected there its install waits on the process in
    // old code a moment, and the group is asked for then.
    let orbit = cluster.local_name().to_string();
    for _ in 0..600 {
        if nodes.eval(1, "nodes(hidden).").is_ok_and(|seen| seen.contains(&orbit)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!cluster.up_nodes().contains(&n1), "{:?}", cluster.nodes());
    assert!(cluster.require(Group::Reload).await.is_empty());
    tokio::time::timeout(Duration::from_secs(30), async {
        while !matches!(events.recv().await, Ok(beam::cluster::ClusterEvent::NodeUp { node }) if node == n1) {}
    })
    .await
    .expect("node 1 comes up");
    assert!(cluster.groups(&n1).contains(Group::Reload), "{:?}", cluster.groups(&n1));
    assert!(cluster.session(&n1).is_some());
    assert_eq!(rpc::call(&link, "erlang", "is_process_alive", vec![theirs], T).await.unwrap(), atom("false"));
    link.close();
    cluster.disconnect().await;
}

/// Health over a cluster with a node where the agent cannot be installed and a node already down: the
/// monitor (started after the node went down) and a one-off check report the down node as down with why,
/// the node without the agent as critical, not answering, with why, and the healthy node as healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_names_a_node_without_the_agent_and_one_already_down() {
    let mut nodes = TestCluster::erlang(3);
    foreign_sticky_module(&nodes, 1, "orbit_health");
    let cluster = connect(&nodes, &[0], common::options()).await;
    let (n0, n1, n2) = (nodes.name(0).to_string(), nodes.name(1).to_string(), nodes.name(2).to_string());
    wait_for(&cluster, "all up", |c| c.up_nodes().len() == 3 && c.session(&n0).is_some() && c.session(&n2).is_some())
        .await;
    nodes.nodes[2].kill();
    wait_for(&cluster, "the killed node down", |c| !c.up_nodes().contains(&n2)).await;

    let options = HealthOptions { interval: Duration::from_millis(200), ..HealthOptions::default() };
    let monitor = HealthMonitor::start(&cluster, options.clone());
    assert!(monitor.wait_rounds(2, Duration::from_secs(30)).await >= 2);
    // A bound that passes first gives the rounds done so far.
    let done = monitor.wait_rounds(u64::MAX, Duration::from_millis(50)).await;
    assert!((2..u64::MAX).contains(&done));
    let report = monitor.report();
    let of = |n: &str| report.nodes.iter().find(|r| r.node == n).unwrap().clone();
    assert_eq!(of(&n0).status.to_string(), "healthy");
    let down = of(&n2);
    assert_eq!(down.status.to_string(), "down");
    assert!(down.reason.as_deref().is_some_and(|r| !r.is_empty()), "{down:?}");
    let broken = of(&n1);
    assert_eq!(broken.status.to_string(), "critical", "{broken:?}");
    assert!(broken.no_answer && broken.reason.as_deref().unwrap_or("").contains("sticky_directory"), "{broken:?}");
    assert!(broken.alerts.iter().any(|a| a.key == "not_answering" && a.level.to_string() == "critical"), "{broken:?}");
    monitor.stop().await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let once = health::check_once(&cluster, &options, Duration::from_millis(100), deadline).await;
    let of = |n: &str| once.nodes.iter().find(|r| r.node == n).unwrap().clone();
    assert_eq!(of(&n0).status, Status::Healthy);
    let down = of(&n2);
    assert_eq!((down.status, down.reason.is_some(), down.no_answer), (Status::Down, true, false), "{down:?}");
    let broken = of(&n1);
    assert!(broken.reason.as_deref().unwrap_or("").contains("sticky_directory"), "{broken:?}");
    cluster.disconnect().await;
}

/// A node killed while a call installs the agent there and a clean-up is being registered: both fail at
/// once as node down, naming the node, and the other node goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_while_its_agent_is_installed_fails_the_call_as_down() {
    let mut nodes = TestCluster::erlang(2);
    let cluster = connect(&nodes, &[0], ClusterOptions::default()).await;
    let (n0, n1) = (nodes.name(0).to_string(), nodes.name(1).to_string());
    wait_for(&cluster, "both up with the agent", |c| {
        c.up_nodes().iter().filter(|n| c.session(n).is_some()).count() == 2
    })
    .await;
    nodes.nodes[1].freeze();
    let installing = {
        let (cluster, n1) = (cluster.clone(), n1.clone());
        tokio::spawn(async move {
            cluster.call(&n1, "orbit_trace", "module_info", vec![atom("module")], Duration::from_secs(60)).await
        })
    };
    let registering = {
        let (cluster, n1) = (cluster.clone(), n1.clone());
        tokio::spawn(
            async move { cluster.register_cleanup(&n1, atom("k"), "erlang", "display", vec![atom("x")]).await },
        )
    };
    // The install and the registration are under way (waiting on the frozen node) before the node goes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    nodes.nodes[1].kill();
    let err = tokio::time::timeout(T, installing).await.expect("fails at once").unwrap().unwrap_err();
    assert!(matches!(&err, RpcError::NodeDown { node, .. } if *node == n1), "{err:?}");
    let err = tokio::time::timeout(T, registering).await.expect("fails at once").unwrap().unwrap_err();
    assert!(matches!(&err, RpcError::NodeDown { node, .. } if *node == n1), "{err:?}");
    assert_eq!(
        cluster.call(&n0, "orbit_trace", "module_info", vec![atom("module")], T).await.unwrap(),
        atom("orbit_trace")
    );
    cluster.disconnect().await;
}

/// Disconnecting while a node with clean-ups registered hangs: the other node's clean-ups run, and when
/// the hung node dies the disconnect ends at once rather than waiting for its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnecting_from_a_hung_node_ends_when_it_dies_and_the_others_are_cleaned_up() {
    let mut nodes = TestCluster::erlang(2);
    let cluster = common::join(&nodes, 0).await;
    let (n0, n1) = (nodes.name(0).to_string(), nodes.name(1).to_string());
    let put = |v: &str| vec![beam::term::tuple(vec![atom("orbit_test"), atom("cleaned")]), atom(v)];
    cluster.register_cleanup(&n0, atom("k"), "persistent_term", "put", put("yes")).await.unwrap();
    cluster.register_cleanup(&n1, atom("k"), "persistent_term", "put", put("yes")).await.unwrap();
    nodes.nodes[1].freeze();
    let disconnecting = tokio::spawn(cluster.disconnect());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!disconnecting.is_finished(), "waits for the hung node's clean-ups");
    nodes.nodes[1].kill();
    tokio::time::timeout(T, disconnecting).await.expect("ends once the node is gone").unwrap();
    let cleaned = nodes.eval(0, "persistent_term:get({orbit_test, cleaned}, no).");
    assert_eq!(cleaned.as_deref(), Ok("yes"), "{n0} ran its clean-up");
}

/// Someone ends Orbit's agent session on a node (it kills the process): a clean-up registered afterwards
/// is not lost — Orbit starts another session and registers it there, and it runs when Orbit leaves; one
/// unregistered afterwards is simply gone; the health monitor's sampler there gets its clean-up too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_by_someone_else_is_replaced_and_clean_ups_still_run() {
    let nodes = TestCluster::erlang(1);
    let cluster = common::join(&nodes, 0).await;
    let n0 = nodes.name(0).to_string();
    let put = |v: &str| vec![beam::term::tuple(vec![atom("orbit_test"), atom("cleaned")]), atom(v)];
    cluster.register_cleanup(&n0, atom("early"), "persistent_term", "put", put("early")).await.unwrap();
    let end_session = || async {
        let pid = cluster.session(&n0).expect("a session").pid;
        cluster.call(&n0, "erlang", "exit", vec![Term::from(pid.clone()), atom("kill")], T).await.unwrap();
        pid
    };
    let first = end_session().await;
    cluster.register_cleanup(&n0, atom("late"), "persistent_term", "put", put("late")).await.unwrap();
    let second = cluster.session(&n0).expect("a new session").pid;
    assert_ne!(second, first);
    let alive = cluster.call(&n0, "erlang", "is_process_alive", vec![Term::from(second)], T).await.unwrap();
    assert_eq!(alive, atom("true"));
    // Ended again: unregistering succeeds (nothing is left to run), and the next clean-up gets a session.
    end_session().await;
    cluster.unregister_cleanup(&n0, atom("late")).await.unwrap();
    cluster.register_cleanup(&n0, atom("last"), "persistent_term", "put", put("last")).await.unwrap();

    let monitor = HealthMonitor::start(
        &cluster,
        HealthOptions { interval: Duration::from_millis(200), ..HealthOptions::default() },
    );
    assert!(monitor.wait_rounds(2, Duration::from_secs(30)).await >= 2);
    assert_eq!(monitor.report().status(&n0), Some(Status::Healthy));
    drop(monitor);

    cluster.disconnect().await;
    let cleaned = nodes.eval(0, "persistent_term:get({orbit_test, cleaned}, none).");
    assert_eq!(cleaned.as_deref(), Ok("last"), "the clean-up registered after the session was ended ran");
    // The sampler's clean-up, registered in the new session, ran too.
    for _ in 0..100 {
        if nodes.eval(0, "whereis(orbit_health_sampler).").as_deref() == Ok("undefined") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the sampler was left on the node");
}
