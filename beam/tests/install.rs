//! Installing the agent on real nodes: compiled once per OTP release and loaded on the other nodes, only
//! the groups asked for, a binary the node refuses compiled on that node instead, and a node that stops
//! answering never holding up the others.

use beam::agent::{BinaryCache, Group, Groups, MODULES};
use beam::cluster::{Cluster, ClusterEvent, ClusterOptions};
use beam::health::{self, HealthOptions};
use beam::link::{Cookie, NodeName};
use orbit_test_harness::TestCluster;
use std::sync::Arc;
use std::time::{Duration, Instant};
mod common;

const T: Duration = Duration::from_secs(10);

/// Connects through node 0 with its own binary cache (memory only) and waits until every node is up
/// with its agent session.
async fn join_with(nodes: &TestCluster, cache: &Arc<BinaryCache>) -> Cluster {
    let options = ClusterOptions { agent_cache: Some(cache.clone()), ..common::options() };
    let seeds = vec![NodeName::parse(nodes.name(0)).unwrap()];
    let cluster = Cluster::connect(&seeds, Cookie::new(nodes.cookie.clone()), options).await.expect("connect");
    for _ in 0..600 {
        let up = cluster.up_nodes();
        if up.len() == nodes.nodes.len() && up.iter().all(|n| cluster.session(n).is_some()) {
            return cluster;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not every node came up with Orbit's agent: {:?}", cluster.nodes());
}

/// The agent modules loaded on node `i`, asked through `erl_call` (not through Orbit).
fn loaded_agent_modules(nodes: &TestCluster, i: usize) -> Vec<&'static str> {
    let names: Vec<&str> = MODULES.iter().map(|m| m.name).collect();
    let expr = format!("[M || M <- [{}], code:is_loaded(M) =/= false].", names.join(", "));
    let out = nodes.eval(i, &expr).expect("erl_call");
    let words: Vec<&str> = out.split(|c: char| !c.is_alphanumeric() && c != '_').collect();
    names.into_iter().filter(|n| words.contains(n)).collect()
}

fn otp_release(nodes: &TestCluster) -> String {
    nodes.eval(0, "erlang:system_info(otp_release).").expect("erl_call").trim_matches('"').to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_once_per_release_and_only_the_groups_asked_for() {
    let mut nodes = TestCluster::erlang(3);
    let cache = Arc::new(BinaryCache::new(None));
    let cluster = join_with(&nodes, &cache).await;
    let core: Vec<&str> = Group::Core.modules().map(|m| m.name).collect();

    // Three nodes of one release: each core module compiled once, on one node.
    assert_eq!(cache.compiles(), core.len(), "compiled once for the release, not once per node");
    for i in 0..3 {
        assert_eq!(loaded_agent_modules(&nodes, i), ["orbit_agent", "orbit_health", "orbit_procs"], "node {i}");
        assert_eq!(cluster.groups(nodes.name(i)), Groups::from(Group::Core));
        assert_eq!(cluster.otp_release(nodes.name(i)), Some(otp_release(&nodes)));
    }

    // The debugger's modules when asked for, on every node, compiled once again.
    let failed = cluster.require(Group::Debugger).await;
    assert!(failed.is_empty(), "{failed:?}");
    let debugger = Group::Debugger.modules().count();
    assert_eq!(cache.compiles(), core.len() + debugger);
    for i in 0..3 {
        let loaded = loaded_agent_modules(&nodes, i);
        assert!(loaded.contains(&"orbit_dbg") && loaded.contains(&"orbit_dbg_cond"), "node {i}: {loaded:?}");
        assert!(!loaded.contains(&"orbit_trace"), "node {i}: {loaded:?}");
    }

    // A node that joins later has what was asked for before Orbit reports it up; nothing is compiled.
    let mut events = cluster.subscribe();
    let i = nodes.add_node();
    let newcomer = nodes.name(i).to_string();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(ClusterEvent::NodeUp { node }) = events.recv().await {
                if node == newcomer {
                    return;
                }
            }
        }
    })
    .await
    .expect("the newcomer comes up");
    let loaded = loaded_agent_modules(&nodes, i);
    assert!(loaded.contains(&"orbit_dbg") && loaded.contains(&"orbit_health"), "{loaded:?}");
    assert_eq!(cache.compiles(), core.len() + debugger, "the newcomer got the binaries compiled before");

    // A call into a module of a group not installed yet installs that group on that node first.
    let n0 = nodes.name(0).to_string();
    let r = cluster.call(&n0, "orbit_trace", "module_info", vec![beam::term::atom("module")], T).await.unwrap();
    assert_eq!(r, beam::term::atom("orbit_trace"));
    assert!(loaded_agent_modules(&nodes, 0).contains(&"orbit_trace"));
    assert!(!loaded_agent_modules(&nodes, 1).contains(&"orbit_trace"), "only where it was needed");
    assert!(cluster.groups(&n0).contains(Group::Tracer));
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_binary_is_compiled_on_the_node_instead() {
    let nodes = TestCluster::erlang(2);
    let release = otp_release(&nodes);
    // Binaries "for this release" that no node will load (as a binary built for another emulator would
    // be refused), for the bootstrap module and for one loaded through it.
    let refused = b"FOR1\x00\x00\x00\x04BEAM".to_vec();
    let cache = Arc::new(BinaryCache::new(None));
    cache.insert(&release, "orbit_agent", refused.clone());
    cache.insert(&release, "orbit_health", refused.clone());
    // A binary kept for another (newer) release is never offered to these nodes.
    cache.insert("99", "orbit_procs", refused.clone());

    let cluster = join_with(&nodes, &cache).await;
    for (node, snapshot) in health::snapshot_all(&cluster, T).await {
        let s = snapshot.unwrap_or_else(|e| panic!("{node}: {e}"));
        assert_eq!(s.node, node);
    }
    for i in 0..2 {
        assert_eq!(loaded_agent_modules(&nodes, i), ["orbit_agent", "orbit_health", "orbit_procs"], "node {i}");
    }
    for module in ["orbit_agent", "orbit_health"] {
        let now = cache.get(&release, module).unwrap();
        assert!(now != refused && now.starts_with(b"FOR1"), "{module}: the node's own compile replaced it");
    }
    assert_eq!(cache.get("99", "orbit_procs"), Some(refused), "the other release's binary is left alone");
    assert!(cache.get(&release, "orbit_procs").is_some(), "compiled for this release instead");
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_answering_is_reported_without_holding_up_the_others() {
    let nodes = TestCluster::erlang(3);
    let cluster = common::join(&nodes, 0).await;
    let frozen = nodes.name(2).to_string();
    nodes.nodes[2].freeze();
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let window = Duration::from_millis(200);
    let report = health::check_once(&cluster, &HealthOptions::default(), window, deadline).await;
    let took = started.elapsed();
    nodes.nodes[2].thaw();
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert_eq!(report.nodes.len(), 3);
    for r in &report.nodes {
        if r.node == frozen {
            assert!(r.no_answer && r.sample.is_none(), "{r:?}");
            assert!(r.reason.as_deref().unwrap_or("").contains("no answer"), "{r:?}");
        } else {
            let s = r.sample.as_ref().unwrap_or_else(|| panic!("{} answered: {r:?}", r.node));
            assert!(!r.no_answer);
            assert!(s.rates_window_ms.unwrap() >= 190, "rates over the window: {s:?}");
            assert!(s.scheduler_utilisation.is_some() && s.reductions_per_sec.unwrap() > 0.0);
        }
    }
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_node_answers_at_once_from_the_agents_readings() {
    let nodes = TestCluster::erlang(1);
    let cluster = common::join(&nodes, 0).await;
    let node = nodes.name(0).to_string();
    let window = Duration::from_millis(500);
    let options = health::SampleOptions { top_n: 0, window: Some(window) };

    // Nobody watches the node: it measures over the window.
    let started = Instant::now();
    let s = health::sample(&cluster, &node, options, T).await.unwrap();
    assert!(started.elapsed() >= window, "{:?}", started.elapsed());
    assert!(s.rates_window_ms.unwrap() >= 490 && s.scheduler_utilisation.is_some(), "{s:?}");

    // A monitor watches it (its sampler reads the counters every second): the answer comes at once, with
    // rates since one of the sampler's readings at least a window old.
    let monitor = health::HealthMonitor::start(&cluster, HealthOptions::default());
    monitor.wait_rounds(1, T).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let s = health::sample(&cluster, &node, options, T).await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(300), "no wait: {:?}", started.elapsed());
        let w = s.rates_window_ms.unwrap();
        assert!((500..=2100).contains(&w), "over the agent's reading: {w} ms");
        assert!(s.scheduler_utilisation.is_some() && s.reductions_per_sec.unwrap() > 0.0, "{s:?}");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    monitor.stop().await;
    // The sampler is gone with the monitor, and so is its name.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(nodes.eval(0, "whereis(orbit_health_sampler).").unwrap(), "undefined");
    cluster.disconnect().await;
}

/// The binaries compiled for a release are kept on Orbit's disk, private to its user: a later Orbit (a new
/// cache on the same directory) installs the agent on fresh nodes of that release compiling nothing, and a
/// kept file that others may write is not trusted: that module is compiled again and its file replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binaries_kept_on_disk_serve_a_later_orbit_unless_others_may_write_them() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(orbit_test_harness::unique_name("agent-cache"));
    let core: Vec<&str> = Group::Core.modules().map(|m| m.name).collect();

    let nodes = TestCluster::erlang(1);
    let first = Arc::new(BinaryCache::new(Some(dir.clone())));
    join_with(&nodes, &first).await.disconnect().await;
    assert_eq!(first.compiles(), core.len());
    let release_dir = dir.join(format!("otp-{}", otp_release(&nodes)));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&release_dir), 0o700);
    let mut kept: Vec<_> = std::fs::read_dir(&release_dir).unwrap().map(|e| e.unwrap().path()).collect();
    kept.sort();
    assert_eq!(kept.len(), core.len(), "one file per module: {kept:?}");
    for (path, module) in kept.iter().zip(["orbit_agent", "orbit_health", "orbit_procs"]) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(name.starts_with(&format!("{module}-")) && name.ends_with(".beam"), "{name}");
        assert_eq!(mode(path), 0o600, "{name}");
    }

    // A later Orbit, fresh nodes: everything comes from the disk.
    let nodes = TestCluster::erlang(1);
    let later = Arc::new(BinaryCache::new(Some(dir.clone())));
    join_with(&nodes, &later).await.disconnect().await;
    assert_eq!(later.compiles(), 0, "nothing compiled");
    assert_eq!(loaded_agent_modules(&nodes, 0), core);

    // A kept file others may write is not used: that module alone is compiled, and its file made private again.
    let health = kept.iter().find(|p| p.to_string_lossy().contains("orbit_health-")).unwrap();
    std::fs::set_permissions(health, std::fs::Permissions::from_mode(0o666)).unwrap();
    let nodes = TestCluster::erlang(1);
    let wary = Arc::new(BinaryCache::new(Some(dir.clone())));
    join_with(&nodes, &wary).await.disconnect().await;
    assert_eq!(wary.compiles(), 1, "only orbit_health was compiled");
    assert_eq!(loaded_agent_modules(&nodes, 0), core);
    assert_eq!(mode(health), 0o600, "replaced by a private file");
    std::fs::remove_dir_all(&dir).unwrap();
}
