//! variables, setVariable.

use super::{args, body, Reply};
use crate::protocol::requests as r;
use crate::protocol::{Request, SetVariableResponse, VariablesResponse};
use crate::session::Session;
use crate::to_dap;
use beam::debugger::Engine;
use tokio::io::AsyncWrite;

impl<W: AsyncWrite + Unpin> Session<W> {
    pub(crate) async fn variables(&mut self, req: &Request) -> Reply {
        let a = args::<r::Variables>(req)?;
        let start = a.start.filter(|s| *s > 0).map(|s| s as u64);
        let count = a.count.filter(|c| *c > 0).map(|c| c as u64);
        let vars = self.engine()?.variables(a.variables_reference, start, count).await.map_err(|e| e.0)?;
        body(&VariablesResponse { variables: vars.iter().map(to_dap::variable).collect() })
    }

    pub(crate) async fn set_variable(&mut self, req: &Request) -> Reply {
        let a = args::<r::SetVariable>(req)?;
        let v = self.engine()?.set_variable(a.variables_reference, &a.name, &a.value).await.map_err(|e| e.0)?;
        body(&SetVariableResponse {
            value: v.value,
            type_: v.type_name,
            variables_reference: Some(v.variables_reference),
            named_variables: v.named_variables.map(|n| n as i64),
            indexed_variables: v.indexed_variables.map(|n| n as i64),
            ..Default::default()
        })
    }
}
