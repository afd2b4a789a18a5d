//! Checking an archive without importing it: the container (names, sizes, the manifest) at open, every entry's
//! hash, the ledger (the checkpoint's signature, the root of the entries up to its size) and the records' own
//! structure. `import` runs the same check first.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek};

use anyhow::{anyhow, bail};
use cartable_consent::ledger::{Hash, LedgerVerifier, Receipt, Replay, leaf_hash, verify_inclusion};
use cartable_export::{ArchiveReader, Limits, Scope};
use serde_json::json;

use super::lines::LineSink;

pub(crate) trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// An archive read from a file, decrypted on the way when it is an age file (then `passphrase` is needed).
pub(crate) type Opened = ArchiveReader<Box<dyn ReadSeek>>;

/// The entries every archive of the whole family (or a member's view of it) holds.
const FAMILY_ENTRIES: [&str; 7] = ["family.json", "members.json", "grants.json", "prohibitions.json", "ledger/entries.jsonl", "ledger/checkpoint.txt", "ledger/verifier.key"];

/// Opens an archive file: refused whole, before anything is read from it, if the container is hostile or damaged.
pub(crate) fn open_archive(path: &std::path::Path, passphrase: Option<age::secrecy::SecretString>) -> anyhow::Result<Opened> {
    let file = std::io::BufReader::new(std::fs::File::open(path).map_err(|e| anyhow!("cannot open `{}`: {e}", path.display()))?);
    open_reader(Box::new(file), passphrase)
}

/// Opens an archive from any seekable reader, decrypting it on the way when it is an age file (then `passphrase` is
/// needed).
pub(crate) fn open_reader(reader: Box<dyn ReadSeek>, passphrase: Option<age::secrecy::SecretString>) -> anyhow::Result<Opened> {
    let mut reader = std::io::BufReader::new(reader);
    let sealed = std::io::BufRead::fill_buf(&mut reader)?.starts_with(b"age-encryption.org/v1");
    let reader: Box<dyn ReadSeek> = match (sealed, passphrase) {
        (false, _) => Box::new(reader),
        (true, None) => bail!("this archive is encrypted: give its passphrase"),
        (true, Some(passphrase)) => {
            let decryptor = age::Decryptor::new_buffered(reader).map_err(|e| anyhow!("this archive's encryption cannot be read: {e}"))?;
            let identity = age::scrypt::Identity::new(passphrase);
            // age's stream reader seeks by 64 KiB chunks: the zip's central directory is read without the rest.
            Box::new(decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)).map_err(|_| anyhow!("the passphrase does not open this archive"))?)
        }
    };
    Ok(ArchiveReader::open(reader, &Limits::default())?)
}

/// What the check found.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    pub(crate) ledger_size: u64,
    /// The checkpoint's origin line (the server and the family's log).
    pub(crate) signed_by: String,
}

/// Checks every entry's hash (`progress` told the count), then the ledger against its signed checkpoint (by
/// `key`, or the archive's own key), then the records' structure.
pub(crate) fn verify_archive<R: Read + Seek>(archive: &mut ArchiveReader<R>, key: Option<&str>, progress: &mut dyn FnMut(u64)) -> anyhow::Result<Verified> {
    archive.verify_all(&mut |done, _| progress(done as u64))?;
    let scope = archive.manifest().scope;
    let verified = match scope {
        // A service's archive holds its collections only.
        Scope::Service => Verified { ledger_size: 0, signed_by: String::new() },
        Scope::Family | Scope::Member => {
            for required in FAMILY_ENTRIES {
                if !archive.contains(required) {
                    bail!("the archive has no `{required}`");
                }
            }
            verify_ledger(archive, key, scope)?
        }
    };
    check_records(archive)?;
    Ok(verified)
}

/// The checkpoint's signature (by `key`, or the archive's own key), then the entries against it: for the whole
/// family, the RFC 6962 tree of the entries' lines has the size and root the checkpoint signs; for a member's view,
/// each entry's inclusion proof (`ledger/proofs.jsonl`, line for line) leads from its line to that root.
fn verify_ledger<R: Read + Seek>(archive: &mut ArchiveReader<R>, key: Option<&str>, scope: Scope) -> anyhow::Result<Verified> {
    let own_key = String::from_utf8(archive.read_small("ledger/verifier.key", 4096)?).map_err(|_| anyhow!("`ledger/verifier.key` is not text"))?;
    let verifier = LedgerVerifier::parse(key.unwrap_or(own_key.trim())).map_err(|e| anyhow!("the verifier key: {e}"))?;
    let note = String::from_utf8(archive.read_small("ledger/checkpoint.txt", 64 * 1024)?).map_err(|_| anyhow!("`ledger/checkpoint.txt` is not text"))?;
    let checkpoint = verifier.verify_note(&note).map_err(|e| anyhow!("the ledger's checkpoint is not signed by this key: {e}"))?;
    // The entries stream through the tree's replay (or, for a view, into their leaf hashes), a line at a time.
    let (mut replay, mut leaves, mut bad) = (Replay::new(), Vec::new(), None);
    let mut lines = LineSink::new(|line: &[u8]| {
        let at = replay.size() + leaves.len() as u64;
        if bad.is_none() && Receipt::from_canonical(line).is_err() {
            bad = Some(at);
        }
        match scope {
            Scope::Member => leaves.push(leaf_hash(line)),
            _ => {
                replay.push_entry(line);
            }
        }
        Ok(())
    });
    archive.copy_verified("ledger/entries.jsonl", &mut lines)?;
    lines.finish()?;
    if let Some(index) = bad {
        bail!("ledger entry {index} is not a consent receipt");
    }
    let verified = Verified { ledger_size: checkpoint.size(), signed_by: checkpoint.origin().to_owned() };
    if scope == Scope::Member {
        verify_proofs(archive, &leaves, checkpoint.size(), checkpoint.root())?;
        return Ok(verified);
    }
    if replay.size() != checkpoint.size() {
        bail!("the ledger holds {} entries; its checkpoint is of {}", replay.size(), checkpoint.size());
    }
    if &replay.root() != checkpoint.root() {
        bail!("the ledger's entries do not give the root its checkpoint signs: an entry was altered, removed or reordered");
    }
    Ok(verified)
}

/// A member's view: line n of `ledger/proofs.jsonl` proves that the entry of line n (its leaf hash in `leaves`) is
/// at the index it names in the tree of `size` entries with this `root`; the indices rise, and there is a proof
/// for every entry.
fn verify_proofs<R: Read + Seek>(archive: &mut ArchiveReader<R>, leaves: &[Hash], size: u64, root: &Hash) -> anyhow::Result<()> {
    use base64::Engine as _;
    if !archive.contains("ledger/proofs.jsonl") {
        bail!("the archive has no `ledger/proofs.jsonl`: a member's view of the ledger is checked by its proofs");
    }
    let (mut line, mut last, mut problem) = (0usize, None::<u64>, None);
    let mut lines = LineSink::new(|text: &[u8]| {
        line += 1;
        if problem.is_some() {
            return Ok(());
        }
        let found = (|| {
            let v: serde_json::Value = serde_json::from_slice(text).map_err(|_| "not JSON".to_owned())?;
            let index = v["index"].as_u64().ok_or("no `index`")?;
            let hashes = v["hashes"].as_array().ok_or("no `hashes`")?;
            let hashes = hashes
                .iter()
                .map(|h| h.as_str().and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok()).filter(|h| h.len() == 32))
                .collect::<Option<Vec<_>>>()
                .ok_or("a hash is not the base64 of 32 bytes")?;
            if last.is_some_and(|l| index <= l) {
                return Err(format!("entry {index} comes after entry {}", last.unwrap_or_default()));
            }
            last = Some(index);
            let leaf = leaves.get(line - 1).ok_or("a proof of no entry")?;
            verify_inclusion(index, size, leaf, &hashes, root).map_err(|e| format!("entry {index} is not in the log its checkpoint signs: {e}"))
        })();
        if let Err(e) = found {
            problem = Some(format!("`ledger/proofs.jsonl`, line {line}: {e}"));
        }
        Ok(())
    });
    archive.copy_verified("ledger/proofs.jsonl", &mut lines)?;
    lines.finish()?;
    if let Some(problem) = problem {
        bail!("{problem}");
    }
    if line != leaves.len() {
        bail!("the ledger holds {} entries and {line} proofs", leaves.len());
    }
    Ok(())
}

/// Every collection's lines parse, each file they name is the entry beside them with the size and SHA-256 they
/// give, no file entry is left unnamed, and the manifest's counts of records and files are what the lines hold.
/// Checked line by line as each collection streams: nothing of it is kept but the names of its files.
fn check_records<R: Read + Seek>(archive: &mut ArchiveReader<R>) -> anyhow::Result<()> {
    let listed: HashMap<String, (u64, String)> = archive.manifest().entries.iter().map(|e| (e.path.clone(), (e.size, e.sha256.clone()))).collect();
    let collections: Vec<String> = collection_paths(archive);
    let (mut records, mut named) = (0u64, HashSet::new());
    for path in &collections {
        let mut problem = None;
        let mut lines = LineSink::new(|line: &[u8]| {
            records += 1;
            if problem.is_none() {
                problem = record_problem(line, &listed, &mut named).map(|p| format!("`{path}`, line {records}: {p}"));
            }
            Ok(())
        });
        archive.copy_verified(path, &mut lines)?;
        lines.finish()?;
        if let Some(problem) = problem {
            bail!("{problem}");
        }
    }
    if let Some(orphan) = archive.paths().find(|p| p.contains("/files/") && !named.contains(*p)) {
        bail!("`{orphan}` is a file no record names");
    }
    let counts = &archive.manifest().counts;
    for (what, found) in [("records", records), ("files", named.len() as u64)] {
        if counts.get(what).is_some_and(|n| *n != found) {
            bail!("the manifest counts {} {what}; the archive holds {found}", counts[what]);
        }
    }
    Ok(())
}

/// The collections' entries (`children/<child>/<doctype>/records.jsonl`), in the archive's order.
pub(crate) fn collection_paths<R: Read + Seek>(archive: &ArchiveReader<R>) -> Vec<String> {
    archive.paths().filter(|p| p.starts_with("children/") && p.ends_with("/records.jsonl")).map(str::to_owned).collect()
}

/// What is wrong with one line of a collection, if anything: a record (its `body` an object), or a file that is the
/// entry it names with the size and SHA-256 it gives (then named).
fn record_problem(line: &[u8], listed: &HashMap<String, (u64, String)>, named: &mut HashSet<String>) -> Option<String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else { return Some("not JSON".to_owned()) };
    if v["kind"] == "record" && v["body"].is_object() {
        return None;
    }
    if v["kind"] != "file" {
        return Some("not a record".to_owned());
    }
    let file = &v["file"];
    let (Some(at), Some(size), Some(sha)) = (file["path"].as_str(), file["size"].as_u64(), file["sha256"].as_str()) else {
        return Some("a file without its path, size and SHA-256".to_owned());
    };
    match listed.get(at) {
        Some((s, h)) if *s == size && h.eq_ignore_ascii_case(sha) => {
            named.insert(at.to_owned());
            None
        }
        Some(_) => Some(format!("`{at}` is not the file it describes (size or SHA-256)")),
        None => Some(format!("the file `{at}` is not in the archive")),
    }
}

/// The report `archive verify` prints.
pub(crate) fn report<R: Read + Seek>(archive: &ArchiveReader<R>, verified: &Verified, key_given: bool) -> serde_json::Value {
    let manifest = archive.manifest();
    json!({
        "verified": true,
        "family_id": manifest.family_id,
        "scope": manifest.scope,
        "entries": manifest.entries.len() + 1,
        "counts": manifest.counts,
        "ledger_size": verified.ledger_size,
        "signed_by": verified.signed_by,
        "key": if key_given { "given" } else { "the archive's own" },
    })
}
