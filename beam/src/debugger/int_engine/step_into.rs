//! Stepping into the process a call goes to. `stepIn` on a line that calls another process — a
//! `GenServer.call`/`cast` to a pid or a name (on any node), `:erpc`/`:rpc`, a message sent to a
//! GenServer — stops in the code that handles it, on the node where that runs, as a thread of that node:
//! the callback clause (`handle_call/3`, `handle_cast/2`, `handle_info/2`) or the function `:erpc` runs.
//!
//! How: the agent on the caller's node works out where the call lands from the line's code and the
//! frame's bindings (`orbit_dbg:call_target/3`); Orbit interprets the receiving module on that node if
//! it is not (for this step only), sets a trap there — a breakpoint at the first line of each clause of
//! the receiving function whose condition holds only for the receiving process, once — and steps the
//! caller over its line. When the trap springs, the receiving process stops as a new thread, and the
//! caller shows as stopped too, waiting for the answer (its stack starts with a `→ awaiting …` frame).
//! When the answer is back, the caller's step ends on its next line, and the trap and the temporary
//! interpretation go. A cast or a message does not wait: the caller's step ends at once, and its stop
//! is shown with the receiver's (or alone after a few seconds, if the receiver never takes the message).
//! Where the target cannot be told, `stepIn` steps over the line and the console says why.

use super::execution::meta_cmd_msg;
use super::threads::ThreadState;
use super::util::{ok_value, output, text};
use super::{IntEngine, CALL};
use crate::debugger::names::{function_display, module_display, Lang};
use crate::debugger::{EngineEvent, StopReason};
use crate::rpc;
use crate::term::{as_atom, as_integer, as_tuple, atom, int, is_atom, list, map, tuple};
use eetf::{Pid, Term};
use std::time::{Duration, Instant};

/// How long a tail call's receiving process may take to be reached before the step is given up.
const TAIL_WAIT: Duration = Duration::from_secs(30);

/// How long a cast or a message may wait to be taken before the caller's stop is shown alone.
const ASYNC_WAIT: Duration = Duration::from_secs(3);

/// Where a call on the caller's line lands.
#[derive(Debug)]
pub(super) enum Target {
    /// No call to another process on the line: an ordinary step.
    None,
    /// There is one, but where it lands cannot be told: step over the line, and say why.
    Unknown(String),
    /// A process (a GenServer) takes it in `module:function/arity`; `sync`: the caller waits for it.
    Process { node: String, pid: Pid, module: String, function: String, arity: u32, sync: bool },
    /// `:erpc`/`:rpc` runs `module:function/arity` in a process it spawns on `node`.
    Spawned { node: String, module: String, function: String, arity: u32, sync: bool },
}

/// A frame that stands for another process in a stack: its name, that process's thread if Orbit shows
/// it, and the place to open in the editor.
pub(super) struct MarkerFrame {
    pub(super) name: String,
    pub(super) thread: Option<i64>,
    pub(super) place: Option<(String, u32)>,
}

/// What a stop means for a step into another process.
pub(super) enum CrossingStop {
    /// Nothing to report now (the caller of a cast waits to be shown with the receiver, or goes on).
    Quiet,
    /// The receiving process stopped in the trap: report it as a step from `from`, after `before`.
    SteppedIn { before: Vec<EngineEvent>, from: String },
}

/// One step into another process, from its start until the caller's step ends.
#[derive(Debug)]
struct Crossing {
    id: i64,
    caller: i64,
    sync: bool,
    node: String,
    /// The receiving process (none for `:erpc`: the process it spawns on `node`).
    pid: Option<Pid>,
    module: String,
    /// `Bank.Account.handle_call/3`
    function: String,
    /// The trap: its condition slot and the points it set (points a breakpoint of the user's already
    /// held are in `points` but not in `set`).
    slot: Option<u32>,
    points: Vec<(String, u32)>,
    set: Vec<(String, u32)>,
    /// Interpreted on `node` for this step only.
    temporary: bool,
    callee: Option<i64>,
    /// The user continued the waiting caller: it goes on when its step ends instead of stopping.
    continue_caller: bool,
    /// A cast or message: the caller's step ended first, at (module, line, level), and waits to be shown.
    caller_landed: Option<(String, u32, i64)>,
    /// A tail call: the caller left interpreted code to make the call (its step ended there) and waits
    /// for the answer natively, so there is no line of it to come back to; the crossing lasts until the
    /// receiving process is trapped, or [`TAIL_WAIT`] passes.
    caller_gone: bool,
    deadline: Option<Instant>,
}

/// A trap set with native breakpoints, on a `+D` node (see `native_step.rs`): the breakpoint id the node
/// reports when it springs, the condition slot, the points armed, who stepped and into what.
#[derive(Debug)]
pub(super) struct NativeTrap {
    pub(super) id: i64,
    pub(super) caller: i64,
    pub(super) node: String,
    pub(super) slot: u32,
    pub(super) points: Vec<(String, u32)>,
    pub(super) label: String,
}

/// The steps into other processes under way.
#[derive(Default)]
pub(super) struct StepInto {
    crossings: Vec<Crossing>,
    pub(super) native_traps: Vec<NativeTrap>,
    pub(super) next_id: i64,
}

impl StepInto {
    /// Every point a trap holds at (for the clean-up, should Orbit vanish mid-step).
    pub(super) fn points(&self) -> Vec<(String, u32)> {
        self.crossings.iter().flat_map(|c| c.set.iter().cloned()).collect()
    }

    /// What a thread waiting for an answer waits for: (callee thread, label).
    pub(super) fn awaited_by(&self, caller: i64) -> Option<(Option<i64>, String)> {
        self.crossings.iter().find(|c| c.caller == caller && c.sync).map(|c| (c.callee, c.label()))
    }

    pub(super) fn of_caller(&self, caller: i64) -> Option<usize> {
        self.crossings.iter().position(|c| c.caller == caller)
    }

    /// Whether a stop of `pid` at `module:line` springs a step's trap.
    pub(super) fn traps(&self, pid: &Pid, module: &str, line: u32) -> bool {
        self.landing(pid, module, line).is_some()
    }

    /// The crossing whose trap a stop of `pid` at `module:line` springs.
    fn landing(&self, pid: &Pid, module: &str, line: u32) -> Option<usize> {
        self.crossings.iter().position(|c| {
            c.callee.is_none()
                && c.points.iter().any(|(m, l)| m == module && *l == line)
                && match &c.pid {
                    Some(p) => p == pid,
                    None => pid.node.name == c.node,
                }
        })
    }

    /// Marks the waiting caller to go on when its step ends; false if it waits for nothing.
    pub(super) fn continue_caller(&mut self, caller: i64) -> bool {
        match self.crossings.iter_mut().find(|c| c.caller == caller && c.sync) {
            Some(c) => {
                c.continue_caller = true;
                true
            }
            None => false,
        }
    }
}

impl Crossing {
    fn label(&self) -> String {
        match &self.pid {
            Some(p) => format!("{} #PID<0.{}.{}> {}", self.node, p.id, p.serial, self.function),
            None => format!("{} {} (spawned by :erpc)", self.node, self.function),
        }
    }
}

fn atom_text(t: &Term) -> Option<String> {
    as_atom(t).map(str::to_string)
}

/// The agent's answer to where a call lands (`orbit_dbg:call_target/3`, `orbit_native:cross_target/1`).
pub(super) fn target_from(r: &Term) -> Target {
    if is_atom(r, "none") {
        return Target::None;
    }
    match as_tuple(r) {
        Some([tag, why]) if is_atom(tag, "unknown") => Target::Unknown(text(why)),
        Some([tag, n, Term::Pid(pid), m, f, a]) if is_atom(tag, "gen_server") => {
            match (atom_text(n), atom_text(m), atom_text(f), as_integer(a)) {
                (Some(node), Some(module), Some(function), Some(arity)) => Target::Process {
                    sync: function == "handle_call",
                    node,
                    pid: pid.clone(),
                    module,
                    function,
                    arity: arity as u32,
                },
                _ => Target::Unknown(text(r)),
            }
        }
        Some([tag, n, m, f, a]) if is_atom(tag, "spawned") => {
            match (atom_text(n), atom_text(m), atom_text(f), as_integer(a)) {
                (Some(node), Some(module), Some(function), Some(arity)) => {
                    Target::Spawned { node, module, function, arity: arity as u32, sync: true }
                }
                _ => Target::Unknown(text(r)),
            }
        }
        _ => Target::Unknown(format!("the agent answered {}", text(r))),
    }
}

/// The condition spec of a trap: it holds for `only` (a pid, or `{node, N}`: any process there), once.
pub(super) fn trap_spec(id: i64, at: &(String, u32), only: Term, events: &Pid) -> Term {
    let (module, line) = at;
    map(vec![
        (atom("id"), int(id)),
        (atom("module"), atom(module)),
        (atom("line"), int(*line as i64)),
        (atom("lang"), atom(Lang::of_module(module).as_str())),
        (atom("condition"), atom("undefined")),
        (atom("hit"), atom("none")),
        (atom("log"), atom("undefined")),
        (atom("events"), Term::from(events.clone())),
        (atom("trap"), only),
    ])
}

impl IntEngine {
    /// Where the call on `module:line` of the paused process of `meta` lands (asked on its node).
    pub(super) async fn step_target(&self, node: &str, meta: &Pid, module: &str, line: u32) -> Target {
        let args = vec![Term::from(meta.clone()), atom(module), int(line as i64)];
        match self.cluster.call(node, "orbit_dbg", "call_target", args, CALL).await {
            Ok(r) => target_from(&r),
            Err(e) => Target::Unknown(e.to_string()),
        }
    }

    /// Sets the trap for a step of thread `caller` into `target`; the caller then steps over its line.
    pub(super) async fn cross_into(&mut self, caller: i64, target: Target) -> Result<(), String> {
        let (node, pid, module, function, arity, sync) = match target {
            Target::Process { node, pid, module, function, arity, sync } => {
                (node, Some(pid), module, function, arity, sync)
            }
            Target::Spawned { node, module, function, arity, sync } => (node, None, module, function, arity, sync),
            Target::None | Target::Unknown(_) => return Err("no process to step into".into()),
        };
        if !self.cluster.up_nodes().contains(&node) {
            return Err(format!("{node} is not a node of this session"));
        }
        let display = function_display(&module, &function, arity);
        let points = self.trap_points(&module, &function, arity).await?;
        // A +D node takes the trap natively: nothing is interpreted there.
        if self.is_native_node(&node) {
            return self.native_trap(caller, node, pid, points, display).await;
        }
        let temporary = self.interpret_for_step(&module, &node).await?;
        let id = self.step_into.next_id;
        self.step_into.next_id += 1;
        let mut crossing = Crossing {
            id,
            caller,
            sync,
            node: node.clone(),
            pid: pid.clone(),
            module: module.clone(),
            function: display,
            slot: None,
            points,
            set: Vec::new(),
            temporary,
            callee: None,
            continue_caller: false,
            caller_landed: None,
            caller_gone: false,
            deadline: None,
        };
        if let Err(e) = self.set_trap(&mut crossing).await {
            self.release(crossing).await;
            return Err(e);
        }
        self.step_into.crossings.push(crossing);
        self.register_cleanup_everywhere().await;
        Ok(())
    }

    /// The first line of each clause of `module:function/arity`: where a trap for it stops.
    pub(super) async fn trap_points(
        &mut self,
        module: &str,
        function: &str,
        arity: u32,
    ) -> Result<Vec<(String, u32)>, String> {
        let ml = self.module_lines(module).await.map_err(|e| e.0)?;
        let points: Vec<(String, u32)> = ml
            .clauses
            .get(&(function.to_string(), arity))
            .map(|lines| {
                lines.iter().filter(|l| **l > 0 && ml.lines.contains(l)).map(|l| (module.to_string(), *l)).collect()
            })
            .unwrap_or_default();
        if points.is_empty() {
            return Err(format!("{} has no code Orbit can stop in", function_display(module, function, arity)));
        }
        Ok(points)
    }

    /// A breakpoint at each point, whose condition (on the receiving node only) holds for the receiving
    /// process, once (orbit_dbg's check/3).
    async fn set_trap(&mut self, c: &mut Crossing) -> Result<(), String> {
        let slot = self.breakpoints.take_slot().ok_or("too many breakpoints in one session (256 at most)")?;
        c.slot = Some(slot);
        let only = match &c.pid {
            Some(p) => Term::from(p.clone()),
            None => tuple(vec![atom("node"), atom(&c.node)]),
        };
        let spec = trap_spec(-c.id, &c.points[0], only, &self.events_pid);
        let r = self
            .cluster
            .call(&c.node, "orbit_dbg", "set_condition", vec![int(slot as i64), spec], CALL)
            .await
            .map_err(|e| e.to_string())?;
        if !is_atom(&r, "ok") {
            return Err(format!("{}: {}", c.node, text(&r)));
        }
        let (server, server_node) = self.interpreter().map_err(|e| e.0)?;
        let link = self.cluster.link(server_node).ok_or("the interpreter's node is not connected")?;
        let condition = tuple(vec![atom("orbit_dbg_cond"), atom(format!("b{slot}"))]);
        for (m, l) in c.points.clone() {
            let request = tuple(vec![
                atom("new_break"),
                tuple(vec![atom(&m), int(l as i64)]),
                list(vec![atom("active"), atom("enable"), atom("null"), condition.clone()]),
            ]);
            match rpc::gen_call(&link, server, request, CALL).await {
                Ok(t) if is_atom(&t, "ok") => c.set.push((m, l)),
                // A breakpoint of the user's holds there already: it stops the process as well.
                Ok(t) if as_tuple(&t).is_some_and(|p| p.len() == 2 && is_atom(&p[1], "break_exists")) => {}
                Ok(t) => return Err(text(&t)),
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }

    /// Removes a crossing's trap and the interpretation made for it.
    async fn release(&mut self, c: Crossing) {
        self.remove_trap(&c.node, c.slot, &c.set).await;
        if c.temporary {
            let _ =
                self.cluster.call(&c.node, "orbit_dbg", "uninterpret", vec![list(vec![atom(&c.module)])], CALL).await;
        }
    }

    async fn remove_trap(&mut self, node: &str, slot: Option<u32>, set: &[(String, u32)]) {
        if let Some((server, link)) = self.interpreter_link() {
            for (m, l) in set {
                let point = tuple(vec![atom(m), int(*l as i64)]);
                let _ = rpc::gen_cast(&link, server, tuple(vec![atom("delete_break"), point]));
            }
        }
        if let Some(slot) = slot {
            let _ = self
                .cluster
                .call(node, "orbit_dbg", "clear_conditions", vec![list(vec![int(slot as i64)])], CALL)
                .await;
            self.breakpoints.free_slot(slot);
        }
    }

    pub(super) async fn end_crossing(&mut self, index: usize) {
        let c = self.step_into.crossings.remove(index);
        self.release(c).await;
        self.register_cleanup_everywhere().await;
    }

    /// A stop of thread `id` (process `pid`) at `module:line`, as far as steps into other processes are
    /// concerned; `None`: an ordinary stop.
    pub(super) async fn crossing_stop(
        &mut self,
        id: i64,
        pid: &Pid,
        module: &str,
        line: u32,
        level: i64,
    ) -> Option<CrossingStop> {
        // The receiving process, stopped by the trap.
        if let Some(i) = self.step_into.landing(pid, module, line) {
            let c = &mut self.step_into.crossings[i];
            c.callee = Some(id);
            let (caller, sync, node) = (c.caller, c.sync, c.node.clone());
            let landed = c.caller_landed.take();
            let set = std::mem::take(&mut c.set);
            let slot = c.slot.take();
            let label = c.label();
            // The trap has done its work: later calls go their way.
            self.remove_trap(&node, slot, &set).await;
            let mut prefix = Vec::new();
            let waiting = self.threads.get(caller).and_then(|t| match (&t.state, &t.last_resume) {
                (ThreadState::Running, Some((_, m, l, le))) => Some((m.clone(), *l, *le)),
                _ => None,
            });
            if sync && self.step_into.crossings[i].caller_gone {
                // A tail call: nothing of the caller to show or come back to.
                self.end_crossing(i).await;
            } else if sync {
                if let Some((m, l, le)) = waiting {
                    self.threads.set_state(caller, ThreadState::Awaiting { module: m, line: l, level: le });
                    prefix.push(EngineEvent::Stopped {
                        thread: caller,
                        reason: StopReason::Step,
                        description: format!("awaiting {node}"),
                        text: Some(format!("{} is waiting for the answer of {label}", self.thread_label(caller))),
                        breakpoints: Vec::new(),
                    });
                }
            } else if let Some((m, l, le)) = landed {
                // A cast or message: the caller's step ended first; show it with the receiver's stop.
                self.threads.set_state(caller, ThreadState::Stopped { module: m, line: l, level: le });
                prefix.push(self.step_stop(caller));
                self.end_crossing(i).await;
            }
            return Some(CrossingStop::SteppedIn { before: prefix, from: self.thread_label(caller) });
        }
        // The caller, whose step over its line has ended.
        let i = self.step_into.of_caller(id)?;
        let c = &mut self.step_into.crossings[i];
        if !c.sync && c.callee.is_none() {
            c.caller_landed = Some((module.to_string(), line, level));
            c.deadline = Some(Instant::now() + ASYNC_WAIT);
            self.threads.set_state(id, ThreadState::Stopped { module: module.to_string(), line, level });
            return Some(CrossingStop::Quiet);
        }
        let go_on = c.continue_caller;
        self.end_crossing(i).await;
        if go_on {
            if let Some(meta) = self.threads.get(id).and_then(|t| t.meta.clone()) {
                if let Some(link) = self.cluster.link(&pid.node.name) {
                    let _ = link.send(&meta, meta_cmd_msg("continue"));
                    self.threads.set_state(id, ThreadState::Running);
                    return Some(CrossingStop::Quiet);
                }
            }
        }
        None
    }

    /// The `stopped` event of a thread whose step ended where it now stands.
    fn step_stop(&self, thread: i64) -> EngineEvent {
        let node = self.threads.get(thread).map(|t| t.node.clone()).unwrap_or_default();
        EngineEvent::Stopped {
            thread,
            reason: StopReason::Step,
            description: format!("step on {node}"),
            text: Some(self.thread_label(thread)),
            breakpoints: Vec::new(),
        }
    }

    /// Casts and messages that no process took in time: the caller's stop is shown alone.
    pub(super) async fn expire_crossings(&mut self) -> Vec<EngineEvent> {
        let now = Instant::now();
        let mut events = Vec::new();
        while let Some(i) = self.step_into.crossings.iter().position(|c| c.deadline.is_some_and(|d| d <= now)) {
            let caller = self.step_into.crossings[i].caller;
            let label = self.step_into.crossings[i].label();
            if self.step_into.crossings[i].caller_gone {
                events.push(output(format!(
                    "{label} was not reached within {} s: the step into it is given up\n",
                    TAIL_WAIT.as_secs()
                )));
                self.end_crossing(i).await;
                continue;
            }
            events.push(output(format!(
                "{label} did not take the message within {} s: the step stays in {}\n",
                ASYNC_WAIT.as_secs(),
                self.thread_label(caller)
            )));
            events.push(self.step_stop(caller));
            self.end_crossing(i).await;
        }
        events
    }

    /// Thread `thread` left interpreted code. A crossing whose call it made as its last act (a tail call:
    /// it waits for the answer natively) goes on until the receiving process is trapped; the others end,
    /// and one whose message no process has taken yet (a cast, the caller's last act) says so.
    pub(super) async fn caller_left(&mut self, thread: i64) -> Vec<EngineEvent> {
        let deadline = Instant::now() + TAIL_WAIT;
        for c in self.step_into.crossings.iter_mut().filter(|c| c.caller == thread && c.sync && c.callee.is_none()) {
            c.caller_gone = true;
            c.deadline = Some(deadline);
        }
        let mut events = Vec::new();
        while let Some(i) = self.step_into.crossings.iter().position(|c| c.caller == thread && !c.caller_gone) {
            events.extend(self.give_up(i).await);
        }
        events
    }

    /// A thread that is gone (exited, its node down) ends the crossings it takes part in.
    pub(super) async fn forget_crossings_of(&mut self, thread: i64) -> Vec<EngineEvent> {
        let mut events = Vec::new();
        while let Some(i) = self.step_into.crossings.iter().position(|c| c.caller == thread) {
            events.extend(self.give_up(i).await);
        }
        events
    }

    /// Ends crossing `i` whose caller left; one whose message no process took yet says so.
    async fn give_up(&mut self, i: usize) -> Option<EngineEvent> {
        let c = &self.step_into.crossings[i];
        let note = c.callee.is_none().then(|| {
            output(format!(
                "{} had not taken the message when {} left: the step into it is given up\n",
                c.label(),
                self.thread_label(c.caller)
            ))
        });
        self.end_crossing(i).await;
        note
    }

    /// The `→ awaiting …` frame of a caller waiting for an answer.
    pub(super) fn awaiting_frame(&self, caller: i64) -> Option<MarkerFrame> {
        let (callee, label) = self.step_into.awaited_by(caller)?;
        let place = callee.and_then(|c| self.threads.get(c)).and_then(|t| match &t.state {
            ThreadState::Stopped { module, line, .. } => Some((module.clone(), *line)),
            _ => None,
        });
        Some(MarkerFrame { name: format!("→ awaiting {label}"), thread: callee, place })
    }

    /// Who waits for the answer of the paused process of `meta` on `node`, as a frame below its own.
    pub(super) async fn called_by_frame(&self, node: &str, meta: &Pid) -> Option<MarkerFrame> {
        let r = self.cluster.call(node, "orbit_dbg", "caller", vec![Term::from(meta.clone())], CALL).await.ok()?;
        let [Term::Pid(caller), how, mfa] = ok_value(&r)? else { return None };
        let how = if is_atom(how, "erpc") { "called over :erpc by" } else { "GenServer.call from" };
        let thread = self.threads.id_of(caller);
        let place = thread.and_then(|id| self.threads.get(id)).and_then(|t| match &t.state {
            ThreadState::Stopped { module, line, .. } | ThreadState::Awaiting { module, line, .. } => {
                Some((module.clone(), *line))
            }
            _ => None,
        });
        let function = match (&place, as_tuple(mfa)) {
            (Some((m, l)), _) => self.modules.function_at(m, *l),
            (None, Some([m, f, a])) => match (as_atom(m), as_atom(f), as_integer(a)) {
                (Some(m), Some(f), Some(a)) => function_display(m, f, a as u32),
                _ => String::new(),
            },
            _ => String::new(),
        };
        let name = format!("← {how} {} #PID<0.{}.{}> {function}", caller.node.name, caller.id, caller.serial)
            .trim_end()
            .to_string();
        Some(MarkerFrame { name, thread, place })
    }

    /// The console line for a step that goes over its line instead of into another process.
    pub(super) fn step_over_note(&self, thread: i64, why: &str) -> EngineEvent {
        output(format!("{}: stepIn steps over the line: {why}\n", self.thread_label(thread)))
    }

    /// Interprets `module` on `node` for a step, unless it is already; true if it was made for the step.
    async fn interpret_for_step(&mut self, module: &str, node: &str) -> Result<bool, String> {
        if self.modules.interpreted_on(module, node) {
            return Ok(false);
        }
        self.cluster
            .refuse(crate::read_only::Change::Interpret { module: &module_display(module) })
            .map_err(|e| e.to_string())?;
        let md5 = match self.modules.server_md5(module) {
            Some(md5) => md5,
            None => {
                let server = self.interpreter().map_err(|e| e.0)?.0.clone();
                let args = vec![Term::from(server), atom(module)];
                let load = self.cluster.call(node, "orbit_dbg", "load_into_server", args, CALL).await;
                match load.as_ref().ok().and_then(ok_value) {
                    Some([md5]) => {
                        self.modules.loaded_for_step(module, md5.clone());
                        md5.clone()
                    }
                    _ => {
                        let why = match load {
                            Ok(t) => text(&t),
                            Err(e) => e.to_string(),
                        };
                        return Err(format!("cannot interpret {} on {node}: {why}", module_display(module)));
                    }
                }
            }
        };
        let r = self
            .cluster
            .call(node, "orbit_dbg", "interpret", vec![atom(module), md5], CALL)
            .await
            .map_err(|e| e.to_string())?;
        if is_atom(&r, "ok") {
            Ok(true)
        } else {
            Err(format!("cannot interpret {} on {node}: {}", module_display(module), self.refusal_text(node, &r)))
        }
    }
}
