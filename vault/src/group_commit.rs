//! Group commit of ledger entries: the access decisions of concurrent requests are appended in one transaction.
//!
//! Every access is decided and logged before its data is returned; with one transaction (and one fsync, and a
//! dozen statements) per decision, the database bounds the server's rate of authorized reads. Here one appender
//! task owns the appends of access decisions: callers hand it a [`ReceiptDraft`] and wait; it takes every draft
//! queued while the previous batch was committing, appends them in one transaction, commits, and only then
//! answers each caller. No caller is acknowledged before its entry is durable, and a batch forms only from what
//! is already waiting, so a lone request never waits for company.
//!
//! A decision comes with the version of the family's policies it was made under. Inside the transaction, with
//! the family's ledger head locked, the appender reads the family's version: a decision made under an older
//! version is not appended but answered [`Appended::Stale`], and its caller decides again under the current
//! policies. So a decision is in the ledger only if the policies it used were still in force when it was
//! committed, and the ledger orders decisions and policy changes (approve, revoke, prohibit, expire) as they
//! took effect, even when another process (the CLI) made the change. It also lets callers decide with the
//! policies they have in memory, without asking the database for the version first.
//!
//! INVARIANT: a family's log stays linear with no gap. Each family's head row is locked (updated) first, as
//! [`crate::ledger::append`] does, so appends by other transactions and processes wait their turn; the head then
//! moves once per batch, and the tree's new nodes are computed in memory from the frontier (the perfect subtrees
//! the next leaf needs), which is kept between batches and checked against the head. Drafts of one family keep
//! their arrival order; families are visited in id order, so two processes' batches take their locks in the same
//! order and cannot deadlock each other.
//!
//! If a batch fails (a lost connection, a family erased in between), its drafts are retried one transaction
//! each, so one bad entry never takes its neighbours down with it.

use std::collections::HashMap;
use std::sync::OnceLock;

use cartable_consent::FamilyId;
use cartable_consent::ledger::{self as tlog, Hash, NodeKey};
use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

use crate::db::{Backend, to_millis};
use crate::error::{Error, Result};
use cartable_consent::ledger::ReceiptDraft;

/// The most drafts one transaction takes.
const MAX_BATCH: usize = 512;
/// How many drafts may wait for the appender before callers wait to enqueue.
const QUEUE: usize = 8192;
/// The most rows per multi-row insert (a power of two): 4 values each, under both backends' parameter limits.
const ROWS_PER_INSERT: usize = 128;
/// Up to this many rows go in one statement of exactly that many rows.
const EXACT_ROWS: usize = 32;
/// Families whose frontier is kept; the map is emptied when it would grow past this.
const FRONTIERS: usize = 10_000;

/// What became of a draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// In the log at this index, committed.
    At(u64),
    /// Not appended: the family's policies changed since the decision was made; decide again.
    Stale,
}

struct Job {
    family: FamilyId,
    /// The family version the decision was made under; `None` for an entry that depends on no policy.
    version: Option<i64>,
    draft: ReceiptDraft,
    done: oneshot::Sender<Result<Appended>>,
}

/// The handle on the appender task; it is started by the first append, on the runtime that makes it.
pub(crate) struct Appender {
    pool: AnyPool,
    backend: Backend,
    queue: OnceLock<mpsc::Sender<Job>>,
}

impl Appender {
    pub(crate) fn new(pool: AnyPool, backend: Backend) -> Self {
        Appender { pool, backend, queue: OnceLock::new() }
    }

    /// Appends a decision made under the family's policies at `version`, if they are still in force.
    pub(crate) async fn append_decision(&self, family: FamilyId, version: i64, draft: ReceiptDraft) -> Result<Appended> {
        self.submit(family, Some(version), draft).await
    }

    async fn submit(&self, family: FamilyId, version: Option<i64>, draft: ReceiptDraft) -> Result<Appended> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            // The task holds no handle on the vault: it ends when the vault (and this sender) is dropped.
            tokio::spawn(run(self.pool.clone(), self.backend, rx));
            tx
        });
        let (done, answer) = oneshot::channel();
        match queue.send(Job { family, version, draft, done }).await {
            Ok(()) => answer.await.map_err(|_| Error::Database("the ledger appender stopped before answering".to_owned()))?,
            // The task is gone (its runtime shut down): append here, alone.
            Err(mpsc::error::SendError(job)) => append_one(&self.pool, self.backend, job.family, job.version, job.draft).await,
        }
    }
}

async fn run(pool: AnyPool, backend: Backend, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut frontiers = Frontiers::default();
    // The appender's own connection, kept between batches (dropped after a failure, in case it is broken).
    let mut conn: Option<sqlx::pool::PoolConnection<sqlx::Any>> = None;
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Stable: one family's drafts keep their arrival order.
        batch.sort_by_key(|job| job.family);
        let drafts: Vec<(FamilyId, Option<i64>, ReceiptDraft)> = batch.iter().map(|j| (j.family, j.version, j.draft.clone())).collect();
        let started = std::time::Instant::now();
        let result = match conn.as_mut() {
            Some(c) => append_batch(c, backend, &drafts, &mut frontiers).await,
            None => match pool.acquire().await {
                Ok(c) => append_batch(conn.insert(c), backend, &drafts, &mut frontiers).await,
                Err(e) => Err(e.into()),
            },
        };
        if result.is_err() {
            conn = None;
        }
        tracing::trace!(entries = batch.len(), micros = started.elapsed().as_micros() as u64, "ledger batch");
        match result {
            Ok(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = job.done.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, entries = batch.len(), "a ledger batch failed; appending its entries one by one");
                for job in batch.drain(..) {
                    let result = append_one(&pool, backend, job.family, job.version, job.draft).await;
                    let _ = job.done.send(result);
                }
            }
        }
    }
}

/// Appends `drafts` (sorted by family) in one transaction; the outcomes follow their order.
async fn append_batch(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    drafts: &[(FamilyId, Option<i64>, ReceiptDraft)],
    frontiers: &mut Frontiers,
) -> Result<Vec<Appended>> {
    let mut tx = match backend {
        Backend::Sqlite => sqlx::Connection::begin_with(conn, "BEGIN IMMEDIATE").await?,
        Backend::Postgres => sqlx::Connection::begin(conn).await?,
    };
    let mut outcomes = Vec::with_capacity(drafts.len());
    let mut staged = Vec::new();
    let mut rest = drafts;
    let result = async {
        while let Some((family, _, _)) = rest.first() {
            let n = rest.iter().take_while(|(f, _, _)| f == family).count();
            let (same, tail) = rest.split_at(n);
            let jobs: Vec<(Option<i64>, ReceiptDraft)> = same.iter().map(|(_, v, d)| (*v, d.clone())).collect();
            let (appended, frontier) = append_family(&mut tx, backend, *family, jobs, frontiers.get(*family)).await?;
            outcomes.extend(appended);
            staged.push((*family, frontier));
            rest = tail;
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    }
    .await;
    match result {
        Ok(()) => {
            for (family, frontier) in staged {
                frontiers.put(family, frontier);
            }
            Ok(outcomes)
        }
        Err(e) => {
            // What we knew of these families may be wrong now: read it again next time.
            for (family, _, _) in drafts {
                frontiers.forget(*family);
            }
            Err(e)
        }
    }
}

/// One draft in its own transaction (the fallback).
async fn append_one(pool: &AnyPool, backend: Backend, family: FamilyId, version: Option<i64>, draft: ReceiptDraft) -> Result<Appended> {
    let mut tx = begin(pool, backend).await?;
    let (mut outcome, _) = append_family(&mut tx, backend, family, vec![(version, draft)], None).await?;
    tx.commit().await?;
    Ok(outcome.remove(0))
}

/// Appends one family's drafts inside `tx` with a handful of statements whatever their number: the one
/// implementation of storing entries and tree nodes (`ledger::append` is a batch of one). A draft with a policy
/// version is stored only if that version is still the family's (else it is answered stale, to be decided again).
pub(crate) async fn append_family(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    family: FamilyId,
    jobs: Vec<(Option<i64>, ReceiptDraft)>,
    known: Option<&Frontier>,
) -> Result<(Vec<Appended>, Frontier)> {
    let family_text = family.to_string();
    // Move the head first, by as many entries as there are drafts: that takes the family's write lock (SQLite's
    // is already held; PostgreSQL locks the row), so from here on no one else can append to this family, nor change
    // its policies (which logs an entry), until we commit. Then the family's version: on SQLite in the same
    // statement (the write lock was taken before anything was read); on PostgreSQL in the next one, whose snapshot
    // is taken after the lock was granted, so that it sees a change whose transaction held the lock before us.
    let k = jobs.len() as i64;
    let (first, current): (u64, Option<i64>) = match backend {
        Backend::Sqlite => {
            let row = sqlx::query("UPDATE ledger_heads SET size = size + $1 WHERE family_id = $2 RETURNING size, (SELECT version FROM families WHERE id = $2)")
                .bind(k)
                .bind(&family_text)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(Error::FamilyNotFound(family))?;
            ((row.get::<i64, _>(0) - k) as u64, row.get(1))
        }
        Backend::Postgres => {
            let size: i64 = sqlx::query("UPDATE ledger_heads SET size = size + $1 WHERE family_id = $2 RETURNING size")
                .bind(k)
                .bind(&family_text)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(Error::FamilyNotFound(family))?
                .get(0);
            let version = sqlx::query("SELECT version FROM families WHERE id = $1").bind(&family_text).fetch_optional(&mut **tx).await?.map(|r| r.get(0));
            ((size - k) as u64, version)
        }
    };
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut drafts = Vec::with_capacity(jobs.len());
    for (version, draft) in jobs {
        match version {
            // Decided under policies no longer in force (or of a family now erased): not logged; decide again.
            Some(v) if Some(v) != current => outcomes.push(None),
            _ => {
                outcomes.push(Some(drafts.len()));
                drafts.push(draft);
            }
        }
    }
    if drafts.len() as i64 != k {
        // Some drafts were stale: the head moves by the others only.
        sqlx::query("UPDATE ledger_heads SET size = $1 WHERE family_id = $2").bind((first + drafts.len() as u64) as i64).bind(&family_text).execute(&mut **tx).await?;
    }
    let mut nodes: HashMap<NodeKey, Hash> = HashMap::new();
    if drafts.is_empty() {
        let frontier = match known {
            Some(f) if f.size == first => f.clone(),
            _ => Frontier { size: u64::MAX, nodes: Vec::new() },
        };
        return Ok((outcomes.into_iter().map(|_| Appended::Stale).collect(), frontier));
    }
    // The frontier before this batch: every left sibling a new leaf needs is in it or computed in this batch.
    match known {
        Some(frontier) if frontier.size == first => nodes.extend(frontier.nodes.iter().copied()),
        _ => {
            for key in tlog::root_keys(first) {
                let row = sqlx::query("SELECT hash FROM ledger_nodes WHERE family_id = $1 AND level = $2 AND idx = $3")
                    .bind(&family_text)
                    .bind(key.level as i64)
                    .bind(key.index as i64)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or_else(|| Error::LedgerBroken { family, index: key.index << key.level, reason: "a tree node is missing".to_owned() })?;
                nodes.insert(key, to_hash(family, key, row.get(0))?);
            }
        }
    }
    let mut entries: Vec<(i64, Vec<u8>, i64, crate::ledger::EntryColumns)> = Vec::with_capacity(drafts.len());
    let mut new_nodes: Vec<(NodeKey, Hash)> = Vec::with_capacity(2 * drafts.len());
    for (offset, draft) in drafts.into_iter().enumerate() {
        let index = first + offset as u64;
        let created_at = to_millis(draft.time());
        let receipt = draft.into_receipt();
        let columns = crate::ledger::EntryColumns::of(&receipt);
        let bytes = receipt.canonical_bytes();
        let siblings = tlog::append_plan(index)
            .into_iter()
            .map(|key| nodes.get(&key).copied().ok_or_else(|| Error::LedgerBroken { family, index: key.index << key.level, reason: "a tree node is missing".to_owned() }))
            .collect::<Result<Vec<_>>>()?;
        let completed = tlog::append(index, tlog::leaf_hash(&bytes), &siblings).map_err(|e| Error::LedgerBroken { family, index, reason: e.to_string() })?;
        for (key, hash) in completed {
            nodes.insert(key, hash);
            new_nodes.push((key, hash));
        }
        entries.push((index as i64, bytes, created_at, columns));
    }
    let end = first + entries.len() as u64;
    for chunk in chunks(&entries) {
        let sql = multi_row("INSERT INTO ledger_entries (family_id, idx, entry, created_at, event, subject_id, actor_id, service_id) VALUES ", chunk.len(), 8);
        // Only placeholders are spliced into the text: no value reaches the SQL.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (index, bytes, created_at, columns) in chunk {
            query = query
                .bind(&family_text)
                .bind(*index)
                .bind(bytes.clone())
                .bind(*created_at)
                .bind(columns.event)
                .bind(columns.subject.clone())
                .bind(columns.actor.clone())
                .bind(columns.service.clone());
        }
        query.execute(&mut **tx).await?;
    }
    for chunk in chunks(&new_nodes) {
        let sql = multi_row("INSERT INTO ledger_nodes (family_id, level, idx, hash) VALUES ", chunk.len(), 4);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (key, hash) in chunk {
            query = query.bind(&family_text).bind(key.level as i64).bind(key.index as i64).bind(hash.to_vec());
        }
        query.execute(&mut **tx).await?;
    }
    let frontier = Frontier { size: end, nodes: tlog::root_keys(end).into_iter().filter_map(|key| nodes.get(&key).map(|h| (key, *h))).collect() };
    let outcomes = outcomes.into_iter().map(|o| o.map_or(Appended::Stale, |i| Appended::At(first + i as u64))).collect();
    Ok((outcomes, frontier))
}

fn to_hash(family: FamilyId, key: NodeKey, bytes: Vec<u8>) -> Result<Hash> {
    bytes.try_into().map_err(|_| Error::LedgerBroken { family, index: key.index << key.level, reason: "a stored hash is not 32 bytes".to_owned() })
}

/// A family's frontier: the perfect subtrees of its tree at `size`, all an append needs to read.
#[derive(Debug, Clone)]
pub(crate) struct Frontier {
    size: u64,
    nodes: Vec<(NodeKey, Hash)>,
}

/// The frontiers the appender knows; each is used only if the head still has its size.
#[derive(Default)]
struct Frontiers(HashMap<FamilyId, Frontier>);

impl Frontiers {
    fn get(&self, family: FamilyId) -> Option<&Frontier> {
        self.0.get(&family)
    }

    fn put(&mut self, family: FamilyId, frontier: Frontier) {
        if self.0.len() >= FRONTIERS && !self.0.contains_key(&family) {
            self.0.clear();
        }
        self.0.insert(family, frontier);
    }

    fn forget(&mut self, family: FamilyId) {
        self.0.remove(&family);
    }
}

/// Splits rows into chunks for multi-row inserts: one chunk of up to 32 rows (the usual batch), larger ones in
/// chunks of 128, 64, … rows, so that the statements come in a few shapes that stay in the connection's cache.
fn chunks<T>(rows: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = rows;
    while !rest.is_empty() {
        let size = match rest.len() {
            n if n <= EXACT_ROWS => n,
            n if n >= ROWS_PER_INSERT => ROWS_PER_INSERT,
            n => 1 << (usize::BITS - 1 - n.leading_zeros()),
        };
        let (head, tail) = rest.split_at(size);
        out.push(head);
        rest = tail;
    }
    out
}

/// `prefix` followed by `rows` groups of four placeholders.
fn multi_row(prefix: &str, rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(prefix.len() + rows * columns * 6);
    sql.push_str(prefix);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        let placeholders: Vec<String> = (1..=columns).map(|c| format!("${}", columns * r + c)).collect();
        sql.push_str(&format!("({})", placeholders.join(", ")));
    }
    sql
}

/// The same write transaction as `Vault::write_tx`: on SQLite the write lock is taken at once.
async fn begin(pool: &AnyPool, backend: Backend) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
    Ok(match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cartable_consent::ledger::EventType;
    use cartable_consent::{Action, Doctype, Principal, Resource, Role};

    use super::*;
    use crate::{Vault, VaultConfig};

    #[test]
    fn rows_are_split_into_a_few_shapes() {
        let rows = [0u8; 300];
        let sizes: Vec<usize> = chunks(&rows).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![128, 128, 32, 12]);
        assert_eq!(chunks(&rows[..20]).len(), 1);
        assert_eq!(chunks(&rows[..100]).iter().map(|c| c.len()).collect::<Vec<_>>(), vec![64, 32, 4]);
        assert!(chunks::<u8>(&[]).is_empty());
        assert_eq!(multi_row("X ", 2, 4), "X ($1, $2, $3, $4), ($5, $6, $7, $8)");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_decisions_form_verifiable_logs_and_stale_ones_are_decided_again() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(VaultConfig::embedded(dir.path().to_path_buf())).await.unwrap();
        let mut families = Vec::new();
        for name in ["A", "B", "C"] {
            let family = vault.create_family(name).await.unwrap();
            let child = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, "Léa", Some(time::macros::date!(2014 - 05 - 02))).await.unwrap();
            families.push((family, child));
        }
        let vault = Arc::new(vault);
        let mut tasks = Vec::new();
        for i in 0..300 {
            let (family, child) = families[i % 3];
            let shared = vault.clone();
            tasks.push(tokio::spawn(async move {
                let resource = Resource::Collection { child, doctype: Doctype::Grades };
                shared.authorize(family, Principal::Operator, Action::List, resource).await.unwrap()
            }));
            if i == 150 {
                // A policy change in the middle: decisions made before it are decided again, not lost.
                vault.forbid(&vault.as_operator(families[0].0, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Doctype::HealthPai, cartable_consent::ForbidScope::Minors, None).await.unwrap();
            }
        }
        for t in tasks {
            assert!(t.await.unwrap().is_allowed());
        }
        for (family, _) in &families {
            let report = vault.verify_ledger(*family).await.unwrap();
            let accesses = vault
                .ledger_entries(&vault.as_operator(*family, cartable_consent::Action::List, cartable_consent::Resource::Register).await.unwrap(), &crate::LedgerFilter { event: Some(EventType::AccessAllowed), ..Default::default() })
                .await
                .unwrap()
                .iter()
                .filter(|e| e.receipt.data_categories == [Doctype::Grades])
                .count();
            assert_eq!(accesses, 100, "the 100 decisions on the grades (beside the operator's own on the family)");
            assert!(report.size >= 100);
        }
    }

    #[tokio::test]
    async fn a_decision_made_under_old_policies_is_not_logged() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(VaultConfig::embedded(dir.path().to_path_buf())).await.unwrap();
        let family = vault.create_family("F").await.unwrap();
        let old = vault.rules(family).await.unwrap().version;
        vault.forbid(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Doctype::HealthPai, cartable_consent::ForbidScope::Minors, None).await.unwrap();
        let draft = || ReceiptDraft::new(family, EventType::AccessAllowed, Principal::Operator, time::OffsetDateTime::now_utc());
        let size = vault.ledger_size(family).await.unwrap();
        assert_eq!(vault.inner.appender.append_decision(family, old, draft()).await.unwrap(), Appended::Stale);
        assert_eq!(vault.ledger_size(family).await.unwrap(), size);
        let current = vault.rules(family).await.unwrap().version;
        assert_eq!(vault.inner.appender.append_decision(family, current, draft()).await.unwrap(), Appended::At(size));
        vault.verify_ledger(family).await.unwrap();
    }

    #[tokio::test]
    async fn an_entry_for_an_erased_family_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(VaultConfig::embedded(dir.path().to_path_buf())).await.unwrap();
        let kept = vault.create_family("Kept").await.unwrap();
        let draft = |family| ReceiptDraft::new(family, EventType::AccessDenied, Principal::Operator, time::OffsetDateTime::now_utc());
        let missing = FamilyId::new();
        let appender = &vault.inner.appender;
        let version = vault.rules(kept).await.unwrap().version;
        let (a, b) = tokio::join!(appender.append_decision(missing, 0, draft(missing)), appender.append_decision(kept, version, draft(kept)));
        assert!(matches!(a, Err(Error::FamilyNotFound(_))));
        assert_eq!(b.unwrap(), Appended::At(0));
        vault.verify_ledger(kept).await.unwrap();
    }
}
