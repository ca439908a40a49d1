//! Document and configuration notifications.

use crate::config::Settings;
use crate::index;
use crate::main_loop::{file_mtime, Document, Server};
use beam::names::Lang;
use lsp_server::RequestId;
use lsp_types::{
    CancelParams, DidChangeConfigurationParams, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DidSaveTextDocumentParams, InitializedParams, MessageType, NumberOrString,
    WorkDoneProgressCancelParams,
};

/// `$/cancelRequest`.
pub fn cancel_request(server: &mut Server, p: CancelParams) {
    let id = match p.id {
        NumberOrString::Number(n) => RequestId::from(n),
        NumberOrString::String(s) => RequestId::from(s),
    };
    server.cancel(&id);
}

/// `window/workDoneProgress/cancel`: the user pressed cancel on a command's progress.
pub fn cancel_progress(server: &mut Server, p: WorkDoneProgressCancelParams) {
    if let Some(id) = server.request_of_progress(&p.token) {
        server.cancel(&id);
    }
}

pub fn initialized(server: &mut Server, _: InitializedParams) {
    server.ask_configuration();
}

pub fn did_open(server: &mut Server, p: DidOpenTextDocumentParams) {
    let doc = p.text_document;
    let key = doc.uri.as_str().to_string();
    // Only Elixir and Erlang files; others are not Orbit's business.
    let Some(d) = Document::new(doc.uri, doc.text, Some(doc.version)) else { return };
    server.docs.insert(key.clone(), d);
    server.update_interest();
    server.refresh_diagnostics(&key);
}

pub fn did_change(server: &mut Server, p: DidChangeTextDocumentParams) {
    let key = p.text_document.uri.as_str().to_string();
    let Some(doc) = server.docs.get_mut(&key) else { return };
    // Full sync: the last change holds the whole text.
    let Some(change) = p.content_changes.into_iter().last() else { return };
    if change.range.is_some() {
        return;
    }
    doc.text = change.text;
    doc.version = Some(p.text_document.version);
    // Indexed when something next reads it (after the burst this edit may be part of).
    doc.dirty = true;
}

pub fn did_save(server: &mut Server, p: DidSaveTextDocumentParams) {
    let key = p.text_document.uri.as_str().to_string();
    let Some(doc) = server.docs.get_mut(&key) else { return };
    if let Some(text) = p.text {
        doc.text = text;
        doc.dirty = true;
    }
    let reindex = doc.dirty;
    if reindex {
        doc.index = index::index(doc.lang, &doc.text);
        doc.dirty = false;
    }
    if reindex {
        server.update_interest();
    }
    let Some(doc) = server.docs.get_mut(&key) else { return };
    doc.mtime = doc.path.as_deref().and_then(file_mtime);
    let path = doc.path.clone();
    let is_script = path.as_ref().and_then(|p| p.extension()).is_some_and(|e| e == "exs");
    let lang = doc.lang;
    server.refresh_diagnostics(&key);
    if server.config.auto_reload_on_save && !is_script && matches!(lang, Lang::Elixir | Lang::Erlang) {
        match (path, server.model.connected) {
            (Some(path), true) => server.spawn_auto_reload(path),
            (Some(_), false) => server.show(MessageType::WARNING, "Orbit: not reloaded: no cluster".into()),
            (None, _) => {}
        }
    }
}

pub fn did_close(server: &mut Server, p: DidCloseTextDocumentParams) {
    if server.docs.remove(p.text_document.uri.as_str()).is_some() {
        server.clear_diagnostics(&p.text_document.uri);
        server.update_interest();
    }
}

pub fn did_change_configuration(server: &mut Server, p: DidChangeConfigurationParams) {
    // Clients that push settings send them here; others send null and expect to be asked.
    if p.settings.is_null() || p.settings.as_object().is_some_and(|o| o.is_empty()) {
        server.ask_configuration();
        return;
    }
    match Settings::from_json(&p.settings) {
        Ok(s) => server.set_workspace_settings(s),
        Err(e) => server.show(MessageType::WARNING, format!("Orbit: {e}")),
    }
}
