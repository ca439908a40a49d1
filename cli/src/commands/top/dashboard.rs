//! `orbit top`'s interactive dashboard, without any I/O: the state ([`app::App`]), what a key does to it
//! ([`app::App::handle_key`] → [`app::Action`]), and drawing it ([`ui::render`]). The terminal, the
//! refresh of the data and the calls to the nodes live in the `orbit` binary (`commands/top/live.rs`);
//! this part is a library so that unit tests (with ratatui's `TestBackend`) and the frame benchmark
//! (`cargo bench -p orbit-cli --bench top`) drive it directly.

pub mod app;
pub mod ui;

pub use app::{Action, App, NodeRow, NodeState, ProcRow, Snapshot, SortKey, Target};
pub use ui::render;
