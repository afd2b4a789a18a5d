//! A credential as read: its format, its JSON, the rules it breaks, what became of its signature, and its record.

use serde_json::{Map, Value, json};

use super::input::Container;
use super::validate::{Violation, has_type, parse_date};
use super::verification::Verification;
use crate::record::{RecordBody, canonical_sha256};

/// The doctype of an awarded badge or a learner record.
pub const CERTIFICATES_DOCTYPE: &str = "edu.certificates";

/// Which specification the credential follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An Open Badges 2.0 Assertion.
    Ob2,
    /// An Open Badges 3.0 `OpenBadgeCredential` or `AchievementCredential`.
    Ob3,
    /// A CLR 2.0 `ClrCredential`.
    Clr2,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ob2 => "ob2",
            Format::Ob3 => "ob3",
            Format::Clr2 => "clr2",
        }
    }
}

/// One credential of the input: only [`read`](super::read) makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub(crate) format: Format,
    pub(crate) container: Container,
    pub(crate) value: Value,
    pub(crate) jws: Option<String>,
    pub(crate) violations: Vec<Violation>,
    pub(crate) verification: Verification,
    pub(crate) part_of: Option<String>,
    /// For a CLR: the titles of the credentials it includes.
    pub(crate) parts: Vec<String>,
}

impl Credential {
    pub fn format(&self) -> Format {
        self.format
    }

    /// The credential's JSON (for a VC-JWT, its `vc` claim or its payload).
    pub fn as_value(&self) -> &Value {
        &self.value
    }

    /// Every structural rule it breaks, in document order; empty when it is valid.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    pub fn verification(&self) -> &Verification {
        &self.verification
    }

    /// The id of the CLR that included it.
    pub fn part_of(&self) -> Option<&str> {
        self.part_of.as_deref()
    }

    /// The credential's `id` (for a VC-JWT without one, its `jti`) as it is written; else `sha256:` and the SHA-256 in
    /// hexadecimal of its canonical JSON (keys sorted at every level, no whitespace). The same credential, read from
    /// its JSON, its JWS or a baked image, gets the same key when it has an id.
    pub fn dedupe_key(&self) -> String {
        match self.value["id"].as_str().filter(|id| !id.is_empty()) {
            Some(id) => id.to_owned(),
            None => canonical_sha256(&self.value),
        }
    }

    /// Its `edu.certificates` body when it breaks no rule, nothing otherwise (as xAPI's refused statements).
    /// `{"title", "issuer"?, "issuer_id"?, "date", "valid_until"?, "description"?, "criteria"?, "evidence"?,
    /// "level"?, "result"?, "achievements"? (a CLR's), "part_of"? (a CLR's id), "format", "baked"? ("png" | "svg"),
    /// "verification", "jws"? (the compact JWS it came in), "credential"}`.
    pub fn records(&self) -> Vec<RecordBody> {
        if !self.violations.is_empty() {
            return Vec::new();
        }
        let mut body = match self.format {
            Format::Ob2 => ob2_body(&self.value),
            Format::Ob3 | Format::Clr2 => vc_body(&self.value),
        };
        if self.format == Format::Clr2 {
            body.insert("achievements".into(), json!(self.parts));
        }
        if let Some(clr) = &self.part_of {
            body.insert("part_of".into(), json!(clr));
        }
        body.insert("format".into(), json!(self.format.as_str()));
        if let Some(baked) = self.container.as_str() {
            body.insert("baked".into(), json!(baked));
        }
        body.insert("verification".into(), self.verification.to_json());
        if let Some(jws) = &self.jws {
            body.insert("jws".into(), json!(jws));
        }
        body.insert("credential".into(), self.value.clone());
        vec![RecordBody { doctype: CERTIFICATES_DOCTYPE, dedupe_key: self.dedupe_key(), body: Value::Object(body) }]
    }

    /// The title its record gets (for a CLR's list of what it includes).
    pub(crate) fn title(&self) -> Option<String> {
        match self.format {
            Format::Ob2 => ob2_body(&self.value).get("title").and_then(Value::as_str).map(str::to_owned),
            _ => vc_title(&self.value),
        }
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// `YYYY-MM-DD` of a valid date, in its own offset.
fn day(value: &Value) -> Option<String> {
    let date = parse_date(value.as_str()?)?.date();
    Some(format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day()))
}

fn put(body: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        body.insert(key.into(), value.into());
    }
}

fn vc_title(vc: &Value) -> Option<String> {
    let achievement = &vc["credentialSubject"]["achievement"];
    if has_type(vc, "ClrCredential") { text(&vc["name"]) } else { text(&achievement["name"]).or_else(|| text(&vc["name"])) }
}

/// An issuer (a Profile object or an IRI): its name, else its id; and its id.
fn issuer_of(issuer: &Value) -> (Option<String>, Option<String>) {
    match issuer {
        Value::String(id) => (Some(id.clone()), Some(id.clone())),
        Value::Object(_) => {
            let id = text(&issuer["id"]);
            (text(&issuer["name"]).or_else(|| id.clone()), id)
        }
        _ => (None, None),
    }
}

fn vc_body(vc: &Value) -> Map<String, Value> {
    let mut body = Map::new();
    let achievement = &vc["credentialSubject"]["achievement"];
    let is_clr = has_type(vc, "ClrCredential");
    put(&mut body, "title", vc_title(vc).or_else(|| text(&vc["id"])));
    let (issuer, issuer_id) = issuer_of(&vc["issuer"]);
    put(&mut body, "issuer", issuer);
    put(&mut body, "issuer_id", issuer_id);
    put(&mut body, "date", day(&vc["validFrom"]).or_else(|| day(&vc["issuanceDate"])));
    put(&mut body, "valid_until", day(&vc["validUntil"]).or_else(|| day(&vc["expirationDate"])));
    let description = if is_clr { text(&vc["description"]) } else { text(&achievement["description"]).or_else(|| text(&vc["description"])) };
    put(&mut body, "description", description);
    if !is_clr {
        let criteria = &achievement["criteria"];
        put(&mut body, "criteria", text(&criteria["narrative"]).or_else(|| text(&criteria["id"])));
        let (level, results) = results(&vc["credentialSubject"], achievement);
        put(&mut body, "level", level);
        if !results.is_empty() {
            body.insert("result".into(), Value::Array(results));
        }
    }
    let evidence = evidence(&vc["evidence"]);
    if !evidence.is_empty() {
        body.insert("evidence".into(), Value::Array(evidence));
    }
    body
}

/// The results of an AchievementSubject, each `{"name"?, "value"?, "status"?}` with the result description's name
/// and an achieved level's name looked up in the achievement; and the first achieved level's name, as `level`.
fn results(subject: &Value, achievement: &Value) -> (Option<String>, Vec<Value>) {
    let descriptions = achievement["resultDescription"].as_array().map(Vec::as_slice).unwrap_or_default();
    let description = |id: &Value| descriptions.iter().find(|d| id.is_string() && d["id"] == *id);
    let level_name = |id: &Value| {
        descriptions.iter().flat_map(|d| d["rubricCriterionLevel"].as_array().map(Vec::as_slice).unwrap_or_default()).find(|l| id.is_string() && l["id"] == *id).and_then(|l| text(&l["name"]))
    };
    let (mut level, mut out) = (None, Vec::new());
    for result in subject["result"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let mut entry = Map::new();
        put(&mut entry, "name", description(&result["resultDescription"]).and_then(|d| text(&d["name"])));
        let achieved = level_name(&result["achievedLevel"]);
        if level.is_none() {
            level.clone_from(&achieved);
        }
        put(&mut entry, "value", text(&result["value"]).or(achieved));
        put(&mut entry, "status", text(&result["status"]));
        if !entry.is_empty() {
            out.push(Value::Object(entry));
        }
    }
    (level, out)
}

/// Evidence as `{"id"?, "name"?, "description"?, "narrative"?, "genre"?, "audience"?}` items, an IRI as its `id`.
fn evidence(value: &Value) -> Vec<Value> {
    let items: &[Value] = match value {
        Value::Array(list) => list,
        Value::Null => &[],
        one => std::slice::from_ref(one),
    };
    items
        .iter()
        .filter_map(|e| match e {
            Value::String(id) => Some(json!({"id": id})),
            Value::Object(_) => {
                let mut entry = Map::new();
                for key in ["id", "name", "description", "narrative", "genre", "audience"] {
                    put(&mut entry, key, text(&e[key]));
                }
                (!entry.is_empty()).then_some(Value::Object(entry))
            }
            _ => None,
        })
        .collect()
}

fn ob2_body(assertion: &Value) -> Map<String, Value> {
    let mut body = Map::new();
    let badge = &assertion["badge"];
    match badge {
        Value::Object(_) => {
            put(&mut body, "title", text(&badge["name"]).or_else(|| text(&badge["id"])));
            let (issuer, issuer_id) = issuer_of(&badge["issuer"]);
            put(&mut body, "issuer", issuer);
            put(&mut body, "issuer_id", issuer_id);
        }
        // A hosted BadgeClass: its address is all there is offline.
        _ => put(&mut body, "title", text(badge)),
    }
    put(&mut body, "date", day(&assertion["issuedOn"]));
    put(&mut body, "valid_until", day(&assertion["expires"]));
    put(&mut body, "description", text(&badge["description"]));
    let criteria = &badge["criteria"];
    put(&mut body, "criteria", text(criteria).or_else(|| text(&criteria["narrative"])).or_else(|| text(&criteria["id"])));
    let evidence = evidence(&assertion["evidence"]);
    if !evidence.is_empty() {
        body.insert("evidence".into(), Value::Array(evidence));
    }
    body
}
