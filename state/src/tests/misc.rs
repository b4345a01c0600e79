//! ACK builder, config, input validation, overflow safety and per-transaction memory.

use std::mem::size_of;
use std::time::{Duration, Instant};

use crate::{
    AckError, AckParts, ClientInviteTx, ClientNonInviteTx, ConfigError, PeerError, Reliability,
    ServerInviteTx, ServerNonInviteTx, TimerConfig, Transaction, TxError, TxEvent, TxKey, TxTimer,
};

fn parts() -> AckParts {
    AckParts {
        request_uri: "sip:bob@biloxi.example.com".into(),
        via: "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8".into(),
        routes: vec![
            "<sip:p1.example.com;lr>".into(),
            "<sip:p2.example.com;lr>".into(),
        ],
        from: "Alice <sip:alice@atlanta.example.com>;tag=1928301774".into(),
        to: "Bob <sip:bob@biloxi.example.com>;tag=a6c85cf".into(),
        call_id: "a84b4c76e66710@pc33.atlanta.example.com".into(),
        cseq: 314159,
    }
}

/// RFC 3261 §17.1.1.3: the ACK copies Request-URI, top Via, Route, From, Call-ID, CSeq
/// number, and takes To from the response.
#[test]
fn ack_builder_follows_17_1_1_3() {
    let ack = String::from_utf8(parts().build().unwrap()).unwrap();
    assert_eq!(
        ack,
        "ACK sip:bob@biloxi.example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n\
         Route: <sip:p1.example.com;lr>\r\n\
         Route: <sip:p2.example.com;lr>\r\n\
         Max-Forwards: 70\r\n\
         From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
         To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
         Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
         CSeq: 314159 ACK\r\n\
         Content-Length: 0\r\n\r\n"
    );
}

/// Header injection and empty mandatory values are refused, not serialized.
#[test]
fn ack_builder_refuses_crlf_and_empty() {
    let mut p = parts();
    p.to = "Bob <sip:bob@b>;tag=x\r\nEvil: 1".into();
    assert_eq!(p.build(), Err(AckError::InvalidValue("To")));
    let mut p = parts();
    p.call_id = String::new();
    assert_eq!(p.build(), Err(AckError::InvalidValue("Call-ID")));
    let mut p = parts();
    p.routes.push("<sip:x>\n".into());
    assert_eq!(p.build(), Err(AckError::InvalidValue("Route")));
}

/// The ACK bytes from the builder are what the client INVITE machine sends.
#[test]
fn client_invite_sends_the_built_ack() {
    let now = Instant::now();
    let mut tx = ClientInviteTx::new(
        now,
        TimerConfig::default(),
        Reliability::Unreliable,
        b"INVITE".to_vec().into(),
    );
    let mut buf = Vec::new();
    let _ = tx.poll_transmit(now, &mut buf);
    buf.clear();
    tx.handle_response(now, 486, || parts().build().unwrap_or_default())
        .unwrap();
    let t = tx.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(t.kind, crate::TransmitKind::Ack);
    assert_eq!(buf, parts().build().unwrap());
}

/// Status codes outside 100..=699 from the peer are `PeerMisbehaved`, and change nothing.
#[test]
fn invalid_peer_status_is_peer_misbehaviour() {
    let now = Instant::now();
    let cfg = TimerConfig::default();
    let mut ci = ClientInviteTx::new(now, cfg, Reliability::Unreliable, Box::default());
    for bad in [0, 99, 700, u16::MAX] {
        assert_eq!(
            ci.handle_response(now, bad, Vec::new),
            Err(TxError::PeerMisbehaved(PeerError::InvalidStatus(bad)))
        );
    }
    assert_eq!(ci.state_name(), "Calling");
    let mut cn = ClientNonInviteTx::new(now, cfg, Reliability::Unreliable, Box::default());
    assert!(cn.handle_response(now, 1000).is_err());
    assert_eq!(cn.state_name(), "Trying");
}

/// Absurd configuration (durations near `Duration::MAX`) never panics: deadlines that would
/// overflow `Instant` stay unarmed.
#[test]
fn huge_timer_values_do_not_panic() {
    let now = Instant::now();
    let cfg = TimerConfig {
        t1: Duration::MAX,
        t2: Duration::MAX,
        t4: Duration::MAX,
        timer_d: Duration::MAX,
        timer_c: Some(Duration::MAX),
        fr_timer: None,
        wait_timer: Some(Duration::MAX),
    };
    let mut ci = ClientInviteTx::new(now, cfg, Reliability::Unreliable, Box::default());
    assert_eq!(ci.poll_timeout(), None);
    ci.handle_response(now, 180, Vec::new).unwrap();
    ci.handle_response(now, 486, Vec::new).unwrap();
    ci.handle_timeout(now);
    let mut si = ServerInviteTx::new(now, cfg, Reliability::Unreliable);
    si.handle_tu_response(now, 500, Box::default()).unwrap();
    si.handle_timeout(now);
    let mut sn = ServerNonInviteTx::new(now, cfg, Reliability::Unreliable);
    sn.handle_tu_response(now, 200, Box::default()).unwrap();
    let mut cn = ClientNonInviteTx::new(now, cfg, Reliability::Unreliable, Box::default());
    cn.handle_timeout(now);
    assert_eq!(cfg.t1_x64(), Duration::MAX);
}

/// Early and spurious `handle_timeout` calls do nothing.
#[test]
fn spurious_timeout_is_a_noop() {
    let now = Instant::now();
    let mut tx = Transaction::ClientInvite(ClientInviteTx::new(
        now,
        TimerConfig::default(),
        Reliability::Unreliable,
        b"INVITE".to_vec().into(),
    ));
    let mut buf = Vec::new();
    let _ = tx.poll_transmit(now, &mut buf);
    let deadline = tx.poll_timeout();
    tx.handle_timeout(now);
    tx.handle_timeout(now + Duration::from_millis(499));
    assert_eq!(tx.poll_timeout(), deadline);
    assert!(tx.poll_transmit(now, &mut buf).is_none());
    assert_eq!(tx.poll_event(), None);
}

/// RFC 3261 Appendix A / §16.6 constraints on the configuration.
#[test]
fn config_validation() {
    assert_eq!(TimerConfig::default().validate(true), Ok(()));
    assert_eq!(TimerConfig::proxy().validate(true), Ok(()));
    let bad = TimerConfig {
        t1: Duration::ZERO,
        ..TimerConfig::default()
    };
    assert_eq!(bad.validate(false), Err(ConfigError::ZeroT1));
    let bad = TimerConfig {
        t2: Duration::from_millis(100),
        ..TimerConfig::default()
    };
    assert_eq!(bad.validate(false), Err(ConfigError::T2BelowT1));
    let short_c = TimerConfig {
        timer_c: Some(Duration::from_secs(60)),
        ..TimerConfig::default()
    };
    assert_eq!(short_c.validate(true), Err(ConfigError::TimerCTooShort));
    assert_eq!(short_c.validate(false), Ok(()));
}

/// Timer table: ties go to the earlier letter, and `pop_expired` disarms.
#[test]
fn timer_table_pops_in_deadline_order() {
    let now = Instant::now();
    let mut t = crate::TimerTable::default();
    t.set(TxTimer::B, now, Duration::from_millis(5));
    t.set(TxTimer::A, now, Duration::from_millis(5));
    t.set(TxTimer::D, now, Duration::from_millis(1));
    assert_eq!(t.next_timeout(), Some(now + Duration::from_millis(1)));
    let later = now + Duration::from_millis(10);
    assert_eq!(t.pop_expired(later), Some(TxTimer::D));
    assert_eq!(t.pop_expired(later), Some(TxTimer::A));
    assert_eq!(t.pop_expired(later), Some(TxTimer::B));
    assert_eq!(t.pop_expired(later), None);
}

/// The "Terminated" event is emitted exactly once.
#[test]
fn terminated_is_reported_once() {
    let now = Instant::now();
    let mut tx = ServerNonInviteTx::new(now, TimerConfig::default(), Reliability::Reliable);
    tx.handle_tu_response(now, 200, Box::default()).unwrap();
    tx.handle_transport_error(now);
    tx.handle_timeout(now + Duration::from_secs(100));
    assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
    assert_eq!(tx.poll_event(), None);
}

/// Memory per transaction: the inline size of each machine (message bytes live on the heap,
/// owned by the machine: the request or the last response, plus the ACK for a client INVITE
/// in `Completed`). Target: at most 1.5 KB per transaction including its key.
#[test]
fn transaction_sizes_stay_small() {
    let sizes = [
        ("ClientInviteTx", size_of::<ClientInviteTx>()),
        ("ClientNonInviteTx", size_of::<ClientNonInviteTx>()),
        ("ServerInviteTx", size_of::<ServerInviteTx>()),
        ("ServerNonInviteTx", size_of::<ServerNonInviteTx>()),
        ("Transaction", size_of::<Transaction>()),
        ("TxKey", size_of::<TxKey>()),
    ];
    for (name, s) in sizes {
        println!("size_of::<{name}>() = {s}");
        assert!(s <= 512, "{name} is {s} bytes");
    }
    assert!(size_of::<Transaction>() + size_of::<TxKey>() * 2 <= 1536);
}

/// No panics on any input sequence: a seeded xorshift drives random inputs (any status,
/// any order, any time jump, reliable or not) into all four machines; invariants: once
/// `Terminated`, no timer is armed, and `Terminated` is reported exactly once.
#[test]
fn random_input_sequences_never_panic() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let t0 = Instant::now();
    for round in 0..400 {
        let rel = if round % 2 == 0 {
            Reliability::Unreliable
        } else {
            Reliability::Reliable
        };
        let cfg = if round % 3 == 0 {
            TimerConfig::proxy()
        } else {
            TimerConfig::default()
        };
        let mut now = t0;
        let mut tx = match round % 4 {
            0 => Transaction::ClientInvite(ClientInviteTx::new(now, cfg, rel, Box::default())),
            1 => {
                Transaction::ClientNonInvite(ClientNonInviteTx::new(now, cfg, rel, Box::default()))
            }
            2 => Transaction::ServerInvite(ServerInviteTx::new(now, cfg, rel)),
            _ => Transaction::ServerNonInvite(ServerNonInviteTx::new(now, cfg, rel)),
        };
        let mut terminated_events = 0;
        let mut buf = Vec::new();
        for _ in 0..60 {
            let r = next();
            let code = u16::try_from(r % 800).unwrap_or(0);
            now += Duration::from_millis(r % 40_000);
            match (&mut tx, (r >> 32) % 5) {
                (_, 0) => tx.handle_timeout(now),
                (_, 1) => {
                    let _ = tx.handle_transport_error(now);
                }
                (Transaction::ClientInvite(t), _) => {
                    let _ = t.handle_response(now, code, Vec::new);
                    let _ = t.can_cancel();
                }
                (Transaction::ClientNonInvite(t), _) => {
                    let _ = t.handle_response(now, code);
                }
                (Transaction::ServerInvite(t), 2) => {
                    let _ = t.handle_cancel(now);
                }
                (Transaction::ServerInvite(t), 3) => {
                    let input = if r & 1 == 0 {
                        crate::InviteInput::Ack
                    } else {
                        crate::InviteInput::Invite
                    };
                    let _ = t.handle_request(now, input);
                }
                (Transaction::ServerInvite(t), _) => {
                    let _ = t.handle_tu_response(now, code, Box::default());
                }
                (Transaction::ServerNonInvite(t), 2) => {
                    let _ = t.handle_request(now);
                }
                (Transaction::ServerNonInvite(t), _) => {
                    let _ = t.handle_tu_response(now, code, Box::default());
                }
            }
            while let Some(e) = tx.poll_event() {
                if e == TxEvent::Terminated {
                    terminated_events += 1;
                }
            }
            while tx.poll_transmit(now, &mut buf).is_some() {}
            if tx.is_terminated() {
                assert_eq!(tx.poll_timeout(), None, "{:?}", tx.kind());
            }
            if let Some(d) = tx.poll_timeout() {
                assert!(d >= t0);
            }
        }
        assert!(terminated_events <= 1);
        assert_eq!(terminated_events == 1, tx.is_terminated());
    }
}

/// Kamailio's `wt_timer` shortens Timers J, L and M (kept 5 s instead of 64·T1).
#[test]
fn wait_timer_overrides_retention_timers() {
    let now = Instant::now();
    let cfg = TimerConfig {
        wait_timer: Some(Duration::from_secs(5)),
        ..TimerConfig::default()
    };
    assert_eq!(cfg.j(Reliability::Unreliable), Duration::from_secs(5));
    assert_eq!(cfg.j(Reliability::Reliable), Duration::ZERO);
    let mut ci = ClientInviteTx::new(now, cfg, Reliability::Unreliable, Box::default());
    ci.handle_response(now, 200, Vec::new).unwrap();
    assert_eq!(ci.timer(TxTimer::M), Some(now + Duration::from_secs(5)));
    assert_eq!(TimerConfig::default().retention(), Duration::from_secs(32));
}
