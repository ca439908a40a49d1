//! Tracing: call tracing of `Mod.fun/arity` patterns (with argument match specs and return values) and
//! message tracing of chosen processes, on all nodes or chosen ones, with recon_trace's safety.
//!
//! - `pattern`: what to trace as people write it (Elixir or Erlang form), the safety rule, the limit.
//! - `session`: checks, starts a tracer on each node (`orbit_trace` in the agent), collects its batches,
//!   enforces the limit overall, follows nodes that join, stops everything on request, trip or drop.
//! - `event`: the events the tracers forward; `flow`: sends paired with receives across nodes, and the
//!   summary; `render`: lines, JSON, Mermaid and DOT.
//!
//! Safety: a limit is mandatory, a count or a rate, applied by each node's tracer and to the whole
//! session, and the trace stops (saying why) when it trips. A node has one trace session at a time (a
//! second one of the same Orbit replaces the first; another Orbit is refused). Patterns too broad
//! (every function of `lists`, `io`, … or of every module) are refused unless narrowed. Before a tracer
//! starts, its clean-up is registered with the agent, so every flag and pattern goes when Orbit
//! disconnects or vanishes.

mod event;
mod flow;
mod pattern;
pub mod render;
mod session;

pub use event::{decode_event, Destination, EventKind, TraceEvent, TracedProcess};
pub use flow::{match_messages, summarize, Count, MessageFlow, PairCount, Participant, Summary};
pub use pattern::{
    function_text, module_text, CallForm, CallPattern, Limit, PatternError, ProcessSelector, HOT_MODULES,
};
pub use session::{
    pid_on, start, CallTrace, MatchSpec, MessageTrace, NodeStatus, TraceError, TraceSession, TraceSpec,
    TraceStopReason, TraceUpdate, HISTORY_MAX, UPDATES_MAX,
};
