//! Transport protocols (RFC 3261 §18, §20.42 `transport` in Via).

use std::fmt;

/// A SIP transport protocol, as named in a Via `sent-protocol` or a `transport=` URI parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// UDP (RFC 3261 §18).
    Udp,
    /// TCP (RFC 3261 §18).
    Tcp,
    /// TLS over TCP (RFC 3261 §26.2).
    Tls,
    /// SCTP (RFC 4168).
    Sctp,
    /// WebSocket (RFC 7118).
    Ws,
    /// Secure WebSocket (RFC 7118).
    Wss,
}

impl Proto {
    /// The upper-case token used in a Via header (`SIP/2.0/UDP`).
    pub fn via_token(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::Sctp => "SCTP",
            Self::Ws => "WS",
            Self::Wss => "WSS",
        }
    }

    /// The lower-case name Kamailio uses (`listen=udp:...`, `$pr`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Sctp => "sctp",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }

    /// Parses a transport name in any letter case (`udp`, `TCP`, ...).
    pub fn from_name(s: &[u8]) -> Option<Self> {
        use crate::chars::eq_lower;
        // Length first, then one word compare per candidate (this runs for every Via).
        match s.len() {
            3 if eq_lower(s, b"udp") => Some(Self::Udp),
            3 if eq_lower(s, b"tcp") => Some(Self::Tcp),
            3 if eq_lower(s, b"tls") => Some(Self::Tls),
            3 if eq_lower(s, b"wss") => Some(Self::Wss),
            2 if eq_lower(s, b"ws") => Some(Self::Ws),
            4 if eq_lower(s, b"sctp") => Some(Self::Sctp),
            _ => None,
        }
    }

    /// Whether this transport is a byte stream (Content-Length framing, RFC 3261 §18.3).
    pub fn is_stream(self) -> bool {
        !matches!(self, Self::Udp)
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
