//! One test suite for every blob store: each case runs, unchanged, on the local folder and on the S3 store (when
//! `CARTABLE_TEST_S3_ENDPOINT` and its companions are set; `scripts/test.sh` starts a local S3 server and sets them).
//! The raw store is reached as someone with access to the bucket or folder but no keys would.

use std::io::Read;
use std::sync::Arc;

use cartable_consent::{FamilyId, RecordId};
use object_store::{ObjectStoreExt as _, PutPayload};

use super::{Blobs, PART_SIZE, S3Config, S3Credentials, Stored};
use crate::error::Error;
use crate::keys::FamilyKey;

/// A store for one test: a fresh folder, or a fresh prefix of the test bucket. `None` (with a message) when the S3
/// variables are not set.
struct Store {
    blobs: Blobs,
    _dir: Option<tempfile::TempDir>,
}

fn local() -> Option<Store> {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::local(dir.path().join("blobs")).unwrap();
    Some(Store { blobs, _dir: Some(dir) })
}

/// The S3 test store from the `CARTABLE_TEST_S3_*` variables, under a prefix of its own.
pub(crate) fn test_s3_config() -> Option<S3Config> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let Some(endpoint) = var("CARTABLE_TEST_S3_ENDPOINT") else {
        eprintln!("S3 leg skipped: CARTABLE_TEST_S3_ENDPOINT is not set (scripts/test.sh starts an S3 server and sets it)");
        return None;
    };
    let need = |name: &str| var(name).unwrap_or_else(|| panic!("CARTABLE_TEST_S3_ENDPOINT is set but {name} is not"));
    Some(S3Config {
        bucket: need("CARTABLE_TEST_S3_BUCKET"),
        // Short: s3s-fs names a multipart upload's file after the key in base64, within the 255 bytes of a file name.
        prefix: format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        endpoint: Some(endpoint),
        region: var("CARTABLE_TEST_S3_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
        credentials: Some(S3Credentials {
            access_key_id: need("CARTABLE_TEST_S3_ACCESS_KEY_ID"),
            secret_access_key: need("CARTABLE_TEST_S3_SECRET_ACCESS_KEY").into(),
        }),
    })
}

fn s3() -> Option<Store> {
    Some(Store { blobs: Blobs::s3(&test_s3_config()?).unwrap(), _dir: None })
}

fn key() -> Arc<FamilyKey> {
    use age::secrecy::ExposeSecret as _;
    let identity = age::x25519::Identity::generate().to_string();
    Arc::new(FamilyKey::from_identity_text(identity.expose_secret()).unwrap())
}

/// `len` bytes of a fixed pattern that does not repeat within a chunk, generated as they are read.
struct Pattern {
    len: u64,
    at: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min((self.len - self.at) as usize);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let x = self.at + i as u64;
            *b = (x ^ (x >> 8) ^ (x >> 17)) as u8;
        }
        self.at += n as u64;
        Ok(n)
    }
}

fn pattern(len: u64) -> Box<dyn Read + Send> {
    Box::new(Pattern { len, at: 0 })
}

fn sha256_of(mut reader: impl Read) -> std::io::Result<(u64, [u8; 32])> {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok((size, hasher.finalize().into()));
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
}

/// Reads a blob to its end on a blocking thread, as the vault's callers do.
async fn read_back(blobs: &Blobs, key: &Arc<FamilyKey>, family: FamilyId, record: RecordId, name: &str, stored: &Stored) -> crate::Result<std::io::Result<(u64, [u8; 32])>> {
    let reader = blobs.open_reader(key.clone(), family, record, name, &stored.head).await?;
    Ok(tokio::task::spawn_blocking(move || sha256_of(reader)).await.unwrap())
}

async fn raw(blobs: &Blobs, family: FamilyId, name: &str) -> Vec<u8> {
    blobs.store.get(&Blobs::location(family, name)).await.unwrap().bytes().await.unwrap().to_vec()
}

async fn put_raw(blobs: &Blobs, family: FamilyId, name: &str, bytes: Vec<u8>) {
    blobs.store.put(&Blobs::location(family, name), PutPayload::from(bytes)).await.unwrap();
}

async fn names(blobs: &Blobs, family: FamilyId) -> Vec<String> {
    use futures::TryStreamExt as _;
    let prefix = object_store::path::Path::from(family.to_string());
    let mut names: Vec<String> =
        blobs.store.list(Some(&prefix)).map_ok(|m| m.location.filename().unwrap().to_owned()).try_collect().await.unwrap();
    names.sort();
    names
}

/// A large blob (several parts of a multipart upload) and an empty one come back identical, sized and hashed.
async fn round_trip(blobs: &Blobs) {
    let (key, family) = (key(), FamilyId::new());
    let len = 2 * PART_SIZE as u64 + 123_457;
    for size in [len, 0, 1] {
        let record = RecordId::new();
        let name = record.to_string();
        let stored = blobs.put(key.clone(), family, &name, pattern(size)).await.unwrap();
        let expected = sha256_of(Pattern { len: size, at: 0 }).unwrap();
        assert_eq!((stored.size, stored.sha256), expected, "what put reports, size {size}");
        assert_eq!(read_back(blobs, &key, family, record, &name, &stored).await.unwrap().unwrap(), expected, "size {size}");
    }
    // Ciphertext only: the large blob is larger than its plaintext, and is stored whole.
    let names = names(blobs, family).await;
    assert_eq!(names.len(), 3);
    let sizes: Vec<usize> = futures::future::join_all(names.iter().map(|n| raw(blobs, family, n))).await.iter().map(Vec::len).collect();
    assert!(sizes.iter().any(|&s| s as u64 > len), "{sizes:?}");
}

/// Objects are named by the ids given, nothing else (no file name, no staging name left behind).
async fn names_are_ids(blobs: &Blobs) {
    let (key, family) = (key(), FamilyId::new());
    let (a, b) = (RecordId::new(), RecordId::new());
    let b_name = super::blob_name(b, 3);
    blobs.put(key.clone(), family, &a.to_string(), pattern(10)).await.unwrap();
    blobs.put(key.clone(), family, &b_name, pattern(PART_SIZE as u64 + 1)).await.unwrap();
    let mut expected = vec![a.to_string(), b_name];
    expected.sort();
    assert_eq!(names(blobs, family).await, expected);
}

/// A blob put in another's place (swapped, or replaced by one of the same family) is refused before any byte.
async fn a_swapped_blob_is_refused(blobs: &Blobs) {
    let (key, family) = (key(), FamilyId::new());
    let (a, b) = (RecordId::new(), RecordId::new());
    let sa = blobs.put(key.clone(), family, &a.to_string(), pattern(100_000)).await.unwrap();
    let sb = blobs.put(key.clone(), family, &b.to_string(), pattern(100_000)).await.unwrap();
    // The row of `a` naming b's blob with a's head, then b's bytes copied over a's.
    let err = blobs.open_reader(key.clone(), family, a, &b.to_string(), &sa.head).await.err().expect("refused");
    assert!(matches!(err, Error::Integrity(_)), "{err}");
    let (ra, rb) = (raw(blobs, family, &a.to_string()).await, raw(blobs, family, &b.to_string()).await);
    put_raw(blobs, family, &a.to_string(), rb).await;
    let err = blobs.open_reader(key.clone(), family, a, &a.to_string(), &sa.head).await.err().expect("refused");
    assert!(matches!(err, Error::Integrity(_)), "{err}");
    // Put back, it reads again; b was never touched.
    put_raw(blobs, family, &a.to_string(), ra).await;
    assert!(read_back(blobs, &key, family, a, &a.to_string(), &sa).await.unwrap().is_ok());
    assert!(read_back(blobs, &key, family, b, &b.to_string(), &sb).await.unwrap().is_ok());
}

/// A truncated or altered object fails while it is read (age authenticates every chunk and the end).
async fn a_truncated_or_altered_blob_fails_on_read(blobs: &Blobs) {
    let (key, family) = (key(), FamilyId::new());
    let record = RecordId::new();
    let name = record.to_string();
    let stored = blobs.put(key.clone(), family, &name, pattern(300_000)).await.unwrap();
    let original = raw(blobs, family, &name).await;
    let cut = |at: usize| original[..at].to_vec();
    let mut flipped = original.clone();
    flipped[200_000] ^= 1;
    let mut last = original.clone();
    *last.last_mut().unwrap() ^= 1;
    for (what, bytes) in [("cut mid-stream", cut(original.len() / 2)), ("cut at a chunk end", cut(original.len() - 17)), ("a byte altered", flipped), ("the tag altered", last)] {
        put_raw(blobs, family, &name, bytes).await;
        match read_back(blobs, &key, family, record, &name, &stored).await {
            Ok(read) => assert!(read.is_err(), "{what}: read to the end"),
            Err(e) => panic!("{what}: the head is intact, so it opens and fails on read, not {e}"),
        }
    }
    // Cut inside the header: refused at once.
    put_raw(blobs, family, &name, cut(40)).await;
    assert!(read_back(blobs, &key, family, record, &name, &stored).await.is_err());
}

/// A blob that is not there is `BlobCorrupt`, for reading and for its head.
async fn a_missing_blob_is_blob_corrupt(blobs: &Blobs) {
    let (key, family, record) = (key(), FamilyId::new(), RecordId::new());
    let err = blobs.open_reader(key, family, record, &record.to_string(), &[0; 32]).await.err().expect("missing");
    assert!(matches!(err, Error::BlobCorrupt), "{err}");
    assert!(matches!(blobs.head(family, &record.to_string()).await, Err(Error::BlobCorrupt)));
}

/// `head` reads the head an upload reported.
async fn head_matches_what_put_reported(blobs: &Blobs) {
    let (key, family, record) = (key(), FamilyId::new(), RecordId::new());
    let stored = blobs.put(key, family, &record.to_string(), pattern(70_000)).await.unwrap();
    assert_eq!(blobs.head(family, &record.to_string()).await.unwrap(), stored.head);
}

/// Deleting removes one blob (and deleting it again is no error); deleting a family removes all of its blobs and
/// no other family's; the listing of families (what orphan removal at start reads) follows.
async fn delete_and_delete_family(blobs: &Blobs) {
    let key = key();
    let (f1, f2) = (FamilyId::new(), FamilyId::new());
    let mut kept = Vec::new();
    for family in [f1, f2] {
        for size in [10, PART_SIZE as u64 + 5] {
            let record = RecordId::new();
            let stored = blobs.put(key.clone(), family, &record.to_string(), pattern(size)).await.unwrap();
            kept.push((family, record, stored));
        }
    }
    let mut families = blobs.families().await.unwrap();
    families.sort();
    let mut both = vec![f1, f2];
    both.sort();
    assert_eq!(families, both);

    let (family, record, _) = &kept[0];
    blobs.delete(*family, &record.to_string()).await;
    blobs.delete(*family, &record.to_string()).await;
    assert!(matches!(blobs.head(*family, &record.to_string()).await, Err(Error::BlobCorrupt)));
    assert_eq!(names(blobs, f1).await.len(), 1);

    blobs.delete_family(f1).await.unwrap();
    blobs.delete_family(f1).await.unwrap();
    assert!(names(blobs, f1).await.is_empty());
    assert_eq!(blobs.families().await.unwrap(), vec![f2]);
    for (family, record, stored) in &kept[2..] {
        assert!(read_back(blobs, &key, *family, *record, &record.to_string(), stored).await.unwrap().is_ok());
    }
}

/// An upload whose source fails (after a part was sent) stores nothing, and says so.
async fn a_failed_upload_leaves_nothing(blobs: &Blobs) {
    struct Failing(Pattern);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.at >= self.0.len {
                return Err(std::io::Error::other("the source broke"));
            }
            self.0.read(buf)
        }
    }
    let (key, family) = (key(), FamilyId::new());
    for after in [1_000, 2 * PART_SIZE as u64 + 1] {
        let record = RecordId::new();
        let result = blobs.put(key.clone(), family, &record.to_string(), Box::new(Failing(Pattern { len: after, at: 0 }))).await;
        assert!(result.is_err(), "after {after} bytes");
        assert!(matches!(blobs.head(family, &record.to_string()).await, Err(Error::BlobCorrupt)), "after {after} bytes");
    }
    assert!(names(blobs, family).await.is_empty());
    if let Some(root) = &blobs.local {
        // Nor a staging file.
        let left: Vec<_> = std::fs::read_dir(root.join(family.to_string())).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
        assert!(left.is_empty(), "{left:?}");
    }
}

/// Each case on each store.
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod local_folder {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = super::local().unwrap();
                super::$case(&store.blobs).await;
            })*
        }
        mod s3 {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(store) = super::s3() else { return };
                super::$case(&store.blobs).await;
            })*
        }
    };
}

suite!(
    round_trip,
    names_are_ids,
    a_swapped_blob_is_refused,
    a_truncated_or_altered_blob_fails_on_read,
    a_missing_blob_is_blob_corrupt,
    head_matches_what_put_reported,
    delete_and_delete_family,
    a_failed_upload_leaves_nothing,
);

/// The local folder keeps its modes: folders 0700, blobs 0600, whatever the umask.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_blobs_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let store = local().unwrap();
    let root = store.blobs.local.clone().unwrap();
    let (key, family) = (key(), FamilyId::new());
    for size in [10, PART_SIZE as u64 + 1] {
        store.blobs.put(key.clone(), family, &RecordId::new().to_string(), pattern(size)).await.unwrap();
    }
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join(family.to_string())), 0o700);
    let files: Vec<_> = std::fs::read_dir(root.join(family.to_string())).unwrap().flatten().collect();
    assert_eq!(files.len(), 2);
    for file in files {
        assert_eq!(mode(&file.path()), 0o600, "{:?}", file.file_name());
    }
}
