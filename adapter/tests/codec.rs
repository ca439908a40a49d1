//! Tests of the DAP Content-Length codec: unit tests of framing and recovery, and property tests
//! (random bytes, wrong lengths, invalid JSON, huge headers, messages split at every byte
//! boundary) that check the decoder never panics, always makes progress, and round-trips valid
//! messages.

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use orbit_adapter::codec::{encode_message, CodecError, DapCodec, Decoded, MessageError, MAX_HEADER_LENGTH};
use orbit_adapter::protocol::{
    Event, OutputCategory, OutputEventBody, ProtocolMessage, Request, Response, StoppedEventBody, StoppedReason,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use tokio_util::codec::{Decoder, Encoder, FramedRead, FramedWrite};

/// A comparable view of one decoded item: the message, or the error variant's name.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Msg(ProtocolMessage),
    Err(&'static str),
}

fn item(decoded: Decoded) -> Item {
    match decoded {
        Ok(m) => Item::Msg(m),
        Err(e) => Item::Err(match e {
            MessageError::MissingContentLength => "missing",
            MessageError::InvalidContentLength(_) => "invalid-length",
            MessageError::ContentTooLarge { .. } => "too-large",
            MessageError::HeaderTooLong { .. } => "header-too-long",
            MessageError::Truncated { .. } => "truncated",
            MessageError::InvalidUtf8(_) => "utf8",
            MessageError::InvalidJson(_) => "json",
            MessageError::InvalidMessage { .. } => "message",
        }),
    }
}

/// Feeds `chunks` one after the other into a fresh codec, decoding after each, then signals the
/// end of the stream. Fails if the decoder yields more items than could possibly exist (which
/// would mean it stopped making progress).
fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Item> {
    let mut codec = DapCodec::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut total = 0usize;
    for chunk in chunks {
        total += chunk.len();
        buf.extend_from_slice(chunk);
        while let Some(decoded) = codec.decode(&mut buf).expect("decode never fails fatally") {
            out.push(item(decoded));
            assert!(out.len() <= total + 1, "the decoder is not making progress");
        }
    }
    while let Some(decoded) = codec.decode_eof(&mut buf).expect("decode_eof never fails fatally") {
        out.push(item(decoded));
        assert!(out.len() <= total + 2, "the decoder is not making progress at EOF");
    }
    assert!(buf.is_empty(), "decode_eof leaves nothing behind");
    out
}

fn decode_all(bytes: &[u8]) -> Vec<Item> {
    decode_chunks([bytes])
}

fn frame(body: &str) -> Vec<u8> {
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

fn encode(message: &ProtocolMessage) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_message(message, &mut buf).unwrap();
    buf.to_vec()
}

fn request(seq: i64, command: &str, arguments: Value) -> ProtocolMessage {
    ProtocolMessage::Request(Request::new(seq, command, arguments))
}

fn msg(seq: i64) -> ProtocolMessage {
    request(seq, "threads", Value::Null)
}

const THREADS_1: &str = r#"{"seq":1,"type":"request","command":"threads"}"#;

// ------------------------------------------------------------------------------------------------
// Framing

#[test]
fn decodes_the_spec_example() {
    let body = "{\r\n    \"seq\": 153,\r\n    \"type\": \"request\",\r\n    \"command\": \"next\",\r\n    \"arguments\": {\r\n        \"threadId\": 3\r\n    }\r\n}";
    let bytes = format!("Content-Length: 119\r\n\r\n{body}");
    assert_eq!(decode_all(bytes.as_bytes()), [Item::Msg(request(153, "next", json!({"threadId": 3})))]);
}

#[test]
fn content_length_counts_bytes_not_characters() {
    let body = OutputEventBody {
        category: Some(OutputCategory::Stdout),
        output: "héllo wörld → 🚀 日本語\n".into(),
        ..Default::default()
    };
    let message = ProtocolMessage::Event(Event::from_body(7, &body).unwrap());
    let bytes = encode(&message);
    let text = String::from_utf8(bytes.clone()).unwrap();
    let (header, json) = text.split_once("\r\n\r\n").unwrap();
    assert_eq!(header, format!("Content-Length: {}", json.len()));
    assert!(json.len() > json.chars().count(), "the body has multi-byte characters");
    assert_eq!(decode_all(&bytes), [Item::Msg(message)]);
}

#[test]
fn header_names_are_case_insensitive_and_other_headers_ignored() {
    let body = THREADS_1;
    let variants = [
        format!("content-length: {}\r\n\r\n{body}", body.len()),
        format!("CONTENT-LENGTH:{}\r\n\r\n{body}", body.len()),
        format!(
            "Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        format!("Content-Length: {}\r\nX-Whatever: 12\r\n\r\n{body}", body.len()),
        format!("Content-Length:   {}  \r\n\r\n{body}", body.len()),
        format!("Content-Length: {}\n\n{body}", body.len()),
        format!("\r\n\r\nContent-Length: {}\r\n\r\n{body}\r\n", body.len()),
        format!("Content-Length: {0}\r\nContent-Length: {0}\r\n\r\n{body}", body.len()),
    ];
    for bytes in variants {
        assert_eq!(decode_all(bytes.as_bytes()), [Item::Msg(msg(1))], "{bytes:?}");
    }
}

#[test]
fn several_messages_in_one_buffer() {
    let mut bytes = Vec::new();
    for seq in 1..=5 {
        bytes.extend(encode(&msg(seq)));
    }
    assert_eq!(decode_all(&bytes), (1..=5).map(|s| Item::Msg(msg(s))).collect::<Vec<_>>());
}

// ------------------------------------------------------------------------------------------------
// Recovery

#[test]
fn header_without_content_length_is_reported_then_skipped() {
    let mut bytes = b"Content-Type: text/plain\r\n\r\n{\"seq\":9}".to_vec();
    bytes.extend(frame(THREADS_1));
    assert_eq!(decode_all(&bytes), [Item::Err("missing"), Item::Msg(msg(1))]);
}

#[test]
fn garbage_before_a_header_is_skipped() {
    let mut bytes = b"hello there!".to_vec();
    bytes.extend(frame(THREADS_1));
    assert_eq!(decode_all(&bytes), [Item::Err("missing"), Item::Msg(msg(1))]);
    // A body whose length was too short leaves garbage glued to the next header.
    let mut bytes = b"Content-Length: 3\r\n\r\n{\"seq\":1}".to_vec();
    bytes.extend(frame(THREADS_1));
    assert_eq!(decode_all(&bytes), [Item::Err("json"), Item::Err("missing"), Item::Msg(msg(1))]);
}

#[test]
fn non_numeric_length_is_reported_then_skipped() {
    for value in ["abc", "-5", "+5", "5 5", "0x10", "", "5.0"] {
        let mut bytes = format!("Content-Length: {value}\r\n\r\n{{\"seq\":1}}").into_bytes();
        bytes.extend(frame(THREADS_1));
        assert_eq!(decode_all(&bytes), [Item::Err("invalid-length"), Item::Msg(msg(1))], "{value:?}");
    }
    let mut bytes = b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec();
    bytes.extend(frame(THREADS_1));
    assert_eq!(decode_all(&bytes), [Item::Err("invalid-length"), Item::Msg(msg(1))]);
}

#[test]
fn huge_length_is_reported_then_skipped() {
    for value in ["67108865", "99999999999999999999999999999999"] {
        let mut bytes = format!("Content-Length: {value}\r\n\r\n{{\"seq\":1}}").into_bytes();
        bytes.extend(frame(THREADS_1));
        assert_eq!(decode_all(&bytes), [Item::Err("too-large"), Item::Msg(msg(1))], "{value}");
    }
    let mut codec = DapCodec::with_max_content_length(10);
    let mut buf = BytesMut::from(&frame(THREADS_1)[..]);
    let error = codec.decode(&mut buf).unwrap().unwrap().unwrap_err();
    assert!(matches!(error, MessageError::ContentTooLarge { length, limit: 10 } if length == THREADS_1.len() as u64));
}

#[test]
fn endless_header_is_reported_then_skipped() {
    let mut bytes = vec![b'x'; MAX_HEADER_LENGTH * 3];
    bytes.extend(frame(THREADS_1));
    assert_eq!(decode_all(&bytes), [Item::Err("header-too-long"), Item::Msg(msg(1))]);
    // One endless header line that does start like a Content-Length.
    let mut bytes = b"Content-Length: 12".to_vec();
    bytes.extend(vec![b' '; MAX_HEADER_LENGTH * 2]);
    bytes.extend(frame(THREADS_1));
    assert_eq!(decode_all(&bytes), [Item::Err("header-too-long"), Item::Msg(msg(1))]);
}

#[test]
fn bad_bodies_are_reported_without_losing_sync() {
    let mut bytes = Vec::new();
    bytes.extend(b"Content-Length: 4\r\n\r\n\xff\xfe\xfd\xfc");
    bytes.extend(frame("{not json"));
    bytes.extend(frame("[1,2,3]"));
    bytes.extend(frame(r#"{"seq":5,"type":"request"}"#));
    bytes.extend(frame(r#"{"seq":6,"type":"bogus","command":"x"}"#));
    bytes.extend(frame(""));
    bytes.extend(frame(THREADS_1));
    assert_eq!(
        decode_all(&bytes),
        [
            Item::Err("utf8"),
            Item::Err("json"),
            Item::Err("message"),
            Item::Err("message"),
            Item::Err("message"),
            Item::Err("json"),
            Item::Msg(msg(1)),
        ]
    );
}

#[test]
fn invalid_requests_keep_what_is_needed_to_answer_them() {
    let mut codec = DapCodec::new();
    let mut buf = BytesMut::from(&frame(r#"{"seq":5,"type":"request","command":7}"#)[..]);
    let error = codec.decode(&mut buf).unwrap().unwrap().unwrap_err();
    assert_eq!(error.request(), Some((5, None)));
    assert!(!error.lost_framing());

    let mut buf = BytesMut::from(&frame(r#"{"seq":6,"type":"request","command":"evaluate","arguments":7,"x":[}"#)[..]);
    let error = codec.decode(&mut buf).unwrap().unwrap().unwrap_err();
    assert_eq!(error.request(), None, "not JSON: nothing to answer");

    let mut buf = BytesMut::from(&frame(r#"{"seq":"7","type":"request","command":"evaluate"}"#)[..]);
    let error = codec.decode(&mut buf).unwrap().unwrap().unwrap_err();
    assert_eq!(error.request(), None, "no integer seq to answer");

    let mut buf = BytesMut::from(&frame(r#"{"seq":8,"type":"response","command":"x"}"#)[..]);
    let error = codec.decode(&mut buf).unwrap().unwrap().unwrap_err();
    assert_eq!(error.request(), None, "only requests are answered");
    assert!(error.to_string().contains("request_seq"), "{error}");
}

#[test]
fn truncated_stream_is_reported_once() {
    let mut bytes = frame(THREADS_1);
    bytes.truncate(bytes.len() - 3);
    assert_eq!(decode_all(&bytes), [Item::Err("truncated")]);
    assert_eq!(decode_all(b"Content-Len"), [Item::Err("truncated")]);
    assert_eq!(decode_all(b"\r\n\r\n"), []);
    assert_eq!(decode_all(b""), []);
}

// ------------------------------------------------------------------------------------------------
// With tokio's Framed adapters

#[tokio::test]
async fn framed_read_survives_bad_messages() {
    let mut bytes = b"garbage".to_vec();
    bytes.extend(frame("{oops"));
    bytes.extend(frame(THREADS_1));
    bytes.extend(b"Content-Length: nope\r\n\r\n");
    bytes.extend(encode(&msg(2)));
    let mut reader = FramedRead::new(&bytes[..], DapCodec::new());
    let mut items = Vec::new();
    while let Some(next) = reader.next().await {
        items.push(item(next.expect("no fatal error")));
    }
    assert_eq!(
        items,
        [Item::Err("missing"), Item::Err("json"), Item::Msg(msg(1)), Item::Err("invalid-length"), Item::Msg(msg(2))]
    );
}

#[tokio::test]
async fn framed_write_and_read_round_trip() {
    let (client, server) = tokio::io::duplex(64);
    let stopped = StoppedEventBody { reason: StoppedReason::Breakpoint, thread_id: Some(3), ..Default::default() };
    let request = Request::new(1, "initialize", json!({"adapterID": "orbit"}));
    let messages = vec![
        ProtocolMessage::Request(request.clone()),
        ProtocolMessage::Response(Response::success(1, &request, Some(json!({"supportsLogPoints": true})))),
        ProtocolMessage::Event(Event::from_body(2, &stopped).unwrap()),
        ProtocolMessage::Response(Response::error(3, &request, "nope")),
    ];
    let expected = messages.clone();
    let writer = tokio::spawn(async move {
        let mut sink = FramedWrite::new(client, DapCodec::new());
        for message in messages {
            // Each envelope converts into a ProtocolMessage, which carries its "type" tag.
            match message {
                ProtocolMessage::Request(r) => sink.send(r.into()).await?,
                ProtocolMessage::Response(r) => sink.send(r.into()).await?,
                ProtocolMessage::Event(e) => sink.send(e.into()).await?,
            }
        }
        sink.close().await?;
        Ok::<_, CodecError>(())
    });
    let mut reader = FramedRead::new(server, DapCodec::new());
    let mut got = Vec::new();
    while let Some(next) = reader.next().await {
        got.push(next.unwrap().unwrap());
    }
    writer.await.unwrap().unwrap();
    assert_eq!(got, expected);
}

#[test]
fn encoders_tag_the_envelope() {
    let mut codec = DapCodec::new();
    let mut buf = BytesMut::new();
    codec.encode(Event::new(1, "initialized", None).into(), &mut buf).unwrap();
    let text = String::from_utf8(buf.to_vec()).unwrap();
    let json: Value = serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(json, json!({"type": "event", "seq": 1, "event": "initialized"}));
}

// ------------------------------------------------------------------------------------------------
// Properties

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        ".{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn non_null_value() -> impl Strategy<Value = Value> {
    json_value().prop_map(|v| if v.is_null() { json!({}) } else { v })
}

fn message() -> impl Strategy<Value = ProtocolMessage> {
    prop_oneof![
        (any::<i64>(), "\\PC{0,16}", json_value())
            .prop_map(|(seq, command, arguments)| ProtocolMessage::Request(Request { seq, command, arguments })),
        (
            any::<i64>(),
            any::<i64>(),
            any::<bool>(),
            "[a-zA-Z]{0,12}",
            prop::option::of(".{0,20}"),
            prop::option::of(non_null_value())
        )
            .prop_map(|(seq, request_seq, success, command, message, body)| {
                ProtocolMessage::Response(Response { seq, request_seq, success, command, message, body })
            }),
        (any::<i64>(), "\\PC{0,16}", prop::option::of(non_null_value()))
            .prop_map(|(seq, event, body)| ProtocolMessage::Event(Event { seq, event, body })),
    ]
}

/// Splits `bytes` into chunks at the given (unsorted, possibly duplicate) cut points.
fn split_at_points(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        decode_all(&bytes);
    }

    #[test]
    fn header_like_noise_never_panics(
        parts in prop::collection::vec(
            prop_oneof![
                Just(b"Content-Length: ".to_vec()),
                Just(b"content-length:".to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"\r\n\r\n".to_vec()),
                Just(b"\n".to_vec()),
                Just(b":".to_vec()),
                "[0-9]{1,25}".prop_map(String::into_bytes),
                Just(b"{}".to_vec()),
                Just(THREADS_1.as_bytes().to_vec()),
                prop::collection::vec(any::<u8>(), 0..16),
            ],
            0..40,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let bytes = parts.concat();
        decode_all(&bytes);
        decode_chunks(split_at_points(&bytes, &cuts).iter().map(Vec::as_slice));
    }

    #[test]
    fn valid_messages_round_trip_however_they_are_split(
        messages in prop::collection::vec(message(), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let bytes: Vec<u8> = messages.iter().flat_map(encode).collect();
        let expected: Vec<Item> = messages.iter().cloned().map(Item::Msg).collect();
        prop_assert_eq!(&decode_all(&bytes), &expected);
        let chunks = split_at_points(&bytes, &cuts);
        prop_assert_eq!(&decode_chunks(chunks.iter().map(Vec::as_slice)), &expected);
    }

    #[test]
    fn split_at_every_byte_boundary(messages in prop::collection::vec(message(), 1..3)) {
        let bytes: Vec<u8> = messages.iter().flat_map(encode).collect();
        let expected: Vec<Item> = messages.iter().cloned().map(Item::Msg).collect();
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            prop_assert_eq!(&decode_chunks([a, b]), &expected, "cut at {}", cut);
        }
        // And one byte at a time.
        prop_assert_eq!(&decode_chunks(bytes.chunks(1)), &expected);
    }

    /// Garbage between messages (bytes that cannot form a `Content-Length` header) costs at most
    /// one error per run of garbage and never a valid message.
    #[test]
    fn garbage_between_messages_is_skipped(
        segments in prop::collection::vec(
            (message(), prop::collection::vec(any::<u8>().prop_filter("no c", |b| !b.eq_ignore_ascii_case(&b'c')), 0..64)),
            1..5,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut bytes = Vec::new();
        for (message, garbage) in &segments {
            bytes.extend(garbage);
            bytes.extend(encode(message));
        }
        for decoded in [decode_all(&bytes), decode_chunks(split_at_points(&bytes, &cuts).iter().map(Vec::as_slice))] {
            let messages: Vec<&ProtocolMessage> =
                decoded.iter().filter_map(|i| if let Item::Msg(m) = i { Some(m) } else { None }).collect();
            let expected: Vec<&ProtocolMessage> = segments.iter().map(|(m, _)| m).collect();
            prop_assert_eq!(messages, expected);
            let errors = decoded.iter().filter(|i| matches!(i, Item::Err(_))).count();
            prop_assert!(errors <= segments.len(), "{:?}", decoded);
        }
    }

    /// A well-framed body of any bytes is one item: the message or one error; the next message is
    /// always decoded.
    #[test]
    fn arbitrary_bodies_never_lose_sync(bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..128), 1..6)) {
        let mut bytes = Vec::new();
        for body in &bodies {
            bytes.extend(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            bytes.extend(body);
        }
        bytes.extend(frame(THREADS_1));
        let decoded = decode_all(&bytes);
        prop_assert_eq!(decoded.len(), bodies.len() + 1);
        prop_assert_eq!(decoded.last(), Some(&Item::Msg(msg(1))));
    }

    /// A wrong Content-Length never panics, and a message further on is found again unless the
    /// wrong length swallowed it.
    #[test]
    fn wrong_lengths_never_panic(
        first in message(),
        delta in -40i64..40,
        tail in prop::collection::vec(message(), 1..4),
    ) {
        let body = serde_json::to_vec(&first).unwrap();
        let length = (body.len() as i64 + delta).max(0);
        let mut bytes = format!("Content-Length: {length}\r\n\r\n").into_bytes();
        bytes.extend(&body);
        for message in &tail {
            bytes.extend(encode(message));
        }
        let decoded = decode_all(&bytes);
        if delta == 0 {
            prop_assert_eq!(decoded.first(), Some(&Item::Msg(first)));
        }
        if delta <= 0 {
            // A short length only damages the first message: the last one is always recovered.
            prop_assert_eq!(decoded.last(), Some(&Item::Msg(tail.last().unwrap().clone())));
        }
    }

    #[test]
    fn huge_headers_never_panic(
        line in prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..(3 * MAX_HEADER_LENGTH)),
    ) {
        let mut bytes = line;
        bytes.extend(b"\r\n\r\n");
        bytes.extend(frame(THREADS_1));
        let decoded = decode_all(&bytes);
        prop_assert_eq!(decoded.last(), Some(&Item::Msg(msg(1))));
    }
}
