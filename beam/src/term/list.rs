//! One view of the three ways eetf spells a list.
//!
//! eetf decodes `[]` as an empty `List`, a list of bytes as `ByteList`, and `[a | b]` as `ImproperList`,
//! whose `last` may itself be any of the three when the term was built by hand.

use eetf::Term;

/// A list element: a term, or one byte of a `ByteList`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Elem<'a> {
    Term(&'a Term),
    Byte(u8),
}

impl Elem<'_> {
    /// The element as an integer, if it is one that fits.
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match *self {
            Elem::Byte(b) => Some(i64::from(b)),
            Elem::Term(Term::FixInteger(i)) => Some(i64::from(i.value)),
            Elem::Term(Term::BigInteger(b)) => i64::try_from(&b.value).ok(),
            Elem::Term(_) => None,
        }
    }
}

/// A list's elements and, for an improper list, its tail.
pub(crate) struct Flat<'a> {
    pub items: Vec<Elem<'a>>,
    pub tail: Option<&'a Term>,
}

/// Whether `term` is a list of any spelling.
pub(crate) fn is_list(term: &Term) -> bool {
    matches!(term, Term::List(_) | Term::ByteList(_) | Term::ImproperList(_))
}

/// The elements of a list, following nested tails; `None` if `term` is not a list.
pub(crate) fn flatten(term: &Term) -> Option<Flat<'_>> {
    if !is_list(term) {
        return None;
    }
    let mut items = Vec::new();
    let mut current = term;
    loop {
        match current {
            Term::List(l) => {
                items.extend(l.elements.iter().map(Elem::Term));
                return Some(Flat { items, tail: None });
            }
            Term::ByteList(b) => {
                items.extend(b.bytes.iter().map(|&b| Elem::Byte(b)));
                return Some(Flat { items, tail: None });
            }
            Term::ImproperList(l) => {
                items.extend(l.elements.iter().map(Elem::Term));
                current = &l.last;
            }
            other => return Some(Flat { items, tail: Some(other) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eetf::{ByteList, FixInteger, ImproperList, List};

    fn int(i: i32) -> Term {
        Term::from(FixInteger::from(i))
    }

    #[test]
    fn flattens_all_spellings() {
        let t = Term::from(ImproperList::from((
            vec![int(1)],
            Term::from(ImproperList::from((vec![int(2)], Term::from(ByteList::from(vec![3u8]))))),
        )));
        let f = flatten(&t).unwrap();
        assert_eq!(f.items.iter().map(|e| e.as_i64().unwrap()).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(f.tail.is_none());

        let t = Term::from(ImproperList::from((vec![int(1)], int(2))));
        let f = flatten(&t).unwrap();
        assert_eq!(f.items.len(), 1);
        assert_eq!(f.tail, Some(&int(2)));

        assert!(flatten(&int(1)).is_none());
        assert!(flatten(&Term::from(List::nil())).unwrap().items.is_empty());
    }
}
