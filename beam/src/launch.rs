//! Starting a local cluster of a mix project's nodes, for `launch` debug sessions: compile once, start
//! each node with `elixir --sname … --cookie … -S <command>`, join them, forward what they print, and stop
//! exactly the processes started (by pid).

use crate::link::{epmd_names, Cookie};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// What to launch.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub project_dir: PathBuf,
    /// Short names (`a`, `b`) of the nodes to start.
    pub names: Vec<String>,
    /// What each node runs after `elixir … -S`, default `mix run --no-halt`.
    pub command: String,
    pub env: BTreeMap<String, String>,
    pub cookie: Cookie,
}

/// A line a launched node printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeOutput {
    pub node: String,
    pub stderr: bool,
    pub line: String,
}

#[derive(Debug)]
struct LaunchedNode {
    name: String,
    child: Child,
}

/// Nodes Orbit started. Dropping it kills them.
#[derive(Debug)]
pub struct LaunchedCluster {
    nodes: Vec<LaunchedNode>,
}

/// The machine's short host name, as `--sname` nodes use it.
pub fn short_host() -> String {
    let full = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "localhost".into());
    full.trim().split('.').next().unwrap_or("localhost").to_string()
}

/// Short names for `count` nodes of this launch: `orbit_<random>_1`, …
pub fn generated_names(count: usize) -> Vec<String> {
    let run = format!("{:06x}", rand::random::<u32>() & 0xffffff);
    (1..=count).map(|i| format!("orbit_{run}_{i}")).collect()
}

/// A random cookie for a launched cluster.
pub fn random_cookie() -> Cookie {
    let s: String = (0..24).map(|_| char::from(b'a' + (rand::random::<u8>() % 26))).collect();
    Cookie::new(s)
}

impl LaunchedCluster {
    /// Compiles the project once (so the nodes do not race on `_build`), then starts every node.
    /// Output of the compile and of each node goes to `output`.
    pub async fn start(
        spec: &LaunchSpec,
        output: mpsc::UnboundedSender<NodeOutput>,
    ) -> Result<LaunchedCluster, String> {
        let dir = &spec.project_dir;
        if !dir.join("mix.exs").is_file() {
            return Err(format!("{} has no mix.exs: `projectDir` must be a mix project", dir.display()));
        }
        if spec.names.is_empty() {
            return Err("`nodes` must name at least one node".into());
        }
        for n in &spec.names {
            if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') || n.contains('@')
            {
                return Err(format!("'{n}' is not a short node name (letters, digits, '_' and '-'; no '@host')"));
            }
        }
        let argv: Vec<String> = spec.command.split_whitespace().map(str::to_string).collect();
        if argv.is_empty() {
            return Err("`command` is empty".into());
        }
        if argv[0] == "mix" {
            let mut compile = Command::new("mix");
            compile.arg("compile").current_dir(dir).envs(&spec.env).stdin(Stdio::null());
            let out = compile.output().await.map_err(|e| format!("cannot run mix (is Elixir installed?): {e}"))?;
            for line in String::from_utf8_lossy(&out.stdout).lines().chain(String::from_utf8_lossy(&out.stderr).lines())
            {
                let _ = output.send(NodeOutput { node: "mix compile".into(), stderr: false, line: line.to_string() });
            }
            if !out.status.success() {
                return Err(format!("`mix compile` failed in {}: see the output above", dir.display()));
            }
        }
        let host = short_host();
        // OTP 28+: `+D` lets Orbit's breakpoints be native there (erl_debugger) instead of interpreted.
        let native: &[&str] = if otp_release().await.is_some_and(|r| r >= 28) { &["--erl", "+D"] } else { &[] };
        let mut nodes = Vec::new();
        for name in &spec.names {
            let full = format!("{name}@{host}");
            let mut cmd = Command::new("elixir");
            cmd.args(["--sname", name, "--cookie", spec.cookie.secret()])
                .args(native)
                .arg("-S")
                .args(&argv)
                .current_dir(dir)
                .envs(&spec.env)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            // The nodes die with Orbit even when it is killed outright (SIGKILL leaves no chance to stop them).
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
            let mut child = cmd.spawn().map_err(|e| format!("cannot start {full}: {e} (is Elixir installed?)"))?;
            forward_lines(child.stdout.take(), full.clone(), false, output.clone());
            forward_lines(child.stderr.take(), full.clone(), true, output.clone());
            nodes.push(LaunchedNode { name: full, child });
        }
        Ok(LaunchedCluster { nodes })
    }

    /// Full names (`a@host`) of the nodes.
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Waits until every node is registered with epmd, or one of them exits.
    pub async fn wait_registered(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + limit;
        let host = short_host();
        loop {
            for n in &mut self.nodes {
                if let Ok(Some(status)) = n.child.try_wait() {
                    return Err(format!("{} exited during start-up ({status}); see its output", n.name));
                }
            }
            let known: Vec<String> = epmd_names(&host, crate::link::default_epmd_port())
                .await
                .map(|v| v.into_iter().map(|(n, _)| n).collect())
                .unwrap_or_default();
            if self.nodes.iter().all(|n| known.iter().any(|k| Some(k.as_str()) == n.name.split('@').next())) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("the nodes did not come up within {}s", limit.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops every node: SIGTERM (a clean `init:stop`), then SIGKILL for any still there after 5 s.
    pub async fn stop(&mut self) {
        for n in &self.nodes {
            if let Some(pid) = n.child.id() {
                unsafe_term(pid);
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        for n in &mut self.nodes {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if tokio::time::timeout(left, n.child.wait()).await.is_err() {
                let _ = n.child.kill().await;
            }
        }
    }

    /// Whether a node is still running.
    pub fn is_running(&mut self, name: &str) -> bool {
        self.nodes.iter_mut().find(|n| n.name == name).is_some_and(|n| matches!(n.child.try_wait(), Ok(None)))
    }
}

/// SIGTERM by pid, through `kill(1)` so that no unsafe code is needed here.
fn unsafe_term(pid: u32) {
    let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
}

fn forward_lines<R>(stream: Option<R>, node: String, stderr: bool, output: mpsc::UnboundedSender<NodeOutput>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let Some(stream) = stream else { return };
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if output.send(NodeOutput { node: node.clone(), stderr, line }).is_err() {
                return;
            }
        }
    });
}

/// True when `dir` is a mix project.
pub fn is_mix_project(dir: &Path) -> bool {
    dir.join("mix.exs").is_file()
}

/// The OTP release of the `erl` the nodes start with (`None` when it cannot be told).
async fn otp_release() -> Option<u32> {
    let out = Command::new("erl")
        .args(["-noshell", "-eval", "io:put_chars(erlang:system_info(otp_release)), halt()."])
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), out).await.ok()?.ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}
