//! Who must approve a request, given the child's age, and how a grant moves between states.
//!
//! Pure functions on a [`Grant`]; the vault persists the result (with its ledger entry).
//!
//! ```text
//! requested ──approve (all approvals in)──▶ active ──revoke──▶ revoked
//!     │                                       │ └──expire_if_due──▶ expired
//!     └──deny──▶ denied                       │
//!          majority_transition (guardian-only approval, child now adult)
//!                                             ▼
//!                                  awaiting_confirmation ──confirm──▶ active
//! ```
//!
//! Ages are reached at midnight UTC on the birthday: a child born 2011-03-10 is 15 from
//! 2026-03-10T00:00:00Z. A child born on 29 February reaches an age on 1 March in other years,
//! the later of the two usual readings, so that a right is never granted early.

use std::fmt;

use time::{Date, Duration, Month, OffsetDateTime, Time};

use crate::Member;
use crate::{AgeRules, Approval, ForbidScope, Grant, GrantId, GrantState, Grantee, MemberId, Role};

/// Where a child stands with respect to the age rules at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AgeStage {
    /// Under the age of digital consent: a guardian decides.
    UnderConsentAge,
    /// From the age of digital consent to majority: a guardian and the child decide together.
    ConsentAge,
    /// At or after majority: the child alone decides.
    Adult,
}

/// The approvals a request needs before it becomes active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Approvers {
    /// One guardian.
    Guardian,
    /// One guardian and the child.
    GuardianAndChild,
    /// The (adult) child alone.
    Child,
}

impl Approvers {
    /// The roles whose approval is needed.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Approvers::Guardian => &[Role::Guardian],
            Approvers::GuardianAndChild => &[Role::Guardian, Role::Child],
            Approvers::Child => &[Role::Child],
        }
    }
}

impl fmt::Display for Approvers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Approvers::Guardian => "a guardian",
            Approvers::GuardianAndChild => "a guardian and the child",
            Approvers::Child => "the child",
        })
    }
}

/// What an approval changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproveOutcome {
    /// The grant is now active (its expiry is set).
    pub activated: bool,
    /// The approvals still missing; empty once active.
    pub missing: Vec<Role>,
}

impl fmt::Display for ApproveOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let has = |r| self.missing.contains(&r);
        match (self.activated, has(Role::Guardian), has(Role::Child)) {
            (true, _, _) | (false, false, false) => f.write_str("the grant is active"),
            (false, true, true) => f.write_str("waiting for the approval of a guardian and of the child"),
            (false, true, false) => f.write_str("waiting for the approval of a guardian"),
            (false, false, true) => f.write_str("waiting for the approval of the child"),
        }
    }
}

/// The operation a [`LifecycleError`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Approve,
    Deny,
    Revoke,
    Confirm,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Approve => "approve",
            Operation::Deny => "deny",
            Operation::Revoke => "revoke",
            Operation::Confirm => "confirm",
        })
    }
}

/// Why a lifecycle operation was refused; the grant is then left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("member `{member}` is not in the family of grant `{grant}`")]
    NotInFamily { member: MemberId, grant: GrantId },
    #[error("member `{member}` is not the child that grant `{grant}` is about")]
    NotTheChild { member: MemberId, grant: GrantId },
    #[error("child `{0}` has no birth date, so the age rules cannot be applied")]
    MissingBirthDate(MemberId),
    #[error("a guardian cannot {op} a grant about the data of an adult child")]
    GuardianOfAdult { op: Operation },
    #[error("a child cannot {op} a grant about another child's data")]
    OtherChild { op: Operation },
    #[error("a child under the age of digital consent ({age}) cannot {op} a grant")]
    UnderConsentAge { op: Operation, age: u8 },
    #[error("only the adult child can {op} a grant awaiting confirmation")]
    NotTheAdultChild { op: Operation },
    #[error("member `{0}` has already approved this grant")]
    AlreadyApproved(MemberId),
    #[error("cannot {op} grant `{grant}` in state `{}`", state.as_str())]
    WrongState {
        op: Operation,
        grant: GrantId,
        state: GrantState,
    },
    #[error("a grant to a family member is only possible about the data of an adult child")]
    MemberGranteeNeedsAdult,
    #[error("grant `{0}` has expired")]
    Expired(GrantId),
    #[error("only a guardian sets or lifts the family's prohibitions, which cover the children who are minors")]
    ProhibitionNeedsGuardian,
    #[error("only the adult child sets or lifts a prohibition over their own data")]
    ProhibitionNeedsTheAdult,
    #[error("the expiry of grant `{0}` is out of range (duration too long)")]
    ExpiryOutOfRange(GrantId),
}

/// The instant a person born on `birth` reaches `years` years: midnight UTC on that birthday.
/// `None` when it falls outside the calendar that `time` supports.
pub fn birthday_at(birth: Date, years: u8) -> Option<OffsetDateTime> {
    let year = birth.year().checked_add(i32::from(years))?;
    let date = match Date::from_calendar_date(year, birth.month(), birth.day()) {
        Ok(d) => d,
        // Only 29 February can be missing: take 1 March.
        Err(_) => Date::from_calendar_date(year, Month::March, 1).ok()?,
    };
    Some(date.with_time(Time::MIDNIGHT).assume_utc())
}

/// The child's stage at `at`; `None` if the member has no birth date.
pub fn age_stage(child: &Member, rules: AgeRules, at: OffsetDateTime) -> Option<AgeStage> {
    let birth = child.birth_date?;
    // A birthday beyond the supported calendar is never reached.
    let reached = |years| birthday_at(birth, years).is_some_and(|t| at >= t);
    Some(if reached(rules.majority_age) {
        AgeStage::Adult
    } else if reached(rules.digital_consent_age) {
        AgeStage::ConsentAge
    } else {
        AgeStage::UnderConsentAge
    })
}

/// Whether `member` may set or lift a prohibition of `scope` at `now`: a guardian sets and lifts the family's
/// (which cover the minors); an adult child sets and lifts their own, over their own data. Whoever may set one
/// may lift it.
pub fn may_change_prohibition(member: &Member, scope: ForbidScope, rules: AgeRules, now: OffsetDateTime) -> Result<(), LifecycleError> {
    match scope {
        ForbidScope::Minors if member.role == Role::Guardian => Ok(()),
        ForbidScope::Minors => Err(LifecycleError::ProhibitionNeedsGuardian),
        ForbidScope::Adult(child)
            if member.id == child && member.role == Role::Child && age_stage(member, rules, now) == Some(AgeStage::Adult) =>
        {
            Ok(())
        }
        ForbidScope::Adult(_) => Err(LifecycleError::ProhibitionNeedsTheAdult),
    }
}

/// The approvals a grant about `child` needs at `at`.
///
/// A child without a birth date needs a guardian and the child, the most demanding rule;
/// [`approve`] refuses such a child outright.
pub fn required_approvals(child: &Member, rules: AgeRules, at: OffsetDateTime) -> Approvers {
    match age_stage(child, rules, at) {
        Some(AgeStage::UnderConsentAge) => Approvers::Guardian,
        Some(AgeStage::ConsentAge) | None => Approvers::GuardianAndChild,
        Some(AgeStage::Adult) => Approvers::Child,
    }
}

/// Records `by`'s approval; the grant becomes active (expiring `duration_days` after `now`) once
/// the approvals the age rules require at `now` are all in.
pub fn approve(
    grant: &mut Grant,
    by: &Member,
    child: &Member,
    rules: AgeRules,
    now: OffsetDateTime,
) -> Result<ApproveOutcome, LifecycleError> {
    let op = Operation::Approve;
    if grant.state != GrantState::Requested {
        return Err(wrong_state(op, grant));
    }
    let stage = check_actor(grant, by, child, rules, now, op)?;
    if matches!(grant.grantee, Grantee::Member(_)) && stage != AgeStage::Adult {
        return Err(LifecycleError::MemberGranteeNeedsAdult);
    }
    if grant.approvals.iter().any(|a| a.member == by.id) {
        return Err(LifecycleError::AlreadyApproved(by.id));
    }
    // Computed before any change, so that an error leaves the grant as it was.
    let expires_at = expiry(grant, now)?;
    grant.approvals.push(Approval {
        member: by.id,
        role: by.role,
        at: now,
    });
    let missing = missing_approvals(grant, child, rules, now);
    let activated = missing.is_empty();
    if activated {
        grant.state = GrantState::Active;
        grant.expires_at = Some(expires_at);
    }
    Ok(ApproveOutcome { activated, missing })
}

/// The approvals a requested grant still lacks at `now`.
pub fn missing_approvals(grant: &Grant, child: &Member, rules: AgeRules, now: OffsetDateTime) -> Vec<Role> {
    required_approvals(child, rules, now)
        .roles()
        .iter()
        .copied()
        .filter(|role| {
            !grant.approvals.iter().any(|a| match role {
                Role::Guardian => a.role == Role::Guardian,
                Role::Child => a.member == grant.child,
            })
        })
        .collect()
}

/// Refuses a request (or a grant awaiting the adult child's confirmation).
pub fn deny(
    grant: &mut Grant,
    by: &Member,
    child: &Member,
    rules: AgeRules,
    now: OffsetDateTime,
) -> Result<(), LifecycleError> {
    let op = Operation::Deny;
    match grant.state {
        GrantState::Requested => {
            check_actor(grant, by, child, rules, now, op)?;
        }
        GrantState::AwaitingConfirmation => check_adult_child(grant, by, child, rules, now, op)?,
        _ => return Err(wrong_state(op, grant)),
    }
    grant.state = GrantState::Denied;
    Ok(())
}

/// Withdraws a grant in force (or awaiting confirmation); effective for the very next decision
/// once the vault has stored it.
///
/// Whoever could approve now may revoke; a child from the age of digital consent may always
/// withdraw a grant about their own data.
pub fn revoke(
    grant: &mut Grant,
    by: &Member,
    child: &Member,
    rules: AgeRules,
    now: OffsetDateTime,
) -> Result<(), LifecycleError> {
    let op = Operation::Revoke;
    if !matches!(grant.state, GrantState::Active | GrantState::AwaitingConfirmation) {
        return Err(wrong_state(op, grant));
    }
    check_actor(grant, by, child, rules, now, op)?;
    grant.state = GrantState::Revoked;
    Ok(())
}

/// The operator withdraws a grant, or a request still pending, whoever approved it (an operator's revocation, e.g.
/// on a service's misconduct); effective for the very next decision once the vault has stored it.
pub fn revoke_by_operator(grant: &mut Grant) -> Result<(), LifecycleError> {
    if !matches!(grant.state, GrantState::Requested | GrantState::Active | GrantState::AwaitingConfirmation) {
        return Err(wrong_state(Operation::Revoke, grant));
    }
    grant.state = GrantState::Revoked;
    Ok(())
}

/// The adult child confirms a grant put to them at majority; it becomes active again, keeping its
/// expiry (or, if it had never been active, expiring `duration_days` from `now`).
pub fn confirm(
    grant: &mut Grant,
    by: &Member,
    child: &Member,
    rules: AgeRules,
    now: OffsetDateTime,
) -> Result<(), LifecycleError> {
    let op = Operation::Confirm;
    if grant.state != GrantState::AwaitingConfirmation {
        return Err(wrong_state(op, grant));
    }
    check_adult_child(grant, by, child, rules, now, op)?;
    let expires_at = match grant.expires_at {
        Some(at) if now >= at => return Err(LifecycleError::Expired(grant.id)),
        Some(at) => at,
        None => expiry(grant, now)?,
    };
    if !grant.approvals.iter().any(|a| a.member == by.id) {
        grant.approvals.push(Approval {
            member: by.id,
            role: by.role,
            at: now,
        });
    }
    grant.state = GrantState::Active;
    grant.expires_at = Some(expires_at);
    Ok(())
}

/// Marks a grant expired once its time is up; returns whether it changed.
///
/// A grant awaiting confirmation expires too, since it can no longer be confirmed.
pub fn expire_if_due(grant: &mut Grant, now: OffsetDateTime) -> bool {
    let due = matches!(grant.state, GrantState::Active | GrantState::AwaitingConfirmation)
        && grant.expires_at.is_some_and(|at| now >= at);
    if due {
        grant.state = GrantState::Expired;
    }
    due
}

/// At majority, a requested or active grant that a guardian approved without the child is put to the adult
/// child to confirm; returns whether it changed. A request nobody approved yet simply waits for the adult
/// child's own approval.
///
/// The authorizer already stops such a grant at majority; this makes the state say so.
pub fn majority_transition(grant: &mut Grant, child: &Member, rules: AgeRules, now: OffsetDateTime) -> bool {
    let due = child.id == grant.child
        && matches!(grant.state, GrantState::Requested | GrantState::Active)
        && age_stage(child, rules, now) == Some(AgeStage::Adult)
        && grant.approvals.iter().any(|a| a.role == Role::Guardian)
        && !grant.approvals.iter().any(|a| a.member == grant.child);
    if due {
        grant.state = GrantState::AwaitingConfirmation;
    }
    due
}

fn wrong_state(op: Operation, grant: &Grant) -> LifecycleError {
    LifecycleError::WrongState {
        op,
        grant: grant.id,
        state: grant.state,
    }
}

fn expiry(grant: &Grant, now: OffsetDateTime) -> Result<OffsetDateTime, LifecycleError> {
    now.checked_add(Duration::days(i64::from(grant.duration_days)))
        .ok_or(LifecycleError::ExpiryOutOfRange(grant.id))
}

/// Checks that `child` is the grant's child and returns their stage at `now`.
fn child_stage(
    grant: &Grant,
    child: &Member,
    rules: AgeRules,
    now: OffsetDateTime,
) -> Result<AgeStage, LifecycleError> {
    if child.id != grant.child || child.role != Role::Child {
        return Err(LifecycleError::NotTheChild {
            member: child.id,
            grant: grant.id,
        });
    }
    if child.family != grant.family {
        return Err(LifecycleError::NotInFamily {
            member: child.id,
            grant: grant.id,
        });
    }
    age_stage(child, rules, now).ok_or(LifecycleError::MissingBirthDate(child.id))
}

/// Whether `by` may approve, deny or revoke a grant about `child` at `now`.
fn check_actor(
    grant: &Grant,
    by: &Member,
    child: &Member,
    rules: AgeRules,
    now: OffsetDateTime,
    op: Operation,
) -> Result<AgeStage, LifecycleError> {
    if by.family != grant.family {
        return Err(LifecycleError::NotInFamily {
            member: by.id,
            grant: grant.id,
        });
    }
    let stage = child_stage(grant, child, rules, now)?;
    match by.role {
        Role::Guardian if stage == AgeStage::Adult => Err(LifecycleError::GuardianOfAdult { op }),
        Role::Guardian => Ok(stage),
        Role::Child if by.id != grant.child => Err(LifecycleError::OtherChild { op }),
        Role::Child if stage == AgeStage::UnderConsentAge => Err(LifecycleError::UnderConsentAge {
            op,
            age: rules.digital_consent_age,
        }),
        Role::Child => Ok(stage),
    }
}

fn check_adult_child(
    grant: &Grant,
    by: &Member,
    child: &Member,
    rules: AgeRules,
    now: OffsetDateTime,
    op: Operation,
) -> Result<(), LifecycleError> {
    if by.family != grant.family {
        return Err(LifecycleError::NotInFamily {
            member: by.id,
            grant: grant.id,
        });
    }
    let stage = child_stage(grant, child, rules, now)?;
    if by.id != grant.child || stage != AgeStage::Adult {
        return Err(LifecycleError::NotTheAdultChild { op });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;
    use crate::{Action, Doctype, FamilyId, LegalBasis, ServiceId};

    const RULES: AgeRules = AgeRules::FRANCE;
    /// The instant every test decides at.
    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    struct Family {
        id: FamilyId,
        guardian: Member,
        other_guardian: Member,
    }

    fn family() -> Family {
        let id = FamilyId::new();
        let guardian = |()| Member {
            id: MemberId::new(),
            family: id,
            role: Role::Guardian,
            birth_date: None,
        };
        Family {
            id,
            guardian: guardian(()),
            other_guardian: guardian(()),
        }
    }

    fn child(f: &Family, birth: Date) -> Member {
        Member {
            id: MemberId::new(),
            family: f.id,
            role: Role::Child,
            birth_date: Some(birth),
        }
    }

    /// A child who is `years` old at [`NOW`] (birthday on 1 March).
    fn aged(f: &Family, years: i32) -> Member {
        child(f, Date::from_calendar_date(2026 - years, Month::March, 1).unwrap())
    }

    fn request(f: &Family, child: &Member) -> Grant {
        Grant {
            id: GrantId::new(),
            family: f.id,
            grantee: Grantee::Service(ServiceId::new()),
            child: child.id,
            doctypes: vec![Doctype::Grades],
            actions: vec![Action::Read],
            purpose: "school".into(),
            legal_basis: LegalBasis::Consent,
            requested_at: NOW,
            duration_days: 30,
            expires_at: None,
            state: GrantState::Requested,
            approvals: vec![],
        }
    }

    #[test]
    fn guardians_set_the_family_prohibitions_and_adults_their_own() {
        let f = family();
        let (teen, adult, other_adult) = (aged(&f, 16), aged(&f, 19), aged(&f, 20));
        let minors = ForbidScope::Minors;
        let own = ForbidScope::Adult(adult.id);
        assert_eq!(may_change_prohibition(&f.guardian, minors, RULES, NOW), Ok(()));
        assert_eq!(may_change_prohibition(&f.guardian, own, RULES, NOW), Err(LifecycleError::ProhibitionNeedsTheAdult));
        assert_eq!(may_change_prohibition(&teen, minors, RULES, NOW), Err(LifecycleError::ProhibitionNeedsGuardian));
        assert_eq!(
            may_change_prohibition(&teen, ForbidScope::Adult(teen.id), RULES, NOW),
            Err(LifecycleError::ProhibitionNeedsTheAdult)
        );
        assert_eq!(may_change_prohibition(&adult, own, RULES, NOW), Ok(()));
        assert_eq!(may_change_prohibition(&other_adult, own, RULES, NOW), Err(LifecycleError::ProhibitionNeedsTheAdult));
        assert_eq!(may_change_prohibition(&adult, minors, RULES, NOW), Err(LifecycleError::ProhibitionNeedsGuardian));
    }

    #[test]
    fn birthday_boundary_is_midnight_utc() {
        let c = Member {
            id: MemberId::new(),
            family: FamilyId::new(),
            role: Role::Child,
            birth_date: Some(date!(2011 - 03 - 10)),
        };
        assert_eq!(
            age_stage(&c, RULES, datetime!(2026-03-09 23:59:59 UTC)),
            Some(AgeStage::UnderConsentAge)
        );
        assert_eq!(
            age_stage(&c, RULES, datetime!(2026-03-10 00:00 UTC)),
            Some(AgeStage::ConsentAge)
        );
        // Midnight UTC is 01:00 in Paris in winter: the offset does not move the boundary.
        assert_eq!(
            age_stage(&c, RULES, datetime!(2026-03-10 00:30 +01:00)),
            Some(AgeStage::UnderConsentAge)
        );
        assert_eq!(
            age_stage(&c, RULES, datetime!(2029-03-10 00:00 UTC)),
            Some(AgeStage::Adult)
        );
        assert_eq!(
            birthday_at(date!(2008 - 02 - 29), 18),
            Some(datetime!(2026-03-01 00:00 UTC))
        );
        assert_eq!(
            birthday_at(date!(2008 - 02 - 29), 16),
            Some(datetime!(2024-02-29 00:00 UTC))
        );
    }

    #[test]
    fn required_approvals_follow_the_age() {
        let f = family();
        assert_eq!(required_approvals(&aged(&f, 14), RULES, NOW), Approvers::Guardian);
        assert_eq!(
            required_approvals(&aged(&f, 15), RULES, NOW),
            Approvers::GuardianAndChild
        );
        assert_eq!(
            required_approvals(&aged(&f, 17), RULES, NOW),
            Approvers::GuardianAndChild
        );
        assert_eq!(required_approvals(&aged(&f, 18), RULES, NOW), Approvers::Child);
        let undated = Member {
            birth_date: None,
            ..aged(&f, 10)
        };
        assert_eq!(required_approvals(&undated, RULES, NOW), Approvers::GuardianAndChild);
    }

    #[test]
    fn at_14_one_guardian_activates() {
        let f = family();
        let c = aged(&f, 14);
        let mut g = request(&f, &c);
        let out = approve(&mut g, &f.guardian, &c, RULES, NOW).unwrap();
        assert!(out.activated);
        assert_eq!(out.to_string(), "the grant is active");
        assert_eq!(g.state, GrantState::Active);
        assert_eq!(g.expires_at, Some(NOW + Duration::days(30)));
    }

    #[test]
    fn at_14_the_child_cannot_approve() {
        let f = family();
        let c = aged(&f, 14);
        let mut g = request(&f, &c);
        let err = approve(&mut g, &c, &c, RULES, NOW).unwrap_err();
        assert_eq!(
            err,
            LifecycleError::UnderConsentAge {
                op: Operation::Approve,
                age: 15
            }
        );
        assert_eq!(
            err.to_string(),
            "a child under the age of digital consent (15) cannot approve a grant"
        );
        assert!(g.approvals.is_empty());
    }

    #[test]
    fn at_15_and_17_guardian_and_child_are_both_needed() {
        for years in [15, 17] {
            let f = family();
            let c = aged(&f, years);
            let mut g = request(&f, &c);
            let out = approve(&mut g, &f.guardian, &c, RULES, NOW).unwrap();
            assert_eq!(
                out,
                ApproveOutcome {
                    activated: false,
                    missing: vec![Role::Child]
                }
            );
            assert_eq!(out.to_string(), "waiting for the approval of the child");
            assert_eq!(g.state, GrantState::Requested);
            // A second guardian does not replace the child.
            let out = approve(&mut g, &f.other_guardian, &c, RULES, NOW).unwrap();
            assert_eq!(out.missing, vec![Role::Child]);
            let out = approve(&mut g, &c, &c, RULES, NOW).unwrap();
            assert!(out.activated);
            assert_eq!(g.state, GrantState::Active);
        }
    }

    #[test]
    fn at_15_the_child_may_approve_first() {
        let f = family();
        let c = aged(&f, 15);
        let mut g = request(&f, &c);
        let out = approve(&mut g, &c, &c, RULES, NOW).unwrap();
        assert_eq!(out.missing, vec![Role::Guardian]);
        assert_eq!(out.to_string(), "waiting for the approval of a guardian");
        assert!(approve(&mut g, &f.guardian, &c, RULES, NOW).unwrap().activated);
    }

    #[test]
    fn at_18_the_child_alone_decides() {
        let f = family();
        let c = aged(&f, 18);
        let mut g = request(&f, &c);
        assert_eq!(
            approve(&mut g, &f.guardian, &c, RULES, NOW),
            Err(LifecycleError::GuardianOfAdult { op: Operation::Approve })
        );
        assert!(approve(&mut g, &c, &c, RULES, NOW).unwrap().activated);
        // Nor may the guardian revoke what the adult granted.
        assert_eq!(
            revoke(&mut g, &f.guardian, &c, RULES, NOW),
            Err(LifecycleError::GuardianOfAdult { op: Operation::Revoke })
        );
        revoke(&mut g, &c, &c, RULES, NOW).unwrap();
        assert_eq!(g.state, GrantState::Revoked);
    }

    #[test]
    fn approving_twice_is_refused() {
        let f = family();
        let c = aged(&f, 16);
        let mut g = request(&f, &c);
        approve(&mut g, &f.guardian, &c, RULES, NOW).unwrap();
        assert_eq!(
            approve(&mut g, &f.guardian, &c, RULES, NOW),
            Err(LifecycleError::AlreadyApproved(f.guardian.id))
        );
        assert_eq!(g.approvals.len(), 1);
    }

    #[test]
    fn strangers_and_siblings_are_refused() {
        let f = family();
        let c = aged(&f, 16);
        let sibling = aged(&f, 17);
        let mut g = request(&f, &c);
        let stranger = Member {
            family: FamilyId::new(),
            ..f.guardian.clone()
        };
        assert_eq!(
            approve(&mut g, &stranger, &c, RULES, NOW),
            Err(LifecycleError::NotInFamily {
                member: stranger.id,
                grant: g.id
            })
        );
        assert_eq!(
            approve(&mut g, &sibling, &c, RULES, NOW),
            Err(LifecycleError::OtherChild { op: Operation::Approve })
        );
        // The wrong child passed in is caught too.
        assert_eq!(
            approve(&mut g, &f.guardian, &sibling, RULES, NOW),
            Err(LifecycleError::NotTheChild {
                member: sibling.id,
                grant: g.id
            })
        );
        assert!(g.approvals.is_empty());
    }

    #[test]
    fn closed_grants_cannot_be_approved() {
        let f = family();
        let c = aged(&f, 10);
        for state in [
            GrantState::Denied,
            GrantState::Revoked,
            GrantState::Expired,
            GrantState::Active,
        ] {
            let mut g = request(&f, &c);
            g.state = state;
            let err = approve(&mut g, &f.guardian, &c, RULES, NOW).unwrap_err();
            assert_eq!(
                err,
                LifecycleError::WrongState {
                    op: Operation::Approve,
                    grant: g.id,
                    state
                }
            );
            assert!(err.to_string().starts_with("cannot approve grant `"), "{err}");
        }
    }

    #[test]
    fn member_grantee_needs_an_adult_child() {
        let f = family();
        let minor = aged(&f, 16);
        let mut g = request(&f, &minor);
        g.grantee = Grantee::Member(f.guardian.id);
        assert_eq!(
            approve(&mut g, &minor, &minor, RULES, NOW),
            Err(LifecycleError::MemberGranteeNeedsAdult)
        );
        let adult = aged(&f, 19);
        let mut g = request(&f, &adult);
        g.grantee = Grantee::Member(f.guardian.id);
        assert!(approve(&mut g, &adult, &adult, RULES, NOW).unwrap().activated);
    }

    #[test]
    fn a_missing_birth_date_is_refused() {
        let f = family();
        let c = Member {
            birth_date: None,
            ..aged(&f, 10)
        };
        let mut g = request(&f, &c);
        assert_eq!(
            approve(&mut g, &f.guardian, &c, RULES, NOW),
            Err(LifecycleError::MissingBirthDate(c.id))
        );
    }

    #[test]
    fn deny_needs_the_same_rights_as_approve() {
        let f = family();
        let c = aged(&f, 14);
        let mut g = request(&f, &c);
        assert!(deny(&mut g, &c, &c, RULES, NOW).is_err());
        deny(&mut g, &f.guardian, &c, RULES, NOW).unwrap();
        assert_eq!(g.state, GrantState::Denied);
        assert!(matches!(
            deny(&mut g, &f.guardian, &c, RULES, NOW),
            Err(LifecycleError::WrongState { .. })
        ));
    }

    #[test]
    fn a_child_from_15_may_withdraw_consent() {
        let f = family();
        let c = aged(&f, 15);
        let mut g = request(&f, &c);
        approve(&mut g, &f.guardian, &c, RULES, NOW).unwrap();
        approve(&mut g, &c, &c, RULES, NOW).unwrap();
        revoke(&mut g, &c, &c, RULES, NOW).unwrap();
        assert_eq!(g.state, GrantState::Revoked);
        assert!(matches!(
            revoke(&mut g, &c, &c, RULES, NOW),
            Err(LifecycleError::WrongState { .. })
        ));

        let young = aged(&f, 14);
        let mut g = request(&f, &young);
        approve(&mut g, &f.guardian, &young, RULES, NOW).unwrap();
        assert!(revoke(&mut g, &young, &young, RULES, NOW).is_err());
        revoke(&mut g, &f.other_guardian, &young, RULES, NOW).unwrap();
    }

    #[test]
    fn expiry_is_exact() {
        let f = family();
        let c = aged(&f, 10);
        let mut g = request(&f, &c);
        approve(&mut g, &f.guardian, &c, RULES, NOW).unwrap();
        let end = g.expires_at.unwrap();
        assert!(!expire_if_due(&mut g, end - Duration::SECOND));
        assert_eq!(g.state, GrantState::Active);
        assert!(expire_if_due(&mut g, end));
        assert_eq!(g.state, GrantState::Expired);
        assert!(!expire_if_due(&mut g, end));
    }

    #[test]
    fn majority_puts_guardian_only_grants_to_the_adult_child() {
        let f = family();
        let c = child(&f, date!(2008 - 09 - 01)); // 17 at NOW, 18 on 2026-09-01
        let mut alone = request(&f, &c);
        alone.duration_days = 365;
        approve(&mut alone, &f.guardian, &c, RULES, datetime!(2023-01-01 00:00 UTC)).unwrap(); // at 14
        assert_eq!(alone.state, GrantState::Active);
        let mut shared = request(&f, &c);
        approve(&mut shared, &f.guardian, &c, RULES, NOW).unwrap();
        approve(&mut shared, &c, &c, RULES, NOW).unwrap();
        let mut pending = request(&f, &c);
        approve(&mut pending, &f.guardian, &c, RULES, NOW).unwrap();

        let eve = datetime!(2026-08-31 23:59:59 UTC);
        let birthday = datetime!(2026-09-01 00:00 UTC);
        assert!(!majority_transition(&mut pending, &c, RULES, eve));
        assert!(majority_transition(&mut pending, &c, RULES, birthday));
        assert_eq!(pending.state, GrantState::AwaitingConfirmation);
        assert!(
            !majority_transition(&mut shared, &c, RULES, birthday),
            "the child approved it"
        );
        assert_eq!(shared.state, GrantState::Active);
        // The guardian-only grant had expired first (2024): it is not reopened.
        assert!(expire_if_due(&mut alone, birthday));
        assert!(!majority_transition(&mut alone, &c, RULES, birthday));

        // Only the adult child confirms; the pending grant then starts its duration.
        let later = datetime!(2026-09-02 08:00 UTC);
        assert_eq!(
            confirm(&mut pending, &f.guardian, &c, RULES, later),
            Err(LifecycleError::NotTheAdultChild { op: Operation::Confirm })
        );
        confirm(&mut pending, &c, &c, RULES, later).unwrap();
        assert_eq!(pending.state, GrantState::Active);
        assert_eq!(pending.expires_at, Some(later + Duration::days(30)));
        assert!(
            !majority_transition(&mut pending, &c, RULES, later),
            "confirmed by the child"
        );
    }

    #[test]
    fn an_awaiting_grant_keeps_its_expiry_and_may_be_declined() {
        let f = family();
        let c = aged(&f, 18);
        let mut g = request(&f, &c);
        g.state = GrantState::AwaitingConfirmation;
        g.expires_at = Some(NOW + Duration::days(3));
        assert_eq!(
            deny(&mut g.clone(), &f.guardian, &c, RULES, NOW),
            Err(LifecycleError::NotTheAdultChild { op: Operation::Deny })
        );
        let mut declined = g.clone();
        deny(&mut declined, &c, &c, RULES, NOW).unwrap();
        assert_eq!(declined.state, GrantState::Denied);
        assert_eq!(
            confirm(&mut g.clone(), &c, &c, RULES, NOW + Duration::days(3)),
            Err(LifecycleError::Expired(g.id))
        );
        confirm(&mut g, &c, &c, RULES, NOW).unwrap();
        assert_eq!(g.expires_at, Some(NOW + Duration::days(3)));
        assert_eq!(g.approvals.len(), 1);
    }

    #[test]
    fn an_absurd_duration_is_an_error_not_a_panic() {
        let f = family();
        let c = aged(&f, 10);
        let mut g = request(&f, &c);
        g.duration_days = u32::MAX;
        assert_eq!(
            approve(&mut g, &f.guardian, &c, RULES, NOW),
            Err(LifecycleError::ExpiryOutOfRange(g.id))
        );
        assert!(g.approvals.is_empty());
    }
}
