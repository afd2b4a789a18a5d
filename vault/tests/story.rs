//! The storage story: the same scenario on SQLite and, when `CARTABLE_TEST_DATABASE_URL` is set, on PostgreSQL; with
//! the blobs in the data folder and, when `CARTABLE_TEST_S3_ENDPOINT` is set, in an S3 store.

use std::io::{Cursor, Read};

use cartable_consent::{Action, Doctype, FamilyId, Principal, Resource, Role};
use cartable_vault::{Error, NewRecord, RecordFilter, Vault};
use time::macros::date;

mod support;

use support::{Fixture, Leg, LogSink, all_bytes_under, backends, contains, fixture, fixture_on, legs, operator, pg_dump};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storage_story_runs_on_every_backend_and_no_plaintext_reaches_disk_or_logs() {
    let sink = LogSink::default();
    let writer = sink.clone();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish(),
    );
    for leg in legs() {
        story(leg, &sink).await;
    }
}

async fn story(leg: Leg, logs: &LogSink) {
    let fx = fixture_on(leg).await;
    let marker = format!("ZQX{}MARK", uuid::Uuid::new_v4().simple());
    let vault = Vault::open(fx.config.clone()).await.unwrap();

    let family = vault.create_family(&format!("Famille {marker}")).await.unwrap();
    let guardian = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Guardian, &format!("Parent {marker}"), None).await.unwrap();
    let child = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, &format!("Léa {marker}"), Some(date!(2014 - 05 - 02))).await.unwrap();
    let other_family = vault.create_family("Autre famille").await.unwrap();
    let other_child = vault.add_member(&vault.as_operator(other_family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, "Tom", Some(date!(2013 - 01 - 09))).await.unwrap();
    let _ = guardian;

    // Records: small ones inline, a large one in the blob store.
    let grades = Resource::Collection { child, doctype: Doctype::Grades };
    let write = operator(&vault, family, Action::Write, grades).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let body = serde_json::json!({"subject": "mathématiques", "grade": 12 + i, "comment": format!("{marker} très bien")});
        ids.push(vault.put_record(&write, NewRecord { child, doctype: Doctype::Grades, source: "operator".into(), body }).await.unwrap());
    }
    let big_text = format!("{marker} ").repeat(5_000);
    let big = vault
        .put_record(&write, NewRecord { child, doctype: Doctype::Grades, source: "operator".into(), body: serde_json::json!({"notes": big_text}) })
        .await
        .unwrap();

    // A file bigger than one age chunk, streamed in.
    let docs = Resource::Collection { child, doctype: Doctype::Documents };
    let write_docs = operator(&vault, family, Action::Write, docs).await;
    let mut content = Vec::new();
    for i in 0..40_000u32 {
        content.extend_from_slice(format!("{marker} bulletin ligne {i}\n").as_bytes());
    }
    let file_id = vault
        .put_file(&write_docs, child, Doctype::Documents, "operator".into(), format!("bulletin-{marker}.pdf"), Box::new(Cursor::new(content.clone())))
        .await
        .unwrap();

    // Round trips.
    let read = operator(&vault, family, Action::Read, vault.record_resource(family, ids[3]).await.unwrap()).await;
    let doc = vault.get_record(&read).await.unwrap();
    assert_eq!(doc.body["grade"], 15);
    assert_eq!(doc.doctype, Doctype::Grades);
    assert_eq!(doc.child, child);
    let read_big = operator(&vault, family, Action::Read, vault.record_resource(family, big).await.unwrap()).await;
    assert_eq!(vault.get_record(&read_big).await.unwrap().body["notes"].as_str().unwrap().len(), big_text.len());
    let read_file = operator(&vault, family, Action::Read, vault.record_resource(family, file_id).await.unwrap()).await;
    let (info, mut reader) = vault.open_file(&read_file).await.unwrap();
    assert_eq!(info.name, format!("bulletin-{marker}.pdf"));
    assert_eq!(info.size, content.len() as u64);
    let back = tokio::task::spawn_blocking(move || {
        let mut v = Vec::new();
        reader.read_to_end(&mut v).unwrap();
        v
    })
    .await
    .unwrap();
    assert_eq!(back, content);

    // Listing, paginated, filtered by collection.
    let list = operator(&vault, family, Action::List, grades).await;
    let page1 = vault.list_records(&list, &RecordFilter { limit: Some(4), ..Default::default() }).await.unwrap();
    let page2 = vault.list_records(&list, &RecordFilter { limit: Some(100), after: Some(page1[3].id), ..Default::default() }).await.unwrap();
    assert_eq!(page1.len() + page2.len(), 11);
    assert!(page1.iter().chain(&page2).all(|r| r.doctype == Doctype::Grades));

    // Bad input changes nothing.
    let count = |v: Vault| async move {
        let permit = operator(&v, family, Action::List, Resource::Family).await;
        v.list_records(&permit, &RecordFilter { limit: Some(1000), ..Default::default() }).await.unwrap().len()
    };
    let before = count(vault.clone()).await;
    let err = vault
        .put_record(&write, NewRecord { child, doctype: Doctype::Grades, source: "operator".into(), body: serde_json::json!([1, 2]) })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    let err = vault
        .put_record(&write, NewRecord { child, doctype: Doctype::Grades, source: "nobody".into(), body: serde_json::json!({}) })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    // Another family's child: the authorizer refuses, and a permit for one collection does not cover another.
    let decision = vault
        .authorize(family, Principal::Operator, Action::Write, Resource::Collection { child: other_child, doctype: Doctype::Grades })
        .await
        .unwrap();
    assert!(!decision.is_allowed(), "a child of another family must be refused");
    let err = vault
        .put_record(&write, NewRecord { child: other_child, doctype: Doctype::Grades, source: "operator".into(), body: serde_json::json!({}) })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermitMismatch(_)), "{err}");
    assert_eq!(count(vault.clone()).await, before);
    assert!(matches!(vault.record_resource(other_family, ids[0]).await.unwrap_err(), Error::RecordNotFound(_)));
    // A read permit is not a write permit.
    assert!(matches!(
        vault.put_record(&read, NewRecord { child, doctype: Doctype::Grades, source: "operator".into(), body: serde_json::json!({}) }).await.unwrap_err(),
        Error::PermitMismatch(_)
    ));

    // Concurrent writers in one process: every acknowledged write is there.
    let mut tasks = Vec::new();
    for t in 0..8 {
        let vault = vault.clone();
        tasks.push(tokio::spawn(async move {
            let permit = operator(&vault, family, Action::Write, Resource::Collection { child, doctype: Doctype::Homework }).await;
            let mut mine = Vec::new();
            for i in 0..15 {
                let body = serde_json::json!({"task": t, "n": i});
                mine.push(vault.put_record(&permit, NewRecord { child, doctype: Doctype::Homework, source: "operator".into(), body }).await.unwrap());
            }
            mine
        }));
    }
    let mut written = Vec::new();
    for t in tasks {
        written.extend(t.await.unwrap());
    }
    let hw = operator(&vault, family, Action::List, Resource::Collection { child, doctype: Doctype::Homework }).await;
    let listed = vault.list_records(&hw, &RecordFilter { limit: Some(1000), ..Default::default() }).await.unwrap();
    assert_eq!(listed.len(), 120);
    assert!(written.iter().all(|id| listed.iter().any(|r| r.id == *id)));

    // Every access above was decided and logged: the ledger verifies.
    let report = vault.verify_ledger(family).await.unwrap();
    // 20 decisions: 2 members added, 2 + 8 writes, 3 reads, 4 listings, 1 refusal; each is one entry.
    assert_eq!(report.size, 20);

    // No plaintext anywhere: the data folder (database, WAL, blobs, keys), the database dump, the logs.
    let needle = marker.as_bytes();
    for (path, bytes) in all_bytes_under(fx.dir.path()) {
        assert!(!contains(&bytes, needle), "plaintext found in {}", path.display());
    }
    let objects = fx.s3_objects().await;
    assert_eq!(leg.s3, !objects.is_empty(), "the blobs are in the S3 store exactly when it is configured");
    for (key, bytes) in &objects {
        assert!(!contains(bytes, needle) && !contains(key.as_bytes(), needle), "plaintext found in the S3 object {key}");
    }
    if let Some(url) = &fx.config.database_url {
        assert!(!contains(&pg_dump(url), needle), "plaintext found in the PostgreSQL dump");
    }
    assert!(!contains(&logs.0.lock().unwrap(), needle), "plaintext found in the logs");

    // A truncated blob is a clear error, not garbage.
    let stored = fx.blob_bytes(family, &file_id.to_string()).await;
    fx.set_blob_bytes(family, &file_id.to_string(), stored[..stored.len() / 2].to_vec()).await;
    let (_, mut reader) = vault.open_file(&read_file).await.unwrap();
    let truncated = tokio::task::spawn_blocking(move || reader.read_to_end(&mut Vec::new())).await.unwrap();
    assert!(truncated.is_err(), "a truncated blob must fail to read");

    // Crypto-shredding: keep a backup (without the key), erase the family, rotate the master key.
    let backup_wrapped = wrapped_key(&vault, &fx, family).await;
    vault.delete_family(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap()).await.unwrap();
    assert!(!vault.family_exists(family).await.unwrap());
    assert!(!fx.config.data_dir.join("blobs").join(family.to_string()).exists());
    assert!(fx.blob_names(family).await.is_empty(), "erasure removes the family's objects");
    let erased = vault.verify_ledger(family).await.unwrap();
    assert_eq!(erased.size, report.size + 2, "the decision to erase, then the erasure as the last entry");
    let old_key = std::fs::read_to_string(fx.config.master_key_path()).unwrap();
    assert!(age_unwraps(&old_key, &backup_wrapped), "before rotation, the backup is readable with the master key");
    assert_eq!(vault.rotate_master_key().await.unwrap(), 1, "only the other family's key remains");
    let new_key = std::fs::read_to_string(fx.config.master_key_path()).unwrap();
    assert!(!age_unwraps(&new_key, &backup_wrapped), "after rotation, the erased family's backup is unreadable");
    let key_files: Vec<_> = std::fs::read_dir(fx.config.master_key_path().parent().unwrap()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(key_files.len(), 2, "only master.key and ledger.key remain: {key_files:?}");
    // The other family is still readable after rotation, also from a fresh process.
    drop(vault);
    let vault = Vault::open(fx.config.clone()).await.unwrap();
    let permit = operator(&vault, other_family, Action::Read, Resource::Family).await;
    assert_eq!(vault.family_name(&permit).await.unwrap(), "Autre famille");

    // A missing or corrupted master key file is a clear error, never a silent new key.
    let key_path = fx.config.master_key_path();
    let saved = std::fs::read(&key_path).unwrap();
    std::fs::remove_file(&key_path).unwrap();
    let err = Vault::open(fx.config.clone()).await.unwrap_err();
    assert!(err.to_string().contains("is missing"), "{err}");
    std::fs::write(&key_path, b"AGE-SECRET-KEY-1GARBAGE\n").unwrap();
    let err = Vault::open(fx.config.clone()).await.unwrap_err();
    assert!(err.to_string().contains("corrupted"), "{err}");
    let other = cartable_vault::MasterKey::generate();
    other.save(&key_path).unwrap();
    let err = Vault::open(fx.config.clone()).await.unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    std::fs::write(&key_path, saved).unwrap();
    Vault::open(fx.config.clone()).await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(fx.config.data_dir.join("keys/ledger.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

async fn wrapped_key(vault: &Vault, fx: &Fixture, family: FamilyId) -> Vec<u8> {
    let _ = vault;
    let mut conn = fx.sql().await;
    let row: (Vec<u8>,) = sqlx::query_as("SELECT wrapped_key FROM families WHERE id = $1").bind(family.to_string()).fetch_one(&mut conn).await.unwrap();
    row.0
}

fn age_unwraps(key_file: &str, wrapped: &[u8]) -> bool {
    let line = key_file.lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap();
    let identity: age::x25519::Identity = line.parse().unwrap();
    age::decrypt(&identity, wrapped).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_vault_creates_its_master_key_with_mode_0600() {
    let fx = fixture(false).await;
    let _vault = Vault::open(fx.config.clone()).await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(fx.config.master_key_path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(std::fs::read_to_string(fx.config.master_key_path()).unwrap().contains("AGE-SECRET-KEY-1"));
}

/// Sign-in attempts are counted before their password is checked: however many arrive at once, only the allowance
/// reaches the check, and a lock-out is never shortened by a later, shorter one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_counted_before_the_check_and_locks_never_shorten() {
    use cartable_vault::{Attempt, LoginLimits};
    for postgres in backends() {
        let fx = fixture(postgres).await;
        let vault = Vault::open(fx.config.clone()).await.unwrap();
        let now = time::OffsetDateTime::now_utc();
        let limits = LoginLimits { max_failures: 5, window: time::Duration::minutes(15), lock: time::Duration::minutes(15) };
        let attempts: Vec<_> = (0..31)
            .map(|_| {
                let vault = vault.clone();
                tokio::spawn(async move { vault.api().count_attempt("member:burst", now, limits).await.unwrap() })
            })
            .collect();
        let mut proceeded = 0;
        let mut locked_until = None;
        for a in attempts {
            match a.await.unwrap() {
                Attempt::Proceed => proceeded += 1,
                Attempt::Locked(until) => locked_until = Some(until),
            }
        }
        assert_eq!(proceeded, 5, "postgres={postgres}");
        let until = locked_until.expect("the 6th attempt locks");
        // A failure that comes back later, under a shorter lock, keeps the longer one.
        let shorter = LoginLimits { lock: time::Duration::minutes(1), ..limits };
        assert_eq!(vault.api().login_failed("member:burst", now, shorter).await.unwrap(), Some(until));
        assert!(matches!(vault.api().count_attempt("member:burst", now + time::Duration::minutes(2), shorter).await.unwrap(), Attempt::Locked(u) if u == until));
        // A success does not lift it either.
        vault.api().login_succeeded("member:burst").await.unwrap();
        assert!(matches!(vault.api().count_attempt("member:burst", now, limits).await.unwrap(), Attempt::Locked(_)));
        // Once it has passed, the full allowance is back.
        let later = until + time::Duration::seconds(1);
        assert_eq!(vault.api().count_attempt("member:burst", later, limits).await.unwrap(), Attempt::Proceed);
    }
}

/// Prohibitions set before they had a scope became the family's, which stop at majority: a child already adult at
/// the upgrade keeps them as their own, logged, and the ledger still verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_keeps_the_prohibitions_of_children_already_adult() {
    use sqlx::Row as _;
    for postgres in backends() {
        let fx = fixture(postgres).await;
        let vault = Vault::open(fx.config.clone()).await.unwrap();
        let family = vault.create_family("Avant").await.unwrap();
        let manage = vault.as_operator(family, Action::Manage, Resource::Family).await.unwrap();
        let adult = vault.add_member(&manage, Role::Child, "Inès", Some(date!(2000 - 01 - 01))).await.unwrap();
        let _minor = vault.add_member(&manage, Role::Child, "Léo", Some(date!(2016 - 01 - 01))).await.unwrap();
        drop(vault);
        // What migration 0004 leaves of a prohibition set before it, and a database never started since.
        let mut sql = fx.sql().await;
        sqlx::query("INSERT INTO prohibitions (family_id, doctype, scope, created_at) VALUES ($1, 'health.pai', 'minors', 0)").bind(family.to_string()).execute(&mut sql).await.unwrap();
        sqlx::query("DELETE FROM meta WHERE key = 'prohibitions_scoped'").execute(&mut sql).await.unwrap();
        let vault = Vault::open(fx.config.clone()).await.unwrap();
        let scopes: Vec<String> = sqlx::query("SELECT scope FROM prohibitions WHERE family_id = $1 ORDER BY scope")
            .bind(family.to_string())
            .fetch_all(&mut sql)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(scopes, vec![adult.to_string(), "minors".to_owned()], "postgres={postgres}");
        let service = Principal::Service(cartable_consent::ServiceId::new());
        let resource = Resource::Collection { child: adult, doctype: Doctype::HealthPai };
        let request = cartable_consent::AccessRequest { principal: service, action: Action::Read, resource, now: time::OffsetDateTime::now_utc() };
        assert_eq!(vault.explain(family, &request).await.unwrap().reasons(), [format!("forbid.{adult}.health.pai")]);
        // A second start does nothing more.
        drop(vault);
        let vault = Vault::open(fx.config.clone()).await.unwrap();
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM prohibitions WHERE family_id = $1").bind(family.to_string()).fetch_one(&mut sql).await.unwrap().get(0);
        assert_eq!(count, 2);
        drop(vault);
    }
}
