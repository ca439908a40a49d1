//! `orbit processes` and `orbit inspect` name a labelled process (`:proc_lib.set_label/1`, OTP 27+) by its
//! label, in the table and in JSON. `fixtures/demo` labels each account process `{Bank.Account, id}` where
//! the node has labels; on OTP 25/26 there are none and the output is as before.

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
    assert!(
        o.status.success(),
        "orbit failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn processes_and_inspect_show_a_process_label() {
    let nodes = TestCluster::demo(1);
    let labels = nodes.eval(0, "erlang:function_exported(proc_lib, set_label, 1).").unwrap() == "true";
    let out = nodes.eval(0, "'Elixir.Bank':open_account(<<\"lab-2\">>, <<\"bob\">>, 100).").unwrap();
    assert!(out.starts_with("{ok,"), "{out}");
    let label = r#"{Bank.Account, "lab-2"}"#;

    let text = stdout(&orbit(&nodes, &["processes", "--initial-call", "Bank.Account.init/1"]));
    let row = text.lines().find(|l| l.starts_with(nodes.name(0))).unwrap_or_else(|| panic!("a row: {text}"));
    if labels {
        assert!(row.contains(label), "the label names the process: {text}");
    } else {
        assert!(row.contains("Bank.Account.init/1") && !row.contains(label), "{text}");
        println!("no process labels on this node (OTP {}): names are as before", orbit_test_harness::otp_release());
    }

    let v: serde_json::Value = serde_json::from_str(&stdout(&orbit(
        &nodes,
        &["processes", "--json", "--initial-call", "Bank.Account.init/1"],
    )))
    .unwrap();
    let p = &v["processes"][0];
    assert_eq!(p["label"], if labels { serde_json::json!(label) } else { serde_json::Value::Null }, "{v}");
    assert_eq!(p["registered_name"], serde_json::Value::Null, "{v}");

    let pid = p["pid"].as_str().unwrap();
    let text = stdout(&orbit(&nodes, &["inspect", nodes.name(0), pid, "--no-state"]));
    let first = text.lines().next().unwrap();
    if labels {
        assert_eq!(first, format!("{pid} on {} ({label})", nodes.name(0)));
    } else {
        assert_eq!(first, format!("{pid} on {}", nodes.name(0)));
    }
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&orbit(&nodes, &["inspect", nodes.name(0), pid, "--json", "--no-state"])))
            .unwrap();
    assert_eq!(v["label"], p["label"], "{v}");
}
