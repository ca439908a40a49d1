//! Orbit's helper modules on each node: installed from their Erlang source (scan → parse →
//! `compile:forms` → `code:load_binary`, no files on the target), and replaced only when the source
//! differs from what the node runs.
//!
//! Versioning: Orbit adds `-orbit_source_hash("…")` to each module, a hash of its source text; a node whose
//! module carries another hash (an older or newer Orbit) gets this one, a node with the same hash is left
//! alone.

use crate::link::Link;
use crate::rpc::{self, RpcError};
use crate::term::atom;
use eetf::{ExternalFun, List, Term, Tuple};
use std::time::Duration;

/// One agent module: its name and its source.
#[derive(Debug, Clone, Copy)]
pub struct AgentModule {
    pub name: &'static str,
    pub source: &'static str,
}

/// Every module of the agent, in install order.
pub const MODULES: &[AgentModule] = &[
    AgentModule { name: "orbit_agent", source: include_str!("../agent/orbit_agent.erl") },
    AgentModule { name: "orbit_health", source: include_str!("../agent/orbit_health.erl") },
    AgentModule { name: "orbit_dbg", source: include_str!("../agent/orbit_dbg.erl") },
    AgentModule { name: "orbit_dbg_cond", source: include_str!("../agent/orbit_dbg_cond.erl") },
    AgentModule { name: "orbit_procs", source: include_str!("../agent/orbit_procs.erl") },
    AgentModule { name: "orbit_trace", source: include_str!("../agent/orbit_trace.erl") },
    AgentModule { name: "orbit_reload", source: include_str!("../agent/orbit_reload.erl") },
    AgentModule { name: "orbit_sandbox", source: include_str!("../agent/orbit_sandbox.erl") },
];

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Rpc(#[from] RpcError),
    #[error("{node}: cannot compile Orbit's {module}: {detail}")]
    Compile { node: String, module: &'static str, detail: String },
    #[error("{node}: cannot load Orbit's {module}: {detail}")]
    Load { node: String, module: &'static str, detail: String },
}

/// What `install` did to one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The node already ran this exact source.
    Current,
    /// The module was absent.
    Installed,
    /// Another version was replaced.
    Upgraded,
}

/// FNV-1a over the source: stable across builds and platforms, unlike `DefaultHasher`.
pub fn source_hash(source: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in source.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// The source as installed: the hash attribute joins the `-module` line, so compiler line numbers stay true.
fn stamped_source(m: &AgentModule) -> String {
    let attr = format!(" -orbit_source_hash(\"{}\").", source_hash(m.source));
    let mut out = String::with_capacity(m.source.len() + attr.len() + 1);
    let mut done = false;
    for line in m.source.lines() {
        out.push_str(line);
        if !done && line.trim_start().starts_with("-module(") {
            out.push_str(&attr);
            done = true;
        }
        out.push('\n');
    }
    out
}

/// Installs every agent module on the node behind `link` unless it runs this version already.
pub async fn install(link: &Link) -> Result<Vec<(&'static str, InstallOutcome)>, AgentError> {
    let mut outcomes = Vec::with_capacity(MODULES.len());
    for m in MODULES {
        outcomes.push((m.name, install_module(link, m).await?));
    }
    Ok(outcomes)
}

/// The hash of the agent module the node runs now, if any.
pub async fn installed_hash(link: &Link, module: &str) -> Result<Option<String>, RpcError> {
    let attrs = match call(link, "erlang", "get_module_info", vec![atom(module), atom("attributes")]).await {
        Ok(a) => a,
        // badarg: the module is not loaded.
        Err(e) if e.exception_reason().is_some() => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(find_hash(&attrs))
}

fn find_hash(attrs: &Term) -> Option<String> {
    let Term::List(l) = attrs else { return None };
    for item in &l.elements {
        let Term::Tuple(t) = item else { continue };
        if t.elements.len() != 2 || t.elements[0] != atom("orbit_source_hash") {
            continue;
        }
        // A string attribute value is kept as it is: `{orbit_source_hash, "…"}`.
        if let Term::ByteList(b) = &t.elements[1] {
            return Some(String::from_utf8_lossy(&b.bytes).into_owned());
        }
    }
    None
}

async fn install_module(link: &Link, m: &AgentModule) -> Result<InstallOutcome, AgentError> {
    let want = source_hash(m.source);
    let have = installed_hash(link, m.name).await?;
    if have.as_deref() == Some(want.as_str()) {
        return Ok(InstallOutcome::Current);
    }
    load_from_source(link, m.name, &stamped_source(m)).await?;
    Ok(if have.is_some() { InstallOutcome::Upgraded } else { InstallOutcome::Installed })
}

/// Compiles Erlang source text on the node and loads the result, with no file written there.
/// (`erl_scan` → split after each dot → `erl_parse:parse_form` → `compile:forms` → `code:load_binary`;
/// no preprocessor on this path, so no macros or includes.)
pub async fn load_from_source(link: &Link, module: &'static str, source: &str) -> Result<(), AgentError> {
    let node = link.peer().to_string();
    let compile_err = |detail: String| AgentError::Compile { node: node.clone(), module, detail };

    // scan
    let scanned = call(link, "erl_scan", "string", vec![charlist(source)]).await?;
    let tokens = match tuple_parts(&scanned) {
        Some([ok, Term::List(tokens), _]) if *ok == atom("ok") => tokens.elements.clone(),
        _ => {
            return Err(compile_err(format!(
                "scan failed: {}",
                crate::term::render_erlang(&scanned, &Default::default())
            )))
        }
    };
    // parse each form (split after every dot token)
    let mut forms_tokens: Vec<Term> = Vec::new();
    let mut current = Vec::new();
    for t in tokens {
        let is_dot = matches!(tuple_parts(&t), Some([tag, _]) if *tag == atom("dot"));
        current.push(t);
        if is_dot {
            forms_tokens.push(Term::from(List::from(std::mem::take(&mut current))));
        }
    }
    let parse_form = Term::from(ExternalFun::from(("erl_parse", "parse_form", 1u8)));
    let parsed = call(link, "lists", "map", vec![parse_form, Term::from(List::from(forms_tokens))]).await?;
    let Term::List(parsed) = parsed else { return Err(compile_err("parse returned no list".into())) };
    let mut forms = Vec::with_capacity(parsed.elements.len());
    for p in parsed.elements {
        match tuple_parts(&p) {
            Some([ok, form]) if *ok == atom("ok") => forms.push(form.clone()),
            _ => {
                return Err(compile_err(format!(
                    "parse error: {}",
                    crate::term::render_erlang(&p, &Default::default())
                )))
            }
        }
    }
    // compile
    let opts = Term::from(List::from(vec![atom("binary"), atom("return_errors")]));
    let compiled = call(link, "compile", "forms", vec![Term::from(List::from(forms)), opts]).await?;
    let beam = match tuple_parts(&compiled) {
        Some([ok, _, bin, ..]) if *ok == atom("ok") => bin.clone(),
        _ => return Err(compile_err(crate::term::render_erlang(&compiled, &Default::default()))),
    };
    // load: purge the previous old version first (running sessions move to current code within a second
    // of a load, so a soft purge normally succeeds; a hard purge is the fallback).
    if call(link, "code", "soft_purge", vec![atom(module)]).await? != atom("true") {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        call(link, "code", "purge", vec![atom(module)]).await?;
    }
    let file = charlist(&format!("{}.erl", module));
    let loaded = call(link, "code", "load_binary", vec![atom(module), file, beam]).await?;
    match tuple_parts(&loaded) {
        Some([ok, _]) if *ok == atom("module") => {}
        _ => {
            return Err(AgentError::Load {
                node,
                module,
                detail: crate::term::render_erlang(&loaded, &Default::default()),
            })
        }
    }
    Ok(())
}

/// A session of the agent: clean-ups registered with it run when Orbit's node goes away or `stop` is called.
#[derive(Debug, Clone)]
pub struct Session {
    pub node: String,
    pub pid: eetf::Pid,
}

impl Session {
    /// Starts a session that reports membership changes to `events` (one of Orbit's mailboxes).
    pub async fn start(link: &Link, events: &eetf::Pid) -> Result<Session, AgentError> {
        let me = atom(link.local().name());
        let reply = call(link, "orbit_agent", "start_session", vec![me, Term::from(events.clone())]).await?;
        match tuple_parts(&reply) {
            Some([ok, Term::Pid(pid)]) if *ok == atom("ok") => {
                Ok(Session { node: link.peer().to_string(), pid: pid.clone() })
            }
            _ => Err(AgentError::Load {
                node: link.peer().to_string(),
                module: "orbit_agent",
                detail: format!("start_session returned {}", crate::term::render_erlang(&reply, &Default::default())),
            }),
        }
    }

    /// Runs `M:F(A)` on the node when this session ends, however it ends. The same `key` replaces.
    pub async fn register_cleanup(
        &self,
        link: &Link,
        key: Term,
        m: &str,
        f: &str,
        a: Vec<Term>,
    ) -> Result<(), RpcError> {
        let mfa = Term::from(Tuple::from(vec![atom(m), atom(f), Term::from(List::from(a))]));
        call(link, "orbit_agent", "register_cleanup", vec![Term::from(self.pid.clone()), key, mfa]).await.map(|_| ())
    }

    pub async fn unregister_cleanup(&self, link: &Link, key: Term) -> Result<(), RpcError> {
        call(link, "orbit_agent", "unregister_cleanup", vec![Term::from(self.pid.clone()), key]).await.map(|_| ())
    }

    /// Runs the clean-ups and ends the session.
    pub async fn stop(&self, link: &Link) -> Result<(), RpcError> {
        rpc::call(link, "orbit_agent", "stop_session", vec![Term::from(self.pid.clone())], Duration::from_secs(70))
            .await
            .map(|_| ())
    }
}

async fn call(link: &Link, m: &str, f: &str, args: Vec<Term>) -> Result<Term, RpcError> {
    rpc::call(link, m, f, args, CALL_TIMEOUT).await
}

fn tuple_parts(t: &Term) -> Option<&[Term]> {
    match t {
        Term::Tuple(t) => Some(&t.elements),
        _ => None,
    }
}

/// An Erlang string (a list of code points), as erl_scan wants it.
fn charlist(s: &str) -> Term {
    if s.is_ascii() {
        return Term::from(eetf::ByteList::from(s));
    }
    Term::from(List::from(s.chars().map(|c| Term::from(eetf::FixInteger::from(c as i32))).collect::<Vec<_>>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_changes_with_source() {
        assert_ne!(source_hash("a"), source_hash("b"));
        assert_eq!(source_hash("abc"), source_hash("abc"));
    }

    #[test]
    fn stamp_follows_module_line() {
        let m = AgentModule { name: "x", source: "%% c\n-module(x).\n-export([]).\n" };
        let s = stamped_source(&m);
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[1].starts_with("-module(x). -orbit_source_hash(\""));
        assert_eq!(lines[2], "-export([]).");
    }

    #[test]
    fn agent_sources_declare_their_module() {
        for m in MODULES {
            assert!(m.source.contains(&format!("-module({}).", m.name)), "{}", m.name);
            assert!(!m.source.contains("?MODULE"), "{}: no preprocessor when installing from source", m.name);
        }
    }
}
