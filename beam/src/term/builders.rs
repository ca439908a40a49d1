//! Short ways to build terms, and to get rid of deep ones.

use eetf::{Atom, BigInteger, Binary, FixInteger, List, Map, Term, Tuple};

/// The atom `name`.
pub fn atom(name: impl AsRef<str>) -> Term {
    Term::from(Atom::from(name.as_ref()))
}

/// An integer, in the smallest spelling eetf has for it.
pub fn int(value: i64) -> Term {
    match i32::try_from(value) {
        Ok(v) => Term::from(FixInteger::from(v)),
        Err(_) => Term::from(BigInteger::from(value)),
    }
}

/// `{e1, e2, …}`.
pub fn tuple(elements: Vec<Term>) -> Term {
    Term::from(Tuple::from(elements))
}

/// `[e1, e2, …]`.
pub fn list(elements: Vec<Term>) -> Term {
    Term::from(List::from(elements))
}

/// `[]`.
pub fn nil() -> Term {
    Term::from(List::nil())
}

/// A binary, e.g. an Elixir string: `binary("héllo")`.
pub fn binary(bytes: impl Into<Vec<u8>>) -> Term {
    Term::from(Binary::from(bytes.into()))
}

/// A map of the given entries (a later duplicate key wins).
pub fn map(entries: Vec<(Term, Term)>) -> Term {
    Term::from(Map::from(entries.into_iter().collect::<std::collections::HashMap<_, _>>()))
}

/// A keyword list / proplist: `[{k1, v1}, {k2, v2}, …]` with atom keys.
pub fn keyword(pairs: Vec<(&str, Term)>) -> Term {
    list(pairs.into_iter().map(|(k, v)| tuple(vec![atom(k), v])).collect())
}

/// Drops a term however deeply it nests. Dropping a `Term` the ordinary way recurses once per level of
/// nesting, which overflows the stack somewhere past ten thousand levels; this takes the term apart
/// level by level instead.
pub fn drop_deep(term: Term) {
    let mut pending = vec![term];
    while let Some(t) = pending.pop() {
        match t {
            Term::List(mut l) => pending.append(&mut l.elements),
            Term::Tuple(mut t) => pending.append(&mut t.elements),
            Term::ImproperList(mut l) => {
                pending.append(&mut l.elements);
                pending.push(*l.last);
            }
            Term::Map(m) => {
                for (k, v) in m.map {
                    pending.push(k);
                    pending.push(v);
                }
            }
            Term::InternalFun(f) => match *f {
                eetf::InternalFun::Old { mut free_vars, .. } | eetf::InternalFun::New { mut free_vars, .. } => {
                    pending.append(&mut free_vars)
                }
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds() {
        assert_eq!(atom("ok"), Term::from(Atom::from("ok")));
        assert_eq!(int(5), Term::from(FixInteger::from(5)));
        assert_eq!(int(1 << 40), Term::from(BigInteger::from(1i64 << 40)));
        assert_eq!(int(i64::from(i32::MIN)), Term::from(FixInteger::from(i32::MIN)));
        assert_eq!(nil(), list(vec![]));
        assert_eq!(binary("ab"), Term::from(Binary::from(b"ab".to_vec())));
        assert_eq!(keyword(vec![("a", int(1))]), list(vec![tuple(vec![atom("a"), int(1)])]));
        let m = map(vec![(atom("a"), int(1)), (atom("a"), int(2))]);
        assert!(matches!(&m, Term::Map(m) if m.map.len() == 1 && m.map[&atom("a")] == int(2)));
    }

    #[test]
    fn drops_deep_terms() {
        let mut t = nil();
        for i in 0..200_000 {
            t = match i % 3 {
                0 => list(vec![t]),
                1 => tuple(vec![t]),
                _ => map(vec![(int(1), t)]),
            };
        }
        drop_deep(t);
    }
}
