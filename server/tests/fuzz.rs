//! Fuzzing the JSON-RPC input, as the DAP codec is fuzzed (adapter/tests/codec.rs): the framing never
//! panics or hangs on any bytes, and the whole server, fed random params for every method it knows, keeps
//! answering.

mod support;

use lsp_server::{Message, Notification};
use orbit_server::transport::{read_frame, Frame};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use std::io::BufReader;
use std::time::Duration;
use support::Client;

/// Reads every frame of `bytes`; the number of frames is bounded by the input (no endless loop).
fn read_all(bytes: &[u8]) -> Vec<Frame> {
    let mut r = BufReader::with_capacity(64, bytes);
    let mut out = Vec::new();
    loop {
        match read_frame(&mut r) {
            Frame::End => return out,
            f => {
                out.push(f);
                assert!(out.len() <= bytes.len() + 1, "more frames than bytes");
            }
        }
    }
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut v = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    v.extend_from_slice(body);
    v
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("file:///tmp/x.ex")),
        Just(json!({"line": 0, "character": 0})),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("textDocument".to_string()),
                    Just("uri".to_string()),
                    Just("position".to_string()),
                    Just("range".to_string()),
                    Just("command".to_string()),
                    Just("arguments".to_string()),
                    Just("contentChanges".to_string()),
                    Just("id".to_string()),
                    Just("token".to_string()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        read_all(&bytes);
    }

    #[test]
    fn header_like_noise_never_panics(
        parts in prop::collection::vec(
            prop_oneof![
                Just(b"Content-Length: ".to_vec()),
                Just(b"content-length:".to_vec()),
                Just(b"Content-Type: application/vscode-jsonrpc; charset=utf-8".to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"\r\n\r\n".to_vec()),
                Just(b"\n".to_vec()),
                Just(b":".to_vec()),
                "[0-9]{1,25}".prop_map(String::into_bytes),
                Just(b"{}".to_vec()),
                Just(br#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#.to_vec()),
                Just(vec![0xff, 0xfe, 0x00]),
                prop::collection::vec(any::<u8>(), 0..16),
            ],
            0..40,
        ),
    ) {
        read_all(&parts.concat());
    }

    #[test]
    fn a_good_frame_after_a_bad_body_is_read(body in prop::collection::vec(any::<u8>(), 0..256)) {
        // Whatever the body of a well-framed message, the next frame is still found.
        let good = br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let input = [framed(&body), framed(good)].concat();
        let frames = read_all(&input);
        let last_is_good = matches!(
            frames.last(),
            Some(Frame::Message(Message::Notification(n))) if n.method == "initialized"
        );
        prop_assert!(last_is_good, "{:?}", frames);
    }

    #[test]
    fn any_json_value_gets_a_frame_not_a_panic(v in json_value()) {
        let frames = read_all(&framed(v.to_string().as_bytes()));
        prop_assert_eq!(frames.len(), 1);
    }
}

const REQUESTS: &[&str] = &[
    "textDocument/hover",
    "textDocument/codeLens",
    "textDocument/codeAction",
    "workspace/executeCommand",
    "orbit/clusterStatus",
    "orbit/nope",
];
const NOTIFICATIONS: &[&str] = &[
    "textDocument/didOpen",
    "textDocument/didChange",
    "textDocument/didSave",
    "textDocument/didClose",
    "workspace/didChangeConfiguration",
    "$/cancelRequest",
    "window/workDoneProgress/cancel",
    "$/setTrace",
];

#[test]
fn the_server_keeps_answering_whatever_the_params() {
    let client = Client::start(json!({"nodes": []}), None);
    let mut runner = TestRunner::new(Config { cases: 300, failure_persistence: None, ..Config::default() });
    let strategy = (0..REQUESTS.len() + NOTIFICATIONS.len(), json_value());
    runner
        .run(&strategy, |(which, params)| {
            if which < REQUESTS.len() {
                // Any answer (result or error) within the bound; a panic would end the server.
                let _ = client.request_with_timeout(REQUESTS[which], params, Duration::from_secs(10));
            } else {
                let method = NOTIFICATIONS[which - REQUESTS.len()];
                client.send(Message::Notification(Notification::new(method.into(), params)));
            }
            Ok(())
        })
        .unwrap();
    // Still alive and answering.
    let status = client.request_with_timeout("orbit/clusterStatus", Value::Null, Duration::from_secs(10)).unwrap();
    assert_eq!(status["connected"], false);
    client.stop();
}

/// Source-like text: Elixir and Erlang tokens, odd characters (NUL, a lone surrogate's replacement,
/// astral, combining), and newlines of every kind.
fn source_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("defmodule A.B do\n".to_string()),
        Just("-module(m).\n".to_string()),
        Just("-export([f/1]).\n".to_string()),
        Just("f(X) -> X.\n".to_string()),
        Just("  def f(a), do: a\n".to_string()),
        Just("  def g(a) when a > 1 do\n".to_string()),
        Just("use GenServer\n".to_string()),
        Just("end\n".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("\"".to_string()),
        Just("\r\n".to_string()),
        Just("\r".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{fffd}".to_string()),
        Just("😀".to_string()),
        Just("e\u{301}".to_string()),
        "[a-zA-Z_.:]{1,8}",
    ];
    prop::collection::vec(token, 0..60).prop_map(|t| t.concat())
}

#[test]
fn the_server_keeps_answering_whatever_the_documents_and_positions() {
    let client = Client::start(json!({"nodes": []}), None);
    let mut runner = TestRunner::new(Config { cases: 200, failure_persistence: None, ..Config::default() });
    let strategy = (
        prop_oneof![Just("/tmp/orbit-fuzz.ex"), Just("/tmp/orbit-fuzz.erl"), Just("/tmp/orbit-fuzz.exs")],
        source_text(),
        source_text(),
        (0u32..80, 0u32..200),
        (0u32..80, 0u32..200),
    );
    let version = std::cell::Cell::new(0);
    runner
        .run(&strategy, |(path, text, change, (l1, c1), (l2, c2))| {
            version.set(version.get() + 2);
            let version = version.get();
            let uri = support::uri(std::path::Path::new(path));
            let doc = json!({"uri": uri, "languageId": "elixir", "version": version, "text": text});
            client.send(Message::Notification(Notification::new(
                "textDocument/didOpen".into(),
                json!({"textDocument": doc}),
            )));
            let id = json!({"uri": uri});
            let pos = json!({"line": l1, "character": c1});
            let range = json!({"start": pos, "end": {"line": l2, "character": c2}});
            let limit = Duration::from_secs(30);
            let _ =
                client.request_with_timeout("textDocument/hover", json!({"textDocument": id, "position": pos}), limit);
            client.send(Message::Notification(Notification::new(
                "textDocument/didChange".into(),
                json!({"textDocument": {"uri": uri, "version": version + 1}, "contentChanges": [{"text": change}]}),
            )));
            let _ = client.request_with_timeout("textDocument/codeLens", json!({"textDocument": id}), limit);
            let action = json!({"textDocument": id, "range": range, "context": {"diagnostics": []}});
            let _ = client.request_with_timeout("textDocument/codeAction", action, limit);
            let _ = client.request_with_timeout(
                "textDocument/hover",
                json!({"textDocument": id, "position": range["end"]}),
                limit,
            );
            Ok(())
        })
        .unwrap();
    let status = client.request_with_timeout("orbit/clusterStatus", Value::Null, Duration::from_secs(10)).unwrap();
    assert_eq!(status["connected"], false);
    client.stop();
}
