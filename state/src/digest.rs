//! Digest access authentication, server side, sans-IO (RFC 2617 §3.2, RFC 7616 §3.3-3.5 with
//! the MD5 and MD5-sess algorithms, `qop=auth` and `auth-int`, as SIP uses it: RFC 3261 §22.4).
//!
//! - [`parse_credentials`] reads the value of an `Authorization` / `Proxy-Authorization`
//!   header (RFC 7616 §3.4 / RFC 2617 §3.2.2 grammar: `auth-param`s of tokens and quoted
//!   strings with quoted-pairs, line folds, empty list elements);
//! - [`NonceKey`] makes and checks stateless nonces, as Kamailio's auth module does: a nonce
//!   carries its expiry time and the time it was made, authenticated with a keyed hash
//!   (HMAC-MD5, RFC 2104) under a per-process secret, so a proxy keeps no per-challenge state
//!   and a nonce can neither be forged nor have its lifetime extended;
//! - [`compute_ha1`], [`compute_response`] and [`verify_response`] compute the request-digest
//!   of RFC 2617 §3.2.2.1 (RFC 7616 §3.4.1);
//! - [`write_challenge`] writes the `WWW-Authenticate` / `Proxy-Authenticate` header line of
//!   a 401/407 (RFC 3261 §22.1, §22.3; RFC 7616 §3.3).
//!
//! Nothing here reads a clock: `now` (Unix seconds) is an argument. Nothing panics on input:
//! malformed credentials are a [`CredError`].

use std::borrow::Cow;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

/// Length of an MD5 digest in lowercase hex (`32LHEX`, RFC 2617 §3.2.2 `request-digest`).
pub const DIGEST_HEX_LEN: usize = 32;

/// Length of the nonces [`NonceKey::make`] writes: 8 hex digits of expiry, 8 of issue time,
/// 32 of HMAC-MD5.
pub const NONCE_LEN: usize = 48;

/// The `algorithm` of a digest (RFC 2617 §3.2.1, RFC 7616 §3.3). Absent means MD5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// `MD5`: A1 = `username:realm:password`.
    Md5,
    /// `MD5-sess`: A1 = `H(username:realm:password):nonce:cnonce`.
    Md5Sess,
}

impl Algorithm {
    /// The token as written in the header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
        }
    }
}

/// The quality of protection (RFC 2617 §3.2.1 `qop-options`, RFC 7616 §3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qop {
    /// `auth`: authentication only.
    Auth,
    /// `auth-int`: authentication with integrity of the message body.
    AuthInt,
}

impl Qop {
    /// The token as written in the header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
        }
    }
}

/// Digest credentials from an `Authorization` / `Proxy-Authorization` header (RFC 2617
/// §3.2.2, RFC 7616 §3.4). Quoted strings are unquoted (quoted-pairs resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// `username` (may be `user@domain`).
    pub username: Cow<'a, str>,
    /// `realm`.
    pub realm: Cow<'a, str>,
    /// `nonce`, as received from our challenge.
    pub nonce: Cow<'a, str>,
    /// `uri` (the `digest-uri`).
    pub uri: Cow<'a, str>,
    /// `response`: 32 hex digits.
    pub response: Cow<'a, str>,
    /// `algorithm`; `None` when absent (MD5).
    pub algorithm: Option<Algorithm>,
    /// `cnonce`.
    pub cnonce: Option<Cow<'a, str>>,
    /// `opaque`.
    pub opaque: Option<Cow<'a, str>>,
    /// `qop`; `None` for an RFC 2069-style response.
    pub qop: Option<Qop>,
    /// `nc`: 8 hex digits.
    pub nc: Option<Cow<'a, str>>,
}

impl Credentials<'_> {
    /// The user part of `username` (before the first `@`), Kamailio's `$au`.
    pub fn user(&self) -> &str {
        self.username
            .split_once('@')
            .map_or(&*self.username, |(u, _)| u)
    }

    /// The domain part of `username` (after the first `@`), Kamailio's `$ad`.
    pub fn user_domain(&self) -> Option<&str> {
        self.username.split_once('@').map(|(_, d)| d)
    }

    /// The effective algorithm (MD5 when absent, RFC 2617 §3.2.1).
    pub fn alg(&self) -> Algorithm {
        self.algorithm.unwrap_or(Algorithm::Md5)
    }
}

/// Why credentials could not be used (RFC 2617 §3.2.2 requirements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredError {
    /// The scheme is not `Digest` (e.g. `Basic`): not credentials for us.
    NotDigest,
    /// The text does not follow the `auth-param` grammar.
    Syntax,
    /// A required parameter is missing.
    Missing(&'static str),
    /// A parameter appears twice (RFC 7616 §3.4: each at most once).
    Duplicate,
    /// `response` is not 32 hex digits.
    BadResponse,
    /// `nc` is not 8 hex digits.
    BadNonceCount,
    /// `algorithm` is not MD5 or MD5-sess.
    UnsupportedAlgorithm,
    /// `qop` is not `auth` or `auth-int`.
    UnsupportedQop,
    /// `userhash=true` (RFC 7616 §3.4.4) is not supported.
    UnsupportedUserhash,
}

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// RFC 3261 §25.1 `token` characters.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn skip_lws(s: &[u8], mut i: usize) -> usize {
    while s.get(i).copied().is_some_and(is_lws) {
        i += 1;
    }
    i
}

/// Reads a quoted string starting at the `"` at `i`; returns its contents (quoted-pairs
/// resolved, line folds dropped) and the index after the closing quote.
fn quoted(v: &str, i: usize) -> Result<(Cow<'_, str>, usize), CredError> {
    let s = v.as_bytes();
    let start = i + 1;
    let mut j = start;
    let mut plain = true;
    loop {
        match s.get(j) {
            None => return Err(CredError::Syntax),
            Some(b'"') => break,
            Some(b'\\') => {
                plain = false;
                // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F): not CR or LF.
                match s.get(j + 1) {
                    Some(b'\r' | b'\n') | None => return Err(CredError::Syntax),
                    Some(_) => j += 2,
                }
            }
            Some(b'\r' | b'\n') => {
                plain = false;
                j += 1;
            }
            Some(_) => j += 1,
        }
    }
    let raw = v.get(start..j).ok_or(CredError::Syntax)?;
    if plain {
        return Ok((Cow::Borrowed(raw), j + 1));
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '\r' | '\n' => {}
            c => out.push(c),
        }
    }
    Ok((Cow::Owned(out), j + 1))
}

fn is_hex_len(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parses the value of an `Authorization` / `Proxy-Authorization` header (RFC 7616 §3.4,
/// RFC 2617 §3.2.2): `Digest` followed by comma-separated `name=token` or
/// `name="quoted string"` parameters. Unknown parameters are ignored. Checks what RFC 2617
/// requires: `username`, `realm`, `nonce`, `uri` and `response` present, `response` of 32
/// hex digits, `cnonce` and an 8-hex-digit `nc` with `qop` (and `cnonce` with MD5-sess).
pub fn parse_credentials(value: &[u8]) -> Result<Credentials<'_>, CredError> {
    let v = std::str::from_utf8(value).map_err(|_| CredError::Syntax)?;
    let s = v.as_bytes();
    let mut i = skip_lws(s, 0);
    let scheme_start = i;
    while s.get(i).copied().is_some_and(is_token) {
        i += 1;
    }
    let scheme = v.get(scheme_start..i).ok_or(CredError::Syntax)?;
    if scheme.is_empty() {
        return Err(CredError::Syntax);
    }
    if !scheme.eq_ignore_ascii_case("digest") {
        return Err(CredError::NotDigest);
    }
    if i < s.len() && !is_lws(s[i]) {
        return Err(CredError::Syntax);
    }
    let mut username = None;
    let mut realm = None;
    let mut nonce = None;
    let mut uri = None;
    let mut response = None;
    let mut algorithm = None;
    let mut cnonce = None;
    let mut opaque = None;
    let mut qop = None;
    let mut nc = None;
    let mut userhash = None;
    loop {
        i = skip_lws(s, i);
        if i >= s.len() {
            break;
        }
        if s[i] == b',' {
            i += 1;
            continue;
        }
        let ns = i;
        while s.get(i).copied().is_some_and(is_token) {
            i += 1;
        }
        let name = v.get(ns..i).ok_or(CredError::Syntax)?;
        if name.is_empty() {
            return Err(CredError::Syntax);
        }
        i = skip_lws(s, i);
        if s.get(i) != Some(&b'=') {
            return Err(CredError::Syntax);
        }
        i = skip_lws(s, i + 1);
        let val = if s.get(i) == Some(&b'"') {
            let (q, next) = quoted(v, i)?;
            i = next;
            q
        } else {
            let vs = i;
            while s
                .get(i)
                .is_some_and(|&b| b > b' ' && b != b',' && b != b'"' && b != 0x7f)
            {
                i += 1;
            }
            let t = v.get(vs..i).ok_or(CredError::Syntax)?;
            if t.is_empty() {
                return Err(CredError::Syntax);
            }
            Cow::Borrowed(t)
        };
        i = skip_lws(s, i);
        if i < s.len() && s[i] != b',' {
            return Err(CredError::Syntax);
        }
        let slot = match name.to_ascii_lowercase().as_str() {
            "username" => &mut username,
            "realm" => &mut realm,
            "nonce" => &mut nonce,
            "uri" => &mut uri,
            "response" => &mut response,
            "algorithm" => &mut algorithm,
            "cnonce" => &mut cnonce,
            "opaque" => &mut opaque,
            "qop" => &mut qop,
            "nc" => &mut nc,
            "userhash" => &mut userhash,
            _ => continue,
        };
        if slot.is_some() {
            return Err(CredError::Duplicate);
        }
        *slot = Some(val);
    }
    let username = username.ok_or(CredError::Missing("username"))?;
    let realm = realm.ok_or(CredError::Missing("realm"))?;
    let nonce = nonce.ok_or(CredError::Missing("nonce"))?;
    let uri = uri.ok_or(CredError::Missing("uri"))?;
    let response = response.ok_or(CredError::Missing("response"))?;
    if !is_hex_len(&response, DIGEST_HEX_LEN) {
        return Err(CredError::BadResponse);
    }
    if userhash.is_some_and(|u| u.eq_ignore_ascii_case("true")) {
        return Err(CredError::UnsupportedUserhash);
    }
    let algorithm = match algorithm {
        None => None,
        Some(a) if a.eq_ignore_ascii_case("md5") => Some(Algorithm::Md5),
        Some(a) if a.eq_ignore_ascii_case("md5-sess") => Some(Algorithm::Md5Sess),
        Some(_) => return Err(CredError::UnsupportedAlgorithm),
    };
    let qop = match qop {
        None => None,
        Some(q) if q.eq_ignore_ascii_case("auth") => Some(Qop::Auth),
        Some(q) if q.eq_ignore_ascii_case("auth-int") => Some(Qop::AuthInt),
        Some(_) => return Err(CredError::UnsupportedQop),
    };
    if qop.is_some() {
        if cnonce.is_none() {
            return Err(CredError::Missing("cnonce"));
        }
        match &nc {
            None => return Err(CredError::Missing("nc")),
            Some(n) if !is_hex_len(n, 8) => return Err(CredError::BadNonceCount),
            Some(_) => {}
        }
    }
    if algorithm == Some(Algorithm::Md5Sess) && cnonce.is_none() {
        return Err(CredError::Missing("cnonce"));
    }
    Ok(Credentials {
        username,
        realm,
        nonce,
        uri,
        response,
        algorithm,
        cnonce,
        opaque,
        qop,
        nc,
    })
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (i, b) in bytes.iter().enumerate() {
        if 2 * i + 1 < out.len() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
    }
}

fn md5_hex(parts: &[&[u8]]) -> [u8; DIGEST_HEX_LEN] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; DIGEST_HEX_LEN];
    hex_into(&h.finalize(), &mut out);
    out
}

/// Compares two byte strings in time independent of where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HA1 = `H(username ":" realm ":" password)` in lowercase hex (RFC 2617 §3.2.2.2, MD5).
pub fn compute_ha1(username: &str, realm: &str, password: &str) -> [u8; DIGEST_HEX_LEN] {
    md5_hex(&[
        username.as_bytes(),
        b":",
        realm.as_bytes(),
        b":",
        password.as_bytes(),
    ])
}

/// The request-digest a client must send (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1), from the
/// stored HA1 (32 hex digits, any case), the credentials, the request method and (for
/// `qop=auth-int`) the message body. MD5-sess derives the session HA1 first (§3.2.2.2).
pub fn compute_response(
    ha1: &[u8],
    c: &Credentials<'_>,
    method: &str,
    body: &[u8],
) -> [u8; DIGEST_HEX_LEN] {
    let mut h1 = [0u8; DIGEST_HEX_LEN];
    let n = ha1.len().min(DIGEST_HEX_LEN);
    h1[..n].copy_from_slice(&ha1[..n]);
    h1.make_ascii_lowercase();
    let ha1: &[u8] = if ha1.len() == DIGEST_HEX_LEN {
        &h1
    } else {
        // Not an MD5 HA1: it can never match, but the response is still computed.
        ha1
    };
    let cnonce = c.cnonce.as_deref().unwrap_or("");
    let sess;
    let ha1 = if c.alg() == Algorithm::Md5Sess {
        sess = md5_hex(&[ha1, b":", c.nonce.as_bytes(), b":", cnonce.as_bytes()]);
        &sess[..]
    } else {
        ha1
    };
    let ha2 = match c.qop {
        Some(Qop::AuthInt) => {
            let hb = md5_hex(&[body]);
            md5_hex(&[method.as_bytes(), b":", c.uri.as_bytes(), b":", &hb])
        }
        _ => md5_hex(&[method.as_bytes(), b":", c.uri.as_bytes()]),
    };
    match c.qop {
        Some(q) => md5_hex(&[
            ha1,
            b":",
            c.nonce.as_bytes(),
            b":",
            c.nc.as_deref().unwrap_or("").as_bytes(),
            b":",
            cnonce.as_bytes(),
            b":",
            q.as_str().as_bytes(),
            b":",
            &ha2,
        ]),
        None => md5_hex(&[ha1, b":", c.nonce.as_bytes(), b":", &ha2]),
    }
}

/// Whether the credentials' `response` is the one [`compute_response`] expects (compared
/// case-insensitively, in constant time).
pub fn verify_response(ha1: &[u8], c: &Credentials<'_>, method: &str, body: &[u8]) -> bool {
    let want = compute_response(ha1, c, method, body);
    let mut got = [0u8; DIGEST_HEX_LEN];
    let r = c.response.as_bytes();
    if r.len() != DIGEST_HEX_LEN {
        return false;
    }
    got.copy_from_slice(r);
    got.make_ascii_lowercase();
    ct_eq(&want, &got)
}

/// What [`NonceKey::check`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceCheck {
    /// Made by us and not expired.
    Valid,
    /// Made by us but expired: the client should retry with a fresh nonce (`stale=true`,
    /// RFC 2617 §3.2.1).
    Stale,
    /// Not a nonce of ours (wrong format, forged or altered, or issued in the future).
    Invalid,
}

/// The secret behind stateless nonces (Kamailio's auth `secret`): a nonce is
/// `hex8(expires) hex8(issued) hex32(HMAC-MD5(secret, hex8(expires) hex8(issued)))`
/// (HMAC per RFC 2104), so it cannot be forged or have its expiry changed without the secret.
#[derive(Clone)]
pub struct NonceKey {
    mac: Hmac<Md5>,
}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

impl NonceKey {
    /// A key from a secret of any length (RFC 2104 §2: a longer one than the block is
    /// hashed first, which the `hmac` crate does).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            mac: <Hmac<Md5> as KeyInit>::new_from_slice(secret)
                .unwrap_or_else(|_| <Hmac<Md5> as KeyInit>::new(&Default::default())),
        }
    }

    fn mac(&self, data: &[u8]) -> [u8; DIGEST_HEX_LEN] {
        let mut m = self.mac.clone();
        m.update(data);
        let mut out = [0u8; DIGEST_HEX_LEN];
        hex_into(&m.finalize().into_bytes(), &mut out);
        out
    }

    /// A nonce made at `now` (Unix seconds) that expires `expire` seconds later
    /// (Kamailio's `nonce_expire`).
    pub fn make(&self, now: u64, expire: u32) -> [u8; NONCE_LEN] {
        let issued = now as u32;
        let expires = issued.wrapping_add(expire);
        let mut out = [0u8; NONCE_LEN];
        hex_into(&expires.to_be_bytes(), &mut out[..8]);
        hex_into(&issued.to_be_bytes(), &mut out[8..16]);
        let mac = self.mac(&out[..16]);
        out[16..].copy_from_slice(&mac);
        out
    }

    /// Checks a nonce at `now` (Unix seconds): [`NonceCheck::Invalid`] unless we made it
    /// (and not more than `max_drift` seconds in the future, Kamailio's
    /// `nonce_auth_max_drift`), [`NonceCheck::Stale`] once its expiry time has passed.
    pub fn check(&self, nonce: &str, now: u64, max_drift: u32) -> NonceCheck {
        let b = nonce.as_bytes();
        if b.len() != NONCE_LEN || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return NonceCheck::Invalid;
        }
        if !ct_eq(&self.mac(&b[..16]), &b[16..]) {
            return NonceCheck::Invalid;
        }
        let num = |s: &str| u32::from_str_radix(s, 16).ok();
        let (Some(expires), Some(issued)) =
            (nonce.get(..8).and_then(num), nonce.get(8..16).and_then(num))
        else {
            return NonceCheck::Invalid;
        };
        let now = now as u32;
        // Wrapping differences: correct across the u32 epoch wrap (2106).
        if issued.wrapping_sub(now) as i32 > max_drift as i32 {
            return NonceCheck::Invalid;
        }
        if now.wrapping_sub(expires) as i32 > 0 {
            return NonceCheck::Stale;
        }
        NonceCheck::Valid
    }
}

/// What goes into a challenge (RFC 3261 §22.1, RFC 2617 §3.2.1).
#[derive(Clone, Copy, Debug)]
pub struct Challenge<'a> {
    /// The protection realm.
    pub realm: &'a str,
    /// The nonce ([`NonceKey::make`]).
    pub nonce: &'a str,
    /// `qop` to offer, `None` for none.
    pub qop: Option<Qop>,
    /// `stale=true`: the previous nonce was ours but expired.
    pub stale: bool,
    /// `opaque` to send, if any.
    pub opaque: Option<&'a str>,
}

fn push_quoted(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        // quoted-pair for `"` and `\`; CR/LF cannot appear in a header value.
        match b {
            b'"' | b'\\' => {
                out.push(b'\\');
                out.push(b);
            }
            b'\r' | b'\n' => out.push(b' '),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Writes the challenge header line, CRLF included: `name: Digest realm="..",
/// nonce=".."[, stale=true][, qop=".."], algorithm=MD5` (RFC 3261 §22.1 / §20.44 for
/// `WWW-Authenticate`, §20.27 for `Proxy-Authenticate`; RFC 2617 §3.2.1).
pub fn write_challenge(out: &mut Vec<u8>, header_name: &str, ch: &Challenge<'_>) {
    out.extend_from_slice(header_name.as_bytes());
    out.extend_from_slice(b": Digest realm=");
    push_quoted(out, ch.realm);
    out.extend_from_slice(b", nonce=");
    push_quoted(out, ch.nonce);
    if let Some(o) = ch.opaque {
        out.extend_from_slice(b", opaque=");
        push_quoted(out, o);
    }
    if ch.stale {
        out.extend_from_slice(b", stale=true");
    }
    if let Some(q) = ch.qop {
        out.extend_from_slice(b", qop=\"");
        out.extend_from_slice(q.as_str().as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b", algorithm=MD5\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    /// RFC 2617 §3.5 example (the published response of that example).
    #[test]
    fn rfc2617_example_response() {
        let v = b"Digest username=\"Mufasa\",\r\n realm=\"testrealm@host.com\", \
nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, nc=00000001, \
cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", \
opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
        let c = parse_credentials(v).unwrap();
        assert_eq!(c.username, "Mufasa");
        assert_eq!(c.qop, Some(Qop::Auth));
        assert_eq!(
            c.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        let ha1 = compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert!(verify_response(&ha1, &c, "GET", b""));
        assert!(!verify_response(&ha1, &c, "POST", b""));
        let mut upper = ha1;
        upper.make_ascii_uppercase();
        assert!(verify_response(&upper, &c, "GET", b""));
        assert_eq!(
            hex(&compute_response(&ha1, &c, "GET", b"")),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    #[test]
    fn rfc2069_style_and_sess_and_auth_int_round_trip() {
        let ha1 = compute_ha1("u1", "d.com", "p1");
        for (extra, alg) in [
            ("", None),
            (", algorithm=MD5", Some(Algorithm::Md5)),
            (
                ", algorithm=md5-sess, cnonce=\"x\"",
                Some(Algorithm::Md5Sess),
            ),
            (
                ", qop=auth-int, nc=00000002, cnonce=\"c\\\"n\"",
                Some(Algorithm::Md5),
            ),
        ] {
            let base = format!(
                "Digest username=\"u1\",realm=\"d.com\",nonce=\"n\",uri=\"sip:d.com\",\
response=\"00000000000000000000000000000000\"{extra}"
            );
            let c = parse_credentials(base.as_bytes()).unwrap();
            if extra.contains("algorithm=MD5") {
                assert_eq!(c.algorithm, alg);
            }
            let r = compute_response(&ha1, &c, "REGISTER", b"body");
            let good = base.replace("00000000000000000000000000000000", hex(&r));
            let c2 = parse_credentials(good.as_bytes()).unwrap();
            assert!(verify_response(&ha1, &c2, "REGISTER", b"body"), "{good}");
            let other = compute_ha1("u1", "d.com", "p2");
            assert!(!verify_response(&other, &c2, "REGISTER", b"body"));
        }
        let c = parse_credentials(
            b"Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\", qop=auth-int, nc=00000001, cnonce=\"c\\\"n\", response=\"00000000000000000000000000000000\"",
        )
        .unwrap();
        assert_eq!(c.cnonce.as_deref(), Some("c\"n"));
    }

    #[test]
    fn malformed_credentials_are_errors() {
        let ok = "username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"0123456789abcdef0123456789abcdef\"";
        assert!(parse_credentials(format!("Digest {ok}").as_bytes()).is_ok());
        assert!(parse_credentials(format!("digest  ,{ok},,").as_bytes()).is_ok());
        assert_eq!(
            parse_credentials(b"Basic dXNlcjpwYXNz"),
            Err(CredError::NotDigest)
        );
        let cases: &[(&str, CredError)] = &[
            ("Digest realm=\"r\", nonce=\"n\", uri=\"u\", response=\"0123456789abcdef0123456789abcdef\"", CredError::Missing("username")),
            ("Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"0123\"", CredError::BadResponse),
            ("Digest username=\"a, realm=\"r\"", CredError::Syntax),
            ("Digest username=\"a\" realm=\"r\"", CredError::Syntax),
            ("Digest username", CredError::Syntax),
            ("Digest =x", CredError::Syntax),
            ("Digestusername=\"a\"", CredError::NotDigest),
            ("Digest username=\"a\\", CredError::Syntax),
        ];
        for (v, e) in cases {
            assert_eq!(parse_credentials(v.as_bytes()), Err(*e), "{v}");
        }
        for (extra, e) in [
            (", algorithm=SHA-256", CredError::UnsupportedAlgorithm),
            (", qop=foo", CredError::UnsupportedQop),
            (", qop=auth, cnonce=\"c\"", CredError::Missing("nc")),
            (", qop=auth, nc=1, cnonce=\"c\"", CredError::BadNonceCount),
            (", qop=auth, nc=00000001", CredError::Missing("cnonce")),
            (", algorithm=MD5-sess", CredError::Missing("cnonce")),
            (", realm=\"x\"", CredError::Duplicate),
            (", userhash=true", CredError::UnsupportedUserhash),
        ] {
            let v = format!("Digest {ok}{extra}");
            assert_eq!(parse_credentials(v.as_bytes()), Err(e), "{v}");
        }
        for v in [
            &b"\xff\xfe"[..],
            b"",
            b"Digest",
            b"Digest ,,,",
            b"\"",
            b"Digest a=\"\r\n",
        ] {
            assert!(parse_credentials(v).is_err());
        }
    }

    #[test]
    fn user_and_domain_parts() {
        let c = parse_credentials(b"Digest username=\"alice@example.com\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"0123456789abcdef0123456789abcdef\"").unwrap();
        assert_eq!(c.user(), "alice");
        assert_eq!(c.user_domain(), Some("example.com"));
    }

    #[test]
    fn nonce_valid_stale_forged() {
        let k = NonceKey::new(b"bench-anchor-secret");
        let n = k.make(1_000_000, 300);
        let s = hex(&n).to_owned();
        assert_eq!(k.check(&s, 1_000_000, 3), NonceCheck::Valid);
        assert_eq!(k.check(&s, 1_000_300, 3), NonceCheck::Valid);
        assert_eq!(k.check(&s, 1_000_301, 3), NonceCheck::Stale);
        // Issued in the future (beyond the drift).
        assert_eq!(k.check(&s, 999_990, 3), NonceCheck::Invalid);
        // Another secret, an altered expiry, garbage.
        assert_eq!(
            NonceKey::new(b"other").check(&s, 1_000_000, 3),
            NonceCheck::Invalid
        );
        let mut t = s.clone().into_bytes();
        t[7] = if t[7] == b'f' { b'e' } else { b'f' };
        assert_eq!(
            k.check(std::str::from_utf8(&t).unwrap(), 1_000_000, 3),
            NonceCheck::Invalid
        );
        assert_eq!(k.check("", 0, 3), NonceCheck::Invalid);
        assert_eq!(
            k.check(&s.to_uppercase(), 1_000_000, 3),
            NonceCheck::Invalid
        );
        let long = NonceKey::new(&[7u8; 100]);
        let n2 = long.make(5, 10);
        assert_eq!(long.check(hex(&n2), 5, 0), NonceCheck::Valid);
    }

    #[test]
    fn challenge_header() {
        let mut out = Vec::new();
        write_challenge(
            &mut out,
            "WWW-Authenticate",
            &Challenge {
                realm: "a\"b",
                nonce: "n1",
                qop: Some(Qop::Auth),
                stale: true,
                opaque: None,
            },
        );
        assert_eq!(
            hex(&out),
            "WWW-Authenticate: Digest realm=\"a\\\"b\", nonce=\"n1\", stale=true, qop=\"auth\", algorithm=MD5\r\n"
        );
    }
}
