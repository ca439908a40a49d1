//! initialize, attach, launch, disconnect, terminate.

use super::{args, body, Reply};
use crate::protocol::requests as r;
use crate::protocol::{Capabilities, ExceptionBreakpointsFilter, InitializedEvent, NodesSpec, Request};
use crate::session::Session;
use beam::cluster::{Cluster, ClusterOptions};
use beam::debugger::{AttachConfig, IntEngine, SourceMap, FILTER_CRASHES, FILTER_CRASH_REPORTS};
use beam::launch::{generated_names, random_cookie, LaunchSpec, LaunchedCluster};
use beam::link::{Cookie, NodeName, TlsSettings};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncWrite;

fn capabilities() -> Capabilities {
    Capabilities {
        supports_configuration_done_request: Some(true),
        supports_function_breakpoints: Some(true),
        supports_conditional_breakpoints: Some(true),
        supports_hit_conditional_breakpoints: Some(true),
        supports_evaluate_for_hovers: Some(true),
        supports_set_variable: Some(true),
        supports_log_points: Some(true),
        supports_breakpoint_locations_request: Some(true),
        supports_loaded_sources_request: Some(true),
        supports_terminate_request: Some(true),
        support_terminate_debuggee: Some(true),
        exception_breakpoint_filters: Some(vec![
            ExceptionBreakpointsFilter {
                filter: FILTER_CRASHES.into(),
                label: "Crashes in interpreted processes".into(),
                description: Some(
                    "Stop after an interpreted process crashes, with its last frame, bindings and reason".into(),
                ),
                default: Some(false),
                ..Default::default()
            },
            ExceptionBreakpointsFilter {
                filter: FILTER_CRASH_REPORTS.into(),
                label: "Crash reports from any process".into(),
                description: Some("Print crash reports of every node, with stacks mapped to source lines".into()),
                default: Some(false),
                ..Default::default()
            },
        ]),
        ..Default::default()
    }
}

fn source_map(map: Option<std::collections::HashMap<String, String>>) -> SourceMap {
    SourceMap::new(map.unwrap_or_default())
}

impl<W: AsyncWrite + Unpin> Session<W> {
    pub(crate) fn initialize(&mut self, req: &Request) -> Reply {
        let a = args::<r::Initialize>(req)?;
        self.lines_from_one = a.lines_start_at1.unwrap_or(true);
        body(&capabilities())
    }

    pub(crate) async fn attach(&mut self, req: &Request) -> Reply {
        if self.engine.is_some() {
            return Err("already attached".into());
        }
        let a = args::<r::Attach>(req)?;
        let mut seeds = vec![NodeName::parse(&a.node).map_err(|e| e.to_string())?];
        for n in a.nodes.unwrap_or_default() {
            seeds.push(NodeName::parse(&n).map_err(|e| e.to_string())?);
        }
        let cookie = match (a.cookie, a.cookie_file) {
            (Some(c), _) => Cookie::new(c),
            (None, Some(f)) => Cookie::from_file(std::path::Path::new(&f))?,
            (None, None) => Cookie::from_environment()?,
        };
        let project_dir = a.project_dir.map(PathBuf::from);
        if let Some(dir) = &project_dir {
            if !dir.is_dir() {
                return Err(format!("projectDir {} is not a directory", dir.display()));
            }
        }
        // The debugger's agent modules with the core, as each node connects (compiled once per OTP release).
        let mut cluster = ClusterOptions::default().with_group(beam::agent::Group::Debugger);
        cluster.read_only = a.read_only.unwrap_or(false);
        if let Some(ms) = a.tick_time_ms {
            cluster.link.tick_time = Duration::from_millis(ms.max(1000));
        }
        // The TLS keys (sslDistOptfile, tlsCert, …) as TlsSettings reads them from the arguments, as the
        // language server reads its settings (AttachArguments declares them for the schema).
        let tls = serde_json::from_value::<TlsSettings>(req.arguments.clone()).map_err(|e| e.to_string())?;
        cluster.link.tls = tls.with_env().resolve().map_err(|e| e.to_string())?;
        let config = AttachConfig {
            seeds: seeds.clone(),
            cookie,
            cluster,
            project_dir,
            source_map: source_map(a.source_map),
            interpret: a.interpret.unwrap_or_default(),
            exclude: a.exclude.unwrap_or_default(),
            hold_callers: a.hold_callers.unwrap_or(true),
        };
        let mut engine = IntEngine::attach(config).await.map_err(|e| e.to_string())?;
        if let Some(rate) = a.log_point_rate {
            engine.set_log_point_rate(rate).await;
        }
        let nodes = engine.cluster().up_nodes();
        self.engine = Some(engine);
        self.console(&format!("Orbit attached to {} node(s): {}", nodes.len(), nodes.join(", "))).await;
        self.event_after(&InitializedEvent);
        Ok(None)
    }

    pub(crate) async fn launch(&mut self, req: &Request) -> Reply {
        if self.engine.is_some() {
            return Err("already attached".into());
        }
        let a = args::<r::Launch>(req)?;
        let project_dir = PathBuf::from(&a.project_dir);
        if !beam::launch::is_mix_project(&project_dir) {
            return Err(format!(
                "projectDir {} has no mix.exs: `launch` starts the nodes of a mix project",
                project_dir.display()
            ));
        }
        let names = match &a.nodes {
            None => generated_names(1),
            Some(NodesSpec::Count(n)) if *n == 0 || *n > 16 => return Err("`nodes` must be between 1 and 16".into()),
            Some(NodesSpec::Count(n)) => generated_names(*n as usize),
            Some(spec @ NodesSpec::Names(_)) => spec.short_names(),
        };
        let cookie = a.cookie.clone().map(Cookie::new).unwrap_or_else(random_cookie);
        let spec = LaunchSpec {
            project_dir: project_dir.clone(),
            names,
            command: a.command_or_default().to_string(),
            env: a.env.clone().unwrap_or_default().into_iter().collect(),
            cookie: cookie.clone(),
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.launch_output = Some(rx);
        self.console(&format!("Orbit is starting {} node(s) of {}", spec.names.len(), project_dir.display())).await;
        let mut launched = LaunchedCluster::start(&spec, tx).await?;
        let started = launched.wait_registered(Duration::from_secs(180)).await;
        self.launched = Some(launched);
        started?;
        let names = self.launched.as_ref().map(|l| l.names()).unwrap_or_default();
        let seeds: Vec<NodeName> = names.iter().filter_map(|n| NodeName::parse(n).ok()).collect();
        let config = AttachConfig {
            seeds,
            cookie,
            cluster: ClusterOptions {
                read_only: a.read_only.unwrap_or(false),
                ..ClusterOptions::default().with_group(beam::agent::Group::Debugger)
            },
            project_dir: Some(project_dir),
            source_map: source_map(a.source_map),
            interpret: a.interpret.unwrap_or_default(),
            exclude: a.exclude.unwrap_or_default(),
            hold_callers: a.hold_callers.unwrap_or(true),
        };
        // Join the nodes into one cluster before the debugger prepares them: OTP's interpreter server is a
        // global name, and a node that does not see it yet crashes every call into interpreted code.
        let cluster = Cluster::connect(&config.seeds, config.cookie.clone(), config.cluster.clone())
            .await
            .map_err(|e| e.to_string())?;
        let first = names[0].clone();
        for other in &names[1..] {
            let _ = cluster
                .call(&first, "net_kernel", "connect_node", vec![beam::term::atom(other)], Duration::from_secs(10))
                .await;
        }
        for name in &names {
            let _ = cluster.call(name, "global", "sync", vec![], Duration::from_secs(15)).await;
        }
        cluster.settle(Duration::from_secs(5)).await;
        let mut engine = IntEngine::with_cluster(cluster, config).await.map_err(|e| e.to_string())?;
        if let Some(rate) = a.log_point_rate {
            engine.set_log_point_rate(rate).await;
        }
        self.engine = Some(engine);
        self.console(&format!("Orbit launched and attached to {}", names.join(", "))).await;
        self.event_after(&InitializedEvent);
        Ok(None)
    }

    pub(crate) async fn disconnect(&mut self, req: &Request) -> Reply {
        let a = args::<r::Disconnect>(req).unwrap_or_default();
        let terminate = a.terminate_debuggee.unwrap_or(self.launched.is_some());
        if !terminate {
            // Leave launched nodes running: forget them, so finishing does not stop them.
            if let Some(l) = self.launched.take() {
                std::mem::forget(l);
            }
        }
        self.finish().await;
        self.done = true;
        Ok(None)
    }

    pub(crate) async fn terminate(&mut self, _req: &Request) -> Reply {
        self.finish().await;
        self.event_after(&crate::protocol::TerminatedEventBody::default());
        Ok(None)
    }
}
