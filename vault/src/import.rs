//! Importing a family from its archive: the same family (its id, members, records, files, grants, prohibitions and
//! every entry of its ledger, byte for byte) under keys of this vault's own.
//!
//! An import is an operator's bootstrap step, like [`Vault::create_family`]: there is no family yet to decide on.
//! It runs in two steps so that nothing is half-written:
//! - [`Vault::begin_import`] checks what the archive says of the family, marks the import (`family_imports`, so the
//!   sweep at start keeps the blobs of a family that has no row yet) and makes the family's keys; then
//!   [`Import::add_file`] uploads each file (encrypted on the way, like any file);
//! - [`Import::commit`] writes every row in one transaction: the family, members, services it does not know,
//!   grants, prohibitions, records (streamed in batches), the ledger's entries as they were and an `import` entry
//!   of its own; then replays the whole ledger on that transaction (`verify_ledger`: the tree, the grants, the
//!   prohibitions and the records' versions against the log) and commits only if it holds.
//!
//! A failure at any point removes the uploaded blobs and the mark: the vault is as it was.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;

use cartable_consent::ledger::{EventType, ReceiptDraft};
use cartable_consent::{Doctype, FamilyId, Forbid, ForbidScope, Grant, Grantee, MemberId, RecordId, Role, ServiceId};
use sqlx::Row;
use time::{Date, OffsetDateTime};

use crate::blobs::{Stored, blob_name};
use crate::db::to_millis;
use crate::envelope::{Field, Place};
use crate::error::{Error, Result};
use crate::keys::FamilyKey;
use crate::records::{Prepared, RowColumns, StoredFile, hex, insert_records, seal_body, serialize_body, validate_file_name, validate_source};
use crate::vault::{Vault, insert_member_row, new_family_key, validate_name};


/// What an archive says of the family, apart from its records, files and ledger (which stream).
#[derive(Debug, Clone)]
pub struct FamilyArchive {
    pub family: FamilyId,
    pub name: String,
    pub members: Vec<ArchivedMember>,
    /// The services its grants name (registered here, awaiting the operator, when this vault does not know them).
    pub services: Vec<ArchivedService>,
    /// Each grant with the salt of its purpose's digest (hex), when it had one.
    pub grants: Vec<(Grant, Option<String>)>,
    pub prohibitions: Vec<Forbid>,
}

#[derive(Debug, Clone)]
pub struct ArchivedMember {
    pub id: MemberId,
    pub role: Role,
    pub name: String,
    pub birth_date: Option<Date>,
}

#[derive(Debug, Clone)]
pub struct ArchivedService {
    pub id: ServiceId,
    pub name: String,
    pub description: Option<String>,
}

/// A record or a file's row as it was: its id, collection, author, version and times.
#[derive(Debug, Clone)]
pub struct ArchivedRow {
    pub id: RecordId,
    pub child: MemberId,
    pub doctype: Doctype,
    pub source: String,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A file as the archive describes it; its content comes as a reader.
#[derive(Debug, Clone)]
pub struct ArchivedFile {
    pub row: ArchivedRow,
    pub name: String,
    pub size: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
}

/// What streams into [`Import::commit`]: records (a body each) and the ledger's entries (in order), in any order,
/// then `Done`. A stream that ends without it was cut short, and nothing is written.
#[derive(Debug)]
pub enum ImportBatch {
    Records(RecordRows),
    Ledger(Vec<Vec<u8>>),
    Done,
}

/// Records as they stream in: each row with its body.
pub type RecordRows = Vec<(ArchivedRow, serde_json::Value)>;

/// What an import wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub family: FamilyId,
    pub members: usize,
    pub records: u64,
    pub files: u64,
    pub grants: usize,
    pub prohibitions: usize,
    /// The archive's entries; the log now holds one more, the import's own.
    pub ledger_entries: u64,
    /// The services its grants name that this vault did not know: registered, awaiting the operator's approval, with
    /// no secret yet.
    pub services_registered: Vec<ServiceId>,
}

/// An import under way: its keys, and the files uploaded so far. Finish it with [`Import::commit`], or
/// [`Import::abort`] (dropped without either, its blobs are left to the sweep at start once its lease is over).
pub struct Import {
    vault: Vault,
    archive: FamilyArchive,
    key: Arc<FamilyKey>,
    data_key_enc: Vec<u8>,
    files: Vec<(ArchivedFile, String, Stored)>,
    ids: HashSet<RecordId>,
}

impl Vault {
    /// Starts importing a family: checks what `archive` says (names, members, grants and prohibitions that hold
    /// together), that the family's id is free here (no family, no ledger: an erased family's log stays, and an
    /// import may not continue it), and that no other import of it is under way; then marks the import and makes the
    /// family's keys. An operator's bootstrap function.
    pub async fn begin_import(&self, archive: FamilyArchive) -> Result<Import> {
        check_archive(&archive)?;
        let family = archive.family.to_string();
        let head = sqlx::query("SELECT 1 FROM ledger_heads WHERE family_id = $1").bind(&family).fetch_optional(self.pool()).await?;
        if head.is_some() || self.family_exists(archive.family).await? {
            return Err(Error::InvalidInput(format!(
                "family `{}` is already here (or its erased family's ledger is): an archive is imported into a vault that never held it",
                archive.family
            )));
        }
        let now = OffsetDateTime::now_utc();
        let lease = self.import_lease();
        let mut tx = self.write_tx().await?;
        let started: Option<i64> = sqlx::query("SELECT started_at FROM family_imports WHERE family_id = $1").bind(&family).fetch_optional(&mut *tx).await?.map(|r| r.get(0));
        match started {
            Some(at) if crate::db::from_millis(at) + lease > now => {
                return Err(Error::Contended("another import of this family is under way, or was cut short a moment ago (then try again once `orphan_blob_grace` has passed)"));
            }
            // An import cut short: its blobs go before this one starts.
            Some(_) => {
                sqlx::query("UPDATE family_imports SET started_at = $1 WHERE family_id = $2").bind(to_millis(now)).bind(&family).execute(&mut *tx).await?;
                self.inner.blobs.delete_family(archive.family).await?;
            }
            None => {
                sqlx::query("INSERT INTO family_imports (family_id, started_at) VALUES ($1, $2)").bind(&family).bind(to_millis(now)).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        let (key, data_key_enc) = new_family_key(archive.family)?;
        Ok(Import { vault: self.clone(), archive, key: Arc::new(key), data_key_enc, files: Vec::new(), ids: HashSet::new() })
    }

    /// Whether an import of this family showed a sign of life within its lease (its blobs are kept by the sweep at
    /// start).
    pub(crate) async fn import_under_way(&self, family: FamilyId) -> Result<bool> {
        let started: Option<i64> = sqlx::query("SELECT started_at FROM family_imports WHERE family_id = $1")
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?
            .map(|r| r.get(0));
        Ok(started.is_some_and(|at| crate::db::from_millis(at) + self.import_lease() > OffsetDateTime::now_utc()))
    }

    /// How long an import's mark keeps its blobs from the sweep at start after its last sign of life (its start and
    /// each file uploaded): the grace of blobs without their row. A mark older than that is an import cut short,
    /// which the next import or start clears.
    fn import_lease(&self) -> time::Duration {
        time::Duration::try_from(self.inner.orphan_blob_grace).unwrap_or(time::Duration::minutes(15))
    }
}

impl Import {
    /// Uploads one file (streamed, encrypted on the way); its content must have the size and SHA-256 the archive
    /// gives, and its row must be of a child of the family.
    pub async fn add_file(&mut self, file: ArchivedFile, content: Box<dyn Read + Send>) -> Result<()> {
        self.check_row(&file.row)?;
        let name = validate_file_name(&file.name)?;
        if name != file.name {
            return Err(Error::InvalidInput(format!("file `{}`: its name is not one Cartable keeps", file.row.id)));
        }
        let blob = blob_name(file.row.id, file.row.version);
        let stored = self.vault.inner.blobs.put(self.key.clone(), self.archive.family, &blob, content).await?;
        if stored.size != file.size || !hex(&stored.sha256).eq_ignore_ascii_case(&file.sha256) {
            self.vault.inner.blobs.delete(self.archive.family, &blob).await;
            return Err(Error::InvalidInput(format!("file `{}` is not the file the archive describes (size or SHA-256)", file.row.id)));
        }
        self.files.push((file, blob, stored));
        // A sign of life: the sweep at start of another process keeps these blobs a while longer.
        sqlx::query("UPDATE family_imports SET started_at = $1 WHERE family_id = $2")
            .bind(to_millis(OffsetDateTime::now_utc()))
            .bind(self.archive.family.to_string())
            .execute(self.vault.pool())
            .await?;
        Ok(())
    }

    /// Writes the family in one transaction (see the module's documentation), with the records and ledger entries
    /// received from `batches` until it closes, and commits only if the replay of its ledger holds.
    pub async fn commit(mut self, batches: tokio::sync::mpsc::Receiver<ImportBatch>) -> Result<ImportReport> {
        let mut written_blobs: Vec<String> = self.files.iter().map(|(_, blob, _)| blob.clone()).collect();
        let result = self.write(batches, &mut written_blobs).await;
        match result {
            Ok(report) => {
                self.vault.cache_family_key(self.archive.family, self.key.clone());
                Ok(report)
            }
            Err(e) => {
                self.remove(&written_blobs).await;
                Err(e)
            }
        }
    }

    /// Gives the import up: its blobs and its mark are removed.
    pub async fn abort(self) {
        let blobs: Vec<String> = self.files.iter().map(|(_, blob, _)| blob.clone()).collect();
        self.remove(&blobs).await;
    }

    async fn remove(&self, blobs: &[String]) {
        for blob in blobs {
            self.vault.inner.blobs.delete(self.archive.family, blob).await;
        }
        let done = sqlx::query("DELETE FROM family_imports WHERE family_id = $1").bind(self.archive.family.to_string()).execute(self.vault.pool()).await;
        if done.is_err() {
            tracing::warn!(family = %self.archive.family, "an import's mark could not be removed; the sweep at start removes it once its lease is over");
        }
    }

    fn check_row(&mut self, row: &ArchivedRow) -> Result<()> {
        let child = self.archive.members.iter().find(|m| m.id == row.child);
        if child.is_none_or(|m| m.role != Role::Child) {
            return Err(Error::InvalidInput(format!("record `{}` is about `{}`, who is not a child of the family", row.id, row.child)));
        }
        validate_source(&row.source)?;
        if row.version < 1 || row.updated_at < row.created_at {
            return Err(Error::InvalidInput(format!("record `{}`: a version from 1 and a last change after its creation", row.id)));
        }
        if !self.ids.insert(row.id) {
            return Err(Error::InvalidInput(format!("record `{}` is in the archive twice", row.id)));
        }
        Ok(())
    }

    async fn write(&mut self, mut batches: tokio::sync::mpsc::Receiver<ImportBatch>, written_blobs: &mut Vec<String>) -> Result<ImportReport> {
        let vault = self.vault.clone();
        let family = self.archive.family;
        let backend = vault.backend();
        let mut tx = vault.write_tx().await?;
        vault.insert_family(&mut tx, family, &self.key, &self.data_key_enc, &self.archive.name).await.map_err(|e| match e {
            Error::Database(_) => Error::InvalidInput(format!("family `{family}` came into this vault while importing")),
            e => e,
        })?;
        for m in &self.archive.members {
            insert_member_row(&mut tx, &self.key, family, m.id, m.role, &m.name, m.birth_date, None).await?;
        }
        let mut registered = Vec::new();
        for s in &self.archive.services {
            if vault.register_imported_service(&mut tx, s).await? {
                registered.push(s.id);
            }
        }
        for (grant, salt) in &self.archive.grants {
            crate::grants::insert_imported_grant(&mut tx, &self.key, grant, salt.as_deref()).await?;
        }
        let now = to_millis(OffsetDateTime::now_utc());
        for f in &self.archive.prohibitions {
            sqlx::query("INSERT INTO prohibitions (family_id, doctype, scope, created_at) VALUES ($1, $2, $3, $4)")
                .bind(family.to_string())
                .bind(f.doctype.as_str())
                .bind(f.scope.as_stored())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        let mut collections: HashMap<(MemberId, Doctype), String> = HashMap::new();
        let (mut records, mut ledger_entries, mut frontier) = (0u64, 0u64, None);
        loop {
            let Some(batch) = batches.recv().await else {
                return Err(Error::InvalidInput("the archive's records or ledger ended before their end".to_owned()));
            };
            match batch {
                ImportBatch::Done => break,
                ImportBatch::Records(rows) => {
                    for (row, _) in &rows {
                        self.check_row(row)?;
                    }
                    // One collection at a time, as they are stored.
                    let mut by_collection: Vec<((MemberId, Doctype), RecordRows)> = Vec::new();
                    for (row, body) in rows {
                        match by_collection.last_mut() {
                            Some((at, list)) if *at == (row.child, row.doctype) => list.push((row, body)),
                            _ => by_collection.push(((row.child, row.doctype), vec![(row, body)])),
                        }
                    }
                    for ((child, doctype), rows) in by_collection {
                        let collection = collection_of(&mut tx, &mut collections, family, child, doctype, now).await?;
                        let mut prepared = Vec::with_capacity(rows.len());
                        let mut sources = Vec::with_capacity(rows.len());
                        for (row, body) in &rows {
                            let plain = serialize_body(body)?;
                            let text = RowText::of(row);
                            let columns = text.columns(row, &collection, "record");
                            let sealed = seal_body(&vault.inner.blobs, &self.key, family, row.id, &columns, &plain).await?;
                            if let Some(blob) = &sealed.blob {
                                written_blobs.push(blob.clone());
                            }
                            prepared.push(sealed);
                            sources.push(row.source.clone());
                        }
                        insert_records(&mut tx, backend, family, &collection, child, doctype, "record", &prepared, &sources).await?;
                        records += rows.len() as u64;
                    }
                }
                ImportBatch::Ledger(entries) => {
                    ledger_entries += entries.len() as u64;
                    frontier = Some(crate::ledger::append_verbatim(&mut tx, family, entries, frontier.as_ref()).await?);
                }
            }
        }
        let files = std::mem::take(&mut self.files);
        let file_count = files.len() as u64;
        for (file, blob, stored) in files {
            let collection = collection_of(&mut tx, &mut collections, family, file.row.child, file.row.doctype, now).await?;
            let text = RowText::of(&file.row);
            let columns = text.columns(&file.row, &collection, "file");
            let meta = StoredFile { name: file.name.clone(), size: stored.size, sha256: hex(&stored.sha256), blob_head: hex(&stored.head) };
            let meta = zeroize::Zeroizing::new(serde_json::to_vec(&meta).expect("file metadata serializes"));
            let sealed = self.key.seal(&Place { family, field: Field::Record(&columns.place(Some(&blob), stored.size as i64)) }, &meta)?;
            let prepared = [Prepared::new(file.row.id, sealed, Some(blob), stored.size as i64, &columns)];
            insert_records(&mut tx, backend, family, &collection, file.row.child, file.row.doctype, "file", &prepared, std::slice::from_ref(&file.row.source)).await?;
        }
        let draft = ReceiptDraft::new(family, EventType::Import, cartable_consent::Principal::Operator, OffsetDateTime::now_utc());
        crate::ledger::append(&mut tx, backend, draft).await?;
        vault.verify_ledger_on(&mut tx, family).await.map_err(|e| match e {
            crate::VerifyError::Broken { index, reason, .. } => {
                Error::InvalidInput(format!("the archive's ledger does not agree with its data at entry {index}: {reason}"))
            }
            crate::VerifyError::Unchecked(e) => e,
        })?;
        sqlx::query("DELETE FROM family_imports WHERE family_id = $1").bind(family.to_string()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(ImportReport {
            family,
            members: self.archive.members.len(),
            records,
            files: file_count,
            grants: self.archive.grants.len(),
            prohibitions: self.archive.prohibitions.len(),
            ledger_entries,
            services_registered: registered,
        })
    }
}

/// A row's clear columns as they were (owned here; [`RowColumns`] borrows them).
struct RowText {
    id: String,
    child: String,
    source: String,
}

impl RowText {
    fn of(row: &ArchivedRow) -> Self {
        RowText { id: row.id.to_string(), child: row.child.to_string(), source: row.source.clone() }
    }

    fn columns<'a>(&'a self, row: &ArchivedRow, collection: &'a str, kind: &'a str) -> RowColumns<'a> {
        RowColumns {
            id: self.id.clone(),
            collection,
            child: &self.child,
            doctype: row.doctype.as_str(),
            kind,
            source: &self.source,
            version: row.version,
            created_at: to_millis(row.created_at),
            updated_at: to_millis(row.updated_at),
        }
    }
}

/// The id of a collection of the family being written, made on first use (inside the import's transaction).
async fn collection_of(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    known: &mut HashMap<(MemberId, Doctype), String>,
    family: FamilyId,
    child: MemberId,
    doctype: Doctype,
    now: i64,
) -> Result<String> {
    if let Some(id) = known.get(&(child, doctype)) {
        return Ok(id.clone());
    }
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query("INSERT INTO collections (id, family_id, child_id, doctype, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(family.to_string())
        .bind(child.to_string())
        .bind(doctype.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    known.insert((child, doctype), id.clone());
    Ok(id)
}

/// What the archive says of the family holds together: names Cartable keeps, members once each (a child with a
/// birth date), grants and prohibitions of this family about its children, naming members and services it lists.
fn check_archive(archive: &FamilyArchive) -> Result<()> {
    let family = archive.family;
    validate_name(&archive.name)?;
    let mut members = HashMap::new();
    for m in &archive.members {
        validate_name(&m.name)?;
        if m.role == Role::Child && m.birth_date.is_none() {
            return Err(Error::InvalidInput(format!("member `{}` is a child without a birth date", m.id)));
        }
        if members.insert(m.id, m.role).is_some() {
            return Err(Error::InvalidInput(format!("member `{}` is listed twice", m.id)));
        }
    }
    let is_child = |id: MemberId| members.get(&id) == Some(&Role::Child);
    let services: HashSet<ServiceId> = archive.services.iter().map(|s| s.id).collect();
    if services.len() != archive.services.len() {
        return Err(Error::InvalidInput("a service is listed twice".to_owned()));
    }
    let mut grants = HashSet::new();
    for (g, _) in &archive.grants {
        let grantee_known = match g.grantee {
            Grantee::Service(s) => services.contains(&s),
            Grantee::Member(m) => members.contains_key(&m),
        };
        if g.family != family || !is_child(g.child) || !grantee_known || g.doctypes.is_empty() || g.actions.is_empty() {
            return Err(Error::InvalidInput(format!("grant `{}` is not one of this family's children, or names a grantee the archive does not list", g.id)));
        }
        if !grants.insert(g.id) {
            return Err(Error::InvalidInput(format!("grant `{}` is listed twice", g.id)));
        }
    }
    let mut prohibitions = HashSet::new();
    for f in &archive.prohibitions {
        let scope_ok = match f.scope {
            ForbidScope::Minors => true,
            ForbidScope::Adult(child) => is_child(child),
        };
        if f.family != family || !scope_ok || !prohibitions.insert((f.doctype, f.scope)) {
            return Err(Error::InvalidInput(format!("a prohibition of {} is not one of this family's, or is listed twice", f.doctype.as_str())));
        }
    }
    Ok(())
}
