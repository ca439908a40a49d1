//! Escaping text inside quotes, the Elixir way and the Erlang way.

use std::fmt::Write;

/// The first character of `bytes` and its length in bytes, if `bytes` starts with valid UTF-8.
pub(crate) fn first_char(bytes: &[u8]) -> Option<(char, usize)> {
    let head = &bytes[..bytes.len().min(4)];
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
    };
    valid.chars().next().map(|c| (c, c.len_utf8()))
}

/// `Code.Identifier.escape/2` with its default escapes: the text between `quote`s in Elixir.
pub(crate) fn escape_elixir(bytes: &[u8], quote: u8) -> String {
    escape_elixir_limited(bytes, quote, usize::MAX).0
}

/// As [`escape_elixir`], for the characters that start within the first `max_bytes` bytes; also says
/// whether any were left out.
pub(crate) fn escape_elixir_limited(bytes: &[u8], quote: u8, max_bytes: usize) -> (String, bool) {
    let mut out = String::with_capacity(bytes.len().min(max_bytes) + 2);
    let mut i = 0;
    while i < bytes.len() {
        if i >= max_bytes {
            return (out, true);
        }
        let b = bytes[i];
        if b == quote {
            out.push('\\');
            out.push(char::from(quote));
            i += 1;
        } else if b == b'#' && bytes.get(i + 1) == Some(&b'{') {
            // `#{` would start an interpolation when pasted back.
            out.push_str("\\#{");
            i += 2;
        } else if let Some((c, len)) = first_char(&bytes[i..]) {
            match elixir_escape_map(c) {
                Some(e) => out.push_str(e),
                None => elixir_escape_char(&mut out, c),
            }
            i += len;
        } else {
            let _ = write!(out, "\\x{b:02X}");
            i += 1;
        }
    }
    (out, false)
}

fn elixir_escape_map(c: char) -> Option<&'static str> {
    Some(match c {
        '\x07' => "\\a",
        '\x08' => "\\b",
        '\x7f' => "\\d",
        '\x1b' => "\\e",
        '\x0c' => "\\f",
        '\n' => "\\n",
        '\r' => "\\r",
        '\t' => "\\t",
        '\x0b' => "\\v",
        '\\' => "\\\\",
        _ => return None,
    })
}

fn elixir_escape_char(out: &mut String, c: char) {
    let n = c as u32;
    match n {
        0 => out.push_str("\\0"),
        0xFEFF => out.push_str("\\uFEFF"),
        0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF => out.push(c),
        1..=0xFF => {
            let _ = write!(out, "\\x{n:02X}");
        }
        _ => {
            let _ = write!(out, "\\x{{{n:04X}}}");
        }
    }
}

/// Whether Elixir's `String.printable?/1` holds for the characters starting within the first
/// `max_bytes` bytes.
pub(crate) fn elixir_printable(bytes: &[u8], max_bytes: usize) -> bool {
    let mut i = 0;
    while i < bytes.len() && i < max_bytes {
        match first_char(&bytes[i..]) {
            Some((c, len)) if elixir_printable_char(c) => i += len,
            _ => return false,
        }
    }
    true
}

fn elixir_printable_char(c: char) -> bool {
    matches!(c as u32, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
        || matches!(c, '\n' | '\r' | '\t' | '\x0b' | '\x08' | '\x0c' | '\x1b' | '\x7f' | '\x07')
}

/// Whether Elixir 1.14's `List.ascii_printable?/1` holds for a list element.
pub(crate) fn elixir_ascii_printable(n: i64) -> bool {
    matches!(n, 7..=13 | 27 | 32..=126)
}

/// `Regex`'s inspect: the source between slashes, with only a few control characters escaped (a byte that
/// is not UTF-8, in a latin1 pattern, as `\xFF`).
pub(crate) fn escape_regex(source: &[u8]) -> String {
    // `\/` in the source is written `/` and then escaped again; `\\` stays as it is.
    let mut normalized = Vec::with_capacity(source.len());
    let mut bytes = source.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match (b, bytes.peek()) {
            (b'\\', Some(b'\\')) => {
                bytes.next();
                normalized.extend_from_slice(b"\\\\");
            }
            (b'\\', Some(b'/')) => {
                bytes.next();
                normalized.push(b'/');
            }
            _ => normalized.push(b),
        }
    }
    let bytes = &normalized[..];
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'/' {
            out.push_str("\\/");
            i += 1;
        } else if bytes[i] == b'#' && bytes.get(i + 1) == Some(&b'{') {
            out.push_str("\\#{");
            i += 2;
        } else if let Some((c, len)) = first_char(&bytes[i..]) {
            match c {
                '\x07' => out.push_str("\\a"),
                '\x0c' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x0b' => out.push_str("\\v"),
                c => elixir_escape_char(&mut out, c),
            }
            i += len;
        } else {
            let _ = write!(out, "\\x{:02X}", bytes[i]);
            i += 1;
        }
    }
    out
}

/// `io_lib:write_string/2` for one character (Unicode kept as is): the text between `quote`s in Erlang.
pub(crate) fn erlang_escape_char(out: &mut String, c: char, quote: char) {
    match c {
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        '\\' => out.push_str("\\\\"),
        ' '..='~' => out.push(c),
        c if (c as u32) >= 0xA0 => out.push(c),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\x1b' => out.push_str("\\e"),
        '\x7f' => out.push_str("\\d"),
        c => {
            let _ = write!(out, "\\{:03o}", c as u32);
        }
    }
}

/// Whether `io_lib:printable_unicode_list/1` accepts a character code.
pub(crate) fn erlang_printable(n: i64) -> bool {
    matches!(n, 32..=126 | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF) || matches!(n, 8..=13 | 27)
}

/// Whether `io_lib`'s latin-1 printability accepts a byte.
pub(crate) fn erlang_printable_latin1(b: u8) -> bool {
    matches!(b, 32..=126 | 0xA0..=0xFF | 8..=13 | 27)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elixir_escapes() {
        assert_eq!(escape_elixir(b"a\nb", b'"'), "a\\nb");
        assert_eq!(escape_elixir(b"\"'", b'"'), "\\\"'");
        assert_eq!(escape_elixir(b"\"'", b'\''), "\"\\'");
        assert_eq!(escape_elixir(b"#{x} #", b'"'), "\\#{x} #");
        assert_eq!(escape_elixir(b"\x1b\x07\x7f\\", b'"'), "\\e\\a\\d\\\\");
        assert_eq!(escape_elixir(b"\x00\x01", b'"'), "\\0\\x01");
        assert_eq!(escape_elixir("\u{85}\u{feff}\u{fffe}é".as_bytes(), b'"'), "\\x85\\uFEFF\\x{FFFE}é");
        assert_eq!(escape_elixir(&[0xff, b'a'], b'"'), "\\xFFa");
        assert_eq!(escape_elixir_limited("aéb".as_bytes(), b'"', 2), ("aé".to_string(), true));
        assert_eq!(escape_elixir_limited(b"ab", b'"', 2), ("ab".to_string(), false));
    }

    #[test]
    fn printability() {
        assert!(elixir_printable(b"", usize::MAX));
        assert!(elixir_printable("a\x07\x7fé".as_bytes(), usize::MAX));
        assert!(!elixir_printable(b"\x00", usize::MAX));
        assert!(!elixir_printable(&[0xc3, 0x28], usize::MAX));
        assert!(elixir_printable(&[b'a', 0xff], 1));
        assert!(elixir_ascii_printable(27) && !elixir_ascii_printable(127) && !elixir_ascii_printable(233));
        assert!(erlang_printable(955) && erlang_printable(8) && !erlang_printable(7) && !erlang_printable(127));
    }

    #[test]
    fn regex_and_erlang() {
        assert_eq!(escape_regex(b"a/b\\/c\\\\d\n#{"), "a\\/b\\/c\\\\d\\n\\#{");
        let mut s = String::new();
        for c in "a\"'\\\n\x01\x7fλ".chars() {
            erlang_escape_char(&mut s, c, '"');
        }
        assert_eq!(s, "a\\\"'\\\\\\n\\001\\dλ");
    }
}
