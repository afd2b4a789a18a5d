//! The one-time upgrade of rows in the format before sealed values (a whole age file per value, bound to nothing):
//! on every backend, and on SQLite under SIGKILL at random points, restarted until done; every value reads back
//! identical afterwards.

mod support;

use std::time::{Duration, Instant};

use cartable_vault::{Vault, VaultConfig};
use rand::Rng;
use support::{backends, fixture, legacy};

/// The environment variable that turns `upgrade_child_process` into the process the crash test kills.
const CHILD_ENV: &str = "CARTABLE_UPGRADE_CHILD_DATA";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_the_earlier_format_are_upgraded_at_start_on_every_backend() {
    for postgres in backends() {
        let fx = fixture(postgres).await;
        drop(Vault::open(fx.config.clone()).await.unwrap());
        let a = legacy::write_family(&fx, "Famille Martin", 40, "alpha").await;
        let b = legacy::write_family(&fx, "Famille Durand", 5, "beta").await;
        let vault = Vault::open(fx.config.clone()).await.unwrap();
        legacy::check_family(&vault, &a).await;
        legacy::check_family(&vault, &b).await;
        // Nothing of the earlier format is left, and a second start has nothing to do.
        let mut sql = fx.sql().await;
        let rows: Vec<(Option<Vec<u8>>,)> = sqlx::query_as("SELECT body_enc FROM records").fetch_all(&mut sql).await.unwrap();
        assert!(rows.iter().all(|(v,)| v.as_ref().is_some_and(|v| v[0] == 1)), "every record is sealed");
        let names: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT name_enc FROM members").fetch_all(&mut sql).await.unwrap();
        assert!(names.iter().all(|(v,)| v[0] == 1), "every member name is sealed");
        drop(vault);
        let vault = Vault::open(fx.config.clone()).await.unwrap();
        legacy::check_family(&vault, &a).await;
        vault.verify_ledger(a.family).await.unwrap();
    }
}

/// Not a test on its own: the process the crash test starts and kills. It opens the vault, which upgrades it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_child_process() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    Vault::open(VaultConfig::embedded(dir.into())).await.unwrap();
    println!("upgrade finished");
}

async fn legacy_left(url: &str) -> i64 {
    use sqlx::Connection as _;
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    let row: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM records WHERE body_enc IS NULL OR substr(body_enc, 1, 1) != X'01'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    row.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_killed_at_random_points_and_restarted_loses_nothing() {
    let fx = fixture(false).await;
    drop(Vault::open(fx.config.clone()).await.unwrap());
    let a = legacy::write_family(&fx, "Famille Martin", 2_500, "alpha").await;
    let b = legacy::write_family(&fx, "Famille Durand", 300, "beta").await;
    let total = (a.records.len() + a.files.len() + b.records.len() + b.files.len()) as i64;
    let url = fx.database_url();
    assert_eq!(legacy_left(&url).await, total);
    let mut rng = rand::thread_rng();
    let mut kills = 0;
    let mut partial = 0;
    for round in 0..12 {
        let left = legacy_left(&url).await;
        if left == 0 {
            break;
        }
        // Kill once a random share of what is left has been upgraded, a few milliseconds into the next batch; in the
        // first round, also before any record batch (while data keys, names and members are upgraded).
        let target = if round == 0 { left } else { rng.gen_range(0..left) };
        let extra = Duration::from_millis(rng.gen_range(0..15));
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "upgrade_child_process", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &fx.config.data_dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if legacy_left(&url).await <= target && (round > 0 || started.elapsed() > extra) {
                tokio::time::sleep(extra).await;
                break None;
            }
            if started.elapsed() > Duration::from_secs(60) {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        match finished {
            Some(status) => assert!(status.success(), "the upgrade process failed: {status}"),
            None => {
                // SIGKILL: no destructor, no rollback but the database's own.
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                let now_left = legacy_left(&url).await;
                if now_left > 0 && now_left < total {
                    partial += 1;
                }
                eprintln!("round {round}: killed with {now_left} of {total} records still to upgrade");
            }
        }
    }
    eprintln!("{kills} kills, {partial} of them in the middle of the records");
    assert!(kills > 0, "the upgrade was never interrupted");
    // The last start finishes it; everything reads back identical.
    let vault = Vault::open(fx.config.clone()).await.unwrap();
    assert_eq!(legacy_left(&url).await, 0);
    legacy::check_family(&vault, &a).await;
    legacy::check_family(&vault, &b).await;
    vault.verify_ledger(a.family).await.unwrap();
    vault.verify_ledger(b.family).await.unwrap();
}
