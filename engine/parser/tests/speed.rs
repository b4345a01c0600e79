//! A load-robust speed comparison with `rsip`, for shared, busy machines where criterion's
//! wall-clock means drift: both parsers run in alternating small batches and the minimum
//! batch time of each is kept (the least-disturbed run). Ignored by default; run with
//! `cargo test --release -p ferrosip-parser --test speed -- --ignored --nocapture`.

use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../benches/data/messages.rs"]
mod messages;

fn min_batch(rounds: usize, batch: usize, mut f: impl FnMut()) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        best = best.min(t.elapsed());
    }
    best / u32::try_from(batch).unwrap()
}

#[test]
#[ignore]
fn ferrosip_vs_rsip() {
    let read = reader();
    for (name, msg) in [("invite", messages::INVITE), ("200ok", messages::OK200)] {
        let mut arena = bumpalo::Bump::with_capacity(16 * 1024);
        let mut ours = Duration::MAX;
        let mut theirs = Duration::MAX;
        for _ in 0..20 {
            ours = ours.min(min_batch(10, 200, || {
                arena.reset();
                let m = ferrosip_parser::parse(black_box(msg), &arena).map(|m| read(&m));
                black_box(m.is_ok_and(|n| n > 0));
            }));
            theirs = theirs.min(min_batch(10, 200, || {
                black_box(rsip::SipMessage::try_from(black_box(msg)).is_ok());
            }));
        }
        println!(
            "{name}: ferrosip {:?}, rsip {:?}, ratio {:.1}x",
            ours,
            theirs,
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    }
}

fn iters() -> u32 {
    std::env::var("SPEED_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

fn message() -> &'static [u8] {
    match std::env::var("SPEED_MSG").as_deref() {
        Ok("200ok") => messages::OK200,
        _ => messages::INVITE,
    }
}

/// What is read after the parse, as in `benches/parse.rs`: [`messages::read_main`] (the
/// `invite` / `200ok` groups), or with `SPEED_FULL=1` [`messages::read_full`] (the
/// `invite-full` / `200ok-full` groups).
fn reader() -> fn(&ferrosip_parser::Message<'_>) -> usize {
    match std::env::var("SPEED_FULL").as_deref() {
        Ok("1") => messages::read_full,
        _ => messages::read_main,
    }
}

/// A loop of ferrosip alone, for `perf` or `valgrind --tool=callgrind` (instruction counts do
/// not depend on machine load). `SPEED_MSG=200ok` picks the response, `SPEED_FULL=1` the
/// full read.
#[test]
#[ignore]
fn ferrosip_only() {
    let mut arena = bumpalo::Bump::with_capacity(16 * 1024);
    let (n, msg) = (iters(), message());
    if std::env::var("SPEED_FULL").as_deref() == Ok("1") {
        run(n, || {
            arena.reset();
            let m = ferrosip_parser::parse(black_box(msg), &arena).map(|m| messages::read_full(&m));
            black_box(m.is_ok_and(|n| n > 0));
        });
    } else {
        run(n, || {
            arena.reset();
            let m = ferrosip_parser::parse(black_box(msg), &arena).map(|m| messages::read_main(&m));
            black_box(m.is_ok_and(|n| n > 0));
        });
    }
}

/// Runs `f` `n` times and prints the mean time.
fn run(n: u32, mut f: impl FnMut()) {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    println!("ferrosip: {:?} per parse", t.elapsed() / n);
}

/// The same loop for rsip.
#[test]
#[ignore]
fn rsip_only() {
    let (n, msg) = (iters(), message());
    let t = Instant::now();
    for _ in 0..n {
        black_box(rsip::SipMessage::try_from(black_box(msg)).is_ok());
    }
    println!("rsip: {:?} per parse", t.elapsed() / n);
}
