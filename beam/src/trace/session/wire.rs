//! What `orbit_trace` is sent (the plan's options) and what it answers, decoded.

use super::model::{NodeStatus, TraceError, TraceStopReason};
use crate::names::Lang;
use crate::term::{
    as_atom, as_integer, as_list, as_str, as_tuple, atom, int, list, map, map_get_atom, render_erlang, tuple, Limits,
};
use crate::trace::pattern::{module_text, Limit};
use eetf::{Pid, Term};
use std::time::Duration;

/// What `start` settled before touching any node.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) id: Pid,
    pub(super) owner: String,
    /// Pattern as written, `{M,F,A}`, match spec (`true` for none).
    pub(super) calls: Vec<(String, Term, Term)>,
    pub(super) procs: Vec<Term>,
    pub(super) msg_flags: Vec<Term>,
    pub(super) limit: Limit,
    pub(super) duration: Option<Duration>,
    pub(super) timeout: Duration,
}

impl Plan {
    pub(super) fn opts(&self) -> Term {
        let calls = self
            .calls
            .iter()
            .map(|(_, mfa, ms)| {
                let e = as_tuple(mfa).unwrap_or(&[]);
                tuple(vec![e[0].clone(), e[1].clone(), e[2].clone(), ms.clone()])
            })
            .collect();
        let limit = match self.limit {
            Limit::Count(n) => tuple(vec![atom("count"), int(n as i64)]),
            Limit::Rate { max, per } => tuple(vec![atom("rate"), int(max as i64), int(per.as_millis() as i64)]),
        };
        // The node's own deadline is a backstop: Orbit normally stops the session itself.
        let duration = self.duration.map(|d| int(d.as_millis() as i64 + 2000)).unwrap_or_else(|| atom("infinity"));
        map(vec![
            (atom("id"), Term::from(self.id.clone())),
            (atom("owner"), atom(&self.owner)),
            (atom("dest"), Term::from(self.id.clone())),
            (atom("calls"), list(calls)),
            (atom("procs"), list(self.procs.clone())),
            (atom("msg_flags"), list(self.msg_flags.clone())),
            (atom("limit"), limit),
            (atom("duration_ms"), duration),
            (atom("batch_ms"), int(100)),
            (atom("batch_max"), int(500)),
            (atom("max_queue"), int(50_000)),
        ])
    }

    pub(super) fn patterns(&self) -> Term {
        list(self.calls.iter().map(|(_, mfa, _)| mfa.clone()).collect())
    }

    pub(super) fn cleanup_key(&self) -> Term {
        tuple(vec![atom("orbit_trace"), Term::from(self.id.clone())])
    }
}

pub(super) fn near_hint(module: &Term, function: &Term, near: &Term) -> Option<String> {
    let m = as_atom(module)?;
    let shown = module_text(m, if m.starts_with("Elixir.") { Lang::Elixir } else { Lang::Erlang });
    if as_atom(near) == Some("not_loaded") {
        return Some(format!(" ({shown} is neither loaded nor in the code path)"));
    }
    let arities: Vec<String> = as_list(near)?
        .iter()
        .filter_map(|t| match as_tuple(t) {
            Some([_, a]) => as_integer(a).map(|a| a.to_string()),
            _ => None,
        })
        .collect();
    if arities.is_empty() {
        return None;
    }
    Some(format!(" ({shown} has {}/{} only)", as_atom(function).unwrap_or("?"), arities.join(", /")))
}

pub(super) fn node_error(node: &str, reason: &Term, plan: &Plan) -> TraceError {
    let shown = |t: &Term| render_erlang(t, &Limits::default());
    if as_atom(reason) == Some("orbit_profile_running") {
        return TraceError::ProfileRunning { node: node.into() };
    }
    match as_tuple(reason) {
        Some([tag, owner]) if as_atom(tag) == Some("busy") => TraceError::Busy {
            node: node.into(),
            owner: as_atom(owner).map(str::to_string).unwrap_or_else(|| shown(owner)),
        },
        Some([tag, tracer]) if as_atom(tag) == Some("other_tracer") => {
            TraceError::OtherTracer { node: node.into(), tracer: shown(tracer) }
        }
        Some([tag, mfa, errors]) if as_atom(tag) == Some("bad_match_spec") => {
            let pattern =
                plan.calls.iter().find(|(_, m, _)| m == mfa).map(|(p, _, _)| p.clone()).unwrap_or_else(|| shown(mfa));
            let detail = as_list(errors)
                .map(|l| {
                    l.iter()
                        .map(|e| as_str(e).map(str::to_string).unwrap_or_else(|| shown(e)))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_else(|| shown(errors));
            TraceError::MatchSpec { pattern, detail }
        }
        _ => TraceError::Node { node: node.into(), detail: shown(reason) },
    }
}

pub(super) fn started_status(plan: &Plan, info: &Term) -> NodeStatus {
    let matched = map_get_atom(info, "calls")
        .and_then(as_list)
        .map(|l| {
            l.iter()
                .zip(plan.calls.iter())
                .map(|(t, (p, _, _))| {
                    let n = as_tuple(t).and_then(|e| e.get(3)).and_then(as_integer).unwrap_or(0);
                    (p.clone(), n.max(0) as u64)
                })
                .collect()
        })
        .unwrap_or_default();
    let processes = map_get_atom(info, "procs").and_then(as_integer).unwrap_or(0).max(0) as u64;
    NodeStatus { running: true, matched, processes, events: 0, dropped: 0, stopped: None, error: None }
}

pub(super) fn node_stop_reason(node: &str, reason: &Term) -> TraceStopReason {
    let n = Some(node.to_string());
    match (as_atom(reason), as_tuple(reason)) {
        (Some("stopped"), _) | (Some("owner_down"), _) => TraceStopReason::Stopped,
        (Some("duration"), _) => TraceStopReason::Duration,
        (Some("replaced"), _) => TraceStopReason::Replaced { node: node.into() },
        (_, Some([tag, limit])) if as_atom(tag) == Some("count") => {
            TraceStopReason::CountLimit { limit: as_integer(limit).unwrap_or(0) as u64, node: n }
        }
        (_, Some([tag, max, ms])) if as_atom(tag) == Some("rate") => TraceStopReason::RateLimit {
            max: as_integer(max).unwrap_or(0) as u64,
            per_ms: as_integer(ms).unwrap_or(0) as u64,
            node: n,
        },
        (_, Some([tag, q])) if as_atom(tag) == Some("overloaded") => {
            TraceStopReason::Overloaded { node: node.into(), queued: as_integer(q).unwrap_or(0) as u64 }
        }
        _ => TraceStopReason::Other { node: node.into(), detail: render_erlang(reason, &Limits::default()) },
    }
}
