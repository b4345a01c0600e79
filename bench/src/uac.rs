//! The client side of every scenario (uac, register, options, message): starts calls at the
//! offered rate, runs each call's transactions with the RFC 3261 UDP retransmission timers
//! (§17.1.1.2 Timer A/B for INVITE, §17.1.2.2 Timer E/F for the others), answers digest
//! challenges (§22.2), measures each request's time to its final 2xx, and counts every
//! deviation. Sans-IO: the worker feeds it datagrams and time, and sends what it queues in
//! [`Uac::out`].
//!
//! The transaction machines of `ferrosip-state` were not available when this was written, so
//! the timers live here. Every timer of a kind is set a fixed interval after "now" (T1·2ⁿ,
//! T2, 64·T1, the hold time), so each interval has its own FIFO queue, already in deadline
//! order: O(1) to arm and to fire, with lazy
//! deletion (an entry whose call, generation or deadline no longer match is skipped).

use crate::cli::{RegThen, Scenario};
use crate::digest::Challenge;
use crate::sip::{push_body, push_hex_width, push_u64, sdp, Dest, Outbox, Setup, MAX_OUTBOX};
use crate::stats::{Counters, Fail, Hists, Kind};
use crate::users::User;
use bumpalo::Bump;
use ferrosip_parser::{parse, parse_name_addr, parse_name_addr_list, HeaderName, Message, Method};
use std::collections::VecDeque;

/// The most calls one worker holds at once, whatever `-l` says (each holds a few hundred
/// bytes plus its last request).
pub const MAX_CALLS_PER_WORKER: u64 = 500_000;

/// The most Route entries taken from a 2xx's Record-Route (a peer could send thousands).
const MAX_ROUTES: usize = 16;

/// One request/response exchange of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Invite,
    Bye,
    Register,
    Reregister,
    Options,
    Message,
}

impl Step {
    fn method(self) -> &'static str {
        match self {
            Self::Invite => "INVITE",
            Self::Bye => "BYE",
            Self::Register | Self::Reregister => "REGISTER",
            Self::Options => "OPTIONS",
            Self::Message => "MESSAGE",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Self::Invite => Kind::Invite,
            Self::Bye => Kind::Bye,
            Self::Register => Kind::Register,
            Self::Reregister => Kind::Refresh,
            Self::Options => Kind::Options,
            Self::Message => Kind::Message,
        }
    }
}

fn steps(setup: &Setup) -> &'static [Step] {
    match setup.scenario {
        Scenario::Uac | Scenario::Uas => &[Step::Invite, Step::Bye],
        Scenario::Register => match setup.reg_then {
            RegThen::None => &[Step::Register],
            RegThen::Refresh | RegThen::Unregister => &[Step::Register, Step::Reregister],
        },
        Scenario::Options => &[Step::Options],
        Scenario::Message => &[Step::Message],
    }
}

/// One call (or registration, ping...) in progress.
#[derive(Debug, Default)]
struct Call {
    gen: u32,
    live: bool,
    seq: u64,
    step: usize,
    holding: bool,
    proceeding: bool,
    cseq: u32,
    branch_n: u32,
    txn_start: u64,
    retx_iv: u64,
    retx_at: u64,
    deadline: u64,
    timer_at: u64,
    auth_tries: u8,
    nc: u32,
    challenge: Option<Challenge>,
    proxy_auth: bool,
    call_id: String,
    from_tag: String,
    branch: String,
    to_tag: String,
    target: String,
    routes: Vec<String>,
    req: Vec<u8>,
    ack: Vec<u8>,
    user: Option<User>,
}

/// What the request writer needs, apart from the call.
struct Ctx {
    setup: Setup,
    steps: &'static [Step],
    local: String,
    local_ip: String,
    remote_host: String,
    sdp: String,
}

/// The client engine of one worker.
pub struct Uac {
    ctx: Ctx,
    calls: Vec<Call>,
    free: Vec<u32>,
    active: u64,
    timers: TimerQueues,
    due: Vec<TimerEntry>,
    /// Messages to send.
    pub out: Outbox,
    /// Counters since the last report.
    pub counters: Counters,
    /// Latencies since the last report.
    pub hists: Hists,
    started: u64,
    credit: f64,
    offered: f64,
    rate: f64,
    last_tick: u64,
    next_ramp: u64,
    stopping: bool,
    arena: Bump,
}

impl Uac {
    /// A client engine; `setup.local` must hold the bound address.
    pub fn new(setup: Setup) -> Self {
        let local_ip = match setup.local {
            std::net::SocketAddr::V4(a) => a.ip().to_string(),
            std::net::SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let local = format!("{local_ip}:{}", setup.local.port());
        let remote_host = match setup.remote {
            std::net::SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
            std::net::SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        };
        let sdp = sdp(local_ip.trim_start_matches('[').trim_end_matches(']'));
        Self {
            rate: setup.rate,
            next_ramp: (setup.rate_interval * 1e6) as u64,
            ctx: Ctx {
                steps: steps(&setup),
                setup,
                local,
                local_ip,
                remote_host,
                sdp,
            },
            calls: Vec::new(),
            free: Vec::new(),
            active: 0,
            timers: TimerQueues::default(),
            due: Vec::new(),
            out: Outbox::default(),
            counters: Counters::default(),
            hists: Hists::default(),
            started: 0,
            credit: 0.0,
            offered: 0.0,
            last_tick: 0,
            stopping: false,
            arena: Bump::new(),
        }
    }

    /// Calls in progress.
    pub fn active(&self) -> u64 {
        self.active
    }

    /// The offered rate now (calls/s, this worker).
    pub fn rate(&self) -> f64 {
        if self.stopping {
            0.0
        } else {
            self.rate
        }
    }

    /// Calls offered (the rate integrated over time) since the last call of this method.
    pub fn take_offered(&mut self) -> f64 {
        std::mem::take(&mut self.offered)
    }

    /// Stops starting calls (the calls in progress go on).
    pub fn stop(&mut self) {
        self.stopping = true;
    }

    /// True once no call will be started any more and none is in progress.
    pub fn finished(&self) -> bool {
        (self.stopping || self.started >= self.ctx.setup.max_calls) && self.active == 0
    }

    /// Ends every call in progress as [`Fail::Aborted`].
    pub fn abort_all(&mut self) {
        for c in &mut self.calls {
            if c.live {
                c.live = false;
                c.gen = c.gen.wrapping_add(1);
                self.counters.fail(Fail::Aborted);
            }
        }
        self.active = 0;
        self.timers.clear();
    }

    /// Advances time: ramps the rate, starts the calls that are due, fires due timers.
    /// `now` is µs since the run started.
    pub fn tick(&mut self, now: u64) {
        if let Some(d) = self.ctx.setup.duration {
            if now as f64 >= d * 1e6 {
                self.stopping = true;
            }
        }
        if self.ctx.setup.rate_increase != 0.0 && now >= self.next_ramp {
            self.rate = (self.rate + self.ctx.setup.rate_increase).min(self.ctx.setup.rate_max);
            self.next_ramp += (self.ctx.setup.rate_interval.max(0.001) * 1e6) as u64;
        }
        let dt = now.saturating_sub(self.last_tick) as f64 / 1e6;
        self.last_tick = now;
        if !self.stopping && self.started < self.ctx.setup.max_calls {
            self.offered += self.rate * dt;
            // At most one second's worth of backlog: a stalled worker does not burst later.
            self.credit = (self.credit + self.rate * dt).min(self.rate.max(1.0));
            // After a stall the backlog goes out over several ticks: a tick stops starting
            // calls at half the outbox, so a full outbox never fails a call for us.
            while self.credit >= 1.0
                && self.active < self.ctx.setup.limit
                && self.started < self.ctx.setup.max_calls
                && self.out.buf.len() < MAX_OUTBOX / 2
            {
                self.credit -= 1.0;
                self.start_call(now);
            }
        }
        let mut due = std::mem::take(&mut self.due);
        self.timers.take_due(now, &mut due);
        for &(at, slot, gen, kind) in &due {
            let ok = self
                .calls
                .get(slot as usize)
                .is_some_and(|c| c.live && c.gen == gen);
            if ok {
                self.on_timer(slot, kind, at, now);
            }
        }
        due.clear();
        self.due = due;
    }

    fn start_call(&mut self, now: u64) {
        let slot = if let Some(s) = self.free.pop() {
            s
        } else {
            if self.calls.len() as u64 >= MAX_CALLS_PER_WORKER {
                self.counters.table_full += 1;
                return;
            }
            self.calls.push(Call::default());
            (self.calls.len() - 1) as u32
        };
        let seq = self.started * self.ctx.setup.workers as u64 + self.ctx.setup.worker as u64;
        self.started += 1;
        self.active += 1;
        self.counters.started += 1;
        let user = self
            .ctx
            .setup
            .users
            .as_ref()
            .map(|u| u.get(seq, &self.ctx.local_ip));
        let (w, run) = (
            self.ctx.setup.worker as u64,
            u64::from(self.ctx.setup.run_id),
        );
        let c = &mut self.calls[slot as usize];
        c.gen = c.gen.wrapping_add(1);
        c.live = true;
        c.seq = seq;
        c.step = 0;
        c.holding = false;
        c.cseq = 0;
        c.branch_n = 0;
        c.challenge = None;
        c.nc = 0;
        c.to_tag.clear();
        c.target.clear();
        c.routes.clear();
        c.ack.clear();
        c.user = user;
        // Fixed-width fields: every call's messages are then the same size (GSO runs).
        let mut id = Vec::with_capacity(64);
        push_hex_width(&mut id, u64::from(slot), 6);
        id.push(b'.');
        push_hex_width(&mut id, u64::from(c.gen), 4);
        id.push(b'.');
        push_hex_width(&mut id, w, 2);
        id.push(b'.');
        push_hex_width(&mut id, run, 8);
        let tag = String::from_utf8_lossy(&id).into_owned();
        c.from_tag.clear();
        c.from_tag.push_str(&tag);
        c.call_id.clear();
        c.call_id.push_str(&tag);
        c.call_id.push('@');
        c.call_id.push_str(&self.ctx.local_ip);
        self.begin_step(slot, now);
    }

    /// Sends the first request of the call's current step.
    fn begin_step(&mut self, slot: u32, now: u64) {
        let c = &mut self.calls[slot as usize];
        c.holding = false;
        c.auth_tries = 0;
        c.txn_start = now;
        self.send_request(slot, now);
    }

    /// Builds and sends the current step's request (a new transaction: new branch, CSeq+1).
    fn send_request(&mut self, slot: u32, now: u64) {
        let c = &mut self.calls[slot as usize];
        let step = self.ctx.steps[c.step];
        c.cseq += 1;
        c.branch_n += 1;
        c.proceeding = false;
        set_branch(c, &self.ctx.setup);
        let mut req = std::mem::take(&mut c.req);
        self.ctx.write_request(&mut req, c, step.method(), true);
        let ok = self.out.push(&req, Dest::Udp(self.ctx.setup.remote));
        self.counters.sent += 1;
        c.req = req;
        c.retx_iv = self.ctx.setup.t1_us;
        c.retx_at = if self.ctx.setup.tcp {
            0
        } else {
            now + self.ctx.setup.t1_us
        };
        c.deadline = now + self.ctx.setup.timeout_us;
        if !ok {
            self.end_call(slot, Some(Fail::Send));
            return;
        }
        let (gen, deadline, retx_at, iv) = (c.gen, c.deadline, c.retx_at, c.retx_iv);
        let timeout = self.ctx.setup.timeout_us;
        self.timers
            .push(timeout, (deadline, slot, gen, TimerKind::Deadline));
        if retx_at != 0 && retx_at < deadline {
            self.timers.push(iv, (retx_at, slot, gen, TimerKind::Retx));
        }
    }

    fn on_timer(&mut self, slot: u32, kind: TimerKind, at: u64, now: u64) {
        let c = &mut self.calls[slot as usize];
        match kind {
            TimerKind::Hold if c.holding && c.timer_at == at => {
                c.step += 1;
                self.begin_step(slot, now);
            }
            TimerKind::Deadline if !c.holding && c.deadline == at => {
                self.end_call(slot, Some(Fail::Timeout));
            }
            TimerKind::Retx if !c.holding && c.retx_at == at => {
                // Timer A doubles without a cap; Timer E doubles up to T2, and is T2 once a
                // provisional response arrived (RFC 3261 §17.1.2.2).
                let invite = self.ctx.steps[c.step] == Step::Invite;
                c.retx_iv = if invite {
                    c.retx_iv * 2
                } else if c.proceeding {
                    self.ctx.setup.t2_us
                } else {
                    (c.retx_iv * 2).min(self.ctx.setup.t2_us)
                };
                c.retx_at = now + c.retx_iv;
                if !self.out.push(&c.req, Dest::Udp(self.ctx.setup.remote)) {
                    self.end_call(slot, Some(Fail::Send));
                    return;
                }
                self.counters.sent += 1;
                self.counters.retransmissions += 1;
                if c.retx_at < c.deadline {
                    let e = (c.retx_at, slot, c.gen, TimerKind::Retx);
                    self.timers.push(c.retx_iv, e);
                }
            }
            _ => {} // stale: the state moved on since this timer was set
        }
    }

    /// Frees the call; `None` means completed.
    fn end_call(&mut self, slot: u32, fail: Option<Fail>) {
        let c = &mut self.calls[slot as usize];
        if !c.live {
            return;
        }
        c.live = false;
        c.gen = c.gen.wrapping_add(1);
        self.active -= 1;
        match fail {
            None => self.counters.completed += 1,
            Some(f) => self.counters.fail(f),
        }
        self.free.push(slot);
    }

    /// Finds the call a Call-ID names (`slot.gen.worker.run@...`), if it is ours and alive.
    fn lookup(&self, call_id: &str) -> Option<u32> {
        let head = call_id.split('@').next()?;
        let mut f = head.split('.');
        let slot = u32::from_str_radix(f.next()?, 16).ok()?;
        let gen = u32::from_str_radix(f.next()?, 16).ok()?;
        let w = usize::from_str_radix(f.next()?, 16).ok()?;
        let run = u32::from_str_radix(f.next()?, 16).ok()?;
        if w != self.ctx.setup.worker || run != self.ctx.setup.run_id {
            return None;
        }
        let c = self.calls.get(slot as usize)?;
        (c.live && c.gen == gen && c.call_id == call_id).then_some(slot)
    }

    /// Handles one received message (datagram or stream message).
    pub fn on_message(&mut self, data: &[u8], now: u64) {
        self.counters.received += 1;
        let mut arena = std::mem::take(&mut self.arena);
        arena.reset();
        match parse(data, &arena) {
            Ok(msg) if !msg.is_request() => self.on_response(&msg, now),
            Ok(_) => self.counters.unexpected += 1,
            Err(_) => self.counters.parse_errors += 1,
        }
        self.arena = arena;
    }

    fn on_response(&mut self, msg: &Message<'_>, now: u64) {
        let Some(slot) = msg.call_id().and_then(|id| self.lookup(id)) else {
            self.counters.stray += 1;
            return;
        };
        let (Some(status), Some(cseq)) = (msg.status(), msg.cseq()) else {
            self.end_call(slot, Some(Fail::MissingHeader));
            return;
        };
        let step = self.ctx.steps[self.calls[slot as usize].step];
        let c = &mut self.calls[slot as usize];
        let ours = !c.holding
            && cseq.num == c.cseq
            && cseq.method.as_str() == step.method()
            && msg.top_via().and_then(|v| v.branch) == Some(c.branch.as_str());
        if !ours {
            // A 2xx retransmission for an INVITE we already acknowledged: ACK it again
            // (RFC 3261 §13.2.2.4). Anything else out of place is counted, not fatal.
            if (200..300).contains(&status)
                && cseq.method == Method::Invite
                && !c.ack.is_empty()
                && msg.to().and_then(|t| t.tag) == Some(c.to_tag.as_str())
            {
                let ack = std::mem::take(&mut c.ack);
                if self.out.push(&ack, Dest::Udp(self.ctx.setup.remote)) {
                    self.counters.sent += 1;
                }
                self.calls[slot as usize].ack = ack;
            } else {
                self.counters.unexpected += 1;
            }
            return;
        }
        match status {
            100..=199 => {
                c.proceeding = true;
                if step == Step::Invite {
                    c.retx_at = 0; // Timer A stops in Proceeding (RFC 3261 §17.1.1.2).
                }
                // Timer E: the pending retransmission stands; the next interval is T2.
            }
            200..=299 => {
                self.hists
                    .record(step.kind(), now.saturating_sub(c.txn_start));
                if step == Step::Invite {
                    let Some(tag) = msg.to().and_then(|t| t.tag) else {
                        self.end_call(slot, Some(Fail::MissingHeader));
                        return;
                    };
                    c.to_tag.clear();
                    c.to_tag.push_str(tag);
                    c.target.clear();
                    if let Some(uri) = msg
                        .header(HeaderName::Contact)
                        .and_then(|h| h.value_str())
                        .and_then(|v| parse_name_addr(v).ok())
                        .map(|na| na.uri_raw)
                    {
                        c.target.push_str(uri);
                    }
                    c.routes.clear();
                    for h in msg.headers_named(HeaderName::RecordRoute) {
                        if let Some(v) = h.value_str() {
                            let _ = parse_name_addr_list(v, |na| {
                                if c.routes.len() < MAX_ROUTES {
                                    c.routes.push(format!("<{}>", na.uri_raw));
                                }
                                Ok(())
                            });
                        }
                    }
                    c.routes.reverse();
                    // ACK for a 2xx: a new transaction (new branch), to the remote target.
                    c.branch_n += 1;
                    set_branch(c, &self.ctx.setup);
                    let mut ack = std::mem::take(&mut c.ack);
                    self.ctx.write_request(&mut ack, c, "ACK", false);
                    if self.out.push(&ack, Dest::Udp(self.ctx.setup.remote)) {
                        self.counters.sent += 1;
                    }
                    c.ack = ack;
                }
                self.next_step(slot, now);
            }
            401 | 407 => {
                let proxy = status == 407;
                let name = if proxy {
                    HeaderName::ProxyAuthenticate
                } else {
                    HeaderName::WwwAuthenticate
                };
                if step == Step::Invite {
                    self.ack_non_2xx(slot, msg);
                }
                let c = &mut self.calls[slot as usize];
                if c.user.is_none() || c.auth_tries > 0 {
                    self.end_call(slot, Some(Fail::UnexpectedStatus));
                    return;
                }
                let Some(ch) = msg
                    .header(name)
                    .and_then(|h| h.value_str())
                    .and_then(Challenge::parse)
                else {
                    self.end_call(slot, Some(Fail::MissingHeader));
                    return;
                };
                c.challenge = Some(ch);
                c.proxy_auth = proxy;
                c.nc = 0;
                c.auth_tries += 1;
                self.send_request(slot, now);
            }
            _ => {
                if step == Step::Invite {
                    self.ack_non_2xx(slot, msg);
                }
                self.end_call(slot, Some(Fail::UnexpectedStatus));
            }
        }
    }

    /// ACK for a non-2xx final response to INVITE: same branch, part of the INVITE
    /// transaction (RFC 3261 §17.1.1.3).
    fn ack_non_2xx(&mut self, slot: u32, msg: &Message<'_>) {
        let c = &mut self.calls[slot as usize];
        let saved_tag = std::mem::take(&mut c.to_tag);
        if let Some(t) = msg.to().and_then(|t| t.tag) {
            c.to_tag.push_str(t);
        }
        let mut ack = Vec::with_capacity(512);
        self.ctx.write_request(&mut ack, c, "ACK", false);
        if self.out.push(&ack, Dest::Udp(self.ctx.setup.remote)) {
            self.counters.sent += 1;
        }
        c.to_tag = saved_tag;
    }

    /// After a step's 2xx: hold, go on, or complete.
    fn next_step(&mut self, slot: u32, now: u64) {
        let c = &mut self.calls[slot as usize];
        if c.step + 1 >= self.ctx.steps.len() {
            self.end_call(slot, None);
            return;
        }
        if self.ctx.setup.hold_us == 0 {
            c.step += 1;
            self.begin_step(slot, now);
        } else {
            c.holding = true;
            c.retx_at = 0;
            c.timer_at = now + self.ctx.setup.hold_us;
            let e = (c.timer_at, slot, c.gen, TimerKind::Hold);
            self.timers.push(self.ctx.setup.hold_us, e);
        }
    }
}

impl Ctx {
    /// Writes a request of `method` for call `c` into `out` (cleared first). `first_line_ruri`
    /// false writes the in-dialog target (ACK/BYE after a 2xx).
    fn write_request(&self, out: &mut Vec<u8>, c: &mut Call, method: &str, with_auth: bool) {
        out.clear();
        let s = &self.setup;
        let register = method == "REGISTER";
        let (fuser, fdomain) = match &c.user {
            Some(u) => (u.user.as_str(), u.domain.as_str()),
            None => ("ferrosip", self.local_ip.as_str()),
        };
        // Request-URI: the registrar domain, the dialog's remote target, or service@remote.
        let ruri = if register {
            format!("sip:{fdomain}")
        } else if !c.target.is_empty() && method != "INVITE" {
            c.target.clone()
        } else {
            format!("sip:{}@{}", s.service, self.remote_host)
        };
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(ruri.as_bytes());
        out.extend_from_slice(b" SIP/2.0\r\nVia: SIP/2.0/");
        out.extend_from_slice(s.transport().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.local.as_bytes());
        out.extend_from_slice(b";branch=");
        out.extend_from_slice(c.branch.as_bytes());
        out.extend_from_slice(b"\r\n");
        if method != "INVITE" {
            for r in &c.routes {
                out.extend_from_slice(b"Route: ");
                out.extend_from_slice(r.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"Max-Forwards: 70\r\nFrom: <sip:");
        out.extend_from_slice(fuser.as_bytes());
        out.push(b'@');
        out.extend_from_slice(fdomain.as_bytes());
        out.extend_from_slice(b">;tag=");
        out.extend_from_slice(c.from_tag.as_bytes());
        out.extend_from_slice(b"\r\nTo: <sip:");
        if register {
            out.extend_from_slice(fuser.as_bytes());
            out.push(b'@');
            out.extend_from_slice(fdomain.as_bytes());
        } else {
            out.extend_from_slice(s.service.as_bytes());
            out.push(b'@');
            out.extend_from_slice(self.remote_host.as_bytes());
        }
        out.push(b'>');
        if !c.to_tag.is_empty() {
            out.extend_from_slice(b";tag=");
            out.extend_from_slice(c.to_tag.as_bytes());
        }
        out.extend_from_slice(b"\r\nCall-ID: ");
        out.extend_from_slice(c.call_id.as_bytes());
        out.extend_from_slice(b"\r\nCSeq: ");
        push_u64(out, u64::from(c.cseq));
        out.push(b' ');
        out.extend_from_slice(method.as_bytes());
        out.extend_from_slice(b"\r\n");
        if method == "INVITE" || register {
            out.extend_from_slice(b"Contact: <sip:");
            out.extend_from_slice(fuser.as_bytes());
            out.push(b'@');
            out.extend_from_slice(self.local.as_bytes());
            if s.tcp {
                out.extend_from_slice(b";transport=tcp");
            }
            out.extend_from_slice(b">\r\n");
        }
        if register {
            let expires =
                if self.steps[c.step] == Step::Reregister && s.reg_then == RegThen::Unregister {
                    0
                } else {
                    s.expires
                };
            out.extend_from_slice(b"Expires: ");
            push_u64(out, u64::from(expires));
            out.extend_from_slice(b"\r\n");
        }
        if with_auth && method != "ACK" {
            if let (Some(ch), Some(u)) = (&c.challenge, &c.user) {
                c.nc += 1;
                let cnonce = format!("{:012x}{:04x}", c.seq, c.nc);
                let v = ch.authorization(&u.user, &u.password, method, &ruri, c.nc, &cnonce);
                out.extend_from_slice(if c.proxy_auth {
                    b"Proxy-Authorization: ".as_slice()
                } else {
                    b"Authorization: ".as_slice()
                });
                out.extend_from_slice(v.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"User-Agent: ferrosip-bench\r\n");
        match method {
            "INVITE" => push_body(out, Some("application/sdp"), self.sdp.as_bytes()),
            "MESSAGE" => push_body(out, Some("text/plain"), b"ferrosip-bench load test message"),
            _ => push_body(out, None, b""),
        }
    }
}

/// What a timer entry is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimerKind {
    /// Timer A or E: retransmit the request.
    Retx,
    /// Timer B or F: the transaction timed out.
    Deadline,
    /// The hold time between two steps is over.
    Hold,
}

/// (deadline µs, call slot, call generation, kind).
type TimerEntry = (u64, u32, u32, TimerKind);

/// One FIFO queue per timer interval: entries pushed at `now + interval`, with `now`
/// non-decreasing, are in deadline order without sorting.
#[derive(Debug, Default)]
struct TimerQueues {
    queues: Vec<(u64, VecDeque<TimerEntry>)>,
}

impl TimerQueues {
    fn push(&mut self, interval: u64, e: TimerEntry) {
        let i = match self.queues.iter().position(|(iv, _)| *iv == interval) {
            Some(i) => i,
            None => {
                self.queues.push((interval, VecDeque::new()));
                self.queues.len() - 1
            }
        };
        self.queues[i].1.push_back(e);
    }

    /// Moves every entry due at `now` into `out`.
    fn take_due(&mut self, now: u64, out: &mut Vec<TimerEntry>) {
        for (_, q) in &mut self.queues {
            while let Some(&e) = q.front() {
                if e.0 > now {
                    break;
                }
                out.push(e);
                q.pop_front();
            }
        }
    }

    fn clear(&mut self) {
        self.queues.clear();
    }
}

fn set_branch(c: &mut Call, s: &Setup) {
    c.branch.clear();
    c.branch.push_str("z9hG4bK");
    push_hex_str(&mut c.branch, u64::from(s.run_id), 8);
    c.branch.push('.');
    c.branch.push_str(&c.from_tag);
    c.branch.push('.');
    push_hex_str(&mut c.branch, u64::from(c.branch_n), 2);
}

/// Appends `n` in lowercase hex, zero-padded to `width` digits, to a string.
fn push_hex_str(out: &mut String, n: u64, width: usize) {
    let mut tmp = Vec::with_capacity(16);
    push_hex_width(&mut tmp, n, width);
    // push_hex_width writes ASCII hex digits only.
    out.extend(tmp.iter().map(|&b| b as char));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Qop;
    use crate::uas::Uas;
    use std::net::SocketAddr;

    fn setup(scenario: Scenario, local: &str, remote: &str) -> Setup {
        Setup {
            worker: 0,
            workers: 1,
            scenario,
            remote: remote.parse().unwrap(),
            local: local.parse().unwrap(),
            tcp: false,
            rate: 1.0,
            rate_increase: 0.0,
            rate_max: f64::MAX,
            rate_interval: 1.0,
            limit: 10,
            max_calls: 1,
            duration: None,
            hold_us: 0,
            service: "svc".into(),
            users: None,
            reg_then: RegThen::None,
            expires: 3600,
            qop: Qop::Auth,
            trying: false,
            t1_us: 500_000,
            t2_us: 4_000_000,
            timeout_us: 32_000_000,
            run_id: 0xabc,
            pin: false,
            gso: true,
        }
    }

    /// Runs the client alone (no answers) until `end` µs, one tick per ms.
    fn run_alone(uac: &mut Uac, end: u64) {
        let mut t = 0;
        while t <= end {
            uac.tick(t);
            uac.out.clear();
            t += 1000;
        }
    }

    #[test]
    fn invite_timer_a_doubles_without_cap_then_b_times_out() {
        let mut uac = Uac::new(setup(Scenario::Uac, "127.0.0.1:5000", "127.0.0.1:5001"));
        run_alone(&mut uac, 40_000_000);
        // Sent at 1 s; A fires at +0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; B at +32 s.
        assert_eq!(uac.counters.retransmissions, 6);
        assert_eq!(uac.counters.fail[Fail::Timeout as usize], 1);
        assert!(uac.finished());
    }

    #[test]
    fn a_stalled_tick_spreads_its_backlog_instead_of_failing_calls() {
        let mut s = setup(Scenario::Uac, "127.0.0.1:5000", "127.0.0.1:5001");
        s.rate = 100_000.0;
        s.limit = 1_000_000;
        s.max_calls = 1_000_000;
        let mut uac = Uac::new(s);
        uac.tick(0);
        uac.out.clear();
        // One second late: a second's worth of calls is due, more than the outbox holds.
        uac.tick(1_000_000);
        let first = uac.counters.started;
        assert!(first > 1_000 && first < 100_000, "started {first}");
        assert!(uac.out.buf.len() <= MAX_OUTBOX / 2 + 4096);
        assert_eq!(uac.counters.failed, 0);
        assert_eq!(uac.out.dropped, 0);
        uac.out.clear();
        // The rest follows on the next ticks.
        let mut t = 1_000_000;
        while uac.counters.started < 100_000 && t < 1_100_000 {
            t += 1000;
            uac.tick(t);
            uac.out.clear();
        }
        assert!(uac.counters.started >= 100_000);
        assert_eq!(uac.counters.failed, 0);
    }

    /// The (re)transmission times (µs after the first send) and the timeout time of one
    /// unanswered call of `scenario`, as this engine schedules them.
    fn own_schedule(scenario: Scenario) -> (Vec<u64>, u64) {
        let mut uac = Uac::new(setup(scenario, "127.0.0.1:5000", "127.0.0.1:5001"));
        let (mut sent, mut times, mut t) = (0, Vec::new(), 0);
        let mut first = None;
        while t <= 40_000_000 && uac.counters.failed == 0 {
            uac.tick(t);
            if uac.counters.sent > sent {
                sent = uac.counters.sent;
                let f = *first.get_or_insert(t);
                times.push(t - f);
            }
            uac.out.clear();
            t += 1000;
        }
        (times, t - 1000 - first.unwrap_or(0))
    }

    /// The same from `ferrosip-state`'s client transaction machines (the project's RFC 3261
    /// §17.1 reference), driven in their documented call order.
    fn reference_schedule(invite: bool) -> (Vec<u64>, u64) {
        use ferrosip_state::{
            ClientInviteTx, ClientNonInviteTx, Reliability, TimerConfig, TxEvent,
        };
        use std::time::Instant;
        let t0 = Instant::now();
        let (cfg, rel, req) = (
            TimerConfig::default(),
            Reliability::Unreliable,
            Box::from(&b"x"[..]),
        );
        let mut inv = invite.then(|| ClientInviteTx::new(t0, cfg, rel, req));
        let mut non = (!invite).then(|| ClientNonInviteTx::new(t0, cfg, rel, Box::from(&b"x"[..])));
        let mut buf = Vec::new();
        let (mut times, mut now) = (Vec::new(), t0);
        let us = |t: Instant| t.duration_since(t0).as_micros() as u64;
        for _ in 0..100 {
            let (tx_sent, event, next) = match (&mut inv, &mut non) {
                (Some(tx), _) => (
                    tx.poll_transmit(now, &mut buf).is_some(),
                    tx.poll_event(),
                    tx.poll_timeout(),
                ),
                (_, Some(tx)) => (
                    tx.poll_transmit(now, &mut buf).is_some(),
                    tx.poll_event(),
                    tx.poll_timeout(),
                ),
                _ => unreachable!(),
            };
            if tx_sent {
                times.push(us(now));
            }
            if event == Some(TxEvent::Timeout) {
                return (times, us(now));
            }
            let Some(next) = next else { break };
            now = next;
            match (&mut inv, &mut non) {
                (Some(tx), _) => tx.handle_timeout(now),
                (_, Some(tx)) => tx.handle_timeout(now),
                _ => unreachable!(),
            }
        }
        panic!("no timeout from the reference machine");
    }

    #[test]
    fn timers_match_the_ferrosip_state_machines() {
        let invite = own_schedule(Scenario::Uac);
        assert_eq!(invite, reference_schedule(true));
        // 7 INVITE transmissions (0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s), Timer B at 32 s.
        assert_eq!(invite.0.len(), 7);
        assert_eq!(invite.1, 32_000_000);
        let options = own_schedule(Scenario::Options);
        assert_eq!(options, reference_schedule(false));
        // 11 transmissions (E capped at T2 = 4 s), Timer F at 32 s.
        assert_eq!(options.0.len(), 11);
        assert_eq!(options.1, 32_000_000);
    }

    #[test]
    fn non_invite_timer_e_caps_at_t2() {
        let mut uac = Uac::new(setup(Scenario::Options, "127.0.0.1:5000", "127.0.0.1:5001"));
        run_alone(&mut uac, 40_000_000);
        // E: +0.5, 1.5, 3.5, 7.5, then every 4 s: 11.5 ... 31.5 s; F at +32 s.
        assert_eq!(uac.counters.retransmissions, 10);
        assert_eq!(uac.counters.fail[Fail::Timeout as usize], 1);
    }

    /// A simulated network: the client and the server engines exchange their outboxes with
    /// no sockets and a virtual clock.
    fn pair(mut s: Setup, hold_us: u64, calls: u64) -> (Uac, Uas) {
        s.hold_us = hold_us;
        s.max_calls = calls;
        s.rate = 1000.0;
        let uas_setup = Setup {
            scenario: Scenario::Uas,
            local: s.remote,
            remote: s.local,
            ..s.clone()
        };
        let mut uac = Uac::new(s);
        let mut uas = Uas::new(uas_setup);
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut t = 0;
        while t < 10_000_000 && !uac.finished() {
            uac.tick(t);
            uas.tick(t);
            for _ in 0..4 {
                let o = std::mem::take(&mut uac.out);
                for (r, _, _) in &o.msgs {
                    uas.on_message(&o.buf[r.clone()], Dest::Udp(from), t);
                }
                let o = std::mem::take(&mut uas.out);
                for (r, _, _) in &o.msgs {
                    uac.on_message(&o.buf[r.clone()], t + 100);
                }
            }
            t += 1000;
        }
        (uac, uas)
    }

    #[test]
    fn calls_complete_against_the_server_engine() {
        let s = setup(Scenario::Uac, "127.0.0.1:5000", "127.0.0.1:5001");
        let (uac, uas) = pair(s, 20_000, 50);
        assert_eq!(uac.counters.completed, 50);
        assert_eq!(uac.counters.failed, 0);
        assert_eq!(uac.counters.unexpected + uac.counters.stray, 0);
        assert_eq!(uac.hists.get(Kind::Invite).len(), 50);
        assert_eq!(uac.hists.get(Kind::Bye).len(), 50);
        assert_eq!(uas.active(), 0, "every 2xx was ACKed");
        assert_eq!(uas.counters.stray, 0);
    }

    #[test]
    fn server_retransmits_its_2xx_until_the_ack_rfc3261_13_3_1_4() {
        let s = setup(Scenario::Uac, "127.0.0.1:5000", "127.0.0.1:5001");
        let mut uac = Uac::new(s.clone());
        uac.tick(1_000_000);
        let invite = uac.out.buf.clone();
        let mut uas = Uas::new(Setup {
            scenario: Scenario::Uas,
            ..s
        });
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        uas.on_message(&invite, Dest::Udp(from), 0);
        assert_eq!(uas.out.msgs.len(), 2, "180 and 200");
        let mut t = 0;
        while t <= 40_000_000 {
            uas.tick(t);
            t += 1000;
        }
        // From T1 doubling to T2: +0.5, 1.5, 3.5, 7.5, then every 4 s up to 31.5 s; dropped
        // at 64·T1 without an ACK.
        assert_eq!(uas.counters.retransmissions, 10);
        assert_eq!(uas.active(), 0);
        // An INVITE retransmission is answered with the same 200 (same To-tag).
        uas.out.clear();
        uas.on_message(&invite, Dest::Udp(from), 41_000_000);
        uas.on_message(&invite, Dest::Udp(from), 41_000_001);
        let o = &uas.out;
        assert_eq!(o.msgs.len(), 3);
        assert_eq!(o.buf[o.msgs[1].0.clone()], o.buf[o.msgs[2].0.clone()]);
    }

    #[test]
    fn registrations_with_digest_complete_against_the_server_engine() {
        let mut s = setup(Scenario::Register, "127.0.0.1:5000", "127.0.0.1:5001");
        s.users = Some(std::sync::Arc::new(
            crate::users::Users::from_template("u%d@example.com", "1-10", "p%d").unwrap(),
        ));
        s.reg_then = RegThen::Refresh;
        let (uac, uas) = pair(s.clone(), 0, 20);
        assert_eq!(uac.counters.completed, 20);
        assert_eq!(uac.hists.get(Kind::Register).len(), 20);
        assert_eq!(uac.hists.get(Kind::Refresh).len(), 20);
        assert_eq!(uas.counters.auth_rejected, 0);
        s.qop = Qop::None;
        let (uac, _) = pair(s, 0, 5);
        assert_eq!(uac.counters.completed, 5);
    }
}
