//! Search over a family's data: one index per family (crate `cartable-search`), kept from the records the vault
//! holds, its files sealed to the family's key (`store.rs`), and searched only under permits.
//!
//! - A record written is indexed in the background a moment later (`Indexes::changed`), and in any case before the
//!   next search of its family answers: a search first applies what is pending, so a write acknowledged is found.
//! - The index is compared with the records (ids and versions) when it is opened and, at most once a second, by a
//!   fingerprint (count of records, sum of their versions): records are only ever added or rewritten to a higher
//!   version, so equal fingerprints mean the same records at the same versions. What another process wrote is found
//!   that way too.
//! - One process at a time writes a family's index to the store (`search_writers`, a lease): another one (a second
//!   server, `cartable search` beside a running server) keeps an index of its own in memory, built from the vault.
//! - A damaged or missing index is rebuilt from the records, never served in part.

mod extract;
mod store;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cartable_consent::{AccessRequest, Action, Doctype, FamilyId, MemberId, Principal, RecordId, Resource, Role};
use cartable_search::{Change, Document, FamilyIndex, MemoryStore, Query, SearchError};
use sqlx::Row;
use time::Date;

pub use extract::TextExtractor;
use extract::FileText;
pub(crate) use store::index_blobs;
use store::{Lease, SealedStore};

use crate::error::{Error, Result};
use crate::records::{RECORD_COLUMNS, RecordDocument, StoredRow};
use crate::vault::{Vault, parse_id};
use crate::Permit;

/// How long after a write its family's index is brought up to date in the background (writes in between join it).
const INDEX_DELAY: Duration = Duration::from_millis(50);
/// Records decrypted and applied per commit.
const BATCH: usize = 500;
/// How often a search compares the index with the records (what another process wrote).
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How often a search renews or asks for the writer lease.
const LEASE_EVERY: Duration = Duration::from_secs(10);
/// The most results a page holds.
pub const MAX_SEARCH_PAGE: u32 = 100;
/// The furthest a search pages: tantivy collects `offset + limit` results to give a page, so an offset without a
/// bound is memory without one.
pub const MAX_SEARCH_OFFSET: u32 = 10_000;

/// A search as a caller asks it.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Words (all must match), "quoted phrases", `-word` to exclude, `prefix*`.
    pub text: String,
    pub child: Option<MemberId>,
    pub doctype: Option<Doctype>,
    /// The period, by the record's day (its date, due date or day written), both ends included.
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub offset: u32,
    /// 1 to [`MAX_SEARCH_PAGE`]; 0 means 20.
    pub limit: u32,
}

/// One result: what the record is and where the words are, never more of its body than the snippet.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub record: RecordId,
    pub version: i64,
    pub child: MemberId,
    pub doctype: Doctype,
    pub day: Option<Date>,
    /// The record's subject and title, or a file's name.
    pub title: String,
    pub score: f32,
    /// A passage of the text with the words found, and their byte ranges in it.
    pub snippet: String,
    pub highlights: Vec<Range<usize>>,
}

/// A page of results, with the counts of the whole search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    pub total: u64,
    pub hits: Vec<SearchHit>,
    /// Counts per child and per doctype among the collections searched, before the child and doctype filters.
    pub by_child: Vec<(MemberId, u64)>,
    pub by_doctype: Vec<(Doctype, u64)>,
    /// Files in the collections searched whose text could not be read (found by their names only).
    pub unreadable: u64,
}

/// The indexes of this process: one slot per family used, and what they share.
pub(crate) struct Indexes {
    /// This process's name in `search_writers`.
    holder: Arc<str>,
    extractor: Option<TextExtractor>,
    slots: Mutex<HashMap<FamilyId, Arc<Slot>>>,
    /// Set by [`Vault::close`]: no index is opened or written any more.
    closed: AtomicBool,
}

#[derive(Default)]
struct Slot {
    /// Records written and not yet indexed.
    pending: Mutex<Vec<RecordId>>,
    /// A background update is on its way.
    scheduled: AtomicBool,
    /// The family is being erased: nothing is written to its index any more.
    erased: AtomicBool,
    /// The index, open; one change or check of it at a time.
    state: tokio::sync::Mutex<Option<Open>>,
}

struct Open {
    index: Arc<FamilyIndex>,
    /// In the store (this process holds the lease), or in memory.
    sealed: bool,
    /// Each record indexed, with its version.
    known: HashMap<RecordId, i64>,
    checked_at: Instant,
    leased_at: Instant,
}

impl Open {
    fn fingerprint(&self) -> (i64, i64) {
        (self.known.len() as i64, self.known.values().sum())
    }
}

fn index_error(e: SearchError) -> Error {
    match e {
        SearchError::OnlyCommonWords => Error::InvalidInput("the query holds only common words; add a word that says what you look for".to_owned()),
        SearchError::Damaged(_) | SearchError::OtherSchema => Error::SearchIndex("the index is damaged"),
        e => {
            tracing::warn!(error = %e, "search index error");
            Error::SearchIndex("the index could not be used")
        }
    }
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> std::result::Result<T, SearchError> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|_| Error::Stopped("the search index"))?.map_err(index_error)
}

impl Indexes {
    pub(crate) fn new(extractor: Option<TextExtractor>) -> Indexes {
        Indexes { holder: uuid::Uuid::new_v4().to_string().into(), extractor, slots: Mutex::default(), closed: AtomicBool::new(false) }
    }

    fn slot(&self, family: FamilyId) -> Arc<Slot> {
        self.slots.lock().expect("search slots lock").entry(family).or_default().clone()
    }

    /// Drops a family's index from memory (erased).
    pub(crate) fn forget(&self, family: FamilyId) {
        self.slots.lock().expect("search slots lock").remove(&family);
    }
}

impl Vault {
    /// Records of `family` were written: they are indexed in a moment, and before the family's next search.
    pub(crate) fn records_changed(&self, family: FamilyId, ids: &[RecordId]) {
        let slot = self.inner.search.slot(family);
        slot.pending.lock().expect("pending lock").extend_from_slice(ids);
        if slot.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let vault = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(INDEX_DELAY).await;
            slot.scheduled.store(false, Ordering::Release);
            if let Err(e) = vault.index_up_to_date(family).await {
                tracing::warn!(%family, error = %e, "the search index could not be brought up to date; the next search tries again");
            }
        });
    }

    /// The family's index with every acknowledged write in it. Tried twice: an index whose lease was lost in between
    /// is opened again.
    async fn index_up_to_date(&self, family: FamilyId) -> Result<Arc<FamilyIndex>> {
        match self.try_index_up_to_date(family).await {
            Err(Error::Contended(_) | Error::SearchIndex(_)) => self.try_index_up_to_date(family).await,
            other => other,
        }
    }

    async fn try_index_up_to_date(&self, family: FamilyId) -> Result<Arc<FamilyIndex>> {
        let slot = self.inner.search.slot(family);
        let mut state = slot.state.lock().await;
        if self.inner.search.closed.load(Ordering::Acquire) {
            return Err(Error::Stopped("the search index (the vault was closed)"));
        }
        if slot.erased.load(Ordering::Acquire) {
            return Err(Error::FamilyNotFound(family));
        }
        let lease_due = state.as_ref().is_none_or(|open| open.leased_at.elapsed() >= LEASE_EVERY);
        if lease_due {
            let lease = store::lease(self, family, &self.inner.search.holder).await?;
            let keep = matches!((state.as_ref().map(|open| open.sealed), lease), (Some(true), Lease::Kept) | (Some(false), Lease::Elsewhere));
            if !keep {
                *state = None;
                *state = Some(self.open_index(family, lease != Lease::Elsewhere, false).await?);
            }
            if let Some(open) = state.as_mut() {
                open.leased_at = Instant::now();
            }
        }
        let open = state.as_mut().expect("opened above");
        let pending = std::mem::take(&mut *slot.pending.lock().expect("pending lock"));
        let applied = async {
            if !pending.is_empty() {
                self.index_records(family, open, pending, &|_, _| {}).await?;
            }
            if open.checked_at.elapsed() >= CHECK_EVERY {
                if records_fingerprint(self, family).await? != open.fingerprint() {
                    self.reconcile(family, open, &|_, _| {}).await?;
                }
                open.checked_at = Instant::now();
            }
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = applied {
            // What was pending is found again when the index is next opened and compared with the records.
            *state = None;
            return Err(e);
        }
        Ok(open.index.clone())
    }

    /// Opens a family's index (from the store if `sealed`, else a new one in memory) and brings it up to date.
    /// `fresh` empties the store first (a rebuild).
    async fn open_index(&self, family: FamilyId, sealed: bool, fresh: bool) -> Result<Open> {
        let index = if sealed {
            let key = self.family_key(family).await?;
            let store: Arc<dyn cartable_search::IndexStore> = Arc::new(SealedStore::new(self, family, key, self.inner.search.holder.clone()));
            let opened = if fresh {
                let store = store.clone();
                blocking(move || FamilyIndex::create(store)).await
            } else {
                let store = store.clone();
                blocking(move || FamilyIndex::open(store)).await
            };
            match opened {
                Ok(index) => index,
                Err(Error::SearchIndex(_)) => {
                    tracing::warn!(%family, "the search index is damaged or missing a file; it is rebuilt from the records");
                    blocking(move || FamilyIndex::create(store)).await?
                }
                Err(e) => return Err(e),
            }
        } else {
            blocking(|| FamilyIndex::open(Arc::new(MemoryStore::new()))).await?
        };
        let index = Arc::new(index);
        let indexed = {
            let index = index.clone();
            blocking(move || index.indexed()).await?
        };
        let known = indexed.into_iter().filter_map(|(id, version)| Some((id.parse().ok()?, i64::try_from(version).ok()?))).collect();
        let mut open = Open { index, sealed, known, checked_at: Instant::now(), leased_at: Instant::now() };
        self.reconcile(family, &mut open, &|_, _| {}).await?;
        Ok(open)
    }

    /// Indexes every record whose indexed version is not the stored one, and removes what is no longer stored.
    async fn reconcile(&self, family: FamilyId, open: &mut Open, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<()> {
        let rows = sqlx::query("SELECT id, version FROM records WHERE family_id = $1").bind(family.to_string()).fetch_all(self.pool()).await?;
        let mut stored = HashMap::with_capacity(rows.len());
        for row in rows {
            stored.insert(parse_id::<RecordId>(&row.try_get::<String, _>(0)?)?, row.try_get::<i64, _>(1)?);
        }
        let stale: Vec<RecordId> = stored.iter().filter(|(id, version)| open.known.get(id) != Some(version)).map(|(id, _)| *id).collect();
        let gone: Vec<RecordId> = open.known.keys().filter(|id| !stored.contains_key(id)).copied().collect();
        if !gone.is_empty() {
            let changes: Vec<Change> = gone.iter().map(|id| Change::Remove(id.to_string())).collect();
            let index = open.index.clone();
            blocking(move || index.apply(&changes)).await?;
            gone.iter().for_each(|id| {
                open.known.remove(id);
            });
        }
        self.index_records(family, open, stale, progress).await
    }

    /// Reads, decrypts and indexes records by id, a batch per commit; an id no longer stored is removed.
    async fn index_records(&self, family: FamilyId, open: &mut Open, mut ids: Vec<RecordId>, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<()> {
        ids.sort_unstable();
        ids.dedup();
        let total = ids.len() as u64;
        let mut done = 0;
        for batch in ids.chunks(BATCH) {
            let mut changes = Vec::with_capacity(batch.len());
            let mut versions = Vec::with_capacity(batch.len());
            let found = self.index_documents(family, batch).await?;
            for id in batch {
                match found.get(id) {
                    Some(document) => {
                        versions.push((*id, Some(document.version as i64)));
                        changes.push(Change::Put(document.clone()));
                    }
                    None => {
                        versions.push((*id, None));
                        changes.push(Change::Remove(id.to_string()));
                    }
                }
            }
            let index = open.index.clone();
            blocking(move || index.apply(&changes)).await?;
            for (id, version) in versions {
                match version {
                    Some(v) => open.known.insert(id, v),
                    None => open.known.remove(&id),
                };
            }
            done += batch.len() as u64;
            progress(done, total);
        }
        Ok(())
    }

    /// The documents to index for records of `family`, by id (those no longer stored are absent).
    async fn index_documents(&self, family: FamilyId, ids: &[RecordId]) -> Result<HashMap<RecordId, Document>> {
        let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
        // Placeholders only: the values are bound below.
        let sql = format!("SELECT {RECORD_COLUMNS}, id FROM records WHERE family_id = $1 AND id IN ({})", placeholders.join(", "));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(family.to_string());
        for id in ids {
            query = query.bind(id.to_string());
        }
        let rows = query.fetch_all(self.pool()).await?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            let id: RecordId = parse_id(&row.try_get::<String, _>(11)?)?;
            let stored = StoredRow::from_row(&row)?;
            let (child, doctype): (MemberId, Doctype) = (parse_id(&stored.child)?, parse_id(&stored.doctype)?);
            // A record that fails its integrity check is left out of the index (and refused when read).
            let (document, blob) = match self.open_stored(family, id, child, doctype, stored).await {
                Ok(opened) => opened,
                Err(Error::Integrity(_) | Error::Decrypt | Error::BlobCorrupt) => continue,
                Err(e) => return Err(e),
            };
            let text = match (&document.file, blob) {
                (Some(info), Some((name, head))) => Some(self.file_text(family, id, info, &name, &head).await?),
                _ => None,
            };
            out.insert(id, index_document(&document, text));
        }
        Ok(out)
    }

    /// A file's text for the index: plain text, or a PDF's through the extractor; anything else is found by name.
    async fn file_text(&self, family: FamilyId, id: RecordId, info: &crate::FileInfo, blob: &str, head: &crate::blobs::BlobHead) -> Result<FileText> {
        let plain = extract::is_plain_text_name(&info.name);
        let pdf_name = info.name.to_lowercase().ends_with(".pdf");
        let key = self.family_key(family).await?;
        let reader = match self.inner.blobs.open_reader(key, family, id, blob, head).await {
            Ok(reader) => reader,
            Err(Error::Integrity(_) | Error::BlobCorrupt) => return Ok(FileText::Unreadable),
            Err(e) => return Err(e),
        };
        // Its first bytes say whether it is a PDF; a file of another kind is not read further.
        let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Vec<u8>>> {
            use std::io::Read;
            let mut reader = reader.take(extract::MAX_FILE_BYTES + 1);
            let mut bytes = Vec::new();
            (&mut reader).take(8).read_to_end(&mut bytes)?;
            if !plain && !pdf_name && !extract::is_pdf(&bytes) {
                return Ok(None);
            }
            reader.read_to_end(&mut bytes)?;
            Ok(Some(bytes))
        })
        .await
        .map_err(|_| Error::Stopped("a file read for the index"))?;
        let bytes = match bytes {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(FileText::NotText),
            Err(_) => return Ok(FileText::Unreadable),
        };
        let pdf = pdf_name || extract::is_pdf(&bytes);
        if bytes.len() as u64 > extract::MAX_FILE_BYTES {
            return Ok(FileText::Unreadable);
        }
        if pdf {
            return Ok(extract::pdf_text(self.inner.search.extractor.as_ref(), bytes).await);
        }
        Ok(extract::plain_text(&bytes))
    }

    /// Searches a family's data within what the permits cover: each a decision (logged) to search one collection,
    /// or the family (a member's or the operator's), which covers the collections the same rules let them search one
    /// by one (a guardian does not find an adult child's data). The query's words are never logged.
    pub async fn search(&self, permits: &[&Permit], query: &SearchQuery) -> Result<SearchOutcome> {
        let Some(first) = permits.first() else { return Err(Error::PermitMismatch("search")) };
        let family = first.family();
        let mut scope: Vec<(MemberId, Doctype)> = Vec::new();
        for permit in permits {
            if permit.family() != family || permit.action() != Action::Search {
                return Err(Error::PermitMismatch("search"));
            }
            match permit.resource() {
                Resource::Collection { child, doctype } => scope.push((child, doctype)),
                Resource::Family => scope.extend(self.searchable_collections(permit).await?),
                _ => return Err(Error::PermitMismatch("collection")),
            }
        }
        if let Some(child) = query.child
            && !scope.iter().any(|(c, _)| *c == child)
        {
            // Nothing of this child may be searched by this principal (a guardian and an adult child).
            return Err(Error::Denied("the family's rules do not let this search see this child's data".to_owned()));
        }
        let parsed = Query::parse(&query.text).map_err(|e| Error::InvalidInput(e.to_string()))?;
        if query.offset > MAX_SEARCH_OFFSET {
            return Err(Error::InvalidInput(format!("a search pages up to result {MAX_SEARCH_OFFSET}; narrow it with more words or a filter")));
        }
        if let (Some(from), Some(to)) = (query.from, query.to)
            && from > to
        {
            return Err(Error::InvalidInput("the period's start is after its end".to_owned()));
        }
        let index = self.index_up_to_date(family).await?;
        let scope: Vec<(String, String)> = scope.iter().map(|(c, d)| (c.to_string(), d.as_str().to_owned())).collect();
        let (child, doctype) = (query.child.map(|c| c.to_string()), query.doctype.map(|d| d.as_str().to_owned()));
        let (from, to, offset) = (query.from, query.to, query.offset as usize);
        let limit = match query.limit {
            0 => 20,
            n => n.min(MAX_SEARCH_PAGE),
        } as usize;
        let results = blocking(move || {
            let request = cartable_search::SearchRequest {
                query: &parsed,
                scope: &scope,
                child: child.as_deref(),
                doctype: doctype.as_deref(),
                from,
                to,
                offset,
                limit,
            };
            index.search(&request)
        })
        .await?;
        let hits = results
            .hits
            .into_iter()
            .filter_map(|hit| {
                Some(SearchHit {
                    record: hit.id.parse().ok()?,
                    version: i64::try_from(hit.version).ok()?,
                    child: hit.child.parse().ok()?,
                    doctype: hit.doctype.parse().ok()?,
                    day: hit.day,
                    title: hit.title,
                    score: hit.score,
                    snippet: hit.snippet.text,
                    highlights: hit.snippet.highlights,
                })
            })
            .collect();
        Ok(SearchOutcome {
            total: results.total as u64,
            hits,
            by_child: results.by_child.into_iter().filter_map(|(c, n)| Some((c.parse().ok()?, n))).collect(),
            by_doctype: results.by_doctype.into_iter().filter_map(|(d, n)| Some((d.parse().ok()?, n))).collect(),
            unreadable: results.unreadable,
        })
    }

    /// The collections a family-wide search permit covers: those its principal may search one by one, each decided
    /// by the same rules at the permit's time (the family-wide decision is the one logged).
    async fn searchable_collections(&self, permit: &Permit) -> Result<Vec<(MemberId, Doctype)>> {
        let rules = self.rules(permit.family()).await?;
        let mut out = Vec::new();
        for child in rules.members.iter().filter(|m| m.role == Role::Child) {
            for doctype in Doctype::ALL {
                let request = AccessRequest {
                    principal: permit.principal(),
                    action: Action::Search,
                    resource: Resource::Collection { child: child.id, doctype },
                    now: permit.decided_at(),
                };
                if matches!(permit.principal(), Principal::Operator) || self.inner.authorizer.authorize(&rules.compiled, &request).is_allowed() {
                    out.push((child.id, doctype));
                }
            }
        }
        Ok(out)
    }

    /// Stops indexing a family about to be erased: waits for a change being applied, and lets none start, so that
    /// no index file is written while the family's blobs are removed.
    pub(crate) async fn stop_indexing(&self, family: FamilyId) {
        let slot = self.inner.search.slots.lock().expect("search slots lock").remove(&family);
        if let Some(slot) = slot {
            slot.erased.store(true, Ordering::Release);
            *slot.state.lock().await = None;
        }
    }

    /// Gives up this process's hold on the families' indexes, so that the next process to start keeps them at once
    /// (instead of after the lease's 30 seconds). For a clean stop: the server's graceful shutdown, the end of a
    /// command.
    pub async fn close(self) -> Result<()> {
        let search = &self.inner.search;
        search.closed.store(true, Ordering::Release);
        let slots: Vec<Arc<Slot>> = search.slots.lock().expect("search slots lock").drain().map(|(_, slot)| slot).collect();
        // Waits for what is being written; nothing starts after `closed`.
        for slot in slots {
            *slot.state.lock().await = None;
        }
        store::release_all(&self, &search.holder).await
    }

    /// Rebuilds a family's index from its records (`cartable reindex`), reporting progress as (done, total); returns
    /// how many records were indexed. An operator function: it reads the family's data to index it and returns
    /// counts only. Refused while another process keeps the family's index.
    pub async fn reindex(&self, family: FamilyId, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<u64> {
        if !self.family_exists(family).await? {
            return Err(Error::FamilyNotFound(family));
        }
        let holder = self.inner.search.holder.clone();
        if store::lease(self, family, &holder).await? == Lease::Elsewhere {
            return Err(Error::Contended(
                "another Cartable process keeps this family's search index (a running server, or one stopped less than 30 seconds ago without closing): reindex there, or stop it first",
            ));
        }
        let slot = self.inner.search.slot(family);
        let mut state = slot.state.lock().await;
        if self.inner.search.closed.load(Ordering::Acquire) {
            return Err(Error::Stopped("the search index (the vault was closed)"));
        }
        *state = None;
        let index = {
            let key = self.family_key(family).await?;
            let store: Arc<dyn cartable_search::IndexStore> = Arc::new(SealedStore::new(self, family, key, holder.clone()));
            Arc::new(blocking(move || FamilyIndex::create(store)).await?)
        };
        let mut open = Open { index, sealed: true, known: HashMap::new(), checked_at: Instant::now(), leased_at: Instant::now() };
        slot.pending.lock().expect("pending lock").clear();
        self.reconcile(family, &mut open, progress).await?;
        let count = open.known.len() as u64;
        drop(state);
        self.inner.search.forget(family);
        store::release(self, family, &holder).await?;
        Ok(count)
    }
}

/// The count of a family's records and the sum of their versions.
async fn records_fingerprint(vault: &Vault, family: FamilyId) -> Result<(i64, i64)> {
    let row = sqlx::query("SELECT COUNT(*), CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM records WHERE family_id = $1").bind(family.to_string()).fetch_one(vault.pool()).await?;
    Ok((row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?))
}

/// The fields of a record's body that give it a day, in order of preference.
const DAY_FIELDS: [&str; 6] = ["date", "due", "day", "issued_at", "issued", "start"];
/// The fields that name a record, joined for its title.
const TITLE_FIELDS: [&str; 2] = ["subject", "title"];
const NAME_FIELDS: [&str; 3] = ["name", "label", "kind"];

/// What the index holds of a record: its clear ids, a day, a title and the text of its body (or its file's name and
/// text).
fn index_document(record: &RecordDocument, text: Option<FileText>) -> Document {
    let body_field = |name: &str| record.body.get(name).and_then(|v| v.as_str()).map(str::trim).filter(|s| !s.is_empty());
    let day = DAY_FIELDS
        .iter()
        .find_map(|f| body_field(f).and_then(|s| s.get(..10)).and_then(|s| Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()))
        .unwrap_or_else(|| record.created_at.date());
    let (title, body, unreadable) = match (&record.file, text) {
        (Some(file), text) => {
            let (body, unreadable) = match text {
                Some(FileText::Text(text)) => (text, false),
                Some(FileText::Unreadable) => (String::new(), true),
                Some(FileText::NotText) | None => (String::new(), false),
            };
            (file.name.clone(), body, unreadable)
        }
        (None, _) => {
            let mut parts: Vec<&str> = TITLE_FIELDS.iter().filter_map(|f| body_field(f)).collect();
            if parts.is_empty() {
                parts.extend(NAME_FIELDS.iter().filter_map(|f| body_field(f)).take(1));
            }
            (parts.join(" — "), cartable_search::text_of_json(&record.body), false)
        }
    };
    Document {
        id: record.id.to_string(),
        version: u64::try_from(record.version).unwrap_or_default(),
        child: record.child.to_string(),
        doctype: record.doctype.as_str().to_owned(),
        day: Some(day),
        title,
        body,
        unreadable,
    }
}
