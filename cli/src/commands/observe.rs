//! What `status`, `top`, `processes` and `inspect` share: threshold options, progress on stderr, JSON
//! output and a few number formats.

use beam::health::{HealthOptions, Status, Thresholds};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// When a node stops being healthy (see `beam::health::Thresholds`).
#[derive(clap::Args, Debug, Clone)]
pub struct ThresholdArgs {
    /// Degraded when a process, port, atom or ETS table count is above this percentage of its limit.
    #[arg(long, default_value_t = 85.0, value_name = "PERCENT")]
    pub limit_threshold: f64,
    /// Critical above this percentage of a limit.
    #[arg(long, default_value_t = 95.0, value_name = "PERCENT")]
    pub limit_critical: f64,
    /// Degraded when memory in use is above this percentage of the machine's (or cgroup's) memory.
    #[arg(long, default_value_t = 85.0, value_name = "PERCENT")]
    pub memory_threshold: f64,
    #[arg(long, default_value_t = 95.0, value_name = "PERCENT")]
    pub memory_critical: f64,
    /// Degraded when any process has more messages queued than this.
    #[arg(long, default_value_t = 10_000, value_name = "MESSAGES")]
    pub mailbox_threshold: u64,
    #[arg(long, default_value_t = 100_000, value_name = "MESSAGES")]
    pub mailbox_critical: u64,
    /// Degraded when the run queue is above this many processes per online scheduler.
    #[arg(long, default_value_t = 4.0, value_name = "PER_SCHEDULER")]
    pub run_queue_threshold: f64,
    #[arg(long, default_value_t = 16.0, value_name = "PER_SCHEDULER")]
    pub run_queue_critical: f64,
    /// Samples past a threshold before an alert is raised.
    #[arg(long, default_value_t = 2, value_name = "SAMPLES")]
    pub raise_after: u32,
    /// Samples below 80% of a threshold before an alert clears.
    #[arg(long, default_value_t = 3, value_name = "SAMPLES")]
    pub clear_after: u32,
    /// Warn when a resource would reach its limit within this many minutes at its current rate.
    #[arg(long, default_value_t = 30.0, value_name = "MINUTES")]
    pub trend_horizon: f64,
}

impl ThresholdArgs {
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            limit_degraded: self.limit_threshold / 100.0,
            limit_critical: self.limit_critical / 100.0,
            memory_degraded: self.memory_threshold / 100.0,
            memory_critical: self.memory_critical / 100.0,
            mailbox_degraded: self.mailbox_threshold,
            mailbox_critical: self.mailbox_critical,
            run_queue_degraded: self.run_queue_threshold,
            run_queue_critical: self.run_queue_critical,
            raise_after: self.raise_after.max(1),
            clear_after: self.clear_after.max(1),
            trend_horizon: Duration::from_secs_f64((self.trend_horizon * 60.0).clamp(1.0, 1e9)),
            ..Thresholds::default()
        }
    }

    pub fn health_options(&self, interval: Duration, timeout: Duration, top_n: usize) -> HealthOptions {
        HealthOptions {
            interval,
            thresholds: self.thresholds(),
            sample_timeout: timeout,
            top_n,
            ..HealthOptions::default()
        }
    }
}

/// A spinner on stderr for work that takes more than a moment. Shown only on a terminal (or with
/// `ORBIT_PROGRESS=always`), after a short delay so that quick answers print nothing; cleared when done.
pub struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
    shown: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Progress {
    pub fn start(message: impl Into<String>) -> Progress {
        let message = message.into();
        let shown = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let enabled = std::io::stderr().is_terminal() || std::env::var("ORBIT_PROGRESS").is_ok_and(|v| v == "always");
        if !enabled {
            return Progress { task: None, shown };
        }
        let flag = shown.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
            let started = std::time::Instant::now();
            for i in 0.. {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
                {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(
                        err,
                        "\r\x1b[2K{} {message} ({:.1}s)",
                        frames[i % frames.len()],
                        started.elapsed().as_secs_f64() + 0.25
                    );
                    let _ = err.flush();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Progress { task: Some(task), shown }
    }

    pub fn finish(mut self) {
        self.clear();
    }

    fn clear(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            if self.shown.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = write!(std::io::stderr(), "\r\x1b[2K");
                let _ = std::io::stderr().flush();
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn status_text(s: Status) -> String {
    match s {
        Status::Healthy => "healthy".into(),
        other => other.to_string().to_uppercase(),
    }
}

/// 12,345
pub use beam::health::group_digits as count;

/// 1.2k/s, 3.4M/s
pub fn rate(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 1e9 => format!("{:.1}G/s", v / 1e9),
        Some(v) if v >= 1e6 => format!("{:.1}M/s", v / 1e6),
        Some(v) if v >= 1e3 => format!("{:.1}k/s", v / 1e3),
        Some(v) => format!("{v:.0}/s"),
    }
}

/// Bytes per second.
pub fn byte_rate(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) => format!("{}/s", crate::output::bytes(v.max(0.0) as u64)),
    }
}

pub fn percent(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) => format!("{:.0}%", v * 100.0),
    }
}

/// Cuts a cell to `max` characters with an ellipsis.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Time of day (UTC) for event lines.
pub fn clock() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("{:02}:{:02}:{:02}", (secs / 3600) % 24, (secs / 60) % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(rate(Some(1500.0)), "1.5k/s");
        assert_eq!(rate(None), "-");
        assert_eq!(percent(Some(0.256)), "26%");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
        assert_eq!(status_text(Status::Degraded), "DEGRADED");
    }

    #[test]
    fn thresholds_from_percentages() {
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            t: ThresholdArgs,
        }
        let t: T = clap::Parser::parse_from(["t", "--mailbox-threshold", "500", "--limit-threshold", "70"]);
        let th = t.t.thresholds();
        assert_eq!(th.mailbox_degraded, 500);
        assert!((th.limit_degraded - 0.70).abs() < 1e-9);
        assert_eq!(th.trend_horizon, Duration::from_secs(1800));
    }
}
