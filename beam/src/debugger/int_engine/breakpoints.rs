//! The session's breakpoints (line and function breakpoints): where each holds, its condition slot on
//! every node, installing and removing it in the interpreter server, retrying those whose module is not
//! loaded yet, and the output of log points. Where a line lands is worked out by the pure helpers of
//! `debugger::breakpoints`. Log points that can run without the interpreter are tracepoints
//! (`tracepoints.rs`): they hold in no interpreter server and interpret nothing.

use super::modules::ModuleLines;
use super::tracepoints::{hit_term, split_function_log, Trace, Tracepoints, TRACED};
use super::util::{error_text, output, text};
use super::{IntEngine, CALL};
use crate::debugger::breakpoints::{resolve_line, LineBreakpoint};
use crate::debugger::names::{module_display, parse_function_ref, Lang};
use crate::debugger::{BreakpointStatus, EngineEvent};
use crate::rpc;
use crate::term::{as_atom, as_tuple, atom, binary, int, is_atom, list, map, tuple};
use eetf::{Pid, Term};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Slots in `orbit_dbg_cond` (one per breakpoint with a condition, hit count or log message).
const CONDITION_SLOTS: u32 = 256;

#[derive(Debug, Clone)]
pub(super) struct Bp {
    pub(super) id: i64,
    /// The file it was set in (line breakpoints), or the function it names.
    source: Option<PathBuf>,
    pub(super) function: Option<String>,
    requested_line: u32,
    pub(super) spec: LineBreakpoint,
    pub(super) lang: Lang,
    /// Where it holds: module and line.
    pub(super) at: Option<(String, u32)>,
    /// More places it holds: a function breakpoint also stops at the first line of its other clauses.
    extra: Vec<(String, u32)>,
    pub(super) slot: Option<u32>,
    pub(super) message: Option<String>,
    /// A tracepoint: served by the nodes' tracers, not by the interpreter.
    pub(super) trace: Option<Trace>,
}

impl Bp {
    /// Every (module, line) it holds at in the interpreter server (none for a tracepoint).
    pub(super) fn points(&self) -> Vec<(String, u32)> {
        match &self.at {
            Some(_) if self.trace.is_some() => Vec::new(),
            Some(at) => std::iter::once(at).chain(self.extra.iter()).cloned().collect(),
            None => Vec::new(),
        }
    }

    /// Made a tracepoint at `line`.
    fn traced(mut self, trace: Trace, line: u32) -> Bp {
        self.at = Some((trace.module.clone(), line));
        self.extra.clear();
        self.message = Some(TRACED.to_string());
        self.trace = Some(trace);
        self
    }

    pub(super) fn status(&self) -> BreakpointStatus {
        BreakpointStatus {
            id: self.id,
            verified: self.at.is_some(),
            line: self.at.as_ref().map(|(_, l)| *l).or(Some(self.requested_line).filter(|l| *l > 0)),
            message: self.message.clone(),
            source: self.source.clone(),
        }
    }
}

/// Every breakpoint of the session, the next id, and the condition slots still free.
pub(super) struct Breakpoints {
    pub(super) list: Vec<Bp>,
    next_id: i64,
    free_slots: BTreeSet<u32>,
    pub(super) tracepoints: Tracepoints,
}

impl Default for Breakpoints {
    fn default() -> Self {
        Breakpoints {
            list: Vec::new(),
            next_id: 1,
            free_slots: (1..=CONDITION_SLOTS).collect(),
            tracepoints: Tracepoints::default(),
        }
    }
}

impl Breakpoints {
    /// The breakpoints that hold at `module:line`.
    pub(super) fn ids_at(&self, module: &str, line: u32) -> Vec<i64> {
        self.list.iter().filter(|b| b.points().iter().any(|(m, l)| m == module && *l == line)).map(|b| b.id).collect()
    }

    /// Is one of `ids` a function breakpoint?
    pub(super) fn any_function(&self, ids: &[i64]) -> bool {
        ids.iter().any(|id| self.list.iter().any(|b| b.id == *id && b.function.is_some()))
    }

    /// Every (module, line) any breakpoint holds at.
    pub(super) fn points(&self) -> Vec<(String, u32)> {
        self.list.iter().flat_map(|b| b.points()).collect()
    }

    /// A condition slot for a breakpoint Orbit sets for itself (a step's trap, see step_into.rs).
    pub(super) fn take_slot(&mut self) -> Option<u32> {
        self.free_slots.pop_first()
    }

    pub(super) fn free_slot(&mut self, slot: u32) {
        self.free_slots.insert(slot);
    }

    /// How many breakpoints hold somewhere.
    pub(super) fn holding(&self) -> usize {
        self.list.iter().filter(|b| b.at.is_some()).count()
    }

    /// The tracepoints, with what they trace.
    pub(super) fn tracepoint_list(&self) -> impl Iterator<Item = (&Bp, &Trace)> {
        self.list.iter().filter_map(|b| b.trace.as_ref().map(|t| (b, t)))
    }

    pub(super) fn take_by_id(&mut self, id: i64) -> Option<Bp> {
        let i = self.list.iter().position(|b| b.id == id)?;
        Some(self.list.remove(i))
    }

    pub(super) fn put_back(&mut self, bp: Bp) {
        self.list.push(bp);
        self.list.sort_by_key(|b| b.id);
    }

    fn status_of(&self, id: i64) -> Option<BreakpointStatus> {
        self.list.iter().find(|b| b.id == id).map(Bp::status)
    }

    /// Takes out the breakpoints `which` selects.
    fn take(&mut self, which: impl Fn(&Bp) -> bool) -> Vec<Bp> {
        let (old, keep): (Vec<Bp>, Vec<Bp>) = std::mem::take(&mut self.list).into_iter().partition(which);
        self.list = keep;
        old
    }

    fn unverified(
        &mut self,
        source: Option<PathBuf>,
        function: Option<String>,
        spec: LineBreakpoint,
        lang: Lang,
        why: String,
    ) -> Bp {
        let id = self.next_id;
        self.next_id += 1;
        Bp {
            id,
            source,
            function,
            requested_line: spec.line,
            spec,
            lang,
            at: None,
            extra: Vec::new(),
            slot: None,
            message: Some(why),
            trace: None,
        }
    }
}

/// A log point's message, as a node sends it.
pub(super) fn log_point_output(node: &Term, pid: &Pid, message: &Term) -> EngineEvent {
    let node = as_atom(node).unwrap_or("?");
    output(format!("[{node} #PID<0.{}.{}>] {}\n", pid.id, pid.serial, text(message)))
}

fn no_module_message(file: &Path) -> String {
    format!(
        "no module compiled from {} is loaded on any node yet; the breakpoint will hold when one is",
        file.display()
    )
}

impl IntEngine {
    pub(super) async fn set_breakpoints(
        &mut self,
        file: &Path,
        breakpoints: Vec<LineBreakpoint>,
    ) -> Vec<BreakpointStatus> {
        let lang = Lang::of_path(file);
        let old = self.breakpoints.take(|b| b.function.is_none() && b.source.as_deref() == Some(file));
        for b in &old {
            self.remove_from_server(b).await;
        }
        let mut modules = self.modules.modules_for(file);
        if modules.is_empty() {
            self.refresh_index().await;
            modules = self.modules.modules_for(file);
        }
        let mut ids = Vec::new();
        for spec in breakpoints {
            let bp = if modules.is_empty() {
                self.breakpoints.unverified(Some(file.to_path_buf()), None, spec, lang, no_module_message(file))
            } else {
                let bp = self.breakpoints.unverified(Some(file.to_path_buf()), None, spec, lang, String::new());
                self.place(Bp { message: None, ..bp }, &modules).await
            };
            ids.push(bp.id);
            self.breakpoints.list.push(bp);
        }
        self.settle(&ids).await
    }

    /// After breakpoints changed: tracepoints in modules now interpreted become interpreted log points
    /// (reported with a `breakpoint` event unless among `ids`), every node gets the tracepoints and the
    /// clean-up; returns the statuses of `ids`.
    async fn settle(&mut self, ids: &[i64]) -> Vec<BreakpointStatus> {
        let changed = self.untrace_interpreted().await;
        self.pending_events
            .extend(changed.into_iter().filter(|e| !matches!(e, EngineEvent::Breakpoint(s) if ids.contains(&s.id))));
        self.push_tracepoints().await;
        self.register_cleanup_everywhere().await;
        ids.iter().filter_map(|id| self.breakpoints.status_of(*id)).collect()
    }

    /// A line breakpoint in one of `modules`: a tracepoint when it can be one, else installed in the
    /// interpreter.
    async fn place(&mut self, mut bp: Bp, modules: &[String]) -> Bp {
        match self.plan_tracepoint(modules, &bp.spec, bp.lang).await {
            Some(Ok(trace)) => {
                let line = bp.requested_line;
                bp.traced(trace, line)
            }
            Some(Err(e)) => {
                bp.message = Some(e);
                bp
            }
            None => self.install(bp, modules).await,
        }
    }

    pub(super) async fn set_function_breakpoints(
        &mut self,
        functions: Vec<(String, Option<String>, Option<String>)>,
    ) -> Vec<BreakpointStatus> {
        let old = self.breakpoints.take(|b| b.function.is_some());
        for b in &old {
            self.remove_from_server(b).await;
        }
        let mut ids = Vec::new();
        for (written, condition, hit_condition) in functions {
            // `Mod.fun/arity log message` makes a log point of it.
            let (name, log_message) = split_function_log(&written);
            let spec = LineBreakpoint { line: 0, condition, hit_condition, log_message: log_message.clone() };
            let bp = match parse_function_ref(&name) {
                Err(e) => self.breakpoints.unverified(None, Some(written.clone()), spec, Lang::Elixir, e),
                Ok(_) if log_message.as_deref().is_some_and(|m| m.trim().is_empty()) => {
                    let why = format!("write the message after `log`: {name} log deposit of {{amount}}");
                    self.breakpoints.unverified(None, Some(written.clone()), spec, Lang::Elixir, why)
                }
                Ok((module, fun, arity)) => {
                    let lang = Lang::of_module(&module);
                    let source = self.modules.path_of(&module).map(Path::to_path_buf);
                    let mut bp = self.breakpoints.unverified(source, Some(written.clone()), spec, lang, String::new());
                    bp.message = None;
                    let planned = if log_message.is_some() {
                        self.plan_function_tracepoint(&module, &fun, arity, &bp.spec, lang).await
                    } else {
                        None
                    };
                    match planned {
                        Some(Ok((line, trace))) => {
                            bp.requested_line = line;
                            bp.spec.line = line;
                            bp.traced(trace, line)
                        }
                        Some(Err(e)) => {
                            bp.message = Some(e);
                            bp
                        }
                        None => self.install_function(bp, &module, &fun, arity).await,
                    }
                }
            };
            ids.push(bp.id);
            self.breakpoints.list.push(bp);
        }
        self.settle(&ids).await
    }

    /// Installs a function breakpoint in the interpreter: at the function's first line and the first
    /// line of each of its other clauses.
    pub(super) async fn install_function(&mut self, mut bp: Bp, module: &str, fun: &str, arity: u32) -> Bp {
        let ml = match self.module_lines(module).await {
            Err(e) => {
                bp.message = Some(e.0);
                return bp;
            }
            Ok(ml) => ml,
        };
        let Some((_, _, first, _)) = ml.functions.iter().find(|(f, a, _, _)| *f == fun && *a == arity) else {
            bp.message = Some(format!("{} has no function {fun}/{arity}", module_display(module)));
            return bp;
        };
        let first = *first;
        bp.requested_line = first;
        bp.spec.line = first;
        // Every clause stops, not only the first: its other clauses' first lines too.
        let clause_lines = ml.clauses.get(&(fun.to_string(), arity)).cloned().unwrap_or_default();
        bp.extra = clause_lines
            .iter()
            .skip(1)
            .filter(|l| **l > 0 && ml.lines.contains(l))
            .map(|l| (module.to_string(), *l))
            .collect();
        self.install(bp, &[module.to_string()]).await
    }

    pub(super) async fn breakpoint_locations(&mut self, file: &Path, line: u32, end_line: Option<u32>) -> Vec<u32> {
        let mut modules = self.modules.modules_for(file);
        if modules.is_empty() {
            self.refresh_index().await;
            modules = self.modules.modules_for(file);
        }
        let end = end_line.unwrap_or(line).max(line);
        let mut out = BTreeSet::new();
        for m in modules {
            if let Ok(ml) = self.module_lines(&m).await {
                out.extend(ml.lines.iter().copied().filter(|l| *l >= line && *l <= end));
            }
        }
        out.into_iter().collect()
    }

    /// Breakpoints set before their module was loaded anywhere: tried again on every tick.
    pub(super) async fn retry_pending_breakpoints(&mut self) -> Vec<EngineEvent> {
        let pending: Vec<usize> = self
            .breakpoints
            .list
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                b.at.is_none()
                    && b.source.is_some()
                    && b.function.is_none()
                    && b.message.as_deref().is_some_and(|m| m.starts_with("no module"))
            })
            .map(|(i, _)| i)
            .collect();
        if pending.is_empty() {
            return Vec::new();
        }
        self.refresh_index().await;
        let mut events = Vec::new();
        for i in pending {
            let bp = self.breakpoints.list[i].clone();
            let modules = self.modules.modules_for(bp.source.as_deref().unwrap_or(Path::new("")));
            if modules.is_empty() {
                continue;
            }
            let bp = self.place(bp, &modules).await;
            if bp.at.is_some() {
                events.push(EngineEvent::Breakpoint(bp.status()));
            }
            self.breakpoints.list[i] = bp;
        }
        if !events.is_empty() {
            let ids: Vec<i64> = events
                .iter()
                .filter_map(|e| match e {
                    EngineEvent::Breakpoint(s) => Some(s.id),
                    _ => None,
                })
                .collect();
            self.settle(&ids).await;
        }
        events
    }

    /// Resolves and installs one breakpoint; on failure it stays unverified with the reason.
    pub(super) async fn install(&mut self, mut bp: Bp, modules: &[String]) -> Bp {
        // Where every node takes native breakpoints (or no other node has an interpreter), the interpreter
        // has no part.
        let use_int = self.uses_interpreter();
        if let (Err(e), false) = (self.interpreter(), self.any_native()) {
            bp.message = Some(e.0);
            return bp;
        }
        // The module whose code spans the line (nested modules share a file), else the first with code after it.
        let mut candidates = Vec::new();
        for m in modules {
            match self.module_lines(m).await {
                Ok(ml) => candidates.push((m.clone(), ml)),
                Err(e) => bp.message = Some(e.0),
            }
        }
        let req = bp.requested_line;
        let spans = |ml: &ModuleLines| ml.functions.iter().map(|(_, _, a, b)| (*a, *b)).collect::<Vec<_>>();
        let containing = candidates
            .iter()
            .filter(|(_, ml)| ml.functions.iter().any(|(_, _, a, b)| *a <= req && req <= *b))
            .min_by_key(|(_, ml)| ml.functions.iter().map(|(_, _, a, b)| b - a).min().unwrap_or(u32::MAX));
        let choice = containing.cloned().or_else(|| {
            candidates
                .iter()
                .filter_map(|(m, ml)| ml.lines.iter().find(|l| **l >= req).map(|l| (*l, m.clone(), ml.clone())))
                .min_by_key(|(l, _, _)| *l)
                .map(|(_, m, ml)| (m, ml))
        });
        let Some((module, ml)) = choice else {
            if bp.message.is_none() {
                bp.message = Some(format!("no code at or after line {req} in this file"));
            }
            return bp;
        };
        let line = match resolve_line(req, &ml.lines, &spans(&ml)) {
            Ok(l) => l,
            Err(e) => {
                bp.message = Some(e);
                return bp;
            }
        };
        if use_int {
            match self.interpret(&module).await {
                // Nodes where it does not hold (another version, no debugger): said on the console.
                Ok(notes) => self.pending_events.extend(notes.into_iter().map(|l| output(format!("{l}\n")))),
                Err(e) => {
                    bp.message = Some(e.0);
                    return bp;
                }
            }
        }
        bp.at = Some((module.clone(), line));
        let at = bp.at.clone();
        bp.extra.retain(|p| Some(p) != at.as_ref());
        bp.extra.sort();
        bp.extra.dedup();
        match self.set_in_server(&mut bp).await {
            Ok(()) => {
                bp.message =
                    if line != req { Some(format!("moved from line {req} to the next line with code")) } else { None };
            }
            Err(e) => {
                if let Some(slot) = bp.slot.take() {
                    self.breakpoints.free_slots.insert(slot);
                }
                bp.at = None;
                bp.extra.clear();
                bp.message = Some(e);
            }
        }
        bp
    }

    /// What `orbit_dbg:set_condition/2` stores for a breakpoint with a condition, hit count or log message.
    fn condition_spec(&self, bp: &Bp) -> Result<Term, String> {
        let (module, line) = bp.at.clone().ok_or("the breakpoint holds nowhere")?;
        let hit = hit_term(bp.spec.hit_condition.as_deref())?;
        let opt = |s: &Option<String>| match s {
            Some(x) if !x.trim().is_empty() => binary(x.as_bytes()),
            _ => atom("undefined"),
        };
        Ok(map(vec![
            (atom("id"), int(bp.id)),
            (atom("module"), atom(&module)),
            (atom("line"), int(line as i64)),
            (atom("lang"), atom(bp.lang.as_str())),
            (atom("condition"), opt(&bp.spec.condition)),
            (atom("hit"), hit),
            (atom("log"), opt(&bp.spec.log_message)),
            (atom("events"), Term::from(self.events_pid.clone())),
            // Where it holds: lines where one expression alone starts need no pass rule on the node.
            (atom("points"), list(bp.points().iter().map(|(m, l)| tuple(vec![atom(m), int(*l as i64)])).collect())),
        ]))
    }

    /// Installs `bp` in the interpreter server at each of its points (the line it took, and for a
    /// function breakpoint the first line of every other clause), with its condition on every node.
    async fn set_in_server(&mut self, bp: &mut Bp) -> Result<(), String> {
        // Every breakpoint has a slot, so that the agent sees every check of it and stops once per pass.
        let condition;
        {
            let spec = self.condition_spec(bp)?;
            let slot =
                self.breakpoints.free_slots.pop_first().ok_or("too many breakpoints in one session (256 at most)")?;
            bp.slot = Some(slot);
            let nodes = self.ready_nodes.list();
            let answers = futures::future::join_all(
                nodes
                    .iter()
                    .map(|n| self.node_call(n, "orbit_dbg", "set_condition", vec![int(slot as i64), spec.clone()])),
            )
            .await;
            for (node, a) in nodes.iter().zip(answers) {
                match a {
                    Ok(t) if is_atom(&t, "ok") => {}
                    Ok(t) => {
                        let msg = error_text(&t);
                        return Err(format!("{}: {msg}", if bp.lang == Lang::Elixir { "Elixir" } else { "Erlang" }));
                    }
                    Err(e) => tracing::warn!("{node}: {e}"),
                }
            }
            condition = tuple(vec![atom("orbit_dbg_cond"), atom(format!("b{slot}"))]);
        }
        let native = self.place_native(bp).await;
        if !self.uses_interpreter() {
            return if native { Ok(()) } else { Err("it holds on no node (see the console)".into()) };
        }
        let (server, server_node) = self.interpreter().map_err(|e| e.0)?;
        let link = self.cluster.link(server_node).ok_or("the interpreter's node is not connected")?;
        for (module, line) in bp.points() {
            let request = tuple(vec![
                atom("new_break"),
                tuple(vec![atom(&module), int(line as i64)]),
                list(vec![atom("active"), atom("enable"), atom("null"), condition.clone()]),
            ]);
            match rpc::gen_call(&link, server, request, CALL).await {
                Ok(t) if is_atom(&t, "ok") => {}
                Ok(t) if as_tuple(&t).is_some_and(|p| p.len() == 2 && is_atom(&p[1], "break_exists")) => {
                    return Err(format!("another breakpoint already holds at {}:{line}", module_display(&module)));
                }
                Ok(t) => return Err(text(&t)),
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }

    async fn remove_from_server(&mut self, bp: &Bp) {
        self.remove_native(bp).await;
        if let Some((server, link)) = self.interpreter_link() {
            for (module, line) in bp.points() {
                let point = tuple(vec![atom(&module), int(line as i64)]);
                let _ = rpc::gen_cast(&link, server, tuple(vec![atom("delete_break"), point]));
            }
        }
        if let Some(slot) = bp.slot {
            let nodes = self.ready_nodes.list();
            futures::future::join_all(
                nodes
                    .iter()
                    .map(|n| self.node_call(n, "orbit_dbg", "clear_conditions", vec![list(vec![int(slot as i64)])])),
            )
            .await;
            self.breakpoints.free_slots.insert(slot);
        }
    }

    /// Sets every breakpoint's condition on `node` (one that joined).
    pub(super) async fn push_conditions_to(&self, node: &str) {
        for bp in self.breakpoints.list.iter().filter(|b| b.slot.is_some()) {
            let _ = self.push_condition(node, bp).await;
        }
    }

    async fn push_condition(&self, node: &str, bp: &Bp) -> Result<(), String> {
        let Some(slot) = bp.slot else { return Ok(()) };
        let spec = self.condition_spec(bp)?;
        self.node_call(node, "orbit_dbg", "set_condition", vec![int(slot as i64), spec])
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
