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

use super::console::Console;
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

fn bar(what: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {pos} {msg} ({elapsed})").unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()));
    bar.set_message(what);
    bar
}

/// One collection's records as JSON lines, read page by page as the archive asks for bytes: a collection never sits
/// whole in memory.
struct RecordLines<'a> {
    handle: &'a tokio::runtime::Handle,
    vault: &'a Vault,
    permit: &'a cartable_vault::Permit,
    after: Option<cartable_consent::RecordId>,
    done: bool,
    buffer: Vec<u8>,
    at: usize,
    /// Files met, to write after the collection's lines: (record, name in the archive).
    files: Vec<(cartable_consent::RecordId, String, u64)>,
    records: u64,
    failed: Option<cartable_vault::Error>,
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

impl Read for RecordLines<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buffer.len() && !self.done {
            self.buffer.clear();
            self.at = 0;
            let page = self.handle.block_on(self.vault.read_records(self.permit, self.after, PAGE));
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    self.failed = Some(e);
                    return Err(std::io::Error::other("a page of records could not be read"));
                }
            };
            self.done = page.len() < PAGE as usize;
            for doc in &page {
                let file_path = doc.file.as_ref().map(|info| {
                    let path = format!("children/{}/{}/files/{}/{}", doc.child, doc.doctype.as_str(), doc.id, file_component(&info.name));
                    self.files.push((doc.id, path.clone(), info.size));
                    path
                });
                serde_json::to_writer(&mut self.buffer, &record_line(doc, file_path.as_deref())).map_err(std::io::Error::other)?;
                self.buffer.push(b'\n');
                self.records += 1;
            }
            self.after = page.last().map(|d| d.id).or(self.after);
        }
        let n = out.len().min(self.buffer.len() - self.at);
        out[..n].copy_from_slice(&self.buffer[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The ledger's entries below `size`, one canonical receipt per line, read a page at a time.
struct LedgerLines<'a> {
    handle: &'a tokio::runtime::Handle,
    vault: &'a Vault,
    register: &'a cartable_vault::Permit,
    size: u64,
    /// The index of the next entry to read.
    next: u64,
    buffer: Vec<u8>,
    at: usize,
    failed: Option<cartable_vault::Error>,
}

impl Read for LedgerLines<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buffer.len() && self.next < self.size {
            self.buffer.clear();
            self.at = 0;
            let filter = LedgerFilter { after_index: self.next.checked_sub(1), limit: Some(1000), ..LedgerFilter::default() };
            let page = match self.handle.block_on(self.vault.ledger_entries(self.register, &filter)) {
                Ok(page) => page,
                Err(e) => {
                    self.failed = Some(e);
                    return Err(std::io::Error::other("a page of the ledger could not be read"));
                }
            };
            if page.is_empty() {
                break;
            }
            for entry in page.into_iter().take_while(|e| e.index < self.size) {
                if entry.index != self.next {
                    return Err(std::io::Error::other("the ledger's entries are not consecutive"));
                }
                self.buffer.extend_from_slice(&entry.receipt.canonical_bytes());
                self.buffer.push(b'\n');
                self.next += 1;
            }
        }
        let n = out.len().min(self.buffer.len() - self.at);
        out[..n].copy_from_slice(&self.buffer[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
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

    let progress = bar("records and files written");
    let (mut records, mut files) = (0u64, 0u64);
    let mut exported = Vec::with_capacity(collections.len());
    for collection in collections.iter().filter(|c| c.records > 0) {
        let resource = Resource::Collection { child: collection.child, doctype: collection.doctype };
        let permit = handle.block_on(vault.as_operator(family, Action::Export, resource))?;
        let mut lines = RecordLines { handle, vault, permit: &permit, after: None, done: false, buffer: Vec::new(), at: 0, files: Vec::new(), records: 0, failed: None };
        let path = format!("children/{}/{}/records.jsonl", collection.child, collection.doctype.as_str());
        if let Err(e) = archive.add(&path, None, &mut lines) {
            return Err(lines.failed.map(anyhow::Error::from).unwrap_or_else(|| e.into()));
        }
        records += lines.records;
        progress.set_position(records + files);
        for (id, path, size) in std::mem::take(&mut lines.files) {
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
    let mut ledger = LedgerLines { handle, vault, register: &register, size, next: 0, buffer: Vec::new(), at: 0, failed: None };
    if let Err(e) = archive.add("ledger/entries.jsonl", None, &mut ledger) {
        return Err(ledger.failed.map(anyhow::Error::from).unwrap_or_else(|| e.into()));
    }
    if ledger.next != size {
        bail!("the ledger holds fewer entries than its checkpoint names");
    }
    let ledger_entries = ledger.next;
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
        let mut lines = Lines { path, listed: &listed, named: &mut named, line: Vec::new(), count: 0, problem: None };
        archive.copy_verified(path, &mut lines)?;
        lines.end();
        if let Some(problem) = lines.problem {
            bail!("{problem}");
        }
        records += lines.count;
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

/// A collection's JSON lines checked as they stream by.
struct Lines<'a> {
    path: &'a str,
    listed: &'a std::collections::HashMap<String, (u64, String)>,
    named: &'a mut std::collections::HashSet<String>,
    line: Vec<u8>,
    count: u64,
    /// The first thing wrong.
    problem: Option<String>,
}

impl Lines<'_> {
    fn end(&mut self) {
        if self.line.is_empty() {
            return;
        }
        self.count += 1;
        let (path, n) = (self.path, self.count);
        let problem = match serde_json::from_slice::<serde_json::Value>(&self.line) {
            Ok(v) if v.is_object() && v["kind"] == "file" => {
                let file = &v["file"];
                match (file["path"].as_str(), file["size"].as_u64(), file["sha256"].as_str()) {
                    (Some(at), Some(size), Some(sha)) => match self.listed.get(at) {
                        Some((s, h)) if *s == size && h.eq_ignore_ascii_case(sha) => {
                            self.named.insert(at.to_owned());
                            None
                        }
                        Some(_) => Some(format!("`{at}` is not the file `{path}` line {n} describes (size or SHA-256)")),
                        None => Some(format!("`{path}`, line {n}: the file `{at}` is not in the archive")),
                    },
                    _ => Some(format!("`{path}`, line {n}: a file without its path, size and SHA-256")),
                }
            }
            Ok(v) if v.is_object() && v["kind"] == "record" && v["body"].is_object() => None,
            _ => Some(format!("`{path}`, line {n}: not a record")),
        };
        if self.problem.is_none() {
            self.problem = problem;
        }
        self.line.clear();
    }
}

impl std::io::Write for Lines<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for part in bytes.split_inclusive(|b| *b == b'\n') {
            match part.strip_suffix(b"\n") {
                Some(end) => {
                    self.line.extend_from_slice(end);
                    self.end();
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

/// The ledger's lines into the tree's replay as they stream by: the log is never held whole.
struct ReplayLines {
    replay: Replay,
    line: Vec<u8>,
    /// The first entry that is not a consent receipt.
    bad: Option<u64>,
}

impl ReplayLines {
    fn flush_line(&mut self) {
        if self.line.is_empty() {
            return;
        }
        if self.bad.is_none() && cartable_consent::ledger::Receipt::from_canonical(&self.line).is_err() {
            self.bad = Some(self.replay.size());
        }
        self.replay.push_entry(&self.line);
        self.line.clear();
    }
}

impl std::io::Write for ReplayLines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for part in bytes.split_inclusive(|b| *b == b'\n') {
            match part.strip_suffix(b"\n") {
                Some(end) => {
                    self.line.extend_from_slice(end);
                    self.flush_line();
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
    let progress = bar("entries checked");
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
    let mut replay = ReplayLines { replay: Replay::new(), line: Vec::new(), bad: None };
    archive.copy_verified("ledger/entries.jsonl", &mut replay)?;
    replay.flush_line();
    if let Some(index) = replay.bad {
        bail!("ledger entry {index} is not a consent receipt");
    }
    let replay = replay.replay;
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
