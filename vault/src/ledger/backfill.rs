//! A one-time step at start: the clear filter columns of entries appended before those columns existed.

use cartable_consent::ledger::Receipt;
use sqlx::Row;

use super::store::EntryColumns;
use crate::error::Result;
use crate::vault::Vault;

impl Vault {
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
}
