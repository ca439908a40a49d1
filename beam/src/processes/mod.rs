//! Processes across the cluster: listing with filters, sorting and pages (the work is done on each node
//! by the agent's `orbit_procs`, which returns only the head of its own sorted list), one process in
//! detail (stacktrace, `:sys.get_state`, links and monitors), killing one, the graph of links and
//! monitors across nodes, and supervision trees.
//!
//! Pids are node-local: `#PID<0.123.0>` is shown from the point of view of the node the process lives on,
//! and the node is always given beside it.
//!
//! By layer: `model` (what listings, details, graphs and trees are; how people name processes: pure),
//! `wire` (`orbit_procs`'s answers decoded) and `ops` (the calls).

mod model;
mod ops;
mod wire;

pub use model::{
    parse_reason, process_name, EdgeKind, Fetched, GraphEdge, GraphVertex, InfoOptions, KillOutcome, Mfa, ProcessError,
    ProcessGraph, ProcessInfo, ProcessPage, ProcessQuery, ProcessRef, ProcessSpec, ProcessSummary, SortBy, StackFrame,
    SupervisionNode, MAX_WINDOW, STATUSES,
};
pub use ops::{graph, info, kill, list, resolve, supervision_tree};
pub use wire::{label_text, local_pid_text};
