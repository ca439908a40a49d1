//! Issue #13 against a real 3-node demo cluster: stale code judged by md5 against the project's `_build`
//! (not by clocks), a slow `orbit.reload` cancelled (`RequestCancelled` at once, progress reported and
//! ended, nothing staged or loaded left on the nodes), and a node that goes away mid-request.

mod support;

use lsp_types::notification::{PublishDiagnostics, ShowMessage};
use lsp_types::request::HoverRequest;
use lsp_types::{
    HoverContents, HoverParams, NumberOrString, Position, TextDocumentIdentifier, TextDocumentPositionParams,
};
use orbit_test_harness::{demo_dir, TestCluster};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use support::Client;

const WAIT: Duration = Duration::from_secs(120);
const FEES: &str = "'Elixir.Bank.Fees'";

fn is_stale(d: &lsp_types::Diagnostic) -> bool {
    d.code == Some(NumberOrString::String("stale".into()))
}

fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
}

/// The md5 of Bank.Fees each node runs, as hex (erl_call's rendering of the binary).
fn md5s(cluster: &TestCluster, n: usize) -> Vec<String> {
    (0..n).map(|i| cluster.eval(i, &format!("erlang:get_module_info({FEES}, md5).")).unwrap_or_default()).collect()
}

/// Stage processes of `orbit_reload` left on node `i`.
fn stages(cluster: &TestCluster, i: usize) -> String {
    cluster
        .eval(
            i,
            "length([P || P <- processes(), proc_lib:translate_initial_call(P) =:= {orbit_reload, stage_init, 4}]).",
        )
        .unwrap_or_else(|e| format!("error: {e}"))
}

/// Hovers until the server's model shows `atom` loaded on every node (the worker has looked at it).
fn wait_model(client: &Client, uri: &lsp_types::Uri, nodes: usize) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let hover = client
            .request::<HoverRequest>(HoverParams {
                text_document_position_params: TextDocumentPositionParams {
                    text_document: TextDocumentIdentifier { uri: uri.clone() },
                    position: Position::new(0, 12),
                },
                work_done_progress_params: Default::default(),
            })
            .unwrap();
        if let Some(lsp_types::Hover { contents: HoverContents::Markup(m), .. }) = hover {
            if m.value.matches("loaded, md5").count() == nodes {
                return;
            }
        }
        client.pump(Duration::from_millis(200));
    }
    panic!("the server never saw Bank.Fees on {nodes} nodes:\n{}", client.dump());
}

#[test]
fn stale_by_md5_cancellation_and_a_cluster_that_goes_away() {
    let mut cluster = TestCluster::demo(3);
    for i in 0..3 {
        cluster.eval(i, &format!("code:ensure_loaded({FEES}).")).expect("load");
    }
    // A project of our own: the demo's Bank.Fees source and its build.
    let proj = std::env::temp_dir().join(format!("orbit_lsp_issue13_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&proj);
    let src = proj.join("lib/bank/fees.ex");
    let ebin = proj.join("_build/dev/lib/bank/ebin");
    std::fs::create_dir_all(src.parent().unwrap()).unwrap();
    std::fs::create_dir_all(&ebin).unwrap();
    let fixture = demo_dir();
    let fees_text = std::fs::read_to_string(fixture.join("lib/bank/fees.ex")).unwrap();
    std::fs::write(&src, &fees_text).unwrap();
    let beam = ebin.join("Elixir.Bank.Fees.beam");
    std::fs::copy(fixture.join("_build/dev/lib/bank/ebin/Elixir.Bank.Fees.beam"), &beam).unwrap();
    // The build's beam is a day older than the source (as a skewed clock or a touched file would make
    // it), and has the md5 the nodes run: the md5 decides, so this is not stale.
    let now = SystemTime::now();
    set_mtime(&src, now);
    set_mtime(&beam, now - Duration::from_secs(86_400));

    let client = Client::start(
        json!({"nodes": [cluster.name(0)], "cookie": cluster.cookie, "refreshIntervalMs": 300}),
        Some(&proj),
    );
    client.wait_for::<ShowMessage>(WAIT, |m| m.message.contains("connected")).expect("connects");
    let uri = client.open(&src, &fees_text);

    // --- md5 matches: no stale diagnostic, though the beam is older than the source. ---
    wait_model(&client, &uri, 3);
    client.pump(Duration::from_secs(2));
    let stale_seen = client
        .seen
        .borrow()
        .iter()
        .filter(|n| n.method == "textDocument/publishDiagnostics")
        .filter_map(|n| serde_json::from_value::<lsp_types::PublishDiagnosticsParams>(n.params.clone()).ok())
        .any(|p| p.uri == uri && p.diagnostics.iter().any(is_stale));
    assert!(!stale_seen, "no stale diagnostic when the md5s match:\n{}", client.dump());

    // --- md5 differs: every node runs a variant; one stale diagnostic. ---
    let variant = proj.join("variant.ex");
    let changed = fees_text.trim_end().strip_suffix("end").unwrap().to_string() + "  def orbit_variant, do: 1\nend\n";
    std::fs::write(&variant, changed).unwrap();
    for i in 0..3 {
        let out = cluster.eval(i, &format!("'Elixir.Code':compile_file(<<\"{}\">>), ok.", variant.display()));
        assert_eq!(out.as_deref(), Ok("ok"), "compile the variant on node {i}");
    }
    let p = client
        .wait_for::<PublishDiagnostics>(WAIT, |p| p.uri == uri && p.diagnostics.iter().any(is_stale))
        .unwrap_or_else(|| panic!("a stale diagnostic when the md5 differs:\n{}", client.dump()));
    let stale: Vec<_> = p.diagnostics.iter().filter(|d| is_stale(d)).collect();
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert_eq!(stale[0].range.start, Position::new(0, 10));
    assert!(stale[0].message.contains("differs from the build"), "{}", stale[0].message);

    // --- Cancel a slow reload: node 2 is frozen, so staging waits on it. ---
    let before = md5s(&cluster, 3);
    cluster.nodes[2].freeze();
    let id = client.send_request(
        "workspace/executeCommand",
        json!({"command": "orbit.reload", "arguments": [{"file": src}], "workDoneToken": "reload-1"}),
    );
    // Wait for the reload to reach the nodes (its progress says it is staging).
    let staging = client.wait_for::<lsp_types::notification::Progress>(Duration::from_secs(60), |p| {
        serde_json::to_value(p).unwrap()["value"]["message"].as_str().is_some_and(|m| m.starts_with("Staging"))
    });
    let staging = staging.unwrap_or_else(|| panic!("a Staging progress report:\n{}", client.dump()));
    let staging = serde_json::to_value(staging).unwrap();
    assert_eq!(staging["token"], "reload-1");
    assert_eq!(staging["value"]["message"], "Staging Bank.Fees on 3 nodes…");
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    let cancel_id = serde_json::to_value(&id).unwrap();
    client.notify::<lsp_types::notification::Cancel>(
        serde_json::from_value(json!({"id": cancel_id})).expect("CancelParams"),
    );
    let resp = client.wait_response(&id, Duration::from_secs(5)).expect("an answer to the cancelled reload");
    let took = sent.elapsed();
    println!("cancel answered in {took:?}");
    let err = resp.error.expect("an error");
    assert_eq!(err.code, -32800, "{err:?}");
    assert!(took < Duration::from_millis(100), "RequestCancelled took {took:?}");
    let ended = client.wait_for::<lsp_types::notification::Progress>(Duration::from_secs(5), |p| {
        let v = serde_json::to_value(p).unwrap();
        v["token"] == "reload-1" && v["value"]["kind"] == "end"
    });
    assert_eq!(serde_json::to_value(ended.expect("progress ends")).unwrap()["value"]["message"], "cancelled");
    // The frozen node answers; the reload is abandoned before loading: every stage ended, nothing loaded.
    cluster.nodes[2].thaw();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut left: Vec<String>;
    loop {
        left = (0..3).map(|i| stages(&cluster, i)).collect();
        if left.iter().all(|s| s == "0") || Instant::now() > deadline {
            break;
        }
        client.pump(Duration::from_millis(300));
    }
    assert!(left.iter().all(|s| s == "0"), "stages left on the nodes: {left:?}");
    assert_eq!(md5s(&cluster, 3), before, "nothing loaded");
    // The server still answers, and a late answer to the cancelled request never comes.
    let status = client.request_raw("orbit/clusterStatus", Value::Null).unwrap();
    assert_eq!(status["connected"], true);
    assert!(client.wait_response(&id, Duration::from_millis(500)).is_none(), "one answer per request");

    // --- A node that goes away mid-request: an answer, no hang. ---
    cluster.nodes[2].freeze();
    let id = client.send_request("workspace/executeCommand", json!({"command": "orbit.drift", "arguments": [{}]}));
    std::thread::sleep(Duration::from_millis(500));
    cluster.nodes[2].kill();
    let resp = client.wait_response(&id, Duration::from_secs(90)).expect("an answer after the node went away");
    if let Some(e) = resp.error {
        assert_eq!(e.code, lsp_server::ErrorCode::InternalError as i32, "{e:?}");
    }
    let status = client.request_raw("orbit/clusterStatus", Value::Null).unwrap();
    assert!(status.get("status").is_some());

    client.stop();
    let _ = std::fs::remove_dir_all(&proj);
}

/// Processes with trace flags, whether `Bank.Fees.fee_for/1` has a trace pattern, and how many trace
/// sessions of Orbit's tracer (OTP 27+: it traces in a session of its own) there are on node `i`.
fn tracing_left(cluster: &TestCluster, i: usize) -> String {
    cluster
        .eval(
            i,
            &format!(
                "{{length([P || P <- processes(), {{flags, F}} <- [erlang:trace_info(P, flags)], F =/= []]), \
                 erlang:trace_info({{{FEES}, fee_for, 1}}, traced), \
                 case code:ensure_loaded(trace) of \
                     {{module, trace}} -> length([S || {{orbit_trace, _}} = S <- trace:session_info(all)]); \
                     _ -> 0 \
                 end}}."
            ),
        )
        .unwrap_or_else(|e| format!("error: {e}"))
}

#[test]
fn a_cancelled_trace_leaves_no_trace_on_the_nodes() {
    let cluster = TestCluster::demo(2);
    for i in 0..2 {
        cluster.eval(i, &format!("code:ensure_loaded({FEES}).")).expect("load");
    }
    let clean: Vec<String> = (0..2).map(|i| tracing_left(&cluster, i)).collect();
    assert!(clean.iter().all(|s| s == "{0, {traced, false}, 0}"), "traced before the test: {clean:?}");
    let client =
        Client::start(json!({"nodes": [cluster.name(0)], "cookie": cluster.cookie, "refreshIntervalMs": 500}), None);
    client.wait_for::<ShowMessage>(WAIT, |m| m.message.contains("connected")).expect("connects");
    // Both nodes seen (the health object lists them) before one is frozen.
    let deadline = Instant::now() + WAIT;
    loop {
        let status = client.request_raw("orbit/clusterStatus", Value::Null).unwrap();
        if status["nodes"].as_array().map(Vec::len) == Some(2) {
            break;
        }
        assert!(Instant::now() < deadline, "the server never saw both nodes: {status}");
        client.pump(Duration::from_millis(200));
    }

    // Node 1 is frozen: the trace waits on it; it is cancelled meanwhile.
    cluster.nodes[1].freeze();
    let id = client.send_request(
        "workspace/executeCommand",
        json!({"command": "orbit.trace.start", "arguments": [{"pattern": "Bank.Fees.fee_for/1"}], "workDoneToken": "trace-1"}),
    );
    let setting = client.wait_for::<lsp_types::notification::Progress>(Duration::from_secs(30), |p| {
        serde_json::to_value(p).unwrap()["value"]["message"].as_str().is_some_and(|m| m.starts_with("Setting trace"))
    });
    assert!(setting.is_some(), "a progress report before the trace starts:\n{}", client.dump());
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    client.notify::<lsp_types::notification::Cancel>(
        serde_json::from_value(json!({"id": serde_json::to_value(&id).unwrap()})).expect("CancelParams"),
    );
    let resp = client.wait_response(&id, Duration::from_secs(5)).expect("an answer to the cancelled trace");
    let took = sent.elapsed();
    assert_eq!(resp.error.as_ref().map(|e| e.code), Some(-32800), "{resp:?}");
    assert!(took < Duration::from_millis(100), "RequestCancelled took {took:?}");
    cluster.nodes[1].thaw();

    // Whatever the trace had set up when the node answered is removed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut left: Vec<String>;
    loop {
        left = (0..2).map(|i| tracing_left(&cluster, i)).collect();
        if left == clean || Instant::now() > deadline {
            break;
        }
        client.pump(Duration::from_millis(300));
    }
    assert_eq!(left, clean, "trace flags or patterns left on the nodes");
    // Still clean once the abandoned start has surely finished on the thawed node.
    client.pump(Duration::from_secs(2));
    let later: Vec<String> = (0..2).map(|i| tracing_left(&cluster, i)).collect();
    assert_eq!(later, clean, "trace flags or patterns left on the nodes");
    // And the server keeps no trace either.
    let stop = client
        .request_raw("workspace/executeCommand", json!({"command": "orbit.trace.stop", "arguments": [{}]}))
        .unwrap();
    assert_eq!(stop["stopped"], false, "{stop}");
    client.stop();
}
