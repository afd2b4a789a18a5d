//! `authorize` against bare Cedar over one policy set holding every grant on the server.
//!
//! 1,000 families, 10,000 active grants. Each call is timed on its own with `Instant`; the
//! baseline runs the same kinds of requests with `cedar_policy::Authorizer::is_authorized` over
//! one `PolicySet` of all the grant policies (plus the base policies), with the request and
//! entities built before the clock starts, so the ratio is if anything unfair to `authorize`.
//!
//! A second baseline is regorus (OPA's Rego language in Rust), the peer named in `DEPENDENCIES.md`. Every family's
//! members, grants and prohibitions are loaded once, before the clock starts, as one data document keyed by family
//! id; each decision sets the input (family, principal, child, doctype, action, `now` in milliseconds, all built
//! beforehand) and evaluates `data.cartable.allow`. The Rego policy says what the Cedar policies say for the
//! requests this bench makes (records of a family's children, asked by services and by the family's members): an
//! active grant to that grantee, for that child, naming the doctype and the action, with `now < expires_at` and,
//! when only a guardian approved it, `now` before the child's majority; the base rules for guardians and children;
//! and the family's prohibitions (`Forbid`, both scopes), which override. A record is decided as its collection, as
//! `authorize` does. DPO, operator, register and family requests are not encoded: the bench makes none. Every
//! regorus decision is checked against `authorize`, and the bench panics on any disagreement. Both rates are
//! counts over wall-clock time: `authorize`'s from its timed loop above (per-call timing included), regorus's from
//! one loop.
//!
//! Run: `cargo bench -p cartable-consent --bench authorize`

use std::collections::HashSet;
use std::hint::black_box;
use std::time::{Duration as StdDuration, Instant};

use cartable_consent::lifecycle::birthday_at;
use cartable_consent::{
    AccessRequest, Action, AgeRules, Approval, Authorizer, CompiledFamily, Doctype, FamilyId, FamilySnapshot, Forbid,
    ForbidScope, Grant, GrantId, GrantState, Grantee, LegalBasis, Member, MemberId, Principal, RecordId, Resource,
    Role, ServiceId,
};
use cedar_policy::{Context, Entities, EntityUid, PolicyId, PolicySet, Request, RestrictedExpression};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const FAMILIES: usize = 1_000;
const GRANTS_PER_FAMILY: usize = 10;
const SERVICES: usize = 300;
const REQUESTS: usize = 20_000;
const BARE_REQUESTS: usize = 200;
const REGO_REQUESTS: usize = 5_000;
const REGO_WARMUP: usize = 200;
const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

struct Family {
    snapshot: FamilySnapshot,
    compiled: CompiledFamily,
}

fn main() {
    let rules = AgeRules::FRANCE;
    let authorizer = Authorizer::new(rules);
    let mut rng = StdRng::seed_from_u64(0x00ca_7ab1e);
    let services: Vec<ServiceId> = (0..SERVICES).map(|_| ServiceId::new()).collect();

    let started = Instant::now();
    let families: Vec<Family> = (0..FAMILIES)
        .map(|_| {
            let snapshot = family(&mut rng, &services);
            let compiled = authorizer.compile(&snapshot).expect("a generated family compiles");
            Family { snapshot, compiled }
        })
        .collect();
    let compile_time = started.elapsed();
    let grants: usize = families.iter().map(|f| f.snapshot.grants.len()).sum();
    println!(
        "{FAMILIES} families, {grants} active grants; compile {:.1} µs per family",
        micros(compile_time) / FAMILIES as f64
    );

    // A live server's clock: 20,000 decisions a second, in time order.
    let mut requests: Vec<(usize, AccessRequest)> = (0..REQUESTS).map(|_| request(&mut rng, &families)).collect();
    for (i, (_, r)) in requests.iter_mut().enumerate() {
        r.now = NOW + Duration::microseconds(50 * i as i64);
    }
    let (p50, p99, allowed, authorize_elapsed) = measure(&authorizer, &families, &requests);
    // The same requests, each at its own millisecond, so that no request context is reused.
    let spread: Vec<(usize, AccessRequest)> = requests
        .iter()
        .enumerate()
        .map(|(i, (f, r))| {
            (
                *f,
                AccessRequest {
                    now: NOW + Duration::milliseconds(i as i64),
                    ..*r
                },
            )
        })
        .collect();
    let (cold_p50, cold_p99, _, _) = measure(&authorizer, &families, &spread);

    // Bare Cedar: one set of every grant policy, read back from what each family has in force.
    let mut all = PolicySet::new();
    for (i, f) in families.iter().enumerate() {
        let text: PolicySet = f.compiled.policy_text().parse().expect("policy text parses");
        for p in text.policies() {
            let id = p.annotation("id").expect("every policy has an @id");
            // The base policies once; every family's prohibitions and grants.
            if id.starts_with("grant.") || id.starts_with("forbid.") || (i == 0 && id.starts_with("base.")) {
                let id = if id.starts_with("forbid.") {
                    format!("{id}.{}", f.snapshot.family)
                } else {
                    id.to_owned()
                };
                all.add(p.new_id(PolicyId::new(id))).expect("policy ids are unique");
            }
        }
    }
    let bare: Vec<(Request, Entities, bool)> = requests
        .iter()
        .take(BARE_REQUESTS)
        .map(|(f, r)| {
            let (request, entities) = bare_request(&families[*f].snapshot, r, rules);
            (
                request,
                entities,
                authorizer.authorize(&families[*f].compiled, r).is_allowed(),
            )
        })
        .collect();
    let cedar = cedar_policy::Authorizer::new();
    for (request, entities, _) in bare.iter().take(20) {
        black_box(cedar.is_authorized(request, &all, entities));
    }
    let mut bare_times = Vec::with_capacity(BARE_REQUESTS);
    let mut agree = 0;
    for (request, entities, expected) in &bare {
        let start = Instant::now();
        let response = cedar.is_authorized(request, &all, entities);
        bare_times.push(start.elapsed());
        agree += usize::from((black_box(response).decision() == cedar_policy::Decision::Allow) == *expected);
    }
    let (bare_p50, bare_p99) = percentiles(&mut bare_times);

    println!(
        "authorize p50={:.2}µs p99={:.2}µs over {REQUESTS} requests ({allowed} allowed); \
         bare cedar (one set of {} policies) p50={:.1}µs p99={:.1}µs over {BARE_REQUESTS}; ratio={:.0}x",
        micros(p50),
        micros(p99),
        all.num_of_policies(),
        micros(bare_p50),
        micros(bare_p99),
        micros(bare_p50) / micros(p50),
    );
    println!(
        "authorize with every request at its own millisecond (no context reuse) p50={:.2}µs p99={:.2}µs; ratio={:.0}x",
        micros(cold_p50),
        micros(cold_p99),
        micros(bare_p50) / micros(cold_p50),
    );
    println!(
        "bare cedar agrees with authorize on {agree}/{BARE_REQUESTS} decisions; it spends {:.2}µs per policy in the set here",
        micros(bare_p50) / all.num_of_policies() as f64
    );
    let ok = micros(p50) < 10.0 && micros(bare_p50) / micros(p50) >= 50.0;
    println!(
        "target (p50 < 10µs, ratio >= 50x): {}",
        if ok { "met" } else { "NOT met" }
    );

    // regorus: the data once, then one input and one rule evaluation per decision.
    let started = Instant::now();
    let mut engine = regorus::Engine::new();
    engine
        .add_policy("cartable.rego".to_owned(), REGO_POLICY.to_owned())
        .expect("the Rego policy parses");
    let data = serde_json::to_string(&rego_data(&families, rules)).expect("the data document serializes");
    engine
        .add_data(regorus::Value::from_json_str(&data).expect("the data document parses"))
        .expect("the data document loads");
    let load_time = started.elapsed();
    let rego: Vec<(regorus::Value, bool)> = requests
        .iter()
        .take(REGO_REQUESTS)
        .map(|(f, r)| {
            let input = serde_json::to_string(&rego_input(&families[*f].snapshot, r)).expect("an input serializes");
            (
                regorus::Value::from_json_str(&input).expect("an input parses"),
                authorizer.authorize(&families[*f].compiled, r).is_allowed(),
            )
        })
        .collect();
    for (input, _) in rego.iter().take(REGO_WARMUP) {
        engine.set_input(input.clone());
        black_box(engine.eval_rule(REGO_RULE.to_owned()).expect("the rule evaluates"));
    }
    let mut rego_decisions = Vec::with_capacity(rego.len());
    let start = Instant::now();
    for (input, _) in &rego {
        engine.set_input(input.clone());
        rego_decisions.push(black_box(engine.eval_rule(REGO_RULE.to_owned())));
    }
    let rego_elapsed = start.elapsed();
    let rego_allowed: Vec<bool> = rego_decisions
        .into_iter()
        .map(|v| *v.expect("the rule evaluates").as_bool().expect("`allow` is a boolean"))
        .collect();
    let rego_agree = rego
        .iter()
        .zip(&rego_allowed)
        .filter(|((_, expected), got)| expected == *got)
        .count();
    let expected_allowed = rego.iter().filter(|(_, expected)| *expected).count();
    assert!(
        expected_allowed > 0 && expected_allowed < rego.len(),
        "the regorus requests must hold both allowed and refused decisions"
    );
    let rego_rate = rego.len() as f64 / rego_elapsed.as_secs_f64();
    let authorize_rate = REQUESTS as f64 / authorize_elapsed.as_secs_f64();
    println!(
        "regorus 0.14.1 (Rego, data loaded once): {rego_rate:.0} decisions/s; authorize: {authorize_rate:.0} decisions/s; \
         ratio={:.1}x",
        authorize_rate / rego_rate
    );
    println!(
        "regorus agrees with authorize on {rego_agree}/{} decisions ({expected_allowed} allowed; every request of the \
         bench: services, guardians and children; data for {FAMILIES} families loaded in {:.0} ms)",
        rego.len(),
        micros(load_time) / 1e3
    );
    assert_eq!(rego_agree, rego.len(), "regorus and authorize disagree");
}

/// The rule each regorus decision evaluates.
const REGO_RULE: &str = "data.cartable.allow";

/// What the Cedar policies decide for this bench's requests, in Rego: a grant in force, or a base rule for a
/// guardian or a child, and no prohibition. Times are milliseconds since the epoch, rounded down as in Cedar.
const REGO_POLICY: &str = r#"
package cartable

default allow := false

family := data.families[input.family]

# The record's child, who must be a child of the family.
child := c if {
	c := family.members[input.child]
	c.role == "child"
}

role := "service" if input.principal.kind == "service"

role := family.members[input.principal.id].role if input.principal.kind == "member"

allow if {
	child
	permit
	not forbid
}

# A grant's policy: an active grant to this principal, for this child, naming the doctype and the action.
permit if {
	some g in family.grants
	g.state == "active"
	g.grantee == input.principal
	g.child == input.child
	input.doctype in g.doctypes
	input.action in g.actions
	input.now < g.expires_at
	approved_for_now(g)
}

# A guardian's approval alone holds only while the child is a minor.
approved_for_now(g) if g.child in g.approved_by

approved_for_now(g) if input.now < child.majority_at

# base.guardian-minor
permit if {
	role == "guardian"
	input.now < child.majority_at
}

# base.child-own
permit if {
	role == "child"
	input.principal.id == input.child
	input.action in {"read", "list", "search", "export"}
}

# base.child-manage
permit if {
	role == "child"
	input.principal.id == input.child
	input.action == "manage"
	input.now >= child.consent_age_at
}

# base.adult-owner
permit if {
	role == "child"
	input.principal.id == input.child
	input.now >= child.majority_at
}

# A guardian's prohibition: services and other children, while the child is a minor.
forbid if {
	some f in family.forbids
	f.scope == "minors"
	f.doctype == input.doctype
	input.now < child.majority_at
	concerned_by_minors
}

# An adult child's own: services, guardians and other children.
forbid if {
	some f in family.forbids
	f.scope == "adult"
	f.doctype == input.doctype
	f.child == input.child
	concerned_by_adult
}

other_child if {
	role == "child"
	input.principal.id != input.child
}

concerned_by_minors if role == "service"

concerned_by_minors if other_child

concerned_by_adult if role in {"service", "guardian"}

concerned_by_adult if other_child
"#;

/// Every family's members, grants and prohibitions, keyed by family id, for regorus.
fn rego_data(families: &[Family], rules: AgeRules) -> serde_json::Value {
    let grantee = |g: Grantee| match g {
        Grantee::Service(id) => serde_json::json!({ "kind": "service", "id": id.to_string() }),
        Grantee::Member(id) => serde_json::json!({ "kind": "member", "id": id.to_string() }),
    };
    let by_family: serde_json::Map<String, serde_json::Value> = families
        .iter()
        .map(|f| {
            let s = &f.snapshot;
            let members: serde_json::Map<String, serde_json::Value> = s
                .members
                .iter()
                .map(|m| {
                    let member = match (m.role, m.birth_date) {
                        (Role::Child, Some(birth)) => {
                            let at = |years| unix_ms(birthday_at(birth, years).expect("in range"));
                            serde_json::json!({
                                "role": "child",
                                "consent_age_at": at(rules.digital_consent_age),
                                "majority_at": at(rules.majority_age),
                            })
                        }
                        (Role::Child, None) => unreachable!("bench children have a birth date"),
                        (Role::Guardian, _) => serde_json::json!({ "role": "guardian" }),
                    };
                    (m.id.to_string(), member)
                })
                .collect();
            let grants: Vec<serde_json::Value> = s
                .grants
                .iter()
                .map(|g| {
                    let mut grant = serde_json::json!({
                        "grantee": grantee(g.grantee),
                        "child": g.child.to_string(),
                        "doctypes": g.doctypes.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
                        "actions": g.actions.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                        "state": g.state,
                        "approved_by": g.approvals.iter().map(|a| a.member.to_string()).collect::<Vec<_>>(),
                    });
                    if let Some(at) = g.expires_at {
                        grant["expires_at"] = unix_ms(at).into();
                    }
                    grant
                })
                .collect();
            let forbids: Vec<serde_json::Value> = s
                .forbids
                .iter()
                .map(|f| match f.scope {
                    ForbidScope::Minors => serde_json::json!({ "scope": "minors", "doctype": f.doctype.as_str() }),
                    ForbidScope::Adult(child) => serde_json::json!({
                        "scope": "adult",
                        "doctype": f.doctype.as_str(),
                        "child": child.to_string(),
                    }),
                })
                .collect();
            (
                s.family.to_string(),
                serde_json::json!({ "members": members, "grants": grants, "forbids": forbids }),
            )
        })
        .collect();
    serde_json::json!({ "families": by_family })
}

/// One request as the Rego policy reads it.
fn rego_input(s: &FamilySnapshot, r: &AccessRequest) -> serde_json::Value {
    let Resource::Record { child, doctype, .. } = r.resource else {
        unreachable!("bench requests are records")
    };
    let principal = match r.principal {
        Principal::Service(id) => serde_json::json!({ "kind": "service", "id": id.to_string() }),
        Principal::Member(id) => serde_json::json!({ "kind": "member", "id": id.to_string() }),
        _ => unreachable!("bench principals are services and members"),
    };
    serde_json::json!({
        "family": s.family.to_string(),
        "principal": principal,
        "child": child.to_string(),
        "doctype": doctype.as_str(),
        "action": r.action.as_str(),
        "now": unix_ms(r.now),
    })
}

/// Milliseconds since the epoch, rounded down, as Cedar's datetimes hold them.
fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).expect("in range")
}

/// Two guardians, two children (5 to 19 years old), ten active grants, a prohibition in one family in five.
fn family(rng: &mut StdRng, services: &[ServiceId]) -> FamilySnapshot {
    let family = FamilyId::new();
    let guardian = || Member {
        id: MemberId::new(),
        family,
        role: Role::Guardian,
        birth_date: None,
    };
    let mut child = || Member {
        id: MemberId::new(),
        family,
        role: Role::Child,
        birth_date: Some((NOW - Duration::days(rng.gen_range(5 * 365..19 * 365))).date()),
    };
    let members = vec![guardian(), guardian(), child(), child()];
    let mut family_services: Vec<ServiceId> = services.choose_multiple(rng, 4).copied().collect();
    family_services.shuffle(rng);
    let grants = (0..GRANTS_PER_FAMILY)
        .map(|_| {
            let child = &members[rng.gen_range(2..4)];
            let (doctype_count, action_count) = (rng.gen_range(1..=3), rng.gen_range(1..=3));
            let mut doctypes: Vec<Doctype> = Doctype::ALL.choose_multiple(rng, doctype_count).copied().collect();
            doctypes.sort();
            let actions: Vec<Action> = [Action::Read, Action::List, Action::Search, Action::Export]
                .choose_multiple(rng, action_count)
                .copied()
                .collect();
            Grant {
                id: GrantId::new(),
                family,
                grantee: Grantee::Service(*family_services.choose(rng).expect("four services")),
                child: child.id,
                doctypes,
                actions,
                purpose: "bench".into(),
                legal_basis: LegalBasis::Consent,
                requested_at: NOW - Duration::days(10),
                duration_days: 365,
                expires_at: Some(NOW + Duration::days(rng.gen_range(1..365))),
                state: GrantState::Active,
                approvals: vec![
                    Approval {
                        member: members[0].id,
                        role: Role::Guardian,
                        at: NOW - Duration::days(9),
                    },
                    Approval {
                        member: child.id,
                        role: Role::Child,
                        at: NOW - Duration::days(9),
                    },
                ],
            }
        })
        .collect();
    let forbids = if rng.gen_bool(0.2) {
        vec![Forbid {
            family,
            doctype: Doctype::HealthPai,
            scope: ForbidScope::Minors,
        }]
    } else {
        vec![]
    };
    FamilySnapshot {
        family,
        members,
        grants,
        forbids,
    }
}

/// Mostly services asking within or next to their grants; some guardians and children.
fn request(rng: &mut StdRng, families: &[Family]) -> (usize, AccessRequest) {
    let f = rng.gen_range(0..families.len());
    let s = &families[f].snapshot;
    let grant = s.grants.choose(rng).expect("every family has grants");
    let roll = rng.gen_range(0..100);
    let (principal, child, doctype, action) = if roll < 60 {
        // Within a grant (allowed unless prohibited).
        let Grantee::Service(service) = grant.grantee else {
            unreachable!("bench grants go to services")
        };
        (
            Principal::Service(service),
            grant.child,
            *grant.doctypes.choose(rng).expect("doctypes"),
            *grant.actions.choose(rng).expect("actions"),
        )
    } else if roll < 85 {
        // A service with a grant here, asking for anything.
        let Grantee::Service(service) = grant.grantee else {
            unreachable!("bench grants go to services")
        };
        let child = s.members[rng.gen_range(2..4)].id;
        (
            Principal::Service(service),
            child,
            *Doctype::ALL.choose(rng).expect("doctypes"),
            *Action::ALL.choose(rng).expect("actions"),
        )
    } else {
        let member = s.members.choose(rng).expect("members").id;
        let child = s.members[rng.gen_range(2..4)].id;
        (
            Principal::Member(member),
            child,
            *Doctype::ALL.choose(rng).expect("doctypes"),
            *Action::ALL.choose(rng).expect("actions"),
        )
    };
    let resource = Resource::Record {
        id: RecordId::new(),
        child,
        doctype,
    };
    (
        f,
        AccessRequest {
            principal,
            action,
            resource,
            now: NOW,
        },
    )
}

/// The same request as Cedar sees it, with its entities, for the baseline.
fn bare_request(s: &FamilySnapshot, r: &AccessRequest, rules: AgeRules) -> (Request, Entities) {
    let Resource::Record { id, child, doctype } = r.resource else {
        unreachable!("bench requests are records")
    };
    let family = format!("{}", s.family);
    let collection = format!("{child}/{doctype}");
    let datetime = |t: OffsetDateTime| {
        let t = t.to_offset(time::UtcOffset::UTC);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    };
    let mut entities = Vec::new();
    let mut seen = HashSet::new();
    for m in &s.members {
        if m.id != child && r.principal != Principal::Member(m.id) || !seen.insert(m.id) {
            continue;
        }
        let ty = if m.role == Role::Child { "Child" } else { "Guardian" };
        let mut attrs = serde_json::json!({ "family": { "__entity": { "type": "Family", "id": family } } });
        if let Some(birth) = m.birth_date {
            let at = |years| datetime(birthday_at(birth, years).expect("in range"));
            attrs["consent_age_at"] =
                serde_json::json!({ "__extn": { "fn": "datetime", "arg": at(rules.digital_consent_age) } });
            attrs["majority_at"] = serde_json::json!({ "__extn": { "fn": "datetime", "arg": at(rules.majority_age) } });
        }
        entities.push(serde_json::json!({
            "uid": { "type": ty, "id": m.id.to_string() },
            "attrs": attrs,
            "parents": [{ "type": "Family", "id": family }],
        }));
    }
    let data_attrs = serde_json::json!({
        "family": { "__entity": { "type": "Family", "id": family } },
        "child": { "__entity": { "type": "Child", "id": child.to_string() } },
        "doctype": doctype.as_str(),
    });
    entities.push(serde_json::json!({
        "uid": { "type": "Collection", "id": collection },
        "attrs": data_attrs,
        "parents": [{ "type": "Child", "id": child.to_string() }, { "type": "Family", "id": family }],
    }));
    entities.push(serde_json::json!({
        "uid": { "type": "Record", "id": id.to_string() },
        "attrs": data_attrs,
        "parents": [{ "type": "Collection", "id": collection }],
    }));
    let entities = Entities::from_json_value(serde_json::Value::Array(entities), None).expect("bench entities");
    let principal: EntityUid = match r.principal {
        Principal::Service(id) => format!("Service::\"{id}\""),
        Principal::Member(id) => {
            let role = s.members.iter().find(|m| m.id == id).expect("a member").role;
            format!("{}::\"{id}\"", if role == Role::Child { "Child" } else { "Guardian" })
        }
        _ => unreachable!("bench principals are services and members"),
    }
    .parse()
    .expect("a uid");
    let action: EntityUid = format!("Action::\"{}\"", r.action).parse().expect("a uid");
    let resource: EntityUid = format!("Record::\"{id}\"").parse().expect("a uid");
    let context = Context::from_pairs([("now".to_owned(), RestrictedExpression::new_datetime(datetime(r.now)))])
        .expect("a context");
    (
        Request::new(principal, action, resource, context, None).expect("a request"),
        entities,
    )
}

/// Times each call on its own, after a warm-up; returns p50, p99, the number allowed and the whole loop's time.
fn measure(
    authorizer: &Authorizer,
    families: &[Family],
    requests: &[(usize, AccessRequest)],
) -> (StdDuration, StdDuration, usize, StdDuration) {
    for (f, r) in requests.iter().take(2_000) {
        black_box(authorizer.authorize(&families[*f].compiled, r));
    }
    let mut times = Vec::with_capacity(requests.len());
    let mut allowed = 0;
    let started = Instant::now();
    for (f, r) in requests {
        let start = Instant::now();
        let decision = authorizer.authorize(&families[*f].compiled, r);
        times.push(start.elapsed());
        allowed += usize::from(black_box(decision).is_allowed());
    }
    let elapsed = started.elapsed();
    let (p50, p99) = percentiles(&mut times);
    (p50, p99, allowed, elapsed)
}

fn percentiles(times: &mut [StdDuration]) -> (StdDuration, StdDuration) {
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    (at(0.50), at(0.99))
}

fn micros(d: StdDuration) -> f64 {
    d.as_secs_f64() * 1e6
}
