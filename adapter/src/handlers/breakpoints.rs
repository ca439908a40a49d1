//! setBreakpoints, setFunctionBreakpoints, setExceptionBreakpoints, breakpointLocations.

use super::{args, body, Reply};
use crate::protocol::requests as r;
use crate::protocol::{
    BreakpointLocation, BreakpointLocationsResponse, Request, SetBreakpointsResponse, SetExceptionBreakpointsResponse,
    SetFunctionBreakpointsResponse,
};
use crate::session::Session;
use crate::to_dap;
use beam::debugger::{Engine, LineBreakpoint};
use std::path::PathBuf;
use tokio::io::AsyncWrite;

impl<W: AsyncWrite + Unpin> Session<W> {
    /// The engine's breakpoints as DAP breakpoints, in the client's line numbering.
    fn breakpoints_out(&self, out: &[beam::debugger::BreakpointStatus]) -> Vec<crate::protocol::Breakpoint> {
        out.iter()
            .map(|b| {
                let mut bp = to_dap::breakpoint(b);
                bp.line = b.line.map(|l| self.line_out(l));
                bp
            })
            .collect()
    }

    pub(crate) async fn set_breakpoints(&mut self, req: &Request) -> Reply {
        let a = args::<r::SetBreakpoints>(req)?;
        let path =
            a.source.path.clone().ok_or("setBreakpoints needs `source.path`: Orbit maps files to modules by path")?;
        let specs: Vec<LineBreakpoint> = match (a.breakpoints, a.lines) {
            (Some(bps), _) => bps
                .into_iter()
                .map(|b| LineBreakpoint {
                    line: self.line_in(b.line),
                    condition: b.condition.filter(|c| !c.trim().is_empty()),
                    hit_condition: b.hit_condition.filter(|c| !c.trim().is_empty()),
                    log_message: b.log_message.filter(|c| !c.is_empty()),
                })
                .collect(),
            (None, Some(lines)) => {
                lines.into_iter().map(|l| LineBreakpoint { line: self.line_in(l), ..Default::default() }).collect()
            }
            (None, None) => Vec::new(),
        };
        let out = self.engine()?.set_breakpoints(&PathBuf::from(path), specs).await;
        let breakpoints = self.breakpoints_out(&out);
        body(&SetBreakpointsResponse { breakpoints })
    }

    pub(crate) async fn set_function_breakpoints(&mut self, req: &Request) -> Reply {
        let a = args::<r::SetFunctionBreakpoints>(req)?;
        let specs = a.breakpoints.into_iter().map(|b| (b.name, b.condition, b.hit_condition)).collect();
        let out = self.engine()?.set_function_breakpoints(specs).await;
        let breakpoints = self.breakpoints_out(&out);
        body(&SetFunctionBreakpointsResponse { breakpoints })
    }

    pub(crate) async fn set_exception_breakpoints(&mut self, req: &Request) -> Reply {
        let a = args::<r::SetExceptionBreakpoints>(req)?;
        let mut filters = a.filters;
        filters.extend(a.filter_options.unwrap_or_default().into_iter().map(|o| o.filter_id));
        self.engine()?.set_exception_filters(&filters).await.map_err(|e| e.0)?;
        body(&SetExceptionBreakpointsResponse { breakpoints: None })
    }

    pub(crate) async fn breakpoint_locations(&mut self, req: &Request) -> Reply {
        let a = args::<r::BreakpointLocations>(req)?;
        let path = a.source.path.clone().ok_or("breakpointLocations needs `source.path`")?;
        let (line, end) = (self.line_in(a.line), a.end_line.map(|l| self.line_in(l)));
        let lines = self.engine()?.breakpoint_locations(&PathBuf::from(path), line, end).await;
        let breakpoints =
            lines.into_iter().map(|l| BreakpointLocation { line: self.line_out(l), ..Default::default() }).collect();
        body(&BreakpointLocationsResponse { breakpoints })
    }
}
