//! Whole-message parsing: start line, header lines, the typed headers a proxy routes on, and
//! the body (RFC 3261 §7, §8.1.1, §18.3, §20).

use std::cell::OnceCell;
use std::ops::Range;

use bumpalo::collections::Vec as BVec;
use bumpalo::Bump;

use crate::chars::{is_lws, is_token, parse_u64, run_while, skip_lws, trim_lws};
use crate::error::ParseError;
use crate::header::{Header, HeaderName};
use crate::method::{Method, Version};
use crate::nameaddr::{parse_cseq_bytes, parse_name_addr, parse_name_addr_list, CSeq, NameAddr};
use crate::uri::{Scheme, Uri};
use crate::via::{parse_via_first, parse_via_list, Via};
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
///
/// A request is fully checked by `parse`: every Via, From and To value is parsed there, and
/// a malformed one fails the parse (RFC 4475 wants a 400 for them). A response is relayed
/// whatever most of its headers look like, so only what every response is matched on is
/// parsed there (the topmost Via, CSeq, Call-ID); its From, To and the Via values below the
/// topmost are parsed on first access ([`Message::from`], [`Message::to`],
/// [`Message::vias`]), and a malformed one is reported there rather than by `parse`.
#[derive(Clone, Debug)]
pub struct Message<'b> {
    buf: &'b [u8],
    arena: &'b Bump,
    start: StartLine<'b>,
    headers: &'b [Header<'b>],
    /// The topmost Via (always present).
    top_via: &'b Via<'b>,
    /// All Via values: set by `parse` for a request, on first access for a response.
    vias: OnceCell<ViaList<'b>>,
    /// Where the Via values below the topmost start, for the lazy parse of a response.
    via_rest: ViaRest,
    call_id: Option<&'b str>,
    cseq: Option<CSeq<'b>>,
    /// From and To: set by `parse` for a request, on first access for a response (from the
    /// header line at `from_at` / `to_at`).
    from: OnceCell<Option<&'b NameAddr<'b>>>,
    to: OnceCell<Option<&'b NameAddr<'b>>>,
    from_at: u8,
    to_at: u8,
    max_forwards: Option<u32>,
    content_length: Option<usize>,
    headers_end: usize,
    body_offset: usize,
    body_end: usize,
}

/// The parsed Via values and the error that stopped the lazy parse of a response's Vias.
#[derive(Clone, Debug)]
struct ViaList<'b> {
    vias: &'b [Via<'b>],
    error: Option<ParseError>,
}

/// What is left to parse of a response's Via values after the topmost.
#[derive(Clone, Copy, Debug, Default)]
struct ViaRest {
    /// The rest of the topmost Via's line after the comma that follows it, as a byte range of
    /// the buffer, if there is one.
    same_line: Option<(usize, usize)>,
    /// Whether another Via line follows.
    more_lines: bool,
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
    ///
    /// In a response the values below the topmost are parsed on the first call (into the
    /// arena); if one is malformed, or there are more than [`crate::MAX_VIAS`], the list ends
    /// with the last value parsed before it and [`Message::via_error`] says why. A proxy
    /// should drop such a response: the Via it would route on may be the broken one.
    pub fn vias(&self) -> &[Via<'b>] {
        self.via_list().vias
    }

    /// Why the Via values of a response could not all be parsed: `None` when
    /// [`Message::vias`] holds them all (always for a request, which `parse` rejects
    /// instead). Parses them if [`Message::vias`] has not been called yet.
    pub fn via_error(&self) -> Option<ParseError> {
        self.via_list().error
    }

    /// The topmost Via (RFC 3261 §16.7 step 3, §18.2.1). Parsed by `parse` in every message;
    /// this does not parse the others.
    pub fn top_via(&self) -> Option<&Via<'b>> {
        Some(self.top_via)
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
    ///
    /// In a request, `parse` has checked it. In a response it is parsed on the first call,
    /// and a malformed value (not a `name-addr` / `addr-spec` with parameters, or not
    /// UTF-8) reads as `None`: a proxy relays a response whatever its From looks like, as it
    /// does for Contact.
    pub fn from(&self) -> Option<&NameAddr<'b>> {
        *self.from.get_or_init(|| self.lazy_addr(self.from_at))
    }

    /// The To header (RFC 3261 §20.39). Parsed like [`Message::from`]: in a response on the
    /// first call, a malformed value reading as `None`.
    pub fn to(&self) -> Option<&NameAddr<'b>> {
        *self.to.get_or_init(|| self.lazy_addr(self.to_at))
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

    /// The Via list, parsing a response's Vias below the topmost on the first call.
    fn via_list(&self) -> &ViaList<'b> {
        self.vias.get_or_init(|| self.lazy_vias())
    }

    /// Parses the Via values of a response below the topmost: the rest of the topmost's line,
    /// then every later Via line, stopping at the first error.
    #[cold]
    fn lazy_vias(&self) -> ViaList<'b> {
        let top = self.top_via;
        let mut vias = BVec::with_capacity_in(4, self.arena);
        vias.push(top.clone());
        let mut push = |v: Via<'b>| {
            if vias.len() >= MAX_VIAS {
                return Err(ParseError::TooManyVias);
            }
            vias.push(v);
            Ok(())
        };
        let buf = self.buf;
        let mut parse_at = |start: usize, end: usize, index: usize| {
            let s = buf
                .get(start..end)
                .and_then(|v| std::str::from_utf8(v).ok())
                .ok_or(ParseError::BadVia)?;
            parse_via_list(s, start, index, &mut push)
        };
        let mut result = Ok(());
        if let Some((start, end)) = self.via_rest.same_line {
            result = parse_at(start, end, top.header_index);
        }
        if self.via_rest.more_lines {
            let later = self.headers.iter().enumerate().skip(top.header_index + 1);
            for (i, h) in later.filter(|(_, h)| h.name == HeaderName::Via) {
                if result.is_err() {
                    break;
                }
                let start = offset_in(buf, h.value);
                result = parse_at(start, start + h.value.len(), i);
            }
        }
        ViaList {
            vias: vias.into_bump_slice(),
            error: result.err(),
        }
    }

    /// Parses a response's From or To value from the header line at `index`.
    #[cold]
    fn lazy_addr(&self, index: u8) -> Option<&'b NameAddr<'b>> {
        let h = self.headers.get(usize::from(index))?;
        let a = parse_name_addr(std::str::from_utf8(h.value).ok()?).ok()?;
        Some(self.arena.alloc(a))
    }
}

/// The offset of `sub`, a subslice of `buf`, in `buf`.
fn offset_in(buf: &[u8], sub: &[u8]) -> usize {
    (sub.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize)
}

/// Parses one whole message: a UDP datagram, or exactly one message cut by [`crate::frame`].
///
/// The body is Content-Length bytes after the empty line; extra trailing bytes are ignored
/// (RFC 4475 §3.1.1.8). Without Content-Length the body is the rest of the buffer (RFC 3261
/// §18.3, datagrams only). A Content-Length beyond the buffer is
/// [`ParseError::BodyTruncated`] (RFC 4475 §3.1.2.2). Requests and responses must carry Via,
/// From, To, Call-ID and CSeq (RFC 3261 §8.1.1), and a request's CSeq method must equal its
/// method (RFC 3261 §8.1.1.5). In a response From, To and the Vias below the topmost are
/// parsed on first access (see [`Message`]). Header storage goes into `arena`; nothing else
/// is allocated.
///
/// Of several errors, the one on the earliest line is reported.
pub fn parse<'b>(buf: &'b [u8], arena: &'b Bump) -> Result<Message<'b>, ParseError> {
    if buf.len() > MAX_MESSAGE {
        return Err(ParseError::TooLarge);
    }
    // RFC 3261 §7.5: ignore CRLFs before the start line.
    let mut pos = buf
        .iter()
        .position(|&c| c != b'\r' && c != b'\n')
        .ok_or(ParseError::Empty)?;
    let nl = NewlineFinder::new();
    let rest = buf.get(pos..).unwrap_or_default();
    let lf = nl.find(rest).ok_or(ParseError::HeadersUnterminated)?;
    let start = parse_start_line::<true>(strip_cr(rest.get(..lf).unwrap_or_default()), pos)?;
    pos += lf + 1;
    let is_request = matches!(start, StartLine::Request { .. });

    // First every line is cut into name and value and indexed; then the typed headers are
    // parsed, in line order, from that index.
    let mut scan = Scan::new(arena, is_request);
    let lines = scan.lines(buf, pos, &nl);
    // One UTF-8 check over the header section up to the last line that needs it (ASCII fast
    // path) instead of one per field; the header slices handed out as `&str` are cut from its
    // valid prefix.
    let section = match lines {
        // `from_utf8` checks 16 bytes a step from the first 8-byte aligned one, and the bytes
        // before and after those steps one at a time: the section is extended (within the
        // buffer) to end on a step.
        Ok(_) => {
            let head = buf.as_ptr().align_offset(8).min(scan.text_end);
            (head + ((scan.text_end - head + 15) & !15)).min(buf.len())
        }
        Err(_) => buf.len(),
    };
    let section = buf.get(..section).unwrap_or_default();
    let text = match std::str::from_utf8(section) {
        Ok(t) => t,
        Err(e) => {
            std::str::from_utf8(section.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or("")
        }
    };
    let mut t = Typed::new(arena, is_request);
    t.parse(&scan, buf, text)?;
    let (headers_end, body_offset) = lines?;
    if scan.names_pending {
        scan.cut_names(buf, text);
    }

    let (top_via, vias) = match t.top {
        Some(top) => (top, std::slice::from_ref(top)),
        None => {
            let vias = t.vias.into_bump_slice();
            let top = vias
                .first()
                .ok_or(ParseError::MissingHeader(HeaderName::Via))?;
            (top, vias)
        }
    };
    if scan.seen & single_bit(HeaderName::From) == 0 {
        return Err(ParseError::MissingHeader(HeaderName::From));
    }
    if scan.seen & single_bit(HeaderName::To) == 0 {
        return Err(ParseError::MissingHeader(HeaderName::To));
    }
    let call_id = t
        .call_id
        .ok_or(ParseError::MissingHeader(HeaderName::CallId))?;
    let cseq = t.cseq.ok_or(ParseError::MissingHeader(HeaderName::CSeq))?;
    if let StartLine::Request { method, .. } = start {
        if cseq.method.as_str() != method.as_str() {
            return Err(ParseError::CSeqMethodMismatch);
        }
    }
    let body_end = match t.content_length {
        Some(cl) => body_offset
            .checked_add(cl)
            .filter(|&e| e <= buf.len())
            .ok_or(ParseError::BodyTruncated)?,
        None => buf.len(),
    };
    let all_vias = is_request || (t.via_rest.same_line.is_none() && !scan.more_vias);
    Ok(Message {
        buf,
        arena,
        start,
        headers: scan.headers.into_bump_slice(),
        top_via,
        vias: if all_vias {
            OnceCell::from(ViaList { vias, error: None })
        } else {
            OnceCell::new()
        },
        via_rest: ViaRest {
            more_lines: scan.more_vias,
            ..t.via_rest
        },
        call_id: Some(call_id),
        cseq: Some(cseq),
        from: if is_request {
            OnceCell::from(t.from)
        } else {
            OnceCell::new()
        },
        to: if is_request {
            OnceCell::from(t.to)
        } else {
            OnceCell::new()
        },
        from_at: scan.first[slot(HeaderName::From) & 7],
        to_at: scan.first[slot(HeaderName::To) & 7],
        max_forwards: t.max_forwards,
        content_length: t.content_length,
        headers_end,
        body_offset,
        body_end,
    })
}

// Header indexes are kept as `u8` (`Scan::first`, `Message::from_at`) and as bits of two
// `u64` (`Scan::typed`).
const _: () = assert!(MAX_HEADERS <= 128);

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

/// Finds the LF that ends a header line. Built once per process: on x86-64 with AVX2 it
/// calls `memchr`'s AVX2 searcher directly, which skips the per-call CPU-feature dispatch of
/// [`memchr::memchr`] (about a fifth of its cost on 20–90-byte lines).
struct NewlineFinder {
    #[cfg(target_arch = "x86_64")]
    avx2: Option<&'static memchr::arch::x86_64::avx2::memchr::One>,
}

impl NewlineFinder {
    /// The finder, built once per process.
    #[inline]
    fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            static AVX2: std::sync::OnceLock<Option<memchr::arch::x86_64::avx2::memchr::One>> =
                std::sync::OnceLock::new();
            Self {
                avx2: AVX2
                    .get_or_init(|| memchr::arch::x86_64::avx2::memchr::One::new(b'\n'))
                    .as_ref(),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Self {}
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
struct Line<'b> {
    name: HeaderName,
    /// The name's spelling when it is the canonical one (then it need not be cut from the
    /// checked text).
    canonical: Option<&'static str>,
    /// The value without leading and trailing LWS.
    value: &'b [u8],
    /// Just past the final LF.
    end: usize,
}

/// Packs up to 8 bytes little-endian, as they lie in memory.
const fn pack(s: &[u8]) -> u64 {
    let mut w = 0;
    let mut i = 0;
    while i < s.len() && i < 8 {
        w |= (s[i] as u64) << (8 * i);
        i += 1;
    }
    w
}

/// The low `n` bytes of a word (`n` in 1..=8).
const fn low(n: usize) -> u64 {
    if n >= 8 {
        u64::MAX
    } else {
        (1 << (8 * n)) - 1
    }
}

/// Recognises the common header names written the canonical way and directly followed by
/// `": "` (`Via: `, `Call-ID: `...), by one or two word compares after a dispatch on the
/// first byte: the name and its spelling (the value starts after the SP). `None` for anything
/// else (another letter case, other LWS around the colon, compact forms, other names, fewer
/// than 16 bytes left), which the caller then classifies by [`HeaderName::at_line_start`] or
/// a token scan.
#[inline(always)]
fn canonical_name(line: &[u8]) -> Option<(HeaderName, &'static str)> {
    let words: &[u8; 16] = line.get(..16)?.try_into().ok()?;
    let (a, b) = words.split_at(8);
    let w = u64::from_le_bytes(a.try_into().ok()?);
    let w2 = u64::from_le_bytes(b.try_into().ok()?);
    // `name: ` in one word, or in two (and a byte) when longer than 8 bytes.
    macro_rules! is {
        ($s:literal) => {{
            const S: &[u8] = $s;
            const T: &[u8] = if S.len() > 8 { S.split_at(8).1 } else { S };
            if S.len() <= 8 {
                w & low(S.len()) == pack(S)
            } else if S.len() <= 16 {
                w == pack(S) && w2 & low(T.len()) == pack(T)
            } else {
                // One byte more than the two words: `Session-Expires: `.
                w == pack(S) && w2 == pack(T) && line.get(16) == S.last()
            }
        }};
    }
    let h = match w as u8 {
        b'V' if is!(b"Via: ") => (HeaderName::Via, "Via"),
        b'F' if is!(b"From: ") => (HeaderName::From, "From"),
        b'T' if is!(b"To: ") => (HeaderName::To, "To"),
        b'C' if is!(b"Call-ID: ") => (HeaderName::CallId, "Call-ID"),
        b'C' if is!(b"CSeq: ") => (HeaderName::CSeq, "CSeq"),
        b'C' if is!(b"Contact: ") => (HeaderName::Contact, "Contact"),
        b'C' if is!(b"Content-Length: ") => (HeaderName::ContentLength, "Content-Length"),
        b'C' if is!(b"Content-Type: ") => (HeaderName::ContentType, "Content-Type"),
        b'M' if is!(b"Max-Forwards: ") => (HeaderName::MaxForwards, "Max-Forwards"),
        b'R' if is!(b"Record-Route: ") => (HeaderName::RecordRoute, "Record-Route"),
        b'R' if is!(b"Route: ") => (HeaderName::Route, "Route"),
        b'A' if is!(b"Allow: ") => (HeaderName::Allow, "Allow"),
        b'S' if is!(b"Supported: ") => (HeaderName::Supported, "Supported"),
        b'S' if is!(b"Server: ") => (HeaderName::Server, "Server"),
        b'S' if is!(b"Session-Expires: ") => (HeaderName::SessionExpires, "Session-Expires"),
        b'U' if is!(b"User-Agent: ") => (HeaderName::UserAgent, "User-Agent"),
        _ => return None,
    };
    Some(h)
}

/// The common shape of a header line, `name *WSP ":" *WSP value CRLF` with a non-empty value
/// and no continuation line, cut up in one forward pass: name, colon, value start, then one
/// LF search from the value. `None` for anything else (no colon, an empty or folded value, no
/// LF), and the caller takes the general path ([`header_line_end`], [`Scan::line_general`]),
/// which then also produces the error. For the lines it takes, the result is what the
/// general path computes: the name cannot run past the line end (CR and LF are not `token`
/// characters), and with no continuation line the value ends at the LF.
#[inline(always)]
fn line_fast<'b>(buf: &'b [u8], pos: usize, nl: &NewlineFinder) -> Option<Line<'b>> {
    let rest = buf.get(pos..)?;
    let (name, canonical, mut v) = match canonical_name(rest) {
        Some((name, s)) => (name, Some(s), s.len() + 2),
        None => {
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
            // HCOLON = *( SP / HTAB ) ":" SWS
            let mut v = name_end;
            while let Some(b' ' | b'\t') = rest.get(v) {
                v += 1;
            }
            if rest.get(v) != Some(&b':') {
                return None;
            }
            (name, None, v + 1)
        }
    };
    // The rest of SWS. An empty value (CR or LF right after it) or the end of the buffer
    // takes the general path.
    let mut c = *rest.get(v)?;
    if c <= b' ' {
        while c == b' ' || c == b'\t' {
            v += 1;
            c = *rest.get(v)?;
        }
        if c == b'\r' || c == b'\n' {
            return None;
        }
    }
    let tail = rest.get(v..)?;
    let lf = nl.find(tail)?;
    // The value is non-empty and starts with a non-LWS byte (so `lf > 0` and the trim stops
    // at `v`); nearly always it ends in CRLF and no fold follows.
    let mut value = match tail.get(lf - 1..lf + 2) {
        Some(&[b'\r', _, next]) if next != b' ' && next != b'\t' => tail.get(..lf - 1)?,
        _ => {
            if let Some(b' ' | b'\t') = tail.get(lf + 1) {
                return None;
            }
            match tail.get(..lf)? {
                [rest @ .., b'\r'] => rest,
                all => all,
            }
        }
    };
    if value.last().is_some_and(|&c| c <= b' ') {
        while let [rest @ .., b' ' | b'\t' | b'\r'] = value {
            value = rest;
        }
    }
    Some(Line {
        name,
        canonical,
        value,
        end: pos + v + lf + 1,
    })
}

/// Parses the start line (`line` has no CRLF; `pos` is its offset in the buffer). `FAST`
/// enables the fast path for the usual Status-Line (the tests compare it with the general
/// one).
fn parse_start_line<const FAST: bool>(
    line: &[u8],
    pos: usize,
) -> Result<StartLine<'_>, ParseError> {
    // The usual Status-Line, `SIP/2.0 ddd SP reason` (or no reason), by one word compare.
    let sip20 = FAST
        && line
            .first_chunk::<8>()
            .is_some_and(|v| u64::from_le_bytes(*v) == pack(b"SIP/2.0 "));
    if let Some((&[a, b, c], rest)) = line
        .get(8..)
        .filter(|_| sip20)
        .and_then(|r| r.split_first_chunk::<3>())
    {
        let digit = |x: u8| u16::from(x.wrapping_sub(b'0'));
        let code = digit(a) * 100 + digit(b) * 10 + digit(c);
        if (1..=6).contains(&digit(a)) && digit(b) <= 9 && digit(c) <= 9 {
            match rest {
                [b' ', reason @ ..] => {
                    return Ok(StartLine::Response {
                        version: Version::SIP_2_0,
                        code,
                        reason,
                    })
                }
                [] => {
                    return Ok(StartLine::Response {
                        version: Version::SIP_2_0,
                        code,
                        reason: rest,
                    })
                }
                _ => {}
            }
        }
    }
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

/// The header index built by [`Scan::lines`], and what the typed parsing after it needs.
struct Scan<'b> {
    is_request: bool,
    headers: BVec<'b, Header<'b>>,
    /// Bit `i % 64` of word `i / 64`: header line `i` is parsed by [`Typed::parse`].
    /// Requests: every Via, Contact and Date line and the first line of each single-valued
    /// header. Responses: the first Via line and the first Call-ID, CSeq, Max-Forwards and
    /// Content-Length.
    typed: [u64; 2],
    /// The end of the last line a `&str` is cut from (a typed value or a raw name that is not
    /// spelled the canonical way): the UTF-8 check stops there.
    text_end: usize,
    /// Bit set of the single-valued headers seen so far ([`single_bit`]).
    seen: u8,
    /// The index of the first line of each single-valued header, by [`slot`].
    first: [u8; 8],
    /// A response has more than one Via line.
    more_vias: bool,
    /// Some raw names are still empty: [`Scan::cut_names`] cuts them from the checked text.
    names_pending: bool,
}

impl<'b> Scan<'b> {
    fn new(arena: &'b Bump, is_request: bool) -> Self {
        Self {
            is_request,
            headers: BVec::with_capacity_in(16, arena),
            typed: [0; 2],
            text_end: 0,
            seen: 0,
            first: [0; 8],
            more_vias: false,
            names_pending: false,
        }
    }

    /// Cuts every header line from `pos` to the empty line into name and value and indexes
    /// it. Returns the offsets of the empty line and of the body, or the first error; the
    /// lines before an error are indexed.
    #[inline(never)]
    fn lines(
        &mut self,
        buf: &'b [u8],
        mut pos: usize,
        nl: &NewlineFinder,
    ) -> Result<(usize, usize), ParseError> {
        loop {
            // Most lines start with a letter; the empty line, a fold and the end of the
            // buffer are the bytes up to SP.
            match buf.get(pos) {
                Some(&c) if c > b' ' => {}
                Some(b'\n') => return Ok((pos, pos + 1)),
                Some(b'\r') if buf.get(pos + 1) == Some(&b'\n') => return Ok((pos, pos + 2)),
                Some(b' ' | b'\t') => return Err(ParseError::HeaderName),
                Some(_) => {}
                None => return Err(ParseError::HeadersUnterminated),
            }
            pos = match line_fast(buf, pos, nl) {
                Some(l) => self.line_fast(pos, l)?,
                None => self.line_general(buf, pos)?,
            };
        }
    }

    /// Records a line cut up by [`line_fast`]; returns the offset of the next line.
    #[inline(always)]
    fn line_fast(&mut self, pos: usize, l: Line<'b>) -> Result<usize, ParseError> {
        if self.headers.len() >= MAX_HEADERS {
            return Err(ParseError::TooManyHeaders);
        }
        let raw_name = match l.canonical {
            Some(s) => s,
            None => {
                self.names_pending = true;
                self.text_end = l.end;
                ""
            }
        };
        self.push(l.name, raw_name, l.value, pos..l.end)?;
        Ok(l.end)
    }

    /// [`Scan::lines`] for the lines [`line_fast`] declines (folds, empty values, errors);
    /// returns the offset of the next line. Kept out of line so that the loop stays small.
    #[inline(never)]
    fn line_general(&mut self, buf: &'b [u8], pos: usize) -> Result<usize, ParseError> {
        let end = header_line_end(buf, pos)?;
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
        let vstart = skip_lws(content, colon + 1);
        let value = trim_lws(content.get(vstart..).unwrap_or_default());
        self.names_pending = true;
        self.text_end = end;
        self.push(name, "", value, pos..end)?;
        Ok(end)
    }

    /// Records one header line (`line` with its final LF), with its raw name (or `""`, to be
    /// cut by [`Scan::cut_names`]) and trimmed value, marking it for [`Typed::parse`] where
    /// needed. A second line of a single-valued header must repeat the first's value (RFC
    /// 3261 §7.3.1, RFC 4475 §3.3.8, §3.3.9).
    #[inline(always)]
    fn push(
        &mut self,
        name: HeaderName,
        raw_name: &'static str,
        value: &'b [u8],
        line: Range<usize>,
    ) -> Result<(), ParseError> {
        let index = self.headers.len();
        if is_typed(name) && self.mark(name, value, index)? && needs_text(name) {
            self.text_end = line.end;
        }
        self.headers.push(Header {
            name,
            raw_name,
            value,
            line,
        });
        Ok(())
    }

    /// [`Scan::push`] for the headers [`is_typed`] names; whether the line was marked for
    /// [`Typed::parse`].
    #[inline(always)]
    fn mark(&mut self, name: HeaderName, value: &[u8], index: usize) -> Result<bool, ParseError> {
        let bit = single_bit(name);
        let is_request = self.is_request;
        let typed = if bit != 0 {
            if self.seen & bit != 0 {
                let first = self.headers.get(usize::from(self.first[slot(name) & 7]));
                if first.is_some_and(|h| h.value != value) {
                    return Err(ParseError::DuplicateHeader(name));
                }
                return Ok(false);
            }
            self.seen |= bit;
            // `index` is below `MAX_HEADERS`, which fits a `u8`.
            self.first[slot(name) & 7] = index as u8;
            // A response's From and To are parsed on first access.
            is_request || !matches!(name, HeaderName::From | HeaderName::To)
        } else if name == HeaderName::Via {
            if is_request || self.seen & VIA_SEEN == 0 {
                self.seen |= VIA_SEEN;
                true
            } else {
                self.more_vias = true;
                false
            }
        } else {
            // Contact and Date are only checked in requests: a proxy relays a response
            // whatever its Contact looks like (dropping a 200 OK for it would break the
            // call), and RFC 4475 only asks for their rejection in requests.
            is_request
        };
        if typed {
            if let Some(w) = self.typed.get_mut(index / 64) {
                *w |= 1 << (index % 64);
            }
        }
        Ok(typed)
    }

    /// Cuts the raw names [`Scan::lines`] left empty (any spelling but the canonical one)
    /// from `text`, the checked header section: the name is the `token` run at the line
    /// start.
    #[cold]
    fn cut_names(&mut self, buf: &'b [u8], text: &'b str) {
        for h in self.headers.iter_mut().filter(|h| h.raw_name.is_empty()) {
            let start = h.line.start;
            let len = run_while(buf, start, is_token) - start;
            h.raw_name = str_in(text, buf, start, len).unwrap_or_default();
        }
    }
}

/// [`Scan::seen`] bit for "a Via line was seen" (above the [`single_bit`]s).
const VIA_SEEN: u8 = 0x80;

/// The typed headers, parsed from the lines [`Scan`] marked.
struct Typed<'b> {
    arena: &'b Bump,
    /// Every Via value of a request.
    vias: BVec<'b, Via<'b>>,
    /// The topmost Via of a response.
    top: Option<&'b Via<'b>>,
    via_rest: ViaRest,
    call_id: Option<&'b str>,
    cseq: Option<CSeq<'b>>,
    /// From and To, parsed in requests only.
    from: Option<&'b NameAddr<'b>>,
    to: Option<&'b NameAddr<'b>>,
    max_forwards: Option<u32>,
    content_length: Option<usize>,
}

impl<'b> Typed<'b> {
    fn new(arena: &'b Bump, is_request: bool) -> Self {
        Self {
            arena,
            vias: if is_request {
                BVec::with_capacity_in(4, arena)
            } else {
                BVec::new_in(arena)
            },
            top: None,
            via_rest: ViaRest::default(),
            call_id: None,
            cseq: None,
            from: None,
            to: None,
            max_forwards: None,
            content_length: None,
        }
    }

    /// Parses the marked lines of `scan` in order; the first error is the message's.
    fn parse(&mut self, scan: &Scan<'b>, buf: &'b [u8], text: &'b str) -> Result<(), ParseError> {
        for (i, &word) in scan.typed.iter().enumerate() {
            let mut marked = word;
            while marked != 0 {
                let index = i * 64 + marked.trailing_zeros() as usize;
                marked &= marked - 1;
                if let Some(h) = scan.headers.get(index) {
                    self.header(h, index, buf, text, scan.is_request)?;
                }
            }
        }
        Ok(())
    }

    /// Parses one typed header line.
    fn header(
        &mut self,
        h: &Header<'b>,
        index: usize,
        buf: &'b [u8],
        text: &'b str,
        is_request: bool,
    ) -> Result<(), ParseError> {
        let (name, value) = (h.name, h.value);
        let base = offset_in(buf, value);
        let value_str =
            || str_in(text, buf, base, value.len()).ok_or(ParseError::HeaderValue(name));
        match name {
            HeaderName::Via if is_request => {
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
            // A response: the topmost value now, the others on first access.
            HeaderName::Via => {
                let s = str_in(text, buf, base, value.len()).ok_or(ParseError::BadVia)?;
                // Parsed in place, in the arena: a `Via` is large.
                let via = self.arena.alloc(Via::empty(index));
                let rest = parse_via_first(s, base, index, via)?;
                self.top = Some(via);
                if let Some(r) = rest {
                    self.via_rest.same_line = Some((base + r, base + value.len()));
                }
            }
            HeaderName::From => self.from = Some(self.arena.alloc(addr(value_str()?, name)?)),
            HeaderName::To => self.to = Some(self.arena.alloc(addr(value_str()?, name)?)),
            HeaderName::CallId => {
                // callid = word [ "@" word ]: one non-empty run without LWS.
                if value.is_empty() || has_lws(value) {
                    return Err(ParseError::HeaderValue(name));
                }
                self.call_id = Some(value_str()?);
            }
            HeaderName::CSeq => self.cseq = Some(parse_cseq_bytes(value)?),
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
            HeaderName::Contact if value != b"*" => {
                parse_name_addr_list(value_str()?, |_| Ok(())).map_err(|e| wrap(e, name))?;
            }
            // rfc1123-date ends in "GMT" (RFC 3261 §20.17, RFC 4475 §3.1.2.12).
            HeaderName::Date if !value.ends_with(b"GMT") => {
                return Err(ParseError::HeaderValue(name));
            }
            _ => {}
        }
        Ok(())
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

/// Whether [`Scan::mark`] has work for this header: the typed headers, the single-valued ones
/// (checked for duplicates), and Contact and Date (checked in requests).
#[inline(always)]
fn is_typed(name: HeaderName) -> bool {
    const TYPED: u64 = 1 << HeaderName::Via as u64
        | 1 << HeaderName::From as u64
        | 1 << HeaderName::To as u64
        | 1 << HeaderName::CallId as u64
        | 1 << HeaderName::CSeq as u64
        | 1 << HeaderName::MaxForwards as u64
        | 1 << HeaderName::ContentLength as u64
        | 1 << HeaderName::Contact as u64
        | 1 << HeaderName::Date as u64;
    (TYPED >> (name as u64 & 63)) & 1 != 0
}

/// Whether [`Typed::header`] cuts a `&str` from this header's value.
#[inline(always)]
fn needs_text(name: HeaderName) -> bool {
    !matches!(
        name,
        HeaderName::CSeq | HeaderName::MaxForwards | HeaderName::ContentLength | HeaderName::Date
    )
}

/// The duplicate-tracking bit of a single-valued header (RFC 3261 §7.3.1), 0 for others:
/// From, To, Call-ID, CSeq, Max-Forwards and Content-Length, which are declared one after
/// the other, get bits 0 to 5.
#[inline(always)]
fn single_bit(name: HeaderName) -> u8 {
    let d = slot(name);
    if d < 6 {
        1 << d
    } else {
        0
    }
}

/// The position of a single-valued header in [`Scan::first`] (at least 6 for the others).
#[inline(always)]
fn slot(name: HeaderName) -> usize {
    (name as usize).wrapping_sub(HeaderName::From as usize)
}

// `single_bit` relies on the declaration order.
const _: () = assert!(
    HeaderName::To as usize == HeaderName::From as usize + 1
        && HeaderName::CallId as usize == HeaderName::From as usize + 2
        && HeaderName::CSeq as usize == HeaderName::From as usize + 3
        && HeaderName::MaxForwards as usize == HeaderName::From as usize + 4
        && HeaderName::ContentLength as usize == HeaderName::From as usize + 5
);

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

    /// Indexes `line` (followed by the empty line) through the fast or the general path and
    /// parses what it marked.
    fn one_line(line: &str, is_request: bool, fast: bool) -> String {
        let buf = format!("{line}\r\n");
        let b = buf.as_bytes();
        let arena = Bump::new();
        let mut scan = Scan::new(&arena, is_request);
        let r = if fast {
            let l = line_fast(b, 0, &NewlineFinder::new())
                .unwrap_or_else(|| panic!("declined {line:?}"));
            scan.line_fast(0, l)
        } else {
            scan.line_general(b, 0)
        };
        // The text the parse would check: up to `text_end`, which must be enough.
        let text = std::str::from_utf8(&b[..scan.text_end]).unwrap_or("");
        scan.cut_names(b, text);
        let mut t = Typed::new(&arena, is_request);
        let typed = r.and_then(|_| t.parse(&scan, b, text));
        format!(
            "{r:?} {typed:?} {:?} {:?} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            &scan.headers[..],
            scan.typed,
            scan.seen,
            scan.first,
            scan.more_vias,
            (&t.vias[..], t.top),
            t.via_rest,
            t.call_id,
            t.cseq,
            (t.from, t.to),
            (t.max_forwards, t.content_length),
        )
    }

    /// Every line the fast path takes gives the same header, typed values and result as the
    /// general path; the lines it declines are the ones it is not meant for.
    #[test]
    fn fast_line_path_agrees_with_general_path() {
        let taken = [
            "Via: SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport",
            "v:SIP/2.0/TCP h;received=1.2.3.4 , SIP/2.0/UDP x",
            "From: \"A\" <sip:a@b>;tag=1 \t ",
            "t : <sip:b@c>",
            "Call-ID: abc@def",
            "i:\tabc def",
            "CSeq: 1 INVITE",
            "CSeq: 1INVITE",
            "Max-Forwards: 70",
            "Max-Forwards: 7x",
            "Content-Length: 12 \r",
            "Contact: <sip:a@b>, <sip:c@d>",
            "Contact: *",
            "Contact: <sip:a@b",
            "Date: Sat, 13 Nov 2010 23:29:00 GMT",
            "Date: yesterday",
            "X-Unknown: \u{e9}t\u{e9}",
            "Subject: x",
            "Via: SIP/2.0/UDP h;x=\"q\"",
            "Via: nonsense",
            "From: <sip:a@b>;tag=x,<sip:c@d>",
            "Record-Route: <sip:p;lr>",
            "record-route: <sip:p;lr>",
            "Route:<sip:p;lr>",
            "Allow: INVITE",
            "Supported: timer",
            "Server: x",
            "Session-Expires: 1800",
            "User-Agent: x",
            "Content-Type: application/sdp",
            "Content-Typ: x",
            "Content-Types: x",
            "CSeq : 1 INVITE",
            "Via:SIP/2.0/UDP h",
        ];
        for line in taken {
            for is_request in [true, false] {
                assert_eq!(
                    one_line(line, is_request, true),
                    one_line(line, is_request, false),
                    "{line:?}"
                );
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

    /// The canonical-spelling names are what the token scan finds, and only exact spellings
    /// followed by the colon are taken.
    #[test]
    fn canonical_names_agree_with_token_scan() {
        for (name, _) in crate::header::LONG {
            for spelled in [name.to_string(), name.to_lowercase(), name.to_uppercase()] {
                for tail in [
                    ": value and more\r\n",
                    ":value and more\r\n",
                    " : value and more\r\n",
                    "x: v\r\n",
                ] {
                    let line = format!("{spelled}{tail}");
                    if let Some((h, s)) = canonical_name(line.as_bytes()) {
                        assert_eq!(s, spelled, "{line:?}");
                        assert!(tail.starts_with(": "), "{line:?}");
                        assert_eq!(h, HeaderName::from_bytes(spelled.as_bytes()), "{line:?}");
                    }
                }
            }
        }
        assert!(canonical_name(b"Via: SIP/2.0/UDP h\r\n").is_some());
        assert!(canonical_name(b"Via: x\r\n").is_none(), "too short to load");
    }

    /// The Status-Line fast path gives what the general path gives, or leaves the line to it.
    #[test]
    fn status_line_fast_path_agrees_with_general_path() {
        let lines = [
            "SIP/2.0 200 OK",
            "SIP/2.0 200",
            "SIP/2.0 200 ",
            "SIP/2.0 100 Trying",
            "SIP/2.0 699 x y",
            "SIP/2.0 099 x",
            "SIP/2.0 700 x",
            "SIP/2.0 2000 OK",
            "SIP/2.0 20 OK",
            "SIP/2.0 20",
            "SIP/2.0 2x0 OK",
            "SIP/2.0 200\tOK",
            "SIP/2.0 200  OK",
            "SIP/2.0  200 OK",
            "sip/2.0 200 OK",
            "SIP/2.1 200 OK",
            "SIP/2.0 ",
            "SIP/2.0",
        ];
        for line in lines {
            let b = line.as_bytes();
            assert_eq!(
                parse_start_line::<true>(b, 0),
                parse_start_line::<false>(b, 0),
                "{line:?}"
            );
        }
    }

    proptest::proptest! {
        /// Status lines of random codes and reasons.
        #[test]
        fn status_line_fast_path_agrees_on_random_lines(
            tail in "[0-9a-zA-Z \t]{0,8}",
        ) {
            let line = format!("SIP/2.0 {tail}");
            let b = line.as_bytes();
            proptest::prop_assert_eq!(
                parse_start_line::<true>(b, 0),
                parse_start_line::<false>(b, 0)
            );
        }

        /// Random header lines: whenever the fast path takes one, it indexes and parses it
        /// as the general path does.
        #[test]
        fn fast_line_path_agrees_on_random_lines(
            name in proptest::sample::select(vec![
                "Via", "via", "VIA", "v", "From", "from", "f", "To", "t", "Call-ID", "call-id",
                "i", "CSeq", "cseq", "Contact", "m", "Content-Length", "content-length", "l",
                "Content-Type", "c", "Max-Forwards", "Record-Route", "Route", "Allow",
                "Supported", "k", "Server", "Session-Expires", "User-Agent", "Date",
                "X-Custom", "Vias", "Contact-X",
            ]),
            colon in proptest::sample::select(vec![": ", ":", " : ", ":\t", ":  ", "\t:"]),
            value in "[ -~]{0,40}",
            end in proptest::sample::select(vec!["", " ", "\t", "\r", " \r"]),
            is_request in proptest::bool::ANY,
        ) {
            let line = format!("{name}{colon}{value}{end}");
            let b = format!("{line}\r\n");
            if line_fast(b.as_bytes(), 0, &NewlineFinder::new()).is_some() {
                proptest::prop_assert_eq!(
                    one_line(&line, is_request, true),
                    one_line(&line, is_request, false)
                );
            }
        }
    }
}
