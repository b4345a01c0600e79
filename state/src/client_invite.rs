//! INVITE client transaction, RFC 3261 §17.1.1 (Figure 5) as updated by RFC 6026 §8.4
//! (Figure 4: the `Accepted` state and Timer M), with the proxy Timer C of §16.6-16.8.

use std::time::{Duration, Instant};

use crate::config::{Reliability, TimerConfig};
use crate::error::TxError;
use crate::output::{
    emit, emit_owned, Disposition, Outputs, Pending, StatusCode, TimerCAction, Transmit,
    TransmitKind, TxEvent,
};
use crate::timer::{TimerTable, TxTimer};

/// Whether the TU may send a CANCEL for this INVITE now (RFC 3261 §9.1).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CancelReadiness {
    /// A provisional response was received: send the CANCEL now.
    Now,
    /// Still `Calling`: §9.1 says the CANCEL "SHOULD NOT" be sent before a provisional
    /// response; remember the wish and send it on the first [`TxEvent::Response`] 1xx.
    AfterProvisional,
    /// A final response was received (or the transaction ended): CANCEL has no effect.
    TooLate,
}

/// INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §8.4; proxy Timer C §16.6-16.8).
///
/// Created by [`ClientInviteTx::new`], which queues the first send of the request. Inputs:
/// [`handle_response`](Self::handle_response), [`handle_timeout`](Self::handle_timeout),
/// [`handle_transport_error`](Self::handle_transport_error). Outputs, in the crate's documented
/// call order: [`poll_event`](Self::poll_event), [`poll_transmit`](Self::poll_transmit),
/// [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct ClientInviteTx {
    state: State,
    cx: Ctx,
    request: Box<[u8]>,
}

/// What every state may touch: configuration, timers and output queues.
#[derive(Debug)]
struct Ctx {
    cfg: TimerConfig,
    rel: Reliability,
    timers: TimerTable,
    out: Outputs,
}

#[derive(Debug)]
enum State {
    Calling(Calling),
    Proceeding(Proceeding),
    Completed(Completed),
    Accepted(Accepted),
    Terminated(Terminated),
}

/// §17.1.1.2: request sent, waiting for any response; Timer A doubles with no cap.
#[derive(Debug)]
struct Calling {
    a_interval: Duration,
}

/// §17.1.1.2: a provisional response arrived; no retransmissions.
#[derive(Debug)]
struct Proceeding {
    /// Timer C already fired once and asked for a CANCEL; C now runs as the 64·T1 guard.
    cancel_requested: bool,
}

/// §17.1.1.2: a 300-699 was ACKed; Timer D absorbs retransmitted finals.
#[derive(Debug)]
struct Completed {
    ack: Box<[u8]>,
}

/// RFC 6026 §8.4: a 2xx was passed up; 2xx retransmissions keep going to the TU until M.
#[derive(Debug)]
struct Accepted;

/// Final state; the engine removes the transaction.
#[derive(Debug)]
struct Terminated;

impl Ctx {
    fn terminate(&mut self) -> State {
        self.timers.stop_all();
        self.out.event(TxEvent::Terminated);
        State::Terminated(Terminated)
    }

    /// Calling/Proceeding receive a response (the same edges leave both states).
    fn on_response_pending(
        &mut self,
        now: Instant,
        st: StatusCode,
        build_ack: impl FnOnce() -> Vec<u8>,
        proceeding: Proceeding,
    ) -> State {
        self.out.event(TxEvent::Response(st));
        if st.is_provisional() {
            // §17.1.1.2: Calling → Proceeding stops retransmissions (and Timer B, which only
            // applies to Calling). §16.7 step 2: 101-199 reset Timer C; 100 does not.
            self.timers.stop(TxTimer::A);
            self.timers.stop(TxTimer::B);
            if st.code() > 100 && !proceeding.cancel_requested {
                if let Some(c) = self.cfg.timer_c {
                    self.timers.set(TxTimer::C, now, c);
                }
            }
            return State::Proceeding(proceeding);
        }
        for t in [TxTimer::A, TxTimer::B, TxTimer::C] {
            self.timers.stop(t);
        }
        if st.is_success() {
            // RFC 6026 §8.4: 2xx → Accepted, Timer M = 64·T1 (all transports).
            self.timers.set(TxTimer::M, now, self.cfg.retention());
            return State::Accepted(Accepted);
        }
        // §17.1.1.3: ACK the 300-699 hop by hop; → Completed with Timer D.
        let ack: Box<[u8]> = build_ack().into();
        let d = self.cfg.d(self.rel);
        if d.is_zero() {
            self.out.send(Pending::Owned(TransmitKind::Ack, ack));
            return self.terminate();
        }
        self.out.send(Pending::Ack {
            retransmission: false,
        });
        self.timers.set(TxTimer::D, now, d);
        State::Completed(Completed { ack })
    }
}

impl Calling {
    fn on_timer(self, cx: &mut Ctx, now: Instant, t: TxTimer) -> State {
        match t {
            TxTimer::A => {
                // §17.1.1.2: retransmit, double the interval; no cap (B ends it).
                cx.out.send(Pending::Request {
                    retransmission: true,
                });
                let a_interval = self.a_interval.saturating_mul(2);
                cx.timers.set(TxTimer::A, now, a_interval);
                State::Calling(Self { a_interval })
            }
            TxTimer::B => {
                cx.out.event(TxEvent::Timeout);
                cx.terminate()
            }
            TxTimer::C => {
                // §16.8: no provisional yet → act as though 408 was received.
                cx.out.event(TxEvent::TimerC(TimerCAction::Local408));
                cx.terminate()
            }
            _ => State::Calling(self),
        }
    }
}

impl Proceeding {
    fn on_timer(self, cx: &mut Ctx, now: Instant, t: TxTimer) -> State {
        match t {
            TxTimer::C if !self.cancel_requested => {
                // §16.8: a provisional was received → the proxy CANCELs this branch. Keep
                // waiting for the 487, but not forever: a 64·T1 guard (our bound, STYLE L8).
                cx.out.event(TxEvent::TimerC(TimerCAction::Cancel));
                cx.timers
                    .set(TxTimer::C, now, cx.cfg.final_response_timeout());
                State::Proceeding(Self {
                    cancel_requested: true,
                })
            }
            TxTimer::C => {
                cx.out.event(TxEvent::Timeout);
                cx.terminate()
            }
            _ => State::Proceeding(self),
        }
    }
}

impl Completed {
    fn on_response(self, cx: &mut Ctx, st: StatusCode) -> (State, Disposition) {
        if st.is_non2xx_final() {
            // §17.1.1.2: a retransmitted final is absorbed and the ACK resent.
            cx.out.send(Pending::Ack {
                retransmission: true,
            });
            (State::Completed(self), Disposition::Absorbed)
        } else {
            (State::Completed(self), Disposition::Ignored)
        }
    }

    fn on_timer(self, cx: &mut Ctx, t: TxTimer) -> State {
        match t {
            TxTimer::D => cx.terminate(),
            _ => State::Completed(self),
        }
    }
}

impl Accepted {
    fn on_response(self, cx: &mut Ctx, st: StatusCode) -> (State, Disposition) {
        if st.is_success() {
            // RFC 6026 §8.4: 2xx retransmissions (and 2xx from other forks) go to the TU.
            cx.out.event(TxEvent::Response(st));
            (State::Accepted(self), Disposition::Delivered)
        } else {
            (State::Accepted(self), Disposition::Ignored)
        }
    }

    fn on_timer(self, cx: &mut Ctx, t: TxTimer) -> State {
        match t {
            TxTimer::M => cx.terminate(),
            _ => State::Accepted(self),
        }
    }
}

impl ClientInviteTx {
    /// Starts the transaction in `Calling` and queues the first send of `request` (RFC 3261
    /// §17.1.1.2): Timer A = T1 on UDP, Timer B = 64·T1 (or `fr_timer`), Timer C when the
    /// config has one (proxy, §16.6 step 11).
    #[must_use]
    pub fn new(now: Instant, cfg: TimerConfig, rel: Reliability, request: Box<[u8]>) -> Self {
        let mut cx = Ctx {
            cfg,
            rel,
            timers: TimerTable::default(),
            out: Outputs::default(),
        };
        cx.out.send(Pending::Request {
            retransmission: false,
        });
        if !rel.is_reliable() {
            cx.timers.set(TxTimer::A, now, cfg.t1);
        }
        cx.timers.set(TxTimer::B, now, cfg.final_response_timeout());
        if let Some(c) = cfg.timer_c {
            cx.timers.set(TxTimer::C, now, c);
        }
        Self {
            state: State::Calling(Calling { a_interval: cfg.t1 }),
            cx,
            request,
        }
    }

    /// Once a final response arrived the request is never sent again (see
    /// `Outputs::release_request`).
    fn release_request(&mut self) {
        if !matches!(self.state, State::Calling(_) | State::Proceeding(_)) {
            self.cx.out.release_request(&mut self.request);
        }
    }

    /// The request this transaction sends (what CANCEL and ACK are built from, RFC 3261
    /// §9.1, §17.1.1.3).
    #[must_use]
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// A response matched this transaction (RFC 3261 §17.1.3). `build_ack` is called only
    /// when the machine must ACK a 300-699 itself (§17.1.1.3); build it with
    /// [`AckParts::build`](crate::AckParts::build). Every response that must reach the TU
    /// queues [`TxEvent::Response`].
    ///
    /// # Errors
    /// [`TxError::PeerMisbehaved`] for a status outside 100..=699; the state is unchanged.
    pub fn handle_response(
        &mut self,
        now: Instant,
        status: u16,
        build_ack: impl FnOnce() -> Vec<u8>,
    ) -> Result<Disposition, TxError> {
        let st = StatusCode::from_peer(status)?;
        let cx = &mut self.cx;
        let (next, disp) = match std::mem::replace(&mut self.state, State::Terminated(Terminated)) {
            State::Calling(_) => (
                cx.on_response_pending(
                    now,
                    st,
                    build_ack,
                    Proceeding {
                        cancel_requested: false,
                    },
                ),
                Disposition::Delivered,
            ),
            State::Proceeding(p) => (
                cx.on_response_pending(now, st, build_ack, p),
                Disposition::Delivered,
            ),
            State::Completed(c) => c.on_response(cx, st),
            State::Accepted(a) => a.on_response(cx, st),
            State::Terminated(t) => (State::Terminated(t), Disposition::Ignored),
        };
        self.state = next;
        self.release_request();
        Ok(disp)
    }

    /// Fires every timer due at `now` (RFC 3261 §17.1.1.2, §16.8, RFC 6026 §8.4). Early or
    /// spurious calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(t) = self.cx.timers.pop_expired(now) {
            let cx = &mut self.cx;
            self.state = match std::mem::replace(&mut self.state, State::Terminated(Terminated)) {
                State::Calling(s) => s.on_timer(cx, now, t),
                State::Proceeding(s) => s.on_timer(cx, now, t),
                State::Completed(s) => s.on_timer(cx, t),
                State::Accepted(s) => s.on_timer(cx, t),
                State::Terminated(s) => State::Terminated(s),
            };
        }
    }

    /// The transport failed to send the request or ACK (RFC 3261 §17.1.4): inform the TU and
    /// terminate. In `Accepted` the transaction sends nothing, so this is ignored.
    pub fn handle_transport_error(&mut self, _now: Instant) -> Disposition {
        match &self.state {
            State::Calling(_) | State::Proceeding(_) | State::Completed(_) => {
                self.cx.out.event(TxEvent::TransportError);
                self.state = self.cx.terminate();
                Disposition::Delivered
            }
            State::Accepted(_) | State::Terminated(_) => Disposition::Ignored,
        }
    }

    /// Whether a CANCEL may be sent now (RFC 3261 §9.1).
    #[must_use]
    pub fn can_cancel(&self) -> CancelReadiness {
        match &self.state {
            State::Calling(_) => CancelReadiness::AfterProvisional,
            State::Proceeding(_) => CancelReadiness::Now,
            State::Completed(_) | State::Accepted(_) | State::Terminated(_) => {
                CancelReadiness::TooLate
            }
        }
    }

    /// Next event for the TU (step 1 of the call order).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.cx.out.events.pop_front()
    }

    /// Appends the next message to send to `buf` (step 2 of the call order).
    #[must_use]
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        while let Some(p) = self.cx.out.sends.pop_front() {
            match (p, &self.state) {
                (Pending::Request { retransmission }, _) => {
                    return Some(emit(
                        buf,
                        TransmitKind::Request,
                        retransmission,
                        &self.request,
                    ))
                }
                (Pending::Ack { retransmission }, State::Completed(c)) => {
                    return Some(emit(buf, TransmitKind::Ack, retransmission, &c.ack))
                }
                (Pending::Owned(kind, bytes), _) => return Some(emit_owned(buf, kind, bytes)),
                _ => {}
            }
        }
        None
    }

    /// The earliest armed timer (step 3 of the call order; RFC 3261 §17.1.1.2).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.cx.timers.next_timeout()
    }

    /// `true` once `Terminated` (RFC 3261 §17.1.1.2).
    #[must_use]
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated(_))
    }

    /// The state's RFC name, for logs and tests.
    #[must_use]
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Calling(_) => "Calling",
            State::Proceeding(_) => "Proceeding",
            State::Completed(_) => "Completed",
            State::Accepted(_) => "Accepted",
            State::Terminated(_) => "Terminated",
        }
    }

    /// The deadline of one timer, for tests and diagnostics.
    #[must_use]
    pub fn timer(&self, t: TxTimer) -> Option<Instant> {
        self.cx.timers.get(t)
    }
}
