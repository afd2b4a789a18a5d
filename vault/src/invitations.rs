//! How people get in: one-time invitations and the names members sign in to the web UI with.
//!
//! Only digests are stored: the SHA-256 of an invitation link's token (256 random bits, made and hashed by the
//! caller, as for sessions) and the SHA-256 of a sign-in name's normalized form. Invitations have a kind: a family's
//! guardian's (the operator's for the first one, a guardian's for a second one), a child's from the age of digital
//! consent (the sign-in of an existing child member) or a DPO's. Members and DPOs sign in with names of one
//! namespace: a name is taken once, by either.
//!
//! Passwords change here too: a member's own (the caller checked the current one; the member's other sessions
//! end) and a minor child's, set by a guardian (the child's sessions end).

use cartable_consent::lifecycle::{AgeStage, age_stage};
use cartable_consent::{Action, DpoId, FamilyId, MemberId, Principal, Resource, Role};
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
    FamilyGuardian(FamilyId),
    /// Set the sign-in name and password of a child member of the family, from the age of digital consent (a
    /// guardian invites them from the family's settings).
    FamilyChild(FamilyId, MemberId),
    /// Set the sign-in name and password of an existing guardian of the family: one whose family was imported from
    /// an archive (sign-in names and passwords never travel in one); the operator invites them
    /// (`cartable archive import --invite`).
    GuardianSignIn(FamilyId, MemberId),
    /// Bring a family here from its archive, over the web or the API (`cartable archive invite`): used up by the one
    /// import it lets in.
    FamilyImport,
    /// Set the sign-in name and password of a DPO the operator appointed (`cartable dpo add`).
    Dpo(DpoId),
}

impl InvitationKind {
    /// The stored `kind`, `family_id`, `dpo_id` and `member_id`.
    fn columns(self) -> (&'static str, Option<String>, Option<String>, Option<String>) {
        match self {
            InvitationKind::FamilyGuardian(family) => ("family_guardian", Some(family.to_string()), None, None),
            InvitationKind::FamilyChild(family, child) => ("family_child", Some(family.to_string()), None, Some(child.to_string())),
            InvitationKind::GuardianSignIn(family, member) => ("guardian_sign_in", Some(family.to_string()), None, Some(member.to_string())),
            InvitationKind::Dpo(dpo) => ("dpo", None, Some(dpo.to_string()), None),
            InvitationKind::FamilyImport => ("family_import", None, None, None),
        }
    }

    fn from_columns(kind: &str, family: Option<String>, dpo: Option<String>, member: Option<String>) -> Result<Self> {
        match (kind, family, dpo, member) {
            ("family_guardian", Some(family), _, _) => Ok(InvitationKind::FamilyGuardian(parse_id(&family)?)),
            ("family_child", Some(family), _, Some(child)) => Ok(InvitationKind::FamilyChild(parse_id(&family)?, parse_id(&child)?)),
            ("guardian_sign_in", Some(family), _, Some(member)) => Ok(InvitationKind::GuardianSignIn(parse_id(&family)?, parse_id(&member)?)),
            ("dpo", _, Some(dpo), _) => Ok(InvitationKind::Dpo(parse_id(&dpo)?)),
            ("family_import", _, _, _) => Ok(InvitationKind::FamilyImport),
            _ => Err(Error::Corrupt("an invitation's kind")),
        }
    }

    /// The family the invitation lets someone into, if it is a family's.
    pub fn family(self) -> Option<FamilyId> {
        match self {
            InvitationKind::FamilyGuardian(family) | InvitationKind::FamilyChild(family, _) | InvitationKind::GuardianSignIn(family, _) => Some(family),
            InvitationKind::Dpo(_) | InvitationKind::FamilyImport => None,
        }
    }
}

/// An invitation that can still be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub kind: InvitationKind,
    pub expires_at: OffsetDateTime,
}

/// Who an accepted invitation let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Accepted {
    Guardian { family: FamilyId, member: MemberId },
    /// A child member of the family now signs in.
    Child { family: FamilyId, member: MemberId },
    Dpo(DpoId),
}

/// An invitation of a family still waiting to be accepted, as its settings page lists it (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingInvitation {
    pub kind: InvitationKind,
    /// `None` for the operator's.
    pub invited_by: Option<MemberId>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// What the person who accepts an invitation chose.
#[derive(Debug)]
pub struct Acceptance<'a> {
    /// Their name, as the family will see it (sealed with the family's data); a DPO's was given by the operator and
    /// this one is not used.
    pub name: &'a str,
    /// The name they sign in with.
    pub login: &'a str,
    /// Their password's hash (argon2id), computed by the caller.
    pub password_hash: &'a str,
}

/// The stored digest of a sign-in name: trimmed and in lower case, so `Claire ` and `claire` are one name.
pub(crate) fn login_digest(login: &str) -> Result<String> {
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
    pub async fn create_invitation(&self, kind: InvitationKind, token_hash: &str, expires_at: OffsetDateTime) -> Result<()> {
        match kind {
            InvitationKind::FamilyGuardian(family) if !self.family_exists(family).await? => return Err(Error::FamilyNotFound(family)),
            InvitationKind::FamilyChild(family, child) => self.invitable_child(family, child).await?,
            InvitationKind::GuardianSignIn(family, member) => self.guardian_of(family, member).await?,
            InvitationKind::Dpo(dpo) if self.dpo(dpo).await?.is_none() => return Err(Error::DpoNotFound(dpo)),
            _ => {}
        }
        self.store_invitation(kind, token_hash, "operator", expires_at).await
    }

    /// A family member's invitation (a guardian's of another guardian or of a child from the age of digital
    /// consent), under their permit to manage the family, which must be the invitation's family; the invitation
    /// remembers who issued it.
    pub async fn invite(&self, permit: &crate::Permit, kind: InvitationKind, token_hash: &str, expires_at: OffsetDateTime) -> Result<()> {
        permit.require_family_management()?;
        let family = permit.family();
        let Principal::Member(by) = permit.principal() else { return Err(Error::Denied("only a family member invites from the family".to_owned())) };
        match kind {
            InvitationKind::FamilyGuardian(f) if f == family => {}
            InvitationKind::FamilyChild(f, child) if f == family => self.invitable_child(family, child).await?,
            _ => return Err(Error::PermitMismatch("family")),
        }
        self.store_invitation(kind, token_hash, &format!("member:{by}"), expires_at).await
    }

    async fn store_invitation(&self, kind: InvitationKind, token_hash: &str, invited_by: &str, expires_at: OffsetDateTime) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        sqlx::query("DELETE FROM invitations WHERE expires_at <= $1 AND used_at IS NULL").bind(to_millis(now)).execute(self.pool()).await?;
        let (stored, family, dpo, member) = kind.columns();
        sqlx::query("INSERT INTO invitations (token_hash, kind, family_id, dpo_id, member_id, invited_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(token_hash)
            .bind(stored)
            .bind(family)
            .bind(dpo)
            .bind(member)
            .bind(invited_by)
            .bind(to_millis(now))
            .bind(to_millis(expires_at))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A child may be invited to sign in from the age of digital consent (before it, a guardian decides for them
    /// and they have no session of their own).
    async fn invitable_child(&self, family: FamilyId, child: MemberId) -> Result<()> {
        let member = self.child(family, child).await?;
        match age_stage(&member, self.age_rules(), OffsetDateTime::now_utc()) {
            Some(AgeStage::ConsentAge | AgeStage::Adult) => Ok(()),
            _ => Err(Error::Denied("a child signs in from the age of digital consent".to_owned())),
        }
    }

    /// A guardian of the family, who signs in through an invitation of their own.
    async fn guardian_of(&self, family: FamilyId, member: MemberId) -> Result<()> {
        match self.member(family, member).await {
            Ok(m) if m.role == Role::Guardian => Ok(()),
            _ => Err(Error::InvalidInput(format!("`{member}` is not a guardian of the family"))),
        }
    }

    /// The family's invitations still waiting to be accepted, newest first; the permit must cover the family.
    pub async fn pending_invitations(&self, permit: &crate::Permit) -> Result<Vec<PendingInvitation>> {
        if !matches!(permit.resource(), Resource::Family) {
            return Err(Error::PermitMismatch("family"));
        }
        let rows = sqlx::query(
            "SELECT kind, family_id, dpo_id, member_id, invited_by, created_at, expires_at FROM invitations \
             WHERE family_id = $1 AND used_at IS NULL AND expires_at > $2 ORDER BY created_at DESC",
        )
        .bind(permit.family().to_string())
        .bind(to_millis(OffsetDateTime::now_utc()))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let invited_by: String = row.get(4);
                Ok(PendingInvitation {
                    kind: InvitationKind::from_columns(&row.get::<String, _>(0), row.get(1), row.get(2), row.get(3))?,
                    invited_by: invited_by.strip_prefix("member:").and_then(|m| m.parse().ok()),
                    created_at: from_millis(row.get(5)),
                    expires_at: from_millis(row.get(6)),
                })
            })
            .collect()
    }

    /// The members of the family who have a sign-in name; the permit must cover the family.
    pub async fn members_signing_in(&self, permit: &crate::Permit) -> Result<Vec<MemberId>> {
        if !matches!(permit.resource(), Resource::Family) {
            return Err(Error::PermitMismatch("family"));
        }
        let rows = sqlx::query("SELECT member_id FROM member_logins WHERE family_id = $1").bind(permit.family().to_string()).fetch_all(self.pool()).await?;
        rows.iter().map(|r| parse_id(&r.get::<String, _>(0))).collect()
    }

    /// A member changes their own password (the caller checked the current one): the permit must be one decided
    /// for this very member on their family, and every other session of the member ends, in the same transaction
    /// (`keep`, the hash of the session making the change, stays open).
    pub async fn change_own_password(&self, permit: &crate::Permit, hash: &str, keep: &str) -> Result<()> {
        let Principal::Member(member) = permit.principal() else { return Err(Error::PermitMismatch("member")) };
        if !matches!(permit.resource(), Resource::Family) {
            return Err(Error::PermitMismatch("family"));
        }
        self.store_password(permit.family(), member, hash, Some(keep)).await
    }

    /// A guardian sets a new password for a child who is still a minor (under the permit to manage the family);
    /// every session of the child ends. An adult child's own password is theirs alone: [`Error::Denied`].
    pub async fn set_minor_password(&self, permit: &crate::Permit, child: MemberId, hash: &str) -> Result<()> {
        permit.require_family_management()?;
        let member = self.child(permit.family(), child).await?;
        if age_stage(&member, self.age_rules(), OffsetDateTime::now_utc()) == Some(AgeStage::Adult) {
            return Err(Error::Denied("an adult's password is theirs alone".to_owned()));
        }
        self.set_password_hash(permit, child, hash).await
    }

    /// The invitation of this token if it is unused and has not expired at `now` (clear ids only, read before any
    /// decision).
    pub async fn invitation(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<Invitation>> {
        let row = sqlx::query("SELECT kind, family_id, dpo_id, member_id, expires_at FROM invitations WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2")
            .bind(token_hash)
            .bind(to_millis(now))
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| Ok(Invitation { kind: InvitationKind::from_columns(&row.get::<String, _>(0), row.get(1), row.get(2), row.get(3))?, expires_at: from_millis(row.get(4)) }))
            .transpose()
    }

    /// Accepts an invitation: in one transaction the invitation is used up, the sign-in name is taken and the
    /// account is made (a guardian added with their password, a child's or a DPO's name and password set). A
    /// child's invitation is checked again against the child's age and standing in the family. A guardian's
    /// invitation stands for the operator who issued it: the member is added under the operator's permit, decided and
    /// logged like the console's. An unknown, used or expired invitation is [`Error::InvitationInvalid`]; a sign-in
    /// name already taken (by a member or a DPO) is [`Error::LoginTaken`] and leaves the invitation usable.
    pub async fn accept_invitation(&self, token_hash: &str, acceptance: Acceptance<'_>) -> Result<Accepted> {
        let now = OffsetDateTime::now_utc();
        let Some(invitation) = self.invitation(token_hash, now).await? else { return Err(Error::InvitationInvalid) };
        let login = login_digest(acceptance.login)?;
        let permit = match invitation.kind {
            InvitationKind::FamilyGuardian(family) => {
                let permit = self.as_operator(family, Action::Manage, Resource::Family).await?;
                permit.require_family_management()?;
                Some(permit)
            }
            InvitationKind::FamilyChild(family, child) => {
                self.invitable_child(family, child).await.map_err(|_| Error::InvitationInvalid)?;
                let permit = self.as_operator(family, Action::Manage, Resource::Family).await?;
                permit.require_family_management()?;
                Some(permit)
            }
            InvitationKind::GuardianSignIn(family, member) => {
                self.guardian_of(family, member).await.map_err(|_| Error::InvitationInvalid)?;
                let permit = self.as_operator(family, Action::Manage, Resource::Family).await?;
                permit.require_family_management()?;
                Some(permit)
            }
            InvitationKind::Dpo(_) => None,
            InvitationKind::FamilyImport => return Err(Error::InvitationInvalid),
        };
        // The family's key is read before the write transaction (a read of the pool inside it could wait on itself).
        let key = match &permit {
            Some(permit) => Some(self.family_key(permit.family()).await?),
            None => None,
        };
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
        if login_taken(&mut tx, &login).await? {
            return Err(Error::LoginTaken);
        }
        let taken = |e: sqlx::Error| match &e {
            // Taken between the check and the insert, by another acceptance.
            sqlx::Error::Database(db) if db.is_unique_violation() => Error::LoginTaken,
            _ => e.into(),
        };
        let accepted = match (invitation.kind, permit, key) {
            (InvitationKind::FamilyGuardian(family), Some(permit), Some(key)) => {
                let member = crate::vault::insert_member(&mut tx, &key, permit.family(), Role::Guardian, acceptance.name, None, Some(acceptance.password_hash)).await?;
                sqlx::query("INSERT INTO member_logins (login_hash, member_id, family_id, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&login)
                    .bind(member.to_string())
                    .bind(family.to_string())
                    .bind(to_millis(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(taken)?;
                Accepted::Guardian { family, member }
            }
            (InvitationKind::FamilyChild(family, member), Some(_), _) | (InvitationKind::GuardianSignIn(family, member), Some(_), _) => {
                let role = if matches!(invitation.kind, InvitationKind::FamilyChild(..)) { Role::Child } else { Role::Guardian };
                let set = sqlx::query("UPDATE members SET password_hash = $1 WHERE id = $2 AND family_id = $3 AND role = $4")
                    .bind(acceptance.password_hash)
                    .bind(member.to_string())
                    .bind(family.to_string())
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await?;
                if set.rows_affected() == 0 {
                    return Err(Error::InvitationInvalid);
                }
                // A member invited again (a lost password) keeps one sign-in name: the new one.
                sqlx::query("DELETE FROM member_logins WHERE member_id = $1").bind(member.to_string()).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO member_logins (login_hash, member_id, family_id, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&login)
                    .bind(member.to_string())
                    .bind(family.to_string())
                    .bind(to_millis(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(taken)?;
                sqlx::query("DELETE FROM api_sessions WHERE member_id = $1 AND family_id = $2").bind(member.to_string()).bind(family.to_string()).execute(&mut *tx).await?;
                if role == Role::Child { Accepted::Child { family, member } } else { Accepted::Guardian { family, member } }
            }
            (InvitationKind::Dpo(dpo), _, _) => {
                sqlx::query("UPDATE dpos SET login_hash = $1, password_hash = $2 WHERE id = $3")
                    .bind(&login)
                    .bind(acceptance.password_hash)
                    .bind(dpo.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(taken)?;
                Accepted::Dpo(dpo)
            }
            (InvitationKind::FamilyGuardian(_) | InvitationKind::FamilyChild(..) | InvitationKind::GuardianSignIn(..) | InvitationKind::FamilyImport, _, _) => {
                return Err(Error::InvitationInvalid);
            }
        };
        tx.commit().await?;
        Ok(accepted)
    }

    /// Uses up an import's invitation before its import runs (of two uploads at once, one finds it gone); an
    /// unknown, used or expired one, or one of another kind, is [`Error::InvitationInvalid`]. A failed import gives it
    /// back ([`Vault::give_back_import_invitation`]).
    pub async fn take_import_invitation(&self, token_hash: &str) -> Result<()> {
        let now = to_millis(OffsetDateTime::now_utc());
        let taken = sqlx::query("UPDATE invitations SET used_at = $1 WHERE token_hash = $2 AND kind = 'family_import' AND used_at IS NULL AND expires_at > $1")
            .bind(now)
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        if taken.rows_affected() == 0 {
            return Err(Error::InvitationInvalid);
        }
        Ok(())
    }

    /// An import refused or failed: its invitation may be used again (until it expires).
    pub async fn give_back_import_invitation(&self, token_hash: &str) -> Result<()> {
        sqlx::query("UPDATE invitations SET used_at = NULL WHERE token_hash = $1 AND kind = 'family_import'").bind(token_hash).execute(self.pool()).await?;
        Ok(())
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
            None if login_taken(&mut tx, &digest).await? => return Err(Error::LoginTaken),
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

/// Whether a member or a DPO signs in with this name (its digest).
async fn login_taken(tx: &mut sqlx::Transaction<'static, sqlx::Any>, digest: &str) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM member_logins WHERE login_hash = $1 UNION ALL SELECT 1 FROM dpos WHERE login_hash = $1")
        .bind(digest)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
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
        let guardian = InvitationKind::FamilyGuardian(family);
        vault.create_invitation(guardian, "first", later).await.unwrap();
        vault.create_invitation(guardian, "second", later).await.unwrap();
        vault.create_invitation(guardian, "stale", OffsetDateTime::now_utc() - time::Duration::seconds(1)).await.unwrap();
        let dpo = vault.add_dpo("Délégué", None).await.unwrap();
        vault.create_invitation(InvitationKind::Dpo(dpo), "dpo", later).await.unwrap();
        let guardian_of = |accepted| match accepted {
            Accepted::Guardian { family, member } => (family, member),
            other => panic!("not a guardian: {other:?}"),
        };
        let accept = |login| Acceptance { name: "Claire", login, password_hash: "$argon2id$stub" };

        let (found, claire) = guardian_of(vault.accept_invitation("first", accept("claire")).await.unwrap());
        assert_eq!(found, family);
        assert_eq!(vault.member_by_login("CLAIRE").await.unwrap(), Some(claire));
        assert_eq!(vault.api().member_role(family, claire).await.unwrap(), Some(Role::Guardian));
        assert!(matches!(vault.accept_invitation("first", accept("claire2")).await, Err(Error::InvitationInvalid)));
        assert!(matches!(vault.accept_invitation("stale", accept("claire3")).await, Err(Error::InvitationInvalid)));
        assert!(matches!(vault.accept_invitation("nothing", accept("claire4")).await, Err(Error::InvitationInvalid)));
        // A name already taken: refused, and the invitation can still be used with another one.
        assert!(matches!(vault.accept_invitation("second", accept("claire")).await, Err(Error::LoginTaken)));
        let (_, paul) = guardian_of(vault.accept_invitation("second", accept("paul")).await.unwrap());
        assert_ne!(paul, claire);
        assert_eq!(vault.password_hash(paul).await.unwrap().map(|(f, _)| f), Some(family));
        assert!(vault.invitation("second", OffsetDateTime::now_utc()).await.unwrap().is_none());
        // One namespace: a DPO cannot take a member's name, and takes their own once.
        assert!(matches!(vault.accept_invitation("dpo", accept("Paul")).await, Err(Error::LoginTaken)));
        assert_eq!(vault.accept_invitation("dpo", accept("dpo-martin")).await.unwrap(), Accepted::Dpo(dpo));
        assert_eq!(vault.dpo_by_login("DPO-Martin").await.unwrap(), Some(dpo));
        assert!(vault.dpo_password_hash(dpo).await.unwrap().is_some());
        assert_eq!(vault.member_by_login("dpo-martin").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_child_is_invited_from_the_age_of_digital_consent_and_passwords_change() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(crate::VaultConfig::embedded(dir.path().join("data"))).await.unwrap();
        let family = vault.create_family("Martin").await.unwrap();
        let other = vault.create_family("Durand").await.unwrap();
        let manage = vault.as_operator(family, Action::Manage, Resource::Family).await.unwrap();
        let today = OffsetDateTime::now_utc().date();
        let born = |years: i32| today.replace_day(1).unwrap().replace_year(today.year() - years).unwrap();
        let claire = vault.add_member(&manage, Role::Guardian, "Claire", None).await.unwrap();
        let zoe = vault.add_member(&manage, Role::Child, "Zoé", Some(born(15))).await.unwrap();
        let leo = vault.add_member(&manage, Role::Child, "Léo", Some(born(11))).await.unwrap();
        let ines = vault.add_member(&manage, Role::Child, "Inès", Some(born(19))).await.unwrap();
        let later = OffsetDateTime::now_utc() + time::Duration::days(7);
        let as_claire = vault.authorize(family, Principal::Member(claire), Action::Manage, Resource::Family).await.unwrap().into_permit().unwrap();

        // Under 15: refused; a guardian, another family's child: refused.
        assert!(matches!(vault.invite(&as_claire, InvitationKind::FamilyChild(family, leo), "leo", later).await, Err(Error::Denied(_))));
        assert!(matches!(vault.invite(&as_claire, InvitationKind::FamilyChild(family, claire), "claire", later).await, Err(Error::NotAChild(_))));
        assert!(matches!(vault.invite(&as_claire, InvitationKind::FamilyGuardian(other), "other", later).await, Err(Error::PermitMismatch(_))));
        vault.invite(&as_claire, InvitationKind::FamilyChild(family, zoe), "zoe", later).await.unwrap();
        vault.invite(&as_claire, InvitationKind::FamilyGuardian(family), "karim", later).await.unwrap();
        let pending = vault.pending_invitations(&as_claire).await.unwrap();
        assert_eq!(pending.len(), 2);
        assert!(pending.iter().all(|p| p.invited_by == Some(claire)));
        assert!(pending.iter().any(|p| p.kind == InvitationKind::FamilyChild(family, zoe)));

        let accepted = vault.accept_invitation("zoe", Acceptance { name: "ignored", login: "zoe", password_hash: "$argon2id$zoe" }).await.unwrap();
        assert_eq!(accepted, Accepted::Child { family, member: zoe });
        assert_eq!(vault.member_by_login("zoe").await.unwrap(), Some(zoe));
        assert_eq!(vault.password_hash(zoe).await.unwrap(), Some((family, "$argon2id$zoe".to_owned())));
        assert_eq!(vault.api().member_role(family, zoe).await.unwrap(), Some(Role::Child), "no new member was made");
        assert_eq!(vault.members_signing_in(&as_claire).await.unwrap(), vec![zoe]);
        assert_eq!(vault.pending_invitations(&as_claire).await.unwrap().len(), 1);

        // A guardian resets a minor's password, never an adult's.
        vault.set_minor_password(&as_claire, zoe, "$argon2id$new").await.unwrap();
        assert_eq!(vault.password_hash(zoe).await.unwrap().map(|(_, h)| h).as_deref(), Some("$argon2id$new"));
        assert!(matches!(vault.set_minor_password(&as_claire, ines, "$argon2id$x").await, Err(Error::Denied(_))));
        assert!(matches!(vault.set_minor_password(&as_claire, claire, "$argon2id$x").await, Err(Error::NotAChild(_))));

        // One's own password: the other sessions end, the one kept stays. The permit is one decided for the member
        // on their family (a 15-year-old reads the family's members), and only for them.
        vault.api().create_session("one", "c1", zoe, family, later).await.unwrap();
        vault.api().create_session("two", "c2", zoe, family, later).await.unwrap();
        let as_zoe = vault.authorize(family, Principal::Member(zoe), Action::Read, Resource::Register).await.unwrap().into_permit().unwrap();
        assert!(matches!(vault.change_own_password(&as_zoe, "$argon2id$z", "one").await, Err(Error::PermitMismatch(_))));
        let as_zoe = vault.authorize(family, Principal::Member(zoe), Action::Read, Resource::Family).await.unwrap().into_permit().unwrap();
        vault.change_own_password(&as_zoe, "$argon2id$mine", "one").await.unwrap();
        assert_eq!(vault.password_hash(zoe).await.unwrap().map(|(_, h)| h).as_deref(), Some("$argon2id$mine"));
        let now = OffsetDateTime::now_utc();
        assert!(vault.api().session("one", now).await.unwrap().is_some());
        assert!(vault.api().session("two", now).await.unwrap().is_none());
    }
}
