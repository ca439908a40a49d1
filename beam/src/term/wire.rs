//! Making terms safe to put on the wire and to take off it.
//!
//! Two faults of eetf 0.11 are handled here rather than worked around at every call site:
//! - it encodes a list whose elements are all small integers below 256 as a byte string, *including
//!   negative ones*, so `[-1]` arrives as `[255]`. [`make_wire_safe`] turns such negative integers into
//!   big-integer form, which the node reads back as the same small integer.
//! - it decodes recursively, so a deeply nested term from a node could overflow Orbit's stack.
//!   [`nesting_depth`] measures a term in external format without recursion, so a frame that is too deep
//!   can be refused before it is decoded.

use eetf::{BigInteger, Term};

/// Why a node would refuse `t`: an atom longer than the 255 characters a node takes (it would drop the
/// whole connection over such a message). `None`: it can be sent. (What else the encoder refuses — an atom
/// over 65,535 bytes — is caught here first.)
pub fn unsendable(t: &Term) -> Option<String> {
    match t {
        Term::Atom(a) if a.name.chars().count() > 255 => Some(format!(
            "the atom '{}...' has {} characters; a node takes at most 255",
            a.name.chars().take(16).collect::<String>(),
            a.name.chars().count()
        )),
        Term::List(l) => l.elements.iter().find_map(unsendable),
        Term::ImproperList(l) => l.elements.iter().chain([l.last.as_ref()]).find_map(unsendable),
        Term::Tuple(t) => t.elements.iter().find_map(unsendable),
        Term::Map(m) => m.map.iter().find_map(|(k, v)| unsendable(k).or_else(|| unsendable(v))),
        _ => None,
    }
}

/// Rewrites `term` in place so eetf encodes it faithfully (see the module docs).
pub fn make_wire_safe(term: &mut Term) {
    let mut stack: Vec<&mut Term> = vec![term];
    while let Some(t) = stack.pop() {
        match t {
            Term::List(l) => {
                let byte_like = l.elements.iter().all(|e| matches!(e, Term::FixInteger(i) if i.value < 0x100));
                for e in l.elements.iter_mut() {
                    match e {
                        Term::FixInteger(i) if byte_like && i.value < 0 => {
                            *e = Term::from(BigInteger::from(i.value));
                        }
                        _ => stack.push(e),
                    }
                }
            }
            Term::ImproperList(l) => {
                stack.extend(l.elements.iter_mut());
                stack.push(&mut l.last);
            }
            Term::Tuple(t) => stack.extend(t.elements.iter_mut()),
            Term::Map(m) => {
                // Keys cannot be changed in place in a HashMap; rebuild only when a key needs it.
                let needs = m.map.keys().any(needs_fix);
                if needs {
                    let entries: Vec<(Term, Term)> = m.map.drain().collect();
                    for (mut k, v) in entries {
                        make_wire_safe(&mut k);
                        m.map.insert(k, v);
                    }
                }
                stack.extend(m.map.values_mut());
            }
            _ => {}
        }
    }
}

fn needs_fix(t: &Term) -> bool {
    let mut stack = vec![t];
    while let Some(t) = stack.pop() {
        match t {
            Term::List(l) => {
                if l.elements.iter().all(|e| matches!(e, Term::FixInteger(i) if i.value < 0x100))
                    && l.elements.iter().any(|e| matches!(e, Term::FixInteger(i) if i.value < 0))
                {
                    return true;
                }
                stack.extend(l.elements.iter());
            }
            Term::ImproperList(l) => {
                stack.extend(l.elements.iter());
                stack.push(&l.last);
            }
            Term::Tuple(t) => stack.extend(t.elements.iter()),
            Term::Map(m) => stack.extend(m.map.iter().flat_map(|(k, v)| [k, v])),
            _ => {}
        }
    }
    false
}

/// Why [`nesting_depth`] could not measure a term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// How deeply the terms starting at `bytes` nest, reading `count` consecutive terms in external format
/// (without the 131 version byte). Returns the depth and the number of bytes the terms take.
pub fn nesting_depth(bytes: &[u8], count: usize) -> Result<(usize, usize), Malformed> {
    let mut pos = 0usize;
    // Each entry: how many more terms remain at that level.
    let mut pending: Vec<u64> = vec![count as u64];
    let mut max_depth = 0usize;
    let take = |pos: &mut usize, n: usize| -> Result<usize, Malformed> {
        let start = *pos;
        let end = start.checked_add(n).ok_or_else(|| Malformed("length overflow".into()))?;
        if end > bytes.len() {
            return Err(Malformed(format!("truncated at byte {start}")));
        }
        *pos = end;
        Ok(start)
    };
    let be = |b: &[u8]| b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
    let skip_atom = |pos: &mut usize| -> Result<(), Malformed> {
        let tag = bytes[take(pos, 1)?];
        let len = match tag {
            118 | 100 => {
                let s = take(pos, 2)?;
                be(&bytes[s..s + 2]) as usize
            }
            119 | 115 => bytes[take(pos, 1)?] as usize,
            other => return Err(Malformed(format!("expected a node atom, found tag {other}"))),
        };
        take(pos, len).map(|_| ())
    };
    while let Some(top) = pending.last_mut() {
        if *top == 0 {
            pending.pop();
            continue;
        }
        *top -= 1;
        max_depth = max_depth.max(pending.len());
        let tag = bytes[take(&mut pos, 1)?];
        let children: u64 = match tag {
            97 => {
                take(&mut pos, 1)?;
                0
            } // SMALL_INTEGER
            98 => {
                take(&mut pos, 4)?;
                0
            } // INTEGER
            99 => {
                take(&mut pos, 31)?;
                0
            } // FLOAT (old)
            70 => {
                take(&mut pos, 8)?;
                0
            } // NEW_FLOAT
            118 | 100 => {
                let s = take(&mut pos, 2)?;
                take(&mut pos, be(&bytes[s..s + 2]) as usize)?;
                0
            } // ATOM_UTF8, ATOM
            119 | 115 => {
                let s = take(&mut pos, 1)?;
                take(&mut pos, bytes[s] as usize)?;
                0
            } // SMALL_ATOM(_UTF8)
            106 => 0, // NIL
            107 => {
                let s = take(&mut pos, 2)?;
                take(&mut pos, be(&bytes[s..s + 2]) as usize)?;
                0
            } // STRING
            108 => {
                let s = take(&mut pos, 4)?;
                be(&bytes[s..s + 4]) + 1
            } // LIST (+ tail)
            104 => {
                let s = take(&mut pos, 1)?;
                u64::from(bytes[s])
            } // SMALL_TUPLE
            105 => {
                let s = take(&mut pos, 4)?;
                be(&bytes[s..s + 4])
            } // LARGE_TUPLE
            116 => {
                let s = take(&mut pos, 4)?;
                be(&bytes[s..s + 4]) * 2
            } // MAP
            109 => {
                let s = take(&mut pos, 4)?;
                take(&mut pos, be(&bytes[s..s + 4]) as usize)?;
                0
            } // BINARY
            77 => {
                let s = take(&mut pos, 4)?;
                take(&mut pos, be(&bytes[s..s + 4]) as usize + 1)?;
                0
            } // BIT_BINARY
            110 => {
                let s = take(&mut pos, 1)?;
                take(&mut pos, bytes[s] as usize + 1)?;
                0
            } // SMALL_BIG
            111 => {
                let s = take(&mut pos, 4)?;
                take(&mut pos, be(&bytes[s..s + 4]) as usize + 1)?;
                0
            } // LARGE_BIG
            // Pids, ports and references: the node atom, then fixed-size fields.
            88 => {
                skip_atom(&mut pos)?;
                take(&mut pos, 12)?;
                0
            } // NEW_PID
            103 => {
                skip_atom(&mut pos)?;
                take(&mut pos, 9)?;
                0
            } // PID
            89 => {
                skip_atom(&mut pos)?;
                take(&mut pos, 8)?;
                0
            } // NEW_PORT
            120 => {
                skip_atom(&mut pos)?;
                take(&mut pos, 12)?;
                0
            } // V4_PORT
            102 => {
                skip_atom(&mut pos)?;
                take(&mut pos, 5)?;
                0
            } // PORT
            101 => {
                skip_atom(&mut pos)?;
                take(&mut pos, 5)?;
                0
            } // REFERENCE
            90 | 114 => {
                // NEWER/NEW_REFERENCE
                let s = take(&mut pos, 2)?;
                let words = be(&bytes[s..s + 2]) as usize;
                skip_atom(&mut pos)?;
                take(&mut pos, words * 4 + if tag == 90 { 4 } else { 1 })?;
                0
            }
            113 => 3, // EXPORT: M, F, A
            112 => {
                // NEW_FUN
                let s = take(&mut pos, 4)?;
                let size = be(&bytes[s..s + 4]) as usize;
                take(&mut pos, size.checked_sub(4).ok_or_else(|| Malformed("bad fun size".into()))?)?;
                0
            }
            117 => {
                let s = take(&mut pos, 4)?;
                be(&bytes[s..s + 4]) + 4
            } // FUN (old)
            other => return Err(Malformed(format!("unknown tag {other} at byte {}", pos - 1))),
        };
        if children > 0 {
            pending.push(children);
        }
    }
    Ok((max_depth, pos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::{atom, int, list, tuple};

    #[test]
    fn negative_small_integers_survive_encoding() {
        let mut t = list(vec![int(-1), int(2), int(-120)]);
        make_wire_safe(&mut t);
        let mut buf = Vec::new();
        t.encode(&mut buf).unwrap();
        let back = Term::decode(&buf[..]).unwrap();
        let Term::List(l) = back else { panic!("not a list") };
        let values: Vec<i64> = l.elements.iter().map(|e| crate::term::as_integer(e).unwrap()).collect();
        assert_eq!(values, vec![-1, 2, -120]);
    }

    /// Map keys are terms too: a key holding a list of small integers with a negative one (inside a tuple,
    /// an improper list or a nested map) reaches the node with its sign.
    #[test]
    fn negative_small_integers_in_map_keys_survive_encoding() {
        let negative = || list(vec![int(-1), int(7)]);
        let improper = Term::from(eetf::ImproperList::from((vec![negative()], atom("tail"))));
        let inner = crate::term::map(vec![(negative(), atom("v"))]);
        let keys = [tuple(vec![negative()]), improper, inner, tuple(vec![atom("plain"), list(vec![int(1)])])];
        let original = crate::term::map(keys.iter().cloned().map(|k| (k, atom("x"))).collect());
        let mut t = original.clone();
        make_wire_safe(&mut t);
        let mut buf = Vec::new();
        t.encode(&mut buf).unwrap();
        let back = Term::decode(&buf[..]).unwrap();
        let Term::Map(m) = back else { panic!("not a map") };
        assert_eq!(m.map.len(), 4);
        let text: Vec<String> =
            m.map.keys().map(|k| crate::term::render_erlang(k, &crate::term::Limits::default())).collect();
        for want in ["{[-1,7]}", "[[-1,7]|tail]", "#{[-1,7] => v}", "{plain,[1]}"] {
            assert!(text.iter().any(|k| k == want), "{want} in {text:?}");
        }
    }

    #[test]
    fn byte_lists_stay_byte_lists() {
        let mut t = tuple(vec![list(vec![int(104), int(105)]), atom("x")]);
        let before = t.clone();
        make_wire_safe(&mut t);
        assert_eq!(t, before);
    }

    #[test]
    fn measures_depth_without_recursion() {
        // [[[ ... ]]] 200,000 deep, built as bytes.
        let depth = 200_000;
        let mut bytes = Vec::new();
        for _ in 0..depth {
            bytes.extend_from_slice(&[108, 0, 0, 0, 1]);
        }
        bytes.push(106);
        bytes.extend(std::iter::repeat_n(106, depth));
        let (d, len) = nesting_depth(&bytes, 1).unwrap();
        assert_eq!(len, bytes.len());
        assert!(d > depth);
    }

    #[test]
    fn measures_ordinary_terms() {
        let pid = Term::from(eetf::Pid::new("a@h", 1, 2, 3));
        let reference = Term::from(eetf::Reference { node: eetf::Atom::from("a@h"), id: vec![1, 2, 3], creation: 4 });
        let t = tuple(vec![
            atom("ok"),
            list(vec![int(1), int(100_000), pid, reference]),
            crate::term::binary(vec![1, 2, 3]),
        ]);
        let mut buf = Vec::new();
        t.encode(&mut buf).unwrap();
        let (d, len) = nesting_depth(&buf[1..], 1).unwrap();
        assert_eq!(len, buf.len() - 1);
        assert_eq!(d, 3);
    }

    /// The term formats OTP 23+ no longer sends (FLOAT_EXT, PID_EXT, PORT_EXT, REFERENCE_EXT, FUN_EXT,
    /// node names as ATOM_EXT/SMALL_ATOM_EXT) and the rarer current ones, as an older node or a C node
    /// would write them: each must be measured to exactly the bytes eetf decodes, or `check_depth` would
    /// lose its place in a frame and judge the next term from the middle of this one.
    #[test]
    fn old_and_rare_formats_end_where_eetf_ends_them() {
        let node_atom = |small: bool| {
            if small {
                let mut b = vec![115, 3];
                b.extend_from_slice(b"a@h");
                b
            } else {
                let mut b = vec![100, 0, 3];
                b.extend_from_slice(b"a@h");
                b
            }
        };
        let mut float = vec![99];
        let mut digits = b"1.50000000000000000000e+00".to_vec();
        digits.resize(31, 0);
        float.extend_from_slice(&digits);
        let mut pid = vec![103];
        pid.extend(node_atom(false));
        pid.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 0, 1]);
        let mut port = vec![102];
        port.extend(node_atom(true));
        port.extend_from_slice(&[0, 0, 0, 9, 2]);
        let mut v4_port = vec![120];
        v4_port.extend(node_atom(false));
        v4_port.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3]);
        let mut old_ref = vec![101];
        old_ref.extend(node_atom(true));
        old_ref.extend_from_slice(&[0, 0, 0, 5, 1]);
        let mut new_ref = vec![114, 0, 2];
        new_ref.extend(node_atom(false));
        new_ref.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0, 2]);
        let mut export = vec![113];
        export.extend_from_slice(&[119, 5]);
        export.extend_from_slice(b"lists");
        export.extend_from_slice(&[119, 3]);
        export.extend_from_slice(b"map");
        export.extend_from_slice(&[97, 2]);
        // FUN_EXT: NumFree, Pid, Module, Index, Uniq, then the free variables.
        let mut fun = vec![117, 0, 0, 0, 1];
        fun.extend(pid.clone());
        fun.extend_from_slice(&[119, 1, b'm', 97, 0, 97, 42, 97, 5]);
        let big = vec![110, 1, 0, 255]; // SMALL_BIG: 255
        let large_big = vec![111, 0, 0, 0, 1, 1, 7]; // LARGE_BIG: -7
        let bits = vec![77, 0, 0, 0, 1, 3, 0b1010_0000]; // BIT_BINARY: <<5:3>>
        let string = vec![107, 0, 2, b'h', b'i'];
        let integer = vec![98, 0, 1, 0, 0];
        let mut large_tuple = vec![105, 0, 0, 0, 2];
        large_tuple.extend_from_slice(&[97, 1, 106]);

        let parts = [
            ("FLOAT_EXT", float),
            ("PID_EXT", pid),
            ("PORT_EXT", port),
            ("V4_PORT_EXT", v4_port),
            ("REFERENCE_EXT", old_ref),
            ("NEW_REFERENCE_EXT", new_ref),
            ("EXPORT_EXT", export),
            ("FUN_EXT", fun),
            ("SMALL_BIG_EXT", big),
            ("LARGE_BIG_EXT", large_big),
            ("BIT_BINARY_EXT", bits),
            ("STRING_EXT", string),
            ("INTEGER_EXT", integer),
            ("LARGE_TUPLE_EXT", large_tuple),
        ];
        for (name, bytes) in &parts {
            let mut framed = vec![131];
            framed.extend_from_slice(bytes);
            let mut reader = &framed[..];
            Term::decode(&mut reader).unwrap_or_else(|e| panic!("{name}: eetf cannot decode the sample: {e}"));
            let decoded_len = framed.len() - 1 - reader.len();
            let (_, len) = nesting_depth(bytes, 1).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(len, decoded_len, "{name}: measured {len} bytes, eetf decoded {decoded_len}");
        }
        // All of them in one list, then a term after it: the second is found where it starts.
        let mut all = vec![108, 0, 0, 0, parts.len() as u8];
        for (_, bytes) in &parts {
            all.extend_from_slice(bytes);
        }
        all.push(106);
        let list_len = all.len();
        all.extend_from_slice(&[97, 1]);
        let (depth, len) = nesting_depth(&all, 2).unwrap();
        assert_eq!(len, list_len + 2);
        assert_eq!(depth, 3, "list → fun → its pid");
    }

    #[test]
    fn malformed_node_names_and_fun_sizes_are_refused() {
        // A pid whose node is not an atom.
        let err = nesting_depth(&[88, 97, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 1).unwrap_err();
        assert_eq!(err, Malformed("expected a node atom, found tag 97".into()));
        // A NEW_FUN_EXT whose size is below its own size field.
        let err = nesting_depth(&[112, 0, 0, 0, 2], 1).unwrap_err();
        assert_eq!(err, Malformed("bad fun size".into()));
        // An unknown tag names its position.
        let err = nesting_depth(&[104, 2, 97, 1, 200], 1).unwrap_err();
        assert_eq!(err, Malformed("unknown tag 200 at byte 4".into()));
        let err = nesting_depth(&[109, 0, 0, 0, 9, 1, 2], 1).unwrap_err();
        assert_eq!(err, Malformed("truncated at byte 5".into()));
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        assert!(nesting_depth(&[108, 0, 0, 0, 5, 97], 1).is_err());
        assert!(nesting_depth(&[255], 1).is_err());
        assert!(nesting_depth(&[], 1).is_err());
    }
}
