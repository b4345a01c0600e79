//! The server side (`-sn uas`): answers INVITE with (100) 180 and a 200 carrying a To-tag and
//! SDP, retransmits that 200 on T1..T2 until the ACK arrives (RFC 3261 §13.3.1.4, giving up at
//! 64·T1), absorbs the ACK, answers BYE/OPTIONS/MESSAGE/CANCEL with 200, and, when users are
//! given, acts as a registrar that challenges REGISTER with a 401 digest challenge
//! (RFC 3261 §22.4, RFC 2617) and accepts correct credentials with 200 (403 otherwise).
//! Sans-IO like [`crate::uac::Uac`].

use crate::cli::Qop;
use crate::digest::{md5_hex, verify};
use crate::sip::{fnv1a, push_body, push_u64, reason, sdp, Dest, Outbox, Setup};
use crate::stats::{Counters, Hists};
use ahash::RandomState;
use bumpalo::Bump;
use ferrosip_parser::{parse, HeaderName, Message, Method};
use ferrosip_transports::callid::find_call_id;
use std::collections::HashMap;

/// The most 2xx responses awaiting their ACK per worker. Entries live one round trip; when
/// full, calls are still answered but their 200 is not retransmitted (counted in
/// `table_full`).
pub const MAX_PENDING: usize = 65_536;

/// How often the pending 2xx table is scanned for retransmissions (µs).
const SCAN_EVERY_US: u64 = 20_000;

/// A 2xx waiting for its ACK.
#[derive(Debug)]
struct Pending {
    resp: Vec<u8>,
    dest: Dest,
    iv: u64,
    at: u64,
    deadline: u64,
}

/// The server engine of one worker.
pub struct Uas {
    setup: Setup,
    pending: HashMap<Box<[u8]>, Pending, RandomState>,
    /// Messages to send.
    pub out: Outbox,
    /// Counters since the last report.
    pub counters: Counters,
    /// Latencies (the uas records none; kept for a uniform report).
    pub hists: Hists,
    contact: String,
    sdp: String,
    secret: String,
    next_scan: u64,
    arena: Bump,
    buf: Vec<u8>,
    /// Spare response buffers (bounded by [`MAX_POOL`]), so a call costs no allocation.
    pool: Vec<Vec<u8>>,
}

/// Most spare response buffers kept.
const MAX_POOL: usize = 4096;

impl Uas {
    /// A server engine; `setup.local` must hold the bound address.
    pub fn new(setup: Setup) -> Self {
        let ip = match setup.local {
            std::net::SocketAddr::V4(a) => a.ip().to_string(),
            std::net::SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let contact = format!(
            "<sip:uas@{ip}:{}{}>",
            setup.local.port(),
            if setup.tcp { ";transport=tcp" } else { "" }
        );
        let sdp = sdp(ip.trim_start_matches('[').trim_end_matches(']'));
        let secret = format!("{:x}{:x}", setup.run_id, std::process::id());
        Self {
            setup,
            pending: HashMap::with_hasher(RandomState::new()),
            out: Outbox::default(),
            counters: Counters::default(),
            hists: Hists::default(),
            contact,
            sdp,
            secret,
            next_scan: 0,
            arena: Bump::new(),
            buf: Vec::with_capacity(2048),
            pool: Vec::new(),
        }
    }

    /// 2xx responses awaiting an ACK (shown as "active").
    pub fn active(&self) -> u64 {
        self.pending.len() as u64
    }

    /// Retransmits the 2xx responses that are due and drops those past 64·T1.
    pub fn tick(&mut self, now: u64) {
        if now < self.next_scan || self.pending.is_empty() {
            return;
        }
        self.next_scan = now + SCAN_EVERY_US;
        let (t2, out, counters) = (self.setup.t2_us, &mut self.out, &mut self.counters);
        self.pending.retain(|_, p| {
            if now >= p.deadline {
                counters.unexpected += 1; // no ACK ever came (RFC 3261 §13.3.1.4)
                return false;
            }
            if now >= p.at {
                if out.push(&p.resp, p.dest) {
                    counters.sent += 1;
                    counters.retransmissions += 1;
                }
                p.iv = (p.iv * 2).min(t2);
                p.at = now + p.iv;
            }
            true
        });
    }

    /// Handles one received message from `dest` (where answers go).
    pub fn on_message(&mut self, data: &[u8], dest: Dest, now: u64) {
        self.counters.received += 1;
        // Fast path: an ACK for a 2xx we are retransmitting only needs its Call-ID (one line
        // scan instead of a full parse: a third of the requests of every call).
        if data.starts_with(b"ACK ") {
            if let Some(p) = find_call_id(data).and_then(|id| self.pending.remove(id)) {
                if self.pool.len() < MAX_POOL {
                    self.pool.push(p.resp);
                }
                return;
            }
        }
        let mut arena = std::mem::take(&mut self.arena);
        arena.reset();
        match parse(data, &arena) {
            Ok(msg) if msg.is_request() => self.on_request(&msg, dest, now),
            Ok(_) => self.counters.unexpected += 1,
            Err(_) => self.counters.parse_errors += 1,
        }
        self.arena = arena;
    }

    fn on_request(&mut self, msg: &Message<'_>, dest: Dest, now: u64) {
        let (Some(method), Some(call_id)) = (msg.method(), msg.call_id()) else {
            self.counters.parse_errors += 1;
            return;
        };
        match method {
            Method::Invite => {
                if let Some(p) = self.pending.get(call_id.as_bytes()) {
                    // INVITE retransmission: the 200 again.
                    if self.out.push(&p.resp, p.dest) {
                        self.counters.sent += 1;
                        self.counters.retransmissions += 1;
                    }
                    return;
                }
                self.counters.answered += 1;
                let tag = totag(msg);
                let tag = tag.as_str();
                if self.setup.trying {
                    self.respond(msg, dest, 100, None, &[]);
                }
                self.respond(msg, dest, 180, Some(tag), &[]);
                self.respond(msg, dest, 200, Some(tag), &[]);
                if self.setup.tcp {
                    return; // reliable transport: no 2xx retransmission
                }
                if self.pending.len() >= MAX_PENDING {
                    self.counters.table_full += 1;
                    return;
                }
                let mut resp = self.pool.pop().unwrap_or_default();
                resp.clear();
                resp.extend_from_slice(&self.buf);
                let t1 = self.setup.t1_us;
                self.pending.insert(
                    call_id.as_bytes().into(),
                    Pending {
                        resp,
                        dest,
                        iv: t1,
                        at: now + t1,
                        deadline: now + 64 * t1,
                    },
                );
            }
            Method::Ack => match self.pending.remove(call_id.as_bytes()) {
                Some(p) if self.pool.len() < MAX_POOL => self.pool.push(p.resp),
                Some(_) => {}
                None if !self.setup.tcp => self.counters.stray += 1,
                None => {}
            },
            Method::Register if self.setup.users.is_some() => self.register(msg, dest, now),
            _ => {
                self.counters.answered += 1;
                let tag = totag(msg);
                self.respond(msg, dest, 200, Some(tag.as_str()), &[]);
            }
        }
    }

    fn register(&mut self, msg: &Message<'_>, dest: Dest, now: u64) {
        self.counters.answered += 1;
        let realm = msg
            .to()
            .map(|t| t.uri.host)
            .unwrap_or("ferrosip")
            .to_string();
        let creds = msg
            .header(HeaderName::Authorization)
            .and_then(|h| h.value_str());
        let Some(creds) = creds else {
            let nonce = self.nonce(now);
            let qop = if self.setup.qop == Qop::Auth {
                ", qop=\"auth\""
            } else {
                ""
            };
            let h = format!(
                "WWW-Authenticate: Digest realm=\"{realm}\", nonce=\"{nonce}\"{qop}, algorithm=MD5\r\n"
            );
            self.respond(msg, dest, 401, Some("ch"), h.as_bytes());
            return;
        };
        let users = self.setup.users.clone();
        let pw = users.as_ref().and_then(|u| {
            crate::digest::digest_params(creds)?
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("username"))
                .and_then(|(_, v)| u.password_of(v))
        });
        let nonce_ok = crate::digest::digest_params(creds)
            .and_then(|p| {
                p.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("nonce"))
                    .map(|p| p.1.to_string())
            })
            .is_some_and(|n| self.nonce_valid(&n));
        let ok = nonce_ok
            && pw
                .as_deref()
                .is_some_and(|pw| verify(creds, "REGISTER", |_| Some(pw)).is_some());
        if ok {
            let mut extra = Vec::with_capacity(128);
            if let Some(c) = msg.header(HeaderName::Contact) {
                extra.extend_from_slice(b"Contact: ");
                extra.extend_from_slice(c.value);
                extra.extend_from_slice(b"\r\n");
            }
            self.respond(msg, dest, 200, Some("reg"), &extra);
        } else {
            self.counters.auth_rejected += 1;
            self.respond(msg, dest, 403, Some("reg"), &[]);
        }
    }

    /// A stateless nonce: the time it was made and a MAC of it (valid for an hour).
    fn nonce(&self, now: u64) -> String {
        let ts = format!("{:x}", now / 1_000_000);
        let mac = md5_hex(&[&self.secret, ":", &ts]);
        format!("{ts}.{}", &mac[..16])
    }

    fn nonce_valid(&self, n: &str) -> bool {
        let Some((ts, mac)) = n.split_once('.') else {
            return false;
        };
        md5_hex(&[&self.secret, ":", ts]).get(..16) == Some(mac)
    }

    /// Writes a response to `msg` into `self.buf` and queues it: Via lines, From, Call-ID and
    /// CSeq copied, To with `tag` added if it has none, `extra` header lines.
    fn respond(
        &mut self,
        msg: &Message<'_>,
        dest: Dest,
        status: u16,
        tag: Option<&str>,
        extra: &[u8],
    ) {
        let out = &mut self.buf;
        out.clear();
        out.extend_from_slice(b"SIP/2.0 ");
        push_u64(out, u64::from(status));
        out.push(b' ');
        out.extend_from_slice(reason(status).as_bytes());
        out.extend_from_slice(b"\r\n");
        let buf = msg.buf();
        let mut has_tag = false;
        for h in msg.headers() {
            match h.name {
                HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                    out.extend_from_slice(&buf[h.line.clone()]);
                }
                HeaderName::RecordRoute if status != 100 => {
                    out.extend_from_slice(&buf[h.line.clone()]);
                }
                HeaderName::To => {
                    out.extend_from_slice(b"To: ");
                    out.extend_from_slice(h.value);
                    has_tag = msg.to().is_some_and(|t| t.tag.is_some());
                    if let (false, Some(t), true) = (has_tag, tag, status > 100) {
                        out.extend_from_slice(b";tag=");
                        out.extend_from_slice(t.as_bytes());
                    }
                    out.extend_from_slice(b"\r\n");
                }
                _ => {}
            }
        }
        let _ = has_tag;
        out.extend_from_slice(extra);
        let invite = msg.method() == Some(Method::Invite);
        if invite && status > 100 {
            out.extend_from_slice(b"Contact: ");
            out.extend_from_slice(self.contact.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Server: ferrosip-bench\r\n");
        if invite && (200..300).contains(&status) {
            push_body(out, Some("application/sdp"), self.sdp.as_bytes());
        } else {
            push_body(out, None, b"");
        }
        if self.out.push(&self.buf, dest) {
            self.counters.sent += 1;
        }
    }
}

/// A To-tag: 16 lowercase hex digits.
struct Tag([u8; 16]);

impl Tag {
    fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or("0")
    }
}

/// The To-tag for a dialog: a hash of the Call-ID and From-tag, so retransmitted INVITEs get
/// the same tag without any state.
fn totag(msg: &Message<'_>) -> Tag {
    let ftag = msg.from().and_then(|f| f.tag).unwrap_or("");
    let mut h = fnv1a(&[
        msg.call_id().unwrap_or("").as_bytes(),
        b"/",
        ftag.as_bytes(),
    ]);
    let mut t = [b'0'; 16];
    for b in t.iter_mut().rev() {
        *b = b"0123456789abcdef"[(h & 15) as usize];
        h >>= 4;
    }
    Tag(t)
}
