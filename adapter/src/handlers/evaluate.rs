//! evaluate, source, loadedSources.

use super::{args, body, Reply};
use crate::protocol::requests as r;
use crate::protocol::{EvaluateResponse, LoadedSourcesResponse, Request, SourceResponse};
use crate::session::Session;
use crate::to_dap;
use beam::debugger::Engine;
use tokio::io::AsyncWrite;

impl<W: AsyncWrite + Unpin> Session<W> {
    pub(crate) async fn evaluate(&mut self, req: &Request) -> Reply {
        let a = args::<r::Evaluate>(req)?;
        let v = self.engine()?.evaluate(&a.expression, a.frame_id).await.map_err(|e| e.0)?;
        body(&EvaluateResponse {
            result: v.value,
            type_: v.type_name,
            variables_reference: v.variables_reference,
            named_variables: v.named_variables.map(|n| n as i64),
            indexed_variables: v.indexed_variables.map(|n| n as i64),
            ..Default::default()
        })
    }

    pub(crate) fn source(&mut self, req: &Request) -> Reply {
        let a = args::<r::Source>(req)?;
        let path = a.source.and_then(|s| s.path).ok_or(
            "Orbit gives every frame a source path; this source has none (the module's source is not in the project)",
        )?;
        let content = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        body(&SourceResponse { content, mime_type: None })
    }

    pub(crate) fn loaded_sources(&mut self) -> Reply {
        let sources = match self.engine.as_ref() {
            Some(e) => e.loaded_sources().iter().map(|p| to_dap::source(p)).collect(),
            None => Vec::new(),
        };
        body(&LoadedSourcesResponse { sources })
    }
}
