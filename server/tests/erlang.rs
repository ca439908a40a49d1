//! Erlang sources against bare Erlang nodes: drift at the `-module` line, the reload quick fix compiles
//! the `.erl` on a node and clears it, lenses and actions use Erlang names.

mod support;

use lsp_types::notification::{PublishDiagnostics, ShowMessage};
use lsp_types::request::{CodeActionRequest, CodeLensRequest, ExecuteCommand};
use lsp_types::{
    CodeActionContext, CodeActionOrCommand, CodeActionParams, CodeLensParams, ExecuteCommandParams, NumberOrString,
    Position, Range, TextDocumentIdentifier,
};
use orbit_test_harness::TestCluster;
use serde_json::json;
use std::time::Duration;
use support::Client;

const WAIT: Duration = Duration::from_secs(120);

#[test]
fn erlang_module_drift_and_reload() {
    let cluster = TestCluster::erlang(2);
    let dir = std::env::temp_dir().join(format!("orbit_lsp_erl_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let module = format!("orbit_lsp_probe_{}", std::process::id());
    let path = dir.join(format!("{module}.erl"));
    let text = format!(
        "-module({module}).\n-behaviour(gen_server).\n-export([v/0, init/1, handle_call/3, handle_cast/2]).\n\nv() -> 1.\n\ninit(A) -> {{ok, A}}.\nhandle_call(_, _, S) -> {{reply, ok, S}}.\nhandle_cast(_, S) -> {{noreply, S}}.\n"
    );
    std::fs::write(&path, &text).unwrap();
    // Node 0 runs this file; node 1 a different version.
    let load = |i: usize, source: &str| {
        let src = dir.join(format!("v{i}")).join(format!("{module}.erl"));
        std::fs::create_dir_all(src.parent().unwrap()).unwrap();
        std::fs::write(&src, source).unwrap();
        let expr = format!(
            "{{ok, M, B}} = compile:file(\"{}\", [binary]), {{module, M}} = code:load_binary(M, \"{}\", B), ok.",
            src.display(),
            src.display()
        );
        assert_eq!(cluster.eval(i, &expr).as_deref(), Ok("ok"), "load on node {i}");
    };
    load(0, &text);
    load(1, &text.replace("v() -> 1.", "v() -> 2."));

    let client = Client::start(
        json!({"nodes": [cluster.name(0)], "cookie": cluster.cookie, "refreshIntervalMs": 500}),
        Some(&dir),
    );
    client.wait_for::<ShowMessage>(WAIT, |m| m.message.contains("connected")).expect("connects");
    let uri = client.open(&path, &text);
    let node1 = cluster.name(1).to_string();
    let p = client
        .wait_for::<PublishDiagnostics>(WAIT, |p| {
            p.uri == uri && p.diagnostics.iter().any(|d| d.code == Some(NumberOrString::String("drift".into())))
        })
        .unwrap_or_else(|| panic!("an Erlang drift diagnostic:\n{}", client.dump()));
    let d = p.diagnostics.iter().find(|d| d.code == Some(NumberOrString::String("drift".into()))).unwrap().clone();
    assert_eq!(d.range.start, Position::new(0, 8), "at the module name in -module");
    assert!(d.message.starts_with(&format!("{module}: version drift: ")), "{}", d.message);
    assert!(d.message.contains(&node1), "{}", d.message);

    // The module's lens is "orbit: …" until the main loop has the cluster's answer (it asks the client to
    // refresh lenses then): ask again until it has it.
    let started = std::time::Instant::now();
    let titles: Vec<String> = loop {
        let lenses = client
            .request::<CodeLensRequest>(CodeLensParams {
                text_document: TextDocumentIdentifier { uri: uri.clone() },
                work_done_progress_params: Default::default(),
                partial_result_params: Default::default(),
            })
            .unwrap()
            .unwrap();
        let titles: Vec<String> = lenses.iter().map(|l| l.command.as_ref().unwrap().title.clone()).collect();
        if titles.first().is_some_and(|t| t.contains("drift")) || started.elapsed() > WAIT {
            break titles;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(titles[0].contains("drift: 2 versions"), "{titles:?}");
    assert_eq!(titles.len(), 4, "module + init, handle_call, handle_cast: {titles:?}");

    let actions = client
        .request::<CodeActionRequest>(CodeActionParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            range: Range::new(Position::new(4, 0), Position::new(4, 0)),
            context: CodeActionContext { diagnostics: vec![d], ..Default::default() },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap()
        .unwrap();
    let titles: Vec<String> = actions
        .iter()
        .map(|a| match a {
            CodeActionOrCommand::CodeAction(a) => a.title.clone(),
            CodeActionOrCommand::Command(c) => c.title.clone(),
        })
        .collect();
    assert!(titles.contains(&format!("Trace calls to {module}:v/0 (limit 100)")), "{titles:?}");
    assert!(titles.contains(&format!("Start {module} in a sandbox")), "{titles:?}");
    let CodeActionOrCommand::CodeAction(fix) = &actions[0] else { panic!("a code action") };
    assert_eq!(fix.is_preferred, Some(true));
    let cmd = fix.command.clone().unwrap();
    let report = client
        .request::<ExecuteCommand>(ExecuteCommandParams {
            command: cmd.command,
            arguments: cmd.arguments.unwrap(),
            work_done_progress_params: Default::default(),
        })
        .expect("reload")
        .unwrap();
    assert_eq!(report["outcome"], "loaded");
    client
        .wait_for::<PublishDiagnostics>(WAIT, |p| {
            p.uri == uri && !p.diagnostics.iter().any(|d| d.code == Some(NumberOrString::String("drift".into())))
        })
        .expect("drift clears after the reload");
    client.stop();
    let _ = std::fs::remove_dir_all(dir);
}
