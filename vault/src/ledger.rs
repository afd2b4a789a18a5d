//! The consent ledger's storage: entries, the tree's perfect subtree hashes, checkpoints; appends happen inside
//! the caller's transaction, so a state change and its entry commit together.

use std::collections::{BTreeMap, HashMap};

use cartable_consent::ledger::{self as tlog, Actor, EventType, Hash, NodeKey, ProhibitionChange, Receipt, ReceiptDraft};
use cartable_consent::{
    Action, Doctype, FamilyId, ForbidScope, GrantId, GrantState, MemberId, Principal, RecordId, Resource,
    Role, ServiceId,
};
use serde::Serialize;
use sqlx::Row;
use time::OffsetDateTime;

use crate::db::to_millis;
use crate::error::{Error, Result};
use crate::vault::Vault;

/// What the ledger's filters look at, kept in clear columns beside each entry (ids and the event's name only).
pub(crate) struct EntryColumns {
    pub(crate) event: &'static str,
    pub(crate) subject: Option<String>,
    pub(crate) actor: Option<String>,
    pub(crate) service: Option<String>,
}

impl EntryColumns {
    pub(crate) fn of(receipt: &Receipt) -> Self {
        let actor = match receipt.actor {
            Actor::Guardian(m) | Actor::Child(m) | Actor::OperatorFor(m) => Some(m.to_string()),
            Actor::Service(_) | Actor::Dpo(_) | Actor::Operator | Actor::System => None,
        };
        EntryColumns {
            event: receipt.event.as_str(),
            subject: receipt.principal.map(|m| m.to_string()),
            actor,
            service: receipt.service.map(|s| s.to_string()),
        }
    }
}

/// Appends one entry to the family's log inside `tx` (the caller's state change commits with it); returns its index.
///
/// A single append is a batch of one of the group commit's append (`group_commit::append_family`): there is one
/// implementation of how entries and tree nodes are stored. It moves the family's head row first, which takes the
/// family's write lock (a row lock on PostgreSQL, the database lock on SQLite), so concurrent appends form one
/// linear log with no gap and no fork.
pub(crate) async fn append(tx: &mut sqlx::Transaction<'_, sqlx::Any>, backend: crate::db::Backend, draft: ReceiptDraft) -> Result<u64> {
    let family = draft.family();
    let (outcomes, _) = crate::group_commit::append_family(tx, backend, family, vec![(None, draft)], None).await?;
    match outcomes.first() {
        Some(crate::group_commit::Appended::At(index)) => Ok(*index),
        // INVARIANT: an append without a policy version is never stale.
        _ => Err(Error::LedgerBroken { family, index: 0, reason: "an unconditional append was refused".to_owned() }),
    }
}

fn to_hash(family: FamilyId, index: u64, bytes: Vec<u8>) -> Result<Hash> {
    bytes.try_into().map_err(|_| Error::LedgerBroken { family, index, reason: "a stored hash is not 32 bytes".to_owned() })
}

/// One entry as a reviewer sees it.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerEntry {
    pub index: u64,
    pub receipt: Receipt,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    /// Only entries about this child (the receipt's data subject).
    pub subject: Option<MemberId>,
    pub since: Option<OffsetDateTime>,
    pub event: Option<EventType>,
    pub service: Option<ServiceId>,
    pub after_index: Option<u64>,
    pub limit: Option<u32>,
}

/// What a principal sees of a family's register.
#[derive(Debug, Clone)]
pub(crate) enum RegisterView {
    /// The operator, a DPO: every entry.
    All,
    /// A member: the entries about `subjects`; with `family_level`, also those about no child, unless a `hidden`
    /// child made them.
    Members { subjects: Vec<MemberId>, hidden: Vec<MemberId>, family_level: bool },
}

impl RegisterView {
    pub(crate) fn admits(&self, subject: Option<MemberId>, actor: Option<MemberId>) -> bool {
        match self {
            RegisterView::All => true,
            RegisterView::Members { subjects, hidden, family_level } => match subject {
                Some(child) => subjects.contains(&child),
                None => *family_level && actor.is_none_or(|a| !hidden.contains(&a)),
            },
        }
    }
}

/// What `ledger verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub family: FamilyId,
    pub size: u64,
    /// Base64 of the root hash.
    pub root: String,
    /// How many signed checkpoints the log was checked against.
    pub checkpoints_checked: usize,
    /// How many grants were reconciled with the log.
    pub grants_checked: usize,
}

const VERIFY_PAGE: i64 = 5_000;

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

    /// The inclusion proof of one entry, if the permit's principal may see that entry (see
    /// [`Vault::ledger_entries`]); an entry they may not see is answered as one that does not exist.
    pub async fn inclusion_proof(&self, permit: &crate::Permit, index: u64) -> Result<String> {
        let view = self.register_view(permit).await?;
        let family = permit.family();
        let row = sqlx::query("SELECT subject_id, actor_id FROM ledger_entries WHERE family_id = $1 AND idx = $2")
            .bind(family.to_string())
            .bind(i64::try_from(index).unwrap_or(i64::MAX))
            .fetch_optional(self.pool())
            .await?;
        let parse = |v: Option<String>| v.and_then(|s| s.parse::<MemberId>().ok());
        match row {
            Some(row) if view.admits(parse(row.get(0)), parse(row.get(1))) => self.proof_of(family, index).await,
            _ => Err(Error::InvalidInput(format!("entry {index} is not in the ledger"))),
        }
    }

    async fn ledger_page(&self, family: FamilyId, filter: &LedgerFilter, view: &RegisterView) -> Result<Vec<LedgerEntry>> {
        let limit = filter.limit.unwrap_or(1000).clamp(1, 10_000) as i64;
        // An index beyond what SQL integers hold has nothing after it.
        let after: i64 = filter.after_index.map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX));
        let mut sql = String::from(
            "SELECT idx, entry FROM ledger_entries WHERE family_id = $1 AND idx > $2 AND ($3 IS NULL OR created_at >= $3) \
             AND ($4 IS NULL OR event = $4) AND ($5 IS NULL OR service_id = $5) AND ($6 IS NULL OR subject_id = $6)",
        );
        let mut ids: Vec<String> = Vec::new();
        if let RegisterView::Members { subjects, hidden, family_level } = view {
            // Placeholders only: the ids are bound below.
            let mut placeholders = |list: &[MemberId]| -> String {
                let start = 8 + ids.len();
                ids.extend(list.iter().map(|m| m.to_string()));
                (start..start + list.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
            };
            let mut clause = if subjects.is_empty() { "1 = 0".to_owned() } else { format!("subject_id IN ({})", placeholders(subjects)) };
            if *family_level {
                let actors = if hidden.is_empty() { String::new() } else { format!(" AND (actor_id IS NULL OR actor_id NOT IN ({}))", placeholders(hidden)) };
                clause = format!("{clause} OR (subject_id IS NULL{actors})");
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
            .bind(limit);
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
        let Principal::Member(viewer) = permit.principal() else { return Ok(RegisterView::All) };
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

    /// Fills the clear filter columns of entries appended before they existed: a one-time step at start, in key
    /// order from a cursor (each batch reads on from the last), resumable (it only fills rows still without them),
    /// and marked done in `meta` so that later starts skip it.
    pub(crate) async fn backfill_entry_columns(&self) -> Result<()> {
        const DONE: &str = "ledger_columns";
        if sqlx::query("SELECT 1 FROM meta WHERE key = $1").bind(DONE).fetch_optional(self.pool()).await?.is_some() {
            return Ok(());
        }
        let (mut family, mut index) = (String::new(), -1i64);
        loop {
            let rows = sqlx::query(
                "SELECT family_id, idx, entry FROM ledger_entries WHERE event IS NULL AND (family_id > $1 OR (family_id = $1 AND idx > $2)) \
                 ORDER BY family_id, idx LIMIT 1000",
            )
            .bind(&family)
            .bind(index)
            .fetch_all(self.pool())
            .await?;
            let Some(last) = rows.last() else { break };
            (family, index) = (last.get(0), last.get(1));
            let mut tx = self.write_tx().await?;
            for row in &rows {
                let (family, index): (String, i64) = (row.get(0), row.get(1));
                // A broken entry is left for `ledger verify` to report; it gets a marker so the step ends.
                let columns = Receipt::from_canonical(&row.get::<Vec<u8>, _>(2)).ok().map(|r| EntryColumns::of(&r));
                sqlx::query("UPDATE ledger_entries SET event = $1, subject_id = $2, actor_id = $3, service_id = $4 WHERE family_id = $5 AND idx = $6")
                    .bind(columns.as_ref().map_or("unreadable", |c| c.event))
                    .bind(columns.as_ref().and_then(|c| c.subject.clone()))
                    .bind(columns.as_ref().and_then(|c| c.actor.clone()))
                    .bind(columns.as_ref().and_then(|c| c.service.clone()))
                    .bind(family)
                    .bind(index)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, '1') ON CONFLICT (key) DO NOTHING").bind(DONE).execute(self.pool()).await?;
        Ok(())
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

    async fn root_at(&self, family: FamilyId, size: u64) -> Result<Hash> {
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
        let family = permit.family();
        let size = self.ledger_size(family).await?;
        if old_size == 0 || old_size > new_size || new_size > size {
            return Err(Error::InvalidInput(format!("a consistency proof needs 0 < old size <= new size <= {size}")));
        }
        let nodes = self.nodes(family, &tlog::consistency_keys(old_size, new_size)).await?;
        tlog::consistency_proof(old_size, new_size, &nodes).map_err(|e| Error::LedgerBroken { family, index: old_size, reason: e.to_string() })
    }

    /// Replays the whole log: every entry must be canonical and in place, every stored tree hash must match the
    /// recomputed one, every checkpoint handed out must be signed and consistent with the log, and the grants and
    /// prohibitions in the database must be exactly what the log says. Memory stays O(log n) for the tree.
    pub async fn verify_ledger(&self, family: FamilyId) -> Result<VerifyReport> {
        let broken = |index: u64, reason: &str| Error::LedgerBroken { family, index, reason: reason.to_owned() };
        let size = self.ledger_size(family).await?;
        let mut stack: Vec<(NodeKey, Hash)> = Vec::new();
        let mut expected = GrantReplay::default();
        let mut next: u64 = 0;
        let mut checkpoints: BTreeMap<u64, Hash> = BTreeMap::new();
        let mut root_at_size: Option<Hash> = None;
        let notes = sqlx::query("SELECT size, note FROM ledger_checkpoints WHERE family_id = $1 ORDER BY size")
            .bind(family.to_string())
            .fetch_all(self.pool())
            .await?;
        let verifier = self.inner.signer.verifier();
        for row in &notes {
            let at: i64 = row.get(0);
            let checkpoint = verifier
                .verify_note(&row.get::<String, _>(1))
                .map_err(|e| broken(at.max(1) as u64 - 1, &format!("a stored checkpoint does not verify: {e}")))?;
            if checkpoint.size() != at as u64 || checkpoint.origin() != self.ledger_origin(family) {
                return Err(broken(at.max(1) as u64 - 1, "a stored checkpoint names another log or size"));
            }
            checkpoints.insert(checkpoint.size(), *checkpoint.root());
        }
        loop {
            let rows = sqlx::query("SELECT idx, entry FROM ledger_entries WHERE family_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3")
                .bind(family.to_string())
                .bind(next as i64)
                .bind(VERIFY_PAGE)
                .fetch_all(self.pool())
                .await?;
            if rows.is_empty() {
                break;
            }
            let first = next;
            let last = first + rows.len() as u64;
            // The stored perfect nodes completed by this page's leaves, to compare with the recomputed ones: at
            // level l those are the indexes in [first >> l, last >> l), one range query on the key per level.
            let mut stored_nodes: HashMap<NodeKey, Vec<u8>> = HashMap::with_capacity(2 * (last - first) as usize);
            for level in 0..64u32 {
                let (from, to) = (first >> level, last >> level);
                if to == 0 {
                    break;
                }
                if from == to {
                    continue;
                }
                let stored = sqlx::query("SELECT idx, hash FROM ledger_nodes WHERE family_id = $1 AND level = $2 AND idx >= $3 AND idx < $4")
                    .bind(family.to_string())
                    .bind(level as i64)
                    .bind(from as i64)
                    .bind(to as i64)
                    .fetch_all(self.pool())
                    .await?;
                for row in stored {
                    stored_nodes.insert(NodeKey { level: level as u8, index: row.get::<i64, _>(0) as u64 }, row.get(1));
                }
            }
            for row in rows {
                let index = row.get::<i64, _>(0) as u64;
                if index != next {
                    return Err(broken(next, "the entry is missing (the log has a gap)"));
                }
                if index >= size {
                    return Err(broken(index, "the entry lies beyond the recorded size of the log"));
                }
                let bytes: Vec<u8> = row.get(1);
                let receipt = Receipt::from_canonical(&bytes).map_err(|e| broken(index, &format!("the entry is not a canonical receipt: {e}")))?;
                if receipt.family != family {
                    return Err(broken(index, "the entry belongs to another family"));
                }
                expected.apply(index, &receipt).map_err(|reason| broken(index, &reason))?;
                let leaf = tlog::leaf_hash(&bytes);
                let siblings: Vec<Hash> = tlog::append_plan(index)
                    .iter()
                    .map(|_| stack.pop().map(|(_, h)| h))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| broken(index, "internal: the replay stack is short"))?;
                let completed = tlog::append(index, leaf, &siblings).map_err(|e| broken(index, &e.to_string()))?;
                for (key, hash) in &completed {
                    match stored_nodes.get(key) {
                        Some(h) if h.as_slice() == hash.as_slice() => {}
                        Some(_) if key.level == 0 => return Err(broken(index, "the entry does not match its recorded hash (changed or moved)")),
                        Some(_) => return Err(broken(key.index << key.level, "a recorded tree hash over this entry and the ones after it does not match")),
                        None => return Err(broken(index, "a recorded tree hash is missing")),
                    }
                }
                let top = *completed.last().expect("an append completes at least the leaf");
                stack.push(top);
                next += 1;
                if let Some(root) = checkpoints.get(&next) {
                    let computed = stack_root(&stack);
                    if computed != *root {
                        return Err(broken(index, "the log does not match a checkpoint signed earlier (history was rewritten)"));
                    }
                }
                if next == size {
                    root_at_size = Some(stack_root(&stack));
                }
            }
        }
        if next != size {
            return Err(broken(next, "the entry is missing (the log is shorter than its recorded size)"));
        }
        let root = if size == 0 { tlog::empty_root() } else { root_at_size.expect("set when the last entry was read") };
        if size > 0 && self.root_at(family, size).await? != root {
            return Err(broken(size - 1, "the recorded tree does not match the entries"));
        }
        if let Some((&cp, _)) = checkpoints.iter().next_back()
            && cp > size
        {
            return Err(broken(size, "a checkpoint signed earlier covers entries that are gone"));
        }
        let grants_checked = expected.reconcile(self, family).await.map_err(|(index, reason)| broken(index, &reason))?;
        use base64::Engine as _;
        Ok(VerifyReport {
            family,
            size,
            root: base64::engine::general_purpose::STANDARD.encode(root),
            checkpoints_checked: checkpoints.len(),
            grants_checked,
        })
    }
}

/// The root of the tree whose perfect subtrees are on the stack (left to right): fold from the right.
fn stack_root(stack: &[(NodeKey, Hash)]) -> Hash {
    let mut iter = stack.iter().rev();
    let mut acc = iter.next().map(|(_, h)| *h).unwrap_or_else(tlog::empty_root);
    for (_, h) in iter {
        acc = tlog::node_hash(h, &acc);
    }
    acc
}

/// What the log says the grants and prohibitions are, and the last version of every rewritten record.
#[derive(Default)]
struct GrantReplay {
    grants: BTreeMap<GrantId, (u64, GrantState, Option<OffsetDateTime>)>,
    /// The prohibitions in force, by (doctype, scope), with the entry that set them.
    forbids: BTreeMap<(String, String), u64>,
    /// Record → (index of its last write entry, its version after that write).
    records: BTreeMap<RecordId, (u64, u64)>,
    erased_at: Option<u64>,
}

impl GrantReplay {
    fn apply(&mut self, index: u64, r: &Receipt) -> Result<(), String> {
        if let Some(at) = self.erased_at {
            return Err(format!("an entry follows the family's erasure at entry {at}"));
        }
        let grant = r.grant;
        let state = |s: &mut Self, new: GrantState, until: Option<OffsetDateTime>| -> Result<(), String> {
            let g = grant.ok_or("a grant event names no grant")?;
            let entry = s.grants.get_mut(&g).ok_or("the grant was never requested")?;
            entry.0 = index;
            entry.1 = new;
            if until.is_some() {
                entry.2 = until;
            }
            Ok(())
        };
        match r.event {
            EventType::Request => {
                let g = grant.ok_or("a request names no grant")?;
                if self.grants.insert(g, (index, GrantState::Requested, None)).is_some() {
                    return Err("the grant was requested twice".to_owned());
                }
            }
            EventType::Approve => {
                let until = r.validity.as_ref().and_then(|v| v.until);
                let new = if until.is_some() { GrantState::Active } else { GrantState::Requested };
                state(self, new, until)?;
            }
            EventType::Confirm => state(self, GrantState::Active, None)?,
            EventType::Deny => state(self, GrantState::Denied, None)?,
            EventType::Revoke => state(self, GrantState::Revoked, None)?,
            EventType::Expire => state(self, GrantState::Expired, None)?,
            EventType::MajorityTransition => state(self, GrantState::AwaitingConfirmation, None)?,
            EventType::PolicyChange => {
                let scope = r.principal.map_or(ForbidScope::Minors, ForbidScope::Adult).as_stored();
                for c in &r.data_categories {
                    let key = (c.as_str().to_owned(), scope.clone());
                    match r.prohibition {
                        Some(ProhibitionChange::Lifted) => {
                            if self.forbids.remove(&key).is_none() {
                                return Err("a prohibition is lifted that was never set".to_owned());
                            }
                        }
                        // Older entries all set one.
                        Some(ProhibitionChange::Set) | None => {
                            self.forbids.insert(key, index);
                        }
                    }
                }
            }
            EventType::Erasure => self.erased_at = Some(index),
            EventType::RecordWrite => {
                let (Some(record), Some(version)) = (r.resource, r.record_version) else {
                    return Err("a record write names no record or version".to_owned());
                };
                if let Some((at, last)) = self.records.get(&record)
                    && *last >= version
                {
                    return Err(format!("record `{record}` is written at version {version} after version {last} (entry {at})"));
                }
                self.records.insert(record, (index, version));
            }
            _ => {}
        }
        Ok(())
    }

    async fn reconcile(self, vault: &Vault, family: FamilyId) -> Result<usize, (u64, String)> {
        let db_err = |e: Error| (0, format!("cannot read the database: {e}"));
        if self.erased_at.is_some() {
            return Ok(0);
        }
        let rows = sqlx::query("SELECT grant_json FROM grants WHERE family_id = $1")
            .bind(family.to_string())
            .fetch_all(vault.pool())
            .await
            .map_err(|e| db_err(e.into()))?;
        let mut seen = 0;
        for row in rows {
            let grant = crate::rows::parse_grant(&row.get::<String, _>(0)).map_err(|e| (0, e.to_string()))?;
            let Some((index, state, until)) = self.grants.get(&grant.id) else {
                return Err((0, format!("grant `{}` is in the database but not in the log", grant.id)));
            };
            if *state != grant.state || (grant.state == GrantState::Active && *until != grant.expires_at) {
                return Err((*index, format!("grant `{}` is {} in the database but {} in the log", grant.id, grant.state.as_str(), state.as_str())));
            }
            seen += 1;
        }
        if seen != self.grants.len() {
            let index = self.grants.values().map(|g| g.0).min().unwrap_or(0);
            return Err((index, format!("the log names {} grants but the database holds {seen}", self.grants.len())));
        }
        // Records: every record rewritten (version above 1) must be at the version its last write entry says. A
        // record put back to an older ciphertext and version of itself (which opens, being genuine) shows here.
        let rows = sqlx::query("SELECT id, version FROM records WHERE family_id = $1 AND version > 1")
            .bind(family.to_string())
            .fetch_all(vault.pool())
            .await
            .map_err(|e| db_err(e.into()))?;
        let mut rewritten = BTreeMap::new();
        for row in rows {
            let id: RecordId = row.get::<String, _>(0).parse().map_err(|_| (0, "a stored record id is malformed".to_owned()))?;
            rewritten.insert(id, row.get::<i64, _>(1));
        }
        for (record, (index, version)) in &self.records {
            match rewritten.get(record) {
                Some(v) if *v as u64 == *version => {}
                Some(v) => {
                    return Err((*index, format!("record `{record}` is at version {v} in the database but {version} in the log (rolled back or altered)")));
                }
                None => {
                    return Err((*index, format!("record `{record}` is at version 1 or missing in the database but {version} in the log (rolled back or removed)")));
                }
            }
        }
        if let Some((record, v)) = rewritten.iter().find(|(r, _)| !self.records.contains_key(r)) {
            return Err((0, format!("record `{record}` is at version {v} in the database but the log has no write of it")));
        }
        let mut forbids: Vec<(String, String)> =
            vault.forbids_of(family).await.map_err(db_err)?.iter().map(|f| (f.doctype.as_str().to_owned(), f.scope.as_stored())).collect();
        forbids.sort();
        let logged: Vec<&(String, String)> = self.forbids.keys().collect();
        if forbids.iter().collect::<Vec<_>>() != logged {
            return Err((self.forbids.values().copied().max().unwrap_or(0), "the prohibitions in the database differ from the log".to_owned()));
        }
        Ok(seen)
    }
}

