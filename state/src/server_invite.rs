//! INVITE server transaction, RFC 3261 §17.2.1 (Figure 7) as updated by RFC 6026 §8.5-8.7
//! (Figure 5: the `Accepted` state and Timer L); CANCEL handling per §9.2.

use std::time::{Duration, Instant};

use crate::config::{Reliability, TimerConfig};
use crate::error::{Misuse, TxError};
use crate::output::{
    emit, emit_owned, Disposition, Outputs, Pending, StatusCode, Transmit, TransmitKind, TxEvent,
};
use crate::timer::{TimerTable, TxTimer};

/// A request matched to an INVITE server transaction (RFC 3261 §17.2.3: ACK matches the
/// INVITE's transaction).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum InviteInput {
    /// A retransmission of the INVITE.
    Invite,
    /// An ACK (for a non-2xx final: hop-by-hop, absorbed; for a 2xx in `Accepted`: passed to
    /// the TU, RFC 6026 §8.7).
    Ack,
}

/// What the TU does with a CANCEL that matched this INVITE (RFC 3261 §9.2). In both cases
/// the CANCEL itself is answered 200 OK by its own non-INVITE server transaction.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CancelDecision {
    /// No final response yet: a UAS answers the INVITE 487 (a proxy cancels its branches,
    /// §16.10, and the 487 comes back from downstream). [`TxEvent::Cancelled`] is queued.
    Respond487,
    /// A final response was already sent: the CANCEL has no effect on the INVITE.
    TooLate,
}

/// INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §8.5-8.7, CANCEL per §9.2).
///
/// Created by [`ServerInviteTx::new`] once the table accepted the request (STYLE L8). Inputs:
/// [`handle_request`](Self::handle_request), [`handle_tu_response`](Self::handle_tu_response),
/// [`handle_cancel`](Self::handle_cancel), [`handle_timeout`](Self::handle_timeout),
/// [`handle_transport_error`](Self::handle_transport_error). Outputs in the crate's call order.
///
/// The 200 ms automatic 100 Trying of §17.2.1 is left to the TU: the proxy core sends 100
/// at once (§16.2), as Kamailio's `t_relay` does.
#[derive(Debug)]
pub struct ServerInviteTx {
    state: State,
    cx: Ctx,
}

#[derive(Debug)]
struct Ctx {
    cfg: TimerConfig,
    rel: Reliability,
    timers: TimerTable,
    out: Outputs,
    /// The most recent response from the TU (RFC 3261 §17.2.1 resends it on retransmits).
    last: Option<(StatusCode, Box<[u8]>)>,
}

#[derive(Debug)]
enum State {
    Proceeding(Proceeding),
    Completed(Completed),
    Confirmed(Confirmed),
    Accepted(Accepted),
    Terminated(Terminated),
}

/// §17.2.1: waiting for the TU's final response; retransmits get the last provisional.
#[derive(Debug)]
struct Proceeding;

/// §17.2.1: 300-699 sent; Timer G doubles up to T2 until the ACK or Timer H.
#[derive(Debug)]
struct Completed {
    g_interval: Duration,
}

/// §17.2.1: ACK received; Timer I absorbs ACK retransmits.
#[derive(Debug)]
struct Confirmed;

/// RFC 6026 §8.6: 2xx sent; INVITE retransmits absorbed until Timer L.
#[derive(Debug)]
struct Accepted;

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

    /// Sends a 2xx without keeping it: in `Accepted` the transaction never resends a
    /// response itself (RFC 6026 §8.7: retransmitted INVITEs are absorbed, 2xx
    /// retransmissions come from the TU), so holding the bytes would only cost memory.
    fn send_unstored(&mut self, st: StatusCode, bytes: Box<[u8]>) {
        if let Some((old, old_bytes)) = &self.last {
            self.out.detach_last_response(Some(*old), old_bytes);
        }
        self.last = None;
        self.out
            .send(Pending::Owned(TransmitKind::Response(st), bytes));
    }

    fn resend_last(&mut self) {
        if self.last.is_some() {
            self.out.send(Pending::LastResponse {
                retransmission: true,
            });
        }
    }
}

impl Proceeding {
    fn on_request(self, cx: &mut Ctx, input: InviteInput) -> (State, Disposition) {
        match input {
            InviteInput::Invite => {
                cx.resend_last();
                (State::Proceeding(self), Disposition::Absorbed)
            }
            InviteInput::Ack => (State::Proceeding(self), Disposition::Ignored),
        }
    }

    fn on_tu_response(self, cx: &mut Ctx, now: Instant, st: StatusCode, bytes: Box<[u8]>) -> State {
        if st.is_success() {
            // RFC 6026 §8.5: 2xx → Accepted, Timer L = 64·T1.
            cx.send_unstored(st, bytes);
            cx.timers.set(TxTimer::L, now, cx.cfg.retention());
            return State::Accepted(Accepted);
        }
        cx.store_and_send(st, bytes);
        if st.is_provisional() {
            return State::Proceeding(self);
        }
        // §17.2.1: 300-699 → Completed, Timer G (UDP) and Timer H.
        if !cx.rel.is_reliable() {
            cx.timers.set(TxTimer::G, now, cx.cfg.t1);
        }
        cx.timers
            .set(TxTimer::H, now, cx.cfg.final_response_timeout());
        State::Completed(Completed {
            g_interval: cx.cfg.t1,
        })
    }
}

impl Completed {
    fn on_request(self, cx: &mut Ctx, now: Instant, input: InviteInput) -> (State, Disposition) {
        match input {
            InviteInput::Invite => {
                cx.resend_last();
                (State::Completed(self), Disposition::Absorbed)
            }
            InviteInput::Ack => {
                cx.timers.stop(TxTimer::G);
                cx.timers.stop(TxTimer::H);
                let i = cx.cfg.i_k(cx.rel);
                if i.is_zero() {
                    return (cx.terminate(), Disposition::Absorbed);
                }
                cx.timers.set(TxTimer::I, now, i);
                (State::Confirmed(Confirmed), Disposition::Absorbed)
            }
        }
    }

    fn on_timer(self, cx: &mut Ctx, now: Instant, t: TxTimer) -> State {
        match t {
            TxTimer::G => {
                cx.resend_last();
                let g_interval = self.g_interval.saturating_mul(2).min(cx.cfg.t2);
                cx.timers.set(TxTimer::G, now, g_interval);
                State::Completed(Self { g_interval })
            }
            TxTimer::H => {
                cx.out.event(TxEvent::Timeout);
                cx.terminate()
            }
            _ => State::Completed(self),
        }
    }
}

impl Accepted {
    fn on_request(self, cx: &mut Ctx, input: InviteInput) -> (State, Disposition) {
        match input {
            InviteInput::Invite => (State::Accepted(self), Disposition::Absorbed),
            InviteInput::Ack => {
                cx.out.event(TxEvent::Ack);
                (State::Accepted(self), Disposition::Delivered)
            }
        }
    }

    fn on_tu_response(
        self,
        cx: &mut Ctx,
        st: StatusCode,
        bytes: Box<[u8]>,
    ) -> Result<State, TxError> {
        if !st.is_success() {
            return Err(Misuse::Non2xxInAccepted(st.code()).into());
        }
        // RFC 6026 §8.7: 2xx from the TU (retransmissions, other forks) go to the transport.
        cx.send_unstored(st, bytes);
        Ok(State::Accepted(self))
    }
}

impl ServerInviteTx {
    /// Creates the transaction in `Proceeding` for a new INVITE (RFC 3261 §17.2.1). Nothing
    /// is sent until the TU passes a response.
    #[must_use]
    pub fn new(_now: Instant, cfg: TimerConfig, rel: Reliability) -> Self {
        Self {
            state: State::Proceeding(Proceeding),
            cx: Ctx {
                cfg,
                rel,
                timers: TimerTable::default(),
                out: Outputs::default(),
                last: None,
            },
        }
    }

    /// A retransmitted INVITE or an ACK matched (RFC 3261 §17.2.3); retransmissions are
    /// absorbed (answered with the last response, §17.2.1), an ACK moves `Completed` to
    /// `Confirmed`, and in `Accepted` it goes to the TU (RFC 6026 §8.7).
    pub fn handle_request(&mut self, now: Instant, input: InviteInput) -> Disposition {
        let cx = &mut self.cx;
        let (next, disp) = match std::mem::replace(&mut self.state, State::Terminated(Terminated)) {
            State::Proceeding(s) => s.on_request(cx, input),
            State::Completed(s) => s.on_request(cx, now, input),
            State::Confirmed(s) => (State::Confirmed(s), Disposition::Absorbed),
            State::Accepted(s) => s.on_request(cx, input),
            State::Terminated(s) => (State::Terminated(s), Disposition::Ignored),
        };
        self.state = next;
        disp
    }

    /// The TU's response to send (RFC 3261 §17.2.1): 1xx keeps `Proceeding`, 2xx moves to
    /// `Accepted` (RFC 6026), 300-699 to `Completed`. A response the state forbids is
    /// [`Misuse`] and changes nothing.
    ///
    /// # Errors
    /// [`TxError::ApiMisuse`] for an invalid status, a response after the final one, or a non-2xx
    /// in `Accepted`; nothing is sent.
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
            State::Proceeding(s) => (s.on_tu_response(cx, now, st, bytes), Ok(())),
            State::Accepted(s) => match s.on_tu_response(cx, st, bytes) {
                Ok(next) => (next, Ok(())),
                Err(e) => (State::Accepted(Accepted), Err(e)),
            },
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

    /// A CANCEL matched this INVITE (RFC 3261 §9.2): decides whether a 487 is due and, if so,
    /// queues [`TxEvent::Cancelled`].
    pub fn handle_cancel(&mut self, _now: Instant) -> CancelDecision {
        match self.state {
            State::Proceeding(_) => {
                self.cx.out.event(TxEvent::Cancelled);
                CancelDecision::Respond487
            }
            _ => CancelDecision::TooLate,
        }
    }

    /// Fires every timer due at `now` (RFC 3261 §17.2.1, RFC 6026 §8.7). Early calls do
    /// nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(t) = self.cx.timers.pop_expired(now) {
            let cx = &mut self.cx;
            self.state = match std::mem::replace(&mut self.state, State::Terminated(Terminated)) {
                State::Completed(s) => s.on_timer(cx, now, t),
                State::Confirmed(s) if t == TxTimer::I => {
                    let _ = s;
                    cx.terminate()
                }
                State::Accepted(s) if t == TxTimer::L => {
                    let _ = s;
                    cx.terminate()
                }
                other => other,
            };
        }
    }

    /// The transport failed to send a response (RFC 3261 §17.2.4): inform the TU; terminate
    /// from `Proceeding`/`Completed`. In `Accepted` the TU is informed and Timer L still runs
    /// (2xx retransmission is the TU's job).
    pub fn handle_transport_error(&mut self, _now: Instant) -> Disposition {
        match &self.state {
            State::Proceeding(_) | State::Completed(_) => {
                self.cx.out.event(TxEvent::TransportError);
                self.state = self.cx.terminate();
                Disposition::Delivered
            }
            State::Accepted(_) => {
                self.cx.out.event(TxEvent::TransportError);
                Disposition::Delivered
            }
            State::Confirmed(_) | State::Terminated(_) => Disposition::Ignored,
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

    /// `true` once `Terminated` (RFC 3261 §17.2.1).
    #[must_use]
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated(_))
    }

    /// The state's RFC name, for logs and tests.
    #[must_use]
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Proceeding(_) => "Proceeding",
            State::Completed(_) => "Completed",
            State::Confirmed(_) => "Confirmed",
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
