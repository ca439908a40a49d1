//! Erlang's term order.
//!
//! `number < atom < reference < fun < port < pid < tuple < map < [] < list < bitstring`. Two orders
//! exist: the one `<` and `==` use, where `1 == 1.0`, and the exact one maps sort their keys by, where
//! every integer sorts before every float (`#{1.0 => a, 2 => b}` iterates `2` first). Maps compare by
//! size, then keys (always exactly), then values.
//!
//! Comparison walks the terms with an explicit stack, so deep terms cannot overflow the thread's stack.

use std::cmp::Ordering;

use eetf::{InternalFun, Map, Term};
use num_bigint::BigInt;

/// Erlang's standard order, as `<`, `>` and `==` see it (`1 == 1.0`).
pub fn compare(a: &Term, b: &Term) -> Ordering {
    compare_at(a, b, false, 0)
}

/// The exact order maps sort keys by (`=:=` semantics; integers before floats).
pub fn compare_exact(a: &Term, b: &Term) -> Ordering {
    compare_at(a, b, true, 0)
}

/// A map's entries in the order the BEAM iterates a map of up to 32 keys (larger maps iterate in hash
/// order, which this does not reproduce).
pub fn sorted_map_entries(map: &Map) -> Vec<(&Term, &Term)> {
    sorted_entries_at(map, 0)
}

/// Sorting a map's keys compares them, which may sort the keys of maps inside those keys, and so on.
/// That is the one place comparison recurses; past this many levels such maps compare as equal.
const MAX_KEY_NESTING: usize = 64;

fn sorted_entries_at(map: &Map, nesting: usize) -> Vec<(&Term, &Term)> {
    let mut entries: Vec<(&Term, &Term)> = map.map.iter().collect();
    entries.sort_by(|x, y| compare_at(x.0, y.0, true, nesting));
    entries
}

/// Part of a term under comparison: a term, a byte of a `ByteList`, or the rest of a list.
#[derive(Clone, Copy)]
enum Item<'a> {
    Term(&'a Term),
    Byte(u8),
    List(Cursor<'a>),
}

/// The rest of a list: elements then what follows them (`None`: `[]`), or bytes.
#[derive(Clone, Copy)]
enum Cursor<'a> {
    Elems(&'a [Term], Option<&'a Term>),
    Bytes(&'a [u8]),
}

/// Turns list terms into cursors and exhausted cursors into what follows them, so that every list
/// remainder is either `[]`, a non-empty cursor, or (for an improper tail) a plain term.
fn normalize(mut item: Item<'_>) -> Item<'_> {
    loop {
        item = match item {
            Item::Term(Term::List(l)) => Item::List(Cursor::Elems(&l.elements, None)),
            Item::Term(Term::ByteList(b)) => Item::List(Cursor::Bytes(&b.bytes)),
            Item::Term(Term::ImproperList(l)) => Item::List(Cursor::Elems(&l.elements, Some(&l.last))),
            Item::List(Cursor::Elems([], Some(next))) => Item::Term(next),
            other => return other,
        }
    }
}

fn rank(item: &Item<'_>) -> u8 {
    match item {
        Item::Byte(_) => 0,
        Item::List(Cursor::Elems([], None)) | Item::List(Cursor::Bytes([])) => 8,
        Item::List(_) => 9,
        Item::Term(t) => match t {
            Term::FixInteger(_) | Term::BigInteger(_) | Term::Float(_) => 0,
            Term::Atom(_) => 1,
            Term::Reference(_) => 2,
            Term::InternalFun(_) | Term::ExternalFun(_) => 3,
            Term::Port(_) => 4,
            Term::Pid(_) => 5,
            Term::Tuple(_) => 6,
            Term::Map(_) => 7,
            // Lists never get here: `normalize` turned them into cursors.
            Term::List(_) | Term::ByteList(_) | Term::ImproperList(_) => 9,
            Term::Binary(_) | Term::BitBinary(_) => 10,
        },
    }
}

fn compare_at(a: &Term, b: &Term, exact: bool, nesting: usize) -> Ordering {
    let mut stack = vec![(Item::Term(a), Item::Term(b), exact)];
    while let Some((x, y, exact)) = stack.pop() {
        let (x, y) = (normalize(x), normalize(y));
        let (rx, ry) = (rank(&x), rank(&y));
        if rx != ry {
            return rx.cmp(&ry);
        }
        let ord = match (x, y) {
            (Item::List(cx), Item::List(cy)) => match (split(cx), split(cy)) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some((hx, tx)), Some((hy, ty))) => {
                    stack.push((tx, ty, exact));
                    stack.push((hx, hy, exact));
                    Ordering::Equal
                }
            },
            (x, y) => match (number(&x), number(&y)) {
                (Some(nx), Some(ny)) => compare_numbers(&nx, &ny, exact),
                _ => match (x, y) {
                    (Item::Term(tx), Item::Term(ty)) => compare_same_rank(tx, ty, exact, nesting, &mut stack),
                    _ => Ordering::Equal,
                },
            },
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Head and rest of a non-empty list remainder.
fn split(cursor: Cursor<'_>) -> Option<(Item<'_>, Item<'_>)> {
    match cursor {
        Cursor::Elems([head, rest @ ..], last) => Some((Item::Term(head), Item::List(Cursor::Elems(rest, last)))),
        Cursor::Bytes([head, rest @ ..]) => Some((Item::Byte(*head), Item::List(Cursor::Bytes(rest)))),
        _ => None,
    }
}

/// Compares two terms of the same rank that are neither numbers nor lists, pushing any parts still to
/// compare (in reverse, so the first part is compared first).
fn compare_same_rank<'a>(
    a: &'a Term,
    b: &'a Term,
    exact: bool,
    nesting: usize,
    stack: &mut Vec<(Item<'a>, Item<'a>, bool)>,
) -> Ordering {
    match (a, b) {
        (Term::Atom(x), Term::Atom(y)) => x.name.cmp(&y.name),
        (Term::Reference(x), Term::Reference(y)) => {
            x.node.name.cmp(&y.node.name).then(x.creation.cmp(&y.creation)).then_with(|| {
                // The highest word is the most significant; missing words count as zero.
                let len = x.id.len().max(y.id.len());
                (0..len)
                    .rev()
                    .map(|i| x.id.get(i).unwrap_or(&0).cmp(y.id.get(i).unwrap_or(&0)))
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            })
        }
        (Term::Port(x), Term::Port(y)) => {
            x.node.name.cmp(&y.node.name).then(x.creation.cmp(&y.creation)).then(x.id.cmp(&y.id))
        }
        // Serial and number decide before the node does.
        (Term::Pid(x), Term::Pid(y)) => x
            .serial
            .cmp(&y.serial)
            .then(x.id.cmp(&y.id))
            .then_with(|| x.node.name.cmp(&y.node.name))
            .then(x.creation.cmp(&y.creation)),
        (Term::ExternalFun(x), Term::ExternalFun(y)) => x
            .module
            .name
            .cmp(&y.module.name)
            .then_with(|| x.function.name.cmp(&y.function.name))
            .then(x.arity.cmp(&y.arity)),
        // Local funs sort before external ones.
        (Term::InternalFun(_), Term::ExternalFun(_)) => Ordering::Less,
        (Term::ExternalFun(_), Term::InternalFun(_)) => Ordering::Greater,
        (Term::InternalFun(x), Term::InternalFun(y)) => {
            let (mx, ix, ux, fx) = fun_identity(x);
            let (my, iy, uy, fy) = fun_identity(y);
            let ord = mx.cmp(my).then(ix.cmp(&iy)).then(ux.cmp(&uy)).then(fx.len().cmp(&fy.len()));
            if ord == Ordering::Equal {
                for (vx, vy) in fx.iter().zip(fy).rev() {
                    stack.push((Item::Term(vx), Item::Term(vy), exact));
                }
            }
            ord
        }
        (Term::Tuple(x), Term::Tuple(y)) => {
            let ord = x.elements.len().cmp(&y.elements.len());
            if ord == Ordering::Equal {
                for (ex, ey) in x.elements.iter().zip(&y.elements).rev() {
                    stack.push((Item::Term(ex), Item::Term(ey), exact));
                }
            }
            ord
        }
        (Term::Map(x), Term::Map(y)) => {
            let ord = x.map.len().cmp(&y.map.len());
            if ord != Ordering::Equal || nesting >= MAX_KEY_NESTING {
                return ord;
            }
            let ex = sorted_entries_at(x, nesting + 1);
            let ey = sorted_entries_at(y, nesting + 1);
            // Popped in reverse: all keys first (exactly), then the values.
            for ((_, vx), (_, vy)) in ex.iter().zip(&ey).rev() {
                stack.push((Item::Term(vx), Item::Term(vy), exact));
            }
            for ((kx, _), (ky, _)) in ex.iter().zip(&ey).rev() {
                stack.push((Item::Term(kx), Item::Term(ky), true));
            }
            Ordering::Equal
        }
        (Term::Binary(_) | Term::BitBinary(_), Term::Binary(_) | Term::BitBinary(_)) => {
            compare_bits(Bits::of(a), Bits::of(b))
        }
        _ => Ordering::Equal,
    }
}

fn fun_identity(f: &InternalFun) -> (&str, i64, i64, &[Term]) {
    match f {
        InternalFun::Old { module, index, uniq, free_vars, .. } => {
            (&module.name, i64::from(*index), i64::from(*uniq), free_vars)
        }
        InternalFun::New { module, old_index, old_uniq, free_vars, .. } => {
            (&module.name, i64::from(*old_index), i64::from(*old_uniq), free_vars)
        }
    }
}

enum Num<'a> {
    Int(i64),
    Big(&'a BigInt),
    Float(f64),
}

fn number<'a>(item: &Item<'a>) -> Option<Num<'a>> {
    match *item {
        Item::Byte(b) => Some(Num::Int(i64::from(b))),
        Item::Term(Term::FixInteger(i)) => Some(Num::Int(i64::from(i.value))),
        Item::Term(Term::BigInteger(b)) => Some(Num::Big(&b.value)),
        Item::Term(Term::Float(f)) => Some(Num::Float(f.value)),
        _ => None,
    }
}

fn compare_numbers(a: &Num<'_>, b: &Num<'_>, exact: bool) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(y),
        (Num::Int(x), Num::Big(y)) => BigInt::from(*x).cmp(y),
        (Num::Big(x), Num::Int(y)) => (*x).cmp(&BigInt::from(*y)),
        (Num::Big(x), Num::Big(y)) => x.cmp(y),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(y).unwrap_or_else(|| x.total_cmp(y)),
        (Num::Float(_), _) if exact => Ordering::Greater,
        (_, Num::Float(_)) if exact => Ordering::Less,
        (Num::Int(x), Num::Float(y)) => compare_int_float(&BigInt::from(*x), *y),
        (Num::Big(x), Num::Float(y)) => compare_int_float(x, *y),
        (Num::Float(x), Num::Int(y)) => compare_int_float(&BigInt::from(*y), *x).reverse(),
        (Num::Float(x), Num::Big(y)) => compare_int_float(y, *x).reverse(),
    }
}

/// Compares an integer with a float by value, exactly (no rounding of either).
fn compare_int_float(i: &BigInt, f: f64) -> Ordering {
    if f.is_nan() || f == f64::INFINITY {
        return Ordering::Less;
    }
    if f == f64::NEG_INFINITY {
        return Ordering::Greater;
    }
    let floor = f.floor();
    match i.cmp(&integral_to_bigint(floor)) {
        Ordering::Equal if f > floor => Ordering::Less,
        ord => ord,
    }
}

/// The exact value of a finite float that has no fractional part.
fn integral_to_bigint(x: f64) -> BigInt {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64;
    if exponent == 0 {
        return BigInt::from(0);
    }
    let mantissa = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let shift = exponent - 1075;
    let magnitude = if shift >= 0 {
        BigInt::from(mantissa) << (shift as usize)
    } else {
        BigInt::from(mantissa >> ((-shift).min(63) as u32))
    };
    if x < 0.0 {
        -magnitude
    } else {
        magnitude
    }
}

/// A bitstring: whole bytes, then `tail_bits` more bits (eetf keeps them in the low bits of the last byte).
struct Bits<'a> {
    bytes: &'a [u8],
    tail_bits: u8,
}

impl<'a> Bits<'a> {
    fn of(term: &'a Term) -> Self {
        match term {
            Term::BitBinary(b) if (1..8).contains(&b.tail_bits_size) && !b.bytes.is_empty() => {
                Bits { bytes: &b.bytes, tail_bits: b.tail_bits_size }
            }
            Term::BitBinary(b) if b.tail_bits_size == 0 && !b.bytes.is_empty() => {
                Bits { bytes: &b.bytes[..b.bytes.len() - 1], tail_bits: 0 }
            }
            Term::BitBinary(b) => Bits { bytes: &b.bytes, tail_bits: 0 },
            Term::Binary(b) => Bits { bytes: &b.bytes, tail_bits: 0 },
            _ => Bits { bytes: &[], tail_bits: 0 },
        }
    }

    fn len(&self) -> usize {
        if self.tail_bits == 0 {
            self.bytes.len() * 8
        } else {
            (self.bytes.len() - 1) * 8 + usize::from(self.tail_bits)
        }
    }

    /// Byte `i` with its bits in the high end, as they sit in the bitstring.
    fn aligned(&self, i: usize) -> u8 {
        let b = self.bytes[i];
        if self.tail_bits != 0 && i == self.bytes.len() - 1 {
            b << (8 - self.tail_bits)
        } else {
            b
        }
    }
}

fn compare_bits(a: Bits<'_>, b: Bits<'_>) -> Ordering {
    let (la, lb) = (a.len(), b.len());
    let common = la.min(lb);
    for i in 0..common.div_ceil(8) {
        let bits_here = (common - i * 8).min(8);
        let mask = (0xffu16 << (8 - bits_here)) as u8;
        let ord = (a.aligned(i) & mask).cmp(&(b.aligned(i) & mask));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    la.cmp(&lb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::builders::*;
    use eetf::{BigInteger, BitBinary, ByteList, ExternalFun, Float, ImproperList, Pid, Reference};

    fn float(f: f64) -> Term {
        Term::from(Float { value: f })
    }

    fn big(s: &str) -> Term {
        Term::from(BigInteger { value: s.parse().unwrap() })
    }

    #[test]
    fn type_order() {
        let ascending = [
            int(1),
            atom("a"),
            Term::from(Reference::from(("n@h", 1))),
            Term::from(ExternalFun::from(("m", "f", 1))),
            Term::from(eetf::Port::from(("n@h", 1))),
            Term::from(Pid::from(("n@h", 1, 0))),
            tuple(vec![]),
            map(vec![]),
            nil(),
            list(vec![int(1)]),
            binary(b"".to_vec()),
        ];
        for w in ascending.windows(2) {
            assert_eq!(compare(&w[0], &w[1]), Ordering::Less, "{:?} < {:?}", w[0], w[1]);
            assert_eq!(compare(&w[1], &w[0]), Ordering::Greater);
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(compare(&int(1), &float(1.0)), Ordering::Equal);
        assert_eq!(compare_exact(&int(1), &float(1.0)), Ordering::Less);
        assert_eq!(compare_exact(&int(2), &float(0.5)), Ordering::Less);
        assert_eq!(compare(&int(2), &float(0.5)), Ordering::Greater);
        assert_eq!(compare(&float(1.5), &int(1)), Ordering::Greater);
        assert_eq!(compare(&float(-1.5), &int(-1)), Ordering::Less);
        assert_eq!(compare(&big("100000000000000000000"), &float(1.0e20)), Ordering::Equal);
        assert_eq!(compare(&big("100000000000000000001"), &float(1.0e20)), Ordering::Greater);
        assert_eq!(compare(&big("-100000000000000000000"), &int(-5)), Ordering::Less);
        assert_eq!(compare(&int(5), &big("5")), Ordering::Equal);
        assert_eq!(compare(&float(-0.0), &float(0.0)), Ordering::Equal);
    }

    #[test]
    fn lists_of_every_spelling() {
        let bytes = Term::from(ByteList::from(vec![1u8, 2]));
        assert_eq!(compare(&bytes, &list(vec![int(1), int(2)])), Ordering::Equal);
        assert_eq!(compare(&bytes, &list(vec![int(1), int(3)])), Ordering::Less);
        assert_eq!(compare(&list(vec![int(1)]), &bytes), Ordering::Less);
        // [1 | 2] vs [1, 2]: 2 (a number) < [2] (a list).
        let improper = Term::from(ImproperList::from((vec![int(1)], int(2))));
        assert_eq!(compare(&improper, &bytes), Ordering::Less);
        assert_eq!(compare(&nil(), &bytes), Ordering::Less);
    }

    #[test]
    fn tuples_maps_bits() {
        assert_eq!(compare(&tuple(vec![int(9)]), &tuple(vec![int(1), int(1)])), Ordering::Less);
        assert_eq!(compare(&tuple(vec![int(1), atom("b")]), &tuple(vec![int(1), atom("a")])), Ordering::Greater);
        let m1 = map(vec![(atom("a"), int(2))]);
        let m2 = map(vec![(atom("b"), int(1))]);
        assert_eq!(compare(&m1, &m2), Ordering::Less);
        assert_eq!(compare(&map(vec![(int(1), int(1)), (int(2), int(2))]), &m1), Ordering::Greater);
        // <<1>> < <<1:4>> < <<2:3>>, as the BEAM sorts them.
        let one = binary(vec![1]);
        let four = Term::from(BitBinary::from((vec![1], 4)));
        let three = Term::from(BitBinary::from((vec![2], 3)));
        assert_eq!(compare(&one, &four), Ordering::Less);
        assert_eq!(compare(&four, &three), Ordering::Less);
        assert_eq!(compare(&binary(vec![]), &one), Ordering::Less);
        assert_eq!(compare(&binary(vec![1, 2]), &binary(vec![1])), Ordering::Greater);
    }

    #[test]
    fn map_entries_sort_integers_before_floats() {
        let m = eetf::Map::from([(float(0.5), int(0)), (int(2), int(0)), (atom("a"), int(0)), (int(-1), int(0))]);
        let keys: Vec<_> = sorted_map_entries(&m).into_iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, vec![int(-1), int(2), float(0.5), atom("a")]);
    }

    #[test]
    fn arbitrary_terms_compare_consistently() {
        let mut gen = crate::term::arbitrary::Gen::new(42);
        for _ in 0..3000 {
            let (a, b) = (gen.term(3), gen.term(3));
            assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
            assert_eq!(compare_exact(&a, &b), compare_exact(&b, &a).reverse());
            // NaN is not a BEAM float; anything else equals itself.
            if !format!("{a:?}").contains("NaN") {
                assert_eq!(compare_exact(&a, &a.clone()), Ordering::Equal);
            }
        }
    }

    #[test]
    fn deep_terms_do_not_overflow() {
        let mut a = nil();
        let mut b = nil();
        for _ in 0..100_000 {
            a = list(vec![a]);
            b = list(vec![b]);
        }
        assert_eq!(compare(&a, &b), Ordering::Equal);
        crate::term::builders::drop_deep(a);
        crate::term::builders::drop_deep(b);
    }
}
