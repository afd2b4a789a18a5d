//! Receipts before they are entries: what the vault says happened, turned into a canonical [`Receipt`] here, so that
//! the fields of ISO/IEC TS 27560 and what each event records are decided in one place, with no I/O.

use time::OffsetDateTime;

use super::{Actor, EventType, ImportCounts, ProhibitionChange, Receipt, SealedChange, Validity};
use crate::{Action, Doctype, FamilyId, Grant, GrantId, GrantState, Grantee, LegalBasis, MemberId, Principal, RecordId, Resource, Role, ServiceId};

/// Everything an entry says, before it becomes a canonical receipt.
#[derive(Debug, Clone)]
pub struct ReceiptDraft {
    family: FamilyId,
    event: EventType,
    actor: Principal,
    actor_role: Option<Role>,
    system: bool,
    time: OffsetDateTime,
    child: Option<MemberId>,
    service: Option<ServiceId>,
    grant: Option<GrantId>,
    legal_basis: Option<LegalBasis>,
    categories: Vec<Doctype>,
    grant_actions: Vec<Action>,
    action: Option<Action>,
    resource: Option<RecordId>,
    record_version: Option<u64>,
    validity: Option<(OffsetDateTime, OffsetDateTime)>,
    reasons: Vec<String>,
    purpose_digest: Option<String>,
    /// The operator recorded this member's decision on their behalf.
    operator_for: Option<MemberId>,
    prohibition: Option<ProhibitionChange>,
    import: Option<ImportCounts>,
    sealed: Option<SealedChange>,
}

/// How consent is withdrawn, said in every grant receipt: in words a person follows, naming no route of any one
/// interface (those change; the right does not).
pub const WITHDRAWAL: &str = "revoke the grant in Cartable, as easily as it was given: the guardian, or the child from the age of digital consent, withdraws it at any time";

impl ReceiptDraft {
    /// An entry of `family`'s log: `event`, by `actor`, at `time`; the optional fields are set by the methods below.
    pub fn new(family: FamilyId, event: EventType, actor: Principal, time: OffsetDateTime) -> Self {
        ReceiptDraft {
            family,
            event,
            actor,
            actor_role: None,
            system: false,
            time,
            child: None,
            service: None,
            grant: None,
            legal_basis: None,
            categories: Vec::new(),
            grant_actions: Vec::new(),
            action: None,
            resource: None,
            record_version: None,
            validity: None,
            reasons: Vec::new(),
            purpose_digest: None,
            operator_for: None,
            prohibition: None,
            import: None,
            sealed: None,
        }
    }

    /// An entry about a grant; `purpose_digest` stands for its purpose, which stays encrypted with the family's data.
    pub fn for_grant(event: EventType, actor: Principal, grant: &Grant, purpose_digest: Option<String>, at: OffsetDateTime) -> Self {
        let mut d = ReceiptDraft::new(grant.family, event, actor, at);
        d.child = Some(grant.child);
        d.service = match grant.grantee {
            Grantee::Service(s) => Some(s),
            Grantee::Member(_) => None,
        };
        d.grant = Some(grant.id);
        d.purpose_digest = purpose_digest;
        d.legal_basis = Some(grant.legal_basis);
        d.categories = grant.doctypes.clone();
        d.grant_actions = grant.actions.clone();
        if let (GrantState::Active, Some(until)) = (grant.state, grant.expires_at) {
            d.validity = Some((at, until));
        }
        d
    }

    /// The family whose log the entry goes to.
    pub fn family(&self) -> FamilyId {
        self.family
    }

    /// When the entry happened (its `created_at`).
    pub fn time(&self) -> OffsetDateTime {
        self.time
    }

    pub fn at(mut self, time: OffsetDateTime) -> Self {
        self.time = time;
        self
    }

    pub fn actor_role(mut self, role: Option<Role>) -> Self {
        self.actor_role = role;
        self
    }

    /// The operator records `member`'s decision on their behalf: the actor is the operator, naming the member.
    pub fn operator_for(mut self, member: MemberId) -> Self {
        self.operator_for = Some(member);
        self
    }

    /// A prohibition set or lifted; `adult` is the adult child whose own prohibition it is (else the family's).
    pub fn prohibition(mut self, change: ProhibitionChange, doctype: Doctype, adult: Option<MemberId>) -> Self {
        self.prohibition = Some(change);
        self.categories = vec![doctype];
        self.child = adult;
        self
    }

    /// The entry records something the server did by itself (expiry, majority).
    pub fn system(mut self) -> Self {
        self.system = true;
        self
    }

    pub fn access(mut self, action: Action, resource: Resource) -> Self {
        self.action = Some(action);
        match resource {
            Resource::Record { id, child, doctype } => {
                self.resource = Some(id);
                self.child = Some(child);
                self.categories = vec![doctype];
            }
            Resource::Collection { child, doctype } => {
                self.child = Some(child);
                self.categories = vec![doctype];
            }
            Resource::Register | Resource::Family => {}
        }
        if let Principal::Service(s) = self.actor {
            self.service = Some(s);
        }
        self
    }

    /// A record write: the version the record has after it.
    pub fn record_version(mut self, version: u64) -> Self {
        self.record_version = Some(version);
        self
    }

    /// Records imported into the collection `access` named: the format and the counts.
    pub fn import(mut self, counts: ImportCounts) -> Self {
        self.import = Some(counts);
        self
    }

    /// A change of a grant's sealed-delivery group, made by the server (at the service's request, or when the grant
    /// ended): about the grant's child and service, with what changed; no scope, no purpose (the grant's own entries
    /// say those).
    pub fn for_sealed_change(grant: &Grant, change: SealedChange, at: OffsetDateTime) -> Self {
        let mut d = ReceiptDraft::new(grant.family, EventType::SealedMembership, Principal::Operator, at);
        d.system = true;
        d.child = Some(grant.child);
        d.service = match grant.grantee {
            Grantee::Service(s) => Some(s),
            Grantee::Member(_) => None,
        };
        d.grant = Some(grant.id);
        d.sealed = Some(change);
        d
    }

    pub fn reasons(mut self, reasons: &[crate::Reason]) -> Self {
        self.reasons = reasons.iter().map(ToString::to_string).collect();
        self
    }

    pub fn into_receipt(self) -> Receipt {
        let actor = if self.system {
            Actor::System
        } else if let Some(member) = self.operator_for {
            Actor::OperatorFor(member)
        } else {
            match (self.actor, self.actor_role) {
                (Principal::Member(m), Some(Role::Child)) => Actor::Child(m),
                (Principal::Member(m), _) => Actor::Guardian(m),
                (Principal::Service(s), _) => Actor::Service(s),
                (Principal::Dpo(d), _) => Actor::Dpo(d),
                (Principal::Operator, _) => Actor::Operator,
            }
        };
        let mut r = Receipt::new(self.family, self.event, actor, self.time);
        r.principal = self.child;
        r.service = self.service;
        r.grant = self.grant;
        r.legal_basis = self.legal_basis;
        r.data_categories = self.categories;
        r.grant_actions = self.grant_actions;
        r.action = self.action;
        r.resource = self.resource;
        r.record_version = self.record_version;
        r.validity = self.validity.map(|(from, until)| Validity { from, until: Some(until) });
        r.withdrawal = self.grant.map(|_| WITHDRAWAL.to_owned());
        r.reasons = self.reasons;
        r.purpose_digest = self.purpose_digest;
        r.prohibition = self.prohibition;
        r.import = self.import;
        r.sealed = self.sealed;
        r
    }
}

