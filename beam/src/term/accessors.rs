//! Small ways to look into terms.

use std::borrow::Cow;

use eetf::{Atom, Term};

/// The name of an atom.
pub fn as_atom(term: &Term) -> Option<&str> {
    match term {
        Term::Atom(a) => Some(&a.name),
        _ => None,
    }
}

/// Whether `term` is the atom `name`.
pub fn is_atom(term: &Term, name: &str) -> bool {
    as_atom(term) == Some(name)
}

/// The elements of a tuple.
pub fn as_tuple(term: &Term) -> Option<&[Term]> {
    match term {
        Term::Tuple(t) => Some(&t.elements),
        _ => None,
    }
}

/// The elements of a proper list, `[]` included. eetf decodes a list of bytes (an Erlang string) as a
/// `ByteList`; its elements come back as integers, hence the `Cow`. Improper lists give `None`.
pub fn as_list(term: &Term) -> Option<Cow<'_, [Term]>> {
    match term {
        Term::List(l) => Some(Cow::Borrowed(&l.elements)),
        Term::ByteList(b) => Some(Cow::Owned(b.bytes.iter().map(|&b| super::builders::int(i64::from(b))).collect())),
        _ => None,
    }
}

/// Whether `term` is `[]`.
pub fn is_nil(term: &Term) -> bool {
    match term {
        Term::List(l) => l.elements.is_empty(),
        Term::ByteList(b) => b.bytes.is_empty(),
        _ => false,
    }
}

/// The bytes of a binary (a bitstring of whole bytes).
pub fn as_binary(term: &Term) -> Option<&[u8]> {
    match term {
        Term::Binary(b) => Some(&b.bytes),
        Term::BitBinary(b) if b.tail_bits_size == 8 => Some(&b.bytes),
        _ => None,
    }
}

/// A binary holding UTF-8 text, e.g. an Elixir string.
pub fn as_str(term: &Term) -> Option<&str> {
    as_binary(term).and_then(|b| std::str::from_utf8(b).ok())
}

/// A non-negative integer that fits in a `u64`, however eetf spelled it.
pub fn as_u64(term: &Term) -> Option<u64> {
    match term {
        Term::FixInteger(i) => u64::try_from(i.value).ok(),
        Term::BigInteger(b) => u64::try_from(&b.value).ok(),
        _ => None,
    }
}

/// A number (float or integer) as an `f64`.
pub fn as_f64(term: &Term) -> Option<f64> {
    match term {
        Term::Float(f) => Some(f.value),
        Term::FixInteger(i) => Some(i.value as f64),
        Term::BigInteger(b) => b.value.to_string().parse().ok(),
        _ => None,
    }
}

/// The text a term holds: a binary (as UTF-8, invalid bytes replaced), an Erlang string (a proper list of
/// code points) or an atom's name. Anything else is not text.
pub fn as_text(term: &Term) -> Option<String> {
    match term {
        Term::Atom(a) => Some(a.name.clone()),
        Term::ByteList(b) => Some(b.bytes.iter().map(|&c| char::from(c)).collect()),
        Term::List(l) => l.elements.iter().map(|c| as_integer(c).and_then(|i| char::from_u32(i as u32))).collect(),
        _ => as_binary(term).map(|b| String::from_utf8_lossy(b).into_owned()),
    }
}

/// A term as text for a message: what [`as_text`] reads, anything else as Erlang prints it.
pub fn text(term: &Term) -> String {
    as_text(term).unwrap_or_else(|| super::render_erlang(term, &super::Limits::default()))
}

/// The names of the atoms in a list; other elements are skipped.
pub fn atom_names(term: &Term) -> Vec<String> {
    match term {
        Term::List(l) => l.elements.iter().filter_map(as_atom).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// An integer that fits in an `i64`, however eetf spelled it.
pub fn as_integer(term: &Term) -> Option<i64> {
    match term {
        Term::FixInteger(i) => Some(i64::from(i.value)),
        Term::BigInteger(b) => i64::try_from(&b.value).ok(),
        _ => None,
    }
}

/// The value of the first `{key, value}` pair with atom `key` in a proplist or keyword list (elements
/// that are not such pairs are skipped, as `proplists:get_value/2` does; a bare atom is not a pair).
pub fn proplist_get<'a>(list: &'a Term, key: &str) -> Option<&'a Term> {
    let elements: &[Term] = match list {
        Term::List(l) => &l.elements,
        Term::ImproperList(l) => &l.elements,
        _ => return None,
    };
    elements.iter().find_map(|e| match as_tuple(e) {
        Some([k, v]) if is_atom(k, key) => Some(v),
        _ => None,
    })
}

/// The value under the atom key `key` of a map, e.g. a struct's field.
pub fn map_get_atom<'a>(map: &'a Term, key: &str) -> Option<&'a Term> {
    map_get(map, &Term::from(Atom::from(key)))
}

/// The value under `key` of a map. Keys match exactly (`1` is not `1.0`), as in the BEAM; an integer key
/// is found however eetf spelled it.
pub fn map_get<'a>(map: &'a Term, key: &Term) -> Option<&'a Term> {
    let Term::Map(m) = map else { return None };
    if let Some(v) = m.map.get(key) {
        return Some(v);
    }
    // eetf tells `FixInteger(5)` from `BigInteger(5)`; the BEAM does not.
    let wanted = as_integer(key)?;
    m.map.iter().find(|(k, _)| as_integer(k) == Some(wanted)).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::builders::*;
    use eetf::{BigInteger, BitBinary, ByteList, ImproperList};

    #[test]
    fn atoms_tuples_integers() {
        assert_eq!(as_atom(&atom("ok")), Some("ok"));
        assert_eq!(as_atom(&int(1)), None);
        assert!(is_atom(&atom("true"), "true"));
        assert_eq!(as_tuple(&tuple(vec![int(1)])), Some(&[int(1)][..]));
        assert_eq!(as_tuple(&nil()), None);
        assert_eq!(as_integer(&int(-7)), Some(-7));
        assert_eq!(as_integer(&Term::from(BigInteger::from(1i64 << 50))), Some(1 << 50));
        let huge = Term::from(BigInteger { value: "100000000000000000000000".parse().unwrap() });
        assert_eq!(as_integer(&huge), None);
    }

    #[test]
    fn lists_and_binaries() {
        assert_eq!(as_list(&nil()).unwrap().len(), 0);
        assert!(is_nil(&nil()));
        assert!(!is_nil(&list(vec![nil()])));
        let bytes = Term::from(ByteList::from(vec![97u8, 98]));
        assert_eq!(as_list(&bytes).unwrap().as_ref(), &[int(97), int(98)]);
        assert_eq!(as_list(&Term::from(ImproperList::from((vec![int(1)], int(2))))), None);
        assert_eq!(as_binary(&binary("ab")), Some(&b"ab"[..]));
        assert_eq!(as_binary(&Term::from(BitBinary::from((vec![1], 3)))), None);
        assert_eq!(as_str(&binary("héllo")), Some("héllo"));
        assert_eq!(as_str(&binary(vec![0xff])), None);
    }

    #[test]
    fn text_numbers_and_atom_lists() {
        assert_eq!(as_text(&binary("héllo")), Some("héllo".into()));
        assert_eq!(as_text(&binary(vec![0xff, b'a'])), Some("\u{fffd}a".into()));
        assert_eq!(as_text(&Term::from(ByteList::from(vec![104u8, 233]))), Some("hé".into()));
        assert_eq!(as_text(&list(vec![int(26085), int(26412)])), Some("日本".into()));
        assert_eq!(as_text(&nil()), Some(String::new()));
        assert_eq!(as_text(&atom("nonode@nohost")), Some("nonode@nohost".into()));
        assert_eq!(as_text(&list(vec![atom("a")])), None);
        assert_eq!(as_text(&int(1)), None);
        assert_eq!(text(&tuple(vec![atom("error"), int(1)])), "{error,1}");
        assert_eq!(text(&binary("boom")), "boom");
        assert_eq!(as_u64(&int(7)), Some(7));
        assert_eq!(as_u64(&int(-7)), None);
        assert_eq!(as_u64(&Term::from(BigInteger::from(1i64 << 40))), Some(1 << 40));
        assert_eq!(as_f64(&int(2)), Some(2.0));
        assert_eq!(as_f64(&atom("x")), None);
        assert_eq!(atom_names(&list(vec![atom("a@h"), int(1), atom("b@h")])), vec!["a@h", "b@h"]);
        assert!(atom_names(&atom("a")).is_empty());
    }

    #[test]
    fn proplists_and_maps() {
        let pl = list(vec![atom("bare"), tuple(vec![atom("a"), int(1)]), tuple(vec![atom("a"), int(2)])]);
        assert_eq!(proplist_get(&pl, "a"), Some(&int(1)));
        assert_eq!(proplist_get(&pl, "bare"), None);
        assert_eq!(proplist_get(&int(1), "a"), None);
        let m = map(vec![(atom("name"), binary("x")), (Term::from(BigInteger::from(5)), atom("five"))]);
        assert_eq!(map_get_atom(&m, "name"), Some(&binary("x")));
        assert_eq!(map_get_atom(&m, "nope"), None);
        assert_eq!(map_get(&m, &int(5)), Some(&atom("five")));
        assert_eq!(map_get_atom(&nil(), "name"), None);
    }
}
