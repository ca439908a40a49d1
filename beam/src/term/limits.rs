//! How much of a term a renderer may show.

/// What a renderer puts where it left content out.
pub const ELLIPSIS: &str = "…";

/// Nesting beyond this is always elided, whatever [`Limits`] say, so that no caller can ask for output
/// proportional to a pathological nesting depth. (Renderers are iterative, so this is not about the stack.)
pub const HARD_MAX_DEPTH: usize = 10_000;

/// Bounds on what a rendering shows. Content beyond a bound is replaced by [`ELLIPSIS`].
///
/// The top-level term is at depth 1; a list, tuple, map or struct deeper than `max_depth` is shown as
/// `[…]`, `{…}`, `%{…}`, `%Mod{…}`. Scalars, strings and charlists are shown at any depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest container that still shows its contents.
    pub max_depth: usize,
    /// Elements shown per list, tuple, map or struct.
    pub max_items: usize,
    /// Bytes of content shown per binary, string or charlist.
    pub max_bytes: usize,
}

impl Default for Limits {
    /// Enough for a debugger's variables pane without flooding it.
    fn default() -> Self {
        Limits { max_depth: 12, max_items: 100, max_bytes: 4096 }
    }
}

impl Limits {
    /// No limits besides [`HARD_MAX_DEPTH`]: the whole term, as `inspect(t, limit: :infinity)` shows it.
    pub fn unlimited() -> Self {
        Limits { max_depth: usize::MAX, max_items: usize::MAX, max_bytes: usize::MAX }
    }

    /// Whether a container at `depth` must be elided.
    pub(crate) fn too_deep(&self, depth: usize) -> bool {
        depth > self.max_depth || depth > HARD_MAX_DEPTH
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_bounded_and_unlimited_is_not() {
        let d = Limits::default();
        assert_eq!((d.max_depth, d.max_items, d.max_bytes), (12, 100, 4096));
        assert!(d.too_deep(13));
        assert!(!d.too_deep(12));
        let u = Limits::unlimited();
        assert!(!u.too_deep(HARD_MAX_DEPTH));
        assert!(u.too_deep(HARD_MAX_DEPTH + 1));
    }
}
