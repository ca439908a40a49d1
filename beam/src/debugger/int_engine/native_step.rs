//! Steps into another process on `+D` nodes, the native side of `step_into.rs`: a native thread's
//! `stepIn` on a line that calls another process (a `GenServer.call`, `:erpc`, a message to a GenServer)
//! is worked out on its node from the line's code and the bindings read from its frame
//! (`orbit_native:cross_target/1`), and the trap for the receiving process is set where that process
//! runs: natively on a `+D` node (a native breakpoint at the first line of each clause of the receiving
//! function, whose condition holds for that process only, once), with the interpreter elsewhere
//! (`cross_into`). The caller steps over its line natively; when the trap springs, the receiving process
//! stops as a thread of its node, and the trap goes.

use super::step_into::{target_from, trap_spec, NativeTrap, Target};
use super::util::output;
use super::{IntEngine, CALL};
use crate::debugger::{EngineEvent, StopReason};
use crate::term::{atom, int, list, tuple};
use eetf::{Pid, Term};

impl IntEngine {
    /// Before a native thread's `stepIn`: if its line calls another process, the trap for it. Console lines.
    pub(super) async fn native_step_into(&mut self, thread: i64) -> Vec<EngineEvent> {
        let Some((node, pid)) = self.native.stopped(thread) else { return Vec::new() };
        let target = match self.cluster.call(&node, "orbit_native", "cross_target", vec![Term::from(pid)], CALL).await {
            Ok(r) => target_from(&r),
            Err(e) => Target::Unknown(e.to_string()),
        };
        let why = match target {
            Target::None => return Vec::new(),
            Target::Unknown(why) => why,
            target => match self.cross_into(thread, target).await {
                Ok(()) => return Vec::new(),
                Err(why) => why,
            },
        };
        vec![self.step_over_note(thread, &why)]
    }

    /// Sets a trap for `caller`'s step into `label` with native breakpoints at `points` on `node` (a `+D`
    /// node): the condition holds for `pid` (or, without one, for the process `:erpc` spawns there) once.
    pub(super) async fn native_trap(
        &mut self,
        caller: i64,
        node: String,
        pid: Option<Pid>,
        points: Vec<(String, u32)>,
        label: String,
    ) -> Result<(), String> {
        let cluster = self.cluster.clone();
        if let Some(note) = self.native.prepare_on(&cluster, &node, &points[0].0).await {
            return Err(note);
        }
        let slot = self.breakpoints.take_slot().ok_or("too many breakpoints in one session (256 at most)")?;
        self.step_into.next_id += 1;
        // Below every breakpoint id (those count up from 1): the node reports it as the hit's id.
        let id = -1_000_000 - self.step_into.next_id;
        let label = match &pid {
            Some(p) => format!("{node} #PID<0.{}.{}> {label}", p.id, p.serial),
            None => format!("{node} {label} (spawned by :erpc)"),
        };
        let only = match pid {
            Some(p) => Term::from(p),
            None => tuple(vec![atom("node"), atom(&node)]),
        };
        let mut trap = NativeTrap { id, caller, node: node.clone(), slot, points: Vec::new(), label };
        let spec = trap_spec(id, &points[0], only, &self.events_pid);
        let set = self.cluster.call(&node, "orbit_dbg", "set_condition", vec![int(slot as i64), spec], CALL).await;
        let mut failure = match set {
            Ok(r) if crate::term::is_atom(&r, "ok") => None,
            Ok(r) => Some(format!("{node}: {}", super::util::text(&r))),
            Err(e) => Some(e.to_string()),
        };
        for (m, l) in points {
            if failure.is_some() {
                break;
            }
            let args = vec![atom(&m), int(l as i64), int(slot as i64), int(id)];
            match self.cluster.call(&node, "orbit_native", "set_break", args, CALL).await {
                Ok(r) if crate::term::is_atom(&r, "ok") => trap.points.push((m, l)),
                Ok(r) => failure = Some(crate::debugger::native_engine::break_refused(&node, &m, l, &r)),
                Err(e) => failure = Some(e.to_string()),
            }
        }
        if let Some(why) = failure {
            self.remove_native_trap(trap).await;
            return Err(why);
        }
        self.step_into.native_traps.push(trap);
        Ok(())
    }

    async fn remove_native_trap(&mut self, trap: NativeTrap) {
        for (m, l) in &trap.points {
            let args = vec![atom(m), int(*l as i64), int(trap.id)];
            let _ = self.cluster.call(&trap.node, "orbit_native", "clear_break", args, CALL).await;
        }
        let _ = self
            .cluster
            .call(&trap.node, "orbit_dbg", "clear_conditions", vec![list(vec![int(trap.slot as i64)])], CALL)
            .await;
        self.breakpoints.free_slot(trap.slot);
    }

    /// Native stops, as far as steps into other processes are concerned: a stop in a trap is the step's
    /// end in the receiving process (reported as a step, the trap removed, the console told from where);
    /// a native caller whose step ended lets its interpreter-side crossing go.
    pub(super) async fn native_step_stops(&mut self, events: Vec<EngineEvent>) -> Vec<EngineEvent> {
        let mut out = Vec::new();
        for mut e in events {
            if let EngineEvent::Stopped { thread, reason, description, breakpoints, .. } = &mut e {
                if let Some(i) = self.step_into.native_traps.iter().position(|t| breakpoints.contains(&t.id)) {
                    let trap = self.step_into.native_traps.remove(i);
                    let (caller, node, label) = (trap.caller, trap.node.clone(), trap.label.clone());
                    self.remove_native_trap(trap).await;
                    *reason = StopReason::Step;
                    *description = format!("stepped in on {node} (native)");
                    breakpoints.clear();
                    out.push(output(format!(
                        "stepped into {label}: {} from {}\n",
                        self.thread_label(*thread),
                        self.thread_label(caller)
                    )));
                } else if let Some(i) = self.step_into.of_caller(*thread) {
                    self.end_crossing(i).await;
                }
            }
            out.push(e);
        }
        out
    }
}
