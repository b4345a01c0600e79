//! Simulated clock and network for the machines (STYLE L9, after quinn's `tests/util.rs`).
//!
//! Two [`SimEndpoint`]s (client and server) joined by two [`Link`]s with a fixed latency.
//! [`Pair::step`] jumps virtual time to the next deadline or delivery, so tests never sleep.
//! Messages are tiny stand-ins: requests are their method (`b"INVITE"`, `b"ACK"`,
//! `b"OPTIONS"`, `b"CANCEL"`), responses are `b"SIP/2.0 486"`. Faults are queue
//! manipulation: [`Link::blackhole`], [`Link::drop_prefix`], [`Link::duplicate_front`],
//! [`Link::swap_front`], [`Link::inject`]. The only clock read is the epoch `t0`, taken once
//! because `Instant` has no public constructor; everything after it is virtual.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::{
    ClientInviteTx, ClientNonInviteTx, Disposition, InviteInput, Reliability, ServerInviteTx,
    ServerNonInviteTx, TimerConfig, Transaction, Transmit, TransmitKind, TxEvent,
};

/// One direction of the simulated network.
#[derive(Debug, Default)]
pub(crate) struct Link {
    pub(crate) latency: Duration,
    /// In-flight packets with their delivery time.
    pub(crate) queue: VecDeque<(Instant, Vec<u8>)>,
    /// Drop everything sent (a black-holed path).
    pub(crate) blackhole: bool,
    /// Drop every packet starting with one of these prefixes.
    pub(crate) drop_prefixes: Vec<Vec<u8>>,
    pub(crate) dropped: usize,
}

impl Link {
    fn send(&mut self, now: Instant, bytes: Vec<u8>) {
        if self.blackhole || self.drop_prefixes.iter().any(|p| bytes.starts_with(p)) {
            self.dropped += 1;
            return;
        }
        self.queue.push_back((now + self.latency, bytes));
    }

    pub(crate) fn drop_prefix(&mut self, p: &[u8]) {
        self.drop_prefixes.push(p.to_vec());
    }

    /// Puts a copy of the first in-flight packet behind it.
    pub(crate) fn duplicate_front(&mut self) {
        if let Some(f) = self.queue.front().cloned() {
            self.queue.insert(1, f);
        }
    }

    /// Reorders the first two in-flight packets.
    pub(crate) fn swap_front(&mut self) {
        if self.queue.len() >= 2 {
            self.queue.swap(0, 1);
            let (a, b) = (self.queue[0].0, self.queue[1].0);
            self.queue[0].0 = a.min(b);
            self.queue[1].0 = a.max(b);
        }
    }

    /// Sends `bytes` as if the peer had (a retransmission the machine did not produce, an
    /// end-to-end ACK from the TU, ...).
    pub(crate) fn inject(&mut self, now: Instant, bytes: &[u8]) {
        self.queue.push_back((now + self.latency, bytes.to_vec()));
    }

    fn next_at(&self) -> Option<Instant> {
        self.queue.iter().map(|(t, _)| *t).min()
    }

    fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        let i = self.queue.iter().position(|(t, _)| *t <= now)?;
        self.queue.remove(i).map(|(_, b)| b)
    }
}

/// One side: its transaction and what it saw, stamped with virtual time since `t0`.
#[derive(Debug, Default)]
pub(crate) struct SimEndpoint {
    pub(crate) tx: Option<Transaction>,
    pub(crate) events: Vec<(Duration, TxEvent)>,
    pub(crate) sent: Vec<(Duration, Transmit, Vec<u8>)>,
    pub(crate) dispositions: Vec<(Duration, Disposition)>,
}

impl SimEndpoint {
    pub(crate) fn event_list(&self) -> Vec<TxEvent> {
        self.events.iter().map(|(_, e)| *e).collect()
    }

    pub(crate) fn sent_times(&self, pred: impl Fn(&Transmit) -> bool) -> Vec<u64> {
        self.sent
            .iter()
            .filter(|(_, t, _)| pred(t))
            .map(|(d, _, _)| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .collect()
    }

    pub(crate) fn state(&self) -> &'static str {
        self.tx.as_ref().map_or("None", Transaction::state_name)
    }

    pub(crate) fn event_time(&self, e: TxEvent) -> Option<u64> {
        self.events
            .iter()
            .find(|(_, x)| *x == e)
            .map(|(d, _)| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Client and server joined by two links, on a virtual clock.
#[derive(Debug)]
pub(crate) struct Pair {
    pub(crate) t0: Instant,
    pub(crate) now: Instant,
    pub(crate) cfg: TimerConfig,
    pub(crate) rel: Reliability,
    pub(crate) client: SimEndpoint,
    pub(crate) server: SimEndpoint,
    pub(crate) c2s: Link,
    pub(crate) s2c: Link,
    pub(crate) cancel_decisions: Vec<crate::CancelDecision>,
}

/// Response stand-in bytes.
pub(crate) fn resp(code: u16) -> Vec<u8> {
    format!("SIP/2.0 {code}").into_bytes()
}

fn status_of(bytes: &[u8]) -> Option<u16> {
    std::str::from_utf8(bytes.strip_prefix(b"SIP/2.0 ")?)
        .ok()?
        .parse()
        .ok()
}

/// Milliseconds of test time.
pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Pair {
    pub(crate) const LATENCY: Duration = Duration::from_millis(10);

    pub(crate) fn new(cfg: TimerConfig, rel: Reliability) -> Self {
        let t0 = Instant::now();
        Self {
            t0,
            now: t0,
            cfg,
            rel,
            client: SimEndpoint::default(),
            server: SimEndpoint::default(),
            c2s: Link {
                latency: Self::LATENCY,
                ..Link::default()
            },
            s2c: Link {
                latency: Self::LATENCY,
                ..Link::default()
            },
            cancel_decisions: Vec::new(),
        }
    }

    pub(crate) fn udp() -> Self {
        Self::new(TimerConfig::default(), Reliability::Unreliable)
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// The client sends an INVITE.
    pub(crate) fn start_invite(&mut self) {
        let tx = ClientInviteTx::new(self.now, self.cfg, self.rel, b"INVITE".to_vec().into());
        self.client.tx = Some(Transaction::ClientInvite(tx));
        self.drain();
    }

    /// The client sends a non-INVITE request.
    pub(crate) fn start_request(&mut self, method: &str) {
        let tx = ClientNonInviteTx::new(
            self.now,
            self.cfg,
            self.rel,
            method.as_bytes().to_vec().into(),
        );
        self.client.tx = Some(Transaction::ClientNonInvite(tx));
        self.drain();
    }

    /// The server's TU answers with `code`.
    pub(crate) fn server_respond(&mut self, code: u16) -> Result<(), crate::TxError> {
        let now = self.now;
        let r = match self.server.tx.as_mut() {
            Some(Transaction::ServerInvite(t)) => {
                t.handle_tu_response(now, code, resp(code).into())
            }
            Some(Transaction::ServerNonInvite(t)) => {
                t.handle_tu_response(now, code, resp(code).into())
            }
            _ => panic!("no server transaction"),
        };
        self.drain();
        r
    }

    pub(crate) fn server_invite(&mut self) -> &mut ServerInviteTx {
        match self.server.tx.as_mut() {
            Some(Transaction::ServerInvite(t)) => t,
            _ => panic!("not a server INVITE"),
        }
    }

    pub(crate) fn client_invite(&mut self) -> &mut ClientInviteTx {
        match self.client.tx.as_mut() {
            Some(Transaction::ClientInvite(t)) => t,
            _ => panic!("not a client INVITE"),
        }
    }

    fn next_wakeup(&self) -> Option<Instant> {
        [
            self.client.tx.as_ref().and_then(Transaction::poll_timeout),
            self.server.tx.as_ref().and_then(Transaction::poll_timeout),
            self.c2s.next_at(),
            self.s2c.next_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Advances to the next deadline or delivery and processes it. `false` when idle.
    pub(crate) fn step(&mut self) -> bool {
        let Some(t) = self.next_wakeup() else {
            return false;
        };
        self.now = self.now.max(t);
        let now = self.now;
        while let Some(b) = self.c2s.pop_due(now) {
            self.deliver_to_server(&b);
            self.drain();
        }
        while let Some(b) = self.s2c.pop_due(now) {
            self.deliver_to_client(&b);
            self.drain();
        }
        for ep in [&mut self.client, &mut self.server] {
            if let Some(tx) = ep.tx.as_mut() {
                if tx.poll_timeout().is_some_and(|d| d <= now) {
                    tx.handle_timeout(now);
                }
            }
        }
        self.drain();
        true
    }

    /// Steps while the next wakeup is at or before `t0 + at`, then sets the clock there.
    pub(crate) fn run_until(&mut self, at: Duration) {
        let end = self.t0 + at;
        let mut guard = 0;
        while self.next_wakeup().is_some_and(|t| t <= end) {
            self.step();
            guard += 1;
            assert!(guard < 100_000, "simulation does not settle");
        }
        self.now = self.now.max(end);
    }

    /// Steps until nothing is left to do.
    pub(crate) fn run(&mut self) {
        let mut guard = 0;
        while self.step() {
            guard += 1;
            assert!(guard < 100_000, "simulation does not settle");
        }
    }

    fn deliver_to_server(&mut self, b: &[u8]) {
        let now = self.now;
        let el = self.elapsed();
        let is_invite = b == b"INVITE";
        let is_ack = b == b"ACK";
        let is_cancel = b == b"CANCEL";
        match self.server.tx.as_mut() {
            None if is_ack => {}
            None if is_invite => {
                self.server.tx = Some(Transaction::ServerInvite(ServerInviteTx::new(
                    now, self.cfg, self.rel,
                )));
            }
            None => {
                self.server.tx = Some(Transaction::ServerNonInvite(ServerNonInviteTx::new(
                    now, self.cfg, self.rel,
                )));
            }
            Some(Transaction::ServerInvite(t)) if is_cancel => {
                self.cancel_decisions.push(t.handle_cancel(now));
            }
            Some(Transaction::ServerInvite(t)) => {
                let input = if is_ack {
                    InviteInput::Ack
                } else {
                    InviteInput::Invite
                };
                let d = t.handle_request(now, input);
                self.server.dispositions.push((el, d));
            }
            Some(Transaction::ServerNonInvite(t)) => {
                let d = t.handle_request(now);
                self.server.dispositions.push((el, d));
            }
            Some(_) => {}
        }
    }

    fn deliver_to_client(&mut self, b: &[u8]) {
        let now = self.now;
        let el = self.elapsed();
        let Some(code) = status_of(b) else { return };
        let d = match self.client.tx.as_mut() {
            Some(Transaction::ClientInvite(t)) => t.handle_response(now, code, || b"ACK".to_vec()),
            Some(Transaction::ClientNonInvite(t)) => t.handle_response(now, code),
            _ => return,
        };
        if let Ok(d) = d {
            self.client.dispositions.push((el, d));
        }
    }

    /// Runs the documented poll order on both sides: events, transmits, (timeouts are read
    /// by `next_wakeup`).
    pub(crate) fn drain(&mut self) {
        let now = self.now;
        let el = self.elapsed();
        for (ep, link) in [
            (&mut self.client, &mut self.c2s),
            (&mut self.server, &mut self.s2c),
        ] {
            let Some(tx) = ep.tx.as_mut() else { continue };
            while let Some(e) = tx.poll_event() {
                ep.events.push((el, e));
            }
            let mut buf = Vec::new();
            while let Some(t) = tx.poll_transmit(now, &mut buf) {
                assert_eq!(t.len, buf.len());
                ep.sent.push((el, t, buf.clone()));
                link.send(now, std::mem::take(&mut buf));
            }
        }
    }
}

/// Matches `Transmit`s of a kind.
pub(crate) fn is_request(t: &Transmit) -> bool {
    t.kind == TransmitKind::Request
}

pub(crate) fn is_ack(t: &Transmit) -> bool {
    t.kind == TransmitKind::Ack
}

pub(crate) fn is_response(code: u16) -> impl Fn(&Transmit) -> bool {
    move |t| matches!(t.kind, TransmitKind::Response(s) if s.code() == code)
}
