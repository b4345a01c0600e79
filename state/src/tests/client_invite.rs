//! INVITE client transaction: RFC 3261 Figure 5, RFC 6026 Figure 4, Timer C (§16.8).

use std::time::Duration;

use crate::testkit::{is_ack, is_request, ms, Pair};
use crate::{
    CancelReadiness, Disposition, Reliability, StatusCode, TimerCAction, TimerConfig, TxEvent,
    TxTimer,
};

fn st(c: u16) -> StatusCode {
    StatusCode::new(c).unwrap()
}

/// Figure 5 Calling --Timer A--> Calling and Calling --Timer B--> Terminated: drop the
/// INVITE; A fires at T1, 2T1, 4T1… (no cap), B at 64·T1 → Timeout.
#[test]
fn drop_invite_timer_a_doubles_then_timer_b_times_out() {
    let mut p = Pair::udp();
    p.c2s.blackhole = true;
    p.start_invite();
    p.run();
    assert_eq!(
        p.client.sent_times(is_request),
        [0, 500, 1500, 3500, 7500, 15500, 31500]
    );
    let retransmits: Vec<_> = p
        .client
        .sent
        .iter()
        .map(|(_, t, _)| t.retransmission)
        .collect();
    assert_eq!(retransmits, [false, true, true, true, true, true, true]);
    assert_matches!(
        p.client.event_list().as_slice(),
        [TxEvent::Timeout, TxEvent::Terminated]
    );
    assert_eq!(p.client.event_time(TxEvent::Timeout), Some(32_000));
    assert_eq!(p.client.state(), "Terminated");
}

/// Calling --1xx--> Proceeding: the response goes to the TU, retransmissions and Timer B stop.
#[test]
fn provisional_moves_to_proceeding_and_stops_retransmissions() {
    let mut p = Pair::udp();
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(180).unwrap();
    p.run_until(ms(60_000));
    assert_eq!(p.client.sent_times(is_request), [0]);
    assert_eq!(p.client.state(), "Proceeding");
    assert_eq!(p.client.event_list(), [TxEvent::Response(st(180))]);
    assert_eq!(p.client_invite().timer(TxTimer::B), None);
    assert_eq!(p.client_invite().can_cancel(), CancelReadiness::Now);
}

/// Proceeding --1xx--> Proceeding: every further provisional is passed up.
#[test]
fn proceeding_passes_further_provisionals_up() {
    let mut p = Pair::udp();
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(100).unwrap();
    p.server_respond(180).unwrap();
    p.server_respond(183).unwrap();
    p.run_until(ms(100));
    assert_eq!(
        p.client.event_list(),
        [
            TxEvent::Response(st(100)),
            TxEvent::Response(st(180)),
            TxEvent::Response(st(183))
        ]
    );
}

/// Calling --300-699--> Completed (ACK sent, response to TU) --Timer D--> Terminated.
#[test]
fn non2xx_final_from_calling_acks_and_timer_d_terminates() {
    let mut p = Pair::udp();
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(486).unwrap();
    p.run_until(ms(25));
    assert_eq!(p.client.state(), "Completed");
    assert_eq!(p.client.sent_times(is_ack), [20]);
    assert_eq!(p.client_invite().can_cancel(), CancelReadiness::TooLate);
    p.run();
    assert_eq!(
        p.client.event_list(),
        [TxEvent::Response(st(486)), TxEvent::Terminated]
    );
    // Timer D = 32 s from the 486 at 20 ms.
    assert_eq!(p.client.event_time(TxEvent::Terminated), Some(32_020));
}

/// Proceeding --300-699--> Completed.
#[test]
fn non2xx_final_from_proceeding_acks() {
    let mut p = Pair::udp();
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(180).unwrap();
    p.run_until(ms(1_000));
    p.server_respond(603).unwrap();
    p.run_until(ms(1_100));
    assert_eq!(p.client.state(), "Completed");
    assert_eq!(p.client.sent_times(is_ack), [1_010]);
}

/// Completed --300-699--> Completed: a retransmitted final is absorbed and re-ACKed
/// ("ACK for a 486 lost": the server's Timer G drives the client's re-ACKs).
#[test]
fn completed_absorbs_retransmitted_final_and_resends_ack() {
    let mut p = Pair::udp();
    p.c2s.drop_prefix(b"ACK");
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(486).unwrap();
    p.run();
    let acks = p.client.sent_times(is_ack);
    assert_eq!(acks.len(), 11, "first ACK + one per G retransmit: {acks:?}");
    assert!(p
        .client
        .dispositions
        .iter()
        .skip(1)
        .all(|(_, d)| *d == Disposition::Absorbed));
    // Only one Response event: retransmissions are not passed up.
    assert_eq!(
        p.client.event_list(),
        [TxEvent::Response(st(486)), TxEvent::Terminated]
    );
}

/// Calling --2xx--> Accepted (RFC 6026): 2xx to TU, Timer M = 64·T1; Accepted --2xx-->
/// Accepted passes every 2xx retransmission up; --Timer M--> Terminated.
#[test]
fn accepted_forwards_2xx_retransmissions_until_timer_m() {
    let mut p = Pair::udp();
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(200).unwrap();
    p.run_until(ms(500));
    assert_eq!(p.client.state(), "Accepted");
    // The UAS core retransmits its 2xx (RFC 3261 §13.3.1.4) through the server tx.
    p.server_respond(200).unwrap();
    p.run_until(ms(2_000));
    p.server_respond(200).unwrap();
    p.run();
    assert_eq!(
        p.client.event_list(),
        [
            TxEvent::Response(st(200)),
            TxEvent::Response(st(200)),
            TxEvent::Response(st(200)),
            TxEvent::Terminated
        ]
    );
    assert_eq!(p.client.event_time(TxEvent::Terminated), Some(32_020));
    // No hop-by-hop ACK for a 2xx: that ACK is end-to-end, the TU's job.
    assert!(p.client.sent_times(is_ack).is_empty());
    assert_eq!(p.client.sent_times(is_request), [0]);
}

/// Proceeding --2xx--> Accepted; non-2xx in Accepted is ignored.
#[test]
fn proceeding_2xx_accepted_ignores_non2xx() {
    let mut p = Pair::udp();
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(180).unwrap();
    p.server_respond(200).unwrap();
    p.run_until(ms(100));
    let now = p.now;
    let d = p
        .client_invite()
        .handle_response(now, 486, Vec::new)
        .unwrap();
    assert_eq!(d, Disposition::Ignored);
    let d = p
        .client_invite()
        .handle_response(now, 180, Vec::new)
        .unwrap();
    assert_eq!(d, Disposition::Ignored);
    assert_eq!(p.client.state(), "Accepted");
}

/// Calling --Transport Err--> Terminated, informing the TU (§17.1.4).
#[test]
fn transport_error_in_calling_informs_tu() {
    let mut p = Pair::udp();
    p.start_invite();
    let now = p.now;
    assert_eq!(
        p.client_invite().handle_transport_error(now),
        Disposition::Delivered
    );
    p.drain();
    assert_eq!(
        p.client.event_list(),
        [TxEvent::TransportError, TxEvent::Terminated]
    );
    assert_eq!(p.client_invite().poll_timeout(), None);
}

/// Completed --Transport Err--> Terminated.
#[test]
fn transport_error_in_completed_terminates() {
    let mut p = Pair::udp();
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(500).unwrap();
    p.run_until(ms(30));
    let now = p.now;
    p.client_invite().handle_transport_error(now);
    p.drain();
    assert_eq!(
        p.client.event_list(),
        [
            TxEvent::Response(st(500)),
            TxEvent::TransportError,
            TxEvent::Terminated
        ]
    );
}

/// Reliable transport: no Timer A, Timer B still times out.
#[test]
fn reliable_transport_never_retransmits_invite() {
    let mut p = Pair::new(TimerConfig::default(), Reliability::Reliable);
    p.c2s.blackhole = true;
    p.start_invite();
    p.run();
    assert_eq!(p.client.sent_times(is_request), [0]);
    assert_eq!(p.client.event_time(TxEvent::Timeout), Some(32_000));
}

/// Reliable transport: Timer D is zero, Completed is left at once (the ACK still goes out).
#[test]
fn reliable_transport_timer_d_is_zero() {
    let mut p = Pair::new(TimerConfig::default(), Reliability::Reliable);
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(486).unwrap();
    p.run_until(ms(20));
    assert_eq!(p.client.sent_times(is_ack), [20]);
    assert_eq!(
        p.client.event_list(),
        [TxEvent::Response(st(486)), TxEvent::Terminated]
    );
    assert_eq!(p.client.event_time(TxEvent::Terminated), Some(20));
}

fn proxy_cfg(c: Duration) -> TimerConfig {
    TimerConfig {
        timer_c: Some(c),
        ..TimerConfig::default()
    }
}

/// §16.8: Timer C fires after a provisional → CANCEL decision; the 487 completes the
/// transaction normally.
#[test]
fn timer_c_after_provisional_asks_for_cancel() {
    let mut p = Pair::new(TimerConfig::proxy(), Reliability::Unreliable);
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(180).unwrap();
    let c = TimerConfig::PROXY_TIMER_C.as_millis() as u64;
    p.run_until(ms(20 + c));
    assert_eq!(
        p.client.event_list(),
        [
            TxEvent::Response(StatusCode::new(180).unwrap()),
            TxEvent::TimerC(TimerCAction::Cancel)
        ]
    );
    assert_eq!(
        p.client.event_time(TxEvent::TimerC(TimerCAction::Cancel)),
        Some(20 + c)
    );
    // The proxy CANCELs; the UAS answers 487.
    p.server_respond(487).unwrap();
    p.run_until(ms(20 + c + 20));
    assert_eq!(p.client.state(), "Completed");
    assert_eq!(p.client.sent_times(is_ack), [20 + c + 10]);
}

/// §16.8: after the CANCEL decision, the machine waits at most 64·T1 more (our bound).
#[test]
fn timer_c_guard_times_out_when_no_final_follows_cancel() {
    let mut p = Pair::new(proxy_cfg(ms(200_000)), Reliability::Unreliable);
    p.start_invite();
    p.run_until(ms(10));
    p.server_respond(183).unwrap();
    p.run();
    assert_eq!(
        p.client.event_time(TxEvent::TimerC(TimerCAction::Cancel)),
        Some(200_020)
    );
    assert_eq!(p.client.event_time(TxEvent::Timeout), Some(232_020));
    assert_eq!(p.client.state(), "Terminated");
}

/// §16.8: Timer C fires with no provisional → act as though 408 was received.
#[test]
fn timer_c_without_provisional_is_local_408() {
    let mut p = Pair::new(proxy_cfg(ms(10_000)), Reliability::Unreliable);
    p.c2s.blackhole = true;
    p.start_invite();
    p.run();
    assert_eq!(
        p.client.event_list(),
        [TxEvent::TimerC(TimerCAction::Local408), TxEvent::Terminated]
    );
    assert_eq!(
        p.client.event_time(TxEvent::TimerC(TimerCAction::Local408)),
        Some(10_000)
    );
}

/// §16.7 step 2: 101-199 reset Timer C, 100 does not.
#[test]
fn timer_c_reset_by_180_not_by_100() {
    let mut p = Pair::new(TimerConfig::proxy(), Reliability::Unreliable);
    p.start_invite();
    let c = TimerConfig::PROXY_TIMER_C;
    let start = p.now;
    p.run_until(ms(10));
    p.server_respond(100).unwrap();
    p.run_until(ms(60_000));
    assert_eq!(p.client_invite().timer(TxTimer::C), Some(start + c));
    p.server_respond(180).unwrap();
    p.run_until(ms(60_100));
    assert_eq!(
        p.client_invite().timer(TxTimer::C),
        Some(start + ms(60_010) + c)
    );
}

/// §9.1: no CANCEL before a provisional.
#[test]
fn cancel_readiness_in_calling_waits_for_provisional() {
    let mut p = Pair::udp();
    p.start_invite();
    assert_eq!(
        p.client_invite().can_cancel(),
        CancelReadiness::AfterProvisional
    );
}
