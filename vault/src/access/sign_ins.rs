//! Sign-in attempts, counted per member and per client address before their password is checked.

use std::sync::atomic::AtomicI64;

use sqlx::Row;
use time::{Duration, OffsetDateTime};

use super::{ApiStore, due};
use crate::db::{from_millis, to_millis};
use crate::error::Result;

/// How many failed sign-ins a subject may make in `window` before it is locked for `lock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    pub max_failures: u32,
    pub window: Duration,
    pub lock: Duration,
}

/// Whether a sign-in attempt may go on to the password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Proceed,
    /// Refused without checking the password, until then.
    Locked(OffsetDateTime),
}

/// How old a count that locked nothing is when it is forgotten, whatever its window (at least the longest one used:
/// a registrations' hour; a count older than its own window is started afresh anyway).
const PRUNE_AFTER: Duration = Duration::days(1);

/// The minute of the last prune of old counters by this process.
static LAST_PRUNE: AtomicI64 = AtomicI64::new(i64::MIN);

/// Locks `subject` out until `now + limits.lock`, or later if it already was, and starts a fresh count.
async fn lock(tx: &mut sqlx::Transaction<'_, sqlx::Any>, subject: &str, now: OffsetDateTime, limits: LoginLimits) -> Result<OffsetDateTime> {
    let wanted = to_millis(now + limits.lock);
    let until: Option<i64> = sqlx::query(
        "UPDATE api_login_failures SET failures = 0, first_at = $2, \
           locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until > $3 THEN locked_until ELSE $3 END \
         WHERE subject = $1 RETURNING locked_until",
    )
    .bind(subject)
    .bind(to_millis(now))
    .bind(wanted)
    .fetch_one(&mut **tx)
    .await?
    .get(0);
    Ok(from_millis(until.unwrap_or(wanted)))
}

impl ApiStore<'_> {

    /// Counts a sign-in attempt of `subject` (`member:<id>` or `ip:<address>`) *before* its password is checked, so
    /// that a burst of simultaneous attempts cannot run past the limit: at most `limits.max_failures` attempts a
    /// window reach the password check, the next ones are refused and lock the subject out. A lock is never
    /// shortened. The attempt stays counted unless [`ApiStore::login_succeeded`] forgets it.
    pub async fn count_attempt(&self, subject: &str, now: OffsetDateTime, limits: LoginLimits) -> Result<Attempt> {
        let mut tx = self.vault.write_tx().await?;
        let now_ms = to_millis(now);
        // Forget old failures that locked nothing, and ended lock-outs, so the table stays small: at most once a
        // minute per process (a scan of the table on every attempt would make a flood of attempts costlier still).
        // Past the longest window of any subject's counts, not this caller's (the counters share the table).
        if due(&LAST_PRUNE, now_ms / 60_000) {
            sqlx::query("DELETE FROM api_login_failures WHERE first_at < $1 AND (locked_until IS NULL OR locked_until <= $2)")
                .bind(to_millis(now - limits.window.max(PRUNE_AFTER)))
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
        }
        // One atomic statement counts the attempt and reads the lock, so that concurrent attempts each see their own
        // count and a lock committed by another one (a row lock on PostgreSQL, the write lock on SQLite). While a
        // lock holds, attempts are not counted (they are refused).
        let row = sqlx::query(
            "INSERT INTO api_login_failures (subject, failures, first_at, locked_until) VALUES ($1, 1, $2, NULL) \
             ON CONFLICT (subject) DO UPDATE SET \
               failures = CASE WHEN api_login_failures.locked_until > $2 THEN api_login_failures.failures \
                               WHEN api_login_failures.first_at < $3 THEN 1 ELSE api_login_failures.failures + 1 END, \
               first_at = CASE WHEN api_login_failures.locked_until > $2 THEN api_login_failures.first_at \
                               WHEN api_login_failures.first_at < $3 THEN $2 ELSE api_login_failures.first_at END \
             RETURNING failures, locked_until",
        )
        .bind(subject)
        .bind(now_ms)
        .bind(to_millis(now - limits.window))
        .fetch_one(&mut *tx)
        .await?;
        let (attempts, locked): (i64, Option<i64>) = (row.get(0), row.get(1));
        if let Some(until) = locked.filter(|u| *u > now_ms) {
            tx.commit().await?;
            return Ok(Attempt::Locked(from_millis(until)));
        }
        if attempts <= i64::from(limits.max_failures) {
            tx.commit().await?;
            return Ok(Attempt::Proceed);
        }
        let until = lock(&mut tx, subject, now, limits).await?;
        tx.commit().await?;
        Ok(Attempt::Locked(until))
    }

    /// A counted attempt failed its password check; returns the end of the lock-out if the subject has now used
    /// its whole allowance.
    pub async fn login_failed(&self, subject: &str, now: OffsetDateTime, limits: LoginLimits) -> Result<Option<OffsetDateTime>> {
        let mut tx = self.vault.write_tx().await?;
        let row = sqlx::query("SELECT failures, locked_until FROM api_login_failures WHERE subject = $1")
            .bind(subject)
            .fetch_optional(&mut *tx)
            .await?;
        let until = match row {
            Some(row) if row.get::<Option<i64>, _>(1).is_some_and(|u| u > to_millis(now)) => Some(from_millis(row.get::<Option<i64>, _>(1).unwrap_or_default())),
            Some(row) if row.get::<i64, _>(0) >= i64::from(limits.max_failures) => Some(lock(&mut tx, subject, now, limits).await?),
            _ => None,
        };
        tx.commit().await?;
        Ok(until)
    }

    /// Forgets the failures of `subject` after a successful sign-in (the member's), unless it is locked.
    pub async fn login_succeeded(&self, subject: &str) -> Result<()> {
        sqlx::query("DELETE FROM api_login_failures WHERE subject = $1 AND (locked_until IS NULL OR locked_until <= $2)")
            .bind(subject)
            .bind(to_millis(OffsetDateTime::now_utc()))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Gives back the attempt a successful sign-in counted against `subject` (a client address, shared by many
    /// members): only failures use up an address's allowance. A lock is left as it is.
    pub async fn attempt_returned(&self, subject: &str) -> Result<()> {
        sqlx::query(
            "UPDATE api_login_failures SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END \
             WHERE subject = $1 AND (locked_until IS NULL OR locked_until <= $2)",
        )
        .bind(subject)
        .bind(to_millis(OffsetDateTime::now_utc()))
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
