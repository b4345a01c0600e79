//! Fuzz `parse` and `frame` (STYLE L10): no input may panic, and whatever parses keeps its
//! offsets inside the buffer and re-parses identically when cut to its own length.
#![no_main]

use ferrosip_parser::{frame, parse, Framing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let arena = bumpalo::Bump::new();
    if let Ok(m) = parse(data, &arena) {
        assert!(m.body_offset() <= m.len() && m.len() <= data.len());
        for v in m.vias() {
            assert!(v.span.end <= data.len());
        }
        // Trailing octets never change the message (RFC 4475 §3.1.1.8).
        let arena2 = bumpalo::Bump::new();
        let again = parse(&data[..m.len()], &arena2).expect("message cut to its length parses");
        assert_eq!(again.headers(), m.headers());
        assert_eq!(again.vias(), m.vias());
    }
    if let Ok(Framing::Complete(n) | Framing::KeepAlive(n)) = frame(data, 4096) {
        assert!(n > 0 && n <= data.len());
    }
});
