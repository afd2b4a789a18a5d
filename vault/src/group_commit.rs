//! Group commit of ledger entries: the access decisions of concurrent requests are appended in one transaction.
//!
//! Every access is decided and logged before its data is returned; with one transaction (and one fsync) per
//! decision, the disk's sync rate bounds the server's rate of authorized reads. Here a single appender task owns
//! the writes: callers hand it a [`ReceiptDraft`] and wait; it takes every draft queued while the previous batch
//! was committing, appends them in one transaction, commits, and only then answers each caller with its entry's
//! index. No caller is acknowledged before its entry is durable, and a batch forms only from what is already
//! waiting, so a lone request never waits for company.
//!
//! INVARIANT: appends go through [`crate::ledger::append`], which takes the family's head row first, so each
//! family's log stays linear with no gap even when other processes (the CLI, another server) append too. Drafts
//! of one family keep their arrival order within a batch; families are visited in id order, so two processes'
//! batches take their head locks in the same order and cannot deadlock each other.
//!
//! If a batch fails (one family erased in between, a lost connection), its drafts are retried one transaction
//! each, so one bad entry never takes its neighbours down with it.

use std::sync::OnceLock;

use std::collections::HashMap;

use cartable_consent::FamilyId;
use cartable_consent::ledger::{self as tlog, Hash, NodeKey};
use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

use crate::db::{Backend, to_millis};
use crate::error::{Error, Result};
use crate::ledger::ReceiptDraft;

/// The most drafts one transaction takes.
const MAX_BATCH: usize = 512;
/// How many drafts may wait for the appender before callers wait to enqueue.
const QUEUE: usize = 8192;

struct Job {
    family: FamilyId,
    draft: ReceiptDraft,
    done: oneshot::Sender<Result<u64>>,
}

/// The handle on the appender task; it is started by the first append, on the runtime that makes it.
pub(crate) struct Appender {
    pool: AnyPool,
    backend: Backend,
    origin: String,
    queue: OnceLock<mpsc::Sender<Job>>,
}

impl Appender {
    pub(crate) fn new(pool: AnyPool, backend: Backend, origin: String) -> Self {
        Appender { pool, backend, origin, queue: OnceLock::new() }
    }

    /// Appends one entry to `family`'s log (the family the draft names); returns its index once the transaction
    /// holding it has committed.
    pub(crate) async fn append(&self, family: FamilyId, draft: ReceiptDraft) -> Result<u64> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            // The task holds no handle on the vault: it ends when the vault (and this sender) is dropped.
            tokio::spawn(run(self.pool.clone(), self.backend, self.origin.clone(), rx));
            tx
        });
        let (done, answer) = oneshot::channel();
        match queue.send(Job { family, draft, done }).await {
            Ok(()) => answer.await.map_err(|_| Error::Database("the ledger appender stopped before answering".to_owned()))?,
            // The task is gone (its runtime shut down): append here, alone.
            Err(mpsc::error::SendError(job)) => append_one(&self.pool, self.backend, &self.origin, job.draft).await,
        }
    }
}

async fn run(pool: AnyPool, backend: Backend, origin: String, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Stable: one family's drafts keep their arrival order.
        batch.sort_by_key(|job| job.family);
        let drafts: Vec<(FamilyId, ReceiptDraft)> = batch.iter().map(|j| (j.family, j.draft.clone())).collect();
        match append_batch(&pool, backend, &origin, drafts).await {
            Ok(indexes) => {
                for (job, index) in batch.drain(..).zip(indexes) {
                    let _ = job.done.send(Ok(index));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, entries = batch.len(), "a ledger batch failed; appending its entries one by one");
                for job in batch.drain(..) {
                    let result = append_one(&pool, backend, &origin, job.draft).await;
                    let _ = job.done.send(result);
                }
            }
        }
    }
}

async fn append_batch(pool: &AnyPool, backend: Backend, origin: &str, drafts: Vec<(FamilyId, ReceiptDraft)>) -> Result<Vec<u64>> {
    let mut tx = begin(pool, backend).await?;
    let mut indexes = Vec::with_capacity(drafts.len());
    let mut rest = drafts.as_slice();
    while let Some((family, _)) = rest.first() {
        let n = rest.iter().take_while(|(f, _)| f == family).count();
        let (same, tail) = rest.split_at(n);
        indexes.extend(append_family(&mut tx, *family, same.iter().map(|(_, d)| d.clone()).collect()).await?);
        rest = tail;
    }
    let _ = origin;
    tx.commit().await?;
    Ok(indexes)
}

/// Appends one family's drafts inside `tx` with a handful of statements whatever their number: the head moves
/// once (taking the family's write lock first, as [`crate::ledger::append`] does), the frontier of the tree is
/// read once, the new nodes are computed in memory, and entries and nodes are inserted in multi-row statements.
/// The result is exactly what appending them one by one would store.
async fn append_family(tx: &mut sqlx::Transaction<'static, sqlx::Any>, family: FamilyId, drafts: Vec<ReceiptDraft>) -> Result<Vec<u64>> {
    let k = drafts.len() as i64;
    let size: i64 = sqlx::query("UPDATE ledger_heads SET size = size + $1 WHERE family_id = $2 RETURNING size")
        .bind(k)
        .bind(family.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::FamilyNotFound(family))?
        .get(0);
    let first = (size - k) as u64;
    let family_text = family.to_string();
    // The perfect subtrees of the tree before this batch: every left sibling a new leaf needs is one of them or a
    // node computed in this batch.
    let mut nodes: HashMap<NodeKey, Hash> = HashMap::new();
    let frontier = tlog::root_keys(first);
    if !frontier.is_empty() {
        let mut sql = String::from("SELECT level, idx, hash FROM ledger_nodes WHERE family_id = $1 AND (");
        for i in 0..frontier.len() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            sql.push_str(&format!("(level = ${} AND idx = ${})", 2 * i + 2, 2 * i + 3));
        }
        sql.push(')');
        // Only placeholders are spliced in: no value reaches the SQL text.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(family_text.clone());
        for key in &frontier {
            query = query.bind(key.level as i64).bind(key.index as i64);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let key = NodeKey { level: row.get::<i64, _>(0) as u8, index: row.get::<i64, _>(1) as u64 };
            let hash: Hash = row.get::<Vec<u8>, _>(2).try_into().map_err(|_| Error::LedgerBroken {
                family,
                index: key.index << key.level,
                reason: "a stored hash is not 32 bytes".to_owned(),
            })?;
            nodes.insert(key, hash);
        }
    }
    let mut entries: Vec<(i64, Vec<u8>, i64)> = Vec::with_capacity(drafts.len());
    let mut new_nodes: Vec<(NodeKey, Hash)> = Vec::with_capacity(2 * drafts.len());
    for (offset, draft) in drafts.into_iter().enumerate() {
        let index = first + offset as u64;
        let created_at = to_millis(draft.time());
        let bytes = draft.into_receipt().canonical_bytes();
        let siblings = tlog::append_plan(index)
            .into_iter()
            .map(|key| {
                nodes.get(&key).copied().ok_or_else(|| Error::LedgerBroken { family, index: key.index << key.level, reason: "a tree node is missing".to_owned() })
            })
            .collect::<Result<Vec<_>>>()?;
        let completed = tlog::append(index, tlog::leaf_hash(&bytes), &siblings)
            .map_err(|e| Error::LedgerBroken { family, index, reason: e.to_string() })?;
        for (key, hash) in completed {
            nodes.insert(key, hash);
            new_nodes.push((key, hash));
        }
        entries.push((index as i64, bytes, created_at));
    }
    for chunk in entries.chunks(ROWS_PER_INSERT) {
        let sql = multi_row("INSERT INTO ledger_entries (family_id, idx, entry, created_at) VALUES ", chunk.len());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (index, bytes, created_at) in chunk {
            query = query.bind(family_text.clone()).bind(*index).bind(bytes.clone()).bind(*created_at);
        }
        query.execute(&mut **tx).await?;
    }
    for chunk in new_nodes.chunks(ROWS_PER_INSERT) {
        let sql = multi_row("INSERT INTO ledger_nodes (family_id, level, idx, hash) VALUES ", chunk.len());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (key, hash) in chunk {
            query = query.bind(family_text.clone()).bind(key.level as i64).bind(key.index as i64).bind(hash.to_vec());
        }
        query.execute(&mut **tx).await?;
    }
    Ok((first..first + k as u64).collect())
}

/// Rows per multi-row insert: 4 values each, well under both backends' limits on bound parameters.
const ROWS_PER_INSERT: usize = 200;

/// `prefix` followed by `rows` groups of four placeholders.
fn multi_row(prefix: &str, rows: usize) -> String {
    let mut sql = String::with_capacity(prefix.len() + rows * 24);
    sql.push_str(prefix);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        let b = 4 * r;
        sql.push_str(&format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4));
    }
    sql
}

async fn append_one(pool: &AnyPool, backend: Backend, origin: &str, draft: ReceiptDraft) -> Result<u64> {
    let mut tx = begin(pool, backend).await?;
    let index = crate::ledger::append(&mut tx, origin, draft).await?;
    tx.commit().await?;
    Ok(index)
}

/// The same write transaction as [`crate::vault::Vault::write_tx`]: on SQLite the write lock is taken at once.
async fn begin(pool: &AnyPool, backend: Backend) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
    Ok(match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    })
}
