//! The Via header (RFC 3261 §20.42, §18.2.1; RFC 3581 `rport`; RFC 5118 §4.5).
//!
//! ```text
//! Via               = ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm)
//! via-parm          = sent-protocol LWS sent-by *( SEMI via-params )
//! via-params        = via-ttl / via-maddr / via-received / via-branch / via-extension
//! sent-protocol     = protocol-name SLASH protocol-version SLASH transport
//! sent-by           = host [ COLON port ]
//! ```
//! `SLASH`, `COLON`, `SEMI`, `EQUAL` and `COMMA` all allow LWS around them (RFC 3261 §25.1),
//! which RFC 4475 §3.1.1.1 exercises.

use std::ops::Range;

use crate::chars::{
    eq_lower, is_host, is_lws, is_param_value, is_token, lower_at, parse_port, parse_u64, port_at,
    quoted_len, run_in, run_while, skip_lws, HOST, PARAM_VALUE, TOKEN,
};
use crate::error::ParseError;
use crate::proto::Proto;

/// One Via value (a `via-parm`), borrowed from the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via<'b> {
    /// The transport if it is one we know; `None` for another token (RFC 4475 §3.1.1.10).
    pub proto: Option<Proto>,
    /// The transport token as written (`UDP`, `TCP`, `UNKNOWN`...).
    pub transport: &'b str,
    /// The sent-by host; an IPv6 reference keeps its brackets (RFC 5118 §4.1).
    pub host: &'b str,
    /// The sent-by port, `None` if absent.
    pub port: Option<u16>,
    /// The `branch` parameter (RFC 3261 §8.1.1.7), `None` if absent.
    pub branch: Option<&'b str>,
    /// The `received` parameter (RFC 3261 §18.2.1), with or without IPv6 brackets (RFC 5118
    /// §4.5).
    pub received: Option<&'b str>,
    /// The `rport` parameter (RFC 3581 §3): `Some(None)` for a bare `;rport`.
    pub rport: Option<Option<u16>>,
    /// The `maddr` parameter (RFC 3261 §18.2.1).
    pub maddr: Option<&'b str>,
    /// The `ttl` parameter (RFC 3261 §20.42, `ttl = 1*3DIGIT ; 0 to 255`).
    pub ttl: Option<u8>,
    /// All parameters as written, from the first `;` (empty if none). May contain LWS.
    pub params: &'b str,
    /// This value's bytes in the message buffer (or in the parsed string for [`parse_via`]),
    /// from the protocol name to the last parameter, without the separating comma.
    pub span: Range<usize>,
    /// Index of the header line holding this value in [`crate::Message::headers`].
    pub header_index: usize,
}

impl<'b> Via<'b> {
    /// A placeholder to parse into.
    pub(crate) const fn empty(header_index: usize) -> Self {
        Self {
            proto: None,
            transport: "",
            host: "",
            port: None,
            branch: None,
            received: None,
            rport: None,
            maddr: None,
            ttl: None,
            params: "",
            span: 0..0,
            header_index,
        }
    }

    /// A Via with its sent-protocol and sent-by and no parameters yet.
    fn bare(transport: &'b str, host: &'b str, port: Option<u16>, header_index: usize) -> Self {
        Self {
            proto: Proto::from_name(transport.as_bytes()),
            transport,
            host,
            port,
            ..Self::empty(header_index)
        }
    }
}

/// Parses exactly one Via value (`via-parm`), e.g. `SIP/2.0/UDP host:5060;branch=z9hG4bK1`.
/// The span is relative to `s` and `header_index` is 0.
pub fn parse_via(s: &str) -> Result<Via<'_>, ParseError> {
    let start = skip_lws(s.as_bytes(), 0);
    let mut via = Via::empty(0);
    let next = via_parm(s, start, 0, 0, &mut via)?;
    if skip_lws(s.as_bytes(), next) != s.len() {
        return Err(ParseError::BadVia);
    }
    Ok(via)
}

/// Parses a whole Via header value (`via-parm *(COMMA via-parm)`), calling `f` for each
/// value. `base` is the offset of `s` in the message buffer, for [`Via::span`].
pub(crate) fn parse_via_list<'b>(
    s: &'b str,
    base: usize,
    header_index: usize,
    mut f: impl FnMut(Via<'b>) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let b = s.as_bytes();
    let mut i = skip_lws(b, 0);
    loop {
        let mut via = Via::empty(header_index);
        let next = via_parm(s, i, base, header_index, &mut via)?;
        f(via)?;
        i = skip_lws(b, next);
        match b.get(i) {
            None => return Ok(()),
            Some(b',') => i = skip_lws(b, i + 1),
            Some(_) => return Err(ParseError::BadVia),
        }
    }
}

/// Parses the first value of a Via header value (`via-parm *(COMMA via-parm)`) into `via`
/// (which must come in as [`Via::empty`]):
/// the topmost Via of a response, whose other values are parsed later
/// ([`crate::Message::vias`]). Returns, when a comma follows it, the index in `s` just after
/// that comma. Anything but the end of `s` or a comma after the first value (after LWS) is
/// [`ParseError::BadVia`], as in [`parse_via_list`].
#[inline]
pub(crate) fn parse_via_first<'b>(
    s: &'b str,
    base: usize,
    header_index: usize,
    via: &mut Via<'b>,
) -> Result<Option<usize>, ParseError> {
    let b = s.as_bytes();
    let next = via_parm(s, skip_lws(b, 0), base, header_index, via)?;
    match b.get(next) {
        None => Ok(None),
        Some(_) => {
            let i = skip_lws(b, next);
            match b.get(i) {
                None => Ok(None),
                Some(b',') => Ok(Some(i + 1)),
                Some(_) => Err(ParseError::BadVia),
            }
        }
    }
}

/// Index just past the token run starting at `i`.
fn token_end(b: &[u8], i: usize) -> usize {
    run_while(b, i, is_token)
}

/// Expects `sep` after optional LWS, returns the index after it and the following LWS.
fn expect_sep(b: &[u8], i: usize, sep: u8) -> Result<usize, ParseError> {
    let i = skip_lws(b, i);
    if b.get(i) != Some(&sep) {
        return Err(ParseError::BadVia);
    }
    Ok(skip_lws(b, i + 1))
}

/// Parses one `via-parm` at `i` (no leading LWS) into `via`, which must come in as
/// [`Via::empty`]. Returns the index after its last byte (before any trailing LWS or comma).
#[inline]
fn via_parm<'b>(
    s: &'b str,
    i: usize,
    base: usize,
    header_index: usize,
    via: &mut Via<'b>,
) -> Result<usize, ParseError> {
    if s.as_bytes()
        .get(i..i + 8)
        .is_some_and(|p| eq_lower(p, b"sip/2.0/"))
    {
        if let Some(end) = via_parm_compact(s, i + 8, i, base, header_index, via) {
            return Ok(end);
        }
    }
    via_parm_general(s, i, base, header_index, via)
}

/// [`via_parm`] for any shape: LWS around every separator, any protocol name and version,
/// IPv6 sent-by, quoted parameter values.
fn via_parm_general<'b>(
    s: &'b str,
    i: usize,
    base: usize,
    header_index: usize,
    out: &mut Via<'b>,
) -> Result<usize, ParseError> {
    let b = s.as_bytes();
    let sub = |r: Range<usize>| s.get(r).ok_or(ParseError::BadVia);
    let start = i;
    // sent-protocol; `SIP/2.0/` without LWS is the common case and needs no token scans.
    let i = if b.get(i..i + 8).is_some_and(|p| eq_lower(p, b"sip/2.0/")) {
        skip_lws(b, i + 8)
    } else {
        let name_end = token_end(b, i);
        if name_end == i {
            return Err(ParseError::BadVia);
        }
        let i = expect_sep(b, name_end, b'/')?;
        let ver_end = token_end(b, i);
        if ver_end == i {
            return Err(ParseError::BadVia);
        }
        expect_sep(b, ver_end, b'/')?
    };
    let tr_end = token_end(b, i);
    if tr_end == i {
        return Err(ParseError::BadVia);
    }
    let transport = sub(i..tr_end)?;
    // LWS sent-by
    let i = skip_lws(b, tr_end);
    if i == tr_end {
        return Err(ParseError::BadVia);
    }
    // host = hostname / IPv4address / IPv6reference (RFC 3261 §25.1, RFC 5118 §4.10)
    let host_end = if b.get(i) == Some(&b'[') {
        let inner_end = run_while(b, i + 1, |c| {
            c.is_ascii_hexdigit() || c == b':' || c == b'.'
        });
        if inner_end == i + 1 || b.get(inner_end) != Some(&b']') {
            return Err(ParseError::BadVia);
        }
        inner_end + 1
    } else {
        run_while(b, i, is_host)
    };
    if host_end == i {
        return Err(ParseError::BadVia);
    }
    let host = sub(i..host_end)?;
    let mut end = host_end;
    let mut port = None;
    let j = skip_lws(b, end);
    if b.get(j) == Some(&b':') {
        let p = skip_lws(b, j + 1);
        let q = run_while(b, p, |c| c.is_ascii_digit());
        port = Some(parse_port(b.get(p..q).unwrap_or_default()).ok_or(ParseError::BadVia)?);
        end = q;
    }
    let mut via = Via::bare(transport, host, port, header_index);
    let mut params_start = None;
    // *( SEMI via-params ), via-extension = generic-param = token [ EQUAL gen-value ]
    loop {
        let j = skip_lws(b, end);
        if b.get(j) != Some(&b';') {
            break;
        }
        params_start.get_or_insert(j);
        let n = skip_lws(b, j + 1);
        let n_end = token_end(b, n);
        if n_end == n {
            return Err(ParseError::BadVia);
        }
        // Names and values are ASCII runs, so they are only cut as `&str` when kept.
        let pname = b.get(n..n_end).unwrap_or_default();
        end = n_end;
        let mut value = None;
        let e = skip_lws(b, n_end);
        if b.get(e) == Some(&b'=') {
            let v = skip_lws(b, e + 1);
            let v_end = if b.get(v) == Some(&b'"') {
                v + quoted_len(b.get(v..).unwrap_or_default())
                    .ok_or(ParseError::UnterminatedQuote)?
            } else {
                run_while(b, v, is_param_value)
            };
            if v_end == v {
                return Err(ParseError::BadVia);
            }
            value = Some(v..v_end);
            end = v_end;
        }
        apply_param(&mut via, s, pname, value)?;
    }
    if b.get(end)
        .is_some_and(|&c| !is_lws(c) && c != b',' && c != b';')
    {
        return Err(ParseError::BadVia);
    }
    if let Some(ps) = params_start {
        via.params = sub(ps..end)?;
    }
    via.span = base + start..base + end;
    *out = via;
    Ok(end)
}

/// The common shape of a `via-parm` after `SIP/2.0/`, with no LWS but the single SP
/// before sent-by and no quoted or IPv6 values: `UDP host:port;branch=z9hG4bK1;rport`.
///
/// `via` must come in as [`Via::empty`]; only the parts found are written.
///
/// Each part is scanned once and the separators are checked in place, without the
/// `skip_lws` calls between them. Returns `None` on anything else (LWS, `[`, `"`, an error),
/// and [`via_parm`] then parses the value from the start: this path only accepts values the
/// general one accepts, and builds the same [`Via`] for them.
#[inline]
fn via_parm_compact<'b>(
    s: &'b str,
    i: usize,
    start: usize,
    base: usize,
    header_index: usize,
    via: &mut Via<'b>,
) -> Option<usize> {
    let b = s.as_bytes();
    // The usual transports in upper case: no token scan and no name dispatch.
    let (proto, transport, h) = match b.get(i..i + 4) {
        Some(b"UDP ") => (Some(Proto::Udp), "UDP", i + 4),
        Some(b"TCP ") => (Some(Proto::Tcp), "TCP", i + 4),
        Some(b"TLS ") => (Some(Proto::Tls), "TLS", i + 4),
        _ => {
            let tr_end = run_in(b, i, &TOKEN);
            if tr_end == i || b.get(tr_end) != Some(&b' ') {
                return None;
            }
            let transport = s.get(i..tr_end)?;
            (
                Proto::from_name(transport.as_bytes()),
                transport,
                tr_end + 1,
            )
        }
    };
    let host_end = run_in(b, h, &HOST);
    if host_end == h {
        return None;
    }
    let mut end = host_end;
    let mut port = None;
    if b.get(end) == Some(&b':') {
        let (p, q) = port_at(b, end + 1)?;
        port = Some(p);
        end = q;
    }
    // `via` comes in as `Via::empty(header_index)`: only the parts found are written.
    via.proto = proto;
    via.transport = transport;
    via.host = s.get(h..host_end)?;
    via.port = port;
    via.header_index = header_index;
    let params_start = end;
    while b.get(end) == Some(&b';') {
        let n = end + 1;
        // `branch`, `received` and `rport` are in nearly every Via: one word compare each
        // instead of a token scan and the name dispatch of `apply_param`. Each ends the name
        // at a byte that is not a `token` character, so it is the token the general path
        // would scan, and the value is the same `is_param_value` run.
        if let Some((field, v)) = if lower_at(b, n, b"branch=") {
            Some((&mut via.branch, n + 7))
        } else if lower_at(b, n, b"received") && b.get(n + 8) == Some(&b'=') {
            Some((&mut via.received, n + 9))
        } else {
            None
        } {
            let v_end = run_in(b, v, &PARAM_VALUE);
            if v_end == v {
                return None;
            }
            *field = Some(s.get(v..v_end)?);
            end = v_end;
            continue;
        }
        if lower_at(b, n, b"rport") {
            match b.get(n + 5) {
                Some(b'=') => {
                    // The value is the `is_param_value` run, which must be all digits.
                    let (port, v_end) = port_at(b, n + 6)?;
                    if b.get(v_end).is_some_and(|&c| is_param_value(c)) {
                        return None;
                    }
                    via.rport = Some(Some(port));
                    end = v_end;
                    continue;
                }
                Some(&c) if is_token(c) => {}
                _ => {
                    via.rport = Some(None);
                    end = n + 5;
                    continue;
                }
            }
        }
        let n_end = run_in(b, n, &TOKEN);
        if n_end == n {
            return None;
        }
        let pname = b.get(n..n_end)?;
        end = n_end;
        let mut value = None;
        if b.get(n_end) == Some(&b'=') {
            let v = n_end + 1;
            let v_end = run_in(b, v, &PARAM_VALUE);
            if v_end == v {
                return None;
            }
            value = Some(v..v_end);
            end = v_end;
        }
        apply_param(via, s, pname, value).ok()?;
    }
    if !matches!(b.get(end), None | Some(b',')) {
        return None;
    }
    if end > params_start {
        via.params = s.get(params_start..end)?;
    }
    via.span = base + start..base + end;
    Some(end)
}

/// Records the well-known Via parameters (RFC 3261 §20.42, RFC 3581 §3).
#[inline]
fn apply_param<'b>(
    via: &mut Via<'b>,
    s: &'b str,
    n: &[u8],
    value: Option<Range<usize>>,
) -> Result<(), ParseError> {
    let value = || {
        value
            .clone()
            .and_then(|r| s.get(r))
            .ok_or(ParseError::BadVia)
    };
    // Dispatch on length first: most parameters are compared against one name at most.
    match n.len() {
        6 if eq_lower(n, b"branch") => via.branch = Some(value()?),
        8 if eq_lower(n, b"received") => via.received = Some(value()?),
        5 if eq_lower(n, b"rport") => {
            via.rport = Some(match value() {
                Err(_) => None,
                Ok(v) => Some(parse_port(v.as_bytes()).ok_or(ParseError::BadVia)?),
            });
        }
        5 if eq_lower(n, b"maddr") => via.maddr = Some(value()?),
        3 if eq_lower(n, b"ttl") => {
            let v = value()
                .ok()
                .and_then(|v| parse_u64(v.as_bytes()))
                .ok_or(ParseError::BadVia)?;
            via.ttl = Some(u8::try_from(v).map_err(|_| ParseError::BadVia)?);
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compact path builds exactly what the general path builds, and declines whatever
    /// it does not handle.
    #[test]
    fn compact_path_agrees_with_general_path() {
        let taken = [
            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport",
            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK7;rport=5060;received=192.0.2.10",
            "sip/2.0/tcp host.example.com;BRANCH=z9hG4bKx;maddr=10.0.0.1;ttl=16",
            "SIP/2.0/UNKNOWN h_1;x;y=z",
            "SIP/2.0/TLS h:5061,SIP/2.0/UDP h2",
            "SIP/2.0/UDP h",
            "SIP/2.0/UDP h;rport=5060;branch=a;BRANCH=b;Received=1.2.3.4;received=[::1]",
            "SIP/2.0/UDP h;rportx;branchx=1;receivedx=2;rport",
            "SIP/2.0/UDP h;rport;x=1,SIP/2.0/UDP h2",
            "SIP/2.0/UDP h;branch=z9hG4bK.1;rport=0",
            "SIP/2.0/TCP h:0;branch=x",
            "SIP/2.0/TLS h:65535",
            "SIP/2.0/UDPX h",
            "SIP/2.0/udp h",
            "SIP/2.0/SCTP h:00005060",
        ];
        for v in taken {
            let (mut fast, mut general) = (Via::empty(0), Via::empty(0));
            let end = via_parm_compact(v, 8, 0, 7, 3, &mut fast).unwrap_or_else(|| panic!("{v:?}"));
            assert_eq!(Ok(end), via_parm_general(v, 0, 7, 3, &mut general), "{v:?}");
            assert_eq!(fast, general, "{v:?}");
        }
        let declined = [
            "SIP/2.0/UDP  h",
            "SIP/2.0/UDP [::1]:5060",
            "SIP/2.0/UDP h ;branch=x",
            "SIP/2.0/UDP h:;branch=x",
            "SIP/2.0/UDP h:70000",
            "SIP/2.0/UDP h:65536",
            "SIP/2.0/UDP h:99999999999999999999",
            "SIP/2.0/UDP h;x=\"q\"",
            "SIP/2.0/UDP h;rport=x",
            "SIP/2.0/UDP h;ttl=300",
            "SIP/2.0/UDP h;;x",
            "SIP/2.0/UDP h;x= y",
            "SIP/2.0/UDP h x",
            "SIP/2.0/UDP h\r\n ;x",
            "SIP/2.0/ UDP h",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP h;branch=",
            "SIP/2.0/UDP h;branch=;x",
            "SIP/2.0/UDP h;received=\"x\"",
            "SIP/2.0/UDP h;rport=",
            "SIP/2.0/UDP h;rport=70000",
            "SIP/2.0/UDP h;rport=5x",
            "SIP/2.0/UDP h;branch=a b",
        ];
        for v in declined {
            let mut via = Via::empty(0);
            assert_eq!(via_parm_compact(v, 8, 0, 7, 3, &mut via), None, "{v:?}");
        }
    }
}
