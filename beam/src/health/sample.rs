//! What one sample of a node holds, and the rates two samples make (pure).

use super::units::{group_digits, human_bytes};
use crate::processes::ProcessSummary;
use serde::Serialize;
use std::time::Duration;

/// Memory in bytes, by kind (`erlang:memory/0`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Memory {
    pub total: u64,
    pub processes: u64,
    pub binary: u64,
    pub ets: u64,
    pub atom: u64,
    pub code: u64,
    pub system: u64,
}

/// One node at one moment.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeSnapshot {
    pub node: String,
    pub otp_release: String,
    pub erts_version: String,
    pub elixir_version: Option<String>,
    pub uptime_ms: u64,
    pub process_count: u64,
    pub process_limit: u64,
    pub port_count: u64,
    pub port_limit: u64,
    pub atom_count: u64,
    pub atom_limit: u64,
    pub memory: Memory,
    pub run_queue: u64,
    pub schedulers: u64,
    pub schedulers_online: u64,
    /// `nodes()` on that node, sorted.
    pub visible_nodes: Vec<String>,
    pub hidden_nodes: Vec<String>,
}

/// One node at one moment, with rates against the sample before it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeSample {
    #[serde(flatten)]
    pub snapshot: NodeSnapshot,
    /// When the answer arrived, in milliseconds since the Unix epoch (Orbit's clock).
    pub taken_at_ms: u64,
    /// The machine's or the cgroup's memory, whichever is smaller, when the node can tell.
    pub memory_limit: Option<u64>,
    pub ets_count: u64,
    pub ets_limit: u64,
    /// Share of time the normal schedulers were busy since the previous sample, 0.0–1.0.
    pub scheduler_utilisation: Option<f64>,
    pub reductions_per_sec: Option<f64>,
    /// Bytes per second through ports (sockets, files).
    pub io_input_per_sec: Option<f64>,
    pub io_output_per_sec: Option<f64>,
    /// The window the node measured the rates over itself (a one-off sample with a window); `None` when
    /// they come from the sample before.
    pub rates_window_ms: Option<u64>,
    /// The processes with the most memory, most first.
    pub top_memory: Vec<ProcessSummary>,
    /// The processes with the longest message queues (non-empty ones only), longest first.
    pub top_queue: Vec<ProcessSummary>,
    #[serde(skip)]
    pub(super) counters: Counters,
}

/// Cumulative figures rates are made from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Counters {
    pub(super) node_time_ms: i64,
    pub(super) reductions: u64,
    pub(super) io_input: u64,
    pub(super) io_output: u64,
    pub(super) scheduler_wall: Option<(u64, u64)>,
}

impl NodeSample {
    pub fn node(&self) -> &str {
        &self.snapshot.node
    }

    /// The longest message queue on the node, if any process has one.
    pub fn longest_queue(&self) -> Option<&ProcessSummary> {
        self.top_queue.iter().max_by_key(|p| p.message_queue_len)
    }

    /// Fills in the rates from the previous sample of the same node.
    pub(super) fn with_rates(mut self, prev: Option<&NodeSample>) -> NodeSample {
        let Some(prev) = prev else { return self };
        if self.rates_window_ms.is_some() {
            return self;
        }
        let (a, b) = (prev.counters, self.counters);
        let dt = (b.node_time_ms - a.node_time_ms) as f64 / 1000.0;
        if dt <= 0.0 {
            return self;
        }
        let rate = |x: u64, y: u64| y.checked_sub(x).map(|d| d as f64 / dt);
        self.reductions_per_sec = rate(a.reductions, b.reductions);
        self.io_input_per_sec = rate(a.io_input, b.io_input);
        self.io_output_per_sec = rate(a.io_output, b.io_output);
        if self.scheduler_utilisation.is_none() {
            if let (Some((a0, t0)), Some((a1, t1))) = (a.scheduler_wall, b.scheduler_wall) {
                if t1 > t0 && a1 >= a0 {
                    self.scheduler_utilisation = Some(((a1 - a0) as f64 / (t1 - t0) as f64).clamp(0.0, 1.0));
                }
            }
        }
        self
    }

    /// `count / limit` of processes, ports, atoms, ETS tables and memory, where the limit is known.
    pub fn usage(&self) -> Vec<(Resource, u64, u64)> {
        let s = &self.snapshot;
        let mut v = vec![
            (Resource::Processes, s.process_count, s.process_limit),
            (Resource::Ports, s.port_count, s.port_limit),
            (Resource::Atoms, s.atom_count, s.atom_limit),
            (Resource::EtsTables, self.ets_count, self.ets_limit),
        ];
        if let Some(limit) = self.memory_limit {
            v.push((Resource::Memory, s.memory.total, limit));
        }
        v.retain(|(_, _, limit)| *limit > 0);
        v
    }
}

/// A resource with a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Processes,
    Ports,
    Atoms,
    EtsTables,
    Memory,
}

impl Resource {
    pub fn name(self) -> &'static str {
        match self {
            Resource::Processes => "processes",
            Resource::Ports => "ports",
            Resource::Atoms => "atoms",
            Resource::EtsTables => "ets_tables",
            Resource::Memory => "memory",
        }
    }

    pub(super) fn amount(self, n: f64) -> String {
        match self {
            Resource::Memory => human_bytes(n),
            _ => group_digits(n.round() as u64),
        }
    }
}

/// What to ask a node for.
#[derive(Debug, Clone, Copy)]
pub struct SampleOptions {
    /// How many processes to report by memory and by queue length.
    pub top_n: usize,
    /// Measure scheduler utilisation over this window during the call (for a one-off sample; a
    /// [`HealthMonitor`](super::HealthMonitor) measures between its samples instead).
    pub window: Option<Duration>,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions { top_n: 5, window: None }
    }
}

pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    pub(crate) fn snap(node: &str, sees: &[&str]) -> NodeSnapshot {
        NodeSnapshot {
            node: node.into(),
            otp_release: "25".into(),
            erts_version: "13".into(),
            elixir_version: None,
            uptime_ms: 0,
            process_count: 0,
            process_limit: 0,
            port_count: 0,
            port_limit: 0,
            atom_count: 0,
            atom_limit: 0,
            memory: Memory::default(),
            run_queue: 0,
            schedulers: 1,
            schedulers_online: 1,
            visible_nodes: sees.iter().map(|s| s.to_string()).collect(),
            hidden_nodes: vec![],
        }
    }

    pub(crate) fn sample_of(node: &str, time_s: i64) -> NodeSample {
        NodeSample {
            snapshot: snap(node, &[]),
            taken_at_ms: 0,
            memory_limit: Some(1000),
            ets_count: 10,
            ets_limit: 8192,
            scheduler_utilisation: None,
            reductions_per_sec: None,
            io_input_per_sec: None,
            io_output_per_sec: None,
            rates_window_ms: None,
            top_memory: vec![],
            top_queue: vec![],
            counters: Counters { node_time_ms: time_s * 1000, ..Counters::default() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::sample_of;
    #[test]
    fn rates_come_from_the_previous_sample() {
        let mut a = sample_of("a@h", 10);
        a.counters.reductions = 1_000;
        a.counters.io_input = 0;
        a.counters.scheduler_wall = Some((100, 1000));
        let mut b = sample_of("a@h", 12);
        b.counters.reductions = 5_000;
        b.counters.io_input = 4_096;
        b.counters.scheduler_wall = Some((600, 2000));
        let b = b.with_rates(Some(&a));
        assert_eq!(b.reductions_per_sec, Some(2_000.0));
        assert_eq!(b.io_input_per_sec, Some(2_048.0));
        assert_eq!(b.scheduler_utilisation, Some(0.5));
        assert_eq!(sample_of("a@h", 1).with_rates(None).reductions_per_sec, None);
    }
}
