//! Non-INVITE server transaction: RFC 3261 Figure 8.

use crate::testkit::{is_response, ms, Pair};
use crate::{Disposition, Misuse, Reliability, TimerConfig, TxError, TxEvent};

/// Trying --request--> Trying: retransmissions before any response are discarded.
#[test]
fn trying_discards_retransmissions() {
    let mut p = Pair::udp();
    p.start_request("OPTIONS");
    p.c2s.duplicate_front();
    p.run_until(ms(400));
    assert_eq!(p.server.state(), "Trying");
    assert_eq!(p.server.dispositions, [(ms(10), Disposition::Absorbed)]);
    assert!(p.server.sent.is_empty());
}

/// Trying --1xx--> Proceeding; Proceeding --request--> Proceeding resends the provisional;
/// Proceeding --1xx--> Proceeding.
#[test]
fn proceeding_resends_provisional() {
    let mut p = Pair::udp();
    p.s2c.blackhole = true;
    p.start_request("REGISTER");
    p.run_until(ms(10));
    p.server_respond(100).unwrap();
    p.run_until(ms(600));
    assert_eq!(p.server.sent_times(is_response(100)), [10, 510]);
    p.server_respond(183).unwrap();
    p.run_until(ms(5_000));
    assert_eq!(p.server.sent_times(is_response(183)), [600, 1510, 3510]);
    assert_eq!(p.server.state(), "Proceeding");
}

/// Trying --200-699--> Completed; Completed --request--> Completed resends the final;
/// Completed --Timer J--> Terminated.
#[test]
fn completed_resends_final_until_timer_j() {
    let mut p = Pair::udp();
    p.s2c.drop_prefix(b"SIP/2.0 200");
    p.start_request("OPTIONS");
    p.run_until(ms(10));
    p.server_respond(200).unwrap();
    p.run();
    // Client retransmits at 500, 1500, 3500, 7500, ... until F at 32000; each gets the 200.
    assert_eq!(
        p.server.sent_times(is_response(200)),
        [10, 510, 1510, 3510, 7510, 11510, 15510, 19510, 23510, 27510, 31510]
    );
    assert_eq!(p.server.event_list(), [TxEvent::Terminated]);
    assert_eq!(p.server.event_time(TxEvent::Terminated), Some(32_010));
}

/// Proceeding --200-699--> Completed.
#[test]
fn proceeding_final_completes() {
    let mut p = Pair::udp();
    p.start_request("SUBSCRIBE");
    p.run_until(ms(10));
    p.server_respond(100).unwrap();
    p.server_respond(202).unwrap();
    assert_eq!(p.server.state(), "Completed");
}

/// Completed refuses TU responses (§17.2.2 "MUST be discarded").
#[test]
fn response_after_final_is_misuse() {
    let mut p = Pair::udp();
    p.start_request("OPTIONS");
    p.run_until(ms(10));
    p.server_respond(200).unwrap();
    assert_eq!(
        p.server_respond(500),
        Err(TxError::ApiMisuse(Misuse::ResponseInState {
            status: 500,
            state: "Completed"
        }))
    );
    p.run_until(ms(50));
    assert_eq!(p.server.sent.len(), 1);
}

/// Reliable transport: Timer J is zero; the final still goes out after `Terminated`.
#[test]
fn reliable_transport_timer_j_zero() {
    let mut p = Pair::new(TimerConfig::default(), Reliability::Reliable);
    p.start_request("OPTIONS");
    p.run_until(ms(10));
    p.server_respond(200).unwrap();
    assert_eq!(p.server.event_list(), [TxEvent::Terminated]);
    assert_eq!(p.server.sent_times(is_response(200)), [10]);
}

/// Proceeding/Completed --Transport Err--> Terminated.
#[test]
fn transport_error_informs_tu() {
    let mut p = Pair::udp();
    p.start_request("OPTIONS");
    p.run_until(ms(10));
    p.server_respond(100).unwrap();
    let now = p.now;
    if let Some(t) = p.server.tx.as_mut() {
        t.handle_transport_error(now);
    }
    p.drain();
    assert_eq!(
        p.server.event_list(),
        [TxEvent::TransportError, TxEvent::Terminated]
    );
}
