//! What the interpreter reports, turned into editor events: a process that stops (at a breakpoint, after a
//! step, paused), the pass rule for steps that land on their own line, crashes kept for post-mortem
//! inspection, processes that run again or leave interpreted code, and the server's own status events.

use super::execution::meta_command;
use super::step_into::CrossingStop;
use super::threads::{ThreadState, IDLE_GRACE};
use super::util::output;
use super::{IntEngine, Raw, CALL};
use crate::debugger::names::Lang;
use crate::debugger::{EngineEvent, Resume, StopReason};
use crate::link::Delivery;
use crate::term::{as_atom, as_integer, as_tuple, atom, is_atom, Limits};
use eetf::Term;

impl IntEngine {
    /// A process stopped in interpreted code (break_at), or is reported as such.
    pub(super) async fn on_break(&mut self, id: i64, module: String, line: u32, level: i64) -> Vec<EngineEvent> {
        let Some(t) = self.threads.get_mut(id) else { return Vec::new() };
        if t.echoes > 0 {
            t.echoes -= 1;
            return Vec::new();
        }
        if t.let_go_at.take() == Some((module.clone(), line, level)) {
            return Vec::new();
        }
        // A step that ended by leaving interpreted code is disarmed by detaching its meta when it goes idle
        // (below); a call that comes back first finds the step still armed and stops at its first line.
        // Not a stop anyone asked for (no breakpoint there, no step's trap): it goes on (to the breakpoint it
        // may well meet next).
        if std::mem::take(&mut t.left_armed)
            && !t.pausing
            && self.breakpoints.ids_at(&module, line).is_empty()
            && !self.step_into.traps(&t.pid, &module, line)
        {
            if let (Some(meta), Some(link)) = (t.meta.clone(), self.cluster.link(&t.node)) {
                if link.send(&meta, super::execution::meta_cmd_msg("continue")).is_ok() {
                    t.let_go_at = Some((module, line, level));
                    return Vec::new();
                }
            }
        }
        // Elixir gives some expressions no line (a two-element tuple or a list written as a literal): a
        // step does not stop where the editor cannot show it, it steps on.
        if line == 0 && !t.pausing {
            if let Some((how @ (Resume::Next | Resume::StepIn | Resume::StepOut), ..)) = t.last_resume.clone() {
                if let Some(meta) = t.meta.clone() {
                    let node = t.node.clone();
                    let args = vec![Term::from(meta), atom(meta_command(how))];
                    match self.cluster.call(&node, "orbit_dbg", "step", args, CALL).await {
                        Ok(r) if is_atom(&r, "ok") => return Vec::new(),
                        Ok(r) => tracing::warn!("{node}: cannot step on: {}", super::util::text(&r)),
                        Err(e) => tracing::warn!("{node}: cannot step on: {e}"),
                    }
                }
            }
        }
        // A step stops at the next expression, which can be a nested one of the line it started from: the
        // agent applies the pass rule (orbit_dbg's pass_check) and steps again if so. Breakpoint checks
        // of nested expressions never get here: the agent answers them in the interpreter.
        if let Some((how @ (Resume::Next | Resume::StepIn), m, l, le)) = t.last_resume.clone() {
            if m == module && l == line && le == level && !t.pausing {
                if let Some(meta) = t.meta.clone() {
                    let node = t.node.clone();
                    let args = vec![Term::from(meta), atom(meta_command(how))];
                    match self.cluster.call(&node, "orbit_dbg", "step_landed", args, CALL).await {
                        Ok(r) if is_atom(&r, "again") => return Vec::new(),
                        Ok(_) => {}
                        Err(e) => tracing::warn!("{node}: {e}"),
                    }
                }
            }
        }
        let Some(t) = self.threads.get(id) else { return Vec::new() };
        let pid = t.pid.clone();
        let (before, stepped_in) = match self.crossing_stop(id, &pid, &module, line, level).await {
            Some(CrossingStop::Quiet) => return Vec::new(),
            Some(CrossingStop::SteppedIn { before, from }) => (before, Some(from)),
            None => (Vec::new(), None),
        };
        let Some(t) = self.threads.get_mut(id) else { return Vec::new() };
        let came_back = t.state == ThreadState::Exited;
        let reason = if t.pausing {
            StopReason::Pause
        } else if stepped_in.is_some()
            || matches!(t.last_resume, Some((Resume::Next | Resume::StepIn | Resume::StepOut, ..)))
        {
            StopReason::Step
        } else {
            StopReason::Breakpoint
        };
        t.pausing = false;
        t.last_resume = None;
        t.state = ThreadState::Stopped { module: module.clone(), line, level };
        let node = t.node.clone();
        let pid = t.pid.clone();
        let meta = t.meta.clone();
        let need_name = !std::mem::replace(&mut t.name_asked, true);
        if need_name {
            let name = self.thread_name_of(&node, &pid).await;
            if let Some(t) = self.threads.get_mut(id) {
                t.name = name;
            }
        }
        if !self.modules.has_lines(&module) {
            let _ = self.module_lines(&module).await;
        }
        let bps = if reason == StopReason::Breakpoint { self.breakpoints.ids_at(&module, line) } else { Vec::new() };
        let reason = if reason == StopReason::Breakpoint && self.breakpoints.any_function(&bps) {
            StopReason::FunctionBreakpoint
        } else {
            reason
        };
        let description = match reason {
            StopReason::Breakpoint | StopReason::FunctionBreakpoint => format!("breakpoint on {node}"),
            StopReason::Step if stepped_in.is_some() => format!("stepped in on {node}"),
            StopReason::Step => format!("step on {node}"),
            StopReason::Pause => format!("paused on {node}"),
            StopReason::Exception => format!("crash on {node}"),
        };
        // Who waits for this process's answer: asked a moment after the stop is reported, if it is still
        // the same stop (see holds.rs), so that a stop continued at once costs its node no call.
        if meta.is_some() {
            let stop = self.threads.get_mut(id).map(|t| {
                t.stops += 1;
                t.stops
            });
            let tx = self.raw_tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(super::holds::CALLERS_AFTER).await;
                let _ = tx.send(Raw::AskCallers(id, stop.unwrap_or_default()));
            });
        }
        let mut events = before;
        if let Some(from) = stepped_in {
            events.push(output(format!("stepped into {} from {from}\n", self.thread_label(id))));
        }
        if came_back {
            // It left interpreted code (and was reported gone) and is back for another pass.
            events.push(EngineEvent::ThreadStarted { thread: id });
        }
        events.push(EngineEvent::Stopped {
            thread: id,
            reason,
            description,
            text: Some(self.thread_label(id)),
            breakpoints: bps,
        });
        events
    }

    /// What the meta process of an attached thread says (and the reply to attaching).
    pub(super) async fn on_thread_message(&mut self, id: i64, d: Delivery) -> Vec<EngineEvent> {
        let Delivery::Message { body, .. } = d else { return Vec::new() };
        let Some(parts) = as_tuple(&body).map(|p| p.to_vec()) else { return Vec::new() };
        // Only the meta process speaks to the attachment's mailbox (the attach itself is an RPC).
        let [Term::Pid(meta), msg] = parts.as_slice() else { return Vec::new() };
        if let Some(t) = self.threads.get_mut(id) {
            // The post-mortem meta is a new process: follow whichever meta speaks.
            t.meta = Some(meta.clone());
        }
        if let Some(p) = as_tuple(msg) {
            match p {
                [tag, m, l, le] if is_atom(tag, "break_at") => {
                    let (Some(m), Some(l), Some(le)) = (as_atom(m), as_integer(l), as_integer(le)) else {
                        return Vec::new();
                    };
                    return self.on_break(id, m.to_string(), l as u32, le).await;
                }
                [tag, at, reason, _le] if is_atom(tag, "exit_at") => {
                    let (module, line) = match as_tuple(at) {
                        Some([m, l]) => (as_atom(m).map(str::to_string), as_integer(l).map(|x| x as u32)),
                        _ => (None, None),
                    };
                    // The meta reports every end of an attached process, normal ones too: those are no crash
                    // (the server's exit status says the thread is gone).
                    let normal = is_atom(reason, "normal") || is_atom(reason, "shutdown");
                    let shown = self.threads.get(id).is_some_and(|t| t.crash_shown);
                    if normal || shown || !self.filters.stops_at_crashes() {
                        self.detach_thread(id);
                        return Vec::new();
                    }
                    if let Some(t) = self.threads.get_mut(id) {
                        t.crash_shown = true;
                    }
                    let node = self.threads.get(id).map(|t| t.node.clone()).unwrap_or_default();
                    let lang = module.as_deref().map(Lang::of_module).unwrap_or(Lang::Elixir);
                    let reason_text = self.render(&node, lang, reason);
                    if let Some(m) = &module {
                        let _ = self.module_lines(m).await;
                    }
                    self.threads.set_state(id, ThreadState::PostMortem { module, line, reason: reason_text.clone() });
                    return vec![EngineEvent::Stopped {
                        thread: id,
                        reason: StopReason::Exception,
                        description: format!("crash on {node}"),
                        text: Some(format!("{} crashed: {reason_text}", self.thread_label(id))),
                        breakpoints: Vec::new(),
                    }];
                }
                _ => {}
            }
        }
        if is_atom(msg, "running") {
            if let Some(t) = self.threads.get_mut(id) {
                t.let_go_at = None;
            }
            let was_stopped = self.threads.get(id).is_some_and(|t| matches!(t.state, ThreadState::Stopped { .. }));
            let evaluating = self.threads.get(id).is_some_and(|t| t.echoes > 0);
            if was_stopped && !evaluating {
                self.threads.set_state(id, ThreadState::Running);
                self.frames.invalidate(id);
                return vec![EngineEvent::Continued { thread: id }];
            }
        } else if is_atom(msg, "idle") {
            // Left interpreted code: no longer a thread to show until it stops again.
            if let Some(t) = self.threads.get_mut(id) {
                if matches!(t.state, ThreadState::Running | ThreadState::Awaiting { .. }) {
                    self.idle_count += 1;
                    let since = self.idle_count;
                    t.state = ThreadState::Idle { since };
                    // A step or pause that ended by leaving interpreted code stays armed in the meta
                    // (`finish` would let no breakpoint stop this process again; `next` would stop it at
                    // the first line of its next call): detaching resets the meta to running (the
                    // interpreter's `detached`); Orbit attaches again at its next stop.
                    let armed = t.pausing
                        || matches!(t.last_resume, Some((Resume::Next | Resume::StepIn | Resume::StepOut, ..)));
                    t.last_resume = None;
                    t.pausing = false;
                    t.left_armed = armed;
                    if armed {
                        self.detach_thread(id);
                    }
                    self.frames.invalidate(id);
                    let events = self.caller_left(id).await;
                    let tx = self.raw_tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(IDLE_GRACE).await;
                        let _ = tx.send(Raw::Idle(id, since));
                    });
                    return events;
                }
            }
        }
        Vec::new()
    }

    /// A process Orbit could not attach to (another debugger holds it: the console says so; or the server
    /// forgot it meanwhile, e.g. `int:clear/0`): a thread the editor was never told of stays out of its list.
    fn not_attached(&mut self, id: i64, new: bool, e: Option<crate::debugger::DebugError>) -> Vec<EngineEvent> {
        if new {
            self.threads.set_state(id, ThreadState::Exited);
        }
        e.map(|e| output(format!("{}\n", e.0))).into_iter().collect()
    }

    /// A thread that left interpreted code and did not come back within `IDLE_GRACE`: gone for the editor.
    pub(super) fn on_idle_expired(&mut self, id: i64, since: u64) -> Vec<EngineEvent> {
        match self.threads.get(id) {
            Some(t) if t.state == (ThreadState::Idle { since }) => {
                self.threads.set_state(id, ThreadState::Exited);
                vec![EngineEvent::ThreadExited { thread: id }]
            }
            _ => Vec::new(),
        }
    }

    /// The interpreter server's events: a process at a break (attach to it), a process that exited.
    pub(super) async fn on_server_event(&mut self, d: Delivery) -> Vec<EngineEvent> {
        match d {
            Delivery::Exit { from, reason } if self.server.as_ref().is_some_and(|s| s.pid == from) => {
                let why = crate::term::render_erlang(&reason, &Limits::default());
                let node = from.node.name.clone();
                return vec![EngineEvent::Terminated {
                    reason: format!("OTP's interpreter server on {node} stopped ({why})"),
                }];
            }
            Delivery::Message { body, .. } => {
                let Some([tag, event]) = as_tuple(&body).and_then(|p| <&[Term; 2]>::try_from(p).ok()) else {
                    return Vec::new();
                };
                if !is_atom(tag, "int") {
                    return Vec::new();
                }
                let Some(p) = as_tuple(event) else { return Vec::new() };
                match p {
                    [tag, Term::Pid(pid), status, info] if is_atom(tag, "new_status") => {
                        let pid = pid.clone();
                        if is_atom(status, "break") {
                            let (id, new) = self.threads.for_pid(&pid);
                            let attached = self.threads.get(id).is_some_and(|t| t.attach_pid.is_some());
                            if !attached {
                                match self.attach_thread(id).await {
                                    Ok(true) => {}
                                    Ok(false) => return self.not_attached(id, new, None),
                                    Err(e) => return self.not_attached(id, new, Some(e)),
                                }
                            }
                            if new {
                                self.threads.set_state(id, ThreadState::Running);
                                return vec![EngineEvent::ThreadStarted { thread: id }];
                            }
                        } else if is_atom(status, "exit") {
                            // Its crash is shown already (its meta reported it first), or was: nothing more.
                            if self
                                .threads
                                .id_of(&pid)
                                .and_then(|id| self.threads.get(id))
                                .is_some_and(|t| t.crash_shown)
                            {
                                return Vec::new();
                            }
                            let abnormal = !(is_atom(info, "normal") || is_atom(info, "shutdown"));
                            if abnormal && self.filters.stops_at_crashes() {
                                let (id, new) = self.threads.for_pid(&pid);
                                match self.attach_thread(id).await {
                                    Ok(true) => {}
                                    Ok(false) => return self.not_attached(id, new, None),
                                    Err(e) => return self.not_attached(id, new, Some(e)),
                                }
                                if new {
                                    return vec![EngineEvent::ThreadStarted { thread: id }];
                                }
                            } else if let Some(id) = self.threads.id_of(&pid) {
                                let shown = self.threads.get(id).is_some_and(|t| t.state != ThreadState::Exited);
                                self.detach_thread(id);
                                self.threads.set_state(id, ThreadState::Exited);
                                self.frames.invalidate(id);
                                let mut events = self.forget_crossings_of(id).await;
                                if shown {
                                    events.push(EngineEvent::ThreadExited { thread: id });
                                }
                                return events;
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Vec::new()
    }
}
