//! What the API refuses, and that refusing changes nothing: another family's or another child's data with a
//! valid token (refused and logged as denied), forged, truncated and replayed tokens, malformed JSON, unknown
//! fields, oversized bodies, missing CSRF tokens, password guessing.

mod api_support;
mod cli_support;

use std::time::Duration;

use api_support::{Backend, FamilyFixture, PASSWORD, Server, all_entries, backends, event, within};
use cartable_sdk::{Access, AccessState, ErrorCode, ErrorResponse, FamilySession, SdkError, Service};
use serde_json::json;

/// A service with an approved grant on `fx`'s child's grades (read, list).
async fn granted(server: &Server, fx: &FamilyFixture, name: &str) -> (Service, Access, FamilySession) {
    let client = server.client();
    let service = client.service(client.register_service(name).await.unwrap());
    let pending = service.request_access(&fx.request(&["edu.grades"], &["read", "list"])).await.unwrap();
    let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
    guardian.approve(pending.request_id).await.unwrap();
    let access = service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
    (service, access, guardian)
}

fn denied_entries(entries: &[cartable_sdk::LedgerEntry], service: &Service) -> Vec<serde_json::Value> {
    entries
        .iter()
        .filter(|e| event(e) == "access_denied" && e.receipt["service"] == service.id().to_string())
        .map(|e| e.receipt.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_familys_or_another_childs_data_is_refused_and_logged() {
    for backend in backends() {
        within(120, "other family and child", other_family_and_child(backend)).await;
    }
}

async fn other_family_and_child(backend: Backend) {
    let server = Server::start(backend).await;
    let ours = FamilyFixture::create(&server, "Martin", 12, 1);
    let theirs = FamilyFixture::create(&server, "Lefebvre", 9, 1);
    let (sibling, sibling_grade) = ours.add_child(&server, 8);
    let homework = server.cli_in(
        &["record", "put", "--family", &ours.family.to_string(), "--child", &ours.child.to_string(), "--doctype", "edu.homework", "--body", "-"],
        Some(r#"{"task": "exercice 4"}"#),
    )["record_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (service, access, guardian) = granted(&server, &ours, "Tutorat Plus").await;
    let client = server.client();
    access.read_record(ours.grades[0]).await.unwrap();

    // Another family's record, through our family's path: not found, as if it did not exist…
    let err = access.read_record(theirs.grades[0]).await.unwrap_err();
    assert!(matches!(err, SdkError::NotFound { .. }), "{err:?}");
    // …and through their path, with our token: the same.
    let mut elsewhere = access.state();
    elsewhere.family_id = theirs.family;
    let foreign = client.resume(elsewhere);
    let err = foreign.read_record(theirs.grades[0]).await.unwrap_err();
    assert!(matches!(err, SdkError::NotFound { .. }), "{err:?}");
    // Another family's collections: answered as if that family did not exist.
    let err = foreign.list_records("edu.grades", None, 10).await.unwrap_err();
    assert!(matches!(err, SdkError::NotFound { .. }), "{err:?}");
    // A record that does not exist at all answers the same as one outside the grant.
    let nowhere = cartable_sdk::RecordId(uuid::Uuid::now_v7());
    let missing = access.read_record(nowhere).await.unwrap_err().to_string().replace(&nowhere.to_string(), "ID");
    let hidden = access.read_record(sibling_grade).await.unwrap_err().to_string().replace(&sibling_grade.to_string(), "ID");
    assert_eq!(missing, hidden);

    // Another child's record, and our child's data of a doctype outside the grant.
    let err = access.read_record(sibling_grade).await.unwrap_err();
    assert!(matches!(err, SdkError::NotFound { .. }), "{err:?}");
    let err = access.read_record(homework).await.unwrap_err();
    assert!(matches!(err, SdkError::NotFound { .. }), "{err:?}");
    let mut sibling_state: AccessState = access.state();
    sibling_state.child_id = sibling;
    let err = client.resume(sibling_state).list_records("edu.grades", None, 10).await.unwrap_err();
    assert!(matches!(err, SdkError::Denied { .. }), "{err:?}");
    // An action outside the grant (write).
    let err = access.write_record("edu.grades", &json!({"grade": 20})).await.unwrap_err();
    assert!(matches!(err, SdkError::Denied { .. }), "{err:?}");

    // Logged as denied: in our ledger for our family's records…
    let ours_denied = denied_entries(&all_entries(&guardian).await, &service);
    let resources: Vec<String> = ours_denied.iter().filter_map(|r| r["resource"].as_str().map(str::to_owned)).collect();
    assert!(resources.contains(&sibling_grade.to_string()), "{ours_denied:?}");
    assert!(resources.contains(&homework.to_string()), "{ours_denied:?}");
    assert!(ours_denied.iter().any(|r| r["action"] == "write"));
    assert!(ours_denied.iter().any(|r| r["action"] == "list" && r["principal"] == sibling.to_string()));
    // …but not in theirs: an outsider's attempts are counted for the operator, apart from the family's consent
    // history, which anyone holding a token could otherwise grow without bound.
    let their_guardian = client.sign_in(theirs.guardian, PASSWORD).await.unwrap();
    let their_size = all_entries(&their_guardian).await.len();
    assert!(denied_entries(&all_entries(&their_guardian).await, &service).is_empty());
    let counted = server.cli(&["audit", "refusals", "--json"]);
    let ours_counted: u64 = counted["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["family_id"] == theirs.family.to_string() && r["caller"] == format!("service:{}", service.id()))
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(ours_counted, 3, "{counted}");
    // Nothing was written anywhere.
    assert_eq!(their_guardian.collections().await.unwrap().iter().map(|c| c.records).sum::<u64>(), 1);
    let grades = guardian.list_records(ours.child, "edu.grades", None, 100).await.unwrap();
    assert_eq!(grades.records.len(), 1);

    // A family member of another family cannot read ours either, through their path or ours: both answer 404, as
    // for an id that exists nowhere, and neither family's ledger grows.
    let our_size = all_entries(&guardian).await.len();
    let err = their_guardian.read_record(ours.grades[0]).await.unwrap_err();
    assert!(matches!(err, SdkError::NotFound { .. }), "{err:?}");
    let http = reqwest::Client::new();
    let signed_in = http
        .post(format!("{}/api/v1/session", server.url))
        .json(&json!({"member_id": theirs.guardian, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    for path in [
        format!("/api/v1/families/{}", ours.family),
        format!("/api/v1/families/{}/records/{}", ours.family, ours.grades[0]),
        format!("/api/v1/families/{}/records/{}", ours.family, uuid::Uuid::now_v7()),
        format!("/api/v1/families/{}/ledger/entries", ours.family),
    ] {
        let response = http.get(format!("{}{path}", server.url)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    assert_eq!(all_entries(&guardian).await.len(), our_size + 1, "only our guardian's own listing was logged");
    assert_eq!(all_entries(&their_guardian).await.len(), their_size + 3, "only their guardian's own calls (two listings, the collections) were logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_truncated_and_replayed_tokens_are_refused() {
    for backend in backends() {
        within(90, "tokens", async {
            let server = Server::start(backend).await;
            let fx = FamilyFixture::create(&server, "Roux", 13, 1);
            let (service, access, guardian) = granted(&server, &fx, "Tutorat").await;
            let client = server.client();
            let with_token = |token: String| {
                let mut state = access.state();
                state.access_token = token;
                let mut resumed = client.resume(state);
                resumed.set_auto_refresh(false);
                resumed
            };
            let real = access.state().access_token;
            let forged = with_token("A".repeat(real.len()));
            let err = forged.read_record(fx.grades[0]).await.unwrap_err();
            assert!(matches!(err, SdkError::Unauthorized { code: ErrorCode::InvalidToken, .. }), "{err:?}");
            let truncated = with_token(real[..real.len() - 1].to_owned());
            let err = truncated.read_record(fx.grades[0]).await.unwrap_err();
            assert!(matches!(err, SdkError::Unauthorized { code: ErrorCode::InvalidToken, .. }), "{err:?}");
            let empty = with_token(String::new());
            assert!(empty.read_record(fx.grades[0]).await.is_err());
            // A forged continuation handle gets no token.
            let mut state = access.state();
            state.continue_handle = "forged".to_owned();
            let err = client.resume(state).refresh().await.unwrap_err();
            assert!(matches!(err, SdkError::Unauthorized { code: ErrorCode::InvalidToken, .. }), "{err:?}");

            // Replayed after revocation: the token is still well-formed but its grant is gone.
            let replay = with_token(real.clone());
            replay.read_record(fx.grades[0]).await.unwrap();
            let grant = access.request_id();
            guardian.revoke(grant).await.unwrap();
            let err = replay.read_record(fx.grades[0]).await.unwrap_err();
            assert!(matches!(err, SdkError::Revoked { .. }), "{err:?}");
            let err = replay.list_records("edu.grades", None, 5).await.unwrap_err();
            assert!(matches!(err, SdkError::Revoked { .. }), "{err:?}");
            // A new grant for the same service and scope does not revive the old token: it is bound to its grant.
            let pending = service.request_access(&fx.request(&["edu.grades"], &["read", "list"])).await.unwrap();
            guardian.approve(pending.request_id).await.unwrap();
            let fresh = service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
            fresh.read_record(fx.grades[0]).await.unwrap();
            let err = replay.read_record(fx.grades[0]).await.unwrap_err();
            assert!(matches!(err, SdkError::Revoked { .. }), "{err:?}");
            // Every refusal of a known token is in the ledger.
            let denied = denied_entries(&all_entries(&guardian).await, &service);
            assert!(denied.len() >= 3, "{denied:?}");
            // The last one was decided by Cedar as allowed, under the new grant, and refused for the old token.
            assert_eq!(denied.last().unwrap()["reasons"][0], "token.grant-not-in-force", "{denied:?}");
        })
        .await;
    }
}

/// A plain HTTP call, to send what the SDK never would.
async fn raw(method: reqwest::Method, url: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> (u16, Option<ErrorResponse>) {
    let http = reqwest::Client::new();
    let mut request = http.request(method, url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).ok())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn code(answer: &(u16, Option<ErrorResponse>)) -> (u16, ErrorCode) {
    (answer.0, answer.1.as_ref().map(|e| e.error.code).unwrap_or(ErrorCode::Unknown))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    for backend in backends() {
        within(120, "bad input", bad_input(backend)).await;
    }
}

async fn bad_input(backend: Backend) {
    let server = Server::start_with(backend, &[("CARTABLE_MAX_FILE_BYTES", "1000000")]).await;
    let fx = FamilyFixture::create(&server, "Moreau", 12, 1);
    let (service, access, guardian) = granted(&server, &fx, "Tutorat").await;
    let base = &server.url;
    let json = ("content-type", "application/json");
    let entries_before = all_entries(&guardian).await.len();

    // Registration: malformed JSON, unknown field, wrong type, wrong content type, oversized body.
    let services = format!("{base}/api/v1/services");
    let post = reqwest::Method::POST;
    assert_eq!(code(&raw(post.clone(), &services, &[json], Some(b"{\"name\": ".to_vec())).await), (400, ErrorCode::InvalidJson));
    assert_eq!(code(&raw(post.clone(), &services, &[json], Some(b"".to_vec())).await), (400, ErrorCode::InvalidJson));
    assert_eq!(code(&raw(post.clone(), &services, &[json], Some(br#"{"name": "x", "admin": true}"#.to_vec())).await), (400, ErrorCode::UnknownField));
    assert_eq!(code(&raw(post.clone(), &services, &[json], Some(br#"{"name": 42}"#.to_vec())).await), (400, ErrorCode::InvalidRequest));
    assert_eq!(code(&raw(post.clone(), &services, &[json], Some(br#"{"name": "  "}"#.to_vec())).await), (400, ErrorCode::InvalidRequest));
    assert_eq!(code(&raw(post.clone(), &services, &[("content-type", "text/plain")], Some(br#"{"name": "x"}"#.to_vec())).await), (415, ErrorCode::UnsupportedMediaType));
    let mut big = br#"{"name": ""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
    big.extend(br#""}"#);
    assert_eq!(code(&raw(post.clone(), &services, &[json], Some(big)).await), (413, ErrorCode::PayloadTooLarge));

    // Access requests: unknown doctype, action, legal basis; missing field; no or wrong credentials.
    let client = server.client();
    let mut request = fx.request(&["edu.gradez"], &["read"]);
    let err = service.request_access(&request).await.unwrap_err();
    assert!(matches!(&err, SdkError::InvalidRequest { code: ErrorCode::InvalidRequest, message } if message.contains("edu.gradez")), "{err:?}");
    request.doctypes = vec!["edu.grades".into()];
    request.actions = vec!["manage".into()];
    assert!(matches!(service.request_access(&request).await.unwrap_err(), SdkError::InvalidRequest { .. }));
    request.actions = vec!["read".into()];
    request.legal_basis = "because".into();
    assert!(matches!(service.request_access(&request).await.unwrap_err(), SdkError::InvalidRequest { .. }));
    request.legal_basis = "consent".into();
    request.duration_days = 0;
    assert!(matches!(service.request_access(&request).await.unwrap_err(), SdkError::InvalidRequest { .. }));
    let requests = format!("{base}/api/v1/access-requests");
    assert_eq!(code(&raw(post.clone(), &requests, &[json], Some(br#"{"family_id": "x"}"#.to_vec())).await), (401, ErrorCode::Unauthorized));
    let _ = client;

    // A guardian's session: state changes need the CSRF token; bad bodies change nothing.
    let login = raw(post.clone(), &format!("{base}/api/v1/session"), &[json], Some(json!({"member_id": fx.guardian, "password": PASSWORD}).to_string().into_bytes())).await;
    assert_eq!(login.0, 200);
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"member_id": fx.guardian, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let info: serde_json::Value = response.json().await.unwrap();
    let csrf = info["csrf_token"].as_str().unwrap().to_owned();
    let records = format!("{base}/api/v1/families/{}/children/{}/collections/edu.grades/records", fx.family, fx.child);
    let with_session = [("cookie", session.as_str()), json];
    assert_eq!(code(&raw(post.clone(), &records, &with_session, Some(br#"{"grade": 1}"#.to_vec())).await), (403, ErrorCode::Csrf));
    let wrong_csrf = [("cookie", session.as_str()), json, ("x-csrf-token", "nope")];
    assert_eq!(code(&raw(post.clone(), &records, &wrong_csrf, Some(br#"{"grade": 1}"#.to_vec())).await), (403, ErrorCode::Csrf));
    let good = [("cookie", session.as_str()), json, ("x-csrf-token", csrf.as_str())];
    assert_eq!(code(&raw(post.clone(), &records, &good, Some(b"{\"grade\": ".to_vec())).await), (400, ErrorCode::InvalidJson));
    assert_eq!(code(&raw(post.clone(), &records, &good, Some(b"[1, 2]".to_vec())).await), (400, ErrorCode::InvalidRequest));
    let members = format!("{base}/api/v1/families/{}/members", fx.family);
    assert_eq!(code(&raw(post.clone(), &members, &good, Some(br#"{"role": "child", "name": "X"}"#.to_vec())).await), (400, ErrorCode::InvalidRequest));
    assert_eq!(code(&raw(post.clone(), &members, &good, Some(br#"{"role": "uncle", "name": "X"}"#.to_vec())).await), (400, ErrorCode::InvalidRequest));
    assert_eq!(code(&raw(post.clone(), &members, &good, Some(br#"{"role": "guardian", "name": "X", "is_admin": true}"#.to_vec())).await), (400, ErrorCode::UnknownField));
    // Paths and queries: bad ids, unknown parameters, unknown routes and methods, all JSON errors.
    let get = reqwest::Method::GET;
    assert_eq!(code(&raw(get.clone(), &format!("{base}/api/v1/families/not-an-id/records/x"), &good, None).await), (400, ErrorCode::InvalidRequest));
    assert_eq!(code(&raw(get.clone(), &format!("{records}?limit=5&colour=blue"), &good, None).await), (400, ErrorCode::InvalidRequest));
    assert_eq!(code(&raw(get.clone(), &format!("{records}?limit=0"), &good, None).await), (400, ErrorCode::InvalidRequest));
    assert_eq!(code(&raw(get.clone(), &format!("{base}/api/v1/nothing-here"), &[], None).await), (404, ErrorCode::NotFound));
    assert_eq!(code(&raw(reqwest::Method::PUT, &services, &[json], Some(b"{}".to_vec())).await), (405, ErrorCode::MethodNotAllowed));
    assert_eq!(code(&raw(get.clone(), &records, &[], None).await), (401, ErrorCode::Unauthorized));
    assert_eq!(code(&raw(get.clone(), &records, &[("authorization", "Basic Zm9vOmJhcg==")], None).await), (401, ErrorCode::Unauthorized));

    // A file larger than the server takes (1 MB here) is refused with 413 and leaves nothing behind, whether
    // its length is declared or it is streamed.
    let files = format!("{base}/api/v1/families/{}/children/{}/collections/edu.documents/files?name=big.bin", fx.family, fx.child);
    let upload = [("cookie", session.as_str()), ("x-csrf-token", csrf.as_str()), ("content-type", "application/octet-stream")];
    assert_eq!(code(&raw(post.clone(), &files, &upload, Some(vec![7u8; 1_100_000])).await), (413, ErrorCode::PayloadTooLarge));
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = (0..11).map(|_| Ok(bytes::Bytes::from(vec![7u8; 100_000]))).collect();
    let err = guardian.upload_file(fx.child, "edu.documents", "big.bin", futures::stream::iter(chunks)).await.unwrap_err();
    assert!(matches!(err, SdkError::InvalidRequest { code: ErrorCode::PayloadTooLarge, .. }), "{err:?}");
    let blobs = server.dir.path().join("data").join("blobs");
    let files_left = walk(&blobs).into_iter().filter(|p| !p.starts_with(blobs.join("tmp"))).count();
    assert_eq!(files_left, 0, "a refused upload left a blob");

    // Signing out ends the session on the server.
    assert_eq!(raw(reqwest::Method::DELETE, &format!("{base}/api/v1/session"), &good, None).await.0, 204);
    assert_eq!(code(&raw(get.clone(), &records, &good, None).await), (401, ErrorCode::Unauthorized));

    // Nothing changed: the child has one grade and no documents; the ledger only grew by the decisions made.
    let grades = guardian.list_records(fx.child, "edu.grades", None, 100).await.unwrap();
    assert_eq!(grades.records.len(), 1);
    assert!(guardian.collections().await.unwrap().iter().all(|c| c.doctype != "edu.documents"));
    let entries = all_entries(&guardian).await;
    let changes: Vec<_> = entries[entries_before..].iter().filter(|e| !event(e).starts_with("access_")).collect();
    assert!(changes.is_empty(), "bad input changed the family: {changes:?}");
    drop(access);

    // The OpenAPI document is served, and names the error envelope.
    let document = server.client().openapi().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    assert!(document["components"]["schemas"]["ErrorResponse"].is_object());
    assert!(document["paths"]["/api/v1/access-requests/{request}/continue"]["post"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_are_slowed_and_locked_out() {
    within(120, "sign-in limits", async {
        let server = Server::start(Backend::Sqlite).await;
        let fx = FamilyFixture::create(&server, "Girard", 12, 0);
        let client = server.client();
        // A member with no password, and one who does not exist, fail like a wrong password.
        let err = client.sign_in(fx.child, PASSWORD).await.unwrap_err();
        assert!(matches!(err, SdkError::Unauthorized { code: ErrorCode::Unauthorized, .. }), "{err:?}");
        let err = client.sign_in(cartable_sdk::MemberId(uuid::Uuid::now_v7()), PASSWORD).await.unwrap_err();
        assert!(matches!(err, SdkError::Unauthorized { .. }), "{err:?}");
        for _ in 0..4 {
            let err = client.sign_in(fx.guardian, "wrong password!").await.unwrap_err();
            assert!(matches!(err, SdkError::Unauthorized { .. }), "{err:?}");
        }
        // The fifth failure locks the member out; then even the right password is refused for a while.
        let err = client.sign_in(fx.guardian, "wrong password!").await.unwrap_err();
        assert!(matches!(err, SdkError::RateLimited { retry_after: Some(_) }), "{err:?}");
        let err = client.sign_in(fx.guardian, PASSWORD).await.unwrap_err();
        assert!(matches!(err, SdkError::RateLimited { .. }), "{err:?}");
        // Other members are not locked out by it.
        server.cli_in(&["member", "set-password", "--family", &fx.family.to_string(), "--member", &fx.child.to_string()], Some(&format!("{PASSWORD}\n")));
        let child = client.sign_in(fx.child, PASSWORD).await.unwrap();
        assert_eq!(child.role(), "child");
        // A child sees their own data but not the family's register.
        assert!(child.list_records(fx.child, "edu.grades", None, 10).await.is_ok());
        assert!(matches!(child.grants().await.unwrap_err(), SdkError::Denied { .. }));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adult_childs_data_is_not_the_guardians() {
    within(60, "adult child", async {
        let server = Server::start(Backend::Sqlite).await;
        let fx = FamilyFixture::create(&server, "Lambert", 12, 1);
        let (adult, adult_grade) = fx.add_child(&server, 19);
        let guardian = server.client().sign_in(fx.guardian, PASSWORD).await.unwrap();
        // The minor's collection is listed, the adult's is not, not even its size; reading it is refused.
        let collections = guardian.collections().await.unwrap();
        assert!(collections.iter().any(|c| c.child_id == fx.child));
        assert!(collections.iter().all(|c| c.child_id != adult), "{collections:?}");
        let err = guardian.read_record(adult_grade).await.unwrap_err();
        assert!(matches!(err, SdkError::Denied { .. }), "{err:?}");
        let err = guardian.list_records(adult, "edu.grades", None, 10).await.unwrap_err();
        assert!(matches!(err, SdkError::Denied { .. }), "{err:?}");
        guardian.read_record(fx.grades[0]).await.unwrap();
    })
    .await;
}
