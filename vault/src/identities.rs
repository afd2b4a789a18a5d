//! Members' identities at OpenID providers, and the sign-ins at a provider in progress.
//!
//! A member links an identity once, while signed in (their permit names them); a provider's identity then finds
//! that member, and nothing else: an identity never makes a member or joins a family. Only the SHA-256 of
//! (provider, subject) is stored, so the table names no one's account at a provider. A family may turn password
//! sign-in off for a member with a linked identity.

use cartable_consent::{FamilyId, MemberId, Principal, Resource};
use sha2::{Digest, Sha256};
use sqlx::Row;
use time::OffsetDateTime;

use crate::db::{from_millis, to_millis};
use crate::error::{Error, Result};
use crate::vault::{Vault, parse_id};

/// The sign-ins at providers under way at once, across addresses (each a row for ten minutes at most): a bound on
/// what a flood from many addresses piles up.
const MAX_PENDING_SIGN_INS: i64 = 10_000;

/// A sign-in at a provider, from its start to the provider's answer.
#[derive(Debug, Clone)]
pub struct PendingSignIn {
    pub provider: String,
    /// Hash of the cookie of the browser that started it: the answer must come back to that browser.
    pub browser_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Linking: the signed-in member the identity is for, and their family. `None`: signing in.
    pub link: Option<(MemberId, FamilyId)>,
}

/// An identity a member linked (the provider's name in the configuration, and when).
#[derive(Debug, Clone)]
pub struct LinkedIdentity {
    pub provider: String,
    pub linked_at: OffsetDateTime,
}

fn identity_hash(provider: &str, subject: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(provider.as_bytes());
    hasher.update([0]);
    hasher.update(subject.as_bytes());
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The member a permit was decided for, when the permit is about their family (their own settings).
fn own_member(permit: &crate::Permit) -> Result<MemberId> {
    let Principal::Member(member) = permit.principal() else { return Err(Error::PermitMismatch("member")) };
    if !matches!(permit.resource(), Resource::Family) {
        return Err(Error::PermitMismatch("family"));
    }
    Ok(member)
}

impl Vault {
    /// Keeps a sign-in at a provider until its answer (or `expires_at`); the state's hash finds it. Older ones that
    /// expired are removed on the way; beyond [`MAX_PENDING_SIGN_INS`] under way, a start is refused (`Contended`:
    /// busy, try again), whatever the addresses they came from.
    pub async fn start_provider_sign_in(&self, state_hash: &str, pending: &PendingSignIn, expires_at: OffsetDateTime) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM oidc_pending WHERE expires_at <= $1").bind(to_millis(OffsetDateTime::now_utc())).execute(&mut *tx).await?;
        let under_way: i64 = sqlx::query("SELECT COUNT(*) FROM oidc_pending").fetch_one(&mut *tx).await?.get(0);
        if under_way >= MAX_PENDING_SIGN_INS {
            return Err(Error::Contended("too many sign-ins at providers under way"));
        }
        sqlx::query(
            "INSERT INTO oidc_pending (state_hash, browser_hash, provider, nonce, pkce_verifier, link_member_id, link_family_id, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(state_hash)
        .bind(&pending.browser_hash)
        .bind(&pending.provider)
        .bind(&pending.nonce)
        .bind(&pending.pkce_verifier)
        .bind(pending.link.map(|(m, _)| m.to_string()))
        .bind(pending.link.map(|(_, f)| f.to_string()))
        .bind(to_millis(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes the sign-in of this state, once: a second answer with the same state finds nothing, as does a state
    /// that expired or was never handed out.
    pub async fn take_provider_sign_in(&self, state_hash: &str, now: OffsetDateTime) -> Result<Option<PendingSignIn>> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT browser_hash, provider, nonce, pkce_verifier, link_member_id, link_family_id, expires_at FROM oidc_pending WHERE state_hash = $1")
            .bind(state_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let taken = sqlx::query("DELETE FROM oidc_pending WHERE state_hash = $1").bind(state_hash).execute(&mut *tx).await?;
        tx.commit().await?;
        if taken.rows_affected() != 1 || from_millis(row.get(6)) <= now {
            return Ok(None);
        }
        let link = match (row.get::<Option<String>, _>(4), row.get::<Option<String>, _>(5)) {
            (Some(member), Some(family)) => Some((parse_id(&member)?, parse_id(&family)?)),
            _ => None,
        };
        Ok(Some(PendingSignIn { browser_hash: row.get(0), provider: row.get(1), nonce: row.get(2), pkce_verifier: row.get(3), link }))
    }

    /// The member a provider's identity was linked to, if any (read before any decision, as a sign-in name is).
    pub async fn member_by_identity(&self, provider: &str, subject: &str) -> Result<Option<(MemberId, FamilyId)>> {
        let row = sqlx::query("SELECT member_id, family_id FROM member_identities WHERE identity_hash = $1")
            .bind(identity_hash(provider, subject))
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| Ok((parse_id(&row.get::<String, _>(0))?, parse_id(&row.get::<String, _>(1))?))).transpose()
    }

    /// Links a provider's identity to the permit's own member (a member links their own account, signed in). One
    /// identity per provider and member: a new one replaces the old. An identity linked to someone else is
    /// [`Error::IdentityTaken`].
    pub async fn link_identity(&self, permit: &crate::Permit, provider: &str, subject: &str) -> Result<()> {
        let member = own_member(permit)?;
        let hash = identity_hash(provider, subject);
        let mut tx = self.write_tx().await?;
        let owner: Option<String> = sqlx::query("SELECT member_id FROM member_identities WHERE identity_hash = $1")
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.get(0));
        match owner {
            Some(owner) if owner == member.to_string() => return Ok(()),
            Some(_) => return Err(Error::IdentityTaken),
            None => {}
        }
        sqlx::query("DELETE FROM member_identities WHERE member_id = $1 AND provider = $2").bind(member.to_string()).bind(provider).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO member_identities (identity_hash, provider, member_id, family_id, linked_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&hash)
            .bind(provider)
            .bind(member.to_string())
            .bind(permit.family().to_string())
            .bind(to_millis(OffsetDateTime::now_utc()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(member = %member, provider, "identity linked");
        Ok(())
    }

    /// Unlinks the permit's own member from a provider. Their password sign-in comes back on, so that they are
    /// never left without a way in.
    pub async fn unlink_identity(&self, permit: &crate::Permit, provider: &str) -> Result<()> {
        let member = own_member(permit)?;
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM member_identities WHERE member_id = $1 AND provider = $2").bind(member.to_string()).bind(provider).execute(&mut *tx).await?;
        let left: i64 = sqlx::query("SELECT COUNT(*) FROM member_identities WHERE member_id = $1").bind(member.to_string()).fetch_one(&mut *tx).await?.get(0);
        if left == 0 {
            sqlx::query("UPDATE members SET password_sign_in = 1 WHERE id = $1").bind(member.to_string()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        tracing::info!(member = %member, provider, "identity unlinked");
        Ok(())
    }

    /// The identities a member linked (ids only; read for the member's own settings or a guardian's).
    pub async fn linked_identities(&self, family: FamilyId, member: MemberId) -> Result<Vec<LinkedIdentity>> {
        let rows = sqlx::query("SELECT provider, linked_at FROM member_identities WHERE member_id = $1 AND family_id = $2 ORDER BY provider")
            .bind(member.to_string())
            .bind(family.to_string())
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(|r| LinkedIdentity { provider: r.get(0), linked_at: from_millis(r.get(1)) }).collect())
    }

    /// Turns a member's password sign-in on or off, under the permit to manage their family (a guardian's) or the
    /// member's own. Off needs a linked identity (else no way in would be left); sessions already open stay open.
    pub async fn set_password_sign_in(&self, permit: &crate::Permit, member: MemberId, on: bool) -> Result<()> {
        if permit.require_family_management().is_err() && own_member(permit)? != member {
            return Err(Error::PermitMismatch("member"));
        }
        let family = permit.family();
        let mut tx = self.write_tx().await?;
        if !on {
            let linked: i64 = sqlx::query("SELECT COUNT(*) FROM member_identities WHERE member_id = $1 AND family_id = $2")
                .bind(member.to_string())
                .bind(family.to_string())
                .fetch_one(&mut *tx)
                .await?
                .get(0);
            if linked == 0 {
                return Err(Error::InvalidInput("password sign-in stays on until the member has linked an identity provider".to_owned()));
            }
        }
        let done = sqlx::query("UPDATE members SET password_sign_in = $1 WHERE id = $2 AND family_id = $3")
            .bind(i64::from(on))
            .bind(member.to_string())
            .bind(family.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::MemberNotFound(member));
        }
        tx.commit().await?;
        tracing::info!(member = %member, on, "password sign-in changed");
        Ok(())
    }

    /// Whether a member may sign in with their password.
    pub async fn password_sign_in(&self, member: MemberId) -> Result<bool> {
        let row = sqlx::query("SELECT password_sign_in FROM members WHERE id = $1").bind(member.to_string()).fetch_optional(self.pool()).await?;
        Ok(row.is_none_or(|r| r.get::<i64, _>(0) != 0))
    }
}
