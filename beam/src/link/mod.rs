//! One connection from Orbit (a hidden node) to one BEAM node.
//!
//! After the handshake Orbit frames the socket itself: a u32 big-endian length, 0 for a tick, otherwise
//! byte 112 followed by the control message and payload. One task reads and routes, one task writes
//! (callers encode on their own task, so many senders do not serialise on encoding), one task ticks.

mod connect;
mod error;
mod local;
mod name;
pub mod tls;

pub use connect::{default_epmd_port, epmd_names};
pub use error::LinkError;
pub use local::{Delivery, LocalNode, Mailbox};
pub use name::{Cookie, NodeName};
pub use tls::{ServerNameIndication, TlsConfig, TlsSettings, Verify};

use crate::term::{make_wire_safe, nesting_depth, unsendable};
use dashmap::DashMap;
use eetf::{Atom, Pid, Reference, Term, Tuple};
use erl_dist::message::Message;
use erl_dist::term::PidOrAtom;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch};

/// How a link is set up.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Like Erlang's `net_ticktime`: a peer silent for this long is taken as gone. Default 60 s.
    pub tick_time: Duration,
    /// Bound on epmd lookup, TCP connect and handshake, each.
    pub connect_timeout: Duration,
    /// Where epmd listens on the node's host.
    pub epmd_port: u16,
    /// TLS distribution (`-proto_dist inet_tls`); `None`: plain TCP. epmd is plain TCP either way.
    pub tls: Option<TlsConfig>,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            tick_time: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            epmd_port: default_epmd_port(),
            tls: None,
        }
    }
}

/// Why a link ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkClosed {
    /// Orbit closed it.
    Local,
    /// The peer closed the socket (node stopped, killed, or `erlang:disconnect_node`).
    PeerClosed,
    /// Nothing arrived for the tick time: the peer hangs or the network is cut.
    TickTimeout(Duration),
    /// Reading or writing the socket failed.
    Io(String),
    /// The peer sent bytes that are not a distribution message.
    Protocol(String),
    /// Not a closing: a message Orbit did not send because the node would refuse it (and drop the
    /// connection over it) or it cannot be encoded. The link stays up.
    Unsendable(String),
}

impl std::fmt::Display for LinkClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkClosed::Local => write!(f, "closed by Orbit"),
            LinkClosed::PeerClosed => write!(f, "the node closed the connection"),
            LinkClosed::TickTimeout(t) => write!(f, "no answer for {}s (net tick time)", t.as_secs_f32()),
            LinkClosed::Io(e) => write!(f, "socket error: {e}"),
            LinkClosed::Protocol(e) => write!(f, "protocol error: {e}"),
            LinkClosed::Unsendable(e) => write!(f, "not sent: {e}"),
        }
    }
}

/// A live connection to one node. Cheap to clone; the connection ends when `close` is called or every
/// clone is dropped.
#[derive(Clone, Debug)]
pub struct Link {
    inner: Arc<Inner>,
    _guard: Arc<CloseOnDrop>,
}

#[derive(Debug)]
struct CloseOnDrop(Arc<Inner>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.shutdown(LinkClosed::Local);
    }
}

#[derive(Debug)]
struct Inner {
    local: Arc<LocalNode>,
    peer: NodeName,
    writer: mpsc::UnboundedSender<Vec<u8>>,
    /// The pid rex replies to; replies are matched to callers by reference, without a mailbox hop.
    reply_pid: Pid,
    pending: DashMap<Reference, oneshot::Sender<Reply>>,
    /// Monitors Orbit set on remote processes: reference → (watching local pid, monitored process).
    monitors: DashMap<Reference, (Pid, Term)>,
    /// Links between our pids and remote ones.
    links: Mutex<Vec<(Pid, Pid)>>,
    closed_tx: watch::Sender<Option<LinkClosed>>,
    last_received_ms: AtomicU64,
    started: Instant,
    unlink_id: AtomicU64,
}

impl Link {
    /// Connects to `peer` as the hidden node `local`.
    pub async fn connect(
        local: Arc<LocalNode>,
        peer: &NodeName,
        cookie: &Cookie,
        options: &LinkOptions,
    ) -> Result<Link, LinkError> {
        let est =
            connect::establish(&local, peer, cookie, options.connect_timeout, options.epmd_port, options.tls.as_ref())
                .await?;
        let _ = est.peer_flags;
        let (writer_tx, writer_rx) = mpsc::unbounded_channel();
        let (closed_tx, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            reply_pid: local.make_pid(),
            local,
            peer: peer.clone(),
            writer: writer_tx,
            pending: DashMap::new(),
            monitors: DashMap::new(),
            links: Mutex::new(Vec::new()),
            closed_tx,
            last_received_ms: AtomicU64::new(0),
            started: Instant::now(),
            unlink_id: AtomicU64::new(1),
        });
        match est.stream {
            connect::DistStream::Plain(tcp) => {
                let (read_half, write_half) = tcp.into_split();
                tokio::spawn(write_loop(write_half, writer_rx, Arc::downgrade(&inner)));
                tokio::spawn(read_loop(read_half, inner.clone()));
            }
            connect::DistStream::Tls(tls) => {
                let (read_half, write_half) = tokio::io::split(*tls);
                tokio::spawn(write_loop(write_half, writer_rx, Arc::downgrade(&inner)));
                tokio::spawn(read_loop(read_half, inner.clone()));
            }
        }
        tokio::spawn(tick_loop(Arc::downgrade(&inner), options.tick_time));
        tracing::debug!(peer = %peer, "link up");
        Ok(Link { _guard: Arc::new(CloseOnDrop(inner.clone())), inner })
    }

    pub fn peer(&self) -> &NodeName {
        &self.inner.peer
    }

    pub fn local(&self) -> &Arc<LocalNode> {
        &self.inner.local
    }

    /// Why the link ended, or `None` while it is up.
    pub fn closed_reason(&self) -> Option<LinkClosed> {
        self.inner.closed_tx.borrow().clone()
    }

    pub fn is_closed(&self) -> bool {
        self.closed_reason().is_some()
    }

    /// Whether `other` is a handle to this same connection (not merely to the same node).
    pub fn same_as(&self, other: &Link) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Resolves when the link ends, with the reason.
    pub async fn closed(&self) -> LinkClosed {
        let mut rx = self.inner.closed_tx.subscribe();
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                return LinkClosed::Local;
            }
        }
    }

    /// Ends the link: pending calls fail, monitors fire `noconnection`.
    pub fn close(&self) {
        self.inner.shutdown(LinkClosed::Local);
    }

    /// Sends `message` to a remote pid.
    pub fn send(&self, to: &Pid, mut message: Term) -> Result<(), LinkClosed> {
        wire_ready(&mut message)?;
        self.inner.send_msg(Message::send(to.clone(), message))
    }

    /// Sends `message` to the process registered as `name` on the peer.
    pub fn send_named(&self, from: &Pid, name: &str, mut message: Term) -> Result<(), LinkClosed> {
        wire_ready(&mut message)?;
        self.inner.send_msg(Message::reg_send(from.clone(), Atom::from(name), message))
    }

    /// Sends an exit signal from one of our pids to a remote one (`exit(Pid, Reason)`).
    pub fn exit(&self, from: &Pid, to: &Pid, mut reason: Term) -> Result<(), LinkClosed> {
        wire_ready(&mut reason)?;
        self.inner.send_msg(Message::payload_exit2(from.clone(), to.clone(), reason))
    }

    /// Monitors a remote process (pid, or registered name on the peer) on behalf of `watcher`, one of our
    /// mailboxes, which then gets a `Delivery::Down`.
    pub fn monitor(&self, watcher: &Pid, target: MonitorTarget) -> Result<Reference, LinkClosed> {
        let reference = self.inner.local.make_ref();
        let (proc_, term) = match target {
            MonitorTarget::Pid(p) => (PidOrAtom::Pid(p.clone()), Term::from(p)),
            MonitorTarget::Name(n) => (PidOrAtom::Atom(Atom::from(n.as_str())), Term::from(Atom::from(n.as_str()))),
        };
        self.inner.monitors.insert(reference.clone(), (watcher.clone(), term));
        self.inner.send_msg(Message::monitor_p(watcher.clone(), proc_, reference.clone()))?;
        Ok(reference)
    }

    pub fn demonitor(&self, reference: &Reference) -> Result<(), LinkClosed> {
        if let Some((_, (watcher, target))) = self.inner.monitors.remove(reference) {
            let proc_ = match target {
                Term::Pid(p) => PidOrAtom::Pid(p),
                Term::Atom(a) => PidOrAtom::Atom(a),
                _ => return Ok(()),
            };
            self.inner.send_msg(Message::demonitor_p(watcher, proc_, reference.clone()))?;
        }
        Ok(())
    }

    /// Links one of our pids with a remote process: its exit reaches us as `Delivery::Exit`, and closing
    /// the link (or Orbit vanishing) sends it `noconnection`.
    pub fn link_process(&self, ours: &Pid, theirs: &Pid) -> Result<(), LinkClosed> {
        self.inner.links.lock().unwrap().push((ours.clone(), theirs.clone()));
        self.inner.send_msg(Message::link(ours.clone(), theirs.clone()))
    }

    pub fn unlink_process(&self, ours: &Pid, theirs: &Pid) -> Result<(), LinkClosed> {
        self.inner.links.lock().unwrap().retain(|(a, b)| !(a == ours && b == theirs));
        let id = self.inner.unlink_id.fetch_add(1, Ordering::Relaxed);
        self.inner.send_msg(Message::unlink_id(Term::from(eetf::BigInteger::from(id)), ours.clone(), theirs.clone()))
    }

    /// Registers a reply slot for a `gen_call`-style request and returns the pid and reference to put
    /// in `{'$gen_call', {Pid, Ref}, Request}`.
    pub(crate) fn expect_reply(&self) -> (Pid, Reference, oneshot::Receiver<Reply>) {
        let reference = self.inner.local.make_ref();
        let (tx, rx) = oneshot::channel();
        self.inner.pending.insert(reference.clone(), tx);
        (self.inner.reply_pid.clone(), reference, rx)
    }

    pub(crate) fn forget_reply(&self, reference: &Reference) {
        self.inner.pending.remove(reference);
    }

    pub(crate) fn send_reg(&self, name: &str, message: Term) -> Result<(), LinkClosed> {
        self.send_named(&self.inner.reply_pid.clone(), name, message)
    }
}

/// What a `gen_call` reply slot receives.
#[derive(Debug)]
pub(crate) enum Reply {
    Term(Term),
    /// The node answered with a term nested deeper than Orbit decodes (see `MAX_TERM_DEPTH`).
    TooDeep(usize),
}

/// Deepest nesting Orbit decodes. eetf decodes and drops terms recursively; past this a reply could
/// overflow the stack of whichever thread holds it, so it is refused with an error instead.
pub const MAX_TERM_DEPTH: usize = 2_000;

/// What `Link::monitor` watches.
#[derive(Debug, Clone)]
pub enum MonitorTarget {
    Pid(Pid),
    Name(String),
}

impl Inner {
    fn closed(&self) -> Option<LinkClosed> {
        self.closed_tx.borrow().clone()
    }

    fn send_msg(&self, msg: Message) -> Result<(), LinkClosed> {
        if let Some(r) = self.closed() {
            return Err(r);
        }
        let mut frame = vec![0, 0, 0, 0, 112];
        msg.write_into(&mut frame).map_err(|e| LinkClosed::Unsendable(format!("cannot encode message: {e}")))?;
        let len = (frame.len() - 4) as u32;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        self.writer.send(frame).map_err(|_| self.closed().unwrap_or(LinkClosed::Local))
    }

    /// Marks the link closed once, fails pending replies and fires monitors and links with `noconnection`.
    fn shutdown(&self, reason: LinkClosed) {
        let first = self.closed_tx.send_if_modified(|cur| {
            if cur.is_none() {
                *cur = Some(reason.clone());
                true
            } else {
                false
            }
        });
        if !first {
            return;
        }
        tracing::debug!(peer = %self.peer, %reason, "link down");
        // Dropping the senders wakes every waiting caller; it reads the reason from `closed_tx`.
        self.pending.clear();
        let noconnection = Term::from(Atom::from("noconnection"));
        let monitors: Vec<_> = self.monitors.iter().map(|e| (e.key().clone(), e.value().clone())).collect();
        self.monitors.clear();
        for (reference, (watcher, process)) in monitors {
            self.local.deliver(&watcher, Delivery::Down { reference, process, reason: noconnection.clone() });
        }
        let links = std::mem::take(&mut *self.links.lock().unwrap());
        for (ours, theirs) in links {
            self.local.deliver(&ours, Delivery::Exit { from: theirs, reason: noconnection.clone() });
        }
    }

    fn touch(&self) {
        self.last_received_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Routes one incoming message to a waiting call or a mailbox.
    fn route(&self, msg: Message) {
        match msg {
            Message::Send(m) => self.deliver_message(m.to_pid, m.message),
            // Orbit registers no names; a message to a name is dropped as it would be on a node.
            Message::RegSend(_) | Message::RegSendTt(_) | Message::AliasSend(_) | Message::AliasSendTt(_) => {}
            Message::Link(m) => {
                self.links.lock().unwrap().push((m.to_pid.clone(), m.from_pid.clone()));
                self.local.deliver(&m.to_pid, Delivery::Link { from: m.from_pid });
            }
            Message::UnlinkId(m) => {
                self.links.lock().unwrap().retain(|(a, b)| !(*a == m.to_pid && *b == m.from_pid));
                let _ = self.send_msg(Message::unlink_id_ack(m.id, m.to_pid, m.from_pid));
            }
            Message::UnlinkIdAck(_) | Message::NodeLink(_) | Message::GroupLeader(_) | Message::Tick => {}
            Message::PayloadExit(m) => self.exit_signal(m.from_pid, m.to_pid, m.reason, true),
            Message::PayloadExitTt(m) => self.exit_signal(m.from_pid, m.to_pid, m.reason, true),
            Message::PayloadExit2(m) => self.exit_signal(m.from_pid, m.to_pid, m.reason, false),
            Message::PayloadExit2Tt(m) => self.exit_signal(m.from_pid, m.to_pid, m.reason, false),
            Message::PayloadMonitorPExit(m) => self.down(m.reference, m.reason),
            // Someone monitors one of our pids: answer at once when it does not exist, as a node would.
            Message::MonitorP(m) => {
                let alive = matches!(&m.to_proc, PidOrAtom::Pid(p) if self.local.owns(p));
                if !alive {
                    let _ = self.send_msg(Message::payload_monitor_p_exit(
                        m.to_proc,
                        m.from_pid,
                        m.reference,
                        Term::from(Atom::from("noproc")),
                    ));
                }
            }
            Message::DemonitorP(_) => {}
            // What a node never sends Orbit, given the flags it negotiates (`connect::flags`): the forms of
            // exits, unlinks and monitor exits without payload or unlink id (Orbit has EXIT_PAYLOAD and
            // UNLINK_ID), SEND_SENDER and SPAWN_REQUEST (Orbit has neither flag: a node refuses
            // `spawn_request` to it), a SPAWN_REPLY (Orbit requests no spawn); and a SEND_TT as decoded here
            // (erl_dist cannot decode one; `read_send_tt` reads it instead).
            other => tracing::debug!(peer = %self.peer, "ignored a message of a kind not negotiated: {other:?}"),
        }
    }

    /// A frame too deep to decode: if it is a reply to a waiting call, fail that call; else drop it.
    fn refuse_deep(&self, body: &[u8], depth: usize) {
        tracing::warn!(peer = %self.peer, depth, "dropped a message nested {depth} levels deep (limit {MAX_TERM_DEPTH})");
        // The control message is shallow; the payload of a reply starts `{Ref, …}`: decode just the ref.
        let Ok((_, control_len)) = nesting_depth(&body[1..], 1) else { return };
        let payload = &body[1 + control_len..];
        // 131, SMALL_TUPLE_EXT (104), arity 2, then the reference.
        if payload.len() < 4 || payload[0] != 131 || payload[1] != 104 || payload[2] != 2 {
            return;
        }
        let Ok((_, ref_len)) = nesting_depth(&payload[3..], 1) else { return };
        let mut buf = Vec::with_capacity(ref_len + 1);
        buf.push(131);
        buf.extend_from_slice(&payload[3..3 + ref_len]);
        if let Ok(Term::Reference(r)) = Term::decode(&buf[..]) {
            if let Some((_, tx)) = self.pending.remove(&r) {
                let _ = tx.send(Reply::TooDeep(depth));
            }
        }
    }

    fn deliver_message(&self, to: Pid, body: Term) {
        if to == self.reply_pid {
            // `{Ref, Reply}` from gen_server:reply/2.
            if let Term::Tuple(Tuple { mut elements }) = body {
                if elements.len() == 2 {
                    let reply = elements.pop().unwrap();
                    if let Some(Term::Reference(r)) = elements.pop() {
                        if let Some((_, tx)) = self.pending.remove(&*r) {
                            let _ = tx.send(Reply::Term(reply));
                        }
                    }
                }
            }
            return;
        }
        self.local.deliver(&to, Delivery::Message { body });
    }

    fn exit_signal(&self, from: Pid, to: Pid, reason: Term, is_link_exit: bool) {
        if is_link_exit {
            self.links.lock().unwrap().retain(|(a, b)| !(*a == to && *b == from));
        }
        self.local.deliver(&to, Delivery::Exit { from, reason });
    }

    fn down(&self, reference: Reference, reason: Term) {
        if let Some((_, (watcher, process))) = self.monitors.remove(&reference) {
            self.local.deliver(&watcher, Delivery::Down { reference, process, reason });
        }
    }
}

/// A payload as a node must get it: made wire-safe, and refused when the node would drop the whole
/// connection over it (every other call on the link failing too).
fn wire_ready(term: &mut Term) -> Result<(), LinkClosed> {
    make_wire_safe(term);
    unsendable(term).map_or(Ok(()), |detail| Err(LinkClosed::Unsendable(detail)))
}

async fn read_loop<R: tokio::io::AsyncRead + Unpin>(read_half: R, inner: Arc<Inner>) {
    let mut closed = inner.closed_tx.subscribe();
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    let reason = loop {
        let mut len = [0u8; 4];
        tokio::select! {
            r = reader.read_exact(&mut len) => {
                if let Err(e) = r {
                    break if e.kind() == std::io::ErrorKind::UnexpectedEof { LinkClosed::PeerClosed } else { LinkClosed::Io(e.to_string()) };
                }
            }
            _ = closed.changed() => return,
        }
        inner.touch();
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            continue; // a tick
        }
        let mut frame = vec![0u8; len];
        if let Err(e) = reader.read_exact(&mut frame).await {
            break if e.kind() == std::io::ErrorKind::UnexpectedEof {
                LinkClosed::PeerClosed
            } else {
                LinkClosed::Io(e.to_string())
            };
        }
        if frame[0] != 112 {
            break LinkClosed::Protocol(format!("frame type {} (expected 112: pass-through)", frame[0]));
        }
        if let Some(refused) = check_depth(&frame[1..]) {
            inner.refuse_deep(&frame[1..], refused);
            continue;
        }
        match Message::read_from(&mut &frame[1..]) {
            Ok(msg) => inner.route(msg),
            Err(e) => match read_send_tt(&frame[1..]) {
                Some((to, body)) => inner.deliver_message(to, body),
                // One message Orbit cannot decode is not a reason to drop the whole node.
                None => tracing::warn!(peer = %inner.peer, "undecodable message ignored: {e}"),
            },
        }
    };
    inner.shutdown(reason);
}

/// A `SEND_TT` (a message from a process with a sequential-trace token): `{12, Unused, ToPid, TraceToken}`,
/// then the message. erl_dist 0.8 reads ToPid and TraceToken the wrong way round and fails on every one,
/// so Orbit reads it itself when erl_dist could not. Returns the addressee and the message.
fn read_send_tt(body: &[u8]) -> Option<(Pid, Term)> {
    let mut rest = body;
    let Term::Tuple(control) = Term::decode(&mut rest).ok()? else { return None };
    match control.elements.as_slice() {
        [Term::FixInteger(op), _, Term::Pid(to), _token] if op.value == 12 => {
            Some((to.clone(), Term::decode(&mut rest).ok()?))
        }
        _ => None,
    }
}

/// `Some(depth)` when the control message or payload nests deeper than `MAX_TERM_DEPTH`.
fn check_depth(body: &[u8]) -> Option<usize> {
    let mut pos = 0;
    let mut deepest = 0;
    while pos < body.len() {
        if body[pos] != 131 {
            return None; // not ours to judge; eetf reports the error
        }
        match nesting_depth(&body[pos + 1..], 1) {
            Ok((depth, len)) => {
                deepest = deepest.max(depth);
                pos += 1 + len;
            }
            Err(_) => return None,
        }
    }
    (deepest > MAX_TERM_DEPTH).then_some(deepest)
}

async fn write_loop<W: tokio::io::AsyncWrite + Unpin>(
    write_half: W,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    inner: std::sync::Weak<Inner>,
) {
    let mut w = tokio::io::BufWriter::with_capacity(64 * 1024, write_half);
    let mut closed = match inner.upgrade() {
        Some(i) => i.closed_tx.subscribe(),
        None => return,
    };
    loop {
        let frame = tokio::select! {
            f = rx.recv() => match f { Some(f) => f, None => break },
            _ = closed.changed() => break,
        };
        let mut result = w.write_all(&frame).await;
        // Batch whatever else is queued into the same flush.
        while result.is_ok() {
            match rx.try_recv() {
                Ok(f) => result = w.write_all(&f).await,
                Err(_) => break,
            }
        }
        if result.is_ok() {
            result = w.flush().await;
        }
        if let Err(e) = result {
            if let Some(i) = inner.upgrade() {
                i.shutdown(LinkClosed::Io(e.to_string()));
            }
            break;
        }
    }
    let _ = w.shutdown().await;
}

/// Keeps the peer from dropping us and notices a peer that went silent.
async fn tick_loop(inner: std::sync::Weak<Inner>, tick_time: Duration) {
    // Erlang drops a peer after net_ticktime of silence (default 60 s) and ticks every quarter of it.
    let period = (tick_time / 4).min(Duration::from_secs(15)).max(Duration::from_millis(50));
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ping_name = Atom::from("net_kernel");
    loop {
        interval.tick().await;
        let Some(i) = inner.upgrade() else { return };
        if i.closed().is_some() {
            return;
        }
        let idle = Duration::from_millis(
            (i.started.elapsed().as_millis() as u64).saturating_sub(i.last_received_ms.load(Ordering::Relaxed)),
        );
        if idle >= tick_time {
            i.shutdown(LinkClosed::TickTimeout(tick_time));
            return;
        }
        if i.writer.send(vec![0, 0, 0, 0]).is_err() {
            return;
        }
        // A peer only ticks every net_ticktime/4 of *its* setting; when our tick time is shorter, ask
        // for an answer (what net_adm:ping does) so a live but idle peer is not mistaken for a dead one.
        if idle >= period {
            let reference = i.local.make_ref();
            let call = Term::from(Tuple::from(vec![
                Term::from(Atom::from("$gen_call")),
                Term::from(Tuple::from(vec![Term::from(i.reply_pid.clone()), Term::from(reference)])),
                Term::from(Tuple::from(vec![
                    Term::from(Atom::from("is_auth")),
                    Term::from(Atom::from(i.local.name())),
                ])),
            ]));
            let _ = i.send_msg(Message::reg_send(i.reply_pid.clone(), ping_name.clone(), call));
        }
    }
}
