//! The decision table: one line per case, read from `DECISIONS` below.
//!
//! Family `A` (France's age rules, the table's default instant `T0` = 2026-06-01T12:00:00Z):
//! guardians `g1`, `g2`; `kid14` (born 2011-09-01, 15 on 2026-09-01), `kid15` (born 2011-03-10),
//! `kid17` (born 2008-09-01, 18 on 2026-09-01), `kid18` (born 2008-03-10, adult since 2026-03-10);
//! a prohibition on `health.pai`. Family `B`: guardian `gb`, child `kidb`. The grants are listed
//! in `grants()`, each named by the table.

use std::collections::HashMap;

use cartable_consent::{
    AccessRequest, Action, AgeRules, Approval, Authorizer, CompiledFamily, Doctype, DpoId, FamilyId, FamilySnapshot,
    Forbid, ForbidScope, Grant, GrantId, GrantState, Grantee, LegalBasis, Member, MemberId, PolicyError, Principal, RecordId,
    Resource, Role, ServiceId, lifecycle,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::{date, datetime};
use uuid::Uuid;

const T0: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

/// family | principal | action | resource | at | expected | a reason that must be given (`-`: any)
const DECISIONS: &str = r#"
# Guardians act on their minor children's data, whatever the prohibitions.
A  g1               read    record:kid14:edu.grades      T0                    allow  base.guardian-minor
A  g1               write   record:kid14:health.pai      T0                    allow  base.guardian-minor
A  g2               manage  collection:kid15:edu.grades  T0                    allow  base.guardian-minor
A  g1               export  record:kid17:edu.followup    T0                    allow  base.guardian-minor
A  g1               search  collection:kid14:edu.homework T0                   allow  base.guardian-minor
# ... until the child's majority, to the second.
A  g1               read    record:kid17:edu.grades      2026-08-31T23:59:59Z  allow  base.guardian-minor
A  g1               read    record:kid17:edu.grades      2026-09-01T00:00:00Z  deny   default-deny
A  g1               read    record:kid18:edu.grades      2026-03-09T23:59:59Z  allow  base.guardian-minor
A  g2               read    record:kid18:edu.grades      T0                    deny   default-deny
# An adult child's grant to a guardian: only what it says; the family's prohibition (set by a guardian) stops at
# majority, so the adult's own grant of health.pai holds (their own prohibitions: `an_adults_own_prohibition…`).
A  g1               read    record:kid18:edu.grades      T0                    allow  grant.member18
A  g1               list    collection:kid18:edu.grades  T0                    allow  grant.member18
A  g1               write   record:kid18:edu.grades      T0                    deny   default-deny
A  g1               read    record:kid18:edu.homework    T0                    deny   default-deny
A  g2               read    record:kid18:health.pai      T0                    allow  grant.member18health
A  g1               read    record:kid18:edu.grades      2026-12-31T00:00:00Z  deny   default-deny
# The family as a whole and its register.
A  g1               manage  family                       T0                    allow  base.guardian-family
A  g2               export  family                       T0                    allow  base.guardian-family
A  g1               read    register                     T0                    allow  base.guardian-family
# Another family's data, another family's guardian.
A  g1               read    record:kidb:edu.grades       T0                    deny   resource outside the family
A  gb               read    record:kid14:edu.grades      T0                    deny   principal outside the family
B  gb               read    record:kidb:edu.grades       T0                    allow  base.guardian-minor
B  g1               manage  family                       T0                    deny   principal outside the family
# Children see their own data at any age; they manage grants from 15; they own their data at 18.
A  kid14            read    record:kid14:edu.grades      T0                    allow  base.child-own
A  kid14            export  record:kid14:health.pai      T0                    allow  base.child-own
A  kid14            write   record:kid14:edu.grades      T0                    deny   default-deny
A  kid14            manage  collection:kid14:edu.grades  T0                    deny   default-deny
A  kid14            manage  collection:kid14:edu.grades  2026-08-31T23:59:59Z  deny   default-deny
A  kid14            manage  collection:kid14:edu.grades  2026-09-01T00:00:00Z  allow  base.child-manage
A  kid15            manage  collection:kid15:edu.grades  T0                    allow  base.child-manage
A  kid15            manage  collection:kid15:edu.grades  2026-03-09T23:59:59Z  deny   default-deny
A  kid15            manage  collection:kid15:edu.grades  2026-03-10T00:00:00Z  allow  base.child-manage
A  kid15            write   record:kid15:edu.grades      T0                    deny   default-deny
A  kid15            read    record:kid14:edu.grades      T0                    deny   default-deny
A  kid15            read    record:kid18:edu.documents   T0                    allow  grant.sibling18
A  kid15            read    record:kid18:edu.grades      T0                    deny   default-deny
A  kid17            write   record:kid17:edu.homework    T0                    deny   default-deny
A  kid17            write   record:kid17:edu.homework    2026-09-01T00:00:00Z  allow  base.adult-owner
A  kid18            write   record:kid18:edu.homework    T0                    allow  base.adult-owner
A  kid18            manage  collection:kid18:health.pai  T0                    allow  base.adult-owner
A  kid18            read    record:kid17:edu.grades      T0                    deny   default-deny
A  kid18            read    register                     T0                    allow  base.child-register
A  kid15            list    register                     2026-03-10T00:00:00Z  allow  base.child-register
A  kid15            list    register                     2026-03-09T23:59:59Z  deny   default-deny
A  kid14            read    register                     T0                    deny   default-deny
A  kid18            write   register                     T0                    deny   default-deny
A  kid14            manage  family                       T0                    deny   default-deny
# From 15 a child signs in: they read who is in the family and list its collections (the vault narrows them to
# their own), never run it; before 15, nothing of the family.
A  kid15            read    family                       T0                    allow  base.child-family
A  kid17            list    family                       T0                    allow  base.child-family
A  kid18            read    family                       T0                    allow  base.child-family
A  kid14            read    family                       2026-08-31T23:59:59Z  deny   default-deny
A  kid14            read    family                       2026-09-01T00:00:00Z  allow  base.child-family
A  kid14            list    family                       T0                    deny   default-deny
A  kid15            manage  family                       T0                    deny   default-deny
A  kid17            export  family                       T0                    deny   default-deny
A  kid18            manage  family                       T0                    deny   default-deny
A  kid18            write   family                       T0                    deny   default-deny
B  kid15            read    family                       T0                    deny   principal outside the family
# Services: only what an active, unexpired grant says.
A  service:school   read    record:kid14:edu.grades      T0                    allow  grant.school14
A  service:school   list    collection:kid14:edu.homework T0                   allow  grant.school14
A  service:school   write   record:kid14:edu.grades      T0                    deny   default-deny
A  service:school   search  collection:kid14:edu.grades  T0                    deny   default-deny
A  service:school   read    record:kid14:edu.attendance  T0                    deny   default-deny
A  service:school   read    record:kid15:edu.grades      T0                    deny   default-deny
A  service:school   read    record:kid14:edu.grades      2026-06-30T23:59:59Z  allow  grant.school14
A  service:school   read    record:kid14:edu.grades      2026-07-01T00:00:00Z  deny   default-deny
A  service:tutor    read    record:kid15:edu.grades      2026-06-15T09:59:59Z  allow  grant.tutor15
A  service:tutor    search  collection:kid15:edu.grades  2026-06-15T09:59:59.999Z allow grant.tutor15
A  service:tutor    read    record:kid15:edu.grades      2026-06-15T10:00:00Z  deny   default-deny
A  service:tutor    read    record:kid15:edu.grades      2026-06-15T11:59:59+02:00 allow grant.tutor15
A  service:tutor    read    record:kid15:edu.grades      2026-06-15T12:00:00+02:00 deny  default-deny
A  service:tutor    read    record:kid14:edu.grades      T0                    deny   default-deny
A  service:tutor    read    record:kid14:edu.attendance  T0                    deny   default-deny
A  service:tutor    read    record:kid14:edu.timetable   T0                    deny   default-deny
A  service:tutor    read    record:kid14:edu.timetable   2026-04-30T23:59:59Z  allow  grant.tutor14stale
A  service:tutor    read    record:kid15:edu.homework    T0                    deny   default-deny
# A prohibition overrides the grant that names the doctype, and only that doctype.
A  service:health   read    record:kid15:health.pai      T0                    deny   forbid.health.pai
A  service:health   read    collection:kid15:health.pai  T0                    deny   forbid.health.pai
A  service:health   read    record:kid15:edu.grades      T0                    allow  grant.health15
A  service:stranger read    record:kid15:health.pai      T0                    deny   forbid.health.pai
A  service:stranger read    record:kid14:edu.grades      T0                    deny   default-deny
# A guardian's approval alone ends at majority; the child's own approval does not.
A  service:school   read    record:kid17:edu.grades      T0                    allow  grant.school17
A  service:school   read    record:kid17:edu.grades      2026-08-31T23:59:59Z  allow  grant.school17
A  service:school   read    record:kid17:edu.grades      2026-09-01T00:00:00Z  deny   default-deny
A  service:tutor    read    record:kid17:edu.grades      2026-09-02T00:00:00Z  allow  grant.tutor17
A  service:tutor    read    record:kid18:edu.attendance  T0                    deny   default-deny
A  service:tutor    read    record:kid18:edu.attendance  2026-03-09T23:59:59Z  allow  grant.tutor18guard
A  service:school   read    record:kid18:edu.homework    T0                    deny   default-deny
# Services and other families.
A  service:school   read    record:kidb:edu.grades       T0                    deny   resource outside the family
B  service:school   read    record:kidb:edu.grades       T0                    allow  grant.schoolb
B  service:school   read    record:kid14:edu.grades      T0                    deny   resource outside the family
A  service:school   read    record:g1:edu.grades         T0                    deny   resource outside the family
A  service:school   read    register                     T0                    deny   default-deny
A  service:school   manage  family                       T0                    deny   default-deny
# A DPO reads the register of any family, never contents.
A  dpo              read    register                     T0                    allow  base.dpo-register
A  dpo              list    register                     T0                    allow  base.dpo-register
B  dpo              read    register                     T0                    allow  base.dpo-register
A  dpo              read    record:kid14:edu.grades      T0                    deny   default-deny
A  dpo              list    collection:kid14:edu.grades  T0                    deny   default-deny
A  dpo              export  register                     T0                    deny   default-deny
A  dpo              manage  family                       T0                    deny   default-deny
# The operator is decided too, and stays within the family.
A  operator         read    record:kid18:health.pai      T0                    allow  base.operator
A  operator         manage  family                       T0                    allow  base.operator
A  operator         read    record:kidb:edu.grades       T0                    deny   resource outside the family
"#;

struct Fixture {
    authorizer: Authorizer,
    members: HashMap<&'static str, Member>,
    services: HashMap<&'static str, ServiceId>,
    grants: HashMap<&'static str, GrantId>,
    families: HashMap<&'static str, FamilySnapshot>,
    dpo: DpoId,
}

/// Stable ids, so that a failing line names the same uuid on every run.
fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

#[expect(clippy::too_many_arguments, reason = "the fixture writes one grant per line")]
fn grant(
    f: &FamilySnapshot,
    gid: GrantId,
    grantee: Grantee,
    child: &Member,
    doctypes: &[Doctype],
    actions: &[Action],
    state: GrantState,
    expires_at: OffsetDateTime,
    approvers: &[&Member],
) -> Grant {
    Grant {
        id: gid,
        family: f.family,
        grantee,
        child: child.id,
        doctypes: doctypes.to_vec(),
        actions: actions.to_vec(),
        purpose: "schoolwork".into(),
        legal_basis: LegalBasis::Consent,
        requested_at: datetime!(2025-01-01 00:00 UTC),
        duration_days: 365,
        expires_at: Some(expires_at),
        state,
        approvals: approvers
            .iter()
            .map(|m| Approval {
                member: m.id,
                role: m.role,
                at: datetime!(2025-01-02 00:00 UTC),
            })
            .collect(),
    }
}

fn fixture() -> Fixture {
    use Action::*;
    use Doctype::*;
    use GrantState::*;

    let mut n = 0;
    let mut next = || {
        n += 1;
        id(n)
    };
    let (fa, fb) = (FamilyId::from_uuid(next()), FamilyId::from_uuid(next()));
    let mut members = HashMap::new();
    for (name, family, role, birth) in [
        ("g1", fa, Role::Guardian, None),
        ("g2", fa, Role::Guardian, None),
        ("kid14", fa, Role::Child, Some(date!(2011 - 09 - 01))),
        ("kid15", fa, Role::Child, Some(date!(2011 - 03 - 10))),
        ("kid17", fa, Role::Child, Some(date!(2008 - 09 - 01))),
        ("kid18", fa, Role::Child, Some(date!(2008 - 03 - 10))),
        ("gb", fb, Role::Guardian, None),
        ("kidb", fb, Role::Child, Some(date!(2012 - 01 - 01))),
    ] {
        members.insert(
            name,
            Member {
                id: MemberId::from_uuid(next()),
                family,
                role,
                birth_date: birth,
            },
        );
    }
    let services: HashMap<_, _> = ["school", "tutor", "health", "stranger"]
        .into_iter()
        .map(|s| (s, ServiceId::from_uuid(next())))
        .collect();
    let snapshot = |family, names: &[&str]| FamilySnapshot {
        family,
        members: names.iter().map(|n| members[n].clone()).collect(),
        grants: vec![],
        forbids: vec![],
    };
    let mut a = snapshot(fa, &["g1", "g2", "kid14", "kid15", "kid17", "kid18"]);
    let mut b = snapshot(fb, &["gb", "kidb"]);
    a.forbids.push(Forbid {
        family: fa,
        doctype: HealthPai,
        scope: ForbidScope::Minors,
    });

    let m = |name: &str| &members[name];
    let s = |name: &str| Grantee::Service(services[name]);
    let mut grants = HashMap::new();
    let mut gid = |name: &'static str| *grants.entry(name).or_insert_with(|| GrantId::from_uuid(next()));
    let y2027 = datetime!(2027-06-01 00:00 UTC);
    a.grants = vec![
        grant(
            &a,
            gid("school14"),
            s("school"),
            m("kid14"),
            &[Grades, Homework],
            &[Read, List],
            Active,
            datetime!(2026-07-01 00:00 UTC),
            &[m("g1")],
        ),
        grant(
            &a,
            gid("tutor14revoked"),
            s("tutor"),
            m("kid14"),
            &[Grades],
            &[Read],
            Revoked,
            y2027,
            &[m("g1")],
        ),
        grant(
            &a,
            gid("tutor14expired"),
            s("tutor"),
            m("kid14"),
            &[Attendance],
            &[Read],
            Expired,
            datetime!(2026-05-01 00:00 UTC),
            &[m("g1")],
        ),
        // Past its expiry but not yet swept by the vault: the policy's own expiry stops it.
        grant(
            &a,
            gid("tutor14stale"),
            s("tutor"),
            m("kid14"),
            &[Timetable],
            &[Read],
            Active,
            datetime!(2026-05-01 00:00 UTC),
            &[m("g1")],
        ),
        grant(
            &a,
            gid("health15"),
            s("health"),
            m("kid15"),
            &[HealthPai, Grades],
            &[Read],
            Active,
            y2027,
            &[m("g1"), m("kid15")],
        ),
        grant(
            &a,
            gid("tutor15"),
            s("tutor"),
            m("kid15"),
            &[Grades],
            &[Read, Search],
            Active,
            datetime!(2026-06-15 10:00 UTC),
            &[m("g2"), m("kid15")],
        ),
        grant(
            &a,
            gid("tutor15req"),
            s("tutor"),
            m("kid15"),
            &[Homework],
            &[Read],
            Requested,
            y2027,
            &[m("g2")],
        ),
        grant(
            &a,
            gid("school17"),
            s("school"),
            m("kid17"),
            &[Grades],
            &[Read],
            Active,
            y2027,
            &[m("g1")],
        ),
        grant(
            &a,
            gid("tutor17"),
            s("tutor"),
            m("kid17"),
            &[Grades],
            &[Read],
            Active,
            y2027,
            &[m("g1"), m("kid17")],
        ),
        grant(
            &a,
            gid("member18"),
            Grantee::Member(m("g1").id),
            m("kid18"),
            &[Grades],
            &[Read, List],
            Active,
            datetime!(2026-12-31 00:00 UTC),
            &[m("kid18")],
        ),
        grant(
            &a,
            gid("member18health"),
            Grantee::Member(m("g2").id),
            m("kid18"),
            &[HealthPai],
            &[Read],
            Active,
            y2027,
            &[m("kid18")],
        ),
        grant(
            &a,
            gid("sibling18"),
            Grantee::Member(m("kid15").id),
            m("kid18"),
            &[Documents],
            &[Read],
            Active,
            y2027,
            &[m("kid18")],
        ),
        grant(
            &a,
            gid("tutor18guard"),
            s("tutor"),
            m("kid18"),
            &[Attendance],
            &[Read],
            Active,
            y2027,
            &[m("g1")],
        ),
        grant(
            &a,
            gid("school18await"),
            s("school"),
            m("kid18"),
            &[Homework],
            &[Read],
            AwaitingConfirmation,
            y2027,
            &[m("g1")],
        ),
    ];
    b.grants = vec![grant(
        &b,
        gid("schoolb"),
        s("school"),
        m("kidb"),
        &[Grades],
        &[Read],
        Active,
        y2027,
        &[m("gb")],
    )];

    Fixture {
        authorizer: Authorizer::new(AgeRules::FRANCE),
        members,
        services,
        grants,
        families: HashMap::from([("A", a), ("B", b)]),
        dpo: DpoId::from_uuid(next()),
    }
}

impl Fixture {
    fn principal(&self, s: &str) -> Principal {
        match s.split_once(':') {
            Some(("service", name)) => Principal::Service(self.services[name]),
            None if s == "dpo" => Principal::Dpo(self.dpo),
            None if s == "operator" => Principal::Operator,
            None => Principal::Member(self.members[s].id),
            _ => panic!("unknown principal `{s}`"),
        }
    }

    fn resource(&self, s: &str) -> Resource {
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["register"] => Resource::Register,
            ["family"] => Resource::Family,
            [kind, child, doctype] => {
                let child = self.members[child].id;
                let doctype: Doctype = doctype.parse().unwrap();
                match *kind {
                    "record" => Resource::Record {
                        id: RecordId::from_uuid(id(9999)),
                        child,
                        doctype,
                    },
                    "collection" => Resource::Collection { child, doctype },
                    _ => panic!("unknown resource `{s}`"),
                }
            }
            _ => panic!("unknown resource `{s}`"),
        }
    }

    /// `grant.<name>` in the table stands for `grant.<uuid>`.
    fn reason(&self, s: &str) -> String {
        match s.strip_prefix("grant.") {
            Some(name) => format!("grant.{}", self.grants[name]),
            None => s.to_owned(),
        }
    }
}

#[test]
fn decision_table() {
    let fx = fixture();
    let compiled: HashMap<&str, CompiledFamily> = fx
        .families
        .iter()
        .map(|(k, f)| (*k, fx.authorizer.compile(f).unwrap()))
        .collect();
    let mut cases = 0;
    let mut failures = Vec::new();
    for (number, line) in DECISIONS.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [family, principal, action, resource, at, expected, reason @ ..] = cols.as_slice() else {
            panic!("line {}: malformed `{line}`", number + 1)
        };
        let reason = reason.join(" ");
        let now = if *at == "T0" {
            T0
        } else {
            OffsetDateTime::parse(at, &Rfc3339).unwrap()
        };
        let request = AccessRequest {
            principal: fx.principal(principal),
            action: action.parse().unwrap(),
            resource: fx.resource(resource),
            now,
        };
        let family = &compiled[family];
        let decision = fx.authorizer.authorize(family, &request);
        let allowed = match *expected {
            "allow" => true,
            "deny" => false,
            other => panic!("line {}: expected `allow` or `deny`, not `{other}`", number + 1),
        };
        let reason_ok = reason == "-" || decision.reasons().iter().any(|r| *r == fx.reason(&reason));
        if decision.is_allowed() != allowed || !reason_ok {
            failures.push(format!(
                "line {}: `{line}` → allowed={} reasons={:?}",
                number + 1,
                decision.is_allowed(),
                decision.reasons()
            ));
        }
        assert_eq!(decision.family(), family.family());
        assert_eq!(decision.request(), &request);
        assert_eq!(decision.request().now, now);
        cases += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases >= 60, "only {cases} cases");
}

#[test]
fn an_adults_own_prohibition_overrides_their_grants_and_nobody_elses_data() {
    let fx = fixture();
    let mut snapshot = fx.families["A"].clone();
    let kid18 = fx.members["kid18"].id;
    snapshot.forbids.push(Forbid { family: snapshot.family, doctype: Doctype::HealthPai, scope: ForbidScope::Adult(kid18) });
    let family = fx.authorizer.compile(&snapshot).unwrap();
    let decide = |principal: &str, action: Action, resource: &str| {
        fx.authorizer.authorize(&family, &AccessRequest { principal: fx.principal(principal), action, resource: fx.resource(resource), now: T0 })
    };
    // The adult's own grant to a guardian is overridden by the adult's own prohibition.
    let refused = decide("g2", Action::Read, "record:kid18:health.pai");
    assert!(!refused.is_allowed());
    assert_eq!(refused.reasons(), [format!("forbid.{kid18}.health.pai")]);
    // The adult still reads their own data, and the prohibition says nothing about the minors' data.
    assert!(decide("kid18", Action::Read, "record:kid18:health.pai").is_allowed());
    assert!(decide("g1", Action::Read, "record:kid14:edu.grades").is_allowed());
    assert_eq!(decide("service:health", Action::Read, "record:kid15:health.pai").reasons(), ["forbid.health.pai"]);
}

#[test]
fn a_denied_decision_explains_itself() {
    let fx = fixture();
    let family = fx.authorizer.compile(&fx.families["A"]).unwrap();
    let request = AccessRequest {
        principal: fx.principal("service:health"),
        action: Action::Read,
        resource: fx.resource("record:kid15:health.pai"),
        now: T0,
    };
    let denied = fx.authorizer.authorize(&family, &request).denied().unwrap();
    assert_eq!(denied.reasons(), ["forbid.health.pai"]);
    assert_eq!(denied.to_string(), "access denied (forbid.health.pai)");
}

#[test]
fn revocation_holds_for_the_very_next_decision() {
    let fx = fixture();
    let mut snapshot = fx.families["A"].clone();
    let request = AccessRequest {
        principal: fx.principal("service:school"),
        action: Action::Read,
        resource: fx.resource("record:kid14:edu.grades"),
        now: T0,
    };
    let before = fx.authorizer.compile(&snapshot).unwrap();
    assert!(fx.authorizer.authorize(&before, &request).is_allowed());

    let kid14 = fx.members["kid14"].clone();
    let grant = snapshot
        .grants
        .iter_mut()
        .find(|g| g.id == fx.grants["school14"])
        .unwrap();
    lifecycle::revoke(grant, &fx.members["g2"], &kid14, AgeRules::FRANCE, T0).unwrap();
    let after = fx.authorizer.compile(&snapshot).unwrap();
    let decision = fx.authorizer.authorize(&after, &request);
    assert!(!decision.is_allowed());
    assert_eq!(decision.reasons(), ["default-deny"]);
}

#[test]
fn policy_text_shows_what_is_in_force() {
    let fx = fixture();
    let text = fx.authorizer.compile(&fx.families["A"]).unwrap().policy_text();
    for id in [
        "base.guardian-minor",
        "base.dpo-register",
        "base.operator",
        "forbid.health.pai",
    ] {
        assert!(text.contains(&format!("@id(\"{id}\")")), "`{id}` missing from:\n{text}");
    }
    for (name, in_force) in [
        ("school14", true),
        ("member18", true),
        ("tutor14revoked", false),
        ("tutor15req", false),
    ] {
        let id = format!("@id(\"grant.{}\")", fx.grants[name]);
        assert_eq!(text.contains(&id), in_force, "{name} in:\n{text}");
    }
    // The text parses back as Cedar: what an operator reads is what is enforced.
    let reparsed: cedar_policy::PolicySet = text.parse().unwrap();
    assert_eq!(reparsed.policies().count(), 9 + 1 + 10);
}

#[test]
fn inconsistent_snapshots_are_refused() {
    let fx = fixture();
    let authorizer = &fx.authorizer;
    let a = &fx.families["A"];
    let b = &fx.families["B"];

    let mut foreign = a.clone();
    foreign.grants.push(b.grants[0].clone());
    assert!(matches!(
        authorizer.compile(&foreign),
        Err(PolicyError::ForeignGrant { .. })
    ));

    let mut foreign = a.clone();
    foreign.members.push(fx.members["kidb"].clone());
    let err = authorizer.compile(&foreign).unwrap_err();
    assert!(matches!(err, PolicyError::ForeignMember { .. }));
    assert!(err.to_string().starts_with("member `"), "{err}");

    let mut undated = a.clone();
    undated
        .members
        .iter_mut()
        .find(|m| m.role == Role::Child)
        .unwrap()
        .birth_date = None;
    assert!(matches!(
        authorizer.compile(&undated),
        Err(PolicyError::MissingBirthDate(_))
    ));

    let mut twice = a.clone();
    twice.grants.push(twice.grants[0].clone());
    assert!(matches!(
        authorizer.compile(&twice),
        Err(PolicyError::DuplicateGrant(_))
    ));
}

#[test]
fn a_grant_about_a_stranger_permits_nothing() {
    let fx = fixture();
    let mut a = fx.families["A"].clone();
    // A grant in family A naming family B's child, or a departed member as grantee.
    let mut g = a.grants[0].clone();
    g.id = GrantId::new();
    g.child = fx.members["kidb"].id;
    a.grants.push(g);
    let mut g = a.grants[0].clone();
    g.id = GrantId::new();
    g.grantee = Grantee::Member(MemberId::new());
    a.grants.push(g);
    let compiled = fx.authorizer.compile(&a).unwrap();
    let request = AccessRequest {
        principal: fx.principal("service:school"),
        action: Action::Read,
        resource: fx.resource("record:kidb:edu.grades"),
        now: T0,
    };
    let decision = fx.authorizer.authorize(&compiled, &request);
    assert_eq!(decision.reasons(), ["resource outside the family"]);
}

#[test]
fn a_family_compiled_under_other_rules_is_not_used() {
    let fx = fixture();
    let other = Authorizer::new(AgeRules {
        digital_consent_age: 13,
        majority_age: 18,
    });
    let compiled = other.compile(&fx.families["A"]).unwrap();
    let request = AccessRequest {
        principal: Principal::Operator,
        action: Action::Read,
        resource: Resource::Register,
        now: T0,
    };
    assert!(!fx.authorizer.authorize(&compiled, &request).is_allowed());
    assert!(other.authorize(&compiled, &request).is_allowed());
}

#[test]
fn an_unrepresentable_instant_is_denied_not_a_panic() {
    let fx = fixture();
    let compiled = fx.authorizer.compile(&fx.families["A"]).unwrap();
    let request = AccessRequest {
        principal: Principal::Operator,
        action: Action::Read,
        resource: Resource::Register,
        now: datetime!(-0001-01-01 00:00 UTC),
    };
    let decision = fx.authorizer.authorize(&compiled, &request);
    assert!(!decision.is_allowed());
    assert_eq!(decision.reasons().len(), 1);
}
