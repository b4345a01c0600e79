use std::time::{Duration, Instant};

use super::*;

fn nb(uri: &str, expires: u32) -> NewBinding {
    NewBinding {
        uri: uri.into(),
        expires,
        q: None,
        instance: None,
        reg_id: None,
        received: None,
        path: None,
        user_agent: None,
        socket: None,
    }
}

fn reg(call_id: &str, cseq: u32, bindings: Vec<NewBinding>) -> Register {
    Register {
        call_id: call_id.into(),
        cseq,
        remove_all: false,
        bindings,
        max_contacts: 0,
        replace: false,
    }
}

#[test]
fn add_refresh_and_remove_a_binding() {
    let ul = Location::new(4, 1 << 20);
    let t0 = Instant::now();
    let got = ul
        .register(
            "alice",
            &reg("c1", 1, vec![nb("sip:alice@10.0.0.1:5060", 3600)]),
            t0,
        )
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].remaining(t0), 3600);
    assert!(ul.registered("alice", t0));
    // A refresh from the same Call-ID with a higher CSeq updates the expiry.
    let t1 = t0 + Duration::from_secs(100);
    let got = ul
        .register(
            "alice",
            &reg("c1", 2, vec![nb("sip:alice@10.0.0.1:5060", 60)]),
            t1,
        )
        .unwrap();
    assert_eq!(got[0].remaining(t1), 60);
    assert_eq!(ul.stats().contacts, 1);
    // Expires 0 removes it (RFC 3261 §10.2.2).
    let got = ul
        .register(
            "alice",
            &reg("c1", 3, vec![nb("sip:alice@10.0.0.1:5060", 0)]),
            t1,
        )
        .unwrap();
    assert!(got.is_empty());
    assert!(!ul.registered("alice", t1));
    let s = ul.stats();
    assert_eq!((s.records, s.contacts, s.bytes), (0, 0, 0));
}

#[test]
fn contact_uri_match_ignores_case_of_scheme_and_host() {
    let ul = Location::new(2, 1 << 20);
    let t0 = Instant::now();
    ul.register(
        "a",
        &reg("c", 1, vec![nb("sip:a@Host.Example:5060", 60)]),
        t0,
    )
    .unwrap();
    let got = ul
        .register(
            "a",
            &reg("c", 2, vec![nb("SIP:a@host.example:5060", 60)]),
            t0,
        )
        .unwrap();
    assert_eq!(got.len(), 1);
    let got = ul
        .register(
            "a",
            &reg("c", 3, vec![nb("sip:A@host.example:5060", 60)]),
            t0,
        )
        .unwrap();
    assert_eq!(got.len(), 2, "the user part is case-sensitive");
}

#[test]
fn lower_cseq_with_same_call_id_is_refused_and_nothing_changes() {
    let ul = Location::new(2, 1 << 20);
    let t0 = Instant::now();
    ul.register("a", &reg("c", 5, vec![nb("sip:a@h1", 60)]), t0)
        .unwrap();
    let before = ul.stats();
    // The whole request fails, including its second, valid binding (RFC 3261 §10.3 step 7).
    let e = ul
        .register(
            "a",
            &reg("c", 4, vec![nb("sip:a@h2", 60), nb("sip:a@h1", 60)]),
            t0,
        )
        .unwrap_err();
    assert_eq!(e, UlError::InvalidCSeq);
    assert_eq!((e.status(), e.reason()), (400, "Bad Request"));
    assert_eq!(ul.lookup("a", t0, 0).len(), 1);
    assert_eq!(ul.stats().bytes, before.bytes);
    // The same CSeq is a retransmission: accepted, nothing changes.
    let got = ul
        .register("a", &reg("c", 5, vec![nb("sip:a@h1", 10)]), t0)
        .unwrap();
    assert_eq!(got[0].remaining(t0), 60);
    // Another Call-ID may update it whatever its CSeq.
    let got = ul
        .register("a", &reg("other", 1, vec![nb("sip:a@h1", 10)]), t0)
        .unwrap();
    assert_eq!(got[0].remaining(t0), 10);
}

#[test]
fn star_removes_all_bindings() {
    let ul = Location::new(2, 1 << 20);
    let t0 = Instant::now();
    ul.register(
        "a",
        &reg("c", 1, vec![nb("sip:a@h1", 60), nb("sip:a@h2", 60)]),
        t0,
    )
    .unwrap();
    let mut r = reg("c", 2, vec![]);
    r.remove_all = true;
    assert!(ul.register("a", &r, t0).unwrap().is_empty());
    assert_eq!(ul.stats().contacts, 0);
}

#[test]
fn max_contacts_is_enforced_per_aor() {
    let ul = Location::new(2, 1 << 20);
    let t0 = Instant::now();
    let mut r = reg("c", 1, vec![nb("sip:a@h1", 60), nb("sip:a@h2", 60)]);
    r.max_contacts = 2;
    ul.register("a", &r, t0).unwrap();
    let mut r = reg("d", 1, vec![nb("sip:a@h3", 60)]);
    r.max_contacts = 2;
    assert_eq!(ul.register("a", &r, t0).unwrap_err(), UlError::TooMany);
    // Replacing keeps only the new one.
    r.replace = true;
    assert_eq!(ul.register("a", &r, t0).unwrap().len(), 1);
    assert_eq!(ul.stats().contacts, 1);
}

#[test]
fn lookup_orders_by_q_then_recency_and_hides_expired() {
    let ul = Location::new(2, 1 << 20);
    let t0 = Instant::now();
    let mut low = nb("sip:a@low", 60);
    low.q = Some(100);
    let mut high = nb("sip:a@high", 60);
    high.q = Some(900);
    ul.register("a", &reg("c", 1, vec![low, high, nb("sip:a@short", 5)]), t0)
        .unwrap();
    ul.register(
        "a",
        &reg("d", 1, vec![nb("sip:a@late", 60)]),
        t0 + Duration::from_secs(1),
    )
    .unwrap();
    let t = t0 + Duration::from_secs(2);
    let order: Vec<String> = ul.lookup("a", t, 500).into_iter().map(|b| b.uri).collect();
    assert_eq!(
        order,
        ["sip:a@high", "sip:a@late", "sip:a@short", "sip:a@low"]
    );
    let t = t0 + Duration::from_secs(10);
    assert_eq!(ul.lookup("a", t, 500).len(), 3);
    assert_eq!(ul.purge_all(t), 1);
    assert_eq!(ul.stats().expired, 1);
    assert_eq!(ul.stats().contacts, 3);
}

#[test]
fn instance_and_reg_id_identify_a_binding() {
    let ul = Location::new(2, 1 << 20);
    let t0 = Instant::now();
    let mut a = nb("sip:a@10.0.0.1:1111", 60);
    a.instance = Some("<urn:uuid:1>".into());
    a.reg_id = Some(1);
    ul.register("a", &reg("c", 1, vec![a.clone()]), t0).unwrap();
    // Same instance and reg-id from a new address (a NAT rebinding) replaces it.
    a.uri = "sip:a@10.0.0.1:2222".into();
    let got = ul.register("a", &reg("c", 2, vec![a]), t0).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].uri, "sip:a@10.0.0.1:2222");
}

#[test]
fn a_full_table_refuses_new_bindings_and_keeps_old_ones() {
    // Room for about two bindings.
    let ul = Location::new(2, 2 * (BINDING_OVERHEAD + 40));
    let t0 = Instant::now();
    ul.register("a", &reg("c1", 1, vec![nb("sip:a@h1", 60)]), t0)
        .unwrap();
    ul.register("b", &reg("c2", 1, vec![nb("sip:b@h1", 5)]), t0)
        .unwrap();
    let e = ul
        .register("c", &reg("c3", 1, vec![nb("sip:c@h1", 60)]), t0)
        .unwrap_err();
    assert_eq!(e, UlError::Full);
    assert_eq!((e.status(), e.reason()), (503, "Service Unavailable"));
    assert!(ul.registered("a", t0) && ul.registered("b", t0));
    assert_eq!(ul.stats().full, 1);
    // Once b expired, the full purge makes room.
    let t = t0 + Duration::from_secs(6);
    ul.register("c", &reg("c3", 1, vec![nb("sip:c@h1", 60)]), t)
        .unwrap();
    assert!(ul.stats().bytes <= ul.max_bytes());
}

#[test]
fn remove_and_incremental_purge_keep_counts_exact() {
    let ul = Location::new(3, 1 << 20);
    let t0 = Instant::now();
    for i in 0..50 {
        let aor = format!("u{i}");
        ul.register(
            &aor,
            &reg(&aor, 1, vec![nb(&format!("sip:{aor}@h"), 1 + i % 3)]),
            t0,
        )
        .unwrap();
    }
    assert_eq!(ul.stats().records, 50);
    assert_eq!(ul.remove("u0"), 1);
    let t = t0 + Duration::from_secs(2);
    let mut removed = 0;
    for _ in 0..ul.slots() {
        removed += ul.purge_next(1, t);
    }
    let s = ul.stats();
    assert_eq!(s.contacts + removed + 1, 50);
    assert_eq!(s.records, s.contacts);
    // Only the 3-second bindings are left.
    let t = t0 + Duration::from_secs(3);
    ul.purge_all(t);
    assert_eq!(
        ul.stats(),
        UlStats {
            expired: 49,
            accepted: 50,
            ..UlStats::default()
        }
    );
}

#[test]
fn purge_due_visits_each_slot_once_per_interval() {
    let ul = Location::new(2, 1 << 20);
    let t0 = Instant::now();
    for i in 0..40 {
        let aor = format!("u{i}");
        ul.register(
            &aor,
            &reg(&aor, 1, vec![nb(&format!("sip:{aor}@h"), 1)]),
            t0,
        )
        .unwrap();
    }
    let t = t0 + Duration::from_secs(2);
    let interval = Duration::from_secs(60);
    // Four slots, one due every 15 s: right now one slot at most (the first is due at once).
    let first = ul.purge_due(t, interval, 8);
    assert!(ul.stats().contacts >= 40 - first);
    assert_eq!(ul.purge_due(t, interval, 8), 0, "nothing more due yet");
    // After a whole interval every slot has been visited: all expired bindings are gone.
    let mut later = t;
    for _ in 0..4 {
        later += Duration::from_secs(15);
        ul.purge_due(later, interval, 8);
    }
    assert_eq!(ul.stats().contacts, 0);
    assert_eq!(ul.stats().expired, 40);
}
