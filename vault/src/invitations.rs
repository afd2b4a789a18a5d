//! How people get in: one-time invitations and the names members sign in to the web UI with.
//!
//! Only digests are stored: the SHA-256 of an invitation link's token (256 random bits, made and hashed by the
//! caller, as for sessions) and the SHA-256 of a sign-in name's normalized form. Invitations have a kind, so that
//! later ones (a DPO's, a second guardian's, a child's) reuse the table; only the first guardian's exists now.

use cartable_consent::{Action, FamilyId, MemberId, Resource, Role};
use sha2::{Digest, Sha256};
use sqlx::Row;
use time::OffsetDateTime;

use crate::db::{from_millis, to_millis};
use crate::error::{Error, Result};
use crate::vault::{Vault, parse_id};

/// What accepting an invitation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvitationKind {
    /// Become a guardian of the family (the operator invites a family's first guardian).
    FamilyGuardian,
}

impl InvitationKind {
    fn as_stored(self) -> &'static str {
        match self {
            InvitationKind::FamilyGuardian => "family_guardian",
        }
    }

    fn from_stored(s: &str) -> Option<Self> {
        (s == "family_guardian").then_some(InvitationKind::FamilyGuardian)
    }
}

/// An invitation that can still be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub kind: InvitationKind,
    pub family: FamilyId,
    pub expires_at: OffsetDateTime,
}

/// What the person who accepts an invitation chose.
#[derive(Debug)]
pub struct Acceptance<'a> {
    /// Their name, as the family will see it (sealed with the family's data).
    pub name: &'a str,
    /// The name they sign in with.
    pub login: &'a str,
    /// Their password's hash (argon2id), computed by the caller.
    pub password_hash: &'a str,
}

/// The stored digest of a sign-in name: trimmed and in lower case, so `Claire ` and `claire` are one name.
fn login_digest(login: &str) -> Result<String> {
    let normalized = login.trim().to_lowercase();
    let length = normalized.chars().count();
    if !(3..=64).contains(&length) || normalized.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::InvalidInput("a sign-in name has 3 to 64 characters, without spaces".to_owned()));
    }
    crate::text::refuse_format_characters(&normalized, "a sign-in name")?;
    Ok(Sha256::digest(normalized.as_bytes()).iter().map(|b| format!("{b:02x}")).collect())
}

impl Vault {
    /// Stores an invitation (an operator's bootstrap step, like [`Vault::create_family`]): `token_hash` is the
    /// SHA-256 of the link's token, which only the invitee receives.
    pub async fn create_invitation(&self, kind: InvitationKind, family: FamilyId, token_hash: &str, expires_at: OffsetDateTime) -> Result<()> {
        if !self.family_exists(family).await? {
            return Err(Error::FamilyNotFound(family));
        }
        let now = OffsetDateTime::now_utc();
        sqlx::query("DELETE FROM invitations WHERE expires_at <= $1 AND used_at IS NULL").bind(to_millis(now)).execute(self.pool()).await?;
        sqlx::query("INSERT INTO invitations (token_hash, kind, family_id, invited_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(token_hash)
            .bind(kind.as_stored())
            .bind(family.to_string())
            .bind("operator")
            .bind(to_millis(now))
            .bind(to_millis(expires_at))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The invitation of this token if it is unused and has not expired at `now` (clear ids only, read before any
    /// decision).
    pub async fn invitation(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<Invitation>> {
        let row = sqlx::query("SELECT kind, family_id, expires_at FROM invitations WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2")
            .bind(token_hash)
            .bind(to_millis(now))
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            let kind = InvitationKind::from_stored(&row.get::<String, _>(0)).ok_or(Error::Corrupt("an invitation's kind"))?;
            let family = row.get::<Option<String>, _>(1).ok_or(Error::Corrupt("an invitation's family"))?;
            Ok(Invitation { kind, family: parse_id(&family)?, expires_at: from_millis(row.get(2)) })
        })
        .transpose()
    }

    /// Accepts a family guardian's invitation: in one transaction the invitation is used up, the guardian is added
    /// with their password and their sign-in name is taken. The invitation stands for the operator who issued it: the
    /// member is added under the operator's permit, decided and logged like the console's. An unknown, used or
    /// expired invitation is [`Error::InvitationInvalid`]; a sign-in name already taken is [`Error::LoginTaken`] and
    /// leaves the invitation usable.
    pub async fn accept_invitation(&self, token_hash: &str, acceptance: Acceptance<'_>) -> Result<(FamilyId, MemberId)> {
        let now = OffsetDateTime::now_utc();
        let Some(invitation) = self.invitation(token_hash, now).await? else { return Err(Error::InvitationInvalid) };
        let InvitationKind::FamilyGuardian = invitation.kind;
        let login = login_digest(acceptance.login)?;
        let family = invitation.family;
        let permit = self.as_operator(family, Action::Manage, Resource::Family).await?;
        permit.require_family_management()?;
        let mut tx = self.write_tx().await?;
        // Used up first: of two acceptances at once, one finds it gone.
        let claimed = sqlx::query("UPDATE invitations SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1")
            .bind(to_millis(now))
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        if claimed.rows_affected() == 0 {
            return Err(Error::InvitationInvalid);
        }
        if sqlx::query("SELECT 1 FROM member_logins WHERE login_hash = $1").bind(&login).fetch_optional(&mut *tx).await?.is_some() {
            return Err(Error::LoginTaken);
        }
        let member = self.insert_member(&mut tx, family, Role::Guardian, acceptance.name, None, Some(acceptance.password_hash)).await?;
        sqlx::query("INSERT INTO member_logins (login_hash, member_id, family_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&login)
            .bind(member.to_string())
            .bind(family.to_string())
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                // Taken between the check and the insert, by another acceptance.
                sqlx::Error::Database(db) if db.is_unique_violation() => Error::LoginTaken,
                _ => e.into(),
            })?;
        tx.commit().await?;
        Ok((family, member))
    }

    /// The member a sign-in name belongs to (a lookup of clear ids, before the password check).
    pub async fn member_by_login(&self, login: &str) -> Result<Option<MemberId>> {
        let Ok(digest) = login_digest(login) else { return Ok(None) };
        let row = sqlx::query("SELECT member_id FROM member_logins WHERE login_hash = $1").bind(digest).fetch_optional(self.pool()).await?;
        row.map(|r| parse_id(&r.get::<String, _>(0))).transpose()
    }

    /// Gives a member a sign-in name (the demo's and the console's way; an invitation's acceptance takes its own).
    /// The permit must be for managing the member's family.
    pub async fn set_login(&self, permit: &crate::Permit, member: MemberId, login: &str) -> Result<()> {
        permit.require_family_management()?;
        let family = permit.family();
        let digest = login_digest(login)?;
        if self.api().member_role(family, member).await?.is_none() {
            return Err(Error::MemberNotFound(member));
        }
        let mut tx = self.write_tx().await?;
        let owner = sqlx::query("SELECT member_id FROM member_logins WHERE login_hash = $1").bind(&digest).fetch_optional(&mut *tx).await?;
        match owner.map(|r| r.get::<String, _>(0)) {
            Some(owner) if owner == member.to_string() => return Ok(()),
            Some(_) => return Err(Error::LoginTaken),
            None => {}
        }
        sqlx::query("DELETE FROM member_logins WHERE member_id = $1").bind(member.to_string()).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO member_logins (login_hash, member_id, family_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&digest)
            .bind(member.to_string())
            .bind(family.to_string())
            .bind(to_millis(OffsetDateTime::now_utc()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_names_are_normalized_and_checked() {
        assert_eq!(login_digest(" Claire ").unwrap(), login_digest("claire").unwrap());
        assert_ne!(login_digest("claire").unwrap(), login_digest("claire2").unwrap());
        assert!(login_digest("ab").is_err());
        assert!(login_digest("cla ire").is_err());
        assert!(login_digest("claire\u{202E}").is_err());
    }

    #[tokio::test]
    async fn an_invitation_is_accepted_once_and_a_taken_name_leaves_it_usable() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(crate::VaultConfig::embedded(dir.path().join("data"))).await.unwrap();
        let family = vault.create_family("Martin").await.unwrap();
        let later = OffsetDateTime::now_utc() + time::Duration::days(7);
        vault.create_invitation(InvitationKind::FamilyGuardian, family, "first", later).await.unwrap();
        vault.create_invitation(InvitationKind::FamilyGuardian, family, "second", later).await.unwrap();
        vault.create_invitation(InvitationKind::FamilyGuardian, family, "stale", OffsetDateTime::now_utc() - time::Duration::seconds(1)).await.unwrap();
        let accept = |login| Acceptance { name: "Claire", login, password_hash: "$argon2id$stub" };

        let (found, claire) = vault.accept_invitation("first", accept("claire")).await.unwrap();
        assert_eq!(found, family);
        assert_eq!(vault.member_by_login("CLAIRE").await.unwrap(), Some(claire));
        assert_eq!(vault.api().member_role(family, claire).await.unwrap(), Some(Role::Guardian));
        assert!(matches!(vault.accept_invitation("first", accept("claire2")).await, Err(Error::InvitationInvalid)));
        assert!(matches!(vault.accept_invitation("stale", accept("claire3")).await, Err(Error::InvitationInvalid)));
        assert!(matches!(vault.accept_invitation("nothing", accept("claire4")).await, Err(Error::InvitationInvalid)));
        // A name already taken: refused, and the invitation can still be used with another one.
        assert!(matches!(vault.accept_invitation("second", accept("claire")).await, Err(Error::LoginTaken)));
        let (_, paul) = vault.accept_invitation("second", accept("paul")).await.unwrap();
        assert_ne!(paul, claire);
        assert_eq!(vault.password_hash(paul).await.unwrap().map(|(f, _)| f), Some(family));
        assert!(vault.invitation("second", OffsetDateTime::now_utc()).await.unwrap().is_none());
    }
}
