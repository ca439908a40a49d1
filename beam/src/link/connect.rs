//! Getting a socket to a node: epmd lookup, TCP with `TCP_NODELAY`, and the distribution handshake.

use super::tls::{describe_tls_error, TlsConfig};
use super::{Cookie, LinkError, LocalNode, NodeName};
use erl_dist::handshake::{ClientSideHandshake, HandshakeError};
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

/// The socket to a node: plain TCP, or TLS over TCP (`-proto_dist inet_tls`).
pub(crate) enum DistStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// A connected, handshaken socket to `peer`.
pub(crate) struct Established {
    pub stream: DistStream,
    pub peer_flags: DistributionFlags,
}

pub(crate) async fn establish(
    local: &LocalNode,
    peer: &NodeName,
    cookie: &Cookie,
    timeout: Duration,
    epmd_port: u16,
    tls: Option<&TlsConfig>,
) -> Result<Established, LinkError> {
    // Files are read (and named in errors) before anything goes on the wire.
    let tls = match tls {
        Some(cfg) => Some((cfg, cfg.client_config()?, cfg.server_name(peer.host())?)),
        None => None,
    };
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
    // Without this one RPC round trip costs ~44 ms (Nagle + delayed ACK) instead of ~0.2 ms. On a socket
    // just connected it does not fail; if it did, the link would only be slower (as with epmd above).
    let _ = stream.set_nodelay(true);

    let name: erl_dist::node::NodeName = local
        .name()
        .parse()
        .map_err(|e| LinkError::InvalidNodeName { name: local.name().to_string(), reason: format!("{e:?}") })?;
    let mut me = DistLocalNode::new(name, Creation::new(local.creation()));
    me.flags = flags();

    match tls {
        None => {
            let (stream, peer_flags) = handshake(peer, cookie, timeout, me, stream, None).await?;
            Ok(Established { stream: DistStream::Plain(stream), peer_flags })
        }
        Some((cfg, config, server_name)) => {
            let connector = tokio_rustls::TlsConnector::from(config);
            let tls_stream = with_timeout(
                peer,
                "doing the TLS handshake (a node of plain TCP distribution says nothing to TLS either)",
                timeout,
                async {
                    connector.connect(server_name, stream).await.map_err(|e| {
                        describe_tls_error(&peer.to_string(), &e, cfg).unwrap_or_else(|| match e.kind() {
                            // A plain distribution port reads the ClientHello as a length and waits, then
                            // closes (net_setuptime), or answers bytes that are no TLS record.
                            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
                                LinkError::TlsNotSpoken { node: peer.to_string() }
                            }
                            _ => LinkError::TlsHandshake { node: peer.to_string(), detail: e.to_string() },
                        })
                    })
                },
            )
            // No answer in time: a node hung or overloaded, or a plain one (which closes only after its
            // net_setuptime, 7 s) asked with a shorter timeout. Not "no TLS": that advice would be wrong
            // for a TLS node that hangs.
            .await?;
            // inet_tls_dist frames the handshake with 4-byte lengths too ({packet, 4} from the start).
            let framed = HandshakeFraming::new(tls_stream);
            let (framed, peer_flags) = handshake(peer, cookie, timeout, me, framed, Some(cfg)).await?;
            Ok(Established { stream: DistStream::Tls(Box::new(framed.into_inner())), peer_flags })
        }
    }
}

/// The distribution handshake over `stream` (TCP or TLS).
async fn handshake<S>(
    peer: &NodeName,
    cookie: &Cookie,
    timeout: Duration,
    me: DistLocalNode,
    stream: S,
    tls: Option<&TlsConfig>,
) -> Result<(S, DistributionFlags), LinkError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    with_timeout(peer, "doing the handshake", timeout, async {
        let mut hs = ClientSideHandshake::new(stream.compat(), me, cookie.secret());
        // A refusing status (not_allowed, nok) fails `execute_rest`, and is named there.
        hs.execute_send_name(erl_dist::LOWEST_DISTRIBUTION_PROTOCOL_VERSION)
            .await
            .map_err(|e| map_handshake_error(peer, e, false, tls))?;
        let (conn, peer_node) = hs.execute_rest(true).await.map_err(|e| map_handshake_error(peer, e, true, tls))?;
        Ok((conn.into_inner(), peer_node.flags))
    })
    .await
}

fn map_handshake_error(peer: &NodeName, e: HandshakeError, after_name: bool, tls: Option<&TlsConfig>) -> LinkError {
    if let (HandshakeError::Io(io), Some(cfg)) = (&e, tls) {
        // In TLS 1.3 a node that refuses Orbit's certificate says so after the TLS handshake, here.
        if let Some(err) = describe_tls_error(&peer.to_string(), io, cfg) {
            return err;
        }
    }
    match e {
        HandshakeError::NotAllowed => LinkError::NotAllowed { node: peer.to_string() },
        HandshakeError::CookieMismatch => LinkError::CookieRejected { node: peer.to_string() },
        // A node that dislikes our digest just closes the socket: that is how a wrong cookie looks.
        HandshakeError::Io(ref io) if after_name && io.kind() == std::io::ErrorKind::UnexpectedEof => {
            LinkError::CookieRejected { node: peer.to_string() }
        }
        // A TLS distribution port answers Orbit's plain `send_name` with a TLS alert (or closes): there is
        // no status, only bytes that are no handshake message.
        _ if !after_name && tls.is_none() => LinkError::TlsExpected { node: peer.to_string() },
        other => LinkError::Handshake { node: peer.to_string(), detail: other.to_string() },
    }
}

/// The distribution handshake as `inet_tls_dist` runs it: every handshake message has a 4-byte length, where
/// plain TCP distribution (and `erl_dist`) uses 2 bytes. This rewrites the lengths both ways, and reads
/// exactly one frame at a time, so nothing that follows the handshake is left buffered here.
pub(crate) struct HandshakeFraming<S> {
    inner: S,
    head: [u8; 4],
    head_len: usize,
    body: Option<(Vec<u8>, usize)>,
    ready: Vec<u8>,
    ready_pos: usize,
    unframed: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
}

impl<S> HandshakeFraming<S> {
    pub(crate) fn new(inner: S) -> Self {
        HandshakeFraming {
            inner,
            head: [0; 4],
            head_len: 0,
            body: None,
            ready: Vec::new(),
            ready_pos: 0,
            unframed: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
        }
    }

    pub(crate) fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for HandshakeFraming<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = self.get_mut();
        loop {
            if this.ready_pos < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.ready_pos);
                buf.put_slice(&this.ready[this.ready_pos..this.ready_pos + n]);
                this.ready_pos += n;
                return Poll::Ready(Ok(()));
            }
            if this.head_len < 4 {
                let mut rb = tokio::io::ReadBuf::new(&mut this.head[this.head_len..]);
                std::task::ready!(std::pin::Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
                let n = rb.filled().len();
                if n == 0 {
                    return Poll::Ready(Ok(())); // end of stream
                }
                this.head_len += n;
                continue;
            }
            let len = u32::from_be_bytes(this.head) as usize;
            if len > u16::MAX as usize {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("a {len}-byte handshake message"),
                )));
            }
            let (body, filled) = this.body.get_or_insert_with(|| (vec![0; len], 0));
            if *filled < len {
                let mut rb = tokio::io::ReadBuf::new(&mut body[*filled..]);
                std::task::ready!(std::pin::Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
                let n = rb.filled().len();
                if n == 0 {
                    return Poll::Ready(Err(std::io::ErrorKind::UnexpectedEof.into()));
                }
                *filled += n;
                continue;
            }
            let (body, _) = this.body.take().expect("a body");
            this.ready = (len as u16).to_be_bytes().to_vec();
            this.ready.extend_from_slice(&body);
            this.ready_pos = 0;
            this.head_len = 0;
        }
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for HandshakeFraming<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        this.unframed.extend_from_slice(buf);
        while this.unframed.len() >= 2 {
            let len = u16::from_be_bytes([this.unframed[0], this.unframed[1]]) as usize;
            if this.unframed.len() < 2 + len {
                break;
            }
            this.out.extend_from_slice(&(len as u32).to_be_bytes());
            this.out.extend_from_slice(&this.unframed[2..2 + len]);
            this.unframed.drain(..2 + len);
        }
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        while this.out_pos < this.out.len() {
            let n = std::task::ready!(std::pin::Pin::new(&mut this.inner).poll_write(cx, &this.out[this.out_pos..]))?;
            if n == 0 {
                return std::task::Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            this.out_pos += n;
        }
        this.out.clear();
        this.out_pos = 0;
        std::pin::Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::ready!(self.as_mut().poll_flush(cx))?;
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::HandshakeFraming;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn handshake_lengths_become_four_bytes_and_back() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut f = HandshakeFraming::new(a);
        f.write_all(&[0, 3]).await.unwrap();
        f.write_all(b"abc").await.unwrap();
        f.flush().await.unwrap();
        let mut got = [0u8; 7];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"\0\0\0\x03abc");
        b.write_all(b"\0\0\0\x02ok\0\0\0\x01x").await.unwrap();
        let mut got = [0u8; 4];
        f.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"\0\x02ok");
        let inner = f.into_inner();
        drop(inner); // the next frame stayed in the stream, not in the adapter
    }

    /// What a peer that breaks the framing gets: a frame longer than a handshake message can be is an
    /// error naming its length; a stream that ends inside a frame is an unexpected end; one that ends
    /// between frames is a plain end. Shutting down sends what was written first.
    #[tokio::test]
    async fn a_broken_handshake_frame_is_an_error_and_shutdown_flushes() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut f = HandshakeFraming::new(a);
        b.write_all(&70_000u32.to_be_bytes()).await.unwrap();
        let err = f.read_u8().await.unwrap_err();
        assert_eq!(
            (err.kind(), err.to_string()),
            (std::io::ErrorKind::InvalidData, "a 70000-byte handshake message".into())
        );

        let (a, mut b) = tokio::io::duplex(1024);
        let mut f = HandshakeFraming::new(a);
        b.write_all(b"\0\0\0\x05ab").await.unwrap();
        drop(b);
        assert_eq!(f.read_u8().await.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);

        let (a, mut b) = tokio::io::duplex(1024);
        let mut f = HandshakeFraming::new(a);
        f.write_all(&[0, 2]).await.unwrap();
        f.write_all(b"hi").await.unwrap();
        f.shutdown().await.unwrap();
        let mut sent = Vec::new();
        b.read_to_end(&mut sent).await.unwrap();
        assert_eq!(sent, b"\0\0\0\x02hi");
        drop(b);
        let mut rest = Vec::new();
        assert_eq!(f.read_to_end(&mut rest).await.unwrap(), 0, "the peer closed between frames");
    }
}
