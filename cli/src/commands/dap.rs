//! `orbit dap`: the Debug Adapter Protocol server, on stdio or on a local TCP port.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Serve on 127.0.0.1:PORT instead of stdin/stdout (nvim-dap `server` adapters, VS Code `debugServer`).
    #[arg(long)]
    port: Option<u16>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.port {
        Some(port) => orbit_adapter::serve_tcp(port).await?,
        None => orbit_adapter::serve_stdio().await?,
    }
    Ok(ExitCode::SUCCESS)
}
