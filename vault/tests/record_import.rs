//! Records imported from an open format: all or nothing, no duplicate on a second run (nor within one), one ledger
//! entry per collection with the counts, and the items' keys never stored as they are.

use cartable_consent::ledger::{EventType, ImportFormat};
use cartable_consent::{Action, Doctype, Resource, Role};
use cartable_vault::{ImportItem, LedgerFilter, RecordFilter, Vault};
use serde_json::json;
use time::macros::date;

mod support;
use support::{backends, operator};

fn item(key: &str, n: u64) -> ImportItem {
    ImportItem { key: key.to_owned(), body: json!({"title": format!("activité {n}"), "statement": {"id": key}}) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_is_whole_or_nothing_and_a_second_run_adds_nothing() {
    for postgres in backends() {
        let fx = support::fixture(postgres).await;
        let url = fx.database_url();
        let vault = Vault::open(fx.config.clone()).await.unwrap();
        let family = vault.create_family("Import").await.unwrap();
        let manage = operator(&vault, family, Action::Manage, Resource::Family).await;
        let child = vault.add_member(&manage, Role::Child, "Léo", Some(date!(2013 - 09 - 01))).await.unwrap();
        let write = |doctype| operator(&vault, family, Action::Write, Resource::Collection { child, doctype });
        let (activity, grades) = (Doctype::Activity, Doctype::Grades);
        let count = |doctype| {
            let vault = vault.clone();
            async move {
                let permit = operator(&vault, family, Action::List, Resource::Collection { child, doctype }).await;
                vault.list_records(&permit, &RecordFilter::default()).await.unwrap().len()
            }
        };

        // A run dropped before its commit, and one aborted, write nothing.
        let mut run = vault.begin_record_import(vec![write(activity).await], ImportFormat::Xapi).await.unwrap();
        run.add(child, activity, vec![item("urn:stmt:A-1", 1), item("urn:stmt:a-2", 2)]).await.unwrap();
        drop(run);
        let mut run = vault.begin_record_import(vec![write(activity).await], ImportFormat::Xapi).await.unwrap();
        run.add(child, activity, vec![item("urn:stmt:A-1", 1)]).await.unwrap();
        run.abort().await;
        assert_eq!(count(activity).await, 0, "nothing of a run that did not commit");

        // A run into two collections; a key given twice in one run is one record.
        let mut run = vault.begin_record_import(vec![write(activity).await, write(grades).await], ImportFormat::Xapi).await.unwrap();
        run.add(child, activity, vec![item("urn:stmt:A-1", 1), item("urn:stmt:A-2", 2), item("urn:stmt:A-1", 1)]).await.unwrap();
        run.add(child, grades, vec![ImportItem { key: "urn:stmt:A-2".into(), body: json!({"subject": "maths", "grade": 15, "out_of": 20}) }]).await.unwrap();
        run.count_rejected(child, activity, 4).unwrap();
        let other = Resource::Collection { child, doctype: Doctype::Homework };
        assert!(run.add(child, Doctype::Homework, vec![item("B", 1)]).await.is_err(), "a collection the permits do not name: {other:?}");
        assert!(run.add(child, activity, vec![ImportItem { key: "C".into(), body: json!([1]) }]).await.is_err(), "a body that is not an object");
        let report = run.commit().await.unwrap();
        assert_eq!((report.imported(), report.duplicates()), (3, 1));
        assert_eq!((count(activity).await, count(grades).await), (2, 1));

        // Again, with one new item: only that one is written; the same key in another collection is not a duplicate.
        let mut run = vault.begin_record_import(vec![write(activity).await], ImportFormat::Xapi).await.unwrap();
        run.add(child, activity, vec![item("urn:stmt:A-1", 1), item("urn:stmt:A-2", 2), item("urn:stmt:A-3", 3)]).await.unwrap();
        let report = run.commit().await.unwrap();
        assert_eq!((report.imported(), report.duplicates()), (1, 2));
        assert_eq!(count(activity).await, 3);

        // The ledger: one entry per collection per run, with the counts, and the run verifies.
        let register = operator(&vault, family, Action::List, Resource::Register).await;
        let entries = vault.ledger_entries(&register, &LedgerFilter { event: Some(EventType::RecordsImport), ..Default::default() }).await.unwrap();
        let counts: Vec<_> = entries.iter().map(|e| (e.receipt.data_categories.clone(), e.receipt.import.map(|i| (i.imported, i.duplicates, i.rejected)))).collect();
        assert_eq!(
            counts,
            vec![(vec![activity], Some((2, 1, 4))), (vec![grades], Some((1, 0, 0))), (vec![activity], Some((1, 2, 0)))],
        );
        assert!(entries.iter().all(|e| e.receipt.principal == Some(child) && e.receipt.import.unwrap().format == ImportFormat::Xapi));
        vault.verify_ledger(family).await.unwrap();

        // The keys are not in the database as they are.
        drop(vault);
        let dump = if postgres { support::pg_dump(&url) } else { support::all_bytes_under(fx.dir.path()).into_iter().flat_map(|(_, b)| b).collect() };
        for key in ["urn:stmt:A-1", "urn:stmt:A-2", "urn:stmt:A-3", "activité"] {
            assert!(!support::contains(&dump, key.as_bytes()), "`{key}` is stored in the clear");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_of_the_same_file_at_once_make_one_record_and_the_later_one_contended() {
    for postgres in backends() {
        let fx = support::fixture(postgres).await;
        let vault = Vault::open(fx.config.clone()).await.unwrap();
        let family = vault.create_family("Doublon").await.unwrap();
        let manage = operator(&vault, family, Action::Manage, Resource::Family).await;
        let child = vault.add_member(&manage, Role::Child, "Inès", Some(date!(2014 - 03 - 12))).await.unwrap();
        let documents = Doctype::Documents;
        let write = || operator(&vault, family, Action::Write, Resource::Collection { child, doctype: documents });
        let scan = b"%PDF-1.4 the same scan, sent from two phones".to_vec();
        let content = |bytes: &[u8]| Box::new(std::io::Cursor::new(bytes.to_vec())) as Box<dyn std::io::Read + Send>;

        // Both runs store the file before either commits (two slow uploads): neither sees the other's.
        let mut first = vault.begin_record_import(vec![write().await], ImportFormat::Files).await.unwrap();
        let mut second = vault.begin_record_import(vec![write().await], ImportFormat::Files).await.unwrap();
        assert!(first.add_file(child, documents, "scan.pdf", content(&scan)).await.unwrap().is_some());
        assert!(second.add_file(child, documents, "scan (1).pdf", content(&scan)).await.unwrap().is_some());
        assert_eq!(fx.blob_names(family).await.len(), 2, "each run's upload is stored");
        first.commit().await.unwrap();
        match second.commit().await {
            Err(cartable_vault::Error::Contended(_)) => {}
            other => panic!("the later run of the same file: {other:?}"),
        }
        // One record, one blob (the contended run's removed); done again, the file is a duplicate.
        let list = operator(&vault, family, Action::List, Resource::Collection { child, doctype: documents }).await;
        assert_eq!(vault.list_records(&list, &RecordFilter::default()).await.unwrap().len(), 1);
        assert_eq!(fx.blob_names(family).await.len(), 1, "the contended run's blob is removed");
        let mut again = vault.begin_record_import(vec![write().await], ImportFormat::Files).await.unwrap();
        assert!(again.add_file(child, documents, "scan (1).pdf", content(&scan)).await.unwrap().is_none());
        let report = again.commit().await.unwrap();
        assert_eq!((report.imported(), report.duplicates()), (0, 1));
        assert_eq!(fx.blob_names(family).await.len(), 1);
        // The ledger has the two runs that committed, and nothing of the contended one.
        let register = operator(&vault, family, Action::List, Resource::Register).await;
        let entries = vault.ledger_entries(&register, &LedgerFilter { event: Some(EventType::RecordsImport), ..Default::default() }).await.unwrap();
        let counts: Vec<_> = entries.iter().map(|e| e.receipt.import.map(|i| (i.imported, i.duplicates))).collect();
        assert_eq!(counts, vec![Some((1, 0)), Some((0, 1))]);
        vault.verify_ledger(family).await.unwrap();
    }
}
