//! Fixed-key hashing for values that must be the same on every worker and for every
//! retransmission: stateless branch IDs (RFC 3261 §16.11) and local To-tags (§8.2.6.2).
//!
//! SipHash-1-3 with a fixed key (std's `DefaultHasher::new()`): deterministic within one build,
//! which is all that is needed (every worker runs the same binary). The inputs are
//! peer-chosen, but nothing here keys a map, so collision resistance is not at stake.

use std::hash::Hasher;

/// Hashes a sequence of byte strings; each part is length-prefixed so `("ab","c")` and
/// `("a","bc")` differ.
pub(crate) fn hash_parts(parts: &[&[u8]]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in parts {
        h.write_usize(p.len());
        h.write(p);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_separated() {
        assert_eq!(hash_parts(&[b"a", b"bc"]), hash_parts(&[b"a", b"bc"]));
        assert_ne!(hash_parts(&[b"ab", b"c"]), hash_parts(&[b"a", b"bc"]));
    }
}
