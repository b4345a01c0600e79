//! URIs: SIP, SIPS, tel and opaque absolute URIs (RFC 3261 §19.1, §25.1; RFC 3966).

use bumpalo::Bump;

use crate::chars::{
    is_host, is_uri, parse_port, run_in, uri_class, HOST, URI_AT, URI_COLON, URI_HOST, URI_INVALID,
    URI_PLAIN, URI_QUERY, URI_SEMI,
};
use crate::error::ParseError;

/// A URI scheme (RFC 3261 §19.1.1, RFC 3966 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:` (RFC 3261 §19.1).
    Sip,
    /// `sips:` (RFC 3261 §19.1).
    Sips,
    /// `tel:` (RFC 3966).
    Tel,
    /// Any other `absoluteURI` scheme (RFC 3261 §25.1, RFC 4475 §3.3.2); the caller answers
    /// 416 Unsupported URI Scheme where it needs to route on it.
    Other,
}

/// A parsed URI, every part a borrowed slice of the original text.
///
/// For `sip:`/`sips:` all fields are filled per RFC 3261 §19.1.1. For `tel:` the number is
/// in [`Uri::user`] (as Kamailio's `$rU` does), `host` is empty and `params` holds the
/// `;par` list. For other schemes only `raw` and `scheme` are meaningful.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uri<'b> {
    /// The scheme.
    pub scheme: Scheme,
    /// The user part, still %-escaped (RFC 3261 §19.1.1 `user`), `None` if absent.
    pub user: Option<&'b str>,
    /// The password part, still escaped (RFC 3261 §19.1.1, deprecated by §23.3).
    pub password: Option<&'b str>,
    /// The host: a hostname, IPv4 address or IPv6 reference *with* brackets (RFC 5118 §4.1).
    pub host: &'b str,
    /// The port, `None` if absent.
    pub port: Option<u16>,
    /// The raw `uri-parameters`, starting with `;` (e.g. `";transport=tcp;lr"`), or empty.
    pub params: &'b str,
    /// The raw `headers` after `?` (without the `?`), or empty.
    pub headers: &'b str,
    /// The whole URI text.
    pub raw: &'b str,
}

/// Parses a URI (RFC 3261 §25.1 `SIP-URI / SIPS-URI / absoluteURI`, RFC 3966 `telephone-uri`).
///
/// Free function form of [`Uri::parse`], used by the fuzz targets and routing.
pub fn parse_uri(s: &str) -> Result<Uri<'_>, ParseError> {
    Uri::parse(s)
}

impl<'b> Uri<'b> {
    /// Parses a URI. Rejects LWS, `<`, `>`, `"` and other characters outside RFC 3261 §25.1
    /// `reserved / unreserved / escaped` (RFC 4475 §3.1.2.7, §3.1.2.8), an empty host, a
    /// non-numeric or overlarge port, and an IPv6 address without brackets (RFC 5118 §4.2).
    ///
    /// ```text
    /// SIP-URI  = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
    /// userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
    /// hostport = host [ ":" port ]
    /// ```
    #[inline]
    pub fn parse(s: &'b str) -> Result<Self, ParseError> {
        let b = s.as_bytes();
        // Fast path for the common `sip:` (any case).
        if let Some([s0, s1, s2, b':']) = b.get(..4) {
            if (s0 | 0x20, s1 | 0x20, s2 | 0x20) == (b's', b'i', b'p') {
                let mut uri = Self {
                    scheme: Scheme::Sip,
                    user: None,
                    password: None,
                    host: "",
                    port: None,
                    params: "",
                    headers: "",
                    raw: s,
                };
                uri.parse_sip(s.get(4..).ok_or(ParseError::BadUri)?)?;
                return Ok(uri);
            }
        }
        // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
        if !b.first().is_some_and(u8::is_ascii_alphabetic) {
            return Err(ParseError::BadUri);
        }
        let mut colon = 1;
        while b
            .get(colon)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            colon += 1;
        }
        if b.get(colon) != Some(&b':') {
            return Err(ParseError::BadUri);
        }
        let lower = |c: &u8| c | 0x20;
        let scheme = match b.get(..colon).unwrap_or_default() {
            [x, y, z] if [x, y, z].map(lower) == *b"sip" => Scheme::Sip,
            [x, y, z] if [x, y, z].map(lower) == *b"tel" => Scheme::Tel,
            [w, x, y, z] if [w, x, y, z].map(lower) == *b"sips" => Scheme::Sips,
            _ => Scheme::Other,
        };
        let rest = s.get(colon + 1..).ok_or(ParseError::BadUri)?;
        let mut uri = Self {
            scheme,
            user: None,
            password: None,
            host: "",
            port: None,
            params: "",
            headers: "",
            raw: s,
        };
        match scheme {
            Scheme::Sip | Scheme::Sips => uri.parse_sip(rest)?,
            Scheme::Tel => {
                if !rest.bytes().all(is_uri) {
                    return Err(ParseError::BadUri);
                }
                // telephone-uri = "tel:" telephone-subscriber; its parameters follow `;`
                let (num, params) = split_at_byte(rest, b';');
                if num.is_empty() {
                    return Err(ParseError::BadUri);
                }
                uri.user = Some(num);
                uri.params = params;
            }
            Scheme::Other => {
                if rest.is_empty() || !rest.bytes().all(|c| is_uri(c) || c == b'#') {
                    return Err(ParseError::BadUri);
                }
            }
        }
        Ok(uri)
    }

    /// The SIP/SIPS part after `sip:`, in one pass that validates the characters and finds
    /// the delimiters.
    #[inline]
    fn parse_sip(&mut self, rest: &'b str) -> Result<(), ParseError> {
        let b = rest.as_bytes();
        // `@` can occur in neither params nor headers (RFC 3261 §25.1 `paramchar`, `hvalue`),
        // so the first `@` ends the userinfo even when the user holds `;` or `?` (RFC 4475
        // §3.1.1.2, §3.1.1.9). Delimiters seen before it belong to the userinfo.
        let (mut at, mut colon, mut semi, mut query) = (None, None, None, None);
        let mut empty_param = false;
        // The first byte after the userinfo that is not a host character: where the host
        // ends, so `split_hostport` need not scan it again.
        let mut nonhost = None;
        let mut k = 0;
        loop {
            // Skip host characters (most of a URI) four at a time; `HOST` is exactly the
            // `URI_HOST` class.
            k = run_in(b, k, &HOST);
            let Some(&c) = b.get(k) else {
                break;
            };
            // One table load classifies the byte.
            let class = uri_class(c);
            if class == URI_HOST {
                k += 1;
                continue;
            }
            if nonhost.is_none() {
                nonhost = Some(k);
            }
            match class {
                URI_PLAIN => {}
                URI_AT if at.is_none() => {
                    at = Some(k);
                    semi = None;
                    query = None;
                    empty_param = false;
                    nonhost = None;
                }
                URI_COLON if colon.is_none() && at.is_none() => colon = Some(k),
                URI_SEMI if query.is_none() => {
                    if semi.is_none() {
                        semi = Some(k);
                    }
                    // uri-parameters = *( ";" uri-parameter ): an empty parameter or name
                    // (`;;`, `;=`, a `;` before `?` or at the end) is malformed. Only the
                    // `;`s after the userinfo count, so `@` clears the flag.
                    if matches!(b.get(k + 1), None | Some(b';' | b'=' | b'?')) {
                        empty_param = true;
                    }
                }
                URI_QUERY if query.is_none() => query = Some(k),
                URI_INVALID => return Err(ParseError::BadUri),
                _ => {}
            }
            k += 1;
        }
        let host_start = match at {
            Some(at) => {
                let (user_end, password) = match colon.filter(|&c| c < at) {
                    Some(c) => (c, Some(rest.get(c + 1..at).ok_or(ParseError::BadUri)?)),
                    None => (at, None),
                };
                if user_end == 0 {
                    return Err(ParseError::BadUri);
                }
                self.user = Some(rest.get(..user_end).ok_or(ParseError::BadUri)?);
                self.password = password;
                at + 1
            }
            None => 0,
        };
        let end = query.unwrap_or(b.len());
        if let Some(q) = query {
            self.headers = rest.get(q + 1..).ok_or(ParseError::BadUri)?;
        }
        let host_end = semi.filter(|&p| p < end).unwrap_or(end);
        let hostport = rest.get(host_start..host_end).ok_or(ParseError::BadUri)?;
        let (host, port) = if hostport.starts_with('[') {
            split_hostport(hostport)
        } else {
            let host_len = nonhost.map_or(host_end, |n: usize| n.min(host_end)) - host_start;
            split_host_at(hostport, host_len)
        }
        .ok_or(ParseError::BadUri)?;
        self.host = host;
        self.port = port;
        if empty_param {
            return Err(ParseError::BadUri);
        }
        self.params = rest.get(host_end..end).ok_or(ParseError::BadUri)?;
        Ok(())
    }

    /// Looks a URI parameter up by name (case-insensitive, RFC 3261 §19.1.4): `None` if
    /// absent, `Some(None)` for a flag like `;lr`, `Some(Some(v))` for `;name=v`.
    pub fn param(&self, name: &str) -> Option<Option<&'b str>> {
        find_param(self.params, name)
    }

    /// The user part with %-escapes decoded (RFC 3261 §19.1.2, §19.1.4), `None` if the URI has
    /// no user. Borrowed when there is nothing to decode; otherwise decoded into `arena`.
    /// Escaped NULs are kept (RFC 4475 §3.1.1.4), and a `%` not followed by two hex digits is
    /// kept as is (RFC 4475 §3.1.1.5).
    pub fn user_unescaped<'a>(&self, arena: &'a Bump) -> Option<&'a [u8]>
    where
        'b: 'a,
    {
        let user = self.user?;
        Some(unescape(user.as_bytes(), arena))
    }
}

/// Decodes `%HH` escapes into the arena, borrowing when there are none.
pub(crate) fn unescape<'a>(s: &'a [u8], arena: &'a Bump) -> &'a [u8] {
    if memchr::memchr(b'%', s).is_none() {
        return s;
    }
    let mut out = bumpalo::collections::Vec::with_capacity_in(s.len(), arena);
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c == b'%' {
            let hi = s.get(i + 1).and_then(|&h| (h as char).to_digit(16));
            let lo = s.get(i + 2).and_then(|&l| (l as char).to_digit(16));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                // Two hex digits are at most 0xFF, so the cast is lossless.
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out.into_bump_slice()
}

/// Splits `s` at the first `sep`, the second half keeping the separator.
fn split_at_byte(s: &str, sep: u8) -> (&str, &str) {
    match memchr::memchr(sep, s.as_bytes()) {
        Some(i) => (s.get(..i).unwrap_or(s), s.get(i..).unwrap_or("")),
        None => (s, ""),
    }
}

/// Splits `host [ ":" port ]` (RFC 3261 §25.1 `hostport`), validating the host: a hostname /
/// IPv4 address of [`is_host`] characters, or an `IPv6reference` in brackets (hex digits,
/// `:` and `.` — tolerating the RFC 3261 ABNF three-colon bug, RFC 5118 §4.10).
pub(crate) fn split_hostport(s: &str) -> Option<(&str, Option<u16>)> {
    let b = s.as_bytes();
    let host_end = if b.first() == Some(&b'[') {
        let close = memchr::memchr(b']', b)?;
        let inner = b.get(1..close)?;
        if inner.is_empty()
            || !inner
                .iter()
                .all(|&c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
        {
            return None;
        }
        close + 1
    } else {
        let end = b.iter().position(|&c| !is_host(c)).unwrap_or(b.len());
        if end == 0 {
            return None;
        }
        end
    };
    let host = s.get(..host_end)?;
    let port = match b.get(host_end) {
        None => None,
        Some(b':') => Some(parse_port(b.get(host_end + 1..)?)?),
        Some(_) => return None,
    };
    Some((host, port))
}

/// [`split_hostport`] for a hostname / IPv4 `s` whose host characters (the [`is_host`] run)
/// are already known to be the first `host_end` bytes.
fn split_host_at(s: &str, host_end: usize) -> Option<(&str, Option<u16>)> {
    if host_end == 0 {
        return None;
    }
    let b = s.as_bytes();
    let host = s.get(..host_end)?;
    let port = match b.get(host_end) {
        None => None,
        Some(b':') => Some(parse_port(b.get(host_end + 1..)?)?),
        Some(_) => return None,
    };
    Some((host, port))
}

/// Finds `name` in a raw `;a=b;c` parameter list (case-insensitive name).
pub(crate) fn find_param<'b>(params: &'b str, name: &str) -> Option<Option<&'b str>> {
    params.split(';').skip(1).find_map(|p| {
        let (n, v) = match p.split_once('=') {
            Some((n, v)) => (n, Some(crate::chars::trim_lws_str(v))),
            None => (p, None),
        };
        crate::chars::trim_lws_str(n)
            .eq_ignore_ascii_case(name)
            .then_some(v)
    })
}
