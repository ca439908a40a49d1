//! Where to put new work: a node's placement score from its sample (pure).

use super::alerts::Thresholds;
use super::sample::NodeSample;

/// How suitable a node is for new work, from 0.0 (do not use) to 1.0 (idle): free scheduler time, free
/// memory, free process slots and a short run queue, weighted 35/30/15/20. A node past a critical
/// threshold of the default [`Thresholds`] scores 0.
pub fn placement_score(sample: &NodeSample) -> f64 {
    let t = Thresholds::default();
    if sample.usage().iter().any(|(_, n, limit)| *n as f64 / *limit as f64 > t.limit_critical) {
        return 0.0;
    }
    let s = &sample.snapshot;
    let online = s.schedulers_online.max(1) as f64;
    let queue_per_scheduler = s.run_queue as f64 / online;
    let busy = sample.scheduler_utilisation.unwrap_or_else(|| (queue_per_scheduler / 2.0).min(1.0));
    let memory_free = match sample.memory_limit {
        Some(limit) if limit > 0 => 1.0 - (s.memory.total as f64 / limit as f64).min(1.0),
        _ => 0.5,
    };
    let process_free =
        if s.process_limit > 0 { 1.0 - (s.process_count as f64 / s.process_limit as f64).min(1.0) } else { 0.5 };
    let queue_free = 1.0 / (1.0 + queue_per_scheduler);
    let score = 0.35 * (1.0 - busy) + 0.30 * memory_free + 0.15 * process_free + 0.20 * queue_free;
    score.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::sample::fixtures::sample_of;

    #[test]
    fn placement_prefers_idle_nodes() {
        let mut idle = sample_of("a@h", 0);
        idle.snapshot.process_count = 100;
        idle.snapshot.process_limit = 1000;
        idle.snapshot.schedulers_online = 2;
        idle.scheduler_utilisation = Some(0.05);
        idle.snapshot.memory.total = 100;
        let mut busy = idle.clone();
        busy.scheduler_utilisation = Some(0.9);
        busy.snapshot.run_queue = 10;
        busy.snapshot.memory.total = 700;
        assert!(placement_score(&idle) > placement_score(&busy));
        let mut full = idle.clone();
        full.snapshot.process_count = 990;
        assert_eq!(placement_score(&full), 0.0);
        assert!((0.0..=1.0).contains(&placement_score(&idle)));
    }
}
