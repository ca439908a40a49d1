//! Evaluating expressions from the debug console or a watch: in a paused frame (with its bindings), in a
//! frame of a suspended process, on a node picked with `node@host> expr`, or on the entry node.

use super::util::{error_text, ok_value, rpc_err, sp_term};
use super::{IntEngine, CALL};
use crate::debugger::names::Lang;
use crate::debugger::{DebugError, VariableInfo};
use crate::link::NodeName;
use crate::read_only;
use crate::term::{as_list, as_tuple, atom, binary, is_atom, list, nil, tuple};
use eetf::Term;

impl IntEngine {
    pub(super) async fn evaluate(&mut self, expression: &str, frame: Option<i64>) -> Result<VariableInfo, DebugError> {
        let expr = expression.trim();
        if let Some(rest) = expr.strip_prefix("/pause") {
            return self.console_pause(rest).await;
        }
        if let Some(rest) = expr.strip_prefix("/profile") {
            return self.console_profile(rest).await;
        }
        if expr.is_empty() {
            return Err(DebugError::new("nothing to evaluate"));
        }
        // `node@host> expr` picks the node.
        let (node_prefix, expr) = match expr.split_once("> ") {
            Some((n, e)) if n.contains('@') && !n.contains(' ') && NodeName::parse(n).is_ok() => {
                (Some(n.to_string()), e.trim())
            }
            _ => (None, expr),
        };
        let frame_ref = match frame {
            // A frame the editor still shows but that is gone (the process moved on) is not the entry node.
            Some(f) if node_prefix.is_none() => Some(self.frames.frame(f)?),
            _ => None,
        };
        let (node, meta, sp, lang, thread) = match (node_prefix, frame_ref) {
            (Some(n), _) => {
                if !self.cluster.up_nodes().contains(&n) {
                    return Err(DebugError(format!(
                        "{n} is not a node of this cluster (nodes: {})",
                        self.cluster.up_nodes().join(", ")
                    )));
                }
                let lang = self.node_lang(&n).await;
                (n, atom("none"), None, lang, None)
            }
            (None, Some(f)) if f.interpreted => {
                let t = self.threads.live(f.thread)?;
                let meta = t.meta.clone().map(Term::from).unwrap_or_else(|| atom("none"));
                (t.node.clone(), meta, f.sp, f.lang, Some(f.thread))
            }
            (None, Some(f)) => {
                let t = self.threads.live(f.thread)?;
                let node = t.node.clone();
                let lang = self.node_lang(&node).await;
                (node, atom("none"), None, lang, Some(f.thread))
            }
            (None, None) => {
                let n = self.entry.clone();
                let lang = self.node_lang(&n).await;
                (n, atom("none"), None, lang, None)
            }
        };
        // Read-only mode: the node parses the expression and evaluates it only if every call it makes is
        // on the allow-list, else answers which calls are not.
        let opts = if self.cluster.read_only() {
            list(vec![tuple(vec![atom("read_only"), read_only::evaluate_allow_list()])])
        } else {
            nil()
        };
        let r = self
            .cluster
            .call(
                &node,
                "orbit_dbg",
                "eval",
                vec![meta, sp_term(sp), atom(lang.as_str()), binary(expr.as_bytes()), opts],
                CALL,
            )
            .await
            .map_err(rpc_err)?;
        if let Some([tag, items]) = as_tuple(&r) {
            if is_atom(tag, "refused") {
                let items = as_list(items).map(|l| l.into_owned()).unwrap_or_default();
                return Err(read_only::refused_evaluation(&items, lang == Lang::Elixir).into());
            }
        }
        match ok_value(&r).and_then(|v| <&[Term; 4]>::try_from(v).ok()) {
            Some(answer) => Ok(self.stored_variable(&node, lang, String::new(), thread, answer).await),
            None => Err(DebugError(error_text(&r))),
        }
    }

    /// The language a node speaks: Elixir when Elixir is loaded there.
    async fn node_lang(&self, node: &str) -> Lang {
        match self.cluster.call(node, "code", "is_loaded", vec![atom("Elixir.Code")], CALL).await {
            Ok(t) if as_tuple(&t).is_some() => Lang::Elixir,
            _ => Lang::Erlang,
        }
    }
}
