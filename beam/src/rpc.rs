//! Calling functions on a node through its `rex` server.
//!
//! Each call is `{'$gen_call', {ReplyPid, Ref}, {call, erpc, execute_call, [Ref, M, F, A], user}}`.
//! Running `erpc:execute_call/4` inside rex makes the callee `exit({Ref, Class, …})` with a tagged
//! result, which rex hands back as `{badrpc, {'EXIT', …}}`: so a return, a throw, an error with its stack
//! and an exit are told apart exactly, which plain rex (a throw looks like a return) cannot do.
//! The group leader `user` makes rex use the node's own `user` process, so code that prints never waits
//! on Orbit for an io reply.

use crate::link::{Link, LinkClosed, Reply, MAX_TERM_DEPTH};
use crate::term::{render_erlang, Limits};
use eetf::{Atom, List, Term, Tuple};
use std::time::Duration;

/// How an exception was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionClass {
    Error,
    Exit,
    Throw,
}

impl std::fmt::Display for ExceptionClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ExceptionClass::Error => "error",
            ExceptionClass::Exit => "exit",
            ExceptionClass::Throw => "throw",
        })
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    #[error("{node}: {mfa} did not answer within {after:?}")]
    Timeout { node: String, mfa: String, after: Duration },

    #[error("{node} is down ({reason}) so {mfa} could not complete")]
    NodeDown { node: String, mfa: String, reason: LinkClosed },

    #[error("{node}: {mfa} raised {class}: {}{}", render(.reason), stack_text(.stack))]
    Exception { node: String, mfa: String, class: ExceptionClass, reason: Term, stack: Term },

    #[error("{node}: {mfa} failed: badrpc {}", render(.reason))]
    BadRpc { node: String, mfa: String, reason: Term },

    #[error("{node}: {mfa} returned a term nested {depth} levels deep; Orbit decodes at most {MAX_TERM_DEPTH} levels")]
    TooDeep { node: String, mfa: String, depth: usize },

    #[error("{node}: cannot send {mfa}: {detail}")]
    Encode { node: String, mfa: String, detail: String },

    /// The agent module the call needs could not be installed on the node.
    #[error("{node}: {mfa} needs Orbit's agent there, which could not be installed: {detail}")]
    Agent { node: String, mfa: String, detail: String },
}

impl RpcError {
    /// The exception reason when the callee raised one.
    pub fn exception_reason(&self) -> Option<(&ExceptionClass, &Term)> {
        match self {
            RpcError::Exception { class, reason, .. } => Some((class, reason)),
            _ => None,
        }
    }

    pub fn is_undef(&self) -> bool {
        matches!(self.exception_reason(), Some((ExceptionClass::Error, Term::Atom(a))) if a.name == "undef")
    }
}

fn render(t: &Term) -> String {
    render_erlang(t, &Limits::default())
}

fn stack_text(stack: &Term) -> String {
    match stack {
        Term::List(l) if !l.elements.is_empty() => format!(" at {}", render(stack)),
        _ => String::new(),
    }
}

/// `M:F(Args)` on the node behind `link`, waiting at most `timeout`.
pub async fn call(link: &Link, m: &str, f: &str, args: Vec<Term>, timeout: Duration) -> Result<Term, RpcError> {
    let node = link.peer().to_string();
    let mfa = || format!("{m}:{f}/{}", args.len());
    let (reply_pid, reference, rx) = link.expect_reply();
    let request = Term::from(Tuple::from(vec![
        atom("$gen_call"),
        Term::from(Tuple::from(vec![Term::from(reply_pid), Term::from(reference.clone())])),
        Term::from(Tuple::from(vec![
            atom("call"),
            atom("erpc"),
            atom("execute_call"),
            Term::from(List::from(vec![
                Term::from(reference.clone()),
                atom(m),
                atom(f),
                Term::from(List::from(args.clone())),
            ])),
            atom("user"),
        ])),
    ]));
    if let Err(reason) = link.send_reg("rex", request) {
        link.forget_reply(&reference);
        return Err(send_error(node, mfa(), reason));
    }
    let reply = match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(Reply::Term(reply))) => reply,
        Ok(Ok(Reply::TooDeep(depth))) => return Err(RpcError::TooDeep { node, mfa: mfa(), depth }),
        Ok(Err(_)) => {
            let reason = link.closed_reason().unwrap_or(LinkClosed::Local);
            return Err(RpcError::NodeDown { node, mfa: mfa(), reason });
        }
        Err(_) => {
            link.forget_reply(&reference);
            return Err(RpcError::Timeout { node, mfa: mfa(), after: timeout });
        }
    };
    decode_reply(reply, &reference).map_err(|e| e.into_error(node, mfa()))
}

enum Failure {
    Exception(ExceptionClass, Term, Term),
    BadRpc(Term),
}

impl Failure {
    fn into_error(self, node: String, mfa: String) -> RpcError {
        match self {
            Failure::Exception(class, reason, stack) => RpcError::Exception { node, mfa, class, reason, stack },
            Failure::BadRpc(reason) => RpcError::BadRpc { node, mfa, reason },
        }
    }
}

/// Unwraps `{badrpc, {'EXIT', {Ref, Class, …}}}` as produced by `erpc:execute_call/4` under rex.
fn decode_reply(reply: Term, reference: &eetf::Reference) -> Result<Term, Failure> {
    let Term::Tuple(Tuple { elements: outer }) = reply else { return Err(Failure::BadRpc(reply)) };
    let [tag, exit] = <[Term; 2]>::try_from(outer).map_err(|v| Failure::BadRpc(Term::from(Tuple::from(v))))?;
    if !is_atom(&tag, "badrpc") {
        return Err(Failure::BadRpc(Term::from(Tuple::from(vec![tag, exit]))));
    }
    let inner = match exit {
        Term::Tuple(Tuple { elements }) if elements.len() == 2 && is_atom(&elements[0], "EXIT") => {
            elements.into_iter().nth(1).unwrap()
        }
        other => return Err(Failure::BadRpc(other)),
    };
    let Term::Tuple(Tuple { elements }) = inner else { return Err(Failure::BadRpc(inner)) };
    let ours = matches!(elements.first(), Some(Term::Reference(r)) if **r == *reference);
    if !ours {
        // rex itself failed (e.g. system_limit) before erpc ran.
        return Err(Failure::BadRpc(Term::from(Tuple::from(elements))));
    }
    let mut it = elements.into_iter().skip(1);
    let class = it.next();
    let value = it.next().unwrap_or_else(|| atom("undefined"));
    let stack = it.next().unwrap_or_else(|| Term::from(List::nil()));
    match class {
        Some(c) if is_atom(&c, "return") => Ok(value),
        Some(c) if is_atom(&c, "throw") => Err(Failure::Exception(ExceptionClass::Throw, value, stack)),
        Some(c) if is_atom(&c, "exit") => Err(Failure::Exception(ExceptionClass::Exit, value, stack)),
        Some(c) if is_atom(&c, "error") => Err(Failure::Exception(ExceptionClass::Error, value, stack)),
        _ => Err(Failure::BadRpc(value)),
    }
}

fn atom(s: &str) -> Term {
    Term::from(Atom::from(s))
}

fn is_atom(t: &Term, name: &str) -> bool {
    matches!(t, Term::Atom(a) if a.name == name)
}

/// `gen_server:call(To, Request)` from Orbit to any gen_server pid on the node behind `link`.
pub async fn gen_call(link: &Link, to: &eetf::Pid, request: Term, timeout: Duration) -> Result<Term, RpcError> {
    let node = link.peer().to_string();
    let what = || "gen_server:call/3".to_string();
    let (reply_pid, reference, rx) = link.expect_reply();
    let msg = Term::from(Tuple::from(vec![
        atom("$gen_call"),
        Term::from(Tuple::from(vec![Term::from(reply_pid), Term::from(reference.clone())])),
        request,
    ]));
    if let Err(reason) = link.send(to, msg) {
        link.forget_reply(&reference);
        return Err(send_error(node, what(), reason));
    }
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(Reply::Term(reply))) => Ok(reply),
        Ok(Ok(Reply::TooDeep(depth))) => Err(RpcError::TooDeep { node, mfa: what(), depth }),
        Ok(Err(_)) => {
            Err(RpcError::NodeDown { node, mfa: what(), reason: link.closed_reason().unwrap_or(LinkClosed::Local) })
        }
        Err(_) => {
            link.forget_reply(&reference);
            Err(RpcError::Timeout { node, mfa: what(), after: timeout })
        }
    }
}

/// `gen_server:cast(To, Request)`.
pub fn gen_cast(link: &Link, to: &eetf::Pid, request: Term) -> Result<(), RpcError> {
    let msg = Term::from(Tuple::from(vec![atom("$gen_cast"), request]));
    link.send(to, msg).map_err(|reason| send_error(link.peer().to_string(), "gen_server:cast/2".into(), reason))
}

/// A request the link did not send: one the node would refuse (the link stays up), or a link that is down.
fn send_error(node: String, mfa: String, reason: LinkClosed) -> RpcError {
    match reason {
        LinkClosed::Unsendable(detail) => RpcError::Encode { node, mfa, detail },
        reason => RpcError::NodeDown { node, mfa, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> eetf::Reference {
        eetf::Reference { node: Atom::from("orbit@h"), id: vec![1, 2, 3], creation: 7 }
    }

    fn reply(parts: Vec<Term>) -> Term {
        Term::from(Tuple::from(vec![
            atom("badrpc"),
            Term::from(Tuple::from(vec![atom("EXIT"), Term::from(Tuple::from(parts))])),
        ]))
    }

    #[test]
    fn decodes_return_throw_error_exit() {
        let r = reference();
        let rt = Term::from(r.clone());
        assert_eq!(decode_reply(reply(vec![rt.clone(), atom("return"), atom("ok")]), &r).ok(), Some(atom("ok")));
        let e = decode_reply(reply(vec![rt.clone(), atom("throw"), atom("x")]), &r).err().unwrap();
        assert!(matches!(e, Failure::Exception(ExceptionClass::Throw, _, _)));
        let e = decode_reply(reply(vec![rt.clone(), atom("error"), atom("badarg"), Term::from(List::nil())]), &r);
        assert!(matches!(e.err().unwrap(), Failure::Exception(ExceptionClass::Error, _, _)));
        let e = decode_reply(reply(vec![rt, atom("exit"), atom("normal")]), &r).err().unwrap();
        assert!(matches!(e, Failure::Exception(ExceptionClass::Exit, _, _)));
    }

    #[test]
    fn anything_else_is_badrpc() {
        let r = reference();
        assert!(matches!(decode_reply(atom("weird"), &r).err().unwrap(), Failure::BadRpc(_)));
        let other = Term::from(Tuple::from(vec![atom("badrpc"), atom("nodedown")]));
        assert!(matches!(decode_reply(other, &r).err().unwrap(), Failure::BadRpc(_)));
        let foreign = reply(vec![atom("system_limit")]);
        assert!(matches!(decode_reply(foreign, &r).err().unwrap(), Failure::BadRpc(_)));
        // A pair that is no badrpc, and an outcome erpc does not give, are what they are.
        let pair = Term::from(Tuple::from(vec![atom("ok"), atom("x")]));
        let e = decode_reply(pair, &r).err().unwrap().into_error("n@h".into(), "m:f/0".into());
        assert_eq!(e.to_string(), "n@h: m:f/0 failed: badrpc {ok,x}");
        let odd = reply(vec![Term::from(r.clone()), atom("odd"), atom("v")]);
        let e = decode_reply(odd, &r).err().unwrap().into_error("n@h".into(), "m:f/0".into());
        assert!(matches!(&e, RpcError::BadRpc { reason, .. } if *reason == atom("v")), "{e:?}");
    }
}
