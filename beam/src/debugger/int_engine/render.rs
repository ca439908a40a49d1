//! Values as the editor shows them: rendered in the frame's language, structs with their fields in
//! declared order (learned from the node once per module).

use super::{IntEngine, CALL};
use crate::debugger::names::Lang;
use crate::term::{
    as_atom, as_list, as_tuple, atom, list, render_elixir_with, render_erlang_with, Limits, RenderContext,
};
use eetf::Term;
use std::collections::{BTreeSet, HashMap};

/// Declared field order of struct modules (empty: not a struct, print fields alphabetically).
#[derive(Default)]
pub(super) struct StructFields {
    fields: HashMap<String, Vec<String>>,
}

impl IntEngine {
    pub(super) fn render(&self, node: &str, lang: Lang, value: &Term) -> String {
        let ctx = RenderContext {
            local_node: Some(node.to_string()),
            struct_fields: self.structs.fields.clone(),
            ..RenderContext::new(Limits::default())
        };
        match lang {
            Lang::Elixir => render_elixir_with(value, &ctx),
            Lang::Erlang => render_erlang_with(value, &ctx),
        }
    }

    /// Learns, once per module, the declared field order of the structs inside `values`.
    pub(super) async fn learn_structs(&mut self, node: &str, values: &[&Term]) {
        let mut wanted = BTreeSet::new();
        for v in values {
            struct_modules(v, &mut wanted);
        }
        wanted.retain(|m| !self.structs.fields.contains_key(m));
        if wanted.is_empty() {
            return;
        }
        let mods = list(wanted.iter().map(atom).collect());
        if let Ok(r) = self.cluster.call(node, "orbit_dbg", "struct_fields", vec![mods], CALL).await {
            for e in as_list(&r).map(|l| l.to_vec()).unwrap_or_default() {
                if let Some([m, fields]) = as_tuple(&e).and_then(|t| <&[Term; 2]>::try_from(t).ok()) {
                    if let (Some(m), Some(fields)) = (as_atom(m), as_list(fields)) {
                        let names = fields.iter().filter_map(as_atom).map(str::to_string).collect();
                        self.structs.fields.insert(m.to_string(), names);
                    }
                }
            }
        }
        // Modules that are no structs here (or did not answer) are not asked about again.
        for m in wanted {
            self.structs.fields.entry(m).or_default();
        }
    }
}

/// Struct modules (`__struct__` values) anywhere in `t`, without recursion.
fn struct_modules(t: &Term, out: &mut BTreeSet<String>) {
    let mut stack = vec![t];
    while let Some(t) = stack.pop() {
        match t {
            Term::Map(m) => {
                if let Some(Term::Atom(a)) = m.map.get(&atom("__struct__")) {
                    out.insert(a.name.clone());
                }
                stack.extend(m.map.values());
            }
            Term::List(l) => stack.extend(l.elements.iter()),
            Term::ImproperList(l) => stack.extend(l.elements.iter()),
            Term::Tuple(t) => stack.extend(t.elements.iter()),
            _ => {}
        }
    }
}
