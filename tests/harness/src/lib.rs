//! Real BEAM clusters for tests.
//!
//! Each cluster gets unique node names and a random cookie; every node is started by this process and
//! stopped by its OS pid when the cluster is dropped (never by name). Nodes also get `PR_SET_PDEATHSIG`,
//! so a test runner killed outright does not leave them behind.
//!
//! Any other process a test starts (an `orbit` command, a node of its own, `erl_call`) can be owned the
//! same way with [`OwnedChild`]: killed by pid when dropped (so also when the test panics), dead with the
//! test thread, and [`OwnedChild::wait_with_output_within`] bounds the wait for it.
//!
//! Two kinds of node: bare `erl` nodes (start in well under a second; for link/RPC tests) and nodes of
//! `fixtures/demo` (`elixir --sname … -S mix run --no-halt`; the fixture is compiled once per run).
//!
//! Which Erlang/OTP and Elixir the nodes run: the host's, or with `ORBIT_OTP=otp27|otp29` those of a
//! Debian root that `scripts/otp-roots` makes (see [`OtpRoot`]); the nodes of such a root run its own
//! copy of the fixture ([`demo_dir`]), since each OTP needs its own `_build`.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The machine's short host name, as `-sname` nodes use it.
pub fn short_host() -> String {
    let full = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "localhost".into());
    full.trim().split('.').next().unwrap_or("localhost").to_string()
}

/// The repository root (this crate lives in `tests/harness`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

fn random_token(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len).map(|_| (b'a' + rng.random_range(0..26u8)) as char).collect()
}

/// A Debian root with another Erlang/OTP and Elixir (`scripts/otp-roots`), chosen with `ORBIT_OTP`.
#[derive(Debug, Clone)]
pub struct OtpRoot {
    pub name: String,
    pub dir: PathBuf,
}

impl OtpRoot {
    /// `program` run inside the root, in `cwd` (a path that is the same inside and outside: the roots
    /// have this checkout and /tmp mounted at their own paths). The process keeps its pid across `chroot`
    /// and `env` (both exec), so it is owned and stopped by pid as any other.
    pub fn command(&self, program: &str, cwd: &Path) -> Command {
        let mut c = Command::new("chroot");
        c.arg(&self.dir).arg("/usr/bin/env").arg("-C").arg(cwd).args(["HOME=/root", "LANG=C.UTF-8", program]);
        c
    }
}

/// The root the nodes run in (`ORBIT_OTP`), mounted; `None` for the host's own Erlang.
pub fn otp_root() -> Option<OtpRoot> {
    static ROOT: std::sync::OnceLock<Option<OtpRoot>> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let name = std::env::var("ORBIT_OTP").ok().filter(|s| !s.is_empty() && s != "host")?;
        let out = Command::new(repo_root().join("scripts/otp-roots"))
            .args(["path", &name])
            .output()
            .expect("cannot run scripts/otp-roots");
        assert!(out.status.success(), "scripts/otp-roots path {name}: {}", String::from_utf8_lossy(&out.stderr));
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let mount = Command::new(repo_root().join("scripts/otp-roots")).args(["mount", &name]).output().expect("mount");
        assert!(mount.status.success(), "scripts/otp-roots mount {name}: {}", String::from_utf8_lossy(&mount.stderr));
        Some(OtpRoot { name, dir })
    })
    .clone()
}

/// The `fixtures/demo` the nodes run: the checkout's, or the root's own copy of it.
pub fn demo_dir() -> PathBuf {
    match otp_root() {
        None => repo_root().join("fixtures/demo"),
        Some(root) => repo_root().join("target/otp-fixtures").join(root.name).join("demo"),
    }
}

/// A command running `program` on the Erlang the tests use (the host's, or the root's), in `cwd`.
pub fn beam_command(program: &str, cwd: &Path) -> Command {
    match otp_root() {
        None => {
            let mut c = Command::new(program);
            c.current_dir(cwd);
            c
        }
        Some(root) => root.command(program, cwd),
    }
}

/// The OTP release (`"25"`, `"29"`) of the Erlang the test nodes run.
pub fn otp_release() -> String {
    let out = beam_command("erl", &std::env::temp_dir())
        .args(["-noshell", "-eval", "io:format(\"~s\", [erlang:system_info(otp_release)]), halt()."])
        .output()
        .expect("cannot run erl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A unique short node name prefix for this test process.
pub fn unique_name(tag: &str) -> String {
    format!("{tag}_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), random_token(4))
}

/// What a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// `erl -noshell`: the kernel and stdlib only.
    Erlang,
    /// The `fixtures/demo` bank application under Elixir.
    Demo,
    /// The same application as a `mix release` (MIX_ENV=prod, bundled ERTS, beams stripped of debug info,
    /// no OTP debugger application), started with its own script: `bin/bank start` with `RELEASE_NODE`,
    /// `RELEASE_COOKIE` and `RELEASE_DISTRIBUTION=sname`.
    Release,
}

/// One started node.
#[derive(Debug)]
pub struct TestNode {
    pub name: String,
    pub log: PathBuf,
    child: Option<Child>,
    os_pid: u32,
}

impl TestNode {
    pub fn os_pid(&self) -> u32 {
        self.os_pid
    }

    /// SIGKILL, and wait until the process is gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP: the node stays connected but answers nothing. Returns once every thread of the node is
    /// stopped (the signal takes effect asynchronously, and a node could still answer a call meanwhile).
    pub fn freeze(&self) {
        unsafe { libc::kill(self.os_pid as i32, libc::SIGSTOP) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !all_threads_stopped(self.os_pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn thaw(&self) {
        unsafe { libc::kill(self.os_pid as i32, libc::SIGCONT) };
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().map(|s| s.is_none()).unwrap_or(false),
            None => false,
        }
    }
}

/// Whether every thread of `pid` is stopped (`T`, or `t` when traced, in /proc/PID/task/TID/stat).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return true };
    tasks.flatten().all(|t| {
        std::fs::read_to_string(t.path().join("stat"))
            .ok()
            .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with(['T', 't'])))
            .unwrap_or(true)
    })
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.thaw();
        self.kill();
    }
}

/// A set of joined nodes sharing one random cookie.
#[derive(Debug)]
pub struct TestCluster {
    pub cookie: String,
    pub kind: NodeKind,
    pub nodes: Vec<TestNode>,
    host: String,
    log_dir: PathBuf,
    tag: String,
    code_path: Vec<PathBuf>,
    tls: Option<TlsFiles>,
    /// Demo nodes run with the emulator flag `+D` (OTP 28+'s erl_debugger: native breakpoints).
    plus_d: bool,
}

impl TestCluster {
    /// Starts `n` bare Erlang nodes and waits until each sees all the others.
    pub fn erlang(n: usize) -> TestCluster {
        Self::start(NodeKind::Erlang, n)
    }

    /// Starts `n` bare Erlang nodes with `dirs` added to their code path (e.g. the demo's ebin, for its
    /// Erlang module `bank_ledger`).
    pub fn erlang_with_code_path(n: usize, dirs: &[PathBuf]) -> TestCluster {
        Self::start_with(NodeKind::Erlang, n, dirs.to_vec())
    }

    /// Starts `n` nodes of `fixtures/demo` (built once) and waits until they are joined and the bank is up.
    pub fn demo(n: usize) -> TestCluster {
        build_demo_fixture();
        Self::start(NodeKind::Demo, n)
    }

    /// Starts `n` nodes of the `mix release` of `fixtures/demo` (built once) and waits until they are joined
    /// and the bank is up.
    pub fn demo_release(n: usize) -> TestCluster {
        build_demo_release();
        Self::start(NodeKind::Release, n)
    }

    /// Like [`demo`](Self::demo), with distribution over TLS (`-proto_dist inet_tls`): a CA and one node
    /// certificate are generated for the cluster ([`TlsFiles`]); every node requires a client certificate.
    pub fn demo_tls(n: usize) -> TestCluster {
        build_demo_fixture();
        Self::start_full(NodeKind::Demo, n, Vec::new(), true)
    }

    /// Like [`demo`](Self::demo), every node started with `+D` (`elixir --erl +D`): on OTP 28+ Orbit's
    /// breakpoints there are native (erl_debugger).
    pub fn demo_native(n: usize) -> TestCluster {
        build_demo_fixture();
        Self::start_opts(NodeKind::Demo, n, Vec::new(), false, true)
    }

    /// Like [`demo_release`](Self::demo_release), every node started with `+D` (`ERL_FLAGS=+D`, as a
    /// release's operator would): its beams are stripped, so native breakpoints need the project's build.
    pub fn demo_release_native(n: usize) -> TestCluster {
        build_demo_release();
        Self::start_opts(NodeKind::Release, n, Vec::new(), false, true)
    }

    /// Like [`erlang`](Self::erlang), with distribution over TLS.
    pub fn erlang_tls(n: usize) -> TestCluster {
        Self::start_full(NodeKind::Erlang, n, Vec::new(), true)
    }

    /// Like [`erlang_tls`](Self::erlang_tls), the nodes serving a certificate that has expired
    /// ([`TlsFiles::expired_cert`]); they check no certificate of their own peers.
    pub fn erlang_tls_serving_expired(n: usize) -> TestCluster {
        let mut cluster = Self::start_full(NodeKind::Erlang, 0, Vec::new(), true);
        let files = cluster.tls.as_ref().expect("TLS files");
        let q = |p: &Path| format!("{:?}", p.display().to_string());
        let text = format!(
            "[{{server, [{{certfile, {}}}, {{keyfile, {}}}, {{verify, verify_none}}]}},\n \
             {{client, [{{verify, verify_none}}]}}].\n",
            q(&files.expired_cert),
            q(&files.expired_key)
        );
        std::fs::write(&files.optfile, text).expect("write the optfile");
        let names: Vec<String> = (0..n).map(|i| cluster.node_name(i)).collect();
        for name in &names {
            let node = cluster.spawn_node(name, &names);
            cluster.nodes.push(node);
        }
        cluster.wait_joined(join_time());
        cluster
    }

    /// The TLS files of a TLS cluster.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    fn start(kind: NodeKind, n: usize) -> TestCluster {
        Self::start_with(kind, n, Vec::new())
    }

    fn start_with(kind: NodeKind, n: usize, code_path: Vec<PathBuf>) -> TestCluster {
        Self::start_full(kind, n, code_path, false)
    }

    fn start_full(kind: NodeKind, n: usize, code_path: Vec<PathBuf>, tls: bool) -> TestCluster {
        Self::start_opts(kind, n, code_path, tls, false)
    }

    fn start_opts(kind: NodeKind, n: usize, code_path: Vec<PathBuf>, tls: bool, plus_d: bool) -> TestCluster {
        let tag = unique_name("t");
        let log_dir = std::env::temp_dir().join("orbit-test-nodes").join(&tag);
        std::fs::create_dir_all(&log_dir).expect("log dir");
        let tls = tls.then(|| TlsFiles::generate(&log_dir.join("tls")));
        let mut cluster = TestCluster {
            cookie: random_token(20),
            kind,
            nodes: Vec::new(),
            host: short_host(),
            log_dir,
            tag,
            code_path,
            tls,
            plus_d,
        };
        let names: Vec<String> = (0..n).map(|i| cluster.node_name(i)).collect();
        for name in &names {
            let node = cluster.spawn_node(name, &names);
            cluster.nodes.push(node);
        }
        cluster.wait_joined(join_time());
        cluster
    }

    fn node_name(&self, i: usize) -> String {
        format!("{}_{}@{}", self.tag, i, self.host)
    }

    /// The `name@host` of node `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    fn spawn_node(&self, full_name: &str, peers: &[String]) -> TestNode {
        let short = full_name.split('@').next().unwrap().to_string();
        let log = self.log_dir.join(format!("{short}.log"));
        let out = std::fs::File::create(&log).expect("node log");
        let err = out.try_clone().expect("node log");
        let mut cmd = match self.kind {
            NodeKind::Erlang => {
                // Its own working directory: `.` is on an Erlang node's code path, and beams left in a shared
                // directory (/tmp) would be loaded in place of what a test installs.
                let mut c = beam_command("erl", &self.log_dir);
                c.args(["-noshell", "-sname", &short, "-setcookie", &self.cookie]);
                for d in &self.code_path {
                    c.arg("-pa").arg(d);
                }
                // Join the first node; `global` then meshes the rest.
                if let Some(tls) = &self.tls {
                    c.args(["-proto_dist", "inet_tls", "-ssl_dist_optfile"]).arg(&tls.optfile);
                }
                if let Some(first) = peers.first().filter(|p| p.as_str() != full_name) {
                    c.args(["-eval", &format!("net_adm:ping('{first}')")]);
                }
                c
            }
            NodeKind::Demo => {
                let mut c = beam_command("elixir", &demo_dir());
                c.args(["--sname", &short, "--cookie", &self.cookie]);
                if let Some(tls) = &self.tls {
                    c.arg("--erl").arg(format!("-proto_dist inet_tls -ssl_dist_optfile {}", tls.optfile.display()));
                }
                if self.plus_d {
                    c.args(["--erl", "+D"]);
                }
                c.args(["-S", "mix", "run", "--no-halt", "--no-compile"]);
                let others: Vec<&str> = peers.iter().map(|s| s.as_str()).filter(|p| *p != full_name).collect();
                c.env("BANK_PEERS", others.join(","));
                c.env("MIX_ENV", "dev");
                c
            }
            NodeKind::Release => {
                let mut c = beam_command("bin/bank", &demo_release_dir());
                c.arg("start");
                let others: Vec<&str> = peers.iter().map(|s| s.as_str()).filter(|p| *p != full_name).collect();
                c.env("BANK_PEERS", others.join(","));
                c.env("RELEASE_NODE", &short);
                c.env("RELEASE_DISTRIBUTION", "sname");
                c.env("RELEASE_COOKIE", &self.cookie);
                if self.plus_d {
                    c.env("ERL_FLAGS", "+D");
                }
                c
            }
        };
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        // The node dies with the test thread that started it, even if the test runner is SIGKILLed.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {full_name}: {e} (is Erlang/Elixir installed? run scripts/test)"));
        TestNode { name: full_name.to_string(), log, os_pid: child.id(), child: Some(child) }
    }

    /// Starts one more node that joins the cluster; returns its index.
    pub fn add_node(&mut self) -> usize {
        let i = self.nodes.len();
        let name = self.node_name(i);
        let mut peers = vec![self.nodes.first().map(|n| n.name.clone()).unwrap_or_default()];
        peers.retain(|p| !p.is_empty());
        let all: Vec<String> = peers.iter().cloned().chain(std::iter::once(name.clone())).collect();
        let node = self.spawn_node(&name, &all);
        self.nodes.push(node);
        self.wait_node_joined(i, Duration::from_secs(90));
        i
    }

    /// Evaluates Erlang expressions on node `i` with `erl_call` (a hidden C node); returns what it prints.
    /// On a TLS cluster (where `erl_call`, plain TCP only, cannot connect) a short-lived hidden `erl`
    /// node with the cluster's TLS options evaluates them there instead.
    pub fn eval(&self, i: usize, exprs: &str) -> Result<String, String> {
        match &self.tls {
            None => erl_call(&self.nodes[i].name, &self.cookie, exprs),
            Some(tls) => tls_eval(&self.nodes[i].name, &self.cookie, &tls.optfile, exprs),
        }
    }

    /// `erlang:disconnect_node/1` from node `a` to node `b`.
    pub fn cut(&self, a: usize, b: usize) {
        let out = self.eval(a, &format!("erlang:disconnect_node('{}').", self.nodes[b].name));
        assert!(matches!(out.as_deref(), Ok("true") | Ok("false")), "disconnect failed: {out:?}");
    }

    /// Connects node `a` to node `b` again.
    pub fn heal(&self, a: usize, b: usize) {
        let out = self.eval(a, &format!("net_kernel:connect_node('{}').", self.nodes[b].name));
        assert_eq!(out.as_deref(), Ok("true"), "reconnect failed");
    }

    /// The visible nodes node `i` sees, sorted.
    pub fn nodes_seen_by(&self, i: usize) -> Vec<String> {
        self.try_nodes_seen_by(i).unwrap_or_default()
    }

    /// `None` while the node does not answer.
    fn try_nodes_seen_by(&self, i: usize) -> Option<Vec<String>> {
        self.eval(i, "lists:sort(nodes()).").ok().map(|s| parse_atom_list(&s))
    }

    fn wait_joined(&self, limit: Duration) {
        for i in 0..self.nodes.len() {
            self.wait_node_joined(i, limit);
        }
    }

    fn wait_node_joined(&self, i: usize, limit: Duration) {
        let start = Instant::now();
        let want = self.nodes.len() - 1;
        loop {
            let ready = match self.kind {
                NodeKind::Erlang => self.try_nodes_seen_by(i).is_some_and(|n| n.len() >= want),
                NodeKind::Demo | NodeKind::Release => {
                    self.try_nodes_seen_by(i).is_some_and(|n| n.len() >= want)
                        && self.eval(i, "is_pid(whereis('Elixir.Bank.Ledger')).").as_deref() == Ok("true")
                }
            };
            if ready {
                return;
            }
            // A node that started before its peer registered with epmd missed its one ping: ask again.
            let pings: Vec<String> = self.nodes.iter().map(|n| format!("net_adm:ping('{}')", n.name)).collect();
            let _ = self.eval(i, &format!("[{}].", pings.join(", ")));
            if start.elapsed() > limit {
                let log = std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default();
                panic!(
                    "node {} did not join the cluster within {limit:?}; asked for nodes() it says {:?}. Its log ({}):\n{}",
                    self.nodes[i].name,
                    self.eval(i, "lists:sort(nodes())."),
                    self.nodes[i].log.display(),
                    log
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.thaw();
            n.kill();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.log_dir);
        }
    }
}

/// A process a test started and owns: it gets `PR_SET_PDEATHSIG` (it dies with the thread that spawned
/// it, even when the test binary is SIGKILLed) and is SIGKILLed by its pid and reaped when dropped, so a
/// test that panics or returns early leaves it not running.
#[derive(Debug)]
pub struct OwnedChild {
    child: Option<Child>,
    pid: u32,
    what: String,
}

impl OwnedChild {
    /// Spawns `cmd`; `what` names it in errors.
    pub fn spawn(cmd: &mut Command, what: &str) -> std::io::Result<OwnedChild> {
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        Ok(OwnedChild { pid: child.id(), child: Some(child), what: what.to_string() })
    }

    pub fn id(&self) -> u32 {
        self.pid
    }

    /// The process, e.g. for its stdin.
    pub fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("the child is still owned")
    }

    /// SIGKILL by pid (while it is not reaped, so the pid is still its own), and wait until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if c.try_wait().ok().flatten().is_none() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }

    /// Waits at most `limit` for the process to end and collects its stdout and stderr (when piped).
    /// Past `limit` it is killed, and the error says what it was and how long it was given.
    pub fn wait_with_output_within(mut self, limit: Duration) -> Result<Output, String> {
        let child = self.child_mut();
        let readers: Vec<_> = [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .map(|pipe| {
            let (tx, rx) = std::sync::mpsc::channel();
            if let Some(mut pipe) = pipe {
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let _ = pipe.read_to_end(&mut buf);
                    let _ = tx.send(buf);
                });
            } else {
                let _ = tx.send(Vec::new());
            }
            rx
        })
        .collect();
        let deadline = Instant::now() + limit;
        let status = loop {
            match self.child_mut().try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    self.kill();
                    return Err(format!("{} (pid {}) did not end within {limit:?}; killed", self.what, self.pid));
                }
                Err(e) => {
                    self.kill();
                    return Err(format!("{} (pid {}): {e}", self.what, self.pid));
                }
            }
        };
        self.child = None; // reaped
                           // The pipes close when the process ends (unless it left children holding them).
        let mut out = readers.into_iter().map(|rx| rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default());
        Ok(Output { status, stdout: out.next().unwrap_or_default(), stderr: out.next().unwrap_or_default() })
    }
}

impl Drop for OwnedChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cmd` to its end with stdout and stderr collected, as `Command::output` does, but owned (PDEATHSIG, killed by
/// pid) and bounded: past `limit` the process is killed and the test fails saying what hung.
pub fn run_within(cmd: &mut Command, what: &str, limit: Duration) -> Output {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = OwnedChild::spawn(cmd, what).unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    child.wait_with_output_within(limit).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `erl_call` against `node`; the cookie goes through a file-less argument only to erl_call. The call
/// is bounded (erl_call's own 10 s, and the process is killed 30 s after its start).
pub fn erl_call(node: &str, cookie: &str, exprs: &str) -> Result<String, String> {
    // Each call gets its own hidden name: erl_call's default name clashes when two calls reach one node.
    let me = format!("erl_call_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut child = OwnedChild::spawn(
        Command::new("erl_call")
            .args(["-sname", node, "-c", cookie, "-h", &me, "-e", "-timeout", "10"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        &format!("erl_call to {node}"),
    )
    .map_err(|e| format!("cannot run erl_call: {e}"))?;
    child.child_mut().stdin.take().unwrap().write_all(format!("{exprs}\n").as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output_within(Duration::from_secs(30))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)));
    }
    // erl_call -e prints {ok, Value}.
    match text.strip_prefix("{ok,").and_then(|s| s.strip_suffix('}')) {
        Some(v) => Ok(v.trim().to_string()),
        None => Err(text),
    }
}

/// `eval` on a node of a TLS cluster: a hidden `erl` node with the same `-ssl_dist_optfile` parses the
/// expressions and evaluates them on `node` with `rpc:call(Node, erl_eval, exprs, ...)`.
fn tls_eval(node: &str, cookie: &str, optfile: &Path, exprs: &str) -> Result<String, String> {
    let me = format!("tls_eval_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let script = r#"N = list_to_atom(os:getenv("ORBIT_EVAL_NODE")),
        R = case net_kernel:hidden_connect_node(N) of
            true ->
                {ok, Ts, _} = erl_scan:string(os:getenv("ORBIT_EVAL")),
                {ok, Es} = erl_parse:parse_exprs(Ts),
                rpc:call(N, erl_eval, exprs, [Es, []], 10000);
            false -> {badrpc, noconnection}
        end,
        case R of
            {value, V, _} -> io:format("~0p~n", [V]), halt(0);
            Other -> io:format("~0p~n", [Other]), halt(1)
        end."#;
    let child = OwnedChild::spawn(
        Command::new("erl")
            .args(["-noshell", "-hidden", "-sname", &me, "-setcookie", cookie, "-proto_dist", "inet_tls"])
            .arg("-ssl_dist_optfile")
            .arg(optfile)
            .args(["-eval", script])
            .env("ORBIT_EVAL_NODE", node)
            .env("ORBIT_EVAL", exprs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        &format!("TLS eval on {node}"),
    )
    .map_err(|e| format!("cannot run erl: {e}"))?;
    let out = child.wait_with_output_within(Duration::from_secs(30))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// TLS material for a test cluster, generated with `rcgen`: a CA, one node certificate signed by it (valid
/// for the short host name, `localhost` and 127.0.0.1; server and client use), a second CA that signed
/// nothing the nodes use (for wrong-CA tests), and the nodes' `-ssl_dist_optfile`: `verify_peer` and
/// `fail_if_no_peer_cert` on the server side, so every connecting node (Orbit too) needs a certificate.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub other_ca: PathBuf,
    /// A certificate and key signed by `other_ca` (a client the nodes do not trust).
    pub other_cert: PathBuf,
    pub other_key: PathBuf,
    /// A node certificate and key signed by `ca` that expired in 2021.
    pub expired_cert: PathBuf,
    pub expired_key: PathBuf,
    pub optfile: PathBuf,
}

impl TlsFiles {
    pub fn generate(dir: &Path) -> TlsFiles {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
        };
        std::fs::create_dir_all(dir).expect("tls dir");
        let ca = |cn: &str| {
            let key = KeyPair::generate().expect("CA key");
            let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name.push(DnType::CommonName, cn);
            p.key_usages =
                vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
            let cert = p.self_signed(&key).expect("CA certificate");
            (cert, key)
        };
        let leaf = |issuer: &rcgen::Certificate, issuer_key: &KeyPair, expired: bool| {
            let host = short_host();
            let key = KeyPair::generate().expect("node key");
            let mut p = CertificateParams::new(vec![host.clone(), "localhost".to_string(), "127.0.0.1".to_string()])
                .expect("node params");
            p.distinguished_name.push(DnType::CommonName, host);
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
            if expired {
                p.not_before = rcgen::date_time_ymd(2020, 1, 1);
                p.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            let cert = p.signed_by(&key, issuer, issuer_key).expect("node certificate");
            (cert, key)
        };
        let (ca_cert, ca_key) = ca("Orbit test CA");
        let (node_cert, node_key) = leaf(&ca_cert, &ca_key, false);
        let (expired_cert, expired_key) = leaf(&ca_cert, &ca_key, true);
        let (other_ca_cert, other_ca_key) = ca("Some other CA");
        let (other_cert, other_key) = leaf(&other_ca_cert, &other_ca_key, false);
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write TLS file");
            path
        };
        let ca = write("ca.pem", ca_cert.pem());
        let cert = write("node.pem", node_cert.pem());
        let key = write("node.key", node_key.serialize_pem());
        let other_ca = write("other_ca.pem", other_ca_cert.pem());
        let other_cert = write("other.pem", other_cert.pem());
        let other_key = write("other.key", other_key.serialize_pem());
        let expired_cert = write("expired.pem", expired_cert.pem());
        let expired_key = write("expired.key", expired_key.serialize_pem());
        let q = |p: &Path| format!("{:?}", p.display().to_string());
        let common = format!("{{certfile, {}}}, {{keyfile, {}}}, {{cacertfile, {}}}", q(&cert), q(&key), q(&ca));
        let optfile = write(
            "ssl_dist.conf",
            format!(
                "[{{server, [{common}, {{verify, verify_peer}}, {{fail_if_no_peer_cert, true}}, {{secure_renegotiate, true}}]}},\n \
                 {{client, [{common}, {{verify, verify_peer}}, {{secure_renegotiate, true}}]}}].\n"
            ),
        );
        TlsFiles {
            dir: dir.to_path_buf(),
            ca,
            cert,
            key,
            other_ca,
            other_cert,
            other_key,
            expired_cert,
            expired_key,
            optfile,
        }
    }
}

/// How long a test node may take to start and join: `ORBIT_TEST_JOIN_SECS`, 90 s by default.
fn join_time() -> Duration {
    Duration::from_secs(std::env::var("ORBIT_TEST_JOIN_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(90))
}

fn parse_atom_list(s: &str) -> Vec<String> {
    s.trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|a| a.trim().trim_matches('\'').to_string())
        .filter(|a| !a.is_empty())
        .collect()
}

/// Where the release of `fixtures/demo` is (`mix release` puts it under `_build/prod/rel/bank`).
pub fn demo_release_dir() -> PathBuf {
    demo_dir().join("_build/prod/rel/bank")
}

/// Builds the `mix release` of `fixtures/demo` (MIX_ENV=prod) once per test process, under the fixture's
/// lock file, on the Erlang the tests use.
pub fn build_demo_release() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        build_demo_fixture();
        let dir = demo_dir();
        let lock = std::fs::File::create(dir.join(".release.lock")).expect("release lock");
        unsafe { libc::flock(std::os::unix::io::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
        let out = beam_command("mix", &dir)
            .args(["release", "--overwrite", "--quiet"])
            .env("MIX_ENV", "prod")
            .output()
            .expect("cannot run mix");
        unsafe { libc::flock(std::os::unix::io::AsRawFd::as_raw_fd(&lock), libc::LOCK_UN) };
        assert!(
            out.status.success(),
            "mix release failed in {}:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// Compiles `fixtures/demo` once per machine state; concurrent test binaries serialise on a lock file.
/// For a root (`ORBIT_OTP`), `scripts/otp-roots fixture` brings the root's copy up to date and compiles it.
pub fn build_demo_fixture() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Some(root) = otp_root() {
            let out = Command::new(repo_root().join("scripts/otp-roots"))
                .args(["fixture", &root.name])
                .output()
                .expect("cannot run scripts/otp-roots");
            assert!(
                out.status.success(),
                "scripts/otp-roots fixture {} failed:\n{}",
                root.name,
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let dir = repo_root().join("fixtures/demo");
        let lock_path = dir.join(".build.lock");
        let lock = std::fs::File::create(&lock_path).expect("fixture lock");
        unsafe { libc::flock(std::os::unix::io::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
        let out = Command::new("mix")
            .arg("compile")
            .current_dir(&dir)
            .env("MIX_ENV", "dev")
            .output()
            .expect("cannot run mix (is Elixir installed? run scripts/test)");
        unsafe { libc::flock(std::os::unix::io::AsRawFd::as_raw_fd(&lock), libc::LOCK_UN) };
        assert!(
            out.status.success(),
            "mix compile failed in fixtures/demo:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_erl_call_lists() {
        assert_eq!(parse_atom_list("['a@h',b@h]"), vec!["a@h", "b@h"]);
        assert!(parse_atom_list("[]").is_empty());
    }

    /// Field 22 of /proc/<pid>/stat, or None when there is no such process (or only its zombie).
    fn start_time(pid: u32) -> Option<String> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
        (fields[0] != "Z").then(|| fields[19].to_string())
    }

    fn sleeper() -> Command {
        let mut c = Command::new("sleep");
        c.arg("30").stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    #[test]
    fn an_owned_child_is_not_running_after_the_test_panics() {
        let mut seen = None;
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let child = OwnedChild::spawn(&mut sleeper(), "sleep").unwrap();
            seen = Some((child.id(), start_time(child.id()).expect("it runs")));
            panic!("a failed step");
        }));
        assert!(panicked.is_err());
        let (pid, start) = seen.unwrap();
        assert_ne!(start_time(pid), Some(start), "pid {pid} still runs");
    }

    #[test]
    fn a_wait_for_an_owned_child_is_bounded_and_leaves_it_not_running() {
        let child = OwnedChild::spawn(&mut sleeper(), "sleep 30").unwrap();
        let (pid, start) = (child.id(), start_time(child.id()).unwrap());
        let t0 = Instant::now();
        let err = child.wait_with_output_within(Duration::from_millis(300)).unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(3), "took {:?}", t0.elapsed());
        assert!(err.contains("sleep 30") && err.contains("did not end within"), "{err}");
        assert_ne!(start_time(pid), Some(start), "pid {pid} still runs");

        let out = OwnedChild::spawn(Command::new("echo").arg("hi").stdout(Stdio::piped()), "echo")
            .unwrap()
            .wait_with_output_within(Duration::from_secs(10))
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"hi\n");
    }
}
