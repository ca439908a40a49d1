//! The calls: node names resolved, the checks before anything changes, tracers started and stopped.

use super::collector::{Collector, Scope, Shared};
use super::handle::TraceSession;
use super::model::{
    CallTrace, MatchSpec, MessageTrace, NodeStatus, SessionLimit, TraceError, TraceSpec, TraceUpdate, UPDATES_MAX,
};
use super::wire::{near_hint, node_error, started_status, Plan};
use crate::cluster::Cluster;
use crate::term::{
    as_atom, as_integer, as_list, as_str, as_tuple, atom, binary, list, map_get_atom, render_erlang, tuple, Limits,
};
use crate::trace::pattern::{PatternError, ProcessSelector};
use eetf::{Pid, Term};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The pid `text` (`<0.123.0>`) names on `node`.
pub async fn pid_on(cluster: &Cluster, node: &str, text: &str) -> Result<Pid, TraceError> {
    let bad = || TraceError::Pattern(PatternError { text: text.into(), reason: "not a pid such as <0.123.0>".into() });
    let t = ProcessSelector::pid_text(text).ok_or_else(bad)?;
    let r = cluster
        .call(node, "erlang", "list_to_pid", vec![Term::from(eetf::ByteList::from(t.as_str()))], cluster.call_timeout())
        .await;
    match r {
        Ok(Term::Pid(p)) => Ok(p),
        Ok(_) => Err(bad()),
        Err(e) if e.exception_reason().is_some() => Err(bad()),
        Err(e) => Err(e.into()),
    }
}

/// Starts a trace session: checks the spec and every node first (nothing changes on any node when a
/// check fails), then starts a tracer on each chosen node.
pub async fn start(cluster: &Cluster, spec: TraceSpec) -> Result<TraceSession, TraceError> {
    spec.limit.validate().map_err(TraceError::Limit)?;
    cluster.refuse_unbounded_trace(&spec.limit)?;
    let messages = spec.messages.clone().filter(|m| !m.processes.is_empty() && (m.send || m.receive));
    if spec.calls.is_empty() && messages.is_none() {
        return Err(TraceError::Empty);
    }
    for c in &spec.calls {
        c.pattern.check_safety(c.match_spec.is_some())?;
    }
    let nodes = match &spec.nodes {
        Some(names) if !names.is_empty() => cluster.resolve_nodes(names)?,
        _ => cluster.up_nodes(),
    };
    if nodes.is_empty() {
        return Err(TraceError::NoNodes);
    }
    for n in &nodes {
        if cluster.session(n).is_none() {
            return Err(TraceError::NoAgent { node: n.clone() });
        }
    }
    let timeout = cluster.call_timeout();
    let mut calls = Vec::with_capacity(spec.calls.len());
    for c in &spec.calls {
        let (ms, arity) = compile_match_spec(cluster, &nodes[0], c, timeout).await?;
        let mut pattern = c.pattern.clone();
        if pattern.arity.is_none() {
            pattern.arity = arity;
        }
        calls.push((pattern.to_string(), pattern.mfa_term(), ms));
    }
    let mut msg_flags = Vec::new();
    let mut procs = Vec::new();
    if let Some(m) = &messages {
        if m.send {
            msg_flags.push(atom("send"));
        }
        if m.receive {
            msg_flags.push(atom("receive"));
        }
        for p in &m.processes {
            procs.push(match p {
                ProcessSelector::All => atom("all"),
                ProcessSelector::New => atom("new"),
                ProcessSelector::Name(n) => tuple(vec![atom("name"), atom(n)]),
                ProcessSelector::Pid(pid) => tuple(vec![atom("pid"), Term::from(pid.clone())]),
            });
        }
    }
    let mailbox = cluster.open_mailbox();
    let plan = Arc::new(Plan {
        id: mailbox.pid().clone(),
        owner: cluster.local_name().to_string(),
        calls,
        procs,
        msg_flags,
        limit: spec.limit,
        duration: spec.duration,
        timeout,
    });
    check_nodes(cluster, &plan, &nodes, messages.as_ref()).await?;

    let started = futures::future::join_all(nodes.iter().map(|n| start_on_node(cluster, &plan, n))).await;
    let mut statuses = BTreeMap::new();
    let mut failure = None;
    for (node, r) in nodes.iter().zip(started) {
        match r {
            Ok(s) => {
                statuses.insert(node.clone(), s);
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        futures::future::join_all(statuses.keys().map(|n| stop_on_node(cluster, &plan, n))).await;
        return Err(e);
    }

    let (updates_tx, updates_rx) = mpsc::channel(UPDATES_MAX);
    for (node, s) in &statuses {
        let _ = updates_tx.try_send(TraceUpdate::NodeStarted {
            node: node.clone(),
            matched: s.matched.clone(),
            processes: s.processes,
        });
    }
    let shared = Arc::new(Mutex::new(Shared { nodes: statuses, ..Shared::default() }));
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = watch::channel(None);
    let scope = match &spec.nodes {
        Some(names) if !names.is_empty() => Scope::Only(nodes.clone()),
        _ if spec.follow_new_nodes => Scope::AllNodes,
        _ => Scope::Only(nodes.clone()),
    };
    let collector = Collector {
        cluster: cluster.clone(),
        plan: plan.clone(),
        events: cluster.subscribe(),
        mailbox,
        scope,
        active: nodes.iter().cloned().collect(),
        shared: shared.clone(),
        updates: updates_tx,
        control: control_rx,
        done: done_tx,
        limit: SessionLimit::new(spec.limit),
        pending_stop: None,
        deadline: spec.duration.map(|d| tokio::time::Instant::now() + d),
    };
    let task = tokio::spawn(collector.run());
    Ok(TraceSession {
        id: plan.id.clone(),
        syntax: spec.syntax(),
        updates: updates_rx,
        shared,
        control: control_tx,
        done: done_rx,
        task: Some(task),
    })
}

/// `true`, or the match spec (compiled on `node` when written as text), with `{exception_trace}` added
/// to each clause when return values are wanted; and the arity an Elixir call form fixes.
pub(super) async fn compile_match_spec(
    cluster: &Cluster,
    node: &str,
    c: &CallTrace,
    timeout: Duration,
) -> Result<(Term, Option<u8>), TraceError> {
    let mut shown = c.pattern.to_string();
    let mut arity = None;
    let ms = match &c.match_spec {
        None => None,
        Some(MatchSpec::Term(t)) => Some(t.clone()),
        Some(MatchSpec::Elixir(text)) => {
            shown = text.clone();
            let r = cluster.call(node, "orbit_trace", "elixir_ms", vec![binary(text.as_bytes())], timeout).await?;
            match as_tuple(&r) {
                Some([ok, n, ms]) if as_atom(ok) == Some("ok") => {
                    arity = as_integer(n).and_then(|n| u8::try_from(n).ok());
                    Some(ms.clone())
                }
                Some([_, why]) => {
                    let detail =
                        as_str(why).map(str::to_string).unwrap_or_else(|| render_erlang(why, &Limits::default()));
                    return Err(TraceError::Condition { pattern: shown, detail });
                }
                _ => {
                    return Err(TraceError::Condition { pattern: shown, detail: render_erlang(&r, &Limits::default()) })
                }
            }
        }
        Some(MatchSpec::Fun(text)) | Some(MatchSpec::Text(text)) => {
            let f = if matches!(c.match_spec, Some(MatchSpec::Fun(_))) { "fun_to_ms" } else { "parse_ms" };
            let r = cluster.call(node, "orbit_trace", f, vec![binary(text.as_bytes())], timeout).await?;
            match as_tuple(&r) {
                Some([ok, ms]) if as_atom(ok) == Some("ok") => Some(ms.clone()),
                Some([_, why]) => {
                    let detail =
                        as_str(why).map(str::to_string).unwrap_or_else(|| render_erlang(why, &Limits::default()));
                    return Err(TraceError::MatchSpec { pattern: shown, detail });
                }
                _ => {
                    return Err(TraceError::MatchSpec { pattern: shown, detail: render_erlang(&r, &Limits::default()) })
                }
            }
        }
    };
    let Some(ms) = ms else {
        return Ok((
            if c.return_values {
                list(vec![tuple(vec![atom("_"), list(vec![]), list(vec![tuple(vec![atom("exception_trace")])])])])
            } else {
                atom("true")
            },
            None,
        ));
    };
    let clauses = as_list(&ms).ok_or_else(|| TraceError::MatchSpec {
        pattern: shown.clone(),
        detail: "a match spec is a list of clauses".into(),
    })?;
    let mut out = Vec::with_capacity(clauses.len());
    for clause in clauses.iter() {
        let Some([head, guards, body]) = as_tuple(clause) else {
            return Err(TraceError::MatchSpec { pattern: shown, detail: "each clause is {Head, Guards, Body}".into() });
        };
        if let (Some(n), Some(args)) = (c.pattern.arity, as_list(head)) {
            if args.len() != usize::from(n) {
                return Err(TraceError::MatchSpec {
                    pattern: shown,
                    detail: format!("its head takes {} arguments but the function takes {n}", args.len()),
                });
            }
        }
        let mut body: Vec<Term> = as_list(body).map(|b| b.into_owned()).unwrap_or_default();
        let traces_returns = body.iter().any(
            |b| matches!(as_tuple(b), Some([a]) if matches!(as_atom(a), Some("return_trace" | "exception_trace"))),
        );
        if c.return_values && !traces_returns {
            body.push(tuple(vec![atom("exception_trace")]));
        }
        out.push(tuple(vec![head.clone(), guards.clone(), list(body)]));
    }
    Ok((list(out), arity))
}

/// Runs `orbit_trace:check/1` on every node: refuses busy nodes, bad match specs, patterns that match
/// nothing anywhere and named processes that exist nowhere.
pub(super) async fn check_nodes(
    cluster: &Cluster,
    plan: &Plan,
    nodes: &[String],
    messages: Option<&MessageTrace>,
) -> Result<(), TraceError> {
    let opts = plan.opts();
    let answers = futures::future::join_all(
        nodes.iter().map(|n| cluster.call(n, "orbit_trace", "check", vec![opts.clone()], plan.timeout)),
    )
    .await;
    let mut matched = vec![0u64; plan.calls.len()];
    let mut hints: Vec<Option<String>> = vec![None; plan.calls.len()];
    let mut found = vec![false; plan.procs.len()];
    for (node, answer) in nodes.iter().zip(answers) {
        let answer = answer?;
        let info = match as_tuple(&answer) {
            Some([ok, info]) if as_atom(ok) == Some("ok") => info.clone(),
            Some([_, reason]) => return Err(node_error(node, reason, plan)),
            _ => {
                return Err(TraceError::Node { node: node.clone(), detail: render_erlang(&answer, &Limits::default()) })
            }
        };
        if let Some(calls) = map_get_atom(&info, "calls").and_then(as_list) {
            for (i, c) in calls.iter().enumerate().take(matched.len()) {
                let Some([m, f, _, count, near]) = as_tuple(c) else { continue };
                matched[i] += as_integer(count).unwrap_or(0) as u64;
                if hints[i].is_none() {
                    hints[i] = near_hint(m, f, near);
                }
            }
        }
        if let Some(procs) = map_get_atom(&info, "procs").and_then(as_list) {
            for (i, p) in procs.iter().enumerate().take(found.len()) {
                if matches!(as_tuple(p), Some([_, yes]) if as_atom(yes) == Some("true")) {
                    found[i] = true;
                }
            }
        }
    }
    for (i, (pattern, _, _)) in plan.calls.iter().enumerate() {
        if matched[i] == 0 {
            let hint = hints[i].clone().unwrap_or_default();
            return Err(TraceError::NoMatch { pattern: pattern.clone(), hint });
        }
    }
    if let Some(m) = messages {
        for (i, p) in m.processes.iter().enumerate() {
            if !found.get(i).copied().unwrap_or(true) {
                return Err(TraceError::NoProcess { process: p.to_string() });
            }
        }
    }
    Ok(())
}

/// Registers the clean-up, then starts the node's tracer; undoes both when the start fails.
pub(super) async fn start_on_node(cluster: &Cluster, plan: &Plan, node: &str) -> Result<NodeStatus, TraceError> {
    let args = vec![Term::from(plan.id.clone()), plan.patterns()];
    cluster.register_cleanup(node, plan.cleanup_key(), "orbit_trace", "stop", args).await?;
    let reply = cluster.call(node, "orbit_trace", "start", vec![plan.opts()], plan.timeout).await;
    let result = match reply {
        Ok(r) => match as_tuple(&r) {
            Some([ok, info]) if as_atom(ok) == Some("ok") => Ok(started_status(plan, info)),
            Some([_, reason]) => Err(node_error(node, reason, plan)),
            _ => Err(TraceError::Node { node: node.into(), detail: render_erlang(&r, &Limits::default()) }),
        },
        Err(e) => Err(e.into()),
    };
    if result.is_err() {
        stop_on_node(cluster, plan, node).await;
    }
    result
}

/// Stops the node's tracer of this session (its own clean-up: flags and patterns go) and drops the
/// registered clean-up. Errors are logged: the agent runs the clean-up anyway when Orbit goes.
pub(super) async fn stop_on_node(cluster: &Cluster, plan: &Plan, node: &str) {
    let args = vec![Term::from(plan.id.clone()), plan.patterns()];
    if let Err(e) = cluster.call(node, "orbit_trace", "stop", args, plan.timeout.max(Duration::from_secs(15))).await {
        tracing::warn!("stopping the trace on {node}: {e}");
        return;
    }
    if let Err(e) = cluster.unregister_cleanup(node, plan.cleanup_key()).await {
        tracing::debug!("unregistering the trace clean-up on {node}: {e}");
    }
}
