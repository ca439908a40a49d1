//! `workspace/executeCommand`: the `orbit.*` commands. Arguments are parsed here (protocol side); the work
//! is done by `beam` on the worker's runtime. Each returns JSON and a one-line outcome for the user, and
//! the [`Effects`] the main loop applies to its state: commands share no state with it.

use crate::main_loop::{ClusterMsg, Event};
use beam::cluster::Cluster;
use beam::names::{module_atom, module_display};
use beam::processes::{self, ProcessQuery, SortBy};
use beam::profile;
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
pub const PROFILE_START: &str = "orbit.profile.start";
pub const PROFILE_RESULT: &str = "orbit.profile.result";
pub const PROFILE_CLEAR: &str = "orbit.profile.clear";

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
    PROFILE_START,
    PROFILE_RESULT,
    PROFILE_CLEAR,
];

/// Commands slow enough to report `$/progress`.
pub fn is_slow(command: &str) -> bool {
    matches!(command, RELOAD | DRIFT | SANDBOX_CREATE | SANDBOX_MIGRATE | SANDBOX_BALANCE | TRACE_START | PROFILE_START)
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
        PROFILE_START => match de::<ProfileStartArgs>(arg).ok().map(|a| a.spec()) {
            Some(Ok(spec)) => format!("Orbit: profiling {}", spec.describe()),
            _ => "Orbit: profiling".into(),
        },
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
    /// The server's last profile changed: a profile ran, or `orbit.profile.clear`.
    pub profile: Option<ProfileChange>,
}

/// How a command changes the server's last profile.
pub enum ProfileChange {
    Set(Arc<LastProfile>),
    Clear,
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
        PROFILE_START => de::<ProfileStartArgs>(&arg).and_then(|a| a.spec()).map(drop),
        PROFILE_RESULT => de::<ProfileResultArgs>(&arg).map(drop),
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

/// What of the main loop's state a command is handed: the server's trace, taken from it for the trace
/// commands (and given back in the [`Effects`] when they keep it), and its last profile, cloned for the
/// commands that read it.
#[derive(Default)]
pub struct Held {
    pub trace: Option<TraceRun>,
    pub profile: Option<Arc<LastProfile>>,
}

/// Runs a parsed command on `cluster` (the main loop's, if it has one). `status` is the current
/// `orbit/clusterHealth` object (kept by the main loop); `held` is what the command is handed of the main
/// loop's state.
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
    held: Held,
) -> (Outcome, Effects) {
    let Held { trace, profile } = held;
    if command == STATUS {
        let msg = status.get("message").and_then(Value::as_str).unwrap_or("").to_string();
        return (Ok((status, format!("Orbit: {msg}"))), Effects { trace, ..Effects::default() });
    }
    // The profile commands that read the last profile need no cluster.
    match command.as_str() {
        PROFILE_RESULT => {
            let outcome = match de(&arg) {
                Ok(a) => profile_result(profile.as_deref(), a),
                Err(e) => Err(e),
            };
            return (outcome, Effects { trace, ..Effects::default() });
        }
        PROFILE_CLEAR => {
            let had = profile.is_some();
            let msg = if had { "Orbit: profile cleared" } else { "Orbit: no profile to clear" };
            let effects = Effects { trace, profile: Some(ProfileChange::Clear), ..Effects::default() };
            return (Ok((json!({"cleared": had}), msg.into())), effects);
        }
        _ => {}
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
        PROFILE_START => match de(&arg) {
            Ok(a) => profile_start(&cluster, a, &work, &mut effects).await,
            Err(e) => Err(e),
        },
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

// ---------------------------------------------------------------------------------------------------
// Profiles

/// The longest window `orbit.profile.start` takes (a command is bounded to 180 s).
pub const PROFILE_MAX_MS: u64 = 120_000;
/// The window of a profile started from a code action.
pub const PROFILE_DEFAULT_MS: u64 = 10_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProfileStartArgs {
    module: Option<String>,
    modules: Option<Vec<String>>,
    app: Option<String>,
    #[serde(rename = "match")]
    pattern: Option<String>,
    nodes: Option<Vec<String>>,
    duration_ms: Option<u64>,
    /// `all` (default), `profiled` or `off`.
    sample: Option<String>,
}

impl ProfileStartArgs {
    fn spec(&self) -> Result<profile::ProfileSpec, CommandError> {
        let mut targets: Vec<profile::Target> =
            self.module.iter().map(|m| profile::Target::Module(m.clone())).collect();
        targets.extend(self.modules.iter().flatten().map(|m| profile::Target::Module(m.clone())));
        targets.extend(self.app.iter().map(|a| profile::Target::App(a.clone())));
        targets.extend(self.pattern.iter().map(|p| profile::Target::Match(p.clone())));
        if targets.is_empty() {
            return Err(CommandError::InvalidParams(
                "orbit.profile.start needs `module`, `modules`, `app` or `match`".into(),
            ));
        }
        let ms = self.duration_ms.unwrap_or(PROFILE_DEFAULT_MS);
        if ms == 0 || ms > PROFILE_MAX_MS {
            return Err(CommandError::InvalidParams(format!(
                "durationMs is more than 0 and at most {PROFILE_MAX_MS} (a command runs at most 180 s)"
            )));
        }
        let mut spec = profile::ProfileSpec::new(targets).with_duration(Duration::from_millis(ms));
        spec.nodes = self.nodes.clone().filter(|n| !n.is_empty());
        spec.sampling = match self.sample.as_deref() {
            None | Some("all") => profile::Sampling::Running,
            Some("profiled") => profile::Sampling::Profiled,
            Some("off") => profile::Sampling::Off,
            Some(other) => {
                return Err(CommandError::InvalidParams(format!("sample is all, profiled or off, not {other:?}")))
            }
        };
        Ok(spec)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProfileResultArgs {
    /// Rows in the answer (default 50).
    limit: Option<usize>,
}

/// The last profile this server ran, and the files it wrote for it.
#[derive(Debug)]
pub struct LastProfile {
    pub id: String,
    /// What was profiled: `Bank.Fees`, `application bank`.
    pub what: String,
    pub profile: profile::Profile,
    /// The flame graph (SVG), folded stacks and speedscope file, in a directory of this server's.
    pub flamegraph: Option<PathBuf>,
    pub folded: Option<PathBuf>,
    pub speedscope: Option<PathBuf>,
}

impl LastProfile {
    fn json(&self, limit: usize) -> Value {
        let p = &self.profile;
        json!({
            "id": self.id,
            "what": self.what,
            "windowUs": p.window_us,
            "totalTimeUs": p.total_time_us,
            "totalCalls": p.total_calls,
            "samples": p.samples,
            "nodes": p.nodes.iter().map(|n| json!({
                "node": n.node, "otpRelease": n.otp_release, "windowUs": n.window_us, "session": n.session,
                "callMemory": n.call_memory, "modules": n.modules, "samples": n.samples, "error": n.error,
            })).collect::<Vec<_>>(),
            "failed": p.failed,
            "functions": p.functions.iter().take(limit).collect::<Vec<_>>(),
            "moreFunctions": p.functions.len().saturating_sub(limit),
            "table": format!("{}{}\n", p.table(limit), p.summary_line()),
            "flamegraph": self.flamegraph,
            "folded": self.folded,
            "speedscope": self.speedscope,
        })
    }
}

/// The profile's row for a function of an open document, if it was called.
pub fn profiled<'a>(
    last: &'a LastProfile,
    module: &str,
    function: &str,
    arity: u32,
) -> Option<&'a profile::FunctionRow> {
    last.profile.function(module, function, u8::try_from(arity).ok()?)
}

static PROFILE_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

async fn profile_start(cluster: &Cluster, a: ProfileStartArgs, work: &Work, effects: &mut Effects) -> Outcome {
    let spec = a.spec()?;
    let what = spec.describe();
    (work.report)(format!("Setting call-time patterns for {what}…"));
    if work.cancel.is_cancelled() {
        return Err(CommandError::Cancelled);
    }
    // Not raced with a cancel: a start dropped half-way would leave profilers without their run (they
    // would still end at their window, and with Orbit's session, but not now).
    let run = profile::start(cluster, spec.clone()).await.map_err(failed)?;
    if work.cancel.is_cancelled() {
        let _ = tokio::time::timeout(TIMEOUT, run.stop()).await;
        return Err(CommandError::Cancelled);
    }
    let n = run.nodes().len();
    let deadline = run.deadline();
    // Counts down the window, a report a second; a cancel ends it on every node at once.
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break;
        }
        (work.report)(format!(
            "Profiling {what} on {n} node{}: {} s left…",
            if n == 1 { "" } else { "s" },
            left.as_secs_f64().ceil() as u64
        ));
        tokio::select! {
            _ = tokio::time::sleep(left.min(Duration::from_secs(1))) => {}
            _ = work.cancel.cancelled() => {
                let _ = tokio::time::timeout(TIMEOUT, run.stop()).await;
                return Err(CommandError::Cancelled);
            }
        }
    }
    (work.report)(format!("Collecting the profile from {n} node{}…", if n == 1 { "" } else { "s" }));
    let p = run.stop().await;
    let id = format!("profile-{}", PROFILE_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let (flamegraph, folded, speedscope) = write_profile_files(&id, &what, &p);
    let msg = match p.functions.first() {
        Some(top) => format!(
            "Orbit: profiled {what} on {} node{} for {}: hottest {} ({})",
            p.nodes.len(),
            if p.nodes.len() == 1 { "" } else { "s" },
            profile::time(p.window_us),
            top.name,
            top.lens_text()
        ),
        None => format!("Orbit: profiled {what} for {}: no profiled function was called", profile::time(p.window_us)),
    };
    let last = LastProfile { id, what, profile: p, flamegraph, folded, speedscope };
    let value = last.json(50);
    effects.profile = Some(ProfileChange::Set(Arc::new(last)));
    Ok((value, msg))
}

/// Writes the flame graph, folded stacks and speedscope file under the temp directory (this server's
/// own directory, mode 700); `None` for what could not be written.
fn write_profile_files(
    id: &str,
    what: &str,
    p: &profile::Profile,
) -> (Option<PathBuf>, Option<PathBuf>, Option<PathBuf>) {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!("orbit-lsp-{}", std::process::id()));
    if let Err(e) = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir) {
        tracing::warn!("cannot create {}: {e}", dir.display());
        return (None, None, None);
    }
    let title = format!("{what} on {} node(s), {}", p.nodes.len(), profile::time(p.window_us));
    let write = |name: String, text: String| {
        let path = dir.join(name);
        match std::fs::write(&path, text) {
            Ok(()) => Some(path),
            Err(e) => {
                tracing::warn!("cannot write {}: {e}", path.display());
                None
            }
        }
    };
    (
        write(format!("{id}.svg"), p.flamegraph_svg(&title)),
        write(format!("{id}.folded"), p.folded()),
        write(format!("{id}.speedscope.json"), p.speedscope(&title).to_string()),
    )
}

fn profile_result(last: Option<&LastProfile>, a: ProfileResultArgs) -> Outcome {
    match last {
        Some(last) => {
            let msg = format!("Orbit: {} ({})", last.what, last.profile.summary_line());
            Ok((last.json(a.limit.unwrap_or(50).clamp(1, 10_000)), msg))
        }
        None => Ok((json!({"profile": null}), "Orbit: no profile yet: run orbit.profile.start".into())),
    }
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
        assert!(parse(PROFILE_START, &[json!({"module": "Bank.Fees", "durationMs": 2000})]).is_ok());
        for bad in [
            json!({}),
            json!({"module": "M", "durationMs": 0}),
            json!({"module": "M", "durationMs": 600000}),
            json!({"module": "M", "sample": "some"}),
            json!({"module": "M", "seconds": 3}),
        ] {
            assert!(
                matches!(parse(PROFILE_START, std::slice::from_ref(&bad)), Err(CommandError::InvalidParams(_))),
                "{bad}"
            );
        }
        assert_eq!(
            title(PROFILE_START, &json!({"module": "Bank.Fees", "app": "bank"})),
            "Orbit: profiling Bank.Fees, application bank"
        );
    }
}
