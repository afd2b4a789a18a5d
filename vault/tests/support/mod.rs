//! What the integrity and upgrade tests share: a vault on SQLite or on a fresh PostgreSQL database, its blobs in the
//! data folder or under a fresh prefix of the test S3 bucket, a raw connection to its database and raw access to its
//! blobs (what someone with write access but no keys has), and a log capture.

#![allow(dead_code)]

pub mod counting_alloc;

use std::sync::{Arc, Mutex};

use cartable_consent::{Action, FamilyId, Principal, RecordId, Resource};
use cartable_vault::{Permit, RecordDocument, Vault, VaultConfig};
use sqlx::Connection;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub config: VaultConfig,
}

pub fn pg_admin_url() -> Option<String> {
    std::env::var("CARTABLE_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// A database and a blob store to run a test on.
#[derive(Debug, Clone, Copy)]
pub struct Leg {
    pub postgres: bool,
    pub s3: bool,
}

/// The S3 test store from the `CARTABLE_TEST_S3_*` variables (set by `scripts/test.sh`), under a prefix of its own.
pub fn s3_config() -> Option<cartable_vault::S3Config> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let endpoint = var("CARTABLE_TEST_S3_ENDPOINT")?;
    let need = |name: &str| var(name).unwrap_or_else(|| panic!("CARTABLE_TEST_S3_ENDPOINT is set but {name} is not"));
    Some(cartable_vault::S3Config {
        bucket: need("CARTABLE_TEST_S3_BUCKET"),
        // Short: s3s-fs names a multipart upload's file after the key in base64, within the 255 bytes of a file name.
        prefix: format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        endpoint: Some(endpoint),
        region: var("CARTABLE_TEST_S3_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
        credentials: Some(cartable_vault::S3Credentials {
            access_key_id: need("CARTABLE_TEST_S3_ACCESS_KEY_ID"),
            secret_access_key: need("CARTABLE_TEST_S3_SECRET_ACCESS_KEY").into(),
        }),
    })
}

/// SQLite with the data folder; PostgreSQL with it, and with the S3 store, when their variables are set (with S3
/// alone, SQLite with it).
pub fn legs() -> Vec<Leg> {
    let (pg, s3) = (pg_admin_url().is_some(), std::env::var("CARTABLE_TEST_S3_ENDPOINT").is_ok_and(|v| !v.is_empty()));
    let mut legs = vec![Leg { postgres: false, s3: false }];
    if pg {
        legs.push(Leg { postgres: true, s3: false });
    } else {
        eprintln!("PostgreSQL leg skipped: CARTABLE_TEST_DATABASE_URL is not set (scripts/test.sh sets it)");
    }
    if s3 {
        legs.push(Leg { postgres: pg, s3: true });
    } else {
        eprintln!("S3 leg skipped: CARTABLE_TEST_S3_ENDPOINT is not set (scripts/test.sh starts an S3 server and sets it)");
    }
    legs
}

pub async fn fixture(postgres: bool) -> Fixture {
    fixture_on(Leg { postgres, s3: false }).await
}

pub async fn fixture_on(leg: Leg) -> Fixture {
    let postgres = leg.postgres;
    let dir = tempfile::tempdir().unwrap();
    let mut config = VaultConfig::embedded(dir.path().join("data"));
    if leg.s3 {
        config.blob_store = cartable_vault::BlobStoreConfig::S3(s3_config().expect("an s3 leg needs CARTABLE_TEST_S3_ENDPOINT"));
    }
    if postgres {
        let admin = pg_admin_url().expect("postgres fixture needs CARTABLE_TEST_DATABASE_URL");
        let name = format!("cartable_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
        config.database_url = Some(format!("{}/{name}", &admin[..admin.rfind('/').expect("a database url has a path")]));
    }
    Fixture { dir, config }
}

pub fn backends() -> Vec<bool> {
    if pg_admin_url().is_some() {
        vec![false, true]
    } else {
        eprintln!("PostgreSQL leg skipped: CARTABLE_TEST_DATABASE_URL is not set (scripts/test.sh sets it)");
        vec![false]
    }
}

impl Fixture {
    pub fn database_url(&self) -> String {
        self.config.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.config.data_dir.join("cartable.db").display()))
    }

    /// A connection to the vault's database, as its administrator (no keys) has.
    pub async fn sql(&self) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.database_url()).await.unwrap()
    }

    pub fn blob_path(&self, family: FamilyId, name: &str) -> std::path::PathBuf {
        self.config.data_dir.join("blobs").join(family.to_string()).join(name)
    }

    /// The S3 store of this fixture, reached directly (as with the bucket's credentials, without the vault's keys).
    fn s3(&self) -> Option<Arc<dyn object_store::ObjectStore>> {
        use age::secrecy::ExposeSecret as _;
        let cartable_vault::BlobStoreConfig::S3(s3) = &self.config.blob_store else { return None };
        let credentials = s3.credentials.as_ref().unwrap();
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&s3.bucket)
            .with_region(&s3.region)
            .with_endpoint(s3.endpoint.as_deref().unwrap())
            .with_allow_http(true)
            .with_access_key_id(&credentials.access_key_id)
            .with_secret_access_key(credentials.secret_access_key.expose_secret())
            .build()
            .unwrap();
        Some(Arc::new(object_store::prefix::PrefixStore::new(store, s3.prefix.as_str())))
    }

    fn location(family: FamilyId, name: &str) -> object_store::path::Path {
        object_store::path::Path::from_iter([family.to_string().as_str(), name])
    }

    /// A blob's stored bytes: its file in the data folder, or its object.
    pub async fn blob_bytes(&self, family: FamilyId, name: &str) -> Vec<u8> {
        use object_store::ObjectStoreExt as _;
        match self.s3() {
            Some(store) => store.get(&Self::location(family, name)).await.unwrap().bytes().await.unwrap().to_vec(),
            None => std::fs::read(self.blob_path(family, name)).unwrap(),
        }
    }

    /// Replaces a blob's stored bytes.
    pub async fn set_blob_bytes(&self, family: FamilyId, name: &str, bytes: Vec<u8>) {
        use object_store::ObjectStoreExt as _;
        match self.s3() {
            Some(store) => {
                store.put(&Self::location(family, name), bytes.into()).await.unwrap();
            }
            None => std::fs::write(self.blob_path(family, name), bytes).unwrap(),
        }
    }

    /// The names of a family's stored blobs, sorted (in the data folder, every file of its folder).
    pub async fn blob_names(&self, family: FamilyId) -> Vec<String> {
        use futures::TryStreamExt as _;
        let mut names: Vec<String> = match self.s3() {
            Some(store) => store
                .list(Some(&object_store::path::Path::from(family.to_string())))
                .map_ok(|m| m.location.filename().unwrap().to_owned())
                .try_collect()
                .await
                .unwrap(),
            None => match std::fs::read_dir(self.config.data_dir.join("blobs").join(family.to_string())) {
                Ok(dir) => dir.flatten().map(|e| e.file_name().into_string().unwrap()).collect(),
                Err(_) => Vec::new(),
            },
        };
        names.sort();
        names
    }

    /// Every object of the S3 store (its key and bytes); nothing for the data folder, whose files are on disk.
    pub async fn s3_objects(&self) -> Vec<(String, Vec<u8>)> {
        use futures::TryStreamExt as _;
        use object_store::ObjectStoreExt as _;
        let Some(store) = self.s3() else { return Vec::new() };
        let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
        let mut out = Vec::new();
        for meta in metas {
            // An object removed since the listing (an index file replaced by the indexer at work) is not stored.
            let got = match store.get(&meta.location).await {
                Err(object_store::Error::NotFound { .. }) => continue,
                got => got.unwrap(),
            };
            out.push((meta.location.to_string(), got.bytes().await.unwrap().to_vec()));
        }
        out
    }
}

/// Every file under `dir` with its bytes (what someone with the disk reads).
pub fn all_bytes_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        // A file or folder removed meanwhile (the indexer replacing a file) is not stored any more.
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The database's data as `pg_dump` writes it.
pub fn pg_dump(url: &str) -> Vec<u8> {
    let bin = std::env::var("CARTABLE_PG_DUMP").unwrap_or_else(|_| "pg_dump".to_owned());
    let out = std::process::Command::new(bin).arg("--data-only").arg(url).output().expect("pg_dump runs");
    assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

pub async fn operator(vault: &Vault, family: FamilyId, action: Action, resource: Resource) -> Permit {
    vault.authorize(family, Principal::Operator, action, resource).await.unwrap().into_permit().unwrap()
}

/// Reads a record as the operator: decided, logged, opened.
pub async fn read(vault: &Vault, family: FamilyId, id: RecordId) -> Result<RecordDocument, cartable_vault::Error> {
    let resource = vault.record_resource(family, id).await?;
    let permit = vault.authorize(family, Principal::Operator, Action::Read, resource).await?.into_permit().unwrap();
    vault.get_record(&permit).await
}

/// Captures every log line, at every level.
#[derive(Clone, Default)]
pub struct LogSink(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogSink {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Writes families in the format before sealed values, as the earlier vault did: every value a whole age file to
/// the family identity, no data key, blobs as age files named by record id. The vault must have been opened once
/// (schema and master key exist); the upgrade marker is removed so that the next start upgrades.
pub mod legacy {
    use super::*;
    use age::secrecy::ExposeSecret;
    use cartable_consent::{Doctype, MemberId};

    /// What was written, to compare after the upgrade.
    #[derive(Debug, Clone)]
    pub struct Written {
        pub family: FamilyId,
        pub name: String,
        pub members: Vec<(MemberId, String, Option<String>)>,
        /// Record → its body (records) or (file name, content) for files.
        pub records: Vec<(RecordId, serde_json::Value)>,
        pub files: Vec<(RecordId, String, Vec<u8>)>,
    }

    fn master_recipient(fx: &Fixture) -> age::x25519::Recipient {
        let text = std::fs::read_to_string(fx.config.master_key_path()).unwrap();
        let line = text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap();
        line.parse::<age::x25519::Identity>().unwrap().to_public()
    }

    pub async fn write_family(fx: &Fixture, name: &str, records: usize, seed: &str) -> Written {
        let mut conn = fx.sql().await;
        sqlx::query("DELETE FROM meta WHERE key = 'storage_format'").execute(&mut conn).await.unwrap();
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        let enc = |plain: &[u8]| age::encrypt(&recipient, plain).unwrap();
        let family = FamilyId::new();
        let now = 1_764_000_000_000i64;
        let wrapped = age::encrypt(&master_recipient(fx), identity.to_string().expose_secret().as_bytes()).unwrap();
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("INSERT INTO families (id, wrapped_key, name_enc, version, created_at) VALUES ($1, $2, $3, 0, $4)")
            .bind(family.to_string())
            .bind(wrapped)
            .bind(enc(name.as_bytes()))
            .bind(now)
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("INSERT INTO ledger_heads (family_id, size) VALUES ($1, 0)").bind(family.to_string()).execute(&mut *tx).await.unwrap();
        let guardian = MemberId::new();
        let child = MemberId::new();
        let members = vec![
            (guardian, format!("Parent {seed}"), None),
            (child, format!("Enfant {seed}"), Some("2014-05-02".to_owned())),
        ];
        for (id, name, birth) in &members {
            sqlx::query("INSERT INTO members (id, family_id, role, name_enc, birth_date_enc, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(id.to_string())
                .bind(family.to_string())
                .bind(if birth.is_some() { "child" } else { "guardian" })
                .bind(enc(name.as_bytes()))
                .bind(birth.as_ref().map(|b| enc(b.as_bytes())))
                .bind(now)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let mut collections = std::collections::HashMap::new();
        for doctype in [Doctype::Grades, Doctype::Documents] {
            let id = uuid::Uuid::now_v7().to_string();
            sqlx::query("INSERT INTO collections (id, family_id, child_id, doctype, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&id)
                .bind(family.to_string())
                .bind(child.to_string())
                .bind(doctype.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await
                .unwrap();
            collections.insert(doctype, id);
        }
        let insert = "INSERT INTO records (id, family_id, collection_id, child_id, doctype, kind, source, version, body_enc, blob_key, size, created_at, updated_at) \
                      VALUES ($1, $2, $3, $4, $5, $6, 'operator', 1, $7, $8, $9, $10, $10)";
        let blobs = fx.config.data_dir.join("blobs").join(family.to_string());
        std::fs::create_dir_all(&blobs).unwrap();
        let mut written = Vec::new();
        for i in 0..records {
            let id = RecordId::new();
            let body = if i == 1 {
                // One body above the inline limit: it lives in a blob and the row has no body_enc.
                serde_json::json!({"notes": format!("{seed} très long ").repeat(4_000), "n": i})
            } else {
                serde_json::json!({"subject": "mathématiques", "grade": format!("{}/20", i % 20), "comment": format!("{seed} {i}")})
            };
            let plain = serde_json::to_vec(&body).unwrap();
            let (body_enc, blob_key) = if plain.len() > 64 * 1024 {
                std::fs::write(blobs.join(id.to_string()), enc(&plain)).unwrap();
                (None, Some(id.to_string()))
            } else {
                (Some(enc(&plain)), None)
            };
            sqlx::query(insert)
                .bind(id.to_string())
                .bind(family.to_string())
                .bind(&collections[&Doctype::Grades])
                .bind(child.to_string())
                .bind(Doctype::Grades.as_str())
                .bind("record")
                .bind(body_enc)
                .bind(blob_key)
                .bind(plain.len() as i64)
                .bind(now + i as i64)
                .execute(&mut *tx)
                .await
                .unwrap();
            written.push((id, body));
        }
        let mut files = Vec::new();
        for i in 0..2 {
            use sha2::Digest as _;
            let id = RecordId::new();
            let content: Vec<u8> = format!("{seed} bulletin {i}\n").repeat(9_000 + i).into_bytes();
            let name = format!("bulletin-{i}.pdf");
            std::fs::write(blobs.join(id.to_string()), enc(&content)).unwrap();
            let info = serde_json::json!({"name": name, "size": content.len(), "sha256": hex::encode(sha2::Sha256::digest(&content))});
            sqlx::query(insert)
                .bind(id.to_string())
                .bind(family.to_string())
                .bind(&collections[&Doctype::Documents])
                .bind(child.to_string())
                .bind(Doctype::Documents.as_str())
                .bind("file")
                .bind(Some(enc(&serde_json::to_vec(&info).unwrap())))
                .bind(Some(id.to_string()))
                .bind(content.len() as i64)
                .bind(now)
                .execute(&mut *tx)
                .await
                .unwrap();
            files.push((id, name, content));
        }
        tx.commit().await.unwrap();
        Written { family, name: name.to_owned(), members, records: written, files }
    }

    /// Reads back everything `write_family` wrote, through the vault, and compares.
    pub async fn check_family(vault: &Vault, w: &Written) {
        use std::io::Read as _;
        let permit = operator(vault, w.family, Action::Read, Resource::Family).await;
        assert_eq!(vault.family_name(&permit).await.unwrap(), w.name);
        let members = vault.list_members(&permit).await.unwrap();
        for (id, name, birth) in &w.members {
            let m = members.iter().find(|m| m.id == *id).expect("every member is still there");
            assert_eq!(&m.name, name);
            assert_eq!(m.birth_date.map(|d| d.to_string()), *birth);
        }
        for (id, body) in &w.records {
            let doc = read(vault, w.family, *id).await.unwrap_or_else(|e| panic!("record {id}: {e}"));
            assert_eq!(&doc.body, body, "record {id} reads back identical");
        }
        for (id, name, content) in &w.files {
            let resource = vault.record_resource(w.family, *id).await.unwrap();
            let permit = operator(vault, w.family, Action::Read, resource).await;
            let (info, mut reader) = vault.open_file(&permit).await.unwrap();
            assert_eq!(&info.name, name);
            let back = tokio::task::spawn_blocking(move || {
                let mut v = Vec::new();
                reader.read_to_end(&mut v).unwrap();
                v
            })
            .await
            .unwrap();
            assert_eq!(&back, content, "file {id} reads back identical");
        }
    }
}

/// `left` bytes generated as they are read (not compressible into nothing, never whole in memory): the content of
/// large files for the blob tests and benchmark.
pub struct Generated {
    pub left: u64,
}

impl std::io::Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left as usize);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let x = self.left as usize + i;
            *b = (x ^ (x >> 9)) as u8;
        }
        self.left -= n as u64;
        Ok(n)
    }
}
