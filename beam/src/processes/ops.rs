//! The calls: list across the cluster, resolve, details, kill, the graph of links and monitors, and
//! supervision trees.

use super::model::{
    sort_merged, EdgeKind, GraphEdge, GraphVertex, InfoOptions, KillOutcome, ProcessError, ProcessGraph, ProcessInfo,
    ProcessPage, ProcessQuery, ProcessRef, ProcessSpec, ProcessSummary, SupervisionNode, MAX_WINDOW, STATUSES,
};
use super::wire::{list_error, local_pid_text, name_text, parse_info, parse_sup, shape};
use crate::cluster::Cluster;
use crate::term::{
    as_integer, as_list, as_tuple, atom, binary, int, is_atom, map, map_get_atom, render_elixir, tuple, Limits,
};
use eetf::{Pid, Term};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

/// Lists processes across the cluster. Each node sorts its own processes and sends the first
/// `offset + limit`; Orbit merges those and cuts the page.
pub async fn list(cluster: &Cluster, query: &ProcessQuery, timeout: Duration) -> Result<ProcessPage, ProcessError> {
    if let Some(s) = &query.status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ProcessError::BadStatus { status: s.clone() });
        }
    }
    let limit = query.limit.max(1);
    let window = query.offset.saturating_add(limit);
    if window > MAX_WINDOW {
        return Err(ProcessError::Invalid(format!(
            "page too far: offset {} + limit {limit} exceeds {MAX_WINDOW}; narrow the filters instead",
            query.offset
        )));
    }
    let nodes = if query.nodes.is_empty() {
        cluster.up_nodes()
    } else {
        for n in &query.nodes {
            cluster.require_up(n)?;
        }
        query.nodes.clone()
    };
    let mut opts = vec![
        (atom("sort"), atom(query.sort.agent_key())),
        (atom("limit"), int(window as i64)),
        (atom("min_queue"), int(query.min_queue.min(i64::MAX as u64) as i64)),
    ];
    for (key, value) in [
        ("name", &query.name),
        ("module", &query.module),
        ("initial_call", &query.initial_call),
        ("status", &query.status),
    ] {
        if let Some(v) = value {
            opts.push((atom(key), binary(v.as_bytes())));
        }
    }
    let opts = map(opts);
    let answers = futures::future::join_all(nodes.iter().map(|n| {
        let opts = opts.clone();
        async move { (n.clone(), cluster.call(n, "orbit_procs", "list", vec![opts], timeout).await) }
    }))
    .await;

    let mut all = Vec::new();
    let mut per_node = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for (node, answer) in answers {
        let t = match answer {
            Ok(t) => t,
            Err(e) => {
                errors.insert(node, e.to_string());
                continue;
            }
        };
        match as_tuple(&t) {
            Some([ok, m]) if is_atom(ok, "ok") => {
                let total = map_get_atom(m, "total").and_then(as_integer).unwrap_or(0).max(0) as u64;
                per_node.insert(node.clone(), total);
                let procs = map_get_atom(m, "processes").and_then(as_list).ok_or_else(|| shape(&node, &t))?;
                for p in procs.iter() {
                    all.push(ProcessSummary::from_term(&node, p).ok_or_else(|| shape(&node, p))?);
                }
            }
            Some([err, reason]) if is_atom(err, "error") => return Err(list_error(&node, reason)),
            _ => return Err(shape(&node, &t)),
        }
    }
    if per_node.is_empty() && !errors.is_empty() {
        let (node, e) = errors.into_iter().next().unwrap();
        return Err(ProcessError::Invalid(format!("no node answered; {node}: {e}")));
    }
    sort_merged(&mut all, query.sort);
    let processes = all.into_iter().skip(query.offset).take(limit).collect();
    Ok(ProcessPage {
        processes,
        total: per_node.values().sum(),
        offset: query.offset,
        limit,
        sort: query.sort,
        per_node,
        errors,
    })
}

/// Finds the process on `node`.
pub async fn resolve(
    cluster: &Cluster,
    node: &str,
    spec: &ProcessSpec,
    timeout: Duration,
) -> Result<Pid, ProcessError> {
    cluster.require_up(node)?;
    let t = cluster.call(node, "orbit_procs", "resolve", vec![binary(spec.text().as_bytes())], timeout).await?;
    match as_tuple(&t) {
        Some([ok, Term::Pid(p)]) if is_atom(ok, "ok") => Ok(p.clone()),
        Some([err, reason]) if is_atom(err, "error") => Err(match as_tuple(reason) {
            Some([tag, _]) if is_atom(tag, "noproc") => {
                ProcessError::NoProcess { node: node.to_string(), pid: format!("#PID{}", spec.text()) }
            }
            Some([tag, _]) if is_atom(tag, "not_registered") => {
                ProcessError::NotRegistered { node: node.to_string(), name: spec.text().to_string() }
            }
            Some([tag, _]) if is_atom(tag, "bad_pid") || is_atom(tag, "not_local") => {
                ProcessError::BadPid(format!("{} is not a pid on {node}", spec.text()))
            }
            _ => shape(node, &t),
        }),
        _ => Err(shape(node, &t)),
    }
}

/// Everything about one process: info, stacktrace with files and lines, state, links and monitors.
pub async fn info(
    cluster: &Cluster,
    node: &str,
    spec: &ProcessSpec,
    options: InfoOptions,
    timeout: Duration,
) -> Result<ProcessInfo, ProcessError> {
    let pid = resolve(cluster, node, spec, timeout).await?;
    let opts = map(vec![
        (atom("state_timeout"), int(options.state_timeout.as_millis().min(600_000) as i64)),
        (atom("messages"), int(options.max_messages.min(10_000) as i64)),
    ]);
    let t = cluster
        .call(node, "orbit_procs", "info", vec![Term::from(pid.clone()), opts], timeout + options.state_timeout)
        .await?;
    match as_tuple(&t) {
        Some([ok, m]) if is_atom(ok, "ok") => parse_info(node, &pid, m).ok_or_else(|| shape(node, &t)),
        Some([err, _]) if is_atom(err, "error") => {
            Err(ProcessError::NoProcess { node: node.to_string(), pid: local_pid_text(&pid) })
        }
        _ => Err(shape(node, &t)),
    }
}

/// `Process.exit(pid, reason)` on the process's node, then waits up to `wait` for it to go.
pub async fn kill(
    cluster: &Cluster,
    node: &str,
    spec: &ProcessSpec,
    reason: Term,
    wait: Duration,
    timeout: Duration,
) -> Result<KillOutcome, ProcessError> {
    let target = match spec {
        ProcessSpec::Pid(p) => format!("{p} on {node}"),
        ProcessSpec::Name(n) => format!("{n} on {node}"),
    };
    cluster.refuse(crate::read_only::Change::Kill { process: &target })?;
    let pid = resolve(cluster, node, spec, timeout).await?;
    let args = vec![Term::from(pid.clone()), reason, int(wait.as_millis().min(600_000) as i64)];
    let t = cluster.call(node, "orbit_procs", "kill", args, timeout + wait).await?;
    match as_tuple(&t) {
        Some([ok, outcome]) if is_atom(ok, "ok") => match as_tuple(outcome) {
            Some([tag, why]) if is_atom(tag, "exited") => {
                Ok(KillOutcome::Exited { reason: render_elixir(why, &Limits::default()) })
            }
            _ if is_atom(outcome, "still_alive") => Ok(KillOutcome::StillAlive),
            _ => Err(shape(node, &t)),
        },
        Some([err, _]) if is_atom(err, "error") => {
            Err(ProcessError::NoProcess { node: node.to_string(), pid: local_pid_text(&pid) })
        }
        _ => Err(shape(node, &t)),
    }
}

/// Walks links and monitors from a process up to `depth` hops, asking each process's own node about it,
/// and stops after `max_vertices` processes.
pub async fn graph(
    cluster: &Cluster,
    node: &str,
    spec: &ProcessSpec,
    depth: usize,
    max_vertices: usize,
    timeout: Duration,
) -> Result<ProcessGraph, ProcessError> {
    let root_pid = resolve(cluster, node, spec, timeout).await?;
    let root = ProcessRef::from_term(&Term::from(root_pid.clone())).expect("a pid");
    let up: BTreeSet<String> = cluster.up_nodes().into_iter().collect();
    let mut vertices: BTreeMap<ProcessRef, GraphVertex> = BTreeMap::new();
    let mut edges: BTreeSet<GraphEdge> = BTreeSet::new();
    let mut truncated = false;
    vertices.insert(
        root.clone(),
        GraphVertex { process: root.clone(), registered_name: None, distance: 0, unexpanded: true },
    );
    let mut frontier: VecDeque<(Pid, usize)> = VecDeque::from([(root_pid, 0)]);
    while !frontier.is_empty() {
        // One round per distance: every pid at this distance, grouped by node, one call per node.
        let dist = frontier.front().map(|(_, d)| *d).unwrap_or(0);
        let mut by_node: HashMap<String, Vec<Pid>> = HashMap::new();
        while frontier.front().is_some_and(|(_, d)| *d == dist) {
            let (p, _) = frontier.pop_front().unwrap();
            by_node.entry(p.node.name.clone()).or_default().push(p);
        }
        let answers = futures::future::join_all(by_node.into_iter().map(|(n, pids)| async move {
            let arg = crate::term::list(pids.into_iter().map(Term::from).collect());
            let r = cluster.call(&n, "orbit_procs", "neighbours", vec![arg], timeout).await;
            (n, r)
        }))
        .await;
        for (n, answer) in answers {
            let answer = answer?;
            for entry in as_list(&answer).ok_or_else(|| shape(&n, &answer))?.iter() {
                let Some([Term::Pid(p), info]) = as_tuple(entry) else { continue };
                let me = ProcessRef::from_term(&Term::from(p.clone())).expect("a pid");
                if let Some(v) = vertices.get_mut(&me) {
                    v.unexpanded = false;
                    v.registered_name = map_get_atom(info, "registered_name").and_then(name_text);
                }
                let mut add = |other: &Term, kind: EdgeKind, outgoing: bool| {
                    let Some(o) = ProcessRef::from_term(other) else { return };
                    // Past the depth, only ties between processes already in the graph are kept.
                    if dist >= depth && !vertices.contains_key(&o) {
                        return;
                    }
                    let edge = match (kind, outgoing) {
                        (EdgeKind::Link, _) => {
                            let (a, b) = if me <= o { (me.clone(), o.clone()) } else { (o.clone(), me.clone()) };
                            GraphEdge { from: a, to: b, kind }
                        }
                        (_, true) => GraphEdge { from: me.clone(), to: o.clone(), kind },
                        (_, false) => GraphEdge { from: o.clone(), to: me.clone(), kind },
                    };
                    edges.insert(edge);
                    if vertices.contains_key(&o) {
                        return;
                    }
                    if vertices.len() >= max_vertices {
                        truncated = true;
                        return;
                    }
                    vertices.insert(
                        o.clone(),
                        GraphVertex { process: o.clone(), registered_name: None, distance: dist + 1, unexpanded: true },
                    );
                    if let Term::Pid(op) = other {
                        if dist < depth && up.contains(&op.node.name) {
                            frontier.push_back((op.clone(), dist + 1));
                        }
                    }
                };
                for l in map_get_atom(info, "links").and_then(as_list).unwrap_or_default().iter() {
                    add(l, EdgeKind::Link, true);
                }
                for l in map_get_atom(info, "monitors").and_then(as_list).unwrap_or_default().iter() {
                    add(l, EdgeKind::Monitor, true);
                }
                for l in map_get_atom(info, "monitored_by").and_then(as_list).unwrap_or_default().iter() {
                    add(l, EdgeKind::Monitor, false);
                }
            }
        }
        if dist >= depth {
            break;
        }
    }
    // Edges only between kept vertices.
    let edges: Vec<GraphEdge> =
        edges.into_iter().filter(|e| vertices.contains_key(&e.from) && vertices.contains_key(&e.to)).collect();
    let mut vertices: Vec<GraphVertex> = vertices.into_values().collect();
    vertices.sort_by(|a, b| a.distance.cmp(&b.distance).then_with(|| a.process.cmp(&b.process)));
    Ok(ProcessGraph { root, vertices, edges, truncated })
}

/// The supervision tree of an application (`bank`, `:bank`) or of a registered supervisor
/// (`Bank.Supervisor`), on each of `nodes` (every node that is up when empty). A child that lives on
/// another node is expanded there. Nodes where the target does not exist are left out; when it exists
/// nowhere, that is an error.
pub async fn supervision_tree(
    cluster: &Cluster,
    target: &str,
    nodes: &[String],
    depth: usize,
    timeout: Duration,
) -> Result<Vec<SupervisionNode>, ProcessError> {
    let target = target.trim();
    if target.is_empty() {
        return Err(ProcessError::Invalid("name an application or a supervisor".into()));
    }
    let nodes = if nodes.is_empty() {
        cluster.up_nodes()
    } else {
        for n in nodes {
            cluster.require_up(n)?;
        }
        nodes.to_vec()
    };
    let spec = match ProcessSpec::parse(target)? {
        ProcessSpec::Pid(p) => p,
        ProcessSpec::Name(n) => n,
    };
    let depth_term = int(depth.min(1000) as i64);
    let answers = futures::future::join_all(nodes.iter().map(|n| {
        let arg = if spec.starts_with('<') { None } else { Some(tuple(vec![atom("name"), binary(spec.as_bytes())])) };
        let depth_term = depth_term.clone();
        let spec = spec.clone();
        async move {
            let arg = match arg {
                Some(a) => a,
                None => {
                    let pid = resolve(cluster, n, &ProcessSpec::Pid(spec), timeout).await?;
                    tuple(vec![atom("pid"), Term::from(pid)])
                }
            };
            let t = cluster.call(n, "orbit_procs", "sup_tree", vec![arg, depth_term], timeout).await?;
            Ok::<_, ProcessError>((n.clone(), t))
        }
    }))
    .await;
    let mut trees = Vec::new();
    let mut first_error = None;
    for answer in answers {
        let (node, t) = match answer {
            Ok(x) => x,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        match as_tuple(&t) {
            Some([ok, tree]) if is_atom(ok, "ok") => {
                let mut tree = parse_sup(&node, tree).ok_or_else(|| shape(&node, &t))?;
                expand_remote(cluster, &mut tree, depth, timeout).await;
                trees.push(tree);
            }
            Some([err, _]) if is_atom(err, "error") => {}
            _ => return Err(shape(&node, &t)),
        }
    }
    if trees.is_empty() {
        return Err(first_error.unwrap_or(ProcessError::UnknownTarget { target: target.to_string(), nodes }));
    }
    Ok(trees)
}

/// Children that live on another node than their supervisor are listed on their own node. Their own
/// remote children are not followed again: one hop covers what supervisors do in practice.
pub(super) async fn expand_remote(cluster: &Cluster, tree: &mut SupervisionNode, depth: usize, timeout: Duration) {
    let mut stack: Vec<&mut SupervisionNode> = vec![tree];
    let mut remote: Vec<&mut SupervisionNode> = Vec::new();
    while let Some(n) = stack.pop() {
        if n.remote {
            remote.push(n);
        } else {
            stack.extend(n.children.iter_mut());
        }
    }
    for n in remote {
        n.remote = false;
        let Some(pid) = n.pid_term.clone() else { continue };
        let node = pid.node.name.clone();
        if cluster.require_up(&node).is_err() {
            n.error = Some(format!("{node} is not reachable from Orbit"));
            continue;
        }
        let arg = tuple(vec![atom("pid"), Term::from(pid)]);
        let depth = if n.kind == "supervisor" { depth.min(1000) as i64 } else { 0 };
        match cluster.call(&node, "orbit_procs", "sup_tree", vec![arg, int(depth)], timeout).await {
            Ok(t) => match as_tuple(&t) {
                Some([ok, sub]) if is_atom(ok, "ok") => {
                    if let Some(mut sub) = parse_sup(&node, sub) {
                        sub.id = n.id.take();
                        sub.kind = n.kind.clone();
                        sub.modules = std::mem::take(&mut n.modules);
                        *n = sub;
                    }
                }
                _ => n.error = Some(render_elixir(&t, &Limits::default())),
            },
            Err(e) => n.error = Some(e.to_string()),
        }
    }
}
