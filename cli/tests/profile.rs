//! `orbit profile` against a real 3-node cluster of `fixtures/demo` under load (its own load generator:
//! transfers whose ledger entries quote Bank.Fees.fee_for/1): the hot function is named with its calls
//! on each node, the flame graph and speedscope files are written, and nothing of the profile is left on
//! any node after a normal end, after Ctrl-C, and after `orbit` is killed with SIGKILL mid-profile.

use orbit_test_harness::{run_within, OwnedChild, TestCluster};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn orbit_cmd(nodes: &TestCluster, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orbit"));
    cmd.args(args).args(["--node", nodes.name(0), "--cookie", &nodes.cookie]).env("ORBIT_LOG", "error");
    cmd
}

fn orbit(nodes: &TestCluster, args: &[&str]) -> Output {
    run_within(&mut orbit_cmd(nodes, args), &format!("orbit {}", args.join(" ")), Duration::from_secs(120))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Six accounts and transfers from every node, 200 a second each.
fn load(nodes: &TestCluster) {
    let open = "[ 'Elixir.Bank':open_account(list_to_binary(\"acct\" ++ integer_to_list(I)), <<\"o\">>, 10000000) \
                || I <- lists:seq(1, 6)], ok.";
    assert_eq!(nodes.eval(0, open).unwrap(), "ok");
    for i in 0..nodes.nodes.len() {
        assert_eq!(nodes.eval(i, "'Elixir.Bank.LoadGen':start(200).").unwrap(), "ok");
    }
    // Every node has made transfers (so Bank.Fees is loaded everywhere) before a profile starts.
    for i in 0..nodes.nodes.len() {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = nodes.eval(i, "maps:get(ok, 'Elixir.Bank.LoadGen':stats()).").unwrap();
            if ok.parse::<u64>().unwrap_or(0) > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{} makes no transfers", nodes.name(i));
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `{undefined,{call_time,false},[],{flags,[]},[]}` when nothing of a profile is left (see
/// beam/tests/profile.rs).
fn profile_state(nodes: &TestCluster, i: usize) -> String {
    let expr = "{whereis(orbit_profiler), \
                 erlang:trace_info({'Elixir.Bank.Fees', fee_for, 1}, call_time), \
                 [P || P <- processes(), case erlang:trace_info(P, flags) of {flags, []} -> false; undefined -> false; _ -> true end], \
                 erlang:trace_info(new_processes, flags), \
                 case code:ensure_loaded(trace) of \
                     {module, trace} -> [S || {orbit_profile, _} = S <- trace:session_info(all)]; \
                     _ -> [] \
                 end}.";
    nodes.eval(i, expr).map(|s| s.split_whitespace().collect()).unwrap_or_else(|e| format!("eval failed: {e}"))
}

const CLEAN: &str = "{undefined,{call_time,false},[],{flags,[]},[]}";

fn eventually_clean(nodes: &TestCluster, what: &str) {
    for i in 0..nodes.nodes.len() {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = profile_state(nodes, i);
            if s == CLEAN {
                break;
            }
            assert!(Instant::now() < deadline, "after {what}, {} still holds part of a profile: {s}", nodes.name(i));
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn wait_profiling(nodes: &TestCluster) {
    for i in 0..nodes.nodes.len() {
        let deadline = Instant::now() + Duration::from_secs(60);
        while profile_state(nodes, i).starts_with("{undefined,") {
            assert!(Instant::now() < deadline, "{} never started profiling", nodes.name(i));
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn the_hot_function_with_its_calls_on_each_node_and_nothing_left_after_an_end_ctrl_c_or_sigkill() {
    let nodes = TestCluster::demo(3);
    load(&nodes);
    let names = nodes.names();
    let dir = std::env::temp_dir().join(orbit_test_harness::unique_name("profile_cli"));
    std::fs::create_dir_all(&dir).unwrap();
    let (svg, speedscope, folded) = (dir.join("f.svg"), dir.join("s.json"), dir.join("f.txt"));

    // A normal end: the table names the hot function, and each node with its calls.
    let out = orbit(
        &nodes,
        &[
            "profile",
            "--module",
            "Bank.Fees",
            "--duration",
            "5s",
            "--flamegraph",
            svg.to_str().unwrap(),
            "--speedscope",
            speedscope.to_str().unwrap(),
            "--folded",
            folded.to_str().unwrap(),
        ],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().nth(1).unwrap_or_default();
    assert!(first.starts_with("Bank.Fees.fee_for/1 "), "the hot function first: {t}");
    for n in &names {
        assert!(first.contains(&format!("{n} (")), "{n} with its calls: {t}");
    }
    assert!(t.contains("3 node(s) in 5.0"), "{t}");
    assert!(std::fs::read_to_string(&svg).unwrap().contains("</svg>"));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&speedscope).unwrap()).unwrap();
    assert_eq!(s["profiles"].as_array().unwrap().len(), 4, "the cluster and each node");
    assert!(std::fs::read_to_string(&folded).is_ok());
    eventually_clean(&nodes, "a normal end");

    // --json: calls and time per node.
    let out = orbit(&nodes, &["profile", "--module", "Bank.Fees", "--duration", "2s", "--json", "--sample", "off"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hot = &v["functions"][0];
    assert_eq!(hot["name"], "Bank.Fees.fee_for/1", "{v}");
    assert_eq!(hot["nodes"].as_array().unwrap().len(), 3, "{v}");
    assert!(hot["nodes"].as_array().unwrap().iter().all(|n| n["calls"].as_u64().unwrap() > 0), "{v}");
    assert_eq!(v["samples"], 0, "--sample off");
    eventually_clean(&nodes, "a --json profile");

    // Ctrl-C: the profile ends early, the table is printed, nothing stays.
    let child = OwnedChild::spawn(
        orbit_cmd(&nodes, &["profile", "--module", "Bank.Fees", "--duration", "60s"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        "orbit profile",
    )
    .unwrap();
    wait_profiling(&nodes);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output_within(Duration::from_secs(30)).unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("ending the profile early") && t.contains("Bank.Fees.fee_for/1"), "{t}");
    eventually_clean(&nodes, "Ctrl-C");

    // SIGKILL mid-profile: the agent's clean-up on each node removes everything.
    let mut child = OwnedChild::spawn(
        orbit_cmd(&nodes, &["profile", "--module", "Bank.Fees", "--duration", "120s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "orbit profile",
    )
    .unwrap();
    wait_profiling(&nodes);
    child.kill();
    eventually_clean(&nodes, "SIGKILL");
    let _ = std::fs::remove_dir_all(&dir);
}
