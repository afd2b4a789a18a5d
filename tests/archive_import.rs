//! `cartable archive import`: a family exported from one server's vault comes back whole in another's (SQLite to
//! SQLite, and SQLite to PostgreSQL and back when the test script started one): the same records and files byte for
//! byte, the same members, grants in the same states and prohibitions, and a ledger whose first entries are the
//! original ones, followed by the import's own, that `ledger verify` passes; a guardian signs in again through the
//! invitation the import prints. An archive that is altered, of the wrong kind, already imported, or not an archive
//! at all is refused with one clear line, and nothing is left behind: no family, no blob. Over HTTP, with the
//! operator's one-time invitation, the same import through the API and through the web UI's page (and its form in a
//! real browser), which leaves no copy of the archive behind.

mod api_support;
mod archive_support;
mod cli_support;
mod web_support;

use std::io::{Cursor, Write};

use api_support::{Backend, FamilyFixture, PASSWORD, Server, backends, within};
use archive_support::{entries, entry, forged};
use cartable_consent::{Action, Doctype, Resource};

/// An SDK id as the vault's (the same UUID).
fn vault_id<T: std::str::FromStr>(id: impl std::fmt::Display) -> T {
    id.to_string().parse().ok().expect("the same UUID")
}
use serde_json::Value;

fn text(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_else(|| panic!("no {field} in {v}")).to_owned()
}

/// The family's data as an export shows it: every entry but the ledger, the page and the manifest (which hold this
/// export's own decisions and times).
fn data_entries(all: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    all.iter()
        .filter(|(n, _)| !n.starts_with("ledger/") && n != "index.html" && n != "manifest.json" && n != "family.json" && n != "policies.cedar")
        .cloned()
        .collect()
}

/// Every file under the data folder's blob store for this family.
fn blobs_of(data: &std::path::Path, family: &str) -> usize {
    let dir = data.join("blobs").join(family);
    std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0)
}

/// A family with what an archive must carry: two children (one adult), records (one rewritten, one larger than the
/// database keeps inline), two files, grants active, revoked and pending, and prohibitions.
async fn rich_family(server: &Server) -> (FamilyFixture, cartable_sdk::MemberId) {
    let fx = FamilyFixture::create(server, "Martin", 12, 3);
    let (f, child) = (fx.family.to_string(), fx.child.to_string());
    let (adult, _) = fx.add_child(server, 19);
    let long = serde_json::json!({"subject": "français", "comment": "rédaction ".repeat(12_000)}).to_string();
    server.cli_in(&["record", "put", "--family", &f, "--child", &child, "--doctype", "edu.homework", "--body", "-"], Some(&long));
    let dir = tempfile::tempdir().unwrap();
    for (name, size) in [("bulletin été T1.pdf", 300_000u32), ("photo sortie.jpg", 70_000)] {
        let path = dir.path().join(name);
        std::fs::write(&path, (0..size).map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8).collect::<Vec<u8>>()).unwrap();
        server.cli(&["file", "put", "--family", &f, "--child", &child, "--doctype", "edu.report-cards", path.to_str().unwrap()]);
    }
    // A record rewritten twice: version 3, each write in the ledger.
    let vault = server.vault().await;
    let record = vault_id(fx.grades[0]);
    let permit = vault.as_operator(vault_id(fx.family), Action::Write, Resource::Record { id: record, child: vault_id(fx.child), doctype: Doctype::Grades }).await.unwrap();
    for grade in [14, 16] {
        vault.update_record(&permit, record, "operator".into(), serde_json::json!({"subject": "mathématiques", "grade": grade})).await.unwrap();
    }
    vault.close().await.unwrap();
    server.cli(&["policy", "forbid", "--family", &f, "--doctype", "health.pai"]);
    let service = text(&server.cli(&["service", "register", "--name", "Tutorat Plus", "--description", "Soutien scolaire en ligne"]), "service_id");
    let request = |doctypes: &str| {
        let v = server.cli(&["request", "create", "--service", &service, "--family", &f, "--child", &child, "--doctype", doctypes, "--actions", "read,list", "--purpose", "suivi de Léa en maths", "--days", "90"]);
        text(&v, "request_id")
    };
    let active = request("edu.grades");
    server.cli(&["request", "approve", "--family", &f, "--request", &active, "--by", &fx.guardian.to_string()]);
    let revoked = request("edu.homework");
    server.cli(&["request", "approve", "--family", &f, "--request", &revoked, "--by", &fx.guardian.to_string()]);
    server.cli(&["grant", "revoke", "--family", &f, "--grant", &revoked, "--by", &fx.guardian.to_string()]);
    request("edu.timetable");
    (fx, adult)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_comes_back_whole_from_its_archive() {
    let legs = match backends().as_slice() {
        [_, _] => vec![(Backend::Sqlite, Backend::Postgres), (Backend::Postgres, Backend::Sqlite)],
        _ => vec![(Backend::Sqlite, Backend::Sqlite)],
    };
    for (from, to) in legs {
        within(300, "the round trip", round_trip(from, to)).await;
    }
}

async fn round_trip(from: Backend, to: Backend) {
    let a = Server::start(from).await;
    let (fx, adult) = rich_family(&a).await;
    let family = fx.family.to_string();
    let out = a.dir.path().join("martin.zip");
    a.cli(&["archive", "export", "--family", &family, "--out", out.to_str().unwrap()]);
    let first = entries(&std::fs::read(&out).unwrap());
    let key_a = text(&a.cli(&["ledger", "key"]), "verifier_key");

    let b = Server::start(to).await;
    let report = b.cli(&["archive", "import", out.to_str().unwrap(), "--key", &key_a, "--invite"]);
    assert_eq!(report["family_id"], family.as_str(), "{report}");
    assert_eq!((report["members"].as_u64(), report["records"].as_u64(), report["files"].as_u64()), (Some(3), Some(5), Some(2)), "{report}");
    assert_eq!((report["grants"].as_u64(), report["prohibitions"].as_u64()), (Some(3), Some(1)), "{report}");
    assert_eq!(report["services_registered"].as_array().map(Vec::len), Some(1), "the service is new on this server: {report}");
    let verified = b.cli(&["ledger", "verify", "--family", &family]);
    assert_eq!(verified["grants_checked"].as_u64(), Some(3), "{verified}");

    // Exported again from B, the family is the same, byte for byte.
    let again = b.dir.path().join("again.zip");
    b.cli(&["archive", "export", "--family", &family, "--out", again.to_str().unwrap()]);
    let second = entries(&std::fs::read(&again).unwrap());
    assert_eq!(data_entries(&first), data_entries(&second), "records, files, members, services, grants and prohibitions");
    let name = |all: &[(String, Vec<u8>)]| serde_json::from_slice::<Value>(&entry(all, "family.json")).unwrap()["name"].clone();
    assert_eq!(name(&first), name(&second));
    let grades = String::from_utf8(entry(&second, &format!("children/{}/edu.grades/records.jsonl", fx.child))).unwrap();
    assert!(grades.contains(r#""version":3"#), "the rewritten record keeps its version: {grades}");
    // The ledger: the original entries first, then the import's own.
    let (old_log, new_log) = (String::from_utf8(entry(&first, "ledger/entries.jsonl")).unwrap(), String::from_utf8(entry(&second, "ledger/entries.jsonl")).unwrap());
    let old_lines: Vec<&str> = old_log.lines().collect();
    let new_lines: Vec<&str> = new_log.lines().collect();
    assert_eq!(&new_lines[..old_lines.len()], &old_lines[..], "the first entries are the original ones");
    let import: Value = serde_json::from_str(new_lines[old_lines.len()]).unwrap();
    assert_eq!((import["event"].as_str(), import["actor"]["kind"].as_str()), (Some("import"), Some("operator")), "{import}");

    // The guardian signs in again through their invitation and finds the data and the grants as they were.
    let link = text(&report["invitations"][0], "link");
    let token = link.rsplit('/').next().unwrap();
    let vault = b.vault().await;
    let login = format!("claire-{}", &family[..8]);
    let accepted = vault
        .accept_invitation(&cartable::auth::hash_token(token), cartable_vault::Acceptance { name: "", login: &login, password_hash: &cartable::auth::hash_password(PASSWORD).unwrap() })
        .await
        .unwrap();
    assert!(matches!(accepted, cartable_vault::Accepted::Guardian { member, .. } if member.to_string() == fx.guardian.to_string()), "{accepted:?}");
    vault.close().await.unwrap();
    let guardian = b.client().sign_in(fx.guardian, PASSWORD).await.unwrap();
    let record = guardian.read_record(fx.grades[0]).await.unwrap();
    assert_eq!(record.body["grade"], 16, "{:?}", record.body);
    let grants = guardian.grants().await.unwrap();
    let mut states: Vec<String> = grants.iter().map(|g| g.state.clone()).collect();
    states.sort();
    assert_eq!(states, ["active", "requested", "revoked"]);
    // The adult's data came back too, and is still theirs alone.
    assert!(guardian.list_records(adult, "edu.grades", None, 10).await.is_err(), "a guardian does not read an adult child's grades");
    assert!(grades.contains("mathématiques"));
    // The service waits for the operator here.
    let pending = b.cli(&["service", "pending"]);
    assert_eq!(pending["services"].as_array().map(Vec::len), Some(1), "{pending}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_archive_is_refused_and_leaves_nothing_behind() {
    within(300, "the refusals", refusals()).await;
}

async fn refusals() {
    let a = Server::start(Backend::Sqlite).await;
    let (fx, _) = rich_family(&a).await;
    let family = fx.family.to_string();
    let out = a.dir.path().join("martin.zip");
    a.cli(&["archive", "export", "--family", &family, "--out", out.to_str().unwrap()]);
    let zip = std::fs::read(&out).unwrap();
    let b = Server::start(Backend::Sqlite).await;
    let nothing_left = |what: &str| {
        let families = b.cli(&["family", "list"]);
        assert_eq!(families["families"].as_array().map(Vec::len), Some(0), "{what}: {families}");
        assert_eq!(blobs_of(&b.data, &family), 0, "{what}: no blob left");
    };
    let try_import = |bytes: Vec<u8>, expected: &str| {
        let path = b.dir.path().join("bad.zip");
        std::fs::write(&path, bytes).unwrap();
        let error = b.cli_fails(&["archive", "import", path.to_str().unwrap()]);
        assert!(error.contains(expected), "expected `{expected}` in: {error}");
        nothing_left(expected);
    };
    let grants_at = |all: &mut Vec<(String, Vec<u8>)>| all.iter().position(|(n, _)| n == "grants.json").unwrap();
    // A revoked grant made active again in grants.json, the manifest made to agree: the ledger says otherwise.
    try_import(
        forged(&zip, |all| {
            let at = grants_at(all);
            all[at].1 = String::from_utf8(all[at].1.clone()).unwrap().replace("\"revoked\"", "\"active\"").into_bytes();
        }),
        "does not agree",
    );
    // A grant's scope widened.
    try_import(
        forged(&zip, |all| {
            let at = grants_at(all);
            all[at].1 = String::from_utf8(all[at].1.clone()).unwrap().replacen("\"read\"", "\"write\"", 1).into_bytes();
        }),
        "does not agree",
    );
    // The rewritten record put back to its first version: the ledger's writes of it say otherwise.
    let grades = format!("children/{}/edu.grades/records.jsonl", fx.child);
    try_import(
        forged(&zip, |all| {
            let at = all.iter().position(|(n, _)| *n == grades).unwrap();
            all[at].1 = String::from_utf8(all[at].1.clone()).unwrap().replace(r#""version":3"#, r#""version":1"#).into_bytes();
        }),
        "version",
    );
    // A record of another family's child.
    try_import(
        forged(&zip, |all| {
            let at = all.iter().position(|(n, _)| *n == grades).unwrap();
            let stranger = uuid::Uuid::now_v7().to_string();
            let moved = String::from_utf8(all[at].1.clone()).unwrap().replace(&fx.child.to_string(), &stranger);
            all.remove(at);
            all.insert(0, (format!("children/{stranger}/edu.grades/records.jsonl"), moved.into_bytes()));
            for (name, _) in all.iter_mut() {
                *name = name.replace(&format!("children/{}/edu.grades", fx.child), &format!("children/{stranger}/edu.grades"));
            }
        }),
        "not a child of the family",
    );
    // A ledger cut short (the checkpoint then signs another size).
    try_import(
        forged(&zip, |all| {
            let at = all.iter().position(|(n, _)| n == "ledger/entries.jsonl").unwrap();
            let log = String::from_utf8(all[at].1.clone()).unwrap();
            let kept: Vec<&str> = log.lines().collect();
            all[at].1 = (kept[..kept.len() - 1].join("\n") + "\n").into_bytes();
        }),
        "checkpoint",
    );
    // A member's view of the family, not the whole of it.
    try_import(
        {
            let mut all = entries(&zip);
            let at = all.iter().position(|(n, _)| n == "manifest.json").unwrap();
            let mut manifest: Value = serde_json::from_slice(&all[at].1).unwrap();
            manifest["scope"] = "member".into();
            all[at].1 = serde_json::to_vec(&manifest).unwrap();
            let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
            for (name, bytes) in all {
                zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
                zip.write_all(&bytes).unwrap();
            }
            zip.finish().unwrap().into_inner()
        },
        "whole family",
    );
    try_import(b"not a zip".to_vec(), "not a readable zip");

    // The archive itself imports; a second time it is refused, and the first import stays as it was.
    let imported = b.cli(&["archive", "import", out.to_str().unwrap()]);
    assert_eq!(imported["family_id"], family.as_str());
    let blobs = blobs_of(&b.data, &family);
    assert!(blobs >= 3, "two files and a long body: {blobs}");
    let error = b.cli_fails(&["archive", "import", out.to_str().unwrap()]);
    assert!(error.contains("already here"), "{error}");
    assert_eq!(blobs_of(&b.data, &family), blobs);
    b.cli(&["ledger", "verify", "--family", &family]);
    // And into the server it came from, where the family still is.
    assert!(a.cli_fails(&["archive", "import", out.to_str().unwrap()]).contains("already here"));
}

#[test]
fn archive_import_ends_every_odd_or_broken_zip_with_a_clear_error_and_writes_nothing() {
    let Some(root) = std::env::var_os("CARTABLE_TESTDATA").map(std::path::PathBuf::from).or_else(|| {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata");
        p.is_dir().then_some(p)
    }) else {
        eprintln!("skipped: ../shared/testdata is not here (CARTABLE_TESTDATA unset); scripts/test.sh sets it");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cli = cli_support::Cli { data: dir.path().join("data"), database_url: None };
    cli.json(&["family", "list"]);
    let before: Vec<_> = walk(&cli.data);
    let mut stack = vec![root.join("zip")];
    let mut checked = 0;
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "zip") {
                continue;
            }
            let out = cli.run(&["archive", "import", path.to_str().unwrap()], None);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{} imported", path.display());
            assert!(stderr.starts_with("error: ") && !stderr.contains("panicked"), "{}: {stderr}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} archives");
    let families = cli.json(&["family", "list"]);
    assert_eq!(families["families"].as_array().map(Vec::len), Some(0), "{families}");
    // Nothing written but the database's own files: no blob, no file outside the data folder.
    let after: Vec<_> = walk(&cli.data).into_iter().filter(|p| !p.to_string_lossy().contains("cartable.db")).collect();
    let before: Vec<_> = before.into_iter().filter(|p| !p.to_string_lossy().contains("cartable.db")).collect();
    assert_eq!(before, after);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "nothing beside the data folder");
}

fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

/// An import killed (SIGKILL) at any point leaves either nothing or the whole family; once the lease of the cut
/// import is over (`orphan_blob_grace`, one second here), the import is done again and no blob of the cut ones stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_at_any_point_leaves_nothing_or_everything() {
    let dir = tempfile::tempdir().unwrap();
    let a = cli_support::Cli { data: dir.path().join("a"), database_url: None };
    let family = text(&a.json(&["family", "create", "--name", "Martin"]), "family_id");
    let child = text(&a.json(&["member", "add", "--family", &family, "--role", "child", "--name", "Léa", "--birth-date", "2014-05-02"]), "member_id");
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    for i in 0..30u32 {
        let path = files.join(format!("devoir-{i}.pdf"));
        std::fs::write(&path, (0..400_000u32).map(|j| (j.wrapping_mul(2_654_435_761).wrapping_add(i) >> 11) as u8).collect::<Vec<u8>>()).unwrap();
        a.json(&["file", "put", "--family", &family, "--child", &child, "--doctype", "edu.documents", path.to_str().unwrap()]);
    }
    {
        let vault = cartable_vault::Vault::open(cartable_vault::VaultConfig::embedded(a.data.clone())).await.unwrap();
        let (family, child) = (vault_id(&family), vault_id(&child));
        let permit = vault.as_operator(family, Action::Write, Resource::Collection { child, doctype: Doctype::Grades }).await.unwrap();
        let records = (0..3000).map(|i| cartable_vault::NewRecord { child, doctype: Doctype::Grades, source: "operator".into(), body: serde_json::json!({"subject": "histoire", "grade": i % 20}) }).collect();
        vault.put_records(&permit, records).await.unwrap();
        vault.close().await.unwrap();
    }
    let out = dir.path().join("martin.zip");
    a.json(&["archive", "export", "--family", &family, "--out", out.to_str().unwrap()]);

    let b = cli_support::Cli { data: dir.path().join("b"), database_url: None };
    b.json(&["family", "list"]);
    let import = |b: &cli_support::Cli| b.command(&["archive", "import", out.to_str().unwrap()]).env("CARTABLE_ORPHAN_BLOB_GRACE", "1").stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let mut imported = false;
    for delay_ms in [30u64, 120, 250, 400, 600, 900] {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let mut child_process = import(&b);
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child_process.kill();
        let _ = child_process.wait();
        let families = b.json(&["family", "list"]);
        eprintln!("killed after {delay_ms} ms: {families}, {} blobs", blobs_of(&b.data, &family));
        match families["families"].as_array().map(Vec::len) {
            Some(0) => {}
            Some(1) => {
                b.json(&["ledger", "verify", "--family", &family]);
                imported = true;
                break;
            }
            other => panic!("{other:?} families"),
        }
    }
    if !imported {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let status = import(&b).wait().unwrap();
        assert!(status.success(), "the import done again");
        b.json(&["ledger", "verify", "--family", &family]);
    }
    let listed = b.json(&["record", "list", "--family", &family, "--limit", "1000", "--doctype", "edu.documents"]);
    assert_eq!(listed["records"].as_array().map(Vec::len), Some(30));
    // The cut imports' blobs are gone: one blob per file.
    assert_eq!(blobs_of(&b.data, &family), 30, "no blob of a cut import stays");
}

/// The sealed copies of archives sent over HTTP, left in the data folder (none, once each import is over).
fn uploads_left(data: &std::path::Path) -> usize {
    std::fs::read_dir(data.join("imports")).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_moves_itself_over_http_with_the_operators_invitation() {
    within(300, "the imports over HTTP", imports_over_http()).await;
}

async fn imports_over_http() {
    let a = Server::start(Backend::Sqlite).await;
    let (fx, _) = rich_family(&a).await;
    let family = fx.family.to_string();
    let pass = a.dir.path().join("pass.txt");
    std::fs::write(&pass, "une phrase de passe assez longue\n").unwrap();
    let (plain, sealed) = (a.dir.path().join("martin.zip"), a.dir.path().join("martin.zip.age"));
    a.cli(&["archive", "export", "--family", &family, "--out", plain.to_str().unwrap()]);
    a.cli(&["archive", "export", "--family", &family, "--out", sealed.to_str().unwrap(), "--passphrase-file", pass.to_str().unwrap()]);
    let (plain, sealed) = (std::fs::read(&plain).unwrap(), std::fs::read(&sealed).unwrap());

    // Through the API.
    let b = Server::start(Backend::Sqlite).await;
    let link = text(&b.cli(&["archive", "invite"]), "link");
    let token = link.rsplit('/').next().unwrap().to_owned();
    assert!(link.contains("/import/"), "{link}");
    let http = reqwest::Client::new();
    let send = |bytes: Vec<u8>, passphrase: Option<&str>| {
        let mut request = http.post(format!("{}/api/v1/imports/{token}", b.url)).header("content-type", "application/zip").body(bytes);
        if let Some(p) = passphrase {
            request = request.header("cartable-archive-passphrase", p);
        }
        request.send()
    };
    let forged_zip = forged(&plain, |all| {
        let at = all.iter().position(|(n, _)| n == "grants.json").unwrap();
        all[at].1 = String::from_utf8(all[at].1.clone()).unwrap().replace("\"revoked\"", "\"active\"").into_bytes();
    });
    let refused = send(forged_zip, None).await.unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("does not agree"), "{body}");
    let wrong = send(sealed.clone(), Some("une autre phrase de passe")).await.unwrap();
    assert_eq!(wrong.status(), 400, "a wrong passphrase");
    assert_eq!(send(sealed.clone(), None).await.unwrap().status(), 400, "no passphrase for an encrypted archive");
    assert_eq!(b.cli(&["family", "list"])["families"].as_array().map(Vec::len), Some(0), "nothing written");
    // The refusals gave the invitation back; the right archive imports.
    let imported = send(sealed.clone(), Some("une phrase de passe assez longue")).await.unwrap();
    assert_eq!(imported.status(), 201);
    let report: cartable_sdk::ArchiveImported = imported.json().await.unwrap();
    assert_eq!((report.records, report.files, report.grants), (5, 2, 3));
    assert_eq!(report.family_id.to_string(), family);
    assert_eq!(report.invitations.len(), 1, "the one guardian");
    assert!(report.invitations[0].link.starts_with(&b.url) && report.invitations[0].link.contains("/invitation/"), "{:?}", report.invitations[0].link);
    b.cli(&["ledger", "verify", "--family", &family]);
    // Used up: the same invitation takes no other archive.
    assert_eq!(send(plain[..1000].to_vec(), None).await.unwrap().status(), 404);
    assert_eq!(uploads_left(&b.data), 0, "no copy of an archive stays");
    // The guardian's link opens the sign-in page that asks no name (they are a member already).
    let mut visitor = web_support::Visitor::new(&b);
    let page = visitor.get(&web_support::invitation_path(&report.invitations[0].link)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("transférée") && !page.body.contains("id=\"name\""), "{}", page.body);

    // Through the web UI's page, on another server.
    let c = Server::start(Backend::Sqlite).await;
    let link = text(&c.cli(&["archive", "invite"]), "link");
    let path = &link[link.find("/import/").unwrap()..];
    let mut visitor = web_support::Visitor::new(&c);
    assert_eq!(visitor.get("/import/not-a-token").await.status, 404);
    let page = visitor.get(path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Transférer une famille"), "{}", page.body);
    let csrf = page.csrf();
    // Refusals that come before the upload is read are sent small: the server answers without reading an upload it
    // will not take, and a client still sending a large one may see the connection closed before the answer.
    let without = visitor.post_multipart(path, &[("csrf", "wrong"), ("passphrase", "")], ("file", "martin.zip", &plain[..1000])).await;
    assert_eq!(without.status, 403, "a form without the page's token");
    let bad = visitor.post_multipart(path, &[("csrf", &csrf), ("passphrase", "")], ("file", "martin.zip", b"not a zip")).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("rien n&#39;a été écrit") || bad.body.contains("rien n'a été écrit"), "{}", bad.body);
    assert_eq!(c.cli(&["family", "list"])["families"].as_array().map(Vec::len), Some(0));
    let done = visitor.post_multipart(path, &[("csrf", &csrf), ("passphrase", "")], ("file", "martin.zip", &plain)).await;
    assert_eq!(done.status, 201, "{}", done.body);
    assert!(done.body.contains("Votre famille est transférée") && done.body.contains("/invitation/") && done.body.contains("Claire"), "{}", done.body);
    c.cli(&["ledger", "verify", "--family", &family]);
    assert_eq!(visitor.get(path).await.status, 404, "the invitation is used up");
    assert_eq!(uploads_left(&c.data), 0);

    // In a real browser, on a phone's screen: the page, the archive chosen, the family moved.
    let Some((_profile, driver)) = web_support::browser::browser().await else { return };
    let d = Server::start(Backend::Sqlite).await;
    let link = text(&d.cli(&["archive", "invite"]), "link");
    let file = d.dir.path().join("martin.zip");
    std::fs::write(&file, &plain).unwrap();
    driver.goto(&format!("{}{}", d.url, &link[link.find("/import/").unwrap()..])).await.unwrap();
    web_support::browser::shoot(&driver, "import").await;
    driver.find(thirtyfour::By::Id("file")).await.unwrap().send_keys(file.to_str().unwrap()).await.unwrap();
    driver.find(thirtyfour::By::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    // The browser's own language decides the page's (French or English); the guardian's name is in both.
    web_support::browser::wait_for(&driver, &["Claire"]).await;
    let link = driver.find(thirtyfour::By::Css("main a[href*='/invitation/']")).await.unwrap();
    assert!(link.attr("href").await.unwrap().unwrap_or_default().starts_with(&d.url), "the guardian's sign-in link");
    web_support::browser::shoot(&driver, "import-done").await;
    driver.quit().await.unwrap();
    d.cli(&["ledger", "verify", "--family", &family]);
}
