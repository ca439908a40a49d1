//! `orbit reload <files…>`: compile once, load on every node, verify the md5 everywhere.

use crate::commands::observe::{print_json, Progress};
use crate::connect::ConnectArgs;
use crate::output::table;
use beam::names::module_display;
use beam::reload::{self, NodeOutcome, OnNodeDown, Origin, ReloadError, ReloadOptions, ReloadOutcome};
use beam::reload::{ReloadProgress, ReloadReport};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Source files to reload: Elixir (.ex, .exs) or Erlang (.erl).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Load on these nodes only (comma-separated); default every node that is up.
    #[arg(long = "nodes", id = "only_nodes", value_delimiter = ',', value_name = "NODE")]
    only: Vec<String>,
    /// Kill the processes that still run an old version when it has to go (otherwise they are reported,
    /// and a reload that would have to kill them is refused before anything is loaded).
    #[arg(long)]
    purge: bool,
    /// Always compile the source, even when the project's _build has beams newer than it.
    #[arg(long)]
    no_build: bool,
    /// The node to compile on; default the first target node (with Elixir, for Elixir sources).
    #[arg(long, value_name = "NODE")]
    compile_on: Option<String>,
    /// When a node goes down during the reload, put every node back on its previous version instead of
    /// finishing on the nodes that are still up.
    #[arg(long)]
    rollback_on_node_down: bool,
    /// Seconds each step may take on each node.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    step_timeout: f64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct CompileFailure<'a> {
    outcome: &'static str,
    diagnostics: &'a [reload::Diagnostic],
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let progress = Progress::start("connecting");
    let cluster = args.connect.connect_for(beam::agent::Group::Reload.into()).await?;
    progress.finish();

    let current: Arc<Mutex<Option<Progress>>> = Arc::new(Mutex::new(None));
    let slot = current.clone();
    let options = ReloadOptions {
        nodes: (!args.only.is_empty()).then(|| args.only.clone()),
        purge: args.purge,
        use_build: !args.no_build,
        compile_node: args.compile_on.clone(),
        on_node_down: if args.rollback_on_node_down { OnNodeDown::RollBack } else { OnNodeDown::Finish },
        timeout: Duration::from_secs_f64(args.step_timeout.clamp(1.0, 3600.0)),
        progress: Some(Arc::new(move |p: &ReloadProgress| {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(old) = slot.take() {
                old.finish();
            }
            *slot = Some(Progress::start(progress_text(p)));
        })),
        cancel: None,
    };
    let result = reload::reload(&cluster, &args.files, &options).await;
    if let Some(p) = current.lock().unwrap_or_else(|e| e.into_inner()).take() {
        p.finish();
    }
    cluster.disconnect().await;
    let report = match result {
        Ok(r) => r,
        Err(ReloadError::Compile { diagnostics }) => {
            if args.json {
                print_json(&CompileFailure { outcome: "compile_error", diagnostics: &diagnostics })?;
            } else {
                eprintln!("Compile failed; nothing was loaded on any node.");
                for d in &diagnostics {
                    eprintln!("{d}");
                }
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", render(&report));
    }
    Ok(match report.outcome {
        ReloadOutcome::Loaded if report.consistent => ExitCode::SUCCESS,
        ReloadOutcome::Loaded | ReloadOutcome::Partial => ExitCode::from(2),
        ReloadOutcome::RolledBack | ReloadOutcome::Aborted => ExitCode::FAILURE,
    })
}

fn progress_text(p: &ReloadProgress) -> String {
    match p {
        ReloadProgress::Compiling { file, node } => format!("compiling {file} on {node}"),
        ReloadProgress::UsingBuild { file, .. } => format!("taking the _build beams of {file}"),
        ReloadProgress::Compiled { modules } => format!("built {} module(s)", modules.len()),
        ReloadProgress::Staging { nodes } => format!("staging on {} node(s)", nodes.len()),
        ReloadProgress::Staged { nodes } => format!("staged on {} node(s)", nodes.len()),
        ReloadProgress::Loading { nodes } => format!("loading on {} node(s)", nodes.len()),
        ReloadProgress::RollingBack { nodes } => format!("rolling back {} node(s)", nodes.len()),
        ReloadProgress::Verifying { nodes } => format!("verifying md5 on {} node(s)", nodes.len()),
    }
}

fn short(md5: &str) -> String {
    md5.chars().take(8).collect()
}

fn render(report: &ReloadReport) -> String {
    let mut out = String::new();
    for m in &report.modules {
        let from = match &m.origin {
            Origin::Compiled { node } => format!("compiled on {node}"),
            Origin::Build { beam } => format!("from {beam}"),
        };
        out.push_str(&format!("{} {} ({from})\n", module_display(&m.module), short(&m.md5)));
    }
    for w in &report.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    let mut rows = Vec::new();
    for n in &report.nodes {
        for (i, m) in n.modules.iter().enumerate() {
            let mut notes = Vec::new();
            if i == 0 {
                if let Some(e) = &n.error {
                    notes.push(e.clone());
                }
            }
            if !m.old_code_processes.is_empty() {
                notes.push(format!("old code still run by {}", m.old_code_processes.join(", ")));
            }
            if !m.killed.is_empty() {
                notes.push(format!("killed {}", m.killed.join(", ")));
            }
            if let Some(r) = &m.rollback {
                notes.push(r.clone());
            }
            rows.push(vec![
                if i == 0 { n.node.clone() } else { String::new() },
                if i == 0 { outcome_text(n.outcome).into() } else { String::new() },
                module_display(&m.module),
                m.md5.as_deref().map(short).unwrap_or_else(|| "-".into()),
                m.previous_md5.as_deref().map(short).unwrap_or_else(|| "-".into()),
                notes.join("; "),
            ]);
        }
    }
    out.push_str(&table(&["NODE", "RESULT", "MODULE", "MD5", "BEFORE", "NOTES"], &rows));
    let loaded = report.nodes.iter().filter(|n| n.outcome == NodeOutcome::Loaded).count();
    let total = report.nodes.len();
    let verdict = match report.outcome {
        ReloadOutcome::Loaded => format!("Loaded on {loaded}/{total} nodes"),
        ReloadOutcome::Partial => format!("Loaded on {loaded}/{total} nodes; the others are down or failed"),
        ReloadOutcome::RolledBack => "A node failed to load: every node went back to its previous version".into(),
        ReloadOutcome::Aborted => "A node refused the code while staging: nothing was loaded".into(),
    };
    let md5 = if report.consistent { "md5 identical on every node" } else { "md5 DIFFERS between nodes" };
    out.push_str(&format!("{verdict}; {md5}.\n"));
    out
}

fn outcome_text(o: NodeOutcome) -> &'static str {
    match o {
        NodeOutcome::Loaded => "loaded",
        NodeOutcome::RolledBack => "rolled back",
        NodeOutcome::NotLoaded => "not loaded",
        NodeOutcome::Failed => "FAILED",
        NodeOutcome::Down => "DOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_consistent() {
        <Args as clap::Args>::augment_args(clap::Command::new("orbit")).debug_assert();
    }
}
