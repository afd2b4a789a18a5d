//! Helpers shared by the ledger test binaries.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cartable_consent::ledger::{self, Hash, NodeKey, Replay};

/// `../shared/testdata/<sub>` next to the workspace (or under `$CARTABLE_TESTDATA`), or `None` after printing why
/// the test is skipped.
pub fn testdata(sub: &str) -> Option<PathBuf> {
    let base = match std::env::var_os("CARTABLE_TESTDATA") {
        Some(dir) => PathBuf::from(dir),
        // CARGO_MANIFEST_DIR is <workspace>/consent; the shared data sits beside the workspace.
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"),
    };
    let dir = base.join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "SKIPPED: test data {} not found (set CARTABLE_TESTDATA to the shared testdata directory)",
            dir.display()
        );
        None
    }
}

/// A log built the way the vault builds it: every node `append` asks to store, and the replayed roots.
pub struct StoredLog {
    pub nodes: HashMap<NodeKey, Hash>,
    /// `roots[n]` is the root of the first `n` entries, computed by `Replay`.
    pub roots: Vec<Hash>,
}

impl StoredLog {
    pub fn with_leaves(leaves: impl IntoIterator<Item = Hash>) -> anyhow::Result<Self> {
        let mut nodes = HashMap::new();
        let mut replay = Replay::new();
        let mut roots = vec![replay.root()];
        for (i, leaf) in (0u64..).zip(leaves) {
            let siblings = ledger::append_plan(i)
                .into_iter()
                .map(|key| nodes.get(&key).copied().ok_or_else(|| anyhow::anyhow!("append {i}: {key} missing")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            nodes.extend(ledger::append(i, leaf, &siblings)?);
            replay.push(leaf);
            roots.push(replay.root());
        }
        Ok(StoredLog { nodes, roots })
    }

    /// A log of `size` distinct entries.
    pub fn sized(size: u64) -> anyhow::Result<Self> {
        Self::with_leaves((0..size).map(|i| ledger::leaf_hash(format!("entry {i}").as_bytes())))
    }

    /// Only the nodes listed in `keys`: what the vault's one query returns.
    pub fn fetch(&self, keys: &[NodeKey]) -> HashMap<NodeKey, Hash> {
        keys.iter().filter_map(|k| self.nodes.get(k).map(|h| (*k, *h))).collect()
    }
}

/// ⌈log2 n⌉ for n ≥ 1.
pub fn ceil_log2(n: u64) -> u32 {
    64 - n.saturating_sub(1).leading_zeros()
}
