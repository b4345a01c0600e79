//! Fixed-key hashing for values that must be the same on every worker and for every
//! retransmission: stateless branch IDs (RFC 3261 §16.11) and local To-tags (§8.2.6.2).
//!
//! A small fixed-key multiply-xorshift hash over 8-byte words with a murmur3 `fmix64`
//! finisher: deterministic across workers, builds and platforms, and a few instructions per
//! word (std's SipHash costs ~10x as much on the per-message path). The inputs are
//! peer-chosen, but nothing here keys a map, so collision resistance is not at stake; only
//! an even spread of the output bits matters.

/// Incremental form of [`hash_parts`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct PartHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;
const SEED: u64 = 0x243f_6a88_85a3_08d3;

impl Default for PartHasher {
    fn default() -> Self {
        Self(SEED)
    }
}

impl PartHasher {
    #[inline]
    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(K).rotate_left(29);
    }

    /// Adds raw bytes (no length prefix).
    #[inline]
    pub(crate) fn write(&mut self, b: &[u8]) {
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The tail length goes into the top byte so "a" and "a\0" differ.
            self.word(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    /// Adds a length-prefixed part.
    #[inline]
    pub(crate) fn part(&mut self, b: &[u8]) {
        self.word(b.len() as u64 ^ 0xff00_0000_0000_0000);
        self.write(b);
    }

    /// The hash.
    #[inline]
    pub(crate) fn finish(self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Hashes a sequence of byte strings; each part is length-prefixed so `("ab","c")` and
/// `("a","bc")` differ.
pub(crate) fn hash_parts(parts: &[&[u8]]) -> u64 {
    let mut h = PartHasher::default();
    for p in parts {
        h.part(p);
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
        assert_ne!(hash_parts(&[b"a"]), hash_parts(&[b"a\0"]));
        assert_ne!(
            hash_parts(&[b"z9hG4bK-1-1-0"]),
            hash_parts(&[b"z9hG4bK-1-1-1"])
        );
    }

    #[test]
    fn spreads_sequential_inputs() {
        // Low 32 bits (the loop-detection part of a branch) of sequential inputs: no
        // collisions among 10k.
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000u32 {
            let s = format!("z9hG4bK-{i}-1-0");
            assert!(seen.insert(hash_parts(&[s.as_bytes()]) as u32));
        }
    }
}
