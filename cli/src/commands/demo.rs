//! `orbit demo`: a scripted debug session against the demo bank (fixtures/demo), printed as it happens.
//! It drives the same engine `orbit dap` serves: a breakpoint in `Bank.Account.handle_call/3` is hit on a
//! node other than the one Orbit entered through, then its stack, variables, an evaluation, a step and a
//! continue; then a step from a caller on one node into the account's `handle_call/3` on another and back
//! out with the answer; and the clean-up that leaves every node as it was.

use crate::connect::ConnectArgs;
use anyhow::{bail, Context};
use beam::cluster::ClusterOptions;
use beam::debugger::{AttachConfig, Engine, EngineEvent, IntEngine, LineBreakpoint, Resume, SourceMap};
use beam::term::{as_atom, atom, binary, int};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The demo project (for source paths).
    #[arg(long, default_value = "fixtures/demo")]
    project_dir: PathBuf,
}

const T: Duration = Duration::from_secs(15);

/// Events the engine produced that were not looked at yet (one raw event can stop two threads).
type Pending = std::collections::VecDeque<EngineEvent>;

async fn until_stopped(engine: &mut IntEngine, pending: &mut Pending) -> anyhow::Result<(i64, String)> {
    let wait = async {
        loop {
            while let Some(e) = pending.pop_front() {
                match e {
                    EngineEvent::Stopped { thread, text, description, .. } => {
                        return Ok((thread, format!("{description}: {}", text.unwrap_or_default())));
                    }
                    EngineEvent::Output { text, .. } => print!("   | {text}"),
                    _ => {}
                }
            }
            let Some(raw) = engine.next_raw().await else { bail!("the debugger's event stream ended") };
            pending.extend(engine.handle_raw(raw).await);
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait).await.context("no stop within 30 s")?
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let project = std::fs::canonicalize(&args.project_dir)
        .with_context(|| format!("{} not found: run from the repository root", args.project_dir.display()))?;
    let account_ex = project.join("lib/bank/account.ex");
    let config = AttachConfig {
        seeds: args.connect.seeds()?,
        cookie: args.connect.cookie()?,
        // The demo debugs, reloads and runs a sandbox: all three groups at connect.
        cluster: {
            let mut options = ClusterOptions::default()
                .with_group(beam::agent::Group::Debugger)
                .with_group(beam::agent::Group::Reload)
                .with_group(beam::agent::Group::Sandbox);
            options.link.tls = args.connect.tls.resolve_with_env()?;
            options
        },
        project_dir: Some(project),
        source_map: SourceMap::default(),
        interpret: vec![],
        exclude: vec![],
        hold_callers: true,
    };
    println!("-> attaching to the cluster through {}", config.seeds[0]);
    let mut engine = IntEngine::attach(config).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut pending = Pending::new();
    let cluster = engine.cluster().clone();
    let entry = engine.entry_node().to_string();
    println!("   nodes: {}", cluster.up_nodes().join(", "));

    // An account owned by a node other than the entry node.
    let mut id = String::new();
    let mut owner = String::new();
    for n in 0..200 {
        let candidate = format!("demo-{n}");
        let o = cluster.call(&entry, "Elixir.Bank", "owner_node", vec![binary(candidate.as_bytes())], T).await?;
        if let Some(o) = as_atom(&o).filter(|o| *o != entry) {
            id = candidate;
            owner = o.to_string();
            break;
        }
    }
    if id.is_empty() {
        bail!("every account lands on {entry}: start the demo with more than one node");
    }
    let _ = cluster
        .call(&entry, "Elixir.Bank", "open_account", vec![binary(id.as_bytes()), binary(b"demo"), int(100)], T)
        .await?;
    println!("-> account {id:?} lives on {owner}");

    let bps = engine.set_breakpoints(&account_ex, vec![LineBreakpoint { line: 74, ..Default::default() }]).await;
    let bp = &bps[0];
    println!(
        "-> breakpoint at {}:{} verified={} {}",
        account_ex.display(),
        bp.line.unwrap_or(74),
        bp.verified,
        bp.message.clone().unwrap_or_default()
    );
    if !bp.verified {
        bail!("the breakpoint did not take");
    }

    println!("-> depositing 25 from {entry} (GenServer.call to the account on {owner})");
    let caller = cluster.clone();
    let (e2, id2) = (entry.clone(), id.clone());
    let deposit = tokio::spawn(async move {
        let pid = caller.call(&e2, "Elixir.Bank", "whereis", vec![binary(id2.as_bytes())], T).await?;
        let req = beam::term::tuple(vec![atom("deposit"), int(25)]);
        caller.call(&e2, "gen_server", "call", vec![pid, req, int(60_000)], Duration::from_secs(90)).await
    });

    let (thread, what) = until_stopped(&mut engine, &mut pending).await?;
    println!("-> stopped: {what}");
    let frames = engine.stack_trace(thread).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("   stack:");
    for f in &frames {
        let src =
            f.source.as_ref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if src.is_empty() {
            println!("     {}", f.name); // a marker frame: no source of its own
        } else {
            println!("     {} ({src}:{})", f.name, f.line);
        }
    }
    let scopes = engine.scopes(frames[0].id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("   locals:");
    for v in engine.variables(scopes[0].variables_reference, None, None).await.map_err(|e| anyhow::anyhow!("{e}"))? {
        println!("     {} = {}", v.name, v.value);
    }
    let eval = engine
        .evaluate("{node(), state.balance + amount}", Some(frames[0].id))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("   evaluate {{node(), state.balance + amount}} => {}", eval.value);

    engine.resume(thread, Resume::Next).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let (thread, what) = until_stopped(&mut engine, &mut pending).await?;
    let frames = engine.stack_trace(thread).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("-> step: {what}, now at line {}", frames[0].line);

    engine.resume(thread, Resume::Continue).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let result = deposit.await??;
    println!("-> continued; the deposit returned {}", beam::term::render_elixir(&result, &Default::default()));

    // A step into another node: from a caller on the entry node into the account's handle_call/3 on its
    // owner, and back out with the answer.
    let _ = engine.set_breakpoints(&account_ex, vec![]).await;
    let remote_ex = account_ex.with_file_name("remote.ex");
    let bps = engine.set_breakpoints(&remote_ex, vec![LineBreakpoint { line: 10, ..Default::default() }]).await;
    if !bps[0].verified {
        bail!("the breakpoint in remote.ex did not take: {}", bps[0].message.clone().unwrap_or_default());
    }
    println!("-> Bank.Remote.deposit_via_pid/2 on {entry} calls the account on {owner}; breakpoint on its call line");
    let caller = cluster.clone();
    let (e2, id2) = (entry.clone(), id.clone());
    let remote = tokio::spawn(async move {
        let pid = caller.call(&e2, "Elixir.Bank", "whereis", vec![binary(id2.as_bytes())], T).await?;
        caller.call(&e2, "Elixir.Bank.Remote", "deposit_via_pid", vec![pid, int(10)], Duration::from_secs(90)).await
    });
    let (from, what) = until_stopped(&mut engine, &mut pending).await?;
    println!("-> stopped: {what}");
    engine.resume(from, Resume::StepIn).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let (mut into, mut what) = until_stopped(&mut engine, &mut pending).await?;
    while into == from {
        println!("   {what}");
        (into, what) = until_stopped(&mut engine, &mut pending).await?;
    }
    println!("-> stepIn: {what}");
    for (label, thread) in [("callee", into), ("caller", from)] {
        println!("   {label}'s stack:");
        for f in engine.stack_trace(thread).await.map_err(|e| anyhow::anyhow!("{e}"))? {
            println!("     {} (line {})", f.name, f.line);
        }
    }
    engine.resume(into, Resume::StepOut).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let (back, what) = until_stopped(&mut engine, &mut pending).await?;
    let frames = engine.stack_trace(back).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let scopes = engine.scopes(frames[0].id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let reply = engine
        .variables(scopes[0].variables_reference, None, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .find(|v| v.name == "reply")
        .map(|v| v.value)
        .unwrap_or_default();
    println!("-> stepOut of the callee: {what}, now at line {} with reply = {reply}", frames[0].line);
    engine.resume(back, Resume::Continue).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let result = remote.await??;
    println!("-> continued; deposit_via_pid returned {}", beam::term::render_elixir(&result, &Default::default()));

    let notes = engine.end().await;
    for n in &notes {
        println!("   ! {n}");
    }
    println!("-> session ended: breakpoints removed, modules native again on every node");
    cluster.disconnect().await;
    Ok(if notes.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
