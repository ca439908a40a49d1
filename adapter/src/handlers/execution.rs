//! continue, next, stepIn, stepOut, pause.

use super::{args, body, Reply};
use crate::protocol::requests as r;
use crate::protocol::{ContinueResponse, Request};
use crate::session::Session;
use beam::debugger::{Engine, Resume};
use tokio::io::AsyncWrite;

impl<W: AsyncWrite + Unpin> Session<W> {
    pub(crate) async fn resume_request(&mut self, req: &Request, how: Resume) -> Reply {
        let thread = match how {
            Resume::Continue => args::<r::Continue>(req)?.thread_id,
            Resume::Next => args::<r::Next>(req)?.thread_id,
            Resume::StepIn => args::<r::StepIn>(req)?.thread_id,
            Resume::StepOut => args::<r::StepOut>(req)?.thread_id,
        };
        let events = self.engine()?.resume(thread, how).await.map_err(|e| e.0)?;
        self.pending_engine_events(events);
        match how {
            Resume::Continue => body(&ContinueResponse { all_threads_continued: Some(false) }),
            _ => Ok(None),
        }
    }

    pub(crate) async fn pause(&mut self, req: &Request) -> Reply {
        let a = args::<r::Pause>(req)?;
        let events = self.engine()?.pause(a.thread_id).await.map_err(|e| e.0)?;
        self.pending_engine_events(events);
        Ok(None)
    }
}
