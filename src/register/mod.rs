//! The consent register across families: what a DPO reviews (the API and the web console) and what the operator
//! lists and exports at the console.
//!
//! Each family's log is read under a permit for its register, decided (and logged in that family's ledger) when
//! the walk reaches it; the vault narrows what the permit shows (a service's DPO: the entries naming their service).
//! Families are walked in id order, each log oldest first; a cursor is `family:index`.
//!
//! - `csv.rs`: the register as CSV (the documented columns) and as JSON lines, streamed.
//! - `processing.rs`: the record of processing activities (GDPR art. 30), from the grants.

pub mod csv;
pub mod processing;

use std::collections::HashSet;

use cartable_consent::ledger::EventType;
use cartable_consent::{Action, DpoId, FamilyId, GrantId, LegalBasis, Principal, Resource, ServiceId};
use cartable_vault::{Error, LedgerEntry, LedgerFilter, Permit, Vault};
use time::OffsetDateTime;

type Result<T> = std::result::Result<T, Error>;

/// Who reads the register: a DPO (their controller's families, each decided for them) or the operator at the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Dpo(DpoId),
    Operator,
}

impl Reader {
    /// The permit to list one family's register, decided now and logged in its ledger.
    pub async fn permit(self, vault: &Vault, family: FamilyId) -> Result<Permit> {
        match self {
            Reader::Dpo(dpo) => Ok(vault.authorize(family, Principal::Dpo(dpo), Action::List, Resource::Register).await?.into_permit()?),
            Reader::Operator => vault.as_operator(family, Action::List, Resource::Register).await,
        }
    }

    /// The families this reader's remit covers, in id order.
    async fn remit(self, vault: &Vault) -> Result<Vec<FamilyId>> {
        match self {
            Reader::Dpo(dpo) => vault.dpo_families(dpo).await,
            Reader::Operator => vault.list_families().await,
        }
    }
}

/// Where a page starts: after this entry of this family's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub family: FamilyId,
    pub index: u64,
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.family, self.index)
    }
}

impl std::str::FromStr for Cursor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Cursor> {
        let invalid = || Error::InvalidInput("`after` is `family:index`, as `next_after` gives it".to_owned());
        let (family, index) = s.split_once(':').ok_or_else(invalid)?;
        Ok(Cursor { family: family.parse().map_err(|_| invalid())?, index: index.parse().map_err(|_| invalid())? })
    }
}

/// Which entries: every field narrows.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub family: Option<FamilyId>,
    pub service: Option<ServiceId>,
    pub event: Option<EventType>,
    pub legal_basis: Option<LegalBasis>,
    /// Words the grant's purpose contains (lower case).
    pub purpose: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    pub after: Option<Cursor>,
}

impl Query {
    /// The query of the wire's filter: ids, names of events and legal bases, instants or days.
    pub fn from_wire(filter: &cartable_sdk::RegisterFilter) -> Result<Query> {
        let invalid = |e: &dyn std::fmt::Display| Error::InvalidInput(e.to_string());
        Ok(Query {
            family: filter.family.map(|f| FamilyId::from_uuid(f.0)),
            service: filter.service.map(|s| ServiceId::from_uuid(s.0)),
            event: filter.event.as_deref().filter(|e| !e.is_empty()).map(str::parse).transpose().map_err(|e| invalid(&e))?,
            legal_basis: filter.legal_basis.as_deref().filter(|l| !l.is_empty()).map(str::parse).transpose().map_err(|e| invalid(&e))?,
            purpose: filter.purpose.as_deref().map(str::trim).filter(|p| !p.is_empty()).map(str::to_lowercase),
            since: filter.since.as_deref().filter(|s| !s.is_empty()).map(|s| instant(s, false)).transpose()?,
            until: filter.until.as_deref().filter(|s| !s.is_empty()).map(|s| instant(s, true)).transpose()?,
            after: filter.after.as_deref().filter(|a| !a.is_empty()).map(str::parse).transpose()?,
        })
    }
}

/// An RFC 3339 instant, or a day: its start (`since`) or, for `until`, the start of the next day (the day is
/// included).
pub fn instant(s: &str, until: bool) -> Result<OffsetDateTime> {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    if let Ok(t) = OffsetDateTime::parse(s.trim(), &Rfc3339) {
        return Ok(t);
    }
    let day = time::Date::parse(s.trim(), &Iso8601::DATE).map_err(|_| Error::InvalidInput(format!("`{s}` is neither an RFC 3339 instant nor a day (YYYY-MM-DD)")))?;
    let day = if until { day.next_day().ok_or_else(|| Error::InvalidInput(format!("`{s}` is too far in the future")))? } else { day };
    Ok(day.midnight().assume_utc())
}

/// One entry of one family's log.
#[derive(Debug, Clone)]
pub struct Row {
    pub family: FamilyId,
    pub entry: LedgerEntry,
}

/// How many entries a page scans at most (in-memory filters can skip many): the page then ends early, with a cursor.
const SCAN_LIMIT: usize = 20_000;
/// How many entries are read from one log at a time.
const BATCH: u32 = 1_000;

/// A walk over the register: the families in the remit and the query, each decided when reached.
pub struct Walk<'a> {
    vault: &'a Vault,
    reader: Reader,
    query: Query,
    families: std::vec::IntoIter<FamilyId>,
    /// The family being read, its permit, what its grants say for the in-memory filters, and where it is.
    current: Option<(FamilyId, Permit, Option<HashSet<GrantId>>, Option<u64>)>,
}

impl<'a> Walk<'a> {
    pub async fn new(vault: &'a Vault, reader: Reader, query: Query) -> Result<Walk<'a>> {
        let remit = reader.remit(vault).await?;
        let mut families: Vec<FamilyId> = match (query.family, query.service) {
            (Some(family), _) => remit.into_iter().filter(|f| *f == family).collect(),
            // Only the logs that name the service (through the index the service leads).
            (None, Some(service)) => {
                let naming: HashSet<FamilyId> = vault.families_naming(service).await?.into_iter().collect();
                remit.into_iter().filter(|f| naming.contains(f)).collect()
            }
            (None, None) => remit,
        };
        if let Some(after) = query.after {
            families.retain(|f| f.to_string() >= after.family.to_string());
        }
        Ok(Walk { vault, reader, query, families: families.into_iter(), current: None })
    }

    /// The next batch of matching entries (at most `limit`, and after scanning at most `scan` entries); an empty
    /// batch with `true` means the walk is over, with `false` that the scan ran out before the next match.
    async fn next_batch(&mut self, limit: usize, scan: &mut usize) -> Result<(Vec<Row>, bool)> {
        loop {
            if self.current.is_none() {
                let Some(family) = self.families.next() else { return Ok((Vec::new(), true)) };
                let permit = match self.reader.permit(self.vault, family).await {
                    Ok(permit) => permit,
                    // Erased since the list was read: nothing left to show.
                    Err(Error::FamilyNotFound(_)) => continue,
                    Err(e) => return Err(e),
                };
                let grants = self.grant_filter(&permit).await?;
                let start = self.query.after.filter(|a| a.family == family).map(|a| a.index);
                self.current = Some((family, permit, grants, start));
            }
            let Some((family, permit, grants, after)) = &mut self.current else { unreachable!("set above") };
            let want = BATCH.min(limit.max(1) as u32);
            let filter = LedgerFilter {
                since: self.query.since,
                until: self.query.until,
                event: self.query.event,
                service: self.query.service,
                after_index: *after,
                limit: Some(want),
                ..Default::default()
            };
            let entries = self.vault.ledger_entries(permit, &filter).await?;
            let done = (entries.len() as u32) < want;
            *scan += entries.len();
            if let Some(last) = entries.last() {
                *after = Some(last.index);
            }
            let family = *family;
            let rows: Vec<Row> = entries
                .into_iter()
                .filter(|e| grants.as_ref().is_none_or(|g| e.receipt.grants().any(|id| g.contains(&id))))
                .map(|entry| Row { family, entry })
                .collect();
            if done {
                self.current = None;
            }
            if !rows.is_empty() || *scan >= SCAN_LIMIT {
                return Ok((rows, false));
            }
        }
    }

    /// For the filters the log's columns cannot answer (a legal basis, words of the purpose): the family's grants
    /// that match, so that every entry about one of them matches (its request, approvals, accesses, revocation).
    async fn grant_filter(&self, permit: &Permit) -> Result<Option<HashSet<GrantId>>> {
        if self.query.purpose.is_none() && self.query.legal_basis.is_none() {
            return Ok(None);
        }
        let grants = self.vault.list_grants(permit).await?;
        Ok(Some(
            grants
                .into_iter()
                .filter(|g| self.query.legal_basis.is_none_or(|l| g.legal_basis == l))
                .filter(|g| self.query.purpose.as_ref().is_none_or(|words| g.purpose.to_lowercase().contains(words.as_str())))
                .map(|g| g.id)
                .collect(),
        ))
    }

    /// One page: at most `limit` entries, and the cursor of the next page if there may be more.
    pub async fn page(mut self, limit: usize) -> Result<(Vec<Row>, Option<Cursor>)> {
        let mut rows = Vec::with_capacity(limit);
        let mut scan = 0;
        loop {
            let (batch, over) = self.next_batch(limit - rows.len(), &mut scan).await?;
            rows.extend(batch);
            if over {
                return Ok((rows, None));
            }
            if rows.len() >= limit || scan >= SCAN_LIMIT {
                // Where this page stopped: the last entry read of the current family, or the last row's.
                let cursor = match &self.current {
                    Some((family, _, _, Some(index))) => Some(Cursor { family: *family, index: *index }),
                    _ => rows.last().map(|r| Cursor { family: r.family, index: r.entry.index }),
                };
                return Ok((rows, cursor));
            }
        }
    }

    /// Every matching entry, batch by batch (for exports): `None` at the end.
    pub async fn next_rows(&mut self) -> Result<Option<Vec<Row>>> {
        loop {
            let mut scan = 0;
            let (rows, over) = self.next_batch(BATCH as usize, &mut scan).await?;
            if over {
                return Ok(None);
            }
            if !rows.is_empty() {
                return Ok(Some(rows));
            }
        }
    }
}
