//! Writing a family's archive, as a stream into any `Write`: the command line's file (or age stream), the API's
//! response body. Who exports decides what goes in ([`Exporter`]): every part is read under a permit decided and
//! logged for them, so an export is itself in the ledger it carries.

use std::io::Write;

use anyhow::{Context, anyhow, bail};
use cartable_consent::ledger::LedgerVerifier;
use cartable_consent::{Action, Doctype, FamilyId, Grant, Grantee, MemberId, Resource, ServiceId};
use cartable_export::{ArchiveWriter, ManifestHead, Scope, file_component};
use cartable_vault::{LedgerFilter, Permit, RecordDocument, Vault};
use serde_json::json;

use super::lines::Paged;

/// Records read per page while a collection streams into the archive.
const PAGE: u32 = 500;

/// Who exports, and so what the archive holds. Its methods block (they run on the export's blocking thread).
pub(crate) trait Exporter {
    /// The view the archive is of.
    fn scope(&self) -> Scope;
    /// A permit for one access, decided and logged for the exporter; an error if the family's rules refuse it.
    fn decide(&self, action: Action, resource: Resource) -> anyhow::Result<Permit>;
    /// The permit to read the family's register, or `None` for an exporter who reads no register (a service): then
    /// the archive holds no names, members, grants or ledger.
    fn register(&self) -> anyhow::Result<Option<Permit>>;
    /// The collections to export (those that hold records), each to be decided for `export`.
    fn collections(&self) -> anyhow::Result<Vec<(MemberId, Doctype)>>;
}

/// The operator at the console: the whole family (`Scope::Family`), every part decided and logged as the
/// operator's access.
pub(crate) struct OperatorExport<'a> {
    pub(crate) handle: &'a tokio::runtime::Handle,
    pub(crate) vault: &'a Vault,
    pub(crate) family: FamilyId,
}

impl Exporter for OperatorExport<'_> {
    fn scope(&self) -> Scope {
        Scope::Family
    }

    fn decide(&self, action: Action, resource: Resource) -> anyhow::Result<Permit> {
        Ok(self.handle.block_on(self.vault.as_operator(self.family, action, resource))?)
    }

    fn register(&self) -> anyhow::Result<Option<Permit>> {
        Ok(Some(self.handle.block_on(self.vault.operator_register(self.family))?))
    }

    fn collections(&self) -> anyhow::Result<Vec<(MemberId, Doctype)>> {
        let list = self.decide(Action::List, Resource::Family)?;
        let all = self.handle.block_on(self.vault.api().collections(&list))?;
        Ok(all.into_iter().filter(|c| c.records > 0).map(|c| (c.child, c.doctype)).collect())
    }
}

/// What an export wrote, for its caller to print.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct ExportSummary {
    pub(crate) family_id: FamilyId,
    pub(crate) entries: usize,
    pub(crate) bytes: u64,
    pub(crate) records: u64,
    pub(crate) files: u64,
    pub(crate) ledger_entries: u64,
}

pub(crate) fn record_line(doc: &RecordDocument, file_path: Option<&str>) -> serde_json::Value {
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

/// Writes the archive into `out` and gives it back (an age stream must still be finished). Blocking: the zip and
/// the files' readers block; the vault's calls run on the runtime through `handle`. `progress` is told the count of
/// records and files written so far.
pub(crate) fn write_archive<W: Write>(
    handle: &tokio::runtime::Handle,
    vault: &Vault,
    exporter: &dyn Exporter,
    family: FamilyId,
    out: W,
    progress: &dyn Fn(u64),
) -> anyhow::Result<(W, ExportSummary)> {
    let register = exporter.register()?;
    let mut archive = ArchiveWriter::new(out);
    let now = time::OffsetDateTime::now_utc();
    let exported_at = now.format(&time::format_description::well_known::Rfc3339)?;
    // The family's own parts, for an exporter who reads the register: names, members, grants, policies.
    let family_parts = match &register {
        Some(register) => {
            let read = exporter.decide(Action::Read, Resource::Family)?;
            let name = handle.block_on(vault.family_name(&read))?;
            let members = handle.block_on(vault.list_members(&read))?;
            let grants = handle.block_on(vault.grants_for_archive(register))?;
            let policies = handle.block_on(vault.policy_text(register))?;
            let prohibitions = handle.block_on(vault.forbids(register))?;
            let service_ids: Vec<ServiceId> = grants.iter().filter_map(|(g, _)| match g.grantee {
                Grantee::Service(s) => Some(s),
                Grantee::Member(_) => None,
            }).collect();
            let services = handle.block_on(vault.service_profiles(&service_ids))?;
            archive.add_json("family.json", &json!({"family_id": family, "name": name, "exported_at": exported_at}))?;
            let members_json: Vec<serde_json::Value> = members
                .iter()
                .map(|m| json!({"member_id": m.id, "role": m.role.as_str(), "name": m.name, "birth_date": m.birth_date.map(|d| d.to_string())}))
                .collect();
            archive.add_json("members.json", &members_json)?;
            let mut services_json: Vec<serde_json::Value> =
                services.iter().map(|(id, p)| json!({"service_id": id, "name": p.name, "description": p.description})).collect();
            services_json.sort_by(|a, b| a["service_id"].as_str().cmp(&b["service_id"].as_str()));
            archive.add_json("services.json", &services_json)?;
            let grants_json = grants
                .iter()
                .map(|(grant, salt)| {
                    let mut value = serde_json::to_value(grant)?;
                    value["purpose_salt"] = salt.clone().into();
                    Ok(value)
                })
                .collect::<serde_json::Result<Vec<_>>>()?;
            archive.add_json("grants.json", &grants_json)?;
            let grants: Vec<Grant> = grants.into_iter().map(|(g, _)| g).collect();
            archive.add_json("prohibitions.json", &prohibitions)?;
            archive.add_bytes("policies.cedar", policies.as_bytes())?;
            Some((name, members, grants, prohibitions.len()))
        }
        None => {
            archive.add_json("family.json", &json!({"family_id": family, "exported_at": exported_at}))?;
            None
        }
    };

    let (mut records, mut files) = (0u64, 0u64);
    let mut exported = Vec::new();
    for (child, doctype) in exporter.collections()? {
        let permit = exporter.decide(Action::Export, Resource::Collection { child, doctype })?;
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
        let path = format!("children/{child}/{}/records.jsonl", doctype.as_str());
        let written = archive.add(&path, None, &mut lines).map(|_| ());
        drop(lines);
        if let Err(e) = written {
            return Err(failed.map(anyhow::Error::from).unwrap_or_else(|| e.into()));
        }
        progress(records + files);
        for (id, path, size) in found {
            let (_, mut reader) = handle.block_on(vault.open_collection_file(&permit, id))?;
            archive.add(&path, Some(size), &mut reader).with_context(|| format!("file `{id}` could not be read from the vault"))?;
            files += 1;
            progress(records + files);
        }
        exported.push((child, doctype, permit));
    }

    let mut ledger_entries = 0;
    let mut counts = vec![("records", records), ("files", files)];
    if let (Some(register), Some((name, members, grants, prohibitions))) = (&register, &family_parts) {
        ledger_entries = write_ledger(handle, vault, register, exporter.scope(), &mut archive, |archive, size| {
            let page = super::page::Page {
                handle,
                vault,
                family_name: name,
                exported_at: now,
                members,
                collections: &exported,
                grants,
                register,
                ledger_size: size,
            };
            archive.add_written("index.html", |out| page.write(out)).map(|_| ())
        })?;
        counts.extend([("members", members.len() as u64), ("grants", grants.len() as u64), ("prohibitions", *prohibitions as u64), ("ledger_entries", ledger_entries)]);
    }
    let (entry_count, bytes) = archive.written();
    let head = ManifestHead {
        cartable_version: env!("CARGO_PKG_VERSION").to_owned(),
        family_id: family.to_string(),
        created_at: exported_at,
        counts: counts.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        scope: exporter.scope(),
    };
    let out = archive.finish(head)?;
    Ok((out, ExportSummary { family_id: family, entries: entry_count + 1, bytes, records, files, ledger_entries }))
}

/// The ledger, last: its checkpoint first (signed, of the size it names), then the entries up to that size that the
/// register permit shows (so the decisions of this very export are in it), then, for a member's view
/// (`Scope::Member`), each entry's inclusion proof against that checkpoint, then the page (`page`, which reads the
/// log again up to that size), the checkpoint and the key. Returns how many entries were written.
fn write_ledger<W: Write>(
    handle: &tokio::runtime::Handle,
    vault: &Vault,
    register: &Permit,
    scope: Scope,
    archive: &mut ArchiveWriter<W>,
    page: impl FnOnce(&mut ArchiveWriter<W>, u64) -> Result<(), cartable_export::WriteError>,
) -> anyhow::Result<u64> {
    let checkpoint = handle.block_on(vault.checkpoint(register))?;
    let size = LedgerVerifier::parse(&vault.ledger_verifier_key())
        .map_err(|e| anyhow!("the server's ledger key: {e}"))?
        .verify_note(&checkpoint)
        .map_err(|e| anyhow!("the server's own checkpoint does not verify: {e}"))?
        .size();
    // The whole log is consecutive; a member's view skips what they may not see, and proves what it holds.
    let whole = scope == Scope::Family;
    let (mut after, mut written, mut failed) = (None::<u64>, Vec::new(), None);
    let mut ledger = Paged::new(|buffer: &mut Vec<u8>| {
        let filter = LedgerFilter { after_index: after, limit: Some(1000), ..LedgerFilter::default() };
        let page = match handle.block_on(vault.ledger_entries(register, &filter)) {
            Ok(page) => page,
            Err(e) => {
                failed = Some(e);
                return Err(std::io::Error::other("a page of the ledger could not be read"));
            }
        };
        for entry in page.iter().take_while(|e| e.index < size) {
            if whole && entry.index != written.len() as u64 {
                return Err(std::io::Error::other("the ledger's entries are not consecutive"));
            }
            buffer.extend_from_slice(&entry.receipt.canonical_bytes());
            buffer.push(b'\n');
            written.push(entry.index);
        }
        after = page.last().map(|e| e.index).or(after);
        Ok(page.len() == 1000 && after.is_some_and(|a| a + 1 < size))
    });
    let result = archive.add("ledger/entries.jsonl", None, &mut ledger).map(|_| ());
    drop(ledger);
    if let Err(e) = result {
        return Err(failed.map(anyhow::Error::from).unwrap_or_else(|| e.into()));
    }
    if whole && written.len() as u64 != size {
        bail!("the ledger holds fewer entries than its checkpoint names");
    }
    if !whole {
        write_proofs(handle, vault, register, size, &written, archive)?;
    }
    page(archive, size)?;
    archive.add_bytes("ledger/checkpoint.txt", checkpoint.as_bytes())?;
    archive.add_bytes("ledger/verifier.key", vault.ledger_verifier_key().as_bytes())?;
    Ok(written.len() as u64)
}

/// `ledger/proofs.jsonl`: the inclusion proof of each entry written (`written`, their indices), in the tree of
/// `size` entries, one line each and in the same order: `{"index": …, "hashes": [base64, …]}`.
fn write_proofs<W: Write>(
    handle: &tokio::runtime::Handle,
    vault: &Vault,
    register: &Permit,
    size: u64,
    written: &[u64],
    archive: &mut ArchiveWriter<W>,
) -> anyhow::Result<()> {
    use base64::Engine as _;
    let (mut done, mut failed) = (0usize, None);
    let mut proofs = Paged::new(|buffer: &mut Vec<u8>| {
        let after = done.checked_sub(1).map(|i| written[i]);
        let page = match handle.block_on(vault.ledger_entries_proven(register, size, after, 1000)) {
            Ok(page) => page,
            Err(e) => {
                failed = Some(anyhow::Error::from(e));
                return Err(std::io::Error::other("a page of the ledger's proofs could not be read"));
            }
        };
        for (entry, hashes) in &page {
            // The rules decide what a member sees now: should they change during the export, the proofs would not
            // be of the entries written.
            if written.get(done) != Some(&entry.index) {
                failed = Some(anyhow!("the family's rules changed during the export: export again"));
                return Err(std::io::Error::other("the proofs are not of the entries written"));
            }
            let hashes: Vec<String> = hashes.iter().map(|h| base64::engine::general_purpose::STANDARD.encode(h)).collect();
            serde_json::to_writer(&mut *buffer, &json!({"index": entry.index, "hashes": hashes})).map_err(std::io::Error::other)?;
            buffer.push(b'\n');
            done += 1;
        }
        Ok(page.len() == 1000 && done < written.len())
    });
    let result = archive.add("ledger/proofs.jsonl", None, &mut proofs).map(|_| ());
    drop(proofs);
    if let Err(e) = result {
        return Err(failed.unwrap_or_else(|| e.into()));
    }
    if done != written.len() {
        bail!("the family's rules changed during the export: export again");
    }
    Ok(())
}

/// The archive's bytes as they leave: as they are, or an age stream to a passphrase (scrypt) over them.
pub(crate) enum Sealing<W: Write> {
    Plain(W),
    Passphrase(age::stream::StreamWriter<W>),
}

impl<W: Write> Sealing<W> {
    pub(crate) fn new(out: W, passphrase: Option<age::secrecy::SecretString>) -> std::io::Result<Self> {
        Ok(match passphrase {
            None => Sealing::Plain(out),
            Some(passphrase) => Sealing::Passphrase(age::Encryptor::with_user_passphrase(passphrase).wrap_output(out)?),
        })
    }

    /// Ends the age stream (without it the archive would be cut short, silently), flushes, and gives `W` back.
    pub(crate) fn finish(self) -> std::io::Result<W> {
        let mut out = match self {
            Sealing::Plain(w) => w,
            Sealing::Passphrase(w) => w.finish()?,
        };
        out.flush()?;
        Ok(out)
    }
}

impl<W: Write> Write for Sealing<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            Sealing::Plain(w) => w.write(bytes),
            Sealing::Passphrase(w) => w.write(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sealing::Plain(w) => w.flush(),
            Sealing::Passphrase(w) => w.flush(),
        }
    }
}
