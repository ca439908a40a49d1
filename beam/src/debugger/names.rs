//! Names the way Elixir and Erlang developers read them: modules, functions, anonymous functions.

/// The language a module was written in, which decides how its names, values and expressions read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Elixir,
    Erlang,
}

impl Lang {
    /// Elixir modules are atoms starting with `Elixir.`.
    pub fn of_module(module: &str) -> Lang {
        if module.starts_with("Elixir.") {
            Lang::Elixir
        } else {
            Lang::Erlang
        }
    }

    /// From a source path: `.ex`/`.exs` are Elixir, everything else Erlang.
    pub fn of_path(path: &std::path::Path) -> Lang {
        match path.extension().and_then(|e| e.to_str()) {
            Some("ex") | Some("exs") => Lang::Elixir,
            _ => Lang::Erlang,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Elixir => "elixir",
            Lang::Erlang => "erlang",
        }
    }
}

/// `Elixir.Bank.Account` → `Bank.Account`; an Erlang module as Elixir code writes it: `:bank_ledger`.
pub fn module_for_elixir(module: &str) -> String {
    match module.strip_prefix("Elixir.") {
        Some(alias) => alias.to_string(),
        None => format!(":{module}"),
    }
}

/// A module as its own language writes it.
pub fn module_display(module: &str) -> String {
    match module.strip_prefix("Elixir.") {
        Some(alias) => alias.to_string(),
        None => module.to_string(),
    }
}

/// `Bank.Account.deposit/2`, `anonymous fn/1 in Bank.run/1`, `bank_ledger:append/2`,
/// `fun bank_ledger:total/1-0`.
pub fn function_display(module: &str, function: &str, arity: u32) -> String {
    let lang = Lang::of_module(module);
    let m = module_display(module);
    if let Some((outer, index)) = parse_fun_name(function) {
        return match lang {
            Lang::Elixir => format!("anonymous fn/{arity} in {m}.{outer}"),
            Lang::Erlang => format!("fun {m}:{outer}-{index}"),
        };
    }
    match lang {
        Lang::Elixir => format!("{m}.{}/{arity}", crate::term::elixir_function_name(function)),
        Lang::Erlang => format!("{m}:{}/{arity}", crate::term::erlang_atom(function)),
    }
}

/// `-run/1-fun-0-` → (`run/1`, 0). Nested funs (`-run/1-fun-0-fun-1-`) keep the outermost function.
fn parse_fun_name(name: &str) -> Option<(String, u32)> {
    let inner = name.strip_prefix('-')?.strip_suffix('-')?;
    let at = inner.find("-fun-")?;
    let outer = &inner[..at];
    let index = inner.rsplit("-fun-").next()?.trim_end_matches('-').parse().unwrap_or(0);
    Some((outer.to_string(), index))
}

/// A function reference typed by a user: `Bank.Account.deposit/2`, `bank_ledger:append/2`,
/// `:bank_ledger.append/2`. Returns (module atom, function, arity).
pub fn parse_function_ref(text: &str) -> Result<(String, String, u32), String> {
    let text = text.trim();
    let (head, arity) = text
        .rsplit_once('/')
        .ok_or_else(|| format!("'{text}' has no arity: write Module.function/arity or module:function/arity"))?;
    let arity: u32 = arity.trim().parse().map_err(|_| format!("'{arity}' in '{text}' is not an arity"))?;
    if let Some((m, f)) = head.split_once(':').filter(|(m, _)| !m.is_empty()) {
        return Ok((m.to_string(), f.to_string(), arity));
    }
    let (m, f) = head.rsplit_once('.').ok_or_else(|| format!("'{text}' names no module"))?;
    if m.is_empty() || f.is_empty() {
        return Err(format!("'{text}' names no module or function"));
    }
    let module = match m.strip_prefix(':') {
        Some(erl) => erl.to_string(),
        None => format!("Elixir.{m}"),
    };
    Ok((module, f.to_string(), arity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_read_as_in_their_language() {
        assert_eq!(function_display("Elixir.Bank.Account", "deposit", 2), "Bank.Account.deposit/2");
        assert_eq!(function_display("Elixir.Bank", "-run/1-fun-0-", 1), "anonymous fn/1 in Bank.run/1");
        assert_eq!(function_display("bank_ledger", "append", 2), "bank_ledger:append/2");
        assert_eq!(function_display("bank_ledger", "-total/1-fun-2-", 1), "fun bank_ledger:total/1-2");
        assert_eq!(function_display("Elixir.Bank", "handle_call", 3), "Bank.handle_call/3");
        assert_eq!(function_display("Elixir.Kernel", "+", 2), "Kernel.+/2");
        // Erlang names are quoted by the one Erlang quoting (term::erlang_atom), reserved words included.
        assert_eq!(function_display("bank_ledger", "when", 1), "bank_ledger:'when'/1");
        assert_eq!(function_display("bank_ledger", "valid?", 1), "bank_ledger:'valid?'/1");
        assert_eq!(function_display("bank_ledger", "it's", 0), "bank_ledger:'it\\'s'/0");
    }

    #[test]
    fn modules_read_as_in_elixir() {
        assert_eq!(module_for_elixir("Elixir.Bank.Account"), "Bank.Account");
        assert_eq!(module_for_elixir("bank_ledger"), ":bank_ledger");
    }

    #[test]
    fn function_refs_in_both_syntaxes() {
        assert_eq!(
            parse_function_ref("Bank.Account.deposit/2").unwrap(),
            ("Elixir.Bank.Account".into(), "deposit".into(), 2)
        );
        assert_eq!(parse_function_ref("bank_ledger:append/2").unwrap(), ("bank_ledger".into(), "append".into(), 2));
        assert_eq!(parse_function_ref(":bank_ledger.append/2").unwrap(), ("bank_ledger".into(), "append".into(), 2));
        assert!(parse_function_ref("deposit").is_err());
        assert!(parse_function_ref("Bank.deposit/x").is_err());
        assert!(parse_function_ref("/2").is_err());
    }
}
