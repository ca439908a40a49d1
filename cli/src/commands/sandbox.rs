//! `orbit sandbox create|list|status|migrate|destroy|balance|failover|watch`.

use crate::commands::observe::{clock, print_json, Progress};
use crate::connect::ConnectArgs;
use crate::output::{bytes, duration_ms, table};
use beam::names::module_atom;
use beam::sandbox::{self, Children, CreateOptions, Sandbox, SandboxStatus, Strategy};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// What every sandbox command takes.
#[derive(clap::Args, Debug)]
struct Common {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Start a sandbox: a supervision tree of its own, on the best node (or --on NODE).
    Create(CreateArgs),
    /// Every sandbox: node, status, children, memory, restarts; and failovers since Orbit last looked.
    List(Common),
    /// One sandbox in detail: its children, the handoff state it keeps, what happened to it.
    Status(NameArgs),
    /// Move a sandbox to another node (start there, then stop where it ran).
    Migrate(MigrateArgs),
    /// Stop a sandbox and forget it.
    Destroy(NameArgs),
    /// Even out the running sandboxes across the nodes.
    Balance(BalanceArgs),
    /// Restart now, on the best remaining node, the sandboxes whose node is down (the nodes do this by
    /// themselves; this is for those they could not restart).
    Failover(Common),
    /// Keep running: when a node goes down, say where its sandboxes went and what state was lost (and
    /// restart those the nodes did not).
    Watch(Common),
}

#[derive(clap::Args, Debug)]
struct NameArgs {
    /// The sandbox's name.
    name: String,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args, Debug)]
struct CreateArgs {
    #[command(flatten)]
    common: Common,
    /// The sandbox's name (unique in the cluster).
    name: String,
    /// A module with child_spec/1, e.g. `Bank.Account` or `:my_server`.
    #[arg(long, value_name = "MODULE", required_unless_present = "child")]
    module: Option<String>,
    /// The argument of MODULE.child_spec/1, as an expression (default `[]`).
    #[arg(long, value_name = "EXPR", requires = "module")]
    arg: Option<String>,
    /// A child spec as an expression, e.g. `{Agent, fn -> 0 end}`; repeat for more children.
    #[arg(long, value_name = "EXPR", conflicts_with = "module")]
    child: Vec<String>,
    /// The expressions are Erlang, not Elixir.
    #[arg(long)]
    erlang: bool,
    /// Start it on this node instead of the one with the best placement score.
    #[arg(long = "on", value_name = "NODE")]
    on: Option<String>,
    #[arg(long, value_enum, default_value = "one-for-one")]
    strategy: StrategyArg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum StrategyArg {
    OneForOne,
    OneForAll,
    RestForOne,
}

#[derive(clap::Args, Debug)]
struct MigrateArgs {
    #[command(flatten)]
    common: Common,
    /// The sandbox's name.
    name: String,
    /// The node to move it to.
    #[arg(long, value_name = "NODE")]
    to: String,
    /// Carry the state of GenServer children over (:sys.get_state / :sys.replace_state); without it
    /// the children start afresh from their child specs.
    #[arg(long)]
    handoff: bool,
}

#[derive(clap::Args, Debug)]
struct BalanceArgs {
    #[command(flatten)]
    common: Common,
    /// Carry the state of GenServer children over when a sandbox moves.
    #[arg(long)]
    handoff: bool,
    /// Only show the moves.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let common = match &args.command {
        Command::Create(c) => &c.common,
        Command::List(c) | Command::Failover(c) | Command::Watch(c) => c,
        Command::Migrate(c) => &c.common,
        Command::Destroy(c) | Command::Status(c) => &c.common,
        Command::Balance(c) => &c.common,
    };
    let progress = Progress::start("connecting");
    let cluster = common.connect.connect_for(beam::agent::Group::Sandbox.into()).await?;
    progress.finish();
    let timeout = common.connect.timeout().max(std::time::Duration::from_secs(30));
    let result = run_command(&cluster, &args.command, common.json, timeout).await;
    cluster.disconnect().await;
    result
}

async fn run_command(
    cluster: &beam::cluster::Cluster,
    command: &Command,
    json: bool,
    timeout: std::time::Duration,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Create(c) => {
            let children = children(c);
            let options = CreateOptions {
                node: c.on.clone(),
                strategy: match c.strategy {
                    StrategyArg::OneForOne => Strategy::OneForOne,
                    StrategyArg::OneForAll => Strategy::OneForAll,
                    StrategyArg::RestForOne => Strategy::RestForOne,
                },
                timeout,
            };
            let progress = Progress::start(format!("starting sandbox {}", c.name));
            let sb = sandbox::create(cluster, &c.name, &children, &options).await;
            progress.finish();
            let sb = sb?;
            if json {
                print_json(&sb)?;
            } else {
                println!("Sandbox {} runs on {}.", sb.id, sb.node);
                print!("{}", render_list(std::slice::from_ref(&sb)));
            }
        }
        Command::List(_) => {
            let progress = Progress::start("reading the sandbox registry");
            let all = sandbox::list(cluster, timeout).await;
            progress.finish();
            let all = all?;
            if json {
                print_json(&all)?;
            } else if all.is_empty() {
                println!("No sandboxes. `orbit sandbox create NAME --module M` starts one.");
            } else {
                print!("{}", render_list(&all));
                print!("{}", render_notes(&all));
            }
        }
        Command::Status(NameArgs { name, .. }) => {
            let progress = Progress::start("reading the sandbox registry");
            let sb = sandbox::get(cluster, name, timeout).await;
            progress.finish();
            let sb = sb?;
            if json {
                print_json(&sb)?;
            } else {
                print!("{}", render_status(&sb));
            }
        }
        Command::Migrate(m) => {
            let progress = Progress::start(format!("moving {} to {}", m.name, m.to));
            let report = sandbox::migrate(cluster, &m.name, &m.to, m.handoff, timeout).await;
            progress.finish();
            let report = report?;
            if json {
                print_json(&report)?;
            } else {
                println!("Sandbox {} moved from {} to {}.", report.sandbox.id, report.from, report.to);
                if m.handoff {
                    if !report.handed_off.is_empty() {
                        println!("State carried over: {}.", report.handed_off.join(", "));
                    }
                    for (child, why) in &report.not_handed_off {
                        println!("State NOT carried over for {child}: {why}; it started afresh.");
                    }
                    if report.dropped_messages > 0 {
                        println!("{} message(s) waiting in their mailboxes were dropped.", report.dropped_messages);
                    }
                } else {
                    println!("Its children started afresh (no --handoff).");
                }
            }
        }
        Command::Destroy(NameArgs { name, .. }) => {
            let progress = Progress::start(format!("stopping {name}"));
            let r = sandbox::destroy(cluster, name, timeout).await;
            progress.finish();
            r?;
            if json {
                print_json(&serde_json::json!({ "destroyed": name }))?;
            } else {
                println!("Sandbox {name} stopped and forgotten.");
            }
        }
        Command::Balance(b) => {
            let progress = Progress::start(if b.dry_run { "planning" } else { "balancing" });
            let report = sandbox::balance(cluster, b.handoff, b.dry_run, timeout).await;
            progress.finish();
            let report = report?;
            let failed = report.moves.iter().any(|m| m.error.is_some());
            if json {
                print_json(&report)?;
            } else if report.moves.is_empty() {
                println!("Already balanced: {}.", counts(&report.before));
            } else {
                let rows: Vec<Vec<String>> = report
                    .moves
                    .iter()
                    .map(|m| {
                        let result = match (&m.error, report.dry_run) {
                            (Some(e), _) => format!("FAILED: {e}"),
                            (None, true) => "planned".into(),
                            (None, false) => "moved".into(),
                        };
                        vec![m.id.clone(), m.from.clone(), m.to.clone(), result]
                    })
                    .collect();
                print!("{}", table(&["SANDBOX", "FROM", "TO", "RESULT"], &rows));
                println!("Before: {}. After: {}.", counts(&report.before), counts(&report.after));
            }
            if failed {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Failover(_) => {
            let progress = Progress::start("restarting the sandboxes of nodes that are down");
            let reports = sandbox::recover(cluster, timeout).await;
            progress.finish();
            let reports = reports?;
            let failed = reports.iter().any(|r| r.error.is_some());
            if json {
                print_json(&reports)?;
            } else if reports.is_empty() {
                println!("No sandbox is on a node that is down.");
            } else {
                for r in &reports {
                    println!("{}", r.summary());
                }
            }
            if failed {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Watch(_) => {
            // Refused in read-only mode before anything is said.
            let mut reports = sandbox::watch_failover(cluster, timeout)?;
            if !json {
                println!("Watching {} node(s); Ctrl-C to stop.", cluster.up_nodes().len());
            }
            loop {
                let r = tokio::select! {
                    r = reports.recv() => r,
                    _ = tokio::signal::ctrl_c() => break,
                };
                let Some(r) = r else { break };
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    println!("{} {}", clock(), r.summary());
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn children(c: &CreateArgs) -> Children {
    match &c.module {
        Some(m) => match (&c.arg, c.erlang) {
            (None, _) => Children::Module { module: module_atom(m), arg: beam::term::nil() },
            (Some(arg), false) => Children::Elixir(vec![format!("{{{}, {arg}}}", elixir_module(m))]),
            (Some(arg), true) => Children::Erlang(vec![format!("{{'{}', {arg}}}", module_atom(m))]),
        },
        None if c.erlang => Children::Erlang(c.child.clone()),
        None => Children::Elixir(c.child.clone()),
    }
}

/// A module as Elixir source: `Bank.Account` stays, `:ets`/`ets` becomes `:ets`.
fn elixir_module(m: &str) -> String {
    let atom = module_atom(m);
    match atom.strip_prefix("Elixir.") {
        Some(alias) => alias.to_string(),
        None => format!(":{atom:?}"),
    }
}

fn counts(c: &std::collections::BTreeMap<String, usize>) -> String {
    c.iter().map(|(n, k)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")
}

fn render_list(all: &[Sandbox]) -> String {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|s| {
            let kids: Vec<String> = s.children.iter().map(|c| c.id.clone()).collect();
            let mut status = s.status.to_string();
            if let Some(r) = &s.reason {
                status.push_str(&format!(" ({r})"));
            }
            vec![
                s.id.clone(),
                s.node.clone(),
                status,
                format!("{} [{}]", s.children.len(), kids.join(", ")),
                s.memory.map(bytes).unwrap_or_else(|| "-".into()),
                s.restarts.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                s.started_ms
                    .filter(|_| s.status == SandboxStatus::Running)
                    .map(|t| duration_ms((now - t).max(0) as u64))
                    .unwrap_or_else(|| "-".into()),
                format!("{}/{}", s.moves, s.failovers),
            ]
        })
        .collect();
    table(&["ID", "NODE", "STATUS", "CHILDREN", "MEMORY", "RESTARTS", "UP", "MOVES/FAILOVERS"], &rows)
}

/// Under the table: each sandbox's latest failover (when it happened without Orbit, the next `list`
/// is where Orbit says so), and what to do about sandboxes left on a node that is down.
fn render_notes(all: &[Sandbox]) -> String {
    let mut out = String::new();
    for s in all {
        if let Some(e) = s.history.first() {
            out.push_str(&format!("{}: {}\n", s.id, e.summary()));
        }
        if s.status == SandboxStatus::Orphaned {
            out.push_str(&format!(
                "{}: its node {} is down and no other node restarted it; `orbit sandbox failover` tries again\n",
                s.id, s.node
            ));
        }
    }
    out
}

fn render_status(s: &Sandbox) -> String {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let mut out = format!("Sandbox {} on {}: {}", s.id, s.node, s.status);
    if let Some(r) = &s.reason {
        out.push_str(&format!(" ({r})"));
    }
    if let (SandboxStatus::Running, Some(t)) = (s.status, s.started_ms) {
        out.push_str(&format!(", up {}", duration_ms((now - t).max(0) as u64)));
    }
    out.push('\n');
    let mut line = |k: &str, v: String| out.push_str(&format!("  {k:<12} {v}\n"));
    for c in &s.children {
        line("child", format!("{} {} {}", c.id, c.kind, c.pid.as_deref().unwrap_or("(not running)")));
    }
    line("memory", s.memory.map(bytes).unwrap_or_else(|| "-".into()));
    line("restarts", s.restarts.map(|r| r.to_string()).unwrap_or_else(|| "-".into()));
    line("strategy", s.strategy.clone());
    line("moves", format!("{} moved, {} failed over", s.moves, s.failovers));
    line(
        "handoff",
        match s.handoff_ms {
            Some(t) if !s.handoff_children.is_empty() => format!(
                "state of {} kept from {} (a failover restores it)",
                s.handoff_children.join(", "),
                sandbox::utc_time(t)
            ),
            Some(t) => format!("the handoff of {} was too large to keep", sandbox::utc_time(t)),
            None => "none kept (a failover restarts the children afresh)".into(),
        },
    );
    out.push_str(&format!("History ({}):\n", s.history.len()));
    for e in &s.history {
        out.push_str(&format!("  {}\n", e.summary()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use beam::sandbox::{DecidedBy, SandboxEvent, SandboxEventKind};

    fn sandbox(status: SandboxStatus) -> Sandbox {
        Sandbox {
            id: "acct".into(),
            node: "a@h".into(),
            status,
            children: vec![],
            memory: None,
            restarts: None,
            strategy: "one_for_one".into(),
            moves: 1,
            failovers: 1,
            created_ms: Some(0),
            started_ms: Some(0),
            reason: None,
            handoff_ms: Some(0),
            handoff_children: vec!["Bank.Account".into()],
            history: vec![SandboxEvent {
                kind: SandboxEventKind::Failover,
                from: "c@h".into(),
                to: "a@h".into(),
                at_ms: 60_000,
                by: DecidedBy::Cluster,
                restored: vec!["Bank.Account".into()],
                lost: vec![],
                handoff_ms: Some(0),
                reason: None,
            }],
        }
    }

    #[test]
    fn list_and_status_say_what_happened_without_orbit() {
        let s = sandbox(SandboxStatus::Running);
        let notes = render_notes(std::slice::from_ref(&s));
        assert_eq!(
            notes,
            "acct: failed over from c@h to a@h at 1970-01-01 00:01:00 UTC (without Orbit); state of Bank.Account \
             restored from the handoff of 1970-01-01 00:00:00 UTC\n"
        );
        let status = render_status(&s);
        assert!(status.starts_with("Sandbox acct on a@h: running, up "), "{status}");
        assert!(status.contains("state of Bank.Account kept from 1970-01-01 00:00:00 UTC"), "{status}");
        assert!(status.contains("History (1):\n  failed over from c@h to a@h"), "{status}");
        let orphan = Sandbox { history: vec![], ..sandbox(SandboxStatus::Orphaned) };
        assert!(render_notes(&[orphan]).contains("no other node restarted it; `orbit sandbox failover` tries again"));
    }

    #[test]
    fn module_names_for_elixir_source() {
        assert_eq!(elixir_module("Bank.Account"), "Bank.Account");
        assert_eq!(elixir_module(":my_server"), ":\"my_server\"");
    }

    #[test]
    fn arguments_are_consistent() {
        <Args as clap::Args>::augment_args(clap::Command::new("orbit")).debug_assert();
    }
}
