//! The one loop: client messages, cluster events and timers arrive as [`Event`]s, in order, and are
//! handled one at a time on this thread. The loop's [`Server`] owns the server's state; cluster work runs
//! on a tokio runtime and comes back as events (the worker's models, a command's answer and [`Effects`],
//! a trace's calls), and what the worker needs of the state is sent to it ([`ToWorker`]).

use crate::commands::{self, CallCounts, CommandError, Effects, Held, LastProfile, Outcome, ProfileChange, TraceRun};
use crate::config::{Config, Settings};
use crate::diagnostics::{self, MailboxThresholds};
use crate::dispatch::{NotificationDispatcher, RequestDispatcher};
use crate::handlers;
use crate::index::{self, FileIndex};
use crate::lenses;
use crate::lsp_ext;
use crate::model::{disconnected_health, health_key, ClusterModel};
use crate::worker::{self, ToWorker};
use beam::cluster::Cluster;
use beam::names::Lang;
use crossbeam_channel::{select, unbounded, Receiver, Sender};
use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::Notification as _;
use lsp_types::{
    ClientCapabilities, Diagnostic, InitializeParams, MessageType, ProgressParams, ProgressParamsValue, ProgressToken,
    PublishDiagnosticsParams, ShowMessageParams, Uri, WorkDoneProgress, WorkDoneProgressBegin, WorkDoneProgressEnd,
    WorkDoneProgressReport,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Everything the loop reacts to.
pub enum Event {
    Lsp(Message),
    Cluster(Box<ClusterMsg>),
    Tick,
}

/// What the cluster side reports.
pub enum ClusterMsg {
    /// The connection commands run on from now on (`None`: none, the worker let go of it).
    Cluster(Option<Cluster>),
    /// Joined, or could not join (yet): said to the user once per change.
    Connection {
        connected: bool,
        message: String,
    },
    Model(ClusterModel),
    /// Only the health figures moved (memory, process counts, queues): `orbit/clusterStatus` answers with
    /// them, nothing else is recomputed.
    Figures(serde_json::Value),
    /// Something to tell the user once (node down, partition, critical alert).
    Notice(MessageType, String),
    /// A running command's step, for its `$/progress` report.
    Progress {
        id: RequestId,
        message: String,
    },
    /// A command finished.
    Done {
        id: RequestId,
        command: String,
        outcome: Outcome,
        progress: Option<ProgressToken>,
    },
    /// An automatic reload on save finished.
    AutoReload {
        outcome: Outcome,
    },
    /// What a finished command changes in the server's state (sent before its `Done`).
    Effects(Effects),
    /// Calls a running trace counted in its latest batch.
    TraceCalls {
        id: String,
        calls: CallCounts,
    },
}

/// An open document.
pub struct Document {
    pub uri: Uri,
    pub path: Option<PathBuf>,
    pub lang: Lang,
    pub text: String,
    pub version: Option<i32>,
    pub index: FileIndex,
    /// Modification time on disk (Unix seconds).
    pub mtime: Option<i64>,
    /// The text changed since `index` was built: a burst of `didChange` is indexed once, before anything
    /// reads the index.
    pub dirty: bool,
}

impl Document {
    pub fn new(uri: Uri, text: String, version: Option<i32>) -> Option<Document> {
        let path = uri_to_path(uri.as_str());
        let lang = Lang::of_source(path.as_deref().unwrap_or_else(|| Path::new(uri.as_str())))?;
        let index = index::index(lang, &text);
        let mtime = path.as_deref().and_then(file_mtime);
        Some(Document { uri, path, lang, text, version, index, mtime, dirty: false })
    }
}

pub fn file_mtime(path: &Path) -> Option<i64> {
    let t = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64)
}

/// `file:///a%20b/c.ex` → `/a b/c.ex`.
pub fn uri_to_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Some(PathBuf::from(String::from_utf8(out).ok()?))
}

/// `/a b/c.ex` → `file:///a%20b/c.ex`.
pub fn path_to_uri(path: &Path) -> Option<Uri> {
    let mut s = String::from("file://");
    for b in path.to_str()?.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::from_str(&s).ok()
}

/// What the client said it can do.
#[derive(Default)]
pub struct Caps {
    pub work_done_progress: bool,
    pub code_lens_refresh: bool,
    pub configuration: bool,
}

impl Caps {
    fn of(c: &ClientCapabilities) -> Caps {
        Caps {
            work_done_progress: c.window.as_ref().and_then(|w| w.work_done_progress).unwrap_or(false),
            code_lens_refresh: c
                .workspace
                .as_ref()
                .and_then(|w| w.code_lens.as_ref())
                .and_then(|c| c.refresh_support)
                .unwrap_or(false),
            configuration: c.workspace.as_ref().and_then(|w| w.configuration).unwrap_or(false),
        }
    }
}

/// A client request whose work runs on the runtime: cancelling it answers `RequestCancelled` at once and
/// tells the work to stop where it safely can.
pub struct InFlight {
    pub cancel: CancellationToken,
    pub progress: Option<ProgressToken>,
}

/// Requests the server sent, awaiting the client's response.
enum Pending {
    Configuration,
    Ignore,
}

pub struct Server {
    sender: Sender<Message>,
    pub events: Sender<Event>,
    pub runtime: tokio::runtime::Runtime,
    /// The connection commands run on, while the worker has one.
    pub cluster: Option<Cluster>,
    to_worker: mpsc::UnboundedSender<ToWorker>,
    config_tx: watch::Sender<Config>,
    /// `.orbit.toml`, command-line defaults, `initializationOptions`, `workspace/configuration`.
    defaults: Settings,
    file_settings: Settings,
    init_settings: Settings,
    workspace_settings: Settings,
    pub config: Config,
    pub root: Option<PathBuf>,
    pub caps: Caps,
    pub docs: HashMap<String, Document>,
    pub model: ClusterModel,
    pub health: Value,
    published: HashMap<String, Vec<Diagnostic>>,
    lens_key: Option<String>,
    announced: Option<(bool, String)>,
    pending: HashMap<RequestId, Pending>,
    /// Client requests still running on the runtime, by id.
    pub inflight: HashMap<RequestId, InFlight>,
    /// Module atoms of open documents, as last told to the worker (their versions are fetched on every
    /// refresh), and the source file of an open document that defines each.
    interest: BTreeSet<String>,
    sources: BTreeMap<String, PathBuf>,
    /// Module atom → the md5 this server last loaded from its source file, with the file's modification
    /// time then: while the file is unchanged, nodes running that md5 run fresh code.
    reloaded: HashMap<String, (String, Option<SystemTime>)>,
    /// The trace started by this server (one at a time), with the calls counted so far.
    pub trace: Option<TraceRun>,
    /// The last profile this server ran (`orbit.profile.start`): what the profile lenses and hovers show.
    pub profile: Option<Arc<LastProfile>>,
    next_id: i32,
    pub shutdown_requested: bool,
}

/// Runs the server on `connection` until the client says `exit` (or goes away). `defaults` are the
/// command line's settings.
pub fn run(connection: Connection, defaults: Settings) -> anyhow::Result<()> {
    let (id, params) = connection.initialize_start()?;
    let params: InitializeParams = serde_json::from_value(params).unwrap_or_default();
    let caps = Caps::of(&params.capabilities);
    #[allow(deprecated)]
    let root = params
        .workspace_folders
        .as_ref()
        .and_then(|f| f.first())
        .and_then(|f| uri_to_path(f.uri.as_str()))
        .or_else(|| params.root_uri.as_ref().and_then(|u| uri_to_path(u.as_str())));
    let mut problems = Vec::new();
    let file_settings = match &root {
        Some(r) => Settings::from_workspace(r).unwrap_or_else(|e| {
            problems.push(e);
            Settings::default()
        }),
        None => Settings::default(),
    };
    let init_settings = match &params.initialization_options {
        Some(v) => Settings::from_json(v).unwrap_or_else(|e| {
            problems.push(e);
            Settings::default()
        }),
        None => Settings::default(),
    };
    let result = lsp_types::InitializeResult {
        capabilities: handlers::server_capabilities(),
        server_info: Some(lsp_types::ServerInfo {
            name: "orbit".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
    };
    connection.initialize_finish(id, serde_json::to_value(result)?)?;

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (events_tx, events_rx) = unbounded::<Event>();
    let settings = defaults.clone().merge(file_settings.clone()).merge(init_settings.clone());
    let config = Config::resolve(&settings);
    let (config_tx, config_rx) = watch::channel(config.clone());
    let (to_worker, inbox) = mpsc::unbounded_channel();
    runtime.spawn(worker::run(config_rx, inbox, events_tx.clone()));

    let mut server = Server {
        sender: connection.sender.clone(),
        events: events_tx,
        runtime,
        cluster: None,
        to_worker,
        config_tx,
        defaults,
        file_settings,
        init_settings,
        workspace_settings: Settings::default(),
        config,
        root,
        caps,
        docs: HashMap::new(),
        model: ClusterModel::default(),
        health: disconnected_health("connecting"),
        published: HashMap::new(),
        lens_key: None,
        announced: None,
        pending: HashMap::new(),
        inflight: HashMap::new(),
        interest: BTreeSet::new(),
        sources: BTreeMap::new(),
        reloaded: HashMap::new(),
        trace: None,
        profile: None,
        next_id: 0,
        shutdown_requested: false,
    };
    for p in problems {
        server.show(MessageType::WARNING, format!("Orbit: {p}"));
    }
    server.main_loop(&connection.receiver, &events_rx);
    // Stop the cluster work without waiting on nodes that do not answer.
    let Server { runtime, .. } = server;
    runtime.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

impl Server {
    fn main_loop(&mut self, client: &Receiver<Message>, events: &Receiver<Event>) {
        let tick = crossbeam_channel::tick(Duration::from_secs(1));
        loop {
            let event = select! {
                recv(client) -> m => match m {
                    Ok(m) => Event::Lsp(m),
                    Err(_) => return,
                },
                recv(events) -> e => match e {
                    Ok(e) => e,
                    Err(_) => return,
                },
                recv(tick) -> _ => Event::Tick,
            };
            if !self.handle(event) {
                return;
            }
            if client.is_empty() {
                self.flush_dirty();
            }
        }
    }

    /// Handles one event; false when the server should stop.
    pub fn handle(&mut self, event: Event) -> bool {
        // A burst of edits is indexed once: anything but another edit first brings the index up to date.
        let edit = matches!(&event, Event::Lsp(Message::Notification(n))
            if n.method == lsp_types::notification::DidChangeTextDocument::METHOD);
        if !edit {
            self.flush_dirty();
        }
        match event {
            Event::Lsp(Message::Request(req)) => self.on_request(req),
            Event::Lsp(Message::Notification(not)) => {
                if not.method == lsp_types::notification::Exit::METHOD {
                    return false;
                }
                self.on_notification(not)
            }
            Event::Lsp(Message::Response(resp)) => self.on_response(resp),
            Event::Cluster(msg) => self.on_cluster(*msg),
            Event::Tick => self.on_tick(),
        }
        true
    }

    fn on_request(&mut self, req: Request) {
        use lsp_types::request::*;
        let mut d = RequestDispatcher { req: Some(req), server: self };
        d.on::<Shutdown>(handlers::shutdown)
            .on::<HoverRequest>(handlers::hover)
            .on::<CodeLensRequest>(handlers::code_lens)
            .on::<CodeActionRequest>(handlers::code_action)
            .on::<ExecuteCommand>(handlers::execute_command)
            .on::<lsp_ext::ClusterStatus>(handlers::cluster_status)
            .finish();
    }

    fn on_notification(&mut self, not: Notification) {
        use lsp_types::notification::*;
        let mut d = NotificationDispatcher { not: Some(not), server: self };
        d.on::<Cancel>(handlers::cancel_request)
            .on::<WorkDoneProgressCancel>(handlers::cancel_progress)
            .on::<Initialized>(handlers::initialized)
            .on::<DidOpenTextDocument>(handlers::did_open)
            .on::<DidChangeTextDocument>(handlers::did_change)
            .on::<DidSaveTextDocument>(handlers::did_save)
            .on::<DidCloseTextDocument>(handlers::did_close)
            .on::<DidChangeConfiguration>(handlers::did_change_configuration)
            .finish();
    }

    fn on_response(&mut self, resp: Response) {
        match self.pending.remove(&resp.id) {
            Some(Pending::Configuration) => {
                let value = resp.result.as_ref().and_then(|r| r.as_array()).and_then(|a| a.first()).cloned();
                if let Some(v) = value {
                    match Settings::from_json(&v) {
                        Ok(s) => {
                            self.workspace_settings = s;
                            self.apply_settings();
                        }
                        Err(e) => self.show(MessageType::WARNING, format!("Orbit: {e}")),
                    }
                }
            }
            Some(Pending::Ignore) | None => {}
        }
    }

    fn on_cluster(&mut self, msg: ClusterMsg) {
        match msg {
            ClusterMsg::Cluster(cluster) => self.cluster = cluster,
            ClusterMsg::Effects(effects) => self.apply(effects),
            ClusterMsg::TraceCalls { id, calls } => {
                if let Some(t) = self.trace.as_mut().filter(|t| t.id == id) {
                    for (k, n) in calls {
                        *t.counts.entry(k).or_default() += n;
                    }
                }
            }
            ClusterMsg::Connection { connected, message } => {
                // Once per change of state: the first failure is said, the retries are quiet.
                let changed = self.announced.as_ref().map(|(c, _)| *c != connected).unwrap_or(true);
                if changed {
                    let kind = if connected { MessageType::INFO } else { MessageType::WARNING };
                    self.show(kind, message.clone());
                    self.announced = Some((connected, message.clone()));
                }
                if !connected {
                    self.model = ClusterModel::default();
                    self.set_health(disconnected_health(&message));
                    self.refresh_all();
                }
            }
            ClusterMsg::Model(model) => {
                self.model = model;
                let health = self.model.health.clone();
                self.set_health(health);
                self.refresh_all();
            }
            ClusterMsg::Figures(health) => {
                self.model.health = health.clone();
                self.set_health(health);
            }
            ClusterMsg::Notice(kind, text) => self.show(kind, text),
            ClusterMsg::Progress { id, message } => {
                if let Some(token) = self.inflight.get(&id).and_then(|f| f.progress.clone()) {
                    let report =
                        WorkDoneProgressReport { message: Some(message), cancellable: Some(true), percentage: None };
                    self.progress(token, WorkDoneProgress::Report(report));
                }
            }
            ClusterMsg::Done { id, command, outcome, progress } => {
                if self.inflight.remove(&id).is_none() {
                    // Cancelled: answered (-32800) and its progress ended when the cancel came; what the
                    // clean-up did is only logged.
                    tracing::info!("{command} (cancelled) ended: {:?}", outcome.as_ref().map(|(_, m)| m));
                    return;
                }
                if let Some(token) = progress {
                    let end = WorkDoneProgressEnd {
                        message: Some(match &outcome {
                            Ok(_) => "done".into(),
                            Err(e) => e.message().to_string(),
                        }),
                    };
                    self.progress(token, WorkDoneProgress::End(end));
                }
                match outcome {
                    Ok((value, message)) => {
                        self.show(MessageType::INFO, message);
                        self.respond(Response::new_ok(id, value));
                        if command == commands::PROFILE_START || command == commands::PROFILE_CLEAR {
                            // The profile lenses changed.
                            self.refresh_all();
                        }
                    }
                    Err(e) => {
                        let code = match e {
                            CommandError::InvalidParams(_) => lsp_server::ErrorCode::InvalidParams,
                            CommandError::Failed(_) => lsp_server::ErrorCode::InternalError,
                            CommandError::Cancelled => lsp_server::ErrorCode::RequestCanceled,
                        };
                        let text = e.message().to_string();
                        let shown =
                            if text.starts_with("Orbit") { text.clone() } else { format!("Orbit: {command}: {text}") };
                        self.show(MessageType::ERROR, shown);
                        self.respond(Response::new_err(id, code as i32, text));
                    }
                }
            }
            ClusterMsg::AutoReload { outcome } => match outcome {
                Ok((_, message)) => self.show(MessageType::INFO, message),
                Err(e) => self.show(MessageType::ERROR, e.message().to_string()),
            },
        }
    }

    fn on_tick(&mut self) {
        // Files saved from outside the editor change the stale diagnostic.
        let mut changed = Vec::new();
        for (uri, doc) in self.docs.iter_mut() {
            let m = doc.path.as_deref().and_then(file_mtime);
            if m != doc.mtime {
                doc.mtime = m;
                changed.push(uri.clone());
            }
        }
        // The mtime only says when to look again: the worker compares md5s on its next refresh.
        if !changed.is_empty() {
            self.tell_worker(ToWorker::Refresh);
        }
        for uri in changed {
            self.refresh_diagnostics(&uri);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Helpers for handlers.

    pub fn send(&self, msg: Message) {
        let _ = self.sender.send(msg);
    }

    pub fn respond(&self, resp: Response) {
        self.send(Message::Response(resp));
    }

    pub fn notify<N: lsp_types::notification::Notification>(&self, params: N::Params) {
        self.send(Message::Notification(Notification::new(N::METHOD.into(), params)));
    }

    fn request<R: lsp_types::request::Request>(&mut self, params: R::Params, pending: Pending) {
        self.next_id += 1;
        let id = RequestId::from(format!("orbit-{}", self.next_id));
        self.pending.insert(id.clone(), pending);
        self.send(Message::Request(Request::new(id, R::METHOD.into(), params)));
    }

    pub fn show(&self, typ: MessageType, message: String) {
        self.notify::<lsp_types::notification::ShowMessage>(ShowMessageParams { typ, message });
    }

    fn set_health(&mut self, health: Value) {
        if health_key(&health) != health_key(&self.health) {
            self.health = health;
            self.notify::<lsp_ext::ClusterHealth>(self.health.clone());
        } else {
            self.health = health;
        }
    }

    /// Begins `$/progress` for a slow command: the client's token, or one the server creates.
    pub fn begin_progress(&mut self, token: Option<ProgressToken>, title: String) -> Option<ProgressToken> {
        let token = match token {
            Some(t) => t,
            None if self.caps.work_done_progress => {
                self.next_id += 1;
                let t = ProgressToken::String(format!("orbit/progress/{}", self.next_id));
                let params = lsp_types::WorkDoneProgressCreateParams { token: t.clone() };
                self.request::<lsp_types::request::WorkDoneProgressCreate>(params, Pending::Ignore);
                t
            }
            None => return None,
        };
        let begin = WorkDoneProgressBegin { title, cancellable: Some(true), ..Default::default() };
        self.progress(token.clone(), WorkDoneProgress::Begin(begin));
        Some(token)
    }

    fn progress(&self, token: ProgressToken, value: WorkDoneProgress) {
        let params = ProgressParams { token, value: ProgressParamsValue::WorkDone(value) };
        self.notify::<lsp_types::notification::Progress>(params);
    }

    pub fn ask_configuration(&mut self) {
        if !self.caps.configuration {
            return;
        }
        let params = lsp_types::ConfigurationParams {
            items: vec![lsp_types::ConfigurationItem { scope_uri: None, section: Some("orbit".into()) }],
        };
        self.request::<lsp_types::request::WorkspaceConfiguration>(params, Pending::Configuration);
    }

    pub fn set_workspace_settings(&mut self, s: Settings) {
        self.workspace_settings = s;
        self.apply_settings();
    }

    fn apply_settings(&mut self) {
        let settings = self
            .defaults
            .clone()
            .merge(self.file_settings.clone())
            .merge(self.init_settings.clone())
            .merge(self.workspace_settings.clone());
        let config = Config::resolve(&settings);
        if config != self.config {
            self.config = config.clone();
            let _ = self.config_tx.send(config);
            self.refresh_all();
        }
    }

    pub fn thresholds(&self) -> MailboxThresholds {
        MailboxThresholds {
            mailbox_warning: self.config.mailbox_warning,
            mailbox_critical: self.config.mailbox_critical,
        }
    }

    /// The module atoms of open documents, for the worker to watch: told when they (or their files)
    /// changed, with a refresh when the modules did.
    pub fn update_interest(&mut self) {
        let set: BTreeSet<String> =
            self.docs.values().flat_map(|d| d.index.modules.iter().map(|m| m.atom.clone())).collect();
        let sources: BTreeMap<String, PathBuf> = self
            .docs
            .values()
            .filter_map(|d| Some((d, d.path.clone()?)))
            .flat_map(|(d, p)| d.index.modules.iter().map(move |m| (m.atom.clone(), p.clone())))
            .collect();
        let changed = set != self.interest;
        if changed || sources != self.sources {
            self.interest = set;
            self.sources = sources;
            let (modules, sources) = (self.interest.clone(), self.sources.clone());
            self.tell_worker(ToWorker::Interest { modules, sources });
        }
        if changed {
            self.tell_worker(ToWorker::Refresh);
        }
    }

    fn tell_worker(&self, msg: ToWorker) {
        let _ = self.to_worker.send(msg);
    }

    /// What a finished command changed: modules reloaded (the worker is told, for staleness), a refresh, the
    /// server's trace (a trace it replaces is dropped, which stops it).
    fn apply(&mut self, effects: Effects) {
        if !effects.reloaded.is_empty() {
            for (module, md5, mtime) in effects.reloaded {
                self.reloaded.insert(module, (md5, mtime));
            }
            self.tell_worker(ToWorker::Reloaded(self.reloaded.clone()));
        }
        if effects.refresh {
            self.tell_worker(ToWorker::Refresh);
        }
        if let Some(trace) = effects.trace {
            self.trace = Some(trace);
        }
        match effects.profile {
            Some(ProfileChange::Set(last)) => self.profile = Some(last),
            Some(ProfileChange::Clear) => self.profile = None,
            None => {}
        }
    }

    pub fn refresh_diagnostics(&mut self, uri: &str) {
        let Some(doc) = self.docs.get(uri) else { return };
        let diags = diagnostics::compute(&doc.index, &self.model, &self.thresholds());
        let unchanged = match self.published.get(uri) {
            Some(p) => *p == diags,
            // Nothing published yet: stay quiet until there is something to say.
            None => diags.is_empty(),
        };
        if unchanged {
            return;
        }
        let params =
            PublishDiagnosticsParams { uri: doc.uri.clone(), diagnostics: diags.clone(), version: doc.version };
        self.notify::<lsp_types::notification::PublishDiagnostics>(params);
        self.published.insert(uri.to_string(), diags);
    }

    pub fn clear_diagnostics(&mut self, uri: &Uri) {
        if self.published.remove(uri.as_str()).is_some() {
            let params = PublishDiagnosticsParams { uri: uri.clone(), diagnostics: Vec::new(), version: None };
            self.notify::<lsp_types::notification::PublishDiagnostics>(params);
        }
    }

    /// Answers a running request `RequestCancelled` now and tells its work to stop where it safely can;
    /// the work's own answer, when it comes, is dropped. Unknown or finished ids are ignored.
    pub fn cancel(&mut self, id: &RequestId) {
        let Some(f) = self.inflight.remove(id) else { return };
        f.cancel.cancel();
        if let Some(token) = f.progress {
            self.progress(token, WorkDoneProgress::End(WorkDoneProgressEnd { message: Some("cancelled".into()) }));
        }
        let code = lsp_server::ErrorCode::RequestCanceled as i32;
        self.respond(Response::new_err(id.clone(), code, "cancelled".into()));
    }

    /// The request whose `$/progress` uses `token`.
    pub fn request_of_progress(&self, token: &ProgressToken) -> Option<RequestId> {
        self.inflight.iter().find(|(_, f)| f.progress.as_ref() == Some(token)).map(|(id, _)| id.clone())
    }

    /// Indexes the documents edited since they were last indexed, and recomputes their diagnostics.
    pub fn flush_dirty(&mut self) {
        let dirty: Vec<String> = self.docs.iter().filter(|(_, d)| d.dirty).map(|(u, _)| u.clone()).collect();
        if dirty.is_empty() {
            return;
        }
        for uri in &dirty {
            if let Some(doc) = self.docs.get_mut(uri) {
                doc.index = index::index(doc.lang, &doc.text);
                doc.dirty = false;
            }
        }
        self.update_interest();
        for uri in &dirty {
            self.refresh_diagnostics(uri);
        }
    }

    /// Diagnostics of every open document, and a lens refresh when what the lenses show changed.
    pub fn refresh_all(&mut self) {
        let uris: Vec<String> = self.docs.keys().cloned().collect();
        for uri in &uris {
            self.refresh_diagnostics(uri);
        }
        let mut key = String::new();
        let mut sorted = uris.clone();
        sorted.sort();
        for uri in &sorted {
            if let Some(doc) = self.docs.get(uri) {
                for l in lenses::compute(&doc.index, &self.model, self.profile.as_deref()) {
                    key.push_str(&format!("{uri}:{}:{:?}\n", l.range.start.line, l.command.map(|c| c.title)));
                }
            }
        }
        if self.lens_key.as_deref() != Some(key.as_str()) {
            let first = self.lens_key.is_none();
            self.lens_key = Some(key);
            if !first && self.caps.code_lens_refresh {
                self.request::<lsp_types::request::CodeLensRefresh>((), Pending::Ignore);
            }
        }
    }

    /// Runs a command on the runtime; the response goes out when it is done, or at once when the client
    /// cancels it (`$/cancelRequest`, or `window/workDoneProgress/cancel` on its progress).
    pub fn spawn_command(&mut self, id: RequestId, command: String, arg: Value, token: Option<ProgressToken>) {
        let progress = if commands::is_slow(&command) {
            self.begin_progress(token, commands::title(&command, &arg))
        } else {
            None
        };
        let cancel = CancellationToken::new();
        self.inflight.insert(id.clone(), InFlight { cancel: cancel.clone(), progress: progress.clone() });
        let cluster = self.cluster.clone();
        // The trace commands are handed the server's trace; they give back the one it keeps.
        let trace = if matches!(command.as_str(), commands::TRACE_START | commands::TRACE_STOP) {
            self.trace.take()
        } else {
            None
        };
        // The commands that read the last profile are handed it.
        let profile = if matches!(command.as_str(), commands::PROFILE_RESULT | commands::PROFILE_CLEAR) {
            self.profile.clone()
        } else {
            None
        };
        let held = commands::Held { trace, profile };
        let tx = self.events.clone();
        let status = self.health.clone();
        let limit = self.config.trace_limit;
        let report = {
            let tx = tx.clone();
            let id = id.clone();
            Arc::new(move |message: String| {
                let _ = tx.send(Event::Cluster(Box::new(ClusterMsg::Progress { id: id.clone(), message })));
            })
        };
        let work = commands::Work { cancel: cancel.clone(), report, events: tx.clone() };
        self.runtime.spawn(async move {
            let mut run = Box::pin(commands::run(cluster, command.clone(), arg, status, limit, work, held));
            let effects = |effects| Event::Cluster(Box::new(ClusterMsg::Effects(effects)));
            let outcome = tokio::select! {
                (outcome, done) = &mut run => {
                    let _ = tx.send(effects(done));
                    outcome
                }
                _ = tokio::time::sleep(Duration::from_secs(180)) => {
                    // Cancelled, not dropped: the work stops at its next safe point (a reload that has
                    // begun loading finishes, never half loaded), in the background; what it changes then
                    // still reaches the main loop.
                    cancel.cancel();
                    let late = tx.clone();
                    tokio::spawn(async move {
                        let (_, done) = run.await;
                        let _ = late.send(effects(done));
                    });
                    Err(CommandError::Failed(format!("{command} timed out after 180 s; stopped where nothing is left half done")))
                }
            };
            let _ = tx.send(Event::Cluster(Box::new(ClusterMsg::Done { id, command, outcome, progress })));
        });
    }

    /// `autoReloadOnSave`.
    pub fn spawn_auto_reload(&mut self, path: PathBuf) {
        let cluster = self.cluster.clone();
        let tx = self.events.clone();
        let arg = serde_json::json!({"file": path});
        self.runtime.spawn(async move {
            let work = commands::Work::detached(tx.clone());
            let (outcome, effects) =
                commands::run(cluster, commands::RELOAD.into(), arg, Value::Null, 0, work, Held::default()).await;
            let _ = tx.send(Event::Cluster(Box::new(ClusterMsg::Effects(effects))));
            let _ = tx.send(Event::Cluster(Box::new(ClusterMsg::AutoReload { outcome })));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_and_paths_round_trip() {
        let p = Path::new("/tmp/a b/ü.ex");
        let u = path_to_uri(p).unwrap();
        assert_eq!(u.as_str(), "file:///tmp/a%20b/%C3%BC.ex");
        assert_eq!(uri_to_path(u.as_str()).unwrap(), p);
        assert_eq!(uri_to_path("untitled:1"), None);
        assert_eq!(uri_to_path("file:///x%"), Some(PathBuf::from("/x%")));
    }
}
