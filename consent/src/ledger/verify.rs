//! Proof verification as in RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency).
//!
//! Hashes arrive as untrusted bytes (from a proof file, an HTTP response, a test vector); each hash that enters a
//! computation must be exactly 32 bytes.

use super::hash::{Hash, node_hash};
use super::note::NoteError;
use super::tree::{consistency_ranges, inclusion_ranges};

/// The error for a proof that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old size {old} is larger than new size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("consistency with an empty tree is not checked")]
    EmptyOldTree,
    #[error("a hash is {0} bytes long, expected 32")]
    HashLength(usize),
    #[error("the proof has {got} hashes, expected {want}")]
    ProofLength { got: usize, want: usize },
    #[error("the proof does not lead to the old root")]
    OldRootMismatch,
    #[error("the proof does not lead to the root")]
    RootMismatch,
    #[error("the proof carries no entry")]
    MissingEntry,
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] NoteError),
}

/// Checks that the leaf with hash `leaf_hash` is at `index` in the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[impl AsRef<[u8]>],
    root: &[u8],
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let leaf = to_hash(leaf_hash)?;
    let root = to_hash(root)?;
    let want = inclusion_ranges(index, size).len();
    if proof.len() != want {
        return Err(ProofError::ProofLength { got: proof.len(), want });
    }

    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        let p = to_hash(p.as_ref())?;
        if snode == 0 {
            return Err(ProofError::ProofLength { got: proof.len(), want });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(&p, &r);
            // Skip the levels where this node is the rightmost one and has no sibling.
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, &p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::ProofLength { got: proof.len(), want });
    }
    if r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of `new_size` leaves
/// with root `new_root`.
///
/// An empty old tree is rejected rather than trivially accepted: no checkpoint of ours has size 0 and
/// a caller asking about one has a bug.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &[u8],
    new_root: &[u8],
    proof: &[impl AsRef<[u8]>],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizeOrder { old: old_size, new: new_size });
    }
    if old_size == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::ProofLength { got: proof.len(), want: 0 });
        }
        // Nothing to recompute: the same tree must have the same root, byte for byte (as the reference verifier
        // and its test vectors have it, whatever the length).
        return if old_root == new_root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    let old_root = to_hash(old_root)?;
    let new_root = to_hash(new_root)?;
    let want = consistency_ranges(old_size, new_size).len();
    if proof.len() != want {
        return Err(ProofError::ProofLength { got: proof.len(), want });
    }
    let mut path = Vec::with_capacity(proof.len() + 1);
    // The proof omits the old root when the old tree is a complete subtree of the new one.
    if old_size.is_power_of_two() {
        path.push(old_root);
    }
    for p in proof {
        path.push(to_hash(p.as_ref())?);
    }

    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut path = path.into_iter();
    let Some(first) = path.next() else {
        return Err(ProofError::ProofLength { got: proof.len(), want });
    };
    let (mut fr, mut sr) = (first, first);
    for c in path {
        if snode == 0 {
            return Err(ProofError::ProofLength { got: proof.len(), want });
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(&c, &fr);
            sr = node_hash(&c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, &c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::ProofLength { got: proof.len(), want });
    }
    if fr != old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

fn to_hash(bytes: &[u8]) -> Result<Hash, ProofError> {
    Hash::try_from(bytes).map_err(|_| ProofError::HashLength(bytes.len()))
}
