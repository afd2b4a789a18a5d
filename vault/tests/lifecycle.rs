//! Grants over time, through the vault: expiry and the majority transition each leave their entry in the
//! ledger, and decisions follow at once.

use cartable_consent::ledger::EventType;
use cartable_consent::{Action, AgeRules, Doctype, GrantState, LegalBasis, Principal, Resource, Role};
use cartable_vault::{LedgerFilter, NewRecord, NewRequest, Vault, VaultConfig};
use time::{Duration, OffsetDateTime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_expire_and_come_to_the_adult_child_for_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    // Ages that make a majority transition reachable within a grant's life.
    let mut config = VaultConfig::embedded(dir.path().join("data"));
    config.age_rules = AgeRules { digital_consent_age: 15, majority_age: 16 };
    let vault = Vault::open(config).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let family = vault.create_family("Durée").await.unwrap();
    let guardian = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Guardian, "Parent", None).await.unwrap();
    // 14 years and a half: a guardian approves alone; in 18 months the child is 16, an adult under these rules.
    let birth = (now - Duration::days(14 * 365 + 180)).date();
    let child = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, "Enfant", Some(birth)).await.unwrap();
    let service = vault.register_service("Plateforme", None, "hash", true).await.unwrap();
    let write = vault
        .authorize(family, Principal::Operator, Action::Write, Resource::Collection { child, doctype: Doctype::Grades })
        .await
        .unwrap()
        .into_permit()
        .unwrap();
    let record = vault.put_record(&write, NewRecord { child, doctype: Doctype::Grades, source: "operator".into(), body: serde_json::json!({"g": 1}) }).await.unwrap();
    let resource = vault.record_resource(family, record).await.unwrap();
    let request = |days| NewRequest {
        service,
        family,
        child,
        doctypes: vec![Doctype::Grades],
        actions: vec![Action::Read],
        purpose: "suivi".into(),
        legal_basis: LegalBasis::Consent,
        duration_days: days,
    };
    let short = vault.create_request(request(30)).await.unwrap();
    let long = vault.create_request(request(900)).await.unwrap();
    let as_guardian = || async {
        vault.authorize(family, Principal::Member(guardian), Action::Manage, Resource::Collection { child, doctype: Doctype::Grades }).await.unwrap().into_permit().unwrap()
    };
    assert_eq!(vault.approve(&as_guardian().await, short, None).await.unwrap().state, GrantState::Active);
    assert_eq!(vault.approve(&as_guardian().await, long, None).await.unwrap().state, GrantState::Active);
    // Decisions at other instants are explanations (never permits): nothing logged is dated out of its time.
    let vault_ref = &vault;
    let read = |at| async move {
        vault_ref.explain(family, &cartable_consent::AccessRequest { principal: Principal::Service(service), action: Action::Read, resource, now: at }).await
    };
    assert!(read(now).await.unwrap().is_allowed());

    // 31 days on: the short grant expired (the long one still allows the read).
    let later = now + Duration::days(31);
    assert_eq!(vault.sweep(family, later).await.unwrap(), 1);
    assert_eq!(vault.grant_outline(family, short).await.unwrap().state, GrantState::Expired);
    assert!(read(later).await.unwrap().is_allowed());

    // Past the child's majority: the policy stops the guardian-approved grant at once, even before a sweep...
    let adult = now + Duration::days(600);
    let decision = read(adult).await.unwrap();
    assert!(!decision.is_allowed(), "a grant a guardian approved alone ends at majority: {:?}", decision.reasons());
    // ...and the sweep puts it to the adult child, who confirms it.
    assert_eq!(vault.sweep(family, adult).await.unwrap(), 1);
    assert_eq!(vault.grant_outline(family, long).await.unwrap().state, GrantState::AwaitingConfirmation);
    assert!(vault.approve(&as_guardian().await, long, None).await.is_err(), "the guardian no longer decides");

    let events: Vec<EventType> = vault.ledger_entries(&vault.as_operator(family, cartable_consent::Action::List, cartable_consent::Resource::Register).await.unwrap(), &LedgerFilter::default()).await.unwrap().iter().map(|e| e.receipt.event).collect();
    assert!(events.contains(&EventType::Expire) && events.contains(&EventType::MajorityTransition), "{events:?}");
    let report = vault.verify_ledger(family).await.unwrap();
    assert_eq!(report.grants_checked, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_listing_the_family_does_not_see_an_adult_childs_data() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(VaultConfig::embedded(dir.path().join("data"))).await.unwrap();
    let family = vault.create_family("Grands").await.unwrap();
    let guardian = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Guardian, "Parent", None).await.unwrap();
    let minor = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, "Petit", Some(time::macros::date!(2016 - 01 - 01))).await.unwrap();
    let adult = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, "Grand", Some(time::macros::date!(2004 - 01 - 01))).await.unwrap();
    for child in [minor, adult] {
        let write = vault
            .authorize(family, Principal::Operator, Action::Write, Resource::Collection { child, doctype: Doctype::Grades })
            .await
            .unwrap()
            .into_permit()
            .unwrap();
        vault.put_record(&write, NewRecord { child, doctype: Doctype::Grades, source: "operator".into(), body: serde_json::json!({"g": 1}) }).await.unwrap();
    }
    let list = |principal| vault.authorize(family, principal, Action::List, Resource::Family);
    let as_guardian = list(Principal::Member(guardian)).await.unwrap().into_permit().unwrap();
    let seen = vault.list_records(&as_guardian, &Default::default()).await.unwrap();
    assert_eq!(seen.iter().map(|r| r.child).collect::<Vec<_>>(), vec![minor]);
    let as_operator = list(Principal::Operator).await.unwrap().into_permit().unwrap();
    assert_eq!(vault.list_records(&as_operator, &Default::default()).await.unwrap().len(), 2);
    let as_adult = list(Principal::Member(adult)).await.unwrap();
    if let Ok(permit) = as_adult.into_permit() {
        let own = vault.list_records(&permit, &Default::default()).await.unwrap();
        assert!(own.iter().all(|r| r.child == adult));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_does_not_see_the_grants_of_an_adult_child() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(VaultConfig::embedded(dir.path().join("data"))).await.unwrap();
    let family = vault.create_family("Grants").await.unwrap();
    let guardian = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Guardian, "Parent", None).await.unwrap();
    let minor = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, "Petit", Some(time::macros::date!(2016 - 01 - 01))).await.unwrap();
    let adult = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, "Grand", Some(time::macros::date!(2004 - 01 - 01))).await.unwrap();
    let service = vault.register_service("Plateforme", None, "hash", true).await.unwrap();
    for child in [minor, adult] {
        let request = NewRequest {
            service,
            family,
            child,
            doctypes: vec![Doctype::Grades],
            actions: vec![Action::Read],
            purpose: "suivi".into(),
            legal_basis: LegalBasis::Consent,
            duration_days: 30,
        };
        vault.create_request(request).await.unwrap();
    }
    let register = |principal| vault.authorize(family, principal, Action::List, Resource::Register);
    let as_guardian = register(Principal::Member(guardian)).await.unwrap().into_permit().unwrap();
    let seen = vault.list_grants(&as_guardian).await.unwrap();
    assert_eq!(seen.iter().map(|g| g.child).collect::<Vec<_>>(), vec![minor]);
    let as_operator = register(Principal::Operator).await.unwrap().into_permit().unwrap();
    assert_eq!(vault.list_grants(&as_operator).await.unwrap().len(), 2);
}
