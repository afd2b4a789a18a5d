//! Notifications under concurrency, through the vault: the writes that add them never wait on themselves (a read
//! of the pool inside SQLite's write transaction could wait for a connection held by a writer waiting for the
//! lock), and a burst of first reads of a grant tells the family once.

use std::time::Duration;

use cartable_consent::{Action, Doctype, GrantState, LegalBasis, Principal, Resource, Role};
use cartable_vault::{NewRecord, NewRequest, NotificationKind, Vault, VaultConfig};

/// Bounds a step that would hang on a self-deadlock (SQLite's busy timeout is 30 s); never a speed check.
async fn without_deadlock<T>(what: &str, step: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(25), step).await.unwrap_or_else(|_| panic!("{what} waited on itself"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_and_first_uses_notify_without_waiting_on_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(VaultConfig::embedded(dir.path().join("data"))).await.unwrap();
    let family = vault.create_family("Concurrence").await.unwrap();
    let manage = || vault.as_operator(family, Action::Manage, Resource::Family);
    let guardians = [
        vault.add_member(&manage().await.unwrap(), Role::Guardian, "Parent un", None).await.unwrap(),
        vault.add_member(&manage().await.unwrap(), Role::Guardian, "Parent deux", None).await.unwrap(),
    ];
    let birth = (time::OffsetDateTime::now_utc() - time::Duration::days(10 * 365)).date();
    let child = vault.add_member(&manage().await.unwrap(), Role::Child, "Enfant", Some(birth)).await.unwrap();
    let services = [
        vault.register_service("Premier service", None, "hash", true).await.unwrap(),
        vault.register_service("Second service", None, "hash", true).await.unwrap(),
    ];
    let request = |service| NewRequest {
        service,
        family,
        child,
        doctypes: vec![Doctype::Grades],
        actions: vec![Action::Read],
        purpose: "suivi".into(),
        legal_basis: LegalBasis::Consent,
        duration_days: 30,
    };

    // Sixteen requests at once, twice the pool's connections: each adds its notifications in its write transaction.
    let requests = without_deadlock("sixteen requests at once", async {
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (vault, request) = (vault.clone(), request(services[i % 2]));
                tokio::spawn(async move { vault.create_request(request).await })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap().expect("a request"));
        }
        ids
    })
    .await;
    let own = |member| vault.authorize(family, Principal::Member(member), Action::Read, Resource::Family);
    for guardian in guardians {
        let list = vault.notifications(&own(guardian).await.unwrap().into_permit().unwrap(), 100).await.unwrap();
        let asked: Vec<_> = list.iter().filter(|n| n.kind == NotificationKind::Request).map(|n| n.grant).collect();
        assert_eq!(asked.len(), 16, "one request notification per request for each guardian");
        assert!(requests.iter().all(|r| asked.contains(r)));
    }

    // One approved; then a burst of first uses beside concurrent writes of records.
    let grant = requests[0];
    let as_guardian = vault
        .authorize(family, Principal::Member(guardians[0]), Action::Manage, Resource::Collection { child, doctype: Doctype::Grades })
        .await
        .unwrap()
        .into_permit()
        .unwrap();
    assert_eq!(vault.approve(&as_guardian, grant, None).await.unwrap().state, GrantState::Active);
    without_deadlock("a burst of first uses beside writes", async {
        let mut tasks = Vec::new();
        for i in 0..32 {
            let vault = vault.clone();
            tasks.push(tokio::spawn(async move {
                if i % 4 == 0 {
                    let collection = Resource::Collection { child, doctype: Doctype::Grades };
                    let write = vault.authorize(family, Principal::Operator, Action::Write, collection).await?.into_permit().expect("the operator writes");
                    let record = NewRecord { child, doctype: Doctype::Grades, source: "operator".into(), body: serde_json::json!({ "n": i }) };
                    vault.put_record(&write, record).await.map(|_| ())
                } else {
                    vault.note_grant_used(family, grant).await
                }
            }));
        }
        for task in tasks {
            task.await.unwrap().expect("a first use noted, or a record written");
        }
    })
    .await;
    for guardian in guardians {
        let list = vault.notifications(&own(guardian).await.unwrap().into_permit().unwrap(), 100).await.unwrap();
        let first: Vec<_> = list.iter().filter(|n| n.kind == NotificationKind::FirstUse).collect();
        assert_eq!(first.len(), 1, "the first use told once to each guardian");
        assert_eq!(first[0].grant, grant);
    }
    // The other fifteen decided at once, and the first one revoked beside them: approvals, refusals and a revocation,
    // each in a write transaction that adds its notifications.
    without_deadlock("sixteen decisions at once", async {
        let tasks: Vec<_> = requests
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                let vault = vault.clone();
                tokio::spawn(async move {
                    let collection = Resource::Collection { child, doctype: Doctype::Grades };
                    let permit = vault.authorize(family, Principal::Member(guardians[i % 2]), Action::Manage, collection).await?.into_permit().expect("a guardian manages");
                    match i {
                        0 => vault.revoke(&permit, id, None).await,
                        i if i % 2 == 0 => vault.deny(&permit, id, None).await,
                        _ => vault.approve(&permit, id, None).await,
                    }
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let expected = match i {
                0 => GrantState::Revoked,
                i if i % 2 == 0 => GrantState::Denied,
                _ => GrantState::Active,
            };
            assert_eq!(task.await.unwrap().expect("a decision").state, expected, "request {i}");
        }
    })
    .await;
    // The revocation is told to both guardians (a refusal is their own doing: nothing to tell).
    for guardian in guardians {
        let list = vault.notifications(&own(guardian).await.unwrap().into_permit().unwrap(), 100).await.unwrap();
        let told: Vec<_> = list.iter().filter(|n| n.kind == NotificationKind::Ended).map(|n| n.grant).collect();
        assert_eq!(told, vec![grant], "the ended grant told to each guardian");
    }
    // A 10-year-old is not told: the child's news goes to the guardians until the age of digital consent.
    assert_eq!(vault.unread_notifications(family, child).await.unwrap(), 0);
}
