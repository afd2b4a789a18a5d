//! RFC 6962 / RFC 9162 hashing: domain-separated SHA-256 for leaves and interior nodes.

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf, an interior node or a tree root.
pub type Hash = [u8; 32];

/// The hash of a log entry: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    h.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}
