//! Tracepoints: log points that do not interpret their module.
//!
//! A log point on the first line of a function clause (Elixir's `def` line) whose `{…}` expressions and
//! condition use only that clause's arguments, and a function breakpoint marked as a log point
//! (`Bank.Account.deposit/2 log deposit {amount}`), are served by `orbit_dbg_trace` on each node with
//! OTP's meta call tracing instead of the interpreter: the module keeps running native code. Everything
//! else stays an interpreted log point. Which engine serves a breakpoint is decided here (with the node:
//! `orbit_dbg_trace:plan/5` reads the clause heads) and said in the breakpoint's `message`.
//!
//! Each node's tracer prints at most `rate` lines per second (the session's limit, 100 by default);
//! beyond it one line per second says how many calls were dropped. The set of tracepoints is pushed
//! whole to every node (and to nodes that join); the clean-up registered with each node's agent
//! (`orbit_dbg_trace:cleanup/2`) removes every trace pattern, also when Orbit vanishes.
//!
//! A module the session interprets (another breakpoint in it, `interpret` globs, a step) runs in the
//! interpreter, where trace patterns do not fire: its log points are interpreted ones.

use super::breakpoints::Bp;
use super::util::{output, text};
use super::IntEngine;
use crate::debugger::breakpoints::{HitCondition, LineBreakpoint};
use crate::debugger::names::{function_display, Lang};
use crate::debugger::EngineEvent;
use crate::rpc::RpcError;
use crate::term::{as_atom, as_integer, as_list, as_str, as_tuple, atom, binary, int, is_atom, list, map, tuple};
use eetf::Term;
use std::collections::{BTreeSet, HashSet};

/// What a tracepoint's `message` says.
pub(super) const TRACED: &str = "traced, not interpreted";

/// Lines per second per node, unless the session says otherwise.
pub(super) const DEFAULT_RATE: u32 = 100;

/// The session's tracepoint settings and what the clean-up must undo.
pub(super) struct Tracepoints {
    rate: u32,
    /// Every function that ever had a tracepoint in this session (what the clean-up looks at).
    traced: BTreeSet<(String, String, u32)>,
    /// Console notes already given (a node that runs another version, …), said once.
    said: HashSet<String>,
}

impl Default for Tracepoints {
    fn default() -> Self {
        Tracepoints { rate: DEFAULT_RATE, traced: BTreeSet::new(), said: HashSet::new() }
    }
}

/// What makes a breakpoint a tracepoint: the function, the clause (`None`: every clause, for a
/// function breakpoint), the version it was planned against.
#[derive(Debug, Clone)]
pub(super) struct Trace {
    pub(super) module: String,
    pub(super) function: String,
    pub(super) arity: u32,
    pub(super) clause: Option<u32>,
    md5: Term,
    returns: bool,
    /// The project's build of the module, where the nodes' copies have no debug info (a release):
    /// every node's tracer reads the clauses from it.
    build: Option<std::sync::Arc<Vec<u8>>>,
}

/// A function breakpoint's name with a log message: `Bank.Account.deposit/2 log deposit {amount}` →
/// (`Bank.Account.deposit/2`, `deposit {amount}`). The message may be quoted (`log "…"`).
pub(super) fn split_function_log(name: &str) -> (String, Option<String>) {
    let t = name.trim();
    let Some(at) = t.find(" log ").or_else(|| t.strip_suffix(" log").map(|s| s.len())) else {
        return (t.to_string(), None);
    };
    let (function, rest) = (t[..at].trim(), t[at..].trim_start().strip_prefix("log").unwrap_or("").trim());
    let message = match rest.chars().next() {
        Some(q @ ('"' | '\'')) if rest.len() >= 2 && rest.ends_with(q) => &rest[1..rest.len() - 1],
        _ => rest,
    };
    (function.to_string(), Some(message.to_string()))
}

/// A line the tracer sends about itself (calls dropped by the rate limit, a condition that failed).
pub(super) fn note_output(node: &Term, message: &Term) -> EngineEvent {
    output(format!("[{}] {}\n", as_atom(node).unwrap_or("?"), text(message)))
}

fn opt(s: &Option<String>) -> Term {
    match s {
        Some(x) if !x.trim().is_empty() => binary(x.as_bytes()),
        _ => atom("undefined"),
    }
}

/// A hit condition as the agent reads it.
pub(super) fn hit_term(hit: Option<&str>) -> Result<Term, String> {
    Ok(match hit.map(HitCondition::parse).transpose()? {
        None => atom("none"),
        Some(HitCondition::Exactly(n)) => tuple(vec![atom("eq"), int(n as i64)]),
        Some(HitCondition::AtLeast(n)) => tuple(vec![atom("ge"), int(n as i64)]),
        Some(HitCondition::MoreThan(n)) => tuple(vec![atom("gt"), int(n as i64)]),
        Some(HitCondition::EveryNth(n)) => tuple(vec![atom("mod"), int(n as i64)]),
    })
}

/// The project's build as the agent takes it: the beam's bytes, or `none`.
fn build_term(build: &Option<std::sync::Arc<Vec<u8>>>) -> Term {
    match build {
        Some(b) => Term::Binary(eetf::Binary::from(b.as_slice().to_vec())),
        None => atom("none"),
    }
}

fn parse_error(lang: Lang, msg: &Term) -> String {
    let msg = as_str(msg).map(str::to_string).unwrap_or_else(|| text(msg));
    format!("{}: {msg}", if lang == Lang::Elixir { "Elixir" } else { "Erlang" })
}

impl IntEngine {
    /// Lines per second per node for tracepoints (the session's rate limit; 100 by default).
    pub async fn set_log_point_rate(&mut self, per_second: u32) {
        self.breakpoints.tracepoints.rate = per_second.max(1);
        if self.breakpoints.tracepoint_list().next().is_some() {
            self.push_tracepoints().await;
        }
    }

    /// Whether the line log point `spec` can be a tracepoint in one of `modules`: `None` when it is not
    /// a log point or must be interpreted, `Err` when its message or condition does not parse.
    pub(super) async fn plan_tracepoint(
        &mut self,
        modules: &[String],
        spec: &LineBreakpoint,
        lang: Lang,
    ) -> Option<Result<Trace, String>> {
        let log = spec.log_message.as_ref().filter(|m| !m.trim().is_empty())?;
        for module in modules {
            if self.modules.in_server().any(|m| m == module) {
                continue;
            }
            let build = self.project_build(module);
            let args = vec![
                atom(module),
                int(spec.line as i64),
                atom(lang.as_str()),
                binary(log.as_bytes()),
                opt(&spec.condition),
                build_term(&build),
            ];
            let Some(reply) = self.plan_call("plan", args).await else { continue };
            match as_tuple(&reply) {
                Some([ok, info]) if is_atom(ok, "ok") => {
                    let get = |k: &str| crate::term::map_get_atom(info, k);
                    let (Some(f), Some(a), Some(k)) = (
                        get("function").and_then(as_atom),
                        get("arity").and_then(as_integer),
                        get("clause").and_then(as_integer),
                    ) else {
                        continue;
                    };
                    return Some(Ok(Trace {
                        module: module.clone(),
                        function: f.to_string(),
                        arity: a as u32,
                        clause: Some(k as u32),
                        md5: get("md5").cloned().unwrap_or_else(|| atom("any")),
                        returns: get("return").is_some_and(|r| is_atom(r, "true")),
                        build: build.filter(|_| get("build").is_some_and(|b| is_atom(b, "true"))),
                    }));
                }
                Some([e, msg]) if is_atom(e, "error") => return Some(Err(parse_error(lang, msg))),
                _ => continue,
            }
        }
        None
    }

    /// A function breakpoint marked as a log point: a tracepoint on every clause of the function, unless
    /// the module is interpreted. Returns its first line and the trace, or why it cannot hold.
    pub(super) async fn plan_function_tracepoint(
        &mut self,
        module: &str,
        function: &str,
        arity: u32,
        spec: &LineBreakpoint,
        lang: Lang,
    ) -> Option<Result<(u32, Trace), String>> {
        if self.modules.in_server().any(|m| m == module) {
            return None;
        }
        let build = self.project_build(module);
        let args = vec![
            atom(module),
            atom(function),
            int(arity as i64),
            atom(lang.as_str()),
            opt(&spec.log_message),
            opt(&spec.condition),
            build_term(&build),
        ];
        let reply = self.plan_call("plan_function", args).await?;
        match as_tuple(&reply) {
            Some([ok, info]) if is_atom(ok, "ok") => {
                let get = |k: &str| crate::term::map_get_atom(info, k);
                let line = get("line").and_then(as_integer).unwrap_or(0) as u32;
                Some(Ok((
                    line,
                    Trace {
                        module: module.to_string(),
                        function: function.to_string(),
                        arity,
                        clause: None,
                        md5: get("md5").cloned().unwrap_or_else(|| atom("any")),
                        returns: get("return").is_some_and(|r| is_atom(r, "true")),
                        build: build.filter(|_| get("build").is_some_and(|b| is_atom(b, "true"))),
                    },
                )))
            }
            Some([e, msg]) if is_atom(e, "error") => Some(Err(parse_error(lang, msg))),
            Some([no, why]) if is_atom(no, "no") => {
                Some(Err(format!("{}: {}", function_display(module, function, arity), text(why))))
            }
            _ => None,
        }
    }

    /// The project's own build of `module` (see `sources::project_beam`), read once per plan.
    fn project_build(&self, module: &str) -> Option<std::sync::Arc<Vec<u8>>> {
        let dir = self.config.project_dir.as_deref()?;
        crate::debugger::sources::project_beam(dir, module).map(std::sync::Arc::new)
    }

    /// `orbit_dbg_trace:F(Args)` on the entry node, else the first other node that answers.
    async fn plan_call(&self, f: &str, args: Vec<Term>) -> Option<Term> {
        let mut nodes = vec![self.entry.clone()];
        nodes.extend(self.cluster.up_nodes().into_iter().filter(|n| *n != self.entry));
        for node in nodes {
            match self.node_call(&node, "orbit_dbg_trace", f, args.clone()).await {
                Ok(r) if as_tuple(&r).is_some_and(|t| t.len() == 2 && is_atom(&t[0], "no")) => {
                    // Not loadable there (or no debug info): another node may have it.
                    if as_tuple(&r).is_some_and(|t| is_atom(&t[1], "not_loaded")) {
                        continue;
                    }
                    return Some(r);
                }
                Ok(r) => return Some(r),
                Err(e) => tracing::debug!("{node}: orbit_dbg_trace:{f}: {e}"),
            }
        }
        None
    }

    /// The session's tracepoints as every node's tracer takes them.
    fn tracepoint_terms(&self) -> Vec<Term> {
        self.breakpoints
            .tracepoint_list()
            .filter_map(|(bp, t)| {
                let hit = hit_term(bp.spec.hit_condition.as_deref()).ok()?;
                Some(map(vec![
                    (atom("id"), int(bp.id)),
                    (atom("module"), atom(&t.module)),
                    (atom("function"), atom(&t.function)),
                    (atom("arity"), int(t.arity as i64)),
                    (atom("clause"), t.clause.map(|k| int(k as i64)).unwrap_or_else(|| atom("all"))),
                    (atom("md5"), t.md5.clone()),
                    (atom("lang"), atom(bp.lang.as_str())),
                    (atom("log"), opt(&bp.spec.log_message)),
                    (atom("condition"), opt(&bp.spec.condition)),
                    (atom("hit"), hit),
                    (atom("return"), atom(if t.returns { "true" } else { "false" })),
                    (atom("beam"), build_term(&t.build)),
                ]))
            })
            .collect()
    }

    fn tracer_config(&self) -> Term {
        map(vec![
            (atom("owner"), atom(self.cluster.local_name())),
            (atom("events"), Term::from(self.events_pid.clone())),
            (atom("rate"), int(self.breakpoints.tracepoints.rate as i64)),
        ])
    }

    /// Gives every ready node the session's tracepoints (an empty set stops the nodes' tracers); what
    /// does not hold somewhere is said on the console, once.
    pub(super) async fn push_tracepoints(&mut self) {
        let nodes = self.ready_nodes.list();
        let mut lines = Vec::new();
        for node in nodes {
            lines.extend(self.push_tracepoints_to(&node).await);
        }
        self.pending_events.extend(lines.into_iter().map(|l| output(format!("{l}\n"))));
    }

    /// Gives `node` the session's tracepoints. Returns console lines.
    pub(super) async fn push_tracepoints_to(&mut self, node: &str) -> Vec<String> {
        let tps = self.tracepoint_terms();
        let fresh: Vec<(String, String, u32)> = self
            .breakpoints
            .tracepoint_list()
            .map(|(_, t)| (t.module.clone(), t.function.clone(), t.arity))
            .filter(|mfa| !self.breakpoints.tracepoints.traced.contains(mfa))
            .collect();
        if !fresh.is_empty() {
            // The clean-up knows of a function before any pattern is set on it.
            self.breakpoints.tracepoints.traced.extend(fresh);
            self.register_cleanup_everywhere().await;
        }
        if tps.is_empty() && self.breakpoints.tracepoints.traced.is_empty() {
            return Vec::new();
        }
        let reply = match self.node_call(node, "orbit_dbg_trace", "set", vec![self.tracer_config(), list(tps)]).await {
            Ok(r) => r,
            Err(RpcError::Timeout { .. }) => return Vec::new(),
            Err(e) => return vec![format!("{node}: tracepoints could not be set: {e}")],
        };
        let mut lines = Vec::new();
        for item in as_list(&reply).map(|l| l.into_owned()).unwrap_or_default() {
            let Some([id, result]) = as_tuple(&item) else { continue };
            if is_atom(result, "ok") {
                continue;
            }
            let Some((_, t)) = self.breakpoints.tracepoint_list().find(|(b, _)| Some(b.id) == as_integer(id)) else {
                continue;
            };
            let what = function_display(&t.module, &t.function, t.arity);
            let why = match as_tuple(result) {
                Some([_, w]) if is_atom(w, "other_version") => {
                    format!("it runs another version of {}", crate::debugger::names::module_display(&t.module))
                }
                Some([_, w]) if is_atom(w, "not_loaded") => "the module is not there".to_string(),
                Some([_, w]) if is_atom(w, "no_debug_info") => "the module has no debug info there".to_string(),
                Some([_, w]) => text(w),
                _ => text(result),
            };
            let line = format!("{node}: the tracepoint on {what} does not hold there: {why}");
            if self.breakpoints.tracepoints.said.insert(line.clone()) {
                lines.push(line);
            }
        }
        if as_list(&reply).is_none() {
            lines.push(format!("{node}: tracepoints could not be set: {}", text(&reply)));
        }
        lines
    }

    /// The arguments of `orbit_dbg_trace:cleanup/2`: the session's event pid and every function it
    /// traced. `None` when it never traced one.
    pub(super) fn trace_cleanup_args(&self) -> Option<Vec<Term>> {
        let traced = &self.breakpoints.tracepoints.traced;
        if traced.is_empty() {
            return None;
        }
        let mfas = traced.iter().map(|(m, f, a)| tuple(vec![atom(m), atom(f), int(*a as i64)])).collect();
        Some(vec![Term::from(self.events_pid.clone()), list(mfas)])
    }

    /// Tracepoints in modules the session now interprets (where trace patterns do not fire) become
    /// interpreted log points; each one changed is reported.
    pub(super) async fn untrace_interpreted(&mut self) -> Vec<EngineEvent> {
        let interpreted: BTreeSet<String> = self.modules.in_server().cloned().collect();
        let ids: Vec<i64> = self
            .breakpoints
            .tracepoint_list()
            .filter(|(_, t)| interpreted.contains(&t.module))
            .map(|(b, _)| b.id)
            .collect();
        let mut events = Vec::new();
        for id in ids {
            let Some(bp) = self.breakpoints.take_by_id(id) else { continue };
            let bp = self.reinstall_interpreted(bp).await;
            events.push(EngineEvent::Breakpoint(bp.status()));
            self.breakpoints.put_back(bp);
        }
        events
    }

    /// A tracepoint made an interpreted log point again, where it was.
    async fn reinstall_interpreted(&mut self, mut bp: Bp) -> Bp {
        let Some(t) = bp.trace.take() else { return bp };
        bp.at = None;
        bp.message = None;
        if bp.function.is_some() {
            self.install_function(bp, &t.module, &t.function, t.arity).await
        } else {
            self.install(bp, &[t.module]).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_log_points() {
        assert_eq!(split_function_log("Bank.Account.deposit/2"), ("Bank.Account.deposit/2".into(), None));
        assert_eq!(
            split_function_log("Bank.Account.deposit/2 log deposit {amount}"),
            ("Bank.Account.deposit/2".into(), Some("deposit {amount}".into()))
        );
        assert_eq!(
            split_function_log(" bank_ledger:fee/1 log \"fee of {Amount}\" "),
            ("bank_ledger:fee/1".into(), Some("fee of {Amount}".into()))
        );
        assert_eq!(split_function_log("m:f/1 log"), ("m:f/1".into(), Some(String::new())));
        assert_eq!(split_function_log("Bank.Catalog.login/1"), ("Bank.Catalog.login/1".into(), None));
    }

    #[test]
    fn hit_terms() {
        assert!(is_atom(&hit_term(None).unwrap(), "none"));
        assert!(hit_term(Some("% 3")).is_ok());
        assert!(hit_term(Some("often")).is_err());
    }
}
