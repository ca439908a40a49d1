//! The interactive dashboard's I/O: the terminal (raw mode, alternate screen, restored on every way out,
//! panics included), the loop that turns terminal events into [`App`] changes and carries out their
//! [`Action`]s, and the refresh task that samples the cluster and sends [`Snapshot`]s.
//!
//! Nothing on the render path waits for a node: the refresh task fetches each node's processes on its
//! own (a node that does not answer within two refreshes is shown as `no answer`, and the others go on),
//! and inspect and kill run in tasks of their own whose answers arrive as events.

use super::Args;
use crate::commands::observe::{clock, Progress};
use beam::cluster::Cluster;
use beam::health::{HealthMonitor, HealthReport, Status};
use beam::processes::{self, InfoOptions, KillOutcome, ProcessQuery, ProcessSpec, ProcessSummary, SortBy};
use crossterm::event::EventStream;
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use futures::StreamExt;
use orbit_cli::dashboard::app::{AlertLine, Query};
use orbit_cli::dashboard::{render, Action, App, NodeRow, NodeState, ProcRow, Snapshot, SortKey, Target};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Processes each node sends per listing (its top ones for the current sort; with a filter, its top
/// matching ones by name and by module).
const PER_NODE: usize = 500;

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let progress = Progress::start("connecting");
    let cluster = args.connect.connect().await?;
    progress.finish();
    let interval = Duration::from_secs_f64(args.interval.clamp(0.05, 1.0));
    let timeout = args.connect.timeout();
    let monitor = HealthMonitor::start(&cluster, args.thresholds.health_options(interval, timeout, 1));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (query_tx, query_rx) = watch::channel(Query::default());
    let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot { waiting: true, ..Snapshot::default() }));
    let refresher = tokio::spawn(refresh(cluster.clone(), monitor, interval, timeout, query_rx, snap_tx, stop_rx));
    let result = ui(&cluster, interval, timeout, cluster.read_only(), query_tx, snap_rx).await;
    let _ = stop_tx.send(true);
    let _ = refresher.await;
    cluster.disconnect().await;
    result.map(|()| ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------------
// The terminal.

/// Whether the terminal is in raw mode on the alternate screen (so that restoring happens once).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

fn restore_terminal() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = crossterm::execute!(std::io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
    }
}

/// Raw mode and the alternate screen for as long as it lives; dropping it (any return, error or
/// unwinding) restores the terminal, and so does a panic anywhere, before the panic is printed.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> std::io::Result<TerminalGuard> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore_terminal();
                previous(info);
            }));
        });
        ACTIVE.store(true, Ordering::SeqCst);
        // From here on, Drop restores whatever the next lines managed to change.
        let guard = TerminalGuard;
        enable_raw_mode()?;
        crossterm::execute!(std::io::stdout(), EnterAlternateScreen, crossterm::cursor::Hide)?;
        Ok(guard)
    }

    /// False once a panic (in any task) restored the terminal.
    fn active(&self) -> bool {
        ACTIVE.load(Ordering::SeqCst)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Answers of the inspect and kill tasks.
enum Done {
    Inspect(Target, Box<Result<beam::processes::ProcessInfo, String>>),
    Kill(Result<String, String>),
}

async fn ui(
    cluster: &Cluster,
    interval: Duration,
    timeout: Duration,
    read_only: bool,
    query_tx: watch::Sender<Query>,
    mut snap_rx: watch::Receiver<Arc<Snapshot>>,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term_signal = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    let size = terminal.size()?;
    let mut app = App::new(read_only, (size.width, size.height));
    app.interval = interval;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut events = EventStream::new();
    let mut dirty = true;
    loop {
        if !guard.active() {
            anyhow::bail!("orbit top stopped after an internal error (see above)");
        }
        if dirty {
            terminal.draw(|f| render(&app, f))?;
            dirty = false;
        }
        tokio::select! {
            event = events.next() => {
                let event = match event {
                    None => return Ok(()),
                    Some(e) => e?,
                };
                match app.handle_event(&event) {
                    Action::None => {}
                    Action::Redraw => dirty = true,
                    Action::Quit => return Ok(()),
                    Action::QueryChanged => {
                        let _ = query_tx.send(app.query());
                        dirty = true;
                    }
                    Action::Inspect(target) => {
                        tokio::spawn(inspect(cluster.clone(), target, timeout, done_tx.clone()));
                        dirty = true;
                    }
                    Action::Kill(target) => {
                        tokio::spawn(kill(cluster.clone(), target, timeout, done_tx.clone()));
                        dirty = true;
                    }
                }
            }
            changed = snap_rx.changed() => {
                if changed.is_err() {
                    anyhow::bail!("the refresh task ended");
                }
                let snapshot = snap_rx.borrow_and_update().clone();
                app.set_snapshot(snapshot);
                dirty = true;
            }
            Some(done) = done_rx.recv() => {
                match done {
                    Done::Inspect(target, info) => app.inspect_done(&target, *info),
                    Done::Kill(outcome) => app.kill_done(outcome),
                }
                dirty = true;
            }
            _ = term_signal.recv() => return Ok(()),
            _ = hangup.recv() => return Ok(()),
        }
    }
}

async fn inspect(cluster: Cluster, target: Target, timeout: Duration, done: mpsc::UnboundedSender<Done>) {
    let info = async {
        let spec = ProcessSpec::parse(&target.pid)?;
        let options = InfoOptions { state_timeout: Duration::from_secs(2), max_messages: 20 };
        processes::info(&cluster, &target.node, &spec, options, timeout).await
    }
    .await
    .map_err(|e| e.to_string());
    let _ = done.send(Done::Inspect(target, Box::new(info)));
}

async fn kill(cluster: Cluster, target: Target, timeout: Duration, done: mpsc::UnboundedSender<Done>) {
    let outcome = async {
        let spec = ProcessSpec::parse(&target.pid)?;
        let reason = beam::term::atom("kill");
        processes::kill(&cluster, &target.node, &spec, reason, Duration::from_secs(3), timeout).await
    }
    .await;
    let text = match outcome {
        Ok(KillOutcome::Exited { reason }) => Ok(format!("{target} exited: {reason}")),
        Ok(KillOutcome::StillAlive) => Err(format!("{target} is still alive 3 s after :kill")),
        Err(e) => Err(format!("could not kill {target}: {e}")),
    };
    let _ = done.send(Done::Kill(text));
}

// ---------------------------------------------------------------------------------------------------
// The refresh task.

/// What Orbit last heard from one node about its processes.
#[derive(Default)]
struct NodeProcesses {
    /// Rows as of the last answer (their `node` index is set when a snapshot is made).
    rows: Vec<ProcRow>,
    /// The last listing failed, and why.
    error: Option<String>,
    /// A listing is under way since then.
    asked: Option<Instant>,
    /// The query of the listing under way or last answered.
    generation: u64,
}

/// Samples health (through the health monitor) and lists each node's processes every `interval`;
/// sends a snapshot after each answer and each interval. Stops, and stops the monitor, when `stop` is set.
async fn refresh(
    cluster: Cluster,
    monitor: HealthMonitor,
    interval: Duration,
    timeout: Duration,
    mut query_rx: watch::Receiver<Query>,
    out: watch::Sender<Arc<Snapshot>>,
    mut stop: watch::Receiver<bool>,
) {
    let no_answer_after = (interval * 2).max(Duration::from_secs(2));
    let mut query = query_rx.borrow().clone();
    let mut generation = 0u64;
    let mut nodes: BTreeMap<String, NodeProcesses> = BTreeMap::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, u64, Result<Vec<ProcessSummary>, String>)>();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ask = |node: &str, state: &mut NodeProcesses, query: &Query, generation: u64| {
        state.asked = Some(Instant::now());
        state.generation = generation;
        let (cluster, node, query, tx) = (cluster.clone(), node.to_string(), query.clone(), tx.clone());
        tokio::spawn(async move {
            let answer = list_node(&cluster, &node, &query, timeout).await;
            let _ = tx.send((node, generation, answer));
        });
    };
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let up = cluster.up_nodes();
                nodes.retain(|n, _| up.contains(n));
                for n in up {
                    let state = nodes.entry(n.clone()).or_default();
                    if state.asked.is_none() {
                        ask(&n, state, &query, generation);
                    }
                }
            }
            changed = query_rx.changed() => {
                if changed.is_err() {
                    break;
                }
                query = query_rx.borrow_and_update().clone();
                generation += 1;
                // Nodes busy with the previous query are asked again when they answer.
                for (n, state) in nodes.iter_mut() {
                    if state.asked.is_none() {
                        ask(n, state, &query, generation);
                    }
                }
                continue;
            }
            Some((node, answered, result)) = rx.recv() => {
                let Some(state) = nodes.get_mut(&node) else { continue };
                state.asked = None;
                match result {
                    Ok(list) => {
                        state.rows = list.iter().map(proc_row).collect();
                        state.error = None;
                    }
                    Err(e) => state.error = Some(e),
                }
                if answered < generation {
                    ask(&node, state, &query, generation);
                }
            }
            _ = stop.changed() => break,
        }
        let snapshot = snapshot(&monitor.report(), &nodes, no_answer_after);
        if out.send(Arc::new(snapshot)).is_err() {
            break;
        }
    }
    monitor.stop().await;
}

/// One node's processes for `query`: its top `PER_NODE` by the sort key; with a filter, its top ones
/// whose name matches and whose module matches (case-insensitive, the filter taken literally).
async fn list_node(
    cluster: &Cluster,
    node: &str,
    query: &Query,
    timeout: Duration,
) -> Result<Vec<ProcessSummary>, String> {
    let sort = match query.sort {
        SortKey::Memory => SortBy::Memory,
        SortKey::Reductions => SortBy::Reductions,
        SortKey::Queue => SortBy::MessageQueue,
    };
    let base = ProcessQuery { nodes: vec![node.to_string()], sort, limit: PER_NODE, ..ProcessQuery::default() };
    let list = |q: ProcessQuery| async move {
        let page = processes::list(cluster, &q, timeout).await.map_err(|e| e.to_string())?;
        match page.errors.into_values().next() {
            Some(e) => Err(e),
            None => Ok(page.processes),
        }
    };
    if query.filter.is_empty() {
        return list(base).await;
    }
    let pattern = format!("(?i){}", regex_literal(&query.filter));
    let (by_name, by_module) = futures::join!(
        list(ProcessQuery { name: Some(pattern.clone()), ..base.clone() }),
        list(ProcessQuery { module: Some(pattern), ..base })
    );
    let mut all = by_name?;
    for p in by_module? {
        if !all.iter().any(|q| q.pid == p.pid) {
            all.push(p);
        }
    }
    Ok(all)
}

/// `text` as a regular expression (PCRE, as the nodes use) that matches it literally.
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn proc_row(p: &ProcessSummary) -> ProcRow {
    ProcRow::new(
        0,
        p.pid.clone(),
        p.label(),
        p.current_function.as_ref().map(|m| m.elixir()).unwrap_or_else(|| "-".into()),
        &p.initial_call.as_ref().map(|m| m.elixir()).unwrap_or_default(),
        p.memory,
        p.reductions,
        p.message_queue_len,
    )
}

/// The health report and the processes lists, as the dashboard shows them.
fn snapshot(report: &HealthReport, procs: &BTreeMap<String, NodeProcesses>, no_answer_after: Duration) -> Snapshot {
    let mut nodes = Vec::with_capacity(report.nodes.len());
    let mut processes = Vec::new();
    for r in &report.nodes {
        let p = procs.get(&r.node);
        let listing_silent = p.and_then(|p| p.asked).is_some_and(|at| at.elapsed() >= no_answer_after);
        let (state, reason) = match r.status {
            Status::Down => (NodeState::Down, r.reason.clone()),
            _ if r.no_answer => (NodeState::NoAnswer, r.reason.clone().or_else(|| Some("no sample in time".into()))),
            _ if listing_silent => (NodeState::NoAnswer, Some(format!("no answer for {}s", no_answer_after.as_secs()))),
            _ if p.is_some_and(|p| p.error.is_some()) => (NodeState::NoAnswer, p.and_then(|p| p.error.clone())),
            Status::Healthy => (NodeState::Healthy, None),
            Status::Degraded => (NodeState::Degraded, None),
            Status::Critical => (NodeState::Critical, None),
        };
        let s = r.sample.as_ref().filter(|_| state != NodeState::Down);
        let index = nodes.len() as u16;
        nodes.push(NodeRow {
            name: r.node.clone(),
            state,
            reason,
            cpu: s.and_then(|s| s.scheduler_utilisation),
            run_queue: s.map(|s| s.snapshot.run_queue),
            memory: s.map(|s| s.snapshot.memory.total),
            memory_limit: s.and_then(|s| s.memory_limit),
            processes: s.map(|s| s.snapshot.process_count),
            alerts: r.alerts.len(),
        });
        if state != NodeState::Down {
            if let Some(p) = p {
                processes.extend(p.rows.iter().map(|row| row.on_node(index)));
            }
        }
    }
    Snapshot {
        time: clock(),
        waiting: report.rounds == 0 && processes.is_empty(),
        nodes,
        processes,
        alerts: report
            .alerts
            .iter()
            .map(|a| AlertLine { level: a.level.to_string(), text: a.message.clone() })
            .collect(),
        partition: report.partition.as_ref().map(|p| p.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_taken_literally() {
        assert_eq!(regex_literal("Bank.Account"), "Bank\\.Account");
        assert_eq!(regex_literal("a(b)*"), "a\\(b\\)\\*");
        assert_eq!(regex_literal("plain"), "plain");
    }
}
