//! What can go wrong while connecting to a node, worded for the person who has to fix it.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("'{name}' is not a node name: {reason} (expected name@host, e.g. app@myhost or app@10.0.0.5)")]
    InvalidNodeName { name: String, reason: String },

    #[error("cannot reach epmd on {host}:{port} ({source}); is any Erlang node running on {host}? (ERL_EPMD_PORT changes the port)")]
    EpmdUnreachable { host: String, port: u16, source: std::io::Error },

    #[error("epmd on {host} answered badly: {detail}")]
    Epmd { host: String, detail: String },

    #[error("node {node} is not registered with epmd on {host}; epmd knows {}", known_list(.known))]
    NotRegistered { node: String, host: String, known: Vec<(String, u16)> },

    #[error("cannot connect to {node} at {addr}: {source}")]
    Connect { node: String, addr: String, source: std::io::Error },

    #[error("{node} rejected the cookie: the handshake was closed after Orbit's challenge reply. Pass the node's cookie with --cookie or --cookie-file, cookie or cookieFile (settings, debug configurations), or ORBIT_COOKIE (default: ~/.erlang.cookie)")]
    CookieRejected { node: String },

    #[error("{node} refused the connection (not allowed: check net_kernel:allow/1 on that node)")]
    NotAllowed { node: String },

    #[error("handshake with {node} failed: {detail}")]
    Handshake { node: String, detail: String },

    #[error("TLS distribution settings: {detail}")]
    TlsConfig { detail: String },

    #[error("TLS with {node} failed: unknown CA: its certificate is not signed by a CA Orbit trusts (CA file: {ca}). Give the CA that signed the node's certificate: --tls-ca, tlsCa or ORBIT_TLS_CA (cacertfile in an ssl_dist_optfile)")]
    TlsUnknownCa { node: String, ca: String },

    #[error("TLS with {node} failed: its certificate has expired (or is not valid yet); renew it on the node, or check this machine's clock")]
    TlsCertExpired { node: String },

    #[error("TLS with {node} failed: hostname mismatch: its certificate is not valid for the name Orbit checked ({detail}). Give the name its certificate holds with --tls-server-name, tlsServerName or ORBIT_TLS_SERVER_NAME (server_name_indication), or `disable` to check the chain only")]
    TlsHostnameMismatch { node: String, detail: String },

    #[error("TLS with {node} failed: the node refused Orbit's TLS session (alert {alert}); when it runs verify_peer, give Orbit a certificate signed by a CA the node trusts: --tls-cert and --tls-key (tlsCert/tlsKey, ORBIT_TLS_CERT/ORBIT_TLS_KEY)")]
    TlsRejected { node: String, alert: String },

    #[error("{node} does not speak TLS on its distribution port: it runs plain TCP distribution. Connect without TLS: no --tls-*/--ssl-dist-optfile, no tls*/sslDistOptfile settings, no ORBIT_TLS_* variables")]
    TlsNotSpoken { node: String },

    #[error("{node} expects TLS distribution (-proto_dist inet_tls) and closed Orbit's plain TCP handshake. Give its TLS settings: --ssl-dist-optfile FILE or --tls-ca/--tls-cert/--tls-key (sslDistOptfile, tlsCa, tlsCert, tlsKey; ORBIT_TLS_*)")]
    TlsExpected { node: String },

    #[error("TLS with {node} failed: {detail}")]
    TlsHandshake { node: String, detail: String },

    #[error("{node} did not answer within {after:?} while {what}")]
    Timeout { node: String, what: &'static str, after: Duration },
}

fn known_list(known: &[(String, u16)]) -> String {
    if known.is_empty() {
        return "no nodes".to_string();
    }
    let names: Vec<String> = known.iter().map(|(n, p)| format!("{n} (port {p})")).collect();
    names.join(", ")
}
