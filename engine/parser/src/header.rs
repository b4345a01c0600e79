//! Header names and raw header lines (RFC 3261 §7.3, §20).

use std::ops::Range;

use crate::chars::{eq_lower, is_token};

/// A header field name, with compact forms resolved (RFC 3261 §7.3.3, §20).
///
/// Unknown names are [`HeaderName::Other`]; [`crate::Header::raw_name`] keeps the spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderName {
    /// Via, compact `v` (RFC 3261 §20.42).
    Via,
    /// From, compact `f` (RFC 3261 §20.20).
    From,
    /// To, compact `t` (RFC 3261 §20.39).
    To,
    /// Call-ID, compact `i` (RFC 3261 §20.8).
    CallId,
    /// CSeq (RFC 3261 §20.16).
    CSeq,
    /// Max-Forwards (RFC 3261 §20.22).
    MaxForwards,
    /// Content-Length, compact `l` (RFC 3261 §20.14).
    ContentLength,
    /// Content-Type, compact `c` (RFC 3261 §20.15).
    ContentType,
    /// Contact, compact `m` (RFC 3261 §20.10).
    Contact,
    /// Route (RFC 3261 §20.34).
    Route,
    /// Record-Route (RFC 3261 §20.30).
    RecordRoute,
    /// Expires (RFC 3261 §20.19).
    Expires,
    /// User-Agent (RFC 3261 §20.41).
    UserAgent,
    /// Server (RFC 3261 §20.35).
    Server,
    /// Allow (RFC 3261 §20.5).
    Allow,
    /// Supported, compact `k` (RFC 3261 §20.37).
    Supported,
    /// Require (RFC 3261 §20.32).
    Require,
    /// Proxy-Require (RFC 3261 §20.29).
    ProxyRequire,
    /// Unsupported (RFC 3261 §20.40).
    Unsupported,
    /// Authorization (RFC 3261 §20.7).
    Authorization,
    /// Proxy-Authorization (RFC 3261 §20.28).
    ProxyAuthorization,
    /// WWW-Authenticate (RFC 3261 §20.44).
    WwwAuthenticate,
    /// Proxy-Authenticate (RFC 3261 §20.27).
    ProxyAuthenticate,
    /// Event, compact `o` (RFC 6665 §8.2.1).
    Event,
    /// Subject, compact `s` (RFC 3261 §20.36).
    Subject,
    /// Refer-To, compact `r` (RFC 3515 §2.1).
    ReferTo,
    /// Accept (RFC 3261 §20.1).
    Accept,
    /// Content-Encoding, compact `e` (RFC 3261 §20.12).
    ContentEncoding,
    /// Date (RFC 3261 §20.17).
    Date,
    /// Allow-Events, compact `u` (RFC 6665 §8.2.2).
    AllowEvents,
    /// Session-Expires, compact `x` (RFC 4028 §4).
    SessionExpires,
    /// Identity, compact `y` (RFC 8224 §4).
    Identity,
    /// Referred-By, compact `b` (RFC 3892 §3).
    ReferredBy,
    /// Accept-Contact, compact `a` (RFC 3841 §9.2).
    AcceptContact,
    /// Reject-Contact, compact `j` (RFC 3841 §9.2).
    RejectContact,
    /// Request-Disposition, compact `d` (RFC 3841 §9.1).
    RequestDisposition,
    /// Identity-Info, compact `n` (RFC 4474 §9.2, obsoleted by RFC 8224).
    IdentityInfo,
    /// Path (RFC 3327 §4).
    Path,
    /// Any other header.
    Other,
}

/// Canonical long names, in one table with their [`HeaderName`].
pub(crate) const LONG: &[(&str, HeaderName)] = &[
    ("Via", HeaderName::Via),
    ("From", HeaderName::From),
    ("To", HeaderName::To),
    ("Call-ID", HeaderName::CallId),
    ("CSeq", HeaderName::CSeq),
    ("Max-Forwards", HeaderName::MaxForwards),
    ("Content-Length", HeaderName::ContentLength),
    ("Content-Type", HeaderName::ContentType),
    ("Contact", HeaderName::Contact),
    ("Route", HeaderName::Route),
    ("Record-Route", HeaderName::RecordRoute),
    ("Expires", HeaderName::Expires),
    ("User-Agent", HeaderName::UserAgent),
    ("Server", HeaderName::Server),
    ("Allow", HeaderName::Allow),
    ("Supported", HeaderName::Supported),
    ("Require", HeaderName::Require),
    ("Proxy-Require", HeaderName::ProxyRequire),
    ("Unsupported", HeaderName::Unsupported),
    ("Authorization", HeaderName::Authorization),
    ("Proxy-Authorization", HeaderName::ProxyAuthorization),
    ("WWW-Authenticate", HeaderName::WwwAuthenticate),
    ("Proxy-Authenticate", HeaderName::ProxyAuthenticate),
    ("Event", HeaderName::Event),
    ("Subject", HeaderName::Subject),
    ("Refer-To", HeaderName::ReferTo),
    ("Accept", HeaderName::Accept),
    ("Content-Encoding", HeaderName::ContentEncoding),
    ("Date", HeaderName::Date),
    ("Allow-Events", HeaderName::AllowEvents),
    ("Session-Expires", HeaderName::SessionExpires),
    ("Identity", HeaderName::Identity),
    ("Referred-By", HeaderName::ReferredBy),
    ("Accept-Contact", HeaderName::AcceptContact),
    ("Reject-Contact", HeaderName::RejectContact),
    ("Request-Disposition", HeaderName::RequestDisposition),
    ("Identity-Info", HeaderName::IdentityInfo),
    ("Path", HeaderName::Path),
];

/// Builds the compact-form table: one entry per byte, both letter cases (RFC 3261 §7.3.3;
/// RFC 3515, 3841, 3892, 4028, 4474, 6665, 8224 for the later letters).
const fn compact_table() -> [HeaderName; 256] {
    let mut t = [HeaderName::Other; 256];
    let pairs: [(u8, HeaderName); 19] = [
        (b'i', HeaderName::CallId),
        (b'f', HeaderName::From),
        (b't', HeaderName::To),
        (b'v', HeaderName::Via),
        (b'm', HeaderName::Contact),
        (b'l', HeaderName::ContentLength),
        (b'c', HeaderName::ContentType),
        (b'k', HeaderName::Supported),
        (b's', HeaderName::Subject),
        (b'e', HeaderName::ContentEncoding),
        (b'o', HeaderName::Event),
        (b'r', HeaderName::ReferTo),
        (b'u', HeaderName::AllowEvents),
        (b'x', HeaderName::SessionExpires),
        (b'y', HeaderName::Identity),
        (b'b', HeaderName::ReferredBy),
        (b'a', HeaderName::AcceptContact),
        (b'j', HeaderName::RejectContact),
        (b'd', HeaderName::RequestDisposition),
    ];
    let mut i = 0;
    while i < pairs.len() {
        let (c, h) = pairs[i];
        t[c as usize] = h;
        t[(c - 32) as usize] = h;
        i += 1;
    }
    t[b'n' as usize] = HeaderName::IdentityInfo;
    t[b'N' as usize] = HeaderName::IdentityInfo;
    t
}

/// Compact form letter → header (RFC 3261 §7.3.3).
static COMPACT: [HeaderName; 256] = compact_table();

impl HeaderName {
    /// Resolves a header name, long or compact, in any letter case (RFC 3261 §7.3.1:
    /// "field names are always case-insensitive").
    pub fn from_bytes(name: &[u8]) -> Self {
        match name {
            [c] => COMPACT[*c as usize],
            [first, ..] => {
                // Dispatch on length and first letter, then one fixed-size comparison: this
                // runs for every header line.
                match (name.len(), first | 0x20) {
                    (2, b't') if eq_lower(name, b"to") => Self::To,
                    (3, b'v') if eq_lower(name, b"via") => Self::Via,
                    (4, b'f') if eq_lower(name, b"from") => Self::From,
                    (4, b'c') if eq_lower(name, b"cseq") => Self::CSeq,
                    (4, b'd') if eq_lower(name, b"date") => Self::Date,
                    (4, b'p') if eq_lower(name, b"path") => Self::Path,
                    (5, b'r') if eq_lower(name, b"route") => Self::Route,
                    (5, b'a') if eq_lower(name, b"allow") => Self::Allow,
                    (5, b'e') if eq_lower(name, b"event") => Self::Event,
                    (6, b's') if eq_lower(name, b"server") => Self::Server,
                    (6, b'a') if eq_lower(name, b"accept") => Self::Accept,
                    (7, b'c') if eq_lower(name, b"call-id") => Self::CallId,
                    (7, b'c') if eq_lower(name, b"contact") => Self::Contact,
                    (7, b'e') if eq_lower(name, b"expires") => Self::Expires,
                    (7, b'r') if eq_lower(name, b"require") => Self::Require,
                    (7, b's') if eq_lower(name, b"subject") => Self::Subject,
                    (8, b'r') if eq_lower(name, b"refer-to") => Self::ReferTo,
                    (8, b'i') if eq_lower(name, b"identity") => Self::Identity,
                    (9, b's') if eq_lower(name, b"supported") => Self::Supported,
                    (10, b'u') if eq_lower(name, b"user-agent") => Self::UserAgent,
                    (11, b'u') if eq_lower(name, b"unsupported") => Self::Unsupported,
                    (11, b'r') if eq_lower(name, b"referred-by") => Self::ReferredBy,
                    (12, b'm') if eq_lower(name, b"max-forwards") => Self::MaxForwards,
                    (12, b'c') if eq_lower(name, b"content-type") => Self::ContentType,
                    (12, b'r') if eq_lower(name, b"record-route") => Self::RecordRoute,
                    (12, b'a') if eq_lower(name, b"allow-events") => Self::AllowEvents,
                    (13, b'a') if eq_lower(name, b"authorization") => Self::Authorization,
                    (13, b'p') if eq_lower(name, b"proxy-require") => Self::ProxyRequire,
                    (13, b'i') if eq_lower(name, b"identity-info") => Self::IdentityInfo,
                    (14, b'c') if eq_lower(name, b"content-length") => Self::ContentLength,
                    (14, b'a') if eq_lower(name, b"accept-contact") => Self::AcceptContact,
                    (14, b'r') if eq_lower(name, b"reject-contact") => Self::RejectContact,
                    (15, b's') if eq_lower(name, b"session-expires") => Self::SessionExpires,
                    (16, b'w') if eq_lower(name, b"www-authenticate") => Self::WwwAuthenticate,
                    (16, b'c') if eq_lower(name, b"content-encoding") => Self::ContentEncoding,
                    (18, b'p') if eq_lower(name, b"proxy-authenticate") => Self::ProxyAuthenticate,
                    (19, b'p') if eq_lower(name, b"proxy-authorization") => {
                        Self::ProxyAuthorization
                    }
                    (19, b'r') if eq_lower(name, b"request-disposition") => {
                        Self::RequestDisposition
                    }
                    _ => Self::Other,
                }
            }
            [] => Self::Other,
        }
    }

    /// Recognises the common header names at the start of a header line without scanning
    /// the name first: the name and the length of its `token` run, or `None` when the line
    /// does not start with one of them (the caller then scans the token and uses
    /// [`HeaderName::from_bytes`], which gives the same result for these names).
    ///
    /// A name matches when the line starts with it in any letter case and the next byte is
    /// not a `token` character, i.e. exactly when the token run is that name.
    #[inline(always)]
    pub(crate) fn at_line_start(line: &[u8]) -> Option<(Self, usize)> {
        #[inline(always)]
        fn is<const N: usize>(line: &[u8], lower: &[u8; N]) -> bool {
            line.get(..N).is_some_and(|p| eq_lower(p, lower))
                && !line.get(N).is_some_and(|&c| is_token(c))
        }
        let first = *line.first()?;
        if !line.get(1).is_some_and(|&c| is_token(c)) {
            // A one-letter name: a compact form or an unknown header.
            return is_token(first).then(|| (COMPACT[first as usize], 1));
        }
        let (h, n) = match first | 0x20 {
            b'v' if is(line, b"via") => (Self::Via, 3),
            b'f' if is(line, b"from") => (Self::From, 4),
            b't' if is(line, b"to") => (Self::To, 2),
            b'c' if is(line, b"call-id") => (Self::CallId, 7),
            b'c' if is(line, b"cseq") => (Self::CSeq, 4),
            b'c' if is(line, b"contact") => (Self::Contact, 7),
            b'c' if is(line, b"content-length") => (Self::ContentLength, 14),
            b'c' if is(line, b"content-type") => (Self::ContentType, 12),
            b'm' if is(line, b"max-forwards") => (Self::MaxForwards, 12),
            b'r' if is(line, b"record-route") => (Self::RecordRoute, 12),
            b'r' if is(line, b"route") => (Self::Route, 5),
            b'a' if is(line, b"allow") => (Self::Allow, 5),
            b's' if is(line, b"supported") => (Self::Supported, 9),
            b's' if is(line, b"server") => (Self::Server, 6),
            b's' if is(line, b"session-expires") => (Self::SessionExpires, 15),
            b'u' if is(line, b"user-agent") => (Self::UserAgent, 10),
            _ => return None,
        };
        Some((h, n))
    }

    /// The canonical long name (`"Call-ID"`), `None` for [`HeaderName::Other`].
    pub fn canonical(&self) -> Option<&'static str> {
        LONG.iter().find(|(_, h)| h == self).map(|&(n, _)| n)
    }

    /// Whether RFC 3261 §7.3.1 allows several values of this header in one message, i.e.
    /// whether a second occurrence is legal. The single-valued ones are checked for
    /// duplicates (RFC 4475 §3.3.8).
    pub fn is_single(&self) -> bool {
        matches!(
            self,
            Self::From
                | Self::To
                | Self::CallId
                | Self::CSeq
                | Self::MaxForwards
                | Self::ContentLength
        )
    }
}

/// One header line (RFC 3261 §7.3): the name as written and the raw value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'b> {
    /// The resolved name.
    pub name: HeaderName,
    /// The name exactly as written (a validated `token`).
    pub raw_name: &'b str,
    /// The value, without leading and trailing LWS; it may still contain folds (CRLF + WSP,
    /// RFC 3261 §7.3.1) and several comma-separated values.
    pub value: &'b [u8],
    /// The whole header line(s), including continuation lines and the final CRLF, as a byte
    /// range of the message buffer (for deletion by an [`crate::Edits`] list).
    pub line: Range<usize>,
}

impl<'b> Header<'b> {
    /// The value as `&str`, `None` if it is not UTF-8.
    pub fn value_str(&self) -> Option<&'b str> {
        std::str::from_utf8(self.value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chars::run_while;

    /// The token-scan path that [`HeaderName::at_line_start`] short-cuts.
    fn slow(line: &[u8]) -> (HeaderName, usize) {
        let e = run_while(line, 0, is_token);
        (HeaderName::from_bytes(line.get(..e).unwrap_or_default()), e)
    }

    #[test]
    fn fast_name_path_agrees_with_token_scan() {
        let mut names: Vec<String> = LONG.iter().map(|(n, _)| n.to_string()).collect();
        names.extend((b'a'..=b'z').map(|c| char::from(c).to_string()));
        names.extend(
            [
                "x", "Vias", "Tox", "Fro", "Call-I", "Contact-", "Routes", "Via_",
            ]
            .map(String::from),
        );
        for n in names {
            for cased in [n.to_lowercase(), n.to_uppercase(), n.clone()] {
                for tail in ["", ":", " :", "\t:", "x:", "-x:", "\r", "_:", ".:"] {
                    let line = format!("{cased}{tail} v");
                    if let Some(fast) = HeaderName::at_line_start(line.as_bytes()) {
                        assert_eq!(fast, slow(line.as_bytes()), "{line:?}");
                    }
                }
            }
        }
        assert!(HeaderName::at_line_start(b" Via: x").is_none());
        assert!(HeaderName::at_line_start(b"").is_none());
    }
}
