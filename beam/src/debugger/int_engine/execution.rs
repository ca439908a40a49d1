//! Making threads run and stop on request: continue and the steps (sent to the interpreter's meta
//! process), pause (the interpreter stops interpreted code; anything else is suspended by the node's
//! keeper), and `/pause` from the debug console.

use super::step_into::Target;
use super::threads::ThreadState;
use super::util::{rpc_err, text};
use super::{IntEngine, CALL};
use crate::debugger::{DebugError, EngineEvent, Resume, StopReason, VariableInfo};
use crate::term::{as_tuple, atom, is_atom, tuple};
use eetf::Term;

/// The interpreter's command for `how`.
pub(super) fn meta_command(how: Resume) -> &'static str {
    match how {
        Resume::Continue => "continue",
        Resume::Next => "next",
        Resume::StepIn => "step",
        Resume::StepOut => "finish",
    }
}

pub(super) fn meta_cmd_msg(cmd: &str) -> Term {
    tuple(vec![atom("user"), tuple(vec![atom("cmd"), atom(cmd)])])
}

pub(super) fn blank_variable(value: String) -> VariableInfo {
    VariableInfo {
        name: String::new(),
        value,
        type_name: None,
        variables_reference: 0,
        named_variables: None,
        indexed_variables: None,
        evaluate_name: None,
    }
}

impl IntEngine {
    pub(super) async fn resume(&mut self, thread: i64, how: Resume) -> Result<Vec<EngineEvent>, DebugError> {
        let t = self.threads.live(thread)?;
        let node = t.node.clone();
        let pid = t.pid.clone();
        match t.state.clone() {
            ThreadState::Stopped { module, line, level } => {
                let meta = t
                    .meta
                    .clone()
                    .ok_or_else(|| DebugError::new("the interpreter has not answered for this process yet"))?;
                let mut how = how;
                // It goes on: so do the callers held for it.
                let mut events = self.release_holds(thread).await;
                if how == Resume::StepIn {
                    // Into the process the line calls, if it calls one (step_into.rs): the caller steps
                    // over its line meanwhile.
                    match self.step_target(&node, &meta, &module, line).await {
                        Target::None => {}
                        Target::Unknown(why) => {
                            how = Resume::Next;
                            events.push(self.step_over_note(thread, &why));
                        }
                        target => {
                            how = Resume::Next;
                            if let Err(why) = self.cross_into(thread, target).await {
                                events.push(self.step_over_note(thread, &why));
                            }
                        }
                    }
                }
                if matches!(how, Resume::Next | Resume::StepIn) {
                    // Through the agent, which notes where the step starts (see on_break in stops.rs).
                    let args = vec![Term::from(meta), atom(meta_command(how))];
                    let r = self.cluster.call(&node, "orbit_dbg", "step", args, CALL).await.map_err(rpc_err)?;
                    if !is_atom(&r, "ok") {
                        return Err(DebugError(format!("{node}: cannot step: {}", text(&r))));
                    }
                } else {
                    let link =
                        self.cluster.link(&node).ok_or_else(|| DebugError(format!("{node} is not connected")))?;
                    link.send(&meta, meta_cmd_msg(meta_command(how))).map_err(|e| DebugError(e.to_string()))?;
                }
                if let Some(t) = self.threads.get_mut(thread) {
                    t.last_resume = Some((how, module, line, level));
                    t.state = ThreadState::Running;
                }
                self.frames.invalidate(thread);
                self.forget_stored(thread).await;
                Ok(events)
            }
            ThreadState::Awaiting { .. } => {
                // Its step over the line ends when the answer is back; it can only be let go on then.
                if how == Resume::Continue && self.step_into.continue_caller(thread) {
                    self.threads.set_state(thread, ThreadState::Running);
                    self.frames.invalidate(thread);
                    return Ok(vec![EngineEvent::Continued { thread }]);
                }
                let waits_for = self.step_into.awaited_by(thread).map(|(_, l)| l).unwrap_or_default();
                Err(DebugError(format!(
                    "{} is waiting for the answer of {waits_for}: it stops on its next line once that process answers (continue or step out of it); Continue lets it go on without stopping",
                    self.thread_label(thread)
                )))
            }
            ThreadState::PostMortem { .. } => {
                self.detach_thread(thread);
                self.threads.set_state(thread, ThreadState::Exited);
                self.frames.invalidate(thread);
                Ok(vec![EngineEvent::ThreadExited { thread }])
            }
            ThreadState::Suspended => {
                self.forget_hold(thread);
                let r = self
                    .cluster
                    .call(&node, "orbit_dbg", "resume", vec![Term::from(pid)], CALL)
                    .await
                    .map_err(rpc_err)?;
                if !is_atom(&r, "ok") {
                    return Err(DebugError(format!("{node}: cannot resume: {}", text(&r))));
                }
                self.threads.set_state(thread, ThreadState::Exited);
                self.frames.invalidate(thread);
                Ok(vec![EngineEvent::Continued { thread }, EngineEvent::ThreadExited { thread }])
            }
            ThreadState::Running | ThreadState::Idle { .. } | ThreadState::Exited => {
                Err(DebugError(format!("thread {thread} is not stopped")))
            }
        }
    }

    pub(super) async fn pause(&mut self, thread: i64) -> Result<Vec<EngineEvent>, DebugError> {
        self.cluster.refuse(crate::read_only::Change::Pause)?;
        let t = self.threads.live(thread)?;
        if !matches!(t.state, ThreadState::Running | ThreadState::Idle { .. }) {
            return Err(DebugError(format!("thread {thread} is already stopped")));
        }
        let node = t.node.clone();
        let pid = t.pid.clone();
        // Interpreted and running: the interpreter stops it at its next expression.
        let r = self
            .cluster
            .call(&node, "orbit_dbg", "pause", vec![Term::from(pid.clone())], CALL)
            .await
            .map_err(rpc_err)?;
        if is_atom(&r, "ok") {
            self.attach_thread(thread).await?;
            if let Some(t) = self.threads.get_mut(thread) {
                t.pausing = true;
            }
            return Ok(Vec::new());
        }
        // Anything else: suspend it (held by the node's keeper, undone when Orbit goes).
        let r = self.cluster.call(&node, "orbit_dbg", "suspend", vec![Term::from(pid)], CALL).await.map_err(rpc_err)?;
        if !is_atom(&r, "ok") {
            // It ended meanwhile (the editor has not heard yet): say so, not the keeper's term.
            let gone = matches!(as_tuple(&r), Some([_, why]) if is_atom(why, "no_such_process"));
            let why = if gone { "it has exited".to_string() } else { text(&r) };
            return Err(DebugError(format!("{node}: cannot pause the process: {why}")));
        }
        self.threads.set_state(thread, ThreadState::Suspended);
        Ok(vec![EngineEvent::Stopped {
            thread,
            reason: StopReason::Pause,
            description: format!("suspended on {node}"),
            text: Some(format!(
                "{}: not interpreted, so its stack shows without variables; Continue resumes it",
                self.thread_label(thread)
            )),
            breakpoints: Vec::new(),
        }])
    }

    /// `/pause <pid | registered name> [on <node>]` from the debug console.
    pub(super) async fn console_pause(&mut self, args: &str) -> Result<VariableInfo, DebugError> {
        self.cluster.refuse(crate::read_only::Change::Pause)?;
        let mut words = args.split_whitespace();
        let who =
            words.next().ok_or_else(|| DebugError::new("usage: /pause <pid | registered name> [on node@host]"))?;
        let node = match (words.next(), words.next()) {
            (Some("on"), Some(n)) => n.to_string(),
            (None, _) => self.entry.clone(),
            _ => return Err(DebugError::new("usage: /pause <pid | registered name> [on node@host]")),
        };
        let pid_term = if let Some(inner) = who
            .strip_prefix("#PID<")
            .and_then(|s| s.strip_suffix('>'))
            .or_else(|| who.strip_prefix('<').and_then(|s| s.strip_suffix('>')))
        {
            let parts: Vec<&str> = inner.split('.').collect();
            if parts.len() != 3 {
                return Err(DebugError(format!("'{who}' is not a pid (#PID<0.123.0>)")));
            }
            let lst = format!("<{}.{}.{}>", parts[0], parts[1], parts[2]);
            self.cluster
                .call(&node, "erlang", "list_to_pid", vec![Term::from(eetf::ByteList::from(lst.as_str()))], CALL)
                .await
                .map_err(|e| DebugError(format!("'{who}' is not a pid on {node}: {e}")))?
        } else {
            let name = if who.starts_with(|c: char| c.is_ascii_uppercase()) {
                format!("Elixir.{who}")
            } else {
                who.trim_start_matches(':').to_string()
            };
            let r = self.cluster.call(&node, "erlang", "whereis", vec![atom(&name)], CALL).await.map_err(rpc_err)?;
            if is_atom(&r, "undefined") {
                return Err(DebugError(format!("no process is registered as {who} on {node}")));
            }
            r
        };
        let Term::Pid(pid) = pid_term else { return Err(DebugError(format!("'{who}' is not a process on {node}"))) };
        let (id, new) = self.threads.for_pid(&pid);
        let mut events = Vec::new();
        if new {
            events.push(EngineEvent::ThreadStarted { thread: id });
        }
        events.extend(self.pause(id).await?);
        self.pending_events.extend(events);
        Ok(blank_variable(format!("paused {}", self.thread_label(id))))
    }
}
