//! The stored ledger: appends durably committed per second (each one an access decision, as the server makes
//! them, alone and from concurrent requests), and the time `verify_ledger` takes to replay a large log (every entry
//! parsed as a canonical receipt, every hash recomputed and compared with the stored tree), next to two baselines in
//! the same run: what a plain program does to read the same rows from the same database (one prepared statement,
//! rusqlite) and hash them, comparing each leaf hash with the stored one (aim: `verify_ledger` within 2x of it);
//! and bare SHA-256 over the same entry bytes already in memory.
//!
//! `cargo bench -p cartable-vault --bench ledger_store` (CARTABLE_BENCH_LEDGER_ENTRIES, default 1,000,000).

use std::time::Instant;

use cartable_consent::{Action, Principal, Resource, Role};
use cartable_vault::{LedgerFilter, Vault, VaultConfig};
use sha2::Digest as _;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: u64 = std::env::var("CARTABLE_BENCH_LEDGER_ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(VaultConfig::embedded(dir.path().join("vault"))).await.unwrap();
    let family = vault.create_family("Bench").await.unwrap();
    let manage = vault.as_operator(family, Action::Manage, Resource::Family).await.unwrap();
    vault.add_member(&manage, Role::Guardian, "Parent", None).await.unwrap();

    // One caller at a time: one transaction, one fsync per entry.
    let alone = 500;
    let start = Instant::now();
    for _ in 0..alone {
        vault.authorize(family, Principal::Operator, Action::List, Resource::Family).await.unwrap();
    }
    let alone_rate = alone as f64 / start.elapsed().as_secs_f64();

    // Many callers at once (a busy server): group commit shares each fsync.
    let tasks = 64;
    let start = Instant::now();
    let mut handles = Vec::new();
    let per_task = (n / tasks).max(1);
    for _ in 0..tasks {
        let vault = vault.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..per_task {
                vault.authorize(family, Principal::Operator, Action::List, Resource::Family).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let appended = per_task * tasks;
    let concurrent_secs = start.elapsed().as_secs_f64();
    let size = vault.ledger_size(family).await.unwrap();

    // Verify the stored log, then hash the same entry bytes bare.
    let start = Instant::now();
    let report = vault.verify_ledger(family).await.unwrap();
    let verify_secs = start.elapsed().as_secs_f64();
    assert_eq!(report.size, size);
    let mut entries = Vec::with_capacity(size as usize);
    let mut after = None;
    // One logged decision to read the register serves every page (a decision per page would grow the log it reads).
    let register = vault.as_operator(family, Action::List, Resource::Register).await.unwrap();
    loop {
        let page = vault.ledger_entries(&register, &LedgerFilter { after_index: after, limit: Some(10_000), ..Default::default() }).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.index);
        entries.extend(page.into_iter().map(|e| e.receipt.canonical_bytes()));
    }
    let bytes: usize = entries.iter().map(Vec::len).sum();
    let start = Instant::now();
    let mut sink = 0u8;
    for e in &entries {
        sink ^= sha2::Sha256::digest(e)[0];
    }
    let bare_secs = start.elapsed().as_secs_f64();

    // The register read above logged its own decision: the baseline reads the log as it stands now.
    let stored = vault.ledger_size(family).await.unwrap();
    let path = dir.path().join("vault").join("cartable.db");
    let start = Instant::now();
    let (read_hashed, nodes_matched) = read_and_hash(&path, &family.to_string());
    let read_secs = start.elapsed().as_secs_f64();
    // A tree of n leaves stores its perfect subtrees' nodes: 2n minus the number of ones in n.
    assert_eq!((read_hashed, nodes_matched), (stored, 2 * stored - stored.count_ones() as u64), "the baseline read every entry and matched every stored node");

    println!("appends, one caller:        {alone_rate:>8.0} entries/s durably committed (one transaction each)");
    println!("appends, {tasks} callers:        {:>8.0} entries/s durably committed (group commit), {appended} entries in {concurrent_secs:.1} s", appended as f64 / concurrent_secs);
    println!("verify a {size}-entry stored log: {verify_secs:.2} s ({:.0} entries/s, {:.1} MB of receipts)", size as f64 / verify_secs, bytes as f64 / 1e6);
    println!("bare SHA-256 over the same bytes: {bare_secs:.3} s (check byte {sink})");
    println!("read the same rows (rusqlite) and hash them, every node compared: {read_secs:.2} s ({:.0} entries/s)", size as f64 / read_secs);
    println!("ratio verify/read-and-hash: {:.2}x (aim: at most 2x)", verify_secs / read_secs);
    println!("ratio verify/bare: {:.1}x", verify_secs / bare_secs);
}

/// A plain program's verification of the same rows: the family's entries and every stored tree node, each read in
/// index order by one prepared statement; each entry hashed as an RFC 6962 leaf, each node recomputed from the two
/// below it, and compared with the stored hash. Returns the entries read and the nodes that matched.
fn read_and_hash(path: &std::path::Path, family: &str) -> (u64, u64) {
    let hash = |prefix: u8, parts: &[&[u8]]| -> [u8; 32] {
        let mut hasher = sha2::Sha256::new();
        hasher.update([prefix]);
        for part in parts {
            hasher.update(part);
        }
        hasher.finalize().into()
    };
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut entries = conn.prepare("SELECT entry FROM ledger_entries WHERE family_id = ?1 ORDER BY idx").unwrap();
    let mut rows = entries.query([family]).unwrap();
    let mut below: Vec<[u8; 32]> = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        below.push(hash(0x00, &[row.get_ref(0).unwrap().as_blob().unwrap()]));
    }
    let read = below.len() as u64;
    let mut nodes = conn.prepare("SELECT level, idx, hash FROM ledger_nodes WHERE family_id = ?1 ORDER BY level, idx").unwrap();
    let mut rows = nodes.query([family]).unwrap();
    let (mut level, mut this_level, mut matched) = (0i64, Vec::new(), 0);
    while let Some(row) = rows.next().unwrap() {
        let (at, idx): (i64, usize) = (row.get(0).unwrap(), row.get::<_, i64>(1).unwrap() as usize);
        if at != level {
            below = std::mem::take(&mut this_level);
            level = at;
        }
        let expected = if level == 0 { below[idx] } else { hash(0x01, &[&below[2 * idx], &below[2 * idx + 1]]) };
        let stored = row.get_ref(2).unwrap().as_blob().unwrap();
        if stored == expected.as_slice() && idx == this_level.len() {
            matched += 1;
        }
        this_level.push(expected);
    }
    (read, matched)
}
