//! Timer configuration (RFC 3261 §17.1.1.1, §17.1.2.1, Appendix A; §16.6 Timer C).

use std::time::Duration;

/// Whether the transport under a transaction is reliable, RFC 3261 §17 / §18.
///
/// Over a reliable transport (TCP, TLS, SCTP, WS, WSS) the machines never retransmit
/// (Timers A, E and G are not started) and Timers D, I, J and K are zero, so the machine goes
/// straight to `Terminated` (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2). The engine maps
/// `ferrosip_parser::Proto` onto this (`Udp` is the only unreliable one).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reliability {
    /// UDP: retransmissions on, absorption timers non-zero.
    Unreliable,
    /// TCP/TLS/SCTP/WS/WSS: no retransmissions, absorption timers zero.
    Reliable,
}

impl Reliability {
    /// `true` for [`Reliability::Reliable`] (RFC 3261 §18).
    #[must_use]
    pub fn is_reliable(self) -> bool {
        matches!(self, Self::Reliable)
    }
}

/// Invalid [`TimerConfig`] (RFC 3261 Appendix A constraints).
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// T1 must be non-zero: every back-off starts from it (RFC 3261 §17.1.1.1).
    #[error("T1 must be greater than zero")]
    ZeroT1,
    /// T2 caps the E/G back-off and must be at least T1 (RFC 3261 §17.1.2.2).
    #[error("T2 must be at least T1")]
    T2BelowT1,
    /// Timer C must exceed 3 minutes (RFC 3261 §16.6 step 11).
    #[error("Timer C must be greater than 3 minutes")]
    TimerCTooShort,
}

/// Timer values of RFC 3261 Appendix A (Table 4), the proxy Timer C (§16.6 step 11) and the
/// RFC 6026 §8.11 Timers L and M, injected into every machine.
///
/// Kamailio's `modparam("tm", ...)` map as follows: `fr_timer` → [`TimerConfig::fr_timer`]
/// (overrides B, F and H), `fr_inv_timer` → [`TimerConfig::timer_c`], `retr_timer1` →
/// [`TimerConfig::t1`], `retr_timer2` → [`TimerConfig::t2`], `wt_timer` →
/// [`TimerConfig::timer_d`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, RFC 3261 §17.1.1.1. Default 500 ms.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses,
    /// RFC 3261 §17.1.2.2. Default 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, RFC 3261 §17.1.2.2 (Timers I and K).
    /// Default 5 s.
    pub t4: Duration,
    /// Timer D, the wait for response retransmits on an unreliable transport,
    /// RFC 3261 §17.1.1.2 ("at least 32 seconds"). Default 32 s.
    pub timer_d: Duration,
    /// Proxy Timer C, RFC 3261 §16.6 step 11 / §16.8 (must exceed 3 minutes). `None` (the
    /// default) means the client INVITE machine is a plain UAC with no Timer C. Default for a
    /// proxy: [`TimerConfig::PROXY_TIMER_C`].
    pub timer_c: Option<Duration>,
    /// Override of the 64·T1 final-response timeouts B, F and H (RFC 3261 §17.1.1.2,
    /// §17.1.2.2, §17.2.1); Kamailio's `fr_timer`. `None` (the default) means 64·T1.
    pub fr_timer: Option<Duration>,
    /// Override of how long a completed transaction is kept to absorb retransmissions:
    /// Timers J (RFC 3261 §17.2.2), L and M (RFC 6026 §8.11), all 64·T1 by the RFCs. This is
    /// Kamailio's `wt_timer` (5 s there), which keeps finished transactions for that long.
    /// `None` (the default) means 64·T1.
    pub wait_timer: Option<Duration>,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
            timer_c: None,
            fr_timer: None,
            wait_timer: None,
        }
    }
}

impl TimerConfig {
    /// Default Timer C for a proxy: 3 minutes and 1 second (RFC 3261 §16.6 step 11 says "MUST
    /// be greater than 3 minutes").
    pub const PROXY_TIMER_C: Duration = Duration::from_secs(181);

    /// The defaults of RFC 3261 Appendix A with proxy Timer C ([`Self::PROXY_TIMER_C`]).
    #[must_use]
    pub fn proxy() -> Self {
        Self {
            timer_c: Some(Self::PROXY_TIMER_C),
            ..Self::default()
        }
    }

    /// Checks the RFC 3261 Appendix A / §16.6 constraints. Timer C is only checked to be
    /// above 3 minutes when `strict_timer_c` is set (tests use shorter values).
    ///
    /// # Errors
    /// The first violated constraint, as a [`ConfigError`].
    pub fn validate(&self, strict_timer_c: bool) -> Result<(), ConfigError> {
        if self.t1.is_zero() {
            return Err(ConfigError::ZeroT1);
        }
        if self.t2 < self.t1 {
            return Err(ConfigError::T2BelowT1);
        }
        if strict_timer_c && self.timer_c.is_some_and(|c| c <= Duration::from_secs(180)) {
            return Err(ConfigError::TimerCTooShort);
        }
        Ok(())
    }

    /// 64·T1, the basis of Timers B, F, H (RFC 3261 §17.1.1.2), L and M (RFC 6026 §8.11).
    #[must_use]
    pub fn t1_x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timers B, F and H: [`Self::fr_timer`] or 64·T1 (RFC 3261 §17.1.1.2, §17.1.2.2,
    /// §17.2.1).
    #[must_use]
    pub fn final_response_timeout(&self) -> Duration {
        self.fr_timer.unwrap_or_else(|| self.t1_x64())
    }

    /// Timer D: [`Self::timer_d`] on UDP, zero on reliable transports (RFC 3261 §17.1.1.2).
    #[must_use]
    pub fn d(&self, rel: Reliability) -> Duration {
        zero_if_reliable(rel, self.timer_d)
    }

    /// Timers I and K: T4 on UDP, zero on reliable transports (RFC 3261 §17.2.1, §17.1.2.2).
    #[must_use]
    pub fn i_k(&self, rel: Reliability) -> Duration {
        zero_if_reliable(rel, self.t4)
    }

    /// Timer J: 64·T1 (or [`Self::wait_timer`]) on UDP, zero on reliable transports
    /// (RFC 3261 §17.2.2).
    #[must_use]
    pub fn j(&self, rel: Reliability) -> Duration {
        zero_if_reliable(rel, self.retention())
    }

    /// Timers L and M (RFC 6026 §8.11): 64·T1, or [`Self::wait_timer`] when set.
    #[must_use]
    pub fn retention(&self) -> Duration {
        self.wait_timer.unwrap_or_else(|| self.t1_x64())
    }
}

fn zero_if_reliable(rel: Reliability, d: Duration) -> Duration {
    if rel.is_reliable() {
        Duration::ZERO
    } else {
        d
    }
}
