//! Process labels (`:proc_lib.set_label/1`, OTP 27+) where Orbit names a process: process listings and
//! details, and the debugger's thread names. `fixtures/demo` labels each account process
//! `{Bank.Account, id}` where the node has labels; on OTP 25/26 there are none and names are as before.

mod common;

use beam::debugger::{Engine, EngineEvent, LineBreakpoint, Resume};
use beam::processes::{self, InfoOptions, ProcessQuery, ProcessSpec};
use common::join;
use orbit_test_harness::{demo_dir, TestCluster};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// Whether the node's processes can carry labels (OTP 27+).
fn has_labels(nodes: &TestCluster) -> bool {
    nodes.eval(0, "erlang:function_exported(proc_lib, set_label, 1).").unwrap() == "true"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_details_and_thread_names_show_a_process_label() {
    let nodes = TestCluster::demo(1);
    let labels = has_labels(&nodes);
    let out = nodes.eval(0, "'Elixir.Bank':open_account(<<\"lab-1\">>, <<\"ann\">>, 100).").unwrap();
    assert!(out.starts_with("{ok,"), "{out}");
    let label = r#"{Bank.Account, "lab-1"}"#;
    let expected = labels.then(|| label.to_string());
    if !labels {
        println!("no process labels on this node (OTP {}): names are as before", orbit_test_harness::otp_release());
    }

    // Listed: the label in Elixir syntax, and as the process's name where it has no registered one.
    let cluster = join(&nodes, 0).await;
    let query = ProcessQuery { initial_call: Some("Bank.Account.init/1".into()), limit: 10, ..Default::default() };
    let page = processes::list(&cluster, &query, T).await.unwrap();
    assert_eq!(page.processes.len(), 1, "{:?}", page.processes);
    let account = &page.processes[0];
    assert_eq!(account.process_label, expected);
    assert_eq!(account.label(), if labels { label } else { "Bank.Account.init/1" });
    // Processes without a label have none.
    let by_name = ProcessQuery { name: Some("^Bank.Mailbox$".into()), limit: 10, ..Default::default() };
    let mailbox = processes::list(&cluster, &by_name, T).await.unwrap();
    assert_eq!(mailbox.processes[0].process_label, None);
    assert_eq!(mailbox.processes[0].label(), "Bank.Mailbox");

    // In detail.
    let spec = ProcessSpec::parse(&account.pid).unwrap();
    let info = processes::info(&cluster, &account.node, &spec, InfoOptions::default(), T).await.unwrap();
    assert_eq!(info.process_label, expected);
    cluster.disconnect().await;

    // A thread: the process that stops at a breakpoint is named by its label too.
    let mut engine = common::attach_demo(&nodes, 0).await;
    let account_ex = demo_dir().join("lib/bank/account.ex");
    let bps = engine.set_breakpoints(&account_ex, vec![LineBreakpoint { line: 74, ..Default::default() }]).await;
    assert!(bps[0].verified, "{bps:?}");
    let (node, cookie) = (nodes.name(0).to_string(), nodes.cookie.clone());
    let call = std::thread::spawn(move || {
        let expr = "gen_server:call('Elixir.Bank':whereis(<<\"lab-1\">>), {deposit, 5}, 60000).";
        orbit_test_harness::erl_call(&node, &cookie, expr)
    });
    let stopped = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let raw = engine.next_raw().await.expect("raw events");
            for e in engine.handle_raw(raw).await {
                if let EngineEvent::Stopped { thread, .. } = e {
                    return thread;
                }
            }
        }
    })
    .await
    .expect("the deposit stops at the breakpoint");
    let thread = engine.threads().into_iter().find(|t| t.id == stopped).expect("the stopped thread");
    let pid = account.pid.as_str();
    let want = match &expected {
        Some(l) => format!("{} {pid} {l} Bank.Account.handle_call/3", nodes.name(0)),
        None => format!("{} {pid} Bank.Account.handle_call/3", nodes.name(0)),
    };
    assert_eq!(thread.name, want);
    engine.resume(stopped, Resume::Continue).await.unwrap();
    assert_eq!(call.join().unwrap().unwrap().replace(' ', ""), "{ok,105}");
    let notes = engine.end().await;
    assert!(notes.is_empty(), "{notes:?}");
}
