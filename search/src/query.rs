//! What people type, parsed: words that must all match, "quoted phrases", `-word` to exclude, `prefix*`.

/// The longest query taken, in bytes, and the most parts in one.
const MAX_QUERY_BYTES: usize = 500;
const MAX_PARTS: usize = 32;
/// A prefix shorter than this would match most of the index.
const MIN_PREFIX_CHARS: usize = 2;

/// A parsed query. Its text is never logged nor stored: the ledger records only the categories searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub(crate) parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// One word (or what the analyzer turns into several, matched as a phrase: "l'élève").
    Word { text: String, exclude: bool },
    Phrase { text: String, exclude: bool },
    Prefix(String),
}

/// Why a query was refused. The messages never repeat the query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    #[error("the query is empty")]
    Empty,
    #[error("the query is longer than {MAX_QUERY_BYTES} bytes")]
    TooLong,
    #[error("the query has more than {MAX_PARTS} words")]
    TooManyParts,
    #[error("a quotation mark is not closed")]
    UnclosedQuote,
    #[error("a prefix needs at least {MIN_PREFIX_CHARS} letters before `*`")]
    ShortPrefix,
    #[error("the query only excludes words: say what to look for")]
    OnlyExclusions,
}

impl Query {
    pub fn parse(input: &str) -> Result<Query, QueryError> {
        if input.len() > MAX_QUERY_BYTES {
            return Err(QueryError::TooLong);
        }
        let mut parts = Vec::new();
        let mut rest = input.trim_start();
        while !rest.is_empty() {
            let (exclude, body) = match rest.strip_prefix('-') {
                Some(body) if !body.is_empty() && !body.starts_with(char::is_whitespace) => (true, body),
                _ => (false, rest),
            };
            if let Some(quoted) = body.strip_prefix('"') {
                let end = quoted.find('"').ok_or(QueryError::UnclosedQuote)?;
                let text = quoted[..end].trim();
                if !text.is_empty() {
                    parts.push(Part::Phrase { text: text.to_owned(), exclude });
                }
                rest = quoted[end + 1..].trim_start();
            } else {
                let end = body.find(char::is_whitespace).unwrap_or(body.len());
                let word = &body[..end];
                if word.contains('"') {
                    return Err(QueryError::UnclosedQuote);
                }
                match word.strip_suffix('*') {
                    Some(prefix) if !exclude => {
                        let prefix = prefix.trim_end_matches('*');
                        if prefix.chars().filter(|c| c.is_alphanumeric()).count() < MIN_PREFIX_CHARS {
                            return Err(QueryError::ShortPrefix);
                        }
                        parts.push(Part::Prefix(prefix.to_owned()));
                    }
                    _ => parts.push(Part::Word { text: word.trim_end_matches('*').to_owned(), exclude }),
                }
                rest = body[end..].trim_start();
            }
            if parts.len() > MAX_PARTS {
                return Err(QueryError::TooManyParts);
            }
        }
        if parts.is_empty() {
            return Err(QueryError::Empty);
        }
        if parts.iter().all(Part::excludes) {
            return Err(QueryError::OnlyExclusions);
        }
        Ok(Query { parts })
    }
}

impl Part {
    fn excludes(&self) -> bool {
        matches!(self, Part::Word { exclude: true, .. } | Part::Phrase { exclude: true, .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str) -> Part {
        Part::Word { text: text.into(), exclude: false }
    }

    #[test]
    fn parts() {
        let q = Query::parse(r#"  bulletin "premier trimestre" -brouillon math* "#).unwrap();
        assert_eq!(
            q.parts,
            vec![
                word("bulletin"),
                Part::Phrase { text: "premier trimestre".into(), exclude: false },
                Part::Word { text: "brouillon".into(), exclude: true },
                Part::Prefix("math".into()),
            ]
        );
        assert_eq!(Query::parse(r#"-"mot exclu" note"#).unwrap().parts[0], Part::Phrase { text: "mot exclu".into(), exclude: true });
        assert_eq!(Query::parse("a - b").unwrap().parts, vec![word("a"), word("-"), word("b")]);
    }

    #[test]
    fn refusals() {
        assert_eq!(Query::parse("   "), Err(QueryError::Empty));
        assert_eq!(Query::parse(r#""""#), Err(QueryError::Empty));
        assert_eq!(Query::parse(r#"note "premier"#), Err(QueryError::UnclosedQuote));
        assert_eq!(Query::parse("m*"), Err(QueryError::ShortPrefix));
        assert_eq!(Query::parse("-note"), Err(QueryError::OnlyExclusions));
        assert_eq!(Query::parse(&"a ".repeat(40)), Err(QueryError::TooManyParts));
        assert_eq!(Query::parse(&"a".repeat(501)), Err(QueryError::TooLong));
        assert!(!QueryError::UnclosedQuote.to_string().contains("premier"));
    }
}
