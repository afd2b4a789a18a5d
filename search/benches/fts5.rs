//! `FamilyIndex` (tantivy, French analysis, sealed files, scoped search with snippets) against bare SQLite FTS5
//! doing the same job in the same run, on about 20,000 passages of French novels (ELTeC-fra).
//!
//! - The corpus: `$CARTABLE_TESTDATA/french/eltec-fra-plain` (else `../shared/testdata/...` beside the workspace).
//!   Its files hold one paragraph a line; a line shorter than 40 characters (headings) is skipped and a paragraph
//!   longer than 300 is cut at sentence ends into passages of at least 150 characters (records and notes are
//!   short; the seven novels hold about 14,000 paragraphs, 20,089 passages). 20,000 passages, evenly spaced over
//!   all of them, become documents: children `lea`, `tom`, `zoe` in turn, doctypes `edu.grades`, `edu.homework`,
//!   `edu.notebook`, `edu.documents` in turn, the novel's title as title.
//! - Indexing. tantivy: `FamilyIndex::apply` of 1,000 documents at a time (one commit each), over an `IndexStore`
//!   that seals every file with XChaCha20-Poly1305 under a random key, bound to the file's name as associated data,
//!   and keeps the sealed bytes in memory: the vault's encryption at rest, without its database. FTS5: the same
//!   title and text into `fts5(id, child, doctype UNINDEXED…, title, body, tokenize = 'unicode61 remove_diacritics
//!   2')` in a temporary database file, WAL, one transaction of 1,000 rows at a time through one prepared statement.
//! - Searching: the same queries (one, two and three words, "phrases", `prefix*`) in rounds, each query timed on
//!   its own. tantivy: `FamilyIndex::search` within a scope of two of the three children (every doctype), limit
//!   10, with the product's snippets, totals and counts per child and doctype. FTS5: `MATCH` with the child in
//!   the `WHERE`, `ORDER BY bm25(...) LIMIT 10` and `snippet(...)`. tantivy stems and drops stop words, FTS5 does
//!   neither, so their hit counts differ; a query FTS5 answers and tantivy does not fails the run.
//!
//! Nothing here asserts a time. `cargo bench --workspace --bench fts5` (optimized; `--profile dev` builds this
//! crate, and the analyzers monomorphized in it, without optimization, so tantivy is measured slower than it is);
//! CARTABLE_BENCH_DOCS changes the number of documents, CARTABLE_BENCH_ROUNDS the rounds (20), CARTABLE_BENCH_BATCH
//! the documents of one `apply` and of one transaction (1,000).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cartable_search::{Change, Document, FamilyIndex, IndexStore, Query, SearchRequest};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const DOCS: usize = 20_000;
const BATCH: usize = 1_000;
const ROUNDS: usize = 20;
/// The query rounds stop after this much time (after one round at least).
const QUERY_BUDGET: Duration = Duration::from_secs(120);
const LIMIT: usize = 10;
const CHILDREN: [&str; 3] = ["lea", "tom", "zoe"];
const SEARCHED: [&str; 2] = ["lea", "tom"];
const DOCTYPES: [&str; 4] = ["edu.grades", "edu.homework", "edu.notebook", "edu.documents"];
const MIN_PARAGRAPH: usize = 40;
const CUT_OVER: usize = 300;
const MIN_PASSAGE: usize = 150;

/// The queries, in the product's language; words that occur in the novels, common and rare.
const QUERIES: &[&str] = &[
    // one word, common
    "maison", "mère", "enfant", "nuit", "mer", "capitaine", "argent", "lettre", "amour", "voyage", "soleil", "jardin",
    "église", "village", "chien", "cheval", "maître", "fenêtre", "rivière", "bonheur",
    // one word, rare
    "école", "élève", "leçon", "professeur", "cahier", "géographie", "piano", "naufrage", "boussole", "ombrelle",
    "dentelle", "fiacre", "vaisseau", "notaire", "baptême",
    // two words
    "mère enfant", "capitaine navire", "emma charles", "jardin soleil", "lettre argent", "pharmacien homais",
    "chien harpe", "école maître", "nuit pluie", "mer tempête",
    // three words
    "mère père enfant", "capitaine navire mer", "emma charles rouen", "maison jardin soleil", "maître élève collège",
    // phrases
    "\"tout à coup\"", "\"madame Bovary\"", "\"la mer\"", "\"petit Chose\"", "\"mon père\"", "\"le capitaine\"",
    "\"de temps en temps\"", "\"chemin de fer\"", "\"pauvre enfant\"", "\"la baronne\"",
    // prefixes
    "mathém*", "professe*", "navig*", "chant*", "bonh*", "écol*", "vill*", "cheva*", "inst*", "orthog*",
];

/// Index files sealed as the vault seals them: XChaCha20-Poly1305, a random 192-bit nonce per write, the file's
/// name as associated data (a file renamed or swapped does not open); the sealed bytes stay in memory.
struct SealedStore {
    cipher: XChaCha20Poly1305,
    files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl SealedStore {
    fn new() -> SealedStore {
        SealedStore { cipher: XChaCha20Poly1305::new(&XChaCha20Poly1305::generate_key(&mut OsRng)), files: Mutex::default() }
    }

    fn sealed_bytes(&self) -> usize {
        self.files.lock().unwrap().values().map(Vec::len).sum()
    }
}

impl IndexStore for SealedStore {
    fn names(&self) -> io::Result<Vec<String>> {
        Ok(self.files.lock().unwrap().keys().cloned().collect())
    }

    fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        let files = self.files.lock().unwrap();
        let Some(sealed) = files.get(name) else { return Ok(None) };
        let (nonce, body) = sealed.split_at(24);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: name.as_bytes() })
            .map(Some)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "an index file does not open"))
    }

    fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let body = self
            .cipher
            .encrypt(&nonce, Payload { msg: bytes, aad: name.as_bytes() })
            .map_err(|_| io::Error::other("sealing failed"))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&body);
        self.files.lock().unwrap().insert(name.to_owned(), sealed);
        Ok(())
    }

    fn delete(&self, name: &str) -> io::Result<()> {
        self.files.lock().unwrap().remove(name);
        Ok(())
    }
}

fn corpus_dir() -> Option<PathBuf> {
    let root = std::env::var_os("CARTABLE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"));
    let dir = root.join("french/eltec-fra-plain");
    dir.is_dir().then_some(dir)
}

/// The novels' titles, from the corpus' metadata (file stem → title).
fn titles(dir: &Path) -> BTreeMap<String, String> {
    let Ok(tsv) = std::fs::read_to_string(dir.join("ELTeC-fra_metadata.tsv")) else { return BTreeMap::new() };
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (Some(file), Some(title)) = (column("filename"), column("title")) else { return BTreeMap::new() };
    lines
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            Some((cells.get(file)?.to_string(), cells.get(title)?.to_string()))
        })
        .collect()
}

/// A paragraph, or its passages when it is long: cut after a sentence's end once a passage holds `MIN_PASSAGE`
/// characters; a short tail joins the passage before it.
fn passages(paragraph: &str, out: &mut Vec<String>) {
    if paragraph.chars().count() <= CUT_OVER {
        out.push(paragraph.to_owned());
        return;
    }
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut chars = paragraph.char_indices().peekable();
    let mut start = 0;
    while let Some((at, c)) = chars.next() {
        let ends = matches!(c, '.' | '!' | '?' | ';') && chars.peek().is_some_and(|(_, next)| next.is_whitespace());
        if ends {
            current.push_str(&paragraph[start..at + c.len_utf8()]);
            start = at + c.len_utf8();
            if current.trim().chars().count() >= MIN_PASSAGE {
                pieces.push(current.trim().to_owned());
                current.clear();
            }
        }
    }
    current.push_str(&paragraph[start..]);
    let tail = current.trim();
    if !tail.is_empty() {
        match pieces.last_mut() {
            Some(last) if tail.chars().count() < MIN_PASSAGE / 2 => {
                last.push(' ');
                last.push_str(tail);
            }
            _ => pieces.push(tail.to_owned()),
        }
    }
    out.extend(pieces);
}

fn load(dir: &Path, wanted: usize) -> Vec<Document> {
    let titles = titles(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the corpus folder")
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let mut all: Vec<(String, String)> = Vec::new();
    for path in &files {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let title = titles.get(&stem).cloned().unwrap_or_else(|| stem.clone());
        let text = std::fs::read_to_string(path).expect("a novel's text");
        let mut found = Vec::new();
        for line in text.lines().map(str::trim).filter(|line| line.chars().count() >= MIN_PARAGRAPH) {
            passages(line, &mut found);
        }
        all.extend(found.into_iter().map(|passage| (title.clone(), passage)));
    }
    assert!(!all.is_empty(), "no paragraph in {}", dir.display());
    let n = wanted.min(all.len());
    let first_day = time::macros::date!(2025 - 09 - 01);
    (0..n)
        .map(|i| {
            let (title, body) = &all[i * all.len() / n];
            Document {
                id: format!("p{i:05}"),
                version: 1,
                child: CHILDREN[i % CHILDREN.len()].to_owned(),
                doctype: DOCTYPES[i % DOCTYPES.len()].to_owned(),
                day: Some(first_day + time::Duration::days((i % 300) as i64)),
                title: title.clone(),
                body: body.clone(),
                unreadable: false,
            }
        })
        .collect()
}

/// The same query in FTS5's syntax: every word quoted (an apostrophe or a hyphen is no bareword), phrases kept,
/// `"prefix"*`.
fn fts5_query(query: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = query.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').expect("a closed phrase");
            parts.push(format!("\"{}\"", &quoted[..end]));
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let word = &rest[..end];
            parts.push(match word.strip_suffix('*') {
                Some(prefix) => format!("\"{prefix}\"*"),
                None => format!("\"{word}\""),
            });
            rest = rest[end..].trim_start();
        }
    }
    parts.join(" ")
}

struct Fts5 {
    conn: rusqlite::Connection,
    _dir: tempfile::TempDir,
}

impl Fts5 {
    fn open() -> Fts5 {
        let dir = tempfile::tempdir().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("fts5.sqlite3")).unwrap();
        if let Err(e) = conn.execute_batch("CREATE VIRTUAL TABLE temp.probe USING fts5(x); DROP TABLE temp.probe;") {
            panic!("this SQLite (rusqlite's bundled build) has no FTS5, so there is no baseline: {e}");
        }
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, child UNINDEXED, doctype UNINDEXED, title, body, \
             tokenize = 'unicode61 remove_diacritics 2');",
        )
        .unwrap();
        Fts5 { conn, _dir: dir }
    }

    fn index(&mut self, docs: &[Document], batch: usize) -> Duration {
        let start = Instant::now();
        for batch in docs.chunks(batch) {
            let tx = self.conn.transaction().unwrap();
            {
                let mut insert = tx.prepare_cached("INSERT INTO docs (id, child, doctype, title, body) VALUES (?1, ?2, ?3, ?4, ?5)").unwrap();
                for d in batch {
                    insert.execute(rusqlite::params![d.id, d.child, d.doctype, d.title, d.body]).unwrap();
                }
            }
            tx.commit().unwrap();
        }
        start.elapsed()
    }

    /// Top ten of the two children, with a snippet of the text (about as long as the product's 180 characters).
    fn search(&self, query: &str) -> Vec<(String, String, f64)> {
        let mut select = self
            .conn
            .prepare_cached(
                "SELECT id, snippet(docs, 4, '<b>', '</b>', '…', 30), bm25(docs) FROM docs \
                 WHERE docs MATCH ?1 AND child IN (?2, ?3) ORDER BY bm25(docs) LIMIT 10",
            )
            .unwrap();
        let rows = select
            .query_map(rusqlite::params![query, SEARCHED[0], SEARCHED[1]], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    /// Every match of the two children (not timed: the sanity check's count).
    fn count(&self, query: &str) -> usize {
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM docs WHERE docs MATCH ?1 AND child IN (?2, ?3)", rusqlite::params![query, SEARCHED[0], SEARCHED[1]], |row| {
                row.get(0)
            })
            .unwrap();
        usize::try_from(count).unwrap()
    }
}

struct Latencies(Vec<Duration>);

impl Latencies {
    fn percentile(&self, p: usize) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
    }

    fn per_second(&self) -> f64 {
        self.0.len() as f64 / self.0.iter().sum::<Duration>().as_secs_f64()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let Some(dir) = corpus_dir() else {
        eprintln!("skipped: french/eltec-fra-plain is absent from the test data (set CARTABLE_TESTDATA, or put shared/testdata beside the workspace)");
        return;
    };
    let wanted = std::env::var("CARTABLE_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(DOCS);
    let rounds = std::env::var("CARTABLE_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(ROUNDS).max(1);
    let batch = std::env::var("CARTABLE_BENCH_BATCH").ok().and_then(|v| v.parse().ok()).unwrap_or(BATCH).max(1);
    let docs = load(&dir, wanted);
    let chars: usize = docs.iter().map(|d| d.body.chars().count()).sum();
    println!("{} documents from {} ({} characters of text, {} on average), {batch} a batch", docs.len(), dir.display(), chars, chars / docs.len());

    // Indexing.
    let store = Arc::new(SealedStore::new());
    let index = FamilyIndex::open(store.clone()).unwrap();
    let start = Instant::now();
    for batch in docs.chunks(batch) {
        let changes: Vec<Change> = batch.iter().cloned().map(Change::Put).collect();
        index.apply(&changes).unwrap();
    }
    let tantivy_indexing = start.elapsed();
    drop(index);
    let start = Instant::now();
    let index = FamilyIndex::open(store.clone()).unwrap();
    let reopening = start.elapsed();
    assert_eq!(index.indexed().unwrap().len(), docs.len());
    println!(
        "tantivy: {} files sealed, {} bytes; reopened (every file opened, checksums checked) in {}",
        store.names().unwrap().len(),
        store.sealed_bytes(),
        ms(reopening)
    );
    let mut fts5 = Fts5::open();
    let fts5_indexing = fts5.index(&docs, batch);

    // The queries, checked once, untimed.
    let scope: Vec<(String, String)> =
        SEARCHED.iter().flat_map(|child| DOCTYPES.iter().map(move |doctype| (child.to_string(), doctype.to_string()))).collect();
    let parsed: Vec<Query> = QUERIES.iter().map(|q| Query::parse(q).unwrap()).collect();
    let fts5_queries: Vec<String> = QUERIES.iter().map(|q| fts5_query(q)).collect();
    let search = |query: &Query| {
        index
            .search(&SearchRequest { query, scope: &scope, child: None, doctype: None, from: None, to: None, offset: 0, limit: LIMIT })
            .unwrap()
    };
    let (mut tantivy_found, mut fts5_found, mut unfair) = (0, 0, Vec::new());
    println!("\n{:<26} {:>8} {:>8}   (matches in the two children's scope; tantivy stems and drops stop words)", "query", "tantivy", "FTS5");
    for ((text, query), fts5_text) in QUERIES.iter().zip(&parsed).zip(&fts5_queries) {
        let results = search(query);
        assert!(results.hits.iter().all(|hit| SEARCHED.contains(&hit.child.as_str())), "a hit outside the scope for {text}");
        let fts5_total = fts5.count(fts5_text);
        println!("{text:<26} {:>8} {fts5_total:>8}", results.total);
        tantivy_found += usize::from(!results.hits.is_empty());
        fts5_found += usize::from(!fts5.search(fts5_text).is_empty());
        if results.hits.is_empty() && fts5_total > 0 {
            unfair.push(*text);
        }
    }
    println!("queries with hits: tantivy {tantivy_found} of {}, FTS5 {fts5_found} of {}", QUERIES.len(), QUERIES.len());
    assert!(unfair.is_empty(), "FTS5 finds something for {unfair:?} and tantivy nothing: the comparison is not fair");

    // Rounds over the query set, the two engines in turn.
    let (mut tantivy_times, mut fts5_times) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let mut done = 0;
    while done < rounds && (done == 0 || started.elapsed() < QUERY_BUDGET) {
        for query in &parsed {
            let start = Instant::now();
            black_box(search(query));
            tantivy_times.push(start.elapsed());
        }
        for query in &fts5_queries {
            let start = Instant::now();
            black_box(fts5.search(query));
            fts5_times.push(start.elapsed());
        }
        done += 1;
    }
    let (tantivy_times, fts5_times) = (Latencies(tantivy_times), Latencies(fts5_times));
    println!("\n{done} rounds of {} queries, each timed on its own, one thread\n", QUERIES.len());

    let docs_per_s = |d: Duration| docs.len() as f64 / d.as_secs_f64();
    let (ti, fi) = (docs_per_s(tantivy_indexing), docs_per_s(fts5_indexing));
    println!("{:<22} {:>14} {:>14} {:>10}", "", "tantivy", "FTS5", "ratio");
    println!("{:<22} {:>14.0} {:>14.0} {:>9.2}x", "indexing, documents/s", ti, fi, ti / fi);
    for (label, p) in [("p50 latency", 50), ("p99 latency", 99)] {
        let (t, f) = (tantivy_times.percentile(p), fts5_times.percentile(p));
        println!("{label:<22} {:>14} {:>14} {:>9.2}x", ms(t), ms(f), f.as_secs_f64() / t.as_secs_f64());
    }
    let (tq, fq) = (tantivy_times.per_second(), fts5_times.per_second());
    println!("{:<22} {:>14.0} {:>14.0} {:>9.2}x", "queries/s", tq, fq, tq / fq);
    println!("\nratios: tantivy / FTS5 for throughput, FTS5 / tantivy for latency (above 1 means tantivy is better)");
}
