//! Non-INVITE client transaction: RFC 3261 Figure 6.

use crate::testkit::{is_request, ms, Pair};
use crate::{Disposition, Reliability, StatusCode, TimerConfig, TxEvent, TxTimer};

fn st(c: u16) -> StatusCode {
    StatusCode::new(c).unwrap()
}

/// Trying --Timer E--> Trying (doubling, capped at T2); Trying --Timer F--> Terminated.
#[test]
fn drop_request_timer_e_capped_at_t2_then_timer_f() {
    let mut p = Pair::udp();
    p.c2s.blackhole = true;
    p.start_request("OPTIONS");
    p.run();
    assert_eq!(
        p.client.sent_times(is_request),
        [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(
        p.client.event_list(),
        [TxEvent::Timeout, TxEvent::Terminated]
    );
    assert_eq!(p.client.event_time(TxEvent::Timeout), Some(32_000));
}

/// Trying --1xx--> Proceeding; Proceeding --Timer E--> Proceeding every T2; Proceeding
/// --Timer F--> Terminated.
#[test]
fn proceeding_retransmits_every_t2_until_timer_f() {
    let mut p = Pair::udp();
    p.start_request("REGISTER");
    p.run_until(ms(10));
    p.server_respond(100).unwrap();
    p.run();
    assert_eq!(p.client.event_list()[0], TxEvent::Response(st(100)));
    // E armed at T1 fires at 500 in Proceeding and is reset to T2 each time.
    assert_eq!(
        p.client.sent_times(is_request),
        [0, 500, 4500, 8500, 12500, 16500, 20500, 24500, 28500]
    );
    assert_eq!(p.client.event_time(TxEvent::Timeout), Some(32_000));
}

/// Proceeding --1xx--> Proceeding and Proceeding --200-699--> Completed --Timer K-->
/// Terminated; Completed absorbs retransmitted finals.
#[test]
fn final_completes_then_timer_k_terminates() {
    let mut p = Pair::udp();
    p.start_request("BYE");
    p.run_until(ms(10));
    p.server_respond(100).unwrap();
    p.server_respond(180).unwrap();
    p.run_until(ms(1_000));
    p.server_respond(200).unwrap();
    p.run_until(ms(1_020));
    assert_eq!(p.client.state(), "Completed");
    assert_eq!(p.client.sent_times(is_request), [0, 500]);
    p.s2c.inject(p.now, b"SIP/2.0 200");
    p.run();
    // The Timer E retransmit at 500 ms got the 180 again (server Proceeding, §17.2.2),
    // and Proceeding passes every provisional up.
    assert_eq!(
        p.client.event_list(),
        [
            TxEvent::Response(st(100)),
            TxEvent::Response(st(180)),
            TxEvent::Response(st(180)),
            TxEvent::Response(st(200)),
            TxEvent::Terminated
        ]
    );
    assert_eq!(
        p.client.dispositions.last().map(|(_, d)| *d),
        Some(Disposition::Absorbed)
    );
    // K = T4 = 5 s after the 200 at 1010 ms.
    assert_eq!(p.client.event_time(TxEvent::Terminated), Some(6_010));
}

/// Trying --200-699--> Completed directly.
#[test]
fn final_from_trying_completes() {
    let mut p = Pair::udp();
    p.start_request("OPTIONS");
    p.run_until(ms(10));
    p.server_respond(404).unwrap();
    p.run_until(ms(25));
    assert_eq!(p.client.state(), "Completed");
    assert_eq!(p.client.event_list(), [TxEvent::Response(st(404))]);
    let now = p.now;
    let k = match p.client.tx.as_ref() {
        Some(crate::Transaction::ClientNonInvite(t)) => t.timer(TxTimer::K),
        _ => None,
    };
    assert_eq!(k, Some(now - ms(5) + ms(5_000)));
}

/// Reliable transport: no Timer E, Timer K zero.
#[test]
fn reliable_transport_no_e_and_timer_k_zero() {
    let mut p = Pair::new(TimerConfig::default(), Reliability::Reliable);
    p.start_request("OPTIONS");
    p.run_until(ms(10_000));
    p.server_respond(200).unwrap();
    p.run();
    assert_eq!(p.client.sent_times(is_request), [0]);
    assert_eq!(
        p.client.event_list(),
        [TxEvent::Response(st(200)), TxEvent::Terminated]
    );
    assert_eq!(p.client.event_time(TxEvent::Terminated), Some(10_010));
}

/// Trying/Proceeding --Transport Err--> Terminated.
#[test]
fn transport_error_informs_tu() {
    let mut p = Pair::udp();
    p.start_request("OPTIONS");
    let now = p.now;
    if let Some(t) = p.client.tx.as_mut() {
        assert_eq!(t.handle_transport_error(now), Disposition::Delivered);
        assert_eq!(t.handle_transport_error(now), Disposition::Ignored);
    }
    p.drain();
    assert_eq!(
        p.client.event_list(),
        [TxEvent::TransportError, TxEvent::Terminated]
    );
}

/// `fr_timer` (Kamailio) overrides Timer F.
#[test]
fn fr_timer_overrides_timer_f() {
    let cfg = TimerConfig {
        fr_timer: Some(ms(5_000)),
        ..TimerConfig::default()
    };
    let mut p = Pair::new(cfg, Reliability::Unreliable);
    p.c2s.blackhole = true;
    p.start_request("OPTIONS");
    p.run();
    assert_eq!(p.client.event_time(TxEvent::Timeout), Some(5_000));
    assert_eq!(p.client.sent_times(is_request), [0, 500, 1500, 3500]);
}

/// Reordering: the 200 overtakes the 100; the late provisional is absorbed in Completed.
#[test]
fn reordered_provisional_after_final_is_absorbed() {
    let mut p = Pair::udp();
    p.start_request("OPTIONS");
    p.run_until(ms(10));
    p.server_respond(100).unwrap();
    p.server_respond(200).unwrap();
    p.s2c.swap_front();
    p.run_until(ms(30));
    let events = p.client.event_list();
    assert_matches!(events.as_slice(), [TxEvent::Response(s)] if s.code() == 200);
    assert_eq!(
        p.client
            .dispositions
            .iter()
            .map(|(_, d)| *d)
            .collect::<Vec<_>>(),
        [Disposition::Delivered, Disposition::Absorbed]
    );
}
