//! Starting a mix project's nodes for `launch` sessions (beam::launch), with real `mix` and `elixir`: what
//! is refused before anything starts, a project that does not compile, nodes that never come up (one that
//! dies at boot, one that runs but never registers), and nodes that come up, answer with the launch's cookie
//! and are gone after `stop`.

use beam::launch::{generated_names, random_cookie, short_host, LaunchSpec, LaunchedCluster, NodeOutput};
use beam::link::{epmd_names, Cookie};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

/// A one-module mix project in a directory of its own, removed on drop.
struct Project(PathBuf);

impl Project {
    fn new(module_source: &str) -> Project {
        let dir = std::env::temp_dir().join(orbit_test_harness::unique_name("launch"));
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        std::fs::write(
            dir.join("mix.exs"),
            "defmodule Tiny.MixProject do\n  use Mix.Project\n  def project, do: [app: :tiny, version: \"0.1.0\"]\nend\n",
        )
        .unwrap();
        std::fs::write(dir.join("lib/tiny.ex"), module_source).unwrap();
        Project(dir)
    }

    fn spec(&self, names: Vec<String>, command: &str, env: &[(&str, &str)]) -> LaunchSpec {
        LaunchSpec {
            project_dir: self.0.clone(),
            names,
            command: command.into(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            cookie: random_cookie(),
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const GOOD: &str = "defmodule Tiny do\n  def hello, do: :world\nend\n";

async fn registered(short: &str) -> bool {
    let names = epmd_names(&short_host(), beam::link::default_epmd_port()).await.unwrap_or_default();
    names.iter().any(|(n, _)| n == short)
}

fn lines(rx: &mut mpsc::UnboundedReceiver<NodeOutput>) -> Vec<NodeOutput> {
    let mut out = Vec::new();
    while let Ok(line) = rx.try_recv() {
        out.push(line);
    }
    out
}

#[tokio::test]
async fn what_cannot_be_launched_is_refused_before_anything_starts() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let not_mix = std::env::temp_dir().join(orbit_test_harness::unique_name("notmix"));
    std::fs::create_dir_all(&not_mix).unwrap();
    let spec = LaunchSpec {
        project_dir: not_mix.clone(),
        names: vec!["a".into()],
        command: "mix run --no-halt".into(),
        env: BTreeMap::new(),
        cookie: random_cookie(),
    };
    let err = LaunchedCluster::start(&spec, tx.clone()).await.unwrap_err();
    assert!(err.contains("has no mix.exs"), "{err}");
    assert!(!beam::launch::is_mix_project(&not_mix));
    std::fs::remove_dir_all(&not_mix).unwrap();

    let project = Project::new(GOOD);
    assert!(beam::launch::is_mix_project(&project.0));
    let err = LaunchedCluster::start(&project.spec(vec![], "mix run --no-halt", &[]), tx.clone()).await.unwrap_err();
    assert!(err.contains("at least one node"), "{err}");
    for bad in ["a@host", "", "with space", "dot.ted"] {
        let err =
            LaunchedCluster::start(&project.spec(vec![bad.into()], "mix run", &[]), tx.clone()).await.unwrap_err();
        assert!(err.contains("is not a short node name"), "{bad:?}: {err}");
    }
    let err = LaunchedCluster::start(&project.spec(vec!["a".into()], "   ", &[]), tx).await.unwrap_err();
    assert!(err.contains("`command` is empty"), "{err}");
    // Nothing was compiled on the way.
    assert!(!project.0.join("_build").exists());
}

#[tokio::test]
async fn a_project_that_does_not_compile_is_refused_with_the_compilers_output() {
    let project = Project::new("defmodule Tiny do\n  def hello, do: :world\n  def broken(, do: 1\nend\n");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let names = generated_names(1);
    let err = LaunchedCluster::start(&project.spec(names.clone(), "mix run --no-halt", &[]), tx).await.unwrap_err();
    assert!(err.contains("`mix compile` failed"), "{err}");
    let out = lines(&mut rx);
    assert!(out.iter().all(|l| l.node == "mix compile"), "{out:?}");
    assert!(out.iter().any(|l| l.line.contains("lib/tiny.ex")), "the compiler's error names the file: {out:?}");
    assert!(!registered(&names[0]).await, "no node was started");
}

#[tokio::test]
async fn nodes_that_never_come_up_are_named_and_stopped() {
    let project = Project::new(GOOD);

    // Distribution cannot start: the node dies at boot, before it could register.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let names = generated_names(1);
    let spec = project.spec(names.clone(), "mix run --no-halt", &[("ERL_AFLAGS", "-proto_dist orbit_no_such")]);
    let mut cluster = LaunchedCluster::start(&spec, tx).await.expect("compiled and spawned");
    let full = format!("{}@{}", names[0], short_host());
    assert_eq!(cluster.names(), vec![full.clone()]);
    let err = cluster.wait_registered(Duration::from_secs(60)).await.unwrap_err();
    assert!(err.contains(&full) && err.contains("exited during start-up"), "{err}");
    assert!(!cluster.is_running(&full));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = lines(&mut rx);
    assert!(out.iter().any(|l| l.node == full), "what the node printed as it died is forwarded: {out:?}");

    // A node that runs but never registers with epmd: the wait ends at its limit, and stop() ends the node.
    let (tx, _rx) = mpsc::unbounded_channel();
    let names = generated_names(1);
    let spec = project.spec(names.clone(), "mix run --no-halt", &[("ERL_AFLAGS", "-dist_listen false")]);
    let mut cluster = LaunchedCluster::start(&spec, tx).await.expect("spawned");
    let full = format!("{}@{}", names[0], short_host());
    let err = cluster.wait_registered(Duration::from_secs(3)).await.unwrap_err();
    assert!(err.contains("did not come up within 3s"), "{err}");
    assert!(cluster.is_running(&full), "it is still running, just not reachable");
    assert!(!cluster.is_running("someone_else@nowhere"));
    cluster.stop().await;
    assert!(!cluster.is_running(&full), "stopped");
}

#[tokio::test]
async fn launched_nodes_come_up_with_the_launch_cookie_and_are_gone_after_stop() {
    let project = Project::new(GOOD);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let names = generated_names(2);
    let mut spec = project.spec(names.clone(), "mix run --no-halt", &[]);
    let secret = orbit_test_harness::unique_name("cookie");
    spec.cookie = Cookie::new(secret.clone());
    let mut cluster = LaunchedCluster::start(&spec, tx).await.expect("started");
    cluster.wait_registered(Duration::from_secs(60)).await.expect("both nodes register");
    assert!(lines(&mut rx).iter().any(|l| l.node == "mix compile"), "the compile's output is forwarded");
    for full in cluster.names() {
        assert!(cluster.is_running(&full));
        // The project's code runs there, reached with the launch's cookie (polled: a node registers with epmd
        // as it boots, before `mix run` has loaded the project).
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut out = orbit_test_harness::erl_call(&full, &secret, "'Elixir.Tiny':hello().");
        while out.as_deref().map(str::trim) != Ok("world") && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(300)).await;
            out = orbit_test_harness::erl_call(&full, &secret, "'Elixir.Tiny':hello().");
        }
        assert_eq!(out.as_deref().map(str::trim), Ok("world"), "{full}");
    }
    cluster.stop().await;
    for (short, full) in names.iter().zip(cluster.names()) {
        assert!(!cluster.is_running(&full));
        assert!(!registered(short).await, "{short} is no longer registered with epmd");
    }
}
