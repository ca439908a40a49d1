//! threads, stackTrace, scopes.

use super::{args, body, Reply};
use crate::protocol::requests as r;
use crate::protocol::{Request, ScopesResponse, StackTraceResponse, ThreadsResponse};
use crate::session::Session;
use crate::to_dap;
use beam::debugger::Engine;
use tokio::io::AsyncWrite;

impl<W: AsyncWrite + Unpin> Session<W> {
    pub(crate) fn threads(&mut self) -> Reply {
        let threads = match self.engine.as_ref() {
            Some(e) => e.threads().iter().map(to_dap::thread).collect(),
            None => Vec::new(),
        };
        body(&ThreadsResponse { threads })
    }

    pub(crate) async fn stack_trace(&mut self, req: &Request) -> Reply {
        let a = args::<r::StackTrace>(req)?;
        let frames = self.engine()?.stack_trace(a.thread_id).await.map_err(|e| e.0)?;
        let total = frames.len() as i64;
        let start = a.start_frame.unwrap_or(0).max(0) as usize;
        let levels = a.levels.filter(|l| *l > 0).map(|l| l as usize).unwrap_or(usize::MAX);
        let stack_frames = frames
            .iter()
            .skip(start)
            .take(levels)
            .map(|f| {
                let mut frame = to_dap::frame(f);
                frame.line = self.line_out(f.line);
                frame
            })
            .collect();
        body(&StackTraceResponse { stack_frames, total_frames: Some(total) })
    }

    pub(crate) async fn scopes(&mut self, req: &Request) -> Reply {
        let a = args::<r::Scopes>(req)?;
        let scopes = self.engine()?.scopes(a.frame_id).await.map_err(|e| e.0)?;
        body(&ScopesResponse { scopes: scopes.iter().map(to_dap::scope).collect() })
    }
}
