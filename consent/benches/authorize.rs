//! `authorize` against bare Cedar over one policy set holding every grant on the server.
//!
//! 1,000 families, 10,000 active grants. Each call is timed on its own with `Instant`; the
//! baseline runs the same kinds of requests with `cedar_policy::Authorizer::is_authorized` over
//! one `PolicySet` of all the grant policies (plus the base policies), with the request and
//! entities built before the clock starts, so the ratio is if anything unfair to `authorize`.
//!
//! Run: `cargo bench -p cartable-consent --bench authorize`

use std::collections::HashSet;
use std::hint::black_box;
use std::time::{Duration as StdDuration, Instant};

use cartable_consent::lifecycle::birthday_at;
use cartable_consent::{
    AccessRequest, Action, AgeRules, Approval, Authorizer, CompiledFamily, Doctype, FamilyId, FamilySnapshot, Forbid,
    Grant, GrantId, GrantState, Grantee, LegalBasis, Member, MemberId, Principal, RecordId, Resource, Role, ServiceId,
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
    let (p50, p99, allowed) = measure(&authorizer, &families, &requests);
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
    let (cold_p50, cold_p99, _) = measure(&authorizer, &families, &spread);

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
            scope: cartable_consent::ForbidScope::Minors,
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

/// Times each call on its own, after a warm-up; returns p50, p99 and the number allowed.
fn measure(
    authorizer: &Authorizer,
    families: &[Family],
    requests: &[(usize, AccessRequest)],
) -> (StdDuration, StdDuration, usize) {
    for (f, r) in requests.iter().take(2_000) {
        black_box(authorizer.authorize(&families[*f].compiled, r));
    }
    let mut times = Vec::with_capacity(requests.len());
    let mut allowed = 0;
    for (f, r) in requests {
        let start = Instant::now();
        let decision = authorizer.authorize(&families[*f].compiled, r);
        times.push(start.elapsed());
        allowed += usize::from(black_box(decision).is_allowed());
    }
    let (p50, p99) = percentiles(&mut times);
    (p50, p99, allowed)
}

fn percentiles(times: &mut [StdDuration]) -> (StdDuration, StdDuration) {
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    (at(0.50), at(0.99))
}

fn micros(d: StdDuration) -> f64 {
    d.as_secs_f64() * 1e6
}
