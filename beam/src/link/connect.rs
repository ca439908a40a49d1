//! Getting a socket to a node: epmd lookup, TCP with `TCP_NODELAY`, and the distribution handshake.

use super::{Cookie, LinkError, LocalNode, NodeName};
use erl_dist::handshake::{ClientSideHandshake, HandshakeError, HandshakeStatus};
use erl_dist::node::{Creation, LocalNode as DistLocalNode};
use erl_dist::DistributionFlags;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncReadCompatExt;

/// `ERL_EPMD_PORT` as Erlang reads it, else 4369.
pub fn default_epmd_port() -> u16 {
    std::env::var("ERL_EPMD_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(erl_dist::epmd::DEFAULT_EPMD_PORT)
}

async fn with_timeout<T>(
    node: &NodeName,
    what: &'static str,
    after: Duration,
    fut: impl std::future::Future<Output = Result<T, LinkError>>,
) -> Result<T, LinkError> {
    tokio::time::timeout(after, fut).await.map_err(|_| LinkError::Timeout { node: node.to_string(), what, after })?
}

/// Names registered with epmd on `host`.
pub async fn epmd_names(host: &str, port: u16) -> Result<Vec<(String, u16)>, LinkError> {
    let sock = TcpStream::connect((host, port)).await.map_err(|source| LinkError::EpmdUnreachable {
        host: host.to_string(),
        port,
        source,
    })?;
    let _ = sock.set_nodelay(true);
    erl_dist::epmd::EpmdClient::new(sock.compat())
        .get_names()
        .await
        .map_err(|e| LinkError::Epmd { host: host.to_string(), detail: e.to_string() })
}

/// The distribution port of `node`, from epmd on its host.
async fn lookup_port(node: &NodeName, port: u16) -> Result<u16, LinkError> {
    let host = node.host();
    let sock = TcpStream::connect((host, port)).await.map_err(|source| LinkError::EpmdUnreachable {
        host: host.to_string(),
        port,
        source,
    })?;
    let _ = sock.set_nodelay(true);
    let entry = erl_dist::epmd::EpmdClient::new(sock.compat())
        .get_node(node.name())
        .await
        .map_err(|e| LinkError::Epmd { host: host.to_string(), detail: e.to_string() })?;
    match entry {
        Some(e) => Ok(e.port),
        None => {
            let known = epmd_names(host, port).await.unwrap_or_default();
            Err(LinkError::NotRegistered { node: node.to_string(), host: host.to_string(), known })
        }
    }
}

/// Flags Orbit advertises. Not `PUBLISHED`: Orbit is a hidden node. No atom cache, fragments or
/// distribution header: Orbit frames plain `112` messages only, so it must not ask for them.
fn flags() -> DistributionFlags {
    DistributionFlags::mandatory()
        | DistributionFlags::DIST_MONITOR
        | DistributionFlags::DIST_MONITOR_NAME
        | DistributionFlags::SMALL_ATOM_TAGS
        | DistributionFlags::UNICODE_IO
        | DistributionFlags::EXIT_PAYLOAD
}

/// A connected, handshaken socket to `peer`.
pub(crate) struct Established {
    pub stream: TcpStream,
    pub peer_flags: DistributionFlags,
}

pub(crate) async fn establish(
    local: &LocalNode,
    peer: &NodeName,
    cookie: &Cookie,
    timeout: Duration,
    epmd_port: u16,
) -> Result<Established, LinkError> {
    let port = with_timeout(peer, "looking it up in epmd", timeout, lookup_port(peer, epmd_port)).await?;
    let addr = format!("{}:{}", peer.host(), port);
    let stream = with_timeout(peer, "opening the distribution socket", timeout, async {
        TcpStream::connect((peer.host(), port)).await.map_err(|source| LinkError::Connect {
            node: peer.to_string(),
            addr: addr.clone(),
            source,
        })
    })
    .await?;
    // Without this one RPC round trip costs ~44 ms (Nagle + delayed ACK) instead of ~0.2 ms.
    stream.set_nodelay(true).map_err(|source| LinkError::Connect {
        node: peer.to_string(),
        addr: addr.clone(),
        source,
    })?;

    let name: erl_dist::node::NodeName = local
        .name()
        .parse()
        .map_err(|e| LinkError::InvalidNodeName { name: local.name().to_string(), reason: format!("{e:?}") })?;
    let mut me = DistLocalNode::new(name, Creation::new(local.creation()));
    me.flags = flags();

    with_timeout(peer, "doing the handshake", timeout, async {
        let mut hs = ClientSideHandshake::new(stream.compat(), me, cookie.secret());
        let status = hs
            .execute_send_name(erl_dist::LOWEST_DISTRIBUTION_PROTOCOL_VERSION)
            .await
            .map_err(|e| map_handshake_error(peer, e, false))?;
        if status == HandshakeStatus::NotAllowed {
            return Err(LinkError::NotAllowed { node: peer.to_string() });
        }
        let (conn, peer_node) = hs.execute_rest(true).await.map_err(|e| map_handshake_error(peer, e, true))?;
        Ok(Established { stream: conn.into_inner(), peer_flags: peer_node.flags })
    })
    .await
}

fn map_handshake_error(peer: &NodeName, e: HandshakeError, after_name: bool) -> LinkError {
    match e {
        HandshakeError::NotAllowed => LinkError::NotAllowed { node: peer.to_string() },
        HandshakeError::CookieMismatch => LinkError::CookieRejected { node: peer.to_string() },
        // A node that dislikes our digest just closes the socket: that is how a wrong cookie looks.
        HandshakeError::Io(ref io) if after_name && io.kind() == std::io::ErrorKind::UnexpectedEof => {
            LinkError::CookieRejected { node: peer.to_string() }
        }
        other => LinkError::Handshake { node: peer.to_string(), detail: other.to_string() },
    }
}
