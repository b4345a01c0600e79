//! Destination host resolution for `forward()` and reply routing (RFC 3263 is not done here:
//! only A/AAAA through the system resolver, no NAPTR/SRV).
//!
//! IP literals take a fast path with no lookup. Names go through `std::net::ToSocketAddrs`,
//! which **blocks the worker** for the duration of the lookup; results (including failures)
//! are kept in a small per-router cache for [`CACHE_TTL`] so a hot destination is looked up
//! once a minute. Moving lookups to the helper pool (ARCHITECTURE decision 6) is future work;
//! the benchmark configurations use IP literals only (`dns=no`).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use ferrosip_parser::Proto;

use super::text::parse_ip;

/// Entries kept per router (bound on memory and on the cost of the linear scan).
pub(crate) const CACHE_SIZE: usize = 32;
/// How long an answer (positive or negative) is reused.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(60);
/// Longest host name looked up (RFC 1035 §2.3.4: 255 octets).
const MAX_NAME: usize = 255;

/// A small bounded cache of name lookups, one per router.
#[derive(Debug, Default)]
pub(crate) struct Resolver {
    entries: Vec<(String, Option<IpAddr>, Instant)>,
    /// The last URI that parsed (`$du = "sip:..."` sets the same text for every message).
    valid_uri: String,
    /// The last destination URI with an IP-literal host, the forced transport it was
    /// resolved for, and the destination: nothing about it can change.
    uri: String,
    uri_force: Option<Proto>,
    uri_dest: Option<(SocketAddr, Proto)>,
    /// The last IP literal parsed and its address (replies keep naming the same hop).
    literal: String,
    literal_ip: Option<IpAddr>,
}

/// Longest URI text remembered by the per-router URI memo.
const MAX_MEMO_URI: usize = 256;

impl Resolver {
    /// Whether `uri` is the text of the last URI that [`Resolver::remember_valid_uri`] was
    /// told parses.
    #[inline]
    pub(crate) fn is_valid_uri(&self, uri: &str) -> bool {
        !self.valid_uri.is_empty() && self.valid_uri == uri
    }

    /// Remembers that `uri` parses (a short URI only; the buffer is reused).
    pub(crate) fn remember_valid_uri(&mut self, uri: &str) {
        if uri.len() <= MAX_MEMO_URI {
            self.valid_uri.clear();
            self.valid_uri.push_str(uri);
        }
    }

    /// The destination of `uri` (with transport `force`) remembered by
    /// [`Resolver::remember_uri_dest`].
    #[inline]
    pub(crate) fn uri_dest(&self, uri: &str, force: Option<Proto>) -> Option<(SocketAddr, Proto)> {
        self.uri_dest
            .filter(|_| self.uri_force == force && self.uri == uri)
    }

    /// Remembers the destination of `uri`, whose host is an IP literal (a name could
    /// resolve differently later).
    pub(crate) fn remember_uri_dest(
        &mut self,
        uri: &str,
        force: Option<Proto>,
        dest: (SocketAddr, Proto),
    ) {
        if uri.len() <= MAX_MEMO_URI {
            self.uri.clear();
            self.uri.push_str(uri);
            self.uri_force = force;
            self.uri_dest = Some(dest);
        }
    }

    /// Resolves `host` (a name or an IP literal, IPv6 with or without brackets). `None` when it
    /// cannot be resolved.
    pub(crate) fn resolve(&mut self, host: &str) -> Option<IpAddr> {
        if self.literal_ip.is_some() && self.literal == host {
            return self.literal_ip;
        }
        if let Some(ip) = parse_ip(host.as_bytes()) {
            if host.len() <= 64 {
                self.literal.clear();
                self.literal.push_str(host);
                self.literal_ip = Some(ip);
            }
            return Some(ip);
        }
        if host.is_empty()
            || host.len() > MAX_NAME
            || !host
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
        {
            return None;
        }
        let now = Instant::now();
        if let Some(e) = self.entries.iter().find(|e| e.0.eq_ignore_ascii_case(host)) {
            if now.duration_since(e.2) < CACHE_TTL {
                return e.1;
            }
        }
        let ip = (host, 0u16)
            .to_socket_addrs()
            .ok()
            .and_then(|mut it| it.next())
            .map(|a: SocketAddr| a.ip());
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.0.eq_ignore_ascii_case(host))
        {
            e.1 = ip;
            e.2 = now;
        } else if self.entries.len() < CACHE_SIZE {
            self.entries.push((host.to_owned(), ip, now));
        } else if let Some(oldest) = self.entries.iter_mut().min_by_key(|e| e.2) {
            *oldest = (host.to_owned(), ip, now);
        }
        ip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_garbage() {
        let mut r = Resolver::default();
        assert_eq!(r.resolve("192.0.2.1"), "192.0.2.1".parse().ok());
        assert_eq!(r.resolve("[::1]"), "::1".parse().ok());
        assert_eq!(r.resolve("[::1]"), "::1".parse().ok());
        assert_eq!(r.resolve("192.0.2.1"), "192.0.2.1".parse().ok());
        assert_eq!(r.resolve("a b"), None);
        assert_eq!(r.resolve(""), None);
        assert_eq!(
            r.resolve("localhost").map(|ip| ip.is_loopback()),
            Some(true)
        );
    }
}
