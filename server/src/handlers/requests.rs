//! Request handlers.

use crate::actions;
use crate::commands::{self, CommandError};
use crate::diagnostics::range;
use crate::dispatch::{HandlerError, HandlerResult, Reply};
use crate::index::Span;
use crate::lenses;
use crate::main_loop::Server;
use beam::names::{module_atom, module_display};
use lsp_server::RequestId;
use lsp_types::{
    CodeActionParams, CodeActionResponse, CodeLens, CodeLensParams, ExecuteCommandParams, Hover, HoverContents,
    HoverParams, MarkupContent, MarkupKind, MessageType,
};
use serde_json::Value;

pub fn shutdown(server: &mut Server, _: RequestId, _: ()) -> HandlerResult<()> {
    server.shutdown_requested = true;
    Ok(Reply::Now(()))
}

pub fn cluster_status(server: &mut Server, _: RequestId, _: Option<Value>) -> HandlerResult<Value> {
    Ok(Reply::Now(server.health.clone()))
}

pub fn code_lens(server: &mut Server, _: RequestId, p: CodeLensParams) -> HandlerResult<Option<Vec<CodeLens>>> {
    let Some(doc) = server.docs.get(p.text_document.uri.as_str()) else { return Ok(Reply::Now(None)) };
    Ok(Reply::Now(Some(lenses::compute(&doc.index, &server.model, server.profile.as_deref()))))
}

pub fn code_action(
    server: &mut Server,
    _: RequestId,
    p: CodeActionParams,
) -> HandlerResult<Option<CodeActionResponse>> {
    let Some(doc) = server.docs.get(p.text_document.uri.as_str()) else { return Ok(Reply::Now(None)) };
    let Some(path) = doc.path.as_ref().and_then(|p| p.to_str()) else { return Ok(Reply::Now(None)) };
    let actions =
        actions::compute(&doc.index, &server.model, path, p.range, &p.context.diagnostics, server.config.trace_limit);
    Ok(Reply::Now(Some(actions)))
}

pub fn execute_command(server: &mut Server, id: RequestId, p: ExecuteCommandParams) -> HandlerResult<Option<Value>> {
    let arg = match commands::parse(&p.command, &p.arguments) {
        Ok(a) => a,
        Err(e) => {
            server.show(MessageType::ERROR, format!("Orbit: {}", e.message()));
            return Err(HandlerError::invalid_params(e.message()));
        }
    };
    let needs_cluster =
        ![commands::STATUS, commands::PROFILE_RESULT, commands::PROFILE_CLEAR].contains(&p.command.as_str());
    if needs_cluster && server.cluster.is_none() {
        let e = CommandError::Failed("not connected to a cluster".into());
        server.show(MessageType::ERROR, format!("Orbit: {}: {}", p.command, e.message()));
        return Err(HandlerError::internal(e.message()));
    }
    server.spawn_command(id, p.command, arg, p.work_done_progress_params.work_done_token);
    Ok(Reply::Later)
}

pub fn hover(server: &mut Server, _: RequestId, p: HoverParams) -> HandlerResult<Option<Hover>> {
    let pos = p.text_document_position_params.position;
    let Some(doc) = server.docs.get(p.text_document_position_params.text_document.uri.as_str()) else {
        return Ok(Reply::Now(None));
    };
    // A module's own name, or a name under the cursor that is a module the cluster knows.
    let mut target: Option<(String, Span)> = doc
        .index
        .modules
        .iter()
        .find(|m| m.name_span.contains(pos.line, pos.character))
        .map(|m| (m.atom.clone(), m.name_span));
    if target.is_none() {
        if let Some((word, span)) = word_at(&doc.text, pos.line, pos.character) {
            let atom = module_atom(&word);
            let known = server.model.versions.contains_key(&atom) || server.model.drift_of(&atom).is_some();
            if known {
                target = Some((atom, span));
            }
        }
    }
    if let Some((atom, span)) = target {
        if !server.model.connected {
            return Ok(Reply::Now(None));
        }
        return Ok(Reply::Now(Some(markdown(module_hover(server, &atom), span))));
    }
    // A function's name while a trace runs: its call count.
    let Some(m) = doc.index.module_at(pos.line) else { return Ok(Reply::Now(None)) };
    let Some((f, c)) = m.clause_at(pos.line) else { return Ok(Reply::Now(None)) };
    if !c.name_span.contains(pos.line, pos.character) {
        return Ok(Reply::Now(None));
    }
    let mut parts = Vec::new();
    if let Some(last) = server.profile.as_deref() {
        if let Some(row) = commands::profiled(last, &m.atom, &f.name, f.arity) {
            parts.push(profile_hover(last, row));
        }
    }
    if let Some(counts) = server.trace.as_ref().map(|t| &t.counts) {
        let calls = counts.get(&(m.atom.clone(), f.name.clone(), f.arity)).copied().unwrap_or(0);
        parts.push(format!(
            "**{}.{}/{}**: {calls} call{} traced so far",
            m.name,
            f.name,
            f.arity,
            if calls == 1 { "" } else { "s" }
        ));
    }
    if parts.is_empty() {
        return Ok(Reply::Now(None));
    }
    Ok(Reply::Now(Some(markdown(parts.join("\n\n---\n\n"), c.name_span))))
}

/// A profiled function: its figures across the cluster, then a row per node.
fn profile_hover(last: &commands::LastProfile, row: &beam::profile::FunctionRow) -> String {
    use beam::profile::{per_call, percent, thousands, time};
    let p = &last.profile;
    let mut out = format!(
        "**{}** in the last profile ({}, {} on {} node{})\n\n{}\n\n",
        row.name,
        last.what,
        time(p.window_us),
        p.nodes.len(),
        if p.nodes.len() == 1 { "" } else { "s" },
        row.lens_text()
    );
    let memory = row.counters.words.is_some();
    out.push_str(if memory {
        "| node | calls | own time | µs/call | words/call | share of its time |\n|---|---:|---:|---:|---:|---:|\n"
    } else {
        "| node | calls | own time | µs/call | share of its time |\n|---|---:|---:|---:|---:|\n"
    });
    for s in &row.nodes {
        let words = match (memory, s.counters.words) {
            (false, _) => String::new(),
            (true, Some(w)) if s.counters.calls > 0 => format!(" {} |", per_call(w as f64 / s.counters.calls as f64)),
            (true, _) => " - |".into(),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |{words} {} |\n",
            s.node,
            thousands(s.counters.calls),
            time(s.counters.time_us),
            per_call(s.counters.us_per_call()),
            percent(s.percent_of_function)
        ));
    }
    let missing: Vec<&str> =
        p.nodes.iter().map(|n| n.node.as_str()).filter(|n| !row.nodes.iter().any(|s| s.node == *n)).collect();
    if !missing.is_empty() {
        out.push_str(&format!("\nnot called on {}\n", missing.join(", ")));
    }
    out
}

fn markdown(value: String, span: Span) -> Hover {
    Hover {
        contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value }),
        range: Some(range(span)),
    }
}

fn module_hover(server: &Server, atom: &str) -> String {
    let mut out = format!("**{}** on the cluster\n\n", module_display(atom));
    let versions = server.model.versions.get(atom);
    let drift = server.model.drift_of(atom);
    for (node, up) in &server.model.nodes {
        let state = if !up {
            "down".to_string()
        } else if let Some(v) = versions.and_then(|v| v.get(node)) {
            match v {
                Some(md5) => format!("loaded, md5 `{}`", &md5[..md5.len().min(12)]),
                None => "not loaded".into(),
            }
        } else if let Some(d) = drift.and_then(|d| d.versions.get(node)) {
            match d {
                beam::reload::ModuleVersion::Loaded { md5 } => format!("loaded, md5 `{}`", &md5[..md5.len().min(12)]),
                beam::reload::ModuleVersion::NotLoaded { .. } => "not loaded".into(),
            }
        } else {
            "unknown".into()
        };
        out.push_str(&format!("- `{node}`: {state}\n"));
    }
    if let Some(p) = server.model.procs.get(atom) {
        out.push_str(&format!("\n{} process{} run its code", p.count, if p.count == 1 { "" } else { "es" }));
    }
    if drift.is_some_and(|d| d.kind == beam::reload::DriftKind::Different) {
        out.push_str("\n\n⚠ the nodes run different versions");
    }
    out
}

/// The dotted name (`Bank.Fees`, `bank_ledger`) under the cursor, with its span.
fn word_at(text: &str, line: u32, character: u32) -> Option<(String, Span)> {
    let l = text.split('\n').nth(line as usize)?;
    let chars: Vec<(usize, char)> = l.char_indices().collect();
    // UTF-16 column to char index.
    let mut col16 = 0u32;
    let mut idx = chars.len();
    for (i, (_, c)) in chars.iter().enumerate() {
        if col16 >= character {
            idx = i;
            break;
        }
        col16 += c.len_utf16() as u32;
    }
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '.' || c == ':';
    if idx >= chars.len() || !is_word(chars[idx].1) {
        return None;
    }
    let mut start = idx;
    while start > 0 && is_word(chars[start - 1].1) {
        start -= 1;
    }
    let mut end = idx;
    while end < chars.len() && is_word(chars[end].1) {
        end += 1;
    }
    let word: String = chars[start..end].iter().map(|(_, c)| c).collect();
    let word = word.trim_matches('.').to_string();
    let c16 = |i: usize| chars[..i].iter().map(|(_, c)| c.len_utf16() as u32).sum::<u32>();
    Some((word, Span { start_line: line, start_col: c16(start), end_line: line, end_col: c16(end) }))
}
