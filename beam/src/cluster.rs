//! A connection to every node of a cluster: discovery from seed nodes, one link per node kept up with
//! backoff, the agent installed on each, `NodeUp`/`NodeDown` events, and calls fanned out to all nodes.
//!
//! Membership changes arrive from each node's agent (`net_kernel:monitor_nodes`) and, as a fallback for
//! nodes where the agent cannot run, from a slow periodic `nodes()` sweep.

use crate::agent::{self, Session};
use crate::link::{Cookie, Delivery, Link, LinkClosed, LinkError, LinkOptions, LocalNode, NodeName};
use crate::rpc::{self, RpcError};
use crate::term::atom;
use dashmap::DashMap;
use eetf::Term;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// How a cluster connection behaves.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub link: LinkOptions,
    /// Default bound for calls made through the cluster.
    pub call_timeout: Duration,
    /// Install Orbit's agent on every node (needed for clean-up, membership events and most features).
    pub install_agent: bool,
    /// Longest wait between reconnection attempts to a node that is down.
    pub max_backoff: Duration,
    /// How often to sweep `nodes()` of every node for members the events missed.
    pub discovery_interval: Duration,
    /// The name Orbit uses as a hidden node; default `orbit_<random>@<host of the first seed>`.
    pub local_name: Option<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            link: LinkOptions::default(),
            call_timeout: Duration::from_secs(15),
            install_agent: true,
            max_backoff: Duration::from_secs(10),
            discovery_interval: Duration::from_secs(10),
            local_name: None,
        }
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
    #[error("no seed node given: name at least one node, e.g. --node app@myhost")]
    NoSeeds,
    #[error("could not connect to any seed node:\n{}", .0.iter().map(|(n, e)| format!("  {n}: {e}")).collect::<Vec<_>>().join("\n"))]
    NoSeedReachable(Vec<(String, LinkError)>),
    #[error(transparent)]
    Link(#[from] LinkError),
}

#[derive(Debug)]
struct Member {
    state: NodeState,
    link: Option<Link>,
    session: Option<Session>,
    since: Instant,
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
    /// Succeeds when at least one seed is reachable; nodes that cannot be reached yet are retried.
    pub async fn connect(seeds: &[NodeName], cookie: Cookie, options: ClusterOptions) -> Result<Cluster, ClusterError> {
        let first = seeds.first().ok_or(ClusterError::NoSeeds)?;
        let local_name = options.local_name.clone().unwrap_or_else(|| {
            format!("orbit_{}_{:06x}@{}", std::process::id(), rand::random::<u32>() & 0xffffff, first.host())
        });
        let local = LocalNode::new(local_name);
        let mailbox = local.open_mailbox();
        let (stop, _) = watch::channel(false);
        let (events, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            events_pid: mailbox.pid().clone(),
            local,
            cookie,
            options,
            members: DashMap::new(),
            events,
            stop: stop.clone(),
        });
        let cluster = Cluster { _stop_on_drop: Arc::new(StopOnDrop(stop)), inner: inner.clone() };

        // Seeds first, in parallel, so that a bad seed is reported with its own error.
        let attempts = futures::future::join_all(seeds.iter().map(|s| {
            let inner = inner.clone();
            async move { (s.clone(), connect_member(&inner, s).await) }
        }))
        .await;
        let mut failures = Vec::new();
        for (seed, result) in attempts {
            match result {
                Ok(()) => {}
                Err(e) => failures.push((seed.to_string(), e)),
            }
        }
        if failures.len() == seeds.len() {
            return Err(ClusterError::NoSeedReachable(failures));
        }
        for (seed, _) in &failures {
            // Known but unreachable for now: keep trying in the background.
            if let Ok(n) = NodeName::parse(seed) {
                spawn_member(&inner, n, false);
            }
        }
        for seed in seeds {
            if inner.members.get(seed.as_str()).map(|m| m.state == NodeState::Up).unwrap_or(false) {
                spawn_member(&inner, seed.clone(), true);
            }
        }
        discover(&inner).await;

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
        let (link, session) = self.link_and_session(node)?;
        session.register_cleanup(&link, key, m, f, a).await
    }

    pub async fn unregister_cleanup(&self, node: &str, key: Term) -> Result<(), RpcError> {
        let (link, session) = self.link_and_session(node)?;
        session.unregister_cleanup(&link, key).await
    }

    fn link_and_session(&self, node: &str) -> Result<(Link, Session), RpcError> {
        let link = self.link(node).ok_or_else(|| self.not_connected(node, "orbit_agent:register_cleanup/3"))?;
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

    pub fn call_timeout(&self) -> Duration {
        self.inner.options.call_timeout
    }

    /// `M:F(Args)` on one node.
    pub async fn call(
        &self,
        node: &str,
        m: &str,
        f: &str,
        args: Vec<Term>,
        timeout: Duration,
    ) -> Result<Term, RpcError> {
        match self.link(node) {
            Some(link) => rpc::call(&link, m, f, args, timeout).await,
            None => Err(self.not_connected(node, &format!("{m}:{f}/{}", args.len()))),
        }
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

    /// Ends the agent sessions (running their clean-ups) and closes every link.
    pub async fn disconnect(self) {
        let _ = self.inner.stop.send(true);
        let members: Vec<(Option<Link>, Option<Session>)> =
            self.inner.members.iter().map(|m| (m.link.clone(), m.session.clone())).collect();
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

/// Connects to one node (link, agent, session) and records it as up.
async fn connect_member(inner: &Arc<Inner>, node: &NodeName) -> Result<(), LinkError> {
    let link = Link::connect(inner.local.clone(), node, &inner.cookie, &inner.options.link).await?;
    let mut session = None;
    if inner.options.install_agent {
        match agent::install(&link).await {
            Ok(_) => match Session::start(&link, &inner.events_pid).await {
                Ok(s) => session = Some(s),
                Err(e) => tracing::warn!("{node}: agent session not started: {e}"),
            },
            Err(e) => tracing::warn!("{node}: agent not installed: {e}"),
        }
    }
    inner
        .members
        .insert(node.to_string(), Member { state: NodeState::Up, link: Some(link), session, since: Instant::now() });
    let _ = inner.events.send(ClusterEvent::NodeUp { node: node.to_string() });
    Ok(())
}

/// Adds `node` and keeps it connected until the cluster stops. `connected` says the first connection
/// was already made by the caller.
fn spawn_member(inner: &Arc<Inner>, node: NodeName, connected: bool) {
    if !connected {
        let fresh = !inner.members.contains_key(node.as_str());
        if !fresh {
            return;
        }
        inner.members.insert(
            node.to_string(),
            Member { state: NodeState::Connecting, link: None, session: None, since: Instant::now() },
        );
    }
    let weak = Arc::downgrade(inner);
    let mut stop = inner.stop.subscribe();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        let mut up = connected;
        loop {
            if up {
                let Some(link) = weak.upgrade().and_then(|i| i.members.get(node.as_str()).and_then(|m| m.link.clone()))
                else {
                    return;
                };
                let reason = tokio::select! {
                    r = link.closed() => r,
                    _ = stop.wait_for(|s| *s) => return,
                };
                drop(link);
                let Some(inner) = weak.upgrade() else { return };
                let reason = reason.to_string();
                if let Some(mut m) = inner.members.get_mut(node.as_str()) {
                    m.state = NodeState::Down { reason: reason.clone() };
                    m.link = None;
                    m.session = None;
                    m.since = Instant::now();
                }
                let _ = inner.events.send(ClusterEvent::NodeDown { node: node.to_string(), reason });
                backoff = Duration::from_millis(250);
                up = false;
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let Some(inner) = weak.upgrade() else { return };
            match connect_member(&inner, &node).await {
                Ok(()) => up = true,
                Err(e) => {
                    if let Some(mut m) = inner.members.get_mut(node.as_str()) {
                        if let NodeState::Down { .. } | NodeState::Connecting = m.state {
                            m.state = NodeState::Down { reason: e.to_string() };
                        }
                    }
                    backoff = (backoff * 2).min(inner.options.max_backoff);
                }
            }
        }
    });
}

/// Asks every node that is up for `nodes()` and adds the ones Orbit does not know.
async fn discover(inner: &Arc<Inner>) {
    let links: Vec<Link> = inner.members.iter().filter_map(|m| m.link.clone()).collect();
    let answers = futures::future::join_all(
        links.iter().map(|l| rpc::call(l, "erlang", "nodes", vec![], inner.options.call_timeout)),
    )
    .await;
    for answer in answers.into_iter().flatten() {
        if let Term::List(l) = answer {
            for n in l.elements {
                if let Term::Atom(a) = n {
                    add_node(inner, &a.name);
                }
            }
        }
    }
}

fn add_node(inner: &Arc<Inner>, name: &str) {
    if name == inner.local.name() || inner.members.contains_key(name) {
        return;
    }
    if let Ok(n) = NodeName::parse(name) {
        tracing::debug!("discovered {n}");
        spawn_member(inner, n, false);
    }
}

/// Membership events forwarded by the agents: `{orbit_membership, Reporter, nodeup|nodedown, Node, Reason}`.
/// A node that joins is connected at once; a node that leaves is noticed by its own link closing.
async fn membership_loop(inner: Weak<Inner>, mut mailbox: crate::link::Mailbox) {
    let mut stop = match inner.upgrade() {
        Some(i) => i.stop.subscribe(),
        None => return,
    };
    loop {
        let delivery = tokio::select! {
            d = mailbox.recv() => match d { Some(d) => d, None => return },
            _ = stop.wait_for(|s| *s) => return,
        };
        let Delivery::Message { body: Term::Tuple(t), .. } = delivery else { continue };
        if let [tag, _reporter, kind, Term::Atom(node), _reason] = t.elements.as_slice() {
            if *tag == atom("orbit_membership") && *kind == atom("nodeup") {
                let Some(i) = inner.upgrade() else { return };
                add_node(&i, &node.name);
            }
        }
    }
}

async fn discovery_loop(inner: Weak<Inner>) {
    let (interval, mut stop) = match inner.upgrade() {
        Some(i) => (i.options.discovery_interval, i.stop.subscribe()),
        None => return,
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let Some(i) = inner.upgrade() else { return };
        discover(&i).await;
    }
}
