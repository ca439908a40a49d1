//! Leaving every node as it was: what `orbit_dbg:cleanup/2` must undo, registered with each node's agent
//! (which runs it by itself if Orbit vanishes), and ending the session, which runs that same clean-up.

use super::util::text;
use super::IntEngine;
use crate::term::{atom, int, is_atom, list, tuple};
use eetf::Term;
use std::time::Duration;

impl IntEngine {
    /// The arguments of `orbit_dbg:cleanup/2`: the modules Orbit interpreted and every breakpoint point.
    fn cleanup_args(&self) -> Vec<Term> {
        let mods = list(self.modules.in_server().map(atom).collect());
        let points = self.breakpoints.points().into_iter().chain(self.step_into.points());
        let breaks = list(points.map(|(m, l)| tuple(vec![atom(&m), int(l as i64)])).collect());
        vec![mods, breaks]
    }

    /// What `orbit_dbg:cleanup/2` must undo on `node`, kept current with the agent; and, once the session
    /// has tracepoints, `orbit_dbg_trace:cleanup/2` (every trace pattern they set).
    pub(super) async fn register_cleanup(&self, node: &str) {
        let args = self.cleanup_args();
        if let Err(e) = self.cluster.register_cleanup(node, atom("orbit_dbg"), "orbit_dbg", "cleanup", args).await {
            tracing::warn!("{node}: cannot register the debugger clean-up: {e}");
        }
        if let Some(args) = self.trace_cleanup_args() {
            let key = atom("orbit_dbg_trace");
            if let Err(e) = self.cluster.register_cleanup(node, key, "orbit_dbg_trace", "cleanup", args).await {
                tracing::warn!("{node}: cannot register the tracepoints' clean-up: {e}");
            }
        }
    }

    pub(super) async fn register_cleanup_everywhere(&self) {
        let nodes = self.awake(self.ready_nodes.list());
        futures::future::join_all(nodes.iter().map(|n| self.register_cleanup(n))).await;
    }

    /// Undoes everything the session did on every node. Returns what could not be undone.
    pub(super) async fn end(&mut self) -> Vec<String> {
        if self.ended {
            return Vec::new();
        }
        self.ended = true;
        // Let go of the interpreter first (a server Orbit started is stopped by the clean-up only when no
        // one is subscribed to it), then run on every node the clean-up that each node's agent would run
        // by itself had Orbit vanished: one code path for both.
        for id in self.threads.ids() {
            self.detach_thread(id);
        }
        if let Some((server, link)) = self.interpreter_link() {
            let _ = link.exit(&self.sub_pid, server, atom("normal"));
        }
        // Native breakpoints first: cleared, their paused processes resumed, original code back.
        let mut notes = self.native.end(&self.cluster).await;
        let nodes: Vec<String> = self.cluster.up_nodes();
        if let Some(args) = self.trace_cleanup_args() {
            // Tracepoints first: their tracers stop and every trace pattern goes.
            let t = Duration::from_secs(30);
            let results = futures::future::join_all(
                nodes.iter().map(|n| self.cluster.call(n, "orbit_dbg_trace", "cleanup", args.clone(), t)),
            )
            .await;
            for (n, r) in nodes.iter().zip(results) {
                if let Err(e) = r {
                    notes.push(format!("{n}: tracepoint clean-up failed: {e}"));
                }
                let _ = self.cluster.unregister_cleanup(n, atom("orbit_dbg_trace")).await;
            }
        }
        let args = self.cleanup_args();
        let results = futures::future::join_all(
            nodes.iter().map(|n| self.cluster.call(n, "orbit_dbg", "cleanup", args.clone(), Duration::from_secs(60))),
        )
        .await;
        for (n, r) in nodes.iter().zip(results) {
            match r {
                Ok(t) if is_atom(&t, "ok") => {}
                Ok(t) => notes.push(format!("{n}: clean-up left something behind: {}", text(&t))),
                Err(e) => notes.push(format!("{n}: clean-up failed: {e}")),
            }
            let _ = self.cluster.unregister_cleanup(n, atom("orbit_dbg")).await;
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
        notes
    }
}
