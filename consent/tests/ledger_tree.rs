//! Proofs built from stored nodes against the replayed root, for random trees up to 2000 entries.

mod ledger_support;

use anyhow::Result;
use cartable_consent::ledger::{self, Hash, NodeKey, ProofError, TreeError};
use ledger_support::{StoredLog, ceil_log2};
use proptest::prelude::*;

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut h = *hash;
    h[bit / 8 % 32] ^= 1 << (bit % 8);
    h
}

#[test]
fn stored_nodes_are_the_perfect_subtrees_and_give_every_root() -> Result<()> {
    let log = StoredLog::sized(2000)?;
    // Every perfect aligned subtree below 2000 leaves, and nothing else: 2000 + 1000 + 500 + ... = 3994 nodes.
    let want: usize = (0..11).map(|level| 2000usize >> level).sum();
    assert_eq!(log.nodes.len(), want);
    assert!(log.nodes.len() <= 2 * 2000, "about two stored nodes per append");
    for size in 0..=2000u64 {
        assert_eq!(ledger::root_from(size, &log.fetch(&ledger::root_keys(size)))?, log.roots[size as usize]);
    }
    Ok(())
}

#[test]
fn missing_nodes_and_bad_arguments_are_errors() -> Result<()> {
    let log = StoredLog::sized(10)?;
    let mut partial = log.nodes.clone();
    partial.remove(&NodeKey { level: 3, index: 0 });
    assert_eq!(ledger::root_from(10, &partial), Err(TreeError::MissingNode(NodeKey { level: 3, index: 0 })));
    assert_eq!(ledger::inclusion_proof(10, 10, &log.nodes), Err(TreeError::IndexOutOfRange { index: 10, size: 10 }));
    assert!(ledger::inclusion_keys(10, 10).is_empty());
    assert_eq!(ledger::consistency_proof(5, 4, &log.nodes), Err(TreeError::SizeOrder { old: 5, new: 4 }));
    assert_eq!(ledger::consistency_proof(0, 4, &log.nodes), Err(TreeError::EmptyOldTree));
    assert_eq!(ledger::consistency_proof(4, 4, &log.nodes), Ok(vec![]));
    let err = ledger::append(3, [0; 32], &[[0; 32]]).unwrap_err();
    assert_eq!(err, TreeError::SiblingCount { index: 3, want: 2, got: 1 });
    assert_eq!(err.to_string(), "appending leaf 3 needs 2 left siblings, got 1");
    Ok(())
}

#[test]
fn key_lists_stay_logarithmic_for_huge_trees() {
    for size in [1u64 << 40, (1 << 40) + 12345, u64::MAX / 3, u64::MAX] {
        let bound = 2 * ceil_log2(size) as usize + 1;
        for index in [0, 1, size / 2, size - 2, size - 1] {
            assert!(ledger::inclusion_keys(index, size).len() <= bound, "inclusion {index}/{size}");
        }
        for old in [1, 3, size / 2 + 1, size - 1] {
            assert!(ledger::consistency_keys(old, size).len() <= bound, "consistency {old}/{size}");
        }
        assert_eq!(ledger::root_keys(size).len(), size.count_ones() as usize);
    }
}

#[test]
fn error_messages_are_lowercase_without_period() {
    let errors: Vec<String> = vec![
        ProofError::RootMismatch.to_string(),
        ProofError::ProofLength { got: 1, want: 2 }.to_string(),
        TreeError::MissingNode(NodeKey { level: 2, index: 7 }).to_string(),
    ];
    for e in errors {
        assert!(e.starts_with(|c: char| c.is_lowercase()) && !e.ends_with('.'), "{e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn inclusion_proofs_from_stored_nodes_verify(
        size in 1u64..=2000, pick in any::<u64>(), bit in 0usize..256, which in any::<usize>(),
    ) {
        let log = StoredLog::sized(size).unwrap();
        let root = log.roots[size as usize];
        let index = pick % size;
        let leaf = log.nodes[&NodeKey::leaf(index)];

        // The listed keys are all the proof reads, and there are O(log n) of them.
        let keys = ledger::inclusion_keys(index, size);
        prop_assert!(keys.len() <= 2 * ceil_log2(size) as usize + 1);
        let proof = ledger::inclusion_proof(index, size, &log.fetch(&keys)).unwrap();
        prop_assert_eq!(ledger::verify_inclusion(index, size, &leaf, &proof, &root), Ok(()));

        // Any flipped bit, in the proof, the leaf or the root, fails.
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let i = which % bad.len();
            bad[i] = flip(&bad[i], bit);
            prop_assert!(ledger::verify_inclusion(index, size, &leaf, &bad, &root).is_err());
        }
        prop_assert!(ledger::verify_inclusion(index, size, &flip(&leaf, bit), &proof, &root).is_err());
        prop_assert!(ledger::verify_inclusion(index, size, &leaf, &proof, &flip(&root, bit)).is_err());
        // So do another leaf's index and a shorter or longer proof. (Another size can pass when the path has the
        // same shape, as RFC 6962 allows: the signed checkpoint is what binds the size to the root.)
        if size > 1 {
            let other = (index + 1 + pick % (size - 1)) % size;
            prop_assert!(ledger::verify_inclusion(other, size, &leaf, &proof, &root).is_err());
        }
        if let Some((_, shorter)) = proof.split_last() {
            prop_assert!(ledger::verify_inclusion(index, size, &leaf, shorter, &root).is_err());
        }
        let mut longer = proof.clone();
        longer.push(root);
        prop_assert!(ledger::verify_inclusion(index, size, &leaf, &longer, &root).is_err());
    }

    #[test]
    fn consistency_proofs_from_stored_nodes_verify(
        new in 1u64..=2000, pick in any::<u64>(), bit in 0usize..256, which in any::<usize>(),
    ) {
        let log = StoredLog::sized(new).unwrap();
        let old = 1 + pick % new;
        let (old_root, new_root) = (log.roots[old as usize], log.roots[new as usize]);

        let keys = ledger::consistency_keys(old, new);
        prop_assert!(keys.len() <= 2 * ceil_log2(new) as usize + 1);
        let proof = ledger::consistency_proof(old, new, &log.fetch(&keys)).unwrap();
        prop_assert_eq!(ledger::verify_consistency(old, new, &old_root, &new_root, &proof), Ok(()));

        if !proof.is_empty() {
            let mut bad = proof.clone();
            let i = which % bad.len();
            bad[i] = flip(&bad[i], bit);
            prop_assert!(ledger::verify_consistency(old, new, &old_root, &new_root, &bad).is_err());
        }
        prop_assert!(ledger::verify_consistency(old, new, &flip(&old_root, bit), &new_root, &proof).is_err());
        prop_assert!(ledger::verify_consistency(old, new, &old_root, &flip(&new_root, bit), &proof).is_err());
        if old < new {
            // A forked history: same old size, one different entry, is not consistent with the new root.
            let forked = StoredLog::with_leaves((0..old).map(|i| {
                let text = if i == pick % old { "forked".to_string() } else { format!("entry {i}") };
                ledger::leaf_hash(text.as_bytes())
            })).unwrap();
            prop_assert!(ledger::verify_consistency(old, new, &forked.roots[old as usize], &new_root, &proof).is_err());
        }
    }
}
