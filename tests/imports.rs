//! Imports from open formats, through the real binary, the real server and the SDK, on SQLite and, when the test
//! script started one, on PostgreSQL.
//!
//! - xAPI, as a family and as a service: every statement is checked before anything is written, one refused stops
//!   the run unless it is partial, a second run adds nothing, each collection written gets a `records_import` entry
//!   with the counts, and a service cannot import outside its grant. The shared test data's statements
//!   (`$CARTABLE_TESTDATA/xapi`) are imported whole.
//! - A run killed at any moment leaves nothing or everything.
//! - Files come in under their names, all or none, once.

mod api_support;
mod cli_support;

use std::time::Duration;

use api_support::{Backend, FamilyFixture, PASSWORD, Server, all_entries, backends, within};
use cartable_sdk::{FamilySession, MemberId, SdkError};
use serde_json::{Value, json};

fn statement(id: &str, verb: &str, title: &str, score: Option<(f64, f64)>) -> Value {
    let mut s = json!({
        "id": id,
        "actor": {"mbox": "mailto:lea@example.org", "name": "Léa"},
        "verb": {"id": format!("http://adlnet.gov/expapi/verbs/{verb}")},
        "object": {"id": format!("http://ent.example/activites/{id}"), "definition": {"name": {"fr-FR": title}}},
        "context": {"contextActivities": {"parent": [{"id": "http://ent.example/maths", "definition": {"name": {"fr": "Mathématiques"}}}]}},
        "timestamp": "2026-11-20T10:00:00Z",
    });
    if let Some((raw, max)) = score {
        s["result"] = json!({"score": {"raw": raw, "max": max}, "completion": true});
    }
    s
}

/// Two valid statements (one graded), then one without an actor's identifier (line 3), one per line.
fn mixed() -> String {
    [
        statement("0a6b2a36-2b7e-4c47-9e0c-6b8f0a1d2c01", "passed", "Quiz fractions", Some((16.0, 20.0))),
        statement("0a6b2a36-2b7e-4c47-9e0c-6b8f0a1d2c02", "experienced", "Vidéo : les fractions", None),
        json!({"actor": {"name": "sans identifiant"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"}, "object": {"id": "http://ent.example/x"}}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n")
}

async fn count(session: &FamilySession, child: MemberId, doctype: &str) -> usize {
    session.list_records(child, doctype, None, 1000).await.unwrap().records.len()
}

async fn imports(session: &FamilySession) -> Vec<Value> {
    all_entries(session).await.into_iter().filter(|e| e.receipt["event"] == "records_import").map(|e| e.receipt).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_import_from_the_command_line_whole_or_nothing_and_once() {
    for backend in backends() {
        within(300, "the command line's imports", command_line(backend)).await;
    }
}

async fn command_line(backend: Backend) {
    let server = Server::start(backend).await;
    let fx = FamilyFixture::create(&server, "Martin", 12, 0);
    let (f, c) = (fx.family.to_string(), fx.child.to_string());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export ENT.jsonl");
    std::fs::write(&file, mixed()).unwrap();
    let path = file.to_str().unwrap();
    let guardian = server.client().sign_in(fx.guardian, PASSWORD).await.unwrap();
    let cli = cli_support::Cli { data: server.data.clone(), database_url: server.database_url.clone() };

    // One refused statement: the run stops, names it, and writes nothing.
    let out = cli.run(&["--json", "import", "xapi", path, "--family", &f, "--child", &c], None);
    let error = cli_support::failure_line(&["import", "xapi"], &out);
    assert!(error.contains("1 statement(s) break the xAPI rules") && error.contains("--partial"), "{error}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["written"].as_bool(), report["rejected"].as_u64(), report["imported"].as_u64()), (Some(false), Some(1), Some(0)), "{report}");
    assert_eq!(report["problems"][0]["line"], 3, "{report}");
    assert_eq!(report["problems"][0]["rule"], "agent.ifi.exactly-one", "{report}");
    assert_eq!(report["problems"][0]["path"], "$.actor", "{report}");
    assert_eq!((count(&guardian, fx.child, "edu.activity").await, count(&guardian, fx.child, "edu.grades").await), (0, 0));
    assert!(imports(&guardian).await.is_empty(), "a run that wrote nothing has no import entry");

    // Partial: the two valid ones, as two activities and one grade; the refused one counted against the activities.
    let report = cli.json(&["import", "xapi", path, "--family", &f, "--child", &c, "--partial"]);
    assert_eq!((report["written"].as_bool(), report["imported"].as_u64(), report["duplicates"].as_u64(), report["rejected"].as_u64()), (Some(true), Some(3), Some(0), Some(1)), "{report}");
    assert_eq!((count(&guardian, fx.child, "edu.activity").await, count(&guardian, fx.child, "edu.grades").await), (2, 1));
    let grades = guardian.list_records(fx.child, "edu.grades", None, 10).await.unwrap();
    let grade = guardian.read_record(grades.records[0].record_id).await.unwrap();
    assert_eq!((grade.body["subject"].as_str(), grade.body["grade"].as_f64(), grade.body["out_of"].as_f64()), (Some("Mathématiques"), Some(16.0), Some(20.0)), "{}", grade.body);
    assert_eq!(grade.source, "operator");
    let activities = guardian.list_records(fx.child, "edu.activity", None, 10).await.unwrap();
    let activity = guardian.read_record(activities.records[0].record_id).await.unwrap();
    assert_eq!(activity.body["statement"]["id"], "0a6b2a36-2b7e-4c47-9e0c-6b8f0a1d2c01", "the statement kept whole: {}", activity.body);
    assert_eq!(activity.body["statement"]["actor"]["mbox"], "mailto:lea@example.org");

    // Again: nothing new.
    let report = cli.json(&["import", "xapi", path, "--family", &f, "--child", &c, "--partial"]);
    assert_eq!((report["imported"].as_u64(), report["duplicates"].as_u64()), (Some(0), Some(3)), "{report}");
    assert_eq!(count(&guardian, fx.child, "edu.activity").await, 2);

    // The ledger: one entry per collection and run, with the format and counts, and no statement in it.
    let entries = imports(&guardian).await;
    let summary: Vec<_> = entries.iter().map(|r| (r["data_categories"][0].as_str().unwrap().to_owned(), r["import"].clone())).collect();
    assert_eq!(
        summary,
        vec![
            ("edu.grades".to_owned(), json!({"format": "xapi", "imported": 1, "duplicates": 0, "rejected": 0})),
            ("edu.activity".to_owned(), json!({"format": "xapi", "imported": 2, "duplicates": 0, "rejected": 1})),
            ("edu.grades".to_owned(), json!({"format": "xapi", "imported": 0, "duplicates": 1, "rejected": 0})),
            ("edu.activity".to_owned(), json!({"format": "xapi", "imported": 0, "duplicates": 2, "rejected": 1})),
        ]
    );
    let ledger = serde_json::to_string(&all_entries(&guardian).await).unwrap();
    for secret in ["lea@example.org", "Quiz fractions", "0a6b2a36-2b7e-4c47-9e0c-6b8f0a1d2c01"] {
        assert!(!ledger.contains(secret), "`{secret}` is in the ledger");
    }
    assert!(cli.json(&["ledger", "verify", "--family", &f])["size"].as_u64().is_some());

    // What is not xAPI at all, and a file that is not there: one line each, nothing written.
    std::fs::write(&file, "{\"id\": \"x\", \"actor\": ").unwrap();
    let error = cli.fails(&["import", "xapi", path, "--family", &f, "--child", &c, "--partial"]);
    assert!(error.contains("not xAPI statements") && error.contains("ends inside statement 0"), "{error}");
    let error = cli.fails(&["import", "xapi", "/nonexistent/statements.json", "--family", &f, "--child", &c]);
    assert!(error.starts_with("error: cannot open"), "{error}");
    assert_eq!(count(&guardian, fx.child, "edu.activity").await, 2);

    // The shared test data's statements, whole (they are all valid xAPI).
    let Some(testdata) = std::env::var_os("CARTABLE_TESTDATA") else {
        eprintln!("the shared xAPI statements are skipped: CARTABLE_TESTDATA is not set (scripts/test.sh sets it)");
        return;
    };
    let datasim = std::path::Path::new(&testdata).join("xapi/yetanalytics-datasim/dev-resources/xapi/statements/array/tccc_dev.json");
    let report = cli.json(&["import", "xapi", datasim.to_str().unwrap(), "--family", &f, "--child", &c]);
    let total = report["imported"].as_u64().unwrap();
    assert!(total >= 2000 && report["rejected"] == 0, "{report}");
    let again = cli.json(&["import", "xapi", datasim.to_str().unwrap(), "--family", &f, "--child", &c]);
    assert_eq!((again["imported"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(total)), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_and_services_import_over_http_within_their_rights() {
    for backend in backends() {
        within(300, "the API's imports", over_http(backend)).await;
    }
}

async fn over_http(backend: Backend) {
    let server = Server::start(backend).await;
    let fx = FamilyFixture::create(&server, "Fontaine", 12, 0);
    let client = server.client();
    let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
    let bytes = bytes::Bytes::from(mixed());

    // A guardian: refused whole (422 and the problems), then partial.
    let refused = guardian.import_xapi(fx.child, bytes.clone(), false).await.unwrap();
    assert!(!refused.written && refused.rejected == 1 && refused.problems[0].line == 3, "{refused:?}");
    assert_eq!(count(&guardian, fx.child, "edu.activity").await, 0);
    let done = guardian.import_xapi(fx.child, bytes.clone(), true).await.unwrap();
    assert!(done.written && done.imported == 3 && done.rejected == 1, "{done:?}");
    // Not xAPI at all: a 400 that says so.
    match guardian.import_xapi(fx.child, bytes::Bytes::from_static(b"[{\"id\": "), false).await {
        Err(SdkError::InvalidRequest { message, .. }) => assert!(message.contains("not xAPI statements"), "{message}"),
        other => panic!("a truncated body: {other:?}"),
    }

    // A service whose grant writes the activities but not the grades: statements with a score need both, so the run
    // is refused, nothing written, and the refusal logged; without a score, it imports.
    let service = client.service(client.register_service("Plateforme Maths").await.unwrap());
    let pending = service.request_access(&fx.request(&["edu.activity"], &["write", "list"])).await.unwrap();
    guardian.approve(pending.request_id).await.unwrap();
    let access = service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
    let graded = bytes::Bytes::from(statement("1b6b2a36-2b7e-4c47-9e0c-6b8f0a1d2c01", "passed", "Quiz", Some((8.0, 10.0))).to_string());
    match access.import_xapi(graded, false).await {
        Err(SdkError::Denied { .. }) => {}
        other => panic!("grades outside the grant: {other:?}"),
    }
    assert_eq!((count(&guardian, fx.child, "edu.activity").await, count(&guardian, fx.child, "edu.grades").await), (2, 1), "nothing of the refused run");
    let denied = all_entries(&guardian).await.into_iter().filter(|e| e.receipt["event"] == "access_denied" && e.receipt["service"].as_str() == Some(&service.id().to_string())).count();
    assert!(denied >= 1, "the refusal is logged");
    let plain = bytes::Bytes::from(statement("1b6b2a36-2b7e-4c47-9e0c-6b8f0a1d2c02", "experienced", "Vidéo", None).to_string());
    let done = access.import_xapi(plain, false).await.unwrap();
    assert!(done.written && done.imported == 1, "{done:?}");
    let entry = imports(&guardian).await.pop().unwrap();
    assert_eq!((entry["actor"]["kind"].as_str(), entry["service"].as_str()), (Some("service"), Some(service.id().to_string().as_str())), "{entry}");
    let activities = guardian.list_records(fx.child, "edu.activity", None, 10).await.unwrap();
    let sources: Vec<String> = futures::future::join_all(activities.records.iter().map(|r| guardian.read_record(r.record_id))).await.into_iter().map(|r| r.unwrap().source).collect();
    assert!(sources.contains(&format!("service:{}", service.id())), "{sources:?}");

    // A grant that only reads: refused before the body is read.
    let reader = client.service(client.register_service("Lecteur").await.unwrap());
    let pending = reader.request_access(&fx.request(&["edu.activity"], &["read", "list"])).await.unwrap();
    guardian.approve(pending.request_id).await.unwrap();
    let read_only = reader.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
    match read_only.import_xapi(bytes.clone(), true).await {
        Err(SdkError::Denied { .. }) => {}
        other => panic!("a read-only grant: {other:?}"),
    }
    assert_eq!(count(&guardian, fx.child, "edu.activity").await, 3);
}

/// Every activity record of the child, page by page.
async fn count_all(session: &FamilySession, child: MemberId) -> usize {
    let (mut total, mut after) = (0, None);
    loop {
        let page = session.list_records(child, "edu.activity", after, 1000).await.unwrap();
        total += page.records.len();
        match page.next_after {
            Some(next) => after = Some(next),
            None => return total,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_at_any_moment_leaves_nothing_or_everything() {
    for backend in backends() {
        within(300, "the killed imports", killed(backend)).await;
    }
}

async fn killed(backend: Backend) {
    let server = Server::start(backend).await;
    let fx = FamilyFixture::create(&server, "Petit", 12, 0);
    let (f, c) = (fx.family.to_string(), fx.child.to_string());
    let guardian = server.client().sign_in(fx.guardian, PASSWORD).await.unwrap();
    let cli = cli_support::Cli { data: server.data.clone(), database_url: server.database_url.clone() };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("statements.jsonl");
    const N: usize = 6000;
    let lines: Vec<String> = (0..N).map(|i| statement(&format!("2c6b2a36-2b7e-4c47-9e0c-{i:012}"), "experienced", &format!("Leçon {i}"), None).to_string()).collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let path = file.to_str().unwrap();
    // Killed after a growing delay: during the check, then during the writing pass.
    for delay_ms in [150u64, 500, 900, 1400, 2000] {
        let mut child = cli.command(&["import", "xapi", path, "--family", &f, "--child", &c]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let _ = child.kill();
        let _ = child.wait();
        let n = count_all(&guardian, fx.child).await;
        assert!(n == 0 || n == N, "after a kill at {delay_ms} ms: {n} of {N} records");
        if n == N {
            break;
        }
    }
    let report = cli.json(&["import", "xapi", path, "--family", &f, "--child", &c]);
    assert_eq!(report["imported"].as_u64().unwrap() + report["duplicates"].as_u64().unwrap(), N as u64, "{report}");
    assert_eq!(count_all(&guardian, fx.child).await, N);
    assert!(cli.json(&["ledger", "verify", "--family", &f])["size"].as_u64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_import_under_their_names_all_or_none_and_once() {
    for backend in backends() {
        within(180, "the files' imports", files(backend)).await;
    }
}

async fn files(backend: Backend) {
    let server = Server::start(backend).await;
    let fx = FamilyFixture::create(&server, "Bernard", 12, 0);
    let (f, c) = (fx.family.to_string(), fx.child.to_string());
    let cli = cli_support::Cli { data: server.data.clone(), database_url: server.database_url.clone() };
    let guardian = server.client().sign_in(fx.guardian, PASSWORD).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let pdf: Vec<u8> = b"%PDF-1.4\n".iter().copied().chain((0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8)).collect();
    let (t1, t2) = (write("bulletin 1er trimestre.pdf", &pdf), write("attestation natation.jpg", b"\xff\xd8\xff\xe0 a scan"));

    // A path that is not a file: refused, and the other file is not stored either.
    let error = cli.fails(&["import", "file", &t1, "/nonexistent/scan.pdf", "--family", &f, "--child", &c, "--doctype", "edu.report-cards"]);
    assert!(error.contains("cannot read /nonexistent/scan.pdf"), "{error}");
    assert_eq!(count(&guardian, fx.child, "edu.report-cards").await, 0);

    let report = cli.json(&["import", "file", &t1, &t2, "--family", &f, "--child", &c, "--doctype", "edu.report-cards"]);
    assert_eq!((report["imported"].as_u64(), report["duplicates"].as_u64()), (Some(2), Some(0)), "{report}");
    let id: cartable_sdk::RecordId = report["files"][0]["record_id"].as_str().unwrap().parse().unwrap();
    let download = guardian.download_file(id).await.unwrap();
    assert_eq!(download.info.name, "bulletin 1er trimestre.pdf");
    let mut bytes = Vec::new();
    download.write_to(&mut bytes).await.unwrap();
    assert!(bytes == pdf, "byte for byte");

    // The same bytes again, under another name too: duplicates, nothing stored.
    let copy = write("copie du bulletin.pdf", &pdf);
    let report = cli.json(&["import", "file", &t1, &copy, "--family", &f, "--child", &c, "--doctype", "edu.report-cards"]);
    assert_eq!((report["imported"].as_u64(), report["duplicates"].as_u64()), (Some(0), Some(2)), "{report}");
    assert!(report["files"][1]["record_id"].is_null(), "{report}");
    assert_eq!(count(&guardian, fx.child, "edu.report-cards").await, 2);
    let entries = imports(&guardian).await;
    assert_eq!(entries.len(), 2, "one entry per run: {entries:?}");
    assert_eq!(entries[1]["import"], json!({"format": "files", "imported": 0, "duplicates": 2, "rejected": 0}));
}
