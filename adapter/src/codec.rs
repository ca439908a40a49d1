//! DAP wire framing: `Content-Length: N\r\n\r\n` followed by N bytes of JSON.
//!
//! [`DapCodec`] is a [`tokio_util::codec`] decoder and encoder:
//!
//! - Decoding yields `Result<ProtocolMessage, MessageError>` items. A [`MessageError`] is about one
//!   bad message (garbage, a bad header, a body that is not JSON or not a DAP message): the stream
//!   goes on after it, resynchronised on the next `Content-Length` header where the framing was
//!   lost. Only I/O errors end the stream (`CodecError`). This matters because `FramedRead` stops
//!   for good after a decoder `Err`.
//! - Encoding takes a [`ProtocolMessage`] (a `Request`, `Response` or `Event` converts with
//!   `.into()`) and writes a `Content-Length` that counts the bytes of the JSON body exactly. There
//!   is deliberately a single `Encoder` impl: with several, `SinkExt::flush`/`close` on a
//!   `FramedWrite` could not infer the item type.
//!
//! Header names are matched case-insensitively and headers other than `Content-Length` are
//! ignored. Lines may end in `\r\n` or a bare `\n`; stray blank lines between messages are
//! skipped.
//!
//! ```no_run
//! use futures::{SinkExt, StreamExt};
//! use orbit_adapter::codec::{CodecError, DapCodec};
//! use orbit_adapter::protocol::{ProtocolMessage, Response};
//! use tokio::io::{AsyncRead, AsyncWrite};
//! use tokio_util::codec::{FramedRead, FramedWrite};
//!
//! // `reader`/`writer`: `tokio::io::stdin()`/`stdout()`, or the halves of a `TcpStream`.
//! async fn serve(reader: impl AsyncRead + Unpin, writer: impl AsyncWrite + Unpin) -> Result<(), CodecError> {
//!     let mut input = FramedRead::new(reader, DapCodec::new());
//!     let mut output = FramedWrite::new(writer, DapCodec::new());
//!     let mut seq = 0;
//!     while let Some(item) = input.next().await {
//!         seq += 1;
//!         match item? {
//!             Ok(ProtocolMessage::Request(request)) => {
//!                 output.send(Response::error(seq, &request, "not implemented").into()).await?;
//!             }
//!             Ok(_) => {}
//!             Err(error) => {
//!                 // Answer a request that could not be parsed, if we know which one it was.
//!                 if let Some((request_seq, command)) = error.request() {
//!                     let response = Response::error_for(seq, request_seq, command.unwrap_or_default(), error.to_string());
//!                     output.send(response.into()).await?;
//!                 }
//!             }
//!         }
//!     }
//!     Ok(())
//! }
//! ```

use bytes::{Buf, BytesMut};
use serde::Serialize;
use serde_json::Value;
use tokio_util::codec::{Decoder, Encoder};

use crate::protocol::ProtocolMessage;

/// Largest body accepted by default: 64 MiB.
pub const DEFAULT_MAX_CONTENT_LENGTH: usize = 64 * 1024 * 1024;

/// Longest header block accepted: 8 KiB without a terminating blank line is an error.
pub const MAX_HEADER_LENGTH: usize = 8 * 1024;

const CONTENT_LENGTH: &[u8] = b"content-length";

/// A fatal error: the stream cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Reading or writing the underlying stream failed.
    #[error("I/O error on the DAP stream: {0}")]
    Io(#[from] std::io::Error),
    /// An outgoing message could not be serialized.
    #[error("cannot serialize a DAP message: {0}")]
    Encode(#[source] serde_json::Error),
}

/// One bad incoming message. The decoder has already skipped it; the stream goes on.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// A complete header block without a `Content-Length` header (or bytes that are not a header
    /// at all). The decoder resynchronises on the next `Content-Length`.
    #[error("DAP header without Content-Length")]
    MissingContentLength,
    /// A `Content-Length` whose value is not a decimal number, or two that disagree. The decoder
    /// resynchronises on the next `Content-Length`.
    #[error("invalid DAP Content-Length {0:?}")]
    InvalidContentLength(String),
    /// A `Content-Length` over the limit. The decoder resynchronises on the next
    /// `Content-Length`.
    #[error("DAP Content-Length {length} exceeds the limit of {limit} bytes")]
    ContentTooLarge {
        /// The announced length (saturated at `u64::MAX`).
        length: u64,
        /// The codec's limit.
        limit: usize,
    },
    /// More than [`MAX_HEADER_LENGTH`] bytes without the blank line that ends a header. The
    /// decoder resynchronises on the next `Content-Length`.
    #[error("DAP header longer than {limit} bytes without a terminating blank line")]
    HeaderTooLong {
        /// The limit.
        limit: usize,
    },
    /// The stream ended in the middle of a message.
    #[error("DAP stream ended inside a message ({received} of {expected} bytes received)")]
    Truncated {
        /// Bytes announced by `Content-Length` (0 when the stream ended inside the header).
        expected: usize,
        /// Bytes received.
        received: usize,
    },
    /// The body is not UTF-8.
    #[error("DAP message body is not valid UTF-8: {0}")]
    InvalidUtf8(#[source] std::str::Utf8Error),
    /// The body is not JSON.
    #[error("DAP message body is not valid JSON: {0}")]
    InvalidJson(#[source] serde_json::Error),
    /// The body is JSON but not a valid request, response or event. What could be read of the
    /// envelope is kept so that a request can still be answered with an error response.
    #[error("invalid DAP message: {source}")]
    InvalidMessage {
        /// The `seq` of the message, if it has an integer one.
        seq: Option<i64>,
        /// The `type` of the message, if it has a string one.
        message_type: Option<String>,
        /// The `command` of the message, if it has a string one.
        command: Option<String>,
        /// Why the message is invalid.
        #[source]
        source: serde_json::Error,
    },
}

impl MessageError {
    /// For an invalid message that claims to be a request and has a `seq`: that `seq` and the
    /// `command` (if any), to answer it with an error response.
    pub fn request(&self) -> Option<(i64, Option<String>)> {
        match self {
            Self::InvalidMessage { seq: Some(seq), message_type: Some(t), command, .. } if t == "request" => {
                Some((*seq, command.clone()))
            }
            _ => None,
        }
    }

    /// Whether the framing was lost and bytes were skipped to find the next message (as opposed
    /// to one well-framed message whose content was bad).
    pub fn lost_framing(&self) -> bool {
        matches!(
            self,
            Self::MissingContentLength
                | Self::InvalidContentLength(_)
                | Self::ContentTooLarge { .. }
                | Self::HeaderTooLong { .. }
                | Self::Truncated { .. }
        )
    }
}

/// One decoded item: a message, or the error about one bad message.
pub type Decoded = Result<ProtocolMessage, MessageError>;

/// Content-Length framing codec for DAP messages. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct DapCodec {
    /// Body length announced by the header just parsed, while waiting for the body.
    body_length: Option<usize>,
    /// Set after a framing error: skip bytes until the next `Content-Length` and report nothing
    /// more until a header parses.
    resyncing: bool,
    max_content_length: usize,
}

impl Default for DapCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl DapCodec {
    /// A codec with the default body limit ([`DEFAULT_MAX_CONTENT_LENGTH`]).
    pub fn new() -> Self {
        Self::with_max_content_length(DEFAULT_MAX_CONTENT_LENGTH)
    }

    /// A codec that rejects bodies longer than `max` bytes.
    pub fn with_max_content_length(max: usize) -> Self {
        Self { body_length: None, resyncing: false, max_content_length: max }
    }

    /// Enters resync mode after a framing error, reporting `error` unless already resyncing.
    fn framing_error(&mut self, buf: &mut BytesMut, error: MessageError) -> Option<Decoded> {
        let report = !self.resyncing;
        self.resyncing = true;
        // Skip at least one byte so that the search for the next header makes progress.
        buf.advance(1.min(buf.len()));
        report.then_some(Err(error))
    }

    /// Skips bytes up to the next `Content-Length` (keeping a tail that may be the start of one).
    /// Returns whether a candidate header is at the start of `buf`.
    fn skip_to_header(&self, buf: &mut BytesMut) -> bool {
        match find_ignore_case(buf, CONTENT_LENGTH) {
            Some(at) => {
                buf.advance(at);
                true
            }
            None => {
                let keep = CONTENT_LENGTH.len() - 1;
                if buf.len() > keep {
                    buf.advance(buf.len() - keep);
                }
                false
            }
        }
    }
}

impl Decoder for DapCodec {
    type Item = Decoded;
    type Error = CodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, CodecError> {
        loop {
            if let Some(length) = self.body_length {
                if buf.len() < length {
                    buf.reserve(length - buf.len());
                    return Ok(None);
                }
                self.body_length = None;
                let body = buf.split_to(length);
                return Ok(Some(parse_message(&body)));
            }

            if self.resyncing {
                if !self.skip_to_header(buf) {
                    return Ok(None);
                }
            } else {
                // Stray line ends between messages.
                let blank = buf.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
                buf.advance(blank);
            }
            if buf.is_empty() {
                return Ok(None);
            }

            let Some((header_end, block_end)) = find_header_end(&buf[..buf.len().min(MAX_HEADER_LENGTH)]) else {
                if buf.len() >= MAX_HEADER_LENGTH {
                    let error = MessageError::HeaderTooLong { limit: MAX_HEADER_LENGTH };
                    match self.framing_error(buf, error) {
                        Some(report) => return Ok(Some(report)),
                        None => continue,
                    }
                }
                return Ok(None);
            };

            match parse_header(&buf[..header_end], self.max_content_length) {
                Ok(length) => {
                    buf.advance(block_end);
                    self.resyncing = false;
                    self.body_length = Some(length);
                }
                Err(error) => {
                    // A recognised but unusable Content-Length: its whole header block goes. With
                    // no Content-Length at all, the block may be garbage glued to a real header
                    // (`junkContent-Length: 2`), so only its first byte goes before the search.
                    if !matches!(error, MessageError::MissingContentLength) {
                        buf.advance(block_end - 1);
                    }
                    match self.framing_error(buf, error) {
                        Some(report) => return Ok(Some(report)),
                        None => continue,
                    }
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, CodecError> {
        if let Some(item) = self.decode(buf)? {
            return Ok(Some(item));
        }
        let error = match self.body_length {
            Some(expected) => Some(MessageError::Truncated { expected, received: buf.len() }),
            None if self.resyncing || buf.iter().all(u8::is_ascii_whitespace) => None,
            None => Some(MessageError::Truncated { expected: 0, received: buf.len() }),
        };
        buf.clear();
        self.body_length = None;
        self.resyncing = false;
        Ok(error.map(Err))
    }
}

/// Finds the blank line that ends a header block: returns the length of the header lines and the
/// length of the whole block including the blank line.
fn find_header_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            let line = &buf[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some((line_start, i + 1));
            }
            line_start = i + 1;
        }
    }
    None
}

/// Parses a header block (without its blank line) into the body length.
fn parse_header(header: &[u8], max: usize) -> Result<usize, MessageError> {
    let mut length: Option<u64> = None;
    for line in header.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        if !line[..colon].trim_ascii().eq_ignore_ascii_case(CONTENT_LENGTH) {
            continue;
        }
        let value = line[colon + 1..].trim_ascii();
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err(MessageError::InvalidContentLength(lossy_prefix(value)));
        }
        let parsed = value.iter().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0')));
        match length {
            Some(previous) if previous != parsed => {
                return Err(MessageError::InvalidContentLength(format!("{previous} and {parsed}")));
            }
            _ => length = Some(parsed),
        }
    }
    let length = length.ok_or(MessageError::MissingContentLength)?;
    match usize::try_from(length) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(MessageError::ContentTooLarge { length, limit: max }),
    }
}

fn lossy_prefix(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned()
}

fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

/// Parses one message body.
pub fn parse_message(body: &[u8]) -> Decoded {
    let text = std::str::from_utf8(body).map_err(MessageError::InvalidUtf8)?;
    let value: Value = serde_json::from_str(text).map_err(MessageError::InvalidJson)?;
    let envelope = |value: &Value| {
        let field = |name: &str| value.get(name);
        (
            field("seq").and_then(Value::as_i64),
            field("type").and_then(Value::as_str).map(str::to_owned),
            field("command").and_then(Value::as_str).map(str::to_owned),
        )
    };
    let (seq, message_type, command) = envelope(&value);
    serde_json::from_value(value).map_err(|source| MessageError::InvalidMessage { seq, message_type, command, source })
}

/// Serializes `message` as one framed DAP message.
pub fn encode_message<T: Serialize + ?Sized>(message: &T, dst: &mut BytesMut) -> Result<(), CodecError> {
    let body = serde_json::to_vec(message).map_err(CodecError::Encode)?;
    let header = format!("Content-Length: {}\r\n\r\n", body.len());
    dst.reserve(header.len() + body.len());
    dst.extend_from_slice(header.as_bytes());
    dst.extend_from_slice(&body);
    Ok(())
}

impl Encoder<ProtocolMessage> for DapCodec {
    type Error = CodecError;

    fn encode(&mut self, item: ProtocolMessage, dst: &mut BytesMut) -> Result<(), CodecError> {
        encode_message(&item, dst)
    }
}
