//! `orbit inspect <node> <pid>`: one process in detail (info, stacktrace with files and lines,
//! `:sys.get_state`, links and monitors); `--graph` walks links and monitors across nodes; `--kill`
//! sends it an exit signal.

use crate::commands::observe::{count, print_json, Progress};
use crate::connect::ConnectArgs;
use crate::output::bytes;
use beam::processes::{self, EdgeKind, Fetched, InfoOptions, KillOutcome, ProcessInfo, ProcessRef, ProcessSpec};
use serde::Serialize;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The node the process lives on (name@host).
    #[arg(value_name = "NODE")]
    node: String,
    /// The process: a pid as its own node prints it (`<0.123.0>`, `#PID<0.123.0>`, `0.123.0`) or a
    /// registered name (`Bank.Mailbox`, `:code_server`).
    #[arg(value_name = "PID")]
    process: String,
    /// Seconds to wait for `:sys.get_state`.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    state_timeout: f64,
    /// Do not ask for the state.
    #[arg(long)]
    no_state: bool,
    /// Show the queued messages when there are at most this many.
    #[arg(long, default_value_t = 20)]
    messages: usize,
    /// Show the graph of links and monitors around the process, across nodes, instead.
    #[arg(long, conflicts_with = "kill")]
    graph: bool,
    /// Hops the graph follows.
    #[arg(long, default_value_t = 2, requires = "graph")]
    depth: usize,
    /// Most processes the graph shows.
    #[arg(long, default_value_t = 200, requires = "graph")]
    max: usize,
    /// Send an exit signal: `kill` (default), `shutdown`, `normal`, `{:shutdown, :reason}`…
    #[arg(long, value_name = "REASON", num_args = 0..=1, default_missing_value = "kill")]
    kill: Option<String>,
    /// Seconds to wait for a killed process to exit.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    wait: f64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Killed<'a> {
    node: &'a str,
    pid: String,
    reason: String,
    #[serde(flatten)]
    outcome: KillOutcome,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Bad input is reported before connecting.
    let spec = ProcessSpec::parse(&args.process)?;
    let reason = args.kill.as_deref().map(processes::parse_reason).transpose()?;
    let progress = Progress::start("connecting");
    let cluster = args.connect.connect().await?;
    progress.finish();
    let timeout = args.connect.timeout();
    let result = async {
        if let Some(reason) = reason {
            let shown = beam::term::render_elixir(&reason, &beam::term::Limits::default());
            let pid = processes::resolve(&cluster, &args.node, &spec, timeout).await?;
            let pid_text = processes::local_pid_text(&pid);
            let wait = Duration::from_secs_f64(args.wait.clamp(0.0, 600.0));
            let progress = Progress::start(format!("waiting for {pid_text} to exit"));
            let outcome =
                processes::kill(&cluster, &args.node, &ProcessSpec::parse(&pid_text)?, reason, wait, timeout).await;
            progress.finish();
            let outcome = outcome?;
            if args.json {
                print_json(&Killed { node: &args.node, pid: pid_text, reason: shown, outcome })?;
            } else {
                match outcome {
                    KillOutcome::Exited { reason } => {
                        println!("{pid_text} on {} exited: {reason} (sent {shown})", args.node)
                    }
                    KillOutcome::StillAlive => println!(
                        "{pid_text} on {} is still alive after {:.1}s: it traps exits, or {shown} does not end it \
                         (try --kill kill)",
                        args.node, args.wait
                    ),
                }
            }
            return Ok(());
        }
        if args.graph {
            let progress = Progress::start("following links and monitors");
            let graph = processes::graph(&cluster, &args.node, &spec, args.depth, args.max.max(1), timeout).await;
            progress.finish();
            let graph = graph?;
            if args.json {
                return print_json(&graph);
            }
            println!("Links and monitors around {} (up to {} hops):", graph.root, args.depth);
            for v in &graph.vertices {
                println!(
                    "  [{}] {}{}{}",
                    v.distance,
                    v.process,
                    v.registered_name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default(),
                    if v.unexpanded && v.distance > 0 && v.distance <= args.depth { "  (not followed)" } else { "" }
                );
            }
            println!("Edges:");
            for e in &graph.edges {
                let arrow = match e.kind {
                    EdgeKind::Link => "── link ──",
                    EdgeKind::Monitor => "─ monitors →",
                };
                println!("  {} {arrow} {}", e.from, e.to);
            }
            if graph.truncated {
                println!("(stopped at {} processes; raise --max to see more)", args.max);
            }
            return Ok(());
        }
        let options = InfoOptions {
            state_timeout: if args.no_state {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(args.state_timeout.clamp(0.001, 600.0))
            },
            max_messages: args.messages,
        };
        let progress = Progress::start("reading the process");
        let info = processes::info(&cluster, &args.node, &spec, options, timeout).await;
        progress.finish();
        let info = info?;
        if args.json {
            print_json(&info)
        } else {
            print_info(&info);
            Ok(())
        }
    }
    .await;
    cluster.disconnect().await;
    result.map(|()| ExitCode::SUCCESS)
}

fn print_info(p: &ProcessInfo) {
    match processes::process_name(p.registered_name.as_deref(), p.process_label.as_deref()) {
        Some(n) => println!("{} on {} ({n})", p.pid, p.node),
        None => println!("{} on {}", p.pid, p.node),
    }
    let mfa = |m: &Option<processes::Mfa>| m.as_ref().map(|m| m.elixir()).unwrap_or_else(|| "-".into());
    let rows = [
        ("status", p.status.clone()),
        ("initial call", mfa(&p.initial_call)),
        ("current function", mfa(&p.current_function)),
        ("message queue", count(p.message_queue_len)),
        ("memory", bytes(p.memory)),
        (
            "heap / total / stack",
            format!("{} / {} / {} words", count(p.heap_size), count(p.total_heap_size), count(p.stack_size)),
        ),
        ("reductions", count(p.reductions)),
        ("trap exit", p.trap_exit.to_string()),
        ("priority", p.priority.clone()),
        ("group leader", p.group_leader.as_ref().map(|g| g.to_string()).unwrap_or_else(|| "-".into())),
        ("ancestors", if p.ancestors.is_empty() { "-".into() } else { p.ancestors.join(", ") }),
    ];
    for (k, v) in rows {
        println!("  {k:<20} {v}");
    }
    println!("Stacktrace:");
    if p.stacktrace.is_empty() {
        println!("  (none)");
    }
    for f in &p.stacktrace {
        println!("  {f}");
    }
    refs("Links", &p.links);
    refs("Monitors", &p.monitors);
    refs("Monitored by", &p.monitored_by);
    println!("State:");
    print_fetched(&p.state);
    println!("Messages ({}):", count(p.message_queue_len));
    print_fetched(&p.messages);
}

fn refs(title: &str, list: &[ProcessRef]) {
    println!("{title} ({}):", list.len());
    for r in list {
        println!("  {r}");
    }
}

fn print_fetched(f: &Fetched) {
    match f {
        Fetched::Value { value, .. } => println!("  {value}"),
        Fetched::Skipped => println!("  (not asked for)"),
        Fetched::Unavailable { reason } => println!("  ({reason})"),
    }
}
