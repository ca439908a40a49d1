//! Orbit's helper modules on each node, installed with no file written there and replaced only when
//! their source differs from what the node runs.
//!
//! - **Groups.** The modules come in groups ([`Group`]): the core (`orbit_agent`, `orbit_health`,
//!   `orbit_procs`) that every command needs, and one group each for the debugger, the tracer, the
//!   profiler, hot reload and sandboxes. A command installs only the groups it uses ([`install_groups`]).
//! - **Compiled once per OTP release.** When Erlang is installed where Orbit is built, `build.rs` compiles
//!   the modules ahead of time: nodes of that OTP release load those binaries and compile nothing.
//!   Otherwise a module is compiled from its source on the first node of each OTP release that needs it
//!   (`orbit_agent:compile/1`; the bootstrap module `orbit_agent` itself through
//!   `erl_scan`/`erl_parse`/`compile:forms` over RPC), and the resulting binary is loaded with
//!   `code:load_binary` on every other node of that release. Binaries are kept in a [`BinaryCache`] for the
//!   life of the process and, unless `ORBIT_AGENT_CACHE=off`, on Orbit's own disk (`~/.cache/orbit/agent`,
//!   keyed by OTP release and source hash; never on the nodes). A binary compiled for one release is never
//!   offered to a node of another. A node that refuses a binary gets the module compiled on itself.
//! - **Versioning.** Orbit adds `-orbit_source_hash("…")` to each module, a hash of its source text; a node
//!   whose module carries another hash (an older or newer Orbit) gets this one, a node with the same hash is
//!   left alone. `orbit_agent:info/1` reports the release and every hash in one round trip.

use crate::link::Link;
use crate::rpc::{self, RpcError};
use crate::term::{as_tuple, atom, binary, list, text, tuple};
use eetf::{ExternalFun, List, Term, Tuple};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// A set of agent modules that one kind of command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// `orbit_agent` (sessions, clean-ups, membership events, the installer's helpers), `orbit_health`,
    /// `orbit_procs`: status, top, processes, inspect. Always installed with the agent.
    Core,
    /// `orbit_dbg` and its parts (`orbit_dbg_*`), `orbit_dbg_cond`, `orbit_trace_lib`: `orbit dap`.
    Debugger,
    /// `orbit_trace`, `orbit_trace_ms` (match specs), `orbit_trace_lib`: `orbit trace`.
    Tracer,
    /// `orbit_reload`: `orbit reload`, `orbit drift`.
    Reload,
    /// `orbit_sandbox`: `orbit sandbox`.
    Sandbox,
    /// `orbit_profile`, `orbit_trace_lib`: `orbit profile`.
    Profiler,
}

impl Group {
    pub const ALL: [Group; 6] =
        [Group::Core, Group::Debugger, Group::Tracer, Group::Reload, Group::Sandbox, Group::Profiler];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The modules of the group, in install order.
    pub fn modules(self) -> impl Iterator<Item = &'static AgentModule> {
        MODULES.iter().filter(move |m| m.groups().contains(self))
    }

    pub fn name(self) -> &'static str {
        match self {
            Group::Core => "core",
            Group::Debugger => "debugger",
            Group::Tracer => "tracer",
            Group::Reload => "reload",
            Group::Sandbox => "sandbox",
            Group::Profiler => "profiler",
        }
    }
}

/// A set of [`Group`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Groups(u8);

impl Groups {
    pub const NONE: Groups = Groups(0);

    pub fn all() -> Groups {
        Group::ALL.iter().copied().collect()
    }

    pub fn contains(self, g: Group) -> bool {
        self.0 & g.bit() != 0
    }

    pub fn with(self, g: Group) -> Groups {
        Groups(self.0 | g.bit())
    }

    pub fn union(self, other: Groups) -> Groups {
        Groups(self.0 | other.0)
    }

    /// Whether every group of `other` is in `self`.
    pub fn covers(self, other: Groups) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn iter(self) -> impl Iterator<Item = Group> {
        Group::ALL.into_iter().filter(move |g| self.contains(*g))
    }
}

impl FromIterator<Group> for Groups {
    fn from_iter<I: IntoIterator<Item = Group>>(it: I) -> Groups {
        it.into_iter().fold(Groups::NONE, Groups::with)
    }
}

impl From<Group> for Groups {
    fn from(g: Group) -> Groups {
        Groups::NONE.with(g)
    }
}

impl std::fmt::Display for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.iter().map(Group::name).collect();
        f.write_str(&names.join("+"))
    }
}

/// One agent module: its name, its source and the group it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct AgentModule {
    pub name: &'static str,
    pub source: &'static str,
    pub group: Group,
}

impl AgentModule {
    /// The groups that install the module: its own, and those of [`SHARED`] that use it too.
    pub fn groups(&self) -> Groups {
        let also = SHARED.iter().filter(|(name, _)| *name == self.name).flat_map(|(_, groups)| groups.iter().copied());
        also.fold(Groups::from(self.group), Groups::with)
    }
}

/// Modules that the modules of other groups call too, and those groups: `orbit_trace_lib`, what the
/// tracer (`orbit_trace`), the debugger's tracepoints (`orbit_dbg_trace`) and the profiler share.
const SHARED: &[(&str, &[Group])] = &[("orbit_trace_lib", &[Group::Debugger, Group::Profiler])];

/// Every module of the agent, in install order (`orbit_agent` first: it installs the others).
pub const MODULES: &[AgentModule] = &[
    AgentModule { name: "orbit_agent", source: include_str!("../agent/orbit_agent.erl"), group: Group::Core },
    AgentModule { name: "orbit_health", source: include_str!("../agent/orbit_health.erl"), group: Group::Core },
    // Before the tracers that call it (orbit_dbg_trace, orbit_trace, orbit_profile): see SHARED.
    AgentModule { name: "orbit_trace_lib", source: include_str!("../agent/orbit_trace_lib.erl"), group: Group::Tracer },
    // The debugger's parts before its façade: a keeper of an older agent loops through orbit_dbg, which
    // then calls into them.
    AgentModule { name: "orbit_dbg_code", source: include_str!("../agent/orbit_dbg_code.erl"), group: Group::Debugger },
    AgentModule {
        name: "orbit_dbg_keeper",
        source: include_str!("../agent/orbit_dbg_keeper.erl"),
        group: Group::Debugger,
    },
    AgentModule { name: "orbit_dbg_eval", source: include_str!("../agent/orbit_dbg_eval.erl"), group: Group::Debugger },
    AgentModule { name: "orbit_dbg_pass", source: include_str!("../agent/orbit_dbg_pass.erl"), group: Group::Debugger },
    AgentModule {
        name: "orbit_dbg_frames",
        source: include_str!("../agent/orbit_dbg_frames.erl"),
        group: Group::Debugger,
    },
    AgentModule { name: "orbit_dbg_step", source: include_str!("../agent/orbit_dbg_step.erl"), group: Group::Debugger },
    AgentModule { name: "orbit_dbg_pure", source: include_str!("../agent/orbit_dbg_pure.erl"), group: Group::Debugger },
    AgentModule { name: "orbit_dbg", source: include_str!("../agent/orbit_dbg.erl"), group: Group::Debugger },
    AgentModule { name: "orbit_dbg_cond", source: include_str!("../agent/orbit_dbg_cond.erl"), group: Group::Debugger },
    AgentModule {
        name: "orbit_dbg_trace",
        source: include_str!("../agent/orbit_dbg_trace.erl"),
        group: Group::Debugger,
    },
    AgentModule { name: "orbit_native", source: include_str!("../agent/orbit_native.erl"), group: Group::Debugger },
    AgentModule { name: "orbit_procs", source: include_str!("../agent/orbit_procs.erl"), group: Group::Core },
    AgentModule { name: "orbit_trace_ms", source: include_str!("../agent/orbit_trace_ms.erl"), group: Group::Tracer },
    AgentModule { name: "orbit_trace", source: include_str!("../agent/orbit_trace.erl"), group: Group::Tracer },
    AgentModule { name: "orbit_reload", source: include_str!("../agent/orbit_reload.erl"), group: Group::Reload },
    AgentModule { name: "orbit_sandbox", source: include_str!("../agent/orbit_sandbox.erl"), group: Group::Sandbox },
    AgentModule { name: "orbit_profile", source: include_str!("../agent/orbit_profile.erl"), group: Group::Profiler },
];

/// The group an agent module belongs to, if `module` is one of the agent's.
pub fn group_of(module: &str) -> Option<Group> {
    MODULES.iter().find(|m| m.name == module).map(|m| m.group)
}

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a node waits for another node of its release to finish compiling a module before it
/// compiles the module itself (a slow node must not hold up the others). Only nodes of a release that
/// Orbit has no binary for wait; on a loaded 2-core machine one of the debugger's modules took over 5 s.
const COMPILE_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Rpc(#[from] RpcError),
    #[error("{node}: cannot compile Orbit's {module}: {detail}")]
    Compile { node: String, module: &'static str, detail: String },
    #[error("{node}: cannot load Orbit's {module}: {detail}")]
    Load { node: String, module: &'static str, detail: String },
}

/// What `install` did to one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The node already ran this exact source.
    Current,
    /// The module was absent.
    Installed,
    /// Another version was replaced.
    Upgraded,
}

mod stamp;
pub use stamp::source_hash;

/// The agent as compiled when Orbit was built (see `build.rs`), if Erlang was installed there.
mod prebuilt {
    include!(concat!(env!("OUT_DIR"), "/prebuilt_agent.rs"));
}

/// Compiled modules: `(name, BEAM file)`.
pub type Beams = &'static [(&'static str, &'static [u8])];

/// The OTP release the agent was compiled for when Orbit was built, and its modules; `None` when Erlang
/// was not there.
pub fn prebuilt() -> Option<(&'static str, Beams)> {
    prebuilt::PREBUILT_RELEASE.map(|r| (r, prebuilt::PREBUILT))
}

/// The source as installed, with its version stamp.
fn stamped_source(m: &AgentModule) -> String {
    stamp::stamped_source(m.source)
}

// ─────────────────────────────────────────────────────────────────────────────────────────────────────────
// Compiled binaries

#[derive(Debug, Default)]
struct Slot {
    beam: Mutex<Option<Arc<Vec<u8>>>>,
    /// Held by the one node compiling the module for this release.
    compiling: tokio::sync::Mutex<()>,
}

impl Slot {
    fn get(&self) -> Option<Arc<Vec<u8>>> {
        self.beam.lock().unwrap().clone()
    }

    fn set(&self, beam: Arc<Vec<u8>>) {
        *self.beam.lock().unwrap() = Some(beam);
    }
}

/// Compiled agent modules by OTP release, for the life of the process and, optionally, on Orbit's disk.
#[derive(Debug, Default)]
pub struct BinaryCache {
    slots: Mutex<HashMap<(String, &'static str), Arc<Slot>>>,
    disk: Option<PathBuf>,
    compiles: AtomicUsize,
}

impl BinaryCache {
    /// A cache in memory only, or also under `disk` (created on first write, mode 700).
    pub fn new(disk: Option<PathBuf>) -> BinaryCache {
        BinaryCache { disk, ..BinaryCache::default() }
    }

    /// The process-wide cache: the binaries built with Orbit (unless `ORBIT_AGENT_PREBUILT=off`), then
    /// the disk cache of [`default_disk_dir`].
    pub fn global() -> Arc<BinaryCache> {
        static GLOBAL: OnceLock<Arc<BinaryCache>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let cache = BinaryCache::new(default_disk_dir());
                let off = std::env::var("ORBIT_AGENT_PREBUILT")
                    .is_ok_and(|v| matches!(v.trim(), "off" | "0" | "false" | "none"));
                if !off {
                    cache.add_prebuilt();
                }
                Arc::new(cache)
            })
            .clone()
    }

    /// Offers the binaries compiled when Orbit was built to the nodes of that OTP release.
    pub fn add_prebuilt(&self) {
        if let Some((release, beams)) = prebuilt() {
            for (module, beam) in beams {
                self.insert(release, module, beam.to_vec());
            }
        }
    }

    /// How many times a module was compiled on a node through this cache.
    pub fn compiles(&self) -> usize {
        self.compiles.load(Ordering::Relaxed)
    }

    /// The binary kept for `module` (of this Orbit's source) compiled for `otp_release`, if any.
    pub fn get(&self, otp_release: &str, module: &str) -> Option<Vec<u8>> {
        let m = MODULES.iter().find(|m| m.name == module)?;
        self.slot(otp_release, m).get().map(|b| b.as_ref().clone())
    }

    /// Puts a binary in the cache (memory only) as the one to load for `module` on nodes of `otp_release`.
    pub fn insert(&self, otp_release: &str, module: &str, beam: Vec<u8>) {
        if let Some(m) = MODULES.iter().find(|m| m.name == module) {
            self.slot(otp_release, m).set(Arc::new(beam));
        }
    }

    fn slot(&self, otp_release: &str, m: &AgentModule) -> Arc<Slot> {
        self.slots.lock().unwrap().entry((otp_release.to_string(), m.name)).or_default().clone()
    }

    /// The binary of `m` for `otp_release`: from memory, from disk, else compiled on the node behind `link`
    /// (once per release: nodes of the same release wait for the first one, at most `COMPILE_WAIT`).
    async fn binary(
        &self,
        link: &Link,
        otp_release: &str,
        m: &'static AgentModule,
    ) -> Result<Arc<Vec<u8>>, AgentError> {
        let slot = self.slot(otp_release, m);
        if let Some(b) = slot.get() {
            return Ok(b);
        }
        let waited = tokio::time::timeout(COMPILE_WAIT, slot.compiling.lock()).await;
        match waited {
            Ok(_compiling) => {
                if let Some(b) = slot.get() {
                    return Ok(b);
                }
                if let Some(b) = self.read_disk(otp_release, m) {
                    let b = Arc::new(b);
                    slot.set(b.clone());
                    return Ok(b);
                }
                let b = Arc::new(self.compile_on(link, m).await?);
                slot.set(b.clone());
                self.write_disk(otp_release, m, &b);
                Ok(b)
            }
            Err(_) => Ok(Arc::new(self.compile_on(link, m).await?)),
        }
    }

    /// After a node refused the cached binary: the one compiled on that node replaces it.
    fn replace(&self, otp_release: &str, m: &AgentModule, beam: Arc<Vec<u8>>) {
        self.write_disk(otp_release, m, &beam);
        self.slot(otp_release, m).set(beam);
    }

    async fn compile_on(&self, link: &Link, m: &'static AgentModule) -> Result<Vec<u8>, AgentError> {
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let source = stamped_source(m);
        let node = link.peer().to_string();
        let compiled = if m.name == "orbit_agent" {
            // The bootstrap: no helper of Orbit's on the node yet.
            compile_from_source(link, m.name, &source).await
        } else {
            let reply = call(link, "orbit_agent", "compile", vec![binary(source.into_bytes())]).await?;
            match as_tuple(&reply) {
                Some([ok, name, Term::Binary(b)]) if *ok == atom("ok") && *name == atom(m.name) => Ok(b.bytes.clone()),
                _ => Err(AgentError::Compile { node: node.clone(), module: m.name, detail: render(&reply) }),
            }
        };
        tracing::debug!("{node}: compiled {} in {:?}", m.name, started.elapsed());
        compiled
    }

    fn disk_path(&self, otp_release: &str, m: &AgentModule) -> Option<PathBuf> {
        let release: String =
            otp_release.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
        if release.is_empty() {
            return None;
        }
        let dir = self.disk.as_ref()?.join(format!("otp-{release}"));
        Some(dir.join(format!("{}-{}.beam", m.name, source_hash(m.source))))
    }

    /// A cached binary, only from a file this user owns that no one else may write.
    fn read_disk(&self, otp_release: &str, m: &AgentModule) -> Option<Vec<u8>> {
        use std::os::unix::fs::MetadataExt;
        let path = self.disk_path(otp_release, m)?;
        let meta = std::fs::symlink_metadata(&path).ok()?;
        let uid = unsafe { libc::geteuid() };
        if !meta.is_file() || meta.uid() != uid || meta.mode() & 0o022 != 0 {
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        bytes.starts_with(b"FOR1").then_some(bytes)
    }

    fn write_disk(&self, otp_release: &str, m: &AgentModule, beam: &[u8]) {
        let Some(path) = self.disk_path(otp_release, m) else { return };
        if let Err(e) = write_private(&path, beam) {
            tracing::debug!("cannot keep {} in {}: {e}", m.name, path.display());
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path.parent().ok_or_else(|| std::io::Error::other("no parent directory"))?;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let tmp = dir.join(format!(".{}.{}.{:08x}", std::process::id(), rand::random::<u32>(), rand::random::<u32>()));
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    let written = f.write_all(bytes).and_then(|_| f.sync_all()).and_then(|_| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Where compiled agent modules are kept between runs: `ORBIT_AGENT_CACHE` (a directory, or `off`),
/// else `$XDG_CACHE_HOME/orbit/agent`, else `~/.cache/orbit/agent`.
pub fn default_disk_dir() -> Option<PathBuf> {
    match std::env::var("ORBIT_AGENT_CACHE") {
        Ok(v) if matches!(v.trim(), "off" | "0" | "none" | "false") => return None,
        Ok(v) if !v.trim().is_empty() => return Some(PathBuf::from(v.trim())),
        _ => {}
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("orbit").join("agent"))
}

// ─────────────────────────────────────────────────────────────────────────────────────────────────────────
// Installing

/// What Orbit knows of a node's agent after installing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAgent {
    pub otp_release: String,
    pub erts_version: String,
}

/// Installs every agent module on the node behind `link` unless it runs this version already.
pub async fn install(link: &Link) -> Result<Vec<(&'static str, InstallOutcome)>, AgentError> {
    install_groups(link, Groups::all(), &BinaryCache::global()).await.map(|(_, outcomes)| outcomes)
}

/// Installs the modules of `groups` (and always the core) on the node behind `link`, taking compiled
/// binaries from `cache` (compiling on this node what no node of its release compiled yet). Returns the
/// node's release and what happened to each module, in [`MODULES`] order.
pub async fn install_groups(
    link: &Link,
    groups: Groups,
    cache: &BinaryCache,
) -> Result<(NodeAgent, Vec<(&'static str, InstallOutcome)>), AgentError> {
    let started = std::time::Instant::now();
    let groups = groups.with(Group::Core);
    let wanted: Vec<&'static AgentModule> =
        MODULES.iter().filter(|m| m.groups().iter().any(|g| groups.contains(g))).collect();
    let names: Vec<&str> = wanted.iter().map(|m| m.name).collect();
    let mut outcomes: HashMap<&'static str, InstallOutcome> = HashMap::new();

    // What the node runs, in one round trip when a version of the agent is there.
    let (agent, mut hashes) = match node_info(link, &names).await? {
        Some(found) => found,
        None => {
            let release = call(link, "erlang", "system_info", vec![atom("otp_release")]).await?;
            let version = call(link, "erlang", "system_info", vec![atom("version")]).await?;
            let agent = NodeAgent { otp_release: text(&release), erts_version: text(&version) };
            (agent, HashMap::new())
        }
    };

    // orbit_agent first: it compiles and loads the others.
    let bootstrap = &MODULES[0];
    let have = hashes.get(bootstrap.name).cloned().flatten();
    if have.as_deref() != Some(source_hash(bootstrap.source).as_str()) {
        let beam = cache.binary(link, &agent.otp_release, bootstrap).await?;
        if let Err(refused) = load_direct(link, bootstrap.name, &beam).await {
            tracing::debug!("{}: {refused}; compiling orbit_agent there", link.peer());
            let own = Arc::new(compile_from_source(link, bootstrap.name, &stamped_source(bootstrap)).await?);
            load_direct(link, bootstrap.name, &own).await?;
            cache.replace(&agent.otp_release, bootstrap, own);
        }
        outcomes
            .insert(bootstrap.name, if have.is_some() { InstallOutcome::Upgraded } else { InstallOutcome::Installed });
        if hashes.is_empty() {
            // The node had no agent that could answer: ask the fresh one what else is there.
            if let Some((_, h)) = node_info(link, &names).await? {
                hashes = h;
            }
        }
    } else {
        outcomes.insert(bootstrap.name, InstallOutcome::Current);
    }

    // The others: binaries for this release (compiled once), loaded in one call.
    let todo: Vec<&'static AgentModule> = wanted
        .iter()
        .copied()
        .filter(|m| m.name != bootstrap.name)
        .filter(|m| {
            let have = hashes.get(m.name).cloned().flatten();
            let current = have.as_deref() == Some(source_hash(m.source).as_str());
            let outcome = match (current, have.is_some()) {
                (true, _) => InstallOutcome::Current,
                (false, true) => InstallOutcome::Upgraded,
                (false, false) => InstallOutcome::Installed,
            };
            outcomes.insert(m.name, outcome);
            !current
        })
        .collect();
    if !todo.is_empty() {
        let beams = futures::future::join_all(todo.iter().map(|m| cache.binary(link, &agent.otp_release, m))).await;
        let mut batch = Vec::with_capacity(todo.len());
        for (m, beam) in todo.iter().zip(beams) {
            batch.push((*m, beam?));
        }
        for (m, refused) in load_batch(link, &batch).await? {
            // Refused (e.g. compiled for another emulator): compile it on this node instead.
            tracing::debug!("{}: {} refused its binary ({refused}); compiling it there", link.peer(), m.name);
            let own = Arc::new(cache.compile_on(link, m).await?);
            if let Some((_, err)) = load_batch(link, &[(m, own.clone())]).await?.into_iter().next() {
                return Err(AgentError::Load { node: link.peer().to_string(), module: m.name, detail: err });
            }
            cache.replace(&agent.otp_release, m, own);
        }
    }
    let outcomes: Vec<_> =
        wanted.iter().map(|m| (m.name, outcomes.get(m.name).copied().unwrap_or(InstallOutcome::Current))).collect();
    tracing::debug!("{}: agent ({groups}) ready in {:?}: {outcomes:?}", link.peer(), started.elapsed());
    Ok((agent, outcomes))
}

/// `orbit_agent:info/1` on the node: its release and the hash of each module (`None`: not loaded or no
/// hash). `None` when no agent that knows `info/1` runs there.
async fn node_info(
    link: &Link,
    modules: &[&str],
) -> Result<Option<(NodeAgent, HashMap<String, Option<String>>)>, RpcError> {
    let mods = list(modules.iter().map(atom).collect());
    let reply = match call(link, "orbit_agent", "info", vec![mods]).await {
        Ok(r) => r,
        // undef: no agent, or one from before info/1.
        Err(e) if e.exception_reason().is_some() => return Ok(None),
        Err(e) => return Err(e),
    };
    let Term::Map(m) = &reply else { return Ok(None) };
    let get = |k: &str| m.map.get(&atom(k));
    let (Some(release), Some(version)) = (get("otp_release"), get("erts_version")) else { return Ok(None) };
    let mut hashes = HashMap::new();
    if let Some(Term::List(l)) = get("modules") {
        for item in &l.elements {
            if let Some([Term::Atom(name), hash]) = as_tuple(item) {
                let hash = match hash {
                    Term::Binary(b) => Some(String::from_utf8_lossy(&b.bytes).into_owned()),
                    _ => None,
                };
                hashes.insert(name.name.clone(), hash);
            }
        }
    }
    Ok(Some((NodeAgent { otp_release: text(release), erts_version: text(version) }, hashes)))
}

/// Loads `orbit_agent` itself (it cannot load its own new version through itself).
async fn load_direct(link: &Link, module: &'static str, beam: &[u8]) -> Result<(), AgentError> {
    if call(link, "code", "soft_purge", vec![atom(module)]).await? != atom("true") {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        call(link, "code", "purge", vec![atom(module)]).await?;
    }
    let file = charlist(&format!("{module}.erl"));
    let loaded = call(link, "code", "load_binary", vec![atom(module), file, binary(beam.to_vec())]).await?;
    match as_tuple(&loaded) {
        Some([ok, _]) if *ok == atom("module") => Ok(()),
        _ => Err(AgentError::Load { node: link.peer().to_string(), module, detail: render(&loaded) }),
    }
}

/// Loads binaries through `orbit_agent:load/1`; returns the modules the node refused, with why.
async fn load_batch(
    link: &Link,
    batch: &[(&'static AgentModule, Arc<Vec<u8>>)],
) -> Result<Vec<(&'static AgentModule, String)>, AgentError> {
    let arg = list(batch.iter().map(|(m, b)| tuple(vec![atom(m.name), binary(b.as_ref().clone())])).collect());
    // Purging a version still in use waits 1.5 s on the node.
    let reply = rpc::call(link, "orbit_agent", "load", vec![arg], CALL_TIMEOUT + Duration::from_secs(2)).await?;
    let Term::List(results) = &reply else {
        return Err(AgentError::Load {
            node: link.peer().to_string(),
            module: batch.first().map(|(m, _)| m.name).unwrap_or("orbit_agent"),
            detail: render(&reply),
        });
    };
    let mut refused = Vec::new();
    for ((m, _), r) in batch.iter().zip(&results.elements) {
        if let Some([Term::Atom(_), result]) = as_tuple(r) {
            if *result != atom("ok") {
                refused.push((*m, render(result)));
            }
        }
    }
    Ok(refused)
}

fn render(t: &Term) -> String {
    crate::term::render_erlang(t, &Default::default())
}

/// The hash of the agent module the node runs now, if any.
pub async fn installed_hash(link: &Link, module: &str) -> Result<Option<String>, RpcError> {
    let attrs = match call(link, "erlang", "get_module_info", vec![atom(module), atom("attributes")]).await {
        Ok(a) => a,
        // badarg: the module is not loaded.
        Err(e) if e.exception_reason().is_some() => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(find_hash(&attrs))
}

fn find_hash(attrs: &Term) -> Option<String> {
    let Term::List(l) = attrs else { return None };
    for item in &l.elements {
        let Term::Tuple(t) = item else { continue };
        if t.elements.len() != 2 || t.elements[0] != atom("orbit_source_hash") {
            continue;
        }
        // A string attribute value is kept as it is: `{orbit_source_hash, "…"}`.
        if let Term::ByteList(b) = &t.elements[1] {
            return Some(String::from_utf8_lossy(&b.bytes).into_owned());
        }
    }
    None
}

/// Compiles Erlang source text on the node and loads the result, with no file written there.
/// (`erl_scan` → split after each dot → `erl_parse:parse_form` → `compile:forms` → `code:load_binary`;
/// no preprocessor on this path, so no macros or includes.)
pub async fn load_from_source(link: &Link, module: &'static str, source: &str) -> Result<(), AgentError> {
    let beam = compile_from_source(link, module, source).await?;
    // Purge the previous old version first (running sessions move to current code within a second of a
    // load, so a soft purge normally succeeds; a hard purge is the fallback).
    load_direct(link, module, &beam).await
}

/// Compiles Erlang source text on the node with nothing but OTP's own modules (one RPC each for scan,
/// parse and compile) and returns the binary; loads nothing.
pub async fn compile_from_source(link: &Link, module: &'static str, source: &str) -> Result<Vec<u8>, AgentError> {
    let node = link.peer().to_string();
    let compile_err = |detail: String| AgentError::Compile { node: node.clone(), module, detail };

    // scan
    let scanned = call(link, "erl_scan", "string", vec![charlist(source)]).await?;
    let tokens = match tuple_parts(&scanned) {
        Some([ok, Term::List(tokens), _]) if *ok == atom("ok") => tokens.elements.clone(),
        _ => return Err(compile_err(format!("scan failed: {}", render(&scanned)))),
    };
    // parse each form (split after every dot token)
    let mut forms_tokens: Vec<Term> = Vec::new();
    let mut current = Vec::new();
    for t in tokens {
        let is_dot = matches!(tuple_parts(&t), Some([tag, _]) if *tag == atom("dot"));
        current.push(t);
        if is_dot {
            forms_tokens.push(Term::from(List::from(std::mem::take(&mut current))));
        }
    }
    let parse_form = Term::from(ExternalFun::from(("erl_parse", "parse_form", 1u8)));
    let parsed = call(link, "lists", "map", vec![parse_form, Term::from(List::from(forms_tokens))]).await?;
    let Term::List(parsed) = parsed else { return Err(compile_err("parse returned no list".into())) };
    let mut forms = Vec::with_capacity(parsed.elements.len());
    for p in parsed.elements {
        match tuple_parts(&p) {
            Some([ok, form]) if *ok == atom("ok") => forms.push(form.clone()),
            _ => return Err(compile_err(format!("parse error: {}", render(&p)))),
        }
    }
    // compile
    let opts = Term::from(List::from(vec![atom("binary"), atom("return_errors")]));
    let compiled = call(link, "compile", "forms", vec![Term::from(List::from(forms)), opts]).await?;
    match tuple_parts(&compiled) {
        Some([ok, _, Term::Binary(bin), ..]) if *ok == atom("ok") => Ok(bin.bytes.clone()),
        _ => Err(compile_err(render(&compiled))),
    }
}

/// A session of the agent: clean-ups registered with it run when Orbit's node goes away or `stop` is called.
#[derive(Debug, Clone)]
pub struct Session {
    pub node: String,
    pub pid: eetf::Pid,
}

impl Session {
    /// Starts a session that reports membership changes to `events` (one of Orbit's mailboxes).
    pub async fn start(link: &Link, events: &eetf::Pid) -> Result<Session, AgentError> {
        let me = atom(link.local().name());
        let reply = call(link, "orbit_agent", "start_session", vec![me, Term::from(events.clone())]).await?;
        match tuple_parts(&reply) {
            Some([ok, Term::Pid(pid)]) if *ok == atom("ok") => {
                Ok(Session { node: link.peer().to_string(), pid: pid.clone() })
            }
            _ => Err(AgentError::Load {
                node: link.peer().to_string(),
                module: "orbit_agent",
                detail: format!("start_session returned {}", render(&reply)),
            }),
        }
    }

    /// Runs `M:F(A)` on the node when this session ends, however it ends. The same `key` replaces.
    pub async fn register_cleanup(
        &self,
        link: &Link,
        key: Term,
        m: &str,
        f: &str,
        a: Vec<Term>,
    ) -> Result<(), RpcError> {
        let mfa = Term::from(Tuple::from(vec![atom(m), atom(f), Term::from(List::from(a))]));
        let reply = call(link, "orbit_agent", "register_cleanup", vec![Term::from(self.pid.clone()), key, mfa]).await?;
        refused(link, "orbit_agent:register_cleanup/3", reply)
    }

    pub async fn unregister_cleanup(&self, link: &Link, key: Term) -> Result<(), RpcError> {
        let reply = call(link, "orbit_agent", "unregister_cleanup", vec![Term::from(self.pid.clone()), key]).await?;
        refused(link, "orbit_agent:unregister_cleanup/2", reply)
    }

    /// Runs the clean-ups and ends the session.
    pub async fn stop(&self, link: &Link) -> Result<(), RpcError> {
        rpc::call(link, "orbit_agent", "stop_session", vec![Term::from(self.pid.clone())], Duration::from_secs(70))
            .await
            .map(|_| ())
    }
}

/// The session's answer to a clean-up request: `{error, Why}` (`{no_session, Reason}`: the session process
/// is gone; `timeout`) means nothing was done, and is an error naming the call.
fn refused(link: &Link, mfa: &str, reply: Term) -> Result<(), RpcError> {
    match tuple_parts(&reply) {
        Some([error, _]) if *error == atom("error") => {
            Err(RpcError::BadRpc { node: link.peer().to_string(), mfa: mfa.to_string(), reason: reply })
        }
        _ => Ok(()),
    }
}

/// Whether `e` says the agent session it was sent to is gone (someone ended its process on the node).
pub fn session_gone(e: &RpcError) -> bool {
    match e {
        RpcError::BadRpc { reason, .. } => {
            matches!(tuple_parts(reason), Some([_, why]) if matches!(tuple_parts(why), Some([tag, _]) if *tag == atom("no_session")))
        }
        _ => false,
    }
}

async fn call(link: &Link, m: &str, f: &str, args: Vec<Term>) -> Result<Term, RpcError> {
    rpc::call(link, m, f, args, CALL_TIMEOUT).await
}

fn tuple_parts(t: &Term) -> Option<&[Term]> {
    match t {
        Term::Tuple(t) => Some(&t.elements),
        _ => None,
    }
}

/// An Erlang string (a list of code points), as erl_scan wants it.
fn charlist(s: &str) -> Term {
    if s.is_ascii() {
        return Term::from(eetf::ByteList::from(s));
    }
    Term::from(List::from(s.chars().map(|c| Term::from(eetf::FixInteger::from(c as i32))).collect::<Vec<_>>()))
}

#[cfg(test)]
mod tests;
