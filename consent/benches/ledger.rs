//! Time to verify a 1,000,000-entry log in memory, next to bare SHA-256 over the same bytes.
//!
//! `cargo bench -p cartable-consent --bench ledger` (set `CARTABLE_BENCH_ENTRIES` for another size).
//! Entries are real canonical receipts (a few hundred bytes each); verifying means recomputing every leaf hash
//! and the root with `Replay`, which is what `ledger verify` does once the rows are read.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cartable_consent::ledger::{Actor, EventType, Receipt, Replay, Validity};
use cartable_consent::{Action, Doctype, FamilyId, GrantId, LegalBasis, MemberId, RecordId, ServiceId};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Distinct receipts cycled through; enough to defeat any caching of one entry, small enough to build quickly.
const DISTINCT: usize = 4096;

fn receipts(family: FamilyId) -> Vec<Vec<u8>> {
    let child = MemberId::new();
    let guardian = MemberId::new();
    let service = ServiceId::new();
    let start = OffsetDateTime::now_utc();
    (0..DISTINCT)
        .map(|i| {
            let time = start + Duration::from_secs(i as u64);
            let kinds = [EventType::AccessAllowed, EventType::AccessDenied, EventType::Approve, EventType::Request];
            let event = kinds[i % kinds.len()];
            let actor =
                if matches!(event, EventType::Approve) { Actor::Guardian(guardian) } else { Actor::Service(service) };
            let mut r = Receipt::new(family, event, actor, time);
            r.principal = Some(child);
            r.service = Some(service);
            r.grant = Some(GrantId::new());
            r.purposes = vec!["suivi de la scolarité".into()];
            r.legal_basis = Some(LegalBasis::Consent);
            r.data_categories = vec![Doctype::Grades, Doctype::Homework];
            match event {
                EventType::AccessAllowed | EventType::AccessDenied => {
                    r.action = Some(Action::Read);
                    r.resource = Some(RecordId::new());
                    r.reasons = vec![format!("grant-{i}")];
                }
                _ => {
                    r.validity = Some(Validity { from: time, until: Some(time + Duration::from_secs(180 * 86_400)) });
                    r.withdrawal = Some("cartable grants revoke".into());
                }
            }
            r.canonical_bytes()
        })
        .collect()
}

fn main() {
    let n: usize = std::env::var("CARTABLE_BENCH_ENTRIES").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let entries = receipts(FamilyId::new());
    let total_bytes: usize = (0..n).map(|i| entries[i % DISTINCT].len()).sum();

    // Warm up both paths (page in the entries, settle the CPU clock) before timing.
    let mut warm = Replay::new();
    for e in &entries {
        warm.push_entry(e);
    }
    black_box(warm.root());

    let mut best_verify = Duration::MAX;
    let mut best_bare = Duration::MAX;
    let mut best_per_entry = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mut replay = Replay::new();
        for i in 0..n {
            replay.push_entry(&entries[i % DISTINCT]);
        }
        black_box(replay.root());
        best_verify = best_verify.min(t.elapsed());

        // Bare SHA-256 over the same bytes, as one stream.
        let t = Instant::now();
        let mut h = Sha256::new();
        for i in 0..n {
            h.update(&entries[i % DISTINCT]);
        }
        black_box(h.finalize());
        best_bare = best_bare.min(t.elapsed());

        // And one SHA-256 per entry, without the tree: the share of the 0x00 prefix and padding.
        let t = Instant::now();
        for i in 0..n {
            black_box(Sha256::digest(&entries[i % DISTINCT]));
        }
        best_per_entry = best_per_entry.min(t.elapsed());
    }

    let secs = |d: Duration| d.as_secs_f64();
    println!(
        "entries: {n} receipts, {:.0} bytes on average, {:.1} MB in all (best of 3 runs)",
        total_bytes as f64 / n as f64,
        total_bytes as f64 / 1e6
    );
    println!(
        "verify {n} entries: {:.3} s; bare sha256 over same bytes: {:.3} s; ratio {:.2}x",
        secs(best_verify),
        secs(best_bare),
        secs(best_verify) / secs(best_bare)
    );
    println!(
        "one sha256 per entry (no tree): {:.3} s; tree overhead over that: {:.2}x; verify rate {:.0} entries/s",
        secs(best_per_entry),
        secs(best_verify) / secs(best_per_entry),
        n as f64 / secs(best_verify)
    );
}
