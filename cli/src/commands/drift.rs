//! `orbit drift`: modules whose loaded version differs between nodes, or that some nodes have not loaded.

use crate::commands::observe::{print_json, Progress};
use crate::connect::ConnectArgs;
use crate::output::table;
use beam::names::module_display;
use beam::reload::{self, DriftFilter, DriftKind, DriftReport, ModuleVersion};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Compare the modules of this application only (e.g. `bank`).
    #[arg(long, value_name = "APP")]
    app: Option<String>,
    /// Compare the modules whose name starts with this (e.g. `Bank.` or `bank_`).
    #[arg(long, value_name = "PREFIX", conflicts_with = "app")]
    prefix: Option<String>,
    /// Compare these nodes only (comma-separated); default every node that is up.
    #[arg(long = "nodes", id = "only_nodes", value_delimiter = ',', value_name = "NODE")]
    only: Vec<String>,
    /// Only modules whose versions differ (leave out those some nodes have not loaded yet).
    #[arg(long)]
    different_only: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let progress = Progress::start("connecting");
    let cluster = args.connect.connect_for(beam::agent::Group::Reload.into()).await?;
    progress.finish();
    let filter = match (&args.app, &args.prefix) {
        (Some(app), _) => DriftFilter::App(app.clone()),
        (None, Some(p)) => DriftFilter::Prefix(p.clone()),
        (None, None) => DriftFilter::All,
    };
    let nodes = (!args.only.is_empty()).then_some(args.only.as_slice());
    let progress = Progress::start("comparing module versions");
    let result = reload::drift(&cluster, &filter, nodes, args.connect.timeout()).await;
    progress.finish();
    cluster.disconnect().await;
    let mut report = result?;
    if args.different_only {
        report.modules.retain(|m| m.kind == DriftKind::Different);
    }
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", render(&report));
    }
    let differs = report.modules.iter().any(|m| m.kind == DriftKind::Different);
    Ok(if differs { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

fn render(report: &DriftReport) -> String {
    let mut out = String::new();
    if report.modules.is_empty() {
        out.push_str(&format!(
            "No drift: {} module(s) are the same on {} node(s).\n",
            report.checked,
            report.nodes.len()
        ));
    } else {
        let mut header = vec!["MODULE", "DRIFT"];
        header.extend(report.nodes.iter().map(|n| n.as_str()));
        let rows: Vec<Vec<String>> = report
            .modules
            .iter()
            .map(|m| {
                let mut row = vec![
                    module_display(&m.module),
                    match m.kind {
                        DriftKind::Different => "DIFFERENT".into(),
                        DriftKind::NotLoadedEverywhere => "not loaded everywhere".into(),
                    },
                ];
                row.extend(report.nodes.iter().map(|n| match m.versions.get(n) {
                    Some(ModuleVersion::Loaded { md5 }) => md5.chars().take(8).collect(),
                    Some(ModuleVersion::NotLoaded { on_disk: Some(d) }) => {
                        format!("not loaded (disk {})", d.chars().take(8).collect::<String>())
                    }
                    Some(ModuleVersion::NotLoaded { on_disk: None }) | None => "absent".into(),
                }));
                row
            })
            .collect();
        out.push_str(&table(&header, &rows));
        out.push_str(&format!(
            "{} of {} module(s) drift. `orbit reload <file>` loads one version everywhere.\n",
            report.modules.len(),
            report.checked
        ));
    }
    for (node, why) in &report.unanswered {
        out.push_str(&format!("! {node} did not answer: {why}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_consistent() {
        <Args as clap::Args>::augment_args(clap::Command::new("orbit")).debug_assert();
    }
}
