//! Callers held while the process they wait for is paused.
//!
//! A process stopped at a breakpoint is often serving a `GenServer.call` or an `:erpc`/`:rpc` call from
//! another process, maybe on another node, whose timeout (5 s by default) would run out while the user
//! reads the state. On nodes whose runtime stops the clocks of suspended processes (OTP 29 on), Orbit
//! suspends those callers (through their node's keeper) for as long as the stop lasts, and resumes them
//! when the stopped process goes on; they show as threads held for it. On older nodes suspending would
//! only move the timeout to the moment of resuming, so the console says once per stop which callers will
//! time out. `holdCallers: false` turns the holding off.

use super::threads::ThreadState;
use super::util::{output, text};
use super::{IntEngine, Raw, CALL};
use crate::debugger::EngineEvent;
use crate::term::{as_atom, as_list, as_tuple, is_atom};
use eetf::{Pid, Term};
use std::collections::HashMap;

/// How long after a stop its callers are looked for: a stop the user (or a script) continues at once costs
/// its node no call, and a caller's timeout (seconds) is far off.
pub(super) const CALLERS_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// The callers held for each stopped thread.
pub(super) struct Holds {
    off: bool,
    held: HashMap<i64, Vec<i64>>,
}

/// `[{Pid, How}]` from `orbit_dbg:waiting_callers/1`.
pub(super) fn parse_callers(t: &Term) -> Vec<(Pid, String)> {
    as_list(t)
        .map(|l| {
            l.iter()
                .filter_map(|c| match as_tuple(c)? {
                    [Term::Pid(p), how] => Some((p.clone(), as_atom(how)?.to_string())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn how_text(how: &str) -> &'static str {
    match how {
        "gen_server_call" => "a GenServer.call",
        _ => "an :erpc/:rpc call",
    }
}

impl Holds {
    pub(super) fn new(on: bool) -> Holds {
        Holds { off: !on, held: HashMap::new() }
    }
}

impl IntEngine {
    /// Asks the node of thread `id` who waits for its answer, if it is still at stop number `stop`.
    pub(super) fn ask_callers(&mut self, id: i64, stop: u64) {
        // A native thread's frames tell (orbit_native:callers/1); an interpreted one's meta does.
        let (node, module, function, arg) = if Self::owns_native(id) {
            let Some((node, pid)) = self.native.stopped(id).filter(|_| self.native.stop_number(id) == Some(stop))
            else {
                return;
            };
            (node, "orbit_native", "callers", Term::from(pid))
        } else {
            let Some(t) = self.threads.get(id) else { return };
            let (true, Some(meta)) = (self.still_at(id, stop), t.meta.clone()) else { return };
            (t.node.clone(), "orbit_dbg", "waiting_callers", Term::from(meta))
        };
        let (cluster, tx) = (self.cluster.clone(), self.raw_tx.clone());
        tokio::spawn(async move {
            if let Ok(r) = cluster.call(&node, module, function, vec![arg], CALL).await {
                let callers = parse_callers(&r);
                if !callers.is_empty() {
                    let _ = tx.send(Raw::Callers(id, stop, callers));
                }
            }
        });
    }

    fn still_at(&self, id: i64, stop: u64) -> bool {
        self.threads.get(id).is_some_and(|t| t.stops == stop && matches!(t.state, ThreadState::Stopped { .. }))
    }

    /// The callers of thread `id`, found after its stop was reported: held, or named on the console.
    pub(super) async fn on_callers(&mut self, id: i64, stop: u64, callers: Vec<(Pid, String)>) -> Vec<EngineEvent> {
        let still_stopped =
            if Self::owns_native(id) { self.native.stop_number(id) == Some(stop) } else { self.still_at(id, stop) };
        if !still_stopped || callers.is_empty() || self.holds.held.contains_key(&id) {
            return Vec::new();
        }
        let label = if Self::owns_native(id) { self.native.label(id) } else { self.thread_label(id) };
        let mut events = Vec::new();
        let mut held = Vec::new();
        let mut late = Vec::new();
        let up = self.cluster.up_nodes();
        for (pid, how) in callers {
            let node = pid.node.name.clone();
            if !up.contains(&node) {
                // A node outside the cluster (erl_call's, a hidden tool's): Orbit cannot reach it.
                continue;
            }
            let who = format!("#PID<0.{}.{}> on {node}", pid.id, pid.serial);
            if self.holds.off {
                late.push(format!("{who} ({} to it; holding callers is off: `holdCallers`)", how_text(&how)));
                continue;
            }
            if self.threads.by_pid(&pid).is_some_and(|c| !self.holds.held.values().any(|v| v.contains(&c))) {
                // Already a thread of its own (stopped or paused by the user): left as it is.
                continue;
            }
            match self.node_call(&node, "orbit_dbg", "hold", vec![Term::from(pid.clone())]).await {
                Ok(t) if is_atom(&t, "held") => {
                    let (caller, new) = self.threads.for_pid(&pid);
                    self.threads.set_state(caller, ThreadState::Suspended);
                    if let Some(t) = self.threads.get_mut(caller) {
                        t.held_for = Some(id);
                    }
                    if new {
                        events.push(EngineEvent::ThreadStarted { thread: caller });
                    }
                    held.push(caller);
                    events.push(output(format!(
                        "{} waits for {label} ({}): held while it is paused, so its timeout does not run out\n",
                        self.thread_label(caller),
                        how_text(&how)
                    )));
                }
                Ok(t) => {
                    // {not_held, <<"25">>}: the node's OTP release.
                    let release = as_tuple(&t)
                        .and_then(|p| p.get(1).and_then(crate::term::as_str))
                        .map(|r| format!("OTP {r}"))
                        .unwrap_or_else(|| text(&t));
                    late.push(format!(
                        "{who} ({} to it; {release} does not stop a suspended process's clock)",
                        how_text(&how)
                    ));
                }
                Err(e) => late.push(format!("{who} ({}; cannot hold it: {e})", how_text(&how))),
            }
        }
        if !held.is_empty() {
            self.holds.held.insert(id, held);
        }
        if !late.is_empty() {
            events.push(output(format!(
                "{label} is paused while callers wait for it, and they time out on their own timeout (5 s by default): {}\n",
                late.join("; ")
            )));
        }
        events
    }

    /// Resumes the callers held for thread `id` (it goes on, exits, or the session ends).
    pub(super) async fn release_holds(&mut self, id: i64) -> Vec<EngineEvent> {
        let Some(held) = self.holds.held.remove(&id) else { return Vec::new() };
        let mut events = Vec::new();
        for caller in held {
            let Some(t) = self.threads.get(caller) else { continue };
            if t.state != ThreadState::Suspended {
                continue;
            }
            let (node, pid) = (t.node.clone(), t.pid.clone());
            let _ = self.node_call(&node, "orbit_dbg", "resume", vec![Term::from(pid)]).await;
            self.threads.set_state(caller, ThreadState::Exited);
            if let Some(t) = self.threads.get_mut(caller) {
                t.held_for = None;
            }
            self.frames.invalidate(caller);
            events.push(EngineEvent::ThreadExited { thread: caller });
        }
        events
    }

    /// A held caller the user continued by hand: no longer held for anyone.
    pub(super) fn forget_hold(&mut self, caller: i64) {
        for v in self.holds.held.values_mut() {
            v.retain(|c| *c != caller);
        }
    }
}
