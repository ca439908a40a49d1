//! `orbit top`: the cluster's nodes, alerts and top processes, refreshed every second.
//!
//! On a terminal it is an interactive dashboard (`live.rs`; its state, keys and drawing are the library's
//! `orbit_cli::dashboard`, `dashboard.rs` beside this file). With `--once`, `--count`, `--json`, or
//! when stdout is not a terminal, it prints plain frames as it always did (`plain.rs`), for scripts.

mod live;
mod plain;

use crate::commands::observe::ThresholdArgs;
use crate::connect::ConnectArgs;
use std::io::IsTerminal;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Seconds between samples (and redraws).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    interval: f64,
    /// Plain output: processes shown, by memory and by queue length.
    #[arg(long, default_value_t = 10)]
    processes: usize,
    /// Print one plain frame and stop (for scripts), instead of the interactive dashboard.
    #[arg(long, conflicts_with = "count")]
    once: bool,
    /// Plain output: stop after this many frames.
    #[arg(long)]
    count: Option<u64>,
    /// Plain output: one JSON object per frame, one per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    thresholds: ThresholdArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let interactive = !args.once
        && !args.json
        && args.count.is_none()
        && std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal();
    if interactive {
        live::run(args).await
    } else {
        plain::run(args).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_consistent() {
        <Args as clap::Args>::augment_args(clap::Command::new("orbit")).debug_assert();
    }

    #[test]
    fn once_is_plain_and_excludes_count() {
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            a: Args,
        }
        let t: T = clap::Parser::try_parse_from(["t", "--node", "a@h", "--once"]).unwrap();
        assert!(t.a.once);
        assert!(<T as clap::Parser>::try_parse_from(["t", "--node", "a@h", "--once", "--count", "2"]).is_err());
    }
}
