//! One family's index: what a document holds, applying changes, and searching under a scope of collections.

use std::collections::HashMap;
use std::ops::{Bound, Range};
use std::sync::{Arc, Mutex};

use tantivy::collector::{Count, FacetCollector, TopDocs};
use tantivy::query::{
    AllQuery, BitSetDocSet, BooleanQuery, ConstScoreQuery, ConstScorer, EnableScoring, Explanation, InvertedIndexRangeQuery, Occur,
    PhraseQuery, RangeQuery, Scorer, TermQuery, Weight,
};
use tantivy::schema::{
    FacetOptions, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::TokenStream;
use tantivy::{BitSet, DocAddress, DocId, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentReader, TantivyDocument, Term};

use crate::directory::SealedDirectory;
use crate::french::{self, FOLDED, FRENCH};
use crate::query::{Part, Query};
use crate::store::IndexStore;

/// Memory of the writer of one batch (tantivy's least is 15 MB a thread).
const WRITER_BYTES: usize = 20_000_000;
/// The characters of a snippet.
const SNIPPET_CHARS: usize = 180;

/// What one record or file puts in the index. Every text is the vault's to decrypt and give: the index keeps it
/// only in files the store seals.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The record's id, as text.
    pub id: String,
    pub version: u64,
    pub child: String,
    /// The doctype's stored name (`edu.grades`).
    pub doctype: String,
    /// The date the record is about (a grade's, a due date), else the day it was stored.
    pub day: Option<time::Date>,
    /// A file's name, or the record's subject.
    pub title: String,
    /// The record's text ([`crate::text_of_json`]) or the file's.
    pub body: String,
    /// A file whose text could not be read (a broken or hostile PDF): found by its name only.
    pub unreadable: bool,
}

/// A change to apply.
#[derive(Debug, Clone)]
pub enum Change {
    /// Adds a record or replaces what was indexed of it.
    Put(Document),
    /// Removes a record (its id).
    Remove(String),
}

/// What to search, within a scope of collections the caller was allowed to search.
#[derive(Debug, Clone)]
pub struct SearchRequest<'a> {
    pub query: &'a Query,
    /// The collections searched, as (child, doctype): nothing outside them is ever found.
    pub scope: &'a [(String, String)],
    pub child: Option<&'a str>,
    pub doctype: Option<&'a str>,
    /// The period (inclusive) of the documents' days.
    pub from: Option<time::Date>,
    pub to: Option<time::Date>,
    pub offset: usize,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    /// How many documents match (the filters included).
    pub total: usize,
    pub hits: Vec<Hit>,
    /// Counts per child and per doctype of what matches in the scope and period, before the child and doctype
    /// filters: what narrowing would give.
    pub by_child: Vec<(String, u64)>,
    pub by_doctype: Vec<(String, u64)>,
    /// Files in the scope whose text could not be read, so a person knows a search may miss them.
    pub unreadable: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    pub version: u64,
    pub child: String,
    pub doctype: String,
    pub day: Option<time::Date>,
    pub title: String,
    /// BM25.
    pub score: f32,
    pub snippet: Snippet,
}

/// A passage of the text with the byte ranges of the words that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub text: String,
    pub highlights: Vec<Range<usize>>,
}

/// Why an index could not be opened, changed or searched. Messages hold no text of the family's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    #[error("the index store failed: {0}")]
    Store(#[from] std::io::Error),
    #[error("the index is damaged: {0}")]
    Damaged(String),
    #[error("the index has another schema")]
    OtherSchema,
    #[error("the query holds only common words")]
    OnlyCommonWords,
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    version: Field,
    child: Field,
    doctype: Field,
    /// The document's collection, (child, doctype) as one term: what a scope is matched on; not stored.
    collection: Field,
    day: Field,
    title: Field,
    body: Field,
    /// Words a document gains (its doctype's, the other side of school words, its day in French); not stored.
    extra: Field,
    /// Title and body folded, for prefixes; not stored.
    prefix: Field,
    facets: Field,
    unreadable: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = |analyzer: &str, stored: bool| {
        // Positions for phrases; the prefix field is never searched by phrase nor scored by frequency (see
        // `prefix_query`), so it keeps the documents only.
        let option = if analyzer == FOLDED { IndexRecordOption::Basic } else { IndexRecordOption::WithFreqsAndPositions };
        let indexing = TextFieldIndexing::default().set_tokenizer(analyzer).set_index_option(option);
        let options = TextOptions::default().set_indexing_options(indexing);
        if stored { options.set_stored() } else { options }
    };
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        version: builder.add_u64_field("version", STORED),
        child: builder.add_text_field("child", STRING | STORED),
        doctype: builder.add_text_field("doctype", STRING | STORED),
        collection: builder.add_text_field("collection", STRING),
        day: builder.add_i64_field("day", INDEXED | STORED | FAST),
        title: builder.add_text_field("title", text(FRENCH, true)),
        body: builder.add_text_field("body", text(FRENCH, true)),
        extra: builder.add_text_field("extra", text(FRENCH, false)),
        prefix: builder.add_text_field("prefix", text(FOLDED, false)),
        facets: builder.add_facet_field("facets", FacetOptions::default()),
        unreadable: builder.add_u64_field("unreadable", INDEXED | STORED),
    };
    (builder.build(), fields)
}

/// One family's index, open. Searches run concurrently; changes are applied one batch at a time.
pub struct FamilyIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    writing: Mutex<()>,
    scopes: Arc<ScopeCache>,
}

impl std::fmt::Debug for FamilyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FamilyIndex")
    }
}

impl FamilyIndex {
    /// Opens the index the store holds, or creates an empty one in an empty store. An index that is damaged (a
    /// file missing, unreadable, or failing its checksum) is refused whole, never served in part: rebuild it with
    /// [`FamilyIndex::create`].
    pub fn open(store: Arc<dyn IndexStore>) -> Result<FamilyIndex, SearchError> {
        let directory = SealedDirectory::open(store)?;
        let (schema, fields) = schema();
        let index = if Index::exists(&directory).map_err(|e| SearchError::Damaged(e.to_string()))? {
            let index = Index::open(directory).map_err(|e| SearchError::Damaged(e.to_string()))?;
            if index.schema() != schema {
                return Err(SearchError::OtherSchema);
            }
            let damaged = index.validate_checksum().map_err(|e| SearchError::Damaged(e.to_string()))?;
            if !damaged.is_empty() {
                return Err(SearchError::Damaged(format!("{} files fail their checksum", damaged.len())));
            }
            index
        } else {
            Index::create(directory, schema, tantivy::IndexSettings::default())?
        };
        FamilyIndex::ready(index, fields)
    }

    /// Empties the store and creates a new index in it.
    pub fn create(store: Arc<dyn IndexStore>) -> Result<FamilyIndex, SearchError> {
        SealedDirectory::clear(&*store)?;
        FamilyIndex::open(store)
    }

    fn ready(index: Index, fields: Fields) -> Result<FamilyIndex, SearchError> {
        french::register(&index);
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(|e: tantivy::TantivyError| SearchError::Damaged(e.to_string()))?;
        Ok(FamilyIndex { index, reader, fields, writing: Mutex::new(()), scopes: Arc::default() })
    }

    /// The records indexed, with the version indexed of each: what the vault compares with what it holds.
    pub fn indexed(&self) -> Result<HashMap<String, u64>, SearchError> {
        let searcher = self.reader.searcher();
        let mut addresses: Vec<DocAddress> = searcher.search(&AllQuery, &tantivy::collector::DocSetCollector)?.into_iter().collect();
        // In the store's order, so that each compressed block is read once (the set comes in no order).
        addresses.sort_unstable();
        let mut indexed = HashMap::with_capacity(addresses.len());
        for address in addresses {
            let doc: TantivyDocument = searcher.doc(address)?;
            let id = doc.get_first(self.fields.id).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let version = doc.get_first(self.fields.version).and_then(|v| v.as_u64()).unwrap_or_default();
            indexed.insert(id, version);
        }
        Ok(indexed)
    }

    /// Applies changes as one commit; searchable when it returns.
    pub fn apply(&self, changes: &[Change]) -> Result<(), SearchError> {
        if changes.is_empty() {
            return Ok(());
        }
        let _one_writer = self.writing.lock().expect("index writer lock");
        let mut writer: IndexWriter = self.index.writer_with_num_threads(1, WRITER_BYTES)?;
        for change in changes {
            match change {
                Change::Put(document) => {
                    writer.delete_term(Term::from_field_text(self.fields.id, &document.id));
                    writer.add_document(self.document(document))?;
                }
                Change::Remove(id) => {
                    writer.delete_term(Term::from_field_text(self.fields.id, id));
                }
            }
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        self.reader.reload()?;
        Ok(())
    }

    fn document(&self, d: &Document) -> TantivyDocument {
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &d.id);
        doc.add_u64(f.version, d.version);
        doc.add_text(f.child, &d.child);
        doc.add_text(f.doctype, &d.doctype);
        doc.add_text(f.collection, collection(&d.child, &d.doctype));
        let mut extra = format!(
            "{} {} {}",
            french::doctype_words(&d.doctype),
            french::same_words(&format!("{}\n{}", d.title, d.body)),
            french::dates_in_words(&d.body)
        );
        if let Some(day) = d.day {
            doc.add_i64(f.day, julian(day));
            extra.push(' ');
            extra.push_str(&french::french_date(&day.to_string()).unwrap_or_default());
        }
        doc.add_text(f.title, &d.title);
        doc.add_text(f.body, &d.body);
        doc.add_text(f.extra, &extra);
        doc.add_text(f.prefix, &d.title);
        doc.add_text(f.prefix, &d.body);
        doc.add_facet(f.facets, tantivy::schema::Facet::from_path(["child", d.child.as_str()]));
        doc.add_facet(f.facets, tantivy::schema::Facet::from_path(["doctype", d.doctype.as_str()]));
        doc.add_u64(f.unreadable, u64::from(d.unreadable));
        doc
    }

    /// Searches within the request's scope: ranked by BM25, with snippets and counts per child and doctype.
    pub fn search(&self, request: &SearchRequest<'_>) -> Result<SearchResults, SearchError> {
        let f = self.fields;
        let empty = SearchResults { total: 0, hits: Vec::new(), by_child: Vec::new(), by_doctype: Vec::new(), unreadable: 0 };
        if request.scope.is_empty() {
            return Ok(empty);
        }
        let text = self.text_query(request.query)?;
        let searcher = self.reader.searcher();

        // Counts per child and doctype before the child and doctype filters, so the facets say what narrowing gives.
        let mut facets = FacetCollector::for_field("facets");
        facets.add_facet("/child");
        facets.add_facet("/doctype");
        let in_scope = BooleanQuery::new(vec![(Occur::Must, text.box_clone()), (Occur::Must, self.scope_query(request.scope, request.from, request.to))]);
        let top = TopDocs::with_limit(request.limit.max(1)).and_offset(request.offset).order_by_score();
        let (found, total, counts) = if request.child.is_none() && request.doctype.is_none() {
            // Unfiltered (the usual case): one pass gives the page, the total and the counts.
            searcher.search(&in_scope, &(top, Count, facets))?
        } else {
            // The filters narrow the scope to the collections of that child or doctype.
            let narrowed: Vec<(String, String)> = request
                .scope
                .iter()
                .filter(|(child, doctype)| request.child.is_none_or(|c| c == child) && request.doctype.is_none_or(|d| d == doctype))
                .cloned()
                .collect();
            let counts = searcher.search(&in_scope, &facets)?;
            let (found, total) = if narrowed.is_empty() {
                (Vec::new(), 0)
            } else {
                let query = BooleanQuery::new(vec![(Occur::Must, text.box_clone()), (Occur::Must, self.scope_query(&narrowed, request.from, request.to))]);
                searcher.search(&query, &(top, Count))?
            };
            (found, total, counts)
        };
        let count_of = |prefix: &str| {
            counts.get(prefix).filter_map(|(facet, n)| facet.to_path().last().map(|v| ((*v).to_owned(), n))).collect::<Vec<_>>()
        };
        let (by_child, by_doctype) = (count_of("/child"), count_of("/doctype"));

        // Files of the scope whose text could not be read (none in most indexes: then no search at all).
        let unreadable_term = Term::from_field_u64(f.unreadable, 1);
        let unreadable = if searcher.doc_freq(&unreadable_term)? == 0 {
            0
        } else {
            let unreadable_files = BooleanQuery::new(vec![
                (Occur::Must, self.scope_query(request.scope, request.from, request.to)),
                (Occur::Must, Box::new(TermQuery::new(unreadable_term, IndexRecordOption::Basic))),
            ]);
            searcher.search(&unreadable_files, &Count)? as u64
        };

        let mut snippets = SnippetGenerator::create(&searcher, &*text, f.body)?;
        snippets.set_max_num_chars(SNIPPET_CHARS);
        let hits = found
            .into_iter()
            .take(request.limit)
            .map(|(score, address)| self.hit(&searcher, &snippets, score, address))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SearchResults { total, hits, by_child, by_doctype, unreadable })
    }

    fn hit(&self, searcher: &tantivy::Searcher, snippets: &SnippetGenerator, score: f32, address: DocAddress) -> Result<Hit, SearchError> {
        let f = self.fields;
        let doc: TantivyDocument = searcher.doc(address)?;
        let text = |field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let body = text(f.body);
        let snippet = snippets.snippet(&body);
        let snippet = if snippet.fragment().is_empty() {
            // The words matched elsewhere (the title, a doctype's words): the text's beginning.
            let end = body.char_indices().nth(SNIPPET_CHARS).map_or(body.len(), |(at, _)| at);
            Snippet { text: body[..end].to_owned(), highlights: Vec::new() }
        } else {
            Snippet { text: snippet.fragment().to_owned(), highlights: snippet.highlighted().to_vec() }
        };
        Ok(Hit {
            id: text(f.id),
            version: doc.get_first(f.version).and_then(|v| v.as_u64()).unwrap_or_default(),
            child: text(f.child),
            doctype: text(f.doctype),
            day: doc.get_first(f.day).and_then(|v| v.as_i64()).and_then(from_julian),
            title: text(f.title),
            score,
            snippet,
        })
    }

    /// The query's words: each positive part must match (in the title, the text or the words a document gains),
    /// an excluded one must not.
    fn text_query(&self, query: &Query) -> Result<Box<dyn tantivy::query::Query>, SearchError> {
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn tantivy::query::Query>)> = Vec::new();
        let mut positive = false;
        for part in &query.parts {
            let (occur, matcher): (Occur, Option<Box<dyn tantivy::query::Query>>) = match part {
                Part::Word { text, exclude } | Part::Phrase { text, exclude } => {
                    let occur = if *exclude { Occur::MustNot } else { Occur::Must };
                    (occur, self.words_query(text, &[f.title, f.body, f.extra]))
                }
                Part::Prefix(prefix) => (Occur::Must, self.prefix_query(prefix)?),
            };
            if let Some(matcher) = matcher {
                positive |= occur == Occur::Must;
                clauses.push((occur, matcher));
            }
        }
        if !positive {
            return Err(SearchError::OnlyCommonWords);
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// Words analyzed as the text was: one term, or a phrase of several (with the gaps stop words left), in any of
    /// `fields`. `None` when nothing is left (only stop words).
    fn words_query(&self, text: &str, fields: &[Field]) -> Option<Box<dyn tantivy::query::Query>> {
        let tokens = analyze(&mut self.analyzer(FRENCH), text);
        if tokens.is_empty() {
            return None;
        }
        let per_field = fields.iter().map(|&field| -> (Occur, Box<dyn tantivy::query::Query>) {
            if tokens.len() == 1 {
                let term = Term::from_field_text(field, &tokens[0].1);
                (Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::WithFreqsAndPositions)))
            } else {
                let first = tokens[0].0;
                let terms = tokens.iter().map(|(at, t)| (at - first, Term::from_field_text(field, t))).collect();
                (Occur::Should, Box::new(PhraseQuery::new_with_offset(terms)))
            }
        });
        Some(Box::new(BooleanQuery::new(per_field.collect())))
    }

    /// A prefix: words before the last must match, the last begins a word.
    fn prefix_query(&self, prefix: &str) -> Result<Option<Box<dyn tantivy::query::Query>>, SearchError> {
        let tokens = analyze(&mut self.analyzer(FOLDED), prefix);
        let Some(((_, last), before)) = tokens.split_last() else { return Ok(None) };
        let mut clauses: Vec<(Occur, Box<dyn tantivy::query::Query>)> = before
            .iter()
            .map(|(_, word)| -> (Occur, Box<dyn tantivy::query::Query>) {
                (Occur::Must, Box::new(TermQuery::new(Term::from_field_text(self.fields.prefix, word), IndexRecordOption::Basic)))
            })
            .collect();
        // The words that begin with `last`: the terms from `last` up to the first that sorts after all of them
        // (read from the term dictionary; no automaton to build).
        let first = Bound::Included(Term::from_field_text(self.fields.prefix, last));
        // Only the bytes of a bound are compared, so the end, which may not be UTF-8, is given as bytes.
        let end = after_prefix(last.as_bytes()).map_or(Bound::Unbounded, |end| Bound::Excluded(Term::from_field_bytes(self.fields.prefix, &end)));
        clauses.push((Occur::Must, Box::new(InvertedIndexRangeQuery::new(first, end))));
        Ok(Some(Box::new(BooleanQuery::new(clauses))))
    }

    /// Documents of the scope's collections (and of the period, when one is given). A filter: it adds nothing to
    /// the score.
    fn scope_query(&self, scope: &[(String, String)], from: Option<time::Date>, to: Option<time::Date>) -> Box<dyn tantivy::query::Query> {
        let f = self.fields;
        let mut terms: Vec<Term> = scope.iter().map(|(child, doctype)| Term::from_field_text(f.collection, &collection(child, doctype))).collect();
        terms.sort_unstable();
        terms.dedup();
        let collections = Collections { field: f.collection, terms: Arc::new(terms), cache: self.scopes.clone() };
        let mut clauses: Vec<(Occur, Box<dyn tantivy::query::Query>)> = vec![(Occur::Must, Box::new(collections))];
        if from.is_some() || to.is_some() {
            let bound = |day: Option<time::Date>| day.map_or(Bound::Unbounded, |d| Bound::Included(Term::from_field_i64(f.day, julian(d))));
            clauses.push((Occur::Must, Box::new(RangeQuery::new(bound(from), bound(to)))));
        }
        Box::new(ConstScoreQuery::new(Box::new(BooleanQuery::new(clauses)), 0.0))
    }
}

/// The least byte string greater than every string that starts with `prefix` (`None`: there is none).
fn after_prefix(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A collection's term: the child's id and the doctype, each prefixed by its length so that no two pairs meet.
fn collection(child: &str, doctype: &str) -> String {
    format!("{}:{child}{}:{doctype}", child.len(), doctype.len())
}

/// The most scopes' bitsets kept (then all are forgotten): a bitset is a bit per document of a segment.
const SCOPES_KEPT: usize = 64;

/// The documents of a scope in each segment, by segment and the scope's sorted terms. A segment never changes once
/// written (its deletions are applied by the collectors, not here) and a caller's scope is the same from one query to
/// the next, so a scope is read from the postings once per segment.
#[derive(Default)]
struct ScopeCache {
    bitsets: Mutex<HashMap<ScopeKey, Arc<BitSet>>>,
}

/// A segment and a scope's sorted terms.
type ScopeKey = (tantivy::index::SegmentId, Arc<Vec<Term>>);

/// The documents of some collections: in each segment, one bitset filled from the collections' postings (one term
/// each), which the text's matches are then checked against. It scores nothing. (tantivy's `TermSetQuery` does the
/// same but builds an FST of the terms for every query, which cost more than the search; a union of term queries
/// is seeked term by term.)
#[derive(Clone)]
struct Collections {
    field: Field,
    /// Sorted, once each.
    terms: Arc<Vec<Term>>,
    cache: Arc<ScopeCache>,
}

impl std::fmt::Debug for Collections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Collections({})", self.terms.len())
    }
}

impl Collections {
    fn documents(&self, reader: &SegmentReader) -> tantivy::Result<Arc<BitSet>> {
        let key = (reader.segment_id(), self.terms.clone());
        if let Some(docs) = self.cache.bitsets.lock().expect("scope cache lock").get(&key) {
            return Ok(docs.clone());
        }
        let postings = reader.inverted_index(self.field)?;
        let mut docs = BitSet::with_max_value(reader.max_doc());
        for term in self.terms.iter() {
            let Some(info) = postings.get_term_info(term)? else { continue };
            let mut blocks = postings.read_block_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
            while !blocks.docs().is_empty() {
                blocks.docs().iter().for_each(|&doc| {
                    docs.insert(doc);
                });
                blocks.advance();
            }
        }
        let docs = Arc::new(docs);
        let mut cache = self.cache.bitsets.lock().expect("scope cache lock");
        if cache.len() >= SCOPES_KEPT {
            cache.clear();
        }
        cache.insert(key, docs.clone());
        Ok(docs)
    }
}

impl tantivy::query::Query for Collections {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for Collections {
    fn scorer(&self, reader: &SegmentReader, _: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let docs = BitSet::clone(&*self.documents(reader)?);
        Ok(Box::new(ConstScorer::new(BitSetDocSet::from(docs), 0.0)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.scorer(reader, 0.0)?.seek(doc) == doc {
            Ok(Explanation::new("in the scope", 0.0))
        } else {
            Err(tantivy::TantivyError::InvalidArgument("not in the scope".to_owned()))
        }
    }
}

impl FamilyIndex {
    /// The analyzer registered at open (a clone shares its stop words; building one anew would not).
    fn analyzer(&self, name: &str) -> tantivy::tokenizer::TextAnalyzer {
        self.index.tokenizers().get(name).expect("the analyzers are registered at open")
    }
}

fn analyze(analyzer: &mut tantivy::tokenizer::TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut stream = analyzer.token_stream(text);
    let mut tokens = Vec::new();
    while let Some(token) = stream.next() {
        tokens.push((token.position, token.text.clone()));
    }
    tokens
}

fn julian(day: time::Date) -> i64 {
    i64::from(day.to_julian_day())
}

fn from_julian(day: i64) -> Option<time::Date> {
    time::Date::from_julian_day(i32::try_from(day).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_range_ends_after_its_words() {
        assert_eq!(after_prefix(b"geom").as_deref(), Some(&b"geon"[..]));
        assert_eq!(after_prefix(&[b'a', 0xff, 0xff]).as_deref(), Some(&b"b"[..]));
        assert_eq!(after_prefix(&[0xff]), None);
        // A word that stays non-ASCII once folded (Greek): between its words and the next.
        let end = after_prefix("αβ".as_bytes()).unwrap();
        assert!("αβω".as_bytes() < end.as_slice() && end.as_slice() <= "αγ".as_bytes());
    }
}
