//! `orbit status`, `top`, `processes` and `inspect`, run as a user would against real nodes.

use orbit_test_harness::{run_within, TestCluster};
use std::process::{Command, Output};
use std::time::Duration;

fn orbit(nodes: &TestCluster, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orbit"));
    cmd.args(args)
        .args(["--node", nodes.name(0), "--cookie", &nodes.cookie, "--timeout", "20"])
        .env("ORBIT_LOG", "error");
    run_within(&mut cmd, &format!("orbit {}", args.join(" ")), Duration::from_secs(120))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "orbit failed: {}{}", stdout(o), stderr(o));
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

#[test]
fn status_reports_health_per_node_as_table_and_json() {
    let nodes = TestCluster::erlang(2);
    let out = orbit(&nodes, &["status", "--interval", "0.3"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("NODE"), "{text}");
    for n in nodes.names() {
        let line = text.lines().find(|l| l.starts_with(&n)).unwrap_or_else(|| panic!("{n} in {text}"));
        assert!(line.contains("healthy") && line.contains("all"), "{line}");
    }

    let v = json(&orbit(&nodes, &["status", "--json", "--interval", "0.3", "--mailbox-threshold", "500"]));
    let rows = v["nodes"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert_eq!(r["status"], "healthy");
        assert!(r["sample"]["scheduler_utilisation"].is_number(), "{r}");
        assert!(r["sample"]["process_count"].as_u64().unwrap() > 10);
        assert!(r["sample"]["top_memory"].as_array().unwrap()[0]["pid"].as_str().unwrap().starts_with("#PID<0."));
    }
    assert_eq!(v["thresholds"]["mailbox_degraded"], 500);
    assert!(v["alerts"].as_array().unwrap().is_empty());
    assert!(v["partition"].is_null());
}

#[test]
fn processes_lists_filters_pages_and_rejects_bad_input() {
    let nodes = TestCluster::erlang(2);
    let v = json(&orbit(&nodes, &["processes", "--json", "--limit", "5"]));
    let procs = v["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 5);
    let mem: Vec<u64> = procs.iter().map(|p| p["memory"].as_u64().unwrap()).collect();
    assert!(mem.windows(2).all(|w| w[0] >= w[1]), "{mem:?}");
    assert_eq!(v["per_node"].as_object().unwrap().len(), 2);

    let out = orbit(&nodes, &["processes", "--name", "^code_server$"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert_eq!(text.lines().filter(|l| l.contains(":code_server")).count(), 2, "{text}");
    assert!(text.contains("1–2 of 2 matching processes on 2 node(s), by memory (page 1 of 1)"), "{text}");

    let page2 = json(&orbit(&nodes, &["processes", "--json", "--limit", "3", "--page", "2", "--sort", "reductions"]));
    assert_eq!(page2["offset"], 3);
    assert_eq!(page2["sort"], "reductions");

    let out = orbit(&nodes, &["processes", "--name", "("]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("bad name pattern \"(\": missing ") && err.contains(" at position 1"), "{err}");
    let out = orbit(&nodes, &["processes", "--on", "nope@nowhere"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope@nowhere is not a node of this cluster (known: "), "{}", stderr(&out));
    let out = orbit(&nodes, &["processes", "--sort", "colour"]);
    assert_eq!(out.status.code(), Some(2), "clap rejects it");
    assert!(stderr(&out).contains("unknown sort key"), "{}", stderr(&out));

    let out = orbit(&nodes, &["processes", "--tree", "kernel", "--on", nodes.name(1), "--depth", "1"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.starts_with(&format!("{} (application :kernel)", nodes.name(1))), "{text}");
    assert!(text.contains(":kernel_sup #PID<0.") && text.contains("├─ "), "{text}");
}

#[test]
fn inspect_shows_a_process_its_graph_and_kills_with_a_reason() {
    let nodes = TestCluster::erlang(2);
    let node = nodes.name(1).to_string();
    let out = orbit(&nodes, &["inspect", &node, "application_controller"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.starts_with("#PID<0.") && text.contains(&format!(" on {node} (:application_controller)")), "{text}");
    assert!(text.contains("Stacktrace:\n  :gen_server.loop/") && text.contains(" (gen_server.erl:"), "{text}");
    assert!(text.contains("State:\n  {:state,"), "{text}");

    let v = json(&orbit(&nodes, &["inspect", &node, ":code_server", "--json"]));
    assert_eq!(v["registered_name"], ":code_server");
    assert_eq!(v["state"]["outcome"], "unavailable");
    let pid = v["pid"].as_str().unwrap().to_string();
    let by_pid = json(&orbit(&nodes, &["inspect", &node, &pid, "--json", "--no-state"]));
    assert_eq!(by_pid["pid"], pid.as_str());
    assert_eq!(by_pid["state"]["outcome"], "skipped");

    let g = json(&orbit(&nodes, &["inspect", &node, "kernel_sup", "--graph", "--depth", "1", "--json"]));
    assert!(g["edges"].as_array().unwrap().iter().any(|e| e["kind"] == "link"), "{g}");

    // errors
    let out = orbit(&nodes, &["inspect", &node, "<0.30000.0>"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("no process #PID<0.30000.0> on {node}")), "{}", stderr(&out));
    let out = orbit(&nodes, &["inspect", &node, "<3.1.0>"]);
    assert!(stderr(&out).contains("another node's point of view"), "{}", stderr(&out));
    let out = orbit(&nodes, &["inspect", "nope@nowhere", "<0.1.0>"]);
    assert!(stderr(&out).contains("nope@nowhere is not a node of this cluster"), "{}", stderr(&out));

    // kill with a reason
    nodes.eval(1, "register(orbit_cli_victim, spawn(fun() -> receive after infinity -> ok end end)), ok.").unwrap();
    let v = json(&orbit(&nodes, &["inspect", &node, "orbit_cli_victim", "--kill", "shutdown", "--json"]));
    assert_eq!(v["outcome"], "exited");
    assert_eq!(v["reason"], ":shutdown");
    assert_eq!(nodes.eval(1, "whereis(orbit_cli_victim).").as_deref(), Ok("undefined"));
    let out = orbit(&nodes, &["inspect", &node, "rex", "--kill", "not a reason"]);
    assert!(stderr(&out).contains("bad exit reason"), "{}", stderr(&out));
}

#[test]
fn top_draws_frames_of_nodes_processes_and_alerts() {
    let nodes = TestCluster::erlang(2);
    let out = orbit(&nodes, &["top", "--count", "2", "--interval", "0.3", "--processes", "3"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert_eq!(text.matches("orbit top — 2 node(s): 2 healthy").count(), 2, "{text}");
    for n in nodes.names() {
        assert!(text.contains(&n), "{text}");
    }
    assert!(text.contains("Alerts (0):") && text.contains("Most memory:"), "{text}");

    let out = orbit(&nodes, &["top", "--count", "2", "--interval", "0.3", "--json"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    let frames: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1]["nodes"].as_array().unwrap().len(), 2);
    assert!(frames[1]["top_memory"].as_array().unwrap().len() >= 2);
}
