//! Code lenses: above each module, the nodes running it, its version and its process count; above
//! GenServer callbacks, the process count and the longest queue; after a profile, above each function it
//! measured, its share of the cluster's time, calls, µs per call and hottest node. Pure.

use crate::commands::{self, LastProfile};
use crate::diagnostics::range;
use crate::index::FileIndex;
use crate::model::{thousands, ClusterModel};
use lsp_types::{CodeLens, Command};
use serde_json::json;
use std::collections::BTreeSet;

const CALLBACKS: &[&str] =
    &["init", "handle_call", "handle_cast", "handle_info", "handle_continue", "terminate", "code_change"];

pub fn compute(index: &FileIndex, model: &ClusterModel, profile: Option<&LastProfile>) -> Vec<CodeLens> {
    let mut out = Vec::new();
    // The last profile's figures stay on the functions it measured, cluster or not.
    if let Some(last) = profile {
        out.extend(profile_lenses(index, last));
    }
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

/// `4.1% of cluster time · 41,200 calls · 2.3 µs/call · hottest on b@host` on the head of each function
/// the last profile saw called (its first clause).
fn profile_lenses(index: &FileIndex, last: &LastProfile) -> Vec<CodeLens> {
    let mut out = Vec::new();
    for m in &index.modules {
        for f in &m.functions {
            let Some(row) = commands::profiled(last, &m.atom, &f.name, f.arity) else { continue };
            let Some(first) = f.clauses.first() else { continue };
            out.push(CodeLens {
                range: range(first.name_span),
                command: Some(Command {
                    title: row.lens_text(),
                    command: commands::PROFILE_RESULT.into(),
                    arguments: Some(vec![json!({})]),
                }),
                data: None,
            });
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
        let lenses = compute(&idx, &model, None);
        let titles: Vec<String> = lenses.iter().map(|l| l.command.as_ref().unwrap().title.clone()).collect();
        assert_eq!(titles, vec!["orbit: 2 nodes · 01234567 · 2 processes", "2 processes · longest queue 1,234 (b@h)"]);
        assert_eq!(lenses[1].range.start.line, 2);
    }

    #[test]
    fn profiled_functions_get_their_figures_even_without_a_cluster() {
        use beam::profile::{Counters, Mfa, NodeProfile, Profile};
        let idx = index(
            Lang::Elixir,
            "defmodule M do\n  def hot(a), do: a\n  def hot(a, b), do: a + b\n  def cold, do: 1\nend\n",
        );
        let node = |n: &str, calls| NodeProfile {
            node: n.into(),
            functions: [(Mfa::new("Elixir.M", "hot", 1), Counters { calls, time_us: calls * 2, words: None })].into(),
            ..NodeProfile::default()
        };
        let last = LastProfile {
            id: "profile-1".into(),
            what: "M".into(),
            profile: Profile::merge(vec![node("a@h", 100), node("b@h", 300)], vec![]),
            flamegraph: None,
            folded: None,
            speedscope: None,
        };
        let lenses = compute(&idx, &ClusterModel::default(), Some(&last));
        assert_eq!(lenses.len(), 1, "hot/1 only: hot/2 and cold/0 were not called");
        let c = lenses[0].command.as_ref().unwrap();
        assert_eq!(c.title, "100.0% of cluster time · 400 calls · 2.00 µs/call · hottest on b@h");
        assert_eq!(c.command, commands::PROFILE_RESULT);
        assert_eq!(lenses[0].range.start.line, 1);
    }
}
