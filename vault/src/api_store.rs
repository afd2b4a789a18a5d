//! What the HTTP API keeps beside the vault's data: member sessions, services' continuation handles and access
//! tokens, and the counters that slow down password guessing.
//!
//! Secrets never reach this module in clear: the API hands it SHA-256 hashes of high-entropy random values, so the
//! tables are useless to whoever copies them. Reached through [`Vault::api`].

use cartable_consent::{AccessRequest, Action, Doctype, FamilyId, GrantId, MemberId, Principal, Reason, RecordId, Resource, Role, ServiceId, TokenScope};
use sqlx::Row;
use time::{Duration, OffsetDateTime};

use crate::db::{from_millis, to_millis};
use crate::error::{Error, Result};
use crate::Permit;
use crate::vault::{Vault, parse_id};

/// The API's storage; borrow it with [`Vault::api`].
#[derive(Debug, Clone, Copy)]
pub struct ApiStore<'v> {
    vault: &'v Vault,
}

/// A signed-in member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub member: MemberId,
    pub family: FamilyId,
    /// SHA-256 (hex) of the CSRF token handed out with the session.
    pub csrf_hash: String,
    pub expires_at: OffsetDateTime,
}

/// The access request a continuation handle continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContinuationRecord {
    pub grant: GrantId,
    pub service: ServiceId,
    pub family: FamilyId,
}

/// An access token: which grant it is bound to, and until when it may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRecord {
    pub grant: GrantId,
    pub service: ServiceId,
    pub family: FamilyId,
    pub expires_at: OffsetDateTime,
}

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

/// A record's row as stored (encrypted), with what the rules need to know about it.
pub struct SealedRecord {
    family: FamilyId,
    resource: Resource,
    row: sqlx::any::AnyRow,
}

impl SealedRecord {
    pub fn resource(&self) -> Resource {
        self.resource
    }
}

impl std::fmt::Debug for SealedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedRecord").field("family", &self.family).field("resource", &self.resource).finish_non_exhaustive()
    }
}

/// What [`ApiStore::authorize_under_grant`] decided.
#[derive(Debug)]
pub enum GrantDecision {
    Allowed(Permit),
    /// The policies (or the token rule) behind the refusal.
    Denied { reasons: Vec<Reason> },
}

/// One child's collection of one doctype, and how many records it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    pub child: MemberId,
    pub doctype: Doctype,
    pub records: u64,
}

impl Vault {
    /// The HTTP API's sessions, tokens and counters.
    pub fn api(&self) -> ApiStore<'_> {
        ApiStore { vault: self }
    }
}

impl ApiStore<'_> {
    fn pool(&self) -> &sqlx::AnyPool {
        self.vault.pool()
    }

    // --- sessions -------------------------------------------------------------------------------------------

    pub async fn create_session(&self, token_hash: &str, csrf_hash: &str, member: MemberId, family: FamilyId, expires_at: OffsetDateTime) -> Result<()> {
        let now = to_millis(OffsetDateTime::now_utc());
        // Sweep the expired ones now and then: at each sign-in.
        sqlx::query("DELETE FROM api_sessions WHERE expires_at <= $1").bind(now).execute(self.pool()).await?;
        sqlx::query("INSERT INTO api_sessions (token_hash, member_id, family_id, csrf_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(token_hash)
            .bind(member.to_string())
            .bind(family.to_string())
            .bind(csrf_hash)
            .bind(now)
            .bind(to_millis(expires_at))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The session of this token, if it exists and has not expired at `now`.
    pub async fn session(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<SessionRecord>> {
        let row = sqlx::query("SELECT member_id, family_id, csrf_hash, expires_at FROM api_sessions WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash)
            .bind(to_millis(now))
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            Ok(SessionRecord {
                member: parse_id(&row.get::<String, _>(0))?,
                family: parse_id(&row.get::<String, _>(1))?,
                csrf_hash: row.get(2),
                expires_at: from_millis(row.get(3)),
            })
        })
        .transpose()
    }

    /// Ends a session; `false` if there was none.
    pub async fn delete_session(&self, token_hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_sessions WHERE token_hash = $1").bind(token_hash).execute(self.pool()).await?;
        Ok(done.rows_affected() > 0)
    }

    /// A member's role, read from the clear column (no decryption); `None` if not in this family.
    pub async fn member_role(&self, family: FamilyId, member: MemberId) -> Result<Option<Role>> {
        let row = sqlx::query("SELECT role FROM members WHERE id = $1 AND family_id = $2")
            .bind(member.to_string())
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.get::<String, _>(0).parse::<Role>().map_err(|_| Error::Corrupt("a member's role")))
            .transpose()
    }

    // --- sign-in limits -------------------------------------------------------------------------------------

    /// Counts a sign-in attempt of `subject` (`member:<id>` or `ip:<address>`) *before* its password is checked, so
    /// that a burst of simultaneous attempts cannot run past the limit: at most `limits.max_failures` attempts a
    /// window reach the password check, the next ones are refused and lock the subject out. A lock is never
    /// shortened. The attempt stays counted unless [`ApiStore::login_succeeded`] forgets it.
    pub async fn count_attempt(&self, subject: &str, now: OffsetDateTime, limits: LoginLimits) -> Result<Attempt> {
        let mut tx = self.vault.write_tx().await?;
        let now_ms = to_millis(now);
        // Forget old failures that locked nothing, and ended lock-outs, so the table stays small.
        sqlx::query("DELETE FROM api_login_failures WHERE first_at < $1 AND (locked_until IS NULL OR locked_until <= $2)")
            .bind(to_millis(now - limits.window))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
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

    // --- continuations and access tokens --------------------------------------------------------------------

    pub async fn create_continuation(&self, handle_hash: &str, record: ContinuationRecord) -> Result<()> {
        sqlx::query("INSERT INTO api_continuations (handle_hash, grant_id, service_id, family_id, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(handle_hash)
            .bind(record.grant.to_string())
            .bind(record.service.to_string())
            .bind(record.family.to_string())
            .bind(to_millis(OffsetDateTime::now_utc()))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn continuation(&self, handle_hash: &str) -> Result<Option<ContinuationRecord>> {
        let row = sqlx::query("SELECT grant_id, service_id, family_id FROM api_continuations WHERE handle_hash = $1")
            .bind(handle_hash)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            Ok(ContinuationRecord {
                grant: parse_id(&row.get::<String, _>(0))?,
                service: parse_id(&row.get::<String, _>(1))?,
                family: parse_id(&row.get::<String, _>(2))?,
            })
        })
        .transpose()
    }

    /// Issues the grant's access token and deletes its others, in one transaction: a grant has one live token,
    /// so a continuation supersedes the token the previous one gave.
    pub async fn issue_token(&self, token_hash: &str, record: TokenRecord) -> Result<()> {
        let now = to_millis(OffsetDateTime::now_utc());
        let grant = record.grant.to_string();
        let mut tx = self.vault.write_tx().await?;
        // SQLite's write transaction is exclusive already. On PostgreSQL, two continuations of one grant would each
        // delete the other's uncommitted token: a transaction-scoped advisory lock on the grant serializes them
        // (not a lock on the grant's row, which an erasure takes after the tokens' rows: that order would deadlock).
        if self.vault.backend() == crate::db::Backend::Postgres {
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS locked").bind(&grant).fetch_one(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM api_tokens WHERE grant_id = $1").bind(&grant).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO api_tokens (token_hash, grant_id, service_id, family_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(token_hash)
            .bind(&grant)
            .bind(record.service.to_string())
            .bind(record.family.to_string())
            .bind(now)
            .bind(to_millis(record.expires_at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The token with this hash, expired or not (the caller tells an expired token from an unknown one).
    pub async fn token(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query("SELECT grant_id, service_id, family_id, expires_at FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            Ok(TokenRecord {
                grant: parse_id(&row.get::<String, _>(0))?,
                service: parse_id(&row.get::<String, _>(1))?,
                family: parse_id(&row.get::<String, _>(2))?,
                expires_at: from_millis(row.get(3)),
            })
        })
        .transpose()
    }

    // --- decisions the API takes itself ---------------------------------------------------------------------

    /// The family a record belongs to, whichever it is: to log a refused attempt on it in that family's ledger.
    pub async fn record_family(&self, record: RecordId) -> Result<Option<FamilyId>> {
        let row = sqlx::query("SELECT family_id FROM records WHERE id = $1").bind(record.to_string()).fetch_optional(self.pool()).await?;
        row.map(|r| parse_id(&r.get::<String, _>(0))).transpose()
    }

    /// Counts a refusal of a caller from outside the family (another family's member, a service whose token is for
    /// another family), for the operator: per day, caller, family and reason. It is never written to the family's
    /// consent ledger, which outsiders could otherwise grow without bound; the table grows by one row per distinct
    /// (day, caller, family, reason) at most, and rows older than 90 days are pruned.
    pub async fn refuse_outsider(&self, caller: Principal, family: FamilyId, reason: &str) -> Result<()> {
        let day = OffsetDateTime::now_utc().unix_timestamp().div_euclid(86_400);
        sqlx::query(
            "INSERT INTO outsider_refusals (day, caller, family_id, reason, count) VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (day, caller, family_id, reason) DO UPDATE SET count = outsider_refusals.count + 1",
        )
        .bind(day)
        .bind(caller.to_string())
        .bind(family.to_string())
        .bind(reason)
        .execute(self.pool())
        .await?;
        if day % 7 == 0 {
            sqlx::query("DELETE FROM outsider_refusals WHERE day < $1").bind(day - 90).execute(self.pool()).await?;
        }
        Ok(())
    }

    /// The outsiders' refusals counted since `since_day` (days since the Unix epoch): (day, caller, family, reason,
    /// count), newest first.
    pub async fn outsider_refusals(&self, since_day: i64) -> Result<Vec<(i64, String, FamilyId, String, i64)>> {
        let rows = sqlx::query("SELECT day, caller, family_id, reason, count FROM outsider_refusals WHERE day >= $1 ORDER BY day DESC, count DESC LIMIT 1000")
            .bind(since_day)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok((r.get(0), r.get(1), parse_id(&r.get::<String, _>(2))?, r.get(3), r.get(4)))).collect()
    }

    /// Decides a service's access made with an access token bound to one grant (the rule of
    /// [`cartable_consent::Authorizer::authorize_under_grant`]: held to its grant's scope, then Cedar, and an allow
    /// counts only if it comes from the token's own grant), and logs it like [`Vault::authorize`].
    pub async fn authorize_under_grant(&self, family: FamilyId, service: ServiceId, scope: &TokenScope, action: Action, resource: Resource) -> Result<GrantDecision> {
        let request = AccessRequest { principal: Principal::Service(service), action, resource, now: OffsetDateTime::now_utc() };
        let decision = self
            .vault
            .decide_and_log(family, request, |authorizer, compiled, request| authorizer.authorize_under_grant(compiled, request, scope))
            .await?;
        Ok(match decision.into_permit() {
            Ok(permit) => GrantDecision::Allowed(permit),
            Err(denied) => GrantDecision::Denied { reasons: denied.reasons().to_vec() },
        })
    }

    /// Reads a record's row once, still encrypted: its resource is what the rules decide on, and
    /// [`ApiStore::open_record`] decrypts it once a permit allows (one query per read instead of two).
    pub async fn load_record(&self, family: FamilyId, id: RecordId) -> Result<SealedRecord> {
        let row = self.vault.record_row(family, id).await?;
        let resource = Resource::Record { id, child: parse_id(&row.get::<String, _>(0))?, doctype: parse_id(&row.get::<String, _>(1))? };
        Ok(SealedRecord { family, resource, row })
    }

    /// Decrypts a record loaded by [`ApiStore::load_record`]; the permit must be for reading that very record.
    pub async fn open_record(&self, permit: &Permit, sealed: SealedRecord) -> Result<crate::RecordDocument> {
        if permit.family() != sealed.family || permit.resource() != sealed.resource {
            return Err(Error::PermitMismatch("record"));
        }
        self.vault.open_record_row(permit, sealed.row).await
    }

    /// The family's collections and their sizes; the permit must be for listing the family.
    pub async fn collections(&self, permit: &Permit) -> Result<Vec<CollectionInfo>> {
        if permit.action() != Action::List || !matches!(permit.resource(), Resource::Family) {
            return Err(Error::PermitMismatch("family"));
        }
        let rows = sqlx::query(
            "SELECT c.child_id, c.doctype, COUNT(r.id) FROM collections c LEFT JOIN records r ON r.collection_id = c.id \
             WHERE c.family_id = $1 GROUP BY c.child_id, c.doctype ORDER BY c.child_id, c.doctype",
        )
        .bind(permit.family().to_string())
        .fetch_all(self.pool())
        .await?;
        // As for a family-wide listing of records: a member sees only the collections they could list one by one
        // (a guardian does not see an adult child's collections, not even their sizes).
        let visible = match permit.principal() {
            Principal::Member(_) => Some(self.vault.listable_collections(permit).await?),
            _ => None,
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let info = CollectionInfo {
                child: parse_id(&row.get::<String, _>(0))?,
                doctype: parse_id(&row.get::<String, _>(1))?,
                records: row.get::<i64, _>(2).max(0) as u64,
            };
            if visible.as_ref().is_none_or(|v| v.contains(&(info.child, info.doctype))) {
                out.push(info);
            }
        }
        Ok(out)
    }
}
