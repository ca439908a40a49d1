//! `orbit lsp`: a language server that puts the running cluster next to the code.
//!
//! One ordered loop (`main_loop`) handles client messages, cluster events and timers; `dispatch` routes
//! requests by type to `handlers`; `index` places modules and functions with tree-sitter; `diagnostics`,
//! `lenses` and `actions` turn the cluster `model` into LSP; the `worker` and `commands` talk to the nodes
//! through `beam` on a tokio runtime. The main loop's `Server` owns the state: the work on the runtime
//! sends what it learns and changes back as events, and is sent what it needs; nothing is shared behind a
//! lock (the transport's writer aside).

pub mod actions;
pub mod commands;
pub mod config;
pub mod diagnostics;
pub mod dispatch;
pub mod handlers;
pub mod index;
pub mod lenses;
pub mod lsp_ext;
pub mod main_loop;
pub mod model;
pub mod transport;
pub mod worker;

pub use config::Settings;
pub use main_loop::run;

/// Serves LSP on stdin/stdout until the client exits.
pub fn run_stdio(defaults: Settings) -> anyhow::Result<()> {
    let (connection, io) = transport::stdio();
    run(connection, defaults)?;
    drop(io);
    Ok(())
}
