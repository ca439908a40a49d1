//! `workspace/executeCommand`: the `orbit.*` commands. Arguments are parsed here (protocol side); the work
//! is done by `beam` on the worker's runtime. Each returns JSON and a one-line outcome for the user.

use crate::worker::Shared;
use beam::cluster::Cluster;
use beam::names::{module_atom, module_display};
use beam::processes::{self, ProcessQuery, SortBy};
use beam::reload::{self, DriftFilter, ReloadOptions};
use beam::sandbox::{self, Children, CreateOptions, Strategy};
use beam::trace::{self, CallPattern, CallTrace, EventKind, Limit, TraceSpec, TraceUpdate};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
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
/// and where its steps go (`$/progress` reports).
#[derive(Clone)]
pub struct Work {
    pub cancel: CancellationToken,
    pub report: Arc<dyn Fn(String) + Send + Sync>,
}

impl Work {
    /// For work no client waits on (auto-reload on save): never cancelled, nothing reported.
    pub fn detached() -> Work {
        Work { cancel: CancellationToken::new(), report: Arc::new(|_| {}) }
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

/// A trace started by this server, with the calls counted so far.
pub struct TraceState {
    pub id: String,
    pub pattern: String,
    pub limit: u64,
    pub session: Arc<tokio::sync::Mutex<trace::TraceSession>>,
    /// `Module atom`, function, arity → calls.
    pub counts: Arc<Mutex<CallCounts>>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Call counts of the running trace, if any (for hovers).
pub fn trace_counts(shared: &Shared) -> Option<CallCounts> {
    let guard = shared.trace.try_lock().ok()?;
    let t = guard.as_ref()?;
    let counts = t.counts.lock().ok()?.clone();
    Some(counts)
}

/// Runs a parsed command. `status` is the current `orbit/clusterHealth` object (kept by the main loop).
///
/// Cancelling `work` stops what can be stopped: commands that only read are dropped at once; a reload is
/// abandoned before anything loads (never half loaded); a trace that started is stopped; a sandbox that was
/// created is destroyed; a migration or a balance, once begun, runs to its end.
pub async fn run(
    shared: Arc<Shared>,
    command: String,
    arg: Value,
    status: Value,
    trace_limit: u64,
    work: Work,
) -> Outcome {
    if command == STATUS {
        let msg = status.get("message").and_then(Value::as_str).unwrap_or("").to_string();
        return Ok((status, format!("Orbit: {msg}")));
    }
    let cluster = shared.cluster().ok_or_else(|| CommandError::Failed("Orbit: not connected to a cluster".into()))?;
    match command.as_str() {
        RELOAD => reload_cmd(&shared, &cluster, de(&arg)?, &work).await,
        DRIFT => work.unless_cancelled(drift_cmd(&cluster, de(&arg)?)).await?,
        SANDBOX_CREATE => sandbox_create(&cluster, de(&arg)?, &work).await,
        SANDBOX_LIST => {
            let list = work.unless_cancelled(sandbox::list(&cluster, TIMEOUT)).await?.map_err(failed)?;
            let msg = format!("Orbit: {} sandbox{}", list.len(), if list.len() == 1 { "" } else { "es" });
            Ok((serde_json::to_value(list).map_err(failed)?, msg))
        }
        SANDBOX_MIGRATE => {
            let a: SandboxMigrateArgs = de(&arg)?;
            let r = sandbox::migrate(&cluster, &a.name, &a.to, a.handoff, TIMEOUT).await.map_err(failed)?;
            let msg = format!("Orbit: sandbox {} moved from {} to {}", a.name, r.from, r.to);
            Ok((serde_json::to_value(r).map_err(failed)?, msg))
        }
        SANDBOX_DESTROY => {
            let a: SandboxNameArgs = de(&arg)?;
            sandbox::destroy(&cluster, &a.name, TIMEOUT).await.map_err(failed)?;
            Ok((json!({"destroyed": a.name}), format!("Orbit: sandbox {} destroyed", a.name)))
        }
        SANDBOX_BALANCE => {
            let a: SandboxBalanceArgs = de(&arg)?;
            let r = sandbox::balance(&cluster, a.handoff, a.dry_run, TIMEOUT).await.map_err(failed)?;
            let msg = format!("Orbit: balance: {} move{}", r.moves.len(), if r.moves.len() == 1 { "" } else { "s" });
            Ok((serde_json::to_value(r).map_err(failed)?, msg))
        }
        TRACE_START => trace_start(&shared, &cluster, de(&arg)?, trace_limit, &work).await,
        TRACE_STOP => trace_stop(&shared).await,
        PROCESSES => work.unless_cancelled(processes_cmd(&cluster, de(&arg)?)).await?,
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

async fn reload_cmd(shared: &Shared, cluster: &Cluster, a: ReloadArgs, work: &Work) -> Outcome {
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
    if let (true, Ok(mut r)) = (any_loaded, shared.reloaded.lock()) {
        for m in report.modules.iter().filter(|m| !m.md5.is_empty()) {
            r.insert(m.module.clone(), (m.md5.clone(), source_mtime));
        }
    }
    shared.refresh_soon();
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
    let modules: Arc<Mutex<String>> = Arc::new(Mutex::new(file.clone()));
    Arc::new(move |p: &reload::ReloadProgress| {
        use reload::ReloadProgress as P;
        let what = modules.lock().map(|m| m.clone()).unwrap_or_default();
        let n = |nodes: &Vec<String>| format!("{} node{}", nodes.len(), if nodes.len() == 1 { "" } else { "s" });
        let text = match p {
            P::Compiling { node, .. } => format!("Compiling {file} on {node}…"),
            P::UsingBuild { .. } => format!("Taking {file} from _build…"),
            P::Compiled { modules: m } => {
                let names: Vec<String> = m.iter().map(|m| module_display(m)).collect();
                if let Ok(mut w) = modules.lock() {
                    *w = names.join(", ");
                }
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

async fn trace_start(
    shared: &Shared,
    cluster: &Cluster,
    a: TraceStartArgs,
    default_limit: u64,
    work: &Work,
) -> Outcome {
    let pattern = CallPattern::parse(&a.pattern).map_err(|e| CommandError::InvalidParams(e.to_string()))?;
    let limit = a.limit.unwrap_or(default_limit).clamp(1, 100_000);
    let mut spec = TraceSpec::calls(vec![CallTrace::new(pattern)], Limit::Count(limit));
    spec.nodes = a.nodes.clone();
    // One trace at a time: a new one replaces the old.
    let _ = stop_current(shared).await;
    if work.cancel.is_cancelled() {
        return Err(CommandError::Cancelled);
    }
    (work.report)(format!("Setting trace patterns for {}…", a.pattern));
    let mut session = trace::start(cluster, spec).await.map_err(failed)?;
    if work.cancel.is_cancelled() {
        // Cancelled while it started: the session is ended (patterns and tracers removed on every node).
        let _ = tokio::time::timeout(TIMEOUT, session.stop()).await;
        return Err(CommandError::Cancelled);
    }
    let id = format!("trace-{}", TRACE_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let session = Arc::new(tokio::sync::Mutex::new(session));
    let counts: Arc<Mutex<CallCounts>> = Arc::default();
    let task = {
        let session = session.clone();
        let counts = counts.clone();
        tokio::spawn(async move {
            loop {
                let update = { session.lock().await.next().await };
                match update {
                    Some(TraceUpdate::Events(events)) => {
                        let Ok(mut c) = counts.lock() else { return };
                        for e in events {
                            if let EventKind::Call { module, function, args } = e.kind {
                                *c.entry((module, function, args.len() as u32)).or_default() += 1;
                            }
                        }
                    }
                    Some(_) => {}
                    None => return,
                }
            }
        })
    };
    let state = TraceState { id: id.clone(), pattern: a.pattern.clone(), limit, session, counts, task };
    *shared.trace.lock().await = Some(state);
    let msg = format!("Orbit: tracing calls to {} (stops after {limit} calls)", a.pattern);
    Ok((json!({"id": id, "pattern": a.pattern, "limit": limit}), msg))
}

async fn stop_current(shared: &Shared) -> Option<Value> {
    let state = shared.trace.lock().await.take()?;
    state.task.abort();
    let reason = tokio::time::timeout(TIMEOUT, async { state.session.lock().await.stop().await }).await;
    let counts = state.counts.lock().map(|c| c.clone()).unwrap_or_default();
    let calls: BTreeMap<String, u64> =
        counts.iter().map(|((m, f, a), n)| (format!("{}.{f}/{a}", module_display(m)), *n)).collect();
    Some(json!({
        "id": state.id,
        "pattern": state.pattern,
        "reason": reason.map(|r| format!("{r:?}")).unwrap_or_else(|_| "timeout".into()),
        "calls": calls,
    }))
}

async fn trace_stop(shared: &Shared) -> Outcome {
    match stop_current(shared).await {
        Some(v) => {
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
