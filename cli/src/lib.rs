//! The parts of `orbit` that need no cluster, as a library so that benchmarks reach them: the
//! `orbit top` dashboard (state, keys, drawing) and the plain-text units it shares with the commands.

#[path = "commands/top/dashboard.rs"]
pub mod dashboard;
pub mod output;
