//! Processes shown as threads: the registry (ids, pids, states), attaching to a process in the
//! interpreter server and detaching from it, and how a thread is named.

use super::util::{ok_value, rpc_err};
use super::{forward, IntEngine, Raw, CALL};
use crate::debugger::names::module_display;
use crate::debugger::{DebugError, Resume, ThreadInfo};
use crate::processes::{label_text, process_name};
use crate::term::{as_atom, as_tuple, atom, is_atom};
use eetf::{Pid, Term};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum ThreadState {
    /// Known to run interpreted code; not stopped.
    Running,
    /// At a breakpoint or step, in interpreted code.
    Stopped {
        module: String,
        line: u32,
        level: i64,
    },
    /// Stepped over a line that calls another process, which stopped in the code that takes the call:
    /// waiting for its answer (see step_into.rs), at its line, shown as stopped.
    Awaiting {
        module: String,
        line: u32,
        level: i64,
    },
    /// Suspended by Orbit; not interpreted.
    Suspended,
    /// Crashed; the interpreter keeps its last frame for inspection.
    PostMortem {
        module: Option<String>,
        line: Option<u32>,
        reason: String,
    },
    /// Left interpreted code a moment ago: still shown for `IDLE_GRACE`, so that a process that comes
    /// straight back (a loop, a GenServer's next call) stops again without a thread-exited/started pair
    /// (two messages per pass at the editor). `Raw::Idle` with the same `since` ends it.
    Idle {
        since: u64,
    },
    Exited,
}

/// How long a thread that left interpreted code stays shown (see `ThreadState::Idle`).
pub(super) const IDLE_GRACE: std::time::Duration = std::time::Duration::from_millis(300);

#[derive(Debug)]
pub(super) struct Thread {
    pub(super) id: i64,
    pub(super) pid: Pid,
    pub(super) node: String,
    /// Its registered name and process label (see `thread_name_of`).
    pub(super) name: Option<String>,
    /// Whether its name was asked for: once per thread, so that the passes of an unnamed long-lived
    /// process cost no call to its node.
    pub(super) name_asked: bool,
    pub(super) state: ThreadState,
    pub(super) meta: Option<Pid>,
    /// The pid Orbit attached with (its own mailbox); detaching is an exit signal from it.
    pub(super) attach_pid: Option<Pid>,
    pub(super) forwarder: Option<tokio::task::JoinHandle<()>>,
    /// How the thread was last resumed, and from where (module, line, level).
    pub(super) last_resume: Option<(Resume, String, u32, i64)>,
    pub(super) pausing: bool,
    /// Assignments Orbit made in the frame whose `running`/`break_at` echo from the interpreter is still due.
    pub(super) echoes: u32,
    /// Values kept on the node for the editor to expand (evaluation results), forgotten on resume.
    pub(super) stored: Vec<i64>,
    /// A caller held (suspended) while thread `held_for` is paused (see holds.rs).
    pub(super) held_for: Option<i64>,
    /// Counts its stops, so that what is worked out after a stop is not applied to a later one.
    pub(super) stops: u64,
    /// It left interpreted code in the middle of a step, still armed in its meta (see `stops.rs`).
    pub(super) left_armed: bool,
    /// Where Orbit just let such a call go on (`left_armed`): the interpreter may report that same break
    /// once more (to the attachment made meanwhile) before it reports running; that report is no stop.
    pub(super) let_go_at: Option<(String, u32, i64)>,
    /// Its crash was shown (post mortem): the same crash reported again (by the server's exit status as
    /// well as by its meta) is not shown twice.
    pub(super) crash_shown: bool,
}

/// Every process the session has shown as a thread, by id and by pid.
pub(super) struct Threads {
    threads: BTreeMap<i64, Thread>,
    by_pid: HashMap<Pid, i64>,
    next_id: i64,
}

impl Default for Threads {
    fn default() -> Self {
        Threads { threads: BTreeMap::new(), by_pid: HashMap::new(), next_id: 1 }
    }
}

impl Threads {
    /// The thread of `pid`, made if new (then `true`).
    pub(super) fn by_pid(&self, pid: &Pid) -> Option<i64> {
        self.by_pid.get(pid).copied()
    }

    pub(super) fn for_pid(&mut self, pid: &Pid) -> (i64, bool) {
        if let Some(id) = self.by_pid.get(pid) {
            return (*id, false);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.by_pid.insert(pid.clone(), id);
        self.threads.insert(
            id,
            Thread {
                id,
                pid: pid.clone(),
                node: pid.node.name.clone(),
                name: None,
                name_asked: false,
                state: ThreadState::Running,
                meta: None,
                attach_pid: None,
                forwarder: None,
                last_resume: None,
                pausing: false,
                echoes: 0,
                stored: Vec::new(),
                held_for: None,
                stops: 0,
                left_armed: false,
                let_go_at: None,
                crash_shown: false,
            },
        );
        (id, true)
    }

    pub(super) fn id_of(&self, pid: &Pid) -> Option<i64> {
        self.by_pid.get(pid).copied()
    }

    pub(super) fn get(&self, id: i64) -> Option<&Thread> {
        self.threads.get(&id)
    }

    pub(super) fn get_mut(&mut self, id: i64) -> Option<&mut Thread> {
        self.threads.get_mut(&id)
    }

    /// A thread the editor still shows (not exited).
    pub(super) fn live(&self, id: i64) -> Result<&Thread, DebugError> {
        self.threads
            .get(&id)
            .filter(|t| t.state != ThreadState::Exited)
            .ok_or_else(|| DebugError(format!("no thread {id}")))
    }

    pub(super) fn ids(&self) -> Vec<i64> {
        self.threads.keys().copied().collect()
    }

    pub(super) fn set_state(&mut self, id: i64, state: ThreadState) {
        if let Some(t) = self.threads.get_mut(&id) {
            t.state = state;
        }
    }

    /// Forgets the attachment without telling the server (it failed, or the node is gone).
    pub(super) fn forget_attachment(&mut self, id: i64) {
        if let Some(t) = self.threads.get_mut(&id) {
            t.attach_pid = None;
            if let Some(f) = t.forwarder.take() {
                f.abort();
            }
        }
    }

    /// The threads of a node that left, marked exited. Returns their ids.
    pub(super) fn lose_node(&mut self, node: &str) -> Vec<i64> {
        let gone: Vec<i64> =
            self.threads.values().filter(|t| t.node == node && t.state != ThreadState::Exited).map(|t| t.id).collect();
        for &id in &gone {
            self.set_state(id, ThreadState::Exited);
            self.forget_attachment(id);
        }
        gone
    }
}

impl IntEngine {
    /// The threads the editor shows.
    pub(super) fn thread_infos(&self) -> Vec<ThreadInfo> {
        self.threads
            .threads
            .values()
            .filter(|t| t.state != ThreadState::Exited)
            .map(|t| ThreadInfo { id: t.id, name: self.thread_name(t) })
            .collect()
    }

    /// Attaches to a process from a mailbox of its own (one per thread, so detaching one is an exit
    /// signal from that pid alone). Done by `orbit_dbg:attach/3` on the server's node, which first checks
    /// that the server still knows the process: attaching to one it does not know crashes the server.
    /// False when the server no longer knows it (nothing to show).
    pub(super) async fn attach_thread(&mut self, id: i64) -> Result<bool, DebugError> {
        let (server, server_node) = {
            let (s, n) = self.interpreter()?;
            (s.clone(), n.to_string())
        };
        let Some(thread) = self.threads.get(id) else { return Ok(false) };
        if thread.attach_pid.is_some() {
            return Ok(true);
        }
        let pid = thread.pid.clone();
        let mailbox = self.cluster.open_mailbox();
        let att = mailbox.pid().clone();
        let forwarder = forward(mailbox, self.raw_tx.clone(), move |d| Raw::Thread(id, d));
        if let Some(t) = self.threads.get_mut(id) {
            t.attach_pid = Some(att.clone());
            t.forwarder = Some(forwarder);
        }
        let reply = self
            .cluster
            .call(&server_node, "orbit_dbg", "attach", vec![Term::from(server), Term::from(att), Term::from(pid)], CALL)
            .await;
        match reply {
            Ok(r) => {
                if let Some([Term::Pid(meta)]) = ok_value(&r) {
                    if let Some(t) = self.threads.get_mut(id) {
                        t.meta.get_or_insert_with(|| meta.clone());
                    }
                    Ok(true)
                } else {
                    self.threads.forget_attachment(id);
                    if is_atom(&r, "error") {
                        Err(DebugError(format!(
                            "{}: another debugger is attached to this process (e.g. :debugger or another Orbit)",
                            self.thread_label(id)
                        )))
                    } else {
                        // Gone from the interpreter meanwhile (exited and cleared): nothing to show.
                        Ok(false)
                    }
                }
            }
            Err(e) => {
                self.threads.forget_attachment(id);
                Err(rpc_err(e))
            }
        }
    }

    /// Ends the attachment: the server takes the exit signal as a detach; the process itself goes on.
    pub(super) fn detach_thread(&mut self, id: i64) {
        let interpreter = self.interpreter_link().map(|(s, l)| (s.clone(), l));
        if let Some(t) = self.threads.get_mut(id) {
            if let (Some(att), Some((server, link))) = (t.attach_pid.take(), interpreter) {
                let _ = link.exit(&att, &server, atom("normal"));
            }
            if let Some(f) = t.forwarder.take() {
                f.abort();
            }
            t.meta = None;
        }
    }

    /// How a thread is named besides its pid, asked of its node once (`orbit_procs:names/1`): its
    /// registered name (`Bank.Mailbox`, `code_server`), its process label (`:proc_lib.set_label/1`,
    /// OTP 27+; in Elixir syntax, `{Bank.Account, "acc-1"}`), both, or nothing.
    pub(super) async fn thread_name_of(&self, node: &str, pid: &Pid) -> Option<String> {
        let r = self.cluster.call(node, "orbit_procs", "names", vec![Term::from(pid.clone())], CALL).await.ok()?;
        let [name, label] = as_tuple(&r)? else { return None };
        let name = as_atom(name).filter(|n| *n != "undefined").map(module_display);
        process_name(name.as_deref(), label_text(label).as_deref())
    }

    /// `node #PID<0.N.M> name function`, as the editor lists the thread.
    fn thread_name(&self, t: &Thread) -> String {
        let pid = format!("#PID<0.{}.{}>", t.pid.id, t.pid.serial);
        let who = t.name.clone().map(|n| format!(" {n}")).unwrap_or_default();
        let at = match &t.state {
            ThreadState::Stopped { module, line, .. } => format!(" {}", self.modules.function_at(module, *line)),
            ThreadState::Awaiting { module, line, .. } => {
                format!(" {} (awaiting an answer)", self.modules.function_at(module, *line))
            }
            ThreadState::PostMortem { module: Some(m), line: Some(l), .. } => {
                format!(" {}", self.modules.function_at(m, *l))
            }
            ThreadState::Suspended => match t.held_for {
                Some(id) => format!(" (held for thread {id} while it is paused)"),
                None => " (suspended)".to_string(),
            },
            _ => String::new(),
        };
        format!("{} {pid}{who}{at}", t.node)
    }

    pub(super) fn thread_label(&self, id: i64) -> String {
        if Self::owns_native(id) {
            return self.native.label(id);
        }
        self.threads.get(id).map(|t| self.thread_name(t)).unwrap_or_default()
    }
}
