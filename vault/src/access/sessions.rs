//! Member sessions: a token and a CSRF token per sign-in, stored as hashes, expiring.

use cartable_consent::{FamilyId, MemberId, Role};
use sqlx::Row;
use time::OffsetDateTime;

use super::ApiStore;
use crate::db::{from_millis, to_millis};
use crate::error::{Error, Result};
use crate::vault::parse_id;

/// A signed-in member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub member: MemberId,
    pub family: FamilyId,
    /// SHA-256 (hex) of the CSRF token handed out with the session.
    pub csrf_hash: String,
    pub expires_at: OffsetDateTime,
}

/// The sessions one member (or DPO) keeps at once: a new sign-in beyond them ends the oldest, so thousands of
/// sign-ins leave at most this many rows, and a stolen old session ends as its owner keeps signing in.
pub const MAX_SESSIONS_PER_MEMBER: i64 = 20;

impl ApiStore<'_> {

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
        sqlx::query(
            "DELETE FROM api_sessions WHERE member_id = $1 AND token_hash NOT IN \
             (SELECT token_hash FROM api_sessions WHERE member_id = $1 ORDER BY created_at DESC, token_hash LIMIT $2)",
        )
        .bind(member.to_string())
        .bind(MAX_SESSIONS_PER_MEMBER)
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
}

/// A signed-in DPO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpoSessionRecord {
    pub dpo: cartable_consent::DpoId,
    /// SHA-256 (hex) of the CSRF token handed out with the session.
    pub csrf_hash: String,
    pub expires_at: OffsetDateTime,
}

impl ApiStore<'_> {
    pub async fn create_dpo_session(&self, token_hash: &str, csrf_hash: &str, dpo: cartable_consent::DpoId, expires_at: OffsetDateTime) -> Result<()> {
        let now = to_millis(OffsetDateTime::now_utc());
        sqlx::query("DELETE FROM dpo_sessions WHERE expires_at <= $1").bind(now).execute(self.pool()).await?;
        sqlx::query("INSERT INTO dpo_sessions (token_hash, dpo_id, csrf_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash)
            .bind(dpo.to_string())
            .bind(csrf_hash)
            .bind(now)
            .bind(to_millis(expires_at))
            .execute(self.pool())
            .await?;
        sqlx::query(
            "DELETE FROM dpo_sessions WHERE dpo_id = $1 AND token_hash NOT IN \
             (SELECT token_hash FROM dpo_sessions WHERE dpo_id = $1 ORDER BY created_at DESC, token_hash LIMIT $2)",
        )
        .bind(dpo.to_string())
        .bind(MAX_SESSIONS_PER_MEMBER)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The DPO session of this token, if it exists and has not expired at `now` (a member's token is none).
    pub async fn dpo_session(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<DpoSessionRecord>> {
        let row = sqlx::query("SELECT dpo_id, csrf_hash, expires_at FROM dpo_sessions WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash)
            .bind(to_millis(now))
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| Ok(DpoSessionRecord { dpo: parse_id(&row.get::<String, _>(0))?, csrf_hash: row.get(1), expires_at: from_millis(row.get(2)) }))
            .transpose()
    }

    pub async fn delete_dpo_session(&self, token_hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM dpo_sessions WHERE token_hash = $1").bind(token_hash).execute(self.pool()).await?;
        Ok(done.rows_affected() > 0)
    }
}
