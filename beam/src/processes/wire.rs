//! `orbit_procs`'s answers decoded: summaries, details, stack frames, supervision trees.

use super::model::{Fetched, Mfa, ProcessError, ProcessInfo, ProcessRef, ProcessSummary, StackFrame, SupervisionNode};
use crate::term::{
    as_atom, as_integer, as_list, as_str, as_text, as_tuple, is_atom, map_get_atom, render_elixir, render_elixir_with,
    tuple, Limits, RenderContext,
};
use eetf::{Pid, Term};

/// A registered name in Elixir syntax; `undefined` (no name) gives `None`.
pub(super) fn name_text(t: &Term) -> Option<String> {
    match as_atom(t)? {
        "undefined" => None,
        _ => Some(render_elixir(t, &Limits::default())),
    }
}

/// A process label (any term) in Elixir syntax, cut as other terms are; `undefined` (none) gives `None`.
pub fn label_text(t: &Term) -> Option<String> {
    if is_atom(t, "undefined") {
        return None;
    }
    Some(render_elixir(t, &Limits::default()))
}

/// `#PID<0.123.0>`: a pid as its own node prints it.
pub fn local_pid_text(pid: &Pid) -> String {
    let ctx = RenderContext { local_node: Some(pid.node.name.clone()), ..RenderContext::new(Limits::default()) };
    render_elixir_with(&Term::from(pid.clone()), &ctx)
}
impl ProcessRef {
    pub(super) fn from_term(t: &Term) -> Option<ProcessRef> {
        match t {
            Term::Pid(p) => Some(ProcessRef { node: p.node.name.clone(), id: local_pid_text(p) }),
            Term::Port(p) => {
                let ctx =
                    RenderContext { local_node: Some(p.node.name.clone()), ..RenderContext::new(Limits::default()) };
                Some(ProcessRef { node: p.node.name.clone(), id: render_elixir_with(t, &ctx) })
            }
            // {Name, Node} of a monitor by name
            Term::Tuple(tu) => match tu.elements.as_slice() {
                [name, node] => {
                    Some(ProcessRef { node: as_atom(node)?.to_string(), id: render_elixir(name, &Limits::default()) })
                }
                _ => None,
            },
            _ => None,
        }
    }
}

pub(super) fn shape(node: &str, t: &Term) -> ProcessError {
    ProcessError::Shape { node: node.to_string(), detail: crate::term::render_erlang(t, &Limits::default()) }
}

pub(super) fn list_error(node: &str, reason: &Term) -> ProcessError {
    match as_tuple(reason) {
        Some([tag, which, pattern, why]) if is_atom(tag, "bad_pattern") => {
            let why = match as_tuple(why) {
                Some([text, pos]) => format!(
                    "{} at position {}",
                    as_str(text).unwrap_or("invalid"),
                    as_integer(pos).map(|p| p.to_string()).unwrap_or_default()
                ),
                _ => render_elixir(why, &Limits::default()),
            };
            ProcessError::BadPattern {
                which: as_atom(which).unwrap_or("?").replace('_', " "),
                pattern: as_str(pattern).unwrap_or("?").to_string(),
                reason: why,
            }
        }
        Some([tag, status]) if is_atom(tag, "bad_status") => {
            ProcessError::BadStatus { status: as_str(status).unwrap_or("?").to_string() }
        }
        _ => shape(node, reason),
    }
}

pub(super) fn parse_info(node: &str, pid: &Pid, m: &Term) -> Option<ProcessInfo> {
    let u = |k: &str| map_get_atom(m, k).and_then(as_integer).map(|v| v.max(0) as u64).unwrap_or(0);
    let refs = |k: &str| -> Vec<ProcessRef> {
        map_get_atom(m, k)
            .and_then(as_list)
            .map(|l| {
                l.iter()
                    .filter_map(|t| match as_tuple(t) {
                        // monitors as process_info gives them: {process, Pid} / {port, Port}
                        Some([kind, inner]) if is_atom(kind, "process") || is_atom(kind, "port") => {
                            ProcessRef::from_term(inner)
                        }
                        _ => ProcessRef::from_term(t),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let stacktrace = map_get_atom(m, "current_stacktrace")
        .and_then(as_list)
        .map(|l| l.iter().filter_map(stack_frame).collect())
        .unwrap_or_default();
    Some(ProcessInfo {
        node: node.to_string(),
        pid: local_pid_text(pid),
        pid_term: Some(pid.clone()),
        registered_name: map_get_atom(m, "registered_name").and_then(name_text),
        process_label: map_get_atom(m, "label").and_then(label_text),
        status: map_get_atom(m, "status").and_then(as_atom).unwrap_or("unknown").to_string(),
        message_queue_len: u("message_queue_len"),
        memory: u("memory"),
        heap_size: u("heap_size"),
        total_heap_size: u("total_heap_size"),
        stack_size: u("stack_size"),
        reductions: u("reductions"),
        trap_exit: map_get_atom(m, "trap_exit").is_some_and(|t| is_atom(t, "true")),
        priority: map_get_atom(m, "priority").and_then(as_atom).unwrap_or("normal").to_string(),
        group_leader: map_get_atom(m, "group_leader").and_then(ProcessRef::from_term),
        current_function: map_get_atom(m, "current_function").and_then(Mfa::from_term),
        initial_call: map_get_atom(m, "initial_call").and_then(Mfa::from_term),
        stacktrace,
        links: refs("links"),
        monitors: refs("monitors"),
        monitored_by: refs("monitored_by"),
        ancestors: map_get_atom(m, "ancestors")
            .and_then(as_list)
            .map(|l| {
                l.iter()
                    .map(|a| match a {
                        Term::Pid(p) => local_pid_text(p),
                        other => render_elixir(other, &Limits::default()),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        otp: map_get_atom(m, "otp").is_some_and(|t| is_atom(t, "true")),
        messages: fetched(map_get_atom(m, "messages"), node),
        state: fetched(map_get_atom(m, "state"), node),
    })
}

pub(super) fn stack_frame(t: &Term) -> Option<StackFrame> {
    let [m, f, a, loc] = as_tuple(t)? else { return None };
    let function = Mfa::from_term(&tuple(vec![m.clone(), f.clone(), a.clone()]))?;
    let file = crate::term::proplist_get(loc, "file").and_then(as_text);
    let line = crate::term::proplist_get(loc, "line").and_then(as_integer).and_then(|l| u32::try_from(l).ok());
    Some(StackFrame { function, file, line })
}

/// `{ok, Term}` / `skipped` / `{error, Reason}` / `{too_many, N}`, rendered from the process's node.
pub(super) fn fetched(t: Option<&Term>, node: &str) -> Fetched {
    let Some(t) = t else { return Fetched::Skipped };
    if is_atom(t, "skipped") {
        return Fetched::Skipped;
    }
    let ctx = RenderContext { local_node: Some(node.to_string()), ..RenderContext::new(Limits::default()) };
    match as_tuple(t) {
        Some([ok, v]) if is_atom(ok, "ok") => {
            Fetched::Value { value: render_elixir_with(v, &ctx), term: Some(v.clone()) }
        }
        Some([tag, n]) if is_atom(tag, "too_many") => {
            Fetched::Unavailable { reason: format!("{} messages queued; not copied", as_integer(n).unwrap_or(0)) }
        }
        Some([err, reason]) if is_atom(err, "error") => Fetched::Unavailable {
            reason: match as_atom(reason) {
                Some("timeout") => "the process did not answer :sys.get_state in time".into(),
                Some("not_otp") => "not an OTP process (no :sys.get_state)".into(),
                Some("noproc") => "the process exited".into(),
                _ => render_elixir_with(reason, &ctx),
            },
        },
        _ => Fetched::Unavailable { reason: render_elixir_with(t, &ctx) },
    }
}

pub(super) fn parse_sup(node: &str, t: &Term) -> Option<SupervisionNode> {
    let pid_t = map_get_atom(t, "pid")?;
    let (node, pid, pid_term) = match pid_t {
        Term::Pid(p) => (p.node.name.clone(), local_pid_text(p), Some(p.clone())),
        other => (node.to_string(), render_elixir(other, &Limits::default()), None),
    };
    let id = map_get_atom(t, "id").filter(|i| !is_atom(i, "undefined")).map(|i| render_elixir(i, &Limits::default()));
    let modules = match map_get_atom(t, "modules") {
        Some(m) if is_atom(m, "dynamic") => vec!["dynamic".to_string()],
        Some(m) => {
            as_list(m).map(|l| l.iter().map(|x| render_elixir(x, &Limits::default())).collect()).unwrap_or_default()
        }
        None => vec![],
    };
    let children = map_get_atom(t, "children")
        .and_then(as_list)
        .map(|l| l.iter().filter_map(|c| parse_sup(&node, c)).collect())
        .unwrap_or_default();
    Some(SupervisionNode {
        node,
        pid,
        registered_name: map_get_atom(t, "name").and_then(name_text),
        id,
        kind: map_get_atom(t, "type").and_then(as_atom).unwrap_or("worker").to_string(),
        modules,
        children,
        more: map_get_atom(t, "more").and_then(as_integer).unwrap_or(0).max(0) as u64,
        application: map_get_atom(t, "application").and_then(as_atom).map(str::to_string),
        error: map_get_atom(t, "error").map(|e| render_elixir(e, &Limits::default())),
        pid_term,
        remote: map_get_atom(t, "remote").is_some_and(|r| is_atom(r, "true")),
    })
}

impl Mfa {
    pub(super) fn from_term(t: &Term) -> Option<Mfa> {
        match as_tuple(t)? {
            [m, f, a] => Some(Mfa {
                module: as_atom(m)?.to_string(),
                function: as_atom(f)?.to_string(),
                arity: match as_integer(a) {
                    Some(n) => u32::try_from(n).ok()?,
                    // {M, F, Args}
                    None => as_list(a)?.len() as u32,
                },
            }),
            _ => None,
        }
    }
}

impl ProcessSummary {
    /// From the map `orbit_procs:summary/1` returns.
    pub(crate) fn from_term(node: &str, t: &Term) -> Option<ProcessSummary> {
        let pid = match map_get_atom(t, "pid")? {
            Term::Pid(p) => p.clone(),
            _ => return None,
        };
        let u = |k: &str| map_get_atom(t, k).and_then(as_integer).map(|v| v.max(0) as u64).unwrap_or(0);
        Some(ProcessSummary {
            node: node.to_string(),
            pid: local_pid_text(&pid),
            pid_term: Some(pid),
            registered_name: map_get_atom(t, "registered_name").and_then(name_text),
            process_label: map_get_atom(t, "label").and_then(label_text),
            memory: u("memory"),
            reductions: u("reductions"),
            message_queue_len: u("message_queue_len"),
            status: map_get_atom(t, "status").and_then(as_atom).unwrap_or("unknown").to_string(),
            current_function: map_get_atom(t, "current_function").and_then(Mfa::from_term),
            initial_call: map_get_atom(t, "initial_call").and_then(Mfa::from_term),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::{atom, binary, int, map};
    /// What `orbit_procs` answers besides the common case, as the user reads it: state that could not be
    /// fetched (and why), pattern and status refusals, and an answer of unknown shape naming the node.
    #[test]
    fn unusual_answers_in_words() {
        let unavailable = |t: Term| match fetched(Some(&t), "a@h") {
            Fetched::Unavailable { reason } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(unavailable(tuple(vec![atom("too_many"), int(12)])), "12 messages queued; not copied");
        let err = |r: Term| unavailable(tuple(vec![atom("error"), r]));
        assert_eq!(err(atom("timeout")), "the process did not answer :sys.get_state in time");
        assert_eq!(err(atom("noproc")), "the process exited");
        assert_eq!(err(tuple(vec![atom("badarg"), int(1)])), "{:badarg, 1}");
        assert_eq!(unavailable(atom("weird")), ":weird");
        assert!(matches!(fetched(None, "a@h"), Fetched::Skipped));
        assert!(matches!(fetched(Some(&atom("skipped")), "a@h"), Fetched::Skipped));

        let pattern = tuple(vec![atom("bad_pattern"), atom("current_function"), binary("Bank.("), atom("oops")]);
        assert_eq!(list_error("a@h", &pattern).to_string(), "bad current function pattern \"Bank.(\": :oops");
        let status = list_error("a@h", &tuple(vec![atom("bad_status"), binary("sleepy")]));
        assert!(status.to_string().starts_with("unknown process status \"sleepy\": use one of "), "{status}");
        let odd = list_error("a@h", &tuple(vec![atom("no"), int(1)]));
        assert_eq!(odd.to_string(), "a@h: unexpected answer from orbit_procs: {no,1}");
    }

    /// Links and monitors name ports and processes monitored by name as their node shows them; a
    /// supervisor's child not running shows its state, `dynamic` modules stay as they are.
    #[test]
    fn ports_names_and_children_that_are_not_running() {
        let port = Term::from(eetf::Port { node: eetf::Atom::from("b@h"), id: 5, creation: 1 });
        assert_eq!(ProcessRef::from_term(&port), Some(ProcessRef { node: "b@h".into(), id: "#Port<0.5>".into() }));
        let by_name = tuple(vec![atom("Elixir.Bank.Ledger"), atom("b@h")]);
        assert_eq!(ProcessRef::from_term(&by_name), Some(ProcessRef { node: "b@h".into(), id: "Bank.Ledger".into() }));
        assert_eq!(ProcessRef::from_term(&tuple(vec![atom("x")])), None);
        assert_eq!(ProcessRef::from_term(&int(1)), None);
        let mfa = Mfa::from_term(&tuple(vec![atom("m"), atom("f"), crate::term::list(vec![int(1), int(2)])])).unwrap();
        assert_eq!(mfa.arity, 2);
        let child = map(vec![
            (atom("pid"), atom("restarting")),
            (atom("id"), atom("worker_1")),
            (atom("modules"), atom("dynamic")),
            (atom("error"), atom("noproc")),
        ]);
        let node = parse_sup("a@h", &child).unwrap();
        assert_eq!((node.node.as_str(), node.pid.as_str()), ("a@h", ":restarting"));
        assert_eq!((node.modules, node.kind.as_str()), (vec!["dynamic".to_string()], "worker"));
        assert_eq!(node.error.as_deref(), Some(":noproc"));
        // A child without modules lists none; an MFA that is no triple, or a summary whose pid is none, is
        // not read as one.
        let bare = parse_sup("a@h", &map(vec![(atom("pid"), atom("undefined"))])).unwrap();
        assert!(bare.modules.is_empty() && bare.children.is_empty());
        assert_eq!(Mfa::from_term(&tuple(vec![atom("m"), atom("f")])), None);
        assert!(ProcessSummary::from_term("a@h", &map(vec![(atom("pid"), atom("gone"))])).is_none());
    }

    #[test]
    fn summary_from_agent_map() {
        let pid = Pid::new("a@h", 77, 0, 3);
        let t = map(vec![
            (atom("pid"), Term::from(pid)),
            (atom("registered_name"), atom("Elixir.Bank.Mailbox")),
            (atom("memory"), int(1000)),
            (atom("reductions"), int(5)),
            (atom("message_queue_len"), int(2)),
            (atom("status"), atom("waiting")),
            (atom("current_function"), tuple(vec![atom("gen_server"), atom("loop"), int(7)])),
            (atom("initial_call"), tuple(vec![atom("Elixir.Bank.Mailbox"), atom("init"), int(1)])),
        ]);
        let s = ProcessSummary::from_term("a@h", &t).unwrap();
        assert_eq!(s.pid, "#PID<0.77.0>");
        assert_eq!(s.registered_name.as_deref(), Some("Bank.Mailbox"));
        assert_eq!(s.current_function.as_ref().unwrap().elixir(), ":gen_server.loop/7");
        assert_eq!(s.label(), "Bank.Mailbox");
        assert_eq!(s.process_label, None);
    }

    #[test]
    fn a_process_label_names_the_process() {
        let pid = Pid::new("a@h", 78, 0, 3);
        let mut entries = vec![
            (atom("pid"), Term::from(pid)),
            (atom("registered_name"), atom("undefined")),
            (atom("label"), tuple(vec![atom("Elixir.Bank.Account"), binary("acc-1")])),
            (atom("initial_call"), tuple(vec![atom("Elixir.Bank.Account"), atom("init"), int(1)])),
        ];
        let s = ProcessSummary::from_term("a@h", &map(entries.clone())).unwrap();
        assert_eq!(s.process_label.as_deref(), Some("{Bank.Account, \"acc-1\"}"));
        assert_eq!(s.label(), "{Bank.Account, \"acc-1\"}", "the label before the initial call");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["label"], "{Bank.Account, \"acc-1\"}");
        entries[1] = (atom("registered_name"), atom("Elixir.Bank.Mailbox"));
        let s = ProcessSummary::from_term("a@h", &map(entries.clone())).unwrap();
        assert_eq!(s.label(), "Bank.Mailbox {Bank.Account, \"acc-1\"}");
        entries[2] = (atom("label"), atom("undefined"));
        let s = ProcessSummary::from_term("a@h", &map(entries)).unwrap();
        assert_eq!((s.label(), s.process_label), ("Bank.Mailbox".to_string(), None));
    }
}
