//! The distribution link and RPC against real Erlang nodes.

use beam::link::{Cookie, Delivery, Link, LinkClosed, LinkError, LinkOptions, LocalNode, MonitorTarget, NodeName};
use beam::rpc::{self, ExceptionClass, RpcError};
use beam::term::atom;
use eetf::{List, Term};
use orbit_test_harness::TestCluster;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

async fn link_to(cluster: &TestCluster, i: usize) -> Link {
    link_with(cluster, i, LinkOptions::default()).await
}

async fn link_with(cluster: &TestCluster, i: usize, options: LinkOptions) -> Link {
    let peer = NodeName::parse(cluster.name(i)).unwrap();
    let local = LocalNode::new(format!("orbit_test_{}@{}", rand_suffix(), peer.host()));
    Link::connect(local, &peer, &Cookie::new(cluster.cookie.clone()), &options).await.expect("connect")
}

fn rand_suffix() -> String {
    orbit_test_harness::unique_name("l")
}

/// A process on the node that sleeps until it is killed.
async fn sleeper_on(link: &Link) -> eetf::Pid {
    let args = vec![atom("timer"), atom("sleep"), Term::from(List::from(vec![atom("infinity")]))];
    match rpc::call(link, "erlang", "spawn", args, T).await.unwrap() {
        Term::Pid(pid) => pid,
        other => panic!("spawn returned no pid: {other:?}"),
    }
}

fn int(i: i32) -> Term {
    Term::from(eetf::FixInteger::from(i))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_returns_values_and_typed_errors() {
    let cluster = TestCluster::erlang(1);
    let link = link_to(&cluster, 0).await;

    let node = rpc::call(&link, "erlang", "node", vec![], T).await.unwrap();
    assert_eq!(node, atom(cluster.name(0)));

    let sum = rpc::call(&link, "lists", "sum", vec![Term::from(List::from(vec![int(1), int(2), int(3)]))], T).await;
    assert_eq!(sum.unwrap(), int(6));

    // error with stack
    let err = rpc::call(&link, "erlang", "binary_to_atom", vec![int(1)], T).await.unwrap_err();
    match &err {
        RpcError::Exception { class: ExceptionClass::Error, reason, .. } => assert_eq!(*reason, atom("badarg")),
        other => panic!("expected error:badarg, got {other:?}"),
    }
    assert!(err.to_string().contains(cluster.name(0)), "error names the node: {err}");

    // throw is told apart from a return
    let err = rpc::call(&link, "erlang", "throw", vec![atom("ball")], T).await.unwrap_err();
    assert!(
        matches!(err, RpcError::Exception { class: ExceptionClass::Throw, ref reason, .. } if *reason == atom("ball"))
    );

    // exit
    let err = rpc::call(&link, "erlang", "exit", vec![atom("gone")], T).await.unwrap_err();
    assert!(matches!(err, RpcError::Exception { class: ExceptionClass::Exit, .. }));
    assert_eq!(err.to_string(), format!("{}: erlang:exit/1 raised exit: gone", cluster.name(0)));

    // undefined function
    let err = rpc::call(&link, "no_such_module", "f", vec![], T).await.unwrap_err();
    assert!(err.is_undef(), "{err}");

    // a function that prints does not hang the call (the node's own group leader is used)
    let printed = rpc::call(&link, "io", "format", vec![Term::from(eetf::ByteList::from("hello from rpc~n"))], T).await;
    assert_eq!(printed.unwrap(), atom("ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_timeout_and_later_calls_still_work() {
    let cluster = TestCluster::erlang(1);
    let link = link_to(&cluster, 0).await;
    let err = rpc::call(&link, "timer", "sleep", vec![int(2000)], Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(err, RpcError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("did not answer"));
    assert_eq!(rpc::call(&link, "erlang", "abs", vec![int(-3)], T).await.unwrap(), int(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_results_arrive_whole() {
    let cluster = TestCluster::erlang(1);
    let link = link_to(&cluster, 0).await;
    let bin = rpc::call(&link, "binary", "copy", vec![Term::from(eetf::Binary::from(vec![7u8])), int(1 << 20)], T)
        .await
        .unwrap();
    match bin {
        Term::Binary(b) => assert!(b.bytes.len() == 1 << 20 && b.bytes.iter().all(|&x| x == 7)),
        other => panic!("expected a binary, got {:?}", std::mem::discriminant(&other)),
    }
    let list = rpc::call(&link, "lists", "seq", vec![int(1), int(100_000)], T).await.unwrap();
    match list {
        Term::List(l) => {
            assert_eq!(l.elements.len(), 100_000);
            assert_eq!(l.elements[99_999], int(100_000));
        }
        _ => panic!("expected a list"),
    }
    // and a large argument travels the other way
    let big_arg = Term::from(eetf::Binary::from(vec![1u8; 1 << 20]));
    assert_eq!(rpc::call(&link, "erlang", "byte_size", vec![big_arg], T).await.unwrap(), int(1 << 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_from_fifty_tasks() {
    let cluster = TestCluster::erlang(1);
    let link = link_to(&cluster, 0).await;
    let tasks: Vec<_> = (0..50)
        .map(|t| {
            let link = link.clone();
            tokio::spawn(async move {
                for k in 0..20 {
                    let n = t * 1000 + k;
                    let r = rpc::call(&link, "erlang", "abs", vec![int(-n)], T).await.unwrap();
                    assert_eq!(r, int(n), "each reply goes to its own caller");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_cookie_is_named_as_such() {
    let cluster = TestCluster::erlang(1);
    let peer = NodeName::parse(cluster.name(0)).unwrap();
    let local = LocalNode::new(format!("orbit_test_{}@{}", rand_suffix(), peer.host()));
    let err = Link::connect(local, &peer, &Cookie::new("not-the-cookie"), &LinkOptions::default()).await.unwrap_err();
    assert!(matches!(err, LinkError::CookieRejected { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(cluster.name(0)) && text.contains("cookie"), "{text}");
    assert!(!text.contains("not-the-cookie"), "the cookie is never printed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_node_lists_what_epmd_knows() {
    let cluster = TestCluster::erlang(1);
    let host = orbit_test_harness::short_host();
    let peer = NodeName::parse(&format!("nobody_here_{}@{host}", std::process::id())).unwrap();
    let local = LocalNode::new(format!("orbit_test_{}@{host}", rand_suffix()));
    let err =
        Link::connect(local, &peer, &Cookie::new(cluster.cookie.clone()), &LinkOptions::default()).await.unwrap_err();
    assert!(matches!(err, LinkError::NotRegistered { .. }), "{err}");
    let short = cluster.name(0).split('@').next().unwrap();
    assert!(err.to_string().contains(short), "epmd's list includes the running node: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_epmd_is_reported() {
    // A port that was just free stands in for a host where no epmd listens.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let peer = NodeName::parse("a@127.0.0.1").unwrap();
    let local = LocalNode::new("orbit_test_noepmd@127.0.0.1");
    let options = LinkOptions { epmd_port: free, ..LinkOptions::default() };
    let err = Link::connect(local, &peer, &Cookie::new("x"), &options).await.unwrap_err();
    assert!(matches!(err, LinkError::EpmdUnreachable { .. }), "{err}");
    assert!(err.to_string().contains("epmd"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_killed_during_a_call_fails_it_promptly() {
    let mut cluster = TestCluster::erlang(1);
    let link = link_to(&cluster, 0).await;
    let call = tokio::spawn({
        let link = link.clone();
        async move { rpc::call(&link, "timer", "sleep", vec![int(60_000)], Duration::from_secs(120)).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.nodes[0].kill();
    let result = tokio::time::timeout(Duration::from_secs(1), call).await.expect("error within 1 s").unwrap();
    let err = result.unwrap_err();
    assert!(matches!(err, RpcError::NodeDown { .. }), "{err}");
    assert_eq!(link.closed().await, LinkClosed::PeerClosed);
    // further calls fail at once
    assert!(matches!(rpc::call(&link, "erlang", "node", vec![], T).await, Err(RpcError::NodeDown { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_node_is_detected_by_missed_ticks() {
    let cluster = TestCluster::erlang(1);
    let options = LinkOptions { tick_time: Duration::from_secs(2), ..LinkOptions::default() };
    let link = link_with(&cluster, 0, options).await;
    // Idle but alive: the link must stay up across several tick periods.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!link.is_closed(), "an idle live node is not taken for dead");
    cluster.nodes[0].freeze();
    let reason = tokio::time::timeout(Duration::from_secs(10), link.closed()).await.expect("detected");
    cluster.nodes[0].thaw();
    assert!(matches!(reason, LinkClosed::TickTimeout(_)), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_and_links_deliver_signals() {
    let mut cluster = TestCluster::erlang(1);
    let link = link_to(&cluster, 0).await;
    let mut mb = link.local().open_mailbox();
    // A process that waits for a message, then exits with a reason.
    let pid = sleeper_on(&link).await;
    let reference = link.monitor(mb.pid(), MonitorTarget::Pid(pid.clone())).unwrap();
    link.link_process(mb.pid(), &pid).unwrap();
    rpc::call(&link, "erlang", "exit", vec![Term::from(pid.clone()), atom("stopped_by_test")], T).await.unwrap();
    let mut got_down = false;
    let mut got_exit = false;
    while !(got_down && got_exit) {
        match tokio::time::timeout(T, mb.recv()).await.expect("signals arrive").unwrap() {
            Delivery::Down { reference: r, reason, .. } => {
                assert_eq!(r, reference);
                assert_eq!(reason, atom("stopped_by_test"));
                got_down = true;
            }
            Delivery::Exit { from, reason } => {
                assert_eq!(from, pid);
                assert_eq!(reason, atom("stopped_by_test"));
                got_exit = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Monitors of a node that dies fire with noconnection.
    let pid2 = rpc::call(&link, "erlang", "whereis", vec![atom("init")], T).await.unwrap();
    let Term::Pid(pid2) = pid2 else { panic!() };
    link.monitor(mb.pid(), MonitorTarget::Pid(pid2)).unwrap();
    cluster.nodes[0].kill();
    match tokio::time::timeout(T, mb.recv()).await.unwrap().unwrap() {
        Delivery::Down { reason, .. } => assert_eq!(reason, atom("noconnection")),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_our_mailbox() {
    let cluster = TestCluster::erlang(1);
    let link = link_to(&cluster, 0).await;
    let mut mb = link.local().open_mailbox();
    rpc::call(&link, "erlang", "send", vec![Term::from(mb.pid().clone()), atom("hello")], T).await.unwrap();
    match tokio::time::timeout(T, mb.recv()).await.unwrap().unwrap() {
        Delivery::Message { body, .. } => assert_eq!(body, atom("hello")),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_names_work() {
    // A long-named node of its own: the harness uses short names.
    let name = format!("{}@127.0.0.1", orbit_test_harness::unique_name("long"));
    let cookie = "longnamecookie";
    let short = name.split('@').next().unwrap();
    // Owned: killed by pid when dropped, also if this test panics.
    let mut child = orbit_test_harness::OwnedChild::spawn(
        std::process::Command::new("erl")
            .args(["-noshell", "-name", &name, "-setcookie", cookie])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
        "long-named erl node",
    )
    .unwrap();
    let peer = NodeName::parse(&name).unwrap();
    let local = LocalNode::new("orbit_test_long@127.0.0.1");
    let mut result = None;
    for _ in 0..100 {
        match Link::connect(local.clone(), &peer, &Cookie::new(cookie), &LinkOptions::default()).await {
            Ok(link) => {
                result = Some(rpc::call(&link, "erlang", "node", vec![], T).await);
                break;
            }
            Err(LinkError::NotRegistered { .. }) | Err(LinkError::EpmdUnreachable { .. }) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("{e}"),
        }
    }
    child.kill();
    assert_eq!(result.expect("node came up").unwrap(), atom(&name), "{short}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_integers_in_lists_keep_their_sign() {
    let cluster = TestCluster::erlang(1);
    let link = link_to(&cluster, 0).await;
    let arg = Term::from(List::from(vec![int(-1), int(-120), int(7)]));
    let back = rpc::call(&link, "lists", "reverse", vec![arg], T).await.unwrap();
    let values: Vec<i64> =
        beam::term::as_list(&back).unwrap().iter().map(|t| beam::term::as_integer(t).unwrap()).collect();
    assert_eq!(values, vec![7, -120, -1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_nested_too_deep_is_an_error_not_a_crash() {
    let cluster = TestCluster::erlang(1);
    let link = link_to(&cluster, 0).await;
    let src = "-module(orbit_test_deep).\n-export([deep/1]).\ndeep(0) -> [];\ndeep(N) -> [deep(N - 1)].\n";
    beam::agent::load_from_source(&link, "orbit_test_deep", src).await.unwrap();
    let ok = rpc::call(&link, "orbit_test_deep", "deep", vec![int(500)], T).await;
    assert!(ok.is_ok(), "500 levels decode");
    let err = rpc::call(&link, "orbit_test_deep", "deep", vec![int(200_000)], T).await.unwrap_err();
    assert!(matches!(err, RpcError::TooDeep { .. }), "{err}");
    // the link is still good
    assert_eq!(rpc::call(&link, "erlang", "abs", vec![int(-5)], T).await.unwrap(), int(5));
}

/// Every kind of term a node of this release puts in a reply — long UTF-8 atoms, large tuples, bit strings,
/// big integers of either size, funs (local and exported), ports, improper lists, maps with list keys — is
/// measured and decoded by the link, and the same term sent back is the one the node made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_term_crosses_the_link_both_ways_intact() {
    let cluster = TestCluster::erlang(1);
    let link = link_to(&cluster, 0).await;
    let src = r#"-module(orbit_test_kinds).
-export([all/0, differing/1]).
%% Made once and kept, so that the pid and the reference in it are the same for every call.
all() ->
    case persistent_term:get(orbit_test_kinds, none) of
        none -> persistent_term:put(orbit_test_kinds, make()), all();
        Terms -> Terms
    end.
make() ->
    Long = list_to_atom(lists:duplicate(200, 16#e9)),
    [Long, 'short', list_to_tuple(lists:seq(1, 300)), <<1:3>>, <<255, 7:5>>,
     1 bsl 70, -(1 bsl 70), 1 bsl 2400, 3.25, [1, 2 | 3], [-1, 300 | tail],
     #{[1, -2] => {a, [b | c]}, <<"k">> => #{nested => [1.5]}},
     fun lists:map/2, fun() -> ok end, hd(erlang:ports()), self(), make_ref(), "bytes", []].
%% The positions (from 1) where what came back differs from what was sent.
differing(Back) ->
    [I || {I, A, B} <- lists:zip3(lists:seq(1, length(all())), all(), Back), A =/= B].
"#;
    beam::agent::load_from_source(&link, "orbit_test_kinds", src).await.unwrap();
    let all = rpc::call(&link, "orbit_test_kinds", "all", vec![], T).await.expect("the terms arrive");
    let items = beam::term::as_list(&all).expect("a list").to_vec();
    assert_eq!(items.len(), 19, "{all:?}");
    assert!(matches!(&items[0], Term::Atom(a) if a.name == "é".repeat(200)), "the 400-byte atom: {:?}", items[0]);
    assert!(matches!(&items[2], Term::Tuple(t) if t.elements.len() == 300));
    assert!(matches!(&items[3], Term::BitBinary(b) if b.tail_bits_size == 3));
    assert!(matches!(&items[7], Term::BigInteger(_)));
    assert!(matches!(&items[12], Term::ExternalFun(f) if f.module.name == "lists" && f.function.name == "map"));
    assert!(matches!(&items[13], Term::InternalFun(_)));
    assert!(matches!(&items[14], Term::Port(_)));
    let differing = rpc::call(&link, "orbit_test_kinds", "differing", vec![all.clone()], T).await.unwrap();
    assert_eq!(differing, Term::from(List::nil()), "sent back, the node sees the terms it made (positions differing)");
}

/// What a node's processes do to Orbit's hidden node: a spawn request is refused (`notsup`: Orbit runs no
/// code), a monitor of a registered name fires `noproc` at once (Orbit's node registers none) while one of
/// a mailbox's pid stays, `exit/2` reaches the mailbox, and a link that the node's process undoes leaves nothing
/// behind (no exit when that process ends, nor when the node goes away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_from_the_node_to_orbits_processes() {
    let mut cluster = TestCluster::erlang(1);
    let link = link_to(&cluster, 0).await;
    let src = r#"-module(orbit_test_signals).
-export([spawn_on/1, watch/1, exit_to/2, link_then_unlink/1]).
spawn_on(Node) ->
    Ref = erlang:spawn_request(Node, erlang, node, [], []),
    receive {spawn_reply, Ref, error, Why} -> {error, Why}; {spawn_reply, Ref, ok, _} -> spawned
    after 5000 -> timeout end.
watch(Target) ->
    Ref = erlang:monitor(process, Target),
    receive {'DOWN', Ref, process, _, Why} -> {down, Why}
    after 500 -> erlang:demonitor(Ref, [flush]), watching end.
exit_to(Pid, Why) -> exit(Pid, Why).
link_then_unlink(Pid) ->
    {Child, Mref} = spawn_monitor(fun() -> link(Pid), unlink(Pid), exit(gone) end),
    receive {'DOWN', Mref, process, _, _} -> ok end,
    Pid ! {done, Child},
    ok.
"#;
    beam::agent::load_from_source(&link, "orbit_test_signals", src).await.unwrap();
    let local = link.local().clone();
    let orbit_node = atom(local.name());
    let mut mb = local.open_mailbox();
    let call = |f: &'static str, args: Vec<Term>| rpc::call(&link, "orbit_test_signals", f, args, T);
    let pair = |a: &str, b: Term| Term::from(eetf::Tuple::from(vec![atom(a), b]));

    assert_eq!(call("spawn_on", vec![orbit_node.clone()]).await.unwrap(), pair("error", atom("notsup")));

    let by_name = Term::from(eetf::Tuple::from(vec![atom("no_such_name"), orbit_node.clone()]));
    assert_eq!(call("watch", vec![by_name]).await.unwrap(), pair("down", atom("noproc")));
    assert_eq!(call("watch", vec![Term::from(mb.pid().clone())]).await.unwrap(), atom("watching"));

    call("exit_to", vec![Term::from(mb.pid().clone()), atom("told_to")]).await.unwrap();
    match tokio::time::timeout(T, mb.recv()).await.expect("the exit arrives").unwrap() {
        Delivery::Exit { reason, .. } => assert_eq!(reason, atom("told_to")),
        other => panic!("expected the exit signal, got {other:?}"),
    }

    call("link_then_unlink", vec![Term::from(mb.pid().clone())]).await.unwrap();
    let child = loop {
        match tokio::time::timeout(T, mb.recv()).await.expect("the link, then the message").unwrap() {
            Delivery::Link { .. } => continue,
            Delivery::Message { body: Term::Tuple(t), .. }
                if t.elements.len() == 2 && t.elements[0] == atom("done") =>
            {
                break t.elements[1].clone()
            }
            other => panic!("nothing but the link may come before the message (no exit: it unlinked), got {other:?}"),
        }
    };
    assert!(matches!(child, Term::Pid(_)));
    // The node goes away: the undone link does not fire with noconnection.
    cluster.nodes[0].kill();
    tokio::time::timeout(T, link.closed()).await.expect("the link closes");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(mb.try_recv().is_none(), "nothing is delivered for a link that was undone");
}

/// Orbit's own demonitor and unlink: once undone, the process's end delivers neither `DOWN` nor an exit
/// (a message the node sends after that end arrives first: the link is ordered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_and_a_link_orbit_undoes_deliver_nothing() {
    let cluster = TestCluster::erlang(1);
    let link = link_to(&cluster, 0).await;
    let mut mb = link.local().open_mailbox();
    let pid = sleeper_on(&link).await;
    let by_pid = link.monitor(mb.pid(), MonitorTarget::Pid(pid.clone())).unwrap();
    let by_name = link.monitor(mb.pid(), MonitorTarget::Name("init".into())).unwrap();
    link.link_process(mb.pid(), &pid).unwrap();
    link.demonitor(&by_pid).unwrap();
    link.demonitor(&by_name).unwrap();
    link.demonitor(&by_name).unwrap(); // twice: the second is a no-op
    link.unlink_process(mb.pid(), &pid).unwrap();
    rpc::call(&link, "erlang", "exit", vec![Term::from(pid.clone()), atom("kill")], T).await.unwrap();
    rpc::call(&link, "erlang", "send", vec![Term::from(mb.pid().clone()), atom("after_the_end")], T).await.unwrap();
    match tokio::time::timeout(T, mb.recv()).await.expect("the message arrives").unwrap() {
        Delivery::Message { body, .. } => assert_eq!(body, atom("after_the_end")),
        other => panic!("expected only the message, got {other:?}"),
    }
    assert!(mb.try_recv().is_none());
    // The node still answers, and Orbit's process is not linked to it: closing the link delivers nothing.
    link.close();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(mb.try_recv().is_none());
}

/// A node that allows only some nodes to connect (`net_kernel:allow/1`) refuses another Orbit's hidden node,
/// and the error names the node and where to look; once that name is allowed, the connection is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_allow_orbit_refuses_it_by_name() {
    let cluster = TestCluster::erlang(1);
    let first = link_to(&cluster, 0).await;
    let peer = NodeName::parse(cluster.name(0)).unwrap();
    let me = format!("orbit_test_{}@{}", rand_suffix(), peer.host());
    // Only the first Orbit (already connected) is allowed.
    let allow = |names: Vec<Term>| rpc::call(&first, "net_kernel", "allow", vec![Term::from(List::from(names))], T);
    assert_eq!(allow(vec![atom(first.local().name())]).await.unwrap(), atom("ok"));
    let cookie = Cookie::new(cluster.cookie.clone());
    let err = Link::connect(LocalNode::new(me.clone()), &peer, &cookie, &LinkOptions::default()).await.unwrap_err();
    assert!(matches!(err, LinkError::NotAllowed { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(cluster.name(0)) && text.contains("net_kernel:allow/1"), "{text}");
    assert_eq!(allow(vec![atom(&me)]).await.unwrap(), atom("ok"));
    let link = Link::connect(LocalNode::new(me), &peer, &cookie, &LinkOptions::default()).await.expect("allowed now");
    assert_eq!(rpc::call(&link, "erlang", "node", vec![], T).await.unwrap(), atom(cluster.name(0)));
}

/// `gen_server` calls and casts from Orbit to a server on the node: replies arrive, a cast is applied before a
/// later call, a call that times out leaves its late reply harmless, and on a closed link both fail at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gen_server_calls_and_casts_a_late_reply_and_a_closed_link() {
    let cluster = TestCluster::erlang(1);
    let link = link_to(&cluster, 0).await;
    let src = r#"-module(orbit_test_gs).
-behaviour(gen_server).
-export([start/0, init/1, handle_call/3, handle_cast/2]).
start() -> {ok, Pid} = gen_server:start(orbit_test_gs, [], []), Pid.
init([]) -> {ok, 0}.
handle_call(ping, _From, S) -> {reply, pong, S};
handle_call(get, _From, S) -> {reply, S, S};
handle_call(slow, _From, S) -> timer:sleep(1500), {reply, late, S}.
handle_cast({set, V}, _S) -> {noreply, V}.
"#;
    beam::agent::load_from_source(&link, "orbit_test_gs", src).await.unwrap();
    let Term::Pid(server) = rpc::call(&link, "orbit_test_gs", "start", vec![], T).await.unwrap() else {
        panic!("no pid")
    };
    assert_eq!(rpc::gen_call(&link, &server, atom("ping"), T).await.unwrap(), atom("pong"));
    rpc::gen_cast(&link, &server, Term::from(eetf::Tuple::from(vec![atom("set"), int(42)]))).unwrap();
    assert_eq!(rpc::gen_call(&link, &server, atom("get"), T).await.unwrap(), int(42));

    let err = rpc::gen_call(&link, &server, atom("slow"), Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(err, RpcError::Timeout { .. }), "{err}");
    // The late reply comes while the next call waits; that call gets its own answer.
    assert_eq!(rpc::gen_call(&link, &server, atom("ping"), T).await.unwrap(), atom("pong"));

    link.close();
    let err = rpc::gen_cast(&link, &server, atom("x")).unwrap_err();
    assert!(matches!(err, RpcError::NodeDown { .. }) && err.to_string().contains(cluster.name(0)), "{err}");
    let err = rpc::gen_call(&link, &server, atom("ping"), T).await.unwrap_err();
    assert!(matches!(err, RpcError::NodeDown { .. }), "{err}");
}

/// What a process with a sequential-trace token (`seq_trace`) sends carries the token in its control
/// message: such messages, exit signals and the exit of a linked process reach Orbit's processes like any
/// other. A link still in place when the node goes ends with `noconnection`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_signals_carrying_a_seq_trace_token_arrive() {
    async fn next(mb: &mut beam::link::Mailbox, what: &str) -> Delivery {
        tokio::time::timeout(T, mb.recv()).await.unwrap_or_else(|_| panic!("{what} never arrived")).unwrap()
    }
    let mut cluster = TestCluster::erlang(1);
    let link = link_to(&cluster, 0).await;
    let src = r#"-module(orbit_test_tt).
-export([send/2, exit_to/2, link_and_die/1]).
traced(F) ->
    seq_trace:set_token(label, 17),
    R = F(),
    seq_trace:set_token([]),
    R.
send(Pid, Msg) -> traced(fun() -> Pid ! Msg, ok end).
exit_to(Pid, Why) -> traced(fun() -> exit(Pid, Why) end).
link_and_die(Pid) ->
    spawn(fun() -> seq_trace:set_token(label, 17), link(Pid), exit(traced_end) end),
    ok.
"#;
    beam::agent::load_from_source(&link, "orbit_test_tt", src).await.unwrap();
    let mut mb = link.local().open_mailbox();
    let me = Term::from(mb.pid().clone());
    let call = |f: &'static str, args: Vec<Term>| rpc::call(&link, "orbit_test_tt", f, args, T);

    assert_eq!(call("send", vec![me.clone(), atom("with_token")]).await.unwrap(), atom("ok"));
    match next(&mut mb, "the message").await {
        Delivery::Message { body, .. } => assert_eq!(body, atom("with_token")),
        other => panic!("expected the message, got {other:?}"),
    }
    call("exit_to", vec![me.clone(), atom("told_with_token")]).await.unwrap();
    match next(&mut mb, "the exit signal").await {
        Delivery::Exit { reason, .. } => assert_eq!(reason, atom("told_with_token")),
        other => panic!("expected the exit signal, got {other:?}"),
    }
    call("link_and_die", vec![me.clone()]).await.unwrap();
    assert!(matches!(next(&mut mb, "the link").await, Delivery::Link { .. }));
    match next(&mut mb, "the linked process's exit").await {
        Delivery::Exit { reason, .. } => assert_eq!(reason, atom("traced_end")),
        other => panic!("expected the linked process's exit, got {other:?}"),
    }

    let sleeper = sleeper_on(&link).await;
    link.link_process(mb.pid(), &sleeper).unwrap();
    cluster.nodes[0].kill();
    match next(&mut mb, "the link's exit").await {
        Delivery::Exit { from, reason } => assert_eq!((from, reason), (sleeper, atom("noconnection"))),
        other => panic!("expected the link's exit, got {other:?}"),
    }
}
