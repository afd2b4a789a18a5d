//! What the command line prints with `--json`: types of its own, so that renaming a field of a domain type (in
//! `consent` or `vault`, which have no serde of their own for output) cannot silently change what scripts read.
//! Ids are strings, enums their stable names, times RFC 3339, dates ISO 8601.

use cartable_vault::{ApprovalResult, FileInfo, LedgerEntry, MemberInfo, RecordDocument, RecordSummary, VerifyReport};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

/// A grant as `grant list` prints it.
#[derive(Serialize)]
pub(super) struct GrantLine {
    id: String,
    family: String,
    grantee: serde_json::Value,
    child: String,
    doctypes: Vec<&'static str>,
    actions: Vec<&'static str>,
    purpose: String,
    legal_basis: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    requested_at: OffsetDateTime,
    duration_days: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    state: &'static str,
    approvals: Vec<serde_json::Value>,
}

impl GrantLine {
    pub(super) fn of(g: &cartable_consent::Grant) -> GrantLine {
        let grantee = match g.grantee {
            cartable_consent::Grantee::Service(s) => json!({"kind": "service", "id": s.to_string()}),
            cartable_consent::Grantee::Member(m) => json!({"kind": "member", "id": m.to_string()}),
        };
        let approvals = g
            .approvals
            .iter()
            .map(|a| {
                let at = a.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                json!({"member": a.member.to_string(), "role": a.role.as_str(), "at": at})
            })
            .collect();
        GrantLine {
            id: g.id.to_string(),
            family: g.family.to_string(),
            grantee,
            child: g.child.to_string(),
            doctypes: g.doctypes.iter().map(|d| d.as_str()).collect(),
            actions: g.actions.iter().map(|a| a.as_str()).collect(),
            purpose: g.purpose.clone(),
            legal_basis: g.legal_basis.as_str(),
            requested_at: g.requested_at,
            duration_days: g.duration_days,
            expires_at: g.expires_at,
            state: g.state.as_str(),
            approvals,
        }
    }
}

/// A grant's state after an approval, a denial, a revocation or a confirmation, and who must still approve.
#[derive(Serialize)]
pub(super) struct ApprovalLine {
    grant: String,
    state: &'static str,
    /// Plain words, e.g. `the child`.
    missing: Vec<String>,
}

impl ApprovalLine {
    pub(super) fn of(r: &ApprovalResult) -> ApprovalLine {
        ApprovalLine { grant: r.grant.to_string(), state: r.state.as_str(), missing: r.missing.clone() }
    }
}

/// What `ledger verify` found.
#[derive(Serialize)]
pub(super) struct VerifyLine {
    family: String,
    size: u64,
    /// Base64 of the root hash.
    root: String,
    checkpoints_checked: usize,
    grants_checked: usize,
}

impl VerifyLine {
    pub(super) fn of(r: &VerifyReport) -> VerifyLine {
        VerifyLine {
            family: r.family.to_string(),
            size: r.size,
            root: r.root.clone(),
            checkpoints_checked: r.checkpoints_checked,
            grants_checked: r.grants_checked,
        }
    }
}

/// A member as `member list` prints it.
#[derive(Serialize)]
pub(super) struct MemberLine {
    id: String,
    role: &'static str,
    name: String,
    /// ISO 8601 (`2014-05-02`).
    birth_date: Option<String>,
}

impl MemberLine {
    pub(super) fn of(m: &MemberInfo) -> MemberLine {
        MemberLine { id: m.id.to_string(), role: m.role.as_str(), name: m.name.clone(), birth_date: m.birth_date.map(|d| d.to_string()) }
    }
}

/// A DPO as `dpo list` prints it.
#[derive(Serialize)]
pub(super) struct DpoLine {
    id: String,
    name: String,
    /// The service they answer for; absent: the operator's DPO.
    service_id: Option<String>,
    can_sign_in: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl DpoLine {
    pub(super) fn of(d: &cartable_vault::Dpo) -> DpoLine {
        DpoLine { id: d.id.to_string(), name: d.name.clone(), service_id: d.service.map(|s| s.to_string()), can_sign_in: d.can_sign_in, created_at: d.created_at }
    }
}

/// A record as `record get` prints it.
#[derive(Serialize)]
pub(super) struct RecordLine {
    id: String,
    doctype: &'static str,
    child: String,
    source: String,
    version: i64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<FileLine>,
    body: serde_json::Value,
}

#[derive(Serialize)]
struct FileLine {
    name: String,
    size: u64,
    sha256: String,
}

impl FileLine {
    fn of(f: &FileInfo) -> FileLine {
        FileLine { name: f.name.clone(), size: f.size, sha256: f.sha256.clone() }
    }
}

impl RecordLine {
    pub(super) fn of(r: &RecordDocument) -> RecordLine {
        RecordLine {
            id: r.id.to_string(),
            doctype: r.doctype.as_str(),
            child: r.child.to_string(),
            source: r.source.clone(),
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            file: r.file.as_ref().map(FileLine::of),
            body: r.body.clone(),
        }
    }
}

/// A line of `record list`: no contents.
#[derive(Serialize)]
pub(super) struct RecordSummaryLine {
    id: String,
    doctype: &'static str,
    child: String,
    kind: String,
    version: i64,
    size: i64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl RecordSummaryLine {
    pub(super) fn of(r: &RecordSummary) -> RecordSummaryLine {
        RecordSummaryLine {
            id: r.id.to_string(),
            doctype: r.doctype.as_str(),
            child: r.child.to_string(),
            kind: r.kind.clone(),
            version: r.version,
            size: r.size,
            created_at: r.created_at,
        }
    }
}

/// A ledger entry as `ledger list` prints it: its index and its receipt, in the receipt's own published form (the
/// canonical JSON that the log hashes, ISO/IEC TS 27560 field names), which is a format, not a domain type.
#[derive(Serialize)]
pub(super) struct EntryLine {
    index: u64,
    receipt: serde_json::Value,
}

impl EntryLine {
    pub(super) fn of(e: &LedgerEntry) -> EntryLine {
        // A receipt's serde form is its canonical form (`Receipt::canonical_bytes`), the log's published format.
        let receipt = serde_json::to_value(&e.receipt).unwrap_or(serde_json::Value::Null);
        EntryLine { index: e.index, receipt }
    }
}

#[cfg(test)]
mod tests {
    use cartable_consent::{Action, Approval, Doctype, FamilyId, Grant, GrantId, GrantState, Grantee, LegalBasis, MemberId, Role, ServiceId};
    use time::macros::datetime;

    use super::GrantLine;

    #[test]
    fn a_grant_prints_as_grants_were_printed_before_the_cli_had_its_own_type() {
        let grant = Grant {
            id: GrantId::new(),
            family: FamilyId::new(),
            grantee: Grantee::Service(ServiceId::new()),
            child: MemberId::new(),
            doctypes: vec![Doctype::Grades, Doctype::HealthPai],
            actions: vec![Action::Read, Action::List],
            purpose: "suivi scolaire".to_owned(),
            legal_basis: LegalBasis::LegitimateInterest,
            requested_at: datetime!(2026-03-01 08:30 UTC),
            duration_days: 30,
            expires_at: Some(datetime!(2026-03-31 08:30 UTC)),
            state: GrantState::AwaitingConfirmation,
            approvals: vec![Approval { member: MemberId::new(), role: Role::Guardian, at: datetime!(2026-03-01 09:00 UTC) }],
        };
        assert_eq!(serde_json::to_value(GrantLine::of(&grant)).unwrap(), serde_json::to_value(&grant).unwrap());
    }
}
