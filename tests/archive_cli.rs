//! `cartable archive export` and `archive verify` on a real data folder: the archive holds the family's members,
//! records, files byte for byte, grants and ledger; it verifies with the archive's key and with the server's; a
//! changed byte of an entry, an altered ledger entry (with a manifest made to agree) and another server's key are
//! each caught and named; with a passphrase the whole archive is one age file; its page opens offline in a browser;
//! every odd zip of the shared test data is refused; a 200 MiB file goes out and back in with little memory.
//! (`archive_import.rs` holds the imports' round trips and refusals.)

mod api_support;
mod archive_support;
mod cli_support;
mod web_support;

use std::io::Write;

use archive_support::{entries, rewritten};
use cli_support::Cli;
use serde_json::Value;

fn id(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_else(|| panic!("no {field} in {v}")).to_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn an_exported_archive_holds_the_family_and_verifies_and_tampering_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli { data: dir.path().join("data"), database_url: None };
    let family = id(&cli.json(&["family", "create", "--name", "Martin"]), "family_id");
    cli.json(&["member", "add", "--family", &family, "--role", "guardian", "--name", "Claire"]);
    let child = id(&cli.json(&["member", "add", "--family", &family, "--role", "child", "--name", "Léa", "--birth-date", "2014-05-02"]), "member_id");
    for i in 0..3 {
        let body = serde_json::json!({"subject": "mathématiques", "grade": 12 + i, "comment": format!("contrôle {i}")}).to_string();
        cli.json_in(&["record", "put", "--family", &family, "--child", &child, "--doctype", "edu.grades", "--body", "-"], Some(&body));
    }
    let pdf: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
    let source = dir.path().join("bulletin T1.pdf");
    std::fs::write(&source, &pdf).unwrap();
    cli.json(&["file", "put", "--family", &family, "--child", &child, "--doctype", "edu.report-cards", source.to_str().unwrap()]);
    cli.json(&["policy", "forbid", "--family", &family, "--doctype", "health.pai"]);
    let service = id(&cli.json(&["service", "register", "--name", "Tutorat Plus"]), "service_id");
    cli.json(&["request", "create", "--service", &service, "--family", &family, "--child", &child, "--doctype", "edu.grades", "--actions", "read,list", "--purpose", "suivi scolaire", "--legal-basis", "consent", "--days", "90"]);

    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("martin.zip");
    let summary = cli.json(&["archive", "export", "--family", &family, "--out", out.to_str().unwrap()]);
    assert_eq!((summary["records"].as_u64(), summary["files"].as_u64()), (Some(4), Some(1)), "{summary}");
    // One file, the archive, owner-only; no temporary file left beside it.
    let names: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("martin.zip")]);
    #[cfg(unix)]
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&out).unwrap().permissions()) & 0o777, 0o600);

    let zip_bytes = std::fs::read(&out).unwrap();
    let all = entries(&zip_bytes);
    let get = |path: &str| all.iter().find(|(n, _)| n == path).map(|(_, b)| b.clone()).unwrap_or_else(|| panic!("no {path}: {:?}", all.iter().map(|e| &e.0).collect::<Vec<_>>()));
    assert_eq!(all.last().unwrap().0, "manifest.json");
    let members: Value = serde_json::from_slice(&get("members.json")).unwrap();
    assert!(members.as_array().unwrap().iter().any(|m| m["name"] == "Léa" && m["birth_date"] == "2014-05-02"));
    let grades = String::from_utf8(get(&format!("children/{child}/edu.grades/records.jsonl"))).unwrap();
    assert_eq!(grades.lines().count(), 3);
    assert!(grades.contains("contrôle 2"));
    let file_path = all.iter().map(|(n, _)| n.clone()).find(|n| n.ends_with("/bulletin T1.pdf")).expect("the file under its original name");
    assert!(get(&file_path) == pdf, "the file byte for byte");
    let prohibitions: Value = serde_json::from_slice(&get("prohibitions.json")).unwrap();
    assert_eq!(prohibitions[0]["doctype"], "health.pai", "{prohibitions}");
    let grants: Value = serde_json::from_slice(&get("grants.json")).unwrap();
    assert_eq!(grants.as_array().unwrap().len(), 1);
    let page = String::from_utf8(get("index.html")).unwrap();
    for shown in ["Léa", "contrôle 2", "bulletin%20T1.pdf", "Historique", "Autorisations", "suivi scolaire"] {
        assert!(page.contains(shown), "index.html shows {shown}");
    }
    assert!(!page.contains("<script"), "the page has no script");
    let ledger = String::from_utf8(get("ledger/entries.jsonl")).unwrap();
    assert!(ledger.lines().count() >= 10, "the whole history, with this export's own decisions");

    // It verifies, with its own key and with the server's.
    let report = cli.json(&["archive", "verify", out.to_str().unwrap()]);
    assert_eq!(report["verified"], true);
    assert_eq!(report["ledger_size"].as_u64(), Some(ledger.lines().count() as u64));
    let key = id(&cli.json(&["ledger", "key"]), "verifier_key");
    cli.json(&["archive", "verify", out.to_str().unwrap(), "--key", &key]);

    let check = |bytes: Vec<u8>, args: &[&str], expected: &str| {
        let path = out_dir.path().join("altered.zip");
        std::fs::write(&path, bytes).unwrap();
        let mut all = vec!["archive", "verify", path.to_str().unwrap()];
        all.extend_from_slice(args);
        let error = cli.fails(&all);
        assert!(error.contains(expected), "expected `{expected}` in: {error}");
    };
    // Another server's key.
    let other = tempfile::tempdir().unwrap();
    let other_key = id(&Cli { data: other.path().join("data"), database_url: None }.json(&["ledger", "key"]), "verifier_key");
    check(zip_bytes.clone(), &["--key", &other_key], "not signed by this key");
    // One byte of a record changed, the manifest left as it was.
    let grades_path = format!("children/{child}/edu.grades/records.jsonl");
    check(
        rewritten(&zip_bytes, |all| {
            let entry = all.iter_mut().find(|(n, _)| *n == grades_path).unwrap();
            let at = entry.1.iter().position(|b| *b == b'2').unwrap();
            entry.1[at] = b'9';
        }),
        &[],
        "SHA-256",
    );
    // A ledger entry altered and the manifest made to agree: the signed root catches it.
    check(
        rewritten(&zip_bytes, |all| {
            let ledger_at = all.iter().position(|(n, _)| n == "ledger/entries.jsonl").unwrap();
            let text = String::from_utf8(all[ledger_at].1.clone()).unwrap();
            let altered = text.replacen("access_allowed", "access_denied", 1).into_bytes();
            let (size, hash) = (altered.len(), sha256_hex(&altered));
            all[ledger_at].1 = altered;
            let manifest_at = all.iter().position(|(n, _)| n == "manifest.json").unwrap();
            let mut manifest: Value = serde_json::from_slice(&all[manifest_at].1).unwrap();
            for e in manifest["entries"].as_array_mut().unwrap() {
                if e["path"] == "ledger/entries.jsonl" {
                    e["size"] = size.into();
                    e["sha256"] = hash.clone().into();
                }
            }
            all[manifest_at].1 = serde_json::to_vec(&manifest).unwrap();
        }),
        &[],
        "root",
    );
    // A file no record names, the manifest made to agree: the archive's own structure catches it.
    check(
        rewritten(&zip_bytes, |all| {
            let extra = format!("children/{child}/edu.documents/files/0193/intrus.pdf");
            all.insert(0, (extra.clone(), b"%PDF-1.4".to_vec()));
            let manifest_at = all.iter().position(|(n, _)| n == "manifest.json").unwrap();
            let mut manifest: Value = serde_json::from_slice(&all[manifest_at].1).unwrap();
            manifest["entries"].as_array_mut().unwrap().push(serde_json::json!({"path": extra, "size": 8, "sha256": sha256_hex(b"%PDF-1.4")}));
            all[manifest_at].1 = serde_json::to_vec(&manifest).unwrap();
        }),
        &[],
        "no record names",
    );
    // An entry the manifest does not list.
    check(rewritten(&zip_bytes, |all| all.insert(0, ("extra.txt".to_owned(), b"x".to_vec()))), &[], "not in its manifest");
    check(b"not a zip".to_vec(), &[], "not a readable zip");

    // With a passphrase: the whole archive is one age file; nothing of it in clear; it opens with the passphrase only.
    let pass = out_dir.path().join("pass.txt");
    std::fs::write(&pass, "une phrase de passe assez longue\n").unwrap();
    let sealed = out_dir.path().join("martin.zip.age");
    cli.json(&["archive", "export", "--family", &family, "--out", sealed.to_str().unwrap(), "--passphrase-file", pass.to_str().unwrap()]);
    let bytes = std::fs::read(&sealed).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1"));
    for clear in [&b"manifest.json"[..], "contrôle".as_bytes(), b"Tutorat", b"PK\x03\x04"] {
        assert!(!bytes.windows(clear.len()).any(|w| w == clear), "{:?} in clear", String::from_utf8_lossy(clear));
    }
    assert!(cli.fails(&["archive", "verify", sealed.to_str().unwrap()]).contains("encrypted"));
    let wrong = out_dir.path().join("wrong.txt");
    std::fs::write(&wrong, "une autre phrase de passe\n").unwrap();
    assert!(cli.fails(&["archive", "verify", sealed.to_str().unwrap(), "--passphrase-file", wrong.to_str().unwrap()]).contains("passphrase"));
    let report = cli.json(&["archive", "verify", sealed.to_str().unwrap(), "--passphrase-file", pass.to_str().unwrap()]);
    assert_eq!(report["verified"], true);
    assert_eq!(report["counts"]["files"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archives_page_opens_offline_in_a_browser() {
    let Some((_profile, driver)) = web_support::browser::browser().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli { data: dir.path().join("data"), database_url: None };
    let family = id(&cli.json(&["family", "create", "--name", "Martin"]), "family_id");
    let child = id(&cli.json(&["member", "add", "--family", &family, "--role", "child", "--name", "Léa", "--birth-date", "2014-05-02"]), "member_id");
    let body = serde_json::json!({"subject": "Mathématiques", "grade": 15.5, "out_of": 20, "date": "2026-03-12", "comment": "Très bon travail <b>gras</b>"}).to_string();
    cli.json_in(&["record", "put", "--family", &family, "--child", &child, "--doctype", "edu.grades", "--body", "-"], Some(&body));
    let out = dir.path().join("martin.zip");
    cli.json(&["archive", "export", "--family", &family, "--out", out.to_str().unwrap()]);
    // Unpacked as a person would, then opened from the disk: no server, no network.
    let unpacked = dir.path().join("martin");
    for (name, bytes) in entries(&std::fs::read(&out).unwrap()) {
        let path = unpacked.join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    driver.goto(&format!("file://{}", unpacked.join("index.html").display())).await.unwrap();
    let text = driver.find(thirtyfour::By::Tag("body")).await.unwrap().text().await.unwrap();
    for shown in ["Cartable — famille Martin", "Léa", "Mathématiques", "Très bon travail <b>gras</b>", "Historique"] {
        assert!(text.contains(shown), "the page shows {shown}: {text}");
    }
    web_support::browser::shoot(&driver, "archive-index").await;
    driver.quit().await.unwrap();
}

#[test]
fn archive_verify_ends_every_odd_or_broken_zip_with_a_clear_error() {
    let Some(root) = std::env::var_os("CARTABLE_TESTDATA").map(std::path::PathBuf::from).or_else(|| {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata");
        p.is_dir().then_some(p)
    }) else {
        eprintln!("skipped: ../shared/testdata is not here (CARTABLE_TESTDATA unset); scripts/test.sh sets it");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli { data: dir.path().join("data"), database_url: None };
    let mut stack = vec![root.join("zip/dotnet-runtime-assets"), root.join("zip/zip2/tests")];
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
            let out = cli.run(&["archive", "verify", path.to_str().unwrap()], None);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{} verified", path.display());
            assert!(stderr.starts_with("error: ") && !stderr.contains("internal error"), "{}: {stderr}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} archives");
}

/// Reads the process's peak resident memory (`VmHWM`, KiB) while it runs.
fn peak_rss_kib(mut child: std::process::Child) -> (std::process::ExitStatus, u64) {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            peak = peak.max(line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status, peak);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn exporting_and_importing_a_200_mb_file_keeps_memory_far_below_its_size() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: no /proc to read a process's memory from");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli { data: dir.path().join("data"), database_url: None };
    let family = id(&cli.json(&["family", "create", "--name", "Martin"]), "family_id");
    let child = id(&cli.json(&["member", "add", "--family", &family, "--role", "child", "--name", "Léa", "--birth-date", "2014-05-02"]), "member_id");
    let big = dir.path().join("video-fete-de-l-ecole.mp4");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let mut state = 1u64;
        let mut chunk = vec![0u8; 1 << 20];
        for _ in 0..200 {
            for b in chunk.iter_mut() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                *b = (state >> 56) as u8;
            }
            file.write_all(&chunk).unwrap();
        }
    }
    cli.json(&["file", "put", "--family", &family, "--child", &child, "--doctype", "edu.documents", big.to_str().unwrap()]);
    std::fs::remove_file(&big).unwrap();
    let out = dir.path().join("martin.zip");
    let child_process = cli
        .command(&["archive", "export", "--family", &family, "--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (status, peak) = peak_rss_kib(child_process);
    assert!(status.success());
    eprintln!("exporting a 200 MiB file: peak resident memory {} MiB", peak >> 10);
    assert!(std::fs::metadata(&out).unwrap().len() > 200 << 20);
    assert!(peak < 100 << 10, "peak {} MiB for a 200 MiB file", peak >> 10);
    let report = cli.json(&["archive", "verify", out.to_str().unwrap()]);
    assert_eq!(report["counts"]["files"], 1);

    // Imported into another vault, streamed the same way.
    let other = Cli { data: dir.path().join("other"), database_url: None };
    let child_process = other.command(&["archive", "import", out.to_str().unwrap()]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let (status, peak) = peak_rss_kib(child_process);
    assert!(status.success(), "the import failed");
    eprintln!("importing a 200 MiB file: peak resident memory {} MiB", peak >> 10);
    assert!(peak < 100 << 10, "peak {} MiB for a 200 MiB file", peak >> 10);
    let listed = other.json(&["record", "list", "--family", &family, "--child", &child, "--doctype", "edu.documents"]);
    assert_eq!(listed["records"][0]["size"].as_u64(), Some(200 << 20), "{listed}");
    other.json(&["ledger", "verify", "--family", &family]);
}
