//! The debugger: breakpoints that hold on every node of a cluster, processes stopped at them as threads,
//! their stacks and variables, evaluation in their frames, stepping, pausing, and a clean-up that leaves
//! every node as it was.
//!
//! [`Engine`] is what the debug adapter drives; [`IntEngine`] implements it with OTP's interpreter (`int`),
//! the only debugger OTP 25 has; on nodes started with `+D` (OTP 28+) its breakpoints are native
//! ([`native_engine`]: `erl_debugger`), node by node, in the same session.

pub mod breakpoints;
mod int_engine;
pub mod names;
pub mod native_engine;
pub mod sources;

pub use breakpoints::{HitCondition, LineBreakpoint};
pub use int_engine::{AttachConfig, IntEngine, Raw};
pub use names::Lang;
pub use sources::{SourceIndex, SourceMap};

use std::path::PathBuf;

/// A breakpoint as the engine reports it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakpointStatus {
    pub id: i64,
    pub verified: bool,
    /// The line it took (it moves to the next line with code).
    pub line: Option<u32>,
    /// Why it is not verified, or what it is.
    pub message: Option<String>,
    pub source: Option<PathBuf>,
}

/// Why a thread stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Breakpoint,
    Step,
    Pause,
    Exception,
    FunctionBreakpoint,
}

/// How to resume a stopped thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    Continue,
    Next,
    StepIn,
    StepOut,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo {
    pub id: i64,
    pub name: String,
    pub source: Option<PathBuf>,
    pub line: u32,
    /// Frames of code that is not interpreted (a suspended process) show without variables.
    pub subtle: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeInfo {
    pub name: String,
    pub variables_reference: i64,
    pub named_variables: Option<u64>,
    pub expensive: bool,
}

/// A variable or an evaluation result, rendered in the language of its frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableInfo {
    pub name: String,
    pub value: String,
    pub type_name: Option<String>,
    /// Non-zero when it has children to expand.
    pub variables_reference: i64,
    pub named_variables: Option<u64>,
    pub indexed_variables: Option<u64>,
    pub evaluate_name: Option<String>,
}

/// Output categories, as the editor shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputCategory {
    Console,
    Stdout,
    Stderr,
    Important,
}

/// What the engine tells the editor.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    Stopped {
        thread: i64,
        reason: StopReason,
        description: String,
        text: Option<String>,
        breakpoints: Vec<i64>,
    },
    Continued {
        thread: i64,
    },
    ThreadStarted {
        thread: i64,
    },
    ThreadExited {
        thread: i64,
    },
    Output {
        category: OutputCategory,
        text: String,
    },
    Breakpoint(BreakpointStatus),
    /// The session cannot go on (e.g. every node is gone).
    Terminated {
        reason: String,
    },
}

/// An error that goes back to the editor as a failed response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DebugError(pub String);

impl DebugError {
    pub fn new(s: impl Into<String>) -> DebugError {
        DebugError(s.into())
    }
}

impl From<crate::read_only::Refused> for DebugError {
    fn from(e: crate::read_only::Refused) -> Self {
        DebugError(e.to_string())
    }
}

impl From<crate::rpc::RpcError> for DebugError {
    fn from(e: crate::rpc::RpcError) -> Self {
        DebugError(e.to_string())
    }
}

/// Exception filters the engine offers.
pub const FILTER_CRASHES: &str = "crashes";
pub const FILTER_CRASH_REPORTS: &str = "crash_reports";

/// What a debugger engine does. The adapter owns the engine and calls it from one loop, so methods take
/// `&mut self`; node-side events come in through [`Engine::next_raw`] and are turned into
/// [`EngineEvent`]s by [`Engine::handle_raw`].
#[allow(async_fn_in_trait)]
pub trait Engine {
    type Raw;
    /// Waits for the next raw event (cancel-safe).
    async fn next_raw(&mut self) -> Option<Self::Raw>;
    async fn handle_raw(&mut self, raw: Self::Raw) -> Vec<EngineEvent>;
    /// Events that answering the last request produced, to send after its response.
    fn drain_events(&mut self) -> Vec<EngineEvent>;

    async fn set_breakpoints(
        &mut self,
        file: &std::path::Path,
        breakpoints: Vec<LineBreakpoint>,
    ) -> Vec<BreakpointStatus>;
    async fn set_function_breakpoints(
        &mut self,
        functions: Vec<(String, Option<String>, Option<String>)>,
    ) -> Vec<BreakpointStatus>;
    async fn set_exception_filters(&mut self, filters: &[String]) -> Result<(), DebugError>;
    async fn breakpoint_locations(&mut self, file: &std::path::Path, line: u32, end_line: Option<u32>) -> Vec<u32>;
    fn threads(&self) -> Vec<ThreadInfo>;
    async fn stack_trace(&mut self, thread: i64) -> Result<Vec<FrameInfo>, DebugError>;
    async fn scopes(&mut self, frame: i64) -> Result<Vec<ScopeInfo>, DebugError>;
    async fn variables(
        &mut self,
        reference: i64,
        start: Option<u64>,
        count: Option<u64>,
    ) -> Result<Vec<VariableInfo>, DebugError>;
    async fn set_variable(&mut self, reference: i64, name: &str, value: &str) -> Result<VariableInfo, DebugError>;
    async fn evaluate(&mut self, expression: &str, frame: Option<i64>) -> Result<VariableInfo, DebugError>;
    async fn resume(&mut self, thread: i64, how: Resume) -> Result<Vec<EngineEvent>, DebugError>;
    async fn pause(&mut self, thread: i64) -> Result<Vec<EngineEvent>, DebugError>;
    fn loaded_sources(&self) -> Vec<PathBuf>;
    /// Undoes everything the session did on every node (see the clean-up contract in the README).
    async fn end(&mut self) -> Vec<String>;
}
