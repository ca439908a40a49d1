//! A node's vital figures, and the cluster's health over time.
//!
//! - [`snapshot`]: one call to the agent's `orbit_health:snapshot/0`, the plain picture of a node.
//! - [`sample`]: the same plus what rates are made of (reductions, IO, scheduler wall time), the memory
//!   limit and the processes with the most memory and the longest queues, chosen on the node.
//! - [`HealthMonitor`]: samples every node on an interval, keeps a bounded history per node, turns
//!   readings into alerts against [`Thresholds`] with hysteresis (so they do not flap), warns when a
//!   resource's trend would reach its limit soon, reports `NodeDown` the moment a connection closes,
//!   and compares what each node sees (`nodes()`) to report partitions and their healing.
//! - [`placement_score`] / [`best_node`]: where to put new work (used by sandboxes).
//!
//! By layer: `wire` decodes the agent's answers; `sample`, `alerts` (thresholds, hysteresis, trends),
//! `partition`, `placement` and `units` are pure and unit-tested without nodes; `ops` makes the calls
//! (and the one-off [`check_once`]); `monitor` is the runtime that samples on an interval.

mod alerts;
mod monitor;
mod ops;
mod partition;
mod placement;
mod sample;
mod units;
mod wire;

pub use alerts::{Alert, Level, Status, Thresholds};
pub use monitor::{check, HealthEvent, HealthMonitor, HealthOptions, HealthReport, NodeHealthReport};
pub use ops::{best_node, check_once, sample, snapshot, snapshot_all, HealthError};
pub use partition::{disagreements, partition, ConnectionDisagreement, Partition};
pub use placement::placement_score;
pub use sample::{Memory, NodeSample, NodeSnapshot, Resource, SampleOptions};
pub use units::{approx_duration, group_digits};
