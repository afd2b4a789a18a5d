//! French analysis, and the words a document gains so that people find it the way they ask for it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use aho_corasick::AhoCorasick;

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, StopWordFilter, TextAnalyzer, Token, TokenFilter,
    TokenStream, Tokenizer,
};

/// The analyzer of the text fields: words, lower case, French stop words, accents folded, then French stems
/// ([`FrenchStems`]), so that a query typed without accents ("eleve") meets the accented text ("élèves").
pub(crate) const FRENCH: &str = "cartable_french";
/// The analyzer of the field prefixes are looked up in: the same words, folded, neither stemmed nor filtered.
pub(crate) const FOLDED: &str = "cartable_folded";

pub(crate) fn french() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::new(Language::French).expect("tantivy has French stop words"))
        .filter(AsciiFoldingFilter)
        .filter(FrenchStems)
        .build()
}

/// The token filter of French stems: Snowball's French algorithm as `rust-stemmers` implements it, which agrees
/// word for word with the Snowball French vectors of 2007 (tantivy's own `Stemmer` follows the 2025 algorithm).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FrenchStems;

impl TokenFilter for FrenchStems {
    type Tokenizer<T: Tokenizer> = FrenchStemming<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> FrenchStemming<T> {
        let stemmer = Arc::new(rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::French));
        FrenchStemming { inner: tokenizer, stemmer, stems: Stems::default() }
    }
}

/// The most stems one analyzer remembers (then it forgets them all and starts again): a few megabytes.
const STEMS_KEPT: usize = 20_000;

/// Words and their stems, shared by an analyzer and its clones.
type Stems = Arc<RwLock<HashMap<String, String>>>;

/// A tokenizer whose tokens come out stemmed. It remembers the stems of the words it met, and its clones share
/// them (tantivy clones the registered analyzer for each segment written and each query and snippet): Snowball's
/// steps cost more than a look-up, and the words of a family's texts repeat.
#[derive(Clone)]
pub(crate) struct FrenchStemming<T> {
    inner: T,
    stemmer: Arc<rust_stemmers::Stemmer>,
    stems: Stems,
}

impl<T: Tokenizer> Tokenizer for FrenchStemming<T> {
    type TokenStream<'a> = FrenchStemStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        FrenchStemStream { inner: self.inner.token_stream(text), stemmer: &self.stemmer, stems: &self.stems }
    }
}

pub(crate) struct FrenchStemStream<'a, S> {
    inner: S,
    stemmer: &'a rust_stemmers::Stemmer,
    stems: &'a RwLock<HashMap<String, String>>,
}

impl<S: TokenStream> TokenStream for FrenchStemStream<'_, S> {
    fn advance(&mut self) -> bool {
        if !self.inner.advance() {
            return false;
        }
        let token = self.inner.token_mut();
        if let Some(stem) = self.stems.read().expect("stems lock").get(token.text.as_str()) {
            token.text.clear();
            token.text.push_str(stem);
            return true;
        }
        let stem = self.stemmer.stem(&token.text).into_owned();
        let mut stems = self.stems.write().expect("stems lock");
        if stems.len() >= STEMS_KEPT {
            stems.clear();
        }
        stems.insert(std::mem::replace(&mut token.text, stem.clone()), stem);
        true
    }

    fn token(&self) -> &Token {
        self.inner.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.inner.token_mut()
    }
}

pub(crate) fn folded() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Registers the analyzers: they are not stored in the index, so this follows every open.
pub(crate) fn register(index: &tantivy::Index) {
    index.tokenizers().register(FRENCH, french());
    index.tokenizers().register(FOLDED, folded());
}

/// The words of a doctype's stored name in French, so that "bulletin" finds report cards and "notes" grades.
pub fn doctype_words(doctype: &str) -> &'static str {
    match doctype {
        "edu.grades" => "note notes évaluation",
        "edu.attendance" => "absence absences retard retards assiduité présence",
        "edu.homework" => "devoirs devoir travail à faire",
        "edu.report-cards" => "bulletin bulletins bulletin scolaire",
        "edu.certificates" => "attestation certificat diplôme",
        "edu.competencies" => "compétences compétence",
        "edu.documents" => "document documents",
        "edu.timetable" => "emploi du temps",
        "edu.followup" => "carnet de suivi",
        "health.pai" => "santé projet d'accueil individualisé",
        "edu.activity" => "activité activités exercice parcours",
        "edu.enrollments" => "inscription inscriptions classe cours année scolaire",
        _ => "",
    }
}

const MONTHS: [&str; 12] =
    ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"];

/// School words written short and long: each text holding one side gains the other.
const SAME_WORDS: &[(&str, &str)] = &[
    ("mathématiques", "maths"),
    ("éducation physique et sportive", "eps sport"),
    ("sciences de la vie et de la terre", "svt"),
    ("histoire-géographie", "histoire géo"),
    ("histoire géographie", "histoire géo"),
    ("physique-chimie", "physique chimie"),
    ("1er", "premier"),
    ("1re", "première"),
    ("1ère", "première"),
    ("2e", "deuxième second"),
    ("2ème", "deuxième second"),
    ("3e", "troisième"),
    ("3ème", "troisième"),
];

/// The text of a record's body: every string and number of its JSON, one per line, in order (the text snippets are
/// cut from: the words a document gains, such as its dates in French, are indexed apart, [`dates_in_words`]).
pub fn text_of_json(value: &serde_json::Value) -> String {
    let mut text = String::new();
    push_json(value, &mut text);
    text
}

fn push_json(value: &serde_json::Value, text: &mut String) {
    match value {
        serde_json::Value::String(s) => push_words(text, s),
        serde_json::Value::Number(n) => push_words(text, &n.to_string().replace('.', ",")),
        serde_json::Value::Array(items) => items.iter().for_each(|item| push_json(item, text)),
        serde_json::Value::Object(fields) => fields.values().for_each(|v| push_json(v, text)),
        serde_json::Value::Bool(_) | serde_json::Value::Null => {}
    }
}

fn push_words(text: &mut String, words: &str) {
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(words);
}

/// The ISO dates of a text's lines in French words ("2026-03-12" → "12 mars 2026"), so "la note de mars" finds a
/// record of that day: words the document gains, not shown in its snippets.
pub(crate) fn dates_in_words(text: &str) -> String {
    text.lines().filter_map(|line| french_date(line.trim())).collect::<Vec<_>>().join(" ")
}

/// "2026-03-12" (or a timestamp starting so) in French words.
pub(crate) fn french_date(s: &str) -> Option<String> {
    let date = iso_date(s)?;
    Some(format!("{} {} {}", date.day(), MONTHS[usize::from(u8::from(date.month())) - 1], date.year()))
}

pub(crate) fn iso_date(s: &str) -> Option<time::Date> {
    let head = s.get(..10)?;
    if s.len() > 10 && !s[10..].starts_with(['T', ' ']) {
        return None;
    }
    time::Date::parse(head, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// Every side of the school words, once each, found together in one pass over a text.
static SCHOOL_WORDS: LazyLock<(AhoCorasick, Vec<&'static str>)> = LazyLock::new(|| {
    let mut sides: Vec<&'static str> = SAME_WORDS.iter().flat_map(|(long, short)| [*long, *short]).collect();
    sides.sort_unstable();
    sides.dedup();
    (AhoCorasick::new(&sides).expect("the school words make an automaton"), sides)
});

/// The words a text gains: the other side of each school word it holds.
pub(crate) fn same_words(text: &str) -> String {
    let lower = text.to_lowercase();
    let (finder, sides) = &*SCHOOL_WORDS;
    // Which sides the text holds as whole words (not inside a longer one).
    let mut held = vec![false; sides.len()];
    for found in finder.find_overlapping_iter(&lower) {
        let before = lower[..found.start()].chars().next_back();
        let after = lower[found.end()..].chars().next();
        if !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric) {
            held[found.pattern().as_usize()] = true;
        }
    }
    let holds = |words: &str| sides.binary_search(&words).is_ok_and(|at| held[at]);
    let mut extra = String::new();
    for (long, short) in SAME_WORDS {
        for (have, gain) in [(long, short), (short, long)] {
            if holds(have) {
                extra.push(' ');
                extra.push_str(gain);
            }
        }
    }
    extra
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::tokenizer::RawTokenizer;

    fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(token) = stream.next() {
            out.push(token.text.clone());
        }
        out
    }

    #[test]
    fn accents_plurals_and_stop_words_meet() {
        let mut fr = french();
        for (a, b) in [("eleve", "élève"), ("élèves", "eleve"), ("mathematique", "mathématiques"), ("absences", "absence")] {
            assert_eq!(tokens(&mut fr, a), tokens(&mut fr, b), "{a} and {b}");
            assert_eq!(tokens(&mut fr, a).len(), 1);
        }
        assert_eq!(tokens(&mut fr, "la note de maths"), tokens(&mut fr, "note maths"));
    }

    #[test]
    fn dates_and_school_words() {
        let body = serde_json::json!({"subject": "Mathématiques", "date": "2026-03-12", "value": 15.5});
        let text = text_of_json(&body);
        assert!(!text.contains("mars"), "the snippets' text holds the date as written: {text}");
        assert_eq!(dates_in_words(&text), "12 mars 2026");
        assert!(text.contains("15,5"), "{text}");
        assert_eq!(iso_date("2026-03-12T10:00:00Z"), Some(time::macros::date!(2026 - 03 - 12)));
        assert_eq!(iso_date("2026-03-12x"), None);
        assert!(same_words(&text).contains("maths"));
        assert!(same_words("Bulletin du 1er trimestre").contains("premier"));
        assert!(!same_words("les 12e et 13e").contains("deuxième"), "2e inside 12e is not a word");
        assert_eq!(same_words("Histoire-Géographie, 2e trimestre"), " histoire géo deuxième second");
        assert_eq!(same_words("HISTOIRE GÉO et maths"), " mathématiques histoire-géographie histoire géographie");
        assert_eq!(same_words("mathématiquesmaths"), "", "inside a longer word");
    }

    /// The Snowball French vectors of 2007 (20,403 words), every word through the stem filter the analyzer uses.
    /// `rust-stemmers` agrees with all of them; tantivy 0.27's own `Stemmer` (`frostem`, the 2025 algorithm) would
    /// differ on 36, and the current pair (voc.txt) holds the 2025 changes, so it is not the one checked.
    #[test]
    fn snowball_french_vectors() {
        let Some(dir) = std::env::var_os("CARTABLE_TESTDATA").map(std::path::PathBuf::from).or_else(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata");
            dir.is_dir().then_some(dir)
        }) else {
            eprintln!("skipped: ../shared/testdata is absent (set CARTABLE_TESTDATA)");
            return;
        };
        let dir = dir.join("french/snowball-french");
        let (Ok(words), Ok(stems)) = (std::fs::read_to_string(dir.join("voc.2007.txt")), std::fs::read_to_string(dir.join("output.2007.txt")))
        else {
            eprintln!("skipped: {} has no voc.2007.txt and output.2007.txt", dir.display());
            return;
        };
        assert_eq!(words.lines().count(), stems.lines().count(), "the two files are line-aligned");
        let mut stemmer = TextAnalyzer::builder(RawTokenizer::default()).filter(FrenchStems).build();
        let (mut checked, mut wrong) = (0, Vec::new());
        // Twice through the same analyzer: the second time most stems come from what it remembers.
        for _ in 0..2 {
            for (word, stem) in words.lines().zip(stems.lines()) {
                checked += 1;
                let got = tokens(&mut stemmer, word);
                if got != [stem] {
                    wrong.push(format!("{word} → {got:?}, expected {stem}"));
                }
            }
        }
        assert!(checked > 40_000, "{checked} words");
        assert!(wrong.is_empty(), "{} of {checked} differ, e.g. {:?}", wrong.len(), &wrong[..wrong.len().min(10)]);
    }
}
