//! The whole server in memory against a real 3-node demo cluster (fixtures/demo): drift appears and the
//! reload quick fix clears it, a flooded mailbox is a hotspot on the clause the process sits in, lenses,
//! hover, sandbox and trace commands, and a killed node is reported once.

mod support;

use lsp_types::notification::{PublishDiagnostics, ShowMessage};
use lsp_types::request::{CodeActionRequest, CodeLensRequest, ExecuteCommand, HoverRequest};
use lsp_types::{
    CodeActionContext, CodeActionOrCommand, CodeActionParams, CodeLensParams, Diagnostic, ExecuteCommandParams,
    HoverContents, HoverParams, NumberOrString, Position, TextDocumentIdentifier, TextDocumentPositionParams,
};
use orbit_test_harness::{demo_dir, TestCluster};
use serde_json::{json, Value};
use std::time::Duration;
use support::Client;

const WAIT: Duration = Duration::from_secs(120);

fn code(d: &Diagnostic) -> &str {
    match &d.code {
        Some(NumberOrString::String(s)) => s,
        _ => "",
    }
}

fn execute(client: &Client, command: &str, arg: Value) -> Result<Value, lsp_server::ResponseError> {
    client
        .request::<ExecuteCommand>(ExecuteCommandParams {
            command: command.into(),
            arguments: vec![arg],
            work_done_progress_params: Default::default(),
        })
        .map(|v| v.unwrap_or(Value::Null))
}

#[test]
fn the_running_cluster_next_to_the_code() {
    let mut cluster = TestCluster::demo(3);
    let client = Client::start(
        json!({
            "nodes": [cluster.name(0)],
            "cookie": cluster.cookie,
            "refreshIntervalMs": 500,
            "mailboxWarning": 200,
            "autoReloadOnSave": true,
        }),
        Some(&demo_dir()),
    );
    let connected = client.wait_for::<ShowMessage>(WAIT, |m| m.message.contains("connected")).expect("connects");
    assert!(connected.message.contains("connected to the cluster"), "{}", connected.message);

    // --- Drift: a different Bank.Fees on node 1 only. ---
    let fees = demo_dir().join("lib/bank/fees.ex");
    let fees_text = std::fs::read_to_string(&fees).unwrap();
    let fees_uri = client.open(&fees, &fees_text);
    let variant = std::env::temp_dir().join(format!("orbit_lsp_fees_{}.ex", std::process::id()));
    let changed = fees_text.trim_end().strip_suffix("end").unwrap().to_string() + "  def orbit_variant, do: 1\nend\n";
    std::fs::write(&variant, changed).unwrap();
    // Every node runs the built Bank.Fees; then node 1 compiles a variant.
    for i in 0..3 {
        cluster.eval(i, "code:ensure_loaded('Elixir.Bank.Fees').").expect("load");
    }
    let out = cluster.eval(1, &format!("'Elixir.Code':compile_file(<<\"{}\">>), ok.", variant.display()));
    assert_eq!(out.as_deref(), Ok("ok"), "compile on node 1");
    let node1 = cluster.name(1).to_string();
    let drift = client
        .wait_for::<PublishDiagnostics>(WAIT, |p| {
            p.uri == fees_uri && p.diagnostics.iter().any(|d| code(d) == "drift" && d.message.contains(&node1))
        })
        .unwrap_or_else(|| {
            let drift = execute(&client, "orbit.drift", json!({"module": "Bank.Fees"}));
            panic!("no drift diagnostic naming node 1; orbit.drift says {drift:?}; seen:\n{}", client.dump())
        });
    let d = drift.diagnostics.iter().find(|d| code(d) == "drift").unwrap().clone();
    assert_eq!(d.range.start, Position::new(0, 10), "at the defmodule name");
    assert_eq!(d.source.as_deref(), Some("orbit"));
    assert!(d.message.starts_with("Bank.Fees: version drift: "), "{}", d.message);

    // Hover on the module name: every node with its version.
    let hover = client
        .request::<HoverRequest>(HoverParams {
            text_document_position_params: TextDocumentPositionParams {
                text_document: TextDocumentIdentifier { uri: fees_uri.clone() },
                position: Position::new(0, 12),
            },
            work_done_progress_params: Default::default(),
        })
        .unwrap()
        .expect("a hover");
    let HoverContents::Markup(h) = hover.contents else { panic!("markdown hover") };
    for i in 0..3 {
        assert!(h.value.contains(cluster.name(i)), "{}", h.value);
    }
    assert!(h.value.contains("different versions"), "{}", h.value);

    // The reload quick fix clears it.
    let actions = client
        .request::<CodeActionRequest>(CodeActionParams {
            text_document: TextDocumentIdentifier { uri: fees_uri.clone() },
            range: d.range,
            context: CodeActionContext { diagnostics: vec![d.clone()], ..Default::default() },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap()
        .unwrap();
    let fix = actions
        .iter()
        .find_map(|a| match a {
            CodeActionOrCommand::CodeAction(a) if a.is_preferred == Some(true) => Some(a.clone()),
            _ => None,
        })
        .expect("a preferred quick fix");
    assert_eq!(fix.title, "Reload Bank.Fees on all nodes");
    let cmd = fix.command.unwrap();
    let report = execute(&client, &cmd.command, cmd.arguments.unwrap()[0].clone()).expect("reload works");
    assert_eq!(report["outcome"], "loaded");
    assert_eq!(report["consistent"], true);
    client
        .wait_for::<PublishDiagnostics>(WAIT, |p| {
            p.uri == fees_uri && !p.diagnostics.iter().any(|d| code(d) == "drift")
        })
        .expect("the drift diagnostic clears");
    assert!(client.show_messages().iter().any(|m| m.contains("reloaded Bank.Fees on 3 nodes")));
    assert!(client.server_requests.borrow().iter().any(|m| m == "window/workDoneProgress/create"));

    // autoReloadOnSave: drift again, then a save reloads the file everywhere and verifies it.
    let out = cluster.eval(1, &format!("'Elixir.Code':compile_file(<<\"{}\">>), ok.", variant.display()));
    assert_eq!(out.as_deref(), Ok("ok"), "compile on node 1 again");
    client
        .wait_for::<PublishDiagnostics>(WAIT, |p| p.uri == fees_uri && p.diagnostics.iter().any(|d| code(d) == "drift"))
        .expect("drift again");
    client.notify::<lsp_types::notification::DidSaveTextDocument>(lsp_types::DidSaveTextDocumentParams {
        text_document: TextDocumentIdentifier { uri: fees_uri.clone() },
        text: None,
    });
    client
        .wait_for::<PublishDiagnostics>(WAIT, |p| {
            p.uri == fees_uri && !p.diagnostics.iter().any(|d| code(d) == "drift")
        })
        .expect("the save's reload clears the drift");
    let reloads = client.show_messages().iter().filter(|m| m.contains("reloaded Bank.Fees on 3 nodes")).count();
    assert_eq!(reloads, 2, "{:?}", client.show_messages());
    assert!(client.server_requests.borrow().iter().any(|m| m == "workspace/codeLens/refresh"));

    // Stale code (by md5 against the project's _build) is tested in tests/cancel_and_stale.rs.

    // --- Hotspot: flood the mailbox on node 1. ---
    let mailbox = demo_dir().join("lib/bank/mailbox.ex");
    let mailbox_text = std::fs::read_to_string(&mailbox).unwrap();
    let mailbox_uri = client.open(&mailbox, &mailbox_text);
    let clause_line =
        mailbox_text.lines().position(|l| l.contains("def handle_info({:work")).expect("the work clause") as u32;
    cluster.eval(1, "'Elixir.Bank.Mailbox':flood(3000).").expect("flood");
    let hot = client
        .wait_for::<PublishDiagnostics>(WAIT, |p| {
            p.uri == mailbox_uri && p.diagnostics.iter().any(|d| code(d) == "hotspot" && d.message.contains(&node1))
        })
        .unwrap_or_else(|| {
            let procs = execute(&client, "orbit.processes", json!({"module": "Bank.Mailbox"}));
            panic!("no hotspot; processes: {procs:?}; seen:\n{}", client.dump())
        });
    let h = hot.diagnostics.iter().find(|d| code(d) == "hotspot").unwrap();
    assert_eq!(h.range.start.line, clause_line, "{h:?}");
    assert!(h.message.contains("messages queued"), "{}", h.message);
    // Lenses: the module's nodes and processes; the callbacks' longest queue.
    let lenses = client
        .request::<CodeLensRequest>(CodeLensParams {
            text_document: TextDocumentIdentifier { uri: mailbox_uri.clone() },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap()
        .unwrap();
    let titles: Vec<String> = lenses.iter().map(|l| l.command.as_ref().unwrap().title.clone()).collect();
    assert!(titles[0].starts_with("orbit: 3 nodes · "), "{titles:?}");
    assert!(titles.iter().any(|t| t.contains("longest queue")), "{titles:?}");
    cluster.eval(1, "'Elixir.Bank.Mailbox':drain().").expect("drain");

    // --- Processes, sandbox, trace. ---
    let procs = execute(&client, "orbit.processes", json!({"module": "Bank.Mailbox"})).unwrap();
    assert!(procs["total"].as_u64().unwrap() >= 3, "{procs}");
    let sb = execute(
        &client,
        "orbit.sandbox.create",
        json!({"name": "lsp-acct", "module": "Bank.Account", "arg": "{\"lsp-acct-1\", \"alice\", 100}"}),
    )
    .expect("sandbox create");
    assert_eq!(sb["id"], "lsp-acct");
    assert_eq!(sb["status"], "running");
    let list = execute(&client, "orbit.sandbox.list", json!({})).unwrap();
    assert!(list.as_array().unwrap().iter().any(|s| s["id"] == "lsp-acct"), "{list}");
    execute(&client, "orbit.sandbox.destroy", json!({"name": "lsp-acct"})).expect("destroy");
    let err = execute(&client, "orbit.sandbox.destroy", json!({"name": "lsp-acct"})).unwrap_err();
    assert_eq!(err.code, lsp_server::ErrorCode::InternalError as i32);

    let t = execute(&client, "orbit.trace.start", json!({"pattern": "Bank.Fees.fee_for/1", "limit": 10})).unwrap();
    assert_eq!(t["limit"], 10);
    for _ in 0..3 {
        cluster.eval(0, "'Elixir.Bank.Fees':fee_for(500).").unwrap();
    }
    let fee_line = fees_text.lines().position(|l| l.contains("def fee_for(amount)")).unwrap() as u32;
    let mut calls = String::new();
    for _ in 0..100 {
        let hover = client
            .request::<HoverRequest>(HoverParams {
                text_document_position_params: TextDocumentPositionParams {
                    text_document: TextDocumentIdentifier { uri: fees_uri.clone() },
                    position: Position::new(fee_line, 7),
                },
                work_done_progress_params: Default::default(),
            })
            .unwrap();
        if let Some(lsp_types::Hover { contents: HoverContents::Markup(m), .. }) = hover {
            calls = m.value;
            if calls.contains("3 calls") {
                break;
            }
        }
        client.pump(Duration::from_millis(100));
    }
    assert!(calls.contains("3 calls traced"), "{calls}");
    let stopped = execute(&client, "orbit.trace.stop", json!({})).unwrap();
    assert_eq!(stopped["calls"]["Bank.Fees.fee_for/1"], 3, "{stopped}");

    // --- A node killed: said once; the health picture follows. ---
    let node2 = cluster.name(2).to_string();
    cluster.nodes[2].kill();
    let down = client
        .wait_for::<ShowMessage>(WAIT, |m| m.message.contains(&node2) && m.message.contains("down"))
        .expect("node down message");
    assert!(down.message.starts_with("Orbit: node "), "{}", down.message);
    let health = client
        .wait_for::<orbit_server::lsp_ext::ClusterHealth>(WAIT, |h| {
            h["nodes"].as_array().is_some_and(|n| n.iter().any(|n| n["node"] == node2 && n["up"] == false))
        })
        .expect("clusterHealth shows the node down");
    assert_eq!(health["connected"], true);
    client.pump(Duration::from_secs(2));
    let downs = client.show_messages().iter().filter(|m| m.contains(&node2) && m.contains("is down")).count();
    assert_eq!(downs, 1, "{:?}", client.show_messages());
    let status = client.request_raw("orbit/clusterStatus", Value::Null).unwrap();
    assert_eq!(status["status"], "down");

    // A partition between the two nodes left: said once, with the groups.
    cluster.cut(0, 1);
    let part = client
        .wait_for::<ShowMessage>(WAIT, |m| m.message.contains("partitioned"))
        .unwrap_or_else(|| panic!("a partition message; seen:\n{}", client.show_messages().join("\n")));
    assert!(part.message.starts_with("Orbit: the cluster is partitioned"), "{}", part.message);

    // The cluster goes away mid-request: an answer (error or partial), never a hang or a panic.
    cluster.nodes[0].kill();
    cluster.nodes[1].kill();
    for command in ["orbit.drift", "orbit.sandbox.list", "orbit.processes"] {
        let r = client.request_with_timeout(
            "workspace/executeCommand",
            json!({"command": command, "arguments": [{}]}),
            Duration::from_secs(200),
        );
        if let Err(e) = &r {
            assert_eq!(e.code, lsp_server::ErrorCode::InternalError as i32, "{command}: {e:?}");
        }
    }
    let status = client.request_raw("orbit/clusterStatus", Value::Null).unwrap();
    assert!(status.get("status").is_some());

    client.stop();
    let _ = std::fs::remove_file(variant);
}
