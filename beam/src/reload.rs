//! Hot code reload and version drift across a cluster.
//!
//! A reload builds each source once — on one node (`orbit_reload:compile/3`, which loads nothing), or from
//! the project's own `_build` beams when they are newer than the source — then stages the binaries on every
//! target node (`orbit_reload:prepare/2`: checks, `code:prepare_loading/1`, and the replaced version kept
//! for a rollback), loads them (`commit/1`), rolls back the nodes that loaded when another one fails, and
//! verifies that every node runs the same md5. Nothing is loaded anywhere before every node has staged.
//!
//! Drift compares `{module, md5}` lists, one per node, computed on the nodes by `orbit_reload`.

use crate::cluster::{Cluster, NodeState};
use crate::rpc::RpcError;
use crate::term::{as_atom, as_binary, as_integer, as_list, as_tuple, atom, binary, is_atom, list, map, map_get_atom};
use crate::term::{render_erlang, tuple, Limits};
use eetf::Term;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Default bound on each step of a reload on one node.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The language of a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Elixir,
    Erlang,
}

impl SourceKind {
    /// From the file's extension: `.ex`/`.exs` or `.erl`.
    pub fn of(path: &Path) -> Option<SourceKind> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("ex") | Some("exs") => Some(SourceKind::Elixir),
            Some("erl") => Some(SourceKind::Erlang),
            _ => None,
        }
    }

    fn atom(self) -> Term {
        atom(match self {
            SourceKind::Elixir => "elixir",
            SourceKind::Erlang => "erlang",
        })
    }
}

/// What to do when a node goes down between staging and loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnNodeDown {
    /// The nodes that are still up load the new code; the report names the node that went down.
    #[default]
    Finish,
    /// Every node goes back to the version it ran before.
    RollBack,
}

/// Called at each step of a reload (for progress output, and for tests that act between steps).
pub type ProgressFn = Arc<dyn Fn(&ReloadProgress) + Send + Sync>;

/// How a reload behaves.
#[derive(Clone)]
pub struct ReloadOptions {
    /// The nodes to load on; default every node that is up.
    pub nodes: Option<Vec<String>>,
    /// Kill processes that still run an old version when it has to go (`code:purge/1`); without it they
    /// are reported, and a reload that would need to kill them is refused before anything is loaded.
    pub purge: bool,
    /// Use the project's `_build` beams when they are newer than the source, instead of compiling.
    pub use_build: bool,
    /// Where to compile; default the first target node (that has Elixir, for Elixir sources).
    pub compile_node: Option<String>,
    pub on_node_down: OnNodeDown,
    /// Bound on each step on each node.
    pub timeout: Duration,
    pub progress: Option<ProgressFn>,
    /// Abandons the reload when cancelled, at the two points where nothing is half done: before staging,
    /// and after every node has staged but before any loads (the stages are finished, nothing is loaded;
    /// the outcome is `Aborted`). Once loading has begun it runs to the end: never half loaded.
    pub cancel: Option<tokio_util::sync::CancellationToken>,
}

impl Default for ReloadOptions {
    fn default() -> Self {
        ReloadOptions {
            nodes: None,
            purge: false,
            use_build: true,
            compile_node: None,
            on_node_down: OnNodeDown::Finish,
            timeout: DEFAULT_TIMEOUT,
            progress: None,
            cancel: None,
        }
    }
}

impl std::fmt::Debug for ReloadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadOptions")
            .field("nodes", &self.nodes)
            .field("purge", &self.purge)
            .field("use_build", &self.use_build)
            .field("compile_node", &self.compile_node)
            .field("on_node_down", &self.on_node_down)
            .field("timeout", &self.timeout)
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel.as_ref().map(|c| c.is_cancelled()))
            .finish()
    }
}

/// A step of a reload.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum ReloadProgress {
    Compiling {
        file: String,
        node: String,
    },
    UsingBuild {
        file: String,
        beams: Vec<String>,
    },
    /// Every module is built; nothing is loaded yet.
    Compiled {
        modules: Vec<String>,
    },
    Staging {
        nodes: Vec<String>,
    },
    /// Every node has staged the code; the next step loads it.
    Staged {
        nodes: Vec<String>,
    },
    Loading {
        nodes: Vec<String>,
    },
    RollingBack {
        nodes: Vec<String>,
    },

    Verifying {
        nodes: Vec<String>,
    },
}

/// A compiler message.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// 0 when the compiler gave no line.
    pub line: u32,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("no source file given")]
    NoFiles,
    #[error("{path}: {error}")]
    Io { path: String, error: String },
    #[error("{0}: not an Elixir (.ex, .exs) or Erlang (.erl) source file")]
    Unsupported(String),
    #[error("{node} is not a node of this cluster (nodes: {known})")]
    UnknownNode { node: String, known: String },
    #[error("{node} is down ({reason})")]
    NodeDown { node: String, reason: String },
    #[error("no node of the cluster is up")]
    NoNodes,
    #[error("cannot compile {file}: Elixir is not available on any target node")]
    NoElixir { file: String },
    #[error("compile failed; nothing was loaded on any node:\n{}", diagnostic_lines(.diagnostics))]
    Compile { diagnostics: Vec<Diagnostic> },
    #[error("{node}: no application named {app} (drift --app)")]
    UnknownApp { node: String, app: String },
    #[error(transparent)]
    Rpc(Box<RpcError>),
    #[error("{node}: unexpected answer from {what}: {detail}")]
    Shape { node: String, what: String, detail: String },
    #[error(transparent)]
    ReadOnly(#[from] crate::read_only::Refused),
}

impl From<RpcError> for ReloadError {
    fn from(e: RpcError) -> Self {
        ReloadError::Rpc(Box::new(e))
    }
}

fn diagnostic_lines(d: &[Diagnostic]) -> String {
    d.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n")
}

/// Where a module's binary came from.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// Compiled from the source on `node`.
    Compiled { node: String },
    /// The project's own build output, newer than the source.
    Build { beam: String },
}

/// One module of the reload.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltModule {
    /// The module's atom, e.g. `Elixir.Bank.Fees` or `bank_ledger`.
    pub module: String,
    /// `Module:module_info(md5)` of the new version, hex.
    pub md5: String,
    pub source: String,
    pub origin: Origin,
}

/// How the reload ended, cluster-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadOutcome {
    /// Every target node runs the new code.
    Loaded,
    /// The nodes that are up run the new code; some target nodes were down or failed (see `nodes`).
    Partial,
    /// A node failed to load: the nodes that had loaded went back to their previous version.
    RolledBack,
    /// A node refused the code while staging: nothing was loaded anywhere.
    Aborted,
}

/// How the reload ended on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeOutcome {
    /// Runs the new code.
    Loaded,
    /// Loaded it, then went back to the previous version.
    RolledBack,
    /// Never loaded it (the reload stopped before).
    NotLoaded,
    /// Refused or failed to load it.
    Failed,
    /// Down before or during the reload.
    Down,
}

/// One module on one node.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeModule {
    pub module: String,
    /// What the node runs after the reload (verified), if it is loaded.
    pub md5: Option<String>,
    /// What it ran before; `None` when the module was not loaded.
    pub previous_md5: Option<String>,
    /// Processes still running the version that was replaced (not purged).
    pub old_code_processes: Vec<String>,
    /// Processes killed because they ran an old version that had to go (only with `purge`).
    pub killed: Vec<String>,
    /// What a rollback did to this module, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub node: String,
    pub outcome: NodeOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub modules: Vec<NodeModule>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    pub outcome: ReloadOutcome,
    pub modules: Vec<BuiltModule>,
    /// One entry per target node (and per node that was down), sorted by node.
    pub nodes: Vec<NodeReport>,
    /// Every node that is up and took part runs one and the same md5 of each module.
    pub consistent: bool,
    pub warnings: Vec<Diagnostic>,
}

impl ReloadReport {
    pub fn node(&self, node: &str) -> Option<&NodeReport> {
        self.nodes.iter().find(|n| n.node == node)
    }
}

/// A source file read from disk.
#[derive(Debug, Clone)]
struct Source {
    path: PathBuf,
    kind: SourceKind,
    text: Vec<u8>,
    modified: Option<SystemTime>,
}

fn read_source(path: &Path) -> Result<Source, ReloadError> {
    let kind = SourceKind::of(path).ok_or_else(|| ReloadError::Unsupported(path.display().to_string()))?;
    let io = |e: std::io::Error| ReloadError::Io { path: path.display().to_string(), error: e.to_string() };
    let path = path.canonicalize().map_err(io)?;
    let text = std::fs::read(&path).map_err(io)?;
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    Ok(Source { path, kind, text, modified })
}

/// A module ready to stage: its atom, the file name to load it under, the binary.
#[derive(Debug, Clone)]
struct Binary {
    module: String,
    file: String,
    bytes: Vec<u8>,
}

/// Compiles (or takes from `_build`) every source, loads the result on every target node, and checks the
/// md5 everywhere. A compile error is an `Err` (nothing loaded); what happens on the nodes is in the report.
pub async fn reload(
    cluster: &Cluster,
    files: &[PathBuf],
    options: &ReloadOptions,
) -> Result<ReloadReport, ReloadError> {
    cluster.refuse(crate::read_only::Change::Reload)?;
    if files.is_empty() {
        return Err(ReloadError::NoFiles);
    }
    let sources = files.iter().map(|f| read_source(f)).collect::<Result<Vec<_>, _>>()?;
    let (targets, down_before) = target_nodes(cluster, options.nodes.as_deref())?;
    let progress = |p: ReloadProgress| {
        if let Some(f) = &options.progress {
            f(&p)
        }
    };

    // 1. Build.
    let (mut built, binaries, warnings) = build(cluster, &sources, &targets, options, &progress).await?;
    let module_names: Vec<String> = binaries.iter().map(|b| b.module.clone()).collect();
    progress(ReloadProgress::Compiled { modules: module_names.clone() });
    let cancelled = || options.cancel.as_ref().is_some_and(|c| c.is_cancelled());

    // Cancel point 1: nothing staged yet.
    if cancelled() {
        let nodes = targets
            .iter()
            .chain(&down_before)
            .map(|n| (n.clone(), NodeState2::new(NodeOutcome::NotLoaded, Some("cancelled".into()), &module_names)))
            .collect();
        return Ok(assemble(ReloadOutcome::Aborted, built, nodes, true, warnings));
    }

    // 2. Stage on every target.
    progress(ReloadProgress::Staging { nodes: targets.clone() });
    let mods_term = list(
        binaries.iter().map(|b| tuple(vec![atom(&b.module), charlist(&b.file), binary(b.bytes.clone())])).collect(),
    );
    let opts_term = map(vec![(atom("purge"), atom(if options.purge { "true" } else { "false" }))]);
    let staged = futures::future::join_all(targets.iter().map(|n| {
        let args = vec![mods_term.clone(), opts_term.clone()];
        async move { (n.clone(), cluster.call(n, "orbit_reload", "prepare", args, options.timeout).await) }
    }))
    .await;

    let mut nodes: BTreeMap<String, NodeState2> = BTreeMap::new();
    for n in &down_before {
        nodes.insert(
            n.clone(),
            NodeState2::new(NodeOutcome::Down, Some("down before the reload; not loaded".into()), &module_names),
        );
    }
    let mut stages: Vec<(String, Term)> = Vec::new();
    let mut refused = false;
    for (node, result) in staged {
        let mut st = NodeState2::new(NodeOutcome::NotLoaded, None, &module_names);
        match result {
            Ok(reply) => match parse_prepare(&node, &reply)? {
                Ok((stage, infos)) => {
                    for info in infos {
                        st.set_info(info);
                    }
                    stages.push((node.clone(), stage));
                }
                Err(msg) => {
                    st.outcome = NodeOutcome::Failed;
                    st.error = Some(msg);
                    refused = true;
                }
            },
            Err(e @ RpcError::NodeDown { .. }) => {
                st.outcome = NodeOutcome::Down;
                st.error = Some(e.to_string());
                if options.on_node_down == OnNodeDown::RollBack {
                    refused = true;
                }
            }
            Err(e) => {
                st.outcome = NodeOutcome::Failed;
                st.error = Some(e.to_string());
                refused = true;
            }
        }
        nodes.insert(node, st);
    }
    // The md5 of build beams is known once a node has looked at them.
    for m in &mut built {
        if m.md5.is_empty() {
            if let Some(md5) = nodes.values().find_map(|s| s.new_md5.get(&m.module).cloned()) {
                m.md5 = md5;
            }
        }
    }
    if refused {
        finish_stages(cluster, &stages, options.timeout).await;
        return Ok(assemble(ReloadOutcome::Aborted, built, nodes, true, warnings));
    }
    // Cancel point 2: every node has staged, none has loaded. The stages are ended (what they prepared is
    // discarded) and nothing is loaded anywhere.
    if cancelled() {
        finish_stages(cluster, &stages, options.timeout).await;
        for st in nodes.values_mut().filter(|s| s.outcome == NodeOutcome::NotLoaded) {
            st.error = Some("cancelled before loading".into());
        }
        return Ok(assemble(ReloadOutcome::Aborted, built, nodes, true, warnings));
    }
    let staged_nodes: Vec<String> = stages.iter().map(|(n, _)| n.clone()).collect();
    progress(ReloadProgress::Staged { nodes: staged_nodes.clone() });

    // 3. Load everywhere.
    progress(ReloadProgress::Loading { nodes: staged_nodes });
    let commits = futures::future::join_all(stages.iter().map(|(n, stage)| async move {
        (n.clone(), cluster.call(n, "orbit_reload", "commit", vec![stage.clone()], options.timeout).await)
    }))
    .await;
    let mut loaded: Vec<String> = Vec::new();
    let mut failed = false;
    let mut went_down = false;
    for (node, result) in commits {
        let st = nodes.get_mut(&node).expect("staged node");
        match result {
            Ok(reply) => match parse_commit(&node, &reply)? {
                Ok(mods) => {
                    st.outcome = NodeOutcome::Loaded;
                    for (m, old, killed) in mods {
                        if let Some(nm) = st.modules.get_mut(&m) {
                            nm.old_code_processes = old;
                            nm.killed.extend(killed);
                        }
                    }
                    loaded.push(node);
                }
                Err(msg) => {
                    st.outcome = NodeOutcome::Failed;
                    st.error = Some(msg);
                    failed = true;
                }
            },
            Err(e @ RpcError::NodeDown { .. }) => {
                st.outcome = NodeOutcome::Down;
                st.error = Some(format!("went down during the reload: {e}"));
                went_down = true;
            }
            Err(e) => {
                // A timeout: the node may still load; it is told to roll back below like the others.
                st.outcome = NodeOutcome::Failed;
                st.error = Some(e.to_string());
                failed = true;
                loaded.push(node);
            }
        }
    }

    // 4. Roll back when a node failed (or went down, if so asked).
    let roll_back = failed || (went_down && options.on_node_down == OnNodeDown::RollBack);
    if roll_back {
        progress(ReloadProgress::RollingBack { nodes: loaded.clone() });
        let rollbacks =
            futures::future::join_all(stages.iter().filter(|(n, _)| loaded.contains(n)).map(|(n, stage)| async move {
                (n.clone(), cluster.call(n, "orbit_reload", "rollback", vec![stage.clone()], options.timeout).await)
            }))
            .await;
        for (node, result) in rollbacks {
            let st = nodes.get_mut(&node).expect("staged node");
            match result {
                Ok(reply) => {
                    let outcomes = parse_rollback(&node, &reply)?;
                    let mut all_ok = true;
                    for (m, text, ok) in outcomes {
                        all_ok &= ok;
                        if let Some(nm) = st.modules.get_mut(&m) {
                            nm.rollback = Some(text);
                        }
                    }
                    if st.outcome == NodeOutcome::Loaded {
                        st.outcome = if all_ok { NodeOutcome::RolledBack } else { NodeOutcome::Failed };
                        if !all_ok {
                            st.error = Some("could not restore every previous version (see modules)".into());
                        }
                    }
                }
                Err(e @ RpcError::NodeDown { .. }) => {
                    st.outcome = NodeOutcome::Down;
                    st.error = Some(format!("went down during the rollback: {e}"));
                }
                Err(e) => {
                    st.outcome = NodeOutcome::Failed;
                    st.error = Some(format!("rollback: {e}"));
                }
            }
        }
    }

    // 5. Verify what every node that is still up runs now.
    let check: Vec<String> = nodes
        .iter()
        .filter(|(_, s)| matches!(s.outcome, NodeOutcome::Loaded | NodeOutcome::RolledBack))
        .map(|(n, _)| n.clone())
        .collect();
    progress(ReloadProgress::Verifying { nodes: check.clone() });
    let mods_atoms = list(module_names.iter().map(atom).collect());
    let answers = futures::future::join_all(check.iter().map(|n| {
        let args = vec![mods_atoms.clone()];
        async move { (n.clone(), cluster.call(n, "orbit_reload", "versions", args, options.timeout).await) }
    }))
    .await;
    let mut consistent = true;
    for (node, result) in answers {
        let st = nodes.get_mut(&node).expect("checked node");
        match result {
            Ok(reply) => {
                for (m, v) in parse_versions(&node, &reply)? {
                    if let Some(nm) = st.modules.get_mut(&m) {
                        nm.md5 = match v {
                            ModuleVersion::Loaded { md5 } => Some(md5),
                            ModuleVersion::NotLoaded { .. } => None,
                        };
                        let expected = if st.outcome == NodeOutcome::Loaded {
                            st.new_md5.get(&m).cloned()
                        } else {
                            nm.previous_md5.clone()
                        };
                        if nm.md5 != expected {
                            consistent = false;
                        }
                    }
                }
            }
            Err(e) => {
                consistent = false;
                st.error = Some(format!("could not verify: {e}"));
            }
        }
    }
    // Every loaded node runs the same md5 of each module.
    for m in &module_names {
        let md5s: BTreeSet<Option<&String>> = nodes
            .values()
            .filter(|s| s.outcome == NodeOutcome::Loaded)
            .map(|s| s.modules.get(m).and_then(|nm| nm.md5.as_ref()))
            .collect();
        if md5s.len() > 1 {
            consistent = false;
        }
    }
    finish_stages(cluster, &stages, options.timeout).await;

    let outcome = if roll_back {
        ReloadOutcome::RolledBack
    } else if nodes.values().all(|s| s.outcome == NodeOutcome::Loaded) {
        ReloadOutcome::Loaded
    } else {
        ReloadOutcome::Partial
    };
    Ok(assemble(outcome, built, nodes, consistent, warnings))
}

/// Per-node bookkeeping while a reload runs.
#[derive(Debug)]
struct NodeState2 {
    outcome: NodeOutcome,
    error: Option<String>,
    modules: BTreeMap<String, NodeModule>,
    new_md5: BTreeMap<String, String>,
}

impl NodeState2 {
    fn new(outcome: NodeOutcome, error: Option<String>, modules: &[String]) -> Self {
        NodeState2 {
            outcome,
            error,
            modules: modules
                .iter()
                .map(|m| {
                    (
                        m.clone(),
                        NodeModule {
                            module: m.clone(),
                            md5: None,
                            previous_md5: None,
                            old_code_processes: vec![],
                            killed: vec![],
                            rollback: None,
                        },
                    )
                })
                .collect(),
            new_md5: BTreeMap::new(),
        }
    }

    fn set_info(&mut self, info: StageInfo) {
        self.new_md5.insert(info.module.clone(), info.md5);
        if let Some(nm) = self.modules.get_mut(&info.module) {
            nm.previous_md5 = info.previous_md5;
            nm.old_code_processes = info.old_code_procs;
        }
    }
}

fn assemble(
    outcome: ReloadOutcome,
    modules: Vec<BuiltModule>,
    nodes: BTreeMap<String, NodeState2>,
    consistent: bool,
    warnings: Vec<Diagnostic>,
) -> ReloadReport {
    let nodes = nodes
        .into_iter()
        .map(|(node, s)| NodeReport {
            node,
            outcome: s.outcome,
            error: s.error,
            modules: s.modules.into_values().collect(),
        })
        .collect();
    ReloadReport { outcome, modules, nodes, consistent, warnings }
}

async fn finish_stages(cluster: &Cluster, stages: &[(String, Term)], timeout: Duration) {
    futures::future::join_all(stages.iter().map(|(n, stage)| async move {
        let _ =
            cluster.call(n, "orbit_reload", "finish", vec![stage.clone()], timeout.min(Duration::from_secs(5))).await;
    }))
    .await;
}

/// The nodes to work on, and the known nodes that are down (reported, skipped).
fn target_nodes(cluster: &Cluster, wanted: Option<&[String]>) -> Result<(Vec<String>, Vec<String>), ReloadError> {
    let all = cluster.nodes();
    let known = || all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
    match wanted {
        Some(list) if !list.is_empty() => {
            let mut out = Vec::new();
            for n in list {
                match all.iter().find(|(name, _)| name == n) {
                    None => return Err(ReloadError::UnknownNode { node: n.clone(), known: known() }),
                    Some((_, NodeState::Up)) => out.push(n.clone()),
                    Some((_, NodeState::Down { reason })) => {
                        return Err(ReloadError::NodeDown { node: n.clone(), reason: reason.clone() })
                    }
                    Some((_, NodeState::Connecting)) => {
                        return Err(ReloadError::NodeDown { node: n.clone(), reason: "still connecting".into() })
                    }
                }
            }
            out.sort();
            out.dedup();
            Ok((out, vec![]))
        }
        _ => {
            let up = cluster.up_nodes();
            if up.is_empty() {
                return Err(ReloadError::NoNodes);
            }
            let down = all.into_iter().filter(|(_, s)| *s != NodeState::Up).map(|(n, _)| n).collect();
            Ok((up, down))
        }
    }
}

type Built = (Vec<BuiltModule>, Vec<Binary>, Vec<Diagnostic>);

async fn build(
    cluster: &Cluster,
    sources: &[Source],
    targets: &[String],
    options: &ReloadOptions,
    progress: &(dyn Fn(ReloadProgress) + Sync),
) -> Result<Built, ReloadError> {
    let mut built: Vec<BuiltModule> = Vec::new();
    let mut binaries: Vec<Binary> = Vec::new();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    let mut elixir_node: Option<String> = None;
    for src in sources {
        let file = src.path.display().to_string();
        if options.use_build {
            if let Some(beams) = build_beams(&src.path, src.modified) {
                progress(ReloadProgress::UsingBuild {
                    file: file.clone(),
                    beams: beams.iter().map(|(_, p, _)| p.display().to_string()).collect(),
                });
                for (module, path, bytes) in beams {
                    let beam = path.display().to_string();
                    built.push(BuiltModule {
                        module: module.clone(),
                        md5: String::new(),
                        source: file.clone(),
                        origin: Origin::Build { beam: beam.clone() },
                    });
                    binaries.push(Binary { module, file: beam, bytes });
                }
                continue;
            }
        }
        let node = match (&options.compile_node, src.kind) {
            (Some(n), _) => n.clone(),
            (None, SourceKind::Erlang) => targets[0].clone(),
            (None, SourceKind::Elixir) => match &elixir_node {
                Some(n) => n.clone(),
                None => {
                    let n = find_elixir_node(cluster, targets, options.timeout)
                        .await
                        .ok_or_else(|| ReloadError::NoElixir { file: file.clone() })?;
                    elixir_node = Some(n.clone());
                    n
                }
            },
        };
        progress(ReloadProgress::Compiling { file: file.clone(), node: node.clone() });
        let args = vec![src.kind.atom(), binary(src.text.clone()), binary(file.as_bytes().to_vec())];
        let reply = cluster.call(&node, "orbit_reload", "compile", args, options.timeout).await?;
        let shape = || ReloadError::Shape { node: node.clone(), what: "compile".into(), detail: show(&reply) };
        match as_tuple(&reply) {
            Some([tag, mods, warns]) if is_atom(tag, "ok") => {
                warnings.extend(parse_diagnostics(warns));
                for m in as_list(mods).ok_or_else(shape)?.iter() {
                    let Some([name, Term::Binary(bin), md5]) = as_tuple(m) else { return Err(shape()) };
                    let module = as_atom(name).ok_or_else(shape)?.to_string();
                    built.push(BuiltModule {
                        module: module.clone(),
                        md5: hex(as_binary(md5).unwrap_or_default()),
                        source: file.clone(),
                        origin: Origin::Compiled { node: node.clone() },
                    });
                    // Removed from `binaries` if a later source defines the module again.
                    binaries.retain(|b| b.module != module);
                    binaries.push(Binary { module, file: file.clone(), bytes: bin.bytes.clone() });
                }
            }
            Some([tag, errs, warns]) if is_atom(tag, "error") => {
                errors.extend(parse_diagnostics(errs));
                warnings.extend(parse_diagnostics(warns));
            }
            _ => return Err(shape()),
        }
    }
    if !errors.is_empty() {
        return Err(ReloadError::Compile { diagnostics: errors });
    }
    // One entry per module, the last source that defines it winning.
    let mut seen = BTreeSet::new();
    let mut dedup: Vec<BuiltModule> = built.into_iter().rev().filter(|m| seen.insert(m.module.clone())).collect();
    dedup.reverse();
    let mut seen = BTreeSet::new();
    let mut bins: Vec<Binary> = binaries.into_iter().rev().filter(|b| seen.insert(b.module.clone())).collect();
    bins.reverse();
    Ok((dedup, bins, warnings))
}

async fn find_elixir_node(cluster: &Cluster, targets: &[String], timeout: Duration) -> Option<String> {
    for n in targets {
        if let Ok(t) = cluster.call(n, "orbit_reload", "has_elixir", vec![], timeout).await {
            if is_atom(&t, "true") {
                return Some(n.clone());
            }
        }
    }
    None
}

fn parse_diagnostics(t: &Term) -> Vec<Diagnostic> {
    let Some(items) = as_list(t) else { return vec![] };
    items
        .iter()
        .filter_map(|d| match as_tuple(d) {
            Some([file, line, msg]) => Some(Diagnostic {
                file: text(file),
                line: as_integer(line).and_then(|l| u32::try_from(l).ok()).unwrap_or(0),
                message: text(msg),
            }),
            _ => None,
        })
        .collect()
}

#[derive(Debug)]
struct StageInfo {
    module: String,
    md5: String,
    previous_md5: Option<String>,
    old_code_procs: Vec<String>,
}

/// `{ok, Stage, [Info]}` → Ok(Ok(..)); `{error, [{Mod, Reason}]}` → Ok(Err(text)).
#[allow(clippy::type_complexity)]
fn parse_prepare(node: &str, reply: &Term) -> Result<Result<(Term, Vec<StageInfo>), String>, ReloadError> {
    let shape = || ReloadError::Shape { node: node.to_string(), what: "prepare".into(), detail: show(reply) };
    match as_tuple(reply) {
        Some([tag, stage, infos]) if is_atom(tag, "ok") => {
            let mut out = Vec::new();
            for i in as_list(infos).ok_or_else(shape)?.iter() {
                let module = map_get_atom(i, "module").and_then(as_atom).ok_or_else(shape)?.to_string();
                let md5 = map_get_atom(i, "md5").and_then(as_binary).map(hex).ok_or_else(shape)?;
                let previous_md5 = map_get_atom(i, "previous_md5").and_then(as_binary).map(hex);
                let old_code_procs = map_get_atom(i, "old_code_procs").map(pids).unwrap_or_default();
                out.push(StageInfo { module, md5, previous_md5, old_code_procs });
            }
            Ok(Ok((stage.clone(), out)))
        }
        Some([tag, errors]) if is_atom(tag, "error") => Ok(Err(describe_errors(errors))),
        _ => Err(shape()),
    }
}

/// `{ok, [#{module, md5, old_code_procs, killed}]}` → module, processes on old code, killed.
#[allow(clippy::type_complexity)]
fn parse_commit(
    node: &str,
    reply: &Term,
) -> Result<Result<Vec<(String, Vec<String>, Vec<String>)>, String>, ReloadError> {
    let shape = || ReloadError::Shape { node: node.to_string(), what: "commit".into(), detail: show(reply) };
    match as_tuple(reply) {
        Some([tag, mods]) if is_atom(tag, "ok") => {
            let mut out = Vec::new();
            for m in as_list(mods).ok_or_else(shape)?.iter() {
                let module = map_get_atom(m, "module").and_then(as_atom).ok_or_else(shape)?.to_string();
                let old = map_get_atom(m, "old_code_procs").map(pids).unwrap_or_default();
                let killed = map_get_atom(m, "killed").map(pids).unwrap_or_default();
                out.push((module, old, killed));
            }
            Ok(Ok(out))
        }
        Some([tag, errors]) if is_atom(tag, "error") => Ok(Err(describe_errors(errors))),
        _ => Err(shape()),
    }
}

/// `{ok, [{Mod, {restored, Md5, Killed} | {removed, Killed} | {failed, Why}}]}` → (module, text, ok).
fn parse_rollback(node: &str, reply: &Term) -> Result<Vec<(String, String, bool)>, ReloadError> {
    let shape = || ReloadError::Shape { node: node.to_string(), what: "rollback".into(), detail: show(reply) };
    let Some([tag, items]) = as_tuple(reply) else { return Err(shape()) };
    if !is_atom(tag, "ok") {
        return Err(shape());
    }
    let mut out = Vec::new();
    for item in as_list(items).ok_or_else(shape)?.iter() {
        let Some([m, outcome]) = as_tuple(item) else { return Err(shape()) };
        let module = as_atom(m).ok_or_else(shape)?.to_string();
        let (text, ok) = match as_tuple(outcome) {
            Some([t, md5, killed]) if is_atom(t, "restored") => {
                let k = pids(killed);
                let mut s = format!("restored {}", as_binary(md5).map(hex).unwrap_or_default());
                if !k.is_empty() {
                    s.push_str(&format!(" (killed {})", k.join(", ")));
                }
                (s, true)
            }
            Some([t, killed]) if is_atom(t, "removed") => {
                let k = pids(killed);
                let mut s = "removed (it was not loaded before)".to_string();
                if !k.is_empty() {
                    s.push_str(&format!(" (killed {})", k.join(", ")));
                }
                (s, true)
            }
            Some([t, why]) if is_atom(t, "failed") => (format!("not restored: {}", describe_reason(why)), false),
            _ => (show(outcome), false),
        };
        out.push((module, text, ok));
    }
    Ok(out)
}

/// `[{Mod, {loaded, Md5, File} | {not_loaded, DiskMd5 | none}}]`.
fn parse_versions(node: &str, reply: &Term) -> Result<Vec<(String, ModuleVersion)>, ReloadError> {
    let shape = || ReloadError::Shape { node: node.to_string(), what: "versions".into(), detail: show(reply) };
    let mut out = Vec::new();
    for item in as_list(reply).ok_or_else(shape)?.iter() {
        let Some([m, v]) = as_tuple(item) else { return Err(shape()) };
        let module = as_atom(m).ok_or_else(shape)?.to_string();
        let version = match as_tuple(v) {
            Some([t, md5, _file]) if is_atom(t, "loaded") => {
                ModuleVersion::Loaded { md5: as_binary(md5).map(hex).ok_or_else(shape)? }
            }
            Some([t, disk]) if is_atom(t, "not_loaded") => {
                ModuleVersion::NotLoaded { on_disk: as_binary(disk).map(hex) }
            }
            _ => return Err(shape()),
        };
        out.push((module, version));
    }
    Ok(out)
}

/// `[{Mod, Reason}]` from the agent, in words.
fn describe_errors(errors: &Term) -> String {
    match as_list(errors) {
        Some(items) => items
            .iter()
            .map(|e| match as_tuple(e) {
                Some([m, why]) => {
                    format!("{}: {}", as_atom(m).map(display_module).unwrap_or_else(|| show(m)), describe_reason(why))
                }
                _ => show(e),
            })
            .collect::<Vec<_>>()
            .join("; "),
        None => show(errors),
    }
}

fn describe_reason(why: &Term) -> String {
    if let Some(a) = as_atom(why) {
        return match a {
            "sticky_directory" => "the module is sticky on this node (code:stick_mod/1); it cannot be replaced".into(),
            "not_purged" => "an old version is still loaded and in use".into(),
            "badfile" => "the node cannot load this binary (badfile: built for another OTP release?)".into(),
            "nofile" => "no such module".into(),
            "on_load_failure" => "the module's -on_load function failed".into(),
            "no_previous_binary" => "the previous version's binary is not available".into(),
            other => other.to_string(),
        };
    }
    match as_tuple(why) {
        Some([tag, procs]) if is_atom(tag, "old_code_in_use") => format!(
            "processes still run an old version that would have to be purged: {} (pass purge to kill them)",
            pids(procs).join(", ")
        ),
        _ => show(why),
    }
}

fn pids(t: &Term) -> Vec<String> {
    as_list(t)
        .map(|l| {
            l.iter()
                .filter_map(|p| match p {
                    Term::Pid(p) => Some(format!("<0.{}.{}>", p.id, p.serial)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------------
// Build output (`_build/*/lib/*/ebin`) newer than the source.

/// The beams built from `source` (as their compile info says), when every one of them is newer than the
/// source: `(module, path, bytes)`. `None` when there are none, or one is older.
fn build_beams(source: &Path, source_modified: Option<SystemTime>) -> Option<Vec<(String, PathBuf, Vec<u8>)>> {
    let source_modified = source_modified?;
    let ebins = ebin_dirs(source);
    let stem = source.file_stem()?.to_str()?.to_string();
    let is_erlang = SourceKind::of(source) == Some(SourceKind::Erlang);
    let mut found: BTreeMap<String, (PathBuf, SystemTime, Vec<u8>)> = BTreeMap::new();
    for ebin in ebins {
        let candidates: Vec<PathBuf> = if is_erlang {
            vec![ebin.join(format!("{stem}.beam"))]
        } else {
            match std::fs::read_dir(&ebin) {
                Ok(rd) => rd
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.extension().is_some_and(|e| e == "beam")
                            && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("Elixir."))
                    })
                    .collect(),
                Err(_) => continue,
            }
        };
        for path in candidates {
            let Ok(bytes) = std::fs::read(&path) else { continue };
            if beam_source(&bytes).map(PathBuf::from).and_then(|p| p.canonicalize().ok()).as_deref() != Some(source) {
                continue;
            }
            let Some(modified) = std::fs::metadata(&path).and_then(|m| m.modified()).ok() else { continue };
            let module = path.file_stem()?.to_str()?.to_string();
            match found.get(&module) {
                Some((_, t, _)) if *t >= modified => {}
                _ => {
                    found.insert(module, (path, modified, bytes));
                }
            }
        }
    }
    if found.is_empty() || found.values().any(|(_, t, _)| *t <= source_modified) {
        return None;
    }
    Some(found.into_iter().map(|(m, (p, _, b))| (m, p, b)).collect())
}

/// `_build/<env>/lib/<app>/ebin` of the nearest project above `source`: the app named in the nearest
/// `mix.exs` (or every app when none can be read), under the nearest `_build`.
fn ebin_dirs(source: &Path) -> Vec<PathBuf> {
    let mut app: Option<String> = None;
    let mut dir = source.parent();
    while let Some(d) = dir {
        if app.is_none() {
            if let Ok(mix) = std::fs::read_to_string(d.join("mix.exs")) {
                app = mix_app_name(&mix);
            }
        }
        let build = d.join("_build");
        if build.is_dir() {
            let mut out = Vec::new();
            for env in std::fs::read_dir(&build).into_iter().flatten().flatten() {
                let lib = env.path().join("lib");
                match &app {
                    Some(a) => out.push(lib.join(a).join("ebin")),
                    None => out
                        .extend(std::fs::read_dir(&lib).into_iter().flatten().flatten().map(|e| e.path().join("ebin"))),
                }
            }
            out.retain(|p| p.is_dir());
            return out;
        }
        dir = d.parent();
    }
    Vec::new()
}

fn mix_app_name(mix: &str) -> Option<String> {
    let i = mix.find("app:")?;
    let rest = mix[i + 4..].trim_start().strip_prefix(':')?;
    let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}

/// The `source` of a beam's compile info (`CInf` chunk), if any.
pub fn beam_source(bytes: &[u8]) -> Option<String> {
    let cinf = beam_chunk(bytes, b"CInf")?;
    let term = Term::decode(cinf).ok()?;
    let source = crate::term::proplist_get(&term, "source")?;
    let chars = as_list(source)?;
    let s: String = chars.iter().filter_map(|c| as_integer(c).and_then(|i| char::from_u32(i as u32))).collect();
    Some(s)
}

/// The md5 a node reports for a beam (`Mod:module_info(md5)`, `code:module_md5/1`), computed as
/// `beam_lib:md5/1` does: the md5 of the code-relevant chunks in a fixed order (`Atom`, `AtU8`, `Code`,
/// `StrT`, `ImpT`, `ExpT`, `FunT` with each entry's old unique number zeroed, `LitT`, `Meta`). Debug
/// info, docs, compile info and line tables do not count. `None` for what is not an uncompressed beam or
/// lacks a mandatory chunk.
pub fn beam_md5(bytes: &[u8]) -> Option<String> {
    const ORDER: [&[u8; 4]; 9] = [b"Atom", b"AtU8", b"Code", b"StrT", b"ImpT", b"ExpT", b"FunT", b"LitT", b"Meta"];
    const MANDATORY: [&[u8; 4]; 4] = [b"Code", b"ExpT", b"ImpT", b"StrT"];
    let mut ctx = md5::Context::new();
    for id in ORDER {
        match beam_chunk(bytes, id) {
            Some(data) if id == b"FunT" && data.len() >= 4 => {
                // `<<Count:4, [Function:4, Arity:4, Offset:4, Index:4, NumFree:4, OldUniq:4]...>>`
                ctx.consume(&data[..4]);
                let mut rest = &data[4..];
                while rest.len() >= 24 {
                    ctx.consume(&rest[..20]);
                    ctx.consume([0u8; 4]);
                    rest = &rest[24..];
                }
                ctx.consume(rest);
            }
            Some(data) => ctx.consume(data),
            None if MANDATORY.contains(&id) => return None,
            None => {}
        }
    }
    Some(ctx.finalize().0.iter().map(|b| format!("{b:02x}")).collect())
}

/// One chunk of a beam file (`FOR1 <len> BEAM` then `<id> <len> <data>` padded to 4 bytes).
fn beam_chunk<'a>(bytes: &'a [u8], id: &[u8; 4]) -> Option<&'a [u8]> {
    if bytes.len() < 12 || &bytes[0..4] != b"FOR1" || &bytes[8..12] != b"BEAM" {
        return None;
    }
    let mut at = 12usize;
    while at + 8 <= bytes.len() {
        let cid = &bytes[at..at + 4];
        let len = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let start = at + 8;
        let end = start.checked_add(len)?;
        if end > bytes.len() {
            return None;
        }
        if cid == id {
            return Some(&bytes[start..end]);
        }
        at = start + len.div_ceil(4) * 4;
    }
    None
}

// ---------------------------------------------------------------------------------------------------
// Drift.

/// Which modules `drift` compares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DriftFilter {
    /// Every loaded module that is not part of OTP or Elixir (nor Orbit's agent).
    #[default]
    All,
    /// The modules of an application (those not loaded on a node show as such).
    App(String),
    /// Modules whose atom starts with this, e.g. `Elixir.Bank.` (see [`module_atom`]).
    Prefix(String),
}

/// What one node has of one module.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ModuleVersion {
    Loaded {
        md5: String,
    },
    /// Not loaded; `on_disk` is the md5 of the beam the node would load from its code path, if any.
    NotLoaded {
        on_disk: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// Nodes run different versions.
    Different,
    /// The nodes that run it agree, but some nodes have not loaded it.
    NotLoadedEverywhere,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModuleDrift {
    pub module: String,
    pub kind: DriftKind,
    /// Node → what it has.
    pub versions: BTreeMap<String, ModuleVersion>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub nodes: Vec<String>,
    /// How many modules were compared.
    pub checked: usize,
    /// The modules that drift, sorted: versions that differ first.
    pub modules: Vec<ModuleDrift>,
    /// Nodes that did not answer, with why.
    pub unanswered: Vec<(String, String)>,
}

impl DriftReport {
    pub fn module(&self, module: &str) -> Option<&ModuleDrift> {
        self.modules.iter().find(|m| m.module == module)
    }
}

/// Compares the loaded modules `filter` selects across `nodes` (default every node that is up).
pub async fn drift(
    cluster: &Cluster,
    filter: &DriftFilter,
    nodes: Option<&[String]>,
    timeout: Duration,
) -> Result<DriftReport, ReloadError> {
    let (targets, _) = target_nodes(cluster, nodes)?;
    let filter_term = match filter {
        DriftFilter::All => atom("all"),
        DriftFilter::App(a) => tuple(vec![atom("app"), atom(a)]),
        DriftFilter::Prefix(p) => tuple(vec![atom("prefix"), binary(p.as_bytes().to_vec())]),
    };
    let answers = futures::future::join_all(targets.iter().map(|n| {
        let args = vec![filter_term.clone()];
        async move { (n.clone(), cluster.call(n, "orbit_reload", "loaded_md5s", args, timeout).await) }
    }))
    .await;
    let mut per_node: BTreeMap<String, BTreeMap<String, ModuleVersion>> = BTreeMap::new();
    let mut unanswered = Vec::new();
    for (node, result) in answers {
        let reply = match result {
            Ok(r) => r,
            Err(e) => {
                unanswered.push((node, e.to_string()));
                continue;
            }
        };
        let shape = || ReloadError::Shape { node: node.clone(), what: "loaded_md5s".into(), detail: show(&reply) };
        match as_tuple(&reply) {
            Some([tag, items]) if is_atom(tag, "ok") => {
                let mut mods = BTreeMap::new();
                for item in as_list(items).ok_or_else(shape)?.iter() {
                    let Some([m, v]) = as_tuple(item) else { return Err(shape()) };
                    let module = as_atom(m).ok_or_else(shape)?.to_string();
                    let version = match as_binary(v) {
                        Some(md5) => ModuleVersion::Loaded { md5: hex(md5) },
                        None => ModuleVersion::NotLoaded { on_disk: None },
                    };
                    mods.insert(module, version);
                }
                per_node.insert(node, mods);
            }
            Some([tag, why]) if is_atom(tag, "error") => {
                if let Some([t, app]) = as_tuple(why) {
                    if is_atom(t, "unknown_app") {
                        return Err(ReloadError::UnknownApp { node, app: as_atom(app).unwrap_or("?").to_string() });
                    }
                }
                return Err(shape());
            }
            _ => return Err(shape()),
        }
    }
    // Ask each node about the modules others have and it did not list (or listed as not loaded).
    let all: BTreeSet<String> = per_node.values().flat_map(|m| m.keys().cloned()).collect();
    let asks: Vec<(String, Vec<String>)> = per_node
        .iter()
        .map(|(n, mods)| {
            let missing: Vec<String> =
                all.iter().filter(|m| !matches!(mods.get(*m), Some(ModuleVersion::Loaded { .. }))).cloned().collect();
            (n.clone(), missing)
        })
        .filter(|(_, m)| !m.is_empty())
        .collect();
    let answers = futures::future::join_all(asks.iter().map(|(n, missing)| {
        let args = vec![list(missing.iter().map(atom).collect())];
        async move { (n.clone(), cluster.call(n, "orbit_reload", "versions", args, timeout).await) }
    }))
    .await;
    for (node, result) in answers {
        match result {
            Ok(reply) => {
                let entries = parse_versions(&node, &reply)?;
                let mods = per_node.get_mut(&node).expect("asked node");
                for (m, v) in entries {
                    mods.insert(m, v);
                }
            }
            Err(e) => {
                per_node.remove(&node);
                unanswered.push((node, e.to_string()));
            }
        }
    }
    let mut modules = Vec::new();
    for m in &all {
        let versions: BTreeMap<String, ModuleVersion> = per_node
            .iter()
            .map(|(n, mods)| (n.clone(), mods.get(m).cloned().unwrap_or(ModuleVersion::NotLoaded { on_disk: None })))
            .collect();
        let loaded: BTreeSet<&String> = versions
            .values()
            .filter_map(|v| match v {
                ModuleVersion::Loaded { md5 } => Some(md5),
                _ => None,
            })
            .collect();
        let kind = if loaded.len() > 1 {
            DriftKind::Different
        } else if loaded.len() == 1 && versions.values().any(|v| matches!(v, ModuleVersion::NotLoaded { .. })) {
            DriftKind::NotLoadedEverywhere
        } else {
            continue;
        };
        modules.push(ModuleDrift { module: m.clone(), kind, versions });
    }
    modules
        .sort_by(|a, b| (a.kind != DriftKind::Different, &a.module).cmp(&(b.kind != DriftKind::Different, &b.module)));
    Ok(DriftReport { nodes: per_node.keys().cloned().collect(), checked: all.len(), modules, unanswered })
}

// ---------------------------------------------------------------------------------------------------
// Small helpers shared with sandboxes.

/// The atom of a module as a user types it: `Bank.Fees` → `Elixir.Bank.Fees`, `:bank_ledger` →
/// `bank_ledger`; `Elixir.X` and plain atoms stay as they are.
pub fn module_atom(name: &str) -> String {
    let name = name.trim();
    if let Some(rest) = name.strip_prefix(':') {
        return rest.trim_matches('"').to_string();
    }
    if name.starts_with("Elixir.") {
        return name.to_string();
    }
    if name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
        return format!("Elixir.{name}");
    }
    name.to_string()
}

/// A module atom as Elixir people write it: `Elixir.Bank.Fees` → `Bank.Fees`.
pub fn display_module(atom: &str) -> String {
    atom.strip_prefix("Elixir.").map(str::to_string).unwrap_or_else(|| atom.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn show(t: &Term) -> String {
    render_erlang(t, &Limits::default())
}

fn text(t: &Term) -> String {
    if let Some(b) = as_binary(t) {
        return String::from_utf8_lossy(b).into_owned();
    }
    if let Some(l) = as_list(t) {
        return l.iter().filter_map(|c| as_integer(c).and_then(|i| char::from_u32(i as u32))).collect();
    }
    show(t)
}

/// An Erlang string (a list of code points).
fn charlist(s: &str) -> Term {
    if s.is_ascii() {
        return Term::from(eetf::ByteList::from(s));
    }
    list(s.chars().map(|c| crate::term::int(c as i64)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beam_md5_agrees_with_beam_lib() {
        // Against the Erlang installed here, when there is one: OTP's own beams and the demo's build.
        let Ok(root) = std::process::Command::new("erl")
            .args(["-noshell", "-eval", "io:format(\"~s\", [code:root_dir()]), halt()."])
            .output()
        else {
            return;
        };
        let root = String::from_utf8_lossy(&root.stdout).to_string();
        let mut files: Vec<PathBuf> = Vec::new();
        for dir in ["lib/stdlib-*/ebin", "lib/kernel-*/ebin"] {
            let (base, rest) = dir.split_once('*').unwrap();
            let parent = Path::new(&root).join(Path::new(base).parent().unwrap());
            for e in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with(Path::new(base).file_name().unwrap().to_str().unwrap()) {
                    let ebin = e.path().join(rest.trim_start_matches('/'));
                    for m in ["lists.beam", "gen_server.beam", "code.beam", "erl_eval.beam"] {
                        if ebin.join(m).exists() {
                            files.push(ebin.join(m));
                        }
                    }
                }
            }
        }
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/demo/_build/dev/lib/bank/ebin");
        for e in std::fs::read_dir(demo).into_iter().flatten().flatten() {
            if e.path().extension().is_some_and(|x| x == "beam") {
                files.push(e.path());
            }
        }
        assert!(!files.is_empty());
        for f in files {
            let expr = format!(
                "{{ok, {{_, M}}}} = beam_lib:md5(\"{}\"), io:format(\"~s\", [[io_lib:format(\"~2.16.0b\", [B]) || <<B>> <= M]]), halt().",
                f.display()
            );
            let out = std::process::Command::new("erl").args(["-noshell", "-eval", &expr]).output().unwrap();
            let expected = String::from_utf8_lossy(&out.stdout).to_string();
            let bytes = std::fs::read(&f).unwrap();
            assert_eq!(beam_md5(&bytes).as_deref(), Some(expected.as_str()), "{}", f.display());
        }
        assert_eq!(beam_md5(b"not a beam"), None);
    }

    fn fake_beam(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut body = b"BEAM".to_vec();
        for (id, data) in chunks {
            body.extend_from_slice(*id);
            body.extend_from_slice(&(data.len() as u32).to_be_bytes());
            body.extend_from_slice(data);
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
        }
        let mut out = b"FOR1".to_vec();
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn reads_the_source_from_compile_info() {
        let info = list(vec![
            tuple(vec![atom("version"), charlist("8.2.3")]),
            tuple(vec![atom("source"), charlist("/src/lib/bank/fees.ex")]),
        ]);
        let mut cinf = Vec::new();
        info.encode(&mut cinf).unwrap();
        let beam = fake_beam(&[(b"AtU8", vec![1, 2, 3]), (b"CInf", cinf)]);
        assert_eq!(beam_source(&beam).as_deref(), Some("/src/lib/bank/fees.ex"));
        assert_eq!(beam_source(b"not a beam"), None);
        assert_eq!(beam_source(&fake_beam(&[(b"AtU8", vec![1])])), None);
    }

    #[test]
    fn module_atoms() {
        assert_eq!(module_atom("Bank.Fees"), "Elixir.Bank.Fees");
        assert_eq!(module_atom("Elixir.Bank.Fees"), "Elixir.Bank.Fees");
        assert_eq!(module_atom(":bank_ledger"), "bank_ledger");
        assert_eq!(module_atom("bank_ledger"), "bank_ledger");
        assert_eq!(display_module("Elixir.Bank.Fees"), "Bank.Fees");
        assert_eq!(display_module("lists"), "lists");
    }

    #[test]
    fn mix_app_names() {
        assert_eq!(mix_app_name("def project do\n [\n app: :bank,\n version: \"0.1.0\"").as_deref(), Some("bank"));
        assert_eq!(mix_app_name("nothing here"), None);
    }

    #[test]
    fn source_kinds() {
        assert_eq!(SourceKind::of(Path::new("a/b.ex")), Some(SourceKind::Elixir));
        assert_eq!(SourceKind::of(Path::new("b.erl")), Some(SourceKind::Erlang));
        assert_eq!(SourceKind::of(Path::new("b.beam")), None);
    }

    #[test]
    fn diagnostics_render_with_and_without_a_line() {
        let d = Diagnostic { file: "a.ex".into(), line: 3, message: "boom".into() };
        assert_eq!(d.to_string(), "a.ex:3: boom");
        let d = Diagnostic { file: "a.ex".into(), line: 0, message: "boom".into() };
        assert_eq!(d.to_string(), "a.ex: boom");
    }

    #[test]
    fn reasons_in_words() {
        assert!(describe_reason(&atom("sticky_directory")).contains("sticky"));
        let pid = Term::from(eetf::Pid::new("a@h", 77, 0, 1));
        let r = describe_reason(&tuple(vec![atom("old_code_in_use"), list(vec![pid])]));
        assert!(r.contains("<0.77.0>") && r.contains("purge"), "{r}");
    }
}
