//! Orbit's own node identity: the pids and references it hands out, and the mailboxes that receive what
//! remote processes send to those pids, whichever link it arrives on.

use dashmap::DashMap;
use eetf::{Atom, Pid, Reference, Term};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use tokio::sync::mpsc;

/// What arrives for one of Orbit's pids.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// An ordinary message (Orbit negotiates no SEND_SENDER and registers no names, so no sender is known).
    Message { body: Term },
    /// A remote process linked itself to our pid.
    Link { from: Pid },
    /// A linked remote process exited, or someone called `exit(OurPid, Reason)`.
    Exit { from: Pid, reason: Term },
    /// A monitor we set fired: the process exited or its node went away (`noconnection`).
    Down { reference: Reference, process: Term, reason: Term },
}

/// The hidden node Orbit runs as: one name, one creation, shared by every link it opens.
#[derive(Debug)]
pub struct LocalNode {
    name: String,
    creation: u32,
    next_pid: AtomicU32,
    next_ref: AtomicU64,
    mailboxes: DashMap<u32, mpsc::UnboundedSender<Delivery>>,
    me: Weak<LocalNode>,
}

/// Pid ids below this are avoided so ours never look like system processes in logs.
const FIRST_PID_ID: u32 = 100;

impl LocalNode {
    /// A new identity. `creation` tells pids of this run apart from those of an earlier Orbit with the same name.
    pub fn new(name: impl Into<String>) -> Arc<LocalNode> {
        let creation = loop {
            let c: u32 = rand::random();
            if c > 3 {
                break c;
            }
        };
        Arc::new_cyclic(|me| LocalNode {
            name: name.into(),
            creation,
            next_pid: AtomicU32::new(FIRST_PID_ID),
            next_ref: AtomicU64::new(1),
            mailboxes: DashMap::new(),
            me: me.clone(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn creation(&self) -> u32 {
        self.creation
    }

    /// A fresh pid with no mailbox (used for reply routing that a link handles itself).
    pub fn make_pid(&self) -> Pid {
        let n = self.next_pid.fetch_add(1, Ordering::Relaxed);
        // Classic pids carry a 15-bit id and a 13-bit serial; stay inside them so any node accepts ours.
        Pid::new(self.name.as_str(), n & 0x7fff, (n >> 15) & 0x1fff, self.creation)
    }

    /// A reference unique to this run of Orbit.
    pub fn make_ref(&self) -> Reference {
        let n = self.next_ref.fetch_add(1, Ordering::Relaxed);
        Reference {
            node: Atom::from(self.name.as_str()),
            id: vec![(n & 0x3ffff) as u32, (n >> 18) as u32, rand::random::<u32>()],
            creation: self.creation,
        }
    }

    /// A pid with a mailbox; the mailbox closes when the receiver is dropped.
    pub fn open_mailbox(&self) -> Mailbox {
        let pid = self.make_pid();
        let (tx, rx) = mpsc::unbounded_channel();
        self.mailboxes.insert(pid.id | (pid.serial << 15), tx);
        Mailbox { pid, rx, owner: self.me.clone() }
    }

    /// True when `pid` was made by this node (same name and creation).
    pub fn owns(&self, pid: &Pid) -> bool {
        pid.node.name == self.name && pid.creation == self.creation
    }

    /// Hands a delivery to the mailbox of `to`; returns false when no such mailbox is open.
    pub(crate) fn deliver(&self, to: &Pid, delivery: Delivery) -> bool {
        if !self.owns(to) {
            return false;
        }
        let key = to.id | (to.serial << 15);
        match self.mailboxes.get(&key) {
            Some(tx) => tx.send(delivery).is_ok(),
            None => false,
        }
    }
}

/// A pid of Orbit's together with the messages and signals sent to it.
#[derive(Debug)]
pub struct Mailbox {
    pid: Pid,
    rx: mpsc::UnboundedReceiver<Delivery>,
    owner: Weak<LocalNode>,
}

impl Mailbox {
    pub fn pid(&self) -> &Pid {
        &self.pid
    }

    /// The next delivery; `None` only if the node itself is gone.
    pub async fn recv(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    pub fn try_recv(&mut self) -> Option<Delivery> {
        self.rx.try_recv().ok()
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        if let Some(owner) = self.owner.upgrade() {
            owner.mailboxes.remove(&(self.pid.id | (self.pid.serial << 15)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_unique_and_owned() {
        let node = LocalNode::new("orbit_t@host");
        let a = node.make_pid();
        let b = node.make_pid();
        assert_ne!(a, b);
        assert!(node.owns(&a));
        let other = Pid::new("x@host", a.id, a.serial, node.creation() ^ 1);
        assert!(!node.owns(&other));
    }

    #[tokio::test]
    async fn delivery_reaches_open_mailbox_only() {
        let node = LocalNode::new("orbit_t@host");
        let mut mb = node.open_mailbox();
        let pid = mb.pid().clone();
        assert!(node.deliver(&pid, Delivery::Message { body: Term::from(Atom::from("hi")) }));
        assert!(matches!(mb.recv().await, Some(Delivery::Message { .. })));
        drop(mb);
        assert!(!node.deliver(&pid, Delivery::Message { body: Term::from(Atom::from("hi")) }));
    }

    #[test]
    fn references_differ() {
        let node = LocalNode::new("orbit_t@host");
        assert_ne!(node.make_ref(), node.make_ref());
    }
}
