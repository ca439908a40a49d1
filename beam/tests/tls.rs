//! TLS distribution (`-proto_dist inet_tls`) against real Erlang nodes with certificates made by the test.

mod common;

use beam::cluster::Cluster;
use beam::link::{Cookie, Link, LinkError, LinkOptions, LocalNode, NodeName, TlsConfig, TlsSettings};
use beam::rpc;
use beam::term::{atom, render_erlang, Limits};
use orbit_test_harness::{TestCluster, TlsFiles};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

fn pem(files: &TlsFiles) -> TlsConfig {
    TlsConfig::pem(Some(files.cert.clone()), Some(files.key.clone()), Some(files.ca.clone()))
}

async fn connect(cluster: &TestCluster, tls: Option<TlsConfig>) -> Result<Link, LinkError> {
    let peer = NodeName::parse(cluster.name(0)).unwrap();
    let local = LocalNode::new(format!("orbit_test_{}@{}", orbit_test_harness::unique_name("tls"), peer.host()));
    let options = LinkOptions { tls, ..LinkOptions::default() };
    Link::connect(local, &peer, &Cookie::new(cluster.cookie.clone()), &options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_is_joined_and_answers_rpc() {
    let nodes = TestCluster::erlang_tls(2);
    let files = nodes.tls().unwrap().clone();

    // The node's own optfile, read the way Erlang reads it (the client section).
    let settings = TlsSettings { ssl_dist_optfile: Some(files.optfile.display().to_string()), ..Default::default() };
    let tls = settings.resolve().unwrap().expect("TLS asked for");
    assert_eq!(tls.ca.as_ref(), Some(&files.ca));
    let link = connect(&nodes, Some(tls.clone())).await.expect("connect over TLS");
    for _ in 0..20 {
        assert_eq!(rpc::call(&link, "erlang", "node", vec![], T).await.unwrap(), atom(nodes.name(0)));
    }
    // The node sees the connection as TLS.
    let proto = rpc::call(&link, "init", "get_argument", vec![atom("proto_dist")], T).await.unwrap();
    let proto = render_erlang(&proto, &Limits::default());
    assert_eq!(proto, r#"{ok,[["inet_tls"]]}"#);
    link.close();

    // A cluster from one seed discovers the other node over TLS too.
    let mut options = common::options();
    options.link.tls = Some(pem(&files));
    let seeds = vec![NodeName::parse(nodes.name(0)).unwrap()];
    let cluster = Cluster::connect(&seeds, Cookie::new(nodes.cookie.clone()), options).await.expect("cluster over TLS");
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.up_nodes().len() < 2 {
        assert!(Instant::now() < deadline, "not every node came up over TLS: {:?}", cluster.nodes());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_errors_name_the_node_and_the_cause() {
    let nodes = TestCluster::erlang_tls(1);
    let files = nodes.tls().unwrap().clone();
    let name = nodes.name(0).to_string();

    // Orbit trusts another CA: the node's certificate is from an unknown CA.
    let wrong_ca = TlsConfig::pem(Some(files.cert.clone()), Some(files.key.clone()), Some(files.other_ca.clone()));
    let err = connect(&nodes, Some(wrong_ca)).await.unwrap_err();
    assert!(matches!(err, LinkError::TlsUnknownCa { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&name) && text.contains("unknown CA"), "{text}");

    // Orbit's client certificate is from a CA the node does not trust: the node refuses it.
    let untrusted =
        TlsConfig::pem(Some(files.other_cert.clone()), Some(files.other_key.clone()), Some(files.ca.clone()));
    let err = connect(&nodes, Some(untrusted)).await.unwrap_err();
    assert!(matches!(err, LinkError::TlsRejected { .. }), "{err:?}");
    assert!(err.to_string().contains(&name), "{err}");

    // No client certificate at all, while the node has fail_if_no_peer_cert.
    let anonymous = TlsConfig::pem(None, None, Some(files.ca.clone()));
    let err = connect(&nodes, Some(anonymous)).await.unwrap_err();
    assert!(matches!(err, LinkError::TlsRejected { .. }), "{err:?}");

    // The name checked is not in the certificate: hostname mismatch; `disable` checks the chain only.
    let mut other_name = pem(&files);
    other_name.server_name = beam::link::ServerNameIndication::Name("db.example.com".into());
    let err = connect(&nodes, Some(other_name.clone())).await.unwrap_err();
    assert!(matches!(err, LinkError::TlsHostnameMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("hostname mismatch") && err.to_string().contains(&name), "{err}");
    other_name.server_name = beam::link::ServerNameIndication::Disable;
    connect(&nodes, Some(other_name)).await.expect("SNI disabled: the chain is enough");

    // Plain TCP to a TLS node.
    let err = connect(&nodes, None).await.unwrap_err();
    assert!(matches!(err, LinkError::TlsExpected { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&name) && text.contains("-proto_dist inet_tls"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_a_plain_node_says_it_does_not_speak_tls() {
    let nodes = TestCluster::erlang(1);
    let files = TlsFiles::generate(&std::env::temp_dir().join(orbit_test_harness::unique_name("tls_plain")));
    let err = connect(&nodes, Some(pem(&files))).await.unwrap_err();
    assert!(matches!(err, LinkError::TlsNotSpoken { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(nodes.name(0)) && text.contains("does not speak TLS"), "{text}");
    let _ = std::fs::remove_dir_all(&files.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_node_certificate_is_named() {
    let nodes = TestCluster::erlang_tls_serving_expired(1);
    let files = nodes.tls().unwrap().clone();
    let err = connect(&nodes, Some(pem(&files))).await.unwrap_err();
    assert!(matches!(err, LinkError::TlsCertExpired { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(nodes.name(0)) && text.contains("expired"), "{text}");
}

/// Without a CA Orbit does what Erlang did before OTP 26 (`verify_none`): it joins a TLS node whatever CA
/// signed the node's certificate, and so does an explicit `verify_none` beside a CA that would refuse it.
/// Settings that cannot work are refused before connecting, naming what is missing or which file is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_ca_nodes_are_not_checked_and_bad_settings_are_named() {
    let nodes = TestCluster::erlang_tls(1);
    let files = nodes.tls().unwrap().clone();

    let no_ca = TlsConfig::pem(Some(files.cert.clone()), Some(files.key.clone()), None);
    let link = connect(&nodes, Some(no_ca)).await.expect("verify_none: the node's certificate is not checked");
    assert_eq!(rpc::call(&link, "erlang", "node", vec![], T).await.unwrap(), atom(nodes.name(0)));
    link.close();
    let mut none_despite_ca =
        TlsConfig::pem(Some(files.cert.clone()), Some(files.key.clone()), Some(files.other_ca.clone()));
    none_despite_ca.verify = Some(beam::link::Verify::None);
    connect(&nodes, Some(none_despite_ca)).await.expect("an explicit verify_none ignores the CA").close();

    let mut peer_without_ca = TlsConfig::pem(Some(files.cert.clone()), Some(files.key.clone()), None);
    peer_without_ca.verify = Some(beam::link::Verify::Peer);
    let err = connect(&nodes, Some(peer_without_ca)).await.unwrap_err();
    assert!(
        matches!(err, LinkError::TlsConfig { .. }) && err.to_string().contains("verify_peer needs the CA"),
        "{err}"
    );

    let key_only = TlsConfig::pem(None, Some(files.key.clone()), Some(files.ca.clone()));
    let err = connect(&nodes, Some(key_only)).await.unwrap_err();
    assert!(err.to_string().contains("a TLS key without a certificate"), "{err}");

    let empty = files.dir.join("empty-ca.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let bad_ca = TlsConfig::pem(Some(files.cert.clone()), Some(files.key.clone()), Some(empty.clone()));
    let err = connect(&nodes, Some(bad_ca)).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&empty.display().to_string()) && text.contains("holds no PEM certificate"), "{text}");
}

/// An `-ssl_dist_optfile` is read as Erlang reads it: a node's `file:consult/1` of the same file gives the
/// same certificate, key and CA paths (escapes in strings, a path written as a list of character codes,
/// quoted atoms, integers with `_`, comments), and a file Erlang cannot read is refused by Orbit too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_optfile_is_read_as_erlang_reads_it() {
    let nodes = TestCluster::erlang(1);
    let dir = std::env::temp_dir().join(orbit_test_harness::unique_name("optfile"));
    std::fs::create_dir_all(&dir).unwrap();
    let consult = |path: &std::path::Path, section: &str, key: &str| {
        let expr = format!(
            "{{ok, [O]}} = file:consult(\"{}\"), lists:flatten(io_lib:format(\"~ts\", [proplists:get_value({key}, \
             proplists:get_value({section}, O))])).",
            path.display()
        );
        let out = nodes.eval(0, &expr).expect("the node reads the file");
        // erl_call prints the iolist as a string literal.
        out.trim().trim_start_matches('"').trim_end_matches('"').replace("\\t", "\t").replace("\\\\", "\\")
    };

    let good = dir.join("good.conf");
    std::fs::write(
        &good,
        "%% the nodes' TLS options\n\
         [{server, [{certfile, \"/srv/a\\tb.pem\"}, {keyfile, [47, 107, 46, 112, 101, 109]}, {depth, 1_0}]},\n \
         {client, [{cacertfile, \"/ca\\\\x.pem\"}, {verify, 'verify_none'}, % inline comment\n \
         {server_name_indication, \"db.example.com\"}]}].\n",
    )
    .unwrap();
    let cfg = TlsConfig::from_optfile(&good).expect("Orbit reads it");
    assert_eq!(cfg.cert.as_deref(), Some(std::path::Path::new("/srv/a\tb.pem")));
    assert_eq!(cfg.cert.as_ref().unwrap().display().to_string(), consult(&good, "server", "certfile"));
    assert_eq!(cfg.key.as_ref().unwrap().display().to_string(), consult(&good, "server", "keyfile"));
    assert_eq!(cfg.key.as_deref(), Some(std::path::Path::new("/k.pem")));
    assert_eq!(cfg.ca.as_ref().unwrap().display().to_string(), consult(&good, "client", "cacertfile"));
    assert_eq!(cfg.verify, Some(beam::link::Verify::None));
    assert_eq!(cfg.server_name, beam::link::ServerNameIndication::Name("db.example.com".into()));

    for (name, text, says) in [
        ("no_dot.conf", "[{client, [{verify, verify_peer}]}]\n", "expected '.'"),
        ("open_string.conf", "[{client, [{cacertfile, \"/ca.pem}]}].\n", "unterminated"),
        ("stray.conf", "[{client, [{verify, ;}]}].\n", "unexpected ';'"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let err = TlsConfig::from_optfile(&path).unwrap_err().to_string();
        assert!(err.contains("is not what Erlang reads") && err.contains(says), "{name}: {err}");
        let erlang = nodes.eval(0, &format!("element(1, file:consult(\"{}\")).", path.display()));
        assert_eq!(erlang.as_deref(), Ok("error"), "{name}: Erlang refuses it too");
    }
    // What Erlang reads but ssl would not take is refused with the option named.
    let sni = dir.join("sni.conf");
    std::fs::write(&sni, "[{client, [{server_name_indication, 42}]}].\n").unwrap();
    let err = TlsConfig::from_optfile(&sni).unwrap_err().to_string();
    assert!(err.contains("server_name_indication is neither disable nor a host name"), "{err}");
    let err = TlsConfig::from_optfile(&dir.join("missing.conf")).unwrap_err().to_string();
    assert!(err.contains("cannot read the ssl_dist_optfile"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
