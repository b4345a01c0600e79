//! Byte-level helpers shared by the message side: header-name matching (long and compact
//! forms, RFC 3261 §7.3.3), a lenient header-line scanner for messages the parser rejected,
//! and a Via value scanner that reports parameter positions for in-place edits
//! (RFC 3261 §20.42, §18.2.1; RFC 3581 §4).
//!
//! Nothing here allocates or panics: every index is checked.

use std::net::IpAddr;
use std::ops::Range;

/// How many header lines the lenient scanner looks at before giving up (DoS bound: a datagram
/// of one-byte lines must not make the error path quadratic or unbounded).
pub(crate) const MAX_LENIENT_LINES: usize = 256;

/// Compact header forms (RFC 3261 §7.3.3 and the extensions registered with IANA).
const COMPACT: &[(u8, &str)] = &[
    (b'i', "call-id"),
    (b'm', "contact"),
    (b'e', "content-encoding"),
    (b'l', "content-length"),
    (b'c', "content-type"),
    (b'f', "from"),
    (b's', "subject"),
    (b'k', "supported"),
    (b't', "to"),
    (b'v', "via"),
    (b'o', "event"),
    (b'r', "refer-to"),
    (b'b', "referred-by"),
    (b'u', "allow-events"),
    (b'a', "accept-contact"),
    (b'j', "reject-contact"),
    (b'd', "request-disposition"),
    (b'x', "session-expires"),
    (b'y', "identity"),
    (b'n', "identity-info"),
];

/// The long, lower-case form of a header name given in any form (`v` => `via`); names without
/// a compact form come back unchanged (compare case-insensitively).
pub(crate) fn long_name(name: &[u8]) -> &[u8] {
    if name.len() == 1 {
        let c = name[0].to_ascii_lowercase();
        if let Some((_, long)) = COMPACT.iter().find(|(k, _)| *k == c) {
            return long.as_bytes();
        }
    }
    name
}

/// Whether two header names denote the same header (case-insensitive, compact forms folded).
pub(crate) fn same_header(a: &[u8], b: &[u8]) -> bool {
    long_name(a).eq_ignore_ascii_case(long_name(b))
}

/// `a` with leading and trailing SP/HTAB/CR/LF removed.
pub(crate) fn trim(a: &[u8]) -> &[u8] {
    let is_ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = a.iter().position(|c| !is_ws(c)).unwrap_or(a.len());
    let end = a.iter().rposition(|c| !is_ws(c)).map_or(start, |e| e + 1);
    a.get(start..end.max(start)).unwrap_or(&[])
}

/// Range of `a` after trimming whitespace, relative to `a`.
pub(crate) fn trim_range(a: &[u8]) -> Range<usize> {
    let is_ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = a.iter().position(|c| !is_ws(c)).unwrap_or(a.len());
    let end = a.iter().rposition(|c| !is_ws(c)).map_or(start, |e| e + 1);
    start..end.max(start)
}

/// One header line found by [`RawHeaders`]: the name as written and the byte range of the
/// whole field in the buffer (name through the last continuation line, without the final
/// line terminator).
#[derive(Clone, Debug)]
pub(crate) struct RawHeader<'a> {
    /// Header name as written (trimmed).
    pub name: &'a [u8],
    /// The value (after the colon, trimmed, continuation lines included as written).
    pub value: &'a [u8],
    /// The whole field without the final CRLF.
    pub field: Range<usize>,
}

/// A lenient header scanner over a raw message buffer, for building replies to requests the
/// parser rejected (RFC 4475 §3.1.2: answer 400 where possible). It skips the start line,
/// accepts CRLF or bare LF, folds continuation lines into the field, skips lines without a
/// colon, and stops at the empty line, the end of the buffer or [`MAX_LENIENT_LINES`].
pub(crate) struct RawHeaders<'a> {
    buf: &'a [u8],
    pos: usize,
    lines: usize,
}

impl<'a> RawHeaders<'a> {
    /// Scans `buf` starting after its first (start) line.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        let mut pos = 0;
        // Leading CRLFs before the start line are tolerated (RFC 3261 §7.5).
        while pos < buf.len() && matches!(buf[pos], b'\r' | b'\n') {
            pos += 1;
        }
        let pos = match memchr::memchr(b'\n', &buf[pos..]) {
            Some(i) => pos + i + 1,
            None => buf.len(),
        };
        Self { buf, pos, lines: 0 }
    }

    /// The start line of `buf` (without terminator), skipping leading CRLFs.
    pub(crate) fn start_line(buf: &[u8]) -> &[u8] {
        let mut pos = 0;
        while pos < buf.len() && matches!(buf[pos], b'\r' | b'\n') {
            pos += 1;
        }
        let rest = &buf[pos..];
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let line = &rest[..end];
        line.strip_suffix(b"\r").unwrap_or(line)
    }

    /// End of the line starting at `from`: (content end, next line start).
    fn line_end(&self, from: usize) -> (usize, usize) {
        match memchr::memchr(b'\n', &self.buf[from..]) {
            Some(i) => {
                let nl = from + i;
                let content_end = if nl > from && self.buf[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (content_end, nl + 1)
            }
            None => (self.buf.len(), self.buf.len()),
        }
    }
}

impl<'a> Iterator for RawHeaders<'a> {
    type Item = RawHeader<'a>;

    fn next(&mut self) -> Option<RawHeader<'a>> {
        loop {
            if self.pos >= self.buf.len() || self.lines >= MAX_LENIENT_LINES {
                return None;
            }
            let start = self.pos;
            let (mut end, mut next) = self.line_end(start);
            self.lines += 1;
            if end == start {
                // Empty line: end of the header section.
                self.pos = self.buf.len();
                return None;
            }
            // Continuation lines (RFC 3261 §7.3.1: a line starting with SP/HTAB).
            while next < self.buf.len()
                && matches!(self.buf[next], b' ' | b'\t')
                && self.lines < MAX_LENIENT_LINES
            {
                let (e, n) = self.line_end(next);
                end = e;
                next = n;
                self.lines += 1;
            }
            self.pos = next;
            let field = &self.buf[start..end];
            let Some(colon) = memchr::memchr(b':', field) else {
                continue;
            };
            let name = trim(&field[..colon]);
            if name.is_empty() || name.iter().any(|c| matches!(c, b' ' | b'\t')) {
                continue;
            }
            return Some(RawHeader {
                name,
                value: trim(&field[colon + 1..]),
                field: start..end,
            });
        }
    }
}

/// Splits a header value at top-level commas (outside quotes and `<>`), as for multi-valued
/// headers like Via (RFC 3261 §7.3.1). Returns the range of the first element, relative to
/// `v` and trimmed.
pub(crate) fn first_element(v: &[u8]) -> Range<usize> {
    let mut in_quote = false;
    let mut in_angle = false;
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\\' if in_quote => i += 1,
            b'"' => in_quote = !in_quote,
            b'<' if !in_quote => in_angle = true,
            b'>' if !in_quote => in_angle = false,
            b',' if !in_quote && !in_angle => break,
            _ => {}
        }
        i += 1;
    }
    let end = i.min(v.len());
    let r = trim_range(&v[..end]);
    r.start..r.end
}

/// A Via value (one `via-parm`, RFC 3261 §20.42) scanned leniently, with the positions needed
/// to add `received`/fill `rport` in place (RFC 3261 §18.2.1, RFC 3581 §4). Positions are
/// relative to the scanned slice.
#[derive(Clone, Debug, Default)]
pub(crate) struct ViaScan<'a> {
    /// SIP version in the sent-protocol (`2.0`).
    pub version: &'a [u8],
    /// Transport token (`UDP`, `TCP`, ...), as written.
    pub transport: &'a [u8],
    /// sent-by host as written (IPv6 references keep their brackets).
    pub host: &'a [u8],
    /// sent-by port, when present and valid.
    pub port: Option<u16>,
    /// Whether a port was written at all (even an invalid one).
    pub port_written: bool,
    /// `branch` value.
    pub branch: Option<&'a [u8]>,
    /// `received` value.
    pub received: Option<&'a [u8]>,
    /// The whole `;received[=value]` parameter, from its `;`.
    pub received_param: Option<Range<usize>>,
    /// `rport`: `Some(None)` when bare, `Some(Some(v))` with a value.
    pub rport: Option<Option<&'a [u8]>>,
    /// Position right after the `rport` parameter name (where `=port` goes when it is bare).
    pub rport_name_end: usize,
    /// `maddr` value.
    pub maddr: Option<&'a [u8]>,
    /// End of the value (after the last parameter, trailing whitespace excluded).
    pub end: usize,
}

/// Byte classes of the Via scanner (one table lookup per byte instead of a chain of
/// comparisons).
const WS: u8 = 1;
const TOK_END: u8 = 2;
const HOST_END: u8 = 4;
const NAME_END: u8 = 8;
const VALUE_END: u8 = 16;

static VIA_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let ws = [b' ', b'\t', b'\r', b'\n'];
    let mut k = 0;
    while k < ws.len() {
        t[ws[k] as usize] = WS | TOK_END | HOST_END | NAME_END | VALUE_END;
        k += 1;
    }
    t[b'/' as usize] |= TOK_END;
    t[b';' as usize] |= TOK_END | HOST_END | NAME_END | VALUE_END;
    t[b',' as usize] |= TOK_END | HOST_END | NAME_END | VALUE_END;
    t[b':' as usize] |= HOST_END;
    t[b'=' as usize] |= NAME_END;
    t
};

#[inline(always)]
fn is(c: u8, class: u8) -> bool {
    VIA_CLASS[c as usize] & class != 0
}

impl<'a> ViaScan<'a> {
    /// The fields of a Via the parser already read that choose where a response goes
    /// (transport, sent-by, `rport`, `maddr`, `branch`); positions stay empty.
    pub(crate) fn from_parsed(v: &ferrosip_parser::Via<'a>) -> Self {
        Self {
            transport: v.transport.as_bytes(),
            host: v.host.as_bytes(),
            port: v.port,
            port_written: v.port.is_some(),
            branch: v.branch.map(str::as_bytes),
            received: v.received.map(str::as_bytes),
            rport: v.rport.map(|_| None),
            maddr: v.maddr.map(str::as_bytes),
            ..Self::default()
        }
    }

    /// Scans one via-parm. `None` when even the sent-protocol or the host is missing.
    pub(crate) fn scan(v: &'a [u8]) -> Option<Self> {
        let mut s = ViaScan::default();
        let mut i = 0;
        let skip_ws = |i: &mut usize| {
            while *i < v.len() && is(v[*i], WS) {
                *i += 1;
            }
        };
        // protocol-name "/" protocol-version "/" transport, with optional LWS around "/".
        let tok = |i: &mut usize| -> &'a [u8] {
            skip_ws(i);
            let st = *i;
            while *i < v.len() && !is(v[*i], TOK_END) {
                *i += 1;
            }
            &v[st..*i]
        };
        let name = tok(&mut i);
        skip_ws(&mut i);
        if name.is_empty() || v.get(i) != Some(&b'/') {
            return None;
        }
        i += 1;
        s.version = tok(&mut i);
        skip_ws(&mut i);
        if v.get(i) != Some(&b'/') {
            return None;
        }
        i += 1;
        s.transport = tok(&mut i);
        skip_ws(&mut i);
        // sent-by = host [ COLON port ]
        let hs = i;
        if v.get(i) == Some(&b'[') {
            while i < v.len() && v[i] != b']' {
                i += 1;
            }
            i = (i + 1).min(v.len());
        } else {
            while i < v.len() && !is(v[i], HOST_END) {
                i += 1;
            }
        }
        s.host = &v[hs..i];
        if s.host.is_empty() {
            return None;
        }
        skip_ws(&mut i);
        if v.get(i) == Some(&b':') {
            i += 1;
            skip_ws(&mut i);
            let ps = i;
            while i < v.len() && v[i].is_ascii_digit() {
                i += 1;
            }
            s.port_written = true;
            s.port = parse_port(&v[ps..i]);
        }
        s.end = i;
        // *( SEMI via-params )
        loop {
            skip_ws(&mut i);
            if v.get(i) != Some(&b';') {
                break;
            }
            let param_start = i;
            i += 1;
            skip_ws(&mut i);
            let ns = i;
            while i < v.len() && !is(v[i], NAME_END) {
                i += 1;
            }
            let pname = &v[ns..i];
            let name_end = i;
            skip_ws(&mut i);
            let mut value = None;
            if v.get(i) == Some(&b'=') {
                i += 1;
                skip_ws(&mut i);
                let vs = i;
                if v.get(i) == Some(&b'"') {
                    i += 1;
                    while i < v.len() && v[i] != b'"' {
                        if v[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                    i = (i + 1).min(v.len());
                } else if v.get(i) == Some(&b'[') {
                    while i < v.len() && v[i] != b']' {
                        i += 1;
                    }
                    i = (i + 1).min(v.len());
                } else {
                    while i < v.len() && !is(v[i], VALUE_END) {
                        i += 1;
                    }
                }
                value = Some(&v[vs..i]);
            }
            s.end = i;
            if pname.eq_ignore_ascii_case(b"branch") {
                s.branch = value;
            } else if pname.eq_ignore_ascii_case(b"received") {
                s.received = value;
                s.received_param = Some(param_start..i);
            } else if pname.eq_ignore_ascii_case(b"rport") {
                s.rport = Some(value);
                s.rport_name_end = name_end;
            } else if pname.eq_ignore_ascii_case(b"maddr") {
                s.maddr = value;
            }
        }
        Some(s)
    }

    /// The sent-by host as an IP address, if it is a literal (brackets removed).
    pub(crate) fn host_ip(&self) -> Option<IpAddr> {
        parse_ip(self.host)
    }
}

/// Parses an IP literal, with or without IPv6 reference brackets (RFC 5118 §4.5 tolerates
/// both in `received`).
pub(crate) fn parse_ip(h: &[u8]) -> Option<IpAddr> {
    if let Some(v4) = parse_ipv4(h) {
        return Some(IpAddr::V4(v4));
    }
    if h.first()
        .is_some_and(|c| c.is_ascii_alphabetic() && !c.is_ascii_hexdigit())
    {
        // A host name: neither an IPv4 nor an IPv6 literal starts with g-z.
        return None;
    }
    let h = h
        .strip_prefix(b"[")
        .and_then(|x| x.strip_suffix(b"]"))
        .unwrap_or(h);
    std::str::from_utf8(h).ok()?.parse().ok()
}

/// `str::trim` without the Unicode decoding when there is nothing to trim (the usual case
/// for script values and configured URIs).
#[inline]
pub(crate) fn trim_str(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// Parses a dotted-quad IPv4 address exactly as std does (four decimal octets 0..=255, no
/// leading zeros), without the UTF-8 check and the generic parser; `None` for anything else.
#[inline]
pub(crate) fn parse_ipv4(h: &[u8]) -> Option<std::net::Ipv4Addr> {
    if h.len() < 7 || h.len() > 15 {
        return None;
    }
    let mut oct = [0u8; 4];
    let mut k = 0;
    let mut n: u32 = 0;
    let mut digits = 0;
    for &c in h {
        if c == b'.' {
            if digits == 0 || k == 3 {
                return None;
            }
            oct[k] = n as u8;
            k += 1;
            n = 0;
            digits = 0;
        } else {
            let d = c.wrapping_sub(b'0');
            // A digit; no leading zero ("01"); at most 255.
            if d > 9 || (digits == 1 && n == 0) {
                return None;
            }
            n = n * 10 + u32::from(d);
            digits += 1;
            if n > 255 {
                return None;
            }
        }
    }
    if k != 3 || digits == 0 {
        return None;
    }
    oct[3] = n as u8;
    Some(std::net::Ipv4Addr::from(oct))
}

/// Parses a port number `1*DIGIT` in 0..=65535 (no sign, no spaces).
pub(crate) fn parse_port(p: &[u8]) -> Option<u16> {
    parse_u32(p).and_then(|n| u16::try_from(n).ok())
}

/// Parses `1*DIGIT` into a u32; `None` on anything else or overflow.
pub(crate) fn parse_u32(p: &[u8]) -> Option<u32> {
    if p.is_empty() || p.len() > 10 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in p {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    u32::try_from(n).ok()
}

/// The value of a `;name=value` parameter in a name-addr / addr-spec header value (for
/// `tag`, RFC 3261 §19.3), searched outside quotes and `<>`.
pub(crate) fn header_param<'a>(v: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut in_quote = false;
    let mut in_angle = false;
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\\' if in_quote => i += 1,
            b'"' => in_quote = !in_quote,
            b'<' if !in_quote => in_angle = true,
            b'>' if !in_quote => in_angle = false,
            b';' if !in_quote && !in_angle => {
                let rest = &v[i + 1..];
                let ns = rest
                    .iter()
                    .position(|c| !matches!(c, b' ' | b'\t'))
                    .unwrap_or(rest.len());
                let rest = &rest[ns..];
                let ne = rest
                    .iter()
                    .position(|c| matches!(c, b'=' | b';' | b' ' | b'\t' | b','))
                    .unwrap_or(rest.len());
                if rest[..ne].eq_ignore_ascii_case(name) {
                    let after = trim_start(&rest[ne..]);
                    if let Some(val) = after.strip_prefix(b"=") {
                        let val = trim_start(val);
                        let ve = val
                            .iter()
                            .position(|c| matches!(c, b';' | b' ' | b'\t' | b',' | b'\r' | b'\n'))
                            .unwrap_or(val.len());
                        return Some(&val[..ve]);
                    }
                    return Some(&[]);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn trim_start(a: &[u8]) -> &[u8] {
    let s = a
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t'))
        .unwrap_or(a.len());
    &a[s..]
}

/// Splits `host[:port]` (IPv6 references in brackets) leniently.
pub(crate) fn split_host_port(s: &[u8]) -> (&[u8], Option<u16>, bool) {
    if s.first() == Some(&b'[') {
        if let Some(close) = memchr::memchr(b']', s) {
            let host = &s[..=close];
            let rest = &s[close + 1..];
            return match rest.strip_prefix(b":") {
                Some(p) => (host, parse_port(p), true),
                None => (host, None, false),
            };
        }
        return (s, None, false);
    }
    // A bare IPv6 address (two or more colons) has no port.
    if memchr::memchr_iter(b':', s).count() > 1 {
        return (s, None, false);
    }
    match memchr::memchr(b':', s) {
        Some(c) => (&s[..c], parse_port(&s[c + 1..]), true),
        None => (s, None, false),
    }
}

/// Whether two hosts are the same: IP literals compare as addresses (so `[::1]` equals
/// `::1`), names compare case-insensitively (RFC 3261 §19.1.4).
#[cfg(test)]
pub(crate) fn same_host(a: &[u8], b: &[u8]) -> bool {
    match (parse_ip(a), parse_ip(b)) {
        (Some(x), Some(y)) => canonical_ip(x) == canonical_ip(y),
        (None, None) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// Maps IPv4-mapped IPv6 addresses to IPv4 (RFC 4291 §2.5.5.2) for comparisons.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Appends a decimal number.
pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    out.extend_from_slice(fmt_u64(n, &mut buf));
}

/// `n` in decimal, written into `buf`; returns the digits.
pub(crate) fn fmt_u64(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = n;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// The low 32 bits of `n` as 8 lower-case hex digits.
pub(crate) fn hex8(n: u64) -> [u8; 8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 8];
    for (k, o) in out.iter_mut().enumerate() {
        *o = HEX[((n >> ((7 - k) * 4)) & 0xf) as usize];
    }
    out
}

/// Appends `n` as `width` lower-case hex digits.
pub(crate) fn push_hex(out: &mut Vec<u8>, n: u64, width: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for k in (0..width.min(16)).rev() {
        out.push(HEX[((n >> (k * 4)) & 0xf) as usize]);
    }
}

/// Appends an IP address as it goes into a Via `received` parameter (IPv6 without brackets,
/// RFC 3261 §20.42 / RFC 5118 §4.5) or, with `brackets`, as a host (IPv6 reference).
pub(crate) fn push_ip(out: &mut Vec<u8>, ip: IpAddr, brackets: bool) {
    use std::io::Write;
    let ip = canonical_ip(ip);
    if let IpAddr::V4(v4) = ip {
        let mut b = [0u8; 15];
        let mut n = 0;
        for (k, o) in v4.octets().into_iter().enumerate() {
            if k > 0 {
                b[n] = b'.';
                n += 1;
            }
            if o >= 100 {
                b[n] = b'0' + o / 100;
                n += 1;
            }
            if o >= 10 {
                b[n] = b'0' + o / 10 % 10;
                n += 1;
            }
            b[n] = b'0' + o % 10;
            n += 1;
        }
        out.extend_from_slice(&b[..n]);
        return;
    }
    // Writing to a Vec cannot fail.
    let _ = match ip {
        IpAddr::V4(v4) => write!(out, "{v4}"),
        IpAddr::V6(v6) if brackets => write!(out, "[{v6}]"),
        IpAddr::V6(v6) => write!(out, "{v6}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_compact_forms() {
        assert!(same_header(b"v", b"Via"));
        assert!(same_header(b"CALL-ID", b"i"));
        assert!(!same_header(b"t", b"From"));
    }

    #[test]
    fn raw_headers_fold_and_skip() {
        let m = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n  ;branch=x\r\nbogus\r\ni: c\r\n\r\nbody: x\r\n";
        let hs: Vec<_> = RawHeaders::new(m).collect();
        assert_eq!(hs.len(), 2);
        assert_eq!(hs[0].name, b"Via");
        assert_eq!(hs[0].value, b"SIP/2.0/UDP h\r\n  ;branch=x");
        assert_eq!(hs[1].name, b"i");
        assert_eq!(RawHeaders::start_line(m), b"INVITE sip:a@b SIP/2.0");
    }

    #[test]
    fn via_scan_positions() {
        let v = b"SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;rport ;maddr=[::1]";
        let s = ViaScan::scan(v).unwrap();
        assert_eq!(s.transport, b"UDP");
        assert_eq!(s.host, b"192.0.2.1");
        assert_eq!(s.port, Some(5070));
        assert_eq!(s.branch, Some(&b"z9hG4bK1"[..]));
        assert_eq!(s.rport, Some(None));
        assert_eq!(
            &v[..s.rport_name_end],
            b"SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;rport"
        );
        assert_eq!(s.maddr, Some(&b"[::1]"[..]));
        assert_eq!(s.end, v.len());
        let s = ViaScan::scan(b"SIP / 2.0 / TCP [2001:db8::1]:5061").unwrap();
        assert_eq!(s.transport, b"TCP");
        assert_eq!(s.host_ip(), "2001:db8::1".parse().ok());
        assert!(ViaScan::scan(b"garbage").is_none());
        assert!(ViaScan::scan(b"SIP/2.0/UDP").is_none());
    }

    #[test]
    fn params_and_uris() {
        let v = b"\"A;tag=no\" <sip:a@b;tag=no>;x=1; tag = abc ;y";
        assert_eq!(header_param(v, b"tag"), Some(&b"abc"[..]));
        assert_eq!(first_element(b" a, b"), 1..2);
        assert_eq!(
            split_host_port(b"[::1]:5060"),
            (&b"[::1]"[..], Some(5060), true)
        );
        assert_eq!(split_host_port(b"h:99999"), (&b"h"[..], None, true));
        assert!(same_host(b"[::ffff:1.2.3.4]", b"1.2.3.4"));
        let mut o = Vec::new();
        push_u64(&mut o, 0);
        push_u64(&mut o, 18446744073709551615);
        push_hex(&mut o, 0xabc, 4);
        assert_eq!(o, b"0184467440737095516150abc");
        assert_eq!(&hex8(0x1234_5678_9abc_def0), b"9abcdef0");
        assert_eq!(fmt_u64(42, &mut [0; 20]), b"42");
        let mut o = Vec::new();
        push_ip(&mut o, "10.200.3.255".parse().unwrap(), true);
        push_ip(&mut o, "::ffff:1.2.3.4".parse().unwrap(), true);
        push_ip(&mut o, "::1".parse().unwrap(), true);
        assert_eq!(o, b"10.200.3.2551.2.3.4[::1]");
        let mut o = Vec::new();
        push_ip(&mut o, "0.9.10.99".parse().unwrap(), false);
        assert_eq!(o, b"0.9.10.99");
        assert_eq!(trim_str(" a\u{a0}"), "a");
        assert_eq!(trim_str("ab"), "ab");
        assert_eq!(trim_str(""), "");
    }

    #[test]
    fn ipv4_fast_path_matches_std() {
        for t in [
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.",
            "1.2.3.4.5",
            "1..3.4",
            "1.2.3.04",
            "1.2.3.4 ",
            "a.b.c.d",
            "1.2.3.1000",
            "10.0.0.255",
            "::1",
            "[::1]",
            "fe80::1",
            "example.com",
            "",
            "1.2.3.-4",
            "+1.2.3.4",
        ] {
            let std: Option<IpAddr> = t.parse().ok().or_else(|| {
                t.strip_prefix('[')
                    .and_then(|x| x.strip_suffix(']'))
                    .and_then(|x| x.parse().ok())
            });
            assert_eq!(parse_ip(t.as_bytes()), std, "{t}");
            assert_eq!(
                parse_ipv4(t.as_bytes()),
                t.parse::<std::net::Ipv4Addr>().ok(),
                "{t}"
            );
        }
    }
}
