//! Trace events as the node-side tracer (`orbit_trace`) forwards them, and their decoding.

use crate::term::{as_atom, as_integer, as_list, as_tuple, is_nil};
use eetf::{Pid, Term};

/// A process as a trace event names it: its pid and, when it has one, its registered name.
#[derive(Debug, Clone, PartialEq)]
pub struct TracedProcess {
    pub pid: Pid,
    /// The registered name (atom text, e.g. `Elixir.Bank.Ledger`).
    pub name: Option<String>,
}

impl TracedProcess {
    /// The node the process runs on.
    pub fn node(&self) -> &str {
        &self.pid.node.name
    }
}

/// Where a traced send went.
#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    Process(TracedProcess),
    /// A registered name on a node (`Name ! Msg` is the sender's node).
    Name {
        name: String,
        node: String,
    },
    /// Anything else, e.g. a process alias (a reference: how OTP 25 replies to `gen_server` calls).
    Other(Term),
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Call {
        module: String,
        function: String,
        args: Vec<Term>,
    },
    Return {
        module: String,
        function: String,
        arity: u32,
        value: Term,
    },
    Exception {
        module: String,
        function: String,
        arity: u32,
        class: String,
        reason: Term,
    },
    /// `delivered` is false when the destination did not exist.
    Send {
        to: Destination,
        message: Term,
        hash: u32,
        delivered: bool,
    },
    Receive {
        message: Term,
        hash: u32,
    },
    Other {
        detail: Term,
    },
}

/// One trace event. Arguments, values and messages are cut to a bounded size on the node (what was cut
/// shows as `'...'`); `hash` is `erlang:phash2/1` of the whole message.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEvent {
    /// The node whose tracer saw it.
    pub node: String,
    /// Microseconds since the Unix epoch, by that node's clock.
    pub ts_us: i64,
    pub process: TracedProcess,
    pub kind: EventKind,
}

impl TraceEvent {
    /// `Mod.fun/arity` parts of a call, return or exception.
    pub fn function(&self) -> Option<(&str, &str, u32)> {
        match &self.kind {
            EventKind::Call { module, function, args } => Some((module, function, args.len() as u32)),
            EventKind::Return { module, function, arity, .. }
            | EventKind::Exception { module, function, arity, .. } => Some((module, function, *arity)),
            _ => None,
        }
    }
}

fn name_of(t: &Term) -> Option<String> {
    if is_nil(t) {
        return None;
    }
    as_atom(t).map(str::to_string)
}

fn pid_of(t: &Term) -> Option<Pid> {
    match t {
        Term::Pid(p) => Some(p.clone()),
        _ => None,
    }
}

fn atom_text(t: &Term) -> Option<String> {
    as_atom(t).map(str::to_string)
}

fn hash_of(t: &Term) -> u32 {
    as_integer(t).unwrap_or(0) as u32
}

/// Decodes one event of a batch from `node`'s tracer; `None` for a shape this version does not know.
pub fn decode_event(node: &str, t: &Term) -> Option<TraceEvent> {
    let e = as_tuple(t)?;
    let tag = as_atom(e.first()?)?;
    let ts_us = as_integer(e.get(1)?)?;
    let process = TracedProcess { pid: pid_of(e.get(2)?)?, name: e.get(3).and_then(name_of) };
    let kind = match (tag, e.len()) {
        ("call", 7) => EventKind::Call {
            module: atom_text(&e[4])?,
            function: atom_text(&e[5])?,
            args: as_list(&e[6]).map(|l| l.into_owned()).unwrap_or_else(|| vec![e[6].clone()]),
        },
        ("return", 8) => EventKind::Return {
            module: atom_text(&e[4])?,
            function: atom_text(&e[5])?,
            arity: as_integer(&e[6])? as u32,
            value: e[7].clone(),
        },
        ("exception", 9) => EventKind::Exception {
            module: atom_text(&e[4])?,
            function: atom_text(&e[5])?,
            arity: as_integer(&e[6])? as u32,
            class: atom_text(&e[7])?,
            reason: e[8].clone(),
        },
        ("send", 9) => {
            let to = match &e[4] {
                Term::Pid(p) => Destination::Process(TracedProcess { pid: p.clone(), name: name_of(&e[5]) }),
                Term::Atom(a) => Destination::Name { name: a.name.clone(), node: node.to_string() },
                other => match as_tuple(other) {
                    Some([Term::Atom(n), Term::Atom(at)]) => {
                        Destination::Name { name: n.name.clone(), node: at.name.clone() }
                    }
                    _ => Destination::Other(other.clone()),
                },
            };
            EventKind::Send {
                to,
                message: e[6].clone(),
                hash: hash_of(&e[7]),
                delivered: as_atom(&e[8]) != Some("false"),
            }
        }
        ("recv", 6) => EventKind::Receive { message: e[4].clone(), hash: hash_of(&e[5]) },
        ("other", 4) => {
            return Some(TraceEvent {
                node: node.to_string(),
                ts_us,
                process: TracedProcess { pid: pid_of(&e[2])?, name: None },
                kind: EventKind::Other { detail: e[3].clone() },
            })
        }
        _ => return None,
    };
    Some(TraceEvent { node: node.to_string(), ts_us, process, kind })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::{atom, int, list, nil, tuple};

    fn pid(node: &str, id: u32) -> Term {
        Term::from(Pid::new(node, id, 0, 1))
    }

    #[test]
    fn decodes_every_kind() {
        let call = tuple(vec![
            atom("call"),
            int(1_700_000_000_000_000),
            pid("a@h", 5),
            atom("Elixir.Bank.Ledger"),
            atom("Elixir.Bank.Account"),
            atom("deposit"),
            list(vec![pid("b@h", 7), int(5)]),
        ]);
        let ev = decode_event("a@h", &call).unwrap();
        assert_eq!(ev.process.name.as_deref(), Some("Elixir.Bank.Ledger"));
        assert_eq!(ev.function(), Some(("Elixir.Bank.Account", "deposit", 2)));

        let ret = tuple(vec![atom("return"), int(1), pid("a@h", 5), nil(), atom("m"), atom("f"), int(2), atom("ok")]);
        let ev = decode_event("a@h", &ret).unwrap();
        assert_eq!(ev.process.name, None);
        assert!(matches!(ev.kind, EventKind::Return { arity: 2, .. }));

        let exc = tuple(vec![
            atom("exception"),
            int(1),
            pid("a@h", 5),
            nil(),
            atom("m"),
            atom("f"),
            int(0),
            atom("error"),
            atom("badarg"),
        ]);
        assert!(matches!(decode_event("a@h", &exc).unwrap().kind, EventKind::Exception { .. }));

        let send = |to: Term| {
            tuple(vec![atom("send"), int(2), pid("a@h", 5), nil(), to, nil(), atom("hi"), int(42), atom("true")])
        };
        let ev = decode_event("a@h", &send(pid("b@h", 9))).unwrap();
        assert!(
            matches!(&ev.kind, EventKind::Send { to: Destination::Process(p), hash: 42, delivered: true, .. } if p.node() == "b@h")
        );
        let ev = decode_event("a@h", &send(atom("rex"))).unwrap();
        assert!(
            matches!(&ev.kind, EventKind::Send { to: Destination::Name { name, node }, .. } if name == "rex" && node == "a@h")
        );
        let ev = decode_event("a@h", &send(tuple(vec![atom("rex"), atom("b@h")]))).unwrap();
        assert!(matches!(&ev.kind, EventKind::Send { to: Destination::Name { node, .. }, .. } if node == "b@h"));
        let ev = decode_event("a@h", &send(int(3))).unwrap();
        assert!(matches!(&ev.kind, EventKind::Send { to: Destination::Other(_), .. }));

        let recv = tuple(vec![atom("recv"), int(3), pid("b@h", 9), atom("rex"), atom("hi"), int(42)]);
        assert!(matches!(decode_event("b@h", &recv).unwrap().kind, EventKind::Receive { hash: 42, .. }));
        assert!(decode_event("a@h", &atom("nonsense")).is_none());
        assert!(decode_event("a@h", &tuple(vec![atom("call"), int(1)])).is_none());
    }
}
