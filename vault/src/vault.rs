//! The vault handle: opening, families, members, key rotation and the authorization gate.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cartable_consent::ledger::LedgerSigner;
use cartable_consent::{
    AccessRequest, Action, AgeRules, Authorizer, CompiledFamily, FamilyId, FamilySnapshot, Member, MemberId,
    Principal, Resource, Role,
};
use sqlx::{AnyPool, Row};
use time::{Date, OffsetDateTime};

use crate::blobs::{BlobStoreConfig, Blobs};
use crate::db::{self, Backend, to_millis};
use crate::error::{Error, OpenError, Result};
use crate::envelope::{DataKey, Field, Place, integrity};
use crate::keys::{self, FamilyIdentity, FamilyKey, MasterKey};
use cartable_consent::ledger::ReceiptDraft;
use crate::permit::Decision;

/// Where the vault lives and how it is keyed. Passed explicitly: there is no hidden default.
#[derive(Debug, Clone)]
pub struct VaultConfig {
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; `None` means the SQLite file inside `data_dir`.
    pub database_url: Option<String>,
    /// The master key file; `None` means `data_dir/keys/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// The ledger signing key file; `None` means `data_dir/keys/ledger.key`.
    pub ledger_key_file: Option<PathBuf>,
    pub age_rules: AgeRules,
    /// The name this server signs ledger checkpoints with, e.g. `cartable.example.org`.
    pub ledger_origin: String,
    /// Where file contents and large bodies go: the data folder's `blobs/` or an S3-compatible store.
    pub blob_store: BlobStoreConfig,
    /// How old a blob without its row must be before the start removes it: an upload on another server completes
    /// its blob a moment before its row commits, so a younger blob may be one about to be claimed. An import's blobs,
    /// uploaded before its family's row exists, are kept as long after its last file.
    pub orphan_blob_grace: std::time::Duration,
    /// How a PDF's text is read for the search index (a child process); `None`: PDFs are found by their names only.
    pub pdf_text: Option<crate::TextExtractor>,
}

impl VaultConfig {
    /// The embedded default: SQLite and keys inside `data_dir`, French age rules.
    pub fn embedded(data_dir: PathBuf) -> Self {
        VaultConfig {
            data_dir,
            database_url: None,
            master_key_file: None,
            ledger_key_file: None,
            age_rules: AgeRules::FRANCE,
            ledger_origin: "cartable.localhost".to_owned(),
            blob_store: BlobStoreConfig::DataFolder,
            orphan_blob_grace: std::time::Duration::from_secs(15 * 60),
            pdf_text: None,
        }
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file.clone().unwrap_or_else(|| self.data_dir.join("keys").join("master.key"))
    }

    fn ledger_key_path(&self) -> PathBuf {
        self.ledger_key_file.clone().unwrap_or_else(|| self.data_dir.join("keys").join("ledger.key"))
    }

    fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| db::default_url(&self.data_dir))
    }
}

/// A member as a guardian sees it (decrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: MemberId,
    pub role: Role,
    pub name: String,
    pub birth_date: Option<Date>,
}

/// The vault. Cheap to clone; all clones share one pool, one key cache and one policy cache.
#[derive(Clone)]
pub struct Vault {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) blobs: Blobs,
    pub(crate) master: Mutex<Arc<MasterKey>>,
    master_path: PathBuf,
    pub(crate) signer: LedgerSigner,
    pub(crate) authorizer: Authorizer,
    pub(crate) origin: String,
    family_keys: Mutex<HashMap<FamilyId, Arc<FamilyKey>>>,
    policies: Mutex<HashMap<FamilyId, FamilyRules>>,
    /// Appends access decisions in group commits (see `ledger/queue.rs`).
    pub(crate) appender: crate::ledger::Appender,
    /// Grant changes heard from the database (see `watch.rs`).
    pub(crate) grant_notices: tokio::sync::broadcast::Sender<cartable_consent::GrantId>,
    /// The families' search indexes this process keeps (see `search/`).
    pub(crate) search: crate::search::Indexes,
    /// The sealed-delivery groups this process holds (see `sealed.rs`).
    pub(crate) sealed: crate::sealed::Groups,
    /// `VaultConfig::orphan_blob_grace`: also how long an import's mark keeps its blobs (see `import.rs`).
    pub(crate) orphan_blob_grace: std::time::Duration,
    /// Wakes the mailer when a notification is added (see `notifications.rs`).
    pub(crate) notices: tokio::sync::Notify,
    /// Grants this process knows were used already (their first use is notified once).
    pub(crate) used_grants: Mutex<std::collections::HashSet<cartable_consent::GrantId>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("backend", &self.inner.backend).finish_non_exhaustive()
    }
}

/// A family's compiled policies and the members they were built from, valid for one family version.
#[derive(Clone)]
pub(crate) struct FamilyRules {
    pub(crate) version: i64,
    pub(crate) compiled: Arc<CompiledFamily>,
    pub(crate) members: Arc<Vec<Member>>,
}

impl FamilyRules {
    pub(crate) fn role_of(&self, principal: Principal) -> Option<Role> {
        match principal {
            Principal::Member(id) => self.members.iter().find(|m| m.id == id).map(|m| m.role),
            _ => None,
        }
    }
}

const MASTER_RECIPIENT: &str = "master_recipient";

/// How often a vault looks for families erased by another process, to drop them from its caches.
const EVICTION_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// How many times a decision is made again because the family's policies changed while it was being logged.
const DECISION_ATTEMPTS: usize = 20;

impl Vault {
    /// Opens (or creates) the vault. The master key file is created on first start only; later, a missing or
    /// different key file is an error, never a silent new key.
    pub async fn open(config: VaultConfig) -> Result<Vault, OpenError> {
        // INVARIANT: everything under the data folder is the owner's only (folders 0700, files 0600).
        crate::private_files::private_dir(&config.data_dir).map_err(|e| OpenError::DataFolder(e.into()))?;
        let (pool, backend) = db::connect(&config.database_url()).await.map_err(OpenError::Database)?;
        let master = open_master(&pool, &config).await?;
        let seed = keys::load_or_create_ledger_seed(&config.ledger_key_path()).map_err(OpenError::Keys)?;
        let signer = LedgerSigner::from_secret_bytes(&config.ledger_origin, &seed)
            .map_err(|e| OpenError::Keys(Error::Key(format!("invalid ledger origin: {e}"))))?;
        let keys_dir = config.data_dir.join("keys");
        if keys_dir.is_dir() {
            crate::private_files::private_dir(&keys_dir).map_err(|e| OpenError::DataFolder(e.into()))?;
        }
        let blobs = match &config.blob_store {
            BlobStoreConfig::DataFolder => Blobs::local(config.data_dir.join("blobs")),
            BlobStoreConfig::S3(s3) => Blobs::s3(s3),
        }
        .map_err(OpenError::BlobStore)?;
        let turns = match backend {
            Backend::Sqlite => db::sqlite_file(&config.database_url()).map(|file| crate::write_turn::WriteTurns::for_database(&file)),
            Backend::Postgres => None,
        };
        let appender = crate::ledger::Appender::new(pool.clone(), backend, turns);
        let vault = Vault {
            inner: Arc::new(Inner {
                appender,
                pool,
                backend,
                blobs,
                master: Mutex::new(Arc::new(master)),
                master_path: config.master_key_path(),
                signer,
                authorizer: Authorizer::new(config.age_rules),
                origin: config.ledger_origin.clone(),
                family_keys: Mutex::new(HashMap::new()),
                policies: Mutex::new(HashMap::new()),
                grant_notices: tokio::sync::broadcast::channel(1024).0,
                search: crate::search::Indexes::new(config.pdf_text.clone()),
                sealed: Default::default(),
                orphan_blob_grace: config.orphan_blob_grace,
                notices: tokio::sync::Notify::new(),
                used_grants: Mutex::new(std::collections::HashSet::new()),
            }),
        };
        if backend == Backend::Postgres {
            crate::watch::listen_for_grant_changes(&vault.inner, config.database_url());
        }
        vault.remove_orphan_blobs(config.orphan_blob_grace).await.map_err(OpenError::BlobStore)?;
        // Values in the format before sealed values are upgraded before anything is served; then the one-time moves
        // of rows written before migration 0004 (each resumable: it looks only at rows not yet moved).
        let upgrades = async {
            vault.upgrade_storage().await?;
            vault.backfill_entry_columns().await?;
            vault.seal_stored_purposes().await?;
            vault.keep_adults_prohibitions().await
        };
        upgrades.await.map_err(OpenError::Upgrade)?;
        vault.start_eviction_sweep();
        Ok(vault)
    }

    /// Every few seconds, evicts from this process's caches the families another process erased (see
    /// [`Vault::evict_erased`]). The task holds no strong reference between sweeps: it ends with the last clone.
    fn start_eviction_sweep(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVICTION_SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if let Err(e) = (Vault { inner }).evict_erased().await {
                    tracing::debug!(error = %e, "the erased-family sweep failed; it runs again later");
                }
            }
        });
    }

    /// Evicts from the key and policy caches every cached family whose row is gone or whose key was destroyed
    /// (an erasure, possibly by another process); returns how many were evicted.
    pub(crate) async fn evict_erased(&self) -> Result<usize> {
        let mut cached: Vec<FamilyId> = self.inner.family_keys.lock().expect("key cache lock").keys().copied().collect();
        cached.extend(self.inner.policies.lock().expect("policy cache lock").keys().copied());
        cached.sort();
        cached.dedup();
        let mut evicted = 0;
        for chunk in cached.chunks(500) {
            // Placeholders only: the ids are bound below.
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT id FROM families WHERE id IN ({}) AND length(wrapped_key) > 0", placeholders.join(", "));
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            let alive: std::collections::HashSet<String> = query.fetch_all(self.pool()).await?.iter().map(|r| r.get::<String, _>(0)).collect();
            for family in chunk.iter().filter(|f| !alive.contains(&f.to_string())) {
                self.forget(*family);
                evicted += 1;
            }
        }
        Ok(evicted)
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    pub fn age_rules(&self) -> AgeRules {
        self.inner.authorizer.rules()
    }

    /// The key text a verifier needs to check this server's checkpoints offline.
    pub fn ledger_verifier_key(&self) -> String {
        self.inner.signer.verifier_key()
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so a transaction
    /// that reads before it writes waits its turn instead of failing when another process wrote in between.
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        db::begin_write(&self.inner.pool, self.inner.backend).await
    }

    pub(crate) fn master(&self) -> Arc<MasterKey> {
        self.inner.master.lock().expect("master key lock").clone()
    }

    // --- families -------------------------------------------------------------------------------------------

    pub async fn create_family(&self, name: &str) -> Result<FamilyId> {
        let name = validate_name(name)?;
        let id = FamilyId::new();
        let (key, data_key_enc) = new_family_key(id)?;
        let mut tx = self.write_tx().await?;
        self.insert_family(&mut tx, id, &key, &data_key_enc, name).await?;
        tx.commit().await?;
        self.inner.family_keys.lock().expect("key cache lock").insert(id, Arc::new(key));
        Ok(id)
    }

    /// Inserts a family's row (its identity wrapped to the master key, its data key, its name sealed) and its empty
    /// log's head inside `tx`. The name was validated by the caller.
    pub(crate) async fn insert_family(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: FamilyId, key: &FamilyKey, data_key_enc: &[u8], name: &str) -> Result<()> {
        // Re-read the master recipient inside the transaction: a rotation by another process must not leave
        // a new family wrapped to a retired key.
        let recorded: String = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(MASTER_RECIPIENT)
            .fetch_one(&mut **tx)
            .await?
            .get(0);
        let master = self.master_named(&recorded)?;
        let wrapped = master.wrap(key.identity())?;
        let name_enc = key.seal(&Place::family_name(id), name.as_bytes())?;
        let now = to_millis(OffsetDateTime::now_utc());
        sqlx::query("INSERT INTO families (id, wrapped_key, name_enc, version, created_at, data_key_enc) VALUES ($1, $2, $3, 0, $4, $5)")
            .bind(id.to_string())
            .bind(wrapped)
            .bind(name_enc)
            .bind(now)
            .bind(data_key_enc)
            .execute(&mut **tx)
            .await?;
        sqlx::query("INSERT INTO ledger_heads (family_id, size) VALUES ($1, 0)")
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Puts a family's keys in the cache (a family just written, whose row another call would read back).
    pub(crate) fn cache_family_key(&self, id: FamilyId, key: Arc<FamilyKey>) {
        self.inner.family_keys.lock().expect("key cache lock").insert(id, key);
    }

    pub async fn family_exists(&self, family: FamilyId) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 FROM families WHERE id = $1")
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?
            .is_some())
    }

    pub async fn list_families(&self) -> Result<Vec<FamilyId>> {
        let rows = sqlx::query("SELECT id FROM families ORDER BY id").fetch_all(self.pool()).await?;
        rows.iter().map(|r| parse_id(&r.get::<String, _>(0))).collect()
    }

    /// The family's name, decrypted; the permit must cover the family.
    pub async fn family_name(&self, permit: &crate::Permit) -> Result<String> {
        let family = permit.family();
        if !matches!(permit.resource(), Resource::Family) {
            return Err(Error::PermitMismatch("family"));
        }
        let row = sqlx::query("SELECT name_enc FROM families WHERE id = $1")
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or(Error::FamilyNotFound(family))?;
        let key = self.family_key(family).await?;
        let plain = key.open(&Place::family_name(family), &row.get::<Vec<u8>, _>(0))?;
        String::from_utf8(plain.to_vec()).map_err(|_| Error::Decrypt)
    }

    /// Erases a family: its key is destroyed first, then its rows, in one transaction that also appends the
    /// erasure to its ledger (which stays, holding no personal data); then its blobs. The permit must be for
    /// managing the family.
    pub async fn delete_family(&self, permit: &crate::Permit) -> Result<()> {
        permit.require_family_management()?;
        let (family, actor) = (permit.family(), permit.principal());
        let id = family.to_string();
        self.stop_indexing(family).await;
        let mut tx = self.write_tx().await?;
        let destroyed = sqlx::query("UPDATE families SET wrapped_key = $1, version = version + 1 WHERE id = $2")
            .bind(Vec::<u8>::new())
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        if destroyed.rows_affected() == 0 {
            return Err(Error::FamilyNotFound(family));
        }
        for statement in [
            "DELETE FROM api_sessions WHERE family_id = $1",
            "DELETE FROM api_continuations WHERE family_id = $1",
            "DELETE FROM api_tokens WHERE family_id = $1",
            "DELETE FROM invitations WHERE family_id = $1",
            "DELETE FROM member_logins WHERE family_id = $1",
            "DELETE FROM member_identities WHERE family_id = $1",
            "DELETE FROM notification_settings WHERE family_id = $1",
            "DELETE FROM notifications WHERE family_id = $1",
            "DELETE FROM record_keys WHERE family_id = $1",
            "DELETE FROM records WHERE family_id = $1",
            "DELETE FROM collections WHERE family_id = $1",
            "DELETE FROM grants WHERE family_id = $1",
            "DELETE FROM prohibitions WHERE family_id = $1",
            "DELETE FROM search_files WHERE family_id = $1",
            "DELETE FROM search_writers WHERE family_id = $1",
            "DELETE FROM sealed_mailbox WHERE family_id = $1",
            "DELETE FROM sealed_groups WHERE family_id = $1",
            "DELETE FROM members WHERE family_id = $1",
            "DELETE FROM families WHERE id = $1",
        ] {
            sqlx::query(statement).bind(&id).execute(&mut *tx).await?;
        }
        let draft = ReceiptDraft::new(family, cartable_consent::ledger::EventType::Erasure, actor, OffsetDateTime::now_utc());
        crate::ledger::append(&mut tx, self.inner.backend, draft).await?;
        tx.commit().await?;
        self.forget(family);
        self.inner.blobs.delete_family(family).await?;
        Ok(())
    }

    fn forget(&self, family: FamilyId) {
        self.inner.family_keys.lock().expect("key cache lock").remove(&family);
        self.inner.policies.lock().expect("policy cache lock").remove(&family);
        self.inner.search.forget(family);
    }

    /// Blobs of families that are gone (a crash between erasure and blob removal): remove them. The store is
    /// listed by family (one folder or key prefix each), on either store.
    /// Removes what a crash left in the blob store: the blobs of a family whose erasure was cut short, and the blobs
    /// of existing families that no row names (an upload cut short between its blob and its row, an update's old
    /// version not yet removed), once older than `grace`.
    async fn remove_orphan_blobs(&self, grace: std::time::Duration) -> Result<()> {
        for family in self.inner.blobs.families().await? {
            if !self.family_exists(family).await? {
                // A family being imported has its files before its row.
                if self.import_under_way(family).await? {
                    continue;
                }
                sqlx::query("DELETE FROM family_imports WHERE family_id = $1").bind(family.to_string()).execute(self.pool()).await?;
                tracing::info!(%family, "removing the blobs of an erased family or of an import cut short");
                self.inner.blobs.delete_family(family).await?;
                continue;
            }
            // Listed before the rows are read: a blob whose row commits in between is then seen with its row.
            let listed = self.inner.blobs.list_family(family).await?;
            let mut named: std::collections::HashSet<String> = sqlx::query("SELECT blob_key FROM records WHERE family_id = $1 AND blob_key IS NOT NULL")
                .bind(family.to_string())
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect();
            named.extend(crate::search::index_blobs(self, family).await?);
            let now = OffsetDateTime::now_utc();
            let mut removed = 0;
            for (name, written) in listed {
                if !named.contains(&name) && now - written >= grace {
                    self.inner.blobs.remove_unnamed(family, &name).await;
                    removed += 1;
                }
            }
            if removed > 0 {
                tracing::info!(%family, removed, "removed blobs that no row names");
            }
        }
        Ok(())
    }

    pub(crate) async fn family_key(&self, family: FamilyId) -> Result<Arc<FamilyKey>> {
        if let Some(key) = self.inner.family_keys.lock().expect("key cache lock").get(&family) {
            return Ok(key.clone());
        }
        let row = sqlx::query("SELECT wrapped_key, data_key_enc FROM families WHERE id = $1")
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            self.forget(family);
            return Err(Error::FamilyNotFound(family));
        };
        let wrapped: Vec<u8> = row.get(0);
        if wrapped.is_empty() {
            self.forget(family);
            return Err(Error::FamilyNotFound(family));
        }
        let master = self.master();
        let identity = match master.unwrap(&wrapped) {
            Ok(identity) => identity,
            Err(e) => {
                // Another process may have rotated the master key since this one loaded it: follow the recipient
                // the database names, and try again with its key.
                let recorded = self.recorded_recipient().await?;
                if recorded == master.recipient_string() {
                    return Err(e);
                }
                self.master_named(&recorded)?.unwrap(&wrapped)?
            }
        };
        // Only the one-time upgrade gives a family of the earlier format its data key.
        let wrapped_data: Vec<u8> = row.get::<Option<Vec<u8>>, _>(1).ok_or_else(|| integrity(family, format!("data key of family `{family}`")))?;
        let data = identity.unwrap_data_key(family, &wrapped_data)?;
        let key = Arc::new(FamilyKey::new(identity, data));
        self.inner.family_keys.lock().expect("key cache lock").insert(family, key.clone());
        Ok(key)
    }

    async fn recorded_recipient(&self) -> Result<String> {
        Ok(sqlx::query("SELECT value FROM meta WHERE key = $1").bind(MASTER_RECIPIENT).fetch_one(self.pool()).await?.get(0))
    }

    /// The master key whose recipient the database names (`recorded`): the one in memory, else the key file
    /// reloaded, else the pending file of a rotation another process has committed but not yet renamed (used as
    /// it is: the rotating process, or the next start, renames it).
    fn master_named(&self, recorded: &str) -> Result<Arc<MasterKey>> {
        let current = self.master();
        if current.recipient_string() == recorded {
            return Ok(current);
        }
        let path = &self.inner.master_path;
        // Twice: the rotating process may rename the pending file between our two reads.
        for _ in 0..2 {
            for candidate in [path.clone(), pending_path(path)] {
                if let Ok(key) = MasterKey::load(&candidate)
                    && key.recipient_string() == recorded
                {
                    let key = Arc::new(key);
                    *self.inner.master.lock().expect("master key lock") = key.clone();
                    tracing::info!("the master key was rotated by another process; now using the new one");
                    return Ok(key);
                }
            }
        }
        Err(Error::Key("the master key file does not match this vault".to_owned()))
    }

    // --- members --------------------------------------------------------------------------------------------

    /// Adds a guardian or a child; a child needs a birth date, which is stored encrypted. The permit must be for
    /// managing the family.
    pub async fn add_member(&self, permit: &crate::Permit, role: Role, name: &str, birth_date: Option<Date>) -> Result<MemberId> {
        permit.require_family_management()?;
        let key = self.family_key(permit.family()).await?;
        let mut tx = self.write_tx().await?;
        let id = insert_member(&mut tx, &key, permit.family(), role, name, birth_date, None).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The family's members with their names; the permit must cover the family. A child (who reads their family
    /// from the age of digital consent, `base.child-family`) sees every member's name and role and their own birth
    /// date, not the others'.
    pub async fn list_members(&self, permit: &crate::Permit) -> Result<Vec<MemberInfo>> {
        if !matches!(permit.resource(), Resource::Family) {
            return Err(Error::PermitMismatch("family"));
        }
        let family = permit.family();
        let key = self.family_key(family).await?;
        let rows = sqlx::query("SELECT id, role, name_enc FROM members WHERE family_id = $1 ORDER BY id")
            .bind(family.to_string())
            .fetch_all(self.pool())
            .await?;
        let members = self.members(family).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let (member, role): (String, String) = (row.get(0), row.get(1));
            let id: MemberId = parse_id(&member)?;
            let place = Place { family, field: Field::MemberName { member: &member, role: &role } };
            let name = String::from_utf8(key.open(&place, &row.get::<Vec<u8>, _>(2))?.to_vec()).map_err(|_| Error::Decrypt)?;
            let m = members.iter().find(|m| m.id == id).ok_or(Error::MemberNotFound(id))?;
            out.push(MemberInfo { id, role: m.role, name, birth_date: m.birth_date });
        }
        let viewer = match permit.principal() {
            Principal::Member(viewer) => members.iter().find(|m| m.id == viewer),
            _ => None,
        };
        if let Some(child) = viewer.filter(|v| v.role == Role::Child) {
            for other in out.iter_mut().filter(|m| m.id != child.id) {
                other.birth_date = None;
            }
        }
        Ok(out)
    }

    /// The members as the rules see them (ids, roles, birth dates), decrypted. Each member's name is opened too,
    /// as the proof of its role (a name and a birth date are bound to the member's id and role): a role edited in
    /// the database fails here, before any decision is made with it.
    pub(crate) async fn members(&self, family: FamilyId) -> Result<Vec<Member>> {
        let key = self.family_key(family).await?;
        let rows = sqlx::query("SELECT id, role, birth_date_enc, name_enc FROM members WHERE family_id = $1")
            .bind(family.to_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                let (member, role_s): (String, String) = (row.get(0), row.get(1));
                let role: Role = role_s.parse().map_err(|_| integrity(family, format!("name of member `{member}`")))?;
                key.open(&Place { family, field: Field::MemberName { member: &member, role: &role_s } }, &row.get::<Vec<u8>, _>(3))?;
                let birth_date = match row.get::<Option<Vec<u8>>, _>(2) {
                    // Every child is added with a birth date (the age rules need it): one gone was removed.
                    None if role == Role::Child => return Err(integrity(family, format!("birth date of member `{member}`"))),
                    None => None,
                    Some(enc) => {
                        let text = key.open(&Place { family, field: Field::MemberBirthDate { member: &member, role: &role_s } }, &enc)?;
                        let text = std::str::from_utf8(&text).map_err(|_| Error::Decrypt)?;
                        Some(Date::parse(text, &time::format_description::well_known::Iso8601::DATE).map_err(|_| Error::Decrypt)?)
                    }
                };
                Ok(Member { id: parse_id(&member)?, family, role, birth_date })
            })
            .collect()
    }

    pub(crate) async fn member(&self, family: FamilyId, id: MemberId) -> Result<Member> {
        self.members(family).await?.into_iter().find(|m| m.id == id).ok_or(Error::MemberNotFound(id))
    }

    pub(crate) async fn child(&self, family: FamilyId, id: MemberId) -> Result<Member> {
        child_among(&self.members(family).await?, id)
    }

    /// Sets a member's password hash (computed by the caller, e.g. argon2id) and ends all the member's sessions,
    /// in one transaction: whoever signed in with the old password is signed out. The permit must be for managing
    /// the family.
    pub async fn set_password_hash(&self, permit: &crate::Permit, member: MemberId, hash: &str) -> Result<()> {
        permit.require_family_management()?;
        self.store_password(permit.family(), member, hash, None).await
    }

    /// Stores a member's password hash and, in the same transaction, ends their sessions but `keep` (the hash of
    /// the session making the change, if it is theirs).
    pub(crate) async fn store_password(&self, family: FamilyId, member: MemberId, hash: &str, keep: Option<&str>) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE members SET password_hash = $1 WHERE id = $2 AND family_id = $3")
            .bind(hash)
            .bind(member.to_string())
            .bind(family.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::MemberNotFound(member));
        }
        sqlx::query("DELETE FROM api_sessions WHERE member_id = $1 AND family_id = $2 AND ($3 IS NULL OR token_hash <> $3)")
            .bind(member.to_string())
            .bind(family.to_string())
            .bind(keep)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn password_hash(&self, member: MemberId) -> Result<Option<(FamilyId, String)>> {
        let row = sqlx::query("SELECT family_id, password_hash FROM members WHERE id = $1")
            .bind(member.to_string())
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(row) => match row.get::<Option<String>, _>(1) {
                Some(hash) => Some((parse_id(&row.get::<String, _>(0))?, hash)),
                None => None,
            },
            None => None,
        })
    }

    // --- authorization --------------------------------------------------------------------------------------

    /// Decides a request now, with Cedar, and appends the decision to the family's ledger before returning it.
    pub async fn authorize(&self, family: FamilyId, principal: Principal, action: Action, resource: Resource) -> Result<Decision> {
        // Always now: a permit is never dated out of its time (decisions at other instants are `explain`'s).
        let request = AccessRequest { principal, action, resource, now: OffsetDateTime::now_utc() };
        self.decide_and_log(family, request, |authorizer, compiled, request| authorizer.authorize(compiled, request)).await
    }

    /// The one decide-and-log loop: decides with the policies in memory, and has the appender log the decision only
    /// if they are still the family's policies when it commits (see `ledger/queue.rs`), else decides again with the
    /// current ones. The permit of an allowed decision is made only once its entry has committed.
    pub(crate) async fn decide_and_log(
        &self,
        family: FamilyId,
        request: AccessRequest,
        decide: impl Fn(&Authorizer, &cartable_consent::CompiledFamily, &AccessRequest) -> cartable_consent::Decision,
    ) -> Result<Decision> {
        let mut rules = match self.cached_rules(family) {
            Some(rules) => rules,
            None => self.rules(family).await?,
        };
        for _ in 0..DECISION_ATTEMPTS {
            let decision = decide(&self.inner.authorizer, &rules.compiled, &request);
            let event = if decision.is_allowed() {
                cartable_consent::ledger::EventType::AccessAllowed
            } else {
                cartable_consent::ledger::EventType::AccessDenied
            };
            let draft = ReceiptDraft::new(family, event, request.principal, request.now)
                .access(request.action, request.resource)
                .actor_role(rules.role_of(request.principal))
                .reasons(decision.reasons());
            // Committed (with the decisions of concurrent requests) before the decision is returned.
            let appended = self.inner.appender.append_decision(family, rules.version, draft).await.inspect_err(|e| {
                if matches!(e, Error::FamilyNotFound(_)) {
                    self.forget(family);
                }
            })?;
            match appended {
                crate::ledger::Appended::At(_) => return Ok(Decision::logged(decision)),
                crate::ledger::Appended::Stale => rules = self.rules(family).await?,
            }
        }
        Err(Error::Contended("the family's policies kept changing while deciding"))
    }

    /// Decides without logging: for `access check`, which explains a decision and reads no data. The explanation
    /// cannot be turned into a permit.
    pub async fn explain(&self, family: FamilyId, request: &AccessRequest) -> Result<cartable_consent::Decision> {
        let rules = self.rules(family).await?;
        Ok(self.inner.authorizer.authorize(&rules.compiled, request))
    }

    /// The Cedar text in force for a family, as much of it as the permit's principal sees of the register (the base
    /// policies, and the grants and prohibitions [`Vault::list_grants`] and [`Vault::forbids`] show them); the permit
    /// must be for reading the register.
    pub async fn policy_text(&self, permit: &crate::Permit) -> Result<String> {
        permit.require_register()?;
        let rules = self.rules(permit.family()).await?;
        match self.register_view(permit).await? {
            crate::ledger::RegisterView::All => Ok(rules.compiled.policy_text()),
            // Narrowed as the register is: the grants and prohibitions this viewer is shown.
            _ => {
                let forbids = self.forbids(permit).await?;
                let grants: Vec<_> = self.list_grants(permit).await?.into_iter().map(|g| g.id).collect();
                Ok(rules.compiled.policy_text_shown(&forbids, &grants))
            }
        }
    }

    /// The operator's permit for one access: decided by the family's rules for `Principal::Operator` and logged like
    /// every decision. The command line acts through it.
    pub async fn as_operator(&self, family: FamilyId, action: Action, resource: Resource) -> Result<crate::Permit> {
        Ok(self.authorize(family, Principal::Operator, action, resource).await?.into_permit()?)
    }

    /// The operator's permit to read a family's register, also after the family's erasure. The ledger outlives
    /// the family, but its erasure is its last entry: nothing may be appended after it, so reading an erased
    /// family's register is the one access that is not logged (there are no rules left to decide it either).
    pub async fn operator_register(&self, family: FamilyId) -> Result<crate::Permit> {
        match self.as_operator(family, Action::List, Resource::Register).await {
            Err(Error::FamilyNotFound(_)) if self.ledger_size(family).await.is_ok() => {
                Ok(crate::Permit::unlogged_register_of_erased(family))
            }
            other => other,
        }
    }

    /// The family's compiled policies as last seen, without asking the database whether they are still current:
    /// only for decisions whose append checks the version (`ledger/queue.rs`).
    pub(crate) fn cached_rules(&self, family: FamilyId) -> Option<FamilyRules> {
        self.inner.policies.lock().expect("policy cache lock").get(&family).cloned()
    }

    /// The family's compiled policies, rebuilt whenever the family's version moved (any process may move it).
    pub(crate) async fn rules(&self, family: FamilyId) -> Result<FamilyRules> {
        let Some(row) = sqlx::query("SELECT version FROM families WHERE id = $1").bind(family.to_string()).fetch_optional(self.pool()).await? else {
            // Erased, perhaps by another process: nothing of it stays in memory.
            self.forget(family);
            return Err(Error::FamilyNotFound(family));
        };
        let version: i64 = row.get(0);
        if let Some(cached) = self.inner.policies.lock().expect("policy cache lock").get(&family)
            && cached.version == version
        {
            return Ok(cached.clone());
        }
        // Read the snapshot and the version again together so a change in between is not cached as current.
        let members = self.members(family).await?;
        let snapshot = FamilySnapshot {
            family,
            members: members.clone(),
            grants: self.grants_in_force(family).await?,
            forbids: self.forbids_of(family).await?,
        };
        let compiled = Arc::new(
            self.inner
                .authorizer
                .compile(&snapshot)
                .map_err(|e| Error::InvalidInput(format!("the family's policies do not validate: {e}")))?,
        );
        let version_after: i64 = sqlx::query("SELECT version FROM families WHERE id = $1")
            .bind(family.to_string())
            .fetch_one(self.pool())
            .await?
            .get(0);
        let rules = FamilyRules { version, compiled, members: Arc::new(members) };
        if version_after == version {
            self.inner.policies.lock().expect("policy cache lock").insert(family, rules.clone());
        }
        Ok(rules)
    }

    // --- keys -----------------------------------------------------------------------------------------------

    /// Re-wraps every family key under a new master identity, without re-encrypting any data, then replaces
    /// the key file. The old identity is destroyed: backups taken before now need it, and that is the point of
    /// crypto-shredding. Returns the number of family keys re-wrapped.
    pub async fn rotate_master_key(&self) -> Result<usize> {
        let new = MasterKey::generate();
        let pending = pending_path(&self.inner.master_path);
        new.save(&pending)?;
        let count = self.rewrap_family_keys(&new).await?;
        // INVARIANT: the database now names the new recipient; the pending file becomes the key file. If we crash
        // before the rename, `open` finishes it; a process starting meanwhile may have finished it already.
        if let Err(e) = std::fs::rename(&pending, &self.inner.master_path) {
            let finished = MasterKey::load(&self.inner.master_path).is_ok_and(|k| k.recipient_string() == new.recipient_string());
            if !finished {
                return Err(e.into());
            }
        }
        *self.inner.master.lock().expect("master key lock") = Arc::new(new);
        Ok(count)
    }

    /// Re-wraps every family key to `new` and records its recipient, in one transaction.
    async fn rewrap_family_keys(&self, new: &MasterKey) -> Result<usize> {
        let mut tx = self.write_tx().await?;
        // Taking the meta row first serializes rotations and family creations; the key it names may be newer than
        // the one in memory (a rotation by another process).
        let lock = match self.inner.backend {
            Backend::Sqlite => "SELECT value FROM meta WHERE key = $1",
            Backend::Postgres => "SELECT value FROM meta WHERE key = $1 FOR UPDATE",
        };
        let recorded: String = sqlx::query(lock).bind(MASTER_RECIPIENT).fetch_one(&mut *tx).await?.get(0);
        let old = self.master_named(&recorded)?;
        sqlx::query("UPDATE meta SET value = $1 WHERE key = $2")
            .bind(new.recipient_string())
            .bind(MASTER_RECIPIENT)
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query("SELECT id, wrapped_key FROM families").fetch_all(&mut *tx).await?;
        let mut count = 0;
        for row in rows {
            let id: String = row.get(0);
            let wrapped: Vec<u8> = row.get(1);
            if wrapped.is_empty() {
                continue;
            }
            let identity = old.unwrap(&wrapped)?;
            sqlx::query("UPDATE families SET wrapped_key = $1 WHERE id = $2")
                .bind(new.wrap(&identity)?)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            count += 1;
        }
        tx.commit().await?;
        Ok(count)
    }
}

fn pending_path(master: &std::path::Path) -> PathBuf {
    let mut p = master.as_os_str().to_owned();
    p.push(".new");
    PathBuf::from(p)
}

/// The master key the database names: the key file's, or that of a rotation interrupted before its rename
/// (which is then finished).
/// The master key: created with the vault on its first start, afterwards the one the database names (or the pending
/// key of a rotation committed but not yet renamed).
async fn open_master(pool: &AnyPool, config: &VaultConfig) -> Result<MasterKey, OpenError> {
    let master_path = config.master_key_path();
    let recorded: Option<String> = sqlx::query("SELECT value FROM meta WHERE key = $1")
        .bind(MASTER_RECIPIENT)
        .fetch_optional(pool)
        .await
        .map_err(|e| OpenError::Database(e.into()))?
        .map(|row| row.get::<String, _>(0));
    if recorded.is_none() {
        let master = if master_path.exists() { MasterKey::load(&master_path).map_err(OpenError::Keys)? } else {
            let key = MasterKey::generate();
            key.save(&master_path).map_err(OpenError::Keys)?;
            key
        };
        // Two processes may race to initialise: the first recorded recipient wins.
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(MASTER_RECIPIENT)
            .bind(master.recipient_string())
            .execute(pool)
            .await
            .map_err(|e| OpenError::Database(e.into()))?;
    }
    let key = MasterKey::load(&master_path).map_err(OpenError::Keys)?;
    check_master(pool, key, &master_path).await.map_err(|e| match e {
        Error::Database(_) => OpenError::Database(e),
        e => OpenError::Keys(e),
    })
}

async fn check_master(pool: &AnyPool, key: MasterKey, path: &std::path::Path) -> Result<MasterKey> {
    let recorded: String = sqlx::query("SELECT value FROM meta WHERE key = $1")
        .bind(MASTER_RECIPIENT)
        .fetch_one(pool)
        .await?
        .get(0);
    let pending = pending_path(path);
    if recorded == key.recipient_string() {
        // A pending key the database does not name is left alone: it may be a rotation another process is
        // running right now, whose rename would fail without it. The next rotation overwrites it.
        return Ok(key);
    }
    if let Ok(candidate) = MasterKey::load(&pending)
        && candidate.recipient_string() == recorded
    {
        std::fs::rename(&pending, path)?;
        return Ok(candidate);
    }
    Err(Error::Key("the master key file does not match this vault (check `master_key_file`)".to_owned()))
}

pub(crate) async fn bump_version(tx: &mut sqlx::Transaction<'_, sqlx::Any>, family: FamilyId) -> Result<()> {
    let done = sqlx::query("UPDATE families SET version = version + 1 WHERE id = $1")
        .bind(family.to_string())
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::FamilyNotFound(family));
    }
    Ok(())
}

pub(crate) fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T> {
    s.parse().map_err(|_| Error::Corrupt("an id"))
}

/// A new family's keys: its identity and data key, and the data key wrapped to the identity with the family's id.
pub(crate) fn new_family_key(id: FamilyId) -> Result<(FamilyKey, Vec<u8>)> {
    let identity = FamilyIdentity::generate();
    let (data, data_bytes) = DataKey::generate();
    let data_key_enc = identity.wrap_data_key(id, &data_bytes)?;
    drop(data_bytes);
    Ok((FamilyKey::new(identity, data), data_key_enc))
}

/// Inserts a member's row (name and birth date sealed at their place, and a password hash when given) inside `tx`,
/// under the id given; the caller moves the family's version when the family's rules change by it.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_member_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    key: &FamilyKey,
    family: FamilyId,
    id: MemberId,
    role: Role,
    name: &str,
    birth_date: Option<Date>,
    password_hash: Option<&str>,
) -> Result<()> {
    let name = validate_name(name)?;
    match (role, birth_date) {
        (Role::Child, None) => return Err(Error::InvalidInput("a child needs a birth date".to_owned())),
        (_, Some(d)) if d > OffsetDateTime::now_utc().date() => {
            return Err(Error::InvalidInput("a birth date cannot be in the future".to_owned()));
        }
        _ => {}
    }
    let (member, role_s) = (id.to_string(), role.as_str());
    let name_enc = key.seal(&Place { family, field: Field::MemberName { member: &member, role: role_s } }, name.as_bytes())?;
    let birth_enc = birth_date
        .map(|d| key.seal(&Place { family, field: Field::MemberBirthDate { member: &member, role: role_s } }, d.to_string().as_bytes()))
        .transpose()?;
    sqlx::query("INSERT INTO members (id, family_id, role, name_enc, birth_date_enc, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(member)
        .bind(family.to_string())
        .bind(role_s)
        .bind(name_enc)
        .bind(birth_enc)
        .bind(password_hash)
        .bind(to_millis(OffsetDateTime::now_utc()))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(crate) fn validate_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::InvalidInput("a name cannot be empty".to_owned()));
    }
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::InvalidInput("a name must be at most 200 characters, without control characters".to_owned()));
    }
    crate::text::refuse_format_characters(name, "a name")?;
    Ok(name)
}

/// Inserts a member (name and birth date sealed at their place, and a password hash when given) inside the
/// caller's transaction, bumping the family's version. The caller holds a permit to manage the family, and
/// read the family's `key` before its transaction (a read of the pool inside it could wait on itself).
pub(crate) async fn insert_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    key: &FamilyKey,
    family: FamilyId,
    role: Role,
    name: &str,
    birth_date: Option<Date>,
    password_hash: Option<&str>,
) -> Result<MemberId> {
    let id = MemberId::new();
    bump_version(tx, family).await?;
    insert_member_row(tx, key, family, id, role, name, birth_date, password_hash).await?;
    Ok(id)
}

/// The child `id` among a family's `members` (read by the caller, e.g. before a write transaction).
pub(crate) fn child_among(members: &[Member], id: MemberId) -> Result<Member> {
    let m = members.iter().find(|m| m.id == id).ok_or(Error::MemberNotFound(id))?;
    if m.role != Role::Child {
        return Err(Error::NotAChild(id));
    }
    Ok(m.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn vault_with_family(dir: &std::path::Path) -> (VaultConfig, FamilyId) {
        let config = VaultConfig::embedded(dir.join("data"));
        let vault = Vault::open(config.clone()).await.unwrap();
        (config, vault.create_family("Rotation").await.unwrap())
    }

    async fn family_name(config: &VaultConfig, family: FamilyId) -> String {
        let vault = Vault::open(config.clone()).await.unwrap();
        let permit = vault.authorize(family, Principal::Operator, Action::Read, Resource::Family).await.unwrap().into_permit().unwrap();
        vault.family_name(&permit).await.unwrap()
    }

    #[tokio::test]
    async fn opening_says_what_is_wrong_by_kind_and_names_no_path() {
        let dir = tempfile::tempdir().unwrap();
        let (config, _) = vault_with_family(dir.path()).await;
        let key_path = config.master_key_path();
        let say = |e: &OpenError| {
            let text = e.to_string();
            assert!(!text.contains(&*dir.path().to_string_lossy()), "a path in `{text}`");
            text
        };
        // Another master key than the vault's.
        let kept = std::fs::read(&key_path).unwrap();
        MasterKey::generate().save(&key_path).unwrap();
        let e = Vault::open(config.clone()).await.expect_err("a different key is refused");
        assert!(matches!(e, OpenError::Keys(_)) && say(&e).contains("does not match"), "{e:?}");
        // No master key at all: never a silent new one.
        std::fs::remove_file(&key_path).unwrap();
        let e = Vault::open(config.clone()).await.expect_err("a missing key is refused");
        assert!(matches!(e, OpenError::Keys(_)) && say(&e).contains("missing"), "{e:?}");
        std::fs::write(&key_path, &kept).unwrap();
        Vault::open(config.clone()).await.expect("the vault's own key opens it again");
        // A database that cannot be reached.
        let mut unreachable = config.clone();
        unreachable.database_url = Some("postgres://nobody@127.0.0.1:1/none".to_owned());
        let e = Vault::open(unreachable).await.expect_err("no database");
        assert!(matches!(e, OpenError::Database(_)), "{e:?}");
        say(&e);
    }

    #[tokio::test]
    async fn a_rotation_that_crashed_after_its_commit_is_finished_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let (config, family) = vault_with_family(dir.path()).await;
        let vault = Vault::open(config.clone()).await.unwrap();
        // What `rotate_master_key` does, up to the crash: the new key saved aside, the database committed.
        let new = MasterKey::generate();
        new.save(&pending_path(&config.master_key_path())).unwrap();
        vault.rewrap_family_keys(&new).await.unwrap();
        drop(vault);
        assert_eq!(family_name(&config, family).await, "Rotation");
        assert_eq!(MasterKey::load(&config.master_key_path()).unwrap().recipient_string(), new.recipient_string());
        assert!(!pending_path(&config.master_key_path()).exists());
    }

    async fn operator_read(vault: &Vault, family: FamilyId) -> Result<crate::Permit> {
        Ok(vault.authorize(family, Principal::Operator, Action::Read, Resource::Family).await?.into_permit()?)
    }

    #[tokio::test]
    async fn a_running_vault_follows_a_rotation_made_by_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let config = VaultConfig::embedded(dir.path().join("data"));
        let a = Vault::open(config.clone()).await.unwrap();
        let b = Vault::open(config.clone()).await.unwrap();
        // A family A has never read, then a rotation by B.
        let family = b.create_family("Rotation").await.unwrap();
        assert_eq!(b.rotate_master_key().await.unwrap(), 1);
        let permit = operator_read(&a, family).await.unwrap();
        assert_eq!(a.family_name(&permit).await.unwrap(), "Rotation");
        // A now wraps new families to the new key: B reads them.
        let made_by_a = a.create_family("Après").await.unwrap();
        let permit = operator_read(&b, made_by_a).await.unwrap();
        assert_eq!(b.family_name(&permit).await.unwrap(), "Après");

        // A rotation committed but not yet renamed into the key file: A uses the pending key, and leaves the
        // rename to the rotating process (or the next start).
        let pending = MasterKey::generate();
        pending.save(&pending_path(&config.master_key_path())).unwrap();
        b.rewrap_family_keys(&pending).await.unwrap();
        let made_by_b = b.create_family("Pendant").await.unwrap();
        let permit = operator_read(&a, made_by_b).await.unwrap();
        assert_eq!(a.family_name(&permit).await.unwrap(), "Pendant");
        assert_eq!(a.master().recipient_string(), pending.recipient_string());
        assert!(pending_path(&config.master_key_path()).exists());
    }

    #[tokio::test]
    async fn a_family_erased_by_another_process_leaves_no_key_or_policy_in_a_running_vault() {
        let dir = tempfile::tempdir().unwrap();
        let config = VaultConfig::embedded(dir.path().join("data"));
        let a = Vault::open(config.clone()).await.unwrap();
        let b = Vault::open(config.clone()).await.unwrap();
        let cached = |v: &Vault, f: FamilyId| {
            (v.inner.family_keys.lock().unwrap().contains_key(&f), v.inner.policies.lock().unwrap().contains_key(&f))
        };
        let erased = a.create_family("Effacée").await.unwrap();
        let kept = a.create_family("Gardée").await.unwrap();
        for family in [erased, kept] {
            a.family_name(&operator_read(&a, family).await.unwrap()).await.unwrap();
            assert_eq!(cached(&a, family), (true, true));
        }
        b.delete_family(&b.as_operator(erased, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap()).await.unwrap();
        // The periodic sweep, run by hand (the task may have run it already): the erased family is gone from A's
        // memory, the other stays.
        assert!(a.evict_erased().await.unwrap() <= 1);
        assert_eq!(cached(&a, erased), (false, false));
        assert_eq!(cached(&a, kept), (true, true));

        // Between sweeps, asking for the rules of a family that is gone evicts it too.
        let also_erased = a.create_family("Aussi effacée").await.unwrap();
        a.family_name(&operator_read(&a, also_erased).await.unwrap()).await.unwrap();
        b.delete_family(&b.as_operator(also_erased, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap()).await.unwrap();
        assert!(matches!(a.rules(also_erased).await, Err(Error::FamilyNotFound(_))));
        assert_eq!(cached(&a, also_erased), (false, false));
    }

    /// Every folder 0700 and every file 0600 under `dir`; returns how many files were checked.
    #[cfg(unix)]
    fn assert_private(dir: &std::path::Path) -> usize {
        use std::os::unix::fs::PermissionsExt as _;
        let mut files = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            let name = entry.path().strip_prefix(dir).unwrap().display().to_string();
            if meta.is_dir() {
                assert_eq!(mode, 0o700, "folder {name} is {mode:o}");
                files += assert_private(&entry.path());
            } else {
                assert!(meta.is_file(), "{name} is neither a file nor a folder");
                assert_eq!(mode, 0o600, "file {name} is {mode:o}");
                files += 1;
            }
        }
        files
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_data_folder_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // Folders made earlier with looser modes (an older version, a careless `mkdir`) are tightened.
        std::fs::create_dir_all(data.join("blobs")).unwrap();
        for folder in [&data, &data.join("blobs")] {
            std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let vault = Vault::open(VaultConfig::embedded(data.clone())).await.unwrap();
        let family = vault.create_family("Droits").await.unwrap();
        let child = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, "Léa", Some(time::macros::date!(2014 - 05 - 02))).await.unwrap();
        let guardian = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Guardian, "Claire", None).await.unwrap();
        let manage = vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap();
        vault.set_password_hash(&manage, guardian, "$argon2id$not-a-real-hash").await.unwrap();
        let collection = |doctype| Resource::Collection { child, doctype };
        let write = |doctype| vault.authorize(family, Principal::Operator, Action::Write, collection(doctype));
        // A record large enough to go to the blob store, and a file.
        let permit = write(cartable_consent::Doctype::Grades).await.unwrap().into_permit().unwrap();
        let body = serde_json::json!({"comment": "x".repeat(100 * 1024)});
        vault.put_record(&permit, crate::NewRecord { child, doctype: cartable_consent::Doctype::Grades, source: "operator".into(), body }).await.unwrap();
        let permit = write(cartable_consent::Doctype::ReportCards).await.unwrap().into_permit().unwrap();
        let content: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(vec![7u8; 200_000]));
        vault.put_file(&permit, child, cartable_consent::Doctype::ReportCards, "operator".into(), "bulletin.pdf".into(), content).await.unwrap();
        // The database, its WAL and shared memory, both keys and two blobs at least, the vault still open.
        let files = assert_private(&data);
        assert!(files >= 7, "only {files} files were checked");
        assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);

        // Reopened over files left with looser modes: the database files are tightened again.
        drop(vault);
        for name in ["cartable.db", "cartable.db-wal"] {
            let path = data.join(name);
            if path.exists() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
        let _vault = Vault::open(VaultConfig::embedded(data.clone())).await.unwrap();
        assert_private(&data);
    }

    #[tokio::test]
    async fn a_rotation_that_crashed_before_its_commit_leaves_the_old_key_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let (config, family) = vault_with_family(dir.path()).await;
        let old = MasterKey::load(&config.master_key_path()).unwrap().recipient_string();
        MasterKey::generate().save(&pending_path(&config.master_key_path())).unwrap();
        assert_eq!(family_name(&config, family).await, "Rotation");
        assert_eq!(MasterKey::load(&config.master_key_path()).unwrap().recipient_string(), old);
    }
}
