//! The `readOnly` setting against a real node: `orbit.reload` and `orbit.sandbox.create` are refused with
//! an error naming the mode and change nothing; reading commands (`orbit.sandbox.list`, a trace with the
//! server's count limit) still work.

mod support;

use lsp_types::notification::ShowMessage;
use lsp_types::request::ExecuteCommand;
use lsp_types::ExecuteCommandParams;
use orbit_test_harness::{unique_name, TestCluster};
use serde_json::{json, Value};
use std::time::Duration;
use support::Client;

const WAIT: Duration = Duration::from_secs(120);
const MODE: &str = "refused: Orbit is in read-only mode (--read-only / readOnly / ORBIT_READ_ONLY=1)";

fn execute(client: &Client, command: &str, argument: Value) -> Result<Option<Value>, lsp_server::ResponseError> {
    client.request::<ExecuteCommand>(ExecuteCommandParams {
        command: command.into(),
        arguments: vec![argument],
        work_done_progress_params: Default::default(),
    })
}

#[test]
fn read_only_setting_refuses_reload_and_sandboxes_and_keeps_reads() {
    let cluster = TestCluster::erlang(1);
    let dir = std::env::temp_dir().join(unique_name("orbit_lsp_ro"));
    std::fs::create_dir_all(&dir).unwrap();
    let module = unique_name("orbit_lsp_ro_mod").to_lowercase();
    let path = dir.join(format!("{module}.erl"));
    std::fs::write(&path, format!("-module({module}).\n-export([v/0]).\nv() -> 1.\n")).unwrap();

    let client =
        Client::start(json!({"nodes": [cluster.name(0)], "cookie": cluster.cookie, "readOnly": true}), Some(&dir));
    client.wait_for::<ShowMessage>(WAIT, |m| m.message.contains("connected")).expect("connects");

    let e = execute(&client, "orbit.reload", json!({"file": path})).expect_err("reload refused");
    assert!(e.message.contains(MODE) && e.message.contains("reloading"), "{}", e.message);
    let e = execute(&client, "orbit.sandbox.create", json!({"name": "ro", "module": module})).expect_err("refused");
    assert!(e.message.contains(MODE) && e.message.contains("sandbox"), "{}", e.message);

    let list = execute(&client, "orbit.sandbox.list", json!({})).expect("sandbox list").unwrap();
    assert_eq!(list, json!([]), "{list}");
    execute(&client, "orbit.trace.start", json!({"pattern": "lists:seq/2", "limit": 5})).expect("a limited trace");
    let _ = execute(&client, "orbit.trace.stop", json!({}));

    assert_eq!(cluster.eval(0, &format!("code:is_loaded({module}).")).as_deref(), Ok("false"));
    assert_eq!(cluster.eval(0, "whereis(orbit_sandbox_sup).").as_deref(), Ok("undefined"));
    client.stop();
    let _ = std::fs::remove_dir_all(dir);
}
