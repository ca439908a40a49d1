//! `orbit lsp`: from a cluster change (a module reloaded on one node) to the diagnostic published, and the
//! server's memory with 1,000 open files. The server runs in this process over an in-memory connection,
//! against 2 bare Erlang nodes. Run with `scripts/bench` (or `cargo bench -p orbit-server --bench lsp`).

#[path = "../tests/support/mod.rs"]
mod support;

use lsp_types::notification::{PublishDiagnostics, ShowMessage};
use lsp_types::NumberOrString;
use orbit_test_harness::TestCluster;
use serde_json::json;
use std::time::{Duration, Instant};
use support::Client;

const ROUNDS: usize = 12;
const INTERVAL_MS: u64 = 500;
const FILES: usize = 1_000;
const WAIT: Duration = Duration::from_secs(60);

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let cluster = TestCluster::erlang(2);
    let dir = std::env::temp_dir().join(format!("orbit_lsp_bench_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let module = format!("orbit_lsp_bench_{}", std::process::id());
    let path = dir.join(format!("{module}.erl"));
    let text = format!("-module({module}).\n-export([v/0]).\n\nv() -> 1.\n");
    std::fs::write(&path, &text).unwrap();
    let load = |i: usize, version: u32| {
        let src = dir.join(format!("v{version}")).join(format!("{module}.erl"));
        std::fs::create_dir_all(src.parent().unwrap()).unwrap();
        std::fs::write(&src, text.replace("v() -> 1.", &format!("v() -> {version}."))).unwrap();
        let expr = format!(
            "{{ok, M, B}} = compile:file(\"{}\", [binary]), code:purge(M), {{module, M}} = code:load_binary(M, \"{}\", B), ok.",
            src.display(),
            src.display()
        );
        assert_eq!(cluster.eval(i, &expr).as_deref(), Ok("ok"), "load on node {i}");
    };
    load(0, 1);
    load(1, 1);

    let client = Client::start(
        json!({"nodes": [cluster.name(0)], "cookie": cluster.cookie, "refreshIntervalMs": INTERVAL_MS}),
        Some(&dir),
    );
    client.wait_for::<ShowMessage>(WAIT, |m| m.message.contains("connected")).expect("connects");
    let uri = client.open(&path, &text);
    let has_drift = |p: &lsp_types::PublishDiagnosticsParams| {
        p.diagnostics.iter().any(|d| d.code == Some(NumberOrString::String("drift".into())))
    };
    client.pump(Duration::from_millis(3 * INTERVAL_MS));

    // Each round changes the cluster (another version on node 1, then the same again) and times the
    // diagnostic that follows.
    let mut latencies = Vec::new();
    for round in 0..ROUNDS {
        let drift = round % 2 == 0;
        load(1, if drift { 2 } else { 1 });
        let t0 = Instant::now();
        client
            .wait_for::<PublishDiagnostics>(WAIT, |p| p.uri == uri && has_drift(p) == drift)
            .unwrap_or_else(|| panic!("a diagnostic after round {round}:\n{}", client.dump()));
        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];

    // Memory with 1,000 open files (Elixir modules of a few functions each).
    client.pump(Duration::from_secs(2));
    let before = rss_kib();
    for i in 0..FILES {
        let p = dir.join(format!("file_{i}.ex"));
        let body = format!(
            "defmodule Bench.M{i} do\n  use GenServer\n  def init(s), do: {{:ok, s}}\n  def handle_call(:get, _from, s), do: {{:reply, s, s}}\n  def handle_info(_msg, s), do: {{:noreply, s}}\n  def f{i}(x) when x > 0, do: x * {i}\n  def f{i}(_), do: 0\nend\n"
        );
        client.open(&p, &body);
    }
    client.pump(Duration::from_secs(3));
    let after = rss_kib();
    client.stop();
    let _ = std::fs::remove_dir_all(&dir);

    println!("Cluster change -> diagnostic published, {ROUNDS} changes, sampling every {INTERVAL_MS} ms (ms):");
    println!(
        "  p50 {:8.1}   p99 {:8.1}   p50 beyond the sampling interval {:8.1}",
        at(0.5),
        at(0.99),
        at(0.5) - INTERVAL_MS as f64
    );
    println!("Memory with {FILES} open files:");
    println!(
        "  process RSS {:.1} MiB before, {:.1} MiB after: {:.1} MiB for {FILES} files",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after as f64 - before as f64) / 1024.0
    );
}
