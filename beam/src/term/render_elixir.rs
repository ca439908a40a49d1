//! Terms in Elixir syntax, as Elixir 1.14's `inspect(term, limit: :infinity, printable_limit: :infinity)`
//! prints them (on one line), within [`Limits`].
//!
//! Where the term alone cannot say what `inspect` would print, this prints:
//! - remote pids, ports and references with the node's name (see [`RenderContext`]);
//! - anonymous functions as `#Function<3.1234/1 in Mod>`: `inspect` appends the name of the function
//!   that defined them (`Mod.fun/2`), which only the module's code knows;
//! - struct fields in `defstruct` order only for Elixir's structs and those in
//!   [`RenderContext::struct_fields`], alphabetically otherwise; a struct whose module would not load,
//!   or that derives a restricted `Inspect` (`#User<…>`), still prints as `%Mod{…}`;
//! - maps of more than 32 keys in term order, where the BEAM iterates them in hash order.

use std::fmt::Write;

use eetf::{InternalFun, Map, Term};

use super::context::RenderContext;
use super::elixir_atom;
use super::elixir_structs;
use super::escape::{elixir_ascii_printable, elixir_printable, escape_elixir_limited};
use super::float::elixir_float;
use super::limits::{Limits, ELLIPSIS};
use super::list::{flatten, Elem};
use super::order::sorted_map_entries;

/// `term` in Elixir syntax, from the point of view of a node of its own (see [`render_elixir_with`]).
pub fn render_elixir(term: &Term, limits: &Limits) -> String {
    render_elixir_with(term, &RenderContext::new(*limits))
}

/// `term` in Elixir syntax, using what `ctx` knows about nodes and structs.
pub fn render_elixir_with(term: &Term, ctx: &RenderContext) -> String {
    let mut r = Renderer { ctx, limits: ctx.limits, out: String::new(), stack: Vec::new() };
    r.stack.push(Step::Term(term, Frame { depth: 1, as_lists: false }));
    // Rendering is a loop over an explicit stack, so nesting depth costs heap, never call stack.
    while let Some(step) = r.stack.pop() {
        r.step(step);
    }
    r.out
}

/// Where a term sits.
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    pub depth: usize,
    /// Inside `MapSet.new(…)`, which prints charlists as lists of integers.
    pub as_lists: bool,
}

impl Frame {
    pub(crate) fn child(self) -> Frame {
        Frame { depth: self.depth + 1, ..self }
    }
}

/// What is left to write, last first.
pub(crate) enum Step<'a> {
    Term(&'a Term, Frame),
    /// A map entry, `key => value`.
    Pair(&'a Term, &'a Term, Frame),
    Byte(u8),
    Str(&'static str),
    Text(String),
    List(Vec<Elem<'a>>, Option<&'a Term>, Frame),
}

struct Renderer<'a, 'c> {
    ctx: &'c RenderContext,
    limits: Limits,
    out: String,
    stack: Vec<Step<'a>>,
}

impl<'a> Renderer<'a, '_> {
    /// Queues `steps` to be written in the order given.
    fn then(&mut self, steps: Vec<Step<'a>>) {
        self.stack.extend(steps.into_iter().rev());
    }

    fn step(&mut self, step: Step<'a>) {
        match step {
            Step::Str(s) => self.out.push_str(s),
            Step::Text(s) => self.out.push_str(&s),
            Step::Byte(b) => {
                let _ = write!(self.out, "{b}");
            }
            Step::List(items, tail, frame) => self.list(items, tail, frame),
            Step::Pair(k, v, frame) => self.then(vec![Step::Term(k, frame), Step::Str(" => "), Step::Term(v, frame)]),
            Step::Term(t, frame) => self.term(t, frame),
        }
    }

    fn term(&mut self, term: &'a Term, frame: Frame) {
        match term {
            Term::Atom(a) => self.out.push_str(&elixir_atom::literal(&a.name)),
            Term::FixInteger(i) => {
                let _ = write!(self.out, "{}", i.value);
            }
            Term::BigInteger(i) => {
                let _ = write!(self.out, "{}", i.value);
            }
            Term::Float(f) => self.out.push_str(&elixir_float(f.value)),
            Term::Pid(p) => {
                let _ = write!(self.out, "#PID<{}.{}.{}>", self.ctx.node_label(&p.node.name), p.id, p.serial);
            }
            Term::Port(p) => {
                let _ = write!(self.out, "#Port<{}.{}>", self.ctx.node_label(&p.node.name), p.id);
            }
            Term::Reference(r) => {
                let _ = write!(self.out, "#Reference<{}", self.ctx.node_label(&r.node.name));
                // The BEAM prints the most significant word first.
                for word in r.id.iter().rev() {
                    let _ = write!(self.out, ".{word}");
                }
                self.out.push('>');
            }
            Term::ExternalFun(f) => {
                let _ = write!(
                    self.out,
                    "&{}.{}/{}",
                    elixir_atom::literal(&f.module.name),
                    elixir_atom::remote_call(&f.function.name),
                    f.arity
                );
            }
            Term::InternalFun(f) => {
                let _ = match &**f {
                    InternalFun::New { module, arity, index, old_uniq, .. } => write!(
                        self.out,
                        "#Function<{index}.{old_uniq}/{arity} in {}>",
                        elixir_atom::literal(&module.name)
                    ),
                    InternalFun::Old { module, index, uniq, .. } => {
                        write!(self.out, "#Function<{index}.{uniq} in {}>", elixir_atom::literal(&module.name))
                    }
                };
            }
            Term::Binary(b) => self.binary(&b.bytes),
            Term::BitBinary(b) => match b.tail_bits_size {
                1..=7 if !b.bytes.is_empty() => {
                    let (last, whole) = b.bytes.split_last().unwrap_or((&0, &[]));
                    self.bitstring(whole, Some((*last, b.tail_bits_size)));
                }
                // Zero trailing bits: the last byte holds nothing.
                0 if !b.bytes.is_empty() => self.binary(&b.bytes[..b.bytes.len() - 1]),
                _ => self.binary(&b.bytes),
            },
            Term::List(_) | Term::ByteList(_) | Term::ImproperList(_) => {
                if let Some(flat) = flatten(term) {
                    self.list(flat.items, flat.tail, frame);
                }
            }
            Term::Tuple(t) => {
                if t.elements.is_empty() {
                    self.out.push_str("{}");
                } else if self.limits.too_deep(frame.depth) {
                    let _ = write!(self.out, "{{{ELLIPSIS}}}");
                } else {
                    let steps =
                        self.sequence(Step::Str("{"), t.elements.iter().map(|e| Step::Term(e, frame.child())), "}");
                    self.then(steps);
                }
            }
            Term::Map(m) => self.map(m, frame),
        }
    }

    /// `open e1, e2, … close`, with the items limit applied.
    fn sequence(
        &self,
        open: Step<'a>,
        items: impl ExactSizeIterator<Item = Step<'a>>,
        close: &'static str,
    ) -> Vec<Step<'a>> {
        let total = items.len();
        let shown = total.min(self.limits.max_items);
        let mut steps = Vec::with_capacity(2 * shown + 3);
        steps.push(open);
        for (i, item) in items.take(shown).enumerate() {
            if i > 0 {
                steps.push(Step::Str(", "));
            }
            steps.push(item);
        }
        if shown < total {
            steps.push(Step::Str(if shown == 0 { ELLIPSIS } else { ", …" }));
        }
        steps.push(Step::Str(close));
        steps
    }

    fn binary(&mut self, bytes: &[u8]) {
        if elixir_printable(bytes, self.limits.max_bytes) {
            let (escaped, cut) = escape_elixir_limited(bytes, b'"', self.limits.max_bytes);
            self.out.push('"');
            self.out.push_str(&escaped);
            if cut {
                self.out.push_str(ELLIPSIS);
            }
            self.out.push('"');
        } else {
            self.bitstring(bytes, None);
        }
    }

    /// `<<1, 2, 3>>`, or `<<1, 2::size(3)>>` with trailing bits.
    fn bitstring(&mut self, whole: &[u8], tail: Option<(u8, u8)>) {
        let shown = whole.len().min(self.limits.max_bytes);
        self.out.push_str("<<");
        for (i, b) in whole[..shown].iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            let _ = write!(self.out, "{b}");
        }
        if shown < whole.len() {
            self.out.push_str(if shown == 0 { ELLIPSIS } else { ", …" });
        } else if let Some((value, bits)) = tail {
            if shown > 0 {
                self.out.push_str(", ");
            }
            let _ = write!(self.out, "{}::size({bits})", value & (0xff >> (8 - bits)));
        }
        self.out.push_str(">>");
    }

    fn list(&mut self, items: Vec<Elem<'a>>, tail: Option<&'a Term>, frame: Frame) {
        if items.is_empty() {
            match tail {
                // Only a hand-built term has an improper list without elements; it is just its tail.
                Some(t) => self.term(t, frame),
                None => self.out.push_str("[]"),
            }
            return;
        }
        if tail.is_none() && !frame.as_lists && items.iter().all(|e| e.as_i64().is_some_and(elixir_ascii_printable)) {
            // Every element is ASCII, so each fits in a byte.
            let bytes: Vec<u8> = items.iter().filter_map(|e| e.as_i64()).map(|n| n as u8).collect();
            let (escaped, cut) = escape_elixir_limited(&bytes, b'\'', self.limits.max_bytes);
            self.out.push('\'');
            self.out.push_str(&escaped);
            if cut {
                self.out.push_str(ELLIPSIS);
            }
            self.out.push('\'');
            return;
        }
        if self.limits.too_deep(frame.depth) {
            let _ = write!(self.out, "[{ELLIPSIS}]");
            return;
        }
        let child = frame.child();
        if tail.is_none() && is_keyword(&items) {
            let pairs = items.iter().filter_map(|e| match e {
                Elem::Term(Term::Tuple(t)) => Some((&t.elements[0], &t.elements[1])),
                _ => None,
            });
            let steps = self.keyword_pairs(Step::Str("["), pairs.collect(), "]", child);
            self.then(steps);
            return;
        }
        let total = items.len();
        let shown = total.min(self.limits.max_items);
        let mut steps = Vec::with_capacity(2 * shown + 4);
        steps.push(Step::Str("["));
        for (i, e) in items.into_iter().take(shown).enumerate() {
            if i > 0 {
                steps.push(Step::Str(", "));
            }
            steps.push(match e {
                Elem::Term(t) => Step::Term(t, child),
                Elem::Byte(b) => Step::Byte(b),
            });
        }
        if shown < total {
            steps.push(Step::Str(if shown == 0 { ELLIPSIS } else { ", …" }));
        } else if let Some(t) = tail {
            steps.push(Step::Str(" | "));
            steps.push(Step::Term(t, child));
        }
        steps.push(Step::Str("]"));
        self.then(steps);
    }

    /// `open k1: v1, k2: v2 close` for atom keys.
    fn keyword_pairs(
        &self,
        open: Step<'a>,
        pairs: Vec<(&'a Term, &'a Term)>,
        close: &'static str,
        child: Frame,
    ) -> Vec<Step<'a>> {
        let total = pairs.len();
        let shown = total.min(self.limits.max_items);
        let mut steps = Vec::with_capacity(3 * shown + 3);
        steps.push(open);
        for (i, (k, v)) in pairs.into_iter().take(shown).enumerate() {
            if i > 0 {
                steps.push(Step::Str(", "));
            }
            let name = match k {
                Term::Atom(a) => elixir_atom::key(&a.name),
                _ => String::new(),
            };
            steps.push(Step::Text(name + " "));
            steps.push(Step::Term(v, child));
        }
        if shown < total {
            steps.push(Step::Str(if shown == 0 { ELLIPSIS } else { ", …" }));
        }
        steps.push(Step::Str(close));
        steps
    }

    fn map(&mut self, m: &'a Map, frame: Frame) {
        if m.map.is_empty() {
            self.out.push_str("%{}");
            return;
        }
        if let Some(module) = elixir_structs::struct_module(m) {
            if let Some(steps) = elixir_structs::special(module, m, frame) {
                self.then(steps);
                return;
            }
            if let Some(fields) = elixir_structs::fields(self.ctx, module, m) {
                let name = elixir_atom::literal(module);
                if fields.is_empty() {
                    let _ = write!(self.out, "%{name}{{}}");
                } else if self.limits.too_deep(frame.depth) {
                    let _ = write!(self.out, "%{name}{{{ELLIPSIS}}}");
                } else {
                    let steps = self.keyword_pairs(Step::Text(format!("%{name}{{")), fields, "}", frame.child());
                    self.then(steps);
                }
                return;
            }
        }
        if self.limits.too_deep(frame.depth) {
            let _ = write!(self.out, "%{{{ELLIPSIS}}}");
            return;
        }
        let entries = sorted_map_entries(m);
        let child = frame.child();
        let steps = if entries.iter().all(|(k, _)| is_keyword_key(k)) {
            self.keyword_pairs(Step::Str("%{"), entries, "}", child)
        } else {
            self.sequence(Step::Str("%{"), entries.into_iter().map(|(k, v)| Step::Pair(k, v, child)), "}")
        };
        self.then(steps);
    }
}

/// `Inspect.List.keyword?/1`: two-tuples with atom keys that are not aliases.
fn is_keyword(items: &[Elem<'_>]) -> bool {
    items.iter().all(|e| match e {
        Elem::Term(Term::Tuple(t)) if t.elements.len() == 2 => is_keyword_key(&t.elements[0]),
        _ => false,
    })
}

fn is_keyword_key(key: &Term) -> bool {
    matches!(key, Term::Atom(a) if !a.name.starts_with("Elixir."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::arbitrary::Gen;
    use crate::term::builders::*;
    use eetf::{Atom, BitBinary, ByteList, Float, ImproperList, Pid, Port, Reference};

    fn show(t: &Term) -> String {
        render_elixir(t, &Limits::unlimited())
    }

    fn limited(t: &Term, max_depth: usize, max_items: usize, max_bytes: usize) -> String {
        render_elixir(t, &Limits { max_depth, max_items, max_bytes })
    }

    fn strukt(module: &str, fields: Vec<(&str, Term)>) -> Term {
        let mut entries = vec![(atom("__struct__"), atom(module))];
        entries.extend(fields.into_iter().map(|(k, v)| (atom(k), v)));
        map(entries)
    }

    #[test]
    fn everyday_terms() {
        assert_eq!(show(&tuple(vec![atom("ok"), binary("héllo\n")])), "{:ok, \"héllo\\n\"}");
        assert_eq!(show(&keyword(vec![("a", int(1)), ("b c", nil())])), "[a: 1, \"b c\": []]");
        assert_eq!(show(&map(vec![(atom("a"), int(1)), (binary("b"), int(2))])), "%{:a => 1, \"b\" => 2}");
        assert_eq!(show(&map(vec![(atom("b"), int(1)), (atom("a"), int(2))])), "%{a: 2, b: 1}");
        assert_eq!(show(&Term::from(ByteList::from(b"it's".to_vec()))), "'it\\'s'");
        assert_eq!(show(&Term::from(ImproperList::from((vec![int(1)], int(2))))), "[1 | 2]");
        assert_eq!(show(&binary(vec![1, 2, 255])), "<<1, 2, 255>>");
        assert_eq!(show(&Term::from(BitBinary::from((vec![1, 5], 3)))), "<<1, 5::size(3)>>");
        assert_eq!(show(&strukt("Elixir.Range", vec![("first", int(1)), ("last", int(3)), ("step", int(1))])), "1..3");
        let date = strukt(
            "Elixir.Date",
            vec![("year", int(2024)), ("month", int(2)), ("day", int(29)), ("calendar", atom("Elixir.Calendar.ISO"))],
        );
        assert_eq!(show(&date), "~D[2024-02-29]");
    }

    #[test]
    fn identifiers_from_other_nodes() {
        let pid = Term::from(Pid::new("b@host", 12, 3, 1));
        let port = Term::from(Port { node: Atom::from("b@host"), id: 5, creation: 1 });
        let reference = Term::from(Reference { node: Atom::from("b@host"), id: vec![3, 2, 1], creation: 1 });
        let mut ctx = RenderContext::new(Limits::default());
        assert_eq!(render_elixir_with(&pid, &ctx), "#PID<b@host.12.3>");
        assert_eq!(render_elixir_with(&port, &ctx), "#Port<b@host.5>");
        assert_eq!(render_elixir_with(&reference, &ctx), "#Reference<b@host.1.2.3>");
        ctx.node_numbers.insert("b@host".into(), 4);
        assert_eq!(render_elixir_with(&pid, &ctx), "#PID<4.12.3>");
        ctx.local_node = Some("b@host".into());
        assert_eq!(render_elixir_with(&pid, &ctx), "#PID<0.12.3>");
        assert_eq!(show(&Term::from(Pid::new(crate::term::NO_NODE, 1, 0, 0))), "#PID<0.1.0>");
    }

    #[test]
    fn struct_field_order() {
        let user = strukt("Elixir.User", vec![("name", binary("x")), ("id", int(1))]);
        // Unknown module: alphabetical.
        assert_eq!(show(&user), "%User{id: 1, name: \"x\"}");
        let mut ctx = RenderContext::new(Limits::unlimited());
        ctx.struct_fields.insert("Elixir.User".into(), vec!["name".into(), "id".into()]);
        assert_eq!(render_elixir_with(&user, &ctx), "%User{name: \"x\", id: 1}");
        // Keys that are not the definition's make it a plain map, as in Elixir.
        ctx.struct_fields.insert("Elixir.User".into(), vec!["name".into()]);
        assert_eq!(render_elixir_with(&user, &ctx), "%{__struct__: User, id: 1, name: \"x\"}");
        // Exceptions hide `__exception__`; Elixir's own structs come in definition order.
        let err = strukt(
            "Elixir.KeyError",
            vec![("__exception__", atom("true")), ("key", atom("a")), ("term", nil()), ("message", atom("nil"))],
        );
        assert_eq!(show(&err), "%KeyError{key: :a, term: [], message: nil}");
        // A non-alias `__struct__` is no struct.
        assert_eq!(show(&strukt("foo", vec![])), "%{__struct__: :foo}");
        // A malformed well-known struct prints as a plain struct (Elixir would print an inspect error).
        let date = strukt(
            "Elixir.Date",
            vec![("year", atom("x")), ("month", int(1)), ("day", int(1)), ("calendar", atom("Elixir.Calendar.ISO"))],
        );
        assert_eq!(show(&date), "%Date{year: :x, month: 1, day: 1, calendar: Calendar.ISO}");
        assert_eq!(show(&strukt("Elixir.Date", vec![("year", int(1))])), "%{__struct__: Date, year: 1}");
    }

    #[test]
    fn limits_elide_with_ellipsis() {
        let numbers = list((1..=5).map(int).collect());
        assert_eq!(limited(&numbers, 12, 3, 100), "[1, 2, 3, …]");
        assert_eq!(limited(&numbers, 12, 0, 100), "[…]");
        assert_eq!(limited(&numbers, 12, 5, 100), "[1, 2, 3, 4, 5]");
        let improper = Term::from(ImproperList::from((vec![int(1), int(2)], int(3))));
        assert_eq!(limited(&improper, 12, 1, 100), "[1, …]");
        assert_eq!(limited(&improper, 12, 2, 100), "[1, 2 | 3]");
        assert_eq!(limited(&tuple(vec![int(1), int(2)]), 12, 1, 100), "{1, …}");
        let m = map(vec![(atom("a"), int(1)), (atom("b"), int(2))]);
        assert_eq!(limited(&m, 12, 1, 100), "%{a: 1, …}");
        assert_eq!(limited(&strukt("Elixir.S", vec![("a", int(1)), ("b", int(2))]), 12, 1, 100), "%S{a: 1, …}");
        assert_eq!(limited(&binary("abcdef"), 12, 100, 4), "\"abcd…\"");
        assert_eq!(limited(&binary("ééé"), 12, 100, 3), "\"éé…\"");
        assert_eq!(limited(&binary(vec![0, 1, 2, 3]), 12, 100, 2), "<<0, 1, …>>");
        assert_eq!(limited(&Term::from(ByteList::from(b"abcdef".to_vec())), 12, 100, 2), "'ab…'");
        let nested = list(vec![list(vec![int(1)]), tuple(vec![int(2)]), m.clone(), binary("deep is fine")]);
        assert_eq!(limited(&nested, 1, 100, 100), "[[…], {…}, %{…}, \"deep is fine\"]");
        assert_eq!(limited(&nested, 0, 100, 100), "[…]");
        assert_eq!(limited(&list(vec![nil(), tuple(vec![]), map(vec![])]), 1, 100, 100), "[[], {}, %{}]");
    }

    #[test]
    fn deep_nesting_is_cut_not_crashed() {
        let mut t = nil();
        for _ in 0..100_000 {
            t = list(vec![t]);
        }
        let out = show(&t);
        let depth = crate::term::HARD_MAX_DEPTH;
        assert_eq!(out, format!("{}[…]{}", "[".repeat(depth), "]".repeat(depth)));
        assert_eq!(render_elixir(&t, &Limits::default()), format!("{}[…]{}", "[".repeat(12), "]".repeat(12)));
        drop_deep(t);
    }

    #[test]
    fn odd_hand_built_terms() {
        assert_eq!(show(&Term::from(Float { value: f64::NAN })), "NaN");
        assert_eq!(show(&Term::from(BitBinary::from((vec![104, 105, 0], 0)))), "\"hi\"");
        assert_eq!(show(&Term::from(BitBinary::from((vec![104, 105], 8)))), "\"hi\"");
        assert_eq!(show(&Term::from(BitBinary::from((vec![0xff], 3)))), "<<7::size(3)>>");
        assert_eq!(show(&Term::from(ImproperList::from((vec![], atom("x"))))), ":x");
        let spliced = Term::from(ImproperList::from((vec![int(97)], Term::from(ByteList::from(b"b".to_vec())))));
        assert_eq!(show(&spliced), "'ab'");
        assert_eq!(show(&list(vec![int(97), int(1 << 40)])), "[97, 1099511627776]");
    }

    #[test]
    fn arbitrary_terms_never_panic() {
        let mut gen = Gen::new(0x5eed);
        let limits = [Limits::unlimited(), Limits::default(), Limits { max_depth: 1, max_items: 1, max_bytes: 1 }];
        for _ in 0..3000 {
            let t = gen.term(4);
            for l in &limits {
                let _ = render_elixir(&t, l);
            }
        }
    }
}
