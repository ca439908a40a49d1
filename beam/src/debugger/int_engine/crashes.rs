//! Crashes: the exception filters the editor turns on (stop at crashes of interpreted code; crash reports
//! from every node, forwarded by an agent handler) and the crash reports as console output.

use super::util::{rpc_err, text};
use super::{IntEngine, CALL};
use crate::debugger::names::{function_display, Lang};
use crate::debugger::{DebugError, EngineEvent, OutputCategory, FILTER_CRASHES, FILTER_CRASH_REPORTS};
use crate::term::{as_atom, as_integer, as_list, as_str, as_tuple};
use eetf::Term;
use std::collections::BTreeSet;

/// The exception filters turned on.
#[derive(Default)]
pub(super) struct ExceptionFilters {
    on: BTreeSet<String>,
}

impl ExceptionFilters {
    /// Crashed processes stop for post-mortem inspection.
    pub(super) fn stops_at_crashes(&self) -> bool {
        self.on.contains(FILTER_CRASHES)
    }

    /// Crash reports from every node show in the console.
    pub(super) fn reports_crashes(&self) -> bool {
        self.on.contains(FILTER_CRASH_REPORTS)
    }
}

impl IntEngine {
    pub(super) async fn set_exception_filters(&mut self, filters: &[String]) -> Result<(), DebugError> {
        let known = [FILTER_CRASHES, FILTER_CRASH_REPORTS];
        if let Some(bad) = filters.iter().find(|f| !known.contains(&f.as_str())) {
            return Err(DebugError(format!("unknown exception filter '{bad}' (known: {})", known.join(", "))));
        }
        let wanted: BTreeSet<String> = filters.iter().cloned().collect();
        let reports_now = wanted.contains(FILTER_CRASH_REPORTS);
        let reports_before = self.filters.reports_crashes();
        self.filters.on = wanted;
        if reports_now != reports_before {
            let nodes = self.ready_nodes.list();
            let events = Term::from(self.events_pid.clone());
            let results = futures::future::join_all(nodes.iter().map(|n| {
                let (f, args) = if reports_now {
                    ("install_crash_forwarder", vec![events.clone()])
                } else {
                    ("remove_crash_forwarder", vec![])
                };
                self.node_call(n, "orbit_dbg", f, args)
            }))
            .await;
            for r in results {
                r.map_err(rpc_err)?;
            }
        }
        Ok(())
    }

    /// Starts forwarding crash reports from a node that was just prepared, if they are wanted.
    pub(super) async fn forward_crash_reports_from(&self, node: &str) {
        if self.filters.reports_crashes() {
            let _ = self
                .cluster
                .call(node, "orbit_dbg", "install_crash_forwarder", vec![Term::from(self.events_pid.clone())], CALL)
                .await;
        }
    }

    /// A crash report a node forwarded: who crashed, why, and where (in local files when known).
    pub(super) fn crash_report(
        &self,
        node: &Term,
        who: &Term,
        report: &Term,
        frames: &Term,
        reason: &Term,
    ) -> Vec<EngineEvent> {
        if !self.filters.reports_crashes() {
            return Vec::new();
        }
        let node = as_atom(node).unwrap_or("?").to_string();
        let who = match who {
            Term::Pid(p) => format!("#PID<0.{}.{}>", p.id, p.serial),
            other => self.render(&node, Lang::Elixir, other),
        };
        let mut out = format!("crash on {node}: {who} exited: {}\n", self.render(&node, Lang::Elixir, reason));
        for f in as_list(frames).map(|l| l.to_vec()).unwrap_or_default() {
            if let Some([m, fun, a, file, line]) = as_tuple(&f).and_then(|t| <&[Term; 5]>::try_from(t).ok()) {
                let (Some(m), Some(fun), Some(a)) = (as_atom(m), as_atom(fun), as_integer(a)) else { continue };
                let place = match (self.modules.path_of(m), as_integer(line)) {
                    (Some(p), Some(l)) => format!("{}:{l}", p.display()),
                    (None, Some(l)) => format!("{}:{l}", as_str(file).unwrap_or("?")),
                    _ => String::new(),
                };
                out.push_str(&format!("    {} {place}\n", function_display(m, fun, a as u32)));
            }
        }
        if out.lines().count() == 1 {
            let t = text(report);
            if !t.is_empty() {
                out.push_str(&t);
                out.push('\n');
            }
        }
        vec![EngineEvent::Output { category: OutputCategory::Stderr, text: out }]
    }
}
