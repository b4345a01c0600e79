//! Non-INVITE server transaction, RFC 3261 §17.2.2 (Figure 8).

use std::time::Instant;

use crate::config::{Reliability, TimerConfig};
use crate::error::{Misuse, TxError};
use crate::output::{
    emit, emit_owned, Disposition, Outputs, Pending, StatusCode, Transmit, TransmitKind, TxEvent,
};
use crate::timer::{TimerTable, TxTimer};

/// Non-INVITE server transaction (RFC 3261 §17.2.2; also answers CANCEL, §9.2).
///
/// Created by [`ServerNonInviteTx::new`] once the table accepted the request (STYLE L8).
/// Inputs: [`handle_request`](Self::handle_request) (a retransmission),
/// [`handle_tu_response`](Self::handle_tu_response), [`handle_timeout`](Self::handle_timeout),
/// [`handle_transport_error`](Self::handle_transport_error); outputs in the crate's call order.
#[derive(Debug)]
pub struct ServerNonInviteTx {
    state: State,
    cx: Ctx,
}

#[derive(Debug)]
struct Ctx {
    cfg: TimerConfig,
    rel: Reliability,
    timers: TimerTable,
    out: Outputs,
    last: Option<(StatusCode, Box<[u8]>)>,
}

#[derive(Debug)]
enum State {
    Trying(Trying),
    Proceeding(Proceeding),
    Completed(Completed),
    Terminated(Terminated),
}

/// §17.2.2: no response yet; retransmissions are discarded.
#[derive(Debug)]
struct Trying;

/// §17.2.2: a provisional was sent; retransmissions get it again.
#[derive(Debug)]
struct Proceeding;

/// §17.2.2: final sent; retransmissions get it again until Timer J.
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

    fn store_and_send(&mut self, st: StatusCode, bytes: Box<[u8]>) {
        if let Some((old, old_bytes)) = &self.last {
            self.out.detach_last_response(Some(*old), old_bytes);
        }
        self.last = Some((st, bytes));
        self.out.send(Pending::LastResponse {
            retransmission: false,
        });
    }

    /// Trying/Proceeding take a TU response: the same edges leave both states.
    fn on_tu_response(&mut self, now: Instant, st: StatusCode, bytes: Box<[u8]>) -> State {
        self.store_and_send(st, bytes);
        if st.is_provisional() {
            return State::Proceeding(Proceeding);
        }
        let j = self.cfg.j(self.rel);
        if j.is_zero() {
            return self.terminate();
        }
        self.timers.set(TxTimer::J, now, j);
        State::Completed(Completed)
    }
}

impl ServerNonInviteTx {
    /// Creates the transaction in `Trying` for a new request (RFC 3261 §17.2.2).
    #[must_use]
    pub fn new(_now: Instant, cfg: TimerConfig, rel: Reliability) -> Self {
        Self {
            state: State::Trying(Trying),
            cx: Ctx {
                cfg,
                rel,
                timers: TimerTable::default(),
                out: Outputs::default(),
                last: None,
            },
        }
    }

    /// A retransmission of the request matched (RFC 3261 §17.2.3): discarded in `Trying`,
    /// answered with the last response in `Proceeding`/`Completed` (§17.2.2).
    pub fn handle_request(&mut self, _now: Instant) -> Disposition {
        match self.state {
            State::Trying(_) => Disposition::Absorbed,
            State::Proceeding(_) | State::Completed(_) => {
                self.cx.out.send(Pending::LastResponse {
                    retransmission: true,
                });
                Disposition::Absorbed
            }
            State::Terminated(_) => Disposition::Ignored,
        }
    }

    /// The TU's response (RFC 3261 §17.2.2): 1xx → `Proceeding`, 200-699 → `Completed`
    /// (Timer J, zero on reliable transports). After the final, further responses are
    /// [`Misuse`] and discarded.
    ///
    /// # Errors
    /// [`TxError::ApiMisuse`] for an invalid status or a response after the final one; nothing is
    /// sent.
    pub fn handle_tu_response(
        &mut self,
        now: Instant,
        status: u16,
        bytes: Box<[u8]>,
    ) -> Result<(), TxError> {
        let st = StatusCode::from_tu(status)?;
        let state_name = self.state_name();
        let cx = &mut self.cx;
        let (next, res) = match std::mem::replace(&mut self.state, State::Terminated(Terminated)) {
            State::Trying(_) | State::Proceeding(_) => (cx.on_tu_response(now, st, bytes), Ok(())),
            other => (
                other,
                Err(Misuse::ResponseInState {
                    status,
                    state: state_name,
                }
                .into()),
            ),
        };
        self.state = next;
        res
    }

    /// Fires Timer J when due (RFC 3261 §17.2.2). Early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(t) = self.cx.timers.pop_expired(now) {
            if t == TxTimer::J && matches!(self.state, State::Completed(_)) {
                self.state = self.cx.terminate();
            }
        }
    }

    /// The transport failed to send a response (RFC 3261 §17.2.4): inform the TU, terminate.
    pub fn handle_transport_error(&mut self, _now: Instant) -> Disposition {
        match self.state {
            State::Trying(_) | State::Proceeding(_) | State::Completed(_) => {
                self.cx.out.event(TxEvent::TransportError);
                self.state = self.cx.terminate();
                Disposition::Delivered
            }
            State::Terminated(_) => Disposition::Ignored,
        }
    }

    /// Next event for the TU (step 1 of the call order).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.cx.out.events.pop_front()
    }

    /// Appends the next response to send to `buf` (step 2 of the call order).
    #[must_use]
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        while let Some(p) = self.cx.out.sends.pop_front() {
            match p {
                Pending::LastResponse { retransmission } => {
                    if let Some((st, bytes)) = &self.cx.last {
                        return Some(emit(
                            buf,
                            TransmitKind::Response(*st),
                            retransmission,
                            bytes,
                        ));
                    }
                }
                Pending::Owned(kind, bytes) => return Some(emit_owned(buf, kind, bytes)),
                Pending::Request { .. } | Pending::Ack { .. } => {}
            }
        }
        None
    }

    /// The earliest armed timer (step 3 of the call order).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.cx.timers.next_timeout()
    }

    /// `true` once `Terminated` (RFC 3261 §17.2.2).
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
