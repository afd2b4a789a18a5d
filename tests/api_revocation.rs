//! The revocation race: readers hammer a grant while a guardian revokes it. No read that starts after the revoke
//! call has returned may succeed, and the ledger holds one access entry per read that reached a decision.

mod api_support;
mod cli_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use api_support::{Backend, FamilyFixture, PASSWORD, Server, all_entries, backends, event, within};
use cartable_sdk::SdkError;

const READERS: usize = 8;

#[derive(Default)]
struct Counts {
    allowed: AtomicU64,
    refused: AtomicU64,
    started_after_revoke: AtomicU64,
    allowed_after_revoke: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_read_that_starts_after_a_revocation_succeeds() {
    for backend in backends() {
        within(120, "the revocation race", race(backend)).await;
    }
}

async fn race(backend: Backend) {
    let server = Server::start(backend).await;
    let fx = FamilyFixture::create(&server, "Fontaine", 12, 4);
    let client = server.client();
    let service = client.service(client.register_service("Tutorat Plus").await.unwrap());
    let pending = service.request_access(&fx.request(&["edu.grades"], &["read", "list"])).await.unwrap();
    let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
    guardian.approve(pending.request_id).await.unwrap();
    let mut access = service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
    // Tokens live an hour: no refresh muddles the count.
    access.set_auto_refresh(false);

    let revoked = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let mut readers = Vec::new();
    for reader in 0..READERS {
        let (access, revoked, stop, counts) = (access.clone(), revoked.clone(), stop.clone(), counts.clone());
        let records = fx.grades.clone();
        readers.push(tokio::spawn(async move {
            let mut i = reader;
            while !stop.load(Ordering::SeqCst) {
                // Read the flag before the request leaves: `true` means the revoke call had returned.
                let after = revoked.load(Ordering::SeqCst);
                if after {
                    counts.started_after_revoke.fetch_add(1, Ordering::SeqCst);
                }
                match access.read_record(records[i % records.len()]).await {
                    Ok(_) => {
                        counts.allowed.fetch_add(1, Ordering::SeqCst);
                        if after {
                            counts.allowed_after_revoke.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(SdkError::Revoked { .. }) => {
                        counts.refused.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(other) => panic!("a read failed otherwise than by revocation: {other:?}"),
                }
                i += 1;
            }
        }));
    }

    // Let the readers run, revoke mid-stream, then let them run on until enough reads started after it.
    while counts.allowed.load(Ordering::SeqCst) < 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    guardian.revoke(pending.request_id).await.unwrap();
    revoked.store(true, Ordering::SeqCst);
    while counts.started_after_revoke.load(Ordering::SeqCst) < 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for reader in readers {
        // A reader's panic with the server's log, which says why it answered as it did.
        if let Err(e) = reader.await {
            panic!("{e:?}\nthe server's log:\n{}", server.log_text());
        }
    }

    let allowed = counts.allowed.load(Ordering::SeqCst);
    let refused = counts.refused.load(Ordering::SeqCst);
    assert_eq!(counts.allowed_after_revoke.load(Ordering::SeqCst), 0, "a read that started after the revocation succeeded");
    assert!(allowed >= 50 && refused >= 50, "allowed {allowed}, refused {refused}");

    // Every read reached a decision, and every decision is in the ledger: allowed and denied alike.
    let entries = all_entries(&guardian).await;
    let ours: Vec<_> = entries.iter().filter(|e| e.receipt["service"] == service.id().to_string()).collect();
    let logged_allowed = ours.iter().filter(|e| event(e) == "access_allowed").count() as u64;
    let logged_denied = ours.iter().filter(|e| event(e) == "access_denied").count() as u64;
    assert_eq!(logged_allowed, allowed, "allowed reads vs access_allowed entries");
    assert_eq!(logged_denied, refused, "refused reads vs access_denied entries");
    // The ledger orders decisions and the revocation as they took effect: every allowed read before it, every
    // refused one after it (a decision made under the old policies but not yet logged is decided again).
    let revoke_at = ours.iter().find(|e| event(e) == "revoke").expect("the revocation is logged").index;
    let late = ours.iter().filter(|e| e.index > revoke_at && event(e) == "access_allowed").count();
    let early = ours.iter().filter(|e| e.index < revoke_at && event(e) == "access_denied").count();
    assert_eq!((late, early), (0, 0), "allowed entries after the revocation, denied ones before it");
    let report = server.cli(&["ledger", "verify", "--family", &fx.family.to_string()]);
    assert_eq!(report["size"].as_u64().unwrap(), entries.len() as u64, "the ledger verifies and holds every entry listed");
}
