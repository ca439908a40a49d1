//! The whole server in memory, without a cluster: protocol behaviour, bad input, quiet when there is no
//! cluster.

mod support;

use lsp_server::ErrorCode;
use lsp_types::request::{CodeActionRequest, CodeLensRequest, ExecuteCommand, HoverRequest};
use lsp_types::{
    CodeActionContext, CodeActionOrCommand, CodeActionParams, CodeLensParams, ExecuteCommandParams, HoverParams,
    Position, Range, TextDocumentIdentifier, TextDocumentPositionParams,
};
use serde_json::json;
use std::time::Duration;
use support::Client;

fn no_cluster() -> Client {
    Client::start(json!({"nodes": []}), None)
}

#[test]
fn without_a_cluster_the_server_says_so_once_and_stays_quiet() {
    let client = no_cluster();
    let dir = std::env::temp_dir().join(format!("orbit-lsp-quiet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.ex");
    let text = "defmodule M do\n  use GenServer\n  def handle_info(m, s), do: {:noreply, s}\nend\n";
    std::fs::write(&path, text).unwrap();
    let uri = client.open(&path, text);
    let status = client.request_raw("orbit/clusterStatus", serde_json::Value::Null).unwrap();
    assert_eq!(status["connected"], false);
    assert_eq!(status["status"], "disconnected");
    let lenses = client
        .request::<CodeLensRequest>(CodeLensParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap();
    assert_eq!(lenses, Some(vec![]));
    client.pump(Duration::from_millis(300));
    let said = client.show_messages();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("no cluster configured"), "{said:?}");
    assert!(
        !client.seen.borrow().iter().any(|n| n.method == "textDocument/publishDiagnostics"),
        "no diagnostics without a cluster"
    );
    // Commands that need the cluster fail with an error response, not a hang or a panic.
    let err = client
        .request::<ExecuteCommand>(ExecuteCommandParams {
            command: "orbit.sandbox.list".into(),
            arguments: vec![],
            work_done_progress_params: Default::default(),
        })
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InternalError as i32);
    // orbit.status works without one.
    let status = client
        .request::<ExecuteCommand>(ExecuteCommandParams {
            command: "orbit.status".into(),
            arguments: vec![],
            work_done_progress_params: Default::default(),
        })
        .unwrap()
        .unwrap();
    assert_eq!(status["status"], "disconnected");
    client.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unreachable_cluster_is_one_message_and_background_retries() {
    // Nothing listens for this node: epmd answers "unknown" (or is not running at all).
    let client = Client::start(json!({"nodes": ["nobody_here@127.0.0.1"], "cookie": "x"}), None);
    let said = client.wait_for::<lsp_types::notification::ShowMessage>(Duration::from_secs(60), |_| true);
    let said = said.expect("a message about the cluster");
    assert!(said.message.contains("cannot reach the cluster"), "{}", said.message);
    assert!(said.message.contains("retrying"), "{}", said.message);
    let status = client.request_raw("orbit/clusterStatus", serde_json::Value::Null).unwrap();
    assert_eq!(status["connected"], false);
    client.stop();
}

#[test]
fn bad_input_gets_error_responses_not_panics() {
    let client = no_cluster();
    // Unknown request method.
    let err = client.request_raw("orbit/nope", json!({})).unwrap_err();
    assert_eq!(err.code, ErrorCode::MethodNotFound as i32);
    // Known method, params of the wrong shape.
    let err = client.request_raw("textDocument/hover", json!({"position": "here"})).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParams as i32);
    // Unknown command; bad command arguments.
    for (command, arguments) in [
        ("orbit.explode", vec![]),
        ("orbit.reload", vec![json!(42)]),
        ("orbit.sandbox.migrate", vec![json!({"name": "x"})]),
        ("orbit.trace.start", vec![json!({"pattern": "M.f/1", "bogus": true})]),
    ] {
        let err = client
            .request::<ExecuteCommand>(ExecuteCommandParams {
                command: command.into(),
                arguments,
                work_done_progress_params: Default::default(),
            })
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParams as i32, "{command}: {err:?}");
    }
    // Unknown notifications are ignored; the server still answers.
    client.notify::<UnknownNotification>(json!({"x": 1}));
    // Requests about documents that were never opened.
    let nowhere = support::uri(std::path::Path::new("/nowhere/x.ex"));
    let hover = client
        .request::<HoverRequest>(HoverParams {
            text_document_position_params: TextDocumentPositionParams {
                text_document: TextDocumentIdentifier { uri: nowhere },
                position: Position::new(0, 0),
            },
            work_done_progress_params: Default::default(),
        })
        .unwrap();
    assert_eq!(hover, None);
    client.stop();
}

enum UnknownNotification {}
impl lsp_types::notification::Notification for UnknownNotification {
    type Params = serde_json::Value;
    const METHOD: &'static str = "orbit/whatever";
}

#[test]
fn files_that_do_not_parse_still_get_actions_for_what_can_be_placed() {
    let client = no_cluster();
    let path = std::path::Path::new("/tmp/orbit-lsp-broken.ex");
    let text = "defmodule Broken do\n  use GenServer\n  def ok(a), do: a\n\n  def bad(x) do\n    x +\n  end\nend\n";
    let uri = client.open(path, text);
    let actions = client
        .request::<CodeActionRequest>(CodeActionParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            range: Range::new(Position::new(2, 6), Position::new(2, 6)),
            context: CodeActionContext::default(),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap()
        .unwrap_or_default();
    let titles: Vec<String> = actions
        .iter()
        .map(|a| match a {
            CodeActionOrCommand::CodeAction(a) => a.title.clone(),
            CodeActionOrCommand::Command(c) => c.title.clone(),
        })
        .collect();
    assert!(titles.contains(&"Reload Broken on all nodes".to_string()), "{titles:?}");
    assert!(titles.contains(&"Trace calls to Broken.ok/1 (limit 100)".to_string()), "{titles:?}");
    // Garbage in an Erlang file: no panic, nothing placed.
    let erl = std::path::Path::new("/tmp/orbit-lsp-garbage.erl");
    let uri = client.open(erl, "-module(\n))) ->->-> .");
    let actions = client
        .request::<CodeActionRequest>(CodeActionParams {
            text_document: TextDocumentIdentifier { uri },
            range: Range::new(Position::new(0, 0), Position::new(0, 0)),
            context: CodeActionContext::default(),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap();
    assert!(actions.unwrap_or_default().is_empty());
    client.stop();
}

#[test]
fn settings_from_orbit_toml_and_workspace_configuration() {
    let dir = std::env::temp_dir().join(format!("orbit-lsp-toml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".orbit.toml"), "nodes = []\ntraceLimit = 7\n").unwrap();
    let client = Client::start(json!({}), Some(&dir));
    let path = dir.join("m.ex");
    let uri = client.open(&path, "defmodule M do\n  def f(a), do: a\nend\n");
    let titles = |client: &Client| -> Vec<String> {
        client
            .request::<CodeActionRequest>(CodeActionParams {
                text_document: TextDocumentIdentifier { uri: uri.clone() },
                range: Range::new(Position::new(1, 6), Position::new(1, 6)),
                context: CodeActionContext::default(),
                work_done_progress_params: Default::default(),
                partial_result_params: Default::default(),
            })
            .unwrap()
            .unwrap_or_default()
            .iter()
            .map(|a| match a {
                CodeActionOrCommand::CodeAction(a) => a.title.clone(),
                CodeActionOrCommand::Command(c) => c.title.clone(),
            })
            .collect()
    };
    assert!(titles(&client).contains(&"Trace calls to M.f/1 (limit 7)".to_string()));
    // The editor's settings win over the file.
    *client.configuration.borrow_mut() = json!({"traceLimit": 9});
    client.notify::<lsp_types::notification::DidChangeConfiguration>(lsp_types::DidChangeConfigurationParams {
        settings: serde_json::Value::Null,
    });
    client.pump(Duration::from_millis(300));
    assert!(titles(&client).contains(&"Trace calls to M.f/1 (limit 9)".to_string()), "{:?}", titles(&client));
    assert!(client.server_requests.borrow().iter().any(|m| m == "workspace/configuration"));
    client.stop();
    let _ = std::fs::remove_dir_all(dir);
}

fn code_lens_titles(client: &Client, uri: &lsp_types::Uri) -> Option<Vec<lsp_types::CodeLens>> {
    client
        .request::<CodeLensRequest>(CodeLensParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap()
}

fn did_change(client: &Client, uri: &lsp_types::Uri, version: i32, text: String) {
    client.notify::<lsp_types::notification::DidChangeTextDocument>(lsp_types::DidChangeTextDocumentParams {
        text_document: lsp_types::VersionedTextDocumentIdentifier { uri: uri.clone(), version },
        content_changes: vec![lsp_types::TextDocumentContentChangeEvent { range: None, range_length: None, text }],
    });
}

#[test]
fn a_burst_of_ten_thousand_changes_then_an_answer_within_a_bound() {
    let client = no_cluster();
    let path = std::path::Path::new("/tmp/orbit-lsp-burst.ex");
    let uri = client.open(path, "defmodule Burst do\n  def f(a), do: a\nend\n");
    let start = std::time::Instant::now();
    for i in 0..10_000 {
        did_change(&client, &uri, i + 2, format!("defmodule Burst do\n  def f{i}(a), do: a\nend\n"));
    }
    let sent = start.elapsed();
    // The request after the burst sees the last text, and answers within a bound.
    let t = std::time::Instant::now();
    let status = client.request_with_timeout("orbit/clusterStatus", serde_json::Value::Null, Duration::from_secs(10));
    let after = t.elapsed();
    println!("10,000 didChange sent in {sent:?}; the next request answered {after:?} later");
    assert!(status.is_ok());
    assert!(after < Duration::from_secs(5), "answered {after:?} after the burst");
    let actions = client
        .request::<CodeActionRequest>(CodeActionParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            range: Range::new(Position::new(1, 6), Position::new(1, 6)),
            context: CodeActionContext::default(),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap()
        .unwrap_or_default();
    let titles: Vec<String> = actions
        .iter()
        .map(|a| match a {
            CodeActionOrCommand::CodeAction(a) => a.title.clone(),
            CodeActionOrCommand::Command(c) => c.title.clone(),
        })
        .collect();
    assert!(titles.iter().any(|t| t.contains("Burst.f9999/1")), "the last text is indexed: {titles:?}");
    client.stop();
}

#[test]
fn a_five_megabyte_document_and_files_in_other_encodings() {
    let client = no_cluster();
    // 5 MB of Elixir: indexed, answered, no panic.
    let mut big = String::from("defmodule Big do\n");
    let mut i = 0;
    while big.len() < 5 << 20 {
        big.push_str(&format!("  def f{i}(a), do: {{:ok, a, \"some text to make it longer {i}\"}}\n"));
        i += 1;
    }
    big.push_str("end\n");
    let path = std::path::Path::new("/tmp/orbit-lsp-big.ex");
    let t = std::time::Instant::now();
    let uri = client.open(path, &big);
    let lenses = code_lens_titles(&client, &uri);
    println!("5 MB document: opened and lenses answered in {:?}", t.elapsed());
    assert_eq!(lenses, Some(vec![]));
    // 5 MB of garbage too.
    let garbage: String = (0..5 << 20).map(|i| ["(", ")", "do", " ", "end", "\u{0}", "é", "\n", "->"][i % 9]).collect();
    let g = client.open(std::path::Path::new("/tmp/orbit-lsp-garbage-big.ex"), &garbage);
    let _ = code_lens_titles(&client, &g);

    // A Latin-1 file on disk (not UTF-8): the client sends what it decoded; the server works from that and
    // never needs the bytes to be UTF-8.
    let dir = std::env::temp_dir().join(format!("orbit-lsp-latin1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let latin1 = dir.join("caf\u{e9}.ex");
    std::fs::write(&latin1, b"defmodule Caf\xe9 do\n  def f(a), do: \"\xe9t\xe9\"\nend\n").unwrap();
    let lossy = String::from_utf8_lossy(&std::fs::read(&latin1).unwrap()).to_string();
    let u = client.open(&latin1, &lossy);
    let _ = code_lens_titles(&client, &u);
    let err = client
        .request::<ExecuteCommand>(ExecuteCommandParams {
            command: "orbit.reload".into(),
            arguments: vec![json!({"file": latin1})],
            work_done_progress_params: Default::default(),
        })
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InternalError as i32, "no cluster: {err:?}");
    // A UTF-16 file with a BOM, sent as the client decoded it.
    let utf16: String = String::from_utf16_lossy(&[0xfeff, 0x64, 0x65, 0x66, 0xd800, 0x0a]);
    let _ = client.open(&dir.join("utf16.erl"), &utf16);
    let status = client.request_raw("orbit/clusterStatus", serde_json::Value::Null).unwrap();
    assert_eq!(status["connected"], false);
    client.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn cancelling_what_is_not_running_is_ignored() {
    let client = no_cluster();
    client.notify::<lsp_types::notification::Cancel>(lsp_types::CancelParams {
        id: lsp_types::NumberOrString::Number(12345),
    });
    client.notify::<lsp_types::notification::Cancel>(lsp_types::CancelParams {
        id: lsp_types::NumberOrString::String("nope".into()),
    });
    let status = client.request_raw("orbit/clusterStatus", serde_json::Value::Null).unwrap();
    assert_eq!(status["connected"], false);
    client.stop();
}
