//! A connection to every node of a cluster: discovery from seed nodes, one link per node kept up with
//! backoff, the agent installed on each, `NodeUp`/`NodeDown` events, and calls fanned out to all nodes.
//!
//! Membership changes arrive from each node's agent (`net_kernel:monitor_nodes`) and, as a fallback for
//! nodes where the agent cannot run, from a slow periodic `nodes()` sweep.
//!
//! The agent comes in groups ([`Group`]): the core is installed on every node as it connects, the others
//! when a command asks for them ([`ClusterOptions::groups`], [`Cluster::require`]), or at the first call
//! into one of their modules. The cluster remembers what was asked for, so a node that joins later gets
//! the same groups before its `NodeUp`. Each node is installed on its own: one slow node never holds up
//! the others.
//!
//! `members` keeps each node connected (reconnecting with backoff) and finds new members; `nodes` says which
//! nodes an operation may use ([`Cluster::require_up`], [`Cluster::resolve_nodes`], [`NodeUnavailable`]).

mod members;
mod nodes;

use crate::agent::{self, BinaryCache, Group, Groups, NodeAgent, Session};
use crate::link::{Cookie, Link, LinkClosed, LinkError, LinkOptions, LocalNode, NodeName};
use crate::rpc::{self, RpcError};
use crate::term::atom;
use dashmap::DashMap;
use eetf::Term;
use futures::StreamExt;
use members::{connect_member, discover, discovery_loop, keep_member, membership_loop};
pub use nodes::NodeUnavailable;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};

/// Once one seed is up, how long `connect` still waits for the others before leaving them to connect in
/// the background.
const SEED_GRACE: Duration = Duration::from_millis(250);

/// After an install failed on a node, calls needing it fail at once for this long before it is retried.
const INSTALL_RETRY: Duration = Duration::from_secs(10);

/// How a cluster connection behaves.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub link: LinkOptions,
    /// Default bound for calls made through the cluster.
    pub call_timeout: Duration,
    /// Install Orbit's agent on every node (needed for clean-up, membership events and most features).
    pub install_agent: bool,
    /// Agent groups to install on every node as it connects, besides the core. Others are installed when
    /// asked for ([`Cluster::require`]) or at the first call into one of their modules.
    pub groups: Groups,
    /// Where compiled agent modules are kept; `None`: the process-wide [`BinaryCache::global`].
    pub agent_cache: Option<Arc<BinaryCache>>,
    /// Longest wait between reconnection attempts to a node that is down.
    pub max_backoff: Duration,
    /// How often to sweep `nodes()` of every node for members the events missed.
    pub discovery_interval: Duration,
    /// The name Orbit uses as a hidden node; default `orbit_<random>@<host of the first seed>`.
    pub local_name: Option<String>,
    /// Observe only: refuse everything that would change a node ([`crate::read_only`]). Also on when the
    /// process asks for it (`ORBIT_READ_ONLY=1`, `orbit --read-only`), whatever this says.
    pub read_only: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            link: LinkOptions::default(),
            call_timeout: Duration::from_secs(15),
            install_agent: true,
            groups: Groups::NONE,
            agent_cache: None,
            max_backoff: Duration::from_secs(10),
            discovery_interval: Duration::from_secs(10),
            local_name: None,
            read_only: false,
        }
    }
}

impl ClusterOptions {
    /// These options, also installing `group` on every node at connect.
    pub fn with_group(mut self, group: Group) -> ClusterOptions {
        self.groups = self.groups.with(group);
        self
    }
}

/// A membership change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    NodeUp { node: String },
    NodeDown { node: String, reason: String },
}

/// Where a node stands from Orbit's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeState {
    Connecting,
    Up,
    Down { reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("no seed node given: name at least one node, e.g. --node app@myhost, nodes in the editor's settings, node in a debug configuration, or ORBIT_NODE")]
    NoSeeds,
    #[error("could not connect to any seed node:\n{}", .0.iter().map(|(n, e)| format!("  {n}: {e}")).collect::<Vec<_>>().join("\n"))]
    NoSeedReachable(Vec<(String, LinkError)>),
    #[error(transparent)]
    Link(#[from] LinkError),
}

/// What became of one node in [`Cluster::each_node`].
#[derive(Debug, Clone, PartialEq)]
pub enum NodeAnswer<T> {
    /// The node answered.
    Answered(T),
    /// Nothing by the deadline: the node is still connecting, being installed, or computing (or its
    /// connection attempt timed out).
    NoAnswer,
    /// The node is down, for this reason.
    Down(String),
}

#[derive(Debug)]
struct Member {
    state: NodeState,
    link: Option<Link>,
    session: Option<Session>,
    /// The agent groups installed over this connection.
    groups: Groups,
    agent: Option<NodeAgent>,
    /// The last install that failed over this connection: what, why, when.
    install_failed: Option<(Groups, String, Instant)>,
    /// Keys of the clean-ups registered through this cluster over this connection.
    cleanups: Vec<Term>,
    /// The last attempt to connect got no answer in time (as opposed to a refusal).
    silent: bool,
}

impl Member {
    fn new(state: NodeState) -> Member {
        Member {
            state,
            link: None,
            session: None,
            groups: Groups::NONE,
            agent: None,
            install_failed: None,
            cleanups: Vec::new(),
            silent: false,
        }
    }
}

#[derive(Debug)]
struct Inner {
    local: Arc<LocalNode>,
    cookie: Cookie,
    options: ClusterOptions,
    members: DashMap<String, Member>,
    events: broadcast::Sender<ClusterEvent>,
    /// Agents send membership events here.
    events_pid: eetf::Pid,
    stop: watch::Sender<bool>,
    cache: Arc<BinaryCache>,
    /// Agent groups asked for so far: every node that connects gets them.
    requested: Mutex<Groups>,
    /// One install at a time per node.
    install_locks: DashMap<String, Arc<tokio::sync::Mutex<()>>>,
    /// Counts changes of the members' states (a failed attempt to connect included), for those who wait
    /// on them ([`Cluster::settle`], [`Cluster::each_node`]).
    states: watch::Sender<u64>,
}

impl Inner {
    /// Tells whoever waits on the members' states that one changed.
    fn state_changed(&self) {
        self.states.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn wanted_groups(&self) -> Groups {
        self.requested.lock().unwrap().union(self.options.groups).with(Group::Core)
    }
}

/// Orbit's view of one cluster. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
    _stop_on_drop: Arc<StopOnDrop>,
}

#[derive(Debug)]
struct StopOnDrop(watch::Sender<bool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

impl Cluster {
    /// Connects to the seeds, discovers the rest of the cluster and connects to every node in parallel.
    /// Succeeds when at least one seed is reachable; nodes that cannot be reached yet are retried. Once a
    /// seed is up, a seed that takes longer than a moment more is left to connect in the background.
    pub async fn connect(
        seeds: &[NodeName],
        cookie: Cookie,
        mut options: ClusterOptions,
    ) -> Result<Cluster, ClusterError> {
        options.read_only |= crate::read_only::process_wide();
        let first = seeds.first().ok_or(ClusterError::NoSeeds)?;
        let local_name = options.local_name.clone().unwrap_or_else(|| {
            format!("orbit_{}_{:06x}@{}", std::process::id(), rand::random::<u32>() & 0xffffff, first.host())
        });
        let local = LocalNode::new(local_name);
        let mailbox = local.open_mailbox();
        let (stop, _) = watch::channel(false);
        let (events, _) = broadcast::channel(1024);
        let cache = options.agent_cache.clone().unwrap_or_else(BinaryCache::global);
        let inner = Arc::new(Inner {
            events_pid: mailbox.pid().clone(),
            local,
            cookie,
            options,
            members: DashMap::new(),
            events,
            stop: stop.clone(),
            cache,
            requested: Mutex::new(Groups::NONE),
            install_locks: DashMap::new(),
            states: watch::channel(0).0,
        });
        let cluster = Cluster { _stop_on_drop: Arc::new(StopOnDrop(stop)), inner: inner.clone() };

        // Seeds first, in parallel, so that a bad seed is reported with its own error.
        let mut unique: Vec<NodeName> = Vec::new();
        for s in seeds {
            if !unique.iter().any(|u| u.as_str() == s.as_str()) {
                unique.push(s.clone());
            }
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        for seed in &unique {
            inner.members.insert(seed.to_string(), Member::new(NodeState::Connecting));
            let inner = inner.clone();
            let tx = tx.clone();
            let seed = seed.clone();
            tokio::spawn(async move {
                let result = connect_member(&inner, &seed).await;
                // Whatever `connect` does meanwhile, the node is kept connected (or retried) from now on.
                if let Err(e) = &result {
                    if let Some(mut m) = inner.members.get_mut(seed.as_str()) {
                        m.state = NodeState::Down { reason: e.to_string() };
                        m.silent = matches!(e, LinkError::Timeout { .. });
                    }
                    inner.state_changed();
                }
                keep_member(&inner, seed.clone(), result.is_ok(), false);
                let _ = tx.send((seed, result));
            });
        }
        drop(tx);
        let mut failures = Vec::new();
        let mut pending = unique.len();
        let mut grace: Option<tokio::time::Instant> = None;
        while pending > 0 {
            let next = match grace {
                Some(g) => match tokio::time::timeout_at(g, rx.recv()).await {
                    Ok(n) => n,
                    Err(_) => break,
                },
                None => rx.recv().await,
            };
            let Some((seed, result)) = next else { break };
            pending -= 1;
            match result {
                Ok(()) => {
                    grace.get_or_insert_with(|| tokio::time::Instant::now() + SEED_GRACE);
                }
                Err(e) => failures.push((seed.to_string(), e)),
            }
        }
        if grace.is_none() {
            return Err(ClusterError::NoSeedReachable(failures));
        }
        discover(&inner, true).await;

        tokio::spawn(membership_loop(Arc::downgrade(&inner), mailbox));
        tokio::spawn(discovery_loop(Arc::downgrade(&inner)));
        Ok(cluster)
    }

    /// The hidden node name Orbit uses.
    pub fn local_name(&self) -> &str {
        self.inner.local.name()
    }

    /// Every known node and its state, sorted by name.
    pub fn nodes(&self) -> Vec<(String, NodeState)> {
        let mut v: Vec<_> = self.inner.members.iter().map(|m| (m.key().clone(), m.state.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Names of the nodes that are up, sorted.
    pub fn up_nodes(&self) -> Vec<String> {
        self.nodes().into_iter().filter(|(_, s)| *s == NodeState::Up).map(|(n, _)| n).collect()
    }

    pub fn link(&self, node: &str) -> Option<Link> {
        self.inner.members.get(node).and_then(|m| m.link.clone()).filter(|l| !l.is_closed())
    }

    /// The agent session on `node`, when the agent runs there.
    pub fn session(&self, node: &str) -> Option<Session> {
        self.inner.members.get(node).and_then(|m| m.session.clone())
    }

    /// A pid of Orbit's with a mailbox, for node-side code (tracers, agents) to send events to.
    pub fn open_mailbox(&self) -> crate::link::Mailbox {
        self.inner.local.open_mailbox()
    }

    /// Sends `message` to a pid on `node`.
    pub fn send(&self, node: &str, to: &eetf::Pid, message: Term) -> Result<(), RpcError> {
        let link = self.link(node).ok_or_else(|| self.not_connected(node, "send"))?;
        link.send(to, message).map_err(|reason| RpcError::NodeDown {
            node: node.to_string(),
            mfa: "send".into(),
            reason,
        })
    }

    /// Runs `M:F(A)` on `node` when Orbit's session there ends, however it ends (disconnect, crash, network
    /// loss). Registering the same `key` again replaces the earlier clean-up.
    pub async fn register_cleanup(
        &self,
        node: &str,
        key: Term,
        m: &str,
        f: &str,
        a: Vec<Term>,
    ) -> Result<(), RpcError> {
        let (mut link, session) = self.link_and_session(node).await?;
        match session.register_cleanup(&link, key.clone(), m, f, a.clone()).await {
            Err(e) if agent::session_gone(&e) => {
                // Someone ended Orbit's session there (and its clean-ups with it): start another.
                self.forget_session(node, &session);
                let (again, session) = self.link_and_session(node).await?;
                session.register_cleanup(&again, key.clone(), m, f, a).await?;
                link = again;
            }
            other => other?,
        }
        if let Some(mut member) = self.inner.members.get_mut(node) {
            if member.link.as_ref().is_some_and(|l| l.same_as(&link)) && !member.cleanups.contains(&key) {
                member.cleanups.push(key);
            }
        }
        Ok(())
    }

    pub async fn unregister_cleanup(&self, node: &str, key: Term) -> Result<(), RpcError> {
        let (link, session) = self.link_and_session(node).await?;
        match session.unregister_cleanup(&link, key.clone()).await {
            // Gone with its session: it will not run.
            Err(e) if agent::session_gone(&e) => self.forget_session(node, &session),
            other => other?,
        }
        if let Some(mut member) = self.inner.members.get_mut(node) {
            member.cleanups.retain(|k| *k != key);
        }
        Ok(())
    }

    /// Drops `session` (found gone) from `node`, with the clean-ups it held; the next need starts another.
    fn forget_session(&self, node: &str, session: &Session) {
        if let Some(mut member) = self.inner.members.get_mut(node) {
            if member.session.as_ref().is_some_and(|s| s.pid == session.pid) {
                member.session = None;
                member.cleanups.clear();
            }
        }
    }

    async fn link_and_session(&self, node: &str) -> Result<(Link, Session), RpcError> {
        let mfa = "orbit_agent:register_cleanup/3";
        let link = self.link(node).ok_or_else(|| self.not_connected(node, mfa))?;
        if self.session(node).is_none() && self.inner.options.install_agent {
            // The agent did not get installed when the node connected: try again now.
            self.ensure(node, Group::Core.into()).await.map_err(|e| agent_error(node, mfa, e))?;
        }
        let session = self.session(node).ok_or_else(|| RpcError::BadRpc {
            node: node.to_string(),
            mfa: "orbit_agent:register_cleanup/3".into(),
            reason: atom("orbit_agent_not_running"),
        })?;
        Ok((link, session))
    }

    fn not_connected(&self, node: &str, mfa: &str) -> RpcError {
        RpcError::NodeDown {
            node: node.to_string(),
            mfa: mfa.to_string(),
            reason: match self.inner.members.get(node).map(|m| m.state.clone()) {
                Some(NodeState::Down { reason }) => LinkClosed::Io(reason),
                Some(_) => LinkClosed::Io("not connected yet".into()),
                None => LinkClosed::Io("not a member of this cluster".into()),
            },
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ClusterEvent> {
        self.inner.events.subscribe()
    }

    /// Read-only mode: operations that would change a node are refused ([`crate::read_only`]).
    pub fn read_only(&self) -> bool {
        self.inner.options.read_only
    }

    pub fn call_timeout(&self) -> Duration {
        self.inner.options.call_timeout
    }

    /// `M:F(Args)` on one node. A call into an agent module the node does not have yet installs its
    /// group there first, within the same `timeout`.
    pub async fn call(
        &self,
        node: &str,
        m: &str,
        f: &str,
        args: Vec<Term>,
        timeout: Duration,
    ) -> Result<Term, RpcError> {
        let mut timeout = timeout;
        if let Some(group) = agent::group_of(m).filter(|g| self.needs_install(node, *g)) {
            let started = Instant::now();
            let mfa = || format!("{m}:{f}/{}", args.len());
            match tokio::time::timeout(timeout, self.ensure(node, group.into())).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(agent_error(node, &mfa(), e)),
                Err(_) => return Err(RpcError::Timeout { node: node.to_string(), mfa: mfa(), after: timeout }),
            }
            timeout = timeout.saturating_sub(started.elapsed()).max(Duration::from_millis(1));
        }
        match self.link(node) {
            Some(link) => rpc::call(&link, m, f, args, timeout).await,
            None => Err(self.not_connected(node, &format!("{m}:{f}/{}", args.len()))),
        }
    }

    fn needs_install(&self, node: &str, group: Group) -> bool {
        self.inner.options.install_agent
            && self.inner.members.get(node).is_some_and(|m| m.link.is_some() && !m.groups.contains(group))
    }

    /// The agent groups installed on `node` over its current connection.
    pub fn groups(&self, node: &str) -> Groups {
        self.inner.members.get(node).map(|m| m.groups).unwrap_or_default()
    }

    /// The OTP release of `node`, as its agent reported it.
    pub fn otp_release(&self, node: &str) -> Option<String> {
        self.inner.members.get(node).and_then(|m| m.agent.as_ref().map(|a| a.otp_release.clone()))
    }

    /// Installs `group` on every node that is up, each on its own (bounded by the call timeout), and on
    /// every node that connects from now on. Returns the nodes where it could not be installed.
    pub async fn require(&self, group: Group) -> Vec<(String, agent::AgentError)> {
        if !self.inner.options.install_agent {
            return Vec::new();
        }
        {
            let mut r = self.inner.requested.lock().unwrap();
            *r = r.with(group);
        }
        let timeout = self.inner.options.call_timeout;
        let nodes = self.up_nodes();
        let results = futures::future::join_all(nodes.into_iter().map(|n| async move {
            let r = match tokio::time::timeout(timeout, self.ensure(&n, group.into())).await {
                Ok(r) => r,
                Err(_) => Err(agent::AgentError::Rpc(RpcError::Timeout {
                    node: n.clone(),
                    mfa: format!("installing Orbit's {} modules", group.name()),
                    after: timeout,
                })),
            };
            (n, r)
        }))
        .await;
        results.into_iter().filter_map(|(n, r)| r.err().map(|e| (n, e))).collect()
    }

    /// Installs `groups` on `node` unless its current connection has them (and remembers them for
    /// nodes that connect later).
    pub async fn ensure(&self, node: &str, groups: Groups) -> Result<(), agent::AgentError> {
        let inner = &self.inner;
        if !inner.options.install_agent {
            return Ok(());
        }
        {
            let mut r = inner.requested.lock().unwrap();
            *r = r.union(groups);
        }
        let done = |m: &Member| m.groups.covers(groups) && m.session.is_some();
        if inner.members.get(node).is_some_and(|m| done(&m)) {
            return Ok(());
        }
        let lock = inner.install_locks.entry(node.to_string()).or_default().clone();
        let _one_at_a_time = lock.lock().await;
        let (link, have, session) = {
            let Some(m) = inner.members.get(node) else {
                return Err(agent::AgentError::Rpc(self.not_connected(node, "installing Orbit's agent")));
            };
            if done(&m) {
                return Ok(());
            }
            if let Some((g, why, at)) = &m.install_failed {
                if g.covers(groups) && at.elapsed() < INSTALL_RETRY {
                    return Err(agent::AgentError::Load {
                        node: node.to_string(),
                        module: "orbit_agent",
                        detail: why.clone(),
                    });
                }
            }
            let link = m.link.clone().filter(|l| !l.is_closed());
            (link, m.groups, m.session.clone())
        };
        let link = link.ok_or_else(|| agent::AgentError::Rpc(self.not_connected(node, "installing Orbit's agent")))?;
        let want = have.union(groups).with(Group::Core);
        let installed = async {
            let (found, _) = agent::install_groups(&link, want, &inner.cache).await?;
            let session = match session {
                Some(s) => s,
                None => Session::start(&link, &inner.events_pid).await?,
            };
            Ok::<_, agent::AgentError>((found, session))
        }
        .await;
        let Some(mut m) = inner.members.get_mut(node) else { return Ok(()) };
        if !m.link.as_ref().is_some_and(|l| l.same_as(&link)) {
            // Reconnected meanwhile: the new connection installed what was asked for.
            return installed.map(|_| ());
        }
        match installed {
            Ok((found, session)) => {
                m.groups = m.groups.union(want);
                m.agent = Some(found);
                m.session = Some(session);
                m.install_failed = None;
                Ok(())
            }
            Err(e) => {
                m.install_failed = Some((want, e.to_string(), Instant::now()));
                Err(e)
            }
        }
    }

    /// Runs `f` on every node of the cluster as soon as it is up — nodes still connecting are waited
    /// for, nodes that come up meanwhile are included — until every node has answered or is down, or
    /// `deadline` passes. One result per node Orbit knows, sorted by node: a node that is slow to connect
    /// or to answer is `NoAnswer` and never holds up the others beyond `deadline`.
    pub async fn each_node<T, F, Fut>(&self, deadline: tokio::time::Instant, f: F) -> Vec<(String, NodeAnswer<T>)>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let mut started: HashSet<String> = HashSet::new();
        let mut results: BTreeMap<String, NodeAnswer<T>> = BTreeMap::new();
        let mut running = futures::stream::FuturesUnordered::new();
        // A node that comes up (or gives up connecting) is seen when its state changes, not by polling.
        let mut changes = self.inner.states.subscribe();
        loop {
            changes.borrow_and_update();
            let nodes = self.nodes();
            for (node, state) in &nodes {
                if *state == NodeState::Up && started.insert(node.clone()) {
                    let fut = f(node.clone());
                    let node = node.clone();
                    running.push(async move { (node, tokio::time::timeout_at(deadline, fut).await) });
                }
            }
            let connecting = nodes.iter().any(|(n, s)| *s == NodeState::Connecting && !started.contains(n));
            if running.is_empty() && !connecting {
                break;
            }
            tokio::select! {
                Some((node, r)) = running.next(), if !running.is_empty() => {
                    results.insert(node, r.map(NodeAnswer::Answered).unwrap_or(NodeAnswer::NoAnswer));
                }
                _ = changes.changed() => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        for (node, state) in self.nodes() {
            if results.contains_key(&node) {
                continue;
            }
            // A node whose connection attempt timed out did not answer; one that refused or closed is down.
            let silent = self.inner.members.get(&node).is_some_and(|m| m.silent);
            let outcome = match state {
                NodeState::Down { reason } if !started.contains(&node) && !silent => NodeAnswer::Down(reason),
                _ => NodeAnswer::NoAnswer,
            };
            results.insert(node, outcome);
        }
        results.into_iter().collect()
    }

    /// `M:F(Args)` on every node that is up, in parallel: one result per node, sorted by node.
    pub async fn call_all(
        &self,
        m: &str,
        f: &str,
        args: Vec<Term>,
        timeout: Duration,
    ) -> Vec<(String, Result<Term, RpcError>)> {
        let nodes = self.up_nodes();
        futures::future::join_all(nodes.into_iter().map(|n| {
            let args = args.clone();
            async move {
                let r = self.call(&n, m, f, args, timeout).await;
                (n, r)
            }
        }))
        .await
    }

    /// Ends the agent sessions (running their clean-ups, and waiting for them where any were registered)
    /// and closes every link. A session with nothing to clean up ends by itself when its link closes.
    pub async fn disconnect(self) {
        let _ = self.inner.stop.send(true);
        let members: Vec<(Option<Link>, Option<Session>)> = self
            .inner
            .members
            .iter()
            .map(|m| (m.link.clone(), m.session.clone().filter(|_| !m.cleanups.is_empty())))
            .collect();
        futures::future::join_all(members.iter().map(|(link, session)| async move {
            if let (Some(link), Some(session)) = (link, session) {
                if let Err(e) = session.stop(link).await {
                    tracing::warn!("ending the agent session on {}: {e}", link.peer());
                }
            }
        }))
        .await;
        for (link, _) in members {
            if let Some(l) = link {
                l.close();
            }
        }
    }
}

fn agent_error(node: &str, mfa: &str, e: agent::AgentError) -> RpcError {
    match e {
        agent::AgentError::Rpc(e) => e,
        other => RpcError::Agent { node: node.to_string(), mfa: mfa.to_string(), detail: other.to_string() },
    }
}
