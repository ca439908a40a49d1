//! Structs in Elixir syntax: the ones Elixir 1.14 inspects its own way (`1..10`, `~D[2024-01-02]`,
//! `MapSet.new([1])`, …), and the field order of the others.

use eetf::{Atom, Map, Term};

use super::context::RenderContext;
use super::elixir_atom;
use super::escape::escape_regex;
use super::list::{flatten, Elem};
use super::order::{compare, sorted_map_entries};
use super::render_elixir::{Frame, Step};

/// The module of a map that Elixir would treat as a struct: one whose `__struct__` is an alias atom.
/// (A map whose `__struct__` is some other atom inspects as a plain map, because no such module exists.)
pub(crate) fn struct_module(m: &Map) -> Option<&str> {
    match m.map.get(&Term::from(Atom::from("__struct__"))) {
        Some(Term::Atom(a)) if elixir_atom::is_alias(&a.name) => Some(&a.name),
        _ => None,
    }
}

/// A struct's fields to print, in order, without `__struct__` and `__exception__`; `None` when Elixir
/// would print the map as a plain map instead (its keys are not those of the struct's definition).
pub(crate) fn fields<'a>(ctx: &RenderContext, module: &str, m: &'a Map) -> Option<Vec<(&'a Term, &'a Term)>> {
    let hidden = |name: &str| name == "__struct__" || name == "__exception__";
    let known: Option<Vec<&str>> = match ctx.struct_fields.get(module) {
        Some(names) => Some(names.iter().map(String::as_str).collect()),
        None => builtin_fields(module).map(<[&str]>::to_vec),
    };
    match known {
        Some(order) => {
            let defined = order.iter().filter(|f| **f != "__struct__").count() + 1;
            if m.map.len() != defined {
                return None;
            }
            order.into_iter().filter(|f| !hidden(f)).map(|f| m.map.get_key_value(&Term::from(Atom::from(f)))).collect()
        }
        None => sorted_map_entries(m)
            .into_iter()
            .filter(|(k, _)| !matches!(k, Term::Atom(a) if hidden(&a.name)))
            .map(|(k, v)| matches!(k, Term::Atom(_)).then_some((k, v)))
            .collect(),
    }
}

/// `defstruct` order of Elixir 1.14's own structs (`Mod.__info__(:struct)`).
fn builtin_fields(module: &str) -> Option<&'static [&'static str]> {
    Some(match module.strip_prefix("Elixir.")? {
        "URI" => &["scheme", "authority", "userinfo", "host", "port", "path", "query", "fragment"],
        "Version" => &["major", "minor", "patch", "pre", "build"],
        "Version.Requirement" => &["source", "lexed"],
        "Task" => &["mfa", "owner", "pid", "ref"],
        "File.Stat" => &[
            "size",
            "type",
            "access",
            "atime",
            "mtime",
            "ctime",
            "mode",
            "links",
            "major_device",
            "minor_device",
            "inode",
            "uid",
            "gid",
        ],
        "Range" => &["first", "last", "step"],
        "MapSet" => &["map", "version"],
        "Date" => &["year", "month", "day", "calendar"],
        "Time" => &["hour", "minute", "second", "microsecond", "calendar"],
        "NaiveDateTime" => &["year", "month", "day", "hour", "minute", "second", "microsecond", "calendar"],
        "DateTime" => &[
            "year",
            "month",
            "day",
            "hour",
            "minute",
            "second",
            "time_zone",
            "zone_abbr",
            "utc_offset",
            "std_offset",
            "microsecond",
            "calendar",
        ],
        "Date.Range" => &["first", "last", "first_in_iso_days", "last_in_iso_days", "step"],
        "Regex" => &["re_pattern", "source", "opts", "re_version"],
        "IO.Stream" => &["device", "raw", "line_or_bytes"],
        "File.Stream" => &["path", "modes", "line_or_bytes", "raw"],
        "Stream" => &["enum", "funs", "accs", "done"],
        "RuntimeError"
        | "ArgumentError"
        | "ArithmeticError"
        | "SystemLimitError"
        | "Enum.EmptyError"
        | "Enum.OutOfBoundsError"
        | "OptionParser.ParseError"
        | "Regex.CompileError" => &["__exception__", "message"],
        "KeyError" => &["__exception__", "key", "term", "message"],
        "MatchError" | "CaseClauseError" | "TryClauseError" | "WithClauseError" | "BadMapError"
        | "BadFunctionError" => &["__exception__", "term"],
        "CondClauseError" => &["__exception__"],
        "FunctionClauseError" => &["__exception__", "module", "function", "arity", "kind", "args", "clauses"],
        "UndefinedFunctionError" => &["__exception__", "module", "function", "arity", "reason", "message"],
        "ErlangError" => &["__exception__", "original", "reason"],
        "BadBooleanError" => &["__exception__", "term", "operator"],
        "BadArityError" => &["__exception__", "function", "args"],
        "BadStructError" => &["__exception__", "struct", "term"],
        "Protocol.UndefinedError" => &["__exception__", "protocol", "value", "description"],
        "File.Error" => &["__exception__", "reason", "path", "action"],
        "File.CopyError" | "File.RenameError" => &["__exception__", "reason", "source", "destination", "on", "action"],
        "File.LinkError" => &["__exception__", "reason", "existing", "new", "action"],
        "UnicodeConversionError" => &["__exception__", "encoded", "message"],
        "IO.StreamError" => &["__exception__", "reason", "message"],
        "Code.LoadError" => &["__exception__", "file", "message", "reason"],
        "CompileError" => &["__exception__", "file", "line", "description"],
        "SyntaxError" => &["__exception__", "file", "line", "column", "snippet", "description"],
        "TokenMissingError" => &["__exception__", "file", "line", "snippet", "column", "description"],
        "Version.InvalidRequirementError" => &["__exception__", "requirement"],
        "Version.InvalidVersionError" => &["__exception__", "version"],
        _ => return None,
    })
}

/// The steps that print a struct Elixir inspects its own way, if `m` is one and is well formed
/// (Elixir falls back to an error report for malformed ones; Orbit prints those as plain structs).
pub(crate) fn special<'a>(module: &str, m: &'a Map, frame: Frame) -> Option<Vec<Step<'a>>> {
    let get = |field: &str| m.map.get(&Term::from(Atom::from(field)));
    let child = frame.child();
    match module {
        "Elixir.Range" => {
            let (first, last) = (get("first")?, get("last")?);
            let ascending = compare(last, first).is_ge();
            match get("step") {
                Some(step) if integer(step) == Some(1) && ascending => {
                    Some(vec![Step::Term(first, child), Step::Str(".."), Step::Term(last, child)])
                }
                Some(step) => Some(vec![
                    Step::Term(first, child),
                    Step::Str(".."),
                    Step::Term(last, child),
                    Step::Str("//"),
                    Step::Term(step, child),
                ]),
                // Ranges from before Elixir 1.12 have no step; they count up or down by one.
                None if ascending => Some(vec![Step::Term(first, child), Step::Str(".."), Step::Term(last, child)]),
                None => {
                    Some(vec![Step::Term(first, child), Step::Str(".."), Step::Term(last, child), Step::Str("//-1")])
                }
            }
        }
        "Elixir.MapSet" => {
            let Term::Map(set) = get("map")? else {
                return None;
            };
            let items = sorted_map_entries(set).into_iter().map(|(k, _)| Elem::Term(k)).collect();
            // MapSet's inspect prints charlists inside it as lists of integers.
            Some(vec![
                Step::Str("MapSet.new("),
                Step::List(items, None, Frame { as_lists: true, ..frame }),
                Step::Str(")"),
            ])
        }
        "Elixir.Stream" => {
            let (enumerable, funs) = (get("enum")?, flatten(get("funs")?)?);
            if funs.tail.is_some() {
                return None;
            }
            let reversed = funs.items.into_iter().rev().collect();
            Some(vec![
                Step::Str("#Stream<[enum: "),
                Step::Term(enumerable, child),
                Step::Str(", funs: "),
                Step::List(reversed, None, child),
                Step::Str("]>"),
            ])
        }
        "Elixir.Regex" => {
            let source = binary(get("source")?)?;
            match get("opts")? {
                opts @ (Term::List(_) | Term::ByteList(_) | Term::ImproperList(_)) => Some(vec![
                    Step::Str("Regex.compile!("),
                    Step::Term(get("source")?, child),
                    Step::Str(", "),
                    Step::Term(opts, child),
                    Step::Str(")"),
                ]),
                opts => {
                    let opts = std::str::from_utf8(binary(opts)?).ok()?;
                    Some(vec![Step::Text(format!("~r/{}/{opts}", escape_regex(source)))])
                }
            }
        }
        "Elixir.Version.Requirement" => {
            let source = std::str::from_utf8(binary(get("source")?)?).ok()?;
            Some(vec![Step::Text(format!("Version.parse_requirement!(\"{source}\")"))])
        }
        "Elixir.Date.Range" => {
            // Its inspect writes the ends with `inspect/1`, dates or not.
            let (first, last, step) = (get("first")?, get("last")?, integer(get("step")?)?);
            let mut steps =
                vec![Step::Str("Date.range("), Step::Term(first, child), Step::Str(", "), Step::Term(last, child)];
            if step != 1 {
                steps.push(Step::Text(format!(", {step}")));
            }
            steps.push(Step::Str(")"));
            Some(steps)
        }
        "Elixir.Date" => Some(vec![Step::Text(date_sigil(m)?)]),
        "Elixir.Time" => {
            iso(m)?;
            Some(vec![Step::Text(format!("~T[{}]", time_string(m)?))])
        }
        "Elixir.NaiveDateTime" => {
            iso(m)?;
            Some(vec![Step::Text(format!("~N[{} {}]", date_string(m)?, time_string(m)?))])
        }
        "Elixir.DateTime" => {
            iso(m)?;
            let zone = std::str::from_utf8(binary(get("time_zone")?)?).ok()?;
            let abbr = std::str::from_utf8(binary(get("zone_abbr")?)?).ok()?;
            let (utc, std) = (integer(get("utc_offset")?)?, integer(get("std_offset")?)?);
            let stamp = format!("{} {}", date_string(m)?, time_string(m)?);
            if utc == 0 && std == 0 && zone == "Etc/UTC" {
                return Some(vec![Step::Text(format!("~U[{stamp}Z]"))]);
            }
            let total = utc + std;
            let sign = if total < 0 { "-" } else { "+" };
            let (hours, minutes) = (total.abs() / 3600, total.abs() % 3600 / 60);
            let offset = format!("{sign}{}:{}", zero_pad(hours, 2), zero_pad(minutes, 2));
            let zone_text = if zone == "Etc/UTC" { String::new() } else { format!(" {abbr} {zone}") };
            Some(vec![Step::Text(format!("#DateTime<{stamp}{offset}{zone_text}>"))])
        }
        _ => None,
    }
}

fn integer(t: &Term) -> Option<i64> {
    super::accessors::as_integer(t)
}

fn binary(t: &Term) -> Option<&[u8]> {
    super::accessors::as_binary(t)
}

fn field<'a>(m: &'a Map, name: &str) -> Option<&'a Term> {
    m.map.get(&Term::from(Atom::from(name)))
}

/// Calendars other than ISO format themselves, which only their code knows.
fn iso(m: &Map) -> Option<()> {
    matches!(field(m, "calendar")?, Term::Atom(a) if a.name == "Elixir.Calendar.ISO").then_some(())
}

fn date_sigil(m: &Map) -> Option<String> {
    iso(m)?;
    Some(format!("~D[{}]", date_string(m)?))
}

/// `Calendar.ISO.date_to_string/3`.
fn date_string(m: &Map) -> Option<String> {
    let (y, mo, d) = (integer(field(m, "year")?)?, integer(field(m, "month")?)?, integer(field(m, "day")?)?);
    Some(format!("{}-{}-{}", zero_pad(y, 4), zero_pad(mo, 2), zero_pad(d, 2)))
}

/// `Calendar.ISO.time_to_string/4`, whose guards reject out-of-range parts.
fn time_string(m: &Map) -> Option<String> {
    let (h, mi, s) = (integer(field(m, "hour")?)?, integer(field(m, "minute")?)?, integer(field(m, "second")?)?);
    let [us, precision] = super::accessors::as_tuple(field(m, "microsecond")?)? else {
        return None;
    };
    let (us, precision) = (integer(us)?, integer(precision)?);
    let valid = (0..24).contains(&h)
        && (0..60).contains(&mi)
        && (0..60).contains(&s)
        && (0..1_000_000).contains(&us)
        && (0..=6).contains(&precision);
    if !valid {
        return None;
    }
    let mut text = format!("{}:{}:{}", zero_pad(h, 2), zero_pad(mi, 2), zero_pad(s, 2));
    if precision > 0 {
        text.push('.');
        text.push_str(&zero_pad(us, 6)[..precision as usize]);
    }
    Some(text)
}

fn zero_pad(n: i64, width: usize) -> String {
    if n < 0 {
        format!("-{:0width$}", n.unsigned_abs())
    } else {
        format!("{n:0width$}")
    }
}
