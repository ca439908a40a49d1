//! Sandboxes: isolated supervision trees that Orbit starts under its sandbox supervisor on one node, and
//! that outlive Orbit's connection.
//!
//! The node side (`orbit_sandbox`) keeps the registry: one entry per sandbox (its child specs, node and
//! status), replicated to every node, so a reconnecting Orbit finds the sandboxes that exist and the
//! survivors of a node that went down know what it ran. Every change to a sandbox runs on a node under a
//! cluster-wide lock on its id (`global:trans`), so two Orbits cannot move or restart it twice.
//!
//! This module decides (placement, balance) and reports; the nodes do the work. Failover is decided on
//! the nodes too: when a node that held sandboxes goes down, the survivors restart them without Orbit
//! (one survivor per sandbox, chosen the same way by all of them; see `orbit_sandbox.erl`), and each
//! sandbox's [`Sandbox::history`] says what happened, for the next Orbit that connects.
//! [`failover`] / [`watch_failover`] remain for sandboxes the cluster could not restart.
//!
//! By layer: `model` (what sandboxes are, the balance plan, the summaries: pure), `wire` (the registry's
//! entries and `orbit_sandbox`'s answers), `ops` (create, list, destroy, migrate, balance) and `failover`.

mod failover;
mod model;
mod ops;
mod wire;

use std::time::Duration;

pub use failover::{failover, recover, watch_failover};
pub use model::{
    plan_balance, utc_time, BalanceMove, BalanceReport, Children, CreateOptions, DecidedBy, FailoverReport, LostChild,
    MigrateReport, Sandbox, SandboxChild, SandboxError, SandboxEvent, SandboxEventKind, SandboxStatus, Strategy,
};
pub use ops::{balance, create, destroy, ensure_started, get, list, migrate};

/// Default bound on each call of a sandbox operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
