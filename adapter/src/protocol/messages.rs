//! Request arguments, response bodies and event bodies of the supported commands and events.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::types::*;

// ---------------------------------------------------------------------------------------------
// initialize

/// Arguments for the `initialize` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeRequestArguments {
    /// The ID of the client using this adapter.
    #[serde(rename = "clientID", default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The human-readable name of the client using this adapter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// The ID of the debug adapter.
    #[serde(rename = "adapterID")]
    pub adapter_id: String,
    /// The ISO-639 locale of the client using this adapter, e.g. en-US or de-CH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// If true all line numbers are 1-based (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines_start_at1: Option<bool>,
    /// If true all column numbers are 1-based (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns_start_at1: Option<bool>,
    /// Determines in what format paths are specified. The default is `path`, which is the native
    /// format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_format: Option<PathFormat>,
    /// Client supports the `type` attribute for variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_variable_type: Option<bool>,
    /// Client supports the paging of variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_variable_paging: Option<bool>,
    /// Client supports the `runInTerminal` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_run_in_terminal_request: Option<bool>,
    /// Client supports memory references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_memory_references: Option<bool>,
    /// Client supports progress reporting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_progress_reporting: Option<bool>,
    /// Client supports the `invalidated` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_invalidated_event: Option<bool>,
    /// Client supports the `memory` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_memory_event: Option<bool>,
    /// Client supports the `argsCanBeInterpretedByShell` attribute on the `runInTerminal` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_args_can_be_interpreted_by_shell: Option<bool>,
    /// Client supports the `startDebugging` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_start_debugging_request: Option<bool>,
    /// The client will interpret ANSI escape sequences in the display of `OutputEvent.output` and
    /// `Variable.value` fields when `Capabilities.supportsANSIStyling` is also enabled.
    #[serde(rename = "supportsANSIStyling", default, skip_serializing_if = "Option::is_none")]
    pub supports_ansi_styling: Option<bool>,
}

string_enum! {
    /// The format of paths ([`InitializeRequestArguments::path_format`]).
    pub enum PathFormat {
        /// Native file system paths (the default).
        Path = "path",
        /// URIs.
        Uri = "uri",
    }
}

// ---------------------------------------------------------------------------------------------
// setBreakpoints, setFunctionBreakpoints, setExceptionBreakpoints, breakpointLocations

/// Arguments for the `setBreakpoints` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetBreakpointsArguments {
    /// The source location of the breakpoints; either `source.path` or `source.sourceReference`
    /// must be specified.
    pub source: Source,
    /// The code locations of the breakpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakpoints: Option<Vec<SourceBreakpoint>>,
    /// Deprecated: The code locations of the breakpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<i64>>,
    /// A value of true indicates that the underlying source has been modified which results in new
    /// breakpoint locations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_modified: Option<bool>,
}

/// Body of the `setBreakpoints` response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetBreakpointsResponse {
    /// Information about the breakpoints. The array elements are in the same order as the elements
    /// of the `breakpoints` (or the deprecated `lines`) array in the arguments.
    pub breakpoints: Vec<Breakpoint>,
}

/// Arguments for the `setFunctionBreakpoints` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetFunctionBreakpointsArguments {
    /// The function names of the breakpoints.
    pub breakpoints: Vec<FunctionBreakpoint>,
}

/// Body of the `setFunctionBreakpoints` response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetFunctionBreakpointsResponse {
    /// Information about the breakpoints. The array elements correspond to the elements of the
    /// `breakpoints` array.
    pub breakpoints: Vec<Breakpoint>,
}

/// Arguments for the `setExceptionBreakpoints` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetExceptionBreakpointsArguments {
    /// Set of exception filters specified by their ID. The set of all possible exception filters
    /// is defined by the `exceptionBreakpointFilters` capability. The `filter` and `filterOptions`
    /// sets are additive.
    pub filters: Vec<String>,
    /// Set of exception filters and their options. The set of all possible exception filters is
    /// defined by the `exceptionBreakpointFilters` capability. This attribute is only honored by a
    /// debug adapter if the corresponding capability `supportsExceptionFilterOptions` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_options: Option<Vec<ExceptionFilterOptions>>,
    /// Configuration options for selected exceptions. The attribute is only honored by a debug
    /// adapter if the corresponding capability `supportsExceptionOptions` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception_options: Option<Vec<ExceptionOptions>>,
}

/// Body of the `setExceptionBreakpoints` response (the body itself is optional).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetExceptionBreakpointsResponse {
    /// Information about the exception breakpoints or filters. The breakpoints returned are in the
    /// same order as the elements of the `filters`, `filterOptions`, `exceptionOptions` arrays in
    /// the arguments. If both `filters` and `filterOptions` are given, the returned array must
    /// start with `filters` information first, followed by `filterOptions` information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakpoints: Option<Vec<Breakpoint>>,
}

/// Arguments for the `breakpointLocations` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakpointLocationsArguments {
    /// The source location of the breakpoints; either `source.path` or `source.sourceReference`
    /// must be specified.
    pub source: Source,
    /// Start line of range to search possible breakpoint locations in. If only the line is
    /// specified, the request returns all possible locations in that line.
    pub line: i64,
    /// Start position within `line` to search possible breakpoint locations in. If no column is
    /// given, the first position in the start line is assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<i64>,
    /// End line of range to search possible breakpoint locations in. If no end line is given, then
    /// the end line is assumed to be the start line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_line: Option<i64>,
    /// End position within `endLine` to search possible breakpoint locations in. If no end column
    /// is given, the last position in the end line is assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_column: Option<i64>,
}

/// Body of the `breakpointLocations` response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakpointLocationsResponse {
    /// Sorted set of possible breakpoint locations.
    pub breakpoints: Vec<BreakpointLocation>,
}

// ---------------------------------------------------------------------------------------------
// configurationDone, threads, loadedSources: no arguments

/// Arguments for the `configurationDone` request (none are defined).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConfigurationDoneArguments {}

/// Arguments for the `threads` request (the specification defines none).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ThreadsArguments {}

/// Body of the `threads` response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadsResponse {
    /// All threads.
    pub threads: Vec<Thread>,
}

/// Arguments for the `loadedSources` request (none are defined).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LoadedSourcesArguments {}

/// Body of the `loadedSources` response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadedSourcesResponse {
    /// Set of loaded sources.
    pub sources: Vec<Source>,
}

// ---------------------------------------------------------------------------------------------
// stackTrace, scopes, variables, setVariable, evaluate, source

/// Arguments for the `stackTrace` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackTraceArguments {
    /// Retrieve the stacktrace for this thread.
    pub thread_id: i64,
    /// The index of the first frame to return; if omitted frames start at 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_frame: Option<i64>,
    /// The maximum number of frames to return. If levels is not specified or 0, all frames are
    /// returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<i64>,
    /// Specifies details on how to format the returned `StackFrame.name`. The debug adapter may
    /// format requested details in any way that would make sense to a developer. The attribute is
    /// only honored by a debug adapter if the corresponding capability
    /// `supportsValueFormattingOptions` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<StackFrameFormat>,
}

/// Body of the `stackTrace` response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackTraceResponse {
    /// The frames of the stack frame. If the array has length zero, there are no stack frames
    /// available. This means that there is no location information available.
    pub stack_frames: Vec<StackFrame>,
    /// The total number of frames available in the stack. If omitted or if `totalFrames` is larger
    /// than the available frames, a client is expected to request frames until a request returns
    /// less frames than requested (which indicates the end of the stack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_frames: Option<i64>,
}

/// Arguments for the `scopes` request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopesArguments {
    /// Retrieve the scopes for the stack frame identified by `frameId`. The `frameId` must have
    /// been obtained in the current suspended state.
    pub frame_id: i64,
}

/// Body of the `scopes` response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopesResponse {
    /// The scopes of the stack frame. If the array has length zero, there are no scopes available.
    pub scopes: Vec<Scope>,
}

/// Arguments for the `variables` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariablesArguments {
    /// The variable for which to retrieve its children. The `variablesReference` must have been
    /// obtained in the current suspended state.
    pub variables_reference: i64,
    /// Filter to limit the child variables to either named or indexed. If omitted, both types are
    /// fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<VariablesFilter>,
    /// The index of the first variable to return; if omitted children start at 0. The attribute is
    /// only honored by a debug adapter if the corresponding capability `supportsVariablePaging` is
    /// true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    /// The number of variables to return. If count is missing or 0, all variables are returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// Specifies details on how to format the Variable values. The attribute is only honored by a
    /// debug adapter if the corresponding capability `supportsValueFormattingOptions` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ValueFormat>,
}

string_enum! {
    /// Which children a `variables` request asks for.
    pub enum VariablesFilter {
        /// Only indexed children.
        Indexed = "indexed",
        /// Only named children.
        Named = "named",
    }
}

/// Body of the `variables` response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariablesResponse {
    /// All (or a range) of variables for the given variable reference.
    pub variables: Vec<Variable>,
}

/// Arguments for the `setVariable` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetVariableArguments {
    /// The reference of the variable container. The `variablesReference` must have been obtained
    /// in the current suspended state.
    pub variables_reference: i64,
    /// The name of the variable in the container.
    pub name: String,
    /// The value of the variable.
    pub value: String,
    /// Specifies details on how to format the response value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ValueFormat>,
}

/// Body of the `setVariable` response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetVariableResponse {
    /// The new value of the variable.
    pub value: String,
    /// The type of the new value. Typically shown in the UI when hovering over the value.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// If `variablesReference` is > 0, the new value is structured and its children can be
    /// retrieved by passing `variablesReference` to the `variables` request as long as execution
    /// remains suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables_reference: Option<i64>,
    /// The number of named child variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named_variables: Option<i64>,
    /// The number of indexed child variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexed_variables: Option<i64>,
    /// A memory reference to a location appropriate for this result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reference: Option<String>,
    /// A reference that allows the client to request the location where the new value is
    /// declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_location_reference: Option<i64>,
}

/// Arguments for the `evaluate` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluateArguments {
    /// The expression to evaluate.
    pub expression: String,
    /// Evaluate the expression in the scope of this stack frame. If not specified, the expression
    /// is evaluated in the global scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_id: Option<i64>,
    /// The contextual line where the expression should be evaluated. In the 'hover' context, this
    /// should be set to the start of the expression being hovered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<i64>,
    /// The contextual column where the expression should be evaluated. This may be provided if
    /// `line` is also provided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<i64>,
    /// The contextual source in which the `line` is found. This must be provided if `line` is
    /// provided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// The context in which the evaluate request is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<EvaluateContext>,
    /// Specifies details on how to format the result. The attribute is only honored by a debug
    /// adapter if the corresponding capability `supportsValueFormattingOptions` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ValueFormat>,
}

string_enum! {
    /// The context in which an `evaluate` request is used.
    pub enum EvaluateContext {
        /// Evaluate is called from a watch view context.
        Watch = "watch",
        /// Evaluate is called from a REPL context.
        Repl = "repl",
        /// Evaluate is called to generate the debug hover contents.
        Hover = "hover",
        /// Evaluate is called to generate clipboard contents.
        Clipboard = "clipboard",
        /// Evaluate is called from a variables view context.
        Variables = "variables",
    }
}

/// Body of the `evaluate` response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluateResponse {
    /// The result of the evaluate request.
    pub result: String,
    /// The type of the evaluate result. This attribute should only be returned by a debug adapter
    /// if the corresponding capability `supportsVariableType` is true.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Properties of an evaluate result that can be used to determine how to render the result in
    /// the UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presentation_hint: Option<VariablePresentationHint>,
    /// If `variablesReference` is > 0, the evaluate result is structured and its children can be
    /// retrieved by passing `variablesReference` to the `variables` request as long as execution
    /// remains suspended.
    pub variables_reference: i64,
    /// The number of named child variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named_variables: Option<i64>,
    /// The number of indexed child variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexed_variables: Option<i64>,
    /// A memory reference to a location appropriate for this result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reference: Option<String>,
    /// A reference that allows the client to request the location where the returned value is
    /// declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_location_reference: Option<i64>,
}

/// Arguments for the `source` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceArguments {
    /// Specifies the source content to load. Either `source.path` or `source.sourceReference` must
    /// be specified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// The reference to the source. This is the same as `source.sourceReference`. This is provided
    /// for backward compatibility since old clients do not understand the `source` attribute.
    pub source_reference: i64,
}

/// Body of the `source` response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceResponse {
    /// Content of the source reference.
    pub content: String,
    /// Content type (MIME type) of the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// continue, next, stepIn, stepOut, pause

/// Arguments for the `continue` request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContinueArguments {
    /// Specifies the active thread. If the debug adapter supports single thread execution (see
    /// `supportsSingleThreadExecutionRequests`) and the argument `singleThread` is true, only the
    /// thread with this ID is resumed.
    pub thread_id: i64,
    /// If this flag is true, execution is resumed only for the thread with given `threadId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_thread: Option<bool>,
}

/// Body of the `continue` response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContinueResponse {
    /// If omitted or set to `true`, this response signals to the client that all threads have been
    /// resumed. The value `false` indicates that not all threads were resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_threads_continued: Option<bool>,
}

/// Arguments for the `next` request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextArguments {
    /// Specifies the thread for which to resume execution for one step (of the given granularity).
    pub thread_id: i64,
    /// If this flag is true, all other suspended threads are not resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_thread: Option<bool>,
    /// Stepping granularity. If no granularity is specified, a granularity of `statement` is
    /// assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<SteppingGranularity>,
}

/// Arguments for the `stepIn` request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepInArguments {
    /// Specifies the thread for which to resume execution for one step-into (of the given
    /// granularity).
    pub thread_id: i64,
    /// If this flag is true, all other suspended threads are not resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_thread: Option<bool>,
    /// Id of the target to step into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<i64>,
    /// Stepping granularity. If no granularity is specified, a granularity of `statement` is
    /// assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<SteppingGranularity>,
}

/// Arguments for the `stepOut` request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepOutArguments {
    /// Specifies the thread for which to resume execution for one step-out (of the given
    /// granularity).
    pub thread_id: i64,
    /// If this flag is true, all other suspended threads are not resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_thread: Option<bool>,
    /// Stepping granularity. If no granularity is specified, a granularity of `statement` is
    /// assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<SteppingGranularity>,
}

/// Arguments for the `pause` request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PauseArguments {
    /// Pause execution for this thread.
    pub thread_id: i64,
}

// ---------------------------------------------------------------------------------------------
// disconnect, terminate

/// Arguments for the `disconnect` request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectArguments {
    /// A value of true indicates that this `disconnect` request is part of a restart sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<bool>,
    /// Indicates whether the debuggee should be terminated when the debugger is disconnected. If
    /// unspecified, the debug adapter is free to do whatever it thinks is best. The attribute is
    /// only honored by a debug adapter if the corresponding capability `supportTerminateDebuggee`
    /// is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminate_debuggee: Option<bool>,
    /// Indicates whether the debuggee should stay suspended when the debugger is disconnected. If
    /// unspecified, the debuggee should resume execution. The attribute is only honored by a debug
    /// adapter if the corresponding capability `supportSuspendDebuggee` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend_debuggee: Option<bool>,
}

/// Arguments for the `terminate` request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminateArguments {
    /// A value of true indicates that this `terminate` request is part of a restart sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Event bodies

/// Body of the `initialized` event, which has none: it serializes to no body at all and accepts
/// any body. This event indicates that the debug adapter is ready to accept configuration requests
/// (e.g. `setBreakpoints`, `setExceptionBreakpoints`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct InitializedEvent;

impl<'de> Deserialize<'de> for InitializedEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| InitializedEvent)
    }
}

/// Body of the `stopped` event: the execution of the debuggee has stopped due to some condition.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoppedEventBody {
    /// The reason for the event. For backward compatibility this string is shown in the UI if the
    /// `description` attribute is missing (but it must not be translated).
    pub reason: StoppedReason,
    /// The full reason for the event, e.g. 'Paused on exception'. This string is shown in the UI
    /// as is and can be translated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The thread which was stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<i64>,
    /// A value of true hints to the client that this event should not change the focus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_focus_hint: Option<bool>,
    /// Additional information. E.g. if reason is `exception`, text contains the exception name.
    /// This string is shown in the UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// If `allThreadsStopped` is true, a debug adapter can announce that all threads have stopped.
    /// If the attribute is missing or false, only the thread with the given `threadId` can be
    /// expanded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_threads_stopped: Option<bool>,
    /// Ids of the breakpoints that triggered the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hit_breakpoint_ids: Option<Vec<i64>>,
}

string_enum! {
    /// The reason of a `stopped` event.
    #[derive(Default)]
    pub enum StoppedReason {
        /// A step finished.
        Step = "step",
        /// A breakpoint was hit.
        Breakpoint = "breakpoint",
        /// An exception was raised.
        Exception = "exception",
        /// The user paused execution.
        #[default]
        Pause = "pause",
        /// Stopped on entry.
        Entry = "entry",
        /// A goto finished.
        Goto = "goto",
        /// A function breakpoint was hit.
        FunctionBreakpoint = "function breakpoint",
        /// A data breakpoint was hit.
        DataBreakpoint = "data breakpoint",
        /// An instruction breakpoint was hit.
        InstructionBreakpoint = "instruction breakpoint",
    }
}

/// Body of the `continued` event: the execution of the debuggee has continued.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContinuedEventBody {
    /// The thread which was continued.
    pub thread_id: i64,
    /// If omitted or set to `true`, this event signals to the client that all threads have been
    /// resumed. The value `false` indicates that not all threads were resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_threads_continued: Option<bool>,
}

/// Body of the `thread` event: a thread has started or exited.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadEventBody {
    /// The reason for the event.
    pub reason: ThreadReason,
    /// The identifier of the thread.
    pub thread_id: i64,
}

string_enum! {
    /// The reason of a `thread` event.
    #[derive(Default)]
    pub enum ThreadReason {
        /// The thread started.
        #[default]
        Started = "started",
        /// The thread exited.
        Exited = "exited",
    }
}

/// Body of the `output` event: the target has produced some output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputEventBody {
    /// The output category. If not specified or if the category is not understood by the client,
    /// `console` is assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<OutputCategory>,
    /// The output to report.
    pub output: String,
    /// Support for keeping an output log organized by grouping related messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<OutputGroup>,
    /// If an attribute `variablesReference` exists and its value is > 0, the output contains
    /// objects which can be retrieved by passing `variablesReference` to the `variables` request
    /// as long as execution remains suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables_reference: Option<i64>,
    /// The source location where the output was produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// The source location's line where the output was produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<i64>,
    /// The position in `line` where the output was produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<i64>,
    /// Additional data to report. For the `telemetry` category the data is sent to telemetry, for
    /// the other categories the data is shown in JSON format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// A reference that allows the client to request the location where the new value is
    /// declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_reference: Option<i64>,
}

string_enum! {
    /// The category of an `output` event.
    pub enum OutputCategory {
        /// Show the output in the client's default message UI, e.g. a 'debug console'. This
        /// category should only be used for informational output from the debugger (as opposed to
        /// the debuggee).
        Console = "console",
        /// A hint for the client to show the output in the client's UI for important and highly
        /// visible information, e.g. as a popup notification.
        Important = "important",
        /// Show the output as normal program output from the debuggee.
        Stdout = "stdout",
        /// Show the output as error program output from the debuggee.
        Stderr = "stderr",
        /// Send the output to telemetry instead of showing it to the user.
        Telemetry = "telemetry",
    }
}

string_enum! {
    /// Grouping of `output` events.
    pub enum OutputGroup {
        /// Start a new group in expanded mode. Subsequent output events are members of the group
        /// and should be shown indented.
        Start = "start",
        /// Start a new group in collapsed mode.
        StartCollapsed = "startCollapsed",
        /// End the current group and decrease the indentation of subsequent output events.
        End = "end",
    }
}

/// Body of the `breakpoint` event: some information about a breakpoint has changed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakpointEventBody {
    /// The reason for the event.
    pub reason: BreakpointEventReason,
    /// The `id` attribute is used to find the target breakpoint, the other attributes are used as
    /// the new values.
    pub breakpoint: Breakpoint,
}

string_enum! {
    /// The reason of a `breakpoint` event.
    #[derive(Default)]
    pub enum BreakpointEventReason {
        /// The breakpoint changed.
        #[default]
        Changed = "changed",
        /// A new breakpoint.
        New = "new",
        /// The breakpoint was removed.
        Removed = "removed",
    }
}

/// Body of the `terminated` event: debugging of the debuggee has terminated. This does **not**
/// mean that the debuggee itself has exited.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminatedEventBody {
    /// A debug adapter may set `restart` to true (or to an arbitrary object) to request that the
    /// client restarts the session. The value is not interpreted by the client and passed
    /// unmodified as an attribute `__restart` to the `launch` and `attach` requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Value>,
}

/// Body of the `exited` event: the debuggee has exited and returns its exit code.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitedEventBody {
    /// The exit code returned from the debuggee.
    pub exit_code: i64,
}

/// Body of the `loadedSource` event: some source has been added, changed, or removed from the set
/// of all loaded sources.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadedSourceEventBody {
    /// The reason for the event.
    pub reason: LoadedSourceReason,
    /// The new, changed, or removed source.
    pub source: Source,
}

string_enum! {
    /// The reason of a `loadedSource` event.
    #[derive(Default)]
    pub enum LoadedSourceReason {
        /// A new source.
        #[default]
        New = "new",
        /// The source changed.
        Changed = "changed",
        /// The source was removed.
        Removed = "removed",
    }
}
