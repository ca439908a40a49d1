//! Content-Length framing over stdio, like `lsp_server::Connection::stdio`, but a malformed message is
//! answered (JSON-RPC `-32700` parse error / `-32600` invalid request) and skipped instead of ending the
//! connection.

use lsp_server::{Connection, Message};
use serde_json::{json, Value};
use std::io::{self, BufRead, Write};
use std::sync::{Arc, Mutex};
use std::thread;

/// Keeps the I/O threads; the reader ends with stdin, the writer when the connection is dropped.
pub struct IoThreads {
    _reader: thread::JoinHandle<()>,
    _writer: thread::JoinHandle<()>,
}

pub fn stdio() -> (Connection, IoThreads) {
    let out: Arc<Mutex<Box<dyn Write + Send>>> = Arc::new(Mutex::new(Box::new(io::stdout())));
    let (to_client, from_server) = crossbeam_channel::unbounded::<Message>();
    let (to_server, from_client) = crossbeam_channel::unbounded::<Message>();
    let writer_out = out.clone();
    let writer = thread::Builder::new()
        .name("orbit-lsp-writer".into())
        .spawn(move || {
            for msg in from_server {
                let Ok(mut w) = writer_out.lock() else { return };
                if msg.write(&mut *w).is_err() {
                    return;
                }
            }
        })
        .expect("spawn writer");
    let reader = thread::Builder::new()
        .name("orbit-lsp-reader".into())
        .spawn(move || {
            let stdin = io::stdin();
            let mut input = stdin.lock();
            read_loop(&mut input, &to_server, &out);
        })
        .expect("spawn reader");
    (Connection { sender: to_client, receiver: from_client }, IoThreads { _reader: reader, _writer: writer })
}

/// What one frame turned out to be.
#[derive(Debug)]
pub enum Frame {
    Message(Message),
    /// Not a message: answer this error (id `null` when none could be read).
    Bad(Value),
    End,
}

fn error(id: Value, code: i32, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Longest header line kept; the rest of a longer line is skipped (and makes the header malformed).
const MAX_HEADER_LINE: usize = 8 << 10;

/// One header line, at most [`MAX_HEADER_LINE`] bytes of it (the rest is read and dropped, so garbage
/// without a newline cannot grow memory). `None` at the end of the stream.
fn read_header_line(input: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let mut any = false;
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        if buf.is_empty() {
            return any.then_some(line);
        }
        any = true;
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let room = MAX_HEADER_LINE.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            // Too long: keep a marker so the header is reported malformed.
            line.truncate(MAX_HEADER_LINE.min(line.len()));
            line.push(0xff);
        }
        let n = chunk.len();
        input.consume(n);
        if done {
            return Some(line);
        }
    }
}

/// Reads the next frame; I/O errors end the stream.
pub fn read_frame(input: &mut impl BufRead) -> Frame {
    let mut length: Option<usize> = None;
    let mut bad_header = None;
    loop {
        let Some(raw) = read_header_line(input) else { return Frame::End };
        // Headers are ASCII; other bytes make a malformed header, not the end of the stream.
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if length.is_some() || bad_header.is_some() {
                break;
            }
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                match value.trim().parse::<usize>() {
                    Ok(n) if n <= 64 << 20 => length = Some(n),
                    _ => bad_header = Some(format!("bad Content-Length: {:?}", value.trim())),
                }
            }
            Some(_) => {}
            None => bad_header = Some(format!("malformed header: {line:?}")),
        }
    }
    let Some(n) = length else {
        return Frame::Bad(error(Value::Null, -32700, bad_header.unwrap_or_else(|| "no Content-Length".into())));
    };
    let mut body = vec![0; n];
    if input.read_exact(&mut body).is_err() {
        return Frame::End;
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return Frame::Bad(error(Value::Null, -32700, format!("parse error: {e}"))),
    };
    let id = value.get("id").filter(|i| i.is_string() || i.is_number()).cloned().unwrap_or(Value::Null);
    let shape_ok = match value.get("method") {
        Some(m) => m.is_string(),
        None => value.get("id").is_some() && (value.get("result").is_some() || value.get("error").is_some()),
    };
    if !value.is_object() || !shape_ok {
        return Frame::Bad(error(
            id,
            -32600,
            "invalid request: not a JSON-RPC request, notification or response".into(),
        ));
    }
    match serde_json::from_value::<Message>(value) {
        Ok(m) => Frame::Message(m),
        Err(e) => Frame::Bad(error(id, -32600, format!("invalid request: {e}"))),
    }
}

fn read_loop(
    input: &mut impl BufRead,
    to_server: &crossbeam_channel::Sender<Message>,
    out: &Arc<Mutex<Box<dyn Write + Send>>>,
) {
    loop {
        match read_frame(input) {
            Frame::Message(m) => {
                let exit = matches!(&m, Message::Notification(n) if n.method == "exit");
                if to_server.send(m).is_err() || exit {
                    return;
                }
            }
            Frame::Bad(err) => {
                tracing::warn!("bad message from the client: {err}");
                let text = err.to_string();
                if let Ok(mut w) = out.lock() {
                    let _ = write!(w, "Content-Length: {}\r\n\r\n{text}", text.len());
                    let _ = w.flush();
                }
            }
            Frame::End => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &str) -> Vec<Frame> {
        let mut r = io::BufReader::new(input.as_bytes());
        let mut out = Vec::new();
        loop {
            match read_frame(&mut r) {
                Frame::End => return out,
                f => out.push(f),
            }
        }
    }

    fn framed(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_reader_answers_garbage_and_passes_messages_on() {
        let input = [framed("]]"), framed(r#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#)].concat();
        let buf = Shared::default();
        let out: Arc<Mutex<Box<dyn Write + Send>>> = Arc::new(Mutex::new(Box::new(buf.clone())));
        let (tx, rx) = crossbeam_channel::unbounded();
        read_loop(&mut io::BufReader::new(input.as_bytes()), &tx, &out);
        let written = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(written.starts_with("Content-Length: "), "{written}");
        assert!(written.contains(r#""code":-32700"#), "{written}");
        assert!(matches!(rx.try_recv(), Ok(Message::Request(r)) if r.method == "shutdown"));
    }

    #[test]
    fn non_utf8_headers_and_bodies_are_answered_not_the_end() {
        let good = r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let mut input = b"Content-L\xffngth: 2\r\n\r\n".to_vec();
        input.extend_from_slice(b"Content-Length: 3\r\n\r\n\"\xff\"");
        input.extend_from_slice(&[b'x'; 20_000]);
        input.extend_from_slice(b"\r\n\r\n");
        input.extend_from_slice(framed(good).as_bytes());
        let mut r = io::BufReader::new(&input[..]);
        let mut out = Vec::new();
        loop {
            match read_frame(&mut r) {
                Frame::End => break,
                f => out.push(f),
            }
        }
        assert!(
            matches!(out.last(), Some(Frame::Message(Message::Notification(n))) if n.method == "initialized"),
            "{out:?}"
        );
        assert!(out.iter().any(|f| matches!(f, Frame::Bad(v) if v["error"]["code"] == -32700)), "{out:?}");
    }

    #[test]
    fn malformed_messages_are_answered_and_skipped() {
        let good = r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let input = [
            framed("{not json"),
            framed(r#"{"jsonrpc":"2.0","id":7,"method":5}"#),
            "Nonsense\r\n\r\n".to_string(),
            framed(good),
        ]
        .concat();
        let f = frames(&input);
        assert_eq!(f.len(), 4, "{f:?}");
        assert!(matches!(&f[0], Frame::Bad(v) if v["error"]["code"] == -32700 && v["id"].is_null()));
        assert!(matches!(&f[1], Frame::Bad(v) if v["error"]["code"] == -32600 && v["id"] == 7));
        assert!(matches!(&f[2], Frame::Bad(v) if v["error"]["code"] == -32700));
        assert!(matches!(&f[3], Frame::Message(Message::Notification(n)) if n.method == "initialized"));
    }
}
