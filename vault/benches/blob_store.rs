//! Files through the vault (encrypted to the family, streamed into the blob store, read back and decrypted) on the
//! data folder and on an S3 store, next to what the disk gives in the same run: the same bytes written to a plain file
//! (synced, as the data folder syncs every blob) and read back. The S3 store is the one the tests use
//! (`CARTABLE_TEST_S3_ENDPOINT` and its companions, which `scripts/test.sh` sets); without it that row is skipped.
//!
//! `cargo bench -p cartable-vault --bench blob_store` (CARTABLE_BENCH_FILE_MIB sets the file size, 64 by default;
//! CARTABLE_BENCH_ROUNDS the number of rounds, 3 by default; the best round counts).

use std::io::Write;
use std::time::{Duration, Instant};

use cartable_consent::{Action, Doctype, Resource, Role};
use cartable_vault::{Vault, VaultConfig};

#[path = "../tests/support/mod.rs"]
#[allow(dead_code)]
mod support;

/// The baseline: a plain file written from the same generator and synced, then read back.
fn plain_file(dir: &std::path::Path, size: u64) -> (Duration, Duration) {
    let path = dir.join("plain.bin");
    let start = Instant::now();
    let mut file = std::fs::File::create(&path).unwrap();
    std::io::copy(&mut support::Generated { left: size }, &mut file).unwrap();
    file.flush().unwrap();
    file.sync_all().unwrap();
    let write = start.elapsed();
    let start = Instant::now();
    let read = std::io::copy(&mut std::fs::File::open(&path).unwrap(), &mut std::io::sink()).unwrap();
    assert_eq!(read, size);
    let elapsed = start.elapsed();
    std::fs::remove_file(&path).unwrap();
    (write, elapsed)
}

/// One file stored through the vault and read back to its end.
async fn through_vault(config: &VaultConfig, size: u64) -> (Duration, Duration) {
    let vault = Vault::open(config.clone()).await.unwrap();
    let family = vault.create_family("Banc").await.unwrap();
    let manage = vault.as_operator(family, Action::Manage, Resource::Family).await.unwrap();
    let child = vault.add_member(&manage, Role::Child, "Léa", Some(time::macros::date!(2014 - 05 - 02))).await.unwrap();
    let write = vault.as_operator(family, Action::Write, Resource::Collection { child, doctype: Doctype::Documents }).await.unwrap();
    let start = Instant::now();
    let id = vault.put_file(&write, child, Doctype::Documents, "operator".into(), "bulletin.pdf".into(), Box::new(support::Generated { left: size })).await.unwrap();
    let upload = start.elapsed();
    let read = vault.as_operator(family, Action::Read, vault.record_resource(family, id).await.unwrap()).await.unwrap();
    let start = Instant::now();
    let (_, mut reader) = vault.open_file(&read).await.unwrap();
    let back = tokio::task::spawn_blocking(move || std::io::copy(&mut reader, &mut std::io::sink()).unwrap()).await.unwrap();
    let download = start.elapsed();
    assert_eq!(back, size);
    vault.delete_family(&vault.as_operator(family, Action::Manage, Resource::Family).await.unwrap()).await.unwrap();
    (upload, download)
}

fn best(a: (Duration, Duration), b: (Duration, Duration)) -> (Duration, Duration) {
    (a.0.min(b.0), a.1.min(b.1))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mib: u64 = std::env::var("CARTABLE_BENCH_FILE_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(64).max(1);
    let rounds: usize = std::env::var("CARTABLE_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let size = mib * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let local = VaultConfig::embedded(dir.path().join("local"));
    let s3 = support::s3_config().map(|s3| VaultConfig { blob_store: cartable_vault::BlobStoreConfig::S3(s3), ..VaultConfig::embedded(dir.path().join("s3")) });

    // Rounds alternate the contenders, and the best of each counts: a burst of other work on a shared machine then
    // slows one round, not one contender.
    let never = (Duration::MAX, Duration::MAX);
    let (mut plain, mut folder, mut bucket) = (never, never, never);
    for _ in 0..rounds {
        plain = best(plain, plain_file(dir.path(), size));
        folder = best(folder, through_vault(&local, size).await);
        if let Some(config) = &s3 {
            bucket = best(bucket, through_vault(config, size).await);
        }
    }

    let rate = |d: Duration| size as f64 / 1e6 / d.as_secs_f64();
    println!("one {mib} MiB file; best of {rounds} alternating rounds; MB/s");
    println!("{:<52} {:>10} {:>10}", "", "upload", "download");
    println!("{:<52} {:>10.0} {:>10.0}", "plain file, synced (baseline)", rate(plain.0), rate(plain.1));
    println!("{:<52} {:>10.0} {:>10.0}", "vault, data folder (encrypted, synced, 0600)", rate(folder.0), rate(folder.1));
    println!(
        "ratio data folder/plain file: upload {:.2}, download {:.2}",
        plain.0.as_secs_f64() / folder.0.as_secs_f64(),
        plain.1.as_secs_f64() / folder.1.as_secs_f64()
    );
    if s3.is_some() {
        println!("{:<52} {:>10.0} {:>10.0}", "vault, S3 store (encrypted, multipart of 5 MiB parts)", rate(bucket.0), rate(bucket.1));
        println!(
            "ratio S3 store/data folder: upload {:.2}, download {:.2}",
            folder.0.as_secs_f64() / bucket.0.as_secs_f64(),
            folder.1.as_secs_f64() / bucket.1.as_secs_f64()
        );
    } else {
        println!("S3 store skipped: CARTABLE_TEST_S3_ENDPOINT is not set (scripts/test.sh starts an S3 server and sets it)");
    }
}
