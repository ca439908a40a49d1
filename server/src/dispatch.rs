//! Typed dispatch of client messages to handlers, rust-analyzer style: `on::<R>(handler)`.

use crate::main_loop::Server;
use lsp_server::{ErrorCode, Notification, Request, RequestId, Response};
use serde::de::DeserializeOwned;

/// A handler's failure, sent back as a JSON-RPC error.
#[derive(Debug)]
pub struct HandlerError {
    pub code: i32,
    pub message: String,
}

impl HandlerError {
    pub fn invalid_params(message: impl Into<String>) -> HandlerError {
        HandlerError { code: ErrorCode::InvalidParams as i32, message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> HandlerError {
        HandlerError { code: ErrorCode::InternalError as i32, message: message.into() }
    }
}

/// What a request handler answers: now, or later (the response is sent when the work is done).
pub enum Reply<T> {
    Now(T),
    Later,
}

pub type HandlerResult<T> = Result<Reply<T>, HandlerError>;

pub struct RequestDispatcher<'a> {
    pub req: Option<Request>,
    pub server: &'a mut Server,
}

impl RequestDispatcher<'_> {
    pub fn on<R>(&mut self, f: fn(&mut Server, RequestId, R::Params) -> HandlerResult<R::Result>) -> &mut Self
    where
        R: lsp_types::request::Request,
        R::Params: DeserializeOwned,
    {
        let Some(req) = self.req.take_if(|r| r.method == R::METHOD) else { return self };
        let id = req.id.clone();
        let params = match serde_json::from_value::<R::Params>(req.params) {
            Ok(p) => p,
            Err(e) => {
                let resp = Response::new_err(id, ErrorCode::InvalidParams as i32, format!("{}: {e}", R::METHOD));
                self.server.respond(resp);
                return self;
            }
        };
        if self.server.shutdown_requested {
            let resp = Response::new_err(id, ErrorCode::InvalidRequest as i32, "shutdown was requested".into());
            self.server.respond(resp);
            return self;
        }
        match f(self.server, id.clone(), params) {
            Ok(Reply::Now(result)) => self.server.respond(Response::new_ok(id, result)),
            Ok(Reply::Later) => {}
            Err(e) => self.server.respond(Response::new_err(id, e.code, e.message)),
        }
        self
    }

    pub fn finish(&mut self) {
        if let Some(req) = self.req.take() {
            let msg = format!("unknown request {}", req.method);
            self.server.respond(Response::new_err(req.id, ErrorCode::MethodNotFound as i32, msg));
        }
    }
}

pub struct NotificationDispatcher<'a> {
    pub not: Option<Notification>,
    pub server: &'a mut Server,
}

impl NotificationDispatcher<'_> {
    pub fn on<N>(&mut self, f: fn(&mut Server, N::Params)) -> &mut Self
    where
        N: lsp_types::notification::Notification,
        N::Params: DeserializeOwned,
    {
        let Some(not) = self.not.take_if(|n| n.method == N::METHOD) else { return self };
        match serde_json::from_value::<N::Params>(not.params) {
            Ok(p) => f(self.server, p),
            Err(e) => tracing::warn!("bad {} notification: {e}", N::METHOD),
        }
        self
    }

    pub fn finish(&mut self) {
        if let Some(not) = self.not.take() {
            // Notifications get no answer; unknown ones (and `$/…` ones) are ignored.
            tracing::debug!("ignored notification {}", not.method);
        }
    }
}
