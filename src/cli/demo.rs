//! `cartable demo`: a family to look at, in French, made once, then the server.
//!
//! The Martin family: two guardians who can sign in, children aged 10, 15 and 17 (birth dates computed from
//! today, so the ages stay true), a term of grades, attendance with a few absences, homework and follow-up notebook
//! entries; a tutoring service holding an active grant on the youngest's grades that has read some of them, and a
//! learning platform whose request about the 15-year-old awaits a guardian's and her own approval. Every write and
//! read goes through the same decisions as anyone's, so the history is real.

use anyhow::Context as _;
use cartable_consent::{Action, Doctype, FamilyId, LegalBasis, MemberId, Principal, Resource, Role, TokenScope};
use cartable_vault::{GrantDecision, NewRecord, NewRequest, Vault};
use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime};

use super::console::Console;

/// The demo's password for every sign-in it creates (the demo is for a machine of one's own).
const PASSWORD: &str = "cartable-demo";
const GUARDIANS: [(&str, &str); 2] = [("claire", "Claire Martin"), ("karim", "Karim Martin")];
/// The 15-year-old's own sign-in.
const ZOE: (&str, &str) = ("zoe", "Zoé");

/// Creates the demo family unless it exists, prints how to sign in, and serves.
pub(super) async fn run(console: &Console, listen: Option<String>) -> anyhow::Result<()> {
    let config = console.config(listen)?;
    let vault = Vault::open(config.vault.clone()).await?;
    match vault.member_by_login(GUARDIANS[0].0).await? {
        Some(_) => println!("the demo family exists already: nothing created"),
        None => {
            create(&vault).await.context("cannot create the demo family")?;
            println!("demo family created");
        }
    }
    drop(vault);
    println!("open {} and sign in:", config.public_url);
    for (login, name) in GUARDIANS {
        println!("  {login} / {PASSWORD}   ({name}, guardian)");
    }
    println!("  {} / {PASSWORD}   ({}, 15, co-approves the requests about her)", ZOE.0, ZOE.1);
    crate::server::serve(config).await
}

/// A birth date `years` years and a few months ago.
fn born(today: Date, years: i32, months_more: i64) -> Date {
    let date = today - Duration::days(months_more * 30);
    date.replace_year(date.year() - years).unwrap_or(date)
}

/// A small deterministic sequence, so that every demo has the same grades.
struct Dice(u64);

impl Dice {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const SUBJECTS: [&str; 6] = ["Mathématiques", "Français", "Histoire-géographie", "Anglais", "Sciences de la vie et de la Terre", "Physique-chimie"];
const TESTS: [&str; 4] = ["Contrôle", "Interrogation écrite", "Devoir maison", "Exposé"];

fn grades(today: Date, dice: &mut Dice, level: u64) -> Vec<Value> {
    let mut out = Vec::new();
    for (s, subject) in SUBJECTS.iter().enumerate() {
        for n in 0..3i64 {
            let date = today - Duration::days(80 - n * 25 - s as i64 * 3);
            // Halves, around the child's level.
            let grade = ((8 + level + dice.next(9)) as f64 + if dice.next(2) == 0 { 0.5 } else { 0.0 }).min(20.0);
            let test = TESTS[dice.next(TESTS.len() as u64) as usize];
            out.push(json!({"subject": subject, "title": format!("{test} n° {}", n + 1), "grade": grade, "out_of": 20, "coefficient": 1 + dice.next(2), "date": date.to_string()}));
        }
    }
    out
}

fn attendance(today: Date) -> Vec<Value> {
    vec![
        json!({"date": (today - Duration::days(61)).to_string(), "kind": "absence", "half_days": 2, "justified": true, "reason": "Malade"}),
        json!({"date": (today - Duration::days(33)).to_string(), "kind": "retard", "minutes": 10, "justified": false}),
        json!({"date": (today - Duration::days(12)).to_string(), "kind": "absence", "half_days": 1, "justified": true, "reason": "Rendez-vous médical"}),
    ]
}

fn homework(today: Date) -> Vec<Value> {
    vec![
        json!({"subject": "Mathématiques", "due": (today + Duration::days(2)).to_string(), "description": "Exercices 4 à 7 page 52", "done": false}),
        json!({"subject": "Français", "due": (today + Duration::days(5)).to_string(), "description": "Lire les chapitres 3 et 4 du roman", "done": false}),
        json!({"subject": "Anglais", "due": (today - Duration::days(1)).to_string(), "description": "Apprendre le vocabulaire de l'unité 2", "done": true}),
    ]
}

fn followup(today: Date) -> Vec<Value> {
    vec![
        json!({"date": (today - Duration::days(40)).to_string(), "author": "Mme Lefèvre, professeure principale", "text": "Bon début d'année. Zoé participe davantage à l'oral."}),
        json!({"date": (today - Duration::days(20)).to_string(), "author": "Claire Martin", "text": "Zoé a besoin de plus de temps pour les contrôles de mathématiques, comme l'an dernier."}),
        json!({"date": (today - Duration::days(6)).to_string(), "author": "M. Benali, infirmier scolaire", "text": "Rendez-vous fait avec la famille ; tiers temps accordé pour les évaluations."}),
    ]
}

/// Writes records into a child's collection under the operator's permit (decided and logged like any write).
async fn put(vault: &Vault, family: FamilyId, child: MemberId, doctype: Doctype, bodies: Vec<Value>) -> anyhow::Result<Vec<cartable_consent::RecordId>> {
    let permit = vault.as_operator(family, Action::Write, Resource::Collection { child, doctype }).await?;
    let records = bodies.into_iter().map(|body| NewRecord { child, doctype, source: "operator".to_owned(), body }).collect();
    Ok(vault.put_records(&permit, records).await?)
}

async fn create(vault: &Vault) -> anyhow::Result<()> {
    let today = OffsetDateTime::now_utc().date();
    let family = vault.create_family("Famille Martin").await?;
    let manage = vault.as_operator(family, Action::Manage, Resource::Family).await?;
    let password = crate::auth::hash_password(PASSWORD)?;
    let mut guardians = Vec::new();
    for (login, name) in GUARDIANS {
        let id = vault.add_member(&manage, Role::Guardian, name, None).await?;
        vault.set_password_hash(&manage, id, &password).await?;
        vault.set_login(&manage, id, login).await?;
        guardians.push(id);
    }
    let leo = vault.add_member(&manage, Role::Child, "Léo", Some(born(today, 10, 4))).await?;
    let zoe = vault.add_member(&manage, Role::Child, "Zoé", Some(born(today, 15, 2))).await?;
    // Zoé (15) signs in herself: she co-approves the requests about her.
    vault.set_password_hash(&manage, zoe, &password).await?;
    vault.set_login(&manage, zoe, ZOE.0).await?;
    let ines = vault.add_member(&manage, Role::Child, "Inès", Some(born(today, 17, 6))).await?;
    let mut dice = Dice(2026);
    let mut leo_grades = Vec::new();
    for (child, level) in [(leo, 4), (zoe, 2), (ines, 3)] {
        let ids = put(vault, family, child, Doctype::Grades, grades(today, &mut dice, level)).await?;
        if child == leo {
            leo_grades = ids;
        }
        put(vault, family, child, Doctype::Attendance, attendance(today)).await?;
        put(vault, family, child, Doctype::Homework, homework(today)).await?;
    }
    put(vault, family, zoe, Doctype::Followup, followup(today)).await?;

    // A tutoring service with an active grant on Léo's grades, approved by Claire, which has read some of them.
    let tutoring = vault.register_service("Tutorat Plus", &crate::auth::hash_token(&crate::auth::new_secret()), true).await?;
    let doctypes = vec![Doctype::Grades, Doctype::Homework];
    let actions = vec![Action::Read, Action::List];
    let request = NewRequest {
        service: tutoring,
        family,
        child: leo,
        doctypes: doctypes.clone(),
        actions: actions.clone(),
        purpose: "Adapter les séances de soutien scolaire de Léo".to_owned(),
        legal_basis: LegalBasis::Consent,
        duration_days: 90,
    };
    let grant = vault.create_request(request).await?;
    let claire = Principal::Member(guardians[0]);
    let permit = vault.authorize(family, claire, Action::Manage, Resource::Collection { child: leo, doctype: Doctype::Grades }).await?.into_permit()?;
    vault.approve(&permit, grant, None).await?;
    let scope = TokenScope { grant, child: leo, doctypes, actions };
    for id in leo_grades.iter().take(4) {
        let resource = Resource::Record { id: *id, child: leo, doctype: Doctype::Grades };
        if let GrantDecision::Allowed(permit) = vault.api().authorize_under_grant(family, tutoring, &scope, Action::Read, resource).await? {
            vault.get_record(&permit).await?;
        }
    }

    // A learning platform asks about Zoé (15): a guardian and Zoé herself must approve.
    let platform = vault.register_service("Lycée en ligne", &crate::auth::hash_token(&crate::auth::new_secret()), true).await?;
    vault
        .create_request(NewRequest {
            service: platform,
            family,
            child: zoe,
            doctypes: vec![Doctype::Grades, Doctype::Homework],
            actions: vec![Action::Read, Action::List],
            purpose: "Proposer des exercices adaptés à son niveau".to_owned(),
            legal_basis: LegalBasis::Consent,
            duration_days: 180,
        })
        .await?;
    Ok(())
}
