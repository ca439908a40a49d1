//! Keeping members connected: one task per node that connects and reconnects with backoff, and discovery
//! of new members (the agents' `nodeup` events, and a slow `nodes()` sweep).

use super::{ClusterEvent, Inner, Member, NodeState};
use crate::agent::{self, Session};
use crate::link::{Delivery, Link, LinkError, NodeName};
use crate::rpc;
use crate::term::atom;
use eetf::Term;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Connects to one node (link, agent, session) and records it as up. The agent install is bounded by
/// the call timeout: a node that takes longer is recorded as up without it (calls that need it retry).
pub(super) async fn connect_member(inner: &Arc<Inner>, node: &NodeName) -> Result<(), LinkError> {
    let link = Link::connect(inner.local.clone(), node, &inner.cookie, &inner.options.link).await?;
    let mut member = Member::new(NodeState::Up);
    if inner.options.install_agent {
        let install = async {
            // Groups asked for while this node was being installed are installed too.
            let mut want = inner.wanted_groups();
            loop {
                let (found, _) = agent::install_groups(&link, want, &inner.cache).await?;
                let now = inner.wanted_groups();
                if want.covers(now) {
                    let session = Session::start(&link, &inner.events_pid).await?;
                    return Ok::<_, agent::AgentError>((found, want, session));
                }
                want = want.union(now);
            }
        };
        match tokio::time::timeout(inner.options.call_timeout, install).await {
            Ok(Ok((found, groups, session))) => {
                member.agent = Some(found);
                member.groups = groups;
                member.session = Some(session);
            }
            Ok(Err(e)) => {
                tracing::warn!("{node}: agent not installed: {e}");
                member.install_failed = Some((inner.wanted_groups(), e.to_string(), Instant::now()));
            }
            Err(_) => tracing::warn!("{node}: agent not installed within {:?}", inner.options.call_timeout),
        }
    }
    member.link = Some(link);
    inner.members.insert(node.to_string(), member);
    inner.state_changed();
    let _ = inner.events.send(ClusterEvent::NodeUp { node: node.to_string() });
    Ok(())
}

/// Adds `node` (unless known) and keeps it connected until the cluster stops. `at_once`: connect without
/// first waiting the shortest backoff (for members found when joining; a node that has just joined the
/// cluster gets that moment to finish starting).
pub(super) fn spawn_member(inner: &Arc<Inner>, node: NodeName, at_once: bool) {
    match inner.members.entry(node.to_string()) {
        dashmap::Entry::Occupied(_) => return,
        dashmap::Entry::Vacant(v) => {
            v.insert(Member::new(NodeState::Connecting));
        }
    }
    inner.state_changed();
    keep_member(inner, node, false, at_once);
}

/// Keeps `node` connected until the cluster stops, reconnecting with backoff. `connected` says the first
/// connection was already made by the caller; `at_once`, that a node not connected is tried without
/// waiting first.
pub(super) fn keep_member(inner: &Arc<Inner>, node: NodeName, connected: bool, at_once: bool) {
    let weak = Arc::downgrade(inner);
    let mut stop = inner.stop.subscribe();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        let mut up = connected;
        let mut first = !connected && at_once;
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
                    *m = Member { state: NodeState::Down { reason: reason.clone() }, ..Member::new(NodeState::Up) };
                }
                inner.state_changed();
                let _ = inner.events.send(ClusterEvent::NodeDown { node: node.to_string(), reason });
                backoff = Duration::from_millis(250);
                up = false;
            }
            if !first {
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
            first = false;
            let Some(inner) = weak.upgrade() else { return };
            let attempt = tokio::select! {
                r = connect_member(&inner, &node) => r,
                _ = stop.wait_for(|s| *s) => return,
            };
            match attempt {
                Ok(()) => up = true,
                Err(e) => {
                    if let Some(mut m) = inner.members.get_mut(node.as_str()) {
                        if let NodeState::Down { .. } | NodeState::Connecting = m.state {
                            m.state = NodeState::Down { reason: e.to_string() };
                            m.silent = matches!(e, LinkError::Timeout { .. });
                        }
                    }
                    inner.state_changed();
                    backoff = (backoff * 2).min(inner.options.max_backoff);
                }
            }
        }
    });
}

/// Asks every node that is up for `nodes()` and adds the ones Orbit does not know (`at_once`: see
/// [`spawn_member`]).
pub(super) async fn discover(inner: &Arc<Inner>, at_once: bool) {
    let links: Vec<Link> = inner.members.iter().filter_map(|m| m.link.clone()).collect();
    let answers = futures::future::join_all(
        links.iter().map(|l| rpc::call(l, "erlang", "nodes", vec![], inner.options.call_timeout)),
    )
    .await;
    for answer in answers.into_iter().flatten() {
        if let Term::List(l) = answer {
            for n in l.elements {
                if let Term::Atom(a) = n {
                    add_node(inner, &a.name, at_once);
                }
            }
        }
    }
}

pub(super) fn add_node(inner: &Arc<Inner>, name: &str, at_once: bool) {
    if name == inner.local.name() || inner.members.contains_key(name) {
        return;
    }
    if let Ok(n) = NodeName::parse(name) {
        tracing::debug!("discovered {n}");
        spawn_member(inner, n, at_once);
    }
}

/// Membership events forwarded by the agents: `{orbit_membership, Reporter, nodeup|nodedown, Node, Reason}`.
/// A node that joins is connected after the shortest backoff (it is usually still starting); a node that
/// leaves is noticed by its own link closing.
pub(super) async fn membership_loop(inner: Weak<Inner>, mut mailbox: crate::link::Mailbox) {
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
                add_node(&i, &node.name, false);
            }
        }
    }
}

pub(super) async fn discovery_loop(inner: Weak<Inner>) {
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
        discover(&i, false).await;
    }
}
