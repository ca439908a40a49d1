//! An in-memory LSP client for the server (rust-analyzer "slow tests" style): the server's main loop runs
//! on a thread over `Connection::memory()`; the test sends typed requests and notifications and waits for
//! what the server says. Requests the server makes (configuration, progress, lens refresh) are answered.

#![allow(dead_code)]

use crossbeam_channel::RecvTimeoutError;
use lsp_server::{Connection, Message, Notification, Request, RequestId, Response, ResponseError};
use lsp_types::notification::Notification as _;
use lsp_types::{ClientCapabilities, InitializeParams, Uri};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Client {
    conn: Connection,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
    next_id: Cell<i32>,
    /// Notifications not yet looked at, oldest first.
    pub notifications: RefCell<VecDeque<Notification>>,
    /// Every notification, for assertions about what was (not) said.
    pub seen: RefCell<Vec<Notification>>,
    /// Every request the server made of the client (method names).
    pub server_requests: RefCell<Vec<String>>,
    /// What to answer `workspace/configuration` with.
    pub configuration: RefCell<Value>,
}

pub fn capabilities() -> ClientCapabilities {
    serde_json::from_value(json!({
        "window": {"workDoneProgress": true},
        "workspace": {"configuration": true, "codeLens": {"refreshSupport": true}},
    }))
    .unwrap()
}

impl Client {
    pub fn start(init_options: Value, root: Option<&Path>) -> Client {
        let (server, conn) = Connection::memory();
        let thread = std::thread::spawn(move || orbit_server::run(server, orbit_server::Settings::default()));
        let client = Client {
            conn,
            thread: Some(thread),
            next_id: Cell::new(0),
            notifications: RefCell::default(),
            seen: RefCell::default(),
            server_requests: RefCell::default(),
            configuration: RefCell::new(Value::Null),
        };
        #[allow(deprecated)]
        let params = InitializeParams {
            capabilities: capabilities(),
            initialization_options: Some(init_options),
            root_uri: root.map(uri),
            ..Default::default()
        };
        let init = client.request_raw("initialize", serde_json::to_value(params).unwrap()).expect("initialize");
        let init: lsp_types::InitializeResult = serde_json::from_value(init).expect("an InitializeResult");
        assert!(init.capabilities.code_lens_provider.is_some());
        client.notify::<lsp_types::notification::Initialized>(lsp_types::InitializedParams {});
        client
    }

    pub fn send(&self, msg: Message) {
        self.conn.sender.send(msg).expect("server alive");
    }

    pub fn notify<N: lsp_types::notification::Notification>(&self, params: N::Params) {
        self.send(Message::Notification(Notification::new(N::METHOD.into(), params)));
    }

    pub fn request<R: lsp_types::request::Request>(&self, params: R::Params) -> Result<R::Result, ResponseError> {
        let v = self.request_raw(R::METHOD, serde_json::to_value(params).unwrap())?;
        Ok(serde_json::from_value(v).expect("result shape"))
    }

    pub fn request_raw(&self, method: &str, params: Value) -> Result<Value, ResponseError> {
        self.request_with_timeout(method, params, Duration::from_secs(240))
    }

    pub fn request_with_timeout(&self, method: &str, params: Value, limit: Duration) -> Result<Value, ResponseError> {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let id = RequestId::from(id);
        self.send(Message::Request(Request::new(id.clone(), method.into(), params)));
        let deadline = Instant::now() + limit;
        loop {
            match self.recv(deadline) {
                Some(Message::Response(r)) if r.id == id => {
                    return match r.error {
                        Some(e) => Err(e),
                        None => Ok(r.result.unwrap_or(Value::Null)),
                    }
                }
                Some(_) => {}
                None => panic!("no answer to {method} within {limit:?}"),
            }
        }
    }

    /// The next message; requests from the server are answered here, notifications queued.
    fn recv(&self, deadline: Instant) -> Option<Message> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.conn.receiver.recv_timeout(left) {
            Ok(Message::Request(req)) => {
                self.server_requests.borrow_mut().push(req.method.clone());
                let result = match req.method.as_str() {
                    "workspace/configuration" => json!([self.configuration.borrow().clone()]),
                    _ => Value::Null,
                };
                self.send(Message::Response(Response::new_ok(req.id.clone(), result)));
                Some(Message::Request(req))
            }
            Ok(Message::Notification(n)) => {
                self.seen.borrow_mut().push(n.clone());
                self.notifications.borrow_mut().push_back(n.clone());
                Some(Message::Notification(n))
            }
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Sends a request without waiting for its answer; see [`Client::wait_response`].
    pub fn send_request(&self, method: &str, params: Value) -> RequestId {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let id = RequestId::from(id);
        self.send(Message::Request(Request::new(id.clone(), method.into(), params)));
        id
    }

    /// The response to `id`, if it comes within `limit` (notifications meanwhile are queued).
    pub fn wait_response(&self, id: &RequestId, limit: Duration) -> Option<Response> {
        let deadline = Instant::now() + limit;
        loop {
            match self.recv(deadline) {
                Some(Message::Response(r)) if &r.id == id => return Some(r),
                Some(_) => {}
                None if Instant::now() >= deadline => return None,
                None => {}
            }
        }
    }

    /// Waits for a notification `N` whose params satisfy `pred`; earlier ones are dropped from the queue.
    pub fn wait_for<N: lsp_types::notification::Notification>(
        &self,
        limit: Duration,
        mut pred: impl FnMut(&N::Params) -> bool,
    ) -> Option<N::Params> {
        let deadline = Instant::now() + limit;
        loop {
            while let Some(n) = self.notifications.borrow_mut().pop_front() {
                if n.method == N::METHOD {
                    if let Ok(p) = serde_json::from_value::<N::Params>(n.params) {
                        if pred(&p) {
                            return Some(p);
                        }
                    }
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            let _ = self.recv(deadline);
        }
    }

    /// Reads (and answers) everything the server sends for `d`.
    pub fn pump(&self, d: Duration) {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            let _ = self.recv(deadline);
        }
    }

    /// What the server said, for failure messages.
    pub fn dump(&self) -> String {
        self.seen.borrow().iter().map(|n| format!("{} {}", n.method, n.params)).collect::<Vec<_>>().join("\n")
    }

    pub fn show_messages(&self) -> Vec<String> {
        self.seen
            .borrow()
            .iter()
            .filter(|n| n.method == lsp_types::notification::ShowMessage::METHOD)
            .filter_map(|n| n.params.get("message").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    pub fn open(&self, path: &Path, text: &str) -> Uri {
        let lang = if path.extension().is_some_and(|e| e == "erl") { "erlang" } else { "elixir" };
        let u = uri(path);
        self.notify::<lsp_types::notification::DidOpenTextDocument>(lsp_types::DidOpenTextDocumentParams {
            text_document: lsp_types::TextDocumentItem {
                uri: u.clone(),
                language_id: lang.into(),
                version: 1,
                text: text.into(),
            },
        });
        u
    }

    /// Ends the session: shutdown, exit, and the server thread returns.
    pub fn stop(mut self) {
        let _ = self.request_with_timeout("shutdown", Value::Null, Duration::from_secs(30));
        self.notify::<lsp_types::notification::Exit>(());
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread did not panic").expect("server ended cleanly");
        }
    }
}

/// `file://` URI of a path, percent-encoded as clients send it (`café.ex` → `caf%C3%A9.ex`).
pub fn uri(path: &Path) -> Uri {
    orbit_server::main_loop::path_to_uri(path).expect("uri")
}
