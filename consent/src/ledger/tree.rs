//! The tree as the vault stores it: the hash of every perfect, aligned subtree, keyed by level and index.
//!
//! A log of `n` leaves is stored as the nodes `(level, index)` covering leaves `[index·2^level, (index+1)·2^level)`
//! for every such range that lies entirely below `n`.
//! Those nodes never change once written, so the store is append-only too.
//! Every hash a proof needs is either one stored node or the RFC 6962 hash of a range whose pieces are stored
//! nodes: each function here comes in pairs, the keys to fetch in one query and the computation from them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

use super::hash::{Hash, empty_root, leaf_hash, node_hash};

/// A stored node: level 0 holds the leaf hashes, node `(l, i)` covers leaves `[i·2^l, (i+1)·2^l)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeKey {
    pub level: u8,
    pub index: u64,
}

impl NodeKey {
    /// The node holding the hash of leaf `index`.
    pub fn leaf(index: u64) -> Self {
        NodeKey { level: 0, index }
    }
}

impl fmt::Display for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.level, self.index)
    }
}

/// Where stored nodes are looked up: a map filled from the vault's one query, or the whole tree in tests.
pub trait NodeMap {
    /// The stored hash of `key`, if present.
    fn node(&self, key: NodeKey) -> Option<Hash>;
}

impl<S: BuildHasher> NodeMap for HashMap<NodeKey, Hash, S> {
    fn node(&self, key: NodeKey) -> Option<Hash> {
        self.get(&key).copied()
    }
}

impl NodeMap for BTreeMap<NodeKey, Hash> {
    fn node(&self, key: NodeKey) -> Option<Hash> {
        self.get(&key).copied()
    }
}

/// The error for a tree computation from stored nodes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("stored node {0} (level/index) is missing")]
    MissingNode(NodeKey),
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old size {old} is larger than new size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("there is no consistency proof from an empty tree")]
    EmptyOldTree,
    #[error("appending leaf {index} needs {want} left siblings, got {got}")]
    SiblingCount { index: u64, want: usize, got: usize },
}

/// The stored nodes the vault must read before appending leaf `leaf_index`: the left siblings of the perfect
/// subtrees that this leaf completes, lowest first.
pub fn append_plan(leaf_index: u64) -> Vec<NodeKey> {
    // Leaf n completes one perfect subtree per trailing one bit of n; each needs its already stored left half.
    (0..leaf_index.trailing_ones())
        .map(|level| NodeKey { level: level as u8, index: shr(leaf_index, level) ^ 1 })
        .collect()
}

/// The nodes to store when appending leaf `leaf_index`: the leaf itself, then each perfect subtree it completes.
///
/// `left_siblings` are the hashes of the keys from [`append_plan`], in the same order.
/// On average an append stores two nodes.
pub fn append(leaf_index: u64, leaf_hash: Hash, left_siblings: &[Hash]) -> Result<Vec<(NodeKey, Hash)>, TreeError> {
    let want = leaf_index.trailing_ones() as usize;
    if left_siblings.len() != want {
        return Err(TreeError::SiblingCount { index: leaf_index, want, got: left_siblings.len() });
    }
    let mut out = Vec::with_capacity(want + 1);
    let mut current = leaf_hash;
    out.push((NodeKey::leaf(leaf_index), current));
    for (level, left) in (1u32..).zip(left_siblings) {
        current = node_hash(left, &current);
        out.push((NodeKey { level: level as u8, index: shr(leaf_index, level) }, current));
    }
    Ok(out)
}

/// The stored nodes whose hashes make up the root of a tree of `size` leaves, largest first.
pub fn root_keys(size: u64) -> Vec<NodeKey> {
    let mut keys = Vec::new();
    range_pieces(0, size, &mut keys);
    keys
}

/// The root of a tree of `size` leaves, from the nodes listed by [`root_keys`].
pub fn root_from(size: u64, nodes: &impl NodeMap) -> Result<Hash, TreeError> {
    fold_pieces(&root_keys(size), nodes)
}

/// The stored nodes needed for the inclusion proof of leaf `index` in a tree of `size` leaves.
///
/// Empty when `index` is not below `size`; [`inclusion_proof`] reports that case.
pub fn inclusion_keys(index: u64, size: u64) -> Vec<NodeKey> {
    keys_of(&inclusion_ranges(index, size))
}

/// The RFC 6962 inclusion proof (audit path) of leaf `index` in a tree of `size` leaves, from the nodes listed by
/// [`inclusion_keys`]: the leaf's sibling first, the root's child last.
pub fn inclusion_proof(index: u64, size: u64, nodes: &impl NodeMap) -> Result<Vec<Hash>, TreeError> {
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    hashes_of(&inclusion_ranges(index, size), nodes)
}

/// The stored nodes needed for the consistency proof from a tree of `old` leaves to one of `new` leaves.
///
/// Empty when there is nothing to prove or the sizes are invalid; [`consistency_proof`] reports the latter.
pub fn consistency_keys(old: u64, new: u64) -> Vec<NodeKey> {
    keys_of(&consistency_ranges(old, new))
}

/// The RFC 6962 consistency proof from a tree of `old` leaves to one of `new` leaves, from the nodes listed by
/// [`consistency_keys`]. Equal sizes give an empty proof; an empty old tree has no proof.
pub fn consistency_proof(old: u64, new: u64, nodes: &impl NodeMap) -> Result<Vec<Hash>, TreeError> {
    if old > new {
        return Err(TreeError::SizeOrder { old, new });
    }
    if old == 0 {
        return Err(TreeError::EmptyOldTree);
    }
    hashes_of(&consistency_ranges(old, new), nodes)
}

/// The root of a log computed leaf by leaf, in O(log n) memory: a stack of the perfect subtrees seen so far.
///
/// This is the replay that `ledger verify` runs over a whole log, and the reference the proofs are tested against.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    size: u64,
    // INVARIANT: one hash per set bit of `size`, largest subtree first.
    stack: Vec<Hash>,
}

impl Replay {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the next leaf, given its leaf hash.
    pub fn push(&mut self, leaf_hash: Hash) {
        let mut current = leaf_hash;
        // Same arithmetic as `append`: each trailing one bit of the size is a subtree the new leaf completes.
        for _ in 0..self.size.trailing_ones() {
            if let Some(left) = self.stack.pop() {
                current = node_hash(&left, &current);
            }
        }
        self.stack.push(current);
        self.size += 1;
    }

    /// Appends the next entry and returns its leaf hash.
    pub fn push_entry(&mut self, entry: &[u8]) -> Hash {
        let hash = leaf_hash(entry);
        self.push(hash);
        hash
    }

    /// The number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the tree of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.stack.iter().rev();
        let Some(last) = subtrees.next() else {
            return empty_root();
        };
        subtrees.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// `x >> by`, zero when shifting out every bit.
fn shr(x: u64, by: u32) -> u64 {
    x.checked_shr(by).unwrap_or(0)
}

/// The largest power of two strictly below `n`; `n` must be at least 2.
fn split_point(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The leaf ranges whose RFC 6962 hashes form the audit path of `index`, in proof order (sibling of the leaf first).
pub(crate) fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    if index >= size {
        return out;
    }
    // PATH(m, D[lo:hi]) from RFC 6962 §2.1.1, unrolled from the top: each step records the sibling range.
    let (mut lo, mut hi) = (0, size);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            lo += k;
        }
    }
    out.reverse();
    out
}

/// The leaf ranges whose RFC 6962 hashes form the consistency proof from `old` to `new`, in proof order.
pub(crate) fn consistency_ranges(old: u64, new: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    if old == 0 || old >= new {
        return out;
    }
    // SUBPROOF(m, D[lo:hi], b) from RFC 6962 §2.1.2, unrolled from the top.
    let (mut lo, mut hi, mut m, mut whole_old_tree) = (0, new, old, true);
    loop {
        let n = hi - lo;
        if m == n {
            // The old tree's own root is known to the verifier; any other complete subtree must be sent.
            if !whole_old_tree {
                out.push((lo, hi));
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            lo += k;
            m -= k;
            whole_old_tree = false;
        }
    }
    out.reverse();
    out
}

/// Appends the perfect aligned subtrees that make up the RFC 6962 hash of leaves `[lo, hi)`, largest first.
fn range_pieces(lo: u64, hi: u64, out: &mut Vec<NodeKey>) {
    let mut start = lo;
    while start < hi {
        let level = 63 - (hi - start).leading_zeros();
        // INVARIANT: RFC 6962 only splits ranges that start at a multiple of the largest power of two not above
        // their size, so each piece is an aligned (stored) node.
        debug_assert!(start.trailing_zeros() >= level, "range [{lo}, {hi}) is not aligned");
        out.push(NodeKey { level: level as u8, index: start >> level });
        start += 1 << level;
    }
}

fn keys_of(ranges: &[(u64, u64)]) -> Vec<NodeKey> {
    let mut keys = Vec::new();
    for &(lo, hi) in ranges {
        range_pieces(lo, hi, &mut keys);
    }
    keys
}

fn hashes_of(ranges: &[(u64, u64)], nodes: &impl NodeMap) -> Result<Vec<Hash>, TreeError> {
    let mut pieces = Vec::new();
    ranges
        .iter()
        .map(|&(lo, hi)| {
            pieces.clear();
            range_pieces(lo, hi, &mut pieces);
            fold_pieces(&pieces, nodes)
        })
        .collect()
}

/// The RFC 6962 hash of consecutive pieces (largest first): each piece is the left child of the rest.
fn fold_pieces(pieces: &[NodeKey], nodes: &impl NodeMap) -> Result<Hash, TreeError> {
    let fetch = |key: NodeKey| nodes.node(key).ok_or(TreeError::MissingNode(key));
    let mut rest = pieces.iter().rev();
    let Some(&last) = rest.next() else {
        return Ok(empty_root());
    };
    let mut acc = fetch(last)?;
    for &key in rest {
        acc = node_hash(&fetch(key)?, &acc);
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_plan_follows_trailing_ones() {
        assert!(append_plan(0).is_empty());
        assert_eq!(append_plan(1), vec![NodeKey::leaf(0)]);
        assert!(append_plan(2).is_empty());
        assert_eq!(append_plan(3), vec![NodeKey::leaf(2), NodeKey { level: 1, index: 0 }]);
        assert_eq!(append_plan(u64::MAX).len(), 64);
    }

    #[test]
    fn root_keys_follow_the_bits_of_the_size() {
        assert!(root_keys(0).is_empty());
        assert_eq!(root_keys(6), vec![NodeKey { level: 2, index: 0 }, NodeKey { level: 1, index: 2 }]);
        assert_eq!(root_keys(u64::MAX).len(), 64);
    }

    #[test]
    fn ranges_match_rfc_6962_examples() {
        // RFC 6962 §2.1.3: the audit path of d0 in the 7-leaf tree is [b, h, l] = [d1], [d2:d4], [d4:d7].
        assert_eq!(inclusion_ranges(0, 7), vec![(1, 2), (2, 4), (4, 7)]);
        // The consistency proof from 3 to 7 is [c, d, g, l].
        assert_eq!(consistency_ranges(3, 7), vec![(2, 3), (3, 4), (0, 2), (4, 7)]);
        // From 4 to 7 it is [l]; from 6 to 7 it is [i, j, k].
        assert_eq!(consistency_ranges(4, 7), vec![(4, 7)]);
        assert_eq!(consistency_ranges(6, 7), vec![(4, 6), (6, 7), (0, 4)]);
    }
}
