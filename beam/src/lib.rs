//! Orbit's core: everything that knows the BEAM.
//!
//! `link` is one connection to one node; `rpc` calls functions through it; `cluster` keeps a connection to
//! every node of a cluster; `agent` installs Orbit's helper modules on the nodes; `term` renders what nodes
//! return, in Elixir or Erlang syntax.

// Errors carry the node's own terms (exception reasons, stacks) so the user sees them as the node reported
// them; boxing each one would only add noise at every match.
#![allow(clippy::result_large_err)]

pub mod agent;
pub mod cluster;
pub mod debugger;
pub mod health;
pub mod launch;
pub mod link;
pub mod names;
pub mod processes;
pub mod profile;
pub mod read_only;
pub mod reload;
pub mod rpc;
pub mod sandbox;
pub mod term;
pub mod trace;
