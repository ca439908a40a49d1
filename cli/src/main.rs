//! `orbit`: Orbit's core from a terminal.

mod commands;
mod connect;
mod output;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "orbit", version, about = "Debug and observe a running BEAM cluster from outside it")]
struct Cli {
    /// Observe only: refuse everything that would change a node (breakpoints that interpret, pause,
    /// setting variables, evaluating anything but a pure read, reload, kill, sandbox operations, traces
    /// without --limit). Also ORBIT_READ_ONLY=1.
    #[arg(long, global = true)]
    read_only: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A scripted debug session against the demo bank cluster (fixtures/demo), printed as it happens.
    Demo(commands::demo::Args),
    /// The debugger: a Debug Adapter Protocol server (stdio, or --port for a TCP server).
    Dap(commands::dap::Args),
    /// The language server: the running cluster next to the code (LSP on stdio).
    Lsp(commands::lsp::Args),
    /// Health per node (healthy, degraded, critical, down), alerts and partitions.
    Status(commands::status::Args),
    /// A live dashboard of nodes, top processes and alerts.
    Top(commands::top::Args),
    /// Processes across the cluster, filtered, sorted and paged on the nodes; or a supervision tree.
    Processes(commands::processes::Args),
    /// One process in detail: info, stacktrace, state, links and monitors; its graph; or kill it.
    Inspect(commands::inspect::Args),
    /// Trace function calls or messages across the cluster, with a mandatory limit.
    Trace(commands::trace::Args),
    /// Where the cluster spends its time in chosen code, for a bounded window: top functions by own
    /// time on every node at once, and a flame graph of the sampled stacks.
    Profile(commands::profile::Args),
    /// Compile source files once and load them on every node; verify the md5 everywhere.
    Reload(commands::reload::Args),
    /// Modules whose loaded version differs between nodes, or that some nodes have not loaded.
    Drift(commands::drift::Args),
    /// Isolated supervision trees: create, list, migrate, destroy, balance, fail over.
    Sandbox(commands::sandbox::Args),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ORBIT_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if cli.read_only {
        // Every cluster this process joins is read-only from here on (beam::read_only decides what that refuses).
        beam::read_only::enable_for_process();
    }
    // The debug adapter's work is one ordered loop: on a single thread every hand-off between its tasks
    // (link reader, engine, session) is a queue push, not a wake-up of another thread — the breakpoint
    // stop reaches the client sooner (tests/dap/bench/passes.js). The other commands fan out over nodes.
    let runtime = match &cli.command {
        Command::Dap(_) => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build(),
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("orbit: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Dap(args) => commands::dap::run(args).await,
            Command::Lsp(args) => commands::lsp::run(args).await,
            Command::Demo(args) => commands::demo::run(args).await,
            Command::Status(args) => commands::status::run(args).await,
            Command::Top(args) => commands::top::run(args).await,
            Command::Processes(args) => commands::processes::run(args).await,
            Command::Inspect(args) => commands::inspect::run(args).await,
            Command::Trace(args) => commands::trace::run(args).await,
            Command::Profile(args) => commands::profile::run(args).await,
            Command::Reload(args) => commands::reload::run(args).await,
            Command::Drift(args) => commands::drift::run(args).await,
            Command::Sandbox(args) => commands::sandbox::run(args).await,
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
