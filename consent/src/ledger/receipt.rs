//! Consent receipts: the ledger's entries, in canonical JSON.
//!
//! A receipt records one decision or event with the ISO/IEC TS 27560 fields that apply to it.
//! It holds ids, categories and policy ids, never record contents or free text about a child.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

use crate::{Action, Doctype, DpoId, FamilyId, GrantId, LegalBasis, MemberId, RecordId, ServiceId};

/// The `schema_version` every receipt carries.
pub const SCHEMA_VERSION: &str = "cartable.receipt/1";

/// One ledger entry.
///
/// Build it with [`Receipt::new`] and set the optional fields; the bytes appended to the log are
/// [`Receipt::canonical_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub receipt_id: Uuid,
    schema_version: SchemaVersion,
    /// The family whose log holds this entry.
    pub family: FamilyId,
    pub event: EventType,
    /// When it happened; stored in UTC at second precision.
    #[serde(with = "utc_seconds")]
    pub time: OffsetDateTime,
    /// The data subject: the child the event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<MemberId>,
    /// Who acted.
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantId>,
    /// The controller's declared purposes. Empty in receipts about grants since `purpose_digest`: a purpose is free
    /// text that may name the child, so it stays with the family's encrypted data.
    pub purposes: Vec<String>,
    /// SHA-256 (hex) of a random salt and the grant's purpose: the salt and the purpose are encrypted to the family's
    /// key, so whoever holds them can show this receipt is about that purpose, and after the family's erasure
    /// nobody can test a guess against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<LegalBasis>,
    pub data_categories: Vec<Doctype>,
    /// For access events: what was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// For grant events: what the grant lets its grantee do (absent in older entries), so that `ledger verify`
    /// detects a grant whose stored scope was widened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_actions: Vec<Action>,
    /// For access events on one record: its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<RecordId>,
    /// For a record write: the version the record has after it (never its content), so that `ledger verify`
    /// detects a record put back to an older version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<Validity>,
    /// How to withdraw consent (for example the page or command that revokes the grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawal: Option<String>,
    /// The ids of the policies behind a decision.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// For a policy change: a prohibition set or lifted (absent in older entries, which all set one). Its scope is
    /// `principal`: an adult child's own, or, when absent, the family's over its minors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prohibition: Option<ProhibitionChange>,
    /// For records imported: the format they came in and how many were kept, already held, or refused (counts
    /// only: what was refused, and why, is told to whoever imported, never logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportCounts>,
    /// For a change of a grant's sealed-delivery group: what changed and how many service instances it has after
    /// (counts and the epoch only: an instance's name is the service's, not the family's, and not needed here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealedChange>,
}

/// A change of the service instances in a grant's sealed-delivery (MLS) group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedChange {
    pub change: SealedChangeKind,
    /// Instances added or removed by this change.
    pub instances: u32,
    /// Service instances in the group after it.
    pub members: u32,
    /// The group's epoch after it.
    pub epoch: u64,
}

/// What a sealed-delivery group's change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SealedChangeKind {
    /// The group was made for the grant, with the service's instances.
    Created,
    /// Instances the service added were let in.
    Added,
    /// Instances the service retired were taken out.
    Removed,
    /// The grant ended (revoked, expired, at majority): every instance was taken out.
    Ended,
}

/// What one import of records into one collection did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportCounts {
    pub format: ImportFormat,
    /// Records written.
    pub imported: u64,
    /// Items the collection already held (imported before, same key), skipped.
    pub duplicates: u64,
    /// Items of the run refused by the format's rules (a `--partial` run keeps the rest).
    pub rejected: u64,
}

/// The open formats records are imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    Xapi,
    #[serde(rename = "oneroster")]
    OneRoster,
    OpenBadges,
    /// Files as they are (a PDF report card, a scan).
    Files,
}

impl ImportFormat {
    pub const ALL: [ImportFormat; 4] = [ImportFormat::Xapi, ImportFormat::OneRoster, ImportFormat::OpenBadges, ImportFormat::Files];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportFormat::Xapi => "xapi",
            ImportFormat::OneRoster => "oneroster",
            ImportFormat::OpenBadges => "open_badges",
            ImportFormat::Files => "files",
        }
    }
}

impl fmt::Display for ImportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a policy change did to a prohibition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProhibitionChange {
    Set,
    Lifted,
}

/// What a receipt records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Request,
    Approve,
    /// The adult child confirms a grant a guardian approved alone.
    Confirm,
    Deny,
    Revoke,
    Expire,
    PolicyChange,
    AccessAllowed,
    AccessDenied,
    Export,
    Import,
    Erasure,
    MajorityTransition,
    /// A record was rewritten: the entry names the record and its new version.
    RecordWrite,
    /// Records were imported into one collection from an open format: the entry gives the format and the counts.
    RecordsImport,
    /// The service instances of a grant's sealed-delivery group changed: the entry gives what and the counts.
    SealedMembership,
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase", deny_unknown_fields)]
pub enum Actor {
    Guardian(MemberId),
    Child(MemberId),
    Service(ServiceId),
    Dpo(DpoId),
    /// The operator at the console.
    Operator,
    /// The operator at the console, recording a member's decision on their behalf (`--by`).
    #[serde(rename = "operator_for")]
    OperatorFor(MemberId),
    /// The server itself (expiry, majority transition).
    System,
}

/// When a grant is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validity {
    #[serde(with = "utc_seconds")]
    pub from: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "utc_seconds::option")]
    pub until: Option<OffsetDateTime>,
}

/// The error for bytes that are not a canonical receipt.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error("invalid receipt: {0}")]
    Json(#[from] serde_json::Error),
    #[error("receipt bytes are not in canonical form")]
    NotCanonical,
}

/// The error for an unknown event type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type `{0}`")]
pub struct UnknownEventType(pub String);

impl Receipt {
    /// A receipt with a fresh id, `time` truncated to the second, and every optional field empty.
    pub fn new(family: FamilyId, event: EventType, actor: Actor, time: OffsetDateTime) -> Self {
        Receipt {
            receipt_id: Uuid::now_v7(),
            schema_version: SchemaVersion,
            family,
            event,
            time: truncate_to_second(time),
            principal: None,
            actor,
            service: None,
            grant: None,
            purposes: Vec::new(),
            purpose_digest: None,
            legal_basis: None,
            data_categories: Vec::new(),
            grant_actions: Vec::new(),
            action: None,
            resource: None,
            record_version: None,
            validity: None,
            withdrawal: None,
            reasons: Vec::new(),
            prohibition: None,
            import: None,
            sealed: None,
        }
    }

    /// The canonical JSON of the receipt: the log entry.
    ///
    /// Object keys sorted, no insignificant whitespace, absent optional fields omitted, integers only, in the spirit of
    /// RFC 8785 (JCS): the same receipt always gives the same bytes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // INVARIANT: a receipt serializes to strings, integers, arrays and string-keyed objects only, which cannot fail.
        let value = serde_json::to_value(self).expect("a receipt always serializes to JSON");
        let mut out = String::with_capacity(512);
        write_canonical(&value, &mut out);
        out.into_bytes()
    }

    /// The grants this entry is about: its `grant` and, for an access, the grants whose policies permitted it.
    pub fn grants(&self) -> impl Iterator<Item = GrantId> + '_ {
        let permitting = self.reasons.iter().filter_map(|r| match crate::Reason::from_policy_id(r) {
            crate::Reason::Grant(grant) => Some(grant),
            _ => None,
        });
        self.grant.into_iter().chain(permitting)
    }

    /// Parses a log entry, refusing unknown fields and bytes that are not exactly the canonical form.
    pub fn from_canonical(bytes: &[u8]) -> Result<Receipt, ReceiptError> {
        let receipt: Receipt = serde_json::from_slice(bytes)?;
        if receipt.canonical_bytes() != bytes {
            return Err(ReceiptError::NotCanonical);
        }
        Ok(receipt)
    }
}

impl EventType {
    pub const ALL: [EventType; 16] = [
        EventType::Request,
        EventType::Approve,
        EventType::Confirm,
        EventType::Deny,
        EventType::Revoke,
        EventType::Expire,
        EventType::PolicyChange,
        EventType::AccessAllowed,
        EventType::AccessDenied,
        EventType::Export,
        EventType::Import,
        EventType::Erasure,
        EventType::MajorityTransition,
        EventType::RecordWrite,
        EventType::RecordsImport,
        EventType::SealedMembership,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Request => "request",
            EventType::Approve => "approve",
            EventType::Confirm => "confirm",
            EventType::Deny => "deny",
            EventType::Revoke => "revoke",
            EventType::Expire => "expire",
            EventType::PolicyChange => "policy_change",
            EventType::AccessAllowed => "access_allowed",
            EventType::AccessDenied => "access_denied",
            EventType::Export => "export",
            EventType::Import => "import",
            EventType::Erasure => "erasure",
            EventType::MajorityTransition => "majority_transition",
            EventType::RecordWrite => "record_write",
            EventType::RecordsImport => "records_import",
            EventType::SealedMembership => "sealed_membership",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.chars().take(64).collect()))
    }
}

/// The `schema_version` field: always [`SCHEMA_VERSION`], and nothing else parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SchemaVersion;

impl Serialize for SchemaVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(SCHEMA_VERSION)
    }
}

impl<'de> Deserialize<'de> for SchemaVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        if s == SCHEMA_VERSION {
            Ok(SchemaVersion)
        } else {
            let shown: String = s.chars().take(64).collect();
            Err(serde::de::Error::custom(format_args!("unknown receipt schema `{shown}`")))
        }
    }
}

fn truncate_to_second(time: OffsetDateTime) -> OffsetDateTime {
    let utc = time.checked_to_offset(UtcOffset::UTC).unwrap_or(time);
    utc.replace_nanosecond(0).unwrap_or(utc)
}

/// RFC 3339 in UTC at second precision: `2026-03-01T08:30:00Z`.
mod utc_seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub fn serialize<S: Serializer>(time: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
        let s = String::deserialize(deserializer)?;
        OffsetDateTime::parse(&s, &Rfc3339).map_err(serde::de::Error::custom)
    }

    // Written by hand rather than with `Rfc3339` so that it cannot fail: a time outside years 0..=9999 gives a
    // string that later fails to parse, not a panic.
    fn format(time: OffsetDateTime) -> String {
        let t = super::truncate_to_second(time);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    pub mod option {
        use serde::{Deserializer, Serializer};
        use time::OffsetDateTime;

        pub fn serialize<S: Serializer>(time: &Option<OffsetDateTime>, serializer: S) -> Result<S::Ok, S::Error> {
            match time {
                Some(t) => super::serialize(t, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<OffsetDateTime>, D::Error> {
            super::deserialize(deserializer).map(Some)
        }
    }
}

/// Writes `value` as canonical JSON: keys sorted by UTF-16 code units as JCS orders them, no whitespace, strings
/// escaped minimally.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // Receipts hold one number (a record write's version, an integer); integers print in their only form, as JCS has them.
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

/// A JSON string as JCS writes it: only `"`, `\` and control characters escaped, the short forms where they exist.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
