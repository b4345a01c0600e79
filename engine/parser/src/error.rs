//! Parser errors: small, `Copy`, no `String`s, each mapped to a SIP response (RFC 3261 §21.4).

use std::fmt;

use crate::header::HeaderName;

/// Why a message (or a URI, Via or name-addr) could not be parsed.
///
/// The engine answers a malformed request with `400 <reason>` ([`ParseError::status`],
/// [`ParseError::reason`]), as RFC 4475 §3.1.2 expects, and drops a malformed response.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer holds no message (empty, or only CRLFs).
    Empty,
    /// The start line is malformed (RFC 3261 §7.1, §7.2): wrong number of SP-separated
    /// elements, extra or trailing SP, or a missing SIP-Version.
    StartLine,
    /// The request method is not a `token` (RFC 3261 §25.1 `Method`).
    BadMethod,
    /// A URI is malformed (RFC 3261 §19.1.1, §25.1), including a Request-URI that carries
    /// `<>`, LWS or `?headers` (RFC 4475 §3.1.2.7, §3.1.2.8, §3.1.2.11).
    BadUri,
    /// The SIP-Version is not `SIP/<digits>.<digits>` (RFC 3261 §7.1). A well-formed
    /// version other than 2.0 is *not* an error: see [`crate::Version`].
    BadVersion,
    /// The status code is not three digits in 100..=699 (RFC 3261 §7.2, RFC 4475 §3.1.2.19).
    BadStatusCode,
    /// A header line has no `:` or its name is not a `token` (RFC 3261 §7.3.1).
    HeaderName,
    /// The value of this header is malformed (RFC 3261 §20).
    HeaderValue(HeaderName),
    /// A header required in every request and response is missing (RFC 3261 §8.1.1).
    MissingHeader(HeaderName),
    /// A header that may appear once appears again with another value (RFC 4475 §3.3.8,
    /// §3.3.9).
    DuplicateHeader(HeaderName),
    /// A Via header value is malformed (RFC 3261 §20.42), e.g. empty params (RFC 4475
    /// §3.1.2.1).
    BadVia,
    /// The CSeq header is malformed or its number is not below 2**31 (RFC 3261 §8.1.1.5,
    /// RFC 4475 §3.1.2.4).
    BadCSeq,
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5, RFC 4475
    /// §3.1.2.17).
    CSeqMethodMismatch,
    /// Content-Length is not `1*DIGIT` (RFC 3261 §20.14, RFC 4475 §3.1.2.3).
    BadContentLength,
    /// Content-Length announces more bytes than the message holds (RFC 4475 §3.1.2.2).
    BodyTruncated,
    /// Max-Forwards is not `1*DIGIT` (RFC 3261 §20.22).
    BadMaxForwards,
    /// A quoted string has no closing quote (RFC 4475 §3.1.2.6).
    UnterminatedQuote,
    /// A From, To, Contact or similar value is not a valid `name-addr` / `addr-spec`
    /// (RFC 3261 §20.10, §20.20, §20.39; RFC 4475 §3.1.2.13-15).
    BadNameAddr,
    /// The header section does not end with an empty line (RFC 3261 §7).
    HeadersUnterminated,
    /// More than [`crate::MAX_HEADERS`] header lines.
    TooManyHeaders,
    /// More than [`crate::MAX_VIAS`] Via values.
    TooManyVias,
    /// The message or its header section exceeds a size limit ([`crate::MAX_MESSAGE`] or
    /// the `max_header` given to [`crate::frame`]).
    TooLarge,
    /// The message is incomplete. [`crate::frame`] reports this as
    /// [`crate::Framing::Partial`] and [`crate::parse`] as [`ParseError::HeadersUnterminated`]
    /// or [`ParseError::BodyTruncated`]; this variant is for transports that turn a
    /// `Partial` they cannot wait on (a datagram, a closing stream) into an error.
    Partial,
}

impl ParseError {
    /// The reason phrase for the error response, e.g. `"Bad Via header"` for `400 Bad Via
    /// header`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "Empty message",
            Self::StartLine => "Malformed start line",
            Self::BadMethod => "Bad method",
            Self::BadUri => "Bad Request-URI",
            Self::BadVersion => "Bad SIP version",
            Self::BadStatusCode => "Bad status code",
            Self::HeaderName => "Malformed header line",
            Self::HeaderValue(h) => match h {
                HeaderName::Contact => "Bad Contact header",
                HeaderName::CallId => "Bad Call-ID header",
                HeaderName::Date => "Bad Date header",
                HeaderName::From => "Bad From header",
                HeaderName::To => "Bad To header",
                _ => "Bad header value",
            },
            Self::MissingHeader(h) => match h {
                HeaderName::Via => "Missing Via header",
                HeaderName::From => "Missing From header",
                HeaderName::To => "Missing To header",
                HeaderName::CallId => "Missing Call-ID header",
                HeaderName::CSeq => "Missing CSeq header",
                HeaderName::ContentLength => "Missing Content-Length header",
                _ => "Missing header",
            },
            Self::DuplicateHeader(h) => match h {
                HeaderName::From => "Multiple From headers",
                HeaderName::To => "Multiple To headers",
                HeaderName::CallId => "Multiple Call-ID headers",
                HeaderName::CSeq => "Multiple CSeq headers",
                HeaderName::ContentLength => "Multiple Content-Length headers",
                HeaderName::MaxForwards => "Multiple Max-Forwards headers",
                _ => "Duplicate header",
            },
            Self::BadVia => "Bad Via header",
            Self::BadCSeq => "Bad CSeq header",
            Self::CSeqMethodMismatch => "CSeq method does not match request method",
            Self::BadContentLength => "Bad Content-Length header",
            Self::BodyTruncated => "Content-Length larger than message",
            Self::BadMaxForwards => "Bad Max-Forwards header",
            Self::UnterminatedQuote => "Unterminated quoted string",
            Self::BadNameAddr => "Bad address header",
            Self::HeadersUnterminated => "Header section not terminated",
            Self::TooManyHeaders => "Too many headers",
            Self::TooManyVias => "Too many Via headers",
            Self::TooLarge => "Message too large",
            Self::Partial => "Incomplete message",
        }
    }

    /// The response status for a request that failed with this error: 400 (RFC 3261
    /// §21.4.1), or 513 Message Too Large (RFC 3261 §21.5.13) for size limits. Never 505:
    /// an unsupported version parses (see [`crate::Version`]).
    pub fn status(&self) -> u16 {
        match self {
            Self::TooLarge => 513,
            _ => 400,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for ParseError {}
