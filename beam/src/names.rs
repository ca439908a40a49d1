//! Names as people write and read them: module atoms from what users type, modules and functions as
//! their own language writes them, atoms quoted as Erlang reads them back, and which language a module
//! or a source file is in. The one place for these, across the crate.
//!
//! `Lang`, `module_display`, `function_display`, `module_for_elixir` and `parse_function_ref` are defined
//! beside the debugger (`debugger::names`, which came first) and are the same items re-exported here; the
//! Erlang quoting is [`crate::term::erlang_atom`], the one the Erlang renderer uses.

use std::path::Path;

pub use crate::debugger::names::{function_display, module_display, module_for_elixir, parse_function_ref, Lang};
pub use crate::term::erlang_atom;

impl Lang {
    /// From a source file's extension: `.ex`/`.exs` are Elixir, `.erl` Erlang; anything else is not a
    /// source Orbit compiles or indexes.
    pub fn of_source(path: &Path) -> Option<Lang> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("ex") | Some("exs") => Some(Lang::Elixir),
            Some("erl") => Some(Lang::Erlang),
            _ => None,
        }
    }
}

/// The atom of a module as a user types it: `Bank.Fees` → `Elixir.Bank.Fees`, `:bank_ledger` →
/// `bank_ledger`; `Elixir.X` and plain atoms stay as they are.
pub fn module_atom(name: &str) -> String {
    let name = name.trim();
    if let Some(rest) = name.strip_prefix(':') {
        return rest.trim_matches('"').to_string();
    }
    if name.starts_with("Elixir.") {
        return name.to_string();
    }
    if name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
        return format!("Elixir.{name}");
    }
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_atoms() {
        assert_eq!(module_atom("Bank.Fees"), "Elixir.Bank.Fees");
        assert_eq!(module_atom("Elixir.Bank.Fees"), "Elixir.Bank.Fees");
        assert_eq!(module_atom(":bank_ledger"), "bank_ledger");
        assert_eq!(module_atom("bank_ledger"), "bank_ledger");
        assert_eq!(module_display("Elixir.Bank.Fees"), "Bank.Fees");
        assert_eq!(module_display("lists"), "lists");
    }

    #[test]
    fn languages_of_sources() {
        assert_eq!(Lang::of_source(Path::new("a/b.ex")), Some(Lang::Elixir));
        assert_eq!(Lang::of_source(Path::new("a/b.exs")), Some(Lang::Elixir));
        assert_eq!(Lang::of_source(Path::new("b.erl")), Some(Lang::Erlang));
        assert_eq!(Lang::of_source(Path::new("b.beam")), None);
        assert_eq!(Lang::of_source(Path::new("Makefile")), None);
    }

    #[test]
    fn reserved_words_are_quoted_as_erlang_reads_them() {
        assert_eq!(erlang_atom("when"), "'when'");
        assert_eq!(erlang_atom("receive"), "'receive'");
        assert_eq!(erlang_atom("whenever"), "whenever");
        assert_eq!(erlang_atom("bank_ledger"), "bank_ledger");
        assert_eq!(erlang_atom("Elixir.Bank.Fees"), "'Elixir.Bank.Fees'");
        assert_eq!(erlang_atom("valid?"), "'valid?'");
        assert_eq!(erlang_atom("it's"), "'it\\'s'");
    }
}
