//! Reading a family's log: the register as a permit shows it, checkpoints, inclusion and consistency proofs.

use std::collections::HashMap;

use cartable_consent::ledger::{self as tlog, Hash, NodeKey, Receipt};
use cartable_consent::{Action, Doctype, FamilyId, MemberId, Principal, Resource, Role, ServiceId};
use sqlx::Row;
use time::OffsetDateTime;

use super::store::to_hash;
use super::{LedgerEntry, LedgerFilter};
use crate::db::to_millis;
use crate::error::{Error, Result};
use crate::vault::Vault;

/// What a principal sees of a family's register.
#[derive(Debug, Clone)]
pub(crate) enum RegisterView {
    /// The operator, the operator's DPO: every entry.
    All,
    /// A service's DPO: the entries naming their service (its requests, the decisions on its grants, its accesses).
    Service(ServiceId),
    /// A member: the entries about `subjects`; with `family_level`, also those about no child of the family (none, a
    /// guardian, or an id that names nobody, as a refused call about a made-up child), unless a `hidden` child made
    /// them. So a guardian with no hidden child sees every entry.
    Members { subjects: Vec<MemberId>, hidden: Vec<MemberId>, family_level: bool },
}

impl RegisterView {
    pub(crate) fn admits(&self, subject: Option<MemberId>, actor: Option<MemberId>, service: Option<ServiceId>) -> bool {
        match self {
            RegisterView::All => true,
            RegisterView::Service(own) => service == Some(*own),
            RegisterView::Members { subjects, hidden, family_level } => match subject {
                Some(child) if subjects.contains(&child) => true,
                Some(child) if hidden.contains(&child) => false,
                _ => *family_level && actor.is_none_or(|a| !hidden.contains(&a)),
            },
        }
    }
}

impl Vault {
    pub async fn ledger_size(&self, family: FamilyId) -> Result<u64> {
        let size: i64 = sqlx::query("SELECT size FROM ledger_heads WHERE family_id = $1")
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or(Error::FamilyNotFound(family))?
            .get(0);
        Ok(size as u64)
    }

    /// The entries a permit to list the family's register shows, oldest first, filtered. A member sees the entries
    /// about the children whose data the rules let them manage now: a child from the age of digital consent sees
    /// those about themselves; a guardian no longer sees an adult child's (their requests, approvals, accesses).
    pub async fn ledger_entries(&self, permit: &crate::Permit, filter: &LedgerFilter) -> Result<Vec<LedgerEntry>> {
        let view = self.register_view(permit).await?;
        self.ledger_page(permit.family(), filter, &view).await
    }

    /// Whether the register permit shows the whole family: the operator, the operator's DPO, or a guardian whom the
    /// rules let manage every child's data (no adult child keeps theirs to themselves).
    pub async fn register_shows_all(&self, permit: &crate::Permit) -> Result<bool> {
        Ok(match self.register_view(permit).await? {
            RegisterView::All => true,
            RegisterView::Service(_) => false,
            RegisterView::Members { hidden, family_level, .. } => family_level && hidden.is_empty(),
        })
    }

    /// A page of the entries the permit shows (as [`Vault::ledger_entries`]) among the first `size`, each with its
    /// inclusion proof in the tree of `size` entries: a viewer's part of the log, checkable against one checkpoint of
    /// that size without the entries they may not see. `size` is a size the log has reached.
    pub async fn ledger_entries_proven(&self, permit: &crate::Permit, size: u64, after: Option<u64>, limit: u32) -> Result<Vec<(LedgerEntry, Vec<Hash>)>> {
        let view = self.register_view(permit).await?;
        let family = permit.family();
        if size > self.ledger_size(family).await? {
            return Err(Error::InvalidInput(format!("the ledger has not reached size {size}")));
        }
        let filter = LedgerFilter { after_index: after, limit: Some(limit), ..Default::default() };
        let mut out = Vec::new();
        for entry in self.ledger_page(family, &filter, &view).await?.into_iter().take_while(|e| e.index < size) {
            let nodes = self.nodes(family, &tlog::inclusion_keys(entry.index, size)).await?;
            let hashes = tlog::inclusion_proof(entry.index, size, &nodes)
                .map_err(|e| Error::LedgerBroken { family, index: entry.index, reason: e.to_string() })?;
            out.push((entry, hashes));
        }
        Ok(out)
    }

    /// The inclusion proof of one entry, if the permit's principal may see that entry (see
    /// [`Vault::ledger_entries`]); an entry they may not see is answered as one that does not exist.
    pub async fn inclusion_proof(&self, permit: &crate::Permit, index: u64) -> Result<String> {
        let view = self.register_view(permit).await?;
        let family = permit.family();
        let row = sqlx::query("SELECT subject_id, actor_id, service_id FROM ledger_entries WHERE family_id = $1 AND idx = $2")
            .bind(family.to_string())
            .bind(i64::try_from(index).unwrap_or(i64::MAX))
            .fetch_optional(self.pool())
            .await?;
        let parse = |v: Option<String>| v.and_then(|s| s.parse::<MemberId>().ok());
        let service = |v: Option<String>| v.and_then(|s| s.parse::<ServiceId>().ok());
        match row {
            Some(row) if view.admits(parse(row.get(0)), parse(row.get(1)), service(row.get(2))) => self.proof_of(family, index).await,
            _ => Err(Error::InvalidInput(format!("entry {index} is not in the ledger"))),
        }
    }

    /// Every entry about one child (GDPR art. 15: the grants about their data and every access to it), oldest
    /// first, each with its inclusion proof against one fresh checkpoint. Only for a principal who sees the
    /// register about that child (the child from the age of digital consent, a guardian while the child is a minor,
    /// the operator, the operator's DPO); for anyone else it is [`Error::Denied`], even when the register permit was
    /// granted, since the vault narrows what the register shows.
    pub async fn subject_history(&self, permit: &crate::Permit, child: MemberId) -> Result<Vec<(LedgerEntry, String)>> {
        let view = self.register_view(permit).await?;
        let family = permit.family();
        // Not a child of this family: as for a member who does not exist.
        if self.api().member_role(family, child).await? != Some(Role::Child) {
            return Err(Error::MemberNotFound(child));
        }
        if !view.admits(Some(child), None, None) {
            return Err(Error::Denied(format!("the consent history of `{child}` is not shown to this caller")));
        }
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let filter = LedgerFilter { subject: Some(child), after_index: after, limit: Some(1000), ..Default::default() };
            let page = self.ledger_page(family, &filter, &view).await?;
            let done = page.len() < 1000;
            after = page.last().map(|e| e.index);
            for entry in page {
                let proof = self.proof_of(family, entry.index).await?;
                out.push((entry, proof));
            }
            if done {
                return Ok(out);
            }
        }
    }

    async fn ledger_page(&self, family: FamilyId, filter: &LedgerFilter, view: &RegisterView) -> Result<Vec<LedgerEntry>> {
        let limit = filter.limit.unwrap_or(1000).clamp(1, 10_000) as i64;
        // An index beyond what SQL integers hold has nothing after it.
        let after: i64 = filter.after_index.map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX));
        let mut sql = String::from(
            "SELECT idx, entry FROM ledger_entries WHERE family_id = $1 AND idx > $2 AND ($3 IS NULL OR created_at >= $3) \
             AND ($4 IS NULL OR event = $4) AND ($5 IS NULL OR service_id = $5) AND ($6 IS NULL OR subject_id = $6) \
             AND ($8 IS NULL OR created_at < $8)",
        );
        let mut ids: Vec<String> = Vec::new();
        if let RegisterView::Service(service) = view {
            ids.push(service.to_string());
            sql.push_str(" AND service_id = $9");
        }
        if let RegisterView::Members { subjects, hidden, family_level } = view {
            // Placeholders only: the ids are bound below.
            let mut placeholders = |list: &[MemberId]| -> String {
                let start = 9 + ids.len();
                ids.extend(list.iter().map(|m| m.to_string()));
                (start..start + list.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
            };
            let mut clause = if subjects.is_empty() { "1 = 0".to_owned() } else { format!("subject_id IN ({})", placeholders(subjects)) };
            if *family_level {
                // About no child of the family (`admits`): no subject, or one neither shown nor hidden, and not made
                // by a hidden child.
                let family_level_entry = if hidden.is_empty() {
                    "1 = 1".to_owned()
                } else {
                    let hidden = placeholders(hidden);
                    format!("(subject_id IS NULL OR subject_id NOT IN ({hidden})) AND (actor_id IS NULL OR actor_id NOT IN ({hidden}))")
                };
                clause = format!("{clause} OR ({family_level_entry})");
            }
            sql.push_str(&format!(" AND ({clause})"));
        }
        sql.push_str(" ORDER BY idx LIMIT $7");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(family.to_string())
            .bind(after)
            .bind(filter.since.map(to_millis))
            .bind(filter.event.map(|e| e.as_str()))
            .bind(filter.service.map(|s| s.to_string()))
            .bind(filter.subject.map(|m| m.to_string()))
            .bind(limit)
            .bind(filter.until.map(to_millis));
        for id in ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                let index: i64 = row.get(0);
                let receipt = Receipt::from_canonical(&row.get::<Vec<u8>, _>(1)).map_err(|e| Error::LedgerBroken {
                    family,
                    index: index as u64,
                    reason: e.to_string(),
                })?;
                Ok(LedgerEntry { index: index as u64, receipt })
            })
            .collect()
    }

    /// What the permit's principal sees of the register, decided by the family's rules now.
    pub(crate) async fn register_view(&self, permit: &crate::Permit) -> Result<RegisterView> {
        if permit.action() != Action::List && permit.action() != Action::Read || !matches!(permit.resource(), Resource::Register) {
            return Err(Error::PermitMismatch("register"));
        }
        let viewer = match permit.principal() {
            Principal::Member(viewer) => viewer,
            Principal::Dpo(dpo) => return Ok(self.dpo_service(dpo).await?.map_or(RegisterView::All, RegisterView::Service)),
            Principal::Service(_) | Principal::Operator => return Ok(RegisterView::All),
        };
        let rules = self.rules(permit.family()).await?;
        let role = rules.role_of(permit.principal());
        let (mut subjects, mut hidden) = (Vec::new(), Vec::new());
        for child in rules.members.iter().filter(|m| m.role == Role::Child) {
            let manages = child.id == viewer
                || Doctype::ALL.iter().any(|&doctype| {
                    let request = cartable_consent::AccessRequest {
                        principal: permit.principal(),
                        action: Action::Manage,
                        resource: Resource::Collection { child: child.id, doctype },
                        now: permit.decided_at(),
                    };
                    self.inner.authorizer.authorize(&rules.compiled, &request).is_allowed()
                });
            match (role, manages) {
                // A child sees only what is about themselves.
                (Some(Role::Child), _) if child.id != viewer => {}
                (_, true) => subjects.push(child.id),
                (_, false) => hidden.push(child.id),
            }
        }
        Ok(RegisterView::Members { subjects, hidden, family_level: role == Some(Role::Guardian) })
    }

    /// The raw canonical bytes of one entry.
    pub(crate) async fn ledger_entry_bytes(&self, family: FamilyId, index: u64) -> Result<Vec<u8>> {
        Ok(sqlx::query("SELECT entry FROM ledger_entries WHERE family_id = $1 AND idx = $2")
            .bind(family.to_string())
            .bind(index as i64)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| Error::InvalidInput(format!("entry {index} is not in the ledger")))?
            .get(0))
    }

    async fn nodes(&self, family: FamilyId, keys: &[NodeKey]) -> Result<HashMap<NodeKey, Hash>> {
        let mut map = HashMap::with_capacity(keys.len());
        for &key in keys {
            if map.contains_key(&key) {
                continue;
            }
            let row = sqlx::query("SELECT hash FROM ledger_nodes WHERE family_id = $1 AND level = $2 AND idx = $3")
                .bind(family.to_string())
                .bind(key.level as i64)
                .bind(key.index as i64)
                .fetch_optional(self.pool())
                .await?
                .ok_or_else(|| Error::LedgerBroken { family, index: key.index << key.level, reason: "a tree node is missing".to_owned() })?;
            map.insert(key, to_hash(family, key.index << key.level, row.get(0))?);
        }
        Ok(map)
    }

    /// The family log's origin line in checkpoints.
    pub fn ledger_origin(&self, family: FamilyId) -> String {
        format!("{}/ledger/{family}", self.inner.origin)
    }

    pub(super) async fn root_at(&self, family: FamilyId, size: u64) -> Result<Hash> {
        let nodes = self.nodes(family, &tlog::root_keys(size)).await?;
        tlog::root_from(size, &nodes).map_err(|e| Error::LedgerBroken { family, index: size.saturating_sub(1), reason: e.to_string() })
    }

    /// A signed checkpoint (C2SP tlog-checkpoint as a signed note) of the family's log as it is now; it is kept
    /// so that later verifications check the log against every checkpoint handed out.
    pub async fn checkpoint(&self, permit: &crate::Permit) -> Result<String> {
        permit.require_register()?;
        self.checkpoint_of(permit.family()).await
    }

    async fn checkpoint_of(&self, family: FamilyId) -> Result<String> {
        let size = self.ledger_size(family).await?;
        let root = self.root_at(family, size).await?;
        let checkpoint = tlog::Checkpoint::new(self.ledger_origin(family), size, root).map_err(|e| Error::Key(e.to_string()))?;
        let note = self.inner.signer.sign_checkpoint(&checkpoint);
        sqlx::query("INSERT INTO ledger_checkpoints (family_id, size, note, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (family_id, size) DO NOTHING")
            .bind(family.to_string())
            .bind(size as i64)
            .bind(&note)
            .bind(to_millis(OffsetDateTime::now_utc()))
            .execute(self.pool())
            .await?;
        Ok(note)
    }

    /// The proof of entry `index` in the C2SP tlog-proof form, with the entry itself and a fresh checkpoint.
    async fn proof_of(&self, family: FamilyId, index: u64) -> Result<String> {
        let note = self.checkpoint_of(family).await?;
        let checkpoint = self.inner.signer.verifier().verify_note(&note).map_err(|e| Error::Key(e.to_string()))?;
        let size = checkpoint.size();
        if index >= size {
            return Err(Error::InvalidInput(format!("entry {index} is not in the ledger (size {size})")));
        }
        let nodes = self.nodes(family, &tlog::inclusion_keys(index, size)).await?;
        let hashes = tlog::inclusion_proof(index, size, &nodes)
            .map_err(|e| Error::LedgerBroken { family, index, reason: e.to_string() })?;
        let entry = self.ledger_entry_bytes(family, index).await?;
        Ok(tlog::TlogProof { index, hashes, checkpoint_note: note, extra: Some(entry) }.to_text())
    }

    /// A consistency proof between two sizes of the family's log.
    pub async fn consistency_proof(&self, permit: &crate::Permit, old_size: u64, new_size: u64) -> Result<Vec<Hash>> {
        permit.require_register()?;
        self.consistency_hashes(permit.family(), old_size, new_size).await
    }

    pub(crate) async fn consistency_hashes(&self, family: FamilyId, old_size: u64, new_size: u64) -> Result<Vec<Hash>> {
        let size = self.ledger_size(family).await?;
        if old_size == 0 || old_size > new_size || new_size > size {
            return Err(Error::InvalidInput(format!("a consistency proof needs 0 < old size <= new size <= {size}")));
        }
        let nodes = self.nodes(family, &tlog::consistency_keys(old_size, new_size)).await?;
        tlog::consistency_proof(old_size, new_size, &nodes).map_err(|e| Error::LedgerBroken { family, index: old_size, reason: e.to_string() })
    }
}
