//! The DPO's console end to end, over HTTP with the SDK: two services, three families, the operator's DPO and one
//! service's DPO, on SQLite and PostgreSQL.
//!
//! - the operator's DPO sees every family's entries; the service's DPO only the entries naming their service;
//! - neither reads a record (403, logged as `access_denied` naming the DPO);
//! - the CSV export parses with a standard reader and has one line per visible entry, as `cartable ledger list`;
//! - a receipt's proof downloaded from the console verifies offline with `cartable ledger check-proof`;
//! - a tampered entry fails its family's verification, naming the entry; a rewritten history (truncated, then
//!   grown again, so that it verifies on its own) is reported as inconsistent with the checkpoint the DPO saw;
//! - the record of processing (art. 30) counts the grants and the children by category, per service.

mod api_support;
mod cli_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use api_support::{Backend, FamilyFixture, PASSWORD, Server, appoint_dpo, backends, within};
use cartable_sdk::{DpoSession, RegisterEntry, RegisterFilter};
use futures::StreamExt as _;
use serde_json::{Value, json};
use sqlx::Row as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpo_reviews_the_register_of_their_remit_and_never_the_data() {
    for backend in backends() {
        within(300, "the DPO's console", story(backend)).await;
    }
}

/// Every entry of the DPO's register under `filter`, page by page (small pages, to walk the cursor).
async fn everything(dpo: &DpoSession, filter: &RegisterFilter) -> Vec<RegisterEntry> {
    let mut out = Vec::new();
    let mut filter = RegisterFilter { limit: Some(7), ..filter.clone() };
    loop {
        let page = dpo.register(&filter).await.unwrap();
        out.extend(page.entries);
        match page.next_after {
            Some(next) => filter.after = Some(next),
            None => return out,
        }
    }
}

fn key(e: &RegisterEntry) -> (String, u64) {
    (e.family_id.to_string(), e.index)
}

/// A DPO's raw session cookie, for the family routes the SDK's DPO side does not call.
async fn dpo_cookie(server: &Server, login: &str) -> String {
    let response = reqwest::Client::new().post(format!("{}/api/v1/dpo/session", server.url)).json(&json!({"login": login, "password": PASSWORD})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned()
}

async fn get_status(server: &Server, cookie: &str, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new().get(format!("{}{path}", server.url)).header("cookie", cookie).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn ledger_list(server: &Server, family: &FamilyFixture) -> Vec<Value> {
    server.cli(&["ledger", "list", "--family", &family.family.to_string(), "--limit", "10000"])["entries"].as_array().unwrap().clone()
}

async fn story(backend: Backend) {
    let server = Server::start(backend).await;
    let client = server.client();
    // A and B: a guardian and a 12-year-old; C: a guardian and a 19-year-old, who decides alone.
    let a = FamilyFixture::create(&server, "Martin", 12, 1);
    let b = FamilyFixture::create(&server, "Lefebvre", 12, 1);
    let c = FamilyFixture::create(&server, "Nguyen", 19, 1);
    server.cli_in(&["member", "set-password", "--family", &c.family.to_string(), "--member", &c.child.to_string()], Some(&format!("{PASSWORD}\n")));

    // Tutorat: an active grant in A (used), one in B revoked by the guardian. Lycée: an active grant in C (used),
    // one in A denied.
    let tutorat = client.service(client.register_service("Tutorat Plus").await.unwrap());
    let lycee = client.service(client.register_service("Lycée en ligne").await.unwrap());
    let (a_guardian, b_guardian, c_adult) = (
        client.sign_in(a.guardian, PASSWORD).await.unwrap(),
        client.sign_in(b.guardian, PASSWORD).await.unwrap(),
        client.sign_in(c.child, PASSWORD).await.unwrap(),
    );
    let pending = tutorat.request_access(&a.request(&["edu.grades"], &["read", "list"])).await.unwrap();
    a_guardian.approve(pending.request_id).await.unwrap();
    tutorat.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap().read_record(a.grades[0]).await.unwrap();
    let pending = tutorat.request_access(&b.request(&["edu.grades"], &["read", "list"])).await.unwrap();
    b_guardian.approve(pending.request_id).await.unwrap();
    b_guardian.revoke(pending.request_id).await.unwrap();
    let pending = lycee.request_access(&c.request(&["edu.grades", "edu.attendance"], &["read"])).await.unwrap();
    c_adult.approve(pending.request_id).await.unwrap();
    lycee.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap().read_record(c.grades[0]).await.unwrap();
    let pending = lycee.request_access(&a.request(&["edu.grades"], &["read"])).await.unwrap();
    a_guardian.deny(pending.request_id).await.unwrap();

    let operator_dpo = appoint_dpo(&server, "Délégué de l'opérateur", None, "dpo-operateur").await;
    let tutorat_dpo = appoint_dpo(&server, "DPO de Tutorat Plus", Some(tutorat.id()), "dpo-tutorat").await;
    assert_eq!(operator_dpo.service_id(), None);
    assert_eq!(tutorat_dpo.service_id(), Some(tutorat.id()));
    let listed = server.cli(&["dpo", "list"]);
    assert_eq!(listed["dpos"].as_array().unwrap().len(), 2, "{listed}");
    assert!(listed["dpos"].as_array().unwrap().iter().all(|d| d["can_sign_in"] == true), "{listed}");

    // 1. Who sees what.
    let all = everything(&operator_dpo, &RegisterFilter::default()).await;
    let families: BTreeSet<String> = all.iter().map(|e| e.family_id.to_string()).collect();
    let expected: BTreeSet<String> = [&a, &b, &c].iter().map(|f| f.family.to_string()).collect();
    assert_eq!(families, expected, "the operator's DPO sees every family");
    let keys: BTreeSet<(String, u64)> = all.iter().map(key).collect();
    assert_eq!(keys.len(), all.len(), "no entry twice across pages");
    let theirs = everything(&tutorat_dpo, &RegisterFilter::default()).await;
    assert!(!theirs.is_empty());
    let tutorat_id = tutorat.id().to_string();
    assert!(theirs.iter().all(|e| e.receipt["service"] == tutorat_id.as_str()), "the service's DPO sees only its service's entries");
    let their_families: BTreeSet<String> = theirs.iter().map(|e| e.family_id.to_string()).collect();
    assert_eq!(their_families, [&a, &b].iter().map(|f| f.family.to_string()).collect(), "the service's DPO sees the families of its grants");
    let naming_tutorat: BTreeSet<(String, u64)> = all.iter().filter(|e| e.receipt["service"] == tutorat_id.as_str()).map(key).collect();
    assert_eq!(theirs.iter().map(key).collect::<BTreeSet<_>>(), naming_tutorat, "exactly the entries naming the service");
    for event in ["request", "approve", "access_allowed", "revoke"] {
        assert!(theirs.iter().any(|e| e.receipt["event"] == event), "the service's DPO sees its {event} entries");
    }

    // 2. Neither reads a record, nor a family's members; each attempt is in the family's ledger, naming the DPO.
    for (login, dpo) in [("dpo-operateur", &operator_dpo), ("dpo-tutorat", &tutorat_dpo)] {
        let cookie = dpo_cookie(&server, login).await;
        for path in [format!("/api/v1/families/{}/records/{}", a.family, a.grades[0]), format!("/api/v1/families/{}", a.family)] {
            let (status, body) = get_status(&server, &cookie, &path).await;
            assert_eq!((status, body["error"]["code"].as_str()), (403, Some("denied")), "{login} on {path}: {body}");
        }
        let last = ledger_list(&server, &a);
        let refusals: Vec<&Value> = last.iter().filter(|e| e["receipt"]["event"] == "access_denied" && e["receipt"]["actor"] == json!({"kind": "dpo", "id": dpo.dpo_id()})).collect();
        assert_eq!(refusals.len(), 2, "{login}'s two refusals are logged in A's ledger");
        // Through the family's own ledger route, the service's DPO is narrowed too: nothing of C names Tutorat.
        if login == "dpo-tutorat" {
            let (status, body) = get_status(&server, &cookie, &format!("/api/v1/families/{}/ledger/entries", c.family)).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["entries"].as_array().unwrap().len(), 0, "{body}");
        }
    }

    // 3. Filters: a service and a period, an event, a legal basis and words of the purpose, a period with nothing.
    let today = time::OffsetDateTime::now_utc().date();
    let filtered = everything(&operator_dpo, &RegisterFilter { service: Some(lycee.id()), since: Some(today.to_string()), until: Some(today.to_string()), ..Default::default() }).await;
    assert!(!filtered.is_empty());
    assert!(filtered.iter().all(|e| e.receipt["service"] == lycee.id().to_string().as_str()));
    let revokes = everything(&operator_dpo, &RegisterFilter { event: Some("revoke".into()), ..Default::default() }).await;
    assert_eq!(revokes.len(), 1, "one revocation: B's");
    assert_eq!(revokes[0].family_id.to_string(), b.family.to_string());
    let by_purpose = everything(&operator_dpo, &RegisterFilter { legal_basis: Some("consent".into()), purpose: Some("SUIVI scol".into()), ..Default::default() }).await;
    assert!(by_purpose.iter().any(|e| e.receipt["event"] == "access_allowed"), "an access under a matching grant matches");
    assert!(by_purpose.iter().all(|e| e.receipt["service"].is_string()), "only entries about the services' grants");
    let yesterday = (today - time::Duration::days(1)).to_string();
    assert!(everything(&operator_dpo, &RegisterFilter { until: Some(yesterday), ..Default::default() }).await.is_empty());
    let bad = operator_dpo.register(&RegisterFilter { event: Some("party".into()), ..Default::default() }).await.unwrap_err();
    assert_eq!(bad.code(), Some(cartable_sdk::ErrorCode::InvalidRequest), "{bad}");

    // 4. The CSV export: a standard reader parses it, one line per entry, the same entries as `ledger list`.
    let mut csv_bytes = Vec::new();
    let mut stream = operator_dpo.export("csv", &RegisterFilter::default()).await.unwrap();
    while let Some(chunk) = stream.next().await {
        csv_bytes.extend_from_slice(&chunk.unwrap());
    }
    let mut reader = csv::Reader::from_reader(csv_bytes.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    for column in ["family_id", "index", "receipt_id", "time", "event", "actor_kind", "actor_id", "subject_id", "service_id", "grant_id", "legal_basis", "data_categories", "purpose_digest", "reasons"] {
        assert!(header.contains(&column.to_owned()), "the CSV has a `{column}` column: {header:?}");
    }
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut by_family: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for record in reader.records() {
        let record = record.expect("a well-formed CSV line");
        assert_eq!(record.len(), header.len());
        by_family.entry(record[column("family_id")].to_owned()).or_default().push((record[column("index")].parse().unwrap(), record[column("receipt_id")].to_owned()));
    }
    let csv_lines: usize = by_family.values().map(Vec::len).sum();
    for family in [&a, &b, &c] {
        let in_csv = &by_family[&family.family.to_string()];
        let listed = ledger_list(&server, family);
        // The listing is logged as it happens: one entry more than the export saw.
        assert_eq!(listed.len(), in_csv.len() + 1, "family {}: the CSV has one line per entry", family.family);
        for ((index, receipt_id), entry) in in_csv.iter().zip(&listed) {
            assert_eq!(entry["index"].as_u64(), Some(*index));
            assert_eq!(entry["receipt"]["receipt_id"].as_str(), Some(receipt_id.as_str()), "family {} entry {index}", family.family);
        }
    }
    let mut jsonl = Vec::new();
    let mut stream = operator_dpo.export("jsonl", &RegisterFilter { family: Some(b.family), ..Default::default() }).await.unwrap();
    while let Some(chunk) = stream.next().await {
        jsonl.extend_from_slice(&chunk.unwrap());
    }
    let lines: Vec<RegisterEntry> = String::from_utf8(jsonl).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().all(|e| e.family_id.to_string() == b.family.to_string()));
    assert_eq!(lines.len(), by_family[&b.family.to_string()].len() + 2, "B's log grew by the listing and this export's decision");
    assert!(csv_lines > 30, "{csv_lines} lines");

    // 5. A receipt with its proof, checked offline.
    let approval = all.iter().find(|e| e.family_id.to_string() == a.family.to_string() && e.receipt["event"] == "approve").unwrap();
    let receipt = operator_dpo.receipt(approval.family_id, approval.index).await.unwrap();
    assert_eq!(receipt.receipt, approval.receipt);
    let proof_file = server.dir.path().join("receipt.tlog-proof");
    std::fs::write(&proof_file, &receipt.proof).unwrap();
    let key = server.cli(&["ledger", "key"])["verifier_key"].as_str().unwrap().to_owned();
    let checked = server.cli(&["ledger", "check-proof", proof_file.to_str().unwrap(), "--key", &key]);
    assert_eq!(checked["index"].as_u64(), Some(approval.index), "{checked}");
    // The service's DPO: not an entry outside its view, not a family outside its remit.
    let own_access = all.iter().find(|e| e.family_id.to_string() == a.family.to_string() && e.receipt["actor"]["kind"] == "dpo").unwrap();
    assert!(tutorat_dpo.receipt(own_access.family_id, own_access.index).await.is_err(), "an entry not naming the service");
    let in_c = all.iter().find(|e| e.family_id.to_string() == c.family.to_string()).unwrap();
    assert_eq!(tutorat_dpo.receipt(in_c.family_id, in_c.index).await.unwrap_err().code(), Some(cartable_sdk::ErrorCode::NotFound));

    // 6. The state of the logs, and what the DPO was shown.
    let first = operator_dpo.logs().await.unwrap();
    assert_eq!(first.logs.len(), 3);
    assert!(first.logs.iter().all(|l| l.consistent.is_none() && l.seen_size.is_none()), "nothing was shown before");
    let second = operator_dpo.logs().await.unwrap();
    assert!(second.logs.iter().all(|l| l.consistent == Some(true)), "{second:?}");
    for (before, now) in first.logs.iter().zip(&second.logs) {
        assert_eq!(now.seen_size, Some(before.size));
        assert!(now.size > before.size, "looking at the logs is itself logged");
    }
    let verified = operator_dpo.verify_all().await.unwrap();
    assert!(verified.logs.iter().all(|l| l.verified == Some(true)), "{verified:?}");

    // 7. An entry of B altered in the database: B fails verification, naming it; the others pass.
    let db = server.database().await;
    let b_entries = ledger_list(&server, &b);
    let altered = b_entries.iter().find(|e| e["receipt"]["event"] == "access_allowed").unwrap()["index"].as_u64().unwrap();
    let row = sqlx::query("SELECT entry FROM ledger_entries WHERE family_id = $1 AND idx = $2").bind(b.family.to_string()).bind(altered as i64).fetch_one(&db).await.unwrap();
    let forged = String::from_utf8(row.get::<Vec<u8>, _>(0)).unwrap().replace("\"access_allowed\"", "\"access_denied\"");
    sqlx::query("UPDATE ledger_entries SET entry = $1 WHERE family_id = $2 AND idx = $3").bind(forged.into_bytes()).bind(b.family.to_string()).bind(altered as i64).execute(&db).await.unwrap();

    // 8. C's history rewritten: its last entries (accesses only) cut off, the tree and head cut to match, then grown
    //    again by ordinary reads past the size the DPO saw: on its own, the log verifies.
    let seen = operator_dpo.logs().await.unwrap().logs.into_iter().find(|l| l.family_id.to_string() == c.family.to_string()).unwrap().size;
    let c_entries = ledger_list(&server, &c);
    let last_change = c_entries.iter().filter(|e| e["receipt"]["event"] != "access_allowed" && e["receipt"]["event"] != "access_denied").map(|e| e["index"].as_u64().unwrap()).max().unwrap();
    let cut = last_change + 1;
    assert!(cut + 2 < seen, "C has accesses after its last grant change");
    let f = c.family.to_string();
    for (sql, bound) in [
        ("DELETE FROM ledger_entries WHERE family_id = $1 AND idx >= $2", cut as i64),
        ("DELETE FROM ledger_checkpoints WHERE family_id = $1 AND size > $2", cut as i64),
        ("UPDATE ledger_heads SET size = $2 WHERE family_id = $1", cut as i64),
    ] {
        sqlx::query(sql).bind(&f).bind(bound).execute(&db).await.unwrap();
    }
    // The nodes over any leaf from `cut` on: at level l, those from index cut >> l.
    for level in 0..64i64 {
        sqlx::query("DELETE FROM ledger_nodes WHERE family_id = $1 AND level = $2 AND idx >= $3").bind(&f).bind(level).bind((cut >> level) as i64).execute(&db).await.unwrap();
    }
    db.close().await;
    // Each listing is an access, logged: list until the log is past what the DPO saw.
    while (ledger_list(&server, &c).len() as u64) < seen + 2 {}
    assert!(server.cli(&["ledger", "verify", "--family", &f])["size"].as_u64().unwrap() > seen, "the rewritten log verifies on its own");

    let after = operator_dpo.verify_all().await.unwrap();
    let state = |family: &FamilyFixture| after.logs.iter().find(|l| l.family_id.to_string() == family.family.to_string()).unwrap().clone();
    let (sa, sb, sc) = (state(&a), state(&b), state(&c));
    assert_eq!((sa.verified, sa.consistent), (Some(true), Some(true)), "{sa:?}");
    assert_eq!((sb.verified, sb.broken_at), (Some(false), Some(altered)), "B fails at the altered entry: {sb:?}");
    assert_eq!(sc.verified, Some(true), "C's rewritten log verifies on its own: {sc:?}");
    assert_eq!(sc.consistent, Some(false), "but not against what the DPO saw: {sc:?}");
    assert!(sc.problem.as_deref().unwrap_or("").contains("rewritten"), "{sc:?}");
    // Reported again the next time: the inconsistent checkpoint is not taken as seen.
    let again = operator_dpo.logs().await.unwrap();
    assert_eq!(again.logs.iter().find(|l| l.family_id.to_string() == c.family.to_string()).unwrap().consistent, Some(false));
    // The console's CLI twin reports B and fails.
    let cli = cli_support::Cli { data: server.data.clone(), database_url: server.database_url.clone() };
    let failure = cli.fails(&["register", "verify"]);
    assert!(failure.contains("1 of 3 logs failed verification"), "{failure}");

    // 9. The record of processing: per service, from the grants.
    let record = operator_dpo.processing().await.unwrap();
    let activity = |name: &str| record.activities.iter().find(|a| a.service_name == name).unwrap_or_else(|| panic!("no activity of {name}: {record:?}")).clone();
    let (t, l) = (activity("Tutorat Plus"), activity("Lycée en ligne"));
    assert_eq!((t.grants_active, t.grants_revoked, t.grants_expired, t.grants_other), (1, 1, 0, 0));
    assert_eq!((t.persons.minors_under_consent_age, t.persons.minors_over_consent_age, t.persons.adults), (2, 0, 0));
    assert_eq!(t.purposes, vec!["suivi scolaire".to_owned()]);
    assert_eq!(t.legal_bases, vec!["consent".to_owned()]);
    assert_eq!(t.doctypes, vec!["edu.grades".to_owned()]);
    assert_eq!((t.retention_days_min, t.retention_days_max), (30, 30));
    assert_eq!((l.grants_active, l.grants_other), (1, 1));
    assert_eq!((l.persons.minors_under_consent_age, l.persons.adults), (1, 1));
    assert_eq!(l.doctypes, vec!["edu.attendance".to_owned(), "edu.grades".to_owned()]);
    let own = tutorat_dpo.processing().await.unwrap();
    assert_eq!(own.activities.len(), 1, "a service's DPO: its own service only");
    assert_eq!(own.activities[0].service_name, "Tutorat Plus");
    let cookie = dpo_cookie(&server, "dpo-operateur").await;
    let response = reqwest::Client::new().get(format!("{}/api/v1/register/processing?format=csv", server.url)).header("cookie", cookie).send().await.unwrap();
    let text = response.text().await.unwrap();
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(text.as_bytes()).records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "{text}");

    // 10. A family's art. 15 answer: A's guardian gets every entry about the child, each proof checking offline
    //     against the key in the file; the adult of C gets their own; A's guardian gets nothing of C.
    let report = a_guardian.access_report(a.child).await.unwrap();
    let verifier = cartable_consent::ledger::LedgerVerifier::parse(&report.verifier_key).unwrap();
    let child = a.child.to_string();
    assert!(report.entries.iter().all(|e| e.receipt["principal"] == child.as_str()), "only entries about the child");
    for event in ["request", "approve", "access_allowed", "deny"] {
        assert!(report.entries.iter().any(|e| e.receipt["event"] == event), "the report has the child's {event} entries");
    }
    for e in &report.entries {
        let proof = cartable_consent::ledger::TlogProof::parse(&e.proof).unwrap();
        assert_eq!(proof.index, e.index);
        proof.verify_entry(&verifier).expect("each proof checks offline");
        let proven = cartable_consent::ledger::Receipt::from_canonical(proof.extra.as_deref().unwrap()).unwrap();
        assert_eq!(serde_json::to_value(&proven).unwrap(), e.receipt, "the proof is of this very receipt");
    }
    assert_eq!(report.grants.len(), 2, "Tutorat's active grant and Lycée's denied request: {:?}", report.grants);
    // (C's accesses were cut off with its history above; its grant's entries stay.)
    let own = c_adult.access_report(c.child).await.unwrap();
    assert!(own.entries.iter().any(|e| e.receipt["event"] == "approve" && e.receipt["actor"]["kind"] == "child"), "{:?}", own.entries);
    let refused = a_guardian.access_report(c.child).await.unwrap_err();
    assert!(refused.code().is_some(), "{refused}");
    assert!(matches!(b_guardian.access_report(a.child).await.unwrap_err().code(), Some(cartable_sdk::ErrorCode::NotFound)), "another family's guardian");

    // 11. The operator's twin at the console: pages with a cursor, an export to a file only its owner reads.
    let page = server.cli(&["register", "list", "--limit", "5"]);
    assert_eq!(page["entries"].as_array().unwrap().len(), 5);
    let next = page["next_after"].as_str().expect("a cursor").to_owned();
    let second = server.cli(&["register", "list", "--limit", "5", "--after", &next]);
    assert_ne!(second["entries"][0], page["entries"][0]);
    let out = server.dir.path().join("register.csv");
    let cli = cli_support::Cli { data: server.data.clone(), database_url: server.database_url.clone() };
    let done = cli.run(&["register", "export", "--format", "csv", "--service", &tutorat_id, "--output", out.to_str().unwrap()], None);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    let rows: Vec<csv::StringRecord> = csv::Reader::from_path(&out).unwrap().records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), naming_tutorat.len(), "the operator's export has every entry naming the service");
    let bad = cli.fails(&["register", "export", "--format", "xml"]);
    assert!(bad.contains("--format is csv or jsonl"), "{bad}");
    let processing_csv = cli.run(&["register", "processing", "--csv"], None);
    assert_eq!(csv::Reader::from_reader(processing_csv.stdout.as_slice()).records().count(), 2);

    // Nothing the DPOs did put a child's grade in their answers or the ledger.
    assert!(!String::from_utf8_lossy(&csv_bytes).contains("secret-comment"));
}
