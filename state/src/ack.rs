//! Building the hop-by-hop ACK for a non-2xx final response, RFC 3261 §17.1.1.3.

/// A header value given to [`AckParts::build`] that would break the message framing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// The named field contains CR, LF or NUL (header injection, RFC 3261 §7.3.1) or is empty.
    #[error("invalid value for {0}")]
    InvalidValue(&'static str),
}

/// Owned pieces of the INVITE (and of the response's To) that RFC 3261 §17.1.1.3 copies into
/// the ACK. The transaction user fills it when the INVITE is sent (everything but `to`) and
/// sets `to` from the response inside the `build_ack` closure given to
/// [`ClientInviteTx::handle_response`](crate::ClientInviteTx::handle_response).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckParts {
    /// The INVITE's Request-URI ("MUST be equal to the Request-URI of the original
    /// request", §17.1.1.3).
    pub request_uri: String,
    /// The INVITE's top Via value ("a single Via header field ... equal to the top Via
    /// header field of the original request", §17.1.1.3).
    pub via: String,
    /// The INVITE's Route values, in order ("MUST contain ... the Route header field
    /// values of the original request", §17.1.1.3).
    pub routes: Vec<String>,
    /// The INVITE's From value, tag included.
    pub from: String,
    /// The response's To value, with the tag the UAS added (§17.1.1.3).
    pub to: String,
    /// The INVITE's Call-ID.
    pub call_id: String,
    /// The INVITE's CSeq number; the method becomes ACK (§17.1.1.3).
    pub cseq: u32,
}

impl AckParts {
    /// Max-Forwards of the generated ACK (RFC 3261 §8.1.1.6 recommends 70).
    pub const MAX_FORWARDS: u8 = 70;

    /// Serializes the ACK (RFC 3261 §17.1.1.3): no body, `Content-Length: 0`. Fails, rather
    /// than emit a broken message, when a value holds CR/LF/NUL or a mandatory one is empty.
    ///
    /// # Errors
    /// [`AckError::InvalidValue`] names the first field that is empty or holds CR/LF/NUL.
    pub fn build(&self) -> Result<Vec<u8>, AckError> {
        check("Request-URI", &self.request_uri)?;
        check("Via", &self.via)?;
        check("From", &self.from)?;
        check("To", &self.to)?;
        check("Call-ID", &self.call_id)?;
        for r in &self.routes {
            check("Route", r)?;
        }
        let mut out = Vec::with_capacity(
            160 + self.request_uri.len()
                + self.via.len()
                + self.from.len()
                + self.to.len()
                + self.call_id.len()
                + self.routes.iter().map(|r| r.len() + 9).sum::<usize>(),
        );
        out.extend_from_slice(b"ACK ");
        out.extend_from_slice(self.request_uri.as_bytes());
        out.extend_from_slice(b" SIP/2.0\r\n");
        let mut header = |name: &str, value: &str| {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        header("Via", &self.via);
        for r in &self.routes {
            header("Route", r);
        }
        header("Max-Forwards", &Self::MAX_FORWARDS.to_string());
        header("From", &self.from);
        header("To", &self.to);
        header("Call-ID", &self.call_id);
        header("CSeq", &format!("{} ACK", self.cseq));
        header("Content-Length", "0");
        out.extend_from_slice(b"\r\n");
        Ok(out)
    }
}

fn check(field: &'static str, v: &str) -> Result<(), AckError> {
    if v.trim().is_empty() || v.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(AckError::InvalidValue(field));
    }
    Ok(())
}
