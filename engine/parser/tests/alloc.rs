//! `parse` costs no heap allocation beyond the arena: with an arena that already holds a
//! chunk, parsing typical messages allocates nothing (checked with a counting allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "../benches/data/messages.rs"]
mod messages;

/// Counts allocations made by this thread's test.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` unchanged; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn parse_allocates_only_in_the_arena() {
    let mut arena = bumpalo::Bump::with_capacity(16 * 1024);
    for msg in [messages::INVITE, messages::OK200] {
        arena.reset();
        let before = ALLOCS.load(Ordering::Relaxed);
        let m = ferrosip_parser::parse(msg, &arena).expect("parses");
        // A response's From, To and lower Vias are parsed here, also into the arena.
        let vias = m.vias().len();
        assert!(m.via_error().is_none() && m.from().is_some() && m.to().is_some());
        let after = ALLOCS.load(Ordering::Relaxed);
        assert_eq!(
            after - before,
            0,
            "heap allocations while parsing ({vias} vias)"
        );
    }
}
