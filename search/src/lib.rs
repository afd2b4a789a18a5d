//! Full-text search over one family's data, in French, in an index whose every file is sealed by the vault.
//!
//! The vault gives this crate what to index (decrypted text, [`Document`]) and where to keep the index (an
//! [`IndexStore`] that seals each file to the family's key); it never gives it a key. The index lives decrypted in
//! memory only: no index, temporary, lock or merge file of tantivy's reaches a disk of its own.
//!
//! ```
//! use std::sync::Arc;
//! use cartable_search::{Change, Document, FamilyIndex, MemoryStore, Query, SearchRequest};
//!
//! let index = FamilyIndex::open(Arc::new(MemoryStore::new())).unwrap();
//! let grade = Document {
//!     id: "r1".into(), version: 1, child: "léa".into(), doctype: "edu.grades".into(),
//!     day: Some(time::macros::date!(2026 - 03 - 12)), title: "Mathématiques".into(),
//!     body: "Contrôle de géométrie, très bon travail de l'élève".into(), unreadable: false,
//! };
//! index.apply(&[Change::Put(grade)]).unwrap();
//! let query = Query::parse("la note de maths de mars").unwrap();
//! let scope = [("léa".to_owned(), "edu.grades".to_owned())];
//! let request = SearchRequest { query: &query, scope: &scope, child: None, doctype: None, from: None, to: None, offset: 0, limit: 10 };
//! assert_eq!(index.search(&request).unwrap().hits[0].id, "r1");
//! ```

mod directory;
mod french;
mod index;
mod query;
mod store;

pub use french::{doctype_words, text_of_json};
pub use index::{Change, Document, FamilyIndex, Hit, SearchError, SearchRequest, SearchResults, Snippet};
pub use query::{Query, QueryError};
pub use store::{IndexStore, MemoryStore};
