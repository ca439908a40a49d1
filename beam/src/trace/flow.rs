//! From events to what people ask of a trace: message flows (each send paired with its receive, across
//! nodes) and a summary (top talkers, messages per pair, calls per function).

use super::event::{Destination, EventKind, TraceEvent, TracedProcess};
use super::pattern::{function_text, module_text};
use crate::names::Lang;
use eetf::{Pid, Term};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// A process as flows and summaries show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub node: String,
    pub pid: Option<Pid>,
    /// Registered name (atom text).
    pub name: Option<String>,
}

impl Participant {
    fn of(p: &TracedProcess, names: &HashMap<Pid, String>) -> Participant {
        Participant {
            node: p.node().to_string(),
            pid: Some(p.pid.clone()),
            name: p.name.clone().or_else(|| names.get(&p.pid).cloned()),
        }
    }

    /// Identity: the registered name on its node when there is one, else the pid.
    pub fn key(&self) -> String {
        match (&self.name, &self.pid) {
            (Some(n), _) => format!("{}/{n}", self.node),
            (None, Some(p)) => format!("{}/<{}.{}>", self.node, p.id, p.serial),
            (None, None) => format!("{}/?", self.node),
        }
    }

    /// `Bank.Ledger (a@host)`, `#PID<0.123.0> (a@host)` or, in Erlang syntax, `<0.123.0> (a@host)`.
    pub fn label(&self, syntax: Lang) -> String {
        format!("{} ({})", self.short_label(syntax), self.node)
    }

    /// The label without the node.
    pub fn short_label(&self, syntax: Lang) -> String {
        match (&self.name, &self.pid) {
            (Some(n), _) => process_name(n, syntax),
            (None, Some(p)) => pid_text(p, syntax),
            (None, None) => "?".into(),
        }
    }
}

/// A registered name as the syntax writes it: `Bank.Ledger`, `:rex` / `rex`.
pub fn process_name(name: &str, syntax: Lang) -> String {
    module_text(name, syntax)
}

/// A pid as its own node prints it.
pub fn pid_text(p: &Pid, syntax: Lang) -> String {
    match syntax {
        Lang::Elixir => format!("#PID<0.{}.{}>", p.id, p.serial),
        Lang::Erlang => format!("<0.{}.{}>", p.id, p.serial),
    }
}

/// One message: who sent it, who received it, and when, as far as the trace saw.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageFlow {
    /// `None` when only the receive was traced.
    pub from: Option<Participant>,
    /// `None` when the destination is unknown (an alias nobody traced receiving on).
    pub to: Option<Participant>,
    pub message: Term,
    pub sent_us: Option<i64>,
    pub received_us: Option<i64>,
    /// False when the destination did not exist.
    pub delivered: bool,
}

impl MessageFlow {
    pub fn at_us(&self) -> i64 {
        self.sent_us.or(self.received_us).unwrap_or(0)
    }

    /// Both ends were traced and paired.
    pub fn is_matched(&self) -> bool {
        self.sent_us.is_some() && self.received_us.is_some()
    }
}

/// Registered names learnt from every event, for pids an event names without their name.
fn known_names(events: &[TraceEvent]) -> HashMap<Pid, String> {
    let mut names = HashMap::new();
    for e in events {
        if let Some(n) = &e.process.name {
            names.insert(e.process.pid.clone(), n.clone());
        }
        if let EventKind::Send { to: Destination::Process(TracedProcess { pid, name: Some(n) }), .. } = &e.kind {
            names.insert(pid.clone(), n.clone());
        }
    }
    names
}

#[derive(Hash, PartialEq, Eq)]
enum Key {
    Pid(Pid, u32),
    Name(String, String, u32),
    Hash(u32),
}

/// Pairs every traced send with the receive of the same message by its destination, on whatever node,
/// first in first out (messages between two processes arrive in the order they were sent). A send to a
/// registered name pairs with a receive by the process of that name on that node; a send to an alias
/// pairs with any receive of the same message. Unpaired sends and receives are kept, with the other end
/// unknown. Sorted by time.
pub fn match_messages(events: &[TraceEvent]) -> Vec<MessageFlow> {
    let names = known_names(events);
    let mut sends: Vec<&TraceEvent> = Vec::new();
    let mut receives: Vec<&TraceEvent> = Vec::new();
    for e in events {
        match e.kind {
            EventKind::Send { .. } => sends.push(e),
            EventKind::Receive { .. } => receives.push(e),
            _ => {}
        }
    }
    sends.sort_by_key(|e| e.ts_us);
    receives.sort_by_key(|e| e.ts_us);

    let mut queues: HashMap<Key, VecDeque<usize>> = HashMap::new();
    for (i, s) in sends.iter().enumerate() {
        let EventKind::Send { to, hash, delivered, .. } = &s.kind else { continue };
        if !delivered {
            continue;
        }
        let key = match to {
            Destination::Process(p) => Key::Pid(p.pid.clone(), *hash),
            Destination::Name { name, node } => Key::Name(name.clone(), node.clone(), *hash),
            Destination::Other(_) => Key::Hash(*hash),
        };
        queues.entry(key).or_default().push_back(i);
    }

    let mut receiver_of: Vec<Option<usize>> = vec![None; sends.len()];
    let mut flows = Vec::with_capacity(sends.len() + receives.len());
    for (ri, r) in receives.iter().enumerate() {
        let EventKind::Receive { hash, message } = &r.kind else { continue };
        let mut keys = vec![Key::Pid(r.process.pid.clone(), *hash), Key::Hash(*hash)];
        if let Some(n) = r.process.name.as_ref().or_else(|| names.get(&r.process.pid)) {
            keys.push(Key::Name(n.clone(), r.process.node().to_string(), *hash));
        }
        let best = keys
            .into_iter()
            .filter_map(|k| queues.get(&k).and_then(|q| q.front().copied()).map(|i| (k, i)))
            .min_by_key(|(_, i)| sends[*i].ts_us);
        match best {
            Some((k, i)) => {
                queues.get_mut(&k).and_then(|q| q.pop_front());
                receiver_of[i] = Some(ri);
            }
            None => flows.push(MessageFlow {
                from: None,
                to: Some(Participant::of(&r.process, &names)),
                message: message.clone(),
                sent_us: None,
                received_us: Some(r.ts_us),
                delivered: true,
            }),
        }
    }
    for (i, s) in sends.iter().enumerate() {
        let EventKind::Send { to, message, delivered, .. } = &s.kind else { continue };
        let (to, received_us) = match receiver_of[i] {
            Some(ri) => (Some(Participant::of(&receives[ri].process, &names)), Some(receives[ri].ts_us)),
            None => (
                match to {
                    Destination::Process(p) => Some(Participant::of(p, &names)),
                    Destination::Name { name, node } => {
                        Some(Participant { node: node.clone(), pid: None, name: Some(name.clone()) })
                    }
                    Destination::Other(_) => None,
                },
                None,
            ),
        };
        flows.push(MessageFlow {
            from: Some(Participant::of(&s.process, &names)),
            to,
            message: message.clone(),
            sent_us: Some(s.ts_us),
            received_us,
            delivered: *delivered,
        });
    }
    flows.sort_by_key(|f| f.at_us());
    flows
}

/// A name and how often it came up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub name: String,
    pub count: u64,
}

/// Messages from one process to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairCount {
    pub from: String,
    pub to: String,
    pub count: u64,
}

/// What a trace saw, counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Summary {
    pub events: u64,
    pub events_per_node: Vec<Count>,
    /// Calls per function, most called first.
    pub calls: Vec<Count>,
    pub returns: u64,
    pub exceptions: u64,
    /// Messages seen (a paired send and receive count once).
    pub messages: u64,
    /// Messages whose send and receive were both traced.
    pub matched_messages: u64,
    /// Processes by messages sent plus received, busiest first.
    pub top_talkers: Vec<Count>,
    /// Messages per (sender, receiver), most first.
    pub pairs: Vec<PairCount>,
}

const UNTRACED: &str = "(untraced)";

/// Counts `events` (and their message flows) into a [`Summary`], with names in `syntax`.
pub fn summarize(events: &[TraceEvent], syntax: Lang) -> Summary {
    let mut s = Summary { events: events.len() as u64, ..Summary::default() };
    let mut per_node: BTreeMap<String, u64> = BTreeMap::new();
    let mut calls: BTreeMap<String, u64> = BTreeMap::new();
    for e in events {
        *per_node.entry(e.node.clone()).or_default() += 1;
        match &e.kind {
            EventKind::Call { module, function, args } => {
                *calls.entry(function_text(module, function, Some(args.len() as u32), syntax)).or_default() += 1;
            }
            EventKind::Return { .. } => s.returns += 1,
            EventKind::Exception { .. } => s.exceptions += 1,
            _ => {}
        }
    }
    let flows = match_messages(events);
    let mut talkers: BTreeMap<String, u64> = BTreeMap::new();
    let mut pairs: BTreeMap<(String, String), u64> = BTreeMap::new();
    for f in &flows {
        s.messages += 1;
        if f.is_matched() {
            s.matched_messages += 1;
        }
        let from = f.from.as_ref().map(|p| p.label(syntax));
        let to = f.to.as_ref().map(|p| p.label(syntax));
        for p in [&from, &to].into_iter().flatten() {
            *talkers.entry(p.clone()).or_default() += 1;
        }
        let key = (from.unwrap_or_else(|| UNTRACED.into()), to.unwrap_or_else(|| UNTRACED.into()));
        *pairs.entry(key).or_default() += 1;
    }
    s.events_per_node = per_node.into_iter().map(|(name, count)| Count { name, count }).collect();
    s.calls = by_count(calls);
    s.top_talkers = by_count(talkers);
    let mut pairs: Vec<PairCount> =
        pairs.into_iter().map(|((from, to), count)| PairCount { from, to, count }).collect();
    pairs.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to))));
    s.pairs = pairs;
    s
}

fn by_count(m: BTreeMap<String, u64>) -> Vec<Count> {
    let mut v: Vec<Count> = m.into_iter().map(|(name, count)| Count { name, count }).collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    v
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::term::{atom, int, tuple};

    pub fn pid(node: &str, id: u32) -> Pid {
        Pid::new(node, id, 0, 1)
    }

    pub fn send(node: &str, ts: i64, from: u32, to: Destination, msg: Term, hash: u32) -> TraceEvent {
        TraceEvent {
            node: node.into(),
            ts_us: ts,
            process: TracedProcess { pid: pid(node, from), name: None },
            kind: EventKind::Send { to, message: msg, hash, delivered: true },
        }
    }

    pub fn recv(node: &str, ts: i64, who: u32, name: Option<&str>, msg: Term, hash: u32) -> TraceEvent {
        TraceEvent {
            node: node.into(),
            ts_us: ts,
            process: TracedProcess { pid: pid(node, who), name: name.map(Into::into) },
            kind: EventKind::Receive { message: msg, hash },
        }
    }

    fn to_pid(node: &str, id: u32) -> Destination {
        Destination::Process(TracedProcess { pid: pid(node, id), name: None })
    }

    #[test]
    fn pairs_sends_with_receives_across_nodes_in_order() {
        let events = vec![
            // b's receive batch arrives before a's send batch
            recv("b@h", 20, 9, None, atom("one"), 1),
            recv("b@h", 40, 9, None, atom("one"), 1),
            send("a@h", 10, 5, to_pid("b@h", 9), atom("one"), 1),
            send("a@h", 30, 5, to_pid("b@h", 9), atom("one"), 1),
            // to a name on another node
            send("a@h", 50, 5, Destination::Name { name: "srv".into(), node: "b@h".into() }, atom("two"), 2),
            recv("b@h", 60, 11, Some("srv"), atom("two"), 2),
            // nobody traced the receiver
            send("a@h", 70, 5, to_pid("c@h", 1), atom("lost"), 3),
            // nobody traced the sender
            recv("b@h", 80, 9, None, atom("from_afar"), 4),
            // an alias (reference) destination pairs by hash
            send("b@h", 90, 11, Destination::Other(int(0)), tuple(vec![atom("reply")]), 5),
            recv("a@h", 95, 5, None, tuple(vec![atom("reply")]), 5),
        ];
        let flows = match_messages(&events);
        assert_eq!(flows.len(), 6);
        let f0 = &flows[0];
        assert_eq!((f0.sent_us, f0.received_us), (Some(10), Some(20)));
        assert_eq!(f0.from.as_ref().unwrap().node, "a@h");
        assert_eq!(f0.to.as_ref().unwrap().node, "b@h");
        assert_eq!((flows[1].sent_us, flows[1].received_us), (Some(30), Some(40)));
        assert_eq!(flows[2].to.as_ref().unwrap().name.as_deref(), Some("srv"));
        assert_eq!(flows[2].received_us, Some(60));
        assert_eq!((flows[3].received_us, flows[3].to.as_ref().unwrap().node.as_str()), (None, "c@h"));
        assert!(flows[4].from.is_none());
        assert_eq!(flows[5].received_us, Some(95));
        assert_eq!(flows.iter().filter(|f| f.is_matched()).count(), 4);
    }

    #[test]
    fn summary_counts() {
        let call = |ts, f: &str| TraceEvent {
            node: "a@h".into(),
            ts_us: ts,
            process: TracedProcess { pid: pid("a@h", 5), name: None },
            kind: EventKind::Call {
                module: "Elixir.Bank.Account".into(),
                function: f.into(),
                args: vec![int(1), int(2)],
            },
        };
        let events = vec![
            call(1, "deposit"),
            call(2, "deposit"),
            call(3, "withdraw"),
            send("a@h", 10, 5, to_pid("b@h", 9), atom("x"), 1),
            recv("b@h", 11, 9, Some("srv"), atom("x"), 1),
            send("a@h", 12, 5, to_pid("b@h", 9), atom("x"), 1),
        ];
        let s = summarize(&events, Lang::Elixir);
        assert_eq!(s.events, 6);
        assert_eq!(s.calls[0], Count { name: "Bank.Account.deposit/2".into(), count: 2 });
        assert_eq!(s.calls[1].name, "Bank.Account.withdraw/2");
        assert_eq!((s.messages, s.matched_messages), (2, 1));
        assert_eq!(s.top_talkers[0], Count { name: "#PID<0.5.0> (a@h)".into(), count: 2 });
        assert_eq!(s.pairs[0].count, 2);
        assert_eq!(s.pairs[0].to, "srv (b@h)".replace("srv", ":srv"));
        assert_eq!(s.events_per_node.len(), 2);
    }
}
