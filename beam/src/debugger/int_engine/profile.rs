//! `/profile` from the debug console: a cluster-wide profile (see [`crate::profile`]) whose table is
//! printed in the console when its window ends. The request answers at once, so the session goes on
//! (stops, steps) while the profile runs; ending the session ends the profile on every node.

use super::{IntEngine, Raw};
use crate::debugger::{DebugError, VariableInfo};
use crate::profile::{self, ProfileSpec, Target};

const USAGE: &str = "usage: /profile <Module …> [--app APP] [--match REGEX] [DURATION, e.g. 5s] — \
                     e.g. /profile Bank.Fees 5s (default 10 s, at most 300 s)";

/// What `/profile …` asks for.
pub(super) fn parse(args: &str) -> Result<ProfileSpec, DebugError> {
    let mut targets = Vec::new();
    let mut duration = profile::DEFAULT_DURATION;
    let mut words = args.split_whitespace();
    while let Some(w) = words.next() {
        match w {
            "--app" => targets.push(Target::App(words.next().ok_or_else(|| DebugError::new(USAGE))?.to_string())),
            "--match" => targets.push(Target::Match(words.next().ok_or_else(|| DebugError::new(USAGE))?.to_string())),
            _ if w.starts_with(|c: char| c.is_ascii_digit()) => {
                duration = profile::parse_duration(w).map_err(|e| DebugError(format!("{e}; {USAGE}")))?;
            }
            _ if w.starts_with('-') => return Err(DebugError::new(USAGE)),
            _ => targets.push(Target::Module(w.to_string())),
        }
    }
    if targets.is_empty() {
        return Err(DebugError::new(USAGE));
    }
    Ok(ProfileSpec::new(targets).with_duration(duration))
}

impl IntEngine {
    /// Starts the profile and answers at once; the table follows in the console.
    pub(super) async fn console_profile(&mut self, args: &str) -> Result<VariableInfo, DebugError> {
        let spec = parse(args)?;
        let what = spec.describe();
        let run = profile::start(&self.cluster, spec).await.map_err(|e| DebugError(e.to_string()))?;
        let (n, secs) = (run.nodes().len(), run.duration().as_secs_f64());
        let tx = self.raw_tx.clone();
        let answer = format!(
            "profiling {what} on {n} node(s) for {secs} s; the table follows here (orbit profile writes flame graphs)"
        );
        self.tasks.push(tokio::spawn(async move {
            let p = run.finish().await;
            let mut text = format!("profile of {what}, {n} node(s), {}:\n", profile::time(p.window_us));
            text.push_str(&p.table(15));
            text.push_str(&p.summary_line());
            let _ = tx.send(Raw::Note(text));
        }));
        Ok(super::execution::blank_variable(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn console_arguments() {
        let s = parse("Bank.Fees bank_ledger 5s").unwrap();
        assert_eq!(s.targets, vec![Target::Module("Bank.Fees".into()), Target::Module("bank_ledger".into())]);
        assert_eq!(s.duration, Duration::from_secs(5));
        let s = parse("--app bank --match ^Bank\\. ").unwrap();
        assert_eq!(s.targets, vec![Target::App("bank".into()), Target::Match("^Bank\\.".into())]);
        assert_eq!(s.duration, profile::DEFAULT_DURATION);
        assert!(parse("").unwrap_err().0.starts_with("usage: /profile"));
        assert!(parse("Bank.Fees --nope").is_err());
        assert!(parse("Bank.Fees 5h").is_err());
    }
}
