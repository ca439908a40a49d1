//! What `orbit status` costs a cluster: only the agent's core is installed, and a node that does not
//! answer is shown as such without holding up the others.

use orbit_test_harness::{run_within, TestCluster};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn orbit(nodes: &TestCluster, timeout: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orbit"));
    cmd.args(args)
        .args(["--node", nodes.name(0), "--cookie", &nodes.cookie, "--timeout", timeout])
        .env("ORBIT_LOG", "error");
    run_within(&mut cmd, &format!("orbit {}", args.join(" ")), Duration::from_secs(120))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Orbit's agent modules loaded on node `i`, asked through `erl_call`.
fn agent_modules(nodes: &TestCluster, i: usize) -> Vec<String> {
    let mods =
        "[orbit_agent, orbit_health, orbit_procs, orbit_dbg, orbit_dbg_cond, orbit_trace, orbit_reload, orbit_sandbox]";
    let out = nodes.eval(i, &format!("[M || M <- {mods}, code:is_loaded(M) =/= false].")).expect("erl_call");
    out.trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn status_installs_only_the_core_and_each_command_its_own_modules() {
    let nodes = TestCluster::erlang(2);
    let out = orbit(&nodes, "10", &["status"]);
    assert!(out.status.success(), "{}", text(&out));
    for i in 0..2 {
        assert_eq!(agent_modules(&nodes, i), ["orbit_agent", "orbit_health", "orbit_procs"], "node {i}");
    }
    let out = orbit(&nodes, "10", &["drift"]);
    assert!(out.status.success(), "{}", text(&out));
    for i in 0..2 {
        assert_eq!(
            agent_modules(&nodes, i),
            ["orbit_agent", "orbit_health", "orbit_procs", "orbit_reload"],
            "node {i}"
        );
    }
}

#[test]
fn a_stopped_node_is_shown_as_no_answer_within_the_timeout() {
    let nodes = TestCluster::erlang(5);
    let frozen = nodes.name(3).to_string();
    nodes.nodes[3].freeze();
    let started = Instant::now();
    let out = orbit(&nodes, "3", &["status"]);
    let took = started.elapsed();
    nodes.nodes[3].thaw();
    let t = text(&out);
    assert!(took < Duration::from_secs(4), "took {took:?} with a 3 s timeout:\n{t}");
    assert_eq!(out.status.code(), Some(2), "{t}");
    let row =
        |n: &str| t.lines().find(|l| l.starts_with(n)).unwrap_or_else(|| panic!("no row for {n}:\n{t}")).to_string();
    assert!(row(&frozen).contains("no answer"), "{t}");
    for (i, n) in nodes.names().iter().enumerate() {
        if i != 3 {
            assert!(row(n).contains("healthy"), "{t}");
        }
    }
}
