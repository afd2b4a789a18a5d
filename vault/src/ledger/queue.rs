//! Group commit of ledger entries: the access decisions of concurrent requests are appended in one transaction.
//!
//! Every access is decided and logged before its data is returned; with one transaction (and one fsync, and a
//! dozen statements) per decision, the database bounds the server's rate of authorized reads. Here one appender
//! (a task on a thread of its own) owns the appends of access decisions: callers hand it a [`ReceiptDraft`] and
//! wait; it takes every draft queued while the previous batch was committing, appends them in one transaction,
//! commits, and only then answers each caller. No caller is acknowledged before its entry is durable, and a batch
//! forms only from what is already waiting, so a lone request never waits for company.
//!
//! A decision comes with the version of the family's policies it was made under. Inside the transaction, with
//! the family's ledger head locked, the appender reads the family's version: a decision made under an older
//! version is not appended but answered [`Appended::Stale`], and its caller decides again under the current
//! policies. So a decision is in the ledger only if the policies it used were still in force when it was
//! committed, and the ledger orders decisions and policy changes (approve, revoke, prohibit, expire) as they
//! took effect, even when another process (the CLI) made the change. It also lets callers decide with the
//! policies they have in memory, without asking the database for the version first.
//!
//! INVARIANT (with `store.rs`): a family's log stays linear with no gap. Each family's head row is locked (updated) first, as
//! `store::append` does, so appends by other transactions and processes wait their turn; the head then
//! moves once per batch, and the tree's new nodes are computed in memory from the frontier (the perfect subtrees
//! the next leaf needs), which is kept between batches and checked against the head. Drafts of one family keep
//! their arrival order; families are visited in id order, so two processes' batches take their locks in the same
//! order and cannot deadlock each other.
//!
//! On a SQLite file, each batch first takes a turn (`write_turn.rs`), so the appenders of several processes on one
//! database alternate at its write lock instead of starving each other in SQLite's busy handler.
//!
//! If a batch fails (a lost connection, a family erased in between), its drafts are retried one transaction
//! each, so one bad entry never takes its neighbours down with it.

use std::collections::HashMap;
use std::sync::OnceLock;

use cartable_consent::FamilyId;
use cartable_consent::ledger::ReceiptDraft;
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::store::{Appended, Frontier, append_family};
use crate::db::{self, Backend};
use crate::error::{Error, Result};
use crate::write_turn::WriteTurns;

/// The most drafts one transaction takes.
const MAX_BATCH: usize = 512;
/// How many drafts may wait for the appender before callers wait to enqueue.
const QUEUE: usize = 8192;
/// Families whose frontier is kept; the map is emptied when it would grow past this.
const FRONTIERS: usize = 10_000;

struct Job {
    family: FamilyId,
    /// The family version the decision was made under.
    version: i64,
    draft: ReceiptDraft,
    done: oneshot::Sender<Result<Appended>>,
}

/// The handle on the appender task; it is started by the first append, on the runtime that makes it.
pub(crate) struct Appender {
    pool: AnyPool,
    backend: Backend,
    /// On a SQLite file, the turns that keep the appenders of several processes from starving each other.
    turns: Option<WriteTurns>,
    queue: OnceLock<mpsc::Sender<Job>>,
}

impl Appender {
    pub(crate) fn new(pool: AnyPool, backend: Backend, turns: Option<WriteTurns>) -> Self {
        Appender { pool, backend, turns, queue: OnceLock::new() }
    }

    /// Appends a decision made under the family's policies at `version`, if they are still in force.
    pub(crate) async fn append_decision(&self, family: FamilyId, version: i64, draft: ReceiptDraft) -> Result<Appended> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            // A thread of its own, so that its wake-ups (one per statement of a batch) do not queue behind the
            // requests' tasks on the server's workers: every waiting read waits for it. It holds no handle on the
            // vault: it ends when the vault (and this sender) is dropped.
            let (pool, backend, turns) = (self.pool.clone(), self.backend, self.turns.clone());
            std::thread::Builder::new()
                .name("ledger-appender".into())
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("appender runtime");
                    rt.block_on(run(pool, backend, turns, rx));
                })
                .expect("appender thread");
            tx
        });
        let (done, answer) = oneshot::channel();
        match queue.send(Job { family, version, draft, done }).await {
            Ok(()) => answer.await.map_err(|_| Error::Stopped("the ledger appender"))?,
            // The appender is gone (its thread ended): append here, alone.
            Err(mpsc::error::SendError(job)) => append_one(&self.pool, self.backend, job.family, job.version, job.draft).await,
        }
    }
}

async fn run(pool: AnyPool, backend: Backend, turns: Option<WriteTurns>, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut frontiers = Frontiers::default();
    // The appender's own connection, kept between batches (dropped after a failure, in case it is broken).
    let mut conn: Option<sqlx::pool::PoolConnection<sqlx::Any>> = None;
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let started = std::time::Instant::now();
        let turn = match &turns {
            Some(turns) => turns.take().await,
            None => None,
        };
        let waited = started.elapsed();
        // What arrived while another process had its turn joins this batch rather than waiting for the next one.
        while batch.len() < MAX_BATCH {
            let Ok(job) = rx.try_recv() else { break };
            batch.push(job);
        }
        // Stable: one family's drafts keep their arrival order.
        batch.sort_by_key(|job| job.family);
        let drafts: Vec<(FamilyId, i64, ReceiptDraft)> = batch.iter().map(|j| (j.family, j.version, j.draft.clone())).collect();
        let result = match conn.as_mut() {
            Some(c) => append_batch(c, backend, &drafts, &mut frontiers).await,
            None => match pool.acquire().await {
                Ok(c) => append_batch(conn.insert(c), backend, &drafts, &mut frontiers).await,
                Err(e) => Err(e.into()),
            },
        };
        // The next writer's turn comes before the answers go out.
        drop(turn);
        if result.is_err() {
            conn = None;
        }
        tracing::trace!(entries = batch.len(), micros = started.elapsed().as_micros() as u64, turn_micros = waited.as_micros() as u64, "ledger batch");
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
    drafts: &[(FamilyId, i64, ReceiptDraft)],
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
            let jobs: Vec<(Option<i64>, ReceiptDraft)> = same.iter().map(|(_, v, d)| (Some(*v), d.clone())).collect();
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
async fn append_one(pool: &AnyPool, backend: Backend, family: FamilyId, version: i64, draft: ReceiptDraft) -> Result<Appended> {
    let mut tx = db::begin_write(pool, backend).await?;
    let (mut outcome, _) = append_family(&mut tx, backend, family, vec![(Some(version), draft)], None).await?;
    tx.commit().await?;
    Ok(outcome.remove(0))
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cartable_consent::ledger::EventType;
    use cartable_consent::{Action, Doctype, Principal, Resource, Role};

    use super::*;
    use crate::{Vault, VaultConfig};


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

