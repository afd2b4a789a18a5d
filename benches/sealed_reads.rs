//! Sealed delivery's price: reads of the same records through the SDK by a plain service and by a sealed one (each
//! response an MLS message of the grant's group, opened by the SDK's instance), alternating in one run on one
//! server, and a file's download both ways.
//!
//! ```sh
//! cargo bench -p cartable --bench sealed_reads
//! ```
//!
//! `CARTABLE_BENCH_SECONDS` (5) is each read round's length, `CARTABLE_BENCH_CONNECTIONS` (8) the reads in flight,
//! `CARTABLE_BENCH_FILE_MIB` (32) the file's size. The aim (issue 16): sealed reads at least 0.7× plain ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cartable_sdk::{Access, Client, Instance, NewAccessRequest, RecordId};

mod support;
use support::{cartable, start_server};

const PASSWORD: &str = "correct horse battery staple";
const RECORDS: usize = 200;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Reads random records of `ids` with `connections` reads in flight for `seconds`; reads per second.
async fn read_round(access: &Access, ids: &Arc<Vec<RecordId>>, connections: u64, seconds: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|worker| {
            let (access, ids, done) = (access.clone(), ids.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = worker as usize * 7919;
                while Instant::now() < deadline {
                    i = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let record = access.read_record(ids[(i >> 33) % ids.len()]).await.expect("a read");
                    assert!(record.body.get("comment").is_some());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// The server's side alone: raw GETs of random records with the access's token, answered 200 and not opened (as
/// if the client were another machine); responses per second.
async fn raw_round(base: &str, access: &Access, ids: &Arc<Vec<RecordId>>, connections: u64, seconds: u64) -> f64 {
    let http = reqwest::Client::new();
    let (family, token) = (access.family_id(), access.state().access_token);
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|worker| {
            let (http, ids, done, token, base) = (http.clone(), ids.clone(), done.clone(), token.clone(), base.to_owned());
            tokio::spawn(async move {
                let mut i = worker as usize * 7919;
                while Instant::now() < deadline {
                    i = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let url = format!("{base}/api/v1/families/{family}/records/{}", ids[(i >> 33) % ids.len()]);
                    let response = http.get(url).bearer_auth(&token).send().await.expect("a read");
                    assert_eq!(response.status(), 200);
                    response.bytes().await.expect("a body");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Downloads the file `times` times; MB/s.
async fn download_round(access: &Access, file: RecordId, size: u64, times: u32) -> f64 {
    let started = Instant::now();
    for _ in 0..times {
        let mut download = access.download_file(file).await.expect("a download");
        let mut got = 0u64;
        while let Some(chunk) = download.chunk().await.expect("a chunk") {
            got += chunk.len() as u64;
        }
        assert_eq!(got, size);
    }
    (size * u64::from(times)) as f64 / 1e6 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = env_number("CARTABLE_BENCH_SECONDS", 5);
    let connections = env_number("CARTABLE_BENCH_CONNECTIONS", 8);
    let file_mib = env_number("CARTABLE_BENCH_FILE_MIB", 32);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // A family with one child, records of about 1 KiB, and a file.
    let family = cartable(&data, None, &["family", "create", "--name", "Bench"], None)["family_id"].as_str().unwrap().to_owned();
    let guardian = cartable(&data, None, &["member", "add", "--family", &family, "--role", "guardian", "--name", "Claire"], None)["member_id"].as_str().unwrap().to_owned();
    let child = cartable(&data, None, &["member", "add", "--family", &family, "--role", "child", "--name", "Léa", "--birth-date", "2014-03-02"], None)["member_id"]
        .as_str()
        .unwrap()
        .to_owned();
    cartable(&data, None, &["member", "set-password", "--family", &family, "--member", &guardian], Some(&format!("{PASSWORD}\n")));
    let lines: String = (0..RECORDS)
        .map(|i| format!("{}\n", serde_json::json!({"subject": "mathématiques", "grade": i % 20, "comment": "x".repeat(900), "n": i})))
        .collect();
    let input = dir.path().join("records.jsonl");
    std::fs::write(&input, lines).unwrap();
    let file_path = dir.path().join("file.bin");
    let size = file_mib << 20;
    std::fs::write(&file_path, (0..size).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>()).unwrap();

    let (server, base) = start_server(&data, None);
    let client = Client::new(&base).unwrap();
    let session = client.sign_in(guardian.parse().unwrap(), PASSWORD).await.unwrap();
    let child_id = child.parse().unwrap();
    let mut ids = Vec::with_capacity(RECORDS);
    for line in std::fs::read_to_string(&input).unwrap().lines() {
        ids.push(session.write_record(child_id, "edu.grades", &serde_json::from_str(line).unwrap()).await.unwrap());
    }
    let file = cartable(&data, None, &["file", "put", "--family", &family, "--child", &child, "--doctype", "edu.grades", file_path.to_str().unwrap()], None)["record_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let ids = Arc::new(ids);

    let request = NewAccessRequest {
        family_id: family.parse().unwrap(),
        child_id,
        doctypes: vec!["edu.grades".into()],
        actions: vec!["read".into()],
        purpose: "bench".into(),
        legal_basis: "consent".into(),
        duration_days: 30,
    };
    let grant = |service: cartable_sdk::Service| {
        let (session, request) = (&session, request.clone());
        async move {
            let pending = service.request_access(&request).await.unwrap();
            session.approve(pending.request_id).await.unwrap();
            service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap()
        }
    };
    let plain = grant(client.service(client.register_service("Plain").await.unwrap())).await;
    let credentials = client.register_service("Sealed").await.unwrap();
    let instance = Instance::open(credentials.service_id, "bench", dir.path().join("bench.mls"), [5; 32]).unwrap();
    let sealed = grant(client.service(credentials).with_instance(instance).await.unwrap()).await;

    // Warm both, then alternate: plain, sealed, plain, sealed.
    read_round(&plain, &ids, connections, 1).await;
    read_round(&sealed, &ids, connections, 1).await;
    let (mut plain_rates, mut sealed_rates) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        plain_rates.push(read_round(&plain, &ids, connections, seconds).await);
        sealed_rates.push(read_round(&sealed, &ids, connections, seconds).await);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (p, s) = (mean(&plain_rates), mean(&sealed_rates));
    println!("reads of one ~1 KiB record through the SDK, {connections} in flight, {seconds} s rounds, alternating:");
    println!("  plain:  {:>8.0} reads/s  (rounds {:?})", p, plain_rates.iter().map(|r| r.round()).collect::<Vec<_>>());
    println!("  sealed: {:>8.0} reads/s  (rounds {:?})", s, sealed_rates.iter().map(|r| r.round()).collect::<Vec<_>>());
    println!("  ratio sealed/plain: {:.2}x (aim: at least 0.70x) {}", s / p, if s / p >= 0.7 { "met" } else { "NOT met" });

    let (mut plain_raw, mut sealed_raw) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        plain_raw.push(raw_round(&base, &plain, &ids, connections, seconds).await);
        sealed_raw.push(raw_round(&base, &sealed, &ids, connections, seconds).await);
    }
    let (p, s) = (mean(&plain_raw), mean(&sealed_raw));
    println!("the server's side alone (the same reads, answers not opened):");
    println!("  plain:  {p:>8.0} responses/s");
    println!("  sealed: {s:>8.0} responses/s");
    println!("  ratio sealed/plain: {:.2}x", s / p);

    let times = 3;
    let (mut plain_mbs, mut sealed_mbs) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        plain_mbs.push(download_round(&plain, file, size, times).await);
        sealed_mbs.push(download_round(&sealed, file, size, times).await);
    }
    let (p, s) = (mean(&plain_mbs), mean(&sealed_mbs));
    println!("downloads of a {file_mib} MiB file through the SDK, {times} per round, alternating:");
    println!("  plain:  {p:>8.1} MB/s");
    println!("  sealed: {s:>8.1} MB/s");
    println!("  ratio sealed/plain: {:.2}x", s / p);
    drop(server);
}
