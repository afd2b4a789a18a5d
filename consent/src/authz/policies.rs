//! Generated policies, built as Cedar's JSON policy format (EST) from typed values.
//!
//! INVARIANT: no Cedar text is ever assembled here. Every value placed in a policy is a UUID, a
//! doctype or action name from a closed enum, or a datetime we formatted; it travels as a JSON
//! string, so even a hostile value could not change the policy's structure.

use serde_json::{Value, json};

use super::names::{ACTION, CHILD, COLLECTION, FAMILY, GUARDIAN, RECORD, SERVICE, collection_id};
use crate::{Action, Doctype, FamilyId, ForbidScope, MemberId};

/// The Cedar entity a grant's principal is.
pub(crate) enum GranteeEntity {
    Service(String),
    Guardian(MemberId),
    Child(MemberId),
}

/// What a grant policy needs; everything is already checked against the snapshot.
pub(crate) struct GrantPolicy<'a> {
    pub grantee: GranteeEntity,
    pub child: MemberId,
    pub doctypes: &'a [Doctype],
    pub actions: &'a [Action],
    /// The grant's expiry, formatted for Cedar.
    pub expires_at: String,
    /// The child's majority, when a guardian alone approved the grant.
    pub until_majority: Option<String>,
}

pub(crate) fn grant_id(grant: crate::GrantId) -> String {
    format!("grant.{grant}")
}

/// `forbid.<doctype>` for a guardian's prohibition, `forbid.<child>.<doctype>` for an adult child's own.
pub(crate) fn forbid_id(doctype: Doctype, scope: ForbidScope) -> String {
    match scope {
        ForbidScope::Minors => format!("forbid.{doctype}"),
        ForbidScope::Adult(child) => format!("forbid.{child}.{doctype}"),
    }
}

/// `permit (principal == <grantee>, action in [<actions>], resource)
///  when { resource in [<collections>] && context.now < datetime(<expiry>) [&& context.now < datetime(<majority>)] };`
pub(crate) fn grant(id: &str, g: &GrantPolicy<'_>) -> Value {
    let principal = match &g.grantee {
        GranteeEntity::Service(id) => entity_ref(SERVICE, id),
        GranteeEntity::Guardian(m) => entity_ref(GUARDIAN, &m.to_string()),
        GranteeEntity::Child(m) => entity_ref(CHILD, &m.to_string()),
    };
    let actions: Vec<Value> = g.actions.iter().map(|a| entity_ref(ACTION, a.as_str())).collect();
    let collections: Vec<Value> = g
        .doctypes
        .iter()
        .map(|d| entity_value(COLLECTION, &collection_id(g.child, *d)))
        .collect();
    let mut body = and(
        binary("in", var("resource"), json!({ "Set": collections })),
        binary("<", now(), datetime(&g.expires_at)),
    );
    if let Some(majority) = &g.until_majority {
        body = and(body, binary("<", now(), datetime(majority)));
    }
    json!({
        "effect": "permit",
        "principal": { "op": "==", "entity": principal },
        "action": { "op": "in", "entities": actions },
        "resource": { "op": "All" },
        "conditions": [{ "kind": "when", "body": body }],
        "annotations": { "id": id },
    })
}

/// A guardian's prohibition (`ForbidScope::Minors`):
/// `forbid (principal, action, resource) when {
///   (resource is Record || resource is Collection) &&
///   resource.family == Family::"<family>" && resource.doctype == "<doctype>" &&
///   context.now < resource.child.majority_at &&
///   (principal is Service || (principal is Child && !(resource in principal))) };`
///
/// An adult child's own (`ForbidScope::Adult`):
/// `forbid (principal, action, resource) when {
///   (resource is Record || resource is Collection) &&
///   resource.family == Family::"<family>" && resource.doctype == "<doctype>" &&
///   resource in Child::"<child>" &&
///   (principal is Service || principal is Guardian || (principal is Child && !(resource in principal))) };`
///
/// Guardians of a minor, the child themself, DPOs and the operator are not concerned. A guardian's prohibition
/// stops at the child's majority: the adult sets their own. The family is named so that the policy means the
/// same outside its family's slice.
pub(crate) fn forbid(id: &str, family: FamilyId, doctype: Doctype, scope: ForbidScope) -> Value {
    let resource = var("resource");
    let principal = var("principal");
    let data = or(is(resource.clone(), RECORD), is(resource.clone(), COLLECTION));
    let of_family = binary(
        "==",
        attr(resource.clone(), "family"),
        entity_value(FAMILY, &family.to_string()),
    );
    let of_doctype = binary(
        "==",
        attr(resource.clone(), "doctype"),
        json!({ "Value": doctype.as_str() }),
    );
    let other_child = and(
        is(principal.clone(), CHILD),
        json!({ "!": { "arg": binary("in", resource.clone(), principal.clone()) } }),
    );
    let (whose, grantee) = match scope {
        ForbidScope::Minors => (
            binary("<", now(), attr(attr(resource.clone(), "child"), "majority_at")),
            or(is(principal.clone(), SERVICE), other_child),
        ),
        ForbidScope::Adult(child) => (
            binary("in", resource.clone(), entity_value(CHILD, &child.to_string())),
            or(or(is(principal.clone(), SERVICE), is(principal.clone(), GUARDIAN)), other_child),
        ),
    };
    json!({
        "effect": "forbid",
        "principal": { "op": "All" },
        "action": { "op": "All" },
        "resource": { "op": "All" },
        "conditions": [{ "kind": "when", "body": and(and(and(and(data, of_family), of_doctype), whose), grantee) }],
        "annotations": { "id": id },
    })
}

fn entity_ref(ty: &str, id: &str) -> Value {
    json!({ "type": ty, "id": id })
}

fn entity_value(ty: &str, id: &str) -> Value {
    json!({ "Value": { "__entity": entity_ref(ty, id) } })
}

fn var(name: &str) -> Value {
    json!({ "Var": name })
}

fn now() -> Value {
    attr(var("context"), "now")
}

fn datetime(s: &str) -> Value {
    json!({ "datetime": [{ "Value": s }] })
}

fn attr(of: Value, name: &str) -> Value {
    json!({ ".": { "left": of, "attr": name } })
}

fn is(of: Value, ty: &str) -> Value {
    json!({ "is": { "left": of, "entity_type": ty } })
}

fn binary(op: &str, left: Value, right: Value) -> Value {
    let mut node = serde_json::Map::new();
    node.insert(op.to_owned(), json!({ "left": left, "right": right }));
    Value::Object(node)
}

fn and(left: Value, right: Value) -> Value {
    binary("&&", left, right)
}

fn or(left: Value, right: Value) -> Value {
    binary("||", left, right)
}

/// Keeps the helpers honest against the real format.
#[cfg(test)]
mod tests {
    use cedar_policy::{Policy, PolicyId};

    use super::*;

    #[test]
    fn generated_json_round_trips_to_the_expected_cedar() {
        let child = MemberId::new();
        let p = GrantPolicy {
            grantee: GranteeEntity::Service("svc".into()),
            child,
            doctypes: &[Doctype::Grades],
            actions: &[Action::Read, Action::List],
            expires_at: "2026-07-01T00:00:00.000Z".into(),
            until_majority: Some("2027-01-01T00:00:00.000Z".into()),
        };
        let policy = Policy::from_json(Some(PolicyId::new("grant.x")), grant("grant.x", &p)).unwrap();
        let text = policy.to_cedar().unwrap();
        assert!(text.contains(r#"@id("grant.x")"#), "{text}");
        assert!(text.contains(r#"principal == Service::"svc""#), "{text}");
        assert!(text.contains(&format!(r#"Collection::"{child}/edu.grades""#)), "{text}");
        assert!(text.contains(r#"datetime("2027-01-01T00:00:00.000Z")"#), "{text}");

        let f = Policy::from_json(
            Some(PolicyId::new("forbid.health.pai")),
            forbid("forbid.health.pai", FamilyId::new(), Doctype::HealthPai, ForbidScope::Minors),
        )
        .unwrap();
        let text = f.to_cedar().unwrap();
        assert!(text.starts_with(r#"@id("forbid.health.pai")"#), "{text}");
        assert!(text.contains(r#""health.pai""#), "{text}");
    }

    #[test]
    fn a_hostile_id_stays_a_string() {
        let evil = r#"x" || true || principal == Service::"y"#;
        let p = GrantPolicy {
            grantee: GranteeEntity::Service(evil.into()),
            child: MemberId::new(),
            doctypes: &[Doctype::Grades],
            actions: &[Action::Read],
            expires_at: "2026-07-01T00:00:00.000Z".into(),
            until_majority: None,
        };
        let policy = Policy::from_json(Some(PolicyId::new("g")), grant("g", &p)).unwrap();
        let cedar_policy::PrincipalConstraint::Eq(uid) = policy.principal_constraint() else {
            panic!("principal is not pinned")
        };
        assert_eq!(uid.id().unescaped(), evil);
    }
}
