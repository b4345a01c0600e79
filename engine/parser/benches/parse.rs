//! Parser throughput: ferrosip vs the `rsip` crate on the same typical INVITE and 200 OK.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

#[path = "data/messages.rs"]
mod messages;
use messages::{INVITE, OK200};

fn bench(c: &mut Criterion) {
    for (name, msg) in [("invite", INVITE), ("200ok", OK200)] {
        // Both parsers must accept the message, or the comparison would be meaningless.
        let arena = bumpalo::Bump::new();
        assert!(
            ferrosip_parser::parse(msg, &arena).is_ok(),
            "ferrosip rejects {name}"
        );
        assert!(
            rsip::SipMessage::try_from(msg).is_ok(),
            "rsip rejects {name}"
        );

        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(msg.len() as u64));
        let mut arena = bumpalo::Bump::with_capacity(16 * 1024);
        g.bench_function("ferrosip", |b| {
            b.iter(|| {
                arena.reset();
                let m = ferrosip_parser::parse(black_box(msg), &arena).map(|m| m.vias().len());
                black_box(m.is_ok())
            })
        });
        g.bench_function("rsip", |b| {
            b.iter(|| black_box(rsip::SipMessage::try_from(black_box(msg)).is_ok()))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
