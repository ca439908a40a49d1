//! How Elixir 1.14 writes an atom: `Macro.inspect_atom/2` and the classification behind it.
//!
//! ASCII atoms follow Elixir exactly. For other characters Elixir consults Unicode tables (identifier
//! classes, scripts, NFC) that are not in Rust's standard library; the approximations below agree on
//! everyday words in one script (`:héllo`, `:日本語`, `:Ólá`) and quote mixed-script or decomposed text
//! as Elixir does, but rare characters may be classified differently.

use super::escape::escape_elixir;

/// What `Macro.classify_atom/1`'s inner classification says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Special forms and ambiguous operators: `:%{}`, `:...`, also `:Foo` and `:foo@bar`.
    NotCallable,
    /// Operators that need quotes as atoms: `:"::"`.
    QuotedOperator,
    UnquotedOperator,
    /// `Elixir.Foo.Bar`.
    Alias,
    Identifier,
    /// Anything else; written in quotes.
    Other,
}

/// How an atom appears as a value: `:ok`, `nil`, `Foo.Bar`, `:"with space"`.
pub fn literal(name: &str) -> String {
    if matches!(name, "nil" | "true" | "false") {
        return name.to_string();
    }
    match classify(name) {
        Class::Alias => match name {
            "Elixir" | "Elixir.Elixir" => name.to_string(),
            _ if name.starts_with("Elixir.Elixir.") => name.to_string(),
            _ => name.strip_prefix("Elixir.").unwrap_or(name).to_string(),
        },
        Class::QuotedOperator | Class::Other => {
            format!(":\"{}\"", escape_elixir(name.as_bytes(), b'"'))
        }
        _ => format!(":{name}"),
    }
}

/// How an atom appears as a keyword key, colon included: `a:`, `"with space":`.
pub(crate) fn key(name: &str) -> String {
    match classify(name) {
        Class::Alias => format!("\"{name}\":"),
        Class::QuotedOperator | Class::Other => {
            format!("\"{}\":", escape_elixir(name.as_bytes(), b'"'))
        }
        _ => format!("{name}:"),
    }
}

/// How an atom appears as the function of a remote call, as in `&Mod.fun/1`.
pub fn remote_call(name: &str) -> String {
    match classify(name) {
        Class::Identifier | Class::UnquotedOperator | Class::QuotedOperator => name.to_string(),
        Class::NotCallable | Class::Alias => format!("\"{name}\""),
        Class::Other => format!("\"{}\"", escape_elixir(name.as_bytes(), b'"')),
    }
}

/// Whether an atom is an alias such as `Elixir.Foo.Bar`.
pub(crate) fn is_alias(name: &str) -> bool {
    classify(name) == Class::Alias
}

const NOT_CALLABLE: &[&str] = &["%", "%{}", "{}", "<<>>", "...", "..", ".", "..//", "->"];
const QUOTED_OPERATORS: &[&str] = &["::", "^^^", "~~~", "<|>"];
/// `Code.Identifier.unary_op/1` and `binary_op/1`, less `//` (not really an operator).
const OPERATORS: &[&str] = &[
    "&", "!", "^", "not", "+", "-", "@", "<-", "\\\\", "when", "|", "=", "||", "|||", "or", "&&", "&&&", "and", "==",
    "!=", "=~", "===", "!==", "<", "<=", ">=", ">", "|>", "<<<", ">>>", "<~", "~>", "<<~", "~>>", "<~>", "in", "++",
    "--", "<>", "+++", "---", "*", "/", "**",
];

fn classify(name: &str) -> Class {
    if NOT_CALLABLE.contains(&name) {
        Class::NotCallable
    } else if QUOTED_OPERATORS.contains(&name) {
        Class::QuotedOperator
    } else if OPERATORS.contains(&name) {
        Class::UnquotedOperator
    } else if valid_alias(name) {
        Class::Alias
    } else {
        match tokenize(name) {
            Some(t) if t.kind != Kind::Identifier || t.at => Class::NotCallable,
            Some(t) if t.nfkc => Class::Other,
            Some(_) => Class::Identifier,
            None => Class::Other,
        }
    }
}

/// `Elixir` followed by any number of `.Upper[A-Za-z0-9_]*`.
fn valid_alias(name: &str) -> bool {
    let Some(mut rest) = name.strip_prefix("Elixir") else {
        return false;
    };
    while !rest.is_empty() {
        let Some(piece) = rest.strip_prefix('.') else {
            return false;
        };
        if !piece.starts_with(|c: char| c.is_ascii_uppercase()) {
            return false;
        }
        let end = piece.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(piece.len());
        rest = &piece[end..];
    }
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Starts with an ASCII capital.
    Alias,
    Identifier,
    /// Starts with a non-ASCII capital.
    Atom,
}

struct Token {
    kind: Kind,
    /// Contains `@`.
    at: bool,
    /// Not in normal form (Elixir would normalize it).
    nfkc: bool,
}

/// `String.Tokenizer.tokenize/1`, succeeding only when it takes in the whole name.
fn tokenize(name: &str) -> Option<Token> {
    let chars: Vec<char> = name.chars().collect();
    let (&head, tail) = chars.split_first()?;
    let mut nfkc = false;
    let (kind, mut scripts) = match head {
        'A'..='Z' => (Kind::Alias, LATIN),
        'a'..='z' => (Kind::Identifier, LATIN),
        '_' => (Kind::Identifier, ALL_SCRIPTS),
        // MICRO SIGN becomes GREEK SMALL LETTER MU, which marks the atom as not normalized.
        'µ' => {
            nfkc = true;
            (Kind::Identifier, GREEK)
        }
        c if !c.is_ascii() && unicode_upper(c) => (Kind::Atom, script(c)),
        c if !c.is_ascii() && unicode_start(c) => (Kind::Identifier, script(c)),
        _ => return None,
    };
    let mut ascii = head.is_ascii();
    let mut at = false;
    for (i, &c) in tail.iter().enumerate() {
        match c {
            // `?` and `!` end an identifier; anything after them makes it something else.
            '?' | '!' => {
                if i + 1 != tail.len() {
                    return None;
                }
                break;
            }
            '@' => at = true,
            'a'..='z' | 'A'..='Z' => scripts &= LATIN,
            '_' | '0'..='9' => {}
            c if c.is_ascii() => return None,
            'µ' => {
                nfkc = true;
                ascii = false;
                scripts &= GREEK;
            }
            c if unicode_start(c) || unicode_upper(c) || unicode_continue(c) => {
                ascii = false;
                scripts &= script(c);
            }
            _ => return None,
        }
    }
    if !ascii {
        nfkc |= not_nfc(&chars);
        if scripts == 0 && !highly_restrictive(&chars) {
            // Elixir refuses mixed-script identifiers, so such atoms are written in quotes.
            return None;
        }
    }
    Some(Token { kind, at, nfkc })
}

fn unicode_upper(c: char) -> bool {
    c.is_uppercase()
}

fn unicode_start(c: char) -> bool {
    c.is_alphabetic() && !c.is_uppercase()
}

fn unicode_continue(c: char) -> bool {
    combining_mark(c) || (c.is_numeric() && !other_number(c))
}

fn combining_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// Numeric characters that are not decimal digits or letters (superscripts, fractions, circled numbers),
/// which identifiers cannot contain.
fn other_number(c: char) -> bool {
    matches!(c as u32, 0x00B2 | 0x00B3 | 0x00B9 | 0x00BC..=0x00BE | 0x2070..=0x209F | 0x2460..=0x24FF | 0x2776..=0x2793)
}

/// A base letter followed by a combining accent has a precomposed form in NFC (`e` + U+0301 is `é`).
fn not_nfc(chars: &[char]) -> bool {
    chars
        .windows(2)
        .any(|w| (0x0300..=0x036F).contains(&(w[1] as u32)) && w[0].is_alphabetic() && (w[0] as u32) < 0x0530)
}

// Script sets as bit masks; a character belongs to every script in its mask. Han, kana and Hangul
// also carry the "writing system" sets Elixir augments them with, so Han + Hiragana resolve to Japanese.
const LATIN: u32 = 1;
const GREEK: u32 = 1 << 1;
const CYRILLIC: u32 = 1 << 2;
const ARMENIAN: u32 = 1 << 3;
const HEBREW: u32 = 1 << 4;
const ARABIC: u32 = 1 << 5;
const DEVANAGARI: u32 = 1 << 6;
const THAI: u32 = 1 << 7;
const GEORGIAN: u32 = 1 << 8;
const HANGUL: u32 = 1 << 9;
const HIRAGANA: u32 = 1 << 10;
const KATAKANA: u32 = 1 << 11;
const HAN: u32 = 1 << 12;
const BOPOMOFO: u32 = 1 << 13;
const JAPANESE: u32 = 1 << 14;
const KOREAN: u32 = 1 << 15;
const HAN_WITH_BOPOMOFO: u32 = 1 << 16;
const ALL_SCRIPTS: u32 = (1 << 17) - 1;

/// The scripts of a character; characters of other or shared scripts (digits, marks) fit any script.
fn script(c: char) -> u32 {
    match c as u32 {
        0x41..=0x5A | 0x61..=0x7A | 0xC0..=0x24F | 0x1E00..=0x1EFF | 0x2C60..=0x2C7F | 0xA720..=0xA7FF => LATIN,
        0x370..=0x3FF | 0x1F00..=0x1FFF => GREEK,
        0x400..=0x52F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => CYRILLIC,
        0x531..=0x58F => ARMENIAN,
        0x591..=0x5FF => HEBREW,
        0x600..=0x6FF | 0x750..=0x77F | 0x8A0..=0x8FF => ARABIC,
        0x900..=0x97F => DEVANAGARI,
        0xE00..=0xE7F => THAI,
        0x10A0..=0x10FF => GEORGIAN,
        0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => HANGUL | KOREAN,
        0x3040..=0x309F => HIRAGANA | JAPANESE,
        0x30A0..=0x30FF | 0x31F0..=0x31FF => KATAKANA | JAPANESE,
        0x3100..=0x312F => BOPOMOFO | HAN_WITH_BOPOMOFO,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F => {
            HAN | JAPANESE | KOREAN | HAN_WITH_BOPOMOFO
        }
        _ => ALL_SCRIPTS,
    }
}

/// Latin mixed with one East Asian writing system is allowed.
fn highly_restrictive(chars: &[char]) -> bool {
    [LATIN | JAPANESE, LATIN | HAN_WITH_BOPOMOFO, LATIN | KOREAN]
        .iter()
        .any(|allowed| chars.iter().all(|&c| script(c) & allowed != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        let cases = [
            ("ok", ":ok"),
            ("nil", "nil"),
            ("true", "true"),
            ("Elixir.Foo.Bar", "Foo.Bar"),
            ("Elixir", "Elixir"),
            ("Elixir.Elixir", "Elixir.Elixir"),
            ("Elixir.Elixir.Foo", "Elixir.Elixir.Foo"),
            ("Elixir.foo", ":\"Elixir.foo\""),
            ("Foo", ":Foo"),
            ("with space", ":\"with space\""),
            ("+", ":+"),
            ("::", ":\"::\""),
            ("//", ":\"//\""),
            ("%{}", ":%{}"),
            ("...", ":..."),
            ("foo?", ":foo?"),
            ("foo?x", ":\"foo?x\""),
            ("foo@bar", ":foo@bar"),
            ("_", ":_"),
            ("1a", ":\"1a\""),
            ("", ":\"\""),
            ("a\"b", ":\"a\\\"b\""),
            ("\\\\", ":\\\\"),
            ("héllo", ":héllo"),
            ("日本語", ":日本語"),
            ("Ólá", ":Ólá"),
            ("aб", ":\"aб\""),
            ("µ", ":\"µ\""),
            ("e\u{301}", ":\"e\u{301}\""),
        ];
        for (name, want) in cases {
            assert_eq!(literal(name), want, "{name:?}");
        }
    }

    #[test]
    fn keys_and_calls() {
        assert_eq!(key("a"), "a:");
        assert_eq!(key("with space"), "\"with space\":");
        assert_eq!(key("+"), "+:");
        assert_eq!(key("Elixir.Foo"), "\"Elixir.Foo\":");
        assert_eq!(key("nil"), "nil:");
        assert_eq!(remote_call("map"), "map");
        assert_eq!(remote_call("+"), "+");
        assert_eq!(remote_call("::"), "::");
        assert_eq!(remote_call("=:="), "\"=:=\"");
        assert_eq!(remote_call("..."), "\"...\"");
        assert_eq!(remote_call("Foo"), "\"Foo\"");
        assert_eq!(remote_call("a\nb"), "\"a\\nb\"");
    }
}
