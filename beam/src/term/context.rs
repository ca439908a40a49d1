//! What a renderer may know beyond the term itself: limits, whose point of view identifiers are printed
//! from, and struct definitions.

use std::borrow::Cow;
use std::collections::HashMap;

use super::limits::Limits;

/// The node name a BEAM that is not distributed gives its own pids, ports and references. Such an
/// identifier can only have been made by the node that printed or encoded it, so it is always local.
pub const NO_NODE: &str = "nonode@nohost";

/// Everything a rendering may use besides the term.
///
/// # Pids, ports and references
///
/// A BEAM prints `#PID<0.123.0>` for its own processes and `#PID<N.123.0>` for another node's, where `N`
/// is the index that node happens to have in the printing node's distribution table — a number Orbit
/// cannot know. So identifiers are printed with `0` when they belong to [`local_node`](Self::local_node)
/// (or to [`NO_NODE`]), with `N` when [`node_numbers`](Self::node_numbers) has an entry for their node,
/// and otherwise with the node's name in that place: `#PID<b@host.123.0>`, `<b@host.123.0>`.
///
/// # Struct field order
///
/// Elixir prints a struct's fields in `defstruct` order, which the term does not carry. Orbit knows the
/// order of Elixir's own structs; for others it uses [`struct_fields`](Self::struct_fields) (module atom
/// such as `"Elixir.MyApp.User"` → field names as `Mod.__info__(:struct)` lists them), and alphabetical
/// order when the module is not there.
#[derive(Clone, Debug, Default)]
pub struct RenderContext {
    pub limits: Limits,
    /// The node whose point of view identifiers are printed from.
    pub local_node: Option<String>,
    /// Numbers to print for other nodes' identifiers.
    pub node_numbers: HashMap<String, u32>,
    /// Field order of struct modules, by module atom.
    pub struct_fields: HashMap<String, Vec<String>>,
}

impl RenderContext {
    pub fn new(limits: Limits) -> Self {
        RenderContext { limits, ..Default::default() }
    }

    /// What stands for `node` in a printed pid, port or reference.
    pub(crate) fn node_label<'a>(&self, node: &'a str) -> Cow<'a, str> {
        if node == NO_NODE || self.local_node.as_deref() == Some(node) {
            Cow::Borrowed("0")
        } else if let Some(n) = self.node_numbers.get(node) {
            Cow::Owned(n.to_string())
        } else {
            Cow::Borrowed(node)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_labels() {
        let mut ctx = RenderContext::new(Limits::default());
        assert_eq!(ctx.node_label(NO_NODE), "0");
        assert_eq!(ctx.node_label("a@h"), "a@h");
        ctx.local_node = Some("a@h".into());
        ctx.node_numbers.insert("b@h".into(), 7);
        assert_eq!(ctx.node_label("a@h"), "0");
        assert_eq!(ctx.node_label("b@h"), "7");
        assert_eq!(ctx.node_label("c@h"), "c@h");
    }
}
