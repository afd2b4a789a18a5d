//! A family's archive from the command line: `cartable archive export` writes it, streaming, and `cartable archive
//! verify` checks one without importing it. The layout is `docs/archive-format.md`'s; the container is
//! `cartable-export`'s.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use cartable_consent::ledger::{LedgerVerifier, Replay};
use cartable_consent::{Action, FamilyId, Resource};
use cartable_export::{ArchiveReader, ArchiveWriter, Limits, ManifestHead, file_component};
use cartable_vault::{LedgerFilter, RecordDocument, Vault};
use clap::Subcommand;
use serde_json::json;

use super::console::{Console, counter};
use super::data::PrivateFile;

/// Records read per page while a collection streams into the archive.
const PAGE: u32 = 500;

#[derive(Debug, Subcommand)]
pub(super) enum ArchiveCmd {
    /// Write a family's archive: its members, records, files, grants and policies, and its whole ledger with a signed
    /// checkpoint and the key to check it (streamed: no plaintext temporary file; the file is 0600).
    Export {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        out: PathBuf,
        /// Encrypt the whole archive with age to the passphrase in this file (its first line).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Check an archive without importing it: every entry's hash, and the ledger against its signed checkpoint.
    Verify {
        file: PathBuf,
        /// The ledger's verifier key to trust (`cartable ledger key` on the server that wrote it); default: the key the
        /// archive holds, which proves the archive consistent, not who wrote it.
        #[arg(long)]
        key: Option<String>,
        /// The passphrase of an encrypted archive, in this file (its first line).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
}

impl ArchiveCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        match self {
            ArchiveCmd::Export { family, out, passphrase_file } => {
                let passphrase = passphrase_file.as_deref().map(read_passphrase).transpose()?;
                let (vault, _) = console.open().await?;
                let handle = tokio::runtime::Handle::current();
                let summary = tokio::task::spawn_blocking(move || export(&handle, &vault, family, &out, passphrase)).await.context("the export stopped")??;
                console.out.emit(summary.clone(), || {
                    format!(
                        "{} entries, {} bytes of data: {} records, {} files, {} ledger entries",
                        summary["entries"], summary["bytes"], summary["records"], summary["files"], summary["ledger_entries"]
                    )
                });
            }
            ArchiveCmd::Verify { file, key, passphrase_file } => {
                let passphrase = passphrase_file.as_deref().map(read_passphrase).transpose()?;
                let report = tokio::task::spawn_blocking(move || verify(&file, key.as_deref(), passphrase)).await.context("the check stopped")??;
                console.out.emit(report.clone(), || format!("the archive verifies: {} entries, ledger of {} entries signed by {}", report["entries"], report["ledger_size"], report["signed_by"]));
            }
        }
        Ok(())
    }
}

/// A passphrase from the first line of a file (never from an argument, which other users can see).
fn read_passphrase(path: &std::path::Path) -> anyhow::Result<age::secrecy::SecretString> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the passphrase file `{}`", path.display()))?;
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() < 8 {
        bail!("the passphrase must be at least 8 characters");
    }
    Ok(age::secrecy::SecretString::from(line.to_owned()))
}

/// Where the zip goes: the file, or an age stream to a passphrase over it.
enum Output {
    Plain(std::io::BufWriter<std::fs::File>),
    Sealed(age::stream::StreamWriter<std::io::BufWriter<std::fs::File>>),
}

impl std::io::Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Plain(w) => w.write(bytes),
            Output::Sealed(w) => w.write(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Plain(w) => w.flush(),
            Output::Sealed(w) => w.flush(),
        }
    }
}

impl Output {
    /// Ends the age stream (without it the file would be cut short, silently) and flushes.
    fn finish(self) -> std::io::Result<()> {
        let mut file = match self {
            Output::Plain(w) => w,
            Output::Sealed(w) => w.finish()?,
        };
        std::io::Write::flush(&mut file)
    }
}

/// Bytes made a page at a time by `next` (which appends a page to the buffer and says whether another may follow),
/// handed out as the archive asks for them: a collection or a ledger never sits whole in memory.
struct Paged<F: FnMut(&mut Vec<u8>) -> std::io::Result<bool>> {
    next: F,
    buffer: Vec<u8>,
    at: usize,
    more: bool,
}

impl<F: FnMut(&mut Vec<u8>) -> std::io::Result<bool>> Paged<F> {
    fn new(next: F) -> Self {
        Paged { next, buffer: Vec::new(), at: 0, more: true }
    }
}

impl<F: FnMut(&mut Vec<u8>) -> std::io::Result<bool>> Read for Paged<F> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buffer.len() && self.more {
            self.buffer.clear();
            self.at = 0;
            self.more = (self.next)(&mut self.buffer)?;
        }
        let n = out.len().min(self.buffer.len() - self.at);
        out[..n].copy_from_slice(&self.buffer[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn record_line(doc: &RecordDocument, file_path: Option<&str>) -> serde_json::Value {
    let mut line = json!({
        "record_id": doc.id,
        "child_id": doc.child,
        "doctype": doc.doctype.as_str(),
        "source": doc.source,
        "version": doc.version,
        "created_at": doc.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "updated_at": doc.updated_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    });
    match (&doc.file, file_path) {
        (Some(info), Some(path)) => {
            line["kind"] = "file".into();
            line["file"] = json!({"name": info.name, "size": info.size, "sha256": info.sha256, "path": path});
        }
        _ => {
            line["kind"] = "record".into();
            line["body"] = doc.body.clone();
        }
    }
    line
}

/// Writes the archive (on a blocking thread: the zip and the files' readers block; the vault's calls run on the
/// runtime through `handle`).
fn export(
    handle: &tokio::runtime::Handle,
    vault: &Vault,
    family: FamilyId,
    out: &std::path::Path,
    passphrase: Option<age::secrecy::SecretString>,
) -> anyhow::Result<serde_json::Value> {
    // Each part of the family is decided and logged as the operator's access: the family (names), the register
    // (grants, policies, ledger), and each collection's export.
    let read = handle.block_on(vault.as_operator(family, Action::Read, Resource::Family))?;
    let name = handle.block_on(vault.family_name(&read))?;
    let members = handle.block_on(vault.list_members(&read))?;
    let list = handle.block_on(vault.as_operator(family, Action::List, Resource::Family))?;
    let collections = handle.block_on(vault.api().collections(&list))?;
    let register = handle.block_on(vault.operator_register(family))?;
    let grants = handle.block_on(vault.list_grants(&register))?;
    let policies = handle.block_on(vault.policy_text(&register))?;
    let prohibitions = handle.block_on(vault.forbids(&register))?;

    let mut file = PrivateFile::create(out)?;
    let buffered = std::io::BufWriter::with_capacity(256 * 1024, file.file().try_clone()?);
    let output = match passphrase {
        None => Output::Plain(buffered),
        Some(passphrase) => Output::Sealed(age::Encryptor::with_user_passphrase(passphrase).wrap_output(buffered)?),
    };
    let mut archive = ArchiveWriter::new(output);
    let now = time::OffsetDateTime::now_utc();
    let exported_at = now.format(&time::format_description::well_known::Rfc3339)?;
    archive.add_json("family.json", &json!({"family_id": family, "name": name, "exported_at": exported_at}))?;
    let members_json: Vec<serde_json::Value> = members
        .iter()
        .map(|m| json!({"member_id": m.id, "role": m.role.as_str(), "name": m.name, "birth_date": m.birth_date.map(|d| d.to_string())}))
        .collect();
    archive.add_json("members.json", &members_json)?;
    archive.add_json("grants.json", &grants)?;
    archive.add_json("prohibitions.json", &prohibitions)?;
    archive.add_bytes("policies.cedar", policies.as_bytes())?;

    let progress = counter("records and files written");
    let (mut records, mut files) = (0u64, 0u64);
    let mut exported = Vec::with_capacity(collections.len());
    for collection in collections.iter().filter(|c| c.records > 0) {
        let resource = Resource::Collection { child: collection.child, doctype: collection.doctype };
        let permit = handle.block_on(vault.as_operator(family, Action::Export, resource))?;
        let (mut after, mut found, mut failed) = (None, Vec::new(), None);
        let mut lines = Paged::new(|buffer: &mut Vec<u8>| {
            let page = match handle.block_on(vault.read_records(&permit, after, PAGE)) {
                Ok(page) => page,
                Err(e) => {
                    failed = Some(e);
                    return Err(std::io::Error::other("a page of records could not be read"));
                }
            };
            for doc in &page {
                let file_path = doc.file.as_ref().map(|info| {
                    let path = format!("children/{}/{}/files/{}/{}", doc.child, doc.doctype.as_str(), doc.id, file_component(&info.name));
                    found.push((doc.id, path.clone(), info.size));
                    path
                });
                serde_json::to_writer(&mut *buffer, &record_line(doc, file_path.as_deref())).map_err(std::io::Error::other)?;
                buffer.push(b'\n');
                records += 1;
            }
            after = page.last().map(|d| d.id).or(after);
            Ok(page.len() == PAGE as usize)
        });
        let path = format!("children/{}/{}/records.jsonl", collection.child, collection.doctype.as_str());
        let written = archive.add(&path, None, &mut lines).map(|_| ());
        drop(lines);
        if let Err(e) = written {
            return Err(failed.map(anyhow::Error::from).unwrap_or_else(|| e.into()));
        }
        progress.set_position(records + files);
        for (id, path, size) in found {
            let (_, mut reader) = handle.block_on(vault.open_collection_file(&permit, id))?;
            archive.add(&path, Some(size), &mut reader).with_context(|| format!("file `{id}` could not be read from the vault"))?;
            files += 1;
            progress.set_position(records + files);
        }
        exported.push((collection.child, collection.doctype, permit));
    }
    progress.finish_and_clear();

    // The ledger last: its checkpoint first (signed, of the size it names), then the entries up to that size, so the
    // decisions of this very export are in it.
    let checkpoint = handle.block_on(vault.checkpoint(&register))?;
    let size = LedgerVerifier::parse(&vault.ledger_verifier_key())
        .map_err(|e| anyhow!("the server's ledger key: {e}"))?
        .verify_note(&checkpoint)
        .map_err(|e| anyhow!("the server's own checkpoint does not verify: {e}"))?
        .size();
    let (mut next, mut failed) = (0u64, None);
    let mut ledger = Paged::new(|buffer: &mut Vec<u8>| {
        let filter = LedgerFilter { after_index: next.checked_sub(1), limit: Some(1000), ..LedgerFilter::default() };
        let page = match handle.block_on(vault.ledger_entries(&register, &filter)) {
            Ok(page) => page,
            Err(e) => {
                failed = Some(e);
                return Err(std::io::Error::other("a page of the ledger could not be read"));
            }
        };
        for entry in page.iter().take_while(|e| e.index < size) {
            if entry.index != next {
                return Err(std::io::Error::other("the ledger's entries are not consecutive"));
            }
            buffer.extend_from_slice(&entry.receipt.canonical_bytes());
            buffer.push(b'\n');
            next += 1;
        }
        Ok(!page.is_empty() && next < size)
    });
    let written = archive.add("ledger/entries.jsonl", None, &mut ledger).map(|_| ());
    drop(ledger);
    if let Err(e) = written {
        return Err(failed.map(anyhow::Error::from).unwrap_or_else(|| e.into()));
    }
    if next != size {
        bail!("the ledger holds fewer entries than its checkpoint names");
    }
    let ledger_entries = next;
    let page = super::archive_page::Page {
        handle,
        vault,
        family_name: &name,
        exported_at: now,
        members: &members,
        collections: &exported,
        grants: &grants,
        register: &register,
        ledger_size: size,
    };
    archive.add_written("index.html", |out| page.write(out))?;
    archive.add_bytes("ledger/checkpoint.txt", checkpoint.as_bytes())?;
    archive.add_bytes("ledger/verifier.key", vault.ledger_verifier_key().as_bytes())?;

    let (entry_count, bytes) = archive.written();
    let counts = [("members", members.len() as u64), ("records", records), ("files", files), ("grants", grants.len() as u64), ("prohibitions", prohibitions.len() as u64), ("ledger_entries", ledger_entries)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let head = ManifestHead { cartable_version: env!("CARGO_PKG_VERSION").to_owned(), family_id: family.to_string(), created_at: exported_at, counts };
    archive.finish(head)?.finish()?;
    file.file().sync_all()?;
    file.commit()?;
    Ok(json!({"family_id": family, "entries": entry_count + 1, "bytes": bytes, "records": records, "files": files, "ledger_entries": ledger_entries}))
}

trait ReadSeek: Read + std::io::Seek + Send {}
impl<T: Read + std::io::Seek + Send> ReadSeek for T {}

/// Every collection's lines parse, each file they name is the entry beside them with the size and SHA-256 they
/// give, no file entry is left unnamed, and the manifest's counts of records and files are what the lines hold.
/// Checked line by line as each collection streams: nothing of it is kept but the names of its files.
fn check_records<R: Read + std::io::Seek>(archive: &mut ArchiveReader<R>) -> anyhow::Result<()> {
    let listed: std::collections::HashMap<String, (u64, String)> =
        archive.manifest().entries.iter().map(|e| (e.path.clone(), (e.size, e.sha256.clone()))).collect();
    let collections: Vec<String> = archive.paths().filter(|p| p.starts_with("children/") && p.ends_with("/records.jsonl")).map(str::to_owned).collect();
    let (mut records, mut named) = (0u64, std::collections::HashSet::new());
    for path in &collections {
        let mut problem = None;
        let mut lines = LineSink::new(|line: &[u8]| {
            records += 1;
            if problem.is_none() {
                problem = record_problem(line, &listed, &mut named).map(|p| format!("`{path}`, line {records}: {p}"));
            }
        });
        archive.copy_verified(path, &mut lines)?;
        lines.finish();
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

/// What is wrong with one line of a collection, if anything: a record (its `body` an object), or a file that is the
/// entry it names with the size and SHA-256 it gives (then named).
fn record_problem(line: &[u8], listed: &std::collections::HashMap<String, (u64, String)>, named: &mut std::collections::HashSet<String>) -> Option<String> {
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


/// Lines handed to `each` as bytes stream by (an entry read through `copy_verified`), without their newline; the
/// last one, if it has none, by [`LineSink::finish`].
struct LineSink<F: FnMut(&[u8])> {
    line: Vec<u8>,
    each: F,
}

impl<F: FnMut(&[u8])> LineSink<F> {
    fn new(each: F) -> Self {
        LineSink { line: Vec::new(), each }
    }

    fn finish(mut self) {
        if !self.line.is_empty() {
            (self.each)(&self.line);
        }
    }
}

impl<F: FnMut(&[u8])> std::io::Write for LineSink<F> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for part in bytes.split_inclusive(|b| *b == b'\n') {
            match part.strip_suffix(b"\n") {
                Some(end) => {
                    self.line.extend_from_slice(end);
                    if !self.line.is_empty() {
                        (self.each)(&self.line);
                    }
                    self.line.clear();
                }
                None => self.line.extend_from_slice(part),
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Checks an archive: the container (names, sizes, the manifest) at open, then every entry's hash, then the ledger:
/// the checkpoint's signature (by `key`, or the archive's own key), and the root of the entries up to its size.
fn verify(path: &std::path::Path, key: Option<&str>, passphrase: Option<age::secrecy::SecretString>) -> anyhow::Result<serde_json::Value> {
    let mut file = std::io::BufReader::new(std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?);
    let sealed = std::io::BufRead::fill_buf(&mut file)?.starts_with(b"age-encryption.org/v1");
    let reader: Box<dyn ReadSeek> = match (sealed, passphrase) {
        (false, _) => Box::new(file),
        (true, None) => bail!("this archive is encrypted: give its passphrase with --passphrase-file"),
        (true, Some(passphrase)) => {
            let decryptor = age::Decryptor::new(file).map_err(|e| anyhow!("this archive's encryption cannot be read: {e}"))?;
            let identity = age::scrypt::Identity::new(passphrase);
            // age's stream reader seeks by 64 KiB chunks: the zip's central directory is read without the rest.
            Box::new(decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)).map_err(|_| anyhow!("the passphrase does not open this archive"))?)
        }
    };
    let mut archive = ArchiveReader::open(reader, &Limits::default())?;
    let progress = counter("entries checked");
    archive.verify_all(&mut |done, _| progress.set_position(done as u64))?;
    progress.finish_and_clear();
    for required in ["family.json", "members.json", "grants.json", "prohibitions.json", "ledger/entries.jsonl", "ledger/checkpoint.txt", "ledger/verifier.key"] {
        if !archive.contains(required) {
            bail!("the archive has no `{required}`");
        }
    }
    let own_key = String::from_utf8(archive.read_small("ledger/verifier.key", 4096)?).map_err(|_| anyhow!("`ledger/verifier.key` is not text"))?;
    let key_text = key.unwrap_or(own_key.trim());
    let verifier = LedgerVerifier::parse(key_text).map_err(|e| anyhow!("the verifier key: {e}"))?;
    let note = String::from_utf8(archive.read_small("ledger/checkpoint.txt", 64 * 1024)?).map_err(|_| anyhow!("`ledger/checkpoint.txt` is not text"))?;
    let checkpoint = verifier.verify_note(&note).map_err(|e| anyhow!("the ledger's checkpoint is not signed by this key: {e}"))?;
    // The entries stream through the tree's replay, one line at a time.
    let (mut replay, mut bad) = (Replay::new(), None);
    let mut lines = LineSink::new(|line: &[u8]| {
        if bad.is_none() && cartable_consent::ledger::Receipt::from_canonical(line).is_err() {
            bad = Some(replay.size());
        }
        replay.push_entry(line);
    });
    archive.copy_verified("ledger/entries.jsonl", &mut lines)?;
    lines.finish();
    if let Some(index) = bad {
        bail!("ledger entry {index} is not a consent receipt");
    }
    if replay.size() != checkpoint.size() {
        bail!("the ledger holds {} entries; its checkpoint is of {}", replay.size(), checkpoint.size());
    }
    if &replay.root() != checkpoint.root() {
        bail!("the ledger's entries do not give the root its checkpoint signs: an entry was altered, removed or reordered");
    }
    check_records(&mut archive)?;
    let manifest = archive.manifest();
    Ok(json!({
        "verified": true,
        "family_id": manifest.family_id,
        "entries": manifest.entries.len() + 1,
        "counts": manifest.counts,
        "ledger_size": checkpoint.size(),
        "signed_by": checkpoint.origin(),
        "key": if key.is_some() { "given" } else { "the archive's own" },
    }))
}
