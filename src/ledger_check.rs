//! Offline proof checking: a proof file and a verifier key, no database.

use anyhow::anyhow;
use cartable_consent::ledger::{LedgerVerifier, Receipt, TlogProof};
use serde_json::json;

/// Checks a tlog-proof: the checkpoint's signature, the inclusion of the entry it carries, and that the entry
/// is a canonical receipt. Returns what was proven.
pub fn check_proof(text: &str, verifier_key: &str) -> anyhow::Result<serde_json::Value> {
    let verifier = LedgerVerifier::parse(verifier_key).map_err(|e| anyhow!("invalid verifier key: {e}"))?;
    let proof = TlogProof::parse(text).map_err(|e| anyhow!("invalid proof: {e}"))?;
    let checkpoint = proof.verify_entry(&verifier).map_err(|e| anyhow!("the proof does not verify: {e}"))?;
    let receipt = proof
        .extra
        .as_deref()
        .map(Receipt::from_canonical)
        .transpose()
        .map_err(|e| anyhow!("the proven entry is not a canonical receipt: {e}"))?;
    Ok(json!({
        "ok": true,
        "index": proof.index,
        "origin": checkpoint.origin(),
        "size": checkpoint.size(),
        "receipt": receipt,
    }))
}
