//! Read-only mode: Orbit observes a cluster and changes nothing on its nodes.
//!
//! This module is the one place that says what the mode refuses. The CLI (`--read-only`), the debug
//! adapter (`readOnly: true`) and the language server (`readOnly` setting) only set
//! [`ClusterOptions::read_only`](crate::cluster::ClusterOptions::read_only); `ORBIT_READ_ONLY=1` (or
//! [`enable_for_process`]) turns it on for every cluster the process connects to, whatever the options say.
//! Each operation of `beam` that would change a node asks [`Cluster::refuse`] first, so a refusal happens
//! before anything is sent to a node.
//!
//! Refused: interpreting modules (line and function breakpoints that the interpreter serves, `interpret`
//! globs, stepping into a module), pausing or suspending a process, setting a variable, evaluating anything
//! but a pure read (see [`EVALUATE_ALLOWED`]), reloading code, killing a process, every sandbox operation
//! that starts, stops or moves one, and a trace without a count limit. Allowed: status, processes, inspect,
//! drift, traces with `--limit N`, profiles (bounded in time; they load no code and change no process's
//! state, and what they set is removed when they end), tracepoints (log points served by call tracing,
//! capped per second), and evaluating pure reads. Orbit's own agent modules are still installed: they are how Orbit reads a node.

use crate::cluster::Cluster;
use crate::term::{as_atom, as_integer, as_tuple, atom, erlang_atom, int, list, tuple};
use eetf::Term;
use std::sync::atomic::{AtomicBool, Ordering};

/// The environment variable that turns read-only mode on (`1`, `true` or `yes`).
pub const ENV: &str = "ORBIT_READ_ONLY";

/// How the mode is named in every refusal.
pub const MODE: &str = "Orbit is in read-only mode (--read-only / readOnly / ORBIT_READ_ONLY=1)";

static PROCESS_WIDE: AtomicBool = AtomicBool::new(false);

/// Every cluster this process connects to from now on is read-only (`orbit --read-only …`).
pub fn enable_for_process() {
    PROCESS_WIDE.store(true, Ordering::SeqCst);
}

/// Read-only mode asked for by the process: [`enable_for_process`] or `ORBIT_READ_ONLY`.
pub fn process_wide() -> bool {
    PROCESS_WIDE.load(Ordering::SeqCst) || std::env::var(ENV).is_ok_and(|v| is_true(&v))
}

fn is_true(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

/// Something that would change a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// Interpreting a module: a breakpoint, an `interpret` glob or a step.
    Interpret {
        module: &'a str,
    },
    /// Pausing (or suspending) a process.
    Pause,
    SetVariable,
    Reload,
    Kill {
        process: &'a str,
    },
    /// A sandbox operation: `create`, `destroy`, `migrate`, `balance`, `failover`, starting the supervisor.
    Sandbox {
        operation: &'a str,
    },
}

impl Change<'_> {
    fn what(&self) -> String {
        match self {
            Change::Interpret { module } => {
                format!("a breakpoint here would interpret {module} on the nodes (a tracepoint, a log point on a function's first line, would not)")
            }
            Change::Pause => "pausing would suspend the process".into(),
            Change::SetVariable => "setting a variable would change the process".into(),
            Change::Reload => "reloading would load new code on the nodes".into(),
            Change::Kill { process } => format!("killing {process} would end it"),
            Change::Sandbox { operation } => format!("sandbox {operation} would start, stop or move processes"),
        }
    }
}

/// A refusal of read-only mode: names the mode and what was not done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused: {MODE}: {what}; nothing was changed")]
pub struct Refused {
    pub what: String,
}

impl Refused {
    pub fn new(change: Change<'_>) -> Refused {
        Refused { what: change.what() }
    }
}

/// `Err` when read-only mode is `on` and `change` would happen.
pub fn check(on: bool, change: Change<'_>) -> Result<(), Refused> {
    if on {
        Err(Refused::new(change))
    } else {
        Ok(())
    }
}

impl Cluster {
    /// Refuses `change` when this cluster is read-only (see the module docs).
    pub fn refuse(&self, change: Change<'_>) -> Result<(), Refused> {
        check(self.read_only(), change)
    }

    /// Refuses a trace that read-only mode would not bound: only a count limit ends a trace by itself.
    pub fn refuse_unbounded_trace(&self, limit: &crate::trace::Limit) -> Result<(), Refused> {
        match limit {
            _ if !self.read_only() => Ok(()),
            crate::trace::Limit::Count(_) => Ok(()),
            crate::trace::Limit::Rate { .. } => {
                Err(Refused { what: "a trace needs a count limit (--limit N); a rate alone does not end it".into() })
            }
        }
    }
}

/// What evaluation may call in read-only mode: functions without side effects (most are BIFs) and
/// `:sys.get_state`. `None` for every arity. Elixir's operators and `Kernel` functions count as the
/// BIFs the compiler turns them into (`length(x)` is `:erlang.length/1`). Functions that take a function
/// are left out, so a function value (a variable of the frame, a capture) is never called; so are those
/// that dispatch to a protocol or behaviour (`to_string/1`, `inspect/1`, string interpolation, `x[k]`),
/// which run a struct module's own code.
pub const EVALUATE_ALLOWED: &[(&str, &str, Option<u8>)] = &[
    // Type tests, sizes and element access.
    ("erlang", "is_atom", Some(1)),
    ("erlang", "is_binary", Some(1)),
    ("erlang", "is_bitstring", Some(1)),
    ("erlang", "is_boolean", Some(1)),
    ("erlang", "is_float", Some(1)),
    ("erlang", "is_function", None),
    ("erlang", "is_integer", Some(1)),
    ("erlang", "is_list", Some(1)),
    ("erlang", "is_map", Some(1)),
    ("erlang", "is_map_key", Some(2)),
    ("erlang", "is_number", Some(1)),
    ("erlang", "is_pid", Some(1)),
    ("erlang", "is_port", Some(1)),
    ("erlang", "is_reference", Some(1)),
    ("erlang", "is_tuple", Some(1)),
    ("erlang", "is_record", None),
    ("erlang", "length", Some(1)),
    ("erlang", "map_size", Some(1)),
    ("erlang", "map_get", Some(2)),
    ("erlang", "tuple_size", Some(1)),
    ("erlang", "byte_size", Some(1)),
    ("erlang", "bit_size", Some(1)),
    ("erlang", "size", Some(1)),
    ("erlang", "element", Some(2)),
    ("erlang", "hd", Some(1)),
    ("erlang", "tl", Some(1)),
    ("erlang", "binary_part", Some(3)),
    // Arithmetic, comparison, boolean and list operators.
    ("erlang", "+", None),
    ("erlang", "-", None),
    ("erlang", "*", Some(2)),
    ("erlang", "/", Some(2)),
    ("erlang", "div", Some(2)),
    ("erlang", "rem", Some(2)),
    ("erlang", "abs", Some(1)),
    ("erlang", "band", Some(2)),
    ("erlang", "bor", Some(2)),
    ("erlang", "bxor", Some(2)),
    ("erlang", "bnot", Some(1)),
    ("erlang", "bsl", Some(2)),
    ("erlang", "bsr", Some(2)),
    ("erlang", "==", Some(2)),
    ("erlang", "/=", Some(2)),
    ("erlang", "=:=", Some(2)),
    ("erlang", "=/=", Some(2)),
    ("erlang", "<", Some(2)),
    ("erlang", ">", Some(2)),
    ("erlang", "=<", Some(2)),
    ("erlang", ">=", Some(2)),
    ("erlang", "not", Some(1)),
    ("erlang", "and", Some(2)),
    ("erlang", "or", Some(2)),
    ("erlang", "xor", Some(2)),
    ("erlang", "andalso", Some(2)),
    ("erlang", "orelse", Some(2)),
    ("erlang", "++", Some(2)),
    ("erlang", "--", Some(2)),
    ("erlang", "min", Some(2)),
    ("erlang", "max", Some(2)),
    ("erlang", "trunc", Some(1)),
    ("erlang", "round", Some(1)),
    ("erlang", "float", Some(1)),
    ("erlang", "ceil", Some(1)),
    ("erlang", "floor", Some(1)),
    // Conversions that create no atoms.
    ("erlang", "atom_to_binary", None),
    ("erlang", "atom_to_list", Some(1)),
    ("erlang", "integer_to_binary", None),
    ("erlang", "integer_to_list", None),
    ("erlang", "binary_to_integer", None),
    ("erlang", "list_to_integer", None),
    ("erlang", "float_to_binary", None),
    ("erlang", "float_to_list", None),
    ("erlang", "binary_to_list", Some(1)),
    ("erlang", "list_to_binary", Some(1)),
    ("erlang", "iolist_to_binary", Some(1)),
    ("erlang", "iolist_size", Some(1)),
    ("erlang", "tuple_to_list", Some(1)),
    ("erlang", "list_to_tuple", Some(1)),
    ("erlang", "pid_to_list", Some(1)),
    ("erlang", "term_to_binary", Some(1)),
    ("erlang", "phash2", None),
    // Raising an error (the evaluation fails; nothing else happens).
    ("erlang", "error", None),
    ("erlang", "throw", Some(1)),
    // Reading the node and its processes.
    ("erlang", "node", None),
    ("erlang", "nodes", None),
    ("erlang", "self", Some(0)),
    ("erlang", "whereis", Some(1)),
    ("erlang", "registered", Some(0)),
    ("erlang", "processes", Some(0)),
    ("erlang", "is_process_alive", Some(1)),
    ("erlang", "process_info", None),
    ("erlang", "memory", None),
    ("erlang", "system_info", Some(1)),
    ("erlang", "statistics", Some(1)),
    ("erlang", "monotonic_time", None),
    ("erlang", "system_time", None),
    ("erlang", "date", Some(0)),
    ("erlang", "time", Some(0)),
    ("erlang", "universaltime", Some(0)),
    ("erlang", "localtime", Some(0)),
    ("erlang", "get", None),
    ("erlang", "get_keys", None),
    ("ets", "lookup", Some(2)),
    ("ets", "lookup_element", Some(3)),
    ("ets", "member", Some(2)),
    ("ets", "info", None),
    ("ets", "tab2list", Some(1)),
    ("ets", "first", Some(1)),
    ("ets", "next", Some(2)),
    ("ets", "all", Some(0)),
    ("sys", "get_state", None),
    // Data structures (Erlang).
    ("maps", "get", None),
    ("maps", "find", Some(2)),
    ("maps", "is_key", Some(2)),
    ("maps", "keys", Some(1)),
    ("maps", "values", Some(1)),
    ("maps", "size", Some(1)),
    ("maps", "to_list", Some(1)),
    ("maps", "from_list", Some(1)),
    ("maps", "with", Some(2)),
    ("maps", "without", Some(2)),
    ("maps", "put", Some(3)),
    ("maps", "remove", Some(2)),
    ("maps", "merge", Some(2)),
    ("lists", "member", Some(2)),
    ("lists", "nth", Some(2)),
    ("lists", "nthtail", Some(2)),
    ("lists", "last", Some(1)),
    ("lists", "reverse", None),
    ("lists", "sort", Some(1)),
    ("lists", "usort", Some(1)),
    ("lists", "sublist", None),
    ("lists", "append", None),
    ("lists", "flatten", Some(1)),
    ("lists", "keyfind", Some(3)),
    ("lists", "keymember", Some(3)),
    ("lists", "sum", Some(1)),
    ("lists", "max", Some(1)),
    ("lists", "min", Some(1)),
    ("lists", "seq", None),
    ("lists", "zip", Some(2)),
    ("proplists", "get_value", None),
    ("proplists", "get_all_values", Some(2)),
    ("proplists", "lookup", Some(2)),
    ("proplists", "is_defined", Some(2)),
    // Data structures (Elixir).
    ("Elixir.Kernel", "elem", Some(2)),
    ("Elixir.Kernel", "put_elem", Some(3)),
    ("Elixir.Map", "get", None),
    ("Elixir.Map", "fetch", Some(2)),
    ("Elixir.Map", "fetch!", Some(2)),
    ("Elixir.Map", "has_key?", Some(2)),
    ("Elixir.Map", "keys", Some(1)),
    ("Elixir.Map", "values", Some(1)),
    ("Elixir.Map", "to_list", Some(1)),
    ("Elixir.Map", "take", Some(2)),
    ("Elixir.Map", "drop", Some(2)),
    ("Elixir.Map", "put", Some(3)),
    ("Elixir.Map", "delete", Some(2)),
    ("Elixir.Map", "merge", Some(2)),
    ("Elixir.Map", "new", Some(0)),
    ("Elixir.Keyword", "get", None),
    ("Elixir.Keyword", "fetch", Some(2)),
    ("Elixir.Keyword", "keys", Some(1)),
    ("Elixir.Keyword", "values", Some(1)),
    ("Elixir.Keyword", "has_key?", Some(2)),
    ("Elixir.Keyword", "get_values", Some(2)),
    ("Elixir.List", "first", None),
    ("Elixir.List", "last", None),
    ("Elixir.List", "wrap", Some(1)),
    ("Elixir.List", "flatten", Some(1)),
    ("Elixir.List", "keyfind", None),
    ("Elixir.List", "to_tuple", Some(1)),
    ("Elixir.String", "length", Some(1)),
    ("Elixir.String", "split", None),
    ("Elixir.String", "slice", None),
    ("Elixir.String", "upcase", Some(1)),
    ("Elixir.String", "downcase", Some(1)),
    ("Elixir.String", "trim", Some(1)),
    ("Elixir.String", "contains?", Some(2)),
    ("Elixir.String", "starts_with?", Some(2)),
    ("Elixir.String", "ends_with?", Some(2)),
    ("Elixir.Process", "info", None),
    ("Elixir.Process", "alive?", Some(1)),
    ("Elixir.Process", "whereis", Some(1)),
    ("Elixir.Process", "get", None),
    ("Elixir.Process", "list", Some(0)),
    ("Elixir.Node", "list", None),
    ("Elixir.Node", "self", Some(0)),
];

/// [`EVALUATE_ALLOWED`] as the agent reads it: `[{Module, Function, Arity | '_'}]`.
pub fn evaluate_allow_list() -> Term {
    list(
        EVALUATE_ALLOWED
            .iter()
            .map(|(m, f, a)| tuple(vec![atom(m), atom(f), a.map(|a| int(i64::from(a))).unwrap_or_else(|| atom("_"))]))
            .collect(),
    )
}

/// The refusal of an evaluation, from what the node found in it (`orbit_dbg:eval/5` in read-only mode):
/// `{Module, Function, Arity}` calls off the list, or `{construct, Text}` for what is never a pure read
/// (sending, receiving, calling a function value, …). Calls are written as the user writes them.
pub fn refused_evaluation(items: &[Term], elixir: bool) -> Refused {
    let mut names: Vec<String> = items.iter().map(|t| item_text(t, elixir)).collect();
    names.dedup();
    let shown = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    let more = if names.len() > 5 { format!(" and {} more", names.len() - 5) } else { String::new() };
    Refused {
        what: format!(
            "this expression is not a pure read ({shown}{more}); only side-effect-free functions \
             (BIFs, pure Map/List/String/maps/lists functions, ets reads) and :sys.get_state may be called"
        ),
    }
}

fn item_text(t: &Term, elixir: bool) -> String {
    match as_tuple(t) {
        Some([m, f, a]) => {
            let (m, f) = (as_atom(m).unwrap_or("?"), as_atom(f).unwrap_or("?"));
            let a = as_integer(a).unwrap_or(0);
            match (elixir, m.strip_prefix("Elixir.")) {
                (true, Some(ex)) => format!("{ex}.{f}/{a}"),
                (true, None) => format!(":{m}.{f}/{a}"),
                (false, _) => format!("{}:{}/{a}", erlang_atom(m), erlang_atom(f)),
            }
        }
        Some([tag, text]) if as_atom(tag) == Some("construct") => crate::term::as_str(text).unwrap_or("?").to_string(),
        _ => crate::term::render_erlang(t, &crate::term::Limits::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::binary;

    #[test]
    fn refusals_name_the_mode_and_what_was_not_done() {
        let e = check(true, Change::Reload).unwrap_err().to_string();
        assert!(e.starts_with("refused: Orbit is in read-only mode (--read-only"), "{e}");
        assert!(e.contains("ORBIT_READ_ONLY=1") && e.contains("reloading"), "{e}");
        assert!(check(false, Change::Pause).is_ok());
    }

    #[test]
    fn environment_values() {
        for v in ["1", "true", "YES", " on "] {
            assert!(is_true(v), "{v}");
        }
        for v in ["0", "", "no", "false"] {
            assert!(!is_true(v), "{v}");
        }
    }

    #[test]
    fn the_allow_list_has_no_function_that_changes_anything() {
        for (m, f) in [
            ("erlang", "send"),
            ("erlang", "put"),
            ("erlang", "exit"),
            ("erlang", "halt"),
            ("erlang", "apply"),
            ("erlang", "spawn"),
            ("erlang", "list_to_atom"),
            ("erlang", "binary_to_term"),
            ("Elixir.Process", "put"),
            ("Elixir.Kernel", "send"),
            ("Elixir.Enum", "map"),
            ("Elixir.Map", "update"),
        ] {
            assert!(!EVALUATE_ALLOWED.iter().any(|(am, af, _)| *am == m && *af == f), "{m}:{f}");
        }
        assert!(EVALUATE_ALLOWED.contains(&("sys", "get_state", None)));
        let Term::List(l) = evaluate_allow_list() else { panic!() };
        assert_eq!(l.elements.len(), EVALUATE_ALLOWED.len());
    }

    #[test]
    fn evaluation_refusals_write_calls_in_the_frame_language() {
        let items = vec![
            tuple(vec![atom("Elixir.Process"), atom("put"), int(2)]),
            tuple(vec![atom("erlang"), atom("send"), int(2)]),
            tuple(vec![atom("construct"), binary(b"receive")]),
        ];
        let e = refused_evaluation(&items, true).to_string();
        assert!(e.contains("Process.put/2, :erlang.send/2, receive"), "{e}");
        let e = refused_evaluation(&items[1..2], false).to_string();
        assert!(e.contains("(erlang:send/2)") && e.contains(":sys.get_state"), "{e}");
    }

    #[test]
    fn erlang_names_in_refusals_quote_reserved_words() {
        let item = tuple(vec![atom("when"), atom("receive"), int(1)]);
        let e = refused_evaluation(&[item], false).to_string();
        assert!(e.contains("'when':'receive'/1"), "{e}");
    }
}
