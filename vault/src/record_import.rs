//! Records imported from open formats (xAPI, OneRoster, Open Badges): a run writes into the collections its permits
//! name, in one transaction, so an import is all or nothing and an interrupted one leaves nothing; each item comes
//! with the key its format gives it (a statement's id, a sourcedId), so importing the same items again creates
//! nothing. A key is kept as a MAC under the family's data key (`record_keys`), never as itself.
//!
//! The run ends with one ledger entry per collection it could write: the format and the counts, never the items.
//! The transaction holds SQLite's write lock from the run's first batch of records: callers check their input first
//! (the importers do a first pass) and write it in batches. Files come from a client at the client's speed, so a
//! file's row waits in memory (its bytes are sealed into the blob store as they arrive) and is written at the commit:
//! a slow upload never holds the lock the other writers wait for.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cartable_consent::ledger::{EventType, ImportCounts, ImportFormat, ReceiptDraft};
use cartable_consent::{Action, Doctype, FamilyId, MemberId, Principal, RecordId, Resource};
use sqlx::Row;
use time::OffsetDateTime;

use crate::db::to_millis;
use crate::error::{Error, Result};
use crate::keys::FamilyKey;
use crate::records::{RowColumns, insert_records, seal_body, serialize_body};
use crate::{Permit, Vault};

/// The most items one [`RecordImport::add`] takes: one round of the dedupe lookup.
pub const IMPORT_BATCH: usize = 500;
/// The longest key an item may have (statement ids are 36 bytes; sourcedIds are short).
const MAX_KEY_BYTES: usize = 1024;

/// One item to import: the key that makes importing it twice harmless, and the record's body.
#[derive(Debug, Clone)]
pub struct ImportItem {
    pub key: String,
    pub body: serde_json::Value,
}

/// What a run did to one collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportedCollection {
    pub child: MemberId,
    pub doctype: Doctype,
    pub imported: u64,
    pub duplicates: u64,
}

/// What a run did, collection by collection (in the order of the permits), and the records it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordImportReport {
    pub collections: Vec<ImportedCollection>,
    pub records: Vec<RecordId>,
}

impl RecordImportReport {
    pub fn imported(&self) -> u64 {
        self.collections.iter().map(|c| c.imported).sum()
    }

    pub fn duplicates(&self) -> u64 {
        self.collections.iter().map(|c| c.duplicates).sum()
    }
}

struct Target {
    permit: Permit,
    collection: String,
    counts: ImportedCollection,
}

/// An import under way. Dropped without [`RecordImport::commit`], it writes nothing (the transaction rolls back; the
/// blobs of large bodies it stored are removed by [`RecordImport::abort`], or by the sweep at the next start).
pub struct RecordImport {
    vault: Vault,
    family: FamilyId,
    key: Arc<FamilyKey>,
    format: ImportFormat,
    source: String,
    /// Opened by the first batch of records, or at the commit.
    tx: Option<sqlx::Transaction<'static, sqlx::Any>>,
    targets: Vec<Target>,
    /// The files stored so far, their rows not yet written.
    files: Vec<PendingFile>,
    /// The keys' MACs met in this run, by collection: an item given twice in one input is one record.
    seen: HashSet<(usize, [u8; 32])>,
    records: Vec<RecordId>,
    blobs: Vec<String>,
    rejected: HashMap<usize, u64>,
    now: i64,
}

/// A file sealed into the blob store whose row is written at the commit.
struct PendingFile {
    at: usize,
    mac: [u8; 32],
    row: crate::records::Prepared,
}

/// `operator`, `member:<id>` or `service:<id>`: the records' source, from who imports.
fn source_of(principal: Principal) -> Result<String> {
    match principal {
        Principal::Operator => Ok("operator".to_owned()),
        Principal::Member(m) => Ok(format!("member:{m}")),
        Principal::Service(s) => Ok(format!("service:{s}")),
        Principal::Dpo(_) => Err(Error::InvalidInput("a DPO does not import records".to_owned())),
    }
}

impl Vault {
    /// Begins an import into the collections `permits` name: each must be a permit to write one collection of one
    /// child, all of one family and one principal. Nothing is written until [`RecordImport::commit`].
    pub async fn begin_record_import(&self, permits: Vec<Permit>, format: ImportFormat) -> Result<RecordImport> {
        let Some(first) = permits.first() else { return Err(Error::InvalidInput("an import needs a collection to write".to_owned())) };
        let (family, principal) = (first.family(), first.principal());
        let source = source_of(principal)?;
        let key = self.family_key(family).await?;
        let now = to_millis(OffsetDateTime::now_utc());
        let mut targets = Vec::with_capacity(permits.len());
        for permit in permits {
            let Resource::Collection { child, doctype } = permit.resource() else { return Err(Error::PermitMismatch("collection")) };
            if permit.action() != Action::Write {
                return Err(Error::PermitMismatch("action"));
            }
            if permit.family() != family || permit.principal() != principal {
                return Err(Error::PermitMismatch("family"));
            }
            if targets.iter().any(|t: &Target| t.counts.child == child && t.counts.doctype == doctype) {
                return Err(Error::InvalidInput("an import names each collection once".to_owned()));
            }
            self.child(family, child).await?;
            // Before the transaction: making a collection is a write of its own.
            let collection = self.collection_id(family, child, doctype, now).await?;
            targets.push(Target { permit, collection, counts: ImportedCollection { child, doctype, imported: 0, duplicates: 0 } });
        }
        Ok(RecordImport {
            vault: self.clone(),
            family,
            key,
            format,
            source,
            tx: None,
            targets,
            files: Vec::new(),
            seen: HashSet::new(),
            records: Vec::new(),
            blobs: Vec::new(),
            rejected: HashMap::new(),
            now,
        })
    }
}

impl RecordImport {
    /// The run's transaction, opened at its first use.
    async fn tx(&mut self) -> Result<&mut sqlx::Transaction<'static, sqlx::Any>> {
        if self.tx.is_none() {
            self.tx = Some(self.vault.write_tx().await?);
        }
        Ok(self.tx.as_mut().expect("the transaction was just opened"))
    }

    fn target(&self, child: MemberId, doctype: Doctype) -> Result<usize> {
        self.targets
            .iter()
            .position(|t| t.counts.child == child && t.counts.doctype == doctype)
            .ok_or(Error::PermitMismatch("collection"))
    }

    /// Counts items of the input refused by its format's rules, against the collection they were meant for (a
    /// partial run says so in its entry).
    pub fn count_rejected(&mut self, child: MemberId, doctype: Doctype, n: u64) -> Result<()> {
        let at = self.target(child, doctype)?;
        *self.rejected.entry(at).or_default() += n;
        Ok(())
    }

    /// Writes `items` into the collection of `child` and `doctype` (one the run's permits name), skipping those whose
    /// key the collection already holds or this run already wrote. A body that is not a record's refuses the batch.
    pub async fn add(&mut self, child: MemberId, doctype: Doctype, items: Vec<ImportItem>) -> Result<()> {
        let at = self.target(child, doctype)?;
        for chunk in items.chunks(IMPORT_BATCH) {
            self.add_chunk(at, chunk).await?;
        }
        Ok(())
    }

    async fn add_chunk(&mut self, at: usize, items: &[ImportItem]) -> Result<()> {
        // The transaction first (the items are in memory: nothing waits on a client), so that the lookup of keys
        // already held sees what a run committed while this one waited for the lock.
        self.tx().await?;
        let collection = self.targets[at].collection.clone();
        let mut fresh: Vec<(&ImportItem, [u8; 32])> = Vec::with_capacity(items.len());
        for item in items {
            if item.key.is_empty() || item.key.len() > MAX_KEY_BYTES {
                return Err(Error::InvalidInput(format!("an imported item's key is 1 to {MAX_KEY_BYTES} bytes")));
            }
            let mac = self.key.record_key_mac(&collection, &item.key);
            if self.seen.insert((at, mac)) {
                fresh.push((item, mac));
            } else {
                self.targets[at].counts.duplicates += 1;
            }
        }
        let held = self.held(&collection, fresh.iter().map(|(_, mac)| mac)).await?;
        let before = fresh.len();
        fresh.retain(|(_, mac)| !held.contains(mac));
        self.targets[at].counts.duplicates += (before - fresh.len()) as u64;
        if fresh.is_empty() {
            return Ok(());
        }
        let (child, doctype) = (self.targets[at].counts.child, self.targets[at].counts.doctype);
        let child_s = child.to_string();
        let mut prepared = Vec::with_capacity(fresh.len());
        for (item, _) in &fresh {
            let id = RecordId::new();
            let plain = serialize_body(&item.body)?;
            let row = RowColumns {
                id: id.to_string(),
                collection: &collection,
                child: &child_s,
                doctype: doctype.as_str(),
                kind: "record",
                source: &self.source,
                version: 1,
                created_at: self.now,
                updated_at: self.now,
            };
            let sealed = seal_body(&self.vault.inner.blobs, &self.key, self.family, id, &row, &plain).await?;
            self.blobs.extend(sealed.blob.clone());
            prepared.push(sealed);
        }
        let (backend, family, source) = (self.vault.inner.backend, self.family, self.source.clone());
        let sources = vec![source.as_str(); prepared.len()];
        let tx = self.tx().await?;
        insert_records(tx, backend, family, &collection, child, doctype, "record", &prepared, &sources).await?;
        for (p, (_, mac)) in prepared.iter().zip(&fresh) {
            insert_key(tx, family, &collection, mac, p.id).await?;
        }
        self.targets[at].counts.imported += prepared.len() as u64;
        self.records.extend(prepared.iter().map(|p| p.id));
        Ok(())
    }

    /// Stores a file into the collection of `child` and `doctype` under its name (made safe, as `put_file` does),
    /// streamed; the same content already in the collection (or given earlier in the run) is a duplicate, and its
    /// upload is removed. Returns the new record's id, or `None` for a duplicate. Its row is written at the commit.
    /// (Called after [`RecordImport::add`] in the same run, it would stream under the run's open transaction: no
    /// caller mixes the two.)
    pub async fn add_file(&mut self, child: MemberId, doctype: Doctype, name: &str, content: Box<dyn std::io::Read + Send>) -> Result<Option<RecordId>> {
        let at = self.target(child, doctype)?;
        let name = crate::records::validate_file_name(name)?;
        let collection = self.targets[at].collection.clone();
        let id = RecordId::new();
        let blob = crate::blobs::blob_name(id, 1);
        let stored = self.vault.inner.blobs.put(self.key.clone(), self.family, &blob, content).await?;
        // The run's from here: an abort removes it, whatever fails next.
        self.blobs.push(blob.clone());
        // A file's key is its content: the same bytes under another name are still the same document.
        let mac = self.key.record_key_mac(&collection, &format!("sha256:{}", crate::records::hex(&stored.sha256)));
        let seen = !self.seen.insert((at, mac));
        if seen || !self.held(&collection, std::iter::once(&mac)).await?.is_empty() {
            self.blobs.pop();
            self.vault.inner.blobs.delete(self.family, &blob).await;
            self.targets[at].counts.duplicates += 1;
            return Ok(None);
        }
        let meta = crate::records::StoredFile { name, size: stored.size, sha256: crate::records::hex(&stored.sha256), blob_head: crate::records::hex(&stored.head) };
        let meta = zeroize::Zeroizing::new(serde_json::to_vec(&meta).expect("file metadata serializes"));
        let child_s = child.to_string();
        let columns = RowColumns {
            id: id.to_string(),
            collection: &collection,
            child: &child_s,
            doctype: doctype.as_str(),
            kind: "file",
            source: &self.source,
            version: 1,
            created_at: self.now,
            updated_at: self.now,
        };
        let place = crate::envelope::Place { family: self.family, field: crate::envelope::Field::Record(&columns.place(Some(&blob), stored.size as i64)) };
        let sealed = self.key.seal(&place, &meta)?;
        let row = crate::records::Prepared::new(id, sealed, Some(blob), stored.size as i64, &columns);
        self.files.push(PendingFile { at, mac, row });
        self.targets[at].counts.imported += 1;
        self.records.push(id);
        Ok(Some(id))
    }

    /// Which of `macs` the collection already holds (read inside the run's transaction once it is open).
    async fn held<'m>(&mut self, collection: &str, macs: impl Iterator<Item = &'m [u8; 32]>) -> Result<HashSet<[u8; 32]>> {
        let family = self.family;
        match self.tx.as_mut() {
            Some(tx) => held_on(&mut **tx, family, collection, macs).await,
            None => held_on(self.vault.pool(), family, collection, macs).await,
        }
    }

    /// Writes the rows of the files stored; the same file committed by another run since it was stored makes this run
    /// contended (see `insert_key`).
    async fn write_files(&mut self) -> Result<()> {
        let files = std::mem::take(&mut self.files);
        let (backend, family, source) = (self.vault.inner.backend, self.family, self.source.clone());
        let targets: Vec<_> = self.targets.iter().map(|t| (t.collection.clone(), t.counts.child, t.counts.doctype)).collect();
        let tx = self.tx().await?;
        for file in &files {
            let (collection, child, doctype) = &targets[file.at];
            insert_records(tx, backend, family, collection, *child, *doctype, "file", std::slice::from_ref(&file.row), std::slice::from_ref(&source)).await?;
            insert_key(tx, family, collection, &file.mac, file.row.id).await?;
        }
        Ok(())
    }

    /// Writes the files' rows and the run's ledger entries (one per collection: the format and the counts) and
    /// commits: every record of the run is in the vault, or none is (and the blobs it stored are removed, but for an
    /// error of the COMMIT itself: see below).
    pub async fn commit(mut self) -> Result<RecordImportReport> {
        if let Err(e) = self.write_all().await {
            self.abort().await;
            return Err(e);
        }
        // An error of the COMMIT itself may come after it took effect (a connection lost on its way back): the blobs
        // stay, for the sweep at start, which removes only those no row names.
        self.tx.take().expect("the transaction is open").commit().await?;
        self.vault.records_changed(self.family, &self.records);
        Ok(RecordImportReport { collections: self.targets.into_iter().map(|t| t.counts).collect(), records: self.records })
    }

    /// Everything the commit writes, in the run's transaction.
    async fn write_all(&mut self) -> Result<()> {
        self.write_files().await?;
        let time = OffsetDateTime::now_utc();
        let rules = self.vault.cached_rules(self.family);
        let backend = self.vault.inner.backend;
        let mut drafts = Vec::with_capacity(self.targets.len());
        for (at, target) in self.targets.iter().enumerate() {
            let counts = ImportCounts {
                format: self.format,
                imported: target.counts.imported,
                duplicates: target.counts.duplicates,
                rejected: self.rejected.get(&at).copied().unwrap_or(0),
            };
            let principal = target.permit.principal();
            let draft = ReceiptDraft::new(self.family, EventType::RecordsImport, principal, time)
                .access(Action::Write, target.permit.resource())
                .actor_role(rules.as_ref().and_then(|r| r.role_of(principal)))
                .import(counts);
            drafts.push(draft);
        }
        let tx = self.tx().await?;
        for draft in drafts {
            crate::ledger::append(tx, backend, draft).await?;
        }
        Ok(())
    }

    /// Ends the run writing nothing, and removes the blobs of the large bodies it stored.
    pub async fn abort(mut self) {
        let family = self.family;
        if let Some(tx) = self.tx.take()
            && let Err(e) = tx.rollback().await
        {
            tracing::warn!(%family, error = %e, "an import's rollback failed; the transaction ends with its connection");
        }
        for blob in &self.blobs {
            self.vault.inner.blobs.delete(family, blob).await;
        }
    }
}

/// Keeps an imported item's key (as its MAC) beside its record. A key another run committed since this one looked
/// (a file stored before the transaction opened; on PostgreSQL, any run at the same time) makes the run contended:
/// done again, it finds a duplicate.
async fn insert_key(tx: &mut sqlx::Transaction<'static, sqlx::Any>, family: FamilyId, collection: &str, mac: &[u8; 32], record: RecordId) -> Result<()> {
    let inserted = sqlx::query("INSERT INTO record_keys (family_id, collection_id, key_mac, record_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
        .bind(family.to_string())
        .bind(collection)
        .bind(mac.to_vec())
        .bind(record.to_string())
        .execute(&mut **tx)
        .await?;
    if inserted.rows_affected() == 0 {
        return Err(Error::Contended("the same item was imported meanwhile; import again"));
    }
    Ok(())
}

/// Which of `macs` a collection holds, read through `executor` (the run's transaction, or the pool before it opens).
async fn held_on<'m, 'e, E>(executor: E, family: FamilyId, collection: &str, macs: impl Iterator<Item = &'m [u8; 32]>) -> Result<HashSet<[u8; 32]>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let macs: Vec<&[u8; 32]> = macs.collect();
    let mut held = HashSet::new();
    if macs.is_empty() {
        return Ok(held);
    }
    let placeholders: Vec<String> = (0..macs.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!("SELECT key_mac FROM record_keys WHERE family_id = $1 AND collection_id = $2 AND key_mac IN ({})", placeholders.join(", "));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(family.to_string()).bind(collection.to_owned());
    for mac in &macs {
        query = query.bind(mac.to_vec());
    }
    for row in query.fetch_all(executor).await? {
        let mac: Vec<u8> = row.try_get(0)?;
        if let Ok(mac) = <[u8; 32]>::try_from(mac.as_slice()) {
            held.insert(mac);
        }
    }
    Ok(held)
}
