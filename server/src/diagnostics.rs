//! Diagnostics (source `orbit`) for one document from the cluster model: version drift, modules loaded
//! on some nodes only, stale code, and runtime hotspots at the clause a process sits in. Pure.

use crate::index::{FileIndex, Span};
use crate::model::{thousands, ClusterModel};
use beam::names::module_display;
use beam::reload::{DriftKind, ModuleVersion};
use lsp_types::{Diagnostic, DiagnosticSeverity, NumberOrString, Position, Range};
use std::collections::BTreeMap;

pub const SOURCE: &str = "orbit";
pub const DRIFT: &str = "drift";
pub const NOT_LOADED_EVERYWHERE: &str = "not-loaded-everywhere";
pub const STALE: &str = "stale";
pub const HOTSPOT: &str = "hotspot";

pub struct MailboxThresholds {
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

pub fn compute(index: &FileIndex, model: &ClusterModel, t: &MailboxThresholds) -> Vec<Diagnostic> {
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
        if let Some(msg) = stale(&m.name, model.built.get(&m.atom), model.versions.get(&m.atom)) {
            out.push(diag(m.name_span, DiagnosticSeverity::INFORMATION, STALE, msg));
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
        let who = match beam::processes::process_name(h.registered_name.as_deref(), h.label.as_deref()) {
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

/// Stale by content: a node runs stale code when the md5 it has loaded is neither the md5 of the project's
/// build of the module nor the md5 this server reloaded from the (unchanged) source. No clock decides:
/// a beam older than its source with the md5 the nodes run is not stale, and one newer with another md5
/// is.
fn stale(
    name: &str,
    built: Option<&crate::model::Built>,
    versions: Option<&BTreeMap<String, Option<String>>>,
) -> Option<String> {
    let (built, versions) = (built?, versions?);
    let fresh = |md5: &str| md5 == built.md5 || built.reloaded.as_deref() == Some(md5);
    let mut by_md5: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (node, md5) in versions.iter().filter_map(|(n, v)| v.as_deref().map(|md5| (n.as_str(), md5))) {
        if !fresh(md5) {
            by_md5.entry(short(md5)).or_default().push(node);
        }
    }
    if by_md5.is_empty() {
        return None;
    }
    let runs: Vec<String> = by_md5.iter().map(|(md5, nodes)| format!("{} ({md5})", nodes.join(", "))).collect();
    let hint =
        if built.source_newer { "; this file was saved after that build: compile to compare with it" } else { "" };
    Some(format!(
        "{name}: the nodes run code that differs from the build of this file: {} (_build has {}){hint}",
        runs.join("; "),
        short(&built.md5)
    ))
}

/// The module (display name) a diagnostic is about: its code and the module at its line.
pub fn module_of(index: &FileIndex, d: &Diagnostic) -> Option<String> {
    index.module_at(d.range.start.line).map(|m| module_display(&m.atom))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::index;
    use crate::model::Hotspot;
    use beam::names::Lang;

    const SRC: &str = "defmodule Bank.Mailbox do\n  use GenServer\n\n  def handle_info({:work, g}, s) do\n    Process.sleep(50)\n    {:noreply, s}\n  end\n\n  def handle_info(_, s), do: {:noreply, s}\nend\n";

    fn model() -> ClusterModel {
        ClusterModel { connected: true, nodes: vec![("a@h".into(), true), ("b@h".into(), true)], ..Default::default() }
    }

    const T: MailboxThresholds = MailboxThresholds { mailbox_warning: 100, mailbox_critical: 10_000 };

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
        let d = compute(&idx, &m, &T);
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
            label: None,
            queue: 12345,
            rate: Some(800.0),
            memory: 1000,
            frames: vec![
                ("timer".into(), "sleep".into(), 1, Some(10)),
                ("Elixir.Bank.Mailbox".into(), "handle_info".into(), 2, Some(5)),
            ],
            initial_module: Some("Elixir.Bank.Mailbox".into()),
        });
        let d = compute(&idx, &m, &T);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].range.start.line, 3);
        assert_eq!(d[0].message, "b@h #PID<0.234.0> has 12,345 messages queued (+800/s)");
        assert_eq!(d[0].severity, Some(DiagnosticSeverity::ERROR));
    }

    #[test]
    fn a_hotspot_is_named_by_its_process_label() {
        let idx = index(Lang::Elixir, SRC);
        let mut m = model();
        let hotspot = |registered_name: Option<&str>| Hotspot {
            node: "b@h".into(),
            pid: "#PID<0.234.0>".into(),
            registered_name: registered_name.map(str::to_string),
            label: Some("{:worker, 3}".into()),
            queue: 12345,
            rate: None,
            memory: 1000,
            frames: vec![("Elixir.Bank.Mailbox".into(), "handle_info".into(), 2, Some(5))],
            initial_module: None,
        };
        m.hotspots.push(hotspot(None));
        m.hotspots.push(hotspot(Some("Bank.Mailbox")));
        let d = compute(&idx, &m, &T);
        assert_eq!(d[0].message, "b@h #PID<0.234.0> ({:worker, 3}) has 12,345 messages queued");
        assert_eq!(d[1].message, "b@h #PID<0.234.0> (Bank.Mailbox {:worker, 3}) has 12,345 messages queued");
    }

    #[test]
    fn stale_by_md5_against_the_build_not_by_clock() {
        let idx = index(Lang::Elixir, SRC);
        let mut m = model();
        let atom = "Elixir.Bank.Mailbox".to_string();
        let versions = |a: &str, b: &str| -> BTreeMap<String, Option<String>> {
            [("a@h".to_string(), Some(a.to_string())), ("b@h".to_string(), Some(b.to_string()))].into()
        };
        let built = |newer, reloaded: Option<&str>| crate::model::Built {
            md5: "aaaaaaaa11".into(),
            beam: "/x.beam".into(),
            reloaded: reloaded.map(str::to_string),
            source_newer: newer,
        };
        for newer in [false, true] {
            m.built.insert(atom.clone(), built(newer, None));
            // Same md5 everywhere: nothing, whatever the times.
            m.versions.insert(atom.clone(), versions("aaaaaaaa11", "aaaaaaaa11"));
            assert!(compute(&idx, &m, &T).is_empty());
            // One node runs something else: one stale diagnostic naming it.
            m.versions.insert(atom.clone(), versions("aaaaaaaa11", "bbbbbbbb22"));
            let d = compute(&idx, &m, &T);
            assert_eq!(d.len(), 1);
            assert_eq!(d[0].code, Some(NumberOrString::String(STALE.into())));
            assert!(d[0].message.contains("b@h (bbbbbbbb)") && !d[0].message.contains("a@h"), "{}", d[0].message);
            assert_eq!(d[0].message.contains("saved after that build"), newer, "{}", d[0].message);
        }
        // What this server reloaded from the unchanged source is fresh too.
        m.built.insert(atom.clone(), built(true, Some("bbbbbbbb22")));
        assert!(compute(&idx, &m, &T).is_empty());
        // No build: no claim.
        m.built.clear();
        assert!(compute(&idx, &m, &T).is_empty());
    }

    #[test]
    fn nothing_without_a_cluster() {
        let idx = index(Lang::Elixir, SRC);
        assert!(compute(&idx, &ClusterModel::default(), &T).is_empty());
    }
}
