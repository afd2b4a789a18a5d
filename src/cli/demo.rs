//! `cartable demo`: a family to look at, in French, made once, then the server.
//!
//! The Martin family: two guardians who can sign in, children aged 10, 15 and 17 (birth dates computed from
//! today, so the ages stay true), a term of grades, attendance with a few absences, homework, a week's timetable and
//! follow-up notebook entries, Zoé's first-term report card (a real one-page PDF) and a PIX certificate; a tutoring service holding an active grant on the youngest's grades that has read some of them, and a
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
/// What the two services say they are (families read it on their requests and grants).
const TUTORING_DESCRIPTION: &str = "Cours de soutien scolaire à domicile et en ligne, du CP à la terminale";
const PLATFORM_DESCRIPTION: &str = "Plateforme d'exercices en ligne pour réviser les programmes du collège et du lycée";

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
    // Its index leases given up, so the server that starts next keeps the demo family's index at once.
    vault.close().await?;
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

/// One week of lessons: `{"weekday": 1..=5, "start", "end", "subject", "room"}`.
fn timetable(level: usize) -> Vec<Value> {
    let hours = [("08:00", "09:00"), ("09:00", "10:00"), ("10:15", "11:15"), ("11:15", "12:15"), ("13:30", "14:30"), ("14:30", "15:30")];
    let rooms = ["B12", "C04", "A21", "Labo 2", "B07", "CDI"];
    let mut out = Vec::new();
    for weekday in 1..=5usize {
        // Wednesday afternoons are free.
        let lessons = if weekday == 3 { 4 } else { 6 };
        for (h, (start, end)) in hours.iter().take(lessons).enumerate() {
            let subject = SUBJECTS[(weekday * 2 + h + level) % SUBJECTS.len()];
            out.push(json!({"weekday": weekday, "start": start, "end": end, "subject": subject, "room": rooms[(h + weekday) % rooms.len()]}));
        }
    }
    out
}

/// A one-page PDF report card (Helvetica, WinAnsi text): the child's averages per subject and a word from the class
/// council.
fn report_card(child: &str, class: &str, averages: &[(&str, f64)]) -> anyhow::Result<Vec<u8>> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};
    // WinAnsi covers French: Latin-1, and the dashes and quotes it puts in 0x80–0x9F.
    let winansi = |c: char| match c {
        '—' => 0x97,
        '–' => 0x96,
        '’' => 0x92,
        '€' => 0x80,
        c => u8::try_from(u32::from(c)).unwrap_or(b'?'),
    };
    let latin1 = |s: &str| -> Object { Object::string_literal(s.chars().map(winansi).collect::<Vec<u8>>()) };
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {"Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding"});
    let bold = doc.add_object(dictionary! {"Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica-Bold", "Encoding" => "WinAnsiEncoding"});
    let resources = doc.add_object(dictionary! {"Font" => dictionary! {"F1" => font, "F2" => bold}});
    let mut ops = Vec::new();
    let line = |ops: &mut Vec<Operation>, font: &str, size: i64, x: i64, y: i64, text: &str| {
        ops.push(Operation::new("BT", vec![]));
        ops.push(Operation::new("Tf", vec![font.into(), size.into()]));
        ops.push(Operation::new("Td", vec![x.into(), y.into()]));
        ops.push(Operation::new("Tj", vec![latin1(text)]));
        ops.push(Operation::new("ET", vec![]));
    };
    line(&mut ops, "F2", 20, 60, 770, "Collège Jean-Moulin — Bulletin du 1er trimestre");
    line(&mut ops, "F1", 13, 60, 740, &format!("Élève : {child}   ·   Classe : {class}"));
    line(&mut ops, "F2", 12, 60, 700, "Matière");
    line(&mut ops, "F2", 12, 400, 700, "Moyenne");
    let mut y = 676;
    for (subject, average) in averages {
        line(&mut ops, "F1", 12, 60, y, subject);
        line(&mut ops, "F1", 12, 400, y, &format!("{}/20", format!("{average:.1}").replace('.', ",")));
        y -= 22;
    }
    let overall = averages.iter().map(|a| a.1).sum::<f64>() / averages.len().max(1) as f64;
    line(&mut ops, "F2", 12, 60, y - 10, "Moyenne générale");
    line(&mut ops, "F2", 12, 400, y - 10, &format!("{}/20", format!("{overall:.1}").replace('.', ",")));
    line(&mut ops, "F1", 12, 60, y - 50, "Appréciation du conseil de classe : bon trimestre, des efforts réguliers. Continuez ainsi.");
    ops.push(Operation::new("w", vec![1.into()]));
    ops.push(Operation::new("m", vec![60.into(), 692.into()]));
    ops.push(Operation::new("l", vec![535.into(), 692.into()]));
    ops.push(Operation::new("S", vec![]));
    let content = doc.add_object(Stream::new(dictionary! {}, Content { operations: ops }.encode()?));
    let page = doc.add_object(dictionary! {"Type" => "Page", "Parent" => pages_id, "Contents" => content});
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {"Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1, "Resources" => resources, "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()]}),
    );
    let catalog = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages_id});
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out)?;
    Ok(out)
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
    for (i, child) in [leo, zoe, ines].into_iter().enumerate() {
        put(vault, family, child, Doctype::Timetable, timetable(i)).await?;
    }
    // Zoé's first-term report card, a real PDF; and her PIX certificate.
    let averages: Vec<(&str, f64)> = SUBJECTS.iter().enumerate().map(|(i, s)| (*s, 11.0 + ((i * 7) % 6) as f64 * 1.25)).collect();
    let pdf = report_card("Zoé Martin", "3e B", &averages)?;
    let permit = vault.as_operator(family, Action::Write, Resource::Collection { child: zoe, doctype: Doctype::ReportCards }).await?;
    vault.put_file(&permit, zoe, Doctype::ReportCards, "operator".to_owned(), "bulletin-1er-trimestre.pdf".to_owned(), Box::new(std::io::Cursor::new(pdf))).await?;
    let certificate = json!({"title": "Certification Pix — compétences numériques", "issuer": "Pix", "date": (today - Duration::days(45)).to_string(), "level": "Niveau 3 (indépendant)"});
    put(vault, family, zoe, Doctype::Certificates, vec![certificate]).await?;

    // A tutoring service with an active grant on Léo's grades, approved by Claire, which has read some of them.
    let tutoring = vault
        .register_service("Tutorat Plus", Some(TUTORING_DESCRIPTION), &crate::auth::hash_token(&crate::auth::new_secret()), true).await?;
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
    let platform = vault
        .register_service("Lycée en ligne", Some(PLATFORM_DESCRIPTION), &crate::auth::hash_token(&crate::auth::new_secret()), true).await?;
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_report_card_is_a_one_page_pdf() {
        let pdf = super::report_card("Zoé Martin", "3e B", &[("Mathématiques", 14.5), ("Français", 12.0)]).unwrap();
        assert!(pdf.starts_with(b"%PDF-1.5"), "a PDF header");
        assert!(pdf.windows(5).rev().take(16).any(|w| w == b"%%EOF"), "a PDF trailer");
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/Count 1") && text.contains("WinAnsiEncoding"), "one page, French text");
        if let Ok(out) = std::env::var("CARTABLE_DEMO_PDF_OUT") {
            std::fs::write(out, &pdf).unwrap();
        }
    }
}
