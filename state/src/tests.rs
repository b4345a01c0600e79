//! Tests: one per edge of RFC 3261 Figures 5-8 and RFC 6026 Figures 4-5, on the simulated
//! clock and network of [`crate::testkit`], plus the table, timer queue, ACK and size checks.

/// `assert!(matches!(..))` with the value in the message (std's `assert_matches!` is
/// unstable).
macro_rules! assert_matches {
    ($e:expr, $p:pat $(if $g:expr)?) => {
        match $e {
            $p $(if $g)? => {}
            ref other => panic!("{:?} does not match {}", other, stringify!($p)),
        }
    };
}

mod client_invite;
mod client_non_invite;
mod engine_loop;
mod misc;
mod server_invite;
mod server_non_invite;
mod table;
