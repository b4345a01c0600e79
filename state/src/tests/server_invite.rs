//! INVITE server transaction: RFC 3261 Figure 7, RFC 6026 Figure 5, CANCEL (§9.2).

use crate::testkit::{is_response, ms, Pair};
use crate::{
    CancelDecision, Disposition, InviteInput, Misuse, Reliability, TimerConfig, TxError, TxEvent,
    TxTimer,
};

/// Proceeding --INVITE--> Proceeding: a retransmitted INVITE gets the last provisional.
#[test]
fn proceeding_resends_last_provisional_on_invite_retransmit() {
    let mut p = Pair::udp();
    p.s2c.blackhole = true; // the client never hears the 100, so it keeps retransmitting
    p.start_invite();
    p.run_until(ms(10));
    // Before any provisional, a retransmit is absorbed silently.
    p.c2s.inject(p.now, b"INVITE");
    p.run_until(ms(20));
    assert!(p.server.sent.is_empty());
    p.server_respond(100).unwrap();
    p.run_until(ms(2_000));
    // Timer A retransmits at 500 and 1500 arrive at 510 and 1510 and get the 100 again.
    assert_eq!(p.server.sent_times(is_response(100)), [20, 510, 1510]);
    assert!(p
        .server
        .dispositions
        .iter()
        .all(|(_, d)| *d == Disposition::Absorbed));
    assert_eq!(p.server.state(), "Proceeding");
}

/// Proceeding --300-699--> Completed; Completed --Timer G--> Completed (doubling, capped at
/// T2); Completed --Timer H--> Terminated: "ACK for a 486 lost".
#[test]
fn ack_lost_timer_g_capped_at_t2_until_timer_h() {
    let mut p = Pair::udp();
    p.c2s.drop_prefix(b"ACK");
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(486).unwrap();
    p.run();
    assert_eq!(
        p.server.sent_times(is_response(486)),
        [10, 510, 1510, 3510, 7510, 11510, 15510, 19510, 23510, 27510, 31510]
    );
    assert_eq!(
        p.server.event_list(),
        [TxEvent::Timeout, TxEvent::Terminated]
    );
    assert_eq!(p.server.event_time(TxEvent::Timeout), Some(32_010));
}

/// Completed --INVITE--> Completed: a retransmitted INVITE gets the final again.
#[test]
fn completed_resends_final_on_invite_retransmit() {
    let mut p = Pair::udp();
    p.c2s.drop_prefix(b"ACK");
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(404).unwrap();
    p.run_until(ms(100));
    p.c2s.inject(p.now, b"INVITE");
    p.run_until(ms(120));
    assert_eq!(p.server.sent_times(is_response(404)), [10, 110]);
}

/// Completed --ACK--> Confirmed (Timer I = T4); Confirmed absorbs ACKs; --Timer I-->
/// Terminated.
#[test]
fn ack_confirms_and_timer_i_terminates() {
    let mut p = Pair::udp();
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(486).unwrap();
    p.run_until(ms(35));
    assert_eq!(p.server.state(), "Confirmed");
    assert_eq!(p.server_invite().timer(TxTimer::G), None);
    assert_eq!(p.server_invite().timer(TxTimer::H), None);
    p.c2s.inject(p.now, b"ACK");
    p.c2s.inject(p.now, b"INVITE");
    p.run();
    assert_eq!(p.server.sent_times(is_response(486)), [10]);
    assert_eq!(p.server.event_list(), [TxEvent::Terminated]);
    // ACK arrived at 30 ms, T4 = 5 s.
    assert_eq!(p.server.event_time(TxEvent::Terminated), Some(5_030));
}

/// Proceeding --2xx--> Accepted (RFC 6026): INVITE retransmissions absorbed (no 2xx resent
/// by the transaction) until Timer L; the 2xx ACK goes to the TU.
#[test]
fn accepted_absorbs_invite_retransmits_until_timer_l() {
    let mut p = Pair::udp();
    p.s2c.drop_prefix(b"SIP/2.0 200"); // the client never sees the 2xx, keeps retransmitting
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(200).unwrap();
    p.run_until(ms(5_000));
    assert_eq!(p.server.state(), "Accepted");
    // Timer A retransmits at 500, 1500, 3500 ms: all absorbed, nothing sent back.
    assert_eq!(p.server.dispositions.len(), 3);
    assert!(p
        .server
        .dispositions
        .iter()
        .all(|(_, d)| *d == Disposition::Absorbed));
    assert_eq!(p.server.sent_times(is_response(200)), [10]);
    // The end-to-end ACK (from the client's TU) is passed up.
    p.c2s.inject(p.now, b"ACK");
    p.run_until(ms(5_100));
    assert_eq!(p.server.event_list(), [TxEvent::Ack]);
    p.run();
    assert_eq!(p.server.event_time(TxEvent::Terminated), Some(32_010));
    assert_eq!(p.server.sent_times(is_response(200)), [10]);
}

/// Accepted --2xx from TU--> Accepted: passed to the transport; non-2xx is misuse.
#[test]
fn accepted_sends_2xx_from_tu_and_refuses_non2xx() {
    let mut p = Pair::udp();
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(200).unwrap();
    p.run_until(ms(500));
    p.server_respond(200).unwrap();
    assert_eq!(
        p.server_respond(486),
        Err(TxError::ApiMisuse(Misuse::Non2xxInAccepted(486)))
    );
    p.run_until(ms(600));
    assert_eq!(p.server.sent_times(is_response(200)), [10, 500]);
    assert_eq!(p.server.sent_times(is_response(486)), Vec::<u64>::new());
}

/// Completed/Confirmed refuse further TU responses (§17.2.1).
#[test]
fn response_after_final_is_misuse() {
    let mut p = Pair::udp();
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(486).unwrap();
    assert_eq!(
        p.server_respond(200),
        Err(TxError::ApiMisuse(Misuse::ResponseInState {
            status: 200,
            state: "Completed"
        }))
    );
    assert_eq!(
        p.server_respond(99),
        Err(TxError::ApiMisuse(Misuse::InvalidStatus(99)))
    );
}

/// Proceeding --Transport Err--> Terminated, informing the TU (§17.2.4).
#[test]
fn transport_error_in_proceeding_informs_tu() {
    let mut p = Pair::udp();
    p.start_invite();
    p.run_until(ms(10));
    let now = p.now;
    p.server_invite().handle_transport_error(now);
    p.drain();
    assert_eq!(
        p.server.event_list(),
        [TxEvent::TransportError, TxEvent::Terminated]
    );
}

/// Completed --Transport Err--> Terminated.
#[test]
fn transport_error_in_completed_terminates() {
    let mut p = Pair::udp();
    p.c2s.drop_prefix(b"ACK");
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(480).unwrap();
    let now = p.now;
    p.server_invite().handle_transport_error(now);
    p.drain();
    assert_eq!(
        p.server.event_list(),
        [TxEvent::TransportError, TxEvent::Terminated]
    );
    assert_eq!(p.server_invite().poll_timeout(), None);
}

/// Reliable transport: no Timer G; Timer I is zero (ACK → Terminated at once).
#[test]
fn reliable_transport_no_g_and_timer_i_zero() {
    let mut p = Pair::new(TimerConfig::default(), Reliability::Reliable);
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(486).unwrap();
    assert_eq!(p.server_invite().timer(TxTimer::G), None);
    assert!(p.server_invite().timer(TxTimer::H).is_some());
    p.run();
    assert_eq!(p.server.sent_times(is_response(486)), [10]);
    assert_eq!(p.server.event_time(TxEvent::Terminated), Some(30));
}

/// Reliable transport, ACK never comes: Timer H still fires (64·T1), with no G in between.
#[test]
fn reliable_transport_timer_h_without_g() {
    let mut p = Pair::new(TimerConfig::default(), Reliability::Reliable);
    p.c2s.drop_prefix(b"ACK");
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(486).unwrap();
    p.run();
    assert_eq!(p.server.sent_times(is_response(486)), [10]);
    assert_eq!(p.server.event_time(TxEvent::Timeout), Some(32_010));
}

/// §9.2: CANCEL in Proceeding → 487 decision and `Cancelled`; after a final → too late.
#[test]
fn cancel_in_proceeding_decides_487_and_is_too_late_after_final() {
    let mut p = Pair::udp();
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(180).unwrap();
    p.c2s.inject(p.now, b"CANCEL");
    p.run_until(ms(30));
    assert_eq!(p.cancel_decisions, [CancelDecision::Respond487]);
    assert_eq!(p.server.event_list(), [TxEvent::Cancelled]);
    p.server_respond(487).unwrap();
    p.c2s.inject(p.now, b"CANCEL");
    p.run_until(ms(50));
    assert_eq!(
        p.cancel_decisions,
        [CancelDecision::Respond487, CancelDecision::TooLate]
    );
    assert_eq!(p.server.sent_times(is_response(487)), [30]);
    // The client ACKs the 487 hop by hop.
    p.run();
    assert_eq!(p.server.state(), "Terminated");
}

/// A stray ACK in Proceeding is ignored; input after Terminated is ignored.
#[test]
fn stray_ack_in_proceeding_and_input_after_terminated_are_ignored() {
    let mut p = Pair::udp();
    p.start_invite();
    p.run_until(ms(10));
    let now = p.now;
    assert_eq!(
        p.server_invite().handle_request(now, InviteInput::Ack),
        Disposition::Ignored
    );
    p.server_invite().handle_transport_error(now);
    assert_eq!(
        p.server_invite().handle_request(now, InviteInput::Invite),
        Disposition::Ignored
    );
    assert_eq!(
        p.server_invite().handle_cancel(now),
        CancelDecision::TooLate
    );
}

/// Two provisionals queued before the driver polls are both sent, in order.
#[test]
fn superseded_provisional_is_still_sent() {
    let mut p = Pair::udp();
    p.start_invite();
    p.run_until(ms(10));
    let now = p.now;
    let t = p.server_invite();
    t.handle_tu_response(now, 100, b"SIP/2.0 100".to_vec().into())
        .unwrap();
    t.handle_tu_response(now, 180, b"SIP/2.0 180".to_vec().into())
        .unwrap();
    t.handle_tu_response(now, 200, b"SIP/2.0 200".to_vec().into())
        .unwrap();
    p.drain();
    let sent: Vec<_> = p.server.sent.iter().map(|(_, _, b)| b.clone()).collect();
    assert_eq!(
        sent,
        [
            b"SIP/2.0 100".to_vec(),
            b"SIP/2.0 180".to_vec(),
            b"SIP/2.0 200".to_vec()
        ]
    );
}
