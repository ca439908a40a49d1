//! `workspace/executeCommand`: the `orbit.*` commands. Arguments are parsed here (protocol side); the work
//! is done by `beam` on the worker's runtime. Each returns JSON and a one-line outcome for the user, and
//! the [`Effects`] the main loop applies to its state: commands share no state with it.

use crate::main_loop::{ClusterMsg, Event};
use beam::cluster::Cluster;
use beam::names::{module_atom, module_display};
use beam::processes::{self, ProcessQuery, SortBy};
use beam::reload::{self, DriftFilter, ReloadOptions};
use beam::sandbox::{self, Children, CreateOptions, Strategy};
use beam::trace::{self, CallPattern, CallTrace, EventKind, Limit, TraceSession, TraceSpec, TraceUpdate};
use crossbeam_channel::Sender;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub const RELOAD: &str = "orbit.reload";
pub const DRIFT: &str = "orbit.drift";
pub const SANDBOX_CREATE: &str = "orbit.sandbox.create";
pub const SANDBOX_LIST: &str = "orbit.sandbox.list";
pub const SANDBOX_MIGRATE: &str = "orbit.sandbox.migrate";
pub const SANDBOX_DESTROY: &str = "orbit.sandbox.destroy";
pub const SANDBOX_BALANCE: &str = "orbit.sandbox.balance";
pub const TRACE_START: &str = "orbit.trace.start";
pub const TRACE_STOP: &str = "orbit.trace.stop";
pub const STATUS: &str = "orbit.status";
pub const PROCESSES: &str = "orbit.processes";

pub const ALL: &[&str] = &[
    RELOAD,
    DRIFT,
    SANDBOX_CREATE,
    SANDBOX_LIST,
    SANDBOX_MIGRATE,
    SANDBOX_DESTROY,
    SANDBOX_BALANCE,
    TRACE_START,
    TRACE_STOP,
    STATUS,
    PROCESSES,
];

/// Commands slow enough to report `$/progress`.
pub fn is_slow(command: &str) -> bool {
    matches!(command, RELOAD | DRIFT | SANDBOX_CREATE | SANDBOX_MIGRATE | SANDBOX_BALANCE | TRACE_START)
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a command failed: bad arguments (the client's fault) or the cluster said no.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandError {
    InvalidParams(String),
    Failed(String),
    /// The client cancelled it (already answered `RequestCancelled`).
    Cancelled,
}

impl CommandError {
    pub fn message(&self) -> &str {
        match self {
            CommandError::InvalidParams(m) | CommandError::Failed(m) => m,
            CommandError::Cancelled => "cancelled",
        }
    }
}

/// What a running command is given besides its argument: the token that says the client cancelled it,
/// where its steps go (`$/progress` reports), and the main loop's channel, for what it keeps telling after
/// it is done (a trace's calls).
#[derive(Clone)]
pub struct Work {
    pub cancel: CancellationToken,
    pub report: Arc<dyn Fn(String) + Send + Sync>,
    pub events: Sender<Event>,
}

impl Work {
    /// For work no client waits on (auto-reload on save): never cancelled, nothing reported.
    pub fn detached(events: Sender<Event>) -> Work {
        Work { cancel: CancellationToken::new(), report: Arc::new(|_| {}), events }
    }

    /// Runs `fut` unless the command is cancelled first; for commands that only read, where dropping the
    /// work half-way leaves nothing behind on the nodes.
    async fn unless_cancelled<T>(&self, fut: impl std::future::Future<Output = T>) -> Result<T, CommandError> {
        tokio::select! {
            r = fut => Ok(r),
            _ = self.cancel.cancelled() => Err(CommandError::Cancelled),
        }
    }
}

/// The `$/progress` title of a slow command: `Reloading Bank.Fees`, `Tracing Bank.Fees.charge/2`, …
pub fn title(command: &str, arg: &Value) -> String {
    let s = |k: &str| arg.get(k).and_then(Value::as_str).map(str::to_string);
    match command {
        RELOAD => {
            let file = s("file").or_else(|| s("uri")).unwrap_or_default();
            let stem = file.rsplit('/').next().unwrap_or("").split('.').next().unwrap_or("").to_string();
            if stem.is_empty() {
                "Orbit: reloading".into()
            } else {
                format!("Orbit: reloading {stem}")
            }
        }
        DRIFT => "Orbit: comparing module versions".into(),
        SANDBOX_CREATE => format!("Orbit: starting {} in a sandbox", s("module").unwrap_or_default()),
        SANDBOX_MIGRATE => format!("Orbit: moving sandbox {}", s("name").unwrap_or_default()),
        SANDBOX_BALANCE => "Orbit: balancing sandboxes".into(),
        TRACE_START => format!("Orbit: tracing {}", s("pattern").unwrap_or_default()),
        other => format!("Orbit: {other}"),
    }
}

fn failed(e: impl std::fmt::Display) -> CommandError {
    CommandError::Failed(e.to_string())
}

/// A command's answer: the JSON result and what to tell the user.
pub type Outcome = Result<(Value, String), CommandError>;

/// What a finished command changes in the main loop's state, besides its answer; applied when it is done,
/// whether or not the client still waits for the answer.
#[derive(Default)]
pub struct Effects {
    /// Modules loaded from their source file: atom, md5, and the file's modification time then.
    pub reloaded: Vec<(String, String, Option<SystemTime>)>,
    /// The cluster's code changed: refresh the model now.
    pub refresh: bool,
    /// The trace the server holds from now on (a trace command was handed the server's trace, if any).
    pub trace: Option<TraceRun>,
}

/// Checks a command's name and argument before anything runs: unknown commands and malformed arguments
/// are answered at once.
pub fn parse(command: &str, arguments: &[Value]) -> Result<Value, CommandError> {
    if !ALL.contains(&command) {
        return Err(CommandError::InvalidParams(format!("unknown command {command:?}; known: {}", ALL.join(", "))));
    }
    let arg = match arguments {
        [] => json!({}),
        [v] if v.is_object() => v.clone(),
        // Lua clients encode an empty table as `[]`.
        [Value::Null] => json!({}),
        [Value::Array(a)] if a.is_empty() => json!({}),
        _ => {
            return Err(CommandError::InvalidParams(format!(
                "{command} takes one argument, a JSON object (see the README, section `orbit lsp`)"
            )))
        }
    };
    // Shape check now, so a bad argument never reaches the cluster.
    let check = match command {
        RELOAD => de::<ReloadArgs>(&arg).map(drop),
        DRIFT => de::<DriftArgs>(&arg).map(drop),
        SANDBOX_CREATE => de::<SandboxCreateArgs>(&arg).map(drop),
        SANDBOX_MIGRATE => de::<SandboxMigrateArgs>(&arg).map(drop),
        SANDBOX_DESTROY => de::<SandboxNameArgs>(&arg).map(drop),
        SANDBOX_BALANCE => de::<SandboxBalanceArgs>(&arg).map(drop),
        TRACE_START => de::<TraceStartArgs>(&arg).map(drop),
        PROCESSES => de::<ProcessesArgs>(&arg).map(drop),
        _ => Ok(()),
    };
    check.map(|_| arg)
}

fn de<T: for<'de> Deserialize<'de>>(v: &Value) -> Result<T, CommandError> {
    serde_json::from_value(v.clone()).map_err(|e| CommandError::InvalidParams(format!("bad argument: {e}")))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReloadArgs {
    file: Option<String>,
    uri: Option<String>,
    nodes: Option<Vec<String>>,
    #[serde(default)]
    purge: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DriftArgs {
    module: Option<String>,
    prefix: Option<String>,
    app: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SandboxCreateArgs {
    name: Option<String>,
    module: String,
    arg: Option<String>,
    node: Option<String>,
    strategy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SandboxMigrateArgs {
    name: String,
    to: String,
    #[serde(default)]
    handoff: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SandboxNameArgs {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SandboxBalanceArgs {
    #[serde(default)]
    handoff: bool,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TraceStartArgs {
    pattern: String,
    limit: Option<u64>,
    nodes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProcessesArgs {
    module: Option<String>,
    node: Option<String>,
    limit: Option<usize>,
    sort: Option<String>,
}

/// Calls counted per `(module atom, function, arity)`.
pub type CallCounts = BTreeMap<(String, String, u32), u64>;

/// A trace started by this server. The session belongs to a task of its own, which counts the calls and
/// sends them to the main loop as they come ([`ClusterMsg::TraceCalls`]); `counts` is the main loop's tally,
/// for hovers. Dropping it stops the session.
pub struct TraceRun {
    pub id: String,
    pub pattern: String,
    pub limit: u64,
    /// `Module atom`, function, arity → calls, as the main loop has heard.
    pub counts: CallCounts,
    /// Asks the session's task to stop it; the task answers why the session ended, and its calls.
    stop: mpsc::UnboundedSender<oneshot::Sender<TraceStopped>>,
}

/// What a trace's task says when it stopped the session.
struct TraceStopped {
    /// Why the session ended, `timeout` when it did not stop in time.
    reason: String,
    counts: CallCounts,
}

impl TraceRun {
    /// Starts the task that owns `session`: counts the calls of each batch (telling the main loop), until
    /// it is asked to stop the session, or the run is dropped.
    fn spawn(id: String, pattern: String, limit: u64, mut session: TraceSession, events: Sender<Event>) -> TraceRun {
        let (stop, mut stop_rx) = mpsc::unbounded_channel::<oneshot::Sender<TraceStopped>>();
        let trace_id = id.clone();
        tokio::spawn(async move {
            let mut counts = CallCounts::new();
            let mut ended = false;
            let reply = loop {
                tokio::select! {
                    update = session.next(), if !ended => match update {
                        Some(TraceUpdate::Events(batch)) => {
                            let mut calls = CallCounts::new();
                            for e in batch {
                                if let EventKind::Call { module, function, args } = e.kind {
                                    *calls.entry((module, function, args.len() as u32)).or_default() += 1;
                                }
                            }
                            if calls.is_empty() {
                                continue;
                            }
                            for (k, n) in &calls {
                                *counts.entry(k.clone()).or_default() += n;
                            }
                            let msg = ClusterMsg::TraceCalls { id: trace_id.clone(), calls };
                            let _ = events.send(Event::Cluster(Box::new(msg)));
                        }
                        Some(_) => {}
                        // Ended on its own (limit, nodes gone): what it counted stays for hovers and stop.
                        None => ended = true,
                    },
                    reply = stop_rx.recv() => break reply,
                }
            };
            let reason = tokio::time::timeout(TIMEOUT, session.stop()).await;
            let reason = reason.map(|r| format!("{r:?}")).unwrap_or_else(|_| "timeout".into());
            if let Some(reply) = reply {
                let _ = reply.send(TraceStopped { reason, counts });
            }
        });
        TraceRun { id, pattern, limit, counts: CallCounts::new(), stop }
    }

    /// Stops the session; the JSON `orbit.trace.stop` answers.
    async fn stop(self) -> Value {
        let (tx, rx) = oneshot::channel();
        let stopped = match self.stop.send(tx) {
            Ok(()) => rx.await.ok(),
            Err(_) => None,
        };
        let (reason, counts) = match stopped {
            Some(s) => (s.reason, s.counts),
            None => ("timeout".to_string(), self.counts),
        };
        let calls: BTreeMap<String, u64> =
            counts.iter().map(|((m, f, a), n)| (format!("{}.{f}/{a}", module_display(m)), *n)).collect();
        json!({"id": self.id, "pattern": self.pattern, "reason": reason, "calls": calls})
    }
}

/// Runs a parsed command on `cluster` (the main loop's, if it has one). `status` is the current
/// `orbit/clusterHealth` object (kept by the main loop); `trace` is the server's trace, handed to the trace
/// commands (and given back in the [`Effects`] when they keep it).
///
/// Cancelling `work` stops what can be stopped: commands that only read are dropped at once; a reload is
/// abandoned before anything loads (never half loaded); a trace that started is stopped; a sandbox that was
/// created is destroyed; a migration or a balance, once begun, runs to its end.
pub async fn run(
    cluster: Option<Cluster>,
    command: String,
    arg: Value,
    status: Value,
    trace_limit: u64,
    work: Work,
    trace: Option<TraceRun>,
) -> (Outcome, Effects) {
    if command == STATUS {
        let msg = status.get("message").and_then(Value::as_str).unwrap_or("").to_string();
        return (Ok((status, format!("Orbit: {msg}"))), Effects { trace, ..Effects::default() });
    }
    let Some(cluster) = cluster else {
        let e = CommandError::Failed("Orbit: not connected to a cluster".into());
        return (Err(e), Effects { trace, ..Effects::default() });
    };
    let mut effects = Effects::default();
    let outcome = match command.as_str() {
        RELOAD => match de(&arg) {
            Ok(a) => reload_cmd(&cluster, a, &work, &mut effects).await,
            Err(e) => Err(e),
        },
        TRACE_START => {
            let (outcome, kept) = trace_start(&cluster, &arg, trace_limit, &work, trace).await;
            effects.trace = kept;
            outcome
        }
        TRACE_STOP => trace_stop(trace).await,
        _ => run_other(&cluster, &command, &arg, &work).await,
    };
    (outcome, effects)
}

/// The commands that change nothing in the server's state.
async fn run_other(cluster: &Cluster, command: &str, arg: &Value, work: &Work) -> Outcome {
    match command {
        DRIFT => work.unless_cancelled(drift_cmd(cluster, de(arg)?)).await?,
        SANDBOX_CREATE => sandbox_create(cluster, de(arg)?, work).await,
        SANDBOX_LIST => {
            let list = work.unless_cancelled(sandbox::list(cluster, TIMEOUT)).await?.map_err(failed)?;
            let msg = format!("Orbit: {} sandbox{}", list.len(), if list.len() == 1 { "" } else { "es" });
            Ok((serde_json::to_value(list).map_err(failed)?, msg))
        }
        SANDBOX_MIGRATE => {
            let a: SandboxMigrateArgs = de(arg)?;
            let r = sandbox::migrate(cluster, &a.name, &a.to, a.handoff, TIMEOUT).await.map_err(failed)?;
            let msg = format!("Orbit: sandbox {} moved from {} to {}", a.name, r.from, r.to);
            Ok((serde_json::to_value(r).map_err(failed)?, msg))
        }
        SANDBOX_DESTROY => {
            let a: SandboxNameArgs = de(arg)?;
            sandbox::destroy(cluster, &a.name, TIMEOUT).await.map_err(failed)?;
            Ok((json!({"destroyed": a.name}), format!("Orbit: sandbox {} destroyed", a.name)))
        }
        SANDBOX_BALANCE => {
            let a: SandboxBalanceArgs = de(arg)?;
            let r = sandbox::balance(cluster, a.handoff, a.dry_run, TIMEOUT).await.map_err(failed)?;
            let msg = format!("Orbit: balance: {} move{}", r.moves.len(), if r.moves.len() == 1 { "" } else { "s" });
            Ok((serde_json::to_value(r).map_err(failed)?, msg))
        }
        PROCESSES => work.unless_cancelled(processes_cmd(cluster, de(arg)?)).await?,
        other => Err(CommandError::InvalidParams(format!("unknown command {other:?}"))),
    }
}

/// The file a reload is about: `file` or a `file://` `uri`.
fn reload_path(a: &ReloadArgs) -> Result<PathBuf, CommandError> {
    if let Some(f) = &a.file {
        return Ok(PathBuf::from(f));
    }
    if let Some(u) = &a.uri {
        return crate::main_loop::uri_to_path(u)
            .ok_or_else(|| CommandError::InvalidParams(format!("not a file:// URI: {u}")));
    }
    Err(CommandError::InvalidParams("orbit.reload needs `file` or `uri`".into()))
}

async fn reload_cmd(cluster: &Cluster, a: ReloadArgs, work: &Work, effects: &mut Effects) -> Outcome {
    let path = reload_path(&a)?;
    let options = ReloadOptions {
        nodes: a.nodes.clone(),
        purge: a.purge,
        use_build: false,
        cancel: Some(work.cancel.clone()),
        progress: Some(reload_progress(work, &path)),
        ..Default::default()
    };
    let report = reload::reload(cluster, std::slice::from_ref(&path), &options).await.map_err(failed)?;
    if work.cancel.is_cancelled() && report.outcome == reload::ReloadOutcome::Aborted {
        // Abandoned before anything loaded: the stages on the nodes are ended.
        return Err(CommandError::Cancelled);
    }
    // What was loaded from this source is fresh code while the file stays as it is.
    let source_mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    let any_loaded = report.nodes.iter().any(|n| n.outcome == reload::NodeOutcome::Loaded);
    if any_loaded {
        for m in report.modules.iter().filter(|m| !m.md5.is_empty()) {
            effects.reloaded.push((m.module.clone(), m.md5.clone(), source_mtime));
        }
    }
    effects.refresh = true;
    let modules: Vec<String> = report.modules.iter().map(|m| module_display(&m.module)).collect();
    let loaded: Vec<&str> =
        report.nodes.iter().filter(|n| n.outcome == reload::NodeOutcome::Loaded).map(|n| n.node.as_str()).collect();
    let md5 = report.modules.first().map(|m| m.md5.chars().take(8).collect::<String>()).unwrap_or_default();
    let msg = match report.outcome {
        reload::ReloadOutcome::Loaded if report.consistent => format!(
            "Orbit: reloaded {} on {} node{} (md5 {md5}, verified)",
            modules.join(", "),
            loaded.len(),
            if loaded.len() == 1 { "" } else { "s" }
        ),
        outcome => {
            let problems: Vec<String> = report
                .nodes
                .iter()
                .filter(|n| n.outcome != reload::NodeOutcome::Loaded)
                .map(|n| {
                    format!(
                        "{}: {:?}{}",
                        n.node,
                        n.outcome,
                        n.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
                    )
                })
                .collect();
            let text = format!("Orbit: reload of {} {:?}: {}", modules.join(", "), outcome, problems.join("; "));
            return Err(CommandError::Failed(text));
        }
    };
    Ok((serde_json::to_value(&report).map_err(failed)?, msg))
}

/// A reload's steps as `$/progress` messages: `Reloading Bank.Fees on 3 nodes…`.
fn reload_progress(work: &Work, path: &std::path::Path) -> reload::ProgressFn {
    let report = work.report.clone();
    let file = path.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
    // The modules' names once they are compiled; the file's name until then.
    let modules: OnceLock<String> = OnceLock::new();
    Arc::new(move |p: &reload::ReloadProgress| {
        use reload::ReloadProgress as P;
        let what = modules.get().cloned().unwrap_or_else(|| file.clone());
        let n = |nodes: &Vec<String>| format!("{} node{}", nodes.len(), if nodes.len() == 1 { "" } else { "s" });
        let text = match p {
            P::Compiling { node, .. } => format!("Compiling {file} on {node}…"),
            P::UsingBuild { .. } => format!("Taking {file} from _build…"),
            P::Compiled { modules: m } => {
                let names: Vec<String> = m.iter().map(|m| module_display(m)).collect();
                let _ = modules.set(names.join(", "));
                format!("Compiled {}", names.join(", "))
            }
            P::Staging { nodes } => format!("Staging {what} on {}…", n(nodes)),
            P::Staged { nodes } => format!("Staged {what} on {}", n(nodes)),
            P::Loading { nodes } => format!("Reloading {what} on {}…", n(nodes)),
            P::RollingBack { nodes } => format!("Rolling back {what} on {}…", n(nodes)),
            P::Verifying { nodes } => format!("Verifying the md5 of {what} on {}…", n(nodes)),
        };
        report(text);
    })
}

async fn drift_cmd(cluster: &Cluster, a: DriftArgs) -> Outcome {
    let filter = match (&a.app, &a.prefix) {
        (Some(app), _) => DriftFilter::App(app.clone()),
        (None, Some(p)) => DriftFilter::Prefix(p.clone()),
        (None, None) => DriftFilter::All,
    };
    let mut report = reload::drift(cluster, &filter, None, TIMEOUT).await.map_err(failed)?;
    if let Some(m) = &a.module {
        let atom = module_atom(m);
        report.modules.retain(|d| d.module == atom);
    }
    let msg = if report.modules.is_empty() {
        format!("Orbit: no drift ({} modules compared on {} nodes)", report.checked, report.nodes.len())
    } else {
        let names: Vec<String> = report.modules.iter().take(5).map(|d| module_display(&d.module)).collect();
        format!("Orbit: {} module(s) drift: {}", report.modules.len(), names.join(", "))
    };
    Ok((serde_json::to_value(&report).map_err(failed)?, msg))
}

static SANDBOX_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

async fn sandbox_create(cluster: &Cluster, a: SandboxCreateArgs, work: &Work) -> Outcome {
    let atom = module_atom(&a.module);
    let display = module_display(&atom);
    let name = a.name.clone().unwrap_or_else(|| {
        let seq = SANDBOX_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}-{}-{seq}", display.replace('.', "-").to_lowercase(), std::process::id())
    });
    let strategy = match a.strategy.as_deref() {
        None | Some("one_for_one") => Strategy::OneForOne,
        Some("one_for_all") => Strategy::OneForAll,
        Some("rest_for_one") => Strategy::RestForOne,
        Some(s) => return Err(CommandError::InvalidParams(format!("unknown strategy {s:?}"))),
    };
    let children = match &a.arg {
        None => Children::Module { module: atom.clone(), arg: beam::term::nil() },
        Some(arg) if atom.starts_with("Elixir.") => Children::Elixir(vec![format!("{{{display}, {arg}}}")]),
        Some(arg) => Children::Erlang(vec![format!("{{'{atom}', {arg}}}")]),
    };
    let options = CreateOptions { node: a.node.clone(), strategy, timeout: TIMEOUT };
    if work.cancel.is_cancelled() {
        return Err(CommandError::Cancelled);
    }
    (work.report)(format!("Starting {display} in sandbox {name}…"));
    let sb = sandbox::create(cluster, &name, &children, &options).await.map_err(failed)?;
    if work.cancel.is_cancelled() {
        // Cancelled while it started: nothing stays behind.
        let _ = sandbox::destroy(cluster, &sb.id, TIMEOUT).await;
        return Err(CommandError::Cancelled);
    }
    let msg = format!("Orbit: sandbox {} runs {display} on {}", sb.id, sb.node);
    Ok((serde_json::to_value(&sb).map_err(failed)?, msg))
}

static TRACE_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Starts a trace of `pattern` in place of the server's (`current`, stopped first); gives back the trace
/// the server holds afterwards: `current` when nothing was done, the new one, or none.
async fn trace_start(
    cluster: &Cluster,
    arg: &Value,
    default_limit: u64,
    work: &Work,
    current: Option<TraceRun>,
) -> (Outcome, Option<TraceRun>) {
    let a: TraceStartArgs = match de(arg) {
        Ok(a) => a,
        Err(e) => return (Err(e), current),
    };
    let pattern = match CallPattern::parse(&a.pattern) {
        Ok(p) => p,
        Err(e) => return (Err(CommandError::InvalidParams(e.to_string())), current),
    };
    let limit = a.limit.unwrap_or(default_limit).clamp(1, 100_000);
    let mut spec = TraceSpec::calls(vec![CallTrace::new(pattern)], Limit::Count(limit));
    spec.nodes = a.nodes.clone();
    // One trace at a time: a new one replaces the old.
    if let Some(old) = current {
        let _ = old.stop().await;
    }
    if work.cancel.is_cancelled() {
        return (Err(CommandError::Cancelled), None);
    }
    (work.report)(format!("Setting trace patterns for {}…", a.pattern));
    let mut session = match trace::start(cluster, spec).await {
        Ok(s) => s,
        Err(e) => return (Err(failed(e)), None),
    };
    if work.cancel.is_cancelled() {
        // Cancelled while it started: the session is ended (patterns and tracers removed on every node).
        let _ = tokio::time::timeout(TIMEOUT, session.stop()).await;
        return (Err(CommandError::Cancelled), None);
    }
    let id = format!("trace-{}", TRACE_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let run = TraceRun::spawn(id.clone(), a.pattern.clone(), limit, session, work.events.clone());
    let msg = format!("Orbit: tracing calls to {} (stops after {limit} calls)", a.pattern);
    (Ok((json!({"id": id, "pattern": a.pattern, "limit": limit}), msg)), Some(run))
}

async fn trace_stop(current: Option<TraceRun>) -> Outcome {
    match current {
        Some(run) => {
            let v = run.stop().await;
            let total: u64 = v["calls"].as_object().map(|o| o.values().filter_map(Value::as_u64).sum()).unwrap_or(0);
            let msg = format!("Orbit: trace {} stopped after {total} calls", v["id"].as_str().unwrap_or("?"));
            Ok((v, msg))
        }
        None => Ok((json!({"stopped": false}), "Orbit: no trace was running".into())),
    }
}

async fn processes_cmd(cluster: &Cluster, a: ProcessesArgs) -> Outcome {
    let sort = match a.sort.as_deref() {
        None => SortBy::MessageQueue,
        Some(s) => s.parse().map_err(CommandError::InvalidParams)?,
    };
    let module = a.module.as_ref().map(|m| {
        let atom = module_atom(m);
        // Anchored, with the dots escaped: exactly this module.
        format!("^{}$", atom.replace('.', "\\."))
    });
    let query = ProcessQuery {
        nodes: a.node.clone().into_iter().collect(),
        module,
        sort,
        limit: a.limit.unwrap_or(50).clamp(1, 1000),
        ..Default::default()
    };
    let page = processes::list(cluster, &query, TIMEOUT).await.map_err(failed)?;
    let what = a.module.as_deref().map(|m| format!(" running {m}")).unwrap_or_default();
    let msg = format!("Orbit: {} process{}{what}", page.total, if page.total == 1 { "" } else { "es" });
    let value = json!({"total": page.total, "processes": page.processes, "errors": page.errors});
    Ok((value, msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_commands_and_bad_arguments_are_invalid_params() {
        assert!(matches!(parse("orbit.nope", &[]), Err(CommandError::InvalidParams(_))));
        assert!(matches!(parse(RELOAD, &[json!(3)]), Err(CommandError::InvalidParams(_))));
        assert!(matches!(parse(SANDBOX_DESTROY, &[json!({})]), Err(CommandError::InvalidParams(_))));
        assert!(matches!(parse(TRACE_START, &[json!({"pattern": 1})]), Err(CommandError::InvalidParams(_))));
        assert_eq!(parse(STATUS, &[]).unwrap(), json!({}));
        assert_eq!(parse(SANDBOX_LIST, &[json!([])]).unwrap(), json!({}));
        assert!(parse(SANDBOX_CREATE, &[json!({"module": "Bank.Fees"})]).is_ok());
    }
}
