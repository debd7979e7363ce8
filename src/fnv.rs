//! 64-bit FNV-1a, the one hash behind facemtl's digests: a checkpoint's tensors, a data
//! set's files, an image's pixels (to find copies), a source of trained weights. Not
//! cryptographic: it tells that something changed or repeats, not that it was not forged.

/// An FNV-1a hash being fed bytes.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    /// Feeds `bytes`, in order.
    pub fn eat(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn finish(&self) -> u64 {
        self.0
    }

    /// The hash as 16 hex digits, as run files record it.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// The hex FNV-1a of `bytes`.
pub fn hex_of(bytes: &[u8]) -> String {
    let mut hash = Fnv1a::default();
    hash.eat(bytes);
    hash.hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // The FNV-1a test vectors: "" and "a".
        assert_eq!(Fnv1a::default().finish(), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hex_of(b"a"), "af63dc4c8601ec8c");
        let mut split = Fnv1a::default();
        split.eat(b"foo");
        split.eat(b"bar");
        assert_eq!(split.hex(), hex_of(b"foobar"));
    }
}
