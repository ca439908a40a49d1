//! Orbit's core: everything that knows the BEAM.
//!
//! `link` is one connection to one node; `rpc` calls functions through it; `cluster` keeps a connection to
//! every node of a cluster; `agent` installs Orbit's helper modules on the nodes; `term` renders what nodes
//! return, in Elixir or Erlang syntax.

pub mod agent;
pub mod cluster;
pub mod health;
pub mod link;
pub mod rpc;
pub mod term;
