//! Request methods and the SIP-Version (RFC 3261 §7.1, §25.1).

use std::fmt;

use crate::chars::all_token;

/// A request method (RFC 3261 §7.1, §27.4). Methods are case-sensitive: `invite` is an
/// extension method, not INVITE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method<'b> {
    /// INVITE (RFC 3261 §13).
    Invite,
    /// ACK (RFC 3261 §13.2.2.4, §17.1.1.3).
    Ack,
    /// BYE (RFC 3261 §15).
    Bye,
    /// CANCEL (RFC 3261 §9).
    Cancel,
    /// REGISTER (RFC 3261 §10).
    Register,
    /// OPTIONS (RFC 3261 §11).
    Options,
    /// INFO (RFC 6086).
    Info,
    /// UPDATE (RFC 3311).
    Update,
    /// PRACK (RFC 3262).
    Prack,
    /// SUBSCRIBE (RFC 6665).
    Subscribe,
    /// NOTIFY (RFC 6665).
    Notify,
    /// REFER (RFC 3515).
    Refer,
    /// MESSAGE (RFC 3428).
    Message,
    /// PUBLISH (RFC 3903).
    Publish,
    /// Any other `extension-method = token` (RFC 3261 §25.1).
    Other(&'b str),
}

impl<'b> Method<'b> {
    /// The method as it appears on the wire.
    pub fn as_str(&self) -> &'b str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Register => "REGISTER",
            Self::Options => "OPTIONS",
            Self::Info => "INFO",
            Self::Update => "UPDATE",
            Self::Prack => "PRACK",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Refer => "REFER",
            Self::Message => "MESSAGE",
            Self::Publish => "PUBLISH",
            Self::Other(s) => s,
        }
    }

    /// Parses a method token (RFC 3261 §25.1 `Method = INVITEm / ... / extension-method`),
    /// `None` if `b` is not a `token`. Matching is case-sensitive (RFC 3261 §7.1).
    pub fn from_bytes(b: &'b [u8]) -> Option<Self> {
        // INVITE is most of the traffic that is parsed twice (start line and CSeq): one word
        // compare.
        if let Some(w) = b.first_chunk::<6>() {
            if b.len() == 6 && *w == *b"INVITE" {
                return Some(Self::Invite);
            }
        }
        Some(match b {
            b"INVITE" => Self::Invite,
            b"ACK" => Self::Ack,
            b"BYE" => Self::Bye,
            b"CANCEL" => Self::Cancel,
            b"REGISTER" => Self::Register,
            b"OPTIONS" => Self::Options,
            b"INFO" => Self::Info,
            b"UPDATE" => Self::Update,
            b"PRACK" => Self::Prack,
            b"SUBSCRIBE" => Self::Subscribe,
            b"NOTIFY" => Self::Notify,
            b"REFER" => Self::Refer,
            b"MESSAGE" => Self::Message,
            b"PUBLISH" => Self::Publish,
            _ if all_token(b) => Self::Other(std::str::from_utf8(b).ok()?),
            _ => return None,
        })
    }
}

impl fmt::Display for Method<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SIP-Version (RFC 3261 §7.1 `SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT`).
///
/// Any well-formed version parses; the caller answers `505 Version Not Supported` when it is
/// not [`Version::SIP_2_0`] (RFC 3261 §21.5.7, RFC 4475 §3.1.2.16).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Version {
    /// The major number (`2` in SIP/2.0).
    pub major: u8,
    /// The minor number (`0` in SIP/2.0).
    pub minor: u8,
}

impl Version {
    /// SIP/2.0, the only version RFC 3261 defines.
    pub const SIP_2_0: Self = Self { major: 2, minor: 0 };

    /// Whether this is SIP/2.0.
    pub fn is_sip_2_0(&self) -> bool {
        *self == Self::SIP_2_0
    }

    /// Parses `SIP/x.y` ("SIP" is case-insensitive, RFC 3261 §7.1). `None` if malformed or if
    /// a number does not fit in a `u8`.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if crate::chars::eq_lower(b, b"sip/2.0") {
            return Some(Self::SIP_2_0);
        }
        if !b.get(..4)?.eq_ignore_ascii_case(b"SIP/") {
            return None;
        }
        let nums = b.get(4..)?;
        let dot = memchr::memchr(b'.', nums)?;
        let major = crate::chars::parse_u64(nums.get(..dot)?)?;
        let minor = crate::chars::parse_u64(nums.get(dot + 1..)?)?;
        Some(Self {
            major: u8::try_from(major).ok()?,
            minor: u8::try_from(minor).ok()?,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/{}.{}", self.major, self.minor)
    }
}
