//! Typed events: each event body type names its event through [`EventBody`].
//!
//! ```
//! use orbit_adapter::protocol::{Event, StoppedEventBody, StoppedReason};
//!
//! let body = StoppedEventBody { reason: StoppedReason::Breakpoint, thread_id: Some(1), ..Default::default() };
//! let event = Event::from_body(5, &body).unwrap();
//! assert_eq!(event.event, "stopped");
//! assert_eq!(event.parse_body::<StoppedEventBody>().unwrap(), body);
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::*;

/// The body of a DAP event, and the `event` name it is sent under.
pub trait EventBody: Serialize + DeserializeOwned {
    /// The `event` of the message on the wire.
    const EVENT: &'static str;
}

macro_rules! events {
    ($($body:ty = $event:literal;)*) => {
        $(
            impl EventBody for $body {
                const EVENT: &'static str = $event;
            }
        )*

        /// The names of every event type defined here.
        pub const EVENTS: &[&str] = &[$($event),*];
    };
}

events! {
    InitializedEvent = "initialized";
    StoppedEventBody = "stopped";
    ContinuedEventBody = "continued";
    ThreadEventBody = "thread";
    OutputEventBody = "output";
    BreakpointEventBody = "breakpoint";
    TerminatedEventBody = "terminated";
    ExitedEventBody = "exited";
    LoadedSourceEventBody = "loadedSource";
}
