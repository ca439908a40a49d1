//! BEAM files read in Rust: chunks, the compile info's source, and the md5 a node reports for a beam.

use crate::term::{as_integer, as_list};
use eetf::Term;

/// The `source` of a beam's compile info (`CInf` chunk), if any.
pub fn beam_source(bytes: &[u8]) -> Option<String> {
    let cinf = beam_chunk(bytes, b"CInf")?;
    let term = Term::decode(cinf).ok()?;
    let source = crate::term::proplist_get(&term, "source")?;
    let chars = as_list(source)?;
    let s: String = chars.iter().filter_map(|c| as_integer(c).and_then(|i| char::from_u32(i as u32))).collect();
    Some(s)
}

/// The md5 a node reports for a beam (`Mod:module_info(md5)`, `code:module_md5/1`), computed as
/// `beam_lib:md5/1` does: the md5 of the code-relevant chunks in a fixed order (`Atom`, `AtU8`, `Code`,
/// `StrT`, `ImpT`, `ExpT`, `FunT` with each entry's old unique number zeroed, `LitT`, `Meta`). Debug
/// info, docs, compile info and line tables do not count. `None` for what is not an uncompressed beam or
/// lacks a mandatory chunk.
pub fn beam_md5(bytes: &[u8]) -> Option<String> {
    const ORDER: [&[u8; 4]; 9] = [b"Atom", b"AtU8", b"Code", b"StrT", b"ImpT", b"ExpT", b"FunT", b"LitT", b"Meta"];
    const MANDATORY: [&[u8; 4]; 4] = [b"Code", b"ExpT", b"ImpT", b"StrT"];
    let mut ctx = md5::Context::new();
    for id in ORDER {
        match beam_chunk(bytes, id) {
            Some(data) if id == b"FunT" && data.len() >= 4 => {
                // `<<Count:4, [Function:4, Arity:4, Offset:4, Index:4, NumFree:4, OldUniq:4]...>>`
                ctx.consume(&data[..4]);
                let mut rest = &data[4..];
                while rest.len() >= 24 {
                    ctx.consume(&rest[..20]);
                    ctx.consume([0u8; 4]);
                    rest = &rest[24..];
                }
                ctx.consume(rest);
            }
            Some(data) => ctx.consume(data),
            None if MANDATORY.contains(&id) => return None,
            None => {}
        }
    }
    Some(ctx.finalize().0.iter().map(|b| format!("{b:02x}")).collect())
}

/// One chunk of a beam file (`FOR1 <len> BEAM` then `<id> <len> <data>` padded to 4 bytes).
pub(super) fn beam_chunk<'a>(bytes: &'a [u8], id: &[u8; 4]) -> Option<&'a [u8]> {
    if bytes.len() < 12 || &bytes[0..4] != b"FOR1" || &bytes[8..12] != b"BEAM" {
        return None;
    }
    let mut at = 12usize;
    while at + 8 <= bytes.len() {
        let cid = &bytes[at..at + 4];
        let len = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let start = at + 8;
        let end = start.checked_add(len)?;
        if end > bytes.len() {
            return None;
        }
        if cid == id {
            return Some(&bytes[start..end]);
        }
        at = start + len.div_ceil(4) * 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::reload::wire::charlist;
    use crate::term::{atom, list, tuple};
    use std::path::{Path, PathBuf};
    #[test]
    fn beam_md5_agrees_with_beam_lib() {
        // Against the Erlang installed here, when there is one: OTP's own beams and the demo's build.
        let Ok(root) = std::process::Command::new("erl")
            .args(["-noshell", "-eval", "io:format(\"~s\", [code:root_dir()]), halt()."])
            .output()
        else {
            return;
        };
        let root = String::from_utf8_lossy(&root.stdout).to_string();
        let mut files: Vec<PathBuf> = Vec::new();
        for dir in ["lib/stdlib-*/ebin", "lib/kernel-*/ebin"] {
            let (base, rest) = dir.split_once('*').unwrap();
            let parent = Path::new(&root).join(Path::new(base).parent().unwrap());
            for e in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with(Path::new(base).file_name().unwrap().to_str().unwrap()) {
                    let ebin = e.path().join(rest.trim_start_matches('/'));
                    for m in ["lists.beam", "gen_server.beam", "code.beam", "erl_eval.beam"] {
                        if ebin.join(m).exists() {
                            files.push(ebin.join(m));
                        }
                    }
                }
            }
        }
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/demo/_build/dev/lib/bank/ebin");
        for e in std::fs::read_dir(demo).into_iter().flatten().flatten() {
            if e.path().extension().is_some_and(|x| x == "beam") {
                files.push(e.path());
            }
        }
        assert!(!files.is_empty());
        for f in files {
            let expr = format!(
                "{{ok, {{_, M}}}} = beam_lib:md5(\"{}\"), io:format(\"~s\", [[io_lib:format(\"~2.16.0b\", [B]) || <<B>> <= M]]), halt().",
                f.display()
            );
            let out = std::process::Command::new("erl").args(["-noshell", "-eval", &expr]).output().unwrap();
            let expected = String::from_utf8_lossy(&out.stdout).to_string();
            let bytes = std::fs::read(&f).unwrap();
            assert_eq!(beam_md5(&bytes).as_deref(), Some(expected.as_str()), "{}", f.display());
        }
        assert_eq!(beam_md5(b"not a beam"), None);
    }

    fn fake_beam(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut body = b"BEAM".to_vec();
        for (id, data) in chunks {
            body.extend_from_slice(*id);
            body.extend_from_slice(&(data.len() as u32).to_be_bytes());
            body.extend_from_slice(data);
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
        }
        let mut out = b"FOR1".to_vec();
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn reads_the_source_from_compile_info() {
        let info = list(vec![
            tuple(vec![atom("version"), charlist("8.2.3")]),
            tuple(vec![atom("source"), charlist("/src/lib/bank/fees.ex")]),
        ]);
        let mut cinf = Vec::new();
        info.encode(&mut cinf).unwrap();
        let beam = fake_beam(&[(b"AtU8", vec![1, 2, 3]), (b"CInf", cinf)]);
        assert_eq!(beam_source(&beam).as_deref(), Some("/src/lib/bank/fees.ex"));
        assert_eq!(beam_source(b"not a beam"), None);
        assert_eq!(beam_source(&fake_beam(&[(b"AtU8", vec![1])])), None);
    }
}
