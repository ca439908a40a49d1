//! Debug Adapter Protocol messages, as serde types.
//!
//! Field names follow the DAP specification
//! (<https://microsoft.github.io/debug-adapter-protocol/specification>) exactly: camelCase on the wire,
//! except `request_seq`, which the specification spells with an underscore. Optional fields are
//! `Option`s that are left out when `None`. Unknown fields are ignored on input, so newer clients
//! (and VS Code's own additions such as `__sessionId`) never break parsing.
//!
//! Layout:
//! - this module: the base envelope ([`ProtocolMessage`], [`Request`], [`Response`], [`Event`]) and
//!   helpers that turn typed arguments and bodies into envelopes and back;
//! - [`requests`]: the typed [`requests::Request`] trait and one marker type per supported command;
//! - [`events`]: the [`events::EventBody`] trait that names the event each body belongs to;
//! - the argument, response-body, event-body and shared types, re-exported here;
//! - Orbit's own `attach` and `launch` arguments ([`AttachArguments`], [`LaunchArguments`]) with
//!   JSON schemas for the VS Code extension ([`attach_schema`], [`launch_schema`]).
//!
//! Integers are `i64` throughout (the specification says 32-bit signed; the wider type never
//! rejects a value a client sends).
//!
//! ```
//! use orbit_adapter::protocol::{requests, ProtocolMessage, Response, StackTraceResponse};
//! use requests::Request as _;
//!
//! let msg: ProtocolMessage = serde_json::from_str(
//!     r#"{"seq":3,"type":"request","command":"stackTrace","arguments":{"threadId":7,"levels":20}}"#,
//! ).unwrap();
//! let ProtocolMessage::Request(req) = msg else { unreachable!() };
//! assert_eq!(req.command, requests::StackTrace::COMMAND);
//! let args = req.parse_arguments::<requests::StackTrace>().unwrap();
//! assert_eq!(args.thread_id, 7);
//! let body = StackTraceResponse { stack_frames: vec![], total_frames: Some(0) };
//! let response = Response::ok::<requests::StackTrace>(10, &req, &body).unwrap();
//! assert_eq!(response.request_seq, 3);
//! ```

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Defines a string enumeration of the specification. Every such enum keeps unknown values in an
/// `Other` variant, so a value added by a newer client or specification never fails parsing.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this version of Orbit does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $value, )*
                    Self::Other(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $( $value => Self::$variant, )*
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                match value.as_str() {
                    $( $value => Self::$variant, )*
                    _ => Self::Other(value),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::from)
            }
        }
    };
}

pub mod events;
mod messages;
mod orbit;
pub mod requests;
mod types;

pub use messages::*;
pub use orbit::*;
pub use types::*;

/// Any DAP message: the base `ProtocolMessage` of the specification, discriminated by `type`.
///
/// Every variant carries `seq`, the sequence number the sender gave the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ProtocolMessage {
    /// `"type": "request"`.
    Request(Request),
    /// `"type": "response"`.
    Response(Response),
    /// `"type": "event"`.
    Event(Event),
}

impl ProtocolMessage {
    /// The message's `seq`.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Request(r) => r.seq,
            Self::Response(r) => r.seq,
            Self::Event(e) => e.seq,
        }
    }

    /// Sets the message's `seq` (the session stamps outgoing messages just before sending them).
    pub fn set_seq(&mut self, seq: i64) {
        match self {
            Self::Request(r) => r.seq = seq,
            Self::Response(r) => r.seq = seq,
            Self::Event(e) => e.seq = seq,
        }
    }
}

impl From<Request> for ProtocolMessage {
    fn from(value: Request) -> Self {
        Self::Request(value)
    }
}

impl From<Response> for ProtocolMessage {
    fn from(value: Response) -> Self {
        Self::Response(value)
    }
}

impl From<Event> for ProtocolMessage {
    fn from(value: Event) -> Self {
        Self::Event(value)
    }
}

/// A client or debug adapter initiated request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Sequence number of the message.
    pub seq: i64,
    /// The command to execute.
    pub command: String,
    /// Object containing arguments for the command; `Null` when the request has none.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub arguments: Value,
}

impl Request {
    /// An untyped request.
    pub fn new(seq: i64, command: impl Into<String>, arguments: Value) -> Self {
        Self { seq, command: command.into(), arguments }
    }

    /// A request of command `R` with typed arguments.
    pub fn typed<R: requests::Request>(seq: i64, arguments: &R::Arguments) -> serde_json::Result<Self> {
        Ok(Self { seq, command: R::COMMAND.to_owned(), arguments: serde_json::to_value(arguments)? })
    }

    /// Whether this request is command `R`.
    pub fn is<R: requests::Request>(&self) -> bool {
        self.command == R::COMMAND
    }

    /// Parses the arguments as those of command `R` (the command itself is not checked).
    ///
    /// Absent arguments parse as an empty object, so a command whose arguments are all optional
    /// accepts a request without `arguments`, and one with required fields reports the first
    /// missing field. The error names the path of the offending field (`breakpoints[0].line`).
    pub fn parse_arguments<R: requests::Request>(&self) -> Result<R::Arguments, PayloadError> {
        parse_payload(&self.arguments, || format!("`{}` arguments", R::COMMAND))
    }
}

/// Response for a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Sequence number of the message.
    pub seq: i64,
    /// Sequence number of the corresponding request (spelled `request_seq` on the wire).
    #[serde(rename = "request_seq")]
    pub request_seq: i64,
    /// Outcome of the request. If true, the request was successful and the `body` attribute may
    /// contain the result of the request. If false, `message` says why, and `body` may hold an
    /// [`ErrorResponseBody`].
    pub success: bool,
    /// The command requested.
    pub command: String,
    /// Contains the raw error in short form if `success` is false. This raw error might be
    /// interpreted by the client and is not shown in the UI. Values the specification names:
    /// `cancelled`, `notStopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Contains request result if success is true and error details if success is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

impl Response {
    /// A successful response to `request` with a typed body (a body that serializes to `null`,
    /// such as `()`, is left out).
    pub fn ok<R: requests::Request>(seq: i64, request: &Request, body: &R::Response) -> serde_json::Result<Self> {
        Ok(Self::success(seq, request, to_body(body)?))
    }

    /// A successful response to `request` with an untyped body.
    pub fn success(seq: i64, request: &Request, body: Option<Value>) -> Self {
        Self { seq, request_seq: request.seq, success: true, command: request.command.clone(), message: None, body }
    }

    /// A failed response to `request`: `message` is the short error text, and the body carries a
    /// [`Message`] whose `format` is the same text, shown to the user.
    pub fn error(seq: i64, request: &Request, message: impl Into<String>) -> Self {
        Self::error_for(seq, request.seq, request.command.clone(), message)
    }

    /// A failed response to a request known only by its `seq` and `command` (for instance one whose
    /// arguments, or even envelope, did not parse).
    pub fn error_for(seq: i64, request_seq: i64, command: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let error = Message {
            id: 1,
            format: message.clone(),
            variables: None,
            send_telemetry: None,
            show_user: Some(true),
            url: None,
            url_label: None,
        };
        let body = serde_json::to_value(ErrorResponseBody { error: Some(error) }).ok();
        Self { seq, request_seq, success: false, command: command.into(), message: Some(message), body }
    }

    /// A failed response with an explicit structured error message.
    pub fn error_with(seq: i64, request: &Request, message: impl Into<String>, error: Message) -> Self {
        let body = serde_json::to_value(ErrorResponseBody { error: Some(error) }).ok();
        Self {
            seq,
            request_seq: request.seq,
            success: false,
            command: request.command.clone(),
            message: Some(message.into()),
            body,
        }
    }

    /// Parses the body as the response body of command `R` (an absent body parses as `null`, then
    /// as an empty object).
    pub fn parse_body<R: requests::Request>(&self) -> Result<R::Response, PayloadError> {
        parse_payload(self.body.as_ref().unwrap_or(&Value::Null), || format!("`{}` response body", R::COMMAND))
    }

    /// Parses the body of a failed response.
    pub fn parse_error_body(&self) -> Result<ErrorResponseBody, PayloadError> {
        parse_payload(self.body.as_ref().unwrap_or(&Value::Null), || "error response body".to_owned())
    }
}

/// A debug adapter initiated event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Sequence number of the message.
    pub seq: i64,
    /// Type of event.
    pub event: String,
    /// Event-specific information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

impl Event {
    /// An untyped event.
    pub fn new(seq: i64, event: impl Into<String>, body: Option<Value>) -> Self {
        Self { seq, event: event.into(), body }
    }

    /// The event whose body is `body`; its name comes from the body's type.
    pub fn from_body<B: events::EventBody>(seq: i64, body: &B) -> serde_json::Result<Self> {
        Ok(Self { seq, event: B::EVENT.to_owned(), body: to_body(body)? })
    }

    /// Whether this event carries a body of type `B`.
    pub fn is<B: events::EventBody>(&self) -> bool {
        self.event == B::EVENT
    }

    /// Parses the body as `B` (the event name itself is not checked).
    pub fn parse_body<B: events::EventBody>(&self) -> Result<B, PayloadError> {
        parse_payload(self.body.as_ref().unwrap_or(&Value::Null), || format!("`{}` event body", B::EVENT))
    }
}

/// Body of a failed response (`ErrorResponse` in the specification).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponseBody {
    /// A structured error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Message>,
}

/// A structured message object. Used to return errors from requests.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Unique (within a debug adapter implementation) identifier for the message. The purpose of
    /// these error IDs is to help extension authors that have the requirement that every user
    /// visible error message needs a corresponding error number, so that users or customer support
    /// can find information about the specific error more easily.
    pub id: i64,
    /// A format string for the message. Embedded variables have the form `{name}`. If variable
    /// name starts with an underscore character, the variable does not contain user data (PII) and
    /// can be safely used for telemetry purposes.
    pub format: String,
    /// An object used as a dictionary for looking up the variables in the format string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<std::collections::HashMap<String, String>>,
    /// If true send to telemetry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_telemetry: Option<bool>,
    /// If true show user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_user: Option<bool>,
    /// A url where additional information about this message can be found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A label that is presented to the user as the UI for opening the url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_label: Option<String>,
}

/// Arguments or a body that do not fit the type expected for them.
#[derive(Debug, thiserror::Error)]
#[error("invalid {context}{}: {source}", at_path(.path))]
pub struct PayloadError {
    /// What was being parsed, e.g. "`setBreakpoints` arguments".
    pub context: String,
    /// Path of the offending value inside the payload, e.g. `breakpoints[0].line`; `.` for the
    /// payload itself (for instance when a required field is missing, which serde names).
    pub path: String,
    /// The underlying serde error.
    #[source]
    pub source: serde_json::Error,
}

fn at_path(path: &str) -> String {
    if path == "." || path.is_empty() {
        String::new()
    } else {
        format!(" at `{path}`")
    }
}

/// Deserializes `value` as `T`, trying `{}` in place of `null` so that empty-argument structs and
/// all-optional bodies accept an absent payload.
fn parse_payload<T: DeserializeOwned>(value: &Value, context: impl FnOnce() -> String) -> Result<T, PayloadError> {
    let first = serde_path_to_error::deserialize::<_, T>(value);
    let result = match first {
        Err(_) if value.is_null() => serde_path_to_error::deserialize::<_, T>(&Value::Object(serde_json::Map::new())),
        other => other,
    };
    result.map_err(|e| PayloadError { context: context(), path: e.path().to_string(), source: e.into_inner() })
}

/// Serializes a typed body; `null` (from `()` or a unit struct) becomes an absent body.
fn to_body<T: Serialize + ?Sized>(body: &T) -> serde_json::Result<Option<Value>> {
    let value = serde_json::to_value(body)?;
    Ok(if value.is_null() { None } else { Some(value) })
}

#[cfg(test)]
mod tests;
