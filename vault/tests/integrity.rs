//! Integrity at rest, tried as someone with write access to the database and the blob store but no keys (a managed
//! database's administrator, a tampered backup): ciphertexts swapped, copied and moved with SQL between records of
//! one collection, of two children, of two collections, of two families, between two versions of one record; blobs
//! swapped in the store; rows put back to an older version. Every read of an altered place fails with the integrity
//! error, naming the place by id and logged; every untouched record still reads; nothing altered is served.
//! On SQLite and, when `CARTABLE_TEST_DATABASE_URL` is set, on PostgreSQL; with the blobs in the data folder and, when
//! `CARTABLE_TEST_S3_ENDPOINT` is set, in an S3 store.

mod support;

use std::collections::BTreeSet;
use std::io::{Cursor, Read};

use cartable_consent::{Action, Doctype, FamilyId, MemberId, Principal, RecordId, Resource, Role};
use cartable_vault::{Error, NewRecord, Vault, VerifyError};
use support::{Fixture, Leg, LogSink, fixture_on, legs, operator, read};
use time::macros::date;

/// Two families: Léo and Inès in the first, Tom in the second; each record's body as written.
struct Scene {
    fx: Fixture,
    vault: Vault,
    f1: FamilyId,
    f2: FamilyId,
    leo: MemberId,
    ines: MemberId,
    /// Léo's grades: 4/20 first.
    leo_grades: Vec<RecordId>,
    ines_grade: RecordId,
    leo_homework: RecordId,
    tom_grade: RecordId,
    /// Léo's grade with a body above the inline limit (in a blob).
    big: RecordId,
    files: Vec<(RecordId, Vec<u8>)>,
    /// (family, record, body) of every record, as it must read.
    expected: Vec<(FamilyId, RecordId, serde_json::Value)>,
}

async fn put(vault: &Vault, family: FamilyId, child: MemberId, doctype: Doctype, body: serde_json::Value) -> RecordId {
    let permit = operator(vault, family, Action::Write, Resource::Collection { child, doctype }).await;
    vault.put_record(&permit, NewRecord { child, doctype, source: "operator".into(), body }).await.unwrap()
}

async fn scene(leg: Leg, marker: &str) -> Scene {
    let fx = fixture_on(leg).await;
    let vault = Vault::open(fx.config.clone()).await.unwrap();
    let f1 = vault.create_family(&format!("Famille {marker}")).await.unwrap();
    let leo = vault.add_member(&vault.as_operator(f1, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, &format!("Léo {marker}"), Some(date!(2014 - 03 - 01))).await.unwrap();
    let ines = vault.add_member(&vault.as_operator(f1, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, &format!("Inès {marker}"), Some(date!(2011 - 09 - 12))).await.unwrap();
    let f2 = vault.create_family("Autre famille").await.unwrap();
    let tom = vault.add_member(&vault.as_operator(f2, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, "Tom", Some(date!(2013 - 01 - 09))).await.unwrap();
    let mut expected = Vec::new();
    let mut grade = |family, grade: &str, n: u32| {
        let body = serde_json::json!({"subject": "mathématiques", "grade": grade, "n": n, "comment": format!("{marker} devoir")});
        expected.push((family, RecordId::new(), body.clone()));
        body
    };
    let bodies: Vec<serde_json::Value> = vec![grade(f1, "4/20", 0), grade(f1, "11/20", 1), grade(f1, "13/20", 2)];
    let ines_body = grade(f1, "19/20", 3);
    let homework_body = grade(f1, "à rendre", 4);
    let tom_body = grade(f2, "15/20", 5);
    let big_body = serde_json::json!({"notes": format!("{marker} ").repeat(10_000)});
    let mut leo_grades = Vec::new();
    for b in bodies {
        leo_grades.push(put(&vault, f1, leo, Doctype::Grades, b).await);
    }
    let ines_grade = put(&vault, f1, ines, Doctype::Grades, ines_body).await;
    let leo_homework = put(&vault, f1, leo, Doctype::Homework, homework_body).await;
    let tom_grade = put(&vault, f2, tom, Doctype::Grades, tom_body).await;
    let big = put(&vault, f1, leo, Doctype::Grades, big_body.clone()).await;
    let ids = [leo_grades[0], leo_grades[1], leo_grades[2], ines_grade, leo_homework, tom_grade];
    for (e, id) in expected.iter_mut().zip(ids) {
        e.1 = id;
    }
    expected.push((f1, big, big_body));
    let docs = operator(&vault, f1, Action::Write, Resource::Collection { child: leo, doctype: Doctype::Documents }).await;
    let mut files = Vec::new();
    for i in 0..2u8 {
        let content = format!("{marker} bulletin {i}\n").repeat(5_000 + i as usize).into_bytes();
        let id = vault
            .put_file(&docs, leo, Doctype::Documents, "operator".into(), format!("bulletin-{i}.pdf"), Box::new(Cursor::new(content.clone())))
            .await
            .unwrap();
        files.push((id, content));
    }
    Scene { fx, vault, f1, f2, leo, ines, leo_grades, ines_grade, leo_homework, tom_grade, big, files, expected }
}

async fn body_enc(conn: &mut sqlx::AnyConnection, id: RecordId) -> Vec<u8> {
    let row: (Vec<u8>,) = sqlx::query_as("SELECT body_enc FROM records WHERE id = $1").bind(id.to_string()).fetch_one(&mut *conn).await.unwrap();
    row.0
}

async fn set_body_enc(conn: &mut sqlx::AnyConnection, id: RecordId, value: &[u8]) {
    sqlx::query("UPDATE records SET body_enc = $1 WHERE id = $2").bind(value.to_vec()).bind(id.to_string()).execute(&mut *conn).await.unwrap();
}

async fn exec(conn: &mut sqlx::AnyConnection, sql: &str, binds: &[&str]) {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for b in binds {
        q = q.bind(b.to_string());
    }
    q.execute(&mut *conn).await.unwrap();
}

fn assert_integrity(result: Result<impl std::fmt::Debug, Error>, id: impl std::fmt::Display, case: &str) {
    match result {
        Err(Error::Integrity(what)) => assert!(what.contains(&id.to_string()), "{case}: the error names `{id}`: {what}"),
        other => panic!("{case}: `{id}` must fail its integrity check, got {other:?}"),
    }
}

async fn read_file(vault: &Vault, family: FamilyId, id: RecordId) -> Result<Vec<u8>, Error> {
    let resource = vault.record_resource(family, id).await?;
    let permit = operator(vault, family, Action::Read, resource).await;
    let (_, mut reader) = vault.open_file(&permit).await?;
    tokio::task::spawn_blocking(move || {
        let mut v = Vec::new();
        reader.read_to_end(&mut v).map_err(|_| Error::BlobCorrupt)?;
        Ok(v)
    })
    .await
    .unwrap()
}

/// Every log line of this test binary, at every level. Global, not per thread: a callsite first reached by a test
/// without a subscriber would otherwise stay silent for the others.
fn logs() -> &'static LogSink {
    static SINK: std::sync::OnceLock<LogSink> = std::sync::OnceLock::new();
    SINK.get_or_init(|| {
        let sink = LogSink::default();
        let writer = sink.clone();
        tracing::subscriber::set_global_default(
            tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish(),
        )
        .expect("one global subscriber per test binary");
        sink
    })
}

impl Scene {
    /// Every record and file reads: the altered ones fail with the integrity error naming them, the others give
    /// exactly what was written.
    async fn check(&self, altered: &[RecordId], case: &str) {
        let altered: BTreeSet<RecordId> = altered.iter().copied().collect();
        for (family, id, body) in &self.expected {
            let got = read(&self.vault, *family, *id).await;
            if altered.contains(id) {
                assert_integrity(got.map(|d| d.id), id, case);
            } else {
                let doc = got.unwrap_or_else(|e| panic!("{case}: untouched record `{id}` must read: {e}"));
                assert_eq!(&doc.body, body, "{case}: record `{id}`");
            }
        }
        for (id, content) in &self.files {
            let got = read_file(&self.vault, self.f1, *id).await;
            if altered.contains(id) {
                assert_integrity(got.map(|v| v.len()), id, case);
            } else {
                assert_eq!(&got.unwrap_or_else(|e| panic!("{case}: untouched file `{id}` must read: {e}")), content, "{case}: file `{id}`");
            }
        }
    }

    /// A vault opened afresh on the same data (no key or policy cached), as the next process would.
    async fn reopen(&self) -> Vault {
        Vault::open(self.fx.config.clone()).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ciphertexts_moved_copied_or_swapped_with_sql_or_on_disk_never_open() {
    let sink = logs();
    for leg in legs() {
        tamper(leg, sink).await;
    }
}

async fn tamper(leg: Leg, logs: &LogSink) {
    let marker = format!("ZQX{}MARK", uuid::Uuid::new_v4().simple());
    let s = scene(leg, &marker).await;
    let mut sql = s.fx.sql().await;
    s.check(&[], "before any change").await;
    let (g0, g1, g2) = (s.leo_grades[0], s.leo_grades[1], s.leo_grades[2]);

    // Two records of one collection swapped.
    let (a, b) = (body_enc(&mut sql, g0).await, body_enc(&mut sql, g1).await);
    set_body_enc(&mut sql, g0, &b).await;
    set_body_enc(&mut sql, g1, &a).await;
    s.check(&[g0, g1], "swapped within a collection").await;
    set_body_enc(&mut sql, g0, &a).await;
    set_body_enc(&mut sql, g1, &b).await;

    // Léo's 4/20 and Inès's 19/20 swapped: two children of one family.
    let (a, b) = (body_enc(&mut sql, g0).await, body_enc(&mut sql, s.ines_grade).await);
    set_body_enc(&mut sql, g0, &b).await;
    set_body_enc(&mut sql, s.ines_grade, &a).await;
    s.check(&[g0, s.ines_grade], "swapped between two children").await;
    set_body_enc(&mut sql, g0, &a).await;
    set_body_enc(&mut sql, s.ines_grade, &b).await;

    // Copied from another collection (homework) over a grade.
    let saved = body_enc(&mut sql, g2).await;
    let homework = body_enc(&mut sql, s.leo_homework).await;
    set_body_enc(&mut sql, g2, &homework).await;
    s.check(&[g2], "copied from another collection").await;
    set_body_enc(&mut sql, g2, &saved).await;

    // A record moved to another collection, and to another child, by editing its clear columns.
    let homework_collection: (String,) = sqlx::query_as("SELECT collection_id FROM records WHERE id = $1")
        .bind(s.leo_homework.to_string())
        .fetch_one(&mut sql)
        .await
        .unwrap();
    let grades_collection: (String,) =
        sqlx::query_as("SELECT collection_id FROM records WHERE id = $1").bind(g2.to_string()).fetch_one(&mut sql).await.unwrap();
    exec(&mut sql, "UPDATE records SET doctype = 'edu.homework', collection_id = $1 WHERE id = $2", &[&homework_collection.0, &g2.to_string()]).await;
    exec(&mut sql, "UPDATE records SET child_id = $1 WHERE id = $2", &[&s.ines.to_string(), &g1.to_string()]).await;
    s.check(&[g1, g2], "moved to another collection and to another child").await;
    exec(&mut sql, "UPDATE records SET doctype = 'edu.grades', collection_id = $1 WHERE id = $2", &[&grades_collection.0, &g2.to_string()]).await;
    exec(&mut sql, "UPDATE records SET child_id = $1 WHERE id = $2", &[&s.leo.to_string(), &g1.to_string()]).await;

    // Copied from another family, and a record moved into another family.
    let saved = body_enc(&mut sql, g1).await;
    let toms = body_enc(&mut sql, s.tom_grade).await;
    set_body_enc(&mut sql, g1, &toms).await;
    s.check(&[g1], "copied from another family").await;
    set_body_enc(&mut sql, g1, &saved).await;
    let f2_collection: (String, String) = sqlx::query_as("SELECT collection_id, child_id FROM records WHERE id = $1")
        .bind(s.tom_grade.to_string())
        .fetch_one(&mut sql)
        .await
        .unwrap();
    exec(&mut sql, "UPDATE records SET family_id = $1, collection_id = $2, child_id = $3 WHERE id = $4", &[
        &s.f2.to_string(),
        &f2_collection.0,
        &f2_collection.1,
        &g0.to_string(),
    ])
    .await;
    assert_integrity(read(&s.vault, s.f2, g0).await.map(|d| d.id), g0, "moved into another family");
    assert!(matches!(read(&s.vault, s.f1, g0).await, Err(Error::RecordNotFound(_))));
    let (orig_collection, orig_child) = {
        let row: (String,) = sqlx::query_as("SELECT collection_id FROM records WHERE id = $1").bind(g1.to_string()).fetch_one(&mut sql).await.unwrap();
        (row.0, s.leo.to_string())
    };
    exec(&mut sql, "UPDATE records SET family_id = $1, collection_id = $2, child_id = $3 WHERE id = $4", &[
        &s.f1.to_string(),
        &orig_collection,
        &orig_child,
        &g0.to_string(),
    ])
    .await;
    s.check(&[], "after putting everything back").await;

    // Two versions of one record: the first version's ciphertext under the second's version number.
    let old = body_enc(&mut sql, g2).await;
    let write = operator(&s.vault, s.f1, Action::Write, s.vault.record_resource(s.f1, g2).await.unwrap()).await;
    let v2 = serde_json::json!({"subject": "mathématiques", "grade": "14/20", "comment": format!("{marker} corrigé")});
    assert_eq!(s.vault.update_record(&write, g2, "operator".into(), v2.clone()).await.unwrap(), 2);
    let new = body_enc(&mut sql, g2).await;
    set_body_enc(&mut sql, g2, &old).await;
    assert_integrity(read(&s.vault, s.f1, g2).await.map(|d| d.id), g2, "an older version's ciphertext under the new version");
    set_body_enc(&mut sql, g2, &new).await;
    assert_eq!(read(&s.vault, s.f1, g2).await.unwrap().body, v2);
    let mut s = s;
    s.expected.iter_mut().find(|e| e.1 == g2).unwrap().2 = v2;

    // Blobs, in the store (the data folder's files, or the S3 objects): two files swapped; a large body's blob
    // replaced by a file's blob; file metadata swapped.
    let (f_a, f_b) = (s.files[0].0, s.files[1].0);
    let (na, nb, nbig) = (f_a.to_string(), f_b.to_string(), s.big.to_string());
    let (ba, bb) = (s.fx.blob_bytes(s.f1, &na).await, s.fx.blob_bytes(s.f1, &nb).await);
    s.fx.set_blob_bytes(s.f1, &na, bb.clone()).await;
    s.fx.set_blob_bytes(s.f1, &nb, ba.clone()).await;
    s.check(&[f_a, f_b], "two blobs swapped in the store").await;
    s.fx.set_blob_bytes(s.f1, &na, ba.clone()).await;
    s.fx.set_blob_bytes(s.f1, &nb, bb).await;
    let big_blob = s.fx.blob_bytes(s.f1, &nbig).await;
    s.fx.set_blob_bytes(s.f1, &nbig, ba).await;
    s.check(&[s.big], "a large body's blob replaced").await;
    s.fx.set_blob_bytes(s.f1, &nbig, big_blob).await;
    let (ma, mb) = (body_enc(&mut sql, f_a).await, body_enc(&mut sql, f_b).await);
    set_body_enc(&mut sql, f_a, &mb).await;
    set_body_enc(&mut sql, f_b, &ma).await;
    s.check(&[f_a, f_b], "file metadata swapped").await;
    set_body_enc(&mut sql, f_a, &ma).await;
    set_body_enc(&mut sql, f_b, &mb).await;
    s.check(&[], "after putting the blobs back").await;

    // Names and birth dates: a fresh vault (nothing cached) refuses them, naming the member or family.
    let (n1, n2) = family_names(&mut sql, s.f1, s.f2).await;
    exec_bytes(&mut sql, "UPDATE families SET name_enc = $1 WHERE id = $2", &n2, s.f1).await;
    exec_bytes(&mut sql, "UPDATE families SET name_enc = $1 WHERE id = $2", &n1, s.f2).await;
    let fresh = s.reopen().await;
    let permit = operator(&fresh, s.f1, Action::Read, Resource::Family).await;
    assert_integrity(fresh.family_name(&permit).await, s.f1, "family names swapped");
    exec_bytes(&mut sql, "UPDATE families SET name_enc = $1 WHERE id = $2", &n1, s.f1).await;
    exec_bytes(&mut sql, "UPDATE families SET name_enc = $1 WHERE id = $2", &n2, s.f2).await;
    assert_eq!(fresh.family_name(&permit).await.unwrap(), format!("Famille {marker}"));

    let (d1, d2) = data_keys(&mut sql, s.f1, s.f2).await;
    exec_bytes(&mut sql, "UPDATE families SET data_key_enc = $1 WHERE id = $2", &d2, s.f1).await;
    let fresh = s.reopen().await;
    assert_integrity(fresh.authorize(s.f1, Principal::Operator, Action::Read, Resource::Family).await.map(|_| ()), s.f1, "a data key from another family");
    exec_bytes(&mut sql, "UPDATE families SET data_key_enc = $1 WHERE id = $2", &d1, s.f1).await;
    let _ = d2;

    for (column, what) in [("name_enc", "member names swapped"), ("birth_date_enc", "birth dates swapped")] {
        let (l, i) = (member_col(&mut sql, column, s.leo).await, member_col(&mut sql, column, s.ines).await);
        set_member_col(&mut sql, column, s.leo, &i).await;
        set_member_col(&mut sql, column, s.ines, &l).await;
        let fresh = s.reopen().await;
        // The rules open every member's name and birth date: nothing is decided on an altered one.
        let err = fresh.authorize(s.f1, Principal::Operator, Action::Read, Resource::Family).await.map(|_| ());
        assert!(matches!(&err, Err(Error::Integrity(w)) if w.contains(&s.leo.to_string()) || w.contains(&s.ines.to_string())), "{what}: {err:?}");
        set_member_col(&mut sql, column, s.leo, &l).await;
        set_member_col(&mut sql, column, s.ines, &i).await;
    }
    let birth = member_col(&mut sql, "birth_date_enc", s.ines).await;
    exec(&mut sql, "UPDATE members SET birth_date_enc = NULL WHERE id = $1", &[&s.ines.to_string()]).await;
    let fresh = s.reopen().await;
    assert_integrity(fresh.authorize(s.f1, Principal::Operator, Action::Read, Resource::Family).await.map(|_| ()), s.ines, "a child's birth date removed");
    set_member_col(&mut sql, "birth_date_enc", s.ines, &birth).await;
    exec(&mut sql, "UPDATE members SET role = 'guardian' WHERE id = $1", &[&s.leo.to_string()]).await;
    let fresh = s.reopen().await;
    assert_integrity(fresh.authorize(s.f1, Principal::Operator, Action::Read, Resource::Family).await.map(|_| ()), s.leo, "a child's role edited");
    exec(&mut sql, "UPDATE members SET role = 'child' WHERE id = $1", &[&s.leo.to_string()]).await;
    let fresh = s.reopen().await;
    let permit = operator(&fresh, s.f1, Action::Read, Resource::Family).await;
    assert_eq!(fresh.list_members(&permit).await.unwrap().len(), 2);
    s.vault = fresh;
    s.check(&[], "at the end").await;

    // The failures were logged at warn, by id, with no content.
    let text = logs.text();
    assert!(text.contains("integrity check failed") && text.contains(&g0.to_string()), "integrity failures are logged");
    assert!(text.lines().any(|l| l.contains("WARN") && l.contains("integrity check failed")));
    assert!(!text.contains(&marker), "no plaintext in the logs");
    let _ = (s.f2, s.tom_grade);
}

async fn family_names(conn: &mut sqlx::AnyConnection, f1: FamilyId, f2: FamilyId) -> (Vec<u8>, Vec<u8>) {
    let get = |f: FamilyId| f.to_string();
    let a: (Vec<u8>,) = sqlx::query_as("SELECT name_enc FROM families WHERE id = $1").bind(get(f1)).fetch_one(&mut *conn).await.unwrap();
    let b: (Vec<u8>,) = sqlx::query_as("SELECT name_enc FROM families WHERE id = $1").bind(get(f2)).fetch_one(&mut *conn).await.unwrap();
    (a.0, b.0)
}

async fn data_keys(conn: &mut sqlx::AnyConnection, f1: FamilyId, f2: FamilyId) -> (Vec<u8>, Vec<u8>) {
    let a: (Vec<u8>,) = sqlx::query_as("SELECT data_key_enc FROM families WHERE id = $1").bind(f1.to_string()).fetch_one(&mut *conn).await.unwrap();
    let b: (Vec<u8>,) = sqlx::query_as("SELECT data_key_enc FROM families WHERE id = $1").bind(f2.to_string()).fetch_one(&mut *conn).await.unwrap();
    (a.0, b.0)
}

async fn exec_bytes(conn: &mut sqlx::AnyConnection, sql: &'static str, value: &[u8], id: impl std::fmt::Display) {
    sqlx::query(sql).bind(value.to_vec()).bind(id.to_string()).execute(&mut *conn).await.unwrap();
}

async fn member_col(conn: &mut sqlx::AnyConnection, column: &str, id: MemberId) -> Vec<u8> {
    let row: (Vec<u8>,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {column} FROM members WHERE id = $1")))
        .bind(id.to_string())
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    row.0
}

async fn set_member_col(conn: &mut sqlx::AnyConnection, column: &str, id: MemberId, value: &[u8]) {
    sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE members SET {column} = $1 WHERE id = $2")))
        .bind(value.to_vec())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_put_back_to_an_older_version_is_detected_by_ledger_verify() {
    logs();
    for leg in legs() {
        rollback(leg).await;
    }
}

/// A record row as an older backup has it.
type Snapshot = (Vec<u8>, i64, i64, i64, Option<String>);

async fn snapshot(conn: &mut sqlx::AnyConnection, id: RecordId) -> Snapshot {
    sqlx::query_as("SELECT body_enc, version, size, updated_at, blob_key FROM records WHERE id = $1").bind(id.to_string()).fetch_one(&mut *conn).await.unwrap()
}

async fn restore(conn: &mut sqlx::AnyConnection, id: RecordId, s: &Snapshot) {
    sqlx::query("UPDATE records SET body_enc = $1, version = $2, size = $3, updated_at = $4, blob_key = $5 WHERE id = $6")
        .bind(s.0.clone())
        .bind(s.1)
        .bind(s.2)
        .bind(s.3)
        .bind(s.4.clone())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .unwrap();
}

async fn rollback(leg: Leg) {
    let fx = fixture_on(leg).await;
    let vault = Vault::open(fx.config.clone()).await.unwrap();
    let family = vault.create_family("Martin").await.unwrap();
    let leo = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, "Léo", Some(date!(2014 - 03 - 01))).await.unwrap();
    let id = put(&vault, family, leo, Doctype::Grades, serde_json::json!({"grade": "4/20"})).await;
    let mut sql = fx.sql().await;
    let v1 = snapshot(&mut sql, id).await;
    let write = operator(&vault, family, Action::Write, vault.record_resource(family, id).await.unwrap()).await;
    assert_eq!(vault.update_record(&write, id, "operator".into(), serde_json::json!({"grade": "9/20"})).await.unwrap(), 2);
    let v2 = snapshot(&mut sql, id).await;
    // A large body: the third version lives in a blob of its own.
    let big = serde_json::json!({"grade": "12/20", "notes": "x".repeat(70_000)});
    assert_eq!(vault.update_record(&write, id, "operator".into(), big.clone()).await.unwrap(), 3);
    let v3 = snapshot(&mut sql, id).await;
    let doc = read(&vault, family, id).await.unwrap();
    assert_eq!((doc.version, &doc.body), (3, &big));
    vault.verify_ledger(family).await.unwrap();
    // The write entries hold the record's id and version, never its content.
    let writes = vault
        .ledger_entries(&vault.as_operator(family, Action::List, cartable_consent::Resource::Register).await.unwrap(), &cartable_vault::LedgerFilter { event: Some(cartable_consent::ledger::EventType::RecordWrite), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(writes.iter().map(|e| (e.receipt.resource, e.receipt.record_version)).collect::<Vec<_>>(), vec![(Some(id), Some(2)), (Some(id), Some(3))]);
    assert!(writes.iter().all(|e| !String::from_utf8_lossy(&e.receipt.canonical_bytes()).contains("/20")));

    for (older, version) in [(&v1, 1), (&v2, 2)] {
        restore(&mut sql, id, older).await;
        // A genuine older ciphertext with its own version opens: the read path serves the older version, marked
        // with its version number, and `ledger verify` says it was rolled back.
        assert_eq!(read(&vault, family, id).await.unwrap().version, version);
        match vault.verify_ledger(family).await {
            Err(VerifyError::Broken { reason, .. }) => {
                assert!(reason.contains(&id.to_string()) && reason.contains("rolled back"), "{reason}");
            }
            other => panic!("a rollback to version {version} must be detected: {other:?}"),
        }
    }
    // The older ciphertext under the newest version number does not even open.
    restore(&mut sql, id, &(v2.0.clone(), 3, v3.2, v3.3, v3.4.clone())).await;
    assert_integrity(read(&vault, family, id).await.map(|d| d.id), id, "version 2's ciphertext as version 3");
    restore(&mut sql, id, &v3).await;
    assert_eq!(read(&vault, family, id).await.unwrap().body, big);
    vault.verify_ledger(family).await.unwrap();
    // A version bumped without a write in the log is refused too.
    sqlx::query("UPDATE records SET version = 4 WHERE id = $1").bind(id.to_string()).execute(&mut sql).await.unwrap();
    assert!(matches!(vault.verify_ledger(family).await, Err(VerifyError::Broken { .. })));
    assert_integrity(read(&vault, family, id).await.map(|d| d.id), id, "a version number edited");
    restore(&mut sql, id, &v3).await;

    // An update needs a write permit for that record's collection, and files are not rewritten.
    let other = operator(&vault, family, Action::Write, Resource::Collection { child: leo, doctype: Doctype::Homework }).await;
    assert!(matches!(vault.update_record(&other, id, "operator".into(), serde_json::json!({})).await, Err(Error::PermitMismatch(_))));
    let read_permit = operator(&vault, family, Action::Read, vault.record_resource(family, id).await.unwrap()).await;
    assert!(matches!(vault.update_record(&read_permit, id, "operator".into(), serde_json::json!({})).await, Err(Error::PermitMismatch(_))));
    let docs = operator(&vault, family, Action::Write, Resource::Collection { child: leo, doctype: Doctype::Documents }).await;
    let file = vault.put_file(&docs, leo, Doctype::Documents, "operator".into(), "a.pdf".into(), Box::new(Cursor::new(b"%PDF".to_vec()))).await.unwrap();
    assert!(matches!(vault.update_record(&docs, file, "operator".into(), serde_json::json!({})).await, Err(Error::InvalidInput(_))));
    // Back to an inline body: the blob of version 3 is removed once version 4 commits.
    assert_eq!(vault.update_record(&write, id, "operator".into(), serde_json::json!({"grade": "16/20"})).await.unwrap(), 4);
    let v3_blob = v3.4.clone().expect("version 3 lives in a blob");
    assert!(v3_blob.starts_with(&format!("{id}.v3-")));
    assert!(!fx.blob_names(family).await.contains(&v3_blob));
    vault.verify_ledger(family).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_of_one_record_each_get_their_own_version() {
    logs();
    for leg in legs() {
        let fx = fixture_on(leg).await;
        let vault = Vault::open(fx.config.clone()).await.unwrap();
        let family = vault.create_family("Martin").await.unwrap();
        let leo = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, "Léo", Some(date!(2014 - 03 - 01))).await.unwrap();
        let id = put(&vault, family, leo, Doctype::Grades, serde_json::json!({"grade": "4/20"})).await;
        let mut tasks = Vec::new();
        for t in 0..4 {
            let vault = vault.clone();
            // Large bodies: each version in a blob of its own.
            let body = serde_json::json!({"grade": format!("{t}/20"), "notes": "x".repeat(70_000)});
            tasks.push(tokio::spawn(async move {
                let write = operator(&vault, family, Action::Write, vault.record_resource(family, id).await.unwrap()).await;
                vault.update_record(&write, id, "operator".into(), body).await.unwrap()
            }));
        }
        let mut versions = Vec::new();
        for t in tasks {
            versions.push(t.await.unwrap());
        }
        versions.sort();
        assert_eq!(versions, vec![2, 3, 4, 5]);
        let doc = read(&vault, family, id).await.unwrap();
        assert_eq!(doc.version, 5);
        vault.verify_ledger(family).await.unwrap();
        // Only the last version's blob is left (beside the search index's files).
        let left: Vec<String> = fx.blob_names(family).await.into_iter().filter(|n| !n.starts_with("search.")).collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }
}
