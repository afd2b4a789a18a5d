//! Services' continuation handles and access tokens, and the decisions made under a token: held to its grant.

use cartable_consent::{AccessRequest, Action, FamilyId, GrantId, Principal, Reason, Resource, ServiceId, TokenScope};
use sqlx::Row;
use time::OffsetDateTime;

use super::ApiStore;
use crate::Permit;
use crate::db::{from_millis, to_millis};
use crate::error::Result;
use crate::vault::parse_id;

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
    /// Whether the token's service is sealed (it has published KeyPackages): its data responses are MLS messages.
    /// Read with the token; ignored when a token is issued.
    pub sealed: bool,
}

/// What [`ApiStore::authorize_under_grant`] decided.
#[derive(Debug)]
pub enum GrantDecision {
    Allowed(Permit),
    /// The policies (or the token rule) behind the refusal.
    Denied { reasons: Vec<Reason> },
}

impl ApiStore<'_> {

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
        let row = sqlx::query(
            "SELECT t.grant_id, t.service_id, t.family_id, t.expires_at, s.sealed FROM api_tokens t JOIN services s ON s.id = t.service_id \
             WHERE t.token_hash = $1",
        )
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            Ok(TokenRecord {
                grant: parse_id(&row.get::<String, _>(0))?,
                service: parse_id(&row.get::<String, _>(1))?,
                family: parse_id(&row.get::<String, _>(2))?,
                expires_at: from_millis(row.get(3)),
                sealed: row.get::<i64, _>(4) != 0,
            })
        })
        .transpose()
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
            Ok(permit) => {
                // The grant's first use is told to the family; never on the way of the access itself.
                let grant = scope.grant;
                let vault = self.vault.clone();
                if !vault.known_used(grant) {
                    tokio::spawn(async move {
                        if let Err(e) = vault.note_grant_used(family, grant).await {
                            tracing::warn!(grant = %grant, error = %e, "the first use of a grant could not be noted");
                        }
                    });
                }
                GrantDecision::Allowed(permit)
            }
            Err(denied) => GrantDecision::Denied { reasons: denied.reasons().to_vec() },
        })
    }
}
