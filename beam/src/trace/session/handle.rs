//! The running session as its owner holds it: updates, history, stop, and the summaries of what it saw.

use super::collector::{Control, Shared};
use super::model::{NodeStatus, TraceStopReason, TraceUpdate};
use crate::names::Lang;
use crate::trace::event::TraceEvent;
use crate::trace::flow::{match_messages, summarize, MessageFlow, Summary};
use crate::trace::render;
use eetf::Pid;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// A running (or finished) trace session. Dropping it stops the trace on every node.
#[derive(Debug)]
pub struct TraceSession {
    pub(super) id: Pid,
    pub(super) syntax: Lang,
    pub(super) updates: mpsc::Receiver<TraceUpdate>,
    pub(super) shared: Arc<Mutex<Shared>>,
    pub(super) control: mpsc::UnboundedSender<Control>,
    pub(super) done: watch::Receiver<Option<TraceStopReason>>,
    pub(super) task: Option<tokio::task::JoinHandle<()>>,
}

impl TraceSession {
    /// The session's id: the Orbit pid its tracers send to.
    pub fn id(&self) -> &Pid {
        &self.id
    }

    /// The syntax the patterns were written in, for rendering.
    pub fn syntax(&self) -> Lang {
        self.syntax
    }

    /// The next update, live; `None` once [`TraceUpdate::Stopped`] was delivered.
    pub async fn next(&mut self) -> Option<TraceUpdate> {
        self.updates.recv().await
    }

    /// Stops the trace on every node (flags and patterns removed) and returns why the session ended
    /// (`Stopped`, or an earlier reason if it had ended already).
    pub async fn stop(&mut self) -> TraceStopReason {
        let _ = self.control.send(Control::Stop);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.stop_reason().unwrap_or(TraceStopReason::Stopped)
    }

    /// Waits until the session ends by itself (limit, duration, nodes gone) and returns why.
    pub async fn wait(&mut self) -> TraceStopReason {
        loop {
            if let Some(r) = self.done.borrow_and_update().clone() {
                return r;
            }
            if self.done.changed().await.is_err() {
                return self.done.borrow().clone().unwrap_or(TraceStopReason::Stopped);
            }
        }
    }

    pub fn is_running(&self) -> bool {
        self.done.borrow().is_none()
    }

    /// Why the session ended, once it has.
    pub fn stop_reason(&self) -> Option<TraceStopReason> {
        self.done.borrow().clone()
    }

    /// Every node's part so far.
    pub fn nodes(&self) -> BTreeMap<String, NodeStatus> {
        self.shared.lock().unwrap().nodes.clone()
    }

    /// The events so far, in arrival order (per node, in the order its tracer saw them). At most
    /// [`HISTORY_MAX`](super::HISTORY_MAX); see [`TraceSession::forgotten`].
    pub fn history(&self) -> Vec<TraceEvent> {
        self.shared.lock().unwrap().history.iter().cloned().collect()
    }

    /// Events the history no longer holds, and events dropped past the session's limit.
    pub fn forgotten(&self) -> (u64, u64) {
        let s = self.shared.lock().unwrap();
        (s.forgotten, s.dropped)
    }

    pub fn summary(&self) -> Summary {
        summarize(&self.history(), self.syntax)
    }

    pub fn flows(&self) -> Vec<MessageFlow> {
        match_messages(&self.history())
    }

    pub fn mermaid(&self) -> String {
        render::mermaid(&self.history(), self.syntax)
    }

    pub fn dot(&self) -> String {
        render::dot(&self.history(), self.syntax)
    }
}

impl Drop for TraceSession {
    fn drop(&mut self) {
        // The collector stops every tracer when its control channel closes.
        let _ = self.control.send(Control::Stop);
    }
}
