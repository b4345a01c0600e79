//! Transaction-layer errors (STYLE L7): our bugs ([`Misuse`]) kept apart from the peer's
//! ([`PeerError`]).

/// Error returned by a transaction machine's `handle_*` methods (RFC 3261 §17).
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// The TU called the machine in a way the RFC state machine does not allow: a bug on our
    /// side, never caused by a peer's bytes.
    #[error("API misuse: {0}")]
    ApiMisuse(#[from] Misuse),
    /// The peer sent something no state accepts (e.g. a status code outside 100-699).
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(#[from] PeerError),
}

/// A TU call that the current state forbids (RFC 3261 §17.2.1, §17.2.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// The TU passed a response after the transaction sent its final response (RFC 3261
    /// §17.2.2: "any other final responses passed by the TU to the server transaction MUST
    /// be discarded"), or after `Terminated`.
    #[error("response {status} from the TU in state {state}")]
    ResponseInState {
        /// The status code the TU tried to send.
        status: u16,
        /// The machine's state name.
        state: &'static str,
    },
    /// The TU passed a status code outside 100..=699 (RFC 3261 §7.2).
    #[error("status code {0} from the TU is outside 100..=699")]
    InvalidStatus(u16),
    /// The TU sent a 2xx on a non-INVITE server transaction in a state that forbids it, or a
    /// non-2xx to a transaction in `Accepted` (RFC 6026 §8.7 allows only 2xx there).
    #[error("non-2xx response {0} in the Accepted state")]
    Non2xxInAccepted(u16),
}

/// Something a peer sent that no state machine state accepts (RFC 3261 §17.1.3).
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// A response status code outside 100..=699 (RFC 3261 §7.2, §21).
    #[error("status code {0} is outside 100..=699")]
    InvalidStatus(u16),
}
