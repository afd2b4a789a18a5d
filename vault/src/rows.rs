//! Stored rows that hold structured data: their own types, so that renaming a field or a variant of a domain type
//! in `consent` cannot silently change what is stored, nor make stored rows unreadable.
//!
//! Every value is written as text with the names the format fixes (`as_str` of the closed enums) and read back by
//! parsing them; a row that does not parse is an error that names the row, never its content.

use cartable_consent::{Action, Approval, Doctype, FamilyId, Grant, GrantId, GrantState, Grantee, LegalBasis, MemberId, Role, ServiceId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// `grants.grant_json`, format 1: the shape grants were first stored in (rows written before the format field read
/// as format 1). The purpose is not in it: it is sealed in `grants.purpose_enc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredGrant {
    #[serde(default = "format_1")]
    format: u8,
    id: String,
    family: String,
    grantee: StoredGrantee,
    child: String,
    doctypes: Vec<String>,
    actions: Vec<String>,
    /// Always empty in rows written since purposes are sealed; older rows are sealed at start.
    #[serde(default)]
    purpose: String,
    legal_basis: String,
    #[serde(with = "time::serde::rfc3339")]
    requested_at: OffsetDateTime,
    duration_days: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    state: String,
    approvals: Vec<StoredApproval>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase", deny_unknown_fields)]
enum StoredGrantee {
    Service(String),
    Member(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredApproval {
    member: String,
    role: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

fn format_1() -> u8 {
    1
}

/// The stored form of `grant`, without its purpose.
pub(crate) fn grant_json(grant: &Grant) -> String {
    let stored = StoredGrant {
        format: 1,
        id: grant.id.to_string(),
        family: grant.family.to_string(),
        grantee: match grant.grantee {
            Grantee::Service(s) => StoredGrantee::Service(s.to_string()),
            Grantee::Member(m) => StoredGrantee::Member(m.to_string()),
        },
        child: grant.child.to_string(),
        doctypes: grant.doctypes.iter().map(|d| d.as_str().to_owned()).collect(),
        actions: grant.actions.iter().map(|a| a.as_str().to_owned()).collect(),
        purpose: String::new(),
        legal_basis: grant.legal_basis.as_str().to_owned(),
        requested_at: grant.requested_at,
        duration_days: grant.duration_days,
        expires_at: grant.expires_at,
        state: grant.state.as_str().to_owned(),
        approvals: grant
            .approvals
            .iter()
            .map(|a| StoredApproval { member: a.member.to_string(), role: a.role.as_str().to_owned(), at: a.at })
            .collect(),
    };
    // INVARIANT: strings, integers and times only: serializing cannot fail.
    serde_json::to_string(&stored).expect("a stored grant serializes")
}

/// A grant read back from `grants.grant_json` (its purpose as stored: empty once sealed).
pub(crate) fn parse_grant(json: &str) -> Result<Grant> {
    let malformed = || Error::Corrupt("a grant row");
    let s: StoredGrant = serde_json::from_str(json).map_err(|_| malformed())?;
    if s.format != 1 {
        return Err(Error::Corrupt("a grant row of a later format than this version reads"));
    }
    fn parse<T: std::str::FromStr>(text: &str) -> Option<T> {
        text.parse().ok()
    }
    let grant = (|| {
        Some(Grant {
            id: parse::<GrantId>(&s.id)?,
            family: parse::<FamilyId>(&s.family)?,
            grantee: match &s.grantee {
                StoredGrantee::Service(id) => Grantee::Service(parse::<ServiceId>(id)?),
                StoredGrantee::Member(id) => Grantee::Member(parse::<MemberId>(id)?),
            },
            child: parse::<MemberId>(&s.child)?,
            doctypes: s.doctypes.iter().map(|d| parse::<Doctype>(d)).collect::<Option<_>>()?,
            actions: s.actions.iter().map(|a| parse::<Action>(a)).collect::<Option<_>>()?,
            purpose: s.purpose.clone(),
            legal_basis: parse::<LegalBasis>(&s.legal_basis)?,
            requested_at: s.requested_at,
            duration_days: s.duration_days,
            expires_at: s.expires_at,
            state: GrantState::parse(&s.state)?,
            approvals: s
                .approvals
                .iter()
                .map(|a| Some(Approval { member: parse::<MemberId>(&a.member)?, role: parse::<Role>(&a.role)?, at: a.at }))
                .collect::<Option<_>>()?,
        })
    })();
    grant.ok_or_else(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row as grants were first stored (before the format field and sealed purposes): it must always read.
    const FIRST_ROW: &str = r#"{"id":"0190e0a0-0000-7000-8000-000000000001","family":"0190e0a0-0000-7000-8000-000000000002","grantee":{"kind":"service","id":"0190e0a0-0000-7000-8000-000000000003"},"child":"0190e0a0-0000-7000-8000-000000000004","doctypes":["edu.grades","health.pai"],"actions":["read","list"],"purpose":"suivi scolaire","legal_basis":"legitimate-interest","requested_at":"2026-03-01T08:30:00Z","duration_days":30,"expires_at":"2026-03-31T08:30:00Z","state":"awaiting_confirmation","approvals":[{"member":"0190e0a0-0000-7000-8000-000000000005","role":"guardian","at":"2026-03-01T09:00:00Z"}]}"#;

    #[test]
    fn the_first_stored_form_of_a_grant_reads_and_round_trips() {
        let grant = parse_grant(FIRST_ROW).unwrap();
        assert_eq!(grant.doctypes, [Doctype::Grades, Doctype::HealthPai]);
        assert_eq!(grant.actions, [Action::Read, Action::List]);
        assert_eq!(grant.legal_basis, LegalBasis::LegitimateInterest);
        assert_eq!(grant.state, GrantState::AwaitingConfirmation);
        assert_eq!(grant.approvals[0].role, Role::Guardian);
        assert_eq!(grant.purpose, "suivi scolaire", "an older row's purpose reads, to be sealed at start");
        let again = parse_grant(&grant_json(&grant)).unwrap();
        assert_eq!(again, Grant { purpose: String::new(), ..grant });
        assert!(grant_json(&again).starts_with(r#"{"format":1,"#));
    }

    #[test]
    fn a_malformed_or_newer_row_is_an_error_naming_no_content() {
        for bad in [FIRST_ROW.replace("edu.grades", "edu.unknown"), FIRST_ROW.replace(r#""state":"#, r#""colour":"red","state":"#), r#"{"format":2}"#.to_owned()] {
            let err = parse_grant(&bad).unwrap_err().to_string();
            assert!(!err.contains("suivi"), "{err}");
        }
    }
}
