//! The debugger on OTP 28+'s native breakpoints (`erl_debugger`, nodes started with `+D`).
//!
//! On such a node the agent's `orbit_native` server is Orbit's registered debugger: it recompiles a
//! module with `beam_debug_info` from its own debug info, arms lines, suspends a process that hits one and
//! reads its frames (see `beam/agent/orbit_native.erl`). This part keeps what Orbit knows of it: which
//! nodes take native breakpoints, the processes stopped there as threads, their frames and variables.
//! Its ids (threads, frames, variable references) start at [`BASE`], so they never meet the
//! interpreter's: the engine routes a request by its id alone. No module is ever interpreted here.

use crate::cluster::Cluster;
use crate::debugger::names::function_display;
use crate::debugger::{DebugError, EngineEvent, FrameInfo, Resume, ScopeInfo, StopReason, ThreadInfo, VariableInfo};
use crate::term::{as_atom, as_integer, as_list, as_str, as_tuple, atom, binary, int, is_atom, tuple, Limits};
use eetf::{Pid, Term};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// First id of native threads, frames and variable references (the interpreter's count up from 1).
pub const BASE: i64 = 1 << 40;

const CALL: Duration = Duration::from_secs(30);

/// Where a process stopped: module, function, arity, line.
type At = (String, String, u32, u32);

/// A process stopped (or once stopped) at a native breakpoint.
#[derive(Debug, Clone)]
struct Thread {
    node: String,
    pid: Pid,
    /// Where it stopped; `None` while it runs.
    at: Option<At>,
    /// Counts its stops, so that what is asked a moment after one is not taken for the next's.
    stops: u64,
}

/// What Orbit knows of the native side. See the module docs.
#[derive(Default)]
pub struct Native {
    /// Nodes whose breakpoints are native.
    nodes: BTreeSet<String>,
    /// Modules recompiled for breakpoints, per node.
    prepared: BTreeSet<(String, String)>,
    threads: BTreeMap<i64, Thread>,
    /// The id each process had when it last stopped: a process that stops again (the next call a
    /// GenServer serves) is the same thread to the editor, as with the interpreter.
    ids: std::collections::HashMap<(String, Pid), i64>,
    /// Frame id → (thread, the VM's frame number).
    frames: BTreeMap<i64, (i64, i64)>,
    vars: BTreeMap<i64, Vec<VariableInfo>>,
    /// Scope reference → frame id, for the variables read on request (expandable; see `int_engine::native`).
    scopes: BTreeMap<i64, i64>,
    /// "Process" scope reference → thread.
    process_scopes: BTreeMap<i64, i64>,
    /// Values kept on the node for each thread (forgotten when it goes on).
    stored: BTreeMap<i64, Vec<Term>>,
    next: i64,
    /// The project whose build gives the debug info a node's stripped beams lack.
    pub project: Option<PathBuf>,
}

/// The agent's answer as text.
fn text(t: &Term) -> String {
    match as_str(t) {
        Some(s) => s.to_string(),
        None => crate::term::render_erlang(t, &Limits::default()),
    }
}

/// The reason of an `{error, Why}` answer (the answer itself when it is no such tuple).
fn reason(r: &Term) -> &Term {
    as_tuple(r).filter(|p| p.len() == 2 && is_atom(&p[0], "error")).map_or(r, |p| &p[1])
}

/// Why a node's native debugger refused something about a process or a line, worded for the user.
fn refusal(r: &Term) -> String {
    let why = reason(r);
    // `unsupported`: a line of the module without one; `badkey`: a line the module's code does not have.
    if as_tuple(why).is_some_and(|p| p.len() == 2 && (is_atom(&p[0], "unsupported") || is_atom(&p[0], "badkey"))) {
        return "OTP's erl_debugger has no breakpoint on that line (code a macro generates, as `use GenServer` \
                does its default callbacks, often has none)"
            .into();
    }
    match as_atom(why) {
        Some("not_paused") => "the process runs (it is not stopped at a breakpoint)".into(),
        Some("no_such_process") => "the process is no longer alive".into(),
        // The server is gone (killed): erl_debugger let go of it with it, so its breakpoints stop nothing,
        // but the code it recompiled for them stays loaded.
        Some("no_session") => "Orbit's native debugger there is no longer running (its breakpoints stop \
                               nothing; the modules it recompiled for them stay loaded as they are)"
            .into(),
        _ => text(why),
    }
}

/// Why a native breakpoint at `module:line` does not hold on `node` (the node's answer to `set_break`).
pub fn break_refused(node: &str, module: &str, line: u32, r: &Term) -> String {
    let m = crate::debugger::names::module_display(module);
    format!("{node}: the breakpoint at {m}:{line} does not hold there: {}", refusal(r))
}

// The agent's messages and answers, read: its own shapes (orbit_native.erl), one parse each.

/// `{orbit_native_stop, Node, Pid, M, F, A, Line, Reason, Ids}`: node, pid, where, reason, breakpoint ids.
fn stop_of(body: &Term) -> Option<(&str, &Pid, At, &Term, &Term)> {
    let [_, node, pid, m, f, a, line, reason, ids] = <&[Term; 9]>::try_from(as_tuple(body)?).ok()?;
    let Term::Pid(pid) = pid else { return None };
    let at = (as_atom(m)?.to_string(), as_atom(f)?.to_string(), as_integer(a)? as u32, as_integer(line)? as u32);
    Some((as_atom(node)?, pid, at, reason, ids))
}

/// A frame of `orbit_native:frames/1`: `{No, M, F, A, Line, Vars}`.
fn frame_of(f: &Term) -> Option<(i64, &str, &str, i64, i64, &Term)> {
    let [no, m, fun, a, line, vars] = <&[Term; 6]>::try_from(as_tuple(f)?).ok()?;
    Some((as_integer(no)?, as_atom(m)?, as_atom(fun)?, as_integer(a)?, as_integer(line)?, vars))
}

/// `{orbit_native_left, Node, Pid}`.
fn left_of(body: &Term) -> Option<(&str, &Pid)> {
    let [_, node, Term::Pid(pid)] = as_tuple(body)? else { return None };
    Some((as_atom(node)?, pid))
}

/// Why a module cannot take native breakpoints on a node, worded for the user.
pub fn prepare_error(module: &str, node: &str, why: &Term) -> String {
    let m = crate::debugger::names::module_display(module);
    let detail = match as_atom(reason(why)) {
        Some("no_debug_info") => "its beam carries no debug info (a release built with `strip_beams`) and the \
                                  project (projectDir) has no build of the same code: set `strip_beams: false` in \
                                  the release, or give the project whose build it runs"
            .to_string(),
        Some("changed_on_disk") => {
            "the beam on its disk is not the code it runs (reload the module or restart the node)".to_string()
        }
        Some("old_code_in_use") => {
            "a process still runs an old version of it (try again once it has moved on)".to_string()
        }
        Some("not_loaded") | Some("no_beam") => "the node cannot load it".to_string(),
        Some("other_build") => "the project's build of it is not the code the node runs".to_string(),
        _ => text(reason(why)),
    };
    format!("{node}: native breakpoints in {m} are not possible: {detail}")
}

impl Native {
    fn id(&mut self) -> i64 {
        self.next += 1;
        BASE + self.next
    }

    pub fn owns(id: i64) -> bool {
        id >= BASE
    }

    pub fn is_native(&self, node: &str) -> bool {
        self.nodes.contains(node)
    }

    pub fn nodes(&self) -> Vec<String> {
        self.nodes.iter().cloned().collect()
    }

    /// Starts the agent's debugger on `node` where it runs with `+D`. Returns a console line, if any.
    pub async fn start(&mut self, cluster: &Cluster, node: &str, events: &Pid) -> Option<String> {
        let me = atom(cluster.local_name());
        let r = cluster.call(node, "orbit_native", "start", vec![me, Term::from(events.clone())], CALL).await;
        let r = match r {
            Ok(r) => r,
            Err(e) => return Some(format!("{node}: native breakpoints are not available: {e}")),
        };
        if as_tuple(&r).is_some_and(|p| is_atom(&p[0], "ok")) {
            self.nodes.insert(node.to_string());
            let key = atom("orbit_native");
            if let Err(e) = cluster.register_cleanup(node, key, "orbit_native", "stop", vec![]).await {
                tracing::warn!("{node}: cannot register the native debugger's clean-up: {e}");
            }
            return Some(format!("{node}: breakpoints are native there (OTP erl_debugger, +D)"));
        }
        let why = as_tuple(&r).and_then(|p| p.get(1)).cloned().unwrap_or(r);
        if as_tuple(&why).is_some_and(|p| is_atom(&p[0], "held_by_orbit")) {
            return Some(format!(
                "{node}: another Orbit session holds OTP's erl_debugger there (one whose connection has not \
                 timed out yet lets go when it does); Orbit uses the interpreter on that node"
            ));
        }
        if as_tuple(&why).is_some_and(|p| is_atom(&p[0], "held")) {
            let holder = as_tuple(&why).map(|p| text(&p[1])).unwrap_or_default();
            return Some(format!(
                "{node}: another tool holds OTP's erl_debugger there ({holder}); Orbit uses the interpreter on \
                 that node"
            ));
        }
        // No +D, or OTP before 28: the interpreter, as ever (nothing to say).
        None
    }

    /// Lets go of every native node (disconnect): breakpoints cleared, paused processes resumed, original
    /// code back, the registration gone. Returns what could not be undone.
    pub async fn end(&mut self, cluster: &Cluster) -> Vec<String> {
        let nodes = self.nodes();
        let answers = futures::future::join_all(
            nodes.iter().map(|n| cluster.call(n, "orbit_native", "stop", vec![], Duration::from_secs(60))),
        )
        .await;
        let mut notes = Vec::new();
        for (node, a) in nodes.iter().zip(answers) {
            match a {
                Ok(t) if is_atom(&t, "ok") => {}
                Ok(t) => notes.push(format!("{node}: the native debugger did not stop cleanly: {}", refusal(&t))),
                Err(e) => notes.push(e.to_string()),
            }
        }
        self.nodes.clear();
        self.threads.clear();
        notes
    }

    /// Arms `points` of a breakpoint on every native node (the module recompiled first where needed).
    /// Returns console lines for the nodes where it does not hold, and whether it holds on any.
    pub async fn place(
        &mut self,
        cluster: &Cluster,
        id: i64,
        slot: u32,
        points: &[(String, u32)],
    ) -> (Vec<String>, bool) {
        let mut notes = Vec::new();
        let mut any = false;
        for node in self.nodes() {
            let (n, ok) = self.place_on(cluster, &node, id, slot, points).await;
            notes.extend(n);
            any |= ok;
        }
        (notes, any)
    }

    pub async fn place_on(
        &mut self,
        cluster: &Cluster,
        node: &str,
        id: i64,
        slot: u32,
        points: &[(String, u32)],
    ) -> (Vec<String>, bool) {
        let mut notes = Vec::new();
        let mut ok = !points.is_empty();
        for (module, line) in points {
            if let Err(note) = self.ensure_prepared(cluster, node, module).await {
                notes.push(note);
                ok = false;
                continue;
            }
            let args = vec![atom(module), int(*line as i64), int(slot as i64), int(id)];
            let refused = match cluster.call(node, "orbit_native", "set_break", args, CALL).await {
                Ok(t) if is_atom(&t, "ok") => continue,
                Ok(t) => break_refused(node, module, *line, &t),
                Err(e) => e.to_string(),
            };
            notes.push(refused);
            ok = false;
        }
        (notes, ok)
    }

    /// Readies `module` for breakpoints and steps on every native node that has not yet (the `interpret`
    /// setting: the modules to step into). Returns console lines for the nodes where it cannot be.
    pub async fn prepare_everywhere(&mut self, cluster: &Cluster, module: &str) -> Vec<String> {
        let mut notes = Vec::new();
        for node in self.nodes() {
            if let Err(note) = self.ensure_prepared(cluster, &node, module).await {
                notes.push(note);
            }
        }
        notes
    }

    /// [`Self::ensure_prepared`] on one node: a console line where it cannot be.
    pub async fn prepare_on(&mut self, cluster: &Cluster, node: &str, module: &str) -> Option<String> {
        self.ensure_prepared(cluster, node, module).await.err()
    }

    /// The modules of the functions a paused thread's line calls, with its node (see `step_in`).
    pub async fn call_targets(&self, cluster: &Cluster, thread: i64) -> Vec<(String, String)> {
        let Ok(t) = self.thread(thread) else { return Vec::new() };
        let r = cluster.call(&t.node, "orbit_native", "call_targets", vec![Term::from(t.pid.clone())], CALL).await;
        let Ok(r) = r else { return Vec::new() };
        let Some([tag, list]) = as_tuple(&r) else { return Vec::new() };
        if !is_atom(tag, "ok") {
            return Vec::new();
        }
        let mut modules: Vec<String> = as_list(list)
            .map(|l| {
                l.iter()
                    .filter_map(|mfa| as_tuple(mfa).and_then(|p| p.first()).and_then(as_atom).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        modules.sort();
        modules.dedup();
        modules.into_iter().map(|m| (t.node.clone(), m)).collect()
    }

    /// `module` recompiled on `node` (once per session), or why not, worded for the console.
    async fn ensure_prepared(&mut self, cluster: &Cluster, node: &str, module: &str) -> Result<(), String> {
        if self.prepared.contains(&(node.to_string(), module.to_string())) {
            return Ok(());
        }
        match self.prepare(cluster, node, module).await {
            Ok(t) if as_tuple(&t).is_some_and(|p| is_atom(&p[0], "ok")) => {
                self.prepared.insert((node.to_string(), module.to_string()));
                Ok(())
            }
            Ok(t) => Err(prepare_error(module, node, &t)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Recompiles `module` on `node` from its own debug info, or where its beam has none (a stripped
    /// release) from the project's build of it, when that is the same code.
    async fn prepare(&self, cluster: &Cluster, node: &str, module: &str) -> Result<Term, crate::rpc::RpcError> {
        let t = Duration::from_secs(60);
        let r = cluster.call(node, "orbit_native", "prepare", vec![atom(module)], t).await?;
        let stripped = as_tuple(&r).is_some_and(|p| p.len() == 2 && is_atom(&p[1], "no_debug_info"));
        let beam = self.project.as_deref().and_then(|d| crate::debugger::sources::project_beam(d, module));
        match beam {
            Some(beam) if stripped => {
                let r2 = cluster.call(node, "orbit_native", "prepare", vec![atom(module), binary(beam)], t).await?;
                // The project's build is another build: say why the node's own beam does not do.
                Ok(if as_tuple(&r2).is_some_and(|p| p.len() == 2 && is_atom(&p[1], "other_build")) { r } else { r2 })
            }
            _ => Ok(r),
        }
    }

    /// Clears a breakpoint's points on every native node.
    pub async fn remove(&self, cluster: &Cluster, id: i64, points: &[(String, u32)]) {
        for node in &self.nodes {
            for (module, line) in points {
                let args = vec![atom(module), int(*line as i64), int(id)];
                let _ = cluster.call(node, "orbit_native", "clear_break", args, CALL).await;
            }
        }
    }

    /// `{orbit_native_stop, Node, Pid, M, F, A, Line, Reason, Ids}` from a node's server.
    pub fn on_stop(&mut self, body: &Term) -> Vec<EngineEvent> {
        let Some((node, pid, at, reason, ids)) = stop_of(body) else { return Vec::new() };
        let at = Some(at);
        let existing = self.threads.iter().find(|(_, t)| t.node == node && t.pid == *pid).map(|(id, _)| *id);
        let mut events = Vec::new();
        let id = match existing {
            Some(id) => id,
            None => {
                let id = match self.ids.get(&(node.to_string(), pid.clone())) {
                    Some(id) => *id,
                    None => self.id(),
                };
                self.ids.insert((node.to_string(), pid.clone()), id);
                self.threads.insert(id, Thread { node: node.to_string(), pid: pid.clone(), at: None, stops: 0 });
                events.push(EngineEvent::ThreadStarted { thread: id });
                id
            }
        };
        if let Some(t) = self.threads.get_mut(&id) {
            t.at = at;
            t.stops += 1;
        }
        let (reason, what) = if is_atom(reason, "step") {
            (StopReason::Step, "step")
        } else if is_atom(reason, "pause") {
            (StopReason::Pause, "paused")
        } else {
            (StopReason::Breakpoint, "breakpoint")
        };
        let bps: Vec<i64> = as_list(ids).map(|l| l.iter().filter_map(as_integer).collect()).unwrap_or_default();
        let label = self.label(id);
        events.push(EngineEvent::Stopped {
            thread: id,
            reason,
            description: format!("{what} on {node} (native)"),
            text: Some(label),
            breakpoints: bps,
        });
        events
    }

    /// A node left: its threads go.
    pub fn lose_node(&mut self, node: &str) -> Vec<EngineEvent> {
        self.nodes.remove(node);
        self.prepared.retain(|(n, _)| n != node);
        self.ids.retain(|(n, _), _| n != node);
        let gone: Vec<i64> = self.threads.iter().filter(|(_, t)| t.node == node).map(|(id, _)| *id).collect();
        gone.iter().for_each(|id| {
            self.threads.remove(id);
        });
        gone.into_iter().map(|thread| EngineEvent::ThreadExited { thread }).collect()
    }

    /// The number of the stop a thread is at now (`None` while it runs).
    pub fn stop_number(&self, id: i64) -> Option<u64> {
        self.threads.get(&id).filter(|t| t.at.is_some()).map(|t| t.stops)
    }

    /// The node and pid of a thread stopped now.
    pub fn stopped(&self, id: i64) -> Option<(String, Pid)> {
        self.threads.get(&id).filter(|t| t.at.is_some()).map(|t| (t.node.clone(), t.pid.clone()))
    }

    pub fn label(&self, id: i64) -> String {
        let Some(t) = self.threads.get(&id) else { return format!("thread {id}") };
        let pid = format!("#PID<0.{}.{}>", t.pid.id, t.pid.serial);
        let at = match &t.at {
            Some((m, f, a, _)) => format!(" {}", function_display(m, f, *a)),
            None => String::new(),
        };
        format!("{} {pid}{at} [native]", t.node)
    }

    pub fn threads(&self) -> Vec<ThreadInfo> {
        self.threads.keys().map(|id| ThreadInfo { id: *id, name: self.label(*id) }).collect()
    }

    fn thread(&self, id: i64) -> Result<&Thread, DebugError> {
        self.threads.get(&id).ok_or_else(|| DebugError(format!("no thread {id}")))
    }

    pub async fn stack_trace(
        &mut self,
        cluster: &Cluster,
        thread: i64,
        source: impl Fn(&str) -> Option<PathBuf>,
    ) -> Result<Vec<FrameInfo>, DebugError> {
        let t = self.thread(thread)?.clone();
        if t.at.is_none() {
            return Err(DebugError::new("the process runs (it is not stopped at a breakpoint)"));
        }
        let r = cluster
            .call(&t.node, "orbit_native", "frames", vec![Term::from(t.pid.clone())], CALL)
            .await
            .map_err(|e| DebugError(e.to_string()))?;
        let frames = as_tuple(&r)
            .filter(|p| is_atom(&p[0], "ok"))
            .and_then(|p| as_list(&p[1]).map(|l| l.to_vec()))
            .ok_or_else(|| DebugError(format!("{}: {}", t.node, text(&r))))?;
        self.frames.retain(|_, (th, _)| *th != thread);
        self.process_scopes.retain(|_, th| *th != thread);
        let mut out = Vec::new();
        for f in frames {
            let Some((no, m, fun, a, line, vars)) = frame_of(&f) else { continue };
            let id = self.id();
            self.frames.insert(id, (thread, no));
            let vars: Vec<VariableInfo> = as_list(vars)
                .map(|l| {
                    l.iter()
                        .filter_map(|v| {
                            let [n, val] = as_tuple(v).and_then(|t| <&[Term; 2]>::try_from(t).ok())?;
                            Some(VariableInfo {
                                name: text(n),
                                value: text(val),
                                type_name: None,
                                variables_reference: 0,
                                named_variables: None,
                                indexed_variables: None,
                                evaluate_name: Some(text(n)),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let src = source(m);
            let subtle = vars.is_empty() && src.is_none();
            self.vars.insert(id, vars);
            out.push(FrameInfo {
                id,
                name: function_display(m, fun, a as u32),
                source: src,
                line: line as u32,
                subtle,
            });
        }
        Ok(out)
    }

    pub fn scopes(&mut self, frame: i64) -> Result<Vec<ScopeInfo>, DebugError> {
        let vars = self.vars.get(&frame).ok_or_else(|| DebugError(format!("no frame {frame}")))?;
        let n = vars.len() as u64;
        let r = self.id();
        self.scopes.insert(r, frame);
        let thread = self.frames.get(&frame).map(|(t, _)| *t).unwrap_or_default();
        let p = self.id();
        self.process_scopes.insert(p, thread);
        Ok(vec![
            ScopeInfo { name: "Locals".into(), variables_reference: r, named_variables: Some(n), expensive: false },
            ScopeInfo { name: "Process".into(), variables_reference: p, named_variables: None, expensive: false },
        ])
    }

    /// The node and process whose "Process" scope `reference` is, if it is one.
    pub fn process_scope(&self, reference: i64) -> Option<(String, Pid)> {
        let t = self.threads.get(self.process_scopes.get(&reference)?)?;
        Some((t.node.clone(), t.pid.clone()))
    }

    /// The node, process, frame number and thread a scope reference reads.
    pub fn scope_target(&self, reference: i64) -> Result<(String, Pid, i64, i64), DebugError> {
        let gone = || DebugError(format!("no variables reference {reference} (the process may have moved on)"));
        let frame = self.scopes.get(&reference).ok_or_else(gone)?;
        let (thread, no) = *self.frames.get(frame).ok_or_else(gone)?;
        let t = self.thread(thread)?;
        Ok((t.node.clone(), t.pid.clone(), no, thread))
    }

    pub fn remember_stored(&mut self, thread: i64, stored: Term) {
        self.stored.entry(thread).or_default().push(stored);
    }

    /// Lets the node drop the values it kept for a thread that goes on.
    fn forget_stored(&mut self, cluster: &Cluster, thread: i64) {
        let (Some(refs), Some(t)) = (self.stored.remove(&thread), self.threads.get(&thread)) else { return };
        let (cluster, node) = (cluster.clone(), t.node.clone());
        tokio::spawn(async move {
            let _ = cluster.call(&node, "orbit_dbg", "forget", vec![crate::term::list(refs)], CALL).await;
        });
    }

    pub async fn evaluate(&self, cluster: &Cluster, expression: &str, frame: i64) -> Result<VariableInfo, DebugError> {
        let (thread, no) = *self.frames.get(&frame).ok_or_else(|| DebugError(format!("no frame {frame}")))?;
        let t = self.thread(thread)?;
        let args = vec![Term::from(t.pid.clone()), int(no), binary(expression.as_bytes())];
        let r =
            cluster.call(&t.node, "orbit_native", "eval", args, CALL).await.map_err(|e| DebugError(e.to_string()))?;
        match as_tuple(&r) {
            Some([tag, v]) if is_atom(tag, "ok") => Ok(VariableInfo {
                name: expression.to_string(),
                value: text(v),
                type_name: None,
                variables_reference: 0,
                named_variables: None,
                indexed_variables: None,
                evaluate_name: None,
            }),
            _ => Err(DebugError(text(reason(&r)))),
        }
    }

    /// Resumes a paused thread; `events` is Orbit's pid the nodes' native servers report to (the sender of
    /// a continue, which is sent rather than called).
    pub async fn resume(
        &mut self,
        cluster: &Cluster,
        thread: i64,
        how: Resume,
        events: &Pid,
    ) -> Result<Vec<EngineEvent>, DebugError> {
        let t = self.thread(thread)?.clone();
        let how_t = match how {
            Resume::Next => "next",
            Resume::StepIn => "step_in",
            Resume::StepOut => "step_out",
            Resume::Continue => {
                // Sent, not called: the next stop is the answer, and a round trip would delay it.
                let link = cluster.link(&t.node).ok_or_else(|| DebugError(format!("{} is not connected", t.node)))?;
                let request = tuple(vec![atom("resume"), Term::from(t.pid.clone()), atom("continue")]);
                link.send_named(events, "orbit_native", tuple(vec![atom("orbit_native"), atom("cast"), request]))
                    .map_err(|e| DebugError(e.to_string()))?;
                return Ok(self.went_on(cluster, thread, true));
            }
        };
        let r = cluster
            .call(&t.node, "orbit_native", "resume", vec![Term::from(t.pid.clone()), atom(how_t)], CALL)
            .await
            .map_err(|e| DebugError(e.to_string()))?;
        let runs_on = is_atom(&r, "running");
        if !is_atom(&r, "ok") && !runs_on {
            return Err(DebugError(format!("{}: {}", t.node, refusal(&r))));
        }
        Ok(self.went_on(cluster, thread, runs_on))
    }

    /// A thread resumed: what it showed goes; `gone`: it is no thread until it stops again.
    fn went_on(&mut self, cluster: &Cluster, thread: i64, gone: bool) -> Vec<EngineEvent> {
        self.forget_stored(cluster, thread);
        self.frames.retain(|_, (th, _)| *th != thread);
        self.process_scopes.retain(|_, th| *th != thread);
        if let Some(t) = self.threads.get_mut(&thread) {
            t.at = None;
        }
        let mut events = vec![EngineEvent::Continued { thread }];
        // A running process is no thread to show until it stops again (as the interpreter's leave); a
        // stepping one stays, to stop again under the same id.
        if gone {
            self.threads.remove(&thread);
            events.push(EngineEvent::ThreadExited { thread });
        }
        events
    }

    /// Pause of a thread that runs (one taking a step): its node suspends it where it is and reports the
    /// stop as its other stops.
    pub async fn pause(&self, cluster: &Cluster, thread: i64) -> Result<(), DebugError> {
        let t = self.thread(thread)?;
        if t.at.is_some() {
            return Err(DebugError(format!("thread {thread} is already stopped")));
        }
        let r = cluster
            .call(&t.node, "orbit_native", "pause", vec![Term::from(t.pid.clone())], CALL)
            .await
            .map_err(|e| DebugError(e.to_string()))?;
        if is_atom(&r, "ok") {
            Ok(())
        } else {
            Err(DebugError(format!("{}: cannot pause the process: {}", t.node, refusal(&r))))
        }
    }

    /// `{orbit_native_left, Node, Pid}`: a stepping process left the function it stepped in (a callback
    /// returned); it is no thread until it stops again.
    pub fn on_left(&mut self, body: &Term) -> Vec<EngineEvent> {
        let Some((node, pid)) = left_of(body) else { return Vec::new() };
        let gone: Vec<i64> =
            self.threads.iter().filter(|(_, t)| t.node == node && t.pid == *pid).map(|(id, _)| *id).collect();
        gone.into_iter()
            .map(|thread| {
                self.threads.remove(&thread);
                self.frames.retain(|_, (th, _)| *th != thread);
                self.process_scopes.retain(|_, th| *th != thread);
                EngineEvent::ThreadExited { thread }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::prepare_error;
    use crate::term::{atom, tuple};

    /// Every reason a node gives for not taking native breakpoints in a module reads as what to do about
    /// it, naming the node and the module; an unknown reason is shown as the node gave it.
    #[test]
    fn why_a_module_takes_no_native_breakpoints_in_words() {
        let why = |reason: &str| prepare_error("Elixir.Bank.Account", "a@h", &tuple(vec![atom("error"), atom(reason)]));
        let head = "a@h: native breakpoints in Bank.Account are not possible: ";
        for (reason, detail) in [
            ("changed_on_disk", "the beam on its disk is not the code it runs (reload the module or restart the node)"),
            ("old_code_in_use", "a process still runs an old version of it (try again once it has moved on)"),
            ("not_loaded", "the node cannot load it"),
            ("no_beam", "the node cannot load it"),
            ("other_build", "the project's build of it is not the code the node runs"),
            ("something_new", "something_new"),
        ] {
            assert_eq!(why(reason), format!("{head}{detail}"));
        }
        assert!(why("no_debug_info").contains("`strip_beams: false`"), "{}", why("no_debug_info"));
        assert_eq!(
            prepare_error("bank_ledger", "a@h", &atom("gone")),
            "a@h: native breakpoints in bank_ledger are not possible: gone"
        );
    }
}
