//! The calls: a reload as its named phases (build, stage, load, roll back, verify), and drift.

use super::compile::{build, read_source, Binary};
use super::model::{
    assemble, compare_versions, BuiltModule, DriftFilter, DriftReport, ModuleVersion, NodeOutcome, NodeTally,
    OnNodeDown, ReloadError, ReloadOptions, ReloadOutcome, ReloadProgress, ReloadReport,
};
use super::wire::{
    charlist, drift_filter_term, parse_commit, parse_loaded_md5s, parse_prepare, parse_rollback, parse_versions,
};
use crate::cluster::{Cluster, NodeState};
use crate::rpc::RpcError;
use crate::term::{atom, binary, list, map, tuple};
use eetf::Term;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// Tells `options.progress`, if any, where the reload is.
pub(super) fn report(options: &ReloadOptions, p: ReloadProgress) {
    if let Some(f) = &options.progress {
        f(&p)
    }
}

/// Compiles (or takes from `_build`) every source, loads the result on every target node, and checks the
/// md5 everywhere. A compile error is an `Err` (nothing loaded); what happens on the nodes is in the report.
///
/// The phases: `build`, then `stage` on every target, `load` everywhere, `roll_back` when a node failed,
/// and `verify` what every node runs. Nothing is loaded anywhere before every node has staged; a cancel is
/// honoured before staging and before loading, never later.
pub async fn reload(
    cluster: &Cluster,
    files: &[PathBuf],
    options: &ReloadOptions,
) -> Result<ReloadReport, ReloadError> {
    cluster.refuse(crate::read_only::Change::Reload)?;
    if files.is_empty() {
        return Err(ReloadError::NoFiles);
    }
    let sources = files.iter().map(|f| read_source(f)).collect::<Result<Vec<_>, _>>()?;
    let (targets, down_before) = target_nodes(cluster, options.nodes.as_deref())?;

    // 1. Build.
    let (mut built, binaries, warnings) = build(cluster, &sources, &targets, options).await?;
    let module_names: Vec<String> = binaries.iter().map(|b| b.module.clone()).collect();
    report(options, ReloadProgress::Compiled { modules: module_names.clone() });
    let cancelled = || options.cancel.as_ref().is_some_and(|c| c.is_cancelled());

    // Cancel point 1: nothing staged yet.
    if cancelled() {
        let nodes = targets
            .iter()
            .chain(&down_before)
            .map(|n| (n.clone(), NodeTally::new(NodeOutcome::NotLoaded, Some("cancelled".into()), &module_names)))
            .collect();
        return Ok(assemble(ReloadOutcome::Aborted, built, nodes, true, warnings));
    }

    // 2. Stage on every target.
    let Staged { mut nodes, stages, refused } =
        stage(cluster, &binaries, &targets, &down_before, &module_names, options).await?;
    fill_build_md5s(&mut built, &nodes);
    if refused {
        finish_stages(cluster, &stages, options.timeout).await;
        return Ok(assemble(ReloadOutcome::Aborted, built, nodes, true, warnings));
    }
    // Cancel point 2: every node has staged, none has loaded. The stages are ended (what they prepared is
    // discarded) and nothing is loaded anywhere.
    if cancelled() {
        finish_stages(cluster, &stages, options.timeout).await;
        for st in nodes.values_mut().filter(|s| s.outcome == NodeOutcome::NotLoaded) {
            st.error = Some("cancelled before loading".into());
        }
        return Ok(assemble(ReloadOutcome::Aborted, built, nodes, true, warnings));
    }
    let staged_nodes: Vec<String> = stages.iter().map(|(n, _)| n.clone()).collect();
    report(options, ReloadProgress::Staged { nodes: staged_nodes });

    // 3. Load everywhere.
    let loaded = load(cluster, &stages, &mut nodes, options).await?;

    // 4. Roll back when a node failed (or went down, if so asked).
    let rolled_back = loaded.failed || (loaded.went_down && options.on_node_down == OnNodeDown::RollBack);
    if rolled_back {
        roll_back(cluster, &stages, &loaded.nodes, &mut nodes, options).await?;
    }

    // 5. Verify what every node that is still up runs now.
    let consistent = verify(cluster, &module_names, &mut nodes, options).await?;
    finish_stages(cluster, &stages, options.timeout).await;

    let outcome = if rolled_back {
        ReloadOutcome::RolledBack
    } else if nodes.values().all(|s| s.outcome == NodeOutcome::Loaded) {
        ReloadOutcome::Loaded
    } else {
        ReloadOutcome::Partial
    };
    Ok(assemble(outcome, built, nodes, consistent, warnings))
}

/// What staging left: every node's tally (the nodes down before the reload among them), the stages to
/// load or end, and whether a node refused (then nothing may load).
struct Staged {
    nodes: BTreeMap<String, NodeTally>,
    stages: Vec<(String, Term)>,
    refused: bool,
}

/// Phase 2: `orbit_reload:prepare/2` on every target, in parallel. Loads nothing.
async fn stage(
    cluster: &Cluster,
    binaries: &[Binary],
    targets: &[String],
    down_before: &[String],
    module_names: &[String],
    options: &ReloadOptions,
) -> Result<Staged, ReloadError> {
    report(options, ReloadProgress::Staging { nodes: targets.to_vec() });
    let mods_term = list(
        binaries.iter().map(|b| tuple(vec![atom(&b.module), charlist(&b.file), binary(b.bytes.clone())])).collect(),
    );
    let opts_term = map(vec![(atom("purge"), atom(if options.purge { "true" } else { "false" }))]);
    let staged = futures::future::join_all(targets.iter().map(|n| {
        let args = vec![mods_term.clone(), opts_term.clone()];
        async move { (n.clone(), cluster.call(n, "orbit_reload", "prepare", args, options.timeout).await) }
    }))
    .await;

    let mut nodes: BTreeMap<String, NodeTally> = BTreeMap::new();
    for n in down_before {
        nodes.insert(
            n.clone(),
            NodeTally::new(NodeOutcome::Down, Some("down before the reload; not loaded".into()), module_names),
        );
    }
    let mut stages: Vec<(String, Term)> = Vec::new();
    let mut refused = false;
    for (node, result) in staged {
        let mut st = NodeTally::new(NodeOutcome::NotLoaded, None, module_names);
        match result {
            Ok(reply) => match parse_prepare(&node, &reply)? {
                Ok((stage, infos)) => {
                    for info in infos {
                        st.set_info(info);
                    }
                    stages.push((node.clone(), stage));
                }
                Err(msg) => {
                    st.outcome = NodeOutcome::Failed;
                    st.error = Some(msg);
                    refused = true;
                }
            },
            Err(e @ RpcError::NodeDown { .. }) => {
                st.outcome = NodeOutcome::Down;
                st.error = Some(e.to_string());
                if options.on_node_down == OnNodeDown::RollBack {
                    refused = true;
                }
            }
            Err(e) => {
                st.outcome = NodeOutcome::Failed;
                st.error = Some(e.to_string());
                refused = true;
            }
        }
        nodes.insert(node, st);
    }
    Ok(Staged { nodes, stages, refused })
}

/// The md5 of build beams is known once a node has looked at them.
fn fill_build_md5s(built: &mut [BuiltModule], nodes: &BTreeMap<String, NodeTally>) {
    for m in built {
        if m.md5.is_empty() {
            if let Some(md5) = nodes.values().find_map(|s| s.new_md5.get(&m.module).cloned()) {
                m.md5 = md5;
            }
        }
    }
}

/// What loading left: the nodes to roll back if it comes to that, and whether a node failed or went down.
struct Loaded {
    nodes: Vec<String>,
    failed: bool,
    went_down: bool,
}

/// Phase 3: `orbit_reload:commit/1` on every node that staged, in parallel.
async fn load(
    cluster: &Cluster,
    stages: &[(String, Term)],
    nodes: &mut BTreeMap<String, NodeTally>,
    options: &ReloadOptions,
) -> Result<Loaded, ReloadError> {
    report(options, ReloadProgress::Loading { nodes: stages.iter().map(|(n, _)| n.clone()).collect() });
    let commits = futures::future::join_all(stages.iter().map(|(n, stage)| async move {
        (n.clone(), cluster.call(n, "orbit_reload", "commit", vec![stage.clone()], options.timeout).await)
    }))
    .await;
    let mut loaded = Loaded { nodes: Vec::new(), failed: false, went_down: false };
    for (node, result) in commits {
        let st = nodes.get_mut(&node).expect("staged node");
        match result {
            Ok(reply) => match parse_commit(&node, &reply)? {
                Ok(mods) => {
                    st.outcome = NodeOutcome::Loaded;
                    for (m, old, killed) in mods {
                        if let Some(nm) = st.modules.get_mut(&m) {
                            nm.old_code_processes = old;
                            nm.killed.extend(killed);
                        }
                    }
                    loaded.nodes.push(node);
                }
                Err(msg) => {
                    st.outcome = NodeOutcome::Failed;
                    st.error = Some(msg);
                    loaded.failed = true;
                }
            },
            Err(e @ RpcError::NodeDown { .. }) => {
                st.outcome = NodeOutcome::Down;
                st.error = Some(format!("went down during the reload: {e}"));
                loaded.went_down = true;
            }
            Err(e) => {
                // A timeout: the node may still load; it is told to roll back below like the others.
                st.outcome = NodeOutcome::Failed;
                st.error = Some(e.to_string());
                loaded.failed = true;
                loaded.nodes.push(node);
            }
        }
    }
    Ok(loaded)
}

/// Phase 4: `orbit_reload:rollback/1` on the nodes that loaded, in parallel: each goes back to the
/// version it ran before.
async fn roll_back(
    cluster: &Cluster,
    stages: &[(String, Term)],
    loaded: &[String],
    nodes: &mut BTreeMap<String, NodeTally>,
    options: &ReloadOptions,
) -> Result<(), ReloadError> {
    report(options, ReloadProgress::RollingBack { nodes: loaded.to_vec() });
    let rollbacks =
        futures::future::join_all(stages.iter().filter(|(n, _)| loaded.contains(n)).map(|(n, stage)| async move {
            (n.clone(), cluster.call(n, "orbit_reload", "rollback", vec![stage.clone()], options.timeout).await)
        }))
        .await;
    for (node, result) in rollbacks {
        let st = nodes.get_mut(&node).expect("staged node");
        match result {
            Ok(reply) => {
                let outcomes = parse_rollback(&node, &reply)?;
                let mut all_ok = true;
                for (m, text, ok) in outcomes {
                    all_ok &= ok;
                    if let Some(nm) = st.modules.get_mut(&m) {
                        nm.rollback = Some(text);
                    }
                }
                if st.outcome == NodeOutcome::Loaded {
                    st.outcome = if all_ok { NodeOutcome::RolledBack } else { NodeOutcome::Failed };
                    if !all_ok {
                        st.error = Some("could not restore every previous version (see modules)".into());
                    }
                }
            }
            Err(e @ RpcError::NodeDown { .. }) => {
                st.outcome = NodeOutcome::Down;
                st.error = Some(format!("went down during the rollback: {e}"));
            }
            Err(e) => {
                st.outcome = NodeOutcome::Failed;
                st.error = Some(format!("rollback: {e}"));
            }
        }
    }
    Ok(())
}

/// Phase 5: what every node that loaded (or rolled back) runs now, against what it should run; true when
/// every node agrees.
async fn verify(
    cluster: &Cluster,
    module_names: &[String],
    nodes: &mut BTreeMap<String, NodeTally>,
    options: &ReloadOptions,
) -> Result<bool, ReloadError> {
    let check: Vec<String> = nodes
        .iter()
        .filter(|(_, s)| matches!(s.outcome, NodeOutcome::Loaded | NodeOutcome::RolledBack))
        .map(|(n, _)| n.clone())
        .collect();
    report(options, ReloadProgress::Verifying { nodes: check.clone() });
    let mods_atoms = list(module_names.iter().map(atom).collect());
    let answers = futures::future::join_all(check.iter().map(|n| {
        let args = vec![mods_atoms.clone()];
        async move { (n.clone(), cluster.call(n, "orbit_reload", "versions", args, options.timeout).await) }
    }))
    .await;
    let mut consistent = true;
    for (node, result) in answers {
        let st = nodes.get_mut(&node).expect("checked node");
        match result {
            Ok(reply) => {
                for (m, v) in parse_versions(&node, &reply)? {
                    if let Some(nm) = st.modules.get_mut(&m) {
                        nm.md5 = match v {
                            ModuleVersion::Loaded { md5 } => Some(md5),
                            ModuleVersion::NotLoaded { .. } => None,
                        };
                        let expected = if st.outcome == NodeOutcome::Loaded {
                            st.new_md5.get(&m).cloned()
                        } else {
                            nm.previous_md5.clone()
                        };
                        if nm.md5 != expected {
                            consistent = false;
                        }
                    }
                }
            }
            Err(e) => {
                consistent = false;
                st.error = Some(format!("could not verify: {e}"));
            }
        }
    }
    // Every loaded node runs the same md5 of each module.
    for m in module_names {
        let md5s: BTreeSet<Option<&String>> = nodes
            .values()
            .filter(|s| s.outcome == NodeOutcome::Loaded)
            .map(|s| s.modules.get(m).and_then(|nm| nm.md5.as_ref()))
            .collect();
        if md5s.len() > 1 {
            consistent = false;
        }
    }
    Ok(consistent)
}

/// Compares the loaded modules `filter` selects across `nodes` (default every node that is up).
pub async fn drift(
    cluster: &Cluster,
    filter: &DriftFilter,
    nodes: Option<&[String]>,
    timeout: Duration,
) -> Result<DriftReport, ReloadError> {
    let (targets, _) = target_nodes(cluster, nodes)?;
    let filter_term = drift_filter_term(filter);
    let answers = futures::future::join_all(targets.iter().map(|n| {
        let args = vec![filter_term.clone()];
        async move { (n.clone(), cluster.call(n, "orbit_reload", "loaded_md5s", args, timeout).await) }
    }))
    .await;
    let mut per_node: BTreeMap<String, BTreeMap<String, ModuleVersion>> = BTreeMap::new();
    let mut unanswered = Vec::new();
    for (node, result) in answers {
        match result {
            Ok(reply) => {
                let mods = parse_loaded_md5s(&node, &reply)?;
                per_node.insert(node, mods);
            }
            Err(e) => unanswered.push((node, e.to_string())),
        }
    }
    // Ask each node about the modules others have and it did not list (or listed as not loaded).
    let all: BTreeSet<String> = per_node.values().flat_map(|m| m.keys().cloned()).collect();
    let asks: Vec<(String, Vec<String>)> = per_node
        .iter()
        .map(|(n, mods)| {
            let missing: Vec<String> =
                all.iter().filter(|m| !matches!(mods.get(*m), Some(ModuleVersion::Loaded { .. }))).cloned().collect();
            (n.clone(), missing)
        })
        .filter(|(_, m)| !m.is_empty())
        .collect();
    let answers = futures::future::join_all(asks.iter().map(|(n, missing)| {
        let args = vec![list(missing.iter().map(atom).collect())];
        async move { (n.clone(), cluster.call(n, "orbit_reload", "versions", args, timeout).await) }
    }))
    .await;
    for (node, result) in answers {
        match result {
            Ok(reply) => {
                let entries = parse_versions(&node, &reply)?;
                let mods = per_node.get_mut(&node).expect("asked node");
                for (m, v) in entries {
                    mods.insert(m, v);
                }
            }
            Err(e) => {
                per_node.remove(&node);
                unanswered.push((node, e.to_string()));
            }
        }
    }
    let modules = compare_versions(&per_node, &all);
    Ok(DriftReport { nodes: per_node.keys().cloned().collect(), checked: all.len(), modules, unanswered })
}

async fn finish_stages(cluster: &Cluster, stages: &[(String, Term)], timeout: Duration) {
    futures::future::join_all(stages.iter().map(|(n, stage)| async move {
        let _ =
            cluster.call(n, "orbit_reload", "finish", vec![stage.clone()], timeout.min(Duration::from_secs(5))).await;
    }))
    .await;
}

/// The nodes to work on, and the known nodes that are down (reported, skipped).
fn target_nodes(cluster: &Cluster, wanted: Option<&[String]>) -> Result<(Vec<String>, Vec<String>), ReloadError> {
    match wanted {
        Some(list) if !list.is_empty() => {
            let mut out = Vec::new();
            for n in list {
                cluster.require_up(n)?;
                out.push(n.clone());
            }
            out.sort();
            out.dedup();
            Ok((out, vec![]))
        }
        _ => {
            let up = cluster.up_nodes();
            if up.is_empty() {
                return Err(ReloadError::NoNodes);
            }
            let down = cluster.nodes().into_iter().filter(|(_, s)| *s != NodeState::Up).map(|(n, _)| n).collect();
            Ok((up, down))
        }
    }
}
