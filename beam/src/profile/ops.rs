//! Running a profile on the nodes: checks everywhere first (nothing changes on any node when one
//! refuses), then on each node registers the clean-up with the agent and starts the profiler; at the end
//! of the window collects every node's counters and stacks at once and merges them.

use super::model::{NodeFailure, Profile};
use super::wire::{self, NodeStart};
use super::{ProfileError, ProfileSpec, Sampling, Target, MAX_DURATION};
use crate::cluster::Cluster;
use crate::link::Mailbox;
use crate::term::{as_atom, as_integer, as_str, as_tuple, atom, int, list, render_erlang, tuple, Limits};
use eetf::Term;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// How long a node keeps a finished profile's result for Orbit to collect.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug)]
struct Plan {
    id: eetf::Pid,
    spec: Term,
    /// Every module profiled on some node (Erlang names): what the clean-up removes if the profiler
    /// itself could not.
    modules: Vec<String>,
    timeout: Duration,
}

impl Plan {
    fn cleanup_key(&self) -> Term {
        tuple(vec![atom("orbit_profile"), Term::from(self.id.clone())])
    }

    fn stop_args(&self) -> Vec<Term> {
        vec![Term::from(self.id.clone()), list(self.modules.iter().map(atom).collect())]
    }
}

/// A profile that runs on the nodes. Its window ends on each node by itself; [`ProfileRun::finish`]
/// waits for that and collects, [`ProfileRun::stop`] ends it now. Dropping it ends it on every node.
#[derive(Debug)]
pub struct ProfileRun {
    cluster: Cluster,
    plan: Arc<Plan>,
    started: BTreeMap<String, NodeStart>,
    deadline: tokio::time::Instant,
    duration: Duration,
    finished: bool,
    _mailbox: Mailbox,
}

impl ProfileRun {
    /// The nodes it runs on, with what each profiles.
    pub fn nodes(&self) -> &BTreeMap<String, NodeStart> {
        &self.started
    }

    /// When the window ends (every node has ended its own by then).
    pub fn deadline(&self) -> tokio::time::Instant {
        self.deadline
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The profile's id: the Orbit pid it was started for.
    pub fn id(&self) -> &eetf::Pid {
        &self.plan.id
    }

    /// Waits for the end of the window, then collects and merges.
    pub async fn finish(mut self) -> Profile {
        tokio::time::sleep_until(self.deadline).await;
        self.collect().await
    }

    /// Ends the window on every node now, then collects and merges what was counted so far.
    pub async fn stop(mut self) -> Profile {
        self.collect().await
    }

    async fn collect(&mut self) -> Profile {
        self.finished = true;
        let nodes: Vec<String> = self.started.keys().cloned().collect();
        let answers = futures::future::join_all(nodes.iter().map(|n| {
            let args = vec![Term::from(self.plan.id.clone()), int(COLLECT_TIMEOUT.as_millis() as i64)];
            self.cluster.call(n, "orbit_profile", "collect", args, COLLECT_TIMEOUT + Duration::from_secs(5))
        }))
        .await;
        let mut profiles = Vec::new();
        let mut failed = Vec::new();
        for (node, answer) in nodes.iter().zip(answers) {
            match answer {
                Ok(r) => match as_tuple(&r) {
                    Some([ok, result]) if as_atom(ok) == Some("ok") => match wire::decode_result(node, result) {
                        Some(p) => profiles.push(p),
                        None => failed.push(NodeFailure {
                            node: node.clone(),
                            reason: format!("unreadable answer: {}", shown(result)),
                        }),
                    },
                    Some([_, why]) if as_atom(why) == Some("not_running") => failed.push(NodeFailure {
                        node: node.clone(),
                        reason: "its profiler was gone (the node restarted, or the profile was collected already)"
                            .into(),
                    }),
                    _ => failed.push(NodeFailure { node: node.clone(), reason: shown(&r) }),
                },
                Err(e) => {
                    // Whatever happened, the node's own deadline and the agent's clean-up remove the rest.
                    failed.push(NodeFailure { node: node.clone(), reason: e.to_string() })
                }
            }
        }
        // The profilers removed what they set; the agent's clean-ups are no longer needed.
        let (cluster, plan) = (self.cluster.clone(), self.plan.clone());
        tokio::spawn(async move {
            for n in nodes {
                let _ = cluster.unregister_cleanup(&n, plan.cleanup_key()).await;
            }
        });
        Profile::merge(profiles, failed)
    }
}

impl Drop for ProfileRun {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let (cluster, plan) = (self.cluster.clone(), self.plan.clone());
        let nodes: Vec<String> = self.started.keys().cloned().collect();
        handle.spawn(async move {
            futures::future::join_all(nodes.iter().map(|n| stop_on_node(&cluster, &plan, n))).await;
        });
    }
}

/// Profiles for the spec's duration and returns the merged profile.
pub async fn run(cluster: &Cluster, spec: ProfileSpec) -> Result<Profile, ProfileError> {
    Ok(start(cluster, spec).await?.finish().await)
}

/// Checks the spec on every chosen node (nothing changes anywhere when one refuses), then starts the
/// profiler on each, after registering its clean-up with the agent there.
pub async fn start(cluster: &Cluster, spec: ProfileSpec) -> Result<ProfileRun, ProfileError> {
    if spec.targets.is_empty() {
        return Err(ProfileError::NoTargets);
    }
    for t in &spec.targets {
        let (Target::Module(s) | Target::App(s) | Target::Match(s)) = t;
        if s.trim().is_empty() || s.trim() == ":" {
            return Err(ProfileError::NothingToProfile { target: format!("{t:?}"), why: "empty name".into() });
        }
    }
    if spec.duration.is_zero() || spec.duration > MAX_DURATION {
        return Err(ProfileError::Duration(spec.duration));
    }
    let nodes = match &spec.nodes {
        Some(names) if !names.is_empty() => {
            cluster.resolve_nodes(names).map_err(|e| ProfileError::Nodes(e.to_string()))?
        }
        _ => cluster.up_nodes(),
    };
    if nodes.is_empty() {
        return Err(ProfileError::NoNodes);
    }
    for n in &nodes {
        if cluster.session(n).is_none() {
            return Err(ProfileError::NoAgent { node: n.clone() });
        }
    }
    let timeout = cluster.call_timeout();
    let mailbox = cluster.open_mailbox();
    let exclude: Vec<&str> = crate::agent::MODULES.iter().map(|m| m.name).collect();
    let sample_ms = spec.sample_interval.map(|d| d.as_millis().clamp(1, 10_000) as u64);
    let spec_term = wire::spec_term(
        mailbox.pid(),
        cluster.local_name(),
        &spec.targets,
        spec.duration.as_millis() as u64,
        spec.memory,
        if spec.sample_max == 0 { Sampling::Off } else { spec.sampling },
        sample_ms,
        spec.sample_max.max(1),
        &exclude,
    );

    // Checks, on every node, before anything changes anywhere.
    let answers = futures::future::join_all(
        nodes.iter().map(|n| cluster.call(n, "orbit_profile", "check", vec![spec_term.clone()], timeout)),
    )
    .await;
    let mut found = vec![false; spec.targets.len()];
    let mut app_known = vec![false; spec.targets.len()];
    let mut missing: Vec<BTreeSet<String>> = vec![BTreeSet::new(); spec.targets.len()];
    let mut modules = BTreeSet::new();
    for (node, answer) in nodes.iter().zip(answers) {
        let answer = answer?;
        let info = match as_tuple(&answer) {
            Some([ok, info]) if as_atom(ok) == Some("ok") => info.clone(),
            Some([_, reason]) => return Err(node_error(cluster, node, reason)),
            _ => return Err(ProfileError::Node { node: node.clone(), detail: shown(&answer) }),
        };
        let check = wire::decode_check(&info).ok_or_else(|| ProfileError::Node {
            node: node.clone(),
            detail: format!("unreadable check: {}", shown(&info)),
        })?;
        for (i, (ms, miss)) in check.targets.iter().enumerate().take(spec.targets.len()) {
            found[i] |= !ms.is_empty();
            modules.extend(ms.iter().cloned());
            if let Some(miss) = miss {
                app_known[i] = true;
                missing[i].extend(miss.iter().cloned());
            }
        }
    }
    for (i, t) in spec.targets.iter().enumerate() {
        if found[i] {
            continue;
        }
        let why = match t {
            Target::Module(_) => "not loaded on any profiled node (a module loads at its first call, and a profile \
                                  loads nothing)"
                .to_string(),
            Target::App(_) if !app_known[i] => "no profiled node knows this application".to_string(),
            Target::App(_) => "none of its modules is loaded on a profiled node".to_string(),
            Target::Match(_) => "matches no loaded module on any profiled node (Orbit's own and preloaded \
                                 modules are never profiled)"
                .to_string(),
        };
        return Err(ProfileError::NothingToProfile { target: t.to_string(), why });
    }

    let plan =
        Arc::new(Plan { id: mailbox.pid().clone(), spec: spec_term, modules: modules.into_iter().collect(), timeout });
    let started = futures::future::join_all(nodes.iter().map(|n| start_on_node(cluster, &plan, n))).await;
    let mut ok = BTreeMap::new();
    let mut failure = None;
    for (node, r) in nodes.iter().zip(started) {
        match r {
            Ok(s) => {
                ok.insert(node.clone(), s);
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        futures::future::join_all(ok.keys().map(|n| stop_on_node(cluster, &plan, n))).await;
        return Err(e);
    }
    Ok(ProfileRun {
        cluster: cluster.clone(),
        plan,
        started: ok,
        deadline: tokio::time::Instant::now() + spec.duration,
        duration: spec.duration,
        finished: false,
        _mailbox: mailbox,
    })
}

/// Registers the clean-up, then starts the node's profiler; undoes both when the start fails.
async fn start_on_node(cluster: &Cluster, plan: &Plan, node: &str) -> Result<NodeStart, ProfileError> {
    cluster.register_cleanup(node, plan.cleanup_key(), "orbit_profile", "stop", plan.stop_args()).await?;
    let reply = cluster
        .call(node, "orbit_profile", "start", vec![plan.spec.clone()], plan.timeout.max(Duration::from_secs(35)))
        .await;
    let result = match reply {
        Ok(r) => match as_tuple(&r) {
            Some([ok, info]) if as_atom(ok) == Some("ok") => Ok(wire::decode_start(info)),
            Some([_, reason]) => Err(node_error(cluster, node, reason)),
            _ => Err(ProfileError::Node { node: node.into(), detail: shown(&r) }),
        },
        Err(e) => Err(e.into()),
    };
    if result.is_err() {
        stop_on_node(cluster, plan, node).await;
    }
    result
}

/// Ends the node's profile (its profiler removes what it set) and drops the registered clean-up. Errors
/// are logged: the agent runs the clean-up anyway when Orbit goes, and the node ends its window itself.
async fn stop_on_node(cluster: &Cluster, plan: &Plan, node: &str) {
    if let Err(e) = cluster.call(node, "orbit_profile", "stop", plan.stop_args(), Duration::from_secs(15)).await {
        tracing::warn!("stopping the profile on {node}: {e}");
        return;
    }
    if let Err(e) = cluster.unregister_cleanup(node, plan.cleanup_key()).await {
        tracing::debug!("unregistering the profile clean-up on {node}: {e}");
    }
}

fn shown(t: &Term) -> String {
    render_erlang(t, &Limits::default())
}

fn node_error(cluster: &Cluster, node: &str, reason: &Term) -> ProfileError {
    let otp = || cluster.otp_release(node).unwrap_or_else(|| "?".into());
    let node_s = node.to_string();
    if as_atom(reason) == Some("orbit_trace_running") {
        return ProfileError::TraceRunning { node: node_s, otp: otp() };
    }
    match as_tuple(reason) {
        Some([tag, owner]) if as_atom(tag) == Some("busy") => ProfileError::Busy {
            node: node_s,
            owner: as_atom(owner).map(str::to_string).unwrap_or_else(|| shown(owner)),
        },
        Some([tag, tracer]) if as_atom(tag) == Some("other_tracer") => {
            ProfileError::OtherTracer { node: node_s, tracer: shown(tracer), otp: otp() }
        }
        Some([tag, mfa]) if as_atom(tag) == Some("already_profiled") => {
            let function = match as_tuple(mfa) {
                Some([m, f, a]) => match (as_atom(m), as_atom(f), as_integer(a)) {
                    (Some(m), Some(f), Some(a)) => super::Mfa::new(m, f, a.clamp(0, 255) as u8).display(),
                    _ => shown(mfa),
                },
                _ => shown(mfa),
            };
            ProfileError::AlreadyProfiled { node: node_s, function, otp: otp() }
        }
        Some([tag, n, max]) if as_atom(tag) == Some("too_many_functions") => ProfileError::TooManyFunctions {
            node: node_s,
            functions: as_integer(n).unwrap_or(0).max(0) as u64,
            max: as_integer(max).unwrap_or(0).max(0) as u64,
        },
        Some([tag, pattern, why, at]) if as_atom(tag) == Some("bad_pattern") => ProfileError::BadPattern {
            pattern: as_str(pattern).map(str::to_string).unwrap_or_else(|| shown(pattern)),
            detail: format!("{} at position {}", as_str(why).unwrap_or("?"), as_integer(at).unwrap_or(0)),
        },
        Some([tag, m]) if as_atom(tag) == Some("excluded") => {
            ProfileError::Excluded { module: as_atom(m).map(crate::names::module_display).unwrap_or_else(|| shown(m)) }
        }
        _ => ProfileError::Node { node: node_s, detail: shown(reason) },
    }
}
