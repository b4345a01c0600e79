//! Address headers (From, To, Contact, Route...) and CSeq (RFC 3261 §20.10, §20.16, §20.20,
//! §20.39, §25.1).
//!
//! ```text
//! from-spec    = ( name-addr / addr-spec ) *( SEMI from-param )
//! name-addr    = [ display-name ] LAQUOT addr-spec RAQUOT
//! display-name = *(token LWS)/ quoted-string
//! ```

use crate::chars::{
    eq_lower, is_lws, is_param_value, is_token, parse_u64, quoted_len, run_while, short_digits,
    skip_lws, trim_lws_str,
};
use crate::error::ParseError;
use crate::header::HeaderName;
use crate::method::Method;
use crate::uri::{find_param, Scheme, Uri};

/// A `name-addr` or `addr-spec` with its header parameters, borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAddr<'b> {
    /// The display name as written, quotes and escapes included (`"\"J Rosenberg \\\\\"\""`),
    /// or the unquoted token sequence; `None` if absent. This is what Kamailio's `$fn` shows.
    pub display: Option<&'b str>,
    /// The parsed URI.
    pub uri: Uri<'b>,
    /// The URI text (between `<` and `>` in the name-addr form).
    pub uri_raw: &'b str,
    /// The raw header parameters from the first `;` (`";tag=1;x=y"`), or empty. May contain
    /// LWS (RFC 4475 §3.1.1.1).
    pub params: &'b str,
    /// The `tag` parameter (RFC 3261 §19.3), `None` if absent.
    pub tag: Option<&'b str>,
}

impl<'b> NameAddr<'b> {
    /// Looks a header parameter up by name (case-insensitive): `None` if absent,
    /// `Some(None)` for a flag, `Some(Some(v))` for `name=v` (quoted values keep their quotes).
    pub fn param(&self, name: &str) -> Option<Option<&'b str>> {
        find_param(self.params, name)
    }
}

/// The CSeq header (RFC 3261 §20.16 `CSeq = "CSeq" HCOLON 1*DIGIT LWS Method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CSeq<'b> {
    /// The sequence number, below 2**31 (RFC 3261 §8.1.1.5).
    pub num: u32,
    /// The method.
    pub method: Method<'b>,
}

/// CSeq numbers "MUST be expressible as a 32-bit unsigned integer" and the initial value
/// "MUST be less than 2**31" (RFC 3261 §8.1.1.5); we enforce the stricter bound everywhere,
/// as RFC 4475 §3.1.2.4 invites.
const CSEQ_LIMIT: u64 = 1 << 31;

/// Parses a CSeq value such as `"4711 INVITE"` (RFC 3261 §20.16).
#[inline]
pub fn parse_cseq(s: &str) -> Result<CSeq<'_>, ParseError> {
    cseq_fast(s.as_bytes()).map_or_else(|| parse_cseq_general(s), Ok)
}

/// [`parse_cseq`] on the raw value; a value that is not UTF-8 is
/// [`ParseError::HeaderValue`]. The message parser uses it, so that a CSeq needs no UTF-8
/// check of its own line.
#[inline]
pub(crate) fn parse_cseq_bytes(b: &[u8]) -> Result<CSeq<'_>, ParseError> {
    match cseq_fast(b) {
        Some(c) => Ok(c),
        None => parse_cseq_general(
            std::str::from_utf8(b).map_err(|_| ParseError::HeaderValue(HeaderName::CSeq))?,
        ),
    }
}

/// The common shape of a CSeq value, 1 to 9 digits, one SP and the method, in one pass;
/// `None` for anything else (LWS elsewhere, longer numbers, errors), which
/// [`parse_cseq_general`] then parses or rejects.
#[inline(always)]
fn cseq_fast(b: &[u8]) -> Option<CSeq<'_>> {
    let (num, i) = match short_digits(b, 0) {
        Some(run) => run,
        None => {
            let mut num = 0u32;
            let mut i = 0;
            while let Some(&c) = b.get(i) {
                let d = c.wrapping_sub(b'0');
                if d > 9 || i == 9 {
                    break;
                }
                num = num * 10 + u32::from(d);
                i += 1;
            }
            (num, i)
        }
    };
    if i > 0 && b.get(i) == Some(&b' ') {
        if let Some(method) = b.get(i + 1..).and_then(Method::from_bytes) {
            return Some(CSeq { num, method });
        }
    }
    None
}

/// [`parse_cseq`] for any shape.
fn parse_cseq_general(s: &str) -> Result<CSeq<'_>, ParseError> {
    let s = trim_lws_str(s);
    let b = s.as_bytes();
    let digits = b
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(b.len());
    let num = parse_u64(b.get(..digits).unwrap_or_default())
        .filter(|&n| n < CSEQ_LIMIT)
        .ok_or(ParseError::BadCSeq)?;
    let m = skip_lws(b, digits);
    if m == digits {
        return Err(ParseError::BadCSeq);
    }
    let method = Method::from_bytes(b.get(m..).unwrap_or_default()).ok_or(ParseError::BadCSeq)?;
    Ok(CSeq {
        num: u32::try_from(num).map_err(|_| ParseError::BadCSeq)?,
        method,
    })
}

/// Parses exactly one `name-addr` or `addr-spec` with its parameters, as in a From, To or
/// single Contact/Route value.
#[inline]
pub fn parse_name_addr(s: &str) -> Result<NameAddr<'_>, ParseError> {
    let (na, next) = name_addr_at(s, 0)?;
    if skip_lws(s.as_bytes(), next) != s.len() {
        return Err(ParseError::BadNameAddr);
    }
    Ok(na)
}

/// Parses a comma-separated list of name-addr / addr-spec values (Contact, Route,
/// Record-Route...), calling `f` for each. An empty element is an error (RFC 4475 §3.1.2.1).
pub fn parse_name_addr_list<'b>(
    s: &'b str,
    mut f: impl FnMut(NameAddr<'b>) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let (na, next) = name_addr_at(s, i)?;
        f(na)?;
        i = skip_lws(b, next);
        match b.get(i) {
            None => return Ok(()),
            Some(b',') => i += 1,
            Some(_) => return Err(ParseError::BadNameAddr),
        }
    }
}

/// Parses one value starting at `i` (LWS allowed before it). Returns it and the index just
/// after its last byte.
#[inline]
fn name_addr_at(s: &str, i: usize) -> Result<(NameAddr<'_>, usize), ParseError> {
    let b = s.as_bytes();
    let sub = |r: std::ops::Range<usize>| s.get(r).ok_or(ParseError::BadNameAddr);
    let i = skip_lws(b, i);
    let (display, laquot) = match b.get(i) {
        None => return Err(ParseError::BadNameAddr),
        Some(b'"') => {
            let q =
                quoted_len(b.get(i..).unwrap_or_default()).ok_or(ParseError::UnterminatedQuote)?;
            let j = skip_lws(b, i + q);
            if b.get(j) != Some(&b'<') {
                return Err(ParseError::BadNameAddr);
            }
            (Some(sub(i..i + q)?), Some(j))
        }
        Some(b'<') => (None, Some(i)),
        Some(_) => {
            // `*(token LWS)` followed by `<` is a display name (LWS before `<` is optional in
            // practice, RFC 4475 §3.1.1.6); anything else is an addr-spec.
            let k = run_while(b, i, |c| is_token(c) || is_lws(c));
            if b.get(k) == Some(&b'<') {
                let d = trim_lws_str(sub(i..k)?);
                ((!d.is_empty()).then_some(d), Some(k))
            } else {
                (None, None)
            }
        }
    };
    let (uri_raw, uri, mut end) = match laquot {
        Some(l) => {
            let close = memchr::memchr(b'>', b.get(l..).unwrap_or_default())
                .ok_or(ParseError::BadNameAddr)?
                + l;
            let raw = sub(l + 1..close)?;
            (raw, Uri::parse(raw)?, close + 1)
        }
        None => {
            // addr-spec: the URI ends at `;` (its params are header params), `,` or LWS, and
            // may not contain `?` (RFC 3261 §20: such URIs need the name-addr form; RFC 4475
            // §3.1.2.13).
            let k = run_while(b, i, |c| !matches!(c, b';' | b',') && !is_lws(c));
            let raw = sub(i..k)?;
            let uri = Uri::parse(raw)?;
            if matches!(uri.scheme, Scheme::Sip | Scheme::Sips) && !uri.headers.is_empty() {
                return Err(ParseError::BadNameAddr);
            }
            (raw, uri, k)
        }
    };
    let mut params_start = None;
    let mut tag = None;
    loop {
        let j = skip_lws(b, end);
        if b.get(j) != Some(&b';') {
            break;
        }
        params_start.get_or_insert(j);
        let n = skip_lws(b, j + 1);
        let n_end = run_while(b, n, is_token);
        if n_end == n {
            return Err(ParseError::BadNameAddr);
        }
        end = n_end;
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
                return Err(ParseError::BadNameAddr);
            }
            if eq_lower(b.get(n..n_end).unwrap_or_default(), b"tag") {
                tag = Some(sub(v..v_end)?);
            }
            end = v_end;
        }
    }
    if b.get(end).is_some_and(|&c| !is_lws(c) && c != b',') {
        return Err(ParseError::BadNameAddr);
    }
    let params = match params_start {
        Some(p) => sub(p..end)?,
        None => "",
    };
    Ok((
        NameAddr {
            display,
            uri,
            uri_raw,
            params,
            tag,
        },
        end,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass CSeq path gives what the general path gives, or leaves the value to it.
    #[test]
    fn cseq_fast_path_agrees_with_general_path() {
        for v in [
            "314159 INVITE",
            "1 ACK",
            "0 BYE",
            "123456789 OPTIONS",
            "1234567890 INVITE",
            "2147483648 INVITE",
            "01 INVITE",
            "1 invite",
            "1  INVITE",
            "1\tINVITE",
            "1 INVITE ",
            "1 INV ITE",
            "1 X-Ext.Method",
            "1 IN<VITE",
            "1INVITE",
            " 1 INVITE",
            "1 ",
            "",
        ] {
            assert_eq!(parse_cseq(v), parse_cseq_general(v), "{v:?}");
            assert_eq!(
                parse_cseq_bytes(v.as_bytes()),
                parse_cseq_general(v),
                "{v:?}"
            );
        }
        assert_eq!(
            parse_cseq_bytes(b"1 INV\xffITE"),
            Err(ParseError::HeaderValue(HeaderName::CSeq))
        );
    }

    proptest::proptest! {
        #[test]
        fn cseq_fast_path_agrees_on_random_values(
            v in "[0-9]{0,11}[ \t]{0,2}[A-Za-z.!-]{0,8}[ ]?",
        ) {
            proptest::prop_assert_eq!(parse_cseq(&v), parse_cseq_general(&v));
        }
    }
}
