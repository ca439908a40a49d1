//! Types shared by several requests, responses and events.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A `Source` is a descriptor for source code.
///
/// It is returned from the debug adapter as part of a `StackFrame` and it is used by clients when
/// specifying breakpoints.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// The short name of the source. Every source returned from the debug adapter has a name.
    /// When sending a source to the debug adapter this name is optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The path of the source to be shown in the UI. It is only used to locate and load the
    /// content of the source if no `sourceReference` is specified (or its value is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// If the value > 0 the contents of the source must be retrieved through the `source` request
    /// (even if a path is specified). Since a `sourceReference` is only valid for a session, it
    /// can not be used to persist a source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_reference: Option<i64>,
    /// A hint for how to present the source in the UI. A value of `deemphasize` can be used to
    /// indicate that the source is not available or that it is skipped on stepping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presentation_hint: Option<SourcePresentationHint>,
    /// The origin of this source. For example, 'internal module', 'inlined content from source
    /// map', etc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// A list of sources that are related to this source. These may be the source that generated
    /// this source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<Source>>,
    /// Additional data that a debug adapter might want to loop through the client. The client
    /// should leave the data intact and persist it across sessions. The client should not
    /// interpret the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter_data: Option<Value>,
    /// The checksums associated with this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksums: Option<Vec<Checksum>>,
}

string_enum! {
    /// A hint for how to present a [`Source`] in the UI.
    pub enum SourcePresentationHint {
        /// Shown normally.
        Normal = "normal",
        /// Emphasized.
        Emphasize = "emphasize",
        /// Not available, or skipped on stepping.
        Deemphasize = "deemphasize",
    }
}

/// The checksum of an item calculated by the specified algorithm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checksum {
    /// The algorithm used to calculate this checksum.
    pub algorithm: ChecksumAlgorithm,
    /// Value of the checksum, encoded as a hexadecimal value.
    pub checksum: String,
}

string_enum! {
    /// Names of checksum algorithms that may be supported by a debug adapter.
    pub enum ChecksumAlgorithm {
        /// MD5.
        Md5 = "MD5",
        /// SHA-1.
        Sha1 = "SHA1",
        /// SHA-256.
        Sha256 = "SHA256",
        /// A modification timestamp.
        Timestamp = "timestamp",
    }
}

/// Properties of a breakpoint location returned from the `breakpointLocations` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakpointLocation {
    /// Start line of breakpoint location.
    pub line: i64,
    /// The start position of a breakpoint location. Position is measured in UTF-16 code units and
    /// the client capability `columnsStartAt1` determines whether it is 0- or 1-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<i64>,
    /// The end line of breakpoint location if the location covers a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_line: Option<i64>,
    /// The end position of a breakpoint location (if the location covers a range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_column: Option<i64>,
}

/// Properties of a breakpoint or logpoint passed to the `setBreakpoints` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceBreakpoint {
    /// The source line of the breakpoint or logpoint.
    pub line: i64,
    /// Start position within source line of the breakpoint or logpoint. It is measured in UTF-16
    /// code units and the client capability `columnsStartAt1` determines whether it is 0- or
    /// 1-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<i64>,
    /// The expression for conditional breakpoints. It is only honored by a debug adapter if the
    /// corresponding capability `supportsConditionalBreakpoints` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The expression that controls how many hits of the breakpoint are ignored. The debug adapter
    /// is expected to interpret the expression as needed. The attribute is only honored by a debug
    /// adapter if the corresponding capability `supportsHitConditionalBreakpoints` is true. If both
    /// this property and `condition` are specified, `hitCondition` should be evaluated only if the
    /// `condition` is met, and the debug adapter should stop only if both conditions are met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hit_condition: Option<String>,
    /// If this attribute exists and is non-empty, the debug adapter must not 'break' (stop) but
    /// log the message instead. Expressions within `{}` are interpolated. The attribute is only
    /// honored by a debug adapter if the corresponding capability `supportsLogPoints` is true. If
    /// either `hitCondition` or `condition` is specified, then the message should only be logged
    /// if those conditions are met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_message: Option<String>,
    /// The mode of this breakpoint. If defined, this must be one of the `breakpointModes` the
    /// debug adapter advertised in its `Capabilities`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// Properties of a breakpoint passed to the `setFunctionBreakpoints` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionBreakpoint {
    /// The name of the function.
    pub name: String,
    /// An expression for conditional breakpoints. It is only honored by a debug adapter if the
    /// corresponding capability `supportsConditionalBreakpoints` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// An expression that controls how many hits of the breakpoint are ignored. The debug adapter
    /// is expected to interpret the expression as needed. The attribute is only honored by a debug
    /// adapter if the corresponding capability `supportsHitConditionalBreakpoints` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hit_condition: Option<String>,
}

/// Information about a breakpoint created in `setBreakpoints`, `setFunctionBreakpoints`,
/// `setInstructionBreakpoints`, or `setDataBreakpoints` requests.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Breakpoint {
    /// The identifier for the breakpoint. It is needed if breakpoint events are used to update or
    /// remove breakpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// If true, the breakpoint could be set (but not necessarily at the desired location).
    pub verified: bool,
    /// A message about the state of the breakpoint. This is shown to the user and can be used to
    /// explain why a breakpoint could not be verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The source where the breakpoint is located.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// The start line of the actual range covered by the breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<i64>,
    /// Start position of the source range covered by the breakpoint. It is measured in UTF-16 code
    /// units and the client capability `columnsStartAt1` determines whether it is 0- or 1-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<i64>,
    /// The end line of the actual range covered by the breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_line: Option<i64>,
    /// End position of the source range covered by the breakpoint. If no end line is given, then
    /// the end column is assumed to be in the start line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_column: Option<i64>,
    /// A memory reference to where the breakpoint is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction_reference: Option<String>,
    /// The offset from the instruction reference. This can be negative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// A machine-readable explanation of why a breakpoint may not be verified. If a breakpoint is
    /// verified or a specific reason is not known, the adapter should omit this property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<BreakpointReason>,
}

string_enum! {
    /// Why a [`Breakpoint`] is not verified.
    pub enum BreakpointReason {
        /// Indicates a breakpoint might be verified in the future, but the adapter cannot verify
        /// it in the current state.
        Pending = "pending",
        /// Indicates a breakpoint was not able to be verified, and the adapter does not believe it
        /// can be verified without intervention.
        Failed = "failed",
    }
}

/// An `ExceptionBreakpointsFilter` is shown in the UI as a filter option for configuring how
/// exceptions are dealt with.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionBreakpointsFilter {
    /// The internal ID of the filter option. This value is passed to the `setExceptionBreakpoints`
    /// request.
    pub filter: String,
    /// The name of the filter option. This is shown in the UI.
    pub label: String,
    /// A help text providing additional information about the exception filter. This string is
    /// typically shown as a hover and can be translated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Initial value of the filter option. If not specified a value false is assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
    /// Controls whether a condition can be specified for this filter option. If false or missing,
    /// a condition can not be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_condition: Option<bool>,
    /// A help text providing information about the condition. This string is shown as the
    /// placeholder text for a text box and can be translated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_description: Option<String>,
}

/// An `ExceptionFilterOptions` is used to specify an exception filter together with a condition
/// for the `setExceptionBreakpoints` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionFilterOptions {
    /// ID of an exception filter returned by the `exceptionBreakpointFilters` capability.
    pub filter_id: String,
    /// An expression for conditional exceptions. The exception breaks into the debugger if the
    /// result of the condition is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The mode of this exception breakpoint. If defined, this must be one of the
    /// `breakpointModes` the debug adapter advertised in its `Capabilities`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// An `ExceptionOptions` assigns configuration options to a set of exceptions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionOptions {
    /// A path that selects a single or multiple exceptions in a tree. If `path` is missing, the
    /// whole tree is selected. By convention the first segment of the path is a category that is
    /// used to group exceptions in the UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<ExceptionPathSegment>>,
    /// Condition when a thrown exception should result in a break.
    pub break_mode: ExceptionBreakMode,
}

/// An `ExceptionPathSegment` represents a segment in a path that is used to match leafs or nodes
/// in a tree of exceptions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionPathSegment {
    /// If false or missing this segment matches the names provided, otherwise it matches anything
    /// except the names provided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negate: Option<bool>,
    /// Depending on the value of `negate` the names that should match or not match.
    pub names: Vec<String>,
}

string_enum! {
    /// This enumeration defines all possible conditions when a thrown exception should result in
    /// a break.
    pub enum ExceptionBreakMode {
        /// Never breaks.
        Never = "never",
        /// Always breaks.
        Always = "always",
        /// Breaks when the exception is unhandled.
        Unhandled = "unhandled",
        /// Breaks if the exception is not handled by user code.
        UserUnhandled = "userUnhandled",
    }
}

/// Information about the capabilities of a debug adapter.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// The debug adapter supports the `configurationDone` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_configuration_done_request: Option<bool>,
    /// The debug adapter supports function breakpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_function_breakpoints: Option<bool>,
    /// The debug adapter supports conditional breakpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_conditional_breakpoints: Option<bool>,
    /// The debug adapter supports breakpoints that break execution after a specified number of
    /// hits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_hit_conditional_breakpoints: Option<bool>,
    /// The debug adapter supports a (side effect free) `evaluate` request for data hovers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_evaluate_for_hovers: Option<bool>,
    /// Available exception filter options for the `setExceptionBreakpoints` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception_breakpoint_filters: Option<Vec<ExceptionBreakpointsFilter>>,
    /// The debug adapter supports stepping back via the `stepBack` and `reverseContinue` requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_step_back: Option<bool>,
    /// The debug adapter supports setting a variable to a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_set_variable: Option<bool>,
    /// The debug adapter supports restarting a frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_restart_frame: Option<bool>,
    /// The debug adapter supports the `gotoTargets` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_goto_targets_request: Option<bool>,
    /// The debug adapter supports the `stepInTargets` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_step_in_targets_request: Option<bool>,
    /// The debug adapter supports the `completions` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_completions_request: Option<bool>,
    /// The set of characters that should trigger completion in a REPL. If not specified, the UI
    /// should assume the `.` character.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_trigger_characters: Option<Vec<String>>,
    /// The debug adapter supports the `modules` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_modules_request: Option<bool>,
    /// The set of additional module information exposed by the debug adapter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_module_columns: Option<Vec<ColumnDescriptor>>,
    /// Checksum algorithms supported by the debug adapter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_checksum_algorithms: Option<Vec<ChecksumAlgorithm>>,
    /// The debug adapter supports the `restart` request. In this case a client should not
    /// implement `restart` by terminating and relaunching the adapter but by calling the `restart`
    /// request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_restart_request: Option<bool>,
    /// The debug adapter supports `exceptionOptions` on the `setExceptionBreakpoints` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_exception_options: Option<bool>,
    /// The debug adapter supports a `format` attribute on the `stackTrace`, `variables`, and
    /// `evaluate` requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_value_formatting_options: Option<bool>,
    /// The debug adapter supports the `exceptionInfo` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_exception_info_request: Option<bool>,
    /// The debug adapter supports the `terminateDebuggee` attribute on the `disconnect` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_terminate_debuggee: Option<bool>,
    /// The debug adapter supports the `suspendDebuggee` attribute on the `disconnect` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_suspend_debuggee: Option<bool>,
    /// The debug adapter supports the delayed loading of parts of the stack, which requires that
    /// both the `startFrame` and `levels` arguments and the `totalFrames` result of the
    /// `stackTrace` request are supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_delayed_stack_trace_loading: Option<bool>,
    /// The debug adapter supports the `loadedSources` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_loaded_sources_request: Option<bool>,
    /// The debug adapter supports log points by interpreting the `logMessage` attribute of the
    /// `SourceBreakpoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_log_points: Option<bool>,
    /// The debug adapter supports the `terminateThreads` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_terminate_threads_request: Option<bool>,
    /// The debug adapter supports the `setExpression` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_set_expression: Option<bool>,
    /// The debug adapter supports the `terminate` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_terminate_request: Option<bool>,
    /// The debug adapter supports data breakpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_data_breakpoints: Option<bool>,
    /// The debug adapter supports the `readMemory` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_read_memory_request: Option<bool>,
    /// The debug adapter supports the `writeMemory` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_write_memory_request: Option<bool>,
    /// The debug adapter supports the `disassemble` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_disassemble_request: Option<bool>,
    /// The debug adapter supports the `cancel` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_cancel_request: Option<bool>,
    /// The debug adapter supports the `breakpointLocations` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_breakpoint_locations_request: Option<bool>,
    /// The debug adapter supports the `clipboard` context value in the `evaluate` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_clipboard_context: Option<bool>,
    /// The debug adapter supports stepping granularities (argument `granularity`) for the stepping
    /// requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_stepping_granularity: Option<bool>,
    /// The debug adapter supports adding breakpoints based on instruction references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_instruction_breakpoints: Option<bool>,
    /// The debug adapter supports `filterOptions` as an argument on the `setExceptionBreakpoints`
    /// request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_exception_filter_options: Option<bool>,
    /// The debug adapter supports the `singleThread` property on the execution requests
    /// (`continue`, `next`, `stepIn`, `stepOut`, `reverseContinue`, `stepBack`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_single_thread_execution_requests: Option<bool>,
    /// The debug adapter supports the `asAddress` and `bytes` fields in the `dataBreakpointInfo`
    /// request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_data_breakpoint_bytes: Option<bool>,
    /// Modes of breakpoints supported by the debug adapter, such as 'hardware' or 'software'. If
    /// present, the client may allow the user to select a mode and include it in its
    /// `setBreakpoints` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakpoint_modes: Option<Vec<BreakpointMode>>,
    /// The debug adapter supports ANSI escape sequences in styling of `OutputEvent.output` and
    /// `Variable.value` fields.
    #[serde(rename = "supportsANSIStyling", default, skip_serializing_if = "Option::is_none")]
    pub supports_ansi_styling: Option<bool>,
}

/// A `ColumnDescriptor` specifies what module attribute to show in a column of the modules view,
/// how to format it, and what the column's label should be.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnDescriptor {
    /// Name of the attribute rendered in this column.
    pub attribute_name: String,
    /// Header UI label of column.
    pub label: String,
    /// Format to use for the rendered values in this column. TBD how the format strings looks
    /// like.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Datatype of values in this column. Defaults to `string` if not specified.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<ColumnDescriptorType>,
    /// Width of this column in characters (hint only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
}

string_enum! {
    /// Datatype of values in a [`ColumnDescriptor`].
    pub enum ColumnDescriptorType {
        /// A string.
        String = "string",
        /// A number.
        Number = "number",
        /// A boolean.
        Boolean = "boolean",
        /// A UTC timestamp.
        UnixTimestampUtc = "unixTimestampUTC",
    }
}

/// A `BreakpointMode` is provided as a option when setting breakpoints on sources or instructions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakpointMode {
    /// The internal ID of the mode. This value is passed to the `setBreakpoints` request.
    pub mode: String,
    /// The name of the breakpoint mode. This is shown in the UI.
    pub label: String,
    /// A help text providing additional information about the breakpoint mode. This string is
    /// typically shown as a hover and can be translated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Describes one or more type of breakpoint this mode applies to.
    pub applies_to: Vec<BreakpointModeApplicability>,
}

string_enum! {
    /// Describes one or more type of breakpoint a [`BreakpointMode`] applies to.
    pub enum BreakpointModeApplicability {
        /// In `SourceBreakpoint`s.
        Source = "source",
        /// In exception breakpoints applied in the `ExceptionFilterOptions`.
        Exception = "exception",
        /// In data breakpoints requested in the `DataBreakpointInfo` request.
        Data = "data",
        /// In `InstructionBreakpoint`s.
        Instruction = "instruction",
    }
}

/// A Thread (in Orbit: a BEAM process the debugger shows).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thread {
    /// Unique identifier for the thread.
    pub id: i64,
    /// The name of the thread.
    pub name: String,
}

/// A Stackframe contains the source location.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackFrame {
    /// An identifier for the stack frame. It must be unique across all threads. This id can be
    /// used to retrieve the scopes of the frame with the `scopes` request or to restart the
    /// execution of a stack frame.
    pub id: i64,
    /// The name of the stack frame, typically a method name.
    pub name: String,
    /// The source of the frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// The line within the source of the frame. If the source attribute is missing or doesn't
    /// exist, `line` is 0 and should be ignored by the client.
    pub line: i64,
    /// Start position of the range covered by the stack frame. It is measured in UTF-16 code units
    /// and the client capability `columnsStartAt1` determines whether it is 0- or 1-based. If
    /// attribute `source` is missing or doesn't exist, `column` is 0 and should be ignored by the
    /// client.
    pub column: i64,
    /// The end line of the range covered by the stack frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_line: Option<i64>,
    /// End position of the range covered by the stack frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_column: Option<i64>,
    /// Indicates whether this frame can be restarted with the `restartFrame` request. Clients
    /// should only use this if the debug adapter supports the `restart` request and the
    /// corresponding capability `supportsRestartFrame` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_restart: Option<bool>,
    /// A memory reference for the current instruction pointer in this frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction_pointer_reference: Option<String>,
    /// The module associated with this frame, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_id: Option<ModuleId>,
    /// A hint for how to present this frame in the UI. A value of `label` can be used to indicate
    /// that the frame is an artificial frame that is used as a visual label or separator. A value
    /// of `subtle` can be used to change the appearance of a frame in a 'subtle' way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presentation_hint: Option<StackFramePresentationHint>,
}

/// The module of a [`StackFrame`]: the specification allows an integer or a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ModuleId {
    /// A numeric module id.
    Number(i64),
    /// A string module id (in Orbit: the module name).
    String(String),
}

string_enum! {
    /// A hint for how to present a [`StackFrame`] in the UI.
    pub enum StackFramePresentationHint {
        /// Shown normally.
        Normal = "normal",
        /// An artificial frame used as a visual label or separator.
        Label = "label",
        /// Shown in a subtle way.
        Subtle = "subtle",
    }
}

/// Provides formatting information for a value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueFormat {
    /// Display the value in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex: Option<bool>,
}

/// Provides formatting information for a stack frame (a `ValueFormat` plus the fields below).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackFrameFormat {
    /// Display the value in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex: Option<bool>,
    /// Displays parameters for the stack frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<bool>,
    /// Displays the types of parameters for the stack frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_types: Option<bool>,
    /// Displays the names of parameters for the stack frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_names: Option<bool>,
    /// Displays the values of parameters for the stack frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_values: Option<bool>,
    /// Displays the line number of the stack frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<bool>,
    /// Displays the module of the stack frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<bool>,
    /// Includes all stack frames, including those the debug adapter might otherwise hide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_all: Option<bool>,
}

/// A `Scope` is a named container for variables. Optionally a scope can map to a source or a
/// range within a source.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// Name of the scope such as 'Arguments', 'Locals', or 'Registers'. This string is shown in
    /// the UI as is and can be translated.
    pub name: String,
    /// A hint for how to present this scope in the UI. If this attribute is missing, the scope is
    /// shown with a generic UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presentation_hint: Option<ScopePresentationHint>,
    /// The variables of this scope can be retrieved by passing the value of `variablesReference`
    /// to the `variables` request as long as execution remains suspended.
    pub variables_reference: i64,
    /// The number of named variables in this scope. The client can use this information to
    /// present the variables in a paged UI and fetch them in chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named_variables: Option<i64>,
    /// The number of indexed variables in this scope. The client can use this information to
    /// present the variables in a paged UI and fetch them in chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexed_variables: Option<i64>,
    /// If true, the number of variables in this scope is large or expensive to retrieve.
    pub expensive: bool,
    /// The source for this scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// The start line of the range covered by this scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<i64>,
    /// Start position of the range covered by the scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<i64>,
    /// The end line of the range covered by this scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_line: Option<i64>,
    /// End position of the range covered by the scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_column: Option<i64>,
}

string_enum! {
    /// A hint for how to present a [`Scope`] in the UI.
    pub enum ScopePresentationHint {
        /// Scope contains method arguments.
        Arguments = "arguments",
        /// Scope contains local variables.
        Locals = "locals",
        /// Scope contains registers. Only a single `registers` scope should be returned from a
        /// `scopes` request.
        Registers = "registers",
        /// Scope contains one or more return values.
        ReturnValue = "returnValue",
    }
}

/// A Variable is a name/value pair.
///
/// The `type` attribute is shown if space permits or when hovering over the variable's name. The
/// `kind` attribute is used to render additional properties of the variable, e.g. different icons
/// can be used to indicate that a variable is public or private. If the value is structured (has
/// children), a handle is provided to retrieve the children with the `variables` request. If the
/// number of named or indexed children is large, the numbers should be returned via the
/// `namedVariables` and `indexedVariables` attributes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    /// The variable's name.
    pub name: String,
    /// The variable's value. This can be a multi-line text, e.g. for a function the body of a
    /// function. For structured variables (which do not have a simple value), it is recommended to
    /// provide a one-line representation of the structured object.
    pub value: String,
    /// The type of the variable's value. Typically shown in the UI when hovering over the value.
    /// This attribute should only be returned by a debug adapter if the corresponding capability
    /// `supportsVariableType` is true.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Properties of a variable that can be used to determine how to render the variable in the
    /// UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presentation_hint: Option<VariablePresentationHint>,
    /// The evaluatable name of this variable which can be passed to the `evaluate` request to
    /// fetch the variable's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluate_name: Option<String>,
    /// If `variablesReference` is > 0, the variable is structured and its children can be
    /// retrieved by passing `variablesReference` to the `variables` request as long as execution
    /// remains suspended.
    pub variables_reference: i64,
    /// The number of named child variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named_variables: Option<i64>,
    /// The number of indexed child variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexed_variables: Option<i64>,
    /// A memory reference associated with this variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reference: Option<String>,
    /// A reference that allows the client to request the location where the variable is
    /// declared. This should be present only if the adapter is likely to be able to resolve the
    /// location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declaration_location_reference: Option<i64>,
    /// A reference that allows the client to request the location where the variable's value is
    /// declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_location_reference: Option<i64>,
}

/// Properties of a variable that can be used to determine how to render the variable in the UI.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariablePresentationHint {
    /// The kind of variable. Before introducing additional values, try to use the listed values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<VariableKind>,
    /// Set of attributes represented as an array of strings. Before introducing additional values,
    /// try to use the listed values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<VariableAttribute>>,
    /// Visibility of variable. Before introducing additional values, try to use the listed values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<VariableVisibility>,
    /// If true, clients can present the variable with a UI that supports a specific gesture to
    /// trigger its evaluation. This mechanism can be used for properties that require executing
    /// code when retrieving their value and where the code execution can be expensive and/or
    /// produce side-effects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lazy: Option<bool>,
}

string_enum! {
    /// The kind of a variable ([`VariablePresentationHint::kind`]).
    pub enum VariableKind {
        /// Indicates that the object is a property.
        Property = "property",
        /// Indicates that the object is a method.
        Method = "method",
        /// Indicates that the object is a class.
        Class = "class",
        /// Indicates that the object is data.
        Data = "data",
        /// Indicates that the object is an event.
        Event = "event",
        /// Indicates that the object is a base class.
        BaseClass = "baseClass",
        /// Indicates that the object is an inner class.
        InnerClass = "innerClass",
        /// Indicates that the object is an interface.
        Interface = "interface",
        /// Indicates that the object is the most derived class.
        MostDerivedClass = "mostDerivedClass",
        /// Indicates that the object is virtual, that means it is a synthetic object introduced by
        /// the adapter for rendering purposes, e.g. an index range for large arrays.
        Virtual = "virtual",
        /// Deprecated: indicates that a data breakpoint is registered for the object.
        DataBreakpoint = "dataBreakpoint",
    }
}

string_enum! {
    /// An attribute of a variable ([`VariablePresentationHint::attributes`]).
    pub enum VariableAttribute {
        /// Indicates that the object is static.
        Static = "static",
        /// Indicates that the object is a constant.
        Constant = "constant",
        /// Indicates that the object is read only.
        ReadOnly = "readOnly",
        /// Indicates that the object is a raw string.
        RawString = "rawString",
        /// The specification's text: "Indicates that the object can have an Object ID created for
        /// it." (vestigial; the descriptions of this and the next value look swapped upstream).
        HasObjectId = "hasObjectId",
        /// The specification's text: "Indicates that the object has an Object ID associated with
        /// it." (vestigial).
        CanHaveObjectId = "canHaveObjectId",
        /// Indicates that the evaluation had side effects.
        HasSideEffects = "hasSideEffects",
        /// Indicates that the object has its value tracked by a data breakpoint.
        HasDataBreakpoint = "hasDataBreakpoint",
    }
}

string_enum! {
    /// Visibility of a variable ([`VariablePresentationHint::visibility`]).
    pub enum VariableVisibility {
        /// Public.
        Public = "public",
        /// Private.
        Private = "private",
        /// Protected.
        Protected = "protected",
        /// Internal.
        Internal = "internal",
        /// Final.
        Final = "final",
    }
}

string_enum! {
    /// The granularity of one 'step' in the stepping requests `next`, `stepIn`, `stepOut`, and
    /// `stepBack`.
    pub enum SteppingGranularity {
        /// The step should allow the program to run until the current statement has finished
        /// executing.
        Statement = "statement",
        /// The step should allow the program to run until the current source line has executed.
        Line = "line",
        /// The step should allow one instruction to execute (e.g. one x86 instruction).
        Instruction = "instruction",
    }
}
