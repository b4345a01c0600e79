//! Unit tests of the dialog table: states, matching, capacity, deadlines, profiles.

use std::time::{Duration, Instant};

use super::*;

const SEEDS: [u64; 4] = [1, 2, 3, 4];

fn table(capacity: usize) -> Dialogs {
    let profiles = parse_profiles("caller", "inbound").expect("profiles");
    Dialogs::new(
        DialogConfig {
            capacity,
            default_timeout: Duration::from_secs(100),
            early_timeout: Duration::from_secs(30),
            noack_timeout: Duration::from_secs(5),
            linger: Duration::from_secs(2),
            ..DialogConfig::default()
        },
        profiles,
        SEEDS,
    )
}

fn state(t: &Dialogs, h: DlgHandle) -> Option<DlgState> {
    t.get(h).map(Dialog::state)
}

#[test]
fn full_call_walks_the_five_states() {
    let now = Instant::now();
    let mut t = table(8);
    let h = t.create(now, "c1", "ft").expect("created");
    assert_eq!(state(&t, h), Some(DlgState::Unconfirmed));
    // A 100 has no To-tag: no early dialog.
    let r = t.handle(h, now, DialogInput::Provisional { to_tag: None });
    assert_eq!(r, Ok(Transition::Ignored));
    let r = t.handle(h, now, DialogInput::Provisional { to_tag: Some("tt") });
    assert_eq!(
        r,
        Ok(Transition::Changed {
            from: DlgState::Unconfirmed,
            to: DlgState::Early
        })
    );
    t.handle(h, now, DialogInput::Success { to_tag: Some("tt") })
        .expect("2xx");
    assert_eq!(state(&t, h), Some(DlgState::ConfirmedNoAck));
    assert_eq!(t.get(h).and_then(Dialog::to_tag), Some("tt"));
    // A retransmitted 2xx changes nothing.
    assert_eq!(
        t.handle(h, now, DialogInput::Success { to_tag: Some("tt") }),
        Ok(Transition::Ignored)
    );
    t.handle(h, now, DialogInput::Ack).expect("ack");
    assert_eq!(state(&t, h), Some(DlgState::Confirmed));
    assert_eq!(t.poll_timeout(), Some(now + Duration::from_secs(100)));
    t.handle(h, now, DialogInput::Bye).expect("bye");
    assert_eq!(state(&t, h), Some(DlgState::Deleted));
    assert_eq!(t.live(), 0);
    assert_eq!(t.stats().ended, 1);
    // Lingers, then goes.
    assert_eq!(t.poll_timeout(), Some(now + Duration::from_secs(2)));
    assert_eq!(t.handle_timeout(now + Duration::from_secs(2)), 0);
    assert!(t.get(h).is_none());
    assert!(t.is_empty());
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn matching_both_directions_per_rfc3261_12_2() {
    let now = Instant::now();
    let mut t = table(8);
    let h = t.create(now, "c1", "caller").expect("created");
    // Before confirmation: any To-tag matches downstream.
    assert_eq!(
        t.find("c1", "caller", Some("x")),
        Some((h, Direction::Downstream))
    );
    t.handle(
        h,
        now,
        DialogInput::Success {
            to_tag: Some("callee"),
        },
    )
    .expect("2xx");
    assert_eq!(
        t.find("c1", "caller", Some("callee")),
        Some((h, Direction::Downstream))
    );
    assert_eq!(
        t.find("c1", "callee", Some("caller")),
        Some((h, Direction::Upstream))
    );
    assert_eq!(t.find("c1", "caller", Some("other")), None);
    assert_eq!(t.find("c2", "caller", Some("callee")), None);
    assert_eq!(t.find("c1", "nobody", None), None);
}

#[test]
fn failure_response_deletes() {
    let now = Instant::now();
    let mut t = table(8);
    let h = t.create(now, "c1", "ft").expect("created");
    let p = t.profile_id("inbound").expect("profile");
    t.set_profile(h, p, None).expect("set");
    assert_eq!(t.profile_size(p, None), 1);
    t.handle(h, now, DialogInput::Failure).expect("486");
    assert_eq!(state(&t, h), Some(DlgState::Deleted));
    assert_eq!(t.profile_size(p, None), 0);
    assert_eq!(t.stats().failed, 1);
    assert_eq!(t.set_profile(h, p, None), Err(DialogError::Deleted));
    // A failure after confirmation is not a dialog failure.
    let h2 = t.create(now, "c2", "ft").expect("created");
    t.handle(h2, now, DialogInput::Success { to_tag: Some("a") })
        .expect("2xx");
    assert_eq!(
        t.handle(h2, now, DialogInput::Failure),
        Ok(Transition::Ignored)
    );
}

#[test]
fn table_full_refuses_and_counts() {
    let now = Instant::now();
    let mut t = table(2);
    let a = t.create(now, "a", "1").expect("a");
    t.create(now, "b", "1").expect("b");
    assert_eq!(t.create(now, "c", "1"), Err(DialogError::TableFull));
    assert_eq!(t.stats().refused_full, 1);
    // A retransmitted INVITE finds its dialog instead.
    assert_eq!(t.create(now, "a", "1"), Err(DialogError::Exists(a)));
    assert_eq!(t.stats().duplicates, 1);
    let long = "x".repeat(MAX_DLG_KEY_PART + 1);
    assert_eq!(t.create(now, &long, "1"), Err(DialogError::BadKey));
    assert_eq!(t.create(now, "d", ""), Err(DialogError::BadKey));
    // Room again once one is removed; the old handle is stale.
    t.remove(a).expect("removed");
    assert!(t.get(a).is_none());
    assert_eq!(
        t.handle(a, now, DialogInput::Bye),
        Err(DialogError::StaleHandle)
    );
    t.create(now, "c", "1").expect("room again");
}

#[test]
fn timeouts_per_state() {
    let now = Instant::now();
    let mut t = table(8);
    let early = t.create(now, "e", "1").expect("created");
    let noack = t.create(now, "n", "1").expect("created");
    t.handle(noack, now, DialogInput::Success { to_tag: Some("t") })
        .expect("2xx");
    let call = t.create(now, "c", "1").expect("created");
    t.handle(call, now, DialogInput::Success { to_tag: Some("t") })
        .expect("2xx");
    t.handle(call, now, DialogInput::Ack).expect("ack");
    let p = t.profile_id("caller").expect("profile");
    t.set_profile(call, p, Some("alice")).expect("set");
    // Spurious call: nothing.
    assert_eq!(t.handle_timeout(now + Duration::from_secs(1)), 0);
    // noack_timeout (5 s).
    assert_eq!(t.poll_timeout(), Some(now + Duration::from_secs(5)));
    assert_eq!(t.handle_timeout(now + Duration::from_secs(5)), 1);
    assert_eq!(state(&t, noack), Some(DlgState::Deleted));
    // early_timeout (30 s).
    assert_eq!(t.handle_timeout(now + Duration::from_secs(30)), 1);
    assert_eq!(state(&t, early), Some(DlgState::Deleted));
    assert!(t.get(noack).is_none(), "lingered 2 s, then removed");
    // An in-dialog request at 50 s restarts the 100 s lifetime.
    let at = now + Duration::from_secs(50);
    t.handle(call, at, DialogInput::Request).expect("re-INVITE");
    assert_eq!(t.handle_timeout(now + Duration::from_secs(100)), 0);
    assert_eq!(t.profile_size(p, Some("alice")), 1);
    assert_eq!(t.handle_timeout(now + Duration::from_secs(150)), 1);
    assert_eq!(state(&t, call), Some(DlgState::Deleted));
    assert_eq!(t.profile_size(p, Some("alice")), 0);
    assert_eq!(t.stats().expired, 3);
    assert_eq!(t.live(), 0);
}

#[test]
fn profile_counts() {
    let now = Instant::now();
    let mut t = table(8);
    let caller = t.profile_id("caller").expect("caller");
    let inbound = t.profile_id("inbound").expect("inbound");
    assert_eq!(t.profile_id("nope"), None);
    let a = t.create(now, "a", "1").expect("a");
    let b = t.create(now, "b", "1").expect("b");
    t.set_profile(a, caller, Some("alice")).expect("set");
    t.set_profile(b, caller, Some("alice")).expect("set");
    t.set_profile(b, inbound, Some("ignored"))
        .expect("value discarded");
    assert_eq!(
        t.set_profile(a, caller, None),
        Err(DialogError::MissingValue)
    );
    assert_eq!(t.profile_size(caller, Some("alice")), 2);
    assert_eq!(t.profile_size(caller, Some("bob")), 0);
    assert_eq!(t.profile_size(caller, None), 2);
    assert_eq!(t.profile_size(inbound, None), 1);
    assert_eq!(t.profile_size(inbound, Some("whatever")), 1);
    assert!(t.in_profile(a, caller, Some("alice")));
    assert!(!t.in_profile(a, caller, Some("bob")));
    assert!(t.in_profile(a, caller, None));
    assert!(!t.in_profile(a, inbound, None));
    // Kamailio does not deduplicate: a second set counts twice.
    t.set_profile(a, caller, Some("alice")).expect("again");
    assert_eq!(t.profile_size(caller, Some("alice")), 3);
    assert_eq!(t.unset_profile(a, caller, Some("alice")), Ok(true));
    assert_eq!(t.unset_profile(a, caller, Some("bob")), Ok(false));
    assert_eq!(t.profile_size(caller, Some("alice")), 2);
    t.remove(b).expect("removed");
    assert_eq!(t.profile_size(caller, Some("alice")), 1);
    assert_eq!(t.profile_size(inbound, None), 0);
    for _ in 1..MAX_PROFILE_LINKS {
        t.set_profile(a, inbound, None).expect("room");
    }
    assert_eq!(t.set_profile(a, inbound, None), Err(DialogError::TooMany));
    let long = "v".repeat(MAX_PROFILE_VALUE + 1);
    assert_eq!(
        t.set_profile(a, caller, Some(&long)),
        Err(DialogError::ValueTooLong)
    );
}

#[test]
fn profile_declarations() {
    let p = parse_profiles(" a ; b;", "c").expect("ok");
    assert_eq!(p.len(), 3);
    assert!(p[0].with_value && p[1].with_value && !p[2].with_value);
    assert_eq!(
        parse_profiles("a", "a"),
        Err(ProfileError::Duplicate("a".into()))
    );
    assert_eq!(
        parse_profiles("a b", ""),
        Err(ProfileError::BadName("a b".into()))
    );
}

#[test]
fn dialog_vars_and_ids() {
    let now = Instant::now();
    let mut t = Dialogs::new(
        DialogConfig {
            h_id_start: 7,
            h_id_step: 4,
            ..DialogConfig::default()
        },
        Vec::new(),
        SEEDS,
    );
    let a = t.create(now, "a", "1").expect("a");
    let b = t.create(now, "b", "1").expect("b");
    assert_eq!(t.get(a).map(Dialog::h_id), Some(7));
    assert_eq!(t.get(b).map(Dialog::h_id), Some(11));
    t.set_var(a, "x", Some("1")).expect("set");
    t.set_var(a, "x", Some("2")).expect("overwrite");
    assert_eq!(t.get(a).and_then(|d| d.var("x")), Some("2"));
    t.set_var(a, "x", None).expect("unset");
    assert_eq!(t.get(a).and_then(|d| d.var("x")), None);
}
