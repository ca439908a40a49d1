//! Terms in Erlang syntax, as `io_lib:format("~0tp", [Term])` prints them on a node started with
//! `+pc unicode` (so text in any script prints as a string), within [`Limits`].
//!
//! Pids, ports and references of other nodes print with the node's name (see [`RenderContext`]), and
//! maps of more than 32 keys in term order rather than the BEAM's hash order.

use std::fmt::Write;

use eetf::{InternalFun, Map, Term};

use super::context::RenderContext;
use super::escape::{erlang_escape_char, erlang_printable, erlang_printable_latin1, first_char};
use super::float::erlang_float;
use super::limits::{Limits, ELLIPSIS};
use super::list::{flatten, Elem};
use super::order::sorted_map_entries;

/// `term` in Erlang syntax, from the point of view of a node of its own (see [`render_erlang_with`]).
pub fn render_erlang(term: &Term, limits: &Limits) -> String {
    render_erlang_with(term, &RenderContext::new(*limits))
}

/// `term` in Erlang syntax, using what `ctx` knows about nodes.
pub fn render_erlang_with(term: &Term, ctx: &RenderContext) -> String {
    let mut r = Renderer { ctx, limits: ctx.limits, out: String::new(), stack: Vec::new() };
    r.stack.push(Step::Term(term, 1));
    // An explicit stack: nesting depth costs heap, never call stack.
    while let Some(step) = r.stack.pop() {
        match step {
            Step::Str(s) => r.out.push_str(s),
            Step::Byte(b) => {
                let _ = write!(r.out, "{b}");
            }
            Step::Term(t, depth) => r.term(t, depth),
            Step::Pair(k, v, depth) => r.then(vec![Step::Term(k, depth), Step::Str(" => "), Step::Term(v, depth)]),
        }
    }
    r.out
}

enum Step<'a> {
    Term(&'a Term, usize),
    Pair(&'a Term, &'a Term, usize),
    Byte(u8),
    Str(&'static str),
}

struct Renderer<'a, 'c> {
    ctx: &'c RenderContext,
    limits: Limits,
    out: String,
    stack: Vec<Step<'a>>,
}

/// Words `io_lib:write_atom/1` quotes (OTP 25, without the experimental `maybe` feature).
const RESERVED: &[&str] = &[
    "after", "and", "andalso", "band", "begin", "bnot", "bor", "bsl", "bsr", "bxor", "case", "catch", "cond", "div",
    "end", "fun", "if", "let", "not", "of", "or", "orelse", "receive", "rem", "try", "when", "xor",
];

/// An atom as Erlang writes it: bare when it reads back as the same atom, else in single quotes.
pub fn erlang_atom(name: &str) -> String {
    let lower = |c: char| c.is_ascii_lowercase() || ('ß'..='ÿ').contains(&c) && c != '÷';
    let name_char = |c: char| {
        lower(c)
            || c.is_ascii_uppercase()
            || ('À'..='Þ').contains(&c) && c != '×'
            || c.is_ascii_digit()
            || c == '_'
            || c == '@'
    };
    let bare = !RESERVED.contains(&name) && name.starts_with(lower) && name.chars().skip(1).all(name_char);
    if bare {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('\'');
    for c in name.chars() {
        erlang_escape_char(&mut out, c, '\'');
    }
    out.push('\'');
    out
}

impl<'a> Renderer<'a, '_> {
    fn then(&mut self, steps: Vec<Step<'a>>) {
        self.stack.extend(steps.into_iter().rev());
    }

    fn term(&mut self, term: &'a Term, depth: usize) {
        match term {
            Term::Atom(a) => self.out.push_str(&erlang_atom(&a.name)),
            Term::FixInteger(i) => {
                let _ = write!(self.out, "{}", i.value);
            }
            Term::BigInteger(i) => {
                let _ = write!(self.out, "{}", i.value);
            }
            Term::Float(f) => self.out.push_str(&erlang_float(f.value)),
            Term::Pid(p) => {
                let _ = write!(self.out, "<{}.{}.{}>", self.ctx.node_label(&p.node.name), p.id, p.serial);
            }
            Term::Port(p) => {
                let _ = write!(self.out, "#Port<{}.{}>", self.ctx.node_label(&p.node.name), p.id);
            }
            Term::Reference(r) => {
                let _ = write!(self.out, "#Ref<{}", self.ctx.node_label(&r.node.name));
                for word in r.id.iter().rev() {
                    let _ = write!(self.out, ".{word}");
                }
                self.out.push('>');
            }
            Term::ExternalFun(f) => {
                let _ = write!(
                    self.out,
                    "fun {}:{}/{}",
                    erlang_atom(&f.module.name),
                    erlang_atom(&f.function.name),
                    f.arity
                );
            }
            Term::InternalFun(f) => {
                let (module, index, uniq) = match &**f {
                    InternalFun::New { module, old_index, old_uniq, .. } => (module, *old_index, *old_uniq),
                    InternalFun::Old { module, index, uniq, .. } => (module, *index, *uniq),
                };
                // `erlang:fun_to_list/1` writes the module's name unquoted.
                let _ = write!(self.out, "#Fun<{}.{index}.{uniq}>", module.name);
            }
            Term::Binary(b) => self.binary(&b.bytes),
            Term::BitBinary(b) => match b.tail_bits_size {
                1..=7 if !b.bytes.is_empty() => {
                    let (last, whole) = b.bytes.split_last().unwrap_or((&0, &[]));
                    self.bytes(whole, Some((*last, b.tail_bits_size)));
                }
                0 if !b.bytes.is_empty() => self.binary(&b.bytes[..b.bytes.len() - 1]),
                _ => self.binary(&b.bytes),
            },
            Term::List(_) | Term::ByteList(_) | Term::ImproperList(_) => {
                if let Some(flat) = flatten(term) {
                    self.list(flat.items, flat.tail, depth);
                }
            }
            Term::Tuple(t) => {
                if t.elements.is_empty() {
                    self.out.push_str("{}");
                } else if self.limits.too_deep(depth) {
                    let _ = write!(self.out, "{{{ELLIPSIS}}}");
                } else {
                    let steps = self.sequence("{", t.elements.iter().map(|e| Step::Term(e, depth + 1)), None, "}");
                    self.then(steps);
                }
            }
            Term::Map(m) => self.map(m, depth),
        }
    }

    /// `open e1,e2,… close` (with `|tail` before `close` if given), with the items limit applied.
    fn sequence(
        &self,
        open: &'static str,
        items: impl ExactSizeIterator<Item = Step<'a>>,
        tail: Option<Step<'a>>,
        close: &'static str,
    ) -> Vec<Step<'a>> {
        let total = items.len();
        let shown = total.min(self.limits.max_items);
        let mut steps = Vec::with_capacity(2 * shown + 4);
        steps.push(Step::Str(open));
        for (i, item) in items.take(shown).enumerate() {
            if i > 0 {
                steps.push(Step::Str(","));
            }
            steps.push(item);
        }
        if shown < total {
            steps.push(Step::Str(if shown == 0 { ELLIPSIS } else { ",…" }));
        } else if let Some(tail) = tail {
            steps.push(Step::Str("|"));
            steps.push(tail);
        }
        steps.push(Step::Str(close));
        steps
    }

    /// A binary: `<<"text">>`, `<<"tëxt"/utf8>>`, or `<<1,2,3>>`, as `io_lib_pretty` decides.
    fn binary(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            self.out.push_str("<<>>");
            return;
        }
        let limit = self.limits.max_bytes;
        let window = &bytes[..bytes.len().min(limit.saturating_add(3))];
        // Valid UTF-8 (allowing a character cut at the window's end) whose characters are all printable.
        let mut chars = Vec::new();
        let mut i = 0;
        let mut utf8 = true;
        while i < window.len() && i < limit {
            match first_char(&window[i..]) {
                Some((c, len)) => {
                    chars.push(c);
                    i += len;
                }
                None => {
                    utf8 = false;
                    break;
                }
            }
        }
        let cut = i < bytes.len();
        if utf8 {
            if chars.iter().all(|&c| erlang_printable(i64::from(u32::from(c)))) {
                let suffix = if chars.iter().all(char::is_ascii) { "" } else { "/utf8" };
                self.string("<<\"", chars, cut, suffix, "\">>");
            } else {
                self.bytes(bytes, None);
            }
        } else if bytes[..bytes.len().min(limit)].iter().all(|&b| erlang_printable_latin1(b)) {
            // Not UTF-8 but printable as Latin-1: each byte is a character.
            let shown = &bytes[..bytes.len().min(limit)];
            self.string("<<\"", shown.iter().map(|&b| char::from(b)).collect(), shown.len() < bytes.len(), "", "\">>");
        } else {
            self.bytes(bytes, None);
        }
    }

    fn string(&mut self, open: &str, chars: Vec<char>, cut: bool, suffix: &str, close: &str) {
        self.out.push_str(open);
        for c in chars {
            erlang_escape_char(&mut self.out, c, '"');
        }
        if cut {
            self.out.push_str(ELLIPSIS);
        }
        self.out.push('"');
        self.out.push_str(suffix);
        self.out.push_str(&close[1..]);
    }

    /// `<<1,2,3>>`, or `<<1,2,5:3>>` with trailing bits (value:size).
    fn bytes(&mut self, whole: &[u8], tail: Option<(u8, u8)>) {
        let shown = whole.len().min(self.limits.max_bytes);
        self.out.push_str("<<");
        for (i, b) in whole[..shown].iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            let _ = write!(self.out, "{b}");
        }
        if shown < whole.len() {
            self.out.push_str(if shown == 0 { ELLIPSIS } else { ",…" });
        } else if let Some((value, bits)) = tail {
            if shown > 0 {
                self.out.push(',');
            }
            let _ = write!(self.out, "{}:{bits}", value & (0xff >> (8 - bits)));
        }
        self.out.push_str(">>");
    }

    fn list(&mut self, items: Vec<Elem<'a>>, tail: Option<&'a Term>, depth: usize) {
        if items.is_empty() {
            match tail {
                // Only a hand-built term has an improper list without elements; it is just its tail.
                Some(t) => self.term(t, depth),
                None => self.out.push_str("[]"),
            }
            return;
        }
        if tail.is_none() && items.iter().all(|e| e.as_i64().is_some_and(erlang_printable)) {
            let limit = self.limits.max_bytes;
            let mut chars = Vec::new();
            let mut bytes = 0usize;
            for e in &items {
                if bytes >= limit {
                    break;
                }
                let c = e.as_i64().and_then(|n| u32::try_from(n).ok()).and_then(char::from_u32).unwrap_or('?');
                bytes += c.len_utf8();
                chars.push(c);
            }
            let cut = chars.len() < items.len();
            self.string("\"", chars, cut, "", "\"");
            return;
        }
        if self.limits.too_deep(depth) {
            let _ = write!(self.out, "[{ELLIPSIS}]");
            return;
        }
        let elements = items.into_iter().map(|e| match e {
            Elem::Term(t) => Step::Term(t, depth + 1),
            Elem::Byte(b) => Step::Byte(b),
        });
        let steps = self.sequence("[", elements, tail.map(|t| Step::Term(t, depth + 1)), "]");
        self.then(steps);
    }

    fn map(&mut self, m: &'a Map, depth: usize) {
        if m.map.is_empty() {
            self.out.push_str("#{}");
        } else if self.limits.too_deep(depth) {
            let _ = write!(self.out, "#{{{ELLIPSIS}}}");
        } else {
            let entries = sorted_map_entries(m).into_iter().map(|(k, v)| Step::Pair(k, v, depth + 1));
            let steps = self.sequence("#{", entries, None, "}");
            self.then(steps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::arbitrary::Gen;
    use crate::term::builders::*;
    use eetf::{Atom, BitBinary, ByteList, ExternalFun, Float, ImproperList, Pid, Reference};

    fn show(t: &Term) -> String {
        render_erlang(t, &Limits::unlimited())
    }

    fn limited(t: &Term, max_depth: usize, max_items: usize, max_bytes: usize) -> String {
        render_erlang(t, &Limits { max_depth, max_items, max_bytes })
    }

    #[test]
    fn everyday_terms() {
        assert_eq!(show(&tuple(vec![atom("ok"), binary("abc")])), "{ok,<<\"abc\">>}");
        assert_eq!(show(&binary("héllo")), "<<\"héllo\"/utf8>>");
        assert_eq!(show(&binary(vec![0xe9])), "<<\"é\">>");
        assert_eq!(show(&binary(vec![1, 2])), "<<1,2>>");
        assert_eq!(show(&Term::from(BitBinary::from((vec![1, 5], 3)))), "<<1,5:3>>");
        assert_eq!(show(&Term::from(ByteList::from(b"a\"b".to_vec()))), "\"a\\\"b\"");
        assert_eq!(show(&list(vec![int(955)])), "\"λ\"");
        assert_eq!(show(&list(vec![int(7)])), "[7]");
        assert_eq!(show(&Term::from(ImproperList::from((vec![int(1)], int(2))))), "[1|2]");
        assert_eq!(show(&map(vec![(atom("b"), int(1)), (int(1), nil())])), "#{1 => [],b => 1}");
        assert_eq!(show(&atom("Elixir.Foo")), "'Elixir.Foo'");
        assert_eq!(show(&atom("it's")), "'it\\'s'");
        assert_eq!(show(&atom("receive")), "'receive'");
        assert_eq!(show(&atom("node@host")), "node@host");
        assert_eq!(show(&Term::from(ExternalFun::from(("Elixir.Enum", "map", 2)))), "fun 'Elixir.Enum':map/2");
        assert_eq!(show(&Term::from(Float { value: 1.0e20 })), "1.0e20");
    }

    #[test]
    fn identifiers_from_other_nodes() {
        let pid = Term::from(Pid::new("b@host", 12, 3, 1));
        let reference = Term::from(Reference { node: Atom::from("b@host"), id: vec![3, 2, 1], creation: 1 });
        let mut ctx = RenderContext::new(Limits::default());
        assert_eq!(render_erlang_with(&pid, &ctx), "<b@host.12.3>");
        assert_eq!(render_erlang_with(&reference, &ctx), "#Ref<b@host.1.2.3>");
        ctx.local_node = Some("b@host".into());
        assert_eq!(render_erlang_with(&pid, &ctx), "<0.12.3>");
    }

    #[test]
    fn limits_elide_with_ellipsis() {
        let numbers = list((1..=5).map(int).collect());
        assert_eq!(limited(&numbers, 12, 3, 100), "[1,2,3,…]");
        assert_eq!(limited(&numbers, 12, 0, 100), "[…]");
        assert_eq!(limited(&map(vec![(atom("a"), int(1)), (atom("b"), int(2))]), 12, 1, 100), "#{a => 1,…}");
        assert_eq!(limited(&binary("abcdef"), 12, 100, 3), "<<\"abc…\">>");
        assert_eq!(limited(&binary("ééé"), 12, 100, 3), "<<\"éé…\"/utf8>>");
        assert_eq!(limited(&binary(vec![0, 1, 2]), 12, 100, 2), "<<0,1,…>>");
        assert_eq!(limited(&Term::from(ByteList::from(b"abc".to_vec())), 12, 100, 2), "\"ab…\"");
        let nested = tuple(vec![list(vec![int(1)]), tuple(vec![int(2)]), map(vec![(int(1), int(2))])]);
        assert_eq!(limited(&nested, 1, 100, 100), "{[…],{…},#{…}}");
    }

    #[test]
    fn deep_nesting_is_cut_not_crashed() {
        let mut t = nil();
        for _ in 0..100_000 {
            t = tuple(vec![t]);
        }
        let depth = crate::term::HARD_MAX_DEPTH;
        assert_eq!(show(&t), format!("{}{{…}}{}", "{".repeat(depth), "}".repeat(depth)));
        drop_deep(t);
    }

    #[test]
    fn arbitrary_terms_never_panic() {
        let mut gen = Gen::new(0xbeef);
        let limits = [Limits::unlimited(), Limits::default(), Limits { max_depth: 1, max_items: 1, max_bytes: 1 }];
        for _ in 0..3000 {
            let t = gen.term(4);
            for l in &limits {
                let _ = render_erlang(&t, l);
            }
        }
    }
}
