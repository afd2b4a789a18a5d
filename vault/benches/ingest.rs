//! Storing 100,000 small records through the vault (encrypt to the family key, insert, in batches of 1,000)
//! next to bare SQLite inserting the same plaintext rows in the same batches, in the same run.
//!
//! `cargo bench -p cartable-vault --bench ingest` (set CARTABLE_BENCH_RECORDS to change the count).

use std::time::Instant;

use cartable_consent::{Action, Doctype, Principal, Resource, Role};
use cartable_vault::{NewRecord, Vault, VaultConfig};
use sqlx::Connection;

const BATCH: usize = 1_000;

fn body(i: usize) -> serde_json::Value {
    serde_json::json!({"subject": "mathématiques", "grade": (i % 20) as f64 + 0.5, "coefficient": 2, "date": "2026-11-02", "comment": "devoir surveillé"})
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("CARTABLE_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();

    // Bare SQLite: the same plaintext rows, same batches, same durability (WAL, synchronous=FULL).
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("bare.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for pragma in ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL"] {
        sqlx::query(pragma).execute(&mut conn).await.unwrap();
    }
    sqlx::query("CREATE TABLE records (id TEXT PRIMARY KEY, family_id TEXT NOT NULL, child_id TEXT NOT NULL, doctype TEXT NOT NULL, body BLOB NOT NULL, created_at INTEGER NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    let start = Instant::now();
    for chunk in 0..n.div_ceil(BATCH) {
        let mut tx = conn.begin().await.unwrap();
        for i in chunk * BATCH..((chunk + 1) * BATCH).min(n) {
            sqlx::query("INSERT INTO records (id, family_id, child_id, doctype, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(uuid::Uuid::now_v7().to_string())
                .bind("family")
                .bind("child")
                .bind("edu.grades")
                .bind(serde_json::to_vec(&body(i)).unwrap())
                .bind(i as i64)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let bare = start.elapsed();

    let vault = Vault::open(VaultConfig::embedded(dir.path().join("vault"))).await.unwrap();
    let family = vault.create_family("Bench").await.unwrap();
    let child = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, "Enfant", Some(time::macros::date!(2014 - 05 - 02))).await.unwrap();
    let permit = vault
        .authorize(family, Principal::Operator, Action::Write, Resource::Collection { child, doctype: Doctype::Grades })
        .await
        .unwrap()
        .into_permit()
        .unwrap();
    let start = Instant::now();
    for chunk in 0..n.div_ceil(BATCH) {
        let records = (chunk * BATCH..((chunk + 1) * BATCH).min(n))
            .map(|i| NewRecord { child, doctype: Doctype::Grades, source: "operator".into(), body: body(i) })
            .collect();
        vault.put_records(&permit, records).await.unwrap();
    }
    let through_vault = start.elapsed();

    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!("records: {n} in batches of {BATCH}");
    println!("bare SQLite (plaintext rows):      {:>9.0} records/s ({:.2} s)", rate(bare), bare.as_secs_f64());
    println!("vault (age-encrypted, same rows):  {:>9.0} records/s ({:.2} s)", rate(through_vault), through_vault.as_secs_f64());
    println!("ratio vault/bare: {:.2} (the vault reaches {:.0}% of bare SQLite's rate)", rate(through_vault) / rate(bare), 100.0 * rate(through_vault) / rate(bare));
}
