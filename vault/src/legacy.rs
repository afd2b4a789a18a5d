//! The one-time upgrade of values stored before sealed values: each was a whole age file for the family's identity,
//! bound to nothing. At start, before anything is served, every family gets a data key and every old value is
//! opened and sealed again at its place (`envelope.rs`); large record bodies and files keep their blobs, now bound
//! by their head.
//!
//! Crash-safe and resumable: a family's data key is stored (only where none is) before anything is sealed under it;
//! values are rewritten in batches, one transaction each, every row by compare-and-set on its old value, so a batch
//! cut short by a crash changes nothing, a second process upgrading at the same time changes nothing twice, and the
//! next start goes on from what is still in the old format. `meta.storage_format` is set when all is done; later
//! starts skip the scan. The read path never accepts the old format.

use std::sync::Arc;

use cartable_consent::{FamilyId, RecordId};
use sqlx::Row;

use crate::blobs::check_blob_name;
use crate::envelope::{AGE_MAGIC, DataKey, FORMAT_AEAD_V1, Field, Place};
use crate::error::{Error, Result};
use crate::keys::FamilyKey;
use crate::records::{StoredFile, StoredRow, hex};
use crate::vault::{Vault, parse_id};

const STORAGE_FORMAT: &str = "storage_format";
/// The format every stored value is in once the upgrade is done.
const SEALED_V1: &str = "sealed/1";
/// Records upgraded per transaction.
const BATCH: i64 = 200;

/// A record upgraded: its id, its value in the old format (for the compare-and-set), its sealed value.
type Resealed = (String, Option<Vec<u8>>, Vec<u8>);

/// What a stored value is.
fn is_sealed(value: &[u8]) -> bool {
    value.first() == Some(&FORMAT_AEAD_V1)
}

fn is_legacy(value: &[u8]) -> bool {
    value.starts_with(AGE_MAGIC)
}

impl Vault {
    /// Upgrades every value still in the format before sealed values; a no-op once done.
    pub(crate) async fn upgrade_storage(&self) -> Result<()> {
        let done: Option<String> = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(STORAGE_FORMAT)
            .fetch_optional(self.pool())
            .await?
            .map(|row| row.get(0));
        if done.as_deref() == Some(SEALED_V1) {
            return Ok(());
        }
        let families: Vec<String> =
            sqlx::query("SELECT id FROM families ORDER BY id").fetch_all(self.pool()).await?.iter().map(|r| r.get(0)).collect();
        let (mut upgraded, mut failed) = (0, 0);
        for family in &families {
            // One family that cannot be upgraded (its key does not unwrap, say) does not keep the others from
            // starting; the upgrade is then not marked done, and the next start tries it again.
            match self.upgrade_family(parse_id(family)?).await {
                Ok(n) => upgraded += n,
                Err(e) => {
                    tracing::warn!(family = %family, error = %e, "a family could not be upgraded to sealed values; it will be tried again at the next start");
                    failed += 1;
                }
            }
        }
        if failed > 0 {
            return Ok(());
        }
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(STORAGE_FORMAT)
            .bind(SEALED_V1)
            .execute(self.pool())
            .await?;
        if upgraded > 0 {
            tracing::info!(families = families.len(), values = upgraded, "stored values upgraded to sealed values");
        }
        Ok(())
    }

    /// Upgrades one family: its data key first, then its name, its members, its records in batches.
    async fn upgrade_family(&self, family: FamilyId) -> Result<usize> {
        let Some(row) = sqlx::query("SELECT wrapped_key, data_key_enc, name_enc FROM families WHERE id = $1")
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(0);
        };
        let wrapped: Vec<u8> = row.get(0);
        if wrapped.is_empty() {
            return Ok(0);
        }
        if row.get::<Option<Vec<u8>>, _>(1).is_none() {
            let identity = self.master().unwrap(&wrapped)?;
            let (_, bytes) = DataKey::generate();
            // Only where none is yet: a second process upgrading at the same time keeps the first one's key.
            sqlx::query("UPDATE families SET data_key_enc = $1 WHERE id = $2 AND data_key_enc IS NULL")
                .bind(identity.wrap_data_key(family, &bytes)?)
                .bind(family.to_string())
                .execute(self.pool())
                .await?;
        }
        let key = self.family_key(family).await?;
        let mut count = 0;

        let name_enc: Vec<u8> = row.get(2);
        if is_legacy(&name_enc)
            && let Some(plain) = legacy_open(&key, family, "name of the family", &name_enc)
        {
            let sealed = key.seal(&Place::family_name(family), &plain)?;
            sqlx::query("UPDATE families SET name_enc = $1 WHERE id = $2 AND name_enc = $3")
                .bind(sealed)
                .bind(family.to_string())
                .bind(&name_enc)
                .execute(self.pool())
                .await?;
            count += 1;
        }

        let members = sqlx::query("SELECT id, role, name_enc, birth_date_enc FROM members WHERE family_id = $1")
            .bind(family.to_string())
            .fetch_all(self.pool())
            .await?;
        let mut tx = self.write_tx().await?;
        for row in &members {
            let (member, role): (String, String) = (row.get(0), row.get(1));
            let name: Vec<u8> = row.get(2);
            if is_legacy(&name)
                && let Some(plain) = legacy_open(&key, family, &format!("name of member `{member}`"), &name)
            {
                let sealed = key.seal(&Place { family, field: Field::MemberName { member: &member, role: &role } }, &plain)?;
                sqlx::query("UPDATE members SET name_enc = $1 WHERE id = $2 AND name_enc = $3")
                    .bind(sealed)
                    .bind(&member)
                    .bind(&name)
                    .execute(&mut *tx)
                    .await?;
                count += 1;
            }
            if let Some(birth) = row.get::<Option<Vec<u8>>, _>(3)
                && is_legacy(&birth)
                && let Some(plain) = legacy_open(&key, family, &format!("birth date of member `{member}`"), &birth)
            {
                let sealed = key.seal(&Place { family, field: Field::MemberBirthDate { member: &member, role: &role } }, &plain)?;
                sqlx::query("UPDATE members SET birth_date_enc = $1 WHERE id = $2 AND birth_date_enc = $3")
                    .bind(sealed)
                    .bind(&member)
                    .bind(&birth)
                    .execute(&mut *tx)
                    .await?;
                count += 1;
            }
        }
        tx.commit().await?;

        let mut after = String::new();
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {}, id FROM records WHERE family_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                crate::records::RECORD_COLUMNS
            )))
            .bind(family.to_string())
            .bind(&after)
            .bind(BATCH)
            .fetch_all(self.pool())
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.get(11);
            let mut pending = Vec::new();
            for row in &rows {
                let stored = StoredRow::from_row(row)?;
                if stored.body_enc.as_deref().is_some_and(is_sealed) {
                    continue;
                }
                pending.push((row.get::<String, _>(11), stored));
            }
            if pending.is_empty() {
                continue;
            }
            // The heads of the blobs these rows name (a blob missing, or a name not of its record, has none).
            let mut heads = Vec::with_capacity(pending.len());
            for (id, stored) in &pending {
                let record: RecordId = parse_id(id)?;
                heads.push(match stored.blob_key.as_deref() {
                    Some(name) if check_blob_name(record, name) => self.inner.blobs.head(family, name).await.ok(),
                    _ => None,
                });
            }
            // Opening age files is blocking work.
            let key2 = key.clone();
            let resealed = tokio::task::spawn_blocking(move || -> Result<Vec<Resealed>> {
                let mut out = Vec::with_capacity(pending.len());
                for ((id, stored), head) in pending.into_iter().zip(heads) {
                    if let Some(sealed) = reseal_record(&key2, family, &id, &stored, head)? {
                        out.push((id, stored.body_enc, sealed));
                    }
                }
                Ok(out)
            })
            .await
            .map_err(|_| Error::Io("the upgrade was interrupted".to_owned()))??;
            let mut tx = self.write_tx().await?;
            for (id, old, sealed) in &resealed {
                let query = match old {
                    Some(old) => sqlx::query("UPDATE records SET body_enc = $1 WHERE id = $2 AND family_id = $3 AND body_enc = $4")
                        .bind(sealed)
                        .bind(id)
                        .bind(family.to_string())
                        .bind(old),
                    None => sqlx::query("UPDATE records SET body_enc = $1 WHERE id = $2 AND family_id = $3 AND body_enc IS NULL")
                        .bind(sealed)
                        .bind(id)
                        .bind(family.to_string()),
                };
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            count += resealed.len();
        }
        Ok(count)
    }
}

/// Opens a value of the old format; one that does not open is left as it is (and will fail its integrity check when
/// read), logged by place.
fn legacy_open(key: &FamilyKey, family: FamilyId, what: &str, value: &[u8]) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    match key.identity().decrypt_legacy(value) {
        Ok(plain) => Some(plain),
        Err(_) => {
            tracing::warn!(%family, place = %what, "a stored value of the earlier format does not decrypt; left as it is");
            None
        }
    }
}

/// The sealed value of a record row of the old format, or `None` for a row that cannot be upgraded (logged); `head`
/// is the head of the blob the row names, if it has one that is there.
fn reseal_record(key: &Arc<FamilyKey>, family: FamilyId, id: &str, stored: &StoredRow, head: Option<[u8; 32]>) -> Result<Option<Vec<u8>>> {
    let what = format!("record `{id}`");
    let skip = |why: &str| {
        tracing::warn!(%family, place = %what, why, "a record of the earlier format cannot be upgraded; left as it is");
        Ok(None)
    };
    let place = Place { family, field: Field::Record(&stored.place(id)) };
    let plain: zeroize::Zeroizing<Vec<u8>> = match (stored.kind.as_str(), stored.body_enc.as_deref(), stored.blob_key.as_deref()) {
        ("record", Some(old), None) if is_legacy(old) => match legacy_open(key, family, &what, old) {
            Some(plain) => plain,
            None => return Ok(None),
        },
        ("record", None, Some(_)) => match head {
            Some(h) => zeroize::Zeroizing::new(h.to_vec()),
            None => return skip("its blob is missing or is not an age file"),
        },
        ("file", Some(old), Some(_)) if is_legacy(old) => {
            let Some(plain) = legacy_open(key, family, &what, old) else { return Ok(None) };
            let Ok(info) = serde_json::from_slice::<LegacyFile>(&plain) else { return skip("its metadata is malformed") };
            let Some(h) = head else { return skip("its blob is missing or is not an age file") };
            let meta = StoredFile { name: info.name, size: info.size, sha256: info.sha256, blob_head: hex(&h) };
            zeroize::Zeroizing::new(serde_json::to_vec(&meta).expect("file metadata serializes"))
        }
        _ => return skip("its row is not of a known shape"),
    };
    Ok(Some(key.seal(&place, &plain)?))
}

/// A file's metadata as the earlier format stored it (a whole age file per value), read once by the upgrade.
#[derive(serde::Deserialize)]
struct LegacyFile {
    name: String,
    size: u64,
    sha256: String,
}
