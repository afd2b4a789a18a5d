//! Search through the vault: what is written is found at once, in French (accents, plurals, school words), within
//! what the permits cover; no word of the index reaches the disk, the database or the blob store in clear; a damaged
//! index is rebuilt, never served in part; erasure takes the index with the family; a second process finds what the
//! first wrote. On SQLite and, when their variables are set, on PostgreSQL and with the S3 store.

mod support;

use std::io::Cursor;
use std::time::Duration;

use cartable_consent::{Action, Doctype, FamilyId, MemberId, Principal, RecordId, Resource, Role};
use cartable_vault::{Error, NewRecord, SearchOutcome, SearchQuery, Vault};
use support::{Fixture, Leg, all_bytes_under, contains, fixture_on, legs, operator, pg_dump};
use time::macros::date;

async fn put(vault: &Vault, family: FamilyId, child: MemberId, doctype: Doctype, body: serde_json::Value) -> RecordId {
    let permit = operator(vault, family, Action::Write, Resource::Collection { child, doctype }).await;
    vault.put_record(&permit, NewRecord { child, doctype, source: "operator".into(), body }).await.unwrap()
}

async fn search_as(vault: &Vault, family: FamilyId, principal: Principal, text: &str) -> Result<SearchOutcome, Error> {
    let permit = vault.authorize(family, principal, Action::Search, Resource::Family).await?.into_permit().map_err(|_| Error::Denied("search".into()))?;
    vault.search(&[&permit], &SearchQuery { text: text.to_owned(), ..SearchQuery::default() }).await
}

async fn ids(vault: &Vault, family: FamilyId, text: &str) -> Vec<RecordId> {
    let permit = operator(vault, family, Action::Search, Resource::Family).await;
    let mut ids: Vec<RecordId> = vault.search(&[&permit], &SearchQuery { text: text.to_owned(), limit: 100, ..SearchQuery::default() }).await.unwrap().hits.iter().map(|h| h.record).collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<RecordId>) -> Vec<RecordId> {
    ids.sort();
    ids
}

struct Family {
    fx: Fixture,
    vault: Vault,
    family: FamilyId,
    lea: MemberId,
    tom: MemberId,
}

async fn family(leg: Leg) -> Family {
    let fx = fixture_on(leg).await;
    let vault = Vault::open(fx.config.clone()).await.unwrap();
    let family = vault.create_family("Martin").await.unwrap();
    let manage = vault.as_operator(family, Action::Manage, Resource::Family).await.unwrap();
    let lea = vault.add_member(&manage, Role::Child, "Léa", Some(date!(2014 - 05 - 02))).await.unwrap();
    let tom = vault.add_member(&manage, Role::Child, "Tom", Some(date!(2012 - 01 - 09))).await.unwrap();
    Family { fx, vault, family, lea, tom }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_written_is_found_at_once_and_no_word_of_the_index_is_stored_in_clear() {
    for leg in legs() {
        found_and_sealed(leg).await;
    }
}

async fn found_and_sealed(leg: Leg) {
    let Family { fx, vault, family, lea, tom } = family(leg).await;
    // Markers no French rule changes (no accent, no suffix the stemmer removes), lower-case as the index keeps them.
    let marker = format!("qzx{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let (record_marker, update_marker, file_marker) = (format!("{marker}r"), format!("{marker}u"), format!("{marker}f"));
    let grade = put(&vault, family, lea, Doctype::Grades, serde_json::json!({
        "subject": "Mathématiques", "title": "Contrôle de géométrie", "grade": 15.5, "out_of": 20, "date": "2026-03-12",
        "comment": format!("Très bon travail de l'élève {record_marker}"),
    }))
    .await;
    let absence = put(&vault, family, lea, Doctype::Attendance, serde_json::json!({"date": "2026-02-02", "kind": "absence", "reason": "Malade"})).await;
    let homework = put(&vault, family, tom, Doctype::Homework, serde_json::json!({"subject": "Français", "due": "2026-03-20", "description": "Lire les chapitres 3 et 4"})).await;
    let report = put(&vault, family, tom, Doctype::ReportCards, serde_json::json!({"title": "Bulletin du 1er trimestre", "date": "2025-12-15"})).await;

    // Found as soon as written, in French.
    assert_eq!(ids(&vault, family, &record_marker).await, vec![grade]);
    assert_eq!(ids(&vault, family, "eleve").await, vec![grade], "eleve finds élève");
    assert_eq!(ids(&vault, family, "mathematique").await, vec![grade], "mathematique finds mathématiques");
    assert_eq!(ids(&vault, family, "la note de maths de mars").await, vec![grade]);
    assert_eq!(ids(&vault, family, "absences").await, vec![absence], "absences finds an absence");
    assert_eq!(ids(&vault, family, "bulletin du premier trimestre").await, vec![report]);
    assert_eq!(ids(&vault, family, "\"chapitres 3 et 4\"").await, vec![homework]);
    assert_eq!(ids(&vault, family, "géom*").await, vec![grade]);
    assert!(ids(&vault, family, "mathematiques -geometrie").await.is_empty());

    // An update is found by its new words and no longer by its old ones.
    let rewrite = operator(&vault, family, Action::Write, Resource::Collection { child: lea, doctype: Doctype::Grades }).await;
    let body = serde_json::json!({"subject": "Mathématiques", "grade": 17, "out_of": 20, "date": "2026-03-12", "comment": format!("Revu {update_marker}")});
    assert_eq!(vault.update_record(&rewrite, grade, "operator".into(), body).await.unwrap(), 2);
    assert_eq!(ids(&vault, family, &update_marker).await, vec![grade]);
    assert!(ids(&vault, family, &record_marker).await.is_empty(), "the old version's words are gone");

    // A text file is found by its name and its words; a file of another kind by its name.
    let docs = operator(&vault, family, Action::Write, Resource::Collection { child: lea, doctype: Doctype::Documents }).await;
    let text = format!("Compte rendu de la réunion parents-professeurs {file_marker}\n");
    let note = vault.put_file(&docs, lea, Doctype::Documents, "operator".into(), "reunion.txt".into(), Box::new(Cursor::new(text.into_bytes()))).await.unwrap();
    let photo = vault.put_file(&docs, lea, Doctype::Documents, "operator".into(), "photo-de-classe.jpg".into(), Box::new(Cursor::new(vec![0xff, 0xd8, 0xff, 0xe0]))).await.unwrap();
    assert_eq!(ids(&vault, family, &file_marker).await, vec![note]);
    assert_eq!(ids(&vault, family, "reunion").await, vec![note]);
    assert_eq!(ids(&vault, family, "photo classe").await, vec![photo]);

    // Results: filters, facets, snippets with their words marked, pages.
    let permit = operator(&vault, family, Action::Search, Resource::Family).await;
    let all = vault.search(&[&permit], &SearchQuery { text: "2026".into(), ..SearchQuery::default() }).await.unwrap();
    assert!(all.by_child.iter().any(|(c, n)| *c == lea && *n >= 2) && all.by_child.iter().any(|(c, _)| *c == tom), "{:?}", all.by_child);
    let toms = vault.search(&[&permit], &SearchQuery { text: "2026".into(), child: Some(tom), ..SearchQuery::default() }).await.unwrap();
    assert!(toms.hits.iter().all(|h| h.child == tom) && !toms.hits.is_empty());
    assert_eq!(toms.by_child, all.by_child, "the counts are of the whole search, before the child filter");
    let march = vault
        .search(&[&permit], &SearchQuery { text: "2026".into(), from: Some(date!(2026 - 03 - 01)), to: Some(date!(2026 - 03 - 31)), ..SearchQuery::default() })
        .await
        .unwrap();
    assert_eq!(sorted(march.hits.iter().map(|h| h.record).collect()), sorted(vec![grade, homework]));
    let hit = &vault.search(&[&permit], &SearchQuery { text: "eleve".into(), ..SearchQuery::default() }).await.unwrap().hits;
    assert!(hit.is_empty(), "the rewritten grade no longer says élève");
    let hit = vault.search(&[&permit], &SearchQuery { text: "geometrie".into(), ..SearchQuery::default() }).await.unwrap();
    assert!(hit.hits.is_empty(), "the rewritten grade has no title of geometry any more");
    let reunion = vault.search(&[&permit], &SearchQuery { text: "reunion".into(), ..SearchQuery::default() }).await.unwrap().hits.remove(0);
    assert!(reunion.highlights.iter().any(|r| reunion.snippet[r.clone()].to_lowercase().starts_with("réunion")), "{reunion:?}");
    let one = vault.search(&[&permit], &SearchQuery { text: "2026".into(), limit: 1, ..SearchQuery::default() }).await.unwrap();
    let next = vault.search(&[&permit], &SearchQuery { text: "2026".into(), limit: 1, offset: 1, ..SearchQuery::default() }).await.unwrap();
    assert_eq!((one.hits.len(), next.hits.len()), (1, 1));
    assert_ne!(one.hits[0].record, next.hits[0].record);

    // A bad query is a clear error that does not repeat it.
    let far = vault.search(&[&permit], &SearchQuery { text: "2026".into(), offset: 4_000_000_000, ..SearchQuery::default() }).await;
    assert!(matches!(far, Err(Error::InvalidInput(_))), "an offset without bound is refused, not a search that allocates for it: {far:?}");
    for bad in ["", "\"pas fermé", "-seul", "a*"] {
        match vault.search(&[&permit], &SearchQuery { text: bad.into(), ..SearchQuery::default() }).await {
            Err(Error::InvalidInput(message)) => assert!(bad.is_empty() || !message.contains(bad), "{message}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }

    // Stored: the index's files are in the store, sealed; no marker anywhere in clear.
    let mut sql = fx.sql().await;
    let files: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM search_files WHERE family_id = $1").bind(family.to_string()).fetch_one(&mut sql).await.unwrap();
    assert!(files > 0, "the index is kept in the store, not only in memory");
    let mut stored = all_bytes_under(&fx.config.data_dir);
    stored.extend(fx.s3_objects().await.into_iter().map(|(k, v)| (k.into(), v)));
    if leg.postgres {
        stored.push(("pg_dump".into(), pg_dump(&fx.database_url())));
    }
    for needle in [&marker, &record_marker, &update_marker, &file_marker, &"parents-professeurs".to_owned(), &"geometrie".to_owned(), &"chapitr".to_owned()] {
        for (path, bytes) in &stored {
            assert!(!contains(bytes, needle.as_bytes()), "{needle} in clear in {}", path.display());
        }
    }

    // Another start reads the index from the store and finds the same.
    vault.close().await.unwrap();
    let vault = Vault::open(fx.config.clone()).await.unwrap();
    assert_eq!(ids(&vault, family, &update_marker).await, vec![grade]);
    assert_eq!(ids(&vault, family, &file_marker).await, vec![note]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_does_not_find_an_adult_childs_data_and_a_child_finds_only_their_own() {
    let _g = tracing::subscriber::set_default(tracing_subscriber::fmt().with_max_level(tracing::Level::DEBUG).finish());
    let Family { fx: _fx, vault, family, lea, .. } = family(Leg { postgres: false, s3: false }).await;
    let manage = vault.as_operator(family, Action::Manage, Resource::Family).await.unwrap();
    let guardian = vault.add_member(&manage, Role::Guardian, "Claire", None).await.unwrap();
    let adult = vault.add_member(&manage, Role::Child, "Hugo", Some(date!(2001 - 02 - 03))).await.unwrap();
    let teen = vault.add_member(&manage, Role::Child, "Zoé", Some(date!(2010 - 06 - 01))).await.unwrap();
    let adults = put(&vault, family, adult, Doctype::Grades, serde_json::json!({"subject": "Droit", "comment": "partiel de droit civil"})).await;
    let leas = put(&vault, family, lea, Doctype::Grades, serde_json::json!({"subject": "Droit", "comment": "exposé sur le droit des enfants"})).await;
    let zoes = put(&vault, family, teen, Doctype::Grades, serde_json::json!({"subject": "Droit", "comment": "débat en droit"})).await;

    let found = |o: SearchOutcome| sorted(o.hits.iter().map(|h| h.record).collect());
    assert_eq!(found(search_as(&vault, family, Principal::Member(guardian), "droit").await.unwrap()), sorted(vec![leas, zoes]));
    assert_eq!(found(search_as(&vault, family, Principal::Member(adult), "droit").await.unwrap()), vec![adults]);
    assert_eq!(found(search_as(&vault, family, Principal::Member(teen), "droit").await.unwrap()), vec![zoes]);
    let counts = search_as(&vault, family, Principal::Member(guardian), "droit").await.unwrap().by_child;
    assert!(!counts.iter().any(|(c, _)| *c == adult), "not even counted: {counts:?}");

    // Each search is in the ledger, as an access to search, and the words searched are not.
    let register = vault.operator_register(family).await.unwrap();
    let entries = vault.ledger_entries(&register, &Default::default()).await.unwrap();
    let searches: Vec<_> = entries.iter().filter(|e| e.receipt.action == Some(Action::Search)).collect();
    assert!(searches.len() >= 4, "{} search entries", searches.len());
    assert!(entries.iter().all(|e| !String::from_utf8_lossy(&e.receipt.canonical_bytes()).contains("droit")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_missing_index_is_rebuilt_from_the_records_never_served_in_part() {
    for leg in legs() {
        let Family { fx, vault, family, lea, .. } = family(leg).await;
        let mut written = Vec::new();
        for i in 0..30 {
            written.push(put(&vault, family, lea, Doctype::Homework, serde_json::json!({"subject": "Histoire", "description": format!("exercice {i} sur la révolution")})).await);
        }
        assert_eq!(ids(&vault, family, "revolution").await, sorted(written.clone()));
        vault.close().await.unwrap();
        // Every index file's blob altered, as someone with the store but no key could.
        let index_blobs: Vec<String> = fx.blob_names(family).await.into_iter().filter(|n| n.starts_with("search.")).collect();
        assert!(!index_blobs.is_empty());
        for name in &index_blobs {
            let mut bytes = fx.blob_bytes(family, name).await;
            let at = bytes.len() - 20;
            bytes[at] ^= 0x55;
            fx.set_blob_bytes(family, name, bytes).await;
        }
        let vault = Vault::open(fx.config.clone()).await.unwrap();
        assert_eq!(ids(&vault, family, "revolution").await, sorted(written.clone()), "rebuilt whole from the records");
        vault.close().await.unwrap();
        // The index's rows gone.
        let mut sql = fx.sql().await;
        sqlx::query("DELETE FROM search_files WHERE family_id = $1").bind(family.to_string()).execute(&mut sql).await.unwrap();
        let vault = Vault::open(fx.config.clone()).await.unwrap();
        assert_eq!(ids(&vault, family, "revolution").await, sorted(written.clone()));

        // `reindex` rebuilds it on purpose, with progress.
        let progress = std::sync::Mutex::new(Vec::new());
        let count = vault.reindex(family, &|done, total| progress.lock().unwrap().push((done, total))).await.unwrap();
        assert_eq!(count, 30);
        assert_eq!(progress.lock().unwrap().last(), Some(&(30, 30)));
        assert_eq!(ids(&vault, family, "revolution").await, sorted(written));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_family_erases_its_index() {
    let Family { fx, vault, family, lea, .. } = family(Leg { postgres: false, s3: false }).await;
    put(&vault, family, lea, Doctype::Grades, serde_json::json!({"subject": "Musique", "comment": "flûte"})).await;
    assert_eq!(ids(&vault, family, "flute").await.len(), 1);
    let manage = vault.as_operator(family, Action::Manage, Resource::Family).await.unwrap();
    vault.delete_family(&manage).await.unwrap();
    let mut sql = fx.sql().await;
    for table in ["search_files", "search_writers"] {
        let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table} WHERE family_id = $1"))).bind(family.to_string()).fetch_one(&mut sql).await.unwrap();
        assert_eq!(left, 0, "{table}");
    }
    assert!(fx.blob_names(family).await.is_empty());
    assert!(matches!(search_as(&vault, family, Principal::Operator, "flute").await, Err(Error::FamilyNotFound(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_finds_what_the_first_wrote_within_a_second() {
    for leg in legs() {
        let Family { fx, vault: first, family, lea, .. } = family(leg).await;
        let early = put(&first, family, lea, Doctype::Followup, serde_json::json!({"author": "Mme Durand", "text": "réunion prévue jeudi"})).await;
        assert_eq!(ids(&first, family, "reunion").await, vec![early]);
        // The first process keeps the index; the second builds one of its own from the vault.
        let second = Vault::open(fx.config.clone()).await.unwrap();
        assert_eq!(ids(&second, family, "reunion").await, vec![early]);
        let late = put(&first, family, lea, Doctype::Followup, serde_json::json!({"author": "M. Petit", "text": "réunion reportée"})).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let found = ids(&second, family, "reunion").await;
            if found == sorted(vec![early, late]) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the second process never found the first's write: {found:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Writes through the second are found by the first too.
        let third = put(&second, family, lea, Doctype::Followup, serde_json::json!({"author": "Mme Roux", "text": "réunion annulée"})).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while ids(&first, family, "annulee").await != vec![third] {
            assert!(std::time::Instant::now() < deadline, "the first process never found the second's write");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // The second may not rebuild an index the first keeps.
        assert!(matches!(second.reindex(family, &|_, _| {}).await, Err(Error::Contended(_))));
    }
}
