//! `orbit top --once`, `--json`, `--count N`, or with stdout not a terminal: the dashboard as plain text,
//! redrawn after every round of samples (every `--interval`, 1 s by default, and at least once a second).
//!
//! On a terminal (with `--count`) it draws full-screen with ANSI codes; piped, it prints one frame after
//! another (`--json`: one JSON object per line). `--count N` stops after N frames, `--once` after one.

use super::Args;
use crate::commands::observe::{byte_rate, clip, clock, count, percent, rate, status_text, Progress};
use crate::output::{bytes, table};
use beam::health::{HealthEvent, HealthMonitor, HealthReport, Status};
use beam::processes::ProcessSummary;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Serialize)]
struct Frame<'a> {
    time: String,
    nodes: Vec<NodeLine>,
    top_memory: Vec<&'a ProcessSummary>,
    top_queue: Vec<&'a ProcessSummary>,
    alerts: &'a [beam::health::Alert],
    partition: &'a Option<beam::health::Partition>,
}

#[derive(Serialize)]
struct NodeLine {
    node: String,
    status: Status,
    reason: Option<String>,
    scheduler_utilisation: Option<f64>,
    run_queue: Option<u64>,
    memory: Option<u64>,
    memory_limit: Option<u64>,
    processes: Option<u64>,
    reductions_per_sec: Option<f64>,
    io_input_per_sec: Option<f64>,
    io_output_per_sec: Option<f64>,
    longest_queue: Option<u64>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let progress = Progress::start("connecting");
    let cluster = args.connect.connect().await?;
    progress.finish();
    // A redraw at least once a second, whatever the interval asked for.
    let interval = Duration::from_secs_f64(args.interval.clamp(0.05, 1.0));
    let monitor = HealthMonitor::start(
        &cluster,
        args.thresholds.health_options(interval, args.connect.timeout(), args.processes.clamp(1, 100)),
    );
    let mut events = monitor.subscribe();
    let screen = std::io::stdout().is_terminal() && !args.json && !args.once;
    let limit = if args.once { Some(1) } else { args.count };
    let mut out = std::io::stdout();
    if screen {
        // alternate screen, hidden cursor
        write!(out, "\x1b[?1049h\x1b[?25l")?;
        out.flush()?;
    }
    let mut progress = Some(Progress::start("sampling"));
    let mut frames = 0u64;
    let mut redraw = tokio::time::interval(Duration::from_secs(1));
    redraw.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result: anyhow::Result<()> = async {
        loop {
            tokio::select! {
                e = events.recv() => match e {
                    Ok(HealthEvent::Sampled { round }) if round >= 2 || monitor.rounds() >= 2 => {}
                    Ok(HealthEvent::NodeDown { .. }) if frames > 0 => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                    _ => continue,
                },
                _ = redraw.tick() => if monitor.rounds() < 2 { continue },
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
            if let Some(p) = progress.take() {
                p.finish();
            }
            let report = monitor.report();
            let text = if args.json {
                serde_json::to_string(&frame(&report, args.processes))? + "\n"
            } else {
                render(&report, args.processes, interval, screen)
            };
            if screen {
                write!(out, "\x1b[H\x1b[2J{text}")?;
            } else {
                if frames > 0 && !args.json {
                    writeln!(out)?;
                }
                write!(out, "{text}")?;
            }
            out.flush()?;
            frames += 1;
            redraw.reset();
            if limit.is_some_and(|n| frames >= n) {
                return Ok(());
            }
        }
    }
    .await;
    if screen {
        write!(out, "\x1b[?25h\x1b[?1049l")?;
        out.flush()?;
    }
    monitor.stop().await;
    cluster.disconnect().await;
    result.map(|()| ExitCode::SUCCESS)
}

/// Every node's top processes merged, most first.
fn merged<'a>(
    report: &'a HealthReport,
    n: usize,
    pick: impl Fn(&'a beam::health::NodeSample) -> &'a [ProcessSummary],
    key: impl Fn(&ProcessSummary) -> u64,
) -> Vec<&'a ProcessSummary> {
    let mut all: Vec<&ProcessSummary> = report
        .nodes
        .iter()
        .filter(|r| r.status != Status::Down)
        .filter_map(|r| r.sample.as_ref())
        .flat_map(|s| pick(s).iter())
        .collect();
    all.sort_by(|a, b| key(b).cmp(&key(a)).then_with(|| a.node.cmp(&b.node)));
    all.truncate(n);
    all
}

fn frame(report: &HealthReport, n: usize) -> Frame<'_> {
    Frame {
        time: clock(),
        nodes: report
            .nodes
            .iter()
            .map(|r| {
                let s = r.sample.as_ref().filter(|_| r.status != Status::Down);
                NodeLine {
                    node: r.node.clone(),
                    status: r.status,
                    reason: r.reason.clone(),
                    scheduler_utilisation: s.and_then(|s| s.scheduler_utilisation),
                    run_queue: s.map(|s| s.snapshot.run_queue),
                    memory: s.map(|s| s.snapshot.memory.total),
                    memory_limit: s.and_then(|s| s.memory_limit),
                    processes: s.map(|s| s.snapshot.process_count),
                    reductions_per_sec: s.and_then(|s| s.reductions_per_sec),
                    io_input_per_sec: s.and_then(|s| s.io_input_per_sec),
                    io_output_per_sec: s.and_then(|s| s.io_output_per_sec),
                    longest_queue: s.map(|s| s.longest_queue().map(|p| p.message_queue_len).unwrap_or(0)),
                }
            })
            .collect(),
        top_memory: merged(report, n, |s| &s.top_memory, |p| p.memory),
        top_queue: merged(report, n, |s| &s.top_queue, |p| p.message_queue_len),
        alerts: &report.alerts,
        partition: &report.partition,
    }
}

fn render(report: &HealthReport, n: usize, interval: Duration, screen: bool) -> String {
    let (width, height) = if screen { terminal_size() } else { (usize::MAX, usize::MAX) };
    let mut out = String::new();
    let tally = |s: Status| report.nodes.iter().filter(|r| r.status == s).count();
    let mut summary = vec![format!("{} healthy", tally(Status::Healthy))];
    for s in [Status::Degraded, Status::Critical, Status::Down] {
        if tally(s) > 0 {
            summary.push(format!("{} {s}", tally(s)));
        }
    }
    out.push_str(&format!(
        "orbit top — {} node(s): {} — every {:.1}s — {} UTC{}\n\n",
        report.nodes.len(),
        summary.join(", "),
        interval.as_secs_f64(),
        clock(),
        if screen { " — Ctrl-C quits" } else { "" }
    ));
    let header = ["NODE", "STATUS", "CPU", "RUNQ", "MEMORY", "PROCESSES", "REDS", "IO in/out", "LONGEST QUEUE"];
    let rows: Vec<Vec<String>> = report
        .nodes
        .iter()
        .map(|r| match r.sample.as_ref().filter(|_| r.status != Status::Down) {
            Some(s) => vec![
                r.node.clone(),
                status_text(r.status),
                percent(s.scheduler_utilisation),
                s.snapshot.run_queue.to_string(),
                match s.memory_limit {
                    Some(l) => format!(
                        "{} ({:.0}%)",
                        bytes(s.snapshot.memory.total),
                        100.0 * s.snapshot.memory.total as f64 / l as f64
                    ),
                    None => bytes(s.snapshot.memory.total),
                },
                count(s.snapshot.process_count),
                rate(s.reductions_per_sec),
                format!("{} / {}", byte_rate(s.io_input_per_sec), byte_rate(s.io_output_per_sec)),
                count(s.longest_queue().map(|p| p.message_queue_len).unwrap_or(0)),
            ],
            None => vec![
                r.node.clone(),
                status_text(r.status),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                r.reason.clone().unwrap_or_default(),
            ],
        })
        .collect();
    out.push_str(&table(&header, &rows));

    let alerts_lines: Vec<String> = report
        .alerts
        .iter()
        .map(|a| format!("! {:<8} {}", a.level.to_string(), a.message))
        .chain(report.partition.iter().map(|p| format!("! PARTITION {p}")))
        .collect();
    out.push_str(&format!("\nAlerts ({}):\n", alerts_lines.len()));
    if alerts_lines.is_empty() {
        out.push_str("  none\n");
    }
    for l in &alerts_lines {
        out.push_str(l);
        out.push('\n');
    }

    let procs = |title: &str, list: Vec<&ProcessSummary>| -> String {
        let header = ["NODE", "PID", "NAME OR INITIAL CALL", "MEMORY", "QUEUE", "CURRENT FUNCTION"];
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|p| {
                vec![
                    p.node.clone(),
                    p.pid.clone(),
                    clip(&p.label(), 40),
                    bytes(p.memory),
                    count(p.message_queue_len),
                    clip(&p.current_function.as_ref().map(|m| m.elixir()).unwrap_or_else(|| "-".into()), 40),
                ]
            })
            .collect();
        if rows.is_empty() {
            format!("\n{title}: none\n")
        } else {
            format!("\n{title}:\n{}", table(&header, &rows))
        }
    };
    out.push_str(&procs("Most memory", merged(report, n, |s| &s.top_memory, |p| p.memory)));
    out.push_str(&procs("Longest queues", merged(report, n, |s| &s.top_queue, |p| p.message_queue_len)));

    // Fit the terminal.
    out.lines().take(height.saturating_sub(1)).map(|l| clip(l, width)).collect::<Vec<_>>().join("\n") + "\n"
}

/// Columns and rows of the terminal on stdout.
fn terminal_size() -> (usize, usize) {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ fills the struct we pass, nothing else.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 && ws.ws_row > 0 {
        (ws.ws_col as usize, ws.ws_row as usize)
    } else {
        (120, 40)
    }
}
