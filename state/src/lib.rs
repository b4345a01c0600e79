//! Sans-IO SIP transaction layer: the four RFC 3261 §17 transaction machines (with the
//! RFC 6026 `Accepted` state and the proxy Timer C of RFC 3261 §16.6-16.8), a bounded
//! per-worker transaction table and a per-worker timer queue; and the bounded per-worker
//! dialog table of RFC 3261 §12 with Kamailio's dialog states and profiles ([`Dialogs`]).
//!
//! # What this crate does not do
//! `state` has no I/O: it owns no socket, never reads the clock and creates no RNG. Time is an
//! [`Instant`](std::time::Instant) argument of every `handle_*`/`poll_*` call, and messages are
//! opaque, owned bytes built by the transaction user (TU): a machine only decides *when* to
//! (re)send them ([`Transmit`]). It does not parse SIP either: the engine extracts the status
//! code, method class and branch with `ferrosip-parser` and passes them in. It never panics on
//! any input; API misuse and peer misbehaviour come back as [`TxError`].
//!
//! # Call order (RFC 3261 §17, quinn-style)
//! After creating a machine or calling any `handle_*` method, the driver (the engine worker)
//! runs, in this order:
//! 1. `poll_event()` until `None` — hand each [`TxEvent`] to the TU (routing / proxy core);
//!    the TU may react with more `handle_*` calls (then restart at step 1);
//! 2. `poll_transmit(now, buf)` until `None` — send `buf` to the transaction's peer;
//! 3. `poll_timeout()` — re-arm the worker's [`Timers`] entry for this transaction's
//!    [`TxHandle`] (only if it changed).
//!
//! When the deadline passes, call `handle_timeout(now)` (a spurious or early call is a no-op)
//! and run the same polls. After [`TxEvent::Terminated`] has been seen *and* the transmit queue
//! drained (a final response may still be queued on a reliable transport), remove the
//! transaction from the [`TxTable`].
//!
//! # Example
//! ```
//! use std::time::{Duration, Instant};
//! use ferrosip_state::{ClientNonInviteTx, Reliability, StatusCode, TimerConfig, TxEvent};
//!
//! let now = Instant::now(); // the engine's clock: this crate never reads one
//! let request = b"OPTIONS sip:b@example.com SIP/2.0\r\n...".to_vec().into_boxed_slice();
//! let mut tx =
//!     ClientNonInviteTx::new(now, TimerConfig::default(), Reliability::Unreliable, request);
//! let mut buf = Vec::new();
//! let first = tx.poll_transmit(now, &mut buf).expect("first send");
//! assert!(!first.retransmission); // engine: send buf, then clear it
//! buf.clear();
//! // Timer E (T1 = 500 ms) asks for a retransmission.
//! let e = tx.poll_timeout().expect("Timer E armed");
//! assert_eq!(e, now + Duration::from_millis(500));
//! tx.handle_timeout(e);
//! assert!(tx.poll_transmit(e, &mut buf).expect("resend").retransmission);
//! // The 200 arrives: it goes to the TU; Timer K (T4) absorbs its retransmissions.
//! tx.handle_response(e, 200).expect("valid status");
//! assert_eq!(tx.poll_event(), Some(TxEvent::Response(StatusCode::new(200).unwrap())));
//! assert_eq!(tx.poll_timeout(), Some(e + Duration::from_secs(5)));
//! ```
//!
//! See [`manual`] for the design rationale and the RFC mapping.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ack;
mod client_invite;
mod client_non_invite;
mod config;
pub mod dbtext;
mod dialog;
pub mod digest;
mod error;
pub mod htable;
pub mod manual;
mod output;
mod server_invite;
mod server_non_invite;
mod table;
mod timer;
mod timers;
mod transaction;
mod usrloc;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use ack::{AckError, AckParts};
pub use client_invite::{CancelReadiness, ClientInviteTx};
pub use client_non_invite::ClientNonInviteTx;
pub use config::{ConfigError, Reliability, TimerConfig};
pub use dialog::{
    parse_profiles, Dialog, DialogConfig, DialogError, DialogInput, DialogStats, Dialogs,
    Direction, DlgHandle, DlgState, ProfileDef, ProfileError, ProfileId, Transition,
    MAX_DIALOGS_PER_CORE, MAX_DLG_KEY_PART, MAX_DLG_VARS, MAX_PROFILES, MAX_PROFILE_LINKS,
    MAX_PROFILE_VALUE,
};
pub use digest::{
    compute_ha1, compute_response, parse_credentials, verify_response, write_challenge, Algorithm,
    Challenge, CredError, Credentials, NonceCheck, NonceKey, Qop,
};
pub use error::{Misuse, PeerError, TxError};
pub use output::{Disposition, StatusCode, TimerCAction, Transmit, TransmitKind, TxEvent};
pub use server_invite::{CancelDecision, InviteInput, ServerInviteTx};
pub use server_non_invite::ServerNonInviteTx;
pub use table::{
    InsertError, MethodClass, Role, TableStats, TxHandle, TxKey, TxKeyRef, TxTable, MAX_KEY_PART,
    MAX_PENDING_TX_PER_CORE,
};
pub use timer::{TimerTable, TxTimer};
pub use timers::{TimerStats, Timers};
pub use transaction::{Transaction, TxKind};
pub use usrloc::{Binding, Location, NewBinding, Register, UlError, UlStats};
