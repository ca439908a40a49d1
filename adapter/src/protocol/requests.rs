//! Typed requests: one marker type per supported command, implementing [`Request`].
//!
//! As in helix-dap, a marker is an uninhabited enum that only names the command and the types of
//! its arguments and response body:
//!
//! ```
//! use orbit_adapter::protocol::requests::{self, Request};
//!
//! fn dispatch(command: &str) -> &'static str {
//!     match command {
//!         requests::Initialize::COMMAND => "initialize",
//!         <requests::SetBreakpoints as Request>::COMMAND => "breakpoints",
//!         _ => "unsupported",
//!     }
//! }
//! assert_eq!(dispatch("setBreakpoints"), "breakpoints");
//! ```
//!
//! Responses without a body use `()` as their body type.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::*;

/// A DAP request: its `command` string, the type of its `arguments` and of its response `body`.
pub trait Request {
    /// The `command` of the request on the wire.
    const COMMAND: &'static str;
    /// The request's `arguments`.
    type Arguments: DeserializeOwned + Serialize;
    /// The `body` of a successful response (`()` when there is none).
    type Response: DeserializeOwned + Serialize;
}

macro_rules! requests {
    ($( $(#[$meta:meta])* $name:ident = $command:literal, $args:ty => $response:ty; )*) => {
        $(
            $(#[$meta])*
            #[derive(Debug)]
            pub enum $name {}

            impl Request for $name {
                const COMMAND: &'static str = $command;
                type Arguments = $args;
                type Response = $response;
            }
        )*

        /// The commands of every request type defined here.
        pub const COMMANDS: &[&str] = &[$($command),*];
    };
}

requests! {
    /// The `initialize` request: configures the debug adapter with the client's capabilities and
    /// returns the adapter's.
    Initialize = "initialize", InitializeRequestArguments => Capabilities;
    /// The `attach` request: attach to a running BEAM cluster (Orbit-specific arguments).
    Attach = "attach", AttachArguments => ();
    /// The `launch` request: start a BEAM cluster under the debugger (Orbit-specific arguments).
    Launch = "launch", LaunchArguments => ();
    /// The `setBreakpoints` request: all breakpoints of one source, replacing the previous ones.
    SetBreakpoints = "setBreakpoints", SetBreakpointsArguments => SetBreakpointsResponse;
    /// The `setFunctionBreakpoints` request: all function breakpoints, replacing the previous ones.
    SetFunctionBreakpoints = "setFunctionBreakpoints",
        SetFunctionBreakpointsArguments => SetFunctionBreakpointsResponse;
    /// The `setExceptionBreakpoints` request: the exception filters to break on.
    SetExceptionBreakpoints = "setExceptionBreakpoints",
        SetExceptionBreakpointsArguments => SetExceptionBreakpointsResponse;
    /// The `configurationDone` request: the client has finished initial configuration.
    ConfigurationDone = "configurationDone", ConfigurationDoneArguments => ();
    /// The `breakpointLocations` request: possible breakpoint locations in a range of a source.
    BreakpointLocations = "breakpointLocations", BreakpointLocationsArguments => BreakpointLocationsResponse;
    /// The `threads` request: all threads (in Orbit: debugged processes).
    Threads = "threads", ThreadsArguments => ThreadsResponse;
    /// The `stackTrace` request: the stack of a thread.
    StackTrace = "stackTrace", StackTraceArguments => StackTraceResponse;
    /// The `scopes` request: the variable scopes of a stack frame.
    Scopes = "scopes", ScopesArguments => ScopesResponse;
    /// The `variables` request: the children of a variables reference.
    Variables = "variables", VariablesArguments => VariablesResponse;
    /// The `setVariable` request: set a variable in a container.
    SetVariable = "setVariable", SetVariableArguments => SetVariableResponse;
    /// The `evaluate` request: evaluate an expression.
    Evaluate = "evaluate", EvaluateArguments => EvaluateResponse;
    /// The `continue` request: resume a thread (or all).
    Continue = "continue", ContinueArguments => ContinueResponse;
    /// The `next` request: step over.
    Next = "next", NextArguments => ();
    /// The `stepIn` request: step into.
    StepIn = "stepIn", StepInArguments => ();
    /// The `stepOut` request: step out.
    StepOut = "stepOut", StepOutArguments => ();
    /// The `pause` request: suspend a thread.
    Pause = "pause", PauseArguments => ();
    /// The `source` request: the content of a source by reference.
    Source = "source", SourceArguments => SourceResponse;
    /// The `loadedSources` request: all sources currently loaded.
    LoadedSources = "loadedSources", LoadedSourcesArguments => LoadedSourcesResponse;
    /// The `disconnect` request: end the debug session.
    Disconnect = "disconnect", DisconnectArguments => ();
    /// The `terminate` request: ask the debuggee to terminate itself.
    Terminate = "terminate", TerminateArguments => ();
}
