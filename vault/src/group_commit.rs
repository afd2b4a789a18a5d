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

use cartable_consent::FamilyId;
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use crate::db::Backend;
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
        let drafts: Vec<ReceiptDraft> = batch.iter().map(|j| j.draft.clone()).collect();
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

async fn append_batch(pool: &AnyPool, backend: Backend, origin: &str, drafts: Vec<ReceiptDraft>) -> Result<Vec<u64>> {
    let mut tx = begin(pool, backend).await?;
    let mut indexes = Vec::with_capacity(drafts.len());
    for draft in drafts {
        indexes.push(crate::ledger::append(&mut tx, origin, draft).await?);
    }
    tx.commit().await?;
    Ok(indexes)
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
