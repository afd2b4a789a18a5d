//! The family's archive downloaded over HTTP (`GET /api/v1/families/{family}/archive`, the SDK, the settings page):
//! each caller gets what the family's rules show them, every part decided and logged for them.
//!
//! - A guardian who manages every child gets the whole family (`scope: family`): it verifies, it holds this very
//!   download's decisions in its ledger, and another server imports it (the family moving itself, with the SDK).
//!   With a passphrase it is one age file; a passphrase too short is refused.
//! - A guardian whose other child is an adult gets their view (`scope: member`): none of the adult's data, grants,
//!   policies or ledger entries, each entry it holds proven against the signed checkpoint; an entry altered or a
//!   proof removed is caught; such an archive does not import. The adult gets theirs, without their sibling's.
//! - A service gets the collections its `export` grant covers and nothing else (`scope: service`); a grant without
//!   `export`, a revoked grant: 403, logged (`api_gate.rs` walks the other refusals, a DPO's among them).
//! - The settings page's form downloads the archive with the page's CSRF token, and refuses a form without it.

mod api_support;
mod archive_support;
mod cli_support;
mod web_support;

use std::time::Duration;

use api_support::{Backend, FamilyFixture, PASSWORD, Server, backends, within};
use archive_support::{entries, entry, forged, manifest};
use futures::TryStreamExt;
use serde_json::Value;

async fn collect(stream: cartable_sdk::ByteStream) -> Vec<u8> {
    stream.try_fold(Vec::new(), |mut all, chunk| async move {
        all.extend_from_slice(&chunk);
        Ok(all)
    })
    .await
    .expect("the whole download")
}

fn paths(zip: &[u8]) -> Vec<String> {
    entries(zip).into_iter().map(|(n, _)| n).collect()
}

/// The arguments of `archive verify` for these bytes (written to a file), with a passphrase file if one is given.
fn verify_args(server: &Server, zip: &[u8], passphrase: Option<&str>) -> Vec<String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let path = server.dir.path().join(format!("check-{}.zip", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, zip).unwrap();
    let mut args = vec!["archive".to_owned(), "verify".to_owned(), path.to_str().unwrap().to_owned()];
    if let Some(passphrase) = passphrase {
        let file = server.dir.path().join("pass.txt");
        std::fs::write(&file, format!("{passphrase}\n")).unwrap();
        args.extend(["--passphrase-file".to_owned(), file.to_str().unwrap().to_owned()]);
    }
    args
}

/// `archive verify` on the server's command line: its report (the test fails if it fails).
fn verified(server: &Server, zip: &[u8], passphrase: Option<&str>) -> Value {
    let args = verify_args(server, zip, passphrase);
    server.cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `archive verify` that must fail: its one-line error.
fn refused(server: &Server, zip: &[u8]) -> String {
    let args = verify_args(server, zip, None);
    server.cli_fails(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The lines of the archive's ledger, parsed.
fn ledger_lines(zip: &[u8]) -> Vec<Value> {
    String::from_utf8(entry(&entries(zip), "ledger/entries.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_downloads_the_whole_family_and_another_server_imports_it() {
    for backend in backends() {
        within(300, "the guardian's download", guardian_moves_the_family(backend)).await;
    }
}

async fn guardian_moves_the_family(backend: Backend) {
    let a = Server::start(backend).await;
    let fx = FamilyFixture::create(&a, "Martin", 12, 3);
    let (f, child) = (fx.family.to_string(), fx.child.to_string());
    let file = a.dir.path().join("bulletin T1.pdf");
    std::fs::write(&file, (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect::<Vec<u8>>()).unwrap();
    a.cli(&["file", "put", "--family", &f, "--child", &child, "--doctype", "edu.report-cards", file.to_str().unwrap()]);
    let guardian = a.client().sign_in(fx.guardian, PASSWORD).await.unwrap();
    // Calls about children who do not exist are refused and logged with a subject that names nobody: the guardian
    // sees those entries too, so the log stays whole (found by Schemathesis: the export broke off).
    let nobody: cartable_sdk::MemberId = uuid::Uuid::now_v7().to_string().parse().unwrap();
    guardian.list_records(nobody, "edu.grades", None, 10).await.expect_err("no such child");
    guardian.list_records(fx.guardian, "edu.grades", None, 10).await.expect_err("a guardian has no collections");

    let zip = collect(guardian.download_archive(None).await.unwrap()).await;
    let head = manifest(&zip);
    assert_eq!(head["scope"], "family", "a guardian who manages every child has all of it: {head}");
    assert_eq!((head["counts"]["records"].as_u64(), head["counts"]["files"].as_u64()), (Some(4), Some(1)), "{head}");
    let report = verified(&a, &zip, None);
    assert_eq!(report["verified"], true, "{report}");
    assert!(!paths(&zip).contains(&"ledger/proofs.jsonl".to_owned()), "the whole log needs no proofs");
    // The download is an access in the very ledger it carries: the guardian's export of each collection.
    let exports: Vec<Value> = ledger_lines(&zip)
        .into_iter()
        .filter(|e| e["event"] == "access_allowed" && e["action"] == "export" && e["actor"]["id"] == fx.guardian.to_string().as_str())
        .collect();
    assert_eq!(exports.len(), 2, "grades and report cards, each decided for the guardian");
    // The file is in it byte for byte.
    let original = std::fs::read(&file).unwrap();
    assert!(entries(&zip).iter().any(|(n, b)| n.ends_with("/bulletin T1.pdf") && *b == original));

    // With a passphrase: one age file that opens with it; a passphrase too short is refused.
    let sealed = collect(guardian.download_archive(Some("une phrase de passe assez longue")).await.unwrap()).await;
    assert!(sealed.starts_with(b"age-encryption.org/v1"));
    assert_eq!(verified(&a, &sealed, Some("une phrase de passe assez longue"))["scope"], "family");
    let short = guardian.download_archive(Some("court")).await.err().expect("a short passphrase");
    assert!(short.to_string().contains("at least 8"), "{short}");

    // Another server imports it through the SDK with the operator's invitation: the family has moved itself.
    let b = Server::start(backend).await;
    let link = b.cli(&["archive", "invite"])["link"].as_str().unwrap().to_owned();
    let token = link.rsplit('/').next().unwrap().to_owned();
    let body = futures::stream::iter(zip.chunks(64 * 1024).map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c))).collect::<Vec<_>>());
    let imported = b.client().import_archive(&token, body, None).await.unwrap();
    assert_eq!((imported.records, imported.files, imported.members), (3, 1, 2), "{imported:?}");
    assert_eq!(imported.invitations.len(), 1, "the guardian is invited to sign in again");
    b.cli(&["ledger", "verify", "--family", &f]);
    let again = b.dir.path().join("again.zip");
    b.cli(&["archive", "export", "--family", &f, "--out", again.to_str().unwrap()]);
    let again = entries(&std::fs::read(&again).unwrap());
    for (name, bytes) in entries(&zip).iter().filter(|(n, _)| n.starts_with("children/")) {
        assert_eq!(&entry(&again, name), bytes, "{name} came back as it was");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gets_their_view_with_each_entry_proven() {
    for backend in backends() {
        within(300, "the members' views", members_views(backend)).await;
    }
}

async fn members_views(backend: Backend) {
    let a = Server::start(backend).await;
    // The fixture's child is the adult; a minor sibling beside them.
    let fx = FamilyFixture::create(&a, "Martin", 19, 2);
    let (minor, _) = fx.add_child(&a, 11);
    let (f, adult) = (fx.family.to_string(), fx.child.to_string());
    a.cli_in(&["member", "set-password", "--family", &f, "--member", &adult], Some(&format!("{PASSWORD}\n")));
    let client = a.client();
    // The adult grants a service their grades, and keeps their own prohibition.
    let service = client.service(client.register_service("Orientation").await.unwrap());
    let pending = service.request_access(&fx.request(&["edu.grades"], &["read", "list"])).await.unwrap();
    let adult_session = client.sign_in(fx.child, PASSWORD).await.unwrap();
    adult_session.approve(pending.request_id).await.unwrap();
    adult_session.forbid_own("health.pai", fx.child).await.unwrap();
    let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();

    let zip = collect(guardian.download_archive(None).await.unwrap()).await;
    let head = manifest(&zip);
    assert_eq!(head["scope"], "member", "the adult keeps their data to themselves: {head}");
    let names = paths(&zip);
    assert!(names.iter().any(|n| n.starts_with(&format!("children/{minor}/"))), "the minor's data: {names:?}");
    assert!(!names.iter().any(|n| n.contains(&adult)), "nothing of the adult's data: {names:?}");
    assert!(names.contains(&"ledger/proofs.jsonl".to_owned()));
    let all = entries(&zip);
    for part in ["grants.json", "policies.cedar", "prohibitions.json"] {
        let text = String::from_utf8(entry(&all, part)).unwrap();
        assert!(!text.contains(&adult), "{part} names nothing of the adult's: {text}");
    }
    let lines = ledger_lines(&zip);
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|e| e["principal"] != adult.as_str()), "no entry about the adult");
    let report = verified(&a, &zip, None);
    assert_eq!((report["scope"].as_str(), report["verified"].as_bool()), (Some("member"), Some(true)), "{report}");
    assert!(report["ledger_size"].as_u64().unwrap() > lines.len() as u64, "a view of a longer log: {report}");

    // An entry altered, a proof removed, a proof moved: each is caught, even with the manifest made to agree.
    let altered = forged(&zip, |all| {
        let at = all.iter().position(|(n, _)| n == "ledger/entries.jsonl").unwrap();
        let text = String::from_utf8(all[at].1.clone()).unwrap();
        all[at].1 = text.replacen("access_allowed", "access_denied", 1).into_bytes();
    });
    let error = refused(&a, &altered);
    assert!(error.contains("is not in the log its checkpoint signs"), "{error}");
    let removed = forged(&zip, |all| {
        let at = all.iter().position(|(n, _)| n == "ledger/proofs.jsonl").unwrap();
        let text = String::from_utf8(all[at].1.clone()).unwrap();
        all[at].1 = text.lines().skip(1).map(|l| format!("{l}\n")).collect::<String>().into_bytes();
    });
    refused(&a, &removed);
    let without = forged(&zip, |all| all.retain(|(n, _)| n != "ledger/proofs.jsonl"));
    assert!(refused(&a, &without).contains("proofs.jsonl"));

    // A view is not a family: another server does not import it.
    let b = Server::start(Backend::Sqlite).await;
    let path = b.dir.path().join("view.zip");
    std::fs::write(&path, &zip).unwrap();
    let refused = b.cli_fails(&["archive", "import", path.to_str().unwrap()]);
    assert!(refused.contains("not the whole family"), "{refused}");

    // The adult's own: their data, not their sibling's.
    let theirs = collect(adult_session.download_archive(None).await.unwrap()).await;
    let names = paths(&theirs);
    assert_eq!(manifest(&theirs)["scope"], "member");
    assert!(names.iter().any(|n| n.starts_with(&format!("children/{adult}/edu.grades/"))), "{names:?}");
    assert!(!names.iter().any(|n| n.contains(&minor.to_string())), "nothing of the sibling's: {names:?}");
    assert_eq!(verified(&a, &theirs, None)["verified"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_exports_only_what_its_grant_covers() {
    for backend in backends() {
        within(300, "the services' downloads", services_downloads(backend)).await;
    }
}

async fn services_downloads(backend: Backend) {
    let a = Server::start(backend).await;
    let fx = FamilyFixture::create(&a, "Martin", 12, 3);
    let (f, child) = (fx.family.to_string(), fx.child.to_string());
    a.cli_in(&["record", "put", "--family", &f, "--child", &child, "--doctype", "edu.homework", "--body", "-"], Some(r#"{"subject": "français", "task": "rédaction"}"#));
    let client = a.client();
    let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
    let grant = |name: &'static str, actions: &'static [&'static str]| {
        let (client, guardian, request) = (&client, &guardian, fx.request(&["edu.grades"], actions));
        async move {
            let service = client.service(client.register_service(name).await.unwrap());
            let pending = service.request_access(&request).await.unwrap();
            guardian.approve(pending.request_id).await.unwrap();
            service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap()
        }
    };
    let exporter = grant("Portfolio", &["read", "list", "export"]).await;
    let zip = collect(exporter.download_archive().await.unwrap()).await;
    let head = manifest(&zip);
    assert_eq!(head["scope"], "service", "{head}");
    let mut names = paths(&zip);
    names.sort();
    assert_eq!(names, [format!("children/{child}/edu.grades/records.jsonl"), "family.json".to_owned(), "manifest.json".to_owned()]);
    let grades = String::from_utf8(entry(&entries(&zip), &format!("children/{child}/edu.grades/records.jsonl"))).unwrap();
    assert_eq!(grades.lines().count(), 3);
    assert!(!String::from_utf8(entry(&entries(&zip), "family.json")).unwrap().contains("Martin"), "a service is not given the family's name");
    assert_eq!(verified(&a, &zip, None)["verified"], true);
    let logged = api_support::all_entries(&guardian).await;
    assert!(logged.iter().any(|e| e.receipt["event"] == "access_allowed" && e.receipt["action"] == "export" && e.receipt["service"].is_string()), "the service's export is in the family's ledger");

    // A grant without `export`: 403, logged; a revoked grant: 403.
    let reader = grant("Lecteur", &["read", "list"]).await;
    let before = api_support::all_entries(&guardian).await.len();
    let refused = reader.download_archive().await.err().expect("no export in the grant");
    assert!(matches!(refused, cartable_sdk::SdkError::Denied { .. }), "{refused:?}");
    let after = api_support::all_entries(&guardian).await;
    assert!(
        after[before..].iter().any(|e| e.receipt["event"] == "access_denied" && e.receipt["action"] == "export" && e.receipt["actor"]["kind"] == "service"),
        "the refusal is logged: {:?}",
        &after[before..]
    );
    guardian.revoke(exporter.request_id()).await.unwrap();
    let revoked = exporter.download_archive().await.err().expect("a revoked grant");
    assert!(revoked.to_string().contains("revoked"), "{revoked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_page_downloads_the_archive() {
    within(120, "the settings page's download", settings_download()).await;
}

async fn settings_download() {
    let server = Server::start(Backend::Sqlite).await;
    let mut family = web_support::WebFamily::create(&server, "Martin", "claire").await;
    let path = format!("/family/{}/settings", family.family);
    let page = family.guardian.get(&path).await;
    assert!(page.body.contains("id=\"download-archive\"") && page.body.contains("Télécharger nos données"), "{}", page.body);
    let csrf = page.csrf();
    let form = format!("/family/{}/settings/archive", family.family);
    let without = family.guardian.post(&form, &[("csrf", "wrong"), ("passphrase", "")]).await;
    assert_eq!(without.status, 403, "a form without the page's token");
    let short = family.guardian.post(&form, &[("csrf", &csrf), ("passphrase", "court")]).await;
    assert_eq!(short.status, 400);
    assert!(short.body.contains("au moins 8 caractères"), "{}", short.body);
    // The download itself, read as bytes.
    let cookies: String = family.guardian.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let answer = reqwest::Client::new()
        .post(format!("{}{form}", server.url))
        .header("cookie", cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("csrf", csrf.as_str()), ("passphrase", "")]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/zip");
    assert!(answer.headers()["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"cartable-"));
    let zip = answer.bytes().await.unwrap().to_vec();
    assert_eq!(manifest(&zip)["scope"], "family");
    assert_eq!(verified(&server, &zip, None)["verified"], true);
}
