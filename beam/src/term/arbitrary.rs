//! Arbitrary terms for tests: every variant, including shapes only a hand-built term can have
//! (non-finite floats, bitstrings with 0 or 8 trailing bits, improper lists without elements).

use eetf::{
    Atom, BigInteger, BitBinary, ByteList, ExternalFun, Float, ImproperList, InternalFun, Pid, Port, Reference, Term,
};

use super::builders::{atom, binary, int, list, map, tuple};

/// A small deterministic generator (xorshift), so failures reproduce.
pub(crate) struct Gen(u64);

impl Gen {
    pub(crate) fn new(seed: u64) -> Self {
        Gen(seed | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let len = self.below(max);
        (0..len).map(|_| self.next() as u8).collect()
    }

    pub(crate) fn term(&mut self, depth: u32) -> Term {
        let kinds = if depth == 0 { 14 } else { 20 };
        match self.below(kinds) {
            0 => int(self.next() as i64 >> self.below(64)),
            1 => Term::from(BigInteger { value: num_bigint::BigInt::from(self.next() as i64) * (self.next() as i64) }),
            2 => Term::from(Float { value: f64::from_bits(self.next()) }),
            3 => {
                let names = ["ok", "Elixir.Foo", "with space", "", "+", "é", "nil", "__struct__", "a'b", "\u{0}"];
                atom(names[self.below(names.len() as u64) as usize])
            }
            4 => binary(self.bytes(12)),
            5 => binary(b"text \"#{x}\"\n".to_vec()),
            6 => Term::from(BitBinary::from((self.bytes(4), self.below(10) as u8))),
            7 => Term::from(ByteList::from(self.bytes(8))),
            8 => Term::from(Pid::new(if self.below(2) == 0 { "nonode@nohost" } else { "b@h" }, 1, 2, 3)),
            9 => Term::from(Port { node: Atom::from("b@h"), id: self.next(), creation: 1 }),
            10 => Term::from(Reference { node: Atom::from("b@h"), id: vec![1, 2, self.next() as u32], creation: 1 }),
            11 => Term::from(ExternalFun::from(("Elixir.Enum", "map", 2))),
            12 => Term::from(InternalFun::New {
                module: Atom::from("m"),
                arity: 1,
                pid: Pid::new("b@h", 1, 2, 3),
                free_vars: vec![int(1)],
                index: 0,
                uniq: [0; 16],
                old_index: 0,
                old_uniq: 5,
            }),
            13 => list(vec![]),
            14 => list((0..self.below(5)).map(|_| self.term(depth - 1)).collect()),
            15 => tuple((0..self.below(4)).map(|_| self.term(depth - 1)).collect()),
            16 => {
                let entries = (0..self.below(5)).map(|_| (self.term(0), self.term(depth - 1))).collect();
                map(entries)
            }
            17 => {
                let module = if self.below(2) == 0 { "Elixir.Date" } else { "Elixir.Foo" };
                map(vec![(atom("__struct__"), atom(module)), (atom("year"), self.term(depth - 1))])
            }
            18 => {
                let elements = (0..self.below(3)).map(|_| self.term(depth - 1)).collect();
                Term::from(ImproperList::from((elements, self.term(depth - 1))))
            }
            _ => list(vec![tuple(vec![atom("k"), self.term(depth - 1)])]),
        }
    }
}
