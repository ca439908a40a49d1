//! The one ordered loop of a debug session: client requests, debugger events and the output of launched
//! nodes are handled one at a time, in arrival order.

use crate::codec::{DapCodec, MessageError};
use crate::protocol::{events::EventBody, Event, ProtocolMessage, Request, Response};
use crate::to_dap;
use beam::debugger::{Engine, EngineEvent, IntEngine, Raw};
use beam::launch::{LaunchedCluster, NodeOutput};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

/// State of one debug session.
pub(crate) struct Session<W: AsyncWrite + Unpin> {
    out: FramedWrite<W, DapCodec>,
    seq: i64,
    pub(crate) engine: Option<IntEngine>,
    pub(crate) launched: Option<LaunchedCluster>,
    pub(crate) launch_output: Option<mpsc::UnboundedReceiver<NodeOutput>>,
    /// Whether the client counts lines from 1 (the default) or 0.
    pub(crate) lines_from_one: bool,
    /// Events to send once the current response is out (e.g. `initialized` after `attach`).
    pub(crate) after_response: Vec<Event>,
    queued_engine_events: Vec<EngineEvent>,
    /// Until when the loop polls instead of sleeping (see [`RESUMED_SPIN`]).
    spin_until: Option<std::time::Instant>,
    pub(crate) done: bool,
}

/// How long the loop keeps polling, instead of sleeping, after a thread was resumed. A step, or a
/// continue onto a breakpoint in a loop or a busy server, stops again within tenths of a millisecond,
/// and a loop asleep in the kernel takes about as long again to be woken by the answer (longer on a
/// virtual machine, whose idle CPU must be woken first). The BEAM's schedulers wait the same way before
/// they sleep, and the same way give the CPU up to anything else ready to run on each turn, so that the
/// wait costs nothing on a busy machine (measured: docs/benchmarks.md). At most this much CPU time per
/// resume, then the loop sleeps as before.
const RESUMED_SPIN: std::time::Duration = std::time::Duration::from_millis(1);

impl<W: AsyncWrite + Unpin> Session<W> {
    fn new(writer: W) -> Self {
        Session {
            out: FramedWrite::new(writer, DapCodec::new()),
            seq: 1,
            engine: None,
            launched: None,
            launch_output: None,
            lines_from_one: true,
            after_response: Vec::new(),
            queued_engine_events: Vec::new(),
            spin_until: None,
            done: false,
        }
    }

    fn next_seq(&mut self) -> i64 {
        let s = self.seq;
        self.seq += 1;
        s
    }

    async fn send(&mut self, msg: ProtocolMessage) {
        if let Err(e) = self.out.send(msg).await {
            tracing::warn!("cannot write to the client: {e}");
            self.done = true;
        }
    }

    pub(crate) async fn event<B: EventBody>(&mut self, body: &B) {
        let seq = self.next_seq();
        match Event::from_body(seq, body) {
            Ok(e) => self.send(e.into()).await,
            Err(e) => tracing::warn!("cannot encode an event: {e}"),
        }
    }

    /// An event to send after the response being prepared.
    pub(crate) fn event_after<B: EventBody>(&mut self, body: &B) {
        if let Ok(e) = Event::from_body(0, body) {
            self.after_response.push(e);
        }
    }

    /// Engine events that answering a request produced, to send after its response.
    pub(crate) fn pending_engine_events(&mut self, events: Vec<EngineEvent>) {
        self.queued_engine_events.extend(events);
    }

    pub(crate) async fn console(&mut self, text: &str) {
        let body = to_dap::output(beam::debugger::OutputCategory::Console, text);
        self.event(&body).await;
    }

    async fn respond(&mut self, req: &Request, result: Result<Option<serde_json::Value>, String>) {
        let seq = self.next_seq();
        let response = match result {
            Ok(body) => Response::success(seq, req, body),
            Err(message) => Response::error(seq, req, message),
        };
        self.send(response.into()).await;
        for mut e in std::mem::take(&mut self.after_response) {
            e.seq = self.next_seq();
            self.send(e.into()).await;
        }
        let mut queued = std::mem::take(&mut self.queued_engine_events);
        queued.extend(self.engine.as_mut().map(|e| e.drain_events()).unwrap_or_default());
        self.engine_events(queued).await;
    }

    async fn bad_message(&mut self, e: MessageError) {
        tracing::warn!("bad DAP message: {e}");
        if let Some((request_seq, command)) = e.request() {
            let seq = self.next_seq();
            let r = Response::error_for(seq, request_seq, command.unwrap_or_default(), e.to_string());
            self.send(r.into()).await;
        } else {
            self.console(&format!("orbit: ignored a malformed message from the client: {e}")).await;
        }
    }

    pub(crate) async fn engine_events(&mut self, events: Vec<EngineEvent>) {
        for e in events {
            match e {
                EngineEvent::Stopped { thread, reason, description, text, breakpoints } => {
                    let body = to_dap::stopped(thread, reason, &description, &text, &breakpoints);
                    self.event(&body).await;
                }
                EngineEvent::Continued { thread } => {
                    let body =
                        crate::protocol::ContinuedEventBody { thread_id: thread, all_threads_continued: Some(false) };
                    self.event(&body).await;
                }
                EngineEvent::ThreadStarted { thread } => {
                    let body = crate::protocol::ThreadEventBody { reason: "started".into(), thread_id: thread };
                    self.event(&body).await;
                }
                EngineEvent::ThreadExited { thread } => {
                    let body = crate::protocol::ThreadEventBody { reason: "exited".into(), thread_id: thread };
                    self.event(&body).await;
                }
                EngineEvent::Output { category, text } => {
                    let body = to_dap::output(category, &text);
                    self.event(&body).await;
                }
                EngineEvent::Breakpoint(b) => {
                    let body = crate::protocol::BreakpointEventBody {
                        reason: "changed".into(),
                        breakpoint: to_dap::breakpoint(&b),
                    };
                    self.event(&body).await;
                }
                EngineEvent::Terminated { reason } => {
                    let body = to_dap::output(beam::debugger::OutputCategory::Important, &reason);
                    self.event(&body).await;
                    self.finish().await;
                    let body = crate::protocol::TerminatedEventBody::default();
                    self.event(&body).await;
                }
            }
        }
    }

    /// Undoes everything on the nodes, stops launched nodes, and closes the cluster connection.
    pub(crate) async fn finish(&mut self) {
        if let Some(mut engine) = self.engine.take() {
            for note in engine.end().await {
                self.console(&note).await;
            }
            engine.cluster().clone().disconnect().await;
        }
        if let Some(mut nodes) = self.launched.take() {
            nodes.stop().await;
        }
    }
}

/// While `until` is ahead: ready at once, after giving the CPU to any other thread ready to run
/// (`sched_yield`) and letting the runtime poll its sockets without sleeping; then never again.
async fn spin(until: &mut Option<std::time::Instant>) {
    match *until {
        Some(t) if std::time::Instant::now() < t => {
            std::thread::yield_now();
            tokio::task::yield_now().await
        }
        Some(_) => {
            *until = None;
            std::future::pending().await
        }
        None => std::future::pending().await,
    }
}

async fn next_raw(engine: &mut Option<IntEngine>) -> Option<Raw> {
    match engine {
        Some(e) => e.next_raw().await,
        None => std::future::pending().await,
    }
}

async fn next_output(rx: &mut Option<mpsc::UnboundedReceiver<NodeOutput>>) -> Option<NodeOutput> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs one session until the client disconnects or the stream ends. Whatever happens, the nodes are left
/// as they were (breakpoints removed, processes resumed, modules native again) and launched nodes stopped.
pub async fn run<R, W>(reader: R, writer: W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut input = FramedRead::new(reader, DapCodec::new());
    let mut s = Session::new(writer);
    let mut io_error = None;
    while !s.done {
        tokio::select! {
            item = input.next() => match item {
                None => break,
                Some(Err(e)) => {
                    io_error = Some(std::io::Error::other(e.to_string()));
                    break;
                }
                Some(Ok(Ok(ProtocolMessage::Request(req)))) => {
                    let result = s.dispatch(&req).await;
                    if result.is_ok() && matches!(req.command.as_str(), "continue" | "next" | "stepIn" | "stepOut") {
                        s.spin_until = Some(std::time::Instant::now() + RESUMED_SPIN);
                        // The command to the node first (the link's writer is another task of this
                        // thread), the response to the client after: the node works while it is written.
                        tokio::task::yield_now().await;
                    }
                    s.respond(&req, result).await;
                }
                Some(Ok(Ok(_))) => {}
                Some(Ok(Err(e))) => s.bad_message(e).await,
            },
            raw = next_raw(&mut s.engine) => {
                if let (Some(raw), Some(engine)) = (raw, s.engine.as_mut()) {
                    let events = engine.handle_raw(raw).await;
                    s.engine_events(events).await;
                }
            }
            line = next_output(&mut s.launch_output) => match line {
                Some(line) => {
                    let category = if line.stderr { beam::debugger::OutputCategory::Stderr } else { beam::debugger::OutputCategory::Stdout };
                    let body = to_dap::output(category, &format!("[{}] {}", line.node, line.line));
                    s.event(&body).await;
                }
                None => s.launch_output = None,
            },
            () = spin(&mut s.spin_until) => {}
        }
    }
    s.finish().await;
    match io_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
