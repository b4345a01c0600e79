//! The sanity module's `sanity_check([msg_checks[, uri_checks]])` (Kamailio `sanity`): checks a
//! request against RFC 3261 rules and answers the first failure with the reply Kamailio sends.
//!
//! Check bits (Kamailio numbering): 1 R-URI SIP version (505), 2 R-URI scheme (416), 4
//! required headers (400), 8 Via SIP version and 16 Via protocol (no-ops, as in Kamailio),
//! 32 CSeq method (400), 64 CSeq value (400), 128 Content-Length (400), 256 Expires value
//! (400), 512 Proxy-Require (420 with Unsupported, RFC 3261 §16.3 step 3... §8.2.2.3), 1024
//! URI parsing (uri_checks: 1 R-URI, 2 From, 4 To, 8 Contact; 400), 2048 digest credentials
//! (no reply), 4096 duplicate To/From tags (no reply), 8192 Authorization (no reply), 16384
//! first Via (400).
//!
//! Many checks are already enforced by the parser (a request missing Call-ID never gets
//! here); they are still evaluated so the return codes match.

use ferrosip_parser::{parse_name_addr_list, HeaderName, Scheme, Uri};

use super::ctx::MsgCtx;
use super::text::{parse_u32, trim};

/// Kamailio's `default_checks` default: 1+2+4+32+64+128+256+512+2048.
pub(crate) const DEFAULT_CHECKS: i64 = 3047;
/// Kamailio's `uri_checks` default: R-URI, From, To.
pub(crate) const DEFAULT_URI_CHECKS: i64 = 7;
/// Most Proxy-Require option tags reported in one Unsupported header (DoS bound).
const MAX_UNSUPPORTED: usize = 16;

/// sanity module parameters (`modparam("sanity", ...)`).
#[derive(Clone, Debug)]
pub(crate) struct SanityParams {
    /// `default_checks`.
    pub default_checks: i64,
    /// `uri_checks`.
    pub uri_checks: i64,
    /// `proxy_require`: extensions we support (comma-separated in the modparam).
    pub proxy_require: Vec<String>,
    /// `autodrop`: a failed check stops the script (returns 0) instead of returning -1.
    pub autodrop: bool,
    /// `noreply`: do not send the error reply.
    pub noreply: bool,
}

impl Default for SanityParams {
    fn default() -> Self {
        Self {
            default_checks: DEFAULT_CHECKS,
            uri_checks: DEFAULT_URI_CHECKS,
            proxy_require: Vec::new(),
            autodrop: true,
            noreply: false,
        }
    }
}

/// A failed check: the reply to send (if any), and extra header lines for it.
struct Failed {
    reply: Option<(u16, &'static str)>,
    extra: Vec<u8>,
}

fn fail(code: u16, reason: &'static str) -> Result<(), Failed> {
    Err(Failed {
        reply: Some((code, reason)),
        extra: Vec::new(),
    })
}

fn fail_silent() -> Result<(), Failed> {
    Err(Failed {
        reply: None,
        extra: Vec::new(),
    })
}

/// Kamailio `str2valid_uint`: 1..10 digits, value fits in 32 bits.
fn valid_uint(s: &[u8]) -> bool {
    parse_u32(s).is_some()
}

fn uri_ok(s: &str) -> bool {
    Uri::parse(s).is_ok_and(|u| u.scheme != Scheme::Other)
}

impl MsgCtx<'_, '_> {
    /// `sanity_check([checks[, uri_checks]])`: 1 when every check passes; on failure the
    /// Kamailio reply is sent (unless `noreply`) and 0 (stop, `autodrop`) or -1 is returned.
    pub(crate) fn sanity_check(&mut self, checks: Option<i64>, uri_checks: Option<i64>) -> i32 {
        if !self.msg.is_request() {
            return 1;
        }
        let checks = checks.unwrap_or(self.sh.sanity.default_checks);
        let uri_checks = uri_checks.unwrap_or(self.sh.sanity.uri_checks);
        match self.run_checks(checks, uri_checks) {
            Ok(()) => 1,
            Err(f) => {
                tracing::debug!(target: "ferrosip::sip", reply = ?f.reply, "sanity check failed");
                if let (Some((code, reason)), false) = (f.reply, self.sh.sanity.noreply) {
                    self.send_reply(code, reason.as_bytes(), &f.extra);
                }
                if self.sh.sanity.autodrop {
                    0
                } else {
                    -1
                }
            }
        }
    }

    fn run_checks(&self, checks: i64, uri_checks: i64) -> Result<(), Failed> {
        let m = self.msg;
        let bit = |b: i64| checks & b != 0;
        if bit(1) && !m.version().is_sip_2_0() {
            fail(505, "Version Not Supported (R-URI)")?;
        }
        if bit(2) {
            match m.ruri().map(|u| u.scheme) {
                Some(Scheme::Sip | Scheme::Sips | Scheme::Tel) => {}
                Some(Scheme::Other) => fail(416, "Unsupported URI Scheme in Request URI")?,
                None => fail(400, "Bad Request URI")?,
            }
        }
        if bit(4)
            && (m.call_id().is_none()
                || m.from().is_none()
                || m.to().is_none()
                || m.cseq().is_none()
                || m.vias().is_empty())
        {
            fail(400, "Missing Required Header in Request")?;
        }
        if bit(32) {
            let Some(cseq) = m.cseq() else {
                return fail_silent();
            };
            if m.method()
                .is_some_and(|me| me.as_str() != cseq.method.as_str())
            {
                fail(400, "CSeq method does not match request method")?;
            }
        }
        if bit(64) && m.cseq().is_none() {
            fail_silent()?;
        }
        if bit(128) {
            if let Some(cl) = m.content_length() {
                // The parser frames the body by Content-Length and rejects one longer than
                // the message; what is left to check is that the body is all there.
                if m.body().len() != cl {
                    fail(400, "Content-Length mis-match")?;
                }
            }
        }
        if bit(256) {
            if let Some(h) = m.header(HeaderName::Expires) {
                let v = trim(h.value);
                if v.is_empty() {
                    fail(400, "Missing number in Expires header")?;
                }
                if !valid_uint(v) {
                    fail(400, "Expires value is illegal")?;
                }
            }
        }
        if bit(512) {
            self.check_proxy_require()?;
        }
        if bit(1024) {
            self.check_uris(uri_checks)?;
        }
        if bit(2048) && self.check_digest(false).is_err() {
            fail_silent()?;
        }
        if bit(4096) {
            for na in [m.from(), m.to()].into_iter().flatten() {
                let n = count_params(na.params, "tag");
                if n > 1 {
                    fail_silent()?;
                }
            }
        }
        if bit(8192) && self.check_digest(true).is_err() {
            fail_silent()?;
        }
        if bit(16384) && m.top_via().is_none_or(|v| v.host.is_empty()) {
            fail(400, "Missing or Bad Via Header")?;
        }
        Ok(())
    }

    /// Every Proxy-Require option-tag must be in `proxy_require` (RFC 3261 §16.3 step 3
    /// hands the 420 to proxies; §20.29); the reply lists the unknown ones in Unsupported
    /// (§8.2.2.3).
    fn check_proxy_require(&self) -> Result<(), Failed> {
        let mut extra = Vec::new();
        let mut n = 0;
        for h in self.msg.headers_named(HeaderName::ProxyRequire) {
            for tok in h.value.split(|&c| c == b',') {
                let tok = trim(tok);
                if tok.is_empty() {
                    continue;
                }
                let known = self
                    .sh
                    .sanity
                    .proxy_require
                    .iter()
                    .any(|p| p.as_bytes().eq_ignore_ascii_case(tok));
                if !known && n < MAX_UNSUPPORTED {
                    extra.extend_from_slice(if n == 0 { b"Unsupported: " } else { b", " });
                    extra.extend_from_slice(tok);
                    n += 1;
                }
            }
        }
        if n == 0 {
            return Ok(());
        }
        extra.extend_from_slice(b"\r\n");
        Err(Failed {
            reply: Some((420, "Bad Extension")),
            extra,
        })
    }

    fn check_uris(&self, uri_checks: i64) -> Result<(), Failed> {
        let m = self.msg;
        if uri_checks & 1 != 0 && !m.ruri().is_some_and(|u| u.scheme != Scheme::Other) {
            fail(400, "Bad Request URI")?;
        }
        if uri_checks & 2 != 0 {
            match m.from() {
                None => fail(400, "Missing From Header")?,
                // The parser already parsed this URI (`NameAddr::uri`).
                Some(f) if f.uri.scheme == Scheme::Other => fail(400, "Bad From URI")?,
                Some(_) => {}
            }
        }
        if uri_checks & 4 != 0 {
            match m.to() {
                None => fail(400, "Missing To Header")?,
                // The parser already parsed this URI (`NameAddr::uri`).
                Some(t) if t.uri.scheme == Scheme::Other => fail(400, "Bad To URI")?,
                Some(_) => {}
            }
        }
        if uri_checks & 8 != 0 {
            if let Some(h) = m.header(HeaderName::Contact) {
                let Some(v) = h.value_str() else {
                    return fail(400, "Bad Contact Header");
                };
                if trim(v.as_bytes()) != b"*" {
                    let mut first_ok = None;
                    let r = parse_name_addr_list(v, |na| {
                        if first_ok.is_none() {
                            first_ok = Some(uri_ok(na.uri_raw));
                        }
                        Ok(())
                    });
                    if r.is_err() {
                        fail(400, "Bad Contact Header")?;
                    }
                    if first_ok == Some(false) {
                        fail(400, "Bad Contact URI")?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Digest credentials (RFC 3261 §22.4, RFC 2617 §3.2.2): every Authorization /
    /// Proxy-Authorization must be Digest with non-empty username, nonce and response.
    /// `other_ok`: another scheme passes (check 8192) instead of failing (check 2048).
    fn check_digest(&self, other_ok: bool) -> Result<(), ()> {
        for h in self.msg.headers() {
            if !matches!(
                h.name,
                HeaderName::Authorization | HeaderName::ProxyAuthorization
            ) {
                continue;
            }
            let v = trim(h.value);
            let sp = v
                .iter()
                .position(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                .unwrap_or(v.len());
            if !v[..sp].eq_ignore_ascii_case(b"digest") {
                if other_ok {
                    continue;
                }
                return Err(());
            }
            let params = &v[sp..];
            for name in [&b"username"[..], b"nonce", b"response"] {
                let val = digest_param(params, name).ok_or(())?;
                let val = trim(val);
                let val = val
                    .strip_prefix(b"\"")
                    .and_then(|x| x.strip_suffix(b"\""))
                    .unwrap_or(val);
                if val.is_empty() {
                    return Err(());
                }
            }
        }
        Ok(())
    }
}

/// How many `;name` parameters a name-addr's header parameters hold (for duplicate tags).
fn count_params(params: &str, name: &str) -> usize {
    params
        .split(';')
        .filter(|p| {
            let n = p.split('=').next().unwrap_or("").trim();
            n.eq_ignore_ascii_case(name)
        })
        .count()
}

/// A `name=value` auth-param of a credentials value (comma separated, values may be quoted).
fn digest_param<'a>(params: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    // Reuse the ;-param scanner by treating ',' as the separator.
    let mut rest = params;
    loop {
        let cut = next_comma(rest);
        let item = trim(&rest[..cut]);
        if let Some(eq) = item.iter().position(|&c| c == b'=') {
            if trim(&item[..eq]).eq_ignore_ascii_case(name) {
                return Some(&item[eq + 1..]);
            }
        }
        if cut >= rest.len() {
            return None;
        }
        rest = &rest[cut + 1..];
    }
}

fn next_comma(v: &[u8]) -> usize {
    let mut q = false;
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\\' if q => i += 1,
            b'"' => q = !q,
            b',' if !q => return i,
            _ => {}
        }
        i += 1;
    }
    v.len()
}
