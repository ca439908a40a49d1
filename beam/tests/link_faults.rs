//! The link and RPC when what answers misbehaves: an epmd that closes, knows nothing or points to a port
//! where nobody listens or nobody speaks, a TLS node that is frozen or given the wrong cookie, TLS
//! settings that cannot be used, an optfile Erlang reads differently or not at all, and calls that throw,
//! cannot be encoded, meet a frozen node, reply too deep or lose their node.

use beam::link::{epmd_names, Cookie, Link, LinkClosed, LinkError, LinkOptions, LocalNode, NodeName, TlsConfig};
use beam::rpc::{self, ExceptionClass, RpcError};
use beam::term::{atom, int};
use eetf::Term;
use orbit_test_harness::{short_host, TestCluster};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const T: Duration = Duration::from_secs(10);

/// What a fake epmd answers to a port request.
#[derive(Clone, Copy)]
enum Epmd {
    /// Closes the connection without a word.
    Closes,
    /// Knows no node of that name, and lists no nodes.
    KnowsNothing,
    /// Gives this distribution port.
    Port(u16),
}

/// A fake epmd on a port of its own, answering every request as `answer` says; returns its port.
async fn fake_epmd(answer: Epmd) -> u16 {
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(len) = sock.read_u16().await else { return };
                let mut req = vec![0; len as usize];
                if sock.read_exact(&mut req).await.is_err() {
                    return;
                }
                let reply: Vec<u8> = match (answer, req.first()) {
                    (Epmd::Closes, _) => return,
                    // NAMES_REQ: epmd's port, then one line per node (none).
                    (_, Some(110)) => 4369u32.to_be_bytes().to_vec(),
                    // PORT2_RESP, result 1: not registered.
                    (Epmd::KnowsNothing, _) => vec![119, 1],
                    (Epmd::Port(p), _) => {
                        let mut r = vec![119, 0];
                        r.extend_from_slice(&p.to_be_bytes());
                        r.extend_from_slice(&[77, 0, 0, 6, 0, 5]);
                        r.extend_from_slice(&(req.len() as u16 - 1).to_be_bytes());
                        r.extend_from_slice(&req[1..]);
                        r.extend_from_slice(&[0, 0]);
                        r
                    }
                };
                let _ = sock.write_all(&reply).await;
            });
        }
    });
    port
}

async fn connect_via(epmd_port: u16, node: &str, timeout: Duration) -> Result<Link, LinkError> {
    let peer = NodeName::parse(node).unwrap();
    let local = LocalNode::new(format!("{}@{}", orbit_test_harness::unique_name("orbit_f"), peer.host()));
    let options = LinkOptions { epmd_port, connect_timeout: timeout, ..LinkOptions::default() };
    Link::connect(local, &peer, &Cookie::new("cookie"), &options).await
}

/// A listener that answers every connection with `reply` (and keeps it open a while); returns its port.
async fn answering(reply: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut first = [0u8; 256];
                let _ = sock.read(&mut first).await;
                let _ = sock.write_all(reply).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    port
}

/// A port that nothing listens on (bound, then let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0").unwrap().local_addr().unwrap().port()
}

/// An epmd that hangs up, one that knows no such node, and none at all are each named, with the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_epmd_that_hangs_up_or_knows_nothing_and_no_epmd_are_told_apart() {
    let host = short_host();
    let node = format!("ghost@{host}");

    let err = connect_via(fake_epmd(Epmd::Closes).await, &node, T).await.unwrap_err();
    assert!(matches!(&err, LinkError::Epmd { host: h, .. } if *h == host), "{err:?}");
    assert!(err.to_string().contains("answered badly"), "{err}");

    let err = connect_via(fake_epmd(Epmd::KnowsNothing).await, &node, T).await.unwrap_err();
    assert!(matches!(&err, LinkError::NotRegistered { known, .. } if known.is_empty()), "{err:?}");
    assert!(err.to_string().contains(&node) && err.to_string().ends_with("epmd knows no nodes"), "{err}");

    let nobody = free_port();
    let err = epmd_names(&host, nobody).await.unwrap_err();
    assert!(matches!(&err, LinkError::EpmdUnreachable { port, .. } if *port == nobody), "{err:?}");
    assert!(err.to_string().contains(&format!("{host}:{nobody}")), "{err}");
    let err = connect_via(nobody, &node, T).await.unwrap_err();
    assert!(matches!(&err, LinkError::EpmdUnreachable { .. }), "{err:?}");
}

/// epmd gives a port where nothing listens (a node that died without unregistering): the connection is
/// refused, naming the node and the address; a port where something listens but never speaks: a timeout
/// naming the handshake; something that answers but is no node: a failed handshake, or, over TLS, a
/// peer that does not speak TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_port_and_a_listener_that_never_speaks_are_named() {
    let node = format!("ghost@{}", short_host());
    let dead = free_port();
    let err = connect_via(fake_epmd(Epmd::Port(dead)).await, &node, T).await.unwrap_err();
    let LinkError::Connect { node: n, addr, .. } = &err else { panic!("{err:?}") };
    assert_eq!((n.as_str(), addr.as_str()), (node.as_str(), format!("{}:{dead}", short_host()).as_str()));

    let silent = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let short = Duration::from_millis(500);
    let err = connect_via(fake_epmd(Epmd::Port(port)).await, &node, short).await.unwrap_err();
    assert!(
        matches!(&err, LinkError::Timeout { node: n, what, after } if *n == node && *what == "doing the handshake" && *after == short),
        "{err:?}"
    );
    drop(silent);

    // Something that is no node: it takes the name, says `ok`, then sends what is no challenge.
    let port = answering(b"\x00\x03sok\x00\x01x").await;
    let err = connect_via(fake_epmd(Epmd::Port(port)).await, &node, T).await.unwrap_err();
    assert!(matches!(&err, LinkError::Handshake { node: n, .. } if *n == node), "{err:?}");
    assert!(err.to_string().starts_with(&format!("handshake with {node} failed: ")), "{err}");
    // Asked for TLS, a service that answers in plain text does not speak TLS.
    let files =
        orbit_test_harness::TlsFiles::generate(&std::env::temp_dir().join(orbit_test_harness::unique_name("tls_junk")));
    let port = answering(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    let options = LinkOptions {
        epmd_port: fake_epmd(Epmd::Port(port)).await,
        tls: Some(TlsConfig::pem(Some(files.cert.clone()), Some(files.key.clone()), Some(files.ca.clone()))),
        ..LinkOptions::default()
    };
    let local = LocalNode::new(format!("{}@{}", orbit_test_harness::unique_name("orbit_f"), short_host()));
    let err = Link::connect(local, &NodeName::parse(&node).unwrap(), &Cookie::new("c"), &options).await.unwrap_err();
    assert!(matches!(&err, LinkError::TlsNotSpoken { node: n } if *n == node), "{err:?}");
    let _ = std::fs::remove_dir_all(&files.dir);
}

fn tls_link_options(tls: TlsConfig, timeout: Duration) -> LinkOptions {
    LinkOptions { tls: Some(tls), connect_timeout: timeout, ..LinkOptions::default() }
}

async fn connect_tls(nodes: &TestCluster, cookie: &str, options: &LinkOptions) -> Result<Link, LinkError> {
    let peer = NodeName::parse(nodes.name(0)).unwrap();
    let local = LocalNode::new(format!("{}@{}", orbit_test_harness::unique_name("orbit_t"), peer.host()));
    Link::connect(local, &peer, &Cookie::new(cookie), options).await
}

/// A TLS node that is frozen gives a timeout during the TLS handshake (not "does not speak TLS", which
/// would send the user the wrong way), and answers again once thawed; the wrong cookie over TLS is named
/// as such; a CA file whose certificate is not one is refused before connecting, naming the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_tls_node_times_out_and_a_wrong_cookie_or_bad_ca_over_tls_are_named() {
    let nodes = TestCluster::erlang_tls(1);
    let files = nodes.tls().unwrap().clone();
    let name = nodes.name(0).to_string();
    let good = TlsConfig::pem(Some(files.cert.clone()), Some(files.key.clone()), Some(files.ca.clone()));

    nodes.nodes[0].freeze();
    let short = Duration::from_millis(1500);
    let err = connect_tls(&nodes, &nodes.cookie, &tls_link_options(good.clone(), short)).await.unwrap_err();
    nodes.nodes[0].thaw();
    let LinkError::Timeout { node, what, after } = &err else { panic!("{err:?}") };
    assert_eq!((node.as_str(), *after), (name.as_str(), short));
    assert!(what.starts_with("doing the TLS handshake"), "{what}");
    let link = connect_tls(&nodes, &nodes.cookie, &tls_link_options(good.clone(), T)).await.expect("thawed");
    assert_eq!(rpc::call(&link, "erlang", "node", vec![], T).await.unwrap(), atom(&name));
    link.close();

    let err = connect_tls(&nodes, "not-the-cookie", &tls_link_options(good, T)).await.unwrap_err();
    assert!(matches!(&err, LinkError::CookieRejected { node } if *node == name), "{err:?}");

    let bad = files.dir.join("garbage-ca.pem");
    std::fs::write(&bad, "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n").unwrap();
    let bad_ca = TlsConfig::pem(Some(files.cert.clone()), Some(files.key.clone()), Some(bad.clone()));
    let err = connect_tls(&nodes, &nodes.cookie, &tls_link_options(bad_ca, T)).await.unwrap_err();
    assert!(matches!(err, LinkError::TlsConfig { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&bad.display().to_string()) && text.contains("holds a bad certificate"), "{text}");
}

/// Optfiles at the edges of what Erlang reads: items that are no `{Key, Value}` pair and a section that is
/// no list are passed over as ssl passes them over, a `\n` in a string is a newline, a binary string is a
/// path; Orbit reads the same paths as the node's `file:consult/1`. Files Erlang cannot read (a binary
/// left open, a file cut short) Orbit refuses too, and what Erlang reads but is no option list (not a
/// list, a path that is a list of atoms) is refused naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optfiles_at_the_edges_are_read_or_refused_as_erlang_does() {
    let nodes = TestCluster::erlang(1);
    let dir = std::env::temp_dir().join(orbit_test_harness::unique_name("optfile_edges"));
    std::fs::create_dir_all(&dir).unwrap();
    let consult = |path: &std::path::Path, section: &str, key: &str| {
        let expr = format!(
            "{{ok, [O]}} = file:consult(\"{}\"), lists:flatten(io_lib:format(\"~ts\", [proplists:get_value({key}, \
             proplists:get_value({section}, O))])).",
            path.display()
        );
        let out = nodes.eval(0, &expr).expect("the node reads the file");
        out.trim().trim_start_matches('"').trim_end_matches('"').replace("\\n", "\n")
    };

    let odd = dir.join("odd.conf");
    std::fs::write(
        &odd,
        "[stray, {server, notalist},\n {client, [{verify}, {cacertfile, \"/ca\\nx.pem\"}, {certfile, <<\"/c.pem\">>}]}].\n",
    )
    .unwrap();
    let cfg = TlsConfig::from_optfile(&odd).expect("Orbit reads it");
    assert_eq!(cfg.ca.as_deref(), Some(std::path::Path::new("/ca\nx.pem")));
    assert_eq!(cfg.ca.as_ref().unwrap().display().to_string(), consult(&odd, "client", "cacertfile"));
    assert_eq!(cfg.cert.as_ref().unwrap().display().to_string(), consult(&odd, "client", "certfile"));
    assert_eq!(cfg.verify, None, "{{verify}} is no option");

    for (name, text, says) in [
        ("open_binary.conf", "[{client, [{certfile, <<\"/c.pem\" 1>>}]}].\n", "expected '>'"),
        ("cut.conf", "[{client, [", "unexpected end of file"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let err = TlsConfig::from_optfile(&path).unwrap_err().to_string();
        assert!(err.contains("is not what Erlang reads") && err.contains(says), "{name}: {err}");
        let erlang = nodes.eval(0, &format!("element(1, file:consult(\"{}\")).", path.display()));
        assert_eq!(erlang.as_deref(), Ok("error"), "{name}: Erlang refuses it too");
    }
    for (name, text, says) in [
        ("tuple.conf", "{client, [{verify, verify_none}]}.\n", "expected a list"),
        ("atoms.conf", "[{client, [{certfile, [c, a]}]}].\n", "certfile is not a string"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let err = TlsConfig::from_optfile(&path).unwrap_err().to_string();
        assert!(err.contains(says), "{name}: {err}");
        let erlang = nodes.eval(0, &format!("element(1, file:consult(\"{}\")).", path.display()));
        assert_eq!(erlang.as_deref(), Ok("ok"), "{name}: Erlang reads it");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A throw is told from an error and named as one; a call holding an atom longer than a node takes is
/// refused before anything is sent (the node would drop the connection), and the link goes on; a call to a frozen node times out with no exception to read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throw_an_unencodable_call_and_a_frozen_node_are_told_apart() {
    let nodes = TestCluster::erlang(1);
    let peer = NodeName::parse(nodes.name(0)).unwrap();
    let local = LocalNode::new(format!("{}@{}", orbit_test_harness::unique_name("orbit_r"), peer.host()));
    let link = Link::connect(local, &peer, &Cookie::new(nodes.cookie.clone()), &LinkOptions::default()).await.unwrap();

    let err = rpc::call(&link, "erlang", "throw", vec![atom("not_found")], T).await.unwrap_err();
    assert_eq!(err.exception_reason(), Some((&ExceptionClass::Throw, &atom("not_found"))));
    assert!(err.to_string().contains("erlang:throw/1 raised throw: not_found"), "{err}");

    let long = "f".repeat(300);
    let err = rpc::call(&link, "erlang", &long, vec![], T).await.unwrap_err();
    let RpcError::Encode { node, mfa, detail } = &err else { panic!("{err:?}") };
    assert_eq!((node.as_str(), mfa.as_str()), (nodes.name(0), format!("erlang:{long}/0").as_str()));
    assert!(detail.contains("has 300 characters; a node takes at most 255"), "{detail}");
    // Nested in an argument too: such a message would make the node drop the connection.
    let tail = Term::from(eetf::ImproperList::from((vec![atom("a")], atom(&long))));
    let args = vec![beam::term::list(vec![beam::term::tuple(vec![atom("ok"), tail])])];
    let err = rpc::call(&link, "erlang", "length", args, T).await.unwrap_err();
    assert!(matches!(&err, RpcError::Encode { .. }), "{err:?}");
    // An atom of 255 characters (more bytes than that) is sent; the link is still up.
    let most = "é".repeat(255);
    let back = rpc::call(&link, "erlang", "atom_to_binary", vec![atom(&most)], T).await.unwrap();
    assert_eq!(back, beam::term::binary(most.into_bytes()));
    assert_eq!(rpc::call(&link, "erlang", "abs", vec![int(-5)], T).await.unwrap(), int(5));

    nodes.nodes[0].freeze();
    let short = Duration::from_millis(300);
    let err = rpc::call(&link, "erlang", "node", vec![], short).await.unwrap_err();
    nodes.nodes[0].thaw();
    assert!(matches!(&err, RpcError::Timeout { after, .. } if *after == short), "{err:?}");
    assert!(err.exception_reason().is_none() && !err.is_undef());
    assert_eq!(rpc::call(&link, "erlang", "node", vec![], T).await.unwrap(), atom(nodes.name(0)));
    link.close();
}

/// A gen_server whose reply is nested deeper than Orbit decodes is an error naming the call, and the link
/// goes on; a request holding an atom too long is refused before it is sent; a gen_server call whose node is killed while it waits fails at once as node down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gen_call_with_a_reply_too_deep_or_whose_node_dies_fails_clearly() {
    let mut nodes = TestCluster::erlang(1);
    let peer = NodeName::parse(nodes.name(0)).unwrap();
    let local = LocalNode::new(format!("{}@{}", orbit_test_harness::unique_name("orbit_g"), peer.host()));
    let link = Link::connect(local, &peer, &Cookie::new(nodes.cookie.clone()), &LinkOptions::default()).await.unwrap();
    let src = r#"-module(orbit_test_gs_faults).
-behaviour(gen_server).
-export([start/0, init/1, handle_call/3, handle_cast/2]).
start() -> {ok, Pid} = gen_server:start(orbit_test_gs_faults, [], []), Pid.
init([]) -> {ok, 0}.
handle_call(deep, _From, S) -> {reply, lists:foldl(fun(_, A) -> [A] end, [], lists:seq(1, 5000)), S};
handle_call(never, _From, S) -> {noreply, S}.
handle_cast(_, S) -> {noreply, S}.
"#;
    beam::agent::load_from_source(&link, "orbit_test_gs_faults", src).await.unwrap();
    let Term::Pid(server) = rpc::call(&link, "orbit_test_gs_faults", "start", vec![], T).await.unwrap() else {
        panic!("no pid")
    };
    let err = rpc::gen_call(&link, &server, atom("deep"), T).await.unwrap_err();
    assert!(matches!(&err, RpcError::TooDeep { mfa, .. } if mfa == "gen_server:call/3"), "{err:?}");
    assert_eq!(rpc::call(&link, "erlang", "abs", vec![int(-5)], T).await.unwrap(), int(5));

    let long = atom("x".repeat(256));
    let err = rpc::gen_call(&link, &server, long.clone(), T).await.unwrap_err();
    assert!(matches!(&err, RpcError::Encode { mfa, .. } if mfa == "gen_server:call/3"), "{err:?}");
    let err = rpc::gen_cast(&link, &server, long.clone()).unwrap_err();
    assert!(matches!(&err, RpcError::Encode { mfa, .. } if mfa == "gen_server:cast/2"), "{err:?}");
    // Any send is refused so, not only calls: the link checks every payload.
    let err = link.send(&server, beam::term::tuple(vec![atom("hi"), long])).unwrap_err();
    assert!(matches!(&err, LinkClosed::Unsendable(d) if d.contains("has 256 characters")), "{err:?}");
    assert_eq!(rpc::call(&link, "erlang", "abs", vec![int(-5)], T).await.unwrap(), int(5), "the link is up");

    let waiting = {
        let (link, server) = (link.clone(), server.clone());
        tokio::spawn(async move { rpc::gen_call(&link, &server, atom("never"), Duration::from_secs(60)).await })
    };
    // The call is on its way (a later call on the same link has come back) before the node goes.
    assert_eq!(rpc::call(&link, "erlang", "abs", vec![int(-1)], T).await.unwrap(), int(1));
    nodes.nodes[0].kill();
    let err = tokio::time::timeout(T, waiting).await.expect("fails at once").unwrap().unwrap_err();
    assert!(matches!(&err, RpcError::NodeDown { node, .. } if node == nodes.name(0)), "{err:?}");
}

/// A TLS node reached by an address its certificate does not hold (its IP address; the certificate holds
/// its host name, localhost and 127.0.0.1): the default check names the mismatch, and `disable` checks
/// the chain only and joins it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_node_reached_by_an_address_its_certificate_does_not_hold() {
    let nodes = TestCluster::erlang_tls(1);
    let files = nodes.tls().unwrap().clone();
    // The node's own view of its IPv4 addresses, other than loopback.
    let expr = "{ok, Ifs} = inet:getifaddrs(), [inet:ntoa(A) || {_, Opts} <- Ifs, {addr, A} <- Opts, \
                tuple_size(A) == 4, element(1, A) =/= 127].";
    let ips = nodes.eval(0, expr).unwrap();
    // A machine with loopback only has no such address to reach the node by.
    let Some(ip) = ips.split('"').nth(1).map(str::to_string) else { return };
    let short = nodes.name(0).split('@').next().unwrap().to_string();
    let peer = NodeName::parse(&format!("{short}@{ip}")).unwrap();
    let connect = |tls: TlsConfig| {
        let peer = peer.clone();
        let cookie = nodes.cookie.clone();
        async move {
            let local = LocalNode::new(format!("{}@{}", orbit_test_harness::unique_name("orbit_ip"), short_host()));
            Link::connect(local, &peer, &Cookie::new(cookie), &tls_link_options(tls, T)).await
        }
    };
    let mut tls = TlsConfig::pem(Some(files.cert.clone()), Some(files.key.clone()), Some(files.ca.clone()));
    let err = connect(tls.clone()).await.unwrap_err();
    let LinkError::TlsHostnameMismatch { node, detail } = &err else { panic!("{err:?}") };
    assert_eq!(*node, peer.to_string());
    assert!(detail.starts_with(&format!("{ip}; it holds ")) && detail.contains("localhost"), "{detail}");
    tls.server_name = beam::link::ServerNameIndication::Disable;
    let link = connect(tls).await.expect("the chain is enough");
    assert_eq!(rpc::call(&link, "erlang", "node", vec![], T).await.unwrap(), atom(nodes.name(0)));
    link.close();
}
