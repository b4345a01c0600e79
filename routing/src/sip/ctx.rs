//! The per-message context the interpreter acts on ([`MsgCtx`], the [`Host`] implementation):
//! pseudo-variables, keywords, `myself`, and the built-in functions (core forward, sl, maxfwd,
//! textops, flags, xlog; sanity lives in `sanity.rs`).

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use bumpalo::Bump;
use ferrosip_parser::{Edits, HeaderName, Message, Method, Proto, Scheme, Uri};

use super::hash::{hash_parts, PartHasher};
use super::reply::{reply_destination, ReplySpec, ViaFix};
use super::resolve::Resolver;
use super::stats::Stats;
use super::text::{
    canonical_ip, fmt_u64, hex8, parse_ip, push_hex, push_ip, push_u64, same_header,
    split_host_port, trim_str, ViaScan,
};
use crate::api::{Inbound, LocalSocket, Transmit};
use crate::names::{Builtin, Host, Keyword, Pv, Value};

/// The RFC 3261 §8.1.1.7 magic cookie that starts every RFC 3261 branch.
pub(crate) const MAGIC_COOKIE: &str = "z9hG4bK";
/// Max-Forwards a proxy puts into a request that has none (RFC 3261 §16.6 step 3).
pub(crate) const DEFAULT_MAX_FORWARDS: u32 = 70;
/// Longest text accepted for a header added by the script (`append_hf`), a rewritten URI or
/// a reply reason: the output must still fit a datagram.
pub(crate) const MAX_SCRIPT_TEXT: usize = 4096;

/// Router-wide facts the message side needs, derived once from the config and the worker.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    /// Every listen socket (`WorkerEnv::sockets`).
    pub sockets: Vec<LocalSocket>,
    /// `alias=` entries: host and optional port.
    pub aliases: Vec<(String, Option<u16>)>,
    /// The `Server:` header line for local replies (no CRLF), empty for none.
    pub server: Vec<u8>,
    /// Per-process prefix of the local To-tags of sl replies (hex).
    pub tag_prefix: [u8; 16],
    /// maxfwd `max_limit`.
    pub maxfwd_limit: u32,
    /// sanity module parameters.
    pub sanity: super::sanity::SanityParams,
    /// `sip_warning`: add Kamailio's debugging Warning header (code 392) to local replies.
    pub sip_warning: bool,
    /// The sent-by text of our Via per socket, as [`Shared::write_sent_by`] writes it
    /// (filled by [`Shared::precompute`]; empty means "format it each time").
    pub sent_by: Vec<Vec<u8>>,
    /// rr module parameters.
    pub rr: super::rr::RrParams,
    /// The state this process's workers share (location, htables, profile sizes).
    pub process: std::sync::Arc<super::ProcessState>,
}

impl Shared {
    /// Whether `host[:port]` is one of our addresses: a listen address or its advertised
    /// name (port must match; a missing port means 5060) or an alias (any port if the alias
    /// has none).
    pub(crate) fn is_local(&self, host: &[u8], port: Option<u16>) -> bool {
        let p = port.unwrap_or(5060);
        // The host is parsed once, not once per comparison.
        let ip = parse_ip(host).map(super::text::canonical_ip);
        let same = |h: &str| match (parse_ip(h.as_bytes()), ip) {
            (Some(x), Some(y)) => super::text::canonical_ip(x) == y,
            (None, None) => h.as_bytes().eq_ignore_ascii_case(host),
            _ => false,
        };
        self.sockets.iter().any(|s| {
            (ip == Some(super::text::canonical_ip(s.addr.ip())) && s.addr.port() == p)
                || s.advertise
                    .as_ref()
                    .is_some_and(|(h, ap)| ap.unwrap_or(s.addr.port()) == p && same(h))
        }) || self
            .aliases
            .iter()
            .any(|(h, ap)| (ap.is_none() || *ap == Some(p)) && same(h))
    }

    /// Writes the address we put into our Via for socket `i`: advertised host and port, or the
    /// bound address (IPv6 in brackets, RFC 5118 §4.1).
    fn write_sent_by(&self, i: usize, out: &mut Vec<u8>) {
        if let Some(t) = self.sent_by.get(i) {
            out.extend_from_slice(t);
            return;
        }
        self.format_sent_by(i, out);
    }

    /// Formats the per-socket texts that do not change per message.
    pub(crate) fn precompute(&mut self) {
        self.sent_by = (0..self.sockets.len())
            .map(|i| {
                let mut t = Vec::new();
                self.format_sent_by(i, &mut t);
                t
            })
            .collect();
    }

    fn format_sent_by(&self, i: usize, out: &mut Vec<u8>) {
        let Some(s) = self.sockets.get(i) else { return };
        match &s.advertise {
            Some((h, p)) => {
                out.extend_from_slice(h.as_bytes());
                out.push(b':');
                push_u64(out, u64::from(p.unwrap_or(s.addr.port())));
            }
            None => {
                push_ip(out, s.addr.ip(), true);
                out.push(b':');
                push_u64(out, u64::from(s.addr.port()));
            }
        }
    }
}

/// Edits made by the script itself (`append_hf`, `remove_hf`, `mf_process_maxfwd_header`):
/// kept apart from the per-destination edits of `forward()` so each forward starts from them.
#[derive(Clone, Debug, Default)]
pub(crate) struct ScriptEdits {
    ops: Vec<(Range<usize>, Range<usize>)>,
    data: Vec<u8>,
}

impl ScriptEdits {
    /// Forgets all edits (keeps the allocations).
    pub(crate) fn clear(&mut self) {
        self.ops.clear();
        self.data.clear();
    }

    /// Replaces `range` of the original buffer with `bytes` (an insertion when empty).
    pub(crate) fn replace(&mut self, range: Range<usize>, bytes: &[u8]) {
        let s = self.data.len();
        self.data.extend_from_slice(bytes);
        self.ops.push((range, s..self.data.len()));
    }

    /// A point to come back to with [`ScriptEdits::truncate`].
    pub(crate) fn mark(&self) -> (usize, usize) {
        (self.ops.len(), self.data.len())
    }

    /// Forgets the edits made since `mark`.
    pub(crate) fn truncate(&mut self, mark: (usize, usize)) {
        self.ops.truncate(mark.0);
        self.data.truncate(mark.1);
    }

    /// Copies the edits into `e` (cleared first).
    pub(crate) fn replay(&self, e: &mut Edits) {
        e.clear();
        for (r, d) in &self.ops {
            e.replace(r.clone(), self.data.get(d.clone()).unwrap_or_default());
        }
    }
}

/// A resolved destination.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    /// Where to send.
    pub(crate) addr: SocketAddr,
    /// Over which transport.
    pub(crate) proto: Proto,
}

/// Length of our branches: `z9hG4bK`, 16 hex digits, `.`, 8 hex digits (RFC 3261 §16.6
/// step 8, §8.1.1.7).
pub(crate) const BRANCH_LEN: usize = 32;

/// A request ready to send ([`MsgCtx::prepare_forward`]).
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The destination.
    pub(crate) target: Target,
    /// Index of the socket to send from.
    pub(crate) sock: usize,
    /// The whole request.
    pub(crate) data: Vec<u8>,
    /// The branch of the Via we added.
    pub(crate) branch: [u8; BRANCH_LEN],
}

/// Why `forward()` did not send (their bytes or our configuration, never a bug of ours);
/// `sl_reply_error()` answers with [`Failure::status`] and [`Failure::reason`], the one
/// place these map to the wire (STYLE L7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The destination host does not resolve.
    Unresolvable,
    /// The destination is not a usable unicast address, or its text is not a host.
    BadDestination,
    /// The destination URI does not parse.
    BadUri,
    /// The destination URI is not `sip:`/`sips:` (RFC 3261 §8.2.2.1).
    UnsupportedScheme,
    /// No listen socket of the destination's transport and address family.
    NoSocket,
    /// The script's edits and the forward's edits overlap.
    ConflictingEdits,
    /// A reply has no Request-URI to forward to.
    NoRequestUri,
    /// Max-Forwards reached 0 (RFC 3261 §16.6 step 3).
    TooManyHops,
    /// The request already went through us unchanged (RFC 3261 §16.3 step 4).
    LoopDetected,
    /// The transaction table is full (tm).
    TableFull,
    /// The transaction has its maximum number of branches (tm).
    TooManyBranches,
    /// A module (the registrar) has answered the request with its own error reply, so
    /// `sl_reply_error()` has nothing left to send.
    Replied,
}

impl Failure {
    /// The response status for `sl_reply_error()`.
    pub(crate) fn status(self) -> u16 {
        match self {
            Self::Unresolvable => 478,
            Self::BadDestination | Self::BadUri => 400,
            Self::UnsupportedScheme => 416,
            Self::NoSocket => 503,
            Self::ConflictingEdits | Self::NoRequestUri => 500,
            Self::TooManyHops => 483,
            Self::LoopDetected => 482,
            Self::TableFull => 503,
            Self::TooManyBranches | Self::Replied => 500,
        }
    }

    /// The reason phrase for `sl_reply_error()`.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Unresolvable => "Unresolvable destination",
            Self::BadDestination => "Bad destination address",
            Self::BadUri => "Bad destination URI",
            Self::UnsupportedScheme => "Unsupported URI Scheme",
            Self::NoSocket => "No socket for the destination transport",
            Self::ConflictingEdits => "Conflicting message edits",
            Self::NoRequestUri => "No Request-URI",
            Self::TooManyHops => "Too Many Hops",
            Self::LoopDetected => "Loop Detected",
            Self::TableFull => "Service Unavailable - transaction table full",
            Self::TooManyBranches => "Too many branches",
            Self::Replied => "Server Internal Error",
        }
    }
}

/// The context of one message while its routes run. Implements [`Host`].
pub(crate) struct MsgCtx<'m, 'r> {
    pub(crate) msg: &'r Message<'m>,
    pub(crate) inb: Inbound<'m>,
    pub(crate) arena: &'m Bump,
    pub(crate) sh: &'r Shared,
    pub(crate) resolver: &'r mut Resolver,
    pub(crate) edits: &'r mut ScriptEdits,
    pub(crate) fwd: &'r mut Edits,
    pub(crate) out: &'r mut Vec<Transmit>,
    pub(crate) stats: &'r mut Stats,
    pub(crate) scratch: &'r mut Vec<u8>,
    /// `$ru` after a rewrite.
    pub(crate) new_ruri: Option<&'m str>,
    /// `$du`.
    pub(crate) du: Option<&'m str>,
    /// `setflag` flags.
    pub(crate) flags: u64,
    /// `mf_process_maxfwd_header` already ran (forward must not touch Max-Forwards again).
    pub(crate) maxfwd_done: bool,
    /// The last internal error, for `sl_reply_error()`.
    pub(crate) last_error: Option<Failure>,
    /// Header lines deleted by `remove_hf` (bit per index of `Message::headers`).
    pub(crate) deleted: u128,
    /// Indexes into `out` of the requests `forward()` queued (for `onsend_route`).
    pub(crate) sent: &'r mut Vec<usize>,
    /// rr module state of this message (`record_route`, `loose_route`).
    pub(crate) rr: super::rr::RrState<'m>,
    /// The worker's transaction layer.
    pub(crate) tm: &'r mut super::tm::Tm,
    /// The time the message is handled at (the transaction machines' clock).
    pub(crate) now: std::time::Instant,
    /// tm state of this message.
    pub(crate) t: super::tm::TmMsg,
    /// The worker's dialog module.
    pub(crate) dlg: &'r mut super::dialog::DlgLayer,
    /// dialog state of this message.
    pub(crate) dm: super::dialog::DlgMsg,
    /// auth state of this message (which credentials authenticated).
    pub(crate) auth: super::auth::AuthMsg,
    /// `force_rport`, no-connect and branch flags of this message (`kcore.rs`).
    pub(crate) x: super::kcore::XMsg,
}

/// A Value as text (integers formatted).
pub(crate) fn val_str<'v>(v: &'v Value<'_>) -> Option<Cow<'v, str>> {
    match v {
        Value::Null => None,
        Value::Int(i) => Some(Cow::Owned(i.to_string())),
        Value::Str(s) => Some(Cow::Borrowed(s.as_ref())),
    }
}

/// The bit of a message or branch flag argument (0..=63, Kamailio's flag numbers), `None`
/// for anything else.
pub(crate) fn flag_bit(v: Option<&Value<'_>>) -> Option<u64> {
    v.and_then(val_int)
        .filter(|n| (0..64).contains(n))
        .map(|n| 1u64 << n)
}

/// A Value as an integer (numeric strings converted, as Kamailio does for `"483"`).
pub(crate) fn val_int(v: &Value<'_>) -> Option<i64> {
    match v {
        Value::Null => None,
        Value::Int(i) => Some(*i),
        Value::Str(s) => trim_str(s).parse().ok(),
    }
}

fn bytes_val(b: &[u8]) -> Value<'_> {
    match std::str::from_utf8(b) {
        Ok(s) => Value::Str(Cow::Borrowed(s)),
        Err(_) => Value::Str(Cow::Owned(String::from_utf8_lossy(b).into_owned())),
    }
}

fn str_val(s: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(s))
}

/// `range` of a header line without its final line terminator.
pub(crate) fn without_crlf(buf: &[u8], r: Range<usize>) -> Range<usize> {
    let mut end = r.end.min(buf.len());
    if end > r.start && buf[end - 1] == b'\n' {
        end -= 1;
    }
    if end > r.start && buf[end - 1] == b'\r' {
        end -= 1;
    }
    r.start..end
}

/// Offset range of `sub` inside `buf`, when `sub` is a slice of it.
pub(crate) fn offset_in(buf: &[u8], sub: &[u8]) -> Option<Range<usize>> {
    let b = buf.as_ptr() as usize;
    let s = sub.as_ptr() as usize;
    let start = s.checked_sub(b)?;
    let end = start.checked_add(sub.len())?;
    (end <= buf.len()).then_some(start..end)
}

impl<'m, 'r> MsgCtx<'m, 'r> {
    /// The method of a request, or the CSeq method of a reply (Kamailio's `$rm`).
    pub(crate) fn method_str(&self) -> &'m str {
        match self.msg.method() {
            Some(m) => m.as_str(),
            None => self.msg.cseq().map_or("", |c| c.method.as_str()),
        }
    }

    /// The current Request-URI text (after rewrites).
    pub(crate) fn ruri_str(&self) -> Option<&'m str> {
        self.new_ruri
            .or_else(|| self.msg.ruri_raw().map(|(s, _)| s))
    }

    /// Whether `remove_hf` deleted header line `i`.
    pub(crate) fn is_deleted(&self, i: usize) -> bool {
        i < 128 && self.deleted & (1u128 << i) != 0
    }

    fn is_ack(&self) -> bool {
        matches!(self.msg.method(), Some(Method::Ack))
    }

    fn buf(&self) -> &'m [u8] {
        self.msg.buf()
    }

    pub(crate) fn alloc_str(&self, s: &str) -> &'m str {
        self.arena.alloc_str(s)
    }

    fn header_value(&self, name: &str) -> Option<&'m [u8]> {
        self.msg
            .headers()
            .iter()
            .find(|h| same_header(h.raw_name.as_bytes(), name.as_bytes()))
            .map(|h| h.value)
    }

    /// The stateless branch (RFC 3261 §16.11) for the request as it would be forwarded now:
    /// the transaction part hashes the received top branch (and sent-by) when it has the
    /// magic cookie, else
    /// the top Via, To-tag, From-tag, Call-ID, CSeq number and R-URI; the loop-detection part
    /// (§16.6 step 8) hashes what a loop leaves unchanged (outgoing R-URI, Call-ID, From-tag,
    /// CSeq number, Route and Proxy-Require), not the method or To-tag, so the ACK to a
    /// non-2xx and the CANCEL of an INVITE get the INVITE's branch.
    fn branch_parts(&self) -> (u64, u32) {
        let m = self.msg;
        let buf = self.buf();
        let top = m.top_via();
        let from_tag = m.from().and_then(|f| f.tag).unwrap_or("");
        let call_id = m.call_id().unwrap_or("");
        let mut cseq_buf = [0u8; 20];
        let cseq_num = fmt_u64(u64::from(m.cseq().map_or(0, |c| c.num)), &mut cseq_buf);
        let tx = match top.and_then(|v| v.branch) {
            // With the sent-by too: RFC 3261 §17.2.3 matches on branch and sent-by, so two
            // clients reusing a branch (RFC 4475 §3.2.1) still get different branches.
            Some(b) if b.starts_with(MAGIC_COOKIE) => {
                let (host, port) = top.map_or(("", 0), |v| (v.host, v.port.unwrap_or(0)));
                hash_parts(&[b"c", b.as_bytes(), host.as_bytes(), &port.to_le_bytes()])
            }
            _ => {
                let via = top
                    .and_then(|v| buf.get(v.span.clone()))
                    .unwrap_or_default();
                let to_tag = m.to().and_then(|t| t.tag).unwrap_or("");
                let ruri = m.ruri_raw().map_or("", |(s, _)| s);
                hash_parts(&[
                    b"n",
                    via,
                    to_tag.as_bytes(),
                    from_tag.as_bytes(),
                    call_id.as_bytes(),
                    cseq_num,
                    ruri.as_bytes(),
                ])
            }
        };
        let mut h = PartHasher::default();
        for part in [
            self.ruri_str().unwrap_or("").as_bytes(),
            call_id.as_bytes(),
            from_tag.as_bytes(),
            cseq_num,
        ] {
            h.part(part);
        }
        for hd in m.headers() {
            if matches!(hd.name, HeaderName::Route | HeaderName::ProxyRequire) {
                h.write(hd.value);
            }
        }
        (tx, h.finish() as u32)
    }

    /// The local To-tag of sl replies to this request (RFC 3261 §8.2.6.2): the per-process
    /// prefix, `-`, and a hash of Call-ID, From-tag, top Via branch and CSeq number, so
    /// retransmissions get the same tag.
    fn sl_tag(&self, out: &mut [u8; 25]) {
        out[..16].copy_from_slice(&self.sh.tag_prefix);
        out[16] = b'-';
        let m = self.msg;
        let cseq = m.cseq().map_or(0, |c| c.num).to_le_bytes();
        let h = hash_parts(&[
            m.call_id().unwrap_or("").as_bytes(),
            m.from().and_then(|f| f.tag).unwrap_or("").as_bytes(),
            m.top_via().and_then(|v| v.branch).unwrap_or("").as_bytes(),
            &cseq,
        ]);
        out[17..].copy_from_slice(&hex8(h));
    }

    /// Sends a stateless reply to the request (RFC 3261 §8.2.6, §18.2.2). Returns 1, or -1
    /// when there is nothing to reply to (a response, an ACK) or the code is invalid.
    pub(crate) fn send_reply(&mut self, code: u16, reason: &[u8], extra: &[u8]) -> i32 {
        let Some((data, via)) = self.reply_bytes(code, reason, extra) else {
            self.stats.sl_failures += 1;
            return -1;
        };
        let (proto, mut dst, conn) = reply_destination(via.as_ref(), &self.inb);
        if self.x.force_rport && !proto.is_stream() {
            dst = self.inb.src; // RFC 3581 §4 (force_rport)
        }
        self.out.push(Transmit {
            proto,
            dst,
            local: Some(self.inb.local),
            conn,
            no_connect: self.x.reply_no_connect,
            data,
        });
        self.stats.local_replies += 1;
        self.stats.count_sl_reply(code);
        1
    }

    /// A local reply to the request (RFC 3261 §8.2.6: its Via, From, To with our tag,
    /// Call-ID, CSeq), and the scan of its top Via; `None` for a response, an ACK or an
    /// invalid code.
    pub(crate) fn reply_bytes(
        &self,
        code: u16,
        reason: &[u8],
        extra: &[u8],
    ) -> Option<(Vec<u8>, Option<ViaScan<'m>>)> {
        if !self.msg.is_request() || self.is_ack() || !(100..=699).contains(&code) {
            return None;
        }
        let mut tag = [0u8; 25];
        self.sl_tag(&mut tag);
        let reason = &reason[..reason.len().min(MAX_SCRIPT_TEXT)];
        let mut warned;
        let extra = if self.sh.sip_warning {
            warned = extra.to_vec();
            self.write_warning(&mut warned);
            &warned[..]
        } else {
            extra
        };
        let spec = ReplySpec {
            code,
            reason,
            to_tag: &tag,
            server: &self.sh.server,
            extra,
        };
        let buf = self.buf();
        let mut data = Vec::with_capacity(512 + self.msg.headers_end().min(2048));
        let fields = self
            .msg
            .headers()
            .iter()
            .map(|h| (h.raw_name.as_bytes(), without_crlf(buf, h.line.clone())));
        let via = super::reply::write_reply_rport(
            &mut data,
            &spec,
            buf,
            fields,
            self.inb.src,
            self.x.force_rport,
        );
        Some((data, via))
    }

    /// Kamailio's `sip_warning` header (RFC 3261 §20.43, warn-code 392 "miscellaneous
    /// warning"): who answered and what it saw, for debugging.
    fn write_warning(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let local = self.sh.sockets.get(self.inb.local).map(|s| s.addr);
        let uri = self.msg.ruri_raw().map_or("", |(u, _)| u);
        let _ = write!(out, "Warning: 392 ");
        match local {
            Some(a) => {
                push_ip(out, a.ip(), true);
                let _ = write!(out, ":{}", a.port());
            }
            None => out.extend_from_slice(b"ferrosip"),
        }
        let _ = write!(
            out,
            " \"Noisy feedback tells: pid={} req_src_ip={} req_src_port={} in_uri={} out_uri={} via_cnt=={}\"\r\n",
            std::process::id(),
            super::text::canonical_ip(self.inb.src.ip()),
            self.inb.src.port(),
            uri.replace('"', ""),
            self.ruri_str().unwrap_or("").replace('"', ""),
            self.msg.vias().len()
        );
    }

    /// `sl_send_reply(code, reason)` (and `send_reply`): stateless, except in a failure route
    /// or (for `send_reply`) when the request has a transaction, where it is `t_reply`.
    fn sl_send_reply(&mut self, args: &[Value<'_>], stateful_if_tx: bool) -> i32 {
        let Some((code, reason)) = reply_args(args) else {
            return -1;
        };
        if self.t.mode == super::tm::RouteMode::Failure || (stateful_if_tx && self.t.cur.is_some())
        {
            return self.t_reply(code, reason.as_bytes());
        }
        self.send_reply(code, reason.as_bytes(), b"")
    }

    /// `sl_reply_error()`: answers with the last internal error (Kamailio `err2reason`),
    /// 500 when none was recorded.
    fn sl_reply_error(&mut self) -> i32 {
        if self.last_error == Some(Failure::Replied) {
            return 1;
        }
        let (code, reason) = self
            .last_error
            .map_or((500, "Server Internal Error"), |f| (f.status(), f.reason()));
        let r = self.send_reply(code, reason.as_bytes(), b"");
        if r > 0 {
            self.stats.sl_err_replies += 1;
        }
        r
    }

    pub(crate) fn fail(&mut self, f: Failure) -> i32 {
        self.last_error = Some(f);
        self.stats.send_errors += 1;
        tracing::debug!(target: "ferrosip::sip", reason = f.reason(), "forward failed");
        -1
    }

    /// Picks the socket to send from: the receiving socket when it fits, else the first of
    /// `proto` with the destination's address family.
    pub(crate) fn pick_socket(&self, proto: Proto, ip: IpAddr) -> Option<usize> {
        let fits = |s: &LocalSocket| s.proto == proto && s.addr.is_ipv4() == ip.is_ipv4();
        if self.sh.sockets.get(self.inb.local).is_some_and(fits) {
            return Some(self.inb.local);
        }
        self.sh.sockets.iter().position(fits)
    }

    /// Resolves a destination (host, port, transport) into an address.
    fn resolve(&mut self, host: &str, port: Option<u16>, proto: Proto) -> Result<Target, Failure> {
        let ip = self.resolver.resolve(host).ok_or(Failure::Unresolvable)?;
        let default_port = if proto == Proto::Tls || proto == Proto::Wss {
            5061
        } else {
            5060
        };
        let port = port.filter(|&p| p != 0).unwrap_or(default_port);
        let unusable = match ip {
            IpAddr::V4(v4) => v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast(),
            IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
        };
        if unusable {
            return Err(Failure::BadDestination);
        }
        Ok(Target {
            addr: SocketAddr::new(ip, port),
            proto,
        })
    }

    /// The destination of `forward(...)`: arguments, else `$du`, else the R-URI (RFC 3261
    /// §16.6 step 6-7; Kamailio's order).
    fn forward_target(
        &mut self,
        args: &[Value<'_>],
        force: Option<Proto>,
    ) -> Result<Target, Failure> {
        if let Some(host) = args.first().and_then(val_str) {
            let port = args
                .get(1)
                .and_then(val_int)
                .and_then(|p| u16::try_from(p).ok());
            let h = host.trim();
            let is_scheme = |p: &str| h.get(..p.len()).is_some_and(|x| x.eq_ignore_ascii_case(p));
            if is_scheme("sip:") || is_scheme("sips:") {
                let mut t = self.uri_target(h, force)?;
                if let Some(p) = port {
                    t.addr.set_port(p);
                }
                return Ok(t);
            }
            let (hh, hp, _) = split_host_port(h.as_bytes());
            let hh = std::str::from_utf8(hh).map_err(|_| Failure::BadDestination)?;
            return self.resolve(hh, port.or(hp), force.unwrap_or(Proto::Udp));
        }
        if let Some(du) = self.du {
            return self.uri_target(du, force);
        }
        let ruri = self.ruri_str().ok_or(Failure::NoRequestUri)?;
        self.uri_target(ruri, force)
    }

    /// Destination from a SIP URI: host, port, `transport=` (default UDP, TLS for sips).
    fn uri_target(&mut self, uri: &str, force: Option<Proto>) -> Result<Target, Failure> {
        if let Some((addr, proto)) = self.resolver.uri_dest(uri, force) {
            return Ok(Target { addr, proto });
        }
        let u = Uri::parse(uri).map_err(|_| Failure::BadUri)?;
        let secure = match u.scheme {
            Scheme::Sip => false,
            Scheme::Sips => true,
            Scheme::Tel | Scheme::Other => return Err(Failure::UnsupportedScheme),
        };
        let transport = u
            .param("transport")
            .flatten()
            .and_then(|t| Proto::from_name(t.as_bytes()));
        let proto = force
            .or(transport)
            .unwrap_or(if secure { Proto::Tls } else { Proto::Udp });
        let mut t = self.resolve(u.host, u.port, proto)?;
        if secure && u.port.is_none() {
            t.addr.set_port(5061);
        }
        if parse_ip(u.host.as_bytes()).is_some() {
            self.resolver
                .remember_uri_dest(uri, force, (t.addr, t.proto));
        }
        Ok(t)
    }

    /// `forward()`, `forward_udp()`, `forward_tcp()`: stateless forwarding (RFC 3261 §16.11).
    /// Returns 1 when queued, negative on failure (the reason is kept for `sl_reply_error`),
    /// and 0 (stop the script) when the request was answered with 483 or 482 instead.
    pub(crate) fn forward(&mut self, args: &[Value<'_>], force: Option<Proto>) -> i32 {
        match self.prepare_forward(args, force, None) {
            Ok(p) => {
                self.sent.push(self.out.len());
                self.out.push(Transmit {
                    proto: p.target.proto,
                    dst: p.target.addr,
                    local: Some(p.sock),
                    conn: None,
                    no_connect: self.x.forward_no_connect,
                    data: p.data,
                });
                self.stats.fwd_requests += 1;
                1
            }
            Err(code) => code,
        }
    }

    /// Builds the request to send to the destination of `forward(...)` / `t_relay(...)`
    /// (RFC 3261 §16.6): Max-Forwards, received/rport, our Via with a branch (§16.6 step 8),
    /// the rewritten R-URI, Record-Route. `salt` makes the branch of a stateful branch
    /// unique per branch index (`None`: the stateless branch of §16.11). `Err` carries the
    /// script return code: negative on failure, 0 when 483/482 was answered instead.
    pub(crate) fn prepare_forward(
        &mut self,
        args: &[Value<'_>],
        force: Option<Proto>,
        salt: Option<u32>,
    ) -> Result<Prepared, i32> {
        // The branch's Path (RFC 3327 §5.3) becomes its first Route headers, on this copy
        // only: another branch of the same request may have another Path.
        let Some(path) = self.tm.path.clone() else {
            return self.prepare_forward_copy(args, force, salt);
        };
        let mark = self.edits.mark();
        let m = self.msg;
        let at = m
            .headers()
            .iter()
            .find(|h| h.name == ferrosip_parser::HeaderName::Route)
            .map_or(m.headers_end(), |h| h.line.start);
        let line = format!("Route: {path}\r\n");
        self.edits.replace(at..at, line.as_bytes());
        let r = self.prepare_forward_copy(args, force, salt);
        self.edits.truncate(mark);
        r
    }

    /// [`MsgCtx::prepare_forward`] once the branch's edits are in place.
    fn prepare_forward_copy(
        &mut self,
        args: &[Value<'_>],
        force: Option<Proto>,
        salt: Option<u32>,
    ) -> Result<Prepared, i32> {
        if !self.msg.is_request() {
            return Err(-1);
        }
        let target = match self.forward_target(args, force) {
            Ok(t) => t,
            Err(f) => return Err(self.fail(f)),
        };
        let Some(sock) = self.pick_socket(target.proto, target.addr.ip()) else {
            return Err(self.fail(Failure::NoSocket));
        };
        let m = self.msg;
        let buf = self.buf();
        // Max-Forwards (RFC 3261 §16.6 step 3).
        let mf = m.max_forwards();
        if !self.maxfwd_done && mf == Some(0) {
            let f = Failure::TooManyHops;
            self.last_error = Some(f);
            self.send_reply(f.status(), f.reason().as_bytes(), b"");
            return Err(0);
        }
        // Loop detection (RFC 3261 §16.3 step 4).
        let (tx, lp) = self.branch_parts();
        let tx = match salt {
            Some(i) => hash_parts(&[&tx.to_le_bytes(), &i.to_le_bytes()]),
            None => tx,
        };
        let mut branch = [0u8; BRANCH_LEN];
        let ours = hex8(u64::from(lp));
        // The branch test first: it is cheap and rarely true.
        let looped = m.vias().iter().any(|v| {
            v.branch.is_some_and(|b| {
                b.starts_with(MAGIC_COOKIE)
                    && b.rsplit_once('.')
                        .is_some_and(|(_, l)| l.as_bytes() == ours)
            }) && self.sh.is_local(v.host.as_bytes(), v.port)
        });
        if looped {
            let f = Failure::LoopDetected;
            self.last_error = Some(f);
            self.send_reply(f.status(), f.reason().as_bytes(), b"");
            return Err(0);
        }
        self.edits.replay(self.fwd);
        let dmask = self.deleted;
        let deleted = |i: usize| i < 128 && dmask & (1u128 << i) != 0;
        let s = &mut *self.scratch;
        if !self.maxfwd_done {
            // A Max-Forwards line removed by remove_hf counts as absent.
            let live = m
                .headers()
                .iter()
                .enumerate()
                .find(|(i, h)| h.name == HeaderName::MaxForwards && !deleted(*i))
                .map(|(_, h)| h);
            match live {
                Some(h) => {
                    if let Some(r) = offset_in(buf, h.value) {
                        s.clear();
                        push_u64(s, u64::from(mf.unwrap_or(1).saturating_sub(1)));
                        self.fwd.replace(r, s);
                    }
                }
                None => {
                    s.clear();
                    s.extend_from_slice(b"Max-Forwards: ");
                    push_u64(s, u64::from(DEFAULT_MAX_FORWARDS));
                    s.extend_from_slice(b"\r\n");
                    self.fwd.insert(m.headers_end(), s);
                }
            }
        }
        // received / rport on the received top Via (RFC 3261 §18.2.1, RFC 3581 §4).
        if let Some(top) = m.top_via() {
            let top_deleted = deleted(top.header_index);
            // Nothing to add when the sent-by host is the source address and there is no
            // rport (ViaFix::for_request adds nothing then): skip the rescan of the Via.
            let nothing_to_fix = !self.x.force_rport
                && top.rport.is_none()
                && parse_ip(top.host.as_bytes())
                    .is_some_and(|ip| canonical_ip(ip) == canonical_ip(self.inb.src.ip()));
            if let Some(v) = buf
                .get(top.span.clone())
                .filter(|_| !top_deleted && !nothing_to_fix)
            {
                if let Some(scan) = ViaScan::scan(v) {
                    let fix = ViaFix::for_request_forced(&scan, self.inb.src, self.x.force_rport);
                    for (r, is_rport) in fix.edits().into_iter().flatten() {
                        s.clear();
                        fix.push(s, is_rport, self.inb.src);
                        self.fwd
                            .replace(top.span.start + r.start..top.span.start + r.end, s);
                    }
                }
            }
            // Our Via, as the new topmost one (RFC 3261 §16.6 step 8).
            let at = m
                .headers()
                .get(top.header_index)
                .map_or(m.headers_end(), |h| h.line.start);
            s.clear();
            s.extend_from_slice(b"Via: SIP/2.0/");
            s.extend_from_slice(target.proto.via_token().as_bytes());
            s.push(b' ');
            self.sh.write_sent_by(sock, s);
            s.extend_from_slice(b";branch=");
            let b0 = s.len();
            s.extend_from_slice(MAGIC_COOKIE.as_bytes());
            push_hex(s, tx, 16);
            s.push(b'.');
            s.extend_from_slice(&ours);
            if let Some(b) = s.get(b0..b0 + BRANCH_LEN) {
                branch.copy_from_slice(b);
            }
            s.extend_from_slice(b"\r\n");
            self.fwd.insert(at, s);
        }
        self.rr_insert(sock, target.proto);
        // Rewritten Request-URI (RFC 3261 §16.6 step 2 / Kamailio $ru).
        if let (Some(new), Some((_, span))) = (self.new_ruri, m.ruri_raw()) {
            self.fwd.replace(span, new.as_bytes());
        }
        // Trailing octets after the message are never forwarded (RFC 4475 §3.1.1.8).
        if m.len() < buf.len() {
            self.fwd.delete(m.len()..buf.len());
        }
        let cap =
            usize::try_from(buf.len() as isize + self.fwd.len_delta().max(0)).unwrap_or(buf.len());
        let mut data = Vec::with_capacity(cap);
        if self.fwd.apply(buf, &mut data).is_err() {
            return Err(self.fail(Failure::ConflictingEdits));
        }
        Ok(Prepared {
            target,
            sock,
            data,
            branch,
        })
    }

    /// `mf_process_maxfwd_header(limit)` (Kamailio maxfwd): 2 when the header was added, 1 when
    /// decremented (capped at `max_limit`), -1 when it is 0, -2 on error.
    fn maxfwd(&mut self, args: &[Value<'_>]) -> i32 {
        if !self.msg.is_request() {
            return -2;
        }
        let Some(limit) = args
            .first()
            .and_then(val_int)
            .filter(|l| (0..=256).contains(l))
        else {
            return -2;
        };
        if self.maxfwd_done {
            // Kamailio would decrement twice; a second call here is a no-op success.
            return 1;
        }
        let m = self.msg;
        match (m.header(HeaderName::MaxForwards), m.max_forwards()) {
            (None, _) => {
                let s = &mut *self.scratch;
                s.clear();
                s.extend_from_slice(b"Max-Forwards: ");
                push_u64(s, limit as u64);
                s.extend_from_slice(b"\r\n");
                self.edits.replace(m.headers_end()..m.headers_end(), s);
                self.maxfwd_done = true;
                2
            }
            (Some(_), Some(0)) => -1,
            (Some(h), Some(v)) => {
                let Some(r) = offset_in(m.buf(), h.value) else {
                    return -2;
                };
                let nv = v
                    .min(self.sh.maxfwd_limit.saturating_add(1))
                    .saturating_sub(1);
                let mut b = [0u8; 20];
                self.edits.replace(r, fmt_u64(u64::from(nv), &mut b));
                self.maxfwd_done = true;
                1
            }
            (Some(_), None) => -2,
        }
    }

    /// `append_hf(text[, before])` (textops): adds a header line before the end of the header
    /// section, or before the first header named `before`.
    fn append_hf(&mut self, args: &[Value<'_>]) -> i32 {
        let Some(text) = args.first().and_then(val_str) else {
            return -1;
        };
        if text.is_empty() || text.len() > MAX_SCRIPT_TEXT {
            return -1;
        }
        let m = self.msg;
        let at = match args.get(1).and_then(val_str) {
            Some(before) => match m
                .headers()
                .iter()
                .find(|h| same_header(h.raw_name.as_bytes(), before.as_bytes()))
            {
                Some(h) => h.line.start,
                None => return -1,
            },
            None => m.headers_end(),
        };
        let s = &mut *self.scratch;
        s.clear();
        s.extend_from_slice(text.as_bytes());
        if !s.ends_with(b"\n") {
            s.extend_from_slice(b"\r\n");
        }
        self.edits.replace(at..at, s);
        1
    }

    /// `remove_hf(name)` (textops): deletes every line of that header (long or compact name,
    /// any case); returns how many, or -1 for none.
    fn remove_hf(&mut self, args: &[Value<'_>]) -> i32 {
        let Some(name) = args.first().and_then(val_str) else {
            return -1;
        };
        let mut n = 0;
        for (i, h) in self.msg.headers().iter().enumerate() {
            if i < 128 && same_header(h.raw_name.as_bytes(), name.as_bytes()) {
                if self.deleted & (1u128 << i) == 0 {
                    self.deleted |= 1u128 << i;
                    self.edits.replace(h.line.clone(), b"");
                }
                n += 1;
            }
        }
        if n == 0 {
            -1
        } else {
            n
        }
    }

    fn flag(&mut self, f: Builtin, args: &[Value<'_>]) -> i32 {
        let Some(bit) = flag_bit(args.first()) else {
            return -1;
        };
        match f {
            Builtin::SetFlag => self.flags |= bit,
            Builtin::ResetFlag => self.flags &= !bit,
            _ => return if self.flags & bit != 0 { 1 } else { -1 },
        }
        1
    }

    fn is_method(&self, args: &[Value<'_>]) -> i32 {
        let Some(list) = args.first().and_then(val_str) else {
            return -1;
        };
        let me = self.method_str();
        if list.split('|').any(|m| m.trim().eq_ignore_ascii_case(me)) {
            1
        } else {
            -1
        }
    }

    /// Rebuilds the R-URI with one part changed (`$rU`, `$rd`, `$rp`).
    fn rewrite_ruri(&mut self, pv: &Pv, v: &Value<'_>) -> Result<(), String> {
        let cur = self.ruri_str().ok_or("no Request-URI in a reply")?;
        let u = Uri::parse(cur).map_err(|e| format!("current R-URI does not parse: {e}"))?;
        let scheme = match u.scheme {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel | Scheme::Other => return Err("R-URI is not a SIP URI".into()),
        };
        let newv = val_str(v);
        let mut s = bumpalo::collections::String::with_capacity_in(cur.len() + 32, self.arena);
        s.push_str(scheme);
        s.push(':');
        let user = if matches!(pv, Pv::RUser) {
            newv.as_deref()
        } else {
            u.user
        };
        if let Some(user) = user.filter(|x| !x.is_empty()) {
            s.push_str(user);
            if let (Some(pw), false) = (u.password, matches!(pv, Pv::RUser)) {
                s.push(':');
                s.push_str(pw);
            }
            s.push('@');
        }
        match pv {
            Pv::Rd => s.push_str(newv.as_deref().ok_or("$rd cannot be $null")?),
            _ => s.push_str(u.host),
        }
        let port = if matches!(pv, Pv::Rp) {
            match &newv {
                None => None,
                Some(p) if p.is_empty() => None,
                Some(p) => Some(
                    p.trim()
                        .parse::<u16>()
                        .map_err(|_| format!("bad port {p:?}"))?,
                ),
            }
        } else {
            u.port
        };
        if let Some(p) = port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        s.push_str(u.params);
        if !u.headers.is_empty() {
            s.push('?');
            s.push_str(u.headers);
        }
        let s = s.into_bump_str();
        Uri::parse(s).map_err(|e| format!("new R-URI {s:?} does not parse: {e}"))?;
        self.new_ruri = Some(s);
        Ok(())
    }

    fn xlog(&self, f: Builtin, args: &[Value<'_>]) -> i32 {
        let (level, text) = match (f, args) {
            (Builtin::Xlog | Builtin::Log, [lvl, text]) => (log_level(lvl), val_str(text)),
            (Builtin::Xlog | Builtin::Log, [text]) => (-1, val_str(text)),
            (Builtin::Xdbg, [t, ..]) => (3, val_str(t)),
            (Builtin::Xinfo, [t, ..]) => (2, val_str(t)),
            (Builtin::Xnotice, [t, ..]) => (1, val_str(t)),
            (Builtin::Xwarn, [t, ..]) => (0, val_str(t)),
            (Builtin::Xerr, [t, ..]) => (-1, val_str(t)),
            (Builtin::Xcrit, [t, ..]) => (-2, val_str(t)),
            (Builtin::Xalert, [t, ..]) => (-5, val_str(t)),
            _ => return -1,
        };
        let text = text.unwrap_or(Cow::Borrowed("<null>"));
        let text = text.trim_end_matches(['\r', '\n']);
        match level {
            i64::MIN..=-1 => tracing::error!(target: "xlog", "{text}"),
            0 => tracing::warn!(target: "xlog", "{text}"),
            1 | 2 => tracing::info!(target: "xlog", "{text}"),
            _ => tracing::debug!(target: "xlog", "{text}"),
        }
        1
    }

    /// Whether `value` (a URI or `host[:port]`) is one of our addresses or aliases.
    pub(crate) fn is_myself_str(&self, value: &str) -> bool {
        let v = value.trim();
        let lower4 = v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("sip:"));
        let lower5 = v.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("sips:"));
        if lower4 || lower5 {
            return match Uri::parse(v) {
                Ok(u) => self.sh.is_local(
                    u.host.as_bytes(),
                    Some(u.port.unwrap_or(if lower5 { 5061 } else { 5060 })),
                ),
                Err(_) => false,
            };
        }
        let (h, p, _) = split_host_port(v.as_bytes());
        !h.is_empty() && self.sh.is_local(h, p)
    }
}

/// Kamailio log level from `L_ERR`-style names or numbers (L_ALERT -5 .. L_DBG 3).
fn log_level(v: &Value<'_>) -> i64 {
    if let Some(n) = val_int(v) {
        return n;
    }
    let Some(s) = val_str(v) else { return -1 };
    const LEVELS: &[(&str, i64)] = &[
        ("L_ALERT", -5),
        ("L_BUG", -4),
        ("L_CRIT2", -3),
        ("L_CRIT", -2),
        ("L_ERR", -1),
        ("L_WARN", 0),
        ("L_NOTICE", 1),
        ("L_INFO", 2),
        ("L_DBG", 3),
        ("L_DEBUG", 3),
    ];
    let s = s.trim();
    LEVELS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map_or(-1, |(_, l)| *l)
}

/// The `(code, reason)` arguments of `sl_send_reply` / `t_reply`: the reason defaults to the
/// code's RFC 3261 §21 phrase.
fn reply_args<'v>(args: &'v [Value<'_>]) -> Option<(u16, Cow<'v, str>)> {
    let code = args
        .first()
        .and_then(val_int)
        .and_then(|c| u16::try_from(c).ok())?;
    let reason = args.get(1).and_then(val_str).unwrap_or(Cow::Borrowed(""));
    if reason.is_empty() {
        return Some((code, Cow::Borrowed(default_reason(code))));
    }
    Some((code, reason))
}

/// The RFC 3261 §21 reason phrase for a code, used when the script gives none.
pub(crate) fn default_reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        _ => "Unknown",
    }
}

impl Host for MsgCtx<'_, '_> {
    fn call(&mut self, f: Builtin, args: &[Value<'_>]) -> i32 {
        match f {
            Builtin::Forward => self.forward(args, None),
            Builtin::ForwardUdp => self.forward(args, Some(Proto::Udp)),
            Builtin::ForwardTcp => self.forward(args, Some(Proto::Tcp)),
            Builtin::SlSendReply => self.sl_send_reply(args, false),
            Builtin::SendReply => self.sl_send_reply(args, true),
            Builtin::TRelay => self.t_relay(args, None),
            Builtin::TRelayToUdp => self.t_relay(args, Some(Proto::Udp)),
            Builtin::TRelayToTcp => self.t_relay(args, Some(Proto::Tcp)),
            Builtin::TOnFailure | Builtin::TOnReply | Builtin::TOnBranch => self.t_on(f, args),
            Builtin::TCheckStatus => self.t_check_status(args),
            Builtin::TBranchTimeout => {
                if self.t.branch_timeout {
                    1
                } else {
                    -1
                }
            }
            Builtin::TBranchReplied => {
                if self.t.branch_replied {
                    1
                } else {
                    -1
                }
            }
            Builtin::TIsCanceled => self.t_is_canceled(),
            Builtin::TCheckTrans => self.t_check_trans(),
            Builtin::TPrecheckTrans => self.t_precheck_trans(),
            Builtin::TNewtran => self.t_newtran(),
            Builtin::TReply => {
                let Some((code, reason)) = reply_args(args) else {
                    return -1;
                };
                self.t_reply(code, reason.as_bytes())
            }
            Builtin::TSetFr => self.t_set_fr(args),
            Builtin::TDropReplies => self.t_drop_replies(),
            Builtin::AppendBranch => self.append_branch(args),
            Builtin::TLoadContacts => self.t_load_contacts(),
            Builtin::TNextContacts => self.t_next_contacts(),
            Builtin::SlReplyError => self.sl_reply_error(),
            Builtin::IsMethod => self.is_method(args),
            Builtin::MfProcessMaxfwdHeader => self.maxfwd(args),
            Builtin::Xlog
            | Builtin::Xdbg
            | Builtin::Xinfo
            | Builtin::Xnotice
            | Builtin::Xwarn
            | Builtin::Xerr
            | Builtin::Xalert
            | Builtin::Xcrit
            | Builtin::Log => self.xlog(f, args),
            Builtin::AppendHf => self.append_hf(args),
            Builtin::RemoveHf => self.remove_hf(args),
            Builtin::IsPresentHf => {
                let Some(n) = args.first().and_then(val_str) else {
                    return -1;
                };
                if self.header_value(&n).is_some() {
                    1
                } else {
                    -1
                }
            }
            Builtin::SetFlag | Builtin::IsFlag | Builtin::ResetFlag => self.flag(f, args),
            Builtin::SanityCheck => {
                let checks = args.first().and_then(val_int);
                let uri_checks = args.get(1).and_then(val_int);
                self.sanity_check(checks, uri_checks)
            }
            Builtin::RecordRoute
            | Builtin::RecordRoutePreset
            | Builtin::AddRrParam
            | Builtin::LooseRoute
            | Builtin::HasTotag
            | Builtin::IsDirection => self.rr_call(f, args),
            Builtin::Save | Builtin::Lookup | Builtin::Registered | Builtin::Unregister => {
                self.reg_call(f, args)
            }
            Builtin::DlgManage
            | Builtin::IsKnownDlg
            | Builtin::DlgSetTimeout
            | Builtin::SetDlgProfile
            | Builtin::UnsetDlgProfile
            | Builtin::IsInProfile
            | Builtin::GetProfileSize => self.dlg_call(f, args),
            Builtin::ShtRm
            | Builtin::ShtReset
            | Builtin::ShtRmNameRe
            | Builtin::ShtRmValueRe
            | Builtin::ShtRmName
            | Builtin::ShtRmValue
            | Builtin::ShtHasName
            | Builtin::ShtHasStrValue
            | Builtin::ShtLock
            | Builtin::ShtUnlock
            | Builtin::ShtPrint => self.ht_call(f, args),
            Builtin::WwwChallenge
            | Builtin::ProxyChallenge
            | Builtin::AuthChallenge
            | Builtin::PvWwwAuthenticate
            | Builtin::PvProxyAuthenticate
            | Builtin::PvAuthCheck
            | Builtin::HasCredentials
            | Builtin::ConsumeCredentials
            | Builtin::WwwAuthorize
            | Builtin::ProxyAuthorize
            | Builtin::AuthCheck => self.auth_call(f, args),
            Builtin::ForceRport
            | Builtin::SetReplyNoConnect
            | Builtin::SetForwardNoConnect
            | Builtin::SetBflag
            | Builtin::IsBflagSet
            | Builtin::ResetBflag
            | Builtin::TIsSet => self.kcore_call(f, args),
            Builtin::AccLogRequest => self.acc_log_request(args),
            Builtin::MsgApplyChanges
            | Builtin::ChangeReplyStatus
            | Builtin::RemoveBody
            | Builtin::KeepHf
            | Builtin::Fnmatch
            | Builtin::AppendHfValue
            | Builtin::InsertHfValue
            | Builtin::RemoveHfValue
            | Builtin::AssignHfValue
            | Builtin::HfValueExists => self.textopsx_call(f, args),
            Builtin::CntInc | Builtin::CntAdd | Builtin::CntReset => self.counters_call(f, args),
            #[allow(unreachable_patterns)]
            _ => {
                tracing::warn!(target: "ferrosip::sip", ?f, "function not implemented on the message side");
                -1
            }
        }
    }

    fn keyword(&mut self, k: Keyword) -> Value<'_> {
        match k {
            Keyword::Method => str_val(self.method_str()),
            Keyword::Uri => self.ruri_str().map_or(Value::Null, str_val),
            Keyword::FromUri => self.msg.from().map_or(Value::Null, |f| str_val(f.uri_raw)),
            Keyword::ToUri => self.msg.to().map_or(Value::Null, |t| str_val(t.uri_raw)),
            Keyword::SrcIp => self.pv_get(&Pv::Si),
            Keyword::SrcPort => Value::Int(i64::from(self.inb.src.port())),
            Keyword::DstIp => self.pv_get(&Pv::Ri),
            Keyword::DstPort => self.pv_get(&Pv::RpLocal),
            Keyword::Proto => str_val(self.inb.proto.name()),
            Keyword::Af => str_val(if self.inb.src.is_ipv4() {
                "INET"
            } else {
                "INET6"
            }),
            Keyword::Status => self
                .msg
                .status()
                .map_or(Value::Null, |s| Value::Int(i64::from(s))),
            Keyword::MsgLen => Value::Int(self.inb.data.len() as i64),
            #[allow(unreachable_patterns)]
            _ => Value::Null,
        }
    }

    fn is_myself(&mut self, value: &str) -> bool {
        self.is_myself_str(value)
    }

    fn pv_get(&mut self, pv: &Pv) -> Value<'_> {
        let m = self.msg;
        let ruri = || self.ruri_str().and_then(|s| Uri::parse(s).ok());
        match pv {
            Pv::Rm => str_val(self.method_str()),
            Pv::Ru => self.ruri_str().map_or(Value::Null, str_val),
            Pv::RUser => ruri().and_then(|u| u.user).map_or(Value::Null, str_val),
            Pv::Rd => ruri().map_or(Value::Null, |u| str_val(u.host)),
            Pv::Rp => ruri().map_or(Value::Null, |u| {
                Value::Int(i64::from(u.port.unwrap_or(if u.scheme == Scheme::Sips {
                    5061
                } else {
                    5060
                })))
            }),
            Pv::Du => self.du.map_or(Value::Null, str_val),
            Pv::Fu => m.from().map_or(Value::Null, |f| str_val(f.uri_raw)),
            Pv::FUser => m
                .from()
                .and_then(|f| f.uri.user)
                .map_or(Value::Null, str_val),
            Pv::Fd => m.from().map_or(Value::Null, |f| str_val(f.uri.host)),
            Pv::Ft => m.from().and_then(|f| f.tag).map_or(Value::Null, str_val),
            Pv::Tu => m.to().map_or(Value::Null, |t| str_val(t.uri_raw)),
            Pv::TUser => m.to().and_then(|t| t.uri.user).map_or(Value::Null, str_val),
            Pv::Td => m.to().map_or(Value::Null, |t| str_val(t.uri.host)),
            Pv::Tt => m.to().and_then(|t| t.tag).map_or(Value::Null, str_val),
            Pv::Ci => m.call_id().map_or(Value::Null, str_val),
            Pv::Cs => m
                .cseq()
                .map_or(Value::Null, |c| Value::Int(i64::from(c.num))),
            Pv::Si => {
                let s = bumpalo::format!(in self.arena, "{}", super::text::canonical_ip(self.inb.src.ip()));
                str_val(s.into_bump_str())
            }
            Pv::Sp => Value::Int(i64::from(self.inb.src.port())),
            Pv::Ri => match self.sh.sockets.get(self.inb.local) {
                Some(s) => {
                    str_val(bumpalo::format!(in self.arena, "{}", s.addr.ip()).into_bump_str())
                }
                None => Value::Null,
            },
            Pv::RpLocal => self
                .sh
                .sockets
                .get(self.inb.local)
                .map_or(Value::Null, |s| Value::Int(i64::from(s.addr.port()))),
            Pv::Pr => str_val(self.inb.proto.name()),
            Pv::Ml => Value::Int(self.inb.data.len() as i64),
            Pv::Mb => bytes_val(self.inb.data),
            Pv::Ua => self
                .header_value("User-Agent")
                .map_or(Value::Null, bytes_val),
            Pv::Rs => m.status().map_or(Value::Null, |s| Value::Int(i64::from(s))),
            Pv::Rr => m.reason().map_or(Value::Null, bytes_val),
            Pv::Hdr(name) => self.header_value(name).map_or(Value::Null, bytes_val),
            Pv::TReplyCode => self
                .t_status()
                .map_or(Value::Int(0), |c| Value::Int(i64::from(c))),
            Pv::TBranchIdx => Value::Int(i64::from(self.t.branch_idx.unwrap_or(0))),
            Pv::Ts => Value::Int(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64),
            ),
            Pv::Dlg(_) | Pv::DlgVar(_) | Pv::DlgProfileSize => self.dlg_pv(pv),
            Pv::AuthUser
            | Pv::AuthDomain
            | Pv::AuthUsername
            | Pv::AuthRealm
            | Pv::AuthUri
            | Pv::AuthAlg => self.auth_pv(pv),
            #[allow(unreachable_patterns)]
            _ => Value::Null,
        }
    }

    fn pv_set(&mut self, pv: &Pv, v: Value<'_>) -> Result<(), String> {
        match pv {
            Pv::Ru => {
                if !self.msg.is_request() {
                    return Err("$ru is not writable in a reply".into());
                }
                let s = val_str(&v).ok_or("$ru cannot be $null")?;
                let s = s.trim();
                if s.len() > MAX_SCRIPT_TEXT {
                    return Err("R-URI too long".into());
                }
                Uri::parse(s).map_err(|e| format!("bad R-URI {s:?}: {e}"))?;
                self.new_ruri = Some(self.alloc_str(s));
                Ok(())
            }
            Pv::RUser | Pv::Rd | Pv::Rp => {
                if !self.msg.is_request() {
                    return Err("the R-URI is not writable in a reply".into());
                }
                self.rewrite_ruri(pv, &v)
            }
            Pv::Du => {
                match val_str(&v) {
                    None => self.du = None,
                    Some(s) if trim_str(&s).is_empty() => self.du = None,
                    Some(s) => {
                        let s = trim_str(&s);
                        if s.len() > MAX_SCRIPT_TEXT {
                            return Err("$du too long".into());
                        }
                        if !self.resolver.is_valid_uri(s) {
                            Uri::parse(s).map_err(|e| format!("bad $du {s:?}: {e}"))?;
                            self.resolver.remember_valid_uri(s);
                        }
                        self.du = Some(self.alloc_str(s));
                    }
                }
                Ok(())
            }
            Pv::DlgVar(name) => self.dlg_var_set(name, &v),
            _ => Err(format!("{pv:?} is read-only")),
        }
    }

    fn pv_get_keyed(&mut self, pv: &Pv, key: &str) -> Value<'_> {
        self.ht_get(pv, key)
    }

    fn pv_set_keyed(&mut self, pv: &Pv, key: &str, v: Value<'_>) -> Result<(), String> {
        self.ht_set(pv, key, v)
    }
}
