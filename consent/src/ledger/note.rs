//! Checkpoints (C2SP tlog-checkpoint) and their Ed25519 signatures as C2SP signed notes.
//!
//! A checkpoint body is `<origin>\n<size>\n<base64 root>\n`; the signed note appends a blank line and one line
//! `— <key name> <base64(key id ‖ signature)>` per signature.
//! The formats are those of golang.org/x/mod/sumdb/note, so existing transparency-log tools read them.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::hash::Hash;

/// The signed-note signature type of Ed25519.
const ALG_ED25519: u8 = 0x01;
/// The most signature lines a note may carry; the spec asks verifiers to accept at least 16.
const MAX_SIGNATURES: usize = 100;
/// The start of a signature line: an em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// A signed tree head: the log's name, its size and its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    // INVARIANT: `origin` is non-empty and has no control characters.
    origin: String,
    size: u64,
    root: Hash,
}

/// The error for a checkpoint that cannot be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint origin must be non-empty and free of control characters")]
    Origin,
    #[error("checkpoint must be exactly three lines (origin, size, root), each ending in a newline")]
    Lines,
    #[error("tree size `{0}` is not a decimal number without leading zeros")]
    Size(String),
    #[error("root hash `{0}` is not the base64 of 32 bytes")]
    Root(String),
}

/// The error for a verifier key or a signer name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key name `{0}` must be non-empty, without spaces, control characters or `+`")]
    Name(String),
    #[error("malformed verifier key: {0}")]
    Malformed(&'static str),
    #[error("unsupported signature type 0x{0:02x}, expected 0x01 (ed25519)")]
    Algorithm(u8),
    #[error("verifier key id does not match its name and public key")]
    KeyId,
    #[error("public key is not a usable ed25519 key")]
    PublicKey,
}

/// The error for a signed note that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("note has more than {} signatures", MAX_SIGNATURES)]
    TooManySignatures,
    #[error("note is not signed by key `{0}`")]
    NotSigned(String),
    #[error("invalid signature by key `{0}`")]
    BadSignature(String),
    #[error("note is not a checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
}

impl Checkpoint {
    /// A checkpoint of the log named `origin` (for example `cartable.example/ledger/<family id>`).
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        let origin = origin.into();
        if origin.is_empty() || origin.chars().any(char::is_control) {
            return Err(CheckpointError::Origin);
        }
        Ok(Checkpoint { origin, size, root })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The C2SP tlog-checkpoint note text: `<origin>\n<size>\n<base64 root>\n`.
    pub fn to_body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root))
    }

    /// Parses a checkpoint note text.
    ///
    /// Extension lines are refused: our logs never write them, and the spec advises against them.
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let lines = text.strip_suffix('\n').ok_or(CheckpointError::Lines)?;
        let mut lines = lines.split('\n');
        let (Some(origin), Some(size), Some(root), None) = (lines.next(), lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Lines);
        };
        let size = parse_decimal(size).ok_or_else(|| CheckpointError::Size(shorten(size)))?;
        let root = decode_hash(root).ok_or_else(|| CheckpointError::Root(shorten(root)))?;
        Checkpoint::new(origin, size, root)
    }
}

/// The log's signing key; the secret is wiped on drop.
///
/// Its `Debug` shows only the name and key id; it has no `Display` and no way to read the secret back.
pub struct LedgerSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl LedgerSigner {
    /// The signer named `name` (a key name such as `cartable.example/ledger`) with this Ed25519 secret key.
    pub fn from_secret_bytes(name: &str, secret: &[u8; 32]) -> Result<Self, KeyError> {
        if !is_valid_name(name) {
            return Err(KeyError::Name(shorten(name)));
        }
        let key = SigningKey::from_bytes(secret);
        let key_id = key_id(name, &key.verifying_key());
        Ok(LedgerSigner { name: name.to_owned(), key_id, key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier for this key.
    pub fn verifier(&self) -> LedgerVerifier {
        LedgerVerifier { name: self.name.clone(), key_id: self.key_id, key: self.key.verifying_key() }
    }

    /// The verifier key text, `<name>+<key id>+<base64 key>`, to give to whoever checks the log.
    pub fn verifier_key(&self) -> String {
        self.verifier().to_string()
    }

    /// The signed note of `checkpoint`.
    pub fn sign_checkpoint(&self, checkpoint: &Checkpoint) -> String {
        self.sign_text(&checkpoint.to_body())
    }

    /// The signed note of `text`, which ends in a newline.
    fn sign_text(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(4 + 64);
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&signature.to_bytes());
        format!("{text}\n{SIGNATURE_PREFIX}{} {}\n", self.name, STANDARD.encode(blob))
    }
}

impl fmt::Debug for LedgerSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

/// A log's public key, as a verifier of its signed checkpoints.
///
/// Its `Display` is the verifier key text `<name>+<key id>+<base64(0x01 ‖ public key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl LedgerVerifier {
    /// Parses a verifier key text, as printed by `cartable ledger key`.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let (name, rest) = text.split_once('+').ok_or(KeyError::Malformed("expected `name+id+key`"))?;
        let (id_hex, key64) = rest.split_once('+').ok_or(KeyError::Malformed("expected `name+id+key`"))?;
        if !is_valid_name(name) {
            return Err(KeyError::Name(shorten(name)));
        }
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyError::Malformed("key id must be 8 hexadecimal digits"));
        }
        let id =
            u32::from_str_radix(id_hex, 16).map_err(|_| KeyError::Malformed("key id must be 8 hexadecimal digits"))?;
        let bytes = STANDARD.decode(key64).map_err(|_| KeyError::Malformed("key is not base64"))?;
        let (&alg, public) = bytes.split_first().ok_or(KeyError::Malformed("key is empty"))?;
        if alg != ALG_ED25519 {
            return Err(KeyError::Algorithm(alg));
        }
        let public: &[u8; 32] = public.try_into().map_err(|_| KeyError::Malformed("ed25519 key must be 32 bytes"))?;
        let key = VerifyingKey::from_bytes(public).map_err(|_| KeyError::PublicKey)?;
        // Refuse small-order and non-canonical encodings: such a key could "verify" forged notes.
        if key.is_weak() || key.to_edwards().compress().as_bytes() != public {
            return Err(KeyError::PublicKey);
        }
        if key_id(name, &key) != id {
            return Err(KeyError::KeyId);
        }
        Ok(LedgerVerifier { name: name.to_owned(), key_id: id, key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Verifies a signed checkpoint and returns it.
    ///
    /// Signatures by other keys are ignored, as the signed-note spec requires (witness cosignatures, rotation);
    /// the note is rejected unless this key signed it and every signature line by this key verifies.
    pub fn verify_note(&self, note: &str) -> Result<Checkpoint, NoteError> {
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::Malformed("control character"));
        }
        // The text ends at the last blank line; it keeps its final newline.
        let split = note.rfind("\n\n").ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        let signatures = signatures.strip_suffix('\n').ok_or(NoteError::Malformed("no signature line"))?;

        let mut signed = false;
        for (count, line) in signatures.split('\n').enumerate() {
            if count >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            let (name, blob) = parse_signature_line(line)?;
            let Some((id, signature)) = blob.split_first_chunk::<4>() else {
                return Err(NoteError::Malformed("signature is too short"));
            };
            if name != self.name || u32::from_be_bytes(*id) != self.key_id {
                continue;
            }
            let signature = Signature::from_slice(signature).map_err(|_| NoteError::BadSignature(self.to_string()))?;
            self.key
                .verify_strict(text.as_bytes(), &signature)
                .map_err(|_| NoteError::BadSignature(self.to_string()))?;
            signed = true;
        }
        if !signed {
            return Err(NoteError::NotSigned(self.to_string()));
        }
        Ok(Checkpoint::parse_body(text)?)
    }

    /// Checks one raw Ed25519 signature; exposed to the crate for the CCTV edge-case vectors.
    #[cfg(test)]
    pub(crate) fn verify_raw(&self, message: &[u8], signature: &[u8]) -> bool {
        Signature::from_slice(signature).is_ok_and(|s| self.key.verify_strict(message, &s).is_ok())
    }
}

impl fmt::Display for LedgerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = Vec::with_capacity(33);
        key.push(ALG_ED25519);
        key.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(key))
    }
}

/// `— <name> <base64>` → (name, decoded blob).
fn parse_signature_line(line: &str) -> Result<(&str, Vec<u8>), NoteError> {
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(NoteError::Malformed("signature line must start with an em dash and a space"))?;
    let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed("signature line must be `— name signature`"))?;
    if !is_valid_name(name) || b64.is_empty() {
        return Err(NoteError::Malformed("signature line must be `— name signature`"));
    }
    let blob = STANDARD.decode(b64).map_err(|_| NoteError::Malformed("signature is not base64"))?;
    if blob.len() < 5 {
        return Err(NoteError::Malformed("signature is too short"));
    }
    Ok((name, blob))
}

/// Key names are non-empty, without spaces or `+` (which separates the parts of a verifier key).
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

/// key id = SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)[..4], big-endian.
fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([ALG_ED25519])
        .chain_update(key.as_bytes())
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// An ASCII decimal with no leading zeros (except `0` itself).
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// Standard base64 of exactly 32 bytes, in its canonical form.
pub(crate) fn decode_hash(s: &str) -> Option<Hash> {
    let bytes = STANDARD.decode(s).ok()?;
    let hash = Hash::try_from(bytes.as_slice()).ok()?;
    (STANDARD.encode(hash) == s).then_some(hash)
}

/// User input quoted in an error message, cut to a readable length.
pub(crate) fn shorten(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example key and note of golang.org/x/mod/sumdb/note: our notes must match Go's byte for byte.
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_SKEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const GO_SIG: &str = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";

    fn go_signer() -> LedgerSigner {
        let skey = STANDARD.decode(GO_SKEY_B64).unwrap();
        assert_eq!(skey[0], ALG_ED25519);
        LedgerSigner::from_secret_bytes("PeterNeumann", skey[1..].try_into().unwrap()).unwrap()
    }

    #[test]
    fn matches_the_go_reference_note() {
        let signer = go_signer();
        assert_eq!(signer.verifier_key(), GO_VKEY);
        assert_eq!(signer.sign_text(GO_TEXT), format!("{GO_TEXT}\n— PeterNeumann {GO_SIG}\n"));
        assert_eq!(LedgerVerifier::parse(GO_VKEY).unwrap(), signer.verifier());
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", go_signer());
        assert_eq!(shown, "LedgerSigner { name: \"PeterNeumann\", key_id: c74f20a3, .. }");
    }

    #[test]
    fn verifier_key_manglings_are_refused() {
        let b = GO_VKEY.as_bytes();
        for i in 0..b.len() {
            for j in i + 1..=b.len() {
                if (i, j) == (0, b.len()) {
                    continue;
                }
                let s = std::str::from_utf8(&b[i..j]).unwrap();
                // Only surrounding whitespace is forgiven, and the key has none.
                assert!(LedgerVerifier::parse(s).is_err(), "{s:?} parsed");
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] = m[i].wrapping_add(1);
            if let Ok(s) = std::str::from_utf8(&m) {
                assert!(LedgerVerifier::parse(s).is_err(), "{s:?} parsed");
            }
        }
    }

    /// C2SP/CCTV Ed25519 edge cases: `verify_strict` accepts exactly the vectors whose only oddity is a low-order
    /// component (of A or R); everything else (low-order points, non-canonical encodings, residues) is refused.
    #[test]
    fn cctv_ed25519_vectors() {
        let Some(dir) = crate::ledger::testdata_dir("merkle/bonus-cctv-ed25519/ed25519") else {
            return;
        };
        let text = std::fs::read_to_string(dir.join("ed25519vectors.json")).unwrap();
        let vectors: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        let mut accepted = 0;
        for v in &vectors {
            let hex = |s: &str| -> Vec<u8> {
                (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
            };
            let key = hex(v["key"].as_str().unwrap());
            let sig = hex(v["sig"].as_str().unwrap());
            let msg = v["msg"].as_str().unwrap().as_bytes();
            let flags: Vec<&str> = v["flags"].as_array().into_iter().flatten().filter_map(|f| f.as_str()).collect();
            let want = flags.iter().all(|f| *f == "low_order_component_A" || *f == "low_order_component_R");

            let mut vkey = vec![ALG_ED25519];
            vkey.extend_from_slice(&key);
            let Ok(public) = VerifyingKey::from_bytes(key.as_slice().try_into().unwrap()) else {
                assert!(!want, "vector {} has an undecodable key", v["number"]);
                continue;
            };
            let text = format!("cctv+{:08x}+{}", key_id("cctv", &public), STANDARD.encode(&vkey));
            let got = LedgerVerifier::parse(&text).is_ok_and(|verifier| verifier.verify_raw(msg, &sig));
            assert_eq!(got, want, "vector {} with flags {flags:?}", v["number"]);
            accepted += usize::from(got);
        }
        assert_eq!(vectors.len(), 914);
        println!("cctv ed25519: {} vectors, {accepted} accepted", vectors.len());
    }
}
