//! Crash safety: the real server under a steady mixed load through the SDK (records and files written, grants
//! asked, approved, used and revoked), killed with SIGKILL at a random instant, restarted on the same vault, and
//! checked after every cycle:
//!
//! - every acknowledged write is there and reads back byte for byte;
//! - every acknowledged approval and revocation has its ledger entry, and no grant is active or revoked without
//!   its entry;
//! - `ledger verify` passes;
//! - blobs and rows agree once the restart has swept (no row without its blob, no blob without its row);
//! - a master-key rotation killed at a random instant (while the server is down) is finished or rolled back at the
//!   next start: the family's data still reads.
//!
//! The default run does `CARTABLE_CRASH_CYCLES` cycles (3) on each backend; `scripts/crash.sh` runs 50 and prints
//! the figures. The random instants come from a seed printed at the start (`CARTABLE_CRASH_SEED` replays one).

mod api_support;
mod cli_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_support::{Backend, FamilyFixture, PASSWORD, Server, all_entries, backends, within};
use cartable_sdk::{GrantId, RecordId, ServiceCredentials};
use serde_json::{Value, json};
use sha2::Digest as _;
use sqlx::Row as _;

/// What the load was told was done (the server answered success).
#[derive(Default)]
struct Acknowledged {
    records: HashMap<RecordId, Value>,
    files: HashMap<RecordId, Vec<u8>>,
    approved: Vec<GrantId>,
    revoked: Vec<GrantId>,
    /// Reads a service made under a grant and got.
    reads: u64,
}

/// Totals over every cycle, printed at the end.
#[derive(Default, Debug)]
struct Figures {
    cycles: u64,
    records: usize,
    files: usize,
    approvals: usize,
    revocations: usize,
    reads: u64,
    lost: usize,
    ledger_verifications: u64,
    rotations_killed: u64,
}

/// A small xorshift: the test needs varied instants, not good randomness, and a seed to replay them.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_at_random_instants_loses_nothing_it_acknowledged() {
    let cycles: u64 = std::env::var("CARTABLE_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let seed: u64 = std::env::var("CARTABLE_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("crash cycles: {cycles} on each backend, seed {seed} (CARTABLE_CRASH_SEED replays it)");
    for backend in backends() {
        let figures = within(60 + cycles * 40, "the crash cycles", crash_cycles(backend, cycles, Dice(seed))).await;
        eprintln!("{backend:?}: {figures:?}");
        assert_eq!(figures.lost, 0, "acknowledged writes lost");
        assert_eq!(figures.ledger_verifications, figures.cycles + 1, "one ledger verification after each start");
    }
}

async fn crash_cycles(backend: Backend, cycles: u64, mut dice: Dice) -> Figures {
    // The first server owns the data folder; each cycle's server runs on it and is killed.
    let mut first = Server::start(backend).await;
    let fx = FamilyFixture::create(&first, "Lefebvre", 12, 0);
    let service = first.client().register_service("Cahier de textes").await.unwrap();
    first.kill();
    let mut ack = Acknowledged::default();
    let mut figures = Figures::default();
    for cycle in 0..cycles {
        let server = first.start_beside(&[("CARTABLE_ORPHAN_BLOB_GRACE", "0")]);
        check(&server, &fx, &ack, &mut figures, cycle).await;
        let acknowledged = Arc::new(Mutex::new(std::mem::take(&mut ack)));
        let load = tokio::spawn(load(server.url.clone(), Ids { family: fx.family, guardian: fx.guardian, child: fx.child }, service.clone(), acknowledged.clone(), cycle));
        // Killed at a random instant once the load runs: in a write, an upload, an approval, a revocation.
        tokio::time::sleep(Duration::from_millis(300 + dice.below(1200))).await;
        let mut server = server;
        server.kill();
        load.await.unwrap();
        ack = Arc::try_unwrap(acknowledged).ok().expect("the load has ended").into_inner().unwrap();
        if cycle % 3 == 2 {
            rotate_and_kill(&server, &mut dice);
            figures.rotations_killed += 1;
        }
        figures.cycles += 1;
    }
    // The last cycle's writes, checked on one more start.
    let server = first.start_beside(&[("CARTABLE_ORPHAN_BLOB_GRACE", "0")]);
    check(&server, &fx, &ack, &mut figures, cycles).await;
    figures.records = ack.records.len();
    figures.files = ack.files.len();
    figures.approvals = ack.approved.len();
    figures.revocations = ack.revoked.len();
    figures.reads = ack.reads;
    figures
}

/// `cartable key rotate` killed after a random delay (maybe before it starts, maybe after it is done).
fn rotate_and_kill(server: &Server, dice: &mut Dice) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cartable"));
    command.arg("--data").arg(&server.data);
    if let Some(url) = &server.database_url {
        command.arg("--database-url").arg(url);
    }
    let mut rotation = command.args(["key", "rotate"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(dice.below(400)));
    let _ = rotation.kill();
    let _ = rotation.wait();
}

/// The mixed load, until the server dies: three writers of records, one of files, and one service asking for a
/// grant that the guardian approves, the service uses and the guardian revokes, over and over.
async fn load(url: String, fx: Ids, service: ServiceCredentials, ack: Arc<Mutex<Acknowledged>>, cycle: u64) {
    let client = cartable_sdk::Client::new(&url).unwrap();
    let Ok(guardian) = client.sign_in(fx.guardian, PASSWORD).await else { return };
    let guardian = Arc::new(guardian);
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..3u64 {
        let (guardian, ack) = (guardian.clone(), ack.clone());
        tasks.spawn(async move {
            for n in 0u64.. {
                let body = json!({"subject": "français", "due": "2026-12-04", "text": format!("Lire le chapitre {n} (cycle {cycle}, écrivain {writer})")});
                match guardian.write_record(fx.child, "edu.homework", &body).await {
                    Ok(id) => ack.lock().unwrap().records.insert(id, body),
                    Err(_) => return,
                };
            }
        });
    }
    {
        let (guardian, ack) = (guardian.clone(), ack.clone());
        tasks.spawn(async move {
            for n in 0u64.. {
                let bytes: Vec<u8> = (0..20_000 + (n as usize % 7) * 30_011).map(|i| ((i as u64 * 131 + n * 7 + cycle) % 251) as u8).collect();
                let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = bytes.chunks(16 * 1024).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
                match guardian.upload_file(fx.child, "edu.documents", &format!("scan-{cycle}-{n}.pdf"), futures::stream::iter(chunks)).await {
                    Ok(id) => ack.lock().unwrap().files.insert(id, sha2::Sha256::digest(&bytes).to_vec()),
                    Err(_) => return,
                };
            }
        });
    }
    {
        let (guardian, ack) = (guardian.clone(), ack.clone());
        let service = client.service(service);
        tasks.spawn(async move {
            loop {
                let request = cartable_sdk::NewAccessRequest {
                    family_id: fx.family,
                    child_id: fx.child,
                    doctypes: vec!["edu.homework".to_owned()],
                    actions: vec!["list".to_owned(), "read".to_owned()],
                    purpose: "cahier de textes".to_owned(),
                    legal_basis: "consent".to_owned(),
                    duration_days: 30,
                };
                let Ok(pending) = service.request_access(&request).await else { return };
                if guardian.approve(pending.request_id).await.is_err() {
                    return;
                }
                ack.lock().unwrap().approved.push(pending.request_id);
                let Ok(access) = service.wait_for_approval(&pending, Duration::from_secs(5)).await else { return };
                if let Ok(page) = access.list_records("edu.homework", None, 5).await {
                    for record in page.records {
                        if access.read_record(record.record_id).await.is_ok() {
                            ack.lock().unwrap().reads += 1;
                        }
                    }
                }
                if guardian.revoke(pending.request_id).await.is_err() {
                    return;
                }
                ack.lock().unwrap().revoked.push(pending.request_id);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Everything acknowledged so far is there, the ledger agrees with the grants and verifies, blobs match rows.
async fn check(server: &Server, fx: &FamilyFixture, ack: &Acknowledged, figures: &mut Figures, cycle: u64) {
    let guardian = server.client().sign_in(fx.guardian, PASSWORD).await.unwrap_or_else(|e| panic!("cycle {cycle}: sign-in after the restart: {e}"));
    for (id, body) in &ack.records {
        match guardian.read_record(*id).await {
            Ok(record) if &record.body == body => {}
            Ok(record) => panic!("cycle {cycle}: record {id} came back different: {}", record.body),
            Err(e) => {
                figures.lost += 1;
                eprintln!("cycle {cycle}: acknowledged record {id} is lost: {e}");
            }
        }
    }
    for (id, digest) in &ack.files {
        let mut bytes = Vec::new();
        match guardian.download_file(*id).await {
            Ok(download) => {
                download.write_to(&mut bytes).await.unwrap_or_else(|e| panic!("cycle {cycle}: file {id} reads back broken: {e}"));
            }
            Err(e) => {
                figures.lost += 1;
                eprintln!("cycle {cycle}: acknowledged file {id} is lost: {e}");
                continue;
            }
        }
        assert_eq!(&sha2::Sha256::digest(&bytes).to_vec(), digest, "cycle {cycle}: file {id} reads back byte for byte");
    }

    // The grants and their entries: an acknowledged change has its entry; a grant the family holds as active or
    // revoked has the entries that made it so, acknowledged or not.
    let entries = all_entries(&guardian).await;
    let logged = |event: &str, grant: GrantId| entries.iter().any(|e| e.receipt["event"] == event && e.receipt["grant"] == grant.to_string().as_str());
    for grant in &ack.approved {
        assert!(logged("approve", *grant), "cycle {cycle}: acknowledged approval of {grant} has no ledger entry");
    }
    for grant in &ack.revoked {
        assert!(logged("revoke", *grant), "cycle {cycle}: acknowledged revocation of {grant} has no ledger entry");
    }
    let revoked: Vec<GrantId> = ack.revoked.clone();
    for view in guardian.grants().await.unwrap() {
        match view.state.as_str() {
            "active" => {
                assert!(logged("approve", view.grant_id), "cycle {cycle}: grant {} is active without its approval entry", view.grant_id);
                assert!(!revoked.contains(&view.grant_id), "cycle {cycle}: an acknowledged revocation of {} was undone", view.grant_id);
            }
            "revoked" => assert!(logged("revoke", view.grant_id), "cycle {cycle}: grant {} is revoked without its entry", view.grant_id),
            _ => {}
        }
    }
    let verified = server.cli(&["ledger", "verify", "--family", &fx.family.to_string()]);
    assert!(verified["size"].as_u64().is_some_and(|n| n as usize >= entries.len()), "cycle {cycle}: {verified}");
    figures.ledger_verifications += 1;
    blobs_match_rows(server, fx, cycle).await;
}

/// Every row's blob is in the store and every blob is a row's, once writes in flight at the check have settled.
async fn blobs_match_rows(server: &Server, fx: &FamilyFixture, cycle: u64) {
    let folder = server.data.join("blobs").join(fx.family.to_string());
    let db = server.database().await;
    let mut unnamed = Vec::new();
    for _ in 0..20 {
        let stored: Vec<String> = std::fs::read_dir(&folder).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
        // Records' blobs, and the search index's files.
        let named: Vec<String> = sqlx::query("SELECT blob_key FROM records WHERE family_id = $1 AND blob_key IS NOT NULL UNION ALL SELECT blob_key FROM search_files WHERE family_id = $1")
            .bind(fx.family.to_string())
            .fetch_all(&db)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        let missing: Vec<&String> = named.iter().filter(|n| !stored.contains(n)).collect();
        assert!(missing.is_empty(), "cycle {cycle}: rows without their blob: {missing:?}");
        unnamed = stored.into_iter().filter(|s| !named.contains(s)).collect();
        if unnamed.is_empty() {
            break;
        }
        // A blob written just before its row (the search index being written after the restart) settles.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    db.close().await;
    assert!(unnamed.is_empty(), "cycle {cycle}: blobs without their row after the restart's sweep: {unnamed:?}");
}

/// The fixture's ids, to send to the load.
#[derive(Clone, Copy)]
struct Ids {
    family: cartable_sdk::FamilyId,
    guardian: cartable_sdk::MemberId,
    child: cartable_sdk::MemberId,
}
