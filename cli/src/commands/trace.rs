//! `orbit trace calls|messages`: trace function calls or messages across the cluster, with a mandatory
//! limit; a live stream, then a summary or the message flow as a Mermaid or DOT diagram.

use crate::connect::ConnectArgs;
use beam::trace::{
    self, render, CallTrace, Limit, MatchSpec, MessageTrace, ProcessSelector, TraceSession, TraceSpec, TraceUpdate,
};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Trace calls of functions: `Bank.Account.deposit/2`, `Bank.Account.deposit/_`, `bank_ledger:append/3`.
    Calls(CallsArgs),
    /// Trace the messages chosen processes send and receive: registered names (`Bank.Ledger`, `rex`),
    /// `<0.123.0>` with one --nodes node, or `all`.
    Messages(MessagesArgs),
}

#[derive(clap::Args, Debug)]
struct CallsArgs {
    /// Function patterns, Elixir (`Mod.fun/arity`, arity may be `_`) or Erlang (`mod:fun/arity`) form,
    /// or a call with a condition written as a function head: 'Bank.Account.deposit(_, amount) when
    /// amount > 100' (Elixir, translated to a match spec) or 'bank_ledger:fee(A) when A > 100' (Erlang).
    #[arg(required = true, value_name = "PATTERN")]
    patterns: Vec<String>,
    /// Only calls whose arguments match, as an Erlang fun in dbg:fun2ms style:
    /// 'fun([_, Amount]) when Amount > 100 -> true end'.
    #[arg(long = "match", value_name = "FUN", conflicts_with = "match_spec")]
    match_fun: Option<String>,
    /// Only calls matching this match spec, an Erlang term: "[{['_', '$1'], [{'>', '$1', 100}], []}]".
    #[arg(long, value_name = "TERM")]
    match_spec: Option<String>,
    /// Also show what each call returns (or raises).
    #[arg(long = "return")]
    return_values: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args, Debug)]
struct MessagesArgs {
    /// Processes: registered names (`Bank.Ledger`, `:rex`, `rex`), `<0.123.0>` (with one --nodes node),
    /// `all` or `new`.
    #[arg(required = true, value_name = "PROCESS")]
    processes: Vec<String>,
    /// Only messages the processes send.
    #[arg(long, conflicts_with = "receive_only")]
    send_only: bool,
    /// Only messages the processes receive.
    #[arg(long)]
    receive_only: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args, Debug)]
#[group(id = "limit_kind", required = true, multiple = false)]
struct LimitArgs {
    /// Stop after this many events (on each node and in total).
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Stop when more than N events arrive within MS milliseconds (on a node or in total): N/MS.
    #[arg(long, value_name = "N/MS")]
    rate: Option<String>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// A live line per event, then a summary.
    Text,
    /// The message flow (and calls) as a Mermaid sequence diagram, when the trace ends.
    Mermaid,
    /// The message flow (and calls) as a Graphviz DOT graph, when the trace ends.
    Dot,
}

#[derive(clap::Args, Debug)]
struct Common {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    limit: LimitArgs,
    /// Trace only these nodes (name@host, or name when unambiguous); default every node.
    #[arg(long = "nodes", id = "trace_nodes", value_delimiter = ',', value_name = "NODE")]
    trace_nodes: Vec<String>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// JSON lines: one per event, then the summary.
    #[arg(long)]
    json: bool,
    /// Do not start tracing on nodes that join while the trace runs.
    #[arg(long)]
    no_follow: bool,
    /// Rows per table in the summary.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let common = match &args.what {
        What::Calls(c) => &c.common,
        What::Messages(m) => &m.common,
    };
    if common.json && common.format != Format::Text {
        anyhow::bail!("--json prints events and the summary; it does not combine with --format mermaid or dot");
    }
    let limit = match (&common.limit.limit, &common.limit.rate) {
        (Some(n), _) => Limit::Count(*n),
        (None, Some(r)) => Limit::parse_rate(r)?,
        (None, None) => anyhow::bail!("a limit is mandatory: --limit N or --rate N/MS"),
    };
    if let Some(d) = common.duration {
        if !(d > 0.0 && d.is_finite()) {
            anyhow::bail!("--duration must be a positive number of seconds");
        }
    }
    let cluster = common.connect.connect_for(beam::agent::Group::Tracer.into()).await?;
    let spec = build_spec(&args.what, &cluster, limit).await;
    let spec = match spec {
        Ok(s) => s,
        Err(e) => {
            cluster.disconnect().await;
            return Err(e);
        }
    };
    let what = describe(&args.what);
    let session = trace::start(&cluster, spec).await;
    let mut session = match session {
        Ok(s) => s,
        Err(e) => {
            cluster.disconnect().await;
            return Err(e.into());
        }
    };
    eprintln!(
        "orbit: tracing {what} on {} node(s), limit {limit}{}; Ctrl-C stops",
        session.nodes().len(),
        common.duration.map(|d| format!(", for {d} s")).unwrap_or_default()
    );
    stream(&mut session, common).await;
    finish(&session, common);
    cluster.disconnect().await;
    Ok(ExitCode::SUCCESS)
}

async fn build_spec(what: &What, cluster: &beam::cluster::Cluster, limit: Limit) -> anyhow::Result<TraceSpec> {
    let (mut spec, common) = match what {
        What::Calls(c) => {
            let mut calls = Vec::new();
            for p in &c.patterns {
                let mut t = CallTrace::parse(p)?;
                if t.match_spec.is_some() && (c.match_fun.is_some() || c.match_spec.is_some()) {
                    anyhow::bail!("{p} has its own condition (its arguments and `when`); drop --match / --match-spec");
                }
                if let Some(f) = &c.match_fun {
                    t = t.with_match_spec(MatchSpec::Fun(f.clone()));
                }
                if let Some(ms) = &c.match_spec {
                    t = t.with_match_spec(MatchSpec::Text(ms.clone()));
                }
                if c.return_values {
                    t = t.with_return_values();
                }
                calls.push(t);
            }
            (TraceSpec::calls(calls, limit), &c.common)
        }
        What::Messages(m) => {
            let mut processes = Vec::new();
            for p in &m.processes {
                if ProcessSelector::pid_text(p).is_some() {
                    let node = match m.common.trace_nodes.as_slice() {
                        [one] => cluster.resolve_nodes(std::slice::from_ref(one))?.remove(0),
                        _ => anyhow::bail!("{p}: a pid is relative to its node; name exactly one with --nodes"),
                    };
                    processes.push(ProcessSelector::Pid(trace::pid_on(cluster, &node, p).await?));
                } else {
                    processes.push(ProcessSelector::parse(p)?);
                }
            }
            let mt = MessageTrace { processes, send: !m.receive_only, receive: !m.send_only };
            (TraceSpec::messages(mt, limit), &m.common)
        }
    };
    if !common.trace_nodes.is_empty() {
        spec.nodes = Some(common.trace_nodes.clone());
    }
    spec.duration = common.duration.map(Duration::from_secs_f64);
    spec.follow_new_nodes = !common.no_follow;
    Ok(spec)
}

fn describe(what: &What) -> String {
    match what {
        What::Calls(c) => c.patterns.join(", "),
        What::Messages(m) => format!("messages of {}", m.processes.join(", ")),
    }
}

/// Prints updates as they come until the session ends or Ctrl-C stops it.
async fn stream(session: &mut TraceSession, common: &Common) {
    let syntax = session.syntax();
    let mut stdout = std::io::stdout().lock();
    let mut interrupted = false;
    loop {
        let update = tokio::select! {
            u = session.next() => u,
            _ = tokio::signal::ctrl_c(), if !interrupted => {
                interrupted = true;
                eprintln!("orbit: stopping the trace…");
                session.stop().await;
                continue;
            }
        };
        let Some(update) = update else { break };
        match update {
            TraceUpdate::NodeStarted { node, matched, processes } => {
                let mut parts: Vec<String> = matched.iter().map(|(p, n)| format!("{p}: {n} function(s)")).collect();
                if processes > 0 {
                    parts.push(format!("{processes} process(es)"));
                }
                eprintln!(
                    "orbit: {node}: tracing{}",
                    if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) }
                );
            }
            TraceUpdate::NodeFailed { node, error } => eprintln!("orbit: {node}: not traced: {error}"),
            TraceUpdate::Events(events) => {
                for e in &events {
                    if common.json {
                        let mut v = render::event_json(e, syntax);
                        v["type"] = "event".into();
                        let _ = writeln!(stdout, "{v}");
                    } else if common.format == Format::Text {
                        let _ = writeln!(stdout, "{}", render::event_line(e, syntax));
                    }
                }
                let _ = stdout.flush();
            }
            TraceUpdate::NodeStopped { node, reason, events, dropped } => {
                let dropped = if dropped > 0 { format!(", {dropped} dropped") } else { String::new() };
                eprintln!("orbit: {node}: trace stopped ({reason}; {events} events{dropped})");
            }
            TraceUpdate::Stopped(reason) => {
                eprintln!("orbit: trace stopped: {reason}");
                break;
            }
        }
    }
}

fn finish(session: &TraceSession, common: &Common) {
    let (forgotten, dropped) = session.forgotten();
    if dropped > 0 {
        eprintln!("orbit: {dropped} event(s) past the limit were not kept");
    }
    if forgotten > 0 {
        eprintln!("orbit: the oldest {forgotten} event(s) were not kept (history full)");
    }
    if common.json {
        let summary = session.summary();
        let v = serde_json::json!({ "type": "summary", "summary": summary, "stopped": session.stop_reason() });
        println!("{v}");
        return;
    }
    match common.format {
        Format::Text => {
            println!();
            print!("{}", render::summary_text(&session.summary(), common.top));
        }
        Format::Mermaid => print!("{}", session.mermaid()),
        Format::Dot => print!("{}", session.dot()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        what: What,
    }

    #[test]
    fn arguments_are_consistent_and_a_limit_is_required() {
        Cli::command().debug_assert();
        let ok = Cli::try_parse_from(["t", "calls", "Bank.Account.deposit/2", "--limit", "100", "--nodes", "a,b"]);
        let What::Calls(c) = ok.unwrap().what else { panic!() };
        assert_eq!(c.common.trace_nodes, vec!["a", "b"]);
        assert_eq!(c.common.limit.limit, Some(100));
        assert!(Cli::try_parse_from(["t", "calls", "Bank.Account.deposit/2"]).is_err(), "no limit");
        assert!(Cli::try_parse_from(["t", "calls", "m:f/1", "--limit", "1", "--rate", "5/10"]).is_err(), "both");
        let m = Cli::try_parse_from(["t", "messages", "Bank.Ledger", "--rate", "50/1000", "--format", "mermaid"]);
        let What::Messages(m) = m.unwrap().what else { panic!() };
        assert_eq!(m.common.format, Format::Mermaid);
        assert!(Cli::try_parse_from(["t", "messages", "x", "--limit", "1", "--send-only", "--receive-only"]).is_err());
    }
}
