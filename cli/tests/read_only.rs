//! Read-only mode from the command line (`--read-only`, `ORBIT_READ_ONLY=1`) against real nodes: what
//! observes keeps working, what would change a node is refused with an error naming the mode, and the
//! node is left as it was.

use orbit_test_harness::{run_within, unique_name, TestCluster};
use std::process::{Command, Output};
use std::time::Duration;

const MODE: &str = "refused: Orbit is in read-only mode (--read-only / readOnly / ORBIT_READ_ONLY=1)";

/// `orbit ARGS --node N --cookie C`, with `env` and no read-only mode inherited from the environment.
fn orbit(nodes: &TestCluster, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orbit"));
    cmd.args(args)
        .args(["--node", nodes.name(0), "--cookie", &nodes.cookie, "--timeout", "20"])
        .env("ORBIT_LOG", "error")
        .env_remove("ORBIT_READ_ONLY")
        .envs(env.iter().copied());
    run_within(&mut cmd, &format!("orbit {}", args.join(" ")), Duration::from_secs(120))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn allowed(o: &Output) -> String {
    assert!(o.status.success(), "refused or failed: {}", text(o));
    assert!(!text(o).contains("read-only"), "{}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn refused(o: &Output, what: &str) {
    let t = text(o);
    assert!(!o.status.success(), "not refused: {t}");
    assert!(t.contains(MODE) && t.contains(what), "{t}");
}

#[test]
fn observing_commands_work_and_changing_ones_are_refused() {
    let nodes = TestCluster::erlang(2);
    let node = nodes.name(0).to_string();
    nodes.eval(0, "register(ro_victim, spawn(fun() -> receive stop -> ok end end)), ok.").expect("victim");
    let dir = std::env::temp_dir().join(unique_name("orbit_ro"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("ro_reloaded.erl");
    std::fs::write(&file, "-module(ro_reloaded).\n-export([f/0]).\nf() -> 1.\n").expect("write");

    for (flag, env) in [(Some("--read-only"), None), (None, Some(("ORBIT_READ_ONLY", "1")))] {
        let env: Vec<(&str, &str)> = env.into_iter().collect();
        let run = |args: &[&str]| {
            let mut a: Vec<&str> = flag.into_iter().collect();
            a.extend_from_slice(args);
            orbit(&nodes, &a, &env)
        };

        // Observing.
        let v: serde_json::Value =
            serde_json::from_str(&allowed(&run(&["status", "--json", "--interval", "0.3"]))).expect("status JSON");
        assert_eq!(v["nodes"].as_array().map(|n| n.len()), Some(2), "{v}");
        let v: serde_json::Value =
            serde_json::from_str(&allowed(&run(&["processes", "--json", "--limit", "5"]))).expect("processes JSON");
        assert_eq!(v["processes"].as_array().map(|p| p.len()), Some(5), "{v}");
        allowed(&run(&["inspect", &node, "ro_victim"]));
        allowed(&run(&["drift"]));
        allowed(&run(&["sandbox", "list"]));
        // A trace with a count limit observes; a rate alone would not end it.
        allowed(&run(&["trace", "calls", "lists:seq/2", "--limit", "5", "--duration", "1"]));
        refused(&run(&["trace", "calls", "lists:seq/2", "--rate", "10/1000", "--duration", "1"]), "--limit N");
        // A profile is bounded in time and changes no code and no state.
        allowed(&run(&["profile", "--module", "lists", "--duration", "1s", "--sample", "off"]));

        // Changing.
        refused(&run(&["inspect", &node, "ro_victim", "--kill"]), "killing <0.");
        refused(&run(&["reload", file.to_str().unwrap()]), "reloading");
        refused(&run(&["sandbox", "create", "ro_sandbox", "--module", "ro_reloaded", "--erlang"]), "sandbox create");
        refused(&run(&["sandbox", "destroy", "ro_sandbox"]), "sandbox destroy");
        refused(&run(&["sandbox", "failover"]), "sandbox failover");
    }

    // Nothing changed: the process lives, nothing was loaded, no sandbox supervisor was started.
    let alive = nodes.eval(0, "is_pid(whereis(ro_victim)).").expect("eval");
    assert_eq!(alive.trim(), "true");
    let loaded = nodes.eval(0, "code:is_loaded(ro_reloaded).").expect("eval");
    assert_eq!(loaded.trim(), "false");
    let sup = nodes.eval(0, "whereis(orbit_sandbox_sup).").expect("eval");
    assert_eq!(sup.trim(), "undefined");
    let _ = std::fs::remove_dir_all(&dir);
}
