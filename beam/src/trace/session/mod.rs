//! A trace session across the cluster: checks, starts a tracer on every chosen node (after registering
//! its clean-up with the agent), collects the batches the tracers send, enforces the limit overall,
//! follows nodes that join, and stops everything when asked, when a limit trips, or when dropped.
//!
//! By layer: `model` (what a session is asked to do and reports, and the session-wide limit: pure), `wire`
//! (what `orbit_trace` is sent and answers), `ops` (checks, tracers started and stopped), `collector` (the
//! task that runs a session) and `handle` ([`TraceSession`], what its owner holds).

mod collector;
mod handle;
mod model;
mod ops;
mod wire;

pub use handle::TraceSession;
pub use model::{
    CallTrace, MatchSpec, MessageTrace, NodeStatus, TraceError, TraceSpec, TraceStopReason, TraceUpdate, HISTORY_MAX,
    UPDATES_MAX,
};
pub use ops::{pid_on, start};
