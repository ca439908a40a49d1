//! The debugger engine on OTP's interpreter (`int`): the `IntEngine` itself, attaching to a cluster, the
//! raw event dispatch and the [`Engine`] implementation, which hands each request to the part that owns it.
//!
//! One `dbg_iserver` serves the whole cluster (it is a global name); Orbit talks to it directly from its
//! own pids: it subscribes to its events, attaches to processes that stop, and sends the interpreter's
//! meta processes their commands. Everything that reads a paused process runs on that process's node
//! through `orbit_dbg`, so only what the editor shows crosses the network. Interpretation is done node by
//! node (also on nodes that join later), and undone by `orbit_dbg:cleanup/2` — from here on disconnect,
//! or from each node's agent if Orbit vanishes.
//!
//! The parts, each owning its state (a field of [`IntEngine`]) and the engine's work on it:
//! - `modules`: which module comes from which file, their lines and functions, interpreting them;
//! - `breakpoints`: line and function breakpoints, their conditions, installing them in the server;
//! - `threads`: processes shown as threads, attaching to and detaching from them;
//! - `stops`: what the interpreter reports — a stop, a pass, a crash, a process leaving;
//! - `execution`: continue, step, pause (also `/pause` from the console); `profile`: `/profile` from the
//!   console (a cluster-wide profile whose table follows in the console);
//! - `step_into`: stepping into the process a call goes to, on any node;
//! - `frames`: stacks and scopes; `variables`: a frame's variables, values, setting a variable;
//! - `render`: values printed in the frame's language; `evaluate`: expressions from the console;
//! - `crashes`: the exception filters and crash reports; `membership`: nodes joining and leaving;
//! - `cleanup`: undoing everything on every node; `util`: small helpers.

mod breakpoints;
mod cleanup;
mod crashes;
mod evaluate;
mod execution;
mod frames;
mod holds;
mod membership;
mod modules;
mod native;
mod native_step;
mod profile;
mod render;
mod silence;
mod step_into;
mod stops;
mod threads;
mod tracepoints;
mod util;
mod variables;

use self::breakpoints::Breakpoints;
use self::crashes::ExceptionFilters;
use self::frames::Frames;
use self::holds::Holds;
use self::membership::ReadyNodes;
use self::modules::Modules;
use self::render::StructFields;
use self::silence::Silence;
use self::step_into::StepInto;
use self::threads::Threads;
use self::util::{no_debugger_text, ok_value, output, pid_of, rpc_err, text};
use super::breakpoints::LineBreakpoint;
use super::sources::SourceMap;
use super::{
    BreakpointStatus, DebugError, Engine, EngineEvent, FrameInfo, Resume, ScopeInfo, ThreadInfo, VariableInfo,
};
use crate::cluster::{Cluster, ClusterEvent, ClusterOptions};
use crate::link::{Cookie, Delivery, Mailbox, NodeName};
use crate::rpc;
use crate::term::{as_tuple, atom, is_atom, tuple};
use eetf::{Pid, Term};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// Timeout of every call to a node.
const CALL: Duration = Duration::from_secs(15);

/// What `attach` needs.
#[derive(Debug, Clone)]
pub struct AttachConfig {
    pub seeds: Vec<NodeName>,
    pub cookie: Cookie,
    pub cluster: ClusterOptions,
    pub project_dir: Option<PathBuf>,
    pub source_map: SourceMap,
    /// Module globs to interpret up front (`Bank.*`, `bank_*`); by default only modules with breakpoints.
    pub interpret: Vec<String>,
    /// Module globs never to interpret.
    pub exclude: Vec<String>,
    /// Hold (suspend) the callers waiting for a paused process where the node's OTP stops their clocks.
    pub hold_callers: bool,
}

/// Node-side happenings, before the engine turns them into editor events.
#[derive(Debug)]
pub enum Raw {
    /// From the interpreter server's subscription.
    Server(Delivery),
    /// From the mailbox Orbit attached to a process with.
    Thread(i64, Delivery),
    /// Log points, crash reports.
    Node(Delivery),
    Cluster(ClusterEvent),
    /// A note about a stopped thread, worked out after the stop was reported.
    Note(String),
    /// A node that did not answer answers again (see `silence`).
    Awake(String),
    /// Time to ask who waits for a stopped thread's answer, if it is still at its stop number `.1`.
    AskCallers(i64, u64),
    /// The processes that wait for a stopped thread's answer, at its stop number `.1` (see `holds`).
    Callers(i64, u64, Vec<(Pid, String)>),
    /// A thread that left interpreted code at `since` (see `ThreadState::Idle`), to be reported gone if it
    /// has not come back.
    Idle(i64, u64),
    Tick,
}

/// OTP's interpreter server (`dbg_iserver`) that this session uses.
pub(super) struct InterpreterServer {
    pub(super) pid: Pid,
    pub(super) node: String,
}

/// The engine. See the module docs.
pub struct IntEngine {
    cluster: Cluster,
    config: AttachConfig,
    /// The node evaluation without a frame runs on, and where modules are read and loaded first.
    entry: String,
    /// OTP's interpreter server for this session; `None` where no node has OTP's debugger application
    /// (then `no_interpreter` says why, and only tracepoints and what needs no interpreter work).
    server: Option<InterpreterServer>,
    no_interpreter: String,
    raw_tx: mpsc::UnboundedSender<Raw>,
    raw_rx: mpsc::UnboundedReceiver<Raw>,
    /// Where nodes send log points and crash reports.
    events_pid: Pid,
    /// The pid subscribed to the interpreter's events (linked to the server).
    sub_pid: Pid,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    modules: Modules,
    breakpoints: Breakpoints,
    filters: ExceptionFilters,
    threads: Threads,
    frames: Frames,
    step_into: StepInto,
    structs: StructFields,
    ready_nodes: ReadyNodes,
    silence: Silence,
    holds: Holds,
    /// Native breakpoints on nodes started with `+D` (see `native`).
    native: crate::debugger::native_engine::Native,
    /// Events produced while answering a request (e.g. a pause from the console), sent after its response.
    pending_events: Vec<EngineEvent>,
    /// Counts threads leaving interpreted code, so a late `Raw::Idle` is told from a newer one.
    idle_count: u64,
    ended: bool,
}

impl IntEngine {
    /// Connects to the cluster and prepares every node.
    pub async fn attach(config: AttachConfig) -> Result<IntEngine, DebugError> {
        let cluster = Cluster::connect(&config.seeds, config.cookie.clone(), config.cluster.clone())
            .await
            .map_err(|e| DebugError(e.to_string()))?;
        // Let discovered nodes finish connecting so the first breakpoints reach them all.
        cluster.settle(Duration::from_secs(5)).await;
        Self::with_cluster(cluster, config).await
    }

    pub async fn with_cluster(cluster: Cluster, config: AttachConfig) -> Result<IntEngine, DebugError> {
        // The debugger's agent modules on every node, in parallel (and on nodes that join later, before NodeUp).
        let _ = cluster.require(crate::agent::Group::Debugger).await;
        let up = cluster.up_nodes();
        let entry = config
            .seeds
            .iter()
            .map(|s| s.to_string())
            .find(|s| up.contains(s))
            .or_else(|| up.first().cloned())
            .ok_or_else(|| DebugError::new("no node of the cluster is reachable"))?;
        if cluster.session(&entry).is_none() {
            return Err(DebugError(format!(
                "Orbit's agent could not be installed on {entry}; the debugger needs it (is the `compiler` application available there?)"
            )));
        }
        let (server, no_interpreter) = start_interpreter(&cluster, &entry).await?;
        let (raw_tx, raw_rx) = mpsc::unbounded_channel();

        // Subscribe to the interpreter's events from a pid linked to the server, so the server drops the
        // subscription by itself when Orbit goes away.
        let sub = cluster.open_mailbox();
        let sub_pid = sub.pid().clone();
        if let Some(server) = &server {
            let link =
                cluster.link(&server.node).ok_or_else(|| DebugError(format!("{} is not connected", server.node)))?;
            link.link_process(&sub_pid, &server.pid).map_err(|e| DebugError(e.to_string()))?;
            rpc::gen_cast(&link, &server.pid, tuple(vec![atom("subscribe"), Term::from(sub_pid.clone())]))
                .map_err(rpc_err)?;
        }

        let events = cluster.open_mailbox();
        let events_pid = events.pid().clone();
        let mut tasks = vec![forward(sub, raw_tx.clone(), Raw::Server), forward(events, raw_tx.clone(), Raw::Node)];
        let mut cluster_events = cluster.subscribe();
        let tx = raw_tx.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match cluster_events.recv().await {
                    Ok(e) => {
                        if tx.send(Raw::Cluster(e)).is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                }
            }
        }));
        let tx = raw_tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(2));
            every.tick().await;
            loop {
                every.tick().await;
                if tx.send(Raw::Tick).is_err() {
                    return;
                }
            }
        }));

        let hold_callers = config.hold_callers;
        let mut engine = IntEngine {
            cluster,
            config,
            entry,
            server,
            no_interpreter,
            raw_tx,
            raw_rx,
            events_pid,
            sub_pid,
            tasks,
            modules: Modules::default(),
            breakpoints: Breakpoints::default(),
            filters: ExceptionFilters::default(),
            threads: Threads::default(),
            frames: Frames::default(),
            step_into: StepInto::default(),
            structs: StructFields::default(),
            ready_nodes: ReadyNodes::default(),
            silence: Silence::default(),
            holds: Holds::new(hold_callers),
            native: Default::default(),
            pending_events: Vec::new(),
            idle_count: 0,
            ended: false,
        };
        engine.native.project = engine.config.project_dir.clone();
        for node in engine.cluster.up_nodes() {
            let lines = engine.prepare_node(&node).await;
            for l in lines {
                tracing::debug!("{l}");
            }
            for l in engine.start_native(&node).await {
                engine.pending_events.push(output(format!("{l}\n")));
            }
        }
        // Where every node takes native breakpoints, no interpreter is needed (nor missed).
        if !engine.no_interpreter.is_empty() && !engine.all_native() {
            engine.pending_events.push(output(format!("{}\n", engine.no_interpreter)));
        }
        engine.refresh_index().await;
        engine.interpret_up_front().await;
        Ok(engine)
    }

    /// The interpreter server and its node, or why there is none.
    pub(super) fn interpreter(&self) -> Result<(&Pid, &str), DebugError> {
        match &self.server {
            Some(s) => Ok((&s.pid, &s.node)),
            None => Err(DebugError(self.no_interpreter.clone())),
        }
    }

    /// The interpreter server and the link to its node, while it is connected.
    pub(super) fn interpreter_link(&self) -> Option<(&Pid, crate::link::Link)> {
        let s = self.server.as_ref()?;
        Some((&s.pid, self.cluster.link(&s.node)?))
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The node evaluation without a frame runs on.
    pub fn entry_node(&self) -> &str {
        &self.entry
    }

    /// One raw happening, dispatched to the part that owns it.
    async fn handle_raw_event(&mut self, raw: Raw) -> Vec<EngineEvent> {
        match raw {
            Raw::Server(d) => {
                tracing::trace!("from the interpreter server: {d:?}");
                self.on_server_event(d).await
            }
            Raw::Thread(id, d) => {
                tracing::trace!(thread = id, "from the interpreter: {d:?}");
                self.on_thread_message(id, d).await
            }
            Raw::Node(d) => {
                let events = self.on_node_message(d);
                // Native stops may end steps into other processes (native_step.rs).
                self.native_step_stops(events).await
            }
            Raw::Cluster(e) => self.on_cluster_event(e).await,
            Raw::Note(text) if !text.is_empty() => vec![output(format!("{text}\n"))],
            Raw::Note(_) => Vec::new(),
            Raw::Awake(node) => self.on_awake(node).await,
            Raw::AskCallers(id, stop) => {
                self.ask_callers(id, stop);
                Vec::new()
            }
            Raw::Callers(id, stop, callers) => self.on_callers(id, stop, callers).await,
            Raw::Idle(id, since) => self.on_idle_expired(id, since),
            Raw::Tick => {
                self.probe_asleep();
                let mut events = self.expire_crossings().await;
                events.extend(self.retry_pending_breakpoints().await);
                events
            }
        }
    }

    /// Log points and crash reports, sent by the nodes to `events_pid`.
    fn on_node_message(&mut self, d: Delivery) -> Vec<EngineEvent> {
        let Delivery::Message { body, .. } = d else { return Vec::new() };
        let Some(p) = as_tuple(&body) else { return Vec::new() };
        match p {
            [tag, _id, node, Term::Pid(pid), text_t] if is_atom(tag, "orbit_dbg_log") => {
                vec![breakpoints::log_point_output(node, pid, text_t)]
            }
            [tag, _, node, t] if is_atom(tag, "orbit_dbg_trace_note") => vec![tracepoints::note_output(node, t)],
            [tag, node, module, result] if is_atom(tag, "orbit_dbg_interpreted") => {
                let (Some(node), Some(module)) = (crate::term::as_atom(node), crate::term::as_atom(module)) else {
                    return Vec::new();
                };
                let (node, module) = (node.to_string(), module.to_string());
                self.interpreted_late(&node, &module, result)
                    .map(|l| vec![output(format!("{l}\n"))])
                    .unwrap_or_default()
            }
            [tag, ..] if is_atom(tag, "orbit_native_stop") => self.on_native_stop(&body),
            [tag, ..] if is_atom(tag, "orbit_native_left") => self.native.on_left(&body),
            [tag, node, who, report, frames, reason] if is_atom(tag, "orbit_crash") => {
                self.crash_report(node, who, report, frames, reason)
            }
            _ => Vec::new(),
        }
    }
}

/// Starts (or finds) the cluster's interpreter server: on `entry`, else on the first node whose Erlang
/// installation has OTP's debugger application. Where none has it, the session goes on without one and
/// the second value says so (every node's own reason in one sentence).
async fn start_interpreter(cluster: &Cluster, entry: &str) -> Result<(Option<InterpreterServer>, String), DebugError> {
    let mut candidates = vec![entry.to_string()];
    candidates.extend(cluster.up_nodes().into_iter().filter(|n| n != entry));
    let mut missing = Vec::new();
    for node in candidates {
        if cluster.session(&node).is_none() {
            continue;
        }
        let reply = cluster.call(&node, "orbit_dbg", "ensure_server", vec![], CALL).await.map_err(rpc_err)?;
        if let Some(pid) = ok_value(&reply).and_then(|v| pid_of(&v[0])) {
            let node = pid.node.name.clone();
            return Ok((Some(InterpreterServer { pid, node }), String::new()));
        }
        match as_tuple(&reply) {
            Some([_, r]) if as_tuple(r).and_then(|x| x.first()).is_some_and(|x| is_atom(x, "no_debugger")) => {
                missing.push(node)
            }
            _ => {
                return Err(DebugError(format!(
                    "cannot start OTP's interpreter on {node} ({}): check that the node's Erlang installation has \
                     the debugger application (Debian: the erlang-debugger package)",
                    text(&reply)
                )))
            }
        }
    }
    let nodes = missing.join(", ");
    Ok((None, no_debugger_text(&nodes, missing.len())))
}

/// Forwards a mailbox into the raw event channel until either end goes.
fn forward<F>(mut mailbox: Mailbox, tx: mpsc::UnboundedSender<Raw>, wrap: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(Delivery) -> Raw + Send + 'static,
{
    tokio::spawn(async move {
        while let Some(d) = mailbox.recv().await {
            if tx.send(wrap(d)).is_err() {
                return;
            }
        }
    })
}

/// Each request goes to the inherent method of the same name, in the file of the part that owns it
/// (inherent methods take precedence over the trait's).
impl Engine for IntEngine {
    type Raw = Raw;

    async fn next_raw(&mut self) -> Option<Raw> {
        self.raw_rx.recv().await
    }

    async fn handle_raw(&mut self, raw: Raw) -> Vec<EngineEvent> {
        if self.ended {
            return Vec::new();
        }
        let mut events = self.handle_raw_event(raw).await;
        // A thread that went: the callers held for it go on.
        let gone: Vec<i64> = events
            .iter()
            .filter_map(|e| if let EngineEvent::ThreadExited { thread } = e { Some(*thread) } else { None })
            .collect();
        for id in gone {
            events.extend(self.release_holds(id).await);
        }
        events.extend(self.silence_news());
        events
    }

    fn drain_events(&mut self) -> Vec<EngineEvent> {
        let mut events = std::mem::take(&mut self.pending_events);
        events.extend(self.silence_news());
        events
    }

    async fn set_breakpoints(&mut self, file: &Path, breakpoints: Vec<LineBreakpoint>) -> Vec<BreakpointStatus> {
        self.set_breakpoints(file, breakpoints).await
    }

    async fn set_function_breakpoints(
        &mut self,
        functions: Vec<(String, Option<String>, Option<String>)>,
    ) -> Vec<BreakpointStatus> {
        self.set_function_breakpoints(functions).await
    }

    async fn set_exception_filters(&mut self, filters: &[String]) -> Result<(), DebugError> {
        self.set_exception_filters(filters).await
    }

    async fn breakpoint_locations(&mut self, file: &Path, line: u32, end_line: Option<u32>) -> Vec<u32> {
        self.breakpoint_locations(file, line, end_line).await
    }

    fn threads(&self) -> Vec<ThreadInfo> {
        let mut all = self.thread_infos();
        all.extend(self.native.threads());
        all
    }

    async fn stack_trace(&mut self, thread: i64) -> Result<Vec<FrameInfo>, DebugError> {
        if Self::owns_native(thread) {
            let modules = &self.modules;
            return self.native.stack_trace(&self.cluster, thread, |m| modules.path_of(m).map(Path::to_path_buf)).await;
        }
        self.stack_trace(thread).await
    }

    async fn scopes(&mut self, frame: i64) -> Result<Vec<ScopeInfo>, DebugError> {
        if Self::owns_native(frame) {
            return self.native.scopes(frame);
        }
        self.scopes(frame).await
    }

    async fn variables(
        &mut self,
        reference: i64,
        start: Option<u64>,
        count: Option<u64>,
    ) -> Result<Vec<VariableInfo>, DebugError> {
        if Self::owns_native(reference) {
            return self.native_variables(reference).await;
        }
        self.variables(reference, start, count).await
    }

    async fn set_variable(&mut self, reference: i64, name: &str, value: &str) -> Result<VariableInfo, DebugError> {
        if Self::owns_native(reference) {
            return Err(DebugError::new(
                "setting a variable is not possible at a native breakpoint: OTP's erl_debugger reads a paused \
                 process's registers but cannot write them",
            ));
        }
        self.set_variable(reference, name, value).await
    }

    async fn evaluate(&mut self, expression: &str, frame: Option<i64>) -> Result<VariableInfo, DebugError> {
        if let Some(f) = frame.filter(|f| Self::owns_native(*f)) {
            return self.native.evaluate(&self.cluster, expression, f).await;
        }
        self.evaluate(expression, frame).await
    }

    async fn resume(&mut self, thread: i64, how: Resume) -> Result<Vec<EngineEvent>, DebugError> {
        if Self::owns_native(thread) {
            let mut events = Vec::new();
            if how == Resume::StepIn {
                events.extend(self.native_step_into(thread).await);
                events.extend(self.ready_native_step_in(thread).await);
            }
            events.extend(self.native.resume(&self.cluster, thread, how, &self.events_pid).await?);
            // The callers held for it go on with it.
            events.extend(self.release_holds(thread).await);
            return Ok(events);
        }
        self.resume(thread, how).await
    }

    async fn pause(&mut self, thread: i64) -> Result<Vec<EngineEvent>, DebugError> {
        if Self::owns_native(thread) {
            self.cluster.refuse(crate::read_only::Change::Pause)?;
            self.native.pause(&self.cluster, thread).await?;
            // The stop comes as the node reports it (on_native_stop).
            return Ok(Vec::new());
        }
        self.pause(thread).await
    }

    fn loaded_sources(&self) -> Vec<PathBuf> {
        self.modules.loaded_sources()
    }

    async fn end(&mut self) -> Vec<String> {
        self.end().await
    }
}
