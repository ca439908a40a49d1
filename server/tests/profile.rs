//! Profiles from the editor, against a real 3-node demo cluster under its load generator: the code
//! action starts one, the lens on Bank.Fees.fee_for/1 then shows its share of the cluster's time, calls,
//! µs per call and hottest node, the hover splits it per node, the flame graph is written, and nothing
//! of the profile is left on the nodes. In read-only mode too (a profile changes no code and no state).

mod support;

use lsp_types::notification::ShowMessage;
use lsp_types::request::{CodeActionRequest, CodeLensRequest, ExecuteCommand, HoverRequest};
use lsp_types::{
    CodeActionContext, CodeActionOrCommand, CodeActionParams, CodeLensParams, ExecuteCommandParams, HoverContents,
    HoverParams, Position, Range, TextDocumentIdentifier, TextDocumentPositionParams,
};
use orbit_test_harness::{demo_dir, TestCluster};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::Client;

const WAIT: Duration = Duration::from_secs(120);

fn execute(client: &Client, command: &str, arg: Value) -> Result<Value, lsp_server::ResponseError> {
    client
        .request::<ExecuteCommand>(ExecuteCommandParams {
            command: command.into(),
            arguments: vec![arg],
            work_done_progress_params: Default::default(),
        })
        .map(|v| v.unwrap_or(Value::Null))
}

/// Six accounts and transfers from every node (their ledger entries quote Bank.Fees.fee_for/1).
fn load(nodes: &TestCluster) {
    let open = "[ 'Elixir.Bank':open_account(list_to_binary(\"acct\" ++ integer_to_list(I)), <<\"o\">>, 10000000) \
                || I <- lists:seq(1, 6)], ok.";
    assert_eq!(nodes.eval(0, open).unwrap(), "ok");
    for i in 0..nodes.nodes.len() {
        assert_eq!(nodes.eval(i, "'Elixir.Bank.LoadGen':start(200).").unwrap(), "ok");
    }
    for i in 0..nodes.nodes.len() {
        let deadline = Instant::now() + Duration::from_secs(30);
        while nodes.eval(i, "maps:get(ok, 'Elixir.Bank.LoadGen':stats()).").unwrap().parse::<u64>().unwrap_or(0) == 0 {
            assert!(Instant::now() < deadline, "{} makes no transfers", nodes.name(i));
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn clean(nodes: &TestCluster) {
    let expr = "{whereis(orbit_profiler), erlang:trace_info({'Elixir.Bank.Fees', fee_for, 1}, call_time), \
                case code:ensure_loaded(trace) of \
                    {module, trace} -> [S || {orbit_profile, _} = S <- trace:session_info(all)]; _ -> [] end}.";
    for i in 0..nodes.nodes.len() {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s: String = nodes.eval(i, expr).unwrap().split_whitespace().collect();
            if s == "{undefined,{call_time,false},[]}" {
                break;
            }
            assert!(Instant::now() < deadline, "{} still holds part of a profile: {s}", nodes.name(i));
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The line of `def fee_for(` in fees.ex (0-based) and the column of its name.
fn fee_for_head(text: &str) -> (u32, u32) {
    let (line, l) = text.lines().enumerate().find(|(_, l)| l.trim_start().starts_with("def fee_for(")).unwrap();
    (line as u32, l.find("fee_for").unwrap() as u32)
}

fn profile_from_the_editor(read_only: bool) {
    let nodes = TestCluster::demo(3);
    load(&nodes);
    let client = Client::start(
        json!({ "nodes": [nodes.name(0)], "cookie": nodes.cookie, "refreshIntervalMs": 500, "readOnly": read_only }),
        Some(&demo_dir()),
    );
    client.wait_for::<ShowMessage>(WAIT, |m| m.message.contains("connected")).expect("connects");
    let fees = demo_dir().join("lib/bank/fees.ex");
    let text = std::fs::read_to_string(&fees).unwrap();
    let uri = client.open(&fees, &text);
    let (line, col) = fee_for_head(&text);

    // The code action.
    let actions = client
        .request::<CodeActionRequest>(CodeActionParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            range: Range::new(Position::new(line, col), Position::new(line, col)),
            context: CodeActionContext::default(),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap()
        .unwrap();
    let action = actions
        .iter()
        .find_map(|a| match a {
            CodeActionOrCommand::CodeAction(a) if a.title.starts_with("Profile Bank.Fees across the cluster") => {
                Some(a.clone())
            }
            _ => None,
        })
        .expect("a profile action");
    let cmd = action.command.unwrap();
    assert_eq!(cmd.command, "orbit.profile.start");
    let mut arg = cmd.arguments.unwrap()[0].clone();
    assert_eq!(arg["module"], "Elixir.Bank.Fees");
    arg["durationMs"] = json!(3000); // a shorter window than the action's, for the test

    let result = execute(&client, &cmd.command, arg).expect("the profile runs");
    assert_eq!(result["functions"][0]["name"], "Bank.Fees.fee_for/1", "{result:#}");
    assert_eq!(result["functions"][0]["nodes"].as_array().unwrap().len(), 3, "{result:#}");
    let svg = result["flamegraph"].as_str().expect("a flame graph");
    assert!(std::fs::read_to_string(svg).unwrap().contains("</svg>"));
    assert!(result["table"].as_str().unwrap().contains("Bank.Fees.fee_for/1"), "{result:#}");
    assert!(client.show_messages().iter().any(|m| m.contains("hottest Bank.Fees.fee_for/1")), "{}", client.dump());
    // The lenses changed: the client is asked to refresh them (right after the answer).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !client.server_requests.borrow().iter().any(|m| m == "workspace/codeLens/refresh") {
        assert!(Instant::now() < deadline, "no codeLens/refresh after the profile: {}", client.dump());
        client.pump(Duration::from_millis(100));
    }

    // The lens on the function's head.
    let lenses = client
        .request::<CodeLensRequest>(CodeLensParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap()
        .unwrap();
    let lens = lenses
        .iter()
        .find(|l| l.range.start.line == line && l.command.as_ref().is_some_and(|c| c.title.contains("of cluster time")))
        .unwrap_or_else(|| panic!("no profile lens on line {line}: {lenses:#?}"));
    let title = &lens.command.as_ref().unwrap().title;
    assert!(title.contains(" calls · ") && title.contains(" µs/call") && title.contains(" · hottest on "), "{title}");
    assert!(nodes.names().iter().any(|n| title.ends_with(n.as_str())), "{title}");

    // The hover: the split per node.
    let hover = client
        .request::<HoverRequest>(HoverParams {
            text_document_position_params: TextDocumentPositionParams {
                text_document: TextDocumentIdentifier { uri: uri.clone() },
                position: Position::new(line, col + 2),
            },
            work_done_progress_params: Default::default(),
        })
        .unwrap()
        .expect("a hover");
    let HoverContents::Markup(h) = hover.contents else { panic!("markdown hover") };
    assert!(h.value.contains("**Bank.Fees.fee_for/1** in the last profile"), "{}", h.value);
    for n in nodes.names() {
        assert!(h.value.contains(&format!("| `{n}` |")), "{n}: {}", h.value);
    }

    // The result again, for an editor's table; then cleared, and the lens goes.
    let again = execute(&client, "orbit.profile.result", json!({"limit": 3})).unwrap();
    assert_eq!(again["functions"].as_array().unwrap().len().min(3), again["functions"].as_array().unwrap().len());
    assert_eq!(again["id"], result["id"]);
    execute(&client, "orbit.profile.clear", json!({})).unwrap();
    let lenses = client
        .request::<CodeLensRequest>(CodeLensParams {
            text_document: TextDocumentIdentifier { uri },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap()
        .unwrap_or_default();
    assert!(!lenses.iter().any(|l| l.command.as_ref().is_some_and(|c| c.title.contains("of cluster time"))));
    clean(&nodes);
    client.stop();
}

#[test]
fn a_profile_from_the_code_action_puts_its_figures_on_the_function() {
    profile_from_the_editor(false);
}

#[test]
fn read_only_mode_allows_a_profile() {
    profile_from_the_editor(true);
}
