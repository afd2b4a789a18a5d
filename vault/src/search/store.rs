//! Where a family's index keeps its files: blobs of the blob store (age streams to the family key, like a file's),
//! one row of `search_files` each, whose sealed head binds the blob to the file's name; and the writer lease
//! (`search_writers`) that lets one process at a time write them.

use std::io::{self, Read};
use std::sync::{Arc, Weak};

use cartable_consent::FamilyId;
use sqlx::Row;
use time::OffsetDateTime;

use crate::blobs::BlobHead;
use crate::db::to_millis;
use crate::envelope::{Field, Place};
use crate::error::{Error, Result};
use crate::keys::FamilyKey;
use crate::vault::{Inner, Vault};

/// How long a writer lease lasts without a write or a search renewing it.
pub(crate) const LEASE: time::Duration = time::Duration::seconds(30);

/// A family's index files, sealed to its key. Called from tantivy's threads (blocking), it runs the vault's async
/// calls on the runtime it was made on. It holds the vault weakly: the index it serves lives in the vault.
#[derive(Clone)]
pub(crate) struct SealedStore {
    vault: Weak<Inner>,
    runtime: tokio::runtime::Handle,
    family: FamilyId,
    key: Arc<FamilyKey>,
    /// This process's name in `search_writers`: every write checks (and renews) that it still holds the lease.
    holder: Arc<str>,
}

/// Whether this process may write a family's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lease {
    /// Held since the last time it was asked (the row still names this process, even past its time: whoever takes
    /// the lease writes their name, and whoever gives it up removes the row), so nobody else wrote in between.
    Kept,
    /// Taken now (free, or expired): another process may have written the files since this one last read them.
    Taken,
    /// Another process holds it.
    Elsewhere,
}

/// Takes or renews the writer lease of `family` for `holder`.
pub(crate) async fn lease(vault: &Vault, family: FamilyId, holder: &str) -> Result<Lease> {
    let now = OffsetDateTime::now_utc();
    let (now_ms, until) = (to_millis(now), to_millis(now + LEASE));
    let kept = sqlx::query("UPDATE search_writers SET until_ms = $1 WHERE family_id = $2 AND holder = $3")
        .bind(until)
        .bind(family.to_string())
        .bind(holder)
        .execute(vault.pool())
        .await?;
    if kept.rows_affected() == 1 {
        return Ok(Lease::Kept);
    }
    let taken = sqlx::query(
        "INSERT INTO search_writers (family_id, holder, until_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (family_id) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
         WHERE search_writers.until_ms < $4 OR search_writers.holder = excluded.holder",
    )
    .bind(family.to_string())
    .bind(holder)
    .bind(until)
    .bind(now_ms)
    .execute(vault.pool())
    .await?;
    Ok(if taken.rows_affected() == 1 { Lease::Taken } else { Lease::Elsewhere })
}

/// Gives the lease up (a `cartable reindex` that is done), so that a server need not wait for it to expire.
pub(crate) async fn release(vault: &Vault, family: FamilyId, holder: &str) -> Result<()> {
    sqlx::query("DELETE FROM search_writers WHERE family_id = $1 AND holder = $2").bind(family.to_string()).bind(holder).execute(vault.pool()).await?;
    Ok(())
}

/// Gives up every lease `holder` has (a vault closing).
pub(crate) async fn release_all(vault: &Vault, holder: &str) -> Result<()> {
    sqlx::query("DELETE FROM search_writers WHERE holder = $1").bind(holder).execute(vault.pool()).await?;
    Ok(())
}

/// A blob name for a new version of an index file: random, so that a file rewritten (meta.json) never overwrites
/// the blob its row still names.
fn new_blob_name() -> String {
    format!("search.{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>())
}

/// Whether a blob name read from `search_files` is one of ours (never a record's, never a path elsewhere).
fn is_index_blob(name: &str) -> bool {
    name.strip_prefix("search.").is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// tantivy names its files with ids, extensions and dots only; anything else is refused rather than stored.
fn check_file_name(name: &str) -> io::Result<()> {
    let ok = !name.is_empty() && name.len() <= 128 && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok { Ok(()) } else { Err(io::Error::new(io::ErrorKind::InvalidInput, "an index file name of an unexpected form")) }
}

fn io_error(e: Error) -> io::Error {
    io::Error::other(e.to_string())
}

impl SealedStore {
    pub(crate) fn new(vault: &Vault, family: FamilyId, key: Arc<FamilyKey>, holder: Arc<str>) -> SealedStore {
        SealedStore { vault: Arc::downgrade(&vault.inner), runtime: tokio::runtime::Handle::current(), family, key, holder }
    }

    fn vault(&self) -> io::Result<Vault> {
        self.vault.upgrade().map(|inner| Vault { inner }).ok_or_else(|| io::Error::other("the vault is closed"))
    }

    /// Runs an async call of the vault from one of tantivy's threads, as a task of the runtime, and waits for it.
    /// Not `Handle::block_on`: on a runtime shutting down, that panics (no timers, no sockets), and a panic on
    /// tantivy's merge threads (rayon's) aborts the process. A task is cancelled instead, and the call fails.
    fn block_on<T: Send + 'static>(&self, work: impl std::future::Future<Output = Result<T>> + Send + 'static) -> io::Result<T> {
        futures::executor::block_on(self.runtime.spawn(work)).map_err(|_| io::Error::other("the vault is stopping"))?.map_err(io_error)
    }

    /// Renews the lease inside a write's transaction, or fails it: a process that lost the lease never writes.
    async fn renew_in(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<()> {
        let until = to_millis(OffsetDateTime::now_utc() + LEASE);
        let renewed = sqlx::query("UPDATE search_writers SET until_ms = $1 WHERE family_id = $2 AND holder = $3")
            .bind(until)
            .bind(self.family.to_string())
            .bind(&*self.holder)
            .execute(&mut **tx)
            .await?;
        if renewed.rows_affected() == 1 { Ok(()) } else { Err(Error::Contended("another process took over this family's search index")) }
    }

    /// Opens a file's blob (its head checked against the row), with the size the row gives it.
    async fn open_file(&self, vault: &Vault, name: &str) -> Result<Option<(Box<dyn Read + Send>, i64, String)>> {
        let row = sqlx::query("SELECT blob_key, head_enc, size FROM search_files WHERE family_id = $1 AND name = $2")
            .bind(self.family.to_string())
            .bind(name)
            .fetch_optional(vault.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let (blob, sealed, size): (String, Vec<u8>, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let place = Place { family: self.family, field: Field::SearchFile { name, blob: &blob, size } };
        let head: BlobHead = self.key.open(&place, &sealed)?.as_slice().try_into().map_err(|_| crate::envelope::integrity(self.family, place.describe()))?;
        if !is_index_blob(&blob) {
            return Err(crate::envelope::integrity(self.family, place.describe()));
        }
        let reader = vault.inner.blobs.open_reader_of(self.key.clone(), self.family, &blob, &head, place.describe()).await?;
        Ok(Some((reader, size, place.describe())))
    }

    /// The blob a file's row names now, read inside the transaction that replaces or removes it.
    async fn blob_of(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, name: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT blob_key FROM search_files WHERE family_id = $1 AND name = $2")
            .bind(self.family.to_string())
            .bind(name)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn write_file(&self, vault: &Vault, name: &str, bytes: Vec<u8>) -> Result<()> {
        let blob = new_blob_name();
        let size = bytes.len() as i64;
        let source: Box<dyn Read + Send> = Box::new(io::Cursor::new(bytes));
        let stored = vault.inner.blobs.put(self.key.clone(), self.family, &blob, source).await?;
        let place = Place { family: self.family, field: Field::SearchFile { name, blob: &blob, size } };
        let sealed = self.key.seal(&place, &stored.head)?;
        let result = async {
            let mut tx = vault.write_tx().await?;
            self.renew_in(&mut tx).await?;
            let old = self.blob_of(&mut tx, name).await?;
            sqlx::query(
                "INSERT INTO search_files (family_id, name, blob_key, head_enc, size) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (family_id, name) DO UPDATE SET blob_key = excluded.blob_key, head_enc = excluded.head_enc, size = excluded.size",
            )
            .bind(self.family.to_string())
            .bind(name)
            .bind(&blob)
            .bind(&sealed)
            .bind(size)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, Error>(old)
        }
        .await;
        match result {
            Ok(old) => {
                if let Some(old) = old.filter(|old| is_index_blob(old)) {
                    vault.inner.blobs.delete(self.family, &old).await;
                }
                Ok(())
            }
            Err(e) => {
                vault.inner.blobs.delete(self.family, &blob).await;
                Err(e)
            }
        }
    }

    async fn delete_file(&self, vault: &Vault, name: &str) -> Result<()> {
        let mut tx = vault.write_tx().await?;
        self.renew_in(&mut tx).await?;
        let old = self.blob_of(&mut tx, name).await?;
        sqlx::query("DELETE FROM search_files WHERE family_id = $1 AND name = $2").bind(self.family.to_string()).bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        if let Some(old) = old.filter(|old| is_index_blob(old)) {
            vault.inner.blobs.delete(self.family, &old).await;
        }
        Ok(())
    }
}

impl cartable_search::IndexStore for SealedStore {
    fn names(&self) -> io::Result<Vec<String>> {
        let (vault, family) = (self.vault()?, self.family);
        self.block_on(async move {
            let rows = sqlx::query("SELECT name FROM search_files WHERE family_id = $1").bind(family.to_string()).fetch_all(vault.pool()).await?;
            rows.iter().map(|row| row.try_get::<String, _>(0).map_err(Error::from)).collect()
        })
    }

    fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        let (vault, this, name) = (self.vault()?, self.clone(), name.to_owned());
        let Some((mut reader, size, what)) = self.block_on(async move { this.open_file(&vault, &name).await })? else { return Ok(None) };
        // Read outside `block_on`: an S3 blob's reader blocks on the runtime itself.
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(64 << 20));
        reader.read_to_end(&mut out).map_err(|_| io_error(Error::BlobCorrupt))?;
        if out.len() as i64 != size {
            return Err(io_error(crate::envelope::integrity(self.family, what)));
        }
        Ok(Some(out))
    }

    fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        check_file_name(name)?;
        let (vault, this, name, bytes) = (self.vault()?, self.clone(), name.to_owned(), bytes.to_vec());
        self.block_on(async move { this.write_file(&vault, &name, bytes).await })
    }

    fn delete(&self, name: &str) -> io::Result<()> {
        let (vault, this, name) = (self.vault()?, self.clone(), name.to_owned());
        self.block_on(async move { this.delete_file(&vault, &name).await })
    }
}

/// The blob names `search_files` holds for a family (the start's orphan sweep keeps them).
pub(crate) async fn index_blobs(vault: &Vault, family: FamilyId) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT blob_key FROM search_files WHERE family_id = $1").bind(family.to_string()).fetch_all(vault.pool()).await?;
    rows.iter().map(|row| row.try_get::<String, _>(0).map_err(Error::from)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_blob_names_are_told_from_record_blobs() {
        assert!(is_index_blob(&new_blob_name()));
        assert!(!is_index_blob("0193a7c2-1111-7000-8000-000000000000"));
        assert!(!is_index_blob("search.../../keys"));
        assert!(check_file_name("meta.json").is_ok());
        assert!(check_file_name(".managed.json").is_ok());
        assert!(check_file_name("5a8c0d9e1f2a4b3c8d7e6f5a4b3c2d1e.idx").is_ok());
        assert!(check_file_name("../meta.json").is_err());
        assert!(check_file_name("").is_err());
    }

    /// tantivy's merge threads may still write after the runtime stopped: the call fails, it does not panic (a
    /// panic on rayon's threads aborts the process, as it did once in CI).
    #[test]
    fn a_call_after_the_runtime_stopped_fails_without_panicking() {
        use cartable_search::IndexStore;
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (vault, store) = runtime.block_on(async {
            let vault = Vault::open(crate::VaultConfig::embedded(dir.path().join("data"))).await.unwrap();
            let family = vault.create_family("Store").await.unwrap();
            let key = vault.family_key(family).await.unwrap();
            let store = SealedStore::new(&vault, family, key, Arc::from("holder"));
            (vault, store)
        });
        let before = std::thread::spawn({
            let store = store.clone();
            move || store.names()
        });
        assert_eq!(before.join().unwrap().unwrap(), Vec::<String>::new(), "a running runtime answers");
        runtime.shutdown_background();
        let after = std::thread::spawn(move || (store.names().is_err(), store.write("meta.json", b"{}").is_err(), store.read("meta.json").is_err()));
        assert_eq!(after.join().expect("no panic"), (true, true, true));
        drop(vault);
    }
}
