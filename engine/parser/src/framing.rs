//! Message framing on byte streams (TCP, TLS, WebSocket-less streams): RFC 3261 §18.3,
//! RFC 5626 §3.5.1 CRLF keep-alives.

use crate::chars::{all_token, parse_u64, trim_lws};
use crate::error::ParseError;
use crate::header::HeaderName;
use crate::MAX_MESSAGE;

/// What the front of a stream buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Not enough bytes yet to know where the first message ends: read more.
    Partial,
    /// The first `n` bytes are CRLF keep-alives (RFC 5626 §3.5.1: a double-CRLF "ping" is
    /// answered with a single-CRLF "pong"); consume them.
    KeepAlive(usize),
    /// The first message (headers and Content-Length body) is the first `n` bytes; pass
    /// exactly those to [`crate::parse`].
    Complete(usize),
}

/// Finds the extent of the first message in a stream buffer.
///
/// Content-Length is mandatory on streams (RFC 3261 §18.3): a complete header section
/// without it is `Err(MissingHeader(ContentLength))`. A header section longer than
/// `max_header` bytes is `Err(TooLarge)`, as is a Content-Length that would make the message
/// exceed [`MAX_MESSAGE`]. Every proper prefix of a valid message is `Ok(Partial)`, never an
/// error, so a caller may call this after each read.
pub fn frame(buf: &[u8], max_header: usize) -> Result<Framing, ParseError> {
    let crlfs = buf
        .iter()
        .take_while(|&&c| c == b'\r' || c == b'\n')
        .count();
    if crlfs > 0 {
        // A final lone CR may be the first half of a CRLF still on the wire.
        let n = if crlfs == buf.len() && buf.last() == Some(&b'\r') {
            crlfs - 1
        } else {
            crlfs
        };
        return Ok(if n == 0 {
            Framing::Partial
        } else {
            Framing::KeepAlive(n)
        });
    }
    let Some((headers_len, body_offset)) = find_header_end(buf, max_header) else {
        return if buf.len() > max_header.saturating_add(3) {
            Err(ParseError::TooLarge)
        } else {
            Ok(Framing::Partial)
        };
    };
    if headers_len > max_header {
        return Err(ParseError::TooLarge);
    }
    let head = buf.get(..headers_len).unwrap_or_default();
    let cl = content_length(head)?.ok_or(ParseError::MissingHeader(HeaderName::ContentLength))?;
    let total = body_offset
        .checked_add(cl)
        .filter(|&t| t <= MAX_MESSAGE)
        .ok_or(ParseError::TooLarge)?;
    Ok(if buf.len() >= total {
        Framing::Complete(total)
    } else {
        Framing::Partial
    })
}

/// Finds the empty line ending the header section: returns the offset of its CRLF (or LF) and
/// the offset just after it. Searches at most `max_header + 4` bytes.
fn find_header_end(buf: &[u8], max_header: usize) -> Option<(usize, usize)> {
    let limit = buf.len().min(max_header.saturating_add(4));
    let hay = buf.get(..limit)?;
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\n', hay.get(from..)?) {
        let nl = from + i;
        match hay.get(nl + 1..) {
            Some([b'\r', b'\n', ..]) => return Some((nl + 1, nl + 3)),
            Some([b'\n', ..]) => return Some((nl + 1, nl + 2)),
            _ => from = nl + 1,
        }
    }
    None
}

/// Reads Content-Length (long or compact `l`) from a complete header section. Several equal
/// values are accepted, different ones are an error (RFC 4475 §3.3.9).
fn content_length(head: &[u8]) -> Result<Option<usize>, ParseError> {
    let mut found: Option<usize> = None;
    let mut lines = head.split(|&c| c == b'\n').skip(1).peekable();
    while let Some(line) = lines.next() {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = trim_lws(line.get(..colon).unwrap_or_default());
        if !all_token(name) || HeaderName::from_bytes(name) != HeaderName::ContentLength {
            continue;
        }
        // A folded value: its digits may sit on a continuation line.
        let mut value = trim_lws(line.get(colon + 1..).unwrap_or_default());
        while value.is_empty()
            && lines
                .peek()
                .is_some_and(|l| matches!(l.first(), Some(b' ' | b'\t')))
        {
            value = trim_lws(lines.next().unwrap_or_default());
        }
        let v = parse_u64(value)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or(ParseError::BadContentLength)?;
        match found {
            Some(prev) if prev != v => {
                return Err(ParseError::DuplicateHeader(HeaderName::ContentLength))
            }
            _ => found = Some(v),
        }
    }
    Ok(found)
}
