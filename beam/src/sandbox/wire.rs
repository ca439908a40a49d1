//! `orbit_sandbox`'s registry entries and answers decoded, and the terms sent to it.

use super::model::{
    Children, DecidedBy, Sandbox, SandboxChild, SandboxError, SandboxEvent, SandboxEventKind, SandboxStatus, Strategy,
};
use crate::names::module_display;
use crate::term::{self, as_atom, as_binary, as_integer, as_list, as_tuple, atom, binary, is_atom, map_get_atom};
use crate::term::{render_elixir, render_erlang, text, tuple, Limits};
use eetf::Term;

impl Children {
    pub(super) fn to_term(&self) -> Term {
        match self {
            Children::Module { module, arg } => tuple(vec![atom("module"), atom(module), arg.clone()]),
            Children::Specs(specs) => tuple(vec![atom("specs"), term::list(specs.clone())]),
            Children::Elixir(exprs) => tuple(vec![atom("elixir"), term::list(exprs.iter().map(|e| bin(e)).collect())]),
            Children::Erlang(exprs) => tuple(vec![atom("erlang"), term::list(exprs.iter().map(|e| bin(e)).collect())]),
        }
    }
}

impl Strategy {
    pub(super) fn atom(self) -> Term {
        atom(match self {
            Strategy::OneForOne => "one_for_one",
            Strategy::OneForAll => "one_for_all",
            Strategy::RestForOne => "rest_for_one",
        })
    }
}

pub(super) fn describe_handoff(why: &Term) -> String {
    match as_tuple(why) {
        Some([tag, _]) if is_atom(tag, "no_state") => "does not answer :sys.get_state (not a GenServer?)".into(),
        Some([tag, _]) if is_atom(tag, "not_suspendable") => "could not be suspended (not an OTP process?)".into(),
        Some([tag, r]) if is_atom(tag, "replace_failed") => format!(":sys.replace_state failed: {}", show(r)),
        _ if is_atom(why, "not_running") => "did not start on the target".into(),
        _ => show(why),
    }
}

pub(super) type Version = (i64, i64);

pub(super) fn version(entry: &Term) -> Version {
    match map_get_atom(entry, "version").and_then(as_tuple) {
        Some([n, t]) => (as_integer(n).unwrap_or(0), as_integer(t).unwrap_or(0)),
        _ => (0, 0),
    }
}

pub(super) fn sandbox_from(entry: &Term, live: Option<&Term>, up: &[String]) -> Sandbox {
    let get = |k: &str| map_get_atom(entry, k);
    let int = |k: &str| get(k).and_then(as_integer);
    let id = get("id").and_then(as_binary).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    let node = get("node").and_then(as_atom).unwrap_or("").to_string();
    let running = live.and_then(|l| map_get_atom(l, "running")).is_some_and(|r| is_atom(r, "true"));
    let failed = get("status").is_some_and(|s| is_atom(s, "failed"));
    let status = if !up.contains(&node) {
        SandboxStatus::Orphaned
    } else if running {
        SandboxStatus::Running
    } else if failed {
        SandboxStatus::Failed
    } else {
        SandboxStatus::Stopped
    };
    let children = match live.filter(|_| running).and_then(|l| map_get_atom(l, "children")).and_then(as_list) {
        Some(kids) => kids
            .iter()
            .map(|c| {
                let pid_term = match map_get_atom(c, "pid") {
                    Some(Term::Pid(p)) => Some(p.clone()),
                    _ => None,
                };
                SandboxChild {
                    id: map_get_atom(c, "id").map(child_id).unwrap_or_default(),
                    pid: pid_term.as_ref().map(|p| format!("#PID<0.{}.{}>", p.id, p.serial)),
                    pid_term,
                    kind: map_get_atom(c, "type").and_then(as_atom).unwrap_or("worker").to_string(),
                    modules: modules(map_get_atom(c, "modules")),
                }
            })
            .collect(),
        None => get("children")
            .and_then(as_list)
            .map(|specs| {
                specs
                    .iter()
                    .map(|s| SandboxChild {
                        id: map_get_atom(s, "id").map(child_id).unwrap_or_default(),
                        pid: None,
                        pid_term: None,
                        kind: map_get_atom(s, "type").and_then(as_atom).unwrap_or("worker").to_string(),
                        modules: modules(map_get_atom(s, "modules")),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    let live_u64 = |k: &str| {
        live.filter(|_| running)
            .and_then(|l| map_get_atom(l, k))
            .and_then(as_integer)
            .and_then(|n| u64::try_from(n).ok())
    };
    Sandbox {
        id,
        node,
        status,
        children,
        memory: live_u64("memory"),
        restarts: live_u64("restarts"),
        strategy: get("strategy").and_then(as_atom).unwrap_or("one_for_one").to_string(),
        moves: int("moves").and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        failovers: int("failovers").and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        created_ms: int("created"),
        started_ms: int("started"),
        reason: if failed { get("reason").map(show) } else { None },
        handoff_ms: get("handoff").and_then(|h| map_get_atom(h, "at")).and_then(as_integer),
        handoff_children: get("handoff")
            .and_then(|h| map_get_atom(h, "children").or_else(|| map_get_atom(h, "states")))
            .and_then(as_list)
            .map(|l| {
                l.iter()
                    .map(|c| match as_tuple(c) {
                        Some([cid, _]) => child_id(cid),
                        _ => child_id(c),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        history: get("history")
            .and_then(as_list)
            .map(|l| l.iter().filter_map(event_from).collect())
            .unwrap_or_default(),
    }
}

/// One history entry of the agent: `#{event, from, to | on, at, by, restored, lost, handoff_at, reason}`.
pub(super) fn event_from(t: &Term) -> Option<SandboxEvent> {
    let get = |k: &str| map_get_atom(t, k);
    let node = |k: &str| get(k).and_then(as_atom).map(str::to_string);
    let kind = match get("event").and_then(as_atom)? {
        "failover" => SandboxEventKind::Failover,
        "failover_failed" => SandboxEventKind::FailoverFailed,
        _ => return None,
    };
    Some(SandboxEvent {
        kind,
        from: node("from")?,
        to: node("to").or_else(|| node("on")).unwrap_or_default(),
        at_ms: get("at").and_then(as_integer).unwrap_or(0),
        by: if get("by").is_some_and(|b| is_atom(b, "cluster")) { DecidedBy::Cluster } else { DecidedBy::Orbit },
        restored: child_ids(get("restored")),
        lost: child_ids(get("lost")),
        handoff_ms: get("handoff_at").and_then(as_integer),
        reason: get("reason").map(|r| match as_tuple(r) {
            Some([tag, d]) if is_atom(tag, "start_failed") => show(d),
            _ => show(r),
        }),
    })
}

pub(super) fn child_ids(t: Option<&Term>) -> Vec<String> {
    t.and_then(as_list).map(|l| l.iter().map(child_id).collect()).unwrap_or_default()
}

pub(super) fn modules(t: Option<&Term>) -> Vec<String> {
    match t {
        Some(t) if is_atom(t, "dynamic") => vec!["dynamic".into()],
        Some(t) => {
            as_list(t).map(|l| l.iter().filter_map(|m| as_atom(m).map(module_display)).collect()).unwrap_or_default()
        }
        None => vec![],
    }
}

pub(super) fn child_id(t: &Term) -> String {
    match as_atom(t) {
        Some(a) if a.starts_with("Elixir.") => module_display(a),
        Some(a) => format!(":{a}"),
        None => render_elixir(t, &Limits::default()),
    }
}

pub(super) fn show_mfa(t: &Term) -> String {
    match as_tuple(t) {
        Some([m, f, a]) => {
            let args = as_list(a).map(|l| l.len()).unwrap_or(0);
            let m = as_atom(m).map(module_display).unwrap_or_else(|| show(m));
            format!("{m}.{}/{args}", as_atom(f).unwrap_or("?"))
        }
        _ => show(t),
    }
}

pub(super) fn expect_ok(node: &str, what: &str, reply: &Term) -> Result<(), SandboxError> {
    if is_atom(reply, "ok") {
        return Ok(());
    }
    expect_ok_value(node, what, reply).map(|_| ())
}

/// `{ok, Value}` → Value; `{error, Reason}` → the matching error.
pub(super) fn expect_ok_value(node: &str, what: &str, reply: &Term) -> Result<Term, SandboxError> {
    match as_tuple(reply) {
        Some([tag, v]) if is_atom(tag, "ok") => Ok(v.clone()),
        Some([tag, why]) if is_atom(tag, "error") => Err(agent_error(node, why)),
        _ => Err(SandboxError::Shape { node: node.to_string(), what: what.to_string(), detail: show(reply) }),
    }
}

pub(super) fn agent_error(node: &str, why: &Term) -> SandboxError {
    let node_s = node.to_string();
    let module = |t: &Term| as_atom(t).map(module_display).unwrap_or_else(|| show(t));
    match as_tuple(why) {
        Some([tag, id, n]) if is_atom(tag, "already_exists") => {
            SandboxError::AlreadyExists { id: text(id), node: as_atom(n).unwrap_or("?").to_string() }
        }
        Some([tag, m]) if is_atom(tag, "unknown_module") => {
            SandboxError::UnknownModule { node: node_s, module: module(m) }
        }
        Some([tag, m]) if is_atom(tag, "no_child_spec") => {
            SandboxError::NoChildSpec { node: node_s, module: module(m) }
        }
        Some([tag, d]) if is_atom(tag, "bad_child_spec") => {
            SandboxError::BadChildSpec { node: node_s, detail: show(d) }
        }
        Some([tag, m, d]) if is_atom(tag, "child_spec_failed") => SandboxError::BadChildSpec {
            node: node_s,
            detail: format!("{}.child_spec/1 raised {}", module(m), show(d)),
        },
        Some([tag, src, d]) if is_atom(tag, "eval_failed") => {
            SandboxError::Eval { node: node_s, expr: text(src), detail: show(d) }
        }
        Some([tag, d]) if is_atom(tag, "start_failed") => {
            let detail = match as_tuple(d) {
                Some([t, cid, r]) if is_atom(t, "child_failed") => {
                    format!("child {} failed to start: {}", child_id(cid), show(r))
                }
                _ => show(d),
            };
            SandboxError::StartFailed { node: node_s, detail }
        }
        Some([tag, id]) if is_atom(tag, "unknown_sandbox") => SandboxError::UnknownSandbox(text(id)),
        Some([tag, n]) if is_atom(tag, "already_on") => {
            SandboxError::AlreadyOn { id: String::new(), node: as_atom(n).unwrap_or("?").to_string() }
        }
        Some([tag, n]) if is_atom(tag, "node_down") => {
            SandboxError::SourceDown { id: String::new(), node: as_atom(n).unwrap_or("?").to_string() }
        }
        Some([tag, id, n]) if is_atom(tag, "not_running_here") => {
            SandboxError::NotRunning { id: text(id), node: as_atom(n).unwrap_or("?").to_string() }
        }
        Some([tag, n]) if is_atom(tag, "node_up") => {
            SandboxError::Refused { node: node_s, detail: format!("node_up: {} is still connected", show(n)) }
        }
        Some([tag, n]) if is_atom(tag, "no_elixir") => {
            SandboxError::Refused { node: node_s, detail: format!("Elixir is not available on {}", show(n)) }
        }
        _ => SandboxError::Refused { node: node_s, detail: show(why) },
    }
}

pub(super) fn bin(s: &str) -> Term {
    binary(s.as_bytes().to_vec())
}

pub(super) fn show(t: &Term) -> String {
    render_erlang(t, &Limits::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::map;
    #[test]
    fn entries_become_sandboxes() {
        let entry = map(vec![
            (atom("id"), bin("s1")),
            (atom("node"), atom("a@h")),
            (atom("status"), atom("running")),
            (atom("version"), tuple(vec![crate::term::int(3), crate::term::int(99)])),
            (
                atom("children"),
                term::list(vec![map(vec![(atom("id"), atom("Elixir.Bank.Account")), (atom("start"), atom("x"))])]),
            ),
        ]);
        let s = sandbox_from(&entry, None, &["b@h".to_string()]);
        assert_eq!(s.status, SandboxStatus::Orphaned);
        assert_eq!(s.children[0].id, "Bank.Account");
        assert_eq!(version(&entry), (3, 99));
        let live = map(vec![
            (atom("running"), atom("true")),
            (atom("memory"), crate::term::int(2048)),
            (atom("restarts"), crate::term::int(1)),
            (
                atom("children"),
                term::list(vec![map(vec![
                    (atom("id"), atom("counter")),
                    (atom("pid"), Term::from(eetf::Pid::new("a@h", 90, 0, 1))),
                    (atom("type"), atom("worker")),
                    (atom("modules"), term::list(vec![atom("Elixir.Agent")])),
                ])]),
            ),
        ]);
        let s = sandbox_from(&entry, Some(&live), &["a@h".to_string()]);
        assert_eq!(s.status, SandboxStatus::Running);
        assert_eq!((s.memory, s.restarts), (Some(2048), Some(1)));
        assert_eq!(s.children[0].id, ":counter");
        assert_eq!(s.children[0].pid.as_deref(), Some("#PID<0.90.0>"));
        assert_eq!(s.children[0].modules, vec!["Agent"]);
    }

    #[test]
    fn history_and_handoff_come_from_the_entry() {
        let event = map(vec![
            (atom("event"), atom("failover")),
            (atom("from"), atom("c@h")),
            (atom("to"), atom("a@h")),
            (atom("at"), crate::term::int(1_796_397_731_000)),
            (atom("by"), atom("cluster")),
            (atom("restored"), term::list(vec![atom("Elixir.Bank.Account")])),
            (atom("lost"), term::list(vec![atom("counter")])),
            (atom("handoff_at"), crate::term::int(1_796_397_700_000)),
        ]);
        let failed = map(vec![
            (atom("event"), atom("failover_failed")),
            (atom("from"), atom("c@h")),
            (atom("on"), atom("b@h")),
            (atom("at"), crate::term::int(1_796_397_730_000)),
            (atom("by"), atom("cluster")),
            (atom("reason"), tuple(vec![atom("start_failed"), atom("nope")])),
        ]);
        let entry = map(vec![
            (atom("id"), bin("s")),
            (atom("node"), atom("a@h")),
            (atom("status"), atom("running")),
            (
                atom("handoff"),
                map(vec![
                    (atom("at"), crate::term::int(1_796_397_700_000)),
                    (atom("children"), term::list(vec![atom("Elixir.Bank.Account")])),
                ]),
            ),
            (atom("history"), term::list(vec![event, failed, atom("something_newer")])),
        ]);
        let s = sandbox_from(&entry, None, &["a@h".to_string()]);
        assert_eq!(s.handoff_ms, Some(1_796_397_700_000));
        assert_eq!(s.handoff_children, vec!["Bank.Account"]);
        assert_eq!(s.history.len(), 2, "unknown events are skipped");
        let last = s.last_failover().unwrap();
        assert_eq!((last.by, last.from.as_str(), last.to.as_str()), (DecidedBy::Cluster, "c@h", "a@h"));
        assert_eq!(
            last.summary(),
            "failed over from c@h to a@h at 2026-12-04 15:22:11 UTC (without Orbit); state of Bank.Account \
             restored from the handoff of 2026-12-04 15:21:40 UTC; :counter started afresh"
        );
        assert_eq!(s.history[1].kind, SandboxEventKind::FailoverFailed);
        assert_eq!(s.history[1].to, "b@h");
        assert!(
            s.history[1].summary().contains("could not start it on b@h") && s.history[1].summary().contains("nope")
        );
    }

    #[test]
    fn agent_errors_are_named() {
        let e = agent_error("n@h", &tuple(vec![atom("unknown_module"), atom("Elixir.Nope")]));
        assert_eq!(e.to_string(), "n@h: no module Nope (is it in the node's code path?)");
        let e = agent_error("n@h", &tuple(vec![atom("unknown_sandbox"), bin("zz")]));
        assert!(matches!(e, SandboxError::UnknownSandbox(ref s) if s == "zz"));
        let e = agent_error("n@h", &tuple(vec![atom("already_exists"), bin("a"), atom("m@h")]));
        assert_eq!(e.to_string(), "a sandbox named \"a\" exists already, on m@h");
        let e = agent_error("n@h", &tuple(vec![atom("not_running_here"), bin("a"), atom("m@h")]));
        assert_eq!(e.to_string(), "m@h: sandbox \"a\" is not running there");
        let e = agent_error("n@h", &tuple(vec![atom("node_up"), atom("m@h")]));
        assert_eq!(e.to_string(), "n@h: node_up: m@h is still connected");
        let e = agent_error("n@h", &tuple(vec![atom("start_failed"), atom("boom")]));
        assert_eq!(e.to_string(), "n@h: the sandbox did not start: boom");
        let e = agent_error("n@h", &atom("weird"));
        assert_eq!(e.to_string(), "n@h: weird");
        let e = expect_ok_value("n@h", "migrate", &atom("what")).unwrap_err();
        assert_eq!(e.to_string(), "n@h: unexpected answer from migrate: what");
    }

    /// Why a child's state did not travel with a migration, as the report says it.
    #[test]
    fn handoff_failures_in_words() {
        let why = |tag: &str, detail: Term| describe_handoff(&tuple(vec![atom(tag), detail]));
        assert_eq!(why("no_state", atom("x")), "does not answer :sys.get_state (not a GenServer?)");
        assert_eq!(why("replace_failed", atom("badarg")), ":sys.replace_state failed: badarg");
        assert_eq!(describe_handoff(&atom("not_running")), "did not start on the target");
        assert_eq!(describe_handoff(&atom("other")), "other");
    }
}
