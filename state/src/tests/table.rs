//! Transaction table (RFC 3261 §17.1.3, §17.2.3; STYLE L8) and timer queue (STYLE L2).

use std::time::{Duration, Instant};

use crate::{InsertError, MethodClass, Role, StatusCode, Timers, TxKeyRef, TxTable, MAX_KEY_PART};

const SEEDS: [u64; 4] = [1, 2, 3, 4];

/// §17.2.3: ACK matches the INVITE's server transaction; CANCEL and other methods with the
/// same branch are separate transactions; sent-by is part of the key.
#[test]
fn server_matching_rules() {
    let mut t = TxTable::new(16, SEEDS);
    let invite = TxKeyRef::server("z9hG4bK1", "a.example.com:5060", "INVITE");
    let h = t.insert(invite.to_owned_key(), "invite").unwrap();
    assert_eq!(
        t.find(TxKeyRef::server("z9hG4bK1", "a.example.com:5060", "ACK")),
        Some(h)
    );
    assert_eq!(
        t.find(TxKeyRef::server("z9hG4bK1", "a.example.com:5060", "CANCEL")),
        None
    );
    assert_eq!(
        t.find(TxKeyRef::server("z9hG4bK1", "b.example.com:5060", "INVITE")),
        None
    );
    assert_eq!(
        t.find(TxKeyRef::server("z9hG4bK1", "a.example.com:5060", "BYE")),
        None
    );
    // A client key with the same branch is a different transaction (§17.1.3 vs §17.2.3).
    assert_eq!(t.find(TxKeyRef::client("z9hG4bK1", "INVITE")), None);
    let c = t
        .insert(
            TxKeyRef::client("z9hG4bK1", "INVITE").to_owned_key(),
            "client",
        )
        .unwrap();
    assert_ne!(c, h);
    assert_eq!(TxKeyRef::client("b", "INVITE").role(), Role::Client);
    assert_eq!(MethodClass::of("ACK"), MethodClass::Invite);
    assert_eq!(MethodClass::of("CANCEL"), MethodClass::NonInvite);
    assert_eq!(MethodClass::of("invite"), MethodClass::NonInvite);
}

/// A full table refuses with a typed error carrying 503, and the counter moves.
#[test]
fn full_table_refuses_with_503() {
    let mut t = TxTable::new(2, SEEDS);
    t.insert(TxKeyRef::server("b1", "h", "INVITE").to_owned_key(), 1)
        .unwrap();
    t.insert(TxKeyRef::server("b2", "h", "INVITE").to_owned_key(), 2)
        .unwrap();
    let err = t
        .insert(TxKeyRef::server("b3", "h", "INVITE").to_owned_key(), 3)
        .unwrap_err();
    assert_eq!(err.response_status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(err, InsertError::Full(3));
    assert_eq!(t.stats().refused_full, 1);
    assert_eq!(t.len(), 2);
    assert_eq!(t.capacity(), 2);
}

/// An existing key is reported (retransmission: route it there), not replaced.
#[test]
fn duplicate_insert_returns_existing_handle() {
    let mut t = TxTable::new(4, SEEDS);
    let k = TxKeyRef::server("b1", "h", "OPTIONS");
    let h = t.insert(k.to_owned_key(), 1).unwrap();
    let err = t.insert(k.to_owned_key(), 2).unwrap_err();
    assert_eq!(err.response_status(), None);
    assert_eq!(err, InsertError::Duplicate(h, 2));
    assert_eq!(t.get(h), Some(&1));
    assert_eq!(t.stats().duplicates, 1);
}

/// Oversized peer-chosen key parts are refused (STYLE L8).
#[test]
fn oversized_key_is_refused() {
    let mut t = TxTable::new(4, SEEDS);
    let long = "z".repeat(MAX_KEY_PART + 1);
    let err = t
        .insert(TxKeyRef::server(&long, "h", "INVITE").to_owned_key(), 0)
        .unwrap_err();
    assert_eq!(err.response_status(), StatusCode::new(400));
    assert_eq!(err.into_inner(), 0);
    assert!(t.is_empty());
}

/// Removal makes the handle stale; the slot is reused with a new generation.
#[test]
fn stale_handles_after_remove() {
    let mut t = TxTable::new(4, SEEDS);
    let h1 = t
        .insert(TxKeyRef::server("b1", "h", "INVITE").to_owned_key(), 1)
        .unwrap();
    assert_eq!(t.remove(h1), Some(1));
    assert_eq!(t.remove(h1), None);
    assert_eq!(t.get(h1), None);
    assert_eq!(t.find(TxKeyRef::server("b1", "h", "ACK")), None);
    let h2 = t
        .insert(TxKeyRef::server("b2", "h", "INVITE").to_owned_key(), 2)
        .unwrap();
    assert_eq!(h2.index(), h1.index());
    assert_ne!(h2.generation(), h1.generation());
    assert_eq!(t.get(h1), None);
    assert_eq!(t.get_mut(h2).copied(), Some(2));
    assert_eq!(t.stats().removed, 1);
}

/// STYLE L2: re-arm only when the deadline changes; stale entries are skipped.
#[test]
fn timers_rearm_only_on_change_and_skip_stale() {
    let now = Instant::now();
    let ms = Duration::from_millis;
    let mut t = TxTable::new(8, SEEDS);
    let a = t
        .insert(TxKeyRef::client("a", "INVITE").to_owned_key(), ())
        .unwrap();
    let b = t
        .insert(TxKeyRef::client("b", "INVITE").to_owned_key(), ())
        .unwrap();
    let mut q = Timers::new(t.capacity());
    assert!(q.update(a, Some(now + ms(500))));
    assert!(!q.update(a, Some(now + ms(500))));
    assert!(q.update(b, Some(now + ms(300))));
    assert!(q.update(b, Some(now + ms(700)))); // b moved later: the 300 entry is stale
    assert_eq!(q.stats().unchanged, 1);
    assert_eq!(q.len(), 2);
    assert_eq!(q.next_deadline(), Some(now + ms(500)));
    assert_eq!(q.pop_expired(now + ms(400)), None);
    assert_eq!(q.pop_expired(now + ms(1000)), Some(a));
    assert_eq!(q.pop_expired(now + ms(1000)), Some(b));
    assert_eq!(q.pop_expired(now + ms(1000)), None);
    assert!(q.is_empty());
    // Disarm and remove.
    q.update(a, Some(now + ms(5)));
    q.update(a, None);
    assert_eq!(q.next_deadline(), None);
    q.update(b, Some(now + ms(5)));
    q.remove(b);
    assert_eq!(q.pop_expired(now + ms(10)), None);
}

/// A stale handle (removed transaction, reused slot) never fires.
#[test]
fn timers_ignore_stale_generation() {
    let now = Instant::now();
    let mut t = TxTable::new(8, SEEDS);
    let old = t
        .insert(TxKeyRef::client("a", "BYE").to_owned_key(), ())
        .unwrap();
    let mut q = Timers::new(8);
    q.update(old, Some(now));
    t.remove(old);
    q.remove(old);
    let new = t
        .insert(TxKeyRef::client("b", "BYE").to_owned_key(), ())
        .unwrap();
    q.update(new, Some(now + Duration::from_millis(1)));
    assert_eq!(q.pop_expired(now + Duration::from_millis(5)), Some(new));
    assert_eq!(q.pop_expired(now + Duration::from_millis(5)), None);
}

/// Heap memory stays bounded under constant re-arming.
#[test]
fn timers_compact_stale_entries() {
    let now = Instant::now();
    let mut t = TxTable::new(8, SEEDS);
    let h = t
        .insert(TxKeyRef::client("a", "BYE").to_owned_key(), ())
        .unwrap();
    let mut q = Timers::new(8);
    for i in 0..10_000u64 {
        q.update(h, Some(now + Duration::from_millis(i)));
    }
    assert!(q.heap_len() <= 2 * q.len() + 65, "heap {}", q.heap_len());
    assert_eq!(q.next_deadline(), Some(now + Duration::from_millis(9_999)));
}

/// Handles beyond the configured capacity are refused.
#[test]
fn timers_refuse_out_of_range_handles() {
    let now = Instant::now();
    let mut t = TxTable::new(8, SEEDS);
    for i in 0..3 {
        t.insert(TxKeyRef::client(&i.to_string(), "BYE").to_owned_key(), ())
            .unwrap();
    }
    let h = t
        .insert(TxKeyRef::client("x", "BYE").to_owned_key(), ())
        .unwrap();
    let mut q = Timers::new(2);
    assert!(!q.update(h, Some(now)));
    assert_eq!(q.stats().refused, 1);
}
