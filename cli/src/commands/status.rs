//! `orbit status`: one row per node of the cluster.

use crate::connect::ConnectArgs;
use crate::output::{bytes, duration_ms, table};
use beam::cluster::{Cluster, ClusterEvent, NodeState};
use beam::health::{self, NodeSnapshot};
use serde::Serialize;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Keep running: print nodes joining and leaving as it happens, and the table again after each change.
    #[arg(long)]
    watch: bool,
}

#[derive(Serialize)]
struct Report {
    nodes: Vec<NodeRow>,
    disagreements: Vec<String>,
}

#[derive(Serialize)]
struct NodeRow {
    node: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(rename = "health", skip_serializing_if = "Option::is_none")]
    snapshot: Option<NodeSnapshot>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cluster = args.connect.connect().await?;
    let report = gather(&cluster, &args.connect).await;
    print_report(&report, args.json);
    if !args.watch {
        let all_up = report.nodes.iter().all(|n| n.status == "up");
        cluster.disconnect().await;
        return Ok(if all_up { ExitCode::SUCCESS } else { ExitCode::from(2) });
    }
    let mut events = cluster.subscribe();
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Ok(event) = event else { continue };
        let when = chrono_like_now();
        match &event {
            ClusterEvent::NodeUp { node } => println!("{when} {node} is up"),
            ClusterEvent::NodeDown { node, reason } => println!("{when} {node} is DOWN: {reason}"),
        }
        let report = gather(&cluster, &args.connect).await;
        print_report(&report, args.json);
    }
    cluster.disconnect().await;
    Ok(ExitCode::SUCCESS)
}

/// Wall-clock time of day (UTC) for event lines, without a date-time dependency.
fn chrono_like_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("{:02}:{:02}:{:02}", (secs / 3600) % 24, (secs / 60) % 60, secs % 60)
}

async fn gather(cluster: &Cluster, connect: &ConnectArgs) -> Report {
    let snapshots = health::snapshot_all(cluster, connect.timeout()).await;
    let mut rows = Vec::new();
    let mut ok = Vec::new();
    for (node, result) in snapshots {
        match result {
            Ok(s) => {
                ok.push(s.clone());
                rows.push(NodeRow { node, status: "up", reason: None, snapshot: Some(s) });
            }
            Err(e) => rows.push(NodeRow { node, status: "unanswered", reason: Some(e.to_string()), snapshot: None }),
        }
    }
    for (node, state) in cluster.nodes() {
        match state {
            NodeState::Up => {}
            NodeState::Connecting => rows.push(NodeRow { node, status: "connecting", reason: None, snapshot: None }),
            NodeState::Down { reason } => {
                rows.push(NodeRow { node, status: "down", reason: Some(reason), snapshot: None })
            }
        }
    }
    // Seeds Orbit could not reach at all are not members; report them too.
    for seed in &connect.nodes {
        if !rows.iter().any(|r| r.node == *seed) {
            rows.push(NodeRow {
                node: seed.clone(),
                status: "down",
                reason: Some("not reachable".into()),
                snapshot: None,
            });
        }
    }
    rows.sort_by(|a, b| a.node.cmp(&b.node));
    let disagreements = health::disagreements(&ok).iter().map(|d| d.to_string()).collect();
    Report { nodes: rows, disagreements }
}

fn print_report(report: &Report, json: bool) {
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("orbit: cannot encode JSON: {e}"),
        }
        return;
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
        "SEES",
    ];
    let rows: Vec<Vec<String>> = report
        .nodes
        .iter()
        .map(|r| match &r.snapshot {
            Some(s) => vec![
                r.node.clone(),
                r.status.to_string(),
                format!("{}/{}", s.otp_release, s.erts_version),
                s.elixir_version.clone().unwrap_or_else(|| "-".into()),
                duration_ms(s.uptime_ms),
                format!("{}/{}", s.process_count, s.process_limit),
                format!(
                    "{} ({}/{}/{})",
                    bytes(s.memory.total),
                    bytes(s.memory.processes),
                    bytes(s.memory.binary),
                    bytes(s.memory.ets)
                ),
                s.run_queue.to_string(),
                format!("{}/{}", s.schedulers_online, s.schedulers),
                sees(s, &members),
            ],
            None => {
                let mut row = vec![r.node.clone(), r.status.to_uppercase()];
                row.extend(std::iter::repeat_n("-".to_string(), 7));
                row.push(r.reason.clone().unwrap_or_default());
                row
            }
        })
        .collect();
    print!("{}", table(&header, &rows));
    for d in &report.disagreements {
        println!("! {d}");
    }
}

/// "all" when the node sees every other member that is up, else the list of those it sees.
fn sees(s: &NodeSnapshot, members: &[&str]) -> String {
    let others: Vec<&&str> = members.iter().filter(|m| **m != s.node).collect();
    if others.iter().all(|m| s.visible_nodes.iter().any(|v| v == **m)) && !others.is_empty() {
        return "all".into();
    }
    if s.visible_nodes.is_empty() {
        return "none".into();
    }
    s.visible_nodes.join(", ")
}
