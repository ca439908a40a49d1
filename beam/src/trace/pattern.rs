//! What to trace, as people write it: call patterns in Elixir (`Bank.Account.deposit/2`,
//! `Bank.Account.deposit/_`, `:bank_ledger.append/2`) or Erlang (`bank_ledger:append/2`,
//! `'Elixir.Bank.Account':deposit/_`) form, processes by name or pid, and the limit every trace needs.
//! Also the safety rule that refuses patterns too broad to trace.

use crate::names::Lang;
use crate::term::erlang_atom;
use std::time::Duration;

/// `Mod.fun/arity`: `function` and `arity` are `None` where the pattern says `_` (any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPattern {
    /// The module atom: `Elixir.Bank.Account`, `bank_ledger`, or `_` for any module.
    pub module: String,
    pub function: Option<String>,
    pub arity: Option<u8>,
    pub syntax: Lang,
}

/// A pattern Orbit could not read, or will not trace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?}: {reason}")]
pub struct PatternError {
    pub text: String,
    pub reason: String,
}

fn err(text: &str, reason: impl Into<String>) -> PatternError {
    PatternError { text: text.to_string(), reason: reason.into() }
}

/// Modules so busy (or so central to the tracer itself) that tracing all of their functions, or one of
/// them at every arity without a match spec, could swamp a node. recon_trace refuses `lists`, `io` and
/// `_` the same way.
pub const HOT_MODULES: &[&str] = &[
    "lists",
    "io",
    "io_lib",
    "erlang",
    "maps",
    "ets",
    "Elixir.Enum",
    "Elixir.IO",
    "Elixir.List",
    "Elixir.Map",
    "Elixir.Kernel",
];

impl CallPattern {
    /// Reads a pattern in Elixir or Erlang form. A missing `/arity` means any arity; a bare module
    /// (`Bank.Account`, `bank_ledger:_`) means all of its functions.
    pub fn parse(text: &str) -> Result<CallPattern, PatternError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(err(text, "empty pattern; write Mod.fun/arity, e.g. Bank.Account.deposit/2"));
        }
        let (head, arity) = split_arity(text, t)?;
        if let Some(rest) = head.strip_prefix(':') {
            // Elixir spelling of an Erlang module: `:bank_ledger.append`.
            let (module, rest) = read_atom(text, rest, AtomKind::ErlangModule)?;
            let function = match rest {
                "" => None,
                r => match r.strip_prefix('.') {
                    Some(f) => read_function(text, f, Lang::Elixir)?,
                    None => return Err(err(text, format!("unexpected {r:?} after the module"))),
                },
            };
            return Ok(CallPattern { module, function, arity, syntax: Lang::Elixir });
        }
        if let Some(colon) = find_unquoted(head, ':') {
            // Erlang: `mod:fun`.
            let (m, f) = (&head[..colon], &head[colon + 1..]);
            let (module, rest) = read_atom(text, m, AtomKind::ErlangModule)?;
            if !rest.is_empty() {
                return Err(err(text, format!("unexpected {rest:?} in the module name")));
            }
            let function = read_function(text, f, Lang::Erlang)?;
            return Ok(CallPattern { module, function, arity, syntax: Lang::Erlang });
        }
        // Elixir: `Bank.Account.deposit`, `Bank.Account`, `_.deposit`.
        let segments: Vec<&str> = head.split('.').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(err(text, "empty name between dots"));
        }
        let (module_segments, function) = match segments.last() {
            Some(last) if segments.len() > 1 && !starts_upper(last) => {
                (&segments[..segments.len() - 1], read_function(text, last, Lang::Elixir)?)
            }
            _ => (&segments[..], None),
        };
        let module = if module_segments == ["_"] {
            "_".to_string()
        } else {
            for s in module_segments {
                if !starts_upper(s) || !s.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    return Err(err(
                        text,
                        format!(
                            "{s:?} is not part of an Elixir module name (write Bank.Account.deposit/2, \
                             :erlang_module.fun/2 or erlang_module:fun/2)"
                        ),
                    ));
                }
            }
            format!("Elixir.{}", module_segments.join("."))
        };
        Ok(CallPattern { module, function, arity, syntax: Lang::Elixir })
    }

    /// Refuses patterns too broad to trace safely: any module (`_`), and every function or every arity
    /// of a hot module (`lists`, `io`, `erlang`, `Enum`, …) unless narrowed by a named function and an
    /// arity or a match spec. Orbit's own agent modules are never traced.
    pub fn check_safety(&self, has_match_spec: bool) -> Result<(), PatternError> {
        let shown = self.to_string();
        if self.module.starts_with("orbit_") {
            return Err(err(&shown, "Orbit's own agent modules cannot be traced"));
        }
        let hot = self.module == "_" || HOT_MODULES.contains(&self.module.as_str());
        if !hot {
            return Ok(());
        }
        let what = if self.module == "_" { "every module".to_string() } else { format!("{}", ModuleName(self)) };
        if self.function.is_none() {
            return Err(err(
                &shown,
                format!("dangerous: this traces every function of {what}; name one function, e.g. {}", example(self)),
            ));
        }
        if self.arity.is_none() && !has_match_spec {
            return Err(err(
                &shown,
                format!("dangerous: this traces a function of {what} at every arity; give an arity or a match spec"),
            ));
        }
        Ok(())
    }

    /// The pattern as `{M, F, A}` for `erlang:trace_pattern/3` (`'_'` for any).
    pub fn mfa_term(&self) -> eetf::Term {
        use crate::term::{atom, int, tuple};
        tuple(vec![
            atom(&self.module),
            atom(self.function.as_deref().unwrap_or("_")),
            self.arity.map(|a| int(i64::from(a))).unwrap_or_else(|| atom("_")),
        ])
    }
}

/// A call pattern written with its arguments and a condition, as a function head reads:
/// `Bank.Account.deposit(_, amount) when amount > 100` (Elixir) or `bank_ledger:fee(A) when A > 100`
/// (Erlang). `name` is what comes before the parenthesis (`Bank.Account.deposit`), `args` what is
/// between them, `guard` what follows `when`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallForm {
    pub name: String,
    pub args: String,
    pub guard: Option<String>,
}

impl CallForm {
    /// `None` when `text` has no argument list (`Bank.Account.deposit/2`).
    pub fn split(text: &str) -> Result<Option<CallForm>, PatternError> {
        let t = text.trim();
        let Some(open) = find_unquoted(t, '(') else { return Ok(None) };
        let close = matching_paren(t, open).ok_or_else(|| err(text, "the argument list has no closing parenthesis"))?;
        let name = t[..open].trim();
        if name.is_empty() {
            return Err(err(text, "the function is missing before the arguments"));
        }
        if name.contains('/') {
            return Err(err(text, "give either an arity or the arguments, not both"));
        }
        let rest = t[close + 1..].trim();
        let guard = if rest.is_empty() {
            None
        } else {
            match rest.strip_prefix("when") {
                Some(g) if g.starts_with(char::is_whitespace) && !g.trim().is_empty() => Some(g.trim().to_string()),
                _ => {
                    return Err(err(text, format!("expected `when` and a condition after the arguments, not {rest:?}")))
                }
            }
        };
        Ok(Some(CallForm { name: name.to_string(), args: t[open + 1..close].trim().to_string(), guard }))
    }

    /// How many arguments the list has (split at commas outside brackets and quotes).
    pub fn arity(&self) -> usize {
        if self.args.trim().is_empty() {
            return 0;
        }
        let (mut depth, mut quote, mut n) = (0i32, None, 1);
        for c in self.args.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '"' | '\'' => quote = Some(c),
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' => depth -= 1,
                    ',' if depth == 0 => n += 1,
                    _ => {}
                },
            }
        }
        n
    }

    /// The Erlang form as a fun in `dbg:fun2ms/1` style: `fun([A]) when A > 100 -> true end`.
    pub fn erlang_fun(&self) -> String {
        match &self.guard {
            Some(g) => format!("fun([{}]) when {g} -> true end", self.args),
            None => format!("fun([{}]) -> true end", self.args),
        }
    }
}

/// The index of the parenthesis that closes the one at `open`.
fn matching_paren(s: &str, open: usize) -> Option<usize> {
    let (mut depth, mut quote) = (0i32, None);
    for (i, c) in s.char_indices().skip_while(|(i, _)| *i < open) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            },
        }
    }
    None
}

fn example(p: &CallPattern) -> String {
    match (p.syntax, p.module.as_str()) {
        (_, "_") => "Bank.Account.deposit/2".into(),
        (Lang::Erlang, m) => format!("{m}:seq/2"),
        (Lang::Elixir, m) => match m.strip_prefix("Elixir.") {
            Some(alias) => format!("{alias}.map/2"),
            None => format!(":{m}.seq/2"),
        },
    }
}

struct ModuleName<'a>(&'a CallPattern);

impl std::fmt::Display for ModuleName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&module_text(&self.0.module, self.0.syntax))
    }
}

/// A module as its syntax writes it: `Bank.Account`, `:lists` / `lists`, `'Elixir.Bank.Account'`.
pub fn module_text(module: &str, syntax: Lang) -> String {
    match syntax {
        Lang::Elixir => match module.strip_prefix("Elixir.") {
            Some(alias) => alias.to_string(),
            None if module == "_" => "_".to_string(),
            None => crate::term::elixir_atom_literal(module),
        },
        Lang::Erlang if module == "_" => "_".to_string(),
        Lang::Erlang => erlang_atom(module),
    }
}

/// `Mod.fun/arity` (Elixir) or `mod:fun/arity` (Erlang) for a concrete function.
pub fn function_text(module: &str, function: &str, arity: Option<u32>, syntax: Lang) -> String {
    let a = arity.map(|a| a.to_string()).unwrap_or_else(|| "_".into());
    match syntax {
        Lang::Elixir => format!("{}.{}/{a}", module_text(module, syntax), function_name(function, syntax)),
        Lang::Erlang => format!("{}:{}/{a}", module_text(module, syntax), function_name(function, syntax)),
    }
}

fn function_name(f: &str, syntax: Lang) -> String {
    if f == "_" {
        return f.to_string();
    }
    match syntax {
        Lang::Elixir => crate::term::elixir_function_name(f),
        Lang::Erlang => erlang_atom(f),
    }
}

impl std::fmt::Display for CallPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let func = self.function.as_deref().unwrap_or("_");
        f.write_str(&function_text(&self.module, func, self.arity.map(u32::from), self.syntax))
    }
}

fn split_arity<'a>(text: &str, t: &'a str) -> Result<(&'a str, Option<u8>), PatternError> {
    let Some(slash) = t.rfind('/') else { return Ok((t, None)) };
    let (head, a) = (&t[..slash], t[slash + 1..].trim());
    if a == "_" || a == "*" {
        return Ok((head.trim(), None));
    }
    match a.parse::<u8>() {
        Ok(n) => Ok((head.trim(), Some(n))),
        Err(_) => Err(err(text, format!("arity {a:?} is not a number from 0 to 255 or _"))),
    }
}

#[derive(Clone, Copy)]
enum AtomKind {
    ErlangModule,
}

/// Reads an Erlang atom (plain or quoted, Erlang `'…'` or Elixir `"…"`) at the start of `s`; returns it
/// and what follows.
fn read_atom<'a>(text: &str, s: &'a str, _kind: AtomKind) -> Result<(String, &'a str), PatternError> {
    let s = s.trim_start();
    if let Some(q) = s.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let body = &s[1..];
        let Some(end) = body.find(q) else { return Err(err(text, "unterminated quoted atom")) };
        if end == 0 {
            return Err(err(text, "empty atom"));
        }
        return Ok((body[..end].to_string(), &body[end + 1..]));
    }
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '@')).unwrap_or(s.len());
    let name = &s[..end];
    if name.is_empty() {
        return Err(err(text, "missing module name"));
    }
    if name != "_" && !name.starts_with(|c: char| c.is_lowercase()) {
        return Err(err(
            text,
            format!("{name:?} is not an Erlang module name (Elixir modules are written Bank.Account.deposit/2)"),
        ));
    }
    Ok((name.to_string(), &s[end..]))
}

fn read_function(text: &str, f: &str, syntax: Lang) -> Result<Option<String>, PatternError> {
    let f = f.trim();
    if f == "_" || f == "*" {
        return Ok(None);
    }
    if let Some(q) = f.chars().next().filter(|c| *c == '\'' || *c == '"') {
        if f.len() >= 3 && f.ends_with(q) {
            return Ok(Some(f[1..f.len() - 1].to_string()));
        }
        return Err(err(text, "unterminated quoted function name"));
    }
    let body = match syntax {
        Lang::Elixir => f.strip_suffix(['?', '!']).unwrap_or(f),
        Lang::Erlang => f,
    };
    let ok = body.starts_with(|c: char| c.is_lowercase() || c == '_')
        && body.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '@');
    if !ok {
        return Err(err(text, format!("{f:?} is not a function name")));
    }
    Ok(Some(f.to_string()))
}

fn starts_upper(s: &str) -> bool {
    s.starts_with(|c: char| c.is_uppercase())
}

/// The first `c` outside quotes.
fn find_unquoted(s: &str, c: char) -> Option<usize> {
    let mut quote = None;
    for (i, ch) in s.char_indices() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None if ch == '\'' || ch == '"' => quote = Some(ch),
            None if ch == c => return Some(i),
            None => {}
        }
    }
    None
}

/// Which processes a message trace follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessSelector {
    /// Every process, existing and new.
    All,
    /// Processes spawned from now on.
    New,
    /// The process registered under this name (atom text), on every traced node that has one.
    Name(String),
    /// One process.
    Pid(eetf::Pid),
}

impl ProcessSelector {
    /// `all`, `new`, a registered name in Elixir (`Bank.Ledger`, `:rex`) or Erlang (`rex`,
    /// `'Elixir.Bank.Ledger'`) form. Pids are node-relative and go through [`ProcessSelector::Pid`].
    pub fn parse(text: &str) -> Result<ProcessSelector, PatternError> {
        let t = text.trim();
        match t {
            "" => Err(err(text, "empty process name")),
            "all" | "processes" => Ok(ProcessSelector::All),
            "new" => Ok(ProcessSelector::New),
            _ if t.starts_with('<') || t.starts_with("#PID<") => Err(err(
                text,
                "a pid names a process only together with its node; trace it with --nodes NODE and the pid as \
                 <0.123.0>",
            )),
            _ => {
                if let Some(rest) = t.strip_prefix(':') {
                    let (name, tail) = read_atom(text, rest, AtomKind::ErlangModule)?;
                    if !tail.is_empty() {
                        return Err(err(text, format!("unexpected {tail:?} after the name")));
                    }
                    return Ok(ProcessSelector::Name(name));
                }
                if starts_upper(t) {
                    if !t.split('.').all(|s| starts_upper(s) && s.chars().all(|c| c.is_alphanumeric() || c == '_')) {
                        return Err(err(text, "not an Elixir module-like name"));
                    }
                    return Ok(ProcessSelector::Name(format!("Elixir.{t}")));
                }
                let (name, tail) = read_atom(text, t, AtomKind::ErlangModule)?;
                if !tail.is_empty() {
                    return Err(err(text, format!("unexpected {tail:?} after the name")));
                }
                Ok(ProcessSelector::Name(name))
            }
        }
    }

    /// Reads `<0.123.0>` (or `#PID<0.123.0>`) as the text `erlang:list_to_pid/1` takes on its node.
    pub fn pid_text(text: &str) -> Option<String> {
        let t = text.trim();
        let t = t.strip_prefix("#PID").unwrap_or(t);
        let inner = t.strip_prefix('<')?.strip_suffix('>')?;
        let parts: Vec<&str> = inner.split('.').collect();
        (parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())))
            .then(|| format!("<{inner}>"))
    }
}

impl std::fmt::Display for ProcessSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProcessSelector::All => f.write_str("all"),
            ProcessSelector::New => f.write_str("new"),
            ProcessSelector::Name(n) => f.write_str(n.strip_prefix("Elixir.").unwrap_or(n)),
            // As the pid reads on its own node (`<0.N.S>`), where the user took it from.
            ProcessSelector::Pid(p) => write!(f, "<0.{}.{}> on {}", p.id, p.serial, p.node.name),
        }
    }
}

/// The limit every trace needs (recon_trace's rule): applied on each node and to the whole trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Stop after this many events.
    Count(u64),
    /// Stop when more than `max` events arrive within one window of `per`.
    Rate { max: u64, per: Duration },
}

impl Limit {
    /// `N/MS`, e.g. `50/1000` for 50 events per second.
    pub fn parse_rate(text: &str) -> Result<Limit, PatternError> {
        let (n, ms) =
            text.split_once('/').ok_or_else(|| err(text, "write a rate as EVENTS/MILLISECONDS, e.g. 50/1000"))?;
        let n: u64 = n.trim().parse().map_err(|_| err(text, "the number of events is not a number"))?;
        let ms: u64 = ms.trim().parse().map_err(|_| err(text, "the window is not a number of milliseconds"))?;
        let l = Limit::Rate { max: n, per: Duration::from_millis(ms) };
        l.validate().map_err(|r| err(text, r))?;
        Ok(l)
    }

    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Limit::Count(0) => Err("a count limit must be at least 1".into()),
            Limit::Rate { max: 0, .. } => Err("a rate must allow at least 1 event".into()),
            Limit::Rate { per, .. } if per.as_millis() == 0 => Err("a rate window must be at least 1 ms".into()),
            Limit::Rate { per, .. } if per > Duration::from_secs(3600) => {
                Err("a rate window must be at most an hour".into())
            }
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Count(n) => write!(f, "{n} events"),
            Limit::Rate { max, per } => write!(f, "{max} events per {} ms", per.as_millis()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_names_quote_reserved_words() {
        assert_eq!(function_text("bank_ledger", "when", Some(1), Lang::Erlang), "bank_ledger:'when'/1");
        assert_eq!(function_text("bank_ledger", "valid?", None, Lang::Erlang), "bank_ledger:'valid?'/_");
        assert_eq!(module_text("receive", Lang::Erlang), "'receive'");
        assert_eq!(module_text("_", Lang::Erlang), "_");
        assert_eq!(function_text("Elixir.Bank", "when", Some(1), Lang::Erlang), "'Elixir.Bank':'when'/1");
    }

    fn p(t: &str) -> CallPattern {
        CallPattern::parse(t).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn elixir_forms() {
        let d = p("Bank.Account.deposit/2");
        assert_eq!(
            (d.module.as_str(), d.function.as_deref(), d.arity),
            ("Elixir.Bank.Account", Some("deposit"), Some(2))
        );
        assert_eq!(d.syntax, Lang::Elixir);
        assert_eq!(p("Bank.Account.deposit/_").arity, None);
        assert_eq!(p("Bank.Account.deposit").arity, None);
        let m = p("Bank.Account");
        assert_eq!((m.module.as_str(), m.function.clone(), m.arity), ("Elixir.Bank.Account", None, None));
        assert_eq!(p("Bank.Account._/_").function, None);
        assert_eq!(p("Bank.Fees.valid?/1").function.as_deref(), Some("valid?"));
        let e = p(":bank_ledger.append/2");
        assert_eq!((e.module.as_str(), e.function.as_deref(), e.arity), ("bank_ledger", Some("append"), Some(2)));
        assert_eq!(e.syntax, Lang::Elixir);
        assert_eq!(p("_.handle_call/3").module, "_");
        assert_eq!(p(" Bank.Account.deposit / 2 ").arity, Some(2));
    }

    #[test]
    fn erlang_forms() {
        let e = p("bank_ledger:append/2");
        assert_eq!((e.module.as_str(), e.function.as_deref(), e.arity), ("bank_ledger", Some("append"), Some(2)));
        assert_eq!(e.syntax, Lang::Erlang);
        let q = p("'Elixir.Bank.Account':deposit/_");
        assert_eq!((q.module.as_str(), q.arity), ("Elixir.Bank.Account", None));
        assert_eq!(p("bank_ledger:_").function, None);
        assert_eq!(p("m:'weird fun'/1").function.as_deref(), Some("weird fun"));
    }

    #[test]
    fn display_round_trips() {
        for t in ["Bank.Account.deposit/2", "Bank.Account.deposit/_", ":bank_ledger.append/2", "bank_ledger:append/2"] {
            assert_eq!(p(t).to_string(), t);
        }
        assert_eq!(p("'Elixir.Bank.Account':deposit/2").to_string(), "'Elixir.Bank.Account':deposit/2");
        assert_eq!(p("Bank.Account").to_string(), "Bank.Account._/_");
    }

    #[test]
    fn bad_patterns_say_why() {
        for t in ["", "Bank.Account.deposit/x", "bank.Account.deposit/2", "Bank..x/1", "Mod:f/1", ":'x.f/1", "a:B/1"] {
            let e = CallPattern::parse(t).expect_err(t);
            assert!(!e.reason.is_empty(), "{t}");
        }
        assert!(CallPattern::parse("Bank.Account.deposit/300").unwrap_err().reason.contains("255"));
    }

    /// What a mistyped pattern, process or rate says: the part that is wrong and why.
    #[test]
    fn mistyped_patterns_processes_and_rates_say_what_is_wrong() {
        let why = |t: &str| CallPattern::parse(t).expect_err(t).reason;
        assert_eq!(why("bank x:fee/1"), "unexpected \" x\" in the module name");
        assert_eq!(why("'':f/1"), "empty atom");
        assert_eq!(why(":/1"), "missing module name");
        assert_eq!(why("Bank.Account.'dep/1"), "unterminated quoted function name");
        assert_eq!(why("bank:'f/1"), "unterminated quoted function name");
        assert!(why("Bank.Account!").starts_with("\"Account!\" is not part of an Elixir module name"));
        assert_eq!(p("bank:'ab'/1").to_string(), "bank:ab/1");
        assert_eq!(p("Bank.Account.'deposit'/1").to_string(), "Bank.Account.deposit/1");

        let process = |t: &str| ProcessSelector::parse(t).map(|p| p.to_string()).map_err(|e| e.reason);
        assert_eq!(process(":rex x"), Err("unexpected \" x\" after the name".into()));
        assert_eq!(process("bank_ledger x"), Err("unexpected \" x\" after the name".into()));
        assert_eq!(process("Bank.ledger"), Err("not an Elixir module-like name".into()));
        assert_eq!((process("new"), process("all")), (Ok("new".into()), Ok("all".into())));

        let rate = |t: &str| Limit::parse_rate(t).map(|l| l.to_string()).map_err(|e| e.reason);
        assert_eq!(rate("0/10"), Err("a rate must allow at least 1 event".into()));
        assert_eq!(rate("5/0"), Err("a rate window must be at least 1 ms".into()));
        assert_eq!(rate("5/4000000"), Err("a rate window must be at most an hour".into()));
        assert_eq!(rate("5/100"), Ok("5 events per 100 ms".into()));

        let fun = |t: &str| CallForm::split(t).unwrap().unwrap().erlang_fun();
        assert_eq!(fun("bank_ledger:fee(A) when A > 1"), "fun([A]) when A > 1 -> true end");
        assert_eq!(fun("bank_ledger:fee(A)"), "fun([A]) -> true end");
    }

    #[test]
    fn dangerous_patterns_are_refused_unless_narrowed() {
        for t in ["lists:_", "lists:map/_", ":io._/_", "Enum.map", "_.foo", "_:_/2", "erlang:_/1"] {
            let e = p(t).check_safety(false).expect_err(t);
            assert!(e.reason.contains("dangerous"), "{t}: {e}");
        }
        assert!(p("lists:map/_").check_safety(true).is_ok(), "a match spec narrows");
        assert!(p("lists:_").check_safety(true).is_err(), "a whole hot module never");
        assert!(p("lists:seq/2").check_safety(false).is_ok());
        assert!(p("Bank.Account").check_safety(false).is_ok());
        assert!(p("orbit_trace:start/1").check_safety(true).is_err());
    }

    #[test]
    fn call_forms() {
        let c = CallForm::split("Bank.Account.deposit(_, amount) when amount > 100").unwrap().unwrap();
        assert_eq!(c.name, "Bank.Account.deposit");
        assert_eq!(c.args, "_, amount");
        assert_eq!(c.guard.as_deref(), Some("amount > 100"));
        assert_eq!(c.arity(), 2);
        let c = CallForm::split("bank_ledger:fee({a, B}, [C | _], \"x,y\")").unwrap().unwrap();
        assert_eq!((c.arity(), c.guard), (3, None));
        assert_eq!(CallForm::split("m:f()").unwrap().unwrap().arity(), 0);
        let e = CallForm::split("m:f(A) when A > 1").unwrap().unwrap();
        assert_eq!(e.erlang_fun(), "fun([A]) when A > 1 -> true end");
        assert_eq!(CallForm::split("Bank.Account.deposit/2").unwrap(), None);
        for bad in ["Bank.Account.deposit(_, x", "(x)", "m:f/1(X)", "m:f(X) if X > 1", "m:f(X) when "] {
            assert!(CallForm::split(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn processes_and_limits() {
        assert_eq!(ProcessSelector::parse("Bank.Ledger").unwrap(), ProcessSelector::Name("Elixir.Bank.Ledger".into()));
        assert_eq!(ProcessSelector::parse(":rex").unwrap(), ProcessSelector::Name("rex".into()));
        assert_eq!(ProcessSelector::parse("rex").unwrap(), ProcessSelector::Name("rex".into()));
        assert_eq!(ProcessSelector::parse("all").unwrap(), ProcessSelector::All);
        assert!(ProcessSelector::parse("<0.1.0>").is_err());
        assert_eq!(ProcessSelector::pid_text("#PID<0.12.0>").as_deref(), Some("<0.12.0>"));
        assert_eq!(ProcessSelector::pid_text("<0.x.0>"), None);
        assert_eq!(Limit::parse_rate("50/1000").unwrap(), Limit::Rate { max: 50, per: Duration::from_secs(1) });
        assert!(Limit::parse_rate("50").is_err());
        assert!(Limit::parse_rate("0/10").is_err());
        assert!(Limit::parse_rate("5/0").is_err());
        assert!(Limit::Count(0).validate().is_err());
    }
}
