//! `ledger verify`: the replay of a whole log, page by page, in O(log n) memory for the tree.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cartable_consent::ledger::{self as tlog, EventType, Hash, NodeKey, ProhibitionChange, Receipt, SealedChangeKind};
use cartable_consent::{Action, Doctype, FamilyId, ForbidScope, Grant, GrantId, GrantState, Grantee, LegalBasis, MemberId, RecordId, ServiceId};
use sqlx::Row;
use time::OffsetDateTime;

use crate::error::Error;
use crate::vault::Vault;

/// Why [`Vault::verify_ledger`] did not pass: the log is broken (named by its entry), or it could not be checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The log, its tree, its checkpoints or the state it records do not agree: altered, rewritten or out of step.
    #[error("the ledger of family `{family}` is broken at entry {index}: {reason}")]
    Broken { family: FamilyId, index: u64, reason: String },
    /// The check could not be made (the database, the family's keys): nothing is said about the log.
    #[error("the ledger could not be checked: {0}")]
    Unchecked(Error),
}

impl From<Error> for VerifyError {
    fn from(e: Error) -> Self {
        match e {
            // A missing tree node, found while reading proofs or roots, is the log's fault.
            Error::LedgerBroken { family, index, reason } => VerifyError::Broken { family, index, reason },
            e => VerifyError::Unchecked(e),
        }
    }
}

impl From<sqlx::Error> for VerifyError {
    fn from(e: sqlx::Error) -> Self {
        VerifyError::Unchecked(e.into())
    }
}

/// For callers that handle every vault error alike.
impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Broken { family, index, reason } => Error::LedgerBroken { family, index, reason },
            VerifyError::Unchecked(e) => e,
        }
    }
}

type Result<T, E = VerifyError> = std::result::Result<T, E>;

/// What `ledger verify` found.
#[derive(Debug, Clone)]
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
    /// Replays the whole log: every entry must be canonical and in place, every stored tree hash must match the
    /// recomputed one, every checkpoint handed out must be signed and consistent with the log, and the grants and
    /// prohibitions in the database must be exactly what the log says. Memory stays O(log n) for the tree.
    pub async fn verify_ledger(&self, family: FamilyId) -> Result<VerifyReport> {
        let mut conn = self.pool().acquire().await?;
        self.verify_ledger_on(&mut conn, family).await
    }

    /// [`Vault::verify_ledger`] on one connection: the pool's, or a transaction's (an import checks the family it
    /// wrote before it commits).
    pub(crate) async fn verify_ledger_on(&self, conn: &mut sqlx::AnyConnection, family: FamilyId) -> Result<VerifyReport> {
        let broken = |index: u64, reason: &str| VerifyError::Broken { family, index, reason: reason.to_owned() };
        let size = sqlx::query("SELECT size FROM ledger_heads WHERE family_id = $1")
            .bind(family.to_string())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(VerifyError::Unchecked(Error::FamilyNotFound(family)))?
            .get::<i64, _>(0) as u64;
        let mut stack: Vec<(NodeKey, Hash)> = Vec::new();
        let mut expected = GrantReplay::default();
        let mut next: u64 = 0;
        let mut checkpoints: BTreeMap<u64, Hash> = BTreeMap::new();
        let mut root_at_size: Option<Hash> = None;
        let notes = sqlx::query("SELECT size, note FROM ledger_checkpoints WHERE family_id = $1 ORDER BY size")
            .bind(family.to_string())
            .fetch_all(&mut *conn)
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
        // Each page's entries are parsed and hashed on a blocking thread while the next page is read: the two
        // halves of the work overlap (the replay that follows is sequential and cheap).
        let mut page = read_page(conn, family, next).await?;
        while !page.entries.is_empty() {
            let Page { entries, stored_nodes } = page;
            let first = next;
            let parsing = tokio::task::spawn_blocking(move || {
                entries.into_iter().map(|(index, bytes)| (index, Receipt::from_canonical(&bytes).map_err(|e| e.to_string()), tlog::leaf_hash(&bytes))).collect::<Vec<_>>()
            });
            let following = read_page(conn, family, first + VERIFY_PAGE as u64).await;
            let parsed = parsing.await.map_err(|e| VerifyError::Unchecked(Error::Database(format!("the ledger's check stopped: {e}"))))?;
            for (index, receipt, leaf) in parsed {
                if index != next {
                    return Err(broken(next, "the entry is missing (the log has a gap)"));
                }
                if index >= size {
                    return Err(broken(index, "the entry lies beyond the recorded size of the log"));
                }
                let receipt = receipt.map_err(|e| broken(index, &format!("the entry is not a canonical receipt: {e}")))?;
                if receipt.family != family {
                    return Err(broken(index, "the entry belongs to another family"));
                }
                expected.apply(index, &receipt).map_err(|reason| broken(index, &reason))?;
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
            // A full page was read whole, so the following one starts where this one ended.
            if next != first + VERIFY_PAGE as u64 {
                break;
            }
            page = following?;
        }
        if next != size {
            return Err(broken(next, "the entry is missing (the log is shorter than its recorded size)"));
        }
        let root = if size == 0 { tlog::empty_root() } else { root_at_size.expect("set when the last entry was read") };
        if size > 0 && root_on(conn, family, size).await? != root {
            return Err(broken(size - 1, "the recorded tree does not match the entries"));
        }
        if let Some((&cp, _)) = checkpoints.iter().next_back()
            && cp > size
        {
            return Err(broken(size, "a checkpoint signed earlier covers entries that are gone"));
        }
        let grants_checked = expected.reconcile(conn, family).await?;
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

/// One page of the log: up to [`VERIFY_PAGE`] entries from `first` with their stored leaves, and the stored perfect
/// nodes above them that their leaves complete, to compare with the recomputed ones: at level l those are the
/// indexes in [first >> l, last >> l), one range query on the key per level.
struct Page {
    entries: Vec<(u64, Vec<u8>)>,
    stored_nodes: HashMap<NodeKey, Vec<u8>>,
}

async fn read_page(conn: &mut sqlx::AnyConnection, family: FamilyId, first: u64) -> Result<Page> {
    // Each entry with its stored leaf in one row (rows are what reading costs here, not bytes).
    let rows = sqlx::query(
        "SELECT e.idx, e.entry, n.hash FROM ledger_entries e LEFT JOIN ledger_nodes n \
         ON n.family_id = e.family_id AND n.level = 0 AND n.idx = e.idx \
         WHERE e.family_id = $1 AND e.idx >= $2 ORDER BY e.idx LIMIT $3",
    )
    .bind(family.to_string())
    .bind(first as i64)
    .bind(VERIFY_PAGE)
    .fetch_all(&mut *conn)
    .await?;
    let mut stored_nodes: HashMap<NodeKey, Vec<u8>> = HashMap::with_capacity(2 * rows.len());
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let index = row.get::<i64, _>(0) as u64;
        if let Some(leaf) = row.get::<Option<Vec<u8>>, _>(2) {
            stored_nodes.insert(NodeKey { level: 0, index }, leaf);
        }
        entries.push((index, row.get(1)));
    }
    let last = first + entries.len() as u64;
    for level in 1..64u32 {
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
            .fetch_all(&mut *conn)
            .await?;
        for row in stored {
            stored_nodes.insert(NodeKey { level: level as u8, index: row.get::<i64, _>(0) as u64 }, row.get(1));
        }
    }
    Ok(Page { entries, stored_nodes })
}

/// The root of the stored tree at `size`, from its perfect subtrees' nodes.
async fn root_on(conn: &mut sqlx::AnyConnection, family: FamilyId, size: u64) -> Result<Hash> {
    let mut nodes = HashMap::new();
    for key in tlog::root_keys(size) {
        let row = sqlx::query("SELECT hash FROM ledger_nodes WHERE family_id = $1 AND level = $2 AND idx = $3")
            .bind(family.to_string())
            .bind(key.level as i64)
            .bind(key.index as i64)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| broken_at(family, key.index << key.level, "a tree node is missing"))?;
        let hash: Hash = row.get::<Vec<u8>, _>(0).try_into().map_err(|_| broken_at(family, key.index << key.level, "a stored hash is not 32 bytes"))?;
        nodes.insert(key, hash);
    }
    tlog::root_from(size, &nodes).map_err(|e| broken_at(family, size.saturating_sub(1), &e.to_string()))
}

fn broken_at(family: FamilyId, index: u64, reason: &str) -> VerifyError {
    VerifyError::Broken { family, index, reason: reason.to_owned() }
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
    /// Grant → (index of its last event, its state, its end, what its request said it covers).
    grants: BTreeMap<GrantId, (u64, GrantState, Option<OffsetDateTime>, LoggedScope)>,
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
                if self.grants.insert(g, (index, GrantState::Requested, None, LoggedScope::of(r))).is_some() {
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
            EventType::SealedMembership => {
                let g = grant.ok_or("a sealed group's change names no grant")?;
                let (_, state, _, _) = self.grants.get(&g).ok_or("a sealed group's change is about a grant never requested")?;
                let change = r.sealed.as_ref().ok_or("a sealed group's change says not what changed")?;
                // Instances are let in only while the grant is in force; once it ends, the group keeps none.
                if matches!(change.change, SealedChangeKind::Created | SealedChangeKind::Added) && !matches!(state, GrantState::Active | GrantState::AwaitingConfirmation)
                {
                    return Err(format!("instances were let into the sealed group of grant `{g}` while it was {}", state.as_str()));
                }
                if change.change == SealedChangeKind::Ended && change.members != 0 {
                    return Err(format!("the sealed group of grant `{g}` kept instances after the grant ended"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn reconcile(self, conn: &mut sqlx::AnyConnection, family: FamilyId) -> Result<usize> {
        let broken = |index: u64, reason: String| VerifyError::Broken { family, index, reason };
        if self.erased_at.is_some() {
            return Ok(0);
        }
        let rows = sqlx::query("SELECT grant_json FROM grants WHERE family_id = $1")
            .bind(family.to_string())
            .fetch_all(&mut *conn)
            .await?;
        let mut seen = 0;
        for row in rows {
            let grant = crate::rows::parse_grant(&row.get::<String, _>(0)).map_err(|e| broken(0, e.to_string()))?;
            let Some((index, state, until, scope)) = self.grants.get(&grant.id) else {
                return Err(broken(0, format!("grant `{}` is in the database but not in the log", grant.id)));
            };
            if *state != grant.state || (grant.state == GrantState::Active && *until != grant.expires_at) {
                return Err(broken(*index, format!("grant `{}` is {} in the database but {} in the log", grant.id, grant.state.as_str(), state.as_str())));
            }
            if !scope.admits(&grant) {
                return Err(broken(*index, format!("grant `{}` covers other data, actions, child or grantee in the database than its request in the log", grant.id)));
            }
            seen += 1;
        }
        if seen != self.grants.len() {
            let index = self.grants.values().map(|g| g.0).min().unwrap_or(0);
            return Err(broken(index, format!("the log names {} grants but the database holds {seen}", self.grants.len())));
        }
        // Records: every record rewritten (version above 1) must be at the version its last write entry says. A
        // record put back to an older ciphertext and version of itself (which opens, being genuine) shows here.
        let rows = sqlx::query("SELECT id, version FROM records WHERE family_id = $1 AND version > 1")
            .bind(family.to_string())
            .fetch_all(&mut *conn)
            .await?;
        let mut rewritten = BTreeMap::new();
        for row in rows {
            let id: RecordId = row.get::<String, _>(0).parse().map_err(|_| VerifyError::Unchecked(Error::Corrupt("a record id")))?;
            rewritten.insert(id, row.get::<i64, _>(1));
        }
        for (record, (index, version)) in &self.records {
            match rewritten.get(record) {
                Some(v) if *v as u64 == *version => {}
                Some(v) => {
                    return Err(broken(*index, format!("record `{record}` is at version {v} in the database but {version} in the log (rolled back or altered)")));
                }
                None => {
                    return Err(broken(*index, format!("record `{record}` is at version 1 or missing in the database but {version} in the log (rolled back or removed)")));
                }
            }
        }
        if let Some((record, v)) = rewritten.iter().find(|(r, _)| !self.records.contains_key(r)) {
            return Err(broken(0, format!("record `{record}` is at version {v} in the database but the log has no write of it")));
        }
        let mut forbids: Vec<(String, String)> = sqlx::query("SELECT doctype, scope FROM prohibitions WHERE family_id = $1")
            .bind(family.to_string())
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        forbids.sort();
        let logged: Vec<&(String, String)> = self.forbids.keys().collect();
        if forbids.iter().collect::<Vec<_>>() != logged {
            return Err(broken(self.forbids.values().copied().max().unwrap_or(0), "the prohibitions in the database differ from the log".to_owned()));
        }
        Ok(seen)
    }
}

/// What a grant's request entry says the grant covers. Fields an older entry lacks (the actions, before receipts
/// carried them) are not checked.
struct LoggedScope {
    child: Option<MemberId>,
    service: Option<ServiceId>,
    legal_basis: Option<LegalBasis>,
    doctypes: BTreeSet<Doctype>,
    actions: BTreeSet<Action>,
}

impl LoggedScope {
    fn of(r: &Receipt) -> Self {
        LoggedScope {
            child: r.principal,
            service: r.service,
            legal_basis: r.legal_basis,
            doctypes: r.data_categories.iter().copied().collect(),
            actions: r.grant_actions.iter().copied().collect(),
        }
    }

    /// Whether the stored grant covers exactly what its request said.
    fn admits(&self, grant: &Grant) -> bool {
        let service = match grant.grantee {
            Grantee::Service(s) => Some(s),
            Grantee::Member(_) => None,
        };
        self.child.is_none_or(|c| c == grant.child)
            && self.service == service
            && self.legal_basis.is_none_or(|b| b == grant.legal_basis)
            && self.doctypes == grant.doctypes.iter().copied().collect()
            && (self.actions.is_empty() || self.actions == grant.actions.iter().copied().collect())
    }
}
