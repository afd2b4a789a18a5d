//! A receipt's proof in the C2SP tlog-proof form: checkable offline with the log's verifier key alone.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 entry>
//! index <n>
//! <base64 hash>...
//!
//! <signed checkpoint note>
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::hash::{Hash, leaf_hash};
use super::note::{Checkpoint, LedgerVerifier, decode_hash, parse_decimal, shorten};
use super::verify::{ProofError, verify_inclusion};

const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// A tree of at most 2^64 leaves has audit paths of at most 64 hashes.
const MAX_HASHES: usize = 64;

/// An inclusion proof of one entry with the signed checkpoint it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// The entry's zero-based index in the log.
    pub index: u64,
    /// The audit path, from the leaf's sibling up to the root's child.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint, verbatim.
    pub checkpoint_note: String,
    /// Opaque data; Cartable puts the entry itself here (the receipt's canonical bytes), so that
    /// [`TlogProof::verify_entry`] needs nothing else.
    pub extra: Option<Vec<u8>>,
}

/// The error for text that is not a tlog proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseProofError {
    #[error("not a tlog proof: the first line must be `{}`", HEADER)]
    Header,
    #[error("malformed tlog proof: {0}")]
    Malformed(&'static str),
    #[error("index `{0}` is not a decimal number without leading zeros")]
    Index(String),
    #[error("proof hash `{0}` is not the base64 of 32 bytes")]
    Hash(String),
    #[error("tlog proof has more than {} hashes", MAX_HASHES)]
    TooManyHashes,
}

impl TlogProof {
    /// The proof in its text form, to be saved with the `.tlog-proof` extension.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(128 + 45 * self.hashes.len() + self.checkpoint_note.len());
        out.push_str(HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&STANDARD.encode(extra));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        for hash in &self.hashes {
            out.push_str(&STANDARD.encode(hash));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint_note);
        out
    }

    /// Parses the text form; the checkpoint note is kept verbatim, to be verified by [`TlogProof::verify`].
    pub fn parse(text: &str) -> Result<Self, ParseProofError> {
        let mut rest = text;
        let mut next_line = || -> Result<&str, ParseProofError> {
            let (line, after) = rest.split_once('\n').ok_or(ParseProofError::Malformed("truncated proof"))?;
            rest = after;
            Ok(line)
        };
        if next_line()? != HEADER {
            return Err(ParseProofError::Header);
        }
        let mut line = next_line()?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(STANDARD.decode(b64).map_err(|_| ParseProofError::Malformed("extra data is not base64"))?);
            line = next_line()?;
        }
        let index = line.strip_prefix("index ").ok_or(ParseProofError::Malformed("expected the `index` line"))?;
        let index = parse_decimal(index).ok_or_else(|| ParseProofError::Index(shorten(index)))?;
        let mut hashes = Vec::new();
        loop {
            let line = next_line()?;
            if line.is_empty() {
                break;
            }
            if hashes.len() == MAX_HASHES {
                return Err(ParseProofError::TooManyHashes);
            }
            hashes.push(decode_hash(line).ok_or_else(|| ParseProofError::Hash(shorten(line)))?);
        }
        if rest.is_empty() {
            return Err(ParseProofError::Malformed("no checkpoint after the hashes"));
        }
        Ok(TlogProof { index, hashes, checkpoint_note: rest.to_owned(), extra })
    }

    /// Checks the checkpoint's signature and that the leaf with hash `leaf_hash` is at `index` in it; returns the
    /// checkpoint, whose origin the caller compares with the log it expects.
    pub fn verify(&self, verifier: &LedgerVerifier, leaf_hash: Hash) -> Result<Checkpoint, ProofError> {
        let checkpoint = verifier.verify_note(&self.checkpoint_note)?;
        verify_inclusion(self.index, checkpoint.size(), &leaf_hash, &self.hashes, checkpoint.root())?;
        Ok(checkpoint)
    }

    /// [`TlogProof::verify`] for the entry carried in `extra`: once this succeeds, the extra bytes are
    /// authenticated as the log's entry at `index`.
    pub fn verify_entry(&self, verifier: &LedgerVerifier) -> Result<Checkpoint, ProofError> {
        let entry = self.extra.as_deref().ok_or(ProofError::MissingEntry)?;
        self.verify(verifier, leaf_hash(entry))
    }
}
