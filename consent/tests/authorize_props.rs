//! Property: for random sets of grants and revocations, a service is allowed exactly when an
//! active, unexpired grant to it covers the child, the doctype and the action, no prohibition
//! covers the doctype, and (for a grant a guardian approved alone) the child is still a minor.

use cartable_consent::lifecycle::birthday_at;
use cartable_consent::{
    AccessRequest, Action, AgeRules, Approval, Authorizer, Doctype, FamilyId, FamilySnapshot, Forbid, ForbidScope, Grant, GrantId,
    GrantState, Grantee, LegalBasis, Member, MemberId, Principal, RecordId, Resource, Role, ServiceId,
};
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const BASE: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);
const DOCTYPES: [Doctype; 4] = [
    Doctype::Grades,
    Doctype::Homework,
    Doctype::Attendance,
    Doctype::HealthPai,
];
const STATES: [GrantState; 6] = [
    GrantState::Requested,
    GrantState::Active,
    GrantState::Denied,
    GrantState::Revoked,
    GrantState::Expired,
    GrantState::AwaitingConfirmation,
];
const SERVICES: usize = 3;
const CHILDREN: usize = 3;

#[derive(Debug, Clone)]
struct GrantSpec {
    service: usize,
    child: usize,
    doctypes: Vec<usize>,
    actions: Vec<usize>,
    state: usize,
    /// Seconds from `BASE`.
    expires: i64,
    child_approved: bool,
}

#[derive(Debug, Clone)]
struct RequestSpec {
    /// `SERVICES` is a service with no grant at all.
    service: usize,
    child: usize,
    doctype: usize,
    action: usize,
    record: bool,
    /// Seconds from `BASE`, or `None` to ask at a boundary (± 1 s): `boundary.0` picks a grant's
    /// expiry (under 12) or the child's majority.
    at: Option<i64>,
    boundary: (usize, i64),
}

fn grant_spec() -> impl Strategy<Value = GrantSpec> {
    (
        0..SERVICES,
        0..CHILDREN,
        proptest::collection::vec(0..DOCTYPES.len(), 0..3),
        proptest::collection::vec(0..Action::ALL.len(), 0..3),
        0..STATES.len(),
        -5 * 86_400i64..60 * 86_400,
        any::<bool>(),
    )
        .prop_map(
            |(service, child, doctypes, actions, state, expires, child_approved)| GrantSpec {
                service,
                child,
                doctypes,
                actions,
                // Active twice as often as the other states, so that permits are common.
                state: if state % 2 == 0 { 1 } else { state },
                expires,
                child_approved,
            },
        )
}

fn request_spec() -> impl Strategy<Value = RequestSpec> {
    (
        0..=SERVICES,
        0..CHILDREN,
        0..DOCTYPES.len(),
        0..Action::ALL.len(),
        any::<bool>(),
        proptest::option::of(-5 * 86_400i64..70 * 86_400),
        (0..16usize, -1i64..=1),
    )
        .prop_map(|(service, child, doctype, action, record, at, boundary)| RequestSpec {
            service,
            child,
            doctype,
            action,
            record,
            at,
            boundary,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn services_get_exactly_what_grants_cover(
        // Days from BASE to each child's birth: ages from 10 to 20 years, often coming of age
        // while the grants run.
        births in proptest::collection::vec(
            prop_oneof![-20 * 365i64..-10 * 365, -18 * 365 - 60i64..-18 * 365 + 60],
            CHILDREN,
        ),
        specs in proptest::collection::vec(grant_spec(), 0..12),
        revoked in proptest::collection::vec(any::<bool>(), 12),
        forbidden in proptest::collection::vec(any::<bool>(), DOCTYPES.len()),
        requests in proptest::collection::vec(request_spec(), 1..40),
    ) {
        let family = FamilyId::new();
        let guardian = Member { id: MemberId::new(), family, role: Role::Guardian, birth_date: None };
        let children: Vec<Member> = births
            .iter()
            .map(|d| Member { id: MemberId::new(), family, role: Role::Child, birth_date: Some((BASE + Duration::days(*d)).date()) })
            .collect();
        let services: Vec<ServiceId> = (0..=SERVICES).map(|_| ServiceId::new()).collect();

        let mut grants: Vec<Grant> = specs
            .iter()
            .map(|s| {
                let child = &children[s.child];
                let mut approvals = vec![Approval { member: guardian.id, role: Role::Guardian, at: BASE }];
                if s.child_approved {
                    approvals.push(Approval { member: child.id, role: Role::Child, at: BASE });
                }
                Grant {
                    id: GrantId::new(),
                    family,
                    grantee: Grantee::Service(services[s.service]),
                    child: child.id,
                    doctypes: s.doctypes.iter().map(|d| DOCTYPES[*d]).collect(),
                    actions: s.actions.iter().map(|a| Action::ALL[*a]).collect(),
                    purpose: "test".into(),
                    legal_basis: LegalBasis::Consent,
                    requested_at: BASE,
                    duration_days: 30,
                    expires_at: Some(BASE + Duration::seconds(s.expires)),
                    state: STATES[s.state],
                    approvals,
                }
            })
            .collect();
        // Revocations come after the grants were made.
        for (g, r) in grants.iter_mut().zip(&revoked) {
            if *r && g.state == GrantState::Active {
                g.state = GrantState::Revoked;
            }
        }
        let forbids: Vec<Forbid> = DOCTYPES
            .iter()
            .zip(&forbidden)
            .filter(|(_, f)| **f)
            .map(|(d, _)| Forbid { family, doctype: *d, scope: ForbidScope::Minors })
            .collect();
        let mut members = children.clone();
        members.push(guardian);
        let snapshot = FamilySnapshot { family, members, grants: grants.clone(), forbids: forbids.clone() };

        let authorizer = Authorizer::new(AgeRules::FRANCE);
        let compiled = authorizer.compile(&snapshot).unwrap();

        for r in &requests {
            let child = &children[r.child];
            let doctype = DOCTYPES[r.doctype];
            let action = Action::ALL[r.action];
            let service = services[r.service];
            let majority = birthday_at(child.birth_date.unwrap(), AgeRules::FRANCE.majority_age).unwrap();
            let (pick, delta) = (r.boundary.0, Duration::seconds(r.boundary.1));
            let now = match r.at {
                Some(at) => BASE + Duration::seconds(at),
                // Right at the child's majority, or at some grant's expiry, to the second.
                None if pick >= 12 || grants.is_empty() => majority + delta,
                None => grants[pick % grants.len()].expires_at.unwrap_or(BASE) + delta,
            };
            let resource = if r.record {
                Resource::Record { id: RecordId::new(), child: child.id, doctype }
            } else {
                Resource::Collection { child: child.id, doctype }
            };
            let decision = authorizer.authorize(
                &compiled,
                &AccessRequest { principal: Principal::Service(service), action, resource, now },
            );

            let covered = grants.iter().any(|g| {
                g.state == GrantState::Active
                    && g.grantee == Grantee::Service(service)
                    && g.child == child.id
                    && g.doctypes.contains(&doctype)
                    && g.actions.contains(&action)
                    && g.expires_at.is_some_and(|e| now < e)
                    && (g.approvals.iter().any(|a| a.member == child.id) || now < majority)
            });
            // A guardian's prohibition covers the children who are still minors.
            let prohibited = forbids.iter().any(|f| f.doctype == doctype) && now < majority;
            prop_assert_eq!(
                decision.is_allowed(),
                covered && !prohibited,
                "request {:?} at {} → {:?}",
                r,
                now,
                decision.reasons()
            );
            if prohibited && covered {
                prop_assert_eq!(decision.reasons().to_vec(), vec![format!("forbid.{doctype}")]);
            }
        }
    }
}
