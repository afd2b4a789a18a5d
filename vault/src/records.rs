//! Records and files: sealed JSON documents bound to their row, and blobs streamed through age, bound by their head.

use std::io::Read;
use std::sync::Arc;

use cartable_consent::{Action, Doctype, FamilyId, MemberId, Principal, RecordId, Resource};

use crate::Permit;
use serde::Serialize;
use sqlx::Row;
use time::OffsetDateTime;

use crate::blobs::{BlobHead, Stored, blob_name, check_blob_name};
use crate::db::{from_millis, to_millis};
use crate::envelope::{Field, Place, RecordPlace, integrity};
use crate::error::{Error, Result};
use crate::keys::FamilyKey;
use cartable_consent::ledger::ReceiptDraft;
use crate::vault::{Vault, parse_id};

/// Bodies larger than this go to the blob store instead of the database row.
const INLINE_BODY_LIMIT: usize = 64 * 1024;
/// The largest record body accepted: records are documents; files are for anything bigger.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
const MAX_PAGE: u32 = 1000;

/// Rows per multi-row `INSERT` (`ROW_VALUES` bound values each, plus 5 shared by the batch).
const INSERT_CHUNK: usize = 500;
const ROW_VALUES: usize = 8;
/// How many times an update is tried again when another writer changed the record in between.
const UPDATE_ATTEMPTS: usize = 5;

/// A record ready to insert: id, sealed value, blob name, plaintext size, and the version and times it was sealed
/// with.
pub(crate) struct Prepared {
    pub(crate) id: RecordId,
    sealed: Vec<u8>,
    pub(crate) blob: Option<String>,
    size: i64,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl Prepared {
    /// A row sealed elsewhere (an import's file) with the columns it was sealed under.
    pub(crate) fn new(id: RecordId, sealed: Vec<u8>, blob: Option<String>, size: i64, columns: &RowColumns<'_>) -> Self {
        Prepared { id, sealed, blob, size, version: columns.version, created_at: columns.created_at, updated_at: columns.updated_at }
    }
}

/// A file's metadata as stored, sealed in its row: what [`FileInfo`] says, and the head of its blob.
#[derive(Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredFile {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) sha256: String,
    /// SHA-256 of the blob's age header and payload nonce, hex.
    pub(crate) blob_head: String,
}

/// The columns `record_row` reads, in its order; `child_id` and `doctype` first (`ApiStore::load_record` reads them).
pub(crate) const RECORD_COLUMNS: &str = "child_id, doctype, kind, source, version, body_enc, blob_key, created_at, updated_at, collection_id, size";

/// A record to store: `body` must be a JSON object.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub child: MemberId,
    pub doctype: Doctype,
    /// Who wrote it: `operator`, `member:<id>` or `service:<id>`.
    pub source: String,
    pub body: serde_json::Value,
}

/// A file's metadata (stored sealed in its row as `StoredFile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub name: String,
    pub size: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
}

/// A record as its reader sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordDocument {
    pub id: RecordId,
    pub doctype: Doctype,
    pub child: MemberId,
    pub source: String,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub file: Option<FileInfo>,
    pub body: serde_json::Value,
}

/// A line of a listing: no contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    pub id: RecordId,
    pub doctype: Doctype,
    pub child: MemberId,
    pub kind: String,
    pub version: i64,
    pub size: i64,
    pub created_at: OffsetDateTime,
}

/// Which records to list, one page at a time (by id, which sorts by creation).
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub child: Option<MemberId>,
    pub doctype: Option<Doctype>,
    pub after: Option<RecordId>,
    pub limit: Option<u32>,
}

fn check(permit: &Permit, action: Action) -> Result<()> {
    if permit.action() != action {
        return Err(Error::PermitMismatch("action"));
    }
    Ok(())
}

impl Vault {
    /// What the rules need to know about a record: its child and doctype (clear columns, no decryption).
    pub async fn record_resource(&self, family: FamilyId, id: RecordId) -> Result<Resource> {
        let row = sqlx::query("SELECT child_id, doctype FROM records WHERE id = $1 AND family_id = $2")
            .bind(id.to_string())
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or(Error::RecordNotFound(id))?;
        Ok(Resource::Record { id, child: parse_id(&row.get::<String, _>(0))?, doctype: parse_id(&row.get::<String, _>(1))? })
    }

    /// Stores one record; the permit must be for writing to the record's collection.
    pub async fn put_record(&self, permit: &Permit, record: NewRecord) -> Result<RecordId> {
        Ok(self.put_records(permit, vec![record]).await?.remove(0))
    }

    /// Stores records in one transaction (importers); the permit must cover their one collection.
    pub async fn put_records(&self, permit: &Permit, records: Vec<NewRecord>) -> Result<Vec<RecordId>> {
        check(permit, Action::Write)?;
        let family = permit.family();
        let Some(first) = records.first() else { return Ok(Vec::new()) };
        let (child, doctype) = (first.child, first.doctype);
        match permit.resource() {
            Resource::Collection { child: c, doctype: d } if c == child && d == doctype => {}
            Resource::Family => {}
            _ => return Err(Error::PermitMismatch("collection")),
        }
        if records.iter().any(|r| r.child != child || r.doctype != doctype) {
            return Err(Error::InvalidInput("a batch of records must all belong to one collection".to_owned()));
        }
        // Validate everything before any work, so a bad record in a batch changes nothing.
        let mut plains = Vec::with_capacity(records.len());
        for r in &records {
            validate_source(&r.source)?;
            plains.push((RecordId::new(), serialize_body(&r.body)?));
        }
        self.child(family, child).await?;
        let key = self.family_key(family).await?;
        let now = to_millis(OffsetDateTime::now_utc());
        // The collection's id is part of every record's place, so it is known before sealing.
        let collection = self.collection_id(family, child, doctype, now).await?;
        let sources: Vec<String> = records.iter().map(|r| r.source.clone()).collect();
        let child_s = child.to_string();
        let (mut prepared, mut failure) = (Vec::with_capacity(plains.len()), None);
        for ((id, plain), source) in plains.iter().zip(&sources) {
            let row = RowColumns { id: id.to_string(), collection: &collection, child: &child_s, doctype: doctype.as_str(), kind: "record", source, version: 1, created_at: now, updated_at: now };
            match seal_body(&self.inner.blobs, &key, family, *id, &row, plain).await {
                Ok(p) => prepared.push(p),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let result = match failure {
            Some(e) => Err(e),
            None => async {
                let mut tx = self.write_tx().await?;
                insert_records(&mut tx, self.inner.backend, family, &collection, child, doctype, "record", &prepared, &sources).await?;
                tx.commit().await?;
                Ok::<_, Error>(())
            }
            .await,
        };
        if let Err(e) = result {
            for p in &prepared {
                if let Some(name) = &p.blob {
                    self.inner.blobs.delete(family, name).await;
                }
            }
            return Err(e);
        }
        let ids: Vec<RecordId> = prepared.into_iter().map(|p| p.id).collect();
        self.records_changed(family, &ids);
        Ok(ids)
    }

    /// Rewrites a record's body and source, as its next version; the permit must be for writing that record (or its
    /// collection, or the family). The write and its ledger entry (the record's id and new version, never its
    /// content) commit together, so `ledger verify` detects a record put back to an older version. Files are not
    /// rewritten. Returns the new version.
    pub async fn update_record(&self, permit: &Permit, id: RecordId, source: String, body: serde_json::Value) -> Result<i64> {
        check(permit, Action::Write)?;
        validate_source(&source)?;
        let plain = serialize_body(&body)?;
        let family = permit.family();
        let key = self.family_key(family).await?;
        for _ in 0..UPDATE_ATTEMPTS {
            let row = self.record_row(family, id).await?;
            let current = StoredRow::from_row(&row)?;
            let (child, doctype): (MemberId, Doctype) = (parse_id(&current.child)?, parse_id(&current.doctype)?);
            match permit.resource() {
                Resource::Record { id: r, child: c, doctype: d } if r == id && c == child && d == doctype => {}
                Resource::Collection { child: c, doctype: d } if c == child && d == doctype => {}
                Resource::Family => {}
                _ => return Err(Error::PermitMismatch("record")),
            }
            if current.kind != "record" {
                return Err(Error::InvalidInput(format!("record `{id}` is a file; a file is not rewritten")));
            }
            // An update never builds on a row that fails its check: re-sealing would launder an edited row.
            let id_s = id.to_string();
            let sealed = current.body_enc.as_deref().ok_or_else(|| integrity(family, format!("record `{id}`")))?;
            key.open(&Place { family, field: Field::Record(&current.place(&id_s)) }, sealed)?;
            let version = current.version + 1;
            let now = to_millis(OffsetDateTime::now_utc()).max(current.created_at);
            let columns = RowColumns {
                id: id_s.clone(),
                collection: &current.collection,
                child: &current.child,
                doctype: &current.doctype,
                kind: "record",
                source: &source,
                version,
                created_at: current.created_at,
                updated_at: now,
            };
            let prepared = seal_body(&self.inner.blobs, &key, family, id, &columns, &plain).await?;
            let actor_role = self.cached_rules(family).and_then(|r| r.role_of(permit.principal()));
            let result = async {
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "UPDATE records SET source = $1, version = $2, body_enc = $3, blob_key = $4, size = $5, updated_at = $6 \
                     WHERE id = $7 AND family_id = $8 AND version = $9",
                )
                .bind(&source)
                .bind(version)
                .bind(&prepared.sealed)
                .bind(prepared.blob.clone())
                .bind(prepared.size)
                .bind(now)
                .bind(&id_s)
                .bind(family.to_string())
                .bind(current.version)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                let draft = ReceiptDraft::new(family, cartable_consent::ledger::EventType::RecordWrite, permit.principal(), OffsetDateTime::now_utc())
                    .access(Action::Write, Resource::Record { id, child, doctype })
                    .actor_role(actor_role)
                    .record_version(version as u64);
                crate::ledger::append(&mut tx, self.inner.backend, draft).await?;
                tx.commit().await?;
                Ok::<_, Error>(true)
            }
            .await;
            match result {
                Ok(true) => {
                    if let Some(old) = current.blob_key.as_deref()
                        && Some(old) != prepared.blob.as_deref()
                        && check_blob_name(id, old)
                    {
                        self.inner.blobs.delete(family, old).await;
                    }
                    self.records_changed(family, &[id]);
                    return Ok(version);
                }
                Ok(false) | Err(_) => {
                    if let Some(name) = &prepared.blob {
                        self.inner.blobs.delete(family, name).await;
                    }
                    result?;
                }
            }
        }
        Err(Error::Contended("the record kept changing while being updated"))
    }

    /// Reads one record; the permit must be for reading that record.
    pub async fn get_record(&self, permit: &Permit) -> Result<RecordDocument> {
        check(permit, Action::Read)?;
        let Resource::Record { id, .. } = permit.resource() else { return Err(Error::PermitMismatch("record")) };
        let row = self.record_row(permit.family(), id).await?;
        self.open_record_row(permit, row).await
    }

    /// A record's row, still encrypted: what [`Vault::open_record_row`] opens once a permit allows it.
    pub(crate) async fn record_row(&self, family: FamilyId, id: RecordId) -> Result<sqlx::any::AnyRow> {
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {RECORD_COLUMNS} FROM records WHERE id = $1 AND family_id = $2")))
            .bind(id.to_string())
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or(Error::RecordNotFound(id))
    }

    /// Decrypts a row of [`Vault::record_row`]; the permit must be for reading that record.
    pub(crate) async fn open_record_row(&self, permit: &Permit, row: sqlx::any::AnyRow) -> Result<RecordDocument> {
        Ok(self.open_row(permit, row).await?.0)
    }

    /// Opens a record's row: its document, and for a file the blob's name and head.
    async fn open_row(&self, permit: &Permit, row: sqlx::any::AnyRow) -> Result<(RecordDocument, Option<(String, BlobHead)>)> {
        check(permit, Action::Read)?;
        let Resource::Record { id, child, doctype } = permit.resource() else { return Err(Error::PermitMismatch("record")) };
        let family = permit.family();
        let stored = StoredRow::from_row(&row)?;
        if stored.child != child.to_string() || stored.doctype != doctype.as_str() {
            return Err(Error::PermitMismatch("record"));
        }
        self.open_stored(family, id, child, doctype, stored).await
    }

    /// Opens a stored row without a permit: only for what the vault does itself with the data (the search index,
    /// whose every search takes permits). Never returned to a caller as is.
    pub(crate) async fn open_stored(
        &self,
        family: FamilyId,
        id: RecordId,
        child: MemberId,
        doctype: Doctype,
        stored: StoredRow,
    ) -> Result<(RecordDocument, Option<(String, BlobHead)>)> {
        let key = self.family_key(family).await?;
        let id_s = id.to_string();
        let place = Place { family, field: Field::Record(&stored.place(&id_s)) };
        let bad = || integrity(family, format!("record `{id}`"));
        let plain = key.open(&place, stored.body_enc.as_deref().ok_or_else(bad)?)?;
        let (body, file, blob) = match (stored.kind.as_str(), stored.blob_key.as_deref()) {
            ("record", None) => (serde_json::from_slice(&plain).map_err(|_| Error::Decrypt)?, None, None),
            ("record", Some(name)) => {
                let head: BlobHead = plain.as_slice().try_into().map_err(|_| bad())?;
                if !check_blob_name(id, name) {
                    return Err(bad());
                }
                let mut reader = self.inner.blobs.open_reader(key.clone(), family, id, name, &head).await?;
                let plain = tokio::task::spawn_blocking(move || -> Result<zeroize::Zeroizing<Vec<u8>>> {
                    let mut out = zeroize::Zeroizing::new(Vec::new());
                    reader.read_to_end(&mut out).map_err(|_| Error::BlobCorrupt)?;
                    Ok(out)
                })
                .await
                .map_err(|_| Error::Io("a blob read was interrupted".to_owned()))??;
                (serde_json::from_slice(&plain).map_err(|_| Error::Decrypt)?, None, None)
            }
            ("file", Some(name)) => {
                let meta: StoredFile = serde_json::from_slice(&plain).map_err(|_| Error::Decrypt)?;
                let head = parse_head(&meta.blob_head).ok_or_else(bad)?;
                if !check_blob_name(id, name) {
                    return Err(bad());
                }
                let info = FileInfo { name: meta.name, size: meta.size, sha256: meta.sha256 };
                (serde_json::json!({}), Some(info), Some((name.to_owned(), head)))
            }
            _ => return Err(bad()),
        };
        let doc = RecordDocument {
            id,
            child,
            doctype,
            source: stored.source,
            version: stored.version,
            created_at: from_millis(stored.created_at),
            updated_at: from_millis(stored.updated_at),
            file,
            body,
        };
        Ok((doc, blob))
    }
    /// Lists records without their contents; the permit must be for listing the collection (or the family).
    pub async fn list_records(&self, permit: &Permit, filter: &RecordFilter) -> Result<Vec<RecordSummary>> {
        check(permit, Action::List)?;
        let family = permit.family();
        let (child, doctype) = match permit.resource() {
            Resource::Collection { child, doctype } => {
                if filter.child.is_some_and(|c| c != child) || filter.doctype.is_some_and(|d| d != doctype) {
                    return Err(Error::PermitMismatch("collection"));
                }
                (Some(child), Some(doctype))
            }
            Resource::Family => (filter.child, filter.doctype),
            _ => return Err(Error::PermitMismatch("collection")),
        };
        // A family-wide listing shows only the collections the principal could list one by one: a guardian
        // does not see an adult child's data through the family. The family-wide decision is the one logged.
        let visible = match (permit.resource(), permit.principal()) {
            (Resource::Family, Principal::Member(_)) => Some(self.listable_collections(permit).await?),
            _ => None,
        };
        if visible.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let mut sql = String::from(
            "SELECT id, doctype, child_id, kind, version, size, created_at FROM records \
             WHERE family_id = $1 AND ($2 IS NULL OR child_id = $2) AND ($3 IS NULL OR doctype = $3) AND ($4 IS NULL OR id > $4)",
        );
        if let Some(visible) = &visible {
            // Placeholders only: the values are bound below.
            let clauses: Vec<String> = (0..visible.len()).map(|i| format!("(child_id = ${} AND doctype = ${})", 6 + 2 * i, 7 + 2 * i)).collect();
            sql.push_str(&format!(" AND ({})", clauses.join(" OR ")));
        }
        sql.push_str(" ORDER BY id LIMIT $5");
        let limit = filter.limit.unwrap_or(100).clamp(1, MAX_PAGE) as i64;
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(family.to_string())
            .bind(child.map(|c| c.to_string()))
            .bind(doctype.map(|d| d.as_str().to_owned()))
            .bind(filter.after.map(|a| a.to_string()))
            .bind(limit);
        for (c, d) in visible.iter().flatten() {
            query = query.bind(c.to_string()).bind(d.as_str());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(RecordSummary {
                    id: parse_id(&row.get::<String, _>(0))?,
                    doctype: parse_id(&row.get::<String, _>(1))?,
                    child: parse_id(&row.get::<String, _>(2))?,
                    kind: row.get(3),
                    version: row.get(4),
                    size: row.get(5),
                    created_at: from_millis(row.get(6)),
                })
            })
            .collect()
    }

    /// Reads one page of a child's collection with the records' contents (a file's record gives its metadata), by
    /// id (creation order), after `after`, at most `limit` (1 to 1000). The permit must be for reading the collection:
    /// one logged decision covers the page, instead of one per record. A permit to export the collection reads it
    /// too.
    pub async fn read_records(&self, permit: &Permit, after: Option<RecordId>, limit: u32) -> Result<Vec<RecordDocument>> {
        if !matches!(permit.action(), Action::Read | Action::Export) {
            return Err(Error::PermitMismatch("action"));
        }
        let Resource::Collection { child, doctype } = permit.resource() else { return Err(Error::PermitMismatch("collection")) };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RECORD_COLUMNS}, id FROM records WHERE family_id = $1 AND child_id = $2 AND doctype = $3 AND ($4 IS NULL OR id > $4) \
             ORDER BY id LIMIT $5"
        )))
        .bind(permit.family().to_string())
        .bind(child.to_string())
        .bind(doctype.as_str())
        .bind(after.map(|a| a.to_string()))
        .bind(i64::from(limit.clamp(1, MAX_PAGE)))
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            // The id comes after the columns `open_row` reads from index 0.
            let id: RecordId = parse_id(&row.get::<String, _>(11))?;
            let one = permit.for_record_of_collection(id).ok_or(Error::PermitMismatch("collection"))?;
            out.push(self.open_row(&one, row).await?.0);
        }
        Ok(out)
    }

    /// The collections a permit's principal may list, each decided by the same rules (not logged one by one).
    pub(crate) async fn listable_collections(&self, permit: &Permit) -> Result<Vec<(MemberId, Doctype)>> {
        let rules = self.rules(permit.family()).await?;
        let mut out = Vec::new();
        for child in rules.members.iter().filter(|m| m.role == cartable_consent::Role::Child) {
            for doctype in Doctype::ALL {
                let request = cartable_consent::AccessRequest {
                    principal: permit.principal(),
                    action: Action::List,
                    resource: Resource::Collection { child: child.id, doctype },
                    now: permit.decided_at(),
                };
                if self.inner.authorizer.authorize(&rules.compiled, &request).is_allowed() {
                    out.push((child.id, doctype));
                }
            }
        }
        Ok(out)
    }

    /// Streams a file into the vault, encrypted on the way; never holds it whole in memory.
    pub async fn put_file(
        &self,
        permit: &Permit,
        child: MemberId,
        doctype: Doctype,
        source: String,
        name: String,
        content: Box<dyn Read + Send>,
    ) -> Result<RecordId> {
        check(permit, Action::Write)?;
        let family = permit.family();
        match permit.resource() {
            Resource::Collection { child: c, doctype: d } if c == child && d == doctype => {}
            Resource::Family => {}
            _ => return Err(Error::PermitMismatch("collection")),
        }
        validate_source(&source)?;
        let name = validate_file_name(&name)?;
        self.child(family, child).await?;
        let key = self.family_key(family).await?;
        let id = RecordId::new();
        let blob = blob_name(id, 1);
        let Stored { size, sha256, head } = self.inner.blobs.put(key.clone(), family, &blob, content).await?;
        let meta = StoredFile { name, size, sha256: hex(&sha256), blob_head: hex(&head) };
        let meta = zeroize::Zeroizing::new(serde_json::to_vec(&meta).expect("file metadata serializes"));
        let now = to_millis(OffsetDateTime::now_utc());
        let result = async {
            let collection = self.collection_id(family, child, doctype, now).await?;
            let columns = RowColumns {
                id: id.to_string(),
                collection: &collection,
                child: &child.to_string(),
                doctype: doctype.as_str(),
                kind: "file",
                source: &source,
                version: 1,
                created_at: now,
                updated_at: now,
            };
            let sealed = key.seal(&Place { family, field: Field::Record(&columns.place(Some(&blob), size as i64)) }, &meta)?;
            let prepared = [Prepared { id, sealed, blob: Some(blob.clone()), size: size as i64, version: 1, created_at: now, updated_at: now }];
            let mut tx = self.write_tx().await?;
            insert_records(&mut tx, self.inner.backend, family, &collection, child, doctype, "file", &prepared, std::slice::from_ref(&source)).await?;
            tx.commit().await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = result {
            self.inner.blobs.delete(family, &blob).await;
            return Err(e);
        }
        self.records_changed(family, &[id]);
        Ok(id)
    }

    /// Opens a file for reading: its metadata and a reader of its plaintext (blocking reads: use it on a
    /// blocking thread). The permit must be for reading that record. A blob that is not the one its row was sealed
    /// with is refused here, before any byte is read.
    pub async fn open_file(&self, permit: &Permit) -> Result<(FileInfo, Box<dyn Read + Send>)> {
        check(permit, Action::Read)?;
        let Resource::Record { id, .. } = permit.resource() else { return Err(Error::PermitMismatch("record")) };
        let row = self.record_row(permit.family(), id).await?;
        let (doc, blob) = self.open_row(permit, row).await?;
        let (Some(info), Some((name, head))) = (doc.file, blob) else {
            return Err(Error::InvalidInput(format!("record `{}` is not a file", doc.id)));
        };
        let key = self.family_key(permit.family()).await?;
        let reader = self.inner.blobs.open_reader(key, permit.family(), id, &name, &head).await?;
        Ok((info, reader))
    }

    /// Opens a file of a collection under the collection's permit (to read or to export it): one logged decision
    /// covers every file of an export's collection.
    pub async fn open_collection_file(&self, permit: &Permit, id: RecordId) -> Result<(FileInfo, Box<dyn Read + Send>)> {
        let one = permit.for_record_of_collection(id).ok_or(Error::PermitMismatch("collection"))?;
        let row = self.record_row(permit.family(), id).await?;
        let (doc, blob) = self.open_row(&one, row).await?;
        let (Some(info), Some((name, head))) = (doc.file, blob) else {
            return Err(Error::InvalidInput(format!("record `{}` is not a file", doc.id)));
        };
        let key = self.family_key(permit.family()).await?;
        let reader = self.inner.blobs.open_reader(key, permit.family(), id, &name, &head).await?;
        Ok((info, reader))
    }

    /// The id of a child's collection of a doctype, created on first use (in its own short transaction: a collection
    /// without records is harmless, and its id is part of every record's place).
    pub(crate) async fn collection_id(&self, family: FamilyId, child: MemberId, doctype: Doctype, now: i64) -> Result<String> {
        let find = || {
            sqlx::query("SELECT id FROM collections WHERE family_id = $1 AND child_id = $2 AND doctype = $3")
                .bind(family.to_string())
                .bind(child.to_string())
                .bind(doctype.as_str())
        };
        if let Some(row) = find().fetch_optional(self.pool()).await? {
            return Ok(row.get(0));
        }
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO collections (id, family_id, child_id, doctype, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (family_id, child_id, doctype) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(family.to_string())
        .bind(child.to_string())
        .bind(doctype.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let id: String = find().fetch_one(&mut *tx).await?.get(0);
        tx.commit().await?;
        Ok(id)
    }
}

pub(crate) fn serialize_body(body: &serde_json::Value) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    if !body.is_object() {
        return Err(Error::InvalidInput("a record body must be a JSON object".to_owned()));
    }
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(body).map_err(|_| Error::InvalidInput("the record body is not valid JSON".to_owned()))?);
    if plain.len() > MAX_BODY_BYTES {
        return Err(Error::InvalidInput(format!("a record body may be at most {MAX_BODY_BYTES} bytes; store larger content as a file")));
    }
    Ok(plain)
}

/// Seals a record body for its row: inline, or into a blob whose head is what the row then seals.
pub(crate) async fn seal_body(
    blobs: &crate::blobs::Blobs,
    key: &Arc<FamilyKey>,
    family: FamilyId,
    id: RecordId,
    columns: &RowColumns<'_>,
    plain: &zeroize::Zeroizing<Vec<u8>>,
) -> Result<Prepared> {
    let size = plain.len() as i64;
    if plain.len() > INLINE_BODY_LIMIT {
        let name = blob_name(id, columns.version);
        let Stored { head, .. } = blobs.put(key.clone(), family, &name, Box::new(std::io::Cursor::new(plain.clone()))).await?;
        match key.seal(&Place { family, field: Field::Record(&columns.place(Some(&name), size)) }, &head) {
            Ok(sealed) => Ok(Prepared { id, sealed, blob: Some(name), size, version: columns.version, created_at: columns.created_at, updated_at: columns.updated_at }),
            Err(e) => {
                blobs.delete(family, &name).await;
                Err(e)
            }
        }
    } else {
        let sealed = key.seal(&Place { family, field: Field::Record(&columns.place(None, size)) }, plain)?;
        Ok(Prepared { id, sealed, blob: None, size, version: columns.version, created_at: columns.created_at, updated_at: columns.updated_at })
    }
}

/// The clear columns of a record row being written, less those known only once its body is sealed.
pub(crate) struct RowColumns<'a> {
    pub(crate) id: String,
    pub(crate) collection: &'a str,
    pub(crate) child: &'a str,
    pub(crate) doctype: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) source: &'a str,
    pub(crate) version: i64,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl RowColumns<'_> {
    pub(crate) fn place<'b>(&'b self, blob_key: Option<&'b str>, size: i64) -> RecordPlace<'b> {
        RecordPlace {
            id: &self.id,
            collection: self.collection,
            child: self.child,
            doctype: self.doctype,
            kind: self.kind,
            source: self.source,
            version: self.version,
            blob_key,
            size,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A record row as read by `record_row`.
pub(crate) struct StoredRow {
    pub(crate) child: String,
    pub(crate) doctype: String,
    pub(crate) kind: String,
    pub(crate) source: String,
    pub(crate) version: i64,
    pub(crate) body_enc: Option<Vec<u8>>,
    pub(crate) blob_key: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) collection: String,
    pub(crate) size: i64,
}

impl StoredRow {
    pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> Result<Self> {
        Ok(StoredRow {
            child: row.try_get(0)?,
            doctype: row.try_get(1)?,
            kind: row.try_get(2)?,
            source: row.try_get(3)?,
            version: row.try_get(4)?,
            body_enc: row.try_get(5)?,
            blob_key: row.try_get(6)?,
            created_at: row.try_get(7)?,
            updated_at: row.try_get(8)?,
            collection: row.try_get(9)?,
            size: row.try_get(10)?,
        })
    }

    pub(crate) fn place<'a>(&'a self, id: &'a str) -> RecordPlace<'a> {
        RecordPlace {
            id,
            collection: &self.collection,
            child: &self.child,
            doctype: &self.doctype,
            kind: &self.kind,
            source: &self.source,
            version: self.version,
            blob_key: self.blob_key.as_deref(),
            size: self.size,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Inserts a batch of new rows of one collection in multi-row statements; the values the rows share are bound once.
///
/// On PostgreSQL they are `$1`…`$5`. SQLite looks a numbered or named parameter up in a list at each bind, which makes
/// a statement with thousands of `$N` quadratic; there every parameter is an anonymous `?`, the shared ones first in
/// a common table expression.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_records<S: AsRef<str>>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: crate::db::Backend,
    family: FamilyId,
    collection: &str,
    child: MemberId,
    doctype: Doctype,
    kind: &str,
    prepared: &[Prepared],
    sources: &[S],
) -> Result<()> {
    let (family, child) = (family.to_string(), child.to_string());
    for (rows, srcs) in prepared.chunks(INSERT_CHUNK).zip(sources.chunks(INSERT_CHUNK)) {
        let mut sql = String::with_capacity(400 + rows.len() * 64);
        // Placeholders only: the values are bound below.
        match backend {
            crate::db::Backend::Sqlite => {
                sql.push_str(
                    "WITH s (family_id, collection_id, child_id, doctype, kind) AS (SELECT ?, ?, ?, ?, ?) \
                     INSERT INTO records (id, family_id, collection_id, child_id, doctype, kind, source, version, body_enc, blob_key, size, created_at, updated_at) \
                     SELECT v.column1, s.family_id, s.collection_id, s.child_id, s.doctype, s.kind, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8 \
                     FROM s, (VALUES ",
                );
                for i in 0..rows.len() {
                    sql.push_str(if i > 0 { ", (?, ?, ?, ?, ?, ?, ?, ?)" } else { "(?, ?, ?, ?, ?, ?, ?, ?)" });
                }
                sql.push_str(") AS v");
            }
            crate::db::Backend::Postgres => {
                sql.push_str(
                    "INSERT INTO records (id, family_id, collection_id, child_id, doctype, kind, source, version, body_enc, blob_key, size, created_at, updated_at) VALUES ",
                );
                for i in 0..rows.len() {
                    let p = 6 + ROW_VALUES * i;
                    if i > 0 {
                        sql.push(',');
                    }
                    sql.push_str(&format!("(${p}, $1, $2, $3, $4, $5, ${}, ${}, ${}, ${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4, p + 5, p + 6, p + 7));
                }
            }
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&family).bind(collection).bind(&child).bind(doctype.as_str()).bind(kind);
        for (p, source) in rows.iter().zip(srcs) {
            query = query
                .bind(p.id.to_string())
                .bind(source.as_ref())
                .bind(p.version)
                .bind(&p.sealed)
                .bind(p.blob.as_deref())
                .bind(p.size)
                .bind(p.created_at)
                .bind(p.updated_at);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

pub(crate) fn parse_head(hex_text: &str) -> Option<BlobHead> {
    if hex_text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex_text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

pub(crate) fn validate_source(source: &str) -> Result<()> {
    let ok = source == "operator"
        || source.strip_prefix("member:").is_some_and(|id| id.parse::<MemberId>().is_ok())
        || source.strip_prefix("service:").is_some_and(|id| id.parse::<cartable_consent::ServiceId>().is_ok());
    if ok { Ok(()) } else { Err(Error::InvalidInput("a record source is `operator`, `member:<id>` or `service:<id>`".to_owned())) }
}

pub(crate) fn validate_file_name(name: &str) -> Result<String> {
    let name = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(Error::InvalidInput("a file name must be 1 to 255 characters, without control characters".to_owned()));
    }
    crate::text::refuse_format_characters(name, "a file name")?;
    Ok(name.to_owned())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
