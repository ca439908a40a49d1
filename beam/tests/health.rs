//! Health sampling, alerts, node failure and partitions, against real clusters.

use beam::health::{self, HealthEvent, HealthMonitor, HealthOptions, Level, Status, Thresholds};
use beam::term::atom;
use orbit_test_harness::TestCluster;
use std::time::Duration;
mod common;
use common::join;

const T: Duration = Duration::from_secs(10);

fn fast(thresholds: Thresholds) -> HealthOptions {
    HealthOptions { interval: Duration::from_millis(200), thresholds, ..HealthOptions::default() }
}

/// The first event that satisfies `pred`, within a generous bound (a hang fails rather than blocks).
async fn wait_event(
    rx: &mut tokio::sync::broadcast::Receiver<HealthEvent>,
    what: &str,
    mut pred: impl FnMut(&HealthEvent) -> bool,
) -> HealthEvent {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_carry_rates_history_and_top_processes_and_the_sampler_is_undone() {
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let monitor = HealthMonitor::start(&cluster, fast(Thresholds::default()));
    assert!(monitor.wait_rounds(3, Duration::from_secs(60)).await >= 3);
    let report = monitor.report();
    assert_eq!(report.nodes.len(), 2);
    assert!(report.partition.is_none(), "{:?}", report.partition);
    for n in &report.nodes {
        assert_eq!(n.status, Status::Healthy, "{n:?}");
        let s = n.sample.as_ref().expect("sampled");
        assert_eq!(s.node(), n.node);
        let u = s.scheduler_utilisation.expect("scheduler utilisation once two samples are in");
        assert!((0.0..=1.0).contains(&u));
        assert!(s.reductions_per_sec.unwrap() > 0.0);
        assert!(s.io_input_per_sec.is_some() && s.io_output_per_sec.is_some());
        assert!(s.memory_limit.unwrap() > s.snapshot.memory.total);
        assert!(s.ets_limit > 0 && s.ets_count > 0);
        assert_eq!(s.top_memory.len(), 5);
        assert!(s.top_memory.windows(2).all(|w| w[0].memory >= w[1].memory), "most memory first");
        assert!(s.top_memory.iter().all(|p| p.node == n.node && p.pid.starts_with("#PID<0.")));
        let score = n.placement_score.unwrap();
        assert!(score > 0.0 && score <= 1.0);
        assert!(monitor.history(&n.node).len() >= 2);
    }
    // the sampler holds scheduler_wall_time on while the monitor runs, and only then
    let node = nodes.name(0).to_string();
    let swt = || cluster.call(&node, "erlang", "statistics", vec![atom("scheduler_wall_time")], T);
    assert_ne!(swt().await.unwrap(), atom("undefined"));
    monitor.stop().await;
    let mut off = false;
    for _ in 0..100 {
        if swt().await.unwrap() == atom("undefined") {
            off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(off, "stopping the monitor undoes the sampler");

    // placement
    let best = health::best_node(&cluster, &[]).await.expect("a node");
    assert!(nodes.names().contains(&best));
    let other = health::best_node(&cluster, std::slice::from_ref(&best)).await.expect("the other node");
    assert_ne!(other, best);
    assert_eq!(health::best_node(&cluster, &nodes.names()).await, None);
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sampler_goes_away_with_orbit() {
    let nodes = TestCluster::erlang(1);
    let cluster = join(&nodes, 0).await;
    let monitor = HealthMonitor::start(&cluster, fast(Thresholds::default()));
    monitor.wait_rounds(2, Duration::from_secs(60)).await;
    assert_eq!(nodes.eval(0, "erlang:statistics(scheduler_wall_time) =/= undefined.").as_deref(), Ok("true"));
    // Orbit leaves without stopping the monitor: the registered clean-up stops the sampler.
    drop(monitor);
    cluster.disconnect().await;
    let mut off = false;
    for _ in 0..100 {
        if nodes.eval(0, "erlang:statistics(scheduler_wall_time).").as_deref() == Ok("undefined") {
            off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(off, "scheduler_wall_time is off again once Orbit is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_mailbox_degrades_the_node_and_it_recovers() {
    let nodes = TestCluster::demo(3);
    let cluster = join(&nodes, 0).await;
    let thresholds = Thresholds { mailbox_degraded: 500, mailbox_critical: 1_000_000, ..Thresholds::default() };
    let monitor = HealthMonitor::start(&cluster, fast(thresholds));
    let mut events = monitor.subscribe();
    monitor.wait_rounds(2, Duration::from_secs(60)).await;
    let flooded = nodes.name(1).to_string();
    assert!(monitor.report().nodes.iter().all(|n| n.status == Status::Healthy), "{:?}", monitor.report().alerts);

    // Each message takes the consumer 50 ms: 2,000 of them stay queued for the length of the test.
    assert_eq!(nodes.eval(1, "'Elixir.Bank.Mailbox':flood(2000).").as_deref(), Ok("2000"));
    let raised = wait_event(
        &mut events,
        "the mailbox alert",
        |e| matches!(e, HealthEvent::AlertRaised(a) if a.node == flooded && a.key == "mailbox"),
    )
    .await;
    let HealthEvent::AlertRaised(alert) = raised else { unreachable!() };
    assert_eq!(alert.level, Level::Degraded);
    assert!(alert.message.contains("Bank.Mailbox #PID<0."), "{}", alert.message);
    assert!(alert.message.contains(&format!("on {flooded} has")), "{}", alert.message);
    wait_event(
        &mut events,
        "the status change",
        |e| matches!(e, HealthEvent::StatusChanged { node, to: Status::Degraded, .. } if *node == flooded),
    )
    .await;
    let report = monitor.report();
    assert_eq!(report.status(&flooded), Some(Status::Degraded));
    for other in [nodes.name(0), nodes.name(2)] {
        assert_eq!(report.status(other), Some(Status::Healthy), "only the flooded node is degraded");
    }
    let longest = report.nodes.iter().find(|n| n.node == flooded).unwrap().sample.as_ref().unwrap().longest_queue();
    assert_eq!(longest.unwrap().registered_name.as_deref(), Some("Bank.Mailbox"));

    assert_eq!(nodes.eval(1, "'Elixir.Bank.Mailbox':drain().").as_deref(), Ok("ok"));
    wait_event(
        &mut events,
        "the alert clearing",
        |e| matches!(e, HealthEvent::AlertCleared(a) if a.node == flooded && a.key == "mailbox"),
    )
    .await;
    wait_event(
        &mut events,
        "healthy again",
        |e| matches!(e, HealthEvent::StatusChanged { node, to: Status::Healthy, .. } if *node == flooded),
    )
    .await;
    assert_eq!(monitor.report().status(&flooded), Some(Status::Healthy));
    monitor.stop().await;
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_dies_is_reported_down_before_the_next_round() {
    let mut nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let monitor = HealthMonitor::start(&cluster, HealthOptions::default());
    monitor.wait_rounds(1, Duration::from_secs(60)).await;
    let mut events = monitor.subscribe();
    let victim = nodes.name(1).to_string();
    nodes.nodes[1].kill();
    let mut rounds_before = 0;
    let down = wait_event(&mut events, "NodeDown", |e| {
        if matches!(e, HealthEvent::Sampled { .. }) {
            rounds_before += 1;
        }
        matches!(e, HealthEvent::NodeDown { node, .. } if *node == victim)
    })
    .await;
    // At most the round already under way when the socket closed finishes first.
    assert!(rounds_before <= 1, "NodeDown came {rounds_before} rounds late");
    let HealthEvent::NodeDown { reason, .. } = down else { unreachable!() };
    assert!(reason.contains("closed"), "{reason}");
    let report = monitor.report();
    let row = report.nodes.iter().find(|n| n.node == victim).unwrap();
    assert_eq!(row.status, Status::Down);
    assert!(row.reason.as_deref().unwrap_or("").contains("closed"), "{row:?}");
    assert_eq!(report.status(nodes.name(0)), Some(Status::Healthy));
    monitor.stop().await;
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_is_detected_and_its_healing_reported() {
    let nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, 0).await;
    let monitor = HealthMonitor::start(&cluster, fast(Thresholds::default()));
    let mut events = monitor.subscribe();
    monitor.wait_rounds(1, Duration::from_secs(60)).await;
    assert!(monitor.report().partition.is_none());

    nodes.cut(0, 1);
    let detected = wait_event(&mut events, "the partition", |e| matches!(e, HealthEvent::PartitionDetected(_))).await;
    let HealthEvent::PartitionDetected(mut p) = detected else { unreachable!() };
    // OTP 25's global (prevent_overlapping_partitions) may cut more pairs right after: take the view once
    // the cluster has settled, then check what is true of it.
    monitor.wait_rounds(monitor.rounds() + 3, Duration::from_secs(60)).await;
    if let Some(settled) = monitor.report().partition {
        p = settled;
    }
    let (a, b) = (nodes.name(0).to_string(), nodes.name(1).to_string());
    assert!(
        p.cuts.iter().any(|c| [&c.node, &c.peer].contains(&&a) && [&c.node, &c.peer].contains(&&b)),
        "the cut pair is reported: {p}"
    );
    assert!(p.groups.len() >= 2, "{p}");
    assert!(!p.groups.iter().any(|g| g.contains(&a) && g.contains(&b)), "a and b are in no group together: {p}");
    for i in 0..3 {
        let seen = nodes.nodes_seen_by(i);
        let group_of_i: Vec<&Vec<String>> = p.groups.iter().filter(|g| g.contains(&nodes.names()[i])).collect();
        assert!(!group_of_i.is_empty(), "every node is in a group: {p}");
        for g in group_of_i {
            for other in g.iter().filter(|o| **o != nodes.names()[i]) {
                assert!(seen.contains(other), "{} sees {other} as its group says: {p}", nodes.names()[i]);
            }
        }
    }
    assert_eq!(cluster.up_nodes().len(), 3, "Orbit still reaches every node");

    // Heal every pair that is cut.
    for c in &p.cuts {
        let i = nodes.names().iter().position(|n| *n == c.node).unwrap();
        let j = nodes.names().iter().position(|n| *n == c.peer).unwrap();
        nodes.heal(i, j);
    }
    let healed = wait_event(&mut events, "the healing", |e| matches!(e, HealthEvent::PartitionHealed { .. })).await;
    let HealthEvent::PartitionHealed { was } = healed else { unreachable!() };
    assert!(!was.cuts.is_empty());
    for i in 0..3 {
        assert_eq!(nodes.nodes_seen_by(i).len(), 2);
    }
    monitor.stop().await;
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_growth_gives_a_trend_warning() {
    let nodes = TestCluster::erlang(1);
    let cluster = join(&nodes, 0).await;
    // Any growth counts: the horizon is longer than the process limit could take to fill.
    let thresholds = Thresholds {
        trend_horizon: Duration::from_secs(100 * 365 * 24 * 3600),
        trend_window: 10,
        ..Thresholds::default()
    };
    let node = nodes.name(0).to_string();
    let monitor = HealthMonitor::start(&cluster, fast(thresholds));
    let mut events = monitor.subscribe();
    // ~50 new processes a second for about 20 s
    nodes
        .eval(
            0,
            "spawn(fun() -> [begin spawn(fun() -> receive after infinity -> ok end end), timer:sleep(20) end \
             || _ <- lists:seq(1, 1000)] end), ok.",
        )
        .unwrap();
    let raised = wait_event(
        &mut events,
        "the trend warning",
        |e| matches!(e, HealthEvent::AlertRaised(a) if a.key == "trend:processes" && a.node == node),
    )
    .await;
    let HealthEvent::AlertRaised(a) = raised else { unreachable!() };
    assert_eq!(a.level, Level::Warning);
    assert!(a.message.starts_with(&format!("processes on {node} reaches the limit in ~")), "{}", a.message);
    assert!(a.message.contains("at the current rate"), "{}", a.message);
    // a warning does not change the status
    assert_eq!(monitor.report().status(&node), Some(Status::Healthy));
    monitor.stop().await;
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_off_check_reports_every_node() {
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let options = HealthOptions { interval: Duration::from_millis(300), ..HealthOptions::default() };
    let report = health::check(&cluster, options, 2).await;
    assert_eq!(report.rounds, 2);
    assert_eq!(report.nodes.len(), 2);
    for n in &report.nodes {
        assert_eq!(n.status, Status::Healthy);
        assert!(n.sample.as_ref().unwrap().scheduler_utilisation.is_some());
    }
    // One-off samples measure utilisation over their own window.
    let s = health::sample(
        &cluster,
        nodes.name(0),
        health::SampleOptions { top_n: 3, window: Some(Duration::from_millis(50)) },
        T,
    )
    .await
    .unwrap();
    assert!(s.scheduler_utilisation.is_some());
    assert_eq!(s.top_memory.len(), 3);
    let err = health::sample(&cluster, "nope@nowhere", health::SampleOptions::default(), T).await.unwrap_err();
    assert!(err.to_string().contains("nope@nowhere"), "{err}");
    cluster.disconnect().await;
}

/// A node frozen past the tick time is reported down (it stops answering), and when it is thawed and Orbit
/// has it back, it comes up and its status goes from down to healthy again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_is_down_then_healthy_again_when_it_comes_back() {
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let monitor = HealthMonitor::start(&cluster, fast(Thresholds::default()));
    monitor.wait_rounds(1, Duration::from_secs(60)).await;
    let mut events = monitor.subscribe();
    let frozen = nodes.name(1).to_string();
    nodes.nodes[1].freeze();
    wait_event(&mut events, "NodeDown", |e| matches!(e, HealthEvent::NodeDown { node, .. } if *node == frozen)).await;
    assert_eq!(monitor.report().status(&frozen), Some(Status::Down));
    nodes.nodes[1].thaw();
    wait_event(&mut events, "NodeUp", |e| matches!(e, HealthEvent::NodeUp { node } if *node == frozen)).await;
    let back = wait_event(
        &mut events,
        "the status change",
        |e| matches!(e, HealthEvent::StatusChanged { node, .. } if *node == frozen),
    )
    .await;
    let HealthEvent::StatusChanged { from, to, .. } = back else { unreachable!() };
    assert_eq!((from, to), (Status::Down, Status::Healthy));
    monitor.wait_rounds(monitor.rounds() + 1, Duration::from_secs(60)).await;
    assert_eq!(monitor.report().status(&frozen), Some(Status::Healthy));
    monitor.stop().await;
    cluster.disconnect().await;
}

/// A mailbox that keeps growing past the critical threshold: the alert raised as degraded is changed to
/// critical (one alert, not a second one), and the node's status follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_alert_goes_from_degraded_to_critical_as_the_queue_grows() {
    let nodes = TestCluster::erlang(1);
    let cluster = join(&nodes, 0).await;
    let node = nodes.name(0).to_string();
    let thresholds = Thresholds { mailbox_degraded: 500, mailbox_critical: 2_000, ..Thresholds::default() };
    let monitor = HealthMonitor::start(&cluster, fast(thresholds));
    let mut events = monitor.subscribe();

    // A process that never reads its mailbox.
    let fill = |n: u32| format!("[orbit_deaf ! {{m, I}} || I <- lists:seq(1, {n})], ok.");
    nodes.eval(0, "register(orbit_deaf, spawn(fun() -> receive never -> ok end end)).").unwrap();
    nodes.eval(0, &fill(1_000)).unwrap();
    let raised = wait_event(
        &mut events,
        "the degraded alert",
        |e| matches!(e, HealthEvent::AlertRaised(a) if a.node == node && a.key == "mailbox"),
    )
    .await;
    let HealthEvent::AlertRaised(alert) = raised else { unreachable!() };
    assert_eq!(alert.level.to_string(), "degraded");

    nodes.eval(0, &fill(4_000)).unwrap();
    let changed = wait_event(
        &mut events,
        "the alert changing level",
        |e| matches!(e, HealthEvent::AlertChanged(a) if a.node == node && a.key == "mailbox"),
    )
    .await;
    let HealthEvent::AlertChanged(alert) = changed else { unreachable!() };
    assert_eq!(alert.level, Level::Critical);
    wait_event(
        &mut events,
        "the status change",
        |e| matches!(e, HealthEvent::StatusChanged { node: n, to: Status::Critical, .. } if *n == node),
    )
    .await;
    let report = monitor.report();
    let mailbox: Vec<_> = report.alerts.iter().filter(|a| a.key == "mailbox").collect();
    assert_eq!(mailbox.len(), 1, "{mailbox:?}");
    assert_eq!(report.status(&node), Some(Status::Critical));
    monitor.stop().await;
    cluster.disconnect().await;
}
