//! Code lenses: above each module, the nodes running it, its version and its process count; above
//! GenServer callbacks, the process count and the longest queue. Pure.

use crate::commands;
use crate::diagnostics::range;
use crate::index::FileIndex;
use crate::model::{thousands, ClusterModel};
use lsp_types::{CodeLens, Command};
use serde_json::json;
use std::collections::BTreeSet;

const CALLBACKS: &[&str] =
    &["init", "handle_call", "handle_cast", "handle_info", "handle_continue", "terminate", "code_change"];

pub fn compute(index: &FileIndex, model: &ClusterModel) -> Vec<CodeLens> {
    let mut out = Vec::new();
    if !model.connected {
        return out;
    }
    for m in &index.modules {
        let versions = model.versions.get(&m.atom);
        let running: Vec<(&String, &String)> = versions
            .map(|v| v.iter().filter_map(|(n, md5)| md5.as_ref().map(|md5| (n, md5))).collect())
            .unwrap_or_default();
        let distinct: BTreeSet<&String> = running.iter().map(|(_, md5)| *md5).collect();
        let procs = model.procs.get(&m.atom).cloned().unwrap_or_default();
        let title = if running.is_empty() {
            if versions.is_none() {
                "orbit: …".to_string()
            } else {
                "orbit: not loaded on any node".to_string()
            }
        } else {
            let n = running.len();
            let nodes = format!("{n} node{}", if n == 1 { "" } else { "s" });
            let version = if distinct.len() == 1 {
                distinct.iter().next().map(|v| v.chars().take(8).collect::<String>()).unwrap_or_default()
            } else {
                format!("drift: {} versions", distinct.len())
            };
            format!(
                "orbit: {nodes} · {version} · {} process{}",
                thousands(procs.count),
                if procs.count == 1 { "" } else { "es" }
            )
        };
        out.push(CodeLens {
            range: range(m.name_span),
            command: Some(Command {
                title,
                command: commands::PROCESSES.into(),
                arguments: Some(vec![json!({"module": m.atom})]),
            }),
            data: None,
        });
        if m.is_gen_server() {
            for f in m.functions.iter().filter(|f| CALLBACKS.contains(&f.name.as_str())) {
                let Some(first) = f.clauses.first() else { continue };
                let longest = match &procs.longest {
                    Some((node, _, q)) => format!(" · longest queue {} ({node})", thousands(*q)),
                    None => String::new(),
                };
                out.push(CodeLens {
                    range: range(first.name_span),
                    command: Some(Command {
                        title: format!(
                            "{} process{}{longest}",
                            thousands(procs.count),
                            if procs.count == 1 { "" } else { "es" }
                        ),
                        command: commands::PROCESSES.into(),
                        arguments: Some(vec![json!({"module": m.atom})]),
                    }),
                    data: None,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::index;
    use crate::model::ModuleProcs;
    use beam::names::Lang;

    #[test]
    fn module_and_callback_lenses() {
        let idx =
            index(Lang::Elixir, "defmodule M do\n  use GenServer\n  def init(a), do: {:ok, a}\n  def x, do: 1\nend\n");
        let mut model = ClusterModel { connected: true, ..Default::default() };
        model.versions.insert(
            "Elixir.M".into(),
            [("a@h".to_string(), Some("0123456789".to_string())), ("b@h".to_string(), Some("0123456789".into()))]
                .into(),
        );
        model.procs.insert(
            "Elixir.M".into(),
            ModuleProcs { count: 2, longest: Some(("b@h".into(), "#PID<0.1.0>".into(), 1234)) },
        );
        let lenses = compute(&idx, &model);
        let titles: Vec<String> = lenses.iter().map(|l| l.command.as_ref().unwrap().title.clone()).collect();
        assert_eq!(titles, vec!["orbit: 2 nodes · 01234567 · 2 processes", "2 processes · longest queue 1,234 (b@h)"]);
        assert_eq!(lenses[1].range.start.line, 2);
    }
}
