//! Small helpers every part of the engine uses: reading the agent's answers, console output, module globs.

use crate::debugger::names::module_display;
use crate::debugger::{DebugError, EngineEvent, OutputCategory};
use crate::rpc::RpcError;
use crate::term::{as_tuple, atom, int, is_atom};
use eetf::{Pid, Term};

/// What a user must know where a node's Erlang installation has no OTP debugger application (a release
/// with bundled ERTS that does not include it): what works, what does not, and the two ways to get it.
pub(super) fn no_debugger_text(nodes: &str, count: usize) -> String {
    let (has, it) = if count == 1 { ("has", "its") } else { ("have", "their") };
    format!(
        "{nodes} {has} no OTP debugger application in {it} Erlang installation (a release with bundled ERTS \
         includes only the applications it lists), so line breakpoints cannot stop there; tracepoints (log \
         points on a function's first line; where `mix release` stripped the debug info they read it from \
         the project's own build of the same code), threads, pause, evaluate, processes, trace and reload still work. To stop there, add \
         `:debugger` to the release's applications (`applications: [debugger: :load]` in mix.exs) or run \
         the node on OTP 28+ with `+D` for native breakpoints"
    )
}

pub(super) fn rpc_err(e: RpcError) -> DebugError {
    e.into()
}

/// A term as text for a message: the one reader of `term::accessors` (binaries, Erlang strings and atoms
/// as their text, anything else as Erlang prints it).
pub(super) use crate::term::text;

pub(super) fn pid_of(t: &Term) -> Option<Pid> {
    match t {
        Term::Pid(p) => Some(p.clone()),
        _ => None,
    }
}

/// The elements after `ok` in `{ok, …}` (at least one).
pub(super) fn ok_value(t: &Term) -> Option<&[Term]> {
    as_tuple(t).filter(|p| p.len() >= 2 && is_atom(&p[0], "ok")).map(|p| &p[1..])
}

/// The reason in an `{error, Reason}` answer as text (the whole answer if it has no reason).
pub(super) fn error_text(t: &Term) -> String {
    as_tuple(t).and_then(|p| p.get(1)).map(text).unwrap_or_else(|| text(t))
}

/// The interpreter's stack level as `orbit_dbg` takes it: `nostack` for the top frame.
pub(super) fn sp_term(sp: Option<i64>) -> Term {
    match sp {
        Some(l) => int(l),
        None => atom("nostack"),
    }
}

/// A line for the debug console.
pub(super) fn output(text: String) -> EngineEvent {
    EngineEvent::Output { category: OutputCategory::Console, text }
}

fn glob_match(pattern: &str, text: &str) -> bool {
    // `*` matches any run of characters; everything else literally.
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Does a glob name this module? Globs are written as the user reads modules (`Bank.*`, `bank_*`).
pub(super) fn module_matches(glob: &str, module: &str) -> bool {
    let glob = glob.trim();
    glob_match(glob, &module_display(module)) || glob_match(glob, module)
}
