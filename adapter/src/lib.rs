//! `orbit dap`: a Debug Adapter Protocol server for BEAM clusters.
//!
//! The crate only translates: `codec` frames messages, `protocol` types them, `session` runs the one ordered
//! loop over client requests, debugger events and launched nodes' output, `handlers` answer each request by
//! calling the engine in `beam::debugger`, and `to_dap` converts the engine's answers to DAP types.

pub mod codec;
mod handlers;
pub mod protocol;
mod session;
mod stdio;
mod stdout;
mod to_dap;

pub use session::run;

/// Serves one session on stdin/stdout: read and written directly where they are pipes or sockets (see
/// `stdio`), else through threads.
pub async fn serve_stdio() -> std::io::Result<()> {
    let input: Box<dyn tokio::io::AsyncRead + Unpin> = match stdio::PipeStdin::new()? {
        Some(pipe) => Box::new(pipe),
        None => Box::new(tokio::io::stdin()),
    };
    let output: Box<dyn tokio::io::AsyncWrite + Unpin> = match stdio::PipeStdout::new()? {
        Some(pipe) => Box::new(pipe),
        None => Box::new(stdout::ThreadedStdout::new()?),
    };
    run(input, output).await
}

/// Serves sessions on 127.0.0.1:`port`, one at a time per connection (for nvim-dap `server` adapters and
/// VS Code's `debugServer`). Prints the bound address on stderr.
pub async fn serve_tcp(port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("orbit dap listening on {}", listener.local_addr()?);
    loop {
        let (socket, _) = listener.accept().await?;
        let _ = socket.set_nodelay(true);
        tokio::spawn(async move {
            let (r, w) = socket.into_split();
            if let Err(e) = run(r, w).await {
                eprintln!("orbit dap: session ended with an error: {e}");
            }
        });
    }
}
