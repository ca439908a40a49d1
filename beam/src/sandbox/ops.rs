//! The calls: start, list, destroy, migrate and balance sandboxes.

use super::model::{
    before_counts, plan_balance, BalanceReport, Children, CreateOptions, MigrateReport, Sandbox, SandboxError,
    SandboxStatus,
};
use super::wire::{bin, child_id, describe_handoff, expect_ok, expect_ok_value, sandbox_from, show, version, Version};
use crate::cluster::Cluster;
use crate::rpc::RpcError;
use crate::term::{as_atom, as_binary, as_integer, as_list, as_tuple, atom, is_atom, map, map_get_atom};
use eetf::Term;
use std::collections::BTreeMap;
use std::time::Duration;

/// Refuses sandbox `operation` in read-only mode.
pub(super) fn refuse(cluster: &Cluster, operation: &str) -> Result<(), SandboxError> {
    Ok(cluster.refuse(crate::read_only::Change::Sandbox { operation })?)
}

/// Starts the sandbox supervisor (and its registry) on every node that is up, where it is not running.
pub async fn ensure_started(cluster: &Cluster, timeout: Duration) -> Result<(), SandboxError> {
    refuse(cluster, "supervisor start")?;
    let results = cluster.call_all("orbit_sandbox", "ensure_started", vec![], timeout).await;
    for (node, r) in results {
        let t = r?;
        if !is_atom(&t, "ok") {
            return Err(SandboxError::Refused { node, detail: format!("sandbox supervisor: {}", show(&t)) });
        }
    }
    Ok(())
}

/// Where a new sandbox goes when no node is named: the best placement score, `exclude` left out.
pub(super) async fn place(cluster: &Cluster, exclude: &[String]) -> Option<String> {
    crate::health::best_node(cluster, exclude).await
}

/// Starts sandbox `id` running `children`.
pub async fn create(
    cluster: &Cluster,
    id: &str,
    children: &Children,
    options: &CreateOptions,
) -> Result<Sandbox, SandboxError> {
    refuse(cluster, "create")?;
    let node = match &options.node {
        Some(n) => {
            cluster.require_up(n)?;
            n.clone()
        }
        None => place(cluster, &[]).await.ok_or(SandboxError::NoNodes)?,
    };
    ensure_started(cluster, options.timeout).await?;
    let opts = map(vec![(atom("strategy"), options.strategy.atom())]);
    let reply = cluster
        .call(&node, "orbit_sandbox", "create", vec![bin(id), children.to_term(), opts], options.timeout)
        .await?;
    expect_ok(&node, "create", &reply)?;
    get(cluster, id, options.timeout).await
}

/// Every sandbox of the cluster, sorted by id. Starts nothing on the nodes.
pub async fn list(cluster: &Cluster, timeout: Duration) -> Result<Vec<Sandbox>, SandboxError> {
    let up = cluster.up_nodes();
    let answers = cluster.call_all("orbit_sandbox", "list", vec![], timeout).await;
    // Newest entry per id, from whichever node; live figures from the node that runs it.
    let mut newest: BTreeMap<String, (Version, Term)> = BTreeMap::new();
    let mut live: BTreeMap<(String, String), Term> = BTreeMap::new();
    // Every node keeps the whole registry, so a node that goes down while it is asked (a failover
    // watch asks at that very moment) is left out; the list fails only when no node answers.
    let answered = answers.iter().filter(|(_, r)| !matches!(r, Err(RpcError::NodeDown { .. }))).count();
    for (node, r) in answers {
        let reply = match r {
            Err(RpcError::NodeDown { .. }) if answered > 0 => continue,
            r => r?,
        };
        let items = match as_tuple(&reply) {
            Some([tag, items]) if is_atom(tag, "ok") => as_list(items).map(|l| l.into_owned()),
            _ => None,
        }
        .ok_or_else(|| SandboxError::Shape {
            node: node.clone(),
            what: "list".into(),
            detail: show(&reply),
        })?;
        for e in items {
            let Some(id) = map_get_atom(&e, "id").and_then(as_binary) else { continue };
            let id = String::from_utf8_lossy(id).into_owned();
            if let Some(l) = map_get_atom(&e, "live") {
                live.insert((id.clone(), node.clone()), l.clone());
            }
            let v = version(&e);
            if newest.get(&id).is_none_or(|(old, _)| v > *old) {
                newest.insert(id, (v, e));
            }
        }
    }
    Ok(newest
        .into_iter()
        .map(|(id, (_, e))| {
            let node = map_get_atom(&e, "node").and_then(as_atom).unwrap_or("").to_string();
            let l = live.get(&(id, node)).cloned();
            sandbox_from(&e, l.as_ref(), &up)
        })
        .collect())
}

/// One sandbox.
pub async fn get(cluster: &Cluster, id: &str, timeout: Duration) -> Result<Sandbox, SandboxError> {
    list(cluster, timeout)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| SandboxError::UnknownSandbox(id.to_string()))
}

/// Stops sandbox `id` and forgets it (a sandbox whose node is down is only forgotten).
pub async fn destroy(cluster: &Cluster, id: &str, timeout: Duration) -> Result<(), SandboxError> {
    refuse(cluster, "destroy")?;
    let sb = get(cluster, id, timeout).await?;
    let node = if cluster.up_nodes().contains(&sb.node) {
        sb.node.clone()
    } else {
        cluster.up_nodes().into_iter().next().ok_or(SandboxError::NoNodes)?
    };
    let reply = cluster.call(&node, "orbit_sandbox", "destroy", vec![bin(id)], timeout).await?;
    expect_ok(&node, "destroy", &reply)
}

/// Starts sandbox `id` on `to`, then stops it where it ran. With `handoff`, the state of each child that
/// answers `:sys.get_state` (GenServer, Agent, gen_statem…) is carried over with `:sys.replace_state`.
pub async fn migrate(
    cluster: &Cluster,
    id: &str,
    to: &str,
    handoff: bool,
    timeout: Duration,
) -> Result<MigrateReport, SandboxError> {
    refuse(cluster, "migrate")?;
    cluster.require_up(to)?;
    let before = get(cluster, id, timeout).await?;
    if before.node == to {
        return Err(SandboxError::AlreadyOn { id: id.to_string(), node: to.to_string() });
    }
    if before.status == SandboxStatus::Orphaned {
        return Err(SandboxError::SourceDown { id: id.to_string(), node: before.node });
    }
    ensure_started(cluster, timeout).await?;
    let handoff_term = atom(if handoff { "true" } else { "false" });
    let reply =
        cluster.call(to, "orbit_sandbox", "migrate", vec![bin(id), handoff_term, map(vec![])], timeout * 2).await?;
    let result = expect_ok_value(to, "migrate", &reply).map_err(|e| match e {
        SandboxError::AlreadyOn { node, .. } => SandboxError::AlreadyOn { id: id.to_string(), node },
        SandboxError::SourceDown { node, .. } => SandboxError::SourceDown { id: id.to_string(), node },
        e => e,
    })?;
    let from = map_get_atom(&result, "from").and_then(as_atom).unwrap_or(&before.node).to_string();
    let handed_off = map_get_atom(&result, "handed_off")
        .and_then(as_list)
        .map(|l| l.iter().map(child_id).collect())
        .unwrap_or_default();
    let not_handed_off = map_get_atom(&result, "not_handed_off")
        .and_then(as_list)
        .map(|l| {
            l.iter()
                .filter_map(|x| match as_tuple(x) {
                    Some([cid, why]) => Some((child_id(cid), describe_handoff(why))),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let dropped_messages =
        map_get_atom(&result, "dropped_messages").and_then(as_integer).and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
    let sandbox = get(cluster, id, timeout).await?;
    Ok(MigrateReport { sandbox, from, to: to.to_string(), handed_off, not_handed_off, dropped_messages })
}

/// Evens out the running sandboxes across the nodes that are up, moving them with `handoff`.
pub async fn balance(
    cluster: &Cluster,
    handoff: bool,
    dry_run: bool,
    timeout: Duration,
) -> Result<BalanceReport, SandboxError> {
    if !dry_run {
        refuse(cluster, "balance")?;
    }
    let sandboxes = list(cluster, timeout).await?;
    let counts = running_by_node(cluster, &sandboxes);
    let before = counts.iter().map(|(n, v)| (n.clone(), v.len())).collect();
    let mut moves = plan_balance(&counts);
    if !dry_run {
        for m in &mut moves {
            if let Err(e) = migrate(cluster, &m.id, &m.to, handoff, timeout).await {
                m.error = Some(e.to_string());
            }
        }
    }
    let after = if dry_run {
        let mut a: BTreeMap<String, usize> = before_counts(&counts);
        for m in &moves {
            *a.entry(m.from.clone()).or_default() -= 1;
            *a.entry(m.to.clone()).or_default() += 1;
        }
        a
    } else {
        before_counts(&running_by_node(cluster, &list(cluster, timeout).await?))
    };
    Ok(BalanceReport { before, after, moves, dry_run })
}

pub(super) fn running_by_node(cluster: &Cluster, sandboxes: &[Sandbox]) -> BTreeMap<String, Vec<(String, u64)>> {
    let mut counts: BTreeMap<String, Vec<(String, u64)>> =
        cluster.up_nodes().into_iter().map(|n| (n, vec![])).collect();
    for s in sandboxes.iter().filter(|s| s.status == SandboxStatus::Running) {
        if let Some(v) = counts.get_mut(&s.node) {
            v.push((s.id.clone(), s.memory.unwrap_or(0)));
        }
    }
    counts
}
