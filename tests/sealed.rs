//! Sealed delivery end to end (issue 16), through the real server and the SDK, on SQLite and PostgreSQL: a
//! service with two instances reads sealed data; a copied token reads nothing; a retired instance, and every
//! instance after the revocation, opens nothing sealed after it, even with its whole saved state and the raw bytes;
//! restarts of the server and of the SDK keep the group working; each membership change is in the ledger.

mod api_support;
mod cli_support;
mod web_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use api_support::{Backend, FamilyFixture, PASSWORD, Server, all_entries, backends, contains, within};
use cartable_sdk::{Access, AccessState, Client, Instance, SdkError, Service, ServiceCredentials, sealed};

/// A sealed instance's state file and key, as a service keeps them.
struct Kept {
    path: PathBuf,
    key: [u8; 32],
}

impl Kept {
    fn new(dir: &Path, name: &str, seed: u8) -> Kept {
        Kept { path: dir.join(format!("{name}.mls")), key: [seed; 32] }
    }

    fn open(&self, credentials: &ServiceCredentials, name: &str) -> Instance {
        Instance::open(credentials.service_id, name, &self.path, self.key).unwrap()
    }

    /// The instance's whole saved state, as a thief who took the file and the key would restore it.
    fn stolen(&self) -> cartable_sealed::ServiceMember {
        cartable_sealed::ServiceMember::restore(&std::fs::read(&self.path).unwrap(), &self.key).unwrap()
    }
}

async fn sealed_service(client: &Client, credentials: &ServiceCredentials, kept: &Kept, name: &str) -> Service {
    client.service(credentials.clone()).with_instance(kept.open(credentials, name)).await.unwrap()
}

/// A raw GET with the token, as a proxy or a log would see the exchange.
async fn captured(server: &Server, state: &AccessState, path: &str) -> (String, Vec<u8>) {
    let response = reqwest::Client::new().get(format!("{}{path}", server.url)).bearer_auth(&state.access_token).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    (content_type, response.bytes().await.unwrap().to_vec())
}

fn record_path(fx: &FamilyFixture, id: cartable_sdk::RecordId) -> String {
    format!("/api/v1/families/{}/records/{id}", fx.family)
}

/// The group id of a grant: its id.
fn group(access: &Access) -> Vec<u8> {
    access.request_id().to_string().into_bytes()
}

fn sealed_changes(entries: &[cartable_sdk::LedgerEntry]) -> Vec<(String, u64, u64)> {
    entries
        .iter()
        .filter(|e| e.receipt["event"] == "sealed_membership")
        .map(|e| {
            let s = &e.receipt["sealed"];
            (s["change"].as_str().unwrap().to_owned(), s["instances"].as_u64().unwrap(), s["members"].as_u64().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_read_sealed_one_is_retired_then_the_grant_is_revoked() {
    for backend in backends() {
        within(240, "sealed delivery", story(backend)).await;
    }
}

async fn story(backend: Backend) {
    let server = Server::start(backend).await;
    let fx = FamilyFixture::create(&server, "Garnier", 12, 3);
    let (f, c) = (fx.family.to_string(), fx.child.to_string());
    // A file of 24 MiB, large enough that a download outlasts what the network holds in flight.
    let big = server.dir.path().join("bulletin.pdf");
    let content: Vec<u8> = (0..24u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&big, &content).unwrap();
    let file: cartable_sdk::RecordId = server.cli(&["file", "put", "--family", &f, "--child", &c, "--doctype", "edu.grades", big.to_str().unwrap()])["record_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let client = server.client();
    let credentials = client.register_service("Tutorat Scellé").await.unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (kept_a, kept_b) = (Kept::new(keys.path(), "a", 1), Kept::new(keys.path(), "b", 2));
    let service_a = sealed_service(&client, &credentials, &kept_a, "a").await;
    let service_b = sealed_service(&client, &credentials, &kept_b, "b").await;

    let pending = service_a.request_access(&fx.request(&["edu.grades"], &["read", "list", "search"])).await.unwrap();
    let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
    guardian.approve(pending.request_id).await.unwrap();
    let a = service_a.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
    // The second instance works under the same grant (one live token, shared through the saved state).
    let b = service_b.resume(a.state());
    b.sync().await.unwrap();
    assert!(service_a.instance().unwrap().is_member(a.request_id()) && service_b.instance().unwrap().is_member(a.request_id()));

    // Both read sealed data, with the same calls as in plain mode.
    for access in [&a, &b] {
        let record = access.read_record(fx.grades[0]).await.unwrap();
        assert_eq!(record.body["comment"], "secret-comment-0");
        let page = access.list_records("edu.grades", None, 10).await.unwrap();
        assert_eq!(page.records.len(), 4);
    }
    let found = a.search("mathématiques", &Default::default()).await.unwrap();
    assert_eq!(found.total, 3);
    let downloaded = b.download_file(file).await.unwrap();
    assert_eq!(downloaded.info.name, "bulletin.pdf");
    let mut bytes = Vec::new();
    let mut download = downloaded;
    while let Some(chunk) = download.chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
    }
    assert!(bytes == content, "the sealed download differs from the file");

    // What travels is MLS: a copied token, without an instance's state, reads nothing.
    let path = record_path(&fx, fx.grades[1]);
    let (content_type, raw) = captured(&server, &a.state(), &path).await;
    assert_eq!(content_type, sealed::MESSAGE_TYPE);
    assert!(!contains(&raw, b"secret-comment"), "a sealed response holds the record in clear");
    let thief = client.resume(a.state());
    let err = thief.read_record(fx.grades[1]).await.unwrap_err();
    assert!(matches!(err, SdkError::Sealed { .. }), "{err:?}");
    let (_, raw_file) = captured(&server, &a.state(), &format!("/api/v1/families/{f}/files/{file}")).await;
    assert!(!contains(&raw_file, &content[1000..1064]), "a sealed download holds the file in clear");
    assert!(!contains(&raw_file, b"bulletin.pdf"), "a sealed download names the file in clear");
    // A response is bound to its request: a record's answer is not taken for another's.
    let mut member = kept_a.stolen();
    let opened = member.open(&group(&a), &raw).unwrap();
    assert!(sealed::unbind(&opened, &path).is_some());
    assert!(sealed::unbind(&opened, &record_path(&fx, fx.grades[2])).is_none());

    // Instance b is retired: a reads on, b opens nothing sealed after, even with its whole saved state.
    let before_retirement = kept_b.stolen();
    let retired = service_a.retire_instance("b").await.unwrap();
    assert_eq!(retired.groups_left, 1);
    let record = a.read_record(fx.grades[2]).await.unwrap();
    assert_eq!(record.body["comment"], "secret-comment-2");
    let (_, after_retirement) = captured(&server, &a.state(), &record_path(&fx, fx.grades[2])).await;
    let err = b.read_record(fx.grades[2]).await.unwrap_err();
    assert!(matches!(err, SdkError::Sealed { .. }), "{err:?}");
    assert!(!service_b.instance().unwrap().is_member(a.request_id()), "the retired instance applied its removal");
    for mut state in [before_retirement, kept_b.stolen()] {
        assert!(state.open(&group(&a), &after_retirement).is_err(), "a retired instance opened a response sealed after its retirement");
    }
    assert!(kept_a.stolen().open(&group(&a), &after_retirement).is_ok());

    // A new instance c is added: its first read lets it into the group (the family side commits the add) and opens.
    let kept_c = Kept::new(keys.path(), "c", 3);
    let service_c = sealed_service(&client, &credentials, &kept_c, "c").await;
    let c = service_c.resume(a.state());
    assert_eq!(c.read_record(fx.grades[1]).await.unwrap().body["comment"], "secret-comment-1");
    assert!(service_c.instance().unwrap().is_member(a.request_id()));
    assert_eq!(a.read_record(fx.grades[1]).await.unwrap().body["comment"], "secret-comment-1", "a follows the add");

    // The grant is revoked while a large download runs: what is sealed after the revocation opens for nobody.
    let mut download = a.download_file(file).await.unwrap();
    let first = download.chunk().await.unwrap().expect("a first chunk");
    assert!(!first.is_empty());
    let before_revocation = kept_a.stolen();
    guardian.revoke(a.request_id()).await.unwrap();
    let mut got = first.len();
    let end = loop {
        match download.chunk().await {
            Ok(Some(chunk)) => got += chunk.len(),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(matches!(end, Err(SdkError::Sealed { .. })), "the download went on after the revocation: {end:?}, {got} bytes");
    assert!(got < content.len());
    let err = a.read_record(fx.grades[0]).await.unwrap_err();
    assert!(matches!(err, SdkError::Revoked { .. }), "{err:?}");
    a.sync().await.unwrap();
    assert!(!service_a.instance().unwrap().is_member(a.request_id()), "the revocation's commit removed the instance");
    // The raw bytes after the revocation, with a's whole state from before it (and after): nothing opens.
    let mut raw_after = Vec::new();
    let tail = reqwest::Client::new()
        .get(format!("{}/api/v1/families/{f}/files/{file}", server.url))
        .bearer_auth(a.state().access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 403, "a revoked grant's download is refused");
    raw_after.extend_from_slice(&tail.bytes().await.unwrap());
    assert!(!contains(&raw_after, &content[..64]));
    let _ = before_revocation;

    // Every membership change is an entry of the family's ledger, which verifies.
    let changes = sealed_changes(&all_entries(&guardian).await);
    let expected = [("created", 2, 2), ("removed", 1, 1), ("added", 1, 2), ("ended", 2, 0)].map(|(change, n, members)| (change.to_owned(), n, members));
    assert_eq!(changes, expected.to_vec(), "{changes:?}");
    let verified = server.cli(&["ledger", "verify", "--family", &f]);
    assert!(verified["size"].as_u64().unwrap() > 0, "{verified}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_of_the_server_and_of_the_sdk_keep_the_group_working() {
    for backend in backends() {
        within(180, "sealed restarts", async {
            let mut server = Server::start(backend).await;
            let fx = FamilyFixture::create(&server, "Lambert", 12, 2);
            let client = server.client();
            let credentials = client.register_service("Suivi Scellé").await.unwrap();
            let keys = tempfile::tempdir().unwrap();
            let kept = Kept::new(keys.path(), "main", 7);
            let service = sealed_service(&client, &credentials, &kept, "main").await;
            let pending = service.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap();
            client.sign_in(fx.guardian, PASSWORD).await.unwrap().approve(pending.request_id).await.unwrap();
            let access = service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
            assert_eq!(access.read_record(fx.grades[0]).await.unwrap().body["comment"], "secret-comment-0");
            let epoch = service.instance().unwrap().epoch(access.request_id()).unwrap();

            // The server restarts: it reads the group back from the database (rekeyed), and the instance follows.
            server.kill();
            let restarted = server.start_beside(&[]);
            let client = restarted.client();
            let service = client.service(credentials.clone()).with_instance(service.instance().unwrap().clone()).await.unwrap();
            let access = service.resume(access.state());
            assert_eq!(access.read_record(fx.grades[1]).await.unwrap().body["comment"], "secret-comment-1");
            assert!(service.instance().unwrap().epoch(access.request_id()).unwrap() > epoch, "the restored group was rekeyed");

            // The vault's leaf is due for renewal (a day old, here made so in the database): the next response is
            // sealed in a fresh epoch, which the instance follows.
            let before = service.instance().unwrap().epoch(access.request_id()).unwrap();
            let pool = restarted.database().await;
            sqlx::query("UPDATE sealed_groups SET renewed_at = 0").execute(&pool).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(access.read_record(fx.grades[0]).await.unwrap().body["comment"], "secret-comment-0");
            assert!(service.instance().unwrap().epoch(access.request_id()).unwrap() > before, "the leaf was not renewed");

            // The service restarts: its instance comes back from its file, and reads on.
            let saved = access.state();
            drop((access, service));
            let service = sealed_service(&client, &credentials, &kept, "main").await;
            let access = service.resume(saved);
            assert_eq!(access.read_record(fx.grades[0]).await.unwrap().body["comment"], "secret-comment-0");
            // The grant reaches its end (the sweep run as a month from now would): its group keeps no instance, in
            // the expiry's own transaction.
            let vault = restarted.vault().await;
            let family = cartable_consent::FamilyId::from_uuid(fx.family.0);
            assert_eq!(vault.sweep(family, time::OffsetDateTime::now_utc() + time::Duration::days(31)).await.unwrap(), 1);
            access.sync().await.unwrap();
            assert!(!service.instance().unwrap().is_member(access.request_id()), "the expiry's commit removed the instance");
            let err = access.read_record(fx.grades[0]).await.unwrap_err();
            assert!(matches!(err, SdkError::Expired { .. }), "{err:?}");
            let ended = sealed_changes(&all_entries(&client.sign_in(fx.guardian, PASSWORD).await.unwrap()).await);
            assert_eq!(ended.last(), Some(&("ended".to_owned(), 1, 0)), "{ended:?}");

            // With the wrong key, the saved state does not open.
            let err = Instance::open(credentials.service_id, "main", &kept.path, [9; 32]).unwrap_err();
            assert!(matches!(err, SdkError::Sealed { .. }), "{err:?}");
            drop(restarted);
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_packages_and_names_are_refused_and_change_nothing() {
    within(90, "sealed refusals", async {
        let server = Server::start(Backend::Sqlite).await;
        let fx = FamilyFixture::create(&server, "Robin", 12, 1);
        let client = server.client();
        let credentials = client.register_service("Essai").await.unwrap();
        let other = client.register_service("Autre").await.unwrap();
        let keys = tempfile::tempdir().unwrap();
        // KeyPackages naming another service's instance are refused, and the service stays plain.
        let foreign = Kept::new(keys.path(), "x", 3).open(&other, "x");
        let err = client.service(credentials.clone()).with_instance(foreign).await.unwrap_err();
        assert!(matches!(err, SdkError::InvalidRequest { .. }), "{err:?}");
        for name in ["", "a b", "../x", &"n".repeat(65)] {
            let response = reqwest::Client::new()
                .post(format!("{}/api/v1/sealed/instances/{}/key-packages", server.url, urlencode(name)))
                .basic_auth(credentials.service_id.to_string(), Some(&credentials.secret))
                .json(&serde_json::json!({ "key_packages": ["AAAA"] }))
                .send()
                .await
                .unwrap();
            assert!(matches!(response.status().as_u16(), 400 | 404 | 405), "{name:?}: {}", response.status());
        }
        let plain = client.service(credentials.clone());
        let pending = plain.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap();
        client.sign_in(fx.guardian, PASSWORD).await.unwrap().approve(pending.request_id).await.unwrap();
        let access = plain.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
        assert_eq!(access.read_record(fx.grades[0]).await.unwrap().body["comment"], "secret-comment-0", "a plain service reads in the clear");
        let response = reqwest::Client::new().get(format!("{}/api/v1/sealed/mailbox", server.url)).bearer_auth(access.state().access_token).send().await.unwrap();
        assert_eq!(response.status(), 404, "a plain service's grant has no mailbox");
        // Retiring an instance it never had is refused.
        let err = plain.retire_instance("nobody").await.unwrap_err();
        assert!(matches!(err, SdkError::InvalidRequest { .. }), "{err:?}");
    })
    .await;
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// The SDK's example runs in sealed mode against a live server: it registers, asks, is approved by the guardian,
/// joins the grant's group, reads and writes, and sees the revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_example_runs_sealed() {
    let server = Server::start(Backend::Sqlite).await;
    let fx = FamilyFixture::create(&server, "Exemple", 12, 2);
    let state = server.dir.path().join("tutoring-instance.mls");
    let (url, family, child, guardian) = (server.url.clone(), fx.family.to_string(), fx.child.to_string(), fx.guardian.to_string());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["run", "-q", "-p", "cartable-sdk", "--features", "client", "--example", "tutoring", "--"])
            .args([url.as_str(), family.as_str(), child.as_str(), "--guardian", guardian.as_str(), "--state"])
            .arg(&state)
            .env("CARTABLE_GUARDIAN_PASSWORD", PASSWORD)
            .output()
            .expect("run the example")
    });
    let output = within(900, "the SDK example", output).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the example failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for expected in ["sealed mode: instance `tutoring-1`", "joined the grant's MLS group", "2 grade(s), average 10.5", "checksum verified", "after the revocation"] {
        assert!(stdout.contains(expected), "the example did not say {expected:?}: {stdout}");
    }
}

/// The family sees on its grants page which grants are sealed, and for how many of the service's instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grants_page_says_who_can_open_sealed_data() {
    within(120, "the grants page", async {
        let server = Server::start(Backend::Sqlite).await;
        let mut web = web_support::WebFamily::create(&server, "Girard", "claire.girard").await;
        let family = web.family.clone();
        let birth = api_support::born_years_ago(11);
        let child = server.cli(&["member", "add", "--family", &family, "--role", "child", "--name", "Inès", "--birth-date", &birth])["member_id"].as_str().unwrap().to_owned();
        let client = server.client();
        let credentials = client.register_service("Soutien Scellé").await.unwrap();
        let keys = tempfile::tempdir().unwrap();
        let (one, two) = (Kept::new(keys.path(), "one", 4), Kept::new(keys.path(), "two", 5));
        let service = sealed_service(&client, &credentials, &one, "one").await;
        sealed_service(&client, &credentials, &two, "two").await;
        let pending = service.request_access(&web_support::grades_request(&family, &child, "soutien", 30)).await.unwrap();
        let requests = web.guardian.get(&format!("/family/{family}/requests")).await;
        let done = web.guardian.post(&format!("/family/{family}/requests/{}/approve", pending.request_id), &[("csrf", &requests.csrf())]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();

        let card = |body: &str| {
            let at = body.find(&format!("id=\"grant-{}\"", pending.request_id)).expect("the grant's card");
            body[at..at + body[at..].find("</article>").unwrap()].to_owned()
        };
        let grants = web.guardian.get(&format!("/family/{family}/grants")).await;
        assert!(card(&grants.body).contains("chiffrées de bout en bout pour 2 instances du service"), "{}", card(&grants.body));
        assert!(grants.body.contains("Soutien Scellé : données d&#39;Inès"), "the heading elides (escaped): {}", grants.body);
        service.retire_instance("two").await.unwrap();
        let grants = web.guardian.get(&format!("/family/{family}/grants")).await;
        assert!(card(&grants.body).contains("pour 1 instance du service"), "{}", card(&grants.body));
        let revoke = web.guardian.post(&format!("/family/{family}/grants/{}/revoke", pending.request_id), &[("csrf", &grants.csrf())]).await;
        assert_eq!(revoke.status, 303, "{}", revoke.body);
        let grants = web.guardian.get(&format!("/family/{family}/grants")).await;
        assert!(card(&grants.body).contains("plus aucune instance du service ne peut ouvrir les données"), "{}", card(&grants.body));
        // The history says it in words, the server as the one who acted.
        let history = web.guardian.get(&format!("/family/{family}/history")).await;
        for words in ["a ouvert la livraison scellée à 2 instance(s) du service", "a retiré 1 instance(s) du service de la livraison scellée", "a fermé la livraison scellée"] {
            assert!(history.body.contains(words), "`{words}` is not in the history: {}", history.body);
        }
    })
    .await;
}
