//! `orbit status`: one row per node of the cluster with its health, then alerts and partitions.
//!
//! Samples every node once, as soon as it is connected; each node measures its rates and scheduler
//! utilisation itself over `--window` within that one call. Every node is judged against the thresholds
//! on its own: a node that has not answered by the timeout is shown as `no answer` and never holds up
//! the others. `--watch` keeps sampling every `--interval` and prints what changes.

use crate::commands::observe::{
    byte_rate, clock, count, percent, print_json, rate, status_text, Progress, ThresholdArgs,
};
use crate::connect::ConnectArgs;
use crate::output::{bytes, duration_ms, table};
use beam::agent::Groups;
use beam::health::{self, HealthEvent, HealthMonitor, HealthReport, NodeSample, Status};
use serde::Serialize;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Keep running: print nodes joining and leaving, alerts and partitions as they happen, and the table
    /// again after each change.
    #[arg(long)]
    watch: bool,
    /// CPU, REDS and IO are rates over this window: each node measures them itself within the one sample
    /// `orbit status` takes (so the answer comes after about this long). A node Orbit already watches
    /// (orbit top, orbit lsp, status --watch) answers at once, with rates since its agent's last reading
    /// (taken every second). With --watch they cover --interval instead.
    #[arg(long, default_value_t = 0.2, value_name = "SECONDS")]
    window: f64,
    /// With --watch: seconds between samples.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    interval: f64,
    #[command(flatten)]
    thresholds: ThresholdArgs,
}

/// What `--json` prints: the health report, plus the earlier `disagreements` list.
#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    report: &'a HealthReport,
    /// Pairs of nodes whose views of each other differ.
    disagreements: Vec<String>,
    /// Seeds Orbit could not reach at all.
    unreachable_seeds: Vec<String>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let started = tokio::time::Instant::now();
    let interval = Duration::from_secs_f64(args.interval.clamp(0.05, 3600.0));
    let options = args.thresholds.health_options(interval, args.connect.timeout(), 5);

    if !args.watch {
        let progress = Progress::start("connecting");
        // The core of the agent only; nodes other than the seeds connect in the background, and each is
        // sampled as soon as it is ready.
        let cluster = args.connect.join(Groups::NONE).await?;
        progress.finish();
        let window = Duration::from_secs_f64(args.window.clamp(0.01, 60.0));
        let deadline = started + args.connect.timeout() + window;
        let progress = Progress::start("sampling");
        let report = health::check_once(&cluster, &options, window, deadline).await;
        progress.finish();
        let unreachable = unreachable_seeds(&args, &cluster);
        print_report(&report, &unreachable, args.json)?;
        let any_down = report.nodes.iter().any(|n| n.status == Status::Down || n.no_answer) || !unreachable.is_empty();
        cluster.disconnect().await;
        return Ok(if any_down { ExitCode::from(2) } else { ExitCode::SUCCESS });
    }

    let progress = Progress::start("connecting");
    let cluster = args.connect.connect().await?;
    progress.finish();
    let unreachable = unreachable_seeds(&args, &cluster);
    let monitor = HealthMonitor::start(&cluster, options);
    let mut events = monitor.subscribe();
    let progress = Progress::start("sampling");
    monitor.wait_rounds(2, interval * 4 + args.connect.timeout() * 2).await;
    progress.finish();
    print_report(&monitor.report(), &unreachable, args.json)?;
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = tokio::signal::ctrl_c() => break,
        };
        let event = match event {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => break,
        };
        let when = clock();
        let line = match &event {
            HealthEvent::Sampled { .. } => continue,
            HealthEvent::NodeUp { node } => format!("{when} {node} is up"),
            HealthEvent::NodeDown { node, reason } => format!("{when} {node} is DOWN: {reason}"),
            HealthEvent::StatusChanged { node, from, to } => format!("{when} {node} is {to} (was {from})"),
            HealthEvent::AlertRaised(a) => format!("{when} ! {} {}", a.level, a.message),
            HealthEvent::AlertChanged(a) => format!("{when} ! now {} {}", a.level, a.message),
            HealthEvent::AlertCleared(a) => format!("{when} cleared: {}", a.message),
            HealthEvent::PartitionDetected(p) => format!("{when} ! PARTITION: {p}"),
            HealthEvent::PartitionChanged(p) => format!("{when} ! partition changed: {p}"),
            HealthEvent::PartitionHealed { .. } => format!("{when} partition healed: every node sees every other"),
        };
        if args.json {
            println!("{}", serde_json::to_string(&event_json(&event, &line))?);
        } else {
            println!("{line}");
        }
        // Redraw the table after membership and status changes.
        if matches!(
            event,
            HealthEvent::NodeUp { .. } | HealthEvent::NodeDown { .. } | HealthEvent::StatusChanged { .. }
        ) && !args.json
        {
            print_report(&monitor.report(), &unreachable, false)?;
        }
    }
    monitor.stop().await;
    cluster.disconnect().await;
    Ok(ExitCode::SUCCESS)
}

/// Seeds Orbit does not know as members at all.
fn unreachable_seeds(args: &Args, cluster: &beam::cluster::Cluster) -> Vec<String> {
    let known = cluster.nodes();
    args.connect.nodes.iter().filter(|s| !known.iter().any(|(n, _)| n == *s)).cloned().collect()
}

#[derive(Serialize)]
struct EventLine<'a> {
    event: &'static str,
    text: &'a str,
}

fn event_json<'a>(e: &HealthEvent, text: &'a str) -> EventLine<'a> {
    let event = match e {
        HealthEvent::Sampled { .. } => "sampled",
        HealthEvent::NodeUp { .. } => "node_up",
        HealthEvent::NodeDown { .. } => "node_down",
        HealthEvent::StatusChanged { .. } => "status_changed",
        HealthEvent::AlertRaised(_) => "alert_raised",
        HealthEvent::AlertChanged(_) => "alert_changed",
        HealthEvent::AlertCleared(_) => "alert_cleared",
        HealthEvent::PartitionDetected(_) => "partition_detected",
        HealthEvent::PartitionChanged(_) => "partition_changed",
        HealthEvent::PartitionHealed { .. } => "partition_healed",
    };
    EventLine { event, text }
}

fn print_report(report: &HealthReport, unreachable: &[String], json: bool) -> anyhow::Result<()> {
    let samples: Vec<health::NodeSnapshot> =
        report.nodes.iter().filter_map(|n| n.sample.as_ref().map(|s| s.snapshot.clone())).collect();
    let disagreements: Vec<String> = health::disagreements(&samples).iter().map(|d| d.to_string()).collect();
    if json {
        return print_json(&Report { report, disagreements, unreachable_seeds: unreachable.to_vec() });
    }
    let members: Vec<&str> = report.nodes.iter().map(|r| r.node.as_str()).collect();
    let header = [
        "NODE",
        "STATUS",
        "OTP/ERTS",
        "ELIXIR",
        "UPTIME",
        "PROCESSES",
        "MEMORY (proc/bin/ets)",
        "RUNQ",
        "SCHED",
        "CPU",
        "REDS",
        "IO in/out",
        "SEES",
    ];
    let mut rows: Vec<Vec<String>> = report
        .nodes
        .iter()
        .map(|r| match (&r.sample, r.status) {
            (Some(s), status) if status != Status::Down && !r.no_answer => row(&r.node, status, s, &members),
            _ => {
                let status = if r.no_answer { "no answer".to_string() } else { status_text(r.status) };
                let mut row = vec![r.node.clone(), status];
                row.extend(std::iter::repeat_n("-".to_string(), header.len() - 3));
                row.push(r.reason.clone().unwrap_or_default());
                row
            }
        })
        .collect();
    for seed in unreachable {
        let mut row = vec![seed.clone(), "DOWN".into()];
        row.extend(std::iter::repeat_n("-".to_string(), header.len() - 3));
        row.push("not reachable".into());
        rows.push(row);
    }
    print!("{}", table(&header, &rows));
    for a in &report.alerts {
        println!("! {:<8} {}", a.level.to_string(), a.message);
    }
    if let Some(p) = &report.partition {
        println!(
            "! PARTITION: {} group(s): {}",
            p.groups.len(),
            p.groups.iter().map(|g| format!("[{}]", g.join(", "))).collect::<Vec<_>>().join(" ")
        );
        for c in &p.cuts {
            println!("!   {c}");
        }
    } else {
        for d in &disagreements {
            println!("! {d}");
        }
    }
    Ok(())
}

fn row(node: &str, status: Status, s: &NodeSample, members: &[&str]) -> Vec<String> {
    let n = &s.snapshot;
    vec![
        node.to_string(),
        status_text(status),
        format!("{}/{}", n.otp_release, n.erts_version),
        n.elixir_version.clone().unwrap_or_else(|| "-".into()),
        duration_ms(n.uptime_ms),
        format!("{}/{}", count(n.process_count), count(n.process_limit)),
        format!(
            "{} ({}/{}/{})",
            bytes(n.memory.total),
            bytes(n.memory.processes),
            bytes(n.memory.binary),
            bytes(n.memory.ets)
        ),
        n.run_queue.to_string(),
        format!("{}/{}", n.schedulers_online, n.schedulers),
        percent(s.scheduler_utilisation),
        rate(s.reductions_per_sec),
        format!("{} / {}", byte_rate(s.io_input_per_sec), byte_rate(s.io_output_per_sec)),
        sees(n, members),
    ]
}

/// "all" when the node sees every other member, else the list of those it sees.
fn sees(s: &health::NodeSnapshot, members: &[&str]) -> String {
    let others: Vec<&&str> = members.iter().filter(|m| **m != s.node).collect();
    if others.iter().all(|m| s.visible_nodes.iter().any(|v| v == **m)) && !others.is_empty() {
        return "all".into();
    }
    if s.visible_nodes.is_empty() {
        return "none".into();
    }
    s.visible_nodes.join(", ")
}
