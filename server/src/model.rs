//! What the server knows about the cluster at one moment: built by the worker from `beam` calls, read by
//! diagnostics, lenses, hovers and actions. Plain data, so those stay pure functions.

use beam::reload::{DriftKind, ModuleDrift, ModuleVersion};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterModel {
    pub connected: bool,
    /// Every known node and whether it is up, sorted.
    pub nodes: Vec<(String, bool)>,
    /// Modules whose versions differ between nodes, or that some nodes have not loaded.
    pub drift: Vec<Drift>,
    /// For the modules of open documents: node → loaded md5 (`None`: not loaded there).
    pub versions: BTreeMap<String, BTreeMap<String, Option<String>>>,
    /// For the modules of open documents: the project's build of the module (`_build/*/lib/*/ebin`).
    pub built: BTreeMap<String, Built>,
    /// Module atom → its processes.
    pub procs: BTreeMap<String, ModuleProcs>,
    /// Processes with long queues or much memory, with where they sit.
    pub hotspots: Vec<Hotspot>,
    /// The `orbit/clusterHealth` object.
    pub health: Value,
}

impl ClusterModel {
    pub fn up_nodes(&self) -> Vec<String> {
        self.nodes.iter().filter(|(_, up)| *up).map(|(n, _)| n.clone()).collect()
    }

    pub fn drift_of(&self, atom: &str) -> Option<&Drift> {
        self.drift.iter().find(|d| d.module == atom)
    }
}

/// A module as the project's `_build` has it: what staleness is judged against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Built {
    /// Its md5 as the nodes report it (`beam_lib:md5/1` of the `.beam`).
    pub md5: String,
    pub beam: std::path::PathBuf,
    /// The md5 this server last reloaded from the source file, while the file is unchanged since: code
    /// as fresh as the build.
    pub reloaded: Option<String>,
    /// The source file was saved after this beam was written (both times from this machine's clock): only
    /// said in the message, as a hint to compile; it never decides staleness.
    pub source_newer: bool,
}

/// A module that drifts (beam's `ModuleDrift`, comparable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub module: String,
    pub kind: DriftKind,
    /// Node → what it has.
    pub versions: BTreeMap<String, ModuleVersion>,
}

impl From<ModuleDrift> for Drift {
    fn from(d: ModuleDrift) -> Self {
        Drift { module: d.module, kind: d.kind, versions: d.versions }
    }
}

/// The processes that run a module's code (current function or initial call in it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ModuleProcs {
    pub count: u64,
    /// `(node, pid, queue length)` of the longest queue among them.
    pub longest: Option<(String, String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hotspot {
    pub node: String,
    pub pid: String,
    pub registered_name: Option<String>,
    /// Its process label (OTP 27+), in Elixir syntax.
    pub label: Option<String>,
    pub queue: u64,
    /// Change of the queue length per second since the previous sample.
    pub rate: Option<f64>,
    pub memory: u64,
    /// Stack frames with a module atom and a 1-based line.
    pub frames: Vec<(String, String, u32, Option<u32>)>,
    /// The module of its initial call (a GenServer's own module): where it goes when no frame places it.
    pub initial_module: Option<String>,
}

/// `12,345`.
pub use beam::health::group_digits as thousands;

/// The `orbit/clusterHealth` object when there is no cluster.
pub fn disconnected_health(message: &str) -> Value {
    serde_json::json!({
        "connected": false,
        "status": "disconnected",
        "message": message,
        "nodes": [],
        "alerts": [],
        "partition": null,
        "updatedMs": now_ms(),
    })
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The health object without its timestamp: what decides whether it changed.
/// Figures that move on every sample (memory, process counts, queues) are left out: the notification
/// goes out when a status, a node, an alert or the partition changes; `orbit/clusterStatus` has the rest.
pub fn health_key(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("updatedMs");
        if let Some(Value::Array(nodes)) = o.get_mut("nodes") {
            for n in nodes.iter_mut().filter_map(Value::as_object_mut) {
                n.remove("memory");
                n.remove("processes");
                n.remove("longestQueue");
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(12345), "12,345");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
