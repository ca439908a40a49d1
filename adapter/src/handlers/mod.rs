//! Request handlers, by area. Each parses its arguments, calls the engine and returns the response body.

mod breakpoints;
mod evaluate;
mod execution;
mod launch;
mod stack;
mod variables;

use crate::protocol::requests::{self as r, Request as _};
use crate::protocol::Request;
use crate::session::Session;
use serde::Serialize;
use serde_json::Value;
use tokio::io::AsyncWrite;

pub(crate) type Reply = Result<Option<Value>, String>;

/// A body for a successful response.
pub(crate) fn body<T: Serialize>(value: &T) -> Reply {
    match serde_json::to_value(value) {
        Ok(Value::Null) => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(e) => Err(format!("cannot encode the response: {e}")),
    }
}

/// Typed arguments of `req`, or an error naming the bad field.
pub(crate) fn args<R: r::Request>(req: &Request) -> Result<R::Arguments, String> {
    req.parse_arguments::<R>().map_err(|e| e.to_string())
}

impl<W: AsyncWrite + Unpin> Session<W> {
    pub(crate) fn engine(&mut self) -> Result<&mut beam::debugger::IntEngine, String> {
        self.engine.as_mut().ok_or_else(|| "not attached to a cluster yet: send `attach` or `launch` first".to_string())
    }

    pub(crate) fn line_in(&self, line: i64) -> u32 {
        let l = if self.lines_from_one { line } else { line + 1 };
        l.clamp(0, u32::MAX as i64) as u32
    }

    pub(crate) fn line_out(&self, line: u32) -> i64 {
        if self.lines_from_one {
            i64::from(line)
        } else {
            i64::from(line) - 1
        }
    }

    pub(crate) async fn dispatch(&mut self, req: &Request) -> Reply {
        match req.command.as_str() {
            r::Initialize::COMMAND => self.initialize(req),
            r::Attach::COMMAND => self.attach(req).await,
            r::Launch::COMMAND => self.launch(req).await,
            r::ConfigurationDone::COMMAND => Ok(None),
            r::Disconnect::COMMAND => self.disconnect(req).await,
            r::Terminate::COMMAND => self.terminate(req).await,
            r::SetBreakpoints::COMMAND => self.set_breakpoints(req).await,
            r::SetFunctionBreakpoints::COMMAND => self.set_function_breakpoints(req).await,
            r::SetExceptionBreakpoints::COMMAND => self.set_exception_breakpoints(req).await,
            r::BreakpointLocations::COMMAND => self.breakpoint_locations(req).await,
            r::Threads::COMMAND => self.threads(),
            r::StackTrace::COMMAND => self.stack_trace(req).await,
            r::Scopes::COMMAND => self.scopes(req).await,
            r::Variables::COMMAND => self.variables(req).await,
            r::SetVariable::COMMAND => self.set_variable(req).await,
            r::Evaluate::COMMAND => self.evaluate(req).await,
            r::Continue::COMMAND => self.resume_request(req, beam::debugger::Resume::Continue).await,
            r::Next::COMMAND => self.resume_request(req, beam::debugger::Resume::Next).await,
            r::StepIn::COMMAND => self.resume_request(req, beam::debugger::Resume::StepIn).await,
            r::StepOut::COMMAND => self.resume_request(req, beam::debugger::Resume::StepOut).await,
            r::Pause::COMMAND => self.pause(req).await,
            r::Source::COMMAND => self.source(req),
            r::LoadedSources::COMMAND => self.loaded_sources(),
            other => Err(format!("Orbit does not support the '{other}' request")),
        }
    }
}
