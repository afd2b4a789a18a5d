//! The data rules of xAPI (1.0.3, and the 2.0 additions to a statement's context) checked on a JSON value, every
//! violation reported with a stable rule name and the JSON path of the offending property.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Value};

use super::syntax;

/// A rule of the xAPI data model; the name is stable, for logs, counts and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    StatementNotObject,
    StatementActorRequired,
    StatementVerbRequired,
    StatementObjectRequired,
    PropertyRequired,
    PropertyUnknown,
    PropertyNull,
    PropertyRepeated,
    PropertyType,
    ObjectTypeValue,
    ObjectTypeRequired,
    UuidFormat,
    IriAbsolute,
    MboxMailto,
    MboxSha1sumHex,
    TimestampIso8601,
    DurationIso8601,
    LanguageTagRfc5646,
    VersionFormat,
    AgentIfiExactlyOne,
    GroupIfiAtMostOne,
    GroupAnonymousMemberRequired,
    GroupMemberAgentOnly,
    ScoreScaledRange,
    ScoreMinBelowMax,
    ScoreRawRange,
    ContextRevisionActivityOnly,
    ContextPlatformActivityOnly,
    ContextTeamGroup,
    ContextStatementRef,
    ContextActivitiesKey,
    SubStatementNested,
    SubStatementForbiddenProperty,
    InteractionType,
    InteractionComponentsUnsupported,
    InteractionComponentIdsDistinct,
    AuthorityGroupTwoAgents,
    AttachmentContentType,
    AttachmentLength,
    AttachmentSha2,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::StatementNotObject => "statement.not-object",
            Rule::StatementActorRequired => "statement.actor.required",
            Rule::StatementVerbRequired => "statement.verb.required",
            Rule::StatementObjectRequired => "statement.object.required",
            Rule::PropertyRequired => "property.required",
            Rule::PropertyUnknown => "property.unknown",
            Rule::PropertyNull => "property.null",
            Rule::PropertyRepeated => "property.repeated",
            Rule::PropertyType => "property.type",
            Rule::ObjectTypeValue => "object-type.value",
            Rule::ObjectTypeRequired => "object-type.required",
            Rule::UuidFormat => "uuid.format",
            Rule::IriAbsolute => "iri.absolute",
            Rule::MboxMailto => "mbox.mailto",
            Rule::MboxSha1sumHex => "mbox-sha1sum.hex",
            Rule::TimestampIso8601 => "timestamp.iso8601",
            Rule::DurationIso8601 => "duration.iso8601",
            Rule::LanguageTagRfc5646 => "language-tag.rfc5646",
            Rule::VersionFormat => "version.format",
            Rule::AgentIfiExactlyOne => "agent.ifi.exactly-one",
            Rule::GroupIfiAtMostOne => "group.ifi.at-most-one",
            Rule::GroupAnonymousMemberRequired => "group.anonymous.member.required",
            Rule::GroupMemberAgentOnly => "group.member.agent-only",
            Rule::ScoreScaledRange => "result.score.scaled.range",
            Rule::ScoreMinBelowMax => "result.score.min-below-max",
            Rule::ScoreRawRange => "result.score.raw.range",
            Rule::ContextRevisionActivityOnly => "context.revision.activity-only",
            Rule::ContextPlatformActivityOnly => "context.platform.activity-only",
            Rule::ContextTeamGroup => "context.team.group",
            Rule::ContextStatementRef => "context.statement.statement-ref",
            Rule::ContextActivitiesKey => "context.context-activities.key",
            Rule::SubStatementNested => "substatement.nested",
            Rule::SubStatementForbiddenProperty => "substatement.property.forbidden",
            Rule::InteractionType => "interaction.type",
            Rule::InteractionComponentsUnsupported => "interaction.components.unsupported",
            Rule::InteractionComponentIdsDistinct => "interaction.components.distinct-ids",
            Rule::AuthorityGroupTwoAgents => "authority.group.two-agents",
            Rule::AttachmentContentType => "attachment.content-type",
            Rule::AttachmentLength => "attachment.length.integer",
            Rule::AttachmentSha2 => "attachment.sha2.hex",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken rule: which, where (a JSON path from `$`, the statement), and a sentence saying what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    pub path: String,
    pub message: String,
}

/// Every violation of `statement`, in document order; empty when it is a valid statement.
pub(crate) fn violations(statement: &Value) -> Vec<Violation> {
    let mut check = Check { found: Vec::new() };
    match statement {
        Value::Object(map) => check.statement(map, "$", false),
        _ => check.report(Rule::StatementNotObject, "$", format!("a statement is a JSON object, not {}", kind(statement))),
    }
    check.found
}

const STATEMENT_KEYS: &[&str] = &["id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority", "version", "attachments"];
const SUBSTATEMENT_KEYS: &[&str] = &["objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"];
/// What a SubStatement must not have (section 2.4.4.3), reported as such rather than as unknown.
const SUBSTATEMENT_FORBIDDEN: &[&str] = &["id", "stored", "version", "authority"];
const AGENT_KEYS: &[&str] = &["objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"];
const GROUP_KEYS: &[&str] = &["objectType", "name", "mbox", "mbox_sha1sum", "openid", "account", "member"];
const IFI_KEYS: &[&str] = &["mbox", "mbox_sha1sum", "openid", "account"];
const DEFINITION_KEYS: &[&str] = &[
    "name",
    "description",
    "type",
    "moreInfo",
    "extensions",
    "interactionType",
    "correctResponsesPattern",
    "choices",
    "scale",
    "source",
    "target",
    "steps",
];
const INTERACTION_TYPES: &[&str] = &["true-false", "choice", "fill-in", "long-fill-in", "matching", "performance", "sequencing", "likert", "numeric", "other"];
const COMPONENT_LISTS: &[&str] = &["choices", "scale", "source", "target", "steps"];
const CONTEXT_KEYS: &[&str] = &[
    "registration",
    "instructor",
    "team",
    "contextActivities",
    "revision",
    "platform",
    "language",
    "statement",
    "extensions",
    // xAPI 2.0.
    "contextAgents",
    "contextGroups",
];
const CONTEXT_ACTIVITY_KEYS: &[&str] = &["parent", "grouping", "category", "other"];
const ATTACHMENT_KEYS: &[&str] = &["usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"];

/// The component lists an interaction type supports (the table of section 2.4.4.1, interaction components).
fn supported_lists(interaction_type: Option<&str>) -> &'static [&'static str] {
    match interaction_type {
        Some("choice" | "sequencing") => &["choices"],
        Some("likert") => &["scale"],
        Some("matching") => &["source", "target"],
        Some("performance") => &["steps"],
        _ => &[],
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Agent,
    Group { members: Option<usize> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectKind {
    Activity,
    Other,
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The path of `key` inside `path`: `$.a.b`, or `$.a["http://x"]` for a key that is not a plain name.
pub(crate) fn child(path: &str, key: &str) -> String {
    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain { format!("{path}.{key}") } else { format!("{path}[{}]", Value::String(key.to_owned())) }
}

pub(crate) fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

struct Check {
    found: Vec<Violation>,
}

impl Check {
    fn report(&mut self, rule: Rule, path: &str, message: impl Into<String>) {
        self.found.push(Violation { rule, path: path.to_owned(), message: message.into() });
    }

    fn object<'a>(&mut self, value: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                self.report(Rule::PropertyType, path, format!("`{path}` must be an object, not {}", kind(other)));
                None
            }
        }
    }

    fn array<'a>(&mut self, value: &'a Value, path: &str) -> Option<&'a Vec<Value>> {
        match value {
            Value::Array(items) => Some(items),
            other => {
                self.report(Rule::PropertyType, path, format!("`{path}` must be an array, not {}", kind(other)));
                None
            }
        }
    }

    fn string<'a>(&mut self, value: &'a Value, path: &str) -> Option<&'a str> {
        match value {
            Value::String(text) => Some(text),
            other => {
                self.report(Rule::PropertyType, path, format!("`{path}` must be a string, not {}", kind(other)));
                None
            }
        }
    }

    fn number(&mut self, value: &Value, path: &str) -> Option<f64> {
        match value {
            Value::Number(n) => n.as_f64(),
            other => {
                self.report(Rule::PropertyType, path, format!("`{path}` must be a number, not {}", kind(other)));
                None
            }
        }
    }

    fn boolean(&mut self, value: &Value, path: &str) {
        if !value.is_boolean() {
            self.report(Rule::PropertyType, path, format!("`{path}` must be a boolean, not {}", kind(value)));
        }
    }

    /// Reports keys the spec does not define here and null values (allowed only inside extensions).
    fn keys(&mut self, map: &Map<String, Value>, path: &str, allowed: &[&str]) {
        for (key, value) in map {
            let at = child(path, key);
            if !allowed.contains(&key.as_str()) {
                self.report(Rule::PropertyUnknown, &at, format!("`{key}` is not a property xAPI defines here"));
            } else if value.is_null() {
                self.report(Rule::PropertyNull, &at, format!("`{key}` is null: xAPI allows null only inside extensions"));
            }
        }
    }

    fn required<'a>(&mut self, map: &'a Map<String, Value>, key: &str, path: &str, rule: Rule) -> Option<&'a Value> {
        match map.get(key) {
            None => {
                let message = if path == "$" { format!("a statement must have `{key}`") } else { format!("`{path}` must have `{key}`") };
                self.report(rule, &child(path, key), message);
                None
            }
            Some(value) => present(value),
        }
    }

    fn iri(&mut self, value: &Value, path: &str) {
        if let Some(text) = self.string(value, path)
            && !syntax::is_absolute_iri(text)
        {
            self.report(Rule::IriAbsolute, path, format!("`{text}` is not an absolute IRI (it needs a scheme such as `https:`)"));
        }
    }

    fn uuid(&mut self, value: &Value, path: &str) {
        if let Some(text) = self.string(value, path)
            && !syntax::is_uuid(text)
        {
            self.report(Rule::UuidFormat, path, format!("`{text}` is not a UUID in standard form (8-4-4-4-12 hexadecimal digits)"));
        }
    }

    fn timestamp(&mut self, value: &Value, path: &str) {
        if let Some(text) = self.string(value, path)
            && !syntax::is_timestamp(text)
        {
            self.report(Rule::TimestampIso8601, path, format!("`{text}` is not an ISO 8601 timestamp such as `2024-03-01T10:00:00.000Z`"));
        }
    }

    fn language_map(&mut self, value: &Value, path: &str) {
        let Some(map) = self.object(value, path) else { return };
        for (tag, text) in map {
            let at = child(path, tag);
            if !syntax::is_language_tag(tag) {
                self.report(Rule::LanguageTagRfc5646, &at, format!("`{tag}` is not an RFC 5646 language tag"));
            }
            self.string(text, &at);
        }
    }

    fn extensions(&mut self, value: &Value, path: &str) {
        let Some(map) = self.object(value, path) else { return };
        for key in map.keys() {
            if !syntax::is_absolute_iri(key) {
                self.report(Rule::IriAbsolute, &child(path, key), format!("the extension key `{key}` is not an absolute IRI"));
            }
        }
    }

    fn statement(&mut self, map: &Map<String, Value>, path: &str, inside: bool) {
        if inside {
            for key in SUBSTATEMENT_FORBIDDEN.iter().filter(|k| map.contains_key(**k)) {
                self.report(Rule::SubStatementForbiddenProperty, &child(path, key), format!("a SubStatement must not have `{key}`"));
            }
            let allowed: Vec<&str> = SUBSTATEMENT_KEYS.iter().chain(SUBSTATEMENT_FORBIDDEN).copied().collect();
            self.keys(map, path, &allowed);
        } else {
            self.keys(map, path, STATEMENT_KEYS);
            if let Some(id) = map.get("id").and_then(present) {
                self.uuid(id, &child(path, "id"));
            }
        }
        if let Some(actor) = self.required(map, "actor", path, Rule::StatementActorRequired) {
            self.actor(actor, &child(path, "actor"));
        }
        if let Some(verb) = self.required(map, "verb", path, Rule::StatementVerbRequired) {
            self.verb(verb, &child(path, "verb"));
        }
        let object = self.required(map, "object", path, Rule::StatementObjectRequired).map(|object| self.statement_object(object, &child(path, "object"), inside));
        if let Some(result) = map.get("result").and_then(present) {
            self.result(result, &child(path, "result"));
        }
        if let Some(context) = map.get("context").and_then(present) {
            self.context(context, &child(path, "context"), object);
        }
        if let Some(timestamp) = map.get("timestamp").and_then(present) {
            self.timestamp(timestamp, &child(path, "timestamp"));
        }
        if let Some(attachments) = map.get("attachments").and_then(present) {
            self.attachments(attachments, &child(path, "attachments"));
        }
        if inside {
            return;
        }
        if let Some(stored) = map.get("stored").and_then(present) {
            self.timestamp(stored, &child(path, "stored"));
        }
        if let Some(authority) = map.get("authority").and_then(present) {
            self.authority(authority, &child(path, "authority"));
        }
        if let Some(version) = map.get("version").and_then(present) {
            self.version(version, &child(path, "version"));
        }
    }

    /// An Agent or a Group, told by `objectType` (an Agent when absent); what it turned out to be.
    fn actor(&mut self, value: &Value, path: &str) -> Option<Actor> {
        let map = self.object(value, path)?;
        match map.get("objectType").and_then(present) {
            None if map.contains_key("member") => {
                self.report(Rule::ObjectTypeRequired, &child(path, "objectType"), "an actor with `member` is a Group and must say `\"objectType\": \"Group\"`");
                self.group(map, path)
            }
            None => self.agent(map, path),
            Some(Value::String(t)) if t == "Agent" => self.agent(map, path),
            Some(Value::String(t)) if t == "Group" => self.group(map, path),
            Some(other) => {
                let at = child(path, "objectType");
                if let Some(text) = self.string(other, &at) {
                    self.report(Rule::ObjectTypeValue, &at, format!("`{text}` is not an actor's objectType (`Agent` or `Group`)"));
                }
                None
            }
        }
    }

    fn agent(&mut self, map: &Map<String, Value>, path: &str) -> Option<Actor> {
        self.keys(map, path, AGENT_KEYS);
        self.name(map, path);
        let identifiers = self.identifiers(map, path);
        if identifiers != 1 {
            self.report(
                Rule::AgentIfiExactlyOne,
                path,
                format!("an Agent has exactly one of `mbox`, `mbox_sha1sum`, `openid` and `account`; this one has {identifiers}"),
            );
        }
        Some(Actor::Agent)
    }

    fn group(&mut self, map: &Map<String, Value>, path: &str) -> Option<Actor> {
        self.keys(map, path, GROUP_KEYS);
        self.name(map, path);
        let identifiers = self.identifiers(map, path);
        if identifiers > 1 {
            self.report(
                Rule::GroupIfiAtMostOne,
                path,
                format!("an identified Group has exactly one of `mbox`, `mbox_sha1sum`, `openid` and `account`; this one has {identifiers}"),
            );
        }
        let members = map.get("member").and_then(present).and_then(|m| self.array(m, &child(path, "member")));
        if identifiers == 0 && members.is_none_or(Vec::is_empty) {
            self.report(Rule::GroupAnonymousMemberRequired, &child(path, "member"), "an anonymous Group (one without an identifier) must list its members");
        }
        for (i, member) in members.into_iter().flatten().enumerate() {
            let at = item(&child(path, "member"), i);
            let Some(member_map) = self.object(member, &at) else { continue };
            match member_map.get("objectType").and_then(present) {
                Some(Value::String(t)) if t == "Group" => {
                    self.report(Rule::GroupMemberAgentOnly, &at, "a Group's members are Agents, never Groups");
                }
                None => {
                    self.agent(member_map, &at);
                }
                Some(Value::String(t)) if t == "Agent" => {
                    self.agent(member_map, &at);
                }
                Some(other) => {
                    let at = child(&at, "objectType");
                    if let Some(text) = self.string(other, &at) {
                        self.report(Rule::ObjectTypeValue, &at, format!("`{text}` is not a member's objectType (`Agent`)"));
                    }
                }
            }
        }
        Some(Actor::Group { members: members.map(Vec::len) })
    }

    fn name(&mut self, map: &Map<String, Value>, path: &str) {
        if let Some(name) = map.get("name").and_then(present) {
            self.string(name, &child(path, "name"));
        }
    }

    /// Checks each inverse functional identifier present and counts them.
    fn identifiers(&mut self, map: &Map<String, Value>, path: &str) -> usize {
        let mut count = 0;
        for key in IFI_KEYS {
            let Some(value) = map.get(*key).and_then(present) else { continue };
            count += 1;
            let at = child(path, key);
            match *key {
                "mbox" => {
                    if let Some(text) = self.string(value, &at)
                        && !syntax::is_mailto(text)
                    {
                        self.report(Rule::MboxMailto, &at, format!("`{text}` is not a `mailto:` IRI with an address"));
                    }
                }
                "mbox_sha1sum" => {
                    if let Some(text) = self.string(value, &at)
                        && !(text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit()))
                    {
                        self.report(Rule::MboxSha1sumHex, &at, format!("`{text}` is not a SHA-1 in hexadecimal (40 digits)"));
                    }
                }
                "openid" => self.iri(value, &at),
                _ => self.account(value, &at),
            }
        }
        count
    }

    fn account(&mut self, value: &Value, path: &str) {
        let Some(map) = self.object(value, path) else { return };
        self.keys(map, path, &["homePage", "name"]);
        if let Some(home) = self.required(map, "homePage", path, Rule::PropertyRequired) {
            self.iri(home, &child(path, "homePage"));
        }
        if let Some(name) = self.required(map, "name", path, Rule::PropertyRequired) {
            self.string(name, &child(path, "name"));
        }
    }

    fn verb(&mut self, value: &Value, path: &str) {
        let Some(map) = self.object(value, path) else { return };
        self.keys(map, path, &["id", "display"]);
        if let Some(id) = self.required(map, "id", path, Rule::PropertyRequired) {
            self.iri(id, &child(path, "id"));
        }
        if let Some(display) = map.get("display").and_then(present) {
            self.language_map(display, &child(path, "display"));
        }
    }

    /// The object, told by `objectType` (an Activity when absent); `inside` when it is a SubStatement's object.
    fn statement_object(&mut self, value: &Value, path: &str, inside: bool) -> ObjectKind {
        let Some(map) = self.object(value, path) else { return ObjectKind::Other };
        let at = child(path, "objectType");
        match map.get("objectType").and_then(present) {
            None if map.keys().any(|k| IFI_KEYS.contains(&k.as_str()) || k == "member") => {
                self.report(Rule::ObjectTypeRequired, &at, "an Agent or a Group as the object must say so in `objectType`");
                ObjectKind::Other
            }
            None => {
                self.activity(map, path);
                ObjectKind::Activity
            }
            Some(Value::String(t)) => match t.as_str() {
                "Activity" => {
                    self.activity(map, path);
                    ObjectKind::Activity
                }
                "Agent" => {
                    self.agent(map, path);
                    ObjectKind::Other
                }
                "Group" => {
                    self.group(map, path);
                    ObjectKind::Other
                }
                "StatementRef" => {
                    self.statement_ref(map, path);
                    ObjectKind::Other
                }
                "SubStatement" if inside => {
                    self.report(Rule::SubStatementNested, path, "a SubStatement cannot have a SubStatement as its object");
                    ObjectKind::Other
                }
                "SubStatement" => {
                    self.statement(map, path, true);
                    ObjectKind::Other
                }
                other => {
                    self.report(
                        Rule::ObjectTypeValue,
                        &at,
                        format!("`{other}` is not an object's objectType (`Activity`, `Agent`, `Group`, `StatementRef` or `SubStatement`)"),
                    );
                    ObjectKind::Other
                }
            },
            Some(other) => {
                self.string(other, &at);
                ObjectKind::Other
            }
        }
    }

    fn activity(&mut self, map: &Map<String, Value>, path: &str) {
        self.keys(map, path, &["objectType", "id", "definition"]);
        if let Some(id) = self.required(map, "id", path, Rule::PropertyRequired) {
            self.iri(id, &child(path, "id"));
        }
        if let Some(definition) = map.get("definition").and_then(present) {
            self.definition(definition, &child(path, "definition"));
        }
    }

    fn definition(&mut self, value: &Value, path: &str) {
        let Some(map) = self.object(value, path) else { return };
        self.keys(map, path, DEFINITION_KEYS);
        for key in ["name", "description"] {
            if let Some(text) = map.get(key).and_then(present) {
                self.language_map(text, &child(path, key));
            }
        }
        for key in ["type", "moreInfo"] {
            if let Some(iri) = map.get(key).and_then(present) {
                self.iri(iri, &child(path, key));
            }
        }
        if let Some(extensions) = map.get("extensions").and_then(present) {
            self.extensions(extensions, &child(path, "extensions"));
        }
        let interaction_type = map.get("interactionType").and_then(present).and_then(|t| {
            let at = child(path, "interactionType");
            let text = self.string(t, &at)?;
            if INTERACTION_TYPES.contains(&text) {
                Some(text)
            } else {
                self.report(Rule::InteractionType, &at, format!("`{text}` is not an interaction type ({})", INTERACTION_TYPES.join(", ")));
                None
            }
        });
        if let Some(pattern) = map.get("correctResponsesPattern").and_then(present) {
            let at = child(path, "correctResponsesPattern");
            for (i, response) in self.array(pattern, &at).into_iter().flatten().enumerate() {
                self.string(response, &item(&at, i));
            }
        }
        let supported = supported_lists(interaction_type);
        for list in COMPONENT_LISTS {
            let Some(components) = map.get(*list).and_then(present) else { continue };
            let at = child(path, list);
            if interaction_type.is_some() && !supported.contains(list) {
                self.report(
                    Rule::InteractionComponentsUnsupported,
                    &at,
                    format!("an interaction of type `{}` has no `{list}` list", interaction_type.unwrap_or_default()),
                );
            } else if interaction_type.is_none() && !map.contains_key("interactionType") {
                self.report(Rule::InteractionComponentsUnsupported, &at, format!("`{list}` belongs to an interaction, and `interactionType` is missing"));
            }
            self.components(components, &at);
        }
    }

    fn components(&mut self, value: &Value, path: &str) {
        let Some(components) = self.array(value, path) else { return };
        let mut ids = HashSet::new();
        for (i, component) in components.iter().enumerate() {
            let at = item(path, i);
            let Some(map) = self.object(component, &at) else { continue };
            self.keys(map, &at, &["id", "description"]);
            if let Some(id) = self.required(map, "id", &at, Rule::PropertyRequired)
                && let Some(text) = self.string(id, &child(&at, "id"))
                && !ids.insert(text)
            {
                self.report(Rule::InteractionComponentIdsDistinct, &child(&at, "id"), format!("the id `{text}` is already used in this list"));
            }
            if let Some(description) = map.get("description").and_then(present) {
                self.language_map(description, &child(&at, "description"));
            }
        }
    }

    fn statement_ref(&mut self, map: &Map<String, Value>, path: &str) {
        self.keys(map, path, &["objectType", "id"]);
        if let Some(id) = self.required(map, "id", path, Rule::PropertyRequired) {
            self.uuid(id, &child(path, "id"));
        }
    }

    fn result(&mut self, value: &Value, path: &str) {
        let Some(map) = self.object(value, path) else { return };
        self.keys(map, path, &["score", "success", "completion", "response", "duration", "extensions"]);
        if let Some(score) = map.get("score").and_then(present) {
            self.score(score, &child(path, "score"));
        }
        for key in ["success", "completion"] {
            if let Some(flag) = map.get(key).and_then(present) {
                self.boolean(flag, &child(path, key));
            }
        }
        if let Some(response) = map.get("response").and_then(present) {
            self.string(response, &child(path, "response"));
        }
        if let Some(duration) = map.get("duration").and_then(present) {
            let at = child(path, "duration");
            if let Some(text) = self.string(duration, &at)
                && !syntax::is_duration(text)
            {
                self.report(Rule::DurationIso8601, &at, format!("`{text}` is not an ISO 8601 duration such as `PT1H30M`"));
            }
        }
        if let Some(extensions) = map.get("extensions").and_then(present) {
            self.extensions(extensions, &child(path, "extensions"));
        }
    }

    fn score(&mut self, value: &Value, path: &str) {
        let Some(map) = self.object(value, path) else { return };
        self.keys(map, path, &["scaled", "raw", "min", "max"]);
        let mut number = |key: &str| map.get(key).and_then(present).and_then(|n| self.number(n, &child(path, key)));
        let (scaled, raw, min, max) = (number("scaled"), number("raw"), number("min"), number("max"));
        if let Some(scaled) = scaled.filter(|s| !(-1.0..=1.0).contains(s)) {
            self.report(Rule::ScoreScaledRange, &child(path, "scaled"), format!("`scaled` is {scaled}, outside -1 to 1"));
        }
        if let (Some(min), Some(max)) = (min, max)
            && min >= max
        {
            self.report(Rule::ScoreMinBelowMax, &child(path, "min"), format!("`min` ({min}) must be less than `max` ({max})"));
        }
        if let (Some(raw), Some(min)) = (raw, min)
            && raw < min
        {
            self.report(Rule::ScoreRawRange, &child(path, "raw"), format!("`raw` ({raw}) is below `min` ({min})"));
        }
        if let (Some(raw), Some(max)) = (raw, max)
            && raw > max
        {
            self.report(Rule::ScoreRawRange, &child(path, "raw"), format!("`raw` ({raw}) is above `max` ({max})"));
        }
    }

    fn context(&mut self, value: &Value, path: &str, object: Option<ObjectKind>) {
        let Some(map) = self.object(value, path) else { return };
        self.keys(map, path, CONTEXT_KEYS);
        if let Some(registration) = map.get("registration").and_then(present) {
            self.uuid(registration, &child(path, "registration"));
        }
        if let Some(instructor) = map.get("instructor").and_then(present) {
            self.actor(instructor, &child(path, "instructor"));
        }
        if let Some(team) = map.get("team").and_then(present) {
            let at = child(path, "team");
            if let Some(Actor::Agent) = self.actor(team, &at) {
                self.report(Rule::ContextTeamGroup, &at, "a context's `team` is a Group, not an Agent");
            }
        }
        if let Some(activities) = map.get("contextActivities").and_then(present) {
            self.context_activities(activities, &child(path, "contextActivities"));
        }
        for (key, rule) in [("revision", Rule::ContextRevisionActivityOnly), ("platform", Rule::ContextPlatformActivityOnly)] {
            let Some(text) = map.get(key).and_then(present) else { continue };
            let at = child(path, key);
            self.string(text, &at);
            if object.is_some_and(|o| o != ObjectKind::Activity) {
                self.report(rule, &at, format!("`{key}` is only for a statement whose object is an Activity"));
            }
        }
        if let Some(language) = map.get("language").and_then(present) {
            let at = child(path, "language");
            if let Some(tag) = self.string(language, &at)
                && !syntax::is_language_tag(tag)
            {
                self.report(Rule::LanguageTagRfc5646, &at, format!("`{tag}` is not an RFC 5646 language tag"));
            }
        }
        if let Some(statement) = map.get("statement").and_then(present) {
            let at = child(path, "statement");
            if let Some(reference) = self.object(statement, &at) {
                if reference.get("objectType").and_then(Value::as_str) == Some("StatementRef") {
                    self.statement_ref(reference, &at);
                } else {
                    self.report(Rule::ContextStatementRef, &child(&at, "objectType"), "a context's `statement` is a StatementRef and says so in `objectType`");
                }
            }
        }
        if let Some(extensions) = map.get("extensions").and_then(present) {
            self.extensions(extensions, &child(path, "extensions"));
        }
        for (key, object_type, member) in [("contextAgents", "contextAgent", "agent"), ("contextGroups", "contextGroup", "group")] {
            let Some(list) = map.get(key).and_then(present) else { continue };
            let at = child(path, key);
            for (i, entry) in self.array(list, &at).into_iter().flatten().enumerate() {
                self.context_member(entry, &item(&at, i), object_type, member);
            }
        }
    }

    fn context_activities(&mut self, value: &Value, path: &str) {
        let Some(map) = self.object(value, path) else { return };
        for (key, activities) in map {
            let at = child(path, key);
            if !CONTEXT_ACTIVITY_KEYS.contains(&key.as_str()) {
                self.report(Rule::ContextActivitiesKey, &at, format!("`{key}` is not a context activity kind (parent, grouping, category or other)"));
                continue;
            }
            match activities {
                Value::Array(list) => {
                    for (i, activity) in list.iter().enumerate() {
                        self.context_activity(activity, &item(&at, i));
                    }
                }
                Value::Object(_) => self.context_activity(activities, &at),
                other => {
                    self.report(Rule::PropertyType, &at, format!("`{key}` must be an Activity or an array of Activities, not {}", kind(other)));
                }
            }
        }
    }

    fn context_activity(&mut self, value: &Value, path: &str) {
        let Some(map) = self.object(value, path) else { return };
        match map.get("objectType").and_then(present) {
            None => {}
            Some(Value::String(t)) if t == "Activity" => {}
            Some(other) => {
                let at = child(path, "objectType");
                if let Some(text) = self.string(other, &at) {
                    self.report(Rule::ObjectTypeValue, &at, format!("`{text}` is not `Activity`: context activities are Activities"));
                }
            }
        }
        self.activity(map, path);
    }

    /// A 2.0 `contextAgents` or `contextGroups` entry: its `objectType`, the Agent or Group, its relevant types.
    fn context_member(&mut self, value: &Value, path: &str, object_type: &str, member: &str) {
        let Some(map) = self.object(value, path) else { return };
        self.keys(map, path, &["objectType", member, "relevantTypes"]);
        if let Some(found) = self.required(map, "objectType", path, Rule::PropertyRequired) {
            let at = child(path, "objectType");
            if let Some(text) = self.string(found, &at)
                && text != object_type
            {
                self.report(Rule::ObjectTypeValue, &at, format!("`{text}` is not `{object_type}`"));
            }
        }
        if let Some(actor) = self.required(map, member, path, Rule::PropertyRequired) {
            let at = child(path, member);
            match (self.actor(actor, &at), member) {
                (Some(Actor::Group { .. }), "agent") => self.report(Rule::PropertyType, &at, "a context agent is an Agent, not a Group"),
                (Some(Actor::Agent), "group") => self.report(Rule::PropertyType, &at, "a context group is a Group, not an Agent"),
                _ => {}
            }
        }
        if let Some(types) = map.get("relevantTypes").and_then(present) {
            let at = child(path, "relevantTypes");
            for (i, iri) in self.array(types, &at).into_iter().flatten().enumerate() {
                self.iri(iri, &item(&at, i));
            }
        }
    }

    fn authority(&mut self, value: &Value, path: &str) {
        if let Some(Actor::Group { members }) = self.actor(value, path)
            && members != Some(2)
        {
            self.report(Rule::AuthorityGroupTwoAgents, path, "a Group as authority (three-legged OAuth) has exactly two Agents, the application and the user");
        }
    }

    fn version(&mut self, value: &Value, path: &str) {
        let Some(text) = self.string(value, path) else { return };
        let patch_ok = |rest: &str| rest.is_empty() || rest.strip_prefix('.').is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        let ok = ["1.0", "2.0"].iter().any(|major_minor| text.strip_prefix(major_minor).is_some_and(patch_ok));
        if !ok {
            self.report(Rule::VersionFormat, path, format!("`{text}` is not a version of xAPI 1.0.x or 2.0.x"));
        }
    }

    fn attachments(&mut self, value: &Value, path: &str) {
        let Some(list) = self.array(value, path) else { return };
        for (i, attachment) in list.iter().enumerate() {
            let at = item(path, i);
            let Some(map) = self.object(attachment, &at) else { continue };
            self.keys(map, &at, ATTACHMENT_KEYS);
            if let Some(usage) = self.required(map, "usageType", &at, Rule::PropertyRequired) {
                self.iri(usage, &child(&at, "usageType"));
            }
            if let Some(display) = self.required(map, "display", &at, Rule::PropertyRequired) {
                self.language_map(display, &child(&at, "display"));
            }
            if let Some(description) = map.get("description").and_then(present) {
                self.language_map(description, &child(&at, "description"));
            }
            if let Some(content_type) = self.required(map, "contentType", &at, Rule::PropertyRequired) {
                let where_ = child(&at, "contentType");
                if let Some(text) = self.string(content_type, &where_)
                    && !is_media_type(text)
                {
                    self.report(Rule::AttachmentContentType, &where_, format!("`{text}` is not an Internet media type such as `application/pdf`"));
                }
            }
            if let Some(length) = self.required(map, "length", &at, Rule::PropertyRequired)
                && length.as_u64().is_none()
            {
                self.report(Rule::AttachmentLength, &child(&at, "length"), format!("`length` must be a whole number of octets, not {length}"));
            }
            if let Some(sha2) = self.required(map, "sha2", &at, Rule::PropertyRequired) {
                let where_ = child(&at, "sha2");
                if let Some(text) = self.string(sha2, &where_)
                    && !(matches!(text.len(), 56 | 64 | 96 | 128) && text.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    self.report(Rule::AttachmentSha2, &where_, format!("`{text}` is not a SHA-2 digest in hexadecimal"));
                }
            }
            if let Some(url) = map.get("fileUrl").and_then(present) {
                self.iri(url, &child(&at, "fileUrl"));
            }
        }
    }
}

/// A value that is there: `null` is reported once by `keys` and otherwise treated as absent.
fn present(value: &Value) -> Option<&Value> {
    (!value.is_null()).then_some(value)
}

/// `type/subtype` with RFC 2045 token characters, and optional parameters after `;`.
fn is_media_type(text: &str) -> bool {
    let essence = text.split(';').next().unwrap_or_default().trim();
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b));
    essence.split_once('/').is_some_and(|(kind, sub)| token(kind) && token(sub))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_quote_keys_that_are_not_plain_names() {
        assert_eq!(child("$", "actor"), "$.actor");
        assert_eq!(child("$.x", "http://e.com/k"), "$.x[\"http://e.com/k\"]");
        assert_eq!(child("$.d", "en-US"), "$.d[\"en-US\"]");
    }

    #[test]
    fn media_types() {
        assert!(is_media_type("application/pdf"));
        assert!(is_media_type("text/plain; charset=utf-8"));
        assert!(!is_media_type("pdf"));
        assert!(!is_media_type("application/"));
    }

    #[test]
    fn a_missing_property_is_named_with_where_it_belongs() {
        let statement = json!({"actor": {"account": {"name": "x"}}, "object": {"id": "http://x/o"}});
        let messages: Vec<(&str, String)> = violations(&statement).into_iter().map(|v| (v.rule.as_str(), v.message)).collect();
        assert_eq!(
            messages,
            [
                ("property.required", "`$.actor.account` must have `homePage`".to_owned()),
                ("statement.verb.required", "a statement must have `verb`".to_owned())
            ]
        );
    }

    #[test]
    fn a_minimal_statement_has_no_violation() {
        let statement = json!({"actor": {"mbox": "mailto:a@b.c"}, "verb": {"id": "http://x/v"}, "object": {"id": "http://x/o"}});
        assert_eq!(violations(&statement), []);
    }
}
