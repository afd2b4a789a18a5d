//! Sealed delivery, the family's side: each grant's MLS group (crate `cartable-sealed`), whose state is kept in
//! `sealed_groups` sealed to the family's data key at its place, the grant's mailbox of Welcomes and commits that its
//! service's instances fetch, and the KeyPackages those instances publish.
//!
//! A group is made when its grant is in force and its service has an instance with a KeyPackage (at the service's
//! first mailbox fetch or sealed response), lets in each instance the service adds, takes out each one it retires,
//! and is emptied of every instance in the transaction that ends the grant (revocation, expiry, majority). Each of
//! these is a `sealed_membership` entry of the family's ledger.
//!
//! Several processes may hold the same group: the row is rewritten by compare-and-set on its epoch and its
//! membership version, always before the commit it holds is delivered, and a process seals only in an epoch it made
//! itself (a group read back from the row is rekeyed at once, `VaultGroup::from_snapshot`), so no two processes ever
//! seal from the same ratchet. A process whose group is more than one epoch behind the row, or whose membership is
//! not the row's, reads the row back before it seals again.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use cartable_consent::ledger::{ReceiptDraft, SealedChange, SealedChangeKind};
use cartable_consent::{FamilyId, Grant, GrantId, GrantState, Grantee, ServiceId};
use cartable_sealed::{Commit, SealError, VaultGroup};
use sqlx::Row;
use time::OffsetDateTime;

use crate::db::to_millis;
use crate::envelope::{Field, Place};
use crate::error::{Error, Result};
use crate::keys::FamilyKey;
use crate::vault::Vault;

/// How long the vault's leaf in a group serves before the vault renews it (a self-update commit), so that keys
/// taken from a service's machine stop opening what follows.
pub const LEAF_RENEWAL: time::Duration = time::Duration::hours(24);
/// KeyPackages kept per instance (the oldest go first) and taken per call.
const MAX_KEY_PACKAGES_PER_INSTANCE: usize = 32;
const MAX_KEY_PACKAGES_PER_CALL: usize = 16;
/// Instances a service may have, retired ones included.
const MAX_INSTANCES_PER_SERVICE: i64 = 64;
/// How often a change is made again after another process changed the group first.
const RETRIES: usize = 8;

/// The MLS identity of a service's instance: what its credential must say.
pub fn instance_identity(service: ServiceId, instance: &str) -> Vec<u8> {
    format!("service:{service}/{instance}").into_bytes()
}

/// The vault's own identity in a grant's group.
fn vault_identity(family: FamilyId) -> Vec<u8> {
    format!("vault:{family}").into_bytes()
}

/// An instance's name: 1 to 64 letters, digits, `.`, `_` or `-`.
pub fn check_instance_name(instance: &str) -> Result<()> {
    let fine = !instance.is_empty() && instance.len() <= 64 && instance.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if fine { Ok(()) } else { Err(Error::InvalidInput("an instance's name is 1 to 64 letters, digits, `.`, `_` or `-`".to_owned())) }
}

/// What a mailbox message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxKind {
    /// For the instances a commit adds: joins them to the group.
    Welcome,
    /// For the instances already in the group (those it removes included).
    Commit,
}

impl MailboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxKind::Welcome => "welcome",
            MailboxKind::Commit => "commit",
        }
    }

    fn parse(s: &str) -> Result<MailboxKind> {
        match s {
            "welcome" => Ok(MailboxKind::Welcome),
            "commit" => Ok(MailboxKind::Commit),
            _ => Err(Error::Corrupt("a mailbox message's kind")),
        }
    }
}

/// One message of a grant's mailbox, an MLS message in TLS encoding.
#[derive(Debug, Clone)]
pub struct MailboxMessage {
    pub seq: u64,
    pub kind: MailboxKind,
    /// The group's epoch once it is applied.
    pub epoch: u64,
    pub message: Vec<u8>,
}

/// A grant's mailbox from a point on, with the vault's signature key in the group (what an instance pins at join).
#[derive(Debug, Clone)]
pub struct Mailbox {
    pub vault_key: Vec<u8>,
    pub epoch: u64,
    pub members: u32,
    pub messages: Vec<MailboxMessage>,
}

/// A response sealed for a grant's group.
#[derive(Debug, Clone)]
pub struct SealedResponse {
    pub message: Vec<u8>,
    pub epoch: u64,
}

/// Seals one grant's responses (see [`Vault::sealer`]). Cheap to clone; a stream's chunks are sealed one by one.
#[derive(Clone)]
pub struct Sealer {
    vault: Vault,
    family: FamilyId,
    grant: GrantId,
}

/// A group row read at `at`, while this process's changes were at `generation`.
#[derive(Clone, Copy)]
struct Checked {
    family: FamilyId,
    stored: Stored,
    generation: u64,
    at: std::time::Instant,
}

/// How long a group's row read stays good for the next messages (every response of the grant, a stream's chunks):
/// another process's change (an instance retired, a grant ended) is seen within it; this process's own changes are
/// seen at once. A response is decided before it is sealed, so this bounds only what is already in flight.
const CHECK_REUSE: std::time::Duration = std::time::Duration::from_millis(50);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("grant", &self.grant).finish_non_exhaustive()
    }
}

impl Sealer {
    /// Seals one message for every member of the grant's group.
    pub async fn seal(&self, plaintext: &[u8]) -> Result<SealedResponse> {
        self.vault.seal_in(self.family, self.grant, plaintext).await
    }
}

/// An instance's KeyPackages after a publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// KeyPackages the server holds for the instance, unused.
    pub available: u32,
}

/// The groups this process holds in memory, each behind a lock of its own.
#[derive(Default)]
pub(crate) struct Groups {
    slots: Mutex<HashMap<GrantId, Arc<tokio::sync::Mutex<Option<Held>>>>>,
    /// Each group's row as last read, reused for a moment by every response (see [`CHECK_REUSE`]).
    checked: Mutex<HashMap<GrantId, Checked>>,
    /// Bumped at every change of a group this process makes, so that no row read before it is reused.
    generation: std::sync::atomic::AtomicU64,
}

impl Groups {
    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn changed(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// The row of `grant`'s group read less than [`CHECK_REUSE`] ago and since this process's last change.
    fn fresh(&self, grant: GrantId) -> Option<(FamilyId, Stored)> {
        let generation = self.generation();
        let checked = self.checked.lock().expect("sealed checks lock");
        checked.get(&grant).filter(|c| c.generation == generation && c.at.elapsed() < CHECK_REUSE).map(|c| (c.family, c.stored))
    }

    fn checked_now(&self, grant: GrantId, family: FamilyId, stored: Stored, generation: u64) {
        let mut checked = self.checked.lock().expect("sealed checks lock");
        if checked.len() > 10_000 {
            checked.retain(|_, c| c.at.elapsed() < CHECK_REUSE);
        }
        checked.insert(grant, Checked { family, stored, generation, at: std::time::Instant::now() });
    }

    fn slot(&self, grant: GrantId) -> Arc<tokio::sync::Mutex<Option<Held>>> {
        let mut slots = self.slots.lock().expect("sealed groups lock");
        if slots.len() > 10_000 {
            // A bound, not a cache policy: a group dropped is read back (and rekeyed) at its next use.
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        slots.entry(grant).or_default().clone()
    }
}

/// A group held in memory, with the row it was last persisted as.
struct Held {
    group: VaultGroup,
    stored: Stored,
}

/// A group row's clear columns, what compare-and-set compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stored {
    epoch: i64,
    members_version: i64,
    renewed_at: i64,
}

/// A group's row: its family, its sealed state, its clear columns and how many service instances it holds.
struct GroupRow {
    family: FamilyId,
    state_enc: Vec<u8>,
    stored: Stored,
    service_members: u32,
}

impl GroupRow {
    /// The group read back from its state, rekeyed at once: the rekey's commit is the first of `changes`.
    fn restore(&self, key: &FamilyKey, grant: &str, changes: &mut Changes) -> Result<VaultGroup> {
        let snapshot = key.open(&place(self.family, grant), &self.state_enc)?;
        let (group, rekey) = VaultGroup::from_snapshot(&snapshot).map_err(mls("a sealed group's state does not read"))?;
        changes.commit(rekey);
        Ok(group)
    }
}

impl Held {
    /// Whether this process may seal with its group as the row stands: the same members, and at most one epoch
    /// behind (another process's restore, which members still read past).
    fn fits(&self, row: &Stored) -> bool {
        row.members_version == self.stored.members_version && row.epoch <= self.stored.epoch + 1
    }
}

fn place(family: FamilyId, grant: &str) -> Place<'_> {
    Place { family, field: Field::SealedGroup { grant } }
}

/// What one round of changes made: the mailbox's new messages and the membership change to log.
#[derive(Default)]
struct Changes {
    out: Vec<(MailboxKind, u64, Vec<u8>)>,
    /// Each change of members, in order: what, how many instances, how many service instances after it.
    membership: Vec<(SealedChangeKind, u32, u32)>,
    used_key_packages: Vec<(String, String)>,
}

impl Changes {
    fn commit(&mut self, commit: Commit) {
        if let Some(welcome) = commit.welcome {
            self.out.push((MailboxKind::Welcome, commit.epoch, welcome));
        }
        self.out.push((MailboxKind::Commit, commit.epoch, commit.commit));
    }
}

fn mls<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> Error {
    move |e| {
        tracing::warn!(error = %e, "{what}");
        Error::Sealed(what)
    }
}

impl Vault {
    // --- the service's instances ------------------------------------------------------------------------------

    /// Publishes KeyPackages of one of `service`'s instances (MLS messages as `ServiceMember::key_packages` makes
    /// them), each verified and naming the instance (`service:<id>/<instance>`). Marks the service sealed for good:
    /// from now on every data response under its grants is an MLS message. A retired instance publishes nothing.
    pub async fn publish_key_packages(&self, service: ServiceId, instance: &str, key_packages: &[Vec<u8>]) -> Result<Published> {
        check_instance_name(instance)?;
        if key_packages.is_empty() || key_packages.len() > MAX_KEY_PACKAGES_PER_CALL {
            return Err(Error::InvalidInput(format!("publish 1 to {MAX_KEY_PACKAGES_PER_CALL} KeyPackages at a time")));
        }
        let identity = instance_identity(service, instance);
        for (index, bytes) in key_packages.iter().enumerate() {
            let named = cartable_sealed::key_package_identity(bytes)
                .map_err(|e| Error::InvalidInput(format!("KeyPackage {index} is refused: {e}")))?;
            if named != identity {
                return Err(Error::InvalidInput(format!("KeyPackage {index} is not this instance's (its credential must be `service:<id>/<instance>`)")));
            }
        }
        let now = to_millis(OffsetDateTime::now_utc());
        let service_text = service.to_string();
        let mut tx = self.write_tx().await?;
        let retired: Option<Option<i64>> = sqlx::query("SELECT retired_at FROM sealed_instances WHERE service_id = $1 AND instance = $2")
            .bind(&service_text)
            .bind(instance)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.get(0));
        match retired {
            Some(Some(_)) => return Err(Error::InvalidInput("this instance was retired; a new instance needs a new name".to_owned())),
            Some(None) => {}
            None => {
                let count: i64 = sqlx::query("SELECT COUNT(*) FROM sealed_instances WHERE service_id = $1")
                    .bind(&service_text)
                    .fetch_one(&mut *tx)
                    .await?
                    .get(0);
                if count >= MAX_INSTANCES_PER_SERVICE {
                    return Err(Error::InvalidInput(format!("a service has at most {MAX_INSTANCES_PER_SERVICE} instances")));
                }
                sqlx::query("INSERT INTO sealed_instances (service_id, instance, created_at) VALUES ($1, $2, $3)")
                    .bind(&service_text)
                    .bind(instance)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for bytes in key_packages {
            sqlx::query("INSERT INTO sealed_key_packages (service_id, instance, id, key_package, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&service_text)
                .bind(instance)
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(bytes.clone())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        // Keep the newest: an instance that lost its state publishes again, and the old ones would never join.
        let ids: Vec<String> = sqlx::query("SELECT id FROM sealed_key_packages WHERE service_id = $1 AND instance = $2 ORDER BY id DESC")
            .bind(&service_text)
            .bind(instance)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        for id in ids.iter().skip(MAX_KEY_PACKAGES_PER_INSTANCE) {
            sqlx::query("DELETE FROM sealed_key_packages WHERE service_id = $1 AND instance = $2 AND id = $3")
                .bind(&service_text)
                .bind(instance)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE services SET sealed = 1 WHERE id = $1").bind(&service_text).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Published { available: ids.len().min(MAX_KEY_PACKAGES_PER_INSTANCE) as u32 })
    }

    /// Retires one of `service`'s instances: its KeyPackages are dropped and it is taken out of every group of the
    /// service's grants at once, each removal a commit and a ledger entry; it reads nothing sealed after. Returns
    /// how many groups it left.
    pub async fn retire_instance(&self, service: ServiceId, instance: &str) -> Result<u32> {
        check_instance_name(instance)?;
        let service_text = service.to_string();
        let mut tx = self.write_tx().await?;
        let retired = sqlx::query("UPDATE sealed_instances SET retired_at = $1 WHERE service_id = $2 AND instance = $3 AND retired_at IS NULL")
            .bind(to_millis(OffsetDateTime::now_utc()))
            .bind(&service_text)
            .bind(instance)
            .execute(&mut *tx)
            .await?;
        let known: bool = sqlx::query("SELECT 1 FROM sealed_instances WHERE service_id = $1 AND instance = $2")
            .bind(&service_text)
            .bind(instance)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !known {
            return Err(Error::InvalidInput("this service has no instance of that name".to_owned()));
        }
        sqlx::query("DELETE FROM sealed_key_packages WHERE service_id = $1 AND instance = $2")
            .bind(&service_text)
            .bind(instance)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if retired.rows_affected() == 0 {
            tracing::debug!(service = %service, "instance already retired");
        }
        // Every group of the service's grants: those where it is a member lose it (a crash here is finished by the
        // next sync of each group, which takes retired instances out).
        let groups = sqlx::query("SELECT grant_id, family_id FROM sealed_groups WHERE service_id = $1 AND service_members > 0")
            .bind(&service_text)
            .fetch_all(self.pool())
            .await?;
        let mut left = 0;
        for row in groups {
            let grant: GrantId = crate::vault::parse_id(&row.get::<String, _>(0))?;
            let family: FamilyId = crate::vault::parse_id(&row.get::<String, _>(1))?;
            if self.sync_group(family, grant).await? == Synced::Removed {
                left += 1;
            }
        }
        Ok(left)
    }

    // --- a grant's group ----------------------------------------------------------------------------------------

    /// How many of its service's instances can open each sealed grant's data, for the grants a register permit
    /// shows (a grant without a sealed group is absent: its service reads in the clear, inside TLS).
    pub async fn sealed_members(&self, permit: &crate::Permit) -> Result<HashMap<GrantId, u32>> {
        permit.require_register()?;
        let rows = sqlx::query("SELECT grant_id, service_members FROM sealed_groups WHERE family_id = $1")
            .bind(permit.family().to_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|row| Ok((crate::vault::parse_id(&row.get::<String, _>(0))?, row.get::<i64, _>(1).max(0) as u32))).collect()
    }

    /// The grant's mailbox after `after` (its group brought up to date first: made, with the service's instances
    /// let in, or emptied when the grant has ended). `None` when the grant has no group (its service has published
    /// no KeyPackage, or the grant was never in force with one). Holds MLS ciphertexts and public keys only: the
    /// caller checks the service's token for this grant first.
    pub async fn sealed_mailbox(&self, family: FamilyId, grant: GrantId, after: u64, limit: u32) -> Result<Option<Mailbox>> {
        self.sync_group(family, grant).await?;
        let Some(row) = self.group_row(grant).await? else { return Ok(None) };
        if row.family != family {
            return Err(Error::GrantNotFound(grant));
        }
        let key = self.family_key(family).await?;
        let grant_text = grant.to_string();
        let snapshot = key.open(&place(family, &grant_text), &row.state_enc)?;
        let vault_key = VaultGroup::signature_key_of(&snapshot).map_err(mls("a sealed group's state does not read"))?;
        let rows = sqlx::query("SELECT seq, kind, epoch, message FROM sealed_mailbox WHERE grant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
            .bind(&grant_text)
            .bind(after.min(i64::MAX as u64) as i64)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        let messages = rows
            .iter()
            .map(|row| {
                Ok(MailboxMessage {
                    seq: row.get::<i64, _>(0) as u64,
                    kind: MailboxKind::parse(&row.get::<String, _>(1))?,
                    epoch: row.get::<i64, _>(2) as u64,
                    message: row.get(3),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Mailbox { vault_key, epoch: row.stored.epoch as u64, members: row.service_members, messages }))
    }

    /// What seals `grant`'s responses for its group, for the holder of a permit of the grant's family (an allowed
    /// and logged access of the grant's service: the response's own). The group is made first if the grant has none
    /// yet; `None` when it cannot have one (the service has no instance with a KeyPackage).
    pub async fn sealer(&self, permit: &crate::Permit, grant: GrantId) -> Result<Option<Sealer>> {
        let family = permit.family();
        match self.group_checked(grant).await? {
            Some((owner, _)) if owner != family => return Err(Error::GrantNotFound(grant)),
            Some(_) => {}
            None => {
                if self.sync_group(family, grant).await? == Synced::None {
                    return Ok(None);
                }
            }
        }
        Ok(Some(Sealer { vault: self.clone(), family, grant }))
    }

    async fn seal_in(&self, family: FamilyId, grant: GrantId, plaintext: &[u8]) -> Result<SealedResponse> {
        let grant_text = grant.to_string();
        for _ in 0..RETRIES {
            let (owner, stored) = self.group_checked(grant).await?.ok_or(Error::Sealed("the grant's group is gone"))?;
            if owner != family {
                return Err(Error::GrantNotFound(grant));
            }
            let slot = self.inner.sealed.slot(grant);
            let mut held = slot.lock().await;
            let renew_due = stored.renewed_at <= to_millis(OffsetDateTime::now_utc() - LEAF_RENEWAL);
            if let Some(h) = held.as_mut().filter(|h| h.fits(&stored) && !renew_due) {
                match h.group.seal(plaintext) {
                    Ok(message) => return Ok(SealedResponse { message, epoch: h.group.epoch() }),
                    Err(SealError::EpochExhausted(_)) => {}
                    Err(e) => {
                        *held = None;
                        return Err(mls("sealing a response failed")(e));
                    }
                }
            }
            // Read the row back (rekeyed), or renew the leaf: one commit, persisted before anything is sealed in it.
            let key = self.family_key(family).await?;
            let (mut group, before, mut changes) = match held.take().filter(|h| h.stored == stored) {
                Some(h) => (h.group, stored, Changes::default()),
                None => {
                    let row = self.group_row(grant).await?.ok_or(Error::Sealed("the grant's group is gone"))?;
                    let mut changes = Changes::default();
                    let group = row.restore(&key, &grant_text, &mut changes)?;
                    (group, row.stored, changes)
                }
            };
            if changes.out.is_empty() {
                changes.commit(group.self_update().map_err(mls("renewing the vault's leaf failed"))?);
            }
            let grant_row = self.grant_record(family, grant).await?;
            if let Some(stored) = self.persist(&key, &grant_row, &mut group, Some(before), changes, None).await? {
                *held = Some(Held { group, stored });
            }
        }
        Err(Error::Contended("the sealed group kept changing"))
    }

    /// Brings a grant's group to what it should be: made when the grant is in force and its service has an instance
    /// with a KeyPackage; every active instance of the service in it while the grant is in force; none once it has
    /// ended or for a retired instance. Each membership change is logged.
    pub(crate) async fn sync_group(&self, family: FamilyId, grant_id: GrantId) -> Result<Synced> {
        let grant = self.grant_record(family, grant_id).await?;
        let Grantee::Service(service) = grant.grantee else { return Ok(Synced::None) };
        let grant_text = grant_id.to_string();
        let slot = self.inner.sealed.slot(grant_id);
        let mut held = slot.lock().await;
        let mut result = Synced::Unchanged;
        for _ in 0..RETRIES {
            let row = self.group_row(grant_id).await?;
            let in_force = in_force(&grant, OffsetDateTime::now_utc());
            let instances = if in_force { self.active_instances(service).await? } else { Vec::new() };
            if row.is_none() && instances.is_empty() {
                return Ok(Synced::None);
            }
            let key = self.family_key(family).await?;
            let mut changes = Changes::default();
            let (mut group, before) = match row {
                None => (VaultGroup::create(grant_text.as_bytes(), &vault_identity(family)).map_err(mls("making a sealed group failed"))?, None),
                Some(row) => {
                    if row.family != family {
                        return Err(Error::GrantNotFound(grant_id));
                    }
                    match held.take().filter(|h| h.stored == row.stored) {
                        Some(h) => (h.group, Some(row.stored)),
                        None => (row.restore(&key, &grant_text, &mut changes)?, Some(row.stored)),
                    }
                }
            };
            let members: BTreeSet<Vec<u8>> = group.members().into_iter().filter(|m| !m.is_vault).map(|m| m.identity).collect();
            let wanted: BTreeSet<Vec<u8>> = instances.iter().map(|i| instance_identity(service, i)).collect();
            let leaving: Vec<&[u8]> = members.iter().filter(|m| !wanted.contains(*m)).map(Vec::as_slice).collect();
            let staying = (members.len() - leaving.len()) as u32;
            if !leaving.is_empty() {
                changes.commit(group.remove(&leaving).map_err(mls("taking instances out of a sealed group failed"))?);
                let kind = if in_force { SealedChangeKind::Removed } else { SealedChangeKind::Ended };
                changes.membership.push((kind, leaving.len() as u32, staying));
                result = Synced::Removed;
            }
            let mut joining = Vec::new();
            for instance in &instances {
                if members.contains(&instance_identity(service, instance)) {
                    continue;
                }
                if let Some((id, key_package)) = self.oldest_key_package(service, instance).await? {
                    joining.push(key_package);
                    changes.used_key_packages.push((instance.clone(), id));
                }
            }
            if !joining.is_empty() {
                match group.add(&joining) {
                    Ok(commit) => changes.commit(commit),
                    Err(cartable_sealed::CommitError::KeyPackage { index, reason }) => {
                        // Verified at publication; expired since. Drop it and try with the next one.
                        tracing::info!(service = %service, %reason, "a published KeyPackage is no longer valid");
                        let (instance, id) = changes.used_key_packages[index].clone();
                        self.drop_key_package(service, &instance, &id).await?;
                        continue;
                    }
                    Err(e) => return Err(mls("letting instances into a sealed group failed")(e)),
                }
                let kind = if before.is_none() { SealedChangeKind::Created } else { SealedChangeKind::Added };
                changes.membership.push((kind, joining.len() as u32, staying + joining.len() as u32));
                if result != Synced::Removed {
                    result = Synced::Added;
                }
            }
            if before.is_none() && joining.is_empty() {
                // No instance could join yet (all KeyPackages used): no group until one publishes.
                return Ok(Synced::None);
            }
            if changes.out.is_empty() {
                *held = before.map(|stored| Held { group, stored });
                return Ok(result);
            }
            match self.persist(&key, &grant, &mut group, before, changes, None).await? {
                Some(stored) => {
                    *held = Some(Held { group, stored });
                    return Ok(result);
                }
                None => {
                    result = Synced::Unchanged;
                    continue;
                }
            }
        }
        Err(Error::Contended("the sealed group kept changing"))
    }

    /// Takes every instance out of an ended grant's group, inside the transaction that ended it, so that the end
    /// and the removal commit (and their entries) are one. Nothing when the grant has no group. The caller calls
    /// [`Vault::sealed_changed`] once the transaction has committed.
    /// `key` is the family's, read before the transaction (a read of the pool inside it could wait on itself).
    pub(crate) async fn end_sealed_group(&self, tx: &mut sqlx::Transaction<'static, sqlx::Any>, key: &FamilyKey, grant: &Grant) -> Result<()> {
        let grant_text = grant.id.to_string();
        let Some(row) = group_row_on(tx, grant.id).await? else { return Ok(()) };
        let mut changes = Changes::default();
        let mut group = row.restore(key, &grant_text, &mut changes)?;
        let removed = group.members().iter().filter(|m| !m.is_vault).count() as u32;
        if let Some(commit) = group.remove_all_services().map_err(mls("emptying a sealed group failed"))? {
            changes.commit(commit);
            changes.membership.push((SealedChangeKind::Ended, removed, 0));
        }
        // The process's own copy is stale now: drop it (the next use reads the row back).
        let slot = self.inner.sealed.slot(grant.id);
        if let Ok(mut held) = slot.try_lock() {
            *held = None;
        }
        if self.persist(key, grant, &mut group, Some(row.stored), changes, Some(tx)).await?.is_none() {
            return Err(Error::Contended("the sealed group changed while the grant ended"));
        }
        Ok(())
    }

    /// Says that a group changed in a transaction that has now committed: no row read before is reused.
    pub(crate) fn sealed_changed(&self) {
        self.inner.sealed.changed();
    }

    /// Writes the group's new state (compare-and-set on `before`), its mailbox messages, the KeyPackages it used and
    /// its ledger entry, in `tx` or a transaction of its own. `None` when another process changed the row first.
    async fn persist(
        &self,
        key: &FamilyKey,
        grant: &Grant,
        group: &mut VaultGroup,
        before: Option<Stored>,
        changes: Changes,
        tx: Option<&mut sqlx::Transaction<'static, sqlx::Any>>,
    ) -> Result<Option<Stored>> {
        let grant_text = grant.id.to_string();
        let snapshot = group.snapshot().map_err(mls("keeping a sealed group failed"))?;
        let state_enc = key.seal(&place(grant.family, &grant_text), &snapshot)?;
        let now = OffsetDateTime::now_utc();
        let service_members = group.members().iter().filter(|m| !m.is_vault).count() as i64;
        let renewed = changes.out.iter().any(|(kind, _, _)| *kind == MailboxKind::Commit) || before.is_none();
        let stored = Stored {
            epoch: group.epoch() as i64,
            members_version: before.map_or(0, |b| b.members_version) + changes.membership.len() as i64,
            renewed_at: if renewed { to_millis(now) } else { before.map_or(to_millis(now), |b| b.renewed_at) },
        };
        let service = match grant.grantee {
            Grantee::Service(s) => s.to_string(),
            Grantee::Member(_) => return Err(Error::InvalidInput("only a service's grant has a sealed group".to_owned())),
        };
        // Rows read before this change are not reused (see `Sealer`), in this process at least.
        self.inner.sealed.changed();
        match tx {
            Some(tx) => write_group(tx, self.inner.backend, grant, &service, state_enc, stored, service_members, before, changes, now).await,
            None => {
                let mut tx = self.write_tx().await?;
                let written = write_group(&mut tx, self.inner.backend, grant, &service, state_enc, stored, service_members, before, changes, now).await?;
                if written.is_some() {
                    tx.commit().await?;
                    // And again once it is visible: a row read between the two is not reused either.
                    self.inner.sealed.changed();
                }
                Ok(written)
            }
        }
    }

    async fn group_row(&self, grant: GrantId) -> Result<Option<GroupRow>> {
        let mut conn = self.pool().acquire().await?;
        group_row_on(&mut conn, grant).await
    }

    /// The group's row as read less than [`CHECK_REUSE`] ago, or read now (and kept for the next messages).
    async fn group_checked(&self, grant: GrantId) -> Result<Option<(FamilyId, Stored)>> {
        if let Some(row) = self.inner.sealed.fresh(grant) {
            return Ok(Some(row));
        }
        let generation = self.inner.sealed.generation();
        let row = self.group_stored(grant).await?;
        if let Some((owner, stored)) = row {
            self.inner.sealed.checked_now(grant, owner, stored, generation);
        }
        Ok(row)
    }

    /// A group row's clear columns only (what sealing checks before every message), without its state.
    async fn group_stored(&self, grant: GrantId) -> Result<Option<(FamilyId, Stored)>> {
        let row = sqlx::query("SELECT family_id, epoch, members_version, renewed_at FROM sealed_groups WHERE grant_id = $1")
            .bind(grant.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| Ok((crate::vault::parse_id(&row.get::<String, _>(0))?, Stored { epoch: row.get(1), members_version: row.get(2), renewed_at: row.get(3) })))
            .transpose()
    }

    async fn active_instances(&self, service: ServiceId) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT instance FROM sealed_instances WHERE service_id = $1 AND retired_at IS NULL ORDER BY instance")
            .bind(service.to_string())
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn oldest_key_package(&self, service: ServiceId, instance: &str) -> Result<Option<(String, Vec<u8>)>> {
        let row = sqlx::query("SELECT id, key_package FROM sealed_key_packages WHERE service_id = $1 AND instance = $2 ORDER BY id LIMIT 1")
            .bind(service.to_string())
            .bind(instance)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    async fn drop_key_package(&self, service: ServiceId, instance: &str, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM sealed_key_packages WHERE service_id = $1 AND instance = $2 AND id = $3")
            .bind(service.to_string())
            .bind(instance)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// The writes of [`Vault::persist`], in `tx`.
#[allow(clippy::too_many_arguments)]
async fn write_group(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: crate::db::Backend,
    grant: &Grant,
    service: &str,
    state_enc: Vec<u8>,
    stored: Stored,
    service_members: i64,
    before: Option<Stored>,
    changes: Changes,
    now: OffsetDateTime,
) -> Result<Option<Stored>> {
    let grant_text = grant.id.to_string();
    let n = changes.out.len() as i64;
    let written = match before {
        None => sqlx::query(
            "INSERT INTO sealed_groups (grant_id, family_id, service_id, state_enc, epoch, members_version, service_members, renewed_at, next_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (grant_id) DO NOTHING",
        )
        .bind(&grant_text)
        .bind(grant.family.to_string())
        .bind(service)
        .bind(state_enc)
        .bind(stored.epoch)
        .bind(stored.members_version)
        .bind(service_members)
        .bind(stored.renewed_at)
        .bind(n + 1)
        .execute(&mut **tx)
        .await?
        .rows_affected(),
        Some(before) => sqlx::query(
            "UPDATE sealed_groups SET state_enc = $1, epoch = $2, members_version = $3, service_members = $4, renewed_at = $5, \
             next_seq = next_seq + $6 WHERE grant_id = $7 AND epoch = $8 AND members_version = $9",
        )
        .bind(state_enc)
        .bind(stored.epoch)
        .bind(stored.members_version)
        .bind(service_members)
        .bind(stored.renewed_at)
        .bind(n)
        .bind(&grant_text)
        .bind(before.epoch)
        .bind(before.members_version)
        .execute(&mut **tx)
        .await?
        .rows_affected(),
    };
    if written == 0 {
        return Ok(None);
    }
    let next: i64 = sqlx::query("SELECT next_seq FROM sealed_groups WHERE grant_id = $1").bind(&grant_text).fetch_one(&mut **tx).await?.get(0);
    for (i, (kind, epoch, message)) in changes.out.into_iter().enumerate() {
        sqlx::query("INSERT INTO sealed_mailbox (grant_id, seq, family_id, kind, epoch, message, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&grant_text)
            .bind(next - n + i as i64)
            .bind(grant.family.to_string())
            .bind(kind.as_str())
            .bind(epoch as i64)
            .bind(message)
            .bind(to_millis(now))
            .execute(&mut **tx)
            .await?;
    }
    for (instance, id) in &changes.used_key_packages {
        sqlx::query("DELETE FROM sealed_key_packages WHERE service_id = $1 AND instance = $2 AND id = $3")
            .bind(service)
            .bind(instance)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    for (kind, instances, members) in changes.membership {
        let change = SealedChange { change: kind, instances, members, epoch: stored.epoch as u64 };
        crate::ledger::append(tx, backend, ReceiptDraft::for_sealed_change(grant, change, now)).await?;
    }
    Ok(Some(stored))
}

/// What [`Vault::sync_group`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Synced {
    /// The grant has no group (and cannot have one yet).
    None,
    Unchanged,
    Added,
    Removed,
}

/// Whether a grant lets its service in now.
fn in_force(grant: &Grant, now: OffsetDateTime) -> bool {
    matches!(grant.state, GrantState::Active | GrantState::AwaitingConfirmation) && grant.expires_at.is_some_and(|end| end > now)
}

async fn group_row_on(conn: &mut sqlx::AnyConnection, grant: GrantId) -> Result<Option<GroupRow>> {
    let row = sqlx::query("SELECT family_id, state_enc, epoch, members_version, renewed_at, service_members FROM sealed_groups WHERE grant_id = $1")
        .bind(grant.to_string())
        .fetch_optional(conn)
        .await?;
    row.map(|row| {
        Ok(GroupRow {
            family: crate::vault::parse_id(&row.get::<String, _>(0))?,
            state_enc: row.get(1),
            stored: Stored { epoch: row.get(2), members_version: row.get(3), renewed_at: row.get(4) },
            service_members: row.get::<i64, _>(5).max(0) as u32,
        })
    })
    .transpose()
}
