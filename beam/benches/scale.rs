//! Orbit at scale: clusters of 1, 3, 10 and 20 local nodes of `fixtures/demo`, driven through the release
//! `orbit` binary as a user would, each figure against a native baseline measured in the same run where
//! one exists (a hidden Erlang node connecting and doing the same `rpc:multicall`).
//!
//! - first contact (fresh nodes: connect + agent install) for `orbit status`, with no compiled agent
//!   cached on Orbit's side (compiled on one node) and with the disk cache filled;
//! - DAP `attach` → `initialized` on fresh nodes, then `setBreakpoints` on one line → all verified;
//! - warm `orbit status`, `orbit drift`, `orbit processes --limit 100`;
//! - one call fanned out to every node against one call to one node.
//!
//! Run with `scripts/bench scale` (or `ORBIT_BIN=target/release/orbit cargo bench -p orbit-beam --bench
//! scale`). `ORBIT_BENCH_SIZES=1,3,10,20` picks the cluster sizes, `ORBIT_BENCH_RUNS` the warm repetitions.

use beam::agent::{self, MODULES};
use beam::link::{Cookie, Link, LinkOptions, LocalNode, NodeName};
use beam::rpc;
use beam::term::{atom, int, list, map};
use eetf::Term;
use orbit_test_harness::{build_demo_fixture, repo_root, unique_name, TestCluster};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};
mod common;
use common::summary;

const T: Duration = Duration::from_secs(120);
const FEES_LINE: u64 = 13; // Bank.Fees.fee_for/1, `fee = div(amount, 100)`
/// First contacts measured per cluster size (the agent is removed from the nodes before each).
const FIRST_CONTACT_RUNS: usize = 3;

/// One measured figure.
struct Figure {
    what: &'static str,
    nodes: usize,
    orbit_ms: f64,
    native_ms: Option<f64>,
}

fn median(v: Vec<f64>) -> f64 {
    summary(v).0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A hidden Erlang node with the same cookie, for the native baselines and for resetting the nodes.
struct Native {
    child: Child,
    link: Link,
}

impl Native {
    async fn start(cookie: &str) -> Native {
        let host = orbit_test_harness::short_host();
        let short = unique_name("bench_native");
        let mut cmd = Command::new("erl");
        cmd.args(["-noshell", "-hidden", "-sname", &short, "-setcookie", cookie]);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("erl");
        let peer = NodeName::parse(&format!("{short}@{host}")).unwrap();
        let mut link = None;
        for _ in 0..200 {
            let local = LocalNode::new(format!("{}@{host}", unique_name("bench_orbit")));
            if let Ok(l) = Link::connect(local, &peer, &Cookie::new(cookie.to_string()), &LinkOptions::default()).await
            {
                link = Some(l);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let link = link.expect("the native node starts");
        agent::load_from_source(&link, "orbit_bench_scale", include_str!("orbit_bench_scale.erl"))
            .await
            .expect("load the native bench module");
        Native { child, link }
    }

    async fn call(&self, f: &str, args: Vec<Term>) -> Term {
        rpc::call(&self.link, "orbit_bench_scale", f, args, T).await.unwrap_or_else(|e| panic!("native {f}: {e}"))
    }

    /// Median milliseconds of `runs` times: connect to every node + `rpc:multicall(M, F, A)`.
    async fn multicall(&self, nodes: &[String], m: &str, f: &str, a: Vec<Term>, runs: usize) -> f64 {
        let names = list(nodes.iter().map(atom).collect());
        let t = self.call("connect_and_multicall", vec![names, atom(m), atom(f), list(a), int(runs as i64)]).await;
        median(micros(&t)) / 1000.0
    }

    /// Drops Orbit's agent from the nodes, so they are fresh for the next first contact.
    async fn unload_agent(&self, nodes: &[String]) {
        let names = list(nodes.iter().map(atom).collect());
        let mods = list(MODULES.iter().map(|m| atom(m.name)).collect());
        self.call("unload", vec![names, mods]).await;
    }
}

impl Drop for Native {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn micros(t: &Term) -> Vec<f64> {
    beam::term::as_list(t)
        .map(|l| l.iter().filter_map(beam::term::as_integer).map(|x| x as f64).collect())
        .unwrap_or_default()
}

/// Runs `orbit <args> --node <first> --cookie …` and returns its wall time; panics if it fails.
/// `compile`: without the agent binaries built with Orbit, so that the agent is compiled on a node.
fn orbit(bin: &Path, nodes: &TestCluster, cache: &Path, compile: bool, args: &[&str]) -> Duration {
    let t0 = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .args(["--node", nodes.name(0), "--cookie", &nodes.cookie, "--timeout", "30"])
        .env("ORBIT_AGENT_CACHE", cache)
        .env("ORBIT_AGENT_PREBUILT", if compile { "off" } else { "on" })
        .env("ORBIT_LOG", "error")
        .output()
        .expect("run orbit");
    let took = t0.elapsed();
    assert!(
        out.status.success(),
        "orbit {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// A minimal DAP client over `orbit dap`'s stdio.
struct Dap {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    seq: i64,
}

impl Dap {
    fn start(bin: &Path, cache: &Path, compile: bool) -> Dap {
        let mut child = Command::new(bin)
            .arg("dap")
            .env("ORBIT_AGENT_CACHE", cache)
            .env("ORBIT_AGENT_PREBUILT", if compile { "off" } else { "on" })
            .env("ORBIT_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("orbit dap");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Dap { child, stdin, stdout, seq: 0 }
    }

    fn send(&mut self, command: &str, arguments: Value) -> i64 {
        self.seq += 1;
        let body = json!({"seq": self.seq, "type": "request", "command": command, "arguments": arguments}).to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
        self.seq
    }

    fn recv(&mut self) -> Value {
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            assert!(self.stdout.read_line(&mut line).unwrap() > 0, "orbit dap closed its output");
            let line = line.trim();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        self.stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// Reads until the response to request `seq`; panics if it failed.
    fn response(&mut self, seq: i64) -> Value {
        loop {
            let m = self.recv();
            if m["type"] == "response" && m["request_seq"] == seq {
                assert!(m["success"] == true, "DAP request failed: {m}");
                return m;
            }
        }
    }

    fn event(&mut self, name: &str) -> Value {
        loop {
            let m = self.recv();
            if m["type"] == "event" && m["event"] == name {
                return m;
            }
            assert!(m["type"] != "response" || m["success"] == true, "DAP request failed: {m}");
        }
    }

    fn finish(mut self) {
        let seq = self.send("disconnect", json!({"terminateDebuggee": false}));
        self.response(seq);
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

/// DAP `attach` → `initialized`, then `setBreakpoints` on one line → every breakpoint verified (first
/// time: the module is interpreted on every node), then the same breakpoint moved.
fn dap_session(bin: &Path, nodes: &TestCluster, cache: &Path, compile: bool) -> (f64, f64, f64) {
    let demo = repo_root().join("fixtures/demo");
    let mut dap = Dap::start(bin, cache, compile);
    let seq = dap.send("initialize", json!({"adapterID": "orbit", "linesStartAt1": true, "columnsStartAt1": true}));
    dap.response(seq);
    let t0 = Instant::now();
    dap.send("attach", json!({"node": nodes.name(0), "cookie": nodes.cookie, "projectDir": demo}));
    dap.event("initialized");
    let attach = ms(t0.elapsed());
    let fees = demo.join("lib/bank/fees.ex");
    let mut set = |line: u64| {
        let t0 = Instant::now();
        let seq = dap.send("setBreakpoints", json!({"source": {"path": fees}, "breakpoints": [{"line": line}]}));
        let r = dap.response(seq);
        let took = ms(t0.elapsed());
        let bps = r["body"]["breakpoints"].as_array().unwrap().clone();
        assert!(bps.iter().all(|b| b["verified"] == true), "not verified: {r}");
        took
    };
    let first = set(FEES_LINE);
    let moved = set(FEES_LINE + 1);
    dap.finish();
    (attach, first, moved)
}

/// An empty directory for Orbit's agent cache, removed when dropped.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fresh_dir(tag: &str) -> TempDir {
    let d = std::env::temp_dir().join(unique_name(tag));
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

async fn measure(bin: &Path, n: usize, runs: usize, out: &mut Vec<Figure>) {
    eprintln!("bench: starting {n} node(s) of fixtures/demo");
    let nodes = TestCluster::demo(n);
    let names = nodes.names();
    let native = Native::start(&nodes.cookie).await;
    let mut push = |what, orbit_ms, native_ms| out.push(Figure { what, nodes: n, orbit_ms, native_ms });

    // First contact: nothing of Orbit's on the nodes. With the binaries built with Orbit (this machine's
    // OTP release is the nodes'), and with none at hand: compiled on one node.
    eprintln!("bench: {n} node(s): first contact, orbit status");
    let (mut prebuilt, mut compiled) = (Vec::new(), Vec::new());
    for _ in 0..FIRST_CONTACT_RUNS {
        native.unload_agent(&names).await;
        prebuilt.push(ms(orbit(bin, &nodes, &fresh_dir("orbit_bench_cache"), false, &["status"])));
        native.unload_agent(&names).await;
        compiled.push(ms(orbit(bin, &nodes, &fresh_dir("orbit_bench_cache"), true, &["status"])));
    }
    push("first contact: orbit status (agent binaries built with Orbit)", median(prebuilt), None);
    push("first contact: orbit status (agent compiled on one node)", median(compiled), None);

    // The debugger, on nodes fresh again each time.
    eprintln!("bench: {n} node(s): DAP attach, setBreakpoints");
    let (mut attach, mut attach_compiled, mut first_bp, mut moved_bp) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..FIRST_CONTACT_RUNS {
        native.unload_agent(&names).await;
        let (a, first, moved) = dap_session(bin, &nodes, &fresh_dir("orbit_bench_cache"), false);
        attach.push(a);
        first_bp.push(first);
        moved_bp.push(moved);
        native.unload_agent(&names).await;
        attach_compiled.push(dap_session(bin, &nodes, &fresh_dir("orbit_bench_cache"), true).0);
    }
    push("first contact: DAP attach → initialized (agent binaries built with Orbit)", median(attach), None);
    push("first contact: DAP attach → initialized (agent compiled on one node)", median(attach_compiled), None);
    push("setBreakpoints, one line, all nodes verified (first: interpret + break)", median(first_bp), None);
    push("setBreakpoints, the breakpoint moved", median(moved_bp), None);
    let cache = fresh_dir("orbit_bench_cache");

    // Warm commands.
    eprintln!("bench: {n} node(s): warm commands");
    let status: Vec<f64> = (0..runs).map(|_| ms(orbit(bin, &nodes, &cache, false, &["status"]))).collect();
    let sample = map(vec![(atom("top_n"), int(5)), (atom("window_ms"), int(200))]);
    let native_status = native.multicall(&names, "orbit_health", "sample", vec![sample], runs).await;
    push("warm orbit status (rates over a 200 ms window)", median(status), Some(native_status));
    let drift: Vec<f64> = (0..runs).map(|_| ms(orbit(bin, &nodes, &cache, false, &["drift"]))).collect();
    let native_drift = native.multicall(&names, "orbit_reload", "loaded_md5s", vec![atom("all")], runs).await;
    push("warm orbit drift", median(drift), Some(native_drift));
    let procs: Vec<f64> =
        (0..runs).map(|_| ms(orbit(bin, &nodes, &cache, false, &["processes", "--limit", "100"]))).collect();
    let opts = map(vec![(atom("sort"), atom("memory")), (atom("limit"), int(100)), (atom("min_queue"), int(0))]);
    let native_procs = native.multicall(&names, "orbit_procs", "list", vec![opts], runs).await;
    push("warm orbit processes --limit 100", median(procs), Some(native_procs));

    // Fan-out from one process, connections up.
    let options = beam::cluster::ClusterOptions { install_agent: false, ..Default::default() };
    let cluster = common::join(&nodes, options).await;
    let (mut one, mut all) = (Vec::new(), Vec::new());
    for _ in 0..300 {
        let t0 = Instant::now();
        cluster.call(&names[0], "erlang", "node", vec![], T).await.unwrap();
        one.push(t0.elapsed().as_secs_f64() * 1e6);
        let t0 = Instant::now();
        let r = cluster.call_all("erlang", "node", vec![], T).await;
        all.push(t0.elapsed().as_secs_f64() * 1e6);
        assert_eq!(r.len(), n);
    }
    cluster.disconnect().await;
    let t = native.call("fanout", vec![list(names.iter().map(atom).collect()), int(300), atom("x")]).await;
    let (native_one, native_all) = match beam::term::as_tuple(&t) {
        Some([a, b]) => (median(micros(a)), median(micros(b))),
        _ => panic!("fanout: {t:?}"),
    };
    let ratio = median(all) / median(one);
    let native_ratio = native_all / native_one;
    // Reported as ratios (fan-out / one call): Orbit's and Erlang's.
    push("fan-out RPC to all nodes ÷ one RPC (p50 ratio)", ratio, Some(native_ratio));
    drop(native);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    build_demo_fixture();
    let bin =
        std::env::var_os("ORBIT_BIN").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target/release/orbit"));
    assert!(
        bin.is_file(),
        "{} not found: build it with cargo build --release -p orbit-cli (scripts/bench does)",
        bin.display()
    );
    let sizes: Vec<usize> = std::env::var("ORBIT_BENCH_SIZES")
        .unwrap_or_else(|_| "1,3,10,20".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runs: usize = std::env::var("ORBIT_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut figures = Vec::new();
    for &n in &sizes {
        measure(&bin, n, runs, &mut figures).await;
    }

    println!(
        "Scale: local nodes of fixtures/demo, {} (median of {runs} for warm commands; milliseconds)",
        bin.display()
    );
    let mut whats: Vec<&str> = Vec::new();
    for f in &figures {
        if !whats.contains(&f.what) {
            whats.push(f.what);
        }
    }
    for what in whats {
        println!("  {what}");
        for f in figures.iter().filter(|f| f.what == what) {
            let is_ratio = what.contains("ratio");
            match (f.native_ms, is_ratio) {
                (Some(nat), true) => println!(
                    "    {:>2} node(s)  orbit {:>7.2}×   native erpc:multicall {:>7.2}×",
                    f.nodes, f.orbit_ms, nat
                ),
                (Some(nat), false) => println!(
                    "    {:>2} node(s)  orbit {:>8.1}   native hidden node connect + rpc:multicall {:>8.1}   ratio {:>5.2}×",
                    f.nodes, f.orbit_ms, nat, f.orbit_ms / nat
                ),
                (None, _) => println!("    {:>2} node(s)  orbit {:>8.1}", f.nodes, f.orbit_ms),
            }
        }
    }
    // The targets of issue #10.
    let get =
        |what: &str, n: usize| figures.iter().find(|f| f.what.starts_with(what) && f.nodes == n).map(|f| f.orbit_ms);
    println!("Targets:");
    let check = |label: &str, v: Option<f64>, limit: f64| {
        if let Some(v) = v {
            println!("  {label}: {v:.0} ms (target ≤ {limit:.0} ms) {}", if v <= limit { "ok" } else { "MISSED" });
        }
    };
    for (label, what) in [
        ("orbit status, binaries built with Orbit", "first contact: orbit status (agent binaries"),
        ("orbit status, compiled on one node", "first contact: orbit status (agent compiled"),
        ("DAP attach, binaries built with Orbit", "first contact: DAP attach → initialized (agent binaries"),
        ("DAP attach, compiled on one node", "first contact: DAP attach → initialized (agent compiled"),
    ] {
        check(&format!("first contact, {label}, 3 nodes"), get(what, 3), 1000.0);
        check(&format!("first contact, {label}, 20 nodes"), get(what, 20), 2000.0);
    }
    check("warm orbit status, 20 nodes", get("warm orbit status", 20), 300.0);
    if let (Some(b1), Some(b20)) = (get("setBreakpoints, one line", 1), get("setBreakpoints, one line", 20)) {
        println!(
            "  setBreakpoints on 20 nodes ÷ on 1 node: {:.2}× (target ≤ 3×) {}",
            b20 / b1,
            if b20 <= 3.0 * b1 { "ok" } else { "MISSED" }
        );
    }
}
