//! The composition of the two engines: nodes started with `+D` (OTP 28+) take native breakpoints
//! (`crate::debugger::native_engine`), every other node the interpreter. This part decides per node, and
//! routes each request by its id: native threads, frames and variable references live in their own range
//! (`native_engine::BASE` and up). A breakpoint is resolved once (module and line, condition slot) and then
//! armed on both kinds of node.

use super::breakpoints::Bp;
use super::IntEngine;
use crate::debugger::names::Lang;
use crate::debugger::native_engine::Native;
use crate::debugger::{DebugError, EngineEvent, StopReason, VariableInfo};
use crate::term::{as_list, as_tuple, atom, int, is_atom, tuple};
use eetf::Term;

/// A breakpoint's (module, line) points.
type Points = Vec<(String, u32)>;

impl IntEngine {
    /// Starts the native debugger on `node` where it runs with `+D`; returns console lines.
    pub(super) async fn start_native(&mut self, node: &str) -> Vec<String> {
        let events = self.events_pid.clone();
        self.native.start(&self.cluster, node, &events).await.into_iter().collect()
    }

    /// Whether every ready node takes native breakpoints (then the interpreter is not needed at all, and
    /// no module is interpreted anywhere).
    pub(super) fn all_native(&self) -> bool {
        let ready = self.ready_nodes.list();
        !ready.is_empty() && ready.iter().all(|n| self.native.is_native(n))
    }

    /// Whether some node takes native breakpoints.
    pub(super) fn any_native(&self) -> bool {
        !self.native.nodes().is_empty()
    }

    /// Whether breakpoints go to the interpreter too: some node is not native and the cluster has one.
    pub(super) fn uses_interpreter(&self) -> bool {
        !self.all_native() && self.interpreter().is_ok()
    }

    pub(super) fn is_native_node(&self, node: &str) -> bool {
        self.native.is_native(node)
    }

    /// Arms `bp` on the native nodes; console lines go out with the next events. Whether it holds on one.
    pub(super) async fn place_native(&mut self, bp: &Bp) -> bool {
        let Some(slot) = bp.slot else { return false };
        let (notes, any) = self.native.place(&self.cluster, bp.id, slot, &bp.points()).await;
        self.pending_events.extend(notes.into_iter().map(|l| super::util::output(format!("{l}\n"))));
        any
    }

    pub(super) async fn remove_native(&mut self, bp: &Bp) {
        self.native.remove(&self.cluster, bp.id, &bp.points()).await;
    }

    /// Every breakpoint on a native node that joined. Returns console lines.
    pub(super) async fn place_all_native_on(&mut self, node: &str) -> Vec<String> {
        let bps: Vec<(i64, u32, Points)> = self
            .breakpoints
            .list
            .iter()
            .filter_map(|b| Some((b.id, b.slot?, b.points())))
            .filter(|(_, _, p)| !p.is_empty())
            .collect();
        let mut lines = Vec::new();
        for (id, slot, points) in bps {
            lines.extend(self.native.place_on(&self.cluster, node, id, slot, &points).await.0);
        }
        lines
    }

    /// A stop reported by a node's native debugger. Who waits for the stopped process's answer is asked a
    /// moment after the stop is reported, if it is still the same stop, as for an interpreted one (see
    /// `holds`): a stop continued at once costs its node no call.
    pub(super) fn on_native_stop(&mut self, body: &eetf::Term) -> Vec<EngineEvent> {
        let mut events = self.native.on_stop(body);
        for e in events.iter_mut() {
            if let EngineEvent::Stopped { reason, breakpoints, .. } = e {
                if *reason == StopReason::Breakpoint && self.breakpoints.any_function(breakpoints) {
                    *reason = StopReason::FunctionBreakpoint;
                }
            }
        }
        for e in &events {
            let EngineEvent::Stopped { thread, .. } = e else { continue };
            let Some(stop) = self.native.stop_number(*thread) else { continue };
            let (tx, id) = (self.raw_tx.clone(), *thread);
            tokio::spawn(async move {
                tokio::time::sleep(super::holds::CALLERS_AFTER).await;
                let _ = tx.send(super::Raw::AskCallers(id, stop));
            });
        }
        events
    }

    /// A native frame's variables, rendered and expandable as an interpreted frame's (the values are kept on
    /// the node; their children come through the interpreter engine's references).
    pub(super) async fn native_variables(&mut self, reference: i64) -> Result<Vec<VariableInfo>, DebugError> {
        if let Some((node, pid)) = self.native.process_scope(reference) {
            return self.process_variables(&node, &pid).await;
        }
        let (node, pid, no, thread) = self.native.scope_target(reference)?;
        let args = vec![Term::from(pid), int(no)];
        let r =
            self.cluster.call(&node, "orbit_native", "scope", args, super::CALL).await.map_err(super::util::rpc_err)?;
        let (lang, items) = match as_tuple(&r) {
            Some([ok, lang, items]) if is_atom(ok, "ok") => (
                if is_atom(lang, "elixir") { Lang::Elixir } else { Lang::Erlang },
                as_list(items).map(|l| l.to_vec()).unwrap_or_default(),
            ),
            _ => return Err(DebugError(format!("{node}: {}", super::util::error_text(&r)))),
        };
        self.learn_structs(&node, &items.iter().collect::<Vec<_>>()).await;
        let mut out = Vec::new();
        for item in items {
            let Some([name, summary, kind, size, stored]) =
                as_tuple(&item).and_then(|t| <&[Term; 5]>::try_from(t).ok())
            else {
                continue;
            };
            let name = super::util::text(name);
            let root = tuple(vec![atom("stored"), stored.clone()]);
            self.native.remember_stored(thread, stored.clone());
            let mut v = self.variable(&node, lang, name.clone(), (summary, kind, size), Some((root, vec![])));
            v.evaluate_name = Some(name);
            out.push(v);
        }
        Ok(out)
    }

    /// Before a step in on a native thread: the project's modules whose functions its line calls are
    /// readied on its node (recompiled for breakpoints), so that the step can stop in them. Console lines
    /// for those that cannot be; a call into anything else is stepped over (a call to another process
    /// is followed by a trap of its own: native_step.rs).
    pub(super) async fn ready_native_step_in(&mut self, thread: i64) -> Vec<EngineEvent> {
        let cluster = self.cluster.clone();
        let mut notes = Vec::new();
        for (node, module) in self.native.call_targets(&cluster, thread).await {
            if self.modules.path_of(&module).is_some() {
                notes.extend(self.native.prepare_on(&cluster, &node, &module).await);
            }
        }
        notes.into_iter().map(|l| super::util::output(format!("{l}\n"))).collect()
    }

    pub(super) fn owns_native(id: i64) -> bool {
        Native::owns(id)
    }
}
