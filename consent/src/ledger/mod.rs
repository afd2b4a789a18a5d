//! The consent ledger: one append-only Merkle log per family, as RFC 6962 / RFC 9162 define it.
//!
//! - Hashing: [`leaf_hash`] = SHA-256(0x00 ‖ entry), [`node_hash`] = SHA-256(0x01 ‖ left ‖ right).
//! - Storage arithmetic: the vault stores the hash of every perfect aligned subtree as a [`NodeKey`].
//!   [`append_plan`] and [`append`] give the nodes to read and write for one entry; [`root_keys`],
//!   [`inclusion_keys`] and [`consistency_keys`] list the O(log n) nodes a root or a proof needs, which the vault
//!   fetches in one query, and [`root_from`], [`inclusion_proof`] and [`consistency_proof`] compute from them.
//! - [`Replay`] recomputes a root entry by entry in O(log n) memory: what `ledger verify` runs.
//! - [`verify_inclusion`] and [`verify_consistency`] check proofs (RFC 9162 §2.1.3.2, §2.1.4.2).
//! - Entries are [`Receipt`]s in canonical JSON.
//! - [`Checkpoint`]s are C2SP tlog-checkpoints, signed as C2SP signed notes by a [`LedgerSigner`] and checked by a
//!   [`LedgerVerifier`]; a [`TlogProof`] carries one entry's inclusion proof and checkpoint (C2SP tlog-proof).
//!
//! ```
//! use cartable_consent::ledger::{self, Checkpoint, LedgerSigner, LedgerVerifier, Replay, TlogProof};
//! use std::collections::HashMap;
//!
//! // Append three entries the way the vault does, keeping every stored node.
//! let mut nodes = HashMap::new();
//! let mut replay = Replay::new();
//! for (i, entry) in [b"a", b"b", b"c"].iter().enumerate() {
//!     let i = i as u64;
//!     let siblings: Vec<_> = ledger::append_plan(i).into_iter().map(|k| nodes[&k]).collect();
//!     nodes.extend(ledger::append(i, ledger::leaf_hash(*entry), &siblings)?);
//!     replay.push_entry(*entry);
//! }
//! let root = ledger::root_from(3, &nodes)?;
//! assert_eq!(root, replay.root());
//!
//! // Sign a checkpoint and prove entry 1 offline.
//! let signer = LedgerSigner::from_secret_bytes("cartable.example/ledger", &[7; 32])?;
//! let checkpoint = Checkpoint::new("cartable.example/ledger/family", 3, root)?;
//! let proof = TlogProof {
//!     index: 1,
//!     hashes: ledger::inclusion_proof(1, 3, &nodes)?,
//!     checkpoint_note: signer.sign_checkpoint(&checkpoint),
//!     extra: Some(b"b".to_vec()),
//! };
//! let verifier = LedgerVerifier::parse(&signer.verifier_key())?;
//! let checked = TlogProof::parse(&proof.to_text())?.verify_entry(&verifier)?;
//! assert_eq!(checked, checkpoint);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod draft;
mod hash;
mod note;
mod proof;
mod receipt;
mod tree;
mod verify;

pub use draft::{ReceiptDraft, WITHDRAWAL};
pub use hash::{Hash, empty_root, leaf_hash, node_hash};
pub use note::{Checkpoint, CheckpointError, KeyError, LedgerSigner, LedgerVerifier, NoteError};
pub use proof::{ParseProofError, TlogProof};
pub use receipt::{
    Actor, EventType, ImportCounts, ImportFormat, ProhibitionChange, Receipt, ReceiptError, SCHEMA_VERSION, SealedChange, SealedChangeKind, UnknownEventType,
    Validity,
};
pub use tree::{
    NodeKey, NodeMap, Replay, TreeError, append, append_plan, consistency_keys, consistency_proof, inclusion_keys,
    inclusion_proof, root_from, root_keys,
};
pub use verify::{ProofError, verify_consistency, verify_inclusion};

/// The shared test data directory (`../shared/testdata` next to the workspace, or `$CARTABLE_TESTDATA`) joined
/// with `sub`, or `None` after saying why the test is skipped.
#[cfg(test)]
pub(crate) fn testdata_dir(sub: &str) -> Option<std::path::PathBuf> {
    let base = match std::env::var_os("CARTABLE_TESTDATA") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"),
    };
    let dir = base.join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: test data {} not found (set CARTABLE_TESTDATA)", dir.display());
        None
    }
}
