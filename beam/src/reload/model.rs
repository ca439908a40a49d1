//! What a reload and a drift comparison are made of and report (pure).

use super::DEFAULT_TIMEOUT;
use crate::cluster::NodeUnavailable;
use crate::rpc::RpcError;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

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
    /// The node is not a member, is still connecting, or is down.
    #[error(transparent)]
    Unavailable(#[from] NodeUnavailable),
    #[error("no node of the cluster is up")]
    NoNodes,
    #[error("cannot compile {file}: Elixir is not available on any target node")]
    NoElixir { file: String },
    #[error("compile failed; nothing was loaded on any node:\n{}", diagnostic_lines(.diagnostics))]
    Compile { diagnostics: Vec<Diagnostic> },
    #[error("{node}: no application named {app} (orbit drift --app, orbit.drift's app)")]
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

pub(super) fn diagnostic_lines(d: &[Diagnostic]) -> String {
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

/// What a node said of one module it staged.
#[derive(Debug)]
pub(super) struct StageInfo {
    pub(super) module: String,
    pub(super) md5: String,
    pub(super) previous_md5: Option<String>,
    pub(super) old_code_procs: Vec<String>,
}

/// Per-node bookkeeping while a reload runs.
#[derive(Debug)]
pub(super) struct NodeTally {
    pub(super) outcome: NodeOutcome,
    pub(super) error: Option<String>,
    pub(super) modules: BTreeMap<String, NodeModule>,
    pub(super) new_md5: BTreeMap<String, String>,
}

impl NodeTally {
    pub(super) fn new(outcome: NodeOutcome, error: Option<String>, modules: &[String]) -> Self {
        NodeTally {
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

    pub(super) fn set_info(&mut self, info: StageInfo) {
        self.new_md5.insert(info.module.clone(), info.md5);
        if let Some(nm) = self.modules.get_mut(&info.module) {
            nm.previous_md5 = info.previous_md5;
            nm.old_code_processes = info.old_code_procs;
        }
    }
}

pub(super) fn assemble(
    outcome: ReloadOutcome,
    modules: Vec<BuiltModule>,
    nodes: BTreeMap<String, NodeTally>,
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
/// Which modules `drift` compares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DriftFilter {
    /// Every loaded module that is not part of OTP or Elixir (nor Orbit's agent).
    #[default]
    All,
    /// The modules of an application, `bank` or `:bank` (those not loaded on a node show as such).
    App(String),
    /// Modules whose atom starts with this, written as users do: `Bank.` or `Elixir.Bank.`, `bank_` or
    /// `:bank_` (read with [`crate::names::module_atom`]).
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

/// The modules of `all` that drift across the nodes of `per_node` (what each node has of each module): the
/// ones whose versions differ first, then those some nodes have not loaded, each by name.
pub(super) fn compare_versions(
    per_node: &BTreeMap<String, BTreeMap<String, ModuleVersion>>,
    all: &BTreeSet<String>,
) -> Vec<ModuleDrift> {
    let mut modules = Vec::new();
    for m in all {
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
    modules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_is_different_versions_first_then_not_loaded_everywhere() {
        let loaded = |md5: &str| ModuleVersion::Loaded { md5: md5.into() };
        let per_node: BTreeMap<String, BTreeMap<String, ModuleVersion>> = [
            ("a@h", vec![("same", loaded("1")), ("differs", loaded("1")), ("half", loaded("3"))]),
            ("b@h", vec![("same", loaded("1")), ("differs", loaded("2"))]),
        ]
        .into_iter()
        .map(|(n, mods)| (n.to_string(), mods.into_iter().map(|(m, v)| (m.to_string(), v)).collect()))
        .collect();
        let all: BTreeSet<String> = ["same", "differs", "half", "nowhere"].iter().map(|s| s.to_string()).collect();
        let drift = compare_versions(&per_node, &all);
        let got: Vec<(&str, DriftKind)> = drift.iter().map(|d| (d.module.as_str(), d.kind)).collect();
        assert_eq!(got, vec![("differs", DriftKind::Different), ("half", DriftKind::NotLoadedEverywhere)]);
        assert_eq!(drift[1].versions["b@h"], ModuleVersion::NotLoaded { on_disk: None });
    }

    #[test]
    fn diagnostics_render_with_and_without_a_line() {
        let d = Diagnostic { file: "a.ex".into(), line: 3, message: "boom".into() };
        assert_eq!(d.to_string(), "a.ex:3: boom");
        let d = Diagnostic { file: "a.ex".into(), line: 0, message: "boom".into() };
        assert_eq!(d.to_string(), "a.ex: boom");
    }
}
