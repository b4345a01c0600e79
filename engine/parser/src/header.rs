//! Header names and raw header lines (RFC 3261 §7.3, §20).

use std::ops::Range;

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
const LONG: &[(&str, HeaderName)] = &[
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
            _ => LONG
                .iter()
                .find(|(n, _)| n.len() == name.len() && n.as_bytes().eq_ignore_ascii_case(name))
                .map_or(Self::Other, |&(_, h)| h),
        }
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
