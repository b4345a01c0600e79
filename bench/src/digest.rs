//! HTTP digest authentication for SIP (RFC 2617 §3.2, RFC 3261 §22.4): the client's
//! `Authorization` from a `WWW-Authenticate`/`Proxy-Authenticate` challenge, and the server-side
//! check used by the `uas` scenario's registrar. MD5 only, `qop=auth` or no qop.

use md5::{Digest, Md5};
use std::fmt::Write as _;

/// The most bytes of a challenge we look at; anything longer is not a real challenge.
const MAX_CHALLENGE: usize = 2048;

/// A parsed `Digest` challenge (RFC 2617 §3.2.1), owned: it outlives the datagram.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Challenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `opaque`, echoed back if present.
    pub opaque: Option<String>,
    /// Whether the server offered `qop=auth`.
    pub qop_auth: bool,
}

/// Lowercase hex MD5 of the concatenation of `parts`.
pub fn md5_hex(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    let out = h.finalize();
    let mut s = String::with_capacity(32);
    for b in out {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Splits the parameters of a `Digest` challenge or credentials value into `(name, value)`,
/// values unquoted. Returns `None` if the scheme is not Digest.
pub fn digest_params(value: &str) -> Option<Vec<(&str, &str)>> {
    let value = value.trim();
    if value.len() > MAX_CHALLENGE {
        return None;
    }
    // `get` rather than indexing: a multi-byte character at the cut is a mismatch, not a panic.
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let mut rest = value.get(6..)?.trim_start();
    let mut out = Vec::new();
    while !rest.is_empty() && out.len() < 32 {
        let eq = rest.find('=')?;
        let name = rest[..eq].trim().trim_start_matches(',').trim();
        rest = rest[eq + 1..].trim_start();
        let v;
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"')?;
            v = &r[..end];
            rest = &r[end + 1..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            v = rest[..end].trim();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        out.push((name, v));
    }
    Some(out)
}

impl Challenge {
    /// Parses a `WWW-Authenticate`/`Proxy-Authenticate` value; `None` if it is not an MD5
    /// Digest challenge with a realm and a nonce.
    pub fn parse(value: &str) -> Option<Self> {
        let mut c = Self::default();
        let mut have_realm = false;
        for (k, v) in digest_params(value)? {
            if k.eq_ignore_ascii_case("realm") {
                c.realm = v.to_string();
                have_realm = true;
            } else if k.eq_ignore_ascii_case("nonce") {
                c.nonce = v.to_string();
            } else if k.eq_ignore_ascii_case("opaque") {
                c.opaque = Some(v.to_string());
            } else if k.eq_ignore_ascii_case("qop") {
                c.qop_auth = v.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth"));
            } else if k.eq_ignore_ascii_case("algorithm") && !v.eq_ignore_ascii_case("md5") {
                return None;
            }
        }
        (have_realm && !c.nonce.is_empty()).then_some(c)
    }

    /// The credentials value (after `Authorization: `) for `method` on `uri`
    /// (RFC 2617 §3.2.2): `nc` is the nonce count, `cnonce` the client nonce (used with qop).
    pub fn authorization(
        &self,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        let ha1 = md5_hex(&[user, ":", &self.realm, ":", password]);
        let ha2 = md5_hex(&[method, ":", uri]);
        let mut s = String::with_capacity(256);
        let _ = write!(
            s,
            "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", ",
            self.realm, self.nonce
        );
        if self.qop_auth {
            let nc = format!("{nc:08x}");
            let resp = md5_hex(&[
                &ha1,
                ":",
                &self.nonce,
                ":",
                &nc,
                ":",
                cnonce,
                ":auth:",
                &ha2,
            ]);
            let _ = write!(
                s,
                "response=\"{resp}\", qop=auth, nc={nc}, cnonce=\"{cnonce}\", algorithm=MD5"
            );
        } else {
            let resp = md5_hex(&[&ha1, ":", &self.nonce, ":", &ha2]);
            let _ = write!(s, "response=\"{resp}\", algorithm=MD5");
        }
        if let Some(o) = &self.opaque {
            let _ = write!(s, ", opaque=\"{o}\"");
        }
        s
    }
}

/// Checks `Authorization` credentials against `password` for `method` (RFC 2617 §3.2.2), the
/// registrar side. Returns the username if the response matches, `None` otherwise (bad
/// credentials, unknown user, unsupported qop).
pub fn verify<'a>(
    credentials: &'a str,
    method: &str,
    lookup: impl Fn(&str) -> Option<&'a str>,
) -> Option<&'a str> {
    let params = digest_params(credentials)?;
    let get = |n: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|p| p.1)
    };
    let user = get("username")?;
    let realm = get("realm")?;
    let nonce = get("nonce")?;
    let uri = get("uri")?;
    let response = get("response")?;
    let password = lookup(user)?;
    let ha1 = md5_hex(&[user, ":", realm, ":", password]);
    let ha2 = md5_hex(&[method, ":", uri]);
    let expect = match get("qop") {
        Some(q) if q.eq_ignore_ascii_case("auth") => {
            let nc = get("nc")?;
            let cnonce = get("cnonce")?;
            md5_hex(&[&ha1, ":", nonce, ":", nc, ":", cnonce, ":auth:", &ha2])
        }
        Some(_) => return None,
        None => md5_hex(&[&ha1, ":", nonce, ":", &ha2]),
    };
    expect.eq_ignore_ascii_case(response).then_some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5's worked example (HTTP, qop=auth).
    #[test]
    fn rfc2617_example() {
        let c = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert!(c.qop_auth);
        let a = c.authorization(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            1,
            "0a4f113b",
        );
        assert!(
            a.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{a}"
        );
        assert!(a.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
        let pw = |u: &str| (u == "Mufasa").then_some("Circle Of Life");
        assert_eq!(verify(&a, "GET", pw), Some("Mufasa"));
        assert_eq!(verify(&a, "POST", pw), None);
    }

    #[test]
    fn no_qop_round_trip_and_rejects() {
        let c = Challenge::parse("Digest realm=\"d.com\",nonce=abc, algorithm=MD5").unwrap();
        assert!(!c.qop_auth);
        let a = c.authorization("u1", "p1", "REGISTER", "sip:d.com", 1, "x");
        assert!(!a.contains("qop"));
        assert_eq!(verify(&a, "REGISTER", |_| Some("p1")), Some("u1"));
        assert_eq!(verify(&a, "REGISTER", |_| Some("p2")), None);
        assert!(Challenge::parse("Basic realm=\"x\"").is_none());
        assert!(Challenge::parse("Digest realm=\"x\", nonce=\"n\", algorithm=SHA-256").is_none());
        assert!(Challenge::parse("Digest nonce=\"n\"").is_none());
        assert!(Challenge::parse("Digest realm=\"unterminated").is_none());
        // Peer bytes that are not ASCII never panic.
        for v in [
            "Dige\u{e9}t realm=x",
            "\u{e9}\u{e9}\u{e9}\u{e9}",
            "Digest r\u{e9}alm=\"\u{e9}\", nonce=\u{e9}",
            "Digest ,,==,\"",
            "Digest",
        ] {
            let _ = Challenge::parse(v);
            let _ = verify(v, "REGISTER", |_| Some("x"));
        }
    }
}
