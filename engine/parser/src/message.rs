//! Whole-message parsing: start line, header lines, the typed headers a proxy routes on, and
//! the body (RFC 3261 §7, §8.1.1, §18.3, §20).

use std::ops::Range;

use bumpalo::collections::Vec as BVec;
use bumpalo::Bump;

use crate::chars::{is_lws, is_token, parse_u64, run_while, skip_lws, trim_lws};
use crate::error::ParseError;
use crate::header::{Header, HeaderName};
use crate::method::{Method, Version};
use crate::nameaddr::{parse_cseq, parse_name_addr, parse_name_addr_list, CSeq, NameAddr};
use crate::uri::{Scheme, Uri};
use crate::via::{parse_via_list, Via};
use crate::{MAX_HEADERS, MAX_MESSAGE, MAX_VIAS};

/// The first line of a message (RFC 3261 §7.1 Request-Line, §7.2 Status-Line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine<'b> {
    /// `Method SP Request-URI SP SIP-Version CRLF`.
    Request {
        /// The method.
        method: Method<'b>,
        /// The parsed Request-URI.
        uri: Uri<'b>,
        /// The Request-URI's bytes in the message buffer (to rewrite it with an edit list).
        uri_span: Range<usize>,
        /// The SIP-Version; see [`Version`] for the 505 rule.
        version: Version,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase CRLF`.
    Response {
        /// The SIP-Version.
        version: Version,
        /// The status code, 100..=699.
        code: u16,
        /// The reason phrase, as raw bytes (UTF-8 per RFC 3261 §25.1, not checked; may be
        /// empty, RFC 4475 §3.1.1.13).
        reason: &'b [u8],
    },
}

/// A parsed SIP message: a borrowed view of the receive buffer, with its header index and the
/// typed headers routing needs, stored in a per-message arena.
///
/// Build it with [`crate::parse`]; the buffer and the arena both live for `'b`.
#[derive(Clone, Debug)]
pub struct Message<'b> {
    buf: &'b [u8],
    start: StartLine<'b>,
    headers: &'b [Header<'b>],
    vias: &'b [Via<'b>],
    call_id: Option<&'b str>,
    cseq: Option<CSeq<'b>>,
    from: Option<NameAddr<'b>>,
    to: Option<NameAddr<'b>>,
    max_forwards: Option<u32>,
    content_length: Option<usize>,
    headers_end: usize,
    body_offset: usize,
    body_end: usize,
}

impl<'b> Message<'b> {
    /// The whole buffer as received (including any trailing bytes after the body).
    pub fn buf(&self) -> &'b [u8] {
        self.buf
    }

    /// The start line.
    pub fn start(&self) -> &StartLine<'b> {
        &self.start
    }

    /// Whether this is a request (RFC 3261 §7.1).
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The SIP-Version of the start line. Anything but SIP/2.0 should be answered with 505
    /// (RFC 3261 §21.5.7, RFC 4475 §3.1.2.16).
    pub fn version(&self) -> Version {
        match self.start {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => version,
        }
    }

    /// The request method, `None` for a response.
    pub fn method(&self) -> Option<Method<'b>> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The parsed Request-URI, `None` for a response.
    pub fn ruri(&self) -> Option<&Uri<'b>> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The raw Request-URI and its byte span in [`Message::buf`], for rewriting it.
    pub fn ruri_raw(&self) -> Option<(&'b str, Range<usize>)> {
        match &self.start {
            StartLine::Request { uri, uri_span, .. } => Some((uri.raw, uri_span.clone())),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase of a response.
    pub fn reason(&self) -> Option<&'b [u8]> {
        match self.start {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }

    /// All header lines in order, one entry per line (a line may hold several
    /// comma-separated values).
    pub fn headers(&self) -> &[Header<'b>] {
        self.headers
    }

    /// The first header line with this name.
    pub fn header(&self, name: HeaderName) -> Option<&Header<'b>> {
        self.headers.iter().find(|h| h.name == name)
    }

    /// The first header line with this name, long or compact, in any letter case; also finds
    /// unknown headers by their spelling.
    pub fn header_by_name(&self, name: &str) -> Option<&Header<'b>> {
        match HeaderName::from_bytes(name.as_bytes()) {
            HeaderName::Other => self
                .headers
                .iter()
                .find(|h| h.name == HeaderName::Other && h.raw_name.eq_ignore_ascii_case(name)),
            known => self.header(known),
        }
    }

    /// Every header line with this name, in order.
    pub fn headers_named(&self, name: HeaderName) -> impl Iterator<Item = &Header<'b>> + '_ {
        self.headers.iter().filter(move |h| h.name == name)
    }

    /// All Via values in order, across lines and commas (RFC 3261 §20.42).
    pub fn vias(&self) -> &[Via<'b>] {
        self.vias
    }

    /// The topmost Via (RFC 3261 §16.7 step 3, §18.2.1).
    pub fn top_via(&self) -> Option<&Via<'b>> {
        self.vias.first()
    }

    /// The Call-ID (RFC 3261 §20.8), trimmed.
    pub fn call_id(&self) -> Option<&'b str> {
        self.call_id
    }

    /// The CSeq (RFC 3261 §20.16).
    pub fn cseq(&self) -> Option<CSeq<'b>> {
        self.cseq
    }

    /// The From header (RFC 3261 §20.20).
    pub fn from(&self) -> Option<&NameAddr<'b>> {
        self.from.as_ref()
    }

    /// The To header (RFC 3261 §20.39).
    pub fn to(&self) -> Option<&NameAddr<'b>> {
        self.to.as_ref()
    }

    /// Max-Forwards (RFC 3261 §20.22); values above `u32::MAX` saturate (RFC 4475 §3.1.2.4
    /// lets an element tolerate them).
    pub fn max_forwards(&self) -> Option<u32> {
        self.max_forwards
    }

    /// Content-Length (RFC 3261 §20.14), `None` if absent.
    pub fn content_length(&self) -> Option<usize> {
        self.content_length
    }

    /// The body: Content-Length bytes after the empty line, or the rest of the datagram when
    /// Content-Length is absent (RFC 3261 §18.3). Trailing bytes beyond Content-Length are not
    /// part of it (RFC 4475 §3.1.1.8).
    pub fn body(&self) -> &'b [u8] {
        self.buf
            .get(self.body_offset..self.body_end)
            .unwrap_or_default()
    }

    /// Offset of the body in [`Message::buf`]; the empty line is just before it.
    pub fn body_offset(&self) -> usize {
        self.body_offset
    }

    /// Offset of the CRLF of the empty line that ends the header section.
    pub fn headers_end(&self) -> usize {
        self.headers_end
    }

    /// The length of the message proper (start line, headers and body), without any trailing
    /// bytes of the datagram.
    pub fn len(&self) -> usize {
        self.body_end
    }

    /// Always `false`: a parsed message has at least a start line.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Parses one whole message: a UDP datagram, or exactly one message cut by [`crate::frame`].
///
/// The body is Content-Length bytes after the empty line; extra trailing bytes are ignored
/// (RFC 4475 §3.1.1.8). Without Content-Length the body is the rest of the buffer (RFC 3261
/// §18.3, datagrams only). A Content-Length beyond the buffer is
/// [`ParseError::BodyTruncated`] (RFC 4475 §3.1.2.2). Requests and responses must carry Via,
/// From, To, Call-ID and CSeq (RFC 3261 §8.1.1), and a request's CSeq method must equal its
/// method (RFC 3261 §8.1.1.5). Header storage goes into `arena`; nothing else is allocated.
pub fn parse<'b>(buf: &'b [u8], arena: &'b Bump) -> Result<Message<'b>, ParseError> {
    if buf.len() > MAX_MESSAGE {
        return Err(ParseError::TooLarge);
    }
    // RFC 3261 §7.5: ignore CRLFs before the start line.
    let mut pos = buf
        .iter()
        .position(|&c| c != b'\r' && c != b'\n')
        .ok_or(ParseError::Empty)?;
    let rest = buf.get(pos..).unwrap_or_default();
    let nl = memchr::memchr(b'\n', rest).ok_or(ParseError::HeadersUnterminated)?;
    let line = strip_cr(rest.get(..nl).unwrap_or_default());
    let start = parse_start_line(line, pos)?;
    pos += nl + 1;

    // One UTF-8 check over the whole buffer (ASCII fast path) instead of one per field; the
    // header slices we hand out as `&str` are cut from its valid prefix.
    let text = match std::str::from_utf8(buf) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(buf.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or(""),
    };
    let nl = NewlineFinder::new();
    let mut p = Parsed {
        text,
        seen: 0,
        is_request: matches!(start, StartLine::Request { .. }),
        headers: BVec::with_capacity_in(16, arena),
        vias: BVec::with_capacity_in(4, arena),
        call_id: None,
        cseq: None,
        from: None,
        to: None,
        max_forwards: None,
        content_length: None,
    };
    let (headers_end, body_offset) = loop {
        match buf.get(pos..) {
            Some([b'\r', b'\n', ..]) => break (pos, pos + 2),
            Some([b'\n', ..]) => break (pos, pos + 1),
            Some([b' ' | b'\t', ..]) => return Err(ParseError::HeaderName),
            Some([_, ..]) => {}
            _ => return Err(ParseError::HeadersUnterminated),
        }
        pos = match line_fast(buf, pos, &nl) {
            Some(l) => p.header_fast(buf, pos, l)?,
            None => {
                let line_end = header_line_end(buf, pos)?;
                p.header(buf, pos, line_end)?;
                line_end
            }
        };
    };

    if p.vias.is_empty() {
        return Err(ParseError::MissingHeader(HeaderName::Via));
    }
    // From and To are large; they are checked in place and moved once, not copied out.
    if p.from.is_none() {
        return Err(ParseError::MissingHeader(HeaderName::From));
    }
    if p.to.is_none() {
        return Err(ParseError::MissingHeader(HeaderName::To));
    }
    let call_id = p
        .call_id
        .ok_or(ParseError::MissingHeader(HeaderName::CallId))?;
    let cseq = p.cseq.ok_or(ParseError::MissingHeader(HeaderName::CSeq))?;
    if let StartLine::Request { method, .. } = start {
        if cseq.method.as_str() != method.as_str() {
            return Err(ParseError::CSeqMethodMismatch);
        }
    }
    let body_end = match p.content_length {
        Some(cl) => body_offset
            .checked_add(cl)
            .filter(|&e| e <= buf.len())
            .ok_or(ParseError::BodyTruncated)?,
        None => buf.len(),
    };
    Ok(Message {
        buf,
        start,
        headers: p.headers.into_bump_slice(),
        vias: p.vias.into_bump_slice(),
        call_id: Some(call_id),
        cseq: Some(cseq),
        from: p.from,
        to: p.to,
        max_forwards: p.max_forwards,
        content_length: p.content_length,
        headers_end,
        body_offset,
        body_end,
    })
}

/// `line` without a final CR.
fn strip_cr(line: &[u8]) -> &[u8] {
    match line {
        [rest @ .., b'\r'] => rest,
        _ => line,
    }
}

/// The index just past the LF that ends the header line starting at `pos`, following
/// continuation lines (RFC 3261 §7.3.1: a line starting with SP or HT continues the previous).
fn header_line_end(buf: &[u8], pos: usize) -> Result<usize, ParseError> {
    let mut from = pos;
    loop {
        let rest = buf.get(from..).unwrap_or_default();
        let nl = memchr::memchr(b'\n', rest).ok_or(ParseError::HeadersUnterminated)?;
        let end = from + nl + 1;
        match buf.get(end) {
            Some(b' ' | b'\t') => from = end,
            _ => return Ok(end),
        }
    }
}

/// Finds the LF that ends a header line. Built once per message: on x86-64 with AVX2 it
/// calls `memchr`'s AVX2 searcher directly, which skips the per-call CPU-feature dispatch of
/// [`memchr::memchr`] (about a fifth of its cost on 20–90-byte lines).
struct NewlineFinder {
    #[cfg(target_arch = "x86_64")]
    avx2: Option<memchr::arch::x86_64::avx2::memchr::One>,
}

impl NewlineFinder {
    #[inline]
    fn new() -> Self {
        Self {
            #[cfg(target_arch = "x86_64")]
            avx2: memchr::arch::x86_64::avx2::memchr::One::new(b'\n'),
        }
    }

    /// The index of the first LF in `hay`.
    #[inline(always)]
    fn find(&self, hay: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(one) = &self.avx2 {
            return one.find(hay);
        }
        memchr::memchr(b'\n', hay)
    }
}

/// A header line as cut up by [`line_fast`]: all offsets are in the message buffer.
#[derive(Clone, Copy)]
struct Line {
    name: HeaderName,
    /// Length of the name (from the line start).
    name_end: usize,
    /// The value without leading and trailing LWS.
    vstart: usize,
    vend: usize,
    /// Just past the final LF.
    end: usize,
}

/// The common shape of a header line, `name *WSP ":" *WSP value CRLF` with a non-empty value
/// and no continuation line, cut up in one forward pass: name, colon, value start, then one
/// LF search from the value. `None` for anything else (no colon, an empty or folded value, no
/// LF), and the caller takes the general path ([`header_line_end`], [`Parsed::header`]),
/// which then also produces the error. For the lines it takes, the result is what the
/// general path computes: the name cannot run past the line end (CR and LF are not `token`
/// characters), and with no continuation line the value ends at the LF.
#[inline(always)]
fn line_fast(buf: &[u8], pos: usize, nl: &NewlineFinder) -> Option<Line> {
    let rest = buf.get(pos..)?;
    let (name, name_end) = match HeaderName::at_line_start(rest) {
        Some(known) => known,
        None => {
            let e = run_while(rest, 0, is_token);
            (HeaderName::from_bytes(rest.get(..e)?), e)
        }
    };
    if name_end == 0 {
        return None;
    }
    let mut v = name_end;
    while let Some(b' ' | b'\t') = rest.get(v) {
        v += 1;
    }
    if rest.get(v) != Some(&b':') {
        return None;
    }
    v += 1;
    loop {
        match rest.get(v) {
            Some(b' ' | b'\t') => v += 1,
            Some(b'\r' | b'\n') | None => return None,
            Some(_) => break,
        }
    }
    let tail = rest.get(v..)?;
    let lf = v + nl.find(tail)?;
    if let Some(b' ' | b'\t') = rest.get(lf + 1) {
        return None;
    }
    // The value is non-empty and starts with a non-LWS byte, so the trim stops at `v`.
    let mut vend = lf;
    while vend > v && matches!(rest.get(vend - 1), Some(b' ' | b'\t' | b'\r')) {
        vend -= 1;
    }
    Some(Line {
        name,
        name_end,
        vstart: pos + v,
        vend: pos + vend,
        end: pos + lf + 1,
    })
}

/// Parses the start line (`line` has no CRLF; `pos` is its offset in the buffer).
fn parse_start_line(line: &[u8], pos: usize) -> Result<StartLine<'_>, ParseError> {
    if line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        // The version and the code are short: position scans, not `memchr` calls.
        let sp = line
            .iter()
            .position(|&c| c == b' ')
            .ok_or(ParseError::StartLine)?;
        let version = Version::from_bytes(line.get(..sp).unwrap_or_default())
            .ok_or(ParseError::BadVersion)?;
        let rest = line.get(sp + 1..).unwrap_or_default();
        let code_end = match rest.get(3) {
            Some(b' ') => 3,
            _ => rest.iter().position(|&c| c == b' ').unwrap_or(rest.len()),
        };
        let code_b = rest.get(..code_end).unwrap_or_default();
        if code_b.len() != 3 {
            return Err(ParseError::BadStatusCode);
        }
        let code = parse_u64(code_b)
            .filter(|c| (100..=699).contains(c))
            .and_then(|c| u16::try_from(c).ok())
            .ok_or(ParseError::BadStatusCode)?;
        let reason = rest.get(code_end + 1..).unwrap_or_default();
        return Ok(StartLine::Response {
            version,
            code,
            reason,
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version: exactly two single SPs
    // (RFC 4475 §3.1.2.9, §3.1.2.10 may be rejected).
    let sp1 = memchr::memchr(b' ', line).ok_or(ParseError::StartLine)?;
    let method =
        Method::from_bytes(line.get(..sp1).unwrap_or_default()).ok_or(ParseError::BadMethod)?;
    let after = line.get(sp1 + 1..).unwrap_or_default();
    let sp2 = memchr::memchr(b' ', after).ok_or(ParseError::StartLine)?;
    let uri_b = after.get(..sp2).unwrap_or_default();
    let ver_b = after.get(sp2 + 1..).unwrap_or_default();
    if uri_b.is_empty() || ver_b.iter().any(|&c| is_lws(c)) {
        return Err(ParseError::StartLine);
    }
    let version = Version::from_bytes(ver_b).ok_or(ParseError::BadVersion)?;
    let uri_s = std::str::from_utf8(uri_b).map_err(|_| ParseError::BadUri)?;
    let uri = Uri::parse(uri_s)?;
    // RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
    if matches!(uri.scheme, Scheme::Sip | Scheme::Sips) && !uri.headers.is_empty() {
        return Err(ParseError::BadUri);
    }
    let uri_start = pos + sp1 + 1;
    Ok(StartLine::Request {
        method,
        uri,
        uri_span: uri_start..uri_start + uri_b.len(),
        version,
    })
}

/// The state collected while walking the header lines.
struct Parsed<'b> {
    /// The longest valid UTF-8 prefix of the buffer.
    text: &'b str,
    /// Bit set of the single-valued headers seen so far ([`single_bit`]).
    seen: u8,
    /// Contact and Date are only checked in requests: a proxy relays a response whatever its
    /// Contact looks like (dropping a 200 OK for it would break the call), and RFC 4475 only
    /// asks for their rejection in requests.
    is_request: bool,
    headers: BVec<'b, Header<'b>>,
    vias: BVec<'b, Via<'b>>,
    call_id: Option<&'b str>,
    cseq: Option<CSeq<'b>>,
    from: Option<NameAddr<'b>>,
    to: Option<NameAddr<'b>>,
    max_forwards: Option<u32>,
    content_length: Option<usize>,
}

impl<'b> Parsed<'b> {
    /// Handles the header line `buf[pos..end]` (continuations and final LF included): the
    /// general path, for the lines [`line_fast`] declines. Kept out of line so that the hot
    /// loop stays small.
    #[inline(never)]
    fn header(&mut self, buf: &'b [u8], pos: usize, end: usize) -> Result<(), ParseError> {
        if self.headers.len() >= MAX_HEADERS {
            return Err(ParseError::TooManyHeaders);
        }
        let content = strip_cr(buf.get(pos..end - 1).unwrap_or_default());
        // header-name HCOLON header-value, HCOLON = *( SP / HTAB ) ":" SWS: the common names
        // are recognised by a few word compares; others are scanned as a `token` and
        // classified.
        let (name, name_end) = match HeaderName::at_line_start(content) {
            Some(known) => known,
            None => {
                let e = run_while(content, 0, is_token);
                (
                    HeaderName::from_bytes(content.get(..e).unwrap_or_default()),
                    e,
                )
            }
        };
        let mut colon = name_end;
        while matches!(content.get(colon), Some(b' ' | b'\t')) {
            colon += 1;
        }
        if name_end == 0 || content.get(colon) != Some(&b':') {
            return Err(ParseError::HeaderName);
        }
        let raw_name = self
            .str_at(buf, pos, name_end)
            .ok_or(ParseError::HeaderName)?;
        let vstart = skip_lws(content, colon + 1);
        let value = trim_lws(content.get(vstart..).unwrap_or_default());
        self.apply(buf, name, raw_name, value, pos + vstart, pos..end)
    }

    /// [`Parsed::header`] for a line that [`line_fast`] has already cut up; returns the
    /// offset of the next line.
    #[inline]
    fn header_fast(&mut self, buf: &'b [u8], pos: usize, l: Line) -> Result<usize, ParseError> {
        if self.headers.len() >= MAX_HEADERS {
            return Err(ParseError::TooManyHeaders);
        }
        let raw_name = self
            .str_at(buf, pos, l.name_end)
            .ok_or(ParseError::HeaderName)?;
        let value = buf.get(l.vstart..l.vend).unwrap_or_default();
        self.apply(buf, l.name, raw_name, value, l.vstart, pos..l.end)?;
        Ok(l.end)
    }

    /// Checks and records one header line whose name, raw name and trimmed value (at offset
    /// `base` of the buffer) are known; `line` is the whole line with its final LF.
    #[inline(always)]
    fn apply(
        &mut self,
        buf: &'b [u8],
        name: HeaderName,
        raw_name: &'b str,
        value: &'b [u8],
        base: usize,
        line: Range<usize>,
    ) -> Result<(), ParseError> {
        let (pos, end) = (line.start, line.end);
        let index = self.headers.len();
        let text = self.text;
        let value_str =
            || str_in(text, buf, base, value.len()).ok_or(ParseError::HeaderValue(name));
        let bit = single_bit(name);
        if self.seen & bit != 0 {
            let first = self.headers.iter().find(|h| h.name == name);
            if let Some(first) = first {
                if first.value != value {
                    return Err(ParseError::DuplicateHeader(name));
                }
                self.headers.push(Header {
                    name,
                    raw_name,
                    value,
                    line: pos..end,
                });
                return Ok(());
            }
        }
        self.seen |= bit;
        match name {
            HeaderName::Via => {
                let s = str_in(text, buf, base, value.len()).ok_or(ParseError::BadVia)?;
                let vias = &mut self.vias;
                parse_via_list(s, base, index, |v| {
                    if vias.len() >= MAX_VIAS {
                        return Err(ParseError::TooManyVias);
                    }
                    vias.push(v);
                    Ok(())
                })?;
            }
            HeaderName::From => self.from = Some(addr(value_str()?, name)?),
            HeaderName::To => self.to = Some(addr(value_str()?, name)?),
            HeaderName::CallId => {
                // callid = word [ "@" word ]: one non-empty run without LWS.
                if value.is_empty() || has_lws(value) {
                    return Err(ParseError::HeaderValue(name));
                }
                self.call_id = Some(value_str()?);
            }
            HeaderName::CSeq => self.cseq = Some(parse_cseq(value_str()?)?),
            HeaderName::MaxForwards => {
                if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                    return Err(ParseError::BadMaxForwards);
                }
                let v = parse_u64(value).map_or(u32::MAX, |v| u32::try_from(v).unwrap_or(u32::MAX));
                self.max_forwards = Some(v);
            }
            HeaderName::ContentLength => {
                let v = parse_u64(value)
                    .and_then(|v| usize::try_from(v).ok())
                    .ok_or(ParseError::BadContentLength)?;
                self.content_length = Some(v);
            }
            // Contact = ( STAR / (contact-param *(COMMA contact-param)) ), RFC 3261 §20.10.
            HeaderName::Contact if self.is_request && value != b"*" => {
                parse_name_addr_list(value_str()?, |_| Ok(())).map_err(|e| wrap(e, name))?;
            }
            // rfc1123-date ends in "GMT" (RFC 3261 §20.17, RFC 4475 §3.1.2.12).
            HeaderName::Date if self.is_request && !value.ends_with(b"GMT") => {
                return Err(ParseError::HeaderValue(name));
            }
            _ => {}
        }
        self.headers.push(Header {
            name,
            raw_name,
            value,
            line: pos..end,
        });
        Ok(())
    }
}

impl<'b> Parsed<'b> {
    /// `buf[start..start + len]` as `&str`, `None` if it is not UTF-8.
    fn str_at(&self, buf: &'b [u8], start: usize, len: usize) -> Option<&'b str> {
        str_in(self.text, buf, start, len)
    }
}

/// `buf[start..start + len]` as `&str`: cut from `text` (the valid UTF-8 prefix of `buf`) when
/// it lies inside it, else checked on its own.
fn str_in<'b>(text: &'b str, buf: &'b [u8], start: usize, len: usize) -> Option<&'b str> {
    let end = start.checked_add(len)?;
    match text.get(start..end) {
        Some(s) => Some(s),
        None => std::str::from_utf8(buf.get(start..end)?).ok(),
    }
}

/// The duplicate-tracking bit of a single-valued header (RFC 3261 §7.3.1), 0 for others.
fn single_bit(name: HeaderName) -> u8 {
    match name {
        HeaderName::From => 1,
        HeaderName::To => 2,
        HeaderName::CallId => 4,
        HeaderName::CSeq => 8,
        HeaderName::MaxForwards => 16,
        HeaderName::ContentLength => 32,
        _ => 0,
    }
}

/// Whether `v` contains LWS. LWS bytes are all at most SP, so the common case is settled by
/// a minimum over the bytes, which the compiler vectorizes.
#[inline]
fn has_lws(v: &[u8]) -> bool {
    v.iter().fold(u8::MAX, |m, &c| m.min(c)) <= b' ' && v.iter().any(|&c| is_lws(c))
}

/// Parses a From / To value.
#[inline]
fn addr(s: &str, name: HeaderName) -> Result<NameAddr<'_>, ParseError> {
    parse_name_addr(s).map_err(|e| wrap(e, name))
}

/// Attributes a generic address error to the header it occurred in.
fn wrap(e: ParseError, name: HeaderName) -> ParseError {
    match e {
        ParseError::UnterminatedQuote => e,
        _ => ParseError::HeaderValue(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed<'b>(buf: &'b [u8], arena: &'b Bump, is_request: bool) -> Parsed<'b> {
        Parsed {
            text: std::str::from_utf8(buf).unwrap_or(""),
            seen: 0,
            is_request,
            headers: BVec::new_in(arena),
            vias: BVec::new_in(arena),
            call_id: None,
            cseq: None,
            from: None,
            to: None,
            max_forwards: None,
            content_length: None,
        }
    }

    /// Every line the fast path takes gives the same header, typed values and result as the
    /// general path; the lines it declines are the ones it is not meant for.
    #[test]
    fn fast_line_path_agrees_with_general_path() {
        let taken = [
            "Via: SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport\r\n",
            "v:SIP/2.0/TCP h;received=1.2.3.4 , SIP/2.0/UDP x\r\n",
            "From: \"A\" <sip:a@b>;tag=1 \t \r\n",
            "t : <sip:b@c>\n",
            "Call-ID: abc@def\r\n",
            "i:\tabc def\r\n",
            "CSeq: 1 INVITE\r\n",
            "CSeq: 1INVITE\r\n",
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 7x\r\n",
            "Content-Length: 12 \r\r\n",
            "Contact: <sip:a@b>, <sip:c@d>\r\n",
            "Contact: *\r\n",
            "Contact: <sip:a@b\r\n",
            "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n",
            "Date: yesterday\r\n",
            "X-Unknown: \u{e9}t\u{e9}\r\n",
            "Subject: x\r\n",
            "Via: SIP/2.0/UDP h;x=\"q\"\r\n",
            "Via: nonsense\r\n",
            "From: <sip:a@b>;tag=x,<sip:c@d>\r\n",
        ];
        for line in taken {
            for is_request in [true, false] {
                let buf = format!("{line}\r\n");
                let b = buf.as_bytes();
                let (a1, a2) = (Bump::new(), Bump::new());
                let (mut fast, mut general) =
                    (parsed(b, &a1, is_request), parsed(b, &a2, is_request));
                let l = line_fast(b, 0, &NewlineFinder::new())
                    .unwrap_or_else(|| panic!("declined {line:?}"));
                let r1 = fast.header_fast(b, 0, l);
                let end = header_line_end(b, 0).unwrap();
                let r2 = general.header(b, 0, end).map(|()| end);
                assert_eq!(r1, r2, "{line:?}");
                assert_eq!(&fast.headers[..], &general.headers[..], "{line:?}");
                assert_eq!(&fast.vias[..], &general.vias[..], "{line:?}");
                assert_eq!(fast.from, general.from, "{line:?}");
                assert_eq!(fast.to, general.to, "{line:?}");
                assert_eq!(fast.call_id, general.call_id, "{line:?}");
                assert_eq!(fast.cseq, general.cseq, "{line:?}");
                assert_eq!(fast.max_forwards, general.max_forwards, "{line:?}");
                assert_eq!(fast.content_length, general.content_length, "{line:?}");
            }
        }
        let declined = [
            "Via:\r\n",
            "Via: \r\n",
            "Via:\r\n SIP/2.0/UDP h\r\n",
            "Via: SIP/2.0/UDP h\r\n ;branch=x\r\n",
            "Via SIP/2.0/UDP h\r\n",
            ": x\r\n",
            "Via: SIP/2.0/UDP h",
            "Bad Name: x\r\n",
        ];
        for line in declined {
            assert!(
                line_fast(line.as_bytes(), 0, &NewlineFinder::new()).is_none(),
                "{line:?}"
            );
        }
    }
}
