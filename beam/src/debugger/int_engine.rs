//! The debugger engine on OTP's interpreter (`int`).
//!
//! One `dbg_iserver` serves the whole cluster (it is a global name); Orbit talks to it directly from its
//! own pids: it subscribes to its events, attaches to processes that stop, and sends the interpreter's
//! meta processes their commands. Everything that reads a paused process runs on that process's node
//! through `orbit_dbg`, so only what the editor shows crosses the network. Interpretation is done node by
//! node (also on nodes that join later), and undone by `orbit_dbg:cleanup/2` — from here on disconnect,
//! or from each node's agent if Orbit vanishes.

use super::breakpoints::{resolve_line, HitCondition, LineBreakpoint};
use super::names::{function_display, module_display, parse_function_ref, Lang};
use super::sources::{SourceIndex, SourceMap};
use super::{
    BreakpointStatus, DebugError, Engine, EngineEvent, FrameInfo, OutputCategory, Resume, ScopeInfo, StopReason,
    ThreadInfo, VariableInfo, FILTER_CRASHES, FILTER_CRASH_REPORTS,
};
use crate::cluster::{Cluster, ClusterEvent, ClusterOptions};
use crate::link::{Cookie, Delivery, Mailbox, NodeName};
use crate::rpc::{self, RpcError};
use crate::term::{
    as_atom, as_integer, as_list, as_str, as_tuple, atom, binary, int, is_atom, list, map, nil, render_elixir_with,
    render_erlang_with, tuple, Limits, RenderContext,
};
use eetf::{Pid, Term};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

const CALL: Duration = Duration::from_secs(15);
/// Slots in `orbit_dbg_cond` (one per breakpoint with a condition, hit count or log message).
const CONDITION_SLOTS: u32 = 256;
/// How many children one `variables` request returns when the editor does not page.
const DEFAULT_PAGE: u64 = 500;

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
    Tick,
}

#[derive(Debug, Clone, PartialEq)]
enum ThreadState {
    /// Known to run interpreted code; not stopped.
    Running,
    /// At a breakpoint or step, in interpreted code.
    Stopped {
        module: String,
        line: u32,
        level: i64,
    },
    /// Suspended by Orbit; not interpreted.
    Suspended,
    /// Crashed; the interpreter keeps its last frame for inspection.
    PostMortem {
        module: Option<String>,
        line: Option<u32>,
        reason: String,
    },
    Exited,
}

#[derive(Debug)]
struct Thread {
    id: i64,
    pid: Pid,
    node: String,
    name: Option<String>,
    state: ThreadState,
    meta: Option<Pid>,
    /// The pid Orbit attached with (its own mailbox); detaching is an exit signal from it.
    attach_pid: Option<Pid>,
    forwarder: Option<tokio::task::JoinHandle<()>>,
    /// How the thread was last resumed, and from where (module, line, level).
    last_resume: Option<(Resume, String, u32, i64)>,
    pausing: bool,
    /// Assignments Orbit made in the frame whose `running`/`break_at` echo from the interpreter is still due.
    echoes: u32,
    stored: Vec<i64>,
}

#[derive(Debug, Clone)]
struct ModuleLines {
    lines: Vec<u32>,
    /// (name, arity, first line, last line)
    functions: Vec<(String, u32, u32, u32)>,
    /// (name, arity) → first line of each clause's body
    clauses: HashMap<(String, u32), Vec<u32>>,
}

#[derive(Debug, Clone)]
struct Interpreted {
    md5: Term,
    nodes: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Bp {
    id: i64,
    /// The file it was set in (line breakpoints), or the function it names.
    source: Option<PathBuf>,
    function: Option<String>,
    requested_line: u32,
    spec: LineBreakpoint,
    lang: Lang,
    /// Where it holds: module and line.
    at: Option<(String, u32)>,
    /// More places it holds: a function breakpoint also stops at the first line of its other clauses.
    extra: Vec<(String, u32)>,
    slot: Option<u32>,
    message: Option<String>,
}

impl Bp {
    /// Every (module, line) it holds at.
    fn points(&self) -> Vec<(String, u32)> {
        match &self.at {
            Some(at) => std::iter::once(at).chain(self.extra.iter()).cloned().collect(),
            None => Vec::new(),
        }
    }

    fn status(&self) -> BreakpointStatus {
        BreakpointStatus {
            id: self.id,
            verified: self.at.is_some(),
            line: self.at.as_ref().map(|(_, l)| *l).or(Some(self.requested_line).filter(|l| *l > 0)),
            message: self.message.clone(),
            source: self.source.clone(),
        }
    }
}

/// What a frame id stands for.
#[derive(Debug, Clone, Copy)]
struct FrameRef {
    thread: i64,
    /// The interpreter's stack level; `None` for the top frame (its current bindings).
    sp: Option<i64>,
    lang: Lang,
    /// False for frames of a suspended process that is not interpreted: no variables.
    interpreted: bool,
}

/// What a variables reference points at.
#[derive(Debug, Clone)]
enum VarRoot {
    /// The variables of a frame.
    Frame { thread: i64, sp: Option<i64>, lang: Lang },
    /// A process's info (the "Process" scope).
    Process { thread: i64 },
    /// Part of a value: `root` on the node, then `path`.
    Value { node: String, root: Term, path: Vec<Term>, lang: Lang, is_struct: bool, kind: String },
}

/// The engine. See the module docs.
pub struct IntEngine {
    cluster: Cluster,
    config: AttachConfig,
    entry: String,
    server: Pid,
    server_node: String,
    raw_tx: mpsc::UnboundedSender<Raw>,
    raw_rx: mpsc::UnboundedReceiver<Raw>,
    events_pid: Pid,
    /// The pid subscribed to the interpreter's events (linked to the server).
    sub_pid: Pid,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    index: SourceIndex,
    lines: HashMap<String, ModuleLines>,
    interpreted: BTreeMap<String, Interpreted>,
    breakpoints: Vec<Bp>,
    next_bp: i64,
    free_slots: BTreeSet<u32>,
    filters: BTreeSet<String>,
    threads: BTreeMap<i64, Thread>,
    by_pid: HashMap<Pid, i64>,
    next_thread: i64,
    frames: HashMap<i64, FrameRef>,
    vars: HashMap<i64, VarRoot>,
    next_ref: i64,
    ready_nodes: BTreeSet<String>,
    /// Declared field order of struct modules (empty: not a struct, print fields alphabetically).
    struct_fields: HashMap<String, Vec<String>>,
    /// Events produced while answering a request (e.g. a pause from the console), sent after its response.
    pending_events: Vec<EngineEvent>,
    ended: bool,
}

fn rpc_err(e: RpcError) -> DebugError {
    DebugError(e.to_string())
}

fn text(t: &Term) -> String {
    match as_str(t) {
        Some(s) => s.to_string(),
        None => crate::term::render_erlang(t, &Limits::default()),
    }
}

fn pid_of(t: &Term) -> Option<Pid> {
    match t {
        Term::Pid(p) => Some(p.clone()),
        _ => None,
    }
}

/// The elements after `ok` in `{ok, …}` (at least one).
fn ok_value(t: &Term) -> Option<&[Term]> {
    as_tuple(t).filter(|p| p.len() >= 2 && is_atom(&p[0], "ok")).map(|p| &p[1..])
}

fn glob_match(pattern: &str, text: &str) -> bool {
    // `*` matches any run of characters; everything else literally.
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Does a glob name this module? Globs are written as the user reads modules (`Bank.*`, `bank_*`).
fn module_matches(glob: &str, module: &str) -> bool {
    let glob = glob.trim();
    glob_match(glob, &module_display(module)) || glob_match(glob, module)
}

impl IntEngine {
    /// Connects to the cluster and prepares every node.
    pub async fn attach(config: AttachConfig) -> Result<IntEngine, DebugError> {
        let cluster = Cluster::connect(&config.seeds, config.cookie.clone(), config.cluster.clone())
            .await
            .map_err(|e| DebugError(e.to_string()))?;
        // Let discovered nodes finish connecting so the first breakpoints reach them all.
        for _ in 0..200 {
            if cluster.nodes().iter().all(|(_, s)| *s != crate::cluster::NodeState::Connecting) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Self::with_cluster(cluster, config).await
    }

    pub async fn with_cluster(cluster: Cluster, config: AttachConfig) -> Result<IntEngine, DebugError> {
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
        let reply = cluster.call(&entry, "orbit_dbg", "ensure_server", vec![], CALL).await.map_err(rpc_err)?;
        let server = ok_value(&reply).and_then(|v| pid_of(&v[0])).ok_or_else(|| {
            DebugError(format!(
                "cannot start OTP's interpreter on {entry} ({}): install Debian's erlang-debugger package on the nodes",
                text(&reply)
            ))
        })?;
        let server_node = server.node.name.clone();
        let (raw_tx, raw_rx) = mpsc::unbounded_channel();

        // Subscribe to the interpreter's events from a pid linked to the server, so the server drops the
        // subscription by itself when Orbit goes away.
        let sub = cluster.open_mailbox();
        let sub_pid = sub.pid().clone();
        let link = cluster.link(&server_node).ok_or_else(|| DebugError(format!("{server_node} is not connected")))?;
        link.link_process(&sub_pid, &server).map_err(|e| DebugError(e.to_string()))?;
        rpc::gen_cast(&link, &server, tuple(vec![atom("subscribe"), Term::from(sub_pid.clone())])).map_err(rpc_err)?;

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

        let mut engine = IntEngine {
            cluster,
            config,
            entry,
            server,
            server_node,
            raw_tx,
            raw_rx,
            events_pid,
            sub_pid,
            tasks,
            index: SourceIndex::default(),
            lines: HashMap::new(),
            interpreted: BTreeMap::new(),
            breakpoints: Vec::new(),
            next_bp: 1,
            free_slots: (1..=CONDITION_SLOTS).collect(),
            filters: BTreeSet::new(),
            threads: BTreeMap::new(),
            by_pid: HashMap::new(),
            next_thread: 1,
            frames: HashMap::new(),
            vars: HashMap::new(),
            next_ref: 1,
            ready_nodes: BTreeSet::new(),
            struct_fields: HashMap::new(),
            pending_events: Vec::new(),
            ended: false,
        };
        for node in engine.cluster.up_nodes() {
            let lines = engine.prepare_node(&node).await;
            for l in lines {
                tracing::debug!("{l}");
            }
        }
        engine.refresh_index().await;
        let globs = engine.config.interpret.clone();
        if !globs.is_empty() {
            let modules: Vec<String> = engine
                .index
                .paths()
                .map(|(m, _)| m.clone())
                .filter(|m| globs.iter().any(|g| module_matches(g, m)))
                .collect();
            for m in modules {
                if let Err(e) = engine.interpret(&m).await {
                    tracing::warn!("{e}");
                }
            }
        }
        Ok(engine)
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The node evaluation without a frame runs on.
    pub fn entry_node(&self) -> &str {
        &self.entry
    }

    /// Starts the keeper on a node and registers the clean-up there. Returns console lines.
    async fn prepare_node(&mut self, node: &str) -> Vec<String> {
        let mut out = Vec::new();
        let me = atom(self.cluster.local_name());
        match self
            .cluster
            .call(node, "orbit_dbg", "start_keeper", vec![me, Term::from(self.events_pid.clone())], CALL)
            .await
        {
            Ok(r) if ok_value(&r).is_some() => {
                self.ready_nodes.insert(node.to_string());
            }
            Ok(r) => out.push(format!("{node}: the debugger helper did not start: {}", text(&r))),
            Err(e) => out.push(format!("{node}: the debugger helper did not start: {e}")),
        }
        self.register_cleanup(node).await;
        if self.filters.contains(FILTER_CRASH_REPORTS) {
            let _ = self
                .cluster
                .call(node, "orbit_dbg", "install_crash_forwarder", vec![Term::from(self.events_pid.clone())], CALL)
                .await;
        }
        out
    }

    /// The arguments of `orbit_dbg:cleanup/2`: the modules Orbit interpreted and every breakpoint point.
    fn cleanup_args(&self) -> Vec<Term> {
        let mods = list(self.interpreted.keys().map(atom).collect());
        let breaks = list(
            self.breakpoints
                .iter()
                .flat_map(|b| b.points())
                .map(|(m, l)| tuple(vec![atom(&m), int(l as i64)]))
                .collect(),
        );
        vec![mods, breaks]
    }

    /// What `orbit_dbg:cleanup/2` must undo on `node`, kept current with the agent.
    async fn register_cleanup(&self, node: &str) {
        let args = self.cleanup_args();
        if let Err(e) = self.cluster.register_cleanup(node, atom("orbit_dbg"), "orbit_dbg", "cleanup", args).await {
            tracing::warn!("{node}: cannot register the debugger clean-up: {e}");
        }
    }

    async fn register_cleanup_everywhere(&self) {
        let nodes: Vec<String> = self.ready_nodes.iter().cloned().collect();
        futures::future::join_all(nodes.iter().map(|n| self.register_cleanup(n))).await;
    }

    /// Learns which module comes from which file, from every node.
    async fn refresh_index(&mut self) {
        let skip = list(vec![]);
        let answers = self.cluster.call_all("orbit_dbg", "source_index", vec![skip], CALL).await;
        let mut index = SourceIndex::default();
        for (_node, answer) in answers {
            let Ok(answer) = answer else { continue };
            let Some(items) = as_list(&answer) else { continue };
            for item in items.iter() {
                if let Some([m, src]) =
                    as_tuple(item).map(|t| t as &[Term]).and_then(|t| <&[Term; 2]>::try_from(t).ok())
                {
                    if let (Some(m), Some(src)) = (as_atom(m), as_str(src)) {
                        index.insert(m.to_string(), self.local_path(src));
                    }
                }
            }
        }
        self.index = index;
    }

    /// A node's source path as a local one: the source map, then relative paths against the project.
    fn local_path(&self, node_path: &str) -> PathBuf {
        let mapped = self.config.source_map.to_local(node_path);
        if mapped.is_relative() {
            if let Some(dir) = &self.config.project_dir {
                return dir.join(mapped);
            }
        }
        mapped
    }

    async fn module_lines(&mut self, module: &str) -> Result<ModuleLines, DebugError> {
        if let Some(l) = self.lines.get(module) {
            return Ok(l.clone());
        }
        let mut last_err = None;
        let mut nodes = vec![self.entry.clone()];
        nodes.extend(self.cluster.up_nodes().into_iter().filter(|n| *n != self.entry));
        for node in nodes {
            let r = match self.cluster.call(&node, "orbit_dbg", "module_lines", vec![atom(module)], CALL).await {
                Ok(r) => r,
                Err(e) => {
                    last_err = Some(e.to_string());
                    continue;
                }
            };
            match ok_value(&r) {
                Some([info]) => {
                    let lines = crate::term::map_get_atom(info, "lines")
                        .and_then(as_list)
                        .map(|l| l.iter().filter_map(as_integer).map(|x| x as u32).collect())
                        .unwrap_or_default();
                    let functions = crate::term::map_get_atom(info, "functions")
                        .and_then(as_list)
                        .map(|l| {
                            l.iter()
                                .filter_map(|f| {
                                    let [name, arity, first, last] = as_tuple(f)? else { return None };
                                    Some((
                                        as_atom(name)?.to_string(),
                                        as_integer(arity)? as u32,
                                        as_integer(first)? as u32,
                                        as_integer(last)? as u32,
                                    ))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let clauses = crate::term::map_get_atom(info, "clauses")
                        .and_then(as_list)
                        .map(|l| {
                            l.iter()
                                .filter_map(|c| {
                                    let [name, arity, lines] = as_tuple(c)? else { return None };
                                    let lines =
                                        as_list(lines)?.iter().filter_map(as_integer).map(|x| x as u32).collect();
                                    Some(((as_atom(name)?.to_string(), as_integer(arity)? as u32), lines))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let ml = ModuleLines { lines, functions, clauses };
                    self.lines.insert(module.to_string(), ml.clone());
                    return Ok(ml);
                }
                _ => last_err = Some(format!("{node}: {}", text(&r))),
            }
        }
        let why = last_err.unwrap_or_default();
        let hint = if why.contains("no_debug_info") {
            " (compiled without debug info: releases strip it by default, set `strip_beams: false`)"
        } else {
            ""
        };
        Err(DebugError(format!("cannot read the code of {}: {why}{hint}", module_display(module))))
    }

    /// Makes `module` interpreted on every node that runs the same version of it.
    async fn interpret(&mut self, module: &str) -> Result<Vec<String>, DebugError> {
        if self.interpreted.contains_key(module) {
            return Ok(Vec::new());
        }
        if let Some(g) = self.config.exclude.iter().find(|g| module_matches(g, module)) {
            return Err(DebugError(format!("{} is excluded from debugging by `exclude: {g}`", module_display(module))));
        }
        let load = self
            .cluster
            .call(
                &self.entry,
                "orbit_dbg",
                "load_into_server",
                vec![Term::from(self.server.clone()), atom(module)],
                CALL,
            )
            .await
            .map_err(rpc_err)?;
        let md5 = match ok_value(&load) {
            Some([md5]) => md5.clone(),
            _ => {
                return Err(DebugError(format!(
                    "cannot interpret {} on {}: {}",
                    module_display(module),
                    self.entry,
                    text(&load)
                )))
            }
        };
        let mut state = Interpreted { md5: md5.clone(), nodes: BTreeSet::new() };
        let notes = self.interpret_on_nodes(module, &md5, &self.cluster.up_nodes(), &mut state.nodes).await;
        self.interpreted.insert(module.to_string(), state);
        self.register_cleanup_everywhere().await;
        Ok(notes)
    }

    async fn interpret_on_nodes(
        &self,
        module: &str,
        md5: &Term,
        nodes: &[String],
        done: &mut BTreeSet<String>,
    ) -> Vec<String> {
        let answers = futures::future::join_all(nodes.iter().map(|n| async move {
            (n.clone(), self.cluster.call(n, "orbit_dbg", "interpret", vec![atom(module), md5.clone()], CALL).await)
        }))
        .await;
        let mut notes = Vec::new();
        for (node, answer) in answers {
            match answer {
                Ok(t) if is_atom(&t, "ok") => {
                    done.insert(node);
                }
                Ok(t) => {
                    let why = match as_tuple(&t) {
                        Some([_, r]) if is_atom(r, "not_loaded") => "it is not loaded there".to_string(),
                        Some([_, r]) if is_atom(r, "no_server") => {
                            format!("it does not see OTP's interpreter server on {} (global names)", self.server_node)
                        }
                        Some([_, r])
                            if as_tuple(r).and_then(|x| x.first()).is_some_and(|x| is_atom(x, "other_version")) =>
                        {
                            format!("it runs another version of it than {}", self.entry)
                        }
                        _ => text(&t),
                    };
                    notes.push(format!("{node}: breakpoints in {} do not hold there: {why}", module_display(module)));
                }
                Err(e) => notes.push(format!("{node}: {e}")),
            }
        }
        notes
    }

    fn new_ref(&mut self, root: VarRoot) -> i64 {
        let r = self.next_ref;
        self.next_ref += 1;
        self.vars.insert(r, root);
        r
    }

    fn thread_for(&mut self, pid: &Pid) -> (i64, bool) {
        if let Some(id) = self.by_pid.get(pid) {
            return (*id, false);
        }
        let id = self.next_thread;
        self.next_thread += 1;
        self.by_pid.insert(pid.clone(), id);
        self.threads.insert(
            id,
            Thread {
                id,
                pid: pid.clone(),
                node: pid.node.name.clone(),
                name: None,
                state: ThreadState::Running,
                meta: None,
                attach_pid: None,
                forwarder: None,
                last_resume: None,
                pausing: false,
                echoes: 0,
                stored: Vec::new(),
            },
        );
        (id, true)
    }

    /// Attaches to a process from a mailbox of its own (one per thread, so detaching one is an exit
    /// signal from that pid alone). Done by `orbit_dbg:attach/3` on the server's node, which first checks
    /// that the server still knows the process: attaching to one it does not know crashes the server.
    async fn attach_thread(&mut self, id: i64) -> Result<(), DebugError> {
        let server = self.server.clone();
        let Some(thread) = self.threads.get(&id) else { return Ok(()) };
        if thread.attach_pid.is_some() {
            return Ok(());
        }
        let pid = thread.pid.clone();
        let mailbox = self.cluster.open_mailbox();
        let att = mailbox.pid().clone();
        let forwarder = forward(mailbox, self.raw_tx.clone(), move |d| Raw::Thread(id, d));
        if let Some(t) = self.threads.get_mut(&id) {
            t.attach_pid = Some(att.clone());
            t.forwarder = Some(forwarder);
        }
        let reply = self
            .cluster
            .call(
                &self.server_node,
                "orbit_dbg",
                "attach",
                vec![Term::from(server), Term::from(att), Term::from(pid)],
                CALL,
            )
            .await;
        match reply {
            Ok(r) => {
                if let Some([Term::Pid(meta)]) = ok_value(&r) {
                    if let Some(t) = self.threads.get_mut(&id) {
                        t.meta.get_or_insert_with(|| meta.clone());
                    }
                    Ok(())
                } else {
                    self.forget_attachment(id);
                    if is_atom(&r, "error") {
                        Err(DebugError(format!(
                            "{}: another debugger is attached to this process (e.g. :debugger or another Orbit)",
                            self.thread_label(id)
                        )))
                    } else {
                        // Gone from the interpreter meanwhile (exited and cleared): nothing to show.
                        Ok(())
                    }
                }
            }
            Err(e) => {
                self.forget_attachment(id);
                Err(rpc_err(e))
            }
        }
    }

    fn forget_attachment(&mut self, id: i64) {
        if let Some(t) = self.threads.get_mut(&id) {
            t.attach_pid = None;
            if let Some(f) = t.forwarder.take() {
                f.abort();
            }
        }
    }

    /// Ends the attachment: the server takes the exit signal as a detach; the process itself goes on.
    fn detach_thread(&mut self, id: i64) {
        let link = self.cluster.link(&self.server_node);
        if let Some(t) = self.threads.get_mut(&id) {
            if let (Some(att), Some(link)) = (t.attach_pid.take(), link) {
                let _ = link.exit(&att, &self.server, atom("normal"));
            }
            if let Some(f) = t.forwarder.take() {
                f.abort();
            }
            t.meta = None;
        }
    }

    fn invalidate(&mut self, thread: i64) {
        self.frames.retain(|_, f| f.thread != thread);
        self.vars.retain(|_, root| match root {
            VarRoot::Frame { thread: t, .. } | VarRoot::Process { thread: t } => *t != thread,
            VarRoot::Value { .. } => true,
        });
    }

    fn thread_name(&self, t: &Thread) -> String {
        let pid = format!("#PID<0.{}.{}>", t.pid.id, t.pid.serial);
        let who = t.name.clone().map(|n| format!(" {n}")).unwrap_or_default();
        let at = match &t.state {
            ThreadState::Stopped { module, line, .. } => format!(" {}", self.function_at(module, *line)),
            ThreadState::PostMortem { module: Some(m), line: Some(l), .. } => format!(" {}", self.function_at(m, *l)),
            ThreadState::Suspended => " (suspended)".to_string(),
            _ => String::new(),
        };
        format!("{} {pid}{who}{at}", t.node)
    }

    fn function_at(&self, module: &str, line: u32) -> String {
        if let Some(ml) = self.lines.get(module) {
            if let Some((f, a, _, _)) = ml.functions.iter().find(|(_, _, first, last)| *first <= line && line <= *last)
            {
                return function_display(module, f, *a);
            }
        }
        module_display(module)
    }

    fn lang_of(&self, module: &str) -> Lang {
        Lang::of_module(module)
    }

    fn render(&self, node: &str, lang: Lang, value: &Term) -> String {
        let ctx = RenderContext {
            local_node: Some(node.to_string()),
            struct_fields: self.struct_fields.clone(),
            ..RenderContext::new(Limits::default())
        };
        match lang {
            Lang::Elixir => render_elixir_with(value, &ctx),
            Lang::Erlang => render_erlang_with(value, &ctx),
        }
    }

    /// Learns, once per module, the declared field order of the structs inside `values`.
    async fn learn_structs(&mut self, node: &str, values: &[&Term]) {
        let mut wanted = BTreeSet::new();
        for v in values {
            struct_modules(v, &mut wanted);
        }
        wanted.retain(|m| !self.struct_fields.contains_key(m));
        if wanted.is_empty() {
            return;
        }
        let mods = list(wanted.iter().map(atom).collect());
        if let Ok(r) = self.cluster.call(node, "orbit_dbg", "struct_fields", vec![mods], CALL).await {
            for e in as_list(&r).map(|l| l.to_vec()).unwrap_or_default() {
                if let Some([m, fields]) = as_tuple(&e).and_then(|t| <&[Term; 2]>::try_from(t).ok()) {
                    if let (Some(m), Some(fields)) = (as_atom(m), as_list(fields)) {
                        let names = fields.iter().filter_map(as_atom).map(str::to_string).collect();
                        self.struct_fields.insert(m.to_string(), names);
                    }
                }
            }
        }
        // Modules that are no structs here (or did not answer) are not asked about again.
        for m in wanted {
            self.struct_fields.entry(m).or_default();
        }
    }

    /// A value summary from `orbit_dbg` ({Summary, Kind, Size}) as a variable.
    /// `value` is what `orbit_dbg` reports of a value: (summary, kind, size).
    fn variable(
        &mut self,
        node: &str,
        lang: Lang,
        name: String,
        value: (&Term, &Term, &Term),
        root: Option<(Term, Vec<Term>)>,
    ) -> VariableInfo {
        let (summary, kind, size) = value;
        let kind = as_atom(kind).unwrap_or("scalar").to_string();
        let size = as_integer(size).unwrap_or(0).max(0) as u64;
        let is_struct = kind == "map" && crate::term::map_get_atom(summary, "__struct__").is_some();
        let container = matches!(kind.as_str(), "map" | "list" | "tuple") && size > 0;
        let value = self.render(node, lang, summary);
        let type_name = Some(match (kind.as_str(), is_struct) {
            ("map", true) => crate::term::map_get_atom(summary, "__struct__")
                .and_then(as_atom)
                .map(module_display)
                .unwrap_or_else(|| "struct".into()),
            (k, _) => k.to_string(),
        });
        let mut var = VariableInfo {
            name,
            value,
            type_name,
            variables_reference: 0,
            named_variables: None,
            indexed_variables: None,
            evaluate_name: None,
        };
        if let (true, Some((root, path))) = (container, root) {
            var.variables_reference = self.new_ref(VarRoot::Value {
                node: node.to_string(),
                root,
                path,
                lang,
                is_struct,
                kind: kind.clone(),
            });
            if kind == "map" {
                var.named_variables = Some(size);
            } else {
                var.indexed_variables = Some(size);
            }
        }
        var
    }

    fn breakpoint_ids_at(&self, module: &str, line: u32) -> Vec<i64> {
        self.breakpoints
            .iter()
            .filter(|b| b.points().iter().any(|(m, l)| m == module && *l == line))
            .map(|b| b.id)
            .collect()
    }

    /// What `orbit_dbg:set_condition/2` stores for a breakpoint with a condition, hit count or log message.
    fn condition_spec(&self, bp: &Bp) -> Result<Term, String> {
        let (module, line) = bp.at.clone().ok_or("the breakpoint holds nowhere")?;
        let hit = match bp.spec.hit_condition.as_deref().map(HitCondition::parse).transpose()? {
            None => atom("none"),
            Some(HitCondition::Exactly(n)) => tuple(vec![atom("eq"), int(n as i64)]),
            Some(HitCondition::AtLeast(n)) => tuple(vec![atom("ge"), int(n as i64)]),
            Some(HitCondition::MoreThan(n)) => tuple(vec![atom("gt"), int(n as i64)]),
            Some(HitCondition::EveryNth(n)) => tuple(vec![atom("mod"), int(n as i64)]),
        };
        let opt = |s: &Option<String>| match s {
            Some(x) if !x.trim().is_empty() => binary(x.as_bytes()),
            _ => atom("undefined"),
        };
        Ok(map(vec![
            (atom("id"), int(bp.id)),
            (atom("module"), atom(&module)),
            (atom("line"), int(line as i64)),
            (atom("lang"), atom(bp.lang.as_str())),
            (atom("condition"), opt(&bp.spec.condition)),
            (atom("hit"), hit),
            (atom("log"), opt(&bp.spec.log_message)),
            (atom("events"), Term::from(self.events_pid.clone())),
        ]))
    }

    /// Installs `bp` in the interpreter server at each of its points (the line it took, and for a
    /// function breakpoint the first line of every other clause), with its condition on every node.
    async fn set_in_server(&mut self, bp: &mut Bp) -> Result<(), String> {
        // Every breakpoint has a slot, so that the agent sees every check of it and stops once per pass.
        let condition;
        {
            let spec = self.condition_spec(bp)?;
            let slot = self.free_slots.pop_first().ok_or("too many breakpoints in one session (256 at most)")?;
            bp.slot = Some(slot);
            let nodes: Vec<String> = self.ready_nodes.iter().cloned().collect();
            let answers = futures::future::join_all(nodes.iter().map(|n| {
                self.cluster.call(n, "orbit_dbg", "set_condition", vec![int(slot as i64), spec.clone()], CALL)
            }))
            .await;
            for (node, a) in nodes.iter().zip(answers) {
                match a {
                    Ok(t) if is_atom(&t, "ok") => {}
                    Ok(t) => {
                        let msg = as_tuple(&t).and_then(|p| p.get(1)).map(text).unwrap_or_else(|| text(&t));
                        return Err(format!("{}: {msg}", if bp.lang == Lang::Elixir { "Elixir" } else { "Erlang" }));
                    }
                    Err(e) => tracing::warn!("{node}: {e}"),
                }
            }
            condition = tuple(vec![atom("orbit_dbg_cond"), atom(format!("b{slot}"))]);
        }
        let link = self.cluster.link(&self.server_node).ok_or("the interpreter's node is not connected")?;
        for (module, line) in bp.points() {
            let request = tuple(vec![
                atom("new_break"),
                tuple(vec![atom(&module), int(line as i64)]),
                list(vec![atom("active"), atom("enable"), atom("null"), condition.clone()]),
            ]);
            match rpc::gen_call(&link, &self.server, request, CALL).await {
                Ok(t) if is_atom(&t, "ok") => {}
                Ok(t) if as_tuple(&t).is_some_and(|p| p.len() == 2 && is_atom(&p[1], "break_exists")) => {
                    return Err(format!("another breakpoint already holds at {}:{line}", module_display(&module)));
                }
                Ok(t) => return Err(text(&t)),
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }

    async fn remove_from_server(&mut self, bp: &Bp) {
        if let Some(link) = self.cluster.link(&self.server_node) {
            for (module, line) in bp.points() {
                let point = tuple(vec![atom(&module), int(line as i64)]);
                let _ = rpc::gen_cast(&link, &self.server, tuple(vec![atom("delete_break"), point]));
            }
        }
        if let Some(slot) = bp.slot {
            let nodes: Vec<String> = self.ready_nodes.iter().cloned().collect();
            futures::future::join_all(nodes.iter().map(|n| {
                self.cluster.call(n, "orbit_dbg", "clear_conditions", vec![list(vec![int(slot as i64)])], CALL)
            }))
            .await;
            self.free_slots.insert(slot);
        }
    }

    /// Resolves and installs one breakpoint; on failure it stays unverified with the reason.
    async fn install(&mut self, mut bp: Bp, modules: &[String]) -> Bp {
        // The module whose code spans the line (nested modules share a file), else the first with code after it.
        let mut candidates = Vec::new();
        for m in modules {
            match self.module_lines(m).await {
                Ok(ml) => candidates.push((m.clone(), ml)),
                Err(e) => bp.message = Some(e.0),
            }
        }
        let req = bp.requested_line;
        let spans = |ml: &ModuleLines| ml.functions.iter().map(|(_, _, a, b)| (*a, *b)).collect::<Vec<_>>();
        let containing = candidates
            .iter()
            .filter(|(_, ml)| ml.functions.iter().any(|(_, _, a, b)| *a <= req && req <= *b))
            .min_by_key(|(_, ml)| ml.functions.iter().map(|(_, _, a, b)| b - a).min().unwrap_or(u32::MAX));
        let choice = containing.cloned().or_else(|| {
            candidates
                .iter()
                .filter_map(|(m, ml)| ml.lines.iter().find(|l| **l >= req).map(|l| (*l, m.clone(), ml.clone())))
                .min_by_key(|(l, _, _)| *l)
                .map(|(_, m, ml)| (m, ml))
        });
        let Some((module, ml)) = choice else {
            if bp.message.is_none() {
                bp.message = Some(format!("no code at or after line {req} in this file"));
            }
            return bp;
        };
        let line = match resolve_line(req, &ml.lines, &spans(&ml)) {
            Ok(l) => l,
            Err(e) => {
                bp.message = Some(e);
                return bp;
            }
        };
        if let Err(e) = self.interpret(&module).await {
            bp.message = Some(e.0);
            return bp;
        }
        bp.at = Some((module.clone(), line));
        let at = bp.at.clone();
        bp.extra.retain(|p| Some(p) != at.as_ref());
        bp.extra.sort();
        bp.extra.dedup();
        match self.set_in_server(&mut bp).await {
            Ok(()) => {
                bp.message =
                    if line != req { Some(format!("moved from line {req} to the next line with code")) } else { None };
            }
            Err(e) => {
                if let Some(slot) = bp.slot.take() {
                    self.free_slots.insert(slot);
                }
                bp.at = None;
                bp.extra.clear();
                bp.message = Some(e);
            }
        }
        bp
    }

    fn unverified(
        &mut self,
        source: Option<PathBuf>,
        function: Option<String>,
        spec: LineBreakpoint,
        lang: Lang,
        why: String,
    ) -> Bp {
        let id = self.next_bp;
        self.next_bp += 1;
        Bp {
            id,
            source,
            function,
            requested_line: spec.line,
            spec,
            lang,
            at: None,
            extra: Vec::new(),
            slot: None,
            message: Some(why),
        }
    }

    fn output(text: String) -> EngineEvent {
        EngineEvent::Output { category: OutputCategory::Console, text }
    }

    /// A process stopped in interpreted code (break_at), or is reported as such.
    async fn on_break(&mut self, id: i64, module: String, line: u32, level: i64) -> Vec<EngineEvent> {
        let Some(t) = self.threads.get_mut(&id) else { return Vec::new() };
        if t.echoes > 0 {
            t.echoes -= 1;
            return Vec::new();
        }
        // A step stops at the next expression, which can be a nested one of the line it started from: the
        // agent applies the pass rule (orbit_dbg's pass_check) and steps again if so. Breakpoint checks
        // of nested expressions never get here: the agent answers them in the interpreter.
        if let Some((how @ (Resume::Next | Resume::StepIn), m, l, le)) = t.last_resume.clone() {
            if m == module && l == line && le == level && !t.pausing {
                if let Some(meta) = t.meta.clone() {
                    let node = t.node.clone();
                    let args = vec![Term::from(meta), atom(meta_command(how))];
                    match self.cluster.call(&node, "orbit_dbg", "step_landed", args, CALL).await {
                        Ok(r) if is_atom(&r, "again") => return Vec::new(),
                        Ok(_) => {}
                        Err(e) => tracing::warn!("{node}: {e}"),
                    }
                }
            }
        }
        let Some(t) = self.threads.get_mut(&id) else { return Vec::new() };
        let came_back = t.state == ThreadState::Exited;
        let reason = if t.pausing {
            StopReason::Pause
        } else if matches!(t.last_resume, Some((Resume::Next | Resume::StepIn | Resume::StepOut, ..))) {
            StopReason::Step
        } else {
            StopReason::Breakpoint
        };
        t.pausing = false;
        t.last_resume = None;
        t.state = ThreadState::Stopped { module: module.clone(), line, level };
        let node = t.node.clone();
        let pid = t.pid.clone();
        let meta = t.meta.clone();
        let need_name = t.name.is_none();
        if need_name {
            if let Ok(Term::Tuple(r)) = self
                .cluster
                .call(&node, "erlang", "process_info", vec![Term::from(pid.clone()), atom("registered_name")], CALL)
                .await
            {
                if let Some(n) = r.elements.get(1).and_then(as_atom) {
                    if let Some(t) = self.threads.get_mut(&id) {
                        t.name = Some(module_display(n));
                    }
                }
            }
        }
        if !self.lines.contains_key(&module) {
            let _ = self.module_lines(&module).await;
        }
        let bps = if reason == StopReason::Breakpoint { self.breakpoint_ids_at(&module, line) } else { Vec::new() };
        let reason = if reason == StopReason::Breakpoint
            && bps.iter().any(|id| self.breakpoints.iter().any(|b| b.id == *id && b.function.is_some()))
        {
            StopReason::FunctionBreakpoint
        } else {
            reason
        };
        let name = self.threads.get(&id).map(|t| self.thread_name(t)).unwrap_or_default();
        let description = match reason {
            StopReason::Breakpoint | StopReason::FunctionBreakpoint => format!("breakpoint on {node}"),
            StopReason::Step => format!("step on {node}"),
            StopReason::Pause => format!("paused on {node}"),
            StopReason::Exception => format!("crash on {node}"),
        };
        // Whether a GenServer.call waits on this process: worked out after the stop is reported.
        if let Some(meta) = meta {
            let cluster = self.cluster.clone();
            let tx = self.raw_tx.clone();
            tokio::spawn(async move {
                if let Ok(r) = cluster.call(&node, "orbit_dbg", "caller", vec![Term::from(meta)], CALL).await {
                    if let Some([Term::Pid(caller)]) = ok_value(&r) {
                        let _ = tx.send(Raw::Note(format!(
                            "{name} is serving a GenServer.call from #PID<0.{}.{}> on {}: that caller gives up after its timeout (5 s by default) while this process is paused",
                            caller.id, caller.serial, caller.node.name
                        )));
                    }
                }
            });
        }
        let mut events = Vec::new();
        if came_back {
            // It left interpreted code (and was reported gone) and is back for another pass.
            events.push(EngineEvent::ThreadStarted { thread: id });
        }
        events.push(EngineEvent::Stopped {
            thread: id,
            reason,
            description,
            text: Some(self.thread_label(id)),
            breakpoints: bps,
        });
        events
    }

    fn thread_label(&self, id: i64) -> String {
        self.threads.get(&id).map(|t| self.thread_name(t)).unwrap_or_default()
    }

    async fn on_thread_message(&mut self, id: i64, d: Delivery) -> Vec<EngineEvent> {
        let Delivery::Message { body, .. } = d else { return Vec::new() };
        let Some(parts) = as_tuple(&body).map(|p| p.to_vec()) else { return Vec::new() };
        // Reply to the attach call: {Ref, {ok, Meta}} | {Ref, error}.
        if let [Term::Reference(_), reply] = parts.as_slice() {
            if let Some([Term::Pid(meta)]) = ok_value(reply) {
                if let Some(t) = self.threads.get_mut(&id) {
                    t.meta = Some(meta.clone());
                }
            } else if is_atom(reply, "error") {
                let label = self.thread_label(id);
                self.detach_thread(id);
                return vec![Self::output(format!(
                    "{label}: another debugger is attached to this process (e.g. :debugger or another Orbit)"
                ))];
            }
            return Vec::new();
        }
        let [Term::Pid(meta), msg] = parts.as_slice() else { return Vec::new() };
        if let Some(t) = self.threads.get_mut(&id) {
            // The post-mortem meta is a new process: follow whichever meta speaks.
            t.meta = Some(meta.clone());
        }
        if let Some(p) = as_tuple(msg) {
            match p {
                [tag, m, l, le] if is_atom(tag, "break_at") => {
                    let (Some(m), Some(l), Some(le)) = (as_atom(m), as_integer(l), as_integer(le)) else {
                        return Vec::new();
                    };
                    return self.on_break(id, m.to_string(), l as u32, le).await;
                }
                [tag, at, reason, _le] if is_atom(tag, "exit_at") => {
                    let (module, line) = match as_tuple(at) {
                        Some([m, l]) => (as_atom(m).map(str::to_string), as_integer(l).map(|x| x as u32)),
                        _ => (None, None),
                    };
                    if !self.filters.contains(FILTER_CRASHES) {
                        self.detach_thread(id);
                        return Vec::new();
                    }
                    let node = self.threads.get(&id).map(|t| t.node.clone()).unwrap_or_default();
                    let lang = module.as_deref().map(Lang::of_module).unwrap_or(Lang::Elixir);
                    let reason_text = self.render(&node, lang, reason);
                    if let Some(m) = &module {
                        let _ = self.module_lines(m).await;
                    }
                    if let Some(t) = self.threads.get_mut(&id) {
                        t.state = ThreadState::PostMortem { module, line, reason: reason_text.clone() };
                    }
                    return vec![EngineEvent::Stopped {
                        thread: id,
                        reason: StopReason::Exception,
                        description: format!("crash on {node}"),
                        text: Some(format!("{} crashed: {reason_text}", self.thread_label(id))),
                        breakpoints: Vec::new(),
                    }];
                }
                _ => {}
            }
        }
        if is_atom(msg, "running") {
            let was_stopped = self.threads.get(&id).is_some_and(|t| matches!(t.state, ThreadState::Stopped { .. }));
            let evaluating = self.threads.get(&id).is_some_and(|t| t.echoes > 0);
            if was_stopped && !evaluating {
                if let Some(t) = self.threads.get_mut(&id) {
                    t.state = ThreadState::Running;
                }
                self.invalidate(id);
                return vec![EngineEvent::Continued { thread: id }];
            }
        } else if is_atom(msg, "idle") {
            // Left interpreted code: no longer a thread to show until it stops again.
            if let Some(t) = self.threads.get_mut(&id) {
                if matches!(t.state, ThreadState::Running) {
                    t.state = ThreadState::Exited;
                    return vec![EngineEvent::ThreadExited { thread: id }];
                }
            }
        }
        Vec::new()
    }

    async fn on_server_event(&mut self, d: Delivery) -> Vec<EngineEvent> {
        match d {
            Delivery::Exit { from, reason } if from == self.server => {
                let why = crate::term::render_erlang(&reason, &Limits::default());
                return vec![EngineEvent::Terminated {
                    reason: format!("OTP's interpreter server on {} stopped ({why})", self.server_node),
                }];
            }
            Delivery::Message { body, .. } => {
                let Some([tag, event]) = as_tuple(&body).and_then(|p| <&[Term; 2]>::try_from(p).ok()) else {
                    return Vec::new();
                };
                if !is_atom(tag, "int") {
                    return Vec::new();
                }
                let Some(p) = as_tuple(event) else { return Vec::new() };
                match p {
                    [tag, Term::Pid(pid), status, info] if is_atom(tag, "new_status") => {
                        let pid = pid.clone();
                        if is_atom(status, "break") {
                            let (id, new) = self.thread_for(&pid);
                            let attached = self.threads.get(&id).is_some_and(|t| t.attach_pid.is_some());
                            if !attached {
                                if let Err(e) = self.attach_thread(id).await {
                                    return vec![Self::output(e.0)];
                                }
                            }
                            if new {
                                if let Some(t) = self.threads.get_mut(&id) {
                                    t.state = ThreadState::Running;
                                }
                                return vec![EngineEvent::ThreadStarted { thread: id }];
                            }
                        } else if is_atom(status, "exit") {
                            let abnormal = !(is_atom(info, "normal") || is_atom(info, "shutdown"));
                            if abnormal && self.filters.contains(FILTER_CRASHES) {
                                let (id, new) = self.thread_for(&pid);
                                if let Err(e) = self.attach_thread(id).await {
                                    return vec![Self::output(e.0)];
                                }
                                if new {
                                    return vec![EngineEvent::ThreadStarted { thread: id }];
                                }
                            } else if let Some(&id) = self.by_pid.get(&pid) {
                                let shown = self.threads.get(&id).is_some_and(|t| t.state != ThreadState::Exited);
                                self.detach_thread(id);
                                if let Some(t) = self.threads.get_mut(&id) {
                                    t.state = ThreadState::Exited;
                                }
                                self.invalidate(id);
                                if shown {
                                    return vec![EngineEvent::ThreadExited { thread: id }];
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn on_node_message(&mut self, d: Delivery) -> Vec<EngineEvent> {
        let Delivery::Message { body, .. } = d else { return Vec::new() };
        let Some(p) = as_tuple(&body) else { return Vec::new() };
        match p {
            [tag, _id, node, Term::Pid(pid), text_t] if is_atom(tag, "orbit_dbg_log") => {
                let node = as_atom(node).unwrap_or("?");
                vec![EngineEvent::Output {
                    category: OutputCategory::Console,
                    text: format!("[{node} #PID<0.{}.{}>] {}\n", pid.id, pid.serial, text(text_t)),
                }]
            }
            [tag, node, who, report, frames, reason] if is_atom(tag, "orbit_crash") => {
                if !self.filters.contains(FILTER_CRASH_REPORTS) {
                    return Vec::new();
                }
                let node = as_atom(node).unwrap_or("?").to_string();
                let who = match who {
                    Term::Pid(p) => format!("#PID<0.{}.{}>", p.id, p.serial),
                    other => self.render(&node, Lang::Elixir, other),
                };
                let mut out = format!("crash on {node}: {who} exited: {}\n", self.render(&node, Lang::Elixir, reason));
                for f in as_list(frames).map(|l| l.to_vec()).unwrap_or_default() {
                    if let Some([m, fun, a, file, line]) = as_tuple(&f).and_then(|t| <&[Term; 5]>::try_from(t).ok()) {
                        let (Some(m), Some(fun), Some(a)) = (as_atom(m), as_atom(fun), as_integer(a)) else { continue };
                        let place = match (self.index.path_of(m), as_integer(line)) {
                            (Some(p), Some(l)) => format!("{}:{l}", p.display()),
                            (None, Some(l)) => format!("{}:{l}", as_str(file).unwrap_or("?")),
                            _ => String::new(),
                        };
                        out.push_str(&format!("    {} {place}\n", function_display(m, fun, a as u32)));
                    }
                }
                if out.lines().count() == 1 {
                    let t = text(report);
                    if !t.is_empty() {
                        out.push_str(&t);
                        out.push('\n');
                    }
                }
                vec![EngineEvent::Output { category: OutputCategory::Stderr, text: out }]
            }
            _ => Vec::new(),
        }
    }

    async fn on_cluster_event(&mut self, e: ClusterEvent) -> Vec<EngineEvent> {
        match e {
            ClusterEvent::NodeUp { node } => {
                if self.ended {
                    return Vec::new();
                }
                // Prepare it off the loop, then report.
                let mut lines = self.prepare_node(&node).await;
                // Conditions live per node: give the newcomer the current ones before its calls go through
                // the interpreter (a breakpoint without its condition on a node does not stop there).
                let bps: Vec<Bp> = self.breakpoints.iter().filter(|b| b.slot.is_some()).cloned().collect();
                for bp in bps {
                    let _ = self.push_condition(&node, &bp).await;
                }
                let mods: Vec<(String, Term)> =
                    self.interpreted.iter().map(|(m, s)| (m.clone(), s.md5.clone())).collect();
                for (m, md5) in &mods {
                    let mut done = BTreeSet::new();
                    lines.extend(self.interpret_on_nodes(m, md5, std::slice::from_ref(&node), &mut done).await);
                    if let Some(s) = self.interpreted.get_mut(m) {
                        s.nodes.extend(done);
                    }
                }
                self.register_cleanup(&node).await;
                let n = self.breakpoints.iter().filter(|b| b.at.is_some()).count();
                let mut out = vec![Self::output(format!(
                    "{node} joined: {} interpreted module(s) and {n} breakpoint(s) now hold there too\n",
                    mods.len()
                ))];
                out.extend(lines.into_iter().map(|l| Self::output(format!("{l}\n"))));
                out
            }
            ClusterEvent::NodeDown { node, reason } => {
                self.ready_nodes.remove(&node);
                let mut out = vec![Self::output(format!(
                    "{node} left the cluster ({reason}); the session goes on with the other nodes\n"
                ))];
                let gone: Vec<i64> = self
                    .threads
                    .values()
                    .filter(|t| t.node == node && t.state != ThreadState::Exited)
                    .map(|t| t.id)
                    .collect();
                for id in gone {
                    if let Some(t) = self.threads.get_mut(&id) {
                        t.state = ThreadState::Exited;
                        t.attach_pid = None;
                        if let Some(f) = t.forwarder.take() {
                            f.abort();
                        }
                    }
                    self.invalidate(id);
                    out.push(EngineEvent::ThreadExited { thread: id });
                }
                if node == self.server_node {
                    out.push(EngineEvent::Terminated {
                        reason: format!("{node}, which ran OTP's interpreter server for this session, is gone"),
                    });
                }
                out
            }
        }
    }

    async fn push_condition(&self, node: &str, bp: &Bp) -> Result<(), String> {
        let Some(slot) = bp.slot else { return Ok(()) };
        let spec = self.condition_spec(bp)?;
        self.cluster
            .call(node, "orbit_dbg", "set_condition", vec![int(slot as i64), spec], CALL)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn thread(&self, id: i64) -> Result<&Thread, DebugError> {
        self.threads
            .get(&id)
            .filter(|t| t.state != ThreadState::Exited)
            .ok_or_else(|| DebugError(format!("no thread {id}")))
    }

    /// `/pause <pid | registered name> [on <node>]` from the debug console.
    async fn console_pause(&mut self, args: &str) -> Result<VariableInfo, DebugError> {
        let mut words = args.split_whitespace();
        let who =
            words.next().ok_or_else(|| DebugError::new("usage: /pause <pid | registered name> [on node@host]"))?;
        let node = match (words.next(), words.next()) {
            (Some("on"), Some(n)) => n.to_string(),
            (None, _) => self.entry.clone(),
            _ => return Err(DebugError::new("usage: /pause <pid | registered name> [on node@host]")),
        };
        let pid_term = if let Some(inner) = who
            .strip_prefix("#PID<")
            .and_then(|s| s.strip_suffix('>'))
            .or_else(|| who.strip_prefix('<').and_then(|s| s.strip_suffix('>')))
        {
            let parts: Vec<&str> = inner.split('.').collect();
            if parts.len() != 3 {
                return Err(DebugError(format!("'{who}' is not a pid (#PID<0.123.0>)")));
            }
            let lst = format!("<{}.{}.{}>", parts[0], parts[1], parts[2]);
            self.cluster
                .call(&node, "erlang", "list_to_pid", vec![Term::from(eetf::ByteList::from(lst.as_str()))], CALL)
                .await
                .map_err(|e| DebugError(format!("'{who}' is not a pid on {node}: {e}")))?
        } else {
            let name = if who.starts_with(|c: char| c.is_ascii_uppercase()) {
                format!("Elixir.{who}")
            } else {
                who.trim_start_matches(':').to_string()
            };
            let r = self.cluster.call(&node, "erlang", "whereis", vec![atom(&name)], CALL).await.map_err(rpc_err)?;
            if is_atom(&r, "undefined") {
                return Err(DebugError(format!("no process is registered as {who} on {node}")));
            }
            r
        };
        let Term::Pid(pid) = pid_term else { return Err(DebugError(format!("'{who}' is not a process on {node}"))) };
        let (id, new) = self.thread_for(&pid);
        let mut events = Vec::new();
        if new {
            events.push(EngineEvent::ThreadStarted { thread: id });
        }
        events.extend(self.pause(id).await?);
        self.pending_events.extend(events);
        Ok(blank_variable(format!("paused {}", self.thread_label(id))))
    }
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

fn meta_command(how: Resume) -> &'static str {
    match how {
        Resume::Continue => "continue",
        Resume::Next => "next",
        Resume::StepIn => "step",
        Resume::StepOut => "finish",
    }
}

fn meta_cmd_msg(cmd: &str) -> Term {
    tuple(vec![atom("user"), tuple(vec![atom("cmd"), atom(cmd)])])
}

/// Struct modules (`__struct__` values) anywhere in `t`, without recursion.
fn struct_modules(t: &Term, out: &mut BTreeSet<String>) {
    let mut stack = vec![t];
    while let Some(t) = stack.pop() {
        match t {
            Term::Map(m) => {
                if let Some(Term::Atom(a)) = m.map.get(&atom("__struct__")) {
                    out.insert(a.name.clone());
                }
                stack.extend(m.map.values());
            }
            Term::List(l) => stack.extend(l.elements.iter()),
            Term::ImproperList(l) => stack.extend(l.elements.iter()),
            Term::Tuple(t) => stack.extend(t.elements.iter()),
            _ => {}
        }
    }
}

fn sp_term(sp: Option<i64>) -> Term {
    match sp {
        Some(l) => int(l),
        None => atom("nostack"),
    }
}

fn blank_variable(value: String) -> VariableInfo {
    VariableInfo {
        name: String::new(),
        value,
        type_name: None,
        variables_reference: 0,
        named_variables: None,
        indexed_variables: None,
        evaluate_name: None,
    }
}

impl IntEngine {
    async fn retry_pending_breakpoints(&mut self) -> Vec<EngineEvent> {
        let pending: Vec<usize> = self
            .breakpoints
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                b.at.is_none()
                    && b.source.is_some()
                    && b.function.is_none()
                    && b.message.as_deref().is_some_and(|m| m.starts_with("no module"))
            })
            .map(|(i, _)| i)
            .collect();
        if pending.is_empty() {
            return Vec::new();
        }
        self.refresh_index().await;
        let mut events = Vec::new();
        for i in pending {
            let bp = self.breakpoints[i].clone();
            let modules = self.index.modules_for(bp.source.as_deref().unwrap_or(Path::new("")));
            if modules.is_empty() {
                continue;
            }
            let bp = self.install(bp, &modules).await;
            if bp.at.is_some() {
                events.push(EngineEvent::Breakpoint(bp.status()));
            }
            self.breakpoints[i] = bp;
        }
        if !events.is_empty() {
            self.register_cleanup_everywhere().await;
        }
        events
    }

    fn no_module_message(file: &Path) -> String {
        format!(
            "no module compiled from {} is loaded on any node yet; the breakpoint will hold when one is",
            file.display()
        )
    }

    async fn node_lang(&self, node: &str) -> Lang {
        match self.cluster.call(node, "code", "is_loaded", vec![atom("Elixir.Code")], CALL).await {
            Ok(t) if as_tuple(&t).is_some() => Lang::Elixir,
            _ => Lang::Erlang,
        }
    }

    /// A frame's variables as `orbit_dbg:scope/3` summarises them: `{Name, Summary, Kind, Size, RawVar}`.
    async fn frame_variables(
        &self,
        node: &str,
        meta: &Pid,
        sp: Option<i64>,
        lang: Lang,
    ) -> Result<Vec<Term>, DebugError> {
        let args = vec![Term::from(meta.clone()), sp_term(sp), atom(lang.as_str())];
        let r = self.cluster.call(node, "orbit_dbg", "scope", args, CALL).await.map_err(rpc_err)?;
        ok_value(&r).and_then(|v| as_list(&v[0]).map(|l| l.to_vec())).ok_or_else(|| DebugError(text(&r)))
    }

    async fn forget_stored(&mut self, thread: i64) {
        let (node, refs) = match self.threads.get_mut(&thread) {
            Some(t) if !t.stored.is_empty() => (t.node.clone(), std::mem::take(&mut t.stored)),
            _ => return,
        };
        let cluster = self.cluster.clone();
        tokio::spawn(async move {
            let refs = list(refs.into_iter().map(int).collect());
            let _ = cluster.call(&node, "orbit_dbg", "forget", vec![refs], CALL).await;
        });
    }
}

impl Engine for IntEngine {
    type Raw = Raw;

    async fn next_raw(&mut self) -> Option<Raw> {
        self.raw_rx.recv().await
    }

    async fn handle_raw(&mut self, raw: Raw) -> Vec<EngineEvent> {
        if self.ended {
            return Vec::new();
        }
        match raw {
            Raw::Server(d) => {
                tracing::trace!("from the interpreter server: {d:?}");
                self.on_server_event(d).await
            }
            Raw::Thread(id, d) => {
                tracing::trace!(thread = id, "from the interpreter: {d:?}");
                self.on_thread_message(id, d).await
            }
            Raw::Node(d) => self.on_node_message(d),
            Raw::Cluster(e) => self.on_cluster_event(e).await,
            Raw::Note(text) if !text.is_empty() => vec![Self::output(format!("{text}\n"))],
            Raw::Note(_) => Vec::new(),
            Raw::Tick => self.retry_pending_breakpoints().await,
        }
    }

    fn drain_events(&mut self) -> Vec<EngineEvent> {
        std::mem::take(&mut self.pending_events)
    }

    async fn set_breakpoints(&mut self, file: &Path, breakpoints: Vec<LineBreakpoint>) -> Vec<BreakpointStatus> {
        let lang = Lang::of_path(file);
        let (old, keep): (Vec<Bp>, Vec<Bp>) = std::mem::take(&mut self.breakpoints)
            .into_iter()
            .partition(|b| b.function.is_none() && b.source.as_deref() == Some(file));
        self.breakpoints = keep;
        for b in &old {
            self.remove_from_server(b).await;
        }
        let mut modules = self.index.modules_for(file);
        if modules.is_empty() {
            self.refresh_index().await;
            modules = self.index.modules_for(file);
        }
        let mut out = Vec::new();
        for spec in breakpoints {
            let bp = if modules.is_empty() {
                self.unverified(Some(file.to_path_buf()), None, spec, lang, Self::no_module_message(file))
            } else {
                let bp = self.unverified(Some(file.to_path_buf()), None, spec, lang, String::new());
                let mut bp = Bp { message: None, ..bp };
                bp = self.install(bp, &modules).await;
                bp
            };
            out.push(bp.status());
            self.breakpoints.push(bp);
        }
        self.register_cleanup_everywhere().await;
        out
    }

    async fn set_function_breakpoints(
        &mut self,
        functions: Vec<(String, Option<String>, Option<String>)>,
    ) -> Vec<BreakpointStatus> {
        let (old, keep): (Vec<Bp>, Vec<Bp>) =
            std::mem::take(&mut self.breakpoints).into_iter().partition(|b| b.function.is_some());
        self.breakpoints = keep;
        for b in &old {
            self.remove_from_server(b).await;
        }
        let mut out = Vec::new();
        for (name, condition, hit_condition) in functions {
            let spec = LineBreakpoint { line: 0, condition, hit_condition, log_message: None };
            let bp = match parse_function_ref(&name) {
                Err(e) => self.unverified(None, Some(name.clone()), spec, Lang::Elixir, e),
                Ok((module, fun, arity)) => {
                    let lang = Lang::of_module(&module);
                    let source = self.index.path_of(&module).map(Path::to_path_buf);
                    match self.module_lines(&module).await {
                        Err(e) => self.unverified(source, Some(name.clone()), spec, lang, e.0),
                        Ok(ml) => match ml.functions.iter().find(|(f, a, _, _)| *f == fun && *a == arity) {
                            None => {
                                let why = format!("{} has no function {fun}/{arity}", module_display(&module));
                                self.unverified(source, Some(name.clone()), spec, lang, why)
                            }
                            Some((_, _, first, _)) => {
                                let first = *first;
                                let mut bp = self.unverified(source, Some(name.clone()), spec, lang, String::new());
                                bp.requested_line = first;
                                bp.spec.line = first;
                                bp.message = None;
                                // Every clause stops, not only the first: its other clauses' first lines too.
                                let clause_lines = ml.clauses.get(&(fun.clone(), arity)).cloned().unwrap_or_default();
                                bp.extra = clause_lines
                                    .iter()
                                    .skip(1)
                                    .filter(|l| **l > 0 && ml.lines.contains(l))
                                    .map(|l| (module.clone(), *l))
                                    .collect();
                                self.install(bp, &[module]).await
                            }
                        },
                    }
                }
            };
            out.push(bp.status());
            self.breakpoints.push(bp);
        }
        self.register_cleanup_everywhere().await;
        out
    }

    async fn set_exception_filters(&mut self, filters: &[String]) -> Result<(), DebugError> {
        let known = [FILTER_CRASHES, FILTER_CRASH_REPORTS];
        if let Some(bad) = filters.iter().find(|f| !known.contains(&f.as_str())) {
            return Err(DebugError(format!("unknown exception filter '{bad}' (known: {})", known.join(", "))));
        }
        let wanted: BTreeSet<String> = filters.iter().cloned().collect();
        let reports_now = wanted.contains(FILTER_CRASH_REPORTS);
        let reports_before = self.filters.contains(FILTER_CRASH_REPORTS);
        self.filters = wanted;
        if reports_now != reports_before {
            let nodes: Vec<String> = self.ready_nodes.iter().cloned().collect();
            let events = Term::from(self.events_pid.clone());
            let results = futures::future::join_all(nodes.iter().map(|n| {
                let (f, args) = if reports_now {
                    ("install_crash_forwarder", vec![events.clone()])
                } else {
                    ("remove_crash_forwarder", vec![])
                };
                self.cluster.call(n, "orbit_dbg", f, args, CALL)
            }))
            .await;
            for r in results {
                r.map_err(rpc_err)?;
            }
        }
        Ok(())
    }

    async fn breakpoint_locations(&mut self, file: &Path, line: u32, end_line: Option<u32>) -> Vec<u32> {
        let mut modules = self.index.modules_for(file);
        if modules.is_empty() {
            self.refresh_index().await;
            modules = self.index.modules_for(file);
        }
        let end = end_line.unwrap_or(line).max(line);
        let mut out = BTreeSet::new();
        for m in modules {
            if let Ok(ml) = self.module_lines(&m).await {
                out.extend(ml.lines.iter().copied().filter(|l| *l >= line && *l <= end));
            }
        }
        out.into_iter().collect()
    }

    fn threads(&self) -> Vec<ThreadInfo> {
        self.threads
            .values()
            .filter(|t| t.state != ThreadState::Exited)
            .map(|t| ThreadInfo { id: t.id, name: self.thread_name(t) })
            .collect()
    }

    async fn stack_trace(&mut self, thread: i64) -> Result<Vec<FrameInfo>, DebugError> {
        let t = self.thread(thread)?;
        let node = t.node.clone();
        let pid = t.pid.clone();
        let meta = t.meta.clone();
        let state = t.state.clone();
        let mut out = Vec::new();
        match state {
            ThreadState::Stopped { ref module, line, .. }
            | ThreadState::PostMortem { module: Some(ref module), line: Some(line), .. } => {
                let meta =
                    meta.ok_or_else(|| DebugError::new("the interpreter has not answered for this process yet"))?;
                let r = self
                    .cluster
                    .call(&node, "orbit_dbg", "stack", vec![Term::from(meta)], CALL)
                    .await
                    .map_err(rpc_err)?;
                let frames = ok_value(&r).and_then(|v| as_list(&v[0]).map(|l| l.to_vec())).unwrap_or_default();
                for (i, f) in frames.iter().enumerate() {
                    let Some([le, m, fun, arity, fline]) = as_tuple(f).and_then(|t| <&[Term; 5]>::try_from(t).ok())
                    else {
                        continue;
                    };
                    let (Some(le), Some(m), Some(fun), Some(arity)) =
                        (as_integer(le), as_atom(m), as_atom(fun), as_integer(arity))
                    else {
                        continue;
                    };
                    let fline = if i == 0 && m == module { line } else { as_integer(fline).unwrap_or(0) as u32 };
                    let id = self.next_ref;
                    self.next_ref += 1;
                    let lang = self.lang_of(m);
                    self.frames.insert(
                        id,
                        FrameRef { thread, sp: if i == 0 { None } else { Some(le) }, lang, interpreted: true },
                    );
                    // A post-mortem meta knows the module of the frame that crashed but not its function.
                    let name = if fun == "undefined" && i == 0 {
                        self.function_at(m, fline)
                    } else {
                        function_display(m, fun, arity as u32)
                    };
                    out.push(FrameInfo {
                        id,
                        name,
                        source: self.index.path_of(m).map(Path::to_path_buf),
                        line: fline,
                        subtle: false,
                    });
                }
                if out.is_empty() {
                    // The post-mortem meta may know no stack: show where it crashed.
                    let id = self.next_ref;
                    self.next_ref += 1;
                    self.frames
                        .insert(id, FrameRef { thread, sp: None, lang: self.lang_of(module), interpreted: true });
                    out.push(FrameInfo {
                        id,
                        name: self.function_at(module, line),
                        source: self.index.path_of(module).map(Path::to_path_buf),
                        line,
                        subtle: false,
                    });
                }
            }
            ThreadState::Suspended | ThreadState::PostMortem { .. } => {
                let r = self
                    .cluster
                    .call(&node, "orbit_dbg", "current_stack", vec![Term::from(pid)], CALL)
                    .await
                    .map_err(rpc_err)?;
                let frames = ok_value(&r).and_then(|v| as_list(&v[0]).map(|l| l.to_vec())).unwrap_or_default();
                for f in frames {
                    let Some([m, fun, arity, file, line]) = as_tuple(&f).and_then(|t| <&[Term; 5]>::try_from(t).ok())
                    else {
                        continue;
                    };
                    let (Some(m), Some(fun), Some(arity)) = (as_atom(m), as_atom(fun), as_integer(arity)) else {
                        continue;
                    };
                    let id = self.next_ref;
                    self.next_ref += 1;
                    self.frames.insert(id, FrameRef { thread, sp: None, lang: self.lang_of(m), interpreted: false });
                    let source = self
                        .index
                        .path_of(m)
                        .map(Path::to_path_buf)
                        .or_else(|| as_str(file).map(|f| self.local_path(f)));
                    out.push(FrameInfo {
                        id,
                        name: function_display(m, fun, arity as u32),
                        source,
                        line: as_integer(line).unwrap_or(0) as u32,
                        subtle: true,
                    });
                }
            }
            ThreadState::Running | ThreadState::Exited => {
                return Err(DebugError(format!("thread {thread} is running: pause it to see its stack")));
            }
        }
        Ok(out)
    }

    async fn scopes(&mut self, frame: i64) -> Result<Vec<ScopeInfo>, DebugError> {
        let f = *self
            .frames
            .get(&frame)
            .ok_or_else(|| DebugError(format!("no frame {frame} (the process may have moved on)")))?;
        let mut out = Vec::new();
        if f.interpreted {
            let r = self.new_ref(VarRoot::Frame { thread: f.thread, sp: f.sp, lang: f.lang });
            out.push(ScopeInfo {
                name: "Locals".into(),
                variables_reference: r,
                named_variables: None,
                expensive: false,
            });
        }
        let r = self.new_ref(VarRoot::Process { thread: f.thread });
        out.push(ScopeInfo { name: "Process".into(), variables_reference: r, named_variables: None, expensive: false });
        Ok(out)
    }

    async fn variables(
        &mut self,
        reference: i64,
        start: Option<u64>,
        count: Option<u64>,
    ) -> Result<Vec<VariableInfo>, DebugError> {
        let root =
            self.vars.get(&reference).cloned().ok_or_else(|| {
                DebugError(format!("no variables reference {reference} (the process may have moved on)"))
            })?;
        match root {
            VarRoot::Frame { thread, sp, lang } => {
                let t = self.thread(thread)?;
                let node = t.node.clone();
                let meta = t.meta.clone().ok_or_else(|| DebugError::new("no interpreter frame for this process"))?;
                let items = self.frame_variables(&node, &meta, sp, lang).await?;
                self.learn_structs(&node, &items.iter().collect::<Vec<_>>()).await;
                let mut out = Vec::new();
                for item in items {
                    let Some([name, summary, kind, size, raw]) =
                        as_tuple(&item).and_then(|t| <&[Term; 5]>::try_from(t).ok())
                    else {
                        continue;
                    };
                    let name = text(name);
                    let root = tuple(vec![atom("binding"), Term::from(meta.clone()), sp_term(sp), raw.clone()]);
                    let mut v = self.variable(&node, lang, name.clone(), (summary, kind, size), Some((root, vec![])));
                    if !name.contains(' ') {
                        v.evaluate_name = Some(name);
                    }
                    out.push(v);
                }
                Ok(out)
            }
            VarRoot::Process { thread } => {
                let t = self.thread(thread)?;
                let (node, pid) = (t.node.clone(), t.pid.clone());
                let r = self
                    .cluster
                    .call(&node, "orbit_dbg", "process_scope", vec![Term::from(pid.clone())], CALL)
                    .await
                    .map_err(rpc_err)?;
                let info =
                    ok_value(&r).map(|v| v[0].clone()).ok_or_else(|| DebugError(format!("{}: {}", node, text(&r))))?;
                self.learn_structs(&node, &[&info]).await;
                let Term::Map(m) = &info else { return Ok(Vec::new()) };
                let order = [
                    "node",
                    "registered_name",
                    "status",
                    "current_function",
                    "initial_call",
                    "message_queue_len",
                    "messages",
                    "links",
                    "monitors",
                    "memory",
                    "reductions",
                    "ancestors",
                ];
                let mut out = Vec::new();
                for key in order {
                    let Some(value) = m.map.get(&atom(key)) else { continue };
                    let (kind, size) = match value {
                        Term::List(l) => ("list", l.elements.len()),
                        Term::ByteList(b) => ("list", b.bytes.len()),
                        Term::Tuple(t) => ("tuple", t.elements.len()),
                        Term::Map(m) => ("map", m.map.len()),
                        _ => ("scalar", 0),
                    };
                    let root = tuple(vec![atom("process"), Term::from(pid.clone())]);
                    let v = self.variable(
                        &node,
                        Lang::Elixir,
                        key.to_string(),
                        (value, &atom(kind), &int(size as i64)),
                        Some((root, vec![tuple(vec![atom("key"), atom(key)])])),
                    );
                    out.push(v);
                }
                Ok(out)
            }
            VarRoot::Value { node, root, path, lang, is_struct, kind } => {
                let offset = start.unwrap_or(0);
                let count = count.filter(|c| *c > 0).unwrap_or(DEFAULT_PAGE);
                let r = self
                    .cluster
                    .call(
                        &node,
                        "orbit_dbg",
                        "children",
                        vec![root.clone(), list(path.clone()), int(offset as i64), int(count as i64)],
                        CALL,
                    )
                    .await
                    .map_err(rpc_err)?;
                let items = match ok_value(&r) {
                    Some([items, _total]) => as_list(items).map(|l| l.to_vec()).unwrap_or_default(),
                    _ => {
                        return Err(DebugError(format!(
                            "the value is gone ({}); the process may have moved on",
                            text(&r)
                        )))
                    }
                };
                self.learn_structs(&node, &items.iter().collect::<Vec<_>>()).await;
                let mut out = Vec::new();
                for item in items {
                    let Some([key, summary, kind_t, size, label]) =
                        as_tuple(&item).and_then(|t| <&[Term; 5]>::try_from(t).ok())
                    else {
                        continue;
                    };
                    let name = if kind == "map" {
                        match (is_struct, as_atom(label)) {
                            (true, Some(a)) => a.to_string(),
                            _ => self.render(&node, lang, label),
                        }
                    } else if is_atom(label, "tail") {
                        "tail".to_string()
                    } else {
                        as_integer(label).map(|i| i.to_string()).unwrap_or_else(|| text(label))
                    };
                    let mut child_path = path.clone();
                    child_path.push(key.clone());
                    out.push(self.variable(
                        &node,
                        lang,
                        name,
                        (summary, kind_t, size),
                        Some((root.clone(), child_path)),
                    ));
                }
                Ok(out)
            }
        }
    }

    async fn set_variable(&mut self, reference: i64, name: &str, value: &str) -> Result<VariableInfo, DebugError> {
        let Some(VarRoot::Frame { thread, sp, lang }) = self.vars.get(&reference).cloned() else {
            return Err(DebugError::new("only variables of a frame can be set (not parts of a value)"));
        };
        if sp.is_some() {
            return Err(DebugError::new("only variables of the top frame can be set (the interpreter's rule)"));
        }
        let t = self.thread(thread)?;
        if !matches!(t.state, ThreadState::Stopped { .. }) {
            return Err(DebugError::new("the process is not stopped at a breakpoint"));
        }
        let node = t.node.clone();
        let meta = t.meta.clone().ok_or_else(|| DebugError::new("no interpreter frame for this process"))?;
        // Find the interpreter's name of the variable (`_amount@1`).
        let items = self.frame_variables(&node, &meta, None, lang).await?;
        let raw = items
            .iter()
            .filter_map(|i| as_tuple(i))
            .find(|t| t.len() == 5 && text(&t[0]) == name)
            .map(|t| t[4].clone())
            .ok_or_else(|| DebugError(format!("no variable '{name}' in this frame")))?;
        if let Some(t) = self.threads.get_mut(&thread) {
            t.echoes += 1;
        }
        let r = self
            .cluster
            .call(
                &node,
                "orbit_dbg",
                "set_variable",
                vec![Term::from(meta), raw, atom(lang.as_str()), binary(value.as_bytes()), nil()],
                CALL,
            )
            .await;
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                if let Some(t) = self.threads.get_mut(&thread) {
                    t.echoes = t.echoes.saturating_sub(1);
                }
                return Err(rpc_err(e));
            }
        };
        match ok_value(&r) {
            Some([summary, kind, size, stored]) => {
                let (summary, kind, size, stored) = (summary.clone(), kind.clone(), size.clone(), stored.clone());
                self.learn_structs(&node, &[&summary]).await;
                if let (Some(t), Some(n)) = (self.threads.get_mut(&thread), as_integer(&stored)) {
                    t.stored.push(n);
                }
                let root = tuple(vec![atom("stored"), stored]);
                Ok(self.variable(&node, lang, name.to_string(), (&summary, &kind, &size), Some((root, vec![]))))
            }
            _ => {
                if let Some(t) = self.threads.get_mut(&thread) {
                    t.echoes = t.echoes.saturating_sub(1);
                }
                Err(DebugError(as_tuple(&r).and_then(|p| p.get(1)).map(text).unwrap_or_else(|| text(&r))))
            }
        }
    }

    async fn evaluate(&mut self, expression: &str, frame: Option<i64>) -> Result<VariableInfo, DebugError> {
        let expr = expression.trim();
        if let Some(rest) = expr.strip_prefix("/pause") {
            return self.console_pause(rest).await;
        }
        if expr.is_empty() {
            return Err(DebugError::new("nothing to evaluate"));
        }
        // `node@host> expr` picks the node.
        let (node_prefix, expr) = match expr.split_once("> ") {
            Some((n, e)) if n.contains('@') && !n.contains(' ') && NodeName::parse(n).is_ok() => {
                (Some(n.to_string()), e.trim())
            }
            _ => (None, expr),
        };
        let frame_ref = match frame {
            // A frame the editor still shows but that is gone (the process moved on) is not the entry node.
            Some(f) if node_prefix.is_none() => Some(
                self.frames
                    .get(&f)
                    .copied()
                    .ok_or_else(|| DebugError(format!("no frame {f} (the process may have moved on)")))?,
            ),
            _ => None,
        };
        let (node, meta, sp, lang, thread) = match (node_prefix, frame_ref) {
            (Some(n), _) => {
                if !self.cluster.up_nodes().contains(&n) {
                    return Err(DebugError(format!(
                        "{n} is not a node of this cluster (nodes: {})",
                        self.cluster.up_nodes().join(", ")
                    )));
                }
                let lang = self.node_lang(&n).await;
                (n, atom("none"), None, lang, None)
            }
            (None, Some(f)) if f.interpreted => {
                let t = self.thread(f.thread)?;
                let meta = t.meta.clone().map(Term::from).unwrap_or_else(|| atom("none"));
                (t.node.clone(), meta, f.sp, f.lang, Some(f.thread))
            }
            (None, Some(f)) => {
                let t = self.thread(f.thread)?;
                let node = t.node.clone();
                let lang = self.node_lang(&node).await;
                (node, atom("none"), None, lang, Some(f.thread))
            }
            (None, None) => {
                let n = self.entry.clone();
                let lang = self.node_lang(&n).await;
                (n, atom("none"), None, lang, None)
            }
        };
        let r = self
            .cluster
            .call(
                &node,
                "orbit_dbg",
                "eval",
                vec![meta, sp_term(sp), atom(lang.as_str()), binary(expr.as_bytes()), nil()],
                CALL,
            )
            .await
            .map_err(rpc_err)?;
        match ok_value(&r) {
            Some([summary, kind, size, stored]) => {
                let (summary, kind, size, stored) = (summary.clone(), kind.clone(), size.clone(), stored.clone());
                self.learn_structs(&node, &[&summary]).await;
                if let (Some(t), Some(n)) = (thread.and_then(|id| self.threads.get_mut(&id)), as_integer(&stored)) {
                    t.stored.push(n);
                }
                let root = tuple(vec![atom("stored"), stored]);
                Ok(self.variable(&node, lang, String::new(), (&summary, &kind, &size), Some((root, vec![]))))
            }
            _ => Err(DebugError(as_tuple(&r).and_then(|p| p.get(1)).map(text).unwrap_or_else(|| text(&r)))),
        }
    }

    async fn resume(&mut self, thread: i64, how: Resume) -> Result<Vec<EngineEvent>, DebugError> {
        let t = self.thread(thread)?;
        let node = t.node.clone();
        let pid = t.pid.clone();
        match t.state.clone() {
            ThreadState::Stopped { module, line, level } => {
                let meta = t
                    .meta
                    .clone()
                    .ok_or_else(|| DebugError::new("the interpreter has not answered for this process yet"))?;
                if matches!(how, Resume::Next | Resume::StepIn) {
                    // Through the agent, which notes where the step starts (see on_break).
                    let args = vec![Term::from(meta), atom(meta_command(how))];
                    let r = self.cluster.call(&node, "orbit_dbg", "step", args, CALL).await.map_err(rpc_err)?;
                    if !is_atom(&r, "ok") {
                        return Err(DebugError(format!("{node}: cannot step: {}", text(&r))));
                    }
                } else {
                    let link =
                        self.cluster.link(&node).ok_or_else(|| DebugError(format!("{node} is not connected")))?;
                    link.send(&meta, meta_cmd_msg(meta_command(how))).map_err(|e| DebugError(e.to_string()))?;
                }
                if let Some(t) = self.threads.get_mut(&thread) {
                    t.last_resume = Some((how, module, line, level));
                    t.state = ThreadState::Running;
                }
                self.invalidate(thread);
                self.forget_stored(thread).await;
                Ok(Vec::new())
            }
            ThreadState::PostMortem { .. } => {
                self.detach_thread(thread);
                if let Some(t) = self.threads.get_mut(&thread) {
                    t.state = ThreadState::Exited;
                }
                self.invalidate(thread);
                Ok(vec![EngineEvent::ThreadExited { thread }])
            }
            ThreadState::Suspended => {
                let r = self
                    .cluster
                    .call(&node, "orbit_dbg", "resume", vec![Term::from(pid)], CALL)
                    .await
                    .map_err(rpc_err)?;
                if !is_atom(&r, "ok") {
                    return Err(DebugError(format!("{node}: cannot resume: {}", text(&r))));
                }
                if let Some(t) = self.threads.get_mut(&thread) {
                    t.state = ThreadState::Exited;
                }
                self.invalidate(thread);
                Ok(vec![EngineEvent::Continued { thread }, EngineEvent::ThreadExited { thread }])
            }
            ThreadState::Running | ThreadState::Exited => Err(DebugError(format!("thread {thread} is not stopped"))),
        }
    }

    async fn pause(&mut self, thread: i64) -> Result<Vec<EngineEvent>, DebugError> {
        let t = self.thread(thread)?;
        if !matches!(t.state, ThreadState::Running) {
            return Err(DebugError(format!("thread {thread} is already stopped")));
        }
        let node = t.node.clone();
        let pid = t.pid.clone();
        // Interpreted and running: the interpreter stops it at its next expression.
        let r = self
            .cluster
            .call(&node, "orbit_dbg", "pause", vec![Term::from(pid.clone())], CALL)
            .await
            .map_err(rpc_err)?;
        if is_atom(&r, "ok") {
            self.attach_thread(thread).await?;
            if let Some(t) = self.threads.get_mut(&thread) {
                t.pausing = true;
            }
            return Ok(Vec::new());
        }
        // Anything else: suspend it (held by the node's keeper, undone when Orbit goes).
        let r = self.cluster.call(&node, "orbit_dbg", "suspend", vec![Term::from(pid)], CALL).await.map_err(rpc_err)?;
        if !is_atom(&r, "ok") {
            return Err(DebugError(format!("{node}: cannot pause the process: {}", text(&r))));
        }
        if let Some(t) = self.threads.get_mut(&thread) {
            t.state = ThreadState::Suspended;
        }
        Ok(vec![EngineEvent::Stopped {
            thread,
            reason: StopReason::Pause,
            description: format!("suspended on {node}"),
            text: Some(format!(
                "{}: not interpreted, so its stack shows without variables; Continue resumes it",
                self.thread_label(thread)
            )),
            breakpoints: Vec::new(),
        }])
    }

    fn loaded_sources(&self) -> Vec<PathBuf> {
        let set: BTreeSet<PathBuf> = self.index.paths().map(|(_, p)| p.clone()).collect();
        set.into_iter().collect()
    }

    async fn end(&mut self) -> Vec<String> {
        if self.ended {
            return Vec::new();
        }
        self.ended = true;
        // Let go of the interpreter first (a server Orbit started is stopped by the clean-up only when no
        // one is subscribed to it), then run on every node the clean-up that each node's agent would run
        // by itself had Orbit vanished: one code path for both.
        let ids: Vec<i64> = self.threads.keys().copied().collect();
        for id in ids {
            self.detach_thread(id);
        }
        if let Some(link) = self.cluster.link(&self.server_node) {
            let _ = link.exit(&self.sub_pid, &self.server, atom("normal"));
        }
        let mut notes = Vec::new();
        let args = self.cleanup_args();
        let nodes: Vec<String> = self.cluster.up_nodes();
        let results = futures::future::join_all(
            nodes.iter().map(|n| self.cluster.call(n, "orbit_dbg", "cleanup", args.clone(), Duration::from_secs(60))),
        )
        .await;
        for (n, r) in nodes.iter().zip(results) {
            match r {
                Ok(t) if is_atom(&t, "ok") => {}
                Ok(t) => notes.push(format!("{n}: clean-up left something behind: {}", text(&t))),
                Err(e) => notes.push(format!("{n}: clean-up failed: {e}")),
            }
            let _ = self.cluster.unregister_cleanup(n, atom("orbit_dbg")).await;
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
        notes
    }
}
