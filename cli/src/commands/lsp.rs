//! `orbit lsp`: the language server (stdio) that puts the running cluster next to the code.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A node of the cluster (name@host), repeatable; the editor's settings and .orbit.toml win over it.
    #[arg(long = "node", short = 'n', value_delimiter = ',')]
    nodes: Vec<String>,
    /// The cluster's cookie.
    #[arg(long, conflicts_with = "cookie_file", hide_env_values = true)]
    cookie: Option<String>,
    /// A file holding the cookie.
    #[arg(long)]
    cookie_file: Option<String>,
    /// Serve on stdio, which is what `orbit lsp` always does. Editors' LSP clients pass `--stdio` by
    /// convention (vscode-languageclient with `TransportKind.stdio`), so it is accepted and changes nothing.
    #[arg(long, hide = true)]
    stdio: bool,
    /// The editor's process id, which LSP clients may pass by convention (`--clientProcessId=PID`).
    /// Accepted and not needed: on stdio the server ends when its input closes, which the editor's
    /// exit does.
    #[arg(long = "clientProcessId", value_name = "PID", hide = true)]
    client_process_id: Option<u32>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _ = (args.stdio, args.client_process_id);
    let defaults = orbit_server::Settings {
        nodes: (!args.nodes.is_empty()).then_some(args.nodes),
        cookie: args.cookie,
        cookie_file: args.cookie_file,
        ..Default::default()
    };
    // The server's loop is blocking (lsp-server) and runs its own runtime for the cluster work.
    tokio::task::spawn_blocking(move || orbit_server::run_stdio(defaults)).await??;
    Ok(ExitCode::SUCCESS)
}
