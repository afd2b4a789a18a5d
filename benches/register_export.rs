//! The DPO's register exported as CSV (`crate::register::csv::export`, what `/api/v1/register/export/csv` and
//! `cartable register export` stream): entries per second, next to reading the same rows (every entry's bytes, in
//! the same order) straight from the database in the same run, and the peak memory of the export for a register of
//! a tenth of the size and of the full size, which must be about the same (memory does not grow with the register).
//!
//! `cargo bench -p cartable --bench register_export` (CARTABLE_BENCH_REGISTER_ENTRIES, default 1,000,000, in
//! CARTABLE_BENCH_REGISTER_FAMILIES families, default 20).

#[path = "../vault/tests/support/counting_alloc.rs"]
mod counting_alloc;

use std::time::Instant;

use cartable::register::csv::{Format, export};
use cartable::register::{Query, Reader};
use cartable_consent::{Action, FamilyId, Principal, Resource, Role};
use cartable_vault::{Vault, VaultConfig};
use futures::StreamExt as _;
use sqlx::Row as _;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

const MIB: f64 = 1024.0 * 1024.0;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Grows the families' logs to `total` entries together: access decisions from 64 concurrent callers, as a busy
/// server makes them (the group commit appends them in batches).
async fn grow(vault: &Vault, families: &[FamilyId], total: u64) {
    let mut size = 0;
    for f in families {
        size += vault.ledger_size(*f).await.unwrap();
    }
    let missing = total.saturating_sub(size);
    let tasks = 64u64;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let vault = vault.clone();
        let families = families.to_vec();
        let count = missing / tasks + u64::from(t < missing % tasks);
        handles.push(tokio::spawn(async move {
            for i in 0..count {
                let family = families[((t + i * tasks) % families.len() as u64) as usize];
                vault.authorize(family, Principal::Operator, Action::List, Resource::Family).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
}

/// Every entry's bytes straight from the database, in the export's order: (entries, bytes, seconds).
async fn raw_read(url: &str) -> (u64, u64, f64) {
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let start = Instant::now();
    let (mut entries, mut bytes) = (0u64, 0u64);
    let mut rows = sqlx::query("SELECT family_id, idx, entry FROM ledger_entries ORDER BY family_id, idx").fetch(&pool);
    while let Some(row) = rows.next().await {
        let row = row.unwrap();
        let entry: Vec<u8> = row.get(2);
        entries += 1;
        bytes += entry.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    drop(rows);
    pool.close().await;
    (entries, bytes, secs)
}

/// The whole register as CSV through the export's stream: (lines, bytes, seconds, peak bytes above the start).
async fn csv_export(vault: &Vault) -> (u64, u64, f64, usize) {
    let base = counting_alloc::start();
    let start = Instant::now();
    let mut stream = export(vault.clone(), Reader::Operator, Query::default(), Format::Csv);
    let (mut lines, mut bytes) = (0u64, 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        bytes += chunk.len() as u64;
    }
    (lines.saturating_sub(1), bytes, start.elapsed().as_secs_f64(), counting_alloc::peak_above(base))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total = env("CARTABLE_BENCH_REGISTER_ENTRIES", 1_000_000);
    let family_count = env("CARTABLE_BENCH_REGISTER_FAMILIES", 20).max(1);
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("vault");
    let vault = Vault::open(VaultConfig::embedded(data.clone())).await.unwrap();
    let mut families = Vec::new();
    for i in 0..family_count {
        let family = vault.create_family(&format!("Famille {i}")).await.unwrap();
        let manage = vault.as_operator(family, Action::Manage, Resource::Family).await.unwrap();
        vault.add_member(&manage, Role::Guardian, "Parent", None).await.unwrap();
        families.push(family);
    }
    let url = format!("sqlite://{}", data.join("cartable.db").display());

    println!("register export: CSV through the export's stream vs the same rows read from SQLite, {family_count} families");
    let mut peaks = Vec::new();
    for size in [total / 10, total] {
        let filled = Instant::now();
        grow(&vault, &families, size).await;
        let fill_secs = filled.elapsed().as_secs_f64();
        let (raw_entries, raw_bytes, raw_secs) = raw_read(&url).await;
        let (lines, csv_bytes, csv_secs, peak) = csv_export(&vault).await;
        // The export decides each family's register first: one entry more per family than the raw read saw.
        assert!(lines >= raw_entries && lines <= raw_entries + 2 * family_count, "{lines} lines for {raw_entries} entries");
        let (raw_rate, csv_rate) = (raw_entries as f64 / raw_secs, lines as f64 / csv_secs);
        println!("  {raw_entries:>9} entries (filled in {fill_secs:.0} s)");
        println!("    raw read   {raw_rate:>10.0} entries/s  ({:.0} MiB of entries)", raw_bytes as f64 / MIB);
        println!("    CSV export {csv_rate:>10.0} entries/s  ({:.0} MiB of CSV)  {:.2}x the raw read", csv_bytes as f64 / MIB, csv_rate / raw_rate);
        println!("    peak memory of the export: {:.1} MiB", peak as f64 / MIB);
        peaks.push(peak);
    }
    println!("  peak at full size / peak at a tenth: {:.2}x (flat is about 1)", peaks[1] as f64 / peaks[0].max(1) as f64);
}
