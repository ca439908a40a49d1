//! Variables: a frame's bindings, a process's info, the children of a value (paged), setting a variable
//! in the top frame, and the values kept on the node for the editor to expand.

use super::frames::VarRoot;
use super::threads::ThreadState;
use super::util::{error_text, ok_value, rpc_err, sp_term, text};
use super::{IntEngine, CALL};
use crate::debugger::names::{module_display, Lang};
use crate::debugger::{DebugError, VariableInfo};
use crate::term::{as_atom, as_integer, as_list, as_tuple, atom, binary, int, is_atom, list, nil, tuple};
use eetf::{Pid, Term};

/// How many children one `variables` request returns when the editor does not page.
const DEFAULT_PAGE: u64 = 500;

impl IntEngine {
    pub(super) async fn variables(
        &mut self,
        reference: i64,
        start: Option<u64>,
        count: Option<u64>,
    ) -> Result<Vec<VariableInfo>, DebugError> {
        let root =
            self.frames.root(reference).cloned().ok_or_else(|| {
                DebugError(format!("no variables reference {reference} (the process may have moved on)"))
            })?;
        match root {
            VarRoot::Frame { thread, sp, lang } => {
                let t = self.threads.live(thread)?;
                let node = t.node.clone();
                let meta = t.meta.clone().ok_or_else(|| DebugError::new("no interpreter frame for this process"))?;
                let items = self.frame_variables(&node, &meta, sp, lang).await?;
                self.learn_structs(&node, &items.iter().collect::<Vec<_>>()).await;
                let mut out = Vec::new();
                for item in items {
                    let Some([name, summary, kind, size, raw]) =
                        as_tuple(&item).and_then(|t| <&[Term; 5]>::try_from(t).ok())
                    else {
                        continue;
                    };
                    let name = text(name);
                    let root = tuple(vec![atom("binding"), Term::from(meta.clone()), sp_term(sp), raw.clone()]);
                    let mut v = self.variable(&node, lang, name.clone(), (summary, kind, size), Some((root, vec![])));
                    if !name.contains(' ') {
                        v.evaluate_name = Some(name);
                    }
                    out.push(v);
                }
                Ok(out)
            }
            VarRoot::Process { thread } => {
                let t = self.threads.live(thread)?;
                let (node, pid) = (t.node.clone(), t.pid.clone());
                self.process_variables(&node, &pid).await
            }
            VarRoot::Value { node, root, path, lang, is_struct, kind } => {
                let offset = start.unwrap_or(0);
                let count = count.filter(|c| *c > 0).unwrap_or(DEFAULT_PAGE);
                let r = self
                    .cluster
                    .call(
                        &node,
                        "orbit_dbg",
                        "children",
                        vec![root.clone(), list(path.clone()), int(offset as i64), int(count as i64)],
                        CALL,
                    )
                    .await
                    .map_err(rpc_err)?;
                let items = match ok_value(&r) {
                    Some([items, _total]) => as_list(items).map(|l| l.to_vec()).unwrap_or_default(),
                    _ => {
                        return Err(DebugError(format!(
                            "the value is gone ({}); the process may have moved on",
                            text(&r)
                        )))
                    }
                };
                self.learn_structs(&node, &items.iter().collect::<Vec<_>>()).await;
                let mut out = Vec::new();
                for item in items {
                    let Some([key, summary, kind_t, size, label]) =
                        as_tuple(&item).and_then(|t| <&[Term; 5]>::try_from(t).ok())
                    else {
                        continue;
                    };
                    let name = if kind == "map" {
                        match (is_struct, as_atom(label)) {
                            (true, Some(a)) => a.to_string(),
                            _ => self.render(&node, lang, label),
                        }
                    } else if is_atom(label, "tail") {
                        "tail".to_string()
                    } else {
                        as_integer(label).map(|i| i.to_string()).unwrap_or_else(|| text(label))
                    };
                    let mut child_path = path.clone();
                    child_path.push(key.clone());
                    out.push(self.variable(
                        &node,
                        lang,
                        name,
                        (summary, kind_t, size),
                        Some((root.clone(), child_path)),
                    ));
                }
                Ok(out)
            }
        }
    }

    pub(super) async fn set_variable(
        &mut self,
        reference: i64,
        name: &str,
        value: &str,
    ) -> Result<VariableInfo, DebugError> {
        self.cluster.refuse(crate::read_only::Change::SetVariable)?;
        let Some(VarRoot::Frame { thread, sp, lang }) = self.frames.root(reference).cloned() else {
            return Err(DebugError::new("only variables of a frame can be set (not parts of a value)"));
        };
        if sp.is_some() {
            return Err(DebugError::new("only variables of the top frame can be set (the interpreter's rule)"));
        }
        let t = self.threads.live(thread)?;
        if !matches!(t.state, ThreadState::Stopped { .. }) {
            return Err(DebugError::new("the process is not stopped at a breakpoint"));
        }
        let node = t.node.clone();
        let meta = t.meta.clone().ok_or_else(|| DebugError::new("no interpreter frame for this process"))?;
        // Find the interpreter's name of the variable (`_amount@1`).
        let items = self.frame_variables(&node, &meta, None, lang).await?;
        let raw = items
            .iter()
            .filter_map(|i| as_tuple(i))
            .find(|t| t.len() == 5 && text(&t[0]) == name)
            .map(|t| t[4].clone())
            .ok_or_else(|| DebugError(format!("no variable '{name}' in this frame")))?;
        if let Some(t) = self.threads.get_mut(thread) {
            t.echoes += 1;
        }
        let r = self
            .cluster
            .call(
                &node,
                "orbit_dbg",
                "set_variable",
                vec![Term::from(meta), raw, atom(lang.as_str()), binary(value.as_bytes()), nil()],
                CALL,
            )
            .await;
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                if let Some(t) = self.threads.get_mut(thread) {
                    t.echoes = t.echoes.saturating_sub(1);
                }
                return Err(rpc_err(e));
            }
        };
        match ok_value(&r).and_then(|v| <&[Term; 4]>::try_from(v).ok()) {
            Some(answer) => Ok(self.stored_variable(&node, lang, name.to_string(), Some(thread), answer).await),
            None => {
                if let Some(t) = self.threads.get_mut(thread) {
                    t.echoes = t.echoes.saturating_sub(1);
                }
                Err(DebugError(error_text(&r)))
            }
        }
    }

    /// A value the node stored for the editor (`[Summary, Kind, Size, StoredRef]` from `orbit_dbg:eval` or
    /// `orbit_dbg:set_variable`) as a variable; `thread` forgets it when it resumes.
    pub(super) async fn stored_variable(
        &mut self,
        node: &str,
        lang: Lang,
        name: String,
        thread: Option<i64>,
        answer: &[Term; 4],
    ) -> VariableInfo {
        let [summary, kind, size, stored] = answer;
        self.learn_structs(node, &[summary]).await;
        if let (Some(t), Some(n)) = (thread.and_then(|id| self.threads.get_mut(id)), as_integer(stored)) {
            t.stored.push(n);
        }
        let root = tuple(vec![atom("stored"), stored.clone()]);
        self.variable(node, lang, name, (summary, kind, size), Some((root, vec![])))
    }

    /// A value summary from `orbit_dbg` as a variable.
    /// `value` is what `orbit_dbg` reports of a value: (summary, kind, size).
    pub(super) fn variable(
        &mut self,
        node: &str,
        lang: Lang,
        name: String,
        value: (&Term, &Term, &Term),
        root: Option<(Term, Vec<Term>)>,
    ) -> VariableInfo {
        let (summary, kind, size) = value;
        let kind = as_atom(kind).unwrap_or("scalar").to_string();
        let size = as_integer(size).unwrap_or(0).max(0) as u64;
        let is_struct = kind == "map" && crate::term::map_get_atom(summary, "__struct__").is_some();
        let container = matches!(kind.as_str(), "map" | "list" | "tuple") && size > 0;
        let value = self.render(node, lang, summary);
        let type_name = Some(match (kind.as_str(), is_struct) {
            ("map", true) => crate::term::map_get_atom(summary, "__struct__")
                .and_then(as_atom)
                .map(module_display)
                .unwrap_or_else(|| "struct".into()),
            (k, _) => k.to_string(),
        });
        let mut var = VariableInfo {
            name,
            value,
            type_name,
            variables_reference: 0,
            named_variables: None,
            indexed_variables: None,
            evaluate_name: None,
        };
        if let (true, Some((root, path))) = (container, root) {
            var.variables_reference = self.frames.new_ref(VarRoot::Value {
                node: node.to_string(),
                root,
                path,
                lang,
                is_struct,
                kind: kind.clone(),
            });
            if kind == "map" {
                var.named_variables = Some(size);
            } else {
                var.indexed_variables = Some(size);
            }
        }
        var
    }

    /// A frame's variables as `orbit_dbg:scope/3` summarises them: `{Name, Summary, Kind, Size, RawVar}`.
    async fn frame_variables(
        &self,
        node: &str,
        meta: &Pid,
        sp: Option<i64>,
        lang: Lang,
    ) -> Result<Vec<Term>, DebugError> {
        let args = vec![Term::from(meta.clone()), sp_term(sp), atom(lang.as_str())];
        let r = self.cluster.call(node, "orbit_dbg", "scope", args, CALL).await.map_err(rpc_err)?;
        ok_value(&r).and_then(|v| as_list(&v[0]).map(|l| l.to_vec())).ok_or_else(|| DebugError(text(&r)))
    }

    /// Lets the node drop the values it stored for a thread that moved on.
    /// The "Process" scope of `pid` on `node`: its registered name, status, mailbox, links and so on, each
    /// expandable (interpreted and native threads alike).
    pub(super) async fn process_variables(&mut self, node: &str, pid: &Pid) -> Result<Vec<VariableInfo>, DebugError> {
        let node = node.to_string();
        let r = self
            .cluster
            .call(&node, "orbit_dbg", "process_scope", vec![Term::from(pid.clone())], CALL)
            .await
            .map_err(rpc_err)?;
        let info = ok_value(&r).map(|v| v[0].clone()).ok_or_else(|| DebugError(format!("{}: {}", node, text(&r))))?;
        self.learn_structs(&node, &[&info]).await;
        let Term::Map(m) = &info else { return Ok(Vec::new()) };
        let order = [
            "node",
            "registered_name",
            "status",
            "current_function",
            "initial_call",
            "message_queue_len",
            "messages",
            "links",
            "monitors",
            "memory",
            "reductions",
            "ancestors",
        ];
        let mut out = Vec::new();
        for key in order {
            let Some(value) = m.map.get(&atom(key)) else { continue };
            let (kind, size) = match value {
                Term::List(l) => ("list", l.elements.len()),
                Term::ByteList(b) => ("list", b.bytes.len()),
                Term::Tuple(t) => ("tuple", t.elements.len()),
                Term::Map(m) => ("map", m.map.len()),
                _ => ("scalar", 0),
            };
            let root = tuple(vec![atom("process"), Term::from(pid.clone())]);
            let v = self.variable(
                &node,
                Lang::Elixir,
                key.to_string(),
                (value, &atom(kind), &int(size as i64)),
                Some((root, vec![tuple(vec![atom("key"), atom(key)])])),
            );
            out.push(v);
        }
        Ok(out)
    }

    pub(super) async fn forget_stored(&mut self, thread: i64) {
        let (node, refs) = match self.threads.get_mut(thread) {
            Some(t) if !t.stored.is_empty() => (t.node.clone(), std::mem::take(&mut t.stored)),
            _ => return,
        };
        let cluster = self.cluster.clone();
        tokio::spawn(async move {
            let refs = list(refs.into_iter().map(int).collect());
            let _ = cluster.call(&node, "orbit_dbg", "forget", vec![refs], CALL).await;
        });
    }
}
