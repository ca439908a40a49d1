//! Code actions: reload the module (everywhere — the quick fix for drift and stale code — or on one
//! node), start it in a sandbox, trace calls to the function under the cursor, profile the module across
//! the cluster, show its processes. Each
//! is a command the client sends back through `workspace/executeCommand`. Pure.

use crate::commands;
use crate::diagnostics::{DRIFT, SOURCE, STALE};
use crate::index::FileIndex;
use crate::model::ClusterModel;
use beam::names::module_display;
use lsp_types::{CodeAction, CodeActionKind, CodeActionOrCommand, Command, Diagnostic, NumberOrString, Range};
use serde_json::json;

fn command(title: String, name: &str, arg: serde_json::Value) -> Command {
    Command { title, command: name.into(), arguments: Some(vec![arg]) }
}

/// The actions at `range` of the document at `path`; `diagnostics` are those the client sent in the
/// request's context.
pub fn compute(
    index: &FileIndex,
    model: &ClusterModel,
    path: &str,
    range: Range,
    diagnostics: &[Diagnostic],
    trace_limit: u64,
) -> Vec<CodeActionOrCommand> {
    let mut out = Vec::new();
    let Some(m) = index.module_at(range.start.line) else { return out };
    let name = module_display(&m.atom);
    let reload_all = command(format!("Reload {name} on all nodes"), commands::RELOAD, json!({"file": path}));
    // The quick fix for drift and stale code at this module.
    let fixes: Vec<Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.source.as_deref() == Some(SOURCE))
        .filter(|d| matches!(&d.code, Some(NumberOrString::String(c)) if c == DRIFT || c == STALE))
        .filter(|d| m.span.contains_line(d.range.start.line))
        .cloned()
        .collect();
    out.push(CodeActionOrCommand::CodeAction(CodeAction {
        title: reload_all.title.clone(),
        kind: Some(if fixes.is_empty() { CodeActionKind::SOURCE } else { CodeActionKind::QUICKFIX }),
        is_preferred: Some(!fixes.is_empty()),
        diagnostics: (!fixes.is_empty()).then_some(fixes),
        command: Some(reload_all),
        ..Default::default()
    }));
    for node in model.up_nodes() {
        let c = command(format!("Reload {name} on {node}"), commands::RELOAD, json!({"file": path, "nodes": [node]}));
        out.push(action(c));
    }
    if m.is_process() {
        let c = command(format!("Start {name} in a sandbox"), commands::SANDBOX_CREATE, json!({"module": m.atom}));
        out.push(action(c));
    }
    if let Some(f) = m.function_at(range.start.line) {
        let pattern = if m.atom.starts_with("Elixir.") {
            format!("{name}.{}/{}", f.name, f.arity)
        } else {
            format!("{}:{}/{}", m.atom, f.name, f.arity)
        };
        let c = command(
            format!("Trace calls to {pattern} (limit {trace_limit})"),
            commands::TRACE_START,
            json!({"pattern": pattern, "limit": trace_limit}),
        );
        out.push(action(c));
    }
    let c = command(
        format!("Profile {name} across the cluster ({} s)", commands::PROFILE_DEFAULT_MS / 1000),
        commands::PROFILE_START,
        json!({"module": m.atom, "durationMs": commands::PROFILE_DEFAULT_MS}),
    );
    out.push(action(c));
    let c = command(format!("Show processes running {name}"), commands::PROCESSES, json!({"module": m.atom}));
    out.push(action(c));
    out
}

fn action(c: Command) -> CodeActionOrCommand {
    CodeActionOrCommand::CodeAction(CodeAction {
        title: c.title.clone(),
        kind: Some(CodeActionKind::SOURCE),
        command: Some(c),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::index;
    use beam::names::Lang;
    use lsp_types::Position;

    #[test]
    fn reload_is_the_quick_fix_for_drift() {
        let idx = index(Lang::Elixir, "defmodule M do\n  use GenServer\n  def go(a), do: a\nend\n");
        let model = ClusterModel { connected: true, nodes: vec![("a@h".into(), true)], ..Default::default() };
        let drift = Diagnostic {
            range: Range::new(Position::new(0, 10), Position::new(0, 11)),
            source: Some("orbit".into()),
            code: Some(NumberOrString::String("drift".into())),
            message: "M: version drift".into(),
            ..Default::default()
        };
        let r = Range::new(Position::new(2, 4), Position::new(2, 4));
        let actions = compute(&idx, &model, "/x/m.ex", r, &[drift], 100);
        let titles: Vec<String> = actions
            .iter()
            .map(|a| match a {
                CodeActionOrCommand::CodeAction(a) => a.title.clone(),
                CodeActionOrCommand::Command(c) => c.title.clone(),
            })
            .collect();
        assert_eq!(
            titles,
            vec![
                "Reload M on all nodes",
                "Reload M on a@h",
                "Start M in a sandbox",
                "Trace calls to M.go/1 (limit 100)",
                "Profile M across the cluster (10 s)",
                "Show processes running M"
            ]
        );
        let CodeActionOrCommand::CodeAction(first) = &actions[0] else { panic!() };
        assert_eq!(first.kind, Some(CodeActionKind::QUICKFIX));
        assert_eq!(first.is_preferred, Some(true));
    }
}
