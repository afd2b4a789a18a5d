//! Two `cartable serve` processes on one PostgreSQL database (and one S3 bucket when the test S3 server is up)
//! behave as one:
//!
//! - a service's long poll on server A is woken by a guardian's approval on server B: the servers here look at a
//!   pending request again only every ten minutes, so within the poll's 25 s only B's notification (PostgreSQL
//!   LISTEN/NOTIFY) can wake A;
//! - a service reads through both servers while the guardian revokes through B: no read that starts after the
//!   revocation has answered succeeds, on either server;
//! - both servers append to the family's ledger at once (every read is a logged decision) and `ledger verify`
//!   passes;
//! - a server killed (SIGKILL) while files are uploaded through it loses no acknowledged write: the other server
//!   reads every acknowledged file back whole, the ledger verifies, and the next start leaves no blob without its
//!   row.
//!
//! PostgreSQL only: skipped with a message without `CARTABLE_TEST_DATABASE_URL` (`scripts/test.sh` sets it).

mod api_support;
mod cli_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api_support::{Backend, FamilyFixture, PASSWORD, Server, pg_admin_url, within};
use cartable_sdk::RequestStatus;
use sha2::Digest as _;
use sqlx::Row as _;

/// The servers' environment: a pending request is looked at again only every ten minutes, and the blobs go to a
/// fresh prefix of the test bucket when there is one.
fn environment() -> Vec<(String, String)> {
    let mut env = vec![("CARTABLE_LONG_POLL_RECHECK_MS".to_owned(), "600000".to_owned())];
    if let Ok(endpoint) = std::env::var("CARTABLE_TEST_S3_ENDPOINT") {
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("CARTABLE_TEST_S3_ENDPOINT is set but {name} is not"));
        let bucket = var("CARTABLE_TEST_S3_BUCKET");
        env.extend([
            ("CARTABLE_BLOB_URL".to_owned(), format!("s3://{bucket}/multi-{}", uuid::Uuid::new_v4().simple())),
            ("CARTABLE_S3_ENDPOINT".to_owned(), endpoint),
            ("CARTABLE_S3_REGION".to_owned(), var("CARTABLE_TEST_S3_REGION")),
            ("CARTABLE_S3_ACCESS_KEY_ID".to_owned(), var("CARTABLE_TEST_S3_ACCESS_KEY_ID")),
            ("CARTABLE_S3_SECRET_ACCESS_KEY".to_owned(), var("CARTABLE_TEST_S3_SECRET_ACCESS_KEY")),
        ]);
    }
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_behave_as_one() {
    if pg_admin_url().is_none() {
        eprintln!("multi-server test skipped: CARTABLE_TEST_DATABASE_URL is not set (scripts/test.sh sets it)");
        return;
    }
    within(180, "two servers", story()).await;
}

async fn story() {
    let env = environment();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let a = Server::start_with(Backend::Postgres, &env).await;
    let b = a.start_beside(&env);
    let family = FamilyFixture::create(&a, "Martin", 12, 3);
    let (on_a, on_b) = (a.client(), b.client());

    // The long poll on A, woken by the approval on B.
    let service = on_a.service(on_a.register_service("Tutorat Plus").await.unwrap());
    let pending = service.request_access(&family.request(&["edu.grades"], &["read", "list"])).await.unwrap();
    let polling = {
        let service = service.clone();
        let pending = pending.clone();
        tokio::spawn(async move { service.poll(&pending, Duration::from_secs(25)).await })
    };
    // Let the poll reach A and wait there (if it came late, it would find the approval done: no harm).
    tokio::time::sleep(Duration::from_millis(800)).await;
    let guardian_b = on_b.sign_in(family.guardian, PASSWORD).await.unwrap();
    guardian_b.approve(pending.request_id).await.unwrap();
    // Unwoken, the poll would answer only when its 25 s are up (approved then, by its last look): it must answer
    // well before.
    let answer = tokio::time::timeout(Duration::from_secs(15), polling).await.expect("A's long poll is woken by B's approval").unwrap().unwrap();
    assert_eq!(answer.status, RequestStatus::Approved);
    assert!(answer.access_token.is_some());
    let mut access_a = service.wait_for_approval(&pending, Duration::from_secs(20)).await.unwrap();
    access_a.set_auto_refresh(false);
    let mut access_b = on_b.resume(access_a.state());
    access_b.set_auto_refresh(false);
    access_a.read_record(family.grades[0]).await.expect("the token works on A");
    access_b.read_record(family.grades[0]).await.expect("and on B");

    // Reads through both servers while the guardian revokes on B.
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for (n, access) in [access_a, access_b].into_iter().enumerate() {
        for record in family.grades.iter().copied() {
            let stop = stop.clone();
            let access = access.clone();
            readers.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let ok = access.read_record(record).await.is_ok();
                    seen.push((started, ok, n));
                }
                seen
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    guardian_b.revoke(pending.request_id).await.unwrap();
    let revoked = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut reads = Vec::new();
    for reader in readers {
        reads.extend(reader.await.unwrap());
    }
    let before = reads.iter().filter(|(started, ok, _)| *started < revoked && *ok).count();
    let after: Vec<_> = reads.iter().filter(|(started, _, _)| *started > revoked).collect();
    assert!(before > 10, "reads succeeded before the revocation ({before})");
    assert!(after.iter().filter(|(_, _, n)| *n == 0).count() > 0 && after.iter().filter(|(_, _, n)| *n == 1).count() > 0, "reads ran after it on both servers");
    let leaked: Vec<_> = after.iter().filter(|(_, ok, _)| *ok).collect();
    assert!(leaked.is_empty(), "{} reads that started after the revocation answered succeeded", leaked.len());

    // Both servers appended to the one log, and it is linear: the replay passes and holds every read.
    let verified = a.cli(&["ledger", "verify", "--family", &family.family.to_string()]);
    let size = verified["size"].as_u64().unwrap();
    assert!(size as usize >= reads.len(), "{size} entries for {} reads", reads.len());
    let entries = b.cli(&["ledger", "list", "--family", &family.family.to_string(), "--limit", "10000"]);
    let indexes: Vec<u64> = entries["entries"].as_array().unwrap().iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, (0..indexes.len() as u64).collect::<Vec<_>>(), "no gap, no fork");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_write_loses_no_acknowledged_write() {
    if pg_admin_url().is_none() {
        eprintln!("multi-server kill test skipped: CARTABLE_TEST_DATABASE_URL is not set (scripts/test.sh sets it)");
        return;
    }
    within(240, "a server killed mid-write", killed_mid_write()).await;
}

/// The bytes of the `n`th file: a megabyte and a bit, different for each.
fn file_bytes(n: usize) -> Vec<u8> {
    (0..(1 << 20) + n * 4099).map(|i| ((i * 31 + n * 7) % 251) as u8).collect()
}

async fn killed_mid_write() {
    // The blobs in the data folder here, so that the test can list them as the store holds them.
    let mut a = Server::start(Backend::Postgres).await;
    let b = a.start_beside(&[]);
    let family = FamilyFixture::create(&a, "Martin", 12, 0);
    let through_a = a.client().sign_in(family.guardian, PASSWORD).await.unwrap();
    let through_a = Arc::new(through_a);
    let acknowledged: Arc<Mutex<Vec<(cartable_sdk::RecordId, Vec<u8>)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (session, acknowledged) = (through_a.clone(), acknowledged.clone());
        let child = family.child;
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let n = w * 1000 + i;
                let bytes = file_bytes(n);
                let digest = sha2::Sha256::digest(&bytes).to_vec();
                let body = futures::stream::iter(bytes.chunks(64 * 1024).map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c))).collect::<Vec<_>>());
                match session.upload_file(child, "edu.documents", &format!("bulletin-{n}.pdf"), body).await {
                    Ok(id) => acknowledged.lock().unwrap().push((id, digest)),
                    Err(_) => return,
                }
            }
        }));
    }
    while acknowledged.lock().unwrap().len() < 8 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.kill();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    // B kept serving: every acknowledged file reads back whole.
    let through_b = b.client().sign_in(family.guardian, PASSWORD).await.unwrap();
    for (id, digest) in &acknowledged {
        let mut bytes = Vec::new();
        through_b.download_file(*id).await.unwrap().write_to(&mut bytes).await.unwrap();
        assert_eq!(&sha2::Sha256::digest(&bytes).to_vec(), digest, "file {id} reads back whole through B");
    }
    b.cli(&["ledger", "verify", "--family", &family.family.to_string()]);

    // The next start, with nothing else writing (so no grace is needed), removes the blobs no row names.
    let blobs = |server: &Server| -> Vec<String> {
        let folder = server.data.join("blobs").join(family.family.to_string());
        std::fs::read_dir(folder).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
    };
    // What a kill between an upload's blob and its row leaves (the kill above may or may not have made one): a
    // complete blob under a record id no row has.
    let folder = b.data.join("blobs").join(family.family.to_string());
    let some_blob = blobs(&b).into_iter().next().expect("the uploads' blobs");
    let orphan = uuid::Uuid::now_v7().to_string();
    std::fs::copy(folder.join(&some_blob), folder.join(&orphan)).unwrap();
    let before = blobs(&b);
    assert!(before.contains(&orphan));
    let restarted = b.start_beside(&[("CARTABLE_ORPHAN_BLOB_GRACE", "0")]);
    let db = restarted.database().await;
    // Records' blobs, and the search index's files (named by `search_files`).
    let named: Vec<String> = sqlx::query("SELECT blob_key FROM records WHERE family_id = $1 AND blob_key IS NOT NULL UNION ALL SELECT blob_key FROM search_files WHERE family_id = $1")
        .bind(family.family.to_string())
        .fetch_all(&db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    db.close().await;
    let after = blobs(&restarted);
    let unnamed: Vec<&String> = after.iter().filter(|name| !named.contains(name)).collect();
    assert!(unnamed.is_empty(), "blobs without their row after the next start: {unnamed:?} (before it: {} blobs, {} rows)", before.len(), named.len());
    assert!(named.iter().all(|n| after.contains(n)), "every row's blob is still there");
    assert!(acknowledged.len() >= 8 && named.len() >= acknowledged.len(), "{} rows for {} acknowledged files", named.len(), acknowledged.len());
    eprintln!("{} acknowledged files; {} blobs before the restart, {} after, {} rows", acknowledged.len(), before.len(), after.len(), named.len());
}
