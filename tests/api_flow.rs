//! End to end through the real server: a service (driven only through the SDK) asks a family for access, the
//! family decides through the API, and the service works within its grant until it ends. On SQLite, and on
//! PostgreSQL when `CARTABLE_TEST_DATABASE_URL` is set.

mod api_support;
mod cli_support;

use std::time::Duration;

use api_support::{Backend, FamilyFixture, PASSWORD, Server, all_entries, backends, event, within};
use bytes::Bytes;
use cartable_sdk::{ErrorCode, RequestStatus, SdkError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_works_within_its_grant_until_it_is_revoked() {
    for backend in backends() {
        within(120, "the whole flow", whole_flow(backend)).await;
    }
}

async fn whole_flow(backend: Backend) {
    let server = Server::start(backend).await;
    let fx = FamilyFixture::create(&server, "Martin", 12, 3);
    let client = server.client();

    // 1. The service registers; 2. it asks for access.
    let credentials = client.register_service("Tutorat Plus").await.unwrap();
    let service = client.service(credentials.clone());
    let pending = service.request_access(&fx.request(&["edu.grades", "edu.report-cards"], &["read", "list", "write"])).await.unwrap();
    // A wrong secret is refused.
    let mut wrong = credentials.clone();
    wrong.secret.push('x');
    let refused = client.service(wrong).request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap_err();
    assert!(matches!(refused, SdkError::Unauthorized { code: ErrorCode::Unauthorized, .. }), "{refused:?}");

    // A short poll says pending.
    let status = service.poll(&pending, Duration::ZERO).await.unwrap();
    assert_eq!(status.status, RequestStatus::Pending);
    assert!(status.access_token.is_none());

    // 3. The service waits (long poll) while a guardian approves through the family API.
    let waiting = {
        let service = service.clone();
        let pending = pending.clone();
        tokio::spawn(async move { service.wait_for_approval(&pending, Duration::from_secs(60)).await })
    };
    let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
    assert_eq!(guardian.role(), "guardian");
    let grants = guardian.grants().await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].state, "requested");
    assert_eq!(grants[0].service_name.as_deref(), Some("Tutorat Plus"));
    let outcome = guardian.approve(grants[0].grant_id).await.unwrap();
    assert_eq!(outcome.state, "active");
    assert!(outcome.missing.is_empty());

    // 4. The long poll returns an access token bound to the grant.
    let access = waiting.await.unwrap().unwrap();
    assert_eq!(access.request_id(), pending.request_id);

    // 5. List (paginated), read, write.
    let first = access.list_records("edu.grades", None, 2).await.unwrap();
    assert_eq!(first.records.len(), 2);
    let rest = access.list_records("edu.grades", first.next_after, 2).await.unwrap();
    assert_eq!(rest.records.len(), 1);
    assert!(rest.next_after.is_none());
    let mut seen: Vec<_> = first.records.iter().chain(&rest.records).map(|r| r.record_id).collect();
    seen.sort();
    let mut expected = fx.grades.clone();
    expected.sort();
    assert_eq!(seen, expected);
    let record = access.read_record(fx.grades[0]).await.unwrap();
    assert_eq!(record.body["comment"], "secret-comment-0");
    assert_eq!(record.doctype, "edu.grades");
    let written = access.write_record("edu.grades", &serde_json::json!({"subject": "français", "grade": 14})).await.unwrap();
    let back = guardian.read_record(written).await.unwrap();
    assert_eq!(back.source, format!("service:{}", service.id()));
    assert_eq!(back.body["grade"], 14);

    // Files: streamed up and down, checked against the vault's SHA-256.
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..40u8).map(|i| Ok(Bytes::from(vec![i; 64 * 1024]))).collect();
    let file = access.upload_file("edu.report-cards", "bulletin T1.pdf", futures::stream::iter(chunks)).await.unwrap();
    let download = access.download_file(file).await.unwrap();
    assert_eq!(download.info.name, "bulletin T1.pdf");
    assert_eq!(download.info.size, 40 * 64 * 1024);
    let mut copy = Vec::new();
    assert_eq!(download.write_to(&mut copy).await.unwrap(), 40 * 64 * 1024);
    assert!(copy.chunks(64 * 1024).enumerate().all(|(i, c)| c.iter().all(|b| *b == i as u8)));

    // The family sees every access in its ledger, and can prove any entry offline.
    let entries = all_entries(&guardian).await;
    let by_service: Vec<_> = entries.iter().filter(|e| e.receipt["service"] == service.id().to_string()).collect();
    assert!(by_service.iter().any(|e| event(e) == "request"));
    assert!(by_service.iter().any(|e| event(e) == "approve"));
    assert!(by_service.iter().filter(|e| event(e) == "access_allowed").count() >= 6);
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains("secret-comment"), "the ledger holds no record contents");
    let checkpoint = guardian.checkpoint().await.unwrap();
    assert!(checkpoint.size >= entries.len() as u64);
    let proof = guardian.inclusion_proof(by_service[0].index).await.unwrap();
    let proof_file = server.dir.path().join("proof.txt");
    std::fs::write(&proof_file, &proof.proof).unwrap();
    let key = server.cli(&["ledger", "key"])["verifier_key"].as_str().unwrap().to_owned();
    let checked = server.cli(&["ledger", "check-proof", proof_file.to_str().unwrap(), "--key", &key]);
    assert_eq!(checked["index"], by_service[0].index);
    let consistency = guardian.consistency_proof(1, checkpoint.size).await.unwrap();
    assert!(!consistency.hashes.is_empty());

    // 6. Revocation: the very next call is refused with a clear error, and so is a refresh.
    guardian.revoke(pending.request_id).await.unwrap();
    let err = access.read_record(fx.grades[0]).await.unwrap_err();
    assert!(matches!(err, SdkError::Revoked { .. }), "{err:?}");
    let err = access.refresh().await.unwrap_err();
    assert!(matches!(err, SdkError::Revoked { .. }), "{err:?}");
    let status = service.poll(&pending, Duration::ZERO).await.unwrap();
    assert_eq!(status.status, RequestStatus::Revoked);

    // The ledger still verifies, and the server's log holds no plaintext.
    let report = server.cli(&["ledger", "verify", "--family", &fx.family.to_string()]);
    assert!(report["size"].as_u64().unwrap() > 0);
    let log = server.log_text();
    for plain in ["secret-comment", "mathématiques", "bulletin T1", PASSWORD, &credentials.secret] {
        assert!(!log.contains(plain), "the server log shows `{plain}`");
    }
    guardian.sign_out().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_request_ends_the_wait_with_denied() {
    for backend in backends() {
        within(60, "the denied request", async {
            let server = Server::start(backend).await;
            let fx = FamilyFixture::create(&server, "Durand", 10, 1);
            let client = server.client();
            let service = client.service(client.register_service("Pub Scolaire").await.unwrap());
            let pending = service.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap();
            let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
            guardian.deny(pending.request_id).await.unwrap();
            let err = service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap_err();
            assert!(matches!(err, SdkError::Denied { .. }), "{err:?}");
            // A second decision on a denied request is a conflict, and changes nothing.
            let again = guardian.approve(pending.request_id).await.unwrap_err();
            assert!(matches!(again, SdkError::Conflict { .. }), "{again:?}");
            assert_eq!(guardian.grants().await.unwrap()[0].state, "denied");
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teenager_co_approves_and_a_cli_approval_wakes_the_long_poll() {
    for backend in backends() {
        within(90, "the co-approval", async {
            let server = Server::start(backend).await;
            // 16: over the age of digital consent (15), under majority.
            let fx = FamilyFixture::create(&server, "Petit", 16, 1);
            server.cli_in(
                &["member", "set-password", "--family", &fx.family.to_string(), "--member", &fx.child.to_string()],
                Some(&format!("{PASSWORD}\n")),
            );
            let client = server.client();
            let service = client.service(client.register_service("Orientation").await.unwrap());
            let pending = service.request_access(&fx.request(&["edu.grades"], &["read", "list"])).await.unwrap();
            let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
            let outcome = guardian.approve(pending.request_id).await.unwrap();
            assert_eq!(outcome.state, "requested");
            assert_eq!(outcome.missing, vec!["the child".to_owned()]);
            assert_eq!(service.poll(&pending, Duration::ZERO).await.unwrap().status, RequestStatus::Pending);

            // The child approves from the CLI (another process): the long poll sees it by polling the database.
            let waiting = {
                let (service, pending) = (service.clone(), pending.clone());
                tokio::spawn(async move { service.wait_for_approval(&pending, Duration::from_secs(60)).await })
            };
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.cli(&[
                "request", "approve", "--family", &fx.family.to_string(), "--request", &pending.request_id.to_string(), "--by", &fx.child.to_string(),
            ]);
            let access = waiting.await.unwrap().unwrap();
            assert_eq!(access.list_records("edu.grades", None, 10).await.unwrap().records.len(), 1);
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire_and_refresh_and_an_expired_grant_is_said_so() {
    for backend in backends() {
        within(90, "expiry", async {
            // Access tokens live two seconds here.
            let server = Server::start_with(backend, &[("CARTABLE_ACCESS_TOKEN_TTL", "2")]).await;
            let fx = FamilyFixture::create(&server, "Bernard", 11, 1);
            let client = server.client();
            let service = client.service(client.register_service("Soutien").await.unwrap());
            let pending = service.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap();
            client.sign_in(fx.guardian, PASSWORD).await.unwrap().approve(pending.request_id).await.unwrap();
            let access = service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();

            // Without automatic refresh, an expired token is refused as expired.
            let mut manual = client.resume(access.state());
            manual.set_auto_refresh(false);
            manual.refresh().await.unwrap();
            manual.read_record(fx.grades[0]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2500)).await;
            let err = manual.read_record(fx.grades[0]).await.unwrap_err();
            assert!(matches!(err, SdkError::TokenExpired { .. }), "{err:?}");
            // A refresh (a continuation) gives a fresh token while the grant lives.
            let old = manual.state().access_token;
            manual.refresh().await.unwrap();
            assert_ne!(manual.state().access_token, old);
            manual.read_record(fx.grades[0]).await.unwrap();
            // With automatic refresh (the default), expiry is invisible.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            access.read_record(fx.grades[0]).await.unwrap();

            // The grant itself ends: a sweep run as if 31 days had passed expires it (with its ledger entry).
            let vault = server.vault().await;
            let family = cartable_consent::FamilyId::from_uuid(fx.family.0);
            let swept = vault.sweep(family, time::OffsetDateTime::now_utc() + time::Duration::days(31)).await.unwrap();
            assert_eq!(swept, 1);
            let err = access.read_record(fx.grades[0]).await.unwrap_err();
            assert!(matches!(err, SdkError::Expired { .. }), "{err:?}");
            let err = access.refresh().await.unwrap_err();
            assert!(matches!(err, SdkError::Expired { .. }), "{err:?}");
            assert_eq!(service.poll(&pending, Duration::ZERO).await.unwrap().status, RequestStatus::Expired);
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teenager_sees_and_decides_only_the_requests_about_them() {
    for backend in backends() {
        within(90, "the teenager's register", async {
            let server = Server::start(backend).await;
            let fx = FamilyFixture::create(&server, "Roux", 16, 1);
            let (sibling, _) = fx.add_child(&server, 12);
            server.cli_in(
                &["member", "set-password", "--family", &fx.family.to_string(), "--member", &fx.child.to_string()],
                Some(&format!("{PASSWORD}\n")),
            );
            let client = server.client();
            let service = client.service(client.register_service("Orientation").await.unwrap());
            let about_teen = service.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap();
            let mut for_sibling = fx.request(&["edu.grades"], &["read"]);
            for_sibling.child_id = sibling;
            let about_sibling = service.request_access(&for_sibling).await.unwrap();

            // The teenager sees the request about them, not their sibling's, and approves it first.
            let teen = client.sign_in(fx.child, PASSWORD).await.unwrap();
            let visible: Vec<_> = teen.grants().await.unwrap().into_iter().map(|g| g.grant_id).collect();
            assert_eq!(visible, vec![about_teen.request_id]);
            let outcome = teen.approve(about_teen.request_id).await.unwrap();
            assert_eq!((outcome.state.as_str(), outcome.missing.clone()), ("requested", vec!["a guardian".to_owned()]));
            assert!(teen.approve(about_sibling.request_id).await.is_err(), "not theirs to decide");
            let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
            assert_eq!(guardian.grants().await.unwrap().len(), 2, "the guardian of two minors sees both");
            assert_eq!(guardian.approve(about_teen.request_id).await.unwrap().state, "active");

            // The register the teenager reads holds only the entries about them; a sibling's entry is refused.
            let entries = teen.ledger(None, 1000).await.unwrap().entries;
            assert!(!entries.is_empty());
            let teen_id = fx.child.to_string();
            assert!(entries.iter().all(|e| e.receipt["principal"].as_str() == Some(teen_id.as_str())), "{entries:?}");
            let all = all_entries(&guardian).await;
            let sibling_entry = all.iter().find(|e| e.receipt["principal"].as_str() == Some(sibling.to_string().as_str())).unwrap();
            assert!(teen.inclusion_proof(sibling_entry.index).await.is_err());
            assert!(teen.inclusion_proof(entries[0].index).await.is_ok());
        })
        .await;
    }
}
