//! What every scenario shares: the per-worker settings ([`Setup`]), the outgoing message
//! queue ([`Outbox`]) and small helpers to write SIP text without allocating per message.

use crate::cli::{Qop, RegThen, Scenario};
use crate::users::Users;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;

/// One worker's settings, derived from the command line.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Worker index.
    pub worker: usize,
    /// Workers in the run.
    pub workers: usize,
    /// Scenario.
    pub scenario: Scenario,
    /// Where requests go.
    pub remote: SocketAddr,
    /// Local address (as written into Via/Contact); the port is filled in once bound.
    pub local: SocketAddr,
    /// TCP instead of UDP (no retransmissions, Via transport TCP).
    pub tcp: bool,
    /// This worker's share of the starting rate (calls/s).
    pub rate: f64,
    /// This worker's share of the ramp step.
    pub rate_increase: f64,
    /// This worker's share of the ramp ceiling.
    pub rate_max: f64,
    /// Seconds between ramp steps.
    pub rate_interval: f64,
    /// This worker's share of the concurrent-call cap.
    pub limit: u64,
    /// This worker's share of the total calls (`u64::MAX`: no limit).
    pub max_calls: u64,
    /// Stop starting calls after this many seconds.
    pub duration: Option<f64>,
    /// Hold time between the call's steps, µs.
    pub hold_us: u64,
    /// Request-URI user part.
    pub service: String,
    /// Users for REGISTER (and the uas registrar).
    pub users: Option<Arc<Users>>,
    /// Register: refresh/unregister after the registration.
    pub reg_then: RegThen,
    /// REGISTER Expires.
    pub expires: u32,
    /// uas registrar: qop offered.
    pub qop: Qop,
    /// uas: send 100 Trying.
    pub trying: bool,
    /// T1, µs.
    pub t1_us: u64,
    /// T2, µs.
    pub t2_us: u64,
    /// Transaction timeout (Timer B/F), µs.
    pub timeout_us: u64,
    /// Run identifier: part of every Call-ID, branch and tag, so calls of another run (or a
    /// previous --find-max step) never match ours.
    pub run_id: u32,
    /// Pin the worker to a core.
    pub pin: bool,
    /// UDP: segmentation offload for runs of equal-sized datagrams, GRO on receive.
    pub gso: bool,
}

impl Setup {
    /// The Via transport token.
    pub fn transport(&self) -> &'static str {
        if self.tcp {
            "TCP"
        } else {
            "UDP"
        }
    }
}

/// Where an outgoing message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// A UDP datagram to this address.
    Udp(SocketAddr),
    /// The TCP connection with this index in the worker's table.
    Conn(usize),
}

/// The most bytes queued for sending in one flush (a bound: a flush happens at least once per
/// receive batch and once per tick).
pub const MAX_OUTBOX: usize = 16 << 20;

/// Messages waiting to be sent, all in one buffer.
///
/// Each message has a rank (see [`rank`]): a flush may send messages of a lower rank before
/// queued messages of a higher one, and reorder messages of one rank, so that equal-sized
/// messages to one destination become runs for one GSO send. Ranks follow the order of a
/// call's messages, so what one call sends in a flush keeps its order.
#[derive(Debug, Default)]
pub struct Outbox {
    /// The bytes of all queued messages.
    pub buf: Vec<u8>,
    /// Each message's range in `buf`, destination and rank.
    pub msgs: Vec<(Range<usize>, Dest, u8)>,
    /// Messages refused because the outbox was full.
    pub dropped: u64,
}

impl Outbox {
    /// Queues a copy of `data` for `dest`; `false` if the outbox is full.
    pub fn push(&mut self, data: &[u8], dest: Dest) -> bool {
        if self.buf.len() + data.len() > MAX_OUTBOX {
            self.dropped += 1;
            return false;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(data);
        self.msgs.push((start..self.buf.len(), dest, rank(data)));
        true
    }

    /// Empties the outbox, keeping its memory.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.msgs.clear();
    }
}

/// A message's place in the order of one call's messages within a flush: requests that start
/// a transaction (INVITE, REGISTER, OPTIONS, MESSAGE) 0, a 100 Trying 0, ACK and the other
/// provisionals 1, BYE and final responses 2. A call sends at most one message of each rank
/// per flush (the uac: ACK then BYE; the uas: 100, 180, then 200), and lower ranks go first.
pub fn rank(data: &[u8]) -> u8 {
    if let Some(rest) = data.strip_prefix(b"SIP/2.0 ") {
        return match rest.get(..3) {
            Some(b"100") => 0,
            Some([b'1', ..]) => 1,
            _ => 2,
        };
    }
    if data.starts_with(b"ACK ") {
        1
    } else if data.starts_with(b"BYE ") {
        2
    } else {
        0
    }
}

/// Appends `n` in lowercase hex, zero-padded to at least `width` digits: identifiers of one
/// width make every call's messages the same size, so they go out in GSO runs.
pub fn push_hex_width(out: &mut Vec<u8>, n: u64, width: usize) {
    let digits = (64 - n.leading_zeros() as usize).div_ceil(4).max(1);
    out.extend(std::iter::repeat_n(b'0', width.saturating_sub(digits)));
    push_hex(out, n);
}

/// Appends `n` in decimal.
pub fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends `n` in lowercase hex.
pub fn push_hex(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 16];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b"0123456789abcdef"[(n & 15) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends `Content-Length: n\r\n\r\n` and the body.
pub fn push_body(out: &mut Vec<u8>, ctype: Option<&str>, body: &[u8]) {
    if let Some(ct) = ctype {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(ct.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    push_u64(out, body.len() as u64);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

/// The reason phrase for the statuses we send.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        481 => "Call/Transaction Does Not Exist",
        _ => "Unknown",
    }
}

/// FNV-1a, for the uas's deterministic To-tags (not a table key: no keyed hash needed).
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Writes `host:port` of `addr` (IPv6 in brackets).
pub fn push_addr(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr {
        SocketAddr::V4(a) => {
            out.extend_from_slice(a.ip().to_string().as_bytes());
        }
        SocketAddr::V6(a) => {
            out.push(b'[');
            out.extend_from_slice(a.ip().to_string().as_bytes());
            out.push(b']');
        }
    }
    out.push(b':');
    push_u64(out, u64::from(addr.port()));
}

/// The SDP offer/answer body (one PCMU audio stream), as SIPp's built-in scenarios send.
pub fn sdp(ip: &str) -> String {
    let v = if ip.contains(':') { "IP6" } else { "IP4" };
    format!(
        "v=0\r\no=user1 53655765 2353687637 IN {v} {ip}\r\ns=-\r\nc=IN {v} {ip}\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_a_calls_message_order() {
        let r = |s: &str| rank(s.as_bytes());
        assert_eq!(r("INVITE sip:a@b SIP/2.0\r\n"), 0);
        assert_eq!(r("REGISTER sip:b SIP/2.0\r\n"), 0);
        assert_eq!(r("SIP/2.0 100 Trying\r\n"), 0);
        assert_eq!(r("SIP/2.0 180 Ringing\r\n"), 1);
        assert_eq!(r("ACK sip:a@b SIP/2.0\r\n"), 1);
        assert_eq!(r("SIP/2.0 200 OK\r\n"), 2);
        assert_eq!(r("SIP/2.0 401 Unauthorized\r\n"), 2);
        assert_eq!(r("BYE sip:a@b SIP/2.0\r\n"), 2);
    }

    #[test]
    fn numbers_and_outbox() {
        let mut v = Vec::new();
        push_u64(&mut v, 0);
        v.push(b' ');
        push_u64(&mut v, 18_446_744_073_709_551_615);
        v.push(b' ');
        push_hex(&mut v, 0xdead_beef);
        assert_eq!(v, b"0 18446744073709551615 deadbeef");
        let mut h = Vec::new();
        push_hex_width(&mut h, 0xab, 4);
        h.push(b' ');
        push_hex_width(&mut h, 0x12345, 4);
        h.push(b' ');
        push_hex_width(&mut h, 0, 3);
        h.push(b' ');
        push_hex_width(&mut h, u64::MAX, 4);
        assert_eq!(h, b"00ab 12345 000 ffffffffffffffff");
        let mut o = Outbox::default();
        assert!(o.push(b"abc", Dest::Conn(1)));
        assert_eq!(o.msgs[0].0, 0..3);
        let big = vec![0u8; MAX_OUTBOX];
        assert!(!o.push(&big, Dest::Conn(1)));
        assert_eq!(o.dropped, 1);
        let mut a = Vec::new();
        push_addr(&mut a, &"[::1]:5060".parse().unwrap());
        assert_eq!(a, b"[::1]:5060");
    }
}
