//! Hot code reload and version drift across a cluster.
//!
//! A reload builds each source once — on one node (`orbit_reload:compile/3`, which loads nothing), or from
//! the project's own `_build` beams when they are newer than the source — then stages the binaries on every
//! target node (`orbit_reload:prepare/2`: checks, `code:prepare_loading/1`, and the replaced version kept
//! for a rollback), loads them (`commit/1`), rolls back the nodes that loaded when another one fails, and
//! verifies that every node runs the same md5. Nothing is loaded anywhere before every node has staged.
//!
//! Drift compares `{module, md5}` lists, one per node, computed on the nodes by `orbit_reload`.
//!
//! By layer: `model` (what a reload and a drift report are, pure), `wire` (the agent's answers), `beam_file`
//! (BEAM chunks, md5s), `build_output` (the project's `_build`), `compile` (the build phase) and `ops`
//! ([`reload`] as its named phases, [`drift`]).

mod beam_file;
mod build_output;
mod compile;
mod model;
mod ops;
mod wire;

use std::time::Duration;

pub use beam_file::{beam_md5, beam_source};
pub use build_output::{ebin_dirs, newest_beam};
pub use model::{
    BuiltModule, Diagnostic, DriftFilter, DriftKind, DriftReport, ModuleDrift, ModuleVersion, NodeModule, NodeOutcome,
    NodeReport, OnNodeDown, Origin, ProgressFn, ReloadError, ReloadOptions, ReloadOutcome, ReloadProgress,
    ReloadReport,
};
pub use ops::{drift, reload};

/// Default bound on each step of a reload on one node.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
