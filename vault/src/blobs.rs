//! The blob store: file contents and large record bodies, age-encrypted, in a local folder or an S3-compatible store.
//!
//! Both are `object_store` stores behind one type, [`Blobs`]: its `LocalFileSystem` over `<data>/blobs` (the default,
//! the layout `blobs/<family>/<name>` of earlier versions, folders 0700 and files 0600, every write synced) or its S3
//! store (`--blob-url s3://bucket[/prefix]`, path-style requests to the configured endpoint).
//!
//! Everything stored is already encrypted, and objects are named by ids only (`<family>/<record>`, or
//! `<family>/<record>.v<version>-<64 random bits>` for a body rewritten by an update). Uploads stream: the blob is
//! encrypted on a blocking thread into chunks that a task hands to `object_store`'s `BufWriter` (one request for
//! a small blob, a multipart upload of [`PART_SIZE`] parts, at most [`PARTS_IN_FLIGHT`] at once, for a large one),
//! so memory does not grow with the blob. `put` returns once the store holds the complete object (the S3 store has
//! answered the last request; the local folder has synced the file and renamed it into place), before its row
//! commits, so a crash leaves at worst an orphan object, never a row without data. A failed upload is aborted.
//!
//! A blob is bound to its row by the SHA-256 of its age header and payload nonce (its *head*), kept in the row's
//! sealed value: the header holds the file key wrapped to the family and a MAC under that key, and the nonce
//! derives the payload key, so a blob with the same head is the same age stream, whose every chunk and end age
//! authenticates. A blob swapped for another, or replaced, is refused before a byte of it is served.

use std::io::{self, BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use cartable_consent::{FamilyId, RecordId};
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::{ObjectStore, ObjectStoreExt as _, path::Path as ObjectPath};
use tokio::io::AsyncWriteExt as _;

use crate::envelope::integrity;
use crate::error::{Error, Result};
use crate::keys::FamilyKey;

#[cfg(test)]
mod suite;

/// The SHA-256 of a blob's age header and payload nonce.
pub(crate) type BlobHead = [u8; 32];
/// An age header for one X25519 recipient is about 200 bytes; anything past this is not a blob of ours.
const MAX_HEADER: usize = 16 * 1024;
/// age's payload nonce, right after the header.
const PAYLOAD_NONCE: usize = 16;
/// The size of each part of a multipart upload, and the most a small blob is buffered before one starts: S3's
/// smallest part.
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts uploaded at once; with the part being filled, the most an upload holds is `(1 + PARTS_IN_FLIGHT) * PART_SIZE`.
const PARTS_IN_FLIGHT: usize = 2;
/// What the encrypting thread hands over at a time, and how many such chunks may wait.
const CHUNK: usize = 64 * 1024;
const CHUNKS_WAITING: usize = 4;

/// Where blobs go. Passed explicitly in [`crate::VaultConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobStoreConfig {
    /// `<data folder>/blobs`, one folder per family.
    DataFolder,
    /// An S3-compatible object store.
    S3(S3Config),
}

/// An S3-compatible store: a bucket (and a prefix inside it), reached with path-style requests.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// A folder of the bucket to keep everything under (no leading or trailing `/`); empty for the bucket's root.
    pub prefix: String,
    /// The store's URL, e.g. `http://127.0.0.1:9000`; `None` for AWS itself (from the region). Plain `http://` is
    /// allowed only when named here.
    pub endpoint: Option<String>,
    pub region: String,
    /// Static credentials; `None` lets the store find them (instance metadata, as on AWS).
    pub credentials: Option<S3Credentials>,
}

/// An access key and its secret. `Debug` shows the key id only.
#[derive(Clone)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: age::secrecy::SecretString,
}

impl PartialEq for S3Credentials {
    fn eq(&self, other: &Self) -> bool {
        use age::secrecy::ExposeSecret as _;
        self.access_key_id == other.access_key_id && self.secret_access_key.expose_secret() == other.secret_access_key.expose_secret()
    }
}

impl Eq for S3Credentials {}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials").field("access_key_id", &self.access_key_id).field("secret_access_key", &"[hidden]").finish()
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// A blob's name in its family's folder: the record id for a new record; for a body rewritten by an update, the id,
/// the version and 64 random bits (two updates racing for the same version never write the same object).
pub(crate) fn blob_name(record: RecordId, version: i64) -> String {
    if version <= 1 { record.to_string() } else { format!("{record}.v{version}-{:016x}", rand::random::<u64>()) }
}

/// Checks a blob name read from the database: it must name a blob of this very record (never a path elsewhere).
pub(crate) fn check_blob_name(record: RecordId, name: &str) -> bool {
    let id = record.to_string();
    match name.strip_prefix(id.as_str()) {
        Some("") => true,
        Some(rest) => rest.strip_prefix(".v").and_then(|r| r.split_once('-')).is_some_and(|(version, salt)| {
            !version.is_empty()
                && version.len() < 20
                && version.bytes().all(|b| b.is_ascii_digit())
                && salt.len() == 16
                && salt.bytes().all(|b| b.is_ascii_hexdigit())
        }),
        None => false,
    }
}

/// Reads an age file's header and payload nonce from the start of `input` and hashes them; returns the head and
/// every byte read (a little past the nonce), so that the caller can read on from the start without a second request.
fn read_head(input: &mut dyn Read) -> Result<(BlobHead, Vec<u8>)> {
    use sha2::Digest as _;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    loop {
        // The header ends with the MAC line, the first line starting with `---` (stanza lines start with `->`
        // and their bodies are base64).
        if let Some(end) = find_header_end(&head)
            && head.len() >= end + PAYLOAD_NONCE
        {
            let digest = sha2::Sha256::digest(&head[..end + PAYLOAD_NONCE]).into();
            return Ok((digest, head));
        }
        if head.len() > MAX_HEADER {
            return Err(Error::BlobCorrupt);
        }
        let n = input.read(&mut buf).map_err(|_| Error::BlobCorrupt)?;
        if n == 0 {
            return Err(Error::BlobCorrupt);
        }
        head.extend_from_slice(&buf[..n]);
    }
}

fn find_header_end(head: &[u8]) -> Option<usize> {
    let mac = head.windows(4).position(|w| w == b"\n---")? + 1;
    let newline = head[mac..].iter().position(|&b| b == b'\n')?;
    Some(mac + newline + 1)
}

/// The blob store: one of `object_store`'s stores, and for the local folder its root (folder and file modes,
/// erasure of a family's folder).
#[derive(Debug, Clone)]
pub(crate) struct Blobs {
    store: Arc<dyn ObjectStore>,
    local: Option<PathBuf>,
}

/// What an upload stored: the plaintext's size and SHA-256, and the blob's head.
pub(crate) struct Stored {
    pub(crate) size: u64,
    pub(crate) sha256: [u8; 32],
    pub(crate) head: BlobHead,
}

/// The store's own errors are logged at debug (they may name a local path) and reduced to what went wrong.
fn store_error(what: &'static str) -> impl FnOnce(object_store::Error) -> Error {
    move |e| {
        tracing::debug!(error = %e, "blob store error");
        Error::Io(format!("the blob store failed to {what}"))
    }
}

fn interrupted(_: tokio::task::JoinError) -> Error {
    Error::Io("a blob transfer was interrupted".to_owned())
}

impl Blobs {
    /// The local folder `root` (created 0700, as are the family folders in it, tightened if looser).
    pub(crate) fn local(root: PathBuf) -> Result<Self> {
        crate::private_files::private_dir(&root)?;
        for entry in std::fs::read_dir(&root)?.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                crate::private_files::private_dir(&entry.path())?;
            }
        }
        // Every write synced before it returns: a blob is on disk before its row commits.
        let store = object_store::local::LocalFileSystem::new_with_prefix(&root).map_err(store_error("open the data folder"))?.with_fsync(true);
        Ok(Blobs { store: Arc::new(store), local: Some(root) })
    }

    /// An S3-compatible store, as configured; nothing is sent until it is used.
    pub(crate) fn s3(config: &S3Config) -> Result<Self> {
        use age::secrecy::ExposeSecret as _;
        let invalid = |why: &str| Error::InvalidInput(format!("the s3 blob store configuration is invalid: {why}"));
        if config.bucket.is_empty() {
            return Err(invalid("no bucket"));
        }
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(false);
        if let Some(endpoint) = &config.endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(invalid("the endpoint must be an http:// or https:// url"));
            }
            // Plain http only when the operator wrote it so (a store on this host or network).
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(credentials) = &config.credentials {
            builder = builder
                .with_access_key_id(&credentials.access_key_id)
                .with_secret_access_key(credentials.secret_access_key.expose_secret());
        }
        let store = builder.build().map_err(|e| {
            tracing::debug!(error = %e, "s3 blob store configuration");
            invalid("the store refused it")
        })?;
        let prefix = config.prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> =
            if prefix.is_empty() { Arc::new(store) } else { Arc::new(object_store::prefix::PrefixStore::new(store, prefix)) };
        Ok(Blobs { store, local: None })
    }

    fn location(family: FamilyId, name: &str) -> ObjectPath {
        ObjectPath::from_iter([family.to_string().as_str(), name])
    }

    /// Encrypts `source` to the family key into a new blob named `name`, streaming; returns once the store holds
    /// the complete object. A failure (of `source`, of the encryption or of the store) leaves no object behind.
    pub(crate) async fn put(&self, key: Arc<FamilyKey>, family: FamilyId, name: &str, source: Box<dyn Read + Send>) -> Result<Stored> {
        let location = Self::location(family, name);
        if let Some(root) = &self.local {
            // The family's folder 0700 before the store creates it with the process's umask.
            let folder = root.join(family.to_string());
            if !folder.is_dir() {
                crate::private_files::private_dir(&folder)?;
                sync_dir(root);
            }
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(CHUNKS_WAITING);
        let encrypting = tokio::task::spawn_blocking(move || encrypt(&key, source, tx));
        let mut writer = object_store::buffered::BufWriter::with_capacity(self.store.clone(), location.clone(), PART_SIZE)
            .with_max_concurrency(PARTS_IN_FLIGHT);
        let mut failed = None;
        while let Some(chunk) = rx.recv().await {
            if let Err(e) = writer.put(chunk).await {
                failed = Some(store_error("store a blob")(e));
                break;
            }
        }
        // If the upload failed, the encrypting thread's next send fails and it stops.
        drop(rx);
        let encrypted = encrypting.await.map_err(interrupted)?;
        let stored = match (encrypted, failed) {
            (Ok(stored), None) => stored,
            (encrypted, failed) => {
                // Parts already sent are discarded (a multipart upload is aborted; a local staging file removed).
                if let Err(e) = writer.abort().await {
                    tracing::debug!(error = %e, "blob upload abort");
                }
                return Err(failed.unwrap_or_else(|| encrypted.err().expect("one of the two failed")));
            }
        };
        // The last part, then the upload's completion (or the one request of a small blob); a failure there aborts
        // what was sent.
        writer.shutdown().await.map_err(|e| {
            tracing::debug!(error = %e, "blob upload");
            Error::Io("the blob store failed to store a blob".to_owned())
        })?;
        if let Some(root) = &self.local {
            let path = root.join(family.to_string()).join(name);
            tokio::task::spawn_blocking(move || private_and_synced(&path)).await.map_err(interrupted)??;
        }
        Ok(stored)
    }

    /// The stored bytes of blob `name`, from the start; `BlobCorrupt` if there is none.
    async fn raw_reader(&self, family: FamilyId, name: &str) -> Result<Box<dyn Read + Send>> {
        let got = match self.store.get(&Self::location(family, name)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Err(Error::BlobCorrupt),
            Err(e) => return Err(store_error("read a blob")(e)),
        };
        Ok(match got.payload {
            // The local folder hands over the open file: read it directly.
            object_store::GetResultPayload::File(file, _) => Box::new(file),
            // Made here, where the runtime is known; read on a blocking thread.
            object_store::GetResultPayload::Stream(stream) => {
                Box::new(tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream.map_err(io::Error::other))))
            }
        })
    }

    /// A reader of the plaintext of blob `name` of `record` (blocking reads: use it on a blocking thread); fails with
    /// `BlobCorrupt` if the blob is missing, with an integrity error if it is not the blob whose head the row holds
    /// (swapped or replaced), and its reads fail if the blob was truncated or altered (age authenticates every
    /// 64 KiB chunk and the end of the stream). One request: the head is checked on the bytes that are then decrypted.
    pub(crate) async fn open_reader(
        &self,
        key: Arc<FamilyKey>,
        family: FamilyId,
        record: RecordId,
        name: &str,
        head: &BlobHead,
    ) -> Result<Box<dyn Read + Send>> {
        self.open_reader_of(key, family, name, head, format!("blob of record `{record}`")).await
    }

    /// [`Blobs::open_reader`] for a blob that is not a record's (a search index file): `what` names it by ids in an
    /// integrity error.
    pub(crate) async fn open_reader_of(
        &self,
        key: Arc<FamilyKey>,
        family: FamilyId,
        name: &str,
        head: &BlobHead,
        what: String,
    ) -> Result<Box<dyn Read + Send>> {
        let mut raw = self.raw_reader(family, name).await?;
        let expected = *head;
        tokio::task::spawn_blocking(move || {
            let (found, start) = read_head(&mut raw).map_err(|_| integrity(family, what.clone()))?;
            if found != expected {
                return Err(integrity(family, what));
            }
            key.decrypt_reader(BufReader::with_capacity(CHUNK, io::Cursor::new(start).chain(raw)))
        })
        .await
        .map_err(interrupted)?
    }

    /// The head of a stored blob (the one-time upgrade binds existing blobs with it).
    pub(crate) async fn head(&self, family: FamilyId, name: &str) -> Result<BlobHead> {
        let mut raw = self.raw_reader(family, name).await?;
        tokio::task::spawn_blocking(move || read_head(&mut raw).map(|(head, _)| head)).await.map_err(interrupted)?
    }

    /// Removes a blob if it is there. Callers remove blobs no row names any more, so a failure leaves an orphan,
    /// logged by ids.
    pub(crate) async fn delete(&self, family: FamilyId, name: &str) {
        match self.store.delete(&Self::location(family, name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                tracing::debug!(error = %e, "blob store error");
                tracing::warn!(%family, blob = name, "a blob could not be removed; it is left as an orphan");
            }
        }
    }

    /// Removes every blob of a family.
    pub(crate) async fn delete_family(&self, family: FamilyId) -> Result<()> {
        if let Some(root) = &self.local {
            // The whole folder, with the staging files of uploads a crash cut short.
            let folder = root.join(family.to_string());
            return tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(folder) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::from(e)),
                _ => Ok(()),
            })
            .await
            .map_err(interrupted)?;
        }
        let prefix = ObjectPath::from(family.to_string());
        let locations = self.store.list(Some(&prefix)).map_ok(|meta| meta.location).boxed();
        let mut deleted = self.store.delete_stream(locations);
        while let Some(done) = deleted.next().await {
            match done {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error("remove a family's blobs")(e)),
            }
        }
        Ok(())
    }

    /// The blobs of one family in the store, by name, with when each was written. On the data folder this reads the
    /// folder itself: `object_store`'s listing hides the staging files (`<name>#<n>`) an upload cut short leaves.
    pub(crate) async fn list_family(&self, family: FamilyId) -> Result<Vec<(String, time::OffsetDateTime)>> {
        if let Some(root) = &self.local {
            let folder = root.join(family.to_string());
            return tokio::task::spawn_blocking(move || -> Result<Vec<(String, time::OffsetDateTime)>> {
                let entries = match std::fs::read_dir(&folder) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                    other => other?,
                };
                let mut out = Vec::new();
                for entry in entries {
                    let entry = entry?;
                    // A blob removed while the folder is read (another process replacing its index) is not listed.
                    let meta = match entry.metadata() {
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        other => other?,
                    };
                    if meta.is_file() {
                        let written = meta.modified().map(time::OffsetDateTime::from).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                        out.push((entry.file_name().to_string_lossy().into_owned(), written));
                    }
                }
                Ok(out)
            })
            .await
            .map_err(interrupted)?;
        }
        let prefix = ObjectPath::from(family.to_string());
        let mut listed = self.store.list(Some(&prefix));
        let mut out = Vec::new();
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(store_error("list a family's blobs"))?;
            let Some(name) = meta.location.filename() else { continue };
            let written = time::OffsetDateTime::from_unix_timestamp(meta.last_modified.timestamp()).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            out.push((name.to_owned(), written));
        }
        Ok(out)
    }

    /// Removes a blob no row names, found by [`Blobs::list_family`] (on the data folder, a staging file too).
    pub(crate) async fn remove_unnamed(&self, family: FamilyId, name: &str) {
        if let Some(root) = &self.local {
            let file = root.join(family.to_string()).join(name);
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(file)).await;
            return;
        }
        self.delete(family, name).await;
    }

    /// The families that have blobs in the store (orphans are found from this at start).
    pub(crate) async fn families(&self) -> Result<Vec<FamilyId>> {
        let listed = self.store.list_with_delimiter(None).await.map_err(|e| {
            tracing::debug!(error = %e, "blob store error");
            Error::Io("cannot list the blob store (is it reachable, does the bucket exist, are the credentials right?)".to_owned())
        })?;
        Ok(listed.common_prefixes.iter().filter_map(|p| p.filename()?.parse().ok()).collect())
    }
}

/// Encrypts `source` to the family key and sends the ciphertext in chunks; returns the plaintext's size and SHA-256
/// and the blob's head (hashed from the first bytes sent).
fn encrypt(key: &FamilyKey, mut source: Box<dyn Read + Send>, tx: tokio::sync::mpsc::Sender<Bytes>) -> Result<Stored> {
    use sha2::Digest as _;
    let recipient = key.recipient();
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .map_err(|_| Error::Key("encryption failed".to_owned()))?;
    let mut writer = encryptor.wrap_output(ChunkSender { tx, chunk: Vec::with_capacity(CHUNK), start: Vec::with_capacity(512) })?;
    let mut hasher = sha2::Sha256::new();
    let mut size = 0u64;
    let mut buf = zeroize::Zeroizing::new(vec![0u8; CHUNK]);
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n])?;
        size += n as u64;
    }
    // `finish` writes the last chunk; without it the blob would be silently truncated.
    let mut sender = writer.finish()?;
    sender.flush()?;
    let (head, _) = read_head(&mut sender.start.as_slice())?;
    Ok(Stored { size, sha256: hasher.finalize().into(), head })
}

/// The writer age encrypts into: ciphertext goes to the uploading task in chunks, and its first bytes are kept to
/// hash the head.
struct ChunkSender {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    chunk: Vec<u8>,
    start: Vec<u8>,
}

impl Write for ChunkSender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.chunk.len());
        if self.start.len() < MAX_HEADER + PAYLOAD_NONCE {
            let keep = n.min(MAX_HEADER + PAYLOAD_NONCE - self.start.len());
            self.start.extend_from_slice(&buf[..keep]);
        }
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() == CHUNK {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(Bytes::from(chunk)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the blob upload stopped"))
    }
}

/// A local blob just written: 0600 (the store creates files with the process's umask), synced with its new mode.
fn private_and_synced(path: &std::path::Path) -> Result<()> {
    crate::private_files::tighten_file(path)?;
    std::fs::File::open(path)?.sync_all()?;
    Ok(())
}

fn sync_dir(dir: &std::path::Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_names_read_from_the_database_name_only_that_record() {
        let id = RecordId::new();
        assert!(check_blob_name(id, &blob_name(id, 1)));
        assert!(check_blob_name(id, &blob_name(id, 7)));
        assert!(blob_name(id, 7).starts_with(&format!("{id}.v7-")));
        assert_ne!(blob_name(id, 7), blob_name(id, 7));
        for bad in [
            format!("{}", RecordId::new()),
            format!("{id}/../x"),
            format!("{id}.v"),
            format!("{id}.v7"),
            format!("{id}.v7-0123"),
            format!("{id}.v7-0123456789abcdef/../x"),
            "../../keys/master.key".to_owned(),
        ] {
            assert!(!check_blob_name(id, &bad), "{bad}");
        }
    }

    #[test]
    fn the_head_covers_the_header_and_payload_nonce() {
        let recipient = age::x25519::Identity::generate().to_public();
        let a = age::encrypt(&recipient, b"same plaintext").unwrap();
        let b = age::encrypt(&recipient, b"same plaintext").unwrap();
        let (head_a, _) = read_head(&mut a.as_slice()).unwrap();
        assert_ne!(head_a, read_head(&mut b.as_slice()).unwrap().0, "each blob has its own file key and nonce");
        // The payload may change (age authenticates it); the head is only the header and nonce.
        let mut tail = a.clone();
        *tail.last_mut().unwrap() ^= 1;
        assert_eq!(head_a, read_head(&mut tail.as_slice()).unwrap().0);
        assert!(read_head(&mut &a[..40]).is_err());
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let config = S3Config {
            bucket: "b".into(),
            prefix: String::new(),
            endpoint: None,
            region: "garage".into(),
            credentials: Some(S3Credentials { access_key_id: "GK1234".into(), secret_access_key: "s3cr3t-value".to_owned().into() }),
        };
        let shown = format!("{:?}", BlobStoreConfig::S3(config));
        assert!(shown.contains("GK1234") && !shown.contains("s3cr3t-value"), "{shown}");
    }
}
