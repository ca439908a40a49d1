//! `orbit`: Orbit's core from a terminal.

mod commands;
mod connect;
mod output;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "orbit", version, about = "Debug and observe a running BEAM cluster from outside it")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One row per node: versions, uptime, processes, memory, run queue, and who sees whom.
    Status(commands::status::Args),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ORBIT_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("orbit: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Status(args) => commands::status::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("orbit: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
