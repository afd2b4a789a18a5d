//! Data protection officers: who they are, which families their controller covers, and the checkpoints of each
//! family's log they were shown.
//!
//! A DPO answers for a controller: the operator (every family on this server) or one registered service (only the
//! grants given to it and the accesses it made). What a DPO reads of a family is decided by Cedar for
//! `Principal::Dpo` (the register, never a record, a collection or the family's names) and logged in that family's
//! ledger, as every decision; what a service's DPO sees of the register is narrowed here, in the vault
//! ([`RegisterView`](crate::ledger) of their service).

use cartable_consent::ledger::{self as tlog, Hash};
use cartable_consent::{DpoId, FamilyId, ServiceId};
use sqlx::Row;
use time::OffsetDateTime;

use crate::db::{from_millis, to_millis};
use crate::error::{Error, Result};
use crate::invitations::login_digest;
use crate::vault::{Vault, parse_id};

/// A DPO appointed on this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dpo {
    pub id: DpoId,
    /// As the operator gave it (a person's or an office's name; not a family's data).
    pub name: String,
    /// The service they answer for; `None`: the operator (every family).
    pub service: Option<ServiceId>,
    /// Whether they have accepted their invitation (set a sign-in name and a password).
    pub can_sign_in: bool,
    pub created_at: OffsetDateTime,
}

/// What a DPO sees of one family's log now, against what they were shown before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogState {
    pub family: FamilyId,
    pub size: u64,
    /// The signed checkpoint of the log as it is now (C2SP tlog-checkpoint as a signed note).
    pub checkpoint: String,
    /// The last checkpoint this DPO was shown before this one, if any: its size and when.
    pub seen: Option<(u64, OffsetDateTime)>,
    /// `Some(false)`: the log as it is now does not extend what this DPO was shown (a rewritten or truncated
    /// history); the newer checkpoint is not recorded as seen then. `None`: nothing was shown before.
    pub consistent: Option<bool>,
}

impl Vault {
    /// Appoints a DPO (an operator's bootstrap step, like [`Vault::create_family`]; they sign in once they have
    /// accepted an invitation). A service's DPO names a registered service.
    pub async fn add_dpo(&self, name: &str, service: Option<ServiceId>) -> Result<DpoId> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Error::InvalidInput("a DPO's name has 1 to 200 characters".to_owned()));
        }
        crate::text::refuse_format_characters(name, "a DPO's name")?;
        if let Some(service) = service
            && self.service(service).await?.is_none()
        {
            return Err(Error::ServiceNotFound(service.to_string()));
        }
        let id = DpoId::new();
        sqlx::query("INSERT INTO dpos (id, name, service_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id.to_string())
            .bind(name)
            .bind(service.map(|s| s.to_string()))
            .bind(to_millis(OffsetDateTime::now_utc()))
            .execute(self.pool())
            .await?;
        Ok(id)
    }

    /// Every DPO, oldest first.
    pub async fn list_dpos(&self) -> Result<Vec<Dpo>> {
        let rows = sqlx::query("SELECT id, name, service_id, login_hash, created_at FROM dpos ORDER BY created_at, id").fetch_all(self.pool()).await?;
        rows.iter().map(dpo_of).collect()
    }

    pub async fn dpo(&self, id: DpoId) -> Result<Option<Dpo>> {
        let row = sqlx::query("SELECT id, name, service_id, login_hash, created_at FROM dpos WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(dpo_of).transpose()
    }

    /// The DPO a sign-in name belongs to (a lookup of clear ids, before the password check).
    pub async fn dpo_by_login(&self, login: &str) -> Result<Option<DpoId>> {
        let Ok(digest) = login_digest(login) else { return Ok(None) };
        let row = sqlx::query("SELECT id FROM dpos WHERE login_hash = $1").bind(digest).fetch_optional(self.pool()).await?;
        row.map(|r| parse_id(&r.get::<String, _>(0))).transpose()
    }

    /// A DPO's password hash, once they have set one.
    pub async fn dpo_password_hash(&self, id: DpoId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT password_hash FROM dpos WHERE id = $1").bind(id.to_string()).fetch_optional(self.pool()).await?;
        Ok(row.and_then(|r| r.get::<Option<String>, _>(0)))
    }

    /// The service a DPO answers for (`None`: the operator), read for every decision about their view.
    pub(crate) async fn dpo_service(&self, id: DpoId) -> Result<Option<ServiceId>> {
        let row = sqlx::query("SELECT service_id FROM dpos WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or(Error::DpoNotFound(id))?;
        row.get::<Option<String>, _>(0).map(|s| parse_id(&s)).transpose()
    }

    /// The families whose register a DPO's controller covers, in id order: every family for the operator's DPO; for
    /// a service's, the families whose log names the service (its requests, grants and accesses). Clear ids only:
    /// each family's register is still decided and logged before anything of it is read.
    pub async fn dpo_families(&self, id: DpoId) -> Result<Vec<FamilyId>> {
        match self.dpo_service(id).await? {
            None => self.list_families().await,
            Some(service) => self.families_naming(service).await,
        }
    }

    /// The families whose log names `service`, in id order (clear ids, through the index the service leads). Only
    /// families that still exist: an erased family's log stays, but it has no register to decide on.
    pub async fn families_naming(&self, service: ServiceId) -> Result<Vec<FamilyId>> {
        let rows = sqlx::query(
            "SELECT DISTINCT l.family_id FROM ledger_entries l JOIN families f ON f.id = l.family_id \
             WHERE l.service_id = $1 ORDER BY l.family_id",
        )
        .bind(service.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| parse_id(&r.get::<String, _>(0))).collect()
    }

    /// The state of the permit's family's log for the DPO who holds it: a fresh signed checkpoint, and whether the
    /// log extends the last checkpoint this DPO was shown (a consistency proof from the stored tree, verified
    /// against both roots). A consistent checkpoint is recorded as the one they have now seen; an inconsistent one is
    /// not, so the inconsistency is reported again until somebody looks.
    pub async fn dpo_log_state(&self, permit: &crate::Permit) -> Result<LogState> {
        permit.require_register()?;
        let cartable_consent::Principal::Dpo(dpo) = permit.principal() else { return Err(Error::PermitMismatch("DPO")) };
        let family = permit.family();
        let note = self.checkpoint(permit).await?;
        let checkpoint = self.inner.signer.verifier().verify_note(&note).map_err(|e| Error::Key(e.to_string()))?;
        let (size, root) = (checkpoint.size(), *checkpoint.root());
        let seen = sqlx::query("SELECT size, root, seen_at FROM dpo_seen_checkpoints WHERE dpo_id = $1 AND family_id = $2")
            .bind(dpo.to_string())
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?;
        let seen = match seen {
            Some(row) => {
                let seen_size = row.get::<i64, _>(0) as u64;
                let seen_root: Vec<u8> = row.get(1);
                Some((seen_size, seen_root, from_millis(row.get(2))))
            }
            None => None,
        };
        let consistent = match &seen {
            None => None,
            Some((seen_size, seen_root, _)) => Some(self.extends(family, *seen_size, seen_root, size, &root).await?),
        };
        if consistent != Some(false) {
            sqlx::query(
                "INSERT INTO dpo_seen_checkpoints (dpo_id, family_id, size, root, note, seen_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (dpo_id, family_id) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note, seen_at = excluded.seen_at",
            )
            .bind(dpo.to_string())
            .bind(family.to_string())
            .bind(size as i64)
            .bind(root.to_vec())
            .bind(&note)
            .bind(to_millis(OffsetDateTime::now_utc()))
            .execute(self.pool())
            .await?;
        }
        Ok(LogState { family, size, checkpoint: note, seen: seen.map(|(s, _, at)| (s, at)), consistent })
    }

    /// Whether the log of `size` leaves with root `root` extends the tree of `old_size` leaves with `old_root`.
    async fn extends(&self, family: FamilyId, old_size: u64, old_root: &[u8], size: u64, root: &Hash) -> Result<bool> {
        if old_size > size {
            return Ok(false);
        }
        if old_size == 0 {
            return Ok(true);
        }
        let proof = match self.consistency_hashes(family, old_size, size).await {
            Ok(proof) => proof,
            // A tree that cannot prove it (a node missing) does not extend what was shown.
            Err(Error::LedgerBroken { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        Ok(tlog::verify_consistency(old_size, size, old_root, root, &proof).is_ok())
    }
}

fn dpo_of(row: &sqlx::any::AnyRow) -> Result<Dpo> {
    let service: Option<String> = row.get(2);
    Ok(Dpo {
        id: parse_id(&row.get::<String, _>(0))?,
        name: row.get(1),
        service: service.map(|s| parse_id(&s)).transpose()?,
        can_sign_in: row.get::<Option<String>, _>(3).is_some(),
        created_at: from_millis(row.get(4)),
    })
}
