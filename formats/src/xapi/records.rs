//! A valid statement turned into record bodies: the activity itself, and a grade when it reports one.

use serde_json::{Map, Value, json};

use super::validate::{self, Rule, Violation};
pub use crate::record::RecordBody;
use crate::record::canonical_sha256;

/// The doctype of a statement kept whole.
pub const ACTIVITY_DOCTYPE: &str = "edu.activity";
/// The doctype of the grade a completed, passed or failed statement with a score gives.
pub const GRADES_DOCTYPE: &str = "edu.grades";

/// The ADL verbs whose score is a grade: the outcome of an assessment, not a step along the way.
const GRADED_VERBS: [&str; 3] = ["http://adlnet.gov/expapi/verbs/completed", "http://adlnet.gov/expapi/verbs/passed", "http://adlnet.gov/expapi/verbs/failed"];

/// A statement that breaks no rule of the data model; only [`validate`] makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidStatement {
    statement: Value,
}

/// Why a statement was refused: every rule it breaks, and the statement itself, given back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", summary(violations))]
pub struct InvalidStatement {
    /// Never empty.
    pub violations: Vec<Violation>,
    pub statement: Value,
}

fn summary(violations: &[Violation]) -> String {
    match violations.first() {
        Some(first) => format!("the statement breaks {} rule(s) of xAPI, first `{}` at `{}`", violations.len(), first.rule, first.path),
        None => "the statement was refused".to_owned(),
    }
}

/// Checks `statement` against every data rule of xAPI and reports all it breaks. A key given twice in one object
/// cannot be seen in a `Value`: [`RawStatement::validate`](super::RawStatement::validate) reports those too.
pub fn validate(statement: Value) -> Result<ValidStatement, InvalidStatement> {
    validate_with_repeated(statement, Vec::new())
}

pub(crate) fn validate_with_repeated(statement: Value, repeated_keys: Vec<String>) -> Result<ValidStatement, InvalidStatement> {
    let mut violations: Vec<Violation> = repeated_keys
        .into_iter()
        .map(|path| Violation { rule: Rule::PropertyRepeated, message: format!("`{path}` is given more than once: each property is used once"), path })
        .collect();
    violations.extend(validate::violations(&statement));
    if violations.is_empty() { Ok(ValidStatement { statement }) } else { Err(InvalidStatement { violations, statement }) }
}

impl ValidStatement {
    pub fn as_value(&self) -> &Value {
        &self.statement
    }

    /// The statement's `id` in lower case (UUIDs compare without case); for a statement without one,
    /// `sha256:` and the SHA-256 in hexadecimal of its canonical JSON: keys sorted by their UTF-8 bytes at every level,
    /// no whitespace, strings and numbers as serde_json writes them (so `1` and `1.0` give different keys). The same
    /// statement imported twice gets the same key; an LRS, which gives every statement an id, never needs the hash.
    pub fn dedupe_key(&self) -> String {
        match self.statement.get("id").and_then(Value::as_str) {
            Some(id) => id.to_ascii_lowercase(),
            None => {
                canonical_sha256(&self.statement)
            }
        }
    }

    /// The `edu.activity` body (the statement whole, with a title, its verb and its date beside it) and, for a
    /// completed, passed or failed statement whose score fits a grade, an `edu.grades` body referring to the statement.
    pub fn records(&self) -> Vec<RecordBody> {
        let key = self.dedupe_key();
        let statement = &self.statement;
        let object = &statement["object"];
        let title = name_of(object).or_else(|| object["id"].as_str().map(str::to_owned));
        // INVARIANT: a valid timestamp starts with `YYYY-MM-DD` (ASCII), so the slice is on a character boundary.
        let date = ["timestamp", "stored"].iter().find_map(|k| statement[k].as_str()).map(|t| t[..10].to_owned());
        let mut activity = Map::new();
        activity.insert("verb".into(), statement["verb"]["id"].clone());
        if let Some(title) = &title {
            activity.insert("title".into(), json!(title));
        }
        if let Some(date) = &date {
            activity.insert("date".into(), json!(date));
        }
        activity.insert("statement".into(), statement.clone());
        let mut out = vec![RecordBody { doctype: ACTIVITY_DOCTYPE, dedupe_key: key.clone(), body: Value::Object(activity) }];
        if let Some(grade) = self.grade(&key, title, date) {
            out.push(RecordBody { doctype: GRADES_DOCTYPE, dedupe_key: key, body: grade });
        }
        out
    }

    /// `{"subject", "title", "grade", "out_of", "date", "comment", "statement"}`, the shape of the grades collection.
    /// The scale comes from `raw` out of `max` when `min` is absent or 0, else from `scaled` (out of 100, a negative
    /// one giving no grade); a score on a scale that does not start at 0 and without `scaled` gives none, rather than a
    /// guessed conversion.
    fn grade(&self, key: &str, title: Option<String>, date: Option<String>) -> Option<Value> {
        let statement = &self.statement;
        if !GRADED_VERBS.contains(&statement["verb"]["id"].as_str()?) {
            return None;
        }
        let score = &statement["result"]["score"];
        let (raw, min, max, scaled) = (score["raw"].as_f64(), score["min"].as_f64(), score["max"].as_f64(), score["scaled"].as_f64());
        let (grade, out_of) = match (raw, max) {
            (Some(raw), Some(max)) if min.is_none_or(|m| m == 0.0) && max > 0.0 => (raw, max),
            _ => (scaled.filter(|s| *s >= 0.0)? * 100.0, 100.0),
        };
        let subject = subject_of(statement).or_else(|| title.clone())?;
        let mut body = Map::new();
        body.insert("subject".into(), json!(subject));
        if let Some(title) = title {
            body.insert("title".into(), json!(title));
        }
        body.insert("grade".into(), number((grade * 100.0).round() / 100.0));
        body.insert("out_of".into(), number(out_of));
        if let Some(date) = date {
            body.insert("date".into(), json!(date));
        }
        if let Some(response) = statement["result"]["response"].as_str() {
            body.insert("comment".into(), json!(response));
        }
        body.insert("statement".into(), json!(key));
        Some(Value::Object(body))
    }
}

/// A whole number stays one (`16`, not `16.0`), as the grades collection's other records have them.
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 1e15 { json!(n as i64) } else { json!(n) }
}

/// The course a graded activity belongs to: the first `parent`, then `grouping`, context activity with a name.
fn subject_of(statement: &Value) -> Option<String> {
    let activities = &statement["context"]["contextActivities"];
    ["parent", "grouping"].iter().find_map(|kind| match &activities[kind] {
        Value::Array(list) => list.iter().find_map(name_of),
        single @ Value::Object(_) => name_of(single),
        _ => None,
    })
}

/// An activity's name in the language a French family reads first: French, then English, then any.
fn name_of(activity: &Value) -> Option<String> {
    let names = activity["definition"]["name"].as_object()?;
    let prefer = |prefix: &str| names.iter().find(|(tag, _)| tag.eq_ignore_ascii_case(prefix) || tag.to_ascii_lowercase().starts_with(&format!("{prefix}-")));
    let (_, name) = prefer("fr").or_else(|| prefer("en")).or_else(|| names.iter().next())?;
    name.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::write_canonical;

    fn statement(extra: Value) -> Value {
        let mut s = json!({
            "actor": {"mbox": "mailto:leo@example.org"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
            "object": {"id": "http://school.example/quiz/fractions", "definition": {"name": {"en-US": "Fractions quiz", "fr-FR": "Quiz sur les fractions"}}},
            "timestamp": "2026-11-20T09:30:00.000+01:00"
        });
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        s
    }

    #[test]
    fn the_canonical_key_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"verb": {"id": "http://v"}, "actor": {"mbox": "mailto:a@b"}, "object": {"id": "http://o"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"object":{"id":"http://o"},"actor":{"mbox":"mailto:a@b"},"verb":{"id":"http://v"}}"#).unwrap();
        let (a, b) = (validate(a).unwrap(), validate(b).unwrap());
        assert_eq!(a.dedupe_key(), b.dedupe_key());
        assert!(a.dedupe_key().starts_with("sha256:") && a.dedupe_key().len() == 7 + 64);
        let mut canonical = String::new();
        write_canonical(a.as_value(), &mut canonical);
        assert_eq!(canonical, r#"{"actor":{"mbox":"mailto:a@b"},"object":{"id":"http://o"},"verb":{"id":"http://v"}}"#);
    }

    #[test]
    fn an_invalid_statement_made_by_hand_without_violations_still_displays() {
        assert_eq!(InvalidStatement { violations: Vec::new(), statement: Value::Null }.to_string(), "the statement was refused");
    }

    #[test]
    fn an_id_is_the_key_in_lower_case() {
        let valid = validate(statement(json!({"id": "7CCD3322-E1A5-411A-A67D-6A735C76F119"}))).unwrap();
        assert_eq!(valid.dedupe_key(), "7ccd3322-e1a5-411a-a67d-6a735c76f119");
    }

    #[test]
    fn a_passed_statement_with_raw_out_of_max_is_a_grade() {
        let valid = validate(statement(json!({
            "id": "7ccd3322-e1a5-411a-a67d-6a735c76f119",
            "result": {"score": {"raw": 15.5, "min": 0, "max": 20}, "response": "Bien"},
            "context": {"contextActivities": {"parent": [{"id": "http://school.example/maths", "definition": {"name": {"fr": "Mathématiques"}}}]}}
        })))
        .unwrap();
        let records = valid.records();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].doctype, ACTIVITY_DOCTYPE);
        assert_eq!(records[0].body["title"], "Quiz sur les fractions");
        assert_eq!(records[0].body["statement"], *valid.as_value());
        assert_eq!(records[1].doctype, GRADES_DOCTYPE);
        assert_eq!(
            records[1].body,
            json!({"subject": "Mathématiques", "title": "Quiz sur les fractions", "grade": 15.5, "out_of": 20, "date": "2026-11-20",
                   "comment": "Bien", "statement": "7ccd3322-e1a5-411a-a67d-6a735c76f119"})
        );
        assert_eq!(records[1].dedupe_key, records[0].dedupe_key);
    }

    #[test]
    fn scaled_gives_a_grade_out_of_100_and_an_offset_scale_gives_none() {
        let scaled = validate(statement(json!({"result": {"score": {"scaled": 0.875}}}))).unwrap();
        let grade = &scaled.records()[1].body;
        assert_eq!((grade["grade"].clone(), grade["out_of"].clone(), grade["subject"].clone()), (json!(87.5), json!(100), json!("Quiz sur les fractions")));
        let offset = validate(statement(json!({"result": {"score": {"raw": 3, "min": 1, "max": 5}}}))).unwrap();
        assert_eq!(offset.records().len(), 1);
        let negative = validate(statement(json!({"result": {"score": {"scaled": -0.5}}}))).unwrap();
        assert_eq!(negative.records().len(), 1);
    }

    #[test]
    fn other_verbs_and_unscored_statements_give_no_grade() {
        let mut experienced = statement(json!({"result": {"score": {"raw": 5, "max": 10}}}));
        experienced["verb"]["id"] = json!("http://adlnet.gov/expapi/verbs/experienced");
        assert_eq!(validate(experienced).unwrap().records().len(), 1);
        assert_eq!(validate(statement(json!({}))).unwrap().records().len(), 1);
    }
}
