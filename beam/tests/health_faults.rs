//! Health alerts that change level while they are up.

use beam::health::{HealthEvent, HealthMonitor, HealthOptions, Level, Status, Thresholds};
use orbit_test_harness::TestCluster;
use std::time::Duration;
mod common;

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

/// A mailbox that keeps growing past the critical threshold: the alert raised as degraded is changed to
/// critical (one alert, not a second one), and the node's status follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_alert_goes_from_degraded_to_critical_as_the_queue_grows() {
    let nodes = TestCluster::erlang(1);
    let cluster = common::join(&nodes, 0).await;
    let node = nodes.name(0).to_string();
    let thresholds = Thresholds { mailbox_degraded: 500, mailbox_critical: 2_000, ..Thresholds::default() };
    let options = HealthOptions { interval: Duration::from_millis(200), thresholds, ..HealthOptions::default() };
    let monitor = HealthMonitor::start(&cluster, options);
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
