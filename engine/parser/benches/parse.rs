//! Parser throughput: ferrosip vs the `rsip` crate on the same typical INVITE and 200 OK.
//!
//! Two groups per message. `invite` / `200ok`: after the parse, read what a
//! transaction-stateful proxy reads from every message (the top Via's branch, CSeq, Call-ID,
//! the method or status; [`messages::read_main`]). `invite-full` / `200ok-full`: also read
//! every Via, From and To ([`messages::read_full`]), which makes ferrosip parse everything it
//! types. `rsip` runs the same `SipMessage::try_from` in both groups.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ferrosip_parser::Message;

#[path = "data/messages.rs"]
mod messages;
use messages::{read_full, read_main, INVITE, OK200};

fn bench(c: &mut Criterion) {
    for (name, msg) in [("invite", INVITE), ("200ok", OK200)] {
        // Both parsers must accept the message, or the comparison would be meaningless.
        let arena = bumpalo::Bump::new();
        let m = ferrosip_parser::parse(msg, &arena);
        assert!(m.is_ok(), "ferrosip rejects {name}");
        assert!(
            m.is_ok_and(|m| m.via_error().is_none() && m.from().is_some() && m.to().is_some()),
            "ferrosip rejects part of {name}"
        );
        assert!(
            rsip::SipMessage::try_from(msg).is_ok(),
            "rsip rejects {name}"
        );

        group(c, name, msg, read_main);
        group(c, &format!("{name}-full"), msg, read_full);
    }
}

/// One group: ferrosip's parse followed by `read`, and rsip's parse of the same bytes.
fn group(c: &mut Criterion, name: &str, msg: &[u8], read: impl Fn(&Message<'_>) -> usize) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(msg.len() as u64));
    let mut arena = bumpalo::Bump::with_capacity(16 * 1024);
    g.bench_function("ferrosip", |b| {
        b.iter(|| {
            arena.reset();
            let m = ferrosip_parser::parse(black_box(msg), &arena).map(|m| read(&m));
            black_box(m.is_ok_and(|n| n > 0))
        })
    });
    g.bench_function("rsip", |b| {
        b.iter(|| black_box(rsip::SipMessage::try_from(black_box(msg)).is_ok()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
