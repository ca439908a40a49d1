//! Readings against thresholds, alert hysteresis and trends, and a node's judged health (pure).

use super::sample::{NodeSample, Resource};
use super::units::{approx_duration, group_digits};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// When a node stops being healthy. An alert is raised after `raise_after` consecutive samples past a
/// threshold and cleared after `clear_after` consecutive samples below `clear_ratio` × that threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thresholds {
    /// Process, port, atom and ETS table counts as a share of their limits: degraded above this.
    pub limit_degraded: f64,
    /// … critical above this.
    pub limit_critical: f64,
    /// Memory in use as a share of the machine's (or cgroup's) memory: degraded above this.
    pub memory_degraded: f64,
    pub memory_critical: f64,
    /// A process's message queue: degraded above this many messages.
    pub mailbox_degraded: u64,
    pub mailbox_critical: u64,
    /// Run queue per online scheduler: degraded above this.
    pub run_queue_degraded: f64,
    pub run_queue_critical: f64,
    pub raise_after: u32,
    pub clear_after: u32,
    pub clear_ratio: f64,
    /// Warn when a resource would reach its limit within this time at its current rate.
    #[serde(serialize_with = "as_secs")]
    pub trend_horizon: Duration,
    /// How many recent samples the trend is fitted over (at least 5 are needed).
    pub trend_window: usize,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            limit_degraded: 0.85,
            limit_critical: 0.95,
            memory_degraded: 0.85,
            memory_critical: 0.95,
            mailbox_degraded: 10_000,
            mailbox_critical: 100_000,
            run_queue_degraded: 4.0,
            run_queue_critical: 16.0,
            raise_after: 2,
            clear_after: 3,
            clear_ratio: 0.8,
            trend_horizon: Duration::from_secs(30 * 60),
            trend_window: 60,
        }
    }
}

/// How serious an alert is. Warnings (trends) do not change a node's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Warning,
    Degraded,
    Critical,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Warning => "warning",
            Level::Degraded => "degraded",
            Level::Critical => "critical",
        })
    }
}

/// A node's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Healthy,
    Degraded,
    Critical,
    Down,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Critical => "critical",
            Status::Down => "down",
        })
    }
}

/// Something wrong on a node, active from `since_ms` until cleared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub node: String,
    /// `processes`, `ports`, `atoms`, `ets_tables`, `memory`, `mailbox`, `run_queue`, `not_answering`,
    /// or `trend:<resource>`.
    pub key: String,
    pub level: Level,
    pub message: String,
    /// The reading and the threshold it crossed (shares for limits, counts for queues).
    pub value: f64,
    pub threshold: f64,
    pub since_ms: u64,
}

/// One reading checked against its thresholds.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Reading {
    pub(super) key: String,
    pub(super) value: f64,
    /// Thresholds by level, lowest first; a level is reached when `value` is above its threshold.
    pub(super) levels: Vec<(Level, f64)>,
    pub(super) message: String,
}

impl Reading {
    /// The highest level whose threshold × `ratio` the value is above.
    pub(super) fn level(&self, ratio: f64) -> Option<(Level, f64)> {
        self.levels.iter().rev().find(|(_, t)| self.value > t * ratio).copied()
    }
}

/// The readings of one sample (trends come from the history, see `trend_readings`).
pub(super) fn readings(s: &NodeSample, t: &Thresholds) -> Vec<Reading> {
    let node = s.node();
    let mut out = Vec::new();
    for (resource, n, limit) in s.usage() {
        let share = n as f64 / limit as f64;
        let (d, c) = match resource {
            Resource::Memory => (t.memory_degraded, t.memory_critical),
            _ => (t.limit_degraded, t.limit_critical),
        };
        out.push(Reading {
            key: resource.name().into(),
            value: share,
            levels: vec![(Level::Degraded, d), (Level::Critical, c)],
            message: format!(
                "{} on {node}: {} of {} ({:.0}%, threshold {:.0}%)",
                resource.name().replace('_', " "),
                resource.amount(n as f64),
                resource.amount(limit as f64),
                share * 100.0,
                d * 100.0
            ),
        });
    }
    let longest = s.longest_queue();
    out.push(Reading {
        key: "mailbox".into(),
        value: longest.map(|p| p.message_queue_len as f64).unwrap_or(0.0),
        levels: vec![(Level::Degraded, t.mailbox_degraded as f64), (Level::Critical, t.mailbox_critical as f64)],
        message: match longest {
            Some(p) => format!(
                "{} {} on {node} has {} messages queued (threshold {})",
                p.registered_name.as_deref().unwrap_or("process"),
                p.pid,
                group_digits(p.message_queue_len),
                group_digits(t.mailbox_degraded)
            ),
            None => format!("no message queue on {node}"),
        },
    });
    let online = s.snapshot.schedulers_online.max(1);
    let per = s.snapshot.run_queue as f64 / online as f64;
    out.push(Reading {
        key: "run_queue".into(),
        value: per,
        levels: vec![(Level::Degraded, t.run_queue_degraded), (Level::Critical, t.run_queue_critical)],
        message: format!(
            "run queue on {node}: {} for {online} schedulers ({per:.1} each, threshold {})",
            s.snapshot.run_queue, t.run_queue_degraded
        ),
    });
    out
}

/// Least-squares slope (units per second) and the last value of `points` `(seconds, value)`.
fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 5 {
        return None;
    }
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in points {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
    }
    if sxx <= 0.0 {
        return None;
    }
    Some((sxy / sxx, points.last()?.1))
}

/// Seconds until a resource growing at `slope` per second from `current` reaches `limit`.
fn eta_secs(current: f64, slope: f64, limit: f64) -> Option<f64> {
    (slope > 0.0 && current < limit).then(|| (limit - current) / slope)
}

/// Trend readings over the recent history: the value is the time to the limit, in seconds, turned into
/// "how far inside the horizon" so that a higher value is worse, like every other reading.
pub(super) fn trend_readings(history: &VecDeque<NodeSample>, t: &Thresholds) -> Vec<Reading> {
    let Some(last) = history.back() else { return Vec::new() };
    let window: Vec<&NodeSample> = history.iter().rev().take(t.trend_window.max(5)).rev().collect();
    let t0 = window.first().map(|s| s.counters.node_time_ms).unwrap_or(0);
    let horizon = t.trend_horizon.as_secs_f64().max(1.0);
    let mut out = Vec::new();
    for (resource, _, limit) in last.usage() {
        let points: Vec<(f64, f64)> = window
            .iter()
            .filter_map(|s| {
                let (_, n, _) = s.usage().into_iter().find(|(r, _, _)| *r == resource)?;
                Some(((s.counters.node_time_ms - t0) as f64 / 1000.0, n as f64))
            })
            .collect();
        let Some((slope, current)) = fit(&points) else { continue };
        let Some(eta) = eta_secs(current, slope, limit as f64) else {
            out.push(Reading {
                key: format!("trend:{}", resource.name()),
                value: 0.0,
                levels: vec![(Level::Warning, 1.0)],
                message: String::new(),
            });
            continue;
        };
        out.push(Reading {
            key: format!("trend:{}", resource.name()),
            // 1.0 at the horizon, larger the sooner; clears once the limit is 1.25 × the horizon away.
            value: horizon / eta.max(0.001),
            levels: vec![(Level::Warning, 1.0)],
            message: format!(
                "{} on {} reaches the limit in {} at the current rate ({} of {}, +{}/s)",
                resource.name().replace('_', " "),
                last.node(),
                approx_duration(eta),
                resource.amount(current),
                resource.amount(limit as f64),
                resource.amount(slope)
            ),
        });
    }
    out
}

/// One alert's state across samples.
#[derive(Debug, Clone, Default)]
pub(super) struct Track {
    active: Option<Level>,
    /// Consecutive samples asking for a higher level, and which.
    up: u32,
    up_to: Option<Level>,
    /// Consecutive samples below the clearing threshold of the active level.
    down: u32,
    since_ms: u64,
    alert: Option<Alert>,
}

/// What one sample did to an alert.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Change {
    Raised(Alert),
    /// Went up or down a level while staying active.
    Changed(Alert),
    Cleared(Alert),
}

impl Track {
    /// Feeds one reading through the hysteresis.
    pub(super) fn update(&mut self, node: &str, r: &Reading, t: &Thresholds, now_ms: u64) -> Option<Change> {
        self.update_with(node, r, t.raise_after.max(1), t.clear_after.max(1), t.clear_ratio, now_ms)
    }

    pub(super) fn update_with(
        &mut self,
        node: &str,
        r: &Reading,
        raise_after: u32,
        clear_after: u32,
        clear_ratio: f64,
        now_ms: u64,
    ) -> Option<Change> {
        let raw = r.level(1.0);
        let holding = r.level(clear_ratio).map(|(l, _)| l);
        let make = |level: Level, threshold: f64, since_ms: u64| Alert {
            node: node.to_string(),
            key: r.key.clone(),
            level,
            message: r.message.clone(),
            value: r.value,
            threshold,
            since_ms,
        };
        match (raw, self.active) {
            (Some((level, _)), active) if active.is_none_or(|a| level > a) => {
                // A streak of samples above the active level raises to the lowest level of the streak.
                self.down = 0;
                self.up += 1;
                let streak = self.up_to.map_or(level, |u| u.min(level));
                self.up_to = Some(streak);
                if self.up < raise_after {
                    self.refresh(r);
                    return None;
                }
                self.up = 0;
                self.up_to = None;
                let threshold = r.levels.iter().find(|(l, _)| *l == streak).map(|(_, t)| *t).unwrap_or(0.0);
                let was = self.active.replace(streak);
                if was.is_none() {
                    self.since_ms = now_ms;
                }
                let alert = make(streak, threshold, self.since_ms);
                self.alert = Some(alert.clone());
                Some(if was.is_none() { Change::Raised(alert) } else { Change::Changed(alert) })
            }
            (_, Some(active)) if holding.is_none_or(|h| h < active) => {
                self.up = 0;
                self.up_to = None;
                self.down += 1;
                if self.down < clear_after {
                    self.refresh(r);
                    return None;
                }
                self.down = 0;
                match holding {
                    None => {
                        self.active = None;
                        let mut alert = self.alert.take().unwrap_or_else(|| make(active, 0.0, self.since_ms));
                        alert.value = r.value;
                        Some(Change::Cleared(alert))
                    }
                    Some(lower) => {
                        self.active = Some(lower);
                        let threshold = r.levels.iter().find(|(l, _)| *l == lower).map(|(_, t)| *t).unwrap_or(0.0);
                        let alert = make(lower, threshold, self.since_ms);
                        self.alert = Some(alert.clone());
                        Some(Change::Changed(alert))
                    }
                }
            }
            _ => {
                self.up = 0;
                self.up_to = None;
                self.down = 0;
                self.refresh(r);
                None
            }
        }
    }

    /// Keeps the active alert's message and value current.
    fn refresh(&mut self, r: &Reading) {
        if let Some(a) = self.alert.as_mut() {
            a.value = r.value;
            if !r.message.is_empty() {
                a.message = r.message.clone();
            }
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct NodeHealth {
    pub(super) history: VecDeque<NodeSample>,
    pub(super) tracks: BTreeMap<String, Track>,
    pub(super) down: Option<String>,
    pub(super) not_answering: Option<String>,
    pub(super) status: Option<Status>,
    /// The agent process that keeps scheduler wall time counted, and the session it was started in.
    pub(super) sampler: Option<(eetf::Pid, eetf::Pid)>,
}

impl NodeHealth {
    pub(super) fn status(&self) -> Status {
        if self.down.is_some() {
            return Status::Down;
        }
        match self.tracks.values().filter_map(|t| t.active).max() {
            Some(Level::Critical) => Status::Critical,
            Some(Level::Degraded) => Status::Degraded,
            _ => Status::Healthy,
        }
    }

    pub(super) fn alerts(&self) -> Vec<Alert> {
        self.tracks.values().filter_map(|t| t.alert.clone()).collect()
    }

    /// Feeds one sample's readings through each alert's hysteresis (`not_answering` clears at once): the
    /// one way a node is judged, by the monitor round after round and by a one-off check.
    pub(super) fn judge(&mut self, node: &str, readings: Vec<Reading>, t: &Thresholds, now_ms: u64) -> Vec<Change> {
        let mut changes = Vec::new();
        for r in readings {
            let track = self.tracks.entry(r.key.clone()).or_default();
            let change = if r.key == "not_answering" {
                track.update_with(node, &r, 1, 1, 1.0, now_ms)
            } else {
                track.update(node, &r, t, now_ms)
            };
            changes.extend(change);
        }
        changes
    }

    /// The node gave no answer, for `reason`: its `not_answering` alert, through the same hysteresis.
    pub(super) fn judge_no_answer(&mut self, node: &str, reason: &str, t: &Thresholds, now_ms: u64) -> Option<Change> {
        self.not_answering = Some(reason.to_string());
        let r = not_answering_reading(node, Some(reason));
        self.tracks.entry(r.key.clone()).or_default().update(node, &r, t, now_ms)
    }
}

pub(super) fn not_answering_reading(node: &str, error: Option<&str>) -> Reading {
    Reading {
        key: "not_answering".into(),
        value: if error.is_some() { 1.0 } else { 0.0 },
        levels: vec![(Level::Critical, 0.5)],
        message: format!("{node} does not answer: {}", error.unwrap_or("")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::sample::fixtures::sample_of;
    use crate::processes::ProcessSummary;

    fn queue(node: &str, len: u64) -> ProcessSummary {
        let pid = eetf::Pid::new(node, 250, 0, 1);
        ProcessSummary {
            node: node.into(),
            pid: crate::processes::local_pid_text(&pid),
            pid_term: Some(pid),
            registered_name: Some("Bank.Mailbox".into()),
            process_label: None,
            memory: 0,
            reductions: 0,
            message_queue_len: len,
            status: "waiting".into(),
            current_function: None,
            initial_call: None,
        }
    }

    fn mailbox_reading(len: u64, t: &Thresholds) -> Reading {
        let mut s = sample_of("a@h", 0);
        s.snapshot.process_limit = 100;
        s.top_queue = vec![queue("a@h", len)];
        readings(&s, t).into_iter().find(|r| r.key == "mailbox").unwrap()
    }

    #[test]
    fn mailbox_alert_has_hysteresis() {
        let t = Thresholds { mailbox_degraded: 500, mailbox_critical: 5000, ..Thresholds::default() };
        let mut track = Track::default();
        let mut feed = |len| track.update("a@h", &mailbox_reading(len, &t), &t, 1);
        // one sample above is not enough (raise_after = 2)
        assert_eq!(feed(600), None);
        let raised = feed(700).expect("raised on the second sample");
        let Change::Raised(a) = raised else { panic!("{raised:?}") };
        assert_eq!(a.level, Level::Degraded);
        assert!(a.message.contains("Bank.Mailbox #PID<0.250.0> on a@h has 700 messages queued"), "{}", a.message);
        // dipping just under the threshold (but above 80% of it) does not clear: no flapping
        for len in [490, 510, 450, 499, 520] {
            assert_eq!(feed(len), None, "{len}");
        }
        // escalation: a streak above the critical threshold
        assert_eq!(feed(6000), None);
        assert!(matches!(feed(7000), Some(Change::Changed(Alert { level: Level::Critical, .. }))));
        // below 80% of critical but above 80% of degraded for clear_after samples: back to degraded
        assert_eq!(feed(1000), None);
        assert_eq!(feed(1000), None);
        assert!(matches!(feed(1000), Some(Change::Changed(Alert { level: Level::Degraded, .. }))));
        // below 80% of degraded (400) for 3 samples clears
        assert_eq!(feed(100), None);
        assert_eq!(feed(100), None);
        assert!(matches!(feed(100), Some(Change::Cleared(_))));
        assert_eq!(feed(100), None);
    }

    #[test]
    fn limits_memory_and_run_queue_readings() {
        let t = Thresholds::default();
        let mut s = sample_of("a@h", 0);
        s.snapshot.process_count = 90;
        s.snapshot.process_limit = 100;
        s.snapshot.run_queue = 40;
        s.snapshot.schedulers_online = 2;
        s.snapshot.memory.total = 960;
        let rs = readings(&s, &t);
        let level = |k: &str| rs.iter().find(|r| r.key == k).and_then(|r| r.level(1.0)).map(|(l, _)| l);
        assert_eq!(level("processes"), Some(Level::Degraded));
        assert_eq!(level("memory"), Some(Level::Critical));
        assert_eq!(level("run_queue"), Some(Level::Critical));
        assert_eq!(level("atoms"), None);
        assert_eq!(level("mailbox"), None);
        let p = rs.iter().find(|r| r.key == "processes").unwrap();
        assert_eq!(p.message, "processes on a@h: 90 of 100 (90%, threshold 85%)");
    }

    #[test]
    fn trend_warns_before_the_limit() {
        let t = Thresholds::default();
        let mut h = VecDeque::new();
        // memory grows 1 unit per second from 100 towards the limit of 1000: ~15 min left
        for i in 0..20 {
            let mut s = sample_of("b@host", i);
            s.snapshot.memory.total = 100 + i as u64;
            h.push_back(s);
        }
        let rs = trend_readings(&h, &t);
        let m = rs.iter().find(|r| r.key == "trend:memory").unwrap();
        assert!(m.level(1.0).is_some(), "{m:?}");
        assert!(
            m.message.starts_with("memory on b@host reaches the limit in ~15 min at the current rate"),
            "{}",
            m.message
        );
        // flat: nothing to warn about
        let flat: VecDeque<NodeSample> = (0..20).map(|i| sample_of("b@host", i)).collect();
        assert!(trend_readings(&flat, &t).iter().all(|r| r.level(1.0).is_none()));
        assert_eq!(approx_duration(30.0), "~30 s");
        assert_eq!(approx_duration(12.0 * 60.0), "~12 min");
        assert_eq!(approx_duration(5.0 * 3600.0), "~5 h");
    }
}
