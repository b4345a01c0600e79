//! Non-INVITE client transaction, RFC 3261 §17.1.2 (Figure 6).

use std::time::{Duration, Instant};

use crate::config::{Reliability, TimerConfig};
use crate::error::TxError;
use crate::output::{
    emit, emit_owned, Disposition, Outputs, Pending, StatusCode, Transmit, TransmitKind, TxEvent,
};
use crate::timer::{TimerTable, TxTimer};

/// Non-INVITE client transaction (RFC 3261 §17.1.2; also used for CANCEL, §9.1).
///
/// Created by [`ClientNonInviteTx::new`], which queues the first send. Inputs:
/// [`handle_response`](Self::handle_response), [`handle_timeout`](Self::handle_timeout),
/// [`handle_transport_error`](Self::handle_transport_error); outputs in the crate's call order:
/// [`poll_event`](Self::poll_event), [`poll_transmit`](Self::poll_transmit),
/// [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct ClientNonInviteTx {
    state: State,
    cx: Ctx,
    request: Box<[u8]>,
}

#[derive(Debug)]
struct Ctx {
    cfg: TimerConfig,
    rel: Reliability,
    timers: TimerTable,
    out: Outputs,
}

#[derive(Debug)]
enum State {
    Trying(Trying),
    Proceeding(Proceeding),
    Completed(Completed),
    Terminated(Terminated),
}

/// §17.1.2.2: request sent; Timer E doubles from T1 up to T2.
#[derive(Debug)]
struct Trying {
    e_interval: Duration,
}

/// §17.1.2.2: a provisional arrived; Timer E fires every T2.
#[derive(Debug)]
struct Proceeding;

/// §17.1.2.2: final received; Timer K absorbs retransmitted responses.
#[derive(Debug)]
struct Completed;

/// Final state.
#[derive(Debug)]
struct Terminated;

impl Ctx {
    fn terminate(&mut self) -> State {
        self.timers.stop_all();
        self.out.event(TxEvent::Terminated);
        State::Terminated(Terminated)
    }

    /// Trying/Proceeding receive a response: the same edges leave both states.
    fn on_response_pending(&mut self, now: Instant, st: StatusCode) -> State {
        self.out.event(TxEvent::Response(st));
        if st.is_provisional() {
            return State::Proceeding(Proceeding);
        }
        self.timers.stop(TxTimer::E);
        self.timers.stop(TxTimer::F);
        let k = self.cfg.i_k(self.rel);
        if k.is_zero() {
            return self.terminate();
        }
        self.timers.set(TxTimer::K, now, k);
        State::Completed(Completed)
    }

    fn on_timer_f(&mut self) -> State {
        self.out.event(TxEvent::Timeout);
        self.terminate()
    }
}

impl Trying {
    fn on_timer(self, cx: &mut Ctx, now: Instant, t: TxTimer) -> State {
        match t {
            TxTimer::E => {
                cx.out.send(Pending::Request {
                    retransmission: true,
                });
                let e_interval = self.e_interval.saturating_mul(2).min(cx.cfg.t2);
                cx.timers.set(TxTimer::E, now, e_interval);
                State::Trying(Self { e_interval })
            }
            TxTimer::F => cx.on_timer_f(),
            _ => State::Trying(self),
        }
    }
}

impl Proceeding {
    fn on_timer(self, cx: &mut Ctx, now: Instant, t: TxTimer) -> State {
        match t {
            TxTimer::E => {
                cx.out.send(Pending::Request {
                    retransmission: true,
                });
                cx.timers.set(TxTimer::E, now, cx.cfg.t2);
                State::Proceeding(self)
            }
            TxTimer::F => cx.on_timer_f(),
            _ => State::Proceeding(self),
        }
    }
}

impl Completed {
    fn on_timer(self, cx: &mut Ctx, t: TxTimer) -> State {
        match t {
            TxTimer::K => cx.terminate(),
            _ => State::Completed(self),
        }
    }
}

impl ClientNonInviteTx {
    /// Starts in `Trying` and queues the first send (RFC 3261 §17.1.2.2): Timer E = T1 on UDP,
    /// Timer F = 64·T1 (or `fr_timer`).
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
            cx.timers.set(TxTimer::E, now, cfg.t1);
        }
        cx.timers.set(TxTimer::F, now, cfg.final_response_timeout());
        Self {
            state: State::Trying(Trying { e_interval: cfg.t1 }),
            cx,
            request,
        }
    }

    /// Once a final response arrived the request is never sent again (see
    /// `Outputs::release_request`).
    fn release_request(&mut self) {
        if !matches!(self.state, State::Trying(_) | State::Proceeding(_)) {
            self.cx.out.release_request(&mut self.request);
        }
    }

    /// The request this transaction sends (RFC 3261 §17.1.2).
    #[must_use]
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// A response matched this transaction (RFC 3261 §17.1.3); responses for the TU queue
    /// [`TxEvent::Response`], retransmitted finals in `Completed` are absorbed.
    ///
    /// # Errors
    /// [`TxError::PeerMisbehaved`] for a status outside 100..=699; the state is unchanged.
    pub fn handle_response(&mut self, now: Instant, status: u16) -> Result<Disposition, TxError> {
        let st = StatusCode::from_peer(status)?;
        let cx = &mut self.cx;
        let (next, disp) = match std::mem::replace(&mut self.state, State::Terminated(Terminated)) {
            State::Trying(_) | State::Proceeding(_) => {
                (cx.on_response_pending(now, st), Disposition::Delivered)
            }
            State::Completed(c) => (State::Completed(c), Disposition::Absorbed),
            State::Terminated(t) => (State::Terminated(t), Disposition::Ignored),
        };
        self.state = next;
        self.release_request();
        Ok(disp)
    }

    /// Fires every timer due at `now` (RFC 3261 §17.1.2.2). Early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(t) = self.cx.timers.pop_expired(now) {
            let cx = &mut self.cx;
            self.state = match std::mem::replace(&mut self.state, State::Terminated(Terminated)) {
                State::Trying(s) => s.on_timer(cx, now, t),
                State::Proceeding(s) => s.on_timer(cx, now, t),
                State::Completed(s) => s.on_timer(cx, t),
                State::Terminated(s) => State::Terminated(s),
            };
        }
    }

    /// The transport failed (RFC 3261 §17.1.4): inform the TU and terminate.
    pub fn handle_transport_error(&mut self, _now: Instant) -> Disposition {
        match &self.state {
            State::Trying(_) | State::Proceeding(_) => {
                self.cx.out.event(TxEvent::TransportError);
                self.state = self.cx.terminate();
                Disposition::Delivered
            }
            State::Completed(_) | State::Terminated(_) => Disposition::Ignored,
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
            match p {
                Pending::Request { retransmission } => {
                    return Some(emit(
                        buf,
                        TransmitKind::Request,
                        retransmission,
                        &self.request,
                    ))
                }
                Pending::Owned(kind, bytes) => return Some(emit_owned(buf, kind, bytes)),
                Pending::Ack { .. } | Pending::LastResponse { .. } => {}
            }
        }
        None
    }

    /// The earliest armed timer (step 3 of the call order).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.cx.timers.next_timeout()
    }

    /// `true` once `Terminated` (RFC 3261 §17.1.2.2).
    #[must_use]
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated(_))
    }

    /// The state's RFC name, for logs and tests.
    #[must_use]
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Trying(_) => "Trying",
            State::Proceeding(_) => "Proceeding",
            State::Completed(_) => "Completed",
            State::Terminated(_) => "Terminated",
        }
    }

    /// The deadline of one timer, for tests and diagnostics.
    #[must_use]
    pub fn timer(&self, t: TxTimer) -> Option<Instant> {
        self.cx.timers.get(t)
    }
}
