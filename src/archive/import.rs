//! Importing a family's archive into this vault: everything is checked first (the container, every hash, the
//! ledger against its signed checkpoint, the records' structure, what the archive says of the family), then the
//! files are uploaded and, in one transaction, every row written (`cartable_vault::Import`). Blocking: it runs on a
//! thread of its own; the vault's calls run on the runtime through `handle`.

use std::collections::HashSet;
use std::io::{Read, Seek};
use std::sync::mpsc;

use anyhow::{Context, anyhow, bail};
use cartable_consent::{Doctype, FamilyId, Forbid, Grant, Grantee, MemberId, RecordId, Role, ServiceId};
use cartable_export::{ArchiveReader, Scope};
use cartable_vault::{ArchivedFile, ArchivedMember, ArchivedRow, ArchivedService, FamilyArchive, Import, ImportBatch, ImportReport, Vault};
use serde::Deserialize;

use super::lines::LineSink;
use super::verify::{collection_paths, verify_archive};

/// Records sent to the vault per batch, and ledger entries.
const RECORD_BATCH: usize = 500;
const LEDGER_BATCH: usize = 1000;
/// The largest `members.json`, `services.json`, `grants.json`, `prohibitions.json` and `family.json` read.
const SMALL_ENTRY: u64 = 64 * 1024 * 1024;

/// What a long import tells its caller as it goes.
pub(crate) trait ImportProgress: Sync {
    /// A phase begins: `checking`, `files`, `records`.
    fn phase(&self, name: &'static str);
    /// How many of the phase's items are done.
    fn done(&self, count: u64);
}

/// Checks the archive, then imports it; the family keeps its id, and its log gains an `import` entry.
pub(crate) fn import_archive<R: Read + Seek + Send>(
    handle: &tokio::runtime::Handle,
    vault: &Vault,
    archive: &mut ArchiveReader<R>,
    key: Option<&str>,
    progress: &dyn ImportProgress,
) -> anyhow::Result<ImportReport> {
    if archive.manifest().scope != Scope::Family {
        bail!("this archive holds what one member or one service may see of the family, not the whole family: only an archive of the whole family (the operator's, or a guardian's who manages every child) is imported");
    }
    progress.phase("checking");
    verify_archive(archive, key, &mut |n| progress.done(n))?;
    let plan = family_of(archive)?;
    let mut import = handle.block_on(vault.begin_import(plan))?;
    let result = upload_files(handle, &mut import, archive, progress);
    if let Err(e) = result {
        handle.block_on(import.abort());
        return Err(e);
    }
    progress.phase("records");
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || stream_rows(archive, &sender, progress));
        let committed = handle.block_on(import.commit(receiver));
        let streamed = reader.join().map_err(|_| anyhow!("reading the archive stopped"))?;
        match (committed, streamed) {
            (Ok(report), Ok(())) => Ok(report),
            // The vault's refusal explains; the reader then only saw its channel closed.
            (Err(e), _) => Err(e.into()),
            (Ok(_), Err(e)) => Err(e),
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FamilyFile {
    family_id: FamilyId,
    name: String,
    #[allow(dead_code)]
    exported_at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberLine {
    member_id: MemberId,
    role: String,
    name: String,
    birth_date: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceLine {
    service_id: ServiceId,
    name: String,
    description: Option<String>,
}

#[derive(Deserialize)]
struct GrantLine {
    #[serde(flatten)]
    grant: Grant,
    purpose_salt: Option<String>,
}

fn read_json<T: serde::de::DeserializeOwned, R: Read + Seek>(archive: &mut ArchiveReader<R>, path: &str) -> anyhow::Result<T> {
    let bytes = archive.read_small(path, SMALL_ENTRY)?;
    serde_json::from_slice(&bytes).map_err(|e| anyhow!("`{path}` is not what the format says: {e}"))
}

/// What the archive says of the family (its JSON entries), in the vault's terms.
fn family_of<R: Read + Seek>(archive: &mut ArchiveReader<R>) -> anyhow::Result<FamilyArchive> {
    let family: FamilyFile = read_json(archive, "family.json")?;
    if family.family_id.to_string() != archive.manifest().family_id {
        bail!("`family.json` names another family than the manifest");
    }
    let members: Vec<MemberLine> = read_json(archive, "members.json")?;
    let members = members
        .into_iter()
        .map(|m| {
            let role = match m.role.as_str() {
                "guardian" => Role::Guardian,
                "child" => Role::Child,
                other => bail!("member `{}` has the role `{other}`, which is neither `guardian` nor `child`", m.member_id),
            };
            let birth_date = m
                .birth_date
                .map(|d| time::Date::parse(&d, &time::format_description::well_known::Iso8601::DATE).map_err(|_| anyhow!("member `{}`: `{d}` is not a date", m.member_id)))
                .transpose()?;
            Ok(ArchivedMember { id: m.member_id, role, name: m.name, birth_date })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let grants: Vec<GrantLine> = read_json(archive, "grants.json")?;
    let grants: Vec<(Grant, Option<String>)> = grants.into_iter().map(|g| (g.grant, g.purpose_salt)).collect();
    // Archives written before `services.json` name their services by id only.
    let mut services: Vec<ArchivedService> = if archive.contains("services.json") {
        let lines: Vec<ServiceLine> = read_json(archive, "services.json")?;
        lines.into_iter().map(|s| ArchivedService { id: s.service_id, name: s.name, description: s.description }).collect()
    } else {
        Vec::new()
    };
    let listed: HashSet<ServiceId> = services.iter().map(|s| s.id).collect();
    for (grant, _) in &grants {
        if let Grantee::Service(id) = grant.grantee
            && !listed.contains(&id)
            && !services.iter().any(|s| s.id == id)
        {
            services.push(ArchivedService { id, name: format!("service {id}"), description: None });
        }
    }
    let prohibitions: Vec<Forbid> = read_json(archive, "prohibitions.json")?;
    Ok(FamilyArchive { family: family.family_id, name: family.name, members, services, grants, prohibitions })
}

/// A line of `records.jsonl` (the checks of the format were made by `verify`; these are the fields kept).
#[derive(Deserialize)]
struct RecordLine {
    record_id: RecordId,
    child_id: MemberId,
    doctype: Doctype,
    source: String,
    version: i64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: time::OffsetDateTime,
    kind: String,
    body: Option<serde_json::Value>,
    file: Option<FileLine>,
}

#[derive(Deserialize)]
struct FileLine {
    name: String,
    size: u64,
    sha256: String,
    path: String,
}

impl RecordLine {
    fn parse(line: &[u8], collection: &str) -> std::io::Result<RecordLine> {
        let parsed: RecordLine = serde_json::from_slice(line).map_err(|e| std::io::Error::other(format!("`{collection}`: a line is not a record: {e}")))?;
        if collection != format!("children/{}/{}/records.jsonl", parsed.child_id, parsed.doctype.as_str()) {
            return Err(std::io::Error::other(format!("`{collection}` holds record `{}` of another collection", parsed.record_id)));
        }
        Ok(parsed)
    }

    fn row(&self) -> ArchivedRow {
        ArchivedRow {
            id: self.record_id,
            child: self.child_id,
            doctype: self.doctype,
            source: self.source.clone(),
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Uploads every file the collections name, each streamed from its entry (and its hash checked again) into the
/// vault's blob store.
fn upload_files<R: Read + Seek + Send>(handle: &tokio::runtime::Handle, import: &mut Import, archive: &mut ArchiveReader<R>, progress: &dyn ImportProgress) -> anyhow::Result<()> {
    progress.phase("files");
    let mut uploaded = 0;
    for collection in collection_paths(archive) {
        let mut files = Vec::new();
        let mut lines = LineSink::new(|line: &[u8]| {
            let record = RecordLine::parse(line, &collection)?;
            if let (true, Some(file)) = (record.kind == "file", &record.file) {
                let archived = ArchivedFile { row: record.row(), name: file.name.clone(), size: file.size, sha256: file.sha256.clone() };
                files.push((archived, file.path.clone()));
            }
            Ok(())
        });
        archive.copy_verified(&collection, &mut lines)?;
        lines.finish()?;
        for (file, path) in files {
            let (chunks, reader) = pipe();
            let id = file.row.id;
            std::thread::scope(|scope| {
                let copier = scope.spawn(|| {
                    let mut chunks = chunks;
                    let copied = archive.copy_verified(&path, &mut chunks);
                    if let Err(e) = &copied {
                        chunks.fail(e.to_string());
                    }
                    copied
                });
                let added = handle.block_on(import.add_file(file, Box::new(reader)));
                let copied = copier.join().map_err(|_| anyhow!("reading the archive stopped"))?;
                // The vault's refusal first: the copier then only saw its pipe closed.
                added.with_context(|| format!("the file of record `{id}`"))?;
                copied.with_context(|| format!("the file of record `{id}`")).map(|_| ())
            })?;
            uploaded += 1;
            progress.done(uploaded);
        }
    }
    Ok(())
}

/// Sends every record (but files, uploaded already) and then every ledger entry to the vault, in batches, and
/// `Done` last: a stream cut short is never taken for a whole one.
fn stream_rows<R: Read + Seek>(archive: &mut ArchiveReader<R>, sender: &tokio::sync::mpsc::Sender<ImportBatch>, progress: &dyn ImportProgress) -> anyhow::Result<()> {
    let send = |batch: ImportBatch| sender.blocking_send(batch).map_err(|_| std::io::Error::other("the import stopped"));
    let mut count = 0u64;
    for collection in collection_paths(archive) {
        let mut batch = Vec::with_capacity(RECORD_BATCH);
        let mut lines = LineSink::new(|line: &[u8]| {
            let record = RecordLine::parse(line, &collection)?;
            if record.kind == "record" {
                let body = record.body.clone().ok_or_else(|| std::io::Error::other(format!("record `{}` has no body", record.record_id)))?;
                batch.push((record.row(), body));
                count += 1;
                if batch.len() == RECORD_BATCH {
                    send(ImportBatch::Records(std::mem::take(&mut batch)))?;
                    progress.done(count);
                }
            }
            Ok(())
        });
        archive.copy_verified(&collection, &mut lines)?;
        lines.finish()?;
        if !batch.is_empty() {
            send(ImportBatch::Records(batch))?;
            progress.done(count);
        }
    }
    let mut entries = Vec::with_capacity(LEDGER_BATCH);
    let mut lines = LineSink::new(|line: &[u8]| {
        entries.push(line.to_vec());
        if entries.len() == LEDGER_BATCH {
            send(ImportBatch::Ledger(std::mem::take(&mut entries)))?;
        }
        Ok(())
    });
    archive.copy_verified("ledger/entries.jsonl", &mut lines)?;
    lines.finish()?;
    if !entries.is_empty() {
        send(ImportBatch::Ledger(entries))?;
    }
    send(ImportBatch::Done)?;
    Ok(())
}

/// A pipe from a thread that writes an entry to the vault's upload, which reads it on a thread of its own.
fn pipe() -> (PipeWriter, PipeReader) {
    let (sender, receiver) = mpsc::sync_channel(4);
    (PipeWriter { sender }, PipeReader { receiver, chunk: Vec::new(), at: 0 })
}

struct PipeWriter {
    sender: mpsc::SyncSender<Result<Vec<u8>, String>>,
}

impl PipeWriter {
    /// The entry could not be read whole or its hash differs: the reader fails instead of seeing its end.
    fn fail(&self, reason: String) {
        let _ = self.sender.send(Err(reason));
    }
}

impl std::io::Write for PipeWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.sender.send(Ok(bytes.to_vec())).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload stopped"))?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct PipeReader {
    receiver: mpsc::Receiver<Result<Vec<u8>, String>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.receiver.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Ok(Err(reason)) => return Err(std::io::Error::other(reason)),
                // The writer is gone after the whole entry was read and its hash checked.
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
