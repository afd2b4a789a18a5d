//! Refusals of callers from outside a family: counted for the operator, never in the family's ledger.

use cartable_consent::{FamilyId, Principal, RecordId};
use std::sync::atomic::AtomicI64;

use sqlx::Row;
use time::OffsetDateTime;

use super::ApiStore;
use crate::error::Result;
use crate::vault::parse_id;

/// The day of the last prune of old counts by this process.
static LAST_PRUNE: AtomicI64 = AtomicI64::new(i64::MIN);

impl ApiStore<'_> {
    /// The family a record belongs to, whichever it is: to log a refused attempt on it in that family's ledger.
    pub async fn record_family(&self, record: RecordId) -> Result<Option<FamilyId>> {
        let row = sqlx::query("SELECT family_id FROM records WHERE id = $1").bind(record.to_string()).fetch_optional(self.pool()).await?;
        row.map(|r| parse_id(&r.get::<String, _>(0))).transpose()
    }

    /// Counts a refusal of a caller from outside the family (another family's member, a service whose token is for
    /// another family), for the operator: per day, caller, family and reason. It is never written to the family's
    /// consent ledger, which outsiders could otherwise grow without bound; the table grows by one row per distinct
    /// (day, caller, family, reason) at most, and rows older than 90 days are pruned (once a day per process).
    pub async fn refuse_outsider(&self, caller: Principal, family: FamilyId, reason: &str) -> Result<()> {
        let day = OffsetDateTime::now_utc().unix_timestamp().div_euclid(86_400);
        sqlx::query(
            "INSERT INTO outsider_refusals (day, caller, family_id, reason, count) VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (day, caller, family_id, reason) DO UPDATE SET count = outsider_refusals.count + 1",
        )
        .bind(day)
        .bind(caller.to_string())
        .bind(family.to_string())
        .bind(reason)
        .execute(self.pool())
        .await?;
        // Once a day per process.
        if super::due(&LAST_PRUNE, day) {
            sqlx::query("DELETE FROM outsider_refusals WHERE day < $1").bind(day - 90).execute(self.pool()).await?;
        }
        Ok(())
    }

    /// The outsiders' refusals counted since `since_day` (days since the Unix epoch): (day, caller, family, reason,
    /// count), newest first.
    pub async fn outsider_refusals(&self, since_day: i64) -> Result<Vec<(i64, String, FamilyId, String, i64)>> {
        let rows = sqlx::query("SELECT day, caller, family_id, reason, count FROM outsider_refusals WHERE day >= $1 ORDER BY day DESC, count DESC LIMIT 1000")
            .bind(since_day)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok((r.get(0), r.get(1), parse_id(&r.get::<String, _>(2))?, r.get(3), r.get(4)))).collect()
    }
}
