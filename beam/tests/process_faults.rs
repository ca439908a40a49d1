//! Supervision trees asked for in ways that go wrong: by the pid of a supervisor, by the pid of a process
//! that has exited since it was seen, and with no target at all.

use beam::processes::{self, ProcessError};
use beam::term::{atom, list};
use eetf::Term;
use orbit_test_harness::TestCluster;
use std::time::Duration;
mod common;

const T: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervision_tree_by_pid_and_by_a_pid_that_has_exited() {
    let nodes = TestCluster::erlang(1);
    let cluster = common::join(&nodes, 0).await;
    let node = nodes.name(0).to_string();
    let call = |m: &'static str, f: &'static str, args: Vec<Term>| {
        let (cluster, node) = (cluster.clone(), node.clone());
        async move { cluster.call(&node, m, f, args, T).await.unwrap() }
    };

    // By the pid of kernel's top supervisor, as a listing shows it.
    let Term::Pid(sup) = call("erlang", "whereis", vec![atom("kernel_sup")]).await else { panic!("no kernel_sup") };
    let text = processes::local_pid_text(&sup);
    let trees = processes::supervision_tree(&cluster, &text, std::slice::from_ref(&node), 1, T).await.unwrap();
    assert_eq!(trees.len(), 1);
    assert_eq!((trees[0].pid.as_str(), trees[0].registered_name.as_deref()), (text.as_str(), Some(":kernel_sup")));
    assert!(trees[0].children.iter().any(|c| c.registered_name.as_deref() == Some(":code_server")));

    // A process seen, then gone before its tree is asked for.
    let Term::Pid(gone) = call("erlang", "spawn", vec![atom("erlang"), atom("is_atom"), list(vec![atom("x")])]).await
    else {
        panic!("no pid")
    };
    while call("erlang", "is_process_alive", vec![Term::from(gone.clone())]).await == atom("true") {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let text = processes::local_pid_text(&gone);
    let err = processes::supervision_tree(&cluster, &text, &[], 1, T).await.unwrap_err();
    assert!(matches!(&err, ProcessError::NoProcess { node: n, pid } if *n == node && pid.contains(&text)), "{err:?}");
    assert!(err.to_string().contains("it may have exited"), "{err}");

    let err = processes::supervision_tree(&cluster, "  ", &[], 1, T).await.unwrap_err();
    assert!(matches!(&err, ProcessError::Invalid(why) if why == "name an application or a supervisor"), "{err:?}");
    cluster.disconnect().await;
}
