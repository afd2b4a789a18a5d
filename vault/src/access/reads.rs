//! Reads the API makes in two steps: a record's row loaded once, sealed, then opened under a permit; collections.

use cartable_consent::{Action, Doctype, FamilyId, MemberId, Principal, RecordId, Resource};
use sqlx::Row;

use super::ApiStore;
use crate::Permit;
use crate::error::{Error, Result};
use crate::vault::parse_id;

/// A record's row as stored (encrypted), with what the rules need to know about it.
pub struct SealedRecord {
    family: FamilyId,
    resource: Resource,
    row: sqlx::any::AnyRow,
}

impl SealedRecord {
    pub fn resource(&self) -> Resource {
        self.resource
    }
}

impl std::fmt::Debug for SealedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedRecord").field("family", &self.family).field("resource", &self.resource).finish_non_exhaustive()
    }
}

/// One child's collection of one doctype, and how many records it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    pub child: MemberId,
    pub doctype: Doctype,
    pub records: u64,
}

impl ApiStore<'_> {
    /// Reads a record's row once, still encrypted: its resource is what the rules decide on, and
    /// [`ApiStore::open_record`] decrypts it once a permit allows (one query per read instead of two).
    pub async fn load_record(&self, family: FamilyId, id: RecordId) -> Result<SealedRecord> {
        let row = self.vault.record_row(family, id).await?;
        let resource = Resource::Record { id, child: parse_id(&row.get::<String, _>(0))?, doctype: parse_id(&row.get::<String, _>(1))? };
        Ok(SealedRecord { family, resource, row })
    }

    /// Decrypts a record loaded by [`ApiStore::load_record`]; the permit must be for reading that very record.
    pub async fn open_record(&self, permit: &Permit, sealed: SealedRecord) -> Result<crate::RecordDocument> {
        if permit.family() != sealed.family || permit.resource() != sealed.resource {
            return Err(Error::PermitMismatch("record"));
        }
        self.vault.open_record_row(permit, sealed.row).await
    }

    /// The family's collections and their sizes; the permit must be for listing the family.
    pub async fn collections(&self, permit: &Permit) -> Result<Vec<CollectionInfo>> {
        if permit.action() != Action::List || !matches!(permit.resource(), Resource::Family) {
            return Err(Error::PermitMismatch("family"));
        }
        let rows = sqlx::query(
            "SELECT c.child_id, c.doctype, COUNT(r.id) FROM collections c LEFT JOIN records r ON r.collection_id = c.id \
             WHERE c.family_id = $1 GROUP BY c.child_id, c.doctype ORDER BY c.child_id, c.doctype",
        )
        .bind(permit.family().to_string())
        .fetch_all(self.pool())
        .await?;
        // As for a family-wide listing of records: a member sees only the collections they could list one by one
        // (a guardian does not see an adult child's collections, not even their sizes).
        let visible = match permit.principal() {
            Principal::Member(_) => Some(self.vault.listable_collections(permit).await?),
            _ => None,
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let info = CollectionInfo {
                child: parse_id(&row.get::<String, _>(0))?,
                doctype: parse_id(&row.get::<String, _>(1))?,
                records: row.get::<i64, _>(2).max(0) as u64,
            };
            if visible.as_ref().is_none_or(|v| v.contains(&(info.child, info.doctype))) {
                out.push(info);
            }
        }
        Ok(out)
    }
}
