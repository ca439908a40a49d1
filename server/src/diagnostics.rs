//! Diagnostics (source `orbit`) for one document from the cluster model: version drift, modules loaded
//! on some nodes only, stale code, and runtime hotspots at the clause a process sits in. Pure.

use crate::index::{FileIndex, Span};
use crate::model::{thousands, ClusterModel};
use beam::reload::{display_module, DriftKind, ModuleVersion};
use lsp_types::{Diagnostic, DiagnosticSeverity, NumberOrString, Position, Range};
use std::collections::BTreeMap;

pub const SOURCE: &str = "orbit";
pub const DRIFT: &str = "drift";
pub const NOT_LOADED_EVERYWHERE: &str = "not-loaded-everywhere";
pub const STALE: &str = "stale";
pub const HOTSPOT: &str = "hotspot";

/// Seconds a file must be newer than the loaded code to count as stale (file systems and clocks are coarse).
const STALE_SLACK_SECS: i64 = 2;

pub struct Thresholds {
    pub mailbox_warning: u64,
    pub mailbox_critical: u64,
}

pub fn range(s: Span) -> Range {
    Range::new(Position::new(s.start_line, s.start_col), Position::new(s.end_line, s.end_col))
}

fn diag(span: Span, severity: DiagnosticSeverity, code: &str, message: String) -> Diagnostic {
    Diagnostic {
        range: range(span),
        severity: Some(severity),
        code: Some(NumberOrString::String(code.into())),
        source: Some(SOURCE.into()),
        message,
        ..Default::default()
    }
}

fn short(md5: &str) -> &str {
    md5.get(..8).unwrap_or(md5)
}

/// `file_mtime`: the document's modification time on disk (Unix seconds), if it has one.
pub fn compute(index: &FileIndex, model: &ClusterModel, file_mtime: Option<i64>, t: &Thresholds) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if !model.connected {
        return out;
    }
    for m in &index.modules {
        if let Some(d) = model.drift_of(&m.atom) {
            match d.kind {
                DriftKind::Different => {
                    let mut by_version: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                    let mut missing = Vec::new();
                    for (node, v) in &d.versions {
                        match v {
                            ModuleVersion::Loaded { md5 } => by_version.entry(short(md5)).or_default().push(node),
                            ModuleVersion::NotLoaded { .. } => missing.push(node.as_str()),
                        }
                    }
                    let mut parts: Vec<String> = by_version
                        .iter()
                        .map(|(md5, nodes)| {
                            format!("{} run{} {md5}", nodes.join(", "), if nodes.len() == 1 { "s" } else { "" })
                        })
                        .collect();
                    if !missing.is_empty() {
                        parts.push(format!("not loaded on {}", missing.join(", ")));
                    }
                    let msg = format!("{}: version drift: {}", m.name, parts.join("; "));
                    out.push(diag(m.name_span, DiagnosticSeverity::WARNING, DRIFT, msg));
                }
                DriftKind::NotLoadedEverywhere => {
                    let (on, off): (Vec<_>, Vec<_>) =
                        d.versions.iter().partition(|(_, v)| matches!(v, ModuleVersion::Loaded { .. }));
                    let on: Vec<&str> = on.iter().map(|(n, _)| n.as_str()).collect();
                    let off: Vec<&str> = off.iter().map(|(n, _)| n.as_str()).collect();
                    let msg = format!("{} is loaded on {} but not on {}", m.name, on.join(", "), off.join(", "));
                    out.push(diag(m.name_span, DiagnosticSeverity::INFORMATION, NOT_LOADED_EVERYWHERE, msg));
                }
            }
        }
        if let (Some(saved), Some(times)) = (file_mtime, model.loaded_at.get(&m.atom)) {
            if !times.is_empty() && times.values().all(|t| saved > t + STALE_SLACK_SECS) {
                let newest = times.values().max().copied().unwrap_or(0);
                let nodes: Vec<&str> = times.keys().map(String::as_str).collect();
                let msg = format!(
                    "{}: this file was saved after the code the nodes run was compiled (saved {}, code from {} on {})",
                    m.name,
                    clock(saved),
                    clock(newest),
                    nodes.join(", ")
                );
                out.push(diag(m.name_span, DiagnosticSeverity::INFORMATION, STALE, msg));
            }
        }
    }
    for h in &model.hotspots {
        // The first frame that falls in a module of this file.
        let placed = h.frames.iter().find_map(|(module, function, arity, line)| {
            let m = index.module(module)?;
            let clause = line.and_then(|l| {
                m.clause_at(l.saturating_sub(1)).filter(|(f, _)| f.name == *function && f.arity == *arity)
            });
            let clause = clause.or_else(|| {
                m.functions.iter().find(|f| f.name == *function && f.arity == *arity).map(|f| (f, &f.clauses[0]))
            });
            Some(match clause {
                Some((_, c)) => c.name_span,
                None => m.name_span,
            })
        });
        let placed = placed.or_else(|| h.initial_module.as_ref().and_then(|m| index.module(m)).map(|m| m.name_span));
        let Some(span) = placed else { continue };
        let who = match &h.registered_name {
            Some(n) => format!("{} {} ({n})", h.node, h.pid),
            None => format!("{} {}", h.node, h.pid),
        };
        let rate = match h.rate {
            Some(r) if r.abs() >= 0.5 => {
                format!(" ({}{}/s)", if r >= 0.0 { "+" } else { "-" }, thousands(r.abs() as u64))
            }
            _ => String::new(),
        };
        let (severity, msg) = if h.queue >= t.mailbox_warning {
            let sev =
                if h.queue >= t.mailbox_critical { DiagnosticSeverity::ERROR } else { DiagnosticSeverity::WARNING };
            (sev, format!("{who} has {} messages queued{rate}", thousands(h.queue)))
        } else {
            (DiagnosticSeverity::WARNING, format!("{who} uses {} bytes of memory", thousands(h.memory)))
        };
        out.push(diag(span, severity, HOTSPOT, msg));
    }
    out
}

/// `HH:MM:SS` UTC of Unix seconds.
fn clock(secs: i64) -> String {
    let s = secs.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

/// The module (display name) a diagnostic is about: its code and the module at its line.
pub fn module_of(index: &FileIndex, d: &Diagnostic) -> Option<String> {
    index.module_at(d.range.start.line).map(|m| display_module(&m.atom))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{index, Lang};
    use crate::model::Hotspot;

    const SRC: &str = "defmodule Bank.Mailbox do\n  use GenServer\n\n  def handle_info({:work, g}, s) do\n    Process.sleep(50)\n    {:noreply, s}\n  end\n\n  def handle_info(_, s), do: {:noreply, s}\nend\n";

    fn model() -> ClusterModel {
        ClusterModel { connected: true, nodes: vec![("a@h".into(), true), ("b@h".into(), true)], ..Default::default() }
    }

    const T: Thresholds = Thresholds { mailbox_warning: 100, mailbox_critical: 10_000 };

    #[test]
    fn drift_sits_on_the_module_line_and_names_nodes_and_versions() {
        let idx = index(Lang::Elixir, SRC);
        let mut m = model();
        m.drift.push(crate::model::Drift {
            module: "Elixir.Bank.Mailbox".into(),
            kind: DriftKind::Different,
            versions: [
                ("a@h".to_string(), ModuleVersion::Loaded { md5: "aaaaaaaa11".into() }),
                ("b@h".to_string(), ModuleVersion::Loaded { md5: "bbbbbbbb22".into() }),
            ]
            .into_iter()
            .collect(),
        });
        let d = compute(&idx, &m, None, &T);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].range.start, Position::new(0, 10));
        assert_eq!(d[0].code, Some(NumberOrString::String(DRIFT.into())));
        assert_eq!(d[0].message, "Bank.Mailbox: version drift: a@h runs aaaaaaaa; b@h runs bbbbbbbb");
    }

    #[test]
    fn hotspot_sits_on_the_clause_the_stack_points_to() {
        let idx = index(Lang::Elixir, SRC);
        let mut m = model();
        m.hotspots.push(Hotspot {
            node: "b@h".into(),
            pid: "#PID<0.234.0>".into(),
            registered_name: None,
            queue: 12345,
            rate: Some(800.0),
            memory: 1000,
            frames: vec![
                ("timer".into(), "sleep".into(), 1, Some(10)),
                ("Elixir.Bank.Mailbox".into(), "handle_info".into(), 2, Some(5)),
            ],
            initial_module: Some("Elixir.Bank.Mailbox".into()),
        });
        let d = compute(&idx, &m, None, &T);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].range.start.line, 3);
        assert_eq!(d[0].message, "b@h #PID<0.234.0> has 12,345 messages queued (+800/s)");
        assert_eq!(d[0].severity, Some(DiagnosticSeverity::ERROR));
    }

    #[test]
    fn stale_only_when_newer_than_the_code_on_every_node() {
        let idx = index(Lang::Elixir, SRC);
        let mut m = model();
        m.loaded_at.insert("Elixir.Bank.Mailbox".into(), [("a@h".to_string(), 100), ("b@h".to_string(), 200)].into());
        assert!(compute(&idx, &m, Some(150), &T).is_empty());
        let d = compute(&idx, &m, Some(300), &T);
        assert_eq!(d[0].code, Some(NumberOrString::String(STALE.into())));
    }

    #[test]
    fn nothing_without_a_cluster() {
        let idx = index(Lang::Elixir, SRC);
        assert!(compute(&idx, &ClusterModel::default(), Some(1), &T).is_empty());
    }
}
