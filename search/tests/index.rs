//! The index through its public API, on the in-memory store: French matching, the query language, scopes,
//! filters, facets, pages, snippets, changes, and a damaged index refused whole.

use std::sync::Arc;

use cartable_search::{Change, Document, FamilyIndex, IndexStore, MemoryStore, Query, SearchError, SearchRequest, SearchResults};
use time::macros::date;

fn doc(id: &str, child: &str, doctype: &str, day: time::Date, title: &str, body: &str) -> Document {
    Document {
        id: id.into(),
        version: 1,
        child: child.into(),
        doctype: doctype.into(),
        day: Some(day),
        title: title.into(),
        body: body.into(),
        unreadable: false,
    }
}

fn family() -> (Arc<MemoryStore>, FamilyIndex) {
    let store = Arc::new(MemoryStore::new());
    let index = FamilyIndex::open(store.clone()).unwrap();
    index
        .apply(&[
            Change::Put(doc("g1", "lea", "edu.grades", date!(2026 - 03 - 12), "Mathématiques", "Contrôle de géométrie : 15,5/20. Les élèves ont bien travaillé.")),
            Change::Put(doc("g2", "lea", "edu.grades", date!(2026 - 01 - 20), "Français", "Dictée, beaucoup de progrès en orthographe")),
            Change::Put(doc("a1", "lea", "edu.attendance", date!(2026 - 02 - 03), "Absence", "Absence justifiée, rendez-vous médical")),
            Change::Put(doc("h1", "tom", "edu.homework", date!(2026 - 03 - 14), "Mathématiques", "Exercices de géométrie page 42")),
            Change::Put(doc("r1", "tom", "edu.report-cards", date!(2025 - 12 - 19), "Bulletin 1er trimestre.pdf", "Bulletin du premier trimestre. Élève sérieux et appliqué.")),
        ])
        .unwrap();
    (store, index)
}

fn all_scope() -> Vec<(String, String)> {
    [("lea", "edu.grades"), ("lea", "edu.attendance"), ("tom", "edu.homework"), ("tom", "edu.report-cards")]
        .iter()
        .map(|(c, d)| (c.to_string(), d.to_string()))
        .collect()
}

fn search(index: &FamilyIndex, scope: &[(String, String)], text: &str) -> SearchResults {
    let query = Query::parse(text).unwrap();
    index.search(&SearchRequest { query: &query, scope, child: None, doctype: None, from: None, to: None, offset: 0, limit: 20 }).unwrap()
}

fn ids(results: &SearchResults) -> Vec<&str> {
    let mut ids: Vec<&str> = results.hits.iter().map(|h| h.id.as_str()).collect();
    ids.sort();
    ids
}

#[test]
fn french_words_meet_without_accents_and_in_other_forms() {
    let (_, index) = family();
    let scope = all_scope();
    assert_eq!(ids(&search(&index, &scope, "eleve")), ["g1", "r1"]);
    assert_eq!(ids(&search(&index, &scope, "mathematique")), ["g1", "h1"]);
    assert_eq!(ids(&search(&index, &scope, "absences")), ["a1"]);
    assert_eq!(ids(&search(&index, &scope, "la note de maths de mars")), ["g1"], "doctype words, school words, French dates");
    assert_eq!(ids(&search(&index, &scope, "bulletin du premier trimestre")), ["r1"]);
    assert_eq!(ids(&search(&index, &scope, "1er trimestre")), ["r1"]);
}

#[test]
fn all_words_phrases_exclusions_and_prefixes() {
    let (_, index) = family();
    let scope = all_scope();
    assert_eq!(ids(&search(&index, &scope, "géométrie exercices")), ["h1"], "every word must match");
    assert_eq!(ids(&search(&index, &scope, "géométrie")), ["g1", "h1"]);
    assert_eq!(ids(&search(&index, &scope, "géométrie -exercices")), ["g1"]);
    assert_eq!(ids(&search(&index, &scope, r#""premier trimestre""#)), ["r1"]);
    assert!(search(&index, &scope, r#""trimestre premier""#).hits.is_empty(), "a phrase keeps its order");
    assert_eq!(ids(&search(&index, &scope, "ortho*")), ["g2"]);
    assert_eq!(ids(&search(&index, &scope, "géom*")), ["g1", "h1"]);
    let query = Query::parse("la de").unwrap();
    let request = SearchRequest { query: &query, scope: &scope, child: None, doctype: None, from: None, to: None, offset: 0, limit: 5 };
    assert!(matches!(index.search(&request), Err(SearchError::OnlyCommonWords)));
}

#[test]
fn nothing_outside_the_scope_is_found_or_counted() {
    let (_, index) = family();
    let grades_of_lea = [("lea".to_owned(), "edu.grades".to_owned())];
    let results = search(&index, &grades_of_lea, "géométrie");
    assert_eq!(ids(&results), ["g1"], "tom's homework is outside the scope");
    assert_eq!(results.by_child, [("lea".to_owned(), 1)]);
    assert_eq!(results.by_doctype, [("edu.grades".to_owned(), 1)]);
    assert!(search(&index, &grades_of_lea, "absence").hits.is_empty());
    assert!(search(&index, &[], "géométrie").hits.is_empty());
}

#[test]
fn filters_facets_pages_and_snippets() {
    let (_, index) = family();
    let scope = all_scope();
    let query = Query::parse("géométrie").unwrap();
    let base = SearchRequest { query: &query, scope: &scope, child: None, doctype: None, from: None, to: None, offset: 0, limit: 20 };

    let tom = index.search(&SearchRequest { child: Some("tom"), ..base.clone() }).unwrap();
    assert_eq!(ids(&tom), ["h1"]);
    assert_eq!(tom.total, 1);
    assert_eq!(tom.by_child, [("lea".to_owned(), 1), ("tom".to_owned(), 1)], "facets are counted before the filters");
    let homework = index.search(&SearchRequest { doctype: Some("edu.grades"), ..base.clone() }).unwrap();
    assert_eq!(ids(&homework), ["g1"]);
    let march = index.search(&SearchRequest { from: Some(date!(2026 - 03 - 13)), to: Some(date!(2026 - 03 - 31)), ..base.clone() }).unwrap();
    assert_eq!(ids(&march), ["h1"]);

    let first = index.search(&SearchRequest { limit: 1, ..base.clone() }).unwrap();
    let second = index.search(&SearchRequest { limit: 1, offset: 1, ..base.clone() }).unwrap();
    assert_eq!((first.total, first.hits.len(), second.hits.len()), (2, 1, 1));
    assert_ne!(first.hits[0].id, second.hits[0].id);
    assert!(first.hits[0].score >= second.hits[0].score, "ranked");

    let hit = &first.hits[0];
    assert!(!hit.snippet.highlights.is_empty());
    for range in &hit.snippet.highlights {
        assert_eq!(hit.snippet.text[range.clone()].to_lowercase(), "géométrie");
    }
}

#[test]
fn changes_are_searchable_at_once_and_survive_a_reopen() {
    let (store, index) = family();
    let scope = all_scope();
    let mut changed = doc("g2", "lea", "edu.grades", date!(2026 - 01 - 20), "Français", "Rédaction remarquable");
    changed.version = 2;
    index.apply(&[Change::Put(changed), Change::Remove("a1".into())]).unwrap();
    assert!(search(&index, &scope, "dictée").hits.is_empty());
    assert_eq!(ids(&search(&index, &scope, "rédaction")), ["g2"]);
    assert!(search(&index, &scope, "absence").hits.is_empty());
    drop(index);

    let reopened = FamilyIndex::open(store.clone()).unwrap();
    assert_eq!(ids(&search(&reopened, &scope, "rédaction")), ["g2"]);
    let indexed = reopened.indexed().unwrap();
    assert_eq!(indexed.len(), 4);
    assert_eq!(indexed["g2"], 2);
    assert!(store.names().unwrap().iter().all(|name| !name.contains("lock")), "no lock file reaches the store");
}

#[test]
fn a_damaged_index_is_refused_whole_and_rebuilt_from_nothing() {
    let (store, index) = family();
    drop(index);
    let segment = store.names().unwrap().into_iter().find(|name| name.ends_with(".idx")).expect("a segment file");
    assert!(store.damage(&segment, 3));
    assert!(matches!(FamilyIndex::open(store.clone()), Err(SearchError::Damaged(_))));

    let missing = Arc::new(MemoryStore::new());
    let (other, index) = family();
    drop(index);
    for name in other.names().unwrap() {
        if !name.ends_with(".store") {
            missing.write(&name, &other.read(&name).unwrap().unwrap()).unwrap();
        }
    }
    assert!(FamilyIndex::open(missing.clone()).is_err(), "a file missing");

    let rebuilt = FamilyIndex::create(store.clone()).unwrap();
    assert!(rebuilt.indexed().unwrap().is_empty());
    assert!(!store.names().unwrap().contains(&segment));
}

#[test]
fn an_unreadable_file_is_found_by_its_name_and_counted() {
    let (_, index) = family();
    let mut broken = doc("f1", "tom", "edu.report-cards", date!(2026 - 03 - 20), "bulletin-abime.pdf", "");
    broken.unreadable = true;
    index.apply(&[Change::Put(broken)]).unwrap();
    let results = search(&index, &all_scope(), "abime");
    assert_eq!(ids(&results), ["f1"]);
    assert_eq!(results.unreadable, 1);
}

#[test]
fn the_scope_filters_without_changing_scores_and_filters_narrow_it() {
    let (_, index) = family();
    let all = all_scope();
    let two = [("lea".to_owned(), "edu.grades".to_owned()), ("tom".to_owned(), "edu.homework".to_owned())];
    let scores = |scope: &[(String, String)]| {
        let mut hits: Vec<(String, f32)> = search(&index, scope, "géométrie").hits.into_iter().map(|h| (h.id, h.score)).collect();
        hits.sort_by(|a, b| a.0.cmp(&b.0));
        hits
    };
    assert_eq!(scores(&all), scores(&two), "the scope adds nothing to a score");

    let query = Query::parse("géométrie").unwrap();
    let base = SearchRequest { query: &query, scope: &two, child: None, doctype: None, from: None, to: None, offset: 0, limit: 20 };
    let outside = index.search(&SearchRequest { child: Some("tom"), doctype: Some("edu.grades"), ..base.clone() }).unwrap();
    assert!(outside.hits.is_empty() && outside.total == 0, "tom's grades are not in the scope");
    assert_eq!(outside.by_child, [("lea".to_owned(), 1), ("tom".to_owned(), 1)], "counts are of the scope, before the filters");
    let stranger = index.search(&SearchRequest { child: Some("zoe"), ..base.clone() }).unwrap();
    assert!(stranger.hits.is_empty());
    let lea = index.search(&SearchRequest { child: Some("lea"), doctype: Some("edu.grades"), ..base }).unwrap();
    assert_eq!(ids(&lea), ["g1"]);
}
